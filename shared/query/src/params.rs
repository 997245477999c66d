//! Query-string parameters, checked strictly: an unknown or repeated name is an error, so a
//! typo never silently widens a result.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::QueryError;

/// The largest offset a cursor may carry: further than any listing pages (a year of a very
/// large domain's records), small enough that adding a page size cannot overflow.
pub const MAX_OFFSET: usize = 100_000_000;

/// The parameters of one request, each name at most once.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// Accepts only names in `allowed`.
    pub fn new(pairs: Vec<(String, String)>, allowed: &[&str]) -> Result<Params, QueryError> {
        let mut values = BTreeMap::new();
        for (name, value) in pairs {
            if !allowed.contains(&name.as_str()) {
                return Err(QueryError::bad_request(
                    "unknown_parameter",
                    format!(
                        "unknown parameter {name:?}; this resource accepts: {}",
                        allowed.join(", ")
                    ),
                ));
            }
            if values.contains_key(&name) {
                return Err(QueryError::bad_request(
                    "repeated_parameter",
                    format!(
                        "parameter {name:?} is given more than once; separate values with commas"
                    ),
                ));
            }
            values.insert(name, value);
        }
        Ok(Params { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Comma-separated values, trimmed, empty ones dropped.
    pub fn list(&self, name: &str) -> Option<Vec<&str>> {
        self.get(name).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    pub fn date(&self, name: &str) -> Result<Option<NaiveDate>, QueryError> {
        self.get(name).map(|v| parse_day(name, v)).transpose()
    }

    /// A page size between 1 and `max`, `default` when absent.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, QueryError> {
        let Some(text) = self.get("limit") else {
            return Ok(default);
        };
        match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            Ok(n) if n > max => Err(QueryError::bad_request(
                "limit_too_large",
                format!("limit {n} is over the maximum of {max}"),
            )),
            _ => Err(QueryError::bad_request(
                "invalid_limit",
                format!("limit must be a whole number from 1 to {max}, not {text:?}"),
            )),
        }
    }

    /// `true`/`false` (also `1`/`0`), `false` when absent.
    pub fn flag(&self, name: &str) -> Result<bool, QueryError> {
        match self.get(name) {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(QueryError::bad_request(
                "invalid_parameter",
                format!("{name} must be true or false, not {other:?}"),
            )),
        }
    }

    /// One of `choices`, `default` when absent.
    pub fn choice<'a>(
        &self,
        name: &str,
        choices: &[&'a str],
        default: &'a str,
    ) -> Result<&'a str, QueryError> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        choices.iter().find(|c| **c == v).copied().ok_or_else(|| {
            QueryError::bad_request(
                "invalid_parameter",
                format!("{name} must be one of {}, not {v:?}", choices.join(", ")),
            )
        })
    }

    /// A stable digest of every parameter except the cursor, so a cursor is only accepted
    /// for the query that issued it.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (k, v) in self.values.iter().filter(|(k, _)| *k != "cursor") {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
        h.finalize()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The offset a `cursor` parameter points at (0 without one). A cursor is checked, not
    /// trusted: anyone can forge one, so its offset must be one a listing can reach.
    pub fn cursor(&self) -> Result<usize, QueryError> {
        let Some(c) = self.get("cursor") else {
            return Ok(0);
        };
        let invalid = || {
            QueryError::bad_request(
                "invalid_cursor",
                "cursor is not one this query issued; start again without it",
            )
        };
        let (offset, print) = c.split_once('.').ok_or_else(invalid)?;
        if print != self.fingerprint() {
            return Err(invalid());
        }
        match offset.parse::<usize>() {
            Ok(n) if n <= MAX_OFFSET => Ok(n),
            _ => Err(invalid()),
        }
    }
}

