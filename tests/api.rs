//! The REST API through its Router, on both storage backends, with every response checked
//! against `openapi.json`.
//!
//! The numbers asserted here are worked out by hand from the reports below (see the
//! comments on each), or from the corpus's `EXPECTED.json`, never from the code under test.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use common::api::{app, call, get, into_reply};
use common::backends::Backend;
use common::expected::{corpus_report_files, fact};
use common::on_both_backends;
use common::read_fixture;
use rampart_ingest::Ingest;
use rampart_sources::Enricher;
use rampart_store::{Outcome, RawKey};
use serde_json::{Value, json};
use tower::ServiceExt;

on_both_backends!(
    summary_and_timeseries_add_up_by_hand,
    stats_group_filter_sort_and_page,
    records_search_and_export,
    reports_detail_and_raw_messages,
    a_mailed_report_shows_its_ses_verdicts,
    tls_sessions_and_failures,
    domains_register_show_and_remove,
    every_domain_at_a_glance,
    bad_requests_are_400_with_a_code,
    every_corpus_day_matches_expected_json,
    rollups_answer_as_the_records_do,
    a_day_counted_before_the_rollups_is_read_from_records,
    alert_settings_change_what_they_name_and_show_a_new_secret_once,
    mailboxes_show_where_they_read_their_last_run_and_pause,
    mailboxes_are_added_tested_and_removed_with_their_secret,
    a_server_tests_public_mailbox_servers_only,
);

const NOW: i64 = 1_717_000_000;
/// 2026-09-21, when the corpus is ingested in `every_corpus_day_matches_expected_json`.
const CORPUS_RECEIVED: i64 = 1_790_000_000;
const RANGE: &str = "from=2024-05-01&to=2024-05-03";

fn record(ip: &str, count: u64, disposition: &str, dkim: &str, spf: &str, auth: &str) -> String {
    format!(
        "<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>
         <disposition>{disposition}</disposition><dkim>{dkim}</dkim><spf>{spf}</spf>
         </policy_evaluated></row><identifiers><header_from>api.example</header_from>
         </identifiers><auth_results>{auth}</auth_results></record>"
    )
}

fn aggregate(org: &str, id: &str, begin: i64, end: i64, records: &[String]) -> String {
    format!(
        "<feedback><report_metadata><org_name>{org}</org_name><email>dmarc@{org}.example</email>
         <report_id>{id}</report_id><date_range><begin>{begin}</begin><end>{end}</end>
         </date_range></report_metadata><policy_published><domain>api.example</domain>
         <p>reject</p></policy_published>{}</feedback>",
        records.concat()
    )
}

const MAY1: i64 = 1_714_521_600; // 2024-05-01T00:00:00Z
const DAY: i64 = 86_400;

/// The reports of domain `api.example`:
///
/// - A, "Alpha Mail", 2024-05-01: 192.0.2.10 ×10 none, DKIM+SPF aligned pass
///   (DKIM api.example/s1 pass, SPF api.example pass); 192.0.2.20 ×4 quarantine, both fail
///   (DKIM other.example/x fail, SPF bounce.other.example softfail).
/// - B, "Beta Mail", 2024-05-02: 198.51.100.7 ×6 none, DKIM pass, SPF fail (DKIM
///   api.example/s1 pass and esp.example/s2 pass, SPF esp.example pass); 192.0.2.10 ×2
///   reject, both fail (no DKIM, SPF api.example fail).
/// - C, "Alpha Mail", 2024-05-02 12:00 to 2024-05-03 12:00, half on each day:
///   192.0.2.30 ×8 none, both pass (4 + 4); 203.0.113.5 ×3 reject, both fail (1 + 2).
/// - T, TLS-RPT from "Gamma TLS", 2024-05-02: sts policy, 100 successful, 5 failed:
///   3 certificate-expired 192.0.2.99 → mx1.api.example, 2 starttls-not-supported
///   192.0.2.98 → mx2.api.example.
/// - G, a mail that holds no report: rejected.
fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let a = aggregate(
        "Alpha Mail",
        "a-1",
        MAY1,
        MAY1 + DAY - 1,
        &[
            record(
                "192.0.2.10",
                10,
                "none",
                "pass",
                "pass",
                "<dkim><domain>api.example</domain><selector>s1</selector><result>pass</result></dkim>
                 <spf><domain>api.example</domain><result>pass</result></spf>",
            ),
            record(
                "192.0.2.20",
                4,
                "quarantine",
                "fail",
                "fail",
                "<dkim><domain>other.example</domain><selector>x</selector><result>fail</result></dkim>
                 <spf><domain>bounce.other.example</domain><result>softfail</result></spf>",
            ),
        ],
    );
    let b = aggregate(
        "Beta Mail",
        "b-1",
        MAY1 + DAY,
        MAY1 + 2 * DAY - 1,
        &[
            record(
                "198.51.100.7",
                6,
                "none",
                "pass",
                "fail",
                "<dkim><domain>api.example</domain><selector>s1</selector><result>pass</result></dkim>
                 <dkim><domain>esp.example</domain><selector>s2</selector><result>pass</result></dkim>
                 <spf><domain>esp.example</domain><result>pass</result></spf>",
            ),
            record(
                "192.0.2.10",
                2,
                "reject",
                "fail",
                "fail",
                "<spf><domain>api.example</domain><result>fail</result></spf>",
            ),
        ],
    );
    let c = aggregate(
        "Alpha Mail",
        "c-1",
        MAY1 + DAY + DAY / 2,
        MAY1 + 2 * DAY + DAY / 2,
        &[
            record("192.0.2.30", 8, "none", "pass", "pass", ""),
            record("203.0.113.5", 3, "reject", "fail", "fail", ""),
        ],
    );
    let t = json!({
        "organization-name": "Gamma TLS",
        "date-range": {"start-datetime": "2024-05-02T00:00:00Z", "end-datetime": "2024-05-02T23:59:59Z"},
        "contact-info": "tls@gamma.example",
        "report-id": "t-1",
        "policies": [{
            "policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: enforce"],
                       "policy-domain": "api.example", "mx-host": ["mx1.api.example"]},
            "summary": {"total-successful-session-count": 100, "total-failure-session-count": 5},
            "failure-details": [
                {"result-type": "certificate-expired", "sending-mta-ip": "192.0.2.99",
                 "receiving-mx-hostname": "mx1.api.example", "failed-session-count": 3},
                {"result-type": "starttls-not-supported", "sending-mta-ip": "192.0.2.98",
                 "receiving-mx-hostname": "mx2.api.example", "failed-session-count": 2,
                 "additional-information": "https://tls.gamma.example/why"}
            ]
        }]
    });
    vec![
        ("a", a.into_bytes()),
        ("b", b.into_bytes()),
        ("c", c.into_bytes()),
        ("t", t.to_string().into_bytes()),
        (
            "g",
            b"From: someone@example.org\r\nSubject: hello\r\n\r\nNo report here.\r\n".to_vec(),
        ),
    ]
}

/// Stores the fixtures; returns the raw key of each by its letter.
async fn load<B: Backend>(store: &B) -> BTreeMap<&'static str, (RawKey, Outcome)> {
    let mut keys = BTreeMap::new();
    for (name, bytes) in fixtures() {
        let key = RawKey::for_content(&bytes);
        store.put_raw(&key, &bytes).await.unwrap();
        let done = Ingest::new(store, &Enricher::disabled())
            .message(&key, &bytes, NOW)
            .await;
        keys.insert(name, (key, done.outcome));
    }
    assert_eq!(keys["g"].1, Outcome::Rejected);
    keys
}

async fn loaded<B: Backend + 'static>(
    store: Arc<B>,
) -> (Router, BTreeMap<&'static str, (RawKey, Outcome)>) {
    let keys = load(&*store).await;
    (app(sole(store), None), keys)
}

/// The store itself, for the Router to own once the test has filled it.
fn sole<B>(store: Arc<B>) -> B {
    Arc::into_inner(store).expect("the test holds the only handle")
}

