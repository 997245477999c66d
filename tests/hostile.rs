//! What a stranger can send, stored and read back on both backends: counters that cannot
//! outgrow a DynamoDB item, counts that cannot wrap a total, cursors that cannot be forged
//! into an overflow. Each test failed on the main before these bounds existed.

mod common;

use std::sync::Arc;

use axum::http::Method;
use chrono::NaiveDate;
use common::api::{app, call};
use common::backends::Backend;
use common::on_both_backends;
use rampart_formats::Limits;
use rampart_formats::intake::parse_input;
use rampart_formats::limits::MAX_COUNT;
use rampart_ingest::{Accept, Ingest};
use rampart_query::request::from_pairs;
use rampart_query::{Params, aggregate};
use rampart_sources::Enricher;
use rampart_store::tally::{MAX_REPORTERS_PER_DAY, OTHER_REPORTERS};
use rampart_store::{Outcome, PutReport, RawKey, StoredReport, WriteMode};
use serde_json::json;

on_both_backends!(
    thousands_of_reporters_and_long_dispositions_fit_one_day,
    counts_that_cannot_be_real_are_left_out_of_every_total,
    totals_stop_at_max_count_instead_of_wrapping,
    forged_cursors_are_refused,
    csv_cells_never_run_as_formulas,
    mail_for_an_unregistered_domain_is_held_until_it_is_registered,
    a_period_that_has_not_begun_is_rejected_and_kept,
    a_trailing_dot_names_the_same_report_and_partition,
    domains_page_at_the_store,
);

/// 2024-03-01T00:00:00Z.
const MARCH_1: i64 = 1_709_251_200;
const DAY: i64 = 86_400;
const TODAY: &str = "2024-03-31";

fn today() -> NaiveDate {
    NaiveDate::parse_from_str(TODAY, "%Y-%m-%d").unwrap()
}

/// A one-day report on `domain` from `org` with the given records.
fn report_xml(org: &str, id: &str, records: &str) -> String {
    format!(
        "<feedback><report_metadata><org_name>{org}</org_name><report_id>{id}</report_id>\
         <date_range><begin>{MARCH_1}</begin><end>{}</end></date_range></report_metadata>\
         <policy_published><domain>victim.example</domain><p>reject</p></policy_published>\
         {records}</feedback>",
        MARCH_1 + DAY - 1
    )
}

fn record(count: &str, disposition: &str, dkim: &str) -> String {
    format!(
        "<record><row><source_ip>192.0.2.1</source_ip><count>{count}</count><policy_evaluated>\
         <disposition>{disposition}</disposition><dkim>{dkim}</dkim><spf>fail</spf>\
         </policy_evaluated></row><identifiers><header_from>victim.example</header_from>\
         </identifiers></record>"
    )
}

fn stored(xml: &str) -> StoredReport {
    let mut parsed = parse_input(xml.as_bytes(), &Limits::default());
    assert_eq!(parsed.reports.len(), 1, "{:?}", parsed.problems);
    let p = parsed.reports.remove(0);
    StoredReport {
        id: p.id,
        message: RawKey::new("hostile/generated").unwrap(),
        received_at: MARCH_1,
        mail: None,
        origin: p.origin,
        report: p.report,
        sources: Default::default(),
    }
}

async fn ingest<B: Backend>(store: &B, xml: &str) -> rampart_ingest::Ingested {
    let key = RawKey::for_content(xml.as_bytes());
    store.put_raw(&key, xml.as_bytes()).await.unwrap();
    Ingest::new(store, &Enricher::disabled())
        .message(&key, xml.as_bytes(), MARCH_1 + 2 * DAY)
        .await
}

async fn summary<B: Backend>(store: &B) -> aggregate::Summary {
    let pairs = vec![
        ("from".to_owned(), "2024-03-01".to_owned()),
        ("to".to_owned(), "2024-03-01".to_owned()),
    ];
    aggregate::summary(store, "victim.example", from_pairs(pairs).unwrap(), today())
        .await
        .unwrap()
}

