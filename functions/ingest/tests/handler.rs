//! The handler against the moto server that `scripts/test` starts, with the real SDK
//! clients, fed the sample events in `events/` and batches built like them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use ingest::{Deps, HandlerError, decode_key, handle};
use rampart_formats::Limits;
use rampart_ingest::metrics::IngestCounts;
use rampart_store::aws::{AwsLocation, AwsStore, OUTCOME_TAG, emulator_config};
use rampart_store::{FaultPoint, Outcome, RawKey, Store};
use serde_json::{Value, json};

const NOW: i64 = 1_790_000_000;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn event(path: &str) -> Value {
    serde_json::from_slice(&read(path)).unwrap()
}

async fn deps(limits: Limits) -> Deps<AwsStore> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let endpoint = std::env::var("RAMPART_TEST_AWS_ENDPOINT")
        .expect("RAMPART_TEST_AWS_ENDPOINT: run ./scripts/test, which starts a moto server");
    let bucket = format!("ingest-{}-{n}", std::process::id());
    let store = AwsStore::new(
        &emulator_config(&endpoint).await,
        AwsLocation {
            table: format!("ingest-{}-{n}", std::process::id()),
            bucket: bucket.clone(),
            raw_prefix: "inbound/".into(),
        },
    );
    store.create_resources().await.unwrap();
    Deps {
        store,
        limits,
        bucket,
        enricher: rampart_sources::Enricher::disabled(),
        accept: rampart_ingest::Accept::Any,
        reserve: ingest::RESERVE,
    }
}

async fn put(deps: &Deps<AwsStore>, key: &str, bytes: &[u8]) {
    deps.store
        .put_raw(&RawKey::new(key).unwrap(), bytes)
        .await
        .unwrap();
}

async fn tag(deps: &Deps<AwsStore>, key: &str) -> Option<String> {
    let tags = deps
        .store
        .s3()
        .get_object_tagging()
        .bucket(&deps.bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    tags.tag_set()
        .iter()
        .find(|t| t.key() == OUTCOME_TAG)
        .map(|t| t.value().to_owned())
}

/// An S3 notification for `key` (form-encoded as S3 does) in `bucket`.
fn s3_notification(bucket: &str, key: &str) -> Value {
    let mut e = event("events/s3-put.json");
    e["Records"][0]["s3"]["bucket"]["name"] = bucket.into();
    e["Records"][0]["s3"]["object"]["key"] = key.replace(' ', "+").into();
    e
}

/// An SQS event whose messages carry the given bodies, ids `m0`, `m1`, ...
fn sqs_batch(bodies: &[String]) -> Value {
    let template = event("events/sqs-s3.json")["Records"][0].clone();
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut r = template.clone();
            r["messageId"] = format!("m{i}").into();
            r["body"] = body.clone().into();
            r
        })
        .collect();
    json!({ "Records": records })
}

#[test]
fn keys_are_form_decoded() {
    assert_eq!(
        decode_key("inbound/dmarc+report%2B1.eml"),
        "inbound/dmarc report+1.eml"
    );
    assert_eq!(decode_key("inbound/%C3%A9t%C3%A9"), "inbound/été");
}