async fn summary_and_timeseries_add_up_by_hand<B: Backend + 'static>(store: Arc<B>) {
    let (app, _) = loaded(store).await;
    let summary = get(&app, &format!("/v1/domains/api.example/summary?{RANGE}")).await;
    assert_eq!(summary.status, 200);
    // 10+4 + 6+2 + 8+3 = 33 messages; pass 10+6+8 = 24; SPF aligned 10+8; DKIM 10+6+8.
    assert_eq!(
        summary.json(),
        json!({
            "domain": "api.example", "from": "2024-05-01", "to": "2024-05-03",
            "messages": 33, "dmarc_pass": 24, "dmarc_fail": 9, "dmarc_pass_share": 0.7273,
            "spf_aligned_pass": 18, "spf_aligned_share": 0.5455,
            "dkim_aligned_pass": 24, "dkim_aligned_share": 0.7273,
            "dispositions": {"none": 24, "quarantine": 4, "reject": 5},
            "reports": 3, "reporters": 3,
            "reporter_names": ["Alpha Mail", "Beta Mail", "Gamma TLS"],
            "warnings": 0,
            "tls": {"reports": 1, "successful_sessions": 100, "failed_sessions": 5}
        })
    );
    // May 3 holds only the second half of C: 4 passing, 2 failing; C counts as a report on
    // May 2, its first day.
    let may3 = get(
        &app,
        "/v1/domains/api.example/summary?from=2024-05-03&to=2024-05-03",
    )
    .await;
    let may3 = may3.json();
    assert_eq!(
        (
            &may3["messages"],
            &may3["dmarc_pass"],
            &may3["dmarc_fail"],
            &may3["reports"],
            &may3["reporter_names"]
        ),
        (
            &json!(6),
            &json!(4),
            &json!(2),
            &json!(0),
            &json!(["Alpha Mail"])
        )
    );
    // Upper-case and a trailing dot name the same domain.
    let same = get(&app, &format!("/v1/domains/API.Example./summary?{RANGE}")).await;
    assert_eq!(same.json(), summary.json());

    let series = get(&app, &format!("/v1/domains/api.example/timeseries?{RANGE}")).await;
    assert_eq!(
        series.json()["days"],
        json!([
            {"day": "2024-05-01", "messages": 14, "dmarc_pass": 10, "dmarc_fail": 4,
             "dispositions": {"none": 10, "quarantine": 4},
             "tls_successful_sessions": 0, "tls_failed_sessions": 0},
            {"day": "2024-05-02", "messages": 13, "dmarc_pass": 10, "dmarc_fail": 3,
             "dispositions": {"none": 10, "reject": 3},
             "tls_successful_sessions": 100, "tls_failed_sessions": 5},
            {"day": "2024-05-03", "messages": 6, "dmarc_pass": 4, "dmarc_fail": 2,
             "dispositions": {"none": 4, "reject": 2},
             "tls_successful_sessions": 0, "tls_failed_sessions": 0},
        ])
    );
    // Without a range: the 30 days up to "today" (2024-06-01), zero-filled.
    let default = get(&app, "/v1/domains/api.example/timeseries").await.json();
    let days = default["days"].as_array().unwrap();
    assert_eq!(
        (days.len(), &default["from"], &default["to"]),
        (30, &json!("2024-05-03"), &json!("2024-06-01"))
    );
    assert_eq!(days[0]["messages"], 6);
}

fn groups(reply: &Value) -> Vec<(Value, u64, u64, u64)> {
    reply["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].clone(),
                g["messages"].as_u64().unwrap(),
                g["dmarc_pass"].as_u64().unwrap(),
                g["dmarc_fail"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn stats_group_filter_sort_and_page<B: Backend + 'static>(store: Arc<B>) {
    let (app, _) = loaded(store).await;
    let stats = |q: String| {
        let app = app.clone();
        async move {
            let r = get(&app, &format!("/v1/domains/api.example/stats?{q}")).await;
            assert_eq!(r.status, 200, "{q}: {}", String::from_utf8_lossy(&r.bytes));
            r.json()
        }
    };
    let by_ip = stats(format!("group_by=source_ip&{RANGE}")).await;
    assert_eq!(
        groups(&by_ip),
        [
            (json!({"source_ip": "192.0.2.10"}), 12, 10, 2),
            (json!({"source_ip": "192.0.2.30"}), 8, 8, 0),
            (json!({"source_ip": "198.51.100.7"}), 6, 6, 0),
            (json!({"source_ip": "192.0.2.20"}), 4, 0, 4),
            (json!({"source_ip": "203.0.113.5"}), 3, 0, 3),
        ]
    );
    assert_eq!(
        (&by_ip["next"], &by_ip["total_groups"]),
        (&Value::Null, &json!(5))
    );

    let two = stats(format!("group_by=reporter,dmarc&{RANGE}&sort=key")).await;
    assert_eq!(
        groups(&two),
        [
            (json!({"reporter": "Alpha Mail", "dmarc": "fail"}), 7, 0, 7),
            (
                json!({"reporter": "Alpha Mail", "dmarc": "pass"}),
                18,
                18,
                0
            ),
            (json!({"reporter": "Beta Mail", "dmarc": "fail"}), 2, 0, 2),
            (json!({"reporter": "Beta Mail", "dmarc": "pass"}), 6, 6, 0),
        ]
    );
    // A record with two DKIM domains counts under each; one without DKIM under null.
    let dkim = stats(format!("group_by=dkim_domain&{RANGE}&sort=-messages")).await;
    assert_eq!(
        groups(&dkim),
        [
            (json!({"dkim_domain": "api.example"}), 16, 16, 0),
            (json!({"dkim_domain": null}), 13, 8, 5),
            (json!({"dkim_domain": "esp.example"}), 6, 6, 0),
            (json!({"dkim_domain": "other.example"}), 4, 0, 4),
        ]
    );
    // CIDR filter and a day grouping: 203.0.113.5 is outside 192.0.2.0/24.
    let by_day = stats(format!(
        "group_by=day&source_ip=192.0.2.0/24&{RANGE}&sort=key"
    ))
    .await;
    assert_eq!(
        groups(&by_day),
        [
            (json!({"day": "2024-05-01"}), 14, 10, 4),
            (json!({"day": "2024-05-02"}), 6, 4, 2),
            (json!({"day": "2024-05-03"}), 4, 4, 0),
        ]
    );
    let filtered = stats(format!(
        "group_by=source_ip&dmarc=fail&disposition=reject,quarantine&{RANGE}"
    ))
    .await;
    assert_eq!(
        groups(&filtered),
        [
            (json!({"source_ip": "192.0.2.20"}), 4, 0, 4),
            (json!({"source_ip": "203.0.113.5"}), 3, 0, 3),
            (json!({"source_ip": "192.0.2.10"}), 2, 0, 2),
        ]
    );
    let may3 = stats("group_by=source_ip&from=2024-05-03&to=2024-05-03".into()).await;
    assert_eq!(
        groups(&may3),
        [
            (json!({"source_ip": "192.0.2.30"}), 4, 4, 0),
            (json!({"source_ip": "203.0.113.5"}), 2, 0, 2),
        ]
    );

    // Group-bys on reporter, disposition, dmarc and day come from the per-day counters; any
    // other filter reads the records. A filter that keeps every record gives the same groups.
    for group_by in ["reporter,dmarc", "day,disposition", "disposition"] {
        let mut counted = stats(format!("group_by={group_by}&{RANGE}&sort=key")).await;
        let every_ip = "source_ip=0.0.0.0/0,::/0";
        let mut from_records =
            stats(format!("group_by={group_by}&{RANGE}&sort=key&{every_ip}")).await;
        assert_eq!(
            (counted["counted"].take(), from_records["counted"].take()),
            (json!(true), json!(false))
        );
        assert_eq!(counted, from_records, "{group_by}");
    }
    let counted = stats(format!(
        "group_by=day,dmarc&{RANGE}&reporter=alpha%20mail&disposition=reject"
    ))
    .await;
    assert_eq!(
        groups(&counted),
        [
            (json!({"day": "2024-05-03", "dmarc": "fail"}), 2, 0, 2),
            (json!({"day": "2024-05-02", "dmarc": "fail"}), 1, 0, 1),
        ]
    );

    // Pages of two: the cursors walk the same order as one page.
    let mut walked = Vec::new();
    let mut query = format!("group_by=source_ip&{RANGE}&limit=2");
    let mut pages = 0;
    loop {
        let page = stats(query.clone()).await;
        pages += 1;
        walked.extend(groups(&page));
        match page["next"].as_str() {
            Some(next) => query = format!("group_by=source_ip&{RANGE}&limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!((pages, walked), (3, groups(&by_ip)));
}

async fn records_search_and_export<B: Backend + 'static>(store: Arc<B>) {
    let (app, _) = loaded(store).await;
    let found = get(
        &app,
        &format!("/v1/domains/api.example/records?{RANGE}&q=203.0.113"),
    )
    .await;
    let found = found.json();
    assert_eq!(found["total"], 1);
    let row = &found["records"][0];
    assert_eq!(
        (
            &row["source_ip"],
            &row["count"],
            &row["reporter"],
            &row["day"],
            &row["disposition"]
        ),
        (
            &json!("203.0.113.5"),
            &json!(3),
            &json!("Alpha Mail"),
            &json!("2024-05-02"),
            &json!("reject")
        )
    );
    let by_org = get(
        &app,
        &format!("/v1/domains/api.example/records?{RANGE}&q=beta"),
    )
    .await;
    assert_eq!(by_org.json()["total"], 2);
    let by_domain = get(
        &app,
        &format!("/v1/domains/api.example/records?{RANGE}&q=esp.example"),
    )
    .await;
    assert_eq!(
        by_domain.json()["records"][0]["dkim"],
        json!([
            {"domain": "api.example", "selector": "s1", "result": "pass"},
            {"domain": "esp.example", "selector": "s2", "result": "pass"},
        ])
    );

    let failing = get(
        &app,
        &format!("/v1/domains/api.example/records?{RANGE}&dmarc=fail&limit=2"),
    )
    .await;
    let failing = failing.json();
    assert_eq!(
        (
            failing["total"].as_u64(),
            failing["records"].as_array().unwrap().len()
        ),
        (Some(3), 2)
    );
    let next = failing["next"].as_str().unwrap();
    let rest = get(
        &app,
        &format!("/v1/domains/api.example/records?{RANGE}&dmarc=fail&limit=2&cursor={next}"),
    )
    .await
    .json();
    assert_eq!(
        (rest["records"].as_array().unwrap().len(), &rest["next"]),
        (1, &Value::Null)
    );

    let csv = get(
        &app,
        &format!("/v1/domains/api.example/records?{RANGE}&dmarc=fail&format=csv"),
    )
    .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.content_type(), "text/csv; charset=utf-8");
    let text = String::from_utf8(csv.bytes.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(
        lines[0],
        "report,reporter,report_id,begin,end,day,source_ip,count,invalid_count,disposition,\
         dmarc,dkim_aligned,spf_aligned,header_from,envelope_from,envelope_to,dkim,spf,reasons"
    );
    let a_row = lines.iter().find(|l| l.contains("192.0.2.20")).unwrap();
    let cells: Vec<&str> = a_row.split(',').collect();
    assert_eq!(
        cells[1..],
        [
            "Alpha Mail",
            "a-1",
            "2024-05-01T00:00:00Z",
            "2024-05-01T23:59:59Z",
            "2024-05-01",
            "192.0.2.20",
            "4",
            "",
            "quarantine",
            "fail",
            "fail",
            "fail",
            "api.example",
            "",
            "",
            "other.example:x:fail",
            "bounce.other.example::softfail",
            "",
        ]
    );
    let paged = get(
        &app,
        &format!("/v1/domains/api.example/records?{RANGE}&format=csv&limit=1"),
    )
    .await;
    assert!(paged.headers.contains_key("x-next-cursor"));
}

async fn reports_detail_and_raw_messages<B: Backend + 'static>(store: Arc<B>) {
    let (app, keys) = loaded(store).await;
    let list = get(&app, &format!("/v1/domains/api.example/reports?{RANGE}"))
        .await
        .json();
    let listed: Vec<(&str, &str, &str)> = list["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap(),
                r["reporter"].as_str().unwrap(),
                r["day"].as_str().unwrap(),
            )
        })
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ("aggregate", "Alpha Mail", "2024-05-01"),
            ("aggregate", "Alpha Mail", "2024-05-02"),
            ("aggregate", "Beta Mail", "2024-05-02"),
            ("tlsrpt", "Gamma TLS", "2024-05-02"),
        ]
    );
    let beta = get(
        &app,
        &format!("/v1/domains/api.example/reports?{RANGE}&reporter=beta%20mail&kind=aggregate"),
    )
    .await;
    let beta = beta.json();
    assert_eq!(beta["total"], 1);
    let item = &beta["reports"][0];
    assert_eq!(
        (
            &item["report_id"],
            &item["messages"],
            &item["records"],
            &item["received_at"]
        ),
        (
            &json!("b-1"),
            &json!(8),
            &json!(2),
            &json!("2024-05-29T16:26:40Z")
        )
    );

    let id = item["id"].as_str().unwrap();
    let detail = get(&app, &format!("/v1/reports/{id}")).await.json();
    assert_eq!(detail["domain"], "api.example");
    assert_eq!(detail["report"]["kind"], "aggregate");
    assert_eq!(detail["report"]["metadata"]["org_name"], "Beta Mail");
    assert_eq!(detail["report"]["records"].as_array().unwrap().len(), 2);
    assert_eq!(detail["message"], keys["b"].0.as_str());

    let raw = get(&app, &format!("/v1/reports/{id}/raw")).await;
    assert_eq!(
        (raw.status.as_u16(), raw.content_type()),
        (200, "message/rfc822")
    );
    assert_eq!(raw.bytes, fixtures()[1].1);
    assert_eq!(
        get(&app, "/v1/reports/00000000000000000000000000000000")
            .await
            .error(404),
        "unknown_report"
    );
    assert_eq!(
        get(&app, "/v1/reports/not-hex").await.error(404),
        "unknown_report"
    );

    // The rejected mail is listed with its reason, and its bytes are still there.
    let outcomes = get(&app, "/v1/messages").await.json();
    assert_eq!(outcomes["messages"].as_array().unwrap().len(), 1);
    assert_eq!(outcomes["next"], json!(null));
    let rejected = &outcomes["messages"][0];
    assert_eq!(
        (&rejected["outcome"], &rejected["key"]),
        (&json!("rejected"), &json!(keys["g"].0.as_str()))
    );
    assert!(
        rejected["reason"].as_str().unwrap().contains("no report"),
        "{rejected}"
    );
    let raw = get(&app, &format!("/v1/messages/{}", keys["g"].0)).await;
    assert_eq!(raw.bytes, fixtures()[4].1);
    let stored = get(&app, "/v1/messages?outcome=stored").await.json();
    assert_eq!(stored["messages"].as_array().unwrap().len(), 4);
    // Pages are read at the store, newest first, the cursor carrying the last one's place.
    let first = get(&app, "/v1/messages?outcome=stored,rejected&limit=3")
        .await
        .json();
    let next = first["next"].as_str().unwrap();
    let rest = get(
        &app,
        &format!("/v1/messages?outcome=stored,rejected&limit=3&cursor={next}"),
    )
    .await
    .json();
    assert_eq!(rest["next"], json!(null));
    let keys_of = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["key"].as_str().unwrap().to_owned())
            .collect()
    };
    let paged = [keys_of(&first), keys_of(&rest)].concat();
    let all = keys_of(
        &get(&app, "/v1/messages?outcome=stored,rejected&limit=100")
            .await
            .json(),
    );
    assert_eq!((paged.len(), &paged), (5, &all));
    assert_eq!(
        get(&app, &format!("/v1/messages?outcome=stored&cursor={next}"))
            .await
            .error(400),
        "invalid_cursor",
        "a cursor fits only the query that issued it"
    );
    assert_eq!(
        get(&app, "/v1/messages/aa/missing").await.error(404),
        "unknown_message"
    );
}

