//! Domains: listing, registration with the DNS records an owner publishes, removal.

use serde::Serialize;

use super::request::{DomainsQuery, RemovalQuery};
use super::{QueryError, known_domain};
use rampart_formats::time::format_utc;
use rampart_mta_sts::{id_record_name, tlsrpt_record};
use rampart_store::{DayRange, DomainEntry, Store, normalise_domain};

/// Where Rampart receives reports and serves policies; the DNS records point here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The SES inbound address for DMARC and TLS-RPT mail, e.g. `reports@rua.example.net`.
    pub inbound_address: String,
    /// The HTTPS URL that accepts TLS-RPT uploads (RFC 8460 §3).
    pub tlsrpt_url: String,
    /// The host name that serves hosted MTA-STS policies (the CloudFront distribution).
    pub mta_sts_host: String,
    /// The DNS zone where Rampart publishes MTA-STS policy ids: `_mta-sts.<domain>` is a
    /// CNAME to `<domain>._mta-sts.<policy_zone>`.
    pub policy_zone: String,
}

impl Endpoints {
    /// `RAMPART_INBOUND_ADDRESS`, `RAMPART_TLSRPT_URL` and `RAMPART_MTA_STS_HOST`, all
    /// required, and `RAMPART_POLICY_ZONE` (the inbound address's domain if unset).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Endpoints, String> {
        let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not set"));
        Ok(Endpoints::new(
            required("RAMPART_INBOUND_ADDRESS")?,
            required("RAMPART_TLSRPT_URL")?,
            required("RAMPART_MTA_STS_HOST")?,
            var("RAMPART_POLICY_ZONE"),
        ))
    }

    /// Endpoints with the policy zone defaulting to the inbound address's domain.
    pub fn new(
        inbound_address: String,
        tlsrpt_url: String,
        mta_sts_host: String,
        policy_zone: Option<String>,
    ) -> Endpoints {
        let mut endpoints = Endpoints {
            inbound_address,
            tlsrpt_url,
            mta_sts_host,
            policy_zone: String::new(),
        };
        endpoints.policy_zone = policy_zone
            .unwrap_or_else(|| endpoints.inbound_domain().to_owned())
            .trim_end_matches('.')
            .to_ascii_lowercase();
        endpoints
    }

    /// The domain of the inbound address.
    pub fn inbound_domain(&self) -> &str {
        self.inbound_address
            .rsplit_once('@')
            .map_or(self.inbound_address.as_str(), |(_, d)| d)
    }
}

/// One domain as listed.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DomainView {
    pub domain: String,
    /// False for a domain that reports arrived for without it being registered.
    pub registered: bool,
    #[schema(format = DateTime)]
    pub registered_at: Option<String>,
    pub reports: u64,
    pub messages: u64,
    pub records: u64,
    /// The worst finding of the latest DNS check (`GET …/checks`); absent before the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub dns_health: Option<DnsStatus>,
}

/// A domain's DNS health at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DnsStatus {
    pub worst: rampart_checks::Severity,
    #[schema(format = DateTime)]
    pub checked_at: String,
}

impl DnsStatus {
    /// The verdict stored on a domain, if a check ran.
    pub fn of(entry: &DomainEntry) -> Option<DnsStatus> {
        let verdict = entry.dns.as_ref()?;
        Some(DnsStatus {
            worst: rampart_checks::Severity::parse(&verdict.worst)?,
            checked_at: format_utc(verdict.checked_at),
        })
    }
}