#[tokio::test]
async fn the_sample_s3_put_event_stores_its_mail_once() {
    let deps = deps(Limits::default()).await;
    // The key the sample event names, decoded.
    put(
        &deps,
        "inbound/dmarc report+1.eml",
        &read("tests/fixtures/corpus/email/parsedmarc/twilight.eml"),
    )
    .await;
    let mut e = event("events/s3-put.json");
    e["Records"][0]["s3"]["bucket"]["name"] = deps.bucket.clone().into();

    let first = handle(e.clone(), &deps, NOW, None).await.unwrap();
    assert_eq!(
        first.counts,
        IngestCounts {
            mails: 1,
            reports: 1,
            records: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        first.into_response().unwrap(),
        json!({"objects": [{"bucket": deps.bucket, "key": "inbound/dmarc report+1.eml",
                            "outcome": "stored", "reports": 1}]})
    );
    assert_eq!(
        tag(&deps, "inbound/dmarc report+1.eml").await.as_deref(),
        Some("stored")
    );

    // Lambda delivers an event at least once: the second delivery changes nothing.
    let again = handle(e, &deps, NOW + 60, None).await.unwrap();
    assert_eq!(again.objects[0].outcome, Outcome::Duplicate);
    assert_eq!(again.counts.duplicates, 1);
    let domains = deps.store.domains(None, 100).await.unwrap();
    assert_eq!(
        (
            domains[0].name.as_str(),
            domains[0].reports,
            domains[0].records
        ),
        ("twlnet.com", 1, 1)
    );
}

#[tokio::test]
async fn the_sample_sqs_event_stores_its_mail() {
    let deps = deps(Limits::default()).await;
    put(
        &deps,
        "inbound/outlook-20.eml",
        &read("tests/fixtures/generated/outlook-20-single-line.eml"),
    )
    .await;
    let mut e = event("events/sqs-s3.json");
    let mut inner: Value = serde_json::from_str(e["Records"][0]["body"].as_str().unwrap()).unwrap();
    inner["Records"][0]["s3"]["bucket"]["name"] = deps.bucket.clone().into();
    e["Records"][0]["body"] = inner.to_string().into();

    let handled = handle(e, &deps, NOW, None).await.unwrap();
    assert_eq!(handled.counts.records, 20);
    assert_eq!(
        handled.into_response().unwrap(),
        json!({"batchItemFailures": []})
    );
}

#[tokio::test]
async fn one_bad_message_in_a_batch_is_the_only_one_retried() {
    let deps = deps(Limits::default()).await;
    put(
        &deps,
        "inbound/good",
        &read("tests/fixtures/corpus/email/mail-auth/100.eml"),
    )
    .await;
    put(&deps, "inbound/garbage", b"\x00\x01 not a mail at all").await;
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent",
        "Time": "2026-11-30T06:00:00.000Z", "Bucket": deps.bucket, "RequestId": "5582815E1AEA5ADF"});
    let batch = sqs_batch(&[
        s3_notification(&deps.bucket, "inbound/good").to_string(),
        "this body is not JSON".to_owned(),
        s3_notification(&deps.bucket, "inbound/garbage").to_string(),
        test_event.to_string(),
    ]);

    let handled = handle(batch, &deps, NOW, None).await.unwrap();
    assert_eq!(
        handled.counts,
        IngestCounts {
            mails: 2,
            reports: 1,
            records: 1,
            rejected: 1,
            ..Default::default()
        }
    );
    let garbage = &handled.objects[1];
    assert_eq!(garbage.outcome, Outcome::Rejected);
    assert_eq!(
        garbage.reason.as_deref(),
        Some(
            "not XML, JSON, gzip, zip or mail (starts with 00 01 20 6e 6f 74 20 61 20 6d 61 69 6c 20 61 74)"
        )
    );
    assert_eq!(
        tag(&deps, "inbound/garbage").await.as_deref(),
        Some("rejected")
    );
    let kept = deps
        .store
        .get_raw(&RawKey::new("inbound/garbage").unwrap(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(
        kept,
        rampart_store::RawRead::Bytes(b"\x00\x01 not a mail at all".to_vec())
    );
    // Rejected is final, not retried; only the unreadable message goes back to the queue.
    assert_eq!(
        handled.into_response().unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    );
}

#[tokio::test]
async fn a_storage_failure_retries_only_its_message_and_the_retry_completes_it() {
    let deps = deps(Limits::default()).await;
    put(
        &deps,
        "inbound/a",
        &read("tests/fixtures/corpus/email/mail-auth/100.eml"),
    )
    .await;
    put(
        &deps,
        "inbound/b",
        &read("tests/fixtures/generated/outlook-20-single-line.eml"),
    )
    .await;
    let a = s3_notification(&deps.bucket, "inbound/a").to_string();
    let b = s3_notification(&deps.bucket, "inbound/b").to_string();

    deps.store.faults().arm(FaultPoint::AfterBody);
    let handled = handle(sqs_batch(&[a.clone(), b]), &deps, NOW, None)
        .await
        .unwrap();
    assert_eq!(
        handled
            .objects
            .iter()
            .map(|o| o.outcome)
            .collect::<Vec<_>>(),
        [Outcome::Failed, Outcome::Stored]
    );
    assert_eq!(handled.counts.failed, 1);
    assert_eq!(
        handled.into_response().unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "m0"}]})
    );

    // SQS redelivers m0.
    let retried = handle(sqs_batch(&[a]), &deps, NOW + 30, None)
        .await
        .unwrap();
    assert_eq!(retried.objects[0].outcome, Outcome::Stored);
    let domains = deps.store.domains(None, 100).await.unwrap();
    let counted: Vec<(&str, u64)> = domains
        .iter()
        .map(|d| (d.name.as_str(), d.reports))
        .collect();
    assert_eq!(counted, [("example.com", 1), ("stalw.art", 1)]);
}

