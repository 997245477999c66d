//! Lambda entry point: configuration and clients once at init, then [`ingest::handle`] per event.

use ingest::{
    Deps, RESERVE, ScheduledAlerts, ScheduledChecks, handle, is_schedule, is_sending_event,
    scheduled, sending_event,
};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use rampart_alerts::send::{Reach, Ses, webhook_client};
use rampart_checks::Checker;
use rampart_formats::Limits;
use rampart_ingest::Accept;
use rampart_mta_sts::{Timing, route53::Route53Zone};
use rampart_query::alerting::Outbox;
use rampart_query::domains::Endpoints;
use rampart_sources::Enricher;
use rampart_store::aws::{AwsLocation, AwsStore, load_config};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    rampart_lambda::init_logging();

    let var = |name: &str| std::env::var(name).ok();
    let location = AwsLocation::from_env(var)?;
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
        // A deployment counts only registered domains unless told otherwise.
        accept: Accept::from_env(var, Accept::Registered)?,
        reserve: RESERVE,
    };
    let deps = &deps;
    let zone = Route53Zone::from_env(&sdk, var);
    let zone = zone.as_ref();
    let timing = Timing::from_env(var)?;
    // The DNS health checks, through the Lambda resolver, when the endpoints are configured.
    let checker = Checker::from_spec(&var("RAMPART_RESOLVER").unwrap_or_default())?;
    let endpoints = Endpoints::from_env(var).ok();
    let (checker, endpoints) = (checker.as_ref(), endpoints.as_ref());
    // Alerts and digests: mailed with SES when a sender is configured, tracked either way;
    // webhooks reach public addresses only.
    let configuration_set = var("RAMPART_SES_CONFIGURATION_SET").filter(|s| !s.is_empty());
    let outbox = Outbox {
        mailer: Ses {
            client: aws_sdk_sesv2::Client::new(&sdk),
            configuration_set: configuration_set.clone(),
        },
        from: var("RAMPART_ALERTS_FROM").filter(|s| !s.is_empty()),
        dashboard: var("RAMPART_DASHBOARD_URL").filter(|s| !s.is_empty()),
        webhooks: webhook_client(Reach::PublicOnly),
        reach: Reach::PublicOnly,
    };
    let inbound = var("RAMPART_INBOUND_ADDRESS").unwrap_or_default();
    let alerts = &ScheduledAlerts {
        outbox: &outbox,
        inbound: &inbound,
    };

    let configuration_set = configuration_set.as_deref();

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = ingest::deadline_of(&event.context);
        let now = rampart_formats::time::now();
        if is_schedule(&event.payload) {
            let checks = checker
                .zip(endpoints)
                .map(|(checker, endpoints)| ScheduledChecks { checker, endpoints });
            return Ok(scheduled(deps, zone, checks, alerts, timing, now, deadline).await?);
        }
        if is_sending_event(&event.payload) {
            let run = sending_event(&deps.store, &event.payload, configuration_set, now).await?;
            return Ok(serde_json::to_value(run)?);
        }
        let handled = handle(event.payload, deps, now, deadline).await?;
        // One embedded-metric-format line per invocation; CloudWatch makes metrics of it.
        println!(
            "{}",
            handled
                .counts
                .emf_line("ingest", rampart_formats::time::now() * 1000)
        );
        Ok::<Value, Error>(handled.into_response()?)
    }))
    .await
}
