//! The AWS backend: one DynamoDB table for reports, outcomes and domains; the S3 bucket that
//! SES writes raw mail into for the blobs. The design is written up in `docs/storage.md`.
//!
//! Items (`pk`, `sk`; `gsi1pk`, `gsi1sk` on index `gsi1`):
//!
//! | item           | pk             | sk                             | gsi1pk         | gsi1sk         |
//! |----------------|----------------|--------------------------------|----------------|----------------|
//! | report header  | `D#<domain>`   | `R#<day>#<id>`                 | `RID#<id>`     | `R`            |
//! | report piece   | `D#<domain>`   | `R#<day>#<id>#B#<hash>#<nnnn>` |                |                |
//! | message        | `M#<key>`      | `M`                            | `OUT#<outcome>`| `<time>#<key>` |
//! | domain         | `DOMAIN`       | `D#<domain>`                   |                |                |
//! | day counters   | `D#<domain>`   | `A#<day>`                      |                |                |
//! | policy version | `D#<domain>`   | `P#<version, 10 digits>`       |                |                |
//!
//! A report is written in three steps: (1) its header, conditionally, as `pending`; (2) its
//! body pieces; (3) one transaction that flips the header to `complete` (on condition that
//! it is still `pending` with this body) and adds to the domain's counters and to the
//! per-day counters of every day the report covers (see [`crate::tally`]). A re-delivered
//! report finds a complete header at step 1: duplicate. A retry after a crash finds a
//! pending one, rewrites the same pieces and completes it; the step-3 condition lets exactly
//! one writer count it, however many race.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConsumedCapacity, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, PutRequest,
    ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
    TimeToLiveSpecification, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Tag, Tagging};

use super::body::{self, Body};
use super::{
    CachedName, DayRange, DomainEntry, FaultPoint, Faults, MessagePosition, MessageRecord, Outcome,
    PutReport, RawKey, RawRead, Store, StoreError, StoredReport, UPLOAD_PREFIX, WriteMode,
    normalise_domain,
};
use crate::identity::ReportId;
use crate::limits::MAX_COUNT;
use crate::mta_sts::PolicyVersion;
use crate::sources::ReverseDns;
use crate::tally::{Counters, MAX_REPORTERS_PER_DAY, Span, Tally};

type Item = HashMap<String, AttributeValue>;

/// The index that finds a report by id and messages by outcome.
pub const GSI1: &str = "gsi1";
/// The S3 object tag that carries a raw message's outcome.
pub const OUTCOME_TAG: &str = "rampart-outcome";
const PENDING: &str = "pending";
const COMPLETE: &str = "complete";

/// Where the backend keeps things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsLocation {
    /// The DynamoDB table.
    pub table: String,
    /// The S3 bucket of raw messages.
    pub bucket: String,
    /// The prefix under which raw messages are listed (SES's `ObjectKeyPrefix`).
    pub raw_prefix: String,
}

impl AwsLocation {
    /// `RAMPART_TABLE` and `RAMPART_BUCKET` are required; `RAMPART_RAW_PREFIX` defaults to
    /// `inbound/`, the SES receipt rule's object prefix.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<AwsLocation, String> {
        let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not set"));
        Ok(AwsLocation {
            table: required("RAMPART_TABLE")?,
            bucket: required("RAMPART_BUCKET")?,
            raw_prefix: var("RAMPART_RAW_PREFIX").unwrap_or_else(|| "inbound/".to_owned()),
        })
    }
}

/// DynamoDB + S3.
pub struct AwsStore {
    ddb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    at: AwsLocation,
    faults: Faults,
    /// Write capacity units DynamoDB reported as consumed, in thousandths.
    consumed_milli_wcu: AtomicU64,
    /// Items read and their size as DynamoDB counts it, for cost figures.
    items_read: AtomicU64,
    bytes_read: AtomicU64,
    max_json_bytes: u64,
    backoff: Backoff,
}

/// JSON logs for a Lambda function: the level from `AWS_LAMBDA_LOG_LEVEL` (set by the
/// function's logging config) or `RUST_LOG`, `info` by default; CloudWatch adds the time.
pub fn init_lambda_logging() {
    use tracing_subscriber::EnvFilter;
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
                .or_else(|_| EnvFilter::try_from_default_env())
                .unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .init();
}

/// Loads the AWS configuration the standard way: environment (including
/// `AWS_ENDPOINT_URL`), shared config and credentials files, SSO, container and instance roles.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// Configuration for an AWS emulator (moto) at `endpoint`: region `us-east-1` and dummy
/// credentials, for tests and benchmarks.
pub async fn emulator_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "emulator",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

impl AwsStore {
    /// Builds the clients once. With a custom endpoint (an emulator such as moto, or MinIO),
    /// S3 is addressed path-style, since `bucket.127.0.0.1` does not resolve.
    pub fn new(sdk: &aws_config::SdkConfig, at: AwsLocation) -> Self {
        let path_style = sdk.endpoint_url().is_some();
        let s3_conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(path_style)
            .build();
        AwsStore {
            ddb: aws_sdk_dynamodb::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            at,
            faults: Faults::default(),
            consumed_milli_wcu: AtomicU64::new(0),
            items_read: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            max_json_bytes: crate::Limits::default().max_total_bytes,
            backoff: Backoff::default(),
        }
    }

