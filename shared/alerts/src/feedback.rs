//! SES sending events: which addresses a bounce or a complaint says never to mail again.
//!
//! SES publishes a configuration set's events to EventBridge (the `detail` of an
//! `aws.ses` event) and to SNS (the message body) as the same record: `eventType` (or
//! `notificationType` for an identity's own notifications), `mail`, and `bounce` or
//! `complaint`. A hard bounce and a spam complaint suppress their recipients; a soft bounce
//! (SES already retried it), an undetermined one and a "not spam" report do not. The event
//! is a stranger's words relayed by SES, so every list and text in it is bounded.

use serde_json::Value;

/// SES sends one message to at most 50 recipients; more is not SES's doing.
pub const MAX_RECIPIENTS: usize = 50;
/// How much of what the receiving server said is kept with the suppression.
pub const MAX_REASON_CHARS: usize = 200;
/// RFC 5321's longest forward path.
const MAX_ADDRESS_BYTES: usize = 254;

/// What one sending event asks of Rampart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feedback {
    /// Never mail these addresses again. `skipped` counts recipients over
    /// [`MAX_RECIPIENTS`] and entries that are no address.
    Suppress {
        refused: Vec<Refusal>,
        skipped: usize,
    },
    /// Nothing to do, and why.
    Ignore(String),
}

/// One address refused for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Lower-case.
    pub address: String,
    /// `bounce: …` or `complaint: …`, with what the receiving side said.
    pub reason: String,
}

/// Reads one SES event record. With `configuration_set`, an event of another set (or of
/// none) is ignored: it is not about Rampart's mail.
pub fn read(event: &Value, configuration_set: Option<&str>) -> Feedback {
    if let Some(expected) = configuration_set {
        let named = event["mail"]["tags"]["ses:configuration-set"][0].as_str();
        if named != Some(expected) {
            return Feedback::Ignore(format!(
                "not from the configuration set {expected:?}: {}",
                named.map_or("none".to_owned(), |n| format!("{:?}", cut(n, 64)))
            ));
        }
    }
    let kind = event["eventType"]
        .as_str()
        .or_else(|| event["notificationType"].as_str())
        .unwrap_or("");
    match kind {
        "Bounce" => bounce(&event["bounce"]),
        "Complaint" => complaint(&event["complaint"]),
        "" => Feedback::Ignore("not an SES sending event".to_owned()),
        other => Feedback::Ignore(format!("{} event", cut(other, 32))),
    }
}

fn bounce(bounce: &Value) -> Feedback {
    let kind = bounce["bounceType"].as_str().unwrap_or("");
    if kind != "Permanent" {
        // Transient: SES gave up after retrying a full mailbox or a down server, which may
        // mend; Undetermined: SES could not tell. Neither says the address is gone.
        return Feedback::Ignore(format!("{} bounce", or_unknown(kind, "untyped")));
    }
    let subtype = or_unknown(bounce["bounceSubType"].as_str().unwrap_or(""), "General");
    refusals(&bounce["bouncedRecipients"], |recipient| {
        let said = recipient["diagnosticCode"]
            .as_str()
            .or_else(|| recipient["status"].as_str())
            .unwrap_or("no diagnostic");
        format!("bounce: {subtype}: {said}")
    })
}

fn complaint(complaint: &Value) -> Feedback {
    let kind = complaint["complaintFeedbackType"].as_str().unwrap_or("");
    if kind == "not-spam" {
        return Feedback::Ignore("a \"not spam\" report".to_owned());
    }
    let kind = or_unknown(kind, "unspecified");
    refusals(&complaint["complainedRecipients"], |_| {
        format!("complaint: {kind}")
    })
}

fn refusals(recipients: &Value, reason: impl Fn(&Value) -> String) -> Feedback {
    let recipients = recipients.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut refused: Vec<Refusal> = Vec::new();
    let mut skipped = recipients.len().saturating_sub(MAX_RECIPIENTS);
    for recipient in recipients.iter().take(MAX_RECIPIENTS) {
        let Some(address) = recipient["emailAddress"].as_str().and_then(address) else {
            skipped += 1;
            continue;
        };
        if refused.iter().any(|r| r.address == address) {
            continue;
        }
        refused.push(Refusal {
            address,
            reason: cut(&reason(recipient), MAX_REASON_CHARS),
        });
    }
    if refused.is_empty() && skipped == 0 {
        return Feedback::Ignore("no recipient named".to_owned());
    }
    Feedback::Suppress { refused, skipped }
}

/// The address as Rampart keys it, or `None` for what cannot be one.
fn address(raw: &str) -> Option<String> {
    let raw = raw.trim();
    // SES may quote a display name: "Name <a@b>".
    let raw = match (raw.rfind('<'), raw.ends_with('>')) {
        (Some(open), true) => &raw[open + 1..raw.len() - 1],
        _ => raw,
    };
    let (local, domain) = raw.rsplit_once('@')?;
    let fits = !local.is_empty()
        && domain.contains('.')
        && raw.len() <= MAX_ADDRESS_BYTES
        && !raw.chars().any(|c| c.is_control() || c.is_whitespace());
    fits.then(|| raw.to_ascii_lowercase())
}

fn or_unknown<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.is_empty() { default } else { value }
}

