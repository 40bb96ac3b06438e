//! Available-to-promise: supply by the day it is there, requirements by
//! the day they are needed, netted by backward consumption.
//!
//! - Supply: stock on hand today; units due on purchase orders on their
//!   expected date. A PO line past its date and not received is
//!   **overdue**: it is shown, and not promised from until it is re-dated
//!   or received.
//! - Requirements: every reservation on the day its order line needs the
//!   units (its need date; today when that is past), or on the day its
//!   supply arrives when that is later (a line confirmed late); every
//!   backordered unit on its need date (SKU totals only: a backorder has no
//!   location yet).
//! - ATP now, and what a promise can confirm by a day, is the lowest
//!   cumulative ATP from that day on: confirming it never takes supply a
//!   later requirement counts on.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use decider::Decider;
use event_store::RecordedEvent;
use inventory_aggregate::InventoryItem;
use schemas::catalog::{LocationDefinition, SkuDefinition};
use schemas::order::OrderEvent;
use schemas::StreamKind;
use schemas::{CatalogEvent, InventoryEvent};
use serde::{Deserialize, Serialize};

use crate::phased::{time_phased, Dated, Phased};
use crate::projection::{events_of, Folded, Model, Projection, ProjectionError, Working};

const NAME: &str = "atp";

/// One location's position and its time-phased ATP.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LocationAtp {
    /// The location.
    pub location: String,
    /// Units on hand.
    pub on_hand: u64,
    /// Units reserved for order lines from on-hand.
    pub reserved: u64,
    /// What can be promised here for today.
    pub atp_now: u64,
    /// Purchase order lines due here.
    pub inbound: Vec<Inbound>,
    /// Supply and requirements by day, with ATP and cumulative ATP.
    pub phased: Phased,
}

/// Units due on one purchase order.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Inbound {
    /// The purchase order.
    pub po_id: String,
    /// Its line, where the schedule names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub po_line: Option<u32>,
    /// When it is due.
    pub expected_date: NaiveDate,
    /// Units due.
    pub due: u64,
    /// Of those, units already promised to orders.
    pub promised: u64,
    /// Past its date and not received: not promised from until re-dated.
    pub overdue: bool,
}

/// A SKU's ATP at each location and across them.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SkuAtp {
    /// The SKU.
    pub sku: String,
    /// Rises with every change to the SKU's position anywhere.
    pub version: u64,
    /// The day ATP is counted from.
    pub today: NaiveDate,
    /// What can be promised for today, over all locations (the netting
    /// below, so backorders and later needs are counted).
    pub atp_now: u64,
    /// Units backordered: requirements at their need dates, no location yet.
    pub backordered: u64,
    /// Units due on overdue purchase orders, not promised from.
    pub overdue: u64,
    /// Each location.
    pub locations: Vec<LocationAtp>,
    /// All locations netted together.
    pub phased: Phased,
}

/// The answer to "can I commit `qty` by `by`?".
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Promise {
    /// The SKU asked about.
    pub sku: String,
    /// Units asked for.
    pub qty: u64,
    /// The day they are needed by.
    pub by: NaiveDate,
    /// Whether they can be promised by then.
    pub can_promise: bool,
    /// Units that can be confirmed by then (at most `qty`).
    pub confirmable: u64,
    /// Locations that together cover the quantity by the date (most first).
    pub sources: Vec<(String, u64)>,
    /// The first day from which the quantity can be promised, if any.
    pub earliest: Option<NaiveDate>,
}

/// How the log folds into the ATP model.
#[derive(Debug, Clone, Copy, Default)]
pub struct AtpProjection;

