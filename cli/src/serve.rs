//! `rampart serve`: the REST API on this machine, over the local store (or DynamoDB + S3).
//!
//! It fills an empty store with the bundled sample reports (or ingests and then watches an
//! inbox folder), binds the listener, prints the URL and serves the same Router that the
//! query Lambda runs.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use query::{Api, router, system_now};
use rampart::Limits;
use rampart::ingest::keep_and_ingest;
use rampart::query::domains::Endpoints;
use rampart::store::{Outcome, RawKey, Store, WriteMode};

use crate::backend::{Backend, StoreArgs};
use crate::files::collect_files;
use crate::ingest::{InputOutcome, ingest_file};

/// Real reports from the fixture corpus, bundled at build time (see `build.rs`).
const SAMPLES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/samples.rs"));

/// How often the inbox is looked at; a file is read once it is unchanged for one interval.
const INBOX_POLL: Duration = Duration::from_secs(2);

/// No response carries more than this of a raw message.
const MAX_RAW_BYTES: u64 = 64 << 20;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on. Anything but a loopback address needs --token.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A folder of report mails and files: ingested at start, then watched for new files.
    /// Without it, an empty store gets the bundled sample reports.
    #[arg(long, value_name = "DIR")]
    inbox: Option<PathBuf>,
    /// Require `Authorization: Bearer <TOKEN>` on every request.
    #[arg(long, env = "RAMPART_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The address reports are mailed to, used in the DNS records shown for a domain.
    #[arg(
        long,
        env = "RAMPART_INBOUND_ADDRESS",
        default_value = "reports@rampart.localhost"
    )]
    inbound_address: String,
    /// The HTTPS URL that accepts TLS-RPT uploads, used in the DNS records.
    #[arg(
        long,
        env = "RAMPART_TLSRPT_URL",
        default_value = "https://rampart.localhost/v1/tlsrpt"
    )]
    tlsrpt_url: String,
    /// The host that serves hosted MTA-STS policies, used in the DNS records.
    #[arg(
        long,
        env = "RAMPART_MTA_STS_HOST",
        default_value = "mta-sts.rampart.localhost"
    )]
    mta_sts_host: String,
    #[command(flatten)]
    store: StoreArgs,
}

pub async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() && args.token.is_none() {
        anyhow::bail!(
            "listening on {} would show every report to the network; pass --token (or set \
             RAMPART_TOKEN), or listen on 127.0.0.1",
            args.listen
        );
    }
    match args.store.open().await? {
        Backend::Local(store) => run(store, args).await,
        Backend::Aws(store) => run(store, args).await,
    }
}

async fn run<S: Store + 'static>(store: S, args: &ServeArgs) -> anyhow::Result<()> {
    let limits = Limits::default();
    match &args.inbox {
        Some(inbox) => {
            anyhow::ensure!(
                inbox.is_dir(),
                "the inbox {} is not a folder",
                inbox.display()
            );
        }
        None if is_empty(&store).await? => {
            let counts = ingest_samples(&store, &limits).await;
            eprintln!("rampart: the store was empty; ingested the bundled samples: {counts}");
        }
        None => {}
    }
    let api = Arc::new(Api {
        store,
        endpoints: Endpoints {
            inbound_address: args.inbound_address.clone(),
            tlsrpt_url: args.tlsrpt_url.clone(),
            mta_sts_host: args.mta_sts_host.clone(),
        },
        max_raw_bytes: MAX_RAW_BYTES,
        token: args.token.clone(),
        now: system_now,
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let url = format!("http://{}", listener.local_addr()?);
    if let Some(inbox) = &args.inbox {
        let (api, inbox, prefix) = (
            Arc::clone(&api),
            inbox.clone(),
            args.store.raw_prefix().to_owned(),
        );
        tokio::spawn(async move { watch_inbox(&api.store, &inbox, &prefix, &limits).await });
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Rampart API: {url}/v1/domains  (OpenAPI: {url}/openapi.json)"
    )?;
    out.flush()?;
    drop(out);
    axum::serve(listener, router(api))
        .with_graceful_shutdown(shutdown())
        .await
        .context("serving the API")
}

async fn is_empty<S: Store>(store: &S) -> anyhow::Result<bool> {
    Ok(store.domains().await?.is_empty() && store.raw_keys().await?.is_empty())
}

async fn ingest_samples<S: Store>(store: &S, limits: &Limits) -> String {
    let mut counts: HashMap<Outcome, usize> = HashMap::new();
    for (name, bytes) in SAMPLES {
        let key = RawKey::for_content(bytes);
        let done =
            keep_and_ingest(store, &key, bytes, limits, system_now(), WriteMode::Insert).await;
        if let (Outcome::Failed, Some(reason)) = (done.outcome, &done.reason) {
            eprintln!("rampart: sample {name}: {reason}");
        }
        let outcome = done.outcome;
        *counts.entry(outcome).or_default() += 1;
    }
    let mut parts: Vec<String> = Outcome::ALL
        .iter()
        .filter_map(|o| counts.get(o).map(|n| format!("{n} {o}")))
        .collect();
    parts.insert(0, format!("{} files", SAMPLES.len()));
    parts.join(", ")
}

/// Ingests every file in the inbox, then each new or changed file once it has stopped
/// changing, forever. Outcomes go to stderr, one line per file.
async fn watch_inbox<S: Store>(store: &S, inbox: &Path, prefix: &str, limits: &Limits) {
    type Seen = HashMap<PathBuf, (u64, Option<SystemTime>)>;
    let mut done: Seen = HashMap::new();
    let mut settling: Seen = HashMap::new();
    let mut first = true;
    loop {
        let (files, unreadable) = collect_files(&[inbox.to_owned()]);
        for u in unreadable {
            eprintln!("rampart: inbox: {}: {}", u.name, u.reason);
        }
        for file in files {
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            let seen = (meta.len(), meta.modified().ok());
            if done.get(&file) == Some(&seen) {
                continue;
            }
            // Files there at start are complete; later ones may still be being written.
            if !first && settling.get(&file) != Some(&seen) {
                settling.insert(file, seen);
                continue;
            }
            settling.remove(&file);
            match ingest_file(store, &file, prefix, limits).await {
                Ok(outcome) => log_outcome(&outcome),
                Err(e) => eprintln!("rampart: inbox: {}: {e:#}", file.display()),
            }
            done.insert(file, seen);
        }
        first = false;
        tokio::time::sleep(INBOX_POLL).await;
    }
}

fn log_outcome(o: &InputOutcome) {
    let detail = match (&o.reason, o.outcome) {
        (Some(reason), Outcome::Rejected | Outcome::Failed) => format!(": {reason}"),
        _ => format!(" ({} reports, {} new)", o.reports, o.new),
    };
    eprintln!("rampart: inbox: {}: {}{detail}", o.file, o.outcome);
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
