//! What the store keeps: raw message keys, stored reports, per-message outcomes, domains.

use rampart_formats::mta_sts::Policy;
use rampart_sources::Sources;
use serde::{Deserialize, Serialize};

use rampart_formats::identity::ReportId;
use rampart_formats::intake::{Origin, Report};
use rampart_formats::mail::MessageFacts;

/// The name of one raw message in the blob store: an S3 object key (already form-decoded),
/// or a file name under the local data folder's `raw/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawKey(String);

impl RawKey {
    /// Accepts any non-empty key without `..` segments, a leading `/`, or control characters,
    /// so it is safe both as an S3 key and as a relative path.
    pub fn new(key: impl Into<String>) -> Result<Self, InvalidKey> {
        let key = key.into();
        let bad = key.is_empty()
            || key.len() > 1024
            || key.starts_with('/')
            || key.chars().any(char::is_control)
            || key.split(['/', '\\']).any(|s| s == ".." || s == ".");
        if bad {
            return Err(InvalidKey(key));
        }
        Ok(RawKey(key))
    }

    /// The content-addressed key the local mode gives a file: the same bytes always get
    /// the same key, so ingesting a file twice keeps one copy.
    pub fn for_content(bytes: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(bytes);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        RawKey(format!("{}/{hex}", &hex[..2]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RawKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a usable message key: {0:?}")]
pub struct InvalidKey(pub String);

/// Where TLS reports uploaded over HTTPS are kept among the raw messages.
pub const UPLOAD_PREFIX: &str = "https/";

/// One report as stored: the parsed report plus where and when it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReport {
    pub id: ReportId,
    /// The raw message that carried it (the first one stored; later copies are duplicates).
    pub message: RawKey,
    /// When Rampart stored it, epoch seconds.
    pub received_at: i64,
    /// Header facts and SES verdicts of the carrying mail; `None` for a bare file or upload.
    pub mail: Option<MessageFacts>,
    /// Where in the message the report was found.
    pub origin: Origin,
    pub report: Report,
    /// What ingest learnt about each source address of an aggregate report (empty until
    /// enriched, and for TLS reports). Stored beside the report in its body.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sources: Sources,
}

impl StoredReport {
    /// The policy domain the report is filed under (see [`Report::domain`]). Reports
    /// without one are filed under the empty domain, never dropped.
    pub fn domain(&self) -> String {
        self.report.domain()
    }

    /// The UTC day (`YYYY-MM-DD`) the report's period begins; `0000-00-00` when it has no
    /// readable begin, so such reports still sort and list.
    pub fn day(&self) -> String {
        let begin = match &self.report {
            Report::Aggregate(r) => r.metadata.begin,
            Report::Tls(r) => r.start,
        };
        begin
            .and_then(|b| chrono::DateTime::from_timestamp(b, 0))
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| "0000-00-00".to_owned())
    }

    pub fn summary(&self) -> ReportSummary {
        match &self.report {
            Report::Aggregate(r) => ReportSummary {
                org: r.metadata.org_name.clone(),
                report_id: r.metadata.report_id.clone(),
                begin: r.metadata.begin,
                end: r.metadata.end,
                messages: r.message_count(),
                records: r.records.len() as u64,
            },
            Report::Tls(r) => ReportSummary {
                org: r.organization_name.clone().unwrap_or_default(),
                report_id: r.report_id.clone().unwrap_or_default(),
                begin: r.start,
                end: r.end,
                messages: r.successful_sessions() + r.failed_sessions(),
                records: r.policies.len() as u64,
            },
        }
    }
}

/// The facts of a report that listings need without its records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSummary {
    pub org: String,
    pub report_id: String,
    pub begin: Option<i64>,
    pub end: Option<i64>,
    /// Messages (aggregate: the sum of record counts) or TLS sessions (successful + failed).
    pub messages: u64,
    /// Records (aggregate) or policies (TLS-RPT).
    pub records: u64,
}

pub use rampart_formats::identity::normalise_domain;

/// How writing one report ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PutReport {
    /// New: stored and counted.
    Stored,
    /// Already stored (and, when replacing, with the same content): nothing changed.
    Duplicate,
    /// Stored before with other content; replaced, and the counters moved by the difference.
    Replaced,
}

/// What to do when a report with the same identity is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Keep the stored one: the new copy is a duplicate (mail ingest).
    Insert,
    /// Replace it if the content differs (reprocessing after a parser upgrade).
    Replace,
}

