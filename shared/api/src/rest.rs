//! The REST API: one axum [`Router`] over any [`Store`], served by Lambda (through
//! lambda_http, for API Gateway HTTP and REST events) and by `rampart serve` on a TCP socket.
//!
//! Handlers only translate HTTP: typed extractors read the path ([`Segment`]) and the query
//! string ([`Query`], which refuses unknown and repeated parameters), [`rampart_query`]
//! answers, and the handler turns the answer into JSON (or CSV, or raw bytes) and a
//! [`QueryError`] into `{"error": code, "message": ...}` with the matching status. Each
//! handler carries its OpenAPI operation (`#[utoipa::path]`); [`crate::document`] gathers
//! them into the document served at `/openapi.json`, and [`router`] registers each handler
//! at the path and methods its operation names, so the two cannot disagree.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Request, State};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use axum::{Json, Router};
use chrono::NaiveDate;
use rampart_checks::Checker;
use rampart_ingest::{Accept, Ingest, UploadRefusal, refuse_tls_media_type};
use rampart_mta_sts::Timing;
use rampart_query::aggregate::{self, Records, Stats, Summary, Timeseries};
use rampart_query::alert_views::{self, DomainAlerts, SettingsRequest, SettingsView};
use rampart_query::checks::{self, DomainChecks};
use rampart_query::domains::{self, DomainList, DomainSetup, Endpoints, Removal};
use rampart_query::hosting::{self, HostedPolicy, PolicyRequest};
use rampart_query::listing::{self, MessageList, ReportDetail, ReportList, TlsView};
use rampart_query::mailboxes::{
    self, MailboxChange, MailboxList, MailboxTest, MailboxView, NewMailbox,
};
use rampart_query::overview::{self, Overview};
use rampart_query::request::{
    DomainsQuery, FromQuery, MessagesQuery, NoQuery, OverviewQuery, RangeQuery, RecordsQuery,
    RemovalQuery, ReportsQuery, SourcesQuery, SpoofingQuery, StatsQuery, TlsQuery, from_pairs,
};
use rampart_query::sources::{self, SourcesView, SpoofingView};
use rampart_query::{ErrorKind, QueryError};
use rampart_sources::Enricher;
use rampart_store::{Outcome, RawKey, Store, UPLOAD_PREFIX};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::HttpMethod;
use utoipa::{IntoParams, ToSchema};

use crate::edge;

/// What every request needs, built once.
pub struct Api<S> {
    pub store: S,
    pub endpoints: Endpoints,
    /// The largest raw message sent in a response (Lambda responses are capped at 6 MB).
    pub max_raw_bytes: u64,
    /// The largest TLS report upload (`POST /v1/tlsrpt`) that is read.
    pub max_upload_bytes: usize,
    /// When MTA-STS policy ids are published (see [`rampart_mta_sts`]).
    pub timing: Timing,
    /// Who may call the protected routes (the API token, OpenID Connect tokens), and how
    /// the dashboard signs in.
    pub access: edge::Access,
    /// Whose TLS reports `POST /v1/tlsrpt` takes.
    pub accept: Accept,
    /// Told of every refused upload (which is not kept): the Lambda writes a metric line,
    /// `rampart serve` a log line.
    pub on_refused_upload: fn(&UploadRefusal),
    /// The clock, replaceable so tests are independent of the day they run.
    pub now: fn() -> i64,
    /// The DNS checks (`…/checks`) and the guard on `mode: enforce`; `None` where no DNS
    /// may be asked (`RAMPART_RESOLVER=off`): running checks answers 409 and the guard is off.
    pub checker: Option<Arc<Checker>>,
    /// Where mailbox sources added through the API keep their secrets, and how they are
    /// tested; `None`: adding answers 409 (sources come from a mailbox file).
    pub mailboxes: Option<mailboxes::Access>,
}

impl<S> Api<S> {
    /// The policy calls at this moment.
    fn hosting(&self) -> hosting::Hosting<'_, S> {
        hosting::Hosting {
            store: &self.store,
            endpoints: &self.endpoints,
            now: (self.now)(),
            timing: self.timing,
            checker: self.checker.as_deref(),
        }
    }

    fn today(&self) -> NaiveDate {
        chrono::DateTime::from_timestamp((self.now)(), 0)
            .unwrap_or_default()
            .date_naive()
    }
}

/// The wall clock, in epoch seconds.
pub use rampart_formats::time::now as system_now;

type Shared<S> = State<Arc<Api<S>>>;

/// The largest JSON request body: a domain registration or a policy is a few hundred bytes.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// The largest TLS report upload by default: reports are a few KB, and API Gateway would
/// refuse a body over 10 MB anyway.
pub const MAX_UPLOAD_BYTES: usize = 1 << 20;

/// Registers handlers at the path and methods of their OpenAPI operation, and remembers
/// each, so a test can hold the routes against the document.
struct Routes<S> {
    router: Router<Arc<Api<S>>>,
    registered: Vec<(HttpMethod, String)>,
}

