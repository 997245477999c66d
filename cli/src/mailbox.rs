//! `rampart fetch` and `rampart serve --mailbox`: report mails read from the owner's own IMAP
//! folders and Microsoft 365 mailboxes, named in a small TOML file that also holds (or
//! points to) the password or client secret, so it never appears in a command line or the
//! environment:
//!
//! ```toml
//! [[mailbox]]
//! url = "imaps://imap.example.com/INBOX"   # imap:// is STARTTLS on 143
//! user = "dmarc@example.com"
//! password_file = "/etc/rampart/imap-password"   # or: password = "…"
//! # move_to = "DMARC/Done"   # move each mail here once it is kept
//!
//! [[mailbox]]                 # Microsoft 365, through Graph
//! tenant = "contoso.onmicrosoft.com"
//! client_id = "…"
//! client_secret_file = "/etc/rampart/graph-secret"
//! user = "dmarc@contoso.com"
//! folder = "inbox"
//! ```

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rampart_formats::time::now;
use rampart_ingest::Ingest;
use rampart_mailbox::Addresses;
use rampart_mailbox::imap::Limits;
use rampart_mailbox::intake::{self, IngestSink, Network, Ran, Reach, wait_for_mail};
use rampart_mailbox::secrets::{SecretFiles, Secrets};
use rampart_mailbox::source::{Location, Run, Source, error_text};
use rampart_store::Store;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, StoreArgs};
use crate::enrich::EnrichArgs;
use crate::ingest::AcceptArgs;

/// Longest wait in IDLE before reading anyway: under the 30 minutes after which servers may
/// drop an idle client (RFC 2177).
const IDLE_LONGEST: Duration = Duration::from_secs(10 * 60);
/// Wait after a run that failed (the server is down, the password changed).
const AFTER_FAILURE: Duration = Duration::from_secs(60);

#[derive(clap::Args)]
pub struct FetchArgs {
    /// The mailbox file (TOML: one `[[mailbox]]` per folder, see the README).
    #[arg(long, value_name = "FILE")]
    mailbox: PathBuf,
    /// Only log in and count each folder (and what the next run would take); read nothing.
    #[arg(long)]
    test: bool,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    enrich: EnrichArgs,
    #[command(flatten)]
    accept: AcceptArgs,
}

/// The mailbox file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MailboxFile {
    mailbox: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// The source's name in Rampart [default: from the user, host and folder].
    id: Option<String>,
    /// IMAP: `imaps://host/Folder`.
    url: Option<String>,
    /// The IMAP login, or the Microsoft 365 mailbox.
    user: String,
    /// The IMAP password, or (as `client_secret`) the Graph app's secret.
    #[serde(alias = "client_secret")]
    password: Option<String>,
    #[serde(alias = "client_secret_file")]
    password_file: Option<PathBuf>,
    /// Graph: the tenant and the app registration.
    tenant: Option<String>,
    client_id: Option<String>,
    /// Graph: a well-known folder or a top-level folder's name [default: inbox].
    folder: Option<String>,
    /// Graph, for national clouds.
    token_url: Option<String>,
    graph_url: Option<String>,
    move_to: Option<String>,
    /// A PEM CA to trust beside the system's (a private mail server).
    ca_file: Option<PathBuf>,
    #[serde(default)]
    paused: bool,
}

/// One source of the file, ready to run.
pub struct Configured {
    source: Source,
    reach: Reach,
}

/// Reads the mailbox file; errors name the file and the entry.
pub fn read_file(file: &Path) -> anyhow::Result<Vec<Configured>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{}: cannot read the mailbox file", file.display()))?;
    let parsed: MailboxFile =
        toml::from_str(&text).with_context(|| format!("{}: not a mailbox file", file.display()))?;
    anyhow::ensure!(
        !parsed.mailbox.is_empty(),
        "{}: names no [[mailbox]]",
        file.display()
    );
    let mut out: Vec<Configured> = Vec::new();
    for (i, entry) in parsed.mailbox.into_iter().enumerate() {
        let configured = configure(file, entry)
            .with_context(|| format!("{}: mailbox {}", file.display(), i + 1))?;
        anyhow::ensure!(
            out.iter().all(|c| c.source.id != configured.source.id),
            "{}: two mailboxes are named {:?}: give one an id",
            file.display(),
            configured.source.id
        );
        out.push(configured);
    }
    Ok(out)
}

