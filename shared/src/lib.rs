//! Rampart's core: turns raw report bytes into normalised reports.
//!
//! Data walks one way through the rooms of this crate:
//!
//! 1. [`intake`] takes the bytes of one input (a mail, a bare report file, an upload) and
//!    returns every report found in it, with the facts of the carrying mail.
//! 2. [`mail`] walks the MIME tree of a message and hands out the attachments;
//!    [`unpack`] sniffs each payload and opens gzip and zip containers within [`Limits`].
//! 3. [`dmarc`] parses DMARC aggregate XML (RFC 7489 and RFC 9990) into an
//!    [`AggregateReport`]; [`tlsrpt`] parses SMTP TLS reports (RFC 8460) into a [`TlsReport`].
//! 4. [`identity`] names each report with a stable [`ReportId`] so a re-sent report is recognised.
//! 5. [`store`] keeps raw messages, reports, per-message outcomes and domains, in DynamoDB + S3
//!    or in an SQLite file + a folder; [`ingest`] runs one raw message through all of the above
//!    and records exactly one outcome for it; [`metrics`] counts what ingest did.
//!
//! 6. [`sources`] enriches each source address (country, AS, confirmed PTR name, sending
//!    service) at ingest and classifies records at query time.
//! 7. [`mta_sts`] keeps the hosted MTA-STS policies: their model, versions and published ids.
//!
//! Parsing does no I/O beyond reading the bytes it is given: no files, clock or network. Only
//! [`store`] talks to storage, and it never parses.
//! Every tolerance, repair or skipped item is recorded as a [`Warning`] on the report that
//! carried it, so a user can see what was fixed.
//!
//! ```
//! use rampart::{Limits, Report, intake::parse_input};
//!
//! let xml = br#"<feedback><report_metadata><org_name>Example</org_name><report_id>1</report_id>
//!   <date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>
//!   <policy_published><domain>example.com</domain><p>none</p></policy_published>
//!   <record><row><source_ip>192.0.2.1</source_ip><count>3</count></row></record></feedback>"#;
//! let intake = parse_input(xml, &Limits::default());
//! let Report::Aggregate(report) = &intake.reports[0].report else { panic!("not aggregate") };
//! assert_eq!(report.message_count(), 3);
//! assert_eq!(report.policy.domain, "example.com");
//! ```

pub mod dmarc;
pub mod identity;
pub mod ingest;
pub mod intake;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod mta_sts;
pub mod query;
pub mod sniff;
pub mod sources;
pub mod store;
pub mod tally;
pub mod tlsrpt;
pub mod unpack;
pub mod warning;

mod enums;
pub mod time;

pub use dmarc::{AggregateReport, Record};
pub use identity::ReportId;
pub use intake::{Intake, IntakeError, Origin, ParsedReport, Report};
pub use limits::Limits;
pub use mail::MessageFacts;
pub use tlsrpt::TlsReport;
pub use warning::{Warning, WarningKind};
