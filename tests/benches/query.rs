//! Query cost for one big domain: 1,500 aggregate reports with 1,000,500 records over 30
//! days ([`common::bench_domain`]).
//!
//! Measured: a 30-day summary and a two-dimension grouped stats query, in-process, on the
//! embedded store (criterion: wall time, CPU-bound) and on DynamoDB + S3 on moto (items and
//! bytes read, which is what DynamoDB bills; moto's own time is not DynamoDB's). moto keeps
//! everything in memory many times over (the full million records took it past 23 GB), so
//! the moto part loads the first [`MOTO_DAYS`] days only; reads per day are the same.
//!
//! Run: `./scripts/bench --bench query` (starts moto). Without `RAMPART_TEST_AWS_ENDPOINT`
//! only the embedded part runs. Figures go to `docs/performance.md`.

#[path = "../common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::bench_domain::{DOMAIN, TEMPLATES, all_reports, templates};
use criterion::{Criterion, criterion_group, criterion_main};
use rampart_formats::Report;
use rampart_query::aggregate;
use rampart_query::request::{FromQuery, from_pairs};
use rampart_store::{Store, StoredReport, WriteMode};

/// Days loaded into moto.
const MOTO_DAYS: usize = 3;

async fn fill<S: Store>(store: &S, reports: &[StoredReport]) -> Duration {
    let start = Instant::now();
    for r in reports {
        store.put_report(r, WriteMode::Insert).await.unwrap();
    }
    start.elapsed()
}

/// The typed request a query string makes.
fn pairs<T: FromQuery>(q: &[(&str, &str)]) -> T {
    let pairs = q
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    from_pairs(pairs).unwrap()
}

const RANGE: [(&str, &str); 2] = [("from", "2026-06-01"), ("to", "2026-06-30")];
/// Served from the per-day counters.
const BY_REPORTER: [(&str, &str); 4] = [
    ("from", "2026-06-01"),
    ("to", "2026-06-30"),
    ("group_by", "reporter,dmarc"),
    ("limit", "1000"),
];
/// Needs every record of the range.
const BY_SOURCE: [(&str, &str); 4] = [
    ("from", "2026-06-01"),
    ("to", "2026-06-30"),
    ("group_by", "source_ip,dmarc"),
    ("limit", "1000"),
];

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 7, 1).unwrap()
}

/// Resets the process's peak resident memory (Linux), so the next [`peak_mib`] is the
/// peak of what runs in between.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Process CPU time (user + system) from /proc, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn query(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut reports = all_reports(&templates(), &[]);
    let records: usize = reports
        .iter()
        .map(|r| match &r.report {
            Report::Aggregate(a) => a.records.len(),
            Report::Tls(_) => 0,
        })
        .sum();
    eprintln!("bench domain: {} reports, {records} records", reports.len());

    let store = common::backends::embedded();
    let took = rt.block_on(fill(&store, &reports));
    eprintln!("embedded: stored in {:.1} s", took.as_secs_f64());
    let summary = rt
        .block_on(aggregate::summary(&store, DOMAIN, pairs(&RANGE), today()))
        .unwrap();
    eprintln!(
        "embedded summary: {} messages, {} reports",
        summary.messages, summary.reports
    );
    // Only the moto part needs them again, and only its first days.
    reports.truncate(MOTO_DAYS * TEMPLATES as usize);
    reports.shrink_to_fit();
    {
        let name = "stats source_ip,dmarc";
        reset_peak();
        let start = Instant::now();
        let stats = rt
            .block_on(aggregate::stats(&store, DOMAIN, pairs(&BY_SOURCE), today()))
            .unwrap();
        eprintln!(
            "embedded {name}: {} groups in {:.2} s ({:.0} records/s), peak RSS {:.0} MiB",
            stats.total_groups,
            start.elapsed().as_secs_f64(),
            records as f64 / start.elapsed().as_secs_f64(),
            peak_mib()
        );
    }
    let mut group = c.benchmark_group("query");
    group.sample_size(10);
    group.bench_function("embedded/summary-30d", |b| {
        b.iter(|| rt.block_on(aggregate::summary(&store, DOMAIN, pairs(&RANGE), today())))
    });
    group.bench_function("embedded/stats-reporter-dmarc-30d", |b| {
        b.iter(|| {
            rt.block_on(aggregate::stats(
                &store,
                DOMAIN,
                pairs(&BY_REPORTER),
                today(),
            ))
        })
    });
    group.bench_function("embedded/stats-source_ip-dmarc-30d", |b| {
        b.iter(|| rt.block_on(aggregate::stats(&store, DOMAIN, pairs(&BY_SOURCE), today())))
    });
    group.finish();

    if std::env::var_os("RAMPART_TEST_AWS_ENDPOINT").is_none() {
        eprintln!("RAMPART_TEST_AWS_ENDPOINT is not set: skipping DynamoDB + S3 (moto)");
        return;
    }
    let store = rt.block_on(common::backends::aws());
    let loaded = &reports[..];
    let took = rt.block_on(fill(&store, loaded));
    eprintln!(
        "moto: {} reports of the first {MOTO_DAYS} days stored in {:.1} s",
        loaded.len(),
        took.as_secs_f64()
    );
    for (name, q) in [
        ("summary-30d", &RANGE[..]),
        ("stats-reporter-dmarc-30d", &BY_REPORTER[..]),
        ("stats-source_ip-dmarc-30d", &BY_SOURCE[..]),
    ] {
        let (items0, bytes0) = store.items_and_bytes_read();
        let (cpu0, wall0) = (cpu_seconds(), Instant::now());
        let runs = 5;
        for _ in 0..runs {
            let answer = if name.starts_with("summary") {
                rt.block_on(aggregate::summary(&store, DOMAIN, pairs(q), today()))
                    .map(|s| s.messages as u64)
            } else {
                rt.block_on(aggregate::stats(&store, DOMAIN, pairs(q), today()))
                    .map(|s| s.groups.iter().map(|g| g.messages).sum())
            };
            assert!(answer.unwrap() > 0);
        }
        let (items1, bytes1) = store.items_and_bytes_read();
        let items = (items1 - items0) / runs;
        let bytes = (bytes1 - bytes0) / runs;
        eprintln!(
            "moto {name}: {items} items, {:.1} KB read per query (~{:.1} read units eventually \
             consistent); in-process CPU {:.0} ms, wall {:.0} ms per query",
            bytes as f64 / 1024.0,
            bytes as f64 / 4096.0 / 2.0,
            (cpu_seconds() - cpu0) * 1000.0 / runs as f64,
            wall0.elapsed().as_secs_f64() * 1000.0 / runs as f64,
        );
    }
}

criterion_group!(benches, query);
criterion_main!(benches);
