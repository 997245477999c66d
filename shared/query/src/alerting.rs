//! Alerts over the store: each day's facts gathered from the same counters and reports the
//! API reads, the rules of `rampart-alerts` judged on them, each alert's step written on
//! condition of its version, and what a step owes sent (mail, webhook). The scheduled run
//! ([`run_due`]) evaluates the domains a report, a check or a settings change asked for,
//! and every registered domain once an hour; [`crate::digest`] sends the weekly digests.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Days, NaiveDate};
use futures_util::StreamExt;
use rampart_alerts::evaluate::{self, Condition, Context, DnsFinding};
use rampart_alerts::facts::{DayBuilder, DayFacts, source_key};
use rampart_alerts::feedback::Feedback;
use rampart_alerts::mail::{self, escape_html};
use rampart_alerts::send::{Mailer, Reach, SendError};
use rampart_alerts::settings::Settings;
use rampart_alerts::state::{self, Alert, Delivery, Gate, Notice, Status};
use rampart_alerts::{Rule, Severity};
use rampart_formats::intake::Report;
use rampart_store::tally::{OTHER_REPORTERS, counter, shown_reporter};
use rampart_store::{
    ALL_DOMAINS, AlertItem, AlertStore, DayRange, DomainEntry, Store, StoreError, Suppression,
    every_domain,
};
use serde::Serialize;

use crate::aggregate::record_days;
use crate::{QueryError, Window, each_report_in, known_domain};

/// Resolved alerts are kept this long (the digest and the API show them).
pub const RESOLVED_KEPT: i64 = 90 * 86_400;
/// Days whose facts one evaluation computes at most: a domain's history is filled in over
/// a few runs rather than all at once.
pub const FACT_DAYS_PER_RUN: usize = 16;
/// Domains evaluated at once.
const CONCURRENCY: usize = 4;
/// Domains one scheduled run evaluates at most, so a run ends well within the function's
/// minute however many domains there are (one evaluation reads about 20 items).
pub const DOMAINS_PER_RUN: usize = 24;

/// How alerts leave: the mail transport, the sender, the dashboard's address for links, and
/// where webhooks may go.
pub struct Outbox<M> {
    pub mailer: M,
    /// `Rampart <alerts@example.com>`; `None`: nothing is mailed (alerts still open, the
    /// API and the dashboard show them).
    pub from: Option<String>,
    /// `https://rampart.example.com`, for links; `None` leaves them out.
    pub dashboard: Option<String>,
    pub webhooks: reqwest::Client,
    pub reach: Reach,
}

/// What one evaluation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evaluated {
    pub domain: String,
    pub opened: usize,
    pub worse: usize,
    pub resolved: usize,
    pub mails_sent: usize,
    pub mails_failed: usize,
    pub webhooks_sent: usize,
    pub webhooks_failed: usize,
    pub facts_computed: usize,
}

/// The settings of a scope as stored, or the defaults when none (or unreadable ones) are.
pub async fn settings<S: AlertStore>(store: &S, scope: &str) -> Result<Settings, StoreError> {
    let json = store.alert_settings(scope).await?;
    Ok(Settings::from_json(json.as_deref()).unwrap_or_else(|e| {
        tracing::warn!(scope, error = %e, "stored alert settings are unreadable; defaults apply");
        Settings::default()
    }))
}

fn day_of(now: i64) -> NaiveDate {
    DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .date_naive()
}

