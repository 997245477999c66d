//! What bounds a request at the Routers themselves, so `rampart serve` and Lambda answer
//! alike: how long one may take, and who may change things.
//!
//! The listener of `rampart serve` adds what only a socket has (a header-read timeout and a
//! connection cap); API Gateway does that in front of Lambda.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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

/// Who is calling, as an authorizer in front of the Router vouched for it. A Lambda door
/// puts it on each request from API Gateway's JWT claims; without it (a local listener, IAM
/// signatures) the token or IAM alone decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// May register, remove and purge domains and change or retire MTA-STS policies.
    pub admin: bool,
}

/// The group and the scope that make a JWT an admin's.
pub const ADMIN_GROUP: &str = "rampart-admin";
pub const ADMIN_SCOPE: &str = "rampart/admin";

impl Caller {
    /// From a JWT's claims and scopes as API Gateway passes them on. Admin when a group
    /// claim (`cognito:groups` or `groups`) holds [`ADMIN_GROUP`], or the token's scopes
    /// (the `scopes` API Gateway lists, or the `scope` claim) hold [`ADMIN_SCOPE`]. API
    /// Gateway renders a list claim as one string, `[a b]`; both forms are read.
    pub fn from_jwt<'a>(
        claim: impl Fn(&str) -> Option<&'a str>,
        scopes: impl IntoIterator<Item = &'a str>,
    ) -> Caller {
        let words = |v: &'a str| {
            v.trim_matches(|c| c == '[' || c == ']')
                .split(|c: char| c.is_whitespace() || c == ',')
                .map(|w| w.trim_matches('"'))
        };
        let in_group = ["cognito:groups", "groups"]
            .into_iter()
            .filter_map(&claim)
            .any(|v| words(v).any(|g| g == ADMIN_GROUP));
        let scoped = scopes.into_iter().any(|s| s == ADMIN_SCOPE)
            || claim("scope").is_some_and(|v| words(v).any(|s| s == ADMIN_SCOPE));
        Caller {
            admin: in_group || scoped,
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
    }
}
