//! Source views of one domain: who sends as it (`sources`) and who spoofs it (`spoofing`),
//! from the records of the range and the source intelligence stored with each report.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::Serialize;

use super::aggregate::record_days;
use super::dimension::RecordRef;
use super::request::{SourceRows, SourcesQuery, SpoofingQuery};
use super::{QueryError, each_report_in, known_domain, share};
use rampart_formats::dmarc::{DkimResult, DmarcResult, SpfResult};
use rampart_formats::limits::add_counts;
use rampart_formats::time::format_utc;
use rampart_sources::{Classification, ReverseDns, Service, SourceInfo};
use rampart_store::tally::{disposition_key, reporter_name};

/// Most SPF or DKIM failure lines listed per source.
const MAX_FAILURES: usize = 20;

/// `GET /v1/domains/{domain}/sources`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SourcesView {
    pub domain: String,
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    /// `service` or `ip`.
    #[schema(schema_with = crate::schema::source_rows)]
    pub by: &'static str,
    pub sources: Vec<SourceRow>,
    pub next: Option<String>,
    pub total: usize,
}

/// One sending service (or unrecognised sources together), or one address.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SourceRow {
    /// The service id or the address; null for the sources no service is known for.
    pub key: Option<String>,
    pub service: Option<Service>,
    /// For `by=ip`: what is known of the address.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceInfo>,
    /// Distinct source addresses.
    pub addresses: usize,
    pub messages: u64,
    pub dmarc_pass: u64,
    #[schema(minimum = 0, maximum = 1)]
    pub dmarc_pass_share: Option<f64>,
    pub spf_aligned_pass: u64,
    #[schema(minimum = 0, maximum = 1)]
    pub spf_aligned_share: Option<f64>,
    pub dkim_aligned_pass: u64,
    #[schema(minimum = 0, maximum = 1)]
    pub dkim_aligned_share: Option<f64>,
    /// Messages by classification (see `docs/sources.md`).
    #[schema(schema_with = crate::schema::classifications)]
    pub classifications: BTreeMap<&'static str, u64>,
    /// SPF results that gave no aligned pass, by domain and result, most messages first.
    pub spf_failures: Vec<AuthFailure>,
    /// DKIM signatures that gave no aligned pass, by domain, selector and result.
    pub dkim_failures: Vec<AuthFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuthFailure {
    pub domain: Option<String>,
    /// DKIM only.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The raw result; `pass` here means it passed for a domain that is not aligned.
    pub result: Option<String>,
    pub messages: u64,
}

/// An authentication result as grouped: domain, selector (DKIM only), result.
type AuthKey = (Option<String>, Option<String>, Option<String>);

#[derive(Default)]
struct Accumulated {
    service: Option<Service>,
    source: Option<SourceInfo>,
    addresses: std::collections::HashSet<std::net::IpAddr>,
    messages: u64,
    dmarc_pass: u64,
    spf_aligned: u64,
    dkim_aligned: u64,
    classes: BTreeMap<&'static str, u64>,
    spf: HashMap<AuthKey, u64>,
    dkim: HashMap<AuthKey, u64>,
}

impl Accumulated {
    fn add(&mut self, r: &RecordRef<'_>, n: u64) {
        let record = r.record;
        let pe = &record.policy_evaluated;
        self.messages = add_counts(self.messages, n);
        if pe.dmarc_pass() {
            self.dmarc_pass = add_counts(self.dmarc_pass, n);
        }
        let spf_aligned = pe.spf == Some(DmarcResult::Pass);
        let dkim_aligned = pe.dkim == Some(DmarcResult::Pass);
        if spf_aligned {
            self.spf_aligned = add_counts(self.spf_aligned, n);
        }
        if dkim_aligned {
            self.dkim_aligned = add_counts(self.dkim_aligned, n);
        }
        self.classes.add(r.classification().as_str(), n);
        if let Some(ip) = record.source_ip.ip() {
            self.addresses.insert(ip);
        }
        let lower = |s: &Option<String>| s.as_deref().map(str::to_ascii_lowercase);
        for a in &record.auth_results.spf {
            if !(a.result == Some(SpfResult::Pass) && spf_aligned) {
                let result = a.result.as_ref().map(|v| v.as_str().to_ascii_lowercase());
                self.spf.add((lower(&a.domain), None, result), n);
            }
        }
        for a in &record.auth_results.dkim {
            if !(a.result == Some(DkimResult::Pass) && dkim_aligned) {
                let result = a.result.as_ref().map(|v| v.as_str().to_ascii_lowercase());
                self.dkim
                    .add((lower(&a.domain), lower(&a.selector), result), n);
            }
        }
    }

