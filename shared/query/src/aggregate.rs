//! Aggregate (DMARC) views of one domain: summary and daily series from the per-day
//! counters, grouped statistics and record search from the records of the range.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::Serialize;

use super::dimension::{Dimension, RecordRef, dmarc_verdict};
use super::request::{RangeQuery, RecordsQuery, StatsQuery};
use super::{Filters, Params, QueryError, Window, each_report_in, known_domain, share};
use rampart_formats::intake::Report;
use rampart_formats::limits::add_counts;
use rampart_formats::time::format_utc;
use rampart_store::tally::{Cell, Counters, Family, Rollup, Span, counter, shown_reporter};
use rampart_store::{Store, StoredReport};

/// `GET /v1/domains/{domain}/summary`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub domain: String,
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    pub messages: i64,
    pub dmarc_pass: i64,
    pub dmarc_fail: i64,
    /// `dmarc_pass / messages`, 0 to 1; null without messages.
    #[schema(minimum = 0, maximum = 1)]
    pub dmarc_pass_share: Option<f64>,
    pub spf_aligned_pass: i64,
    #[schema(minimum = 0, maximum = 1)]
    pub spf_aligned_share: Option<f64>,
    pub dkim_aligned_pass: i64,
    #[schema(minimum = 0, maximum = 1)]
    pub dkim_aligned_share: Option<f64>,
    /// Messages by the disposition the receivers applied (`unknown` when not reported).
    pub dispositions: BTreeMap<String, i64>,
    /// Aggregate reports that begin in the range.
    pub reports: i64,
    /// Distinct reporting organisations with a report covering the range (DMARC or TLS).
    pub reporters: usize,
    pub reporter_names: Vec<String>,
    /// Repairs and skips recorded on the reports that begin in the range.
    pub warnings: i64,
    pub tls: TlsTotals,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TlsTotals {
    pub reports: i64,
    pub successful_sessions: i64,
    pub failed_sessions: i64,
}

/// One day of `GET /v1/domains/{domain}/timeseries`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DayPoint {
    #[schema(format = Date)]
    pub day: String,
    pub messages: i64,
    pub dmarc_pass: i64,
    pub dmarc_fail: i64,
    pub dispositions: BTreeMap<String, i64>,
    pub tls_successful_sessions: i64,
    pub tls_failed_sessions: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Timeseries {
    pub domain: String,
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    pub days: Vec<DayPoint>,
}

/// Adds up counters over days, each sum stopping at [`MAX_COUNT`](rampart_formats::limits::MAX_COUNT).
fn total(days: &[(String, Counters)]) -> Counters {
    let mut sum = Counters::new();
    for (_, counters) in days {
        for (name, n) in counters {
            let total = sum.entry(name.clone()).or_insert(0);
            *total = add_counter(*total, *n);
        }
    }
    sum
}

/// Two stored counter values added: both are within 0..=MAX_COUNT, so is the sum.
pub(crate) fn add_counter(a: i64, b: i64) -> i64 {
    let max = rampart_formats::limits::MAX_COUNT as i64;
    a.clamp(0, max).saturating_add(b.clamp(0, max)).min(max)
}

fn prefixed(counters: &Counters, prefix: &str) -> BTreeMap<String, i64> {
    counters
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_owned(), *v)))
        .filter(|(_, v)| *v != 0)
        .collect()
}