    pub fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        &self.ddb
    }

    pub fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    pub fn location(&self) -> &AwsLocation {
        &self.at
    }

    /// Test hook: make the next report write stop at a point, as a crash there would.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Write capacity units DynamoDB reported for this store's writes so far.
    pub fn consumed_write_units(&self) -> f64 {
        self.consumed_milli_wcu.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// DynamoDB items read so far and their total size ([`item_size`]), the basis of read
    /// capacity: a Query costs half a unit per 4 KB of items it returns (eventually
    /// consistent), a strongly consistent read one unit per 4 KB.
    pub fn items_and_bytes_read(&self) -> (u64, u64) {
        (
            self.items_read.load(Ordering::Relaxed),
            self.bytes_read.load(Ordering::Relaxed),
        )
    }

    fn count_read(&self, item: &Item) {
        self.items_read.fetch_add(1, Ordering::Relaxed);
        self.bytes_read
            .fetch_add(item_size(item) as u64, Ordering::Relaxed);
    }

    /// Creates the table and the bucket if they do not exist: for emulators and first runs
    /// outside the SAM template, which creates them in a deployment.
    pub async fn create_resources(&self) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build_error)
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key("gsi1pk", KeyType::Hash)?)
            .key_schema(key("gsi1sk", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build_error)?;
        let created = self
            .ddb
            .create_table()
            .table_name(&self.at.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(classify("create table", e)),
        }
        // Cached reverse DNS answers (`N#<ip>` items) expire; nothing else has the attribute.
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name("expires_at")
            .enabled(true)
            .build()
            .map_err(build_error)?;
        let ttl_set = self
            .ddb
            .update_time_to_live()
            .table_name(&self.at.table)
            .time_to_live_specification(ttl)
            .send()
            .await;
        if let Err(e) = ttl_set {
            // Enabling it twice is refused with a ValidationException: already done.
            let again = e.code() == Some("ValidationException");
            if !again {
                return Err(classify("enable TTL", e));
            }
        }
        let mut bucket = self.s3.create_bucket().bucket(&self.at.bucket);
        if let Some(region) = self.s3.config().region().map(|r| r.as_ref().to_owned())
            && region != "us-east-1"
        {
            bucket = bucket.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(region.as_str().into())
                    .build(),
            );
        }
        match bucket.send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                }) => {}
            Err(e) => return Err(classify("create bucket", e)),
        }
        self.list_hosted_domains().await
    }

    /// Lists, under `HOSTED`, the domains that a table written before that partition existed
    /// marked with `has_policy` on their domain item; idempotent, and nothing to do on a
    /// new table. `rampart setup --backend aws` runs it once after an upgrade.
    async fn list_hosted_domains(&self) -> Result<(), StoreError> {
        for item in self
            .query(None, "pk = :pk", &[(":pk", s("DOMAIN"))], true)
            .await?
        {
            let marked = matches!(item.get("has_policy"), Some(AttributeValue::Bool(true)));
            if let (true, Some(domain)) =
                (marked, text(&item, "sk").and_then(|k| k.strip_prefix("D#")))
            {
                self.put_marker(HOSTED, domain, "mark policy domain")
                    .await?;
            }
        }
        Ok(())
    }

    fn count(&self, capacity: Option<&ConsumedCapacity>) {
        if let Some(units) = capacity.and_then(ConsumedCapacity::capacity_units) {
            self.consumed_milli_wcu
                .fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
        }
    }

    async fn write_pieces(&self, pk: &str, prefix: &str, body: &Body) -> Result<(), StoreError> {
        let requests = body
            .pieces
            .iter()
            .enumerate()
            .map(|(i, data)| {
                put_request(Item::from([
                    ("pk".into(), s(pk)),
                    ("sk".into(), s(format!("{prefix}{i:04}"))),
                    ("data".into(), AttributeValue::B(data.clone().into())),
                ]))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.write_all(requests).await
    }

    /// Sends write requests 25 at a time (BatchWriteItem's limit), resending whatever
    /// DynamoDB leaves unprocessed.
    async fn write_all(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for batch in requests.chunks(25) {
            self.backoff
                .until_processed(batch.to_vec(), |items| self.batch_write(items))
                .await?;
        }
        Ok(())
    }

    /// One BatchGetItem call (eventually consistent): the items found, and the keys
    /// DynamoDB left unprocessed.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<(Vec<Item>, Vec<Item>), StoreError> {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .build()
            .map_err(build_error)?;
        let out = self
            .ddb
            .batch_get_item()
            .request_items(&self.at.table, request)
            .send()
            .await
            .map_err(|e| classify("read name cache", e))?;
        let items = out
            .responses()
            .and_then(|r| r.get(&self.at.table))
            .cloned()
            .unwrap_or_default();
        for item in &items {
            self.count_read(item);
        }
        let unprocessed = out
            .unprocessed_keys()
            .and_then(|u| u.get(&self.at.table))
            .map(|k| k.keys().to_vec())
            .unwrap_or_default();
        Ok((items, unprocessed))
    }

    /// One BatchWriteItem call; returns the requests DynamoDB left unprocessed.
    async fn batch_write(&self, items: Vec<WriteRequest>) -> Result<Vec<WriteRequest>, StoreError> {
        let out = self
            .ddb
            .batch_write_item()
            .request_items(&self.at.table, items)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| classify("write report body", e))?;
        for c in out.consumed_capacity() {
            self.count(Some(c));
        }
        Ok(out
            .unprocessed_items()
            .and_then(|u| u.get(&self.at.table))
            .cloned()
            .unwrap_or_default())
    }

    /// The transaction that completes (or replaces) a report and moves its domain's counters
    /// and its per-day counters, all or nothing. `header` makes the header's operation for the
    /// tally as written; `old` is what the version being replaced wrote.
    ///
    /// A day item takes a new reporter only while it has fewer than
    /// [`MAX_REPORTERS_PER_DAY`] (a condition on its `reporters` set, so concurrent writers
    /// cannot overshoot); a day that refuses is folded ([`Tally::fold_day`]) and the
    /// transaction sent again. `None` when another writer completed the report first.
    async fn complete(
        &self,
        header: impl Fn(&Tally) -> Result<TransactWriteItem, StoreError>,
        domain: &str,
        tally: &Tally,
        old: Option<&Tally>,
        totals: DomainDelta,
    ) -> Result<Option<Tally>, StoreError> {
        let mut folded: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        loop {
            let mut written = tally.clone();
            for day in &folded {
                written.fold_day(day);
            }
            let delta = old.map_or_else(|| written.clone(), |old| written.minus(old));
            // What each transaction item is, to read its cancellation reason back.
            let mut items = vec![header(&written)?];
            let mut item_days = vec![None];
            if let Some(counters) = totals.counters().days.get("") {
                items.push(self.add_counters(
                    s("DOMAIN"),
                    format!("D#{domain}"),
                    counters,
                    None,
                )?);
                item_days.push(None);
            }
            for (day, counters) in &delta.days {
                items.push(self.add_counters(
                    s(format!("D#{domain}")),
                    format!("A#{day}"),
                    counters,
                    written.reporter_on(day),
                )?);
                item_days.push(Some(day.clone()));
            }
            let sent = self
                .ddb
                .transact_write_items()
                .set_transact_items(Some(items))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            let e = match sent {
                Ok(out) => {
                    for c in out.consumed_capacity() {
                        self.count(Some(c));
                    }
                    return Ok(Some(written));
                }
                Err(e) => e,
            };
            let failed: Vec<bool> = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(t)) => t
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code() == Some("ConditionalCheckFailed"))
                    .collect(),
                _ => Vec::new(),
            };
            if failed.first() == Some(&true) {
                return Ok(None);
            }
            let full: Vec<String> = failed
                .iter()
                .zip(item_days)
                .filter_map(|(failed, day)| day.filter(|_| *failed))
                .filter(|day| !folded.contains(day))
                .collect();
            if full.is_empty() {
                return Err(classify("complete report", e));
            }
            folded.extend(full);
        }
    }

    /// An `ADD` of named counters to one item, creating it when absent. With `reporter`, the
    /// item is a day's and the reporter joins its `reporters` set, on condition that it is a
    /// member already or the set has room.
    fn add_counters(
        &self,
        pk: AttributeValue,
        sk: String,
        counters: &Counters,
        reporter: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.at.table)
            .key("pk", pk)
            .key("sk", s(sk));
        let mut adds = Vec::with_capacity(counters.len() + 1);
        for (i, (name, value)) in counters.iter().enumerate() {
            adds.push(format!("#c{i} :c{i}"));
            update = update
                .expression_attribute_names(format!("#c{i}"), name)
                .expression_attribute_values(format!(":c{i}"), n(*value));
        }
        if let Some(reporter) = reporter {
            adds.push("#reporters :reporters".to_owned());
            update = update
                .expression_attribute_names("#reporters", REPORTERS)
                .expression_attribute_values(
                    ":reporters",
                    AttributeValue::Ss(vec![reporter.into()]),
                )
                .expression_attribute_values(":reporter", s(reporter))
                .expression_attribute_values(":room", n(MAX_REPORTERS_PER_DAY as i64))
                .condition_expression(
                    "attribute_not_exists(#reporters) OR contains(#reporters, :reporter) \
                     OR size(#reporters) < :room",
                );
        }
        let update = update
            .update_expression(format!("ADD {}", adds.join(", ")))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    async fn query(
        &self,
        index: Option<&str>,
        condition: &str,
        values: &[(&str, AttributeValue)],
        forward: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut q = self
            .ddb
            .query()
            .table_name(&self.at.table)
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression(condition)
            .scan_index_forward(forward);
        for (name, value) in values {
            q = q.expression_attribute_values(*name, value.clone());
        }
        let mut pages = q.into_paginator().items().send();
        let mut items = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| classify("query", e))?;
            self.count_read(&item);
            items.push(item);
        }
        Ok(items)
    }

    /// At most `limit` items of a query, reading no more pages than that takes.
    async fn query_page(
        &self,
        index: Option<&str>,
        condition: &str,
        values: &[(&str, AttributeValue)],
        forward: bool,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        while out.len() < limit {
            let mut q = self
                .ddb
                .query()
                .table_name(&self.at.table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression(condition)
                .scan_index_forward(forward)
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX));
            for (name, value) in values {
                q = q.expression_attribute_values(*name, value.clone());
            }
            let page = q.send().await.map_err(|e| classify("query", e))?;
            for item in page.items() {
                self.count_read(item);
            }
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => break,
            }
        }
        Ok(out)
    }

    /// Lists a domain under a marker partition (`HOSTED`, `RELEASE`).
    async fn put_marker(
        &self,
        partition: &str,
        domain: &str,
        op: &'static str,
    ) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".into(), s(partition)),
            ("sk".into(), s(format!("D#{}", normalise_domain(domain)))),
        ]);
        self.put(item, op).await
    }

    /// Writes one item, replacing any with its key.
    async fn put(&self, item: Item, op: &'static str) -> Result<(), StoreError> {
        self.ddb
            .put_item()
            .table_name(&self.at.table)
            .set_item(Some(item))
            .send()
            .await
            .map(drop)
            .map_err(|e| classify(op, e))
    }

    /// The domains listed under a marker partition.
    async fn markers(&self, partition: &str) -> Result<Vec<String>, StoreError> {
        let items = self
            .query(None, "pk = :pk", &[(":pk", s(partition))], true)
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| Some(text(i, "sk")?.strip_prefix("D#")?.to_owned()))
            .collect())
    }

    async fn delete(&self, pk: String, sk: String, op: &'static str) -> Result<(), StoreError> {
        self.ddb
            .delete_item()
            .table_name(&self.at.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map(drop)
            .map_err(|e| classify(op, e))
    }

    /// The items of a domain's partition whose sort keys lie from `from` to `to`.
    async fn domain_range(
        &self,
        domain: &str,
        from: String,
        to: String,
    ) -> Result<Vec<Item>, StoreError> {
        self.query(
            None,
            "pk = :pk AND sk BETWEEN :from AND :to",
            &[
                (":pk", s(format!("D#{}", normalise_domain(domain)))),
                (":from", s(from)),
                (":to", s(to)),
            ],
            true,
        )
        .await
    }

    /// Complete reports among `items` (headers and pieces in key order), decoded.
    fn assemble(&self, items: &[Item]) -> Result<Vec<StoredReport>, StoreError> {
        let mut out = Vec::new();
        for (i, header) in items.iter().enumerate() {
            if text(header, "state") != Some(COMPLETE) {
                continue;
            }
            // A header's pieces follow it directly in key order: `<sk>#B#<hash>#<n>`. Pieces
            // of another hash are left over from a replaced version and are skipped.
            let own = format!("{}#B#", text(header, "sk").unwrap_or_default());
            let current = format!("{own}{}#", text(header, "body").unwrap_or_default());
            let pieces = items[i + 1..]
                .iter()
                .map_while(|p| {
                    text(p, "sk")
                        .filter(|sk| sk.starts_with(&own))
                        .map(|sk| (sk, p))
                })
                .filter(|(sk, _)| sk.starts_with(&current))
                .filter_map(|(_, p)| match p.get("data") {
                    Some(AttributeValue::B(b)) => Some(b.as_ref()),
                    _ => None,
                });
            out.push(self.decode_header(header, pieces)?);
        }
        Ok(out)
    }

    fn decode_header<'a>(
        &self,
        header: &Item,
        pieces: impl Iterator<Item = &'a [u8]>,
    ) -> Result<StoredReport, StoreError> {
        let field = |name: &'static str| {
            text(header, name).ok_or_else(|| StoreError::corrupt("report header", name))
        };
        let id = field("id")?;
        Ok(StoredReport {
            id: ReportId::from_hex(id).ok_or_else(|| StoreError::corrupt("report id", id))?,
            message: RawKey::new(field("message")?)
                .map_err(|e| StoreError::corrupt("message key", e))?,
            received_at: number(header, "received_at").unwrap_or(0),
            mail: text(header, "mail")
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| StoreError::corrupt("mail facts", e))?,
            origin: serde_json::from_str(field("origin")?)
                .map_err(|e| StoreError::corrupt("origin", e))?,
            report: body::decode(pieces, self.max_json_bytes)?,
        })
    }

    /// The header of a stored report, read strongly so a write just made is seen.
    async fn header(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.at.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("read report", e))?;
        if let Some(item) = &out.item {
            self.count_read(item);
        }
        Ok(out.item)
    }

    /// Registers (`Some(time)`) or unregisters (`None`) a domain; false if it already was.
    async fn set_registration(&self, name: &str, at: Option<i64>) -> Result<bool, StoreError> {
        let update = self
            .ddb
            .update_item()
            .table_name(&self.at.table)
            .key("pk", s("DOMAIN"))
            .key("sk", s(format!("D#{}", normalise_domain(name))));
        let update = match at {
            Some(at) => update
                .update_expression("SET registered_at = :at")
                .condition_expression("attribute_not_exists(registered_at)")
                .expression_attribute_values(":at", n(at)),
            None => update
                .update_expression("REMOVE registered_at")
                .condition_expression("attribute_exists(registered_at)"),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify("register domain", e)),
        }
    }

    async fn delete_pieces(&self, pk: &str, prefix: &str, count: i64) {
        for i in 0..count {
            // Best effort: an orphaned piece is never read (its hash is not the header's).
            let _ = self
                .ddb
                .delete_item()
                .table_name(&self.at.table)
                .key("pk", s(pk))
                .key("sk", s(format!("{prefix}{i:04}")))
                .send()
                .await;
        }
    }
}

