//! The OpenAPI 3.1 document of the REST API, served at `/openapi.json`.
//!
//! [`document`] generates it; what is served is the same document written to
//! `shared/api/openapi.json`, which `tests/document.rs` holds equal to the generated one
//! (`RAMPART_WRITE_OPENAPI=1 cargo test -p rampart-api --test document` rewrites it). Serving
//! the file keeps the schema-building code out of the query function: it was 0.3 MB of its
//! zipped package.
//!
//! The operations and schemas come from the code: each handler's `#[utoipa::path]` and the
//! `ToSchema` derives of the types it answers with ([`crate::rest::Operations`]). This module
//! adds what is the same for every operation and states two conventions of the answers that
//! the derives cannot see:
//! - answers are closed: an object has exactly the properties its type has
//!   (`additionalProperties: false`);
//! - a property that may be `null` is always sent (a Rust `Option` serialised as `null`), and
//!   one that may be absent is never `null`, so every nullable property is required.

use serde_json::{Value, json};
use utoipa::OpenApi;

use crate::rest::Operations;

/// The document, as served.
pub const JSON: &str = include_str!("../openapi.json");

/// The generated document as it is written to `openapi.json`.
pub fn pretty() -> String {
    serde_json::to_string_pretty(&document()).expect("a JSON value serialises") + "\n"
}

/// The document as a JSON value.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(Operations::openapi()).expect("the document serialises");
    doc["openapi"] = json!("3.1.0");
    doc["info"] = json!({
        "title": "Rampart API",
        "version": "1",
        "description": "DMARC aggregate and SMTP TLS reports per domain. Dates are UTC days \
            (YYYY-MM-DD, inclusive). Errors are `{\"error\": code, \"message\": ...}`. \
            Country and AS data: @ip-location-db (CC BY 4.0), from RouteViews \
            (routeviews.org), the NRO (nro.net) and IP to ASN Lite by DB-IP \
            (https://db-ip.com).",
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
    });
    doc["servers"] = json!([{"url": "/"}]);
    doc["components"]["securitySchemes"] = json!({"bearer": {"type": "http", "scheme": "bearer"}});
    // Without a token configured every route is open; with one, it is a bearer token.
    doc["security"] = json!([{}, {"bearer": []}]);
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for operation in item.values_mut() {
                finish_operation(path, operation);
            }
        }
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for schema in schemas.values_mut() {
            close(schema);
        }
    }
    doc
}

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
}

/// Adds the answers every protected operation may give, and the links a client (or a
/// stateful fuzzer) follows from a listing to its items.
fn finish_operation(path: &str, operation: &mut Value) {
    if operation["parameters"].is_null() {
        operation["parameters"] = json!([]);
    }
    let responses = &mut operation["responses"];
    match path {
        // Senders POST TLS reports without credentials (RFC 8460 section 5.4).
        "/v1/tlsrpt" => {
            operation["security"] = json!([{}]);
            // A gzip body is bytes, not text.
            operation["requestBody"]["content"]["application/tlsrpt+gzip"]["schema"]["format"] =
                json!("binary");
            return;
        }
        // The dashboard asks how to sign in before it has a token.
        "/v1/sign-in" => {
            responses["400"] = error("bad parameters");
            operation["security"] = json!([{}]);
            return;
        }
        "/openapi.json" => {}
        _ => {
            let common = [
                ("400", "bad parameters"),
                ("404", "unknown domain or resource"),
                (
                    "503",
                    "storage unavailable, or the request took too long (`timeout`)",
                ),
            ];
            for (status, description) in common {
                if responses[status].is_null() {
                    responses[status] = error(description);
                }
            }
        }
    }
    responses["401"] = error("missing or wrong bearer token");
    // A source added is one to change, test and remove.
    if path == "/v1/mailboxes" && !responses["201"].is_null() {
        let id = json!({"mailbox": "$response.body#/id"});
        responses["201"]["links"] = json!({
            "change": {"operationId": "changeMailbox", "parameters": id},
            "test": {"operationId": "testMailbox", "parameters": id},
            "remove": {"operationId": "removeMailbox", "parameters": id},
        });
        return;
    }
    let links = match path {
        "/v1/domains/{domain}/reports" => json!({
            "report": {"operationId": "report",
                       "parameters": {"id": "$response.body#/reports/0/id"}},
            "reportRaw": {"operationId": "reportRaw",
                          "parameters": {"id": "$response.body#/reports/0/id"}},
        }),
        "/v1/messages" => json!({
            "raw": {"operationId": "messageRaw",
                    "parameters": {"key": "$response.body#/messages/0/key"}},
        }),
        _ => return,
    };
    responses["200"]["links"] = links;
}

/// True for a schema that allows `null`.
fn nullable(schema: &Value) -> bool {
    let null_type =
        |t: &Value| t == "null" || t.as_array().is_some_and(|a| a.contains(&json!("null")));
    null_type(&schema["type"])
        || schema["oneOf"]
            .as_array()
            .is_some_and(|alts| alts.iter().any(|a| null_type(&a["type"])))
}

/// Applies the two conventions of the module comment to `schema` and what it contains.
fn close(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        let mut required: Vec<Value> = object
            .get("required")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (name, property) in properties {
            let name = json!(name);
            if nullable(property) && !required.contains(&name) {
                required.push(name);
            }
        }
        object.insert("required".to_owned(), Value::Array(required));
        // Parts of an allOf are closed by the whole (unevaluatedProperties), not alone.
        object
            .entry("additionalProperties")
            .or_insert(Value::Bool(false));
    }
    if let Some(parts) = object.get_mut("allOf").and_then(Value::as_array_mut) {
        for part in parts.iter_mut() {
            close(part);
            if let Some(part) = part.as_object_mut() {
                part.remove("additionalProperties");
            }
        }
        object.insert("unevaluatedProperties".to_owned(), Value::Bool(false));
    }
    if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
        for property in properties.values_mut() {
            close(property);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = object.get_mut(key) {
            close(inner);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alternatives) = object.get_mut(key).and_then(Value::as_array_mut) {
            for alternative in alternatives {
                close(alternative);
            }
        }
    }
}
