//! The DNS health checks against a real DNS server on 127.0.0.1 (hickory-server, one zone
//! per case) and Rampart's own policy host over HTTPS with a test CA: each check's passing
//! case and its failing cases, with exact findings.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use rampart_checks::dns::Dns;
use rampart_checks::mta_sts::{Fetcher, Reach};
use rampart_checks::{Checker, Expect, Report, Severity};
use rampart_mta_sts::{Policy, PolicyMode};
use rampart_query::checks;
use rampart_store::Store;
use serde_json::json;

use common::api::{app_checking, call, get, register};
use common::dns;
use common::dns_world::{INBOUND, NOW, ZONE, checker, hosted_versions, world, zone};

/// `(code, severity)` of every finding.
fn codes(report: &Report) -> BTreeSet<(String, Severity)> {
    report
        .findings
        .iter()
        .map(|f| (f.code.clone(), f.severity))
        .collect()
}

fn set(items: &[(&str, Severity)]) -> BTreeSet<(String, Severity)> {
    items.iter().map(|(c, s)| ((*c).to_owned(), *s)).collect()
}

fn message<'r>(report: &'r Report, code: &str) -> &'r str {
    &report
        .finding(code)
        .unwrap_or_else(|| panic!("no {code} in {:#?}", report.findings))
        .message
}