#[tokio::test]
async fn a_direct_s3_event_that_fails_is_an_error_so_lambda_retries_it() {
    let deps = deps(Limits::default()).await;
    put(
        &deps,
        "inbound/a",
        &read("tests/fixtures/corpus/email/mail-auth/100.eml"),
    )
    .await;
    deps.store.faults().arm(FaultPoint::AfterHeader);
    let handled = handle(s3_notification(&deps.bucket, "inbound/a"), &deps, NOW, None)
        .await
        .unwrap();
    let err = handled.into_response().unwrap_err();
    assert!(matches!(&err, HandlerError::Retry(keys) if keys == &["inbound/a"]));
    let diagnostic: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diagnostic.error_type, "Retryable");
    assert_eq!(
        diagnostic.error_message,
        "1 object(s) failed and will be retried: inbound/a"
    );
}

#[tokio::test]
async fn objects_over_the_input_limit_are_rejected_unread_and_kept() {
    let limits = Limits {
        max_input_bytes: 1000,
        ..Limits::default()
    };
    let deps = deps(limits).await;
    let big = read("tests/fixtures/corpus/email/parsedmarc/twilight.eml");
    put(&deps, "inbound/big", &big).await;
    let handled = handle(
        s3_notification(&deps.bucket, "inbound/big"),
        &deps,
        NOW,
        None,
    )
    .await
    .unwrap();
    assert_eq!(handled.objects[0].outcome, Outcome::Rejected);
    assert_eq!(
        handled.objects[0].reason.as_deref(),
        Some("input size exceeds the limit of 1000")
    );
    assert_eq!(tag(&deps, "inbound/big").await.as_deref(), Some("rejected"));
    let record = deps
        .store
        .message(&RawKey::new("inbound/big").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (record.outcome, record.size),
        (Outcome::Rejected, big.len() as u64)
    );
}

#[tokio::test]
async fn a_notification_for_another_bucket_fails_to_the_dead_letter_queue() {
    let deps = deps(Limits::default()).await;
    let handled = handle(
        s3_notification("someone-elses-bucket", "inbound/x"),
        &deps,
        NOW,
        None,
    )
    .await
    .unwrap();
    assert_eq!(handled.objects[0].outcome, Outcome::Failed);
    assert_eq!(
        handled.objects[0].reason.as_deref(),
        Some(&*format!(
            "notification for bucket \"someone-elses-bucket\", but this function reads {:?}",
            deps.bucket
        ))
    );
    assert!(handled.into_response().is_err());
}

#[tokio::test]
async fn other_events_are_refused() {
    let deps = deps(Limits::default()).await;
    let err = handle(
        json!({"Records": [{"eventSource": "aws:sns"}]}),
        &deps,
        NOW,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "not an S3 or SQS event: eventSource \"aws:sns\""
    );
}

#[tokio::test]
async fn the_outcome_tag_keeps_the_object_s_other_tags() {
    let deps = deps(Limits::default()).await;
    deps.store
        .s3()
        .put_object()
        .bucket(&deps.bucket)
        .key("inbound/tagged")
        .tagging("retention=7y&team=mail")
        .body(read("tests/fixtures/corpus/email/mail-auth/100.eml").into())
        .send()
        .await
        .unwrap();
    for outcome in ["stored", "duplicate"] {
        handle(
            s3_notification(&deps.bucket, "inbound/tagged"),
            &deps,
            NOW,
            None,
        )
        .await
        .unwrap();
        let tags = deps
            .store
            .s3()
            .get_object_tagging()
            .bucket(&deps.bucket)
            .key("inbound/tagged")
            .send()
            .await
            .unwrap();
        let mut tags: Vec<(&str, &str)> = tags
            .tag_set()
            .iter()
            .map(|t| (t.key(), t.value()))
            .collect();
        tags.sort();
        assert_eq!(
            tags,
            [
                (OUTCOME_TAG, outcome),
                ("retention", "7y"),
                ("team", "mail")
            ]
        );
    }
}