const REPORTERS: usize = 2_000;
const LONG_DISPOSITIONS: usize = 36;

/// Thousands of reporters, each adding its own counters to one day, and dozens of distinct
/// 60 KB dispositions: every report stores, the day item stays far below DynamoDB's 400 KB,
/// and the totals are the exact sums.
async fn thousands_of_reporters_and_long_dispositions_fit_one_day<B: Backend>(store: Arc<B>) {
    let mut messages = 0u64;
    for i in 0..REPORTERS {
        // Names as long as counters keep them, so the item is as large as it can get.
        let org = format!("reporter {i:05} {}", "x".repeat(60));
        let records = [
            record("3", "none", "pass"),
            record("2", "quarantine", "fail"),
            record("1", "reject", "fail"),
        ]
        .concat();
        let put = store
            .put_report(&stored(&report_xml(&org, "r", &records)), WriteMode::Insert)
            .await
            .unwrap_or_else(|e| panic!("reporter {i}: {e}"));
        assert_eq!(put, PutReport::Stored, "reporter {i}");
        messages += 6;
    }
    for i in 0..LONG_DISPOSITIONS {
        let disposition = format!("{i:02}{}", "d".repeat(60_000));
        let xml = report_xml(
            "Long Dispositions",
            &format!("long-{i}"),
            &record("7", &disposition, "fail"),
        );
        let put = store
            .put_report(&stored(&xml), WriteMode::Insert)
            .await
            .unwrap_or_else(|e| panic!("disposition {i}: {e}"));
        assert_eq!(put, PutReport::Stored);
        messages += 7;
    }

    let s = summary(&*store).await;
    assert_eq!(s.messages, messages as i64);
    assert_eq!(s.reports, (REPORTERS + LONG_DISPOSITIONS) as i64);
    assert_eq!(s.dmarc_pass + s.dmarc_fail, s.messages);
    assert_eq!(s.dmarc_pass, 3 * REPORTERS as i64);
    let dispositions: Vec<(&str, i64)> = s
        .dispositions
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        dispositions,
        [
            ("none", 3 * REPORTERS as i64),
            ("other", 7 * LONG_DISPOSITIONS as i64),
            ("quarantine", 2 * REPORTERS as i64),
            ("reject", REPORTERS as i64),
        ]
    );
    // The first reporters keep counters of their own; the rest are one overflow reporter.
    assert_eq!(s.reporters, MAX_REPORTERS_PER_DAY + 1);
    assert!(s.reporter_names.iter().any(|n| n == OTHER_REPORTERS));

    // Grouped by reporter from the counters: every message is in a group.
    let pairs = vec![
        ("from".to_owned(), "2024-03-01".to_owned()),
        ("to".to_owned(), "2024-03-01".to_owned()),
        ("group_by".to_owned(), "reporter".to_owned()),
        ("limit".to_owned(), "1000".to_owned()),
    ];
    let stats = aggregate::stats(
        &*store,
        "victim.example",
        from_pairs(pairs).unwrap(),
        today(),
    )
    .await
    .unwrap();
    assert_eq!(stats.total_groups, MAX_REPORTERS_PER_DAY + 1);
    let grouped: u64 = stats.groups.iter().map(|g| g.messages).sum();
    assert_eq!(grouped, messages);
    let other = stats
        .groups
        .iter()
        .find(|g| g.key["reporter"].as_deref() == Some(OTHER_REPORTERS))
        .unwrap();
    let own = MAX_REPORTERS_PER_DAY as u64 * 6;
    assert_eq!(other.messages, messages - own);

    if let Some(largest) = store.largest_item().await {
        assert!(largest < 300_000, "largest item is {largest} bytes");
    }
}

