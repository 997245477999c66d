//! SMTP TLS reports (RFC 8460 §4): the model and a tolerant JSON reader.
//!
//! Every field that is not structure is optional (Microsoft leaves out IPs and host names,
//! Google leaves out policy domains), `mx-host` may be a string or an array (erratum 6241),
//! date-times may lack a zone, unknown policy and result types are kept as `Other`, and counts
//! are kept as sent even when the failure details add up to more than the summary (Mail.ru).
//! Field names follow the RFC in the JSON form (kebab-case) and snake_case in our model.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::enums::report_enum;
use crate::limits::{MAX_COUNT, add_counts};
use crate::time::parse_datetime;
use crate::warning::{Cut, Warning, WarningKind, WarningList};

/// One TLS report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsReport {
    pub organization_name: Option<String>,
    /// Start of the period, epoch seconds.
    pub start: Option<i64>,
    /// End of the period, epoch seconds.
    pub end: Option<i64>,
    pub contact_info: Option<String>,
    pub report_id: Option<String>,
    pub policies: Vec<PolicyResult>,
    pub warnings: Vec<Warning>,
}

impl TlsReport {
    /// Successful sessions over all policies, stopping at
    /// [`MAX_COUNT`](crate::limits::MAX_COUNT).
    pub fn successful_sessions(&self) -> u64 {
        self.policies.iter().fold(0u64, |s, p| {
            add_counts(s, p.summary.total_successful_session_count.unwrap_or(0))
        })
    }

    /// Failed sessions over all policies, stopping at [`MAX_COUNT`](crate::limits::MAX_COUNT).
    pub fn failed_sessions(&self) -> u64 {
        self.policies.iter().fold(0u64, |s, p| {
            add_counts(s, p.summary.total_failure_session_count.unwrap_or(0))
        })
    }
}

