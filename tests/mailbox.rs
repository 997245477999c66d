//! Mailbox intake against a real IMAP server: Dovecot on 127.0.0.1 (tests/common/dovecot.rs),
//! its INBOX filled with the corpus mails, Microsoft's single-line base64 mails included.
//! Every mail comes back byte for byte and ends with the same outcome as through SES; a
//! second run takes nothing; a mail that arrives later is taken once; the owner's flags are
//! untouched; a renumbered folder (new UIDVALIDITY) is read again, and what was stored is
//! then a duplicate.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use rampart_ingest::Ingest;
use rampart_mailbox::imap::{Checkpoint, Folder, Limits, Security, Session, fetch_new, login};
use rampart_sources::Enricher;
use rampart_store::{Outcome, RawKey, Store};

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
    login(&folder, PASSWORD, &tls).await.unwrap()
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
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(common::backends::unique("dovecot"));
    let server = Dovecot::start(&dir);
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
