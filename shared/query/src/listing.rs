//! Listings: a domain's reports, one report with its raw message, TLS reports, and how
//! each ingested message ended.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::request::{MessagesQuery, ReportsQuery, TlsQuery};
use super::{ErrorKind, QueryError, Window, each_report_in, known_domain};
use rampart_formats::identity::ReportId;
use rampart_formats::intake::Report;
use rampart_formats::limits::add_counts;
use rampart_formats::time::format_utc;
use rampart_store::body::EnrichedReport;
use rampart_store::tally::Span;
use rampart_store::{MessagePosition, MessageRecord, RawKey, RawRead, Store, StoredReport};

/// The largest page of the report, message and TLS failure listings.
pub const MAX_PAGE: usize = 1000;

/// One report in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportItem {
    pub id: String,
    /// `aggregate` or `tlsrpt`.
    #[schema(schema_with = crate::schema::report_kind)]
    pub kind: &'static str,
    pub reporter: String,
    pub report_id: String,
    #[schema(format = DateTime)]
    pub begin: Option<String>,
    #[schema(format = DateTime)]
    pub end: Option<String>,
    pub day: String,
    /// Messages (aggregate) or TLS sessions.
    pub messages: u64,
    /// Records (aggregate) or policies (TLS).
    pub records: u64,
    pub warnings: usize,
    #[schema(format = DateTime)]
    pub received_at: String,
}

