//! The DMARC record: discovery at `_dmarc.<domain>` (falling back to the organisational
//! domain), its tags and values (RFC 7489, RFC 9989's `np`, `t` and `psd`), whether its
//! aggregate reports reach Rampart, and whether each external report destination has
//! authorised the domain (RFC 7489 §7.1): receivers that verify drop reports otherwise, and
//! "no reports" then looks like "no spoofing".

use super::dns::Answer;
use super::tags::{self, TagList};
use super::{Area, Finding, Run, Severity, finding, mailto_address, organisational, unanswered};

/// Report URIs whose destination authorisation is looked up.
const MAX_DESTINATIONS: usize = 5;

const KNOWN_TAGS: [&str; 13] = [
    "v", "p", "sp", "np", "adkim", "aspf", "fo", "rua", "ruf", "t", "psd", "pct", "rf",
];
/// Tags RFC 9989 removed: receivers may ignore them.
const REMOVED_TAGS: [&str; 3] = ["pct", "rf", "ri"];

fn dmarc(severity: Severity, code: &str, message: impl Into<String>) -> Finding {
    finding(Area::Dmarc, severity, code, message, None)
}

/// True for a record that announces itself as DMARC.
fn is_dmarc(record: &str) -> bool {
    let list = tags::parse(record);
    list.first().is_some_and(|(t, v)| t == "v" && v == "DMARC1")
        || record.trim_start().starts_with("v=DMARC1")
}

pub(crate) async fn check(run: &Run<'_>) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let name = format!("_dmarc.{}", run.domain);
    let (records, owner) = match run.dns.txt(&name).await {
        Err(e) => return (vec![unanswered(Area::Dmarc, &name, &e)], Vec::new()),
        Ok(Answer::Found(txt)) if txt.records.iter().any(|r| is_dmarc(r)) => {
            (txt.records, run.domain.to_owned())
        }
        Ok(found) => {
            let own = match found {
                Answer::Found(txt) => txt.records,
                Answer::Void => Vec::new(),
            };
            stray(&own, &name, &mut findings);
            let org = organisational(run.domain);
            if org == run.domain {
                findings.push(missing(run));
                return (findings, own);
            }
            let org_name = format!("_dmarc.{org}");
            match run.dns.txt(&org_name).await {
                Ok(Answer::Found(txt)) if txt.records.iter().any(|r| is_dmarc(r)) => {
                    findings.push(dmarc(
                        Severity::Info,
                        "dmarc.inherited",
                        format!(
                            "{} has no DMARC record of its own: receivers apply the record of \
                             its organisational domain {org} (its sp= or p=)",
                            run.domain
                        ),
                    ));
                    (txt.records, org)
                }
                Err(e) => {
                    findings.push(unanswered(Area::Dmarc, &org_name, &e));
                    return (findings, own);
                }
                Ok(_) => {
                    findings.push(missing(run));
                    return (findings, own);
                }
            }
        }
    };
    let (found, others): (Vec<&String>, Vec<&String>) = records.iter().partition(|r| is_dmarc(r));
    let others: Vec<String> = others.into_iter().cloned().collect();
    stray(&others, &format!("_dmarc.{owner}"), &mut findings);
    if found.len() > 1 {
        findings.push(finding(
            Area::Dmarc,
            Severity::Error,
            "dmarc.multiple",
            format!(
                "_dmarc.{owner} has {} DMARC records: receivers ignore all of them and apply \
                 no policy (RFC 7489 §6.6.3)",
                found.len()
            ),
            Some("keep one v=DMARC1 record and delete the others".to_owned()),
        ));
        return (findings, records);
    }
    let record = found[0];
    if record.starts_with([' ', '\t']) {
        findings.push(dmarc(
            Severity::Warning,
            "dmarc.syntax",
            "the record starts with a space: some receivers do not recognise it",
        ));
    }
    let list = tags::parse(record);
    tags_and_values(&list, &mut findings);
    reporting(run, &owner, &list, &mut findings).await;
    if !findings
        .iter()
        .any(|f| f.severity >= Severity::Warning && f.code != "dns.unanswered")
    {
        findings.push(dmarc(
            Severity::Ok,
            "dmarc.valid",
            format!(
                "_dmarc.{owner}: p={}",
                list.get("p").unwrap_or("none (not set)")
            ),
        ));
    }
    (findings, records)
}

