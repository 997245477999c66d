//! The enrichment step of ingest: a report's source addresses in, their [`SourceInfo`] out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::{ReverseDns, ServiceMap, SourceInfo, Sources, is_special_purpose};
use crate::{CachedName, NameCache};
use rampart_formats::dmarc::AggregateReport;

/// Bounds and lifetimes of the reverse DNS step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrichSettings {
    /// One DNS query.
    pub lookup_timeout: Duration,
    /// All lookups of one call together; what is not answered by then stays `unresolved`.
    /// Ingest also passes one deadline for all the reports of a Lambda invocation or a command.
    pub budget: Duration,
    /// Lookups in flight at once.
    pub concurrency: usize,
    /// How long a PTR name (confirmed or not) is cached.
    pub name_ttl: Duration,
    /// How long "no PTR record" is cached.
    pub absent_ttl: Duration,
}

impl Default for EnrichSettings {
    fn default() -> Self {
        EnrichSettings {
            lookup_timeout: Duration::from_secs(2),
            budget: Duration::from_secs(10),
            concurrency: 32,
            name_ttl: Duration::from_secs(7 * 86_400),
            absent_ttl: Duration::from_secs(86_400),
        }
    }
}

/// What one enrichment did, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enriched {
    pub addresses: usize,
    /// Answered from the store's cache.
    pub cached: usize,
    /// Looked up now (answered or not).
    pub looked_up: usize,
    /// Left `unresolved`: no answer within the bounds, or no resolver.
    pub unresolved: usize,
}

/// Enriches reports: the bundled IP databases, the service map and, when configured, a PTR
/// resolver. [`Enricher::disabled`] leaves reports as parsed.
pub struct Enricher {
    enabled: bool,
    services: &'static ServiceMap,
    #[cfg(feature = "enrich")]
    ipdb: Option<&'static super::ipdb::IpDatabase>,
    #[cfg(feature = "enrich")]
    resolver: Option<super::ptr::PtrResolver>,
    pub settings: EnrichSettings,
}

impl Enricher {
    /// Adds nothing: reports are stored as parsed.
    pub fn disabled() -> Enricher {
        Enricher {
            enabled: false,
            services: ServiceMap::bundled(),
            #[cfg(feature = "enrich")]
            ipdb: None,
            #[cfg(feature = "enrich")]
            resolver: None,
            settings: EnrichSettings::default(),
        }
    }

    /// The bundled databases and service map, with reverse DNS through `resolver` (none:
    /// every public address stays `unresolved` until a run with one).
    #[cfg(feature = "enrich")]
    pub fn new(resolver: Option<super::ptr::PtrResolver>, settings: EnrichSettings) -> Enricher {
        Enricher {
            enabled: true,
            services: ServiceMap::bundled(),
            ipdb: super::ipdb::IpDatabase::bundled(),
            resolver,
            settings,
        }
    }

    /// As configured by the environment: `RAMPART_RESOLVER` is `system` (the default:
    /// `/etc/resolv.conf`), `off`, or a comma-separated list of `address[:port]` servers.
    #[cfg(feature = "enrich")]
    pub fn from_env() -> Result<Enricher, String> {
        let settings = EnrichSettings::default();
        let spec = std::env::var("RAMPART_RESOLVER").unwrap_or_default();
        let resolver = resolver_from_spec(&spec, settings.lookup_timeout)?;
        Ok(Enricher::new(resolver, settings))
    }

    /// False in a build without the `enrich` feature, as a constant: the enrichment code
    /// (and the public suffix list it needs) is then left out of the binary.
    pub fn is_enabled(&self) -> bool {
        cfg!(feature = "enrich") && self.enabled
    }

    /// True when country and ASN can be looked up (the binary carries the databases).
    pub fn has_ip_database(&self) -> bool {
        #[cfg(feature = "enrich")]
        {
            self.ipdb.is_some()
        }
        #[cfg(not(feature = "enrich"))]
        {
            false
        }
    }

    /// What is known of each source address of `report`. Lookups stop at the enricher's
    /// budget or at `deadline`, whichever comes first: a caller that enriches many reports
    /// passes one deadline for all of them.
    pub async fn enrich<C: NameCache>(
        &self,
        cache: &C,
        report: &AggregateReport,
        now: i64,
        deadline: Option<tokio::time::Instant>,
    ) -> (Sources, Enriched) {
        if !self.is_enabled() {
            return (Sources::default(), Enriched::default());
        }
        let ips = super::addresses(report);
        self.sources(cache, &ips, now, deadline).await
    }

