//! Per-day counters of a report: what summaries and daily series read instead of records.
//!
//! The store keeps, per domain and UTC day, named counters (messages, DMARC pass/fail,
//! aligned passes, dispositions, reporters, TLS sessions). Ingest adds a report's [`Tally`]
//! in the same atomic write that stores the report, so a duplicate or a retried write never
//! counts twice, and a replaced report moves the counters by the difference.
//!
//! **Spreading rule** (documented in `docs/query.md`): a report whose period covers more than
//! one UTC day has each record's count spread over those days in proportion to the seconds
//! of the period that fall on each day, rounding so that the shares add up to the count
//! exactly (the cumulative share up to a day is `floor(count × seconds so far / all seconds)`).
//! A period without a usable end, ending before it begins, or covering more than
//! [`MAX_SPREAD_DAYS`] days is counted on the day it begins. A report counts as one report,
//! and its records and warnings count, on its first day only.
//!
//! **Bounds.** Counter names built from report text are normalised and cut: a disposition
//! outside the known values counts as `other`, a reporter's name is cut at
//! [`MAX_REPORTER_NAME`] bytes. One day item holds at most [`MAX_REPORTERS_PER_DAY`]
//! reporters; a report from a further reporter has its reporter-named counters
//! [folded](Tally::fold_day) into one overflow reporter ([`OTHER_REPORTERS`]), so the item
//! stays far below DynamoDB's 400 KB and every total stays exact. Every counter stops at
//! [`MAX_COUNT`] instead of wrapping.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate};

use rampart_formats::dmarc::{Disposition, DmarcResult, Record};
use rampart_formats::intake::Report;
use rampart_formats::limits::MAX_COUNT;
use rampart_sources::{Sources, classify};

/// Longest period that is spread over its days; longer ones are counted on their first day.
pub const MAX_SPREAD_DAYS: usize = 31;

/// The day reports without a readable begin are filed under.
pub const UNKNOWN_DAY: &str = "0000-00-00";

/// The first real day: every day a report can be filed under sorts after [`UNKNOWN_DAY`].
pub const FIRST_DAY: &str = "0000-01-01";

/// Counter names. Dynamic ones are a prefix plus a value: `disposition:none`, `reporter:<org>`.
pub mod counter {
    pub const REPORTS: &str = "reports";
    pub const RECORDS: &str = "records";
    pub const WARNINGS: &str = "warnings";
    pub const MESSAGES: &str = "messages";
    pub const DMARC_PASS: &str = "dmarc_pass";
    pub const DMARC_FAIL: &str = "dmarc_fail";
    pub const SPF_ALIGNED_PASS: &str = "spf_aligned_pass";
    pub const DKIM_ALIGNED_PASS: &str = "dkim_aligned_pass";
    pub const TLS_REPORTS: &str = "tls_reports";
    pub const TLS_SUCCESSFUL: &str = "tls_successful";
    pub const TLS_FAILED: &str = "tls_failed";
    /// `disposition:<value>`: messages by the disposition applied: `none`, `quarantine`,
    /// `reject`, `pass`, `unknown` when absent, `other` for anything else.
    pub const DISPOSITION: &str = "disposition:";
    /// `policy:<p>`: aggregate reports ending on the day (the last day of their period) by
    /// the `p=` they found published (`none`, `quarantine`, `reject`; `unknown` when
    /// absent, `other` for anything else).
    pub const POLICY: &str = "policy:";
    /// `reporter:<org>`: 1 for each report of that reporter covering the day.
    pub const REPORTER: &str = "reporter:";
    /// `cell:<dmarc>␟<disposition>␟<org>`: messages by DMARC verdict, disposition and
    /// reporter together, so grouped statistics over those dimensions need no records.
    pub const CELL: &str = "cell:";
    /// The roll-ups of what ingest learnt of each source ([`Rollup`]): messages by
    /// `class:<classification>␟<dmarc>␟<disposition>`,
    /// `geo:<country>␟<classification>␟<dmarc>` and
    /// `svc:<service>␟<classification>␟<dmarc>`.
    pub const CLASS: &str = "class:";
    pub const GEO: &str = "geo:";
    pub const SERVICE: &str = "svc:";
}

