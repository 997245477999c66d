//! Classification of aggregate records: what a user should do about each source.
//!
//! Rules, first match wins (also in `docs/sources.md`):
//!
//! 1. **compliant**: DMARC passes (the receiver's aligned DKIM or SPF result is `pass`).
//! 2. **forwarded**: the receiver overrode the policy as `forwarded`, `mailing_list` or
//!    `trusted_forwarder`; or the forwarding pattern: no SPF result passes while a DKIM
//!    signature passes (unaligned, since DMARC failed), from a source that is not a sending
//!    platform (transactional or marketing service).
//! 3. **misconfigured**: an own service that is not set up: SPF or DKIM passes but not
//!    aligned (the forwarding pattern from a sending platform included), or both fail
//!    from a recognised service (one whose domain is not authorised or not signing).
//! 4. **suspicious**: both fail, from a source no service map entry recognises: spoofing,
//!    or a server of yours Rampart cannot name.

use serde::{Deserialize, Serialize};

use super::SourceInfo;
use rampart_formats::dmarc::{DkimResult, PolicyOverride, Record, SpfResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    Compliant,
    Forwarded,
    Misconfigured,
    Suspicious,
}

impl Classification {
    pub const ALL: [Classification; 4] = [
        Classification::Compliant,
        Classification::Forwarded,
        Classification::Misconfigured,
        Classification::Suspicious,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Compliant => "compliant",
            Classification::Forwarded => "forwarded",
            Classification::Misconfigured => "misconfigured",
            Classification::Suspicious => "suspicious",
        }
    }

    pub fn from_name(name: &str) -> Option<Classification> {
        Classification::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(name))
    }
}

/// The class of a record sent from `source` (the report's enrichment of its address).
pub fn classify(record: &Record, source: Option<&SourceInfo>) -> Classification {
    if record.policy_evaluated.dmarc_pass() {
        return Classification::Compliant;
    }
    let overridden = record.policy_evaluated.reasons.iter().any(|r| {
        matches!(
            r.kind,
            Some(
                PolicyOverride::Forwarded
                    | PolicyOverride::MailingList
                    | PolicyOverride::TrustedForwarder
            )
        )
    });
    if overridden {
        return Classification::Forwarded;
    }
    let spf_pass = record
        .auth_results
        .spf
        .iter()
        .any(|a| a.result == Some(SpfResult::Pass));
    let dkim_pass = record
        .auth_results
        .dkim
        .iter()
        .any(|a| a.result == Some(DkimResult::Pass));
    let service = source.and_then(|s| s.service.as_ref());
    let sending_platform = service.is_some_and(|s| !s.kind.forwards_mail());
    if !spf_pass && dkim_pass && !sending_platform {
        return Classification::Forwarded;
    }
    if spf_pass || dkim_pass || service.is_some() {
        return Classification::Misconfigured;
    }
    Classification::Suspicious
}
