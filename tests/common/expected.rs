//! Checks of a report against its facts in an EXPECTED.json.

use rampart_formats::warning::WarningKind;
use serde_json::Value;

use super::fixture;

/// Every corpus file that holds reports (aggregate, email, tlsrpt), as `corpus/<dest>`, with
/// the facts of its reports.
pub fn corpus_report_files() -> Vec<(String, Vec<Value>)> {
    expected("corpus/EXPECTED.json")
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            let dest = s(e, "dest");
            ["aggregate/", "email/", "tlsrpt/"]
                .iter()
                .any(|p| dest.starts_with(p))
        })
        .map(|e| {
            let reports = e["facts"]["reports"].as_array().unwrap().clone();
            (format!("corpus/{}", s(e, "dest")), reports)
        })
        .collect()
}

pub fn expected(path: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(path)).unwrap()).unwrap()
}

pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// Lenient facts for malformed files carry a `lenient_` prefix.
pub fn fact<'a>(v: &'a Value, key: &str) -> &'a Value {
    if v["well_formed"] == Value::Bool(false) {
        &v[format!("lenient_{key}")]
    } else {
        &v[key]
    }
}

pub fn check_aggregate(file: &str, want: &Value, got: &rampart_formats::AggregateReport) {
    let org = fact(want, "org_name").as_str().unwrap();
    if org.is_empty() {
        // Recovered from the contact address (field guide §2.3 item 29).
        let email = got
            .metadata
            .email
            .as_deref()
            .expect("email to recover org_name from");
        assert_eq!(
            got.metadata.org_name,
            email.rsplit('@').next().unwrap(),
            "{file}"
        );
        assert!(
            got.warnings
                .iter()
                .any(|w| w.kind == WarningKind::Recovered),
            "{file}: {:?}",
            got.warnings
        );
    } else {
        assert_eq!(got.metadata.org_name, org, "{file}");
    }
    assert_eq!(
        got.metadata.report_id,
        fact(want, "report_id").as_str().unwrap(),
        "{file}"
    );
    assert_eq!(
        got.policy.domain,
        fact(want, "policy_domain").as_str().unwrap().to_lowercase(),
        "{file}"
    );
    let begin = fact(want, "begin");
    let end = fact(want, "end");
    assert_eq!(
        got.metadata.begin,
        begin
            .as_str()
            .map(|s| s.parse().unwrap())
            .or(begin.as_i64()),
        "{file}"
    );
    assert_eq!(
        got.metadata.end,
        end.as_str().map(|s| s.parse().unwrap()).or(end.as_i64()),
        "{file}"
    );
    assert_eq!(
        got.records.len() as u64,
        fact(want, "records").as_u64().unwrap(),
        "{file}"
    );
    assert_eq!(
        got.message_count(),
        fact(want, "count_total").as_u64().unwrap(),
        "{file}"
    );
    if want["well_formed"] == Value::Bool(false) {
        assert!(
            !got.warnings.is_empty(),
            "{file}: a repaired document must say so"
        );
    }
    if let Some(ns) = want["ns"].as_str().filter(|ns| !ns.is_empty()) {
        assert_eq!(got.namespace.as_deref(), Some(ns), "{file}");
    }
}

pub fn check_tls(file: &str, want: &Value, got: &rampart_formats::TlsReport) {
    let name = want.get("organization_name").and_then(Value::as_str);
    assert_eq!(got.organization_name.as_deref(), name, "{file}");
    assert_eq!(
        got.report_id.as_deref(),
        want["report_id"].as_str(),
        "{file}"
    );
    if let Some(start) = want["start"].as_str() {
        assert_eq!(
            got.start,
            rampart_formats::time::parse_datetime(start),
            "{file}"
        );
        assert_eq!(
            got.end,
            rampart_formats::time::parse_datetime(s(want, "end")),
            "{file}"
        );
    }
    assert_eq!(
        got.policies.len() as u64,
        want["policies"].as_u64().unwrap(),
        "{file}"
    );
    if let Some(domains) = want["policy_domains"].as_array() {
        let got_domains: Vec<Value> = got
            .policies
            .iter()
            .map(|p| {
                p.policy
                    .policy_domain
                    .clone()
                    .map(Value::from)
                    .unwrap_or(Value::Null)
            })
            .collect();
        assert_eq!(&got_domains, domains, "{file}");
        let types: Vec<&str> = got
            .policies
            .iter()
            .map(|p| p.policy.policy_type.as_ref().unwrap().as_str())
            .collect();
        let want_types: Vec<&str> = want["policy_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(types, want_types, "{file}");
        let details: usize = got.policies.iter().map(|p| p.failure_details.len()).sum();
        assert_eq!(
            details as u64,
            want["failure_detail_entries"].as_u64().unwrap(),
            "{file}"
        );
    }
    assert_eq!(
        got.successful_sessions(),
        want["successful_total"].as_u64().unwrap(),
        "{file}"
    );
    assert_eq!(
        got.failed_sessions(),
        want["failure_total"].as_u64().unwrap(),
        "{file}"
    );
}
