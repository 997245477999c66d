//! DNS health checks: every record a domain relies on for DMARC reporting and hosted
//! MTA-STS, read as receivers and senders read it, each problem a [`Finding`] with a
//! severity, a stable code, a message an owner understands, and the record that fixes it.
//!
//! What Rampart itself expects (its report address, its policy host, the hosted policy) comes
//! in an [`Expect`]; without one the checks are those of a generic checker. Each area runs
//! under its own deadline, so a zone that does not answer costs one area, never the run, and
//! each run has a query budget ([`dns::Session`]) so a hostile zone cannot keep it busy.

pub mod dkim;
pub mod dmarc;
pub mod dns;
pub mod mta_sts;
pub mod mx;
pub mod spf;
pub mod tags;
pub mod tlsrpt;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use mx::{PolicyFix, covers, uncovered};
pub use rampart_formats::mta_sts::{Policy, PolicyMode};

/// DNS queries one domain's checks may send (SPF alone may need 10 lookups and 10 more
/// for the records it includes).
pub const QUERY_BUDGET: usize = 80;
/// How long one area of checks may take.
pub const AREA_DEADLINE: Duration = Duration::from_secs(20);

/// How bad a finding is. `Ok` findings say what was checked and passed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    /// Worth knowing; nothing breaks.
    Info,
    /// Something works less well than it should, or will break.
    Warning,
    /// Something is broken now: reports are lost, a record is ignored, SPF fails.
    Error,
    /// Mail is refused or spoofing is let through: an enforced MTA-STS policy that no longer
    /// covers the live MX, SPF `+all`.
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Ok,
        Severity::Info,
        Severity::Warning,
        Severity::Error,
        Severity::Critical,
    ];

    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// The record family a finding is about.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    Dmarc,
    Spf,
    Mx,
    MtaSts,
    Tlsrpt,
    Dkim,
}

impl Area {
    pub const ALL: [Area; 6] = [
        Area::Dmarc,
        Area::Spf,
        Area::Mx,
        Area::MtaSts,
        Area::Tlsrpt,
        Area::Dkim,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Dmarc => "dmarc",
            Area::Spf => "spf",
            Area::Mx => "mx",
            Area::MtaSts => "mta_sts",
            Area::Tlsrpt => "tlsrpt",
            Area::Dkim => "dkim",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Area::Dmarc => "DMARC",
            Area::Spf => "SPF",
            Area::Mx => "MX",
            Area::MtaSts => "MTA-STS",
            Area::Tlsrpt => "TLS-RPT",
            Area::Dkim => "DKIM",
        }
    }
}

/// One result of a check.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub area: Area,
    pub severity: Severity,
    /// Stable across versions, for alerts and scripts: `spf.too_many_lookups`.
    pub code: String,
    pub message: String,
    /// What to publish or change, when there is one thing to do.
    #[serde(default)]
    pub fix: Option<String>,
}

/// The records a run saw, by area, so that history shows when one changed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The TXT records at `_dmarc.<domain>` (or the organisational domain's when inherited).
    pub dmarc: Vec<String>,
    /// The SPF record(s) at the domain.
    pub spf: Vec<String>,
    /// `preference host`, by preference.
    pub mx: Vec<String>,
    /// The TXT records at `_mta-sts.<domain>`.
    pub mta_sts: Vec<String>,
    /// The TXT records at `_smtp._tls.<domain>`.
    pub tlsrpt: Vec<String>,
    /// `selector._domainkey.domain: record` for each selector looked up.
    pub dkim: Vec<String>,
}

/// Everything one run found for one domain.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub domain: String,
    /// Unix seconds.
    pub checked_at: i64,
    /// The worst severity among the findings.
    pub worst: Severity,
    /// Worst first, then by area.
    pub findings: Vec<Finding>,
    pub seen: Seen,
    /// When live MX hosts are outside the hosted MTA-STS policy: the policy with them
    /// added, to `PUT` as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_fix: Option<PolicyFix>,
    /// DNS queries sent.
    pub queries: usize,
}

