//! Source intelligence end to end: the bundled IP databases, reverse DNS against a real DNS
//! server on 127.0.0.1, the name cache on both backends, classification of hand-built records
//! of every class, and the API views over them.

mod common;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rampart_formats::Report;
use rampart_ingest::Ingest;
use rampart_sources::ipdb::IpDatabase;
use rampart_sources::ptr::PtrResolver;
use rampart_sources::{CachedName, EnrichSettings, Enricher, NameCache, ReverseDns, SourceInfo};
use rampart_store::{DayRange, Outcome, RawKey, Store};
use serde_json::{Value, json};

use common::api::{app_at, get};
use common::dns::{self, reverse_name};
use common::on_both_backends;

/// 2024-03-02 12:00 UTC, the day after the report.
const NOW: i64 = 1_709_380_800;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn the_bundled_databases_give_country_and_as() {
    let db = IpDatabase::bundled().expect("built with data/ipdb (scripts/ipdb.sh)");
    let facts = |a: &str| {
        let f = db.lookup(ip(a));
        (f.country, f.asn, f.as_org)
    };
    let some = |c: &str, n: u32, o: &str| (Some(c.to_owned()), Some(n), Some(o.to_owned()));
    assert_eq!(facts("209.85.220.41"), some("US", 15169, "Google LLC"));
    assert_eq!(
        facts("40.107.22.1"),
        some("US", 8075, "Microsoft Corporation")
    );
    assert_eq!(facts("50.31.32.10"), some("US", 11377, "SendGrid, Inc."));
    assert_eq!(
        facts("81.2.69.142"),
        some("GB", 20712, "Andrews & Arnold Ltd")
    );
    assert_eq!(
        facts("2001:4860:4860::8888"),
        some("US", 15169, "Google LLC")
    );
    // Reports now and then write IPv4 sources IPv4-mapped.
    assert_eq!(facts("::ffff:8.8.8.8"), some("US", 15169, "Google LLC"));
    assert_eq!(facts("198.51.100.7"), (Some("AU".into()), None, None));
    assert_eq!(facts("10.1.2.3"), (None, None, None));
}

/// The zone of the hand-built report's sources.
async fn zone() -> dns::DnsServer {
    let google = ip("209.85.220.41");
    let fake = ip("5.188.62.7");
    let outlook = ip("2a01:111:f400::1");
    dns::serve(&[
        (&reverse_name(google), "PTR", "mail-sor-f41.google.com."),
        ("mail-sor-f41.google.com.", "A", "209.85.220.41"),
        // Claims to be Google, but the name does not point back at it.
        (&reverse_name(fake), "PTR", "mail.google.com."),
        ("mail.google.com.", "A", "5.188.62.99"),
        (
            &reverse_name(outlook),
            "PTR",
            "mail-db8eur05on2001.outbound.protection.outlook.com.",
        ),
        (
            "mail-db8eur05on2001.outbound.protection.outlook.com.",
            "AAAA",
            "2a01:111:f400::1",
        ),
    ])
    .await
}

fn enricher(server: std::net::SocketAddr, budget: Duration) -> Enricher {
    let timeout = Duration::from_millis(500);
    let resolver = PtrResolver::with_servers(&[server], timeout).unwrap();
    Enricher::new(
        Some(resolver),
        EnrichSettings {
            lookup_timeout: timeout,
            budget,
            ..EnrichSettings::default()
        },
    )
}

fn confirmed(name: &str) -> ReverseDns {
    ReverseDns::Confirmed { name: name.into() }
}

