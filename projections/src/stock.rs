//! Inventory metrics: turnover, stock accuracy, stockouts, dead stock and
//! shortages, from events (business time `at`).
//!
//! Stock is valued at the SKU's average receipt cost: every purchase-order
//! receipt's units at their unit cost, averaged; before any receipt, the
//! item master's standard cost. Cost of goods sold is the units shipped at
//! that cost on the day they left.
//!
//! Kept per item (SKU × location): its position (folded with the inventory
//! item's own `evolve`), one record per day it moved (closing units and
//! value, units shipped, COGS), each cycle count, each stockout interval
//! (nothing free to promise from stock) and each shortage.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use decider::Decider;
use event_store::RecordedEvent;
use inventory_aggregate::InventoryItem;
use schemas::StreamKind;
use schemas::{CatalogEvent, InventoryEvent, PurchaseOrderEvent};
use serde::{Deserialize, Serialize};

use crate::projection::{decode, load, Folded, Model, Projection, ProjectionError, Working};
use crate::stats::ratio;

const NAME: &str = "stock";

/// What the model keeps of a SKU's cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// The standard cost from the item master, in cents.
    pub standard_cents: Option<u64>,
    /// Units received on purchase orders.
    pub received_units: u64,
    /// Their value at the PO cost, in cents.
    pub received_value_cents: u64,
}

impl Cost {
    /// Average receipt cost, else standard cost, per unit in cents.
    pub fn unit_cents(&self) -> f64 {
        if self.received_units > 0 {
            self.received_value_cents as f64 / self.received_units as f64
        } else {
            self.standard_cents.unwrap_or(0) as f64
        }
    }
}

/// What the model keeps of one item's position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StockItem {
    /// The item's position.
    pub state: InventoryItem,
    /// The first day it moved.
    pub first_seen: Option<NaiveDate>,
    /// The last day an order reserved it.
    pub last_demand: Option<NaiveDate>,
    /// The key of the stockout in progress, if any.
    pub stockout: Option<String>,
}

/// One day an item moved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StockDay {
    /// Units on hand at the day's close.
    pub close_units: u64,
    /// Their value, in cents.
    pub close_value_cents: f64,
    /// Units shipped that day.
    pub shipped_units: u64,
    /// Cost of the goods shipped that day, in cents.
    pub cogs_cents: f64,
}

/// One cycle count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count {
    /// When it was counted.
    pub at: DateTime<Utc>,
    /// Units the count expected.
    pub expected: u64,
    /// Units counted.
    pub counted: u64,
    /// Counted minus expected.
    pub variance: i64,
    /// Cost per unit then, in cents.
    pub unit_cost_cents: f64,
}

/// A time with nothing free to promise from stock.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stockout {
    /// When nothing was left to promise.
    pub start: DateTime<Utc>,
    /// When stock was free again, if it was.
    pub end: Option<DateTime<Utc>>,
}

/// Units promised to orders found missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shortage {
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// `reserved_stock` (on-hand fell below reservations) or `pick` (not found at pick).
    pub kind: String,
    /// Units short.
    pub short: u64,
}

/// How the log folds into the stock model.
#[derive(Debug, Clone, Copy, Default)]
pub struct StockProjection;

