//! The DNS health checks against a real DNS server on 127.0.0.1 (hickory-server, one zone
//! per case) and Rampart's own policy host over HTTPS with a test CA: each check's passing
//! case and its failing cases, with exact findings.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rampart_api::policy_host::{self, PolicyHost};
use rampart_checks::dns::Dns;
use rampart_checks::mta_sts::Fetcher;
use rampart_checks::{Checker, Expect, Hosted, Report, Severity};
use rampart_mta_sts::{Policy, PolicyMode, PolicyVersion, Timing};
use rampart_store::Store;
use tower::ServiceExt;

use common::dns;
use common::https::{self, TestCa};

const INBOUND: &str = "reports@rua.rampart.test";
const ZONE: &str = "rua.rampart.test";
const NOW: i64 = 1_790_000_000;

/// A 2048-bit and a 512-bit RSA key (`openssl genpkey`, public half, base64 DER).
const RSA_2048: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArUkn39MtzpEnCb87YtKj9f6Dx/FacyxiLRYx/SvrGE11F9ur1E99LqM4IxrUmh6/eNugxonJxPydDMCxtFZ/UluH8K5HiaHRhGIrfD/TtB9so8ppv+iRyYCYhlVEMnRFXVBdo9TsoAh2xnhSbaqb72et17BPZqOM9pCio1voXRN2Yj3k5fl8nt6PyB3YsJI9W8jLLDTuXTil50PY0vOwvethjWsj4KVm/rT2fZoJjIRm0TDBCOI3ErOb82Vg+RrdwbIvLWrBpLLGXBily3YJY62uTQ/p6CQ1p0XXrgA52jz8e+NYoJNI9kVP7ShwyuR0j+F9BmvLe134Z9l6no+hMwIDAQAB";
const RSA_512: &str = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALlh4Ubd+iCFNLi6keuhi8E2HC2P5pmsyDkUslpkIoS6zU4kF1HQ6qXjoBVvnzkNythm9fvungFpebYTL77PnxUCAwEAAQ==";

fn policy(mode: PolicyMode, mx: &[&str]) -> Policy {
    let mx: Vec<String> = mx.iter().map(|m| (*m).to_owned()).collect();
    Policy::new(mode, &mx, 604_800).unwrap().0
}

fn version(domain: &str, policy: Policy) -> PolicyVersion {
    PolicyVersion {
        domain: domain.to_owned(),
        version: 1,
        created_at: NOW - 86_400,
        policy,
        retire_at: None,
    }
}

fn hosted(v: &PolicyVersion) -> Hosted {
    Hosted {
        policy: v.policy.clone(),
        body: v.served_body(NOW).unwrap(),
        id: v.policy.id(),
        published_id: None,
    }
}

/// The hosted domains: a good one, one whose MX moved (a two-label host and another
/// provider), one in testing that would break on enforce, and one whose `_mta-sts` id is
/// stale.
fn hosted_versions() -> Vec<PolicyVersion> {
    vec![
        version("good.test", policy(PolicyMode::Enforce, &["mx1.good.test"])),
        version("drift.test", policy(PolicyMode::Enforce, &["*.drift.test"])),
        version(
            "trial.test",
            policy(PolicyMode::Testing, &["mx.trial.test"]),
        ),
        version(
            "stale.test",
            policy(PolicyMode::Enforce, &["mx.stale.test"]),
        ),
        version(
            "foreign.test",
            policy(PolicyMode::Enforce, &["mx.foreign.test"]),
        ),
    ]
}

