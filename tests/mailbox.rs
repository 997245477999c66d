//! Mailbox intake against real servers.
//!
//! IMAP: Dovecot on 127.0.0.1 (tests/common/dovecot.rs), its INBOX filled with the corpus
//! mails, Microsoft's single-line base64 mails included. Every mail comes back byte for byte
//! and ends with the same outcome as through SES; a second run takes nothing; a mail that
//! arrives later is taken once; the owner's flags are untouched; a renumbered folder (new
//! UIDVALIDITY) is read again, and what was stored is then a duplicate.
//!
//! Microsoft Graph: an axum app over HTTPS with a test CA (tests/common/graph.rs) serving
//! the token endpoint and the message routes with real paging; the same corpus through
//! `intake::run` and the store, checkpoints by `receivedDateTime` and id, moves, a wrong
//! secret and a next link that leaves the server.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use rampart_ingest::Ingest;
use rampart_mailbox::imap::{Checkpoint, Folder, Limits, Security, Session, fetch_new, login};
use rampart_mailbox::intake::{self, IngestSink, Network, Ran, Reach};
use rampart_mailbox::source::{Account, Run, Source};
use rampart_mailbox::{Addresses, graph};
use rampart_sources::Enricher;
use rampart_store::{MailboxStore, Outcome, RawKey, Store};

use common::dovecot::{Dovecot, PASSWORD, USER};

fn corpus_mails() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut found = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "eml") {
                let bytes = std::fs::read(&path).unwrap();
                found.push((path, bytes));
            }
        }
    }
    found.sort();
    found
}

/// IMAP stores lines ending in CRLF; a mail with bare LF comes back with CRLF.
fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 40);
    let mut previous = 0u8;
    for &b in bytes {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
    out
}

async fn session(server: &Dovecot) -> Session {
    let folder = Folder {
        host: "127.0.0.1".into(),
        port: server.port,
        security: Security::Plain,
        user: USER.into(),
        name: "INBOX".into(),
    };
    let tls = rampart_mailbox::imap::tls_config(None).unwrap();
    login(&folder, PASSWORD, &tls, Addresses::Any)
        .await
        .unwrap()
}

async fn append(session: &mut Session, folder: &str, raw: &[u8]) {
    session.append(folder, None, None, raw).await.unwrap();
}

/// The `\Seen` flag of every mail in INBOX.
async fn seen(session: &mut Session) -> Vec<bool> {
    session.examine("INBOX").await.unwrap();
    let mut stream = session.uid_fetch("1:*", "FLAGS").await.unwrap();
    let mut flags = Vec::new();
    while let Some(fetch) = stream.next().await {
        let fetch = fetch.unwrap();
        flags.push(
            fetch
                .flags()
                .any(|f| matches!(f, async_imap::types::Flag::Seen)),
        );
    }
    flags
}

