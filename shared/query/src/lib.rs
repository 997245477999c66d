//! Queries: what the REST API answers, computed over any [`Store`], with no HTTP in sight.
//!
//! Each public function takes the typed parameters of a request ([`request`], read from the
//! query string by [`params`], which refuses unknown and repeated names), reads what it needs
//! from the store and returns a serialisable answer or a [`QueryError`] that says what was
//! wrong. Summaries and daily series read only the per-day
//! counters of [`rampart_store::tally`]; grouped statistics, record search, report listings and TLS
//! views read the reports of the range. The read path of each is in `docs/query.md`.

use chrono::{Days, NaiveDate};
use serde::Serialize;

pub mod aggregate;
pub mod alert_views;
pub mod alerting;
pub mod checks;
pub mod digest;
pub mod dimension;
pub mod domains;
pub mod hosting;
pub mod listing;
pub mod mailboxes;
pub mod overview;
pub mod params;
pub mod request;
pub mod schema;
pub mod sources;

pub use dimension::{Dimension, Filter, Filters};
pub use params::Params;

use rampart_store::tally::Span;
use rampart_store::{DayRange, DomainEntry, Store, StoreError, StoredReport, normalise_domain};

/// The longest range one request may cover.
pub const MAX_RANGE_DAYS: u64 = 366;
/// The range used when a request names none: the last 30 days, today included.
pub const DEFAULT_RANGE_DAYS: u64 = 30;

/// What kind of failure a [`QueryError`] is; the API maps it to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is wrong (400).
    BadRequest,
    /// What it names does not exist (404).
    NotFound,
    /// It is understood and refused (403).
    Forbidden,
    /// It conflicts with the current state; the message says what to do first (409).
    Conflict,
    /// The request or the answer is too large (413).
    TooLarge,
    /// The request body is not of a media type the resource takes (415).
    UnsupportedMediaType,
    /// Storage did not answer; retrying may help (503).
    Unavailable,
    /// Stored data could not be read, or storage refused the call (500).
    Internal,
}

/// Why a query gave no answer: a stable `code` and a message a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct QueryError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
}

impl QueryError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        QueryError {
            kind: ErrorKind::BadRequest,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        QueryError {
            kind: ErrorKind::NotFound,
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        QueryError {
            kind: ErrorKind::Conflict,
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for QueryError {
    fn from(e: StoreError) -> Self {
        let kind = match e {
            StoreError::Unavailable { .. } => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        QueryError {
            kind,
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// The inclusive range of UTC days a request covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// `from` and `to` as `YYYY-MM-DD`, compared with stored days once per record.
    first_day: String,
    last_day: String,
}

impl Window {
    /// `from` to `to`; the last [`DEFAULT_RANGE_DAYS`] days up to `today` for whichever is
    /// missing.
    pub fn new(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Window, QueryError> {
        let to = to.unwrap_or_else(|| {
            from.and_then(|f| f.checked_add_days(Days::new(DEFAULT_RANGE_DAYS - 1)))
                .unwrap_or(today)
        });
        let from = from.unwrap_or_else(|| {
            to.checked_sub_days(Days::new(DEFAULT_RANGE_DAYS - 1))
                .unwrap_or(to)
        });
        if from > to {
            return Err(QueryError::bad_request(
                "invalid_range",
                format!("from ({from}) is after to ({to})"),
            ));
        }
        if (to - from).num_days() as u64 >= MAX_RANGE_DAYS {
            return Err(QueryError::bad_request(
                "range_too_long",
                format!("a range covers at most {MAX_RANGE_DAYS} days; {from} to {to} is longer"),
            ));
        }
        Ok(Window {
            from,
            to,
            first_day: from.to_string(),
            last_day: to.to_string(),
        })
    }

    pub fn days(&self) -> DayRange {
        DayRange::new(&self.first_day, &self.last_day)
    }

    /// The days whose reports can count in this window: those of the window and, before it,
    /// as many as a report of the domain is spread over at most.
    pub fn filed_days(&self, span_days: u32) -> DayRange {
        let back = u64::from(span_days.saturating_sub(1));
        let first = self
            .from
            .checked_sub_days(Days::new(back))
            .unwrap_or(self.from);
        DayRange::new(&first.to_string(), &self.to.to_string())
    }

    pub fn contains(&self, day: &str) -> bool {
        day >= self.first_day.as_str() && day <= self.last_day.as_str()
    }

    /// Each day of the window, in order.
    pub fn each_day(&self) -> impl Iterator<Item = String> + use<> {
        let (from, to) = (self.from, self.to);
        from.iter_days()
            .take_while(move |d| *d <= to)
            .map(|d| d.to_string())
    }
}

/// The domain a request names, if Rampart knows it.
pub async fn known_domain<S: Store>(store: &S, name: &str) -> Result<DomainEntry, QueryError> {
    let name = normalise_domain(name);
    store.domain(&name).await?.ok_or_else(|| {
        QueryError::not_found(
            "unknown_domain",
            format!("{name} is not registered and no report has arrived for it"),
        )
    })
}

/// Calls `f` with each report of a domain that covers at least one day of `window`, in
/// filing order. The store hands reports over one at a time ([`Store::each_report`]), so
/// neither a month of a big domain nor a day a stranger flooded sits in memory at once.
pub async fn each_report_in<S: Store>(
    store: &S,
    domain: &DomainEntry,
    window: &Window,
    mut f: impl FnMut(&StoredReport) + Send,
) -> Result<(), QueryError> {
    let filed = window.filed_days(domain.span_days);
    let mut covering = |report: StoredReport| {
        if Span::of_report(&report.report)
            .days()
            .any(|d| window.contains(d))
        {
            f(&report);
        }
    };
    store
        .each_report(&domain.name, &filed, &mut covering)
        .await?;
    Ok(())
}

/// A share (0 to 1, four decimals) of `part` in `whole`; `None` when `whole` is zero.
pub fn share<N: Into<i128>>(part: N, whole: N) -> Option<f64> {
    let (part, whole) = (part.into(), whole.into());
    (whole > 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(pairs: &[(&str, &str)]) -> Result<Window, QueryError> {
        let pairs = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let params = Params::new(pairs, &["from", "to"])?;
        let range = <request::RangeQuery as request::FromQuery>::from_params(&params)?.range;
        range.window(NaiveDate::from_ymd_opt(2024, 3, 31).unwrap())
    }

    #[test]
    fn ranges_default_to_thirty_days_and_are_bounded() {
        let w = window(&[]).unwrap();
        assert_eq!(
            (w.from.to_string(), w.to.to_string()),
            ("2024-03-02".into(), "2024-03-31".into())
        );
        let w = window(&[("from", "2024-01-01")]).unwrap();
        assert_eq!(w.to.to_string(), "2024-01-30");
        assert_eq!(
            window(&[("from", "2024-02-02"), ("to", "2024-02-01")])
                .unwrap_err()
                .code,
            "invalid_range"
        );
        assert!(
            window(&[("from", "2023-01-01"), ("to", "2024-01-01")]).is_ok(),
            "366 days"
        );
        let long = window(&[("from", "2022-12-31"), ("to", "2024-01-01")]).unwrap_err();
        assert_eq!(long.code, "range_too_long");
        let w = window(&[("from", "2024-03-01"), ("to", "2024-03-03")]).unwrap();
        assert_eq!(
            w.each_day().collect::<Vec<_>>(),
            ["2024-03-01", "2024-03-02", "2024-03-03"]
        );
        assert_eq!(w.filed_days(3), DayRange::new("2024-02-28", "2024-03-03"));
    }
}
