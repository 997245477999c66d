//! Mail intake: walks a report mail's MIME tree and hands out every attachment worth sniffing.
//!
//! Report mails are built every way the MIME standards allow and some they don't (field guide
//! §2.1): the report is a nested `multipart/related` part (Microsoft, Seznam), the whole body
//! (Google), an attached `message/rfc822` (forwarded reports), one base64 line of many KB
//! (Microsoft), or `application/octet-stream` (Amazon SES). So every leaf is visited,
//! nested messages included, and only human-readable text is skipped; what a part *is* gets
//! decided later by sniffing its bytes.

use mail_parser::{Encoding, Message, MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

use crate::enums::report_enum;
use crate::error::IntakeError;
use crate::limits::{LimitKind, Limits};
use crate::sniff::{Format, sniff};

/// Facts about the mail that carried a report, kept with every report taken from it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFacts {
    /// The address in `From:`.
    pub from: Option<String>,
    /// `Subject:`, RFC 2047 decoded. Never parsed for data (field guide §2.1 item 16).
    pub subject: Option<String>,
    /// `Message-ID:` without angle brackets.
    pub message_id: Option<String>,
    /// `Date:` as epoch seconds.
    pub date: Option<i64>,
    /// What SES concluded about the mail on receipt, where it said so.
    pub ses: SesVerdicts,
}

report_enum! {
    /// A receipt verdict: SES's `PASS`/`FAIL`/`GRAY`/`PROCESSING_FAILED`/`DISABLED`, or an
    /// RFC 8601 result from `Authentication-Results`.
    pub enum Verdict {
        Pass = "pass",
        Fail = "fail",
        Gray = "gray",
        ProcessingFailed = "processing_failed" | "processingfailed",
        Disabled = "disabled",
        None = "none",
        Neutral = "neutral",
        SoftFail = "softfail",
        TempError = "temperror",
        PermError = "permerror",
        Policy = "policy",
    }
}

/// SES verdict headers (`X-SES-Spam-Verdict`, `X-SES-Virus-Verdict`) and the SPF, DKIM and
/// DMARC results SES wrote into `Authentication-Results: amazonses.com; …`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SesVerdicts {
    pub spam: Option<Verdict>,
    pub virus: Option<Verdict>,
    pub spf: Option<Verdict>,
    pub dkim: Option<Verdict>,
    pub dmarc: Option<Verdict>,
}

impl SesVerdicts {
    pub fn is_empty(&self) -> bool {
        *self == SesVerdicts::default()
    }
}

/// One leaf part that may hold a report.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// File name from `Content-Disposition` or `Content-Type` (RFC 2231 continuations joined).
    pub name: Option<String>,
    /// `type/subtype` as declared (not trusted).
    pub content_type: Option<String>,
    /// Transfer-decoded bytes.
    pub bytes: Vec<u8>,
}

/// Parses a mail and collects its header facts and candidate attachments.
pub fn walk(raw: &[u8], limits: &Limits) -> Result<(MessageFacts, Vec<Attachment>), IntakeError> {
    check_structure(raw, limits)?;
    let repaired = repair_headers(raw);
    let raw = repaired.as_deref().unwrap_or(raw);
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| IntakeError::Mail("no RFC 5322 header block found".into()))?;
    let facts = facts_of(&message);
    let mut attachments = Vec::new();
    collect(&message, 0, limits, &mut attachments)?;
    Ok((facts, attachments))
}

/// Refuses a mail whose structure would cost far more memory to parse than its bytes: the
/// MIME parser builds a few hundred bytes for every part and every header field, so a 40 MB
/// mail of tiny parts or fields would take gigabytes. Lines that could open a part (`--...`)
/// and lines that look like a header field (`Name:`) are counted before parsing; a report
/// mail has a handful of each.
fn check_structure(raw: &[u8], limits: &Limits) -> Result<(), IntakeError> {
    let (mut boundaries, mut fields) = (0usize, 0usize);
    let starts = std::iter::once(0).chain(memchr::memchr_iter(b'\n', raw).map(|i| i + 1));
    for start in starts {
        let line = &raw[start.min(raw.len())..];
        if line.starts_with(b"--") {
            boundaries += 1;
            if boundaries > limits.max_mime_parts {
                return Err(IntakeError::LimitExceeded {
                    limit: LimitKind::MimeParts,
                    max: limits.max_mime_parts as u64,
                });
            }
        } else if looks_like_field(line) {
            fields += 1;
            if fields > limits.max_header_lines {
                return Err(IntakeError::LimitExceeded {
                    limit: LimitKind::HeaderLines,
                    max: limits.max_header_lines as u64,
                });
            }
        }
    }
    Ok(())
}

