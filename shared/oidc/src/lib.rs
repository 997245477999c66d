//! OpenID Connect for `rampart serve`: the issuer's discovery document, its signing keys
//! (fetched, cached, and fetched again when they rotate), and the validation of the bearer
//! tokens people's browsers send.
//!
//! On AWS, API Gateway's JWT authorizer does this work in front of the Lambda; on one
//! machine [`Verifier`] does it in process, with the same rules: the issuer exactly, the
//! audience in `aud` (or, for Cognito access tokens without `aud`, in `client_id`), the
//! expiry, and only public-key algorithms ([`keys::ALLOWED`]).

pub mod keys;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde::Deserialize;

use keys::{ALLOWED, KeySet};

/// The claims of a valid token, as the issuer wrote them.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// Longest token read: ID tokens with many groups reach a few kilobytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Largest discovery document or JWK Set read.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Keys are fetched again after this long, so a key the issuer withdrew stops working.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Clock difference tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// What the issuer publishes at `/.well-known/openid-configuration` that Rampart uses.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// Why the issuer could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{url}: the discovery document names the issuer {found:?}, not {expected:?}")]
    IssuerMismatch {
        url: String,
        found: String,
        expected: String,
    },
}

/// Why a token was refused. The message is safe to show to its bearer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the bearer token is not a signed JWT: {0}")]
    Malformed(String),
    #[error("the token is signed with {0}, which is not allowed")]
    Algorithm(String),
    #[error("the token is signed with a key the issuer does not publish")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired; sign in again")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token was issued for another audience")]
    WrongAudience,
    #[error("the token's claims are invalid: {0}")]
    Invalid(String),
    #[error("the issuer's keys cannot be fetched now: {0}")]
    KeysUnavailable(String),
}

/// Validates tokens of one issuer for one audience.
pub struct Verifier {
    issuer: String,
    audience: String,
    jwks_uri: String,
    http: reqwest::Client,
    keys: RwLock<Cached>,
    /// One fetch of the keys at a time; others wait for it and use its result.
    fetching: tokio::sync::Mutex<()>,
    /// The keys are fetched at most this often, whatever asks (a token naming an unknown
    /// key, stale keys) and whether the last fetch worked or not: neither a flood of forged
    /// key ids nor an issuer that is down makes every request wait on a fetch.
    min_refetch: Duration,
}

#[derive(Default)]
struct Cached {
    set: Arc<KeySet>,
    /// The last fetch that worked.
    fetched: Option<Instant>,
    /// The last fetch, worked or not, and why it failed if it did.
    attempted: Option<Instant>,
    failure: Option<String>,
}

impl Verifier {
    /// Reads the issuer's discovery document and returns a verifier for `audience` with it.
    pub async fn discover(
        issuer: &str,
        audience: &str,
    ) -> Result<(Verifier, Discovery), SetupError> {
        let http = client();
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery: Discovery = fetch_json(&http, &url).await?;
        if discovery.issuer != issuer {
            return Err(SetupError::IssuerMismatch {
                url,
                found: discovery.issuer,
                expected: issuer.to_owned(),
            });
        }
        check_url(&discovery.jwks_uri).map_err(|reason| SetupError::Fetch {
            url: discovery.jwks_uri.clone(),
            reason,
        })?;
        let verifier = Verifier::new(issuer, audience, &discovery.jwks_uri);
        Ok((verifier, discovery))
    }

    /// A verifier with a known JWK Set address (no discovery), such as Cognito's
    /// `https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json`.
    pub fn new(issuer: &str, audience: &str, jwks_uri: &str) -> Verifier {
        keys::install_provider();
        Verifier {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            jwks_uri: jwks_uri.to_owned(),
            http: client(),
            keys: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
            min_refetch: Duration::from_secs(30),
        }
    }

