//! The mailbox function's scheduled run on moto (DynamoDB, S3 and Secrets Manager through the
//! real SDK clients) against Dovecot on 127.0.0.1: the secret is read from Secrets Manager,
//! each mail lands under the raw prefix SES writes to, and the ingest handler, given the
//! bucket's notification for it, stores its reports. The schedule's interval, a missing
//! secret and a paused source are each honoured.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use ingest::mailboxes::{INTERVAL_SECONDS, MailboxDeps, run_due};
use ingest::{Deps, handle};
use rampart_mailbox::Addresses;
use rampart_mailbox::imap::{Folder, Limits, Security};
use rampart_mailbox::intake::Network;
use rampart_mailbox::secrets::{Secrets, SecretsManager};
use rampart_mailbox::source::{Account, Source};
use rampart_store::aws::{AwsLocation, AwsStore, emulator_config};
use rampart_store::{MailboxStore, Outcome, Store};
use serde_json::Value;

#[path = "../../../tests/common/dovecot.rs"]
#[allow(dead_code)]
mod dovecot;

const NOW: i64 = 1_795_000_000;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_writes_each_mail_where_ses_does_and_ingest_stores_it() {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let endpoint = std::env::var("RAMPART_TEST_AWS_ENDPOINT")
        .expect("RAMPART_TEST_AWS_ENDPOINT: run ./scripts/test, which starts a moto server");
    let sdk = emulator_config(&endpoint).await;
    let name = format!("mailbox-{}-{n}", std::process::id());
    let store = AwsStore::new(
        &sdk,
        AwsLocation {
            table: name.clone(),
            bucket: name.clone(),
            raw_prefix: "inbound/".into(),
        },
    );
    store.create_resources().await.unwrap();
    let secrets = SecretsManager {
        client: aws_sdk_secretsmanager::Client::new(&sdk),
        prefix: format!("{name}/mailbox/"),
    };

    let imap = dovecot::Dovecot::start();
    imap.deliver(
        &std::fs::read(repo("tests/fixtures/corpus/email/parsedmarc/twilight.eml")).unwrap(),
    );
    imap.deliver(
        &std::fs::read(repo("tests/fixtures/generated/outlook-20-single-line.eml")).unwrap(),
    );
    let folder = |id: &str| Source {
        id: id.into(),
        account: Account::Imap(Folder {
            host: "127.0.0.1".into(),
            port: imap.port,
            security: Security::Plain,
            user: dovecot::USER.into(),
            name: "INBOX".into(),
        }),
        paused: false,
        move_to: None,
        checkpoint: None,
        last_run: None,
    };
    store
        .put_mailbox(&folder("reports").to_item())
        .await
        .unwrap();
    store
        .put_mailbox(&folder("no-secret").to_item())
        .await
        .unwrap();
    let paused = Source {
        paused: true,
        ..folder("paused")
    };
    store.put_mailbox(&paused.to_item()).await.unwrap();
    secrets
        .put_secret("reports", dovecot::PASSWORD)
        .await
        .unwrap();
    // Put again: the secret is replaced, not duplicated.
    secrets
        .put_secret("reports", dovecot::PASSWORD)
        .await
        .unwrap();
    let deps = MailboxDeps {
        store: &store,
        secrets: &secrets,
        raw_prefix: "inbound/",
        // Dovecot is on this machine: the function itself reaches public servers only.
        network: Network::new(None, Addresses::Any).unwrap(),
        limits: Limits::default(),
    };

    let first = run_due(&deps, || NOW, None).await.unwrap();
    let ran: Vec<(&str, u32, Option<&str>)> = first
        .ran
        .iter()
        .map(|(id, run)| (id.as_str(), run.taken, run.error.as_deref()))
        .collect();
    assert_eq!(
        ran,
        [
            (
                "no-secret",
                0,
                Some("no secret is stored for mailbox no-secret")
            ),
            ("reports", 2, None)
        ]
    );
    assert_eq!(first.skipped, [("paused".to_owned(), "paused")]);
    assert_eq!(first.ran[1].1.outcomes["queued"], 2);
    // The missing secret shows on the source.
    let stored = Source::from_item(&store.mailbox("no-secret").await.unwrap().unwrap()).unwrap();
    assert_eq!(
        stored.last_run.unwrap().error.as_deref(),
        Some("no secret is stored for mailbox no-secret")
    );

    // Each mail is an object under inbound/mailbox/reports/, and the ingest handler stores
    // it from the bucket's notification, as for SES mail.
    let listed = store
        .s3()
        .list_objects_v2()
        .bucket(&name)
        .prefix("inbound/mailbox/reports/")
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    assert_eq!(keys.len(), 2);
    // The ingest function's own client of the same table and bucket.
    let ingest = Deps {
        store: AwsStore::new(
            &sdk,
            AwsLocation {
                table: name.clone(),
                bucket: name.clone(),
                raw_prefix: "inbound/".into(),
            },
        ),
        limits: rampart_formats::Limits::default(),
        bucket: name.clone(),
        enricher: rampart_sources::Enricher::disabled(),
        accept: rampart_ingest::Accept::Any,
        reserve: ingest::RESERVE,
    };
    let mut notification: Value =
        serde_json::from_slice(&std::fs::read(repo("events/s3-put.json")).unwrap()).unwrap();
    for key in &keys {
        notification["Records"][0]["s3"]["bucket"]["name"] = name.clone().into();
        notification["Records"][0]["s3"]["object"]["key"] = key.clone().into();
        let handled = handle(notification.clone(), &ingest, NOW, None)
            .await
            .unwrap();
        assert_eq!(handled.objects[0].outcome, Outcome::Stored, "{key}");
    }
    let domains: Vec<String> = ingest
        .store
        .domains(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(domains, ["example.com", "twlnet.com"]);

    // Within the interval nothing runs again; after it, the folder is read and has nothing.
    let soon = run_due(&deps, || NOW + 60, None).await.unwrap();
    assert!(soon.ran.iter().all(|(id, _)| id == "no-secret"));
    assert!(soon.skipped.contains(&("reports".to_owned(), "not due")));
    let later = run_due(&deps, || NOW + INTERVAL_SECONDS, None)
        .await
        .unwrap();
    let reports = later.ran.iter().find(|(id, _)| id == "reports").unwrap();
    assert_eq!((reports.1.taken, &reports.1.error), (0, &None));

    // Forgetting the secret twice is fine; the next run says it is missing.
    secrets.forget_secret("reports").await.unwrap();
    secrets.forget_secret("reports").await.unwrap();
    assert_eq!(secrets.secret("reports").await.unwrap(), None);
}
