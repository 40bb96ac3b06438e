//! Rescheduling: when the supply behind promises moves, the lines promised
//! from it are re-evaluated, highest priority first, then in the order they
//! were placed, so the customers who were promised first keep their dates
//! longest.
//!
//! - A PO re-dated **earlier**: each line on it is promised for the new
//!   date (never before its need date): `LineRescheduled`, and the customer
//!   is told.
//! - A PO re-dated **later**: each line on it whose promise no longer holds
//!   gives its units back and is sourced again from its need date, so it
//!   moves only as far as it must (other supply by its need date, else the
//!   same PO at its new date, else a backorder); the customer is told the
//!   new date.
//! - Stock found **short** (a count or an adjustment left fewer units on
//!   hand than are reserved): lines not yet released give back the missing
//!   units, lowest priority and latest placed first, and are sourced again.

use std::collections::{BTreeMap, BTreeSet};

use event_store::StoreError;
use schemas::order::{OrderCommand, SupplySource};
use schemas::Command;

use crate::issue::Issuer;
use crate::port::Port;
use crate::sourcing;

/// Reservations of order lines (`order#line` → units), in the order their
/// promises are kept: highest priority first, then earliest placed.
fn by_priority(
    port: &dyn Port,
    reservations: &BTreeMap<String, u64>,
) -> Result<Vec<(String, u32, u64)>, StoreError> {
    let mut lines = Vec::new();
    for (key, qty) in reservations {
        let Some((order_id, line)) = inventory_aggregate::split_key(key) else {
            continue;
        };
        let (priority, placed) = port.placement(&order_id)?.unwrap_or((0, u64::MAX));
        lines.push(((std::cmp::Reverse(priority), placed), order_id, line, *qty));
    }
    lines.sort();
    Ok(lines
        .into_iter()
        .map(|(_, order_id, line, qty)| (order_id, line, qty))
        .collect())
}

/// The units of PO `po_id` (line `po_line`) due at `location` were scheduled anew.
pub(crate) fn inbound_moved(
    issuer: &mut Issuer<'_>,
    locations: &BTreeSet<String>,
    sku: &str,
    location: &str,
    (po_id, po_line): (&str, Option<u32>),
) -> Result<(), StoreError> {
    let today = issuer.today();
    let Some(item) = issuer.port.item(sku, location)? else {
        return Ok(());
    };
    let key = item.inbound_key(po_id, po_line);
    let (Some(inbound), Some(reservations)) =
        (item.inbound.get(&key), item.inbound_reservations.get(&key))
    else {
        return Ok(());
    };
    let due = inbound.expected_date;
    let source = SupplySource::Inbound {
        po_id: po_id.to_owned(),
        location: location.to_owned(),
        po_line,
    };
    for (order_id, line, reserved) in by_priority(issuer.port, reservations)? {
        let Some(order) = issuer.port.order(&order_id)? else {
            continue;
        };
        let (Some(allocation), Some(need)) = (
            order
                .lines
                .get(&line)
                .and_then(|l| l.allocations.get(&source)),
            order.need_date(line),
        ) else {
            continue;
        };
        let promise = due.max(need).max(today);
        if promise < allocation.promise_date {
            issuer.issue(Command::Order(OrderCommand::RescheduleLine {
                order_id: order_id.clone(),
                line,
                source: source.clone(),
                promise_date: promise,
                reason: format!("purchase order {po_id} is now due {due}"),
            }))?;
        } else if promise > allocation.promise_date {
            let qty = allocation.qty.min(reserved);
            let reason = format!("purchase order {po_id} is now due {due}");
            resource(
                issuer, locations, sku, &order_id, line, &source, qty, reason,
            )?;
        }
    }
    Ok(())
}

/// On-hand at `location` fell `short` units below what is reserved there.
pub(crate) fn stock_short(
    issuer: &mut Issuer<'_>,
    locations: &BTreeSet<String>,
    sku: &str,
    location: &str,
    short: u64,
) -> Result<(), StoreError> {
    let Some(item) = issuer.port.item(sku, location)? else {
        return Ok(());
    };
    // What is still short now (the process may run after other changes).
    let mut left = short.min(item.reserved().saturating_sub(item.on_hand));
    let source = SupplySource::Stock {
        location: location.to_owned(),
    };
    let mut victims = by_priority(issuer.port, &item.reservations)?;
    victims.reverse();
    for (order_id, line, reserved) in victims {
        if left == 0 {
            break;
        }
        let Some(order) = issuer.port.order(&order_id)? else {
            continue;
        };
        let Some(l) = order.lines.get(&line) else {
            continue;
        };
        // Units the warehouse has in hand are settled by the pick.
        let movable = l
            .allocations
            .get(&source)
            .map_or(0, |a| a.qty.saturating_sub(l.in_warehouse()))
            .min(reserved);
        let qty = movable.min(left);
        if qty == 0 {
            continue;
        }
        let reason = format!("stock at {location} was found short");
        if resource(
            issuer, locations, sku, &order_id, line, &source, qty, reason,
        )? {
            left -= qty;
        }
    }
    Ok(())
}

/// Gives back `qty` of the line's units from `source` and sources them
/// again from its need date. Whether they were given back.
#[allow(clippy::too_many_arguments)]
fn resource(
    issuer: &mut Issuer<'_>,
    locations: &BTreeSet<String>,
    sku: &str,
    order_id: &str,
    line: u32,
    source: &SupplySource,
    qty: u64,
    reason: String,
) -> Result<bool, StoreError> {
    if !sourcing::give_back(issuer, sku, (order_id, line), source, qty, reason)? {
        return Ok(false);
    }
    sourcing::source(issuer, locations, order_id, line, false)?;
    Ok(true)
}
