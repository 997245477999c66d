//! Source intelligence through the real binary: `rampart ingest` with a resolver that never
//! answers stores the reports with reverse DNS `unresolved` within the budget, and a later
//! `rampart reprocess --enrich` with a working one fills it in.

#[path = "../../tests/common/dns.rs"]
mod dns;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rampart_formats::Report;
use rampart_sources::ReverseDns;
use rampart_store::embedded::EmbeddedStore;
use rampart_store::{DayRange, Store};
use serde_json::{Value, json};

const REPORT: &str = r#"<?xml version="1.0"?><feedback><report_metadata><org_name>google.com</org_name>
<email>noreply-dmarc-support@google.com</email><report_id>enrich-1</report_id>
<date_range><begin>1709251200</begin><end>1709337599</end></date_range></report_metadata>
<policy_published><domain>example.org</domain><p>reject</p></policy_published>
<record><row><source_ip>209.85.220.41</source_ip><count>10</count><policy_evaluated>
<disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
<identifiers><header_from>example.org</header_from></identifiers></record>
<record><row><source_ip>185.220.101.4</source_ip><count>3</count><policy_evaluated>
<disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
<identifiers><header_from>example.org</header_from></identifiers></record></feedback>"#;

fn rampart(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .env_remove("RAMPART_RESOLVER")
        .env_remove("RAMPART_DATA")
        .output()
        .unwrap()
}

/// Runs the binary off the runtime's threads, so the DNS servers of this test keep answering.
async fn run(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        rampart(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap()
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn reverse_dns(data: &Path) -> Vec<(IpAddr, ReverseDns, Option<String>)> {
    let store = EmbeddedStore::open(data).unwrap();
    let reports = store
        .reports("example.org", &DayRange::new("2024-03-01", "2024-03-01"))
        .await
        .unwrap();
    assert!(matches!(reports[0].report, Report::Aggregate(_)));
    reports[0]
        .sources
        .iter()
        .map(|(ip, s)| (*ip, s.reverse_dns.clone(), s.country.clone()))
        .collect()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprocess_enrich_fills_in_what_a_silent_resolver_left() {
    let dir = fresh_dir("enrich");
    let file = dir.join("report.xml");
    std::fs::write(&file, REPORT).unwrap();
    let data = dir.join("store");
    let (data_arg, file_arg) = (data.to_str().unwrap(), file.to_str().unwrap());

    let silent = dns::silent().await;
    let server = silent.addr.to_string();
    let out = run(&[
        "ingest",
        "--data",
        data_arg,
        "--resolver",
        &server,
        "--dns-budget",
        "1",
        file_arg,
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines(&out)[0]["outcome"], "stored");
    let google: IpAddr = "209.85.220.41".parse().unwrap();
    let tor: IpAddr = "185.220.101.4".parse().unwrap();
    assert_eq!(
        reverse_dns(&data).await,
        [
            (tor, ReverseDns::Unresolved, Some("DE".into())),
            (google, ReverseDns::Unresolved, Some("US".into())),
        ]
    );

    let zone = dns::serve(&[
        (
            &dns::reverse_name(google),
            "PTR",
            "mail-sor-f41.google.com.",
        ),
        ("mail-sor-f41.google.com.", "A", "209.85.220.41"),
    ])
    .await;
    let reprocess = |server: String| async move {
        run(&[
            "reprocess",
            "--enrich",
            "--data",
            data_arg,
            "--resolver",
            &server,
        ])
        .await
    };
    let out = reprocess(zone.addr.to_string()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = lines(&out)[0]["report"].clone();
    assert_eq!(
        lines(&out),
        [
            json!({"report": id, "domain": "example.org", "day": "2024-03-01", "sources": 2,
                "unresolved": 0, "changed": true})
        ]
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "rampart: enriched 1 reports: 1 changed, 0 failed, 0 addresses still unresolved"
    );
    assert_eq!(
        reverse_dns(&data).await,
        [
            (tor, ReverseDns::Absent, Some("DE".into())),
            (
                google,
                ReverseDns::Confirmed {
                    name: "mail-sor-f41.google.com".into()
                },
                Some("US".into())
            ),
        ]
    );
    // Nothing left to fill: a second run changes nothing (and reads the cache).
    drop(zone);
    let out = reprocess(silent.addr.to_string()).await;
    assert_eq!(lines(&out)[0]["changed"], false);
    assert_eq!(lines(&out)[0]["unresolved"], 0);

    // Reading every raw message again while the resolver is down keeps the names known.
    let after_backfill = reverse_dns(&data).await;
    let silent_addr = silent.addr.to_string();
    let out = run(&[
        "reprocess",
        "--data",
        data_arg,
        "--resolver",
        &silent_addr,
        "--dns-budget",
        "1",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines(&out)[0]["outcome"], "duplicate");
    assert_eq!(reverse_dns(&data).await, after_backfill);
}
