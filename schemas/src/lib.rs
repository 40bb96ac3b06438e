//! The wire contract of fulfil: the commands upstream systems send (as JSON,
//! on Kafka topics or through `fulfil submit`) and the events aggregates
//! record. Changing a type here changes what other systems read and write.
//!
//! - `catalog`: the item master (SKUs and locations);
//! - `inventory`: commands and events of one SKU at one location;
//! - `order`: commands and events of a customer order;
//! - `purchasing`: commands and events of a purchase order;
//! - `stream`: stream names (kind + id), printed and parsed in one place;
//! - `result`: what became of a command ([`CommandResult`]);
//! - `json_schema`: the JSON Schemas of the above, as checked in under `schemas/json/`.

pub mod catalog;
pub mod inventory;
mod json;
pub mod json_schema;
pub mod order;
pub mod purchasing;
mod result;
pub mod stream;
pub mod validate;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

pub use catalog::{CatalogCommand, CatalogEvent};
pub use inventory::{InventoryCommand, InventoryEvent};
pub use order::{OrderCommand, OrderEvent};
pub use purchasing::{PurchaseOrderCommand, PurchaseOrderEvent};
pub use result::{CommandResult, Outcome, Outcomes};
pub use stream::{StreamKind, StreamName, UnknownStream};

/// An event that names its own type, as stored and published (`StockReceived`).
pub trait EventType {
    /// The event's type name.
    fn event_type(&self) -> &'static str;
}

/// Implements [`EventType`] for an event enum: each variant's type name is
/// its own name, as serde's `type` tag already says on the wire.
#[macro_export]
macro_rules! event_types {
    ($event:ident { $($variant:ident),* $(,)? }) => {
        impl $crate::EventType for $event {
            fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$variant { .. } => stringify!($variant),)*
                }
            }
        }
    };
}

/// Quantities above this are taken for a typing error, not an order.
pub const MAX_QTY: u64 = 1_000_000;

/// What is wrong with an id (SKU, location, order, PO, shipment, RMA), if
/// anything. Ids are short, printable and free of whitespace and of `@`
/// and `#`, which stream and reservation keys use as separators.
pub fn id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() || id.len() > 64 {
        Some("must have 1 to 64 characters")
    } else if id
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == '#')
    {
        Some("must not contain whitespace, '@' or '#'")
    } else {
        None
    }
}

/// A field every aggregate refuses the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidField {
    /// An id the stream and reservation keys cannot carry.
    #[error("invalid {field}: {problem}")]
    Id {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Zero, negative, or more than any real order or receipt.
    #[error("quantity {qty} is not between 1 and {max}", max = MAX_QTY)]
    Quantity {
        /// The quantity given.
        qty: i128,
    },
}

impl InvalidField {
    /// A stable, machine-readable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Id { .. } => "invalid_id",
            Self::Quantity { .. } => "invalid_quantity",
        }
    }
}

/// Refuses an id (see [`id_problem`]).
pub fn check_id(field: &'static str, id: &str) -> Result<(), InvalidField> {
    id_problem(id).map_or(Ok(()), |problem| Err(InvalidField::Id { field, problem }))
}

/// Refuses a quantity outside 1..=[`MAX_QTY`].
pub fn check_qty(qty: u64) -> Result<u64, InvalidField> {
    if qty == 0 || qty > MAX_QTY {
        return Err(InvalidField::Quantity { qty: qty.into() });
    }
    Ok(qty)
}

/// A command as received: the routing and tracing fields, and the command itself.
///
/// On the wire it is one flat JSON object, for example
/// `{"command_id":"c-1","type":"ReceiveStock","sku":"SKU-1","location":"WH1","qty":10}`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandEnvelope {
    /// Unique per command; a retry with the same id is applied once.
    pub command_id: String,
    /// Business time; absent means "now" by the service's clock.
    pub at: Option<DateTime<Utc>>,
    /// Ties together everything one business flow caused.
    pub correlation_id: Option<String>,
    /// The command.
    pub command: Command,
    /// The object as received, for idempotency checks.
    pub body: Value,
}

/// Every command the system knows, by the aggregate that decides it.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A definition in the item master.
    Catalog(CatalogCommand),
    /// A command for one SKU at one location.
    Inventory(InventoryCommand),
    /// A command for one customer order.
    Order(OrderCommand),
    /// A command for one purchase order.
    PurchaseOrder(PurchaseOrderCommand),
}