/// A record claiming u64::MAX messages beside one of 5: the report is stored, the record
/// keeps its count as sent, and every total says 5.
async fn counts_that_cannot_be_real_are_left_out_of_every_total<B: Backend + 'static>(
    store: Arc<B>,
) {
    let records = [
        record("18446744073709551615", "none", "pass"),
        record("5", "none", "pass"),
    ]
    .concat();
    let done = ingest(&*store, &report_xml("Forger", "f1", &records)).await;
    assert_eq!(done.outcome, Outcome::Stored, "{:?}", done.reason);

    let s = summary(&*store).await;
    assert_eq!((s.messages, s.dmarc_pass, s.reports), (5, 5, 1));
    let api = app(Arc::clone(&store), None);
    let day = "from=2024-03-01&to=2024-03-01";
    let r = call(
        &api,
        Method::GET,
        &format!("/v1/domains/victim.example/summary?{day}"),
        None,
    )
    .await;
    assert_eq!(r.json()["messages"], 5);
    let r = call(
        &api,
        Method::GET,
        &format!("/v1/domains/victim.example/records?{day}"),
        None,
    )
    .await;
    let rows = r.json()["records"].clone();
    assert_eq!(rows[0]["count"], 0);
    assert_eq!(rows[0]["invalid_count"], "18446744073709551615");
    assert_eq!(rows[1]["count"], 5);
    assert_eq!(rows[1]["invalid_count"], json!(null));
    let r = call(
        &api,
        Method::GET,
        &format!("/v1/domains/victim.example/stats?{day}&group_by=source_ip"),
        None,
    )
    .await;
    assert_eq!(r.json()["groups"][0]["messages"], 5);
    let r = call(&api, Method::GET, "/v1/domains/victim.example", None).await;
    assert_eq!(r.json()["messages"], 5);
}

/// Counts that are real each but whose sum is not: one report of 1,025 records of
/// 2^53 − 1 messages, then another of 5. Totals stop at 2^53 − 1, never wrap or go negative.
async fn totals_stop_at_max_count_instead_of_wrapping<B: Backend + 'static>(store: Arc<B>) {
    let max = MAX_COUNT.to_string();
    let records = record(&max, "none", "pass").repeat(1_025);
    let done = ingest(&*store, &report_xml("Big", "b1", &records)).await;
    assert_eq!(done.outcome, Outcome::Stored, "{:?}", done.reason);
    let done = ingest(
        &*store,
        &report_xml("Big", "b2", &record("5", "none", "fail")),
    )
    .await;
    assert_eq!(done.outcome, Outcome::Stored, "{:?}", done.reason);

    let s = summary(&*store).await;
    let max = MAX_COUNT as i64;
    assert_eq!((s.messages, s.dmarc_pass, s.dmarc_fail), (max, max, 5));
    assert_eq!(s.dmarc_pass_share, Some(1.0));
    let api = app(Arc::clone(&store), None);
    let day = "from=2024-03-01&to=2024-03-01";
    for (path, field) in [
        ("summary", "/messages"),
        ("timeseries", "/days/0/messages"),
        ("stats?group_by=reporter", "/groups/0/messages"),
        ("stats?group_by=source_ip", "/groups/0/messages"),
        ("sources", "/sources/0/messages"),
    ] {
        let sep = if path.contains('?') { '&' } else { '?' };
        let uri = format!("/v1/domains/victim.example/{path}{sep}{day}");
        let r = call(&api, Method::GET, &uri, None).await;
        assert_eq!(r.json().pointer(field), Some(&json!(MAX_COUNT)), "{uri}");
    }
    let uri = format!("/v1/domains/victim.example/reports?{day}");
    let listed = call(&api, Method::GET, &uri, None).await.json();
    let mut counts: Vec<u64> = listed["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["messages"].as_u64().unwrap())
        .collect();
    counts.sort();
    assert_eq!(counts, [5, MAX_COUNT]);
    let r = call(&api, Method::GET, "/v1/domains/victim.example", None).await;
    assert_eq!(r.json()["messages"], json!(MAX_COUNT));
}