fn missing(run: &Run<'_>) -> Finding {
    let rua = run
        .expect
        .inbound_address
        .as_deref()
        .map_or_else(String::new, |a| format!("; rua=mailto:{a}"));
    finding(
        Area::Dmarc,
        Severity::Error,
        "dmarc.missing",
        format!(
            "{} has no DMARC record: receivers apply no policy to mail that fails, and send \
             no reports",
            run.domain
        ),
        Some(format!(
            "_dmarc.{} TXT \"v=DMARC1; p=none{rua}\"",
            run.domain
        )),
    )
}

fn stray(records: &[String], name: &str, findings: &mut Vec<Finding>) {
    for record in records.iter().filter(|r| !is_dmarc(r)) {
        let what = if record
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("v=spf1")
        {
            "an SPF record (often a wildcard TXT)"
        } else {
            "a TXT record that is not DMARC"
        };
        findings.push(dmarc(
            Severity::Info,
            "dmarc.stray_record",
            format!(
                "{name} also holds {what}: {}; receivers ignore it, some checkers reject the \
                 name for it",
                shorten(record)
            ),
        ));
    }
}

fn tags_and_values(list: &TagList, findings: &mut Vec<Finding>) {
    for problem in &list.problems {
        findings.push(finding(
            Area::Dmarc,
            Severity::Error,
            "dmarc.syntax",
            format!("the record is malformed: {problem}"),
            None,
        ));
    }
    if list.first().map(|(t, _)| t) != Some("v") {
        findings.push(dmarc(
            Severity::Error,
            "dmarc.syntax",
            "v=DMARC1 must be the first tag",
        ));
    }
    for (tag, value) in &list.tags {
        if REMOVED_TAGS.contains(&tag.as_str()) {
            findings.push(dmarc(
                Severity::Info,
                "dmarc.removed_tag",
                format!("{tag}={value} was removed by RFC 9989: newer receivers ignore it"),
            ));
        } else if !KNOWN_TAGS.contains(&tag.as_str()) {
            findings.push(dmarc(
                Severity::Warning,
                "dmarc.unknown_tag",
                format!("{tag}= is not a DMARC tag: receivers ignore it (a typo?)"),
            ));
        }
    }
    let policies = ["none", "quarantine", "reject"];
    let allowed: [(&str, &[&str]); 7] = [
        ("p", &policies),
        ("sp", &policies),
        ("np", &policies),
        ("adkim", &["r", "s"]),
        ("aspf", &["r", "s"]),
        ("t", &["y", "n"]),
        ("psd", &["y", "n", "u"]),
    ];
    for (tag, values) in allowed {
        if let Some(value) = list.get(tag)
            && !values.contains(&value.to_ascii_lowercase().as_str())
        {
            findings.push(dmarc(
                Severity::Error,
                "dmarc.invalid_value",
                format!("{tag}={value} is not one of {}", values.join(", ")),
            ));
        }
    }
    if let Some(fo) = list.get("fo")
        && !fo
            .split(':')
            .all(|o| ["0", "1", "d", "s"].contains(&o.trim()))
    {
        findings.push(dmarc(
            Severity::Error,
            "dmarc.invalid_value",
            format!("fo={fo} is not a colon-separated list of 0, 1, d and s"),
        ));
    }
    if let Some(pct) = list.get("pct")
        && pct.parse::<u8>().map_or(true, |p| p > 100)
    {
        findings.push(dmarc(
            Severity::Error,
            "dmarc.invalid_value",
            format!("pct={pct} is not a whole number from 0 to 100"),
        ));
    }
    let p = list.get("p").map(str::to_ascii_lowercase);
    match p.as_deref() {
        None => findings.push(dmarc(
            Severity::Warning,
            "dmarc.no_policy",
            "the record has no p= tag: receivers treat it as p=none",
        )),
        Some("none") => findings.push(dmarc(
            Severity::Info,
            "dmarc.monitoring",
            "p=none: receivers deliver mail that fails DMARC and only report it; once your \
             own sources pass, move to p=quarantine",
        )),
        _ => {}
    }
    if p.as_deref().is_some_and(|p| p != "none")
        && list
            .get("sp")
            .is_some_and(|sp| sp.eq_ignore_ascii_case("none"))
    {
        findings.push(dmarc(
            Severity::Warning,
            "dmarc.subdomains_open",
            "sp=none: mail from made-up subdomains is delivered although the domain itself \
             is protected",
        ));
    }
    if list.get("t").is_some_and(|t| t.eq_ignore_ascii_case("y")) {
        findings.push(dmarc(
            Severity::Info,
            "dmarc.testing",
            "t=y: receivers apply the policy one step weaker (RFC 9989)",
        ));
    }
}

