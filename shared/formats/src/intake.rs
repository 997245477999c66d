//! Intake: one input's bytes in, every report in it out, each failure with its reason.
//!
//! [`parse_input`] sniffs the input, walks mail and containers to any depth within
//! [`Limits`], and parses each XML or JSON payload it meets. XML is parsed while it is being
//! decompressed, so a 65 MB report never sits in memory as text. One bad attachment or zip
//! entry never hides the good ones: each ends as a report or as a [`Problem`].

use std::io::{BufRead, BufReader, Cursor};

use serde::{Deserialize, Serialize};

use crate::dmarc::{self, AggregateReport};
pub use crate::error::IntakeError;
use crate::identity::ReportId;
use crate::limits::{LimitKind, Limits};
use crate::mail::{self, MessageFacts};
use crate::sniff::{Format, describe_prefix, sniff};
use crate::tlsrpt::{self, TlsReport};
use crate::unpack::{self, BoundedReader, Budget, GzipMembers};
use crate::warning::Warning;

/// A report of either kind.
// A handful of reports exist per input; boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Report {
    Aggregate(AggregateReport),
    #[serde(rename = "tlsrpt")]
    Tls(TlsReport),
}

impl Report {
    pub fn warnings(&self) -> &[Warning] {
        match self {
            Report::Aggregate(r) => &r.warnings,
            Report::Tls(r) => &r.warnings,
        }
    }

    fn warnings_mut(&mut self) -> &mut Vec<Warning> {
        match self {
            Report::Aggregate(r) => &mut r.warnings,
            Report::Tls(r) => &mut r.warnings,
        }
    }

    /// The policy domain the report is filed under: lower-case, without a trailing dot;
    /// empty when it names none (TLS-RPT: the first policy's domain).
    pub fn domain(&self) -> String {
        let raw = match self {
            Report::Aggregate(r) => r.policy.domain.as_str(),
            Report::Tls(r) => r
                .policies
                .iter()
                .find_map(|p| p.policy.policy_domain.as_deref())
                .unwrap_or(""),
        };
        crate::identity::normalise_domain(raw)
    }

    /// `"aggregate"` or `"tlsrpt"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Report::Aggregate(_) => "aggregate",
            Report::Tls(_) => "tlsrpt",
        }
    }

    /// The identity used to recognise a re-sent report (see [`crate::identity`]).
    pub fn id(&self) -> ReportId {
        match self {
            Report::Aggregate(r) => ReportId::new(
                "aggregate",
                &r.policy.domain,
                &r.metadata.org_name,
                &r.metadata.report_id,
                r.metadata.begin,
                r.metadata.end,
            ),
            Report::Tls(r) => ReportId::new(
                "tlsrpt",
                r.policies
                    .iter()
                    .find_map(|p| p.policy.policy_domain.as_deref())
                    .unwrap_or(""),
                r.organization_name.as_deref().unwrap_or(""),
                r.report_id.as_deref().unwrap_or(""),
                r.start,
                r.end,
            ),
        }
    }
}

/// Where in the input a report or problem was found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The mail attachment's file name, when the input was a mail.
    pub attachment: Option<String>,
    /// The attachment's declared content type (not trusted; kept for diagnosis).
    pub content_type: Option<String>,
    /// The zip entry name.
    pub member: Option<String>,
    /// Containers opened on the way, outermost first.
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Container {
    Mail,
    Gzip,
    Zip,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(a) = &self.attachment {
            parts.push(format!("attachment {a:?}"));
        }
        if let Some(m) = &self.member {
            parts.push(format!("zip entry {m:?}"));
        }
        if parts.is_empty() {
            match self.containers.last() {
                Some(Container::Gzip) => f.write_str("content of the gzip"),
                Some(Container::Zip) => f.write_str("content of the zip"),
                Some(Container::Mail) => f.write_str("mail part"),
                None => f.write_str("input"),
            }
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

impl Origin {
    fn inside(&self, c: Container) -> Origin {
        let mut o = self.clone();
        o.containers.push(c);
        o
    }

    /// Declared as a report by its name or type; used to decide whether an unreadable
    /// attachment is worth a problem or is just a logo or a signature.
    fn looks_like_report(&self) -> bool {
        let name = self
            .attachment
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        let ct = self.content_type.as_deref().unwrap_or("");
        [".xml", ".gz", ".zip", ".json", ".gzip"]
            .iter()
            .any(|e| name.ends_with(e))
            || ["gzip", "zip", "xml", "json", "tlsrpt", "octet-stream"]
                .iter()
                .any(|t| ct.contains(t))
    }
}

/// One report found in an input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParsedReport {
    pub id: ReportId,
    pub origin: Origin,
    pub report: Report,
}

/// A part of the input that gave no report, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub origin: Origin,
    pub error: IntakeError,
}

