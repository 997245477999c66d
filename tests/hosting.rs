//! Hosted MTA-STS and TLS reports over HTTPS, through the query Router and the policy host
//! Router, on both storage backends; policy ids published in a zone file and in Route 53
//! (moto). Policy bodies and ids are written out here by hand from RFC 8461 §3.2.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, Method, Request};
use common::api::{app_at, call, call_bytes, get, into_reply, register};
use common::backends::{Backend, endpoint};
use common::expected::{corpus_report_files, s};
use common::{gzip, on_both_backends, read_fixture};
use rampart_api::policy_host::{self, PolicyHost};
use rampart_mta_sts::{DnsZone, Timing, ZoneFile, route53::Route53Zone, settle, settle_all};
use rampart_store::aws::PolicyTable;
use rampart_store::aws::emulator_config;
use rampart_store::{Outcome, PolicySource, Store};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

on_both_backends!(
    a_policy_is_hosted_versioned_and_retired,
    bad_policies_are_refused_with_reasons,
    tls_reports_posted_over_https_read_back_exactly,
    refused_uploads_are_answered_counted_and_not_kept,
    one_unpublishable_domain_does_not_stop_the_others,
    uploads_for_unregistered_domains_are_refused,
);

const T0: i64 = 1_717_000_000;
/// 2026-09-21: after the newest corpus TLS report began (uploads of a future period are
/// refused).
const RECEIVED: i64 = 1_790_000_000;
const T1: i64 = T0 + 1_000;
const T2: i64 = T1 + 500;
/// T2 + the longest max_age served (two weeks) + the cache time (60 s).
const END: i64 = T2 + 1_209_600 + 60;

const V1: &str = "version: STSv1\r\nmode: testing\r\nmx: mx1.hosted.example\r\n\
                  mx: *.mail.hosted.example\r\nmax_age: 1209600\r\n";
const V2: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.hosted.example\r\n\
                  mx: *.mail.hosted.example\r\nmax_age: 604800\r\n";
const NONE: &str = "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n";
const RECORD: &str = "hosted.example._mta-sts.rua.rampart.example";

