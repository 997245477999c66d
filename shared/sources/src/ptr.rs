//! Reverse DNS of source addresses: the PTR name, accepted only when it resolves back to
//! the address (forward-confirmed), since anyone who holds an address writes its PTR.
//!
//! hickory-resolver queries the servers itself (the host's libc resolver has no per-call
//! timeout): each query is bounded by [`PtrResolver`]'s timeout, and the caller bounds the
//! whole batch ([`super::Enricher`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
    ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData};
use hickory_resolver::{Resolver, TokioResolver};

use super::ReverseDns;

/// At most this many PTR names of one address are tried for confirmation.
const MAX_NAMES: usize = 3;

/// A bounded, forward-confirming PTR resolver.
#[derive(Clone)]
pub struct PtrResolver {
    resolver: TokioResolver,
    timeout: Duration,
}

impl PtrResolver {
    /// Uses the servers of `/etc/resolv.conf` (in Lambda: the VPC or Lambda resolver).
    pub fn system(timeout: Duration) -> Result<PtrResolver, String> {
        let mut builder = Resolver::builder_tokio()
            .map_err(|e| format!("cannot read the system resolver configuration: {e}"))?;
        set_options(builder.options_mut(), timeout);
        let resolver = builder
            .build()
            .map_err(|e| format!("cannot build the resolver: {e}"))?;
        Ok(PtrResolver { resolver, timeout })
    }

    /// Queries exactly these servers (UDP, then TCP for truncated answers).
    pub fn with_servers(servers: &[SocketAddr], timeout: Duration) -> Result<PtrResolver, String> {
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
        let resolver = Resolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        )
        .with_options({
            let mut opts = ResolverOpts::default();
            set_options(&mut opts, timeout);
            opts
        })
        .build()
        .map_err(|e| format!("cannot build the resolver: {e}"))?;
        Ok(PtrResolver { resolver, timeout })
    }

    /// How long one query may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The forward-confirmed PTR name of `ip`. `Unresolved` when a server did not answer
    /// (or failed) in time, so a later run tries again; `Absent` when none exists.
    pub async fn resolve(&self, ip: IpAddr) -> ReverseDns {
        let lookup = match self.resolver.reverse_lookup(ip).await {
            Ok(lookup) => lookup,
            Err(e) if is_negative(&e) => return ReverseDns::Absent,
            Err(_) => return ReverseDns::Unresolved,
        };
        let names: Vec<String> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(ptr) => Some(ptr.0.to_ascii()),
                _ => None,
            })
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .take(MAX_NAMES)
            .collect();
        let Some(first) = names.first().cloned() else {
            return ReverseDns::Absent;
        };
        let mut unanswered = false;
        for name in names {
            // A PTR target that is no host name cannot point back: not confirmed.
            let Ok(fqdn) = Name::from_ascii(format!("{name}.")) else {
                continue;
            };
            match self.resolver.lookup_ip(fqdn).await {
                Ok(addrs) if addrs.iter().any(|a| a.to_canonical() == ip.to_canonical()) => {
                    return ReverseDns::Confirmed { name };
                }
                Ok(_) => {}
                Err(e) if is_negative(&e) => {}
                Err(_) => unanswered = true,
            }
        }
        if unanswered {
            ReverseDns::Unresolved
        } else {
            ReverseDns::Unconfirmed { name: first }
        }
    }
}

fn set_options(opts: &mut ResolverOpts, timeout: Duration) {
    opts.timeout = timeout;
    // One try per server: the batch has its own deadline, and a later run retries.
    opts.attempts = 1;
    opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.cache_size = 4096;
}

/// NXDOMAIN or an empty answer: a definite "there is none", worth caching.
fn is_negative(e: &NetError) -> bool {
    e.is_nx_domain() || e.is_no_records_found()
}
