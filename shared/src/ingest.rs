//! Ingest: one raw message in, its reports stored, exactly one recorded outcome out.
//!
//! The same steps run in the Lambda function, in `rampart ingest` and in `rampart reprocess`:
//! parse with [`intake`](crate::intake), write each report idempotently, then record the
//! message's [`Outcome`] and mark the raw object. A storage error ends in
//! [`Outcome::Failed`], which the caller retries; since every write is idempotent, the
//! retry finishes the job without counting anything twice.

use serde::Serialize;

use crate::IntakeError;
use crate::identity::ReportId;
use crate::intake::Report;
use crate::intake::parse_input;
use crate::limits::{LimitKind, Limits};
use crate::mail::MessageFacts;
use crate::sources::Enricher;
use crate::store::{
    MessageRecord, Outcome, PutReport, RawKey, RawRead, Store, StoreError, StoredReport, WriteMode,
};

/// What happened to one raw message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ingested {
    pub key: RawKey,
    pub outcome: Outcome,
    /// Every report found in the message; all are in the store unless it failed.
    pub reports: Vec<ReportId>,
    /// Of those, how many were new (or replaced, when reprocessing).
    pub stored: u32,
    /// Of those, how many were already stored.
    pub duplicates: u32,
    /// Records (TLS-RPT: policies) in the reports stored this time.
    pub records: u64,
    /// Why it was rejected or failed; for a stored message, the parts that gave no report.
    pub reason: Option<String>,
}

impl Ingested {
    /// An outcome without reports, such as a failure before parsing.
    pub fn new(key: &RawKey, outcome: Outcome, reason: Option<String>) -> Self {
        Ingested {
            key: key.clone(),
            outcome,
            reports: Vec::new(),
            stored: 0,
            duplicates: 0,
            records: 0,
            reason,
        }
    }
}

/// Facts about the message that go into its record beside the outcome.
struct Context<'a> {
    now: i64,
    size: u64,
    mail: Option<&'a MessageFacts>,
}

/// Reads a raw message from the store and ingests it.
pub async fn ingest_stored<S: Store>(
    store: &S,
    enricher: &Enricher,
    key: &RawKey,
    limits: &Limits,
    now: i64,
    mode: WriteMode,
) -> Ingested {
    match store.get_raw(key, limits.max_input_bytes).await {
        Ok(RawRead::Bytes(bytes)) => {
            ingest_message(store, enricher, key, &bytes, limits, now, mode).await
        }
        Ok(RawRead::TooLarge { size }) => {
            let reason = IntakeError::LimitExceeded {
                limit: LimitKind::InputBytes,
                max: limits.max_input_bytes,
            };
            let done = Ingested::new(key, Outcome::Rejected, Some(reason.to_string()));
            let ctx = Context {
                now,
                size,
                mail: None,
            };
            record(store, done, &ctx).await
        }
        // Nothing to keep and nothing to read: the object was removed after its notification.
        Ok(RawRead::Missing) => Ingested::new(
            key,
            Outcome::Rejected,
            Some("the raw message no longer exists".to_owned()),
        ),
        Err(e) => {
            let done = Ingested::new(key, Outcome::Failed, None);
            failed(
                store,
                done,
                &Context {
                    now,
                    size: 0,
                    mail: None,
                },
                &e,
            )
            .await
        }
    }
}

/// Keeps a new raw message's bytes under `key`, then ingests it. When the bytes cannot be
/// kept the message fails (retryable) and nothing else is written.
pub async fn keep_and_ingest<S: Store>(
    store: &S,
    enricher: &Enricher,
    key: &RawKey,
    bytes: &[u8],
    limits: &Limits,
    now: i64,
    mode: WriteMode,
) -> Ingested {
    match store.put_raw(key, bytes).await {
        Ok(()) => ingest_message(store, enricher, key, bytes, limits, now, mode).await,
        Err(e) => Ingested::new(key, Outcome::Failed, Some(e.to_string())),
    }
}

/// Ingests a raw message whose bytes the caller holds (and has already kept in the store).
pub async fn ingest_message<S: Store>(
    store: &S,
    enricher: &Enricher,
    key: &RawKey,
    bytes: &[u8],
    limits: &Limits,
    now: i64,
    mode: WriteMode,
) -> Ingested {
    let intake = parse_input(bytes, limits);
    ingest_intake(store, enricher, key, bytes.len() as u64, intake, now, mode).await
}

/// Why an HTTPS upload is refused before it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadRefusal {
    /// Not one of the media types of RFC 8460 §5.4.
    MediaType(String),
    /// Larger than the upload bound; only the first `max` bytes were kept.
    TooLarge { max: u64 },
}

/// The media types a TLS report may be POSTed as (RFC 8460 §5.4), compared without case
/// or parameters; `None` when `content_type` is one of them.
pub fn refuse_tls_media_type(content_type: Option<&str>) -> Option<UploadRefusal> {
    let essence = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/tlsrpt+gzip" | "application/tlsrpt+json") => None,
        other => Some(UploadRefusal::MediaType(format!(
            "a TLS report is POSTed as application/tlsrpt+gzip or application/tlsrpt+json \
             (RFC 8460 section 5.4), not {}",
            other.unwrap_or("without a Content-Type")
        ))),
    }
}

