//! Sourcing a line by backward consumption from its need date: first the
//! latest supply that arrives by then (units due on purchase orders where
//! the item's policy allows, latest first, then stock on hand), so early
//! supply stays free for early needs; then supply due after the need date,
//! earliest first (the line is confirmed late, for that date); for a new
//! line the rest is backordered. Within one day, locations with the most
//! free units come first. A PO past its date and not received (overdue) is
//! not a source.
//!
//! When no free stock covers a line, stock reserved for a line needed
//! later is **re-pinned**: that line is moved to units due by its own need
//! date (its promise holds), and the freed stock serves the earlier need.
//!
//! Each reservation is judged by the inventory item, so a stale reading
//! only moves the search on to the next candidate.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
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

/// The line being sourced: which, what, and by when.
struct Need<'a> {
    sku: &'a str,
    order_id: &'a str,
    line: u32,
    /// The need date, never before today.
    date: NaiveDate,
    today: NaiveDate,
}

impl Need<'_> {
    /// The promise for units from supply arriving on `due` (stock: today).
    fn promise(&self, due: Option<NaiveDate>) -> NaiveDate {
        due.map_or(self.date, |due| due.max(self.date))
    }
}

impl Candidate {
    /// The reservation of `qty` units here for the order line.
    fn reserve(&self, need: &Need<'_>, qty: u64) -> InventoryCommand {
        let (sku, order_id, line) = (need.sku, need.order_id, need.line);
        let need_date = Some(need.date);
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
                need_date,
            },
            Some(po_id) => InventoryCommand::ReserveInbound {
                sku,
                location,
                order_id,
                line,
                qty,
                po_id: po_id.to_owned(),
                po_line: self.source.po_line(),
                need_date,
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
/// by PO and location), at items whose policy reserves inbound; overdue
/// ones (due before `today`) are left out.
pub(crate) fn inbound_candidates(
    items: &[(String, Arc<InventoryItem>)],
    today: NaiveDate,
) -> Vec<Candidate> {
    let mut inbound: Vec<(NaiveDate, String, String, u64)> = items
        .iter()
        .filter(|(_, item)| reserves_inbound(item))
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
        .filter(|(due, _, _, free)| *free > 0 && *due >= today)
        .collect();
    inbound.sort();
    inbound
        .into_iter()
        .map(|(due, key, location, free)| Candidate {
            source: inbound_supply(&key, location),
            free,
            due: Some(due),
        })
        .collect()
}

/// The supply of an item's inbound key at `location`.
fn inbound_supply(key: &str, location: String) -> SupplySource {
    let (po_id, po_line) = inventory_aggregate::split_inbound_key(key);
    SupplySource::Inbound {
        po_id: po_id.to_owned(),
        location,
        po_line,
    }
}

/// Whether the item's policy lets order lines reserve its inbound units.
fn reserves_inbound(item: &InventoryItem) -> bool {
    item.policy.as_ref().is_some_and(|p| p.reserve_inbound)
}

/// The candidates in backward-consumption order for a need on `need`:
/// supply arriving by then, latest first (stock, which is there today,
/// after inbound due the same day); then supply arriving later, earliest
/// first. Each group keeps the order it was given in within a day.
pub(crate) fn by_need_date(
    candidates: Vec<Candidate>,
    need: NaiveDate,
    today: NaiveDate,
) -> Vec<Candidate> {
    let mut ranked: Vec<(usize, Candidate)> = candidates.into_iter().enumerate().collect();
    ranked.sort_by_key(|(n, c)| {
        let day = c.due.unwrap_or(today);
        let by_need = day <= need;
        let day = day.num_days_from_ce();
        if by_need {
            // Later days first, stock last within a day.
            (0, -day, c.due.is_none(), *n)
        } else {
            (1, day, c.due.is_none(), *n)
        }
    });
    ranked.into_iter().map(|(_, c)| c).collect()
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
    if order.header.is_none() || order.cancelled {
        return Ok(());
    }
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
    let today = issuer.today();
    let target = Need {
        sku: &sku,
        order_id,
        line,
        // A need date already past is a need for today.
        date: order.need_date(line).unwrap_or(today).max(today),
        today,
    };

    let items = read_items(issuer, locations, &sku)?;
    // Every candidate is read before anything is reserved.
    let (by_date, mut late) = candidates(&items, &target);
    need -= take(issuer, &target, by_date, need)?;
    if need > 0 {
        let repinned = repin(issuer, &items, &target, need)?;
        if repinned > 0 {
            // Re-pinning took inbound units: read what is left of them.
            need -= repinned;
            late = candidates(&read_items(issuer, locations, &sku)?, &target).1;
        }
    }
    need -= take(issuer, &target, late, need)?;

    if need > 0 && !backorder {
        issuer.issue(Command::Order(OrderCommand::BackorderLine {
            order_id: order_id.to_owned(),
            line,
            qty: need,
        }))?;
    }
    Ok(())
}

/// Pulls in a line's units promised from POs later than it is needed,
/// latest promise first, as far as free supply arrives earlier than they
/// were promised: each gives its units back and the line is sourced again
/// (so from the best supply by its need date, and the customer is told the
/// earlier date).
pub(crate) fn pull_in(
    issuer: &mut Issuer<'_>,
    locations: &BTreeSet<String>,
    order_id: &str,
    line: u32,
) -> Result<(), StoreError> {
    let today = issuer.today();
    let Some(order) = issuer.port.order(order_id)? else {
        return Ok(());
    };
    let (Some(l), Some(need)) = (order.lines.get(&line), order.need_date(line)) else {
        return Ok(());
    };
    if order.cancelled || l.cancelled {
        return Ok(());
    }
    let need = need.max(today);
    let mut late: Vec<(SupplySource, u64, NaiveDate)> = l
        .allocations
        .iter()
        .filter(|(s, a)| matches!(s, SupplySource::Inbound { .. }) && a.promise_date > need)
        .map(|(s, a)| (s.clone(), a.qty, a.promise_date))
        .collect();
    if late.is_empty() {
        return Ok(());
    }
    late.sort_by_key(|l| std::cmp::Reverse(l.2));
    let target = Need {
        sku: &l.sku,
        order_id,
        line,
        date: need,
        today,
    };
    let items = read_items(issuer, locations, &l.sku)?;
    let (by_date, later) = candidates(&items, &target);
    let supply: Vec<(NaiveDate, u64)> = by_date
        .iter()
        .chain(&later)
        .map(|c| (c.due.unwrap_or(today), c.free))
        .collect();
    let mut given_back = 0;
    for (source, qty, promised) in late {
        let earlier: u64 = supply
            .iter()
            .filter(|(day, _)| *day < promised)
            .map(|(_, free)| free)
            .sum();
        let moved = qty.min(earlier.saturating_sub(given_back));
        if moved == 0 {
            continue;
        }
        let reason = "pulled in: supply arrives earlier".to_owned();
        if give_back(issuer, &l.sku, (order_id, line), &source, moved, reason)? {
            given_back += moved;
        }
    }
    if given_back == 0 {
        return Ok(());
    }
    source(issuer, locations, order_id, line, false)
}

/// The SKU's item at every location that has one.
fn read_items(
    issuer: &Issuer<'_>,
    locations: &BTreeSet<String>,
    sku: &str,
) -> Result<Vec<(String, Arc<InventoryItem>)>, StoreError> {
    let mut items = Vec::new();
    for location in locations {
        if let Some(item) = issuer.port.item(sku, location)? {
            items.push((location.clone(), item));
        }
    }
    Ok(items)
}

/// The candidates for `target`: those arriving by its need date, in
/// backward-consumption order, and those arriving later, earliest first.
fn candidates(
    items: &[(String, Arc<InventoryItem>)],
    target: &Need<'_>,
) -> (Vec<Candidate>, Vec<Candidate>) {
    let mut all = stock_candidates(items);
    all.extend(inbound_candidates(items, target.today));
    by_need_date(all, target.date, target.today)
        .into_iter()
        .partition(|c| c.due.is_none_or(|due| due <= target.date))
}

/// Reserves and allocates up to `need` units from the candidates in
/// order; returns how many were allocated.
fn take(
    issuer: &mut Issuer<'_>,
    target: &Need<'_>,
    candidates: Vec<Candidate>,
    need: u64,
) -> Result<u64, StoreError> {
    let mut got = 0;
    for candidate in candidates {
        if got == need {
            break;
        }
        let want = (need - got).min(candidate.free);
        let reserve = candidate.reserve(target, want);
        let reserved = match issuer.issue(Command::Inventory(reserve))? {
            Issued::Accepted { recorded: None } => Some((candidate.source, want, candidate.due)),
            Issued::Accepted {
                recorded: Some(events),
            } => reserved(&events),
            // Stale reading: the aggregate judged; try the next candidate.
            Issued::Rejected => None,
        };
        if let Some((source, qty, due)) = reserved {
            if allocate(issuer, target, qty, source, target.promise(due))? {
                got += qty.min(need - got);
            }
        }
    }
    Ok(got)
}

/// Frees stock for `target` by re-pinning lines needed later: each such
/// line's stock reservation (latest need first) moves to units due here by
/// its own need date (the latest such PO first), and the stock freed is
/// reserved for `target`. The moved line keeps its promise date; the order
/// records `LineRepinned`. Returns the units allocated to `target`.
fn repin(
    issuer: &mut Issuer<'_>,
    items: &[(String, Arc<InventoryItem>)],
    target: &Need<'_>,
    need: u64,
) -> Result<u64, StoreError> {
    let mut got = 0;
    for (location, item) in items.iter().filter(|(_, i)| reserves_inbound(i)) {
        let mut inbound: Vec<(NaiveDate, String, u64)> = item
            .inbound
            .iter()
            .filter(|(_, i)| i.expected_date >= target.today)
            .map(|(po, i)| (i.expected_date, po.clone(), item.inbound_free(po)))
            .filter(|(_, _, free)| *free > 0)
            .collect();
        inbound.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut holders: Vec<(NaiveDate, String, u64)> = item
            .reservations
            .iter()
            .filter_map(|(key, qty)| {
                let their_need = item.need_date(key).filter(|d| *d > target.date)?;
                Some((their_need, key.clone(), *qty))
            })
            .collect();
        holders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (their_need, key, mut held) in holders {
            let Some((order_id, line)) = inventory_aggregate::split_key(&key) else {
                continue;
            };
            for (due, po_id, free) in inbound.iter_mut().filter(|(due, ..)| *due <= their_need) {
                let m = (need - got).min(held).min(*free);
                if m == 0 {
                    continue;
                }
                let stock = SupplySource::Stock {
                    location: location.clone(),
                };
                let moved = Candidate {
                    source: inbound_supply(po_id, location.clone()),
                    free: *free,
                    due: Some(*due),
                };
                let theirs = Need {
                    sku: target.sku,
                    order_id: &order_id,
                    line,
                    date: their_need,
                    today: target.today,
                };
                if !repin_one(issuer, &theirs, &stock, &moved, m)? {
                    continue;
                }
                *free -= m;
                held -= m;
                let freed = Candidate {
                    source: stock,
                    free: m,
                    due: None,
                };
                got += take(issuer, target, vec![freed], m)?;
                if got == need {
                    return Ok(got);
                }
            }
        }
    }
    Ok(got)
}

/// Moves `qty` of a line's stock reservation to `to`: reserve there, move
/// the allocation (the order judges: units already released stay), then
/// give the stock back. Whether the stock was given back.
fn repin_one(
    issuer: &mut Issuer<'_>,
    theirs: &Need<'_>,
    stock: &SupplySource,
    to: &Candidate,
    qty: u64,
) -> Result<bool, StoreError> {
    if let Issued::Rejected = issuer.issue(Command::Inventory(to.reserve(theirs, qty)))? {
        return Ok(false);
    }
    let repin = OrderCommand::RepinLine {
        order_id: theirs.order_id.to_owned(),
        line: theirs.line,
        qty,
        from: stock.clone(),
        to: to.source.clone(),
    };
    if let Issued::Rejected = issuer.issue(Command::Order(repin))? {
        release(issuer, theirs, &to.source, qty)?;
        return Ok(false);
    }
    release(issuer, theirs, stock, qty)?;
    Ok(true)
}

/// The command that gives back `qty` of an order line's reservation at `source`.
pub(crate) fn release_command(
    sku: &str,
    order_id: &str,
    line: u32,
    source: &SupplySource,
    qty: u64,
) -> InventoryCommand {
    InventoryCommand::ReleaseReservation {
        sku: sku.to_owned(),
        location: source.location().to_owned(),
        order_id: order_id.to_owned(),
        line,
        po_id: source.po_id().map(str::to_owned),
        po_line: source.po_line(),
        qty: Some(qty),
    }
}

/// Gives back `qty` of a line's reservation at `source`.
fn release(
    issuer: &mut Issuer<'_>,
    need: &Need<'_>,
    source: &SupplySource,
    qty: u64,
) -> Result<(), StoreError> {
    let command = release_command(need.sku, need.order_id, need.line, source, qty);
    issuer.issue(Command::Inventory(command))?;
    Ok(())
}

/// Takes `qty` of a line's units from `source` (the order judges, and
/// records `reason`) and gives their reservation back. Whether the order
/// let them go.
pub(crate) fn give_back(
    issuer: &mut Issuer<'_>,
    sku: &str,
    (order_id, line): (&str, u32),
    source: &SupplySource,
    qty: u64,
    reason: String,
) -> Result<bool, StoreError> {
    let deallocate = OrderCommand::DeallocateLine {
        order_id: order_id.to_owned(),
        line,
        source: source.clone(),
        qty,
        reason,
    };
    if let Issued::Rejected = issuer.issue(Command::Order(deallocate))? {
        return Ok(false);
    }
    let release = release_command(sku, order_id, line, source, qty);
    issuer.issue(Command::Inventory(release))?;
    Ok(true)
}

/// Allocates reserved units to the line. If the order refuses (it was
/// cancelled, or the line filled, meanwhile), gives the units back, so
/// no reservation is left without an allocation.
fn allocate(
    issuer: &mut Issuer<'_>,
    target: &Need<'_>,
    qty: u64,
    source: SupplySource,
    promise_date: NaiveDate,
) -> Result<bool, StoreError> {
    let (order_id, line) = (target.order_id, target.line);
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
    release(issuer, target, &source, qty)?;
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
                po_line,
                location,
                qty,
                expected_date,
                ..
            }) => Some((
                SupplySource::Inbound {
                    po_id,
                    location,
                    po_line,
                },
                qty,
                Some(expected_date),
            )),
            _ => None,
        })
}
