//! One test per real-world quirk of field guide §2.1–2.7 that intake and parsing must handle.
//! Each names its item; samples are real (fixtures) or built here faithfully.

mod common;

use common::*;
use rampart_formats::dmarc::{
    DiscoveryMethod, Disposition, DkimResult, DmarcResult, PolicyOverride, PolicyOverrideReason,
    SpfResult, SpfScope, Testing,
};
use rampart_formats::intake::{Container, IntakeError};
use rampart_formats::mail::Verdict;
use rampart_formats::tlsrpt::{PolicyType, ResultType};
use rampart_formats::warning::WarningKind;

fn has_warning(warnings: &[rampart_formats::Warning], kind: WarningKind, text: &str) -> bool {
    warnings
        .iter()
        .any(|w| w.kind == kind && w.message.contains(text))
}

/// The real Microsoft mail 103.eml with its real Outlook XML grown to 40 records (each source
/// IP changed) and gzipped into ONE base64 line, as Microsoft sends larger reports.
fn microsoft_single_line_mail() -> Vec<u8> {
    let raw = String::from_utf8(read_fixture("corpus/email/mail-auth/103.eml")).unwrap();
    let start = raw.find("H4sI").expect("gzip base64 starts with H4sI");
    let end = start
        + raw[start..]
            .find("\n\n")
            .or_else(|| raw[start..].find("\n--"))
            .unwrap();
    let gz = rampart_formats::mail::decode_base64_lenient(&raw.as_bytes()[start..end]);
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut xml).unwrap();
    let (rec_start, rec_end) = (
        xml.find("<record>").unwrap(),
        xml.rfind("</record>").unwrap() + "</record>".len(),
    );
    let one = &xml[rec_start..rec_end];
    let many: String = (0..40)
        .map(|i| one.replace("50.223.129.194", &format!("50.223.129.{i}")))
        .collect();
    let grown = format!("{}{}{}", &xml[..rec_start], many, &xml[rec_end..]);
    let one_line = base64(&gzip(grown.as_bytes()));
    assert!(one_line.len() > 998, "must break RFC 5322's line limit");
    format!("{}{}{}", &raw[..start], one_line, &raw[end..]).into_bytes()
}

// §2.1 item 1: Microsoft's single-line base64, built from the real Outlook mail and generated.
#[test]
fn item01_single_line_base64() {
    let r = aggregate(&microsoft_single_line_mail());
    assert_eq!(r.metadata.report_id, "725cbfbe133940149987cfc528387235");
    assert_eq!((r.records.len(), r.message_count()), (40, 40));
    let r = aggregate(&read_fixture("generated/outlook-1k-single-line.eml"));
    assert_eq!((r.records.len(), r.message_count()), (1000, 323528));
}

// §2.1 item 1: stray whitespace inside the base64.
#[test]
fn item01_base64_with_stray_whitespace() {
    let gz = gzip(report_xml(&record("192.0.2.1", "4")).as_bytes());
    let b64 = base64(&gz);
    let noisy: String = b64
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            if i % 7 == 3 {
                vec![' ', c]
            } else if i % 50 == 0 {
                vec!['\t', c]
            } else {
                vec![c]
            }
        })
        .collect();
    let mail = format!(
        "From: a@b.example\r\nSubject: x\r\nContent-Type: application/gzip; name=r.xml.gz\r\nContent-Transfer-Encoding: base64\r\n\r\n{noisy}\r\n"
    );
    assert_eq!(aggregate(mail.as_bytes()).message_count(), 4);
}

// §2.1 items 2, 3, 18: Microsoft's nested layout with an HTML body beside the gzip.
#[test]
fn item02_microsoft_structure_and_html_skipped() {
    let intake = parse_fixture("corpus/email/mail-auth/103.eml");
    assert!(intake.problems.is_empty(), "{:?}", intake.problems);
    let origin = &intake.reports[0].origin;
    assert_eq!(
        origin.attachment.as_deref(),
        Some("protection.outlook.com!stalw.art!1666483200!1666569600.xml.gz")
    );
    assert_eq!(origin.containers, vec![Container::Mail, Container::Gzip]);
    assert_eq!(
        intake.message.unwrap().subject.as_deref(),
        Some(
            "Report Domain: stalw.art Submitter: protection.outlook.com Report-ID: 725cbfbe133940149987cfc528387235"
        )
    );
}

