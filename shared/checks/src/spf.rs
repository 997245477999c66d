//! The SPF record (RFC 7208): one record, its syntax, and a walk of every `include` and
//! `redirect` that counts what a receiver counts: the terms that query DNS (at most 10,
//! §4.6.4) and the queries that find nothing (at most 2 void lookups). Past either limit a
//! receiver answers permerror, and SPF fails for every source of the domain.
//!
//! The walk visits records, not an address: unlike a verifier it does not stop at the first
//! match, so it finds a limit that only some sources hit.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::dns::Answer;
use super::{Area, Finding, Run, Severity, finding, unanswered};

/// RFC 7208 §4.6.4.
pub const LOOKUP_LIMIT: usize = 10;
pub const VOID_LIMIT: usize = 2;
/// A record longer than this may not fit a UDP answer (RFC 7208 §3.4).
const LONG_RECORD: usize = 450;
/// Records fetched in one walk; a limit the lookup limit makes generous.
const MAX_RECORDS: usize = 25;
/// Terms read from one record.
const MAX_TERMS: usize = 64;

/// One term of a record, as far as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    All(char),
    Include(String),
    A(Option<String>),
    Mx(Option<String>),
    Ptr,
    Exists(String),
    Ip,
    Redirect(String),
    Other,
}

/// A record's terms, or why it is malformed (permerror).
pub fn parse(record: &str) -> Result<Vec<(char, Term)>, String> {
    let mut words = record.split_ascii_whitespace();
    match words.next() {
        Some(v) if v.eq_ignore_ascii_case("v=spf1") => {}
        _ => return Err("the record does not start with v=spf1".into()),
    }
    let mut terms = Vec::new();
    for word in words.take(MAX_TERMS) {
        terms.push(term(word)?);
    }
    Ok(terms)
}

fn term(word: &str) -> Result<(char, Term), String> {
    if let Some((name, value)) = word.split_once('=')
        && !name.contains(':')
        && !name.contains('/')
    {
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(format!("{word:?} is not a valid modifier"));
        }
        let term = match name.to_ascii_lowercase().as_str() {
            "redirect" => Term::Redirect(domain_spec(word, value)?),
            _ => Term::Other,
        };
        return Ok(('+', term));
    }
    let (qualifier, rest) = match word.chars().next() {
        Some(q @ ('+' | '-' | '~' | '?')) => (q, &word[1..]),
        _ => ('+', word),
    };
    let (name, arg) = match rest.find([':', '/']) {
        Some(at) => (&rest[..at], Some(&rest[at..])),
        None => (rest, None),
    };
    // `a:`, `mx:` take a domain (and a CIDR length); `a/24` only the length.
    let target = |arg: Option<&str>| -> Result<Option<String>, String> {
        let Some(arg) = arg else { return Ok(None) };
        let spec = arg.strip_prefix(':').unwrap_or(arg);
        let domain = spec.split('/').next().unwrap_or("");
        check_cidr(word, spec)?;
        if arg.starts_with('/') {
            return Ok(None);
        }
        domain_spec(word, domain).map(Some)
    };
    let required = |arg: Option<&str>| -> Result<String, String> {
        match arg.and_then(|a| a.strip_prefix(':')) {
            Some(domain) => domain_spec(word, domain),
            None => Err(format!("{word:?} needs a domain (:example.com)")),
        }
    };
    let term = match name.to_ascii_lowercase().as_str() {
        "all" if arg.is_none() => Term::All(qualifier),
        "include" => Term::Include(required(arg)?),
        "exists" => Term::Exists(required(arg)?),
        "a" => Term::A(target(arg)?),
        "mx" => Term::Mx(target(arg)?),
        "ptr" => Term::Ptr,
        "ip4" => {
            let value = arg.and_then(|a| a.strip_prefix(':')).unwrap_or("");
            let (ip, len) = value.split_once('/').unwrap_or((value, "32"));
            if ip.parse::<Ipv4Addr>().is_err() || len.parse::<u8>().map_or(true, |l| l > 32) {
                return Err(format!("{word:?} is not an IPv4 address or network"));
            }
            Term::Ip
        }
        "ip6" => {
            let value = arg.and_then(|a| a.strip_prefix(':')).unwrap_or("");
            let (ip, len) = value.split_once('/').unwrap_or((value, "128"));
            if ip.parse::<Ipv6Addr>().is_err() || len.parse::<u8>().map_or(true, |l| l > 128) {
                return Err(format!("{word:?} is not an IPv6 address or network"));
            }
            Term::Ip
        }
        _ if rest.to_ascii_lowercase().starts_with("all") => {
            return Err(format!(
                "{word:?}: \"all\" must stand alone (a missing space before the next term?)"
            ));
        }
        _ => return Err(format!("{word:?} is not an SPF mechanism")),
    };
    Ok((qualifier, term))
}