impl<S: Store + 'static> Routes<S> {
    fn new() -> Self {
        Routes {
            router: Router::new(),
            registered: Vec::new(),
        }
    }

    /// `handler` at the path and methods `P` documents.
    fn add<P: utoipa::Path, H: Handler<T, Arc<Api<S>>>, T: 'static>(self, handler: H) -> Self {
        let path = P::path();
        self.at::<P, H, T>(&path, handler)
    }

    /// Like [`Routes::add`], with the last path parameter taking the rest of the path,
    /// slashes included (a raw message key has them).
    fn add_tail<P: utoipa::Path, H: Handler<T, Arc<Api<S>>>, T: 'static>(self, handler: H) -> Self {
        let path = P::path();
        let tail = match path.rfind('{') {
            Some(i) => format!("{}{{*{}", &path[..i], &path[i + 1..]),
            None => path,
        };
        self.at::<P, H, T>(&tail, handler)
    }

    fn at<P: utoipa::Path, H: Handler<T, Arc<Api<S>>>, T: 'static>(
        mut self,
        axum_path: &str,
        handler: H,
    ) -> Self {
        let mut methods = MethodRouter::new();
        for method in P::methods() {
            methods = methods.on(method_filter(&method), handler.clone());
            self.registered.push((method, P::path()));
        }
        self.router = self.router.route(axum_path, methods);
        self
    }
}

fn method_filter(method: &HttpMethod) -> MethodFilter {
    match method {
        HttpMethod::Get => MethodFilter::GET,
        HttpMethod::Put => MethodFilter::PUT,
        HttpMethod::Post => MethodFilter::POST,
        HttpMethod::Head => MethodFilter::HEAD,
        HttpMethod::Patch => MethodFilter::PATCH,
        HttpMethod::Trace => MethodFilter::TRACE,
        HttpMethod::Delete => MethodFilter::DELETE,
        HttpMethod::Options => MethodFilter::OPTIONS,
    }
}

/// The public routes (senders POST TLS reports without credentials, RFC 8460 section 5.4)
/// and the protected ones.
fn routes<S: Store + 'static>() -> (Routes<S>, Routes<S>) {
    let public = Routes::new()
        .add::<__path_upload_tls_report, _, _>(upload_tls_report::<S>)
        .add::<__path_sign_in, _, _>(sign_in::<S>);
    let protected = Routes::new()
        .add::<__path_openapi, _, _>(openapi)
        .add::<__path_me, _, _>(me)
        .add::<__path_list_domains, _, _>(list_domains::<S>)
        .add::<__path_overview, _, _>(overview::<S>)
        .add::<__path_register_domain, _, _>(register_domain::<S>)
        .add::<__path_show_domain, _, _>(show_domain::<S>)
        .add::<__path_remove_domain, _, _>(remove_domain::<S>)
        .add::<__path_summary, _, _>(summary::<S>)
        .add::<__path_timeseries, _, _>(timeseries::<S>)
        .add::<__path_stats, _, _>(stats::<S>)
        .add::<__path_records, _, _>(records::<S>)
        .add::<__path_sources, _, _>(sources::<S>)
        .add::<__path_spoofing, _, _>(spoofing::<S>)
        .add::<__path_reports, _, _>(reports::<S>)
        .add::<__path_tls, _, _>(tls::<S>)
        .add::<__path_show_policy, _, _>(show_policy::<S>)
        .add::<__path_replace_policy, _, _>(replace_policy::<S>)
        .add::<__path_retire_policy, _, _>(retire_policy::<S>)
        .add::<__path_show_checks, _, _>(show_checks::<S>)
        .add::<__path_run_checks, _, _>(run_checks::<S>)
        .add::<__path_show_alerts, _, _>(show_alerts::<S>)
        .add::<__path_show_domain_alert_settings, _, _>(show_domain_alert_settings::<S>)
        .add::<__path_change_domain_alert_settings, _, _>(change_domain_alert_settings::<S>)
        .add::<__path_show_alert_settings, _, _>(show_alert_settings::<S>)
        .add::<__path_change_alert_settings, _, _>(change_alert_settings::<S>)
        .add::<__path_list_mailboxes, _, _>(list_mailboxes::<S>)
        .add::<__path_add_mailbox, _, _>(add_mailbox::<S>)
        .add::<__path_change_mailbox, _, _>(change_mailbox::<S>)
        .add::<__path_remove_mailbox, _, _>(remove_mailbox::<S>)
        .add::<__path_test_mailbox, _, _>(test_mailbox::<S>)
        .add::<__path_report, _, _>(report::<S>)
        .add::<__path_report_raw, _, _>(report_raw::<S>)
        .add::<__path_messages, _, _>(messages::<S>)
        .add_tail::<__path_message_raw, _, _>(message_raw::<S>);
    (public, protected)
}

/// The operations of [`router`], gathered with the schemas they name (the rest of the
/// document is added by [`crate::document`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    upload_tls_report,
    sign_in,
    openapi,
    me,
    list_domains,
    overview,
    register_domain,
    show_domain,
    remove_domain,
    summary,
    timeseries,
    stats,
    records,
    sources,
    spoofing,
    reports,
    tls,
    show_policy,
    replace_policy,
    retire_policy,
    show_checks,
    run_checks,
    show_alerts,
    show_domain_alert_settings,
    change_domain_alert_settings,
    show_alert_settings,
    change_alert_settings,
    list_mailboxes,
    add_mailbox,
    change_mailbox,
    remove_mailbox,
    test_mailbox,
    report,
    report_raw,
    messages,
    message_raw,
))]
pub(crate) struct Operations;

/// Every operation the router serves, as (method, documented path).
pub fn registered_operations<S: Store + 'static>() -> Vec<(HttpMethod, String)> {
    let (public, protected) = routes::<S>();
    public
        .registered
        .into_iter()
        .chain(protected.registered)
        .collect()
}