// §2.1 item 4: Google's single-part mail whose body is the zip.
#[test]
fn item04_single_part_google_mail() {
    let intake = parse_fixture("corpus/email/mail-auth/100.eml");
    assert!(intake.problems.is_empty());
    assert_eq!(
        intake.reports[0].origin.containers,
        vec![Container::Mail, Container::Zip]
    );
}

// §2.1 item 5: a report mail forwarded as message/rfc822.
#[test]
fn item05_report_inside_message_rfc822() {
    let inner = String::from_utf8(read_fixture("corpus/email/mail-auth/100.eml")).unwrap();
    let mail = format!(
        "From: admin@example.com\nSubject: Fwd: report\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain\n\nsee attached\n--b1\nContent-Type: message/rfc822\n\n{inner}\n--b1--\n"
    );
    let r = aggregate(mail.as_bytes());
    assert_eq!(r.metadata.report_id, "5264580628977113351");
}

// §2.1 item 6: Seznam puts the zip in multipart/related, and a list footer follows.
#[test]
fn item06_attachment_in_multipart_related_with_footer() {
    let zipped = zip(&[(
        "seznam.cz!example.com!1700000000!1700086399.xml",
        report_xml(&record("192.0.2.9", "2")).as_bytes(),
    )]);
    let mail = format!(
        "From: noreply@seznam.cz\r\nSubject: Report\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: multipart/related; boundary=rel\r\n\r\n--rel\r\nContent-Type: text/plain\r\n\r\nReport attached\r\n--rel\r\nContent-Type: application/zip; name=\"r.xml.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--rel--\r\n--outer\r\nContent-Type: text/plain\r\n\r\n_______________\r\nmailing list footer\r\n--outer--\r\n",
        base64(&zipped)
    );
    assert_eq!(aggregate(mail.as_bytes()).message_count(), 2);
}

// §2.1 item 7: Amazon SES's octet-stream, and its RFC 2231 split file name.
#[test]
fn item07_ses_octet_stream_and_rfc2231_name() {
    let raw = String::from_utf8(read_fixture("corpus/email/mail-auth/104.eml")).unwrap();
    let intake = parse(raw.as_bytes());
    assert_eq!(
        intake.reports[0].origin.content_type.as_deref(),
        Some("application/octet-stream")
    );
    // SES splits long names per RFC 2231 (DRV `merge_name_parts`), in both headers.
    let split = raw
        .replace("\tname=amazonses.com!stalw.art!1663545600!1663632000.xml.gz", "\tname*0=amazonses.com!stalw.art!1663545600!16636;\n\tname*1=32000.xml.gz")
        .replace("\tfilename=amazonses.com!stalw.art!1663545600!1663632000.xml.gz", "\tfilename*0=\"amazonses.com!stalw.art!1663545600!1663\";\n\tfilename*1=\"632000.xml.gz\"");
    assert_ne!(split, raw, "the sample must carry the name to split");
    let intake = parse(split.as_bytes());
    assert_eq!(
        intake.reports[0].origin.attachment.as_deref(),
        Some("amazonses.com!stalw.art!1663545600!1663632000.xml.gz")
    );
}

// §2.1 item 8: labels are not trusted: gzip sent as application/zip, bare XML as text/xml.
#[test]
fn item08_content_type_zoo() {
    let xml = report_xml(&record("192.0.2.1", "3"));
    let gz = gzip(xml.as_bytes());
    let mail = format!(
        "From: a@gmx.net\r\nSubject: r\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: application/zip; name=\"r.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--x\r\nContent-Type: text/xml; name=\"r2.xml\"\r\nContent-Disposition: attachment; filename=\"r2.xml\"\r\n\r\n{}\r\n--x--\r\n",
        base64(&gz),
        xml.replace("r-1", "r-2")
    );
    let intake = parse(mail.as_bytes());
    assert!(intake.problems.is_empty(), "{:?}", intake.problems);
    assert_eq!(intake.reports.len(), 2);
    assert_eq!(
        intake.reports[0].origin.containers,
        vec![Container::Mail, Container::Gzip]
    );
}

// §2.1 item 9: Fastmail's inline disposition and unquoted boundary.
#[test]
fn item09_inline_disposition_unquoted_boundary() {
    let gz = gzip(report_xml(&record("192.0.2.1", "5")).as_bytes());
    let mail = format!(
        "From: noreply-dmarc@fastmail.com\nSubject: Report-ID:<x>\nContent-Type: multipart/mixed; boundary=_----abc\n\n--_----abc\nContent-Type: application/gzip; name=r.xml.gz\nContent-Disposition: inline; filename=r.xml.gz\nContent-Transfer-Encoding: base64\n\n{}\n--_----abc--\n",
        base64(&gz)
    );
    assert_eq!(aggregate(mail.as_bytes()).message_count(), 5);
}