impl Report {
    /// The worst severity of one area, `None` when it has no finding.
    pub fn area(&self, area: Area) -> Option<Severity> {
        self.findings
            .iter()
            .filter(|f| f.area == area)
            .map(|f| f.severity)
            .max()
    }

    /// The finding with `code`, if any.
    pub fn finding(&self, code: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.code == code)
    }
}

/// The policy Rampart hosts for the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosted {
    pub policy: Policy,
    /// The body served now, exactly.
    pub body: String,
    /// The id of [`Hosted::policy`].
    pub id: String,
    /// The id Rampart's zone holds now, when it still names an older version (RFC 8461
    /// §8.1: the new id waits until caches hold the new body).
    pub published_id: Option<String>,
}

/// What Rampart expects of the domain's records. Empty: only generic checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    /// The address DMARC and TLS-RPT reports go to, `reports@rua.example.net`.
    pub inbound_address: Option<String>,
    /// The HTTPS URL that takes TLS-RPT uploads.
    pub tlsrpt_url: Option<String>,
    /// Where `_mta-sts.<domain>` should point: `<domain>._mta-sts.<zone>`.
    pub policy_zone: Option<String>,
    /// The host `mta-sts.<domain>` should be an alias of.
    pub mta_sts_host: Option<String>,
    pub hosted: Option<Hosted>,
    /// `(signing domain, selector)` pairs seen in the domain's reports.
    pub dkim: Vec<(String, String)>,
}

/// Runs checks. Build one and share it: it holds the resolver and the HTTPS client.
pub struct Checker {
    dns: dns::Dns,
    fetcher: mta_sts::Fetcher,
}

impl Checker {
    pub fn new(dns: dns::Dns, fetcher: mta_sts::Fetcher) -> Checker {
        Checker { dns, fetcher }
    }

    /// A checker as `RAMPART_RESOLVER` says (the resolver source intelligence uses too):
    /// `system` or empty (`/etc/resolv.conf`), `off` (none: no DNS is asked), or a
    /// comma-separated list of `address[:port]` servers. Policy hosts are trusted by the
    /// system's roots (`SSL_CERT_FILE` adds to them).
    pub fn from_spec(spec: &str) -> Result<Option<Checker>, String> {
        let timeout = Duration::from_secs(3);
        let dns = match spec.trim() {
            "" | "system" => dns::Dns::system(timeout, QUERY_BUDGET)?,
            "off" => return Ok(None),
            list => {
                let servers = list
                    .split(',')
                    .map(|s| {
                        let s = s.trim();
                        s.parse::<std::net::SocketAddr>()
                            .or_else(|_| s.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()))
                            .map_err(|_| {
                                format!(
                                    "RAMPART_RESOLVER: {s:?} is not an address[:port]; use \
                                     system, off, or a list of servers"
                                )
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                dns::Dns::with_servers(&servers, timeout, QUERY_BUDGET)?
            }
        };
        let fetcher = mta_sts::Fetcher::new(&dns, None, mta_sts::Reach::PublicOnly)?;
        Ok(Some(Checker::new(dns, fetcher)))
    }

    /// The live MX hosts of `domain` (none for a null MX or no MX), or why they could not be
    /// read: what the MTA-STS enforce guard compares a new policy with.
    pub async fn live_mx(&self, domain: &str) -> Result<Vec<String>, String> {
        match self.dns.session().mx(domain).await? {
            dns::Answer::Found(hosts) => Ok(hosts
                .into_iter()
                .map(|(_, host)| host)
                .filter(|host| !host.is_empty())
                .collect()),
            dns::Answer::Void => Ok(Vec::new()),
        }
    }

    /// Checks `domain` (lower-case A-labels, as registered) at time `now`.
    pub async fn check(&self, domain: &str, expect: &Expect, now: i64) -> Report {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let session = self.dns.session();
        let run = Run {
            domain: &domain,
            expect,
            dns: &session,
        };
        let (dmarc, spf, sts, tlsrpt, dkim, mx) = tokio::join!(
            bounded(Area::Dmarc, dmarc::check(&run)),
            bounded(Area::Spf, spf::check(&run)),
            bounded(Area::MtaSts, mta_sts::check(&run, &self.fetcher)),
            bounded(Area::Tlsrpt, tlsrpt::check(&run)),
            bounded(Area::Dkim, dkim::check(&run)),
            bounded(Area::Mx, mx::lookup(&run)),
        );
        let mut seen = Seen {
            dmarc: dmarc.1,
            spf: spf.1,
            mta_sts: sts.1.records,
            tlsrpt: tlsrpt.1,
            dkim: dkim.1,
            ..Seen::default()
        };
        let mut findings = [dmarc.0, spf.0, sts.0, tlsrpt.0, dkim.0, mx.0].concat();
        // Coverage needs both the live MX and the policy senders hold.
        let coverage = mx::coverage(&run, &mx.1, sts.1.policy.as_ref());
        findings.extend(coverage.findings);
        seen.mx =
            mx.1.hosts
                .iter()
                .map(|(pref, host)| format!("{pref} {}", if host.is_empty() { "." } else { host }))
                .collect();
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| area_rank(a.area).cmp(&area_rank(b.area)))
        });
        let worst = findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok);
        Report {
            domain,
            checked_at: now,
            worst,
            findings,
            seen,
            policy_fix: coverage.fix,
            queries: session.queries(),
        }
    }
}

