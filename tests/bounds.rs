//! Hostile inputs end as typed limit errors, in bounded memory and time.
//!
//! The bombs are built here, cheaply: a compressed member or entry is made once and repeated,
//! so a few MB of input stand for gigabytes.

mod common;

use common::*;
use rampart_formats::Limits;
use rampart_formats::intake::{IntakeError, parse_input};
use rampart_formats::limits::LimitKind;

const MIB: usize = 1 << 20;

/// A multi-member gzip: one 16 MiB member repeated `members` times.
fn gzip_bomb(prefix: &[u8], filler: &[u8], members: usize) -> Vec<u8> {
    let first = gzip_stream(prefix, filler, 16 * MIB);
    let rest = gzip_stream(b"", filler, 16 * MIB);
    let mut out = first;
    for _ in 1..members {
        out.extend_from_slice(&rest);
    }
    out
}

fn limit_hit(intake: &rampart_formats::Intake) -> Vec<LimitKind> {
    intake
        .problems
        .iter()
        .filter_map(|p| match p.error {
            IntakeError::LimitExceeded { limit, .. } => Some(limit),
            _ => None,
        })
        .collect()
}

/// Peak resident memory of this process so far, in MiB (Linux).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

/// All bombs in one test, so that the process's peak memory measures them alone.
#[test]
fn bombs_are_rejected_in_bounded_memory() {
    let limits = Limits::default();

    // 4 GiB of zeros behind a report's first tags: the tokenizer's run guard stops it.
    let bomb = gzip_bomb(b"<feedback><report_metadata><org_name>", b"\0", 256);
    assert!(bomb.len() < 8 * MIB, "{} bytes", bomb.len());
    let intake = parse_input(&bomb, &limits);
    assert_eq!(limit_hit(&intake), vec![LimitKind::XmlToken]);

    // 4 GiB of tiny elements: the payload bound stops it.
    let bomb = gzip_bomb(b"<feedback>", b"<x/>", 256);
    let intake = parse_input(&bomb, &limits);
    assert_eq!(limit_hit(&intake), vec![LimitKind::PayloadBytes]);
    assert!(intake.reports.is_empty());

    // 4 GiB of zeros alone: refused on sight.
    let intake = parse_input(&gzip_bomb(b"", b"\0", 256), &limits);
    assert!(matches!(
        intake.problems[0].error,
        IntakeError::UnknownFormat(_)
    ));

    // gzip in gzip: 4 GiB inside a few KB.
    let inner = gzip_bomb(b"<feedback>", b"<x/>", 256);
    let intake = parse_input(&gzip(&inner), &limits);
    assert_eq!(limit_hit(&intake), vec![LimitKind::PayloadBytes]);

    // Nested zips (42.zip style): 16 zips of 16 entries of 16 MiB = 4 GiB.
    let entry = zip(&[("e.xml", &b"<x/>".repeat(4 * MIB))]);
    let mut inner = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut source = zip::ZipArchive::new(std::io::Cursor::new(entry)).unwrap();
    for i in 0..16 {
        inner
            .raw_copy_file_rename(source.by_index(0).unwrap(), format!("e{i}.xml"))
            .unwrap();
    }
    let inner = inner.finish().unwrap().into_inner();
    let outer = zip(&(0..16)
        .map(|i| (format!("z{i}.zip"), inner.clone()))
        .collect::<Vec<_>>()
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect::<Vec<_>>());
    assert!(outer.len() < 4 * MIB);
    let intake = parse_input(&outer, &limits);
    assert!(
        limit_hit(&intake).contains(&LimitKind::TotalBytes),
        "{:?}",
        intake.problems.first()
    );
    assert!(intake.reports.is_empty());

    let peak = peak_rss_mib();
    eprintln!("peak RSS {peak} MiB");
    assert!(peak < 160, "peak RSS {peak} MiB");
}

#[test]
fn too_many_zip_entries() {
    let names: Vec<String> = (0..100).map(|i| format!("r{i}.xml")).collect();
    let entries: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), &b"<feedback/>"[..]))
        .collect();
    let intake = parse(&zip(&entries));
    assert_eq!(limit_hit(&intake), vec![LimitKind::ZipEntries]);
}