/// How one raw message ended. Every message ends in exactly one of these.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// At least one report in it was new (or, when reprocessing, changed).
    Stored,
    /// Every report in it was already stored.
    Duplicate,
    /// Nothing in it can ever be read as a report, or nothing in it may be counted (a
    /// period that has not begun); `reason` says why.
    Rejected,
    /// Kept aside: its reports are for a domain that is not registered, and only registered
    /// domains are counted. Registering the domain ingests it.
    Held,
    /// Storing it failed for a reason that may pass (throttling, a timeout); retry it.
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Stored,
        Outcome::Duplicate,
        Outcome::Rejected,
        Outcome::Held,
        Outcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
            Outcome::Held => "held",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The recorded outcome of one raw message; the latest processing wins.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub key: RawKey,
    pub outcome: Outcome,
    /// Every report found in the message, whether new or a duplicate.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub reports: Vec<ReportId>,
    /// How many of `reports` were new (or replaced) this time.
    pub stored: u32,
    /// How many of `reports` were already stored.
    pub duplicates: u32,
    /// Why it was rejected or failed; for a stored message, the parts that gave no report.
    pub reason: Option<String>,
    /// When it was processed, epoch seconds.
    pub processed_at: i64,
    /// Size of the raw message in bytes.
    pub size: u64,
    /// `From:` of the carrying mail, so a rejected mail can be traced to its sender.
    pub from: Option<String>,
    pub subject: Option<String>,
}

/// Where a page of message records ended: the last record's time and key. Records are
/// listed newest first, then by key from last to first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePosition {
    pub processed_at: i64,
    pub key: RawKey,
}

impl MessageRecord {
    pub fn position(&self) -> MessagePosition {
        MessagePosition {
            processed_at: self.processed_at,
            key: self.key.clone(),
        }
    }
}

/// A domain Rampart knows: registered by a user, or seen in reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEntry {
    pub name: String,
    /// When a user registered it; `None` for a domain that reports arrived for unasked.
    pub registered_at: Option<i64>,
    /// Stored reports, messages (or TLS sessions) and records counted for it.
    pub reports: u64,
    pub messages: u64,
    pub records: u64,
    /// The most days any stored report of the domain is spread over (1 when none is longer),
    /// so a range query knows how far back a report can begin and still count in it.
    pub span_days: u32,
    /// The verdict of its latest DNS check, if any ran.
    pub dns: Option<DnsVerdict>,
}

/// The worst severity of a domain's latest DNS check, kept on the domain so that a listing
/// of many domains shows it without reading each one's checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsVerdict {
    pub worst: String,
    pub checked_at: i64,
}

/// One DNS check run as stored. Storage keeps the report as the JSON it was given (it never
/// parses, as with reports); a run is identified by its domain and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRun {
    pub domain: String,
    pub checked_at: i64,
    /// The run's worst severity (`ok` … `critical`).
    pub worst: String,
    /// The report, JSON.
    pub report: String,
}

/// How long check runs are kept: a year of history and a little more, so the dashboard can
/// say when a record changed.
pub const CHECK_HISTORY_SECONDS: i64 = 400 * 86_400;

/// A raw message read back, bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawRead {
    Bytes(Vec<u8>),
    /// Larger than the bound asked for; not read.
    TooLarge {
        size: u64,
    },
    /// No such message.
    Missing,
}

/// An inclusive range of UTC days, `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRange {
    pub from: String,
    pub to: String,
}

impl DayRange {
    pub fn new(from: &str, to: &str) -> Self {
        DayRange {
            from: from.to_owned(),
            to: to.to_owned(),
        }
    }

    /// Every day, including reports without a readable begin.
    pub fn all() -> Self {
        DayRange::new("0000-00-00", "9999-12-31")
    }
}

/// One stored version of a domain's hosted policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub domain: String,
    /// 1 for the first version, then one more for each change.
    pub version: u32,
    /// When it was stored (and began to be served), epoch seconds.
    pub created_at: i64,
    pub policy: Policy,
    /// On the `mode: none` version that ends hosting (§8.3): served until then, then nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_at: Option<i64>,
}

impl PolicyVersion {
    /// The policy file, if this version is served at `now`.
    pub fn served_body(&self, now: i64) -> Option<String> {
        self.retire_at
            .is_none_or(|end| now < end)
            .then(|| self.policy.render())
    }
}
