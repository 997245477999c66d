//! The domain's MX hosts: present, resolvable, and each covered by the MTA-STS policy
//! senders hold. An enforced policy that does not cover a live MX makes every compliant
//! sender refuse to deliver there (RFC 8461 §5): this is how Rampart could cause an outage,
//! so it is the first thing checked and the fix is the policy with the hosts added.

use serde::{Deserialize, Serialize};

use super::dns::Answer;
use super::{Area, Finding, Policy, PolicyMode, Run, Severity, finding, unanswered};

/// MX hosts whose addresses are looked up.
const MAX_HOSTS: usize = 10;

/// The live MX of a domain.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveMx {
    /// `(preference, host)`; a null MX (RFC 7505) has host "".
    pub hosts: Vec<(u16, String)>,
    /// False when the lookup got no answer: coverage is then not judged.
    pub answered: bool,
}

/// The hosted policy with the live MX added: the body of a `PUT …/mta-sts`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFix {
    pub mode: PolicyMode,
    pub mx: Vec<String>,
    pub max_age: u64,
    /// The live hosts the current policy does not cover.
    pub uncovered: Vec<String>,
}

/// True when `pattern` (a host, or `*.` and a domain) covers `host` under RFC 8461 §4.1: a
/// wildcard stands for exactly one left-most label, so `*.example.com` covers
/// `mx.example.com` but neither `example.com` nor `a.b.example.com`.
pub fn covers(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    let host = host.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(parent)),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// The hosts of `hosts` that no pattern covers, in order.
pub fn uncovered<'h>(patterns: &[String], hosts: &'h [String]) -> Vec<&'h str> {
    hosts
        .iter()
        .filter(|h| !patterns.iter().any(|p| covers(p, h)))
        .map(String::as_str)
        .collect()
}

pub(crate) async fn lookup(run: &Run<'_>) -> (Vec<Finding>, LiveMx) {
    let mut findings = Vec::new();
    let hosts = match run.dns.mx(run.domain).await {
        Err(e) => {
            return (
                vec![unanswered(Area::Mx, run.domain, &e)],
                LiveMx::default(),
            );
        }
        Ok(Answer::Void) => {
            let hosting = run
                .expect
                .hosted
                .as_ref()
                .is_some_and(|h| h.policy.mode != PolicyMode::None);
            findings.push(finding(
                Area::Mx,
                if hosting {
                    Severity::Error
                } else {
                    Severity::Info
                },
                "mx.missing",
                format!(
                    "{} has no MX record: senders deliver to its address record, if any{}",
                    run.domain,
                    if hosting {
                        ", and an MTA-STS policy has nothing to protect"
                    } else {
                        ""
                    }
                ),
                None,
            ));
            return (
                findings,
                LiveMx {
                    hosts: Vec::new(),
                    answered: true,
                },
            );
        }
        Ok(Answer::Found(hosts)) => hosts,
    };
    if hosts.iter().any(|(_, h)| h.is_empty()) {
        findings.push(finding(
            Area::Mx,
            Severity::Info,
            "mx.null",
            format!(
                "{} publishes a null MX (RFC 7505): it receives no mail",
                run.domain
            ),
            None,
        ));
        return (
            findings,
            LiveMx {
                hosts,
                answered: true,
            },
        );
    }
    let mut resolved = 0;
    for (_, host) in hosts.iter().take(MAX_HOSTS) {
        match run.dns.addresses(host).await {
            Ok(Answer::Found(_)) => resolved += 1,
            Ok(Answer::Void) => findings.push(finding(
                Area::Mx,
                Severity::Error,
                "mx.host_unresolved",
                format!("the MX host {host} has no address: senders cannot deliver to it"),
                Some(format!(
                    "publish A/AAAA records for {host}, or remove it from the MX records"
                )),
            )),
            Err(e) => findings.push(unanswered(Area::Mx, host, &e)),
        }
    }
    if resolved == hosts.len().min(MAX_HOSTS) {
        findings.push(finding(
            Area::Mx,
            Severity::Ok,
            "mx.resolves",
            format!(
                "{} MX host{} with addresses",
                resolved,
                if resolved == 1 { "" } else { "s" }
            ),
            None,
        ));
    }
    (
        findings,
        LiveMx {
            hosts,
            answered: true,
        },
    )
}