/// Domain attributes `span_<n>` count the reports spread over `n` > 1 days; the largest `n`
/// with a positive count is the domain's [`DomainEntry::span_days`].
const SPAN_PREFIX: &str = "span_";

/// The partition listing the domains with a hosted policy (`D#<domain>` items).
const HOSTED: &str = "HOSTED";
/// The partition listing the domains whose held messages wait to be ingested.
const RELEASES: &str = "RELEASE";

/// The partition of the messages held for a domain (one `<key>` item each).
fn held_pk(domain: &str) -> String {
    format!("H#{}", normalise_domain(domain))
}

/// A message record's sort key in the outcome index: newest last, so read backwards.
fn message_sort_key(p: &MessagePosition) -> String {
    format!("{:012}#{}", p.processed_at.max(0), p.key)
}

/// The day item attribute listing the reporters that have counters of their own there.
const REPORTERS: &str = "reporters";

/// What completing a report adds to its domain item.
struct DomainDelta {
    reports: i64,
    messages: i64,
    records: i64,
    /// `(days, +1/-1)` for reports spread over more than one day.
    spans: Vec<(usize, i64)>,
}

impl DomainDelta {
    /// The changes as counters, under the day `""`.
    fn counters(&self) -> Tally {
        let mut totals = Tally::default();
        totals.add("", "reports", self.reports);
        totals.add("", "messages", self.messages);
        totals.add("", "records", self.records);
        for (span, n) in &self.spans {
            totals.add("", &format!("{SPAN_PREFIX}{span}"), *n);
        }
        totals
    }
}

