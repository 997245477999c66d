//! The bounds every decoder and parser works within.
//!
//! One [`Limits`] value is passed down from the entry point so that no layer invents its own
//! constants. Bytes are bounded (input, each payload, all payloads, what is held whole) and so
//! is structure: records, authentication results, reasons and errors are counted, values are
//! cut, and what parsing builds is charged to one memory budget per input. Whatever a stranger
//! sends, parsing one input stays within 256 MiB of memory (`tests/hostile.rs` proves it on
//! the worst shapes known; `docs/security.md` lists every bound). The defaults stay generous
//! for real reports: the largest real report we know of is 909 KB of XML (parsedmarc's
//! `!large-example.com` sample), a synthetic 100k-record report (65 MB of XML) parses within
//! them, and SES accepts mails up to 40 MB.

use serde::{Deserialize, Serialize};

/// The largest count taken as real, 2^53 − 1: the largest integer a JSON reader such as
/// JavaScript keeps exact. A larger count in a report is kept as invalid and counted nowhere;
/// every total stops here instead of wrapping.
pub const MAX_COUNT: u64 = (1 << 53) - 1;

/// `a + b`, stopping at [`MAX_COUNT`].
pub fn add_counts(a: u64, b: u64) -> u64 {
    a.saturating_add(b).min(MAX_COUNT)
}

/// Hard bounds for one input. Exceeding one is an [`IntakeError::LimitExceeded`](crate::IntakeError),
/// never an allocation failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest raw input (a whole mail, or a bare compressed file), in bytes.
    pub max_input_bytes: u64,
    /// Largest decompressed payload (one XML or JSON document), in bytes.
    pub max_payload_bytes: u64,
    /// Largest sum of decompressed bytes over every payload of one input.
    pub max_total_bytes: u64,
    /// Largest payload held whole in memory (JSON reports, zips and mails found inside
    /// containers); XML is streamed and bounded by `max_payload_bytes` instead.
    pub max_buffered_bytes: u64,
    /// Longest free-text value (a comment, a human result, a report id); longer ones are cut.
    pub max_value_bytes: usize,
    /// Longest name-like value (a domain, a selector, an address, a result as sent); longer
    /// ones are cut. No DNS name is longer than 253 bytes.
    pub max_name_bytes: usize,
    /// Longest run of XML without a `<` or without a `>`: bounds what the tokenizer buffers
    /// for one text or tag, whatever the payload size.
    pub max_xml_token_bytes: usize,
    /// Most records (aggregate) or policies plus failure details (TLS-RPT) over all the
    /// reports of one input.
    pub max_records: usize,
    /// Most DKIM results, and most SPF results, kept per record; further ones are dropped and
    /// counted in a warning.
    pub max_auth_results: usize,
    /// Most policy override reasons kept per record.
    pub max_reasons: usize,
    /// Most `<error>` elements kept per report.
    pub max_errors: usize,
    /// Most lines of a TLS policy's `policy-string` and most `mx-host` entries kept per policy.
    pub max_policy_strings: usize,
    /// Memory that the parsed reports of one input may take (structures and text, estimated
    /// as they are built); past it the report being read is refused.
    pub max_parsed_bytes: u64,
    /// Largest report as stored (its JSON); a larger report is refused. Well below what the
    /// stores read back (`max_total_bytes`), with room for what ingest adds (sources).
    pub max_report_json_bytes: u64,
    /// Most MIME boundary lines (lines starting with `--`) in one mail.
    pub max_mime_parts: usize,
    /// Most header-like lines (`Name: value`) in one mail.
    pub max_header_lines: usize,
    /// Most entries read from one zip archive (directories included).
    pub max_zip_entries: usize,
    /// Deepest nesting of containers (gzip in zip in a message in a message...).
    pub max_nesting: usize,
    /// Deepest XML element nesting accepted in a report.
    pub max_xml_depth: usize,
    /// Most reports taken from one input.
    pub max_reports: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 40 << 20,
            max_payload_bytes: 128 << 20,
            max_total_bytes: 256 << 20,
            max_buffered_bytes: 8 << 20,
            max_value_bytes: 64 << 10,
            max_name_bytes: 255,
            max_xml_token_bytes: 1 << 20,
            max_records: 200_000,
            max_auth_results: 32,
            max_reasons: 16,
            max_errors: 16,
            max_policy_strings: 64,
            max_parsed_bytes: 96 << 20,
            max_report_json_bytes: 64 << 20,
            max_mime_parts: 1_000,
            max_header_lines: 100_000,
            max_zip_entries: 64,
            max_nesting: 6,
            max_xml_depth: 64,
            max_reports: 256,
        }
    }
}

/// Which bound was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    InputBytes,
    PayloadBytes,
    TotalBytes,
    BufferedBytes,
    ZipEntries,
    Nesting,
    XmlDepth,
    XmlToken,
    Records,
    Reports,
    ParsedBytes,
    ReportJson,
    MimeParts,
    HeaderLines,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::InputBytes => "input size",
            LimitKind::PayloadBytes => "decompressed payload size",
            LimitKind::TotalBytes => "decompressed size of the whole input",
            LimitKind::BufferedBytes => "size of a payload read into memory",
            LimitKind::ZipEntries => "zip entry count",
            LimitKind::Nesting => "container nesting depth",
            LimitKind::XmlDepth => "XML nesting depth",
            LimitKind::XmlToken => "length of one XML text or tag",
            LimitKind::Records => "records over the reports of one input",
            LimitKind::Reports => "reports per input",
            LimitKind::ParsedBytes => "memory of the parsed reports",
            LimitKind::ReportJson => "size of one report as stored",
            LimitKind::MimeParts => "MIME boundary lines of a mail",
            LimitKind::HeaderLines => "header lines of a mail",
        })
    }
}
