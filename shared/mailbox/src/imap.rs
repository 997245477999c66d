//! One IMAP folder read without touching it: the mails that arrived since a checkpoint of
//! (UIDVALIDITY, last UID), raw bytes exactly as stored, at most so many per run.
//!
//! The folder is opened with `EXAMINE` (read-only) and read with `UID FETCH … BODY.PEEK[]`,
//! so the owner's `\Seen` flags stay as they were. A new UIDVALIDITY means the server
//! renumbered the folder: everything is read again, and report-level de-duplication makes
//! that safe. A mail over the size limit is not fetched; it is counted, and the checkpoint
//! moves past it.

use std::pin::Pin;

use rustls_pki_types::pem::PemObject;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::StreamExt;
use rampart_checks::mta_sts::resolve_within;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::Addresses;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (port 993).
    Tls,
    /// Plain, then `STARTTLS` before the login (port 143).
    StartTls,
    /// No TLS: a server on this machine only.
    Plain,
}

/// Where the mails are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: String,
    /// `INBOX`, or another folder's name.
    pub name: String,
}

/// The longest host name (RFC 1035), login and folder name a source may give.
const MAX_HOST: usize = 253;
const MAX_USER: usize = 320;
const MAX_FOLDER: usize = 255;

impl Folder {
    /// `imaps://host[:port]/Folder` (TLS, 993), `imap://…` (STARTTLS, 143) or
    /// `imap+insecure://…` (no TLS: a server on this machine). No folder: INBOX.
    pub fn from_url(url: &str, user: &str) -> Result<Folder, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("url {url:?} is not imaps://host/folder"))?;
        let (security, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "imaps" => (Security::Tls, 993),
            "imap" => (Security::StartTls, 143),
            "imap+insecure" => (Security::Plain, 143),
            other => {
                return Err(format!(
                    "url scheme {other:?}: use imaps, imap (STARTTLS) or imap+insecure"
                ));
            }
        };
        let (authority, folder) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(format!(
                "url {url:?}: give the user on its own, not in the url"
            ));
        }
        // An IPv6 address is bracketed: `[::1]:993`.
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed
                    .split_once(']')
                    .ok_or_else(|| format!("url {url:?}: no ] after the address"))?;
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
                .map_err(|e| format!("url {url:?}: port {port:?}: {e}"))?,
            None => default_port,
        };
        let folder = percent_decode(folder);
        let valid = |what: &str, text: &str, longest: usize| match text.len() {
            0 => Err(format!("{what} is empty")),
            n if n > longest => Err(format!("{what} is longer than {longest} bytes")),
            _ if text.chars().any(char::is_control) => {
                Err(format!("{what} holds a control character"))
            }
            _ => Ok(()),
        };
        valid("the url's host", host, MAX_HOST)?;
        valid("user", user, MAX_USER)?;
        if !folder.is_empty() {
            valid("the url's folder", &folder, MAX_FOLDER)?;
        }
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

/// How far a folder has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub uid_validity: u32,
    pub last_uid: u32,
}

/// What one run may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_mails: usize,
    pub max_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        // Rampart's input limit for one mail, and a run that ends in well under a minute.
        Limits {
            max_mails: 200,
            max_bytes: 40 * 1024 * 1024,
        }
    }
}

/// One mail as the server holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub uid: u32,
    pub raw: Vec<u8>,
}

/// What one run read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Oldest first.
    pub mails: Vec<Mail>,
    /// Where the next run starts: past every mail taken or skipped.
    pub checkpoint: Checkpoint,
    /// UIDs over [`Limits::max_bytes`], not fetched.
    pub too_large: Vec<u32>,
    /// Mails left for the next run (over [`Limits::max_mails`]).
    pub left: usize,
    /// The folder's UIDVALIDITY changed since the checkpoint: it was read from the start.
    pub renumbered: bool,
}

pub use crate::MailboxError;

fn protocol(what: &str, e: impl std::fmt::Display) -> MailboxError {
    MailboxError::Protocol(format!("{what}: {e}"))
}

