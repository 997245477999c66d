//! The query parameters of each resource as a typed struct: what it accepts, documented once.
//!
//! A struct's [`IntoParams`] is both the OpenAPI description of its parameters and the list
//! of names the API accepts (anything else is `unknown_parameter`); [`FromQuery`] reads the
//! checked [`Params`] into typed values with the error codes of [`Params`]' getters. The
//! values a request needs "now" for (the default date range) stay unresolved until the query
//! runs: see [`Range::window`].

use chrono::NaiveDate;
use rampart_store::Outcome;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Object, Required};

use crate::aggregate::{self, RecordFormat};
use crate::dimension::{Dimension, Filters};
use crate::params::{Params, key_cursor};
use crate::{QueryError, Window};

/// Builds a typed request from parameters already checked for unknown and repeated names.
pub trait FromQuery: IntoParams + Sized {
    fn from_params(params: &Params) -> Result<Self, QueryError>;

    /// The names this request accepts: those its parameters document.
    fn names() -> Vec<String> {
        Self::into_params(|| Some(ParameterIn::Query))
            .into_iter()
            .map(|p| p.name)
            .collect()
    }
}

/// Reads a request of type `T` from query-string pairs: unknown and repeated names are
/// refused, then the values are checked.
pub fn from_pairs<T: FromQuery>(pairs: Vec<(String, String)>) -> Result<T, QueryError> {
    let names = T::names();
    let allowed: Vec<&str> = names.iter().map(String::as_str).collect();
    T::from_params(&Params::new(pairs, &allowed)?)
}

/// The default page size of every listing.
pub const DEFAULT_PAGE: usize = 100;

fn query_parameter(name: &str, schema: Object, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn one_of(values: &[&str]) -> Object {
    string().enum_values(Some(values.iter().copied())).build()
}

/// No parameters at all: anything given is refused.
#[derive(Debug, Default)]
pub struct NoQuery;

impl IntoParams for NoQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        Vec::new()
    }
}

impl FromQuery for NoQuery {
    fn from_params(_: &Params) -> Result<Self, QueryError> {
        Ok(NoQuery)
    }
}

/// `from` and `to`, as given; [`Range::window`] fills in what is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Range {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Range {
    fn read(params: &Params) -> Result<Range, QueryError> {
        Ok(Range {
            to: params.date("to")?,
            from: params.date("from")?,
        })
    }

    fn parameters() -> Vec<Parameter> {
        let day = |example: &str| {
            string()
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
                .examples([example])
                .build()
        };
        vec![
            query_parameter(
                "from",
                day("2022-09-01"),
                "first UTC day, inclusive (default: 29 days before `to`)",
            ),
            query_parameter(
                "to",
                day("2022-11-30"),
                "last UTC day, inclusive (default: today, or 29 days after `from`)",
            ),
        ]
    }

    /// The days covered, with `today` for the default.
    pub fn window(&self, today: NaiveDate) -> Result<Window, QueryError> {
        Window::new(self.from, self.to, today)
    }
}

/// A page of a listing counted by position: `limit` rows from `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    pub offset: usize,
    /// Of every other parameter: a cursor fits only the query that issued it.
    fingerprint: String,
}

impl Page {
    fn read(params: &Params, max: usize) -> Result<Page, QueryError> {
        Ok(Page {
            limit: params.limit(DEFAULT_PAGE, max)?,
            offset: params.cursor()?,
            fingerprint: params.fingerprint(),
        })
    }

    fn parameters(max: usize, cursor: &str) -> Vec<Parameter> {
        let limit = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(max as f64))
            .build();
        vec![
            query_parameter("limit", limit, "page size (default 100)"),
            query_parameter("cursor", string().build(), cursor),
        ]
    }

    /// The cursor of the next page, when `total` rows go past this one.
    pub fn next(&self, total: usize) -> Option<String> {
        // offset is at most MAX_OFFSET and limit a page: no overflow.
        let end = self.offset + self.limit;
        (end < total).then(|| format!("{end}.{}", self.fingerprint))
    }
}

/// A page of a listing read at the store by key: `limit` rows after the key `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    pub limit: usize,
    pub after: Option<String>,
    fingerprint: String,
}

impl KeyPage {
    fn read(params: &Params, max: usize) -> Result<KeyPage, QueryError> {
        Ok(KeyPage {
            limit: params.limit(DEFAULT_PAGE, max)?,
            after: params.key_cursor()?,
            fingerprint: params.fingerprint(),
        })
    }

    /// The cursor of the page after one whose last key is `last`.
    pub fn next(&self, last: &str) -> String {
        key_cursor(last, &self.fingerprint)
    }
}

const CURSOR: &str = "the `next` of the previous page";