/// The API's routes over `api`.
pub fn router<S: Store + 'static>(api: Arc<Api<S>>) -> Router {
    let (public, protected) = routes::<S>();
    let protected = protected
        .router
        .fallback(not_found)
        // Innermost first: the JSON body bound, then admin-only changes, then the token.
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES))
        .layer(middleware::from_fn(edge::require_admin_for_changes))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&api),
            require_token::<S>,
        ));
    public
        .router
        // The dashboard's files hold no data: public, like the upload.
        .merge(crate::ui::router(&sign_in_urls(&api.access.sign_in)))
        .merge(protected)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(api)
}

/// The identity provider's addresses the dashboard fetches (discovery, tokens).
fn sign_in_urls(sign_in: &edge::SignIn) -> Vec<&str> {
    let Some(oidc) = &sign_in.oidc else {
        return Vec::new();
    };
    [Some(&oidc.issuer), oidc.token_endpoint.as_ref()]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect()
}

/// What every error answers.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// A stable code.
    pub error: String,
    /// What was wrong, for a person.
    pub message: String,
}

/// An API error: a [`QueryError`] answered as JSON with its status.
#[derive(Debug)]
pub struct ApiError(QueryError);

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        ApiError(QueryError {
            kind,
            code,
            message: message.into(),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = match e.kind {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(code = e.code, message = %e.message, "request failed");
        }
        let body = ErrorBody {
            error: e.code.to_owned(),
            message: e.message,
        };
        (status, Json(body)).into_response()
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

/// The query string as the typed request `T`: an unknown or repeated name, or a value `T`
/// does not take, is a 400.
pub struct Query<T>(pub T);

impl<T: FromQuery, St: Send + Sync> FromRequestParts<St> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, ApiError> {
        let pairs = serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).map_err(|e| {
            ApiError::new(
                ErrorKind::BadRequest,
                "invalid_query",
                format!("the query string is not readable: {e}"),
            )
        })?;
        Ok(Query(from_pairs(pairs)?))
    }
}

/// Path parameters as `T`, or a 400 `invalid_path`.
pub struct Segment<T>(pub T);

impl<T: DeserializeOwned + Send, St: Send + Sync> FromRequestParts<St> for Segment<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Segment(v))
            .map_err(|e| ApiError::new(ErrorKind::BadRequest, "invalid_path", e.body_text()))
    }
}

/// `{domain}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DomainPath {
    /// The domain, e.g. example.com.
    #[param(example = "stalw.art", min_length = 1)]
    pub domain: String,
}

/// `{id}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ReportPath {
    /// Rampart's report id.
    pub id: String,
}

/// `{key}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MessagePath {
    /// The message key (may contain /).
    pub key: String,
}

/// `POST /v1/domains`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    #[schema(examples("example.com"))]
    pub domain: String,
}

/// What `POST /v1/tlsrpt` answers for a kept report.
#[derive(Serialize, ToSchema)]
pub struct Upload {
    /// Where the raw upload is kept.
    #[schema(value_type = String)]
    pub key: RawKey,
    #[schema(schema_with = stored_or_duplicate)]
    pub outcome: Outcome,
    #[schema(value_type = Vec<String>)]
    pub reports: Vec<rampart_formats::identity::ReportId>,
}

fn stored_or_duplicate() -> utoipa::openapi::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["stored", "duplicate"]))
        .build()
}

/// A JSON object body as `T`, or a 400 that shows `example`.
fn json_object<T: DeserializeOwned>(
    body: Result<Json<serde_json::Value>, JsonRejection>,
    example: &str,
) -> Result<T, ApiError> {
    let invalid = |why: String| {
        ApiError::new(
            ErrorKind::BadRequest,
            "invalid_body",
            format!("expected {example}: {why}"),
        )
    };
    let Json(body) = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorKind::TooLarge,
                "body_too_large",
                format!("the body is larger than {MAX_JSON_BODY_BYTES} bytes"),
            )
        } else {
            invalid(e.body_text())
        }
    })?;
    // serde would also read a struct from an array; only an object is accepted.
    if !body.is_object() {
        return Err(invalid("the body is not a JSON object".to_owned()));
    }
    serde_json::from_value(body).map_err(|e| invalid(e.to_string()))
}

fn created_or_ok(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// This document
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi",
    responses((status = 200, description = "OK", body = Object)))]
async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::document::JSON,
    )
        .into_response()
}

/// How the dashboard signs people in; public, no token
#[utoipa::path(get, path = "/v1/sign-in", operation_id = "signIn",
    responses((status = 200, description = "OK", body = edge::SignIn)))]
async fn sign_in<S: Store>(State(api): Shared<S>, _: Query<NoQuery>) -> Json<edge::SignIn> {
    Json(api.access.sign_in.clone())
}

/// The caller as the API sees it: whether it may change things
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// May register, remove and purge domains and change or retire MTA-STS policies.
    pub admin: bool,
    /// Who, for a person to read (e-mail, user name or subject); null without sign-in.
    pub name: Option<String>,
}

/// Who is calling, and whether it may change anything
#[utoipa::path(get, path = "/v1/me", operation_id = "me",
    responses((status = 200, description = "OK", body = Me)))]
async fn me(caller: Option<axum::Extension<edge::Caller>>, _: Query<NoQuery>) -> Json<Me> {
    // Without a caller nothing in the Router restricts changes (IAM policy or the
    // machine's owner decides), so the dashboard shows them.
    Json(match caller {
        Some(axum::Extension(c)) => Me {
            admin: c.admin,
            name: c.name,
        },
        None => Me {
            admin: true,
            name: None,
        },
    })
}