pub async fn summary<S: Store>(
    store: &S,
    domain: &str,
    query: RangeQuery,
    today: NaiveDate,
) -> Result<Summary, QueryError> {
    let window = query.range.window(today)?;
    let entry = known_domain(store, domain).await?;
    let days = store.day_counts(&entry.name, &window.days()).await?;
    let sum = total(&days);
    let get = |name: &str| sum.get(name).copied().unwrap_or(0);
    let messages = get(counter::MESSAGES);
    let reporter_names: Vec<String> = prefixed(&sum, counter::REPORTER)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, _)| shown_reporter(&name).to_owned())
        .collect();
    Ok(Summary {
        domain: entry.name,
        from: window.from.to_string(),
        to: window.to.to_string(),
        messages,
        dmarc_pass: get(counter::DMARC_PASS),
        dmarc_fail: get(counter::DMARC_FAIL),
        dmarc_pass_share: share(get(counter::DMARC_PASS), messages),
        spf_aligned_pass: get(counter::SPF_ALIGNED_PASS),
        spf_aligned_share: share(get(counter::SPF_ALIGNED_PASS), messages),
        dkim_aligned_pass: get(counter::DKIM_ALIGNED_PASS),
        dkim_aligned_share: share(get(counter::DKIM_ALIGNED_PASS), messages),
        dispositions: prefixed(&sum, counter::DISPOSITION),
        reports: get(counter::REPORTS),
        reporters: reporter_names.len(),
        reporter_names,
        warnings: get(counter::WARNINGS),
        tls: TlsTotals {
            reports: get(counter::TLS_REPORTS),
            successful_sessions: get(counter::TLS_SUCCESSFUL),
            failed_sessions: get(counter::TLS_FAILED),
        },
    })
}

pub async fn timeseries<S: Store>(
    store: &S,
    domain: &str,
    query: RangeQuery,
    today: NaiveDate,
) -> Result<Timeseries, QueryError> {
    let window = query.range.window(today)?;
    let entry = known_domain(store, domain).await?;
    let stored: HashMap<String, Counters> = store
        .day_counts(&entry.name, &window.days())
        .await?
        .into_iter()
        .collect();
    let empty = Counters::new();
    let days = window
        .each_day()
        .map(|day| {
            let c = stored.get(&day).unwrap_or(&empty);
            let get = |name: &str| c.get(name).copied().unwrap_or(0);
            DayPoint {
                messages: get(counter::MESSAGES),
                dmarc_pass: get(counter::DMARC_PASS),
                dmarc_fail: get(counter::DMARC_FAIL),
                dispositions: prefixed(c, counter::DISPOSITION),
                tls_successful_sessions: get(counter::TLS_SUCCESSFUL),
                tls_failed_sessions: get(counter::TLS_FAILED),
                day,
            }
        })
        .collect();
    Ok(Timeseries {
        domain: entry.name,
        from: window.from.to_string(),
        to: window.to.to_string(),
        days,
    })
}

/// `GET /v1/domains/{domain}/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub groups: Vec<Group>,
    /// The cursor of the next page, or null on the last one.
    pub next: Option<String>,
    /// Groups over all pages.
    pub total_groups: usize,
    /// True when the per-day counters answered (a few small reads); false when every record
    /// of the range was read (see `docs/query.md`).
    pub counted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Group {
    /// The value of each grouped dimension; null where a record has none (e.g. no DKIM).
    #[schema(schema_with = crate::schema::group_key)]
    pub key: BTreeMap<&'static str, Option<String>>,
    pub messages: u64,
    pub dmarc_pass: u64,
    pub dmarc_fail: u64,
}

pub const MAX_PAGE: usize = 1000;
/// The orders `sort` takes.
pub const SORTS: [&str; 8] = [
    "-messages",
    "messages",
    "-dmarc_pass",
    "dmarc_pass",
    "-dmarc_fail",
    "dmarc_fail",
    "key",
    "-key",
];

/// Each record of a report that passes the filters, with its count in the window spread
/// over its days: `f(record, day, share)` for every day in the window that the day filter
/// accepts.
pub(super) fn record_days<'a>(
    stored: &'a StoredReport,
    window: &Window,
    filters: &Filters,
    mut f: impl FnMut(RecordRef<'a>, &str, u64),
) {
    let Report::Aggregate(report) = &stored.report else {
        return;
    };
    let span = Span::of_report(&stored.report);
    for record in &report.records {
        let r = RecordRef {
            report,
            sources: &stored.sources,
            record,
        };
        if !filters.accepts_record(&r) {
            continue;
        }
        for (day, n) in span.spread(record.count) {
            if n > 0 && window.contains(day) && filters.accepts_day(day) {
                f(r, day, n);
            }
        }
    }
}

/// Message counts by group key: messages, DMARC pass, DMARC fail.
type Grouped = HashMap<Vec<Option<String>>, [u64; 3]>;