fn spans_delta(new: usize, old: Option<usize>) -> Vec<(usize, i64)> {
    let mut out = Vec::new();
    if new > 1 {
        out.push((new, 1));
    }
    if let Some(old) = old.filter(|o| *o > 1) {
        out.push((old, -1));
    }
    out
}

/// A report's header item. `hash` names the body; `body`, once written, adds its size in
/// pieces and bytes; `tally` is what the report adds to the day counters, over `span` days.
fn header_item(
    r: &StoredReport,
    (tally, span): (&Tally, usize),
    hash: &str,
    body: Option<&Body>,
    state: &str,
) -> Result<(String, String, Item), StoreError> {
    let pk = format!("D#{}", r.domain());
    let sk = format!("R#{}#{}", r.day(), r.id);
    let sum = r.summary();
    let mut item = Item::from([
        ("pk".into(), s(&pk)),
        ("sk".into(), s(&sk)),
        ("gsi1pk".into(), s(format!("RID#{}", r.id))),
        ("gsi1sk".into(), s("R")),
        ("state".into(), s(state)),
        ("id".into(), s(r.id.as_str())),
        ("domain".into(), s(r.domain())),
        ("day".into(), s(r.day())),
        ("kind".into(), s(r.report.kind())),
        ("org".into(), s(&sum.org)),
        ("report_id".into(), s(&sum.report_id)),
        ("messages".into(), n(count_i64(sum.messages))),
        ("records".into(), n(count_i64(sum.records))),
        ("message".into(), s(r.message.as_str())),
        ("received_at".into(), n(r.received_at)),
        ("body".into(), s(hash)),
        ("tally".into(), s(tally.to_json())),
        ("span".into(), n(len_i64(span))),
        (
            "origin".into(),
            s(serde_json::to_string(&r.origin).map_err(|e| StoreError::corrupt("origin", e))?),
        ),
    ]);
    let body_size = body.map(|b| (len_i64(b.pieces.len()), len_i64(b.compressed_len())));
    let optional = [
        ("begin", sum.begin),
        ("end", sum.end),
        ("pieces", body_size.map(|b| b.0)),
        ("body_bytes", body_size.map(|b| b.1)),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            item.insert(name.into(), n(v));
        }
    }
    if let Some(mail) = &r.mail {
        item.insert(
            "mail".into(),
            s(serde_json::to_string(mail).map_err(|e| StoreError::corrupt("mail facts", e))?),
        );
        let ses = &mail.ses;
        for (name, v) in [
            ("ses_spf", &ses.spf),
            ("ses_dkim", &ses.dkim),
            ("ses_dmarc", &ses.dmarc),
            ("ses_spam", &ses.spam),
            ("ses_virus", &ses.virus),
        ] {
            if let Some(v) = v {
                item.insert(name.into(), s(v.as_str()));
            }
        }
    }
    Ok((pk, sk, item))
}

impl Store for AwsStore {
    async fn put_raw(&self, key: &RawKey, bytes: &[u8]) -> Result<(), StoreError> {
        self.s3
            .put_object()
            .bucket(&self.at.bucket)
            .key(key.as_str())
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .map(drop)
            .map_err(|e| classify("put raw message", e))
    }