/// Registered domains, and domains reports arrived for, by name
#[utoipa::path(get, path = "/v1/domains", operation_id = "listDomains", params(DomainsQuery),
    responses((status = 200, description = "OK", body = DomainList)))]
async fn list_domains<S: Store>(
    State(api): Shared<S>,
    Query(q): Query<DomainsQuery>,
) -> Answer<DomainList> {
    Ok(Json(domains::list(&api.store, q).await?))
}

/// Every domain over a range: messages, DMARC verdicts, TLS sessions, published policy and latest report day
#[utoipa::path(get, path = "/v1/overview", operation_id = "overview", params(OverviewQuery),
    responses((status = 200, description = "OK", body = Overview)))]
async fn overview<S: Store>(
    State(api): Shared<S>,
    Query(q): Query<OverviewQuery>,
) -> Answer<Overview> {
    Ok(Json(overview::overview(&api.store, q, api.today()).await?))
}

/// Register a domain; answers with the DNS records to publish
#[utoipa::path(post, path = "/v1/domains", operation_id = "registerDomain",
    request_body = Registration,
    responses(
        (status = 200, description = "already registered", body = DomainSetup),
        (status = 201, description = "registered", body = DomainSetup),
        (status = 403, description = "forbidden: the token may read but not change anything", body = ErrorBody),
        (status = 413, description = "body_too_large: the body is larger than 64 KiB", body = ErrorBody),
    ))]
async fn register_domain<S: Store>(
    State(api): Shared<S>,
    _: Query<NoQuery>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body: Registration = json_object(body, r#"{"domain": "example.com"}"#)?;
    let (setup, created) =
        domains::register(&api.store, &body.domain, &api.endpoints, (api.now)()).await?;
    Ok((created_or_ok(created), Json(setup)).into_response())
}

/// A domain with its DNS records
#[utoipa::path(get, path = "/v1/domains/{domain}", operation_id = "showDomain",
    params(DomainPath), responses((status = 200, description = "OK", body = DomainSetup)))]
async fn show_domain<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    _: Query<NoQuery>,
) -> Answer<DomainSetup> {
    Ok(Json(
        domains::show(&api.store, &p.domain, &api.endpoints, (api.now)()).await?,
    ))
}

/// Unregister a domain; `purge=true` also deletes its reports
#[utoipa::path(delete, path = "/v1/domains/{domain}", operation_id = "removeDomain",
    params(DomainPath, RemovalQuery),
    responses(
        (status = 200, description = "OK", body = Removal),
        (status = 409, description = "conflicts with the current state; the message says what to do", body = ErrorBody),
        (status = 403, description = "forbidden: the token may read but not change anything", body = ErrorBody),
    ))]
async fn remove_domain<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    Query(q): Query<RemovalQuery>,
) -> Answer<Removal> {
    Ok(Json(
        domains::remove(&api.store, &p.domain, q, (api.now)()).await?,
    ))
}

/// Totals of a date range (read from per-day counters)
#[utoipa::path(get, path = "/v1/domains/{domain}/summary", operation_id = "summary",
    params(DomainPath, RangeQuery), responses((status = 200, description = "OK", body = Summary)))]
async fn summary<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    Query(q): Query<RangeQuery>,
) -> Answer<Summary> {
    Ok(Json(
        aggregate::summary(&api.store, &p.domain, q, api.today()).await?,
    ))
}

/// One point per day of the range
#[utoipa::path(get, path = "/v1/domains/{domain}/timeseries", operation_id = "timeseries",
    params(DomainPath, RangeQuery),
    responses((status = 200, description = "OK", body = Timeseries)))]
async fn timeseries<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    Query(q): Query<RangeQuery>,
) -> Answer<Timeseries> {
    Ok(Json(
        aggregate::timeseries(&api.store, &p.domain, q, api.today()).await?,
    ))
}

/// Messages grouped by one or two dimensions
#[utoipa::path(get, path = "/v1/domains/{domain}/stats", operation_id = "stats",
    params(DomainPath, StatsQuery), responses((status = 200, description = "OK", body = Stats)))]
async fn stats<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    Query(q): Query<StatsQuery>,
) -> Answer<Stats> {
    Ok(Json(
        aggregate::stats(&api.store, &p.domain, q, api.today()).await?,
    ))
}

/// Records of the range, filtered and searched
#[utoipa::path(get, path = "/v1/domains/{domain}/records", operation_id = "records",
    params(DomainPath, RecordsQuery),
    responses((status = 200, description = "OK", content(
        (Records = "application/json"),
        (String = "text/csv"),
    ))))]
async fn records<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    Query(q): Query<RecordsQuery>,
) -> Result<Response, ApiError> {
    let domain = p.domain;
    let (found, format) = aggregate::records(&api.store, &domain, q, api.today()).await?;
    if format == aggregate::RecordFormat::Json {
        return Ok(Json(found).into_response());
    }
    let csv = aggregate::records_csv(&found.records)?;
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}-records.csv\"",
                    safe_name(&domain)
                ),
            ),
        ],
        csv,
    )
        .into_response();
    // CSV has no place for the cursor: the next page's cursor travels in a header.
    if let Some(next) = found.next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert("x-next-cursor", next);
    }
    Ok(response)
}

/// Who sends as the domain: per service (or per address), volume, pass rates, classifications and the SPF/DKIM results that failed
#[utoipa::path(get, path = "/v1/domains/{domain}/sources", operation_id = "sources",
    params(DomainPath, SourcesQuery),
    responses((status = 200, description = "OK", body = SourcesView)))]
