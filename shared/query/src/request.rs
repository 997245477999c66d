//! The query parameters of each resource as a typed struct: what it accepts, documented once.
//!
//! A struct's [`Parameters`] list is both the OpenAPI description of its parameters (through
//! `IntoParams`) and the names the API accepts (anything else is `unknown_parameter`);
//! [`FromQuery`] reads the checked [`Params`] into typed values with the error codes of
//! [`Params`]' getters. The list is plain data, so reading a request runs no OpenAPI code
//! (which would otherwise be linked into the query function). The values a request needs
//! "now" for (the default date range) stay unresolved until the query runs: see
//! [`Range::window`].

use std::borrow::Cow;

use chrono::NaiveDate;
use rampart_store::Outcome;
use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};

use crate::aggregate::{self, RecordFormat};
use crate::dimension::{Dimension, Filters};
use crate::params::{Params, key_cursor, offset_cursor};
use crate::{QueryError, Window};

/// One query parameter as documented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParameter {
    pub name: &'static str,
    pub description: Cow<'static, str>,
    pub value: ValueKind,
    pub required: bool,
}

/// What a parameter's value is, for the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Text, with an example that names data of the bundled samples.
    Text(Option<&'static str>),
    /// A UTC day, `YYYY-MM-DD`.
    Day(&'static str),
    /// A whole number from 1 to `max`.
    Count { max: usize },
    /// `true` or `false`.
    Flag,
    /// One of these.
    OneOf(&'static [&'static str]),
}

impl QueryParameter {
    fn new(
        name: &'static str,
        value: ValueKind,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        QueryParameter {
            name,
            description: description.into(),
            value,
            required: false,
        }
    }

    /// As an OpenAPI parameter.
    pub fn openapi(&self) -> Parameter {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let schema = match self.value {
            ValueKind::Text(None) => string().build(),
            ValueKind::Text(Some(example)) => string().examples([example]).build(),
            ValueKind::Day(example) => string()
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
                .examples([example])
                .build(),
            ValueKind::Count { max } => ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(max as f64))
                .build(),
            ValueKind::Flag => ObjectBuilder::new().schema_type(Type::Boolean).build(),
            ValueKind::OneOf(values) => string().enum_values(Some(values.iter().copied())).build(),
        };
        let required = if self.required {
            Required::True
        } else {
            Required::False
        };
        ParameterBuilder::new()
            .name(self.name)
            .parameter_in(ParameterIn::Query)
            .required(required)
            .description(Some(self.description.as_ref()))
            .schema(Some(schema))
            .build()
    }
}

/// The parameters a request accepts, in the order the document lists them.
pub trait Parameters {
    fn parameters() -> Vec<QueryParameter>;
}

/// Builds a typed request from parameters already checked for unknown and repeated names.
pub trait FromQuery: Parameters + Sized {
    fn from_params(params: &Params) -> Result<Self, QueryError>;
}

/// Reads a request of type `T` from query-string pairs: unknown and repeated names are
/// refused, then the values are checked.
pub fn from_pairs<T: FromQuery>(pairs: Vec<(String, String)>) -> Result<T, QueryError> {
    let allowed: Vec<&str> = T::parameters().iter().map(|p| p.name).collect();
    T::from_params(&Params::new(pairs, &allowed)?)
}

/// The document's side of each request type.
macro_rules! documented {
    ($($request:ty),* $(,)?) => {$(
        impl IntoParams for $request {
            fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
                <$request as Parameters>::parameters()
                    .iter()
                    .map(QueryParameter::openapi)
                    .collect()
            }
        }
    )*};
}

documented!(
    NoQuery,
    DomainsQuery,
    OverviewQuery,
    RemovalQuery,
    RangeQuery,
    StatsQuery,
    RecordsQuery,
    SourcesQuery,
    SpoofingQuery,
    ReportsQuery,
    TlsQuery,
    MessagesQuery,
);

/// The default page size of every listing.
pub const DEFAULT_PAGE: usize = 100;

/// No parameters at all: anything given is refused.
#[derive(Debug, Default)]
pub struct NoQuery;

