//! The reaction table, pure: given the memory and one event, what to do
//! for which items.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use event_store::RecordedEvent;
use projections::demand::week_of;
use schemas::{InventoryEvent, OrderEvent, PurchaseOrderEvent, StreamKind};

use crate::memory::{item_key, Memory};

/// What to do for one item after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    /// The event's log position (command ids derive from it).
    pub position: u64,
    /// The event's business time (the commands' `at`).
    pub at: DateTime<Utc>,
    /// The event's correlation id, carried on.
    pub correlation_id: Option<String>,
    /// The SKU.
    pub sku: String,
    /// The location.
    pub location: String,
    /// Plan the policy again.
    pub refresh: bool,
    /// Compare the position with the reorder point.
    pub review: bool,
}

/// Updates `memory` with `event` and says what to do for which items.
pub fn react(memory: &mut Memory, event: &RecordedEvent) -> Vec<Reaction> {
    let reaction = |sku: &str, location: &str, refresh: bool, review: bool| Reaction {
        position: event.position,
        at: event.at,
        correlation_id: event.correlation_id.clone(),
        sku: sku.to_owned(),
        location: location.to_owned(),
        refresh,
        review,
    };
    let mut out = Vec::new();
    match StreamKind::split(event.stream.as_str()) {
        Some((StreamKind::Inventory, _)) => {
            let Some(inventory) = event.decode::<InventoryEvent>("replenishment") else {
                return out;
            };
            match inventory {
                InventoryEvent::SupplySet { sku, location, .. } => {
                    memory
                        .supplied
                        .entry(sku.clone())
                        .or_default()
                        .insert(location.clone());
                    memory
                        .refreshed
                        .insert(item_key(&sku, &location), week_of(event.at.date_naive()));
                    out.push(reaction(&sku, &location, true, true));
                }
                InventoryEvent::ReplenishmentSuggested { sku, location, .. } => {
                    memory.suggested.insert(item_key(&sku, &location));
                }
                InventoryEvent::ReorderPointReached { sku, location, .. }
                    if memory.locations(&sku).contains(&location) =>
                {
                    out.push(reaction(&sku, &location, false, true));
                }
                InventoryEvent::InboundScheduled {
                    sku,
                    location,
                    po_id,
                    ..
                }
                | InventoryEvent::InboundCancelled {
                    sku,
                    location,
                    po_id,
                    ..
                }
                | InventoryEvent::StockReceived {
                    sku,
                    location,
                    po_id: Some(po_id),
                    ..
                } => {
                    // The order is on the item now (or will not come): the item counts it.
                    let item = item_key(&sku, &location);
                    if let Some(orders) = memory.on_order.get_mut(&item) {
                        orders.remove(&po_id);
                        if orders.is_empty() {
                            memory.on_order.remove(&item);
                        }
                    }
                }
                _ => {}
            }
        }
        Some((StreamKind::Order, _)) => match event.decode::<OrderEvent>("replenishment") {
            Some(OrderEvent::OrderPlaced { lines, .. }) => {
                let week = week_of(event.at.date_naive());
                for line in lines {
                    for location in memory.locations(&line.sku) {
                        let item = item_key(&line.sku, &location);
                        if memory.refreshed.get(&item).is_none_or(|w| *w < week) {
                            memory.refreshed.insert(item, week);
                            out.push(reaction(&line.sku, &location, true, true));
                        }
                    }
                }
            }
            Some(OrderEvent::LineBackordered { sku, .. }) => {
                for location in memory.locations(&sku) {
                    out.push(reaction(&sku, &location, false, true));
                }
            }
            _ => {}
        },
        Some((StreamKind::PurchaseOrder, _)) => {
            match event.decode::<PurchaseOrderEvent>("replenishment") {
                Some(PurchaseOrderEvent::PurchaseOrderPlaced { po_id, lines, .. }) => {
                    let mut placed: BTreeMap<String, u64> = BTreeMap::new();
                    for line in &lines {
                        if memory.locations(&line.sku).contains(&line.location) {
                            *placed
                                .entry(item_key(&line.sku, &line.location))
                                .or_default() += line.qty;
                        }
                    }
                    // Set, not added: the runner may have noted the same order already.
                    // An order placed answers the item's open suggestion.
                    for (item, qty) in placed {
                        memory.suggested.remove(&item);
                        memory
                            .on_order
                            .entry(item)
                            .or_default()
                            .insert(po_id.clone(), qty);
                    }
                }
                Some(PurchaseOrderEvent::PurchaseOrderReceived { sku, location, .. })
                    if memory.locations(&sku).contains(&location) =>
                {
                    out.push(reaction(&sku, &location, true, false));
                }
                _ => {}
            }
        }
        _ => {}
    }
    out
}