/// One day of a domain, from its counters and reports.
pub async fn day_facts<S: Store>(
    store: &S,
    entry: &DomainEntry,
    day: NaiveDate,
) -> Result<DayFacts, QueryError> {
    let name = day.to_string();
    let counters = store
        .day_counts(&entry.name, &DayRange::new(&name, &name))
        .await?
        .into_iter()
        .next()
        .map(|(_, c)| c)
        .unwrap_or_default();
    let mut facts = DayBuilder::new(day);
    let get = |n: &str| counters.get(n).copied().unwrap_or(0).max(0) as u64;
    let policy = counters
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(counter::POLICY)?, *v)))
        .max_by_key(|(_, v)| *v)
        .map(|(p, _)| p);
    facts.totals(get(counter::MESSAGES), get(counter::DMARC_PASS), policy);
    for name in counters
        .keys()
        .filter_map(|k| k.strip_prefix(counter::REPORTER))
    {
        let shown = shown_reporter(name);
        if shown != OTHER_REPORTERS {
            facts.reporter(shown);
        }
    }
    if counters.is_empty() {
        return Ok(facts.finish());
    }
    let window = Window::new(Some(day), Some(day), day)?;
    let filters = crate::Filters::default();
    each_report_in(store, entry, &window, |stored| match &stored.report {
        Report::Aggregate(_) => record_days(stored, &window, &filters, |r, _, n| {
            let source = r.source();
            let service = source
                .and_then(|s| s.service.as_ref())
                .map(|s| (s.id.as_str(), s.name.as_str()));
            let asn = source.and_then(|s| Some((s.asn?, s.as_org.as_deref().unwrap_or(""))));
            let Some(ip) = r.record.source_ip.ip() else {
                return;
            };
            let pass = if r.record.policy_evaluated.dmarc_pass() {
                n
            } else {
                0
            };
            facts.source(source_key(service, asn, ip), n, pass);
        }),
        Report::Tls(tls) => {
            let span = rampart_store::tally::Span::of_report(&stored.report);
            let on_day = |count: u64| -> u64 {
                span.spread(count)
                    .filter(|(d, _)| *d == name.as_str())
                    .map(|(_, n)| n)
                    .sum()
            };
            for p in &tls.policies {
                let policy = p
                    .policy
                    .policy_type
                    .as_ref()
                    .map_or("unknown", |t| t.as_str());
                facts.tls_sessions(
                    policy,
                    on_day(p.summary.total_successful_session_count.unwrap_or(0)),
                    on_day(p.summary.total_failure_session_count.unwrap_or(0)),
                );
                for d in &p.failure_details {
                    let n = on_day(d.failed_session_count.unwrap_or(0));
                    if n > 0 {
                        facts.tls_failure(
                            policy,
                            d.result_type.as_ref().map_or("unknown", |t| t.as_str()),
                            d.receiving_mx_hostname.as_deref().unwrap_or(""),
                            n,
                        );
                    }
                }
            }
        }
    })
    .await?;
    Ok(facts.finish())
}

/// The facts the rules read for `today`: those stored, the missing ones computed (newest
/// first, at most [`FACT_DAYS_PER_RUN`]) and the days still arriving computed again.
pub async fn facts<S: Store>(
    store: &S,
    entry: &DomainEntry,
    first: NaiveDate,
    today: NaiveDate,
) -> Result<(Vec<DayFacts>, usize), QueryError> {
    let range = DayRange::new(&first.to_string(), &today.to_string());
    let mut by_day: BTreeMap<NaiveDate, DayFacts> = BTreeMap::new();
    for (day, json) in store.alert_days(&entry.name, &range).await? {
        match serde_json::from_str::<DayFacts>(&json) {
            Ok(f) => {
                by_day.insert(f.day, f);
            }
            Err(e) => tracing::warn!(domain = entry.name, day, error = %e, "unreadable facts"),
        }
    }
    let arriving = evaluate::settled_day(today);
    let mut due: Vec<NaiveDate> = first
        .iter_days()
        .take_while(|d| *d <= today)
        .filter(|d| *d > arriving || !by_day.contains_key(d))
        .collect();
    due.reverse();
    due.truncate(FACT_DAYS_PER_RUN.max(rampart_alerts::rules::SETTLE_DAYS as usize + 1));
    let mut written = Vec::new();
    for day in &due {
        let f = day_facts(store, entry, *day).await?;
        written.push((
            day.to_string(),
            serde_json::to_string(&f).map_err(|e| StoreError::corrupt("alert facts", e))?,
        ));
        by_day.insert(*day, f);
    }
    store.put_alert_days(&entry.name, &written).await?;
    Ok((by_day.into_values().collect(), written.len()))
}

/// The findings of the domain's latest DNS check, `None` when it was never checked.
async fn dns_findings<S: Store>(
    store: &S,
    domain: &str,
) -> Result<Option<Vec<DnsFinding>>, StoreError> {
    let Some(run) = store.checks(domain, 1).await?.into_iter().next() else {
        return Ok(None);
    };
    let report: rampart_checks::Report = match serde_json::from_str(&run.report) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(domain, error = %e, "the latest check is unreadable");
            return Ok(None);
        }
    };
    Ok(Some(
        report
            .findings
            .into_iter()
            .map(|f| DnsFinding {
                code: f.code,
                severity: f.severity.as_str().to_owned(),
                message: f.message,
                fix: f.fix,
            })
            .collect(),
    ))
}