// §2.1 item 10: Trustwave writes `ContentType:`.
#[test]
fn item10_contenttype_typo() {
    let gz = gzip(report_xml(&record("192.0.2.1", "6")).as_bytes());
    let mail = format!(
        "From: a@trustwave.example\r\nSubject: r\r\nContentType: application/gzip; name=r.xml.gz\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64(&gz)
    );
    assert_eq!(aggregate(mail.as_bytes()).message_count(), 6);
}

// §2.1 item 12: Mimecast's gzip followed by CRLF.
#[test]
fn item12_gzip_with_trailing_bytes() {
    let r = aggregate(&read_fixture(
        "corpus/email/parsedmarc/mimecast-weird-gzip.eml",
    ));
    assert!(
        has_warning(
            &r.warnings,
            WarningKind::ContainerRepaired,
            "ignored bytes after gzip member 1"
        ),
        "{:?}",
        r.warnings
    );
}

// §2.1 item 13: gzip inside gzip, and a multi-member gzip.
#[test]
fn item13_gzip_in_gzip_and_multi_member() {
    let xml = report_xml(&record("192.0.2.1", "7"));
    let r = aggregate(&gzip(&gzip(xml.as_bytes())));
    assert_eq!(r.message_count(), 7);
    let (a, b) = xml.split_at(xml.len() / 2);
    let mut members = gzip(a.as_bytes());
    members.extend(gzip(b.as_bytes()));
    assert_eq!(aggregate(&members).message_count(), 7);
}

// §2.1 item 14: zip with __MACOSX, a directory and two reports.
#[test]
fn item14_zip_shapes() {
    let one = report_xml(&record("192.0.2.1", "1"));
    let two = report_xml(&record("192.0.2.2", "2")).replace("r-1", "r-2");
    let archive = zip(&[
        ("reports/", b""),
        ("__MACOSX/._a.xml", b"\0\x05\x16\x07junk"),
        ("reports/a.XML", one.as_bytes()),
        ("reports/b.xml", two.as_bytes()),
        ("readme.txt", b"not a report"),
    ]);
    let intake = parse(&archive);
    assert!(intake.problems.is_empty(), "{:?}", intake.problems);
    let members: Vec<_> = intake
        .reports
        .iter()
        .map(|r| r.origin.member.clone().unwrap())
        .collect();
    assert_eq!(members, vec!["reports/a.XML", "reports/b.xml"]);
    // An entry with no report extension is still tried when nothing else is there.
    let intake = parse(&zip(&[("report", one.as_bytes())]));
    assert_eq!(intake.reports.len(), 1);
}

// §2.1 item 16: RFC 2047 subjects in other charsets, folded over lines.
#[test]
fn item16_encoded_and_folded_subjects() {
    let gz = gzip(report_xml(&record("192.0.2.1", "1")).as_bytes());
    let mail = format!(
        "From: a@example.jp\r\nSubject: =?ISO-8859-1?Q?Rapport_DMARC_=E9t=E9?=\r\n =?utf-8?B?IOaXpeacrA==?=\r\n\tReport-ID: 1\r\nContent-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64(&gz)
    );
    let intake = parse(mail.as_bytes());
    assert_eq!(
        intake.message.unwrap().subject.as_deref(),
        Some("Rapport DMARC été 日本 Report-ID: 1")
    );
    let intake = parse_fixture("corpus/email/mail-auth/101.eml");
    assert_eq!(
        intake
            .message
            .unwrap()
            .subject
            .as_deref()
            .map(|s| s.split_whitespace().count()),
        Some(7)
    );
}

// §2.1 item 17: Microsoft TLS-RPT's Content-Type continuation line without indentation.
#[test]
fn item17_unindented_header_continuation() {
    let json = read_fixture("corpus/tlsrpt/cry-inc/microsoft.json");
    let mail = format!(
        "From: tlsrpt-noreply@microsoft.com\r\nSubject: Report Domain: random.net\r\nContent-Type: multipart/report;\r\nboundary=\"--b--\"; report-type=tlsrpt\r\nMIME-Version: 1.0\r\n\r\n----b--\r\nContent-Type: text/plain\r\n\r\nTLS report\r\n----b--\r\nContent-Type: application/tlsrpt+gzip; name=r.json.gz\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n----b----\r\n",
        base64(&gzip(&json))
    );
    let r = tls(mail.as_bytes());
    assert_eq!(
        r.report_id.as_deref(),
        Some("133925885310113267+random.net")
    );
}

