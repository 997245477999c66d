//! One Microsoft 365 mail folder read through Microsoft Graph with an app-only token (OAuth
//! client credentials): the messages received since a checkpoint, oldest first, each fetched
//! as its MIME bytes (`$value`), optionally moved once kept.
//!
//! Graph has no UIDs: the checkpoint is the newest `receivedDateTime` taken and the ids
//! taken at that instant, so a listing from that instant on (`ge`) skips exactly those.
//! The token and Graph URLs are configurable for national clouds and for tests; each must
//! be HTTPS, or HTTP to this machine.

use std::time::Duration;

use reqwest::{Client, Url};
use serde::{Deserialize, Serialize};

use rampart_checks::mta_sts::{PublicResolver, is_public};

use crate::{Addresses, MailboxError};

/// Microsoft's public cloud.
pub const GRAPH_URL: &str = "https://graph.microsoft.com";
const LOGIN_URL: &str = "https://login.microsoftonline.com";
/// Largest JSON answer read (a page of 50 ids is a few KiB).
const MAX_JSON_BYTES: usize = 4 << 20;
/// Most ids kept in a checkpoint: messages received in the same second.
const MAX_CHECKPOINT_IDS: usize = 200;
/// Folder names Graph knows without a lookup.
const WELL_KNOWN: &[&str] = &["inbox", "archive", "junkemail", "deleteditems"];

/// Where the mails are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The Entra ID tenant (its id or a domain).
    pub tenant: String,
    /// The app registration's client id.
    pub client_id: String,
    /// The mailbox: its address or object id.
    pub user: String,
    /// A well-known folder (`inbox`, `archive`) or a top-level folder's display name.
    pub folder: String,
    /// [default: `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// [default: `https://graph.microsoft.com`]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_url: Option<String>,
}

/// How far a folder has been read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The newest `receivedDateTime` taken, as Graph wrote it.
    pub received: String,
    /// The ids taken at that instant.
    pub ids: Vec<String>,
}

/// One message listed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Listed {
    pub id: String,
    #[serde(rename = "receivedDateTime")]
    pub received: String,
}

/// What a listing found past the checkpoint, oldest first, at most `max` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub messages: Vec<Listed>,
    /// More are waiting beyond `max` (the next run takes them).
    pub more: bool,
}

/// A logged-in client for one mailbox.
pub struct Graph {
    http: Client,
    base: Url,
    token: String,
    user: String,
}

/// The HTTP client: TLS verified by the system's roots plus `extra_ca`; no redirects;
/// names resolved to the addresses `addresses` allows.
pub fn client(extra_ca: Option<&[u8]>, addresses: Addresses) -> Result<Client, MailboxError> {
    let mut builder = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120));
    if addresses == Addresses::PublicOnly {
        builder = builder.dns_resolver(std::sync::Arc::new(PublicResolver));
    }
    if let Some(pem) = extra_ca {
        for cert in reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| MailboxError::Protocol(format!("the CA file: {e}")))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| MailboxError::Protocol(format!("HTTP client: {e}")))
}

/// HTTPS, or HTTP to this machine (a test, a local proxy); where only public addresses may
/// be reached, an address written in the URL (which skips the resolver) must be public.
pub fn checked_url(url: &str, what: &str, addresses: Addresses) -> Result<Url, MailboxError> {
    let parsed =
        Url::parse(url).map_err(|e| MailboxError::Protocol(format!("{what} {url:?}: {e}")))?;
    let local = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let literal = parsed.host_str().and_then(|host| {
        host.trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .ok()
    });
    if let Some(ip) = literal.filter(|ip| addresses == Addresses::PublicOnly && !is_public(*ip)) {
        return Err(MailboxError::Protocol(format!(
            "{what} {url:?}: {ip} is not a public address"
        )));
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if local => Ok(parsed),
        _ => Err(MailboxError::Protocol(format!(
            "{what} {url:?}: must be https:// (http:// only to this machine)"
        ))),
    }
}

