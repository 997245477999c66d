//! The conditions that hold for a domain now, from its days: each rule of `docs/alerts.md`
//! as a function of [`DayFacts`], the live DNS findings and the alerts already open.
//!
//! Rate rules (a source's band, the domain's pass share, a silent reporter) judge only the
//! last settled day, [`SETTLE_DAYS`] back, because reports arrive late and a half-reported
//! day looks like a drop. Count rules (a new failing source, TLS failures) only grow as
//! reports arrive, so they also judge the days still arriving. An open alert stays open
//! while its rule's release condition (quiet days, days back in band) is not met, so a
//! condition does not flap on a day's noise.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::facts::DayFacts;
use crate::rules::{Rules, SETTLE_DAYS};
use crate::{Rule, Severity};

/// One condition that holds: what an alert says while it is open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub rule: Rule,
    /// Within the rule: the source key, reporter, policy type, `result-type@mx`, or check
    /// code.
    pub key: String,
    pub severity: Severity,
    /// How bad, in the rule's unit (failing messages, points under the median, silent
    /// days, failed sessions): an alert that doubles it is worse.
    pub magnitude: u64,
    /// One line: the mail's subject.
    pub title: String,
    /// What happened, in numbers, and what to do.
    pub detail: String,
}

/// A DNS check finding, as the latest check run gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsFinding {
    pub code: String,
    /// `warning`, `error` or `critical` (the checks' own scale).
    pub severity: String,
    pub message: String,
    pub fix: Option<String>,
}

/// What the days alone do not say.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    pub domain: &'a str,
    pub today: NaiveDate,
    /// The mode of the MTA-STS policy Rampart hosts for the domain, if any.
    pub hosted_mode: Option<&'a str>,
    /// Findings of the latest DNS check; `None` when the domain was never checked.
    pub dns: Option<&'a [DnsFinding]>,
    /// Keys of the alerts open now, by rule.
    pub open: &'a [(Rule, String)],
}

/// Every condition that holds, worst first (DNS first among equals, as the rules are
/// ordered).
pub fn conditions(rules: &Rules, days: &[DayFacts], ctx: &Context<'_>) -> Vec<Condition> {
    let days = History::new(days);
    let mut out = Vec::new();
    if rules.dns.enabled {
        dns(rules, ctx, &mut out);
    }
    if rules.new_source.enabled {
        new_source(rules, &days, ctx, &mut out);
    }
    if rules.source_band.enabled {
        source_band(rules, &days, ctx, &mut out);
    }
    if rules.domain_pass_drop.enabled {
        domain_pass_drop(rules, &days, ctx, &mut out);
    }
    if rules.silent_reporter.enabled {
        silent_reporter(rules, &days, ctx, &mut out);
    }
    if rules.new_reporter.enabled {
        new_reporter(rules, &days, ctx, &mut out);
    }
    if rules.tls_failure_spike.enabled {
        tls_failure_spike(rules, &days, ctx, &mut out);
    }
    if rules.tls_new_failure.enabled {
        tls_new_failure(rules, &days, ctx, &mut out);
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.rule.cmp(&b.rule))
            .then_with(|| a.key.cmp(&b.key))
    });
    out
}

/// The settled day rate rules judge.
pub fn settled_day(today: NaiveDate) -> NaiveDate {
    back(today, SETTLE_DAYS)
}

fn back(day: NaiveDate, n: u64) -> NaiveDate {
    day.checked_sub_days(Days::new(n)).unwrap_or(NaiveDate::MIN)
}

/// The days by date; a day without facts is a day without reports.
struct History<'a> {
    by_day: BTreeMap<NaiveDate, &'a DayFacts>,
}

impl<'a> History<'a> {
    fn new(days: &'a [DayFacts]) -> Self {
        History {
            by_day: days.iter().map(|d| (d.day, d)).collect(),
        }
    }

    /// The days from `first` to `last`, both included, that have facts.
    fn between(&self, first: NaiveDate, last: NaiveDate) -> impl Iterator<Item = &'a DayFacts> {
        let range = if first <= last {
            Some(self.by_day.range(first..=last))
        } else {
            None
        };
        range.into_iter().flatten().map(|(_, d)| *d)
    }

    fn on(&self, day: NaiveDate) -> Option<&'a DayFacts> {
        self.by_day.get(&day).copied()
    }

    /// Days with any mail or TLS session from `first` to `last`.
    fn active_between(&self, first: NaiveDate, last: NaiveDate) -> u64 {
        self.between(first, last)
            .filter(|d| d.messages > 0 || !d.tls_policies.is_empty() || !d.reporters.is_empty())
            .count() as u64
    }

    /// The latest `p=` seen up to `day`.
    fn policy(&self, day: NaiveDate) -> Option<&'a str> {
        self.by_day
            .range(..=day)
            .rev()
            .find_map(|(_, d)| d.policy.as_deref())
    }
}

