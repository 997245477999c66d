//! What the API shows and changes of alerts: a domain's alerts with its settings
//! (`GET /v1/domains/{d}/alerts`), and the settings of a domain or of all domains
//! (`PUT …/alert-settings`): recipients, the weekly digest, rule changes, snoozes and the
//! webhook, whose signing secret Rampart makes and shows once.

use std::collections::BTreeSet;

use rampart_alerts::settings::{Settings, Snooze, Webhook};
use rampart_alerts::state::Status;
use rampart_alerts::{Rule, rules::Rules};
use rampart_store::{ALL_DOMAINS, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alerting::{settings, stored_alerts};
use crate::{ErrorKind, QueryError, known_domain};

/// One alert as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    /// `dns`, `new_source`, `source_band`, `domain_pass_drop`, `silent_reporter`,
    /// `new_reporter`, `tls_failure_spike`, `tls_new_failure`.
    pub rule: String,
    /// Within the rule: a source (`net:192.0.2.0/24`, `as:64500`, `service:google`), a
    /// reporter, a TLS policy type or `result-type@mx`, a check code.
    pub key: String,
    /// `open` or `resolved`.
    pub status: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub magnitude: u64,
    pub title: String,
    pub detail: String,
    pub opened_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    /// The last mail about it.
    pub mailed_at: Option<i64>,
    /// Whether a mail it owes has not gone yet.
    pub pending: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SnoozeView {
    /// The rule, or null for every rule.
    pub rule: Option<String>,
    pub until: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub url: String,
    /// The HMAC-SHA256 key of `X-Rampart-Signature`: shown only in the answer that set or
    /// rotated it, null after.
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SuppressedView {
    pub address: String,
    pub reason: String,
    pub at: i64,
}

/// The settings of a domain, or of all domains (`scope: "*"`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    pub scope: String,
    pub recipients: Vec<String>,
    /// The recipients SES or the SMTP server refused, not mailed until removed from here.
    pub suppressed: Vec<SuppressedView>,
    pub digest: bool,
    /// What this scope changed of the rules.
    #[schema(value_type = Object)]
    pub rules: Value,
    /// The rules in force: the defaults, the all-domains changes, then this scope's.
    #[schema(value_type = Object)]
    pub effective: Value,
    pub snoozes: Vec<SnoozeView>,
    pub webhook: Option<WebhookView>,
}

/// `GET /v1/domains/{domain}/alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DomainAlerts {
    pub domain: String,
    /// Open first, worst first; then resolved, newest first.
    pub alerts: Vec<AlertView>,
    pub settings: SettingsView,
}

/// `PUT …/alert-settings`: the fields to change; those left out stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsRequest {
    /// Replaces the list; at most 20. An address new to the list is mailed even if it was
    /// suppressed; one already listed stays suppressed (see `resume`).
    #[serde(default)]
    #[schema(nullable = false)]
    pub recipients: Option<Vec<String>>,
    /// Addresses to mail again although a bounce, a complaint or a refusal suppressed them
    /// (the owner says they work now); each must be a recipient of the resulting settings.
    #[serde(default)]
    #[schema(nullable = false)]
    pub resume: Option<Vec<String>>,
    #[serde(default)]
    #[schema(nullable = false)]
    pub digest: Option<bool>,
    /// Replaces this scope's rule changes: any subset of the rules' settings, e.g.
    /// `{"new_source": {"min_failing": 20}}`; `{}` goes back to the defaults.
    #[serde(default)]
    #[schema(value_type = Object, nullable = false)]
    pub rules: Option<Value>,
    /// Replaces the snoozes (`[]` ends them all).
    #[serde(default)]
    #[schema(nullable = false)]
    pub snoozes: Option<Vec<SnoozeRequest>>,
    /// Sets the webhook URL (a new secret is made for a new URL); `""` removes it.
    #[serde(default)]
    #[schema(nullable = false)]
    pub webhook_url: Option<String>,
    /// Makes a new webhook secret (the old one stops signing).
    #[serde(default)]
    #[schema(nullable = false)]
    pub rotate_secret: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeRequest {
    /// A rule name; left out for every rule.
    #[serde(default)]
    #[schema(nullable = false)]
    pub rule: Option<String>,
    /// Unix seconds.
    pub until: i64,
}

