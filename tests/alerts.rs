//! Alerts and digests over generated weeks, on both backends, sent for real: over SMTP with
//! STARTTLS to aiosmtpd (embedded; it refuses lines over RFC 5321's limit) and with SES v2
//! on moto (aws; read back from moto's data), each mail parsed back.
//!
//! The scenario: five weeks of quiet history for example.com (Google, Microsoft and Yahoo
//! report daily; the domain's own servers and an SPF-only sending service pass DMARC), then
//! a spoofer from 203.0.113.0/24 (from 2026-11-17), an SPF record broken past ten lookups
//! (2026-11-18, fixed 2026-11-24) that makes the SPF-only service fail, and Yahoo gone
//! silent (its last report covers 2026-11-17). Reports arrive at 06:00 the next day; the
//! scheduled run goes at 09:00 every day to 2026-11-30.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use common::backends::{self, Backend};
use common::on_both_backends;
use mail_parser::MessageParser;
use rampart_alerts::Rule;
use rampart_alerts::send::{Mailer, Reach, SendError, Ses, Smtp, SmtpSecurity};
use rampart_alerts::settings::{Settings, Snooze};
use rampart_checks::Checker;
use rampart_checks::dns::Dns;
use rampart_checks::mta_sts::Fetcher;
use rampart_ingest::Ingest;
use rampart_query::alerting::{Outbox, run_due};
use rampart_query::digest::send_digests;
use rampart_sources::Enricher;
use rampart_store::{AlertStore, CheckRun, RawKey, Store};

const DOMAIN: &str = "example.com";
const OWNER: &str = "owner@example.com";
const INBOUND: &str = "reports@rua.rampart.example";

on_both_backends!(
    a_spoofer_a_broken_spf_record_and_a_silent_reporter_mail_exactly_what_changed,
    ses_bounces_and_complaints_stop_the_mail_to_the_addresses_they_name,
);

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn at(day: NaiveDate, hour: u32) -> i64 {
    day.and_hms_opt(hour, 0, 0).unwrap().and_utc().timestamp()
}

