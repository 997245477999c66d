//! Microsoft Graph and its token endpoint as an axum app, for mailbox intake: the client
//! credentials grant, folders by display name, a folder's messages in pages joined by
//! `@odata.nextLink` (ordered and filtered by `receivedDateTime`, as Graph does), each
//! message's MIME (`$value`), moves and new folders. Every Graph call must carry the token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const TENANT: &str = "contoso.example";
pub const CLIENT_ID: &str = "rampart-app";
pub const SECRET: &str = "app-secret";
pub const MAILBOX: &str = "dmarc@contoso.example";
const TOKEN: &str = "graph-token";
/// Graph's default page is 10; a small one makes every listing page.
const PAGE: usize = 4;

#[derive(Clone)]
pub struct Message {
    pub id: String,
    pub received: String,
    pub folder: String,
    pub raw: Vec<u8>,
}

#[derive(Default)]
pub struct Mailbox {
    pub messages: Vec<Message>,
    /// Folder id by display name (`inbox` is well-known).
    pub folders: HashMap<String, String>,
    /// Requests per route kind (`token`, `list`, `value`, `move`, …).
    pub calls: HashMap<&'static str, usize>,
    /// Requests without the token.
    pub unauthorised: usize,
    /// The server's origin (the test sets it once the port is known).
    pub origin: String,
    /// Next links name another origin (127.0.0.1 for localhost): a hostile server.
    pub hostile_links: bool,
}

pub type Shared = Arc<Mutex<Mailbox>>;

impl Mailbox {
    pub fn deliver(&mut self, id: &str, received: &str, raw: &[u8]) {
        self.messages.push(Message {
            id: id.into(),
            received: received.into(),
            folder: "inbox".into(),
            raw: raw.to_vec(),
        });
    }

    pub fn in_folder(&self, folder: &str) -> usize {
        self.messages.iter().filter(|m| m.folder == folder).count()
    }
}

pub fn app(mailbox: Shared) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(
            "/v1.0/users/{user}/mailFolders",
            get(folders).post(new_folder),
        )
        .route("/v1.0/users/{user}/mailFolders/{folder}", get(folder))
        .route(
            "/v1.0/users/{user}/mailFolders/{folder}/messages",
            get(list),
        )
        .route(
            "/v1.0/users/{user}/messages/{id}/{value}",
            get(mime).post(move_message),
        )
        .with_state(mailbox)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `Some(refusal)` without the token, or for a mailbox the app may not read.
fn refused(mailbox: &Shared, headers: &HeaderMap, user: &str) -> Option<Response> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(TOKEN) {
        mailbox.lock().unwrap().unauthorised += 1;
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty.",
        ));
    }
    // Exchange RBAC for Applications scopes the app to this mailbox.
    if user != MAILBOX {
        return Some(error(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        ));
    }
    None
}

fn count(mailbox: &Shared, what: &'static str) {
    *mailbox.lock().unwrap().calls.entry(what).or_default() += 1;
}

async fn token(
    State(mailbox): State<Shared>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    count(&mailbox, "token");
    let origin = mailbox.lock().unwrap().origin.clone();
    let field = |name: &str| form.get(name).map(String::as_str);
    if tenant != TENANT || field("client_id") != Some(CLIENT_ID) {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "unauthorized_client", "error_description": "AADSTS700016: Application not found in the directory."}))).into_response();
    }
    if field("client_secret") != Some(SECRET) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}))).into_response();
    }
    let scope = format!("{origin}/.default");
    if field("grant_type") != Some("client_credentials") || field("scope") != Some(scope.as_str()) {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_request", "error_description": "AADSTS90014: grant_type or scope."}))).into_response();
    }
    axum::Json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN}))
        .into_response()
}

async fn folders(
    State(mailbox): State<Shared>,
    Path(user): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refused(&mailbox, &headers, &user) {
        return refused;
    }
    count(&mailbox, "folders");
    let Some(name) = query
        .get("$filter")
        .and_then(|f| f.strip_prefix("displayName eq '"))
        .and_then(|f| f.strip_suffix('\''))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "a displayName filter",
        );
    };
    let name = name.replace("''", "'");
    let found: Vec<Value> = mailbox
        .lock()
        .unwrap()
        .folders
        .get(&name)
        .map(|id| json!({"id": id}))
        .into_iter()
        .collect();
    axum::Json(json!({"value": found})).into_response()
}