#[test]
fn configuration_comes_from_the_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert_eq!(
        AwsLocation::from_env(env(&[("RAMPART_TABLE", "t"), ("RAMPART_BUCKET", "b")])),
        Ok(AwsLocation {
            table: "t".into(),
            bucket: "b".into(),
            raw_prefix: "inbound/".into(),
        })
    );
    assert_eq!(
        AwsLocation::from_env(env(&[("RAMPART_BUCKET", "b")])),
        Err("RAMPART_TABLE is not set".to_owned())
    );
}

/// A DNS server that takes every query and answers none: reverse DNS waits out its timeouts.
async fn silent_dns() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let _ = udp.recv_from(&mut buf).await;
        }
    });
    (addr, task)
}

/// Report `i` of a batch: one record from a public address, so it is looked up.
fn report_mail(i: usize) -> Vec<u8> {
    format!(
        "<feedback><report_metadata><org_name>Batch</org_name><report_id>b{i}</report_id>\
         <date_range><begin>1789900000</begin><end>1789986399</end></date_range>\
         </report_metadata><policy_published><domain>batch.example</domain></policy_published>\
         <record><row><source_ip>5.188.62.{i}</source_ip><count>1</count></row></record>\
         </feedback>"
    )
    .into_bytes()
}

/// Ten new reports against a DNS server that never answers. Reverse DNS has one budget for
/// the whole invocation, and no object is started within the reserve of the deadline: the
/// invocation stores what it started and lists only the rest as batch failures; the
/// redelivery stores them.
#[tokio::test]
async fn a_batch_against_a_silent_resolver_fails_only_what_it_could_not_start() {
    use rampart_sources::ptr::PtrResolver;
    use rampart_sources::{EnrichSettings, Enricher};
    use std::time::Duration;

    let (dns, _server) = silent_dns().await;
    let settings = EnrichSettings {
        lookup_timeout: Duration::from_secs(2),
        budget: Duration::from_millis(1_000),
        ..EnrichSettings::default()
    };
    let resolver = PtrResolver::with_servers(&[dns], settings.lookup_timeout).unwrap();
    let mut deps = deps(Limits::default()).await;
    deps.enricher = Enricher::new(Some(resolver), settings);
    deps.reserve = Duration::from_millis(1_000);
    let mut bodies = Vec::new();
    for i in 0..10 {
        let key = format!("inbound/batch-{i}");
        put(&deps, &key, &report_mail(i)).await;
        bodies.push(s3_notification(&deps.bucket, &key).to_string());
    }

    // Objects are not started once a second of the invocation is left: the first one takes
    // the whole DNS budget (one second), so at most a few follow it.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2_050);
    let handled = handle(sqs_batch(&bodies), &deps, NOW, Some(deadline))
        .await
        .unwrap();
    let stored: Vec<usize> = (0..10)
        .filter(|i| {
            handled
                .objects
                .iter()
                .any(|o| o.key == format!("inbound/batch-{i}") && o.outcome == Outcome::Stored)
        })
        .collect();
    assert!(handled.objects.iter().all(|o| o.outcome == Outcome::Stored));
    assert!(stored.contains(&0), "the first object is always started");
    let failures: Vec<usize> = (0..10).filter(|i| !stored.contains(i)).collect();
    assert!(!failures.is_empty(), "some objects were left: {stored:?}");
    // Objects are taken in order: what was left is the tail of the batch.
    assert_eq!(failures, (stored.len()..10).collect::<Vec<_>>());
    let listed: Vec<String> = failures.iter().map(|i| format!("m{i}")).collect();
    assert_eq!(
        handled.into_response().unwrap(),
        json!({"batchItemFailures": listed.iter().map(|m| json!({"itemIdentifier": m})).collect::<Vec<_>>()})
    );

    // SQS delivers the failed messages again, to an invocation with time to spare.
    let again: Vec<String> = failures.iter().map(|i| bodies[*i].clone()).collect();
    let retried = handle(sqs_batch(&again), &deps, NOW + 60, None)
        .await
        .unwrap();
    assert!(retried.objects.iter().all(|o| o.outcome == Outcome::Stored));
    assert_eq!(
        retried.into_response().unwrap(),
        json!({"batchItemFailures": []})
    );
    let domain = deps.store.domain("batch.example").await.unwrap().unwrap();
    assert_eq!((domain.reports, domain.messages), (10, 10));
}

