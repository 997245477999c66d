//! One run of one source: read what arrived since its checkpoint, keep each mail by the
//! same path as SES intake, move it if asked once it is kept, and write the checkpoint and
//! the run back. Runs of one source never overlap: each holds a claim on it.
//!
//! A mail counts as kept once the [`Sink`] has it durably (stored, duplicate, held,
//! rejected, or written for the ingest function). The first one that is not stops the run,
//! and the checkpoint stays just before it, so the next run reads it again.

use std::sync::Arc;
use std::time::Duration;

use rampart_ingest::Ingest;
use rampart_store::{Outcome, RawKey, Store, StoreError};

use crate::imap::{self, Limits};
use crate::source::{Account, Checkpoint, MAX_LISTED_UIDS, Run, Source, error_text};
use crate::{Addresses, MailboxError, graph};

/// How long a run may hold its source: far over a run of [`Limits::default`].
const CLAIM_SECONDS: i64 = 15 * 60;

/// Where a mail goes once read.
pub trait Sink: Send + Sync {
    /// `Ok(outcome name)` once the raw bytes are durably kept; `Err(why)` otherwise.
    fn take(
        &self,
        raw: &[u8],
        now: i64,
    ) -> impl Future<Output = Result<&'static str, String>> + Send;
}

/// On one machine: stored and ingested at once, keyed as `rampart ingest` keys files.
pub struct IngestSink<'a, S: Store> {
    pub ingest: &'a Ingest<'a, S>,
    pub raw_prefix: String,
}

impl<S: Store> Sink for IngestSink<'_, S> {
    async fn take(&self, raw: &[u8], now: i64) -> Result<&'static str, String> {
        let key = RawKey::new(format!("{}{}", self.raw_prefix, RawKey::for_content(raw)))
            .map_err(|e| e.to_string())?;
        let done = self.ingest.keep(&key, raw, now).await;
        match done.outcome {
            Outcome::Failed => Err(done.reason.unwrap_or_else(|| "storing failed".into())),
            outcome => Ok(outcome.as_str()),
        }
    }
}

/// On AWS: written under the raw prefix SES writes to (`inbound/mailbox/<id>/…`), where the
/// bucket's notification hands it to the ingest function like any mail SES received.
pub struct RawSink<'a, S: Store> {
    pub store: &'a S,
    /// `inbound/mailbox/<id>/`.
    pub raw_prefix: String,
}

impl<S: Store> Sink for RawSink<'_, S> {
    async fn take(&self, raw: &[u8], _now: i64) -> Result<&'static str, String> {
        let key = RawKey::new(format!("{}{}", self.raw_prefix, RawKey::for_content(raw)))
            .map_err(|e| e.to_string())?;
        self.store
            .put_raw(&key, raw)
            .await
            .map(|()| "queued")
            .map_err(|e| e.to_string())
    }
}

/// How every source's server is reached, built once and shared.
#[derive(Clone)]
pub struct Network {
    /// IMAP's TLS ([`imap::tls_config`]).
    pub tls: Arc<rustls::ClientConfig>,
    /// Graph's HTTPS client ([`graph::client`], built with the same `addresses`).
    pub http: reqwest::Client,
    /// Public servers only on AWS; any on one machine.
    pub addresses: Addresses,
}

impl Network {
    /// The system's trust roots plus `extra_ca` (a private mail server's CA).
    pub fn new(extra_ca: Option<&[u8]>, addresses: Addresses) -> Result<Network, MailboxError> {
        Ok(Network {
            tls: imap::tls_config(extra_ca)?,
            http: graph::client(extra_ca, addresses)?,
            addresses,
        })
    }
}

/// What a run needs beyond the source: its secret and how to reach the server.
#[derive(Clone)]
pub struct Reach {
    /// The IMAP password, or the Graph app's client secret.
    pub password: String,
    pub network: Network,
    pub limits: Limits,
}

/// How [`run`] ended for the caller (the source's own record has the details).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// It ran; `Run::error` says whether it stopped early.
    Done(Run),
    Paused,
    /// Another run holds the source.
    Busy,
    /// No source of that id (it was removed).
    Missing,
}

/// Runs the stored source `id` once, at `now`, and stores its new checkpoint and run.
pub async fn run<S: Store, K: Sink>(
    store: &S,
    sink: &K,
    id: &str,
    reach: &Reach,
    now: impl Fn() -> i64,
) -> Result<Ran, StoreError> {
    let started = now();
    let claim = format!("mailbox#{id}");
    if !store
        .claim(&claim, started, started + CLAIM_SECONDS)
        .await?
    {
        return Ok(Ran::Busy);
    }
    let ran = run_claimed(store, sink, id, reach, &now).await;
    store.release(&claim).await?;
    ran
}

