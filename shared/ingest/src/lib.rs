//! Ingest: one raw message in, its reports stored, exactly one recorded outcome out.
//!
//! The same steps run in the Lambda function, in `rampart ingest`, `rampart serve` and
//! `rampart reprocess`: parse with [`intake`](rampart_formats::intake), decide which reports may be
//! counted, write each of those idempotently, then record the message's [`Outcome`] and mark
//! the raw object. A storage error ends in [`Outcome::Failed`], which the caller retries;
//! since every write is idempotent, the retry finishes the job without counting anything
//! twice.
//!
//! Anyone can mail the inbound address, so a report is counted only when it is plausible and
//! its domain is accepted:
//! - a period that begins more than [`MAX_DAYS_AHEAD`] days from now is not counted (the
//!   message ends `rejected`, its raw bytes kept: `rampart reprocess` takes it later);
//! - under [`Accept::Registered`], a report for a domain nobody registered is not stored: the
//!   message ends `held`, raw, and registering the domain ingests it ([`Ingest::release_held`]).

pub mod metrics;
pub mod objects;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tokio::time::Instant;

use rampart_formats::IntakeError;
use rampart_formats::identity::ReportId;
use rampart_formats::intake::{Intake, Report, parse_input, parse_upload};
use rampart_formats::limits::{LimitKind, Limits};
use rampart_formats::mail::MessageFacts;
use rampart_sources::{Enricher, Sources};
use rampart_store::{
    MessageRecord, Outcome, PutReport, RawKey, RawRead, Store, StoreError, StoredReport, WriteMode,
};

/// A report period beginning more than this many days after now is not counted.
pub const MAX_DAYS_AHEAD: i64 = 2;

/// Whose reports a deployment counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accept {
    /// Every domain's: a report for a new domain creates it (`rampart serve`'s default, so
    /// the bundled samples show).
    #[default]
    Any,
    /// Registered domains' only; mail for any other is held, uploads are refused (the
    /// deployment template's default).
    Registered,
}

impl Accept {
    pub fn parse(text: &str) -> Option<Accept> {
        match text.trim() {
            "any" => Some(Accept::Any),
            "registered" => Some(Accept::Registered),
            _ => None,
        }
    }

    /// `RAMPART_ACCEPT` (`any` or `registered`); `default` when unset.
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
        default: Accept,
    ) -> Result<Accept, String> {
        match var("RAMPART_ACCEPT") {
            None => Ok(default),
            Some(v) => Accept::parse(&v)
                .ok_or_else(|| format!("RAMPART_ACCEPT is {v:?}; use any or registered")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Accept::Any => "any",
            Accept::Registered => "registered",
        }
    }
}

/// What happened to one raw message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ingested {
    pub key: RawKey,
    pub outcome: Outcome,
    /// Every report found in the message; all are in the store unless it failed or they
    /// were held or not counted.
    pub reports: Vec<ReportId>,
    /// Of those, how many were new (or replaced, when reprocessing).
    pub stored: u32,
    /// Of those, how many were already stored.
    pub duplicates: u32,
    /// Records (TLS-RPT: policies) in the reports stored this time.
    pub records: u64,
    /// Why it was rejected, held or failed; for a stored message, the parts that gave no
    /// report or were not counted.
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

/// Why an HTTPS upload is refused. A refused upload is not kept: the sender gets the reason,
/// the operator a count and a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadRefusal {
    /// Not one of the media types of RFC 8460 §5.4.
    MediaType(String),
    /// Larger than the upload bound.
    TooLarge { max: u64 },
    /// Not a TLS report (something else, or nothing readable).
    NotAReport(String),
    /// For a domain that is not registered, under [`Accept::Registered`].
    UnregisteredDomain(String),
    /// A period that begins too far in the future to be a report.
    ImplausiblePeriod(String),
}

impl UploadRefusal {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            UploadRefusal::MediaType(_) => "unsupported_media_type",
            UploadRefusal::TooLarge { .. } => "too_large",
            UploadRefusal::NotAReport(_) => "unreadable_report",
            UploadRefusal::UnregisteredDomain(_) => "unregistered_domain",
            UploadRefusal::ImplausiblePeriod(_) => "implausible_period",
        }
    }
}

impl std::fmt::Display for UploadRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadRefusal::MediaType(why)
            | UploadRefusal::NotAReport(why)
            | UploadRefusal::ImplausiblePeriod(why) => f.write_str(why),
            UploadRefusal::TooLarge { max } => write!(f, "the upload is larger than {max} bytes"),
            UploadRefusal::UnregisteredDomain(domain) => write!(
                f,
                "{domain} is not registered here; TLS reports are taken for registered domains only"
            ),
        }
    }
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

