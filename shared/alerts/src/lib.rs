//! Alerts: what changed in a domain's mail, decided from its days and kept as state, not
//! events.
//!
//! [`facts`] is what one UTC day of a domain says (volume, sources, reporters, TLS
//! failures), bounded however much a stranger sends; [`rules`] holds the thresholds an owner
//! can change per domain; [`evaluate`] turns a run of days into the conditions that hold
//! now; [`state`] steps one alert per rule and key through open and resolved, and decides
//! which steps are worth a mail and which wait for the weekly digest; [`feedback`] reads
//! SES's bounces and complaints into the addresses never to mail again.

pub mod digest;
pub mod evaluate;
pub mod facts;
pub mod feedback;
pub mod mail;
pub mod rules;
pub mod send;
pub mod settings;
pub mod state;
pub mod webhook;

use serde::{Deserialize, Serialize};

/// How much an alert matters. Ordered: a rise in severity is a reason to mail again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; goes to the digest, never mailed on its own.
    Info,
    /// Something is wrong and will cost mail or visibility if left.
    Warning,
    /// Mail is refused, spoofing is delivered, or reports are being lost now.
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// The rules; each alert belongs to one, and to one key within it (a source, a reporter, a
/// TLS result type, a DNS finding code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A DNS check finding: MX drift on an enforced policy, DMARC no longer reporting here.
    Dns,
    /// A source never seen for the domain fails DMARC above a floor and a share of the mail.
    NewSource,
    /// A known source's DMARC pass share falls out of its usual band.
    SourceBand,
    /// The domain's DMARC pass share drops against its own recent baseline.
    DomainPassDrop,
    /// A reporter that sent daily has gone silent (or the intake of its mail broke).
    SilentReporter,
    /// A reporter never seen for the domain (information: digest only).
    NewReporter,
    /// The share of failed TLS sessions of one policy type jumps over its baseline.
    TlsFailureSpike,
    /// A TLS failure type (at one receiving MX) not seen in the last weeks.
    TlsNewFailure,
}

impl Rule {
    pub const ALL: [Rule; 8] = [
        Rule::Dns,
        Rule::NewSource,
        Rule::SourceBand,
        Rule::DomainPassDrop,
        Rule::SilentReporter,
        Rule::NewReporter,
        Rule::TlsFailureSpike,
        Rule::TlsNewFailure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Dns => "dns",
            Rule::NewSource => "new_source",
            Rule::SourceBand => "source_band",
            Rule::DomainPassDrop => "domain_pass_drop",
            Rule::SilentReporter => "silent_reporter",
            Rule::NewReporter => "new_reporter",
            Rule::TlsFailureSpike => "tls_failure_spike",
            Rule::TlsNewFailure => "tls_new_failure",
        }
    }

    pub fn parse(text: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == text)
    }
}
