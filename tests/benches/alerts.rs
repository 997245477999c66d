//! The cost of alerts: the rules over a domain's 120 days of facts, each day at its bounds
//! (200 sources, 50 reporters, 20 TLS failure kinds); one whole evaluation of a domain on the
//! SQLite store (reading 97 stored days, judging, writing nothing new); and building one
//! digest mail.
//!
//! Run: `./scripts/bench --bench alerts`. Figures go to `docs/performance.md`.

#[path = "../common/mod.rs"]
mod common;

use std::time::SystemTime;

use chrono::{Days, NaiveDate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_alerts::evaluate::{Context, conditions};
use rampart_alerts::facts::{DayFacts, SourceDay, TlsFailureDay, TlsPolicyDay};
use rampart_alerts::rules::Rules;
use rampart_alerts::send::{Reach, Unconfigured, webhook_client};
use rampart_alerts::{digest, mail};
use rampart_query::alerting::{Outbox, evaluate};
use rampart_store::{AlertStore, Store};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
}

/// 120 full days: 200 sources (one failing new from the last day), 50 reporters, TLS.
fn days() -> Vec<DayFacts> {
    (0..120u64)
        .rev()
        .map(|ago| {
            let day = today().checked_sub_days(Days::new(ago)).unwrap();
            let mut sources: Vec<SourceDay> = (0..200u64)
                .map(|i| SourceDay {
                    key: format!("net:10.{}.{}.0/24", i / 256, i % 256),
                    name: format!("10.{}.{}.0/24", i / 256, i % 256),
                    messages: 1000 - i * 4,
                    pass: 980 - i * 4,
                })
                .collect();
            if ago <= 1 {
                sources[199] = SourceDay {
                    key: "net:203.0.113.0/24".into(),
                    name: "203.0.113.0/24".into(),
                    // Over 1 % of the day's 120,000 messages.
                    messages: 2000,
                    pass: 0,
                };
            }
            DayFacts {
                day,
                messages: sources.iter().map(|s| s.messages).sum(),
                dmarc_pass: sources.iter().map(|s| s.pass).sum(),
                policy: Some("reject".into()),
                sources,
                reporters: (0..50).map(|i| format!("reporter-{i}.example")).collect(),
                tls_policies: vec![TlsPolicyDay {
                    policy: "sts".into(),
                    successful: 10_000,
                    failed: 20,
                }],
                tls_failures: (0..20)
                    .map(|i| TlsFailureDay {
                        policy: "sts".into(),
                        result_type: "certificate-expired".into(),
                        mx: format!("mx{i}.example.com"),
                        sessions: 1,
                    })
                    .collect(),
                cut: 0,
            }
        })
        .collect()
}

fn alerts(c: &mut Criterion) {
    let facts = days();
    let rules = Rules::default();
    let open = Vec::new();
    let ctx = Context {
        domain: "bench.example",
        today: today(),
        hosted_mode: Some("enforce"),
        dns: None,
        open: &open,
    };
    let mut group = c.benchmark_group("alerts");
    group.throughput(Throughput::Elements(1));
    group.bench_function("every rule over 120 full days of one domain", |b| {
        b.iter(|| {
            let found = conditions(&rules, &facts, &ctx);
            assert_eq!(found.len(), 1);
        })
    });

    // One evaluation on SQLite: 97 stored days read and judged.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = common::backends::embedded();
    let now = today().and_hms_opt(9, 0, 0).unwrap().and_utc().timestamp();
    rt.block_on(async {
        store
            .register_domain("bench.example", now - 200 * 86_400)
            .await
            .unwrap();
        let stored: Vec<(String, String)> = facts
            .iter()
            .map(|f| (f.day.to_string(), serde_json::to_string(f).unwrap()))
            .collect();
        store
            .put_alert_days("bench.example", &stored)
            .await
            .unwrap();
    });
    let outbox = Outbox {
        mailer: Unconfigured,
        from: None,
        dashboard: None,
        webhooks: webhook_client(Reach::PublicOnly),
        reach: Reach::PublicOnly,
    };
    group.bench_function("one domain evaluated on SQLite (97 stored days)", |b| {
        b.iter(|| {
            let done = rt
                .block_on(evaluate(&store, &outbox, "bench.example", now))
                .unwrap();
            assert_eq!(done.domain, "bench.example");
        })
    });

    let digest = digest::Digest {
        domain: Some("bench.example".into()),
        from: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 11, 29).unwrap(),
        link: "https://rampart.example/ui/d/bench.example".into(),
        week: digest::Volume {
            messages: 1_000_000,
            dmarc_pass: 990_000,
            ..Default::default()
        },
        previous: digest::Volume::default(),
        sources: (0..20)
            .map(|i| digest::SourceLine {
                classification: "compliant".into(),
                name: format!("Service {i}"),
                messages: 50_000,
                dmarc_pass: 49_500,
                new: i == 0,
            })
            .collect(),
        reporters: 50,
        new_reporters: vec![],
        silent_reporters: vec!["yahoo.com".into()],
        tls_successful: 70_000,
        tls_failed: 140,
        tls_failures: vec![("certificate-expired".into(), 140)],
        dns: Some(("ok".into(), "2026-11-29".into())),
        alerts: vec![],
        domains: vec![],
        next_step: "p=reject holds.".into(),
    };
    let to = ["owner@bench.example".to_string()];
    group.bench_function("one digest mail built (text, HTML, MIME)", |b| {
        b.iter(|| {
            let (subject, text, html) = (digest.subject(), digest.text(), digest.html());
            let raw = mail::build(&mail::Outgoing {
                from: "Rampart <alerts@rampart.example>",
                to: &to,
                subject: &subject,
                text: &text,
                html: &html,
                message_id: "<d@rampart.example>".into(),
                date: SystemTime::UNIX_EPOCH,
            })
            .unwrap();
            assert!(raw.len() > 1000);
        })
    });
    group.finish();
}

criterion_group!(benches, alerts);
criterion_main!(benches);