// §2.2 item 19: the dmarc-2.0 namespace (GMX, WEB.DE) and RFC 9990 fields without it.
#[test]
fn item19_dmarc2_namespace_and_rfc9990_fields() {
    let r = aggregate(&read_fixture("corpus/aggregate/cry-inc/gmxnet.xml"));
    assert_eq!(
        r.namespace.as_deref(),
        Some("urn:ietf:params:xml:ns:dmarc-2.0")
    );
    assert_eq!(r.policy.testing, Some(Testing::No));
    assert_eq!(r.policy.discovery_method, Some(DiscoveryMethod::Psl));
    let r = aggregate(&read_fixture(
        "corpus/aggregate/parsedmarc/rfc9990-example.net!example.com!1700000000!1700086399.xml",
    ));
    assert_eq!(r.namespace, None);
    assert_eq!(r.version.as_deref(), Some("2.0"));
    assert!(r.policy.np.is_some());
    let r = aggregate(&read_fixture("generated/enterprise-outlook-ns-zip.eml"));
    assert!(r.metadata.generator.is_some());
}

// §2.2 item 20: prefixed roots and children, and Microsoft's xsd/xsi declarations.
#[test]
fn item20_prefixed_root() {
    let xml = report_xml(&record("192.0.2.1", "3"))
        .replace(
            "<feedback>",
            "<dmarc:feedback xmlns:dmarc=\"http://dmarc.org/dmarc-xml/0.1\">",
        )
        .replace("</feedback>", "</dmarc:feedback>")
        .replace("<record>", "<dmarc:record>")
        .replace("</record>", "</dmarc:record>");
    let r = aggregate(xml.as_bytes());
    assert_eq!(
        r.namespace.as_deref(),
        Some("http://dmarc.org/dmarc-xml/0.1")
    );
    assert_eq!(r.message_count(), 3);
    let r = aggregate(&read_fixture(
        "corpus/aggregate/parsedmarc/protection.outlook.com!example.com!1711756800!1711843200.xml",
    ));
    assert_eq!(
        r.records[0].identifiers.envelope_to.as_deref(),
        Some("hotmail.com")
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

// §2.2 item 21: IKEA's unclosed <xs:schema> wrapper.
#[test]
fn item21_stray_xs_schema() {
    let r = aggregate(&read_fixture(
        "corpus/aggregate/parsedmarc/ikea.com!example.de!1538690400!1538776800.xml",
    ));
    assert!(
        has_warning(&r.warnings, WarningKind::IgnoredContent, "inside <schema>"),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.policy.fo.as_deref(), Some("0"));
}

// §2.2 item 22: no declaration, single quotes, everything on one line.
#[test]
fn item22_declarations() {
    let bare = report_xml(&record("192.0.2.1", "1")).replace("<?xml version=\"1.0\"?>", "");
    assert_eq!(aggregate(bare.as_bytes()).message_count(), 1);
    let r = aggregate(&read_fixture("corpus/aggregate/cry-inc/mailru.xml"));
    assert_eq!(r.metadata.org_name, "Mail.Ru");
}

// §2.2 item 23: invalid bytes, unescaped '<', a BOM, and U+FFFD garbage.
#[test]
fn item23_invalid_bytes_and_bom() {
    let r = aggregate(&read_fixture(
        "corpus/aggregate/parsedmarc/invalid_utf_8.xml",
    ));
    assert_eq!(
        r.records[0].identifiers.header_from.as_deref(),
        Some("bad_byte\u{fffd}")
    );
    assert!(has_warning(
        &r.warnings,
        WarningKind::InvalidUtf8,
        "header_from"
    ));
    let r = aggregate(&read_fixture("corpus/aggregate/parsedmarc/invalid_xml.xml"));
    assert_eq!(r.metadata.email.as_deref(), Some("<bad-xml@bad-xml.net>"));
    assert_eq!(
        r.records[0].identifiers.header_from.as_deref(),
        Some("bad<xml.net")
    );
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(
        report_xml(&record("192.0.2.1", "2"))
            .replace("Example Reporter", "GMX \u{fffd}\u{fffd}")
            .as_bytes(),
    );
    let r = aggregate(&bom);
    assert_eq!(
        (r.message_count(), r.metadata.org_name.as_str()),
        (2, "GMX \u{fffd}\u{fffd}")
    );
}

// §2.2 item 24: Yahoo's trailing tabs; all text is trimmed.
#[test]
fn item24_trailing_tabs_trimmed() {
    let r = aggregate(&read_fixture("corpus/aggregate/cry-inc/yahoo.xml"));
    assert_eq!(r.metadata.org_name, "Yahoo");
    assert_eq!(
        r.records[0].policy_evaluated.disposition,
        Some(Disposition::None)
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

// §2.2 item 25: CRLF line ends.
#[test]
fn item25_crlf() {
    let r = aggregate(&read_fixture("corpus/aggregate/cry-inc/hardfail.xml"));
    assert_eq!(
        r.records[0].policy_evaluated.disposition,
        Some(Disposition::Quarantine)
    );
    assert_eq!(
        r.records[0].auth_results.dkim[0].domain, None,
        "empty <domain/> is absent"
    );
}

// §2.2 item 26: XXE and billion laughs are never expanded.
#[test]
fn item26_entities_never_expanded() {
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE feedback [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\"><!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\"><!ENTITY lol9 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">]>";
    let xml = report_xml(&record("192.0.2.1", "1"))
        .replace("<?xml version=\"1.0\"?>", laughs)
        .replace("Example Reporter", "&lol9;");
    let r = aggregate(xml.as_bytes());
    assert_eq!(r.metadata.org_name, "&lol9;");
    assert!(has_warning(
        &r.warnings,
        WarningKind::EntityNotExpanded,
        "DOCTYPE ignored"
    ));
    let xxe = report_xml(&record("192.0.2.1", "1"))
        .replace(
            "<?xml version=\"1.0\"?>",
            "<?xml version=\"1.0\"?><!DOCTYPE f [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>",
        )
        .replace("r-1", "&xxe;");
    let r = aggregate(xxe.as_bytes());
    assert_eq!(r.metadata.report_id, "&xxe;");
    let escaped =
        report_xml(&record("192.0.2.1", "1")).replace("Example Reporter", "AT&amp;T &#x41;&#66;");
    assert_eq!(aggregate(escaped.as_bytes()).metadata.org_name, "AT&T AB");
}

// §2.2 item 27: Yahoo's literal "unused" in a gzip.
#[test]
fn item27_literal_unused() {
    let intake = parse(&gzip(b"unused"));
    assert!(intake.reports.is_empty());
    assert_eq!(
        intake.problems[0].error,
        IntakeError::UnknownFormat("\"unused\"".into())
    );
    assert_eq!(
        intake.rejection().unwrap(),
        "content of the gzip: not XML, JSON, gzip, zip or mail (starts with \"unused\")"
    );
}

// §2.2 item 28: element order free, and a report without records.
#[test]
fn item28_any_order_and_empty_report() {
    let xml = "<feedback><record><row><count>2</count><source_ip>2001:db8::1</source_ip></row></record>\
<policy_published><p>reject</p><domain>wp.example</domain></policy_published><report_metadata><date_range><end>20</end>\
<begin>10</begin></date_range><report_id>x</report_id><org_name>wp.pl</org_name></report_metadata></feedback>";
    let r = aggregate(xml.as_bytes());
    assert_eq!(
        (
            r.metadata.begin,
            r.metadata.end,
            r.policy.domain.as_str(),
            r.message_count()
        ),
        (Some(10), Some(20), "wp.example", 2)
    );
    let r = aggregate(b"<feedback><report_metadata><date_range><begin>1</begin><end>2</end></date_range><org_name>wp.pl</org_name><report_id>e</report_id></report_metadata><policy_published><domain>a.example</domain></policy_published></feedback>");
    assert!(r.records.is_empty());
    assert!(has_warning(
        &r.warnings,
        WarningKind::MissingValue,
        "no records"
    ));
}

// §2.3 item 29: empty org_name recovered from the contact address.
#[test]
fn item29_empty_org_name() {
    let r = aggregate(&read_fixture(
        "corpus/aggregate/parsedmarc/!example.com!1538204542!1538463818.xml",
    ));
    assert_eq!(r.metadata.org_name, "accurateplastics.com");
    assert!(has_warning(&r.warnings, WarningKind::Recovered, "org_name"));
}

// §2.3 item 30 and §2.6 item 50: identity ignores the case of org and domain.
#[test]
fn item30_identity_is_case_insensitive() {
    let a = parse(report_xml(&record("192.0.2.1", "1")).as_bytes());
    let b = parse(
        report_xml(&record("192.0.2.1", "1"))
            .replace("Example Reporter", "EXAMPLE reporter")
            .replace("example.com</domain>", "EXAMPLE.com</domain>")
            .as_bytes(),
    );
    assert_eq!(a.reports[0].id, b.reports[0].id);
    let c = parse(
        report_xml(&record("192.0.2.1", "1"))
            .replace("<end>1700086399", "<end>1700086400")
            .as_bytes(),
    );
    assert_ne!(
        a.reports[0].id, c.reports[0].id,
        "same id for another day is another report"
    );
}

// §2.3 items 32–35: attributes on values, several <error>, <generator>, odd dates.
#[test]
fn item32_to_35_metadata_shapes() {
    let xml = report_xml(&record("192.0.2.1", "1"))
        .replace("<report_id>", "<extra_contact_info lang=\"en\">https://x.example/help</extra_contact_info><error lang=\"en\">first</error><error>second</error><generator>Mail::DMARC 1.2</generator><report_id>")
        .replace("<email>", "<email type=\"x\">")
        .replace("<begin>1700000000</begin>", "<begin>1700000000.0</begin>")
        .replace("<end>1700086399</end>", "<end>1627776308616</end>");
    let r = aggregate(xml.as_bytes());
    assert_eq!(
        r.metadata.extra_contact_info.as_deref(),
        Some("https://x.example/help")
    );
    assert_eq!(r.metadata.errors, vec!["first", "second"]);
    assert_eq!(r.metadata.generator.as_deref(), Some("Mail::DMARC 1.2"));
    assert_eq!(r.metadata.email.as_deref(), Some("dmarc@reporter.example"));
    assert_eq!(
        (r.metadata.begin, r.metadata.end),
        (Some(1700000000), Some(1627776308))
    );
    assert!(has_warning(
        &r.warnings,
        WarningKind::DateNormalised,
        "milliseconds"
    ));
    assert!(has_warning(
        &r.warnings,
        WarningKind::DateNormalised,
        "fractional"
    ));
}

// §2.4 items 36–40: missing and empty policy fields, fo forms, repeated policy, domain case.
#[test]
fn item36_to_40_policy_published() {
    let xml = report_xml(&record("192.0.2.1", "1")).replace(
        "<policy_published><domain>example.com</domain><p>none</p></policy_published>",
        "<policy_published><domain>Example.COM</domain><p>Quarantine</p><sp/><fo>d:s</fo><np>reject</np><testing>y</testing><discovery_method>treewalk</discovery_method><pct>50</pct></policy_published><policy_published><domain>other.example</domain></policy_published>",
    );
    let p = aggregate(xml.as_bytes()).policy;
    assert_eq!(p.domain, "example.com");
    assert_eq!(
        (p.p, p.sp, p.np),
        (
            Some(Disposition::Quarantine),
            None,
            Some(Disposition::Reject)
        )
    );
    assert_eq!(
        (p.adkim, p.aspf),
        (None, None),
        "absent stays absent; no silent default"
    );
    assert_eq!(p.fo.as_deref(), Some("d:s"));
    assert_eq!(
        (p.testing, p.discovery_method, p.pct),
        (
            Some(Testing::Yes),
            Some(DiscoveryMethod::Treewalk),
            Some(50)
        )
    );
}

// §2.5 item 42: capitalised enums.
#[test]
fn item42_capitalised_enums() {
    let r = aggregate(&read_fixture(
        "corpus/aggregate/parsedmarc/report_with_upper_cased_pass.xml",
    ));
    let rec = &r.records[0];
    assert!(rec.policy_evaluated.dmarc_pass());
    assert!(
        rec.auth_results
            .spf
            .iter()
            .all(|s| s.result == Some(SpfResult::Pass))
    );
    assert!(r.warnings.is_empty());
}

// §2.5 items 43–46: non-standard values, missing results, interleaved auth results, identifiers.
#[test]
fn item43_to_46_record_values() {
    let rec = "<record><row><source_ip>192.0.2.1</source_ip><count>3</count><policy_evaluated><disposition>pass</disposition>\
<reason><type></type><comment></comment></reason><reason><type>Forwarded</type><comment>arc=pass</comment></reason></policy_evaluated></row>\
<identities><header_from>Example.com</header_from><envelope_to>hotmail.com</envelope_to></identities>\
<auth_results><spf><domain>a.example</domain><result>hardfail</result></spf><dkim><domain>example.com</domain><result>invalid</result><human_result>bad sig</human_result></dkim>\
<spf><domain>b.example</domain><scope>helo</scope><result>unknown</result><human_result>dns</human_result></spf><dkim><domain>x.example</domain><selector>s</selector><result>PASS</result></dkim>\
<spf><result>error</result></spf></auth_results></record>";
    let r = aggregate(report_xml(rec).as_bytes());
    let rec = &r.records[0];
    let pe = &rec.policy_evaluated;
    assert_eq!(pe.disposition, Some(Disposition::Pass));
    assert_eq!((pe.dkim.clone(), pe.spf.clone()), (None, None));
    assert_eq!(pe.reasons.len(), 2);
    assert_eq!(
        pe.reasons[0],
        PolicyOverrideReason {
            kind: None,
            comment: None
        }
    );
    assert_eq!(pe.reasons[1].kind, Some(PolicyOverride::Forwarded));
    assert_eq!(rec.identifiers.header_from.as_deref(), Some("example.com"));
    assert_eq!(rec.identifiers.envelope_to.as_deref(), Some("hotmail.com"));
    let spf: Vec<_> = rec
        .auth_results
        .spf
        .iter()
        .map(|s| s.result.clone().unwrap())
        .collect();
    assert_eq!(
        spf,
        vec![SpfResult::Fail, SpfResult::TempError, SpfResult::PermError]
    );
    assert_eq!(rec.auth_results.spf[1].scope, Some(SpfScope::Helo));
    assert_eq!(rec.auth_results.spf[1].human_result.as_deref(), Some("dns"));
    assert_eq!(
        rec.auth_results.dkim[0].result,
        Some(DkimResult::Other("invalid".into()))
    );
    assert_eq!(rec.auth_results.dkim[1].result, Some(DkimResult::Pass));
    assert!(has_warning(
        &r.warnings,
        WarningKind::InvalidValue,
        "\"invalid\""
    ));
}

// §2.5 items 47–48: odd source IPs are kept; counts are read leniently; no count, no record.
#[test]
fn item47_48_source_ip_and_count() {
    let records = [
        record("X.X.X.X", "2"),
        record("", "3"),
        record("2001:db8:0:0::1", "4"),
        record("fe80::1%eth0", "5"),
        record(" 192.0.2.7 ", " 6 "),
        record("192.0.2.8", ""),
        record("192.0.2.9", "many"),
        record("192.0.2.10", "99999999999999999999999"),
    ]
    .concat();
    let r = aggregate(report_xml(&records).as_bytes());
    let ips: Vec<String> = r.records.iter().map(|x| x.source_ip.to_string()).collect();
    assert_eq!(
        ips,
        vec![
            "X.X.X.X",
            "",
            "2001:db8::1",
            "fe80::1",
            "192.0.2.7",
            "192.0.2.10"
        ]
    );
    assert_eq!(
        r.records.iter().map(|x| x.count).collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 6, 0]
    );
    // A count no reporter can have seen is kept as sent, counted nowhere.
    assert_eq!(
        r.records[5].invalid_count.as_deref(),
        Some("99999999999999999999999")
    );
    assert_eq!(r.message_count(), 20);
    assert!(has_warning(
        &r.warnings,
        WarningKind::InvalidValue,
        "record 8: count 99999999999999999999999 is above 2^53 - 1"
    ));
    assert!(has_warning(
        &r.warnings,
        WarningKind::RecordDropped,
        "record 6 dropped"
    ));
    assert!(has_warning(
        &r.warnings,
        WarningKind::RecordDropped,
        "record 7 dropped: count \"many\""
    ));
    assert!(has_warning(
        &r.warnings,
        WarningKind::InvalidValue,
        "\"X.X.X.X\" is not an IP address"
    ));
}

// §2.5 item 49: the pre-RFC draft with results under <row>.
#[test]
fn item49_draft_schema() {
    let xml = report_xml(
        "<record><row><source_ip>192.0.2.1</source_ip><count>2</count><dkim>Pass</dkim><spf>fail</spf></row></record>",
    );
    let r = aggregate(xml.as_bytes());
    assert_eq!(r.records[0].policy_evaluated.dkim, Some(DmarcResult::Pass));
    let r = aggregate(&read_fixture(
        "corpus/aggregate/parsedmarc/old_draft_from_wiki.xml",
    ));
    assert_eq!(
        r.records[0].auth_results.dkim[0].result,
        Some(DkimResult::Fail)
    );
}

// §2.6 item 51: the largest real report parses whole.
#[test]
fn item51_large_report() {
    let r = aggregate(&read_fixture(
        "corpus/aggregate/parsedmarc/!large-example.com!1711897200!1711983600.xml",
    ));
    assert_eq!((r.records.len(), r.message_count()), (2286, 2286));
}

// §2.7 items 53–56: TLS-RPT nulls, Microsoft's TLSA string, inconsistent counts, unknown types.
#[test]
fn item53_to_56_tlsrpt() {
    let r = tls(&read_fixture("corpus/tlsrpt/cry-inc/no-contact.json"));
    assert_eq!(r.contact_info, None);
    let r = tls(&read_fixture("corpus/tlsrpt/cry-inc/no_ip_and_mx.json"));
    let d = &r.policies[0].failure_details[0];
    assert_eq!(
        (
            d.sending_mta_ip.as_deref(),
            d.receiving_mx_hostname.as_deref()
        ),
        (None, None)
    );
    assert_eq!(d.result_type, Some(ResultType::StsPolicyFetchError));
    let r = tls(&read_fixture("corpus/tlsrpt/cry-inc/microsoft.json"));
    assert_eq!(r.policies[1].policy.policy_type, Some(PolicyType::Tlsa));
    assert_eq!(r.policies[1].policy.policy_string.len(), 2);
    assert!(r.policies[1].policy.policy_string[0].starts_with("3 1 1 6007EEE5"));
    let r = tls(&read_fixture("corpus/tlsrpt/parsedmarc/mail.ru.json"));
    assert_eq!(r.failed_sessions(), 1);
    assert_eq!(
        r.policies[0].failure_details[0]
            .failure_reason_code
            .as_deref(),
        Some("bad https response code: 404")
    );
    let r = tls(&read_fixture("corpus/tlsrpt/mail-auth/rpt03.json"));
    assert_eq!(
        r.policies[1].policy.policy_type,
        Some(PolicyType::Other("invalid-policy-type".into()))
    );
    assert_eq!(r.policies[0].summary.total_failure_session_count, None);
    let r = tls(&read_fixture("generated/tlsrpt-string-mx.eml"));
    assert!(r.policies.iter().all(|p| p.policy.mx_host.len() == 1));
}

// §2.7 item 58: Google's TLS mail (multipart/report, tlsrpt+gzip, Report-ID in <...>).
#[test]
fn item58_google_tls_mail() {
    let intake = parse_fixture("corpus/tlsrpt/parsedmarc/google.com_smtp_tls_report.eml");
    assert_eq!(
        intake.reports[0].origin.content_type.as_deref(),
        Some("application/tlsrpt+gzip")
    );
    assert_eq!(
        intake.message.unwrap().from.as_deref(),
        Some("noreply-smtp-tls-reporting@google.com")
    );
}

// SES verdicts travel with every report of the mail (issue: keep X-SES-* and auth verdicts).
#[test]
fn ses_verdicts_are_kept() {
    let raw = String::from_utf8(read_fixture("corpus/email/mail-auth/100.eml")).unwrap();
    let mail = format!(
        "X-SES-Spam-Verdict: PASS\nX-SES-Virus-Verdict: PASS\nAuthentication-Results: amazonses.com;\n spf=pass (spf: x) smtp.mailfrom=google.com;\n dkim=pass header.i=@google.com;\n dmarc=pass header.from=google.com;\n{raw}"
    );
    let ses = parse(mail.as_bytes()).message.unwrap().ses;
    assert_eq!(
        (ses.spam, ses.virus),
        (Some(Verdict::Pass), Some(Verdict::Pass))
    );
    assert_eq!(
        (ses.spf, ses.dkim, ses.dmarc),
        (
            Some(Verdict::Pass),
            Some(Verdict::Pass),
            Some(Verdict::Pass)
        )
    );
}

// §2.2 (recovery): junk after the root is never read; a truncated document keeps what it had.
#[test]
fn junk_after_root_and_truncated_documents() {
    let xml = report_xml(&record("192.0.2.1", "2")) + "<feedback>second root</feedback>\0\0garbage";
    let r = aggregate(xml.as_bytes());
    assert_eq!(r.message_count(), 2);
    assert!(has_warning(
        &r.warnings,
        WarningKind::IgnoredContent,
        "after </feedback>"
    ));

    let whole = report_xml(&[record("192.0.2.1", "2"), record("192.0.2.2", "3")].concat());
    let cut = &whole[..whole.rfind("<identifiers>").unwrap()];
    let r = aggregate(cut.as_bytes());
    assert_eq!(r.records.len(), 2, "the cut record still has its count");
    assert_eq!(r.message_count(), 5);
    assert!(has_warning(
        &r.warnings,
        WarningKind::MalformedXml,
        "ended before </feedback>"
    ));
}