/// Where aggregate and failure reports go, and whether each destination accepts them.
async fn reporting(run: &Run<'_>, owner: &str, list: &TagList, findings: &mut Vec<Finding>) {
    let rua = list.uris("rua");
    let ruf = list.uris("ruf");
    let inbound = run
        .expect
        .inbound_address
        .as_deref()
        .map(str::to_ascii_lowercase);
    let fixed_record = |list: &TagList, address: &str| {
        let mut parts: Vec<String> = Vec::new();
        let mut added = false;
        for (tag, value) in &list.tags {
            if tag == "rua" {
                parts.push(format!("rua={value},mailto:{address}"));
                added = true;
            } else {
                parts.push(format!("{tag}={value}"));
            }
        }
        if !added {
            parts.push(format!("rua=mailto:{address}"));
        }
        format!("_dmarc.{owner} TXT \"{}\"", parts.join("; "))
    };
    if rua.is_empty() {
        findings.push(finding(
            Area::Dmarc,
            Severity::Error,
            "dmarc.no_rua",
            "the record has no rua=: no receiver sends aggregate reports anywhere",
            inbound.as_deref().map(|a| fixed_record(list, a)),
        ));
    }
    let mut addresses = Vec::new();
    for uri in rua.iter().chain(&ruf) {
        match mailto_address(uri) {
            Some(address) => addresses.push(address),
            None => findings.push(dmarc(
                Severity::Warning,
                "dmarc.unsupported_uri",
                format!("{uri} is not a mailto: address: receivers send reports only by mail"),
            )),
        }
    }
    if rua.len() > 2 {
        findings.push(dmarc(
            Severity::Info,
            "dmarc.many_destinations",
            format!(
                "rua= names {} destinations: some receivers send to the first two only",
                rua.len()
            ),
        ));
    }
    if let Some(inbound) = &inbound
        && !rua.is_empty()
    {
        let to_rampart = rua
            .iter()
            .any(|uri| mailto_address(uri).is_some_and(|a| a.eq_ignore_ascii_case(inbound)));
        if to_rampart {
            findings.push(dmarc(
                Severity::Ok,
                "dmarc.rua_rampart",
                format!("aggregate reports go to Rampart ({inbound})"),
            ));
        } else {
            findings.push(finding(
                Area::Dmarc,
                Severity::Error,
                "dmarc.rua_not_rampart",
                format!(
                    "rua= does not include Rampart's address {inbound}: Rampart receives no \
                     reports for this domain, so its dashboard shows no data rather than no \
                     spoofing"
                ),
                Some(fixed_record(list, inbound)),
            ));
        }
    }
    addresses.dedup();
    let own_org = organisational(owner);
    for address in addresses.iter().take(MAX_DESTINATIONS) {
        let Some((_, destination)) = address.rsplit_once('@') else {
            continue;
        };
        if organisational(destination) == own_org {
            continue;
        }
        let name = format!("{owner}._report._dmarc.{destination}");
        let is_rampart = inbound.as_deref() == Some(address.as_str());
        let found = match run.dns.txt(&name).await {
            Err(e) => {
                findings.push(unanswered(Area::Dmarc, &name, &e));
                continue;
            }
            Ok(Answer::Found(txt)) => txt.records.iter().any(|r| is_dmarc(r)),
            Ok(Answer::Void) => false,
        };
        if found {
            if is_rampart {
                findings.push(dmarc(
                    Severity::Ok,
                    "dmarc.destination_authorised",
                    format!("{destination} accepts reports for {owner} ({name})"),
                ));
            }
            continue;
        }
        let (severity, who) = if is_rampart {
            (Severity::Error, "Rampart's operator publishes it")
        } else {
            (Severity::Warning, "the destination's owner publishes it")
        };
        findings.push(finding(
            Area::Dmarc,
            severity,
            "dmarc.destination_unauthorised",
            format!(
                "{destination} has not authorised reports for {owner} ({name} has no \
                 v=DMARC1 record): receivers that check (RFC 7489 §7.1) send it nothing"
            ),
            Some(format!("{name} TXT \"v=DMARC1\" ({who})")),
        ));
    }
}

/// A record cut for a message.
pub(crate) fn shorten(record: &str) -> String {
    const MAX: usize = 120;
    if record.len() <= MAX {
        return format!("{record:?}");
    }
    let mut end = MAX;
    while !record.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}…", &record[..end])
}
