//! Lambda entry point: the store once at init, then the policy host per request (a Function
//! URL behind CloudFront).

use std::sync::Arc;

use axum::http::HeaderName;
use mta_sts::{PolicyHost, VIEWER_HOST, router};
use rampart::mta_sts::Timing;
use rampart::store::aws::{AwsLocation, AwsStore, init_lambda_logging, load_config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_lambda_logging();
    let var = |name: &str| std::env::var(name).ok();
    let location = AwsLocation::from_env(var)?;
    let sdk = load_config().await;
    let host = Arc::new(PolicyHost {
        store: AwsStore::new(&sdk, location),
        host_header: HeaderName::from_static(VIEWER_HOST),
        timing: Timing::from_env(var)?,
        now: rampart::time::now,
    });
    lambda_http::run(router(host)).await
}
