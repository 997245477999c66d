//! The TLS-RPT parser on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_formats::Limits;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = rampart_formats::tlsrpt::parse_slice(data, &Limits::default()) {
        let _ = (report.successful_sessions(), report.failed_sessions());
    }
});
