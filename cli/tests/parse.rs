//! `rampart parse` end to end: the real binary on the fixture corpus, exact output.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn rampart(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .current_dir(fixtures())
        .output()
        .unwrap()
}

fn stdout_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn summary_lines_are_exact() {
    let out = rampart(&[
        "parse",
        "--summary",
        "corpus/email/mail-auth/103.eml",
        "corpus/tlsrpt/parsedmarc/mail.ru.json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        concat!(
            r#"{"file":"corpus/email/mail-auth/103.eml","kind":"aggregate","org_name":"Outlook.com","report_id":"725cbfbe133940149987cfc528387235","policy_domain":"stalw.art","begin":1666483200,"end":1666569600,"records":1,"messages":1,"warnings":0}"#,
            "\n",
            r#"{"file":"corpus/tlsrpt/parsedmarc/mail.ru.json","kind":"tlsrpt","org_name":"Mail.ru","report_id":"b28254de-7b2e-be36-bb5c-4c3b92da8b25@mail.ru","policy_domain":"example.com","begin":1708560000,"end":1708646400,"policies":1,"successful_sessions":0,"failed_sessions":1,"warnings":1}"#,
            "\n"
        )
    );
}

#[test]
fn directories_are_walked_and_failures_reported_with_the_file() {
    let out = rampart(&[
        "parse",
        "--summary",
        "corpus/aggregate",
        "corpus/email",
        "corpus/tlsrpt",
    ]);
    assert_eq!(out.status.code(), Some(1), "empty.xml must fail the run");
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 61);
    let messages: u64 = lines
        .iter()
        .filter(|l| l["kind"] == "aggregate")
        .map(|l| l["messages"].as_u64().unwrap())
        .sum();
    let records: u64 = lines
        .iter()
        .filter(|l| l["kind"] == "aggregate")
        .map(|l| l["records"].as_u64().unwrap())
        .sum();
    // Sums of EXPECTED.json over the 42 aggregate reports (lenient facts for malformed files).
    assert_eq!((records, messages), (2390, 11731));
    assert_eq!(lines.iter().filter(|l| l["kind"] == "tlsrpt").count(), 19);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        "rampart: corpus/aggregate/parsedmarc/empty.xml: the input is empty\n"
    );
}

#[test]
fn full_json_carries_the_report_and_mail_facts() {
    let out = rampart(&["parse", "corpus/email/mail-auth/104.eml"]);
    assert!(out.status.success());
    let line = &stdout_lines(&out)[0];
    assert_eq!(line["schema"], "rampart.report.v1");
    assert_eq!(line["message"]["from"], "postmaster@amazonses.com");
    assert_eq!(
        line["origin"]["attachment"],
        "amazonses.com!stalw.art!1663545600!1663632000.xml.gz"
    );
    assert_eq!(line["report"]["kind"], "aggregate");
    assert_eq!(line["report"]["metadata"]["org_name"], "AMAZON-SES");
    assert_eq!(line["report"]["records"][0]["count"], 1);
    assert_eq!(line["id"].as_str().unwrap().len(), 32);
}

#[test]
fn csv_has_one_row_per_record() {
    let out = rampart(&[
        "parse",
        "--format",
        "csv",
        "corpus/aggregate/cry-inc/outlook.xml",
        "corpus/tlsrpt/cry-inc/google.json",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rows.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header[..4], ["file", "org_name", "org_email", "report_id"]);
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 2);
    let count = header.iter().position(|h| h == "count").unwrap();
    let total: u64 = records
        .iter()
        .map(|r| r[count].parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 3);
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("1 TLS-RPT report(s) left out of the CSV")
    );
}

#[test]
fn missing_and_broken_files_name_the_file_and_reason() {
    let out = rampart(&["parse", "no/such.xml", "corpus/forensic/mail-auth/001.eml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "rampart: no/such.xml: no such file or directory\nrampart: corpus/forensic/mail-auth/001.eml: a DMARC failure report (RFC 6591 feedback report); Rampart reads aggregate and TLS reports only\n"
    );
}

#[test]
fn input_limit_names_the_flag() {
    let out = rampart(&[
        "parse",
        "--max-input-bytes",
        "100",
        "corpus/aggregate/cry-inc/acme.xml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "rampart: corpus/aggregate/cry-inc/acme.xml: 1551 bytes is more than the input limit of 100 bytes (raise it with --max-input-bytes)\n"
    );
}
