//! The stored form of a report: its JSON, gzip-compressed, cut into pieces small enough for
//! any backend's item limit.
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

use super::StoreError;
use crate::intake::Report;

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
    pub fn hash_of(report: &Report) -> Result<String, StoreError> {
        let mut w = HashingWriter {
            hasher: Sha256::new(),
            inner: std::io::sink(),
        };
        serde_json::to_writer(&mut w, report).map_err(|e| StoreError::corrupt("report", e))?;
        Ok(hex(&w.hasher.finalize()))
    }

    pub fn encode(report: &Report) -> Result<Body, StoreError> {
        let mut w = HashingWriter {
            hasher: Sha256::new(),
            inner: GzEncoder::new(Vec::new(), Compression::new(6)),
        };
        serde_json::to_writer(&mut w, report).map_err(|e| StoreError::corrupt("report", e))?;
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
) -> Result<Report, StoreError> {
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

/// A report is stored in serde's internally tagged form, `{"kind":"aggregate",...}`, with the
/// tag first. Read through the enum, serde first copies the whole document into its generic
/// `Content` tree to find the tag; reading the variant's struct directly (it ignores the
/// `kind` field) skips that copy and makes reading a range of reports about twice as fast.
fn report_from_json(json: &[u8]) -> serde_json::Result<Report> {
    if json.starts_with(br#"{"kind":"aggregate","#) {
        return serde_json::from_slice(json).map(Report::Aggregate);
    }
    if json.starts_with(br#"{"kind":"tlsrpt","#) {
        return serde_json::from_slice(json).map(Report::Tls);
    }
    serde_json::from_slice(json)
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
            "/../tests/fixtures/generated/google-1k.xml"
        ))
        .unwrap();
        let report = crate::intake::parse_input(&xml, &crate::Limits::default())
            .reports
            .remove(0)
            .report;
        let body = Body::encode(&report).unwrap();
        assert_eq!(body.hash, Body::hash_of(&report).unwrap());
        assert!(body.pieces.iter().all(|p| p.len() <= MAX_PIECE_BYTES));
        let back = decode(body.pieces.iter().map(Vec::as_slice), 64 << 20).unwrap();
        assert_eq!(back, report);
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
            "/../tests/fixtures/generated/tlsrpt-1k.json"
        ))
        .unwrap();
        let xml = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/generated/google-1k.xml"
        ))
        .unwrap();
        for input in [xml, tls] {
            let report = crate::intake::parse_input(&input, &crate::Limits::default())
                .reports
                .remove(0)
                .report;
            let json = serde_json::to_vec(&report).unwrap();
            assert!(json.starts_with(br#"{"kind":"#));
            let direct = report_from_json(&json).unwrap();
            let tagged: Report = serde_json::from_slice(&json).unwrap();
            assert_eq!((&direct, &tagged), (&report, &report));
        }
    }
}
