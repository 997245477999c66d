//! The weekly digests: one per domain whose settings ask for it, and one of all domains for
//! the all-domains recipients, sent at the first scheduled run from Monday 08:00 UTC for the
//! week (Monday to Sunday) before. Every number comes from the same query the API answers
//! for that week (`summary`, `sources`, `tls`), so the mail and the dashboard agree. A week
//! without reports is sent too, and says so.

use chrono::{Datelike, Days, NaiveDate, Timelike};
use rampart_alerts::digest::{
    AlertLine, Digest, DomainLine, SourceLine, Standing, Volume, next_step,
};
use rampart_alerts::send::Mailer;
use rampart_alerts::state::Status;
use rampart_store::{ALL_DOMAINS, AlertStore, Store, StoreError, every_domain};
use serde::Serialize;

use crate::aggregate::{Summary, summary};
use crate::alerting::{Content, Outbox, mail_each, settings, stored_alerts, week_start};
use crate::listing::tls;
use crate::request::{RangeQuery, SourcesQuery, TlsQuery, from_pairs};
use crate::sources::{SourcesView, sources};
use crate::{QueryError, known_domain};

/// The hour (UTC, Monday) from which the week's digests go out.
pub const SEND_HOUR: u32 = 8;
/// The claim that lets one scheduled run look for digests to send.
pub const LOOK_KEY: &str = "digests-look";
/// How long a look holds (the schedule runs every minute).
const LOOK_EVERY: i64 = 3600;
/// Sources listed per classification.
const PER_CLASS: usize = rampart_alerts::digest::SOURCES_PER_CLASS;
const CLASSES: [&str; 4] = ["compliant", "forwarded", "misconfigured", "suspicious"];

/// What one run sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DigestRun {
    /// Scopes (`*` for all domains) whose digest went out.
    pub sent: Vec<String>,
    pub failed: Vec<(String, String)>,
}

fn range(from: NaiveDate, to: NaiveDate) -> Vec<(String, String)> {
    vec![
        ("from".into(), from.to_string()),
        ("to".into(), to.to_string()),
    ]
}

fn volume(s: &Summary) -> Volume {
    let d = |k: &str| s.dispositions.get(k).copied().unwrap_or(0).max(0) as u64;
    Volume {
        messages: s.messages.max(0) as u64,
        dmarc_pass: s.dmarc_pass.max(0) as u64,
        quarantined: d("quarantine"),
        rejected: d("reject"),
        reports: s.reports.max(0) as u64,
    }
}

async fn week_summary<S: Store>(
    store: &S,
    domain: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Summary, QueryError> {
    summary(
        store,
        domain,
        from_pairs::<RangeQuery>(range(from, to))?,
        to,
    )
    .await
}

async fn week_sources<S: Store>(
    store: &S,
    domain: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<SourcesView, QueryError> {
    let mut pairs = range(from, to);
    pairs.push(("limit".into(), "1000".into()));
    sources(store, domain, from_pairs::<SourcesQuery>(pairs)?, to).await
}

/// The classification most of a row's messages have.
fn dominant(row: &crate::sources::SourceRow) -> &'static str {
    row.classifications
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(c, _)| *c)
        .unwrap_or("suspicious")
}

fn row_name(row: &crate::sources::SourceRow) -> String {
    row.service
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_else(|| "Sources of no known service".into())
}

