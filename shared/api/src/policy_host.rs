//! The policy host: answers `GET`/`HEAD https://mta-sts.<domain>/.well-known/mta-sts.txt`
//! with the domain's hosted policy, exactly as RFC 8461 §3.3 senders expect: 200 and
//! `text/plain; charset=utf-8` or a 404, never a redirect.
//!
//! The same [`Router`] runs in Lambda behind CloudFront (a Function URL origin sees its own
//! Host, so the viewer's host name comes from the header CloudFront sets, [`VIEWER_HOST`])
//! and in `rampart serve` on its own port (from `Host`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rampart_mta_sts::Timing;
use rampart_store::{PolicySource, StoreError, normalise_domain};

/// The header that carries the viewer's host name behind CloudFront (set by the
/// distribution's viewer-request function).
pub const VIEWER_HOST: &str = "x-forwarded-host";
/// The path senders fetch (§3.3).
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";

/// What every request needs, built once.
pub struct PolicyHost<S> {
    pub store: S,
    /// The request header that names the policy host (`host`, or [`VIEWER_HOST`]).
    pub host_header: HeaderName,
    pub timing: Timing,
    pub now: fn() -> i64,
}

/// The policy host's one route; every other path is a 404.
pub fn router<S: PolicySource + 'static>(host: Arc<PolicyHost<S>>) -> Router {
    Router::new()
        .route(POLICY_PATH, get(policy::<S>))
        .fallback(|| async { text(StatusCode::NOT_FOUND, "not found\n".to_owned()) })
        .with_state(host)
}

/// The policy domain named by a policy host name: `mta-sts.example.com[:port]` gives
/// `example.com`.
pub fn policy_domain(host: &str) -> Option<String> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let domain = normalise_domain(name.strip_prefix("mta-sts.")?);
    (!domain.is_empty()).then_some(domain)
}

async fn policy<S: PolicySource>(
    State(host): State<Arc<PolicyHost<S>>>,
    request: Request,
) -> Response {
    let named = request
        .headers()
        .get(&host.host_header)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let Some(domain) = named.as_deref().and_then(policy_domain) else {
        return text(
            StatusCode::NOT_FOUND,
            "no policy here: ask mta-sts.<your domain>\n".to_owned(),
        );
    };
    let served = match host.store.latest_policy(&domain).await {
        Ok(latest) => latest.and_then(|v| v.served_body((host.now)())),
        Err(e) => return unavailable(&domain, &e),
    };
    let Some(body) = served else {
        return text(
            StatusCode::NOT_FOUND,
            format!("no MTA-STS policy is hosted for {domain}\n"),
        );
    };
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            // Caches may keep the file no longer than the publisher waits before it moves
            // the TXT id (RFC 8461 section 8.1).
            (
                header::CACHE_CONTROL,
                format!("max-age={}", host.timing.cache_seconds),
            ),
        ],
        body,
    )
        .into_response()
}

fn unavailable(domain: &str, e: &StoreError) -> Response {
    tracing::error!(domain, error = %e, "reading the policy failed");
    // Senders retry a failed fetch and keep applying what they cached (§3.3).
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "the policy cannot be read now; try again later\n".to_owned(),
    )
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_domain_comes_from_the_host_name() {
        assert_eq!(
            policy_domain("mta-sts.example.com").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            policy_domain("mta-sts.Example.COM.:443").as_deref(),
            Some("example.com")
        );
        assert_eq!(policy_domain("example.com"), None);
        assert_eq!(policy_domain("mta-sts."), None);
        assert_eq!(policy_domain("www.mta-sts.example.com"), None);
    }
}