use Severity::{Critical, Error, Info, Ok as Pass, Warning};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_with_every_record_right_passes_every_check() {
    let world = world().await;
    let mut expect = world.expect("good.test");
    expect.dkim = vec![("good.test".into(), "sel1".into())];
    let report = world.checker.check("good.test", &expect, NOW).await;
    assert_eq!(
        codes(&report),
        set(&[
            ("dmarc.rua_rampart", Pass),
            ("dmarc.destination_authorised", Pass),
            ("dmarc.valid", Pass),
            ("spf.valid", Pass),
            ("mx.resolves", Pass),
            ("mx.covered", Pass),
            ("mta_sts.id_current", Pass),
            ("mta_sts.policy_served", Pass),
            ("tlsrpt.rua_rampart", Pass),
            ("dkim.key", Pass),
        ]),
        "{:#?}",
        report.findings
    );
    assert_eq!(report.worst, Pass);
    assert_eq!(
        message(&report, "spf.valid"),
        "one valid record; 1 of 10 DNS lookups, 0 void"
    );
    assert_eq!(
        message(&report, "dkim.key"),
        "sel1._domainkey.good.test: a 2048-bit RSA key"
    );
    assert_eq!(report.seen.mx, vec!["10 mx1.good.test"]);
    assert_eq!(
        report.seen.dmarc,
        vec![format!("v=DMARC1; p=reject; rua=mailto:{INBOUND}")]
    );
    assert_eq!(report.policy_fix, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_outside_an_enforced_policy_is_critical_and_the_fix_adds_it() {
    let world = world().await;
    let report = world.check("drift.test").await;
    assert_eq!(report.worst, Critical);
    let finding = report.finding("mx.not_in_policy").unwrap();
    assert_eq!(finding.severity, Critical);
    assert_eq!(
        finding.message,
        "the MX hosts a.b.drift.test, mx2.other.example are not covered by the MTA-STS \
         policy Rampart hosts (mx: *.drift.test); senders that apply MTA-STS refuse to \
         deliver to it: mail to the domain bounces or queues"
    );
    let fix = report.policy_fix.as_ref().unwrap();
    assert_eq!(fix.mode, PolicyMode::Enforce);
    assert_eq!(
        fix.mx,
        vec!["*.drift.test", "a.b.drift.test", "mx2.other.example"]
    );
    assert_eq!(fix.uncovered, vec!["a.b.drift.test", "mx2.other.example"]);
    assert_eq!(fix.max_age, 604_800);
    // The fix is a policy Rampart accepts, and it covers every live MX.
    let (fixed, _) = Policy::new(fix.mode, &fix.mx, fix.max_age).unwrap();
    let live = ["mx1.drift.test", "a.b.drift.test", "mx2.other.example"].map(String::from);
    assert!(rampart_checks::uncovered(&fixed.mx, &live).is_empty());

    // In testing mode the same drift is a warning: mail still arrives.
    let report = world.check("trial.test").await;
    let finding = report.finding("mx.not_in_policy").unwrap();
    assert_eq!(finding.severity, Warning);
    assert!(finding.message.contains("switching to enforce now"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mta_sts_id_and_policy_host_problems_are_named() {
    let world = world().await;
    let report = world.check("stale.test").await;
    let finding = report.finding("mta_sts.id_mismatch").unwrap();
    assert_eq!(finding.severity, Error);
    let id = world.versions[3].policy.id();
    assert_eq!(
        finding.message,
        format!(
            "_mta-sts.stale.test announces id 20240101T000000, but Rampart serves the policy \
             with id {id}: senders that cached an older policy keep it and never fetch the \
             new one"
        )
    );
    assert_eq!(
        report.finding("mta_sts.policy_served").unwrap().severity,
        Pass
    );

    // While the new id waits for caches (RFC 8461 §8.1) the old one is expected.
    let mut expect = world.expect("stale.test");
    expect.hosted.as_mut().unwrap().published_id = Some("20240101T000000".into());
    let report = world.checker.check("stale.test", &expect, NOW).await;
    assert_eq!(report.finding("mta_sts.id_pending").unwrap().severity, Info);
    assert!(report.finding("mta_sts.id_mismatch").is_none());

    let report = world.check("foreign.test").await;
    let finding = report.finding("mta_sts.policy_differs").unwrap();
    assert_eq!(finding.severity, Error);
    assert!(
        finding
            .message
            .contains("(mode testing, mx mx.foreign.test)"),
        "{}",
        finding.message
    );

    for (domain, why) in [
        (
            "redirect.test",
            "answers 301 Moved Permanently, a redirect to https://www.redirect.test/mta-sts.txt: \
             senders do not follow redirects",
        ),
        ("html.test", "is served as \"text/html\", not text/plain"),
        // No certificate names this host: the TLS handshake fails as a sender's would.
        ("notls.test", "mta-sts.notls.test"),
    ] {
        let report = world.checker.check(domain, &Expect::default(), NOW).await;
        let found = report.finding("mta_sts.fetch_failed");
        if domain == "notls.test" {
            // No _mta-sts record: a domain without MTA-STS is not fetched at all.
            assert!(found.is_none());
            assert_eq!(report.finding("mta_sts.none").unwrap().severity, Info);
            continue;
        }
        let found = found.unwrap_or_else(|| panic!("{domain}: {:#?}", report.findings));
        assert!(found.message.contains(why), "{domain}: {}", found.message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_rampart_does_not_host_is_read_and_checked_against_mx() {
    let world = world().await;
    let report = world
        .checker
        .check("own.test", &Expect::default(), NOW)
        .await;
    assert_eq!(
        report.finding("mta_sts.policy_served").unwrap().severity,
        Pass
    );
    let finding = report.finding("mx.not_in_policy").unwrap();
    assert_eq!(finding.severity, Critical);
    assert!(finding.message.contains(
        "the MX host backup.elsewhere.example is not covered by the domain's MTA-STS policy"
    ));
    // Rampart offers no PUT for a policy it does not host.
    assert_eq!(report.policy_fix, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_limits_loops_and_permissive_records_are_found() {
    let world = world().await;
    let none = Expect::default();
    let check = |d: &'static str| world.checker.check(d, &none, NOW);

    let report = check("lookups.test").await;
    assert_eq!(
        message(&report, "spf.too_many_lookups"),
        "the record needs 11 DNS lookups through its includes; receivers stop at 10 and \
         answer permerror, so SPF fails for the sources listed after that (the limit is \
         crossed at lookups.test → i1.lookups.test → i2.lookups.test → i3.lookups.test → \
         i4.lookups.test → i5.lookups.test → i6.lookups.test → i7.lookups.test → \
         i8.lookups.test → i9.lookups.test → i10.lookups.test)"
    );
    assert!(report.finding("spf.valid").is_none());

    let report = check("voids.test").await;
    assert_eq!(
        message(&report, "spf.too_many_void_lookups"),
        "3 lookups of the record find nothing (NXDOMAIN or no record); receivers allow 2 and \
         then answer permerror"
    );

    let report = check("loop.test").await;
    assert_eq!(
        message(&report, "spf.loop"),
        "loop.test → _spf.loop.test → loop.test includes itself: receivers answer permerror"
    );

    let report = check("open.test").await;
    assert_eq!(
        codes(&report)
            .into_iter()
            .filter(|(c, _)| c.starts_with("spf."))
            .collect::<BTreeSet<_>>(),
        set(&[
            ("spf.pass_all", Critical),
            ("spf.ptr", Warning),
            ("spf.include_missing", Error),
        ])
    );

    let report = check("twospf.test").await;
    assert_eq!(report.finding("spf.multiple").unwrap().severity, Error);

    let report = check("nothing.test").await;
    assert_eq!(report.finding("spf.missing").unwrap().severity, Warning);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_discovery_tags_and_report_destinations_are_checked() {
    let world = world().await;
    let report = world.check("twodmarc.test").await;
    assert_eq!(
        codes(&report)
            .into_iter()
            .filter(|(c, _)| c.starts_with("dmarc."))
            .collect::<BTreeSet<_>>(),
        set(&[("dmarc.multiple", Error), ("dmarc.stray_record", Info)])
    );

    let report = world.check("unauth.test").await;
    let unauthorised: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code == "dmarc.destination_unauthorised")
        .map(|f| (f.severity, f.fix.clone().unwrap()))
        .collect();
    assert_eq!(
        unauthorised,
        vec![
            (
                Error,
                format!(
                    "unauth.test._report._dmarc.{ZONE} TXT \"v=DMARC1\" (Rampart's operator \
                     publishes it)"
                )
            ),
            (
                Warning,
                "unauth.test._report._dmarc.partner.example TXT \"v=DMARC1\" (the \
                 destination's owner publishes it)"
                    .to_owned()
            ),
        ]
    );
    assert_eq!(
        report.finding("tlsrpt.missing").unwrap().fix.as_deref(),
        Some(format!("_smtp._tls.unauth.test TXT \"v=TLSRPTv1; rua=mailto:{INBOUND}\"").as_str())
    );

    let report = world.check("norua.test").await;
    assert_eq!(
        report.finding("dmarc.no_rua").unwrap().fix.as_deref(),
        Some(format!("_dmarc.norua.test TXT \"v=DMARC1; p=none; rua=mailto:{INBOUND}\"").as_str())
    );
    assert_eq!(report.finding("dmarc.monitoring").unwrap().severity, Info);

    let report = world.check("badtags.test").await;
    let dmarc: Vec<(String, Severity)> = report
        .findings
        .iter()
        .filter(|f| f.code.starts_with("dmarc."))
        .map(|f| (f.message.clone(), f.severity))
        .collect();
    assert_eq!(
        dmarc,
        vec![
            (
                "p=block is not one of none, quarantine, reject".to_owned(),
                Error
            ),
            ("adkim=x is not one of r, s".to_owned(), Error),
            (
                format!(
                    "rua= does not include Rampart's address {INBOUND}: Rampart receives no \
                     reports for this domain, so its dashboard shows no data rather than no \
                     spoofing"
                ),
                Error
            ),
            (
                "foo= is not a DMARC tag: receivers ignore it (a typo?)".to_owned(),
                Warning
            ),
            (
                "pct=50 was removed by RFC 9989: newer receivers ignore it".to_owned(),
                Info
            ),
        ]
    );

    // A subdomain without a record of its own inherits the organisational domain's.
    let report = world.check("sub.good.test").await;
    assert_eq!(report.finding("dmarc.inherited").unwrap().severity, Info);
    assert!(report.finding("dmarc.missing").is_none());

    let report = world.check("nothing.test").await;
    assert_eq!(report.finding("dmarc.missing").unwrap().severity, Error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tlsrpt_and_dkim_records_are_checked() {
    let world = world().await;
    let report = world.check("twotls.test").await;
    assert_eq!(report.finding("tlsrpt.multiple").unwrap().severity, Error);
    let report = world.check("elsewhere.test").await;
    assert_eq!(
        report
            .finding("tlsrpt.rua_not_rampart")
            .unwrap()
            .fix
            .as_deref(),
        Some(
            format!(
                "_smtp._tls.elsewhere.test TXT \"v=TLSRPTv1; \
                 rua=https://tls.vendor.example/report,mailto:{INBOUND}\""
            )
            .as_str()
        )
    );

    let mut expect = world.expect("good.test");
    expect.dkim = vec![
        ("good.test".into(), "weak".into()),
        ("good.test".into(), "gone".into()),
    ];
    let report = world.checker.check("good.test", &expect, NOW).await;
    let dkim: Vec<(&str, Severity)> = report
        .findings
        .iter()
        .filter(|f| f.code.starts_with("dkim."))
        .map(|f| (f.code.as_str(), f.severity))
        .collect();
    assert_eq!(
        dkim,
        vec![("dkim.key_weak", Error), ("dkim.key_missing", Error)]
    );
    assert_eq!(
        message(&report, "dkim.key_weak"),
        "weak._domainkey.good.test: a 512-bit RSA key; receivers refuse keys under 1024 bits \
         (RFC 8301)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_costs_a_warning_not_a_verdict() {
    let silent = dns::silent().await;
    let resolver = Dns::with_servers(&[silent.addr], Duration::from_millis(200), 80).unwrap();
    let fetcher = Fetcher::new(&resolver, None, Reach::PublicOnly).unwrap();
    let checker = Checker::new(resolver, fetcher);
    let report = checker.check("good.test", &Expect::default(), NOW).await;
    assert_eq!(report.worst, Warning, "{:#?}", report.findings);
    assert!(
        report.findings.iter().all(|f| f.code == "dns.unanswered"
            || f.code == "mta_sts.fetch_failed"
            || f.severity == Warning),
        "{:#?}",
        report.findings
    );
    assert!(report.finding("dmarc.missing").is_none());
    assert!(report.finding("spf.missing").is_none());
}

/// The enforce guard through the API: an enforced policy that leaves live MX hosts out is
/// refused with the hosts named and the policy that covers them, `force` overrides it, and
/// the covering policy passes; each stored change asks for a check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_is_refused_while_live_mx_is_not_covered() {
    let world = world().await;
    let store = Arc::new(common::backends::embedded());
    let app = app_checking(
        Arc::clone(&store),
        || NOW,
        checker(world.dns.addr, &world.ca, world.https.port),
    );
    assert_eq!(register(&app, "drift.test").await.status, 201);
    let uri = "/v1/domains/drift.test/mta-sts";
    let enforce = json!({"mode": "enforce", "mx": ["*.drift.test"], "max_age": 604800});
    let refused = call(&app, Method::PUT, uri, Some(enforce.clone())).await;
    assert_eq!(refused.status, 409);
    assert_eq!(
        refused.json(),
        json!({
            "error": "mx_not_covered",
            "message": "mode enforce would make senders refuse mail for drift.test: its live \
                        MX hosts a.b.drift.test, mx2.other.example are not covered by mx \
                        (*.drift.test); PUT {\"max_age\":604800,\"mode\":\"enforce\",\"mx\":\
                        [\"*.drift.test\",\"a.b.drift.test\",\"mx2.other.example\"]} to cover \
                        them, or send \"force\": true"
        })
    );
    assert!(store.policies("drift.test").await.unwrap().is_empty());
    assert!(store.check_requests().await.unwrap().is_empty());
    // Testing mode is not guarded: nothing bounces in it.
    let testing = json!({"mode": "testing", "mx": ["*.drift.test"], "max_age": 604800});
    assert_eq!(
        call(&app, Method::PUT, uri, Some(testing)).await.status,
        201
    );
    let mut forced = enforce.clone();
    forced["force"] = json!(true);
    assert_eq!(call(&app, Method::PUT, uri, Some(forced)).await.status, 201);
    assert_eq!(store.check_requests().await.unwrap(), vec!["drift.test"]);
    let covering = json!({
        "mode": "enforce",
        "mx": ["*.drift.test", "a.b.drift.test", "mx2.other.example"],
        "max_age": 604800
    });
    let stored = call(&app, Method::PUT, uri, Some(covering)).await;
    assert_eq!(stored.status, 201, "{}", stored.json());
    assert_eq!(store.policies("drift.test").await.unwrap().len(), 3);

    // A domain whose MX cannot be read is not enforced blind.
    let silent = dns::silent().await;
    let app = app_checking(
        Arc::clone(&store),
        || NOW,
        checker(silent.addr, &world.ca, world.https.port),
    );
    assert_eq!(register(&app, "other.test").await.status, 201);
    let refused = call(
        &app,
        Method::PUT,
        "/v1/domains/other.test/mta-sts",
        Some(json!({"mode": "enforce", "mx": ["mx.other.test"], "max_age": 604800})),
    )
    .await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.json()["error"], "mx_unverified");
}

/// `POST …/checks` runs and stores a check; `GET` shows it with the history; the domain list
/// carries the verdict; a second run with other records says which changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_are_run_stored_and_listed_through_the_api() {
    let world = world().await;
    let store = Arc::new(common::backends::embedded());
    let app = app_checking(
        Arc::clone(&store),
        || NOW,
        checker(world.dns.addr, &world.ca, world.https.port),
    );
    assert_eq!(register(&app, "drift.test").await.status, 201);
    let uri = "/v1/domains/drift.test/checks";
    assert_eq!(
        get(&app, uri).await.json(),
        json!({"domain": "drift.test", "latest": null, "history": []})
    );
    let forced =
        json!({"mode": "enforce", "mx": ["*.drift.test"], "max_age": 604800, "force": true});
    let put = call(
        &app,
        Method::PUT,
        "/v1/domains/drift.test/mta-sts",
        Some(forced),
    )
    .await;
    assert_eq!(put.status, 201);
    let ran = call(&app, Method::POST, uri, None).await;
    assert_eq!(ran.status, 200);
    let body = ran.json();
    assert_eq!(body["latest"]["worst"], "critical");
    assert_eq!(body["latest"]["checked_at"], "2026-09-21T14:13:20Z");
    assert_eq!(body["latest"]["findings"][0]["code"], "mx.not_in_policy");
    assert_eq!(
        body["latest"]["policy_fix"],
        json!({
            "mode": "enforce",
            "mx": ["*.drift.test", "a.b.drift.test", "mx2.other.example"],
            "max_age": 604800,
            "uncovered": ["a.b.drift.test", "mx2.other.example"]
        })
    );
    assert_eq!(
        body["history"],
        json!([{"checked_at": "2026-09-21T14:13:20Z", "worst": "critical", "changed": []}])
    );
    assert_eq!(get(&app, uri).await.json(), body);
    // Where no DNS may be asked, the history reads and a run is refused with the reason.
    let off = common::api::app(Arc::clone(&store), None);
    assert_eq!(get(&off, uri).await.json(), body);
    let refused = call(&off, Method::POST, uri, None).await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.json()["error"], "checks_disabled");
    let listed = get(&app, "/v1/domains").await.json();
    assert_eq!(
        listed["domains"][0]["dns_health"],
        json!({"worst": "critical", "checked_at": "2026-09-21T14:13:20Z"})
    );

    // The owner fixes MX (a zone with only mx1.drift.test); the next run says MX changed.
    let versions = hosted_versions();
    let fixed: Vec<(String, &str, String)> = zone(&versions)
        .into_iter()
        .filter(|(name, kind, value)| {
            !(name == "drift.test" && *kind == "MX" && value != "10 mx1.drift.test")
        })
        .collect();
    let borrowed: Vec<(&str, &str, &str)> = fixed
        .iter()
        .map(|(n, k, v)| (n.as_str(), *k, v.as_str()))
        .collect();
    let server = dns::serve(&borrowed).await;
    let later = checker(server.addr, &world.ca, world.https.port);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 9, 22).unwrap();
    let second = checks::run(
        &*store,
        &later,
        &common::api::endpoints(),
        "drift.test",
        today,
        NOW + 86_400,
    )
    .await
    .unwrap();
    let latest = second.latest.unwrap();
    assert_eq!(latest.worst, Pass, "{:#?}", latest.findings);
    assert!(latest.policy_fix.is_none());
    let history: Vec<(Severity, Vec<rampart_checks::Area>)> = second
        .history
        .iter()
        .map(|h| (h.worst, h.changed.clone()))
        .collect();
    assert_eq!(
        history,
        vec![
            (latest.worst, vec![rampart_checks::Area::Mx]),
            (Critical, vec![])
        ]
    );
}

/// The scheduled run (the ingest function's schedule on AWS, a loop in `rampart serve`):
/// requested domains first, then every registered domain once a day; on both stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_runs_check_requested_and_day_old_domains_on_sqlite() {
    scheduled_runs(common::backends::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_runs_check_requested_and_day_old_domains_on_dynamodb() {
    scheduled_runs(common::backends::aws().await).await;
}

async fn scheduled_runs<S: Store>(store: S) {
    let world = world().await;
    let endpoints = common::api::endpoints();
    for domain in ["good.test", "stale.test", "lookups.test"] {
        store.register_domain(domain, NOW - 10).await.unwrap();
    }
    store.request_check("stale.test").await.unwrap();
    let first = checks::run_due(&store, &world.checker, &endpoints, NOW)
        .await
        .unwrap();
    assert_eq!(
        first.checked,
        vec![
            ("good.test".to_owned(), Pass),
            ("lookups.test".to_owned(), Error),
            // Not hosted in this store: the policy its host serves is valid and covers MX.
            ("stale.test".to_owned(), Pass),
        ]
    );
    assert!(first.failed.is_empty());
    assert!(store.check_requests().await.unwrap().is_empty());
    let stored = checks::show(&store, "lookups.test").await.unwrap();
    let codes: Vec<String> = stored
        .latest
        .unwrap()
        .findings
        .iter()
        .filter(|f| f.severity == Error)
        .map(|f| f.code.clone())
        .collect();
    assert_eq!(codes, vec!["dmarc.missing", "spf.too_many_lookups"]);
    // Nothing is due an hour later, except what is asked for.
    store.request_check("good.test").await.unwrap();
    let again = checks::run_due(&store, &world.checker, &endpoints, NOW + 3_600)
        .await
        .unwrap();
    let checked: Vec<&str> = again.checked.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(checked, vec!["good.test"]);
    // A day later every domain is due again.
    let next_day = checks::run_due(&store, &world.checker, &endpoints, NOW + 86_400)
        .await
        .unwrap();
    assert_eq!(next_day.checked.len(), 2, "{next_day:?}");
    assert_eq!(store.checks("stale.test", 10).await.unwrap().len(), 2);
}

/// The domains whose verdicts are compared with checkdmarc's.
const COMPARED: [&str; 13] = [
    "good.test",
    "lookups.test",
    "voids.test",
    "loop.test",
    "open.test",
    "twospf.test",
    "nothing.test",
    "twodmarc.test",
    "unauth.test",
    "norua.test",
    "badtags.test",
    "twotls.test",
    "elsewhere.test",
];

/// checkdmarc (PyPI), asked of the same DNS server: its verdict on each domain's SPF,
/// DMARC and TLS-RPT records.
fn checkdmarc(dns: std::net::SocketAddr) -> serde_json::Value {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-test/bin/python");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/checkdmarc_verdicts.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(dns.to_string())
        .args(COMPARED)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/test installs checkdmarc into .venv-test)",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "checkdmarc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Rampart's verdicts next to checkdmarc's, per domain and record: checkdmarc's `valid`,
/// a fragment of its error, and Rampart's findings of warning or worse. Where checkdmarc
/// says a record "does not exist", Rampart must say `<area>.missing` (a rule, not listed).
/// The differences, each deliberate (docs/dns-checks.md):
/// - a missing SPF or TLS-RPT record is an error to checkdmarc and a warning to Rampart:
///   neither record is required for DMARC, and Rampart reserves errors for what breaks;
/// - `norua.test`: checkdmarc accepts a record without `rua=` (a warning); to Rampart it is
///   an error, since no report reaches anyone;
/// - `open.test`: checkdmarc stops at the first permerror and has no `+all` check; Rampart
///   lists every problem, `+all` as critical;
/// - `badtags.test`: checkdmarc stops at the first bad value; Rampart lists all of them;
/// - `good.test`: checkdmarc also warns that the report address's domain has no MX (Rampart
///   does not check the destination's MX: its own inbound domain is SES's to run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_agree_with_checkdmarc_except_where_explained() {
    let world = world().await;
    let addr = world.dns.addr;
    let theirs = tokio::task::spawn_blocking(move || checkdmarc(addr))
        .await
        .unwrap();
    type Row = (
        &'static str,
        &'static str,
        bool,
        &'static str,
        Vec<&'static str>,
    );
    let expected: Vec<Row> = vec![
        ("good.test", "spf", true, "", vec![]),
        ("good.test", "dmarc", true, "", vec![]),
        ("good.test", "tlsrpt", true, "", vec![]),
        (
            "lookups.test",
            "spf",
            false,
            "requires 11/10 maximum DNS lookups",
            vec!["spf.too_many_lookups"],
        ),
        (
            "voids.test",
            "spf",
            false,
            "has 3/2 maximum void DNS lookups",
            vec!["spf.too_many_void_lookups"],
        ),
        (
            "loop.test",
            "spf",
            false,
            "Redirect loop: loop.test",
            vec!["spf.loop"],
        ),
        (
            "open.test",
            "spf",
            false,
            "The include target nospf.test has no SPF record",
            vec!["spf.pass_all", "spf.include_missing", "spf.ptr"],
        ),
        (
            "twospf.test",
            "spf",
            false,
            "multiple SPF TXT records",
            vec!["spf.multiple"],
        ),
        (
            "twodmarc.test",
            "dmarc",
            false,
            "Multiple DMARC policy records",
            vec!["dmarc.multiple"],
        ),
        (
            "unauth.test",
            "dmarc",
            true,
            "",
            vec![
                "dmarc.destination_unauthorised",
                "dmarc.destination_unauthorised",
            ],
        ),
        ("norua.test", "dmarc", true, "", vec!["dmarc.no_rua"]),
        (
            "badtags.test",
            "dmarc",
            false,
            "Tag p must have one of the following values",
            vec![
                "dmarc.invalid_value",
                "dmarc.invalid_value",
                "dmarc.unknown_tag",
            ],
        ),
        (
            "twotls.test",
            "tlsrpt",
            false,
            "Multiple SMTP TLS Reporting records",
            vec!["tlsrpt.multiple"],
        ),
        ("elsewhere.test", "tlsrpt", true, "", vec![]),
    ];
    let mut compared = 0;
    for domain in COMPARED {
        let ours = world.checker.check(domain, &Expect::default(), NOW).await;
        for area in ["spf", "dmarc", "tlsrpt"] {
            let them = &theirs[domain];
            let valid = them[format!("{area}_valid")].as_bool().unwrap();
            let error = them[format!("{area}_error")].as_str().unwrap_or("");
            let codes: Vec<&str> = ours
                .findings
                .iter()
                .filter(|f| f.area.as_str() == area && f.severity >= Warning)
                .map(|f| f.code.as_str())
                .collect();
            let missing = [
                "A DMARC record",
                "An SPF record",
                "An SMTP TLS Reporting record",
                "The domain",
            ]
            .iter()
            .any(|what| error == format!("{what} does not exist."));
            if missing {
                assert_eq!(
                    codes,
                    vec![format!("{area}.missing")],
                    "{domain} {area}: {error}"
                );
                compared += 1;
                continue;
            }
            let row = expected
                .iter()
                .find(|r| r.0 == domain && r.1 == area)
                .unwrap_or_else(|| {
                    panic!("{domain} {area}: not in the table ({valid}, {error:?}, {codes:?})")
                });
            assert_eq!(
                valid, row.2,
                "{domain} {area}: checkdmarc's verdict ({error})"
            );
            assert!(
                error.contains(row.3),
                "{domain} {area}: checkdmarc said {error:?}"
            );
            assert_eq!(codes, row.4, "{domain} {area}: Rampart's findings");
            compared += 1;
        }
    }
    assert_eq!(compared, COMPARED.len() * 3);
    // Both count the same DNS lookups.
    assert_eq!(theirs["lookups.test"]["spf_lookups"], 11);
    assert_eq!(theirs["good.test"]["spf_lookups"], 1);
    assert_eq!(
        theirs["good.test"]["dmarc_warnings"][0],
        "The domain for rua email address reports@rua.rampart.example has no MX records."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_failing_cases_each_name_their_problem() {
    let world = world().await;
    let none = Expect::default();
    let report = world.check("notxt.test").await;
    let finding = report
        .finding("mta_sts.txt_missing")
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    assert_eq!(finding.severity, Error);
    assert_eq!(
        finding.fix.as_deref(),
        Some("_mta-sts.notxt.test CNAME notxt.test._mta-sts.rua.rampart.example")
    );
    assert_eq!(
        message(&report, "mx.host_unresolved"),
        "the MX host mx.notxt.test has no address: senders cannot deliver to it"
    );
    assert!(report.finding("mx.resolves").is_none());

    let report = world.checker.check("badcert.test", &none, NOW).await;
    let failed = message(&report, "mta_sts.fetch_failed");
    assert!(failed.contains("certificate"), "{failed}");
    let report = world.checker.check("big.test", &none, NOW).await;
    assert!(
        message(&report, "mta_sts.fetch_failed")
            .ends_with("is larger than 65536 bytes: senders stop reading"),
        "{:#?}",
        report.findings
    );

    // A server fetches from public addresses only: a domain cannot point it at 127.0.0.1.
    let resolver = Dns::with_servers(&[world.dns.addr], Duration::from_secs(2), 80).unwrap();
    let fetcher = Fetcher::new(&resolver, Some(&world.ca), Reach::PublicOnly)
        .unwrap()
        .with_port(world.https.port);
    let report = Checker::new(resolver, fetcher)
        .check("good.test", &world.expect("good.test"), NOW)
        .await;
    assert!(
        message(&report, "mta_sts.fetch_failed")
            .contains("mta-sts.good.test resolves only to addresses that are not public (127.0.0.1): not fetched"),
        "{:#?}",
        report.findings
    );

    let report = world.checker.check("longspf.test", &none, NOW).await;
    assert_eq!(report.finding("spf.long").unwrap().severity, Warning);
    assert!(report.finding("spf.valid").is_some());
    let report = world.checker.check("badspf.test", &none, NOW).await;
    assert_eq!(
        message(&report, "spf.syntax"),
        "the record is malformed, so receivers answer permerror: \"ip4:192.0.2.300\" is not an \
         IPv4 address or network"
    );
}
