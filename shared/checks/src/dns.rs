//! The queries a check makes, over hickory-resolver: TXT, MX and address lookups that tell
//! "there is none" (NXDOMAIN or an empty answer, a *void* lookup in RFC 7208's terms) from
//! "no answer" (a timeout or a server failure), each bounded in time, and every run bounded
//! in number of queries so a hostile zone cannot keep a check busy.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
    ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

/// TXT records kept from one answer; more are counted as cut.
pub const MAX_RECORDS: usize = 32;
/// Bytes kept of one TXT record (its strings joined); the rest is cut.
pub const MAX_TXT_BYTES: usize = 4096;

/// What a name holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Found(T),
    /// NXDOMAIN or no record of the type: a void lookup.
    Void,
}

/// An answer, or why there was none (a timeout, a server failure, a bad name).
pub type Lookup<T> = Result<Answer<T>, String>;

/// The TXT records at a name, and the CNAME the name was an alias for, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txt {
    /// Each record's strings joined (RFC 7208 §3.3), as UTF-8 (lossy), at most
    /// [`MAX_RECORDS`] of at most [`MAX_TXT_BYTES`].
    pub records: Vec<String>,
    /// The first CNAME target on the way, without the final dot.
    pub alias: Option<String>,
}

/// A configured resolver; each check run queries through its own [`Session`].
#[derive(Clone)]
pub struct Dns {
    resolver: TokioResolver,
    budget: usize,
}

/// One check run's queries: those beyond the budget fail without being sent.
pub struct Session {
    resolver: TokioResolver,
    queries: AtomicUsize,
    budget: usize,
}

impl Dns {
    /// Uses the servers of `/etc/resolv.conf` (in Lambda: the Lambda resolver).
    pub fn system(timeout: Duration, budget: usize) -> Result<Dns, String> {
        let mut builder = Resolver::builder_tokio()
            .map_err(|e| format!("cannot read the system resolver configuration: {e}"))?;
        set_options(builder.options_mut(), timeout);
        let resolver = builder
            .build()
            .map_err(|e| format!("cannot build the resolver: {e}"))?;
        Ok(Dns::new(resolver, budget))
    }

    /// Queries exactly these servers (UDP, then TCP for truncated answers).
    pub fn with_servers(
        servers: &[SocketAddr],
        timeout: Duration,
        budget: usize,
    ) -> Result<Dns, String> {
        let name_servers = servers
            .iter()
            .map(|s| {
                let mut udp = ConnectionConfig::udp();
                udp.port = s.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = s.port();
                NameServerConfig::new(s.ip(), true, vec![udp, tcp])
            })
            .collect();
        let mut opts = ResolverOpts::default();
        set_options(&mut opts, timeout);
        let resolver = Resolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        )
        .with_options(opts)
        .build()
        .map_err(|e| format!("cannot build the resolver: {e}"))?;
        Ok(Dns::new(resolver, budget))
    }

    fn new(resolver: TokioResolver, budget: usize) -> Dns {
        Dns { resolver, budget }
    }

    /// Starts a run with a whole budget. Nothing is answered from an earlier run's cache, so
    /// a record the owner just fixed is seen fixed.
    pub fn session(&self) -> Session {
        self.resolver.clear_cache();
        Session {
            resolver: self.resolver.clone(),
            queries: AtomicUsize::new(0),
            budget: self.budget,
        }
    }
}

impl Session {
    /// Queries sent so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }

    pub async fn txt(&self, name: &str) -> Lookup<Txt> {
        let lookup = match self.lookup(name, RecordType::TXT).await? {
            Answer::Found(lookup) => lookup,
            Answer::Void => return Ok(Answer::Void),
        };
        let mut txt = Txt::default();
        for record in lookup.answers() {
            match &record.data {
                RData::TXT(data) if txt.records.len() < MAX_RECORDS => {
                    let mut joined = Vec::new();
                    for part in &data.txt_data {
                        joined.extend_from_slice(part);
                    }
                    joined.truncate(MAX_TXT_BYTES);
                    txt.records
                        .push(String::from_utf8_lossy(&joined).into_owned());
                }
                RData::CNAME(target) if txt.alias.is_none() => {
                    txt.alias = Some(host_name(&target.0));
                }
                _ => {}
            }
        }
        if txt.records.is_empty() {
            return Ok(Answer::Void);
        }
        Ok(Answer::Found(txt))
    }

    /// MX records, by preference then name; a null MX (RFC 7505) is one host named "".
    pub async fn mx(&self, name: &str) -> Lookup<Vec<(u16, String)>> {
        let lookup = match self.lookup(name, RecordType::MX).await? {
            Answer::Found(lookup) => lookup,
            Answer::Void => return Ok(Answer::Void),
        };
        let mut hosts: Vec<(u16, String)> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some((mx.preference, host_name(&mx.exchange))),
                _ => None,
            })
            .take(MAX_RECORDS)
            .collect();
        hosts.sort();
        hosts.dedup();
        if hosts.is_empty() {
            return Ok(Answer::Void);
        }
        Ok(Answer::Found(hosts))
    }

    /// The A and AAAA addresses of a host (two queries, counted as one lookup by SPF).
    pub async fn addresses(&self, name: &str) -> Lookup<Vec<IpAddr>> {
        let mut found = Vec::new();
        let mut failed = None;
        for kind in [RecordType::A, RecordType::AAAA] {
            match self.lookup(name, kind).await {
                Ok(Answer::Found(lookup)) => {
                    found.extend(lookup.answers().iter().filter_map(|r| match &r.data {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                        _ => None,
                    }))
                }
                Ok(Answer::Void) => {}
                Err(e) => failed = Some(e),
            }
        }
        match (found.is_empty(), failed) {
            (false, _) => Ok(Answer::Found(found)),
            (true, Some(e)) => Err(e),
            (true, None) => Ok(Answer::Void),
        }
    }

    async fn lookup(
        &self,
        name: &str,
        kind: RecordType,
    ) -> Lookup<hickory_resolver::lookup::Lookup> {
        if self.queries.fetch_add(1, Ordering::Relaxed) >= self.budget {
            return Err(format!(
                "not asked: this check already sent {} DNS queries",
                self.budget
            ));
        }
        let fqdn = Name::from_ascii(format!("{}.", name.trim_end_matches('.')))
            .map_err(|e| format!("{name:?} is not a DNS name: {e}"))?;
        match self.resolver.lookup(fqdn, kind).await {
            Ok(lookup) if lookup.answers().is_empty() => Ok(Answer::Void),
            Ok(lookup) => Ok(Answer::Found(lookup)),
            Err(e) if is_negative(&e) => Ok(Answer::Void),
            Err(e) => Err(format!("{kind} {name}: {e}")),
        }
    }
}

fn set_options(opts: &mut ResolverOpts, timeout: Duration) {
    opts.timeout = timeout;
    opts.attempts = 2;
    opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.cache_size = 1024;
}

fn is_negative(e: &NetError) -> bool {
    e.is_nx_domain() || e.is_no_records_found()
}

/// A name as owners write it: lower case, no final dot.
fn host_name(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}