/// Anyone can compute a cursor's fingerprint, so the offset in it is checked too.
async fn forged_cursors_are_refused<B: Backend + 'static>(store: Arc<B>) {
    let done = ingest(
        &*store,
        &report_xml("Any", "c1", &record("1", "none", "pass")),
    )
    .await;
    assert_eq!(done.outcome, Outcome::Stored);
    let api = app(Arc::clone(&store), None);
    let query = [("from", "2024-03-01"), ("to", "2024-03-01")];
    let pairs = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let print = Params::new(pairs, &["from", "to"]).unwrap().fingerprint();
    for offset in [
        "18446744073709551615",
        "100000001",
        "99999999999999999999999",
    ] {
        for path in [
            "records",
            "stats?group_by=source_ip",
            "reports",
            "sources",
            "spoofing",
            "tls",
        ] {
            let sep = if path.contains('?') { '&' } else { '?' };
            let uri = format!(
                "/v1/domains/victim.example/{path}{sep}from=2024-03-01&to=2024-03-01&cursor={offset}.{print}"
            );
            let r = call(&api, Method::GET, &uri, None).await;
            assert_eq!(r.error(400), "invalid_cursor", "{uri}");
        }
    }
}

/// Report text is a stranger's: exported to CSV, no cell starts a spreadsheet formula.
async fn csv_cells_never_run_as_formulas<B: Backend + 'static>(store: Arc<B>) {
    let records = "<record><row><source_ip>192.0.2.1</source_ip><count>1</count>\
        <policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf>\
        </policy_evaluated></row><identifiers><header_from>victim.example</header_from>\
        <envelope_from>+1-555-0100</envelope_from><envelope_to>-2+3</envelope_to>\
        </identifiers><auth_results><dkim><domain>@evil</domain><selector>\ts</selector>\
        <result>fail</result></dkim></auth_results></record>";
    let xml = report_xml("=HYPERLINK(\"http://evil.example\")", "@SUM(1+1)", records);
    let done = ingest(&*store, &xml).await;
    assert_eq!(done.outcome, Outcome::Stored, "{:?}", done.reason);
    let api = app(Arc::clone(&store), None);
    let r = call(
        &api,
        Method::GET,
        "/v1/domains/victim.example/records?from=2024-03-01&to=2024-03-01&format=csv",
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.bytes.clone()).unwrap();
    let row = text.lines().nth(1).unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(row.as_bytes());
    let cells: Vec<String> = reader
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(cells[1], "'=HYPERLINK(\"http://evil.example\")");
    assert_eq!(cells[2], "'@SUM(1+1)");
    assert_eq!(cells[14], "'+1-555-0100");
    assert_eq!(cells[15], "'-2+3");
    // Values are trimmed when read, so a tab or CR never leads one (see the unit test).
    assert_eq!(cells[16], "'@evil:s:fail");
    for cell in &cells {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "{cell:?}"
        );
    }
}

