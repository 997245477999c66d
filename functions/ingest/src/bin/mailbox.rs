//! Lambda entry point of the mailbox function: clients once at init, then, on each
//! scheduled event, [`ingest::mailboxes::run_due`].

use aws_sdk_secretsmanager::Client as SecretsClient;
use ingest::is_schedule;
use ingest::mailboxes::{MailboxDeps, run_due};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use rampart_mailbox::Addresses;
use rampart_mailbox::imap::Limits;
use rampart_mailbox::intake::Network;
use rampart_mailbox::secrets::SecretsManager;
use rampart_store::aws::{AwsLocation, AwsStore, load_config};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    rampart_lambda::init_logging();

    let var = |name: &str| std::env::var(name).ok();
    let location = AwsLocation::from_env(var)?;
    let raw_prefix = location.raw_prefix.clone();
    let sdk = load_config().await;
    let store = AwsStore::new(&sdk, location);
    let secrets = SecretsManager {
        client: SecretsClient::new(&sdk),
        prefix: var("RAMPART_MAILBOX_SECRETS")
            .ok_or("RAMPART_MAILBOX_SECRETS (the secrets' name prefix) is not set")?,
    };
    let deps = MailboxDeps {
        store: &store,
        secrets: &secrets,
        raw_prefix: &raw_prefix,
        // Whoever adds a source names its server: never one in the function's own network.
        network: Network::new(None, Addresses::PublicOnly)?,
        limits: Limits::default(),
    };
    let deps = &deps;

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        if !is_schedule(&event.payload) {
            return Err(Error::from(
                "the mailbox function only runs on its schedule",
            ));
        }
        let deadline = ingest::deadline_of(&event.context);
        let ran = run_due(deps, rampart_formats::time::now, deadline).await?;
        Ok::<Value, Error>(serde_json::to_value(ran)?)
    }))
    .await
}
