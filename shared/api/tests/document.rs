//! The OpenAPI document against the router: every route the router serves is documented,
//! and nothing is documented that it does not serve.

use std::collections::BTreeSet;

use rampart_api::document;
use rampart_api::rest::registered_operations;
use rampart_store::embedded::EmbeddedStore;
use serde_json::Value;

#[test]
fn every_route_is_documented_and_every_operation_routed() {
    let doc = document::document();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = registered_operations::<EmbeddedStore>()
        .into_iter()
        .map(|(method, path)| {
            let method = serde_json::to_value(method).unwrap();
            (method.as_str().unwrap().to_owned(), path)
        })
        .collect();
    assert_eq!(routed, documented);
    assert_eq!(routed.len(), 36);
}

#[test]
fn routes_are_only_added_through_their_operations() {
    // `Routes::at` is the one place a path reaches axum; a `.route(` anywhere else in the
    // REST module would serve something the document does not describe.
    let source = include_str!("../src/rest.rs");
    assert_eq!(source.matches(".route(").count(), 1);
}

#[test]
fn answers_are_closed_and_nullable_properties_required() {
    let doc = document::document();
    let summary = &doc["components"]["schemas"]["Summary"];
    assert_eq!(summary["additionalProperties"], Value::Bool(false));
    let required = summary["required"].as_array().unwrap();
    assert!(required.contains(&Value::from("dmarc_pass_share")));
    // Sent only when set, never null: optional.
    let version = &doc["components"]["schemas"]["VersionView"];
    assert!(
        !version["required"]
            .as_array()
            .unwrap()
            .contains(&Value::from("retire_at"))
    );
    assert_eq!(version["properties"]["retire_at"]["type"], "string");
}

#[test]
fn the_served_document_is_the_generated_one() {
    let generated = document::pretty();
    if std::env::var_os("RAMPART_WRITE_OPENAPI").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        std::fs::write(path, &generated).unwrap();
        return;
    }
    assert!(
        document::JSON == generated,
        "shared/api/openapi.json is not what the code generates; rewrite it with \
         RAMPART_WRITE_OPENAPI=1 cargo test -p rampart-api --test document"
    );
}