/// Separates the parts of a cell counter name; it cannot occur in well-formed XML text.
const CELL_SEPARATOR: char = '\u{1f}';

/// One `cell:` counter name, read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell<'a> {
    /// `pass` or `fail`.
    pub dmarc: &'a str,
    /// Lower-case; `None` when the record had none.
    pub disposition: Option<&'a str>,
    pub reporter: &'a str,
}

impl<'a> Cell<'a> {
    /// Reads a counter name back; the overflow reporter reads as [`OTHER_REPORTERS`].
    pub fn parse(name: &'a str) -> Option<Cell<'a>> {
        let rest = name.strip_prefix(counter::CELL)?;
        let (dmarc, rest) = rest.split_once(CELL_SEPARATOR)?;
        let (disposition, reporter) = rest.split_once(CELL_SEPARATOR)?;
        Some(Cell {
            dmarc,
            disposition: (!disposition.is_empty()).then_some(disposition),
            reporter: shown_reporter(reporter),
        })
    }

    fn name(&self) -> String {
        let clean = |s: &str| s.replace(CELL_SEPARATOR, " ");
        format!(
            "{}{}{CELL_SEPARATOR}{}{CELL_SEPARATOR}{}",
            counter::CELL,
            self.dmarc,
            clean(self.disposition.unwrap_or("")),
            self.reporter
        )
    }
}

/// A roll-up counter: messages by three values of one [`Family`], so the dashboard's
/// classification, country and service views read day items instead of records. The values
/// come from Rampart's own data (the classification, the IP database's country, the service
/// list), not from report text, so each family has a bounded number of names per day: at
/// most 4 × 2 × 6 `class:`, 250 × 4 × 2 `geo:`, and the known services × 4 × 2 `svc:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollup<'a> {
    pub family: Family,
    /// In the family's order (see [`Family::prefix`]); empty where the record had none
    /// (no country, no known service, no disposition).
    pub values: [&'a str; 3],
}

/// The roll-up families, by counter prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// classification, DMARC verdict, disposition.
    Class,
    /// country, classification, DMARC verdict.
    Geo,
    /// service, classification, DMARC verdict.
    Service,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::Class, Family::Geo, Family::Service];

    pub fn prefix(self) -> &'static str {
        match self {
            Family::Class => counter::CLASS,
            Family::Geo => counter::GEO,
            Family::Service => counter::SERVICE,
        }
    }
}

/// Longest value kept in a roll-up name (a service id, a country code).
const MAX_ROLLUP_VALUE: usize = 64;

impl<'a> Rollup<'a> {
    pub fn parse(name: &'a str) -> Option<Rollup<'a>> {
        let (family, rest) = Family::ALL
            .into_iter()
            .find_map(|f| Some((f, name.strip_prefix(f.prefix())?)))?;
        let mut parts = rest.splitn(3, CELL_SEPARATOR);
        let values = [parts.next()?, parts.next()?, parts.next()?];
        Some(Rollup { family, values })
    }

    fn name(&self) -> String {
        let clean = |s: &str| cut(s, MAX_ROLLUP_VALUE).replace(CELL_SEPARATOR, " ");
        let [a, b, c] = self.values.map(clean);
        format!(
            "{}{a}{CELL_SEPARATOR}{b}{CELL_SEPARATOR}{c}",
            self.family.prefix()
        )
    }
}

/// The reporter's name as counters and grouping keys carry it: trimmed, control characters
/// as spaces, at most [`MAX_REPORTER_NAME`] bytes.
pub fn reporter_name(org: &str) -> Cow<'_, str> {
    let name = cut(org.trim(), MAX_REPORTER_NAME);
    if name.contains(char::is_control) {
        Cow::Owned(name.replace(char::is_control, " "))
    } else {
        Cow::Borrowed(name)
    }
}

/// Longest reporter name kept in a counter name; longer names are cut (on a char boundary).
pub const MAX_REPORTER_NAME: usize = 64;

/// Most reporters with counters of their own in one domain's day; see the module docs.
pub const MAX_REPORTERS_PER_DAY: usize = 200;

/// The reporter name the counters of reporters past [`MAX_REPORTERS_PER_DAY`] are folded
/// into, as queries show it.
pub const OTHER_REPORTERS: &str = "(other reporters)";

