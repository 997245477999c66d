//! A streaming, order-independent, repairing parser for aggregate report XML.
//!
//! quick-xml tokenises; this module keeps its own stack of open elements so that it can
//! repair what real reporters send (field guide §2.2): it looks for `<feedback>` by local
//! name at any depth (IKEA wraps it in an unclosed `<xs:schema>`), stops at its end (junk
//! after the root is never read), closes elements whose end tag is missing, treats a stray
//! `<` inside a value as text, and replaces invalid UTF-8. A DOCTYPE is skipped and no entity
//! other than the five predefined ones and character references is ever expanded.
//!
//! What a stranger can make it build is bounded as well as what it reads: records (over the
//! whole input), DKIM and SPF results and reasons per record, errors per report, the length
//! of each value, and the memory of everything built together ([`Limits`]). Items past a
//! per-record bound are dropped and counted in one warning per bound; past the record or
//! memory bound the report is refused, since dropping records would change its totals.

use std::io::{BufRead, BufReader};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::model::*;
use super::tags::{Field, Slot, Tag, classify};
use crate::limits::{LimitKind, Limits, MAX_COUNT};
use crate::time::{EpochForm, parse_epoch};
use crate::unpack::{LimitExceeded, MarkupRunGuard};
use crate::warning::{Cut, WarningKind, WarningList};

/// Why a document gave no report at all.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not a DMARC aggregate report: {0}")]
    NotAReport(String),
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Parses an aggregate report from a byte slice.
pub fn parse_slice(bytes: &[u8], limits: &Limits) -> Result<AggregateReport, ParseError> {
    parse(bytes, limits)
}

/// Parses an aggregate report from a stream, reading no further than the root's end.
pub fn parse<R: BufRead>(input: R, limits: &Limits) -> Result<AggregateReport, ParseError> {
    parse_counted(input, limits).map(|(report, _)| report)
}

/// [`parse`], also returning the memory the report takes as the parser estimated it, which
/// intake charges to the input's budget.
pub(crate) fn parse_counted<R: BufRead>(
    input: R,
    limits: &Limits,
) -> Result<(AggregateReport, u64), ParseError> {
    let guarded = BufReader::with_capacity(
        64 * 1024,
        MarkupRunGuard::new(input, limits.max_xml_token_bytes),
    );
    let mut reader = Reader::from_reader(guarded);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.allow_dangling_amp = true;
    config.check_comments = false;
    config.expand_empty_elements = false;

    let mut parser = Parser::new(limits);
    let mut buf = Vec::with_capacity(1024);
    let mut last_error_at = None;
    loop {
        let event = reader.read_event_into(&mut buf);
        match event {
            Ok(Event::Start(e)) => parser.open(&e, false)?,
            Ok(Event::Empty(e)) => parser.open(&e, true)?,
            Ok(Event::End(e)) => parser.close(e.local_name().as_ref()),
            Ok(Event::Text(t)) => parser.text(&t),
            Ok(Event::CData(c)) => parser.text(&c),
            Ok(Event::GeneralRef(r)) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten()
                } else {
                    predefined_entity(&r)
                };
                parser.entity(&r, resolved);
            }
            Ok(Event::DocType(_)) => parser.warn(
                WarningKind::EntityNotExpanded,
                "DOCTYPE ignored; entities are never expanded".into(),
            ),
            Ok(Event::Eof) => break,
            Ok(Event::Decl(_) | Event::PI(_) | Event::Comment(_)) => {}
            Err(quick_xml::Error::Io(e)) => {
                return Err(match crate::unpack::limit_of(&e) {
                    Some(limit) => ParseError::Limit(limit),
                    None => ParseError::Io(std::io::Error::new(e.kind(), e.to_string())),
                });
            }
            Err(e) => {
                let at = reader.error_position();
                parser.xml_errors += 1;
                if parser.first_xml_error.is_none() {
                    parser.first_xml_error = Some(format!("{e} at byte {at}"));
                }
                // Recovery must make progress; a tokenizer stuck on one spot ends the document.
                if last_error_at == Some(reader.buffer_position()) || parser.xml_errors > 10_000 {
                    break;
                }
                last_error_at = Some(reader.buffer_position());
            }
        }
        buf.clear();
        if let Some(limit) = parser.fatal.take() {
            return Err(limit.into());
        }
        if parser.root == RootState::Closed {
            check_trailing(&mut reader, &mut buf, &mut parser);
            break;
        }
    }
    parser.finish()
}

