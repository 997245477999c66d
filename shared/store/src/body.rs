//! The stored form of a report: its JSON (the parsed report, and for an aggregate report
//! the `sources` ingest learnt), gzip-compressed, cut into pieces small enough for any
//! backend's item limit.
//!
//! Compressing the whole report once (rather than per record) gives 10–20× smaller items, and
//! cutting the compressed bytes (rather than the records) bounds every piece exactly, however
//! large a single record is. The hash names the content, so pieces from two different
//! versions of one report never mix.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use rampart_formats::dmarc::{AggregateReport, PolicyPublished, Record, ReportMetadata};
use rampart_formats::{Report, TlsReport, Warning};
use rampart_sources::Sources;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// Most bytes in one piece. DynamoDB's item limit is 400 KB including names and the other
/// attributes (under 2 KB here), so a piece never brings an item near it.
pub const MAX_PIECE_BYTES: usize = 350_000;

/// A report encoded for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// 16 hex digits of the SHA-256 of the report's JSON.
    pub hash: String,
    pub pieces: Vec<Vec<u8>>,
}

impl Body {
    /// The hash alone, without compressing: enough to recognise a duplicate, which is most
    /// of what a second `rua` copy or a redelivery needs.
    pub fn hash_of(report: &Report, sources: &Sources) -> Result<String, StoreError> {
        let mut w = HashingWriter {
            hasher: Sha256::new(),
            inner: std::io::sink(),
        };
        serde_json::to_writer(&mut w, &StoredRef::of(report, sources))
            .map_err(|e| StoreError::corrupt("report", e))?;
        Ok(hex(&w.hasher.finalize()))
    }

    pub fn encode(report: &Report, sources: &Sources) -> Result<Body, StoreError> {
        let mut w = HashingWriter {
            hasher: Sha256::new(),
            inner: GzEncoder::new(Vec::new(), Compression::new(6)),
        };
        serde_json::to_writer(&mut w, &StoredRef::of(report, sources))
            .map_err(|e| StoreError::corrupt("report", e))?;
        let digest = w.hasher.finalize();
        let gz = w
            .inner
            .finish()
            .map_err(|e| StoreError::corrupt("report", e))?;
        Ok(Body {
            hash: hex(&digest),
            pieces: gz.chunks(MAX_PIECE_BYTES).map(<[u8]>::to_vec).collect(),
        })
    }

    pub fn compressed_len(&self) -> usize {
        self.pieces.iter().map(Vec::len).sum()
    }
}

/// Decodes the pieces of one body, in order. `max_json_bytes` bounds the decompressed JSON.
pub fn decode<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
    max_json_bytes: u64,
) -> Result<(Report, Sources), StoreError> {
    let gz: Vec<u8> = pieces.into_iter().flatten().copied().collect();
    let mut json = Vec::new();
    GzDecoder::new(gz.as_slice())
        .take(max_json_bytes + 1)
        .read_to_end(&mut json)
        .map_err(|e| StoreError::corrupt("stored report", e))?;
    if json.len() as u64 > max_json_bytes {
        return Err(StoreError::corrupt(
            "stored report",
            format!("larger than {max_json_bytes} bytes of JSON"),
        ));
    }
    report_from_json(&json).map_err(|e| StoreError::corrupt("stored report", e))
}

/// A report with what ingest learnt of its sources, serialised as it is stored (and as
/// `GET /v1/reports/{id}` shows it).
#[derive(Debug, Clone, PartialEq)]
pub struct EnrichedReport {
    pub report: Report,
    pub sources: Sources,
}

impl Serialize for EnrichedReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredRef::of(&self.report, &self.sources).serialize(serializer)
    }
}

/// The stored JSON of a report: serde's internally tagged form of [`Report`], with the tag
/// first, and an aggregate report's `sources` after its own fields:
/// `{"kind":"aggregate","version":...,"warnings":[...],"sources":{...}}`. Enrichment is not
/// part of the parsed report, so these two types spell out that layout; destructuring the
/// report exhaustively makes a new report field a compile error here until it is stored.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum StoredRef<'a> {
    Aggregate(AggregateRef<'a>),
    #[serde(rename = "tlsrpt")]
    Tls(&'a TlsReport),
}

#[derive(Serialize)]
struct AggregateRef<'a> {
    version: &'a Option<String>,
    namespace: &'a Option<String>,
    metadata: &'a ReportMetadata,
    policy: &'a PolicyPublished,
    records: &'a [Record],
    warnings: &'a [Warning],
    #[serde(skip_serializing_if = "no_sources")]
    sources: &'a Sources,
}

fn no_sources(sources: &&Sources) -> bool {
    sources.is_empty()
}

impl<'a> StoredRef<'a> {
    fn of(report: &'a Report, sources: &'a Sources) -> StoredRef<'a> {
        match report {
            Report::Aggregate(AggregateReport {
                version,
                namespace,
                metadata,
                policy,
                records,
                warnings,
            }) => StoredRef::Aggregate(AggregateRef {
                version,
                namespace,
                metadata,
                policy,
                records,
                warnings,
                sources,
            }),
            Report::Tls(tls) => StoredRef::Tls(tls),
        }
    }
}

// Read once and split at once: boxing the larger variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum StoredOwned {
    Aggregate(AggregateOwned),
    #[serde(rename = "tlsrpt")]
    Tls(TlsReport),
}

