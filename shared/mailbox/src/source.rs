//! A mailbox source as Rampart keeps it: where to read, whether it is paused, where to move
//! what was stored, how far it was read, and how its last run went. Stored as JSON in a
//! [`rampart_store::MailboxItem`]; the password is never part of it.

use std::collections::BTreeMap;

use rampart_store::MailboxItem;
use serde::{Deserialize, Serialize};

use crate::{Addresses, graph, imap};

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

/// Where a source reads, as a person gives it (the mailbox file, the API): an IMAP `url`,
/// or a Microsoft 365 `tenant` and `client_id`.
#[derive(Debug, Clone, Default)]
pub struct Location {
    pub url: Option<String>,
    /// The IMAP login, or the Microsoft 365 mailbox.
    pub user: String,
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    /// Microsoft 365: a well-known folder or a top-level folder's name [default: inbox].
    pub folder: Option<String>,
    pub token_url: Option<String>,
    pub graph_url: Option<String>,
}

/// Longest tenant, client id and folder name taken.
const MAX_NAME: usize = 255;

impl Location {
    /// The account, and an id for it when none is given (`dmarc-example-com-…-inbox`).
    pub fn account(&self, addresses: Addresses) -> Result<(Account, String), String> {
        match (&self.url, &self.tenant, &self.client_id) {
            (Some(url), None, None) => {
                if self.folder.is_some() || self.token_url.is_some() || self.graph_url.is_some() {
                    return Err(
                        "folder, token_url and graph_url are for Microsoft 365: an IMAP \
                                folder is in the url"
                            .into(),
                    );
                }
                let folder = imap::Folder::from_url(url, &self.user)?;
                let id = slug(&format!("{}-{}-{}", folder.user, folder.host, folder.name));
                Ok((Account::Imap(folder), id))
            }
            (None, Some(tenant), Some(client_id)) => {
                let folder = self.folder.clone().unwrap_or_else(|| "inbox".into());
                for (what, text) in [
                    ("user", &self.user),
                    ("tenant", tenant),
                    ("client_id", client_id),
                    ("folder", &folder),
                ] {
                    name(what, text)?;
                }
                let account = graph::Account {
                    tenant: tenant.clone(),
                    client_id: client_id.clone(),
                    user: self.user.clone(),
                    folder,
                    token_url: self.token_url.clone(),
                    graph_url: self.graph_url.clone(),
                };
                graph::checked_url(&account.token_url(), "token_url", addresses)
                    .and_then(|_| graph::checked_url(account.graph_url(), "graph_url", addresses))
                    .map_err(|e| e.to_string())?;
                let id = slug(&format!("{}-{}", account.user, account.folder));
                Ok((Account::Graph(account), id))
            }
            _ => Err(
                "give either url (IMAP) or tenant and client_id (Microsoft 365), not both".into(),
            ),
        }
    }
}

/// A name a person gave: not empty, on one line, at most [`MAX_NAME`] bytes.
pub fn name(what: &str, text: &str) -> Result<(), String> {
    match text.len() {
        0 => Err(format!("{what} is empty")),
        n if n > MAX_NAME => Err(format!("{what} is longer than {MAX_NAME} bytes")),
        _ if text.chars().any(char::is_control) => Err(format!("{what} holds a control character")),
        _ => Ok(()),
    }
}

/// `dmarc-example-com-imap-example-com-inbox`, at most 64 bytes.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.truncate(rampart_store::mailbox::MAX_MAILBOX_ID);
    out.trim_end_matches('-').to_owned()
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