impl From<DomainEntry> for DomainView {
    fn from(d: DomainEntry) -> Self {
        DomainView {
            dns_health: DnsStatus::of(&d),
            registered: d.registered_at.is_some(),
            registered_at: d.registered_at.map(format_utc),
            domain: d.name,
            reports: d.reports,
            messages: d.messages,
            records: d.records,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DomainList {
    pub domains: Vec<DomainView>,
    /// The cursor of the next page, or null on the last one.
    pub next: Option<String>,
}

/// The largest page of `GET /v1/domains`.
pub const MAX_PAGE: usize = 1000;

/// A domain with the DNS records that make reports and policies flow to Rampart.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DomainSetup {
    // Inline: its properties belong to this object, which is closed as a whole.
    #[serde(flatten)]
    #[schema(inline)]
    pub domain: DomainView,
    /// The last day (up to today, UTC) any report of the domain covers; null before the
    /// first.
    #[schema(format = Date)]
    pub latest_day: Option<String>,
    /// The DMARC `p=` the aggregate reports ending on `latest_day` found published, as in
    /// `GET /v1/overview`.
    pub policy: Option<String>,
    /// Rampart hosts (or is retiring) an MTA-STS policy for it: `GET …/mta-sts` shows it.
    pub hosted_policy: bool,
    pub dns: Vec<DnsRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DnsRecord {
    pub name: String,
    #[schema(schema_with = crate::schema::dns_record_type)]
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: String,
    /// The zone it belongs in: the domain's own, or Rampart's inbound domain.
    pub zone: String,
    pub purpose: &'static str,
}

/// `GET /v1/domains`: a page of domains by name, read at the store (one more than the page,
/// to know whether another follows).
pub async fn list<S: Store>(store: &S, query: DomainsQuery) -> Result<DomainList, QueryError> {
    let page = query.page;
    let limit = page.limit;
    let mut domains = store.domains(page.after.as_deref(), limit + 1).await?;
    let next = (domains.len() > limit).then(|| {
        domains.truncate(limit);
        page.next(&domains[limit - 1].name)
    });
    Ok(DomainList {
        domains: domains.into_iter().map(DomainView::from).collect(),
        next,
    })
}

/// Registers a domain; `true` with it when it was not registered before.
pub async fn register<S: Store>(
    store: &S,
    name: &str,
    endpoints: &Endpoints,
    now: i64,
) -> Result<(DomainSetup, bool), QueryError> {
    let name = checked_name(name)?;
    let created = store.register_domain(&name, now).await?;
    // Mail held while nobody had registered the domain is ingested now (by the scheduled
    // ingest on AWS, by `rampart serve`'s background loop on one machine).
    store.request_release(&name).await?;
    let entry = known_domain(store, &name).await?;
    Ok((setup(store, entry, endpoints, now).await?, created))
}

pub async fn show<S: Store>(
    store: &S,
    name: &str,
    endpoints: &Endpoints,
    now: i64,
) -> Result<DomainSetup, QueryError> {
    setup(store, known_domain(store, name).await?, endpoints, now).await
}

/// What `DELETE /v1/domains/{domain}` did.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Removal {
    pub domain: String,
    /// It was registered and no longer is.
    pub unregistered: bool,
    /// Its reports and counters were deleted (`purge=true`); raw messages are kept.
    pub purged: bool,
}

pub async fn remove<S: Store>(
    store: &S,
    name: &str,
    query: RemovalQuery,
    now: i64,
) -> Result<Removal, QueryError> {
    let purge = query.purge;
    let entry = known_domain(store, name).await?;
    // Removing the domain while senders may hold its policy would strand them (RFC 8461
    // section 8.3): its hosting must be retired first.
    if rampart_mta_sts::still_hosted(store, &entry.name, now).await? {
        return Err(QueryError {
            kind: super::ErrorKind::Conflict,
            code: "policy_hosted",
            message: format!(
                "{} has a hosted MTA-STS policy; DELETE /v1/domains/{}/mta-sts retires it, \
                 and the domain can be removed once the retirement has ended",
                entry.name, entry.name
            ),
        });
    }
    let unregistered = store.unregister_domain(&entry.name).await?;
    let purged = purge && store.forget_domain(&entry.name).await?;
    Ok(Removal {
        domain: entry.name,
        unregistered,
        purged,
    })
}

async fn setup<S: Store>(
    store: &S,
    entry: DomainEntry,
    at: &Endpoints,
    now: i64,
) -> Result<DomainSetup, QueryError> {
    let today = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .date_naive()
        .to_string();
    let latest_day = store.latest_day(&entry.name, &today).await?;
    let policy = match &latest_day {
        Some(day) => store
            .day_counts(&entry.name, &DayRange::new(day, day))
            .await?
            .pop()
            .and_then(|(_, counters)| crate::overview::published_policy(&counters)),
        None => None,
    };
    let hosted_policy = store.latest_policy(&entry.name).await?.is_some();
    let d = entry.name.clone();
    let inbound = at.inbound_domain().to_owned();
    let zone = at.policy_zone.clone();
    let record = |name: String, kind, value: String, zone: &str, purpose| DnsRecord {
        name,
        kind,
        value,
        zone: zone.to_owned(),
        purpose,
    };
    let dns = vec![
        record(
            format!("_dmarc.{d}"),
            "TXT",
            format!("v=DMARC1; p=none; rua=mailto:{}", at.inbound_address),
            &d,
            "DMARC aggregate reports to Rampart (keep your own p= if you have a policy)",
        ),
        record(
            format!("_smtp._tls.{d}"),
            "TXT",
            tlsrpt_record(&[&format!("mailto:{}", at.inbound_address), &at.tlsrpt_url]),
            &d,
            "SMTP TLS reports to Rampart by mail and HTTPS",
        ),
        record(
            format!("mta-sts.{d}"),
            "CNAME",
            at.mta_sts_host.clone(),
            &d,
            "the host that serves the hosted MTA-STS policy",
        ),
        record(
            format!("_mta-sts.{d}"),
            "CNAME",
            id_record_name(&d, &zone),
            &d,
            "the MTA-STS policy id (TXT), published by Rampart in its zone when the policy changes",
        ),
        record(
            format!("{d}._report._dmarc.{inbound}"),
            "TXT",
            "v=DMARC1".to_owned(),
            &inbound,
            "authorises Rampart's inbound domain to receive this domain's reports \
             (RFC 7489 section 7.1); published by Rampart's operator",
        ),
    ];
    Ok(DomainSetup {
        domain: DomainView::from(entry),
        latest_day,
        policy,
        hosted_policy,
        dns,
    })
}

/// A domain name as registered: lower-case ASCII (A-labels for IDNs), at least two labels.
pub fn checked_name(raw: &str) -> Result<String, QueryError> {
    let name = normalise_domain(raw);
    let invalid = |why: &str| {
        QueryError::bad_request(
            "invalid_domain",
            format!("{raw:?} is not a domain name: {why}"),
        )
    };
    if !name.is_ascii() {
        return Err(invalid(
            "write internationalised names as A-labels (xn--...)",
        ));
    }
    if name.is_empty() || name.len() > 253 {
        return Err(invalid("a name has 1 to 253 characters"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid("it needs at least two labels, like example.com"));
    }
    for label in &labels {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(invalid(
                "each label has 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen",
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid("an IP address is not a domain"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_checked() {
        assert_eq!(checked_name(" Example.COM. ").unwrap(), "example.com");
        assert_eq!(
            checked_name("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
        for bad in [
            "",
            "com",
            "exa mple.com",
            "-a.com",
            "a..com",
            "bücher.de",
            "192.0.2.1",
        ] {
            assert_eq!(
                checked_name(bad).unwrap_err().code,
                "invalid_domain",
                "{bad}"
            );
        }
        assert!(checked_name(&format!("{}.com", "a".repeat(64))).is_err());
    }
}