fn id(body: &str) -> String {
    Sha256::digest(body.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn txt(body: &str) -> String {
    format!("v=STSv1; id={};", id(body))
}

fn utc(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn policy_host<S: PolicySource + 'static>(store: S, now: fn() -> i64) -> Router {
    policy_host::router(Arc::new(PolicyHost {
        store,
        host_header: HeaderName::from_static("host"),
        timing: Timing::default(),
        now,
    }))
}

/// (status, content type, cache control, body) of a policy fetch for `host`.
async fn fetch(host: &Router, name: &str) -> (u16, String, String, String) {
    let request = Request::get("/.well-known/mta-sts.txt")
        .header("host", name)
        .body(Body::empty())
        .unwrap();
    let reply = into_reply(host.clone().oneshot(request).await.unwrap()).await;
    let header = |h: &str| {
        reply
            .headers
            .get(h)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    (
        reply.status.as_u16(),
        header("content-type"),
        header("cache-control"),
        String::from_utf8(reply.bytes.clone()).unwrap(),
    )
}

fn zone_file() -> ZoneFile {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "zone-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    ZoneFile::new("rua.rampart.example", &dir.join("mta-sts.zone"))
}

const URI: &str = "/v1/domains/hosted.example/mta-sts";

async fn a_policy_is_hosted_versioned_and_retired<B: Backend + 'static>(store: Arc<B>) {
    let at_t0 = app_at(Arc::clone(&store), None, || T0);
    let at_t1 = app_at(Arc::clone(&store), None, || T1);
    let at_t2 = app_at(Arc::clone(&store), None, || T2);
    let at_end = app_at(Arc::clone(&store), None, || END);
    let zone = zone_file();
    let timing = Timing::default();

    register(&at_t0, "hosted.example").await;
    let setup = get(&at_t0, "/v1/domains/hosted.example").await.json();
    let cname = setup["dns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "_mta-sts.hosted.example")
        .unwrap();
    assert_eq!(
        (&cname["type"], &cname["value"]),
        (&json!("CNAME"), &json!(RECORD))
    );
    assert_eq!(get(&at_t0, URI).await.error(404), "no_policy");

    // Version 1: served at once; its id goes out once caches can hold nothing older.
    let v1 = json!({"mode": "testing", "mx": ["MX1.hosted.example.", "*.mail.hosted.example"],
                    "max_age": 1_209_600});
    let put = call(&at_t0, Method::PUT, URI, Some(v1.clone())).await;
    assert_eq!(put.status, 201);
    let put = put.json();
    assert_eq!(put["state"], "active");
    assert_eq!(put["body"], V1);
    assert_eq!(put["current"]["id"], id(V1));
    assert_eq!(
        put["txt"],
        json!({"name": RECORD, "value": null, "next_value": txt(V1), "next_at": utc(T0 + 60)})
    );
    assert!(put.get("warnings").is_none());
    let again = call(&at_t0, Method::PUT, URI, Some(v1)).await;
    assert_eq!(again.status, 200, "the same policy stores no new version");
    assert_eq!(again.json()["versions"].as_array().unwrap().len(), 1);
    assert_eq!(
        settle(&*store, &zone, "hosted.example", T0 + 59, timing)
            .await
            .unwrap()
            .value,
        None
    );
    let published = settle(&*store, &zone, "hosted.example", T0 + 60, timing)
        .await
        .unwrap();
    assert!(published.changed);
    assert_eq!(zone.txt(RECORD).await.unwrap(), Some(txt(V1)));

    // Version 2 (enforce): the host serves it at once, the old id stays 60 s more (§8.1).
    let v2 = json!({"mode": "enforce", "mx": ["mx1.hosted.example", "*.mail.hosted.example"],
                    "max_age": 604_800});
    let put = call(&at_t1, Method::PUT, URI, Some(v2)).await;
    assert_eq!(put.status, 201);
    let put = put.json();
    assert_eq!(put["current"]["version"], 2);
    assert_eq!(
        put["txt"],
        json!({"name": RECORD, "value": txt(V1), "next_value": txt(V2), "next_at": utc(T1 + 60)})
    );
    let host = policy_host(Arc::clone(&store), || T1);
    assert_eq!(
        fetch(&host, "mta-sts.hosted.example").await,
        (
            200,
            "text/plain; charset=utf-8".into(),
            "max-age=60".into(),
            V2.into()
        )
    );
    assert_eq!(fetch(&host, "mta-sts.other.example").await.0, 404);
    assert_eq!(fetch(&host, "hosted.example").await.0, 404);
    assert!(
        !settle(&*store, &zone, "hosted.example", T1 + 59, timing)
            .await
            .unwrap()
            .changed
    );
    assert_eq!(
        settle_all(&*store, &zone, T1 + 60, timing)
            .await
            .unwrap()
            .changed,
        1
    );
    assert_eq!(zone.txt(RECORD).await.unwrap(), Some(txt(V2)));
    let versions: Vec<(Value, Value)> = get(&at_t1, URI).await.json()["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].clone(), v["mode"].clone()))
        .collect();
    assert_eq!(
        versions,
        [(json!(2), json!("enforce")), (json!(1), json!("testing"))]
    );

    // Removal (§8.3): the domain cannot go while senders may hold its policy.
    let remove = "/v1/domains/hosted.example";
    assert_eq!(
        call(&at_t2, Method::DELETE, remove, None).await.error(409),
        "policy_hosted"
    );
    let retired = call(&at_t2, Method::DELETE, URI, None).await.json();
    assert_eq!(retired["state"], "retiring");
    assert_eq!(retired["body"], NONE);
    assert_eq!(retired["current"]["retire_at"], utc(END));
    let host = policy_host(Arc::clone(&store), || END - 1);
    assert_eq!(fetch(&host, "mta-sts.hosted.example").await.3, NONE);
    settle_all(&*store, &zone, T2 + 60, timing).await.unwrap();
    assert_eq!(zone.txt(RECORD).await.unwrap(), Some(txt(NONE)));

    let host = policy_host(Arc::clone(&store), || END);
    assert_eq!(fetch(&host, "mta-sts.hosted.example").await.0, 404);
    let gone = get(&at_end, URI).await.json();
    assert_eq!(
        (&gone["state"], &gone["body"]),
        (&json!("retired"), &json!(null))
    );
    assert_eq!(
        settle_all(&*store, &zone, END, timing)
            .await
            .unwrap()
            .changed,
        1
    );
    assert_eq!(zone.txt(RECORD).await.unwrap(), None);
    let removed = call(&at_end, Method::DELETE, remove, None).await;
    assert_eq!(removed.status, 200);
}

async fn bad_policies_are_refused_with_reasons<B: Backend + 'static>(store: Arc<B>) {
    let app = app_at(Arc::clone(&store), None, || T0);
    let put = |body: Value| call(&app, Method::PUT, URI, Some(body));
    assert_eq!(
        put(json!({"mode": "enforce", "mx": ["mx.hosted.example"], "max_age": 604_800}))
            .await
            .error(404),
        "unknown_domain"
    );
    register(&app, "hosted.example").await;
    let cases = [
        (
            json!({"mode": "enforced", "mx": ["mx.hosted.example"], "max_age": 604_800}),
            "mode: \"enforced\" is not enforce, testing or none",
        ),
        (
            json!({"mode": "enforce", "mx": [], "max_age": 604_800}),
            "mx: mode enforce needs at least one mx pattern (only mode none may have none)",
        ),
        (
            json!({"mode": "testing", "mx": ["mx.bücher.example"], "max_age": 604_800}),
            "mx: \"mx.bücher.example\" is not ASCII: write internationalised names as A-labels (xn--...)",
        ),
        (
            json!({"mode": "testing", "mx": ["mail.*.hosted.example", "mx"], "max_age": 31_557_601}),
            "mx: \"mail.*.hosted.example\" may have a wildcard only as its whole first label \
          (*.example.com); mx: \"mx\" is not a fully qualified host name (like mx1.example.com); \
          max_age: 31557601 is more than 31557600 seconds (one year)",
        ),
    ];
    for (body, message) in cases {
        let reply = put(body).await;
        assert_eq!(reply.error(400), "invalid_policy");
        assert_eq!(reply.json()["message"], message);
    }
    for body in [
        json!([1]),
        json!({"mode": "testing"}),
        json!({"mode": "none", "max_age": 1, "x": 1}),
    ] {
        assert_eq!(put(body).await.error(400), "invalid_body");
    }
    let short = put(json!({"mode": "testing", "mx": ["mx.hosted.example"], "max_age": 3600})).await;
    assert_eq!(short.status, 201);
    assert_eq!(short.json()["warnings"][0]["field"], "max_age");
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            "/v1/domains/other.example/mta-sts",
            None
        )
        .await
        .error(404),
        "unknown_domain"
    );
}

/// The corpus TLS-RPT JSON files, POSTed as `+json` and again gzipped as `+gzip`: every
/// report is stored once, and the sessions read back per domain and day are the sums of
/// EXPECTED.json.
async fn tls_reports_posted_over_https_read_back_exactly<B: Backend + 'static>(store: Arc<B>) {
    let app = app_at(Arc::clone(&store), None, || RECEIVED);
    // Keyed by domain and the days of the period: multi-day reports are spread over them.
    let mut want: std::collections::BTreeMap<(String, String, String), (u64, u64, u64)> =
        Default::default();
    let mut seen = std::collections::BTreeSet::new();
    let mut posted = 0;
    for (file, reports) in corpus_report_files() {
        if !file.starts_with("corpus/tlsrpt/") || !file.ends_with(".json") {
            continue;
        }
        let bytes = read_fixture(&file);
        let new = seen.insert(reports[0]["report_id"].as_str().unwrap().to_owned());
        let first = call_bytes(
            &app,
            Method::POST,
            "/v1/tlsrpt",
            Some("application/tlsrpt+json"),
            bytes.clone(),
        )
        .await;
        assert_eq!(
            first.status,
            if new { 201 } else { 200 },
            "{file}: {}",
            String::from_utf8_lossy(&first.bytes)
        );
        assert_eq!(
            first.json()["outcome"],
            if new { "stored" } else { "duplicate" },
            "{file}"
        );
        let zipped = call_bytes(
            &app,
            Method::POST,
            "/v1/tlsrpt",
            Some("Application/TLSRPT+gzip; charset=binary"),
            gzip(&bytes),
        )
        .await;
        assert_eq!(
            (zipped.status.as_u16(), zipped.json()["outcome"].clone()),
            (200, json!("duplicate")),
            "{file}"
        );
        posted += 2;
        let r = &reports[0];
        let Some(domain) = r["policy_domains"][0].as_str() else {
            continue;
        };
        if new {
            let (from, to) = (s(r, "start")[..10].to_owned(), s(r, "end")[..10].to_owned());
            let e = want.entry((domain.to_lowercase(), from, to)).or_default();
            e.0 += 1;
            e.1 += r["successful_total"].as_u64().unwrap();
            e.2 += r["failure_total"].as_u64().unwrap();
        }
    }
    assert_eq!(posted, 24, "12 JSON files, each as JSON and gzipped");
    assert_eq!(want.len(), 9);
    for ((domain, from, to), (reports, ok, failed)) in &want {
        let tls = get(
            &app,
            &format!("/v1/domains/{domain}/tls?from={from}&to={to}"),
        )
        .await
        .json();
        assert_eq!(
            (
                &tls["reports"],
                &tls["successful_sessions"],
                &tls["failed_sessions"]
            ),
            (&json!(reports), &json!(ok), &json!(failed)),
            "{domain} {from}"
        );
    }
}

