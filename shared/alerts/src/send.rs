//! Delivery: a [`Mailer`] sends the bytes [`crate::mail::build`] made, unchanged, with SES v2
//! `SendEmail` (`Raw`) on AWS or over SMTP on one machine; [`post_webhook`] sends an alert's
//! JSON, signed, to the owner's URL.

use std::future::Future;
use std::time::Duration;

use crate::webhook;

/// Why a send failed. Permanent failures name the address SES or the SMTP server refused,
/// which the caller suppresses; transient ones are tried again at the next run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("refused for good: {reason}")]
    Permanent {
        address: Option<String>,
        reason: String,
    },
    #[error("not sent, for now: {0}")]
    Transient(String),
}

pub trait Mailer: Send + Sync {
    /// Sends `raw` (a whole RFC 5322 message) from `from` to `to`.
    fn send(
        &self,
        from: &str,
        to: &[String],
        raw: &[u8],
    ) -> impl Future<Output = Result<(), SendError>> + Send;
}

/// No mailer configured: every send is a transient failure that says so, so alerts stay
/// pending (and visible) until one is.
pub struct Unconfigured;

impl Mailer for Unconfigured {
    async fn send(&self, _: &str, _: &[String], _: &[u8]) -> Result<(), SendError> {
        Err(SendError::Transient(
            "no mail transport is configured (RAMPART_ALERTS_FROM with SES, or --smtp)".into(),
        ))
    }
}

/// A mailer that may not be configured: without one, sends fail for now (and say why).
impl<M: Mailer> Mailer for Option<M> {
    async fn send(&self, from: &str, to: &[String], raw: &[u8]) -> Result<(), SendError> {
        match self {
            Some(m) => m.send(from, to, raw).await,
            None => Unconfigured.send(from, to, raw).await,
        }
    }
}

#[cfg(feature = "ses")]
pub use ses::Ses;

#[cfg(feature = "ses")]
mod ses {
    use super::*;
    use aws_sdk_sesv2::primitives::Blob;
    use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};

    /// SES v2 `SendEmail` with the raw message; bounces and complaints reach Rampart through
    /// the configuration set's event destination.
    pub struct Ses {
        pub client: aws_sdk_sesv2::Client,
        pub configuration_set: Option<String>,
    }

    impl Mailer for Ses {
        async fn send(&self, from: &str, to: &[String], raw: &[u8]) -> Result<(), SendError> {
            let message = RawMessage::builder()
                .data(Blob::new(raw))
                .build()
                .map_err(|e| SendError::Permanent {
                    address: None,
                    reason: e.to_string(),
                })?;
            let sent = self
                .client
                .send_email()
                .from_email_address(from)
                .destination(
                    Destination::builder()
                        .set_to_addresses(Some(to.to_vec()))
                        .build(),
                )
                .content(EmailContent::builder().raw(message).build())
                .set_configuration_set_name(self.configuration_set.clone())
                .send()
                .await;
            match sent {
                Ok(_) => Ok(()),
                Err(e) => {
                    let service = e.as_service_error();
                    let detail = aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string();
                    // Refusals of this message or sender; throttling and outages pass.
                    let permanent = service.is_some_and(|s| {
                        s.is_message_rejected()
                            || s.is_mail_from_domain_not_verified_exception()
                            || s.is_account_suspended_exception()
                            || s.is_sending_paused_exception()
                    });
                    if permanent {
                        Err(SendError::Permanent {
                            address: None,
                            reason: detail,
                        })
                    } else {
                        Err(SendError::Transient(detail))
                    }
                }
            }
        }
    }
}

#[cfg(feature = "smtp")]
pub use smtp::{Smtp, SmtpSecurity};

#[cfg(feature = "smtp")]
mod smtp {
    use super::*;
    use lettre::address::Envelope;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