    fn into_row(self, key: Option<String>) -> SourceRow {
        let whole = self.messages;
        let mut spf: Vec<AuthFailure> = self
            .spf
            .into_iter()
            .map(|((domain, _, result), messages)| AuthFailure {
                domain,
                selector: None,
                result,
                messages,
            })
            .collect();
        let mut dkim: Vec<AuthFailure> = self
            .dkim
            .into_iter()
            .map(|((domain, selector, result), messages)| AuthFailure {
                domain,
                selector,
                result,
                messages,
            })
            .collect();
        for list in [&mut spf, &mut dkim] {
            list.sort_by(|a, b| {
                b.messages.cmp(&a.messages).then_with(|| {
                    (&a.domain, &a.selector, &a.result).cmp(&(&b.domain, &b.selector, &b.result))
                })
            });
            list.truncate(MAX_FAILURES);
        }
        SourceRow {
            key,
            service: self.service,
            source: self.source,
            addresses: self.addresses.len(),
            messages: self.messages,
            dmarc_pass: self.dmarc_pass,
            dmarc_pass_share: share(self.dmarc_pass, whole),
            spf_aligned_pass: self.spf_aligned,
            spf_aligned_share: share(self.spf_aligned, whole),
            dkim_aligned_pass: self.dkim_aligned,
            dkim_aligned_share: share(self.dkim_aligned, whole),
            classifications: self.classes,
            spf_failures: spf,
            dkim_failures: dkim,
        }
    }
}

/// Maps of counts: `add` stops at [`MAX_COUNT`](rampart_formats::limits::MAX_COUNT).
trait CountMap<K> {
    fn add(&mut self, key: K, n: u64);
}

impl<K: Ord> CountMap<K> for BTreeMap<K, u64> {
    fn add(&mut self, key: K, n: u64) {
        let count = self.entry(key).or_insert(0);
        *count = add_counts(*count, n);
    }
}

impl<K: std::hash::Hash + Eq> CountMap<K> for HashMap<K, u64> {
    fn add(&mut self, key: K, n: u64) {
        let count = self.entry(key).or_insert(0);
        *count = add_counts(*count, n);
    }
}

/// Sorts rows by messages (most first), then key, and cuts the page.
fn page<T>(mut rows: Vec<(Option<String>, u64, T)>, offset: usize, limit: usize) -> Vec<T> {
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.into_iter()
        .skip(offset)
        .take(limit)
        .map(|r| r.2)
        .collect()
}

pub async fn sources<S: rampart_store::Store>(
    store: &S,
    domain: &str,
    query: SourcesQuery,
    today: NaiveDate,
) -> Result<SourcesView, QueryError> {
    let window = query.range.window(today)?;
    let SourcesQuery {
        by,
        page: at,
        filters,
        ..
    } = query;
    let (limit, offset) = (at.limit, at.offset);
    let entry = known_domain(store, domain).await?;
    let mut groups: HashMap<Option<String>, Accumulated> = HashMap::new();
    each_report_in(store, &entry, &window, |stored| {
        record_days(stored, &window, &filters, |r, _day, n| {
            let source = r.source();
            let service = source.and_then(|s| s.service.clone());
            let key = if by == SourceRows::Ip {
                Some(r.record.source_ip.to_string())
            } else {
                service.as_ref().map(|s| s.id.clone())
            };
            let group = groups.entry(key).or_default();
            if group.messages == 0 {
                group.service = service;
                if by == SourceRows::Ip {
                    group.source = source.cloned();
                }
            }
            group.add(&r, n);
        });
    })
    .await?;
    let total = groups.len();
    let rows = groups
        .into_iter()
        .map(|(key, acc)| (key.clone(), acc.messages, acc.into_row(key)))
        .collect();
    Ok(SourcesView {
        domain: entry.name,
        from: window.from.to_string(),
        to: window.to.to_string(),
        by: by.as_str(),
        sources: page(rows, offset, limit),
        next: at.next(total),
        total,
    })
}

