//! Property: every report the parser returns, however a stranger built it, is stored and
//! read back exactly on both backends, and the day counters add up to its totals.
//!
//! Reports are generated with the shapes hostile senders use: odd and long names, control
//! characters and entities, counts past 2^53, repeated and missing elements, many
//! authentication results and reasons, dates in milliseconds or garbage.

mod common;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;
use rampart_formats::Limits;
use rampart_formats::intake::{Report, json_len, parse_input};
use rampart_formats::limits::MAX_COUNT;
use rampart_store::aws::AwsStore;
use rampart_store::embedded::EmbeddedStore;
use rampart_store::{DayRange, PutReport, RawKey, Store, StoredReport, WriteMode};

struct Stores {
    runtime: tokio::runtime::Runtime,
    embedded: EmbeddedStore,
    aws: AwsStore,
}

fn stores() -> &'static Stores {
    static STORES: OnceLock<Stores> = OnceLock::new();
    STORES.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let aws = runtime.block_on(common::backends::aws());
        Stores {
            runtime,
            embedded: common::backends::embedded(),
            aws,
        }
    })
}

/// A distinct domain per case, so one case's counters are its own.
fn next_domain() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("case{}.example", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// XML-escaped text: what a reporter writes for arbitrary characters.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ._@:-]{0,40}",
        "[\\PC]{0,30}",
        "[\u{1}-\u{1f}a-z\u{1f}]{0,20}",
        Just("&amp;&#x1F600;&unknown;".to_owned()),
        "[a-z]{300,400}",
    ]
}

fn count() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..1_000_000).prop_map(|n| n.to_string()),
        Just("9007199254740991".to_owned()),
        Just("9007199254740992".to_owned()),
        Just("18446744073709551615".to_owned()),
        Just("99999999999999999999999999".to_owned()),
        Just("3.0".to_owned()),
        Just("1e400".to_owned()),
        Just("-1".to_owned()),
        Just(String::new()),
    ]
}

fn epoch() -> impl Strategy<Value = String> {
    prop_oneof![
        (1_600_000_000i64..1_790_000_000).prop_map(|n| n.to_string()),
        (1_600_000_000_000i64..1_790_000_000_000).prop_map(|n| n.to_string()),
        Just("1700000000.5".to_owned()),
        Just("not a date".to_owned()),
        Just("99999999999999999999".to_owned()),
    ]
}

fn auth() -> impl Strategy<Value = String> {
    (any::<bool>(), text(), text(), text()).prop_map(|(dkim, domain, selector, result)| {
        let (domain, selector, result) = (escaped(&domain), escaped(&selector), escaped(&result));
        if dkim {
            format!(
                "<dkim><domain>{domain}</domain><selector>{selector}</selector>\
                 <result>{result}</result></dkim>"
            )
        } else {
            format!("<spf><domain>{domain}</domain><result>{result}</result></spf>")
        }
    })
}

fn record() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            "(25[0-5]|1?[0-9]{1,2})\\.[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}",
            Just("2001:db8::1".to_owned()),
            Just("X.X.X.X".to_owned()),
            text(),
        ],
        count(),
        text(),
        proptest::collection::vec(auth(), 0..40),
        proptest::collection::vec(text(), 0..20),
        text(),
    )
        .prop_map(|(ip, count, disposition, auth, reasons, from)| {
            let reasons: String = reasons
                .iter()
                .map(|r| {
                    format!(
                        "<reason><type>{}</type><comment>x</comment></reason>",
                        escaped(r)
                    )
                })
                .collect();
            format!(
                "<record><row><source_ip>{}</source_ip><count>{count}</count>\
                 <policy_evaluated><disposition>{}</disposition><dkim>pass</dkim>\
                 <spf>fail</spf>{reasons}</policy_evaluated></row><identifiers>\
                 <header_from>{}</header_from></identifiers><auth_results>{}</auth_results>\
                 </record>",
                escaped(&ip),
                escaped(&disposition),
                escaped(&from),
                auth.concat()
            )
        })
}

