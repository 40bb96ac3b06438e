//! One order's story: where it stands, each line, and every fact of it in
//! log order with who caused it (the customer's systems from outside, or a
//! process reacting to an earlier fact), with the commands the processes
//! were refused for it and why.

use chrono::{DateTime, NaiveDate, Utc};
use decider::Decider;
use event_store::{RecordedEvent, Store, StreamId};
use fulfilment::Refused;
use order_aggregate::Order;
use projections::orders::{LineRecord, OrderSummary, OrdersModel};
use schemas::OrderEvent;
use serde::Serialize;

use crate::AuditError;

/// One order's story.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Story {
    /// Where the order stands.
    pub order: OrderSummary,
    /// The order aggregate's state, folded from its facts.
    pub state: serde_json::Value,
    /// Each line: SKU, units, allocated, shipped, backordered, promise date, locations.
    pub lines: Vec<StoryLine>,
    /// Every fact of the order, in log order.
    pub events: Vec<StoryEvent>,
    /// Commands the processes issued for the order and were refused, with why.
    pub refused: Vec<Refused>,
}

/// One line of the order now.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StoryLine {
    /// The line number.
    pub line: u32,
    /// Its record in the orders model.
    #[serde(flatten)]
    pub record: LineRecord,
}

/// One fact of the order.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StoryEvent {
    /// Its log position.
    pub position: u64,
    /// Its business time.
    pub at: DateTime<Utc>,
    /// When the log recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Its type.
    pub event_type: String,
    /// Who caused it: `outside`, `fulfilment` or `replenishment`.
    pub by: &'static str,
    /// The command that caused it.
    pub command_id: Option<String>,
    /// The fact the process reacted to, for a process's command.
    pub reacting_to: Option<u64>,
    /// The event's body.
    pub payload: serde_json::Value,
}

/// Who caused a fact, from its command id's prefix, and the position of
/// the fact a process reacted to.
pub fn caused_by(command_id: Option<&str>) -> (&'static str, Option<u64>) {
    let reacting = |rest: &str| rest.split('-').next().and_then(|p| p.parse().ok());
    match command_id {
        Some(id) if id.starts_with("fp-") => ("fulfilment", reacting(&id[3..])),
        Some(id) if id.starts_with("rp-") => ("replenishment", reacting(&id[3..])),
        _ => ("outside", None),
    }
}

/// The story of `order_id` on `today`, with the fulfilment process's
/// refused commands for it. An order never placed is [`AuditError::UnknownOrder`].
pub fn story(
    store: &Store,
    orders: &OrdersModel,
    order_id: &str,
    today: NaiveDate,
) -> Result<Story, AuditError> {
    let Some(record) = orders.order(order_id)? else {
        return Err(AuditError::UnknownOrder(order_id.to_owned()));
    };
    let refused = fulfilment::refusals(store, order_id)?;
    let stream = StreamId::new(format!("order-{order_id}"))?;
    let recorded = store.read_stream(&stream, 1)?;
    let state = recorded
        .iter()
        .filter_map(|e| e.decode::<OrderEvent>("story"))
        .fold(Order::default(), |order, event| {
            Order::evolve(order, &event)
        });
    let events = recorded
        .into_iter()
        .map(|e: RecordedEvent| {
            let (by, reacting_to) = caused_by(e.causation_id.as_deref());
            StoryEvent {
                position: e.position,
                at: e.at,
                recorded_at: e.recorded_at,
                event_type: e.event_type,
                by,
                command_id: e.causation_id,
                reacting_to,
                payload: e.payload,
            }
        })
        .collect();
    Ok(Story {
        order: record.summary(today),
        state: serde_json::to_value(&state).map_err(event_store::StoreError::Encode)?,
        lines: record
            .lines
            .iter()
            .map(|(line, l)| StoryLine {
                line: *line,
                record: l.clone(),
            })
            .collect(),
        events,
        refused,
    })
}
