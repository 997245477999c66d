//! A world of DNS zones and policy hosts for the DNS health checks (tests/checks.rs and the
//! checks benchmark): a hickory server on 127.0.0.1 holding one domain per case, and
//! Rampart's policy host (with three that are not Rampart's) over HTTPS with a test CA.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rampart_api::policy_host::{self, PolicyHost};
use rampart_checks::dns::Dns;
use rampart_checks::mta_sts::{Fetcher, Reach};
use rampart_checks::{Checker, Expect, Hosted, Report};
use rampart_mta_sts::{Policy, PolicyMode, PolicyVersion, Timing};
use rampart_store::Store;
use tower::ServiceExt;

use super::dns;
use super::https::{self, TestCa};

pub const INBOUND: &str = "reports@rua.rampart.example";
pub const ZONE: &str = "rua.rampart.example";
pub const NOW: i64 = 1_790_000_000;

/// A 2048-bit and a 512-bit RSA key (`openssl genpkey`, public half, base64 DER).
pub const RSA_2048: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArUkn39MtzpEnCb87YtKj9f6Dx/FacyxiLRYx/SvrGE11F9ur1E99LqM4IxrUmh6/eNugxonJxPydDMCxtFZ/UluH8K5HiaHRhGIrfD/TtB9so8ppv+iRyYCYhlVEMnRFXVBdo9TsoAh2xnhSbaqb72et17BPZqOM9pCio1voXRN2Yj3k5fl8nt6PyB3YsJI9W8jLLDTuXTil50PY0vOwvethjWsj4KVm/rT2fZoJjIRm0TDBCOI3ErOb82Vg+RrdwbIvLWrBpLLGXBily3YJY62uTQ/p6CQ1p0XXrgA52jz8e+NYoJNI9kVP7ShwyuR0j+F9BmvLe134Z9l6no+hMwIDAQAB";
pub const RSA_512: &str = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALlh4Ubd+iCFNLi6keuhi8E2HC2P5pmsyDkUslpkIoS6zU4kF1HQ6qXjoBVvnzkNythm9fvungFpebYTL77PnxUCAwEAAQ==";

pub fn policy(mode: PolicyMode, mx: &[&str]) -> Policy {
    let mx: Vec<String> = mx.iter().map(|m| (*m).to_owned()).collect();
    Policy::new(mode, &mx, 604_800).unwrap().0
}

pub fn version(domain: &str, policy: Policy) -> PolicyVersion {
    PolicyVersion {
        domain: domain.to_owned(),
        version: 1,
        created_at: NOW - 86_400,
        policy,
        retire_at: None,
    }
}

pub fn hosted(v: &PolicyVersion) -> Hosted {
    Hosted {
        policy: v.policy.clone(),
        body: v.served_body(NOW).unwrap(),
        id: v.policy.id(),
        published_id: None,
    }
}

/// The hosted domains: a good one, one whose MX moved (a two-label host and another
/// provider), one in testing that would break on enforce, one whose `_mta-sts` id is stale,
/// one whose policy host serves another policy, and one without `_mta-sts`.
pub fn hosted_versions() -> Vec<PolicyVersion> {
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
        version(
            "notxt.test",
            policy(PolicyMode::Testing, &["mx.notxt.test"]),
        ),
    ]
}

pub fn zone(versions: &[PolicyVersion]) -> Vec<(String, &'static str, String)> {
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

    // Hosted, but the owner never published _mta-sts (and its MX host has no address).
    add("notxt.test", "MX", "10 mx.notxt.test");
    add("mta-sts.notxt.test", "A", "127.0.0.1");
    // Policy hosts: one whose certificate does not name it, one serving 70 KB.
    for d in ["badcert.test", "big.test"] {
        add(&format!("_mta-sts.{d}"), "TXT", "v=STSv1; id=1;");
        add(&format!("mta-sts.{d}"), "A", "127.0.0.1");
    }
    // SPF: a record too long for UDP answers, and a malformed one.
    let networks: Vec<String> = (0..30).map(|i| format!("ip4:198.51.100.{i}")).collect();
    add(
        "longspf.test",
        "TXT",
        &format!("v=spf1 {} -all", networks.join(" ")),
    );
    add("badspf.test", "TXT", "v=spf1 ip4:192.0.2.300 -all");
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
pub fn policy_hosts<S: Store + 'static>(store: S) -> Router {
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
                "mta-sts.big.test" => plain(Box::leak(
                    format!("version: STSv1\r\nmode: testing\r\nmx: mx.big.test\r\nmax_age: 86400\r\n{}", "x: y\r\n".repeat(14_000))
                        .into_boxed_str(),
                )),
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

pub struct World {
    pub checker: Checker,
    pub versions: Vec<PolicyVersion>,
    pub dns: dns::DnsServer,
    pub ca: Vec<u8>,
    pub https: https::HttpsServer,
}

pub async fn world() -> World {
    let versions = hosted_versions();
    let store = super::backends::embedded();
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
        .join(super::backends::unique("checks-ca"));
    std::fs::create_dir_all(&dir).unwrap();
    // mta-sts.badcert.test is left out: its handshake fails as a sender's would.
    let hosts: Vec<String> = [
        "good", "drift", "trial", "stale", "foreign", "own", "redirect", "html", "notxt", "big",
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
pub fn checker(dns: std::net::SocketAddr, ca: &[u8], port: u16) -> Checker {
    let resolver = Dns::with_servers(&[dns], Duration::from_secs(2), 80).unwrap();
    let fetcher = Fetcher::new(&resolver, Some(ca), Reach::Any)
        .unwrap()
        .with_port(port);
    Checker::new(resolver, fetcher)
}

impl World {
    pub fn expect(&self, domain: &str) -> Expect {
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

    pub async fn check(&self, domain: &str) -> Report {
        self.checker.check(domain, &self.expect(domain), NOW).await
    }
}