fn configure(file: &Path, entry: Entry) -> anyhow::Result<Configured> {
    let location = Location {
        url: entry.url,
        user: entry.user,
        tenant: entry.tenant,
        client_id: entry.client_id,
        folder: entry.folder,
        token_url: entry.token_url,
        graph_url: entry.graph_url,
    };
    let (account, default_id) = location
        .account(Addresses::Any)
        .map_err(anyhow::Error::msg)?;
    let password = match (entry.password, &entry.password_file) {
        (Some(password), None) => {
            private(file)?;
            password
        }
        (None, Some(secret)) => {
            let text = std::fs::read_to_string(secret)
                .with_context(|| format!("{}: cannot read the password file", secret.display()))?;
            let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
            anyhow::ensure!(
                !line.is_empty(),
                "{}: the password file is empty",
                secret.display()
            );
            line.to_owned()
        }
        _ => anyhow::bail!(
            "give exactly one of password and password_file (client_secret and \
             client_secret_file for Microsoft 365)"
        ),
    };
    let ca = match &entry.ca_file {
        Some(ca) => Some(
            std::fs::read(ca).with_context(|| format!("{}: cannot read the CA", ca.display()))?,
        ),
        None => None,
    };
    let id = entry.id.unwrap_or(default_id);
    rampart_store::mailbox::valid_id(&id).map_err(|e| anyhow::anyhow!("id: {e}"))?;
    Ok(Configured {
        source: Source {
            id,
            account,
            paused: entry.paused,
            move_to: entry.move_to,
            checkpoint: None,
            last_run: None,
        },
        reach: Reach {
            password,
            network: Network::new(ca.as_deref(), Addresses::Any)?,
            limits: Limits::default(),
        },
    })
}

/// A file that holds a password must be its owner's alone, as ssh asks of its keys.
fn private(file: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)?.permissions().mode();
        anyhow::ensure!(
            mode & 0o077 == 0,
            "it holds a password, and others may read {} (mode {:o}): chmod 600 it, or use \
             password_file",
            file.display(),
            mode & 0o777
        );
    }
    Ok(())
}

/// Stores each configured source, keeping the checkpoint and last run of the one stored
/// under its id unless it now reads another folder.
pub async fn register<S: Store>(store: &S, configured: &[Configured]) -> anyhow::Result<()> {
    for c in configured {
        let mut source = c.source.clone();
        if let Some(item) = store.mailbox(&source.id).await? {
            let stored = Source::from_item(&item)
                .with_context(|| format!("the stored mailbox source {}", source.id))?;
            if stored.account == source.account {
                source.checkpoint = stored.checkpoint;
                source.last_run = stored.last_run;
            }
        }
        store.put_mailbox(&source.to_item()).await?;
    }
    Ok(())
}

/// One line of `rampart fetch`.
#[derive(Serialize)]
struct Fetched<'a> {
    mailbox: &'a str,
    #[serde(flatten)]
    run: &'a Run,
}

/// `rampart fetch`: each source once, until nothing is left; one JSON line per source.
/// Returns whether every run ended without an error.
pub async fn fetch(args: &FetchArgs) -> anyhow::Result<bool> {
    let configured = read_file(&args.mailbox)?;
    if args.test {
        return match args.store.open().await? {
            Backend::Local(store) => test_all(&store, &configured).await,
            Backend::Aws(store) => test_all(&store, &configured).await,
        };
    }
    let enricher = args.enrich.enricher()?;
    let accept = args.accept.for_store(&args.store);
    let prefix = args.store.raw_prefix().to_owned();
    match args.store.open().await? {
        Backend::Local(store) => {
            let ingest = Ingest::new(&store, &enricher).accept(accept);
            fetch_all(&store, &ingest, &prefix, &configured).await
        }
        Backend::Aws(store) => {
            let ingest = Ingest::new(&store, &enricher).accept(accept);
            fetch_all(&store, &ingest, &prefix, &configured).await
        }
    }
}

/// `rampart fetch --test`: one JSON line per mailbox, `{"mailbox", "messages", "new"}` or
/// `{"mailbox", "error"}`; `new` counts from the stored checkpoint of the same folder.
async fn test_all<S: Store>(store: &S, configured: &[Configured]) -> anyhow::Result<bool> {
    let mut clean = true;
    for c in configured {
        let mut source = c.source.clone();
        if let Some(item) = store.mailbox(&source.id).await?
            && let Ok(stored) = Source::from_item(&item)
            && stored.account == source.account
        {
            source.checkpoint = stored.checkpoint;
        }
        let line = match intake::probe(&source, &c.reach).await {
            Ok(probe) => serde_json::json!({
                "mailbox": c.source.id, "messages": probe.messages, "new": probe.new,
            }),
            Err(e) => {
                clean = false;
                serde_json::json!({ "mailbox": c.source.id, "error": error_text(&e) })
            }
        };
        println!("{line}");
    }
    Ok(clean)
}

