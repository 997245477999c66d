//! Lambda entry point: configuration and clients once at init, then [`ingest::handle`] per event.

use ingest::{Deps, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use rampart::Limits;
use rampart::store::aws::{AwsLocation, AwsStore, init_lambda_logging, load_config};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_lambda_logging();

    let location = AwsLocation::from_env(|name| std::env::var(name).ok())?;
    let sdk = load_config().await;
    let deps = Deps {
        bucket: location.bucket.clone(),
        store: AwsStore::new(&sdk, location),
        limits: Limits::default(),
    };
    let deps = &deps;

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let handled = handle(event.payload, deps, now_secs()).await?;
        // One embedded-metric-format line per invocation; CloudWatch makes metrics of it.
        println!("{}", handled.counts.emf_line("ingest", now_secs() * 1000));
        handled.into_response()
    }))
    .await
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