impl Command {
    /// The customer order this command is for, if it is for one.
    pub fn order_id(&self) -> Option<&str> {
        use InventoryCommand as I;
        match self {
            Self::Order(c) => Some(c.order_id()),
            Self::Inventory(
                I::ReserveStock { order_id, .. }
                | I::ReserveInbound { order_id, .. }
                | I::ReleaseReservation { order_id, .. }
                | I::ShipReserved { order_id, .. }
                | I::ReportPickShort { order_id, .. },
            ) => Some(order_id),
            _ => None,
        }
    }

    /// Why only the fulfilment process may send this command, if that is
    /// so. These commands carry out the handoff between orders and
    /// inventory; from outside they could promise stock that is not there
    /// or move stock no order asked for. Outside commands are the business
    /// facts: orders, payments, picks, shipments, receipts, counts,
    /// adjustments, purchase orders.
    pub fn process_only(&self) -> Option<&'static str> {
        use InventoryCommand as I;
        use OrderCommand as O;
        match self {
            Self::Order(
                O::AllocateLine { .. }
                | O::RepinLine { .. }
                | O::RescheduleLine { .. }
                | O::BackorderLine { .. }
                | O::DeallocateLine { .. }
                | O::ReceiveInboundAllocation { .. },
            ) => Some("the fulfilment process allocates and backorders lines"),
            Self::Inventory(
                I::ReserveStock { .. }
                | I::ReserveInbound { .. }
                | I::ReleaseReservation { .. }
                | I::ShipReserved { .. }
                | I::ReportPickShort { .. },
            ) => Some("the fulfilment process reserves, releases and consumes stock for order lines"),
            Self::Inventory(I::RestockReturn { .. }) => {
                Some("returns are restocked when the order records a resellable ReceiveReturn")
            }
            Self::Inventory(I::ScheduleInbound { .. } | I::CancelInbound { .. }) => {
                Some("inbound supply follows the purchase order (PlacePurchaseOrder, RedatePurchaseOrderLine, CancelPurchaseOrderLine)")
            }
            Self::Inventory(I::ReceiveStock { po_id: Some(_), .. }) => Some(
                "receipts against a purchase order are recorded with ReceivePurchaseOrderLine",
            ),
            Self::Inventory(I::SuggestReplenishment { .. }) => Some(
                "the replenishment process suggests orders; set supplier terms with SetSupply",
            ),
            _ => None,
        }
    }
}

/// Why a message is not a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidCommand {
    /// Not JSON, or not an object.
    #[error("not a JSON object: {0}")]
    NotJson(String),
    /// A field every command needs is missing or of the wrong kind.
    #[error("field {field}: {problem}")]
    Envelope {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Longer than any command may be; not read.
    #[error("a command is at most {limit} bytes")]
    TooLarge {
        /// The most a command may have at this entry point.
        limit: usize,
    },
    /// The `type` names no command.
    #[error("unknown command type {0:?}")]
    UnknownType(String),
    /// The fields do not fit the command's schema.
    #[error("{command_type}: {detail}")]
    Fields {
        /// The command's id, to match the answer to it.
        command_id: String,
        /// The command type.
        command_type: String,
        /// What does not fit.
        detail: String,
    },
}

impl InvalidCommand {
    /// The command's id, when the message got as far as naming one.
    pub fn command_id(&self) -> Option<&str> {
        match self {
            Self::Fields { command_id, .. } => Some(command_id),
            _ => None,
        }
    }

    /// A stable, machine-readable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotJson(_) => "malformed_json",
            Self::TooLarge { .. } => "too_large",
            Self::Envelope { .. } => "invalid_envelope",
            Self::UnknownType(_) => "unknown_command_type",
            Self::Fields { .. } => "invalid_fields",
        }
    }
}

#[derive(Deserialize)]
struct EnvelopeFields {
    command_id: Option<Value>,
    #[serde(default)]
    at: Option<Value>,
    #[serde(default)]
    correlation_id: Option<Value>,
    #[serde(rename = "type")]
    command_type: Option<Value>,
}

/// The longest command, in bytes, that `fulfil submit` and the command
/// topics read (`POST /commands` takes its configured body limit).
pub const MAX_COMMAND_BYTES: usize = 1 << 20;

