//! Lambda entry point: configuration and clients once at init, then [`ingest::handle`] per event.

use ingest::{Config, Deps, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use rampart::Limits;
use rampart::store::aws::{AwsLocation, AwsStore, load_config};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
                .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .init();

    let config = Config::from_env(|name| std::env::var(name).ok())?;
    let sdk = load_config().await;
    let deps = Deps {
        store: AwsStore::new(
            &sdk,
            AwsLocation {
                table: config.table,
                bucket: config.bucket.clone(),
                raw_prefix: config.raw_prefix,
            },
        ),
        limits: Limits::default(),
        bucket: config.bucket,
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
