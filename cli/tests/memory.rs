//! The memory bound, proven on the worst shapes known: `rampart ingest` reads each one into a
//! fresh data folder, and the kernel's count of its peak resident memory (`wait4`) must stay
//! within 256 MiB. Each shape is within the byte bounds (a 40 MB mail, 128 MiB of XML) and
//! built to make the parser build as much as it can: many elements that each cost far more
//! memory than their bytes, many long values, many records, many MIME parts or header lines.
//!
//! One test, so that the shapes run one after another and nothing else shares the machine's
//! memory with them; the figures go to stderr (`cargo test --test memory -- --nocapture`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use std::process::{Command, Stdio};

use serde_json::Value;

/// The bound `docs/security.md` states.
const BOUND_KIB: i64 = 256 * 1024;

const HEAD: &str = "<feedback><report_metadata><org_name>Hostile</org_name>\
    <report_id>1</report_id><date_range><begin>1700000000</begin><end>1700086399</end>\
    </date_range></report_metadata><policy_published><domain>victim.example</domain>\
    </policy_published>";

/// Where a shape is written, a piece at a time: the test process stays small, since a child
/// started from it is charged the memory it had (the peak of the mm it leaves at exec).
type Out<'a> = &'a mut dyn Write;

fn gzipped(out: Out<'_>, write: impl FnOnce(Out<'_>)) {
    let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    write(&mut e);
    e.finish().unwrap();
}

fn report(out: Out<'_>, record: &str, repeat: usize) {
    out.write_all(HEAD.as_bytes()).unwrap();
    for _ in 0..repeat {
        out.write_all(record.as_bytes()).unwrap();
    }
    out.write_all(b"</feedback>").unwrap();
}

fn repeated(out: Out<'_>, piece: &str, repeat: usize) {
    for _ in 0..repeat {
        out.write_all(piece.as_bytes()).unwrap();
    }
}

const MINIMAL: &str =
    "<record><row><source_ip>192.0.2.1</source_ip><count>1</count></row></record>";

fn with_auth(out: Out<'_>, dkim: usize, spf: usize) {
    out.write_all(
        b"<record><row><source_ip>192.0.2.1</source_ip><count>1</count></row><auth_results>",
    )
    .unwrap();
    repeated(out, "<dkim/>", dkim);
    repeated(out, "<spf/>", spf);
    out.write_all(b"</auth_results></record>").unwrap();
}

fn auth_record(dkim: usize, spf: usize) -> String {
    let mut v = Vec::new();
    with_auth(&mut v, dkim, spf);
    String::from_utf8(v).unwrap()
}