/// `GET /v1/domains/{domain}/spoofing`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SpoofingView {
    pub domain: String,
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    pub sources: Vec<SpoofingSource>,
    pub next: Option<String>,
    pub total: usize,
    /// Messages from all of them.
    pub messages: u64,
}

/// One unrecognised address whose mail failed both SPF and DKIM.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SpoofingSource {
    pub ip: String,
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
    pub reverse_dns: Option<ReverseDns>,
    pub messages: u64,
    /// Start of the earliest and end of the latest report period it appears in (UTC).
    #[schema(format = DateTime)]
    pub first_seen: Option<String>,
    #[schema(format = DateTime)]
    pub last_seen: Option<String>,
    pub reports: usize,
    pub reporters: Vec<String>,
    /// The From domains it used.
    pub header_from: Vec<String>,
    /// Messages by the disposition receivers applied.
    pub dispositions: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Seen {
    source: Option<SourceInfo>,
    messages: u64,
    first: Option<i64>,
    last: Option<i64>,
    reports: std::collections::BTreeSet<String>,
    reporters: std::collections::BTreeSet<String>,
    header_from: std::collections::BTreeSet<String>,
    dispositions: BTreeMap<String, u64>,
}

pub async fn spoofing<S: rampart_store::Store>(
    store: &S,
    domain: &str,
    query: SpoofingQuery,
    today: NaiveDate,
) -> Result<SpoofingView, QueryError> {
    let window = query.range.window(today)?;
    let SpoofingQuery {
        page: at, filters, ..
    } = query;
    let (limit, offset) = (at.limit, at.offset);
    let entry = known_domain(store, domain).await?;
    let mut seen: HashMap<String, Seen> = HashMap::new();
    each_report_in(store, &entry, &window, |stored| {
        let id = stored.id.as_str().to_owned();
        record_days(stored, &window, &filters, |r, _day, n| {
            if r.classification() != Classification::Suspicious {
                return;
            }
            let s = seen.entry(r.record.source_ip.to_string()).or_default();
            if s.messages == 0 {
                s.source = r.source().cloned();
            }
            s.messages = add_counts(s.messages, n);
            let meta = &r.report.metadata;
            if let Some(b) = meta.begin {
                s.first = Some(s.first.map_or(b, |f| f.min(b)));
            }
            if let Some(e) = meta.end.or(meta.begin) {
                s.last = Some(s.last.map_or(e, |l| l.max(e)));
            }
            s.reports.insert(id.clone());
            s.reporters
                .insert(reporter_name(&meta.org_name).into_owned());
            if let Some(h) = &r.record.identifiers.header_from {
                s.header_from.insert(h.to_ascii_lowercase());
            }
            let disposition = disposition_key(r.record.policy_evaluated.disposition.as_ref());
            s.dispositions.add(disposition.to_owned(), n);
        });
    })
    .await?;
    let total = seen.len();
    let messages = seen.values().fold(0, |sum, s| add_counts(sum, s.messages));
    let rows = seen
        .into_iter()
        .map(|(ip, s)| {
            let source = s.source.as_ref();
            let row = SpoofingSource {
                country: source.and_then(|x| x.country.clone()),
                asn: source.and_then(|x| x.asn),
                as_org: source.and_then(|x| x.as_org.clone()),
                reverse_dns: source.map(|x| x.reverse_dns.clone()),
                messages: s.messages,
                first_seen: s.first.map(format_utc),
                last_seen: s.last.map(format_utc),
                reports: s.reports.len(),
                reporters: s.reporters.into_iter().collect(),
                header_from: s.header_from.into_iter().collect(),
                dispositions: s.dispositions,
                ip: ip.clone(),
            };
            (Some(ip), s.messages, row)
        })
        .collect();
    Ok(SpoofingView {
        domain: entry.name,
        from: window.from.to_string(),
        to: window.to.to_string(),
        sources: page(rows, offset, limit),
        next: at.next(total),
        total,
        messages,
    })
}