async fn refused_uploads_are_answered_counted_and_not_kept<B: Backend + 'static>(store: Arc<B>) {
    let app = app_at(Arc::clone(&store), None, || RECEIVED);
    let report = read_fixture("corpus/tlsrpt/cry-inc/google.json");
    let post = |ct: Option<&'static str>, bytes: Vec<u8>| {
        call_bytes(&app, Method::POST, "/v1/tlsrpt", ct, bytes)
    };
    // A report whose period begins in 2100.
    let future = String::from_utf8(report.clone())
        .unwrap()
        .replace("2025-05-22T00:00:00Z", "2100-01-01T00:00:00Z")
        .into_bytes();
    // (media type, body, status, code, message; "" when the parser's own words vary)
    type Case<'a> = (Option<&'a str>, Vec<u8>, u16, &'a str, &'a str);
    let cases: [Case; 8] = [
        (
            Some("text/plain"),
            report.clone(),
            415,
            "unsupported_media_type",
            "a TLS report is POSTed as application/tlsrpt+gzip or application/tlsrpt+json (RFC 8460 section 5.4), not text/plain",
        ),
        (
            None,
            report.clone(),
            415,
            "unsupported_media_type",
            "a TLS report is POSTed as application/tlsrpt+gzip or application/tlsrpt+json (RFC 8460 section 5.4), not without a Content-Type",
        ),
        (
            Some("application/tlsrpt+json"),
            b"{\"organization-name\": ".to_vec(),
            400,
            "unreadable_report",
            "",
        ),
        (
            Some("application/tlsrpt+gzip"),
            gzip(&read_fixture("corpus/aggregate/mail-auth/001.xml")),
            400,
            "unreadable_report",
            "expected a TLS report (RFC 8460), found a DMARC aggregate report",
        ),
        // An upload is JSON or gzip (RFC 8460 section 5.3): a zip or a mail is not opened,
        // even when it holds a TLS report.
        (
            Some("application/tlsrpt+gzip"),
            common::zip(&[("google.json", &report)]),
            400,
            "unreadable_report",
            "not a report: a TLS report upload is JSON or gzip of JSON (RFC 8460 section 5.3), not a zip archive",
        ),
        (
            Some("application/tlsrpt+json"),
            read_fixture("corpus/email/parsedmarc/twilight.eml"),
            400,
            "unreadable_report",
            "not a report: a TLS report upload is JSON or gzip of JSON (RFC 8460 section 5.3), not a mail",
        ),
        // The test API reads at most 64 KiB of an upload.
        (
            Some("application/tlsrpt+json"),
            vec![b' '; (64 << 10) + 1],
            413,
            "too_large",
            "the upload is larger than 65536 bytes",
        ),
        (
            Some("application/tlsrpt+json"),
            future,
            400,
            "implausible_period",
            "the report period begins 2100-01-01 00:00 UTC, more than 2 days from now, so it is not counted; `rampart reprocess` takes it once that is plausible",
        ),
    ];
    let refused_before = common::api::REFUSED.lock().unwrap().len();
    for (ct, bytes, status, code, message) in &cases {
        let reply = post(*ct, bytes.clone()).await;
        assert_eq!(reply.error(*status), *code);
        if !message.is_empty() {
            assert_eq!(reply.json()["message"], *message);
        }
    }
    // Nothing was kept: no raw message, no message record, no domain.
    assert_eq!(store.raw_keys().await.unwrap(), []);
    for outcome in Outcome::ALL {
        assert_eq!(store.messages(outcome, None, 10).await.unwrap(), []);
    }
    assert_eq!(store.domains(None, 10).await.unwrap(), []);
    // The operator counts each one (other tests refuse uploads too, in parallel).
    let refused = common::api::REFUSED.lock().unwrap().clone();
    for (_, _, _, code, _) in &cases {
        assert!(
            refused[refused_before..].contains(code),
            "{code}: {refused:?}"
        );
    }

    // Senders send no token: the upload is public even when the API needs one.
    let guarded = common::api::app_at(Arc::clone(&store), Some("secret"), || RECEIVED);
    let reply = call_bytes(
        &guarded,
        Method::POST,
        "/v1/tlsrpt",
        Some("application/tlsrpt+json"),
        report,
    )
    .await;
    assert_eq!(reply.status, 201);
    assert_eq!(
        get(&guarded, "/v1/messages").await.error(401),
        "unauthorized"
    );
    assert_eq!(
        get(&app, "/v1/tlsrpt").await.error(405),
        "method_not_allowed"
    );
}