impl Account {
    pub fn token_url(&self) -> String {
        self.token_url
            .clone()
            .unwrap_or_else(|| format!("{LOGIN_URL}/{}/oauth2/v2.0/token", self.tenant))
    }

    pub fn graph_url(&self) -> &str {
        self.graph_url.as_deref().unwrap_or(GRAPH_URL)
    }

    /// The scope of an app-only token: Graph's, whatever cloud it is in.
    fn scope(&self) -> String {
        format!("{}/.default", self.graph_url().trim_end_matches('/'))
    }
}

#[derive(Deserialize)]
struct Token {
    access_token: String,
}

#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next: Option<String>,
}

#[derive(Deserialize)]
struct FolderId {
    id: String,
}

/// Gets an app-only token with the client secret, which goes only to the token URL.
pub async fn login(
    http: &Client,
    account: &Account,
    secret: &str,
    addresses: Addresses,
) -> Result<Graph, MailboxError> {
    let token_url = checked_url(&account.token_url(), "token_url", addresses)?;
    let base = checked_url(account.graph_url(), "graph_url", addresses)?;
    let scope = account.scope();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", account.client_id.as_str()),
        ("client_secret", secret),
        ("scope", scope.as_str()),
    ];
    let answer = http
        .post(token_url.clone())
        .form(&form)
        .send()
        .await
        .map_err(|e| MailboxError::Connect {
            host: token_url.host_str().unwrap_or_default().to_owned(),
            port: token_url.port_or_known_default().unwrap_or(443),
            source: std::io::Error::other(e.without_url()),
        })?;
    let status = answer.status();
    let body = bounded(answer, MAX_JSON_BYTES).await?;
    if !status.is_success() {
        // Entra ID says why in `error_description`; the secret is never in it.
        let why = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error_description"].as_str().map(str::to_owned))
            .unwrap_or_else(|| status.to_string());
        return Err(MailboxError::Login(account.client_id.clone(), why));
    }
    let token: Token = serde_json::from_slice(&body)
        .map_err(|e| MailboxError::Protocol(format!("the token answer: {e}")))?;
    Ok(Graph {
        http: http.clone(),
        base,
        token: token.access_token,
        user: account.user.clone(),
    })
}

impl Graph {
    /// `<graph>/v1.0/users/<user>/<rest…>`, each segment escaped.
    fn url(&self, rest: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has a path")
            .pop_if_empty()
            .extend(["v1.0", "users", &self.user])
            .extend(rest);
        url
    }

