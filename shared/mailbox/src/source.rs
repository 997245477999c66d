//! A mailbox source as Rampart keeps it: where to read, whether it is paused, where to move
//! what was stored, how far it was read, and how its last run went. Stored as JSON in a
//! [`rampart_store::MailboxItem`]; the password is never part of it.

use std::collections::BTreeMap;

use rampart_store::MailboxItem;
use serde::{Deserialize, Serialize};

use crate::{graph, imap};

/// Longest error kept from a run: a server's words, not its whole answer.
pub const MAX_ERROR_CHARS: usize = 300;
/// Most UIDs of too-large mails listed in a run (the rest are counted).
pub const MAX_LISTED_UIDS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub id: String,
    pub account: Account,
    #[serde(default)]
    pub paused: bool,
    /// Move each mail here once it is kept (IMAP: a folder of the same account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Run>,
}

/// Where the mails are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Account {
    Imap(imap::Folder),
    /// A Microsoft 365 mailbox, through Microsoft Graph.
    Graph(graph::Account),
}

/// How far a source has been read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Checkpoint {
    Imap(imap::Checkpoint),
    Graph(graph::Checkpoint),
}

/// How one run went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub started_at: i64,
    pub ended_at: i64,
    /// Why the run stopped early: the server, the login, the store. Mails kept before it
    /// are counted; the checkpoint stays before the first mail not kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Mails read from the folder and kept.
    pub taken: u32,
    /// How the kept mails ended (`stored`, `duplicate`, `held`, `rejected`, `failed`; on
    /// AWS `queued` for the ingest function).
    pub outcomes: BTreeMap<String, u32>,
    /// Mails over the size limit, left in the folder, not read.
    pub too_large: u32,
    /// The first [`MAX_LISTED_UIDS`] of them, to find them in the folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub too_large_uids: Vec<u32>,
    /// Mails left for the next run (over the per-run count).
    pub left: u32,
    /// Mails moved to `move_to`.
    pub moved: u32,
    /// The folder was renumbered (a new UIDVALIDITY) and read again from its start.
    pub renumbered: bool,
}

impl Source {
    pub fn from_item(item: &MailboxItem) -> Result<Source, serde_json::Error> {
        serde_json::from_str(&item.body)
    }

    pub fn to_item(&self) -> MailboxItem {
        MailboxItem {
            id: self.id.clone(),
            body: serde_json::to_string(self).expect("a source always serialises"),
        }
    }
}

/// An error's words, bounded and on one line.
pub fn error_text(e: &impl std::fmt::Display) -> String {
    let text: String = e
        .to_string()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_ERROR_CHARS)
        .collect();
    text.trim().to_owned()
}
