//! The mailbox function's scheduled run: each mailbox source that is due is read once, its
//! secret taken from Secrets Manager, and each mail written under the raw prefix SES writes
//! to, where the bucket's notification brings it to the ingest function like any mail SES
//! received. Outcomes therefore show on the ingest side; here a mail is `queued`.

use rampart_mailbox::imap::Limits;
use rampart_mailbox::intake::{self, Network, Ran, RawSink, Reach};
use rampart_mailbox::secrets::Secrets;
use rampart_mailbox::source::{Run, Source};
use rampart_store::{Store, StoreError};
use serde::Serialize;
use tokio::time::Instant;

/// A source is read again once its last run started this long ago: the schedule's five
/// minutes, less a margin for the schedule's own drift.
pub const INTERVAL_SECONDS: i64 = 4 * 60 + 30;
/// No source is started this close to the deadline: a run of [`Limits::default`] may take it.
const START_BEFORE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// How each source's network access is set up, once per function instance.
pub struct MailboxDeps<'a, S, X> {
    pub store: &'a S,
    pub secrets: &'a X,
    /// The SES receipt rule's object prefix (`inbound/`).
    pub raw_prefix: &'a str,
    /// Public servers only (see [`rampart_mailbox::Addresses`]).
    pub network: Network,
    pub limits: Limits,
}

/// What the scheduled run did, per source.
#[derive(Debug, Default, Serialize)]
pub struct MailboxesRun {
    pub ran: Vec<(String, Run)>,
    /// Not due, paused, busy, or left for the next run by the deadline.
    pub skipped: Vec<(String, &'static str)>,
}

pub async fn run_due<S: Store, X: Secrets>(
    deps: &MailboxDeps<'_, S, X>,
    now: impl Fn() -> i64 + Copy,
    deadline: Option<Instant>,
) -> Result<MailboxesRun, StoreError> {
    let mut out = MailboxesRun::default();
    for source in intake::sources(deps.store).await? {
        let id = source.id.clone();
        if let Some(why) = not_due(&source, now()) {
            out.skipped.push((id, why));
            continue;
        }
        if deadline.is_some_and(|d| Instant::now() + START_BEFORE_DEADLINE > d) {
            out.skipped.push((id, "deadline"));
            continue;
        }
        let password = match deps.secrets.secret(&id).await {
            Ok(Some(secret)) => secret,
            Ok(None) => {
                let run = failed(now(), format!("no secret is stored for mailbox {id}"));
                intake::record(deps.store, &id, run.clone()).await?;
                out.ran.push((id, run));
                continue;
            }
            Err(e) => {
                let run = failed(now(), e.to_string());
                intake::record(deps.store, &id, run.clone()).await?;
                out.ran.push((id, run));
                continue;
            }
        };
        let reach = Reach {
            password,
            network: deps.network.clone(),
            limits: deps.limits,
        };
        let sink = RawSink {
            store: deps.store,
            raw_prefix: format!("{}mailbox/{id}/", deps.raw_prefix),
        };
        match intake::run(deps.store, &sink, &id, &reach, now).await? {
            Ran::Done(run) => {
                if let Some(error) = &run.error {
                    tracing::warn!(mailbox = id, "the run stopped: {error}");
                }
                out.ran.push((id, run));
            }
            Ran::Paused => out.skipped.push((id, "paused")),
            Ran::Busy => out.skipped.push((id, "busy")),
            Ran::Missing => out.skipped.push((id, "removed")),
        }
    }
    Ok(out)
}

fn not_due(source: &Source, now: i64) -> Option<&'static str> {
    if source.paused {
        return Some("paused");
    }
    match &source.last_run {
        Some(run) if run.left == 0 && now - run.started_at < INTERVAL_SECONDS => Some("not due"),
        _ => None,
    }
}

fn failed(at: i64, error: String) -> Run {
    Run {
        started_at: at,
        ended_at: at,
        error: Some(rampart_mailbox::source::error_text(&error)),
        ..Run::default()
    }
}