fn view(a: rampart_alerts::state::Alert) -> AlertView {
    AlertView {
        rule: a.rule.as_str().to_owned(),
        key: a.key,
        status: match a.status {
            Status::Open => "open".into(),
            Status::Resolved => "resolved".into(),
        },
        severity: a.severity.as_str().to_owned(),
        magnitude: a.magnitude,
        title: a.title,
        detail: a.detail,
        opened_at: a.opened_at,
        updated_at: a.updated_at,
        resolved_at: a.resolved_at,
        mailed_at: a.mailed_at,
        pending: a.pending.is_some(),
    }
}

async fn settings_view<S: Store>(
    store: &S,
    scope: &str,
    mine: &Settings,
    secret_shown: bool,
) -> Result<SettingsView, QueryError> {
    let all = if scope == ALL_DOMAINS {
        Settings::default()
    } else {
        settings(store, ALL_DOMAINS).await?
    };
    let effective = mine.rules(&all).unwrap_or_default();
    let suppressed = store
        .suppressed(&mine.recipients)
        .await?
        .into_iter()
        .map(|s| SuppressedView {
            address: s.address,
            reason: s.reason,
            at: s.at,
        })
        .collect();
    Ok(SettingsView {
        scope: scope.to_owned(),
        recipients: mine.recipients.clone(),
        suppressed,
        digest: mine.digest,
        rules: effective.changes_from(&Rules::default().with(&all.rules).unwrap_or_default()),
        effective: serde_json::to_value(&effective).unwrap_or_default(),
        snoozes: mine
            .snoozes
            .iter()
            .map(|s| SnoozeView {
                rule: s.rule.map(|r| r.as_str().to_owned()),
                until: s.until,
            })
            .collect(),
        webhook: mine.webhook.as_ref().map(|w| WebhookView {
            url: w.url.clone(),
            secret: secret_shown.then(|| w.secret.clone()),
        }),
    })
}

/// The scope a request names: a known domain, normalised, or all domains.
async fn scope_of<S: Store>(store: &S, scope: Option<&str>) -> Result<String, QueryError> {
    match scope {
        None => Ok(ALL_DOMAINS.to_owned()),
        Some(domain) => Ok(known_domain(store, domain).await?.name),
    }
}

/// A domain's alerts and settings.
pub async fn domain_alerts<S: Store>(store: &S, domain: &str) -> Result<DomainAlerts, QueryError> {
    let name = scope_of(store, Some(domain)).await?;
    let mut alerts = stored_alerts(store, &name).await?;
    alerts.sort_by(|a, b| {
        (a.status != Status::Open, std::cmp::Reverse(a.severity))
            .cmp(&(b.status != Status::Open, std::cmp::Reverse(b.severity)))
            .then(b.updated_at.cmp(&a.updated_at))
            .then_with(|| a.key.cmp(&b.key))
    });
    let mine = settings(store, &name).await?;
    Ok(DomainAlerts {
        settings: settings_view(store, &name, &mine, false).await?,
        domain: name,
        alerts: alerts.into_iter().map(view).collect(),
    })
}

/// The settings of a domain (`Some`) or of all domains (`None`).
pub async fn show_settings<S: Store>(
    store: &S,
    domain: Option<&str>,
) -> Result<SettingsView, QueryError> {
    let scope = scope_of(store, domain).await?;
    let mine = settings(store, &scope).await?;
    settings_view(store, &scope, &mine, false).await
}

fn invalid(message: impl Into<String>) -> QueryError {
    QueryError::bad_request("invalid_settings", message)
}

