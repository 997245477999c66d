//! Arbitrary bytes → reports → tally → store → summary, stats and records. Whatever a
//! stranger sends, storing it and reading it back never panics, never wraps a number, and the
//! totals a query gives are the sums of what was stored.
//!
//! Each input gets a fresh SQLite store. With `RAMPART_FUZZ_AWS_ENDPOINT` (a moto server) and
//! the `aws` feature, every input goes to DynamoDB + S3 as well, into one table.
#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use rampart_formats::Limits;
use rampart_formats::intake::{Report, parse_input};
use rampart_formats::limits::MAX_COUNT;
use rampart_query::aggregate;
use rampart_query::request::from_pairs;
use rampart_store::embedded::EmbeddedStore;
use rampart_store::{DayRange, RawKey, Store, StoredReport, WriteMode};
use rampart_store::tally::{Span, Tally};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

#[cfg(feature = "aws")]
fn aws() -> Option<&'static rampart_store::aws::AwsStore> {
    use rampart_store::aws::{AwsLocation, AwsStore, emulator_config};
    static AWS: OnceLock<Option<AwsStore>> = OnceLock::new();
    AWS.get_or_init(|| {
        let endpoint = std::env::var("RAMPART_FUZZ_AWS_ENDPOINT").ok()?;
        runtime().block_on(async {
            let name = format!("fuzz-{}", std::process::id());
            let at = AwsLocation {
                table: name.clone(),
                bucket: name,
                raw_prefix: String::new(),
            };
            let store = AwsStore::new(&emulator_config(&endpoint).await, at);
            store.create_resources().await.unwrap();
            Some(store)
        })
    })
    .as_ref()
}

fn fresh_store() -> EmbeddedStore {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rampart-fuzz-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed) % 4
    ));
    let _ = std::fs::remove_dir_all(&dir);
    EmbeddedStore::open(&dir).unwrap()
}

/// Stores the reports and checks what the queries say of them.
async fn check<S: Store>(store: &S, reports: &[StoredReport]) {
    for r in reports {
        store.put_report(r, WriteMode::Insert).await.unwrap();
        let back = store.report(&r.id).await.unwrap();
        // A second report with the same identity in one input is a duplicate: the first
        // stays.
        assert!(back.is_some());
    }
    for r in reports {
        let Report::Aggregate(a) = &r.report else {
            continue;
        };
        let span = Span::of_report(&r.report);
        let (Ok(from), Ok(to)) = (
            NaiveDate::parse_from_str(span.first_day(), "%Y-%m-%d"),
            NaiveDate::parse_from_str(span.last_day(), "%Y-%m-%d"),
        ) else {
            continue;
        };
        let range = vec![
            ("from".to_owned(), from.to_string()),
            ("to".to_owned(), to.to_string()),
        ];
        let today = to;
        let domain = r.domain();
        let summary = aggregate::summary(store, &domain, from_pairs(range.clone()).unwrap(), today)
            .await
            .unwrap();
        assert!((0..=MAX_COUNT as i64).contains(&summary.messages));
        assert_eq!(summary.dmarc_pass + summary.dmarc_fail, summary.messages);
        let days = store
            .day_counts(&domain, &DayRange::new(span.first_day(), span.last_day()))
            .await
            .unwrap();
        let counted: i64 = days
            .iter()
            .filter_map(|(_, c)| c.get("messages"))
            .fold(0, |s, n| (s + n).min(MAX_COUNT as i64));
        assert_eq!(counted, summary.messages);
        // Every record of the report counts on the days of its period, none wraps a total.
        let _ = a.message_count();
        let mut stats = range.clone();
        stats.push(("group_by".to_owned(), "source_ip,disposition".to_owned()));
        let grouped = aggregate::stats(store, &domain, from_pairs(stats).unwrap(), today).await.unwrap();
        assert!(grouped.groups.iter().all(|g| g.dmarc_pass + g.dmarc_fail == g.messages));
        let mut csv = range;
        csv.push(("format".to_owned(), "csv".to_owned()));
        let (rows, _) = aggregate::records(store, &domain, from_pairs(csv).unwrap(), today).await.unwrap();
        aggregate::records_csv(&rows.records).unwrap();
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_payload_bytes: 4 << 20,
        max_total_bytes: 8 << 20,
        ..Limits::default()
    };
    let intake = parse_input(data, &limits);
    let reports: Vec<StoredReport> = intake
        .reports
        .into_iter()
        .map(|p| {
            // The tally of every report is computed without overflow, whatever its counts.
            let tally = Tally::of(&p.report);
            for counters in tally.days.values() {
                assert!(counters.values().all(|v| v.unsigned_abs() <= MAX_COUNT));
            }
            StoredReport {
                id: p.id,
                message: RawKey::new("fuzz/input").unwrap(),
                received_at: 1_790_000_000,
                mail: intake.message.clone(),
                origin: p.origin,
                report: p.report,
                sources: Default::default(),
            }
        })
        .collect();
    if reports.is_empty() {
        return;
    }
    runtime().block_on(async {
        check(&fresh_store(), &reports).await;
        #[cfg(feature = "aws")]
        if let Some(store) = aws() {
            check(store, &reports).await;
        }
    });
});
