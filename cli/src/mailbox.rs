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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rampart_formats::time::now;
use rampart_ingest::Ingest;
use rampart_mailbox::graph;
use rampart_mailbox::imap::{Folder, Limits, Security, tls_config};
use rampart_mailbox::intake::{self, IngestSink, Ran, Reach, wait_for_mail};
use rampart_mailbox::source::{Account, Run, Source, error_text};
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
    let (account, default_id) = match (&entry.url, &entry.tenant, &entry.client_id) {
        (Some(url), None, None) => {
            anyhow::ensure!(
                entry.folder.is_none() && entry.token_url.is_none() && entry.graph_url.is_none(),
                "folder, token_url and graph_url are for Microsoft 365: an IMAP folder is in the url"
            );
            let folder = parse_url(url, &entry.user)?;
            let id = slug(&format!("{}-{}-{}", folder.user, folder.host, folder.name));
            (Account::Imap(folder), id)
        }
        (None, Some(tenant), Some(client_id)) => {
            anyhow::ensure!(!entry.user.is_empty(), "user is empty");
            let account = graph::Account {
                tenant: tenant.clone(),
                client_id: client_id.clone(),
                user: entry.user.clone(),
                folder: entry.folder.clone().unwrap_or_else(|| "inbox".into()),
                token_url: entry.token_url.clone(),
                graph_url: entry.graph_url.clone(),
            };
            let id = slug(&format!("{}-{}", account.user, account.folder));
            (Account::Graph(account), id)
        }
        _ => anyhow::bail!(
            "give either url (IMAP) or tenant and client_id (Microsoft 365), not both"
        ),
    };
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
            tls: tls_config(ca.as_deref())?,
            http: graph::client(ca.as_deref())?,
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

/// `imaps://host[:port]/Folder` (TLS, 993), `imap://…` (STARTTLS, 143) or
/// `imap+insecure://…` (no TLS: a server on this machine). No folder: INBOX.
fn parse_url(url: &str, user: &str) -> anyhow::Result<Folder> {
    let (scheme, rest) = url
        .split_once("://")
        .with_context(|| format!("url {url:?} is not imaps://host/folder"))?;
    let (security, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "imaps" => (Security::Tls, 993),
        "imap" => (Security::StartTls, 143),
        "imap+insecure" => (Security::Plain, 143),
        other => anyhow::bail!("url scheme {other:?}: use imaps, imap (STARTTLS) or imap+insecure"),
    };
    let (authority, folder) = rest.split_once('/').unwrap_or((rest, ""));
    anyhow::ensure!(
        !authority.contains('@'),
        "url {url:?}: give the user as user = \"…\", not in the url"
    );
    // An IPv6 address is bracketed: `[::1]:993`.
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed
                .split_once(']')
                .with_context(|| format!("url {url:?}: no ] after the address"))?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(port) => port
            .parse::<u16>()
            .with_context(|| format!("url {url:?}: port {port:?}"))?,
        None => default_port,
    };
    anyhow::ensure!(!host.is_empty(), "url {url:?} names no host");
    anyhow::ensure!(!user.is_empty(), "user is empty");
    let folder = percent_decode(folder);
    Ok(Folder {
        host: host.to_owned(),
        port,
        security,
        user: user.to_owned(),
        name: if folder.is_empty() {
            "INBOX".into()
        } else {
            folder
        },
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `dmarc-example-com-imap-example-com-inbox`, at most 64 bytes.
fn slug(text: &str) -> String {
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

/// `rampart serve --mailbox`: each source read at start, then again as soon as its server
/// says mail arrived (IDLE), at least every ten minutes.
pub fn watch<S: Store + 'static>(
    store: Arc<S>,
    ingest: Arc<IngestParts>,
    configured: Vec<Configured>,
) {
    for c in configured {
        let (store, parts) = (Arc::clone(&store), Arc::clone(&ingest));
        tokio::spawn(async move {
            let ingest = Ingest::new(&*store, &parts.enricher).accept(parts.accept);
            let sink = IngestSink {
                ingest: &ingest,
                raw_prefix: parts.raw_prefix.clone(),
            };
            loop {
                let wait = match intake::run(&*store, &sink, &c.source.id, &c.reach, now).await {
                    Ok(Ran::Done(run)) => {
                        log_run(&c.source.id, &run);
                        match (&run.error, run.left) {
                            (Some(_), _) => Some(AFTER_FAILURE),
                            (None, 0) => None,
                            (None, _) => Some(Duration::ZERO),
                        }
                    }
                    Ok(Ran::Paused | Ran::Busy) => Some(AFTER_FAILURE),
                    Ok(Ran::Missing) => return,
                    Err(e) => {
                        eprintln!("rampart: mailbox {}: {e}", c.source.id);
                        Some(AFTER_FAILURE)
                    }
                };
                match wait {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => {
                        // The stored source: its checkpoint says what is new to the wait.
                        let stored = match store.mailbox(&c.source.id).await {
                            Ok(Some(item)) => Source::from_item(&item).ok(),
                            _ => None,
                        };
                        let source = stored.as_ref().unwrap_or(&c.source);
                        wait_for_mail(source, &c.reach, IDLE_LONGEST).await
                    }
                }
            }
        });
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

    #[test]
    fn urls_name_the_security_port_and_folder() {
        let f = parse_url("imaps://imap.example.com/INBOX", "u").unwrap();
        assert_eq!(
            (f.security, f.host.as_str(), f.port, f.name.as_str()),
            (Security::Tls, "imap.example.com", 993, "INBOX")
        );
        let f = parse_url("imap://[::1]:1143/DMARC%20Reports", "u").unwrap();
        assert_eq!(
            (f.security, f.host.as_str(), f.port, f.name.as_str()),
            (Security::StartTls, "::1", 1143, "DMARC Reports")
        );
        let f = parse_url("imap+insecure://127.0.0.1:2143", "u").unwrap();
        assert_eq!(
            (f.security, f.port, f.name.as_str()),
            (Security::Plain, 2143, "INBOX")
        );
        let f = parse_url("imaps://[2001:db8::1]", "u").unwrap();
        assert_eq!((f.host.as_str(), f.port), ("2001:db8::1", 993));
        let f = parse_url("imap+insecure://127.0.0.1:2143", "u").unwrap();
        assert_eq!(
            (f.security, f.port, f.name.as_str()),
            (Security::Plain, 2143, "INBOX")
        );
        for bad in [
            "pop3://x/INBOX",
            "imaps://u@x/INBOX",
            "imaps:///INBOX",
            "imaps://x:99999/",
            "x",
        ] {
            assert!(parse_url(bad, "u").is_err(), "{bad}");
        }
    }

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
