//! Storage: where raw messages, reports, per-message outcomes and domains live.
//!
//! [`Store`] is what the product needs from storage; two backends implement it:
//! [`aws::AwsStore`] (DynamoDB + S3, see `docs/storage.md`) and
//! [`embedded::EmbeddedStore`] (an SQLite file + a folder, for the local mode). Storage never
//! parses: reports arrive parsed and leave as they came in.
//!
//! Every write is idempotent. A report is identified by its [`ReportId`]; writing it again
//! is a [`PutReport::Duplicate`], and a write interrupted half-way is completed, not
//! counted twice, by the next attempt. The per-day counters of [`crate::tally`] move in the
//! same atomic step that completes a report.

use std::future::Future;
use std::sync::Mutex;

pub mod alerting;
pub mod body;
pub mod mailbox;
mod model;
pub mod tally;

#[cfg(feature = "dynamodb")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;

pub use alerting::{ALL_DOMAINS, AlertItem, AlertStore, Suppression};
pub use mailbox::{MailboxItem, MailboxStore};
pub use model::{
    CHECK_HISTORY_SECONDS, CheckRun, DayRange, DnsVerdict, DomainEntry, InvalidKey,
    MessagePosition, MessageRecord, Outcome, PolicyVersion, PutReport, RawKey, RawRead,
    ReportSummary, StoredReport, UPLOAD_PREFIX, WriteMode, normalise_domain,
};

use crate::tally::Counters;
use rampart_formats::identity::ReportId;
use rampart_sources::NameCache;

/// What the MTA-STS policy host reads. Every [`Store`] has it; `aws::PolicyTable` has only
/// it, so the policy host's Lambda function links the DynamoDB client alone.
pub trait PolicySource: Send + Sync {
    /// The newest version of a domain's policy: what the policy host serves.
    fn latest_policy(
        &self,
        domain: &str,
    ) -> impl Future<Output = Result<Option<PolicyVersion>, StoreError>> + Send;
}

/// A shared source is a source.
impl<T: PolicySource> PolicySource for std::sync::Arc<T> {
    fn latest_policy(
        &self,
        domain: &str,
    ) -> impl Future<Output = Result<Option<PolicyVersion>, StoreError>> + Send {
        T::latest_policy(self, domain)
    }
}