async fn run_claimed<S: Store, K: Sink>(
    store: &S,
    sink: &K,
    id: &str,
    reach: &Reach,
    now: &impl Fn() -> i64,
) -> Result<Ran, StoreError> {
    let Some(source) = read(store, id).await? else {
        return Ok(Ran::Missing);
    };
    if source.paused {
        return Ok(Ran::Paused);
    }
    let mut run = Run {
        started_at: now(),
        ..Run::default()
    };
    let checkpoint = match &source.account {
        Account::Imap(folder) => read_imap(&source, folder, sink, reach, &mut run, now)
            .await
            .map(Checkpoint::Imap),
        Account::Graph(account) => read_graph(&source, account, sink, reach, &mut run, now)
            .await
            .map(Checkpoint::Graph),
    };
    run.ended_at = now();
    // Written over the source as it is now: a pause or a change made during the run stays.
    let Some(mut latest) = read(store, id).await? else {
        return Ok(Ran::Missing);
    };
    if checkpoint.is_some() {
        latest.checkpoint = checkpoint;
    }
    latest.last_run = Some(run.clone());
    store.put_mailbox(&latest.to_item()).await?;
    Ok(Ran::Done(run))
}

/// What a test of a source found: it logged in and counted the folder, reading no mail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Probe {
    /// Mails in the folder.
    pub messages: u32,
    /// Of those, the ones the next run would take (Graph: at most 1,000 are counted).
    pub new: u32,
}

/// Logs in to the source's server and counts its folder: what "test" means for a source.
pub async fn probe(source: &Source, reach: &Reach) -> Result<Probe, MailboxError> {
    let n = &reach.network;
    match &source.account {
        Account::Imap(folder) => {
            let since = match &source.checkpoint {
                Some(Checkpoint::Imap(c)) => Some(*c),
                _ => None,
            };
            let mut session = imap::login(folder, &reach.password, &n.tls, n.addresses).await?;
            let counted = imap::count(&mut session, &folder.name, since).await;
            let _ = session.logout().await;
            let (messages, new) = counted?;
            Ok(Probe { messages, new })
        }
        Account::Graph(account) => {
            let since = match &source.checkpoint {
                Some(Checkpoint::Graph(c)) => Some(c.clone()),
                _ => None,
            };
            let client = graph::login(&n.http, account, &reach.password, n.addresses).await?;
            let folder = client.folder_id(&account.folder).await?.ok_or_else(|| {
                MailboxError::Folder(account.folder.clone(), "no such folder".into())
            })?;
            let messages = client.total(&folder).await?;
            let listing = client.list_new(&folder, since.as_ref(), 1000).await?;
            Ok(Probe {
                messages,
                new: count(listing.messages.len()),
            })
        }
    }
}

/// Records a run that could not start (its secret is missing): the source shows why.
pub async fn record<S: Store>(store: &S, id: &str, run: Run) -> Result<(), StoreError> {
    let Some(mut source) = read(store, id).await? else {
        return Ok(());
    };
    source.last_run = Some(run);
    store.put_mailbox(&source.to_item()).await
}

/// Every stored source, those whose item cannot be read left out with a warning.
pub async fn sources<S: Store>(store: &S) -> Result<Vec<Source>, StoreError> {
    let mut out = Vec::new();
    for item in store.mailboxes().await? {
        match Source::from_item(&item) {
            Ok(source) => out.push(source),
            Err(e) => tracing::warn!(source = item.id, "unreadable mailbox source: {e}"),
        }
    }
    Ok(out)
}

async fn read<S: Store>(store: &S, id: &str) -> Result<Option<Source>, StoreError> {
    let Some(item) = store.mailbox(id).await? else {
        return Ok(None);
    };
    Source::from_item(&item)
        .map(Some)
        .map_err(|e| StoreError::corrupt("mailbox source", e))
}