/// Everything found in one input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Intake {
    /// Header facts of the outermost mail, when the input was a mail.
    pub message: Option<MessageFacts>,
    pub reports: Vec<ParsedReport>,
    pub problems: Vec<Problem>,
}

impl Intake {
    /// The reason to give a user when nothing usable came out of the input.
    pub fn rejection(&self) -> Option<String> {
        if !self.reports.is_empty() {
            return None;
        }
        let reasons: Vec<String> = self
            .problems
            .iter()
            .map(|p| {
                if p.origin == Origin::default() {
                    p.error.to_string()
                } else {
                    format!("{}: {}", p.origin, p.error)
                }
            })
            .collect();
        Some(if reasons.is_empty() {
            IntakeError::NoReportFound.to_string()
        } else {
            joined_reasons(&reasons)
        })
    }
}

/// The longest reason kept with a message: a mail of a thousand bad parts gives a thousand
/// reasons, and the record of it must stay small.
pub const MAX_REASON_BYTES: usize = 2000;

/// Reasons joined with `; `, as many whole ones as fit in [`MAX_REASON_BYTES`], then how
/// many more there were.
pub fn joined_reasons(reasons: &[String]) -> String {
    let mut out = String::new();
    for (i, reason) in reasons.iter().enumerate() {
        let sep = if i == 0 { "" } else { "; " };
        if out.len() + sep.len() + reason.len() > MAX_REASON_BYTES && i > 0 {
            out.push_str(&format!("; and {} more", reasons.len() - i));
            return out;
        }
        out.push_str(sep);
        out.push_str(&crate::mail::capped(reason, MAX_REASON_BYTES));
    }
    out
}

/// Parses one input: a mail, a bare XML or JSON report, or a gzip or zip of either.
pub fn parse_input(bytes: &[u8], limits: &Limits) -> Intake {
    walk(bytes, limits, |ctx, bytes| {
        ctx.bytes(bytes, &Origin::default(), 0)
    })
}

/// Parses a TLS report upload (RFC 8460 section 5.3): JSON, or gzip of JSON. An upload is
/// never a mail or an archive, so neither is opened: a zip or a mail is not a report here,
/// and the query function, which takes uploads, links no mail or zip reader. XML is read
/// as a DMARC report, so the refusal can say what was sent instead.
pub fn parse_upload(bytes: &[u8], limits: &Limits) -> Intake {
    walk(bytes, limits, |ctx, bytes| {
        ctx.stream::<true>(&mut Cursor::new(bytes), &Origin::default(), 0)
    })
}

fn walk(bytes: &[u8], limits: &Limits, read: impl FnOnce(&mut Walk<'_>, &[u8])) -> Intake {
    let budget = Budget::new(limits);
    let mut ctx = Walk {
        limits,
        budget: &budget,
        intake: Intake::default(),
        records_left: limits.max_records,
        parsed_left: limits.max_parsed_bytes,
    };
    if bytes.len() as u64 > limits.max_input_bytes {
        ctx.problem(
            &Origin::default(),
            IntakeError::LimitExceeded {
                limit: LimitKind::InputBytes,
                max: limits.max_input_bytes,
            },
        );
    } else {
        read(&mut ctx, bytes);
    }
    if ctx.intake.reports.is_empty() && ctx.intake.problems.is_empty() {
        ctx.problem(&Origin::default(), IntakeError::NoReportFound);
    }
    ctx.intake
}

struct Walk<'l> {
    limits: &'l Limits,
    budget: &'l Budget,
    intake: Intake,
    /// What the reports found so far leave of the input's record and memory bounds.
    records_left: usize,
    parsed_left: u64,
}

