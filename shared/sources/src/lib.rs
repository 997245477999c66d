//! Source intelligence: who sent the mail a report counts, from where, and what to make of it.
//!
//! For each source address of an aggregate report, ingest records a [`SourceInfo`]:
//! country, autonomous system and its organisation from the bundled offline databases
//! ([`ipdb`]), the forward-confirmed PTR name ([`ptr`]) and its base domain, and the sending
//! service it belongs to ([`services`]). They are stored with the report
//! (`AggregateReport::sources`), so every later view reads them without a lookup.
//! [`classify`] turns a record and its source into a [`Classification`] at query time.
//!
//! PTR answers are cached ([`NameCache`], which the store implements) with an expiry, so an address is resolved once per period across all invocations. Enrichment
//! never fails ingest: a resolver that does not answer within the budget leaves the
//! reverse DNS `unresolved`, and `rampart reprocess --enrich` fills it in later.

pub mod classify;
#[cfg(feature = "enrich")]
pub mod ipdb;
#[cfg(feature = "enrich")]
pub mod ptr;
pub mod services;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use classify::{Classification, classify};
pub use services::{Service, ServiceKind, ServiceMap, base_domain};

/// A cached reverse DNS answer, valid until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedName {
    pub ip: std::net::IpAddr,
    pub reverse_dns: ReverseDns,
    /// Epoch seconds; DynamoDB's TTL attribute on the item, checked on read as well since
    /// DynamoDB deletes expired items only eventually.
    pub expires_at: i64,
}

/// Where reverse DNS answers are kept between reports and invocations; the store implements
/// it. Enrichment only logs its errors: a cache that fails means more lookups, never a lost
/// report.
pub trait NameCache: Send + Sync {
    type Error: std::fmt::Display;

    /// The cached answers of these addresses that have not expired at `now`.
    fn cached_names(
        &self,
        ips: &[IpAddr],
        now: i64,
    ) -> impl Future<Output = Result<HashMap<IpAddr, ReverseDns>, Self::Error>> + Send;

    /// Caches answers, replacing older ones of the same addresses.
    fn cache_names(
        &self,
        names: &[CachedName],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// A shared cache is a cache (`rampart serve` shares one store).
impl<T: NameCache> NameCache for std::sync::Arc<T> {
    type Error = T::Error;

    fn cached_names(
        &self,
        ips: &[IpAddr],
        now: i64,
    ) -> impl Future<Output = Result<HashMap<IpAddr, ReverseDns>, Self::Error>> + Send {
        T::cached_names(self, ips, now)
    }

    fn cache_names(
        &self,
        names: &[CachedName],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        T::cache_names(self, names)
    }
}

/// The reverse DNS of a source address.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReverseDns {
    /// The PTR name resolves back to the address.
    Confirmed { name: String },
    /// A PTR name that does not resolve back: shown, but not trusted to name a service.
    Unconfirmed { name: String },
    /// The address has no PTR record (or is private and was not looked up).
    Absent,
    /// Not looked up, or no answer in time; `rampart reprocess --enrich` tries again.
    Unresolved,
}

impl ReverseDns {
    /// The confirmed name, the only one used to name a service.
    pub fn confirmed(&self) -> Option<&str> {
        match self {
            ReverseDns::Confirmed { name } => Some(name),
            _ => None,
        }
    }

    /// Any name, confirmed or not.
    pub fn name(&self) -> Option<&str> {
        match self {
            ReverseDns::Confirmed { name } | ReverseDns::Unconfirmed { name } => Some(name),
            _ => None,
        }
    }
}

/// What Rampart knows about one source address.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// ISO 3166-1 alpha-2, upper-case.
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
    pub reverse_dns: ReverseDns,
    /// The organisational domain of the confirmed PTR name.
    pub base_domain: Option<String>,
    pub service: Option<Service>,
}

impl SourceInfo {
    /// From the database facts and the reverse DNS, naming the service by `map`.
    pub fn new(
        country: Option<String>,
        asn: Option<u32>,
        as_org: Option<String>,
        reverse_dns: ReverseDns,
        map: &ServiceMap,
    ) -> SourceInfo {
        let base = reverse_dns.confirmed().and_then(base_domain);
        let service = map.identify(base.as_deref(), asn).cloned();
        SourceInfo {
            country,
            asn,
            as_org,
            reverse_dns,
            base_domain: base,
            service,
        }
    }
}

/// The sources of one report, by address.
pub type Sources = BTreeMap<IpAddr, SourceInfo>;

/// The distinct source addresses of a report's records, in order (unreadable ones left out).
pub fn addresses(report: &rampart_formats::dmarc::AggregateReport) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = report
        .records
        .iter()
        .filter_map(|r| r.source_ip.ip())
        .collect();
    ips.sort_unstable();
    ips.dedup();
    ips
}

