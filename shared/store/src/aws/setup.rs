//! Creating the table and bucket, and migrating what older versions wrote.

use super::*;

impl AwsStore {
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
    pub(super) async fn list_hosted_domains(&self) -> Result<(), StoreError> {
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
}