    /// Keeps what `previous` (the sources of an earlier reading of the same report) knew of
    /// an address's reverse DNS where this enrichment got no answer, so reading a report
    /// again while the resolver is down never loses a name.
    pub fn carry_over(&self, sources: &mut Sources, previous: &Sources) {
        if !self.is_enabled() {
            return;
        }
        for (ip, source) in sources.iter_mut() {
            let Some(old) = previous.get(ip) else {
                continue;
            };
            if source.reverse_dns == ReverseDns::Unresolved
                && old.reverse_dns != ReverseDns::Unresolved
            {
                *source = SourceInfo::new(
                    source.country.clone(),
                    source.asn,
                    source.as_org.clone(),
                    old.reverse_dns.clone(),
                    self.services,
                );
            }
        }
    }

    /// The sources of these addresses: cached names first, then lookups within the bounds,
    /// whose answers are cached (never an `unresolved` one).
    pub async fn sources<C: NameCache>(
        &self,
        cache: &C,
        ips: &[IpAddr],
        now: i64,
        deadline: Option<tokio::time::Instant>,
    ) -> (Sources, Enriched) {
        let mut done = Enriched {
            addresses: ips.len(),
            ..Enriched::default()
        };
        let public: Vec<IpAddr> = ips
            .iter()
            .copied()
            .filter(|ip| !is_special_purpose(*ip))
            .collect();
        let mut names: HashMap<IpAddr, ReverseDns> = HashMap::new();
        if self.has_resolver() && !public.is_empty() {
            match cache.cached_names(&public, now).await {
                Ok(cached) => names = cached,
                Err(e) => {
                    tracing::warn!(error = %e, "the reverse DNS cache is unreadable; looking up every address")
                }
            }
            done.cached = names.len();
            let missing: Vec<IpAddr> = public
                .iter()
                .copied()
                .filter(|ip| !names.contains_key(ip))
                .collect();
            done.looked_up = missing.len();
            let answers = self.look_up(missing, deadline).await;
            let to_cache: Vec<CachedName> = answers
                .iter()
                .filter_map(|(ip, rdns)| {
                    let ttl = match rdns {
                        ReverseDns::Unresolved => return None,
                        ReverseDns::Absent => self.settings.absent_ttl,
                        _ => self.settings.name_ttl,
                    };
                    Some(CachedName {
                        ip: *ip,
                        reverse_dns: rdns.clone(),
                        expires_at: now + ttl.as_secs() as i64,
                    })
                })
                .collect();
            if !to_cache.is_empty()
                && let Err(e) = cache.cache_names(&to_cache).await
            {
                tracing::warn!(error = %e, "reverse DNS answers could not be cached");
            }
            names.extend(answers);
        }
        let sources: Sources = ips
            .iter()
            .map(|&ip| {
                let rdns = if is_special_purpose(ip) {
                    ReverseDns::Absent
                } else {
                    names.remove(&ip).unwrap_or(ReverseDns::Unresolved)
                };
                if rdns == ReverseDns::Unresolved {
                    done.unresolved += 1;
                }
                let (country, asn, as_org) = self.ip_facts(ip);
                (
                    ip,
                    SourceInfo::new(country, asn, as_org, rdns, self.services),
                )
            })
            .collect();
        (sources, done)
    }

    /// True when reverse DNS is looked up (a resolver is configured).
    pub fn has_resolver(&self) -> bool {
        #[cfg(feature = "enrich")]
        {
            self.resolver.is_some()
        }
        #[cfg(not(feature = "enrich"))]
        {
            false
        }
    }

    fn ip_facts(&self, ip: IpAddr) -> (Option<String>, Option<u32>, Option<String>) {
        #[cfg(feature = "enrich")]
        if let Some(db) = self.ipdb {
            let f = db.lookup(ip);
            return (f.country, f.asn, f.as_org);
        }
        let _ = ip;
        (None, None, None)
    }