/// Where only registered domains are counted, an upload for any other is refused and not
/// kept; once the domain is registered the same upload is stored.
async fn uploads_for_unregistered_domains_are_refused<B: Backend + 'static>(store: Arc<B>) {
    let app = common::api::app_accepting(
        Arc::clone(&store),
        None,
        || RECEIVED,
        rampart_ingest::Accept::Registered,
    );
    let report = read_fixture("corpus/tlsrpt/parsedmarc/mail.ru.json");
    let reply = call_bytes(
        &app,
        Method::POST,
        "/v1/tlsrpt",
        Some("application/tlsrpt+json"),
        report.clone(),
    )
    .await;
    assert_eq!(reply.error(403), "unregistered_domain");
    assert_eq!(
        reply.json()["message"],
        "example.com is not registered here; TLS reports are taken for registered domains only"
    );
    assert_eq!(store.raw_keys().await.unwrap(), []);
    assert_eq!(store.domains(None, 10).await.unwrap(), []);
    register(&app, "example.com").await;
    let reply = call_bytes(
        &app,
        Method::POST,
        "/v1/tlsrpt",
        Some("application/tlsrpt+json"),
        report,
    )
    .await;
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
    assert_eq!(store.raw_keys().await.unwrap().len(), 1);
}

/// A domain whose policy history cannot be read is reported; the domains after it are still
/// published.
async fn one_unpublishable_domain_does_not_stop_the_others<B: Backend + 'static>(store: Arc<B>) {
    let app = app_at(Arc::clone(&store), None, || T0);
    let domains = ["a-first.example", "b-broken.example", "c-last.example"];
    for domain in domains {
        register(&app, domain).await;
        let policy = json!({"mode": "testing", "mx": [format!("mx.{domain}")], "max_age": 86400});
        let uri = format!("/v1/domains/{domain}/mta-sts");
        assert_eq!(
            call(&app, Method::PUT, &uri, Some(policy)).await.status,
            201
        );
    }
    store.corrupt_policy("b-broken.example").await;
    let zone = zone_file();
    let settled = settle_all(&*store, &zone, T0 + 60, Timing::default())
        .await
        .unwrap();
    assert_eq!(settled.changed, 2);
    assert_eq!(
        settled
            .failed
            .iter()
            .map(|(d, _)| d.as_str())
            .collect::<Vec<_>>(),
        ["b-broken.example"]
    );
    for domain in ["a-first.example", "c-last.example"] {
        let name = rampart_mta_sts::id_record_name(domain, zone.apex());
        assert!(zone.txt(&name).await.unwrap().is_some(), "{domain}");
    }
}

