//! Lambda entry point: the store once at init, then the policy host per request (a Function
//! URL behind CloudFront).

use std::sync::Arc;

use axum::http::HeaderName;
use rampart_api::policy_host::{PolicyHost, VIEWER_HOST, router};
use rampart_mta_sts::Timing;
use rampart_store::aws::{AwsLocation, AwsStore, load_config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rampart_lambda::init_logging();
    let var = |name: &str| std::env::var(name).ok();
    let location = AwsLocation::from_env(var)?;
    let sdk = load_config().await;
    let host = Arc::new(PolicyHost {
        store: AwsStore::new(&sdk, location),
        host_header: HeaderName::from_static(VIEWER_HOST),
        timing: Timing::from_env(var)?,
        now: rampart_formats::time::now,
    });
    lambda_http::run(router(host)).await
}