async fn ingest_all<S: Store>(store: &S, mails: &[Vec<u8>], now: i64) -> Vec<Outcome> {
    let enricher = Enricher::disabled();
    let ingest = Ingest::new(store, &enricher);
    let mut outcomes = Vec::new();
    for raw in mails {
        let key = RawKey::for_content(raw);
        store.put_raw(&key, raw).await.unwrap();
        outcomes.push(ingest.message(&key, raw, now).await.outcome);
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imap_folder_is_read_once_untouched_and_every_mail_ends_as_through_ses() {
    let server = Dovecot::start();
    let mut owner = session(&server).await;
    let corpus = corpus_mails();
    assert_eq!(corpus.len(), 30);
    for (_, raw) in &corpus {
        append(&mut owner, "INBOX", raw).await;
    }
    let mut reader = session(&server).await;

    let first = fetch_new(&mut reader, "INBOX", None, Limits::default())
        .await
        .unwrap();
    assert_eq!(first.mails.len(), corpus.len());
    assert_eq!((first.left, first.renumbered), (0, false));
    assert!(first.too_large.is_empty());
    let uids: Vec<u32> = first.mails.iter().map(|m| m.uid).collect();
    assert_eq!(uids, (1..=30).collect::<Vec<u32>>());
    for ((path, raw), mail) in corpus.iter().zip(&first.mails) {
        assert!(
            mail.raw == crlf(raw),
            "{}: the bytes changed on the way",
            path.display()
        );
    }
    let single_line = corpus
        .iter()
        .position(|(p, _)| p.ends_with("outlook-20-single-line.eml"))
        .unwrap();
    assert!(
        first.mails[single_line]
            .raw
            .split(|b| *b == b'\n')
            .any(|line| line.len() > 998),
        "Microsoft's single base64 line arrives whole"
    );
    assert_eq!(seen(&mut owner).await, vec![false; 30], "no flag was set");

    // Same outcomes as the corpus ingested directly (the SES path reads the same bytes).
    let now = 1_795_000_000;
    let direct = Arc::new(common::backends::embedded());
    let through_imap = Arc::new(common::backends::embedded());
    let originals: Vec<Vec<u8>> = corpus.iter().map(|(_, raw)| raw.clone()).collect();
    let fetched: Vec<Vec<u8>> = first.mails.iter().map(|m| m.raw.clone()).collect();
    let expected = ingest_all(&*direct, &originals, now).await;
    assert_eq!(ingest_all(&*through_imap, &fetched, now).await, expected);
    assert!(expected.contains(&Outcome::Stored));

    // Nothing new: nothing read.
    let second = fetch_new(
        &mut reader,
        "INBOX",
        Some(first.checkpoint),
        Limits::default(),
    )
    .await
    .unwrap();
    assert_eq!(second.mails, []);
    assert_eq!(second.checkpoint, first.checkpoint);

    // Two more arrive; a run of one takes the first and leaves the other.
    append(&mut owner, "INBOX", &corpus[0].1).await;
    append(&mut owner, "INBOX", &corpus[1].1).await;
    let one = Limits {
        max_mails: 1,
        ..Limits::default()
    };
    let third = fetch_new(&mut reader, "INBOX", Some(second.checkpoint), one)
        .await
        .unwrap();
    assert_eq!(
        (third.mails.len(), third.mails[0].uid, third.left),
        (1, 31, 1)
    );
    let fourth = fetch_new(&mut reader, "INBOX", Some(third.checkpoint), one)
        .await
        .unwrap();
    assert_eq!(
        (fourth.mails.len(), fourth.mails[0].uid, fourth.left),
        (1, 32, 0)
    );

    // Too large for the limit: counted, skipped, and the checkpoint moves past it.
    append(&mut owner, "INBOX", &corpus[single_line].1).await;
    let small = Limits {
        max_bytes: 1_000,
        ..Limits::default()
    };
    let fifth = fetch_new(&mut reader, "INBOX", Some(fourth.checkpoint), small)
        .await
        .unwrap();
    assert_eq!(
        (fifth.mails.len(), fifth.too_large.as_slice()),
        (0, &[33][..])
    );
    assert_eq!(fifth.checkpoint.last_uid, 33);

    // A checkpoint of another UIDVALIDITY (the folder was recreated): read from the start;
    // everything stored before is a duplicate.
    let stale = Checkpoint {
        uid_validity: fifth.checkpoint.uid_validity.wrapping_add(1),
        last_uid: 33,
    };
    let again = fetch_new(&mut reader, "INBOX", Some(stale), Limits::default())
        .await
        .unwrap();
    assert!(again.renumbered);
    assert_eq!(again.mails.len(), 33);
    let redone: Vec<Vec<u8>> = again.mails.iter().take(30).map(|m| m.raw.clone()).collect();
    let outcomes = ingest_all(&*through_imap, &redone, now + 60).await;
    let stored_before = expected.iter().filter(|o| **o == Outcome::Stored).count();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::Duplicate)
            .count(),
        stored_before
    );
    assert_eq!(seen(&mut owner).await, vec![false; 33], "still no flag set");
}