/// The policy host as Lambda runs it: a Function URL event behind CloudFront, with the
/// viewer's host name in `x-forwarded-host` (the Host header is the function URL's own).
#[tokio::test]
async fn the_lambda_policy_host_reads_the_viewer_host_header() {
    let store = common::backends::embedded();
    let app = app_at(store.clone(), None, || T0);
    // The README's invoke steps: register twlnet.com, then PUT its policy (as an event).
    let event = |name: &str| {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../events")
                .join(name),
        )
        .unwrap()
    };
    register(&app, "twlnet.com").await;
    let put = lambda_http::request::from_str(&event("apigw-v2-policy.json")).unwrap();
    let reply = into_reply(query::lambda_service(app).oneshot(put).await.unwrap()).await;
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
    let host = policy_host::router(Arc::new(PolicyHost {
        store,
        host_header: HeaderName::from_static(policy_host::VIEWER_HOST),
        timing: Timing::default(),
        now: || T0,
    }));
    let event = event("function-url-mta-sts.json");
    let request = lambda_http::request::from_str(&event).unwrap();
    assert_eq!(
        request.headers()["host"],
        "abcdefghijklmnop.lambda-url.us-east-1.on.aws"
    );
    let reply = into_reply(host.clone().oneshot(request).await.unwrap()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.bytes, V2.as_bytes());
    let mut head = lambda_http::request::from_str(&event.replace("\"GET\"", "\"HEAD\"")).unwrap();
    *head.method_mut() = Method::HEAD;
    let reply = into_reply(host.clone().oneshot(head).await.unwrap()).await;
    assert_eq!((reply.status.as_u16(), reply.bytes.len()), (200, 0));
    let other = lambda_http::request::from_str(
        &event.replace("/.well-known/mta-sts.txt", "/.well-known/other"),
    )
    .unwrap();
    let reply = into_reply(host.oneshot(other).await.unwrap()).await;
    assert_eq!(reply.status, 404);
}