impl<'l> Walk<'l> {
    fn problem(&mut self, origin: &Origin, error: IntakeError) {
        self.intake.problems.push(Problem {
            origin: origin.clone(),
            error,
        });
    }

    /// A bound that was hit, named with its configured value (a parser is given only what
    /// the earlier reports of the input left of it).
    fn limit(&mut self, origin: &Origin, kind: LimitKind) {
        let l = self.limits;
        let max = match kind {
            LimitKind::Records => l.max_records as u64,
            LimitKind::ParsedBytes => l.max_parsed_bytes,
            LimitKind::ReportJson => l.max_report_json_bytes,
            LimitKind::XmlDepth => l.max_xml_depth as u64,
            LimitKind::XmlToken => l.max_xml_token_bytes as u64,
            LimitKind::PayloadBytes => l.max_payload_bytes,
            LimitKind::TotalBytes => l.max_total_bytes,
            LimitKind::BufferedBytes => l.max_buffered_bytes,
            LimitKind::InputBytes => l.max_input_bytes,
            LimitKind::ZipEntries => l.max_zip_entries as u64,
            LimitKind::Nesting => l.max_nesting as u64,
            LimitKind::Reports => l.max_reports as u64,
            LimitKind::MimeParts => l.max_mime_parts as u64,
            LimitKind::HeaderLines => l.max_header_lines as u64,
        };
        self.problem(origin, IntakeError::LimitExceeded { limit: kind, max });
    }

    /// The limits a parser gets: the input's, less what earlier reports used.
    fn remaining(&self) -> Limits {
        Limits {
            max_records: self.records_left,
            max_parsed_bytes: self.parsed_left,
            ..*self.limits
        }
    }

    /// Charges a parsed report to the input's bounds; false when it does not fit.
    fn charge(&mut self, records: usize, bytes: u64) -> bool {
        if records > self.records_left || bytes > self.parsed_left {
            return false;
        }
        self.records_left -= records;
        self.parsed_left -= bytes;
        true
    }

    fn too_deep(&mut self, origin: &Origin, depth: usize) -> bool {
        if depth > self.limits.max_nesting {
            let max = self.limits.max_nesting as u64;
            self.problem(
                origin,
                IntakeError::LimitExceeded {
                    limit: LimitKind::Nesting,
                    max,
                },
            );
            return true;
        }
        false
    }

    /// An in-memory payload: the input itself, a mail attachment, or a buffered zip.
    fn bytes(&mut self, bytes: &[u8], origin: &Origin, depth: usize) {
        if self.too_deep(origin, depth) {
            return;
        }
        // A logo, a signature or an empty part beside the report is not worth a problem.
        let incidental = origin.attachment.is_some() && !origin.looks_like_report();
        match sniff(bytes) {
            Format::Zip => self.zip(bytes, &origin.inside(Container::Zip), depth + 1),
            Format::Mail => self.mail(bytes, origin, depth + 1),
            Format::Empty | Format::Unknown if incidental => {}
            Format::Empty => self.problem(origin, IntakeError::Empty),
            _ => self.stream::<false>(&mut Cursor::new(bytes), origin, depth),
        }
    }

    /// A payload being read: sniffed from its first bytes, parsed as it streams. With
    /// `UPLOAD`, a TLS report upload: only gzip, JSON and XML (so the refusal can name a
    /// DMARC report) are read.
    fn stream<const UPLOAD: bool>(
        &mut self,
        reader: &mut dyn BufRead,
        origin: &Origin,
        depth: usize,
    ) {
        if self.too_deep(origin, depth) {
            return;
        }
        let head = match reader.fill_buf() {
            Ok(h) => h,
            Err(e) => {
                return self.problem(origin, IntakeError::from_io(container_name(origin), &e));
            }
        };
        let format = sniff(head);
        let prefix = describe_prefix(head);
        match format {
            Format::Gzip => {
                let inner = origin.inside(Container::Gzip);
                let members = GzipMembers::new(reader, self.budget);
                let bounded = BoundedReader::new(members, self.limits, self.budget);
                let mut decoded = BufReader::with_capacity(64 * 1024, bounded);
                self.stream::<UPLOAD>(&mut decoded, &inner, depth + 1);
            }
            Format::Xml => self.xml(reader, origin),
            // An upload is never a mail or an archive: not opened, so an upload-only build
            // (`UPLOAD` is a constant) links neither reader.
            Format::Zip | Format::Mail if UPLOAD => self.problem(
                origin,
                IntakeError::NotAReport(format!(
                    "a TLS report upload is JSON or gzip of JSON (RFC 8460 section 5.3), not {}",
                    if format == Format::Zip {
                        "a zip archive"
                    } else {
                        "a mail"
                    }
                )),
            ),
            Format::Json | Format::Zip | Format::Mail => {
                let all = match self.read_bounded(reader) {
                    Ok(all) => all,
                    Err(e) => {
                        return self
                            .problem(origin, IntakeError::from_io(container_name(origin), &e));
                    }
                };
                match format {
                    Format::Json => self.json(&all, origin),
                    // Zip and mail; an upload refused them above, so its build has no path here.
                    _ if !UPLOAD => self.bytes(&all, origin, depth),
                    _ => {}
                }
            }
            Format::Empty => self.problem(origin, IntakeError::Empty),
            Format::Unknown => self.problem(origin, IntakeError::UnknownFormat(prefix)),
        }
    }

