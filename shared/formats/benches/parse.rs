//! Parser throughput, in MB/s of decompressed report bytes.
//!
//! Inputs come from `tests/fixtures/generated` (see its README). The 100k-record report is
//! the 1k-record Google report with its records repeated 100 times (65 MB of XML).
//! Run: `cargo bench -p rampart-shared --bench parse`; figures go to `docs/performance.md`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_formats::Limits;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/generated")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The 1k-record report with its records repeated `times` times.
fn grown(xml: &[u8], times: usize) -> Vec<u8> {
    let text = std::str::from_utf8(xml).unwrap();
    let start = text.find("<record>").unwrap();
    let end = text.rfind("</record>").unwrap() + "</record>".len();
    let mut out = String::with_capacity(xml.len() * times);
    out.push_str(&text[..start]);
    for _ in 0..times {
        out.push_str(&text[start..end]);
    }
    out.push_str(&text[end..]);
    out.into_bytes()
}

fn xml(c: &mut Criterion) {
    let limits = Limits::default();
    let one_k = fixture("google-1k.xml");
    let mut group = c.benchmark_group("dmarc_xml");
    group.throughput(Throughput::Bytes(one_k.len() as u64));
    group.bench_function("1k_records", |b| {
        b.iter(|| rampart_formats::dmarc::parse_slice(black_box(&one_k), &limits).unwrap())
    });
    // Reference: quick-xml alone, reading every event and doing nothing with it.
    group.bench_function("1k_records_tokenizer_only", |b| {
        b.iter(|| {
            let mut reader = quick_xml::Reader::from_reader(black_box(&one_k[..]));
            let mut buf = Vec::new();
            let mut events = 0usize;
            while !matches!(
                reader.read_event_into(&mut buf),
                Ok(quick_xml::events::Event::Eof) | Err(_)
            ) {
                events += 1;
                buf.clear();
            }
            events
        })
    });
    let hundred_k = grown(&one_k, 100);
    group.sample_size(10);
    group.throughput(Throughput::Bytes(hundred_k.len() as u64));
    group.bench_function("100k_records", |b| {
        b.iter(|| rampart_formats::dmarc::parse_slice(black_box(&hundred_k), &limits).unwrap())
    });
    group.finish();
}

fn mail(c: &mut Criterion) {
    let limits = Limits::default();
    let eml = fixture("outlook-1k-single-line.eml");
    // Decompressed XML size of this mail's report, as gen_aggregate.py printed it.
    const XML_BYTES: u64 = 783_433;
    let mut group = c.benchmark_group("mail");
    group.throughput(Throughput::Bytes(XML_BYTES));
    group.bench_function("microsoft_single_line_1k_records", |b| {
        b.iter(|| {
            let intake = rampart_formats::intake::parse_input(black_box(&eml), &limits);
            assert_eq!(intake.reports.len(), 1);
        })
    });
    group.finish();
}

fn tlsrpt(c: &mut Criterion) {
    let limits = Limits::default();
    let json = fixture("tlsrpt-1k.json");
    let mut group = c.benchmark_group("tlsrpt_json");
    group.throughput(Throughput::Bytes(json.len() as u64));
    group.bench_function("1k_policies", |b| {
        b.iter(|| rampart_formats::tlsrpt::parse_slice(black_box(&json), &limits).unwrap())
    });
    group.finish();
}

criterion_group!(benches, xml, mail, tlsrpt);
criterion_main!(benches);
