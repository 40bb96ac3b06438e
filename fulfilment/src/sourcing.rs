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

/// A place to try reserving a line's units: stock at a location, or units
/// due there on a purchase order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Where the units are, or will be.
    pub source: SupplySource,
    /// Units free to reserve there.
    pub free: u64,
    /// When inbound units are due (none for stock on hand).
    pub due: Option<NaiveDate>,
}

impl Candidate {
    /// The reservation of `qty` units here for the order line.
    fn reserve(&self, sku: &str, order_id: &str, line: u32, qty: u64) -> InventoryCommand {
        let (sku, order_id, location) = (
            sku.to_owned(),
            order_id.to_owned(),
            self.source.location().to_owned(),
        );
        match self.source.po_id() {
            None => InventoryCommand::ReserveStock {
                sku,
                location,
                order_id,
                line,
                qty,
            },
            Some(po_id) => InventoryCommand::ReserveInbound {
                sku,
                location,
                order_id,
                line,
                qty,
                po_id: po_id.to_owned(),
            },
        }
    }
}

/// Where to try reserving stock: locations with free units, most free first
/// (then by name).
pub(crate) fn stock_candidates(items: &[(String, Arc<InventoryItem>)]) -> Vec<Candidate> {
    let mut candidates: Vec<(String, u64)> = items
        .iter()
        .map(|(location, item)| (location.clone(), item.free()))
        .filter(|(_, free)| *free > 0)
        .collect();
    candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    candidates
        .into_iter()
        .map(|(location, free)| Candidate {
            source: SupplySource::Stock { location },
            free,
            due: None,
        })
        .collect()
}

/// Units due on purchase orders that may be promised, earliest first (then
/// by PO and location), at items whose policy reserves inbound.
pub(crate) fn inbound_candidates(items: &[(String, Arc<InventoryItem>)]) -> Vec<Candidate> {
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
        .into_iter()
        .map(|(due, po_id, location, free)| Candidate {
            source: SupplySource::Inbound { po_id, location },
            free,
            due: Some(due),
        })
        .collect()
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
    // Stock first, then inbound, both read before reserving anything.
    let candidates = stock_candidates(&items)
        .into_iter()
        .chain(inbound_candidates(&items));
    for candidate in candidates {
        if need == 0 {
            break;
        }
        let want = need.min(candidate.free);
        let reserve = candidate.reserve(&sku, order_id, line, want);
        let got = match issuer.issue(Command::Inventory(reserve))? {
            Issued::Accepted { recorded: None } => Some((candidate.source, want, candidate.due)),
            Issued::Accepted {
                recorded: Some(events),
            } => reserved(&events),
            // Stale reading: the aggregate judged; try the next candidate.
            Issued::Rejected => None,
        };
        if let Some((source, qty, due)) = got {
            let promise = due.map_or(promise, |due| due.max(promise));
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

/// What a recorded reservation set aside: where, how much, and when
/// inbound units are due.
fn reserved(events: &[Value]) -> Option<(SupplySource, u64, Option<NaiveDate>)> {
    events
        .iter()
        .find_map(|e| match serde_json::from_value(e.clone()) {
            Ok(InventoryEvent::StockReserved { location, qty, .. }) => {
                Some((SupplySource::Stock { location }, qty, None))
            }
            Ok(InventoryEvent::InboundReserved {
                po_id,
                location,
                qty,
                expected_date,
                ..
            }) => Some((
                SupplySource::Inbound { po_id, location },
                qty,
                Some(expected_date),
            )),
            _ => None,
        })
}