fn check_cidr(word: &str, spec: &str) -> Result<(), String> {
    let mut parts = spec.split('/');
    parts.next();
    let lengths: Vec<&str> = parts.collect();
    let ok = match lengths.as_slice() {
        [] => true,
        [v4] => v4.parse::<u8>().is_ok_and(|l| l <= 32),
        // a/24//64: an IPv4 and an IPv6 length.
        [v4, "", v6] => {
            (v4.is_empty() || v4.parse::<u8>().is_ok_and(|l| l <= 32))
                && v6.parse::<u8>().is_ok_and(|l| l <= 128)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{word:?} has an invalid network length"))
    }
}

fn domain_spec(word: &str, domain: &str) -> Result<String, String> {
    let domain = domain.trim_end_matches('.');
    if domain.is_empty() || domain.len() > 253 || domain.contains(' ') {
        return Err(format!("{word:?} names no valid domain"));
    }
    Ok(domain.to_ascii_lowercase())
}

/// What a walk counted.
#[derive(Debug, Default)]
struct Walk {
    lookups: usize,
    voids: usize,
    records: usize,
    /// The include path that first crossed the lookup limit.
    over_at: Option<String>,
    findings: Vec<Finding>,
}

pub(crate) async fn check(run: &Run<'_>) -> (Vec<Finding>, Vec<String>) {
    let records = match run.dns.txt(run.domain).await {
        Err(e) => return (vec![unanswered(Area::Spf, run.domain, &e)], Vec::new()),
        Ok(Answer::Void) => Vec::new(),
        Ok(Answer::Found(txt)) => txt.records.into_iter().filter(|r| is_spf(r)).collect(),
    };
    let mut findings = Vec::new();
    match records.len() {
        0 => {
            findings.push(finding(
                Area::Spf,
                Severity::Warning,
                "spf.missing",
                format!(
                    "{} has no SPF record: SPF gives no pass for any sender, so DMARC rests on \
                     DKIM alone",
                    run.domain
                ),
                Some(format!(
                    "{} TXT \"v=spf1 <your senders' include: or ip4: terms> -all\" \
                     (\"v=spf1 -all\" for a domain that sends no mail)",
                    run.domain
                )),
            ));
            return (findings, records);
        }
        1 => {}
        n => {
            findings.push(finding(
                Area::Spf,
                Severity::Error,
                "spf.multiple",
                format!(
                    "{} has {n} SPF records: receivers answer permerror and SPF fails for \
                     every sender (RFC 7208 §4.5)",
                    run.domain
                ),
                Some("merge them into one v=spf1 record".to_owned()),
            ));
            return (findings, records);
        }
    }
    let record = &records[0];
    if record.len() > LONG_RECORD {
        findings.push(finding(
            Area::Spf,
            Severity::Warning,
            "spf.long",
            format!(
                "the record has {} characters: answers over 512 bytes may not fit UDP and \
                 some receivers fail them",
                record.len()
            ),
            None,
        ));
    }
    let terms = match parse(record) {
        Ok(terms) => terms,
        Err(why) => {
            findings.push(finding(
                Area::Spf,
                Severity::Error,
                "spf.syntax",
                format!("the record is malformed, so receivers answer permerror: {why}"),
                None,
            ));
            return (findings, records);
        }
    };
    top_level(run.domain, &terms, &mut findings);
    let mut walk = Walk::default();
    let mut path = vec![run.domain.to_owned()];
    visit(run, &terms, &mut path, &mut walk).await;
    findings.append(&mut walk.findings);
    if walk.lookups > LOOKUP_LIMIT {
        findings.push(finding(
            Area::Spf,
            Severity::Error,
            "spf.too_many_lookups",
            format!(
                "the record needs {} DNS lookups through its includes; receivers stop at \
                 {LOOKUP_LIMIT} and answer permerror, so SPF fails for the sources listed \
                 after that{}",
                walk.lookups,
                walk.over_at
                    .as_deref()
                    .map_or_else(String::new, |p| format!(" (the limit is crossed at {p})"))
            ),
            Some(
                "remove includes of services you no longer use, or replace an include by \
                 the ip4:/ip6: networks it lists"
                    .to_owned(),
            ),
        ));
    }
    if walk.voids > VOID_LIMIT {
        findings.push(finding(
            Area::Spf,
            Severity::Error,
            "spf.too_many_void_lookups",
            format!(
                "{} lookups of the record find nothing (NXDOMAIN or no record); receivers \
                 allow {VOID_LIMIT} and then answer permerror",
                walk.voids
            ),
            Some("remove the terms that name domains which no longer exist".to_owned()),
        ));
    }
    if !findings.iter().any(|f| f.severity >= Severity::Error) {
        findings.push(finding(
            Area::Spf,
            Severity::Ok,
            "spf.valid",
            format!(
                "one valid record; {} of {LOOKUP_LIMIT} DNS lookups, {} void",
                walk.lookups, walk.voids
            ),
            None,
        ));
    }
    (findings, records)
}

fn is_spf(record: &str) -> bool {
    let lower = record.trim_start().to_ascii_lowercase();
    lower == "v=spf1" || lower.starts_with("v=spf1 ")
}

/// What only the domain's own record decides: its `all`, `ptr` and terms after `all`.
fn top_level(domain: &str, terms: &[(char, Term)], findings: &mut Vec<Finding>) {
    let all = terms.iter().position(|(_, t)| matches!(t, Term::All(_)));
    let has_redirect = terms.iter().any(|(_, t)| matches!(t, Term::Redirect(_)));
    match all.map(|i| &terms[i]) {
        Some(('+', _)) => findings.push(finding(
            Area::Spf,
            Severity::Critical,
            "spf.pass_all",
            format!("+all lets every server on the internet pass SPF as {domain}"),
            Some("end the record with -all (or ~all while you are still finding senders)".into()),
        )),
        Some(('?', _)) => findings.push(finding(
            Area::Spf,
            Severity::Warning,
            "spf.neutral_all",
            "?all makes every unlisted server neutral: SPF protects nothing",
            Some("end the record with ~all or -all".into()),
        )),
        None if !has_redirect => findings.push(finding(
            Area::Spf,
            Severity::Info,
            "spf.no_all",
            "the record ends without all: unlisted servers get neutral",
            Some("end the record with ~all or -all".into()),
        )),
        _ => {}
    }
    if let Some(i) = all {
        let mechanisms_after = terms[i + 1..]
            .iter()
            .filter(|(_, t)| !matches!(t, Term::Redirect(_) | Term::Other))
            .count();
        if mechanisms_after > 0 || has_redirect {
            findings.push(finding(
                Area::Spf,
                Severity::Warning,
                "spf.after_all",
                "terms after all (or a redirect= beside all) are never used",
                None,
            ));
        }
    }
    if terms.iter().any(|(_, t)| matches!(t, Term::Ptr)) {
        findings.push(finding(
            Area::Spf,
            Severity::Warning,
            "spf.ptr",
            "ptr should not be used (RFC 7208 §5.5): it is slow, and many receivers ignore it",
            Some("replace ptr by the ip4:/ip6: networks of your servers".into()),
        ));
    }
}

/// Counts the lookups of `terms` and of every record they include, depth first in record
/// order (the order a receiver meets them).
async fn visit(run: &Run<'_>, terms: &[(char, Term)], path: &mut Vec<String>, walk: &mut Walk) {
    let has_all = terms.iter().any(|(_, t)| matches!(t, Term::All(_)));
    for (_, term) in terms {
        let counts = matches!(
            term,
            Term::Include(_) | Term::A(_) | Term::Mx(_) | Term::Ptr | Term::Exists(_)
        ) || matches!(term, Term::Redirect(_) if !has_all);
        if !counts {
            continue;
        }
        walk.lookups += 1;
        if walk.lookups == LOOKUP_LIMIT + 1 && walk.over_at.is_none() {
            walk.over_at = Some(path.join(" → "));
        }
        match term {
            Term::Include(target) | Term::Redirect(target) => {
                Box::pin(follow(run, target, path, walk)).await
            }
            Term::A(target) => {
                let host = target.as_deref().unwrap_or(path.last().unwrap());
                if host.contains('%') {
                    continue;
                }
                match run.dns.addresses(host).await {
                    Ok(Answer::Void) => walk.voids += 1,
                    Err(e) => walk.findings.push(unanswered(Area::Spf, host, &e)),
                    Ok(Answer::Found(_)) => {}
                }
            }
            Term::Mx(target) => {
                let host = target.as_deref().unwrap_or(path.last().unwrap());
                if host.contains('%') {
                    continue;
                }
                match run.dns.mx(host).await {
                    Ok(Answer::Void) => walk.voids += 1,
                    Err(e) => walk.findings.push(unanswered(Area::Spf, host, &e)),
                    Ok(Answer::Found(hosts)) if hosts.len() > LOOKUP_LIMIT => {
                        walk.findings.push(finding(
                            Area::Spf,
                            Severity::Error,
                            "spf.mx_too_many",
                            format!(
                                "mx:{host} has {} MX hosts; receivers look up at most \
                                 {LOOKUP_LIMIT} and answer permerror",
                                hosts.len()
                            ),
                            None,
                        ))
                    }
                    Ok(Answer::Found(_)) => {}
                }
            }
            Term::Exists(target) if !target.contains('%') => {
                match run.dns.addresses(target).await {
                    Ok(Answer::Void) => walk.voids += 1,
                    Err(e) => walk.findings.push(unanswered(Area::Spf, target, &e)),
                    Ok(Answer::Found(_)) => {}
                }
            }
            _ => {}
        }
    }
}

/// Reads and visits the record of an `include` or `redirect` target.
async fn follow(run: &Run<'_>, target: &str, path: &mut Vec<String>, walk: &mut Walk) {
    if target.contains('%') {
        // A macro is expanded per message; its target cannot be known here.
        return;
    }
    if path.iter().any(|p| p == target) {
        walk.findings.push(finding(
            Area::Spf,
            Severity::Error,
            "spf.loop",
            format!(
                "{} → {target} includes itself: receivers answer permerror",
                path.join(" → ")
            ),
            None,
        ));
        return;
    }
    if walk.records >= MAX_RECORDS {
        return;
    }
    walk.records += 1;
    let records: Vec<String> = match run.dns.txt(target).await {
        Err(e) => {
            walk.findings.push(unanswered(Area::Spf, target, &e));
            return;
        }
        Ok(Answer::Void) => {
            walk.voids += 1;
            Vec::new()
        }
        Ok(Answer::Found(txt)) => txt.records.into_iter().filter(|r| is_spf(r)).collect(),
    };
    let via = format!("{} → {target}", path.join(" → "));
    let terms = match records.as_slice() {
        [] => {
            walk.findings.push(finding(
                Area::Spf,
                Severity::Error,
                "spf.include_missing",
                format!("{via}: {target} has no SPF record, so receivers answer permerror"),
                Some(format!("remove the include of {target}")),
            ));
            return;
        }
        [record] => match parse(record) {
            Ok(terms) => terms,
            Err(why) => {
                walk.findings.push(finding(
                    Area::Spf,
                    Severity::Error,
                    "spf.include_invalid",
                    format!("{via}: the included record is malformed ({why}): permerror"),
                    None,
                ));
                return;
            }
        },
        _ => {
            walk.findings.push(finding(
                Area::Spf,
                Severity::Error,
                "spf.include_invalid",
                format!("{via}: {target} has more than one SPF record: permerror"),
                None,
            ));
            return;
        }
    };
    path.push(target.to_owned());
    Box::pin(visit(run, &terms, path, walk)).await;
    path.pop();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_read_with_their_qualifiers() {
        let terms = parse("v=spf1 ip4:192.0.2.0/24 a mx:mail.example.com/24 include:_spf.example.net ~all exp=explain.example.com").unwrap();
        assert_eq!(
            terms,
            vec![
                ('+', Term::Ip),
                ('+', Term::A(None)),
                ('+', Term::Mx(Some("mail.example.com".into()))),
                ('+', Term::Include("_spf.example.net".into())),
                ('~', Term::All('~')),
                ('+', Term::Other),
            ]
        );
    }

    #[test]
    fn malformed_terms_are_permerrors_with_a_reason() {
        for (record, why) in [
            ("v=spf1 mx-all", "not an SPF mechanism"),
            ("v=spf1 ip4:192.0.2.300 -all", "IPv4"),
            ("v=spf1 ip6:2001:db8::/129 -all", "IPv6"),
            ("v=spf1 include -all", "needs a domain"),
            ("v=spf1 -allow", "must stand alone"),
            ("v=spf1 a/33 -all", "network length"),
            ("spf1 -all", "v=spf1"),
        ] {
            let err = parse(record).unwrap_err();
            assert!(err.contains(why), "{record}: {err}");
        }
    }
}
