//! One suite, both storage backends: the embedded store (SQLite + folder) and the AWS store
//! (DynamoDB + S3 on the moto server that `scripts/test` starts).
//!
//! Each test is written once over [`Backend`] and run on both by `on_both_backends!`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::backends::{self, Backend};
use common::expected::{check_aggregate, check_tls, corpus_report_files, expected};
use common::on_both_backends;
use common::{as_received_by_ses, gzip_stream, parse, read_fixture};
use rampart_formats::intake::Report;
use rampart_ingest::{Ingest, Ingested};
use rampart_sources::Enricher;
use rampart_store::mailbox::MAX_MAILBOXES;
use rampart_store::tally::Tally;
use rampart_store::{
    ALL_DOMAINS, AlertItem, AlertStore, CheckRun, DayRange, DnsVerdict, DomainEntry, FaultPoint,
    MailboxItem, MailboxStore, Outcome, PutReport, RawKey, RawRead, StoredReport, Suppression,
    WriteMode,
};
use serde_json::Value;

const NOW: i64 = 1_790_000_000;

on_both_backends!(
    every_corpus_report_reads_back_with_its_exact_facts,
    the_same_mail_three_times_is_stored_once,
    the_same_mail_twenty_times_at_once_is_stored_once,
    a_crash_between_write_steps_is_completed_by_the_retry,
    garbage_and_bombs_are_rejected_and_kept,
    a_100k_record_report_round_trips,
    reprocessing_replaces_only_changed_reports,
    domains_registered_and_seen,
    huge_mail_headers_are_cut_so_every_item_stays_small,
    ses_verdicts_are_kept_with_each_report_and_never_drop_it,
    a_two_day_report_is_spread_over_its_days,
    dns_check_runs_keep_history_and_the_newest_verdict,
    alert_state_is_written_once_per_version_with_facts_settings_suppressions_and_claims,
    mailbox_sources_are_kept_by_id_within_their_cap,
);

async fn ingest_bytes<B: Backend>(store: &B, bytes: &[u8], now: i64) -> Ingested {
    let key = RawKey::for_content(bytes);
    store.put_raw(&key, bytes).await.unwrap();
    Ingest::new(store, &Enricher::disabled())
        .message(&key, bytes, now)
        .await
}

async fn ingest_file<B: Backend>(store: &B, path: &str) -> Ingested {
    ingest_bytes(store, &read_fixture(path), NOW).await
}

/// (reports, messages, records) per domain, as the domain counters say.
async fn counters<B: Backend>(store: &B) -> BTreeMap<String, (u64, u64, u64)> {
    store
        .domains(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.name, (d.reports, d.messages, d.records)))
        .collect()
}

/// The same, summed from the stored reports themselves.
async fn totals_from_reports<B: Backend>(store: &B, domain: &str) -> (u64, u64, u64) {
    let reports = store.reports(domain, &DayRange::all()).await.unwrap();
    reports.iter().fold((0, 0, 0), |(r, m, n), rep| {
        let s = rep.summary();
        (r + 1, m + s.messages, n + s.records)
    })
}

/// Checks the per-day counters of a domain against its domain counters and against the
/// tallies of the reports stored now, and returns the messages they count.
async fn check_day_counts<B: Backend>(store: &B, domain: &str) -> i64 {
    let days = store.day_counts(domain, &DayRange::all()).await.unwrap();
    let mut from_days = Tally::default();
    for (day, counters) in &days {
        assert!(counters.values().all(|v| *v != 0), "{day}: {counters:?}");
        for (name, n) in counters {
            from_days.add(day, name, *n);
        }
    }
    let mut from_reports = Tally::default();
    for r in store.reports(domain, &DayRange::all()).await.unwrap() {
        for (day, counters) in Tally::of(&r.report, &r.sources).days {
            for (name, n) in counters {
                from_reports.add(&day, &name, n);
            }
        }
    }
    assert_eq!(from_days, from_reports, "{domain}");
    let sum = |name: &str| -> i64 { days.iter().filter_map(|(_, c)| c.get(name)).sum() };
    let (reports, messages, _) = totals_from_reports(store, domain).await;
    let tls = sum("tls_successful") + sum("tls_failed");
    assert_eq!(
        sum("reports") + sum("tls_reports"),
        reports as i64,
        "{domain}"
    );
    assert_eq!(sum("messages") + tls, messages as i64, "{domain}");
    assert_eq!(sum("dmarc_pass") + sum("dmarc_fail"), sum("messages"));
    sum("messages")
}