fn alert_id(rule: Rule, key: &str) -> String {
    format!("{}#{key}", rule.as_str())
}

/// The stored alerts of a domain, read back (unreadable ones are skipped and logged).
pub async fn stored_alerts<S: AlertStore>(
    store: &S,
    domain: &str,
) -> Result<Vec<Alert>, StoreError> {
    Ok(store
        .alerts(domain)
        .await?
        .into_iter()
        .filter_map(|item| match serde_json::from_str::<Alert>(&item.body) {
            Ok(mut a) => {
                a.version = item.version;
                Some(a)
            }
            Err(e) => {
                tracing::warn!(domain, id = item.id, error = %e, "unreadable alert");
                None
            }
        })
        .collect())
}

async fn write<S: AlertStore>(store: &S, alert: &Alert) -> Result<bool, StoreError> {
    let item = AlertItem {
        domain: alert.domain.clone(),
        id: alert_id(alert.rule, &alert.key),
        version: alert.version,
        body: serde_json::to_string(alert).map_err(|e| StoreError::corrupt("alert", e))?,
        expires_at: (alert.status == Status::Resolved)
            .then(|| alert.resolved_at.unwrap_or(alert.updated_at) + RESOLVED_KEPT),
    };
    store.put_alert(&item).await
}

/// Evaluates one domain's alerts at `now` and sends what the steps owe.
pub async fn evaluate<S, M>(
    store: &S,
    outbox: &Outbox<M>,
    domain: &str,
    now: i64,
) -> Result<Evaluated, QueryError>
where
    S: Store,
    M: Mailer,
{
    let entry = known_domain(store, domain).await?;
    let domain = entry.name.as_str();
    if entry.registered_at.is_none() {
        // Reports for a domain nobody registered are kept, not watched.
        return Ok(Evaluated {
            domain: domain.to_owned(),
            ..Evaluated::default()
        });
    }
    let today = day_of(now);
    let (all, mine) = (
        settings(store, ALL_DOMAINS).await?,
        settings(store, domain).await?,
    );
    let rules = mine.rules(&all).unwrap_or_else(|e| {
        tracing::warn!(domain, error = %e, "alert rules unreadable; defaults apply");
        rampart_alerts::rules::Rules::default()
    });
    let (days, computed) = facts(
        store,
        &entry,
        evaluate::first_day_read(&rules, today),
        today,
    )
    .await?;
    let dns = dns_findings(store, domain).await?;
    let hosted = store
        .latest_policy(domain)
        .await?
        .filter(|v| v.retire_at.is_none())
        .map(|v| v.policy.mode.as_str());
    let stored = stored_alerts(store, domain).await?;
    let open: Vec<(Rule, String)> = stored
        .iter()
        .filter(|a| a.status == Status::Open)
        .map(|a| (a.rule, a.key.clone()))
        .collect();
    let ctx = Context {
        domain,
        today,
        hosted_mode: hosted,
        dns: dns.as_deref(),
        open: &open,
    };
    let holding = evaluate::conditions(&rules, &days, &ctx);

    let mailed_today = stored
        .iter()
        .filter(|a| a.mailed_at.is_some_and(|t| now - t < state::BUDGET_WINDOW))
        .count() as u32;
    let budget = rules.mails_per_day.saturating_sub(mailed_today);
    let mut done = Evaluated {
        domain: domain.to_owned(),
        facts_computed: computed,
        ..Evaluated::default()
    };
    let by_id: BTreeMap<String, &Alert> = stored
        .iter()
        .map(|a| (alert_id(a.rule, &a.key), a))
        .collect();
    let conditions: BTreeMap<String, &Condition> = holding
        .iter()
        .map(|c| (alert_id(c.rule, &c.key), c))
        .collect();
    // Worst first, so the budget goes to what matters most.
    let mut ids: Vec<(Severity, String)> = conditions
        .iter()
        .map(|(id, c)| (c.severity, id.clone()))
        .chain(
            by_id
                .iter()
                .filter(|(id, _)| !conditions.contains_key(*id))
                .map(|(id, a)| (a.severity, id.clone())),
        )
        .collect();
    ids.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut gate = Gate {
        snoozed: false,
        budget_left: budget,
    };
    let mut owed: Vec<(Alert, Notice, Delivery)> = Vec::new();
    for (_, id) in ids {
        let (stored, holds) = (by_id.get(&id).copied(), conditions.get(&id).copied());
        let (rule, key) = match (holds, stored) {
            (Some(c), _) => (c.rule, c.key.clone()),
            (None, Some(a)) => (a.rule, a.key.clone()),
            (None, None) => continue,
        };
        gate.snoozed = mine.snoozed(&all, rule, now);
        let Some(step) = state::step(domain, rule, &key, stored, holds, now, &mut gate) else {
            continue;
        };
        if !write(store, &step.alert).await? {
            // Another evaluation wrote this step first; it sends what the step owes.
            continue;
        }
        if let Some((notice, delivery)) = step.notice {
            match notice {
                Notice::Opened => done.opened += 1,
                Notice::Worse => done.worse += 1,
                Notice::Resolved => done.resolved += 1,
            }
            owed.push((step.alert, notice, delivery));
        }
    }
    // Steps of earlier runs whose mail did not go.
    for a in stored.iter().filter(|a| a.pending.is_some()) {
        if !owed
            .iter()
            .any(|(o, _, _)| o.rule == a.rule && o.key == a.key)
        {
            let notice = a.pending.unwrap_or(Notice::Opened);
            owed.push((a.clone(), notice, Delivery::Mail));
        }
    }
    let recipients = if mine.recipients.is_empty() {
        all.recipients.clone()
    } else {
        mine.recipients.clone()
    };
    let webhook = mine.webhook.as_ref().or(all.webhook.as_ref());
    for (alert, notice, delivery) in owed {
        if delivery != Delivery::Snoozed
            && let Some(hook) = webhook
        {
            let body = webhook_body(&alert, notice, outbox.dashboard.as_deref());
            match rampart_alerts::send::post_webhook(
                &outbox.webhooks,
                &hook.url,
                &hook.secret,
                &body,
                now,
                outbox.reach,
            )
            .await
            {
                Ok(()) => done.webhooks_sent += 1,
                Err(e) => {
                    tracing::warn!(domain, error = %e, "the alert webhook failed");
                    done.webhooks_failed += 1;
                }
            }
        }
        if delivery != Delivery::Mail || alert.pending.is_none() {
            continue;
        }
        let sent = mail_alert(store, outbox, &alert, notice, &recipients, now).await?;
        if sent.failed == 0 {
            // Delivered (or refused for good and suppressed): the step owes nothing more.
            let mut cleared = alert.clone();
            cleared.pending = None;
            cleared.version += 1;
            write(store, &cleared).await?;
        }
        done.mails_sent += sent.sent;
        done.mails_failed += sent.failed;
    }
    Ok(done)
}

