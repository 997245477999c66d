//! Mailbox intake: report mails pulled from the owner's own mailboxes (an IMAP folder, a
//! Microsoft 365 folder through Graph) for those whose `rua` address is not Rampart's SES.
//! [`imap`] and [`graph`] read a folder without changing it; [`intake`] runs a stored
//! [`source::Source`]: each mail kept by the same path as SES intake, then the checkpoint
//! moved past it.

pub mod graph;
pub mod imap;
pub mod intake;
pub mod secrets;
pub mod source;

/// Which addresses a source's server may have: on a server (AWS) `PublicOnly`, so whoever
/// adds a source cannot point Rampart at the network it runs in; on one machine `Any`.
pub use rampart_checks::mta_sts::Reach as Addresses;

/// Why reading a mailbox failed; each names the host, user or folder concerned.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("{host}:{port}: cannot connect: {source}")]
    Connect {
        host: String,
        port: u16,
        source: std::io::Error,
    },
    #[error("{0}: the TLS handshake failed: {1}")]
    Tls(String, std::io::Error),
    #[error("{0}: the login was refused: {1}")]
    Login(String, String),
    #[error("folder {0:?}: {1}")]
    Folder(String, String),
    #[error("{0}")]
    Protocol(String),
    #[error("the answer is over its size limit")]
    TooLarge,
}
