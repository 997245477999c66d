//! `rampart serve`: the REST API on this machine, over the local store (or DynamoDB + S3).
//!
//! It fills an empty store with the bundled sample reports (or ingests and then watches an
//! inbox folder), binds the listener, prints the URL and serves the same Router that the
//! query Lambda runs. With `--mta-sts-listen` it also serves hosted MTA-STS policies, as the
//! mta-sts Lambda does, and publishes their ids in a zone file (the local Route 53).

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use axum::http::HeaderName;
use rampart_alerts::send::{Reach, Smtp, webhook_client};
use rampart_api::edge::{
    Access, BearerCheck, Caller, OidcClient, SignIn, SignInMethod, with_request_timeout,
};
use rampart_api::policy_host::{self, PolicyHost};
use rampart_api::rest::{Api, MAX_UPLOAD_BYTES, router, system_now};
use rampart_checks::Checker;
use rampart_ingest::{Ingest, UploadRefusal};
use rampart_mailbox::Addresses;
use rampart_mailbox::intake::Network;
use rampart_mailbox::secrets::{SecretFiles, SecretStore};
use rampart_mta_sts::{Timing, ZoneFile, settle_all};
use rampart_oidc::Verifier;
use rampart_query::alerting::{self, Outbox};
use rampart_query::checks::run_due;
use rampart_query::digest;
use rampart_query::domains::Endpoints;
use rampart_query::mailboxes;
use rampart_store::{Outcome, RawKey, Store};

use crate::backend::{Backend, StoreArgs};
use crate::enrich::EnrichArgs;
use crate::files::collect_files;
use crate::ingest::{AcceptArgs, InputOutcome, ingest_file};
use crate::listen::{self, tls_acceptor};
use crate::mailbox;

/// Real reports from the fixture corpus, bundled at build time (see `build.rs`).
const SAMPLES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/samples.rs"));

/// How often the inbox is looked at; a file is read once it is unchanged for one interval.
const INBOX_POLL: Duration = Duration::from_secs(2);
/// How often DNS checks look for domains due (a changed policy, a day since the last run).
const CHECK_POLL: Duration = Duration::from_secs(30);

