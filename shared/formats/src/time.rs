//! Date readers for report timestamps: DMARC epochs and TLS-RPT RFC 3339 date-times.

use chrono::{DateTime, NaiveDateTime};

/// Seconds above this are read as milliseconds: 10^11 s is the year 5138, while 10^11 ms is
/// 1973, and reporters such as SFR send milliseconds (field guide §2.3 item 35).
const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// How an epoch value had to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochForm {
    Seconds,
    FractionalSeconds,
    Milliseconds,
}

/// Reads an epoch timestamp as DMARC reporters write it: whole seconds, seconds with a
/// fraction (`1700000000.0`), or milliseconds. Returns whole seconds, truncated.
pub fn parse_epoch(text: &str) -> Option<(i64, EpochForm)> {
    let t = text.trim();
    let (whole, form) = match t.split_once('.') {
        Some((w, frac)) if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) => {
            (w, EpochForm::FractionalSeconds)
        }
        Some((w, "")) => (w, EpochForm::FractionalSeconds),
        Some(_) => return None,
        None => (t, EpochForm::Seconds),
    };
    let digits = whole.strip_prefix('+').unwrap_or(whole);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = digits.parse().ok()?;
    if value >= MILLIS_THRESHOLD {
        return Some((value / 1000, EpochForm::Milliseconds));
    }
    Some((value, form))
}

/// Reads an RFC 3339 date-time, also without a zone (then UTC) and with a space for `T`.
/// Returns epoch seconds.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp());
    }
    let normalised = t.replacen(' ', "T", 1);
    if let Ok(dt) = DateTime::parse_from_rfc3339(&normalised) {
        return Some(dt.timestamp());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(&normalised, format) {
            return Some(dt.and_utc().timestamp());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|dt| dt.and_utc().timestamp());
    }
    None
}

/// Reads a `Date:` header that the mail parser could not, in the odd layouts reporters use
/// (e.g. `Fri, May 09 2017 16:54:30 -0800`, month before day). Returns epoch seconds.
pub fn parse_mail_date(raw: &str) -> Option<i64> {
    let t = raw.trim();
    if let Ok(dt) = DateTime::parse_from_rfc2822(t) {
        return Some(dt.timestamp());
    }
    let without_weekday = t.split_once(',').map(|(_, rest)| rest.trim()).unwrap_or(t);
    for format in [
        "%b %d %Y %H:%M:%S %z",
        "%d %b %Y %H:%M:%S %z",
        "%b %d, %Y %H:%M:%S %z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(without_weekday, format) {
            return Some(dt.timestamp());
        }
    }
    None
}

/// Renders epoch seconds as `YYYY-MM-DDTHH:MM:SSZ`.
/// The wall clock, in epoch seconds: the one clock every entry point hands down.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn format_utc(epoch: i64) -> String {
    DateTime::from_timestamp(epoch, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| epoch.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_in_every_form() {
        assert_eq!(
            parse_epoch("1538413632"),
            Some((1538413632, EpochForm::Seconds))
        );
        assert_eq!(
            parse_epoch(" 1700000000.0 "),
            Some((1700000000, EpochForm::FractionalSeconds))
        );
        assert_eq!(
            parse_epoch("1627776308616"),
            Some((1627776308, EpochForm::Milliseconds))
        );
        assert_eq!(parse_epoch("100"), Some((100, EpochForm::Seconds)));
        assert_eq!(parse_epoch(""), None);
        assert_eq!(parse_epoch("-5"), None);
        assert_eq!(parse_epoch("12a"), None);
        assert_eq!(parse_epoch("99999999999999999999999"), None);
    }

    #[test]
    fn datetimes_with_and_without_zone() {
        assert_eq!(parse_datetime("2016-04-01T00:00:00Z"), Some(1459468800));
        assert_eq!(
            parse_datetime("2016-04-01T02:00:00+02:00"),
            Some(1459468800)
        );
        assert_eq!(parse_datetime("2016-04-01T00:00:00"), Some(1459468800));
        assert_eq!(parse_datetime("2016-04-01 00:00:00"), Some(1459468800));
        assert_eq!(parse_datetime("2016-04-01T00:00:00.5Z"), Some(1459468800));
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(format_utc(1459468800), "2016-04-01T00:00:00Z");
        assert_eq!(
            parse_mail_date("Fri, May 09 2017 16:54:30 -0800"),
            Some(1494377670)
        );
    }
}
