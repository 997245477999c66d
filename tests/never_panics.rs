//! Property: no byte string panics any entry point, and every input ends with at least one
//! report or a reason.

mod common;

use proptest::prelude::*;
use rampart_formats::Limits;
use rampart_formats::intake::parse_input;

fn seeds() -> Vec<Vec<u8>> {
    [
        "corpus/email/mail-auth/103.eml",
        "corpus/email/mail-auth/100.eml",
        "corpus/aggregate/parsedmarc/nice-input.xml.gz",
        "corpus/aggregate/parsedmarc/nice-input.xml.zip",
        "corpus/aggregate/cry-inc/gmxnet.xml",
        "corpus/aggregate/parsedmarc/invalid_xml.xml",
        "corpus/tlsrpt/cry-inc/microsoft.json",
        "corpus/tlsrpt/parsedmarc/google.com_smtp_tls_report.eml",
    ]
    .iter()
    .map(|p| common::read_fixture(p))
    .collect()
}

fn check_all_entry_points(bytes: &[u8]) {
    let limits = Limits::default();
    let intake = parse_input(bytes, &limits);
    assert!(!intake.reports.is_empty() || !intake.problems.is_empty());
    assert_eq!(intake.reports.is_empty(), intake.rejection().is_some());
    let _ = rampart_formats::dmarc::parse_slice(bytes, &limits);
    let _ = rampart_formats::tlsrpt::parse_slice(bytes, &limits);
    let _ = rampart_formats::mail::walk(bytes, &limits);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check_all_entry_points(&bytes);
    }

    #[test]
    fn arbitrary_text_after_a_report_prefix_never_panics(tail in "[<>/a-z_&;#0-9 \\n\"'=:!?\\[\\]-]{0,2000}") {
        check_all_entry_points(format!("<feedback><record><row>{tail}").as_bytes());
        check_all_entry_points(format!("From: a@b\nContent-Type: multipart/mixed; boundary=x\n\n--x\n{tail}").as_bytes());
        check_all_entry_points(format!("{{\"policies\":[{tail}").as_bytes());
    }

    #[test]
    fn mutated_real_reports_never_panic(
        seed in 0usize..8,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..32),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = seeds().swap_remove(seed);
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        check_all_entry_points(&bytes);
        let keep = cut.index(bytes.len());
        check_all_entry_points(&bytes[..keep]);
    }
}
