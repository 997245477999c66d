//! Hosted MTA-STS (RFC 8461): the versions of each domain's policy, what is served now, and
//! the `_mta-sts` TXT id that Rampart publishes in its own DNS zone.
//!
//! The owner delegates once: `mta-sts.<domain>` to Rampart's policy host and
//! `_mta-sts.<domain>` (a CNAME, which senders follow, §3.1) to
//! `<domain>._mta-sts.<zone>` in a zone Rampart writes. After that a mode switch is one API
//! call. Changes go out in the order of §8.1: a new version is served at once, and its id is
//! published only when no cache can still hold the previous body ([`Timing::cache_seconds`]),
//! so a sender that sees the new id always fetches the new body. Removal follows §8.3: a
//! `mode: none` version is served, under a new id, for as long as any sender may still cache
//! an older policy; then the file and the TXT record go.

#[cfg(feature = "route53")]
pub mod route53;
pub mod zone;

use serde::Serialize;

pub use rampart_formats::mta_sts::{
    MAX_AGE_LIMIT, Policy, PolicyMode, PolicyProblem, PolicyReading, read_policy, sts_record,
    tlsrpt_record,
};
pub use zone::{DnsZone, ZoneFile};

pub use rampart_store::PolicyVersion;
use rampart_store::{Store, StoreError};

/// The `max_age` of the `mode: none` policy served while hosting is retired (one day).
pub const RETIRING_MAX_AGE: u64 = 86_400;

/// How changes are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The longest time a cache in front of the policy host (CloudFront) may keep a policy
    /// file: the `Cache-Control: max-age` the host sends. A new id is published this long
    /// after its body was first served.
    pub cache_seconds: u64,
    /// The TTL of the TXT records Rampart publishes.
    pub txt_ttl: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            cache_seconds: 60,
            txt_ttl: 300,
        }
    }
}

impl Timing {
    /// `RAMPART_POLICY_CACHE_SECONDS` (what the policy host sends as `Cache-Control:
    /// max-age`, 60 if unset); the TXT TTL is fixed.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Timing, String> {
        let mut timing = Timing::default();
        if let Some(v) = var("RAMPART_POLICY_CACHE_SECONDS") {
            timing.cache_seconds = v
                .parse()
                .map_err(|_| format!("RAMPART_POLICY_CACHE_SECONDS={v:?} is not a number"))?;
        }
        Ok(timing)
    }
}

/// The TXT record that carries a domain's policy id, inside Rampart's zone `apex`.
pub fn id_record_name(domain: &str, apex: &str) -> String {
    format!("{domain}._mta-sts.{apex}")
}

/// The `_mta-sts` TXT value that belongs in the zone at `now`: the id of the newest version
/// that has been served for at least `cache_seconds`, or nothing once hosting has retired.
/// Versions are oldest first.
pub fn due_record(history: &[PolicyVersion], now: i64, timing: Timing) -> Option<String> {
    let due = history
        .iter()
        .rev()
        .find(|v| v.created_at.saturating_add(timing.cache_seconds as i64) <= now)?;
    due.served_body(now)?;
    Some(sts_record(&due.policy.id()))
}

/// When a retirement that starts at `now` may end: once every policy served so far has
/// expired from every sender's cache, counting the time its body may sit in a cache (§8.3).
pub fn retirement_end(history: &[PolicyVersion], now: i64, timing: Timing) -> i64 {
    let longest = history.iter().map(|v| v.policy.max_age).max().unwrap_or(0);
    now.saturating_add((longest + timing.cache_seconds) as i64)
}

/// True while a domain's policy is served: from its first version until its retirement
/// ends. Until then the domain cannot be removed (§8.3: senders may still hold the policy).
pub async fn still_hosted<S: Store>(store: &S, domain: &str, now: i64) -> Result<bool, StoreError> {
    Ok(store
        .latest_policy(domain)
        .await?
        .is_some_and(|v| v.served_body(now).is_some()))
}

/// What the zone holds for a domain after [`settle`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    /// The TXT record's name.
    pub name: String,
    /// Its value, or `None` when there is no record.
    pub value: Option<String>,
    /// True when [`settle`] changed the record.
    pub changed: bool,
}

/// Brings a domain's TXT record in `zone` to [`due_record`]. Safe to run any time, from any
/// number of places: it writes only when the zone differs.
pub async fn settle<S: Store, Z: DnsZone>(
    store: &S,
    zone: &Z,
    domain: &str,
    now: i64,
    timing: Timing,
) -> Result<Published, StoreError> {
    let name = id_record_name(domain, zone.apex());
    let current = zone.txt(&name).await?;
    settle_from(store, zone, domain, current, now, timing).await
}

