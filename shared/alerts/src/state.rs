//! One alert per domain, rule and key, stepped by each evaluation: opened once, mailed
//! again only when it got worse and a day has passed, resolved with one mail. The store
//! writes each step on condition that the alert is still the version it was read at, so two
//! evaluations running at once, or one repeated, never send the same step twice.

use serde::{Deserialize, Serialize};

use crate::evaluate::Condition;
use crate::{Rule, Severity};

/// Seconds between two mails about one alert, whatever happens.
pub const RESEND_AFTER: i64 = 24 * 3600;

/// A window in which mails are counted against a domain's budget.
pub const BUDGET_WINDOW: i64 = 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Resolved,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub domain: String,
    pub rule: Rule,
    pub key: String,
    pub status: Status,
    pub severity: Severity,
    pub magnitude: u64,
    pub title: String,
    pub detail: String,
    pub opened_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub resolved_at: Option<i64>,
    /// The last mail about it: when, and what it said.
    #[serde(default)]
    pub mailed_at: Option<i64>,
    #[serde(default)]
    pub mailed_severity: Option<Severity>,
    #[serde(default)]
    pub mailed_magnitude: u64,
    /// Steps written; the store's condition for the next write.
    pub version: u64,
    /// A mail this step owes and has not sent yet: written with the step, cleared once
    /// sent, so a crash or an outage between the two sends it at the next run, not never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Notice>,
}

/// What a step tells people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    Opened,
    Worse,
    Resolved,
}

/// How a notice reaches people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// A mail (and the webhook) now.
    Mail,
    /// The next digest: information, the day's budget spent, or a repeat within a day.
    Digest,
    /// Nothing: the owner snoozed the rule for the domain. The alert is still tracked.
    Snoozed,
}

/// What may be sent now for one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gate {
    pub snoozed: bool,
    /// Mails the domain may still be sent in the budget window.
    pub budget_left: u32,
}

/// One step: the alert to write and, if any, what to tell.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub alert: Alert,
    pub notice: Option<(Notice, Delivery)>,
}

