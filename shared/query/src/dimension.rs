//! Dimensions: the names a user groups and filters aggregate records by.
//!
//! A dimension reads one or more values from a record in its report ([`RecordRef`]): most
//! have one (`reporter`, `source_ip`), the `spf_*` and `dkim_*` ones have as many as the
//! record has authentication results, and none when it has none. `country`, `asn` and
//! `service` read the source intelligence stored with the report (`AggregateReport::sources`,
//! see [`rampart_sources`]) and have no value for a source that has none; `classification`
//! is computed from the record and its source.

use std::net::IpAddr;

use ipnet::IpNet;

use super::QueryError;
use rampart_formats::dmarc::{AggregateReport, Record};
use rampart_sources::{Classification, SourceInfo, Sources, classify};
use rampart_store::tally::{disposition_key, reporter_name};

/// A dimension of aggregate records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Reporter,
    SourceIp,
    HeaderFrom,
    Disposition,
    Dmarc,
    SpfResult,
    SpfDomain,
    DkimResult,
    DkimDomain,
    DkimSelector,
    Day,
    Country,
    Asn,
    Service,
    Classification,
}

impl Dimension {
    pub const ALL: [Dimension; 15] = [
        Dimension::Reporter,
        Dimension::SourceIp,
        Dimension::HeaderFrom,
        Dimension::Disposition,
        Dimension::Dmarc,
        Dimension::SpfResult,
        Dimension::SpfDomain,
        Dimension::DkimResult,
        Dimension::DkimDomain,
        Dimension::DkimSelector,
        Dimension::Day,
        Dimension::Country,
        Dimension::Asn,
        Dimension::Service,
        Dimension::Classification,
    ];

    /// The snake_case name used in the API.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Reporter => "reporter",
            Dimension::SourceIp => "source_ip",
            Dimension::HeaderFrom => "header_from",
            Dimension::Disposition => "disposition",
            Dimension::Dmarc => "dmarc",
            Dimension::SpfResult => "spf_result",
            Dimension::SpfDomain => "spf_domain",
            Dimension::DkimResult => "dkim_result",
            Dimension::DkimDomain => "dkim_domain",
            Dimension::DkimSelector => "dkim_selector",
            Dimension::Day => "day",
            Dimension::Country => "country",
            Dimension::Asn => "asn",
            Dimension::Service => "service",
            Dimension::Classification => "classification",
        }
    }

    pub fn from_name(name: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Every dimension name, for error messages and the API's accepted parameters.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Dimension::ALL.into_iter().map(Dimension::name)
    }

    /// The values of this dimension for a record, pushed onto `out` (lower-case for names
    /// and results, as reporters write them case-insensitively). `Day` is not read here: a
    /// record's days come from its report's period (see [`rampart_store::tally`]).
    pub fn values(self, r: &RecordRef<'_>, out: &mut Vec<String>) {
        let record = r.record;
        let lower = |s: &Option<String>| s.as_deref().map(str::to_ascii_lowercase);
        match self {
            Dimension::Reporter => {
                out.push(reporter_name(&r.report.metadata.org_name).into_owned())
            }
            Dimension::SourceIp => out.push(record.source_ip.to_string()),
            Dimension::HeaderFrom => out.extend(lower(&record.identifiers.header_from)),
            // As the counters carry it, so both read paths group alike.
            Dimension::Disposition => out.extend(
                record
                    .policy_evaluated
                    .disposition
                    .as_ref()
                    .map(|d| disposition_key(Some(d)).to_owned()),
            ),
            Dimension::Dmarc => out.push(dmarc_verdict(record).to_owned()),
            Dimension::SpfResult => push_distinct(
                out,
                record
                    .auth_results
                    .spf
                    .iter()
                    .filter_map(|a| a.result.as_ref().map(|v| v.as_str().to_ascii_lowercase())),
            ),
            Dimension::SpfDomain => push_distinct(
                out,
                record
                    .auth_results
                    .spf
                    .iter()
                    .filter_map(|a| lower(&a.domain)),
            ),
            Dimension::DkimResult => push_distinct(
                out,
                record
                    .auth_results
                    .dkim
                    .iter()
                    .filter_map(|a| a.result.as_ref().map(|v| v.as_str().to_ascii_lowercase())),
            ),
            Dimension::DkimDomain => push_distinct(
                out,
                record
                    .auth_results
                    .dkim
                    .iter()
                    .filter_map(|a| lower(&a.domain)),
            ),
            Dimension::DkimSelector => push_distinct(
                out,
                record
                    .auth_results
                    .dkim
                    .iter()
                    .filter_map(|a| lower(&a.selector)),
            ),
            Dimension::Day => {}
            Dimension::Country => out.extend(r.source().and_then(|s| s.country.clone())),
            Dimension::Asn => out.extend(r.source().and_then(|s| s.asn).map(|a| a.to_string())),
            Dimension::Service => out.extend(
                r.source()
                    .and_then(|s| s.service.as_ref())
                    .map(|s| s.id.clone()),
            ),
            Dimension::Classification => out.push(r.classification().as_str().to_owned()),
        }
    }
}

