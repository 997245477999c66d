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

use std::convert::Infallible;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::Request;
use axum::http::Uri;
use axum::response::{Redirect, Response};
use axum::routing::get;
use memory_serve::CacheControl;
use tower::ServiceExt;

/// Where `/` sends a browser.
pub const HOME: &str = "/ui/domains";

/// `/` and `/ui/*`, for any router state.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to(HOME) }))
        .nest_service("/ui", tower::service_fn(serve))
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