fn add_to(groups: &mut Grouped, key: Vec<Option<String>>, n: u64, pass: bool) {
    let g = groups.entry(key).or_insert([0; 3]);
    let verdict = if pass { 1 } else { 2 };
    g[0] = add_counts(g[0], n);
    g[verdict] = add_counts(g[verdict], n);
}

/// Counters that answer grouped statistics without reading records: the reporter cells or
/// one of the roll-up families of [`rampart_store::tally`]. Each carries three dimensions;
/// the day is the day item's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CounterSource {
    Cells,
    Rollup(Family),
}

impl CounterSource {
    const ALL: [CounterSource; 4] = [
        CounterSource::Cells,
        CounterSource::Rollup(Family::Class),
        CounterSource::Rollup(Family::Geo),
        CounterSource::Rollup(Family::Service),
    ];

    fn dimensions(self) -> [Dimension; 3] {
        use Dimension::*;
        match self {
            CounterSource::Cells => [Reporter, Disposition, Dmarc],
            CounterSource::Rollup(Family::Class) => [Classification, Dmarc, Disposition],
            CounterSource::Rollup(Family::Geo) => [Country, Classification, Dmarc],
            CounterSource::Rollup(Family::Service) => [Service, Classification, Dmarc],
        }
    }

    /// The first source that carries every dimension of `needed`.
    fn covering(needed: &[Dimension]) -> Option<CounterSource> {
        CounterSource::ALL.into_iter().find(|source| {
            needed
                .iter()
                .all(|d| *d == Dimension::Day || source.dimensions().contains(d))
        })
    }

    /// The values of [`Self::dimensions`] in one counter name, if it is one of this source.
    fn read(self, name: &str) -> Option<[Option<&str>; 3]> {
        match self {
            CounterSource::Cells => {
                let cell = Cell::parse(name)?;
                Some([Some(cell.reporter), cell.disposition, Some(cell.dmarc)])
            }
            CounterSource::Rollup(family) => {
                let rollup = Rollup::parse(name).filter(|r| r.family == family)?;
                Some(rollup.values.map(|v| (!v.is_empty()).then_some(v)))
            }
        }
    }
}

/// Groups from the per-day counters of `source`, reading one small item per day and no
/// record; `None` when a day's roll-ups do not add up to its messages (reports stored before
/// the roll-ups existed), so the records must answer.
async fn counted_groups<S: Store>(
    store: &S,
    entry: &rampart_store::DomainEntry,
    window: &Window,
    filters: &Filters,
    group_by: &[Dimension],
    source: CounterSource,
) -> Result<Option<Grouped>, QueryError> {
    let dimensions = source.dimensions();
    let mut groups = Grouped::new();
    for (day, counters) in store.day_counts(&entry.name, &window.days()).await? {
        let mut rolled_up: i64 = 0;
        for (name, n) in &counters {
            let Some(values) = source.read(name) else {
                continue;
            };
            rolled_up = add_counter(rolled_up, *n);
            let value_of = |d: Dimension| {
                if d == Dimension::Day {
                    return Some(day.clone());
                }
                let at = dimensions.iter().position(|x| *x == d)?;
                values[at].map(str::to_owned)
            };
            let Ok(n) = u64::try_from(*n) else { continue };
            if n == 0 || !filters.accepts_values(value_of) {
                continue;
            }
            let key = group_by.iter().map(|d| value_of(*d)).collect();
            let pass = value_of(Dimension::Dmarc).as_deref() == Some("pass");
            add_to(&mut groups, key, n, pass);
        }
        let messages = counters.get(counter::MESSAGES).copied().unwrap_or(0);
        if matches!(source, CounterSource::Rollup(_)) && rolled_up != messages {
            return Ok(None);
        }
    }
    Ok(Some(groups))
}

/// Groups from the records of the range, for every other group-by or filter.
async fn record_groups<S: Store>(
    store: &S,
    entry: &rampart_store::DomainEntry,
    window: &Window,
    filters: &Filters,
    group_by: &[Dimension],
) -> Result<Grouped, QueryError> {
    let mut groups = Grouped::new();
    let mut values: Vec<Vec<String>> = vec![Vec::new(); group_by.len()];
    each_report_in(store, entry, window, |stored| {
        record_days(stored, window, filters, |r, day, n| {
            for (dim, out) in group_by.iter().zip(values.iter_mut()) {
                out.clear();
                if *dim == Dimension::Day {
                    out.push(day.to_owned());
                } else {
                    dim.values(&r, out);
                }
            }
            let pass = dmarc_verdict(r.record) == "pass";
            for key in combinations(&values) {
                add_to(&mut groups, key, n, pass);
            }
        });
    })
    .await?;
    Ok(groups)
}