/// Parses one command as received, as bytes: over [`MAX_COMMAND_BYTES`]
/// it is not read, and bytes that are not UTF-8 are not JSON. Every entry
/// point reads commands through here, so all refuse alike.
pub fn parse_command_bytes(bytes: &[u8]) -> Result<CommandEnvelope, InvalidCommand> {
    if bytes.len() > MAX_COMMAND_BYTES {
        return Err(InvalidCommand::TooLarge {
            limit: MAX_COMMAND_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| InvalidCommand::NotJson(format!("not UTF-8: {e}")))?;
    parse_command(text)
}

/// Parses one JSON command. A field given twice is refused, not read as
/// its last value.
pub fn parse_command(text: &str) -> Result<CommandEnvelope, InvalidCommand> {
    let body = json::parse(text).map_err(|e| InvalidCommand::NotJson(e.to_string()))?;
    if !body.is_object() {
        return Err(InvalidCommand::NotJson("expected an object".into()));
    }
    let fields: EnvelopeFields =
        serde_json::from_value(body.clone()).map_err(|e| InvalidCommand::NotJson(e.to_string()))?;
    let command_id = match fields.command_id {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 128 => s,
        Some(Value::String(_)) => {
            return Err(InvalidCommand::Envelope {
                field: "command_id",
                problem: "must have 1 to 128 characters",
            })
        }
        Some(_) => {
            return Err(InvalidCommand::Envelope {
                field: "command_id",
                problem: "must be a string",
            })
        }
        None => {
            return Err(InvalidCommand::Envelope {
                field: "command_id",
                problem: "is required",
            })
        }
    };
    let at = match fields.at {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            DateTime::parse_from_rfc3339(&s)
                .map_err(|_| InvalidCommand::Envelope {
                    field: "at",
                    problem: "must be an RFC 3339 time such as 2026-03-01T09:30:00Z",
                })?
                .with_timezone(&Utc),
        ),
        Some(_) => {
            return Err(InvalidCommand::Envelope {
                field: "at",
                problem: "must be an RFC 3339 time string",
            })
        }
    };
    let correlation_id = match fields.correlation_id {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(InvalidCommand::Envelope {
                field: "correlation_id",
                problem: "must be a string",
            })
        }
    };
    let Some(Value::String(command_type)) = fields.command_type else {
        return Err(InvalidCommand::Envelope {
            field: "type",
            problem: "is required and must be a string",
        });
    };
    let fields_error = |e: serde_json::Error| InvalidCommand::Fields {
        command_id: command_id.clone(),
        command_type: command_type.clone(),
        detail: e.to_string(),
    };
    strict(&command_type, &body).map_err(|detail| InvalidCommand::Fields {
        command_id: command_id.clone(),
        command_type: command_type.clone(),
        detail,
    })?;
    let command = if CatalogCommand::TYPES.contains(&command_type.as_str()) {
        Command::Catalog(serde_json::from_value(body.clone()).map_err(fields_error)?)
    } else if InventoryCommand::TYPES.contains(&command_type.as_str()) {
        Command::Inventory(serde_json::from_value(body.clone()).map_err(fields_error)?)
    } else if OrderCommand::TYPES.contains(&command_type.as_str()) {
        Command::Order(serde_json::from_value(body.clone()).map_err(fields_error)?)
    } else if PurchaseOrderCommand::TYPES.contains(&command_type.as_str()) {
        Command::PurchaseOrder(serde_json::from_value(body.clone()).map_err(fields_error)?)
    } else {
        return Err(InvalidCommand::UnknownType(command_type));
    };
    Ok(CommandEnvelope {
        command_id,
        at,
        correlation_id,
        command,
        body,
    })
}

