//! The ingest function: S3 `ObjectCreated` notifications in, one recorded outcome per object.
//!
//! Notifications arrive directly from S3 or, in the intended wiring (SES → S3 → SQS →
//! Lambda), inside SQS messages. Each object is read, parsed and stored by
//! [`rampart_ingest`]. Rejected objects (content that can never parse) are a success here:
//! their outcome and reason are recorded and the object is tagged, never deleted. Failed
//! objects (storage throttled or down) make AWS retry: an SQS message is listed in the
//! partial batch response, a direct invocation returns an error, and the dead-letter queue
//! gets what keeps failing.
//!
//! An invocation watches its deadline: reverse DNS has one budget for the whole invocation,
//! and an object is not started once too little time is left; it is reported as a batch
//! failure (or fails the direct event) and the retry ingests it.
//!
//! On an EventBridge schedule ([`is_schedule`]) it ingests the messages held for domains
//! registered since they arrived, and publishes the MTA-STS policy ids that are due in the
//! deployment's Route 53 zone: the one AWS job that writes DNS. It also runs the DNS
//! health checks that are due, evaluates alerts and sends the weekly digests.
//!
//! SES's bounces and complaints for the alert mails arrive as EventBridge events
//! ([`is_sending_event`]); [`sending_event`] suppresses the addresses they refuse.
//!
//! The crate's second binary, the mailbox function, reads owners' mailboxes into the bucket
//! on its own schedule ([`mailboxes`]).

pub mod mailboxes;

use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::SqsEvent;
use rampart_alerts::send::Mailer;
use rampart_checks::Checker;
use rampart_ingest::metrics::IngestCounts;
use rampart_ingest::objects::Batch;
pub use rampart_ingest::objects::{ObjectOutcome, Objects as Deps, RESERVE};
use rampart_mta_sts::{DnsZone, Timing, settle_all};
use rampart_query::alerting::{self, FeedbackRun, Outbox};
use rampart_query::checks::run_due;
use rampart_query::digest;
use rampart_query::domains::Endpoints;
use rampart_store::{Outcome, Store};
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;

/// Everything one invocation did.
#[derive(Debug, Default)]
pub struct Handled {
    pub objects: Vec<ObjectOutcome>,
    pub counts: IngestCounts,
    /// For an SQS event: the message ids to retry (an empty list acknowledges the batch).
    pub batch_failures: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("not an S3 or SQS event: {0}")]
    UnsupportedEvent(String),
    #[error("{} object(s) failed and will be retried: {}", .0.len(), .0.join(", "))]
    Retry(Vec<String>),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        // Stable types, so CloudWatch filters and alarms can match them.
        let error_type = match e {
            HandlerError::UnsupportedEvent(_) => "UnsupportedEvent",
            HandlerError::Retry(_) => "Retryable",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

impl Handled {
    /// The function's answer: the SQS partial batch response, or for a direct S3 event the
    /// outcomes, unless an object failed, which becomes an error so Lambda retries the event.
    pub fn into_response(self) -> Result<Value, HandlerError> {
        if let Some(failures) = self.batch_failures {
            // The SQS partial batch response (Lambda's ReportBatchItemFailures).
            let failures: Vec<Value> = failures
                .into_iter()
                .map(|id| serde_json::json!({ "itemIdentifier": id }))
                .collect();
            return Ok(serde_json::json!({ "batchItemFailures": failures }));
        }
        let failed: Vec<String> = self
            .objects
            .iter()
            .filter(|o| o.outcome == Outcome::Failed)
            .map(|o| o.key.clone())
            .collect();
        if failed.is_empty() {
            Ok(serde_json::json!({ "objects": self.objects }))
        } else {
            Err(HandlerError::Retry(failed))
        }
    }
}

/// Handles one invocation. `now` is the time to record, epoch seconds; `deadline` is when
/// the invocation times out.
pub async fn handle<S: Store>(
    event: Value,
    deps: &Deps<S>,
    now: i64,
    deadline: Option<Instant>,
) -> Result<Handled, HandlerError> {
    let source = event["Records"][0]["eventSource"].as_str().unwrap_or("");
    let mut handled = Handled::default();
    let run = Run {
        batch: deps.batch(now, deadline),
    };
    match source {
        "aws:sqs" => {
            let sqs: SqsEvent = serde_json::from_value(event)
                .map_err(|e| HandlerError::UnsupportedEvent(e.to_string()))?;
            let mut failures = Vec::new();
            for message in sqs.records {
                let id = message.message_id.clone().unwrap_or_default();
                if run.batch.out_of_time() {
                    tracing::warn!(message_id = %id, "not started: the invocation is about to time out; SQS delivers it again");
                    failures.push(id);
                    continue;
                }
                let span = tracing::info_span!("sqs_message", message_id = %id);
                let body = message.body.as_deref().unwrap_or("");
                let ok = match serde_json::from_str::<Value>(body) {
                    Ok(inner) => {
                        run.s3_notification(inner, &mut handled)
                            .instrument(span)
                            .await
                    }
                    Err(e) => {
                        span.in_scope(|| {
                            tracing::error!(error = %e, "SQS message body is not JSON; leaving it to the dead-letter queue")
                        });
                        false
                    }
                };
                if !ok {
                    failures.push(id);
                }
            }
            handled.batch_failures = Some(failures);
        }
        "aws:s3" => {
            run.s3_notification(event, &mut handled).await;
        }
        _ if is_test_event(&event) => {}
        other => {
            return Err(HandlerError::UnsupportedEvent(format!(
                "eventSource {other:?}"
            )));
        }
    }
    Ok(handled)
}

/// An EventBridge schedule: the function then publishes due MTA-STS policy ids
/// ([`rampart_mta_sts::settle_all`]) instead of ingesting.
pub fn is_schedule(event: &Value) -> bool {
    event["source"] == "aws.events" && event["detail-type"] == "Scheduled Event"
}

/// An SES sending event (`Email Bounced`, `Email Complaint Received`) of the alerts'
/// configuration set, as EventBridge delivers it.
pub fn is_sending_event(event: &Value) -> bool {
    event["source"] == "aws.ses"
}

/// Suppresses what an SES sending event refuses; events of another configuration set than
/// `configuration_set` (when there is one) are ignored.
pub async fn sending_event<S: Store>(
    store: &S,
    event: &Value,
    configuration_set: Option<&str>,
    now: i64,
) -> Result<FeedbackRun, rampart_store::StoreError> {
    let feedback = rampart_alerts::feedback::read(&event["detail"], configuration_set);
    let run = alerting::record_feedback(store, feedback, now).await?;
    // Counts only: the addresses are people's.
    tracing::info!(
        suppressed = run.suppressed,
        skipped = run.skipped,
        ignored = run.ignored.as_deref(),
        "SES sending event"
    );
    Ok(run)
}

/// S3 sends `s3:TestEvent` once when a notification is configured; it names no object.
fn is_test_event(event: &Value) -> bool {
    event["Event"] == "s3:TestEvent"
}

/// One invocation's ingest.
struct Run<'a, S> {
    batch: Batch<'a, S>,
}

