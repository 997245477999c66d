//! The cost of mailbox intake: one run that takes 200 report mails (200 records each, gzip,
//! from `tests/tools/gen_aggregate.py`) from Dovecot on 127.0.0.1 and ingests them into a
//! fresh SQLite store; and a run that finds nothing new (a login, a search, a logout).
//!
//! Run: `./scripts/bench --bench mailbox` (Dovecot from `scripts/mailbox.sh`). Figures go to
//! `docs/performance.md`.

#[path = "../common/mod.rs"]
mod common;

use std::process::Command;

use common::dovecot::{Dovecot, PASSWORD, USER};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rampart_ingest::Ingest;
use rampart_mailbox::Addresses;
use rampart_mailbox::imap::{Folder, Limits, Security};
use rampart_mailbox::intake::{self, IngestSink, Network, Ran, Reach};
use rampart_mailbox::source::{Account, Source};
use rampart_sources::Enricher;
use rampart_store::MailboxStore;
use rampart_store::embedded::EmbeddedStore;

const MAILS: u64 = 200;
const RECORDS: u64 = 200;

fn generated(seed: u64) -> Vec<u8> {
    let tool = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/gen_aggregate.py");
    let out = Command::new("python3")
        .args([
            tool,
            "--records",
            &RECORDS.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(["--eml", "--gzip"])
        .output()
        .expect("python3 runs the generator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A fresh store holding the one source, at no checkpoint.
fn fresh(runtime: &tokio::runtime::Runtime, folder: &Folder) -> EmbeddedStore {
    let store = common::backends::embedded();
    let source = Source {
        id: "bench".into(),
        account: Account::Imap(folder.clone()),
        paused: false,
        move_to: None,
        checkpoint: None,
        last_run: None,
    };
    runtime
        .block_on(store.put_mailbox(&source.to_item()))
        .unwrap();
    store
}

async fn run(store: &EmbeddedStore, reach: &Reach) -> rampart_mailbox::source::Run {
    let enricher = Enricher::disabled();
    let ingest = Ingest::new(store, &enricher);
    let sink = IngestSink {
        ingest: &ingest,
        raw_prefix: "inbound/mailbox/bench/".into(),
    };
    match intake::run(store, &sink, "bench", reach, rampart_formats::time::now).await {
        Ok(Ran::Done(run)) => run,
        other => panic!("{other:?}"),
    }
}

fn mailbox(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dovecot = Dovecot::start();
    let mut bytes = 0u64;
    for seed in 1..=MAILS {
        let mail = generated(seed);
        bytes += mail.len() as u64;
        dovecot.deliver(&mail);
    }
    let folder = Folder {
        host: "127.0.0.1".into(),
        port: dovecot.port,
        security: Security::Plain,
        user: USER.into(),
        name: "INBOX".into(),
    };
    let reach = Reach {
        password: PASSWORD.into(),
        network: Network::new(None, Addresses::Any).unwrap(),
        limits: Limits::default(),
    };

    let mut group = c.benchmark_group("mailbox");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("imap_run_200_mails_40k_records", |b| {
        b.iter_batched(
            || fresh(&runtime, &folder),
            |store| {
                let taken = runtime.block_on(run(&store, &reach)).taken;
                assert_eq!(u64::from(taken), MAILS);
            },
            BatchSize::PerIteration,
        )
    });
    group.throughput(Throughput::Elements(1));
    let store = fresh(&runtime, &folder);
    runtime.block_on(run(&store, &reach));
    group.bench_function("imap_run_nothing_new", |b| {
        b.iter(|| assert_eq!(runtime.block_on(run(&store, &reach)).taken, 0))
    });
    group.finish();
}

criterion_group!(benches, mailbox);
criterion_main!(benches);
