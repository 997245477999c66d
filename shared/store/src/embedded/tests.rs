//! Unit tests of the schema migrations and the local backend's own rules.

use super::*;
use rampart_formats::intake::parse_input;

/// A data folder written before the day counters existed gets them from its reports.
#[tokio::test]
async fn an_older_data_folder_is_migrated_with_its_counts() {
    let dir = std::env::temp_dir().join(format!("rampart-migrate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let xml = br#"<feedback><report_metadata><org_name>Old</org_name><report_id>1</report_id>
      <date_range><begin>1700000000</begin><end>1700003600</end></date_range>
      </report_metadata><policy_published><domain>old.example</domain></policy_published>
      <record><row><source_ip>192.0.2.1</source_ip><count>7</count><policy_evaluated>
      <disposition>none</disposition><dkim>pass</dkim></policy_evaluated></row></record>
      </feedback>"#;
    let report = parse_input(xml, &rampart_formats::Limits::default())
        .reports
        .remove(0);
    let body = Body::encode(&report.report, &Default::default()).unwrap();
    {
        let conn = Connection::open(dir.join(DATABASE_FILE)).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO reports (id, domain, day, kind, org, report_id, messages, records,
                 message, received_at, origin, body_hash, body)
             VALUES (?1, 'old.example', '2023-11-14', 'aggregate', 'Old', '1', 7, 1,
                 'aa/old', 0, '{}', ?2, ?3)",
            params![report.id.as_str(), body.hash, body.pieces.concat()],
        )
        .unwrap();
    }
    let store = EmbeddedStore::open(&dir).unwrap();
    let days = store
        .day_counts("old.example", &DayRange::all())
        .await
        .unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].0, "2023-11-14");
    assert_eq!(days[0].1["messages"], 7);
    assert_eq!(days[0].1["dmarc_pass"], 7);
    drop(store);
    // Opening again does not count twice.
    let store = EmbeddedStore::open(&dir).unwrap();
    let days = store
        .day_counts("old.example", &DayRange::all())
        .await
        .unwrap();
    assert_eq!(days[0].1["messages"], 7);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
