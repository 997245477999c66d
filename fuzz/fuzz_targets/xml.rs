//! The aggregate report parser on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_formats::Limits;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = rampart_formats::dmarc::parse_slice(data, &Limits::default()) {
        // Whatever was recovered must be complete enough to sum and print.
        let _ = report.message_count();
        let _ = format!("{report:?}");
    }
});
