//! Why (part of) an input gave no report: the one error type of intake, shared by the
//! mail walk and the payload readers.

use serde::{Deserialize, Serialize};

use crate::limits::LimitKind;
use crate::unpack::limit_of;

/// Why (part of) an input gave no report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum IntakeError {
    #[error("the input is empty")]
    Empty,
    #[error("{limit} exceeds the limit of {max}")]
    LimitExceeded { limit: LimitKind, max: u64 },
    #[error("corrupt {container}: {detail}")]
    Corrupt { container: String, detail: String },
    #[error("not a readable mail: {0}")]
    Mail(String),
    #[error("not a report: {0}")]
    NotAReport(String),
    #[error("not XML, JSON, gzip, zip or mail (starts with {0})")]
    UnknownFormat(String),
    #[error("no report found in the mail")]
    NoReportFound,
    #[error(
        "a DMARC failure report (RFC 6591 feedback report); Rampart reads aggregate and TLS reports only"
    )]
    FailureReport,
}

impl IntakeError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            IntakeError::Empty => "empty",
            IntakeError::LimitExceeded { .. } => "limit_exceeded",
            IntakeError::Corrupt { .. } => "corrupt",
            IntakeError::Mail(_) => "mail",
            IntakeError::NotAReport(_) => "not_a_report",
            IntakeError::UnknownFormat(_) => "unknown_format",
            IntakeError::NoReportFound => "no_report_found",
            IntakeError::FailureReport => "failure_report",
        }
    }

    pub(crate) fn from_io(container: &str, err: &std::io::Error) -> Self {
        match limit_of(err) {
            Some(l) => IntakeError::LimitExceeded {
                limit: l.kind,
                max: l.max,
            },
            None => IntakeError::Corrupt {
                container: container.to_owned(),
                detail: err.to_string(),
            },
        }
    }
}
