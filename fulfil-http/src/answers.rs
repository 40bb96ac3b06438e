//! The JSON Schemas of the API's answers, generated from the Rust types
//! they are serialized from, so the `OpenAPI` document cannot drift from
//! what the routes send: a test compares the checked-in document's
//! components and response schemas with these.

use schemars::gen::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// Each route's answer (status 200): its method, path, the schema's name
/// in `components/schemas`, and whether the answer is a list of them.
pub const ANSWERS: [(&str, &str, &str, bool); 18] = [
    ("get", "/atp/{sku}", "SkuAtp", false),
    ("get", "/promise/{sku}", "Promise", false),
    ("get", "/metrics/orders", "OrderMetrics", false),
    ("get", "/metrics/inventory", "StockMetrics", false),
    ("get", "/audit/oversells", "AuditReport", false),
    ("get", "/audit/promises/{order_id}", "PromiseView", true),
    ("get", "/diagnose/late-orders", "LateReport", false),
    ("get", "/orders", "OrderPage", false),
    ("get", "/orders/{order_id}", "Story", false),
    ("get", "/skus", "SkuDefinition", true),
    ("get", "/locations", "LocationDefinition", true),
    ("get", "/purchase-orders", "PurchaseSummary", true),
    ("get", "/stock", "StockRow", true),
    ("post", "/commands", "CommandResult", false),
    ("post", "/read-models/{name}/rebuild", "Rebuilt", false),
    ("get", "/read-models/{name}/check", "CheckReport", false),
    ("get", "/readyz", "Readiness", false),
    ("get", "/state/{stream}", "AggregateState", false),
];

/// One aggregate's state as `GET /state/{stream}` answers it.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct AggregateState {
    /// The stream, as asked.
    stream: String,
    /// The version of its last fact.
    version: u64,
    /// The aggregate's state: its fields depend on its kind.
    state: Map<String, Value>,
}

/// Whether the node is ready, and how far each read model has folded.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct Readiness {
    /// Ready: the first catch-up is done (and, with `position`, the models hold it).
    ready: bool,
    /// `writer` or `replica`.
    role: String,
    /// The log position the workers last caught everything up to.
    caught_up: Option<u64>,
    /// Each model's checkpoint and how far it is behind.
    read_models: Vec<projections::Lag>,
}

/// Every answer's schema, by name, with the schemas they use; `$ref`s
/// point into `#/components/schemas/`.
pub fn answer_schemas() -> Map<String, Value> {
    let mut settings = SchemaSettings::draft2019_09();
    settings.definitions_path = "#/components/schemas/".into();
    let mut gen = SchemaGenerator::new(settings);
    gen.subschema_for::<projections::atp::SkuAtp>();
    gen.subschema_for::<projections::atp::Promise>();
    gen.subschema_for::<projections::orders::OrderMetrics>();
    gen.subschema_for::<projections::stock::StockMetrics>();
    gen.subschema_for::<audit::AuditReport>();
    gen.subschema_for::<audit::PromiseView>();
    gen.subschema_for::<audit::LateReport>();
    gen.subschema_for::<projections::orders::OrderPage>();
    gen.subschema_for::<audit::Story>();
    gen.subschema_for::<schemas::catalog::SkuDefinition>();
    gen.subschema_for::<schemas::catalog::LocationDefinition>();
    gen.subschema_for::<projections::purchases::PurchaseSummary>();
    gen.subschema_for::<projections::atp::StockRow>();
    gen.subschema_for::<schemas::CommandResult>();
    gen.subschema_for::<projections::projection::Rebuilt>();
    gen.subschema_for::<projections::projection::CheckReport>();
    gen.subschema_for::<Readiness>();
    gen.subschema_for::<AggregateState>();
    gen.take_definitions()
        .into_iter()
        .map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Value::Null)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Schemas the document keeps by hand: the error body, a backup's
    /// figures, and the log's events (whose payloads are described in
    /// `schemas/json/`).
    const HAND_WRITTEN: [&str; 4] = ["Backup", "Error", "EventPage", "RecordedEvent"];

    /// The `OpenAPI` document `doc` with its components and answers brought
    /// up to date with the types.
    fn with_answers(mut doc: Value) -> Value {
        let generated = answer_schemas();
        if let Some(schemas) = doc
            .pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut)
        {
            schemas.retain(|name, _| HAND_WRITTEN.contains(&name.as_str()));
            schemas.extend(generated);
        }
        for (method, path, name, list) in ANSWERS {
            let reference = serde_json::json!({ "$ref": format!("#/components/schemas/{name}") });
            let schema = if list {
                serde_json::json!({ "type": "array", "items": reference })
            } else {
                reference
            };
            if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
                let op = &mut paths[path][method];
                op["responses"]["200"]["content"]["application/json"]["schema"] = schema;
                if op["responses"]["200"]["description"].is_null() {
                    op["responses"]["200"]["description"] = Value::String("The answer".into());
                }
            }
        }
        doc
    }

    /// `UPDATE_OPENAPI=1 cargo test -p fulfil-http answers` rewrites the document.
    #[test]
    fn the_openapi_documents_answers_are_the_types_the_routes_send() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/openapi.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        let updated = with_answers(doc.clone());
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&updated).unwrap() + "\n",
            )
            .unwrap();
            return;
        }
        assert!(
            doc == updated,
            "src/openapi.json is out of date with the answer types: run UPDATE_OPENAPI=1 cargo test -p fulfil-http answers"
        );
        // Every reference resolves.
        let text = serde_json::to_string(&doc).unwrap();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{name} is referenced but not defined"
            );
        }
    }
}