    /// Sends `request` to `url` with the token; a failure status is an error with Graph's
    /// words, read bounded.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<reqwest::Response, MailboxError> {
        let answer = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| MailboxError::Protocol(format!("{}: {e}", url.path())))?;
        let status = answer.status();
        if !status.is_success() {
            let body = bounded(answer, MAX_JSON_BYTES).await?;
            return Err(graph_error(url.path(), status, &body));
        }
        Ok(answer)
    }

    /// The JSON answer of a successful `request`, read bounded.
    async fn json<T: for<'de> Deserialize<'de>>(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<T, MailboxError> {
        let answer = self.send(request, url).await?;
        let body = bounded(answer, MAX_JSON_BYTES).await?;
        serde_json::from_slice(&body)
            .map_err(|e| MailboxError::Protocol(format!("{}: {e}", url.path())))
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, url: Url) -> Result<T, MailboxError> {
        self.json(self.http.get(url.clone()), &url).await
    }

    /// A folder's id: well-known names as they are, others looked up by display name.
    pub async fn folder_id(&self, name: &str) -> Result<Option<String>, MailboxError> {
        if WELL_KNOWN.contains(&name.to_ascii_lowercase().as_str()) {
            return Ok(Some(name.to_ascii_lowercase()));
        }
        let mut url = self.url(&["mailFolders"]);
        url.query_pairs_mut()
            .append_pair(
                "$filter",
                &format!("displayName eq '{}'", name.replace('\'', "''")),
            )
            .append_pair("$select", "id");
        let page: Page<FolderId> = self.get_json(url).await?;
        Ok(page.value.into_iter().next().map(|f| f.id))
    }

    /// How many messages the folder holds (`totalItemCount`).
    pub async fn total(&self, folder: &str) -> Result<u32, MailboxError> {
        #[derive(Deserialize)]
        struct Counted {
            #[serde(rename = "totalItemCount")]
            total: u32,
        }
        let mut url = self.url(&["mailFolders", folder]);
        url.query_pairs_mut()
            .append_pair("$select", "totalItemCount");
        let counted: Counted = self.get_json(url).await?;
        Ok(counted.total)
    }

    /// The messages received since `since` in `folder` (an id or well-known name), oldest
    /// first, at most `max`. Pages are followed through `@odata.nextLink`, which must stay
    /// on the Graph URL.
    pub async fn list_new(
        &self,
        folder: &str,
        since: Option<&Checkpoint>,
        max: usize,
    ) -> Result<Listing, MailboxError> {
        let mut url = self.url(&["mailFolders", folder, "messages"]);
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("$select", "id,receivedDateTime")
                .append_pair("$orderby", "receivedDateTime asc")
                .append_pair("$top", "50");
            if let Some(since) = since {
                query.append_pair(
                    "$filter",
                    &format!("receivedDateTime ge {}", since.received),
                );
            }
        }
        let mut messages = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let page: Page<Listed> = self.get_json(url).await?;
            for listed in page.value {
                let seen = since.is_some_and(|c| {
                    listed.received < c.received
                        || (listed.received == c.received && c.ids.contains(&listed.id))
                });
                if seen {
                    continue;
                }
                if messages.len() == max {
                    return Ok(Listing {
                        messages,
                        more: true,
                    });
                }
                messages.push(listed);
            }
            next = match page.next {
                Some(link) => Some(self.same_origin(&link)?),
                None => None,
            };
        }
        Ok(Listing {
            messages,
            more: false,
        })
    }

    fn same_origin(&self, link: &str) -> Result<Url, MailboxError> {
        let url = Url::parse(link)
            .map_err(|e| MailboxError::Protocol(format!("@odata.nextLink {link:?}: {e}")))?;
        if url.origin() != self.base.origin() {
            return Err(MailboxError::Protocol(format!(
                "@odata.nextLink {link:?} leaves {}",
                self.base
            )));
        }
        Ok(url)
    }

    /// A message's MIME bytes; `None` when it is over `max_bytes` (not read further).
    pub async fn mime(&self, id: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, MailboxError> {
        let url = self.url(&["messages", id, "$value"]);
        let answer = self.send(self.http.get(url.clone()), &url).await?;
        if answer
            .content_length()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Ok(None);
        }
        match bounded(answer, max_bytes).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(MailboxError::TooLarge) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves a message to the folder `to` (an id or well-known name).
    pub async fn move_message(&self, id: &str, to: &str) -> Result<(), MailboxError> {
        let url = self.url(&["messages", id, "move"]);
        let request = self
            .http
            .post(url.clone())
            .json(&serde_json::json!({ "destinationId": to }));
        self.send(request, &url).await.map(drop)
    }

    /// The id of the top-level folder `name`, created if missing.
    pub async fn ensure_folder(&self, name: &str) -> Result<String, MailboxError> {
        if let Some(id) = self.folder_id(name).await? {
            return Ok(id);
        }
        let url = self.url(&["mailFolders"]);
        let request = self
            .http
            .post(url.clone())
            .json(&serde_json::json!({ "displayName": name }));
        let created: FolderId = self.json(request, &url).await?;
        Ok(created.id)
    }
}

