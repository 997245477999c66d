//! The one MIME message an alert or a digest becomes: text and HTML alternatives, encoded
//! so no line passes RFC 5322's 998 octets, marked as automatic (RFC 3834) so
//! auto-responders stay quiet. SES v2 (`Raw`) and SMTP send exactly these bytes.

use std::time::SystemTime;

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

/// The longest line RFC 5322 §2.1.1 allows, without its CRLF.
pub const MAX_LINE: usize = 998;

/// A mail to build.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// `Name <address>` or an address.
    pub from: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    /// Stable for the same notice, so a retried send is one mail to a receiver that
    /// de-duplicates: `<id@domain>`.
    pub message_id: String,
    pub date: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("the address {address:?} is not a valid mailbox: {reason}")]
    Address { address: String, reason: String },
    #[error("the mail could not be built: {0}")]
    Build(String),
    #[error("line {line} of the built mail is {length} octets, over {MAX_LINE}")]
    LongLine { line: usize, length: usize },
}

/// The mail as it goes on the wire.
pub fn build(mail: &Outgoing<'_>) -> Result<Vec<u8>, MailError> {
    let mailbox = |address: &str| {
        address.parse::<Mailbox>().map_err(|e| MailError::Address {
            address: address.to_string(),
            reason: e.to_string(),
        })
    };
    let mut builder = Message::builder()
        .from(mailbox(mail.from)?)
        .subject(mail.subject)
        .date(mail.date)
        .message_id(Some(mail.message_id.clone()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ))
        // Exchange's out-of-office and read receipts.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
            "All".into(),
        ));
    for to in mail.to {
        builder = builder.to(mailbox(to)?);
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(
            mail.text.to_string(),
            mail.html.to_string(),
        ))
        .map_err(|e| MailError::Build(e.to_string()))?;
    let bytes = message.formatted();
    // lettre encodes every body; this holds the headers (long subjects, many recipients)
    // to the same limit.
    if let Some((line, length)) = bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
        .enumerate()
        .find(|(_, len)| *len > MAX_LINE)
    {
        return Err(MailError::LongLine {
            line: line + 1,
            length,
        });
    }
    Ok(bytes)
}

/// `text` safe inside HTML text and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    #[test]
    fn text_and_html_survive_the_encoding_within_the_line_limit() {
        let text = format!("Übersicht für example.com\n{}\n", "x".repeat(5_000));
        let html = format!("<p>Übersicht</p><p>{}</p>", "y".repeat(5_000));
        let to = [
            "owner@example.com".to_string(),
            "Ops <ops@example.net>".to_string(),
        ];
        let bytes = build(&Outgoing {
            from: "Rampart <alerts@rampart.example>",
            to: &to,
            subject: "example.com: a new source sends mail failing DMARC – 120 messages",
            text: &text,
            html: &html,
            message_id: "<a1@rampart.example>".into(),
            date: SystemTime::UNIX_EPOCH,
        })
        .unwrap();
        assert!(bytes.split(|b| *b == b'\n').all(|l| l.len() <= 79));
        assert!(bytes.is_ascii());
        let parsed = MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(parsed.body_text(0).unwrap().replace("\r\n", "\n"), text);
        assert_eq!(parsed.body_html(0).unwrap(), html);
        assert_eq!(
            parsed.subject(),
            Some("example.com: a new source sends mail failing DMARC – 120 messages")
        );
        assert_eq!(parsed.message_id(), Some("a1@rampart.example"));
        assert_eq!(
            parsed.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-generated")
        );
        assert_eq!(parsed.to().unwrap().iter().count(), 2);
    }

    #[test]
    fn a_bad_address_is_named() {
        let err = build(&Outgoing {
            from: "alerts@rampart.example",
            to: &["not an address".to_string()],
            subject: "s",
            text: "t",
            html: "h",
            message_id: "<a@b>".into(),
            date: SystemTime::UNIX_EPOCH,
        })
        .unwrap_err();
        assert!(
            matches!(&err, MailError::Address { address, .. } if address == "not an address"),
            "{err}"
        );
    }
}
