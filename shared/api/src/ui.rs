//! The dashboard's files, served at `/ui/` from the binary: public (they hold no data; the
//! data stays behind the API's token), with ETags and gzip or brotli by `Accept-Encoding`.
//!
//! Screens have addresses of their own (`/ui/domains`, `/ui/d/example.com/overview`), so a
//! view can be bookmarked: a path whose last segment has no dot is a screen and gets
//! `index.html`, whose script reads the address. A path with a dot is a file, or 404.
//!
//! memory-serve decompresses and re-compresses every file when its router is built, which
//! would lengthen every Lambda cold start by the size of the UI; the router is therefore
//! built on the first `/ui` request, not with the API's.
//!
//! Every answer carries a Content-Security-Policy: scripts only from this origin plus the
//! one inline import map (by its hash), requests only to this origin and the sign-in
//! provider, no framing. A signed-in page holds a person's tokens in memory; the policy is
//! what keeps injected markup from reading them.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use axum::middleware;
use axum::response::{Redirect, Response};
use axum::routing::get;
use base64::Engine;
use memory_serve::CacheControl;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

/// The page, as embedded: its import map is the one inline script the policy allows.
const INDEX_HTML: &str = include_str!("../ui/index.html");

/// Where `/` sends a browser.
pub const HOME: &str = "/ui/domains";

/// `/` and `/ui/*`, for any router state, letting the page call this origin and
/// `sign_in_urls`' origins (the identity provider's discovery and token endpoints).
pub fn router<S: Clone + Send + Sync + 'static>(sign_in_urls: &[&str]) -> Router<S> {
    let headers = Arc::new(security_headers(sign_in_urls));
    Router::new()
        .route("/", get(|| async { Redirect::to(HOME) }))
        .nest_service("/ui", tower::service_fn(serve))
        .layer(middleware::map_response_with_state(headers, add_headers))
}

async fn add_headers(State(headers): State<Arc<HeaderMap>>, mut response: Response) -> Response {
    for (name, value) in headers.iter() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

fn security_headers(sign_in_urls: &[&str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let policy = content_security_policy(sign_in_urls);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&policy).expect("the policy holds only checked origins"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The sign-in callback's address holds a one-time code: no page it links to learns it.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers
}

/// The page's Content-Security-Policy. Styles allow `'unsafe-inline'`: Lit templates and
/// Chart.js set `style` attributes; scripts and connections allow nothing inline or foreign
/// but the import map and the sign-in provider.
pub fn content_security_policy(sign_in_urls: &[&str]) -> String {
    let mut connect = String::from("'self'");
    let mut seen = Vec::new();
    for origin in sign_in_urls.iter().filter_map(|url| origin_of(url)) {
        if !seen.contains(&origin) {
            connect.push(' ');
            connect.push_str(&origin);
            seen.push(origin);
        }
    }
    format!(
        "default-src 'self'; script-src 'self' '{}'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src {connect}; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'",
        import_map_hash()
    )
}

/// `sha256-…` of the inline import map's text, as browsers hash it.
fn import_map_hash() -> String {
    let start = INDEX_HTML
        .find("<script type=\"importmap\">")
        .map(|i| i + "<script type=\"importmap\">".len())
        .expect("index.html has an import map");
    let end = start
        + INDEX_HTML[start..]
            .find("</script>")
            .expect("the import map ends");
    let digest = Sha256::digest(&INDEX_HTML.as_bytes()[start..end]);
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// `https://host[:port]` of an http(s) URL made only of the characters an origin has;
/// `None` for anything else, so nothing a configuration holds can widen the policy.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "https" | "http") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    (!authority.is_empty() && authority.chars().all(plain))
        .then(|| format!("{scheme}://{authority}"))
}

/// True for a path that names a screen rather than a file.
fn is_screen(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or("");
    !last.contains('.')
}

async fn serve(mut request: Request) -> Result<Response, Infallible> {
    static FILES: OnceLock<Router> = OnceLock::new();
    let files = FILES.get_or_init(|| {
        memory_serve::load!()
            // File names carry no version yet: a browser asks again after a short while
            // and gets 304 Not Modified while the ETag holds.
            .cache_control(CacheControl::Short)
            .html_cache_control(CacheControl::NoCache)
            // memory-serve compresses only in release builds unless told; tests serve what
            // ships.
            .enable_brotli(true)
            .enable_gzip(true)
            .into_router()
    });
    if is_screen(request.uri().path()) {
        *request.uri_mut() = Uri::from_static("/index.html");
    }
    files.clone().oneshot(request).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_policy_names_only_the_sign_in_origins() {
        let policy = super::content_security_policy(&[
            "https://id.example.com/realms/mail",
            "https://id.example.com/realms/mail/protocol/openid-connect/token",
            "https://rampart-1.auth.eu-west-1.amazoncognito.com/oauth2/token",
            "http://127.0.0.1:4000",
            "javascript:alert(1)",
            "https://evil.example; script-src *",
        ]);
        let connect = policy
            .split("; ")
            .find(|d| d.starts_with("connect-src"))
            .unwrap();
        assert_eq!(
            connect,
            "connect-src 'self' https://id.example.com \
             https://rampart-1.auth.eu-west-1.amazoncognito.com http://127.0.0.1:4000"
        );
        assert!(policy.contains("script-src 'self' 'sha256-"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    }

    #[test]
    fn screens_are_paths_without_a_dot_in_the_last_segment() {
        for screen in [
            "/",
            "/domains",
            "/d/example.com/overview",
            "/d/example.com/",
        ] {
            assert!(super::is_screen(screen), "{screen}");
        }
        for file in ["/app.js", "/vendor/lit/index.js", "/d/example.com"] {
            assert!(!super::is_screen(file), "{file}");
        }
    }
}