fn expected_sources() -> Vec<(&'static str, Value)> {
    let service = |id: &str, name: &str, kind: &str| json!({"id": id, "name": name, "kind": kind});
    vec![
        (
            "40.107.22.1",
            json!({"country": "US", "asn": 8075, "as_org": "Microsoft Corporation",
            "reverse_dns": {"status": "absent"}, "base_domain": null, "service": null}),
        ),
        (
            "185.220.101.4",
            json!({"country": "DE", "asn": 60729,
            "as_org": "Stiftung Erneuerbare Freiheit", "reverse_dns": {"status": "absent"},
            "base_domain": null, "service": null}),
        ),
        (
            "5.188.62.7",
            json!({"country": "RU", "asn": 216368, "as_org": "Petersburg Internet Network ltd.",
            "reverse_dns": {"status": "unconfirmed", "name": "mail.google.com"},
            "base_domain": null, "service": null}),
        ),
        (
            "209.85.220.41",
            json!({"country": "US", "asn": 15169, "as_org": "Google LLC",
            "reverse_dns": {"status": "confirmed", "name": "mail-sor-f41.google.com"},
            "base_domain": "google.com",
            "service": service("google", "Google Workspace / Gmail", "mailbox_provider")}),
        ),
        (
            "50.31.32.10",
            json!({"country": "US", "asn": 11377, "as_org": "SendGrid, Inc.",
            "reverse_dns": {"status": "absent"}, "base_domain": null,
            "service": service("sendgrid", "Twilio SendGrid", "transactional")}),
        ),
        (
            "81.2.69.142",
            json!({"country": "GB", "asn": 20712, "as_org": "Andrews & Arnold Ltd",
            "reverse_dns": {"status": "absent"}, "base_domain": null, "service": null}),
        ),
        (
            "2a01:111:f400::1",
            json!({"country": "GB", "asn": 8075,
            "as_org": "Microsoft Corporation",
            "reverse_dns": {"status": "confirmed",
                            "name": "mail-db8eur05on2001.outbound.protection.outlook.com"},
            "base_domain": "outlook.com",
            "service": service("microsoft", "Microsoft 365 / Outlook.com", "mailbox_provider")}),
        ),
    ]
}

/// One record of the hand-built report: `pe` is the aligned (DKIM, SPF) verdict, `reason` an
/// override type, `auth` the raw results.
fn record(ip: &str, count: u32, pe: (&str, &str), reason: Option<&str>, auth: &[String]) -> String {
    format!(
        "<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>\
         <disposition>none</disposition><dkim>{}</dkim><spf>{}</spf>{}</policy_evaluated></row>\
         <identifiers><header_from>example.org</header_from></identifiers>\
         <auth_results>{}</auth_results></record>",
        pe.0,
        pe.1,
        reason.map_or(String::new(), |r| format!(
            "<reason><type>{r}</type></reason>"
        )),
        auth.concat()
    )
}

fn spf(domain: &str, result: &str) -> String {
    format!("<spf><domain>{domain}</domain><result>{result}</result></spf>")
}

fn dkim(domain: &str, selector: &str, result: &str) -> String {
    format!(
        "<dkim><domain>{domain}</domain><selector>{selector}</selector><result>{result}</result></dkim>"
    )
}

/// A report with a record of every class (see `shared/src/sources/classify.rs`).
fn report_xml() -> String {
    let fail = ("fail", "fail");
    let records = [
        // compliant: aligned DKIM and SPF pass
        record(
            "209.85.220.41",
            100,
            ("pass", "pass"),
            None,
            &[
                dkim("example.org", "s1", "pass"),
                spf("example.org", "pass"),
            ],
        ),
        // forwarded: the receiver says so
        record(
            "40.107.22.1",
            7,
            fail,
            Some("forwarded"),
            &[
                dkim("example.org", "s1", "fail"),
                spf("example.org", "fail"),
            ],
        ),
        // forwarded: SPF fails, an unaligned DKIM signature passes, from no sending platform
        record(
            "81.2.69.142",
            5,
            fail,
            None,
            &[
                dkim("lists.example.net", "l1", "pass"),
                spf("example.org", "fail"),
            ],
        ),
        // misconfigured: SendGrid's own SPF and DKIM pass, not aligned
        record(
            "50.31.32.10",
            20,
            fail,
            None,
            &[
                dkim("sendgrid.net", "s1", "pass"),
                spf("sendgrid.net", "pass"),
            ],
        ),
        // misconfigured: the forwarding pattern, but from a sending platform
        record(
            "50.31.32.10",
            3,
            fail,
            None,
            &[
                dkim("sendgrid.net", "s1", "pass"),
                spf("example.org", "softfail"),
            ],
        ),
        // suspicious: both fail from an unrecognised source
        record(
            "185.220.101.4",
            9,
            fail,
            None,
            &[spf("example.org", "fail")],
        ),
        // suspicious: its PTR name claims Google, but is not confirmed
        record("5.188.62.7", 2, fail, None, &[spf("example.org", "fail")]),
        // misconfigured: both fail from a recognised service (Microsoft 365, by its PTR)
        record(
            "2a01:111:f400::1",
            4,
            fail,
            None,
            &[
                dkim("example.org", "s2", "fail"),
                spf("example.org", "fail"),
            ],
        ),
    ];
    format!(
        "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>google.com</org_name>\
         <email>noreply-dmarc-support@google.com</email><report_id>sources-1</report_id>\
         <date_range><begin>1709251200</begin><end>1709337599</end></date_range></report_metadata>\
         <policy_published><domain>example.org</domain><adkim>r</adkim><aspf>r</aspf><p>reject</p>\
         </policy_published>{}</feedback>",
        records.concat()
    )
}

