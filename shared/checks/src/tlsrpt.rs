//! The TLS-RPT record (RFC 8460 §3): one `v=TLSRPTv1` record at `_smtp._tls.<domain>`
//! whose `rua` includes Rampart, so senders' TLS failures reach the dashboard.

use rampart_formats::mta_sts::tlsrpt_record;

use super::dns::Answer;
use super::tags;
use super::{Area, Finding, Run, Severity, finding, mailto_address, unanswered};

pub(crate) async fn check(run: &Run<'_>) -> (Vec<Finding>, Vec<String>) {
    let name = format!("_smtp._tls.{}", run.domain);
    let rampart: Vec<String> = [
        run.expect
            .inbound_address
            .as_deref()
            .map(|a| format!("mailto:{a}")),
        run.expect.tlsrpt_url.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let fix = |existing: &[&str]| {
        let mut ruas: Vec<&str> = existing.to_vec();
        ruas.extend(rampart.iter().map(String::as_str));
        (!ruas.is_empty()).then(|| format!("{name} TXT \"{}\"", tlsrpt_record(&ruas)))
    };
    let records = match run.dns.txt(&name).await {
        Err(e) => return (vec![unanswered(Area::Tlsrpt, &name, &e)], Vec::new()),
        Ok(Answer::Void) => {
            return (
                vec![finding(
                    Area::Tlsrpt,
                    Severity::Warning,
                    "tlsrpt.missing",
                    format!(
                        "{name} has no TLS-RPT record: senders do not report failed TLS \
                         deliveries, so MTA-STS problems go unseen"
                    ),
                    fix(&[]),
                )],
                Vec::new(),
            );
        }
        Ok(Answer::Found(txt)) => txt.records,
    };
    let mut findings = Vec::new();
    let ours: Vec<&String> = records
        .iter()
        .filter(|r| tags::parse(r).first() == Some(("v", "TLSRPTv1")))
        .collect();
    let record = match ours.as_slice() {
        [] => {
            findings.push(finding(
                Area::Tlsrpt,
                Severity::Warning,
                "tlsrpt.missing",
                format!("{name} holds no v=TLSRPTv1 record: senders send no TLS reports"),
                fix(&[]),
            ));
            return (findings, records);
        }
        [record] => *record,
        _ => {
            findings.push(finding(
                Area::Tlsrpt,
                Severity::Error,
                "tlsrpt.multiple",
                format!(
                    "{name} holds {} v=TLSRPTv1 records: senders treat it as none (RFC 8460 §3)",
                    ours.len()
                ),
                Some("keep one record".into()),
            ));
            return (findings, records);
        }
    };
    let list = tags::parse(record);
    for problem in &list.problems {
        findings.push(finding(
            Area::Tlsrpt,
            Severity::Error,
            "tlsrpt.syntax",
            format!("the record is malformed: {problem}"),
            None,
        ));
    }
    let ruas = list.uris("rua");
    if ruas.is_empty() {
        findings.push(finding(
            Area::Tlsrpt,
            Severity::Error,
            "tlsrpt.no_rua",
            "the record has no rua=: senders have nowhere to send reports",
            fix(&[]),
        ));
        return (findings, records);
    }
    for uri in &ruas {
        let valid = mailto_address(uri).is_some()
            || uri
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        if !valid {
            findings.push(finding(
                Area::Tlsrpt,
                Severity::Error,
                "tlsrpt.invalid_uri",
                format!("{uri} is neither mailto: nor https:, so senders skip it"),
                None,
            ));
        }
    }
    if !rampart.is_empty() {
        let decoded = |uri: &str| {
            uri.replace("%2C", ",")
                .replace("%21", "!")
                .replace("%3B", ";")
        };
        let to_rampart = ruas.iter().any(|uri| {
            let uri = decoded(uri);
            rampart
                .iter()
                .any(|r| match (mailto_address(&uri), mailto_address(r)) {
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(&b),
                    _ => uri.trim_end_matches('/') == r.trim_end_matches('/'),
                })
        });
        if to_rampart {
            findings.push(finding(
                Area::Tlsrpt,
                Severity::Ok,
                "tlsrpt.rua_rampart",
                "TLS reports go to Rampart",
                None,
            ));
        } else {
            findings.push(finding(
                Area::Tlsrpt,
                Severity::Error,
                "tlsrpt.rua_not_rampart",
                "rua= does not include Rampart: the dashboard shows no TLS reports for \
                 this domain",
                fix(&ruas),
            ));
        }
    } else if findings.is_empty() {
        findings.push(finding(
            Area::Tlsrpt,
            Severity::Ok,
            "tlsrpt.valid",
            format!("one valid record: rua={}", ruas.join(",")),
            None,
        ));
    }
    (findings, records)
}