async fn sources<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    Query(q): Query<SourcesQuery>,
) -> Answer<SourcesView> {
    Ok(Json(
        sources::sources(&api.store, &p.domain, q, api.today()).await?,
    ))
}

/// Unrecognised sources failing both SPF and DKIM, most messages first
#[utoipa::path(get, path = "/v1/domains/{domain}/spoofing", operation_id = "spoofing",
    params(DomainPath, SpoofingQuery),
    responses((status = 200, description = "OK", body = SpoofingView)))]
async fn spoofing<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    Query(q): Query<SpoofingQuery>,
) -> Answer<SpoofingView> {
    Ok(Json(
        sources::spoofing(&api.store, &p.domain, q, api.today()).await?,
    ))
}

/// Reports covering the range
#[utoipa::path(get, path = "/v1/domains/{domain}/reports", operation_id = "reports",
    params(DomainPath, ReportsQuery),
    responses((status = 200, description = "OK", body = ReportList)))]
async fn reports<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    Query(q): Query<ReportsQuery>,
) -> Answer<ReportList> {
    Ok(Json(
        listing::reports(&api.store, &p.domain, q, api.today()).await?,
    ))
}

/// TLS sessions of the range and their failures
#[utoipa::path(get, path = "/v1/domains/{domain}/tls", operation_id = "tls",
    params(DomainPath, TlsQuery), responses((status = 200, description = "OK", body = TlsView)))]
async fn tls<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    Query(q): Query<TlsQuery>,
) -> Answer<TlsView> {
    Ok(Json(
        listing::tls(&api.store, &p.domain, q, api.today()).await?,
    ))
}

/// The hosted MTA-STS policy: what is served, its TXT id, every version
#[utoipa::path(get, path = "/v1/domains/{domain}/mta-sts", operation_id = "showPolicy",
    params(DomainPath), responses((status = 200, description = "OK", body = HostedPolicy)))]
async fn show_policy<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    _: Query<NoQuery>,
) -> Answer<HostedPolicy> {
    Ok(Json(api.hosting().show(&p.domain).await?))
}

/// Replace the hosted MTA-STS policy (the domain must be registered)
#[utoipa::path(put, path = "/v1/domains/{domain}/mta-sts", operation_id = "replacePolicy",
    params(DomainPath), request_body = PolicyRequest,
    responses(
        (status = 200, description = "unchanged: the same policy is served", body = HostedPolicy),
        (status = 201, description = "a new version is served", body = HostedPolicy),
        (status = 409, description = "conflicts with the current state; the message says what to do", body = ErrorBody),
        (status = 403, description = "forbidden: the token may read but not change anything", body = ErrorBody),
        (status = 413, description = "body_too_large: the body is larger than 64 KiB", body = ErrorBody),
        (status = 405, description = "method_not_allowed: an empty domain makes the path `/v1/domains/mta-sts`, a domain's own address, which takes no PUT", body = ErrorBody),
    ))]
async fn replace_policy<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    _: Query<NoQuery>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body: PolicyRequest = json_object(
        body,
        r#"{"mode": "enforce", "mx": ["mx1.example.com"], "max_age": 604800}"#,
    )?;
    let (hosted, created) = api.hosting().replace(&p.domain, body).await?;
    Ok((created_or_ok(created), Json(hosted)).into_response())
}

/// Retire hosting: `mode: none` is served until every cached policy expired, then nothing (RFC 8461 section 8.3)
#[utoipa::path(delete, path = "/v1/domains/{domain}/mta-sts", operation_id = "retirePolicy",
    params(DomainPath),
    responses(
        (status = 200, description = "OK", body = HostedPolicy),
        (status = 403, description = "forbidden: the token may read but not change anything", body = ErrorBody),
    ))]
async fn retire_policy<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    _: Query<NoQuery>,
) -> Answer<HostedPolicy> {
    Ok(Json(api.hosting().retire(&p.domain).await?))
}

/// The DNS health of a domain: the latest check with each finding and its fix, and the history of runs
#[utoipa::path(get, path = "/v1/domains/{domain}/checks", operation_id = "showChecks",
    params(DomainPath), responses((status = 200, description = "OK", body = DomainChecks)))]
async fn show_checks<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    _: Query<NoQuery>,
) -> Answer<DomainChecks> {
    Ok(Json(checks::show(&api.store, &p.domain).await?))
}

/// Check the DNS records of a domain now, store the run, and answer with it
#[utoipa::path(post, path = "/v1/domains/{domain}/checks", operation_id = "runChecks",
    params(DomainPath),
    responses(
        (status = 200, description = "OK", body = DomainChecks),
        (status = 403, description = "forbidden: the token may read but not change anything", body = ErrorBody),
        (status = 409, description = "checks_disabled: this deployment asks no DNS server (RAMPART_RESOLVER=off)", body = ErrorBody),
        (status = 405, description = "method_not_allowed: an empty domain makes the path `/v1/domains/checks`, a domain's own address, which takes no POST", body = ErrorBody),
    ))]
async fn run_checks<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    _: Query<NoQuery>,
) -> Answer<DomainChecks> {
    let Some(checker) = &api.checker else {
        // A setting of this deployment, not an outage: retrying does not help (so not 503).
        return Err(ApiError(QueryError {
            kind: ErrorKind::Conflict,
            code: "checks_disabled",
            message: "DNS checks are off here (RAMPART_RESOLVER=off); set it to system or to \
                      a DNS server's address"
                .into(),
        }));
    };
    let now = (api.now)();
    Ok(Json(
        checks::run(
            &api.store,
            checker,
            &api.endpoints,
            &p.domain,
            api.today(),
            now,
        )
        .await?,
    ))
}

