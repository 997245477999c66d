//! The two storage backends, set up fresh for one test each.
//!
//! The AWS backend talks to the moto server that `scripts/test` starts; its address comes
//! from `RAMPART_TEST_AWS_ENDPOINT`. Each test gets its own table and bucket, so tests run in
//! parallel against one server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use rampart_store::aws::{AwsLocation, AwsStore, OUTCOME_TAG, emulator_config};
use rampart_store::embedded::EmbeddedStore;
use rampart_store::{Faults, RawKey, Store};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// What the shared tests need beyond [`Store`] to look inside a backend.
pub trait Backend: Store {
    /// `embedded` or `aws`.
    const KIND: &'static str;
    fn faults(&self) -> &Faults;
    /// The mark on a raw message; `None` for a backend that keeps no marks.
    fn mark(&self, key: &RawKey) -> impl Future<Output = Option<Option<String>>> + Send;
    /// The size of the largest item or row written, in bytes, where items are limited.
    fn largest_item(&self) -> impl Future<Output = Option<usize>> + Send;
    /// Writes an unreadable newest version of a domain's hosted policy, as a bug or a bad
    /// hand edit would leave it.
    fn corrupt_policy(&self, domain: &str) -> impl Future<Output = ()> + Send;
    /// Deletes the roll-up counters (`class:`, `geo:`, `svc:`) of a domain's day, as a day
    /// counted before the roll-ups existed has none.
    fn forget_rollups(&self, domain: &str, day: &str) -> impl Future<Output = ()> + Send;
}

pub fn embedded() -> EmbeddedStore {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique("store"));
    let _ = std::fs::remove_dir_all(&dir);
    EmbeddedStore::open(&dir).unwrap()
}

pub fn endpoint() -> String {
    std::env::var("RAMPART_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "RAMPART_TEST_AWS_ENDPOINT is not set: run ./scripts/test, which starts a moto \
             server, or start one (moto_server -p 5055) and export \
             RAMPART_TEST_AWS_ENDPOINT=http://127.0.0.1:5055"
        )
    })
}

pub async fn aws() -> AwsStore {
    let at = AwsLocation {
        table: unique("rampart"),
        bucket: unique("rampart-raw"),
        raw_prefix: String::new(),
    };
    let store = AwsStore::new(&emulator_config(&endpoint()).await, at);
    store.create_resources().await.unwrap();
    store
}

impl Backend for EmbeddedStore {
    const KIND: &'static str = "embedded";
    fn faults(&self) -> &Faults {
        EmbeddedStore::faults(self)
    }

    async fn mark(&self, _key: &RawKey) -> Option<Option<String>> {
        None
    }

    async fn largest_item(&self) -> Option<usize> {
        None
    }

    async fn corrupt_policy(&self, domain: &str) {
        let db =
            rusqlite::Connection::open(self.dir().join(rampart_store::embedded::DATABASE_FILE))
                .unwrap();
        db.execute(
            "INSERT INTO policies (domain, version, created_at, json) VALUES (?1, 99, 0, 'garbage')",
            [domain],
        )
        .unwrap();
    }

    async fn forget_rollups(&self, domain: &str, day: &str) {
        let db =
            rusqlite::Connection::open(self.dir().join(rampart_store::embedded::DATABASE_FILE))
                .unwrap();
        let deleted = db
            .execute(
                "DELETE FROM day_counts WHERE domain = ?1 AND day = ?2
                 AND (name LIKE 'class:%' OR name LIKE 'geo:%' OR name LIKE 'svc:%')",
                [domain, day],
            )
            .unwrap();
        assert!(deleted > 0, "{domain} {day} had no roll-ups");
    }
}

impl Backend for AwsStore {
    const KIND: &'static str = "aws";
    fn faults(&self) -> &Faults {
        AwsStore::faults(self)
    }

    async fn mark(&self, key: &RawKey) -> Option<Option<String>> {
        let tags = self
            .s3()
            .get_object_tagging()
            .bucket(&self.location().bucket)
            .key(key.as_str())
            .send()
            .await
            .unwrap();
        Some(
            tags.tag_set()
                .iter()
                .find(|t| t.key() == OUTCOME_TAG)
                .map(|t| t.value().to_owned()),
        )
    }

    async fn largest_item(&self) -> Option<usize> {
        all_items(self).await.iter().map(item_size).max()
    }

    async fn corrupt_policy(&self, domain: &str) {
        self.dynamodb()
            .put_item()
            .table_name(&self.location().table)
            .item("pk", AttributeValue::S(format!("D#{domain}")))
            .item("sk", AttributeValue::S("P#0000000099".into()))
            .item("policy", AttributeValue::S("garbage".into()))
            .send()
            .await
            .unwrap();
    }

    async fn forget_rollups(&self, domain: &str, day: &str) {
        let (pk, sk) = (format!("D#{domain}"), format!("A#{day}"));
        let item = all_items(self)
            .await
            .into_iter()
            .find(|i| {
                i["pk"] == AttributeValue::S(pk.clone()) && i["sk"] == AttributeValue::S(sk.clone())
            })
            .expect("the day item");
        let rollups: Vec<&String> = item
            .keys()
            .filter(|k| ["class:", "geo:", "svc:"].iter().any(|p| k.starts_with(p)))
            .collect();
        assert!(!rollups.is_empty(), "{domain} {day} had no roll-ups");
        let mut update = self
            .dynamodb()
            .update_item()
            .table_name(&self.location().table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk));
        let names: Vec<String> = (0..rollups.len()).map(|i| format!("#r{i}")).collect();
        for (alias, name) in names.iter().zip(&rollups) {
            update = update.expression_attribute_names(alias, *name);
        }
        update
            .update_expression(format!("REMOVE {}", names.join(", ")))
            .send()
            .await
            .unwrap();
    }
}

/// Every item in the store's table. A Scan is fine in a test: it
/// reads every item to look at it.
pub async fn all_items(store: &AwsStore) -> Vec<HashMap<String, AttributeValue>> {
    let mut pages = store
        .dynamodb()
        .scan()
        .table_name(&store.location().table)
        .into_paginator()
        .items()
        .send();
    let mut items = Vec::new();
    while let Some(item) = pages.next().await {
        items.push(item.unwrap());
    }
    items
}

pub use rampart_store::aws::item_size;
