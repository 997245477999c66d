//! The cost of a DNS health check, against hickory-server and Rampart's policy host over
//! HTTPS on 127.0.0.1 (tests/common/dns_world.rs): one whole check of a domain with every
//! record right (DMARC and its destination's authorisation, SPF with an include, MX,
//! `_mta-sts` through Rampart's CNAME, the policy fetched over TLS, TLS-RPT, a DKIM key),
//! and the SPF walk of 11 nested includes. Loopback DNS takes the network out: what is left
//! is the engine, the resolver and the TLS handshake.
//!
//! Run: `./scripts/bench --bench checks`. Figures go to `docs/performance.md`.

#[path = "../common/mod.rs"]
mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_checks::{Expect, Severity};

use common::dns_world::{NOW, world};

fn checks(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let world = rt.block_on(world());
    let mut good = world.expect("good.test");
    good.dkim = vec![("good.test".into(), "sel1".into())];
    let none = Expect::default();
    let mut group = c.benchmark_group("checks");
    group.throughput(Throughput::Elements(1));
    group.bench_function("a whole domain, every record right", |b| {
        b.iter(|| {
            let report = rt.block_on(world.checker.check("good.test", &good, NOW));
            assert_eq!(report.worst, Severity::Ok);
        })
    });
    group.bench_function("SPF through 11 nested includes", |b| {
        b.iter(|| {
            let report = rt.block_on(world.checker.check("lookups.test", &none, NOW));
            assert!(report.finding("spf.too_many_lookups").is_some());
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = checks
}
criterion_main!(benches);
