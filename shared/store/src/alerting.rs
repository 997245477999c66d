//! What alerts need from storage: each alert's state written on condition of the version
//! read (so concurrent or repeated evaluations never send one step twice), the day facts
//! the rules read, each domain's alert settings, the addresses SES said to stop mailing,
//! and one-time claims (an hour's evaluation, a week's digest). As with reports, storage
//! never parses: alerts, facts and settings arrive as the JSON `rampart-alerts` wrote.

use std::future::Future;

use crate::{DayRange, StoreError};

/// One alert of a domain as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertItem {
    pub domain: String,
    /// `<rule>#<key>`.
    pub id: String,
    /// Written only over version `version - 1` (nothing for version 1).
    pub version: u64,
    /// The alert, JSON.
    pub body: String,
    /// When a resolved alert may go (the store deletes it then, or later); `None` while open.
    pub expires_at: Option<i64>,
}

/// An address not to mail again, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// Lower-case.
    pub address: String,
    /// `bounce` or `complaint`, with what SES said.
    pub reason: String,
    pub at: i64,
}

/// The settings of every domain without its own, and of the digest of all domains.
pub const ALL_DOMAINS: &str = "*";

/// How long a day's facts are kept: longer than the longest look-back a rule may take.
pub const FACTS_SECONDS: i64 = 130 * 86_400;

/// Longest body of an alert, facts day or settings item: far over what `rampart-alerts`
/// writes (its lists and names are bounded), far under DynamoDB's 400 KB.
pub const MAX_ALERT_BYTES: usize = 256 * 1024;

pub trait AlertStore: Send + Sync {
    /// Every alert of a domain, open and resolved, by id.
    fn alerts(
        &self,
        domain: &str,
    ) -> impl Future<Output = Result<Vec<AlertItem>, StoreError>> + Send;

    /// Writes an alert if the stored one is still `item.version - 1` (absent for version
    /// 1). `false`: another writer got there first; read again.
    fn put_alert(&self, item: &AlertItem) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores (or replaces) the facts of some days of a domain: `(day, facts JSON)`.
    fn put_alert_days(
        &self,
        domain: &str,
        days: &[(String, String)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The facts stored for the days of `days`, in day order.
    fn alert_days(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;

    /// A domain's alert settings (JSON), or those of [`ALL_DOMAINS`].
    fn alert_settings(
        &self,
        scope: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    fn put_alert_settings(
        &self,
        scope: &str,
        settings: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stops mail to an address (the latest reason wins).
    fn suppress(
        &self,
        suppression: &Suppression,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Mails to an address again.
    fn unsuppress(&self, address: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Those of `addresses` that are suppressed.
    fn suppressed(
        &self,
        addresses: &[String],
    ) -> impl Future<Output = Result<Vec<Suppression>, StoreError>> + Send;

    /// Takes `key` until `expires_at` unless someone holds it at `now`: exactly one of any
    /// number of callers gets `true`.
    fn claim(
        &self,
        key: &str,
        now: i64,
        expires_at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives a claim back (what it guarded failed and may be tried again).
    fn release(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Asks for a domain's alerts to be evaluated at the next scheduled run (a report
    /// arrived, a check ran, its settings changed).
    fn request_alerts(&self, domain: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The domains whose evaluation was asked for.
    fn alert_requests(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Marks a domain's requested evaluation done.
    fn alerts_done(&self, domain: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<T: AlertStore> AlertStore for std::sync::Arc<T> {
    fn alerts(
        &self,
        domain: &str,
    ) -> impl Future<Output = Result<Vec<AlertItem>, StoreError>> + Send {
        T::alerts(self, domain)
    }

    fn put_alert(&self, item: &AlertItem) -> impl Future<Output = Result<bool, StoreError>> + Send {
        T::put_alert(self, item)
    }

    fn put_alert_days(
        &self,
        domain: &str,
        days: &[(String, String)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::put_alert_days(self, domain, days)
    }

    fn alert_days(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send {
        T::alert_days(self, domain, days)
    }

    fn alert_settings(
        &self,
        scope: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        T::alert_settings(self, scope)
    }

    fn put_alert_settings(
        &self,
        scope: &str,
        settings: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::put_alert_settings(self, scope, settings)
    }

    fn suppress(
        &self,
        suppression: &Suppression,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::suppress(self, suppression)
    }

    fn unsuppress(&self, address: &str) -> impl Future<Output = Result<bool, StoreError>> + Send {
        T::unsuppress(self, address)
    }

    fn suppressed(
        &self,
        addresses: &[String],
    ) -> impl Future<Output = Result<Vec<Suppression>, StoreError>> + Send {
        T::suppressed(self, addresses)
    }

    fn claim(
        &self,
        key: &str,
        now: i64,
        expires_at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        T::claim(self, key, now, expires_at)
    }

    fn release(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::release(self, key)
    }

    fn request_alerts(&self, domain: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::request_alerts(self, domain)
    }

    fn alert_requests(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        T::alert_requests(self)
    }

    fn alerts_done(&self, domain: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::alerts_done(self, domain)
    }
}

/// Refuses a body over [`MAX_ALERT_BYTES`].
#[cfg_attr(not(any(feature = "embedded", feature = "s3")), allow(dead_code))]
pub(crate) fn bounded(what: &'static str, body: &str) -> Result<(), StoreError> {
    if body.len() > MAX_ALERT_BYTES {
        return Err(StoreError::Refused {
            op: what,
            detail: format!("{} bytes, over {MAX_ALERT_BYTES}", body.len()),
        });
    }
    Ok(())
}

/// A domain normalised, or [`ALL_DOMAINS`] as it is.
#[cfg_attr(not(any(feature = "embedded", feature = "s3")), allow(dead_code))]
pub(crate) fn normalise_scope(scope: &str) -> String {
    if scope == ALL_DOMAINS {
        scope.to_owned()
    } else {
        crate::normalise_domain(scope)
    }
}