async fn fetch_all<S: Store>(
    store: &S,
    ingest: &Ingest<'_, S>,
    prefix: &str,
    configured: &[Configured],
) -> anyhow::Result<bool> {
    register(store, configured).await?;
    let sink = IngestSink {
        ingest,
        raw_prefix: prefix.to_owned(),
    };
    let mut clean = true;
    for c in configured {
        let id = &c.source.id;
        loop {
            match intake::run(store, &sink, id, &c.reach, now).await? {
                Ran::Done(run) => {
                    clean &= run.error.is_none();
                    println!(
                        "{}",
                        serde_json::to_string(&Fetched {
                            mailbox: id,
                            run: &run
                        })?
                    );
                    if run.left == 0 || run.error.is_some() {
                        break;
                    }
                }
                Ran::Paused => {
                    eprintln!("rampart: mailbox {id}: paused");
                    break;
                }
                Ran::Busy => {
                    eprintln!("rampart: mailbox {id}: another run is reading it; try later");
                    clean = false;
                    break;
                }
                Ran::Missing => anyhow::bail!("mailbox {id}: removed while running"),
            }
        }
    }
    Ok(clean)
}

/// `rampart serve`: every stored source read at start, then again as soon as its server
/// says mail arrived (IDLE), at least every ten minutes. Sources added through the API are
/// picked up within [`LOOK_FOR_SOURCES`] (with their secret from `api_sources`; not at
/// all without one, where the API may reach no network); a removed source stops.
pub fn watch<S: Store + 'static>(
    store: Arc<S>,
    ingest: Arc<IngestParts>,
    configured: Vec<Configured>,
    api_sources: Option<ApiSources>,
) {
    let configured: HashMap<String, Reach> = configured
        .into_iter()
        .map(|c| (c.source.id, c.reach))
        .collect();
    let watched: Arc<Mutex<HashSet<String>>> = Arc::default();
    let watcher = Arc::new(Watcher {
        store,
        ingest,
        configured,
        api_sources,
    });
    tokio::spawn(async move {
        loop {
            match intake::sources(&*watcher.store).await {
                Ok(sources) => {
                    for source in sources {
                        let id = source.id;
                        let known = watcher.configured.contains_key(&id);
                        if !known && watcher.api_sources.is_none() {
                            continue;
                        }
                        if lock(&watched).insert(id.clone()) {
                            let (watcher, watched) = (Arc::clone(&watcher), Arc::clone(&watched));
                            tokio::spawn(async move {
                                watcher.follow(&id).await;
                                lock(&watched).remove(&id);
                            });
                        }
                    }
                }
                Err(e) => eprintln!("rampart: mailbox sources: {e}"),
            }
            tokio::time::sleep(LOOK_FOR_SOURCES).await;
        }
    });
}

/// How often `rampart serve` looks for sources added through the API.
const LOOK_FOR_SOURCES: Duration = Duration::from_secs(2);

/// Sources added through the API: their secrets, and how their servers are reached.
pub struct ApiSources {
    pub secrets: SecretFiles,
    pub network: Network,
}

struct Watcher<S> {
    store: Arc<S>,
    ingest: Arc<IngestParts>,
    /// The mailbox file's sources, with their passwords.
    configured: HashMap<String, Reach>,
    api_sources: Option<ApiSources>,
}