    async fn get_raw(&self, key: &RawKey, max_bytes: u64) -> Result<RawRead, StoreError> {
        let got = self
            .s3
            .get_object()
            .bucket(&self.at.bucket)
            .key(key.as_str())
            .send()
            .await;
        let mut out = match got {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Ok(RawRead::Missing);
            }
            Err(e) => return Err(classify("read raw message", e)),
        };
        let size = out.content_length().unwrap_or(0).max(0) as u64;
        if size > max_bytes {
            return Ok(RawRead::TooLarge { size });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        while let Some(chunk) = out
            .body
            .try_next()
            .await
            .map_err(|e| StoreError::Unavailable {
                op: "read raw message",
                detail: e.to_string(),
            })?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max_bytes {
                return Ok(RawRead::TooLarge {
                    size: bytes.len() as u64,
                });
            }
        }
        Ok(RawRead::Bytes(bytes))
    }

    /// The mail SES wrote under the raw prefix, and the TLS reports uploaded over HTTPS.
    async fn raw_keys(&self) -> Result<Vec<RawKey>, StoreError> {
        let mut prefixes = vec![self.at.raw_prefix.as_str()];
        if !UPLOAD_PREFIX.starts_with(&self.at.raw_prefix) {
            prefixes.push(UPLOAD_PREFIX);
        }
        let mut keys = Vec::new();
        for prefix in prefixes {
            let mut pages = self
                .s3
                .list_objects_v2()
                .bucket(&self.at.bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("list raw messages", e))?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key())
                        .filter(|k| !k.ends_with('/'))
                        .filter_map(|k| RawKey::new(k).ok()),
                );
            }
        }
        Ok(keys)
    }

    async fn mark_raw(&self, key: &RawKey, outcome: Outcome) -> Result<(), StoreError> {
        let gone = |e: &Option<&str>| *e == Some("NoSuchKey");
        // PutObjectTagging replaces the whole set: keep the tags others put there.
        let current = self
            .s3
            .get_object_tagging()
            .bucket(&self.at.bucket)
            .key(key.as_str())
            .send()
            .await;
        let mut tags: Vec<Tag> = match current {
            Ok(out) => out
                .tag_set()
                .iter()
                .filter(|t| t.key() != OUTCOME_TAG)
                .cloned()
                .collect(),
            // The object is gone; there is nothing left to mark.
            Err(e) if gone(&e.as_service_error().and_then(ProvideErrorMetadata::code)) => {
                return Ok(());
            }
            Err(e) => return Err(classify("read raw message tags", e)),
        };
        tags.push(
            Tag::builder()
                .key(OUTCOME_TAG)
                .value(outcome.as_str())
                .build()
                .map_err(build_error)?,
        );
        let tagging = Tagging::builder()
            .set_tag_set(Some(tags))
            .build()
            .map_err(build_error)?;
        let sent = self
            .s3
            .put_object_tagging()
            .bucket(&self.at.bucket)
            .key(key.as_str())
            .tagging(tagging)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if gone(&e.as_service_error().and_then(ProvideErrorMetadata::code)) => Ok(()),
            Err(e) => Err(classify("tag raw message", e)),
        }
    }

    async fn put_report(
        &self,
        report: &StoredReport,
        mode: WriteMode,
    ) -> Result<PutReport, StoreError> {
        // The claim needs only the hash: a duplicate is recognised without compressing.
        let hash = Body::hash_of(&report.report)?;
        // Computed once: the header keeps it, and completing the report adds it.
        let tally = Tally::of(&report.report);
        let span = Span::of_report(&report.report).len();
        let (pk, sk, item) = header_item(report, (&tally, span), &hash, None, PENDING)?;
        let sum = report.summary();
        let pieces_prefix = |hash: &str| format!("{sk}#B#{hash}#");

        // Step 1: claim the identity, or find who holds it.
        let claimed = self
            .ddb
            .put_item()
            .table_name(&self.at.table)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(pk) OR #state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s(PENDING))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        let existing = match claimed {
            Ok(out) => {
                self.count(out.consumed_capacity());
                None
            }
            Err(e) => {
                let Some(failed) = e.as_service_error().and_then(|s| match s {
                    PutItemError::ConditionalCheckFailedException(c) => Some(c),
                    _ => None,
                }) else {
                    return Err(classify("claim report", e));
                };
                // Emulators without ReturnValuesOnConditionCheckFailure: read it instead.
                match failed.item() {
                    Some(old) => Some(old.clone()),
                    None => self.header(&pk, &sk).await?,
                }
            }
        };

        let Some(old) = existing else {
            self.faults.check(FaultPoint::AfterHeader)?;
            let body = Body::encode(&report.report)?;
            // Step 2: the body.
            self.write_pieces(&pk, &pieces_prefix(&body.hash), &body)
                .await?;
            self.faults.check(FaultPoint::AfterBody)?;
            // Step 3: complete and count, once; the header keeps the tally as written.
            let flip = |written: &Tally| {
                Update::builder()
                    .table_name(&self.at.table)
                    .key("pk", s(&pk))
                    .key("sk", s(&sk))
                    .update_expression(
                        "SET #state = :complete, pieces = :pieces, body_bytes = :bytes, \
                         tally = :tally",
                    )
                    .condition_expression("#state = :pending AND body = :body")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":complete", s(COMPLETE))
                    .expression_attribute_values(":pending", s(PENDING))
                    .expression_attribute_values(":body", s(&body.hash))
                    .expression_attribute_values(":pieces", n(len_i64(body.pieces.len())))
                    .expression_attribute_values(":bytes", n(len_i64(body.compressed_len())))
                    .expression_attribute_values(":tally", s(written.to_json()))
                    .build()
                    .map(|u| TransactWriteItem::builder().update(u).build())
                    .map_err(build_error)
            };
            let totals = DomainDelta {
                reports: 1,
                messages: count_i64(sum.messages),
                records: count_i64(sum.records),
                spans: spans_delta(span, None),
            };
            let won = self
                .complete(flip, &report.domain(), &tally, None, totals)
                .await?;
            return Ok(if won.is_some() {
                PutReport::Stored
            } else {
                PutReport::Duplicate
            });
        };

        let old_hash = text(&old, "body").unwrap_or_default().to_owned();
        if mode == WriteMode::Insert || old_hash == hash {
            return Ok(PutReport::Duplicate);
        }
        let body = Body::encode(&report.report)?;
        // Replace: new pieces under the new hash, then swap the header and move the counters
        // by the difference, on condition that nobody swapped it first.
        self.write_pieces(&pk, &pieces_prefix(&body.hash), &body)
            .await?;
        self.faults.check(FaultPoint::AfterBody)?;
        let swap = |written: &Tally| {
            let (_, _, new_header) =
                header_item(report, (written, span), &body.hash, Some(&body), COMPLETE)?;
            aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.at.table)
                .set_item(Some(new_header))
                .condition_expression("#state = :complete AND body = :old")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":complete", s(COMPLETE))
                .expression_attribute_values(":old", s(&old_hash))
                .build()
                .map(|p| TransactWriteItem::builder().put(p).build())
                .map_err(build_error)
        };
        let old_tally = Tally::from_json(text(&old, "tally").unwrap_or("{}"))
            .map_err(|e| StoreError::corrupt("tally", e))?;
        let old_span = number(&old, "span").unwrap_or(1).clamp(1, 366) as usize;
        let totals = DomainDelta {
            reports: 0,
            messages: count_i64(sum.messages).saturating_sub(counter(&old, "messages")),
            records: count_i64(sum.records).saturating_sub(counter(&old, "records")),
            spans: spans_delta(span, Some(old_span)),
        };
        let won = self
            .complete(swap, &report.domain(), &tally, Some(&old_tally), totals)
            .await?;
        if won.is_none() {
            return Ok(PutReport::Duplicate);
        }
        let old_pieces = number(&old, "pieces").unwrap_or(0);
        self.delete_pieces(&pk, &pieces_prefix(&old_hash), old_pieces)
            .await;
        Ok(PutReport::Replaced)
    }

    async fn reports(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> Result<Vec<StoredReport>, StoreError> {
        // '~' sorts after every character of the ids and '#' that follow a day.
        let (from, to) = (format!("R#{}", days.from), format!("R#{}~", days.to));
        let items = self.domain_range(domain, from, to).await?;
        self.assemble(&items)
    }

    async fn each_report(
        &self,
        domain: &str,
        days: &DayRange,
        f: &mut (dyn FnMut(StoredReport) + Send),
    ) -> Result<(), StoreError> {
        // Headers and their pieces come back together, in key order, a page (1 MB) at a
        // time; each report is decoded as soon as its last piece is read.
        let (from, to) = (format!("R#{}", days.from), format!("R#{}~", days.to));
        let pk = format!("D#{}", normalise_domain(domain));
        let mut start: Option<Item> = None;
        let mut group: Vec<Item> = Vec::new();
        loop {
            let page = self
                .ddb
                .query()
                .table_name(&self.at.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":from", s(&from))
                .expression_attribute_values(":to", s(&to))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("query", e))?;
            for item in page.items() {
                self.count_read(item);
                let own_piece = group
                    .first()
                    .and_then(|h| text(h, "sk"))
                    .zip(text(item, "sk"))
                    .is_some_and(|(header, sk)| {
                        sk.strip_prefix(header)
                            .is_some_and(|rest| rest.starts_with("#B#"))
                    });
                if !own_piece && !group.is_empty() {
                    self.assemble(&group)?.into_iter().for_each(&mut *f);
                    group.clear();
                }
                group.push(item.clone());
            }
            match page.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => break,
            }
        }
        self.assemble(&group)?.into_iter().for_each(&mut *f);
        Ok(())
    }

    async fn report(&self, id: &ReportId) -> Result<Option<StoredReport>, StoreError> {
        let headers = self
            .query(
                Some(GSI1),
                "gsi1pk = :id",
                &[(":id", s(format!("RID#{id}")))],
                true,
            )
            .await?;
        let Some(found) = headers.first() else {
            return Ok(None);
        };
        // The index is eventually consistent and holds no pieces: read the header again,
        // then its own pieces.
        let (pk, sk) = (
            text(found, "pk").unwrap_or_default(),
            text(found, "sk").unwrap_or_default(),
        );
        let Some(header) = self.header(pk, sk).await? else {
            return Ok(None);
        };
        let mut items = vec![header];
        items.extend(
            self.query(
                None,
                "pk = :pk AND begins_with(sk, :prefix)",
                &[(":pk", s(pk)), (":prefix", s(format!("{sk}#B#")))],
                true,
            )
            .await?,
        );
        Ok(self.assemble(&items)?.into_iter().next())
    }

    async fn is_stored(&self, report: &StoredReport) -> Result<bool, StoreError> {
        let (pk, sk) = (
            format!("D#{}", report.domain()),
            format!("R#{}#{}", report.day(), report.id),
        );
        let header = self.header(&pk, &sk).await?;
        Ok(header.is_some_and(|h| text(&h, "state") == Some(COMPLETE)))
    }

    async fn put_message(&self, record: &MessageRecord) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(record).map_err(|e| StoreError::corrupt("message record", e))?;
        let item = Item::from([
            ("pk".into(), s(format!("M#{}", record.key))),
            ("sk".into(), s("M")),
            ("gsi1pk".into(), s(format!("OUT#{}", record.outcome))),
            ("gsi1sk".into(), s(message_sort_key(&record.position()))),
            ("outcome".into(), s(record.outcome.as_str())),
            ("record".into(), s(json)),
        ]);
        self.ddb
            .put_item()
            .table_name(&self.at.table)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map(|out| self.count(out.consumed_capacity()))
            .map_err(|e| classify("put message", e))
    }

    async fn message(&self, key: &RawKey) -> Result<Option<MessageRecord>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.at.table)
            .key("pk", s(format!("M#{key}")))
            .key("sk", s("M"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("read message", e))?;
        out.item.as_ref().map(decode_message).transpose()
    }

    async fn messages(
        &self,
        outcome: Outcome,
        after: Option<&MessagePosition>,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let partition = (":o", s(format!("OUT#{outcome}")));
        let items = match after {
            Some(p) => {
                self.query_page(
                    Some(GSI1),
                    "gsi1pk = :o AND gsi1sk < :after",
                    &[partition, (":after", s(message_sort_key(p)))],
                    false,
                    limit,
                )
                .await?
            }
            None => {
                self.query_page(Some(GSI1), "gsi1pk = :o", &[partition], false, limit)
                    .await?
            }
        };
        items.iter().map(decode_message).collect()
    }

    async fn register_domain(&self, name: &str, at: i64) -> Result<bool, StoreError> {
        self.set_registration(name, Some(at)).await
    }

    async fn unregister_domain(&self, name: &str) -> Result<bool, StoreError> {
        self.set_registration(name, None).await
    }

    async fn domains(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DomainEntry>, StoreError> {
        // Domain items that count no report and are not registered are left out after
        // reading; pages are read until `limit` are found. The first page begins at the
        // first item: the empty domain's (reports naming none) sorts first.
        let mut out = Vec::new();
        let mut start: Option<Item> = after.map(|name| {
            Item::from([
                ("pk".into(), s("DOMAIN")),
                ("sk".into(), s(format!("D#{}", normalise_domain(name)))),
            ])
        });
        loop {
            let page = self
                .ddb
                .query()
                .table_name(&self.at.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s("DOMAIN"))
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(|e| classify("read domains", e))?;
            for item in page.items() {
                self.count_read(item);
                out.extend(decode_domain(item));
            }
            match page.last_evaluated_key() {
                Some(key) if out.len() < limit => start = Some(key.clone()),
                _ => return Ok(out),
            }
        }
    }

    async fn domain(&self, name: &str) -> Result<Option<DomainEntry>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.at.table)
            .key("pk", s("DOMAIN"))
            .key("sk", s(format!("D#{}", normalise_domain(name))))
            // Strongly: a domain read right after it is registered must be there.
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("read domain", e))?;
        if let Some(item) = &out.item {
            self.count_read(item);
        }
        Ok(out.item.as_ref().and_then(decode_domain))
    }

    async fn forget_domain(&self, name: &str) -> Result<bool, StoreError> {
        let name = normalise_domain(name);
        let mut keys: Vec<(String, String)> = self
            .query(None, "pk = :pk", &[(":pk", s(format!("D#{name}")))], true)
            .await?
            .iter()
            .map(|i| {
                let key = |k| text(i, k).unwrap_or_default().to_owned();
                (key("pk"), key("sk"))
            })
            .collect();
        let existed = !keys.is_empty() || self.domain(&name).await?.is_some();
        for item in self
            .query(None, "pk = :pk", &[(":pk", s(held_pk(&name)))], true)
            .await?
        {
            keys.push((
                held_pk(&name),
                text(&item, "sk").unwrap_or_default().to_owned(),
            ));
        }
        for partition in [HOSTED, RELEASES] {
            keys.push((partition.to_owned(), format!("D#{name}")));
        }
        // The domain item goes last: until it is gone the domain still lists, and a retry
        // finds whatever is left.
        keys.push(("DOMAIN".to_owned(), format!("D#{name}")));
        let requests = keys
            .into_iter()
            .map(|(pk, sk)| {
                aws_sdk_dynamodb::types::DeleteRequest::builder()
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(build_error)
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.write_all(requests).await?;
        Ok(existed)
    }

    async fn day_counts(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> Result<Vec<(String, Counters)>, StoreError> {
        let (from, to) = (format!("A#{}", days.from), format!("A#{}", days.to));
        let items = self.domain_range(domain, from, to).await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let day = text(item, "sk")?.strip_prefix("A#")?.to_owned();
                let counters: Counters = item
                    .iter()
                    .filter(|(name, _)| !matches!(name.as_str(), "pk" | "sk"))
                    .filter_map(|(name, v)| match v {
                        AttributeValue::N(v) => Some((name.clone(), counter_value(v)?)),
                        _ => None,
                    })
                    .filter(|(_, v)| *v != 0)
                    .collect();
                Some((day, counters))
            })
            .collect())
    }

    async fn put_policy(&self, version: &PolicyVersion) -> Result<bool, StoreError> {
        let domain = normalise_domain(&version.domain);
        let json =
            serde_json::to_string(version).map_err(|e| StoreError::corrupt("policy version", e))?;
        // The mark that lists the domain for `policy_domains` goes first: a crash after it
        // leaves a listed domain without the new version, which every reader tolerates.
        self.put_marker(HOSTED, &domain, "mark policy domain")
            .await?;
        let item = Item::from([
            ("pk".into(), s(format!("D#{domain}"))),
            ("sk".into(), s(format!("P#{:010}", version.version))),
            ("created_at".into(), n(version.created_at)),
            ("policy".into(), s(json)),
        ]);
        let put = self
            .ddb
            .put_item()
            .table_name(&self.at.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match put {
            Ok(out) => {
                self.count(out.consumed_capacity());
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify("store policy", e)),
        }
    }

    async fn policies(&self, domain: &str) -> Result<Vec<PolicyVersion>, StoreError> {
        let items = self
            .domain_range(domain, "P#".to_owned(), "P#~".to_owned())
            .await?;
        items.iter().map(decode_policy).collect()
    }

    async fn latest_policy(&self, domain: &str) -> Result<Option<PolicyVersion>, StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.at.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", s(format!("D#{}", normalise_domain(domain))))
            .expression_attribute_values(":p", s("P#"))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("read policy", e))?;
        out.items().first().map(decode_policy).transpose()
    }

    async fn policy_domains(&self) -> Result<Vec<String>, StoreError> {
        self.markers(HOSTED).await
    }

    async fn hold(&self, domain: &str, key: &RawKey, at: i64) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".into(), s(held_pk(domain))),
            ("sk".into(), s(key.as_str())),
            ("at".into(), n(at)),
        ]);
        self.put(item, "hold message").await
    }

    async fn held(&self, domain: &str, limit: usize) -> Result<Vec<RawKey>, StoreError> {
        let items = self
            .query_page(
                None,
                "pk = :pk",
                &[(":pk", s(held_pk(domain)))],
                true,
                limit,
            )
            .await?;
        items
            .iter()
            .map(|i| {
                let key = text(i, "sk").unwrap_or_default();
                RawKey::new(key).map_err(|e| StoreError::corrupt("held key", e))
            })
            .collect()
    }

    async fn unhold(&self, domain: &str, key: &RawKey) -> Result<(), StoreError> {
        self.delete(held_pk(domain), key.as_str().to_owned(), "release message")
            .await
    }

    async fn request_release(&self, domain: &str) -> Result<(), StoreError> {
        self.put_marker(RELEASES, domain, "request release").await
    }

    async fn releases(&self) -> Result<Vec<String>, StoreError> {
        self.markers(RELEASES).await
    }

    async fn release_done(&self, domain: &str) -> Result<(), StoreError> {
        self.delete(
            RELEASES.to_owned(),
            format!("D#{}", normalise_domain(domain)),
            "end release",
        )
        .await
    }

    async fn cached_names(
        &self,
        ips: &[IpAddr],
        now: i64,
    ) -> Result<HashMap<IpAddr, ReverseDns>, StoreError> {
        let mut out = HashMap::new();
        // BatchGetItem takes 100 keys; what DynamoDB leaves unprocessed is asked again.
        for chunk in ips.chunks(100) {
            let keys = chunk
                .iter()
                .map(|ip| Item::from([("pk".into(), s(name_pk(*ip))), ("sk".into(), s("N"))]))
                .collect::<Vec<_>>();
            let found = std::sync::Mutex::new(Vec::new());
            self.backoff
                .until_processed(keys, |keys| async {
                    let (items, unprocessed) = self.batch_get(keys).await?;
                    found.lock().expect("not poisoned").extend(items);
                    Ok(unprocessed)
                })
                .await?;
            let found = found.into_inner().expect("not poisoned");
            for item in found {
                let fresh = number(&item, "expires_at").is_some_and(|t| t > now);
                let ip = text(&item, "pk")
                    .and_then(|pk| pk.strip_prefix("N#"))
                    .and_then(|ip| ip.parse::<IpAddr>().ok());
                let rdns = text(&item, "rdns").and_then(|j| serde_json::from_str(j).ok());
                if let (true, Some(ip), Some(rdns)) = (fresh, ip, rdns) {
                    out.insert(ip, rdns);
                }
            }
        }
        Ok(out)
    }

    async fn cache_names(&self, names: &[CachedName]) -> Result<(), StoreError> {
        let requests = names
            .iter()
            .map(|cached| {
                let rdns = serde_json::to_string(&cached.reverse_dns)
                    .map_err(|e| StoreError::corrupt("name cache", e))?;
                put_request(Item::from([
                    ("pk".into(), s(name_pk(cached.ip))),
                    ("sk".into(), s("N")),
                    ("rdns".into(), s(rdns)),
                    ("expires_at".into(), n(cached.expires_at)),
                ]))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.write_all(requests).await
    }
}

/// A BatchWriteItem request that puts `item`.
fn put_request(item: Item) -> Result<WriteRequest, StoreError> {
    PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map(|p| WriteRequest::builder().put_request(p).build())
        .map_err(build_error)
}

/// The partition of an address's cached reverse DNS: one small item per address.
fn name_pk(ip: IpAddr) -> String {
    format!("N#{ip}")
}

/// An item's size as DynamoDB counts it for the 400 KB limit and for capacity: attribute
/// names plus values (numbers roughly one byte per two digits plus one).
pub fn item_size(item: &Item) -> usize {
    fn value_size(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.len().div_ceil(2) + 1,
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
            AttributeValue::Ns(v) => v.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m
                    .iter()
                    .map(|(k, v)| 1 + k.len() + value_size(v))
                    .sum::<usize>()
            }
            _ => 0,
        }
    }
    item.iter()
        .map(|(name, v)| name.len() + value_size(v))
        .sum()
}

