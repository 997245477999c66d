//! SMTP TLS reports (RFC 8460 §4): the model and a tolerant JSON reader.
//!
//! Every field that is not structure is optional (Microsoft leaves out IPs and host names,
//! Google leaves out policy domains), `mx-host` may be a string or an array (erratum 6241),
//! date-times may lack a zone, unknown policy and result types are kept as `Other`, and counts
//! are kept as sent even when the failure details add up to more than the summary (Mail.ru).
//! Field names follow the RFC in the JSON form (kebab-case) and snake_case in our model.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::enums::report_enum;
use crate::time::parse_datetime;
use crate::warning::{Warning, WarningKind};

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
    pub fn successful_sessions(&self) -> u64 {
        self.policies.iter().fold(0u64, |s, p| {
            s.saturating_add(p.summary.total_successful_session_count.unwrap_or(0))
        })
    }

    pub fn failed_sessions(&self) -> u64 {
        self.policies.iter().fold(0u64, |s, p| {
            s.saturating_add(p.summary.total_failure_session_count.unwrap_or(0))
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

/// The wire form, read leniently; converted into [`TlsReport`] with warnings.
#[derive(Deserialize)]
struct Wire {
    #[serde(
        rename = "organization-name",
        default,
        deserialize_with = "lenient_string"
    )]
    organization_name: Option<String>,
    #[serde(rename = "date-range", default)]
    date_range: Option<WireDateRange>,
    #[serde(rename = "contact-info", default, deserialize_with = "lenient_string")]
    contact_info: Option<String>,
    #[serde(rename = "report-id", default, deserialize_with = "lenient_string")]
    report_id: Option<String>,
    #[serde(default)]
    policies: Option<Value>,
}

#[derive(Deserialize)]
struct WireDateRange {
    #[serde(
        rename = "start-datetime",
        default,
        deserialize_with = "lenient_string"
    )]
    start: Option<String>,
    #[serde(rename = "end-datetime", default, deserialize_with = "lenient_string")]
    end: Option<String>,
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
    let wire: Wire = serde_json::from_value(value)?;
    let mut warnings = Vec::new();
    let mut date = |what: &str, raw: Option<String>| -> Option<i64> {
        let raw = raw?;
        let parsed = parse_datetime(&raw);
        if parsed.is_none() {
            warnings.push(Warning::new(
                WarningKind::InvalidValue,
                format!("{what} {raw:?} is not a date-time"),
            ));
        }
        parsed
    };
    let (start, end) = match wire.date_range {
        Some(r) => (date("start-datetime", r.start), date("end-datetime", r.end)),
        None => (None, None),
    };
    let policies = match wire.policies {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, p)| policy_result(i + 1, p, &mut warnings))
            .collect(),
        Some(Value::Object(_)) => {
            warnings.push(Warning::new(
                WarningKind::Recovered,
                "policies is an object, read as a one-element array",
            ));
            vec![policy_result(
                1,
                wire.policies.as_ref().unwrap_or(&Value::Null),
                &mut warnings,
            )]
        }
        _ => {
            warnings.push(Warning::new(WarningKind::MissingValue, "no policies array"));
            Vec::new()
        }
    };
    let mut report = TlsReport {
        organization_name: wire.organization_name,
        start,
        end,
        contact_info: wire.contact_info,
        report_id: wire.report_id,
        policies,
        warnings,
    };
    for (what, missing) in [
        ("organization-name", report.organization_name.is_none()),
        ("report-id", report.report_id.is_none()),
        ("date-range", report.start.is_none() || report.end.is_none()),
    ] {
        if missing {
            report.warnings.push(Warning::new(
                WarningKind::MissingValue,
                format!("no {what}"),
            ));
        }
    }
    Ok(report)
}

fn policy_result(n: usize, v: &Value, warnings: &mut Vec<Warning>) -> PolicyResult {
    let policy = v.get("policy").unwrap_or(&Value::Null);
    let policy_type = string(policy.get("policy-type")).map(|s| PolicyType::from_text(&s));
    if let Some(PolicyType::Other(t)) = &policy_type {
        warnings.push(Warning::new(
            WarningKind::InvalidValue,
            format!("policy {n}: unknown policy-type {t:?} kept as sent"),
        ));
    }
    let mut policy_string = strings(policy.get("policy-string"));
    // Microsoft sends TLSA records as one string holding a JSON array (field guide §2.7 item 54).
    if let [only] = policy_string.as_slice()
        && only.trim_start().starts_with('[')
        && let Ok(inner) = serde_json::from_str::<Vec<String>>(only)
    {
        warnings.push(Warning::new(
            WarningKind::Recovered,
            format!("policy {n}: policy-string held a JSON array; expanded"),
        ));
        policy_string = inner;
    }
    let summary = v.get("summary").unwrap_or(&Value::Null);
    let details = match v.get("failure-details") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|d| failure_detail(d, n, warnings))
            .collect(),
        _ => Vec::new(),
    };
    let result = PolicyResult {
        policy: TlsPolicy {
            policy_type,
            policy_string,
            policy_domain: string(policy.get("policy-domain")).map(|d| d.to_ascii_lowercase()),
            mx_host: strings(policy.get("mx-host")),
        },
        summary: Summary {
            total_successful_session_count: count(
                summary.get("total-successful-session-count"),
                n,
                warnings,
            ),
            total_failure_session_count: count(
                summary.get("total-failure-session-count"),
                n,
                warnings,
            ),
        },
        failure_details: details,
    };
    let listed = result.failure_details.iter().fold(0u64, |s, d| {
        s.saturating_add(d.failed_session_count.unwrap_or(0))
    });
    if let Some(total) = result.summary.total_failure_session_count
        && listed > total
    {
        warnings.push(Warning::new(
            WarningKind::InvalidValue,
            format!("policy {n}: failure details count {listed} sessions, summary says {total}; both kept"),
        ));
    }
    result
}

fn failure_detail(v: &Value, n: usize, warnings: &mut Vec<Warning>) -> FailureDetail {
    let result_type = string(v.get("result-type")).map(|s| ResultType::from_text(&s));
    if let Some(ResultType::Other(t)) = &result_type {
        warnings.push(Warning::new(
            WarningKind::InvalidValue,
            format!("policy {n}: unknown result-type {t:?} kept as sent"),
        ));
    }
    FailureDetail {
        result_type,
        sending_mta_ip: string(v.get("sending-mta-ip")),
        receiving_mx_hostname: string(v.get("receiving-mx-hostname")),
        receiving_mx_helo: string(v.get("receiving-mx-helo")),
        receiving_ip: string(v.get("receiving-ip")),
        failed_session_count: count(v.get("failed-session-count"), n, warnings),
        additional_information: string(v.get("additional-information")),
        failure_reason_code: string(v.get("failure-reason-code")),
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

/// A string-or-array field.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(|i| string(Some(i))).collect(),
        Some(other) => string(Some(other)).into_iter().collect(),
        None => Vec::new(),
    }
}

/// A session count: a JSON integer, or a numeric string; negative or fractional is invalid.
fn count(v: Option<&Value>, n: usize, warnings: &mut Vec<Warning>) -> Option<u64> {
    let v = v?;
    let parsed = match v {
        Value::Number(num) => num.as_u64().or_else(|| {
            num.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        Value::Null => return None,
        _ => None,
    };
    if parsed.is_none() {
        warnings.push(Warning::new(
            WarningKind::InvalidValue,
            format!("policy {n}: session count {v} is not a count"),
        ));
    }
    parsed
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(string(Some(&v)))
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