/// One entry of `policies`: a policy, its session counts and its failures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyResult {
    pub policy: TlsPolicy,
    pub summary: Summary,
    pub failure_details: Vec<FailureDetail>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsPolicy {
    pub policy_type: Option<PolicyType>,
    /// The policy as the sender saw it, one line or record per element.
    pub policy_string: Vec<String>,
    pub policy_domain: Option<String>,
    pub mx_host: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub total_successful_session_count: Option<u64>,
    pub total_failure_session_count: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureDetail {
    pub result_type: Option<ResultType>,
    pub sending_mta_ip: Option<String>,
    pub receiving_mx_hostname: Option<String>,
    pub receiving_mx_helo: Option<String>,
    pub receiving_ip: Option<String>,
    pub failed_session_count: Option<u64>,
    pub additional_information: Option<String>,
    pub failure_reason_code: Option<String>,
}

report_enum! {
    /// `policy-type`.
    pub enum PolicyType {
        Tlsa = "tlsa",
        Sts = "sts",
        NoPolicyFound = "no-policy-found",
    }
}

report_enum! {
    /// `result-type` (IANA "STARTTLS Validation Result Types"; the registry can grow).
    pub enum ResultType {
        StarttlsNotSupported = "starttls-not-supported",
        CertificateHostMismatch = "certificate-host-mismatch",
        CertificateExpired = "certificate-expired",
        CertificateNotTrusted = "certificate-not-trusted",
        ValidationFailure = "validation-failure",
        TlsaInvalid = "tlsa-invalid",
        DnssecInvalid = "dnssec-invalid",
        DaneRequired = "dane-required",
        StsPolicyFetchError = "sts-policy-fetch-error",
        StsPolicyInvalid = "sts-policy-invalid",
        StsWebpkiInvalid = "sts-webpki-invalid",
    }
}

/// Why a JSON document gave no TLS report.
#[derive(Debug, thiserror::Error)]
pub enum TlsParseError {
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not an SMTP TLS report: {0}")]
    NotAReport(String),
    #[error("{0} policies and failure details exceed the limit of {1}")]
    TooLarge(usize, usize),
}

/// Policies plus failure details, counted before the report is built.
fn count_entries(v: &Value) -> usize {
    match v.get("policies") {
        Some(Value::Array(policies)) => policies
            .iter()
            .map(|p| {
                1 + p
                    .get("failure-details")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
            })
            .sum(),
        _ => 0,
    }
}

/// Parses a TLS report from JSON bytes (a UTF-8 BOM is allowed).
pub fn parse_slice(bytes: &[u8], limits: &crate::Limits) -> Result<TlsReport, TlsParseError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let value: Value = serde_json::from_slice(bytes)?;
    if !value.is_object() {
        return Err(TlsParseError::NotAReport(
            "the document is not a JSON object".into(),
        ));
    }
    let is_tls = ["policies", "organization-name", "report-id", "date-range"]
        .iter()
        .any(|k| value.get(k).is_some());
    if !is_tls {
        return Err(TlsParseError::NotAReport(
            "none of policies, organization-name, report-id, date-range".into(),
        ));
    }
    let entries = count_entries(&value);
    if entries > limits.max_records {
        return Err(TlsParseError::TooLarge(entries, limits.max_records));
    }
    let mut r = Reader {
        limits,
        warnings: WarningList::default(),
    };
    let date_range = value.get("date-range").unwrap_or(&Value::Null);
    let start = r.date("start-datetime", date_range.get("start-datetime"));
    let end = r.date("end-datetime", date_range.get("end-datetime"));
    let policies = match value.get("policies") {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, p)| r.policy_result(i + 1, p))
            .collect(),
        Some(one @ Value::Object(_)) => {
            r.warn(
                WarningKind::Recovered,
                "policies is an object, read as a one-element array",
            );
            vec![r.policy_result(1, one)]
        }
        _ => {
            r.warn(WarningKind::MissingValue, "no policies array");
            Vec::new()
        }
    };
    let report = TlsReport {
        organization_name: r.name(value.get("organization-name"), "organization-name"),
        start,
        end,
        contact_info: r.name(value.get("contact-info"), "contact-info"),
        report_id: r.text(value.get("report-id"), "report-id"),
        policies,
        warnings: Vec::new(),
    };
    for (what, missing) in [
        ("organization-name", report.organization_name.is_none()),
        ("report-id", report.report_id.is_none()),
        ("date-range", report.start.is_none() || report.end.is_none()),
    ] {
        if missing {
            r.warn(WarningKind::MissingValue, format!("no {what}"));
        }
    }
    let warnings = r.warnings.finish(|cut| match cut {
        Cut::Values => limits.max_value_bytes,
        Cut::PolicyStrings | Cut::MxHosts => limits.max_policy_strings,
        _ => limits.max_name_bytes,
    });
    Ok(TlsReport { warnings, ..report })
}

/// Reads the lenient wire form within the bounds, collecting warnings.
struct Reader<'l> {
    limits: &'l crate::Limits,
    warnings: WarningList,
}

