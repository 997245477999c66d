//! What bounds a request at the Routers themselves, so `rampart serve` and Lambda answer
//! alike: how long one may take, who is calling, and who may change things.
//!
//! The listener of `rampart serve` adds what only a socket has (a header-read timeout and a
//! connection cap); API Gateway does that in front of Lambda.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// `router` with every request cut off after `limit`: a `503 timeout` in the API's error
/// shape instead of a connection held open by a slow client or a query over years of data.
pub fn with_request_timeout(router: Router, limit: Duration) -> Router {
    router.layer(middleware::from_fn_with_state(limit, timeout))
}

async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "error": "timeout",
                "message": format!(
                    "the request took longer than {} s; ask for a shorter period or try again",
                    limit.as_secs_f64()
                ),
            })),
        )
            .into_response(),
    }
}

/// True when `given` is the token. Both are hashed first, so the comparison takes the same
/// time whatever either holds and however long it is (subtle's constant-time equality on
/// the two digests): timing reveals neither a prefix nor the length.
pub fn token_matches(given: &str, token: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let token = Sha256::digest(token.as_bytes());
    given.ct_eq(&token).into()
}

/// Who is calling, as an authorizer vouched for it: API Gateway's JWT authorizer (the
/// Lambda door puts it on each request), the OpenID Connect verifier of `rampart serve`, or
/// the API token. Without it (IAM signatures, or loopback without a token) the Router
/// restricts nothing: IAM policy, or the machine's owner, decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// May register, remove and purge domains and change or retire MTA-STS policies.
    pub admin: bool,
    /// Who, for a person to read: e-mail, user name or subject.
    pub name: Option<String>,
}

/// The group (or app role) and the scope that make a token an admin's.
pub const ADMIN_GROUP: &str = "rampart-admin";
pub const ADMIN_SCOPE: &str = "rampart/admin";

/// Claims that list a person's groups: Cognito's, Keycloak's and Okta's (`groups`), and
/// Entra ID's app roles (`roles`, whose values an application defines; Entra's `groups`
/// holds object ids).
const GROUP_CLAIMS: [&str; 3] = ["cognito:groups", "groups", "roles"];
/// Claims that name a person, most readable first.
const NAME_CLAIMS: [&str; 6] = [
    "email",
    "preferred_username",
    "name",
    "cognito:username",
    "username",
    "sub",
];

impl Caller {
    /// The bearer of the API token: scripts, which may do everything.
    pub fn api_token() -> Caller {
        Caller {
            admin: true,
            name: Some("API token".into()),
        }
    }

    /// From a JWT's claims and scopes as API Gateway passes them on. Admin when a group
    /// claim ([`GROUP_CLAIMS`]) holds [`ADMIN_GROUP`], or the token's scopes (the `scopes`
    /// API Gateway lists, or the `scope` claim) hold [`ADMIN_SCOPE`]. API Gateway renders a
    /// list claim as one string, `[a b]`; both forms are read.
    pub fn from_jwt<'a>(
        claim: impl Fn(&str) -> Option<&'a str>,
        scopes: impl IntoIterator<Item = &'a str>,
    ) -> Caller {
        let words = |v: &'a str| {
            v.trim_matches(|c| c == '[' || c == ']')
                .split(|c: char| c.is_whitespace() || c == ',')
                .map(|w| w.trim_matches('"'))
        };
        let in_group = GROUP_CLAIMS
            .into_iter()
            .filter_map(&claim)
            .any(|v| words(v).any(|g| g == ADMIN_GROUP));
        let scoped = scopes.into_iter().any(|s| s == ADMIN_SCOPE)
            || claim("scope").is_some_and(|v| words(v).any(|s| s == ADMIN_SCOPE));
        let name = NAME_CLAIMS
            .into_iter()
            .find_map(&claim)
            .filter(|n| !n.is_empty())
            .map(|n| n.chars().take(200).collect());
        Caller {
            admin: in_group || scoped,
            name,
        }
    }

    /// From the claims of a token validated in process: lists are read as API Gateway
    /// renders them, so both doors decide alike.
    pub fn from_claims(claims: &serde_json::Map<String, serde_json::Value>) -> Caller {
        let rendered: Vec<(&str, String)> = claims
            .iter()
            .filter_map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Array(items) => items
                        .iter()
                        .filter_map(|i| i.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    _ => return None,
                };
                Some((k.as_str(), text))
            })
            .collect();
        Caller::from_jwt(
            |name| {
                rendered
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.as_str())
            },
            [],
        )
    }
}

/// Checks a bearer token that is not the API token: on one machine, an OpenID Connect
/// token (`rampart serve --oidc-issuer`). The error is a message for the bearer.
pub trait BearerCheck: Send + Sync {
    fn check<'a>(
        &'a self,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Caller, String>> + Send + 'a>>;
}

/// Who may call the protected routes, and how the dashboard signs people in.
#[derive(Default, Clone)]
pub struct Access {
    /// The API token (scripts): `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Other bearer tokens: people signed in with OpenID Connect.
    pub bearer: Option<Arc<dyn BearerCheck>>,
    /// What `GET /v1/sign-in` tells the dashboard.
    pub sign_in: SignIn,
}