/// At most `chars` characters, without control characters (they would end up in a page).
fn cut(text: &str, chars: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(chars)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// SES's documented bounce record (event publishing), as EventBridge carries it in
    /// `detail`.
    fn hard_bounce() -> Value {
        json!({
            "eventType": "Bounce",
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [{
                    "emailAddress": "Recipient@Example.com",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown"
                }],
                "timestamp": "2017-08-05T00:41:02.669Z",
                "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
                "reportingMTA": "dsn; mta.example.com"
            },
            "mail": {
                "timestamp": "2017-08-05T00:40:02.012Z",
                "source": "Sender Name <sender@example.com>",
                "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
                "destination": ["recipient@example.com"],
                "tags": { "ses:configuration-set": ["ConfigSet"] }
            }
        })
    }

    #[test]
    fn a_hard_bounce_suppresses_its_recipient_with_what_the_server_said() {
        assert_eq!(
            read(&hard_bounce(), Some("ConfigSet")),
            Feedback::Suppress {
                refused: vec![Refusal {
                    address: "recipient@example.com".into(),
                    reason: "bounce: General: smtp; 550 5.1.1 user unknown".into(),
                }],
                skipped: 0,
            }
        );
    }

    #[test]
    fn soft_undetermined_and_foreign_bounces_suppress_nothing() {
        let mut soft = hard_bounce();
        soft["bounce"]["bounceType"] = json!("Transient");
        assert_eq!(
            read(&soft, None),
            Feedback::Ignore("Transient bounce".into())
        );
        let mut unsure = hard_bounce();
        unsure["bounce"]["bounceType"] = json!("Undetermined");
        assert_eq!(
            read(&unsure, None),
            Feedback::Ignore("Undetermined bounce".into())
        );
        assert_eq!(
            read(&hard_bounce(), Some("rampart-other")),
            Feedback::Ignore(
                "not from the configuration set \"rampart-other\": \"ConfigSet\"".into()
            )
        );
        let mut untagged = hard_bounce();
        untagged["mail"]["tags"] = json!({});
        assert_eq!(
            read(&untagged, Some("ConfigSet")),
            Feedback::Ignore("not from the configuration set \"ConfigSet\": none".into())
        );
    }

    #[test]
    fn a_complaint_suppresses_unless_it_says_not_spam() {
        let complaint = json!({
            "notificationType": "Complaint",
            "complaint": {
                "complainedRecipients": [{ "emailAddress": "owner@example.org" }],
                "complaintFeedbackType": "abuse",
                "userAgent": "ExampleCorp Feedback Loop (V0.01)"
            },
            "mail": {}
        });
        assert_eq!(
            read(&complaint, None),
            Feedback::Suppress {
                refused: vec![Refusal {
                    address: "owner@example.org".into(),
                    reason: "complaint: abuse".into(),
                }],
                skipped: 0,
            }
        );
        let mut not_spam = complaint.clone();
        not_spam["complaint"]["complaintFeedbackType"] = json!("not-spam");
        assert_eq!(
            read(&not_spam, None),
            Feedback::Ignore("a \"not spam\" report".into())
        );
        let mut untyped = complaint;
        untyped["complaint"]
            .as_object_mut()
            .unwrap()
            .remove("complaintFeedbackType");
        assert!(matches!(
            read(&untyped, None),
            Feedback::Suppress { refused, .. } if refused[0].reason == "complaint: unspecified"
        ));
    }

    #[test]
    fn other_events_and_shapes_are_ignored_with_a_reason() {
        assert_eq!(
            read(&json!({"eventType": "Delivery", "mail": {}}), None),
            Feedback::Ignore("Delivery event".into())
        );
        assert_eq!(
            read(&json!([1, 2]), None),
            Feedback::Ignore("not an SES sending event".into())
        );
        let mut nobody = hard_bounce();
        nobody["bounce"]["bouncedRecipients"] = json!("everyone");
        assert_eq!(
            read(&nobody, None),
            Feedback::Ignore("no recipient named".into())
        );
    }

    #[test]
    fn a_hostile_event_is_bounded_and_what_is_cut_is_counted() {
        let mut flood = hard_bounce();
        let mut recipients: Vec<Value> = (0..MAX_RECIPIENTS + 7)
            .map(|i| json!({ "emailAddress": format!("r{i}@example.com"), "diagnosticCode": "x".repeat(10_000) }))
            .collect();
        // Not addresses, a repeat (kept once), and a display-name form (kept).
        recipients[0] = json!({ "emailAddress": "no-at-sign" });
        recipients[1] = json!({ "emailAddress": format!("{}@example.com", "a".repeat(300)) });
        recipients[2] = json!({ "emailAddress": "bad\naddress@example.com" });
        recipients[3]["emailAddress"] = json!("R5@example.com");
        recipients[4]["emailAddress"] = json!("Someone <Someone@Example.net>");
        recipients[6] = json!({ "emailAddress": 42 });
        flood["bounce"]["bouncedRecipients"] = Value::Array(recipients);
        let Feedback::Suppress { refused, skipped } = read(&flood, None) else {
            panic!("a hard bounce suppresses");
        };
        // 57 listed: 7 over the cap, 4 unusable in the first 50, one repeat.
        assert_eq!(skipped, 7 + 4);
        assert_eq!(refused.len(), MAX_RECIPIENTS - 4 - 1);
        assert_eq!(refused[0].address, "r5@example.com");
        assert_eq!(refused[1].address, "someone@example.net");
        assert!(
            refused
                .iter()
                .all(|r| r.reason.chars().count() == MAX_REASON_CHARS)
        );
        let mut control = hard_bounce();
        control["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = json!("550\r\nInjected: yes");
        let Feedback::Suppress { refused, .. } = read(&control, None) else {
            panic!("a hard bounce suppresses");
        };
        assert_eq!(refused[0].reason, "bounce: General: 550  Injected: yes");
    }
}
