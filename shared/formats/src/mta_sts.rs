//! The MTA-STS policy file (RFC 8461 §3.2): a checked model, its exact rendering, and a
//! lenient reader of the files that real domains publish.
//!
//! [`Policy::new`] is strict: what Rampart serves must pass every sender. [`read_policy`]
//! reads as sending MTAs do (LF or CRLF, unknown keys ignored, the first of a repeated key
//! wins) and says what is wrong with a file, so an owner moving to Rampart sees why their
//! current policy would be refused.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The largest `max_age` (RFC 8461 §3.2: about one year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;
/// Below this `max_age` a policy protects little: a sender forgets it within a day.
pub const MAX_AGE_ONE_DAY: u64 = 86_400;
/// The body size that senders are told to accept at most (§3.3).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What a sender does when a receiving MX fails the policy (§5).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    /// Refuse to deliver to an MX that fails.
    Enforce,
    /// Deliver anyway and report the failure over TLS-RPT.
    Testing,
    /// No policy: senders drop what they cached.
    None,
}

impl PolicyMode {
    pub fn parse(text: &str) -> Option<PolicyMode> {
        match text {
            "enforce" => Some(PolicyMode::Enforce),
            "testing" => Some(PolicyMode::Testing),
            "none" => Some(PolicyMode::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyMode::Enforce => "enforce",
            PolicyMode::Testing => "testing",
            PolicyMode::None => "none",
        }
    }
}

/// A checked policy. Build it with [`Policy::new`]; the fields are then valid for §3.2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub mode: PolicyMode,
    /// MX host patterns: a host name, or `*.` and a domain (one left-most label), in A-labels.
    pub mx: Vec<String>,
    /// How long senders may cache the policy, in seconds.
    pub max_age: u64,
}

/// One thing wrong with a policy, said so that its author can fix it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyProblem {
    /// `mode`, `mx`, `max_age`, `version` or `body`.
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn problem(field: &'static str, message: impl Into<String>) -> PolicyProblem {
    PolicyProblem {
        field,
        message: message.into(),
    }
}