impl Parameters for NoQuery {
    fn parameters() -> Vec<QueryParameter> {
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

    fn parameters() -> Vec<QueryParameter> {
        vec![
            QueryParameter::new(
                "from",
                ValueKind::Day("2022-09-01"),
                "first UTC day, inclusive (default: 29 days before `to`)",
            ),
            QueryParameter::new(
                "to",
                ValueKind::Day("2022-11-30"),
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

    fn parameters(max: usize, cursor: &'static str) -> Vec<QueryParameter> {
        vec![
            QueryParameter::new("limit", ValueKind::Count { max }, "page size (default 100)"),
            QueryParameter::new("cursor", ValueKind::Text(None), cursor),
        ]
    }

    /// The cursor of the next page, when `total` rows go past this one.
    pub fn next(&self, total: usize) -> Option<String> {
        // offset is at most MAX_OFFSET and limit a page: no overflow.
        offset_cursor(self.offset + self.limit, total, &self.fingerprint)
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
fn filter_parameters() -> Vec<QueryParameter> {
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
            let networks = if d == Dimension::SourceIp {
                " (addresses or CIDR networks)"
            } else {
                ""
            };
            let description = format!(
                "only records whose {} is one of these comma-separated values{networks}",
                d.name()
            );
            QueryParameter::new(d.name(), ValueKind::Text(example), description)
        })
        .collect()
}

/// `GET /v1/domains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainsQuery {
    pub page: KeyPage,
}

impl Parameters for DomainsQuery {
    fn parameters() -> Vec<QueryParameter> {
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

/// `GET /v1/overview`.
#[derive(Debug, Clone, PartialEq)]
pub struct OverviewQuery {
    pub range: Range,
    pub page: KeyPage,
}

impl Parameters for OverviewQuery {
    fn parameters() -> Vec<QueryParameter> {
        let mut all = Range::parameters();
        all.extend(Page::parameters(crate::overview::MAX_PAGE, CURSOR));
        all
    }
}

impl FromQuery for OverviewQuery {
    fn from_params(params: &Params) -> Result<Self, QueryError> {
        Ok(OverviewQuery {
            range: Range::read(params)?,
            page: KeyPage::read(params, crate::overview::MAX_PAGE)?,
        })
    }
}

/// `DELETE /v1/domains/{domain}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovalQuery {
    /// Delete the domain's reports and counters too.
    pub purge: bool,
}

impl Parameters for RemovalQuery {
    fn parameters() -> Vec<QueryParameter> {
        vec![QueryParameter::new(
            "purge",
            ValueKind::Flag,
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

impl Parameters for RangeQuery {
    fn parameters() -> Vec<QueryParameter> {
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

impl Parameters for StatsQuery {
    fn parameters() -> Vec<QueryParameter> {
        let dimensions: Vec<&str> = Dimension::names().collect();
        let group_by = QueryParameter {
            required: true,
            ..QueryParameter::new(
                "group_by",
                ValueKind::Text(Some("reporter,dmarc")),
                format!(
                    "one or two comma-separated dimensions: {}",
                    dimensions.join(", ")
                ),
            )
        };
        let mut all = Range::parameters();
        all.push(group_by);
        all.push(QueryParameter::new(
            "sort",
            ValueKind::OneOf(&aggregate::SORTS),
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

impl Parameters for RecordsQuery {
    fn parameters() -> Vec<QueryParameter> {
        let mut all = Range::parameters();
        all.push(QueryParameter::new(
            "q",
            ValueKind::Text(None),
            "free text: an IP, domain, organisation or report id",
        ));
        all.push(QueryParameter::new(
            "format",
            ValueKind::OneOf(&["json", "csv"]),
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

impl Parameters for SourcesQuery {
    fn parameters() -> Vec<QueryParameter> {
        let mut all = Range::parameters();
        all.push(QueryParameter::new(
            "by",
            ValueKind::OneOf(&["service", "ip"]),
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

impl Parameters for SpoofingQuery {
    fn parameters() -> Vec<QueryParameter> {
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

impl Parameters for ReportsQuery {
    fn parameters() -> Vec<QueryParameter> {
        let mut all = Range::parameters();
        all.push(QueryParameter::new(
            "reporter",
            ValueKind::Text(None),
            "comma-separated reporting organisations",
        ));
        all.push(QueryParameter::new(
            "kind",
            ValueKind::OneOf(&["aggregate", "tlsrpt", "all"]),
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

impl Parameters for TlsQuery {
    fn parameters() -> Vec<QueryParameter> {
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

impl Parameters for MessagesQuery {
    fn parameters() -> Vec<QueryParameter> {
        let mut all = vec![QueryParameter::new(
            "outcome",
            ValueKind::Text(Some("stored,rejected")),
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