async fn every_corpus_report_reads_back_with_its_exact_facts<B: Backend>(store: Arc<B>) {
    let mut distinct = BTreeMap::new();
    let mut files = 0;
    for (file, reports) in corpus_report_files() {
        files += 1;
        let want: Vec<&Value> = reports.iter().filter(|r| r["kind"] != "empty").collect();
        let done = ingest_file(&*store, &file).await;
        if want.is_empty() {
            assert_eq!(done.outcome, Outcome::Rejected, "{file}");
            continue;
        }
        assert!(
            matches!(done.outcome, Outcome::Stored | Outcome::Duplicate),
            "{file}: {done:?}"
        );
        assert_eq!(done.reports.len(), want.len(), "{file}");
        for (id, want) in done.reports.iter().zip(want) {
            let got = store.report(id).await.unwrap().expect("stored report");
            match &got.report {
                Report::Aggregate(r) => check_aggregate(&file, want, r),
                Report::Tls(r) => check_tls(&file, want, r),
            }
            distinct.insert(id.clone(), got);
        }
    }
    assert_eq!(files, 62);
    // The corpus carries some reports more than once (one report in three containers).
    assert_eq!(distinct.len(), 52);

    let mut want: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for r in distinct.values() {
        let t = want.entry(r.domain()).or_default();
        let sum = r.summary();
        *t = (t.0 + 1, t.1 + sum.messages, t.2 + sum.records);
    }
    assert_eq!(counters(&*store).await, want);
    for (domain, t) in &want {
        assert_eq!(totals_from_reports(&*store, domain).await, *t, "{domain}");
        check_day_counts(&*store, domain).await;
    }
}

const TWENTY_RECORDS: &str = "generated/outlook-20-single-line.eml";

async fn the_same_mail_three_times_is_stored_once<B: Backend>(store: Arc<B>) {
    let first = ingest_file(&*store, TWENTY_RECORDS).await;
    assert_eq!(
        (first.outcome, first.stored, first.records),
        (Outcome::Stored, 1, 20)
    );
    let after_one = counters(&*store).await;
    for _ in 0..2 {
        let again = ingest_file(&*store, TWENTY_RECORDS).await;
        assert_eq!(
            (again.outcome, again.stored, again.duplicates, again.records),
            (Outcome::Duplicate, 0, 1, 0)
        );
        assert_eq!(again.reports, first.reports);
    }
    assert_eq!(counters(&*store).await, after_one);
    let (reports, messages, records) = after_one["example.com"];
    assert_eq!(
        check_day_counts(&*store, "example.com").await,
        messages as i64
    );
    assert_eq!((reports, records), (1, 20));
    assert_eq!(
        totals_from_reports(&*store, "example.com").await,
        (1, messages, 20)
    );
    let record = store.message(&first.key).await.unwrap().unwrap();
    assert_eq!(record.outcome, Outcome::Duplicate);
    assert_eq!(record.reports, first.reports);
}

async fn the_same_mail_twenty_times_at_once_is_stored_once<B: Backend + 'static>(store: Arc<B>) {
    let bytes = Arc::new(read_fixture(TWENTY_RECORDS));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (store, bytes) = (Arc::clone(&store), Arc::clone(&bytes));
        tasks.spawn(async move { ingest_bytes(&*store, &bytes, NOW).await.outcome });
    }
    let mut outcomes = BTreeMap::new();
    while let Some(outcome) = tasks.join_next().await {
        *outcomes.entry(outcome.unwrap().as_str()).or_insert(0) += 1;
    }
    assert_eq!(outcomes, BTreeMap::from([("duplicate", 19), ("stored", 1)]));
    let counted = counters(&*store).await["example.com"];
    assert_eq!((counted.0, counted.2), (1, 20));
    assert_eq!(totals_from_reports(&*store, "example.com").await, counted);
    check_day_counts(&*store, "example.com").await;
}

async fn a_crash_between_write_steps_is_completed_by_the_retry<B: Backend>(store: Arc<B>) {
    let files = [
        (FaultPoint::AfterHeader, "corpus/email/mail-auth/100.eml"),
        (FaultPoint::AfterBody, TWENTY_RECORDS),
    ];
    let mut want = BTreeMap::new();
    for (point, file) in files {
        store.faults().arm(point);
        let crashed = ingest_file(&*store, file).await;
        assert_eq!(crashed.outcome, Outcome::Failed, "{file}");
        assert_eq!(
            crashed.reason.as_deref(),
            Some(format!("stopped at {point:?} (injected fault)").as_str())
        );
        let id = &crashed.reports[0];
        assert_eq!(
            store.report(id).await.unwrap(),
            None,
            "half-written is invisible"
        );
        assert_eq!(counters(&*store).await, want, "nothing counted yet");
        let failed = store.message(&crashed.key).await.unwrap().unwrap();
        assert_eq!(failed.outcome, Outcome::Failed);

        let retried = ingest_file(&*store, file).await;
        assert_eq!((retried.outcome, retried.stored), (Outcome::Stored, 1));
        let report = store.report(id).await.unwrap().expect("completed");
        let sum = report.summary();
        let t = want.entry(report.domain()).or_insert((0, 0, 0));
        *t = (t.0 + 1, t.1 + sum.messages, t.2 + sum.records);
        assert_eq!(counters(&*store).await, want, "counted once");
        check_day_counts(&*store, &report.domain()).await;
        assert_eq!(ingest_file(&*store, file).await.outcome, Outcome::Duplicate);
    }
}