/// A report that came by mail shows the mail's facts and SES's verdicts on it.
async fn a_mailed_report_shows_its_ses_verdicts<B: Backend + 'static>(store: Arc<B>) {
    let bytes = common::as_received_by_ses("FAIL", "pass", "fail", "fail");
    let key = RawKey::for_content(&bytes);
    store.put_raw(&key, &bytes).await.unwrap();
    let done = Ingest::new(&*store, &Enricher::disabled())
        .message(&key, &bytes, NOW)
        .await;
    let app = app(sole(store), None);
    let detail = get(&app, &format!("/v1/reports/{}", done.reports[0]))
        .await
        .json();
    assert_eq!(
        detail["mail"]["ses"],
        json!({"spam": "fail", "virus": "pass", "spf": "pass", "dkim": "fail", "dmarc": "fail"})
    );
    assert_eq!(detail["mail"]["from"], "noreply-dmarc-support@google.com");
    assert_eq!(detail["report"]["policy"]["domain"], "stalw.art");
    let raw = get(&app, &format!("/v1/reports/{}/raw", done.reports[0])).await;
    assert_eq!(raw.bytes, bytes);
}

async fn tls_sessions_and_failures<B: Backend + 'static>(store: Arc<B>) {
    let (app, _) = loaded(store).await;
    let tls = get(&app, &format!("/v1/domains/api.example/tls?{RANGE}"))
        .await
        .json();
    assert_eq!(
        (
            &tls["reports"],
            &tls["successful_sessions"],
            &tls["failed_sessions"]
        ),
        (&json!(1), &json!(100), &json!(5))
    );
    assert_eq!(
        tls["by_policy_type"],
        json!([{"value": "sts", "successful_sessions": 100, "failed_sessions": 5}])
    );
    assert_eq!(
        tls["by_reporter"],
        json!([{"value": "Gamma TLS", "successful_sessions": 100, "failed_sessions": 5}])
    );
    assert_eq!(
        tls["by_result_type"],
        json!([{"value": "certificate-expired", "failed_sessions": 3},
               {"value": "starttls-not-supported", "failed_sessions": 2}])
    );
    assert_eq!(
        tls["by_receiving_mx"],
        json!([{"value": "mx1.api.example", "failed_sessions": 3},
               {"value": "mx2.api.example", "failed_sessions": 2}])
    );
    assert_eq!(
        tls["by_sending_mta_ip"],
        json!([{"value": "192.0.2.99", "failed_sessions": 3},
               {"value": "192.0.2.98", "failed_sessions": 2}])
    );
    assert_eq!(tls["total_failures"], 2);
    assert_eq!(
        tls["failures"][1]["additional_information"],
        "https://tls.gamma.example/why"
    );
    let none = get(
        &app,
        "/v1/domains/api.example/tls?from=2024-05-03&to=2024-05-03",
    )
    .await
    .json();
    assert_eq!(
        (&none["reports"], &none["failures"]),
        (&json!(0), &json!([]))
    );
}

