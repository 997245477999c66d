//! MTA-STS (RFC 8461): the `_mta-sts` TXT record (directly or through Rampart's CNAME)
//! carries the id of the policy Rampart serves, and `https://mta-sts.<domain>/.well-known/
//! mta-sts.txt`, fetched the way a sender fetches it (TLS verified, no redirects, at most
//! 64 KiB, `text/plain`), is the policy Rampart serves.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rampart_formats::mta_sts::{MAX_BODY_BYTES, read_policy};

use super::dns::{Answer, Dns};
use super::tags;
use super::{Area, Finding, Policy, Run, Severity, finding, unanswered};

/// A sender gives up on a policy host after about this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// What the MTA-STS checks saw.
#[derive(Debug, Clone, Default)]
pub(crate) struct StsSeen {
    pub records: Vec<String>,
    /// The policy fetched from the domain's policy host, when senders would accept it.
    pub policy: Option<Policy>,
}

/// Fetches policy files as senders do, resolving names through the checks' own resolver.
pub struct Fetcher {
    http: reqwest::Client,
    port: u16,
}

/// Whether a policy host may resolve to loopback, private and link-local addresses. A server
/// must not let a domain owner point `mta-sts.<domain>` at its own network (the metadata
/// service, a database): it fetches from public addresses only. A person running `rampart
/// check` on their own machine, or a test, may reach private ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    PublicOnly,
    Any,
}