impl Policy {
    /// Checks a policy as an owner writes it. MX names are lower-cased and a final dot is
    /// dropped. The `Ok` side carries warnings: things senders accept but owners should know.
    pub fn new(
        mode: PolicyMode,
        mx: &[String],
        max_age: u64,
    ) -> Result<(Policy, Vec<PolicyProblem>), Vec<PolicyProblem>> {
        let mut problems = Vec::new();
        let mut patterns: Vec<String> = Vec::with_capacity(mx.len());
        for raw in mx {
            let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
            match check_mx_pattern(&name) {
                Err(why) => problems.push(problem("mx", format!("{raw:?} {why}"))),
                Ok(()) if patterns.contains(&name) => {
                    problems.push(problem("mx", format!("{raw:?} is listed twice")))
                }
                Ok(()) => patterns.push(name),
            }
        }
        if mode != PolicyMode::None && mx.is_empty() {
            problems.push(problem(
                "mx",
                format!(
                    "mode {} needs at least one mx pattern (only mode none may have none)",
                    mode.as_str()
                ),
            ));
        }
        if max_age > MAX_AGE_LIMIT {
            problems.push(problem(
                "max_age",
                format!("{max_age} is more than {MAX_AGE_LIMIT} seconds (one year)"),
            ));
        }
        let policy = Policy {
            mode,
            mx: patterns,
            max_age,
        };
        if problems.is_empty() && policy.render().len() > MAX_BODY_BYTES {
            problems.push(problem(
                "body",
                format!("the policy file would exceed {MAX_BODY_BYTES} bytes"),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut warnings = Vec::new();
        if max_age < MAX_AGE_ONE_DAY && mode != PolicyMode::None {
            warnings.push(problem(
                "max_age",
                format!(
                    "{max_age} seconds is less than a day: senders forget the policy quickly \
                     (RFC 8461 suggests weeks; 604800 is one week)"
                ),
            ));
        }
        Ok((policy, warnings))
    }

    /// The policy file exactly as served: `version` first, CRLF line ends (§3.2).
    pub fn render(&self) -> String {
        let mut body = format!("version: STSv1\r\nmode: {}\r\n", self.mode.as_str());
        for mx in &self.mx {
            body.push_str("mx: ");
            body.push_str(mx);
            body.push_str("\r\n");
        }
        body.push_str(&format!("max_age: {}\r\n", self.max_age));
        body
    }

    /// The policy id for the `_mta-sts` TXT record: the first 32 hex digits of the SHA-256
    /// of the served body, so it changes exactly when the body does and fits §3.1's
    /// `1*32(ALPHA / DIGIT)`.
    pub fn id(&self) -> String {
        let digest = Sha256::digest(self.render().as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The `_mta-sts.<domain>` TXT value that announces policy `id` (§3.1).
pub fn sts_record(id: &str) -> String {
    format!("v=STSv1; id={id};")
}

/// The `_smtp._tls.<domain>` TXT value that sends TLS reports to `ruas` (RFC 8460 §3), in
/// order: Microsoft reports only to the first. Commas, `!` and `;` inside a URI are
/// percent-encoded, as the record's grammar requires.
pub fn tlsrpt_record(ruas: &[&str]) -> String {
    let encoded: Vec<String> = ruas
        .iter()
        .map(|uri| {
            uri.replace(',', "%2C")
                .replace('!', "%21")
                .replace(';', "%3B")
        })
        .collect();
    format!("v=TLSRPTv1; rua={}", encoded.join(","))
}

/// An `mx` value is a host name or `*.` plus a domain, in A-labels.
fn check_mx_pattern(name: &str) -> Result<(), &'static str> {
    let host = name.strip_prefix("*.").unwrap_or(name);
    if !name.is_ascii() {
        return Err("is not ASCII: write internationalised names as A-labels (xn--...)");
    }
    if host.contains('*') {
        return Err("may have a wildcard only as its whole first label (*.example.com)");
    }
    if host.is_empty() || host.len() > 253 {
        return Err("is not a host name");
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return Err("is not a fully qualified host name (like mx1.example.com)");
    }
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !labels.iter().all(label_ok) {
        return Err(
            "is not a host name: labels have 1 to 63 letters, digits or hyphens, \
             not starting or ending with a hyphen",
        );
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("is an IP address; MTA-STS names MX hosts");
    }
    Ok(())
}

/// A policy file as a sender reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyReading {
    /// The value of each key as read (the first one where a key repeats; every `mx`).
    pub version: Option<String>,
    pub mode: Option<String>,
    pub max_age: Option<String>,
    pub mx: Vec<String>,
    /// Keys that senders ignore (extensions, typos), with their values.
    pub ignored: Vec<(String, String)>,
    /// What makes senders refuse the file; empty when [`PolicyReading::policy`] is set.
    pub problems: Vec<String>,
    /// Irregularities that senders tolerate: lines without a key, repeated keys, LF endings.
    pub notes: Vec<String>,
    /// The policy, if senders would accept the file.
    pub policy: Option<Policy>,
}

/// Reads a policy file leniently, as sending MTAs do (RFC 8461 §3.2 and errata 6253).
pub fn read_policy(bytes: &[u8]) -> PolicyReading {
    let mut reading = PolicyReading {
        version: None,
        mode: None,
        max_age: None,
        mx: Vec::new(),
        ignored: Vec::new(),
        problems: Vec::new(),
        notes: Vec::new(),
        policy: None,
    };
    if bytes.len() > MAX_BODY_BYTES {
        reading
            .problems
            .push(format!("the file is larger than {MAX_BODY_BYTES} bytes"));
        return reading;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        reading.problems.push("the file is not UTF-8".to_owned());
        return reading;
    };
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            let start: String = line.chars().take(40).collect();
            reading
                .notes
                .push(format!("line {} has no \":\" ({start:?})", n + 1));
            continue;
        };
        let (key, value) = (key.trim(), value.trim().to_owned());
        let first = |slot: &mut Option<String>, notes: &mut Vec<String>| {
            if slot.is_some() {
                notes.push(format!("{key} repeated on line {}: the first wins", n + 1));
            } else {
                *slot = Some(value.clone());
            }
        };
        match key {
            "version" => first(&mut reading.version, &mut reading.notes),
            "mode" => first(&mut reading.mode, &mut reading.notes),
            "max_age" => first(&mut reading.max_age, &mut reading.notes),
            "mx" => reading.mx.push(value),
            _ => reading.ignored.push((key.to_owned(), value)),
        }
    }
    if reading.version.as_deref() != Some("STSv1") {
        reading.problems.push(format!(
            "version must be STSv1, found {:?}",
            reading.version.as_deref().unwrap_or("nothing")
        ));
    }
    let mode = reading.mode.as_deref().and_then(PolicyMode::parse);
    if mode.is_none() {
        reading.problems.push(format!(
            "mode must be enforce, testing or none, found {:?}",
            reading.mode.as_deref().unwrap_or("nothing")
        ));
    }
    let max_age = reading
        .max_age
        .as_deref()
        .filter(|v| (1..=10).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v <= MAX_AGE_LIMIT);
    if max_age.is_none() {
        reading.problems.push(format!(
            "max_age must be a number of seconds up to {MAX_AGE_LIMIT}, found {:?}",
            reading.max_age.as_deref().unwrap_or("nothing")
        ));
    }
    for mx in &reading.mx {
        if let Err(why) = check_mx_pattern(mx) {
            reading.problems.push(format!("mx {mx:?} {why}"));
        }
    }
    if let (Some(mode), Some(max_age)) = (mode, max_age) {
        if mode != PolicyMode::None && reading.mx.is_empty() {
            reading
                .problems
                .push(format!("mode {} needs at least one mx", mode.as_str()));
        }
        if reading.problems.is_empty() {
            reading.policy = Some(Policy {
                mode,
                mx: reading.mx.clone(),
                max_age,
            });
        }
    }
    reading
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_policy_renders_version_first_with_crlf() {
        let (p, warnings) = Policy::new(
            PolicyMode::Enforce,
            &mx(&["MX1.Example.com.", "*.mail.example.com"]),
            604_800,
        )
        .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(
            p.render(),
            "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mail.example.com\r\nmax_age: 604800\r\n"
        );
        let id = p.id();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(sts_record(&id), format!("v=STSv1; id={id};"));
        assert_eq!(
            tlsrpt_record(&["mailto:r@rua.example", "https://a.example/v1/tlsrpt;x,y!"]),
            "v=TLSRPTv1; rua=mailto:r@rua.example,https://a.example/v1/tlsrpt%3Bx%2Cy%21"
        );
        let reread = read_policy(p.render().as_bytes());
        assert_eq!(reread.policy.as_ref(), Some(&p));
        assert!(reread.notes.is_empty() && reread.problems.is_empty());
    }

    #[test]
    fn the_id_changes_exactly_when_the_body_does() {
        let a = Policy::new(PolicyMode::Testing, &mx(&["mx.example.com"]), 604_800)
            .unwrap()
            .0;
        let same = Policy::new(PolicyMode::Testing, &mx(&["MX.example.com"]), 604_800)
            .unwrap()
            .0;
        let enforce = Policy {
            mode: PolicyMode::Enforce,
            ..a.clone()
        };
        assert_eq!(a.id(), same.id());
        assert_ne!(a.id(), enforce.id());
    }

    #[test]
    fn bad_policies_are_refused_with_every_reason() {
        let problems = Policy::new(
            PolicyMode::Enforce,
            &mx(&[
                "mx1.example.com",
                "MX1.example.com",
                "bücher.example",
                "mail.*.example.com",
                "localhost",
                "-a.example.com",
                "192.0.2.1",
                ".",
            ]),
            MAX_AGE_LIMIT + 1,
        )
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            ["mx", "mx", "mx", "mx", "mx", "mx", "mx", "max_age"]
        );
        assert!(problems[0].message.contains("listed twice"));
        assert!(problems[1].message.contains("A-labels"));
        assert!(problems[2].message.contains("wildcard"));

        let none = Policy::new(PolicyMode::Testing, &[], 604_800).unwrap_err();
        assert_eq!(none[0].field, "mx");
        assert!(Policy::new(PolicyMode::None, &[], 86_400).is_ok());
    }

    #[test]
    fn a_short_max_age_is_a_warning() {
        let (_, warnings) =
            Policy::new(PolicyMode::Testing, &mx(&["mx.example.com"]), 3_600).unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].field, "max_age");
        let (_, warnings) =
            Policy::new(PolicyMode::Testing, &mx(&["mx.example.com"]), 86_400).unwrap();
        assert!(warnings.is_empty());
    }

    #[test]
    fn the_reader_is_as_lenient_as_senders() {
        let text = "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example.com\r\n\
                    mx:b.example.com\nfoo: bar\nmax_age: 86400";
        let r = read_policy(text.as_bytes());
        let policy = r.policy.expect("valid");
        assert_eq!(policy.mode, PolicyMode::Testing);
        assert_eq!(policy.mx, ["a.example.com", "b.example.com"]);
        assert_eq!(policy.max_age, 86_400);
        assert_eq!(r.ignored, [("foo".to_owned(), "bar".to_owned())]);
        assert_eq!(r.notes.len(), 1);

        let bad = read_policy(b"version: MTA-STSv1\nmode: enforced\nmax_age: 99999999999\n");
        assert_eq!(bad.problems.len(), 3, "{:?}", bad.problems);
        assert!(bad.policy.is_none());
        assert!(
            read_policy(&vec![b'a'; MAX_BODY_BYTES + 1])
                .policy
                .is_none()
        );
        assert!(read_policy(b"\xff\xfe").policy.is_none());
    }
}
