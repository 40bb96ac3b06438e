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
            value(schema_for!(CommandMessage<CatalogCommand>)),
        ),
        (
            "commands.inventory.schema.json",
            value(schema_for!(CommandMessage<InventoryCommand>)),
        ),
        (
            "commands.order.schema.json",
            value(schema_for!(CommandMessage<OrderCommand>)),
        ),
        (
            "commands.purchase-order.schema.json",
            value(schema_for!(CommandMessage<PurchaseOrderCommand>)),
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
