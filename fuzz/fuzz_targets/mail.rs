//! Whole-input intake (mail, containers, both parsers) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_formats::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_payload_bytes: 8 << 20, max_total_bytes: 16 << 20, ..Limits::default() };
    let intake = rampart_formats::intake::parse_input(data, &limits);
    assert!(!intake.reports.is_empty() || !intake.problems.is_empty());
    let _ = rampart_formats::mail::walk(data, &limits);
});