/// True for addresses that are not globally reachable: they are never looked up (a PTR
/// query for them would go to a resolver's private zones, or nowhere), and their reverse DNS
/// is `absent`. The blocks are those of the IANA IPv4 and IPv6 Special-Purpose Address
/// Registries whose "Globally Reachable" is false (as of 2025), and multicast; an
/// IPv4-mapped IPv6 address is judged as IPv4.
pub fn is_special_purpose(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let a = u32::from(v4);
            within(a, V4_LOCAL, 32) && !within(a, V4_GLOBAL, 32)
        }
        IpAddr::V6(v6) => {
            let a = u128::from(v6);
            within(a, V6_LOCAL, 128) && !within(a, V6_GLOBAL, 128)
        }
    }
}

/// Whether `addr` (of `bits` bits) is in one of the `(network, prefix length)` blocks.
fn within<T>(addr: T, blocks: &[(T, u32)], bits: u32) -> bool
where
    T: Copy + PartialEq + std::ops::Shr<u32, Output = T>,
{
    blocks
        .iter()
        .any(|&(net, len)| (addr >> (bits - len)) == (net >> (bits - len)))
}

/// IPv4 blocks that are not globally reachable.
const V4_LOCAL: &[(u32, u32)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0a00_0000, 8),  // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 shared (carrier-grade NAT)
    (0x7f00_0000, 8),  // 127.0.0.0/8 loopback
    (0xa9fe_0000, 16), // 169.254.0.0/16 link-local
    (0xac10_0000, 12), // 172.16.0.0/12 private
    (0xc000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
    (0xc000_0200, 24), // 192.0.2.0/24 documentation
    (0xc058_6300, 24), // 192.88.99.0/24 6to4 relay anycast (deprecated)
    (0xc0a8_0000, 16), // 192.168.0.0/16 private
    (0xc612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xc633_6400, 24), // 198.51.100.0/24 documentation
    (0xcb00_7100, 24), // 203.0.113.0/24 documentation
    (0xe000_0000, 4),  // 224.0.0.0/4 multicast
    (0xf000_0000, 4),  // 240.0.0.0/4 reserved, and 255.255.255.255 broadcast
];

/// IPv4 addresses inside those blocks that are globally reachable.
const V4_GLOBAL: &[(u32, u32)] = &[
    (0xc000_0009, 32), // 192.0.0.9 Port Control Protocol anycast
    (0xc000_000a, 32), // 192.0.0.10 TURN anycast
];

/// IPv6 blocks that are not globally reachable.
const V6_LOCAL: &[(u128, u32)] = &[
    (0, 128),                          // ::/128 unspecified
    (1, 128),                          // ::1/128 loopback
    (0x0064_ff9b_0001 << 80, 48),      // 64:ff9b:1::/48 local-use translation
    (0x0100 << 112, 64),               // 100::/64 discard-only
    ((0x0100 << 112) | (1 << 64), 64), // 100:0:0:1::/64 dummy prefix
    (0x2001 << 112, 23),               // 2001::/23 IETF protocol assignments
    (0x2001_0db8 << 96, 32),           // 2001:db8::/32 documentation
    (0x3fff << 112, 20),               // 3fff::/20 documentation
    (0x5f00 << 112, 16),               // 5f00::/16 segment routing SIDs
    (0xfc00 << 112, 7),                // fc00::/7 unique local
    (0xfe80 << 112, 10),               // fe80::/10 link-local
    (0xff00 << 112, 8),                // ff00::/8 multicast
];

/// IPv6 blocks inside those that are globally reachable.
const V6_GLOBAL: &[(u128, u32)] = &[
    ((0x2001_0001 << 96) | 1, 128), // 2001:1::1 Port Control Protocol anycast
    ((0x2001_0001 << 96) | 2, 128), // 2001:1::2 TURN anycast
    ((0x2001_0001 << 96) | 3, 128), // 2001:1::3 DNS-SD service registration
    (0x2001_0003 << 96, 32),        // 2001:3::/32 AMT
    (0x2001_0004_0112 << 80, 48),   // 2001:4:112::/48 AS112-v6
    (0x2001_0020 << 96, 28),        // 2001:20::/28 ORCHIDv2
    (0x2001_0030 << 96, 28),        // 2001:30::/28 drone remote ID
];

mod enricher;
#[cfg(feature = "enrich")]
pub use enricher::resolver_from_spec;
pub use enricher::{EnrichSettings, Enriched, Enricher};

#[cfg(test)]
mod special_purpose_tests {
    use super::is_special_purpose;

    #[test]
    fn only_globally_reachable_addresses_are_looked_up() {
        let special = [
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.0.170",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:10.0.0.1",
            "64:ff9b:1::1",
            "100::1",
            "100:0:0:1::1",
            "2001::1",
            "2001:2::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
        ];
        let global = [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.0.9",
            "192.0.0.10",
            "192.0.3.1",
            "192.31.196.1",
            "192.52.193.1",
            "192.175.48.1",
            "198.17.255.255",
            "198.20.0.0",
            "209.85.220.41",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2001:1::1",
            "2001:1::3",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2001:30::1",
            "2001:4860:4860::8888",
            "2620:4f:8000::1",
            "2a00:1450:4001::1",
        ];
        for ip in special {
            assert!(
                is_special_purpose(ip.parse().unwrap()),
                "{ip} is special-purpose"
            );
        }
        for ip in global {
            assert!(!is_special_purpose(ip.parse().unwrap()), "{ip} is global");
        }
    }
}
