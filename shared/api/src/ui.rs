//! The dashboard's files, served at `/ui/` from the binary: public (they hold no data; the
//! data stays behind the API's token), with ETags and gzip or brotli by `Accept-Encoding`.
//!
//! memory-serve decompresses and re-compresses every file when its router is built, which
//! would lengthen every Lambda cold start by the size of the UI; the router is therefore
//! built on the first `/ui` request, not with the API's.

use std::convert::Infallible;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use memory_serve::CacheControl;
use tower::ServiceExt;

/// `/ui/*`, for any router state.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().nest_service("/ui", tower::service_fn(serve))
}

async fn serve(request: Request) -> Result<Response, Infallible> {
    static FILES: OnceLock<Router> = OnceLock::new();
    let files = FILES.get_or_init(|| {
        memory_serve::load!()
            // File names carry no version yet: a browser asks again after a short while
            // and gets 304 Not Modified while the ETag holds.
            .cache_control(CacheControl::Short)
            // memory-serve compresses only in release builds unless told; tests serve what
            // ships.
            .enable_brotli(true)
            .enable_gzip(true)
            .into_router()
    });
    files.clone().oneshot(request).await
}
