//! Helpers shared by the test files.
#![allow(dead_code)]

pub mod api;
pub mod backends;
pub mod bench_domain;
pub mod dns;
pub mod dns_world;
pub mod dovecot;
pub mod expected;
pub mod graph;
pub mod https;
pub mod test_ca;

/// Runs each named `async fn test(store: Arc<B>)` once per storage backend, as
/// `embedded::test` and `aws::test`.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(std::sync::Arc::new($crate::common::backends::embedded())).await;
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(std::sync::Arc::new($crate::common::backends::aws().await)).await;
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;

use std::io::Write;
use std::path::PathBuf;

use rampart_formats::intake::{Intake, parse_input};
use rampart_formats::{AggregateReport, Limits, TlsReport};

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

pub fn read_fixture(path: &str) -> Vec<u8> {
    std::fs::read(fixture(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn parse_fixture(path: &str) -> Intake {
    parse_input(&read_fixture(path), &Limits::default())
}

pub fn parse(bytes: &[u8]) -> Intake {
    parse_input(bytes, &Limits::default())
}

/// The only report of an input; anything else fails the test.
pub fn only_report(bytes: &[u8]) -> rampart_formats::Report {
    let intake = parse(bytes);
    assert_eq!(intake.reports.len(), 1, "problems: {:?}", intake.problems);
    intake.reports.into_iter().next().unwrap().report
}

pub fn aggregate(bytes: &[u8]) -> AggregateReport {
    match only_report(bytes) {
        rampart_formats::Report::Aggregate(r) => r,
        other => panic!("not aggregate: {other:?}"),
    }
}

pub fn tls(bytes: &[u8]) -> TlsReport {
    match only_report(bytes) {
        rampart_formats::Report::Tls(r) => r,
        other => panic!("not tlsrpt: {other:?}"),
    }
}

/// `prefix` then `filler` repeated up to `total` bytes, as one gzip member.
pub fn gzip_stream(prefix: &[u8], filler: &[u8], total: usize) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(prefix).unwrap();
    let chunk = filler.repeat((1 << 20) / filler.len());
    for _ in 0..total / chunk.len() {
        e.write_all(&chunk).unwrap();
    }
    e.finish().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A zip of (name, content) entries; names ending in `/` are directories.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        if name.ends_with('/') {
            w.add_directory(*name, options).unwrap();
        } else {
            w.start_file(*name, options).unwrap();
            w.write_all(content).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A minimal aggregate report around the given records XML.
pub fn report_xml(records: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>Example Reporter</org_name>\
<email>dmarc@reporter.example</email><report_id>r-1</report_id><date_range><begin>1700000000</begin>\
<end>1700086399</end></date_range></report_metadata><policy_published><domain>example.com</domain>\
<p>none</p></policy_published>{records}</feedback>"
    )
}

/// One record with the given source IP and count.
pub fn record(ip: &str, count: &str) -> String {
    format!(
        "<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>\
<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>\
<identifiers><header_from>example.com</header_from></identifiers><auth_results><dkim>\
<domain>example.com</domain><selector>s1</selector><result>pass</result></dkim><spf>\
<domain>bounce.example.net</domain><result>fail</result></spf></auth_results></record>"
    )
}

/// mail-auth's `100.eml` (google.com's report on stalw.art) as the SES S3 action stores it:
/// with the receipt headers (scanning on) that carry SES's spam, virus, SPF, DKIM and DMARC
/// verdicts.
pub fn as_received_by_ses(spam: &str, spf: &str, dkim: &str, dmarc: &str) -> Vec<u8> {
    let mail = read_fixture("corpus/email/mail-auth/100.eml");
    let headers = format!(
        "Return-Path: <noreply-dmarc-support@google.com>\r\n\
         Received: from mail-qv1-xf4a.google.com (mail-qv1-xf4a.google.com [209.85.219.74])\r\n \
         by inbound-smtp.us-east-1.amazonaws.com with SMTP id 9ftbsp2ncs4e2jt6ll7kkuqbe4e5r0ad1lsd1ng1\r\n \
         for dmarc@rampart.example; Mon, 28 Nov 2022 10:51:53 +0000 (UTC)\r\n\
         X-SES-Spam-Verdict: {spam}\r\n\
         X-SES-Virus-Verdict: PASS\r\n\
         Received-SPF: {spf} (spfCheck: domain of google.com designates 209.85.219.74 as permitted sender) \
         client-ip=209.85.219.74; envelope-from=noreply-dmarc-support@google.com;\r\n\
         Authentication-Results: amazonses.com;\r\n \
         spf={spf} (spfCheck: domain of google.com designates 209.85.219.74 as permitted sender) \
         client-ip=209.85.219.74; envelope-from=noreply-dmarc-support@google.com; helo=mail-qv1-xf4a.google.com;\r\n \
         dkim={dkim} header.i=@google.com;\r\n \
         dmarc={dmarc} header.from=google.com;\r\n\
         X-SES-RECEIPT: AEFBQUFBQUFBQUFHdjZ0dlBiUlZSV3lWT1B6SGhmZHBqT0ZRc2tqT1VzNGZhM3A=\r\n"
    );
    [headers.as_bytes(), &mail].concat()
}