async fn domains_register_show_and_remove<B: Backend + 'static>(store: Arc<B>) {
    let (app, _) = loaded(store).await;
    let list = get(&app, "/v1/domains").await.json();
    assert_eq!(
        list,
        json!({"domains": [{"domain": "api.example", "registered": false, "registered_at": null,
                            "reports": 4, "messages": 138, "records": 7}], "next": null})
    );
    let created = call(
        &app,
        Method::POST,
        "/v1/domains",
        Some(json!({"domain": "Shop.Example"})),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        created.json(),
        json!({
            "domain": "shop.example", "registered": true, "registered_at": "2024-06-01T00:00:00Z",
            "reports": 0, "messages": 0, "records": 0, "latest_day": null, "policy": null, "hosted_policy": false,
            "dns": [
                {"name": "_dmarc.shop.example", "type": "TXT",
                 "value": "v=DMARC1; p=none; rua=mailto:reports@rua.rampart.example",
                 "zone": "shop.example",
                 "purpose": "DMARC aggregate reports to Rampart (keep your own p= if you have a policy)"},
                {"name": "_smtp._tls.shop.example", "type": "TXT",
                 "value": "v=TLSRPTv1; rua=mailto:reports@rua.rampart.example,https://api.rampart.example/v1/tlsrpt",
                 "zone": "shop.example", "purpose": "SMTP TLS reports to Rampart by mail and HTTPS"},
                {"name": "mta-sts.shop.example", "type": "CNAME", "value": "mta-sts.rampart.example",
                 "zone": "shop.example", "purpose": "the host that serves the hosted MTA-STS policy"},
                {"name": "_mta-sts.shop.example", "type": "CNAME",
                 "value": "shop.example._mta-sts.rua.rampart.example", "zone": "shop.example",
                 "purpose": "the MTA-STS policy id (TXT), published by Rampart in its zone when the policy changes"},
                {"name": "shop.example._report._dmarc.rua.rampart.example", "type": "TXT",
                 "value": "v=DMARC1", "zone": "rua.rampart.example",
                 "purpose": "authorises Rampart's inbound domain to receive this domain's reports (RFC 7489 section 7.1); published by Rampart's operator"},
            ]
        })
    );
    let again = call(
        &app,
        Method::POST,
        "/v1/domains",
        Some(json!({"domain": "shop.example"})),
    )
    .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), created.json());
    assert_eq!(
        get(&app, "/v1/domains/shop.example").await.json(),
        created.json()
    );
    let names: Vec<(String, bool)> = get(&app, "/v1/domains").await.json()["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["domain"].as_str().unwrap().to_owned(),
                d["registered"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("api.example".to_owned(), false),
            ("shop.example".to_owned(), true)
        ]
    );

    // Removing keeps the data unless asked.
    call(
        &app,
        Method::POST,
        "/v1/domains",
        Some(json!({"domain": "api.example"})),
    )
    .await;
    let removed = call(&app, Method::DELETE, "/v1/domains/api.example", None).await;
    assert_eq!(
        removed.json(),
        json!({"domain": "api.example", "unregistered": true, "purged": false})
    );
    assert_eq!(
        get(&app, &format!("/v1/domains/api.example/summary?{RANGE}"))
            .await
            .json()["messages"],
        33
    );
    let purged = call(
        &app,
        Method::DELETE,
        "/v1/domains/api.example?purge=true",
        None,
    )
    .await;
    assert_eq!(
        purged.json(),
        json!({"domain": "api.example", "unregistered": false, "purged": true})
    );
    assert_eq!(
        get(&app, &format!("/v1/domains/api.example/summary?{RANGE}"))
            .await
            .error(404),
        "unknown_domain"
    );
    assert_eq!(
        call(&app, Method::DELETE, "/v1/domains/api.example", None)
            .await
            .error(404),
        "unknown_domain"
    );
    // The raw mails stay available after a purge.
    assert_eq!(
        get(&app, "/v1/messages?outcome=stored").await.json()["messages"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    for (body, code) in [
        (json!({"domain": "not a domain"}), "invalid_domain"),
        (json!({"domain": "bücher.example"}), "invalid_domain"),
        (json!({"name": "x.example"}), "invalid_body"),
        (json!(["x.example"]), "invalid_body"),
    ] {
        let reply = call(&app, Method::POST, "/v1/domains", Some(body.clone())).await;
        assert_eq!(reply.error(400), code, "{body}");
    }
}

async fn every_domain_at_a_glance<B: Backend + 'static>(store: Arc<B>) {
    let (app, _) = loaded(store).await;
    let row = json!({
        "domain": "api.example", "registered": false,
        "messages": 33, "dmarc_pass": 24, "dmarc_fail": 9, "dmarc_pass_share": 0.7273,
        "reports": 3, "tls_successful_sessions": 100, "tls_failed_sessions": 5,
        // C ends on May 3; every report found p=reject.
        "latest_day": "2024-05-03", "policy": "reject"
    });
    assert_eq!(
        get(&app, &format!("/v1/overview?{RANGE}")).await.json(),
        json!({"from": "2024-05-01", "to": "2024-05-03", "domains": [row], "next": null})
    );
    // A range with nothing still names the latest report's day, for the dashboard to open on.
    let quiet = get(&app, "/v1/overview?from=2024-06-01&to=2024-06-01")
        .await
        .json();
    assert_eq!(
        quiet["domains"][0],
        json!({
            "domain": "api.example", "registered": false,
            "messages": 0, "dmarc_pass": 0, "dmarc_fail": 0, "dmarc_pass_share": null,
            "reports": 0, "tls_successful_sessions": 0, "tls_failed_sessions": 0,
            "latest_day": "2024-05-03", "policy": "reject"
        })
    );
    // The domain itself says the same.
    let shown = get(&app, "/v1/domains/api.example").await.json();
    assert_eq!(
        (&shown["latest_day"], &shown["policy"]),
        (&json!("2024-05-03"), &json!("reject"))
    );
    let page = get(&app, "/v1/overview?limit=0").await;
    assert_eq!(page.error(400), "invalid_limit");
}

async fn bad_requests_are_400_with_a_code<B: Backend + 'static>(store: Arc<B>) {
    let (app, _) = loaded(store).await;
    let d = "/v1/domains/api.example";
    let cases = [
        (format!("{d}/summary?form=2024-05-01"), "unknown_parameter"),
        (
            format!("{d}/summary?from=2024-05-01&from=2024-05-02"),
            "repeated_parameter",
        ),
        (format!("{d}/summary?from=2024-13-01"), "invalid_date"),
        (format!("{d}/summary?from=yesterday"), "invalid_date"),
        (
            format!("{d}/summary?from=2024-05-03&to=2024-05-01"),
            "invalid_range",
        ),
        (
            format!("{d}/timeseries?from=2020-01-01&to=2024-01-01"),
            "range_too_long",
        ),
        (format!("{d}/stats?{RANGE}"), "invalid_group_by"),
        (format!("{d}/stats?group_by=colour"), "invalid_group_by"),
        (
            format!("{d}/stats?group_by=day,dmarc,reporter"),
            "invalid_group_by",
        ),
        (
            format!("{d}/stats?group_by=day&source_ip=192.0.2.0/33"),
            "invalid_cidr",
        ),
        (
            format!("{d}/stats?group_by=day&source_ip=example.com"),
            "invalid_cidr",
        ),
        (
            format!("{d}/stats?group_by=day&dmarc=maybe"),
            "invalid_filter",
        ),
        (
            format!("{d}/stats?group_by=day&limit=1001"),
            "limit_too_large",
        ),
        (format!("{d}/stats?group_by=day&limit=0"), "invalid_limit"),
        (
            format!("{d}/stats?group_by=day&sort=size"),
            "invalid_parameter",
        ),
        (
            format!("{d}/stats?group_by=day&cursor=2.deadbeef"),
            "invalid_cursor",
        ),
        (format!("{d}/records?limit=10001"), "limit_too_large"),
        (format!("{d}/records?format=xml"), "invalid_parameter"),
        (format!("{d}/reports?kind=forensic"), "invalid_parameter"),
        ("/v1/messages?outcome=lost".to_owned(), "invalid_parameter"),
        (format!("{d}?purge=maybe"), "unknown_parameter"),
    ];
    for (uri, code) in cases {
        assert_eq!(get(&app, &uri).await.error(400), code, "{uri}");
    }
    assert_eq!(
        get(&app, "/v1/domains/nowhere.example/summary")
            .await
            .error(404),
        "unknown_domain"
    );
    assert_eq!(get(&app, "/v1/nothing").await.error(404), "not_found");
    assert_eq!(
        call(&app, Method::PUT, "/v1/domains", None)
            .await
            .error(405),
        "method_not_allowed"
    );
}