/// One domain's digest for the week `from`..`to`.
pub async fn domain_digest<S: Store>(
    store: &S,
    domain: &str,
    from: NaiveDate,
    to: NaiveDate,
    dashboard: Option<&str>,
    inbound: &str,
) -> Result<Digest, QueryError> {
    let entry = known_domain(store, domain).await?;
    let domain = entry.name.as_str();
    let back = |d: NaiveDate, n: u64| d.checked_sub_days(Days::new(n)).unwrap_or(d);
    let week = week_summary(store, domain, from, to).await?;
    let previous = week_summary(store, domain, back(from, 7), back(to, 7)).await?;
    let before = week_summary(store, domain, back(from, 35), back(from, 1)).await?;
    let view = week_sources(store, domain, from, to).await?;
    let earlier = week_sources(store, domain, back(from, 84), back(from, 1)).await?;
    let mut lines = Vec::new();
    for class in CLASSES {
        lines.extend(
            view.sources
                .iter()
                .filter(|r| dominant(r) == class)
                .take(PER_CLASS)
                .map(|r| SourceLine {
                    classification: class.to_owned(),
                    name: row_name(r),
                    messages: r.messages,
                    dmarc_pass: r.dmarc_pass,
                    new: !earlier.sources.iter().any(|e| e.key == r.key),
                }),
        );
    }
    let tls_failures = if week.tls.failed_sessions > 0 {
        let mut pairs = range(from, to);
        pairs.push(("limit".into(), "1".into()));
        tls(store, domain, from_pairs::<TlsQuery>(pairs)?, to)
            .await?
            .by_result_type
            .into_iter()
            .map(|g| {
                (
                    g.value.unwrap_or_else(|| "unknown".into()),
                    g.failed_sessions,
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let alerts = stored_alerts(store, domain)
        .await?
        .into_iter()
        .filter(|a| a.status == Status::Open || a.resolved_at.is_some_and(|t| t >= day_start(from)))
        .map(|a| AlertLine {
            severity: a.severity.as_str().to_owned(),
            title: a.title,
            status: match a.status {
                Status::Open => "open".into(),
                Status::Resolved => "resolved".into(),
            },
        })
        .collect();

    // The next step judges the last 30 days.
    let month = week_sources(store, domain, back(to, 29), to).await?;
    let own: Vec<&crate::sources::SourceRow> = month
        .sources
        .iter()
        .filter(|r| matches!(dominant(r), "compliant" | "misconfigured"))
        .collect();
    let own_messages: u64 = own.iter().map(|r| r.messages).sum();
    let own_pass: u64 = own.iter().map(|r| r.dmarc_pass).sum();
    let weakest = own
        .iter()
        .filter(|r| r.messages >= 100)
        .filter_map(|r| Some((row_name(r), r.dmarc_pass_share? * 100.0)))
        .filter(|(_, share)| *share < rampart_alerts::digest::READY_PERCENT)
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let days = store
        .day_counts(
            domain,
            &crate::Window::new(Some(back(to, 29)), Some(to), to)?.days(),
        )
        .await?;
    let policy = days.iter().rev().find_map(|(_, c)| {
        c.iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(rampart_store::tally::counter::POLICY)?, *v)))
            .max_by_key(|(_, v)| *v)
            .map(|(p, _)| p.to_owned())
    });
    let hosted = store
        .latest_policy(domain)
        .await?
        .filter(|v| v.retire_at.is_none())
        .map(|v| v.policy.mode.as_str());
    let step = next_step(&Standing {
        domain,
        policy: policy.as_deref(),
        days_with_reports: days.len() as u64,
        own_messages,
        own_pass,
        weakest: weakest.as_ref().map(|(n, s)| (n.as_str(), *s)),
        mta_sts_mode: hosted,
        inbound,
    });
    let seen_before: std::collections::BTreeSet<&String> = before.reporter_names.iter().collect();
    Ok(Digest {
        domain: Some(domain.to_owned()),
        from,
        to,
        link: link(dashboard, Some(domain), from, to),
        week: volume(&week),
        previous: volume(&previous),
        sources: lines,
        reporters: week.reporters as u64,
        new_reporters: week
            .reporter_names
            .iter()
            .filter(|r| !seen_before.contains(r))
            .cloned()
            .collect(),
        silent_reporters: previous
            .reporter_names
            .iter()
            .filter(|r| !week.reporter_names.contains(r))
            .cloned()
            .collect(),
        tls_successful: week.tls.successful_sessions.max(0) as u64,
        tls_failed: week.tls.failed_sessions.max(0) as u64,
        tls_failures,
        dns: entry.dns.map(|v| {
            let day = chrono::DateTime::from_timestamp(v.checked_at, 0)
                .unwrap_or_default()
                .date_naive();
            (v.worst, day.to_string())
        }),
        alerts,
        domains: Vec::new(),
        next_step: step,
    })
}

fn day_start(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or_default()
}

fn link(dashboard: Option<&str>, domain: Option<&str>, from: NaiveDate, to: NaiveDate) -> String {
    let base = dashboard.unwrap_or("").trim_end_matches('/');
    match domain {
        Some(d) => format!("{base}/ui/d/{d}?from={from}&to={to}"),
        None => format!("{base}/ui/?from={from}&to={to}"),
    }
}

/// The digest of every registered domain together.
pub async fn all_domains_digest<S: Store>(
    store: &S,
    from: NaiveDate,
    to: NaiveDate,
    dashboard: Option<&str>,
) -> Result<Digest, QueryError> {
    let back = |d: NaiveDate, n: u64| d.checked_sub_days(Days::new(n)).unwrap_or(d);
    let mut total = Volume::default();
    let mut before = Volume::default();
    let mut domains = Vec::new();
    let mut alerts = Vec::new();
    let (mut tls_ok, mut tls_failed) = (0u64, 0u64);
    for entry in every_domain(store)
        .await?
        .into_iter()
        .filter(|d| d.registered_at.is_some())
    {
        let week = week_summary(store, &entry.name, from, to).await?;
        let previous = week_summary(store, &entry.name, back(from, 7), back(to, 7)).await?;
        let (w, p) = (volume(&week), volume(&previous));
        for (sum, v) in [(&mut total, w), (&mut before, p)] {
            sum.messages = sum.messages.saturating_add(v.messages);
            sum.dmarc_pass = sum.dmarc_pass.saturating_add(v.dmarc_pass);
            sum.quarantined = sum.quarantined.saturating_add(v.quarantined);
            sum.rejected = sum.rejected.saturating_add(v.rejected);
            sum.reports = sum.reports.saturating_add(v.reports);
        }
        tls_ok = tls_ok.saturating_add(week.tls.successful_sessions.max(0) as u64);
        tls_failed = tls_failed.saturating_add(week.tls.failed_sessions.max(0) as u64);
        alerts.extend(
            stored_alerts(store, &entry.name)
                .await?
                .into_iter()
                .filter(|a| a.status == Status::Open)
                .map(|a| AlertLine {
                    severity: a.severity.as_str().to_owned(),
                    title: a.title,
                    status: "open".into(),
                }),
        );
        domains.push(DomainLine {
            domain: entry.name,
            week: w,
            previous: p,
            dns: entry.dns.map(|v| v.worst),
        });
    }
    alerts.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.title.cmp(&b.title))
    });
    alerts.truncate(20);
    let quiet: Vec<&str> = domains
        .iter()
        .filter(|d| d.week.messages == 0)
        .map(|d| d.domain.as_str())
        .collect();
    let next = if !quiet.is_empty() {
        format!(
            "No reports this week for {}: check that their DMARC records still name Rampart.",
            quiet.join(", ")
        )
    } else if alerts.is_empty() {
        "No open alerts: nothing needs you this week.".into()
    } else {
        format!(
            "{} alerts are open; the first above matters most.",
            alerts.len()
        )
    };
    Ok(Digest {
        domain: None,
        from,
        to,
        link: link(dashboard, None, from, to),
        week: total,
        previous: before,
        sources: Vec::new(),
        reporters: 0,
        new_reporters: Vec::new(),
        silent_reporters: Vec::new(),
        tls_successful: tls_ok,
        tls_failed,
        tls_failures: Vec::new(),
        dns: None,
        alerts,
        domains,
        next_step: next,
    })
}

