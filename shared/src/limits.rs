//! The bounds every decoder and parser works within.
//!
//! One [`Limits`] value is passed down from the entry point so that no layer invents its own
//! constants. The defaults hold hostile input to about 100 MiB of memory and stay generous for
//! real reports: the largest real report we know of is 909 KB of XML (parsedmarc's
//! `!large-example.com` sample), a synthetic 100k-record report (65 MB of XML) parses in 70 MiB,
//! and SES accepts mails up to 40 MB.

use serde::{Deserialize, Serialize};

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
    /// Longest text of one XML value; longer values are cut, with a warning.
    pub max_value_bytes: usize,
    /// Longest run of XML without a `<` or without a `>`: bounds what the tokenizer buffers
    /// for one text or tag, whatever the payload size.
    pub max_xml_token_bytes: usize,
    /// Most records (aggregate) or policies plus failure details (TLS-RPT) in one report.
    pub max_records: usize,
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
            max_xml_token_bytes: 1 << 20,
            max_records: 500_000,
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
            LimitKind::Records => "records per report",
            LimitKind::Reports => "reports per input",
        })
    }
}
