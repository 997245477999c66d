//! DKIM keys (RFC 6376 §3.6.1): for each selector the domain's reports show signing its
//! mail, a key record exists, is not revoked, and is not weak (RSA below 1024 bits is
//! refused by receivers, RFC 8301; below 2048 is discouraged).

use base64::Engine;

use super::dns::Answer;
use super::tags;
use super::{Area, Finding, Run, Severity, finding, unanswered};

/// Selectors looked up in one run.
pub const MAX_SELECTORS: usize = 10;

pub(crate) async fn check(run: &Run<'_>) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let mut seen = Vec::new();
    for (domain, selector) in run.expect.dkim.iter().take(MAX_SELECTORS) {
        let name = format!("{selector}._domainkey.{domain}");
        let records = match run.dns.txt(&name).await {
            Err(e) => {
                findings.push(unanswered(Area::Dkim, &name, &e));
                continue;
            }
            Ok(Answer::Void) => Vec::new(),
            Ok(Answer::Found(txt)) => txt.records,
        };
        for record in &records {
            seen.push(format!("{name}: {record}"));
        }
        let Some(record) = records.first() else {
            findings.push(finding(
                Area::Dkim,
                Severity::Error,
                "dkim.key_missing",
                format!(
                    "reports show mail signed with selector {selector} of {domain}, but {name} \
                     has no key: DKIM fails for that mail"
                ),
                Some(format!(
                    "publish the key your mail service shows for selector {selector} at {name}"
                )),
            ));
            continue;
        };
        findings.push(judge(&name, record));
    }
    (findings, seen)
}

/// The verdict on one key record.
fn judge(name: &str, record: &str) -> Finding {
    let list = tags::parse(record);
    let problem = |severity, code: &str, message: String, fix: Option<String>| {
        finding(Area::Dkim, severity, code, message, fix)
    };
    if list.get("v").is_some_and(|v| v != "DKIM1") {
        return problem(
            Severity::Error,
            "dkim.key_invalid",
            format!("{name}: v= is not DKIM1, so receivers ignore the key"),
            None,
        );
    }
    let Some(p) = list.get("p") else {
        return problem(
            Severity::Error,
            "dkim.key_invalid",
            format!("{name} has no p= tag: it is not a DKIM key"),
            None,
        );
    };
    if p.is_empty() {
        return problem(
            Severity::Warning,
            "dkim.key_revoked",
            format!("{name} is revoked (empty p=): mail signed with it fails DKIM"),
            Some("stop signing with this selector, or publish its key again".into()),
        );
    }
    let compact: String = p.chars().filter(|c| !c.is_whitespace()).collect();
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&compact) else {
        return problem(
            Severity::Error,
            "dkim.key_invalid",
            format!("{name}: p= is not base64, so receivers cannot use the key"),
            None,
        );
    };
    let kind = list.get("k").unwrap_or("rsa").to_ascii_lowercase();
    if kind == "ed25519" {
        return if der.len() == 32 {
            problem(
                Severity::Ok,
                "dkim.key",
                format!("{name}: an Ed25519 key"),
                None,
            )
        } else {
            problem(
                Severity::Error,
                "dkim.key_invalid",
                format!(
                    "{name}: an Ed25519 key has 32 bytes, this one {}",
                    der.len()
                ),
                None,
            )
        };
    }
    if kind != "rsa" {
        return problem(
            Severity::Warning,
            "dkim.key_unknown_type",
            format!("{name}: k={kind} is neither rsa nor ed25519; receivers ignore it"),
            None,
        );
    }
    let Some(bits) = rsa_bits(&der) else {
        return problem(
            Severity::Error,
            "dkim.key_invalid",
            format!("{name}: p= is not an RSA public key"),
            None,
        );
    };
    let rotate = Some(
        "create a 2048-bit key with your mail service, publish it under a new selector, \
         then switch signing to it"
            .to_owned(),
    );
    if bits < 1024 {
        problem(
            Severity::Error,
            "dkim.key_weak",
            format!(
                "{name}: a {bits}-bit RSA key; receivers refuse keys under 1024 bits (RFC 8301)"
            ),
            rotate,
        )
    } else if bits < 2048 {
        problem(
            Severity::Warning,
            "dkim.key_short",
            format!("{name}: a {bits}-bit RSA key; 2048 bits is the recommended minimum"),
            rotate,
        )
    } else {
        problem(
            Severity::Ok,
            "dkim.key",
            format!("{name}: a {bits}-bit RSA key"),
            None,
        )
    }
}

/// The modulus length of an RSA key as DKIM publishes it: a SubjectPublicKeyInfo, or (some
/// signers) a bare PKCS#1 RSAPublicKey.
fn rsa_bits(der: &[u8]) -> Option<usize> {
    let (tag, body, _) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (first_tag, first, rest) = tlv(body)?;
    let modulus = match first_tag {
        // PKCS#1: SEQUENCE { INTEGER n, INTEGER e }
        0x02 => first,
        // SPKI: SEQUENCE { SEQUENCE { algorithm }, BIT STRING { RSAPublicKey } }
        0x30 => {
            let (bits_tag, bits, _) = tlv(rest)?;
            if bits_tag != 0x03 || bits.first() != Some(&0) {
                return None;
            }
            let (seq_tag, key, _) = tlv(&bits[1..])?;
            if seq_tag != 0x30 {
                return None;
            }
            let (int_tag, n, _) = tlv(key)?;
            if int_tag != 0x02 {
                return None;
            }
            n
        }
        _ => return None,
    };
    let start = modulus.iter().position(|b| *b != 0)?;
    let significant = &modulus[start..];
    Some((significant.len() - 1) * 8 + (8 - significant[0].leading_zeros() as usize))
}

/// One DER tag-length-value: `(tag, value, rest)`.
fn tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1024-bit key (`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024`).
    const RSA_1024: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCwKL4Uvy3U3ZyvNwE2BJqcycTrHUbMRJmHSTxe2UkL17gVpMMIdO8aVUHV1f4JJ2KxvvEyYoxACWLo91d3zFfoh0vChAOSPqazKw4vIQU1uHaKEGx+UXgDAVKnHCD8+xEUlo/i0/0M9SWAQn7Cv7bs7691AxCV8eCXdPX3TTDnWwIDAQAB";

    #[test]
    fn key_sizes_are_read_from_the_der() {
        let der = base64::engine::general_purpose::STANDARD
            .decode(RSA_1024)
            .unwrap();
        assert_eq!(rsa_bits(&der), Some(1024));
        assert_eq!(rsa_bits(b"\x30\x03\x02\x01\x05"), Some(3));
        assert_eq!(rsa_bits(b"\x30\x05\x02\x09"), None);
        assert_eq!(rsa_bits(&[]), None);
    }

    #[test]
    fn weak_revoked_and_malformed_keys_are_named() {
        let f = judge(
            "s._domainkey.example.com",
            &format!("v=DKIM1; k=rsa; p={RSA_1024}"),
        );
        assert_eq!(
            (f.code.as_str(), f.severity),
            ("dkim.key_short", Severity::Warning)
        );
        let f = judge("s._domainkey.example.com", "v=DKIM1; p=");
        assert_eq!(f.code, "dkim.key_revoked");
        let f = judge("s._domainkey.example.com", "v=DKIM1; p=!!!");
        assert_eq!(f.code, "dkim.key_invalid");
        let f = judge(
            "s._domainkey.example.com",
            "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        );
        assert_eq!((f.code.as_str(), f.severity), ("dkim.key", Severity::Ok));
    }
}