/// What one release of held messages did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Released {
    /// Held messages ingested again, by how they ended.
    pub outcomes: BTreeMap<&'static str, u32>,
    /// Domains whose held messages are all ingested now.
    pub domains: Vec<String>,
}

/// How ingest runs: what it writes to, what it adds to reports, its bounds, whose reports it
/// counts, and how it treats a report stored already.
pub struct Ingest<'a, S> {
    pub store: &'a S,
    pub enricher: &'a Enricher,
    pub limits: Limits,
    pub accept: Accept,
    pub mode: WriteMode,
    /// When every reverse DNS lookup of this run stops (one budget per Lambda invocation or
    /// command, not per report); the enricher's own budget applies within it.
    pub dns_deadline: Option<Instant>,
}

impl<'a, S: Store> Ingest<'a, S> {
    /// New mail into `store`: default limits, every domain accepted, duplicates kept as
    /// they were.
    pub fn new(store: &'a S, enricher: &'a Enricher) -> Self {
        Ingest {
            store,
            enricher,
            limits: Limits::default(),
            accept: Accept::Any,
            mode: WriteMode::Insert,
            dns_deadline: None,
        }
    }

    pub fn accept(self, accept: Accept) -> Self {
        Ingest { accept, ..self }
    }

    pub fn mode(self, mode: WriteMode) -> Self {
        Ingest { mode, ..self }
    }

    pub fn limits(self, limits: Limits) -> Self {
        Ingest { limits, ..self }
    }

    pub fn dns_deadline(self, dns_deadline: Option<Instant>) -> Self {
        Ingest {
            dns_deadline,
            ..self
        }
    }

    /// Reads a raw message from the store and ingests it.
    pub async fn stored(&self, key: &RawKey, now: i64) -> Ingested {
        match self.store.get_raw(key, self.limits.max_input_bytes).await {
            Ok(RawRead::Bytes(bytes)) => self.message(key, &bytes, now).await,
            Ok(RawRead::TooLarge { size }) => {
                let reason = IntakeError::LimitExceeded {
                    limit: LimitKind::InputBytes,
                    max: self.limits.max_input_bytes,
                };
                let done = Ingested::new(key, Outcome::Rejected, Some(reason.to_string()));
                self.record(done, &Context::bare(now, size)).await
            }
            // Nothing to keep and nothing to read: the object was removed after its notification.
            Ok(RawRead::Missing) => Ingested::new(
                key,
                Outcome::Rejected,
                Some("the raw message no longer exists".to_owned()),
            ),
            Err(e) => {
                let done = Ingested::new(key, Outcome::Failed, None);
                self.failed(done, &Context::bare(now, 0), &e).await
            }
        }
    }

    /// Keeps a new raw message's bytes under `key`, then ingests it. When the bytes cannot be
    /// kept the message fails (retryable) and nothing else is written.
    pub async fn keep(&self, key: &RawKey, bytes: &[u8], now: i64) -> Ingested {
        match self.store.put_raw(key, bytes).await {
            Ok(()) => self.message(key, bytes, now).await,
            Err(e) => Ingested::new(key, Outcome::Failed, Some(e.to_string())),
        }
    }

    /// Ingests a raw message whose bytes the caller holds (and has already kept in the store).
    pub async fn message(&self, key: &RawKey, bytes: &[u8], now: i64) -> Ingested {
        let intake = parse_input(bytes, &self.limits);
        self.intake(key, bytes.len() as u64, intake, now).await
    }

    /// A TLS report uploaded over HTTPS (RFC 8460 §5.4), under `key`: kept and ingested when
    /// it is one, for an accepted domain, with a plausible period; refused and not kept
    /// otherwise. `refusal` is what the caller found already (media type, size).
    pub async fn tls_upload(
        &self,
        key: &RawKey,
        bytes: &[u8],
        refusal: Option<UploadRefusal>,
        now: i64,
    ) -> Result<Ingested, UploadRefusal> {
        if let Some(refusal) = refusal {
            return Err(refusal);
        }
        let intake = parse_upload(bytes, &self.limits);
        if let Some(reason) = intake.rejection() {
            return Err(UploadRefusal::NotAReport(reason));
        }
        if let Some(other) = intake.reports.iter().find(|r| r.report.kind() != "tlsrpt") {
            return Err(UploadRefusal::NotAReport(format!(
                "expected a TLS report (RFC 8460), found a {} report",
                if other.report.kind() == "aggregate" {
                    "DMARC aggregate"
                } else {
                    other.report.kind()
                }
            )));
        }
        for parsed in &intake.reports {
            if let Some(why) = implausible(&parsed.report, now) {
                return Err(UploadRefusal::ImplausiblePeriod(why));
            }
            let domain = parsed.report.domain();
            if self.accept == Accept::Registered && !self.registered(&domain).await {
                return Err(UploadRefusal::UnregisteredDomain(if domain.is_empty() {
                    "a report naming no policy domain".to_owned()
                } else {
                    domain
                }));
            }
        }
        if let Err(e) = self.store.put_raw(key, bytes).await {
            return Ok(Ingested::new(key, Outcome::Failed, Some(e.to_string())));
        }
        // TLS reports name sending MTAs, not sources of mail as a domain: nothing to enrich.
        let plain = Enricher::disabled();
        let ingest = Ingest {
            enricher: &plain,
            mode: WriteMode::Insert,
            ..*self
        };
        Ok(ingest.intake(key, bytes.len() as u64, intake, now).await)
    }

