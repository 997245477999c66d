//! The TLS-RPT parser on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart::Limits;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = rampart::tlsrpt::parse_slice(data, &Limits::default()) {
        let _ = (report.successful_sessions(), report.failed_sessions());
    }
});
