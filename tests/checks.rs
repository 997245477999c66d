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

use axum::http::Method;
use common::api::{app_checking, call, get, register};
use common::dns;
use common::https::{self, TestCa};
use rampart_query::checks;
use serde_json::json;

const INBOUND: &str = "reports@rua.rampart.example";
const ZONE: &str = "rua.rampart.example";
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
        "stale.test._mta-sts.rua.rampart.example",
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
    dns: dns::DnsServer,
    ca: Vec<u8>,
    https: https::HttpsServer,
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
    let ca = std::fs::read(&ca.ca).unwrap();
    World {
        checker: checker(server.addr, &ca, https.port),
        versions,
        dns: server,
        ca,
        https,
    }
}

/// Checks asking the DNS server at `dns`, trusting the test CA, fetching policies on `port`.
fn checker(dns: std::net::SocketAddr, ca: &[u8], port: u16) -> Checker {
    let resolver = Dns::with_servers(&[dns], Duration::from_secs(2), 80).unwrap();
    let fetcher = Fetcher::new(&resolver, Some(ca)).unwrap().with_port(port);
    Checker::new(resolver, fetcher)
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