fn zone(versions: &[PolicyVersion]) -> Vec<(String, &'static str, String)> {
    let id = |d: &str| versions.iter().find(|v| v.domain == d).unwrap().policy.id();
    let mut records: Vec<(String, &'static str, String)> = Vec::new();
    let mut add = |name: &str, kind: &'static str, value: &str| {
        records.push((name.to_owned(), kind, value.to_owned()));
    };
    let dmarc_rampart = format!("v=DMARC1; p=reject; rua=mailto:{INBOUND}");
    let tlsrpt_rampart = format!("v=TLSRPTv1; rua=mailto:{INBOUND}");
    // Everything right.
    for d in [
        "good.test",
        "drift.test",
        "trial.test",
        "stale.test",
        "foreign.test",
    ] {
        add(&format!("_dmarc.{d}"), "TXT", &dmarc_rampart);
        add(&format!("{d}._report._dmarc.{ZONE}"), "TXT", "v=DMARC1");
        add(d, "TXT", "v=spf1 include:_spf.provider.test -all");
        add(&format!("_smtp._tls.{d}"), "TXT", &tlsrpt_rampart);
        add(&format!("mta-sts.{d}"), "A", "127.0.0.1");
        add(
            &format!("_mta-sts.{d}"),
            "CNAME",
            &format!("{d}._mta-sts.{ZONE}"),
        );
    }
    add(
        "_spf.provider.test",
        "TXT",
        "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all",
    );
    add("good.test", "MX", "10 mx1.good.test");
    add("mx1.good.test", "A", "127.0.0.1");
    add(
        "sel1._domainkey.good.test",
        "TXT",
        &format!("v=DKIM1; k=rsa; p={RSA_2048}"),
    );
    add(
        "weak._domainkey.good.test",
        "TXT",
        &format!("v=DKIM1; k=rsa; p={RSA_512}"),
    );
    for d in ["good.test", "drift.test", "trial.test", "foreign.test"] {
        add(
            &format!("{d}._mta-sts.{ZONE}"),
            "TXT",
            &format!("v=STSv1; id={};", id(d)),
        );
    }
    // MX moved: one host two labels under the wildcard, one at another provider.
    add("drift.test", "MX", "10 mx1.drift.test");
    add("drift.test", "MX", "20 a.b.drift.test");
    add("drift.test", "MX", "30 mx2.other.example");
    for host in ["mx1.drift.test", "a.b.drift.test", "mx2.other.example"] {
        add(host, "A", "127.0.0.1");
    }
    add("trial.test", "MX", "10 mx.newprovider.example");
    add("mx.newprovider.example", "A", "127.0.0.1");
    // The id behind the CNAME is not the served one.
    add("stale.test", "MX", "10 mx.stale.test");
    add("mx.stale.test", "A", "127.0.0.1");
    add(
        "stale.test._mta-sts.rua.rampart.test",
        "TXT",
        "v=STSv1; id=20240101T000000;",
    );
    // mta-sts.foreign.test is served by someone else.
    add("foreign.test", "MX", "10 mx.foreign.test");
    add("mx.foreign.test", "A", "127.0.0.1");

    // SPF: 11 lookups through nested includes.
    add("lookups.test", "TXT", "v=spf1 include:i1.lookups.test -all");
    for i in 1..=10 {
        add(
            &format!("i{i}.lookups.test"),
            "TXT",
            &format!(
                "v=spf1 ip4:192.0.2.{i} include:i{}.lookups.test ~all",
                i + 1
            ),
        );
    }
    add("i11.lookups.test", "TXT", "v=spf1 ip4:192.0.2.11 ~all");
    // SPF: three void lookups, NXDOMAIN twice and NODATA once.
    add(
        "voids.test",
        "TXT",
        "v=spf1 a:gone1.voids.test mx:gone2.voids.test a:nodata.voids.test ip4:192.0.2.1 -all",
    );
    add("nodata.voids.test", "TXT", "not an address");
    // SPF: a redirect loop.
    add("loop.test", "TXT", "v=spf1 redirect=_spf.loop.test");
    add(
        "_spf.loop.test",
        "TXT",
        "v=spf1 ip4:192.0.2.1 redirect=loop.test",
    );
    // SPF: +all and ptr, an include of a name without SPF, and two records.
    add("open.test", "TXT", "v=spf1 ptr include:nospf.test +all");
    add("nospf.test", "TXT", "google-site-verification=abc");
    add("twospf.test", "TXT", "v=spf1 -all");
    add("twospf.test", "TXT", "v=spf1 mx -all");

    // DMARC: two records and a stray one.
    add(
        "_dmarc.twodmarc.test",
        "TXT",
        "v=DMARC1; p=none; rua=mailto:a@twodmarc.test",
    );
    add("_dmarc.twodmarc.test", "TXT", "v=DMARC1; p=reject");
    add("_dmarc.twodmarc.test", "TXT", "v=spf1 -all");
    // DMARC: Rampart and a partner never authorised the domain.
    add(
        "_dmarc.unauth.test",
        "TXT",
        &format!("v=DMARC1; p=quarantine; rua=mailto:{INBOUND},mailto:dmarc@partner.example"),
    );
    // DMARC: no rua, bad values, an unknown and a removed tag.
    add("_dmarc.norua.test", "TXT", "v=DMARC1; p=none");
    add(
        "_dmarc.badtags.test",
        "TXT",
        "v=DMARC1; p=block; adkim=x; foo=bar; pct=50; rua=mailto:d@badtags.test",
    );
    // TLS-RPT: two records; another destination only.
    add(
        "_smtp._tls.twotls.test",
        "TXT",
        "v=TLSRPTv1; rua=mailto:a@twotls.test",
    );
    add(
        "_smtp._tls.twotls.test",
        "TXT",
        "v=TLSRPTv1; rua=mailto:b@twotls.test",
    );
    add(
        "_smtp._tls.elsewhere.test",
        "TXT",
        "v=TLSRPTv1; rua=https://tls.vendor.example/report",
    );
    // MTA-STS not hosted by Rampart: the domain's own policy, which does not cover its MX.
    add("_mta-sts.own.test", "TXT", "v=STSv1; id=20250101;");
    add("mta-sts.own.test", "A", "127.0.0.1");
    add("own.test", "MX", "10 mx.own.test");
    add("own.test", "MX", "20 backup.elsewhere.example");
    add("mx.own.test", "A", "127.0.0.1");
    add("backup.elsewhere.example", "A", "127.0.0.1");
    // MTA-STS policy hosts that redirect, or serve HTML.
    for d in ["redirect.test", "html.test"] {
        add(&format!("_mta-sts.{d}"), "TXT", "v=STSv1; id=1;");
        add(&format!("mta-sts.{d}"), "A", "127.0.0.1");
    }
    records
}