/// Under `registered`, a stranger's mail for a domain nobody registered creates nothing: it
/// is kept raw and held. Registering the domain ingests it.
async fn mail_for_an_unregistered_domain_is_held_until_it_is_registered<B: Backend + 'static>(
    store: Arc<B>,
) {
    let plain = Enricher::disabled();
    let ingest = Ingest::new(&*store, &plain).accept(Accept::Registered);
    let xml = report_xml("Early", "h1", &record("4", "none", "pass"));
    let key = RawKey::for_content(xml.as_bytes());
    store.put_raw(&key, xml.as_bytes()).await.unwrap();
    let now = MARCH_1 + 2 * DAY;
    let done = ingest.message(&key, xml.as_bytes(), now).await;
    assert_eq!(done.outcome, Outcome::Held);
    assert_eq!(
        done.reason.as_deref(),
        Some("held: victim.example not registered; registering ingests this message")
    );
    assert_eq!(store.domains(None, 10).await.unwrap(), []);
    assert_eq!(
        store.held("victim.example", 10).await.unwrap(),
        std::slice::from_ref(&key)
    );
    assert_eq!(
        store.get_raw(&key, 1 << 20).await.unwrap(),
        rampart_store::RawRead::Bytes(xml.as_bytes().to_vec())
    );
    // A second copy is held once, not twice.
    ingest.message(&key, xml.as_bytes(), now).await;
    assert_eq!(store.held("victim.example", 10).await.unwrap().len(), 1);

    let api = app(Arc::clone(&store), None);
    let listed = call(&api, Method::GET, "/v1/messages", None).await.json();
    assert_eq!(listed["messages"][0]["outcome"], "held");
    assert_eq!(listed["messages"][0]["key"], key.as_str());
    // Nothing to release before the domain is registered.
    let released = ingest.release_held(now + 30, None).await.unwrap();
    assert!(released.outcomes.is_empty());

    let r = call(
        &api,
        Method::POST,
        "/v1/domains",
        Some(json!({"domain": "Victim.Example"})),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(store.releases().await.unwrap(), ["victim.example"]);
    let released = ingest.release_held(now + 60, None).await.unwrap();
    assert_eq!(
        (released.outcomes.get("stored"), &released.domains[..]),
        (Some(&1), &["victim.example".to_owned()][..])
    );
    assert_eq!(
        store.message(&key).await.unwrap().unwrap().outcome,
        Outcome::Stored
    );
    assert_eq!(store.held("victim.example", 10).await.unwrap(), []);
    assert_eq!(store.releases().await.unwrap(), Vec::<String>::new());
    assert_eq!(summary(&*store).await.messages, 4);
    // Released once: another run finds nothing.
    let again = ingest.release_held(now + 90, None).await.unwrap();
    assert!(again.outcomes.is_empty() && again.domains.is_empty());
}

/// A report dated 2100 is not counted: the message is rejected with the reason, its bytes
/// kept, and `rampart reprocess` (a replacing ingest) takes it once the date is plausible.
async fn a_period_that_has_not_begun_is_rejected_and_kept<B: Backend + 'static>(store: Arc<B>) {
    const Y2100: i64 = 4_102_444_800;
    let xml = format!(
        "<feedback><report_metadata><org_name>Time Traveller</org_name><report_id>t1</report_id>\
         <date_range><begin>{Y2100}</begin><end>{}</end></date_range></report_metadata>\
         <policy_published><domain>victim.example</domain></policy_published>{}</feedback>",
        Y2100 + DAY - 1,
        record("9", "none", "pass")
    );
    let done = ingest(&*store, &xml).await;
    assert_eq!(done.outcome, Outcome::Rejected);
    assert_eq!(
        done.reason.as_deref(),
        Some(
            "input: the report period begins 2100-01-01 00:00 UTC, more than 2 days from now, \
             so it is not counted; `rampart reprocess` takes it once that is plausible"
        )
    );
    assert_eq!(store.domains(None, 10).await.unwrap(), []);
    let key = RawKey::for_content(xml.as_bytes());
    assert!(matches!(
        store.get_raw(&key, 1 << 20).await.unwrap(),
        rampart_store::RawRead::Bytes(_)
    ));
    let later = Ingest::new(&*store, &Enricher::disabled())
        .mode(WriteMode::Replace)
        .stored(&key, Y2100 + DAY)
        .await;
    assert_eq!(later.outcome, Outcome::Stored, "{:?}", later.reason);
}