/// No response carries more than this of a raw message.
const MAX_RAW_BYTES: u64 = 64 << 20;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on. Anything but a loopback address needs a token
    /// (RAMPART_TOKEN or --token-file) and TLS (--tls-cert, or --insecure-http behind a proxy).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A folder of report mails and files: ingested at start, then watched for new files.
    /// Without it, an empty store gets the bundled sample reports.
    #[arg(long, value_name = "DIR")]
    inbox: Option<PathBuf>,
    /// Read report mails from the IMAP folders of this mailbox file (TOML, see the README):
    /// all new mail at start, then each mail as it arrives (IMAP IDLE).
    #[arg(long, value_name = "FILE")]
    mailbox: Option<PathBuf>,
    /// Require `Authorization: Bearer <TOKEN>` on every request. Prefer RAMPART_TOKEN or
    /// --token-file: other users of the machine can read a command line.
    #[arg(
        long,
        env = "RAMPART_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    token: Option<String>,
    /// Read the token from this file (its first line; surrounding white space ignored).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Sign people in to the dashboard with this OpenID Connect issuer: its discovery
    /// document and keys are fetched at start, and its tokens accepted beside the API token.
    #[arg(
        long,
        env = "RAMPART_OIDC_ISSUER",
        value_name = "URL",
        requires = "oidc_audience"
    )]
    oidc_issuer: Option<String>,
    /// The dashboard's client id at the issuer (a public client, no secret): tokens must
    /// name it in `aud` (or, for Cognito access tokens, `client_id`).
    #[arg(
        long,
        env = "RAMPART_OIDC_AUDIENCE",
        value_name = "CLIENT_ID",
        requires = "oidc_issuer"
    )]
    oidc_audience: Option<String>,
    /// The scopes the dashboard asks the issuer for (space-separated); add the one that
    /// puts groups in the ID token where the issuer needs it (`groups`, `roles`).
    #[arg(
        long,
        env = "RAMPART_OIDC_SCOPE",
        default_value = "openid email profile"
    )]
    oidc_scope: String,
    /// Serve the token over plain HTTP beyond loopback: only behind a proxy that ends TLS.
    #[arg(long)]
    insecure_http: bool,
    /// Connections served at once, on each listener; more wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_connections: usize,
    /// Seconds a client has to send a request's headers, on a new or kept-alive connection.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    header_timeout: u64,
    /// Seconds one request may take, its body included; then `503 timeout`.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    request_timeout: u64,
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
    /// Also serve hosted MTA-STS policies (`/.well-known/mta-sts.txt`) on this address, for
    /// the domain named by the Host header (`mta-sts.<domain>`).
    #[arg(long, value_name = "ADDR:PORT")]
    mta_sts_listen: Option<SocketAddr>,
    /// The DNS zone where policy ids are published; `_mta-sts.<domain>` is a CNAME to
    /// `<domain>._mta-sts.<zone>` [default: the inbound address's domain].
    #[arg(long, env = "RAMPART_POLICY_ZONE")]
    policy_zone: Option<String>,
    /// The zone file the policy ids are written to, for `$INCLUDE` in that zone's DNS
    /// server [default: mta-sts.zone in the data folder].
    #[arg(long, value_name = "FILE")]
    zone_file: Option<PathBuf>,
    /// How long caches may keep a policy file (`Cache-Control: max-age`); a new policy id
    /// is published this long after its policy is first served (RFC 8461 section 8.1).
    #[arg(long, env = "RAMPART_POLICY_CACHE_SECONDS", default_value_t = 60)]
    policy_cache_seconds: u64,
    /// Serve HTTPS with this PEM certificate chain (both listeners); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Mail alerts and weekly digests through this relay: `smtp://[user@]host[:port]`
    /// (STARTTLS required), `smtps://…` (TLS) or `smtp+insecure://…` (a relay on this
    /// machine). Without it alerts are kept and shown, not mailed.
    #[arg(
        long,
        env = "RAMPART_SMTP",
        value_name = "URL",
        requires = "alerts_from"
    )]
    smtp: Option<String>,
    /// The SMTP password, read from this file (its first line).
    #[arg(long, value_name = "FILE", requires = "smtp")]
    smtp_password_file: Option<PathBuf>,
    /// Trust this PEM CA for the SMTP relay's certificate, beside the system's.
    #[arg(long, value_name = "PEM", requires = "smtp")]
    smtp_ca_file: Option<PathBuf>,
    /// The sender of alerts and digests: `Rampart <alerts@example.com>`.
    #[arg(long, env = "RAMPART_ALERTS_FROM", value_name = "ADDRESS")]
    alerts_from: Option<String>,
    /// The dashboard's public address, for the links in mails [default: the API's].
    #[arg(long, env = "RAMPART_DASHBOARD_URL", value_name = "URL")]
    dashboard_url: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    enrich: EnrichArgs,
    #[command(flatten)]
    accept: AcceptArgs,
}

impl ServeArgs {
    /// The SMTP relay of --smtp, with its password file and CA; `None` without one.
    fn mailer(&self) -> anyhow::Result<Option<Smtp>> {
        let Some(url) = &self.smtp else {
            return Ok(None);
        };
        let password = match &self.smtp_password_file {
            Some(file) => Some(first_line(file, "the SMTP password file")?),
            None => None,
        };
        let ca = match &self.smtp_ca_file {
            Some(file) => Some(
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?,
            ),
            None => None,
        };
        let smtp = Smtp::from_url(url, password, ca.as_deref())
            .map_err(|e| anyhow::anyhow!("--smtp: {e}"))?;
        Ok(Some(smtp))
    }

    /// The API token: RAMPART_TOKEN or --token, or the first line of --token-file.
    fn token(&self) -> anyhow::Result<Option<String>> {
        let Some(file) = &self.token_file else {
            return Ok(self.token.clone());
        };
        Ok(Some(first_line(file, "the token file")?))
    }