/// Under `registered`, mail for a domain nobody registered is held; the scheduled run after
/// the domain is registered ingests it.
#[tokio::test]
async fn the_schedule_ingests_mail_held_for_a_domain_registered_since() {
    let mut deps = deps(Limits::default()).await;
    deps.accept = rampart_ingest::Accept::Registered;
    put(
        &deps,
        "inbound/early",
        &read("tests/fixtures/corpus/email/mail-auth/100.eml"),
    )
    .await;
    let handled = handle(
        s3_notification(&deps.bucket, "inbound/early"),
        &deps,
        NOW,
        None,
    )
    .await
    .unwrap();
    assert_eq!(handled.objects[0].outcome, Outcome::Held);
    assert_eq!(handled.counts.held, 1);
    assert_eq!(tag(&deps, "inbound/early").await.as_deref(), Some("held"));

    deps.store
        .register_domain("stalw.art", NOW + 10)
        .await
        .unwrap();
    deps.store.request_release("stalw.art").await.unwrap();
    let timing = rampart_mta_sts::Timing::default();
    // No sender: alerts are evaluated and kept, nothing is mailed.
    let outbox = rampart_query::alerting::Outbox {
        mailer: rampart_alerts::send::Unconfigured,
        from: None,
        dashboard: None,
        webhooks: rampart_alerts::send::webhook_client(rampart_alerts::send::Reach::PublicOnly),
        reach: rampart_alerts::send::Reach::PublicOnly,
    };
    let alerts = ingest::ScheduledAlerts {
        outbox: &outbox,
        inbound: "reports@rua.rampart.example",
    };
    let mut ran = ingest::scheduled(
        &deps,
        None::<&rampart_mta_sts::ZoneFile>,
        None,
        &alerts,
        timing,
        NOW + 60,
        None,
    )
    .await
    .unwrap();
    // The released report asked for the domain's alerts; nothing holds on one report.
    let evaluated = ran["alerts_evaluated"].take();
    assert_eq!(evaluated[0]["domain"], "stalw.art");
    assert_eq!(evaluated[0]["opened"], 0);
    assert_eq!(evaluated.as_array().unwrap().len(), 1);
    assert_eq!(
        ran,
        json!({
            "released": {"outcomes": {"stored": 1}, "domains": ["stalw.art"]},
            "policy_ids_changed": null,
            "policy_ids_failed": null,
            "domains_checked": null,
            "checks_failed": null,
            "alerts_evaluated": null,
            "alerts_failed": [],
            "digests_sent": [],
            "digests_failed": [],
        })
    );
    assert_eq!(tag(&deps, "inbound/early").await.as_deref(), Some("stored"));
}

#[tokio::test]
async fn the_sample_ses_bounce_suppresses_its_recipient_and_another_set_s_is_ignored() {
    use ingest::{is_sending_event, sending_event};
    use rampart_query::alerting::FeedbackRun;
    use rampart_store::{AlertStore, Suppression};

    let deps = deps(Limits::default()).await;
    let bounce = event("events/ses-bounce.json");
    assert!(is_sending_event(&bounce) && !ingest::is_schedule(&bounce));
    let address = ["former.owner@example.com".to_string()];

    // Another configuration set's event (another application of the account): ignored.
    let other = sending_event(&deps.store, &bounce, Some("someone-else"), NOW)
        .await
        .unwrap();
    assert_eq!(
        other,
        FeedbackRun {
            suppressed: 0,
            skipped: 0,
            ignored: Some(
                "not from the configuration set \"someone-else\": \"rampart-alerts-example\""
                    .into()
            ),
        }
    );
    assert_eq!(deps.store.suppressed(&address).await.unwrap(), []);

    let run = sending_event(&deps.store, &bounce, Some("rampart-alerts-example"), NOW)
        .await
        .unwrap();
    assert_eq!((run.suppressed, run.skipped, run.ignored), (1, 0, None));
    assert_eq!(
        deps.store.suppressed(&address).await.unwrap(),
        [Suppression {
            address: address[0].clone(),
            reason: "bounce: General: smtp; 550 5.1.1 <former.owner@example.com>: \
                     Recipient address rejected: User unknown"
                .into(),
            at: NOW,
        }]
    );

    // The same event again (EventBridge delivers at least once): still one suppression.
    sending_event(
        &deps.store,
        &bounce,
        Some("rampart-alerts-example"),
        NOW + 5,
    )
    .await
    .unwrap();
    assert_eq!(deps.store.suppressed(&address).await.unwrap().len(), 1);
}