async fn garbage_and_bombs_are_rejected_and_kept<B: Backend>(store: Arc<B>) {
    let bomb = gzip_stream(b"<feedback>", b"<x/>", 200 << 20);
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "garbage",
            b"hello, this is not a report".to_vec(),
            "not XML, JSON, gzip, zip or mail (starts with \"hello, this is n\")",
        ),
        (
            "gzip bomb",
            bomb,
            "content of the gzip: decompressed payload size exceeds the limit of 134217728",
        ),
        (
            "failure report",
            read_fixture("corpus/forensic/mail-auth/001.eml"),
            "a DMARC failure report (RFC 6591 feedback report); Rampart reads aggregate and TLS reports only",
        ),
    ];
    for (i, (what, bytes, reason)) in cases.iter().enumerate() {
        let done = ingest_bytes(&*store, bytes, NOW + i as i64).await;
        assert_eq!(done.outcome, Outcome::Rejected, "{what}");
        assert_eq!(done.reason.as_deref(), Some(*reason), "{what}");
        assert_eq!(
            store.get_raw(&done.key, u64::MAX).await.unwrap(),
            RawRead::Bytes(bytes.clone()),
            "{what}: raw bytes kept"
        );
        let record = store.message(&done.key).await.unwrap().unwrap();
        assert_eq!(
            (record.outcome, record.reason.as_deref(), record.size),
            (Outcome::Rejected, Some(*reason), bytes.len() as u64)
        );
        if let Some(mark) = store.mark(&done.key).await {
            assert_eq!(mark.as_deref(), Some("rejected"), "{what}");
        }
    }
    let rejected: Vec<RawKey> = store
        .messages(Outcome::Rejected, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    let newest_first: Vec<RawKey> = cases
        .iter()
        .rev()
        .map(|(_, b, _)| RawKey::for_content(b))
        .collect();
    assert_eq!(rejected, newest_first);
    assert!(
        store
            .messages(Outcome::Stored, None, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(counters(&*store).await.is_empty());
}

async fn a_100k_record_report_round_trips<B: Backend>(store: Arc<B>) {
    let file = "generated/google-100k.eml";
    let done = ingest_file(&*store, file).await;
    assert_eq!(
        (done.outcome, done.stored, done.records),
        (Outcome::Stored, 1, 100_000)
    );
    let parsed = parse(&read_fixture(file)).reports.remove(0);
    let stored = store.report(&parsed.id).await.unwrap().unwrap();
    assert_eq!(stored.report, parsed.report, "read back exactly");
    let want = &expected("generated/EXPECTED.json")["google-100k.eml"][0];
    let Report::Aggregate(r) = &stored.report else {
        panic!("aggregate expected")
    };
    check_aggregate(file, want, r);
    assert_eq!(
        totals_from_reports(&*store, "example.com").await,
        (1, 29_707_051, 100_000)
    );
    let body = rampart_store::body::Body::encode(&parsed.report, &Default::default()).unwrap();
    assert_eq!((body.pieces.len(), body.compressed_len()), (6, 2_093_900));
    if let Some(largest) = store.largest_item().await {
        assert!(largest < 360_000, "largest item is {largest} bytes");
    }
}

async fn reprocessing_replaces_only_changed_reports<B: Backend>(store: Arc<B>) {
    let bytes = read_fixture(TWENTY_RECORDS);
    let first = ingest_bytes(&*store, &bytes, NOW).await;
    let before = counters(&*store).await["example.com"];
    let again = Ingest::new(&*store, &Enricher::disabled())
        .mode(WriteMode::Replace)
        .message(&first.key, &bytes, NOW + 1)
        .await;
    assert_eq!((again.outcome, again.duplicates), (Outcome::Duplicate, 1));

    // A parser upgrade that reads one more message in the first record.
    let mut upgraded: StoredReport = store.report(&first.reports[0]).await.unwrap().unwrap();
    let Report::Aggregate(r) = &mut upgraded.report else {
        panic!("aggregate expected")
    };
    r.records[0].count += 5;
    r.records.pop();
    assert_eq!(
        store
            .put_report(&upgraded, WriteMode::Replace)
            .await
            .unwrap(),
        PutReport::Replaced
    );
    assert_eq!(
        store
            .put_report(&upgraded, WriteMode::Replace)
            .await
            .unwrap(),
        PutReport::Duplicate
    );
    assert_eq!(
        store
            .put_report(&upgraded, WriteMode::Insert)
            .await
            .unwrap(),
        PutReport::Duplicate
    );
    let after = counters(&*store).await["example.com"];
    let removed = match &store
        .report(&first.reports[0])
        .await
        .unwrap()
        .unwrap()
        .report
    {
        Report::Aggregate(new) => {
            assert_eq!(new.records.len(), 19);
            before.1 + 5 - after.1
        }
        _ => unreachable!(),
    };
    assert_eq!((after.0, after.2), (1, 19));
    assert_eq!(totals_from_reports(&*store, "example.com").await, after);
    check_day_counts(&*store, "example.com").await;
    // `removed` is the count of the dropped last record: the counters moved by the difference.
    let Report::Aggregate(orig) = &parse(&bytes).reports[0].report else {
        unreachable!()
    };
    assert_eq!(removed, orig.records.last().unwrap().count);
}

async fn domains_registered_and_seen<B: Backend>(store: Arc<B>) {
    assert!(store.register_domain("Example.ORG.", 100).await.unwrap());
    assert!(!store.register_domain("example.org", 200).await.unwrap());
    ingest_file(&*store, "corpus/email/mail-auth/100.eml").await;
    let domains = store.domains(None, 1000).await.unwrap();
    let names: BTreeSet<&str> = domains.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["example.org", "stalw.art"]));
    assert_eq!(
        domains[0],
        DomainEntry {
            name: "example.org".into(),
            registered_at: Some(100),
            reports: 0,
            messages: 0,
            records: 0,
            span_days: 1,
            dns: None,
        }
    );
    assert_eq!(
        store.domain("EXAMPLE.org").await.unwrap().as_ref(),
        Some(&domains[0])
    );
    assert_eq!(store.domain("example.net").await.unwrap(), None);
    assert_eq!(
        domains[1].registered_at, None,
        "seen in reports, not registered"
    );
    assert_eq!(domains[1].reports, 1);

    assert!(store.unregister_domain("example.org").await.unwrap());
    assert!(!store.unregister_domain("example.org").await.unwrap());
    assert!(store.register_domain("stalw.art", 300).await.unwrap());
    assert!(store.unregister_domain("stalw.art").await.unwrap());
    let left = store.domains(None, 1000).await.unwrap();
    assert_eq!(left.len(), 1, "reports keep an unregistered domain listed");
    assert_eq!((left[0].name.as_str(), left[0].reports), ("stalw.art", 1));

    assert!(store.forget_domain("stalw.art").await.unwrap());
    assert!(!store.forget_domain("stalw.art").await.unwrap());
    assert_eq!(store.domains(None, 1000).await.unwrap(), []);
    let all = DayRange::all();
    assert_eq!(store.reports("stalw.art", &all).await.unwrap(), []);
    assert_eq!(store.day_counts("stalw.art", &all).await.unwrap(), []);
}

