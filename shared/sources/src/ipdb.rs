//! Country and autonomous system of an address, from the offline MaxMind-format databases
//! bundled at build time (see `shared/sources/build.rs` and `docs/sources.md`). No lookup leaves the
//! process.

use std::net::IpAddr;

use maxminddb::Reader;
use serde::Deserialize;

/// What the databases say about one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpFacts {
    /// ISO 3166-1 alpha-2, upper-case.
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
}

/// The two readers: country (`country_code`) and ASN (GeoLite2-ASN field names).
pub struct IpDatabase {
    country: Reader<&'static [u8]>,
    asn: Reader<&'static [u8]>,
}

#[derive(Deserialize)]
struct CountryEntry<'a> {
    country_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct AsnEntry<'a> {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<&'a str>,
}

impl IpDatabase {
    /// The databases compiled into this binary, or `None` when it was built without them.
    pub fn bundled() -> Option<&'static IpDatabase> {
        #[cfg(rampart_ipdb)]
        {
            static DB: std::sync::OnceLock<Option<IpDatabase>> = std::sync::OnceLock::new();
            DB.get_or_init(|| {
                let country = include_bytes!(env!("RAMPART_IPDB_COUNTRY"));
                let asn = include_bytes!(env!("RAMPART_IPDB_ASN"));
                IpDatabase::from_bytes(country, asn)
                    .inspect_err(
                        |e| tracing::error!(error = %e, "the bundled IP databases are unreadable"),
                    )
                    .ok()
            })
            .as_ref()
        }
        #[cfg(not(rampart_ipdb))]
        {
            None
        }
    }

    pub fn from_bytes(
        country: &'static [u8],
        asn: &'static [u8],
    ) -> Result<IpDatabase, maxminddb::MaxMindDbError> {
        Ok(IpDatabase {
            country: Reader::from_source(country)?,
            asn: Reader::from_source(asn)?,
        })
    }

    /// When each database was built (epoch seconds): country, ASN.
    pub fn build_epochs(&self) -> (u64, u64) {
        (
            self.country.metadata().build_epoch,
            self.asn.metadata().build_epoch,
        )
    }

    /// The facts of one address; empty where a database has no entry or cannot be read.
    pub fn lookup(&self, ip: IpAddr) -> IpFacts {
        // Reports write IPv4 sources as IPv4-mapped IPv6 now and then; the databases key
        // them as IPv4.
        let ip = ip.to_canonical();
        let country = self
            .country
            .lookup(ip)
            .and_then(|r| r.decode::<CountryEntry>())
            .ok()
            .flatten()
            .and_then(|c| c.country_code)
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
            .map(str::to_ascii_uppercase);
        let asn = self
            .asn
            .lookup(ip)
            .and_then(|r| r.decode::<AsnEntry>())
            .ok()
            .flatten();
        IpFacts {
            country,
            asn: asn.as_ref().and_then(|a| a.autonomous_system_number),
            as_org: asn
                .and_then(|a| a.autonomous_system_organization)
                .map(str::to_owned),
        }
    }
}
