//! The REST API: one axum [`Router`] over any [`Store`], served by Lambda (through
//! lambda_http, for API Gateway HTTP and REST events) and by `rampart serve` on a TCP socket.
//!
//! Handlers only translate HTTP: they hand the path and query-string pairs to
//! [`rampart_query`] and turn its answer into JSON (or CSV, or raw bytes) and its
//! [`QueryError`] into `{"error": code, "message": ...}` with the matching status. The
//! resources are described in `openapi.json`, served at `/openapi.json`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use rampart_ingest::{Accept, Ingest, UploadRefusal, refuse_tls_media_type};
use rampart_mta_sts::Timing;
use rampart_query::domains::Endpoints;
use rampart_query::{ErrorKind, QueryError, aggregate, domains, hosting, listing, sources};
use rampart_sources::Enricher;
use rampart_store::{Outcome, RawKey, Store, UPLOAD_PREFIX};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::edge;

/// The OpenAPI 3.1 description of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

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
    /// When set, every request but the public TLS report upload must carry
    /// `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Whose TLS reports `POST /v1/tlsrpt` takes.
    pub accept: Accept,
    /// Told of every refused upload (which is not kept): the Lambda writes a metric line,
    /// `rampart serve` a log line.
    pub on_refused_upload: fn(&UploadRefusal),
    /// The clock, replaceable so tests are independent of the day they run.
    pub now: fn() -> i64,
}

impl<S> Api<S> {
    /// The policy calls at this moment.
    fn hosting(&self) -> hosting::Hosting<'_, S> {
        hosting::Hosting {
            store: &self.store,
            endpoints: &self.endpoints,
            now: (self.now)(),
            timing: self.timing,
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

/// The API's routes over `api`.
pub fn router<S: Store + 'static>(api: Arc<Api<S>>) -> Router {
    // Senders POST TLS reports without credentials (RFC 8460 section 5.4).
    let public = Router::new().route("/v1/tlsrpt", post(upload_tls_report::<S>));
    let protected = Router::new()
        .route("/openapi.json", get(openapi))
        .route(
            "/v1/domains",
            get(list_domains::<S>).post(register_domain::<S>),
        )
        .route(
            "/v1/domains/{domain}",
            get(show_domain::<S>).delete(remove_domain::<S>),
        )
        .route("/v1/domains/{domain}/summary", get(summary::<S>))
        .route("/v1/domains/{domain}/timeseries", get(timeseries::<S>))
        .route("/v1/domains/{domain}/stats", get(stats::<S>))
        .route("/v1/domains/{domain}/records", get(records::<S>))
        .route("/v1/domains/{domain}/sources", get(sources::<S>))
        .route("/v1/domains/{domain}/spoofing", get(spoofing::<S>))
        .route("/v1/domains/{domain}/reports", get(reports::<S>))
        .route("/v1/domains/{domain}/tls", get(tls::<S>))
        .route(
            "/v1/domains/{domain}/mta-sts",
            get(show_policy::<S>)
                .put(replace_policy::<S>)
                .delete(retire_policy::<S>),
        )
        .route("/v1/reports/{id}", get(report::<S>))
        .route("/v1/reports/{id}/raw", get(report_raw::<S>))
        .route("/v1/messages", get(messages::<S>))
        .route("/v1/messages/{*key}", get(message_raw::<S>))
        .fallback(not_found)
        // Innermost first: the JSON body bound, then admin-only changes, then the token.
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES))
        .layer(middleware::from_fn(edge::require_admin_for_changes))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&api),
            require_token::<S>,
        ));
    public
        .merge(protected)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(api)
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
        let body = serde_json::json!({"error": e.code, "message": e.message});
        (status, Json(body)).into_response()
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

