//! Calls the query Router in-process and checks every response against `openapi.json`.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use rampart_api::rest::{Api, router};
use rampart_mailbox::Addresses;
use rampart_mailbox::intake::Network;
use rampart_mailbox::secrets::{SecretFiles, SecretStore};
use rampart_query::domains::Endpoints;
use rampart_store::Store;
use serde_json::{Value, json};
use tower::ServiceExt;

/// 2024-06-01T00:00:00Z: "today" for every API test, so default ranges are fixed.
pub const TODAY: i64 = 1_717_200_000;

pub fn endpoints() -> Endpoints {
    Endpoints::new(
        "reports@rua.rampart.example".into(),
        "https://api.rampart.example/v1/tlsrpt".into(),
        "mta-sts.rampart.example".into(),
        None,
    )
}

pub fn app<S: Store + 'static>(store: S, token: Option<&str>) -> Router {
    app_at(store, token, || TODAY)
}

/// The API with its clock stopped at `now()`.
pub fn app_at<S: Store + 'static>(store: S, token: Option<&str>, now: fn() -> i64) -> Router {
    app_accepting(store, token, now, rampart_ingest::Accept::Any)
}

/// Refused uploads seen by every API built here, by refusal code.
pub static REFUSED: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

fn count_refusal(refusal: &rampart_ingest::UploadRefusal) {
    REFUSED.lock().unwrap().push(refusal.code());
}

/// The API taking uploads for the domains `accept` says.
pub fn app_accepting<S: Store + 'static>(
    store: S,
    token: Option<&str>,
    now: fn() -> i64,
    accept: rampart_ingest::Accept,
) -> Router {
    app_with(store, token, now, accept, None)
}

/// The API with DNS checks (and the guard on enforced policies) by `checker`.
pub fn app_checking<S: Store + 'static>(
    store: S,
    now: fn() -> i64,
    checker: rampart_checks::Checker,
) -> Router {
    app_with(
        store,
        None,
        now,
        rampart_ingest::Accept::Any,
        Some(Arc::new(checker)),
    )
}

fn app_with<S: Store + 'static>(
    store: S,
    token: Option<&str>,
    now: fn() -> i64,
    accept: rampart_ingest::Accept,
    checker: Option<Arc<rampart_checks::Checker>>,
) -> Router {
    router(Arc::new(api_with(store, token, now, accept, checker)))
}

/// The API keeping mailbox secrets (and reaching servers) as `mailboxes` says.
pub fn app_with_mailboxes<S: Store + 'static>(
    store: S,
    mailboxes: Option<rampart_query::mailboxes::Access>,
) -> Router {
    let mut api = api_with(store, None, || TODAY, rampart_ingest::Accept::Any, None);
    api.mailboxes = mailboxes;
    router(Arc::new(api))
}

fn api_with<S: Store + 'static>(
    store: S,
    token: Option<&str>,
    now: fn() -> i64,
    accept: rampart_ingest::Accept,
    checker: Option<Arc<rampart_checks::Checker>>,
) -> Api<S> {
    Api {
        store,
        endpoints: endpoints(),
        max_raw_bytes: 1 << 20,
        max_upload_bytes: 64 << 10,
        timing: rampart_mta_sts::Timing::default(),
        access: rampart_api::edge::Access {
            token: token.map(str::to_owned),
            sign_in: rampart_api::edge::SignIn {
                method: match token {
                    Some(_) => rampart_api::edge::SignInMethod::Token,
                    None => rampart_api::edge::SignInMethod::None,
                },
                oidc: None,
            },
            ..Default::default()
        },
        accept,
        on_refused_upload: count_refusal,
        now,
        checker,
        mailboxes: Some(rampart_query::mailboxes::Access {
            secrets: SecretStore::Files(SecretFiles { dir: secrets_dir() }),
            network: Some(Network::new(None, Addresses::Any).unwrap()),
        }),
    }
}

/// A fresh folder for each app's mailbox secrets.
pub fn secrets_dir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("rampart-api-secrets-{}-{n}", std::process::id()))
}

/// One response, its JSON body already checked against the document.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The error code of an error reply, checking the status on the way.
    pub fn error(&self, status: u16) -> String {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.bytes)
        );
        let body = self.json();
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        body["error"].as_str().unwrap().to_owned()
    }
}

pub async fn call(app: &Router, method: Method, uri: &str, body: Option<Value>) -> Reply {
    let mut request = Request::builder().method(method.clone()).uri(uri);
    let body = match body {
        Some(v) => {
            request = request.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let reply = into_reply(response).await;
    conforms(&method, uri, &reply);
    reply
}

/// A request with a raw body of the given media type (uploads).
pub async fn call_bytes(
    app: &Router,
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    bytes: Vec<u8>,
) -> Reply {
    let mut request = Request::builder().method(method.clone()).uri(uri);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(bytes)).unwrap())
        .await
        .unwrap();
    let reply = into_reply(response).await;
    conforms(&method, uri, &reply);
    reply
}

pub async fn into_reply(response: axum::response::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        bytes,
    }
}

/// Registers a domain through the API.
pub async fn register(app: &Router, domain: &str) -> Reply {
    call(
        app,
        Method::POST,
        "/v1/domains",
        Some(json!({ "domain": domain })),
    )
    .await
}

pub async fn get(app: &Router, uri: &str) -> Reply {
    call(app, Method::GET, uri, None).await
}

pub fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(rampart_api::document::document)
}

/// The document's path template for a request path.
fn template(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    openapi()["paths"].as_object()?.keys().find_map(|t| {
        let parts: Vec<&str> = t.trim_start_matches('/').split('/').collect();
        let wildcard = t == "/v1/messages/{key}";
        let fits = if wildcard {
            segments.len() >= parts.len() && segments[..2] == parts[..2]
        } else {
            segments.len() == parts.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p.starts_with('{') || p == s)
        };
        fits.then_some(t.as_str())
    })
}

/// Fails the test unless the status is documented for the operation and a JSON body matches
/// its schema. Unknown paths must answer 404 with the error schema.
pub fn conforms(method: &Method, uri: &str, reply: &Reply) {
    let uri: axum::http::Uri = uri.parse().unwrap();
    let path = uri.path();
    let doc = openapi();
    let error_schema = || json!({"$ref": "#/components/schemas/Error"});
    let schema = match template(path) {
        None => {
            assert!(
                matches!(reply.status.as_u16(), 404 | 401),
                "{method} {uri}: undocumented path answered {}",
                reply.status
            );
            error_schema()
        }
        Some(t) => {
            let op = &doc["paths"][t][method.as_str().to_lowercase()];
            if op.is_null() {
                assert_eq!(reply.status.as_u16(), 405, "{method} {uri}");
                error_schema()
            } else {
                let documented = &op["responses"][reply.status.as_str()];
                assert!(
                    !documented.is_null(),
                    "{method} {uri}: status {} is not documented: {}",
                    reply.status,
                    String::from_utf8_lossy(&reply.bytes)
                );
                let media = reply
                    .content_type()
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let content = &documented["content"][&media];
                assert!(
                    !content.is_null(),
                    "{method} {uri}: content type {media} is not documented"
                );
                if media != "application/json" {
                    return;
                }
                content["schema"].clone()
            }
        }
    };
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"].clone(),
    });
    for (k, v) in schema.as_object().unwrap() {
        root[k] = v.clone();
    }
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap();
    let body = reply.json();
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{method} {uri}: {errors:#?}\n{body:#}");
}
