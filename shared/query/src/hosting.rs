//! A domain's hosted MTA-STS policy: read, replace, retire (see [`rampart_mta_sts`]).
//!
//! The API never writes DNS: it stores versions, and the publisher ([`rampart_mta_sts::settle`],
//! run by `rampart serve` and on a schedule in AWS) moves the TXT id when it is due. What the
//! answer says about the TXT record is computed from the same rule, so it is what the
//! publisher writes.

use serde::{Deserialize, Serialize};

use super::domains::Endpoints;
use super::{ErrorKind, QueryError, known_domain};
use rampart_checks::{Checker, uncovered};
use rampart_formats::time::format_utc;
use rampart_mta_sts::{
    Policy, PolicyMode, PolicyProblem, PolicyVersion, RETIRING_MAX_AGE, Timing, due_record,
    id_record_name, retirement_end, sts_record,
};
use rampart_store::Store;

/// The body of `PUT /v1/domains/{domain}/mta-sts`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    #[schema(schema_with = crate::schema::policy_mode)]
    pub mode: String,
    /// MX host names or `*.` wildcards, in A-labels; at least one unless mode is none.
    #[serde(default)]
    pub mx: Vec<String>,
    /// Seconds senders may cache the policy.
    #[schema(maximum = 31557600)]
    pub max_age: u64,
    /// Store `mode: enforce` even when it does not cover the domain's live MX hosts (or
    /// they could not be read). Without it such a policy is refused with 409: compliant
    /// senders would refuse to deliver to the uncovered hosts (RFC 8461 §5).
    #[serde(default)]
    pub force: bool,
}

/// Where a domain is in its hosting life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostingState {
    /// A policy is served.
    Active,
    /// `mode: none` is served until `retire_at` (RFC 8461 §8.3).
    Retiring,
    /// Nothing is served any more; the history is kept.
    Retired,
}

/// One version as listed.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VersionView {
    #[schema(minimum = 1)]
    pub version: u32,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub mode: PolicyMode,
    pub mx: Vec<String>,
    pub max_age: u64,
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub id: String,
    #[schema(format = DateTime, nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retire_at: Option<String>,
}

impl From<&PolicyVersion> for VersionView {
    fn from(v: &PolicyVersion) -> Self {
        VersionView {
            version: v.version,
            created_at: format_utc(v.created_at),
            mode: v.policy.mode,
            mx: v.policy.mx.clone(),
            max_age: v.policy.max_age,
            id: v.policy.id(),
            retire_at: v.retire_at.map(format_utc),
        }
    }
}

/// The `_mta-sts` TXT record behind the owner's CNAME.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IdRecord {
    /// The name in Rampart's zone that `_mta-sts.<domain>` points at.
    pub name: String,
    /// The value published now, or `null` when there is none.
    pub value: Option<String>,
    /// The value that replaces it, once caches can only hold the new body (§8.1).
    pub next_value: Option<String>,
    #[schema(format = DateTime)]
    pub next_at: Option<String>,
}

/// `GET /v1/domains/{domain}/mta-sts`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HostedPolicy {
    pub domain: String,
    pub state: HostingState,
    /// Where the policy is served.
    pub url: String,
    /// The policy file served now, exactly; `null` when retired.
    pub body: Option<String>,
    pub current: VersionView,
    pub txt: IdRecord,
    /// Things senders accept but the owner should know (only in a `PUT` answer).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<PolicyProblem>,
    /// Every version, newest first.
    pub versions: Vec<VersionView>,
}

/// What every policy call needs: the store, where things are served, the clock and timing,
/// and the DNS checks that guard `enforce` (none: no guard).
pub struct Hosting<'a, S> {
    pub store: &'a S,
    pub endpoints: &'a Endpoints,
    pub now: i64,
    pub timing: Timing,
    pub checker: Option<&'a Checker>,
}