/// Applies `change` to the settings of a domain or of all domains; a new or rotated
/// webhook secret is made by `new_secret` and shown in this answer only.
pub async fn change_settings<S: Store>(
    store: &S,
    domain: Option<&str>,
    change: SettingsRequest,
    new_secret: impl Fn() -> Result<String, String>,
) -> Result<SettingsView, QueryError> {
    let scope = scope_of(store, domain).await?;
    let mut mine = settings(store, &scope).await?;
    let listed = |settings: &Settings| -> BTreeSet<String> {
        settings
            .recipients
            .iter()
            .map(|r| r.to_ascii_lowercase())
            .collect()
    };
    let before = listed(&mine);
    if let Some(recipients) = change.recipients {
        let mut seen = BTreeSet::new();
        mine.recipients = recipients
            .into_iter()
            .map(|r| r.trim().to_owned())
            .filter(|r| seen.insert(r.to_ascii_lowercase()))
            .collect();
    }
    let now_listed = listed(&mine);
    // Adding an address is the owner saying it works; saving the same list again is not
    // (a complaint must not be undone by a change of the digest's checkbox).
    let mut mail_again: BTreeSet<String> = now_listed.difference(&before).cloned().collect();
    for address in change.resume.unwrap_or_default() {
        let address = address.trim().to_ascii_lowercase();
        if !now_listed.contains(&address) {
            return Err(invalid(format!(
                "{address:?} is not a recipient (resume names recipients)"
            )));
        }
        mail_again.insert(address);
    }
    if let Some(digest) = change.digest {
        mine.digest = digest;
    }
    if let Some(rules) = change.rules {
        mine.rules = rules;
    }
    if let Some(snoozes) = change.snoozes {
        mine.snoozes = snoozes
            .into_iter()
            .map(|s| {
                let rule = match s.rule.as_deref() {
                    None => None,
                    Some(name) => Some(Rule::parse(name).ok_or_else(|| {
                        invalid(format!("{name:?} is not a rule (snoozes[].rule)"))
                    })?),
                };
                Ok(Snooze {
                    rule,
                    until: s.until,
                })
            })
            .collect::<Result<_, QueryError>>()?;
    }
    let mut secret_shown = false;
    match change.webhook_url.as_deref() {
        Some("") => mine.webhook = None,
        Some(url) => {
            let same = mine.webhook.as_ref().is_some_and(|w| w.url == url);
            if !same {
                let secret = new_secret().map_err(|e| internal(&e))?;
                mine.webhook = Some(Webhook {
                    url: url.to_owned(),
                    secret,
                });
                secret_shown = true;
            }
        }
        None => {}
    }
    if change.rotate_secret == Some(true) {
        let Some(hook) = &mut mine.webhook else {
            return Err(invalid("rotate_secret needs a webhook (webhook_url)"));
        };
        hook.secret = new_secret().map_err(|e| internal(&e))?;
        secret_shown = true;
    }
    mine.validate().map_err(|e| invalid(e.0))?;
    let json = serde_json::to_string(&mine).map_err(|e| StoreError::corrupt("settings", e))?;
    store.put_alert_settings(&scope, &json).await?;
    for address in &mail_again {
        store.unsuppress(address).await?;
    }
    if before != now_listed || change.digest.is_some() {
        // The next scheduled run looks for digests to send at once (a new recipient gets
        // the week's digest within a minute, not an hour).
        store.release(crate::digest::LOOK_KEY).await?;
    }
    if scope != ALL_DOMAINS {
        // Snoozes and rules apply at the next scheduled run.
        store.request_alerts(&scope).await?;
    }
    settings_view(store, &scope, &mine, secret_shown).await
}

fn internal(why: &str) -> QueryError {
    QueryError {
        kind: ErrorKind::Internal,
        code: "secret_failed",
        message: format!("a webhook secret could not be made: {why}"),
    }
}
