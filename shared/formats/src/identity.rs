//! Report identity: the key that makes a re-sent report recognisable.
//!
//! The same report arrives once per `rua` address and again on retries (field guide §2.6
//! item 50). Report ids alone are not unique (`example.com:1711897200` style ids repeat per
//! reporter and domain), so the identity is the SHA-256 of, in this order and separated by
//! NUL bytes:
//!
//! 1. the kind (`aggregate` or `tlsrpt`),
//! 2. the policy domain, lower-cased (TLS-RPT: the first policy's domain, or empty),
//! 3. the reporting organisation, trimmed and lower-cased (org_name / organization-name),
//! 4. the report id, trimmed, as sent,
//! 5. begin and end as decimal epoch seconds (empty when absent).
//!
//! It is written as 32 lower-case hex digits (the first 128 bits). Parser repairs never
//! change these inputs between versions except where a field was unreadable before.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A report's stable identity; see the module documentation for its definition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReportId(String);

impl ReportId {
    pub fn new(
        kind: &str,
        policy_domain: &str,
        org: &str,
        report_id: &str,
        begin: Option<i64>,
        end: Option<i64>,
    ) -> Self {
        let mut h = Sha256::new();
        let fields = [
            kind.to_owned(),
            policy_domain.trim().to_ascii_lowercase(),
            org.trim().to_lowercase(),
            report_id.trim().to_owned(),
            begin.map(|b| b.to_string()).unwrap_or_default(),
            end.map(|e| e.to_string()).unwrap_or_default(),
        ];
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                h.update([0u8]);
            }
            h.update(f.as_bytes());
        }
        let digest = h.finalize();
        ReportId(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Reads an identity back from its text form: exactly 32 lower-case hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let ok = text.len() == 32
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| ReportId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ReportId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A domain as Rampart files it: trimmed, without a trailing dot, lower case.
pub fn normalise_domain(raw: &str) -> String {
    raw.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_case_insensitive_where_it_should_be() {
        let a = ReportId::new(
            "aggregate",
            "Example.COM",
            "Google.com ",
            "123",
            Some(1),
            Some(2),
        );
        let b = ReportId::new(
            "aggregate",
            "example.com",
            "google.com",
            " 123",
            Some(1),
            Some(2),
        );
        assert_eq!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_ne!(
            a,
            ReportId::new(
                "aggregate",
                "example.com",
                "google.com",
                "123",
                Some(1),
                Some(3)
            )
        );
        assert_ne!(
            a,
            ReportId::new(
                "tlsrpt",
                "example.com",
                "google.com",
                "123",
                Some(1),
                Some(2)
            )
        );
        assert_ne!(
            a,
            ReportId::new(
                "aggregate",
                "example.com",
                "google.com",
                "ABC",
                Some(1),
                Some(2)
            )
        );
        assert_ne!(
            ReportId::new("aggregate", "a", "b", "123", Some(1), Some(2)),
            ReportId::new("aggregate", "ab", "", "123", Some(1), Some(2)),
        );
    }
}