/// The overflow reporter as counter names carry it: a control character, which no reporter
/// name keeps ([`reporter_name`]), so no real reporter is ever folded in by its name.
const OTHER_REPORTERS_KEY: &str = "\u{1f}";

/// A reporter as counter names carry it, read back for showing.
pub fn shown_reporter(key: &str) -> &str {
    if key == OTHER_REPORTERS_KEY {
        OTHER_REPORTERS
    } else {
        key
    }
}

/// A disposition as counters carry it: one of a fixed few, whatever the report said.
pub fn disposition_key(d: Option<&Disposition>) -> &'static str {
    match d {
        None => "unknown",
        Some(Disposition::None) => "none",
        Some(Disposition::Quarantine) => "quarantine",
        Some(Disposition::Reject) => "reject",
        Some(Disposition::Pass) => "pass",
        Some(Disposition::Other(_)) => "other",
    }
}

/// Named counters of one day.
pub type Counters = BTreeMap<String, i64>;

/// The UTC days a report period covers, each with its weight (seconds of the period on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    days: Vec<(String, u64)>,
}

impl Span {
    /// The days of a period; see the module documentation for the rule.
    pub fn of(begin: Option<i64>, end: Option<i64>) -> Span {
        let Some(first) = begin.and_then(day_of) else {
            return Span::single(UNKNOWN_DAY.to_owned());
        };
        let (Some(begin), Some(end)) = (begin, end) else {
            return Span::single(first.to_string());
        };
        if end <= begin {
            return Span::single(first.to_string());
        }
        let mut days = Vec::new();
        let mut day = first;
        let mut start = begin;
        while start < end {
            let Some(next) = day.checked_add_days(Days::new(1)) else {
                break;
            };
            let next_start = next.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
            let stop = next_start.map_or(end, |n| n.min(end));
            days.push((day.to_string(), (stop - start) as u64));
            if days.len() > MAX_SPREAD_DAYS {
                return Span::single(first.to_string());
            }
            day = next;
            start = stop;
        }
        Span { days }
    }

    fn single(day: String) -> Span {
        Span {
            days: vec![(day, 1)],
        }
    }

    /// The span of a report's period.
    pub fn of_report(report: &Report) -> Span {
        match report {
            Report::Aggregate(r) => Span::of(r.metadata.begin, r.metadata.end),
            Report::Tls(r) => Span::of(r.start, r.end),
        }
    }

    /// The day the report is filed under: the first of its days.
    pub fn first_day(&self) -> &str {
        &self.days[0].0
    }

    pub fn last_day(&self) -> &str {
        &self.days[self.days.len() - 1].0
    }

    /// How many days the counts are spread over.
    pub fn len(&self) -> usize {
        self.days.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The days, in order.
    pub fn days(&self) -> impl Iterator<Item = &str> {
        self.days.iter().map(|(d, _)| d.as_str())
    }

    /// `count` spread over the days: `(day, share)` for each day, shares adding up to `count`.
    pub fn spread(&self, count: u64) -> impl Iterator<Item = (&str, u64)> {
        let total: u128 = self.days.iter().map(|(_, w)| u128::from(*w)).sum();
        let mut seen: u128 = 0;
        let mut given: u64 = 0;
        self.days.iter().map(move |(day, w)| {
            seen += u128::from(*w);
            let upto = (u128::from(count) * seen / total.max(1)) as u64;
            let share = upto - given;
            given = upto;
            (day.as_str(), share)
        })
    }
}

fn day_of(epoch: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp(epoch, 0).map(|t| t.date_naive())
}

/// What one report adds to its domain's per-day counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub days: BTreeMap<String, Counters>,
}

/// The reporter of a report as counters carry it.
pub fn reporter_of(report: &Report) -> Cow<'_, str> {
    let org = match report {
        Report::Aggregate(r) => r.metadata.org_name.as_str(),
        Report::Tls(r) => r.organization_name.as_deref().unwrap_or(""),
    };
    reporter_name(org)
}

/// A count as a counter value: at most [`MAX_COUNT`], which every `u64` count already is.
fn counter_value(n: u64) -> i64 {
    n.min(MAX_COUNT) as i64
}