#[derive(Deserialize)]
struct AggregateOwned {
    version: Option<String>,
    namespace: Option<String>,
    metadata: ReportMetadata,
    policy: PolicyPublished,
    records: Vec<Record>,
    warnings: Vec<Warning>,
    #[serde(default)]
    sources: Sources,
}

impl AggregateOwned {
    fn split(self) -> (Report, Sources) {
        let AggregateOwned {
            version,
            namespace,
            metadata,
            policy,
            records,
            warnings,
            sources,
        } = self;
        let report = AggregateReport {
            version,
            namespace,
            metadata,
            policy,
            records,
            warnings,
        };
        (Report::Aggregate(report), sources)
    }
}

/// Read through the tagged enum, serde first copies the whole document into its generic
/// `Content` tree to find the tag; reading the variant's struct directly (it ignores the
/// `kind` field) skips that copy and makes reading a range of reports about twice as fast.
fn report_from_json(json: &[u8]) -> serde_json::Result<(Report, Sources)> {
    if json.starts_with(br#"{"kind":"aggregate","#) {
        return serde_json::from_slice(json).map(AggregateOwned::split);
    }
    if json.starts_with(br#"{"kind":"tlsrpt","#) {
        return serde_json::from_slice(json).map(|t| (Report::Tls(t), Sources::new()));
    }
    serde_json::from_slice(json).map(|stored| match stored {
        StoredOwned::Aggregate(a) => a.split(),
        StoredOwned::Tls(t) => (Report::Tls(t), Sources::new()),
    })
}

/// The first 8 bytes of a digest in hex.
fn hex(digest: &[u8]) -> String {
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

struct HashingWriter<W> {
    hasher: Sha256,
    inner: W,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_bounded_and_decode_to_the_report() {
        let xml = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/generated/google-1k.xml"
        ))
        .unwrap();
        let report =
            rampart_formats::intake::parse_input(&xml, &rampart_formats::Limits::default())
                .reports
                .remove(0)
                .report;
        let sources = Sources::new();
        let body = Body::encode(&report, &sources).unwrap();
        assert_eq!(body.hash, Body::hash_of(&report, &sources).unwrap());
        assert!(body.pieces.iter().all(|p| p.len() <= MAX_PIECE_BYTES));
        let back = decode(body.pieces.iter().map(Vec::as_slice), 64 << 20).unwrap();
        assert_eq!(back, (report, sources));
        let err = decode(body.pieces.iter().map(Vec::as_slice), 1000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "stored report is unreadable: larger than 1000 bytes of JSON"
        );
    }

    #[test]
    fn the_direct_read_agrees_with_the_tagged_enum() {
        let tls = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/generated/tlsrpt-1k.json"
        ))
        .unwrap();
        let xml = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/generated/google-1k.xml"
        ))
        .unwrap();
        for input in [xml, tls] {
            let report =
                rampart_formats::intake::parse_input(&input, &rampart_formats::Limits::default())
                    .reports
                    .remove(0)
                    .report;
            let json = serde_json::to_vec(&report).unwrap();
            assert!(json.starts_with(br#"{"kind":"#));
            let (direct, _) = report_from_json(&json).unwrap();
            let tagged: Report = serde_json::from_slice(&json).unwrap();
            assert_eq!((&direct, &tagged), (&report, &report));
        }
    }

    /// Sources are kept inside the aggregate report's object, after its own fields, as
    /// they were when the parsed report carried them: stored bodies read back unchanged
    /// and `GET /v1/reports/{id}` shows the same document.
    #[test]
    fn sources_sit_inside_the_aggregate_object_and_read_back() {
        let xml =
            br#"<feedback><report_metadata><org_name>Example</org_name><report_id>1</report_id>
          <date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>
          <policy_published><domain>example.com</domain><p>none</p></policy_published>
          <record><row><source_ip>192.0.2.1</source_ip><count>3</count></row></record></feedback>"#;
        let report = rampart_formats::intake::parse_input(xml, &rampart_formats::Limits::default())
            .reports
            .remove(0)
            .report;
        let info = rampart_sources::SourceInfo {
            country: Some("NL".into()),
            asn: Some(64_500),
            as_org: None,
            reverse_dns: rampart_sources::ReverseDns::Absent,
            base_domain: None,
            service: None,
        };
        let sources = Sources::from([("192.0.2.1".parse().unwrap(), info)]);
        let json = serde_json::to_string(&StoredRef::of(&report, &sources)).unwrap();
        assert!(
            json.starts_with(r#"{"kind":"aggregate","version":"#),
            "{json}"
        );
        assert!(
            json.ends_with(
                r#""warnings":[],"sources":{"192.0.2.1":{"country":"NL","asn":64500,"as_org":null,"reverse_dns":{"status":"absent"},"base_domain":null,"service":null}}}"#
            ),
            "{json}"
        );
        let body = Body::encode(&report, &sources).unwrap();
        let back = decode(body.pieces.iter().map(Vec::as_slice), 1 << 20).unwrap();
        assert_eq!(back, (report.clone(), sources.clone()));
        // Through the tagged enum (a body whose tag is not first) as well.
        let untagged = json.replacen(r#""kind":"aggregate","#, "", 1);
        let tag_last = format!(
            r#"{},"kind":"aggregate"}}"#,
            &untagged[..untagged.len() - 1]
        );
        assert_eq!(report_from_json(tag_last.as_bytes()).unwrap(), back);
        assert_eq!(
            serde_json::to_string(&EnrichedReport { report, sources }).unwrap(),
            json
        );
    }
}