/// Rampart's policy host, and three hosts that are not: one serving another policy, one
/// redirecting, one serving HTML, one serving the domain's own policy.
fn policy_hosts<S: Store + 'static>(store: S) -> Router {
    let rampart = policy_host::router(Arc::new(PolicyHost {
        store,
        host_header: header::HOST,
        timing: Timing::default(),
        now: || NOW,
    }));
    Router::new().fallback(move |request: Request| {
        let rampart = rampart.clone();
        async move {
            let host = request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .split(':')
                .next()
                .unwrap_or("")
                .to_owned();
            let plain =
                |body: &'static str| ([(header::CONTENT_TYPE, "text/plain")], body).into_response();
            match host.as_str() {
                "mta-sts.foreign.test" => plain(
                    "version: STSv1\r\nmode: testing\r\nmx: mx.foreign.test\r\nmax_age: 86400\r\n",
                ),
                "mta-sts.own.test" => plain(
                    "version: STSv1\r\nmode: enforce\r\nmx: mx.own.test\r\nmax_age: 604800\r\n",
                ),
                "mta-sts.redirect.test" => Response::builder()
                    .status(StatusCode::MOVED_PERMANENTLY)
                    .header(header::LOCATION, "https://www.redirect.test/mta-sts.txt")
                    .body(axum::body::Body::empty())
                    .unwrap(),
                "mta-sts.html.test" => (
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html>version: STSv1</html>",
                )
                    .into_response(),
                _ => rampart.oneshot(request).await.unwrap(),
            }
        }
    })
}

struct World {
    checker: Checker,
    versions: Vec<PolicyVersion>,
    _dns: dns::DnsServer,
    _https: https::HttpsServer,
}

async fn world() -> World {
    let versions = hosted_versions();
    let store = common::backends::embedded();
    for v in &versions {
        assert!(store.put_policy(v).await.unwrap());
    }
    let records = zone(&versions);
    let borrowed: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|(n, k, v)| (n.as_str(), *k, v.as_str()))
        .collect();
    let server = dns::serve(&borrowed).await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(common::backends::unique("checks-ca"));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts: Vec<String> = [
        "good", "drift", "trial", "stale", "foreign", "own", "redirect", "html",
    ]
    .iter()
    .map(|d| format!("mta-sts.{d}.test"))
    .collect();
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let ca = TestCa::new(&dir, &hosts);
    let https = https::serve(&ca, policy_hosts(store)).await;
    let resolver = Dns::with_servers(&[server.addr], Duration::from_secs(2), 80).unwrap();
    let fetcher = Fetcher::new(&resolver, Some(&std::fs::read(&ca.ca).unwrap()))
        .unwrap()
        .with_port(https.port);
    World {
        checker: Checker::new(resolver, fetcher),
        versions,
        _dns: server,
        _https: https,
    }
}

impl World {
    fn expect(&self, domain: &str) -> Expect {
        Expect {
            inbound_address: Some(INBOUND.to_owned()),
            tlsrpt_url: None,
            policy_zone: Some(ZONE.to_owned()),
            mta_sts_host: Some("policy.rampart.test".to_owned()),
            hosted: self
                .versions
                .iter()
                .find(|v| v.domain == domain)
                .map(hosted),
            dkim: Vec::new(),
        }
    }

    async fn check(&self, domain: &str) -> Report {
        self.checker.check(domain, &self.expect(domain), NOW).await
    }
}

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
    let fetcher = Fetcher::new(&resolver, None).unwrap();
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
