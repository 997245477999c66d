//! Warnings: what a parser repaired, guessed, skipped or cut on the way to a report.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

/// One repair or skip, kept on the report so nothing is fixed silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
}

/// What sort of repair a [`Warning`] records; stable snake_case names for the API and CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The XML was not well-formed and was read in recovery mode.
    MalformedXml,
    /// Bytes that are not UTF-8 were replaced with U+FFFD.
    InvalidUtf8,
    /// A DOCTYPE or an entity reference was left unexpanded.
    EntityNotExpanded,
    /// Elements around or after the report root were ignored.
    IgnoredContent,
    /// A required value was absent.
    MissingValue,
    /// A value could not be read and was kept raw or left empty.
    InvalidValue,
    /// A value was recovered from elsewhere (e.g. org_name from the contact e-mail).
    Recovered,
    /// A date was given in milliseconds or with a fraction and was normalised to seconds.
    DateNormalised,
    /// A record without a usable message count was dropped.
    RecordDropped,
    /// A container had extra bytes or members that were skipped.
    ContainerRepaired,
    /// A bound was reached: items past it were dropped or a value was shortened; the message
    /// says how many (see `docs/security.md`).
    Cut,
}

impl Warning {
    pub fn new(kind: WarningKind, message: impl Into<String>) -> Self {
        Warning {
            kind,
            message: message.into(),
        }
    }
}

/// Most distinct warnings listed per report; the rest are counted in one more.
pub const MAX_WARNINGS: usize = 50;

/// What a bound cut from a report, counted so the report says it once per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cut {
    DkimResults,
    SpfResults,
    Reasons,
    Errors,
    PolicyStrings,
    MxHosts,
    Names,
    Values,
}

/// How much of one [`Cut`] happened: items dropped (or values shortened), in how many
/// places, and the first place.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CutCount {
    items: u64,
    places: u64,
    first: String,
}

/// The warnings of one report as they are found: each distinct one once, at most
/// [`MAX_WARNINGS`], and every cut of a bound summed into one warning per kind of cut, so a
/// report with a million bad records or elements stays readable and small.
#[derive(Debug, Default)]
pub struct WarningList {
    list: Vec<Warning>,
    seen: HashSet<(WarningKind, String)>,
    suppressed: u64,
    cuts: BTreeMap<Cut, CutCount>,
}

impl WarningList {
    pub fn push(&mut self, kind: WarningKind, message: impl Into<String>) {
        let key = (kind, message.into());
        if self.seen.contains(&key) {
            return;
        }
        if self.list.len() >= MAX_WARNINGS {
            self.suppressed = self.suppressed.saturating_add(1);
            return;
        }
        self.list.push(Warning::new(kind, key.1.clone()));
        self.seen.insert(key);
    }

    /// Counts `items` cut by one bound at one place (a record, a policy, an element); `where_`
    /// is kept for the first place only, and is built only then.
    pub fn cut(&mut self, what: Cut, items: u64, place: impl FnOnce() -> String) {
        if items == 0 {
            return;
        }
        let count = self.cuts.entry(what).or_insert_with(|| CutCount {
            items: 0,
            places: 0,
            first: place(),
        });
        count.items = count.items.saturating_add(items);
        count.places = count.places.saturating_add(1);
    }

    /// The warnings, with one per kind of cut and, if any were left out, their number.
    /// `bounds` gives each cut's bound for the message.
    pub fn finish(mut self, bounds: impl Fn(Cut) -> usize) -> Vec<Warning> {
        let cuts = std::mem::take(&mut self.cuts);
        for (what, c) in cuts {
            let bound = bounds(what);
            let (items, places) = (c.items, c.places);
            let first = &c.first;
            let message = match what {
                Cut::DkimResults => format!(
                    "{items} DKIM results past {bound} per record dropped, in {places} record(s) (first: {first})"
                ),
                Cut::SpfResults => format!(
                    "{items} SPF results past {bound} per record dropped, in {places} record(s) (first: {first})"
                ),
                Cut::Reasons => format!(
                    "{items} override reasons past {bound} per record dropped, in {places} record(s) (first: {first})"
                ),
                Cut::Errors => format!("{items} <error> elements past {bound} dropped"),
                Cut::PolicyStrings => format!(
                    "{items} policy-string lines past {bound} per policy dropped, in {places} policy(ies) (first: {first})"
                ),
                Cut::MxHosts => format!(
                    "{items} mx-host entries past {bound} per policy dropped, in {places} policy(ies) (first: {first})"
                ),
                Cut::Names => {
                    format!("{items} name(s) longer than {bound} bytes cut (first: {first})")
                }
                Cut::Values => {
                    format!("{items} value(s) longer than {bound} bytes cut (first: {first})")
                }
            };
            // A cut is always listed, even past the cap of distinct warnings.
            self.list.push(Warning::new(WarningKind::Cut, message));
        }
        if self.suppressed > 0 {
            let n = self.suppressed;
            self.list.push(Warning::new(
                WarningKind::IgnoredContent,
                format!("{n} more warnings not listed"),
            ));
        }
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_are_summed_into_one_warning_each() {
        let mut w = WarningList::default();
        for record in 1..=3 {
            w.cut(Cut::DkimResults, 10, || format!("record {record}"));
        }
        w.cut(Cut::Names, 1, || "<header_from>".into());
        for i in 0..200 {
            w.push(WarningKind::InvalidValue, format!("bad {i}"));
        }
        let out = w.finish(|c| if c == Cut::Names { 255 } else { 32 });
        assert_eq!(out.len(), MAX_WARNINGS + 3);
        assert_eq!(
            out[MAX_WARNINGS].message,
            "30 DKIM results past 32 per record dropped, in 3 record(s) (first: record 1)"
        );
        assert_eq!(
            out[MAX_WARNINGS + 1].message,
            "1 name(s) longer than 255 bytes cut (first: <header_from>)"
        );
        assert_eq!(
            out[MAX_WARNINGS + 2].message,
            "150 more warnings not listed"
        );
    }
}