/// A report over two days: its counts are spread by the seconds on each day, the domain
/// remembers how far back a report can begin, and replacing it moves every day.
async fn a_two_day_report_is_spread_over_its_days<B: Backend>(store: Arc<B>) {
    // 2024-03-01T12:00Z to 2024-03-02T12:00Z, 10 + 3 messages.
    let xml = |count: u64| {
        format!(
            "<feedback><report_metadata><org_name>Spread Org</org_name>
             <report_id>two-days</report_id><date_range><begin>1709294400</begin>
             <end>1709380800</end></date_range></report_metadata>
             <policy_published><domain>spread.example</domain><p>reject</p></policy_published>
             <record><row><source_ip>192.0.2.1</source_ip><count>{count}</count>
             <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>
             </policy_evaluated></row><identifiers><header_from>spread.example</header_from>
             </identifiers></record>
             <record><row><source_ip>192.0.2.2</source_ip><count>3</count>
             <policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf>
             </policy_evaluated></row><identifiers><header_from>spread.example</header_from>
             </identifiers></record></feedback>"
        )
    };
    let done = ingest_bytes(&*store, xml(10).as_bytes(), NOW).await;
    assert_eq!(done.outcome, Outcome::Stored);
    let days = store
        .day_counts("spread.example", &DayRange::new("2024-03-01", "2024-03-02"))
        .await
        .unwrap();
    let c = |day: &str, pairs: &[(&str, i64)]| {
        (
            day.to_owned(),
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<rampart_store::tally::Counters>(),
        )
    };
    assert_eq!(
        days,
        [
            c(
                "2024-03-01",
                &[
                    ("cell:fail\u{1f}reject\u{1f}Spread Org", 1),
                    ("cell:pass\u{1f}none\u{1f}Spread Org", 5),
                    // The roll-ups: no source intelligence here, so no country or service.
                    ("class:compliant\u{1f}pass\u{1f}none", 5),
                    ("class:suspicious\u{1f}fail\u{1f}reject", 1),
                    ("disposition:none", 5),
                    ("disposition:reject", 1),
                    ("dkim_aligned_pass", 5),
                    ("dmarc_fail", 1),
                    ("dmarc_pass", 5),
                    ("geo:\u{1f}compliant\u{1f}pass", 5),
                    ("geo:\u{1f}suspicious\u{1f}fail", 1),
                    ("messages", 6),
                    ("records", 2),
                    ("reporter:Spread Org", 1),
                    ("reports", 1),
                    ("svc:\u{1f}compliant\u{1f}pass", 5),
                    ("svc:\u{1f}suspicious\u{1f}fail", 1),
                ]
            ),
            c(
                "2024-03-02",
                &[
                    ("cell:fail\u{1f}reject\u{1f}Spread Org", 2),
                    ("cell:pass\u{1f}none\u{1f}Spread Org", 5),
                    ("class:compliant\u{1f}pass\u{1f}none", 5),
                    ("class:suspicious\u{1f}fail\u{1f}reject", 2),
                    ("disposition:none", 5),
                    ("disposition:reject", 2),
                    ("dkim_aligned_pass", 5),
                    ("dmarc_fail", 2),
                    ("dmarc_pass", 5),
                    ("geo:\u{1f}compliant\u{1f}pass", 5),
                    ("geo:\u{1f}suspicious\u{1f}fail", 2),
                    ("messages", 7),
                    // On the report's last day: the day a domain's latest report shows.
                    ("policy:reject", 1),
                    ("reporter:Spread Org", 1),
                    ("svc:\u{1f}compliant\u{1f}pass", 5),
                    ("svc:\u{1f}suspicious\u{1f}fail", 2),
                ]
            ),
        ]
    );
    let entry = store.domain("spread.example").await.unwrap().unwrap();
    assert_eq!((entry.span_days, entry.messages), (2, 13));

    let mut changed = store.report(&done.reports[0]).await.unwrap().unwrap();
    let Report::Aggregate(r) = &mut changed.report else {
        unreachable!()
    };
    r.records[0].count = 20;
    let put = store
        .put_report(&changed, WriteMode::Replace)
        .await
        .unwrap();
    assert_eq!(put, PutReport::Replaced);
    assert_eq!(check_day_counts(&*store, "spread.example").await, 23);
    let second = store
        .day_counts("spread.example", &DayRange::new("2024-03-02", "2024-03-02"))
        .await
        .unwrap();
    assert_eq!(second[0].1["dmarc_pass"], 10);
}

