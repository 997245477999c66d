//! Webhook signatures: each alert is also POSTed as JSON to the owner's URL, signed so the
//! receiver knows it came from Rampart and is fresh. The header is
//! `X-Rampart-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with
//! the secret Rampart generated for the domain's webhook; the time in the signed text lets
//! a receiver refuse replays.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-Rampart-Signature";

/// Hex HMAC-SHA256 of `message` under `secret`.
pub fn signature(secret: &[u8], message: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The header value for `body` sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!("t={timestamp},v1={}", signature(secret, &signed))
}

/// Whether `header` signs `body` under `secret`, at most `tolerance` seconds from `now`:
/// what a receiver does.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance: i64) -> bool {
    let mut timestamp = None;
    let mut given = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => given = Some(v),
            _ => {}
        }
    }
    let (Some(t), Some(given)) = (timestamp, given) else {
        return false;
    };
    if now.abs_diff(t) > tolerance.unsigned_abs() {
        return false;
    }
    let expected = sign(secret, t, body);
    let expected = expected.rsplit_once("v1=").map_or("", |(_, v)| v);
    // Compared in constant time: a receiver's timing says nothing of the right value.
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_receiver_accepts_the_signed_body_and_refuses_changes_and_replays() {
        let body = br#"{"domain":"example.com","rule":"new_source"}"#;
        let header = sign(b"s3cret", 1_790_000_000, body);
        assert!(header.starts_with("t=1790000000,v1="));
        assert!(verify(b"s3cret", &header, body, 1_790_000_100, 300));
        assert!(!verify(b"s3cret", &header, b"{}", 1_790_000_100, 300));
        assert!(!verify(b"other", &header, body, 1_790_000_100, 300));
        assert!(!verify(b"s3cret", &header, body, 1_790_001_000, 300));
        assert!(!verify(b"s3cret", "v1=00", body, 1_790_000_000, 300));
    }
}