/// A domain's alerts (open first, worst first, then resolved) and its alert settings
#[utoipa::path(get, path = "/v1/domains/{domain}/alerts", operation_id = "showAlerts",
    params(DomainPath), responses((status = 200, description = "OK", body = DomainAlerts)))]
async fn show_alerts<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    _: Query<NoQuery>,
) -> Answer<DomainAlerts> {
    Ok(Json(
        alert_views::domain_alerts(&api.store, &p.domain).await?,
    ))
}

/// A domain's alert settings: recipients, digest, rule changes, snoozes, webhook
#[utoipa::path(get, path = "/v1/domains/{domain}/alert-settings", operation_id = "showDomainAlertSettings",
    params(DomainPath), responses((status = 200, description = "OK", body = SettingsView)))]
async fn show_domain_alert_settings<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    _: Query<NoQuery>,
) -> Answer<SettingsView> {
    Ok(Json(
        alert_views::show_settings(&api.store, Some(&p.domain)).await?,
    ))
}

/// Change a domain's alert settings; the fields left out stay as they are
#[utoipa::path(put, path = "/v1/domains/{domain}/alert-settings", operation_id = "changeDomainAlertSettings",
    params(DomainPath), request_body = SettingsRequest,
    responses(
        (status = 200, description = "OK: the settings now (a new webhook secret is shown this once)", body = SettingsView),
        (status = 403, description = "forbidden: the token may read but not change anything", body = ErrorBody),
        (status = 413, description = "body_too_large: the body is larger than 64 KiB", body = ErrorBody),
        (status = 405, description = "method_not_allowed: an empty domain makes the path `/v1/domains/alert-settings`, a domain's own address, which takes no PUT", body = ErrorBody),
    ))]
async fn change_domain_alert_settings<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<DomainPath>,
    _: Query<NoQuery>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Answer<SettingsView> {
    let change: SettingsRequest = json_object(body, SETTINGS_EXAMPLE)?;
    Ok(Json(
        alert_views::change_settings(&api.store, Some(&p.domain), change, new_secret).await?,
    ))
}

/// The alert settings of every domain without its own, and the all-domains digest's recipients
#[utoipa::path(get, path = "/v1/alert-settings", operation_id = "showAlertSettings",
    responses((status = 200, description = "OK", body = SettingsView)))]
async fn show_alert_settings<S: Store>(
    State(api): Shared<S>,
    _: Query<NoQuery>,
) -> Answer<SettingsView> {
    Ok(Json(alert_views::show_settings(&api.store, None).await?))
}

/// Change the all-domains alert settings; the fields left out stay as they are
#[utoipa::path(put, path = "/v1/alert-settings", operation_id = "changeAlertSettings",
    request_body = SettingsRequest,
    responses(
        (status = 200, description = "OK: the settings now (a new webhook secret is shown this once)", body = SettingsView),
        (status = 403, description = "forbidden: the token may read but not change anything", body = ErrorBody),
        (status = 413, description = "body_too_large: the body is larger than 64 KiB", body = ErrorBody),
    ))]
async fn change_alert_settings<S: Store>(
    State(api): Shared<S>,
    _: Query<NoQuery>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Answer<SettingsView> {
    let change: SettingsRequest = json_object(body, SETTINGS_EXAMPLE)?;
    Ok(Json(
        alert_views::change_settings(&api.store, None, change, new_secret).await?,
    ))
}

/// `{mailbox}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MailboxPath {
    /// The source's id.
    #[param(example = "reports", min_length = 1)]
    pub mailbox: String,
}

/// The mailbox sources Rampart reads (IMAP folders, Microsoft 365 mailboxes), each with its
/// last run and the outcomes of the mails it took; never a password
#[utoipa::path(get, path = "/v1/mailboxes", operation_id = "listMailboxes",
    responses((status = 200, description = "OK", body = MailboxList)))]
async fn list_mailboxes<S: Store>(State(api): Shared<S>, _: Query<NoQuery>) -> Answer<MailboxList> {
    Ok(Json(mailboxes::list(&api.store).await?))
}

/// Add a mailbox source; its secret is kept apart and never shown again
#[utoipa::path(post, path = "/v1/mailboxes", operation_id = "addMailbox",
    request_body = NewMailbox,
    responses(
        (status = 201, description = "Created: the source, read at its first run", body = MailboxView),
        (status = 400, description = "invalid_mailbox: the url, a name or the secret is not usable", body = ErrorBody),
        (status = 403, description = "forbidden: the token may read but not change anything", body = ErrorBody),
        (status = 409, description = "mailbox_exists, too_many_mailboxes (100), or mailboxes_off: this deployment keeps no mailbox secrets", body = ErrorBody),
        (status = 413, description = "body_too_large: the body is larger than 64 KiB", body = ErrorBody),
    ))]