impl Projection for AtpProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The new states of the items `events` change, the SKUs' backorders,
    /// and the SKUs' versions.
    /// Layout 2 keeps the item master (`sku/…`, `location/…`).
    fn layout(&self) -> u32 {
        2
    }

    fn fold(&self, working: &mut Working<'_>, events: &[RecordedEvent]) -> Folded {
        for kind in [StreamKind::Sku, StreamKind::Location] {
            for (_, event, _) in events_of::<CatalogEvent>(NAME, kind, events) {
                match event {
                    CatalogEvent::SkuDefined(d) | CatalogEvent::SkuRevised(d) => {
                        working.put(format!("sku/{}", d.sku), d);
                    }
                    CatalogEvent::LocationDefined(d) | CatalogEvent::LocationRevised(d) => {
                        working.put(format!("location/{}", d.location), d);
                    }
                }
            }
        }
        for (item, event, _) in events_of::<InventoryEvent>(NAME, StreamKind::Inventory, events) {
            let state = working.get::<InventoryItem>(&format!("item/{item}"))?;
            *state = InventoryItem::evolve(std::mem::take(state), &event);
            let sku = item.split('@').next().unwrap_or(item);
            bump(working, sku)?;
        }
        // Only these order events move a backorder; the rest are not decoded.
        for e in events.iter().filter(|e| {
            matches!(
                e.event_type.as_str(),
                "LineBackordered" | "LineAllocated" | "LineCancelled" | "OrderCancelled"
            )
        }) {
            let Some((StreamKind::Order, order_id)) = StreamKind::split(e.stream.as_str()) else {
                continue;
            };
            if let Some(event) = crate::projection::decode::<OrderEvent>(NAME, e) {
                fold_backorder(working, order_id, &event)?;
            }
        }
        Ok(())
    }
}

/// Which items a stock listing shows.
#[derive(Debug, Clone, Default)]
pub struct StockQuery {
    /// Only this SKU.
    pub sku: Option<String>,
    /// Only this location.
    pub location: Option<String>,
    /// Only items whose position is at or below their reorder point.
    pub at_reorder_point: bool,
}

/// One item (SKU at a location) in a stock listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StockRow {
    /// The SKU.
    pub sku: String,
    /// The location.
    pub location: String,
    /// Units held.
    pub on_hand: u64,
    /// Units reserved for order lines.
    pub reserved: u64,
    /// Units free to promise.
    pub free: u64,
    /// Units due on purchase orders.
    pub inbound: u64,
    /// On hand + inbound − everything reserved.
    pub position: i64,
    /// The reorder point, when a policy is set.
    pub reorder_point: Option<u64>,
    /// Whether the position is at or below the reorder point.
    pub at_reorder_point: bool,
    /// The supplier, when supply terms are set.
    pub supplier_id: Option<String>,
}

/// One SKU's backordered order lines: `order#line` → need date and units.
type Backorders = BTreeMap<String, BackorderedLine>;

/// Units of one order line waiting for supply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BackorderedLine {
    /// When the line is needed (absent in events recorded before it was carried).
    pub need_date: Option<NaiveDate>,
    /// Units waiting.
    pub qty: u64,
}

fn fold_backorder(working: &mut Working<'_>, order_id: &str, event: &OrderEvent) -> Folded {
    // Which SKU each of an order's backordered lines is, for cancellations.
    let lines_key = format!("backordered-lines/{order_id}");
    let cancelled: Option<Vec<u32>> = match event {
        OrderEvent::LineBackordered {
            line,
            sku,
            qty,
            need_date,
            ..
        } => {
            let entry = working
                .get::<Backorders>(&format!("backorders/{sku}"))?
                .entry(format!("{order_id}#{line}"))
                .or_default();
            entry.qty += qty;
            entry.need_date = entry.need_date.or(*need_date);
            working
                .get::<BTreeMap<u32, String>>(&lines_key)?
                .insert(*line, sku.clone());
            bump(working, sku)?;
            None
        }
        OrderEvent::LineAllocated {
            line,
            sku,
            qty,
            backorder_filled,
            ..
        } => {
            let backorders = working.get::<Backorders>(&format!("backorders/{sku}"))?;
            let key = format!("{order_id}#{line}");
            if let Some(entry) = backorders.get_mut(&key) {
                entry.qty -= backorder_filled.unwrap_or(*qty).min(entry.qty);
                if entry.qty == 0 {
                    backorders.remove(&key);
                }
                bump(working, sku)?;
            }
            None
        }
        OrderEvent::LineCancelled { line, .. } => Some(vec![*line]),
        OrderEvent::OrderCancelled { .. } => Some(
            working
                .get::<BTreeMap<u32, String>>(&lines_key)?
                .keys()
                .copied()
                .collect(),
        ),
        _ => None,
    };
    for line in cancelled.unwrap_or_default() {
        let Some(sku) = working
            .get::<BTreeMap<u32, String>>(&lines_key)?
            .remove(&line)
        else {
            continue;
        };
        let backorders = working.get::<Backorders>(&format!("backorders/{sku}"))?;
        if backorders.remove(&format!("{order_id}#{line}")).is_some() {
            bump(working, &sku)?;
        }
    }
    Ok(())
}

