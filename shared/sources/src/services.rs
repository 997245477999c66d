//! Named sending services: which company's servers a source address belongs to, from the
//! curated map in `shared/sources/data/services.json` (each entry records where it comes from).
//!
//! A source is matched by the base domain of its forward-confirmed PTR name first (an
//! unconfirmed name is whatever the address's owner chose to write), then by its
//! autonomous system where that system sends mail for its owner alone.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// What a service does with mail, which decides how a failing record from it is read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// Hosts mailboxes (Google Workspace, Microsoft 365): sends your users' mail and also
    /// forwards mail it received.
    MailboxProvider,
    /// A gateway in front of mailboxes (Mimecast, Proofpoint): relays and forwards.
    EmailSecurity,
    /// Sends mail an application hands it (Amazon SES, SendGrid).
    Transactional,
    /// Sends campaigns (Mailchimp, HubSpot).
    Marketing,
    #[serde(untagged)]
    Other(String),
}

impl ServiceKind {
    /// Mailbox providers and security gateways pass on mail they received; a sending
    /// platform only sends what its customer gives it.
    pub fn forwards_mail(&self) -> bool {
        matches!(
            self,
            ServiceKind::MailboxProvider | ServiceKind::EmailSecurity
        )
    }
}

/// A service as stored with a source.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Stable slug: the `service` filter and group key.
    pub id: String,
    pub name: String,
    /// `mailbox_provider`, `email_security`, `transactional`, `marketing`, or another kind.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: ServiceKind,
}

#[derive(Deserialize)]
struct MapFile {
    services: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    name: String,
    kind: ServiceKind,
    ptr_domains: Vec<String>,
    asns: Vec<u32>,
}

/// The curated map, indexed.
pub struct ServiceMap {
    services: Vec<Service>,
    by_domain: HashMap<String, usize>,
    by_asn: HashMap<u32, usize>,
}

impl ServiceMap {
    /// The map compiled into Rampart.
    pub fn bundled() -> &'static ServiceMap {
        static MAP: OnceLock<ServiceMap> = OnceLock::new();
        MAP.get_or_init(|| {
            ServiceMap::from_json(include_str!("../data/services.json"))
                .expect("shared/sources/data/services.json is checked by its unit test")
        })
    }

    pub fn from_json(text: &str) -> Result<ServiceMap, serde_json::Error> {
        let file: MapFile = serde_json::from_str(text)?;
        let mut map = ServiceMap {
            services: Vec::new(),
            by_domain: HashMap::new(),
            by_asn: HashMap::new(),
        };
        for (i, e) in file.services.into_iter().enumerate() {
            for d in e.ptr_domains {
                map.by_domain.insert(d.to_ascii_lowercase(), i);
            }
            for a in e.asns {
                map.by_asn.insert(a, i);
            }
            map.services.push(Service {
                id: e.id,
                name: e.name,
                kind: e.kind,
            });
        }
        Ok(map)
    }

    /// The service of a source: by its confirmed PTR base domain, else by its AS.
    pub fn identify(&self, base_domain: Option<&str>, asn: Option<u32>) -> Option<&Service> {
        let by_name = base_domain.and_then(|d| self.by_domain.get(d));
        let by_asn = asn.and_then(|a| self.by_asn.get(&a));
        by_name.or(by_asn).map(|&i| &self.services[i])
    }

    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

/// The organisational domain of a host name (RFC 7489 §3.2, by the public suffix list):
/// `mail-sor-f41.google.com` → `google.com`. `None` for a bare suffix or a non-name.
pub fn base_domain(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let domain = psl::domain_str(&name)?;
    // psl treats an unlisted last label as a suffix; a one-label answer is no domain.
    domain.contains('.').then(|| domain.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_map_reads_and_matches_by_name_before_asn() {
        let map = ServiceMap::bundled();
        assert!(map.len() >= 30, "{}", map.len());
        let google = map.identify(Some("google.com"), Some(15169)).unwrap();
        assert_eq!(
            (google.id.as_str(), &google.kind),
            ("google", &ServiceKind::MailboxProvider)
        );
        // Google's AS also carries Google Cloud customers: no match by AS alone.
        assert_eq!(map.identify(None, Some(15169)), None);
        assert_eq!(map.identify(None, Some(11377)).unwrap().id, "sendgrid");
        assert_eq!(
            map.identify(Some("sendgrid.net"), Some(15169)).unwrap().id,
            "sendgrid"
        );
        assert_eq!(map.identify(Some("example.net"), None), None);
    }

    #[test]
    fn base_domains_follow_the_public_suffix_list() {
        assert_eq!(
            base_domain("mail-sor-f41.google.com.").as_deref(),
            Some("google.com")
        );
        assert_eq!(
            base_domain("a8-1.smtp-out.amazonses.com").as_deref(),
            Some("amazonses.com")
        );
        assert_eq!(
            base_domain("mx.example.co.uk").as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(base_domain("co.uk"), None);
        assert_eq!(base_domain("localhost"), None);
    }
}