    /// Resolves `ips`, at most `concurrency` at once, until the budget is spent; what is
    /// not answered by then is left out (and so stays `unresolved`).
    #[cfg(feature = "enrich")]
    async fn look_up(
        &self,
        ips: Vec<IpAddr>,
        deadline: Option<tokio::time::Instant>,
    ) -> Vec<(IpAddr, ReverseDns)> {
        let Some(resolver) = &self.resolver else {
            return Vec::new();
        };
        let budget = tokio::time::Instant::now() + self.settings.budget;
        let deadline = deadline.map_or(budget, |d| d.min(budget));
        if ips.is_empty() || tokio::time::Instant::now() >= deadline {
            return Vec::new();
        }
        // PTR, then up to three forward lookups: bound the whole of one address too.
        let per_address = resolver.timeout() * 5;
        let mut pending = ips.into_iter();
        let mut running = tokio::task::JoinSet::new();
        let mut out = Vec::new();
        loop {
            while running.len() < self.settings.concurrency.max(1) {
                let Some(ip) = pending.next() else { break };
                let resolver = resolver.clone();
                running.spawn(async move {
                    let rdns = tokio::time::timeout(per_address, resolver.resolve(ip))
                        .await
                        .unwrap_or(ReverseDns::Unresolved);
                    (ip, rdns)
                });
            }
            match tokio::time::timeout_at(deadline, running.join_next()).await {
                Ok(Some(Ok(answer))) => out.push(answer),
                Ok(Some(Err(_))) => {}
                Ok(None) => break,
                Err(_) => {
                    running.abort_all();
                    break;
                }
            }
        }
        out
    }

    #[cfg(not(feature = "enrich"))]
    async fn look_up(
        &self,
        _ips: Vec<IpAddr>,
        _deadline: Option<tokio::time::Instant>,
    ) -> Vec<(IpAddr, ReverseDns)> {
        Vec::new()
    }
}

/// Reads `RAMPART_RESOLVER`'s value (see [`Enricher::from_env`]).
#[cfg(feature = "enrich")]
pub fn resolver_from_spec(
    spec: &str,
    timeout: Duration,
) -> Result<Option<super::ptr::PtrResolver>, String> {
    use super::ptr::PtrResolver;
    match spec.trim() {
        "" | "system" => PtrResolver::system(timeout).map(Some),
        "off" => Ok(None),
        list => {
            let servers = list
                .split(',')
                .map(|s| {
                    let s = s.trim();
                    s.parse::<std::net::SocketAddr>()
                        .or_else(|_| s.parse::<IpAddr>().map(|ip| (ip, 53).into()))
                        .map_err(|_| {
                            format!(
                                "RAMPART_RESOLVER: {s:?} is not an address[:port]; use system, off, or a list of servers"
                            )
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            PtrResolver::with_servers(&servers, timeout).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "enrich")]
    fn a_reading_without_answers_keeps_the_names_an_earlier_one_had() {
        let enricher = Enricher::new(None, EnrichSettings::default());
        let map = ServiceMap::bundled();
        let ip: IpAddr = "209.85.220.41".parse().unwrap();
        let other: IpAddr = "192.0.2.1".parse().unwrap();
        let name = ReverseDns::Confirmed {
            name: "mail-sor-f41.google.com".into(),
        };
        let previous = Sources::from([
            (
                ip,
                SourceInfo::new(None, Some(15169), None, name.clone(), map),
            ),
            (
                other,
                SourceInfo::new(None, None, None, ReverseDns::Absent, map),
            ),
        ]);
        let unresolved =
            |asn| SourceInfo::new(Some("US".into()), asn, None, ReverseDns::Unresolved, map);
        let mut now = Sources::from([(ip, unresolved(Some(15169))), (other, unresolved(None))]);
        now.get_mut(&other).unwrap().reverse_dns = ReverseDns::Unconfirmed {
            name: "new.example".into(),
        };
        enricher.carry_over(&mut now, &previous);
        assert_eq!(now[&ip].reverse_dns, name);
        assert_eq!(
            now[&ip].service.as_ref().map(|s| s.id.as_str()),
            Some("google")
        );
        assert_eq!(
            now[&ip].country.as_deref(),
            Some("US"),
            "the new databases' answer stays"
        );
        // A new answer, even a weaker one, replaces the old.
        assert_eq!(
            now[&other].reverse_dns,
            ReverseDns::Unconfirmed {
                name: "new.example".into()
            }
        );
    }
}