    /// Ingests the messages held for every domain registered since they arrived, until
    /// `until` (then the rest waits for the next call). A message that fails stays held.
    pub async fn release_held(
        &self,
        now: i64,
        until: Option<Instant>,
    ) -> Result<Released, StoreError> {
        let mut released = Released::default();
        let out_of_time = || until.is_some_and(|u| Instant::now() >= u);
        for domain in self.store.releases().await? {
            // Unregistered again meanwhile: its messages stay held until the next registration.
            if !self.registered(&domain).await {
                self.store.release_done(&domain).await?;
                continue;
            }
            let mut seen = BTreeSet::new();
            loop {
                if out_of_time() {
                    return Ok(released);
                }
                let keys: Vec<RawKey> = self
                    .store
                    .held(&domain, 25)
                    .await?
                    .into_iter()
                    .filter(|k| !seen.contains(k))
                    .collect();
                if keys.is_empty() {
                    self.store.release_done(&domain).await?;
                    released.domains.push(domain);
                    break;
                }
                for key in keys {
                    if out_of_time() {
                        return Ok(released);
                    }
                    // Off the list first: ingesting holds it again if it has to.
                    self.store.unhold(&domain, &key).await?;
                    let done = self.stored(&key, now).await;
                    if done.outcome == Outcome::Failed {
                        self.store.hold(&domain, &key, now).await?;
                    }
                    *released.outcomes.entry(done.outcome.as_str()).or_insert(0) += 1;
                    seen.insert(key);
                }
            }
        }
        Ok(released)
    }

    async fn registered(&self, domain: &str) -> bool {
        !domain.is_empty()
            && matches!(self.store.domain(domain).await, Ok(Some(d)) if d.registered_at.is_some())
    }