fn decode_domain(i: &Item) -> Option<DomainEntry> {
    let count = |name| counter(i, name) as u64;
    let span_days = i
        .keys()
        .filter_map(|name| {
            let days: u32 = name.strip_prefix(SPAN_PREFIX)?.parse().ok()?;
            (counter(i, name) > 0).then_some(days)
        })
        .max()
        .unwrap_or(1);
    let entry = DomainEntry {
        name: text(i, "sk")?.strip_prefix("D#")?.to_owned(),
        registered_at: number(i, "registered_at"),
        reports: count("reports"),
        messages: count("messages"),
        records: count("records"),
        span_days,
    };
    (entry.registered_at.is_some() || entry.reports > 0).then_some(entry)
}

fn decode_policy(item: &Item) -> Result<PolicyVersion, StoreError> {
    let json =
        text(item, "policy").ok_or_else(|| StoreError::corrupt("policy version", "policy"))?;
    serde_json::from_str(json).map_err(|e| StoreError::corrupt("policy version", e))
}

fn decode_message(item: &Item) -> Result<MessageRecord, StoreError> {
    let json =
        text(item, "record").ok_or_else(|| StoreError::corrupt("message record", "record"))?;
    serde_json::from_str(json).map_err(|e| StoreError::corrupt("message record", e))
}

