//! What one UTC day of a domain says, as the rules need it: volume and DMARC passes, the
//! sources that sent (grouped by service, AS or network, never single addresses), the
//! reporters, and TLS sessions by policy type and failure. Built once per day from the
//! day's counters and reports, and kept, so a rule looking 90 days back reads 90 small
//! items instead of 90 days of records.
//!
//! **Bounds.** Report text chooses source networks, reporter names and TLS result types,
//! so each list keeps its largest [`MAX_SOURCES`], [`MAX_REPORTERS`] or
//! [`MAX_TLS_FAILURES`] entries, each name at most [`MAX_NAME`] bytes, and counts what it
//! cut. Every sum saturates.

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub const MAX_SOURCES: usize = 200;
pub const MAX_REPORTERS: usize = 200;
pub const MAX_TLS_FAILURES: usize = 100;
pub const MAX_TLS_POLICIES: usize = 8;
pub const MAX_NAME: usize = 128;

/// One day of a domain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayFacts {
    pub day: NaiveDate,
    pub messages: u64,
    pub dmarc_pass: u64,
    /// The `p=` the day's aggregate reports found published, when they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Largest first.
    pub sources: Vec<SourceDay>,
    pub reporters: Vec<String>,
    pub tls_policies: Vec<TlsPolicyDay>,
    /// Most sessions first.
    pub tls_failures: Vec<TlsFailureDay>,
    /// Entries left out of the lists above for their bounds.
    #[serde(default)]
    pub cut: u64,
}

/// The mail of one source on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceDay {
    /// `service:<id>`, `as:<number>` or `net:<network>/<prefix>`.
    pub key: String,
    /// What a person reads: the service's name, the AS's name, the network.
    pub name: String,
    pub messages: u64,
    pub pass: u64,
}

impl SourceDay {
    pub fn failing(&self) -> u64 {
        self.messages.saturating_sub(self.pass)
    }
}

/// TLS sessions of one policy type (`sts`, `tlsa`, `no-policy-found`) on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsPolicyDay {
    pub policy: String,
    pub successful: u64,
    pub failed: u64,
}

/// Failed TLS sessions of one result type at one receiving MX.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFailureDay {
    pub policy: String,
    pub result_type: String,
    /// The receiving MX host, empty when the report did not say.
    pub mx: String,
    pub sessions: u64,
}

/// The key grouping a source's mail: the service it belongs to, else its AS, else its
/// /24 (IPv4) or /48 (IPv6) network, so a botnet of a thousand addresses is one source.
pub fn source_key(
    service: Option<(&str, &str)>,
    asn: Option<(u32, &str)>,
    ip: IpAddr,
) -> (String, String) {
    if let Some((id, name)) = service {
        return (format!("service:{}", cut(id)), cut(name).to_string());
    }
    if let Some((number, name)) = asn {
        let name = if name.is_empty() {
            format!("AS{number}")
        } else {
            format!("AS{number} {}", cut(name))
        };
        return (format!("as:{number}"), name);
    }
    let network = match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    };
    (format!("net:{network}"), network)
}

/// Collects a day's facts, then keeps the largest of each list.
#[derive(Debug, Default)]
pub struct DayBuilder {
    facts: DayFacts,
    sources: HashMap<String, SourceDay>,
    reporters: HashMap<String, ()>,
    tls_policies: HashMap<String, TlsPolicyDay>,
    tls_failures: HashMap<(String, String, String), u64>,
}

/// Distinct keys held while building, whatever the input: past it, new keys are counted
/// as cut, and the kept ones still add up.
const MAX_BUILDING: usize = 10_000;

impl DayBuilder {
    pub fn new(day: NaiveDate) -> DayBuilder {
        DayBuilder {
            facts: DayFacts {
                day,
                ..DayFacts::default()
            },
            ..DayBuilder::default()
        }
    }

    pub fn totals(&mut self, messages: u64, dmarc_pass: u64, policy: Option<&str>) {
        self.facts.messages = messages;
        self.facts.dmarc_pass = dmarc_pass;
        self.facts.policy = policy.map(|p| cut(p).to_string());
    }

    pub fn source(&mut self, key: (String, String), messages: u64, pass: u64) {
        let len = self.sources.len();
        match self.sources.get_mut(&key.0) {
            Some(s) => {
                s.messages = s.messages.saturating_add(messages);
                s.pass = s.pass.saturating_add(pass);
            }
            None if len >= MAX_BUILDING => self.facts.cut = self.facts.cut.saturating_add(1),
            None => {
                let (key, name) = key;
                self.sources.insert(
                    key.clone(),
                    SourceDay {
                        key,
                        name,
                        messages,
                        pass,
                    },
                );
            }
        }
    }

    pub fn reporter(&mut self, name: &str) {
        if self.reporters.len() < MAX_BUILDING || self.reporters.contains_key(cut(name)) {
            self.reporters.insert(cut(name).to_string(), ());
        } else {
            self.facts.cut = self.facts.cut.saturating_add(1);
        }
    }

