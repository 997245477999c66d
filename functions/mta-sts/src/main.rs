//! Lambda entry point: the store once at init, then the policy host per request (a Function
//! URL behind CloudFront).

use std::sync::Arc;

use axum::http::HeaderName;
use rampart_api::policy_host::{PolicyHost, VIEWER_HOST, router};
use rampart_mta_sts::Timing;
use rampart_store::aws::{PolicyTable, load_config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rampart_lambda::init_logging();
    let var = |name: &str| std::env::var(name).ok();
    let table = var("RAMPART_TABLE").ok_or("RAMPART_TABLE is not set")?;
    let sdk = load_config().await;
    let host = Arc::new(PolicyHost {
        store: PolicyTable::new(&sdk, table),
        host_header: HeaderName::from_static(VIEWER_HOST),
        timing: Timing::from_env(var)?,
        now: rampart_formats::time::now,
    });
    lambda_http::run(router(host)).await
}
