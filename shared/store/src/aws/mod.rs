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
//! | mailbox source | `MAILBOX`      | `<id>`                         |                |                |
//!
//! A report is written in three steps: (1) its header, conditionally, as `pending`; (2) its
//! body pieces; (3) one transaction that flips the header to `complete` (on condition that
//! it is still `pending` with this body) and adds to the domain's counters and to the
//! per-day counters of every day the report covers (see [`crate::tally`]). A re-delivered
//! report finds a complete header at step 1: duplicate. A retry after a crash finds a
//! pending one, rewrites the same pieces and completes it; the step-3 condition lets exactly
//! one writer count it, however many race.

// Built with the `dynamodb` feature alone, this module is only the policy host's reader
// ([`PolicyTable`]) and what it shares with the full store: the full store needs `s3` too.
#![cfg_attr(not(feature = "s3"), allow(unused_imports, dead_code))]

#[cfg(feature = "s3")]
mod alerting;
mod codec;
#[cfg(feature = "s3")]
mod mailbox;
mod policy_table;
#[cfg(feature = "s3")]
mod read;
mod retry;
#[cfg(feature = "s3")]
mod setup;
#[cfg(feature = "s3")]
mod store;
#[cfg(all(test, feature = "s3"))]
mod tests;
#[cfg(feature = "s3")]
mod write;

pub use codec::item_size;
use codec::*;
pub use policy_table::PolicyTable;
use retry::*;
pub use retry::{Backoff, classify};

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
#[cfg(feature = "s3")]
use aws_sdk_s3::primitives::ByteStream;
#[cfg(feature = "s3")]
use aws_sdk_s3::types::{Tag, Tagging};

use super::body::{self, Body};
use super::{
    CheckRun, DayRange, DnsVerdict, DomainEntry, FaultPoint, Faults, MessagePosition,
    MessageRecord, Outcome, PolicySource, PutReport, RawKey, RawRead, Store, StoreError,
    StoredReport, UPLOAD_PREFIX, WriteMode, normalise_domain,
};
use crate::PolicyVersion;
use crate::tally::{Counters, MAX_REPORTERS_PER_DAY, Span, Tally};
use rampart_formats::identity::ReportId;
use rampart_formats::limits::MAX_COUNT;
use rampart_sources::ReverseDns;
use rampart_sources::{CachedName, NameCache};

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
#[cfg(feature = "s3")]
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

/// Loads the AWS configuration the standard way: environment (including
/// `AWS_ENDPOINT_URL`), shared config and credentials files, SSO, container and instance roles.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The one HTTPS client every AWS client uses (and the credential providers): rustls on
/// ring, with the platform's trust roots.
fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
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
        .http_client(https_client())
        .load()
        .await
}

#[cfg(feature = "s3")]
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
            max_json_bytes: rampart_formats::Limits::default().max_total_bytes,
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

    fn count(&self, capacity: Option<&ConsumedCapacity>) {
        if let Some(units) = capacity.and_then(ConsumedCapacity::capacity_units) {
            self.consumed_milli_wcu
                .fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
        }
    }
}