/// The SKU's ATP changed: its version rises.
fn bump(working: &mut Working<'_>, sku: &str) -> Folded {
    let key = format!("version/{sku}");
    let v = version(working.raw(&key)?);
    working.put_raw(key, (v + 1).to_be_bytes().to_vec());
    Ok(())
}

/// A SKU's version as stored (big-endian), 0 when there is none.
fn version(raw: Option<impl AsRef<[u8]>>) -> u64 {
    raw.and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0)
}

/// The ATP read model and its queries.
pub type AtpModel = Model<AtpProjection>;

impl AtpModel {
    /// The SKU's version (0 when nothing was ever recorded).
    pub fn version(&self, sku: &str) -> Result<u64, ProjectionError> {
        Ok(version(
            self.values().get(format!("version/{sku}").as_bytes())?,
        ))
    }

    /// Every location's state of the SKU.
    pub fn items(&self, sku: &str) -> Result<Vec<(String, InventoryItem)>, ProjectionError> {
        self.scan(&format!("item/{sku}@"))
    }

    /// Every SKU the item master defines, by id.
    pub fn skus(&self) -> Result<Vec<SkuDefinition>, ProjectionError> {
        Ok(self.scan("sku/")?.into_iter().map(|(_, d)| d).collect())
    }

    /// Every location the item master defines, by id.
    pub fn locations(&self) -> Result<Vec<LocationDefinition>, ProjectionError> {
        Ok(self
            .scan("location/")?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
    }

    /// Every item (SKU at a location) `query` asks for: its position
    /// against its reorder point.
    pub fn stock(&self, query: &StockQuery) -> Result<Vec<StockRow>, ProjectionError> {
        if let Some(sku) = &query.sku {
            self.defined(sku, query.location.as_deref())?;
        } else if let Some(location) = &query.location {
            if self
                .values()
                .get(format!("location/{location}").as_bytes())?
                .is_none()
            {
                return Err(ProjectionError::UnknownLocation(location.clone()));
            }
        }
        let prefix = match &query.sku {
            Some(sku) => format!("item/{sku}@"),
            None => "item/".to_owned(),
        };
        let mut rows = Vec::new();
        for (key, item) in self.scan::<InventoryItem>(&prefix)? {
            let item_name = format!("{}{key}", &prefix["item/".len()..]);
            let (sku, location) = item_name.split_once('@').unwrap_or((&item_name, ""));
            if query.location.as_ref().is_some_and(|l| l != location) {
                continue;
            }
            let reorder_point = item.policy.as_ref().map(|p| p.reorder_point);
            let position = item.position();
            let at_reorder_point =
                reorder_point.is_some_and(|r| position <= i64::try_from(r).unwrap_or(i64::MAX));
            if query.at_reorder_point && !at_reorder_point {
                continue;
            }
            rows.push(StockRow {
                sku: sku.to_owned(),
                location: location.to_owned(),
                on_hand: item.on_hand,
                reserved: item.reserved(),
                free: item.free(),
                inbound: item.inbound.values().map(|i| i.qty).sum(),
                position,
                reorder_point,
                at_reorder_point,
                supplier_id: item.supply.as_ref().map(|s| s.supplier_id.clone()),
            });
        }
        Ok(rows)
    }

    /// Refuses a SKU (or location) the item master does not define.
    pub fn defined(&self, sku: &str, location: Option<&str>) -> Result<(), ProjectionError> {
        let values = self.values();
        if values.get(format!("sku/{sku}").as_bytes())?.is_none() {
            return Err(ProjectionError::UnknownSku(sku.to_owned()));
        }
        if let Some(location) = location {
            if values
                .get(format!("location/{location}").as_bytes())?
                .is_none()
            {
                return Err(ProjectionError::UnknownLocation(location.to_owned()));
            }
        }
        Ok(())
    }

    /// The SKU's ATP now and by day, at each location (or only `location`) and in total.
    pub fn sku(
        &self,
        sku: &str,
        location: Option<&str>,
        today: NaiveDate,
    ) -> Result<SkuAtp, ProjectionError> {
        let items: Vec<(String, InventoryItem)> = self
            .items(sku)?
            .into_iter()
            .filter(|(l, _)| location.is_none_or(|want| want == l))
            .collect();
        // A SKU the item master defines but nothing stocked has ATP 0.
        if items.is_empty() {
            self.defined(sku, location)?;
        }
        let mut supply = Vec::new();
        let mut requirements = Vec::new();
        let locations: Vec<LocationAtp> = items
            .iter()
            .map(|(location, item)| {
                let (s, r) = supply_and_requirements(item, today);
                supply.extend(&s);
                requirements.extend(&r);
                let phased = time_phased(&s, &r);
                LocationAtp {
                    location: location.clone(),
                    on_hand: item.on_hand,
                    reserved: item.reserved(),
                    atp_now: phased.available(today),
                    inbound: item
                        .inbound
                        .iter()
                        .map(|(key, i)| {
                            let (po_id, po_line) = inventory_aggregate::split_inbound_key(key);
                            (po_id.to_owned(), po_line, key, i)
                        })
                        .map(|(po_id, po_line, key, i)| Inbound {
                            po_id,
                            po_line,
                            expected_date: i.expected_date,
                            due: i.qty,
                            promised: item.inbound_reserved(key),
                            overdue: i.expected_date < today,
                        })
                        .collect(),
                    phased,
                }
            })
            .collect();
        // Backorders count only where the whole SKU is asked about: a
        // location's units may go to them, but which location's is open.
        let backorders = if location.is_none() {
            self.backorders(sku)?
        } else {
            Backorders::new()
        };
        for b in backorders.values() {
            requirements.push((b.need_date.unwrap_or(today).max(today), b.qty));
        }
        let phased = time_phased(&supply, &requirements);
        Ok(SkuAtp {
            sku: sku.to_owned(),
            version: self.version(sku)?,
            today,
            atp_now: phased.available(today),
            backordered: backorders.values().map(|b| b.qty).sum(),
            overdue: locations
                .iter()
                .flat_map(|l| &l.inbound)
                .filter(|i| i.overdue)
                .map(|i| i.due)
                .sum(),
            phased,
            locations,
        })
    }

    /// The SKU's backordered order lines.
    pub fn backorders(&self, sku: &str) -> Result<Backorders, ProjectionError> {
        Ok(
            crate::projection::load(NAME, &self.values(), &format!("backorders/{sku}"))?
                .unwrap_or_default(),
        )
    }

    /// Can `qty` of `sku` (at `location`, or anywhere) be committed by `by`?
    pub fn promise(
        &self,
        sku: &str,
        qty: u64,
        by: NaiveDate,
        location: Option<&str>,
        today: NaiveDate,
    ) -> Result<Promise, ProjectionError> {
        let atp = self.sku(sku, location, today)?;
        // A date already past is a promise for today.
        let on = by.max(today);
        let confirmable = atp.phased.available(on).min(qty);
        let mut candidates: Vec<(String, u64)> = atp
            .locations
            .iter()
            .map(|l| (l.location.clone(), l.phased.available(on)))
            .filter(|(_, q)| *q > 0)
            .collect();
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut left = confirmable;
        let mut sources = Vec::new();
        for (location, available) in candidates {
            if left == 0 {
                break;
            }
            let take = available.min(left);
            sources.push((location, take));
            left -= take;
        }
        Ok(Promise {
            sku: sku.to_owned(),
            qty,
            by,
            can_promise: confirmable == qty,
            confirmable,
            sources,
            earliest: atp.phased.earliest(qty),
        })
    }
}

/// An item's supply (stock today, units due by PO date; overdue POs not
/// at all) and requirements (each reservation on its line's need date, or
/// its supply's date when that is later; never before today), as (day,
/// quantity).
pub fn supply_and_requirements(item: &InventoryItem, today: NaiveDate) -> (Dated, Dated) {
    let mut supply = vec![(today, item.on_hand)];
    let requirement = |key: &str, arrives: NaiveDate, qty: u64| {
        let need = item.need_date(key).unwrap_or(arrives);
        (need.max(arrives).max(today), qty)
    };
    let mut requirements: Dated = item
        .reservations
        .iter()
        .map(|(key, qty)| requirement(key, today, *qty))
        .collect();
    for (po, inbound) in &item.inbound {
        if inbound.expected_date >= today {
            supply.push((inbound.expected_date, inbound.qty));
        }
        for (key, qty) in item.inbound_reservations.get(po).into_iter().flatten() {
            requirements.push(requirement(key, inbound.expected_date, *qty));
        }
    }
    (supply, requirements)
}