impl Tally {
    /// The counters of a report, with `sources` (what ingest learnt of its addresses) for
    /// the roll-ups.
    pub fn of(report: &Report, sources: &Sources) -> Tally {
        let span = Span::of_report(report);
        let mut tally = Tally::default();
        let first = span.first_day().to_owned();
        let org = reporter_of(report);
        let reporter = format!("{}{org}", counter::REPORTER);
        for day in span.days() {
            tally.add(day, &reporter, 1);
        }
        tally.add(
            &first,
            counter::WARNINGS,
            counter_value(report.warnings().len() as u64),
        );
        match report {
            Report::Aggregate(r) => {
                tally.add(&first, counter::REPORTS, 1);
                let published = match disposition_key(r.policy.p.as_ref()) {
                    // `pass` is a disposition, not a policy.
                    "pass" => "other",
                    p => p,
                };
                // On the last day: the day a domain's latest report shows (`latest_day`).
                tally.add(
                    span.last_day(),
                    &format!("{}{published}", counter::POLICY),
                    1,
                );
                tally.add(
                    &first,
                    counter::RECORDS,
                    counter_value(r.records.len() as u64),
                );
                for record in &r.records {
                    for (day, share) in span.spread(record.count) {
                        tally.add_record(day, record, &org, sources, counter_value(share));
                    }
                }
            }
            Report::Tls(r) => {
                tally.add(&first, counter::TLS_REPORTS, 1);
                for (day, share) in span.spread(r.successful_sessions()) {
                    tally.add(day, counter::TLS_SUCCESSFUL, counter_value(share));
                }
                for (day, share) in span.spread(r.failed_sessions()) {
                    tally.add(day, counter::TLS_FAILED, counter_value(share));
                }
            }
        }
        tally
    }

    fn add_record(
        &mut self,
        day: &str,
        record: &Record,
        reporter: &str,
        sources: &Sources,
        n: i64,
    ) {
        let eval = &record.policy_evaluated;
        self.add(day, counter::MESSAGES, n);
        let (verdict, dmarc) = if eval.dmarc_pass() {
            (counter::DMARC_PASS, "pass")
        } else {
            (counter::DMARC_FAIL, "fail")
        };
        self.add(day, verdict, n);
        let disposition = disposition_key(eval.disposition.as_ref());
        let cell = Cell {
            dmarc,
            disposition: (disposition != "unknown").then_some(disposition),
            reporter,
        };
        self.add(day, &cell.name(), n);
        if eval.spf == Some(DmarcResult::Pass) {
            self.add(day, counter::SPF_ALIGNED_PASS, n);
        }
        if eval.dkim == Some(DmarcResult::Pass) {
            self.add(day, counter::DKIM_ALIGNED_PASS, n);
        }
        self.add(day, &format!("{}{disposition}", counter::DISPOSITION), n);

        let source = record.source_ip.ip().and_then(|ip| sources.get(&ip));
        let class = classify(record, source).as_str();
        let country = source.and_then(|s| s.country.as_deref()).unwrap_or("");
        let service = source
            .and_then(|s| s.service.as_ref())
            .map_or("", |s| s.id.as_str());
        let disposition = cell.disposition.unwrap_or("");
        for (family, values) in [
            (Family::Class, [class, dmarc, disposition]),
            (Family::Geo, [country, class, dmarc]),
            (Family::Service, [service, class, dmarc]),
        ] {
            self.add(day, &Rollup { family, values }.name(), n);
        }
    }

    /// Adds `n` to a counter; zero changes nothing. A counter stays within ±[`MAX_COUNT`]
    /// (differences may be negative), so no sum of counters can overflow.
    pub fn add(&mut self, day: &str, name: &str, n: i64) {
        if n == 0 {
            return;
        }
        let max = MAX_COUNT as i64;
        let counters = self.days.entry(day.to_owned()).or_default();
        let value = counters.entry(name.to_owned()).or_insert(0);
        *value = (*value + n.clamp(-max, max)).clamp(-max, max);
        if *value == 0 {
            counters.remove(name);
            if counters.is_empty() {
                self.days.remove(day);
            }
        }
    }

    /// What moves the counters from `old` to `self`.
    pub fn minus(&self, old: &Tally) -> Tally {
        let mut delta = self.clone();
        for (day, counters) in &old.days {
            for (name, n) in counters {
                delta.add(day, name, n.saturating_neg());
            }
        }
        delta
    }

