//! `rampart check` through the real binary against a DNS server on 127.0.0.1: the text a
//! person reads, the JSON a script reads, and the exit code a monitor reads.

#[path = "../../tests/common/dns.rs"]
#[allow(dead_code)]
mod dns;

use std::process::{Command, Output};

use serde_json::Value;

const RUA: &str = "reports@rua.rampart.test";

async fn rampart(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(&args)
            .env_remove("RAMPART_INBOUND_ADDRESS")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

async fn zone() -> dns::DnsServer {
    let dmarc = format!("v=DMARC1; p=reject; rua=mailto:{RUA}");
    dns::serve(&[
        // Nothing wrong (no MTA-STS, no MX: information only).
        ("_dmarc.fine.test", "TXT", &dmarc),
        (
            "fine.test._report._dmarc.rua.rampart.test",
            "TXT",
            "v=DMARC1",
        ),
        ("fine.test", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
        (
            "_smtp._tls.fine.test",
            "TXT",
            &format!("v=TLSRPTv1; rua=mailto:{RUA}"),
        ),
        // ?all: a warning.
        ("_dmarc.soft.test", "TXT", &dmarc),
        (
            "soft.test._report._dmarc.rua.rampart.test",
            "TXT",
            "v=DMARC1",
        ),
        ("soft.test", "TXT", "v=spf1 ip4:192.0.2.0/24 ?all"),
        (
            "_smtp._tls.soft.test",
            "TXT",
            &format!("v=TLSRPTv1; rua=mailto:{RUA}"),
        ),
        // +all: critical.
        ("open.test", "TXT", "v=spf1 +all"),
    ])
    .await
}

fn args(server: &dns::DnsServer, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "check".into(),
        "--dns-server".into(),
        server.addr.to_string(),
        "--rua".into(),
        RUA.into(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exit_code_is_the_worst_finding() {
    let server = zone().await;
    for (domain, code) in [("fine.test", 0), ("soft.test", 1), ("open.test", 2)] {
        let out = rampart(args(&server, &[domain])).await;
        assert_eq!(
            out.status.code(),
            Some(code),
            "{domain}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Several domains: the worst of all.
    let out = rampart(args(&server, &["fine.test", "soft.test"])).await;
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_names_each_problem_and_its_fix() {
    let server = zone().await;
    let out = rampart(args(&server, &["soft.test"])).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "soft.test: WARNING\n\
         \x20 warning  SPF     ?all makes every unlisted server neutral: SPF protects nothing\n\
         \x20                  fix: end the record with ~all or -all\n\
         \x20 info     MX      soft.test has no MX record: senders deliver to its address record, if any\n\
         \x20 info     MTA-STS soft.test publishes no MTA-STS policy: an attacker on the path can make senders deliver its mail without TLS\n\
         \x20 ok       DMARC   aggregate reports go to Rampart (reports@rua.rampart.test)\n\
         \x20 ok       DMARC   rua.rampart.test accepts reports for soft.test (soft.test._report._dmarc.rua.rampart.test)\n\
         \x20 ok       DMARC   _dmarc.soft.test: p=reject\n\
         \x20 ok       SPF     one valid record; 0 of 10 DNS lookups, 0 void\n\
         \x20 ok       TLS-RPT TLS reports go to Rampart\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_is_one_report_per_line() {
    let server = zone().await;
    let out = rampart(args(&server, &["--json", "fine.test", "open.test"])).await;
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["domain"], "fine.test");
    assert_eq!(lines[0]["worst"], "info");
    assert_eq!(lines[1]["domain"], "open.test");
    assert_eq!(lines[1]["worst"], "critical");
    assert_eq!(lines[1]["findings"][0]["code"], "spf.pass_all");
    assert_eq!(lines[1]["findings"][0]["area"], "spf");
    assert_eq!(lines[1]["seen"]["spf"][0], "v=spf1 +all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_cannot_run_says_why_and_exits_3() {
    let out = rampart(vec!["check".into(), "not a domain".into()]).await;
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("rampart check: \"not a domain\" is not a domain name"),
        "{err}"
    );
    let out = rampart(vec![
        "check".into(),
        "example.com".into(),
        "--ca-file".into(),
        "/nonexistent/ca.pem".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "rampart check: /nonexistent/ca.pem: cannot read: No such file or directory (os error 2)\n"
    );
}