async fn huge_mail_headers_are_cut_so_every_item_stays_small<B: Backend>(store: Arc<B>) {
    let mail = String::from_utf8(read_fixture("corpus/email/mail-auth/100.eml")).unwrap();
    let subject = format!("Subject: {}", "é".repeat(150_000));
    let hostile: String = mail
        .lines()
        .map(|l| {
            if l.starts_with("Subject:") {
                subject.as_str()
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let done = ingest_bytes(&*store, hostile.as_bytes(), NOW).await;
    assert_eq!(done.outcome, Outcome::Stored, "{:?}", done.reason);
    let stored = store.report(&done.reports[0]).await.unwrap().unwrap();
    let kept = stored.mail.unwrap().subject.unwrap();
    assert_eq!(
        kept,
        "é".repeat(499),
        "998 bytes, cut at a character boundary"
    );
    if let Some(largest) = store.largest_item().await {
        assert!(largest < 8_000, "largest item is {largest} bytes");
    }
}

async fn ses_verdicts_are_kept_with_each_report_and_never_drop_it<B: Backend>(store: Arc<B>) {
    let cases = [
        ("PASS", "pass", "pass", "pass"),
        ("FAIL", "fail", "fail", "fail"),
    ];
    for (i, (spam, spf, dkim, dmarc)) in cases.into_iter().enumerate() {
        let mail = as_received_by_ses(spam, spf, dkim, dmarc);
        let done = ingest_bytes(&*store, &mail, NOW + i as i64).await;
        assert_eq!(done.reports.len(), 1, "{:?}", done.reason);
        let report = store.report(&done.reports[0]).await.unwrap().unwrap();
        let ses = report.mail.unwrap().ses;
        let got: Vec<Option<&str>> = [&ses.spam, &ses.virus, &ses.spf, &ses.dkim, &ses.dmarc]
            .iter()
            .map(|v| v.as_ref().map(|v| v.as_str()))
            .collect();
        // Both copies carry the same report: the first one stored wins.
        assert_eq!(
            got,
            [
                Some("pass"),
                Some("pass"),
                Some("pass"),
                Some("pass"),
                Some("pass")
            ]
        );
        let want = if i == 0 {
            Outcome::Stored
        } else {
            Outcome::Duplicate
        };
        assert_eq!(done.outcome, want, "a failing verdict never drops a report");
    }

    // A report first seen in a mail that failed every check is stored all the same, with
    // its verdicts, for the user to filter on.
    let failing = read_fixture("corpus/email/mail-auth/101.eml");
    let failing = [
        b"X-SES-Spam-Verdict: FAIL\r\nX-SES-Virus-Verdict: FAIL\r\n\
          Authentication-Results: amazonses.com; spf=fail; dkim=temperror; dmarc=fail header.from=google.com;\r\n"
            .as_slice(),
        &failing,
    ]
    .concat();
    let done = ingest_bytes(&*store, &failing, NOW + 5).await;
    assert_eq!(done.outcome, Outcome::Stored);
    let ses = store
        .report(&done.reports[0])
        .await
        .unwrap()
        .unwrap()
        .mail
        .unwrap()
        .ses;
    assert_eq!(
        [&ses.spam, &ses.virus, &ses.spf, &ses.dkim, &ses.dmarc]
            .map(|v| v.as_ref().map(|v| v.as_str().to_owned())),
        ["fail", "fail", "fail", "temperror", "fail"].map(|v| Some(v.to_owned()))
    );
}

/// The DynamoDB items of one ingested mail, exactly as `docs/storage.md` describes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_items_are_as_documented() {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    let store = backends::aws().await;
    let done = ingest_bytes(
        &store,
        &as_received_by_ses("PASS", "pass", "pass", "pass"),
        NOW,
    )
    .await;
    let (id, key) = (done.reports[0].as_str(), done.key.as_str());
    let mut items = BTreeMap::new();
    for item in backends::all_items(&store).await {
        let text = |k: &str| match &item[k] {
            V::S(s) => s.clone(),
            other => panic!("{other:?}"),
        };
        items.insert((text("pk"), text("sk")), item);
    }
    let header_sk = format!("R#2022-11-27#{id}");
    let header = &items[&("D#stalw.art".to_owned(), header_sk.clone())];
    let V::S(hash) = &header["body"] else {
        panic!()
    };
    let keys: Vec<(&str, String)> = items.keys().map(|(p, s)| (p.as_str(), s.clone())).collect();
    assert_eq!(
        keys,
        [
            // The stored report asks for the domain's alerts to be evaluated.
            ("ALERTS", "D#stalw.art".to_owned()),
            ("D#stalw.art", "A#2022-11-27".to_owned()),
            ("D#stalw.art", header_sk.clone()),
            ("D#stalw.art", format!("{header_sk}#B#{hash}#0000")),
            ("DOMAIN", "D#stalw.art".to_owned()),
            (format!("M#{key}").as_str(), "M".to_owned()),
        ]
    );

    let s = |v: &str| V::S(v.to_owned());
    let n = |v: i64| V::N(v.to_string());
    let mut plain = header.clone();
    for volatile in ["mail", "origin", "body_bytes", "tally"] {
        assert!(plain.remove(volatile).is_some(), "{volatile}");
    }
    let expected_header = std::collections::HashMap::from([
        ("pk".to_owned(), s("D#stalw.art")),
        ("sk".to_owned(), s(&header_sk)),
        ("gsi1pk".to_owned(), s(&format!("RID#{id}"))),
        ("gsi1sk".to_owned(), s("R")),
        ("state".to_owned(), s("complete")),
        ("id".to_owned(), s(id)),
        ("domain".to_owned(), s("stalw.art")),
        ("day".to_owned(), s("2022-11-27")),
        ("kind".to_owned(), s("aggregate")),
        ("org".to_owned(), s("google.com")),
        ("report_id".to_owned(), s("5264580628977113351")),
        ("begin".to_owned(), n(1_669_507_200)),
        ("end".to_owned(), n(1_669_593_599)),
        ("messages".to_owned(), n(1)),
        ("records".to_owned(), n(1)),
        ("message".to_owned(), s(key)),
        ("received_at".to_owned(), n(NOW)),
        ("body".to_owned(), s(hash)),
        ("pieces".to_owned(), n(1)),
        ("span".to_owned(), n(1)),
        ("ses_spam".to_owned(), s("pass")),
        ("ses_virus".to_owned(), s("pass")),
        ("ses_spf".to_owned(), s("pass")),
        ("ses_dkim".to_owned(), s("pass")),
        ("ses_dmarc".to_owned(), s("pass")),
    ]);
    assert_eq!(plain, expected_header);

    let domain = &items[&("DOMAIN".to_owned(), "D#stalw.art".to_owned())];
    assert_eq!(
        (&domain["reports"], &domain["messages"], &domain["records"]),
        (&n(1), &n(1), &n(1))
    );
    let day = &items[&("D#stalw.art".to_owned(), "A#2022-11-27".to_owned())];
    let day: BTreeMap<&str, &V> = day.iter().map(|(k, v)| (k.as_str(), v)).collect();
    assert_eq!(
        day,
        BTreeMap::from([
            ("pk", &s("D#stalw.art")),
            ("sk", &s("A#2022-11-27")),
            ("cell:pass\u{1f}none\u{1f}google.com", &n(1)),
            ("class:compliant\u{1f}pass\u{1f}none", &n(1)),
            ("disposition:none", &n(1)),
            ("dkim_aligned_pass", &n(1)),
            ("dmarc_pass", &n(1)),
            ("geo:\u{1f}compliant\u{1f}pass", &n(1)),
            ("messages", &n(1)),
            ("policy:none", &n(1)),
            ("records", &n(1)),
            ("reporter:google.com", &n(1)),
            // The reporters with counters of their own (at most 200 a day).
            ("reporters", &V::Ss(vec!["google.com".to_owned()])),
            ("reports", &n(1)),
            ("spf_aligned_pass", &n(1)),
            ("svc:\u{1f}compliant\u{1f}pass", &n(1)),
        ])
    );
    let message = &items[&(format!("M#{key}"), "M".to_owned())];
    assert_eq!(message["gsi1pk"], s("OUT#stored"));
    assert_eq!(message["gsi1sk"], s(&format!("001790000000#{key}")));
    assert_eq!(message["outcome"], s("stored"));
}

/// Two `rampart ingest` started at once on a new data folder: one is creating the schema
/// (holding SQLite's RESERVED lock) while the other switches the file to WAL, which SQLite
/// refuses at once instead of waiting. The opener must wait, not fail (seen once with eight
/// processes; reproduced here deterministically).
#[test]
fn opening_waits_for_another_process_holding_the_database() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("locked-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let holder = rusqlite::Connection::open(dir.join("rampart.sqlite3")).unwrap();
    holder
        .execute_batch("BEGIN IMMEDIATE; CREATE TABLE other_process (x);")
        .unwrap();
    let opener = std::thread::spawn({
        let dir = dir.clone();
        move || rampart_store::embedded::EmbeddedStore::open(&dir).map(|_| ())
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    holder.execute_batch("COMMIT").unwrap();
    opener
        .join()
        .unwrap()
        .expect("opened once the lock was released");
}

async fn dns_check_runs_keep_history_and_the_newest_verdict<B: Backend>(store: Arc<B>) {
    let run = |at: i64, worst: &str| CheckRun {
        domain: "Example.ORG".into(),
        checked_at: at,
        worst: worst.into(),
        report: format!("{{\"at\":{at}}}"),
    };
    // A domain nobody registered or reported gets no entry from a check.
    store.put_check(&run(NOW, "ok")).await.unwrap();
    assert_eq!(store.domain("example.org").await.unwrap(), None);
    assert!(store.register_domain("example.org", NOW).await.unwrap());
    store.put_check(&run(NOW + 10, "critical")).await.unwrap();
    // An older run arriving late is history, not the verdict; the same run again replaces.
    store.put_check(&run(NOW + 5, "warning")).await.unwrap();
    store.put_check(&run(NOW + 5, "error")).await.unwrap();
    let entry = store.domain("example.org").await.unwrap().unwrap();
    assert_eq!(
        entry.dns,
        Some(DnsVerdict {
            worst: "critical".into(),
            checked_at: NOW + 10
        })
    );
    let listed = store.domains(None, 10).await.unwrap();
    assert_eq!(listed[0].dns, entry.dns);
    let runs = store.checks("EXAMPLE.org", 10).await.unwrap();
    let seen: Vec<(i64, &str, &str)> = runs
        .iter()
        .map(|r| (r.checked_at, r.worst.as_str(), r.report.as_str()))
        .collect();
    let (a, b, c) = (
        format!("{{\"at\":{}}}", NOW + 10),
        format!("{{\"at\":{}}}", NOW + 5),
        format!("{{\"at\":{NOW}}}"),
    );
    assert_eq!(
        seen,
        vec![
            (NOW + 10, "critical", a.as_str()),
            (NOW + 5, "error", b.as_str()),
            (NOW, "ok", c.as_str())
        ]
    );
    assert_eq!(runs[0].domain, "example.org");
    assert_eq!(store.checks("example.org", 1).await.unwrap().len(), 1);
    assert!(store.checks("other.org", 10).await.unwrap().is_empty());
    // Requests to check are a set, done one domain at a time.
    store.request_check("example.org").await.unwrap();
    store.request_check("Example.org").await.unwrap();
    store.request_check("b.example").await.unwrap();
    assert_eq!(
        store.check_requests().await.unwrap(),
        vec!["b.example", "example.org"]
    );
    store.check_done("b.example").await.unwrap();
    assert_eq!(store.check_requests().await.unwrap(), vec!["example.org"]);
    // Forgetting the domain takes its history and its request.
    assert!(store.unregister_domain("example.org").await.unwrap());
    assert!(store.forget_domain("example.org").await.unwrap());
    assert!(store.checks("example.org", 10).await.unwrap().is_empty());
    assert!(store.check_requests().await.unwrap().is_empty());
}

async fn alert_state_is_written_once_per_version_with_facts_settings_suppressions_and_claims<
    B: Backend,
>(
    store: Arc<B>,
) {
    let alert = |version: u64, body: &str| AlertItem {
        domain: "Example.NET".into(),
        id: "new_source#as:64500".into(),
        version,
        body: body.into(),
        expires_at: None,
    };
    assert!(store.alerts("example.net").await.unwrap().is_empty());
    // Version 1 once; then each version only over the one before it, as racing
    // evaluations would try.
    assert!(store.put_alert(&alert(1, "opened")).await.unwrap());
    assert!(!store.put_alert(&alert(1, "opened again")).await.unwrap());
    let racing = futures_util::future::join_all((0..8).map(|i| {
        let store = Arc::clone(&store);
        async move {
            store
                .put_alert(&alert(2, &format!("worse {i}")))
                .await
                .unwrap()
        }
    }))
    .await;
    assert_eq!(racing.iter().filter(|won| **won).count(), 1);
    assert!(
        !store
            .put_alert(&alert(4, "skipped a version"))
            .await
            .unwrap()
    );
    let resolved = AlertItem {
        expires_at: Some(NOW + 90 * 86_400),
        ..alert(3, "resolved")
    };
    assert!(store.put_alert(&resolved).await.unwrap());
    let stored = store.alerts("EXAMPLE.net").await.unwrap();
    assert_eq!(
        stored,
        vec![AlertItem {
            domain: "example.net".into(),
            ..resolved
        }]
    );
    let too_big = alert(4, &"x".repeat(rampart_store::alerting::MAX_ALERT_BYTES + 1));
    assert!(store.put_alert(&too_big).await.is_err());

    // Facts by day: replaced on write, read back by range in day order.
    let days = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(d, f)| (d.to_string(), f.to_string()))
            .collect()
    };
    store
        .put_alert_days(
            "example.net",
            &days(&[("2026-11-02", "b"), ("2026-11-01", "a")]),
        )
        .await
        .unwrap();
    store
        .put_alert_days(
            "example.net",
            &days(&[("2026-11-02", "b2"), ("2026-11-03", "c")]),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .alert_days("example.net", &DayRange::new("2026-11-02", "2026-11-30"))
            .await
            .unwrap(),
        days(&[("2026-11-02", "b2"), ("2026-11-03", "c")])
    );

    // Settings per domain and for all domains.
    assert_eq!(store.alert_settings("example.net").await.unwrap(), None);
    store
        .put_alert_settings("Example.net", "{\"a\":1}")
        .await
        .unwrap();
    store
        .put_alert_settings(ALL_DOMAINS, "{\"b\":2}")
        .await
        .unwrap();
    assert_eq!(
        store
            .alert_settings("example.net")
            .await
            .unwrap()
            .as_deref(),
        Some("{\"a\":1}")
    );
    assert_eq!(
        store.alert_settings(ALL_DOMAINS).await.unwrap().as_deref(),
        Some("{\"b\":2}")
    );

    // Suppressed addresses, without regard to case; the latest reason wins.
    let bounce = |reason: &str, at| Suppression {
        address: "Owner@Example.net".into(),
        reason: reason.into(),
        at,
    };
    store
        .suppress(&bounce("bounce: 550 no such user", NOW))
        .await
        .unwrap();
    store
        .suppress(&bounce("complaint: abuse", NOW + 1))
        .await
        .unwrap();
    let asked = vec![
        "owner@example.net".to_string(),
        "ops@example.net".to_string(),
    ];
    assert_eq!(
        store.suppressed(&asked).await.unwrap(),
        vec![Suppression {
            address: "owner@example.net".into(),
            reason: "complaint: abuse".into(),
            at: NOW + 1
        }]
    );
    assert!(store.unsuppress("OWNER@example.net").await.unwrap());
    assert!(!store.unsuppress("owner@example.net").await.unwrap());
    assert!(store.suppressed(&asked).await.unwrap().is_empty());

    // A claim is held by one of many until it expires.
    let claims = futures_util::future::join_all((0..8).map(|_| {
        let store = Arc::clone(&store);
        async move {
            store
                .claim("digest#example.net#2026-W48", NOW, NOW + 60)
                .await
                .unwrap()
        }
    }))
    .await;
    assert_eq!(claims.iter().filter(|won| **won).count(), 1);
    assert!(
        !store
            .claim("digest#example.net#2026-W48", NOW + 59, NOW + 120)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim("digest#example.net#2026-W48", NOW + 60, NOW + 120)
            .await
            .unwrap()
    );

    // Forgetting the domain takes its alerts, facts and settings.
    store.register_domain("example.net", NOW).await.unwrap();
    store.unregister_domain("example.net").await.unwrap();
    assert!(store.forget_domain("example.net").await.unwrap());
    assert!(store.alerts("example.net").await.unwrap().is_empty());
    assert!(
        store
            .alert_days("example.net", &DayRange::all())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.alert_settings("example.net").await.unwrap(), None);
    assert!(store.alert_settings(ALL_DOMAINS).await.unwrap().is_some());
    assert!(store.alert_requests().await.unwrap().is_empty());
}

async fn mailbox_sources_are_kept_by_id_within_their_cap<B: Backend>(store: Arc<B>) {
    let source = |id: &str, body: &str| MailboxItem {
        id: id.into(),
        body: body.into(),
    };
    assert!(store.mailboxes().await.unwrap().is_empty());
    store
        .put_mailbox(&source("imap-b", "{\"n\":1}"))
        .await
        .unwrap();
    store.put_mailbox(&source("imap-a", "{}")).await.unwrap();
    // The same id replaces.
    store
        .put_mailbox(&source("imap-b", "{\"n\":2}"))
        .await
        .unwrap();
    assert_eq!(
        store.mailboxes().await.unwrap(),
        vec![source("imap-a", "{}"), source("imap-b", "{\"n\":2}")]
    );
    assert_eq!(
        store.mailbox("imap-b").await.unwrap(),
        Some(source("imap-b", "{\"n\":2}"))
    );
    assert_eq!(store.mailbox("imap-c").await.unwrap(), None);
    // Ids the key schema cannot hold, and oversized bodies, are refused by name.
    for id in ["", "Upper", "a/b", &"x".repeat(65)] {
        let refused = store.put_mailbox(&source(id, "{}")).await.unwrap_err();
        assert_eq!(refused.code(), "storage_refused", "{id:?}");
    }
    let huge = "x".repeat(300 * 1024);
    assert_eq!(
        store
            .put_mailbox(&source("imap-a", &huge))
            .await
            .unwrap_err()
            .code(),
        "storage_refused"
    );
    // At the cap, a new source is refused and an existing one still changes.
    for i in 2..MAX_MAILBOXES {
        store
            .put_mailbox(&source(&format!("m-{i:03}"), "{}"))
            .await
            .unwrap();
    }
    let refused = store
        .put_mailbox(&source("one-more", "{}"))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("100 sources already"),
        "{refused}"
    );
    store
        .put_mailbox(&source("imap-a", "{\"n\":3}"))
        .await
        .unwrap();
    assert!(store.forget_mailbox("imap-a").await.unwrap());
    assert!(!store.forget_mailbox("imap-a").await.unwrap());
    store.put_mailbox(&source("one-more", "{}")).await.unwrap();
    assert_eq!(store.mailboxes().await.unwrap().len(), MAX_MAILBOXES);
}