/// A line beginning with a header field name (RFC 5322 §3.6.8: printable ASCII but `:`)
/// and a colon.
fn looks_like_field(line: &[u8]) -> bool {
    let name = line
        .iter()
        .take(78)
        .take_while(|b| (33..=126).contains(*b) && **b != b':')
        .count();
    name > 0 && line.get(name) == Some(&b':')
}

fn collect(
    message: &Message<'_>,
    depth: usize,
    limits: &Limits,
    out: &mut Vec<Attachment>,
) -> Result<(), IntakeError> {
    if depth >= limits.max_nesting {
        return Err(IntakeError::LimitExceeded {
            limit: LimitKind::Nesting,
            max: limits.max_nesting as u64,
        });
    }
    for part in &message.parts {
        let named = part.attachment_name().map(str::to_owned);
        let content_type = part.content_type().map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        });
        let is_attachment = part
            .content_disposition()
            .is_some_and(|cd| cd.ctype().eq_ignore_ascii_case("attachment"));
        let bytes: &[u8] = match &part.body {
            PartType::Multipart(_) => continue,
            PartType::Message(inner) => {
                collect(inner, depth + 1, limits, out)?;
                continue;
            }
            // Microsoft and Google add HTML and text bodies beside the report (PDM #624/#626).
            PartType::Html(_) => continue,
            PartType::Text(text) => {
                let prose = matches!(
                    content_type.as_deref(),
                    None | Some("text/plain" | "text/html")
                );
                // A part with no Content-Type at all may be a report whose header was misspelt
                // (Trustwave's `ContentType:`, field guide §2.1 item 10): keep it if it sniffs as one.
                let undeclared_report = content_type.is_none()
                    && matches!(
                        sniff(text.as_bytes()),
                        Format::Gzip | Format::Zip | Format::Xml | Format::Json
                    );
                if prose && named.is_none() && !is_attachment && !undeclared_report {
                    continue;
                }
                text.as_bytes()
            }
            PartType::Binary(data) | PartType::InlineBinary(data) => data,
        };
        let bytes = if part.encoding == Encoding::Base64
            && (part.is_encoding_problem || bytes.is_empty())
        {
            // mail-parser gave up on this part; decode the raw body ourselves.
            let raw = message
                .raw_message()
                .get(part.offset_body as usize..part.offset_end as usize)
                .unwrap_or_default();
            decode_base64_lenient(raw)
        } else {
            bytes.to_vec()
        };
        if bytes.is_empty() {
            continue;
        }
        out.push(Attachment {
            name: named,
            content_type,
            bytes,
        });
    }
    Ok(())
}

/// Repairs header blocks that real report mails break, returning a corrected copy only when
/// a repair was needed:
/// - a folded header whose continuation line lost its indentation (Microsoft TLS-RPT,
///   PDM #561; field guide §2.1 item 17): a line without `name:` is joined to the previous one;
/// - Trustwave's `ContentType:` for `Content-Type:` (item 10).
fn repair_headers(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut pos = 0;
    let mut first = true;
    while pos < raw.len() {
        let end = raw[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i + 1)
            .unwrap_or(raw.len());
        let line = &raw[pos..end];
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.is_empty() {
            break;
        }
        let continuation = matches!(content[0], b' ' | b'\t');
        let is_field = match content.iter().position(|&b| b == b':') {
            Some(colon) if colon > 0 => content[..colon].iter().all(|&b| (33..=126).contains(&b)),
            _ => false,
        };
        let typo = content.len() > 12 && content[..12].eq_ignore_ascii_case(b"ContentType:");
        if !first && !continuation && !is_field || typo {
            let fixed = out.get_or_insert_with(|| raw[..pos].to_vec());
            if typo {
                fixed.extend_from_slice(b"Content-Type:");
                fixed.extend_from_slice(&line[12..]);
            } else {
                fixed.push(b' ');
                fixed.extend_from_slice(line);
            }
        } else if let Some(fixed) = out.as_mut() {
            fixed.extend_from_slice(line);
        }
        first = false;
        pos = end;
    }
    let mut fixed = out?;
    fixed.extend_from_slice(&raw[pos..]);
    Some(fixed)
}