/// The week a digest sent at `now` covers, when `now` is on or after Monday 08:00 UTC.
pub fn due_week(now: i64) -> (NaiveDate, NaiveDate) {
    let at = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
    let mut monday = week_start(at.date_naive());
    if at.weekday() == chrono::Weekday::Mon && at.hour() < SEND_HOUR {
        monday = monday.checked_sub_days(Days::new(7)).unwrap_or(monday);
    }
    let from = monday.checked_sub_days(Days::new(7)).unwrap_or(monday);
    let to = monday.checked_sub_days(Days::new(1)).unwrap_or(monday);
    (from, to)
}

/// Sends the digests of the week due at `now` that have not gone yet; each scope's is
/// claimed for the week, and given back when the send failed for now.
pub async fn send_digests<S, M>(
    store: &S,
    outbox: &Outbox<M>,
    inbound: &str,
    now: i64,
) -> Result<DigestRun, StoreError>
where
    S: Store,
    M: Mailer,
{
    let mut run = DigestRun::default();
    let Some(from_address) = &outbox.from else {
        return Ok(run);
    };
    let (from, to) = due_week(now);
    // Every domain's settings are read at most once an hour, and at each week's start; a
    // change of recipients or of the digest's switch opens the look again.
    let next_week = to
        .checked_add_days(Days::new(8))
        .and_then(|d| d.and_hms_opt(SEND_HOUR, 0, 0))
        .map_or(i64::MAX, |t| t.and_utc().timestamp());
    if !store
        .claim(LOOK_KEY, now, (now + LOOK_EVERY).min(next_week))
        .await?
    {
        return Ok(run);
    }
    let all = settings(store, ALL_DOMAINS).await?;
    let mut scopes: Vec<(String, Vec<String>)> = Vec::new();
    if all.digest && !all.recipients.is_empty() {
        scopes.push((ALL_DOMAINS.to_owned(), all.recipients.clone()));
    }
    for entry in every_domain(store)
        .await?
        .into_iter()
        .filter(|d| d.registered_at.is_some())
    {
        let mine = settings(store, &entry.name).await?;
        if mine.digest && !mine.recipients.is_empty() {
            scopes.push((entry.name, mine.recipients));
        }
    }
    for (scope, recipients) in scopes {
        let key = format!("digest#{scope}#{from}");
        if !store.claim(&key, now, now + 8 * 86_400).await? {
            continue;
        }
        let digest = if scope == ALL_DOMAINS {
            all_domains_digest(store, from, to, outbox.dashboard.as_deref()).await
        } else {
            domain_digest(
                store,
                &scope,
                from,
                to,
                outbox.dashboard.as_deref(),
                inbound,
            )
            .await
        };
        let digest = match digest {
            Ok(d) => d,
            Err(e) => {
                store.release(&key).await?;
                run.failed.push((scope, e.to_string()));
                continue;
            }
        };
        match send(store, outbox, from_address, &digest, &recipients, now).await? {
            Ok(()) => run.sent.push(scope),
            Err(reason) => {
                store.release(&key).await?;
                run.failed.push((scope, reason));
            }
        }
    }
    if !run.failed.is_empty() {
        // A relay down for now: the next run tries again rather than the next hour.
        store.release(LOOK_KEY).await?;
    }
    Ok(run)
}

async fn send<S: AlertStore, M: Mailer>(
    store: &S,
    outbox: &Outbox<M>,
    from_address: &str,
    digest: &Digest,
    recipients: &[String],
    now: i64,
) -> Result<Result<(), String>, StoreError> {
    let (subject, text, html) = (digest.subject(), digest.text(), digest.html());
    let content = Content {
        from: from_address,
        subject: &subject,
        text: &text,
        html: &html,
    };
    let scope = digest.domain.as_deref().unwrap_or("all");
    let host = crate::alerting::sender_host(from_address);
    let id = |to: &str| {
        format!(
            "<digest-{scope}-{}-{}@{host}>",
            digest.from,
            crate::alerting::short_digest(to)
        )
    };
    let mailed = mail_each(store, &outbox.mailer, &content, recipients, id, now).await?;
    Ok(match mailed.error {
        Some(reason) => Err(reason),
        None => Ok(()),
    })
}