/// `Example.COM.` and `example.com` are one domain: the same report from both is one report
/// in one partition, and the second is a duplicate.
async fn a_trailing_dot_names_the_same_report_and_partition<B: Backend + 'static>(store: Arc<B>) {
    let xml = report_xml("Dots", "d1", &record("2", "none", "pass"));
    let dotted = xml.replace(
        "<domain>victim.example</domain>",
        "<domain>Victim.Example.</domain>",
    );
    let first = ingest(&*store, &dotted).await;
    let second = ingest(&*store, &xml).await;
    assert_eq!(first.outcome, Outcome::Stored);
    assert_eq!(second.outcome, Outcome::Duplicate);
    assert_eq!(first.reports, second.reports);
    let domains = store.domains(None, 10).await.unwrap();
    assert_eq!(
        domains
            .iter()
            .map(|d| (d.name.as_str(), d.reports))
            .collect::<Vec<_>>(),
        [("victim.example", 1)]
    );
}

/// `GET /v1/domains` pages at the store: a page and a cursor, however many domains there are.
async fn domains_page_at_the_store<B: Backend + 'static>(store: Arc<B>) {
    let api = app(Arc::clone(&store), None);
    for d in ["e.example", "a.example", "d.example", "b.example"] {
        let r = call(
            &api,
            Method::POST,
            "/v1/domains",
            Some(json!({"domain": d})),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    // A domain seen in a report, not registered, lists among them.
    ingest(
        &*store,
        &report_xml("Seen", "s1", &record("1", "none", "pass")),
    )
    .await;
    let mut names = Vec::new();
    let mut uri = "/v1/domains?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = call(&api, Method::GET, &uri, None).await.json();
        pages += 1;
        for d in page["domains"].as_array().unwrap() {
            names.push(d["domain"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => uri = format!("/v1/domains?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(
        names,
        [
            "a.example",
            "b.example",
            "d.example",
            "e.example",
            "victim.example"
        ]
    );
    assert_eq!(pages, 3);
    let r = call(&api, Method::GET, "/v1/domains?cursor=zz.0000", None).await;
    assert_eq!(r.error(400), "invalid_cursor");
}

/// `rampart reprocess --backend aws` reads the mail SES stored under its prefix and the TLS
/// reports uploaded over HTTPS.
#[tokio::test]
async fn aws_raw_keys_include_https_uploads() {
    use rampart_store::Store;
    use rampart_store::aws::{AwsLocation, AwsStore, emulator_config};
    let sdk = emulator_config(&common::backends::endpoint()).await;
    let n = std::process::id();
    let store = AwsStore::new(
        &sdk,
        AwsLocation {
            table: format!("prefixes-{n}"),
            bucket: format!("prefixes-{n}"),
            raw_prefix: "inbound/".into(),
        },
    );
    store.create_resources().await.unwrap();
    for key in ["inbound/a", "https/b", "elsewhere/c"] {
        store
            .put_raw(&RawKey::new(key).unwrap(), b"x")
            .await
            .unwrap();
    }
    let keys: Vec<String> = store
        .raw_keys()
        .await
        .unwrap()
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    assert_eq!(keys, ["inbound/a", "https/b"]);
}

/// A table from before the `HOSTED` partition: `rampart setup` lists its hosted domains
/// there, so the id publisher, which reads only that partition, still finds them.
#[tokio::test]
async fn setup_lists_the_hosted_domains_of_an_older_table() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use rampart_store::Store;
    let store = common::backends::aws().await;
    store
        .dynamodb()
        .put_item()
        .table_name(&store.location().table)
        .item("pk", AttributeValue::S("DOMAIN".into()))
        .item("sk", AttributeValue::S("D#older.example".into()))
        .item("has_policy", AttributeValue::Bool(true))
        .send()
        .await
        .unwrap();
    assert_eq!(store.policy_domains().await.unwrap(), Vec::<String>::new());
    store.create_resources().await.unwrap();
    assert_eq!(store.policy_domains().await.unwrap(), ["older.example"]);
    // Again: nothing changes.
    store.create_resources().await.unwrap();
    assert_eq!(store.policy_domains().await.unwrap(), ["older.example"]);
}