async fn add_mailbox<S: Store>(
    State(api): Shared<S>,
    _: Query<NoQuery>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<(StatusCode, Json<MailboxView>), ApiError> {
    let new: NewMailbox = json_object(body, NEW_MAILBOX_EXAMPLE)?;
    let access = api.mailboxes.as_ref().ok_or_else(mailboxes::secrets_off)?;
    let view = mailboxes::add(&api.store, access, new).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

const NEW_MAILBOX_EXAMPLE: &str =
    r#"{"url": "imaps://imap.example.com/INBOX", "user": "dmarc@example.com", "secret": "…"}"#;

/// Pause or resume a mailbox source, or replace its secret
#[utoipa::path(patch, path = "/v1/mailboxes/{mailbox}", operation_id = "changeMailbox",
    params(MailboxPath), request_body = MailboxChange,
    responses(
        (status = 200, description = "OK: the source now", body = MailboxView),
        (status = 400, description = "invalid_mailbox: the secret is not usable", body = ErrorBody),
        (status = 403, description = "forbidden: the token may read but not change anything", body = ErrorBody),
        (status = 404, description = "unknown_mailbox: no source has this id", body = ErrorBody),
        (status = 409, description = "mailboxes_off: this deployment keeps no mailbox secrets", body = ErrorBody),
        (status = 413, description = "body_too_large: the body is larger than 64 KiB", body = ErrorBody),
    ))]
async fn change_mailbox<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<MailboxPath>,
    _: Query<NoQuery>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Answer<MailboxView> {
    let change: MailboxChange = json_object(body, r#"{"paused": true}"#)?;
    Ok(Json(
        mailboxes::change(&api.store, api.mailboxes.as_ref(), &p.mailbox, change).await?,
    ))
}

/// Remove a mailbox source and its secret; the mails it brought stay
#[utoipa::path(delete, path = "/v1/mailboxes/{mailbox}", operation_id = "removeMailbox",
    params(MailboxPath),
    responses(
        (status = 200, description = "OK: the source removed", body = MailboxView),
        (status = 403, description = "forbidden: the token may read but not change anything", body = ErrorBody),
        (status = 404, description = "unknown_mailbox: no source has this id", body = ErrorBody),
        (status = 409, description = "mailboxes_off: this deployment keeps no mailbox secrets", body = ErrorBody),
    ))]
async fn remove_mailbox<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<MailboxPath>,
    _: Query<NoQuery>,
) -> Answer<MailboxView> {
    let access = api.mailboxes.as_ref().ok_or_else(mailboxes::secrets_off)?;
    Ok(Json(
        mailboxes::remove(&api.store, access, &p.mailbox).await?,
    ))
}

/// Log in to a mailbox source's server and count its folder (no mail is read)
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/test", operation_id = "testMailbox",
    params(MailboxPath),
    responses(
        (status = 200, description = "OK: the test ran; `ok` says whether the login and the count worked", body = MailboxTest),
        (status = 403, description = "forbidden: the token may read but not change anything", body = ErrorBody),
        (status = 404, description = "unknown_mailbox: no source has this id", body = ErrorBody),
        (status = 409, description = "mailboxes_off, or network_off: this deployment reaches no network (RAMPART_RESOLVER=off)", body = ErrorBody),
    ))]
async fn test_mailbox<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<MailboxPath>,
    _: Query<NoQuery>,
) -> Answer<MailboxTest> {
    let access = api.mailboxes.as_ref().ok_or_else(mailboxes::secrets_off)?;
    Ok(Json(mailboxes::test(&api.store, access, &p.mailbox).await?))
}

const SETTINGS_EXAMPLE: &str = r#"{"recipients": ["owner@example.com"], "snoozes": [{"rule": "silent_reporter", "until": 1790000000}]}"#;

/// 32 random bytes, hex: a webhook's signing key.
fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Receive an SMTP TLS report over HTTPS (RFC 8460 section 5.4); public, no token
///
/// A report is kept and answered 201 (200 when it was stored already); anything refused (media type, size, not a
/// TLS report, an unregistered domain, a period in the future) is answered with the reason
/// and not kept.
#[utoipa::path(post, path = "/v1/tlsrpt", operation_id = "uploadTlsReport",
    request_body(content(
        (String = "application/tlsrpt+gzip"),
        (Object = "application/tlsrpt+json"),
    )),
    responses(
        (status = 201, description = "stored", body = Upload),
        (status = 200, description = "already stored", body = Upload),
        (status = 400, description = "not a readable TLS report, or a period that has not begun (not kept)", body = ErrorBody),
        (status = 403, description = "for a domain that is not registered, where only registered domains are counted (not kept)", body = ErrorBody),
        (status = 413, description = "larger than the upload bound (not kept)", body = ErrorBody),
        (status = 415, description = "not application/tlsrpt+gzip or +json (not kept)", body = ErrorBody),
        (status = 503, description = "storage unavailable; send again", body = ErrorBody),
    ))]
async fn upload_tls_report<S: Store>(
    State(api): Shared<S>,
    _: Query<NoQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (bytes, complete) = read_capped(request.into_body(), api.max_upload_bytes).await?;
    let refusal = if complete {
        refuse_tls_media_type(content_type.as_deref())
    } else {
        Some(UploadRefusal::TooLarge {
            max: api.max_upload_bytes as u64,
        })
    };
    let key = RawKey::new(format!("{UPLOAD_PREFIX}{}", RawKey::for_content(&bytes)))
        .map_err(|e| ApiError::new(ErrorKind::Internal, "invalid_key", e.to_string()))?;
    let plain = Enricher::disabled();
    let ingest = Ingest::new(&api.store, &plain).accept(api.accept);
    let done = match ingest.tls_upload(&key, &bytes, refusal, (api.now)()).await {
        Ok(done) => done,
        Err(refusal) => {
            (api.on_refused_upload)(&refusal);
            let kind = match refusal {
                UploadRefusal::MediaType(_) => ErrorKind::UnsupportedMediaType,
                UploadRefusal::TooLarge { .. } => ErrorKind::TooLarge,
                UploadRefusal::UnregisteredDomain(_) => ErrorKind::Forbidden,
                UploadRefusal::NotAReport(_) | UploadRefusal::ImplausiblePeriod(_) => {
                    ErrorKind::BadRequest
                }
            };
            return Err(ApiError::new(kind, refusal.code(), refusal.to_string()));
        }
    };
    let answer = Upload {
        key: done.key,
        outcome: done.outcome,
        reports: done.reports,
    };
    let reason = done.reason.unwrap_or_default();
    match done.outcome {
        Outcome::Stored => Ok((StatusCode::CREATED, Json(answer)).into_response()),
        Outcome::Duplicate => Ok((StatusCode::OK, Json(answer)).into_response()),
        Outcome::Failed => Err(ApiError::new(
            ErrorKind::Unavailable,
            "storage_unavailable",
            format!("{reason}; send the report again"),
        )),
        // Refused above; here only if the store changed its mind meanwhile.
        Outcome::Rejected | Outcome::Held => Err(ApiError::new(
            ErrorKind::BadRequest,
            "unreadable_report",
            reason,
        )),
    }
}

