//! The cost of hosting: a policy fetch through the policy host Router (what every sender's
//! fetch costs the mta-sts Lambda), and a TLS report upload through the query Router (gzipped,
//! a real Google report from the corpus with a new report id each time), on the embedded
//! store, in-process.
//!
//! Run: `./scripts/bench --bench hosting`. Figures go to `docs/performance.md`.

#[path = "../common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{HeaderName, Request};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::BodyExt;
use rampart_api::policy_host::{self, PolicyHost};
use rampart_api::rest::{self, Api};
use rampart_mta_sts::Timing;
use rampart_query::domains::Endpoints;
use rampart_store::embedded::EmbeddedStore;
use tower::ServiceExt;

const NOW: i64 = 1_780_272_000;

fn store() -> EmbeddedStore {
    let dir = std::env::temp_dir().join(format!("rampart-bench-hosting-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    EmbeddedStore::open(&dir).unwrap()
}

fn api(store: EmbeddedStore) -> axum::Router {
    rest::router(Arc::new(Api {
        store,
        endpoints: Endpoints::new(
            "reports@rua.bench.example".into(),
            "https://api.bench.example/v1/tlsrpt".into(),
            "mta-sts.bench.example".into(),
            None,
        ),
        max_raw_bytes: 1 << 20,
        max_upload_bytes: rest::MAX_UPLOAD_BYTES,
        timing: Timing::default(),
        access: Default::default(),
        accept: rampart_ingest::Accept::Any,
        on_refused_upload: |_| {},
        now: || NOW,
        checker: None,
        mailboxes: None,
    }))
}

async fn send(app: &axum::Router, request: Request<Body>) -> (u16, usize) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.len())
}

fn hosting(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = store();
    let app = api(store.clone());
    rt.block_on(async {
        let json = |v: &str| {
            Request::post("/v1/domains")
                .header("content-type", "application/json")
                .body(Body::from(v.to_owned()))
                .unwrap()
        };
        send(&app, json(r#"{"domain": "hosted.example"}"#)).await;
        let put = Request::put("/v1/domains/hosted.example/mta-sts")
            .header("content-type", "application/json")
            .body(Body::from(
                r#"{"mode": "enforce", "mx": ["mx1.hosted.example", "*.mail.hosted.example"], "max_age": 604800}"#,
            ))
            .unwrap();
        assert_eq!(send(&app, put).await.0, 201);
    });

    let host = policy_host::router(Arc::new(PolicyHost {
        store: store.clone(),
        host_header: HeaderName::from_static("host"),
        timing: Timing::default(),
        now: || NOW,
    }));
    let mut group = c.benchmark_group("hosting");
    group.throughput(Throughput::Elements(1));
    group.bench_function("policy fetch", |b| {
        b.iter(|| {
            let request = Request::get("/.well-known/mta-sts.txt")
                .header("host", "mta-sts.hosted.example")
                .body(Body::empty())
                .unwrap();
            assert_eq!(rt.block_on(send(&host, request)), (200, 99));
        })
    });

    let report = common::read_fixture("corpus/tlsrpt/cry-inc/google.json");
    let report = String::from_utf8(report).unwrap();
    let next = AtomicU64::new(0);
    let upload = |n: u64| {
        let body = report.replace(
            "2025-05-22T00:00:00Z_foo-bar.io",
            &format!("bench-{n}_foo-bar.io"),
        );
        common::gzip(body.as_bytes())
    };
    group.throughput(Throughput::Bytes(upload(0).len() as u64));
    group.bench_function("TLS report upload (gzip)", |b| {
        b.iter_batched(
            || upload(next.fetch_add(1, Ordering::Relaxed)),
            |bytes| {
                let request = Request::post("/v1/tlsrpt")
                    .header("content-type", "application/tlsrpt+gzip")
                    .body(Body::from(bytes))
                    .unwrap();
                assert_eq!(rt.block_on(send(&app, request)).0, 201);
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, hosting);
criterion_main!(benches);
