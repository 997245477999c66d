//! What the API shows and changes of mailbox sources (`GET /v1/mailboxes`, `PATCH
//! /v1/mailboxes/{id}`): where each reads, whether it is paused, and its last run with the
//! outcomes of the mails it took. Never a password or client secret: those are not stored
//! with the source.

use std::collections::BTreeMap;

use rampart_mailbox::imap::Security;
use rampart_mailbox::intake;
use rampart_mailbox::source::{Account, Run, Source};
use rampart_store::Store;
use serde::{Deserialize, Serialize};

use crate::QueryError;

/// One mailbox source as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MailboxView {
    pub id: String,
    /// `imap` or `graph` (Microsoft 365).
    pub kind: String,
    /// IMAP: `imaps://host:port/Folder` (`imap://` is STARTTLS, `imap+insecure://` none);
    /// Graph: the Graph URL.
    pub location: String,
    /// The IMAP login, or the Microsoft 365 mailbox.
    pub user: String,
    pub folder: String,
    pub paused: bool,
    /// Where each mail is moved once kept; null: left in place.
    pub move_to: Option<String>,
    /// Null before the first run.
    pub last_run: Option<RunView>,
}

/// How a source's last run went.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub started_at: i64,
    pub ended_at: i64,
    /// Why it stopped early (the server's or the store's words); null: it ran through.
    pub error: Option<String>,
    /// Mails read and kept.
    pub taken: u32,
    /// How the kept mails ended: `stored`, `duplicate`, `held`, `rejected` (and `queued` on
    /// AWS, where the ingest function gives the outcome: see `/v1/messages`).
    pub outcomes: BTreeMap<String, u32>,
    /// Mails over the size limit, left in the folder.
    pub too_large: u32,
    /// Mails waiting for the next run.
    pub left: u32,
    pub moved: u32,
    /// The folder was renumbered and read again from its start.
    pub renumbered: bool,
}

/// `GET /v1/mailboxes`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MailboxList {
    pub mailboxes: Vec<MailboxView>,
}

/// `PATCH /v1/mailboxes/{id}`: the fields given change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxChange {
    /// Stop (true) or resume (false) reading the source.
    pub paused: Option<bool>,
}

impl From<&Source> for MailboxView {
    fn from(source: &Source) -> MailboxView {
        let (kind, location, user, folder) = match &source.account {
            Account::Imap(f) => {
                let scheme = match f.security {
                    Security::Tls => "imaps",
                    Security::StartTls => "imap",
                    Security::Plain => "imap+insecure",
                };
                let location = format!("{scheme}://{}:{}/{}", f.host, f.port, f.name);
                ("imap", location, f.user.clone(), f.name.clone())
            }
            Account::Graph(a) => (
                "graph",
                a.graph_url().to_owned(),
                a.user.clone(),
                a.folder.clone(),
            ),
        };
        MailboxView {
            id: source.id.clone(),
            kind: kind.to_owned(),
            location,
            user,
            folder,
            paused: source.paused,
            move_to: source.move_to.clone(),
            last_run: source.last_run.as_ref().map(RunView::from),
        }
    }
}

impl From<&Run> for RunView {
    fn from(run: &Run) -> RunView {
        RunView {
            started_at: run.started_at,
            ended_at: run.ended_at,
            error: run.error.clone(),
            taken: run.taken,
            outcomes: run.outcomes.clone(),
            too_large: run.too_large,
            left: run.left,
            moved: run.moved,
            renumbered: run.renumbered,
        }
    }
}

pub async fn list<S: Store>(store: &S) -> Result<MailboxList, QueryError> {
    let sources = intake::sources(store).await?;
    Ok(MailboxList {
        mailboxes: sources.iter().map(MailboxView::from).collect(),
    })
}

pub async fn change<S: Store>(
    store: &S,
    id: &str,
    change: MailboxChange,
) -> Result<MailboxView, QueryError> {
    let missing = || QueryError::not_found("unknown_mailbox", format!("no mailbox source {id:?}"));
    let item = match rampart_store::mailbox::valid_id(id) {
        Ok(()) => store.mailbox(id).await?.ok_or_else(missing)?,
        Err(_) => return Err(missing()),
    };
    let mut source = Source::from_item(&item)
        .map_err(|e| QueryError::from(rampart_store::StoreError::corrupt("mailbox source", e)))?;
    if let Some(paused) = change.paused {
        source.paused = paused;
    }
    store.put_mailbox(&source.to_item()).await?;
    Ok(MailboxView::from(&source))
}