/// The step from `stored` (the alert as read, if any) given whether its condition holds
/// now; `None` when nothing changed and nothing needs writing.
pub fn step(
    domain: &str,
    rule: Rule,
    key: &str,
    stored: Option<&Alert>,
    holds: Option<&Condition>,
    now: i64,
    gate: &mut Gate,
) -> Option<Step> {
    let mut deliver = |severity: Severity, recently_mailed: bool| -> Delivery {
        if gate.snoozed {
            Delivery::Snoozed
        } else if severity == Severity::Info || recently_mailed || gate.budget_left == 0 {
            Delivery::Digest
        } else {
            gate.budget_left -= 1;
            Delivery::Mail
        }
    };
    let recently = |a: &Alert| a.mailed_at.is_some_and(|t| now - t < RESEND_AFTER);
    match (stored, holds) {
        (None, None) => None,
        (Some(a), None) if a.status == Status::Resolved => None,
        (Some(a), None) => {
            let mut alert = a.clone();
            alert.status = Status::Resolved;
            alert.resolved_at = Some(now);
            alert.updated_at = now;
            alert.version += 1;
            // Resolved goes where the opening went: a mailed alert gets its mail.
            let delivery = if a.mailed_severity.is_some() {
                deliver(a.severity, false)
            } else {
                Delivery::Digest
            };
            if delivery == Delivery::Mail {
                alert.mailed_at = Some(now);
                alert.pending = Some(Notice::Resolved);
            }
            Some(Step {
                alert,
                notice: Some((Notice::Resolved, delivery)),
            })
        }
        (stored, Some(c)) if stored.is_none_or(|a| a.status == Status::Resolved) => {
            let mut alert = Alert {
                domain: domain.to_string(),
                rule,
                key: key.to_string(),
                status: Status::Open,
                severity: c.severity,
                magnitude: c.magnitude,
                title: c.title.clone(),
                detail: c.detail.clone(),
                opened_at: now,
                updated_at: now,
                resolved_at: None,
                mailed_at: stored.and_then(|a| a.mailed_at),
                mailed_severity: None,
                mailed_magnitude: 0,
                version: stored.map_or(0, |a| a.version) + 1,
                pending: None,
            };
            // Reopened within a day of its last mail: a flapping alert goes to the digest.
            let delivery = deliver(c.severity, stored.is_some_and(recently));
            if delivery == Delivery::Mail {
                alert.mailed_at = Some(now);
                alert.mailed_severity = Some(c.severity);
                alert.mailed_magnitude = c.magnitude;
                alert.pending = Some(Notice::Opened);
            }
            Some(Step {
                alert,
                notice: Some((Notice::Opened, delivery)),
            })
        }
        (Some(a), Some(c)) => {
            let changed = a.severity != c.severity
                || a.magnitude != c.magnitude
                || a.title != c.title
                || a.detail != c.detail;
            let worse = match a.mailed_severity {
                Some(sent) => {
                    c.severity > sent || c.magnitude >= a.mailed_magnitude.max(1).saturating_mul(2)
                }
                // Never mailed (digest, snooze, budget): a rise from info is news.
                None => c.severity > a.severity && c.severity > Severity::Info,
            };
            let notice = (worse && !recently(a) && !gate.snoozed).then(|| {
                let d = deliver(c.severity, false);
                (Notice::Worse, d)
            });
            if !changed && notice.is_none() {
                return None;
            }
            let mut alert = a.clone();
            alert.severity = c.severity;
            alert.magnitude = c.magnitude;
            alert.title = c.title.clone();
            alert.detail = c.detail.clone();
            alert.updated_at = now;
            alert.version += 1;
            if let Some((_, Delivery::Mail)) = notice {
                alert.mailed_at = Some(now);
                alert.mailed_severity = Some(c.severity);
                alert.mailed_magnitude = c.magnitude;
                alert.pending = Some(Notice::Worse);
            }
            // A worse step that waits for the digest is not news to mail again later.
            let notice = notice.filter(|(_, d)| *d != Delivery::Digest || a.mailed_at.is_none());
            Some(Step { alert, notice })
        }
        (None, Some(_)) => unreachable!("handled by the opening arm"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600;

    fn condition(severity: Severity, magnitude: u64) -> Condition {
        Condition {
            rule: Rule::NewSource,
            key: "as:64500".into(),
            severity,
            magnitude,
            title: "t".into(),
            detail: "d".into(),
        }
    }

    fn run(
        stored: Option<&Alert>,
        holds: Option<&Condition>,
        now: i64,
        gate: &mut Gate,
    ) -> Option<Step> {
        step(
            "example.com",
            Rule::NewSource,
            "as:64500",
            stored,
            holds,
            now,
            gate,
        )
    }

    fn open_gate() -> Gate {
        Gate {
            snoozed: false,
            budget_left: 10,
        }
    }

    #[test]
    fn an_alert_opens_once_mails_again_only_when_worse_after_a_day_and_resolves_once() {
        let mut gate = open_gate();
        let c = condition(Severity::Warning, 60);
        let opened = run(None, Some(&c), 0, &mut gate).unwrap();
        assert_eq!(opened.notice, Some((Notice::Opened, Delivery::Mail)));
        assert_eq!(opened.alert.version, 1);
        let a = opened.alert;

        // The same condition again: nothing to write, nothing to send.
        assert_eq!(run(Some(&a), Some(&c), 3600, &mut gate), None);
        // Twice as bad within the day: written, not mailed.
        let worse = condition(Severity::Warning, 120);
        let quiet = run(Some(&a), Some(&worse), 3600, &mut gate).unwrap();
        assert_eq!(quiet.notice, None);
        // A day later, still twice the mailed magnitude: mailed.
        let later = run(Some(&quiet.alert), Some(&worse), DAY, &mut gate).unwrap();
        assert_eq!(later.notice, Some((Notice::Worse, Delivery::Mail)));
        assert_eq!(later.alert.mailed_magnitude, 120);
        // A severity rise is worse too.
        let crit = condition(Severity::Critical, 120);
        let up = run(Some(&later.alert), Some(&crit), 2 * DAY, &mut gate).unwrap();
        assert_eq!(up.notice, Some((Notice::Worse, Delivery::Mail)));

        let resolved = run(Some(&up.alert), None, 3 * DAY, &mut gate).unwrap();
        assert_eq!(resolved.notice, Some((Notice::Resolved, Delivery::Mail)));
        assert_eq!(resolved.alert.status, Status::Resolved);
        assert_eq!(run(Some(&resolved.alert), None, 4 * DAY, &mut gate), None);
        assert_eq!(gate.budget_left, 10 - 4);
    }

    #[test]
    fn information_budget_and_snooze_go_to_the_digest_or_nowhere() {
        let mut gate = open_gate();
        let info = condition(Severity::Info, 1);
        let step = run(None, Some(&info), 0, &mut gate).unwrap();
        assert_eq!(step.notice, Some((Notice::Opened, Delivery::Digest)));
        let resolved = run(Some(&step.alert), None, DAY, &mut gate).unwrap();
        assert_eq!(resolved.notice, Some((Notice::Resolved, Delivery::Digest)));

        let mut spent = Gate {
            snoozed: false,
            budget_left: 0,
        };
        let warn = condition(Severity::Warning, 60);
        let step = run(None, Some(&warn), 0, &mut spent).unwrap();
        assert_eq!(step.notice, Some((Notice::Opened, Delivery::Digest)));
        assert_eq!(step.alert.mailed_at, None);

        let mut snoozed = Gate {
            snoozed: true,
            budget_left: 10,
        };
        let step = run(None, Some(&warn), 0, &mut snoozed).unwrap();
        assert_eq!(step.notice, Some((Notice::Opened, Delivery::Snoozed)));
        assert_eq!(snoozed.budget_left, 10);
    }

    #[test]
    fn a_flapping_alert_reopens_into_the_digest_within_a_day_of_its_mail() {
        let mut gate = open_gate();
        let c = condition(Severity::Warning, 60);
        let a = run(None, Some(&c), 0, &mut gate).unwrap().alert;
        let gone = run(Some(&a), None, 3600, &mut gate).unwrap().alert;
        let back = run(Some(&gone), Some(&c), 7200, &mut gate).unwrap();
        assert_eq!(back.notice, Some((Notice::Opened, Delivery::Digest)));
        assert_eq!(back.alert.version, 3);
        let gone = run(Some(&back.alert), None, 2 * DAY, &mut gate)
            .unwrap()
            .alert;
        let back = run(Some(&gone), Some(&c), 3 * DAY, &mut gate).unwrap();
        assert_eq!(back.notice, Some((Notice::Opened, Delivery::Mail)));
    }
}