    /// Moves the counters of one day that name a reporter (`reporter:` and `cell:`) to the
    /// overflow reporter, for a day that already has [`MAX_REPORTERS_PER_DAY`] others.
    pub fn fold_day(&mut self, day: &str) {
        let Some(counters) = self.days.remove(day) else {
            return;
        };
        for (name, n) in counters {
            let folded = if name.starts_with(counter::REPORTER) {
                format!("{}{OTHER_REPORTERS_KEY}", counter::REPORTER)
            } else if let Some(cell) = Cell::parse(&name) {
                Cell {
                    reporter: OTHER_REPORTERS_KEY,
                    ..cell
                }
                .name()
            } else {
                name
            };
            self.add(day, &folded, n);
        }
    }

    /// The reporter a day's counters name (`reporter:<name>`), unless they are folded.
    pub fn reporter_on(&self, day: &str) -> Option<&str> {
        self.days
            .get(day)?
            .iter()
            .filter(|(_, n)| **n > 0)
            .find_map(|(name, _)| name.strip_prefix(counter::REPORTER))
            .filter(|r| *r != OTHER_REPORTERS_KEY)
    }

    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// The compact form kept beside a stored report, so a replacement can subtract it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.days).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn from_json(json: &str) -> Result<Tally, serde_json::Error> {
        Ok(Tally {
            days: serde_json::from_str(json)?,
        })
    }
}

