//! Mailbox sources through the API: listed with their last run and its outcomes, added
//! (the password or client secret going to the deployment's secrets, never stored with the
//! source nor shown again), tested (a login and a count of the folder), paused, and
//! removed with their secret.

use std::collections::BTreeMap;

use rampart_mailbox::Addresses;
use rampart_mailbox::imap::{Limits, Security};
use rampart_mailbox::intake::{self, Network, Reach};
use rampart_mailbox::secrets::{SecretStore, Secrets};
use rampart_mailbox::source::{self as mailbox_source, Account, Location, Run, Source};
use rampart_store::mailbox::MAX_MAILBOXES;
use rampart_store::{Store, StoreError};
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
    /// A new password or client secret.
    #[schema(min_length = 1, max_length = 1024)]
    pub secret: Option<String>,
}

/// `POST /v1/mailboxes`: an IMAP folder (`url`) or a Microsoft 365 mailbox (`tenant` and
/// `client_id`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMailbox {
    /// Lower-case letters, digits and `-` [default: from the user, host and folder].
    #[schema(examples("reports"), pattern = "^[a-z0-9-]{1,64}$")]
    pub id: Option<String>,
    /// IMAP: `imaps://host[:port]/Folder` (TLS, 993), `imap://…` (STARTTLS, 143), or
    /// `imap+insecure://…` (no TLS: a server on the same machine only). No folder: INBOX.
    #[schema(
        examples("imaps://imap.example.com/INBOX"),
        pattern = "^(imaps|imap|imap\\+insecure)://[^/@]+"
    )]
    pub url: Option<String>,
    /// The IMAP login, or the Microsoft 365 mailbox.
    #[schema(examples("dmarc@example.com"), min_length = 1, max_length = 320)]
    pub user: String,
    /// The IMAP password, or the Graph app's client secret: kept in this deployment's
    /// secrets, never shown again.
    #[schema(min_length = 1, max_length = 1024)]
    pub secret: String,
    /// Microsoft 365: the Entra ID tenant.
    pub tenant: Option<String>,
    /// Microsoft 365: the app registration.
    pub client_id: Option<String>,
    /// Microsoft 365: a well-known folder or a top-level folder's name [default: inbox].
    pub folder: Option<String>,
    /// Microsoft 365, for national clouds.
    pub token_url: Option<String>,
    pub graph_url: Option<String>,
    /// Move each mail to this folder once it is kept.
    pub move_to: Option<String>,
    #[serde(default)]
    pub paused: bool,
}

/// What `POST /v1/mailboxes/{id}/test` found: the login worked and the folder was counted,
/// or why not.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MailboxTest {
    pub ok: bool,
    /// Mails in the folder (Graph: its item count).
    pub messages: Option<u32>,
    /// Mails past the checkpoint, which the next run takes.
    pub new: Option<u32>,
    /// The server's or the login's words when it failed.
    pub error: Option<String>,
}

/// What adding, testing and removing sources needs beyond the store.
pub struct Access {
    pub secrets: SecretStore,
    /// How servers are reached; `None` where no network may be used (`RAMPART_RESOLVER=off`):
    /// testing answers 409.
    pub network: Option<Network>,
}

/// Longest password or client secret taken.
const MAX_SECRET_BYTES: usize = 4096;

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

/// Adds a source: its secret first, so no run finds the source without it.
pub async fn add<S: Store>(
    store: &S,
    access: &Access,
    new: NewMailbox,
) -> Result<MailboxView, QueryError> {
    let addresses = access
        .network
        .as_ref()
        .map_or(Addresses::Any, |n| n.addresses);
    let location = Location {
        url: new.url,
        user: new.user,
        tenant: new.tenant,
        client_id: new.client_id,
        folder: new.folder,
        token_url: new.token_url,
        graph_url: new.graph_url,
    };
    let invalid = |message: String| QueryError::bad_request("invalid_mailbox", message);
    let (account, default_id) = location.account(addresses).map_err(invalid)?;
    let id = new.id.unwrap_or(default_id);
    rampart_store::mailbox::valid_id(&id).map_err(|e| invalid(format!("id: {e}")))?;
    if let Some(to) = &new.move_to {
        mailbox_source::name("move_to", to).map_err(invalid)?;
    }
    valid_secret(&new.secret)?;
    if store.mailbox(&id).await?.is_some() {
        return Err(QueryError::conflict(
            "mailbox_exists",
            format!("a source is named {id:?} already: remove it first, or give another id"),
        ));
    }
    if store.mailboxes().await?.len() >= MAX_MAILBOXES {
        return Err(QueryError::conflict(
            "too_many_mailboxes",
            format!("there are {MAX_MAILBOXES} sources already: remove one first"),
        ));
    }
    let source = Source {
        id: id.clone(),
        account,
        paused: new.paused,
        move_to: new.move_to,
        checkpoint: None,
        last_run: None,
    };
    access
        .secrets
        .put_secret(&id, &new.secret)
        .await
        .map_err(secrets_failed)?;
    if let Err(e) = store.put_mailbox(&source.to_item()).await {
        let _ = access.secrets.forget_secret(&id).await;
        return Err(e.into());
    }
    Ok(MailboxView::from(&source))
}

