//! A domain's DNS health (see [`rampart_checks`]): what Rampart expects of its records, a
//! run of the checks stored with its history, the latest run with what changed since the
//! runs before it, and the scheduled runs (each domain once a day, and soon after its
//! hosted policy changed).

use chrono::NaiveDate;
use futures_util::StreamExt;
use serde::Serialize;

use super::domains::Endpoints;
use super::{QueryError, Window, each_report_in, known_domain};
use rampart_checks::{Area, Checker, Expect, Finding, Hosted, PolicyFix, Report, Seen, Severity};
use rampart_formats::intake::Report as AnyReport;
use rampart_formats::time::format_utc;
use rampart_mta_sts::due_record;
use rampart_store::{CheckRun, Store, StoreError, every_domain, normalise_domain};

/// Runs listed with the latest.
pub const HISTORY: usize = 30;
/// A domain is checked again once its latest run is this old.
pub const CHECK_EVERY: i64 = 86_400;
/// Domains checked by one scheduled run; the others wait for the next.
pub const MAX_PER_RUN: usize = 20;
/// Domains checked at once.
const CONCURRENCY: usize = 4;

/// The latest run of a domain's checks.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CheckView {
    #[schema(format = DateTime)]
    pub checked_at: String,
    pub worst: Severity,
    /// Worst first.
    pub findings: Vec<Finding>,
    pub seen: Seen,
    /// When live MX hosts are outside the hosted policy: the policy that covers them, to
    /// `PUT …/mta-sts` as is.
    pub policy_fix: Option<PolicyFix>,
}

/// An earlier run, and which records it saw changed from the run before it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    #[schema(format = DateTime)]
    pub checked_at: String,
    pub worst: Severity,
    pub changed: Vec<Area>,
}

/// `GET /v1/domains/{domain}/checks`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DomainChecks {
    pub domain: String,
    /// Null before the first run.
    pub latest: Option<CheckView>,
    /// Every kept run (the latest included), newest first, at most 30.
    pub history: Vec<HistoryEntry>,
}

/// What Rampart expects of `domain`'s records at `now`: its report addresses, its policy
/// host and zone, the policy it hosts, and the DKIM selectors of the last 30 days' reports.
pub async fn expect<S: Store>(
    store: &S,
    endpoints: &Endpoints,
    domain: &str,
    today: NaiveDate,
    now: i64,
) -> Result<Expect, QueryError> {
    let entry = known_domain(store, domain).await?;
    let history = store.policies(&entry.name).await?;
    let hosted = history.last().and_then(|latest| {
        let body = latest.served_body(now)?;
        let id = latest.policy.id();
        let published_id = due_record(&history, now, Default::default())
            .and_then(|record| {
                record
                    .split(';')
                    .find_map(|tag| tag.trim().strip_prefix("id=").map(str::to_owned))
            })
            .filter(|published| *published != id);
        Some(Hosted {
            policy: latest.policy.clone(),
            body,
            id,
            published_id,
        })
    });
    let mut dkim: Vec<(String, String)> = Vec::new();
    let window = Window::new(None, Some(today), today)?;
    let own = entry.name.clone();
    each_report_in(store, &entry, &window, |stored| {
        let AnyReport::Aggregate(report) = &stored.report else {
            return;
        };
        for record in &report.records {
            for auth in &record.auth_results.dkim {
                let (Some(d), Some(selector)) = (&auth.domain, &auth.selector) else {
                    continue;
                };
                let d = normalise_domain(d);
                // Only the domain's own keys: a service's keys are the service's business.
                let owned = d == own || d.ends_with(&format!(".{own}"));
                let pair = (d, selector.trim().to_ascii_lowercase());
                if owned
                    && !pair.1.is_empty()
                    && dkim.len() < rampart_checks::dkim::MAX_SELECTORS
                    && !dkim.contains(&pair)
                {
                    dkim.push(pair);
                }
            }
        }
    })
    .await?;
    Ok(Expect {
        inbound_address: Some(endpoints.inbound_address.clone()),
        tlsrpt_url: Some(endpoints.tlsrpt_url.clone()),
        policy_zone: Some(endpoints.policy_zone.clone()),
        mta_sts_host: Some(endpoints.mta_sts_host.clone()),
        hosted,
        dkim,
    })
}

/// Runs the checks of `domain` now, stores the run, and answers as [`show`] does.
pub async fn run<S: Store>(
    store: &S,
    checker: &Checker,
    endpoints: &Endpoints,
    domain: &str,
    today: NaiveDate,
    now: i64,
) -> Result<DomainChecks, QueryError> {
    let report = check_and_store(store, checker, endpoints, domain, today, now).await?;
    let mut shown = show(store, &report.domain).await?;
    // A run stored in the same second as an earlier one replaced it; show this one.
    shown.latest = Some(view(report));
    Ok(shown)
}

