//! Ingest throughput (mails/s) into the embedded store and into DynamoDB + S3 on moto, and
//! the DynamoDB write capacity one 1k-record report costs.
//!
//! Run: `./scripts/bench` (starts moto, then `cargo bench -p rampart-tests --bench ingest`).
//! Figures go to `docs/performance.md`. moto is a Python emulator: its figures measure
//! Rampart's request pattern against a slow server, not DynamoDB's latency.

#[path = "../common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart::Limits;
use rampart::ingest::ingest_message;
use rampart::store::aws::AwsStore;
use rampart::store::{Outcome, RawKey, Store, WriteMode};

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
        let done =
            ingest_message(store, &key, bytes, &Limits::default(), 0, WriteMode::Insert).await;
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
