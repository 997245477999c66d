//! Ingest throughput (mails/s) into the embedded store and into DynamoDB + S3 on moto, the
//! DynamoDB write capacity one 1k-record report costs, and the AWS requests one mail costs on
//! the Lambda path (the README's cost estimate is built from them).
//!
//! Run: `./scripts/bench` (starts moto, then `cargo bench -p rampart-tests --bench ingest`).
//! Figures go to `docs/performance.md`. moto is a Python emulator: its figures measure
//! Rampart's request pattern against a slow server, not DynamoDB's latency.

#[path = "../common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_ingest::Ingest;
use rampart_sources::Enricher;
use rampart_store::aws::AwsStore;
use rampart_store::{Outcome, RawKey, Store};

/// Real report mails: the corpus mails (one small report each) plus two generated Microsoft
/// mails of 20 and 1,000 records.
const MAILS: [&str; 10] = [
    "corpus/email/mail-auth/100.eml",
    "corpus/email/mail-auth/101.eml",
    "corpus/email/mail-auth/102.eml",
    "corpus/email/mail-auth/103.eml",
    "corpus/email/mail-auth/104.eml",
    "corpus/email/parsedmarc/Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml",
    "corpus/email/parsedmarc/mimecast-weird-gzip.eml",
    "corpus/email/parsedmarc/twilight.eml",
    "generated/outlook-20-single-line.eml",
    "generated/outlook-1k-single-line.eml",
];

/// Keeps and ingests every mail once; returns the time taken.
async fn ingest_all<S: Store>(store: &S, mails: &[Vec<u8>], want: Outcome) -> Duration {
    let start = Instant::now();
    for bytes in mails {
        let key = RawKey::for_content(bytes);
        store.put_raw(&key, bytes).await.unwrap();
        let done = Ingest::new(store, &Enricher::disabled())
            .message(&key, bytes, rampart_formats::time::now())
            .await;
        assert_eq!(done.outcome, want, "{:?}", done.reason);
    }
    start.elapsed()
}

fn ingest(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mails: Vec<Vec<u8>> = MAILS.iter().map(|m| common::read_fixture(m)).collect();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(mails.len() as u64));
    group.sample_size(20);

    group.bench_function("embedded/new", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let store = common::backends::embedded();
                    rt.block_on(ingest_all(&store, &mails, Outcome::Stored))
                })
                .sum()
        })
    });
    let warm = common::backends::embedded();
    rt.block_on(ingest_all(&warm, &mails, Outcome::Stored));
    group.bench_function("embedded/duplicate", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.block_on(ingest_all(&warm, &mails, Outcome::Duplicate)))
                .sum()
        })
    });

    if std::env::var("RAMPART_TEST_AWS_ENDPOINT").is_err() {
        eprintln!(
            "RAMPART_TEST_AWS_ENDPOINT not set: skipping the moto benchmarks (use ./scripts/bench)"
        );
        return;
    };
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("moto/new", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let store = rt.block_on(common::backends::aws());
                    rt.block_on(ingest_all(&store, &mails, Outcome::Stored))
                })
                .sum()
        })
    });
    let warm = rt.block_on(common::backends::aws());
    rt.block_on(ingest_all(&warm, &mails, Outcome::Stored));
    group.bench_function("moto/duplicate", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.block_on(ingest_all(&warm, &mails, Outcome::Duplicate)))
                .sum()
        })
    });
    group.finish();

    for file in [
        "generated/outlook-1k-single-line.eml",
        "generated/google-1k.xml",
    ] {
        let store = rt.block_on(common::backends::aws());
        let bytes = common::read_fixture(file);
        rt.block_on(ingest_all(&store, &[bytes], Outcome::Stored));
        let (items, computed) = rt.block_on(write_units_by_item_size(&store));
        eprintln!(
            "write capacity for {file}: DynamoDB/moto reported {:.1} WCU; by item size {computed} WCU over {items} items",
            store.consumed_write_units()
        );
    }

    let Ok(log) = std::env::var("RAMPART_TEST_MOTO_LOG") else {
        eprintln!(
            "RAMPART_TEST_MOTO_LOG not set: skipping the request count (use ./scripts/bench)"
        );
        return;
    };
    for file in [MAILS[5], MAILS[9]] {
        let store = rt.block_on(common::backends::aws());
        let bytes = common::read_fixture(file);
        let key = RawKey::for_content(&bytes);
        let lambda_path = || async {
            // What SES does, then what the ingest function does with the notification.
            store.put_raw(&key, &bytes).await.unwrap();
            Ingest::new(&store, &Enricher::disabled())
                .stored(&key, rampart_formats::time::now())
                .await;
        };
        let new = rt.block_on(count_requests(&log, lambda_path()));
        let (items, units) = rt.block_on(write_units_by_item_size(&store));
        let duplicate = rt.block_on(count_requests(&log, lambda_path()));
        eprintln!(
            "requests for {file} on the Lambda path: new {new}, {units} WCU over {items} items; again (duplicate) {duplicate}"
        );
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, ended by a letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// AWS requests counted in moto's request log while `work` runs, by service and kind
/// (`S3 PUT object`, `S3 GET tagging`, `DynamoDB`).
#[derive(Debug, Default)]
struct Requests(std::collections::BTreeMap<String, usize>);

impl std::fmt::Display for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total: usize = self.0.values().sum();
        write!(f, "{total} requests (")?;
        for (i, (kind, n)) in self.0.iter().enumerate() {
            write!(f, "{}{n} {kind}", if i > 0 { ", " } else { "" })?;
        }
        write!(f, ")")
    }
}