async fn check_and_store<S: Store>(
    store: &S,
    checker: &Checker,
    endpoints: &Endpoints,
    domain: &str,
    today: NaiveDate,
    now: i64,
) -> Result<Report, QueryError> {
    let expect = expect(store, endpoints, domain, today, now).await?;
    let report = checker.check(&normalise_domain(domain), &expect, now).await;
    let json = serde_json::to_string(&report)
        .map_err(|e| QueryError::from(StoreError::corrupt("check run", e)))?;
    store
        .put_check(&CheckRun {
            domain: report.domain.clone(),
            checked_at: report.checked_at,
            worst: report.worst.as_str().to_owned(),
            report: json,
        })
        .await?;
    // Its findings may open or resolve DNS alerts: judge them at the next scheduled run.
    store.request_alerts(&report.domain).await?;
    Ok(report)
}

/// The latest run and the history of `domain`.
pub async fn show<S: Store>(store: &S, domain: &str) -> Result<DomainChecks, QueryError> {
    let entry = known_domain(store, domain).await?;
    let runs = store.checks(&entry.name, HISTORY + 1).await?;
    let mut reports = Vec::with_capacity(runs.len());
    for run in &runs {
        let report: Report = serde_json::from_str(&run.report)
            .map_err(|e| QueryError::from(StoreError::corrupt("check run", e)))?;
        reports.push(report);
    }
    let history = reports
        .iter()
        .take(HISTORY)
        .enumerate()
        .map(|(i, report)| HistoryEntry {
            checked_at: format_utc(report.checked_at),
            worst: report.worst,
            changed: match reports.get(i + 1) {
                Some(before) => changed(&before.seen, &report.seen),
                None => Vec::new(),
            },
        })
        .collect();
    Ok(DomainChecks {
        domain: entry.name,
        latest: reports.into_iter().next().map(view),
        history,
    })
}

fn view(report: Report) -> CheckView {
    CheckView {
        checked_at: format_utc(report.checked_at),
        worst: report.worst,
        findings: report.findings,
        seen: report.seen,
        policy_fix: report.policy_fix,
    }
}

/// The areas whose records differ between two runs.
fn changed(before: &Seen, after: &Seen) -> Vec<Area> {
    let pairs = [
        (Area::Dmarc, &before.dmarc, &after.dmarc),
        (Area::Spf, &before.spf, &after.spf),
        (Area::Mx, &before.mx, &after.mx),
        (Area::MtaSts, &before.mta_sts, &after.mta_sts),
        (Area::Tlsrpt, &before.tlsrpt, &after.tlsrpt),
        (Area::Dkim, &before.dkim, &after.dkim),
    ];
    pairs
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(area, _, _)| area)
        .collect()
}

/// What a scheduled run did.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Scheduled {
    /// Domains checked, with their worst severity.
    pub checked: Vec<(String, Severity)>,
    /// Domains whose check could not run (storage), with why; tried again next time.
    pub failed: Vec<(String, String)>,
}

/// The scheduled run: checks the domains whose check was asked for (a policy changed),
/// then the registered domains not checked for a day, at most [`MAX_PER_RUN`].
pub async fn run_due<S: Store>(
    store: &S,
    checker: &Checker,
    endpoints: &Endpoints,
    now: i64,
) -> Result<Scheduled, StoreError> {
    let today = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .date_naive();
    let requested = store.check_requests().await?;
    let mut due: Vec<(String, bool)> = requested.iter().map(|d| (d.clone(), true)).collect();
    if due.len() < MAX_PER_RUN {
        let mut stale: Vec<(i64, String)> = every_domain(store)
            .await?
            .into_iter()
            .filter(|d| d.registered_at.is_some() && !requested.contains(&d.name))
            .filter_map(|d| {
                let last = d.dns.map_or(i64::MIN, |v| v.checked_at);
                (last.saturating_add(CHECK_EVERY) <= now).then_some((last, d.name))
            })
            .collect();
        // The longest unchecked first.
        stale.sort();
        due.extend(stale.into_iter().map(|(_, name)| (name, false)));
    }
    due.truncate(MAX_PER_RUN);
    let outcomes: Vec<(String, bool, Result<Report, QueryError>)> = futures_util::stream::iter(due)
        .map(|(domain, requested)| async move {
            let report = check_and_store(store, checker, endpoints, &domain, today, now).await;
            (domain, requested, report)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut scheduled = Scheduled::default();
    for (domain, requested, outcome) in outcomes {
        match outcome {
            Ok(report) => {
                if requested {
                    store.check_done(&domain).await?;
                }
                scheduled.checked.push((domain, report.worst));
            }
            // A request for a domain removed since is done.
            Err(e) if e.code == "unknown_domain" => store.check_done(&domain).await?,
            Err(e) => {
                tracing::warn!(domain, error = %e, "the DNS check could not run");
                scheduled.failed.push((domain, e.to_string()));
            }
        }
    }
    scheduled.checked.sort();
    Ok(scheduled)
}