/// The connection, plain or TLS: one type for async-imap's session.
#[derive(Debug)]
pub enum Connection {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_flush(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A logged-in session.
pub type Session = async_imap::Session<Connection>;

/// Trust for TLS: the system's roots, plus `extra_ca` (a private CA, and tests).
pub fn tls_config(extra_ca: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, MailboxError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system root rustls cannot read is one root less, not a failure.
        let _ = roots.add(cert);
    }
    if let Some(pem) = extra_ca {
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| protocol("the CA file", e))?;
            roots.add(cert).map_err(|e| protocol("the CA file", e))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| protocol("TLS", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects and logs in, to an address `addresses` allows. The password is only ever sent
/// to the server, and never without TLS to a server elsewhere.
pub async fn login(
    folder: &Folder,
    password: &str,
    tls: &Arc<rustls::ClientConfig>,
    addresses: Addresses,
) -> Result<Session, MailboxError> {
    if folder.security == Security::Plain && addresses == Addresses::PublicOnly {
        return Err(MailboxError::Protocol(format!(
            "{}: imap+insecure (no TLS) is for a server on the same machine; use imaps or imap \
             (STARTTLS)",
            folder.host
        )));
    }
    let unreachable = |source| MailboxError::Connect {
        host: folder.host.clone(),
        port: folder.port,
        source,
    };
    let targets = resolve_within(&folder.host, folder.port, addresses)
        .await
        .map_err(unreachable)?;
    let tcp = TcpStream::connect(&targets[..])
        .await
        .map_err(unreachable)?;
    let secure = |tcp: TcpStream| async {
        let name = rustls_pki_types::ServerName::try_from(folder.host.clone())
            .map_err(|e| protocol("the host name", e))?;
        TlsConnector::from(Arc::clone(tls))
            .connect(name, tcp)
            .await
            .map(|s| Connection::Tls(Box::new(s)))
            .map_err(|e| MailboxError::Tls(folder.host.clone(), e))
    };
    let mut client = match folder.security {
        Security::Tls => async_imap::Client::new(secure(tcp).await?),
        Security::Plain => async_imap::Client::new(Connection::Plain(tcp)),
        Security::StartTls => {
            let mut plain = async_imap::Client::new(Connection::Plain(tcp));
            greeting(&mut plain).await?;
            plain
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| protocol("STARTTLS", e))?;
            let Connection::Plain(tcp) = plain.into_inner() else {
                unreachable!("the connection was made plain above")
            };
            // No greeting after STARTTLS (RFC 3501 §6.2.1).
            let tls = async_imap::Client::new(secure(tcp).await?);
            return tls
                .login(&folder.user, password)
                .await
                .map_err(|(e, _)| MailboxError::Login(folder.user.clone(), e.to_string()));
        }
    };
    greeting(&mut client).await?;
    client
        .login(&folder.user, password)
        .await
        .map_err(|(e, _)| MailboxError::Login(folder.user.clone(), e.to_string()))
}

async fn greeting(client: &mut async_imap::Client<Connection>) -> Result<(), MailboxError> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(MailboxError::Protocol(
            "the server closed the connection before its greeting".into(),
        )),
        Err(e) => Err(protocol("the greeting", e)),
    }
}

/// How many mails the folder holds, and how many of them are past `since` (all of them
/// when the folder was renumbered). Opens it read-only and reads no mail.
pub async fn count(
    session: &mut Session,
    folder: &str,
    since: Option<Checkpoint>,
) -> Result<(u32, u32), MailboxError> {
    let mailbox = session
        .examine(folder)
        .await
        .map_err(|e| MailboxError::Folder(folder.to_owned(), e.to_string()))?;
    let after = since
        .filter(|c| Some(c.uid_validity) == mailbox.uid_validity)
        .map_or(0, |c| c.last_uid);
    let new = session
        .uid_search(format!("UID {}:*", after.saturating_add(1)))
        .await
        .map_err(|e| protocol("UID SEARCH", e))?
        .into_iter()
        .filter(|uid| *uid > after)
        .count();
    Ok((mailbox.exists, u32::try_from(new).unwrap_or(u32::MAX)))
}

