//! Ingest of a 1,000-record report with source intelligence: country and AS from the bundled
//! databases, reverse DNS from a hickory DNS server on 127.0.0.1 answering a forward-confirmed
//! name for every address. Cold: an empty name cache, every address looked up (PTR, then A).
//! Warm: every name already in the store's cache. Plain: no enrichment, the baseline.
//!
//! Run: `./scripts/bench --bench sources`. Figures go to `docs/performance.md`; a loopback DNS
//! server answers in microseconds, so "cold" is a floor: real resolvers add their latency,
//! bounded per report by the 10 s budget.

#[path = "../common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_formats::Limits;
use rampart_formats::Report;
use rampart_formats::intake::parse_input;
use rampart_ingest::Ingest;
use rampart_sources::ptr::PtrResolver;
use rampart_sources::{EnrichSettings, Enricher, NameCache};
use rampart_store::embedded::EmbeddedStore;
use rampart_store::{Outcome, RawKey, Store};

const MAIL: &str = "generated/outlook-1k-single-line.eml";

fn fresh_store(n: u64) -> EmbeddedStore {
    let dir =
        std::env::temp_dir().join(format!("rampart-bench-sources-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    EmbeddedStore::open(&dir).unwrap()
}

fn sources(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bytes = common::read_fixture(MAIL);
    let intake = parse_input(&bytes, &Limits::default());
    let Report::Aggregate(report) = &intake.reports[0].report else {
        panic!("{MAIL} holds an aggregate report")
    };
    let records = report.records.len() as u64;
    let ips = rampart_sources::addresses(report);
    let names: Vec<(String, String, String)> = ips
        .iter()
        .enumerate()
        .flat_map(|(i, ip)| {
            let host = format!("o{i}.outbound.bench.example.");
            let forward = if ip.is_ipv4() { "A" } else { "AAAA" };
            [
                (
                    common::dns::reverse_name(*ip),
                    "PTR".to_owned(),
                    host.clone(),
                ),
                (host, forward.to_owned(), ip.to_string()),
            ]
        })
        .collect();
    let zone: Vec<(&str, &str, &str)> = names
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    let server = rt.block_on(common::dns::serve(&zone));
    let timeout = Duration::from_secs(2);
    let enricher = Enricher::new(
        Some(PtrResolver::with_servers(&[server.addr], timeout).unwrap()),
        EnrichSettings {
            lookup_timeout: timeout,
            budget: Duration::from_secs(60),
            ..EnrichSettings::default()
        },
    );
    eprintln!(
        "sources: {MAIL}: {records} records, {} distinct addresses, {} bytes",
        ips.len(),
        bytes.len()
    );

    // The names every address resolves to, to fill a warm cache.
    let warm_cache = rt.block_on(async {
        let store = fresh_store(0);
        let (_, done) = enricher.sources(&store, &ips, 0, None).await;
        assert_eq!(done.unresolved, 0, "every address resolves");
        store.cached_names(&ips, 0).await.unwrap()
    });

    let mut group = c.benchmark_group("sources");
    group.throughput(Throughput::Elements(records));
    group.sample_size(10);
    let mut n = 0;
    let mut run = |enricher: &Enricher, warm: bool, iters: u64| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            n += 1;
            let store = fresh_store(n);
            if warm {
                let entries: Vec<_> = warm_cache
                    .iter()
                    .map(|(ip, rdns)| rampart_sources::CachedName {
                        ip: *ip,
                        reverse_dns: rdns.clone(),
                        expires_at: i64::MAX,
                    })
                    .collect();
                rt.block_on(store.cache_names(&entries)).unwrap();
            }
            let key = RawKey::for_content(&bytes);
            rt.block_on(store.put_raw(&key, &bytes)).unwrap();
            let start = Instant::now();
            let done = rt.block_on(Ingest::new(&store, enricher).message(
                &key,
                &bytes,
                rampart_formats::time::now(),
            ));
            total += start.elapsed();
            assert_eq!(done.outcome, Outcome::Stored);
            let _ = std::fs::remove_dir_all(store.dir());
        }
        total
    };
    let plain = Enricher::disabled();
    group.bench_function("ingest_1k/plain", |b| {
        b.iter_custom(|iters| run(&plain, false, iters))
    });
    group.bench_function("ingest_1k/enriched_warm_cache", |b| {
        b.iter_custom(|iters| run(&enricher, true, iters))
    });
    group.bench_function("ingest_1k/enriched_cold_cache", |b| {
        b.iter_custom(|iters| run(&enricher, false, iters))
    });
    group.finish();
}

criterion_group!(benches, sources);
criterion_main!(benches);
