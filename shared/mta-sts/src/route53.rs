//! [`DnsZone`] over a Route 53 hosted zone: where the AWS deployment publishes policy ids.

use std::collections::BTreeMap;

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};

use super::DnsZone;
use rampart_store::StoreError;
use rampart_store::aws::classify;

/// One Route 53 hosted zone, by id and name.
#[derive(Debug, Clone)]
pub struct Route53Zone {
    client: Client,
    zone_id: String,
    apex: String,
}

impl Route53Zone {
    pub fn new(sdk: &aws_config::SdkConfig, zone_id: &str, apex: &str) -> Self {
        Route53Zone {
            client: Client::new(sdk),
            zone_id: zone_id.trim_start_matches("/hostedzone/").to_owned(),
            apex: apex.trim_end_matches('.').to_ascii_lowercase(),
        }
    }

    /// `RAMPART_POLICY_ZONE_ID` and `RAMPART_POLICY_ZONE`, when both are set.
    pub fn from_env(
        sdk: &aws_config::SdkConfig,
        var: impl Fn(&str) -> Option<String>,
    ) -> Option<Self> {
        Some(Route53Zone::new(
            sdk,
            &var("RAMPART_POLICY_ZONE_ID")?,
            &var("RAMPART_POLICY_ZONE")?,
        ))
    }

    async fn record(&self, name: &str) -> Result<Option<ResourceRecordSet>, StoreError> {
        let fqdn = format!("{name}.");
        let out = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .start_record_name(&fqdn)
            .start_record_type(RrType::Txt)
            .max_items(1)
            .send()
            .await
            .map_err(|e| classify("read TXT record", e))?;
        Ok(out
            .resource_record_sets
            .into_iter()
            .find(|r| r.r#type == RrType::Txt && r.name.eq_ignore_ascii_case(&fqdn)))
    }

    async fn change(&self, action: ChangeAction, set: ResourceRecordSet) -> Result<(), StoreError> {
        let refused = |e: aws_sdk_route53::error::BuildError| StoreError::Refused {
            op: "build request",
            detail: e.to_string(),
        };
        let batch = ChangeBatch::builder()
            .changes(
                Change::builder()
                    .action(action)
                    .resource_record_set(set)
                    .build()
                    .map_err(refused)?,
            )
            .build()
            .map_err(refused)?;
        self.client
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| classify("change TXT record", e))?;
        Ok(())
    }
}

/// Route 53 gives TXT data as quoted strings; a long value is several of them.
fn txt_value(set: &ResourceRecordSet) -> String {
    set.resource_records()
        .iter()
        .flat_map(|r| r.value().split("\" \""))
        .map(|part| part.trim_matches('"'))
        .collect()
}

impl DnsZone for Route53Zone {
    fn apex(&self) -> &str {
        &self.apex
    }

    async fn txt(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.record(name).await?.as_ref().map(txt_value))
    }

    async fn txt_records(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let mut records = BTreeMap::new();
        let mut start: Option<(String, RrType)> = None;
        loop {
            let out = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(&self.zone_id)
                .set_start_record_name(start.as_ref().map(|(n, _)| n.clone()))
                .set_start_record_type(start.as_ref().map(|(_, t)| t.clone()))
                .send()
                .await
                .map_err(|e| classify("list TXT records", e))?;
            for set in out.resource_record_sets() {
                if set.r#type == RrType::Txt {
                    let name = set.name.trim_end_matches('.').to_ascii_lowercase();
                    records.insert(name, txt_value(set));
                }
            }
            match (out.is_truncated, out.next_record_name, out.next_record_type) {
                (true, Some(name), Some(kind)) => start = Some((name, kind)),
                _ => return Ok(records),
            }
        }
    }

    async fn set_txt(&self, name: &str, value: &str, ttl: u32) -> Result<(), StoreError> {
        if value.contains(['"', '\\']) || value.len() > 255 {
            return Err(StoreError::Refused {
                op: "publish TXT",
                detail: format!("{value:?} needs escaping or splitting"),
            });
        }
        let set = ResourceRecordSet::builder()
            .name(format!("{name}."))
            .r#type(RrType::Txt)
            .ttl(i64::from(ttl))
            .resource_records(
                ResourceRecord::builder()
                    .value(format!("\"{value}\""))
                    .build()
                    .map_err(|e| StoreError::Refused {
                        op: "build request",
                        detail: e.to_string(),
                    })?,
            )
            .build()
            .map_err(|e| StoreError::Refused {
                op: "build request",
                detail: e.to_string(),
            })?;
        self.change(ChangeAction::Upsert, set).await
    }

    async fn remove_txt(&self, name: &str) -> Result<(), StoreError> {
        // Route 53 deletes a record only when given its exact current contents.
        match self.record(name).await? {
            Some(set) => self.change(ChangeAction::Delete, set).await,
            None => Ok(()),
        }
    }
}
