//! Raw objects as the ingest function meets them: named by bucket and key, a batch of them
//! under one invocation's deadline. Lambda's event types stay in the function; what happens
//! to each object is here, tested without Lambda.

use std::time::Duration;

use rampart_formats::Limits;
use rampart_sources::Enricher;
use rampart_store::{Outcome, RawKey, Store, StoreError};
use serde::Serialize;
use tokio::time::Instant;

use crate::metrics::IngestCounts;
use crate::{Accept, Ingest, Released};

/// Where raw objects are read and what ingesting them needs, built once at a function's init.
pub struct Objects<S> {
    pub store: S,
    pub limits: Limits,
    /// Country, AS, reverse DNS and service of each source address, stored with the report.
    pub enricher: Enricher,
    /// Whose reports are counted (`RAMPART_ACCEPT`).
    pub accept: Accept,
    /// The bucket the store reads raw messages from; notifications for others are failures.
    pub bucket: String,
    /// Time kept back from the invocation's deadline: no object is started later than this
    /// before it, and reverse DNS stops this long before it.
    pub reserve: Duration,
}

/// The reserve by default: enough to store the largest report and record its outcome.
pub const RESERVE: Duration = Duration::from_secs(15);

impl<S: Store> Objects<S> {
    /// The ingest of one invocation: reverse DNS may take the enricher's budget once, for
    /// all the objects of the invocation, and never past the reserve.
    fn ingest(&self, deadline: Option<Instant>) -> Ingest<'_, S> {
        let dns = Instant::now() + self.enricher.settings.budget;
        let dns = match deadline {
            Some(d) => dns.min(d.checked_sub(self.reserve).unwrap_or(d)),
            None => dns,
        };
        Ingest::new(&self.store, &self.enricher)
            .limits(self.limits)
            .accept(self.accept)
            .dns_deadline(Some(dns))
    }

    /// The objects of one invocation, which ends at `deadline`; `now` is recorded.
    pub fn batch(&self, now: i64, deadline: Option<Instant>) -> Batch<'_, S> {
        Batch {
            objects: self,
            ingest: self.ingest(deadline),
            now,
            deadline,
        }
    }

    /// Ingests the messages held for domains registered since they arrived, stopping the
    /// reserve before `deadline`.
    pub async fn release_held(
        &self,
        now: i64,
        deadline: Option<Instant>,
    ) -> Result<Released, StoreError> {
        let until = deadline.map(|d| d.checked_sub(self.reserve).unwrap_or(d));
        self.ingest(deadline).release_held(now, until).await
    }

    /// True when an object started now might not finish before `deadline`.
    pub fn out_of_time(&self, deadline: Option<Instant>) -> bool {
        deadline.is_some_and(|d| Instant::now() + self.reserve >= d)
    }
}

/// The result of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectOutcome {
    pub bucket: String,
    pub key: String,
    pub outcome: Outcome,
    pub reports: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One invocation's objects: reverse DNS shares one budget, and nothing starts within the
/// reserve of the deadline.
pub struct Batch<'a, S> {
    objects: &'a Objects<S>,
    ingest: Ingest<'a, S>,
    now: i64,
    deadline: Option<Instant>,
}

impl<S: Store> Batch<'_, S> {
    /// True when an object started now might not finish before the deadline.
    pub fn out_of_time(&self) -> bool {
        self.objects.out_of_time(self.deadline)
    }

    /// Ingests one object named by a notification and records its outcome; an object of
    /// another bucket, or one there is no time left for, fails (and is retried).
    pub async fn object(
        &self,
        bucket: String,
        key: String,
        counts: &mut IngestCounts,
    ) -> ObjectOutcome {
        let failed = |reason: String| ObjectOutcome {
            bucket: bucket.clone(),
            key: key.clone(),
            outcome: Outcome::Failed,
            reports: 0,
            reason: Some(reason),
        };
        if self.out_of_time() {
            // Not started: the retry of the event ingests it.
            counts.mails += 1;
            counts.failed += 1;
            return failed("not started: the invocation was about to time out".to_owned());
        }
        match readable_key(&bucket, &key, self.objects) {
            Ok(raw_key) => {
                let done = self.ingest.stored(&raw_key, self.now).await;
                tracing::info!(
                    outcome = %done.outcome,
                    reports = done.reports.len(),
                    stored = done.stored,
                    duplicates = done.duplicates,
                    records = done.records,
                    reason = done.reason.as_deref().unwrap_or(""),
                    "ingested"
                );
                counts.add(&done);
                ObjectOutcome {
                    bucket,
                    key,
                    outcome: done.outcome,
                    reports: done.reports.len(),
                    reason: done.reason,
                }
            }
            Err(reason) => {
                // A wiring mistake, not a bad mail: failing sends the notification to the
                // dead-letter queue, where an operator sees it.
                tracing::error!(%reason, "object not readable by this function");
                counts.mails += 1;
                counts.failed += 1;
                failed(reason)
            }
        }
    }
}

fn readable_key<S>(bucket: &str, key: &str, objects: &Objects<S>) -> Result<RawKey, String> {
    if bucket != objects.bucket {
        return Err(format!(
            "notification for bucket {bucket:?}, but this function reads {:?}",
            objects.bucket
        ));
    }
    RawKey::new(key).map_err(|e| e.to_string())
}