async fn ingest_report<S: Store>(store: &S, enricher: &Enricher) -> rampart_ingest::Ingested {
    let xml = report_xml();
    let key = RawKey::for_content(xml.as_bytes());
    store.put_raw(&key, xml.as_bytes()).await.unwrap();
    Ingest::new(store, enricher)
        .message(&key, xml.as_bytes(), NOW)
        .await
}

async fn stored_sources<S: Store>(store: &S) -> Vec<(String, Value)> {
    let reports = store
        .reports("example.org", &DayRange::new("2024-03-01", "2024-03-01"))
        .await
        .unwrap();
    assert_eq!(reports.len(), 1);
    assert!(matches!(reports[0].report, Report::Aggregate(_)));
    reports[0]
        .sources
        .iter()
        .map(|(ip, s)| (ip.to_string(), serde_json::to_value(s).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_enriches_every_source_and_a_second_run_reads_the_cache() {
    let store = common::backends::embedded();
    let server = zone().await;
    let enricher = enricher(server.addr, Duration::from_secs(10));
    let done = ingest_report(&store, &enricher).await;
    assert_eq!(done.outcome, Outcome::Stored, "{:?}", done.reason);
    let want: Vec<(String, Value)> = expected_sources()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let mut got = stored_sources(&store).await;
    got.sort_by_key(|a| a.0.parse::<IpAddr>().unwrap());
    let mut want_sorted = want.clone();
    want_sorted.sort_by_key(|a| a.0.parse::<IpAddr>().unwrap());
    assert_eq!(got, want_sorted);

    // The server is gone: the same addresses now come from the store's cache, answered or not.
    drop(server);
    let ips: Vec<IpAddr> = want.iter().map(|(k, _)| k.parse().unwrap()).collect();
    let (sources, done) = enricher.sources(&store, &ips, NOW + 60, None).await;
    assert_eq!(
        (done.addresses, done.cached, done.looked_up, done.unresolved),
        (7, 7, 0, 0)
    );
    assert_eq!(
        sources[&ip("209.85.220.41")].reverse_dns,
        confirmed("mail-sor-f41.google.com")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_that_never_answers_is_bounded_and_leaves_reverse_dns_unresolved() {
    let store = common::backends::embedded();
    let silent = dns::silent().await;
    let enricher = enricher(silent.addr, Duration::from_secs(1));
    let started = std::time::Instant::now();
    let done = ingest_report(&store, &enricher).await;
    let took = started.elapsed();
    assert_eq!(done.outcome, Outcome::Stored);
    // The budget (1 s) bounds the wait; the margin only absorbs a loaded machine.
    assert!(
        took < Duration::from_secs(8),
        "ingest waited {took:?} for a silent resolver"
    );
    for (address, source) in stored_sources(&store).await {
        let source: SourceInfo = serde_json::from_value(source).unwrap();
        assert_eq!(source.reverse_dns, ReverseDns::Unresolved, "{address}");
        assert!(
            source.country.is_some(),
            "{address}: the databases still answer"
        );
    }
    // Nothing unresolved is cached: a later run with a working resolver asks again.
    assert!(
        store
            .cached_names(&[ip("209.85.220.41")], NOW)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn names_are_cached_until_they_expire<S: Store>(store: Arc<S>) {
    let a = ip("192.0.2.10");
    let b = ip("2001:db8::10");
    store
        .cache_names(&[
            CachedName {
                ip: a,
                reverse_dns: confirmed("mx.example.net"),
                expires_at: NOW + 100,
            },
            CachedName {
                ip: b,
                reverse_dns: ReverseDns::Absent,
                expires_at: NOW + 10,
            },
        ])
        .await
        .unwrap();
    let got = store
        .cached_names(&[a, b, ip("192.0.2.11")], NOW)
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[&a], confirmed("mx.example.net"));
    assert_eq!(got[&b], ReverseDns::Absent);
    let later = store.cached_names(&[a, b], NOW + 50).await.unwrap();
    assert_eq!(later.keys().collect::<Vec<_>>(), vec![&a]);
    // A new answer replaces the old one.
    store
        .cache_names(&[CachedName {
            ip: a,
            reverse_dns: ReverseDns::Absent,
            expires_at: NOW + 500,
        }])
        .await
        .unwrap();
    assert_eq!(
        store.cached_names(&[a], NOW + 200).await.unwrap()[&a],
        ReverseDns::Absent
    );
    // More than one BatchGetItem's worth of keys.
    let many: Vec<IpAddr> = (0..250u32)
        .map(|i| IpAddr::from([198, 18, (i / 256) as u8, (i % 256) as u8]))
        .collect();
    let entries: Vec<CachedName> = many
        .iter()
        .map(|ip| CachedName {
            ip: *ip,
            reverse_dns: ReverseDns::Absent,
            expires_at: NOW + 100,
        })
        .collect();
    store.cache_names(&entries).await.unwrap();
    assert_eq!(store.cached_names(&many, NOW).await.unwrap().len(), 250);
}

on_both_backends!(names_are_cached_until_they_expire);

async fn classified_store() -> (Arc<rampart_store::embedded::EmbeddedStore>, axum::Router) {
    let store = Arc::new(common::backends::embedded());
    let server = zone().await;
    let done = ingest_report(&*store, &enricher(server.addr, Duration::from_secs(10))).await;
    assert_eq!(done.outcome, Outcome::Stored);
    let app = app_at(Arc::clone(&store), None, || NOW);
    (store, app)
}

const RANGE: &str = "from=2024-03-01&to=2024-03-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_class_is_recognised_and_counted() {
    let (_store, app) = classified_store().await;
    let reply = get(
        &app,
        &format!("/v1/domains/example.org/stats?{RANGE}&group_by=classification"),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 200);
    let groups: Vec<(String, u64)> = reply.json()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"]["classification"].as_str().unwrap().to_owned(),
                g["messages"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("compliant".into(), 100),
            ("misconfigured".into(), 27),
            ("forwarded".into(), 12),
            ("suspicious".into(), 11)
        ]
    );
    let total = |q: &str| {
        let app = app.clone();
        let uri = format!("/v1/domains/example.org/stats?{RANGE}&group_by=dmarc&{q}");
        async move {
            let reply = get(&app, &uri).await;
            assert_eq!(reply.status.as_u16(), 200, "{uri}: {:?}", reply.json());
            reply.json()["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["messages"].as_u64().unwrap())
                .sum::<u64>()
        }
    };
    assert_eq!(total("country=de").await, 9);
    assert_eq!(total("country=US,GB").await, 100 + 7 + 23 + 5 + 4);
    assert_eq!(total("asn=AS11377").await, 23);
    assert_eq!(total("asn=8075").await, 11);
    assert_eq!(total("service=google,microsoft").await, 104);
    assert_eq!(total("classification=suspicious,forwarded").await, 23);
    let by_country = get(
        &app,
        &format!("/v1/domains/example.org/stats?{RANGE}&group_by=country&sort=key"),
    )
    .await;
    let keys: Vec<Value> = by_country.json()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"]["country"].clone())
        .collect();
    assert_eq!(keys, [json!("DE"), json!("GB"), json!("RU"), json!("US")]);
    for bad in ["country=USA", "asn=google", "classification=spoofed"] {
        let reply = get(
            &app,
            &format!("/v1/domains/example.org/stats?{RANGE}&group_by=dmarc&{bad}"),
        )
        .await;
        assert_eq!(reply.error(400), "invalid_filter", "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sources_view_names_services_and_their_failures() {
    let (_store, app) = classified_store().await;
    let reply = get(&app, &format!("/v1/domains/example.org/sources?{RANGE}")).await;
    assert_eq!(reply.status.as_u16(), 200);
    let body = reply.json();
    let keys: Vec<Value> = body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].clone())
        .collect();
    assert_eq!(
        keys,
        [
            json!("google"),
            Value::Null,
            json!("sendgrid"),
            json!("microsoft")
        ]
    );
    assert_eq!(body["total"], 4);
    assert_eq!(
        body["sources"][2],
        json!({
            "key": "sendgrid",
            "service": {"id": "sendgrid", "name": "Twilio SendGrid", "kind": "transactional"},
            "addresses": 1, "messages": 23,
            "dmarc_pass": 0, "dmarc_pass_share": 0.0,
            "spf_aligned_pass": 0, "spf_aligned_share": 0.0,
            "dkim_aligned_pass": 0, "dkim_aligned_share": 0.0,
            "classifications": {"misconfigured": 23},
            "spf_failures": [
                {"domain": "sendgrid.net", "result": "pass", "messages": 20},
                {"domain": "example.org", "result": "softfail", "messages": 3}],
            "dkim_failures": [
                {"domain": "sendgrid.net", "selector": "s1", "result": "pass", "messages": 23}],
        })
    );
    assert_eq!(
        body["sources"][1]["classifications"],
        json!({"forwarded": 12, "suspicious": 11})
    );
    assert_eq!(body["sources"][1]["addresses"], 4);
    assert_eq!(body["sources"][0]["dmarc_pass_share"], 1.0);
    assert_eq!(body["sources"][0]["spf_failures"], json!([]));

    let by_ip = get(
        &app,
        &format!("/v1/domains/example.org/sources?{RANGE}&by=ip&limit=2"),
    )
    .await
    .json();
    assert_eq!(by_ip["total"], 7);
    assert_eq!(by_ip["sources"][0]["key"], "209.85.220.41");
    let want = expected_sources()
        .into_iter()
        .find(|(k, _)| *k == "209.85.220.41")
        .unwrap()
        .1;
    assert_eq!(by_ip["sources"][0]["source"], want);
    assert_eq!(by_ip["sources"][1]["key"], "50.31.32.10");
    assert!(by_ip["next"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spoofing_view_ranks_failing_unrecognised_sources() {
    let (_store, app) = classified_store().await;
    let reply = get(&app, &format!("/v1/domains/example.org/spoofing?{RANGE}")).await;
    assert_eq!(reply.status.as_u16(), 200);
    assert_eq!(
        reply.json(),
        json!({
            "domain": "example.org", "from": "2024-03-01", "to": "2024-03-01",
            "sources": [
                {"ip": "185.220.101.4", "country": "DE", "asn": 60729,
                 "as_org": "Stiftung Erneuerbare Freiheit", "reverse_dns": {"status": "absent"},
                 "messages": 9, "first_seen": "2024-03-01T00:00:00Z",
                 "last_seen": "2024-03-01T23:59:59Z", "reports": 1, "reporters": ["google.com"],
                 "header_from": ["example.org"], "dispositions": {"none": 9}},
                {"ip": "5.188.62.7", "country": "RU", "asn": 216368,
                 "as_org": "Petersburg Internet Network ltd.",
                 "reverse_dns": {"status": "unconfirmed", "name": "mail.google.com"},
                 "messages": 2, "first_seen": "2024-03-01T00:00:00Z",
                 "last_seen": "2024-03-01T23:59:59Z", "reports": 1, "reporters": ["google.com"],
                 "header_from": ["example.org"], "dispositions": {"none": 2}}],
            "next": null, "total": 2, "messages": 11,
        })
    );
    let de = get(
        &app,
        &format!("/v1/domains/example.org/spoofing?{RANGE}&country=RU"),
    )
    .await
    .json();
    assert_eq!(de["total"], 1);
}