fn push_distinct(out: &mut Vec<String>, values: impl Iterator<Item = String>) {
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
}

/// `pass` when either aligned result passes, else `fail`.
pub fn dmarc_verdict(record: &Record) -> &'static str {
    if record.policy_evaluated.dmarc_pass() {
        "pass"
    } else {
        "fail"
    }
}

/// A record with the report it belongs to and what ingest learnt of the report's sources.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    pub report: &'a AggregateReport,
    pub sources: &'a Sources,
    pub record: &'a Record,
}

impl<'a> RecordRef<'a> {
    /// What ingest learnt about the record's source address, if anything.
    pub fn source(&self) -> Option<&'a SourceInfo> {
        self.sources.get(&self.record.source_ip.ip()?)
    }

    pub fn classification(&self) -> Classification {
        classify(self.record, self.source())
    }
}

/// What a filter accepts.
#[derive(Debug, Clone, PartialEq)]
enum Accept {
    /// Any of these values (compared case-insensitively).
    Values(Vec<String>),
    /// Source IPs inside any of these networks (a bare address is a /32 or /128).
    Networks(Vec<IpNet>),
}

/// One dimension restricted to some values.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub dimension: Dimension,
    accept: Accept,
}

impl Filter {
    /// A filter from the comma-separated values of a query parameter.
    pub fn parse(dimension: Dimension, values: &[&str]) -> Result<Filter, QueryError> {
        if values.is_empty() {
            return Err(QueryError::bad_request(
                "invalid_filter",
                format!("filter {} needs at least one value", dimension.name()),
            ));
        }
        let accept = match dimension {
            Dimension::SourceIp => Accept::Networks(
                values
                    .iter()
                    .map(|v| parse_network(v))
                    .collect::<Result<_, _>>()?,
            ),
            Dimension::Dmarc => {
                if let Some(bad) = values.iter().find(|v| !matches!(**v, "pass" | "fail")) {
                    return Err(QueryError::bad_request(
                        "invalid_filter",
                        format!("dmarc must be pass or fail, not {bad:?}"),
                    ));
                }
                Accept::Values(values.iter().map(|v| v.to_string()).collect())
            }
            Dimension::Day => {
                for v in values {
                    super::params::parse_day("day", v)?;
                }
                Accept::Values(values.iter().map(|v| v.to_string()).collect())
            }
            Dimension::Country => {
                if let Some(bad) = values
                    .iter()
                    .find(|v| v.len() != 2 || !v.bytes().all(|b| b.is_ascii_alphabetic()))
                {
                    return Err(QueryError::bad_request(
                        "invalid_filter",
                        format!("country takes ISO 3166-1 alpha-2 codes such as US, not {bad:?}"),
                    ));
                }
                Accept::Values(values.iter().map(|v| v.to_ascii_uppercase()).collect())
            }
            Dimension::Asn => Accept::Values(
                values
                    .iter()
                    .map(|v| {
                        let digits = v
                            .strip_prefix("AS")
                            .or_else(|| v.strip_prefix("as"))
                            .unwrap_or(v);
                        digits.parse::<u32>().map(|n| n.to_string()).map_err(|_| {
                            QueryError::bad_request(
                                "invalid_filter",
                                format!("asn takes AS numbers such as 15169 or AS15169, not {v:?}"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Dimension::Classification => {
                if let Some(bad) = values
                    .iter()
                    .find(|v| Classification::from_name(v).is_none())
                {
                    return Err(QueryError::bad_request(
                        "invalid_filter",
                        format!(
                            "classification is compliant, forwarded, misconfigured or suspicious, not {bad:?}"
                        ),
                    ));
                }
                Accept::Values(values.iter().map(|v| v.to_ascii_lowercase()).collect())
            }
            _ => Accept::Values(values.iter().map(|v| v.to_ascii_lowercase()).collect()),
        };
        Ok(Filter { dimension, accept })
    }

    /// True when any of `values` is accepted.
    pub fn accepts(&self, values: &[String]) -> bool {
        match &self.accept {
            Accept::Values(want) => values
                .iter()
                .any(|v| want.iter().any(|w| w.eq_ignore_ascii_case(v))),
            Accept::Networks(nets) => values.iter().any(|v| {
                v.parse::<IpAddr>()
                    .is_ok_and(|ip| nets.iter().any(|n| n.contains(&ip)))
            }),
        }
    }
}

fn parse_network(v: &str) -> Result<IpNet, QueryError> {
    v.parse::<IpNet>()
        .or_else(|_| v.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            QueryError::bad_request(
                "invalid_cidr",
                format!("source_ip must be an IP address or a CIDR network, not {v:?}"),
            )
        })
}

/// All filters of a request; a record passes when it passes every one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters(Vec<Filter>);

impl Filters {
    /// Reads every dimension parameter present in `params`.
    pub fn from_params(params: &super::params::Params) -> Result<Filters, QueryError> {
        let mut filters = Vec::new();
        for dimension in Dimension::ALL {
            if let Some(values) = params.list(dimension.name()) {
                filters.push(Filter::parse(dimension, &values)?);
            }
        }
        Ok(Filters(filters))
    }

    /// The dimensions filtered on.
    pub fn dimensions(&self) -> impl Iterator<Item = Dimension> + '_ {
        self.0.iter().map(|f| f.dimension)
    }

    /// True when the values given for each filtered dimension pass.
    pub fn accepts_values(&self, value_of: impl Fn(Dimension) -> Option<String>) -> bool {
        self.0.iter().all(|f| {
            let values: Vec<String> = value_of(f.dimension).into_iter().collect();
            f.accepts(&values)
        })
    }

    /// True when the record passes every filter except those on `day`.
    pub fn accepts_record(&self, r: &RecordRef<'_>) -> bool {
        let mut values = Vec::new();
        self.0
            .iter()
            .filter(|f| f.dimension != Dimension::Day)
            .all(|f| {
                values.clear();
                f.dimension.values(r, &mut values);
                f.accepts(&values)
            })
    }

    /// True when `day` passes the filters on `day`.
    pub fn accepts_day(&self, day: &str) -> bool {
        let day = [day.to_owned()];
        self.0
            .iter()
            .filter(|f| f.dimension == Dimension::Day)
            .all(|f| f.accepts(&day))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ip_accepts_addresses_and_networks() {
        let f = Filter::parse(Dimension::SourceIp, &["192.0.2.0/24", "2001:db8::1"]).unwrap();
        assert!(f.accepts(&["192.0.2.77".into()]));
        assert!(f.accepts(&["2001:db8::1".into()]));
        assert!(!f.accepts(&["198.51.100.1".into()]));
        assert!(!f.accepts(&["X.X.X.X".into()]));
        let bad = Filter::parse(Dimension::SourceIp, &["192.0.2.0/33"]).unwrap_err();
        assert_eq!(bad.code, "invalid_cidr");
    }

    #[test]
    fn values_compare_without_case() {
        let f = Filter::parse(Dimension::Reporter, &["Google.com"]).unwrap();
        assert!(f.accepts(&["google.com".into()]));
        let bad = Filter::parse(Dimension::Dmarc, &["maybe"]).unwrap_err();
        assert_eq!(bad.code, "invalid_filter");
    }
}