/// What coverage found.
#[derive(Debug, Default)]
pub(crate) struct Coverage {
    pub findings: Vec<Finding>,
    pub fix: Option<PolicyFix>,
}

/// Judges the live MX against the policy Rampart hosts, or else the one the domain's own
/// policy host serves (`fetched`).
pub(crate) fn coverage(run: &Run<'_>, live: &LiveMx, fetched: Option<&Policy>) -> Coverage {
    let mut coverage = Coverage::default();
    let hosted = run.expect.hosted.as_ref().map(|h| &h.policy);
    let Some(policy) = hosted.or(fetched) else {
        return coverage;
    };
    if policy.mode == PolicyMode::None || !live.answered {
        return coverage;
    }
    let hosts: Vec<String> = live
        .hosts
        .iter()
        .map(|(_, h)| h.clone())
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.is_empty() {
        return coverage;
    }
    let missing = uncovered(&policy.mx, &hosts);
    let whose = if hosted.is_some() {
        "the MTA-STS policy Rampart hosts"
    } else {
        "the domain's MTA-STS policy"
    };
    if missing.is_empty() {
        coverage.findings.push(finding(
            Area::Mx,
            Severity::Ok,
            "mx.covered",
            format!(
                "every MX host is covered by {whose} (mx: {})",
                policy.mx.join(", ")
            ),
            None,
        ));
        return coverage;
    }
    let mut mx = policy.mx.clone();
    mx.extend(missing.iter().map(|h| (*h).to_owned()));
    let (severity, consequence) = match policy.mode {
        PolicyMode::Enforce => (
            Severity::Critical,
            "senders that apply MTA-STS refuse to deliver to it: mail to the domain bounces \
             or queues",
        ),
        _ => (
            Severity::Warning,
            "in testing mode mail still arrives, but switching to enforce now would make \
             senders refuse it",
        ),
    };
    coverage.findings.push(finding(
        Area::Mx,
        severity,
        "mx.not_in_policy",
        format!(
            "{} not covered by {whose} (mx: {}); {consequence}",
            if missing.len() == 1 {
                format!("the MX host {} is", missing[0])
            } else {
                format!("the MX hosts {} are", missing.join(", "))
            },
            policy.mx.join(", "),
        ),
        Some(format!(
            "add {} to the policy's mx list (Rampart serves the new policy first and \
             publishes its id once caches hold it, RFC 8461 §8.1)",
            missing.join(", ")
        )),
    ));
    if hosted.is_some() {
        coverage.fix = Some(PolicyFix {
            mode: policy.mode,
            mx,
            max_age: policy.max_age,
            uncovered: missing.iter().map(|h| (*h).to_owned()).collect(),
        });
    }
    coverage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_covers_exactly_one_label() {
        assert!(covers("*.example.com", "mx1.example.com"));
        assert!(covers("*.example.com", "MX1.Example.COM."));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "mx.other.example"));
        assert!(!covers("*.example.com", "mxexample.com"));
        assert!(covers("mx.example.com", "mx.example.com"));
        assert!(!covers("mx.example.com", "mx2.example.com"));
    }

    #[test]
    fn uncovered_hosts_keep_their_order() {
        let patterns = vec!["*.example.com".to_owned()];
        let hosts = vec![
            "a.b.example.com".to_owned(),
            "mx.example.com".to_owned(),
            "mx2.other.example".to_owned(),
        ];
        assert_eq!(
            uncovered(&patterns, &hosts),
            vec!["a.b.example.com", "mx2.other.example"]
        );
    }
}