    /// A DMARC aggregate report, parsed as it streams.
    fn xml(&mut self, reader: &mut dyn BufRead, origin: &Origin) {
        match dmarc::parse_counted(reader, &self.remaining()) {
            Ok((report, used)) => {
                if self.charge(report.records.len(), used) {
                    self.report(Report::Aggregate(report), origin)
                } else {
                    self.limit(origin, LimitKind::ParsedBytes)
                }
            }
            Err(dmarc::ParseError::NotAReport(detail)) => {
                self.problem(origin, IntakeError::NotAReport(detail))
            }
            Err(dmarc::ParseError::Limit(l)) => self.limit(origin, l.kind),
            Err(dmarc::ParseError::Io(e)) => {
                self.problem(origin, IntakeError::from_io(container_name(origin), &e))
            }
        }
    }

    /// A TLS report, read whole.
    fn json(&mut self, all: &[u8], origin: &Origin) {
        match tlsrpt::parse_slice(all, &self.remaining()) {
            Ok(report) => {
                let entries = report
                    .policies
                    .iter()
                    .map(|p| 1 + p.failure_details.len())
                    .sum();
                if self.charge(entries, report.approx_bytes()) {
                    self.report(Report::Tls(report), origin)
                } else {
                    self.limit(origin, LimitKind::ParsedBytes)
                }
            }
            Err(tlsrpt::TlsParseError::TooLarge(..)) => self.limit(origin, LimitKind::Records),
            Err(e) => self.problem(origin, IntakeError::NotAReport(e.to_string())),
        }
    }

    fn read_bounded(&self, reader: &mut dyn BufRead) -> std::io::Result<Vec<u8>> {
        let mut bounded = BoundedReader::with_bound(
            reader,
            LimitKind::BufferedBytes,
            self.limits.max_buffered_bytes,
            self.budget,
        );
        unpack::read_all(&mut bounded)
    }

    fn zip(&mut self, bytes: &[u8], origin: &Origin, depth: usize) {
        let mut archive = match zip::ZipArchive::new(Cursor::new(bytes)) {
            Ok(a) => a,
            Err(e) => {
                return self.problem(
                    origin,
                    IntakeError::Corrupt {
                        container: "zip".into(),
                        detail: e.to_string(),
                    },
                );
            }
        };
        if archive.len() > self.limits.max_zip_entries {
            let max = self.limits.max_zip_entries as u64;
            return self.problem(
                origin,
                IntakeError::LimitExceeded {
                    limit: LimitKind::ZipEntries,
                    max,
                },
            );
        }
        let entries: Vec<(usize, String, bool)> = (0..archive.len())
            .filter_map(|i| {
                archive
                    .name_for_index(i)
                    .and_then(Result::ok)
                    .map(|n| (i, n.to_string(), n.ends_with('/')))
            })
            .collect();
        let mut wanted: Vec<&(usize, String, bool)> = entries
            .iter()
            .filter(|(_, name, dir)| unpack::zip_entry_wanted(name, *dir))
            .collect();
        if wanted.is_empty() {
            // No .xml/.json name: try every file (reporters name entries oddly).
            wanted = entries
                .iter()
                .filter(|(_, n, dir)| !dir && !unpack::is_macos_metadata(n))
                .collect();
        }
        if wanted.is_empty() {
            return self.problem(
                origin,
                IntakeError::NotAReport("the zip archive holds no files".into()),
            );
        }
        for (index, name, _) in wanted {
            let mut entry_origin = origin.clone();
            entry_origin.member = Some(mail::capped(name, mail::MAX_HEADER_VALUE));
            let file = match archive.by_index(*index) {
                Ok(f) => f,
                Err(e) => {
                    self.problem(
                        &entry_origin,
                        IntakeError::Corrupt {
                            container: "zip".into(),
                            detail: e.to_string(),
                        },
                    );
                    continue;
                }
            };
            let bounded = BoundedReader::new(file, self.limits, self.budget);
            let mut reader = BufReader::with_capacity(64 * 1024, bounded);
            self.stream::<false>(&mut reader, &entry_origin, depth);
        }
    }