impl Projection for StockProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fold(&self, batch: &mut Working<'_>, events: &[RecordedEvent]) -> Folded {
        // One pass in log order: a receipt's cost counts for the shipments after it.
        for e in events {
            match StreamKind::split(e.stream.as_str()) {
                Some((StreamKind::Sku, _)) => {
                    if let Some(CatalogEvent::SkuDefined(d) | CatalogEvent::SkuRevised(d)) =
                        decode(NAME, e)
                    {
                        let cost = batch.get::<Cost>(&format!("cost/{}", d.sku))?;
                        cost.standard_cents = Some(d.standard_cost_cents);
                    }
                }
                Some((StreamKind::PurchaseOrder, _)) => {
                    if let Some(PurchaseOrderEvent::PurchaseOrderReceived {
                        sku,
                        qty,
                        unit_cost_cents,
                        ..
                    }) = decode(NAME, e)
                    {
                        let cost = batch.get::<Cost>(&format!("cost/{sku}"))?;
                        cost.received_units += qty;
                        cost.received_value_cents += qty * unit_cost_cents;
                    }
                }
                Some((StreamKind::Inventory, item)) => {
                    if let Some(event) = decode::<InventoryEvent>(NAME, e) {
                        fold_inventory(batch, item, &event, e)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn fold_inventory(
    batch: &mut Working<'_>,
    item: &str,
    event: &InventoryEvent,
    e: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let day = e.at.date_naive();
    let sku = item.split('@').next().unwrap_or(item);
    let unit_cost = batch.get::<Cost>(&format!("cost/{sku}"))?.unit_cents();
    let item_key = format!("item/{item}");
    let mut record: StockItem = std::mem::take(batch.get::<StockItem>(&item_key)?);
    record.first_seen.get_or_insert(day);
    record.state = InventoryItem::evolve(std::mem::take(&mut record.state), event);
    let tag = format!("{item}/{:020}", e.position);
    let day_key = format!("day/{item}/{day}");
    let mut today: StockDay = std::mem::take(batch.get::<StockDay>(&day_key)?);
    match event {
        InventoryEvent::StockShipped { qty, .. } => {
            today.shipped_units += qty;
            today.cogs_cents += *qty as f64 * unit_cost;
        }
        InventoryEvent::StockReserved { .. } | InventoryEvent::InboundReserved { .. } => {
            record.last_demand = Some(day);
        }
        InventoryEvent::StockCounted {
            expected,
            counted,
            variance,
            ..
        } => batch.put(
            format!("count/{tag}"),
            Count {
                at: e.at,
                expected: *expected,
                counted: *counted,
                variance: *variance,
                unit_cost_cents: unit_cost,
            },
        ),
        InventoryEvent::ShortageRecorded { short, .. } => batch.put(
            format!("shortage/{tag}"),
            Shortage {
                at: e.at,
                kind: "reserved_stock".into(),
                short: *short,
            },
        ),
        InventoryEvent::PickShortRecorded { short, .. } => batch.put(
            format!("shortage/{tag}"),
            Shortage {
                at: e.at,
                kind: "pick".into(),
                short: *short,
            },
        ),
        _ => {}
    }
    today.close_units = record.state.on_hand;
    today.close_value_cents = record.state.on_hand as f64 * unit_cost;
    batch.put(day_key, today);
    // A stockout: nothing free to promise from stock.
    let free = record.state.free();
    match (&record.stockout, free) {
        (None, 0) => {
            let key = format!("stockout/{tag}");
            batch.put(
                key.clone(),
                Stockout {
                    start: e.at,
                    end: None,
                },
            );
            record.stockout = Some(key);
        }
        (Some(key), f) if f > 0 => {
            let key = key.clone();
            let mut s: Stockout = std::mem::take(batch.get::<Stockout>(&key)?);
            s.end = Some(e.at);
            batch.put(key, s);
            record.stockout = None;
        }
        _ => {}
    }
    batch.put(item_key, record);
    Ok(())
}

/// Turns of inventory and days of inventory over a period of `days`.
pub fn turnover(cogs: f64, average_inventory: f64, days: f64) -> (Option<f64>, Option<f64>) {
    let turns = ratio(cogs, average_inventory);
    let dio = turns.and_then(|t| ratio(days, t));
    (turns, dio)
}

/// Which items and days a question is about.
#[derive(Debug, Clone)]
pub struct StockFilter {
    /// The first day.
    pub from: NaiveDate,
    /// The last day.
    pub to: NaiveDate,
    /// Only this SKU.
    pub sku: Option<String>,
    /// Only this location.
    pub location: Option<String>,
    /// A count within this share of the expected quantity is accurate (0.02 = 2 %).
    pub count_tolerance: f64,
    /// On-hand with no reservation in this many days is dead stock.
    pub dead_after_days: i64,
}

impl StockFilter {
    /// Days in a period when only its end (or nothing) is given.
    pub const DEFAULT_DAYS: i64 = 30;
    /// A count within this share of the expected quantity is accurate.
    pub const DEFAULT_TOLERANCE: f64 = 0.02;
    /// On-hand unreserved for this many days is dead stock.
    pub const DEFAULT_DEAD_AFTER_DAYS: i64 = 90;

    /// Every item over `from..=to`; the period ends on `as_of`'s day and
    /// spans 30 days unless told otherwise.
    pub fn new(from: Option<NaiveDate>, to: Option<NaiveDate>, as_of: DateTime<Utc>) -> Self {
        let to = to.unwrap_or_else(|| as_of.date_naive());
        Self {
            from: from.unwrap_or(to - Duration::days(Self::DEFAULT_DAYS - 1)),
            to,
            sku: None,
            location: None,
            count_tolerance: Self::DEFAULT_TOLERANCE,
            dead_after_days: Self::DEFAULT_DEAD_AFTER_DAYS,
        }
    }
}

/// Inventory metrics over a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StockMetrics {
    /// The first day asked for.
    pub from: Option<NaiveDate>,
    /// The last day asked for.
    pub to: Option<NaiveDate>,
    /// Days in the period.
    pub days: i64,
    /// Items with any movement.
    pub items: usize,
    /// Cost of goods shipped, in cents.
    pub cogs_cents: f64,
    /// Units shipped.
    pub units_shipped: u64,
    /// Mean of the daily closing inventory value over the period.
    pub average_inventory_cents: f64,
    /// COGS over the mean daily inventory value.
    pub turnover: Option<f64>,
    /// Days the mean inventory would last at the period's rate.
    pub days_of_inventory: Option<f64>,
    /// Cycle counts.
    pub counts: usize,
    /// Counts within the tolerance.
    pub counts_within_tolerance: usize,
    /// Share of counts within the tolerance.
    pub stock_accuracy: Option<f64>,
    /// Sum of |variance| × cost over the sum of expected × cost.
    pub value_weighted_variance: Option<f64>,
    /// Stockouts that overlap the period.
    pub stockouts: usize,
    /// Their hours within the period.
    pub stockout_hours: f64,
    /// Times on-hand fell below what was reserved.
    pub shortages_of_reserved_stock: usize,
    /// Picks that found fewer units than expected.
    pub short_picks: usize,
    /// Units short over both.
    pub units_short: u64,
    /// Items whose stock nobody reserved in the last days.
    pub dead_stock: Vec<DeadStock>,
}

/// An item holding stock nobody has reserved in a while.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadStock {
    /// The item (SKU@LOCATION).
    pub item: String,
    /// Units on hand.
    pub on_hand: u64,
    /// Their value, in cents.
    pub value_cents: f64,
    /// The last day anyone reserved it.
    pub last_demand: Option<NaiveDate>,
}

/// The stock metrics read model and its queries.
pub type StockModel = Model<StockProjection>;

impl StockModel {
    /// The metrics over `filter`'s period and items, open stockouts counted up to `as_of`.
    pub fn metrics(
        &self,
        filter: &StockFilter,
        as_of: DateTime<Utc>,
    ) -> Result<StockMetrics, ProjectionError> {
        let wanted = |item: &str| {
            let (sku, location) = item.split_once('@').unwrap_or((item, ""));
            filter.sku.as_deref().is_none_or(|s| s == sku)
                && filter.location.as_deref().is_none_or(|l| l == location)
        };
        let days = (filter.to - filter.from).num_days() + 1;
        let mut m = StockMetrics {
            from: Some(filter.from),
            to: Some(filter.to),
            days: days.max(0),
            ..StockMetrics::default()
        };
        if days <= 0 {
            return Ok(m);
        }
        let start = filter.from.and_time(NaiveTime::MIN).and_utc();
        let end = (filter.to + Duration::days(1))
            .and_time(NaiveTime::MIN)
            .and_utc();
        let in_period = |at: DateTime<Utc>| at >= start && at < end;
        let items: Vec<(String, StockItem)> = self.scan("item/")?;
        let dead_line = as_of.date_naive() - Duration::days(filter.dead_after_days);
        let mut inventory_days = 0.0;
        for (item, record) in items.iter().filter(|(i, _)| wanted(i)) {
            m.items += 1;
            inventory_days += self.item_days(item, filter, &mut m)?;
            let last = record.last_demand.or(record.first_seen);
            if record.state.on_hand > 0 && last.is_some_and(|d| d < dead_line) {
                let sku = item.split('@').next().unwrap_or(item);
                let cost: Option<Cost> = load(NAME, &self.values(), &format!("cost/{sku}"))?;
                m.dead_stock.push(DeadStock {
                    item: item.clone(),
                    on_hand: record.state.on_hand,
                    value_cents: record.state.on_hand as f64
                        * cost.unwrap_or_default().unit_cents(),
                    last_demand: record.last_demand,
                });
            }
        }
        m.average_inventory_cents = inventory_days / days as f64;
        (m.turnover, m.days_of_inventory) =
            turnover(m.cogs_cents, m.average_inventory_cents, days as f64);

        let (mut variance_value, mut expected_value) = (0.0, 0.0);
        for (item, c) in self.scan::<Count>("count/")? {
            if !wanted(item.rsplit_once('/').map_or("", |(i, _)| i)) || !in_period(c.at) {
                continue;
            }
            m.counts += 1;
            let allowed = c.expected as f64 * filter.count_tolerance;
            m.counts_within_tolerance += usize::from((c.variance.unsigned_abs() as f64) <= allowed);
            variance_value += c.variance.unsigned_abs() as f64 * c.unit_cost_cents;
            expected_value += c.expected as f64 * c.unit_cost_cents;
        }
        m.stock_accuracy = ratio(m.counts_within_tolerance as f64, m.counts as f64);
        m.value_weighted_variance = ratio(variance_value, expected_value);

        let horizon = end.min(as_of);
        for (item, s) in self.scan::<Stockout>("stockout/")? {
            if !wanted(item.rsplit_once('/').map_or("", |(i, _)| i)) {
                continue;
            }
            if s.start >= end || s.end.is_some_and(|e| e <= start) {
                continue;
            }
            let (from, to) = (s.start.max(start), s.end.unwrap_or(horizon).min(end));
            m.stockouts += 1;
            m.stockout_hours += (to - from).num_seconds().max(0) as f64 / 3600.0;
        }
        for (item, s) in self.scan::<Shortage>("shortage/")? {
            if !wanted(item.rsplit_once('/').map_or("", |(i, _)| i)) || !in_period(s.at) {
                continue;
            }
            match s.kind.as_str() {
                "pick" => m.short_picks += 1,
                _ => m.shortages_of_reserved_stock += 1,
            }
            m.units_short += s.short;
        }
        Ok(m)
    }

    /// Adds the item's COGS and shipments in the period to `m`; returns the
    /// sum over the period's days of its closing value (for the average).
    fn item_days(
        &self,
        item: &str,
        filter: &StockFilter,
        m: &mut StockMetrics,
    ) -> Result<f64, ProjectionError> {
        let tree = self.values();
        let prefix = format!("day/{item}/");
        let key = |d: NaiveDate| format!("{prefix}{d}");
        let read = |v: &[u8], k: &[u8]| -> Result<StockDay, ProjectionError> {
            serde_json::from_slice(v).map_err(|source| ProjectionError::Corrupt {
                model: NAME,
                key: String::from_utf8_lossy(k).into_owned(),
                source,
            })
        };
        // The close before the period carries into its first days.
        let mut value = match tree
            .range(prefix.as_bytes(), key(filter.from).as_bytes())
            .next_back()
            .transpose()?
        {
            Some((k, v)) => read(&v, &k)?.close_value_cents,
            None => 0.0,
        };
        let mut day = filter.from;
        let mut sum = 0.0;
        let upper = key(filter.to + Duration::days(1));
        for entry in tree.range(key(filter.from).as_bytes(), upper.as_bytes()) {
            let (k, v) = entry?;
            let moved: NaiveDate = String::from_utf8_lossy(&k[prefix.len()..])
                .parse()
                .unwrap_or(day);
            // Days without movement close at the last value.
            sum += value * (moved - day).num_days().max(0) as f64;
            let d = read(&v, &k)?;
            m.cogs_cents += d.cogs_cents;
            m.units_shipped += d.shipped_units;
            value = d.close_value_cents;
            sum += value;
            day = moved + Duration::days(1);
        }
        sum += value * ((filter.to - day).num_days() + 1).max(0) as f64;
        Ok(sum)
    }
}
