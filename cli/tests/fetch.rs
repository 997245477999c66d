//! `rampart fetch` end to end: the real binary against Dovecot on 127.0.0.1 over IMAPS and
//! STARTTLS (a test CA), its INBOX filled with every corpus mail, Microsoft's single-line
//! base64 mails included. Each mail ends as `rampart ingest` ends it; a second run takes
//! nothing; a later mail is taken once; `move_to` empties the INBOX; a readable password
//! file, a wrong password and an unknown key are refused with the file named.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

#[path = "../../tests/common/dovecot.rs"]
mod dovecot;
#[path = "../../tests/common/test_ca.rs"]
mod test_ca;

use dovecot::{Dovecot, PASSWORD, USER};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rampart(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .env_remove("RAMPART_DATA")
        .env("RAMPART_RESOLVER", "off")
        .output()
        .unwrap()
}

fn corpus_mails() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![fixtures()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "eml") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The JSON lines of a run's stdout.
fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A mailbox file of one `[[mailbox]]` (private: it may hold a password).
fn mailbox_file(dir: &Path, name: &str, body: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, body).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    file
}

fn outcomes(run: &Value) -> BTreeMap<String, u64> {
    run["outcomes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

#[test]
fn fetch_reads_a_folder_once_over_tls_and_each_mail_ends_as_ingest_ends_it() {
    let dir = fresh_dir("fetch-imap");
    std::fs::create_dir_all(dir.join("ca")).unwrap();
    let test_ca::TestCa { ca, cert, key } = test_ca::TestCa::new(&dir.join("ca"), &["localhost"]);
    let server = Dovecot::start_with(Some((&cert, &key)));
    let mails = corpus_mails();
    assert_eq!(mails.len(), 30);
    for mail in &mails {
        server.deliver(&std::fs::read(mail).unwrap());
    }
    let secret = dir.join("imap-password");
    std::fs::write(&secret, format!("{PASSWORD}\n")).unwrap();
    let imaps = mailbox_file(
        &dir,
        "imaps.toml",
        &format!(
            "[[mailbox]]\nid = \"reports\"\nurl = \"imaps://localhost:{}/INBOX\"\nuser = \"{USER}\"\n\
             password_file = \"{}\"\nca_file = \"{}\"\n",
            server.tls_port.unwrap(),
            secret.display(),
            ca.display()
        ),
    );
    let data = dir.join("data");
    let data = data.to_str().unwrap();

    // The same files through `rampart ingest`: the outcomes to match.
    let direct = dir.join("direct");
    let mut args = vec!["ingest", "--data", direct.to_str().unwrap()];
    let paths: Vec<String> = mails.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let ingested = rampart(&args);
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for line in lines(&ingested) {
        *expected
            .entry(line["outcome"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(expected.values().sum::<u64>(), 30);
    assert!(expected.contains_key("stored"));

    // A test logs in and counts, reading nothing.
    let test = |expect: Value| {
        let tested = rampart(&[
            "fetch",
            "--test",
            "--mailbox",
            imaps.to_str().unwrap(),
            "--data",
            data,
        ]);
        assert!(tested.status.success(), "{}", stderr(&tested));
        assert_eq!(lines(&tested), [expect]);
    };
    test(serde_json::json!({"mailbox": "reports", "messages": 30, "new": 30}));
    let first = rampart(&[
        "fetch",
        "--mailbox",
        imaps.to_str().unwrap(),
        "--data",
        data,
    ]);
    assert!(first.status.success(), "{}", stderr(&first));
    let runs = lines(&first);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["mailbox"], "reports");
    assert_eq!(runs[0]["taken"], 30);
    assert_eq!(outcomes(&runs[0]), expected);
    assert_eq!(
        (&runs[0]["left"], &runs[0]["too_large"], &runs[0]["moved"]),
        (&Value::from(0), &Value::from(0), &Value::from(0))
    );
    assert!(runs[0].get("error").is_none());

    test(serde_json::json!({"mailbox": "reports", "messages": 30, "new": 0}));
    // Nothing new: nothing taken. A mail delivered since is taken once.
    let second = rampart(&[
        "fetch",
        "--mailbox",
        imaps.to_str().unwrap(),
        "--data",
        data,
    ]);
    assert_eq!(lines(&second)[0]["taken"], 0);
    server
        .deliver(&std::fs::read(fixtures().join("generated/outlook-20-single-line.eml")).unwrap());
    let third = rampart(&[
        "fetch",
        "--mailbox",
        imaps.to_str().unwrap(),
        "--data",
        data,
    ]);
    let run = &lines(&third)[0];
    assert_eq!(run["taken"], 1);
    assert_eq!(outcomes(run), BTreeMap::from([("duplicate".to_owned(), 1)]));

    // Another source on the same folder, over STARTTLS, moving what it keeps: it reads all
    // 31 (every one is known by now) and leaves the INBOX empty.
    let starttls = mailbox_file(
        &dir,
        "starttls.toml",
        &format!(
            "[[mailbox]]\nid = \"moving\"\nurl = \"imap://localhost:{}\"\nuser = \"{USER}\"\n\
             password_file = \"{}\"\nca_file = \"{}\"\nmove_to = \"Done\"\n",
            server.port,
            secret.display(),
            ca.display()
        ),
    );
    let moved = rampart(&[
        "fetch",
        "--mailbox",
        starttls.to_str().unwrap(),
        "--data",
        data,
    ]);
    assert!(moved.status.success(), "{}", stderr(&moved));
    let run = &lines(&moved)[0];
    assert_eq!(
        (&run["taken"], &run["moved"]),
        (&Value::from(31), &Value::from(31))
    );
    assert!(!outcomes(run).contains_key("stored"));
    let count = |folder: &str| -> usize {
        ["cur", "new"]
            .iter()
            .map(|sub| {
                std::fs::read_dir(server.dir.join("mail").join(USER).join(folder).join(sub))
                    .map(|d| d.count())
                    .unwrap_or(0)
            })
            .sum()
    };
    assert_eq!((count("."), count(".Done")), (0, 31));
}

#[test]
fn fetch_refuses_a_readable_password_a_wrong_one_and_unknown_keys() {
    let dir = fresh_dir("fetch-refused");
    let server = Dovecot::start();
    let data = dir.join("data");
    let data = data.to_str().unwrap();
    let entry = |password: &str| {
        format!(
            "[[mailbox]]\nurl = \"imap+insecure://127.0.0.1:{}\"\nuser = \"{USER}\"\npassword = \"{password}\"\n",
            server.port
        )
    };

    // The password is in the file, and others may read it.
    let readable = mailbox_file(&dir, "readable.toml", &entry(PASSWORD));
    std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = rampart(&[
        "fetch",
        "--mailbox",
        readable.to_str().unwrap(),
        "--data",
        data,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!(
            "{}: mailbox 1: it holds a password",
            readable.display()
        )) && stderr(&out).contains("chmod 600"),
        "{}",
        stderr(&out)
    );

    // A wrong password: the run says the login was refused, and the exit code says so.
    let wrong = mailbox_file(&dir, "wrong.toml", &entry("not-the-password"));
    let out = rampart(&[
        "fetch",
        "--mailbox",
        wrong.to_str().unwrap(),
        "--data",
        data,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let run = &lines(&out)[0];
    assert_eq!(run["mailbox"], "dmarc-example-test-127-0-0-1-inbox");
    assert_eq!(run["taken"], 0);
    let error = run["error"].as_str().unwrap();
    assert!(
        error.starts_with("dmarc@example.test: the login was refused"),
        "{error}"
    );
    assert!(!stderr(&out).contains("not-the-password") && !error.contains("not-the-password"));
    let tested = rampart(&[
        "fetch",
        "--test",
        "--mailbox",
        wrong.to_str().unwrap(),
        "--data",
        data,
    ]);
    assert_eq!(tested.status.code(), Some(1));
    assert_eq!(lines(&tested)[0]["error"].as_str(), Some(error));

    // A misspelt key is named.
    let typo = mailbox_file(
        &dir,
        "typo.toml",
        &entry(PASSWORD).replace("user =", "usr ="),
    );
    let out = rampart(&["fetch", "--mailbox", typo.to_str().unwrap(), "--data", data]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("usr"), "{}", stderr(&out));
}