/// Exponential backoff with jitter for DynamoDB's unprocessed batch items.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_secs(2),
            attempts: 10,
        }
    }
}

impl Backoff {
    /// Sends `items`, then whatever comes back unprocessed, sleeping longer each time, until
    /// nothing is left or the attempts run out (then the caller fails and AWS retries later).
    pub async fn until_processed<T, F, Fut>(
        &self,
        mut items: Vec<T>,
        mut send: F,
    ) -> Result<(), StoreError>
    where
        F: FnMut(Vec<T>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, StoreError>>,
    {
        let mut delay = self.first;
        for attempt in 1..=self.attempts {
            items = send(items).await?;
            if items.is_empty() {
                return Ok(());
            }
            if attempt < self.attempts {
                tokio::time::sleep(jitter(delay)).await;
                delay = (delay * 2).min(self.max);
            }
        }
        Err(StoreError::Unavailable {
            op: "write report body",
            detail: format!(
                "{} items still unprocessed after {} attempts",
                items.len(),
                self.attempts
            ),
        })
    }
}

/// Half to full `d`, so writers that were throttled together do not retry together.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d / 2 + d.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

/// Maps an SDK error to a storage error: throttling, timeouts, network and server errors
/// may pass (`Unavailable`); anything else is refused.
pub(crate) fn classify<E>(op: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    const TRANSIENT: [&str; 9] = [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "SlowDown",
        "TransactionConflictException",
        "RequestTimeout",
    ];
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => {
            se.raw().status().as_u16() >= 500
                || se.err().code().is_some_and(|c| TRANSIENT.contains(&c))
        }
        _ => false,
    };
    let detail = match &err {
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("error"),
            se.err().message().unwrap_or("no message")
        ),
        other => aws_sdk_dynamodb::error::DisplayErrorContext(other).to_string(),
    };
    if transient {
        StoreError::Unavailable { op, detail }
    } else {
        StoreError::Refused { op, detail }
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Refused {
        op: "build request",
        detail: e.to_string(),
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

fn number(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// A counter's value, within 0..=MAX_COUNT whatever the item holds: DynamoDB adds without
/// bound (38 digits), so a counter read back may be past what an `i64` holds.
fn counter_value(v: &str) -> Option<i64> {
    let max = MAX_COUNT as i64;
    match v.parse::<i128>() {
        Ok(x) => Some(x.clamp(0, i128::from(max)) as i64),
        Err(_) => v
            .parse::<f64>()
            .ok()
            .map(|f| f.clamp(0.0, max as f64) as i64),
    }
}

fn counter(item: &Item, name: &str) -> i64 {
    match item.get(name) {
        Some(AttributeValue::N(v)) => counter_value(v).unwrap_or(0),
        _ => 0,
    }
}

/// A count (at most MAX_COUNT) as a DynamoDB number.
fn count_i64(n: u64) -> i64 {
    n.min(MAX_COUNT) as i64
}

/// A length as a DynamoDB number.
fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn unprocessed_items_are_resent_until_none_are_left() {
        let backoff = Backoff {
            first: Duration::from_millis(1),
            max: Duration::from_millis(4),
            attempts: 10,
        };
        let calls = Mutex::new(Vec::new());
        // DynamoDB-like: each call processes only the first item it is given.
        backoff
            .until_processed(vec![1, 2, 3, 4], |items: Vec<i32>| {
                calls.lock().unwrap().push(items.clone());
                async move { Ok(items[1..].to_vec()) }
            })
            .await
            .unwrap();
        assert_eq!(
            *calls.lock().unwrap(),
            vec![vec![1, 2, 3, 4], vec![2, 3, 4], vec![3, 4], vec![4]]
        );
    }

    #[tokio::test]
    async fn items_never_processed_end_in_a_retryable_error() {
        let backoff = Backoff {
            first: Duration::from_millis(1),
            max: Duration::from_millis(2),
            attempts: 3,
        };
        let mut calls = 0;
        let err = backoff
            .until_processed(vec![1, 2], |items: Vec<i32>| {
                calls += 1;
                async move { Ok(items) }
            })
            .await
            .unwrap_err();
        assert_eq!(calls, 3);
        assert_eq!(
            err.to_string(),
            "write report body: storage unavailable: 2 items still unprocessed after 3 attempts"
        );
    }
}