/// Reads at most `max` bytes of a body; `false` with them when the body was longer.
async fn read_capped(mut body: Body, max: usize) -> Result<(Vec<u8>, bool), ApiError> {
    use http_body_util::BodyExt;
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::new(ErrorKind::BadRequest, "unreadable_body", e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let room = max - bytes.len();
        if data.len() > room {
            bytes.extend_from_slice(&data[..room]);
            return Ok((bytes, false));
        }
        bytes.extend_from_slice(&data);
    }
    Ok((bytes, true))
}

/// One report: metadata, policy, records, warnings, SES verdicts
#[utoipa::path(get, path = "/v1/reports/{id}", operation_id = "report",
    params(ReportPath), responses((status = 200, description = "OK", body = ReportDetail)))]
async fn report<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<ReportPath>,
    _: Query<NoQuery>,
) -> Answer<ReportDetail> {
    Ok(Json(listing::report(&api.store, &p.id).await?))
}

/// The raw message that carried a report
#[utoipa::path(get, path = "/v1/reports/{id}/raw", operation_id = "reportRaw",
    params(ReportPath),
    responses(
        (status = 200, description = "the message", content_type = "message/rfc822", body = String),
        (status = 413, description = "too large to send here", body = ErrorBody),
    ))]
async fn report_raw<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<ReportPath>,
    _: Query<NoQuery>,
) -> Result<Response, ApiError> {
    let bytes = listing::report_raw(&api.store, &p.id, api.max_raw_bytes).await?;
    Ok(raw_response(bytes, &format!("{}.eml", safe_name(&p.id))))
}

/// How ingested messages ended, newest first (default: rejected, held and failed)
#[utoipa::path(get, path = "/v1/messages", operation_id = "messages", params(MessagesQuery),
    responses((status = 200, description = "OK", body = MessageList)))]
async fn messages<S: Store>(
    State(api): Shared<S>,
    Query(q): Query<MessagesQuery>,
) -> Answer<MessageList> {
    Ok(Json(listing::messages(&api.store, q).await?))
}

/// A raw message by its key
#[utoipa::path(get, path = "/v1/messages/{key}", operation_id = "messageRaw",
    params(MessagePath),
    responses(
        (status = 200, description = "the message", content_type = "message/rfc822", body = String),
        (status = 413, description = "too large to send here", body = ErrorBody),
    ))]
async fn message_raw<S: Store>(
    State(api): Shared<S>,
    Segment(p): Segment<MessagePath>,
    _: Query<NoQuery>,
) -> Result<Response, ApiError> {
    let bytes = listing::message_raw(&api.store, &p.key, api.max_raw_bytes).await?;
    let name = p.key.rsplit('/').next().unwrap_or("message");
    Ok(raw_response(bytes, &format!("{}.eml", safe_name(name))))
}

fn raw_response(bytes: Vec<u8>, file: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "message/rfc822".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        Body::from(bytes),
    )
        .into_response()
}

/// A file name made of the safe characters of `s`.
fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

async fn not_found() -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        "not_found",
        "no such resource; see /openapi.json",
    )
}

async fn method_not_allowed() -> Response {
    let body = serde_json::json!({
        "error": "method_not_allowed",
        "message": "this resource does not accept that method; see /openapi.json",
    });
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

/// Refuses requests without a valid bearer token (when the API asks for one): the API
/// token, or a token the [`edge::BearerCheck`] accepts. The caller it finds goes on the
/// request for [`edge::require_admin_for_changes`] and `GET /v1/me`.
async fn require_token<S: Store>(
    State(api): Shared<S>,
    mut request: Request,
    next: Next,
) -> Response {
    let access = &api.access;
    if access.open() {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let found = match (given, &access.token, &access.bearer) {
        (None, ..) => Err(missing_token_message(access)),
        (Some(given), Some(token), _) if edge::token_matches(given, token) => {
            Ok(edge::Caller::api_token())
        }
        (Some(given), _, Some(bearer)) => bearer.check(given).await,
        (Some(_), ..) => Err(missing_token_message(access)),
    };
    match found {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(message) => {
            let body = serde_json::json!({"error": "unauthorized", "message": message});
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(body),
            )
                .into_response()
        }
    }
}

fn missing_token_message(access: &edge::Access) -> String {
    match (&access.token, &access.bearer) {
        (_, Some(_)) => "sign in, and send the token as `Authorization: Bearer <token>`".into(),
        _ => "send the API token as `Authorization: Bearer <token>`".into(),
    }
}
