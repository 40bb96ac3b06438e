//! Sourcing a line: stock at the locations with most free units first,
//! then units due on purchase orders (earliest first) where the item's
//! policy allows; for a new line the rest is backordered. Each reservation
//! is judged by the inventory item, so a stale reading only moves the
//! search on to the next candidate.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::NaiveDate;
use event_store::StoreError;
use inventory_aggregate::InventoryItem;
use schemas::inventory::{InventoryCommand, InventoryEvent};
use schemas::order::{OrderCommand, SupplySource};
use schemas::Command;
use serde_json::Value;

use crate::issue::{Issued, Issuer};

/// Where to try reserving stock: locations with free units, most free first
/// (then by name).
pub fn stock_candidates(items: &[(String, Arc<InventoryItem>)]) -> Vec<(String, u64)> {
    let mut candidates: Vec<(String, u64)> = items
        .iter()
        .map(|(location, item)| (location.clone(), item.free()))
        .filter(|(_, free)| *free > 0)
        .collect();
    candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    candidates
}

/// Units due on purchase orders that may be promised: (expected date, PO,
/// location, free units), earliest first, at items whose policy reserves inbound.
pub fn inbound_candidates(
    items: &[(String, Arc<InventoryItem>)],
) -> Vec<(NaiveDate, String, String, u64)> {
    let mut inbound: Vec<(NaiveDate, String, String, u64)> = items
        .iter()
        .filter(|(_, item)| item.policy.as_ref().is_some_and(|p| p.reserve_inbound))
        .flat_map(|(location, item)| {
            item.inbound.iter().map(move |(po, due)| {
                (
                    due.expected_date,
                    po.clone(),
                    location.clone(),
                    item.inbound_free(po),
                )
            })
        })
        .filter(|(_, _, _, free)| *free > 0)
        .collect();
    inbound.sort();
    inbound
}

/// Sources a line's units: the new ones, or (`backorder`) the backordered ones.
pub(crate) fn source(
    issuer: &mut Issuer<'_>,
    locations: &BTreeSet<String>,
    order_id: &str,
    line: u32,
    backorder: bool,
) -> Result<(), StoreError> {
    let Some(order) = issuer.port.order(order_id)? else {
        return Ok(());
    };
    let Some(header) = order.header.as_ref().filter(|_| !order.cancelled) else {
        return Ok(());
    };
    let Some(l) = order.lines.get(&line).filter(|l| !l.cancelled) else {
        return Ok(());
    };
    let mut need = if backorder {
        l.backordered.min(l.open())
    } else {
        l.open().saturating_sub(l.backordered)
    };
    if need == 0 {
        return Ok(());
    }
    let sku = l.sku.clone();
    let today = issuer.reaction.at.date_naive();
    let promise = today.max(header.requested_date);

    let mut items = Vec::new();
    for location in locations {
        if let Some(item) = issuer.port.item(&sku, location)? {
            items.push((location.clone(), item));
        }
    }
    for (location, free) in stock_candidates(&items) {
        if need == 0 {
            break;
        }
        let want = need.min(free);
        let reserve = InventoryCommand::ReserveStock {
            sku: sku.clone(),
            location: location.clone(),
            order_id: order_id.to_owned(),
            line,
            qty: want,
        };
        let got = match issuer.issue(Command::Inventory(reserve))? {
            Issued::Accepted { recorded: None } => Some((location, want)),
            Issued::Accepted {
                recorded: Some(events),
            } => reserved_stock(&events),
            // Stale reading: the aggregate judged; try the next location.
            Issued::Rejected => None,
        };
        if let Some((location, qty)) = got {
            let source = SupplySource::Stock { location };
            if allocate(issuer, order_id, line, &sku, qty, source, promise)? {
                need = need.saturating_sub(qty);
            }
        }
    }

    for (expected_date, po_id, location, free) in inbound_candidates(&items) {
        if need == 0 {
            break;
        }
        let want = need.min(free);
        let reserve = InventoryCommand::ReserveInbound {
            sku: sku.clone(),
            location: location.clone(),
            order_id: order_id.to_owned(),
            line,
            qty: want,
            po_id: po_id.clone(),
        };
        let got = match issuer.issue(Command::Inventory(reserve))? {
            Issued::Accepted { recorded: None } => Some((po_id, location, want, expected_date)),
            Issued::Accepted {
                recorded: Some(events),
            } => reserved_inbound(&events),
            Issued::Rejected => None,
        };
        if let Some((po_id, location, qty, expected_date)) = got {
            let source = SupplySource::Inbound { po_id, location };
            let promise = expected_date.max(promise);
            if allocate(issuer, order_id, line, &sku, qty, source, promise)? {
                need = need.saturating_sub(qty);
            }
        }
    }

    if need > 0 && !backorder {
        issuer.issue(Command::Order(OrderCommand::BackorderLine {
            order_id: order_id.to_owned(),
            line,
            qty: need,
        }))?;
    }
    Ok(())
}

/// Allocates reserved units to the line. If the order refuses (it was
/// cancelled, or the line filled, meanwhile), gives the units back, so
/// no reservation is left without an allocation.
fn allocate(
    issuer: &mut Issuer<'_>,
    order_id: &str,
    line: u32,
    sku: &str,
    qty: u64,
    source: SupplySource,
    promise_date: NaiveDate,
) -> Result<bool, StoreError> {
    let allocate = OrderCommand::AllocateLine {
        order_id: order_id.to_owned(),
        line,
        qty,
        source: source.clone(),
        promise_date,
    };
    if let Issued::Accepted { .. } = issuer.issue(Command::Order(allocate))? {
        return Ok(true);
    }
    issuer.issue(Command::Inventory(InventoryCommand::ReleaseReservation {
        sku: sku.to_owned(),
        location: source.location().to_owned(),
        order_id: order_id.to_owned(),
        line,
        po_id: source.po_id().map(str::to_owned),
        qty: Some(qty),
    }))?;
    Ok(false)
}

/// Where and how much a recorded `StockReserved` set aside.
fn reserved_stock(events: &[Value]) -> Option<(String, u64)> {
    events
        .iter()
        .find_map(|e| match serde_json::from_value(e.clone()) {
            Ok(InventoryEvent::StockReserved { location, qty, .. }) => Some((location, qty)),
            _ => None,
        })
}

/// What a recorded `InboundReserved` set aside.
fn reserved_inbound(events: &[Value]) -> Option<(String, String, u64, NaiveDate)> {
    events
        .iter()
        .find_map(|e| match serde_json::from_value(e.clone()) {
            Ok(InventoryEvent::InboundReserved {
                po_id,
                location,
                qty,
                expected_date,
                ..
            }) => Some((po_id, location, qty, expected_date)),
            _ => None,
        })
}