/// The storage the product needs. Every method is safe to retry.
pub trait Store:
    NameCache<Error = StoreError> + PolicySource + AlertStore + MailboxStore + Send + Sync
{
    /// Keeps the bytes of a raw message. Writing the same key again overwrites it.
    fn put_raw(
        &self,
        key: &RawKey,
        bytes: &[u8],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads a raw message if it is at most `max_bytes` long.
    fn get_raw(
        &self,
        key: &RawKey,
        max_bytes: u64,
    ) -> impl Future<Output = Result<RawRead, StoreError>> + Send;

    /// Every raw message key, in key order.
    fn raw_keys(&self) -> impl Future<Output = Result<Vec<RawKey>, StoreError>> + Send;

    /// Marks the raw message with its outcome where the blob store can carry a mark (an S3
    /// object tag, which lifecycle rules and the console can see). The message record is
    /// the authoritative outcome; a store without marks does nothing here.
    fn mark_raw(
        &self,
        key: &RawKey,
        outcome: Outcome,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes one report and, when it is new, adds it to its domain's counters, exactly once.
    fn put_report(
        &self,
        report: &StoredReport,
        mode: WriteMode,
    ) -> impl Future<Output = Result<PutReport, StoreError>> + Send;

    /// The complete reports of a domain whose period begins on a day in `days`, in day order,
    /// all at once: for commands and tests. Requests use [`Store::each_report`].
    fn reports(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> impl Future<Output = Result<Vec<StoredReport>, StoreError>> + Send;

    /// Calls `f` with each complete report of a domain whose period begins on a day in
    /// `days`, in day order, one at a time: however many reports a stranger sent for a day,
    /// a query holds one of them in memory.
    fn each_report(
        &self,
        domain: &str,
        days: &DayRange,
        f: &mut (dyn FnMut(StoredReport) + Send),
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One complete report.
    fn report(
        &self,
        id: &ReportId,
    ) -> impl Future<Output = Result<Option<StoredReport>, StoreError>> + Send;

    /// Whether this report is stored and complete already: a duplicate is then known before
    /// enriching it. Reads one item by its key.
    fn is_stored(
        &self,
        report: &StoredReport,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records how a raw message ended, replacing any earlier record of it.
    fn put_message(
        &self,
        record: &MessageRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn message(
        &self,
        key: &RawKey,
    ) -> impl Future<Output = Result<Option<MessageRecord>, StoreError>> + Send;

    /// At most `limit` message records with the given outcome, newest first, beginning after
    /// `after` (a page's last record) when given.
    fn messages(
        &self,
        outcome: Outcome,
        after: Option<&MessagePosition>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<MessageRecord>, StoreError>> + Send;

    /// Registers a domain; `false` if it was registered already.
    fn register_domain(
        &self,
        name: &str,
        at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Unregisters a domain, keeping its reports and counters; `false` if it was not registered.
    fn unregister_domain(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// At most `limit` of the registered domains and the domains reports arrived for, by
    /// name, beginning after the name `after` when given.
    fn domains(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DomainEntry>, StoreError>> + Send;

    /// One domain, if it is registered or reports arrived for it.
    fn domain(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<DomainEntry>, StoreError>> + Send;

    /// Deletes a domain's reports, counters and registration; raw messages stay. `false` if
    /// there was nothing to delete.
    fn forget_domain(&self, name: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The per-day counters of a domain (see [`crate::tally`]) for the days in `days` that
    /// have any, in day order.
    fn day_counts(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> impl Future<Output = Result<Vec<(String, Counters)>, StoreError>> + Send;

    /// The latest day, up to `not_after`, with any counter of the domain: the day its
    /// latest report covers. Reads a few items, never a range.
    fn latest_day(
        &self,
        domain: &str,
        not_after: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Adds a version of a domain's hosted MTA-STS policy; `false` if that version number
    /// exists already (another writer got there first).
    fn put_policy(
        &self,
        version: &PolicyVersion,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every version of a domain's policy, oldest first.
    fn policies(
        &self,
        domain: &str,
    ) -> impl Future<Output = Result<Vec<PolicyVersion>, StoreError>> + Send;

    /// The domains that have any policy version, by name. Reads only those.
    fn policy_domains(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Keeps a message aside for a domain that is not registered (see
    /// [`Accept::Registered`](rampart_ingest::Accept)).
    fn hold(
        &self,
        domain: &str,
        key: &RawKey,
        at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// At most `limit` of the messages held for a domain.
    fn held(
        &self,
        domain: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RawKey>, StoreError>> + Send;

    /// Takes a message off a domain's held list.
    fn unhold(
        &self,
        domain: &str,
        key: &RawKey,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Asks for a domain's held messages to be ingested (it was just registered).
    fn request_release(&self, domain: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The domains whose held messages are waiting to be ingested.
    fn releases(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Marks a domain's release done.
    fn release_done(&self, domain: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a DNS check run (again: the same run, replaced) and, when it is the domain's
    /// newest, makes its worst severity the domain's [`DnsVerdict`]. Runs older than
    /// [`CHECK_HISTORY_SECONDS`] go.
    fn put_check(&self, run: &CheckRun) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A domain's check runs, newest first, at most `limit`.
    fn checks(
        &self,
        domain: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CheckRun>, StoreError>> + Send;

    /// Asks for a domain's DNS records to be checked at the next scheduled run (its policy
    /// changed).
    fn request_check(&self, domain: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The domains whose check was asked for.
    fn check_requests(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Marks a domain's requested check done.
    fn check_done(&self, domain: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A shared store is a store: `rampart serve` hands one to the API and the policy host.
impl<T: Store> Store for std::sync::Arc<T> {
    fn put_raw(
        &self,
        key: &RawKey,
        bytes: &[u8],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::put_raw(self, key, bytes)
    }

    fn get_raw(
        &self,
        key: &RawKey,
        max_bytes: u64,
    ) -> impl Future<Output = Result<RawRead, StoreError>> + Send {
        T::get_raw(self, key, max_bytes)
    }

    fn raw_keys(&self) -> impl Future<Output = Result<Vec<RawKey>, StoreError>> + Send {
        T::raw_keys(self)
    }

    fn mark_raw(
        &self,
        key: &RawKey,
        outcome: Outcome,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::mark_raw(self, key, outcome)
    }

    fn put_report(
        &self,
        report: &StoredReport,
        mode: WriteMode,
    ) -> impl Future<Output = Result<PutReport, StoreError>> + Send {
        T::put_report(self, report, mode)
    }

    fn reports(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> impl Future<Output = Result<Vec<StoredReport>, StoreError>> + Send {
        T::reports(self, domain, days)
    }

    fn each_report(
        &self,
        domain: &str,
        days: &DayRange,
        f: &mut (dyn FnMut(StoredReport) + Send),
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::each_report(self, domain, days, f)
    }

    fn report(
        &self,
        id: &ReportId,
    ) -> impl Future<Output = Result<Option<StoredReport>, StoreError>> + Send {
        T::report(self, id)
    }

    fn is_stored(
        &self,
        report: &StoredReport,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        T::is_stored(self, report)
    }

    fn put_message(
        &self,
        record: &MessageRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::put_message(self, record)
    }

    fn message(
        &self,
        key: &RawKey,
    ) -> impl Future<Output = Result<Option<MessageRecord>, StoreError>> + Send {
        T::message(self, key)
    }

    fn messages(
        &self,
        outcome: Outcome,
        after: Option<&MessagePosition>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<MessageRecord>, StoreError>> + Send {
        T::messages(self, outcome, after, limit)
    }

    fn register_domain(
        &self,
        name: &str,
        at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        T::register_domain(self, name, at)
    }

    fn unregister_domain(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        T::unregister_domain(self, name)
    }

    fn domains(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DomainEntry>, StoreError>> + Send {
        T::domains(self, after, limit)
    }

    fn domain(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<DomainEntry>, StoreError>> + Send {
        T::domain(self, name)
    }

    fn forget_domain(&self, name: &str) -> impl Future<Output = Result<bool, StoreError>> + Send {
        T::forget_domain(self, name)
    }

    fn day_counts(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> impl Future<Output = Result<Vec<(String, Counters)>, StoreError>> + Send {
        T::day_counts(self, domain, days)
    }

    fn latest_day(
        &self,
        domain: &str,
        not_after: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        T::latest_day(self, domain, not_after)
    }

    fn put_policy(
        &self,
        version: &PolicyVersion,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        T::put_policy(self, version)
    }

    fn policies(
        &self,
        domain: &str,
    ) -> impl Future<Output = Result<Vec<PolicyVersion>, StoreError>> + Send {
        T::policies(self, domain)
    }

    fn policy_domains(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        T::policy_domains(self)
    }

    fn hold(
        &self,
        domain: &str,
        key: &RawKey,
        at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::hold(self, domain, key, at)
    }

    fn held(
        &self,
        domain: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RawKey>, StoreError>> + Send {
        T::held(self, domain, limit)
    }

    fn unhold(
        &self,
        domain: &str,
        key: &RawKey,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::unhold(self, domain, key)
    }

    fn request_release(&self, domain: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::request_release(self, domain)
    }

    fn releases(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        T::releases(self)
    }

    fn release_done(&self, domain: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::release_done(self, domain)
    }

    fn put_check(&self, run: &CheckRun) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::put_check(self, run)
    }

    fn checks(
        &self,
        domain: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CheckRun>, StoreError>> + Send {
        T::checks(self, domain, limit)
    }

    fn request_check(&self, domain: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::request_check(self, domain)
    }

    fn check_requests(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        T::check_requests(self)
    }

    fn check_done(&self, domain: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::check_done(self, domain)
    }
}

/// Every domain, read a page at a time: for commands that walk them all (`rampart
/// reprocess --enrich`), never for a request.
pub async fn every_domain<S: Store>(store: &S) -> Result<Vec<DomainEntry>, StoreError> {
    let mut all: Vec<DomainEntry> = Vec::new();
    loop {
        let after = all.last().map(|d| d.name.clone());
        let page = store.domains(after.as_deref(), 1000).await?;
        let done = page.len() < 1000;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// Why a storage call failed. Every variant leaves the store consistent: retrying the call
/// completes it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend did not answer or asked to slow down: throttling, a timeout, a network
    /// error, a server error.
    #[error("{op}: storage unavailable: {detail}")]
    Unavailable { op: &'static str, detail: String },
    /// The backend refused the call: missing table or bucket, no permission, a bad request.
    #[error("{op}: refused by storage: {detail}")]
    Refused { op: &'static str, detail: String },
    /// Stored data could not be read back.
    #[error("{what} is unreadable: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A test asked the store to stop at this point, as a crash there would.
    #[error("stopped at {0:?} (injected fault)")]
    Injected(FaultPoint),
}

impl StoreError {
    pub fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Unavailable { .. } => "storage_unavailable",
            StoreError::Refused { .. } => "storage_refused",
            StoreError::Corrupt { .. } => "storage_corrupt",
            StoreError::Io { .. } => "storage_io",
            StoreError::Injected(_) => "injected_fault",
        }
    }
}

/// The points between the write steps of [`Store::put_report`] where a test can make the
/// store stop, to prove that the next attempt completes the write without counting twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// After the report's header is written, before its body.
    AfterHeader,
    /// After the body is written, before the report is marked complete and counted.
    AfterBody,
}

/// One-shot injected faults. Production code never arms one; the check is a mutex read.
#[derive(Debug, Default)]
pub struct Faults(Mutex<Option<FaultPoint>>);

impl Faults {
    /// The next write that reaches `point` fails there, once.
    pub fn arm(&self, point: FaultPoint) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(point);
    }

    #[cfg_attr(not(any(feature = "aws", feature = "embedded")), allow(dead_code))]
    pub(crate) fn check(&self, point: FaultPoint) -> Result<(), StoreError> {
        let mut armed = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if *armed == Some(point) {
            *armed = None;
            return Err(StoreError::Injected(point));
        }
        Ok(())
    }
}