#[tokio::test]
async fn a_token_guards_every_route() {
    let app = app(common::backends::embedded(), Some("s3cret"));
    let send = |auth: Option<&'static str>| {
        let app = app.clone();
        async move {
            let mut request = axum::http::Request::get("/v1/domains");
            if let Some(a) = auth {
                request = request.header("authorization", a);
            }
            into_reply(
                app.oneshot(request.body(axum::body::Body::empty()).unwrap())
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    assert_eq!(send(None).await.error(401), "unauthorized");
    assert_eq!(send(Some("Bearer wrong!")).await.error(401), "unauthorized");
    assert_eq!(send(Some("s3cret")).await.error(401), "unauthorized");
    assert_eq!(send(Some("Bearer s3cret")).await.status, 200);
}

/// Behind API Gateway's JWT authorizer, a token without the `rampart-admin` group or the
/// `rampart/admin` scope reads but cannot change anything (403); an admin's can. The claims
/// arrive in the event as API Gateway writes them (list claims as one `[a b]` string).
#[tokio::test]
async fn jwt_callers_need_the_admin_claim_to_change_anything() {
    let service = query::lambda_service(app(common::backends::embedded(), None));
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let with_jwt = |name: &str, jwt: Value| {
        let mut event: Value = serde_json::from_str(
            &std::fs::read_to_string(events.join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        event["requestContext"]["authorizer"] = json!({ "jwt": jwt });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };
    let reader = json!({"claims": {"sub": "u1", "cognito:groups": "[readers]"}, "scopes": null});
    let reply = into_reply(
        service
            .clone()
            .oneshot(with_jwt("apigw-v2-register", reader.clone()))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.json(),
        json!({"error": "forbidden", "message": "this token may read but not change anything; \
            changes need the \"rampart-admin\" group or the \"rampart/admin\" scope"})
    );
    let reads = into_reply(
        service
            .clone()
            .oneshot(with_jwt("apigw-v2-summary", reader))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        reads.status, 404,
        "a reader reads (the domain is not registered yet)"
    );
    assert_eq!(reads.json()["error"], "unknown_domain");
    for admin in [
        json!({"claims": {"sub": "u2", "cognito:groups": "[readers rampart-admin]"}}),
        json!({"claims": {"sub": "u3", "scope": "openid rampart/admin"}}),
        json!({"claims": {"sub": "u4"}, "scopes": ["rampart/admin"]}),
    ] {
        let reply = into_reply(
            service
                .clone()
                .oneshot(with_jwt("apigw-v2-register", admin))
                .await
                .unwrap(),
        )
        .await;
        assert!(
            matches!(reply.status.as_u16(), 200 | 201),
            "{}",
            reply.status
        );
    }
}

/// `GET /v1/sign-in` tells the dashboard how to sign in, without a token; `GET /v1/me` who
/// the API takes the caller to be, behind the token or API Gateway's JWT authorizer.
#[tokio::test]
async fn the_dashboard_learns_how_to_sign_in_and_who_it_is() {
    let get = |app: Router, path: &'static str, auth: Option<&'static str>| async move {
        let mut request = axum::http::Request::get(path);
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        into_reply(
            app.oneshot(request.body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap(),
        )
        .await
    };
    let guarded = app(common::backends::embedded(), Some("s3cret"));
    let sign_in = get(guarded.clone(), "/v1/sign-in", None).await;
    assert_eq!(sign_in.status, 200);
    assert_eq!(sign_in.json(), json!({"method": "token", "oidc": null}));
    assert_eq!(
        get(guarded.clone(), "/v1/me", None).await.error(401),
        "unauthorized"
    );
    assert_eq!(
        get(guarded.clone(), "/v1/me", Some("Bearer s3cret"))
            .await
            .json(),
        json!({"admin": true, "name": "API token"})
    );
    assert_eq!(
        get(guarded, "/v1/sign-in?x=1", None).await.error(400),
        "unknown_parameter"
    );
    let open = app(common::backends::embedded(), None);
    assert_eq!(
        get(open.clone(), "/v1/sign-in", None).await.json(),
        json!({"method": "none", "oidc": null})
    );
    assert_eq!(
        get(open, "/v1/me", None).await.json(),
        json!({"admin": true, "name": null})
    );

    // On AWS: the caller API Gateway's JWT authorizer vouched for.
    let service = query::lambda_service(app(common::backends::embedded(), None));
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let me_as = |claims: Value| {
        let mut event: Value = serde_json::from_str(
            &std::fs::read_to_string(events.join("apigw-v2-summary.json")).unwrap(),
        )
        .unwrap();
        event["rawPath"] = json!("/v1/me");
        event["requestContext"]["http"]["path"] = json!("/v1/me");
        event["rawQueryString"] = json!("");
        event
            .as_object_mut()
            .unwrap()
            .remove("queryStringParameters");
        event["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims}});
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };
    for (claims, expected) in [
        (
            json!({"sub": "u1", "email": "ann@example.com", "cognito:groups": "[readers]"}),
            json!({"admin": false, "name": "ann@example.com"}),
        ),
        (
            json!({"sub": "u2", "cognito:groups": "[rampart-admin]"}),
            json!({"admin": true, "name": "u2"}),
        ),
    ] {
        let reply = into_reply(service.clone().oneshot(me_as(claims)).await.unwrap()).await;
        assert_eq!(reply.json(), expected);
    }
}

/// Replays the sample API Gateway events (HTTP API v2 and REST v1) through the Lambda
/// adapter: same routes, and the REST stage is not part of the path.
#[tokio::test]
async fn api_gateway_events_reach_the_same_routes() {
    let store = common::backends::embedded();
    let bytes = read_fixture("generated/outlook-20-single-line.eml");
    let key = RawKey::for_content(&bytes);
    rampart_store::Store::put_raw(&store, &key, &bytes)
        .await
        .unwrap();
    Ingest::new(&store, &Enricher::disabled())
        .message(&key, &bytes, CORPUS_RECEIVED)
        .await;
    let service = query::lambda_service(app(store, None));
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut answers = BTreeMap::new();
    for name in [
        "apigw-v2-summary",
        "apigw-v2-stats",
        "apigw-v2-register",
        "apigw-rest-domains",
        "apigw-rest-records",
    ] {
        let text = std::fs::read_to_string(events.join(format!("{name}.json"))).unwrap();
        let request = lambda_http::request::from_str(&text).unwrap();
        // The REST event's stage is not part of the route the Router matches.
        let uri = request.uri().to_string().replace("/Prod/", "/");
        let method = request.method().clone();
        let reply = into_reply(service.clone().oneshot(request).await.unwrap()).await;
        common::api::conforms(&method, &uri, &reply);
        answers.insert(name, (reply.status.as_u16(), reply.json()));
    }
    // EXPECTED for generated/outlook-20-single-line.eml: 1,711 messages in 20 records.
    assert_eq!(answers["apigw-v2-summary"].1["messages"], 1711);
    assert_eq!(
        answers["apigw-v2-stats"].1["groups"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(answers["apigw-v2-register"].0, 201);
    assert_eq!(
        answers["apigw-rest-domains"].1["domains"][0]["domain"],
        "example.com"
    );
    assert_eq!(
        answers["apigw-rest-records"].1["records"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(
        answers.values().all(|(status, _)| *status < 300),
        "{answers:#?}"
    );
}

/// Every corpus report, stored, read back through the API. For each domain and day whose
/// reports all cover that one day, the summary counts exactly the messages and reports
/// `EXPECTED.json` lists for it; for each domain, a summary over all its days counts all of
/// them, spread or not.
async fn every_corpus_day_matches_expected_json<B: Backend + 'static>(store: Arc<B>) {
    // (begin, end, messages) of each distinct aggregate report, by domain.
    let mut by_domain: BTreeMap<String, Vec<(i64, i64, u64)>> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for (file, reports) in corpus_report_files() {
        let bytes = read_fixture(&file);
        let key = RawKey::for_content(&bytes);
        store.put_raw(&key, &bytes).await.unwrap();
        // Received after the newest corpus report begins, so none is in the future.
        Ingest::new(&*store, &Enricher::disabled())
            .message(&key, &bytes, CORPUS_RECEIVED)
            .await;
        for r in reports.iter().filter(|r| r["kind"] == "aggregate") {
            let domain = fact(r, "policy_domain")
                .as_str()
                .unwrap_or("")
                .trim()
                .to_lowercase();
            let epoch = |k| fact(r, k).as_str().and_then(|t| t.parse::<i64>().ok());
            let (Some(begin), Some(end)) = (epoch("begin"), epoch("end")) else {
                continue;
            };
            if domain.is_empty()
                || !seen.insert((domain.clone(), fact(r, "report_id").to_string(), begin))
            {
                continue;
            }
            let count = fact(r, "count_total").as_u64().unwrap();
            by_domain
                .entry(domain)
                .or_default()
                .push((begin, end, count));
        }
    }
    let app = app(sole(store), None);
    let day = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap().date_naive();
    let (mut days_checked, mut domains_checked) = (0, 0);
    for (domain, reports) in &by_domain {
        let last_second = |&(b, e, _): &(i64, i64, u64)| if e > b { e - 1 } else { b };
        let first = reports.iter().map(|r| day(r.0)).min().unwrap();
        let last = reports.iter().map(|r| day(last_second(r))).max().unwrap();
        if (last - first).num_days() < 366 {
            let summary = get(
                &app,
                &format!("/v1/domains/{domain}/summary?from={first}&to={last}"),
            )
            .await
            .json();
            let total: u64 = reports.iter().map(|r| r.2).sum();
            assert_eq!(
                (summary["messages"].as_u64(), summary["reports"].as_u64()),
                (Some(total), Some(reports.len() as u64)),
                "{domain} {first}..{last}"
            );
            domains_checked += 1;
        }
        // Day by day, where no report of the domain reaches into a second day.
        if reports.iter().any(|r| day(r.0) != day(last_second(r))) {
            continue;
        }
        let mut per_day: BTreeMap<_, (u64, u64)> = BTreeMap::new();
        for r in reports {
            let e = per_day.entry(day(r.0)).or_default();
            *e = (e.0 + r.2, e.1 + 1);
        }
        for (d, (messages, count)) in per_day {
            let summary = get(
                &app,
                &format!("/v1/domains/{domain}/summary?from={d}&to={d}"),
            )
            .await
            .json();
            assert_eq!(
                (summary["messages"].as_u64(), summary["reports"].as_u64()),
                (Some(messages), Some(count)),
                "{domain} {d}"
            );
            days_checked += 1;
        }
    }
    // example.com's corpus reports span more than a year: it is checked day by day only.
    assert_eq!(
        (by_domain.len(), domains_checked, days_checked),
        (17, 16, 14)
    );
}

/// The dashboard's files are public (they hold no data) while the API keeps its token; each
/// file is served as vendored, with its type, an ETag that answers 304, and gzip on request.
#[tokio::test]
async fn the_dashboard_files_are_public_and_cached() {
    let app = app(common::backends::embedded(), Some("s3cret"));
    let send = |uri: &'static str, headers: Vec<(&'static str, String)>| {
        let app = app.clone();
        async move {
            let mut request = axum::http::Request::get(uri);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            into_reply(
                app.oneshot(request.body(axum::body::Body::empty()).unwrap())
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let vendored = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/api/ui/vendor/");
    for (uri, file, media) in [
        ("/ui/vendor/lit/index.js", "lit/index.js", "text/javascript"),
        // Any JavaScript MIME type loads a module script (HTML, "JavaScript MIME type").
        (
            "/ui/vendor/d3-geo/d3-geo.min.mjs",
            "d3-geo/d3-geo.min.mjs",
            "application/javascript",
        ),
        (
            "/ui/vendor/world-atlas/countries-50m.json",
            "world-atlas/countries-50m.json",
            "application/json",
        ),
    ] {
        let reply = send(uri, vec![]).await;
        assert_eq!(reply.status, 200, "{uri}");
        assert_eq!(reply.content_type(), media, "{uri}");
        assert_eq!(
            reply.bytes,
            std::fs::read(format!("{vendored}{file}")).unwrap()
        );
        let etag = reply.headers["etag"].to_str().unwrap().to_owned();
        let again = send(uri, vec![("if-none-match", etag)]).await;
        assert_eq!(again.status, 304, "{uri}");
    }
    let zipped = send(
        "/ui/vendor/chart.js/chart.umd.min.js",
        vec![("accept-encoding", "gzip".to_owned())],
    )
    .await;
    assert_eq!(
        zipped
            .headers
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip"),
        "{:?}",
        zipped.headers
    );
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&zipped.bytes[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(
        unzipped,
        std::fs::read(format!("{vendored}chart.js/chart.umd.min.js")).unwrap()
    );
    assert_eq!(send("/ui/vendor/nothing.js", vec![]).await.status, 404);
    // A screen's address is the page that reads it; `/` opens the first screen.
    let index = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/api/ui/index.html"
    ))
    .unwrap();
    for screen in ["/ui/domains", "/ui/d/example.com/overview"] {
        let page = send(screen, vec![]).await;
        assert_eq!(page.status, 200, "{screen}");
        assert!(page.content_type().starts_with("text/html"), "{screen}");
        assert_eq!(page.bytes, index, "{screen}");
    }
    let home = send("/", vec![]).await;
    assert_eq!(home.status, 303);
    assert_eq!(home.headers["location"], "/ui/domains");
    assert_eq!(send("/v1/domains", vec![]).await.error(401), "unauthorized");
}

/// The roll-ups (classification, country, service by day) answer grouped statistics exactly
/// as the records do: the corpus, with the bundled IP database and service list, grouped and
/// filtered every way the dashboard asks, against the same query forced onto the records by
/// a filter no counter carries (`source_ip` of every address).
async fn rollups_answer_as_the_records_do<B: Backend + 'static>(store: Arc<B>) {
    let enricher = Enricher::new(None, rampart_sources::EnrichSettings::default());
    for (file, _) in corpus_report_files() {
        let bytes = read_fixture(&file);
        let key = RawKey::for_content(&bytes);
        store.put_raw(&key, &bytes).await.unwrap();
        Ingest::new(&*store, &enricher)
            .message(&key, &bytes, CORPUS_RECEIVED)
            .await;
    }
    // Without reverse DNS no source is recognised as a service: as `rampart reprocess
    // --enrich` would, name a service for every other source, and replace the reports, which
    // moves their roll-ups by the difference.
    let mut named = 0;
    for domain in rampart_store::every_domain(&*store).await.unwrap() {
        let reports = store
            .reports(&domain.name, &rampart_store::DayRange::all())
            .await
            .unwrap();
        for mut stored in reports {
            let mut changed = false;
            for (i, info) in stored.sources.values_mut().enumerate() {
                if i % 2 == 0 {
                    info.service = Some(rampart_sources::Service {
                        id: "test-esp".into(),
                        name: "Test ESP".into(),
                        kind: rampart_sources::ServiceKind::Transactional,
                    });
                    changed = true;
                }
            }
            if changed {
                let put = store
                    .put_report(&stored, rampart_store::WriteMode::Replace)
                    .await
                    .unwrap();
                assert_eq!(put, rampart_store::PutReport::Replaced);
                named += 1;
            }
        }
    }
    assert!(named > 10, "{named}");
    let app = app(sole(store), None);
    let overview = get(&app, "/v1/overview?from=2026-09-01&to=2026-09-21&limit=200")
        .await
        .json();
    let every_address = "source_ip=0.0.0.0/0,::/0";
    let (mut compared, mut with_country, mut with_service) = (0, 0, 0);
    for row in overview["domains"].as_array().unwrap() {
        let (Some(domain), Some(last)) = (row["domain"].as_str(), row["latest_day"].as_str())
        else {
            continue;
        };
        if domain.is_empty() {
            continue;
        }
        let last = chrono::NaiveDate::parse_from_str(last, "%Y-%m-%d").unwrap();
        let range = format!("from={}&to={last}", last - chrono::Days::new(365));
        let base = format!("/v1/domains/{domain}/stats?{range}&limit=1000");
        // Records without a readable address pass no `source_ip` filter: such a domain
        // cannot be compared this way.
        let all = get(&app, &format!("{base}&group_by=dmarc")).await.json();
        let forced = get(&app, &format!("{base}&group_by=dmarc&{every_address}"))
            .await
            .json();
        if all["groups"] != forced["groups"] || all["total_groups"] == 0 {
            continue;
        }
        for group_by in [
            "classification",
            "country",
            "service",
            "day,classification",
            "country,classification",
            "service,dmarc",
            "classification,disposition",
        ] {
            for filter in [
                "",
                "&classification=suspicious",
                "&dmarc=fail",
                "&country=US,DE",
            ] {
                let query = format!("{base}&group_by={group_by}{filter}");
                let mut counted = get(&app, &query).await.json();
                let mut records = get(&app, &format!("{query}&{every_address}")).await.json();
                // The counters answer when one family carries every dimension named
                // (docs/query.md): no family has a service and a country together, say.
                let families: [&[&str]; 4] = [
                    &["reporter", "disposition", "dmarc"],
                    &["classification", "dmarc", "disposition"],
                    &["country", "classification", "dmarc"],
                    &["service", "classification", "dmarc"],
                ];
                let named: Vec<&str> = group_by
                    .split(',')
                    .chain(filter.split('&').filter_map(|f| f.split('=').next()))
                    .filter(|d| !d.is_empty() && *d != "day")
                    .collect();
                let covered = families.iter().any(|f| named.iter().all(|d| f.contains(d)));
                assert_eq!(
                    (counted["counted"].take(), records["counted"].take()),
                    (json!(covered), json!(false)),
                    "{query}"
                );
                assert_eq!(counted, records, "{query}");
                let keys = counted["groups"].as_array().unwrap().iter();
                with_country += keys
                    .clone()
                    .filter(|g| g["key"]["country"].is_string())
                    .count();
                with_service += keys.filter(|g| g["key"]["service"].is_string()).count();
                compared += 1;
            }
        }
    }
    // The comparisons reached real countries and services, not only empty keys.
    assert!(compared >= 28, "{compared}");
    assert!(
        with_country > 0 && with_service > 0,
        "{with_country} {with_service}"
    );
}

/// A day whose counters predate the roll-ups (a table written by an older version) has
/// messages but no `class:`/`geo:`/`svc:` counters: the roll-ups do not add up to its
/// messages, so the records answer, and the answer is still right.
async fn a_day_counted_before_the_rollups_is_read_from_records<B: Backend + 'static>(
    store: Arc<B>,
) {
    load(&*store).await;
    let query = format!("/v1/domains/api.example/stats?{RANGE}&group_by=classification");
    let before = {
        let app = app(Arc::clone(&store), None);
        get(&app, &query).await.json()
    };
    assert_eq!(before["counted"], true);
    store.forget_rollups("api.example", "2024-05-02").await;
    let app = app(sole(store), None);
    let mut after = get(&app, &query).await.json();
    assert_eq!(after["counted"].take(), false);
    let mut before = before;
    before["counted"].take();
    assert_eq!(after, before);
}

async fn alert_settings_change_what_they_name_and_show_a_new_secret_once<B: Backend + 'static>(
    store: Arc<B>,
) {
    let app = app(Arc::clone(&store), None);
    assert_eq!(
        common::api::register(&app, "alerts.example").await.status,
        201
    );
    let shown = get(&app, "/v1/domains/Alerts.Example/alerts").await;
    assert_eq!(shown.status, 200);
    let body = shown.json();
    assert_eq!(body["domain"], "alerts.example");
    assert_eq!(body["alerts"], json!([]));
    let settings = &body["settings"];
    assert_eq!(settings["scope"], "alerts.example");
    assert_eq!(settings["recipients"], json!([]));
    assert_eq!(settings["digest"], true);
    assert_eq!(settings["rules"], json!({}));
    assert_eq!(settings["webhook"], Value::Null);
    // The defaults of docs/alerts.md.
    assert_eq!(settings["effective"]["new_source"]["min_failing"], 50);
    assert_eq!(settings["effective"]["mails_per_day"], 10);

    // All domains lower the floor; the domain lowers its budget.
    let all = call(
        &app,
        Method::PUT,
        "/v1/alert-settings",
        Some(json!({"recipients": ["ops@example.net"], "rules": {"new_source": {"min_failing": 20}}})),
    )
    .await;
    assert_eq!(all.status, 200);
    assert_eq!(all.json()["scope"], "*");
    let changed = call(
        &app,
        Method::PUT,
        "/v1/domains/alerts.example/alert-settings",
        Some(json!({
            "recipients": ["owner@alerts.example", "Owner@alerts.example"],
            "rules": {"mails_per_day": 3},
            "snoozes": [{"rule": "silent_reporter", "until": 1_800_000_000}],
            "webhook_url": "https://hooks.example/rampart"
        })),
    )
    .await;
    assert_eq!(changed.status, 200);
    let changed = changed.json();
    assert_eq!(changed["recipients"], json!(["owner@alerts.example"]));
    assert_eq!(changed["rules"], json!({"mails_per_day": 3}));
    assert_eq!(changed["effective"]["new_source"]["min_failing"], 20);
    assert_eq!(changed["effective"]["mails_per_day"], 3);
    assert_eq!(
        changed["snoozes"],
        json!([{"rule": "silent_reporter", "until": 1_800_000_000}])
    );
    let secret = changed["webhook"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    // Shown once: read back, and unchanged by a second PUT of the same URL.
    let again = get(&app, "/v1/domains/alerts.example/alert-settings")
        .await
        .json();
    assert_eq!(
        again["webhook"],
        json!({"url": "https://hooks.example/rampart", "secret": null})
    );
    let same = call(
        &app,
        Method::PUT,
        "/v1/domains/alerts.example/alert-settings",
        Some(json!({"webhook_url": "https://hooks.example/rampart"})),
    )
    .await
    .json();
    assert_eq!(same["webhook"]["secret"], Value::Null);
    let rotated = call(
        &app,
        Method::PUT,
        "/v1/domains/alerts.example/alert-settings",
        Some(json!({"rotate_secret": true})),
    )
    .await
    .json();
    let new = rotated["webhook"]["secret"].as_str().unwrap();
    assert_ne!(new, secret);

    // What is refused, and why.
    let refused = |body: Value| {
        let app = app.clone();
        async move {
            let reply = call(
                &app,
                Method::PUT,
                "/v1/domains/alerts.example/alert-settings",
                Some(body),
            )
            .await;
            (
                reply.error(400),
                reply.json()["message"].as_str().unwrap().to_owned(),
            )
        }
    };
    assert_eq!(
        refused(json!({"recipients": ["not an address"]})).await,
        (
            "invalid_settings".into(),
            "\"not an address\" is not an e-mail address".into()
        )
    );
    assert_eq!(
        refused(json!({"snoozes": [{"rule": "sleep", "until": 1}]})).await,
        (
            "invalid_settings".into(),
            "\"sleep\" is not a rule (snoozes[].rule)".into()
        )
    );
    assert_eq!(
        refused(json!({"rules": {"source_band": {"baseline_days": 0}}})).await,
        (
            "invalid_settings".into(),
            "source_band.baseline_days must be between 1 and 120 days, not 0".into()
        )
    );
    assert_eq!(refused(json!({"recipient": []})).await.0, "invalid_body");
    assert_eq!(
        refused(json!({"webhook_url": "ftp://x"})).await.0,
        "invalid_settings"
    );
    // Nothing refused was kept.
    let kept = get(&app, "/v1/domains/alerts.example/alert-settings")
        .await
        .json();
    assert_eq!(kept["recipients"], json!(["owner@alerts.example"]));
    assert_eq!(
        get(&app, "/v1/domains/nowhere.example/alerts").await.status,
        404
    );
}

async fn mailboxes_show_where_they_read_their_last_run_and_pause<B: Backend + 'static>(
    store: Arc<B>,
) {
    use rampart_mailbox::source::{Account, Run, Source};
    use rampart_store::MailboxStore;
    let app = app(Arc::clone(&store), None);
    assert_eq!(
        get(&app, "/v1/mailboxes").await.json(),
        json!({"mailboxes": []})
    );
    let imap = Source {
        id: "reports".into(),
        account: Account::Imap(rampart_mailbox::imap::Folder {
            host: "imap.example.com".into(),
            port: 993,
            security: rampart_mailbox::imap::Security::Tls,
            user: "dmarc@example.com".into(),
            name: "DMARC Reports".into(),
        }),
        paused: false,
        move_to: Some("Done".into()),
        checkpoint: None,
        last_run: Some(Run {
            started_at: NOW,
            ended_at: NOW + 4,
            error: None,
            taken: 3,
            outcomes: [("stored".to_owned(), 2), ("duplicate".to_owned(), 1)].into(),
            too_large: 1,
            too_large_uids: vec![7],
            left: 0,
            moved: 3,
            renumbered: false,
        }),
    };
    let graph = Source {
        id: "m365".into(),
        account: Account::Graph(rampart_mailbox::graph::Account {
            tenant: "contoso.example".into(),
            client_id: "app".into(),
            user: "dmarc@contoso.example".into(),
            folder: "inbox".into(),
            token_url: None,
            graph_url: None,
        }),
        paused: true,
        move_to: None,
        checkpoint: None,
        last_run: None,
    };
    store.put_mailbox(&imap.to_item()).await.unwrap();
    store.put_mailbox(&graph.to_item()).await.unwrap();
    let listed = get(&app, "/v1/mailboxes").await;
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.json(),
        json!({"mailboxes": [
            {"id": "m365", "kind": "graph", "location": "https://graph.microsoft.com",
             "user": "dmarc@contoso.example", "folder": "inbox", "paused": true,
             "move_to": null, "last_run": null},
            {"id": "reports", "kind": "imap",
             "location": "imaps://imap.example.com:993/DMARC Reports",
             "user": "dmarc@example.com", "folder": "DMARC Reports", "paused": false,
             "move_to": "Done", "last_run": {
                "started_at": NOW, "ended_at": NOW + 4, "error": null, "taken": 3,
                "outcomes": {"duplicate": 1, "stored": 2}, "too_large": 1, "left": 0,
                "moved": 3, "renumbered": false}},
        ]})
    );

    // Pausing is stored; what else the source holds stays.
    let paused = call(
        &app,
        Method::PATCH,
        "/v1/mailboxes/reports",
        Some(json!({"paused": true})),
    )
    .await;
    assert_eq!(paused.status, 200);
    assert_eq!(paused.json()["paused"], true);
    assert_eq!(paused.json()["last_run"]["taken"], 3);
    let stored = Source::from_item(&store.mailbox("reports").await.unwrap().unwrap()).unwrap();
    assert_eq!(
        stored,
        Source {
            paused: true,
            ..imap
        }
    );
    let resumed = call(
        &app,
        Method::PATCH,
        "/v1/mailboxes/m365",
        Some(json!({"paused": false})),
    )
    .await;
    assert_eq!(resumed.json()["paused"], false);

    // Unknown sources, unknown fields and ids no source can have.
    for (path, body, status, code) in [
        (
            "/v1/mailboxes/other",
            json!({"paused": true}),
            404,
            "unknown_mailbox",
        ),
        (
            "/v1/mailboxes/Bad%20Id",
            json!({"paused": true}),
            404,
            "unknown_mailbox",
        ),
        (
            "/v1/mailboxes/reports",
            json!({"password": "x"}),
            400,
            "invalid_body",
        ),
        (
            "/v1/mailboxes/reports",
            json!({"paused": "yes"}),
            400,
            "invalid_body",
        ),
    ] {
        let reply = call(&app, Method::PATCH, path, Some(body)).await;
        assert_eq!(
            (reply.status.as_u16(), reply.json()["error"].clone()),
            (status, json!(code)),
            "{path}"
        );
    }
}

/// A mailbox source added through the API, with Dovecot on 127.0.0.1 as its server.
async fn mailboxes_are_added_tested_and_removed_with_their_secret<B: Backend + 'static>(
    store: Arc<B>,
) {
    use common::dovecot::{Dovecot, PASSWORD, USER};
    use rampart_mailbox::secrets::{SecretFiles, SecretStore};
    use rampart_store::MailboxStore;
    let dovecot = Dovecot::start();
    let secrets = common::api::secrets_dir();
    let access = |network| rampart_query::mailboxes::Access {
        secrets: SecretStore::Files(SecretFiles {
            dir: secrets.clone(),
        }),
        network,
    };
    let network =
        rampart_mailbox::intake::Network::new(None, rampart_mailbox::Addresses::Any).unwrap();
    let app = common::api::app_with_mailboxes(Arc::clone(&store), Some(access(Some(network))));
    let url = format!("imap+insecure://127.0.0.1:{}/INBOX", dovecot.port);
    let added = call(
        &app,
        Method::POST,
        "/v1/mailboxes",
        Some(
            json!({"id": "dovecot", "url": url, "user": USER, "secret": "not-the-password",
                    "move_to": "Done"}),
        ),
    )
    .await;
    assert_eq!(added.status, 201);
    let view = json!({"id": "dovecot", "kind": "imap", "location": url, "user": USER,
        "folder": "INBOX", "paused": false, "move_to": "Done", "last_run": null});
    assert_eq!(added.json(), view);
    assert_eq!(
        get(&app, "/v1/mailboxes").await.json(),
        json!({"mailboxes": [view]})
    );
    // The secret is in a file of its own, the owner's alone; never in the source.
    let file = secrets.join("dovecot");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not-the-password");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&secrets), mode(&file)), (0o700, 0o600));
    }
    let item = store.mailbox("dovecot").await.unwrap().unwrap();
    assert!(!item.body.contains("not-the-password"), "{}", item.body);

    // A wrong password: the test says so in the server's words.
    let tested = call(&app, Method::POST, "/v1/mailboxes/dovecot/test", None).await;
    assert_eq!(tested.status, 200);
    let answer = tested.json();
    assert_eq!(
        (&answer["ok"], &answer["messages"], &answer["new"]),
        (&json!(false), &Value::Null, &Value::Null)
    );
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("{USER}: the login was refused")),
        "{error}"
    );

    // The right one, and two mails waiting: counted, not read.
    let changed = call(
        &app,
        Method::PATCH,
        "/v1/mailboxes/dovecot",
        Some(json!({"secret": PASSWORD})),
    )
    .await;
    assert_eq!(changed.json(), view);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), PASSWORD);
    for mail in ["100.eml", "101.eml"] {
        dovecot.deliver(&read_fixture(&format!("corpus/email/mail-auth/{mail}")));
    }
    let tested = call(&app, Method::POST, "/v1/mailboxes/dovecot/test", None).await;
    assert_eq!(
        tested.json(),
        json!({"ok": true, "messages": 2, "new": 2, "error": null})
    );
    assert_eq!(
        get(&app, "/v1/mailboxes").await.json()["mailboxes"][0]["last_run"],
        Value::Null,
        "a test is not a run"
    );

    // What is refused, and why.
    for (body, status, code) in [
        (
            json!({"id": "dovecot", "url": url, "user": USER, "secret": "x"}),
            409,
            "mailbox_exists",
        ),
        (
            json!({"url": "pop3://mail.example/INBOX", "user": USER, "secret": "x"}),
            400,
            "invalid_mailbox",
        ),
        (
            json!({"url": url, "user": USER, "secret": ""}),
            400,
            "invalid_mailbox",
        ),
        (
            json!({"url": url, "user": USER, "secret": "a\r\nb"}),
            400,
            "invalid_mailbox",
        ),
        (
            json!({"url": url, "tenant": "t", "client_id": "c", "user": USER, "secret": "x"}),
            400,
            "invalid_mailbox",
        ),
        (
            json!({"tenant": "t", "client_id": "c", "user": USER, "secret": "x",
                   "token_url": "http://login.example/token"}),
            400,
            "invalid_mailbox",
        ),
        (
            json!({"id": "Has Spaces", "url": url, "user": USER, "secret": "x"}),
            400,
            "invalid_mailbox",
        ),
        (
            json!({"url": url, "user": USER, "password": "x"}),
            400,
            "invalid_body",
        ),
    ] {
        let reply = call(&app, Method::POST, "/v1/mailboxes", Some(body.clone())).await;
        assert_eq!(
            (reply.status.as_u16(), reply.json()["error"].clone()),
            (status, json!(code)),
            "{body}"
        );
    }

    // A Microsoft 365 mailbox, named from its user and folder.
    let graph = call(
        &app,
        Method::POST,
        "/v1/mailboxes",
        Some(
            json!({"tenant": "contoso.example", "client_id": "app", "secret": "s",
                    "user": "dmarc@contoso.example", "paused": true}),
        ),
    )
    .await;
    assert_eq!(
        (graph.status.as_u16(), graph.json()),
        (
            201,
            json!({"id": "dmarc-contoso-example-inbox", "kind": "graph",
                   "location": "https://graph.microsoft.com", "user": "dmarc@contoso.example",
                   "folder": "inbox", "paused": true, "move_to": null, "last_run": null})
        )
    );

    // Removed with its secret; the mails it brought (none here) would stay.
    let removed = call(&app, Method::DELETE, "/v1/mailboxes/dovecot", None).await;
    assert_eq!((removed.status.as_u16(), removed.json()), (200, view));
    assert!(!file.exists());
    assert!(store.mailbox("dovecot").await.unwrap().is_none());
    for (method, path) in [
        (Method::DELETE, "/v1/mailboxes/dovecot"),
        (Method::POST, "/v1/mailboxes/dovecot/test"),
    ] {
        let reply = call(&app, method, path, None).await;
        assert_eq!(
            (reply.status.as_u16(), reply.json()["error"].clone()),
            (404, json!("unknown_mailbox")),
            "{path}"
        );
    }

    // At most 100 sources.
    for n in 0..99 {
        let source = rampart_mailbox::source::Source {
            id: format!("s{n}"),
            account: rampart_mailbox::source::Account::Imap(rampart_mailbox::imap::Folder {
                host: "imap.example.com".into(),
                port: 993,
                security: rampart_mailbox::imap::Security::Tls,
                user: format!("u{n}"),
                name: "INBOX".into(),
            }),
            paused: true,
            move_to: None,
            checkpoint: None,
            last_run: None,
        };
        store.put_mailbox(&source.to_item()).await.unwrap();
    }
    let full = call(
        &app,
        Method::POST,
        "/v1/mailboxes",
        Some(json!({"url": url, "user": USER, "secret": "x"})),
    )
    .await;
    assert_eq!(
        (full.status.as_u16(), full.json()["error"].clone()),
        (409, json!("too_many_mailboxes"))
    );

    // Where no network may be used, testing is refused; where no secrets are kept, adding.
    let offline = common::api::app_with_mailboxes(Arc::clone(&store), Some(access(None)));
    let reply = call(&offline, Method::POST, "/v1/mailboxes/s1/test", None).await;
    assert_eq!(
        (reply.status.as_u16(), reply.json()["error"].clone()),
        (409, json!("network_off"))
    );
    let fileonly = common::api::app_with_mailboxes(Arc::clone(&store), None);
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/mailboxes",
            Some(json!({"url": url, "user": USER, "secret": "x"})),
        ),
        (Method::DELETE, "/v1/mailboxes/s1", None),
        (
            Method::PATCH,
            "/v1/mailboxes/s1",
            Some(json!({"secret": "x"})),
        ),
    ] {
        let reply = call(&fileonly, method, path, body).await;
        assert_eq!(
            (reply.status.as_u16(), reply.json()["error"].clone()),
            (409, json!("mailboxes_off")),
            "{path}"
        );
    }
}