    /// How the connection is protected.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SmtpSecurity {
        /// STARTTLS, required (`smtp://`, port 587 by default).
        StartTls,
        /// TLS from the first byte (`smtps://`, port 465).
        Tls,
        /// None: a relay on this machine only (`smtp+insecure://`).
        Plain,
    }

    /// An SMTP relay: the owner's submission server, or a local one.
    pub struct Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
    }

    impl Smtp {
        /// `ca_pem`: extra trust roots (a relay with a private CA, and tests).
        pub fn new(
            host: &str,
            port: u16,
            security: SmtpSecurity,
            credentials: Option<(String, String)>,
            ca_pem: Option<&[u8]>,
        ) -> Result<Smtp, String> {
            let tls = || -> Result<TlsParameters, String> {
                let mut params = TlsParameters::builder(host.to_string());
                if let Some(pem) = ca_pem {
                    params = params.add_root_certificate(
                        Certificate::from_pem(pem).map_err(|e| e.to_string())?,
                    );
                }
                params.build().map_err(|e| e.to_string())
            };
            let tls = match security {
                SmtpSecurity::StartTls => Tls::Required(tls()?),
                SmtpSecurity::Tls => Tls::Wrapper(tls()?),
                SmtpSecurity::Plain => Tls::None,
            };
            let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                .port(port)
                .tls(tls)
                .timeout(Some(Duration::from_secs(30)));
            if let Some((user, password)) = credentials {
                builder = builder.credentials(Credentials::new(user, password));
            }
            Ok(Smtp {
                transport: builder.build(),
            })
        }

        /// From `smtp://[user@]host[:port]` (STARTTLS required, port 587),
        /// `smtps://[user@]host[:port]` (TLS, port 465) or `smtp+insecure://host[:port]`
        /// (no TLS, port 25: a relay on this machine). The password is never in the URL.
        pub fn from_url(
            url: &str,
            password: Option<String>,
            ca_pem: Option<&[u8]>,
        ) -> Result<Smtp, String> {
            let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
            let (security, default_port) = match parsed.scheme() {
                "smtp" => (SmtpSecurity::StartTls, 587),
                "smtps" => (SmtpSecurity::Tls, 465),
                "smtp+insecure" => (SmtpSecurity::Plain, 25),
                other => {
                    return Err(format!(
                        "{url}: the scheme is smtp://, smtps:// or smtp+insecure://, not {other}://"
                    ));
                }
            };
            if parsed.password().is_some() {
                return Err(format!(
                    "{url}: put the password in a file (--smtp-password-file), not in the URL"
                ));
            }
            let host = parsed
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| format!("{url}: no host"))?;
            let credentials = match (parsed.username(), password) {
                ("", None) => None,
                ("", Some(_)) => return Err(format!("{url}: a password needs a user name")),
                (user, Some(password)) => Some((user.to_string(), password)),
                (user, None) => return Err(format!("{url}: the user {user} needs a password")),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            Smtp::new(
                host,
                parsed.port().unwrap_or(default_port),
                security,
                credentials,
                ca_pem,
            )
        }
    }

    impl Mailer for Smtp {
        async fn send(&self, from: &str, to: &[String], raw: &[u8]) -> Result<(), SendError> {
            let address = |a: &str| {
                // `Name <address>` or a bare address.
                let bare = a
                    .rsplit_once('<')
                    .and_then(|(_, r)| r.strip_suffix('>'))
                    .unwrap_or(a);
                bare.parse::<Address>().map_err(|e| SendError::Permanent {
                    address: Some(a.to_string()),
                    reason: e.to_string(),
                })
            };
            let recipients = to.iter().map(|t| address(t)).collect::<Result<_, _>>()?;
            let envelope = Envelope::new(Some(address(from)?), recipients).map_err(|e| {
                SendError::Permanent {
                    address: None,
                    reason: e.to_string(),
                }
            })?;
            match self.transport.send_raw(&envelope, raw).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent {
                    // One RCPT refused fails the transaction: with one recipient per
                    // mail (as Rampart sends), the address is that one.
                    address: (to.len() == 1).then(|| to[0].clone()),
                    reason: e.to_string(),
                }),
                Err(e) => Err(SendError::Transient(e.to_string())),
            }
        }
    }
}

/// Bounds of a webhook call: the receiver is the owner's, and may be slow or hostile.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs `body` (JSON) to `url`, signed with `secret` at `now`; a 2xx answer is delivery.
pub async fn post_webhook(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    body: &[u8],
    now: i64,
    reach: Reach,
) -> Result<(), SendError> {
    reachable(url, reach)?;
    let answer = client
        .post(url)
        .timeout(WEBHOOK_TIMEOUT)
        .header("content-type", "application/json")
        .header("user-agent", "Rampart alerts")
        .header(
            webhook::SIGNATURE_HEADER,
            webhook::sign(secret.as_bytes(), now, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| SendError::Transient(format!("{url}: {e}")))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else if status.is_client_error() && status.as_u16() != 429 {
        Err(SendError::Permanent {
            address: None,
            reason: format!("{url} answered {status}"),
        })
    } else {
        Err(SendError::Transient(format!("{url} answered {status}")))
    }
}

pub use rampart_checks::mta_sts::Reach;

/// The HTTP client for webhooks: no redirects (a receiver cannot bounce the signed body
/// elsewhere), and, on a server ([`Reach::PublicOnly`]), public addresses only, so an owner
/// cannot point Rampart at its own network.
pub fn webhook_client(reach: Reach) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if reach == Reach::PublicOnly {
        builder =
            builder.dns_resolver(std::sync::Arc::new(rampart_checks::mta_sts::PublicResolver));
    }
    builder.build().unwrap_or_default()
}

/// Refuses a URL whose host is an address outside `reach` (names are filtered when
/// resolved, by [`webhook_client`]).
pub fn reachable(url: &str, reach: Reach) -> Result<(), SendError> {
    let parsed = url::Url::parse(url).map_err(|e| SendError::Permanent {
        address: None,
        reason: format!("{url}: {e}"),
    })?;
    let literal = match parsed.host() {
        Some(url::Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
        _ => None,
    };
    match literal {
        Some(ip) if reach == Reach::PublicOnly && !rampart_checks::mta_sts::is_public(ip) => {
            Err(SendError::Permanent {
                address: None,
                reason: format!("{url}: {ip} is not a public address"),
            })
        }
        _ => Ok(()),
    }
}