/// What [`settle_all`] did.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Settled {
    /// Records changed.
    pub changed: usize,
    /// Domains whose record could not be brought up to date, with why; they are tried
    /// again on the next run.
    pub failed: Vec<(String, String)>,
}

/// [`settle`] for every domain with a policy history. The zone is listed once, not once per
/// domain: Route 53 allows five requests a second per account, and this runs every minute
/// over every hosted domain. One domain that cannot be published (a record refused, a store
/// error) is counted and logged, and the others are still published.
pub async fn settle_all<S: Store, Z: DnsZone>(
    store: &S,
    zone: &Z,
    now: i64,
    timing: Timing,
) -> Result<Settled, StoreError> {
    let mut published = zone.txt_records().await?;
    let mut settled = Settled::default();
    for domain in store.policy_domains().await? {
        let current = published.remove(&id_record_name(&domain, zone.apex()));
        match settle_from(store, zone, &domain, current, now, timing).await {
            Ok(done) => settled.changed += usize::from(done.changed),
            Err(e) => {
                tracing::warn!(domain, error = %e, "publishing the MTA-STS policy id failed");
                settled.failed.push((domain, e.to_string()));
            }
        }
    }
    Ok(settled)
}

/// Writes the record of `domain` if `current` (what the zone holds) is not what is due.
async fn settle_from<S: Store, Z: DnsZone>(
    store: &S,
    zone: &Z,
    domain: &str,
    current: Option<String>,
    now: i64,
    timing: Timing,
) -> Result<Published, StoreError> {
    let history = store.policies(domain).await?;
    let name = id_record_name(domain, zone.apex());
    let wanted = due_record(&history, now, timing);
    if current == wanted {
        return Ok(Published {
            name,
            value: current,
            changed: false,
        });
    }
    match &wanted {
        Some(value) => zone.set_txt(&name, value, timing.txt_ttl).await?,
        None => zone.remove_txt(&name).await?,
    }
    tracing::info!(domain, record = %name, value = ?wanted, "published MTA-STS policy id");
    Ok(Published {
        name,
        value: wanted,
        changed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: u32, at: i64, mode: PolicyMode, max_age: u64) -> PolicyVersion {
        PolicyVersion {
            domain: "example.com".into(),
            version: n,
            created_at: at,
            policy: Policy {
                mode,
                mx: vec!["mx.example.com".into()],
                max_age,
            },
            retire_at: None,
        }
    }

    #[test]
    fn a_new_id_waits_until_caches_hold_only_the_new_body() {
        let timing = Timing {
            cache_seconds: 60,
            txt_ttl: 300,
        };
        let v1 = version(1, 1_000, PolicyMode::Testing, 604_800);
        let v2 = version(2, 5_000, PolicyMode::Enforce, 604_800);
        let history = [v1.clone(), v2.clone()];
        assert_eq!(due_record(&history[..1], 1_059, timing), None);
        let old = Some(sts_record(&v1.policy.id()));
        assert_eq!(due_record(&history[..1], 1_060, timing), old);
        assert_eq!(due_record(&history, 5_059, timing), old);
        assert_eq!(
            due_record(&history, 5_060, timing),
            Some(sts_record(&v2.policy.id()))
        );
    }

    #[test]
    fn a_retired_policy_is_served_as_none_until_every_cache_expired() {
        let timing = Timing::default();
        let history = vec![
            version(1, 0, PolicyMode::Enforce, 1_209_600),
            version(2, 100, PolicyMode::Testing, 604_800),
        ];
        let end = retirement_end(&history, 1_000, timing);
        assert_eq!(end, 1_000 + 1_209_600 + 60);
        let mut none = version(3, 1_000, PolicyMode::None, RETIRING_MAX_AGE);
        none.policy.mx.clear();
        none.retire_at = Some(end);
        let history = [history, vec![none.clone()]].concat();
        assert!(
            none.served_body(end - 1)
                .unwrap()
                .contains("mode: none\r\n")
        );
        assert_eq!(none.served_body(end), None);
        assert_eq!(
            due_record(&history, 1_060, timing),
            Some(sts_record(&none.policy.id()))
        );
        assert_eq!(due_record(&history, end, timing), None);
    }
}