#[derive(Default)]
struct Sent {
    sent: usize,
    failed: usize,
}

fn subject(alert: &Alert, notice: Notice) -> String {
    match notice {
        Notice::Opened => format!("[Rampart] {}: {}", alert.severity.as_str(), alert.title),
        Notice::Worse => format!("[Rampart] worse – {}", alert.title),
        Notice::Resolved => format!(
            "[Rampart] resolved – {}",
            rampart_alerts::evaluate::resolved_title(alert)
        ),
    }
}

fn link(dashboard: Option<&str>, domain: &str) -> Option<String> {
    dashboard.map(|d| format!("{}/ui/d/{domain}/alerts", d.trim_end_matches('/')))
}

fn webhook_body(alert: &Alert, notice: Notice, dashboard: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "domain": alert.domain,
        "rule": alert.rule,
        "key": alert.key,
        "notice": notice,
        "status": alert.status,
        "severity": alert.severity,
        "magnitude": alert.magnitude,
        "title": alert.title,
        "detail": alert.detail,
        "opened_at": alert.opened_at,
        "resolved_at": alert.resolved_at,
        "link": link(dashboard, &alert.domain),
    }))
    .unwrap_or_default()
}

/// Mails one alert step to each recipient not suppressed, one mail per recipient (so a
/// refusal names its address).
async fn mail_alert<S: AlertStore, M: Mailer>(
    store: &S,
    outbox: &Outbox<M>,
    alert: &Alert,
    notice: Notice,
    recipients: &[String],
    now: i64,
) -> Result<Sent, StoreError> {
    let mut sent = Sent::default();
    let Some(from) = &outbox.from else {
        return Ok(sent);
    };
    let subject = subject(alert, notice);
    let link = link(outbox.dashboard.as_deref(), &alert.domain);
    let what = match notice {
        Notice::Opened => "Opened",
        Notice::Worse => "Worse",
        Notice::Resolved => "Resolved",
    };
    let text = format!(
        "{what}: {}\n\n{}\n\nSeverity: {}\nRule: {} ({})\n{}",
        alert.title,
        alert.detail,
        alert.severity.as_str(),
        alert.rule.as_str(),
        alert.key,
        link.as_deref().unwrap_or("")
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;max-width:640px\">\
         <p><b>{what}</b>: {}</p><p>{}</p><p>Severity: {}<br>Rule: {} ({})</p>{}</body></html>",
        escape_html(&alert.title),
        escape_html(&alert.detail).replace('\n', "<br>"),
        alert.severity.as_str(),
        alert.rule.as_str(),
        escape_html(&alert.key),
        link.as_deref()
            .map(|l| format!("<p><a href=\"{}\">Open in Rampart</a></p>", escape_html(l)))
            .unwrap_or_default()
    );
    let content = Content {
        from,
        subject: &subject,
        text: &text,
        html: &html,
    };
    let id = |to: &str| message_id(alert, notice, to, from);
    let mailed = mail_each(store, &outbox.mailer, &content, recipients, id, now).await?;
    sent.sent = mailed.sent;
    sent.failed = mailed.failed;
    Ok(sent)
}