/// Every dimension as a filter, with examples that name data of the bundled samples so a
/// fuzzer reaches past empty answers.
fn filter_parameters() -> Vec<Parameter> {
    Dimension::ALL
        .into_iter()
        .map(|d| {
            let example = match d {
                Dimension::SourceIp => Some("192.0.2.0/24,2001:db8::/32"),
                Dimension::Dmarc => Some("pass"),
                Dimension::Day => Some("2022-11-08"),
                Dimension::Disposition => Some("none"),
                Dimension::Reporter => Some("google.com"),
                Dimension::Country => Some("US,DE"),
                Dimension::Asn => Some("15169,AS8075"),
                Dimension::Service => Some("google,sendgrid"),
                Dimension::Classification => Some("suspicious,misconfigured"),
                _ => None,
            };
            let schema = match example {
                Some(e) => string().examples([e]).build(),
                None => string().build(),
            };
            let networks = if d == Dimension::SourceIp {
                " (addresses or CIDR networks)"
            } else {
                ""
            };
            let description = format!(
                "only records whose {} is one of these comma-separated values{networks}",
                d.name()
            );
            query_parameter(d.name(), schema, &description)
        })
        .collect()
}

/// `GET /v1/domains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainsQuery {
    pub page: KeyPage,
}

impl IntoParams for DomainsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        Page::parameters(crate::domains::MAX_PAGE, CURSOR)
    }
}

impl FromQuery for DomainsQuery {
    fn from_params(params: &Params) -> Result<Self, QueryError> {
        Ok(DomainsQuery {
            page: KeyPage::read(params, crate::domains::MAX_PAGE)?,
        })
    }
}

/// `DELETE /v1/domains/{domain}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovalQuery {
    /// Delete the domain's reports and counters too.
    pub purge: bool,
}

impl IntoParams for RemovalQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let boolean = ObjectBuilder::new().schema_type(Type::Boolean).build();
        vec![query_parameter(
            "purge",
            boolean,
            "delete reports and counters too",
        )]
    }
}

impl FromQuery for RemovalQuery {
    fn from_params(params: &Params) -> Result<Self, QueryError> {
        Ok(RemovalQuery {
            purge: params.flag("purge")?,
        })
    }
}

/// The summary and the daily series: a date range only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeQuery {
    pub range: Range,
}

impl IntoParams for RangeQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        Range::parameters()
    }
}

impl FromQuery for RangeQuery {
    fn from_params(params: &Params) -> Result<Self, QueryError> {
        Ok(RangeQuery {
            range: Range::read(params)?,
        })
    }
}

/// `GET /v1/domains/{domain}/stats`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsQuery {
    pub range: Range,
    pub group_by: Vec<Dimension>,
    /// One of [`aggregate::SORTS`].
    pub sort: &'static str,
    pub page: Page,
    pub filters: Filters,
}

impl IntoParams for StatsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let dimensions: Vec<&str> = Dimension::names().collect();
        let group_by = ParameterBuilder::from(query_parameter(
            "group_by",
            string().examples(["reporter,dmarc"]).build(),
            &format!(
                "one or two comma-separated dimensions: {}",
                dimensions.join(", ")
            ),
        ))
        .required(Required::True)
        .build();
        let mut all = Range::parameters();
        all.push(group_by);
        all.push(query_parameter(
            "sort",
            one_of(&aggregate::SORTS),
            "order of groups (default -messages)",
        ));
        all.extend(Page::parameters(aggregate::MAX_PAGE, CURSOR));
        all.extend(filter_parameters());
        all
    }
}

impl FromQuery for StatsQuery {
    fn from_params(params: &Params) -> Result<Self, QueryError> {
        Ok(StatsQuery {
            range: Range::read(params)?,
            filters: Filters::from_params(params)?,
            group_by: aggregate::group_by(params)?,
            sort: params.choice("sort", &aggregate::SORTS, "-messages")?,
            page: Page::read(params, aggregate::MAX_PAGE)?,
        })
    }
}

/// `GET /v1/domains/{domain}/records`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordsQuery {
    pub range: Range,
    /// Free text, lower-cased; `None` when absent or empty.
    pub q: Option<String>,
    pub format: RecordFormat,
    pub page: Page,
    pub filters: Filters,
}

impl IntoParams for RecordsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut all = Range::parameters();
        all.push(query_parameter(
            "q",
            string().build(),
            "free text: an IP, domain, organisation or report id",
        ));
        all.push(query_parameter(
            "format",
            one_of(&["json", "csv"]),
            "json (default) or csv",
        ));
        all.extend(Page::parameters(
            aggregate::MAX_RECORDS_PAGE,
            "the `next` of the previous page (CSV: the `x-next-cursor` header)",
        ));
        all.extend(filter_parameters());
        all
    }
}

impl FromQuery for RecordsQuery {
    fn from_params(params: &Params) -> Result<Self, QueryError> {
        Ok(RecordsQuery {
            range: Range::read(params)?,
            filters: Filters::from_params(params)?,
            format: match params.choice("format", &["json", "csv"], "json")? {
                "csv" => RecordFormat::Csv,
                _ => RecordFormat::Json,
            },
            page: Page::read(params, aggregate::MAX_RECORDS_PAGE)?,
            q: params
                .get("q")
                .map(str::to_lowercase)
                .filter(|q| !q.is_empty()),
        })
    }
}

