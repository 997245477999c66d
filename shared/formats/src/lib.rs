//! Rampart's report formats: the bytes of one input into typed reports, and MTA-STS policy
//! files into policies. Pure: no files, clock, network or storage; only the bytes it is given.
//!
//! Within the crate, data walks one way:
//!
//! 1. [`intake`] takes the bytes of one input (a mail, a bare report file, an upload) and
//!    returns every report found in it, with the facts of the carrying mail.
//! 2. [`mail`] walks the MIME tree of a message and hands out the attachments;
//!    [`unpack`] sniffs each payload ([`sniff`]) and opens gzip and zip containers within
//!    [`Limits`].
//! 3. [`dmarc`] parses DMARC aggregate XML (RFC 7489 and RFC 9990) into an
//!    [`AggregateReport`]; [`tlsrpt`] parses SMTP TLS reports (RFC 8460) into a [`TlsReport`].
//! 4. [`identity`] names each report with a stable [`ReportId`] so a re-sent report is recognised.
//!
//! [`mta_sts`] reads and writes MTA-STS policy files (RFC 8461). [`limits`], [`warning`] and
//! [`time`] are shared by all of them. Every tolerance, repair or skipped item is recorded as a
//! [`Warning`] on the report that carried it, so a user can see what was fixed.
//!
//! ```
//! use rampart_formats::{Limits, Report, intake::parse_input};
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
pub mod error;
pub mod identity;
pub mod intake;
pub mod limits;
pub mod mail;
pub mod mta_sts;
pub mod sniff;
pub mod time;
pub mod tlsrpt;
pub mod unpack;
pub mod warning;

mod enums;

pub use dmarc::{AggregateReport, Record};
pub use error::IntakeError;
pub use identity::ReportId;
pub use intake::{Intake, Origin, ParsedReport, Report};
pub use limits::Limits;
pub use mail::MessageFacts;
pub use tlsrpt::TlsReport;
pub use warning::{Warning, WarningKind};