/// The MTA-STS function reads policies through `PolicyTable` (the DynamoDB client alone): it
/// serves exactly what the full store serves, and nothing for a domain without a policy.
#[tokio::test]
async fn the_policy_table_serves_what_the_store_holds() {
    let store = Arc::new(common::backends::aws().await);
    let app = app_at(Arc::clone(&store), None, || T0);
    register(&app, "hosted.example").await;
    let v1 = json!({"mode": "testing", "mx": ["MX1.hosted.example.", "*.mail.hosted.example"],
                    "max_age": 1_209_600});
    assert_eq!(call(&app, Method::PUT, URI, Some(v1)).await.status, 201);
    let table = PolicyTable::new(
        &emulator_config(&endpoint()).await,
        store.location().table.clone(),
    );
    let from_table = policy_host(table, || T0);
    let from_store = policy_host(Arc::clone(&store), || T0);
    let served = fetch(&from_table, "mta-sts.hosted.example").await;
    assert_eq!(served, fetch(&from_store, "mta-sts.hosted.example").await);
    assert_eq!((served.0, served.3.as_str()), (200, V1));
    assert_eq!(fetch(&from_table, "mta-sts.other.example").await.0, 404);
}

/// An API Gateway HTTP API event carries a gzipped upload base64-encoded.
#[tokio::test]
async fn a_base64_api_gateway_upload_is_stored() {
    let store = common::backends::embedded();
    let app = app_at(store.clone(), None, || RECEIVED);
    let event = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/apigw-v2-tlsrpt.json"),
    )
    .unwrap();
    let request = lambda_http::request::from_str(&event).unwrap();
    let service = query::lambda_service(app);
    let reply = into_reply(service.oneshot(request).await.unwrap()).await;
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
    let tls = get(
        &app_at(store, None, || T0),
        "/v1/domains/foo-bar.io/tls?from=2025-05-22&to=2025-05-22",
    )
    .await
    .json();
    // EXPECTED.json for tlsrpt/cry-inc/google.json (the event's body, gzipped).
    assert_eq!(
        (&tls["reports"], &tls["successful_sessions"]),
        (&json!(1), &json!(1))
    );
}

