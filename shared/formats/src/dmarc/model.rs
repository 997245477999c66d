//! The aggregate report model: one [`AggregateReport`] per `<feedback>` document.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::enums::report_enum;
use crate::warning::Warning;

/// One DMARC aggregate report (RFC 7489 Appendix C, RFC 9990 §3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregateReport {
    /// `<version>`: "1.0" in RFC 9990 reports, absent or "0.1"/"2.0" elsewhere.
    pub version: Option<String>,
    /// The root element's default namespace, e.g. `urn:ietf:params:xml:ns:dmarc-2.0`.
    pub namespace: Option<String>,
    pub metadata: ReportMetadata,
    pub policy: PolicyPublished,
    pub records: Vec<Record>,
    /// What was repaired or skipped while reading this report.
    pub warnings: Vec<Warning>,
}

impl AggregateReport {
    /// Sum of `<count>` over all records, stopping at [`MAX_COUNT`](crate::limits::MAX_COUNT).
    pub fn message_count(&self) -> u64 {
        self.records
            .iter()
            .fold(0u64, |sum, r| crate::limits::add_counts(sum, r.count))
    }
}

/// Bytes of text in an optional value.
fn text_len(v: &Option<String>) -> u64 {
    v.as_ref().map_or(0, |s| s.len() as u64)
}

impl ReportMetadata {
    /// The memory its text takes, as the parser charges it.
    pub(crate) fn approx_bytes(&self) -> u64 {
        let texts = [&self.email, &self.extra_contact_info, &self.generator];
        (self.org_name.len() + self.report_id.len()) as u64
            + texts.into_iter().map(text_len).sum::<u64>()
            + self.errors.iter().map(|e| e.len() as u64).sum::<u64>()
    }
}

/// `<report_metadata>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportMetadata {
    /// The reporting organisation. Recovered from the domain of `email` when sent empty.
    pub org_name: String,
    /// Contact address of the reporter.
    pub email: Option<String>,
    pub extra_contact_info: Option<String>,
    /// The reporter's id for this report, as sent (trimmed).
    pub report_id: String,
    /// Start of the reporting period, epoch seconds (normalised from ms or fractions).
    pub begin: Option<i64>,
    /// End of the reporting period, epoch seconds.
    pub end: Option<i64>,
    /// `<error>` elements (any number, RFC 7489 allows unbounded).
    pub errors: Vec<String>,
    /// `<generator>` (RFC 9990): the reporting software.
    pub generator: Option<String>,
}

/// `<policy_published>`: the DMARC record the reporter found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyPublished {
    /// The policy domain, lower-cased.
    pub domain: String,
    pub adkim: Option<Alignment>,
    pub aspf: Option<Alignment>,
    pub p: Option<Disposition>,
    pub sp: Option<Disposition>,
    /// Policy for non-existent subdomains (RFC 9990).
    pub np: Option<Disposition>,
    /// Sampling percentage (RFC 7489; removed in RFC 9990).
    pub pct: Option<u8>,
    /// Failure reporting options as sent (`0`, `1`, `d:s`, ...).
    pub fo: Option<String>,
    /// `t=` testing flag (RFC 9990).
    pub testing: Option<Testing>,
    /// How the policy was found (RFC 9990).
    pub discovery_method: Option<DiscoveryMethod>,
}

/// One `<record>`: a group of messages with the same source and results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub source_ip: SourceIp,
    /// Number of messages, at most [`MAX_COUNT`](crate::limits::MAX_COUNT); 0 when the count
    /// sent was not a real one (see `invalid_count`).
    pub count: u64,
    /// A count above 2^53 − 1, as sent: kept to show, left out of every total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_count: Option<String>,
    pub policy_evaluated: PolicyEvaluated,
    pub identifiers: Identifiers,
    pub auth_results: AuthResults,
}

impl Record {
    /// The memory the record takes (its structure and its text), as the parser charges it
    /// against [`Limits::max_parsed_bytes`](crate::Limits::max_parsed_bytes).
    pub fn approx_bytes(&self) -> u64 {
        use std::mem::size_of;
        let ids = &self.identifiers;
        let mut n = size_of::<Record>() as u64
            + text_len(&ids.header_from)
            + text_len(&ids.envelope_from)
            + text_len(&ids.envelope_to)
            + text_len(&self.invalid_count);
        if let SourceIp::Unparsed(s) = &self.source_ip {
            n += s.len() as u64;
        }
        for r in &self.policy_evaluated.reasons {
            n += size_of::<PolicyOverrideReason>() as u64 + text_len(&r.comment);
        }
        for a in &self.auth_results.dkim {
            n += size_of::<DkimAuth>() as u64
                + text_len(&a.domain)
                + text_len(&a.selector)
                + text_len(&a.human_result);
        }
        for a in &self.auth_results.spf {
            n += size_of::<SpfAuth>() as u64 + text_len(&a.domain) + text_len(&a.human_result);
        }
        n
    }
}

