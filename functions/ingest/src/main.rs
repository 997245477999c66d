//! Lambda entry point: configuration and clients once at init, then [`ingest::handle`] per event.

use ingest::{Deps, handle, is_schedule};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use rampart::Limits;
use rampart::mta_sts::{Timing, route53::Route53Zone, settle_all};
use rampart::sources::Enricher;
use rampart::store::aws::{AwsLocation, AwsStore, init_lambda_logging, load_config};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_lambda_logging();

    let location = AwsLocation::from_env(|name| std::env::var(name).ok())?;
    let sdk = load_config().await;
    let enricher = Enricher::from_env()?;
    if !enricher.has_ip_database() {
        tracing::warn!(
            "built without the IP databases (scripts/ipdb.sh): no country or AS is stored"
        );
    }
    let deps = Deps {
        bucket: location.bucket.clone(),
        store: AwsStore::new(&sdk, location),
        limits: Limits::default(),
        enricher,
    };
    let deps = &deps;
    let zone = Route53Zone::from_env(&sdk, |name| std::env::var(name).ok());
    let zone = &zone;
    let timing = Timing::from_env(|name| std::env::var(name).ok())?;

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        if is_schedule(&event.payload) {
            let Some(zone) = zone else {
                return Err(
                    "an MTA-STS schedule needs RAMPART_POLICY_ZONE_ID and RAMPART_POLICY_ZONE"
                        .into(),
                );
            };
            let changed = settle_all(&deps.store, zone, rampart::time::now(), timing).await?;
            return Ok(serde_json::json!({ "policy_ids_changed": changed }));
        }
        let handled = handle(event.payload, deps, rampart::time::now()).await?;
        // One embedded-metric-format line per invocation; CloudWatch makes metrics of it.
        println!(
            "{}",
            handled
                .counts
                .emf_line("ingest", rampart::time::now() * 1000)
        );
        Ok::<Value, Error>(handled.into_response()?)
    }))
    .await
}