    /// Stores the reports of a parsed message and records its outcome.
    async fn intake(&self, key: &RawKey, size: u64, intake: Intake, now: i64) -> Ingested {
        let mail = intake.message.clone();
        let ctx = Context {
            now,
            size,
            mail: mail.as_ref(),
        };
        if let Some(reason) = intake.rejection() {
            let done = Ingested::new(key, Outcome::Rejected, Some(reason));
            return self.record(done, &ctx).await;
        }
        let mut notes: Vec<String> = intake
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.origin, p.error))
            .collect();
        let mut done = Ingested::new(key, Outcome::Duplicate, None);
        done.reports = intake.reports.iter().map(|p| p.id.clone()).collect();
        let mut held: BTreeSet<String> = BTreeSet::new();
        let mut registered: BTreeMap<String, bool> = BTreeMap::new();
        let mut not_counted = 0;
        for parsed in intake.reports {
            if let Some(why) = implausible(&parsed.report, now) {
                notes.push(format!("{}: {why}", parsed.origin));
                not_counted += 1;
                continue;
            }
            let domain = parsed.report.domain();
            if self.accept == Accept::Registered {
                if domain.is_empty() {
                    notes.push(format!(
                        "{}: the report names no policy domain, and only registered domains are counted",
                        parsed.origin
                    ));
                    not_counted += 1;
                    continue;
                }
                let ok = match registered.get(&domain) {
                    Some(ok) => *ok,
                    None => {
                        let ok = match self.store.domain(&domain).await {
                            Ok(d) => d.is_some_and(|d| d.registered_at.is_some()),
                            Err(e) => return self.failed(done, &ctx, &e).await,
                        };
                        registered.insert(domain.clone(), ok);
                        ok
                    }
                };
                if !ok {
                    held.insert(domain);
                    continue;
                }
            }
            let mut stored = StoredReport {
                id: parsed.id,
                message: key.clone(),
                received_at: now,
                mail: mail.clone(),
                origin: parsed.origin,
                report: parsed.report,
                sources: Default::default(),
            };
            // A second copy (another `rua`, a redelivery) is known before it is enriched.
            if self.mode == WriteMode::Insert {
                match self.store.is_stored(&stored).await {
                    Ok(true) => {
                        done.duplicates += 1;
                        continue;
                    }
                    Ok(false) => {}
                    Err(e) => return self.failed(done, &ctx, &e).await,
                }
            }
            if let Report::Aggregate(report) = &stored.report {
                stored.sources = self.enrich(key, &stored.id, report, now).await;
            }
            match self.store.put_report(&stored, self.mode).await {
                Ok(PutReport::Stored | PutReport::Replaced) => {
                    done.stored += 1;
                    done.records = done.records.saturating_add(stored.summary().records);
                    // The count rules judge the domain at the next scheduled run; if the
                    // request is lost, the hourly sweep judges it anyway.
                    if let Err(e) = self.store.request_alerts(&stored.domain()).await {
                        tracing::warn!(error = %e, "could not ask for the domain's alerts");
                    }
                }
                Ok(PutReport::Duplicate) => done.duplicates += 1,
                Err(e) => return self.failed(done, &ctx, &e).await,
            }
        }
        for domain in &held {
            if let Err(e) = self.store.hold(domain, key, now).await {
                return self.failed(done, &ctx, &e).await;
            }
            // Registered while this message was read: the release that registration asked
            // for may have run already, so ask again.
            if self.registered(domain).await
                && let Err(e) = self.store.request_release(domain).await
            {
                return self.failed(done, &ctx, &e).await;
            }
        }
        if !held.is_empty() {
            let names: Vec<&str> = held.iter().map(String::as_str).collect();
            notes.push(format!(
                "held: {} not registered; registering ingests this message",
                names.join(", ")
            ));
        }
        done.outcome = if done.stored > 0 {
            Outcome::Stored
        } else if !held.is_empty() {
            Outcome::Held
        } else if done.duplicates > 0 {
            Outcome::Duplicate
        } else if not_counted > 0 {
            Outcome::Rejected
        } else {
            Outcome::Duplicate
        };
        done.reason = (!notes.is_empty()).then(|| rampart_formats::intake::joined_reasons(&notes));
        self.record(done, &ctx).await
    }

    /// What is known of the report's source addresses. On a replace, an address the
    /// resolver did not answer this time keeps the name stored before.
    async fn enrich(
        &self,
        key: &RawKey,
        id: &ReportId,
        report: &rampart_formats::AggregateReport,
        now: i64,
    ) -> Sources {
        let (mut sources, enriched) = self
            .enricher
            .enrich(self.store, report, now, self.dns_deadline)
            .await;
        if self.mode == WriteMode::Replace
            && enriched.unresolved > 0
            && let Ok(Some(previous)) = self.store.report(id).await
        {
            self.enricher.carry_over(&mut sources, &previous.sources);
        }
        if enriched.unresolved > 0 && self.enricher.has_resolver() {
            tracing::info!(
                key = %key,
                addresses = enriched.addresses,
                unresolved = enriched.unresolved,
                "some source addresses have no reverse DNS yet; `rampart reprocess --enrich` fills them later"
            );
        }
        sources
    }

    /// Records the outcome and marks the raw object; a failure here turns into `Failed`.
    async fn record(&self, done: Ingested, ctx: &Context<'_>) -> Ingested {
        let written = async {
            self.store.put_message(&message_record(&done, ctx)).await?;
            self.store.mark_raw(&done.key, done.outcome).await
        };
        match written.await {
            Ok(()) => done,
            Err(e) => self.failed(done, ctx, &e).await,
        }
    }

    /// Ends in `Failed` (keeping the ids of the reports found), recording that much if the
    /// store still answers.
    async fn failed(&self, done: Ingested, ctx: &Context<'_>, err: &StoreError) -> Ingested {
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
        let _ = self.store.put_message(&message_record(&done, ctx)).await;
        done
    }
}

/// Why a report's period cannot be counted yet, if it cannot.
fn implausible(report: &Report, now: i64) -> Option<String> {
    let begin = match report {
        Report::Aggregate(r) => r.metadata.begin,
        Report::Tls(r) => r.start,
    }?;
    let limit = now.saturating_add(MAX_DAYS_AHEAD * 86_400);
    (begin > limit).then(|| {
        let shown = chrono::DateTime::from_timestamp(begin, 0).map_or_else(
            || begin.to_string(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        );
        format!(
            "the report period begins {shown}, more than {MAX_DAYS_AHEAD} days from now, so \
             it is not counted; `rampart reprocess` takes it once that is plausible"
        )
    })
}

/// Facts about the message that go into its record beside the outcome.
struct Context<'a> {
    now: i64,
    size: u64,
    mail: Option<&'a MessageFacts>,
}

impl Context<'_> {
    fn bare(now: i64, size: u64) -> Self {
        Context {
            now,
            size,
            mail: None,
        }
    }
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
