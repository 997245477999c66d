//! Tells what a byte string is from its first bytes, never from a name or a header.
//!
//! Reporters label gzip as zip, zip as octet-stream and XML as anything (field guide §2.1
//! item 8), so every decision in intake is made here, on magic bytes.

use serde::Serialize;

/// What a byte string looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Gzip,
    Zip,
    Xml,
    Json,
    /// An RFC 5322 message (starts with a header line or an mbox `From ` line).
    Mail,
    /// Nothing but whitespace.
    Empty,
    Unknown,
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Sniffs a prefix. Sixteen bytes are enough for every format except [`Format::Mail`], which
/// needs the first line.
pub fn sniff(bytes: &[u8]) -> Format {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Format::Gzip;
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return Format::Zip;
    }
    let text = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Format::Empty;
    };
    match text[start] {
        b'<' => return Format::Xml,
        b'{' => return Format::Json,
        _ => {}
    }
    if looks_like_mail(text) {
        return Format::Mail;
    }
    Format::Unknown
}

/// A first line `Field-Name:` (RFC 5322 printable ASCII except colon) or an mbox separator.
fn looks_like_mail(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"From ") {
        return true;
    }
    let line_end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    let line = &bytes[..line_end.min(1000)];
    match line.iter().position(|&b| b == b':') {
        Some(0) | None => false,
        Some(colon) => line[..colon].iter().all(|&b| (33..=126).contains(&b)),
    }
}

/// A short printable rendering of a prefix, for error messages.
pub fn describe_prefix(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(16)];
    if head.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(head))
    } else {
        head.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_win() {
        assert_eq!(sniff(b"\x1f\x8b\x08\x00"), Format::Gzip);
        assert_eq!(sniff(b"PK\x03\x04rest"), Format::Zip);
        assert_eq!(sniff(b"<?xml version='1.0'?><feedback/>"), Format::Xml);
        assert_eq!(sniff(b"\xEF\xBB\xBF  \r\n<feedback>"), Format::Xml);
        assert_eq!(sniff(b"\n\t{\"a\":1}"), Format::Json);
        assert_eq!(sniff(b"Return-Path: <x@y>\r\n"), Format::Mail);
        assert_eq!(sniff(b"From MAILER-DAEMON Thu"), Format::Mail);
        assert_eq!(sniff(b"  \r\n"), Format::Empty);
        assert_eq!(sniff(b""), Format::Empty);
        assert_eq!(sniff(b"unused"), Format::Unknown);
        assert_eq!(sniff(b": no name"), Format::Unknown);
    }
}