pub async fn stats<S: Store>(
    store: &S,
    domain: &str,
    query: StatsQuery,
    today: NaiveDate,
) -> Result<Stats, QueryError> {
    let window = query.range.window(today)?;
    let StatsQuery {
        filters,
        group_by,
        sort,
        page: at,
        ..
    } = query;
    let (limit, offset) = (at.limit, at.offset);
    let entry = known_domain(store, domain).await?;
    let needed: Vec<Dimension> = group_by
        .iter()
        .copied()
        .chain(filters.dimensions())
        .collect();
    let counted = match CounterSource::covering(&needed) {
        Some(source) => counted_groups(store, &entry, &window, &filters, &group_by, source).await?,
        None => None,
    };
    let from_counters = counted.is_some();
    let groups = match counted {
        Some(groups) => groups,
        None => record_groups(store, &entry, &window, &filters, &group_by).await?,
    };

    let mut groups: Vec<(Vec<Option<String>>, [u64; 3])> = groups.into_iter().collect();
    let (field, descending) = match sort.strip_prefix('-') {
        Some(f) => (f, true),
        None => (sort, false),
    };
    let column = match field {
        "messages" => Some(0),
        "dmarc_pass" => Some(1),
        "dmarc_fail" => Some(2),
        _ => None,
    };
    groups.sort_by(|a, b| {
        let by_count = column.map_or(std::cmp::Ordering::Equal, |c| a.1[c].cmp(&b.1[c]));
        let by_count = if descending {
            by_count.reverse()
        } else {
            by_count
        };
        let by_key = if column.is_none() && descending {
            b.0.cmp(&a.0)
        } else {
            a.0.cmp(&b.0)
        };
        by_count.then(by_key)
    });
    let total_groups = groups.len();
    let page = groups
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(key, [messages, dmarc_pass, dmarc_fail])| Group {
            key: group_by.iter().map(|d| d.name()).zip(key).collect(),
            messages,
            dmarc_pass,
            dmarc_fail,
        })
        .collect();
    Ok(Stats {
        groups: page,
        next: at.next(total_groups),
        total_groups,
        counted: from_counters,
    })
}