impl<S: Store> Hosting<'_, S> {
    pub async fn show(&self, domain: &str) -> Result<HostedPolicy, QueryError> {
        let entry = known_domain(self.store, domain).await?;
        let history = self.store.policies(&entry.name).await?;
        self.view(&entry.name, history, Vec::new())
    }

    /// Replaces the policy; `true` with it when a new version was stored (the same policy
    /// again stores nothing).
    pub async fn replace(
        &self,
        domain: &str,
        body: PolicyRequest,
    ) -> Result<(HostedPolicy, bool), QueryError> {
        let (store, now) = (self.store, self.now);
        let entry = known_domain(store, domain).await?;
        if entry.registered_at.is_none() {
            return Err(QueryError::not_found(
                "domain_not_registered",
                format!(
                    "register {} (POST /v1/domains) before hosting its policy",
                    entry.name
                ),
            ));
        }
        let mode = PolicyMode::parse(body.mode.trim()).ok_or_else(|| {
            QueryError::bad_request(
                "invalid_policy",
                format!(
                    "mode: {:?} is not enforce, testing or none",
                    body.mode.trim()
                ),
            )
        })?;
        let (policy, warnings) = Policy::new(mode, &body.mx, body.max_age).map_err(|problems| {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            QueryError::bad_request("invalid_policy", list.join("; "))
        })?;
        let history = store.policies(&entry.name).await?;
        let latest = history.last();
        if latest.is_some_and(|v| v.retire_at.is_none() && v.policy == policy) {
            let answer = self.view(&entry.name, history, warnings)?;
            return Ok((answer, false));
        }
        if policy.mode == PolicyMode::Enforce && !body.force {
            self.guard(&entry.name, &policy).await?;
        }
        let version = PolicyVersion {
            domain: entry.name.clone(),
            version: latest.map_or(1, |v| v.version + 1),
            created_at: now,
            policy,
            retire_at: None,
        };
        store_version(store, &version).await?;
        // The records are checked against the new policy at the next scheduled run.
        store.request_check(&entry.name).await?;
        let history = [history, vec![version]].concat();
        Ok((self.view(&entry.name, history, warnings)?, true))
    }

    /// Refuses an enforced policy that does not cover every live MX host of the domain, naming
    /// them and the policy that would.
    async fn guard(&self, domain: &str, policy: &Policy) -> Result<(), QueryError> {
        let Some(checker) = self.checker else {
            return Ok(());
        };
        let hosts = checker.live_mx(domain).await.map_err(|why| QueryError {
            kind: ErrorKind::Conflict,
            code: "mx_unverified",
            message: format!(
                "the live MX hosts of {domain} could not be read ({why}), so Rampart cannot \
                 tell whether mode enforce would make senders refuse mail; try again, or \
                 send \"force\": true"
            ),
        })?;
        let missing = uncovered(&policy.mx, &hosts);
        if missing.is_empty() {
            return Ok(());
        }
        let mut mx = policy.mx.clone();
        mx.extend(missing.iter().map(|h| (*h).to_owned()));
        let fixed = serde_json::json!({"mode": "enforce", "mx": mx, "max_age": policy.max_age});
        Err(QueryError {
            kind: ErrorKind::Conflict,
            code: "mx_not_covered",
            message: format!(
                "mode enforce would make senders refuse mail for {domain}: its live MX \
                 host{} {} {} not covered by mx ({}); PUT {fixed} to cover {}, or send \
                 \"force\": true",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                if missing.len() == 1 { "is" } else { "are" },
                policy.mx.join(", "),
                if missing.len() == 1 { "it" } else { "them" },
            ),
        })
    }

    /// Starts retiring the policy (§8.3): `mode: none` is served under a new id until every
    /// sender's cached policy has expired, then nothing.
    pub async fn retire(&self, domain: &str) -> Result<HostedPolicy, QueryError> {
        let (store, now, timing) = (self.store, self.now, self.timing);
        let entry = known_domain(store, domain).await?;
        let history = store.policies(&entry.name).await?;
        let Some(latest) = history.last() else {
            return Err(no_policy(&entry.name));
        };
        if latest.retire_at.is_some() {
            return self.view(&entry.name, history, Vec::new());
        }
        let version = PolicyVersion {
            domain: entry.name.clone(),
            version: latest.version + 1,
            created_at: now,
            policy: Policy {
                mode: PolicyMode::None,
                mx: Vec::new(),
                max_age: RETIRING_MAX_AGE,
            },
            retire_at: Some(retirement_end(&history, now, timing)),
        };
        store_version(store, &version).await?;
        store.request_check(&entry.name).await?;
        let history = [history, vec![version]].concat();
        self.view(&entry.name, history, Vec::new())
    }

    fn view(
        &self,
        domain: &str,
        history: Vec<PolicyVersion>,
        warnings: Vec<PolicyProblem>,
    ) -> Result<HostedPolicy, QueryError> {
        let (now, timing) = (self.now, self.timing);
        let Some(latest) = history.last() else {
            return Err(no_policy(domain));
        };
        let body = latest.served_body(now);
        let state = match (latest.retire_at, &body) {
            (None, _) => HostingState::Active,
            (Some(_), Some(_)) => HostingState::Retiring,
            (Some(_), None) => HostingState::Retired,
        };
        let value = due_record(&history, now, timing);
        let due_at = latest
            .created_at
            .saturating_add(timing.cache_seconds as i64);
        let (next_value, next_at) = if due_at > now && body.is_some() {
            (Some(sts_record(&latest.policy.id())), Some(due_at))
        } else if let Some(end) = latest.retire_at.filter(|end| *end > now) {
            (None, Some(end))
        } else {
            (None, None)
        };
        Ok(HostedPolicy {
            domain: domain.to_owned(),
            state,
            url: format!("https://mta-sts.{domain}/.well-known/mta-sts.txt"),
            body,
            current: VersionView::from(latest),
            txt: IdRecord {
                name: id_record_name(domain, &self.endpoints.policy_zone),
                value,
                next_value,
                next_at: next_at.map(format_utc),
            },
            warnings,
            versions: history.iter().rev().map(VersionView::from).collect(),
        })
    }
}

async fn store_version<S: Store>(store: &S, version: &PolicyVersion) -> Result<(), QueryError> {
    if store.put_policy(version).await? {
        return Ok(());
    }
    Err(QueryError {
        kind: ErrorKind::Conflict,
        code: "policy_changed",
        message: format!(
            "the policy of {} changed while this request ran; read it and try again",
            version.domain
        ),
    })
}

fn no_policy(domain: &str) -> QueryError {
    QueryError::not_found(
        "no_policy",
        format!("{domain} has no hosted MTA-STS policy; PUT one first"),
    )
}