/// The AWS publisher: policy ids in a Route 53 hosted zone (moto).
#[tokio::test]
async fn route53_holds_the_published_ids() {
    let sdk = emulator_config(&endpoint()).await;
    let route53 = aws_sdk_route53::Client::new(&sdk);
    let apex = format!("rua{}.rampart.example", std::process::id());
    let created = route53
        .create_hosted_zone()
        .name(&apex)
        .caller_reference(format!("rampart-test-{}", std::process::id()))
        .send()
        .await
        .unwrap();
    let zone_id = created.hosted_zone().unwrap().id().to_owned();
    let zone = Route53Zone::new(&sdk, &zone_id, &apex);
    let name = format!("hosted.example._mta-sts.{apex}");
    assert_eq!(zone.txt(&name).await.unwrap(), None);
    zone.set_txt(&name, &txt(V1), 300).await.unwrap();
    zone.set_txt(&name, &txt(V2), 300).await.unwrap();
    assert_eq!(zone.txt(&name).await.unwrap(), Some(txt(V2)));
    let listed = zone.txt_records().await.unwrap();
    assert_eq!(listed.get(&name), Some(&txt(V2)));
    assert_eq!(listed.len(), 1, "{listed:?}");
    let sets = route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .unwrap();
    let ours: Vec<_> = sets
        .resource_record_sets()
        .iter()
        .filter(|r| r.name() == format!("{name}."))
        .map(|r| (r.ttl(), r.resource_records()[0].value().to_owned()))
        .collect();
    assert_eq!(ours, [(Some(300), format!("\"{}\"", txt(V2)))]);
    zone.remove_txt(&name).await.unwrap();
    zone.remove_txt(&name).await.unwrap();
    assert_eq!(zone.txt(&name).await.unwrap(), None);

    // The scheduled publisher over the AWS store writes the same record.
    let store = Arc::new(common::backends::aws().await);
    let app = app_at(Arc::clone(&store), None, || T0);
    register(&app, "hosted.example").await;
    let v1 = json!({"mode": "testing", "mx": ["mx1.hosted.example", "*.mail.hosted.example"],
                    "max_age": 1_209_600});
    assert_eq!(call(&app, Method::PUT, URI, Some(v1)).await.status, 201);
    let timing = Timing::default();
    assert_eq!(
        settle_all(&*store, &zone, T0 + 59, timing)
            .await
            .unwrap()
            .changed,
        0
    );
    assert_eq!(
        settle_all(&*store, &zone, T0 + 60, timing)
            .await
            .unwrap()
            .changed,
        1
    );
    assert_eq!(zone.txt(&name).await.unwrap(), Some(txt(V1)));
    assert_eq!(
        settle_all(&*store, &zone, T0 + 61, timing)
            .await
            .unwrap()
            .changed,
        0
    );
}
