//! `GET /v1/overview`: every domain's state at a glance, for the dashboard's first screen.
//!
//! One row per domain from the per-day counters alone: the range's messages and DMARC
//! verdicts, TLS sessions, the `p=` its latest report found published, and the day of that
//! report, so a domain with nothing recent can be opened on the range where its reports are.
//! Each row reads the range's day items and a few items newest first; rows of a page are
//! read a few at a time.

use chrono::NaiveDate;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Serialize;

use super::aggregate::add_counter;
use super::domains::DnsStatus;
use super::request::OverviewQuery;
use super::{QueryError, Window, share};
use rampart_store::tally::{Counters, counter};
use rampart_store::{DayRange, DomainEntry, Store};

/// The largest page: each row costs a few reads.
pub const MAX_PAGE: usize = 200;

/// Rows read at once.
const CONCURRENT_ROWS: usize = 8;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Overview {
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    pub domains: Vec<DomainState>,
    /// The cursor of the next page, or null on the last one.
    pub next: Option<String>,
}

/// One domain over the range.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DomainState {
    pub domain: String,
    /// False for a domain that reports arrived for without it being registered.
    pub registered: bool,
    pub messages: i64,
    pub dmarc_pass: i64,
    pub dmarc_fail: i64,
    /// `dmarc_pass / messages`, 0 to 1; null without messages.
    #[schema(minimum = 0, maximum = 1)]
    pub dmarc_pass_share: Option<f64>,
    /// Aggregate reports that begin in the range.
    pub reports: i64,
    pub tls_successful_sessions: i64,
    pub tls_failed_sessions: i64,
    /// The last day (up to today) any report of the domain covers; null before the first.
    #[schema(format = Date)]
    pub latest_day: Option<String>,
    /// The DMARC `p=` that the aggregate reports ending on `latest_day` found published
    /// (the most common, if they differ): `none`, `quarantine`, `reject`, `unknown` when the
    /// reports did not say, `other`; null when only TLS reports cover that day.
    pub policy: Option<String>,
    /// The worst finding of the latest DNS check; absent before the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub dns_health: Option<DnsStatus>,
}

pub async fn overview<S: Store>(
    store: &S,
    query: OverviewQuery,
    today: NaiveDate,
) -> Result<Overview, QueryError> {
    let window = query.range.window(today)?;
    let page = query.page;
    let mut entries = store.domains(page.after.as_deref(), page.limit + 1).await?;
    let next = (entries.len() > page.limit).then(|| {
        entries.truncate(page.limit);
        page.next(&entries[page.limit - 1].name)
    });
    let today = today.to_string();
    let domains = stream::iter(entries)
        .map(|entry| state(store, entry, &window, &today))
        .buffered(CONCURRENT_ROWS)
        .try_collect()
        .await?;
    Ok(Overview {
        from: window.from.to_string(),
        to: window.to.to_string(),
        domains,
        next,
    })
}

async fn state<S: Store>(
    store: &S,
    entry: DomainEntry,
    window: &Window,
    today: &str,
) -> Result<DomainState, QueryError> {
    let days = store.day_counts(&entry.name, &window.days()).await?;
    let latest_day = store.latest_day(&entry.name, today).await?;
    let on_latest = match &latest_day {
        Some(day) => match days.iter().find(|(d, _)| d == day) {
            Some((_, counters)) => counters.clone(),
            None => store
                .day_counts(&entry.name, &DayRange::new(day, day))
                .await?
                .pop()
                .map(|(_, c)| c)
                .unwrap_or_default(),
        },
        None => Counters::new(),
    };
    let get = |name: &str| {
        days.iter()
            .filter_map(|(_, c)| c.get(name))
            .fold(0i64, |sum, n| add_counter(sum, *n))
    };
    let messages = get(counter::MESSAGES);
    Ok(DomainState {
        dns_health: DnsStatus::of(&entry),
        registered: entry.registered_at.is_some(),
        domain: entry.name,
        messages,
        dmarc_pass: get(counter::DMARC_PASS),
        dmarc_fail: get(counter::DMARC_FAIL),
        dmarc_pass_share: share(get(counter::DMARC_PASS), messages),
        reports: get(counter::REPORTS),
        tls_successful_sessions: get(counter::TLS_SUCCESSFUL),
        tls_failed_sessions: get(counter::TLS_FAILED),
        latest_day,
        policy: published_policy(&on_latest),
    })
}

/// The most common `policy:` of a day's counters (of equal counts, the first in key order).
pub(crate) fn published_policy(counters: &Counters) -> Option<String> {
    counters
        .iter()
        .filter_map(|(name, n)| Some((name.strip_prefix(counter::POLICY)?, *n)))
        .filter(|(_, n)| *n > 0)
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(p, _)| p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_common_policy_of_the_day_is_shown() {
        let day = Counters::from([
            ("policy:none".to_owned(), 1),
            ("policy:reject".to_owned(), 3),
            ("messages".to_owned(), 10),
        ]);
        assert_eq!(published_policy(&day).as_deref(), Some("reject"));
        let tie = Counters::from([
            ("policy:none".to_owned(), 2),
            ("policy:reject".to_owned(), 2),
        ]);
        assert_eq!(published_policy(&tie).as_deref(), Some("none"));
        assert_eq!(published_policy(&Counters::new()), None);
    }
}
