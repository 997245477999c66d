//! Every report in the fixture corpus gives exactly the facts in its EXPECTED.json.
//!
//! `fixtures/corpus` is a copy of the team corpus (see its MANIFEST.md for sources and
//! licences); `fixtures/generated` holds reports made by `gen_aggregate.py` (see its README).

mod common;

use common::expected::{check_aggregate, check_tls, corpus_report_files, expected, s};
use common::{fixture, parse_fixture};
use rampart_formats::intake::{IntakeError, Report};
use serde_json::Value;

fn check(file: &str, want_reports: &[Value]) -> usize {
    let intake = parse_fixture(file);
    let real: Vec<&Value> = want_reports
        .iter()
        .filter(|r| r["kind"] != "empty")
        .collect();
    if real.is_empty() {
        assert!(intake.reports.is_empty(), "{file}");
        assert_eq!(intake.problems[0].error, IntakeError::Empty, "{file}");
        return 0;
    }
    assert_eq!(
        intake.reports.len(),
        real.len(),
        "{file}: {:?}",
        intake.problems
    );
    assert!(intake.problems.is_empty(), "{file}: {:?}", intake.problems);
    for (want, got) in real.iter().zip(&intake.reports) {
        match (&got.report, want["kind"].as_str()) {
            (Report::Aggregate(r), Some("aggregate")) => check_aggregate(file, want, r),
            (Report::Tls(r), Some("tlsrpt")) => check_tls(file, want, r),
            (r, k) => panic!("{file}: got a {} report, expected {k:?}", r.kind()),
        }
        if let Some(attachment) = want["attachment"].as_str() {
            assert_eq!(got.origin.attachment.as_deref(), Some(attachment), "{file}");
        }
        if let Some(member) = want["member"].as_str() {
            assert_eq!(got.origin.member.as_deref(), Some(member), "{file}");
        }
    }
    real.len()
}

#[test]
fn corpus_reports_match_expected_facts() {
    let mut checked = 0;
    let mut files = 0;
    for (file, reports) in corpus_report_files() {
        files += 1;
        checked += check(&file, &reports);
    }
    assert_eq!(files, 62, "aggregate 35 + email 8 + tlsrpt 19 files");
    assert_eq!(checked, 61, "every report except the empty file");
}

#[test]
fn mail_header_facts_match() {
    for entry in expected("corpus/EXPECTED.json").as_array().unwrap() {
        let facts = &entry["facts"];
        if facts["kind"] != "email" || s(entry, "dest").starts_with("forensic/") {
            continue;
        }
        let file = format!("corpus/{}", s(entry, "dest"));
        let intake = parse_fixture(&file);
        let message = intake.message.expect("message facts");
        let from = s(facts, "from");
        let address = from.rsplit('<').next().unwrap().trim_end_matches('>');
        assert_eq!(message.from.as_deref(), Some(address), "{file}");
        let squash = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(
            message.subject.as_deref().map(squash),
            Some(squash(s(facts, "subject"))),
            "{file}"
        );
        let raw = String::from_utf8_lossy(&common::read_fixture(&file))
            .to_lowercase()
            .replace("\r\n", "\n");
        let raw = format!("\n{}", raw.split("\n\n").next().unwrap());
        assert_eq!(
            message.message_id.is_some(),
            raw.contains("\nmessage-id:"),
            "{file}"
        );
        assert_eq!(message.date.is_some(), raw.contains("\ndate:"), "{file}");
    }
}

#[test]
fn generated_reports_match_expected_facts() {
    let want = expected("generated/EXPECTED.json");
    let mut n = 0;
    for (file, reports) in want.as_object().unwrap() {
        n += check(&format!("generated/{file}"), reports.as_array().unwrap());
    }
    assert_eq!(n, 7);
}

#[test]
fn forensic_mails_are_rejected_with_a_reason() {
    for entry in std::fs::read_dir(fixture("corpus/forensic/parsedmarc"))
        .unwrap()
        .chain(std::fs::read_dir(fixture("corpus/forensic/mail-auth")).unwrap())
    {
        let path = entry.unwrap().path();
        let intake = rampart_formats::intake::parse_input(
            &std::fs::read(&path).unwrap(),
            &rampart_formats::Limits::default(),
        );
        assert!(intake.reports.is_empty(), "{path:?}");
        let error = &intake.problems[0].error;
        let expect = if path.to_string_lossy().contains("exim_plain_text") {
            IntakeError::NoReportFound
        } else {
            IntakeError::FailureReport
        };
        assert_eq!(error, &expect, "{path:?}");
    }
}

#[test]
fn same_report_in_three_containers_has_one_identity() {
    let ids: Vec<_> = ["nice-input.xml", "nice-input.xml.gz", "nice-input.xml.zip"]
        .iter()
        .map(|f| {
            parse_fixture(&format!("corpus/aggregate/parsedmarc/{f}")).reports[0]
                .id
                .clone()
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[0], ids[2]);
}

#[test]
fn every_report_round_trips_through_json() {
    let mut n = 0;
    for dir in [
        "corpus/aggregate",
        "corpus/email",
        "corpus/tlsrpt",
        "generated",
    ] {
        let mut stack = vec![common::fixture(dir)];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let intake = rampart_formats::intake::parse_input(
                &std::fs::read(&path).unwrap(),
                &rampart_formats::Limits::default(),
            );
            for parsed in &intake.reports {
                let json = serde_json::to_string(parsed).unwrap();
                let back: rampart_formats::ParsedReport = serde_json::from_str(&json).unwrap();
                assert_eq!(&back, parsed, "{path:?}");
                n += 1;
            }
        }
    }
    assert_eq!(n, 61 + 7);
}

/// Field guide §2 / standards §3.2: the published policies read as senders read them, with
/// the verdicts and values of EXPECTED.json.
#[test]
fn mta_sts_policies_read_as_expected() {
    let mut files = 0;
    for entry in expected("corpus/EXPECTED.json").as_array().unwrap() {
        let facts = &entry["facts"];
        if facts["kind"] != "mta-sts" {
            continue;
        }
        files += 1;
        let file = format!("corpus/{}", s(entry, "dest"));
        let reading = rampart_mta_sts::read_policy(&common::read_fixture(&file));
        let first = |key: &str| facts[key][0].as_str().map(str::to_owned);
        assert_eq!(reading.version, first("version"), "{file}");
        assert_eq!(reading.mode, first("mode"), "{file}");
        assert_eq!(reading.max_age, first("max_age"), "{file}");
        let mx: Vec<&str> = facts["mx"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(reading.mx, mx, "{file}");
        assert_eq!(
            reading.policy.is_some(),
            facts["valid"].as_bool().unwrap(),
            "{file}: {:?}",
            reading.problems
        );
        // The corpus checker lists refusals and tolerated oddities (lines without a key)
        // together, one entry each.
        let problems = facts["problems"].as_array().unwrap().len();
        assert_eq!(
            reading.problems.len() + reading.notes.len(),
            problems,
            "{file}: {:?} {:?}",
            reading.problems,
            reading.notes
        );
        if let Some(policy) = &reading.policy {
            assert_eq!(policy.mx, mx, "{file}");
            assert_eq!(
                policy.max_age.to_string(),
                first("max_age").unwrap(),
                "{file}"
            );
        }
    }
    assert_eq!(files, 7);
}