pub(crate) fn group_by(params: &Params) -> Result<Vec<Dimension>, QueryError> {
    let names = params.list("group_by").unwrap_or_default();
    if names.is_empty() || names.len() > 2 {
        return Err(QueryError::bad_request(
            "invalid_group_by",
            format!(
                "group_by takes one or two of: {}",
                Dimension::names().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let mut dims = Vec::new();
    for name in names {
        let dim = Dimension::from_name(name).ok_or_else(|| {
            QueryError::bad_request(
                "invalid_group_by",
                format!(
                    "{name:?} is not a dimension; use one of: {}",
                    Dimension::names().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        if dims.contains(&dim) {
            return Err(QueryError::bad_request(
                "invalid_group_by",
                format!("{name} is named twice in group_by"),
            ));
        }
        dims.push(dim);
    }
    Ok(dims)
}

/// Every key a record falls under: one value per dimension, `None` where it has none. A
/// record with two DKIM domains counts under each of them.
fn combinations(values: &[Vec<String>]) -> Vec<Vec<Option<String>>> {
    let mut keys: Vec<Vec<Option<String>>> = vec![Vec::new()];
    for vals in values {
        let options: Vec<Option<String>> = if vals.is_empty() {
            vec![None]
        } else {
            vals.iter().cloned().map(Some).collect()
        };
        keys = keys
            .into_iter()
            .flat_map(|k| {
                options.iter().map(move |o| {
                    let mut k = k.clone();
                    k.push(o.clone());
                    k
                })
            })
            .collect();
    }
    keys
}

/// One row of `GET /v1/domains/{domain}/records`: a record as the reporter sent it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RecordRow {
    /// Rampart's id of the report (for `/v1/reports/{id}`).
    pub report: String,
    pub reporter: String,
    pub report_id: String,
    #[schema(format = DateTime)]
    pub begin: Option<String>,
    #[schema(format = DateTime)]
    pub end: Option<String>,
    /// The day the report is filed under (its first day).
    pub day: String,
    pub source_ip: String,
    pub count: u64,
    /// A count above 2^53 − 1 as sent (`count` is then 0; no total includes it).
    pub invalid_count: Option<String>,
    pub disposition: Option<String>,
    #[schema(schema_with = crate::schema::dmarc_verdict)]
    pub dmarc: &'static str,
    pub dkim_aligned: Option<String>,
    pub spf_aligned: Option<String>,
    pub header_from: Option<String>,
    pub envelope_from: Option<String>,
    pub envelope_to: Option<String>,
    pub dkim: Vec<DkimRow>,
    pub spf: Vec<SpfRow>,
    /// Policy override reasons (`forwarded`, `mailing_list`, ...).
    pub reasons: Vec<String>,
}

/// One DKIM result of a record.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DkimRow {
    pub domain: Option<String>,
    pub selector: Option<String>,
    pub result: Option<String>,
}

/// One SPF result of a record.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SpfRow {
    pub domain: Option<String>,
    pub scope: Option<String>,
    pub result: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Records {
    pub records: Vec<RecordRow>,
    pub next: Option<String>,
    pub total: usize,
}

/// The requested form of a record search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    Json,
    Csv,
}

pub const MAX_RECORDS_PAGE: usize = 10_000;

pub async fn records<S: Store>(
    store: &S,
    domain: &str,
    query: RecordsQuery,
    today: NaiveDate,
) -> Result<(Records, RecordFormat), QueryError> {
    let window = query.range.window(today)?;
    let RecordsQuery {
        q,
        format,
        page,
        filters,
        ..
    } = query;
    let (limit, offset) = (page.limit, page.offset);
    let entry = known_domain(store, domain).await?;
    let mut rows = Vec::new();
    let mut total = 0;
    each_report_in(store, &entry, &window, |stored| {
        let Report::Aggregate(report) = &stored.report else {
            return;
        };
        let span = Span::of_report(&stored.report);
        if !span
            .days()
            .any(|d| window.contains(d) && filters.accepts_day(d))
        {
            return;
        }
        for record in &report.records {
            let r = RecordRef {
                report,
                sources: &stored.sources,
                record,
            };
            if !filters.accepts_record(&r) {
                continue;
            }
            if q.as_deref().is_some_and(|q| !mentions(stored, &r, q)) {
                continue;
            }
            total += 1;
            if total > offset && rows.len() < limit {
                rows.push(record_row(stored, &r, span.first_day()));
            }
        }
    })
    .await?;
    Ok((
        Records {
            records: rows,
            next: page.next(total),
            total,
        },
        format,
    ))
}

/// Free-text search: an IP, a domain, an organisation or a report id containing `q`.
fn mentions(stored: &StoredReport, r: &RecordRef<'_>, q: &str) -> bool {
    let has = |s: &str| s.to_lowercase().contains(q);
    let opt = |s: &Option<String>| s.as_deref().is_some_and(has);
    let rec = r.record;
    has(&rec.source_ip.to_string())
        || has(&r.report.metadata.org_name)
        || has(&r.report.metadata.report_id)
        || has(stored.id.as_str())
        || opt(&rec.identifiers.header_from)
        || opt(&rec.identifiers.envelope_from)
        || opt(&rec.identifiers.envelope_to)
        || rec.auth_results.dkim.iter().any(|a| opt(&a.domain))
        || rec.auth_results.spf.iter().any(|a| opt(&a.domain))
}

fn record_row(stored: &StoredReport, r: &RecordRef<'_>, day: &str) -> RecordRow {
    let rec = r.record;
    let eval = &rec.policy_evaluated;
    let text = |v: Option<&str>| v.map(str::to_owned);
    RecordRow {
        report: stored.id.as_str().to_owned(),
        reporter: r.report.metadata.org_name.clone(),
        report_id: r.report.metadata.report_id.clone(),
        begin: r.report.metadata.begin.map(format_utc),
        end: r.report.metadata.end.map(format_utc),
        day: day.to_owned(),
        source_ip: rec.source_ip.to_string(),
        count: rec.count,
        invalid_count: rec.invalid_count.clone(),
        disposition: text(eval.disposition.as_ref().map(|d| d.as_str())),
        dmarc: dmarc_verdict(rec),
        dkim_aligned: text(eval.dkim.as_ref().map(|d| d.as_str())),
        spf_aligned: text(eval.spf.as_ref().map(|d| d.as_str())),
        header_from: rec.identifiers.header_from.clone(),
        envelope_from: rec.identifiers.envelope_from.clone(),
        envelope_to: rec.identifiers.envelope_to.clone(),
        dkim: rec
            .auth_results
            .dkim
            .iter()
            .map(|a| DkimRow {
                domain: a.domain.clone(),
                selector: a.selector.clone(),
                result: text(a.result.as_ref().map(|v| v.as_str())),
            })
            .collect(),
        spf: rec
            .auth_results
            .spf
            .iter()
            .map(|a| SpfRow {
                domain: a.domain.clone(),
                scope: text(a.scope.as_ref().map(|s| s.as_str())),
                result: text(a.result.as_ref().map(|v| v.as_str())),
            })
            .collect(),
        reasons: eval
            .reasons
            .iter()
            .filter_map(|x| x.kind.as_ref().map(|k| k.as_str().to_owned()))
            .collect(),
    }
}

/// The rows as CSV, one line per record; DKIM and SPF results as `domain:selector:result`
/// and `domain:scope:result`, separated by spaces. Every cell is report text a stranger
/// wrote, so one a spreadsheet would run as a formula is [neutralised](spreadsheet_safe).
pub fn records_csv(rows: &[RecordRow]) -> Result<Vec<u8>, QueryError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let failed = |e: &dyn std::fmt::Display| QueryError {
        kind: super::ErrorKind::Internal,
        code: "csv_failed",
        message: e.to_string(),
    };
    w.write_record([
        "report",
        "reporter",
        "report_id",
        "begin",
        "end",
        "day",
        "source_ip",
        "count",
        "invalid_count",
        "disposition",
        "dmarc",
        "dkim_aligned",
        "spf_aligned",
        "header_from",
        "envelope_from",
        "envelope_to",
        "dkim",
        "spf",
        "reasons",
    ])
    .map_err(|e| failed(&e))?;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let auth = |triples: Vec<[&Option<String>; 3]>| {
        triples
            .into_iter()
            .map(|[a, b, c]| format!("{}:{}:{}", opt(a), opt(b), opt(c)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for r in rows {
        let cells = [
            r.report.clone(),
            r.reporter.clone(),
            r.report_id.clone(),
            opt(&r.begin),
            opt(&r.end),
            r.day.clone(),
            r.source_ip.clone(),
            r.count.to_string(),
            opt(&r.invalid_count),
            opt(&r.disposition),
            r.dmarc.to_owned(),
            opt(&r.dkim_aligned),
            opt(&r.spf_aligned),
            opt(&r.header_from),
            opt(&r.envelope_from),
            opt(&r.envelope_to),
            auth(
                r.dkim
                    .iter()
                    .map(|a| [&a.domain, &a.selector, &a.result])
                    .collect(),
            ),
            auth(
                r.spf
                    .iter()
                    .map(|a| [&a.domain, &a.scope, &a.result])
                    .collect(),
            ),
            r.reasons.join(" "),
        ];
        w.write_record(cells.iter().map(|c| spreadsheet_safe(c).into_owned()))
            .map_err(|e| failed(&e))?;
    }
    w.into_inner().map_err(|e| failed(&e))
}

/// A cell that Excel, LibreOffice or Google Sheets would read as a formula (it starts with
/// `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, which they show as
/// text (OWASP "CSV injection").
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_start_a_formula_are_shown_as_text() {
        for (cell, shown) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("192.0.2.1", "192.0.2.1"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(cell), shown, "{cell:?}");
        }
    }
}