/// The query string as name/value pairs, decoded.
fn pairs(query: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(query.as_deref().unwrap_or("")).map_err(|e| {
        ApiError::new(
            ErrorKind::BadRequest,
            "invalid_query",
            format!("the query string is not readable: {e}"),
        )
    })
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::new(ErrorKind::BadRequest, "invalid_path", e.body_text()))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn list_domains<S: Store>(
    State(api): Shared<S>,
    RawQuery(q): RawQuery,
) -> Answer<domains::DomainList> {
    Ok(Json(domains::list(&api.store, pairs(q)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    domain: String,
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

async fn register_domain<S: Store>(
    State(api): Shared<S>,
    RawQuery(q): RawQuery,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    rampart_query::Params::new(pairs(q)?, &[])?;
    let body: Registration = json_object(body, r#"{"domain": "example.com"}"#)?;
    let (setup, created) =
        domains::register(&api.store, &body.domain, &api.endpoints, (api.now)()).await?;
    Ok((created_or_ok(created), Json(setup)).into_response())
}

async fn show_domain<S: Store>(
    State(api): Shared<S>,
    domain: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Answer<domains::DomainSetup> {
    let domain = path(domain)?;
    Ok(Json(
        domains::show(&api.store, &domain, &api.endpoints, pairs(q)?).await?,
    ))
}

async fn remove_domain<S: Store>(
    State(api): Shared<S>,
    domain: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Answer<domains::Removal> {
    let domain = path(domain)?;
    Ok(Json(
        domains::remove(&api.store, &domain, pairs(q)?, (api.now)()).await?,
    ))
}

async fn summary<S: Store>(
    State(api): Shared<S>,
    domain: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Answer<aggregate::Summary> {
    let domain = path(domain)?;
    Ok(Json(
        aggregate::summary(&api.store, &domain, pairs(q)?, api.today()).await?,
    ))
}

async fn timeseries<S: Store>(
    State(api): Shared<S>,
    domain: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Answer<aggregate::Timeseries> {
    let domain = path(domain)?;
    Ok(Json(
        aggregate::timeseries(&api.store, &domain, pairs(q)?, api.today()).await?,
    ))
}

async fn stats<S: Store>(
    State(api): Shared<S>,
    domain: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Answer<aggregate::Stats> {
    let domain = path(domain)?;
    Ok(Json(
        aggregate::stats(&api.store, &domain, pairs(q)?, api.today()).await?,
    ))
}

async fn sources<S: Store>(
    State(api): Shared<S>,
    domain: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Answer<sources::SourcesView> {
    let domain = path(domain)?;
    Ok(Json(
        sources::sources(&api.store, &domain, pairs(q)?, api.today()).await?,
    ))
}

async fn spoofing<S: Store>(
    State(api): Shared<S>,
    domain: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Answer<sources::SpoofingView> {
    let domain = path(domain)?;
    Ok(Json(
        sources::spoofing(&api.store, &domain, pairs(q)?, api.today()).await?,
    ))
}

async fn records<S: Store>(
    State(api): Shared<S>,
    domain: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let domain = path(domain)?;
    let (found, format) = aggregate::records(&api.store, &domain, pairs(q)?, api.today()).await?;
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

async fn reports<S: Store>(
    State(api): Shared<S>,
    domain: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Answer<listing::ReportList> {
    let domain = path(domain)?;
    Ok(Json(
        listing::reports(&api.store, &domain, pairs(q)?, api.today()).await?,
    ))
}

async fn tls<S: Store>(
    State(api): Shared<S>,
    domain: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Answer<listing::TlsView> {
    let domain = path(domain)?;
    Ok(Json(
        listing::tls(&api.store, &domain, pairs(q)?, api.today()).await?,
    ))
}

async fn show_policy<S: Store>(
    State(api): Shared<S>,
    domain: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Answer<hosting::HostedPolicy> {
    let domain = path(domain)?;
    Ok(Json(api.hosting().show(&domain, pairs(q)?).await?))
}

async fn replace_policy<S: Store>(
    State(api): Shared<S>,
    domain: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let domain = path(domain)?;
    rampart_query::Params::new(pairs(q)?, &[])?;
    let body = json_object(
        body,
        r#"{"mode": "enforce", "mx": ["mx1.example.com"], "max_age": 604800}"#,
    )?;
    let (hosted, created) = api.hosting().replace(&domain, body).await?;
    Ok((created_or_ok(created), Json(hosted)).into_response())
}

async fn retire_policy<S: Store>(
    State(api): Shared<S>,
    domain: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Answer<hosting::HostedPolicy> {
    let domain = path(domain)?;
    Ok(Json(api.hosting().retire(&domain, pairs(q)?).await?))
}

/// `POST /v1/tlsrpt`: a TLS report over HTTPS (RFC 8460 section 5.4). A report is kept and
/// answered 201 (200 when it was stored already); anything refused (media type, size, not a
/// TLS report, an unregistered domain, a period in the future) is answered with the reason
/// and not kept.
async fn upload_tls_report<S: Store>(
    State(api): Shared<S>,
    RawQuery(q): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    rampart_query::Params::new(pairs(q)?, &[])?;
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
    let answer = serde_json::json!({
        "key": done.key,
        "outcome": done.outcome,
        "reports": done.reports,
    });
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

async fn report<S: Store>(
    State(api): Shared<S>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Answer<listing::ReportDetail> {
    let id = path(id)?;
    Ok(Json(listing::report(&api.store, &id, pairs(q)?).await?))
}

async fn report_raw<S: Store>(
    State(api): Shared<S>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let id = path(id)?;
    let bytes = listing::report_raw(&api.store, &id, pairs(q)?, api.max_raw_bytes).await?;
    Ok(raw_response(bytes, &format!("{}.eml", safe_name(&id))))
}

async fn messages<S: Store>(
    State(api): Shared<S>,
    RawQuery(q): RawQuery,
) -> Answer<listing::MessageList> {
    Ok(Json(listing::messages(&api.store, pairs(q)?).await?))
}

async fn message_raw<S: Store>(
    State(api): Shared<S>,
    key: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let key = path(key)?;
    let bytes = listing::message_raw(&api.store, &key, pairs(q)?, api.max_raw_bytes).await?;
    let name = key.rsplit('/').next().unwrap_or("message");
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

/// Refuses requests without the configured bearer token (when one is configured).
async fn require_token<S: Store>(State(api): Shared<S>, request: Request, next: Next) -> Response {
    let Some(token) = &api.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| edge::token_matches(g, token)) {
        return next.run(request).await;
    }
    let body = serde_json::json!({
        "error": "unauthorized",
        "message": "send the API token as `Authorization: Bearer <token>`",
    });
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(body),
    )
        .into_response()
}