#[test]
fn nesting_is_bounded() {
    let mut data = report_xml(&record("192.0.2.1", "1")).into_bytes();
    for i in 0..10 {
        data = if i % 2 == 0 {
            gzip(&data)
        } else {
            zip(&[("x.xml", &data)])
        };
    }
    let intake = parse(&data);
    assert_eq!(limit_hit(&intake), vec![LimitKind::Nesting]);

    let mut mail = String::from_utf8(read_fixture("corpus/email/mail-auth/100.eml")).unwrap();
    for _ in 0..10 {
        mail = format!("From: a@b.example\nContent-Type: message/rfc822\n\n{mail}");
    }
    assert_eq!(limit_hit(&parse(mail.as_bytes())), vec![LimitKind::Nesting]);
}

#[test]
fn xml_depth_records_and_input_size_are_bounded() {
    let deep = format!(
        "<feedback>{}{}</feedback>",
        "<a>".repeat(100),
        "</a>".repeat(100)
    );
    assert_eq!(
        limit_hit(&parse(deep.as_bytes())),
        vec![LimitKind::XmlDepth]
    );

    let limits = Limits {
        max_records: 3,
        ..Limits::default()
    };
    let xml = report_xml(&record("192.0.2.1", "1").repeat(4));
    assert_eq!(
        limit_hit(&parse_input(xml.as_bytes(), &limits)),
        vec![LimitKind::Records]
    );
    let xml = report_xml(&record("192.0.2.1", "1").repeat(3));
    assert_eq!(parse_input(xml.as_bytes(), &limits).reports.len(), 1);

    let limits = Limits {
        max_input_bytes: 100,
        ..Limits::default()
    };
    assert_eq!(
        limit_hit(&parse_input(xml.as_bytes(), &limits)),
        vec![LimitKind::InputBytes]
    );

    let limits = Limits {
        max_payload_bytes: 100,
        ..Limits::default()
    };
    assert_eq!(
        limit_hit(&parse_input(&gzip(xml.as_bytes()), &limits)),
        vec![LimitKind::PayloadBytes]
    );
}

#[test]
fn long_values_are_cut_not_buffered() {
    // Free text (a report id) is cut at the value bound, names (org_name) at the name bound;
    // each kind of cut is one warning.
    let xml = report_xml(&record("192.0.2.1", "1"))
        .replace("Example Reporter", &"A".repeat(200_000))
        .replace("r-1", &"1".repeat(200_000));
    let r = aggregate(xml.as_bytes());
    assert_eq!(r.metadata.org_name.len(), Limits::default().max_name_bytes);
    assert_eq!(
        r.metadata.report_id.len(),
        Limits::default().max_value_bytes
    );
    let cuts: Vec<&str> = r
        .warnings
        .iter()
        .filter(|w| w.kind == rampart_formats::WarningKind::Cut)
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(
        cuts,
        [
            "1 name(s) longer than 255 bytes cut (first: <org_name>)",
            "1 value(s) longer than 65536 bytes cut (first: <report_id>)"
        ]
    );
}

#[test]
fn tls_report_entry_count_is_bounded() {
    let policies = vec![r#"{"policy":{"policy-type":"sts"},"summary":{}}"#; 20].join(",");
    let json = format!(r#"{{"organization-name":"x","report-id":"r","policies":[{policies}]}}"#);
    let limits = Limits {
        max_records: 10,
        ..Limits::default()
    };
    assert_eq!(
        limit_hit(&parse_input(json.as_bytes(), &limits)),
        vec![LimitKind::Records]
    );
}

#[test]
fn a_cut_through_a_character_drops_it_whole() {
    // "aé" is 3 bytes; 65,536 = 3 × 21,845 + 1, so the cut falls after an "a": exact length.
    // "éa" puts the cut 1 byte into an "é", which is dropped whole: one byte less.
    for (unit, kept) in [("aé", 65_536), ("éa", 65_535)] {
        let xml = report_xml(&record("192.0.2.1", "1")).replace("r-1", &unit.repeat(50_000));
        let r = aggregate(xml.as_bytes());
        assert_eq!(r.metadata.report_id.len(), kept, "{unit}");
        assert!(!r.metadata.report_id.contains('\u{fffd}'));
        assert!(
            !r.warnings
                .iter()
                .any(|w| w.kind == rampart_formats::WarningKind::InvalidUtf8)
        );
    }
}