    /// Who may call the API: the API token, and people signed in with --oidc-issuer.
    async fn access(&self) -> anyhow::Result<Access> {
        let token = self.token()?;
        let (Some(issuer), Some(audience)) = (&self.oidc_issuer, &self.oidc_audience) else {
            let method = match token {
                Some(_) => SignInMethod::Token,
                None => SignInMethod::None,
            };
            return Ok(Access {
                token,
                bearer: None,
                sign_in: SignIn { method, oidc: None },
            });
        };
        let (verifier, discovery) = Verifier::discover(issuer, audience)
            .await
            .with_context(|| format!("--oidc-issuer {issuer}"))?;
        let keys = verifier
            .load_keys()
            .await
            .with_context(|| format!("--oidc-issuer {issuer}: the signing keys"))?;
        anyhow::ensure!(
            keys > 0,
            "--oidc-issuer {issuer}: {} lists no signing key Rampart can use",
            discovery.jwks_uri
        );
        let client = OidcClient {
            issuer: issuer.clone(),
            client_id: audience.clone(),
            scope: self.oidc_scope.clone(),
            authorization_endpoint: Some(discovery.authorization_endpoint),
            token_endpoint: Some(discovery.token_endpoint),
            end_session_endpoint: discovery.end_session_endpoint,
        };
        Ok(Access {
            token,
            bearer: Some(Arc::new(OidcBearer(verifier))),
            sign_in: SignIn {
                method: SignInMethod::Oidc,
                oidc: Some(client),
            },
        })
    }

    fn listen_limits(&self) -> listen::Limits {
        listen::Limits {
            max_connections: self.max_connections.max(1),
            header_timeout: Duration::from_secs(self.header_timeout.max(1)),
        }
    }
}

/// People's tokens, checked by the issuer's keys; the caller is read from the claims.
struct OidcBearer(Verifier);

impl BearerCheck for OidcBearer {
    fn check<'a>(
        &'a self,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Caller, String>> + Send + 'a>> {
        Box::pin(async move {
            match self.0.verify(token).await {
                Ok(claims) => Ok(Caller::from_claims(&claims)),
                Err(refusal) => {
                    tracing::info!(issuer = self.0.issuer(), "bearer token refused: {refusal}");
                    Err(refusal.to_string())
                }
            }
        })
    }
}

pub async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let signed_in = args.token.is_some() || args.token_file.is_some() || args.oidc_issuer.is_some();
    let beyond_loopback = !args.listen.ip().is_loopback();
    if beyond_loopback && !signed_in {
        anyhow::bail!(
            "listening on {} would show every report to the network; set RAMPART_TOKEN (or \
             pass --token-file) or --oidc-issuer, or listen on 127.0.0.1",
            args.listen
        );
    }
    if beyond_loopback && args.tls_cert.is_none() && !args.insecure_http {
        anyhow::bail!(
            "listening on {} over plain HTTP would send the token in clear; pass --tls-cert \
             and --tls-key, or --insecure-http when a proxy in front ends TLS",
            args.listen
        );
    }
    match args.store.open().await? {
        Backend::Local(store) => {
            if args.inbox.is_none() && args.mailbox.is_none() && is_empty(&store).await? {
                let enricher = args.enrich.enricher()?;
                let ingest =
                    Ingest::new(&store, &enricher).accept(args.accept.for_store(&args.store));
                let counts = ingest_samples(&ingest).await;
                eprintln!("rampart: the store was empty; ingested the bundled samples: {counts}");
            }
            run(store, args).await
        }
        // A real table is never filled with samples.
        Backend::Aws(store) => run(store, args).await,
    }
}