/// Reads what arrived in the folder since `since`, within `limits`. The folder is left as it
/// was: read-only, no flag changed.
pub async fn fetch_new(
    session: &mut Session,
    folder: &str,
    since: Option<Checkpoint>,
    limits: Limits,
) -> Result<Fetched, MailboxError> {
    let mailbox = session
        .examine(folder)
        .await
        .map_err(|e| MailboxError::Folder(folder.to_owned(), e.to_string()))?;
    let uid_validity = mailbox.uid_validity.ok_or_else(|| {
        MailboxError::Folder(folder.to_owned(), "the server gives no UIDVALIDITY".into())
    })?;
    let renumbered = since.is_some_and(|c| c.uid_validity != uid_validity);
    let after = since
        .filter(|c| c.uid_validity == uid_validity)
        .map_or(0, |c| c.last_uid);
    let mut checkpoint = Checkpoint {
        uid_validity,
        last_uid: after,
    };
    // "n:*" always names the folder's last mail, even below n (RFC 3501 §6.4.8): filtered.
    let mut uids: Vec<u32> = session
        .uid_search(format!("UID {}:*", after.saturating_add(1)))
        .await
        .map_err(|e| protocol("UID SEARCH", e))?
        .into_iter()
        .filter(|uid| *uid > after)
        .collect();
    uids.sort_unstable();
    let left = uids.len().saturating_sub(limits.max_mails);
    uids.truncate(limits.max_mails);
    let Some(&last) = uids.last() else {
        return Ok(Fetched {
            mails: Vec::new(),
            checkpoint,
            too_large: Vec::new(),
            left: 0,
            renumbered,
        });
    };
    let set = uid_set(&uids);
    let mut sizes: Vec<(u32, u32)> = Vec::with_capacity(uids.len());
    {
        let mut stream = session
            .uid_fetch(&set, "RFC822.SIZE")
            .await
            .map_err(|e| protocol("UID FETCH RFC822.SIZE", e))?;
        while let Some(fetch) = stream.next().await {
            let fetch = fetch.map_err(|e| protocol("UID FETCH RFC822.SIZE", e))?;
            if let (Some(uid), Some(size)) = (fetch.uid, fetch.size) {
                sizes.push((uid, size));
            }
        }
    }
    sizes.sort_unstable();
    let (wanted, too_large): (Vec<_>, Vec<_>) = sizes
        .into_iter()
        .partition(|(_, size)| *size <= limits.max_bytes);
    let mut mails = Vec::with_capacity(wanted.len());
    for (uid, _) in wanted {
        let mut stream = session
            .uid_fetch(uid.to_string(), "BODY.PEEK[]")
            .await
            .map_err(|e| protocol("UID FETCH BODY.PEEK[]", e))?;
        while let Some(fetch) = stream.next().await {
            let fetch = fetch.map_err(|e| protocol("UID FETCH BODY.PEEK[]", e))?;
            if fetch.uid == Some(uid)
                && let Some(body) = fetch.body()
            {
                mails.push(Mail {
                    uid,
                    raw: body.to_vec(),
                });
            }
        }
    }
    checkpoint.last_uid = last;
    Ok(Fetched {
        mails,
        checkpoint,
        too_large: too_large.into_iter().map(|(uid, _)| uid).collect(),
        left,
        renumbered,
    })
}