/// One record: source network host, messages, DKIM aligned pass, SPF aligned pass.
type Rec = (&'static str, u64, bool, bool);

fn report_mail(org: &str, d: NaiveDate, records: &[Rec]) -> Vec<u8> {
    let verdict = |pass: bool| if pass { "pass" } else { "fail" };
    let rows: String = records
        .iter()
        .map(|(ip, count, dkim, spf)| {
            format!(
                "<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>\
                 <disposition>none</disposition><dkim>{}</dkim><spf>{}</spf></policy_evaluated>\
                 </row><identifiers><header_from>{DOMAIN}</header_from></identifiers><auth_results>\
                 <dkim><domain>{DOMAIN}</domain><selector>s1</selector><result>{}</result></dkim>\
                 <spf><domain>{DOMAIN}</domain><result>{}</result></spf></auth_results></record>",
                verdict(*dkim),
                verdict(*spf),
                verdict(*dkim),
                verdict(*spf)
            )
        })
        .collect();
    let begin = at(d, 0);
    let xml = format!(
        "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>{org}</org_name>\
         <email>dmarc@{org}</email><report_id>{org}-{d}</report_id><date_range><begin>{begin}\
         </begin><end>{}</end></date_range></report_metadata><policy_published><domain>{DOMAIN}\
         </domain><p>none</p></policy_published>{rows}</feedback>",
        begin + 86_399
    );
    let encoded = common::base64(&common::gzip(xml.as_bytes()));
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: noreply-dmarc@{org}\r\nTo: {INBOUND}\r\nSubject: Report Domain: {DOMAIN} \
         Submitter: {org} Report-ID: {org}-{d}\r\nMIME-Version: 1.0\r\nContent-Type: \
         application/gzip; name=\"r.xml.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

/// What each reporter saw on day `d` of the scenario.
fn reports_of(d: NaiveDate) -> Vec<Vec<u8>> {
    let spf_broken = d >= day("2026-11-18") && d < day("2026-11-24");
    let spoofing = d >= day("2026-11-17");
    let mut mails = Vec::new();
    for (org, own, service) in [
        ("google.com", 300, 150),
        ("outlook.com", 200, 100),
        ("yahoo.com", 100, 50),
    ] {
        if org == "yahoo.com" && d > day("2026-11-17") {
            continue;
        }
        let mut records: Vec<Rec> = vec![
            ("192.0.2.10", own, true, true),
            ("198.51.100.20", service, false, !spf_broken),
        ];
        if spoofing && org == "google.com" {
            records.push(("203.0.113.66", 200, false, false));
        }
        mails.push(report_mail(org, d, &records));
    }
    mails
}

/// The zone of example.com: its SPF record either needs 11 lookups or is fixed.
fn zone(spf_broken: bool) -> Vec<(String, &'static str, String)> {
    let spf = if spf_broken {
        let includes: Vec<String> = (1..=9).map(|i| format!("include:s{i}.{DOMAIN}")).collect();
        format!("v=spf1 a mx {} -all", includes.join(" "))
    } else {
        format!("v=spf1 ip4:192.0.2.0/24 include:s1.{DOMAIN} -all")
    };
    let mut records = vec![
        (
            format!("_dmarc.{DOMAIN}"),
            "TXT",
            format!("v=DMARC1; p=none; rua=mailto:{INBOUND}"),
        ),
        (
            format!("{DOMAIN}._report._dmarc.rua.rampart.example"),
            "TXT",
            "v=DMARC1".into(),
        ),
        (DOMAIN.into(), "TXT", spf),
        (DOMAIN.into(), "MX", format!("10 mx1.{DOMAIN}")),
        (DOMAIN.into(), "A", "192.0.2.10".into()),
        (format!("mx1.{DOMAIN}"), "A", "192.0.2.25".into()),
        (
            format!("_smtp._tls.{DOMAIN}"),
            "TXT",
            format!("v=TLSRPTv1; rua=mailto:{INBOUND}"),
        ),
    ];
    for i in 1..=9 {
        records.push((
            format!("s{i}.{DOMAIN}"),
            "TXT",
            "v=spf1 ip4:198.51.100.0/24 -all".into(),
        ));
    }
    records
}

/// Runs the DNS checks against a server holding `zone(spf_broken)` and stores the run, as
/// the scheduled checks do.
async fn check<S: Store>(store: &S, spf_broken: bool, now: i64) -> rampart_checks::Report {
    let records = zone(spf_broken);
    let borrowed: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|(n, k, v)| (n.as_str(), *k, v.as_str()))
        .collect();
    let server = common::dns::serve(&borrowed).await;
    let dns = Dns::with_servers(&[server.addr], Duration::from_secs(2), 80).unwrap();
    let fetcher = Fetcher::new(&dns, None, Reach::Any).unwrap();
    let expect = rampart_checks::Expect {
        inbound_address: Some(INBOUND.into()),
        tlsrpt_url: None,
        policy_zone: None,
        mta_sts_host: None,
        hosted: None,
        dkim: Vec::new(),
    };
    let report = Checker::new(dns, fetcher).check(DOMAIN, &expect, now).await;
    store
        .put_check(&CheckRun {
            domain: DOMAIN.into(),
            checked_at: now,
            worst: report.worst.as_str().into(),
            report: serde_json::to_string(&report).unwrap(),
        })
        .await
        .unwrap();
    report
}

/// The test's mail transport: SMTP for the embedded backend, SES for the AWS one.
enum Transport {
    Smtp(Smtp),
    Ses(Ses),
}

impl Mailer for Transport {
    async fn send(&self, from: &str, to: &[String], raw: &[u8]) -> Result<(), SendError> {
        match self {
            Transport::Smtp(m) => m.send(from, to, raw).await,
            Transport::Ses(m) => m.send(from, to, raw).await,
        }
    }
}

/// Where sent mail is read back.
enum Sink {
    Maildir { dir: PathBuf, server: Child },
    Moto { from: String },
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Sink::Maildir { server, .. } = self {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

impl Sink {
    /// Every message received so far, oldest first, as received.
    async fn received(&self) -> Vec<Vec<u8>> {
        match self {
            Sink::Maildir { dir, .. } => {
                let mut files: Vec<(std::time::SystemTime, PathBuf)> =
                    std::fs::read_dir(dir.join("new"))
                        .map(|entries| {
                            entries
                                .map(|e| {
                                    let e = e.unwrap();
                                    (e.metadata().unwrap().modified().unwrap(), e.path())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                files.sort();
                files
                    .into_iter()
                    .map(|(_, p)| std::fs::read(p).unwrap())
                    .collect()
            }
            Sink::Moto { from } => {
                let data: serde_json::Value =
                    reqwest::get(format!("{}/moto-api/data.json", backends::endpoint()))
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                data["ses"]["RawMessage"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter(|m| m["source"].as_str() == Some(from.as_str()))
                    .map(|m| m["raw_data"].as_str().unwrap().as_bytes().to_vec())
                    .collect()
            }
        }
    }
}

fn python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-test/bin/python")
}

/// aiosmtpd on 127.0.0.1 requiring STARTTLS with a test CA, delivering into a Maildir.
fn smtp_server() -> (Transport, Sink) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(backends::unique("smtp"));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = common::https::TestCa::new(&dir, &["localhost"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = dir.join("maildir");
    let server = Command::new(python())
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .arg("--tlscert")
        .arg(&ca.cert)
        .arg("--tlskey")
        .arg(&ca.key)
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/test installs aiosmtpd into .venv-test)",
                python().display()
            )
        });
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let pem = std::fs::read(&ca.ca).unwrap();
    let smtp = Smtp::new("localhost", port, SmtpSecurity::StartTls, None, Some(&pem)).unwrap();
    (
        Transport::Smtp(smtp),
        Sink::Maildir {
            dir: maildir,
            server,
        },
    )
}

/// SES v2 on moto, the sender verified; mail goes through `configuration_set` when named
/// (created here, as the template creates it).
async fn ses(from: &str, configuration_set: Option<&str>) -> (Transport, Sink) {
    let config = rampart_store::aws::emulator_config(&backends::endpoint()).await;
    let client = aws_sdk_sesv2::Client::new(&config);
    let address = from.rsplit_once('<').unwrap().1.trim_end_matches('>');
    client
        .create_email_identity()
        .email_identity(address)
        .send()
        .await
        .unwrap();
    if let Some(name) = configuration_set {
        client
            .create_configuration_set()
            .configuration_set_name(name)
            .send()
            .await
            .unwrap();
    }
    (
        Transport::Ses(Ses {
            client,
            configuration_set: configuration_set.map(str::to_owned),
        }),
        Sink::Moto {
            from: from.to_string(),
        },
    )
}

/// The backend's transport (SES on moto for aws, through `configuration_set` when named;
/// SMTP otherwise) in an outbox from `from`, and where its mail is read back.
async fn outbox<B: Backend>(
    from: &str,
    configuration_set: Option<&str>,
) -> (Outbox<Transport>, Sink) {
    let (transport, sink) = if B::KIND == "aws" {
        ses(from, configuration_set).await
    } else {
        smtp_server()
    };
    let outbox = Outbox {
        mailer: transport,
        from: Some(from.to_owned()),
        dashboard: Some("https://rampart.example".into()),
        webhooks: rampart_alerts::send::webhook_client(Reach::Any),
        reach: Reach::Any,
    };
    (outbox, sink)
}

/// A mail as the test reads it: day sent, subject, and the text part.
#[derive(Debug)]
struct Got {
    day: NaiveDate,
    to: String,
    subject: String,
    text: String,
}

fn read(raw: &[u8], day: NaiveDate) -> Got {
    // RFC 5322: no line over 998 octets, whatever the transport.
    assert!(raw.split(|b| *b == b'\n').all(|l| l.len() <= 1000));
    let parsed = MessageParser::default().parse(raw).unwrap();
    Got {
        day,
        to: parsed
            .to()
            .unwrap()
            .first()
            .unwrap()
            .address()
            .unwrap()
            .to_string(),
        subject: parsed.subject().unwrap().to_string(),
        text: parsed.body_text(0).unwrap().replace("\r\n", "\n"),
    }
}

/// A webhook receiver: each POST's signature header and body.
type Hooks = Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

async fn webhook_receiver() -> (common::https::HttpsServer, Hooks) {
    let hooks: Hooks = Arc::default();
    let kept = Arc::clone(&hooks);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let kept = Arc::clone(&kept);
                async move {
                    let signature = headers
                        .get(rampart_alerts::webhook::SIGNATURE_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    kept.lock().unwrap().push((signature, body.to_vec()));
                    "ok"
                }
            },
        ),
    );
    (common::https::serve_http(app).await, hooks)
}

/// The API's answer for `uri`.
async fn api<B: Backend + 'static>(store: &Arc<B>, uri: &str) -> serde_json::Value {
    let app = common::api::app(Arc::clone(store), None);
    let reply = common::api::get(&app, uri).await;
    assert_eq!(reply.status, 200, "{uri}");
    reply.json()
}

fn percent(part: u64, whole: u64) -> String {
    rampart_alerts::digest::percent(part, whole)
}

async fn a_spoofer_a_broken_spf_record_and_a_silent_reporter_mail_exactly_what_changed<
    B: Backend + 'static,
>(
    store: Arc<B>,
) {
    let from = format!("Rampart <{}@rampart.example>", backends::unique("alerts"));
    let (outbox, sink) = outbox::<B>(&from, None).await;
    let (hook_server, hooks) = webhook_receiver().await;
    let first = day("2026-10-12");
    assert!(store.register_domain(DOMAIN, at(first, 0)).await.unwrap());
    assert!(
        store
            .register_domain("quiet.example", at(first, 0))
            .await
            .unwrap()
    );
    let mine = Settings {
        recipients: vec![OWNER.into()],
        webhook: Some(rampart_alerts::settings::Webhook {
            url: format!("http://127.0.0.1:{}/hook", hook_server.port),
            secret: "s3cret".into(),
        }),
        ..Settings::default()
    };
    for (scope, settings) in [
        (DOMAIN, mine.clone()),
        (
            "quiet.example",
            Settings {
                recipients: vec!["owner@quiet.example".into()],
                ..Settings::default()
            },
        ),
        (
            rampart_store::ALL_DOMAINS,
            Settings {
                recipients: vec!["ops@example.net".into()],
                ..Settings::default()
            },
        ),
    ] {
        store
            .put_alert_settings(scope, &serde_json::to_string(&settings).unwrap())
            .await
            .unwrap();
    }

    let ingest = |d: NaiveDate, now: i64| {
        let store = Arc::clone(&store);
        async move {
            for mail in reports_of(d) {
                let key = RawKey::for_content(&mail);
                store.put_raw(&key, &mail).await.unwrap();
                let done = Ingest::new(&*store, &Enricher::disabled())
                    .message(&key, &mail, now)
                    .await;
                assert_eq!(
                    done.outcome,
                    rampart_store::Outcome::Stored,
                    "{d}: {done:?}"
                );
            }
        }
    };
    let mut arrived_through = first.pred_opt().unwrap();
    let mut got: Vec<Got> = Vec::new();
    let mut seen = 0;
    let mut x = day("2026-11-16");
    while x <= day("2026-11-30") {
        let yesterday = x.pred_opt().unwrap();
        while arrived_through < yesterday {
            arrived_through = arrived_through.succ_opt().unwrap();
            ingest(arrived_through, at(x, 6)).await;
        }
        if x == day("2026-11-18") {
            let report = check(&*store, true, at(x, 8)).await;
            let serious: Vec<(&str, &str)> = report
                .findings
                .iter()
                .filter(|f| f.severity >= rampart_checks::Severity::Error)
                .map(|f| (f.code.as_str(), f.severity.as_str()))
                .collect();
            assert_eq!(serious, [("spf.too_many_lookups", "error")]);
        }
        if x == day("2026-11-24") {
            check(&*store, false, at(x, 8)).await;
        }
        if x == day("2026-11-25") {
            // The owner snoozes the silent reporter until Saturday.
            let snoozed = Settings {
                snoozes: vec![Snooze {
                    rule: Some(Rule::SilentReporter),
                    until: at(day("2026-11-28"), 0),
                }],
                ..mine.clone()
            };
            store
                .put_alert_settings(DOMAIN, &serde_json::to_string(&snoozed).unwrap())
                .await
                .unwrap();
        }
        let now = at(x, 9);
        let run = run_due(&*store, &outbox, now).await.unwrap();
        assert!(run.failed.is_empty(), "{x}: {run:?}");
        // A second run in the same hour finds nothing new to send.
        let again = run_due(&*store, &outbox, now + 60).await.unwrap();
        assert!(again.evaluated.is_empty(), "{x}: {again:?}");
        let digests = send_digests(&*store, &outbox, INBOUND, now).await.unwrap();
        assert!(digests.failed.is_empty(), "{x}: {digests:?}");
        let received = sink.received().await;
        for raw in &received[seen..] {
            got.push(read(raw, x));
        }
        seen = received.len();
        x = x.succ_opt().unwrap();
    }

    let alerts: Vec<(String, &str)> = got
        .iter()
        .filter(|g| g.subject.starts_with("[Rampart]"))
        .map(|g| (g.day.to_string(), g.subject.as_str()))
        .collect();
    let want = [
        (
            "2026-11-18",
            "[Rampart] critical: example.com: a new source, 203.0.113.0/24, sends mail failing DMARC",
        ),
        (
            "2026-11-18",
            "[Rampart] warning: example.com: SPF – the record needs 11 DNS lookups through its includes",
        ),
        (
            "2026-11-20",
            "[Rampart] warning: example.com: DMARC pass share fell to 82 % (usually 100 %)",
        ),
        (
            "2026-11-21",
            "[Rampart] critical: example.com: 198.51.100.0/24 now passes DMARC for 0 % of its mail (usually 100 %)",
        ),
        (
            "2026-11-21",
            "[Rampart] worse – example.com: DMARC pass share fell to 53 % (usually 100 %)",
        ),
        (
            "2026-11-23",
            "[Rampart] warning: example.com: no reports from yahoo.com for 3 days",
        ),
        (
            "2026-11-24",
            "[Rampart] resolved – example.com: SPF fixed (was: the record needs 11 DNS lookups through its includes)",
        ),
        // Worse at six days (2026-11-26) fell in the snooze; two days later it still is.
        (
            "2026-11-28",
            "[Rampart] worse – example.com: no reports from yahoo.com for 8 days",
        ),
        (
            "2026-11-29",
            "[Rampart] resolved – example.com: 198.51.100.0/24 is back in its usual DMARC band",
        ),
    ];
    assert_eq!(
        alerts,
        want.iter()
            .map(|(d, s)| (d.to_string(), *s))
            .collect::<Vec<_>>(),
        "{got:#?}"
    );
    for g in got.iter().filter(|g| g.subject.starts_with("[Rampart]")) {
        assert_eq!(g.to, OWNER);
        assert!(
            g.text
                .trim_end()
                .ends_with("https://rampart.example/ui/d/example.com/alerts"),
            "{}",
            g.text
        );
    }
    let spoofed = &got
        .iter()
        .find(|g| g.subject.contains("a new source"))
        .unwrap()
        .text;
    assert!(
        spoofed.contains(
            "203.0.113.0/24 sent 200 messages as example.com on 2026-11-17 that failed DMARC, \
             and it was not seen in the 90 days before; with p=none, receivers delivered it."
        ),
        "{spoofed}"
    );

    // Every notice also went to the webhook, signed.
    let hooks = hooks.lock().unwrap().clone();
    let notices: Vec<(String, String, String)> = hooks
        .iter()
        .map(|(signature, body)| {
            let sent = serde_json::from_slice::<serde_json::Value>(body).unwrap();
            let t: i64 = signature[2..signature.find(',').unwrap()].parse().unwrap();
            assert!(rampart_alerts::webhook::verify(
                b"s3cret", signature, body, t, 0
            ));
            assert!(!rampart_alerts::webhook::verify(
                b"wrong", signature, body, t, 0
            ));
            (
                sent["notice"].as_str().unwrap().to_string(),
                sent["rule"].as_str().unwrap().to_string(),
                sent["key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let n = |notice: &str, rule: &str, key: &str| {
        (notice.to_string(), rule.to_string(), key.to_string())
    };
    assert_eq!(
        notices,
        [
            n("opened", "new_source", "net:203.0.113.0/24"),
            n("opened", "dns", "spf.too_many_lookups"),
            n("opened", "domain_pass_drop", "example.com"),
            n("opened", "source_band", "net:198.51.100.0/24"),
            n("worse", "domain_pass_drop", "example.com"),
            n("opened", "silent_reporter", "yahoo.com"),
            n("resolved", "dns", "spf.too_many_lookups"),
            n("worse", "silent_reporter", "yahoo.com"),
            n("resolved", "source_band", "net:198.51.100.0/24"),
        ]
    );

    // The digests: every Monday, for each domain (the quiet one too) and for all.
    let mut digests: Vec<(String, &str, &str)> = got
        .iter()
        .filter(|g| g.subject.starts_with("Rampart weekly"))
        .map(|g| (g.day.to_string(), g.to.as_str(), g.subject.as_str()))
        .collect();
    digests.sort();
    let mut want: Vec<(String, &str, String)> = Vec::new();
    for (monday, from, to) in [
        ("2026-11-16", "2026-11-09", "2026-11-15"),
        ("2026-11-23", "2026-11-16", "2026-11-22"),
        ("2026-11-30", "2026-11-23", "2026-11-29"),
    ] {
        let week = api(
            &store,
            &format!("/v1/domains/{DOMAIN}/summary?from={from}&to={to}"),
        )
        .await;
        let (messages, pass) = (
            week["messages"].as_u64().unwrap(),
            week["dmarc_pass"].as_u64().unwrap(),
        );
        let numbers = format!(
            "{messages} messages, {} passed DMARC ({from} to {to})",
            percent(pass, messages)
        );
        want.push((
            monday.into(),
            "ops@example.net",
            format!("Rampart weekly: all domains – {numbers}"),
        ));
        want.push((
            monday.into(),
            OWNER,
            format!("Rampart weekly: example.com – {numbers}"),
        ));
        want.push((
            monday.into(),
            "owner@quiet.example",
            format!("Rampart weekly: no reports for quiet.example ({from} to {to})"),
        ));
    }
    let mut want: Vec<(String, &str, &str)> = want
        .iter()
        .map(|(d, t, s)| (d.clone(), *t, s.as_str()))
        .collect();
    want.sort();
    assert_eq!(digests, want);

    // The week of the spoofer, in the digest and in the API.
    let digest = &got
        .iter()
        .find(|g| {
            g.to == OWNER && g.subject.starts_with("Rampart weekly") && g.day == day("2026-11-23")
        })
        .unwrap()
        .text;
    let week = api(
        &store,
        "/v1/domains/example.com/summary?from=2026-11-16&to=2026-11-22",
    )
    .await;
    let before = api(
        &store,
        "/v1/domains/example.com/summary?from=2026-11-09&to=2026-11-15",
    )
    .await;
    let (m, p) = (
        week["messages"].as_u64().unwrap(),
        week["dmarc_pass"].as_u64().unwrap(),
    );
    let (m0, p0) = (
        before["messages"].as_u64().unwrap(),
        before["dmarc_pass"].as_u64().unwrap(),
    );
    assert_eq!((m, p, m0, p0), (6750, 4300, 6300, 6300));
    assert!(
        digest.contains("Messages: 6750 (+7 %)\nPassed DMARC: 63.7 % (-36.3 points)\n"),
        "{digest}"
    );
    let sources = api(
        &store,
        "/v1/domains/example.com/sources?from=2026-11-16&to=2026-11-22",
    )
    .await;
    for row in sources["sources"].as_array().unwrap() {
        let (messages, pass) = (
            row["messages"].as_u64().unwrap(),
            row["dmarc_pass"].as_u64().unwrap(),
        );
        let line = format!(": {messages} messages, {} passed", percent(pass, messages));
        assert!(digest.contains(&line), "{line} in {digest}");
    }
    assert!(digest.contains("Reporters: 3\n"), "{digest}");
    assert!(
        digest.contains("DNS check: error (checked 2026-11-18)"),
        "{digest}"
    );
    assert!(digest.contains("  [critical] example.com: a new source, 203.0.113.0/24, sends mail failing DMARC (open)"), "{digest}");
    assert!(
        digest
            .trim_end()
            .ends_with("https://rampart.example/ui/d/example.com?from=2026-11-16&to=2026-11-22"),
        "{digest}"
    );
    let last = &got
        .iter()
        .find(|g| {
            g.to == OWNER && g.subject.starts_with("Rampart weekly") && g.day == day("2026-11-30")
        })
        .unwrap()
        .text;
    assert!(last.contains("  silent: yahoo.com\n"), "{last}");
    let quiet = &got
        .iter()
        .find(|g| g.to == "owner@quiet.example")
        .unwrap()
        .text;
    assert!(quiet.contains("No reports arrived this week."), "{quiet}");
    let all = &got
        .iter()
        .find(|g| g.to == "ops@example.net" && g.day == day("2026-11-23"))
        .unwrap()
        .text;
    assert!(
        all.contains("  example.com: 6750 messages, 63.7 % passed (-36.3 points)"),
        "{all}"
    );
    assert!(
        all.contains("  quiet.example: 0 messages, – passed"),
        "{all}"
    );

    // What the API shows at the end: open first, worst first, then resolved, newest first.
    let shown = api(&store, "/v1/domains/example.com/alerts").await;
    let listed: Vec<(String, String, String, bool)> = shown["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["status"].as_str().unwrap().to_string(),
                a["severity"].as_str().unwrap().to_string(),
                a["rule"].as_str().unwrap().to_string(),
                a["pending"].as_bool().unwrap(),
            )
        })
        .collect();
    let l = |status: &str, severity: &str, rule: &str| {
        (
            status.to_string(),
            severity.to_string(),
            rule.to_string(),
            false,
        )
    };
    assert_eq!(
        listed,
        [
            l("open", "critical", "new_source"),
            // Both changed at the last run (their magnitudes move daily): by key.
            l("open", "warning", "domain_pass_drop"),
            l("open", "warning", "silent_reporter"),
            l("resolved", "critical", "source_band"),
            l("resolved", "warning", "dns"),
        ]
    );
}

/// Whom every mail received so far was to, sorted.
async fn addressees(sink: &Sink) -> Vec<String> {
    let mut to: Vec<String> = sink
        .received()
        .await
        .iter()
        .map(|raw| read(raw, day("2026-11-23")).to)
        .collect();
    to.sort();
    to
}

/// `events/ses-bounce.json` (a hard bounce, as EventBridge delivers it) made about `to` and
/// the configuration set `set`; as a complaint with `complaint`, or a soft bounce with
/// `transient`.
fn ses_event(to: &str, set: &str, kind: &str) -> serde_json::Value {
    use serde_json::json;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/ses-bounce.json");
    let mut event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let detail = &mut event["detail"];
    detail["mail"]["tags"]["ses:configuration-set"] = json!([set]);
    detail["mail"]["destination"] = json!([to]);
    let recipient = &mut detail["bounce"]["bouncedRecipients"][0];
    recipient["emailAddress"] = json!(to);
    recipient["diagnosticCode"] = json!(format!(
        "smtp; 550 5.1.1 <{to}>: Recipient address rejected: User unknown"
    ));
    match kind {
        "complaint" => {
            event["detail-type"] = json!("Email Complaint Received");
            let detail = event["detail"].as_object_mut().unwrap();
            detail.remove("bounce");
            detail.insert("eventType".into(), json!("Complaint"));
            detail.insert(
                "complaint".into(),
                json!({
                    "feedbackId": "0100019ad3c1c0de-00000000-0000-4000-8000-000000000000-000000",
                    "complainedRecipients": [{ "emailAddress": to }],
                    "complaintFeedbackType": "abuse",
                    "userAgent": "Yahoo!-Mail-Feedback/2.0",
                    "timestamp": "2026-11-23T09:12:00.000Z"
                }),
            );
        }
        "transient" => {
            event["detail"]["bounce"]["bounceType"] = json!("Transient");
            event["detail"]["bounce"]["bounceSubType"] = json!("MailboxFull");
        }
        _ => {}
    }
    event
}

/// A weekly digest to three owners; SES then reports a hard bounce for one, a complaint
/// from another and a soft bounce for the third. The next week's digest goes to the third
/// only, and the settings show the other two suppressed with what SES said.
async fn ses_bounces_and_complaints_stop_the_mail_to_the_addresses_they_name<
    B: Backend + 'static,
>(
    store: Arc<B>,
) {
    use rampart_alerts::feedback;
    use rampart_query::alerting::{FeedbackRun, record_feedback};

    let from = format!("Rampart <{}@rampart.example>", backends::unique("feedback"));
    let set = backends::unique("rampart-alerts");
    let (outbox, sink) = outbox::<B>(&from, Some(&set)).await;
    let domain = "feedback.example";
    let (gone, annoyed, kept) = (
        "gone@feedback.example",
        "Annoyed@Feedback.example",
        "kept@feedback.example",
    );
    assert!(
        store
            .register_domain(domain, at(day("2026-11-16"), 0))
            .await
            .unwrap()
    );
    let settings = Settings {
        recipients: vec![gone.into(), annoyed.into(), kept.into()],
        ..Settings::default()
    };
    store
        .put_alert_settings(domain, &serde_json::to_string(&settings).unwrap())
        .await
        .unwrap();

    let first = send_digests(&*store, &outbox, INBOUND, at(day("2026-11-23"), 8))
        .await
        .unwrap();
    assert_eq!(first.sent, [domain]);
    assert_eq!(addressees(&sink).await, [annoyed, gone, kept]);

    // What SES reports, read as the ingest function reads EventBridge's `detail`.
    let when = at(day("2026-11-23"), 9);
    let mut runs = Vec::new();
    for (to, kind) in [
        (gone, "bounce"),
        (annoyed, "complaint"),
        (kept, "transient"),
    ] {
        let event = ses_event(to, &set, kind);
        let read = feedback::read(&event["detail"], Some(&set));
        runs.push(record_feedback(&*store, read, when).await.unwrap());
    }
    let suppressed = |n| FeedbackRun {
        suppressed: n,
        skipped: 0,
        ignored: None,
    };
    assert_eq!(
        runs,
        [
            suppressed(1),
            suppressed(1),
            FeedbackRun {
                ignored: Some("Transient bounce".into()),
                ..FeedbackRun::default()
            }
        ]
    );

    let shown = api(&store, "/v1/domains/feedback.example/alert-settings").await;
    assert_eq!(
        shown["suppressed"],
        serde_json::json!([
            {
                "address": "gone@feedback.example",
                "reason": "bounce: General: smtp; 550 5.1.1 <gone@feedback.example>: Recipient address rejected: User unknown",
                "at": when,
            },
            {
                "address": "annoyed@feedback.example",
                "reason": "complaint: abuse",
                "at": when,
            },
        ])
    );

    let second = send_digests(&*store, &outbox, INBOUND, at(day("2026-11-30"), 8))
        .await
        .unwrap();
    assert_eq!(second.sent, [domain]);
    assert_eq!(addressees(&sink).await, [annoyed, gone, kept, kept]);

    // Saving the same list (say, the digest's checkbox) undoes nothing; `resume` mails an
    // address again, and names recipients only.
    use axum::http::Method;
    use serde_json::json;
    let app = common::api::app(Arc::clone(&store), None);
    let path = "/v1/domains/feedback.example/alert-settings";
    let same = json!({"recipients": [gone, annoyed, kept], "digest": true});
    let saved = common::api::call(&app, Method::PUT, path, Some(same)).await;
    assert_eq!(saved.json()["suppressed"], shown["suppressed"]);
    let stranger = json!({"resume": ["stranger@example.org"]});
    let refused = common::api::call(&app, Method::PUT, path, Some(stranger)).await;
    assert_eq!(refused.error(400), "invalid_settings");
    assert_eq!(
        refused.json()["message"],
        "\"stranger@example.org\" is not a recipient (resume names recipients)"
    );
    let resume = json!({"resume": ["GONE@feedback.example"]});
    let resumed = common::api::call(&app, Method::PUT, path, Some(resume)).await;
    assert_eq!(
        resumed.json()["suppressed"],
        json!([shown["suppressed"][1]])
    );
    send_digests(&*store, &outbox, INBOUND, at(day("2026-12-07"), 8))
        .await
        .unwrap();
    assert_eq!(
        addressees(&sink).await,
        [annoyed, gone, gone, kept, kept, kept]
    );
}

/// The scheduled run's bounds: at most `DOMAINS_PER_RUN` domains evaluated per run (the
/// rest at the next), and every domain's settings read for digests at most once an hour
/// unless an owner changes who is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_takes_a_bounded_share_and_looks_for_digests_once_an_hour() {
    use axum::http::Method;
    use rampart_query::alerting::DOMAINS_PER_RUN;

    let store = Arc::new(backends::embedded());
    let now = at(day("2026-11-24"), 10);
    let domains: Vec<String> = (0..DOMAINS_PER_RUN + 3)
        .map(|i| format!("d{i:02}.example"))
        .collect();
    for d in &domains {
        store.register_domain(d, now - 86_400).await.unwrap();
    }
    let from = format!("Rampart <{}@rampart.example>", backends::unique("bounded"));
    let (outbox, sink) = outbox::<rampart_store::embedded::EmbeddedStore>(&from, None).await;

    let first = run_due(&*store, &outbox, now).await.unwrap();
    let second = run_due(&*store, &outbox, now + 60).await.unwrap();
    let third = run_due(&*store, &outbox, now + 120).await.unwrap();
    let names = |run: &rampart_query::alerting::AlertRun| -> Vec<String> {
        run.evaluated.iter().map(|e| e.domain.clone()).collect()
    };
    assert_eq!(names(&first), domains[..DOMAINS_PER_RUN]);
    assert_eq!(names(&second), domains[DOMAINS_PER_RUN..]);
    assert_eq!(names(&third), Vec::<String>::new());
    assert!(first.failed.is_empty() && second.failed.is_empty());

    // Settings written behind the API's back wait for the next hour's look; a change
    // through the API opens it at once.
    let mine = |to: &str| {
        serde_json::to_string(&Settings {
            recipients: vec![to.into()],
            ..Settings::default()
        })
        .unwrap()
    };
    let looked = send_digests(&*store, &outbox, INBOUND, now).await.unwrap();
    assert_eq!(looked.sent, Vec::<String>::new());
    store
        .put_alert_settings(&domains[0], &mine("a@d00.example"))
        .await
        .unwrap();
    let held = send_digests(&*store, &outbox, INBOUND, now + 60)
        .await
        .unwrap();
    assert_eq!(held.sent, Vec::<String>::new());
    let app = common::api::app(Arc::clone(&store), None);
    let changed = common::api::call(
        &app,
        Method::PUT,
        "/v1/domains/d01.example/alert-settings",
        Some(serde_json::json!({"recipients": ["b@d01.example"]})),
    )
    .await;
    assert_eq!(changed.status, 200);
    let opened = send_digests(&*store, &outbox, INBOUND, now + 120)
        .await
        .unwrap();
    assert_eq!(opened.sent, ["d00.example", "d01.example"]);
    assert_eq!(addressees(&sink).await, ["a@d00.example", "b@d01.example"]);
    // The same week again, an hour later: every digest went already.
    let later = send_digests(&*store, &outbox, INBOUND, now + 3_700)
        .await
        .unwrap();
    assert_eq!(later.sent, Vec::<String>::new());
}