/// On a server (AWS) a mailbox's server must be public: whoever adds a source cannot aim
/// Rampart at the network it runs in, nor send a password without TLS.
async fn a_server_tests_public_mailbox_servers_only<B: Backend + 'static>(store: Arc<B>) {
    use common::dovecot::{Dovecot, PASSWORD, USER};
    use rampart_mailbox::secrets::{SecretFiles, SecretStore};
    let dovecot = Dovecot::start();
    let network =
        rampart_mailbox::intake::Network::new(None, rampart_mailbox::Addresses::PublicOnly)
            .unwrap();
    let app = common::api::app_with_mailboxes(
        Arc::clone(&store),
        Some(rampart_query::mailboxes::Access {
            secrets: SecretStore::Files(SecretFiles {
                dir: common::api::secrets_dir(),
            }),
            network: Some(network),
        }),
    );
    let add =
        |id: &str, url: String| json!({"id": id, "url": url, "user": USER, "secret": PASSWORD});
    for (id, url, error) in [
        (
            "plain",
            format!("imap+insecure://127.0.0.1:{}/INBOX", dovecot.port),
            "127.0.0.1: imap+insecure (no TLS) is for a server on the same machine; use imaps \
             or imap (STARTTLS)"
                .to_owned(),
        ),
        (
            "loopback",
            format!("imaps://127.0.0.1:{}/INBOX", dovecot.port),
            format!(
                "127.0.0.1:{}: cannot connect: 127.0.0.1 has no public address (127.0.0.1): \
                 not called",
                dovecot.port
            ),
        ),
        (
            "localhost",
            format!("imap://localhost:{}/INBOX", dovecot.port),
            format!(
                "localhost:{}: cannot connect: localhost has no public address",
                dovecot.port
            ),
        ),
    ] {
        let added = call(&app, Method::POST, "/v1/mailboxes", Some(add(id, url))).await;
        assert_eq!(added.status, 201, "{id}");
        let path = format!("/v1/mailboxes/{id}/test");
        let tested = call(&app, Method::POST, &path, None).await.json();
        assert_eq!(tested["ok"], false, "{id}");
        let said = tested["error"].as_str().unwrap();
        assert!(said.starts_with(&error), "{id}: {said}");
    }
    // An address written in a Graph URL skips the resolver: refused when added.
    let graph = call(
        &app,
        Method::POST,
        "/v1/mailboxes",
        Some(
            json!({"tenant": "t", "client_id": "c", "user": USER, "secret": "x",
                    "token_url": "https://169.254.169.254/token"}),
        ),
    )
    .await;
    assert_eq!(
        (graph.status.as_u16(), graph.json()["message"].clone()),
        (
            400,
            json!(
                "token_url \"https://169.254.169.254/token\": 169.254.169.254 is not a public address"
            )
        )
    );
}