fn cut(name: &str, max: usize) -> &str {
    if name.len() <= max {
        return name;
    }
    let mut end = max;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The day after `day` (`YYYY-MM-DD`), for walking a range.
pub fn next_day(day: &str) -> Option<String> {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()?
        .checked_add_days(Days::new(1))
        .map(|d| d.to_string())
}

/// `day` moved back by `n` days; `None` if it is not a date.
pub fn days_before(day: &str, n: u64) -> Option<String> {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()?
        .checked_sub_days(Days::new(n))
        .map(|d| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    // 2024-01-01T00:00:00Z
    const JAN1: i64 = 1_704_067_200;

    #[test]
    fn a_one_day_report_stays_on_its_day() {
        let span = Span::of(Some(JAN1), Some(JAN1 + DAY - 1));
        assert_eq!(span.days().collect::<Vec<_>>(), ["2024-01-01"]);
        // Ending exactly at midnight does not touch the next day.
        let span = Span::of(Some(JAN1), Some(JAN1 + DAY));
        assert_eq!(span.days().collect::<Vec<_>>(), ["2024-01-01"]);
    }

    #[test]
    fn counts_spread_by_seconds_and_add_up() {
        // 18:00 on Jan 1 to 18:00 on Jan 2: a quarter, then three quarters.
        let span = Span::of(Some(JAN1 + 18 * 3600), Some(JAN1 + DAY + 18 * 3600));
        let shares: Vec<_> = span.spread(100).collect();
        assert_eq!(shares, [("2024-01-01", 25), ("2024-01-02", 75)]);
        let shares: Vec<_> = span.spread(3).collect();
        assert_eq!(shares, [("2024-01-01", 0), ("2024-01-02", 3)]);
        let three_days = Span::of(Some(JAN1), Some(JAN1 + 3 * DAY));
        let shares: Vec<u64> = three_days.spread(10).map(|(_, n)| n).collect();
        assert_eq!(shares, [3, 3, 4]);
    }

    #[test]
    fn unusable_periods_count_on_their_first_day() {
        let cases = [
            (Some(JAN1), None),
            (Some(JAN1 + DAY), Some(JAN1)),
            (Some(JAN1), Some(JAN1 + 40 * DAY)),
        ];
        for (begin, end) in cases {
            let days: Vec<_> = Span::of(begin, end).days().map(str::to_owned).collect();
            assert_eq!(days, [chrono_day(begin.unwrap())], "{begin:?}..{end:?}");
        }
        assert_eq!(Span::of(None, Some(JAN1)).first_day(), UNKNOWN_DAY);
        let longest = Span::of(Some(JAN1), Some(JAN1 + MAX_SPREAD_DAYS as i64 * DAY));
        assert_eq!(longest.len(), MAX_SPREAD_DAYS);
    }

    #[test]
    fn a_folded_day_names_only_the_overflow_reporter_and_keeps_its_totals() {
        let xml = br#"<feedback><report_metadata><org_name>Big Mail</org_name><report_id>1</report_id>
          <date_range><begin>1704067200</begin><end>1704239999</end></date_range></report_metadata>
          <policy_published><domain>example.com</domain></policy_published>
          <record><row><source_ip>192.0.2.1</source_ip><count>10</count><policy_evaluated>
          <disposition>Quarantine-ish</disposition><dkim>pass</dkim></policy_evaluated></row></record>
          </feedback>"#;
        let report = rampart_formats::intake::parse_input(xml, &rampart_formats::Limits::default())
            .reports
            .remove(0)
            .report;
        let mut tally = Tally::of(&report, &Sources::new());
        assert_eq!(tally.reporter_on("2024-01-01"), Some("Big Mail"));
        let before = tally.clone();
        tally.fold_day("2024-01-01");
        assert_eq!(tally.reporter_on("2024-01-01"), None);
        assert_eq!(tally.reporter_on("2024-01-02"), Some("Big Mail"));
        let day1: Vec<(&str, i64)> = tally.days["2024-01-01"]
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            day1,
            [
                ("cell:pass\u{1f}other\u{1f}\u{1f}", 5),
                ("class:compliant\u{1f}pass\u{1f}other", 5),
                ("disposition:other", 5),
                ("dkim_aligned_pass", 5),
                ("dmarc_pass", 5),
                ("geo:\u{1f}compliant\u{1f}pass", 5),
                ("messages", 5),
                ("records", 1),
                ("reporter:\u{1f}", 1),
                ("reports", 1),
                ("svc:\u{1f}compliant\u{1f}pass", 5),
                ("warnings", 1),
            ]
        );
        let cell = Cell::parse("cell:pass\u{1f}other\u{1f}\u{1f}").unwrap();
        assert_eq!(cell.reporter, OTHER_REPORTERS);
        // The second day is untouched, and the difference moves only names.
        assert_eq!(tally.days["2024-01-02"], before.days["2024-01-02"]);
        let moved = tally.minus(&before);
        assert!(!moved.days["2024-01-01"].contains_key("messages"));
        assert_eq!(moved.days["2024-01-01"]["reporter:\u{1f}"], 1);
        assert_eq!(moved.days["2024-01-01"]["reporter:Big Mail"], -1);
    }

    #[test]
    fn counters_stop_at_max_count() {
        let mut t = Tally::default();
        let max = MAX_COUNT as i64;
        t.add("d", "messages", max);
        t.add("d", "messages", max);
        assert_eq!(t.days["d"]["messages"], max);
        t.add("d", "messages", i64::MIN);
        assert!(t.is_empty(), "clamped to zero, never wrapped: {t:?}");
        let mut old = Tally::default();
        old.add("d", "x", i64::MAX);
        assert_eq!(Tally::default().minus(&old).days["d"]["x"], -max);
    }

    #[test]
    fn cell_names_read_back() {
        let cell = Cell {
            dmarc: "pass",
            disposition: Some("quarantine"),
            reporter: "Org: with \u{1f} odd | chars",
        };
        assert_eq!(Cell::parse(&cell.name()), Some(cell));
        let none = Cell {
            dmarc: "fail",
            disposition: None,
            reporter: "",
        };
        assert_eq!(Cell::parse(&none.name()), Some(none));
    }

    fn chrono_day(epoch: i64) -> String {
        day_of(epoch).unwrap().to_string()
    }

    #[test]
    fn a_difference_cancels_what_did_not_change() {
        let mut old = Tally::default();
        old.add("2024-01-01", "messages", 5);
        old.add("2024-01-01", "reporter:x", 1);
        let mut new = old.clone();
        new.add("2024-01-01", "messages", 2);
        new.add("2024-01-02", "messages", 1);
        let delta = new.minus(&old);
        let mut expected = Tally::default();
        expected.add("2024-01-01", "messages", 2);
        expected.add("2024-01-02", "messages", 1);
        assert_eq!(delta, expected);
        assert!(old.minus(&old).is_empty());
        assert_eq!(Tally::from_json(&new.to_json()).unwrap(), new);
    }
}
