//! The three output forms of `rampart parse`: full JSON lines, summary lines and CSV rows.
//! Their fields are documented in `docs/report-schema.md`; changing them is a breaking change.

use std::io::Write;

use rampart_formats::dmarc::{AggregateReport, Record};
use rampart_formats::intake::{Intake, ParsedReport, Report};
use rampart_formats::tlsrpt::TlsReport;
use serde::Serialize;

#[derive(Serialize)]
struct FullLine<'a> {
    schema: &'static str,
    file: &'a str,
    id: &'a rampart_formats::ReportId,
    origin: &'a rampart_formats::Origin,
    message: Option<&'a rampart_formats::MessageFacts>,
    report: &'a Report,
}

const CSV_HEADER: [&str; 31] = [
    "file",
    "org_name",
    "org_email",
    "report_id",
    "begin",
    "end",
    "errors",
    "domain",
    "adkim",
    "aspf",
    "p",
    "sp",
    "np",
    "pct",
    "fo",
    "source_ip",
    "count",
    "disposition",
    "dkim_aligned",
    "spf_aligned",
    "dmarc_pass",
    "override_reasons",
    "override_comments",
    "header_from",
    "envelope_from",
    "envelope_to",
    "dkim_domains",
    "dkim_selectors",
    "dkim_results",
    "spf_domains",
    "spf_results",
];

/// Writes reports in the chosen form, as they come.
pub enum Writer<W: Write> {
    Full(W),
    Summary(W),
    Csv {
        out: Box<csv::Writer<W>>,
        skipped_tls: usize,
    },
}

impl<W: Write> Writer<W> {
    pub fn new(out: W, csv: bool, summary: bool) -> anyhow::Result<Self> {
        Ok(if summary {
            Writer::Summary(out)
        } else if csv {
            let mut out = csv::Writer::from_writer(out);
            out.write_record(CSV_HEADER)?;
            Writer::Csv {
                out: Box::new(out),
                skipped_tls: 0,
            }
        } else {
            Writer::Full(out)
        })
    }

    pub fn write(&mut self, file: &str, intake: &Intake) -> anyhow::Result<()> {
        for parsed in &intake.reports {
            match (&mut *self, &parsed.report) {
                (Writer::Full(out), _) => full(out, file, intake, parsed)?,
                (Writer::Summary(out), report) => write_summary(out, file, report)?,
                (Writer::Csv { out, .. }, Report::Aggregate(r)) => {
                    for record in &r.records {
                        out.write_record(csv_row(file, r, record))?;
                    }
                }
                (Writer::Csv { skipped_tls, .. }, Report::Tls(_)) => *skipped_tls += 1,
            }
        }
        Ok(())
    }

    pub fn finish(self) -> anyhow::Result<()> {
        match self {
            Writer::Full(mut out) | Writer::Summary(mut out) => out.flush()?,
            Writer::Csv {
                mut out,
                skipped_tls,
            } => {
                out.flush()?;
                if skipped_tls > 0 {
                    eprintln!(
                        "rampart: {skipped_tls} TLS-RPT report(s) left out of the CSV (it holds aggregate records); use --format json"
                    );
                }
            }
        }
        Ok(())
    }
}

fn full(
    out: &mut impl Write,
    file: &str,
    intake: &Intake,
    parsed: &ParsedReport,
) -> anyhow::Result<()> {
    let line = FullLine {
        schema: "rampart.report.v1",
        file,
        id: &parsed.id,
        origin: &parsed.origin,
        message: intake.message.as_ref(),
        report: &parsed.report,
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// The `--summary` line: exactly these keys, in this order.
#[derive(Serialize)]
struct AggregateSummary<'a> {
    file: &'a str,
    kind: &'static str,
    org_name: &'a str,
    report_id: &'a str,
    policy_domain: &'a str,
    begin: Option<i64>,
    end: Option<i64>,
    records: usize,
    messages: u64,
    warnings: usize,
}

#[derive(Serialize)]
struct TlsSummary<'a> {
    file: &'a str,
    kind: &'static str,
    org_name: Option<&'a str>,
    report_id: Option<&'a str>,
    policy_domain: Option<&'a str>,
    begin: Option<i64>,
    end: Option<i64>,
    policies: usize,
    successful_sessions: u64,
    failed_sessions: u64,
    warnings: usize,
}

fn write_summary(out: &mut impl Write, file: &str, report: &Report) -> anyhow::Result<()> {
    match report {
        Report::Aggregate(r) => serde_json::to_writer(&mut *out, &aggregate_summary(file, r))?,
        Report::Tls(r) => serde_json::to_writer(&mut *out, &tls_summary(file, r))?,
    }
    out.write_all(b"\n")?;
    Ok(())
}

fn aggregate_summary<'a>(file: &'a str, r: &'a AggregateReport) -> AggregateSummary<'a> {
    AggregateSummary {
        file,
        kind: "aggregate",
        org_name: &r.metadata.org_name,
        report_id: &r.metadata.report_id,
        policy_domain: &r.policy.domain,
        begin: r.metadata.begin,
        end: r.metadata.end,
        records: r.records.len(),
        messages: r.message_count(),
        warnings: r.warnings.len(),
    }
}

fn tls_summary<'a>(file: &'a str, r: &'a TlsReport) -> TlsSummary<'a> {
    TlsSummary {
        file,
        kind: "tlsrpt",
        org_name: r.organization_name.as_deref(),
        report_id: r.report_id.as_deref(),
        policy_domain: r
            .policies
            .iter()
            .find_map(|p| p.policy.policy_domain.as_deref()),
        begin: r.start,
        end: r.end,
        policies: r.policies.len(),
        successful_sessions: r.successful_sessions(),
        failed_sessions: r.failed_sessions(),
        warnings: r.warnings.len(),
    }
}

fn csv_row(file: &str, r: &AggregateReport, rec: &Record) -> Vec<String> {
    fn opt<T: ToString>(v: &Option<T>) -> String {
        v.as_ref().map(ToString::to_string).unwrap_or_default()
    }
    fn join<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
        items.iter().map(f).collect::<Vec<_>>().join(",")
    }
    let m = &r.metadata;
    let p = &r.policy;
    let pe = &rec.policy_evaluated;
    let auth = &rec.auth_results;
    vec![
        file.to_owned(),
        m.org_name.clone(),
        opt(&m.email),
        m.report_id.clone(),
        opt(&m.begin.map(rampart_formats::time::format_utc)),
        opt(&m.end.map(rampart_formats::time::format_utc)),
        m.errors.join("|"),
        p.domain.clone(),
        opt(&p.adkim),
        opt(&p.aspf),
        opt(&p.p),
        opt(&p.sp),
        opt(&p.np),
        opt(&p.pct),
        opt(&p.fo),
        rec.source_ip.to_string(),
        rec.count.to_string(),
        opt(&pe.disposition),
        opt(&pe.dkim),
        opt(&pe.spf),
        pe.dmarc_pass().to_string(),
        join(&pe.reasons, |x| opt(&x.kind)),
        join(&pe.reasons, |x| opt(&x.comment)),
        opt(&rec.identifiers.header_from),
        opt(&rec.identifiers.envelope_from),
        opt(&rec.identifiers.envelope_to),
        join(&auth.dkim, |d| opt(&d.domain)),
        join(&auth.dkim, |d| opt(&d.selector)),
        join(&auth.dkim, |d| opt(&d.result)),
        join(&auth.spf, |s| opt(&s.domain)),
        join(&auth.spf, |s| opt(&s.result)),
    ]
}