impl Reader<'_> {
    fn warn(&mut self, kind: WarningKind, message: impl Into<String>) {
        self.warnings.push(kind, message);
    }

    fn date(&mut self, what: &str, v: Option<&Value>) -> Option<i64> {
        let raw = self.name(v, what)?;
        let parsed = parse_datetime(&raw);
        if parsed.is_none() {
            self.warn(
                WarningKind::InvalidValue,
                format!("{what} {raw:?} is not a date-time"),
            );
        }
        parsed
    }

    fn policy_result(&mut self, n: usize, v: &Value) -> PolicyResult {
        let policy = v.get("policy").unwrap_or(&Value::Null);
        let policy_type = self
            .name(policy.get("policy-type"), "policy-type")
            .map(|s| PolicyType::from_text(&s));
        if let Some(PolicyType::Other(t)) = &policy_type {
            self.warn(
                WarningKind::InvalidValue,
                format!("policy {n}: unknown policy-type {t:?} kept as sent"),
            );
        }
        let mut policy_string = self.list(policy.get("policy-string"), Cut::PolicyStrings, n);
        // Microsoft sends TLSA records as one string holding a JSON array (field guide §2.7 item 54).
        if let [only] = policy_string.as_slice()
            && only.trim_start().starts_with('[')
            && let Ok(inner) = serde_json::from_str::<Vec<String>>(only)
        {
            self.warn(
                WarningKind::Recovered,
                format!("policy {n}: policy-string held a JSON array; expanded"),
            );
            let max = self.limits.max_policy_strings;
            self.warnings.cut(
                Cut::PolicyStrings,
                inner.len().saturating_sub(max) as u64,
                || format!("policy {n}"),
            );
            policy_string = inner.into_iter().take(max).collect();
        }
        let summary = v.get("summary").unwrap_or(&Value::Null);
        let details = match v.get("failure-details") {
            Some(Value::Array(items)) => items.iter().map(|d| self.failure_detail(d, n)).collect(),
            _ => Vec::new(),
        };
        let result = PolicyResult {
            policy: TlsPolicy {
                policy_type,
                policy_string,
                policy_domain: self
                    .name(policy.get("policy-domain"), "policy-domain")
                    .map(|d| d.trim_end_matches('.').to_ascii_lowercase()),
                mx_host: self.list(policy.get("mx-host"), Cut::MxHosts, n),
            },
            summary: Summary {
                total_successful_session_count: self
                    .count(summary.get("total-successful-session-count"), n),
                total_failure_session_count: self
                    .count(summary.get("total-failure-session-count"), n),
            },
            failure_details: details,
        };
        let listed = result.failure_details.iter().fold(0u64, |s, d| {
            add_counts(s, d.failed_session_count.unwrap_or(0))
        });
        if let Some(total) = result.summary.total_failure_session_count
            && listed > total
        {
            self.warn(
                WarningKind::InvalidValue,
                format!(
                    "policy {n}: failure details count {listed} sessions, summary says {total}; both kept"
                ),
            );
        }
        result
    }

    fn failure_detail(&mut self, v: &Value, n: usize) -> FailureDetail {
        let result_type = self
            .name(v.get("result-type"), "result-type")
            .map(|s| ResultType::from_text(&s));
        if let Some(ResultType::Other(t)) = &result_type {
            self.warn(
                WarningKind::InvalidValue,
                format!("policy {n}: unknown result-type {t:?} kept as sent"),
            );
        }
        FailureDetail {
            result_type,
            sending_mta_ip: self.name(v.get("sending-mta-ip"), "sending-mta-ip"),
            receiving_mx_hostname: self
                .name(v.get("receiving-mx-hostname"), "receiving-mx-hostname"),
            receiving_mx_helo: self.name(v.get("receiving-mx-helo"), "receiving-mx-helo"),
            receiving_ip: self.name(v.get("receiving-ip"), "receiving-ip"),
            failed_session_count: self.count(v.get("failed-session-count"), n),
            additional_information: self
                .text(v.get("additional-information"), "additional-information"),
            failure_reason_code: self.text(v.get("failure-reason-code"), "failure-reason-code"),
        }
    }

    /// A name-like string field, cut at the name bound.
    fn name(&mut self, v: Option<&Value>, what: &str) -> Option<String> {
        let max = self.limits.max_name_bytes;
        self.bounded(v, what, max, Cut::Names)
    }

    /// A free-text string field, cut at the value bound.
    fn text(&mut self, v: Option<&Value>, what: &str) -> Option<String> {
        let max = self.limits.max_value_bytes;
        self.bounded(v, what, max, Cut::Values)
    }

    fn bounded(&mut self, v: Option<&Value>, what: &str, max: usize, cut: Cut) -> Option<String> {
        let s = string(v)?;
        if s.len() <= max {
            return Some(s);
        }
        self.warnings.cut(cut, 1, || what.to_owned());
        Some(crate::mail::capped(&s, max))
    }

    /// A string-or-array field: at most `max_policy_strings` entries of free text.
    fn list(&mut self, v: Option<&Value>, cut: Cut, n: usize) -> Vec<String> {
        let items: Vec<&Value> = match v {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(other) => vec![other],
            None => Vec::new(),
        };
        let max = self.limits.max_policy_strings;
        let mut out = Vec::new();
        let mut dropped = 0;
        for item in items {
            if out.len() >= max {
                dropped += u64::from(string(Some(item)).is_some());
                continue;
            }
            out.extend(self.text(Some(item), "policy-string"));
        }
        self.warnings.cut(cut, dropped, || format!("policy {n}"));
        out
    }

    /// A session count: a JSON integer or a numeric string, at most 2^53 − 1. Anything else
    /// (negative, fractional, not a number, or more sessions than can be real) is left out.
    fn count(&mut self, v: Option<&Value>, n: usize) -> Option<u64> {
        let v = v?;
        let parsed = match v {
            Value::Number(num) => num.as_u64().or_else(|| {
                num.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f.min(u64::MAX as f64) as u64)
            }),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            Value::Null => return None,
            _ => None,
        };
        match parsed {
            Some(c) if c <= MAX_COUNT => Some(c),
            Some(c) => {
                self.warn(
                    WarningKind::InvalidValue,
                    format!(
                        "policy {n}: session count {c} is above 2^53 - 1 and cannot be real; left out of totals"
                    ),
                );
                None
            }
            None => {
                let shown = crate::mail::capped(&v.to_string(), 64);
                self.warn(
                    WarningKind::InvalidValue,
                    format!("policy {n}: session count {shown} is not a count"),
                );
                None
            }
        }
    }
}