/// `<source_ip>`: an address, or the text as sent when it is not one (kept so no count is lost).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceIp {
    Ip(IpAddr),
    /// Redacted (`X.X.X.X`), empty or otherwise unreadable; flagged by a warning.
    Unparsed(String),
}

impl SourceIp {
    /// Reads an address, tolerating an IPv6 zone id and surrounding brackets.
    pub fn from_text(text: &str) -> Self {
        let t = text.trim();
        let bare = t.trim_start_matches('[').trim_end_matches(']');
        let without_zone = bare.split('%').next().unwrap_or(bare);
        match without_zone.parse::<IpAddr>() {
            Ok(ip) => SourceIp::Ip(ip),
            Err(_) => SourceIp::Unparsed(t.to_owned()),
        }
    }

    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            SourceIp::Ip(ip) => Some(*ip),
            SourceIp::Unparsed(_) => None,
        }
    }
}

impl std::fmt::Display for SourceIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceIp::Ip(ip) => ip.fmt(f),
            SourceIp::Unparsed(s) => f.write_str(s),
        }
    }
}

impl Serialize for SourceIp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SourceIp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(SourceIp::from_text(&s))
    }
}

/// `<policy_evaluated>`: what the receiver did and the aligned results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyEvaluated {
    pub disposition: Option<Disposition>,
    /// DKIM-aligned result.
    pub dkim: Option<DmarcResult>,
    /// SPF-aligned result.
    pub spf: Option<DmarcResult>,
    pub reasons: Vec<PolicyOverrideReason>,
}

impl PolicyEvaluated {
    /// DMARC passes when either aligned result passes.
    pub fn dmarc_pass(&self) -> bool {
        self.dkim == Some(DmarcResult::Pass) || self.spf == Some(DmarcResult::Pass)
    }
}

/// `<reason>`: why the receiver overrode the policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyOverrideReason {
    pub kind: Option<PolicyOverride>,
    pub comment: Option<String>,
}

/// `<identifiers>` (`<identities>` in old drafts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identifiers {
    /// RFC5322.From domain, lower-cased.
    pub header_from: Option<String>,
    pub envelope_from: Option<String>,
    pub envelope_to: Option<String>,
}

/// `<auth_results>`: the raw (unaligned) DKIM and SPF results, any number of each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthResults {
    pub dkim: Vec<DkimAuth>,
    pub spf: Vec<SpfAuth>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DkimAuth {
    pub domain: Option<String>,
    pub selector: Option<String>,
    pub result: Option<DkimResult>,
    pub human_result: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpfAuth {
    pub domain: Option<String>,
    pub scope: Option<SpfScope>,
    pub result: Option<SpfResult>,
    pub human_result: Option<String>,
}

report_enum! {
    /// `adkim` / `aspf`: relaxed or strict identifier alignment.
    pub enum Alignment {
        Relaxed = "r" | "relaxed",
        Strict = "s" | "strict",
    }
}

report_enum! {
    /// `p`/`sp`/`np` and `<disposition>`; `pass` is RFC 9990's "no action, passed DMARC".
    pub enum Disposition {
        None = "none",
        Quarantine = "quarantine",
        Reject = "reject",
        Pass = "pass",
    }
}

report_enum! {
    /// Aligned DKIM or SPF result in `<policy_evaluated>`.
    pub enum DmarcResult {
        Pass = "pass",
        Fail = "fail",
    }
}

report_enum! {
    /// `<reason><type>`: RFC 7489 and RFC 9990 override types.
    pub enum PolicyOverride {
        Forwarded = "forwarded",
        SampledOut = "sampled_out",
        TrustedForwarder = "trusted_forwarder",
        MailingList = "mailing_list",
        LocalPolicy = "local_policy",
        PolicyTestMode = "policy_test_mode",
        OtherReason = "other",
    }
}

report_enum! {
    /// DKIM result in `<auth_results>`.
    pub enum DkimResult {
        None = "none",
        Pass = "pass",
        Fail = "fail",
        Policy = "policy",
        Neutral = "neutral",
        TempError = "temperror",
        PermError = "permerror",
    }
}

report_enum! {
    /// SPF result in `<auth_results>`. OpenDMARC's `unknown` and `error` are the RFC 7489
    /// XSD's historical names for temperror and permerror; `hardfail` is fail (field guide §2.5
    /// item 43).
    pub enum SpfResult {
        None = "none",
        Neutral = "neutral",
        Pass = "pass",
        Fail = "fail" | "hardfail",
        SoftFail = "softfail",
        TempError = "temperror" | "unknown",
        PermError = "permerror" | "error",
        Policy = "policy",
    }
}

report_enum! {
    /// SPF identity checked.
    pub enum SpfScope {
        Mfrom = "mfrom",
        Helo = "helo",
    }
}

report_enum! {
    /// RFC 9990 `<testing>` (the `t` tag).
    pub enum Testing {
        No = "n",
        Yes = "y",
    }
}

report_enum! {
    /// RFC 9990 `<discovery_method>`.
    pub enum DiscoveryMethod {
        Psl = "psl",
        Treewalk = "treewalk",
    }
}