fn area_rank(area: Area) -> usize {
    Area::ALL.iter().position(|a| *a == area).unwrap_or(0)
}

/// What each area's check sees of the run.
pub(crate) struct Run<'a> {
    pub domain: &'a str,
    pub expect: &'a Expect,
    pub dns: &'a dns::Session,
}

/// An area's findings and what it saw; a finding of its own when it ran out of time.
async fn bounded<T: Default>(
    area: Area,
    work: impl Future<Output = (Vec<Finding>, T)>,
) -> (Vec<Finding>, T) {
    match tokio::time::timeout(AREA_DEADLINE, work).await {
        Ok(done) => done,
        Err(_) => (
            vec![finding(
                area,
                Severity::Warning,
                "dns.deadline",
                format!(
                    "the {} checks did not finish within {} s: DNS servers answered too \
                     slowly; the next run tries again",
                    area.title(),
                    AREA_DEADLINE.as_secs()
                ),
                None,
            )],
            T::default(),
        ),
    }
}

pub(crate) fn finding(
    area: Area,
    severity: Severity,
    code: &str,
    message: impl Into<String>,
    fix: Option<String>,
) -> Finding {
    Finding {
        area,
        severity,
        code: code.to_owned(),
        message: message.into(),
        fix,
    }
}

/// The finding for a query that got no answer (timeout, server failure).
pub(crate) fn unanswered(area: Area, what: &str, error: &str) -> Finding {
    finding(
        area,
        Severity::Warning,
        "dns.unanswered",
        format!("{what} could not be read: {error}; the next run tries again"),
        None,
    )
}

/// The organisational domain (RFC 7489 §3.2) of a name; the name itself when the public
/// suffix list does not know its suffix.
pub(crate) fn organisational(name: &str) -> String {
    psl::domain_str(name).unwrap_or(name).to_owned()
}

/// `local@domain` of a `mailto:` URI, without a `!size` suffix or query, lower-cased
/// domain; `None` when it is not one.
pub(crate) fn mailto_address(uri: &str) -> Option<String> {
    let rest = uri
        .trim()
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
        .map(|_| &uri.trim()[7..])?;
    let rest = rest.split(['!', '?']).next().unwrap_or(rest);
    let (local, domain) = rest.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains(['/', ' ']) {
        return None;
    }
    Some(format!("{local}@{}", domain.to_ascii_lowercase()))
}