/// One message's parts, the same for every recipient.
pub(crate) struct Content<'a> {
    pub from: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

/// What mailing one message to each recipient did.
#[derive(Debug, Default)]
pub(crate) struct Mailed {
    pub sent: usize,
    pub failed: usize,
    /// The last transient failure, if any.
    pub error: Option<String>,
}

/// Mails `content` to each recipient not suppressed, one mail each (so a refusal names its
/// address, which is then suppressed); `id` gives each its Message-ID.
pub(crate) async fn mail_each<S: AlertStore, M: Mailer>(
    store: &S,
    mailer: &M,
    content: &Content<'_>,
    recipients: &[String],
    id: impl Fn(&str) -> String,
    now: i64,
) -> Result<Mailed, StoreError> {
    let suppressed: BTreeSet<String> = store
        .suppressed(recipients)
        .await?
        .into_iter()
        .map(|s| s.address)
        .collect();
    let mut mailed = Mailed::default();
    for to in recipients {
        if suppressed.contains(&to.to_ascii_lowercase()) {
            continue;
        }
        let one = [to.clone()];
        let raw = match mail::build(&mail::Outgoing {
            from: content.from,
            to: &one,
            subject: content.subject,
            text: content.text,
            html: content.html,
            message_id: id(to),
            date: SystemTime::UNIX_EPOCH + Duration::from_secs(now.max(0) as u64),
        }) {
            Ok(raw) => raw,
            Err(e) => {
                // An address the settings check let through and lettre refuses: for good.
                store
                    .suppress(&Suppression {
                        address: to.clone(),
                        reason: format!("not sendable: {e}"),
                        at: now,
                    })
                    .await?;
                continue;
            }
        };
        match mailer.send(content.from, &one, &raw).await {
            Ok(()) => mailed.sent += 1,
            Err(SendError::Permanent { address, reason }) => {
                tracing::warn!(to, reason, "a mail was refused; the address is suppressed");
                store
                    .suppress(&Suppression {
                        address: address.unwrap_or_else(|| to.clone()),
                        reason: format!("refused: {reason}"),
                        at: now,
                    })
                    .await?;
            }
            Err(SendError::Transient(reason)) => {
                tracing::warn!(to, reason, "a mail was not sent; it is tried again");
                mailed.failed += 1;
                mailed.error = Some(reason);
            }
        }
    }
    Ok(mailed)
}