/// Keeps an uploaded TLS report under `key`, then ingests it unless it was refused; a body
/// that holds anything but TLS reports is rejected. The bytes are kept in every case.
pub async fn ingest_tls_upload<S: Store>(
    store: &S,
    key: &RawKey,
    bytes: &[u8],
    refusal: Option<UploadRefusal>,
    limits: &Limits,
    now: i64,
) -> Ingested {
    if let Err(e) = store.put_raw(key, bytes).await {
        return Ingested::new(key, Outcome::Failed, Some(e.to_string()));
    }
    let ctx = Context {
        now,
        size: bytes.len() as u64,
        mail: None,
    };
    let reason = match refusal {
        Some(UploadRefusal::MediaType(why)) => Some(why),
        Some(UploadRefusal::TooLarge { max }) => Some(format!(
            "the upload is larger than {max} bytes; its first {max} bytes are kept"
        )),
        None => None,
    };
    if let Some(reason) = reason {
        return record(
            store,
            Ingested::new(key, Outcome::Rejected, Some(reason)),
            &ctx,
        )
        .await;
    }
    let intake = parse_input(bytes, limits);
    if let Some(other) = intake.reports.iter().find(|r| r.report.kind() != "tlsrpt") {
        let reason = format!(
            "expected a TLS report (RFC 8460), found a {} report",
            if other.report.kind() == "aggregate" {
                "DMARC aggregate"
            } else {
                other.report.kind()
            }
        );
        return record(
            store,
            Ingested::new(key, Outcome::Rejected, Some(reason)),
            &ctx,
        )
        .await;
    }
    // TLS reports name sending MTAs, not sources of mail as a domain: nothing to enrich.
    let enricher = Enricher::disabled();
    ingest_intake(
        store,
        &enricher,
        key,
        ctx.size,
        intake,
        now,
        WriteMode::Insert,
    )
    .await
}

/// Stores the reports of a parsed message and records its outcome.
async fn ingest_intake<S: Store>(
    store: &S,
    enricher: &Enricher,
    key: &RawKey,
    size: u64,
    intake: crate::Intake,
    now: i64,
    mode: WriteMode,
) -> Ingested {
    let mail = intake.message.clone();
    let ctx = Context {
        now,
        size,
        mail: mail.as_ref(),
    };
    if let Some(reason) = intake.rejection() {
        let done = Ingested::new(key, Outcome::Rejected, Some(reason));
        return record(store, done, &ctx).await;
    }

    let partial = (!intake.problems.is_empty()).then(|| {
        intake
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.origin, p.error))
            .collect::<Vec<_>>()
            .join("; ")
    });
    let mut done = Ingested::new(key, Outcome::Duplicate, partial);
    done.reports = intake.reports.iter().map(|p| p.id.clone()).collect();
    for mut parsed in intake.reports {
        if let Report::Aggregate(report) = &mut parsed.report {
            let done = enricher.enrich(store, report, now).await;
            if mode == WriteMode::Replace
                && done.unresolved > 0
                && let Ok(Some(previous)) = store.report(&parsed.id).await
                && let Report::Aggregate(previous) = &previous.report
            {
                enricher.carry_over(&mut report.sources, &previous.sources);
            }
            if done.unresolved > 0 && enricher.has_resolver() {
                tracing::info!(
                    key = %key,
                    addresses = done.addresses,
                    unresolved = done.unresolved,
                    "some source addresses have no reverse DNS yet; `rampart reprocess --enrich` fills them later"
                );
            }
        }
        let stored = StoredReport {
            id: parsed.id,
            message: key.clone(),
            received_at: now,
            mail: mail.clone(),
            origin: parsed.origin,
            report: parsed.report,
        };
        match store.put_report(&stored, mode).await {
            Ok(PutReport::Stored | PutReport::Replaced) => {
                done.stored += 1;
                done.records += stored.summary().records;
            }
            Ok(PutReport::Duplicate) => done.duplicates += 1,
            Err(e) => return failed(store, done, &ctx, &e).await,
        }
    }
    if done.stored > 0 {
        done.outcome = Outcome::Stored;
    }
    record(store, done, &ctx).await
}

/// Records the outcome and marks the raw object; a failure here turns into `Failed`.
async fn record<S: Store>(store: &S, done: Ingested, ctx: &Context<'_>) -> Ingested {
    let written = async {
        store.put_message(&message_record(&done, ctx)).await?;
        store.mark_raw(&done.key, done.outcome).await
    };
    match written.await {
        Ok(()) => done,
        Err(e) => failed(store, done, ctx, &e).await,
    }
}

/// Ends in `Failed` (keeping the ids of the reports found), recording that much if the store
/// still answers.
async fn failed<S: Store>(
    store: &S,
    done: Ingested,
    ctx: &Context<'_>,
    err: &StoreError,
) -> Ingested {
    tracing::warn!(key = %done.key, error = %err, "storing the message failed; it will be retried");
    let done = Ingested {
        outcome: Outcome::Failed,
        stored: 0,
        duplicates: 0,
        records: 0,
        reason: Some(err.to_string()),
        ..done
    };
    // Best effort: the store just failed, and the caller's retry is what matters.
    let _ = store.put_message(&message_record(&done, ctx)).await;
    done
}

fn message_record(done: &Ingested, ctx: &Context<'_>) -> MessageRecord {
    MessageRecord {
        key: done.key.clone(),
        outcome: done.outcome,
        reports: done.reports.clone(),
        stored: done.stored,
        duplicates: done.duplicates,
        reason: done.reason.clone(),
        processed_at: ctx.now,
        size: ctx.size,
        from: ctx.mail.and_then(|m| m.from.clone()),
        subject: ctx.mail.and_then(|m| m.subject.clone()),
    }
}