    pub fn tls_sessions(&mut self, policy: &str, successful: u64, failed: u64) {
        let len = self.tls_policies.len();
        let policy = cut(policy).to_string();
        if len >= MAX_BUILDING && !self.tls_policies.contains_key(&policy) {
            self.facts.cut = self.facts.cut.saturating_add(1);
            return;
        }
        let entry = self
            .tls_policies
            .entry(policy.clone())
            .or_insert(TlsPolicyDay {
                policy,
                successful: 0,
                failed: 0,
            });
        entry.successful = entry.successful.saturating_add(successful);
        entry.failed = entry.failed.saturating_add(failed);
    }

    pub fn tls_failure(&mut self, policy: &str, result_type: &str, mx: &str, sessions: u64) {
        let key = (
            cut(policy).to_string(),
            cut(result_type).to_string(),
            cut(mx).to_ascii_lowercase(),
        );
        let len = self.tls_failures.len();
        match self.tls_failures.get_mut(&key) {
            Some(n) => *n = n.saturating_add(sessions),
            None if len >= MAX_BUILDING => self.facts.cut = self.facts.cut.saturating_add(1),
            None => {
                self.tls_failures.insert(key, sessions);
            }
        }
    }

    pub fn finish(self) -> DayFacts {
        let mut facts = self.facts;
        let mut sources: Vec<SourceDay> = self.sources.into_values().collect();
        sources.sort_by(|a, b| b.messages.cmp(&a.messages).then(a.key.cmp(&b.key)));
        facts.cut = facts.cut.saturating_add(keep(&mut sources, MAX_SOURCES));
        facts.sources = sources;

        let mut reporters: Vec<String> = self.reporters.into_keys().collect();
        reporters.sort();
        facts.cut = facts
            .cut
            .saturating_add(keep(&mut reporters, MAX_REPORTERS));
        facts.reporters = reporters;

        let mut policies: Vec<TlsPolicyDay> = self.tls_policies.into_values().collect();
        policies.sort_by(|a, b| {
            (b.successful + b.failed)
                .cmp(&(a.successful + a.failed))
                .then(a.policy.cmp(&b.policy))
        });
        facts.cut = facts
            .cut
            .saturating_add(keep(&mut policies, MAX_TLS_POLICIES));
        facts.tls_policies = policies;

        let mut failures: Vec<TlsFailureDay> = self
            .tls_failures
            .into_iter()
            .map(|((policy, result_type, mx), sessions)| TlsFailureDay {
                policy,
                result_type,
                mx,
                sessions,
            })
            .collect();
        failures.sort_by(|a, b| {
            b.sessions
                .cmp(&a.sessions)
                .then_with(|| (&a.result_type, &a.mx).cmp(&(&b.result_type, &b.mx)))
        });
        facts.cut = facts
            .cut
            .saturating_add(keep(&mut failures, MAX_TLS_FAILURES));
        facts.tls_failures = failures;
        facts
    }
}

fn keep<T>(list: &mut Vec<T>, bound: usize) -> u64 {
    let cut = list.len().saturating_sub(bound) as u64;
    list.truncate(bound);
    cut
}

/// `text` cut at [`MAX_NAME`] bytes, on a character boundary.
fn cut(text: &str) -> &str {
    if text.len() <= MAX_NAME {
        return text;
    }
    let mut end = MAX_NAME;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()
    }

    #[test]
    fn sources_group_by_service_then_as_then_network() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            source_key(
                Some(("google", "Google")),
                Some((15169, "GOOGLE")),
                ip("192.0.2.9")
            ),
            ("service:google".into(), "Google".into())
        );
        assert_eq!(
            source_key(None, Some((64500, "EXAMPLE-NET")), ip("192.0.2.9")),
            ("as:64500".into(), "AS64500 EXAMPLE-NET".into())
        );
        assert_eq!(
            source_key(None, None, ip("192.0.2.9")),
            ("net:192.0.2.0/24".into(), "192.0.2.0/24".into())
        );
        assert_eq!(
            source_key(None, None, ip("2001:db8:aa:bb::1")),
            ("net:2001:db8:aa::/48".into(), "2001:db8:aa::/48".into())
        );
    }

    #[test]
    fn each_list_keeps_its_largest_entries_and_counts_the_rest() {
        let mut b = DayBuilder::new(day());
        for i in 0..(MAX_SOURCES as u64 + 5) {
            b.source((format!("net:{i}"), format!("{i}")), i + 1, 0);
        }
        b.source(("net:0".into(), "0".into()), u64::MAX, u64::MAX);
        for i in 0..(MAX_REPORTERS + 2) {
            b.reporter(&format!("r{i:03}"));
        }
        b.reporter(&"x".repeat(300));
        b.tls_failure("sts", "certificate-expired", "MX.example.com", 3);
        b.tls_failure("sts", "certificate-expired", "mx.example.com", 4);
        let facts = b.finish();
        assert_eq!(facts.sources.len(), MAX_SOURCES);
        assert_eq!(facts.sources[0].key, "net:0");
        assert_eq!(facts.sources[0].messages, u64::MAX);
        assert_eq!(facts.sources[1].messages, MAX_SOURCES as u64 + 5);
        assert_eq!(facts.reporters.len(), MAX_REPORTERS);
        assert_eq!(facts.cut, 5 + 3);
        assert_eq!(
            facts.tls_failures,
            [TlsFailureDay {
                policy: "sts".into(),
                result_type: "certificate-expired".into(),
                mx: "mx.example.com".into(),
                sessions: 7
            }]
        );
    }
}
