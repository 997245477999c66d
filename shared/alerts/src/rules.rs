//! The thresholds of each rule, with the defaults of `docs/alerts.md`. An owner changes them
//! per domain: a domain's settings are these, with whatever fields it names replaced
//! ([`Rules::with`]), so a default improved later reaches every domain that did not choose.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Days after a report day before its reports are taken as complete: reporters send one to
/// three days late. Rate rules judge only settled days.
pub const SETTLE_DAYS: u64 = 3;

/// Every threshold, one struct per rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    pub new_source: NewSource,
    pub source_band: SourceBand,
    pub domain_pass_drop: DomainPassDrop,
    pub silent_reporter: SilentReporter,
    pub new_reporter: Toggle,
    pub tls_failure_spike: TlsFailureSpike,
    pub tls_new_failure: TlsNewFailure,
    pub dns: Dns,
    /// Alert mails per domain in any 24 hours; beyond it alerts wait for the digest.
    pub mails_per_day: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            new_source: NewSource::default(),
            source_band: SourceBand::default(),
            domain_pass_drop: DomainPassDrop::default(),
            silent_reporter: SilentReporter::default(),
            new_reporter: Toggle { enabled: true },
            tls_failure_spike: TlsFailureSpike::default(),
            tls_new_failure: TlsNewFailure::default(),
            dns: Dns::default(),
            mails_per_day: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Toggle {
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Toggle { enabled: true }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewSource {
    pub enabled: bool,
    /// Messages failing DMARC from the source on one day, at least.
    pub min_failing: u64,
    /// …and more than this percentage of the domain's messages that day.
    pub min_share_percent: f64,
    /// A source is new when its first day in the last `memory_days` is at most
    /// `new_for_days` before the day it fails.
    pub memory_days: u64,
    pub new_for_days: u64,
    /// Days of history the domain needs before anything counts as new.
    pub learning_days: u64,
    /// Resolved after this many days without a failing message from the source.
    pub quiet_days: u64,
}

impl Default for NewSource {
    fn default() -> Self {
        NewSource {
            enabled: true,
            min_failing: 50,
            min_share_percent: 1.0,
            memory_days: 90,
            new_for_days: 7,
            learning_days: 7,
            quiet_days: 14,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceBand {
    pub enabled: bool,
    /// A source is known when its median day over the baseline has at least this many
    /// messages, on at least `min_days` days.
    pub min_daily_messages: u64,
    pub min_days: u64,
    pub baseline_days: u64,
    /// Fires when the day's pass share is this many points under the median share, or
    /// in a lower band (passing ≥ 95 %, partly passing ≥ 51 %, failing).
    pub drop_points: f64,
    /// Settled days back in the band before it resolves.
    pub clear_days: u64,
}

impl Default for SourceBand {
    fn default() -> Self {
        SourceBand {
            enabled: true,
            min_daily_messages: 100,
            min_days: 7,
            baseline_days: 28,
            drop_points: 10.0,
            clear_days: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DomainPassDrop {
    pub enabled: bool,
    pub min_daily_messages: u64,
    pub min_days: u64,
    pub baseline_days: u64,
    pub drop_points: f64,
    /// Resolved once `clear_days` settled days are within `clear_points` of the median.
    pub clear_points: f64,
    pub clear_days: u64,
}

impl Default for DomainPassDrop {
    fn default() -> Self {
        DomainPassDrop {
            enabled: true,
            min_daily_messages: 200,
            min_days: 7,
            baseline_days: 28,
            drop_points: 10.0,
            clear_points: 5.0,
            clear_days: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SilentReporter {
    pub enabled: bool,
    /// A reporter is daily when it covered at least `active_days` of the `of_days` days
    /// before the silence…
    pub active_days: u64,
    pub of_days: u64,
    /// …and silent when it covered none of the last `silent_days` settled days, nor any
    /// day since.
    pub silent_days: u64,
}

impl Default for SilentReporter {
    fn default() -> Self {
        SilentReporter {
            enabled: true,
            active_days: 5,
            of_days: 7,
            silent_days: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsFailureSpike {
    pub enabled: bool,
    /// Failed sessions of one policy type on a day, at least…
    pub min_failures: u64,
    /// …and a failed share above this multiple of the baseline's share.
    pub factor: f64,
    pub baseline_days: u64,
    /// Resolved after this many days without a spike.
    pub clear_days: u64,
}

impl Default for TlsFailureSpike {
    fn default() -> Self {
        TlsFailureSpike {
            enabled: true,
            min_failures: 10,
            factor: 3.0,
            baseline_days: 14,
            clear_days: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsNewFailure {
    pub enabled: bool,
    /// New when not seen at the same MX in this many days before.
    pub memory_days: u64,
    pub learning_days: u64,
    /// Resolved after this many days without it.
    pub quiet_days: u64,
}

impl Default for TlsNewFailure {
    fn default() -> Self {
        TlsNewFailure {
            enabled: true,
            memory_days: 30,
            learning_days: 7,
            quiet_days: 7,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dns {
    pub enabled: bool,
    /// The least severe check finding that opens an alert: `warning`, `error` or `critical`.
    pub min_severity: String,
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            enabled: true,
            min_severity: "error".into(),
        }
    }
}

/// Why a change of the settings was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRules(pub String);

impl Rules {
    /// These rules with the fields of `changes` (a JSON object shaped like [`Rules`], any
    /// subset of it) replaced; an unknown field or a value out of range is refused.
    pub fn with(&self, changes: &Value) -> Result<Rules, InvalidRules> {
        let mut merged = serde_json::to_value(self).map_err(|e| InvalidRules(e.to_string()))?;
        merge(&mut merged, changes)?;
        let rules: Rules =
            serde_json::from_value(merged).map_err(|e| InvalidRules(e.to_string()))?;
        rules.validate()?;
        Ok(rules)
    }

    /// The fields of `self` that differ from `base`, as a JSON object: what a domain chose.
    pub fn changes_from(&self, base: &Rules) -> Value {
        let (mine, theirs) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(base).unwrap_or_default(),
        );
        difference(&mine, &theirs).unwrap_or_else(|| Value::Object(Default::default()))
    }

    fn validate(&self) -> Result<(), InvalidRules> {
        let days = [
            ("new_source.memory_days", self.new_source.memory_days),
            ("source_band.baseline_days", self.source_band.baseline_days),
            (
                "domain_pass_drop.baseline_days",
                self.domain_pass_drop.baseline_days,
            ),
            ("silent_reporter.of_days", self.silent_reporter.of_days),
            (
                "tls_failure_spike.baseline_days",
                self.tls_failure_spike.baseline_days,
            ),
            (
                "tls_new_failure.memory_days",
                self.tls_new_failure.memory_days,
            ),
        ];
        for (name, value) in days {
            if !(1..=MAX_DAYS).contains(&value) {
                return Err(InvalidRules(format!(
                    "{name} must be between 1 and {MAX_DAYS} days, not {value}"
                )));
            }
        }
        let points = [
            (
                "new_source.min_share_percent",
                self.new_source.min_share_percent,
            ),
            ("source_band.drop_points", self.source_band.drop_points),
            (
                "domain_pass_drop.drop_points",
                self.domain_pass_drop.drop_points,
            ),
            (
                "domain_pass_drop.clear_points",
                self.domain_pass_drop.clear_points,
            ),
        ];
        for (name, value) in points {
            if !(0.0..=100.0).contains(&value) {
                return Err(InvalidRules(format!(
                    "{name} must be between 0 and 100, not {value}"
                )));
            }
        }
        if !(1.0..=1000.0).contains(&self.tls_failure_spike.factor) {
            return Err(InvalidRules(format!(
                "tls_failure_spike.factor must be between 1 and 1000, not {}",
                self.tls_failure_spike.factor
            )));
        }
        if self.silent_reporter.active_days > self.silent_reporter.of_days {
            return Err(InvalidRules(
                "silent_reporter.active_days cannot exceed silent_reporter.of_days".into(),
            ));
        }
        if !["warning", "error", "critical"].contains(&self.dns.min_severity.as_str()) {
            return Err(InvalidRules(format!(
                "dns.min_severity must be warning, error or critical, not {:?}",
                self.dns.min_severity
            )));
        }
        if self.mails_per_day > 1000 {
            return Err(InvalidRules(format!(
                "mails_per_day is at most 1000, not {}",
                self.mails_per_day
            )));
        }
        Ok(())
    }
}

/// The longest look-back a rule may take: the history an evaluation reads is bounded by it.
pub const MAX_DAYS: u64 = 120;

fn merge(base: &mut Value, changes: &Value) -> Result<(), InvalidRules> {
    let Value::Object(changes) = changes else {
        return Err(InvalidRules("the settings are a JSON object".into()));
    };
    let Value::Object(base) = base else {
        return Err(InvalidRules("the settings are a JSON object".into()));
    };
    for (name, value) in changes {
        match (base.get_mut(name), value) {
            (Some(inner @ Value::Object(_)), Value::Object(_)) => merge(inner, value)?,
            (Some(slot), _) => *slot = value.clone(),
            (None, _) => return Err(InvalidRules(format!("unknown setting {name:?}"))),
        }
    }
    Ok(())
}

fn difference(mine: &Value, base: &Value) -> Option<Value> {
    match (mine, base) {
        (Value::Object(m), Value::Object(b)) => {
            let changed: serde_json::Map<String, Value> = m
                .iter()
                .filter_map(|(k, v)| {
                    let d = match b.get(k) {
                        Some(bv) => difference(v, bv)?,
                        None => v.clone(),
                    };
                    Some((k.clone(), d))
                })
                .collect();
            (!changed.is_empty()).then_some(Value::Object(changed))
        }
        _ => (mine != base).then(|| mine.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_domain_changes_only_what_it_names() {
        let rules = Rules::default()
            .with(&json!({"new_source": {"min_failing": 10}, "mails_per_day": 3}))
            .unwrap();
        assert_eq!(rules.new_source.min_failing, 10);
        assert_eq!(rules.new_source.min_share_percent, 1.0);
        assert_eq!(rules.mails_per_day, 3);
        assert_eq!(
            rules.changes_from(&Rules::default()),
            json!({"new_source": {"min_failing": 10}, "mails_per_day": 3})
        );
        assert_eq!(Rules::default().changes_from(&Rules::default()), json!({}));
    }

    #[test]
    fn unknown_and_out_of_range_settings_are_refused_by_name() {
        let refuse = |v: Value| Rules::default().with(&v).unwrap_err().0;
        assert_eq!(
            refuse(json!({"new_sources": {}})),
            "unknown setting \"new_sources\""
        );
        assert_eq!(
            refuse(json!({"source_band": {"baseline_days": 0}})),
            "source_band.baseline_days must be between 1 and 120 days, not 0"
        );
        assert_eq!(
            refuse(json!({"dns": {"min_severity": "info"}})),
            "dns.min_severity must be warning, error or critical, not \"info\""
        );
        assert!(refuse(json!({"new_source": {"min_failing": -1}})).contains("invalid value"));
        assert_eq!(refuse(json!([])), "the settings are a JSON object");
    }
}
