//! JSON Schemas of every message on the wire, generated from the Rust types
//! so they cannot drift: a test fails when the files checked in under
//! `schemas/json/` differ from what the types say.

use chrono::{DateTime, Utc};
use schemars::{schema_for, JsonSchema};
use serde_json::Value;

use crate::{
    CatalogCommand, CatalogEvent, CommandResult, InventoryCommand, InventoryEvent, OrderCommand,
    OrderEvent, PurchaseOrderCommand, PurchaseOrderEvent,
};

/// A command as published on a command topic: the envelope fields and the
/// command's own fields in one flat object, `type` naming the command.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct CommandMessage<C> {
    /// Unique per command; a retry with the same id is applied once.
    command_id: String,
    /// Business time; absent means now by the service's clock.
    at: Option<DateTime<Utc>>,
    /// Ties together everything one business flow caused.
    correlation_id: Option<String>,
    #[serde(flatten)]
    command: C,
}

/// The schema of one aggregate's command messages, as strict as decoding
/// is: the envelope is in every command's object, no object takes a field
/// it does not name (`additionalProperties: false`), and quantities are
/// bounded as the aggregates bound them.
pub fn command_message_schema<C: JsonSchema>() -> Value {
    let mut root = serde_json::to_value(schema_for!(CommandMessage<C>)).unwrap_or(Value::Null);
    let Some(object) = root.as_object_mut() else {
        return root;
    };
    let envelope = object.remove("properties").unwrap_or(Value::Null);
    let required = object.remove("required").unwrap_or(Value::Null);
    if let Some(variants) = object.get_mut("oneOf").and_then(Value::as_array_mut) {
        for variant in variants {
            if let (Some(fields), Some(envelope)) = (
                variant.get_mut("properties").and_then(Value::as_object_mut),
                envelope.as_object(),
            ) {
                fields.extend(envelope.clone());
            }
            if let (Some(names), Some(required)) = (
                variant.get_mut("required").and_then(Value::as_array_mut),
                required.as_array(),
            ) {
                names.extend(required.iter().cloned());
                names.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    tighten(&mut root);
    root
}

/// Closes every object schema to fields it does not name, and bounds the
/// quantities as [`crate::check_qty`] and the aggregates do.
fn tighten(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            // A pick may find nothing: its quantity is a count, from 0.
            let counts = map
                .get("properties")
                .and_then(|p| p.get("type"))
                .and_then(|t| t.get("enum"))
                == Some(&serde_json::json!(["RecordPick"]));
            if let Some(fields) = map.get_mut("properties").and_then(Value::as_object_mut) {
                for (name, field) in fields.iter_mut() {
                    let (min, max) = match name.as_str() {
                        "qty" if counts => (0, crate::MAX_QTY),
                        "qty" | "short" => (1, crate::MAX_QTY),
                        "counted" => (0, crate::MAX_QTY),
                        _ => continue,
                    };
                    if let Some(field) = field.as_object_mut() {
                        field.insert("minimum".into(), min.into());
                        field.insert("maximum".into(), max.into());
                    }
                }
                if let Some(delta) = fields.get_mut("delta").and_then(Value::as_object_mut) {
                    let max = i64::try_from(crate::MAX_QTY).unwrap_or(i64::MAX);
                    delta.insert("minimum".into(), (-max).into());
                    delta.insert("maximum".into(), max.into());
                }
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for value in map.values_mut() {
                tighten(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tighten),
        _ => {}
    }
}

/// Every schema file, by name, as JSON.
pub fn json_schemas() -> Vec<(&'static str, Value)> {
    let value = |s: schemars::schema::RootSchema| serde_json::to_value(s).unwrap_or(Value::Null);
    vec![
        (
            "command-result.schema.json",
            value(schema_for!(CommandResult)),
        ),
        (
            "commands.catalog.schema.json",
            command_message_schema::<CatalogCommand>(),
        ),
        (
            "commands.inventory.schema.json",
            command_message_schema::<InventoryCommand>(),
        ),
        (
            "commands.order.schema.json",
            command_message_schema::<OrderCommand>(),
        ),
        (
            "commands.purchase-order.schema.json",
            command_message_schema::<PurchaseOrderCommand>(),
        ),
        (
            "events.catalog.schema.json",
            value(schema_for!(CatalogEvent)),
        ),
        (
            "events.inventory.schema.json",
            value(schema_for!(InventoryEvent)),
        ),
        ("events.order.schema.json", value(schema_for!(OrderEvent))),
        (
            "events.purchase-order.schema.json",
            value(schema_for!(PurchaseOrderEvent)),
        ),
    ]
}

/// Compares `value` with the checked-in file `dir/name`, or writes it when
/// `write` is set. The error says how to bring the file up to date.
pub fn check_or_write(
    dir: &std::path::Path,
    name: &str,
    value: &Value,
    write: bool,
) -> Result<(), String> {
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())? + "\n";
    if write {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        return std::fs::write(&path, text).map_err(|e| e.to_string());
    }
    match std::fs::read_to_string(&path) {
        Ok(current) if current == text => Ok(()),
        Ok(_) => Err(format!(
            "{} is out of date with the Rust types: run UPDATE_SCHEMAS=1 cargo test --workspace schema",
            path.display()
        )),
        Err(e) => Err(format!(
            "{}: {e}; run UPDATE_SCHEMAS=1 cargo test --workspace schema",
            path.display()
        )),
    }
}