/// Removes a source and its secret; the mails it brought stay.
pub async fn remove<S: Store>(
    store: &S,
    access: &Access,
    id: &str,
) -> Result<MailboxView, QueryError> {
    let source = stored(store, id).await?;
    store.forget_mailbox(id).await?;
    access
        .secrets
        .forget_secret(id)
        .await
        .map_err(secrets_failed)?;
    Ok(MailboxView::from(&source))
}

/// Logs in to the source's server and counts its folder; reads no mail.
pub async fn test<S: Store>(
    store: &S,
    access: &Access,
    id: &str,
) -> Result<MailboxTest, QueryError> {
    let source = stored(store, id).await?;
    let Some(network) = &access.network else {
        return Err(QueryError::conflict(
            "network_off",
            "this deployment reaches no network (RAMPART_RESOLVER=off), so it cannot test a \
             mailbox",
        ));
    };
    let failed = |error: String| MailboxTest {
        ok: false,
        messages: None,
        new: None,
        error: Some(mailbox_source::error_text(&error)),
    };
    let password = match access.secrets.secret(id).await {
        Ok(Some(password)) => password,
        Ok(None) => return Ok(failed(format!("no secret is stored for mailbox {id}"))),
        Err(e) => return Err(secrets_failed(e)),
    };
    let reach = Reach {
        password,
        network: network.clone(),
        limits: Limits::default(),
    };
    Ok(match intake::probe(&source, &reach).await {
        Ok(probe) => MailboxTest {
            ok: true,
            messages: Some(probe.messages),
            new: Some(probe.new),
            error: None,
        },
        Err(e) => failed(e.to_string()),
    })
}

fn valid_secret(secret: &str) -> Result<(), QueryError> {
    let why = if secret.is_empty() {
        "the secret is empty"
    } else if secret.len() > MAX_SECRET_BYTES {
        "the secret is longer than 4096 bytes"
    } else if secret.chars().any(char::is_control) {
        "the secret holds a control character (a line break?)"
    } else {
        return Ok(());
    };
    Err(QueryError::bad_request("invalid_mailbox", why))
}

fn secrets_failed(e: rampart_mailbox::MailboxError) -> QueryError {
    QueryError::from(StoreError::Unavailable {
        op: "mailbox secret",
        detail: e.to_string(),
    })
}

/// The stored source `id`, or 404 `unknown_mailbox`.
async fn stored<S: Store>(store: &S, id: &str) -> Result<Source, QueryError> {
    let missing = || QueryError::not_found("unknown_mailbox", format!("no mailbox source {id:?}"));
    let item = match rampart_store::mailbox::valid_id(id) {
        Ok(()) => store.mailbox(id).await?.ok_or_else(missing)?,
        Err(_) => return Err(missing()),
    };
    Source::from_item(&item).map_err(|e| QueryError::from(StoreError::corrupt("mailbox source", e)))
}

pub async fn change<S: Store>(
    store: &S,
    access: Option<&Access>,
    id: &str,
    change: MailboxChange,
) -> Result<MailboxView, QueryError> {
    let mut source = stored(store, id).await?;
    if let Some(secret) = &change.secret {
        valid_secret(secret)?;
        let Some(access) = access else {
            return Err(secrets_off());
        };
        access
            .secrets
            .put_secret(id, secret)
            .await
            .map_err(secrets_failed)?;
    }
    if let Some(paused) = change.paused {
        source.paused = paused;
    }
    store.put_mailbox(&source.to_item()).await?;
    Ok(MailboxView::from(&source))
}

/// 409 where this deployment keeps no mailbox secrets.
pub fn secrets_off() -> QueryError {
    QueryError::conflict(
        "mailboxes_off",
        "this deployment keeps no mailbox secrets: sources are configured in its mailbox file",
    )
}