/// Refuses what the command's JSON Schema refuses, naming the field: a
/// field it does not have, a value out of range, a date that does not exist.
fn strict(command_type: &str, body: &Value) -> Result<(), String> {
    use std::sync::OnceLock;
    static SCHEMAS: OnceLock<[Value; 4]> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| {
        use json_schema::command_message_schema as schema;
        [
            schema::<CatalogCommand>(),
            schema::<InventoryCommand>(),
            schema::<OrderCommand>(),
            schema::<PurchaseOrderCommand>(),
        ]
    });
    let which = [
        &CatalogCommand::TYPES[..],
        &InventoryCommand::TYPES[..],
        &OrderCommand::TYPES[..],
        &PurchaseOrderCommand::TYPES[..],
    ]
    .iter()
    .position(|types| types.contains(&command_type));
    let Some(schema) = which.and_then(|i| schemas.get(i)) else {
        return Ok(());
    };
    let empty = serde_json::Map::new();
    let definitions = schema
        .get("definitions")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    validate::check(schema, definitions, body).map_err(|p| p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_json_command_parses_into_its_envelope_and_command() {
        let env = parse_command(
            r#"{"command_id":"c-1","at":"2026-03-01T09:30:00Z","type":"ReceiveStock","sku":"SKU-1","location":"WH1","qty":10}"#,
        )
        .unwrap();
        assert_eq!(env.command_id, "c-1");
        assert_eq!(env.at.unwrap().to_rfc3339(), "2026-03-01T09:30:00+00:00");
        assert_eq!(
            env.command,
            Command::Inventory(InventoryCommand::ReceiveStock {
                po_line: None,
                sku: "SKU-1".into(),
                location: "WH1".into(),
                qty: 10,
                reference: None,
                po_id: None,
            })
        );
    }

    #[test]
    fn bad_messages_say_what_is_wrong_with_a_reason_code() {
        let cases = [
            ("not json", "malformed_json"),
            ("[1,2]", "malformed_json"),
            (r#"{"type":"ReceiveStock"}"#, "invalid_envelope"),
            (
                r#"{"command_id":7,"type":"ReceiveStock"}"#,
                "invalid_envelope",
            ),
            (
                r#"{"command_id":"c","at":"yesterday","type":"ReceiveStock"}"#,
                "invalid_envelope",
            ),
            (r#"{"command_id":"c"}"#, "invalid_envelope"),
            (
                r#"{"command_id":"c","type":"LaunchRocket"}"#,
                "unknown_command_type",
            ),
            (
                r#"{"command_id":"c","type":"ReceiveStock","sku":"S","location":"L","qty":-5}"#,
                "invalid_fields",
            ),
            (
                r#"{"command_id":"c","type":"ReserveStock","sku":"S","location":"L"}"#,
                "invalid_fields",
            ),
        ];
        for (text, code) in cases {
            let err = parse_command(text).unwrap_err();
            assert_eq!(err.code(), code, "{text}: {err}");
            assert!(!err.to_string().is_empty());
        }
    }

    /// Each typo once taken silently (its default used instead) is refused,
    /// naming the field, the value and what was expected.
    #[test]
    fn typos_and_out_of_range_values_are_refused_naming_the_field() {
        let order = |extra: &str| {
            format!(
                r#"{{"command_id":"c","type":"PlaceOrder","order_id":"SO-1","customer_id":"C","ship_to":"X","channel":"web","requested_date":"2026-03-02","lines":[{{"line":1,"sku":"MUG","qty":2,"unit_price_cents":100}}]{extra}}}"#
            )
        };
        assert!(parse_command(&order("")).is_ok());
        let cases = [
            (order(r#","priorty":9"#), "field `priorty`: is not a field here; did you mean `priority`?"),
            (order(r#","a t":"2026-03-01T00:00:00Z""#), "field `a t`: is not a field here; did you mean `at`?"),
            (order(r#","priority":300"#), "field `priority`: 300 is out of range (0 to 255)"),
            (order(r#","priority":-1"#), "field `priority`: -1 is out of range (0 to 255)"),
            (
                order("").replace(r#""qty":2"#, r#""qty":0"#),
                "field `lines[0].qty`: 0 is below the minimum 1",
            ),
            (
                order("").replace(r#""qty":2"#, r#""qty":2000000"#),
                "field `lines[0].qty`: 2000000 is above the maximum 1000000",
            ),
            (
                order("").replace(r#""qty":2"#, r#""qty":2,"colour":"red""#),
                "field `lines[0].colour`: is not a field here",
            ),
            (
                order("").replace("2026-03-02", "2026-02-30"),
                "field `requested_date`: \"2026-02-30\" is not a date",
            ),
            (
                order("").replace(r#""qty":2"#, r#""qty":"2""#),
                "field `lines[0].qty`: \"2\" is not a whole number",
            ),
            (
                r#"{"command_id":"c","type":"ReceiveStock","sku":"S","location":"L","qty":5,"poid":"PO-1"}"#.to_owned(),
                "field `poid`: is not a field here; did you mean `po_id`?",
            ),
            (
                r#"{"command_id":"c","type":"AdjustStock","sku":"S","location":"L","delta":-3,"reason":"theft"}"#.to_owned(),
                "field `reason`: \"theft\" is not one of \"damage\", \"shrinkage\", \"found\", \"correction\"",
            ),
            (
                r#"{"command_id":"c","type":"AllocateLine","order_id":"O","line":1,"qty":1,"promise_date":"2026-03-01","source":{"kind":"shelf","location":"L"}}"#.to_owned(),
                "field `source.kind`: \"shelf\" is not one of \"stock\", \"inbound\"",
            ),
            (
                r#"{"command_id":"c","type":"ReceiveStock","sku":"S","location":"L"}"#.to_owned(),
                "field `qty`: is required",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_command(&text).unwrap_err();
            assert_eq!(err.code(), "invalid_fields", "{text}: {err}");
            assert!(
                err.to_string().contains(expected),
                "{text}:\n  {err}\n  wanted {expected}"
            );
        }
    }
}
