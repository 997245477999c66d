//! `rampart serve` end to end: the real binary on a free port, spoken to over TCP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../../tests/common/dovecot.rs"]
#[allow(dead_code)]
mod dovecot;
#[path = "../../tests/common/test_ca.rs"]
mod test_ca;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running server, stopped when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Server {
    serve_with(args, &[])
}

fn serve_with(args: &[&str], env: &[(&str, &str)]) -> Server {
    let listen: &[&str] = if args.contains(&"--listen") {
        &[]
    } else {
        &["--listen", "127.0.0.1:0"]
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("serve")
        .args(listen)
        .args(args)
        .env_remove("RAMPART_TOKEN")
        .env_remove("RAMPART_DATA")
        .envs(env.iter().copied())
        // No reverse DNS here: tests/sources.rs and enrich.rs run their own DNS servers.
        .env("RAMPART_RESOLVER", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The first line names the URL: "Rampart API: http://127.0.0.1:PORT/v1/domains ...".
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    Server { child, addr }
}

/// One HTTP/1.1 request; returns the status and the body.
fn request(addr: &str, method: &str, path: &str, headers: &[&str]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response[split + 4..].to_vec();
    // Small bodies come with a content-length; chunked ones are not asked for here.
    assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
    (status, body)
}

fn get_json(addr: &str, path: &str) -> Value {
    let (status, body) = request(addr, "GET", path, &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn domain_names(list: &Value) -> Vec<String> {
    list["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_empty_store_gets_the_samples_and_serves_them() {
    let data = fresh_dir("serve-samples");
    let server = serve(&["--data", data.to_str().unwrap()]);
    let domains = domain_names(&get_json(&server.addr, "/v1/domains"));
    // The bundled samples: corpus mails, TLS-RPT files and the cry-inc reports.
    assert!(domains.contains(&"stalw.art".to_owned()), "{domains:?}");
    assert!(
        domains.contains(&"company-y.example".to_owned()),
        "{domains:?}"
    );
    let summary = get_json(
        &server.addr,
        "/v1/domains/stalw.art/summary?from=2022-09-01&to=2022-11-30",
    );
    // EXPECTED.json: the five mail-auth mails about stalw.art carry one message each.
    assert_eq!(
        (&summary["messages"], &summary["reports"]),
        (&5.into(), &5.into())
    );
    let (status, body) = request(&server.addr, "GET", "/openapi.json", &[]);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("\"openapi\": \"3.1.0\""));
    drop(server);

    // Started again on the same folder, it does not ingest the samples twice.
    let server = serve(&["--data", data.to_str().unwrap()]);
    let summary = get_json(
        &server.addr,
        "/v1/domains/stalw.art/summary?from=2022-09-01&to=2022-11-30",
    );
    assert_eq!(summary["messages"], 5);
}

/// The domains listed once `domain` is among them (within 30 s).
fn wait_for_domain(addr: &str, domain: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let names = domain_names(&get_json(addr, "/v1/domains"));
        if names.iter().any(|n| n == domain) {
            return names;
        }
        assert!(
            Instant::now() < deadline,
            "{domain} never arrived: {names:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_inbox_is_ingested_and_watched() {
    let dir = fresh_dir("serve-inbox");
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    std::fs::copy(
        fixtures.join("corpus/email/parsedmarc/twilight.eml"),
        inbox.join("first.eml"),
    )
    .unwrap();
    let server = serve(&[
        "--data",
        dir.join("store").to_str().unwrap(),
        "--inbox",
        inbox.to_str().unwrap(),
    ]);
    let wait_for = |domain: &str| wait_for_domain(&server.addr, domain);
    // No samples with an inbox: only what the inbox holds.
    assert_eq!(wait_for("twlnet.com"), ["twlnet.com"]);
    std::fs::copy(
        fixtures.join("generated/outlook-20-single-line.eml"),
        inbox.join("later.eml"),
    )
    .unwrap();
    assert_eq!(wait_for("example.com"), ["example.com", "twlnet.com"]);
    let summary = get_json(
        &server.addr,
        "/v1/domains/example.com/summary?from=2026-05-01&to=2026-05-31",
    );
    // EXPECTED.json for generated/outlook-20-single-line.eml: 1,711 messages.
    assert_eq!(summary["messages"], 1711);
}

/// `--mailbox`: what the folder holds at start, then each mail as it arrives. The server
/// reads again at least every ten minutes; a mail shown within seconds came by IDLE.
#[test]
fn a_mailbox_is_read_at_start_and_each_mail_as_it_arrives() {
    let dir = fresh_dir("serve-mailbox");
    let imap = dovecot::Dovecot::start();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    imap.deliver(&std::fs::read(fixtures.join("corpus/email/parsedmarc/twilight.eml")).unwrap());
    let file = dir.join("mailbox.toml");
    std::fs::write(
        &file,
        format!(
            "[[mailbox]]\nurl = \"imap+insecure://127.0.0.1:{}/INBOX\"\nuser = \"{}\"\npassword = \"{}\"\n",
            imap.port,
            dovecot::USER,
            dovecot::PASSWORD
        ),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let server = serve(&[
        "--data",
        dir.join("store").to_str().unwrap(),
        "--mailbox",
        file.to_str().unwrap(),
    ]);
    let wait_for = |domain: &str| wait_for_domain(&server.addr, domain);
    // No samples with a mailbox: only what it holds.
    assert_eq!(wait_for("twlnet.com"), ["twlnet.com"]);
    imap.deliver(&std::fs::read(fixtures.join("generated/outlook-20-single-line.eml")).unwrap());
    assert_eq!(wait_for("example.com"), ["example.com", "twlnet.com"]);
    let summary = get_json(
        &server.addr,
        "/v1/domains/example.com/summary?from=2026-05-01&to=2026-05-31",
    );
    // EXPECTED.json for generated/outlook-20-single-line.eml: 1,711 messages.
    assert_eq!(summary["messages"], 1711);
}

#[test]
fn a_token_is_required_when_set_and_beyond_loopback() {
    let data = fresh_dir("serve-token");
    let server = serve_with(
        &["--data", data.to_str().unwrap()],
        &[("RAMPART_TOKEN", "s3cret")],
    );
    let (status, body) = request(&server.addr, "GET", "/v1/domains", &[]);
    assert_eq!(status, 401);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "unauthorized");
    for wrong in ["Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET", "s3cret"] {
        let header = format!("Authorization: {wrong}");
        let (status, _) = request(&server.addr, "GET", "/v1/domains", &[&header]);
        assert_eq!(status, 401, "{wrong}");
    }
    let (status, _) = request(
        &server.addr,
        "GET",
        "/v1/domains",
        &["Authorization: Bearer s3cret"],
    );
    assert_eq!(status, 200);

    let refused = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
            .env("RAMPART_RESOLVER", "off")
            .env_remove("RAMPART_TOKEN")
            .envs(env.iter().copied())
            .args(["serve", "--data", data.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = refused(&["--listen", "0.0.0.0:0"], &[]);
    assert!(
        stderr.contains("would show every report to the network; set RAMPART_TOKEN"),
        "{stderr}"
    );
    // A token over plain HTTP beyond loopback travels in clear: refused unless a TLS proxy
    // in front is declared.
    let stderr = refused(&["--listen", "0.0.0.0:0"], &[("RAMPART_TOKEN", "s3cret")]);
    assert!(
        stderr.contains("over plain HTTP would send the token in clear; pass --tls-cert"),
        "{stderr}"
    );
    let empty = data.join("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    let stderr = refused(&["--token-file", empty.to_str().unwrap()], &[]);
    assert!(
        stderr.contains("empty-token: the token file is empty"),
        "{stderr}"
    );
}

/// An OpenID Connect issuer that cannot be used stops `rampart serve` at start, naming the
/// address and what failed, rather than at the first sign-in.
#[test]
fn an_oidc_issuer_is_checked_at_start() {
    let data = fresh_dir("serve-oidc");
    let refused = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
            .env("RAMPART_RESOLVER", "off")
            .env_remove("RAMPART_TOKEN")
            .args(["serve", "--data", data.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = refused(&[
        "--oidc-issuer",
        "http://127.0.0.1:9",
        "--oidc-audience",
        "ui",
    ]);
    assert!(
        stderr.contains(
            "--oidc-issuer http://127.0.0.1:9: http://127.0.0.1:9/.well-known/openid-configuration: cannot fetch"
        ),
        "{stderr}"
    );
    let stderr = refused(&[
        "--oidc-issuer",
        "http://id.example.com",
        "--oidc-audience",
        "ui",
    ]);
    assert!(
        stderr.contains("must be https (http only on a loopback address)"),
        "{stderr}"
    );
    let stderr = refused(&["--oidc-issuer", "https://id.example.com"]);
    assert!(stderr.contains("--oidc-audience <CLIENT_ID>"), "{stderr}");
}

/// `--token-file` reads the token's first line; `--insecure-http` lets it be served over
/// plain HTTP beyond loopback (behind a proxy that ends TLS).
#[test]
fn a_token_file_behind_a_declared_tls_proxy() {
    let data = fresh_dir("serve-token-file");
    let file = data.join("token");
    std::fs::write(&file, "  file-s3cret \nignored\n").unwrap();
    let server = serve(&[
        "--data",
        data.to_str().unwrap(),
        "--token-file",
        file.to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
        "--insecure-http",
    ]);
    let addr = server.addr.replace("0.0.0.0", "127.0.0.1");
    let (status, _) = request(&addr, "GET", "/v1/domains", &[]);
    assert_eq!(status, 401);
    let (status, _) = request(
        &addr,
        "GET",
        "/v1/domains",
        &["Authorization: Bearer file-s3cret"],
    );
    assert_eq!(status, 200);
}

/// A JSON body over 64 KiB is refused with 413 before it is parsed.
#[test]
fn a_large_json_body_is_refused() {
    let data = fresh_dir("serve-body");
    let server = serve(&["--data", data.to_str().unwrap()]);
    let body = format!(r#"{{"domain": "{}.example"}}"#, "a".repeat(70_000));
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    write!(
        stream,
        "POST /v1/domains HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");
    let json: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"error": "body_too_large", "message": "the body is larger than 65536 bytes"})
    );
}

/// A client that does not finish its headers in time is disconnected; one that does not
/// finish its request in time gets `503 timeout`; past the connection cap, a client waits
/// until a connection closes.
#[test]
fn slow_clients_and_too_many_connections_are_bounded() {
    let data = fresh_dir("serve-slow");
    let server = serve(&[
        "--data",
        data.to_str().unwrap(),
        "--header-timeout",
        "1",
        "--request-timeout",
        "1",
    ]);
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(slow, "GET /v1/domains HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut rest = Vec::new();
    slow.read_to_end(&mut rest).unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(!rest.contains("200 OK"), "{rest}");

    let mut upload = TcpStream::connect(&server.addr).unwrap();
    upload
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        upload,
        "POST /v1/tlsrpt HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\n\
         Content-Length: 1000\r\n\r\n{{\"organization-name\""
    )
    .unwrap();
    let mut response = Vec::new();
    let _ = upload.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
    assert!(response.contains(r#""error":"timeout""#), "{response}");
    drop(server);

    let capped = serve(&[
        "--data",
        data.to_str().unwrap(),
        "--max-connections",
        "1",
        "--header-timeout",
        "30",
    ]);
    let idle = TcpStream::connect(&capped.addr).unwrap();
    let mut waiting = TcpStream::connect(&capped.addr).unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    write!(
        waiting,
        "GET /v1/domains HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 1];
    let err = waiting.read(&mut first).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    drop(idle);
    waiting
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut response = Vec::new();
    waiting.read_to_end(&mut response).unwrap();
    assert!(
        response.starts_with(b"HTTP/1.1 200 "),
        "{}",
        String::from_utf8_lossy(&response)
    );
}

/// The bundled samples are for trying Rampart on one machine: served over a real table
/// (here moto's), the store is left as it is, empty.
#[test]
fn a_real_table_is_never_filled_with_samples() {
    let endpoint = std::env::var("RAMPART_TEST_AWS_ENDPOINT")
        .expect("RAMPART_TEST_AWS_ENDPOINT: run ./scripts/test, which starts a moto server");
    let name = format!("serve-{}", std::process::id());
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("RAMPART_TABLE", name.as_str()),
        ("RAMPART_BUCKET", name.as_str()),
    ];
    let setup = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["setup", "--backend", "aws"])
        .envs(env)
        .output()
        .unwrap();
    assert!(setup.status.success(), "{setup:?}");
    let dir = fresh_dir("serve-aws");
    let server = serve_with(&["--backend", "aws", "--data", dir.to_str().unwrap()], &env);
    let list = get_json(&server.addr, "/v1/domains");
    assert_eq!(list, serde_json::json!({"domains": [], "next": null}));
    let stored = get_json(&server.addr, "/v1/messages?outcome=stored");
    assert_eq!(stored["messages"], serde_json::json!([]));
}

/// `PUT path` with a JSON body; returns the status and the body.
fn put_json(addr: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        response[split + 4..].to_vec(),
    )
}

#[test]
fn serve_mails_the_weekly_digest_over_smtp_with_starttls() {
    let dir = fresh_dir("serve-smtp");
    let test_ca::TestCa { ca, cert, key } = test_ca::TestCa::new(&dir, &["localhost"]);
    let maildir = dir.join("maildir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-test/bin/python");
    // aiosmtpd requires STARTTLS before any mail (its default with a certificate).
    let mut smtp = Command::new(&python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .arg("--tlscert")
        .arg(&cert)
        .arg("--tlskey")
        .arg(&key)
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/test installs aiosmtpd)", python.display()));
    let data = dir.join("data");
    let smtp_url = format!("smtp://localhost:{port}");
    let server = serve(&[
        "--data",
        data.to_str().unwrap(),
        "--smtp",
        &smtp_url,
        "--smtp-ca-file",
        ca.to_str().unwrap(),
        "--alerts-from",
        "Rampart <alerts@rampart.localhost>",
    ]);
    let (status, body) = put_json(
        &server.addr,
        "/v1/alert-settings",
        r#"{"recipients": ["ops@example.net"]}"#,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // The next scheduled pass (every 30 s) sends last week's digest of all domains.
    let started = Instant::now();
    let mail = loop {
        let found = std::fs::read_dir(maildir.join("new"))
            .ok()
            .and_then(|mut entries| entries.next())
            .map(|e| std::fs::read(e.unwrap().path()).unwrap());
        if let Some(mail) = found {
            break mail;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no digest arrived"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let _ = smtp.kill();
    let _ = smtp.wait();
    let text = String::from_utf8_lossy(&mail);
    assert!(text.contains("\nSubject: Rampart weekly: "), "{text}");
    assert!(text.contains("\nTo: ops@example.net"), "{text}");
    assert!(text.contains("\nAuto-Submitted: auto-generated"), "{text}");
    // Received over TLS: aiosmtpd would have refused MAIL FROM before STARTTLS.
    assert!(mail.split(|b| *b == b'\n').all(|l| l.len() <= 1000));
}
