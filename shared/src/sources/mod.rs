//! Source intelligence: who sent the mail a report counts, from where, and what to make of it.
//!
//! For each source address of an aggregate report, ingest records a [`SourceInfo`]:
//! country, autonomous system and its organisation from the bundled offline databases
//! ([`ipdb`]), the forward-confirmed PTR name ([`ptr`]) and its base domain, and the sending
//! service it belongs to ([`services`]). They are stored with the report
//! (`AggregateReport::sources`), so every later view reads them without a lookup.
//! [`classify`] turns a record and its source into a [`Classification`] at query time.
//!
//! PTR answers are cached in the store ([`crate::store::Store::cached_names`]) with an
//! expiry, so an address is resolved once per period across all invocations. Enrichment
//! never fails ingest: a resolver that does not answer within the budget leaves the
//! reverse DNS `unresolved`, and `rampart reprocess --enrich` fills it in later.

pub mod classify;
#[cfg(feature = "enrich")]
pub mod ipdb;
#[cfg(feature = "enrich")]
pub mod ptr;
pub mod services;

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use classify::{Classification, classify};
pub use services::{Service, ServiceKind, ServiceMap, base_domain};

/// The reverse DNS of a source address.
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
pub fn addresses(report: &crate::dmarc::AggregateReport) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = report
        .records
        .iter()
        .filter_map(|r| r.source_ip.ip())
        .collect();
    ips.sort_unstable();
    ips.dedup();
    ips
}

/// True for addresses no public resolver has a PTR for (private, loopback, link-local...):
/// they are not looked up.
pub fn is_private(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
        }
    }
}

mod enricher;
#[cfg(feature = "enrich")]
pub use enricher::resolver_from_spec;
pub use enricher::{EnrichSettings, Enriched, Enricher};