    fn mail(&mut self, bytes: &[u8], origin: &Origin, depth: usize) {
        let (facts, attachments) = match mail::walk(bytes, self.limits) {
            Ok(found) => found,
            Err(e) => return self.problem(origin, e),
        };
        if self.intake.message.is_none() {
            self.intake.message = Some(facts);
        }
        let before = (self.intake.reports.len(), self.intake.problems.len());
        let mut failure_report = false;
        for attachment in attachments {
            if let Some(
                "message/feedback-report" | "text/rfc822-headers" | "message/rfc822-headers",
            ) = attachment.content_type.as_deref()
            {
                failure_report = true;
                continue;
            }
            let mut part_origin = origin.inside(Container::Mail);
            let cap = |v: &String| mail::capped(v, mail::MAX_HEADER_VALUE);
            part_origin.attachment = attachment
                .name
                .as_ref()
                .or(attachment.content_type.as_ref())
                .map(cap);
            part_origin.content_type = attachment.content_type.as_ref().map(cap);
            self.bytes(&attachment.bytes, &part_origin, depth);
        }
        let found_nothing = (self.intake.reports.len(), self.intake.problems.len()) == before;
        if found_nothing && failure_report {
            self.problem(origin, IntakeError::FailureReport);
        } else if found_nothing && origin.containers.is_empty() {
            self.problem(origin, IntakeError::NoReportFound);
        }
    }

    fn report(&mut self, mut report: Report, origin: &Origin) {
        if self.intake.reports.len() >= self.limits.max_reports {
            let max = self.limits.max_reports as u64;
            return self.problem(
                origin,
                IntakeError::LimitExceeded {
                    limit: LimitKind::Reports,
                    max,
                },
            );
        }
        report.warnings_mut().extend(self.budget.take_warnings());
        // What the stores keep is the report's JSON: bound it well below what they read back.
        if json_len(&report) > self.limits.max_report_json_bytes {
            return self.limit(origin, LimitKind::ReportJson);
        }
        let id = report.id();
        self.intake.reports.push(ParsedReport {
            id,
            origin: origin.clone(),
            report,
        });
    }
}

/// The length of a report's JSON, counted without holding it.
pub fn json_len(report: &Report) -> u64 {
    struct Counter(u64);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Serialising into a counter cannot fail: every map key is a string.
    match serde_json::to_writer(&mut counter, report) {
        Ok(()) => counter.0,
        Err(_) => u64::MAX,
    }
}

fn container_name(origin: &Origin) -> &'static str {
    match origin.containers.last() {
        Some(Container::Gzip) => "gzip stream",
        Some(Container::Zip) => "zip entry",
        Some(Container::Mail) => "mail part",
        None => "input",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_cut_to_whole_ones_and_a_count() {
        let reasons: Vec<String> = (0..1000)
            .map(|i| format!("part {i:03}: {}", "x".repeat(80)))
            .collect();
        let joined = joined_reasons(&reasons);
        assert!(joined.len() <= MAX_REASON_BYTES + 20, "{}", joined.len());
        assert!(joined.starts_with("part 000: "));
        assert!(joined.ends_with("; and 979 more"), "{joined}");
        assert_eq!(
            joined_reasons(&reasons[..2]),
            format!("{}; {}", reasons[0], reasons[1])
        );
    }
}