impl Params {
    /// The key a store-level `cursor` carries (the last key of the page before), if any.
    /// Such a cursor is `<the key, hex>.<fingerprint>`; like any cursor it is checked.
    pub fn key_cursor(&self) -> Result<Option<String>, QueryError> {
        let Some(c) = self.get("cursor") else {
            return Ok(None);
        };
        let invalid = || {
            QueryError::bad_request(
                "invalid_cursor",
                "cursor is not one this query issued; start again without it",
            )
        };
        let (hex, print) = c.split_once('.').ok_or_else(invalid)?;
        if print != self.fingerprint() || hex.len() > 2 * MAX_KEY_BYTES || hex.len() % 2 != 0 {
            return Err(invalid());
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| invalid())?;
        String::from_utf8(bytes).map(Some).map_err(|_| invalid())
    }
}

/// The cursor of the page after one that ends at `offset`, if more of `total` remain: the
/// offset and the query's [`Params::fingerprint`].
pub(crate) fn offset_cursor(offset: usize, total: usize, fingerprint: &str) -> Option<String> {
    (offset < total).then(|| format!("{offset}.{fingerprint}"))
}

/// A store-level cursor: the key `last`, hex, and the query's fingerprint.
pub(crate) fn key_cursor(last: &str, fingerprint: &str) -> String {
    let hex: String = last.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.{fingerprint}")
}

/// The longest key a store-level cursor carries (a raw message key is at most 1,024 bytes).
const MAX_KEY_BYTES: usize = 2048;

pub fn parse_day(name: &str, v: &str) -> Result<NaiveDate, QueryError> {
    let well_formed = v.len() == 10 && v.as_bytes()[4] == b'-' && v.as_bytes()[7] == b'-';
    well_formed
        .then(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| {
            QueryError::bad_request(
                "invalid_date",
                format!("{name} must be a date as YYYY-MM-DD, not {v:?}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Result<Params, QueryError> {
        let pairs = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Params::new(pairs, &["from", "limit", "cursor", "q"])
    }

    #[test]
    fn unknown_and_repeated_names_are_refused() {
        assert_eq!(
            params(&[("form", "x")]).unwrap_err().code,
            "unknown_parameter"
        );
        let twice = params(&[("q", "a"), ("q", "b")]).unwrap_err();
        assert_eq!(twice.code, "repeated_parameter");
    }

    #[test]
    fn limits_and_dates_are_checked() {
        let p = params(&[("limit", "1001"), ("from", "2024-02-30")]).unwrap();
        assert_eq!(p.limit(100, 1000).unwrap_err().code, "limit_too_large");
        assert_eq!(p.date("from").unwrap_err().code, "invalid_date");
        for bad in ["0", "-1", "ten", ""] {
            let p = params(&[("limit", bad)]).unwrap();
            assert_eq!(p.limit(100, 1000).unwrap_err().code, "invalid_limit");
        }
        assert_eq!(
            parse_day("d", "2024-1-01").unwrap_err().code,
            "invalid_date"
        );
    }

    #[test]
    fn a_cursor_only_fits_the_query_that_issued_it() {
        let p = params(&[("q", "a")]).unwrap();
        let next = offset_cursor(50, 120, &p.fingerprint()).unwrap();
        let again = params(&[("q", "a"), ("cursor", &next)]).unwrap();
        assert_eq!(again.cursor().unwrap(), 50);
        let other = params(&[("q", "b"), ("cursor", &next)]).unwrap();
        assert_eq!(other.cursor().unwrap_err().code, "invalid_cursor");
        assert_eq!(offset_cursor(120, 120, &p.fingerprint()), None);
        let fingerprint = p.fingerprint();
        for huge in [
            "100000001".to_owned(),
            usize::MAX.to_string(),
            "99999999999999999999999999".to_owned(),
            "-1".to_owned(),
        ] {
            let forged = format!("{huge}.{fingerprint}");
            let p = params(&[("q", "a"), ("cursor", &forged)]).unwrap();
            assert_eq!(p.cursor().unwrap_err().code, "invalid_cursor", "{huge}");
        }
    }
}