impl ReportItem {
    fn of(r: &StoredReport) -> ReportItem {
        let sum = r.summary();
        ReportItem {
            id: r.id.as_str().to_owned(),
            kind: r.report.kind(),
            reporter: sum.org,
            report_id: sum.report_id,
            begin: sum.begin.map(format_utc),
            end: sum.end.map(format_utc),
            day: r.day(),
            messages: sum.messages,
            records: sum.records,
            warnings: r.report.warnings().len(),
            received_at: format_utc(r.received_at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportList {
    pub reports: Vec<ReportItem>,
    pub next: Option<String>,
    pub total: usize,
}

/// `GET /v1/domains/{domain}/reports`: reports covering the range, by day.
pub async fn reports<S: Store>(
    store: &S,
    domain: &str,
    query: ReportsQuery,
    today: NaiveDate,
) -> Result<ReportList, QueryError> {
    let window = query.range.window(today)?;
    let ReportsQuery {
        kind,
        reporters,
        page,
        ..
    } = query;
    let (limit, offset) = (page.limit, page.offset);
    let entry = known_domain(store, domain).await?;
    let mut listed: Vec<ReportItem> = Vec::new();
    each_report_in(store, &entry, &window, |r| {
        let item = ReportItem::of(r);
        let wanted = (kind == "all" || item.kind == kind)
            && reporters
                .as_ref()
                .is_none_or(|want| want.contains(&item.reporter.to_lowercase()));
        if wanted {
            listed.push(item);
        }
    })
    .await?;
    let total = listed.len();
    Ok(ReportList {
        reports: listed.into_iter().skip(offset).take(limit).collect(),
        next: page.next(total),
        total,
    })
}

/// `GET /v1/reports/{id}`: everything stored about one report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportDetail {
    pub id: String,
    pub domain: String,
    pub day: String,
    #[schema(format = DateTime)]
    pub received_at: String,
    /// The key of the raw message that carried it (`/v1/reports/{id}/raw` downloads it).
    pub message: String,
    #[schema(value_type = Object)]
    pub origin: rampart_formats::intake::Origin,
    /// Header facts and SES verdicts of the carrying mail; null for an upload.
    #[schema(value_type = Option<Object>)]
    pub mail: Option<rampart_formats::mail::MessageFacts>,
    /// The report, with `sources` (what ingest learnt of each source address) in an
    /// aggregate report.
    #[schema(schema_with = crate::schema::report_body)]
    pub report: EnrichedReport,
}

fn report_id(id: &str) -> Result<ReportId, QueryError> {
    ReportId::from_hex(id).ok_or_else(|| {
        QueryError::not_found("unknown_report", format!("no report has the id {id:?}"))
    })
}

async fn stored_report<S: Store>(store: &S, id: &str) -> Result<StoredReport, QueryError> {
    store.report(&report_id(id)?).await?.ok_or_else(|| {
        QueryError::not_found("unknown_report", format!("no report has the id {id:?}"))
    })
}

pub async fn report<S: Store>(store: &S, id: &str) -> Result<ReportDetail, QueryError> {
    let r = stored_report(store, id).await?;
    Ok(ReportDetail {
        id: r.id.as_str().to_owned(),
        domain: r.domain(),
        day: r.day(),
        received_at: format_utc(r.received_at),
        message: r.message.as_str().to_owned(),
        origin: r.origin,
        mail: r.mail,
        report: EnrichedReport {
            report: r.report,
            sources: r.sources,
        },
    })
}

/// The raw message that carried a report.
pub async fn report_raw<S: Store>(
    store: &S,
    id: &str,
    max_bytes: u64,
) -> Result<Vec<u8>, QueryError> {
    let r = stored_report(store, id).await?;
    raw_bytes(store, &r.message, max_bytes).await
}

/// A raw message by its key.
pub async fn message_raw<S: Store>(
    store: &S,
    key: &str,
    max_bytes: u64,
) -> Result<Vec<u8>, QueryError> {
    let key = RawKey::new(key).map_err(|_| {
        QueryError::not_found("unknown_message", format!("no message has the key {key:?}"))
    })?;
    raw_bytes(store, &key, max_bytes).await
}

async fn raw_bytes<S: Store>(store: &S, key: &RawKey, max: u64) -> Result<Vec<u8>, QueryError> {
    match store.get_raw(key, max).await? {
        RawRead::Bytes(b) => Ok(b),
        RawRead::TooLarge { size } => Err(QueryError {
            kind: ErrorKind::TooLarge,
            code: "raw_too_large",
            message: format!(
                "message {key} is {size} bytes, over the {max} bytes this API sends; \
                 fetch it from the raw store"
            ),
        }),
        RawRead::Missing => Err(QueryError::not_found(
            "unknown_message",
            format!("no raw message is stored under {key}"),
        )),
    }
}

/// `GET /v1/messages`: how ingested messages ended, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MessageList {
    pub messages: Vec<MessageRecord>,
    /// The cursor of the next page, or null on the last one.
    pub next: Option<String>,
}

/// Reads one page of each outcome asked for at the store (one record more than the page,
/// to know whether another follows), newest first, and merges them.
pub async fn messages<S: Store>(
    store: &S,
    query: MessagesQuery,
) -> Result<MessageList, QueryError> {
    let MessagesQuery { outcomes, page: at } = query;
    let limit = at.limit;
    let after = at.after.as_deref().map(message_position).transpose()?;
    let mut page = Vec::new();
    for outcome in outcomes {
        page.extend(store.messages(outcome, after.as_ref(), limit + 1).await?);
    }
    page.sort_by(|a, b| (b.processed_at, &b.key).cmp(&(a.processed_at, &a.key)));
    let next = (page.len() > limit).then(|| {
        page.truncate(limit);
        let last = page[limit - 1].position();
        at.next(&format!("{}/{}", last.processed_at, last.key))
    });
    Ok(MessageList {
        messages: page,
        next,
    })
}

/// A message cursor's position: `<processed_at>/<key>`.
fn message_position(cursor: &str) -> Result<MessagePosition, QueryError> {
    let invalid = || {
        QueryError::bad_request(
            "invalid_cursor",
            "cursor is not one this query issued; start again without it",
        )
    };
    let (at, key) = cursor.split_once('/').ok_or_else(invalid)?;
    Ok(MessagePosition {
        processed_at: at.parse().map_err(|_| invalid())?,
        key: RawKey::new(key).map_err(|_| invalid())?,
    })
}

/// `GET /v1/domains/{domain}/tls`: TLS sessions of the range, by the ways users slice them.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TlsView {
    pub domain: String,
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    pub reports: usize,
    pub successful_sessions: u64,
    pub failed_sessions: u64,
    pub by_policy_type: Vec<SessionGroup>,
    pub by_reporter: Vec<SessionGroup>,
    /// Failure dimensions: only failed sessions carry them (RFC 8460 §4.3).
    pub by_result_type: Vec<FailureGroup>,
    pub by_receiving_mx: Vec<FailureGroup>,
    pub by_sending_mta_ip: Vec<FailureGroup>,
    pub failures: Vec<FailureRow>,
    pub next: Option<String>,
    pub total_failures: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SessionGroup {
    pub value: Option<String>,
    pub successful_sessions: u64,
    pub failed_sessions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FailureGroup {
    pub value: Option<String>,
    pub failed_sessions: u64,
}

/// One failure detail, readable.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FailureRow {
    pub report: String,
    pub reporter: Option<String>,
    pub day: String,
    pub policy_type: Option<String>,
    pub policy_domain: Option<String>,
    pub result_type: Option<String>,
    pub sending_mta_ip: Option<String>,
    pub receiving_mx_hostname: Option<String>,
    pub receiving_mx_helo: Option<String>,
    pub receiving_ip: Option<String>,
    pub failed_sessions: u64,
    pub additional_information: Option<String>,
    pub failure_reason_code: Option<String>,
}

/// Counts in the window of a report spread over `span`.
fn in_window(span: &Span, window: &Window, count: u64) -> u64 {
    span.spread(count)
        .filter(|(d, _)| window.contains(d))
        .fold(0, |sum, (_, n)| add_counts(sum, n))
}

pub async fn tls<S: Store>(
    store: &S,
    domain: &str,
    query: TlsQuery,
    today: NaiveDate,
) -> Result<TlsView, QueryError> {
    let window = query.range.window(today)?;
    let page = query.page;
    let (limit, offset) = (page.limit, page.offset);
    let entry = known_domain(store, domain).await?;
    let mut sessions: [BTreeMap<Option<String>, [u64; 2]>; 2] = Default::default();
    let mut failures: [BTreeMap<Option<String>, u64>; 3] = Default::default();
    let mut rows = Vec::new();
    let (mut count, mut ok, mut failed) = (0, 0, 0);
    each_report_in(store, &entry, &window, |stored| {
        let Report::Tls(r) = &stored.report else {
            return;
        };
        count += 1;
        let span = Span::of_report(&stored.report);
        let day = span.first_day().to_owned();
        for p in &r.policies {
            let s = in_window(
                &span,
                &window,
                p.summary.total_successful_session_count.unwrap_or(0),
            );
            let f = in_window(
                &span,
                &window,
                p.summary.total_failure_session_count.unwrap_or(0),
            );
            ok = add_counts(ok, s);
            failed = add_counts(failed, f);
            let policy_type = p.policy.policy_type.as_ref().map(|t| t.as_str().to_owned());
            for (groups, value) in sessions
                .iter_mut()
                .zip([policy_type.clone(), r.organization_name.clone()])
            {
                let g = groups.entry(value).or_default();
                g[0] = add_counts(g[0], s);
                g[1] = add_counts(g[1], f);
            }
            for d in &p.failure_details {
                let n = in_window(&span, &window, d.failed_session_count.unwrap_or(0));
                let result_type = d.result_type.as_ref().map(|t| t.as_str().to_owned());
                let keys = [
                    result_type.clone(),
                    d.receiving_mx_hostname.clone(),
                    d.sending_mta_ip.clone(),
                ];
                for (groups, key) in failures.iter_mut().zip(keys) {
                    let total = groups.entry(key).or_default();
                    *total = add_counts(*total, n);
                }
                rows.push(FailureRow {
                    report: stored.id.as_str().to_owned(),
                    reporter: r.organization_name.clone(),
                    day: day.clone(),
                    policy_type: policy_type.clone(),
                    policy_domain: p.policy.policy_domain.clone(),
                    result_type,
                    sending_mta_ip: d.sending_mta_ip.clone(),
                    receiving_mx_hostname: d.receiving_mx_hostname.clone(),
                    receiving_mx_helo: d.receiving_mx_helo.clone(),
                    receiving_ip: d.receiving_ip.clone(),
                    failed_sessions: d.failed_session_count.unwrap_or(0),
                    additional_information: d.additional_information.clone(),
                    failure_reason_code: d.failure_reason_code.clone(),
                });
            }
        }
    })
    .await?;
    let [by_policy_type, by_reporter] = sessions.map(|g| {
        let mut v: Vec<SessionGroup> = g
            .into_iter()
            .map(|(value, [s, f])| SessionGroup {
                value,
                successful_sessions: s,
                failed_sessions: f,
            })
            .collect();
        v.sort_by(|a, b| {
            add_counts(b.successful_sessions, b.failed_sessions)
                .cmp(&add_counts(a.successful_sessions, a.failed_sessions))
                .then_with(|| a.value.cmp(&b.value))
        });
        v
    });
    let [by_result_type, by_receiving_mx, by_sending_mta_ip] = failures.map(|g| {
        let mut v: Vec<FailureGroup> = g
            .into_iter()
            .map(|(value, failed_sessions)| FailureGroup {
                value,
                failed_sessions,
            })
            .collect();
        v.sort_by(|a, b| {
            b.failed_sessions
                .cmp(&a.failed_sessions)
                .then_with(|| a.value.cmp(&b.value))
        });
        v
    });
    let total_failures = rows.len();
    Ok(TlsView {
        domain: entry.name,
        from: window.from.to_string(),
        to: window.to.to_string(),
        reports: count,
        successful_sessions: ok,
        failed_sessions: failed,
        by_policy_type,
        by_reporter,
        by_result_type,
        by_receiving_mx,
        by_sending_mta_ip,
        failures: rows.into_iter().skip(offset).take(limit).collect(),
        next: page.next(total_failures),
        total_failures,
    })
}