impl<S: Store> Run<'_, S> {
    /// Processes one S3 notification; false if it could not be read or an object failed.
    async fn s3_notification(&self, event: Value, handled: &mut Handled) -> bool {
        if is_test_event(&event) {
            return true;
        }
        let s3: S3Event = match serde_json::from_value(event) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "not an S3 notification");
                return false;
            }
        };
        let mut ok = true;
        for record in s3.records {
            let created = record
                .event_name
                .as_deref()
                .is_some_and(|n| n.starts_with("ObjectCreated:"));
            if !created {
                continue;
            }
            let bucket = record.s3.bucket.name.unwrap_or_default();
            let key = decode_key(record.s3.object.key.as_deref().unwrap_or(""));
            let span = tracing::info_span!("object", %bucket, %key);
            // Boxed: the future of one object nests the whole SDK call chain, deep enough to
            // hit rustc's type-layout depth limit once more futures wrap it.
            let outcome = Box::pin(self.batch.object(bucket, key, &mut handled.counts))
                .instrument(span)
                .await;
            ok &= outcome.outcome != Outcome::Failed;
            handled.objects.push(outcome);
        }
        ok
    }
}

/// The DNS health checks of the scheduled run, and what they expect of each domain.
pub struct ScheduledChecks<'a> {
    pub checker: &'a Checker,
    pub endpoints: &'a Endpoints,
}

/// How the scheduled run tells owners: the outbox (SES on AWS) and Rampart's own report
/// address (the digests' next step names it).
pub struct ScheduledAlerts<'a, M> {
    pub outbox: &'a Outbox<M>,
    pub inbound: &'a str,
}

/// The scheduled run: ingests the messages held for domains registered since they arrived;
/// with a zone, publishes the MTA-STS policy ids that are due; with checks, checks the
/// domains whose policy changed and those not checked for a day; then evaluates the alerts
/// that are due and sends the week's digests. Each part stops in time.
pub async fn scheduled<S: Store, Z: DnsZone, M: Mailer>(
    deps: &Deps<S>,
    zone: Option<&Z>,
    checks: Option<ScheduledChecks<'_>>,
    alerts: &ScheduledAlerts<'_, M>,
    timing: Timing,
    now: i64,
    deadline: Option<Instant>,
) -> Result<Value, rampart_store::StoreError> {
    let released = deps.release_held(now, deadline).await?;
    let settled = match zone {
        Some(zone) => Some(settle_all(&deps.store, zone, now, timing).await?),
        None => None,
    };
    let checked = match checks {
        Some(c) => Some(run_due(&deps.store, c.checker, c.endpoints, now).await?),
        None => None,
    };
    let evaluated = alerting::run_due(&deps.store, alerts.outbox, now).await?;
    let digests = digest::send_digests(&deps.store, alerts.outbox, alerts.inbound, now).await?;
    Ok(serde_json::json!({
        "released": released,
        "policy_ids_changed": settled.as_ref().map(|s| s.changed),
        "policy_ids_failed": settled.map(|s| s.failed),
        "domains_checked": checked.as_ref().map(|c| &c.checked),
        "checks_failed": checked.as_ref().map(|c| &c.failed),
        "alerts_evaluated": evaluated.evaluated,
        "alerts_failed": evaluated.failed,
        "digests_sent": digests.sent,
        "digests_failed": digests.failed,
    }))
}

/// S3 notification keys are URL-form-encoded: `+` is a space and `%2B` a plus.
pub fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The invocation's deadline (epoch milliseconds in the context) as an instant.
pub fn deadline_of(context: &lambda_runtime::Context) -> Option<tokio::time::Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left = u128::from(context.deadline).saturating_sub(now_ms);
    let left = u64::try_from(left).unwrap_or(u64::MAX);
    tokio::time::Instant::now().checked_add(std::time::Duration::from_millis(left))
}