/// Reads an IMAP folder into `sink`; returns the checkpoint to keep (`None`: unchanged).
async fn read_imap<K: Sink>(
    source: &Source,
    folder: &imap::Folder,
    sink: &K,
    reach: &Reach,
    run: &mut Run,
    now: &impl Fn() -> i64,
) -> Option<imap::Checkpoint> {
    let n = &reach.network;
    let mut session = match imap::login(folder, &reach.password, &n.tls, n.addresses).await {
        Ok(session) => session,
        Err(e) => {
            run.error = Some(error_text(&e));
            return None;
        }
    };
    let since = match &source.checkpoint {
        Some(Checkpoint::Imap(c)) => Some(*c),
        _ => None,
    };
    let fetched = match imap::fetch_new(&mut session, &folder.name, since, reach.limits).await {
        Ok(fetched) => fetched,
        Err(e) => {
            run.error = Some(error_text(&e));
            let _ = session.logout().await;
            return None;
        }
    };
    run.renumbered = fetched.renumbered;
    run.too_large = count(fetched.too_large.len());
    run.too_large_uids = fetched
        .too_large
        .iter()
        .take(MAX_LISTED_UIDS)
        .copied()
        .collect();
    run.left = count(fetched.left);
    let mut checkpoint = fetched.checkpoint;
    let mut kept = Vec::with_capacity(fetched.mails.len());
    for (i, mail) in fetched.mails.iter().enumerate() {
        match sink.take(&mail.raw, now()).await {
            Ok(outcome) => {
                *run.outcomes.entry(outcome.to_owned()).or_default() += 1;
                run.taken += 1;
                kept.push(mail.uid);
            }
            Err(why) => {
                run.error = Some(error_text(&format!("mail UID {}: {why}", mail.uid)));
                // Read again next time: this mail and every one after it.
                checkpoint.last_uid = mail.uid.saturating_sub(1);
                run.left = run.left.saturating_add(count(fetched.mails.len() - i));
                break;
            }
        }
    }
    if let Some(to) = &source.move_to
        && !kept.is_empty()
    {
        match imap::move_mails(&mut session, &folder.name, &kept, to).await {
            Ok(()) => run.moved = count(kept.len()),
            // Kept but not moved: the checkpoint still passes them, so nothing is read twice.
            Err(e) => run.error = Some(error_text(&e)),
        }
    }
    let _ = session.logout().await;
    Some(checkpoint)
}

/// Reads a Microsoft 365 folder into `sink`; returns the checkpoint to keep (`None`:
/// unchanged).
async fn read_graph<K: Sink>(
    source: &Source,
    account: &graph::Account,
    sink: &K,
    reach: &Reach,
    run: &mut Run,
    now: &impl Fn() -> i64,
) -> Option<graph::Checkpoint> {
    let n = &reach.network;
    let since = match &source.checkpoint {
        Some(Checkpoint::Graph(c)) => Some(c.clone()),
        _ => None,
    };
    let mut failed = |e: MailboxError| {
        run.error = Some(error_text(&e));
        None
    };
    let client = match graph::login(&n.http, account, &reach.password, n.addresses).await {
        Ok(client) => client,
        Err(e) => return failed(e),
    };
    let folder = match client.folder_id(&account.folder).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            let missing = MailboxError::Folder(account.folder.clone(), "no such folder".into());
            return failed(missing);
        }
        Err(e) => return failed(e),
    };
    let listing = match client
        .list_new(&folder, since.as_ref(), reach.limits.max_mails)
        .await
    {
        Ok(listing) => listing,
        Err(e) => return failed(e),
    };
    let destination = match &source.move_to {
        Some(name) if !listing.messages.is_empty() => match client.ensure_folder(name).await {
            Ok(id) => Some(id),
            Err(e) => return failed(e),
        },
        _ => None,
    };
    let max_bytes = reach.limits.max_bytes as usize;
    // Graph's listing gives no count beyond a page: `left` is 1 when more wait.
    run.left = u32::from(listing.more);
    let mut done: Vec<graph::Listed> = Vec::with_capacity(listing.messages.len());
    for listed in &listing.messages {
        let raw = match client.mime(&listed.id, max_bytes).await {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                run.too_large += 1;
                done.push(listed.clone());
                continue;
            }
            Err(e) => {
                run.error = Some(error_text(&e));
                break;
            }
        };
        match sink.take(&raw, now()).await {
            Ok(outcome) => {
                *run.outcomes.entry(outcome.to_owned()).or_default() += 1;
                run.taken += 1;
                done.push(listed.clone());
            }
            Err(why) => {
                run.error = Some(error_text(&format!("message {}: {why}", listed.id)));
                break;
            }
        }
        if let Some(to) = &destination {
            match client.move_message(&listed.id, to).await {
                Ok(()) => run.moved += 1,
                // Kept but not moved: the checkpoint still passes it.
                Err(e) => run.error = Some(error_text(&e)),
            }
        }
    }
    if done.len() < listing.messages.len() {
        run.left = run
            .left
            .saturating_add(count(listing.messages.len() - done.len()));
    }
    graph::advance(since.as_ref(), &done)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Waits until the folder changes (IMAP IDLE), at most `longest`; not at all when mail past
/// the source's checkpoint is there already (`source` as stored, with its checkpoint). A server without IDLE,
/// one that fails, and Graph make this a plain wait of `longest`.
pub async fn wait_for_mail(source: &Source, reach: &Reach, longest: Duration) {
    let n = &reach.network;
    match &source.account {
        Account::Imap(folder) => {
            let since = match &source.checkpoint {
                Some(Checkpoint::Imap(c)) => Some(*c),
                _ => None,
            };
            if let Err(e) =
                imap::idle(folder, &reach.password, &n.tls, n.addresses, since, longest).await
            {
                tracing::info!(source = source.id, "IDLE: {e}; polling instead");
                tokio::time::sleep(longest).await;
            }
        }
        // Graph's change notifications need a public HTTPS endpoint: polled.
        Account::Graph(_) => tokio::time::sleep(longest).await,
    }
}