/// How `GET /v1/domains/{domain}/sources` makes rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRows {
    /// One per sending service, unrecognised addresses together.
    Service,
    /// One per address.
    Ip,
}

impl SourceRows {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceRows::Service => "service",
            SourceRows::Ip => "ip",
        }
    }
}

/// `GET /v1/domains/{domain}/sources`.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcesQuery {
    pub range: Range,
    pub by: SourceRows,
    pub page: Page,
    pub filters: Filters,
}

impl IntoParams for SourcesQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut all = Range::parameters();
        all.push(query_parameter(
            "by",
            one_of(&["service", "ip"]),
            "one row per sending service (default) or per address",
        ));
        all.extend(Page::parameters(aggregate::MAX_PAGE, CURSOR));
        all.extend(filter_parameters());
        all
    }
}

impl FromQuery for SourcesQuery {
    fn from_params(params: &Params) -> Result<Self, QueryError> {
        Ok(SourcesQuery {
            range: Range::read(params)?,
            filters: Filters::from_params(params)?,
            by: match params.choice("by", &["service", "ip"], "service")? {
                "ip" => SourceRows::Ip,
                _ => SourceRows::Service,
            },
            page: Page::read(params, aggregate::MAX_PAGE)?,
        })
    }
}

/// `GET /v1/domains/{domain}/spoofing`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpoofingQuery {
    pub range: Range,
    pub page: Page,
    pub filters: Filters,
}

impl IntoParams for SpoofingQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut all = Range::parameters();
        all.extend(Page::parameters(aggregate::MAX_PAGE, CURSOR));
        all.extend(filter_parameters());
        all
    }
}

impl FromQuery for SpoofingQuery {
    fn from_params(params: &Params) -> Result<Self, QueryError> {
        Ok(SpoofingQuery {
            range: Range::read(params)?,
            filters: Filters::from_params(params)?,
            page: Page::read(params, aggregate::MAX_PAGE)?,
        })
    }
}

/// `GET /v1/domains/{domain}/reports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportsQuery {
    pub range: Range,
    /// Reporting organisations, lower-cased; `None` for all.
    pub reporters: Option<Vec<String>>,
    /// `aggregate`, `tlsrpt` or `all`.
    pub kind: &'static str,
    pub page: Page,
}

impl IntoParams for ReportsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut all = Range::parameters();
        all.push(query_parameter(
            "reporter",
            string().build(),
            "comma-separated reporting organisations",
        ));
        all.push(query_parameter(
            "kind",
            one_of(&["aggregate", "tlsrpt", "all"]),
            "report kind (default all)",
        ));
        all.extend(Page::parameters(crate::listing::MAX_PAGE, CURSOR));
        all
    }
}

impl FromQuery for ReportsQuery {
    fn from_params(params: &Params) -> Result<Self, QueryError> {
        Ok(ReportsQuery {
            range: Range::read(params)?,
            kind: params.choice("kind", &["aggregate", "tlsrpt", "all"], "all")?,
            reporters: params
                .list("reporter")
                .map(|l| l.iter().map(|r| r.to_lowercase()).collect()),
            page: Page::read(params, crate::listing::MAX_PAGE)?,
        })
    }
}

/// `GET /v1/domains/{domain}/tls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsQuery {
    pub range: Range,
    pub page: Page,
}

impl IntoParams for TlsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut all = Range::parameters();
        all.extend(Page::parameters(crate::listing::MAX_PAGE, CURSOR));
        all
    }
}

impl FromQuery for TlsQuery {
    fn from_params(params: &Params) -> Result<Self, QueryError> {
        Ok(TlsQuery {
            range: Range::read(params)?,
            page: Page::read(params, crate::listing::MAX_PAGE)?,
        })
    }
}

/// `GET /v1/messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagesQuery {
    /// Each at most once; by default the ones that need attention.
    pub outcomes: Vec<Outcome>,
    pub page: KeyPage,
}

impl IntoParams for MessagesQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut all = vec![query_parameter(
            "outcome",
            string().examples(["stored,rejected"]).build(),
            "comma-separated: stored, duplicate, rejected, held, failed",
        )];
        all.extend(Page::parameters(crate::listing::MAX_PAGE, CURSOR));
        all
    }
}

impl FromQuery for MessagesQuery {
    fn from_params(params: &Params) -> Result<Self, QueryError> {
        let names = params
            .list("outcome")
            .unwrap_or(vec!["rejected", "held", "failed"]);
        let mut outcomes = Vec::new();
        for name in names {
            let outcome = Outcome::parse(name).ok_or_else(|| {
                QueryError::bad_request(
                    "invalid_parameter",
                    format!(
                        "outcome must be stored, duplicate, rejected, held or failed, not {name:?}"
                    ),
                )
            })?;
            if !outcomes.contains(&outcome) {
                outcomes.push(outcome);
            }
        }
        Ok(MessagesQuery {
            outcomes,
            page: KeyPage::read(params, crate::listing::MAX_PAGE)?,
        })
    }
}
