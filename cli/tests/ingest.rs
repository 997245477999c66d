//! `rampart ingest`, `reprocess` and `setup` end to end: the real binary, the local store in a
//! fresh folder, and the AWS store on the moto server that `scripts/test` starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rampart(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
    cmd.args(args).current_dir(fixtures());
    for var in [
        "RAMPART_DATA",
        "XDG_DATA_HOME",
        "RAMPART_TABLE",
        "RAMPART_BUCKET",
        "RAMPART_RAW_PREFIX",
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
    ] {
        cmd.env_remove(var);
    }
    // No reverse DNS here: enrich.rs runs its own DNS servers.
    cmd.env("RAMPART_RESOLVER", "off");
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn ingest_prints_one_line_per_input_and_fails_only_for_failures() {
    let data = fresh_dir("ingest-local");
    let garbage = data.join("garbage.xml");
    std::fs::write(&garbage, "<html>not a report</html>").unwrap();
    let garbage = garbage.to_str().unwrap();
    let data = data.join("store");
    let data = data.to_str().unwrap();

    let out = rampart(
        &[
            "ingest",
            "--data",
            data,
            "corpus/email/mail-auth/100.eml",
            "generated/outlook-20-single-line.eml",
            garbage,
            "no/such.eml",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "a missing file is a failure");
    assert_eq!(
        stdout(&out),
        format!(
            concat!(
                r#"{{"file":"no/such.eml","outcome":"failed","reports":0,"new":0,"reason":"no such file or directory","key":null}}"#,
                "\n",
                r#"{{"file":"corpus/email/mail-auth/100.eml","outcome":"stored","reports":1,"new":1,"reason":null,"key":"04/043d0d202368ccf2e19feae8bb82bc2f"}}"#,
                "\n",
                r#"{{"file":"generated/outlook-20-single-line.eml","outcome":"stored","reports":1,"new":1,"reason":null,"key":"c3/c3cf34f72ab55e2da2dd0a1f665a60a8"}}"#,
                "\n",
                r#"{{"file":"{garbage}","outcome":"rejected","reports":0,"new":0,"reason":"not a report: no <feedback> element found","key":"d5/d577270b97e07eb53cb291072127c5da"}}"#,
                "\n",
            ),
            garbage = garbage
        )
    );
    assert_eq!(
        stderr(&out),
        format!(
            "rampart: no/such.eml: no such file or directory\nrampart: {garbage}: not a report: no <feedback> element found\n"
        )
    );
    // The raw copies are in the data folder, the rejected one included.
    assert_eq!(
        std::fs::read(Path::new(data).join("raw/d5/d577270b97e07eb53cb291072127c5da")).unwrap(),
        b"<html>not a report</html>"
    );

    // Again: duplicates and a rejection, none failed, so success.
    let again = rampart(
        &[
            "ingest",
            "--data",
            data,
            "corpus/email/mail-auth/100.eml",
            garbage,
        ],
        &[],
    );
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let outcomes: Vec<String> = stdout(&again)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["outcome"].to_string())
        .collect();
    assert_eq!(outcomes, [r#""duplicate""#, r#""rejected""#]);
}

#[test]
fn reprocess_rereads_every_stored_message_idempotently() {
    let data = fresh_dir("reprocess-local");
    let data = data.to_str().unwrap();
    let ingested = rampart(&["ingest", "--data", data, "corpus/email"], &[]);
    assert_eq!(ingested.status.code(), Some(0), "{}", stderr(&ingested));
    for _ in 0..2 {
        let out = rampart(&["reprocess", "--data", data], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out).lines().count(), 8);
        assert!(
            stdout(&out)
                .lines()
                .all(|l| l.contains(r#""outcome":"duplicate","reports":1,"changed":0"#)),
            "{}",
            stdout(&out)
        );
        assert_eq!(
            stderr(&out),
            "rampart: reprocessed 8 messages: 8 duplicate\n"
        );
    }
}

#[test]
fn the_default_data_folder_follows_the_environment() {
    let home = fresh_dir("home");
    let home = home.to_str().unwrap();
    let file = "corpus/email/mail-auth/101.eml";
    let out = rampart(&["ingest", file], &[("HOME", home)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        Path::new(home)
            .join(".local/share/rampart/rampart.sqlite3")
            .is_file()
    );

    let xdg = format!("{home}/xdg");
    rampart(
        &["ingest", file],
        &[("HOME", home), ("XDG_DATA_HOME", &xdg)],
    );
    assert!(Path::new(&xdg).join("rampart/rampart.sqlite3").is_file());

    let explicit = format!("{home}/explicit");
    let out = rampart(
        &["ingest", file],
        &[
            ("HOME", home),
            ("XDG_DATA_HOME", &xdg),
            ("RAMPART_DATA", &explicit),
        ],
    );
    assert!(
        stdout(&out).contains(r#""outcome":"stored""#),
        "a new store"
    );
    assert!(Path::new(&explicit).join("rampart.sqlite3").is_file());
}

#[test]
fn the_aws_backend_follows_the_standard_aws_configuration() {
    let endpoint = std::env::var("RAMPART_TEST_AWS_ENDPOINT")
        .expect("RAMPART_TEST_AWS_ENDPOINT: run ./scripts/test, which starts a moto server");
    let name = format!("cli-{}", std::process::id());
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("RAMPART_TABLE", name.as_str()),
        ("RAMPART_BUCKET", name.as_str()),
        ("HOME", "/nonexistent"),
    ];
    let setup = rampart(&["setup", "--backend", "aws"], &env);
    assert_eq!(setup.status.code(), Some(0), "{}", stderr(&setup));
    assert_eq!(
        stderr(&setup),
        format!("rampart: DynamoDB table {name} and S3 bucket {name} ready\n")
    );

    let file = "corpus/email/parsedmarc/twilight.eml";
    // A deployment's table counts registered domains only, unless told otherwise.
    let out = rampart(&["ingest", "--backend", "aws", file], &env);
    assert_eq!(
        stdout(&out),
        format!(
            "{}\n",
            r#"{"file":"corpus/email/parsedmarc/twilight.eml","outcome":"held","reports":1,"new":0,"reason":"held: twlnet.com not registered; registering ingests this message","key":"inbound/e9/e982030c002eeacd256a66e55eb74848"}"#
        )
    );
    let out = rampart(&["reprocess", "--backend", "aws", "--accept", "any"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "{}\n",
            r#"{"key":"inbound/e9/e982030c002eeacd256a66e55eb74848","outcome":"stored","reports":1,"changed":1,"reason":null}"#
        )
    );
    let out = rampart(&["reprocess", "--backend", "aws", "--accept", "any"], &env);
    assert_eq!(
        stdout(&out),
        format!(
            "{}\n",
            r#"{"key":"inbound/e9/e982030c002eeacd256a66e55eb74848","outcome":"duplicate","reports":1,"changed":0,"reason":null}"#
        )
    );

    let missing = rampart(
        &[
            "reprocess",
            "--backend",
            "aws",
            "--bucket",
            "no-such-bucket",
        ],
        &env,
    );
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(
        stderr(&missing),
        "rampart: list raw messages: refused by storage: NoSuchBucket: The specified bucket does not exist\n"
    );
}

#[test]
fn eight_processes_ingesting_into_one_data_folder_store_each_report_once() {
    let data = fresh_dir("ingest-concurrent");
    let data = data.to_str().unwrap();
    let children: Vec<_> = (0..8)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_rampart"))
                .args([
                    "ingest",
                    "--data",
                    data,
                    "corpus/email",
                    "generated/outlook-1k-single-line.eml",
                    "generated/enterprise-outlook-ns-zip.eml",
                    "generated/tlsrpt-1k.json",
                    "generated/tlsrpt-string-mx.eml",
                ])
                .current_dir(fixtures())
                .env_remove("RAMPART_DATA")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut per_file: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        for line in stdout(&out).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            per_file
                .entry(v["file"].as_str().unwrap().to_owned())
                .or_default()
                .push(v["outcome"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        per_file.len(),
        8 + 4,
        "8 corpus mails and 4 generated files"
    );
    for (file, mut outcomes) in per_file {
        outcomes.sort();
        assert_eq!(
            outcomes,
            ["duplicate"; 7]
                .into_iter()
                .chain(["stored"])
                .collect::<Vec<_>>(),
            "{file}"
        );
    }
}

#[test]
fn an_input_over_the_size_limit_is_rejected_unread() {
    let dir = fresh_dir("ingest-large");
    let big = dir.join("big.eml");
    // Sparse: 41 MiB by its size, nothing written, and never read.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(41 << 20)
        .unwrap();
    let big = big.to_str().unwrap();
    let data = dir.join("store");
    let out = rampart(&["ingest", "--data", data.to_str().unwrap(), big], &[]);
    assert_eq!(out.status.code(), Some(0), "a rejection is not a failure");
    assert_eq!(
        stdout(&out),
        format!(
            "{{\"file\":\"{big}\",\"outcome\":\"rejected\",\"reports\":0,\"new\":0,\"reason\":\"input size exceeds the limit of 41943040\",\"key\":null}}\n"
        )
    );
    assert_eq!(
        stderr(&out),
        format!("rampart: {big}: input size exceeds the limit of 41943040\n")
    );
}
