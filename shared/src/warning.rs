//! Warnings: what a parser repaired, guessed or skipped on the way to a report.

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
}

impl Warning {
    pub fn new(kind: WarningKind, message: impl Into<String>) -> Self {
        Warning {
            kind,
            message: message.into(),
        }
    }
}