impl Fetcher {
    /// `extra_roots`: PEM certificates trusted beside the system's (a private CA).
    pub fn new(dns: &Dns, extra_roots: Option<&[u8]>, reach: Reach) -> Result<Fetcher, String> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .timeout(FETCH_TIMEOUT)
            .user_agent(concat!("rampart-check/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(Resolver(dns.clone(), reach)));
        if let Some(pem) = extra_roots {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("cannot read the CA certificates: {e}"))?;
            if certificates.is_empty() {
                return Err("the CA file holds no PEM certificate".into());
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot build the HTTPS client: {e}"))?;
        Ok(Fetcher { http, port: 443 })
    }

    /// Fetches from this port instead of 443 (a policy host on a test machine).
    pub fn with_port(mut self, port: u16) -> Fetcher {
        self.port = port;
        self
    }

    /// The policy file of `domain`, or why a sender would get none.
    pub async fn fetch(&self, domain: &str) -> Result<Vec<u8>, String> {
        let url = if self.port == 443 {
            format!("https://mta-sts.{domain}/.well-known/mta-sts.txt")
        } else {
            format!(
                "https://mta-sts.{domain}:{}/.well-known/mta-sts.txt",
                self.port
            )
        };
        let mut response = self.http.get(&url).send().await.map_err(|e| chain(&e))?;
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("elsewhere");
            return Err(format!(
                "{url} answers {status}, a redirect to {to}: senders do not follow redirects"
            ));
        }
        if !status.is_success() {
            return Err(format!("{url} answers {status}"));
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("text/plain") {
            return Err(format!(
                "{url} is served as {:?}, not text/plain: senders may refuse it",
                content_type
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| chain(&e))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!(
                    "{url} is larger than {MAX_BODY_BYTES} bytes: senders stop reading"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// reqwest's error with its causes: "error sending request … invalid peer certificate:
/// UnknownIssuer" says what a sender would see.
fn chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Names resolved by the checks' resolver, so a check sees the DNS it checks.
struct Resolver(Dns, Reach);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (dns, reach) = (self.0.clone(), self.1);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match dns.session().addresses(&host).await {
                Ok(Answer::Found(found)) => {
                    let addresses: Vec<IpAddr> = found
                        .iter()
                        .copied()
                        .filter(|ip| reach == Reach::Any || is_public(*ip))
                        .collect();
                    if addresses.is_empty() {
                        let list: Vec<String> = found.iter().map(ToString::to_string).collect();
                        return Err(format!(
                            "{host} resolves only to addresses that are not public ({}): not fetched",
                            list.join(", ")
                        )
                        .into());
                    }
                    let addrs: reqwest::dns::Addrs =
                        Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
                    Ok(addrs)
                }
                Ok(Answer::Void) => Err(format!("{host} has no address").into()),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// False for loopback, private, shared, link-local, unique-local and unspecified addresses.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let shared = v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64;
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || shared)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// The addresses `host` resolves to (the system's resolver) that `reach` allows, with
/// `port`; an error names the host when none is left.
pub async fn resolve_within(
    host: &str,
    port: u16,
    reach: Reach,
) -> std::io::Result<Vec<SocketAddr>> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    let allowed: Vec<SocketAddr> = found
        .iter()
        .copied()
        .filter(|a| reach == Reach::Any || is_public(a.ip()))
        .collect();
    if allowed.is_empty() {
        let list: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
        return Err(std::io::Error::other(format!(
            "{host} has no public address ({}): not called",
            list.join(", ")
        )));
    }
    Ok(allowed)
}

/// The system's resolver keeping public addresses only, for the clients a server points
/// where a person told it (webhooks, mailbox servers): nobody can aim them at the server's
/// own network. An address written in a URL skips any resolver: check it with
/// [`is_public`] too.
pub struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = resolve_within(&host, 0, Reach::PublicOnly).await?;
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

pub(crate) async fn check(run: &Run<'_>, fetcher: &Fetcher) -> (Vec<Finding>, StsSeen) {
    let mut findings = Vec::new();
    let mut seen = StsSeen::default();
    let hosted = run.expect.hosted.as_ref();
    let name = format!("_mta-sts.{}", run.domain);
    let expected_alias = run
        .expect
        .policy_zone
        .as_deref()
        .map(|zone| format!("{}._mta-sts.{zone}", run.domain));
    let cname_fix = expected_alias
        .as_deref()
        .map(|alias| format!("{name} CNAME {alias}"));
    let txt = match run.dns.txt(&name).await {
        Err(e) => {
            findings.push(unanswered(Area::MtaSts, &name, &e));
            if hosted.is_none() {
                return (findings, seen);
            }
            None
        }
        Ok(Answer::Void) => {
            if hosted.is_some() {
                findings.push(finding(
                    Area::MtaSts,
                    Severity::Error,
                    "mta_sts.txt_missing",
                    format!(
                        "{name} has no TXT record: senders never look for the policy Rampart \
                         hosts"
                    ),
                    cname_fix.clone(),
                ));
            } else {
                findings.push(finding(
                    Area::MtaSts,
                    Severity::Info,
                    "mta_sts.none",
                    format!(
                        "{} publishes no MTA-STS policy: an attacker on the path can make \
                         senders deliver its mail without TLS",
                        run.domain
                    ),
                    None,
                ));
                return (findings, seen);
            }
            None
        }
        Ok(Answer::Found(txt)) => Some(txt),
    };
    if let Some(txt) = txt {
        seen.records = txt.records.clone();
        let sts: Vec<&String> = txt
            .records
            .iter()
            .filter(|r| tags::parse(r).first() == Some(("v", "STSv1")))
            .collect();
        match sts.as_slice() {
            [] => findings.push(finding(
                Area::MtaSts,
                Severity::Error,
                "mta_sts.txt_invalid",
                format!("{name} holds no v=STSv1 record: senders see no policy"),
                cname_fix.clone(),
            )),
            [record] => txt_id(
                run,
                record,
                txt.alias.as_deref(),
                expected_alias.as_deref(),
                &mut findings,
            ),
            _ => findings.push(finding(
                Area::MtaSts,
                Severity::Error,
                "mta_sts.txt_multiple",
                format!(
                    "{name} holds {} v=STSv1 records: senders treat the domain as having no \
                     policy (RFC 8461 §3.1)",
                    sts.len()
                ),
                Some("keep one record".into()),
            )),
        }
    }
    let served = match fetcher.fetch(run.domain).await {
        Ok(body) => body,
        Err(why) => {
            findings.push(finding(
                Area::MtaSts,
                Severity::Error,
                "mta_sts.fetch_failed",
                format!("senders cannot fetch the policy: {why}"),
                run.expect
                    .mta_sts_host
                    .as_deref()
                    .filter(|_| hosted.is_some())
                    .map(|host| format!("mta-sts.{} CNAME {host}", run.domain)),
            ));
            return (findings, seen);
        }
    };
    let reading = read_policy(&served);
    match hosted {
        Some(hosted) if served == hosted.body.as_bytes() => findings.push(finding(
            Area::MtaSts,
            Severity::Ok,
            "mta_sts.policy_served",
            format!(
                "mta-sts.{} serves the policy Rampart hosts (mode {})",
                run.domain,
                hosted.policy.mode.as_str()
            ),
            None,
        )),
        Some(hosted) => findings.push(finding(
            Area::MtaSts,
            Severity::Error,
            "mta_sts.policy_differs",
            format!(
                "mta-sts.{} serves another policy than Rampart's (mode {}, mx {}): the name \
                 points elsewhere, or a cache in front of it holds an old file",
                run.domain,
                reading.mode.as_deref().unwrap_or("?"),
                if reading.mx.is_empty() {
                    "none".to_owned()
                } else {
                    reading.mx.join(", ")
                },
            ),
            Some(format!(
                "point mta-sts.{} at {}; Rampart serves mode {}",
                run.domain,
                run.expect
                    .mta_sts_host
                    .as_deref()
                    .unwrap_or("Rampart's policy host"),
                hosted.policy.mode.as_str()
            )),
        )),
        None if reading.policy.is_none() => findings.push(finding(
            Area::MtaSts,
            Severity::Error,
            "mta_sts.policy_invalid",
            format!(
                "senders refuse the policy file: {}",
                reading.problems.join("; ")
            ),
            None,
        )),
        None => findings.push(finding(
            Area::MtaSts,
            Severity::Ok,
            "mta_sts.policy_served",
            format!(
                "mta-sts.{} serves a valid policy (mode {})",
                run.domain,
                reading.mode.as_deref().unwrap_or("?")
            ),
            None,
        )),
    }
    seen.policy = reading.policy;
    (findings, seen)
}

/// The `id` of the one `v=STSv1` record against the id Rampart serves.
fn txt_id(
    run: &Run<'_>,
    record: &str,
    alias: Option<&str>,
    expected_alias: Option<&str>,
    findings: &mut Vec<Finding>,
) {
    let name = format!("_mta-sts.{}", run.domain);
    let list = tags::parse(record);
    let id = list.get("id").unwrap_or("");
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        findings.push(finding(
            Area::MtaSts,
            Severity::Error,
            "mta_sts.txt_invalid",
            format!("{name}: id={id:?} is not 1 to 32 letters and digits: senders ignore it"),
            None,
        ));
        return;
    }
    let Some(hosted) = run.expect.hosted.as_ref() else {
        return;
    };
    let fix = expected_alias.map(|a| format!("{name} CNAME {a}"));
    match (alias, expected_alias) {
        (Some(alias), Some(expected)) if !alias.eq_ignore_ascii_case(expected) => {
            findings.push(finding(
                Area::MtaSts,
                Severity::Warning,
                "mta_sts.txt_elsewhere",
                format!(
                    "{name} is an alias of {alias}, not of Rampart's {expected}: Rampart \
                     cannot move the id when the policy changes"
                ),
                fix.clone(),
            ))
        }
        (None, Some(expected)) => findings.push(finding(
            Area::MtaSts,
            Severity::Info,
            "mta_sts.txt_direct",
            format!(
                "{name} is a TXT record of its own, not an alias of {expected}: each policy \
                 change needs you to update its id by hand"
            ),
            fix.clone(),
        )),
        _ => {}
    }
    if id == hosted.id {
        findings.push(finding(
            Area::MtaSts,
            Severity::Ok,
            "mta_sts.id_current",
            format!("{name} announces the id of the policy Rampart serves ({id})"),
            None,
        ));
    } else if hosted.published_id.as_deref() == Some(id) {
        findings.push(finding(
            Area::MtaSts,
            Severity::Info,
            "mta_sts.id_pending",
            format!(
                "{name} still announces the previous id {id}: Rampart publishes {} once \
                 caches hold the new policy (RFC 8461 §8.1)",
                hosted.id
            ),
            None,
        ));
    } else {
        findings.push(finding(
            Area::MtaSts,
            Severity::Error,
            "mta_sts.id_mismatch",
            format!(
                "{name} announces id {id}, but Rampart serves the policy with id {}: senders \
                 that cached an older policy keep it and never fetch the new one",
                hosted.id
            ),
            Some(match fix {
                Some(cname) => cname,
                None => format!("{name} TXT \"v=STSv1; id={};\"", hosted.id),
            }),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_global_addresses_are_public() {
        for ip in ["8.8.8.8", "2a00:1450::1", "192.0.2.1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
