//! The policy host's view of the table: the newest policy version of a domain, and nothing
//! else, so the MTA-STS function needs no S3 client.

use super::*;

/// Reads hosted MTA-STS policies from the table with the DynamoDB client alone.
pub struct PolicyTable {
    ddb: aws_sdk_dynamodb::Client,
    table: String,
}

impl PolicyTable {
    pub fn new(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        PolicyTable {
            ddb: aws_sdk_dynamodb::Client::new(sdk),
            table: table.into(),
        }
    }
}

impl PolicySource for PolicyTable {
    async fn latest_policy(&self, domain: &str) -> Result<Option<PolicyVersion>, StoreError> {
        latest_policy(&self.ddb, &self.table, domain).await
    }
}

/// The newest version of a domain's policy: one strongly consistent Query, newest first,
/// `Limit 1` (one item of about 300 bytes).
pub(super) async fn latest_policy(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    domain: &str,
) -> Result<Option<PolicyVersion>, StoreError> {
    let out = ddb
        .query()
        .table_name(table)
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
