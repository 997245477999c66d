//! What mailbox intake needs from storage: each mailbox source (an IMAP folder, a Microsoft
//! 365 folder) with its checkpoint and last run, as the JSON `rampart-mailbox` wrote.
//! Passwords and client secrets are never here: they stay in the owner's file or in Secrets
//! Manager.

use std::future::Future;

use crate::StoreError;
use crate::alerting::bounded;

/// One source as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxItem {
    /// Lower-case letters, digits and `-`, at most [`MAX_MAILBOX_ID`] bytes.
    pub id: String,
    /// The source, its checkpoint and its last run, JSON.
    pub body: String,
}

/// Longest source id.
pub const MAX_MAILBOX_ID: usize = 64;
/// Most sources one installation keeps: a person adds them one by one.
pub const MAX_MAILBOXES: usize = 100;

pub trait MailboxStore: Send + Sync {
    /// Every source, by id.
    fn mailboxes(&self) -> impl Future<Output = Result<Vec<MailboxItem>, StoreError>> + Send;

    fn mailbox(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<MailboxItem>, StoreError>> + Send;

    /// Stores (or replaces) a source.
    fn put_mailbox(
        &self,
        item: &MailboxItem,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `false`: there was none.
    fn forget_mailbox(&self, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl<T: MailboxStore> MailboxStore for std::sync::Arc<T> {
    fn mailboxes(&self) -> impl Future<Output = Result<Vec<MailboxItem>, StoreError>> + Send {
        T::mailboxes(self)
    }

    fn mailbox(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<MailboxItem>, StoreError>> + Send {
        T::mailbox(self, id)
    }

    fn put_mailbox(
        &self,
        item: &MailboxItem,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        T::put_mailbox(self, item)
    }

    fn forget_mailbox(&self, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send {
        T::forget_mailbox(self, id)
    }
}

/// Refuses an id the key schema cannot hold, and a body over the item bound.
#[cfg_attr(not(any(feature = "embedded", feature = "s3")), allow(dead_code))]
pub(crate) fn valid(item: &MailboxItem) -> Result<(), StoreError> {
    valid_id(&item.id)?;
    bounded("mailbox source", &item.body)
}

/// Refuses an id the key schema cannot hold (the API and the CLI ask before storing).
pub fn valid_id(id: &str) -> Result<(), StoreError> {
    let fits = !id.is_empty()
        && id.len() <= MAX_MAILBOX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if fits {
        Ok(())
    } else {
        Err(StoreError::Refused {
            op: "mailbox source",
            detail: format!("the id {id:?} is not 1 to {MAX_MAILBOX_ID} of a-z, 0-9 and -"),
        })
    }
}