/// What one SES sending event did: the addresses suppressed, recipients skipped as unusable
/// or over the cap, or why nothing was done.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct FeedbackRun {
    pub suppressed: usize,
    pub skipped: usize,
    pub ignored: Option<String>,
}

/// Suppresses the addresses an SES bounce or complaint refuses (see
/// [`rampart_alerts::feedback`]): alerts and digests skip them until an owner lists them
/// again.
pub async fn record_feedback<S: AlertStore>(
    store: &S,
    feedback: Feedback,
    now: i64,
) -> Result<FeedbackRun, StoreError> {
    let (refused, skipped) = match feedback {
        Feedback::Suppress { refused, skipped } => (refused, skipped),
        Feedback::Ignore(why) => {
            return Ok(FeedbackRun {
                ignored: Some(why),
                ..FeedbackRun::default()
            });
        }
    };
    for refusal in &refused {
        store
            .suppress(&Suppression {
                address: refusal.address.clone(),
                reason: refusal.reason.clone(),
                at: now,
            })
            .await?;
    }
    Ok(FeedbackRun {
        suppressed: refused.len(),
        skipped,
        ignored: None,
    })
}

/// 32 hex digits of SHA-256: an id part that says nothing of what it was made from.
pub(crate) fn short_digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The host part of the sender's address, for Message-IDs.
pub(crate) fn sender_host(from: &str) -> &str {
    from.rsplit_once('@')
        .map(|(_, h)| h.trim_end_matches('>'))
        .unwrap_or("rampart.invalid")
}

/// The same for the same step and recipient, so a resend is one mail to a receiver that
/// de-duplicates.
fn message_id(alert: &Alert, notice: Notice, to: &str, from: &str) -> String {
    let hex = short_digest(&format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{:?}\u{1f}{to}",
        alert.domain,
        alert.rule.as_str(),
        alert.key,
        alert.opened_at,
        notice
    ));
    format!(
        "<alert-{hex}-{}@{}>",
        alert.mailed_at.unwrap_or(0),
        sender_host(from)
    )
}

/// What one scheduled run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertRun {
    pub evaluated: Vec<Evaluated>,
    pub failed: Vec<(String, String)>,
}

/// The scheduled run: the domains whose evaluation was asked for, at most
/// [`DOMAINS_PER_RUN`]; the rest stay asked for and the next run (a minute later) takes
/// them. Once an hour (one run takes the hour's claim) every registered domain is asked for.
pub async fn run_due<S, M>(store: &S, outbox: &Outbox<M>, now: i64) -> Result<AlertRun, StoreError>
where
    S: Store,
    M: Mailer,
{
    let mut due: BTreeSet<String> = store.alert_requests().await?.into_iter().collect();
    let hour = now.div_euclid(3600);
    if store
        .claim(&format!("alerts-sweep#{hour}"), now, (hour + 1) * 3600)
        .await?
    {
        for domain in every_domain(store).await? {
            if domain.registered_at.is_some() && !due.contains(&domain.name) {
                // Asked for like any other, so what this run cannot take waits for the next.
                store.request_alerts(&domain.name).await?;
                due.insert(domain.name);
            }
        }
    }
    let outcomes: Vec<(String, Result<Evaluated, QueryError>)> =
        futures_util::stream::iter(due.into_iter().take(DOMAINS_PER_RUN))
            .map(|domain| async move {
                let done = evaluate(store, outbox, &domain, now).await;
                (domain, done)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
    let mut run = AlertRun::default();
    for (domain, outcome) in outcomes {
        match outcome {
            Ok(done) => {
                store.alerts_done(&domain).await?;
                run.evaluated.push(done);
            }
            Err(e) if e.code == "unknown_domain" => store.alerts_done(&domain).await?,
            Err(e) => {
                tracing::warn!(domain, error = %e, "alerts could not be evaluated");
                run.failed.push((domain, e.to_string()));
            }
        }
    }
    run.evaluated.sort_by(|a, b| a.domain.cmp(&b.domain));
    Ok(run)
}

/// The first day of the ISO week of `day` (a Monday).
pub fn week_start(day: NaiveDate) -> NaiveDate {
    use chrono::Datelike;
    day.checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))
        .unwrap_or(day)
}