async fn run<S: Store + 'static>(store: S, args: &ServeArgs) -> anyhow::Result<()> {
    let enricher = Arc::new(args.enrich.enricher()?);
    let accept = args.accept.for_store(&args.store);
    if let Some(inbox) = &args.inbox {
        anyhow::ensure!(
            inbox.is_dir(),
            "the inbox {} is not a folder",
            inbox.display()
        );
    }
    let mailboxes = match &args.mailbox {
        Some(file) => mailbox::read_file(file)?,
        None => Vec::new(),
    };
    let endpoints = Endpoints::new(
        args.inbound_address.clone(),
        args.tlsrpt_url.clone(),
        args.mta_sts_host.clone(),
        args.policy_zone.clone(),
    );
    let timing = Timing {
        cache_seconds: args.policy_cache_seconds,
        ..Timing::default()
    };
    let zone_file = match &args.zone_file {
        Some(file) => file.clone(),
        None => args.store.data_dir()?.join("mta-sts.zone"),
    };
    let zone = ZoneFile::new(&endpoints.policy_zone, &zone_file);
    let access = args.access().await?;
    let store = Arc::new(store);
    let checker = args.enrich.checker()?.map(Arc::new);
    // Sources added through the API: secrets in a private folder beside the data; their
    // servers reached only where the API may use the network (not RAMPART_RESOLVER=off).
    let secrets_dir = args.store.data_dir()?.join("mailbox-secrets");
    let network = match checker {
        Some(_) => Some(Network::new(None, Addresses::Any)?),
        None => None,
    };
    let api = Arc::new(Api {
        store: Arc::clone(&store),
        endpoints,
        max_raw_bytes: MAX_RAW_BYTES,
        max_upload_bytes: MAX_UPLOAD_BYTES,
        timing,
        access,
        accept,
        on_refused_upload: log_refusal,
        now: system_now,
        checker: checker.clone(),
        mailboxes: Some(mailboxes::Access {
            secrets: SecretStore::Files(SecretFiles {
                dir: secrets_dir.clone(),
            }),
            network: network.clone(),
        }),
    });
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let url = format!("{scheme}://{}", listener.local_addr()?);
    let policy_listener = match args.mta_sts_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for MTA-STS"))?,
        ),
        None => None,
    };
    if let Some(inbox) = &args.inbox {
        let (api, inbox, prefix) = (
            Arc::clone(&api),
            inbox.clone(),
            args.store.raw_prefix().to_owned(),
        );
        let enricher = Arc::clone(&enricher);
        tokio::spawn(async move {
            let ingest = Ingest::new(&api.store, &enricher).accept(accept);
            watch_inbox(&ingest, &inbox, &prefix).await
        });
    }
    mailbox::register(&*store, &mailboxes).await?;
    {
        let parts = mailbox::IngestParts {
            enricher: args.enrich.enricher()?,
            accept,
            raw_prefix: args.store.raw_prefix().to_owned(),
        };
        let api_sources = network.map(|network| mailbox::ApiSources {
            secrets: SecretFiles { dir: secrets_dir },
            network,
        });
        mailbox::watch(Arc::clone(&store), Arc::new(parts), mailboxes, api_sources);
    }
    {
        let (api, enricher) = (Arc::clone(&api), Arc::clone(&enricher));
        tokio::spawn(async move {
            let ingest = Ingest::new(&api.store, &enricher).accept(accept);
            background(&ingest, &zone, timing).await
        });
    }
    {
        let mailer = args.mailer()?;
        let outbox = Outbox {
            mailer,
            from: args.alerts_from.clone(),
            dashboard: Some(args.dashboard_url.clone().unwrap_or_else(|| url.clone())),
            // One machine, one owner: the webhook goes where its owner points it.
            webhooks: webhook_client(Reach::Any),
            reach: Reach::Any,
        };
        let api = Arc::clone(&api);
        tokio::spawn(
            async move { alert(&api.store, &outbox, &api.endpoints.inbound_address).await },
        );
    }
    if api.checker.is_some() {
        let api = Arc::clone(&api);
        tokio::spawn(async move {
            if let Some(checker) = &api.checker {
                check_dns(&api.store, checker, &api.endpoints).await
            }
        });
    }
    let limits = args.listen_limits();
    let request_timeout = Duration::from_secs(args.request_timeout.max(1));
    // One write: a reader that takes the first line and closes the pipe (a test, `head`)
    // must not make a later line fail and stop the server.
    let mut banner = format!(
        "Rampart API: {url}/v1/domains  (OpenAPI: {url}/openapi.json)\n\
         Rampart dashboard: {url}/  (open it in a browser)\n"
    );
    if let Some(client) = &api.access.sign_in.oidc {
        banner.push_str(&format!(
            "Sign-in: {} (client {}; register {url}/ui/ as its redirect URI)\n",
            client.issuer, client.client_id
        ));
    }
    if let Some(listener) = &policy_listener {
        banner.push_str(&format!(
            "MTA-STS policies: {scheme}://{}/.well-known/mta-sts.txt  (ids in {})\n",
            listener.local_addr()?,
            zone_file.display()
        ));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(banner.as_bytes())?;
    out.flush()?;
    drop(out);
    let policies: std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> =
        match policy_listener {
            Some(listener) => {
                let host = Arc::new(PolicyHost {
                    store,
                    host_header: HeaderName::from_static("host"),
                    timing,
                    now: system_now,
                });
                Box::pin(listen::serve(
                    listener,
                    tls.clone(),
                    with_request_timeout(policy_host::router(host), request_timeout),
                    limits,
                ))
            }
            None => Box::pin(std::future::pending()),
        };
    tokio::select! {
        served = listen::serve(listener, tls, with_request_timeout(router(api), request_timeout), limits) => {
            served.context("serving the API")
        }
        served = policies => served.context("serving MTA-STS policies"),
        () = shutdown() => Ok(()),
    }
}