fn lock(set: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    set.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<S: Store> Watcher<S> {
    /// Reads source `id` until it is removed.
    async fn follow(&self, id: &str) {
        let parts = &self.ingest;
        let ingest = Ingest::new(&*self.store, &parts.enricher).accept(parts.accept);
        let sink = IngestSink {
            ingest: &ingest,
            raw_prefix: parts.raw_prefix.clone(),
        };
        loop {
            // Read each time: a secret replaced through the API counts from the next run.
            let reach = match self.reach(id).await {
                Ok(reach) => reach,
                Err(why) => {
                    let run = Run {
                        started_at: now(),
                        ended_at: now(),
                        error: Some(error_text(&why)),
                        ..Run::default()
                    };
                    log_run(id, &run);
                    if let Err(e) = intake::record(&*self.store, id, run).await {
                        eprintln!("rampart: mailbox {id}: {e}");
                    }
                    self.wait_for_change(id, AFTER_FAILURE).await;
                    continue;
                }
            };
            let wait = match intake::run(&*self.store, &sink, id, &reach, now).await {
                Ok(Ran::Done(run)) => {
                    log_run(id, &run);
                    match (&run.error, run.left) {
                        (Some(_), _) => Some(AFTER_FAILURE),
                        (None, 0) => None,
                        (None, _) => Some(Duration::ZERO),
                    }
                }
                Ok(Ran::Paused | Ran::Busy) => Some(AFTER_FAILURE),
                Ok(Ran::Missing) => return,
                Err(e) => {
                    eprintln!("rampart: mailbox {id}: {e}");
                    Some(AFTER_FAILURE)
                }
            };
            match wait {
                Some(pause) => self.wait_for_change(id, pause).await,
                None => {
                    // The stored source: its checkpoint says what is new to the wait.
                    let stored = match self.store.mailbox(id).await {
                        Ok(Some(item)) => Source::from_item(&item).ok(),
                        _ => None,
                    };
                    let Some(source) = stored else { return };
                    tokio::select! {
                        () = wait_for_mail(&source, &reach, IDLE_LONGEST) => {}
                        () = self.wait_for_change(id, IDLE_LONGEST) => {}
                    }
                }
            }
        }
    }

    /// Waits `longest`, or less once the source changes through the API: resumed, removed
    /// (or removed and added again), given a new password.
    async fn wait_for_change(&self, id: &str, longest: Duration) {
        let seen = self.snapshot(id).await;
        let until = tokio::time::Instant::now() + longest;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(LOOK_FOR_SOURCES)).await;
            if self.snapshot(id).await != seen {
                return;
            }
        }
    }

    /// The stored source and its secret, to tell a change.
    async fn snapshot(&self, id: &str) -> (Option<String>, Option<String>) {
        let item = self.store.mailbox(id).await.ok().flatten().map(|i| i.body);
        let secret = self.reach(id).await.ok().map(|r| r.password);
        (item, secret)
    }

    /// The mailbox file's password, or the secret stored through the API.
    async fn reach(&self, id: &str) -> Result<Reach, String> {
        if let Some(reach) = self.configured.get(id) {
            return Ok(reach.clone());
        }
        let Some(api) = &self.api_sources else {
            return Err("sources added through the API are not read here".into());
        };
        match api.secrets.secret(id).await {
            Ok(Some(password)) => Ok(Reach {
                password,
                network: api.network.clone(),
                limits: Limits::default(),
            }),
            Ok(None) => Err(format!("no secret is stored for mailbox {id}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// What each watcher builds its [`Ingest`] from.
pub struct IngestParts {
    pub enricher: rampart_sources::Enricher,
    pub accept: rampart_ingest::Accept,
    pub raw_prefix: String,
}

fn log_run(id: &str, run: &Run) {
    if run.taken == 0 && run.error.is_none() && run.too_large == 0 {
        return;
    }
    let outcomes: Vec<String> = run
        .outcomes
        .iter()
        .map(|(outcome, n)| format!("{n} {outcome}"))
        .collect();
    let mut line = format!("rampart: mailbox {id}: {} mails", run.taken);
    if !outcomes.is_empty() {
        line.push_str(&format!(" ({})", outcomes.join(", ")));
    }
    if run.too_large > 0 {
        line.push_str(&format!(", {} too large left in the folder", run.too_large));
    }
    if let Some(error) = &run.error {
        line.push_str(&format!("; stopped: {error}"));
    }
    eprintln!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_mailbox::source::{Account, slug};

    fn file(name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("rampart-mailbox-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    #[test]
    fn a_microsoft_365_mailbox_is_named_by_tenant_and_client() {
        let graph = file(
            "graph.toml",
            "[[mailbox]]\ntenant = \"contoso.example\"\nclient_id = \"app\"\n\
             client_secret = \"s\"\nuser = \"dmarc@contoso.example\"\n",
        );
        let read = read_file(&graph).unwrap();
        let Account::Graph(account) = &read[0].source.account else {
            panic!("not Graph")
        };
        assert_eq!(
            (
                account.folder.as_str(),
                account.token_url(),
                read[0].source.id.as_str()
            ),
            (
                "inbox",
                "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token".to_owned(),
                "dmarc-contoso-example-inbox"
            )
        );
        assert_eq!(read[0].reach.password, "s");
        let both = file(
            "both.toml",
            "[[mailbox]]\nurl = \"imaps://x\"\ntenant = \"t\"\nclient_id = \"c\"\n\
             password = \"p\"\nuser = \"u\"\n",
        );
        let refused = format!("{:#}", read_file(&both).err().unwrap());
        assert!(
            refused.contains("mailbox 1: give either url (IMAP) or tenant"),
            "{refused}"
        );
        let folder = file(
            "imap-folder.toml",
            "[[mailbox]]\nurl = \"imaps://x\"\nfolder = \"Reports\"\npassword = \"p\"\nuser = \"u\"\n",
        );
        let refused = format!("{:#}", read_file(&folder).err().unwrap());
        assert!(
            refused.contains("an IMAP folder is in the url"),
            "{refused}"
        );
    }

    #[test]
    fn ids_are_slugs() {
        assert_eq!(
            slug("dmarc@example.com-imap.example.com-INBOX"),
            "dmarc-example-com-imap-example-com-inbox"
        );
        assert_eq!(slug(&"a.".repeat(60)).len(), 63);
    }
}