/// A run of the stored source `id` through the ingest path.
async fn run_source<S: Store>(store: &S, id: &str, reach: &Reach, now: i64) -> Run {
    let enricher = Enricher::disabled();
    let ingest = Ingest::new(store, &enricher);
    let sink = IngestSink {
        ingest: &ingest,
        raw_prefix: String::new(),
    };
    match intake::run(store, &sink, id, reach, || now).await.unwrap() {
        Ran::Done(run) => run,
        other => panic!("the run did not happen: {other:?}"),
    }
}

fn outcome_counts(outcomes: &[Outcome]) -> std::collections::BTreeMap<String, u32> {
    let mut counts = std::collections::BTreeMap::new();
    for o in outcomes {
        *counts.entry(o.as_str().to_owned()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_microsoft_365_folder_is_read_through_graph_page_by_page_and_each_mail_taken_once() {
    use common::graph::{self as mock, CLIENT_ID, MAILBOX, SECRET, TENANT};

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(common::backends::unique("graph"));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = common::test_ca::TestCa::new(&dir, &["localhost"]);
    let mailbox = mock::Shared::default();
    let server = common::https::serve(&ca, mock::app(Arc::clone(&mailbox))).await;
    let origin = format!("https://localhost:{}", server.port);
    let corpus = corpus_mails();
    {
        let mut m = mailbox.lock().unwrap();
        m.origin = origin.clone();
        // Two mails per second: the checkpoint must tell mails of one instant apart.
        for (i, (_, raw)) in corpus.iter().enumerate() {
            m.deliver(
                &format!("AAMkAD{i:02}-x="),
                &format!("2026-11-30T10:00:{:02}Z", i / 2),
                raw,
            );
        }
    }
    let account = graph::Account {
        tenant: TENANT.into(),
        client_id: CLIENT_ID.into(),
        user: MAILBOX.into(),
        folder: "inbox".into(),
        token_url: Some(format!("{origin}/{TENANT}/oauth2/v2.0/token")),
        graph_url: Some(origin.clone()),
    };
    let store = common::backends::embedded();
    let source = Source {
        id: "m365".into(),
        account: Account::Graph(account),
        paused: false,
        move_to: None,
        checkpoint: None,
        last_run: None,
    };
    store.put_mailbox(&source.to_item()).await.unwrap();
    let pem = std::fs::read(&ca.ca).unwrap();
    let reach = |secret: &str, max_mails: usize| Reach {
        password: secret.into(),
        network: Network::new(Some(&pem), Addresses::Any).unwrap(),
        limits: Limits {
            max_mails,
            ..Limits::default()
        },
    };
    let now = 1_795_000_000;

    // The whole corpus, in pages of four joined by next links, each mail ending as it does
    // when ingested directly.
    let direct = common::backends::embedded();
    let originals: Vec<Vec<u8>> = corpus.iter().map(|(_, raw)| raw.clone()).collect();
    let expected = outcome_counts(&ingest_all(&direct, &originals, now).await);
    // A test logs in and counts, reading nothing.
    let probe = intake::probe(&source, &reach(SECRET, 200)).await.unwrap();
    assert_eq!((probe.messages, probe.new), (30, 30));
    assert_eq!(
        mailbox.lock().unwrap().calls.get("value"),
        None,
        "no mail read"
    );
    mailbox.lock().unwrap().calls.clear();
    let first = run_source(&store, "m365", &reach(SECRET, 200), now).await;
    assert_eq!(first.error, None);
    assert_eq!((first.taken, first.left, first.too_large), (30, 0, 0));
    assert_eq!(first.outcomes, expected);
    {
        let m = mailbox.lock().unwrap();
        assert_eq!(m.calls["list"], 8, "30 messages in pages of 4");
        assert_eq!(m.calls["value"], 30);
        assert_eq!(m.unauthorised, 0);
    }
    let stored = Source::from_item(&store.mailbox("m365").await.unwrap().unwrap()).unwrap();
    assert_eq!(stored.last_run, Some(first.clone()));
    let Some(rampart_mailbox::source::Checkpoint::Graph(checkpoint)) = &stored.checkpoint else {
        panic!("no Graph checkpoint: {:?}", stored.checkpoint)
    };
    assert_eq!(checkpoint.received, "2026-11-30T10:00:14Z");
    assert_eq!(checkpoint.ids, ["AAMkAD28-x=", "AAMkAD29-x="]);

    let probed = intake::probe(&stored, &reach(SECRET, 200)).await.unwrap();
    assert_eq!((probed.messages, probed.new), (30, 0));
    // Nothing new: nothing taken. A mail received in the same second as the last is new.
    assert_eq!(
        run_source(&store, "m365", &reach(SECRET, 200), now)
            .await
            .taken,
        0
    );
    let late = &corpus[0].1;
    mailbox
        .lock()
        .unwrap()
        .deliver("AAMkAD30-x=", "2026-11-30T10:00:14Z", late);
    let again = run_source(&store, "m365", &reach(SECRET, 200), now).await;
    assert_eq!(
        (again.taken, again.outcomes.get("duplicate")),
        (1, Some(&1))
    );

    // Three more, two per run: the first run leaves one; the next takes it.
    for i in 31..34 {
        mailbox.lock().unwrap().deliver(
            &format!("AAMkAD{i}-x="),
            &format!("2026-11-30T11:00:{i}Z"),
            late,
        );
    }
    let two = run_source(&store, "m365", &reach(SECRET, 2), now).await;
    assert_eq!((two.taken, two.left), (2, 1));
    let rest = run_source(&store, "m365", &reach(SECRET, 2), now).await;
    assert_eq!((rest.taken, rest.left), (1, 0));

    // Moving: the folder is created, and only what was kept moves.
    let mut moving = Source::from_item(&store.mailbox("m365").await.unwrap().unwrap()).unwrap();
    moving.move_to = Some("DMARC Done".into());
    store.put_mailbox(&moving.to_item()).await.unwrap();
    mailbox
        .lock()
        .unwrap()
        .deliver("AAMkAD40-x=", "2026-11-30T12:00:00Z", late);
    let moved = run_source(&store, "m365", &reach(SECRET, 200), now).await;
    assert_eq!((moved.taken, moved.moved, &moved.error), (1, 1, &None));
    {
        let m = mailbox.lock().unwrap();
        let done = m.folders["DMARC Done"].clone();
        assert_eq!((m.in_folder("inbox"), m.in_folder(&done)), (34, 1));
    }

    // A wrong secret: Entra ID's words, no mail taken, the checkpoint kept.
    let before = store.mailbox("m365").await.unwrap().unwrap();
    mailbox
        .lock()
        .unwrap()
        .deliver("AAMkAD41-x=", "2026-11-30T13:00:00Z", late);
    let refused = run_source(&store, "m365", &reach("wrong", 200), now).await;
    assert_eq!(refused.taken, 0);
    assert_eq!(
        refused.error.as_deref(),
        Some("rampart-app: the login was refused: AADSTS7000215: Invalid client secret provided.")
    );
    let after = Source::from_item(&store.mailbox("m365").await.unwrap().unwrap()).unwrap();
    assert_eq!(
        after.checkpoint,
        Source::from_item(&before).unwrap().checkpoint
    );

    // A next link to another origin is not followed (the token would go with it).
    {
        let mut m = mailbox.lock().unwrap();
        m.hostile_links = true;
        for i in 0..5 {
            m.deliver(&format!("AAMkAD5{i}-x="), "2026-11-30T14:00:00Z", late);
        }
    }
    let hostile = run_source(&store, "m365", &reach(SECRET, 200), now).await;
    let error = hostile.error.unwrap();
    assert!(
        error.contains("@odata.nextLink") && error.contains("leaves"),
        "{error}"
    );
    assert_eq!(hostile.taken, 0);
}

/// Delivers a mail into the folder while the run keeps its first one, then keeps mails as
/// the ingest path does.
struct ArrivesDuringTheRun<'a, K> {
    inner: K,
    server: &'a Dovecot,
    late: Vec<u8>,
    delivered: std::sync::atomic::AtomicBool,
}

impl<K: intake::Sink> intake::Sink for ArrivesDuringTheRun<'_, K> {
    async fn take(&self, raw: &[u8], now: i64) -> Result<&'static str, String> {
        if !self
            .delivered
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            self.server.deliver(&self.late);
        }
        self.inner.take(raw, now).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_that_arrives_during_a_run_is_taken_once_by_the_next() {
    let server = Dovecot::start();
    let corpus = corpus_mails();
    for (_, raw) in corpus.iter().take(3) {
        server.deliver(raw);
    }
    let store = common::backends::embedded();
    let source = Source {
        id: "reports".into(),
        account: Account::Imap(Folder {
            host: "127.0.0.1".into(),
            port: server.port,
            security: Security::Plain,
            user: USER.into(),
            name: "INBOX".into(),
        }),
        paused: false,
        move_to: None,
        checkpoint: None,
        last_run: None,
    };
    store.put_mailbox(&source.to_item()).await.unwrap();
    let reach = Reach {
        password: PASSWORD.into(),
        network: Network::new(None, Addresses::Any).unwrap(),
        limits: Limits::default(),
    };
    let enricher = Enricher::disabled();
    let ingest = Ingest::new(&store, &enricher);
    let sink = ArrivesDuringTheRun {
        inner: IngestSink {
            ingest: &ingest,
            raw_prefix: String::new(),
        },
        server: &server,
        late: corpus[3].1.clone(),
        delivered: false.into(),
    };
    let ran = |sink| {
        let (store, reach) = (&store, &reach);
        async move {
            match intake::run(store, sink, "reports", reach, || 1_795_000_000)
                .await
                .unwrap()
            {
                Ran::Done(run) => run,
                other => panic!("{other:?}"),
            }
        }
    };
    let during = ran(&sink).await;
    assert_eq!((during.taken, during.left, &during.error), (3, 0, &None));
    // A wait that starts now returns at once: the mail is there already, and IDLE alone
    // would tell only of mail that comes after it starts.
    let folder = match &source.account {
        Account::Imap(f) => f.clone(),
        Account::Graph(_) => unreachable!(),
    };
    let checkpoint = |store: &rampart_store::embedded::EmbeddedStore| {
        let store = store.clone();
        async move {
            let stored =
                Source::from_item(&store.mailbox("reports").await.unwrap().unwrap()).unwrap();
            match stored.checkpoint {
                Some(rampart_mailbox::source::Checkpoint::Imap(c)) => Some(c),
                other => panic!("{other:?}"),
            }
        }
    };
    let waited = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        rampart_mailbox::imap::idle(
            &folder,
            PASSWORD,
            &reach.network.tls,
            Addresses::Any,
            checkpoint(&store).await,
            std::time::Duration::from_secs(600),
        ),
    )
    .await
    .expect("the wait returned at once")
    .unwrap();
    assert!(waited);
    let next = ran(&sink).await;
    assert_eq!(next.taken, 1, "the mail that arrived during the first run");
    assert_eq!(ran(&sink).await.taken, 0);
    // Nothing waiting: the wait lasts until the server tells of a change, or its end.
    let quiet = rampart_mailbox::imap::idle(
        &folder,
        PASSWORD,
        &reach.network.tls,
        Addresses::Any,
        checkpoint(&store).await,
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert!(!quiet);
}