/// A string field; numbers are stringified, null and empty are absent.
fn string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl TlsReport {
    /// The memory the report takes (structure and text), as intake charges it.
    pub fn approx_bytes(&self) -> u64 {
        use std::mem::size_of;
        let len = |s: &Option<String>| s.as_ref().map_or(0, |s| s.len() as u64);
        let mut n = size_of::<TlsReport>() as u64
            + len(&self.organization_name)
            + len(&self.contact_info)
            + len(&self.report_id);
        for p in &self.policies {
            n += size_of::<PolicyResult>() as u64 + len(&p.policy.policy_domain);
            for s in p.policy.policy_string.iter().chain(&p.policy.mx_host) {
                n += (size_of::<String>() + s.len()) as u64;
            }
            for d in &p.failure_details {
                n += size_of::<FailureDetail>() as u64
                    + len(&d.sending_mta_ip)
                    + len(&d.receiving_mx_hostname)
                    + len(&d.receiving_mx_helo)
                    + len(&d.receiving_ip)
                    + len(&d.additional_information)
                    + len(&d.failure_reason_code);
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mx_host_as_string_or_array_and_unknown_types() {
        let json = br#"{"organization-name":"X","date-range":{"start-datetime":"2024-01-01T00:00:00","end-datetime":"2024-01-01T23:59:59Z"},
          "contact-info":null,"report-id":"r1","policies":[
          {"policy":{"policy-type":"STS","mx-host":"mx.example.com","policy-domain":"Example.com"},
           "summary":{"total-successful-session-count":"7","total-failure-session-count":1},
           "failure-details":[{"result-type":"brand-new-type","failed-session-count":2}]},
          {"policy":{"policy-type":"sts","mx-host":["a.example","b.example"]},"summary":{}}]}"#;
        let r = parse_slice(json, &crate::Limits::default()).unwrap();
        assert_eq!(r.start, Some(1704067200));
        assert_eq!(r.contact_info, None);
        assert_eq!(r.policies[0].policy.mx_host, vec!["mx.example.com"]);
        assert_eq!(r.policies[0].policy.policy_type, Some(PolicyType::Sts));
        assert_eq!(
            r.policies[0].policy.policy_domain.as_deref(),
            Some("example.com")
        );
        assert_eq!(r.policies[1].policy.mx_host, vec!["a.example", "b.example"]);
        assert_eq!(
            r.policies[0].failure_details[0].result_type,
            Some(ResultType::Other("brand-new-type".into()))
        );
        assert_eq!(r.successful_sessions(), 7);
        assert_eq!(r.failed_sessions(), 1);
        let kinds: Vec<_> = r.warnings.iter().map(|w| w.message.as_str()).collect();
        assert!(
            kinds.iter().any(|m| m.contains("brand-new-type")),
            "{kinds:?}"
        );
        assert!(
            kinds
                .iter()
                .any(|m| m.contains("count 2 sessions, summary says 1")),
            "{kinds:?}"
        );
    }

    #[test]
    fn rejects_other_json() {
        assert!(matches!(
            parse_slice(b"[1,2]", &crate::Limits::default()),
            Err(TlsParseError::NotAReport(_))
        ));
        assert!(matches!(
            parse_slice(b"{\"a\":1}", &crate::Limits::default()),
            Err(TlsParseError::NotAReport(_))
        ));
        assert!(matches!(
            parse_slice(b"{", &crate::Limits::default()),
            Err(TlsParseError::Json(_))
        ));
    }
}