impl Access {
    /// No token: every request passes (loopback, or API Gateway authorised it).
    pub fn open(&self) -> bool {
        self.token.is_none() && self.bearer.is_none()
    }
}

/// How a person signs in to the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct SignIn {
    pub method: SignInMethod,
    /// The identity provider, when `method` is `oidc`.
    pub oidc: Option<OidcClient>,
}

/// What the dashboard does to call the API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignInMethod {
    /// Nothing: the API answers without a token (`rampart serve` on loopback).
    #[default]
    None,
    /// Asks for the API token.
    Token,
    /// Signs in with the identity provider (authorization code with PKCE).
    Oidc,
    /// The deployment takes AWS SigV4 signatures only: a browser cannot sign in.
    Iam,
}

/// The dashboard's public client at an OpenID Connect provider. Endpoints left out are read
/// from the issuer's discovery document by the browser.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct OidcClient {
    pub issuer: String,
    pub client_id: String,
    /// The scopes asked for, space-separated.
    pub scope: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub end_session_endpoint: Option<String>,
}

impl SignIn {
    /// The Lambda's: an OpenID Connect client from `RAMPART_OIDC_ISSUER`,
    /// `RAMPART_OIDC_CLIENT_ID`, `RAMPART_OIDC_SCOPE` and the optional
    /// `RAMPART_OIDC_{AUTHORIZATION,TOKEN,END_SESSION}_ENDPOINT`; IAM without them.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> SignIn {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        match (set("RAMPART_OIDC_ISSUER"), set("RAMPART_OIDC_CLIENT_ID")) {
            (Some(issuer), Some(client_id)) => SignIn {
                method: SignInMethod::Oidc,
                oidc: Some(OidcClient {
                    issuer,
                    client_id,
                    scope: set("RAMPART_OIDC_SCOPE").unwrap_or_else(|| "openid email".into()),
                    authorization_endpoint: set("RAMPART_OIDC_AUTHORIZATION_ENDPOINT"),
                    token_endpoint: set("RAMPART_OIDC_TOKEN_ENDPOINT"),
                    end_session_endpoint: set("RAMPART_OIDC_END_SESSION_ENDPOINT"),
                }),
            },
            _ => SignIn {
                method: SignInMethod::Iam,
                oidc: None,
            },
        }
    }
}

/// Refuses a change (any method but GET and HEAD) from a caller an authorizer vouched for
/// without the admin group or scope: `403 forbidden`.
pub async fn require_admin_for_changes(request: Request, next: Next) -> Response {
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    let refused = request
        .extensions()
        .get::<Caller>()
        .is_some_and(|c| !c.admin && !reads);
    if !refused {
        return next.run(request).await;
    }
    (
        StatusCode::FORBIDDEN,
        Json(serde_json::json!({
            "error": "forbidden",
            "message": format!(
                "this token may read but not change anything; changes need the \
                 {ADMIN_GROUP:?} group or the {ADMIN_SCOPE:?} scope"
            ),
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_exactly() {
        assert!(token_matches("s3cret-token", "s3cret-token"));
        for other in [
            "",
            "s3cret",
            "s3cret-token ",
            "S3cret-token",
            "s3cret-tokem",
        ] {
            assert!(!token_matches(other, "s3cret-token"), "{other:?}");
        }
    }

    #[test]
    fn admins_come_from_groups_or_scopes() {
        let claims = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
        };
        let admin = |pairs, scopes: &[&'static str]| {
            Caller::from_jwt(claims(pairs), scopes.iter().copied()).admin
        };
        assert!(admin(&[("cognito:groups", "[readers rampart-admin]")], &[]));
        assert!(admin(&[("groups", "rampart-admin")], &[]));
        assert!(admin(&[("scope", "openid rampart/admin")], &[]));
        assert!(admin(&[], &["rampart/admin"]));
        assert!(!admin(
            &[("cognito:groups", "[readers]")],
            &["rampart/read"]
        ));
        assert!(!admin(
            &[("cognito:groups", "[rampart-administrators]")],
            &[]
        ));
        assert!(!admin(&[("sub", "rampart-admin")], &[]));
        assert!(admin(&[("roles", "[rampart-admin]")], &[]));
    }

    #[test]
    fn claims_validated_in_process_read_like_api_gateways() {
        let caller =
            |claims: serde_json::Value| Caller::from_claims(claims.as_object().expect("an object"));
        assert_eq!(
            caller(serde_json::json!({
                "sub": "u-1", "email": "ann@example.com",
                "groups": ["readers", "rampart-admin"],
            })),
            Caller {
                admin: true,
                name: Some("ann@example.com".into())
            }
        );
        assert_eq!(
            caller(serde_json::json!({"sub": "u-2", "cognito:groups": ["readers"], "exp": 1})),
            Caller {
                admin: false,
                name: Some("u-2".into())
            }
        );
        // Entra ID app roles; a group claim that is not a list of names is ignored.
        assert!(caller(serde_json::json!({"roles": ["rampart-admin"]})).admin);
        assert!(!caller(serde_json::json!({"groups": {"rampart-admin": true}})).admin);
        assert!(caller(serde_json::json!({"scope": "openid rampart/admin"})).admin);
    }
}