/// The checkpoint after taking `taken` (oldest first) over `since`.
pub fn advance(since: Option<&Checkpoint>, taken: &[Listed]) -> Option<Checkpoint> {
    let last = taken.last()?;
    let mut ids: Vec<String> = match since {
        Some(c) if c.received == last.received => c.ids.clone(),
        _ => Vec::new(),
    };
    ids.extend(
        taken
            .iter()
            .filter(|l| l.received == last.received)
            .map(|l| l.id.clone()),
    );
    // More than this many in one instant: the oldest ids are dropped, and those mails may
    // be read again (as duplicates) rather than the checkpoint growing without end.
    let excess = ids.len().saturating_sub(MAX_CHECKPOINT_IDS);
    ids.drain(..excess);
    Some(Checkpoint {
        received: last.received.clone(),
        ids,
    })
}

/// Graph's `{"error": {"code", "message"}}`, or the status.
fn graph_error(path: &str, status: reqwest::StatusCode, body: &[u8]) -> MailboxError {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let why = match (
        value["error"]["code"].as_str(),
        value["error"]["message"].as_str(),
    ) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        _ => status.to_string(),
    };
    let why: String = why.chars().take(300).collect();
    match status.as_u16() {
        401 | 403 => MailboxError::Login(path.to_owned(), why),
        404 => MailboxError::Folder(path.to_owned(), why),
        _ => MailboxError::Protocol(format!("{path}: {why}")),
    }
}

/// The body, at most `max` bytes: over it is [`MailboxError::TooLarge`].
async fn bounded(mut answer: reqwest::Response, max: usize) -> Result<Vec<u8>, MailboxError> {
    let mut body = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|e| MailboxError::Protocol(format!("reading an answer: {e}")))?
    {
        if body.len() + chunk.len() > max {
            return Err(MailboxError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, at: &str) -> Listed {
        Listed {
            id: id.into(),
            received: at.into(),
        }
    }

    #[test]
    fn the_checkpoint_keeps_the_ids_of_its_last_instant() {
        let t1 = "2026-11-30T10:00:00Z";
        let t2 = "2026-11-30T11:00:00Z";
        let first = advance(None, &[listed("a", t1), listed("b", t2), listed("c", t2)]).unwrap();
        assert_eq!(
            (first.received.as_str(), first.ids.clone()),
            (t2, vec!["b".into(), "c".into()])
        );
        let same = advance(Some(&first), &[listed("d", t2)]).unwrap();
        assert_eq!(same.ids, ["b", "c", "d"]);
        assert_eq!(advance(Some(&first), &[]), None);
        let many: Vec<Listed> = (0..250).map(|i| listed(&i.to_string(), t1)).collect();
        let capped = advance(None, &many).unwrap();
        assert_eq!((capped.ids.len(), capped.ids[0].as_str()), (200, "50"));
    }

    #[test]
    fn urls_must_be_https_or_this_machine() {
        use crate::Addresses::{Any, PublicOnly};
        assert!(checked_url("https://graph.microsoft.us", "graph_url", Any).is_ok());
        assert!(checked_url("http://127.0.0.1:8080", "graph_url", Any).is_ok());
        assert!(checked_url("http://graph.example", "graph_url", Any).is_err());
        assert!(checked_url("file:///etc/passwd", "token_url", Any).is_err());
        // A server reaches public addresses only: a name is checked when resolved, an
        // address written in the URL here.
        assert!(checked_url("https://graph.microsoft.us", "graph_url", PublicOnly).is_ok());
        assert!(checked_url("https://192.0.2.1/x", "graph_url", PublicOnly).is_ok());
        for private in [
            "http://127.0.0.1:8080",
            "https://10.0.0.1/token",
            "https://[::1]/",
            "https://169.254.169.254/",
        ] {
            assert!(
                checked_url(private, "token_url", PublicOnly).is_err(),
                "{private}"
            );
        }
    }
}