fn aggregate(domain: String) -> impl Strategy<Value = String> {
    (
        text(),
        text(),
        epoch(),
        epoch(),
        any::<bool>(),
        proptest::collection::vec(record(), 0..12),
        proptest::collection::vec(text(), 0..24),
    )
        .prop_map(move |(org, id, begin, end, dot, records, errors)| {
            let errors: String = errors
                .iter()
                .map(|e| format!("<error>{}</error>", escaped(e)))
                .collect();
            let domain = if dot {
                format!("{}.", domain.to_uppercase())
            } else {
                domain.clone()
            };
            format!(
                "<feedback><report_metadata><org_name>{}</org_name><report_id>{}</report_id>\
                 <date_range><begin>{begin}</begin><end>{end}</end></date_range>{errors}\
                 </report_metadata><policy_published><domain>{domain}</domain><p>reject</p>\
                 </policy_published>{}</feedback>",
                escaped(&org),
                escaped(&id),
                records.concat()
            )
        })
}

fn tls(domain: String) -> impl Strategy<Value = String> {
    (
        text(),
        text(),
        proptest::collection::vec(
            (text(), count(), count(), proptest::collection::vec((text(), count()), 0..10)),
            1..6,
        ),
    )
        .prop_map(move |(org, id, policies)| {
            let policies: Vec<serde_json::Value> = policies
                .into_iter()
                .map(|(mx, ok, failed, details)| {
                    let number = |c: &str| serde_json::from_str::<serde_json::Value>(c).unwrap_or(c.into());
                    serde_json::json!({
                        "policy": {"policy-type": "sts", "policy-domain": domain, "mx-host": [mx]},
                        "summary": {"total-successful-session-count": number(&ok),
                                    "total-failure-session-count": number(&failed)},
                        "failure-details": details.into_iter().map(|(t, n)| serde_json::json!({
                            "result-type": t, "failed-session-count": number(&n)})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            serde_json::json!({
                "organization-name": org, "report-id": id,
                "date-range": {"start-datetime": "2025-01-01T00:00:00Z",
                               "end-datetime": "2025-01-01T23:59:59Z"},
                "policies": policies,
            })
            .to_string()
        })
}

/// Stores every report of `input` in `store` and checks what reads back.
async fn round_trip<S: Store>(store: &S, input: &[u8], domain: &str) {
    let limits = Limits::default();
    let intake = parse_input(input, &limits);
    for parsed in intake.reports {
        assert!(json_len(&parsed.report) <= limits.max_report_json_bytes);
        let stored = StoredReport {
            id: parsed.id.clone(),
            message: RawKey::new("property/case").unwrap(),
            received_at: 1_790_000_000,
            mail: None,
            origin: parsed.origin,
            report: parsed.report,
            sources: Default::default(),
        };
        let put = store.put_report(&stored, WriteMode::Insert).await.unwrap();
        assert_eq!(put, PutReport::Stored);
        let back = store.report(&parsed.id).await.unwrap().expect("stored");
        assert_eq!(back, stored);
        assert_eq!(stored.domain(), domain);
        // Every counter, and every total, stops at 2^53 - 1: a sum over days is compared
        // as the summary computes it, and a day's parts as that day stores them.
        let days = store.day_counts(domain, &DayRange::all()).await.unwrap();
        let max = MAX_COUNT as i64;
        let get =
            |c: &rampart_store::tally::Counters, name: &str| c.get(name).copied().unwrap_or(0);
        let sum = |name: &str| -> u64 {
            days.iter()
                .map(|(_, c)| get(c, name))
                .fold(0, |s, n| (s + n).min(max)) as u64
        };
        for (day, c) in &days {
            assert!(c.values().all(|v| (0..=max).contains(v)), "{day}: {c:?}");
            let parts = (get(c, "dmarc_pass") + get(c, "dmarc_fail")).min(max);
            assert_eq!(parts, get(c, "messages"), "{day}");
        }
        match &stored.report {
            Report::Aggregate(r) => assert_eq!(sum("messages"), r.message_count()),
            Report::Tls(r) => {
                assert_eq!(sum("tls_successful"), r.successful_sessions());
                assert_eq!(sum("tls_failed"), r.failed_sessions());
            }
        }
    }
}

fn check(input: String, domain: String) {
    let s = stores();
    s.runtime.block_on(async {
        round_trip(&s.embedded, input.as_bytes(), &domain).await;
        round_trip(&s.aws, input.as_bytes(), &domain).await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_aggregate_report_parsed_is_stored_and_read_back(
        (xml, domain) in Just(()).prop_flat_map(|_| { let d = next_domain(); (aggregate(d.clone()), Just(d)) })
    ) {
        check(xml, domain);
    }

    #[test]
    fn every_tls_report_parsed_is_stored_and_read_back(
        (json, domain) in Just(()).prop_flat_map(|_| { let d = next_domain(); (tls(d.clone()), Just(d)) })
    ) {
        check(json, domain);
    }
}