/// What the scheduled Lambda does on AWS, every poll interval: ingests the mail held for
/// domains registered since, then publishes due policy ids in the zone file.
async fn background<S: Store>(ingest: &Ingest<'_, S>, zone: &ZoneFile, timing: Timing) {
    loop {
        match ingest.release_held(system_now(), None).await {
            Ok(released) if !released.outcomes.is_empty() => {
                eprintln!(
                    "rampart: ingested mail held for {}: {:?}",
                    released.domains.join(", "),
                    released.outcomes
                );
            }
            Ok(_) => {}
            Err(e) => eprintln!("rampart: ingesting held mail: {e}"),
        }
        match settle_all(ingest.store, zone, system_now(), timing).await {
            Ok(settled) => {
                for (domain, why) in settled.failed {
                    eprintln!("rampart: publishing the MTA-STS policy id of {domain}: {why}");
                }
            }
            Err(e) => eprintln!("rampart: publishing MTA-STS policy ids: {e}"),
        }
        tokio::time::sleep(INBOX_POLL).await;
    }
}

/// What the scheduled Lambda also does on AWS, here in a loop of its own so that slow DNS
/// never delays held mail: checks the records of domains whose policy changed and of those
/// not checked for a day.
async fn check_dns<S: Store>(store: &S, checker: &Checker, endpoints: &Endpoints) {
    loop {
        match run_due(store, checker, endpoints, system_now()).await {
            Ok(ran) => {
                for (domain, why) in ran.failed {
                    eprintln!("rampart: checking the DNS records of {domain}: {why}");
                }
            }
            Err(e) => eprintln!("rampart: checking DNS records: {e}"),
        }
        tokio::time::sleep(CHECK_POLL).await;
    }
}

/// What the scheduled Lambda also does on AWS: evaluates the alerts that are due (domains a
/// report or a check asked for, every domain once an hour) and sends the week's digests.
async fn alert<S: Store>(store: &S, outbox: &Outbox<Option<Smtp>>, inbound: &str) {
    loop {
        match alerting::run_due(store, outbox, system_now()).await {
            Ok(ran) => {
                for (domain, why) in ran.failed {
                    eprintln!("rampart: evaluating the alerts of {domain}: {why}");
                }
            }
            Err(e) => eprintln!("rampart: evaluating alerts: {e}"),
        }
        match digest::send_digests(store, outbox, inbound, system_now()).await {
            Ok(sent) => {
                for (scope, why) in sent.failed {
                    eprintln!("rampart: sending the weekly digest of {scope}: {why}");
                }
            }
            Err(e) => eprintln!("rampart: sending weekly digests: {e}"),
        }
        tokio::time::sleep(CHECK_POLL).await;
    }
}

/// The first line of a secret's file (surrounding white space ignored), never empty;
/// `what` names the file in errors ("the token file").
fn first_line(file: &Path, what: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{}: cannot read {what}", file.display()))?;
    let line = text.lines().next().unwrap_or("").trim();
    anyhow::ensure!(!line.is_empty(), "{}: {what} is empty", file.display());
    Ok(line.to_owned())
}

/// A refused upload is not kept: it is logged.
fn log_refusal(refusal: &UploadRefusal) {
    eprintln!(
        "rampart: refused a TLS report upload ({}): {refusal}",
        refusal.code()
    );
}

async fn is_empty<S: Store>(store: &S) -> anyhow::Result<bool> {
    Ok(store.domains(None, 1).await?.is_empty() && store.raw_keys().await?.is_empty())
}

async fn ingest_samples<S: Store>(ingest: &Ingest<'_, S>) -> String {
    let mut counts: HashMap<Outcome, usize> = HashMap::new();
    for (name, bytes) in SAMPLES {
        let key = RawKey::for_content(bytes);
        let done = ingest.keep(&key, bytes, system_now()).await;
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
async fn watch_inbox<S: Store>(ingest: &Ingest<'_, S>, inbox: &Path, prefix: &str) {
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
            match ingest_file(ingest, &file, prefix).await {
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