async fn folder(
    State(mailbox): State<Shared>,
    Path((user, folder)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refused(&mailbox, &headers, &user) {
        return refused;
    }
    count(&mailbox, "folder");
    let total = mailbox.lock().unwrap().in_folder(&folder);
    axum::Json(json!({"id": folder, "totalItemCount": total})).into_response()
}

async fn new_folder(
    State(mailbox): State<Shared>,
    Path(user): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(refused) = refused(&mailbox, &headers, &user) {
        return refused;
    }
    count(&mailbox, "new_folder");
    let name = body["displayName"].as_str().unwrap_or_default().to_owned();
    let mut m = mailbox.lock().unwrap();
    let id = format!("AAMkFolder{}=", m.folders.len() + 1);
    m.folders.insert(name.clone(), id.clone());
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "displayName": name})),
    )
        .into_response()
}

async fn list(
    State(mailbox): State<Shared>,
    Path((user, folder)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refused(&mailbox, &headers, &user) {
        return refused;
    }
    count(&mailbox, "list");
    if query.get("$orderby").map(String::as_str) != Some("receivedDateTime asc")
        || query.get("$select").map(String::as_str) != Some("id,receivedDateTime")
    {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "$orderby and $select as Rampart sends them",
        );
    }
    let since = match query.get("$filter") {
        Some(f) => match f.strip_prefix("receivedDateTime ge ") {
            Some(at) => Some(at.to_owned()),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "Invalid filter clause",
                );
            }
        },
        None => None,
    };
    let top: usize = query.get("$top").and_then(|t| t.parse().ok()).unwrap_or(10);
    let skip: usize = query
        .get("$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let m = mailbox.lock().unwrap();
    let mut matching: Vec<&Message> = m
        .messages
        .iter()
        .filter(|msg| msg.folder == folder)
        .filter(|msg| {
            since
                .as_ref()
                .is_none_or(|s| msg.received.as_str() >= s.as_str())
        })
        .collect();
    matching.sort_by(|a, b| a.received.cmp(&b.received));
    let page_size = top.min(PAGE);
    let page: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(page_size)
        .map(|msg| json!({"id": msg.id, "receivedDateTime": msg.received}))
        .collect();
    let mut body = json!({"value": page});
    if skip + page_size < matching.len() {
        // Graph's next link carries the query and a skip token.
        let origin = if m.hostile_links {
            m.origin.replace("localhost", "127.0.0.1")
        } else {
            m.origin.clone()
        };
        let mut next = reqwest::Url::parse(&format!(
            "{origin}/v1.0/users/{user}/mailFolders/{folder}/messages"
        ))
        .unwrap();
        {
            let mut pairs = next.query_pairs_mut();
            for (k, v) in &query {
                if k != "$skiptoken" {
                    pairs.append_pair(k, v);
                }
            }
            pairs.append_pair("$skiptoken", &(skip + page_size).to_string());
        }
        body["@odata.nextLink"] = Value::String(next.to_string());
    }
    axum::Json(body).into_response()
}

async fn mime(
    State(mailbox): State<Shared>,
    Path((user, id, value)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refused(&mailbox, &headers, &user) {
        return refused;
    }
    count(&mailbox, "value");
    if value != "$value" {
        return error(StatusCode::NOT_FOUND, "ResourceNotFound", "no such segment");
    }
    let m = mailbox.lock().unwrap();
    match m.messages.iter().find(|msg| msg.id == id) {
        Some(msg) => (
            [("content-type", "text/plain")],
            Bytes::from(msg.raw.clone()),
        )
            .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        ),
    }
}

async fn move_message(
    State(mailbox): State<Shared>,
    Path((user, id, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(refused) = refused(&mailbox, &headers, &user) {
        return refused;
    }
    count(&mailbox, "move");
    if action != "move" {
        return error(StatusCode::NOT_FOUND, "ResourceNotFound", "no such action");
    }
    let to = body["destinationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut m = mailbox.lock().unwrap();
    let known = to == "inbox" || m.folders.values().any(|f| *f == to);
    if !known {
        return error(
            StatusCode::NOT_FOUND,
            "ErrorInvalidIdMalformed",
            "Id is malformed.",
        );
    }
    match m.messages.iter_mut().find(|msg| msg.id == id) {
        Some(msg) => {
            msg.folder = to;
            // A moved message gets a new id in its new folder, as in Exchange.
            msg.id = format!("{}-moved", msg.id);
            (StatusCode::CREATED, axum::Json(json!({"id": msg.id}))).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        ),
    }
}