    /// How often a token with an unknown key id may fetch the keys again (30 s unless set).
    pub fn with_min_refetch(mut self, interval: Duration) -> Verifier {
        self.min_refetch = interval;
        self
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Fetches the keys now: `rampart serve` calls it at start, so a wrong address fails
    /// there rather than at the first sign-in.
    pub async fn load_keys(&self) -> Result<usize, Refusal> {
        self.refresh(None).await?;
        Ok(self.cached().0.by_id.len())
    }

    /// The claims of `token` when it is valid; why not otherwise.
    pub async fn verify(&self, token: &str) -> Result<Claims, Refusal> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Refusal::Malformed(format!(
                "longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let header = decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::Json(_) if token.split('.').next().is_some_and(names_none) => {
                Refusal::Algorithm("none".into())
            }
            _ => Refusal::Malformed(e.to_string()),
        })?;
        if !ALLOWED.contains(&header.alg) {
            return Err(Refusal::Algorithm(format!("{:?}", header.alg)));
        }
        let set = self.keys_for(header.kid.as_deref()).await?;
        let key = set.find(header.kid.as_deref()).ok_or(Refusal::UnknownKey)?;
        if key.alg.is_some_and(|alg| alg != header.alg) {
            return Err(Refusal::Algorithm(format!(
                "{:?} (the key is for {:?})",
                header.alg, key.alg
            )));
        }
        let mut rules = Validation::new(header.alg);
        rules.leeway = LEEWAY_SECS;
        rules.validate_nbf = true;
        rules.set_issuer(&[&self.issuer]);
        // Checked below: Cognito access tokens carry `client_id` instead of `aud`.
        rules.validate_aud = false;
        rules.required_spec_claims = HashSet::from(["exp".to_owned(), "iss".to_owned()]);
        let claims = decode::<Claims>(token, &key.key, &rules)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => Refusal::Expired,
                ErrorKind::ImmatureSignature => Refusal::NotYetValid,
                ErrorKind::InvalidIssuer => Refusal::WrongIssuer,
                ErrorKind::InvalidSignature => Refusal::BadSignature,
                ErrorKind::InvalidAlgorithm => Refusal::Algorithm(format!("{:?}", header.alg)),
                _ => Refusal::Invalid(e.to_string()),
            })?
            .claims;
        if !for_audience(&claims, &self.audience) {
            return Err(Refusal::WrongAudience);
        }
        Ok(claims)
    }

    fn cached(&self) -> (Arc<KeySet>, Option<Instant>) {
        let cached = self.keys.read().unwrap_or_else(|e| e.into_inner());
        (Arc::clone(&cached.set), cached.fetched)
    }

    /// The key set to look `kid` up in: fetched again when stale, or when `kid` is not in
    /// it (the issuer may have rotated its keys), unless a fetch was tried within
    /// `min_refetch`.
    async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, Refusal> {
        let (set, fetched, attempted, failure) = {
            let c = self.keys.read().unwrap_or_else(|e| e.into_inner());
            (
                Arc::clone(&c.set),
                c.fetched,
                c.attempted,
                c.failure.clone(),
            )
        };
        let stale = fetched.is_none_or(|at| at.elapsed() >= KEYS_MAX_AGE);
        let wanted = stale || set.find(kid).is_none();
        let allowed = attempted.is_none_or(|at| at.elapsed() >= self.min_refetch);
        if wanted && allowed {
            match self.refresh(attempted).await {
                Ok(()) => {}
                // Keys that worked a moment ago still work while the issuer is unreachable.
                Err(e) if set.by_id.is_empty() => return Err(e),
                Err(e) => tracing::warn!(issuer = %self.issuer, "keeping the cached keys: {e}"),
            }
        } else if set.by_id.is_empty()
            && let Some(failure) = failure
        {
            return Err(Refusal::KeysUnavailable(failure));
        }
        Ok(self.cached().0)
    }

    /// Fetches the keys unless another caller tried since `seen`.
    async fn refresh(&self, seen: Option<Instant>) -> Result<(), Refusal> {
        let _one = self.fetching.lock().await;
        let attempted = self
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .attempted;
        if attempted.is_some() && attempted != seen {
            return Ok(());
        }
        let fetched = self.fetch_keys().await;
        let mut cached = self.keys.write().unwrap_or_else(|e| e.into_inner());
        cached.attempted = Some(Instant::now());
        match fetched {
            Ok(set) => {
                cached.set = Arc::new(set);
                cached.fetched = cached.attempted;
                cached.failure = None;
                Ok(())
            }
            Err(refusal) => {
                cached.failure = Some(match &refusal {
                    Refusal::KeysUnavailable(why) => why.clone(),
                    other => other.to_string(),
                });
                Err(refusal)
            }
        }
    }

    async fn fetch_keys(&self) -> Result<KeySet, Refusal> {
        let document: serde_json::Value = fetch_json(&self.http, &self.jwks_uri)
            .await
            .map_err(|e| Refusal::KeysUnavailable(e.to_string()))?;
        let set = KeySet::parse(&document)
            .map_err(|e| Refusal::KeysUnavailable(format!("{}: {e}", self.jwks_uri)))?;
        if set.skipped > 0 {
            tracing::info!(
                jwks = %self.jwks_uri,
                kept = set.by_id.len(),
                skipped = set.skipped,
                "keys not usable for signatures were left out"
            );
        }
        Ok(set)
    }
}

/// True when the header segment says `"alg":"none"` (jsonwebtoken rejects it as JSON it
/// cannot read; the refusal should say why).
fn names_none(segment: &str) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .ok()
        .and_then(|raw| serde_json::from_slice::<serde_json::Value>(&raw).ok())
        .and_then(|h| {
            h.get("alg")?
                .as_str()
                .map(|a| a.eq_ignore_ascii_case("none"))
        })
        .unwrap_or(false)
}

/// `aud` names the audience (a string or a list); without `aud`, `client_id` does (Cognito
/// access tokens), as API Gateway's JWT authorizer accepts.
fn for_audience(claims: &Claims, audience: &str) -> bool {
    match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => aud == audience,
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
        Some(_) => false,
        None => claims.get("client_id").and_then(|c| c.as_str()) == Some(audience),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .user_agent(concat!("rampart/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with a fixed configuration builds")
}

/// HTTPS, or HTTP to a loopback address (an issuer on the same machine, as in the tests).
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("must be https (http only on a loopback address)".into()),
    }
}

async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, SetupError> {
    let failed = |reason: String| SetupError::Fetch {
        url: url.to_owned(),
        reason,
    };
    check_url(url).map_err(failed)?;
    let mut response = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| failed(format!("cannot fetch: {e}")))?;
    if !response.status().is_success() {
        return Err(failed(format!("answered {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(format!("cannot read: {e}")))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(failed(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| failed(format!("not the expected JSON: {e}")))
}
