//! OpenAPI schemas of the answer fields that a derive cannot describe: strings drawn from a
//! fixed set, maps keyed by dimensions or classifications, and the stored report body.

use rampart_sources::Classification;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Object, RefOr, Schema};

use crate::dimension::Dimension;

fn one_of<'a>(values: impl IntoIterator<Item = &'a str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
}

/// A map whose keys are drawn from `keys`.
fn keyed_by<'a>(keys: impl IntoIterator<Item = &'a str>, value: Object) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(one_of(keys).build()))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(
            value,
        )))))
        .build()
}

/// `Group.key`: the value of each grouped dimension, null where a record has none.
pub fn group_key() -> Object {
    let value = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .build();
    keyed_by(Dimension::names(), value)
}

/// `SourceRow.classifications`: messages by classification.
pub fn classifications() -> Object {
    let count = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .build();
    keyed_by(Classification::ALL.map(Classification::as_str), count)
}

pub fn dmarc_verdict() -> Object {
    one_of(["pass", "fail"]).build()
}

pub fn dns_record_type() -> Object {
    one_of(["TXT", "CNAME"]).build()
}

pub fn policy_mode() -> Object {
    one_of(["enforce", "testing", "none"]).build()
}

pub fn report_kind() -> Object {
    one_of(["aggregate", "tlsrpt"]).build()
}

pub fn source_rows() -> Object {
    one_of(["service", "ip"]).build()
}

/// `ReportDetail.report`: the parsed report as stored, its layout in `docs/report-schema.md`.
pub fn report_body() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("kind", report_kind())
        .required("kind")
        // Described in docs/report-schema.md, not here: open.
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .description(Some(
            "the parsed report, with `sources` (what ingest learnt of each source address) \
             in an aggregate report; see docs/report-schema.md",
        ))
        .build()
}
