//! Lambda entry point: configuration and clients once at init, then the Router per request.

use rampart_checks::Checker;
use std::sync::Arc;

use query::lambda_service;
use rampart_api::edge::{Access, SignIn};
use rampart_api::rest::{Api, MAX_UPLOAD_BYTES, router, system_now};
use rampart_ingest::{Accept, UploadRefusal};
use rampart_mailbox::Addresses;
use rampart_mailbox::intake::Network;
use rampart_mailbox::secrets::{SecretStore, SecretsManager};
use rampart_mta_sts::Timing;
use rampart_query::domains::Endpoints;
use rampart_query::mailboxes;
use rampart_store::aws::{AwsLocation, AwsStore, load_config};

/// Lambda responses are capped at 6 MB, and binary bodies travel base64-encoded.
const MAX_RAW_BYTES: u64 = 4 << 20;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rampart_lambda::init_logging();
    let var = |name: &str| std::env::var(name).ok();
    let location = AwsLocation::from_env(var)?;
    let endpoints = Endpoints::from_env(var)?;
    let sdk = load_config().await;
    let checker = Checker::from_spec(&var("RAMPART_RESOLVER").unwrap_or_default())?.map(Arc::new);
    // Mailbox sources added through the API: secrets under the stack's prefix; tested
    // against public servers only, and not at all where no network may be used.
    let mailboxes = match var("RAMPART_MAILBOX_SECRETS") {
        Some(prefix) => Some(mailboxes::Access {
            secrets: SecretStore::Manager(SecretsManager {
                client: aws_sdk_secretsmanager::Client::new(&sdk),
                prefix,
            }),
            network: match checker {
                Some(_) => Some(Network::new(None, Addresses::PublicOnly)?),
                None => None,
            },
        }),
        None => None,
    };
    let api = Arc::new(Api {
        store: AwsStore::new(&sdk, location),
        endpoints,
        max_raw_bytes: MAX_RAW_BYTES,
        max_upload_bytes: MAX_UPLOAD_BYTES,
        timing: Timing::from_env(var)?,
        // API Gateway authorises requests before they reach the function; the dashboard
        // learns how to sign in from the environment the template sets.
        access: Access {
            sign_in: SignIn::from_env(var),
            ..Access::default()
        },
        // A deployment counts only registered domains unless told otherwise.
        accept: Accept::from_env(var, Accept::Registered)?,
        on_refused_upload: count_refusal,
        now: system_now,
        // The Lambda resolver, for `…/checks` and the guard on enforced policies.
        checker,
        mailboxes,
    });
    lambda_http::run(lambda_service(router(api))).await
}

/// A refused upload is not kept: it becomes a CloudWatch metric and this log line.
fn count_refusal(refusal: &UploadRefusal) {
    let at = rampart_formats::time::now().saturating_mul(1000);
    println!(
        "{}",
        rampart_ingest::metrics::refused_upload_line(refusal.code(), &refusal.to_string(), at)
    );
}