fn share(pass: u64, messages: u64) -> f64 {
    if messages == 0 {
        0.0
    } else {
        pass as f64 * 100.0 / messages as f64
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

fn is_open(ctx: &Context<'_>, rule: Rule, key: &str) -> bool {
    ctx.open.iter().any(|(r, k)| *r == rule && k == key)
}

fn open_keys<'c>(ctx: &'c Context<'_>, rule: Rule) -> impl Iterator<Item = &'c str> {
    ctx.open
        .iter()
        .filter(move |(r, _)| *r == rule)
        .map(|(_, k)| k.as_str())
}

fn dns(rules: &Rules, ctx: &Context<'_>, out: &mut Vec<Condition>) {
    let Some(findings) = ctx.dns else { return };
    let rank = |s: &str| match s {
        "critical" => 3,
        "error" => 2,
        "warning" => 1,
        _ => 0,
    };
    let floor = rank(&rules.dns.min_severity);
    let mut seen = BTreeSet::new();
    for f in findings {
        if rank(&f.severity) < floor.max(1) || !seen.insert(f.code.as_str()) {
            continue;
        }
        let severity = if f.severity == "critical" {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut detail = f.message.clone();
        if let Some(fix) = &f.fix {
            detail.push_str("\n\nFix: ");
            detail.push_str(fix);
        }
        out.push(Condition {
            rule: Rule::Dns,
            key: f.code.clone(),
            severity,
            magnitude: rank(&f.severity),
            title: format!(
                "{}: {} – {}",
                ctx.domain,
                area_name(&f.code),
                first_clause(&f.message)
            ),
            detail,
        });
    }
}

/// The record family of a check code (`spf.too_many_lookups`), as people write it.
fn area_name(code: &str) -> &str {
    match code.split('.').next().unwrap_or("") {
        "spf" => "SPF",
        "dmarc" => "DMARC",
        "mx" => "MX",
        "mta_sts" => "MTA-STS",
        "tlsrpt" => "TLS-RPT",
        "dkim" => "DKIM",
        _ => "DNS",
    }
}

/// A message up to its first full stop, semicolon or parenthesis: a subject line.
fn first_clause(text: &str) -> &str {
    let line = text.lines().next().unwrap_or("");
    let end = [". ", "; ", " ("]
        .iter()
        .filter_map(|p| line.find(p))
        .min()
        .unwrap_or(line.len());
    line[..end].trim_end_matches('.')
}

/// What a resolved alert's mail says: the condition gone, in words.
pub fn resolved_title(alert: &crate::state::Alert) -> String {
    let domain = &alert.domain;
    let key = alert.key.as_str();
    // `net:192.0.2.0/24`, `as:64500`, `service:google`: the part after the kind.
    let source = key.split_once(':').map_or(key, |(_, v)| v);
    match alert.rule {
        Rule::Dns => {
            let was = alert.title.split_once(" – ").map_or("", |(_, w)| w);
            format!("{domain}: {} fixed (was: {was})", area_name(key))
        }
        Rule::NewSource => format!("{domain}: {source} no longer sends mail failing DMARC"),
        Rule::SourceBand => format!("{domain}: {source} is back in its usual DMARC band"),
        Rule::DomainPassDrop => {
            format!("{domain}: the DMARC pass share is back to its usual level")
        }
        Rule::SilentReporter => format!("{domain}: {key} reports again"),
        Rule::NewReporter => format!("{domain}: {key} is no longer new"),
        Rule::TlsFailureSpike => {
            format!("{domain}: failed TLS sessions ({key}) are back to their usual level")
        }
        Rule::TlsNewFailure => format!("{domain}: {key} is no longer reported"),
    }
}

fn new_source(rules: &Rules, days: &History<'_>, ctx: &Context<'_>, out: &mut Vec<Condition>) {
    let r = &rules.new_source;
    let judged_from = back(ctx.today, SETTLE_DAYS);
    let mut fired: BTreeMap<String, (u64, String, NaiveDate)> = BTreeMap::new();
    for day in days.between(judged_from, ctx.today) {
        let memory = back(day.day, r.memory_days);
        let before = back(day.day, 1);
        if days.active_between(memory, before) < r.learning_days {
            continue;
        }
        for s in &day.sources {
            let failing = s.failing();
            if failing < r.min_failing
                || (failing as f64) <= r.min_share_percent / 100.0 * day.messages as f64
            {
                continue;
            }
            let first_seen = days
                .between(memory, day.day)
                .find(|d| d.sources.iter().any(|x| x.key == s.key && x.messages > 0))
                .map(|d| d.day)
                .unwrap_or(day.day);
            if first_seen < back(day.day, r.new_for_days) {
                continue;
            }
            let entry = fired
                .entry(s.key.clone())
                .or_insert((0, s.name.clone(), day.day));
            entry.0 = entry.0.max(failing);
        }
    }
    // An open alert stays open while the source still fails on any of the quiet days.
    for key in open_keys(ctx, Rule::NewSource) {
        if fired.contains_key(key) {
            continue;
        }
        let mut worst = None;
        for day in days.between(back(ctx.today, r.quiet_days.saturating_sub(1)), ctx.today) {
            if let Some(s) = day.sources.iter().find(|s| s.key == key && s.failing() > 0) {
                let (n, _, _) = worst.get_or_insert((0, s.name.clone(), day.day));
                *n = (*n).max(s.failing());
            }
        }
        if let Some(w) = worst {
            fired.insert(key.to_string(), w);
        }
    }
    let policy = days.policy(ctx.today);
    for (key, (failing, name, day)) in fired {
        let open_policy = matches!(policy, Some("none") | None);
        let severity = if open_policy {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let outcome = match policy {
            Some("reject") => "receivers rejected it under your p=reject",
            Some("quarantine") => "receivers quarantined it under your p=quarantine",
            _ => "with p=none, receivers delivered it",
        };
        out.push(Condition {
            rule: Rule::NewSource,
            key,
            severity,
            magnitude: failing,
            title: format!(
                "{}: a new source, {name}, sends mail failing DMARC",
                ctx.domain
            ),
            detail: format!(
                "{name} sent {failing} messages as {} on {day} that failed DMARC, and it was \
                 not seen in the {} days before; {outcome}. If it is yours, authorise it \
                 (SPF include or DKIM key); if not, it is spoofing.",
                ctx.domain, r.memory_days
            ),
        });
    }
}

fn band(share: f64) -> u8 {
    if share >= 95.0 {
        2
    } else if share >= 51.0 {
        1
    } else {
        0
    }
}

fn band_name(share: f64) -> &'static str {
    ["failing", "partly passing", "passing"][band(share) as usize]
}

/// A source's median daily messages and median pass share over the `baseline` days before
/// `day`, when it sent on at least `min_days` of them.
fn source_baseline(
    days: &History<'_>,
    key: &str,
    day: NaiveDate,
    baseline: u64,
    min_days: u64,
) -> Option<(f64, f64)> {
    let (mut volumes, mut shares) = (Vec::new(), Vec::new());
    for d in days.between(back(day, baseline), back(day, 1)) {
        if let Some(s) = d.sources.iter().find(|s| s.key == key && s.messages > 0) {
            volumes.push(s.messages as f64);
            shares.push(share(s.pass, s.messages));
        }
    }
    if (volumes.len() as u64) < min_days {
        return None;
    }
    Some((median(&mut volumes)?, median(&mut shares)?))
}

fn source_band(rules: &Rules, days: &History<'_>, ctx: &Context<'_>, out: &mut Vec<Condition>) {
    let r = &rules.source_band;
    let settled = settled_day(ctx.today);
    let out_of_band =
        |key: &str, day: NaiveDate, base_end: NaiveDate| -> Option<(f64, f64, String)> {
            let (volume, usual) =
                source_baseline(days, key, base_end, r.baseline_days, r.min_days)?;
            if volume < r.min_daily_messages as f64 {
                return None;
            }
            let s = days.on(day)?.sources.iter().find(|s| s.key == key)?;
            // A handful of messages says little about a source that sends hundreds.
            if (s.messages as f64) < volume / 5.0 {
                return None;
            }
            let now = share(s.pass, s.messages);
            (now <= usual - r.drop_points || band(now) < band(usual))
                .then(|| (now, usual, s.name.clone()))
        };
    let mut keys: BTreeSet<&str> = days
        .on(settled)
        .map(|d| d.sources.iter().map(|s| s.key.as_str()).collect())
        .unwrap_or_default();
    keys.extend(open_keys(ctx, Rule::SourceBand));
    for key in keys {
        let fired = out_of_band(key, settled, settled);
        let held = if fired.is_none() && is_open(ctx, Rule::SourceBand, key) {
            // Back in band on every one of the last `clear_days` settled days to resolve.
            let base_end = back(settled, r.clear_days.saturating_sub(1));
            (0..r.clear_days).find_map(|i| out_of_band(key, back(settled, i), base_end))
        } else {
            None
        };
        let Some((now, usual, name)) = fired.or(held) else {
            continue;
        };
        out.push(Condition {
            rule: Rule::SourceBand,
            key: key.to_string(),
            severity: Severity::Critical,
            magnitude: (usual - now).round().max(1.0) as u64,
            title: format!(
                "{}: {name} now passes DMARC for {now:.0} % of its mail (usually {usual:.0} %)",
                ctx.domain
            ),
            detail: format!(
                "On {settled}, {name} passed DMARC for {now:.1} % of the mail it sent as {} \
                 ({}), against a median of {usual:.1} % ({}) over the {} days before. A \
                 known sender failing usually means a DKIM key or an SPF include was \
                 changed or removed.",
                ctx.domain,
                band_name(now),
                band_name(usual),
                r.baseline_days
            ),
        });
    }
}

fn domain_baseline(
    days: &History<'_>,
    day: NaiveDate,
    baseline: u64,
    min_days: u64,
) -> Option<f64> {
    let mut shares: Vec<f64> = days
        .between(back(day, baseline), back(day, 1))
        .filter(|d| d.messages > 0)
        .map(|d| share(d.dmarc_pass, d.messages))
        .collect();
    if (shares.len() as u64) < min_days {
        return None;
    }
    median(&mut shares)
}

fn domain_pass_drop(
    rules: &Rules,
    days: &History<'_>,
    ctx: &Context<'_>,
    out: &mut Vec<Condition>,
) {
    let r = &rules.domain_pass_drop;
    let settled = settled_day(ctx.today);
    let under = |day: NaiveDate, base_end: NaiveDate, points: f64| -> Option<(f64, f64)> {
        let usual = domain_baseline(days, base_end, r.baseline_days, r.min_days)?;
        let d = days.on(day)?;
        if d.messages < r.min_daily_messages {
            return None;
        }
        let now = share(d.dmarc_pass, d.messages);
        (now <= usual - points).then_some((now, usual))
    };
    let fired = under(settled, settled, r.drop_points);
    let held = if fired.is_none() && is_open(ctx, Rule::DomainPassDrop, ctx.domain) {
        let base_end = back(settled, r.clear_days.saturating_sub(1));
        (0..r.clear_days).find_map(|i| under(back(settled, i), base_end, r.clear_points))
    } else {
        None
    };
    let Some((now, usual)) = fired.or(held) else {
        return;
    };
    out.push(Condition {
        rule: Rule::DomainPassDrop,
        key: ctx.domain.to_string(),
        severity: Severity::Warning,
        magnitude: (usual - now).round().max(1.0) as u64,
        title: format!(
            "{}: DMARC pass share fell to {now:.0} % (usually {usual:.0} %)",
            ctx.domain
        ),
        detail: format!(
            "On {settled}, {now:.1} % of the mail sent as {} passed DMARC, against a median of \
             {usual:.1} % over the {} days before. The sources view of that day shows which \
             senders failed.",
            ctx.domain, r.baseline_days
        ),
    });
}

fn silent_reporter(rules: &Rules, days: &History<'_>, ctx: &Context<'_>, out: &mut Vec<Condition>) {
    let r = &rules.silent_reporter;
    let settled = settled_day(ctx.today);
    let silence_from = back(settled, r.silent_days.saturating_sub(1));
    let before_last = back(silence_from, 1);
    let before_first = back(silence_from, r.of_days);
    let reported = |name: &str, first: NaiveDate, last: NaiveDate| {
        days.between(first, last)
            .filter(|d| d.reporters.iter().any(|x| x == name))
            .count() as u64
    };
    let mut candidates: BTreeSet<&str> = days
        .between(before_first, before_last)
        .flat_map(|d| d.reporters.iter().map(String::as_str))
        .collect();
    candidates.extend(open_keys(ctx, Rule::SilentReporter));
    for name in candidates {
        let daily = reported(name, before_first, before_last) >= r.active_days;
        if !(daily || is_open(ctx, Rule::SilentReporter, name)) {
            continue;
        }
        // Anything it reported since the silence began, even a day still arriving, ends it.
        if reported(name, silence_from, ctx.today) > 0 {
            continue;
        }
        let last_seen = days
            .by_day
            .range(..silence_from)
            .rev()
            .find(|(_, d)| d.reporters.iter().any(|x| x == name))
            .map(|(day, _)| *day);
        let silent_days = last_seen
            .map(|l| (settled - l).num_days().max(0) as u64)
            .unwrap_or(r.silent_days);
        let since = last_seen
            .map(|l| format!("its last report covered {l}"))
            .unwrap_or_else(|| "it has not reported for a long time".into());
        out.push(Condition {
            rule: Rule::SilentReporter,
            key: name.to_string(),
            severity: Severity::Warning,
            magnitude: silent_days,
            title: format!(
                "{}: no reports from {name} for {silent_days} days",
                ctx.domain
            ),
            detail: format!(
                "{name} reported on {} at least {} of {} days, and {since}. Either it stopped \
                 sending (check that the DMARC record still names Rampart in rua=) or its \
                 mail no longer reaches Rampart's intake.",
                ctx.domain, r.active_days, r.of_days
            ),
        });
    }
}

fn new_reporter(rules: &Rules, days: &History<'_>, ctx: &Context<'_>, out: &mut Vec<Condition>) {
    let memory = rules.new_source.memory_days;
    let recent_from = back(ctx.today, SETTLE_DAYS + 3);
    let history_end = back(recent_from, 1);
    if days.active_between(back(recent_from, memory), history_end) < rules.new_source.learning_days
    {
        return;
    }
    let known: BTreeSet<&str> = days
        .between(back(recent_from, memory), history_end)
        .flat_map(|d| d.reporters.iter().map(String::as_str))
        .collect();
    let recent: BTreeSet<&str> = days
        .between(recent_from, ctx.today)
        .flat_map(|d| d.reporters.iter().map(String::as_str))
        .collect();
    for name in recent.difference(&known) {
        out.push(Condition {
            rule: Rule::NewReporter,
            key: name.to_string(),
            severity: Severity::Info,
            magnitude: 1,
            title: format!("{}: {name} sends reports now", ctx.domain),
            detail: format!(
                "{name} sent its first aggregate report for {} in {memory} days.",
                ctx.domain
            ),
        });
    }
}

fn tls_failure_spike(
    rules: &Rules,
    days: &History<'_>,
    ctx: &Context<'_>,
    out: &mut Vec<Condition>,
) {
    let r = &rules.tls_failure_spike;
    // TLS reports cover yesterday at the latest; judge the days they can have covered.
    let last = back(ctx.today, 1);
    let spike = |policy: &str, day: NaiveDate| -> Option<(u64, f64, f64)> {
        let d = days
            .on(day)?
            .tls_policies
            .iter()
            .find(|p| p.policy == policy)?;
        if d.failed < r.min_failures {
            return None;
        }
        let now = share(d.failed, d.failed.saturating_add(d.successful));
        let (mut failed, mut total) = (0u64, 0u64);
        for b in days.between(back(day, r.baseline_days), back(day, 1)) {
            if let Some(p) = b.tls_policies.iter().find(|p| p.policy == policy) {
                failed = failed.saturating_add(p.failed);
                total = total.saturating_add(p.failed).saturating_add(p.successful);
            }
        }
        let usual = share(failed, total);
        (now > usual * r.factor).then_some((d.failed, now, usual))
    };
    let mut policies: BTreeSet<&str> = days
        .between(back(last, r.clear_days), last)
        .flat_map(|d| d.tls_policies.iter().map(|p| p.policy.as_str()))
        .collect();
    policies.extend(open_keys(ctx, Rule::TlsFailureSpike));
    for policy in policies {
        let window = if is_open(ctx, Rule::TlsFailureSpike, policy) {
            r.clear_days
        } else {
            SETTLE_DAYS
        };
        let worst = (0..window)
            .filter_map(|i| {
                let day = back(last, i);
                spike(policy, day).map(|s| (day, s))
            })
            .max_by_key(|(_, (failed, _, _))| *failed);
        let Some((day, (failed, now, usual))) = worst else {
            continue;
        };
        let whose = if policy == "sts" {
            "sessions under the MTA-STS policy"
        } else {
            "sessions"
        };
        out.push(Condition {
            rule: Rule::TlsFailureSpike,
            key: policy.to_string(),
            severity: Severity::Warning,
            magnitude: failed,
            title: format!(
                "{}: {failed} failed TLS sessions ({policy}) on {day}",
                ctx.domain
            ),
            detail: format!(
                "On {day}, {now:.1} % of the TLS {whose} ({policy}) to {}'s MX hosts failed, \
                 against {usual:.1} % over the {} days before. The TLS view shows the failure \
                 types and the MX hosts.",
                ctx.domain, r.baseline_days
            ),
        });
    }
}

/// Whether a TLS result type is about the MTA-STS policy itself (Rampart hosts it) rather
/// than the owner's MX hosts.
pub fn is_policy_failure(result_type: &str) -> bool {
    result_type.starts_with("sts-")
}

fn tls_new_failure(rules: &Rules, days: &History<'_>, ctx: &Context<'_>, out: &mut Vec<Condition>) {
    let r = &rules.tls_new_failure;
    let key_of = |t: &crate::facts::TlsFailureDay| format!("{}@{}", t.result_type, t.mx);
    // New: at an MX, a result type of the days still arriving that none of the
    // `memory_days` before them had.
    let recent_from = back(ctx.today, SETTLE_DAYS);
    let (memory_from, memory_to) = (back(recent_from, r.memory_days), back(recent_from, 1));
    let mut found: BTreeMap<String, (u64, NaiveDate)> = BTreeMap::new();
    if days.active_between(memory_from, memory_to) >= r.learning_days {
        let known: BTreeSet<String> = days
            .between(memory_from, memory_to)
            .flat_map(|d| d.tls_failures.iter().map(key_of))
            .collect();
        for day in days.between(recent_from, ctx.today) {
            for t in day
                .tls_failures
                .iter()
                .filter(|t| !known.contains(&key_of(t)))
            {
                let e = found.entry(key_of(t)).or_insert((0, day.day));
                e.0 = e.0.saturating_add(t.sessions);
            }
        }
    }
    for key in open_keys(ctx, Rule::TlsNewFailure) {
        if found.contains_key(key) {
            continue;
        }
        let quiet_from = back(ctx.today, r.quiet_days);
        let mut sessions = 0u64;
        let mut last = None;
        for d in days.between(quiet_from, ctx.today) {
            for t in d.tls_failures.iter().filter(|t| key_of(t) == key) {
                sessions = sessions.saturating_add(t.sessions);
                last = Some(d.day);
            }
        }
        if let Some(day) = last {
            found.insert(key.to_string(), (sessions, day));
        }
    }
    let enforced = ctx.hosted_mode == Some("enforce");
    for (key, (sessions, day)) in found {
        let (result_type, mx) = key.split_once('@').unwrap_or((key.as_str(), ""));
        let at = if mx.is_empty() {
            String::new()
        } else {
            format!(" at {mx}")
        };
        let policy = is_policy_failure(result_type);
        let severity = if policy && enforced {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let whose = if policy {
            "This is about the MTA-STS policy (the policy host, its certificate or its \
             body), which Rampart serves: senders cannot use it."
        } else {
            "This is about the MX host itself (its certificate or STARTTLS), not the policy: \
             the mail server's operator fixes it."
        };
        out.push(Condition {
            rule: Rule::TlsNewFailure,
            key: key.clone(),
            severity,
            magnitude: sessions,
            title: format!("{}: new TLS failure {result_type}{at}", ctx.domain),
            detail: format!(
                "Senders reported {sessions} sessions failing with {result_type}{at} since \
                 {day}, a failure not seen in the {} days before. {whose}",
                r.memory_days
            ),
        });
    }
}

/// The first day whose facts the rules read for a judgement on `today`.
pub fn first_day_read(rules: &Rules, today: NaiveDate) -> NaiveDate {
    let longest = [
        rules.new_source.memory_days + SETTLE_DAYS,
        rules.source_band.baseline_days + SETTLE_DAYS + rules.source_band.clear_days,
        rules.domain_pass_drop.baseline_days + SETTLE_DAYS + rules.domain_pass_drop.clear_days,
        rules.silent_reporter.of_days + rules.silent_reporter.silent_days + SETTLE_DAYS,
        rules.tls_failure_spike.baseline_days + rules.tls_failure_spike.clear_days + 1,
        rules.tls_new_failure.memory_days + SETTLE_DAYS,
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    back(today, longest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{SourceDay, TlsFailureDay, TlsPolicyDay};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    }

    fn source(key: &str, messages: u64, pass: u64) -> SourceDay {
        SourceDay {
            key: key.into(),
            name: key
                .trim_start_matches(|c| c != ':')
                .trim_start_matches(':')
                .into(),
            messages,
            pass,
        }
    }

    /// 60 quiet days up to today: Google and the domain's own AS, three daily reporters,
    /// TLS sessions with a few failures; `change` edits any day.
    fn days(policy: &str, mut change: impl FnMut(u64, &mut DayFacts)) -> Vec<DayFacts> {
        (0..60)
            .rev()
            .map(|ago| {
                let mut d = DayFacts {
                    day: back(today(), ago),
                    messages: 1000,
                    dmarc_pass: 980,
                    policy: Some(policy.into()),
                    sources: vec![
                        source("service:google", 600, 594),
                        source("as:64500", 400, 386),
                    ],
                    reporters: vec!["Google".into(), "Microsoft".into(), "Yahoo".into()],
                    tls_policies: vec![TlsPolicyDay {
                        policy: "sts".into(),
                        successful: 500,
                        failed: 2,
                    }],
                    tls_failures: vec![TlsFailureDay {
                        policy: "sts".into(),
                        result_type: "certificate-expired".into(),
                        mx: "mx2.example.com".into(),
                        sessions: 2,
                    }],
                    cut: 0,
                };
                change(ago, &mut d);
                d
            })
            .collect()
    }

    fn judge(days: &[DayFacts], open: &[(Rule, String)]) -> Vec<(Rule, String, Severity, u64)> {
        let ctx = Context {
            domain: "example.com",
            today: today(),
            hosted_mode: Some("enforce"),
            dns: None,
            open,
        };
        conditions(&Rules::default(), days, &ctx)
            .into_iter()
            .map(|c| (c.rule, c.key, c.severity, c.magnitude))
            .collect()
    }

    #[test]
    fn quiet_days_hold_nothing() {
        assert_eq!(judge(&days("reject", |_, _| ()), &[]), []);
    }

    #[test]
    fn a_new_failing_source_needs_the_floor_the_share_and_to_be_new() {
        let spoof = |failing: u64, first_ago: u64| {
            move |ago: u64, d: &mut DayFacts| {
                if ago == 1 {
                    d.sources.push(source("net:203.0.113.0/24", failing, 0));
                    d.messages += failing;
                } else if ago == first_ago {
                    d.sources.push(source("net:203.0.113.0/24", 1, 1));
                }
            }
        };
        let key = "net:203.0.113.0/24".to_string();
        assert_eq!(
            judge(&days("none", spoof(120, 0)), &[]),
            [(Rule::NewSource, key.clone(), Severity::Critical, 120)]
        );
        assert_eq!(
            judge(&days("reject", spoof(120, 0)), &[]),
            [(Rule::NewSource, key.clone(), Severity::Warning, 120)]
        );
        // Under the floor of 50; seen 20 days before: not new; seen 5 days before: new.
        assert_eq!(judge(&days("reject", spoof(49, 0)), &[]), []);
        assert_eq!(judge(&days("reject", spoof(120, 20)), &[]), []);
        assert_eq!(judge(&days("reject", spoof(120, 5)), &[]).len(), 1);
        // Open, and still failing within 14 days: held; quiet for 14 days: resolved.
        let open = [(Rule::NewSource, key.clone())];
        let earlier = |at: u64| {
            move |ago: u64, d: &mut DayFacts| {
                if ago == at {
                    d.sources.push(source("net:203.0.113.0/24", 3, 0));
                }
            }
        };
        assert_eq!(
            judge(&days("reject", earlier(13)), &open),
            [(Rule::NewSource, key.clone(), Severity::Warning, 3)]
        );
        assert_eq!(judge(&days("reject", earlier(14)), &open), []);
    }

    #[test]
    fn a_known_source_out_of_its_band_and_the_domain_drop_judge_the_settled_day() {
        // Google at 70 % three days ago (the settled day): its band and the domain's share.
        let dropped = days("reject", |ago, d| {
            if ago == 3 {
                d.sources[0].pass = 420;
                d.dmarc_pass = 420 + 386;
            }
        });
        assert_eq!(
            judge(&dropped, &[]),
            [
                (
                    Rule::SourceBand,
                    "service:google".into(),
                    Severity::Critical,
                    29
                ),
                (
                    Rule::DomainPassDrop,
                    "example.com".into(),
                    Severity::Warning,
                    17
                ),
            ]
        );
        // The same drop yesterday is not judged yet: reports are still arriving.
        let early = days("reject", |ago, d| {
            if ago == 1 {
                d.sources[0].pass = 420;
                d.dmarc_pass = 806;
            }
        });
        assert_eq!(judge(&early, &[]), []);
        // Open: held while any of the last 3 settled days is out of band.
        let open = [(Rule::SourceBand, "service:google".to_string())];
        let recovering = days("reject", |ago, d| {
            if ago == 5 {
                d.sources[0].pass = 420;
            }
        });
        assert_eq!(judge(&recovering, &open).len(), 1);
        let recovered = days("reject", |ago, d| {
            if ago == 6 {
                d.sources[0].pass = 420;
            }
        });
        assert_eq!(judge(&recovered, &open), []);
    }

    #[test]
    fn a_daily_reporter_silent_for_three_settled_days_and_since() {
        let silent = days("reject", |ago, d| {
            if ago <= 5 {
                d.reporters.retain(|r| r != "Yahoo");
            }
        });
        assert_eq!(
            judge(&silent, &[]),
            [(Rule::SilentReporter, "Yahoo".into(), Severity::Warning, 3)]
        );
        // A report for yesterday, still arriving late, ends the silence.
        let late = days("reject", |ago, d| {
            if (2..=5).contains(&ago) {
                d.reporters.retain(|r| r != "Yahoo");
            }
        });
        assert_eq!(judge(&late, &[]), []);
        // A new reporter is information.
        let new = days("reject", |ago, d| {
            if ago == 2 {
                d.reporters.push("Mail.Ru".into());
            }
        });
        assert_eq!(
            judge(&new, &[]),
            [(Rule::NewReporter, "Mail.Ru".into(), Severity::Info, 1)]
        );
    }

    #[test]
    fn tls_spikes_and_new_failure_types_tell_the_policy_from_the_mx() {
        let failing = days("reject", |ago, d| {
            if ago == 1 {
                d.tls_policies[0].failed = 40;
                d.tls_failures.push(TlsFailureDay {
                    policy: "sts".into(),
                    result_type: "sts-webpki-invalid".into(),
                    mx: String::new(),
                    sessions: 30,
                });
                d.tls_failures.push(TlsFailureDay {
                    policy: "sts".into(),
                    result_type: "starttls-not-supported".into(),
                    mx: "mx1.example.com".into(),
                    sessions: 8,
                });
            }
        });
        assert_eq!(
            judge(&failing, &[]),
            [
                (
                    Rule::TlsNewFailure,
                    "sts-webpki-invalid@".into(),
                    Severity::Critical,
                    30
                ),
                (Rule::TlsFailureSpike, "sts".into(), Severity::Warning, 40),
                (
                    Rule::TlsNewFailure,
                    "starttls-not-supported@mx1.example.com".into(),
                    Severity::Warning,
                    8
                ),
            ]
        );
    }

    #[test]
    fn dns_findings_from_the_chosen_severity_up() {
        let findings = [
            DnsFinding {
                code: "mx.not_covered".into(),
                severity: "critical".into(),
                message: "mx3.example.net is not covered. Senders refuse.".into(),
                fix: Some("PUT …".into()),
            },
            DnsFinding {
                code: "spf.too_many_lookups".into(),
                severity: "error".into(),
                message: "SPF needs 11 lookups.".into(),
                fix: None,
            },
            DnsFinding {
                code: "dmarc.pct_removed".into(),
                severity: "warning".into(),
                message: "pct".into(),
                fix: None,
            },
        ];
        let ctx = Context {
            domain: "example.com",
            today: today(),
            dns: Some(&findings),
            ..Context::default()
        };
        let found = conditions(&Rules::default(), &[], &ctx);
        assert_eq!(
            found
                .iter()
                .map(|c| (&c.key[..], c.severity))
                .collect::<Vec<_>>(),
            [
                ("mx.not_covered", Severity::Critical),
                ("spf.too_many_lookups", Severity::Warning)
            ]
        );
        assert_eq!(
            found[0].title,
            "example.com: MX – mx3.example.net is not covered"
        );
        assert_eq!(
            found[0].detail,
            "mx3.example.net is not covered. Senders refuse.\n\nFix: PUT …"
        );
    }
}