async fn count_requests(log: &str, work: impl std::future::Future<Output = ()>) -> Requests {
    let before = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0) as usize;
    work.await;
    // The server writes a request's log line just after answering it: let the last one land.
    std::thread::sleep(Duration::from_millis(500));
    let text = std::fs::read(log).unwrap();
    let mut counted = Requests::default();
    for line in String::from_utf8_lossy(&text[before..]).lines() {
        // werkzeug: `127.0.0.1 - - [date] "METHOD PATH HTTP/1.1" STATUS -`, coloured with
        // ANSI escapes when the status is an error (a failed conditional write, say).
        let line = strip_ansi(line);
        let Some(request) = line.split('"').nth(1) else {
            continue;
        };
        let mut parts = request.split(' ');
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            continue;
        };
        // DynamoDB's JSON protocol posts every operation to the root; S3 is path-style.
        let kind = if (method, path) == ("POST", "/") {
            "DynamoDB".to_owned()
        } else if path.contains("tagging") {
            format!("S3 {method} tagging")
        } else {
            format!("S3 {method} object")
        };
        *counted.0.entry(kind).or_default() += 1;
    }
    counted
}

/// What the items now in the table cost to write by DynamoDB's rule: one WCU per started KB
/// per item, twice for the two transactional writes (header flip and domain counters) and
/// once more for the header's copy in the index. Outcome records count like headers.
async fn write_units_by_item_size(store: &AwsStore) -> (usize, u64) {
    let (mut items, mut units) = (0, 0);
    for item in common::backends::all_items(store).await {
        let size = common::backends::item_size(&item);
        let kb = size.div_ceil(1024) as u64;
        let pk = match item.get("pk") {
            Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => s.clone(),
            _ => String::new(),
        };
        let in_index = item.contains_key("gsi1pk");
        units += match (pk.as_str(), in_index) {
            // Header: conditional put + transactional update (2×) + its index copy (2 writes).
            (p, true) if p.starts_with("D#") => kb + 2 * kb + 2 * kb,
            // Message record: put + index copy.
            (_, true) => 2 * kb,
            // Domain counters: transactional update.
            ("DOMAIN", false) => 2 * kb,
            // Body piece: one batch put.
            _ => kb,
        };
        items += 1;
    }
    (items, units)
}

criterion_group!(benches, ingest);
criterion_main!(benches);
