//! The benchmark domain of `benches/query.rs` and `benches/dashboard.rs`: 1,500 aggregate
//! reports with 1,000,500 records over 30 days (50 reports a day), made from 50 reports of
//! 667 records by `tests/tools/gen_aggregate.py` (eight reporter profiles, seeds 1001..1050),
//! each copied onto every day of June 2026.

use std::path::Path;
use std::process::Command;

use rampart_formats::Limits;
use rampart_formats::Report;
use rampart_formats::intake::{Origin, parse_input};
use rampart_sources::Sources;
use rampart_store::{RawKey, StoredReport};

pub const TEMPLATES: u64 = 50;
pub const RECORDS: u64 = 667;
pub const DAYS: i64 = 30;
/// 2026-06-01T00:00:00Z.
pub const JUNE1: i64 = 1_780_272_000;
pub const DOMAIN: &str = "bench.example";
const ORGS: [&str; 8] = [
    "google",
    "outlook",
    "yahoo",
    "mailru",
    "amazonses",
    "comcast",
    "fastmail",
    "enterprise-outlook",
];

/// The 50 generated reports, parsed.
pub fn templates() -> Vec<Report> {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/gen_aggregate.py");
    let dir = std::env::temp_dir().join("rampart-bench-query");
    std::fs::create_dir_all(&dir).unwrap();
    (0..TEMPLATES)
        .map(|i| {
            let out = dir.join(format!("t{i}.xml"));
            if !out.exists() {
                let status = Command::new("python3")
                    .arg(&tool)
                    .args(["--org", ORGS[i as usize % ORGS.len()]])
                    .args(["--records", &RECORDS.to_string()])
                    .args(["--seed", &(1001 + i).to_string()])
                    .args(["--domain", DOMAIN, "--no-validate", "-o"])
                    .arg(&out)
                    .stderr(std::process::Stdio::null())
                    .status()
                    .expect("python3 runs gen_aggregate.py");
                assert!(status.success());
            }
            let bytes = std::fs::read(&out).unwrap();
            parse_input(&bytes, &Limits::default())
                .reports
                .remove(0)
                .report
        })
        .collect()
}

/// Every template copied onto every day: 1,500 distinct reports, each with what ingest
/// learnt of its template's sources (`sources[i]` for template `i`, or nothing).
pub fn all_reports(templates: &[Report], sources: &[Sources]) -> Vec<StoredReport> {
    let mut out = Vec::new();
    for day in 0..DAYS {
        for (i, template) in templates.iter().cloned().enumerate() {
            let Report::Aggregate(mut r) = template else {
                unreachable!()
            };
            r.metadata.begin = Some(JUNE1 + day * 86_400);
            r.metadata.end = Some(JUNE1 + day * 86_400 + 86_399);
            r.metadata.report_id = format!("{}-{day}-{i}", r.metadata.report_id);
            let report = Report::Aggregate(r);
            out.push(StoredReport {
                id: report.id(),
                message: RawKey::new(format!("bench/{day}-{i}")).unwrap(),
                received_at: JUNE1 + DAYS * 86_400,
                mail: None,
                origin: Origin::default(),
                report,
                sources: sources.get(i).cloned().unwrap_or_default(),
            });
        }
    }
    out
}