/// A mail: `parts` written first, then a gzip attachment in 76-character base64 lines.
fn mail(out: Out<'_>, parts: impl FnOnce(Out<'_>), attachment: &[u8]) {
    out.write_all(
        b"From: a@reporter.example\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n",
    )
    .unwrap();
    parts(out);
    out.write_all(
        b"--b\r\nContent-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    )
    .unwrap();
    for chunk in attachment.chunks(57) {
        out.write_all(base64(chunk).as_bytes()).unwrap();
        out.write_all(b"\r\n").unwrap();
    }
    out.write_all(b"--b--\r\n").unwrap();
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn zip_of(out: &mut std::fs::File, entries: usize, write: impl Fn(Out<'_>)) {
    let mut z = zip::ZipWriter::new(out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..entries {
        z.start_file(format!("r{i}.xml"), options).unwrap();
        write(&mut z);
    }
    z.finish().unwrap();
}

fn tls_report(out: Out<'_>, detail: &str, repeat: usize) {
    out.write_all(
        br#"{"organization-name":"x","report-id":"1","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-01T23:59:59Z"},"policies":[{"policy":{"policy-type":"sts","policy-domain":"victim.example"},"summary":{},"failure-details":["#,
    )
    .unwrap();
    for i in 0..repeat {
        if i > 0 {
            out.write_all(b",").unwrap();
        }
        out.write_all(detail.as_bytes()).unwrap();
    }
    out.write_all(b"]}]}").unwrap();
}

/// Runs `rampart ingest` on one file: its one output line and its peak resident memory.
fn ingest_measured(dir: &Path, file: &Path) -> (Value, i64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["ingest", "--data"])
        .arg(dir)
        .arg(file)
        .env("RAMPART_RESOLVER", "off")
        .env_remove("RAMPART_DATA")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).unwrap();
        out
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill; the child is ours and not
    // waited for elsewhere (the Child is forgotten below, so it is never reaped twice).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    std::mem::forget(child);
    let out = reader.join().unwrap();
    let line = out
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no output for {file:?}"));
    (serde_json::from_str(line).unwrap(), usage.ru_maxrss)
}

/// A hostile input: how it is written, and the outcome and reason its line must show.
struct Shape {
    name: &'static str,
    write: Box<dyn Fn(&mut std::fs::File)>,
    outcome: &'static str,
    reason: &'static str,
}

fn shape(
    name: &'static str,
    outcome: &'static str,
    reason: &'static str,
    write: impl Fn(&mut std::fs::File) + 'static,
) -> Shape {
    Shape {
        name,
        write: Box::new(write),
        outcome,
        reason,
    }
}

fn many_records() -> Vec<u8> {
    let mut gz = Vec::new();
    gzipped(&mut gz, |o| report(o, MINIMAL, 199_999));
    gz
}

#[test]
fn every_hostile_shape_ingests_within_256_mib() {
    let root =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();

    let long = "n".repeat(300);
    let names = format!(
        "<record><row><source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated>\
         <disposition>{long}</disposition><dkim>{long}</dkim><spf>{long}</spf></policy_evaluated>\
         </row><identifiers><header_from>{long}</header_from><envelope_from>{long}</envelope_from>\
         <envelope_to>{long}</envelope_to></identifiers><auth_results>{}</auth_results></record>",
        format!(
            "<dkim><domain>{long}</domain><selector>{long}</selector><result>{long}</result></dkim>"
        )
        .repeat(4)
    );
    let comments = format!(
        "<record><row><source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated>{}\
         </policy_evaluated></row></record>",
        format!(
            "<reason><type>other</type><comment>{}</comment></reason>",
            "c".repeat(70_000)
        )
        .repeat(16)
    );
    let long_detail = serde_json::json!({"result-type": "x".repeat(300),
        "sending-mta-ip": "y".repeat(300), "receiving-mx-hostname": "z".repeat(300),
        "additional-information": "q".repeat(3000)})
    .to_string();

    let shapes = vec![
        shape(
            "17 million empty <dkim/> in one record (the reported bomb)",
            "stored",
            "",
            |f| {
                gzipped(f, |o| {
                    o.write_all(HEAD.as_bytes()).unwrap();
                    with_auth(o, 17_000_000, 0);
                    o.write_all(b"</feedback>").unwrap();
                })
            },
        ),
        shape("199,999 minimal records", "stored", "", |f| {
            gzipped(f, |o| report(o, MINIMAL, 199_999))
        }),
        shape(
            "records of 32 DKIM and 32 SPF results each",
            "rejected",
            "memory of the parsed reports exceeds",
            |f| gzipped(f, |o| report(o, &auth_record(32, 32), 199_999)),
        ),
        shape(
            "every name 300 bytes long",
            "rejected",
            "exceeds the limit",
            move |f| gzipped(f, |o| report(o, &names, 25_000)),
        ),
        shape(
            "16 reasons of 64 KiB comments per record",
            "rejected",
            "memory of the parsed reports exceeds",
            move |f| gzipped(f, |o| report(o, &comments, 110)),
        ),
        shape(
            "a zip of 60 reports sharing one budget",
            "stored",
            "memory of the parsed reports exceeds",
            |f| zip_of(f, 60, |o| report(o, &auth_record(32, 32), 4_000)),
        ),
        shape(
            "a TLS report of 199,000 empty failure details",
            "stored",
            "",
            |f| tls_report(f, "{}", 199_000),
        ),
        shape("a TLS report of long values", "stored", "", move |f| {
            tls_report(f, &long_detail, 2_000)
        }),
        shape(
            "a mail of a million MIME parts",
            "rejected",
            "MIME boundary lines of a mail exceeds",
            |f| {
                mail(
                    f,
                    |o| repeated(o, "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n", 1_000_000),
                    b"",
                )
            },
        ),
        shape(
            "a mail of five million header lines",
            "rejected",
            "header lines of a mail exceeds",
            |f| {
                f.write_all(b"From: a@b\r\n").unwrap();
                repeated(f, "X-A: b\r\n", 5_000_000);
                f.write_all(b"\r\nbody\r\n").unwrap();
            },
        ),
        shape(
            "a mail of 990 parts and 100,000 header lines around 199,999 records",
            "stored",
            "",
            |f| {
                let parts = |o: Out<'_>| {
                    repeated(
                        o,
                        "--b\r\nContent-Type: text/plain\r\nX-A: b\r\n\r\nx\r\n",
                        990,
                    );
                    o.write_all(b"--b\r\nContent-Type: text/plain\r\n").unwrap();
                    repeated(o, "X-A: b\r\n", 95_000);
                    o.write_all(b"\r\nx\r\n").unwrap();
                };
                mail(f, parts, &many_records())
            },
        ),
    ];
    let mut worst = (0, "");
    for (i, s) in shapes.iter().enumerate() {
        let path = root.join(format!("shape-{i}"));
        {
            let mut file = std::fs::File::create(&path).unwrap();
            (s.write)(&mut file);
        }
        let size = std::fs::metadata(&path).unwrap().len();
        let (line, peak_kib) = ingest_measured(&root.join(format!("data-{i}")), &path);
        eprintln!(
            "{:>7.1} MiB  {size:>9} bytes  {}: {} {}",
            peak_kib as f64 / 1024.0,
            s.name,
            line["outcome"],
            line["reason"]
        );
        assert_eq!(line["outcome"], s.outcome, "{}: {line}", s.name);
        let said = line["reason"].as_str().unwrap_or("");
        assert!(said.contains(s.reason), "{}: {line}", s.name);
        assert!(peak_kib <= BOUND_KIB, "{}: {peak_kib} KiB", s.name);
        if peak_kib > worst.0 {
            worst = (peak_kib, s.name);
        }
        // The shapes and their stored copies reach 100 MB together: free each at once.
        std::fs::remove_file(&path).unwrap();
        let _ = std::fs::remove_dir_all(root.join(format!("data-{i}")));
    }
    eprintln!("worst: {:.1} MiB, {}", worst.0 as f64 / 1024.0, worst.1);
    let _ = std::fs::remove_dir_all(&root);
}