/// Looks a few events past `</feedback>` to tell the user about junk there, without reading it all.
fn check_trailing<R: BufRead>(reader: &mut Reader<R>, buf: &mut Vec<u8>, parser: &mut Parser) {
    for _ in 0..8 {
        buf.clear();
        match reader.read_event_into(buf) {
            Ok(Event::Eof) => return,
            Ok(Event::Text(t)) if t.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(Event::Comment(_) | Event::PI(_)) => continue,
            _ => {
                parser.warn(
                    WarningKind::IgnoredContent,
                    "content after </feedback> ignored".into(),
                );
                return;
            }
        }
    }
}

fn predefined_entity(name: &[u8]) -> Option<char> {
    Some(match name {
        b"amp" => '&',
        b"lt" => '<',
        b"gt" => '>',
        b"quot" => '"',
        b"apos" => '\'',
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RootState {
    Searching,
    Open,
    Closed,
}

struct Frame {
    tag: Tag,
    slot: Slot,
    name_start: usize,
}

#[derive(Default)]
struct RecordDraft {
    source_ip: Option<String>,
    count: Option<String>,
    policy_evaluated: PolicyEvaluated,
    identifiers: Identifiers,
    auth_results: AuthResults,
    /// DKIM results, SPF results and reasons past the per-record bounds.
    dropped: [u64; 3],
}

struct Parser {
    limits: Limits,
    stack: Vec<Frame>,
    names: Vec<u8>,
    text: String,
    /// The value being collected was cut at its bound (counted once).
    text_cut: bool,
    root: RootState,
    report: AggregateReport,
    record: Option<RecordDraft>,
    records_seen: usize,
    policy_domain_seen: bool,
    warnings: WarningList,
    xml_errors: usize,
    first_xml_error: Option<String>,
    /// Estimated memory of what has been built, against `limits.max_parsed_bytes`.
    used: u64,
    /// A bound that ends the report, raised where an error cannot be returned directly.
    fatal: Option<LimitExceeded>,
}

impl Parser {
    fn new(limits: &Limits) -> Self {
        Parser {
            limits: *limits,
            stack: Vec::with_capacity(16),
            names: Vec::with_capacity(256),
            text: String::with_capacity(64),
            text_cut: false,
            root: RootState::Searching,
            report: AggregateReport::default(),
            record: None,
            records_seen: 0,
            policy_domain_seen: false,
            warnings: WarningList::default(),
            xml_errors: 0,
            first_xml_error: None,
            used: std::mem::size_of::<AggregateReport>() as u64,
            fatal: None,
        }
    }

    fn warn(&mut self, kind: WarningKind, message: String) {
        self.warnings.push(kind, message);
    }

    /// True while the innermost open element is a value whose text is being collected.
    fn in_value(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame {
                slot: Slot::Leaf(_),
                ..
            })
        )
    }

    fn top_name(&self) -> &[u8] {
        self.stack
            .last()
            .map(|f| &self.names[f.name_start..])
            .unwrap_or_default()
    }

    fn open(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<(), ParseError> {
        if self.in_value() {
            self.markup_in_value(e, empty);
            return Ok(());
        }
        if self.stack.len() >= self.limits.max_xml_depth {
            return Err(LimitExceeded {
                kind: LimitKind::XmlDepth,
                max: self.limits.max_xml_depth as u64,
            }
            .into());
        }
        let local = e.local_name();
        let tag = Tag::from_local_name(local.as_ref());
        let mut slot = match self.root {
            RootState::Searching if tag == Tag::Feedback => Slot::Root,
            RootState::Searching | RootState::Closed => Slot::Ignored,
            RootState::Open => {
                let (parent_tag, parent_slot) = self
                    .stack
                    .last()
                    .map(|f| (f.tag, f.slot))
                    .unwrap_or((Tag::Unknown, Slot::Ignored));
                classify(tag, parent_tag, parent_slot, self.record.is_some())
            }
        };
        match slot {
            Slot::Root => {
                self.root = RootState::Open;
                self.report.namespace = namespace_of(e);
                if let Some(wrapper) = self.stack.first() {
                    let name =
                        String::from_utf8_lossy(&self.names[wrapper.name_start..self.name_end(0)])
                            .into_owned();
                    self.warn(
                        WarningKind::IgnoredContent,
                        format!("report root was inside <{name}>; wrapper ignored"),
                    );
                }
            }
            Slot::Record => {
                if self.report.records.len() >= self.limits.max_records {
                    return Err(LimitExceeded {
                        kind: LimitKind::Records,
                        max: self.limits.max_records as u64,
                    }
                    .into());
                }
                self.record = Some(RecordDraft::default())
            }
            // Exact capacities: a Vec's first push reserves four slots, which for 100k records
            // of one DKIM and one SPF result would triple the report's memory. Past a bound
            // the element is ignored with all it holds, and counted.
            Slot::DkimAuth | Slot::SpfAuth | Slot::Reason => {
                let (max_auth, max_reasons) =
                    (self.limits.max_auth_results, self.limits.max_reasons);
                if let Some(r) = self.record.as_mut() {
                    let kept = match slot {
                        Slot::DkimAuth => {
                            push_within(&mut r.auth_results.dkim, max_auth, &mut r.dropped[0])
                        }
                        Slot::SpfAuth => {
                            push_within(&mut r.auth_results.spf, max_auth, &mut r.dropped[1])
                        }
                        _ => push_within(
                            &mut r.policy_evaluated.reasons,
                            max_reasons,
                            &mut r.dropped[2],
                        ),
                    };
                    if !kept {
                        slot = Slot::Ignored;
                    }
                }
            }
            Slot::Leaf(_) => {
                self.text.clear();
                self.text_cut = false;
            }
            Slot::Container | Slot::Ignored => {}
        }
        let name_start = self.names.len();
        self.names.extend_from_slice(local.as_ref());
        self.stack.push(Frame {
            tag,
            slot,
            name_start,
        });
        if empty {
            self.pop();
        }
        Ok(())
    }

    fn name_end(&self, index: usize) -> usize {
        self.stack
            .get(index + 1)
            .map(|f| f.name_start)
            .unwrap_or(self.names.len())
    }

    /// A start tag inside a value is an unescaped `<` (parsedmarc `invalid_xml.xml`): keep it
    /// as text, and if it swallowed this value's end tag, close the value there.
    fn markup_in_value(&mut self, e: &BytesStart<'_>, empty: bool) {
        self.warn(
            WarningKind::MalformedXml,
            "unescaped '<' inside a value kept as text".into(),
        );
        let raw: &[u8] = e;
        self.push_char('<');
        if let Some(pos) = find(raw, b"</")
            && raw[pos + 2..].trim_ascii() == self.top_name()
        {
            self.push_text(&raw[..pos]);
            self.pop();
            return;
        }
        self.push_text(raw);
        self.push_text(if empty { b"/>" } else { b">" });
    }

    fn close(&mut self, local: &[u8]) {
        if self.top_name() == local {
            self.pop();
            return;
        }
        let open_at = (0..self.stack.len())
            .rev()
            .find(|&i| &self.names[self.stack[i].name_start..self.name_end(i)] == local);
        match open_at {
            Some(i) => {
                while self.stack.len() > i + 1 {
                    let name = String::from_utf8_lossy(self.top_name()).into_owned();
                    self.warn(
                        WarningKind::MalformedXml,
                        format!("<{name}> was not closed"),
                    );
                    self.pop();
                }
                self.pop();
            }
            None => {
                let name = String::from_utf8_lossy(local).into_owned();
                self.warn(
                    WarningKind::MalformedXml,
                    format!("stray </{name}> ignored"),
                );
            }
        }
    }

    fn pop(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        self.names.truncate(frame.name_start);
        match frame.slot {
            Slot::Leaf(field) => {
                let text = std::mem::take(&mut self.text);
                self.store(field, text.trim());
                self.text = text;
                self.text.clear();
            }
            Slot::Record => self.finish_record(),
            Slot::Root => self.root = RootState::Closed,
            _ => {}
        }
    }

    fn text(&mut self, bytes: &[u8]) {
        if self.in_value() {
            self.push_text(bytes);
        }
    }

    /// The bound of the value being collected: long for free text, short for names.
    fn value_bound(&self) -> (usize, Cut) {
        match self.stack.last().map(|f| f.slot) {
            Some(Slot::Leaf(field)) if field.is_free_text() => {
                (self.limits.max_value_bytes, Cut::Values)
            }
            _ => (self.limits.max_name_bytes, Cut::Names),
        }
    }

    fn push_char(&mut self, c: char) {
        let mut utf8 = [0u8; 4];
        self.push_text(c.encode_utf8(&mut utf8).as_bytes());
    }

    fn push_text(&mut self, bytes: &[u8]) {
        let (max, cut_kind) = self.value_bound();
        if self.text.len() + bytes.len() > max {
            let room = max.saturating_sub(self.text.len());
            if !self.text_cut {
                self.text_cut = true;
                let name = String::from_utf8_lossy(self.top_name()).into_owned();
                self.warnings.cut(cut_kind, 1, || format!("<{name}>"));
            }
            // Cut on a character boundary so the cut itself is not reported as bad UTF-8.
            let cut = &bytes[..room];
            let cut = match std::str::from_utf8(cut) {
                Err(e) if e.error_len().is_none() => &cut[..e.valid_up_to()],
                _ => cut,
            };
            if !cut.is_empty() {
                self.push_text(cut);
            }
            return;
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => self.text.push_str(s),
            Err(_) => {
                self.text.push_str(&String::from_utf8_lossy(bytes));
                let name = String::from_utf8_lossy(self.top_name()).into_owned();
                self.warn(
                    WarningKind::InvalidUtf8,
                    format!("invalid UTF-8 in <{name}> replaced"),
                );
            }
        }
    }

    fn entity(&mut self, name: &[u8], resolved: Option<char>) {
        if !self.in_value() {
            return;
        }
        match resolved {
            Some(c) => self.push_char(c),
            None => {
                self.push_char('&');
                self.push_text(name);
                self.push_char(';');
                let name = String::from_utf8_lossy(name).into_owned();
                self.warn(
                    WarningKind::EntityNotExpanded,
                    format!("entity &{name}; kept unexpanded"),
                );
            }
        }
    }

    fn store(&mut self, field: Field, t: &str) {
        // Built only for the fields that keep text: most values are enums or numbers.
        let value = || (!t.is_empty()).then(|| t.to_owned());
        let domain = || (!t.is_empty()).then(|| t.to_ascii_lowercase());
        match field {
            Field::Version => self.report.version = value(),
            Field::OrgName => self.report.metadata.org_name = t.to_owned(),
            Field::Email => self.report.metadata.email = value(),
            Field::ExtraContactInfo => self.report.metadata.extra_contact_info = value(),
            Field::ReportId => self.report.metadata.report_id = t.to_owned(),
            Field::Error if t.is_empty() => {}
            Field::Error if self.report.metadata.errors.len() >= self.limits.max_errors => {
                self.warnings.cut(Cut::Errors, 1, String::new)
            }
            Field::Error => {
                self.used += t.len() as u64;
                self.report.metadata.errors.extend(value())
            }
            Field::Generator => self.report.metadata.generator = value(),
            Field::Begin => self.report.metadata.begin = self.epoch("begin", t),
            Field::End => self.report.metadata.end = self.epoch("end", t),
            // A repeated <policy_published> keeps the first (field guide §2.4 item 39).
            // Without a trailing dot, so the report's identity and where it is filed agree.
            Field::PolicyDomain if !self.policy_domain_seen => {
                self.report.policy.domain = t.trim_end_matches('.').to_ascii_lowercase();
                self.policy_domain_seen = true;
            }
            Field::PolicyDomain => {}
            Field::Adkim => self.report.policy.adkim = self.known("adkim", t, Alignment::from_text),
            Field::Aspf => self.report.policy.aspf = self.known("aspf", t, Alignment::from_text),
            Field::P => self.report.policy.p = self.known("p", t, Disposition::from_text),
            Field::Sp => self.report.policy.sp = self.known("sp", t, Disposition::from_text),
            Field::Np => self.report.policy.np = self.known("np", t, Disposition::from_text),
            Field::Pct => self.report.policy.pct = self.percent(t),
            Field::Fo => self.report.policy.fo = value(),
            Field::Testing => {
                self.report.policy.testing = self.known("testing", t, Testing::from_text)
            }
            Field::DiscoveryMethod => {
                self.report.policy.discovery_method =
                    self.known("discovery_method", t, DiscoveryMethod::from_text)
            }
            Field::SourceIp => self.with_record(|r| r.source_ip = Some(t.to_owned())),
            Field::Count => self.with_record(|r| r.count = Some(t.to_owned())),
            Field::Disposition => {
                let v = self.known("disposition", t, Disposition::from_text);
                self.with_record(|r| r.policy_evaluated.disposition = v)
            }
            Field::EvaluatedDkim => {
                let v = self.known("policy_evaluated dkim", t, DmarcResult::from_text);
                self.with_record(|r| r.policy_evaluated.dkim = v)
            }
            Field::EvaluatedSpf => {
                let v = self.known("policy_evaluated spf", t, DmarcResult::from_text);
                self.with_record(|r| r.policy_evaluated.spf = v)
            }
            Field::ReasonType => {
                let v = self.known("reason type", t, PolicyOverride::from_text);
                self.with_record(|r| set_last(&mut r.policy_evaluated.reasons, |x| x.kind = v))
            }
            Field::ReasonComment => self.with_record(|r| {
                set_last(&mut r.policy_evaluated.reasons, |x| x.comment = value())
            }),
            Field::HeaderFrom => self.with_record(|r| r.identifiers.header_from = domain()),
            Field::EnvelopeFrom => self.with_record(|r| r.identifiers.envelope_from = domain()),
            Field::EnvelopeTo => self.with_record(|r| r.identifiers.envelope_to = domain()),
            Field::DkimDomain => {
                self.with_record(|r| set_last(&mut r.auth_results.dkim, |d| d.domain = domain()))
            }
            Field::DkimSelector => {
                self.with_record(|r| set_last(&mut r.auth_results.dkim, |d| d.selector = value()))
            }
            Field::DkimResult => {
                let v = self.known("dkim result", t, DkimResult::from_text);
                self.with_record(|r| set_last(&mut r.auth_results.dkim, |d| d.result = v))
            }
            Field::DkimHumanResult => self
                .with_record(|r| set_last(&mut r.auth_results.dkim, |d| d.human_result = value())),
            Field::SpfDomain => {
                self.with_record(|r| set_last(&mut r.auth_results.spf, |s| s.domain = domain()))
            }
            Field::SpfScope => {
                let v = self.known("spf scope", t, SpfScope::from_text);
                self.with_record(|r| set_last(&mut r.auth_results.spf, |s| s.scope = v))
            }
            Field::SpfResult => {
                let v = self.known("spf result", t, SpfResult::from_text);
                self.with_record(|r| set_last(&mut r.auth_results.spf, |s| s.result = v))
            }
            Field::SpfHumanResult => self
                .with_record(|r| set_last(&mut r.auth_results.spf, |s| s.human_result = value())),
        }
    }

    fn with_record(&mut self, f: impl FnOnce(&mut RecordDraft)) {
        if let Some(r) = self.record.as_mut() {
            f(r);
        }
    }

    fn percent(&mut self, t: &str) -> Option<u8> {
        match t.parse::<u8>() {
            Ok(p) if p <= 100 => Some(p),
            _ if t.is_empty() => None,
            _ => {
                self.warn(
                    WarningKind::InvalidValue,
                    format!("pct {t:?} is not 0..100; ignored"),
                );
                None
            }
        }
    }

    /// Reads an enum value; empty is absent, an unknown value is kept as `Other` and noted.
    fn known<T: KnownValue>(&mut self, what: &str, t: &str, read: fn(&str) -> T) -> Option<T> {
        if t.is_empty() {
            return None;
        }
        let v = read(t);
        if !v.is_known_value() {
            self.warn(
                WarningKind::InvalidValue,
                format!("unknown {what} value {t:?} kept as sent"),
            );
        }
        Some(v)
    }

    fn epoch(&mut self, what: &str, t: &str) -> Option<i64> {
        match parse_epoch(t) {
            Some((secs, EpochForm::Seconds)) => Some(secs),
            Some((secs, form)) => {
                let how = if form == EpochForm::Milliseconds {
                    "milliseconds"
                } else {
                    "fractional seconds"
                };
                self.warn(
                    WarningKind::DateNormalised,
                    format!("{what} {t:?} read as {how}"),
                );
                Some(secs)
            }
            None if t.is_empty() => None,
            None => {
                self.warn(
                    WarningKind::InvalidValue,
                    format!("{what} {t:?} is not an epoch time"),
                );
                None
            }
        }
    }

    fn finish_record(&mut self) {
        let Some(draft) = self.record.take() else {
            return;
        };
        self.records_seen += 1;
        let n = self.records_seen;
        for (what, dropped) in [Cut::DkimResults, Cut::SpfResults, Cut::Reasons]
            .into_iter()
            .zip(draft.dropped)
        {
            self.warnings.cut(what, dropped, || format!("record {n}"));
        }
        let (count, invalid_count) = match draft.count.as_deref().map(parse_count) {
            Some(Count::Real(c)) => (c, None),
            Some(Count::Unreal(raw)) => {
                self.warn(
                    WarningKind::InvalidValue,
                    format!(
                        "record {n}: count {raw} is above 2^53 - 1 and cannot be real; kept as \
                         invalid_count and left out of totals"
                    ),
                );
                (0, Some(raw))
            }
            Some(Count::NotANumber(raw)) => {
                self.warn(
                    WarningKind::RecordDropped,
                    format!("record {n} dropped: count {raw:?} is not a number"),
                );
                return;
            }
            None => {
                self.warn(
                    WarningKind::RecordDropped,
                    format!("record {n} dropped: no <count>"),
                );
                return;
            }
        };
        let source_ip = match draft.source_ip {
            Some(raw) => {
                let ip = SourceIp::from_text(&raw);
                if let SourceIp::Unparsed(s) = &ip {
                    self.warn(
                        WarningKind::InvalidValue,
                        format!("record {n}: source_ip {s:?} is not an IP address; kept as text"),
                    );
                }
                ip
            }
            None => {
                self.warn(
                    WarningKind::MissingValue,
                    format!("record {n}: no <source_ip>"),
                );
                SourceIp::Unparsed(String::new())
            }
        };
        let record = Record {
            source_ip,
            count,
            invalid_count,
            policy_evaluated: draft.policy_evaluated,
            identifiers: draft.identifiers,
            auth_results: draft.auth_results,
        };
        self.used = self.used.saturating_add(record.approx_bytes());
        if self.used > self.limits.max_parsed_bytes {
            self.fatal = Some(LimitExceeded {
                kind: LimitKind::ParsedBytes,
                max: self.limits.max_parsed_bytes,
            });
        }
        self.report.records.push(record);
    }

    fn finish(mut self) -> Result<(AggregateReport, u64), ParseError> {
        if self.root == RootState::Searching {
            let detail = match self.first_xml_error.take() {
                Some(e) => format!("no <feedback> element found (XML error: {e})"),
                None => "no <feedback> element found".to_owned(),
            };
            return Err(ParseError::NotAReport(detail));
        }
        if self.root == RootState::Open {
            self.warn(
                WarningKind::MalformedXml,
                "document ended before </feedback>; kept what was read".into(),
            );
            while !self.stack.is_empty() {
                self.pop();
            }
        }
        if let Some(first) = self.first_xml_error.take() {
            let n = self.xml_errors;
            self.warn(
                WarningKind::MalformedXml,
                format!("{n} XML error(s) recovered, first: {first}"),
            );
        }
        self.recover_metadata();
        let limits = self.limits;
        let mut report = self.report;
        report.warnings = self.warnings.finish(|cut| match cut {
            Cut::DkimResults | Cut::SpfResults => limits.max_auth_results,
            Cut::Reasons => limits.max_reasons,
            Cut::Errors => limits.max_errors,
            Cut::Values => limits.max_value_bytes,
            _ => limits.max_name_bytes,
        });
        let used = self.used.saturating_add(report.metadata.approx_bytes());
        Ok((report, used))
    }

    fn recover_metadata(&mut self) {
        let meta = &mut self.report.metadata;
        if meta.org_name.is_empty() {
            // parsedmarc's rule (field guide §2.3 item 29): the contact address's domain.
            let domain = meta
                .email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .map(|(_, d)| d.trim_end_matches('>').to_ascii_lowercase());
            match domain {
                Some(d) if !d.is_empty() => {
                    let msg = format!("empty org_name recovered from the contact e-mail as {d:?}");
                    meta.org_name = d;
                    self.warnings.push(WarningKind::Recovered, msg);
                }
                _ => self.warnings.push(
                    WarningKind::MissingValue,
                    "empty org_name and no contact e-mail",
                ),
            }
        }
        let meta = &self.report.metadata;
        let mut missing = Vec::new();
        if meta.report_id.is_empty() {
            missing.push("report_id");
        }
        if meta.begin.is_none() {
            missing.push("date_range/begin");
        }
        if meta.end.is_none() {
            missing.push("date_range/end");
        }
        for what in missing {
            self.warnings
                .push(WarningKind::MissingValue, format!("no {what}"));
        }
        if self.report.policy.domain.is_empty() {
            let from = self
                .report
                .records
                .iter()
                .find_map(|r| r.identifiers.header_from.clone());
            match from {
                Some(d) => {
                    self.warnings.push(
                        WarningKind::Recovered,
                        format!("no policy domain; using header_from {d:?}"),
                    );
                    self.report.policy.domain = d;
                }
                None => self
                    .warnings
                    .push(WarningKind::MissingValue, "no policy_published/domain"),
            }
        }
        if self.report.records.is_empty() {
            self.warnings
                .push(WarningKind::MissingValue, "report has no records");
        }
    }
}

trait KnownValue {
    fn is_known_value(&self) -> bool;
}

macro_rules! known_value {
    ($($t:ty),*) => { $(impl KnownValue for $t { fn is_known_value(&self) -> bool { self.is_known() } })* };
}
known_value!(
    Alignment,
    Disposition,
    DmarcResult,
    PolicyOverride,
    DkimResult,
    SpfResult,
    SpfScope,
    Testing,
    DiscoveryMethod
);

/// Adds a default item unless `items` holds `max` already; then counts it in `dropped`.
fn push_within<T: Default>(items: &mut Vec<T>, max: usize, dropped: &mut u64) -> bool {
    if items.len() >= max {
        *dropped = dropped.saturating_add(1);
        return false;
    }
    items.reserve_exact(1);
    items.push(T::default());
    true
}

fn set_last<T>(items: &mut [T], f: impl FnOnce(&mut T)) {
    if let Some(last) = items.last_mut() {
        f(last);
    }
}

/// A `<count>` as read.
#[derive(Debug, PartialEq)]
enum Count {
    /// At most [`MAX_COUNT`].
    Real(u64),
    /// A whole number above [`MAX_COUNT`], as sent: no reporter saw that many messages.
    Unreal(String),
    NotANumber(String),
}

/// Reads a `<count>`: digits, or an integral decimal such as `3.0`.
fn parse_count(raw: &str) -> Count {
    let t = raw.trim();
    let digits = t.strip_prefix('+').unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match digits.parse::<u64>() {
            Ok(n) if n <= MAX_COUNT => Count::Real(n),
            _ => Count::Unreal(digits.to_owned()),
        };
    }
    match t.parse::<f64>() {
        // Every integral f64 up to 2^53 converts exactly.
        Ok(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= MAX_COUNT as f64 => {
            Count::Real(f as u64)
        }
        Ok(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 => Count::Unreal(t.to_owned()),
        _ => Count::NotANumber(t.to_owned()),
    }
}

fn namespace_of(e: &BytesStart<'_>) -> Option<String> {
    let prefix = e.name().prefix().map(|p| p.as_ref().to_vec());
    for attr in e.attributes().with_checks(false).flatten() {
        let key = attr.key.as_ref();
        let matches = match &prefix {
            None => key == b"xmlns",
            Some(p) => key.strip_prefix(b"xmlns:") == Some(p.as_slice()),
        };
        if matches {
            return Some(String::from_utf8_lossy(&attr.value).trim().to_owned());
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