/// Moves the mails of `uids` from `folder` to `to` (created if missing): `UID MOVE` where
/// the server has it (RFC 6851), else a copy and the originals flagged `\Deleted`, expunged
/// by UID where the server can (RFC 4315), so no mail the owner deleted is expunged.
pub async fn move_mails(
    session: &mut Session,
    folder: &str,
    uids: &[u32],
    to: &str,
) -> Result<(), MailboxError> {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    let set = uid_set(&sorted);
    // Most servers answer NO when it exists already: the move below says what matters.
    let _ = session.create(to).await;
    let capabilities = session
        .capabilities()
        .await
        .map_err(|e| protocol("CAPABILITY", e))?;
    session
        .select(folder)
        .await
        .map_err(|e| MailboxError::Folder(folder.to_owned(), e.to_string()))?;
    let moved = if capabilities.has_str("MOVE") {
        session.uid_mv(&set, to).await
    } else {
        let copied = session.uid_copy(&set, to).await;
        match copied {
            Ok(()) => {
                let flagged: Result<Vec<_>, _> = session
                    .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                    .await
                    .map_err(|e| protocol("UID STORE", e))?
                    .collect::<Vec<_>>()
                    .await
                    .into_iter()
                    .collect();
                flagged.map_err(|e| protocol("UID STORE", e))?;
                if capabilities.has_str("UIDPLUS") {
                    let expunged: Vec<_> = session
                        .uid_expunge(&set)
                        .await
                        .map_err(|e| protocol("UID EXPUNGE", e))?
                        .collect()
                        .await;
                    drop(expunged);
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    };
    moved.map_err(|e| MailboxError::Folder(to.to_owned(), format!("moving mails: {e}")))
}

/// Logs in, opens the folder read-only and waits in IDLE (RFC 2177) until the server says
/// something changed or `longest` passed; at once if mail past `since` is there already.
/// `Ok(true)`: something changed.
pub async fn idle(
    folder: &Folder,
    password: &str,
    tls: &Arc<rustls::ClientConfig>,
    addresses: Addresses,
    since: Option<Checkpoint>,
    longest: std::time::Duration,
) -> Result<bool, MailboxError> {
    let mut session = login(folder, password, tls, addresses).await?;
    let capabilities = session
        .capabilities()
        .await
        .map_err(|e| protocol("CAPABILITY", e))?;
    if !capabilities.has_str("IDLE") {
        return Err(MailboxError::Protocol("the server has no IDLE".into()));
    }
    // What arrived between the last run and now is in the folder already: IDLE only tells
    // of what comes after it starts.
    let (_, waiting) = count(&mut session, &folder.name, since).await?;
    if waiting > 0 {
        let _ = session.logout().await;
        return Ok(true);
    }
    let mut handle = session.idle();
    handle.init().await.map_err(|e| protocol("IDLE", e))?;
    let (wait, _stop) = handle.wait_with_timeout(longest);
    let changed = matches!(
        wait.await.map_err(|e| protocol("IDLE", e))?,
        async_imap::extensions::idle::IdleResponse::NewData(_)
    );
    let mut session = handle.done().await.map_err(|e| protocol("DONE", e))?;
    let _ = session.logout().await;
    Ok(changed)
}

/// `1,3:5,9` for the sorted UIDs `[1, 3, 4, 5, 9]`: one command however many.
fn uid_set(sorted: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end.saturating_add(1) {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_security_port_and_folder() {
        let f = Folder::from_url("imaps://imap.example.com/INBOX", "u").unwrap();
        assert_eq!(
            (f.security, f.host.as_str(), f.port, f.name.as_str()),
            (Security::Tls, "imap.example.com", 993, "INBOX")
        );
        let f = Folder::from_url("imap://[::1]:1143/DMARC%20Reports", "u").unwrap();
        assert_eq!(
            (f.security, f.host.as_str(), f.port, f.name.as_str()),
            (Security::StartTls, "::1", 1143, "DMARC Reports")
        );
        let f = Folder::from_url("imap+insecure://127.0.0.1:2143", "u").unwrap();
        assert_eq!(
            (f.security, f.port, f.name.as_str()),
            (Security::Plain, 2143, "INBOX")
        );
        let f = Folder::from_url("imaps://[2001:db8::1]", "u").unwrap();
        assert_eq!((f.host.as_str(), f.port), ("2001:db8::1", 993));
        let f = Folder::from_url("imap+insecure://127.0.0.1:2143", "u").unwrap();
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
            "imaps://x/a%0Db",
        ] {
            assert!(Folder::from_url(bad, "u").is_err(), "{bad}");
        }
    }

    #[test]
    fn uid_sets_are_ranges() {
        assert_eq!(uid_set(&[1, 3, 4, 5, 9]), "1,3:5,9");
        assert_eq!(uid_set(&[7]), "7");
        assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
    }
}