/// Decodes base64 whatever its line length, ignoring every byte outside the alphabet
/// (line breaks, stray spaces, a trailing MIME boundary's dashes) and tolerating missing
/// padding, as parsedmarc and mailparse do (field guide §2.1 item 1).
pub fn decode_base64_lenient(raw: &[u8]) -> Vec<u8> {
    fn value(b: u8) -> Option<u32> {
        match b {
            b'A'..=b'Z' => Some((b - b'A') as u32),
            b'a'..=b'z' => Some((b - b'a' + 26) as u32),
            b'0'..=b'9' => Some((b - b'0' + 52) as u32),
            b'+' | b'-' => Some(62),
            b'/' | b'_' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(raw.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &b in raw {
        if b == b'=' {
            // Padding ends the data of this encoded unit; anything after it is a boundary or noise.
            break;
        }
        let Some(v) = value(b) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Longest header value kept, in bytes: RFC 5322's line limit. Stored beside every report, so
/// a hostile 1 MB `Subject:` must not ride along.
pub const MAX_HEADER_VALUE: usize = 998;

/// `text` cut to at most `max` bytes, at a character boundary.
pub(crate) fn capped(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn facts_of(message: &Message<'_>) -> MessageFacts {
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(|a| capped(a, MAX_HEADER_VALUE));
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| capped(v.trim(), MAX_HEADER_VALUE))
    };
    let mut ses = SesVerdicts {
        spam: header("X-SES-Spam-Verdict").map(|v| Verdict::from_text(&v)),
        virus: header("X-SES-Virus-Verdict").map(|v| Verdict::from_text(&v)),
        ..SesVerdicts::default()
    };
    for (name, value) in message.headers_raw() {
        if name.eq_ignore_ascii_case("Authentication-Results") {
            read_authentication_results(value, &mut ses);
        }
    }
    MessageFacts {
        from,
        subject: message
            .subject()
            .map(|s| capped(s.trim(), MAX_HEADER_VALUE)),
        message_id: message.message_id().map(|id| capped(id, MAX_HEADER_VALUE)),
        date: message.date().map(|d| d.to_timestamp()).or_else(|| {
            message
                .header_raw("Date")
                .and_then(crate::time::parse_mail_date)
        }),
        ses,
    }
}

/// Reads `spf=`, `dkim=` and `dmarc=` from an `Authentication-Results` header written by
/// SES (authserv-id `amazonses.com`); other servers' results are not ours to trust.
fn read_authentication_results(value: &str, ses: &mut SesVerdicts) {
    let unfolded: String = value.split(['\r', '\n']).collect::<Vec<_>>().join(" ");
    let mut clauses = unfolded.split(';');
    let authserv = clauses.next().unwrap_or_default().trim();
    if !authserv.eq_ignore_ascii_case("amazonses.com") {
        return;
    }
    for clause in clauses {
        let clause = clause.trim();
        let Some((method, rest)) = clause.split_once('=') else {
            continue;
        };
        let result = rest.split_whitespace().next().unwrap_or_default();
        let verdict = Some(Verdict::from_text(result));
        match method.trim().to_ascii_lowercase().as_str() {
            "spf" if ses.spf.is_none() => ses.spf = verdict,
            "dkim" if ses.dkim.is_none() => ses.dkim = verdict,
            "dmarc" if ses.dmarc.is_none() => ses.dmarc = verdict,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_with_noise_and_no_padding() {
        assert_eq!(
            decode_base64_lenient(b"aGVs\r\n bG8g\td29y bGQ"),
            b"hello world"
        );
        assert_eq!(decode_base64_lenient(b"aGk=\r\n--boundary--"), b"hi");
    }

    #[test]
    fn ses_headers() {
        let raw = b"From: Reporter <r@example.net>\r\n\
X-SES-Spam-Verdict: PASS\r\nX-SES-Virus-Verdict: GRAY\r\n\
Authentication-Results: other.example; dkim=fail\r\n\
Authentication-Results: amazonses.com;\r\n spf=pass (spf: domain of x) smtp.mailfrom=x;\r\n dkim=pass header.i=@x;\r\n dmarc=none header.from=x;\r\n\
Subject: =?utf-8?B?UmVwb3J0IERvbWFpbjogZXhhbXBsZS5jb20=?=\r\nMessage-ID: <abc@x>\r\n\r\nbody";
        let (facts, parts) = walk(raw, &Limits::default()).unwrap();
        assert_eq!(facts.from.as_deref(), Some("r@example.net"));
        assert_eq!(facts.subject.as_deref(), Some("Report Domain: example.com"));
        assert_eq!(facts.message_id.as_deref(), Some("abc@x"));
        assert_eq!(
            facts.ses,
            SesVerdicts {
                spam: Some(Verdict::Pass),
                virus: Some(Verdict::Gray),
                spf: Some(Verdict::Pass),
                dkim: Some(Verdict::Pass),
                dmarc: Some(Verdict::None),
            }
        );
        assert!(parts.is_empty(), "a plain text body is not an attachment");
    }
}
