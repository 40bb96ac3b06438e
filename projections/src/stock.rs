//! Inventory metrics: turnover, stock accuracy, stockouts, dead stock and
//! shortages, by business time `at`.
//!
//! Every figure per day is a sum of facts dated that day, so a fact
//! recorded late (an import, a late scan) with an earlier `at` corrects the
//! days from its own onwards, whatever order the log holds the facts in:
//! the model keeps what each event changed (on-hand, reserved, shipped) by
//! the day of its `at`, and closes and stockouts are summed up when asked.
//!
//! Stock is valued at the SKU's average receipt cost as of the day: every
//! purchase-order receipt dated on or before it, its units at their unit
//! cost, averaged; before any receipt, the item master's standard cost.
//! Cost of goods sold is the units shipped on a day at that day's cost.
//!
//! Kept per item (SKU × location): its position now (folded with the
//! inventory item's own `evolve`), one record per day it moved (the change
//! in on-hand and reserved, units shipped), each change in time order (for
//! stockouts: nothing free to promise from stock), each cycle count and
//! each shortage.

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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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

/// Purchase-order receipts of a SKU dated one day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Receipts {
    /// Units received.
    pub units: u64,
    /// Their value at the PO cost, in cents.
    pub value_cents: u64,
}

/// What the model keeps of one item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StockItem {
    /// The item's position now.
    pub state: InventoryItem,
    /// The first day it moved.
    pub first_seen: Option<NaiveDate>,
    /// The last day an order reserved it.
    pub last_demand: Option<NaiveDate>,
}

/// What the facts dated one day changed of an item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StockDay {
    /// Change in on-hand.
    pub on_hand: i64,
    /// Change in units reserved from on-hand.
    pub reserved: i64,
    /// Units shipped.
    pub shipped_units: u64,
}

/// What one fact changed of an item, kept in business-time order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Move {
    /// Change in on-hand.
    pub on_hand: i64,
    /// Change in units reserved from on-hand.
    pub reserved: i64,
}

impl Move {
    /// What `event` changes, read from the fact alone (a count by its
    /// variance), so that sums of changes do not depend on the order the
    /// facts were recorded in.
    pub fn of(event: &InventoryEvent) -> Self {
        use InventoryEvent as E;
        let (on_hand, reserved) = match event {
            E::StockReceived { qty, .. } | E::ReturnRestocked { qty, .. } => (signed(*qty), 0),
            E::StockAdjusted { delta, .. } => (*delta, 0),
            E::StockCounted { variance, .. } => (*variance, 0),
            E::StockReserved { qty, .. } | E::ReservationMovedToStock { qty, .. } => {
                (0, signed(*qty))
            }
            E::ReservationReleased {
                qty, po_id: None, ..
            } => (0, -signed(*qty)),
            E::StockShipped { qty, .. } => (-signed(*qty), -signed(*qty)),
            E::PickShortRecorded { short, .. } => (-signed(*short), -signed(*short)),
            _ => (0, 0),
        };
        Self { on_hand, reserved }
    }
}

/// One cycle count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Count {
    /// When it was counted.
    pub at: DateTime<Utc>,
    /// Units the count expected.
    pub expected: u64,
    /// Units counted.
    pub counted: u64,
    /// Counted minus expected.
    pub variance: i64,
}

/// Units promised to orders found missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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

    // 2: per-day changes by business time (1 kept closes in log order).
    fn layout(&self) -> u32 {
        2
    }

    fn fold(&self, batch: &mut Working<'_>, events: &[RecordedEvent]) -> Folded {
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
                        let day = e.at.date_naive();
                        let receipts = batch.get::<Receipts>(&format!("receipt/{sku}/{day}"))?;
                        receipts.units += qty;
                        receipts.value_cents += qty * unit_cost_cents;
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

/// The sortable key of a fact's time and position within an item.
fn move_key(item: &str, at: DateTime<Utc>, position: u64) -> String {
    format!(
        "move/{item}/{}/{position:020}",
        at.format("%Y%m%dT%H%M%S%.6f")
    )
}

fn signed(units: u64) -> i64 {
    i64::try_from(units).unwrap_or(i64::MAX)
}

fn fold_inventory(
    batch: &mut Working<'_>,
    item: &str,
    event: &InventoryEvent,
    e: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let day = e.at.date_naive();
    let item_key = format!("item/{item}");
    let mut record: StockItem = std::mem::take(batch.get::<StockItem>(&item_key)?);
    record.first_seen = Some(record.first_seen.map_or(day, |d| d.min(day)));
    record.state = InventoryItem::evolve(std::mem::take(&mut record.state), event);
    let change = Move::of(event);
    let tag = format!("{item}/{:020}", e.position);
    let today = batch.get::<StockDay>(&format!("day/{item}/{day}"))?;
    today.on_hand += change.on_hand;
    today.reserved += change.reserved;
    match event {
        InventoryEvent::StockShipped { qty, .. } => today.shipped_units += qty,
        InventoryEvent::StockReserved { .. } | InventoryEvent::InboundReserved { .. } => {
            record.last_demand = Some(record.last_demand.map_or(day, |d| d.max(day)));
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
    batch.put(move_key(item, e.at, e.position), change);
    batch.put(item_key, record);
    Ok(())
}

/// Where an item stood when a period began: the sums of the days before it.
#[derive(Debug, Clone, Copy, Default)]
struct Opening {
    on_hand: i64,
    reserved: i64,
    /// Whether any fact was dated before the period.
    existed: bool,
}

/// A SKU's average receipt cost by day: receipts dated on or before a day,
/// else the standard cost.
#[derive(Debug, Clone, Default)]
struct CostByDay {
    standard_cents: f64,
    /// Each day with receipts, with the units and value received up to it.
    cumulative: Vec<(NaiveDate, u64, u64)>,
}

impl CostByDay {
    fn on(&self, day: NaiveDate) -> f64 {
        let upto = self.cumulative.partition_point(|(d, _, _)| *d <= day);
        match upto.checked_sub(1).map(|i| self.cumulative[i]) {
            Some((_, units, value)) if units > 0 => value as f64 / units as f64,
            _ => self.standard_cents,
        }
    }
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// Each day of the period, over the items asked for.
    pub daily: Vec<DailyStock>,
}

/// One day's stock, over the items asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DailyStock {
    /// The day.
    pub date: NaiveDate,
    /// Units on hand at its close.
    pub close_units: i64,
    /// Their value at the day's average receipt cost, in cents.
    pub close_value_cents: f64,
    /// Units shipped that day.
    pub shipped_units: u64,
    /// Their cost, in cents.
    pub cogs_cents: f64,
}

/// An item holding stock nobody has reserved in a while.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeadStock {
    /// The item (SKU@LOCATION).
    pub item: String,
    /// Units on hand.
    pub on_hand: u64,
    /// Of those, units no order has reserved: the dead stock.
    pub free: u64,
    /// The free units' value, in cents.
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
        m.daily = (0..days)
            .map(|i| DailyStock {
                date: filter.from + Duration::days(i),
                ..DailyStock::default()
            })
            .collect();
        let start = filter.from.and_time(NaiveTime::MIN).and_utc();
        let end = (filter.to + Duration::days(1))
            .and_time(NaiveTime::MIN)
            .and_utc();
        let in_period = |at: DateTime<Utc>| at >= start && at < end;
        let items: Vec<(String, StockItem)> = self.scan("item/")?;
        let dead_line = as_of.date_naive() - Duration::days(filter.dead_after_days);
        let mut costs = std::collections::BTreeMap::<String, CostByDay>::new();
        for (item, record) in items.iter().filter(|(i, _)| wanted(i)) {
            let sku = item.split('@').next().unwrap_or(item);
            if !costs.contains_key(sku) {
                costs.insert(sku.to_owned(), self.cost_by_day(sku)?);
            }
            let cost = costs.get(sku).cloned().unwrap_or_default();
            m.items += 1;
            let opening = self.item_days(item, &cost, &mut m.daily)?;
            self.stockouts(item, opening, start, end.min(as_of).max(start), &mut m)?;
            let last = record.last_demand.or(record.first_seen);
            // Units reserved for orders are spoken for: only free units lie dead.
            let free = record.state.free();
            if free > 0 && last.is_some_and(|d| d < dead_line) {
                m.dead_stock.push(DeadStock {
                    item: item.clone(),
                    on_hand: record.state.on_hand,
                    free,
                    value_cents: free as f64 * cost.on(as_of.date_naive()),
                    last_demand: record.last_demand,
                });
            }
        }
        let inventory_days: f64 = m.daily.iter().map(|d| d.close_value_cents).sum();
        m.cogs_cents = m.daily.iter().map(|d| d.cogs_cents).sum();
        m.units_shipped = m.daily.iter().map(|d| d.shipped_units).sum();
        m.average_inventory_cents = inventory_days / days as f64;
        (m.turnover, m.days_of_inventory) =
            turnover(m.cogs_cents, m.average_inventory_cents, days as f64);

        let (mut variance_value, mut expected_value) = (0.0, 0.0);
        for (item, c) in self.scan::<Count>("count/")? {
            let item = item.rsplit_once('/').map_or("", |(i, _)| i);
            if !wanted(item) || !in_period(c.at) {
                continue;
            }
            let sku = item.split('@').next().unwrap_or(item);
            let unit_cost = match costs.get(sku) {
                Some(cost) => cost.on(c.at.date_naive()),
                None => self.cost_by_day(sku)?.on(c.at.date_naive()),
            };
            m.counts += 1;
            let allowed = c.expected as f64 * filter.count_tolerance;
            m.counts_within_tolerance += usize::from((c.variance.unsigned_abs() as f64) <= allowed);
            variance_value += c.variance.unsigned_abs() as f64 * unit_cost;
            expected_value += c.expected as f64 * unit_cost;
        }
        m.stock_accuracy = ratio(m.counts_within_tolerance as f64, m.counts as f64);
        m.value_weighted_variance = ratio(variance_value, expected_value);

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

    /// The SKU's average receipt cost by day.
    fn cost_by_day(&self, sku: &str) -> Result<CostByDay, ProjectionError> {
        let standard: Option<Cost> = load(NAME, &self.values(), &format!("cost/{sku}"))?;
        let mut cost = CostByDay {
            standard_cents: standard.and_then(|c| c.standard_cents).unwrap_or(0) as f64,
            cumulative: Vec::new(),
        };
        let (mut units, mut value) = (0, 0);
        for (day, r) in self.scan::<Receipts>(&format!("receipt/{sku}/"))? {
            units += r.units;
            value += r.value_cents;
            if let Ok(day) = day.parse() {
                cost.cumulative.push((day, units, value));
            }
        }
        Ok(cost)
    }

    /// Adds the item's closes, shipments and COGS to each day of `daily`;
    /// returns where the item stood when the period began.
    fn item_days(
        &self,
        item: &str,
        cost: &CostByDay,
        daily: &mut [DailyStock],
    ) -> Result<Opening, ProjectionError> {
        let mut opening = Opening::default();
        let Some(from) = daily.first().map(|d| d.date) else {
            return Ok(opening);
        };
        let mut moved = std::collections::BTreeMap::new();
        for (day, change) in self.scan::<StockDay>(&format!("day/{item}/"))? {
            let Ok(day) = day.parse::<NaiveDate>() else {
                continue;
            };
            if day < from {
                // The days before the period carry into it.
                opening.on_hand += change.on_hand;
                opening.reserved += change.reserved;
                opening.existed = true;
            } else {
                moved.insert(day, change);
            }
        }
        let mut units = opening.on_hand;
        for d in daily.iter_mut() {
            let unit_cost = cost.on(d.date);
            if let Some(change) = moved.get(&d.date) {
                units += change.on_hand;
                d.shipped_units += change.shipped_units;
                d.cogs_cents += change.shipped_units as f64 * unit_cost;
            }
            d.close_units += units;
            d.close_value_cents += units.max(0) as f64 * unit_cost;
        }
        Ok(opening)
    }

    /// Counts the item's stockouts (nothing free to promise from stock) that
    /// overlap `start..end`, and their hours within it, into `m`.
    fn stockouts(
        &self,
        item: &str,
        opening: Opening,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        m: &mut StockMetrics,
    ) -> Result<(), ProjectionError> {
        let prefix = format!("move/{item}/");
        let first = move_key(item, start, 0);
        let tree = self.values();
        let Opening {
            mut on_hand,
            mut reserved,
            existed,
        } = opening;
        let mut out_since = (existed && on_hand <= reserved).then_some(start);
        if out_since.is_some() {
            m.stockouts += 1;
        }
        let last = move_key(item, end, 0);
        for entry in tree.range(first.as_bytes(), last.as_bytes()) {
            let (k, v) = entry?;
            let change: Move = read(&k, &v)?;
            on_hand += change.on_hand;
            reserved += change.reserved;
            let at = time_of_move(&k[prefix.len()..]).unwrap_or(start);
            match (out_since, on_hand <= reserved) {
                (None, true) => {
                    m.stockouts += 1;
                    out_since = Some(at);
                }
                (Some(since), false) => {
                    m.stockout_hours += hours(since, at);
                    out_since = None;
                }
                _ => {}
            }
        }
        if let Some(since) = out_since {
            m.stockout_hours += hours(since, end);
        }
        Ok(())
    }
}

fn read<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, ProjectionError> {
    serde_json::from_slice(value).map_err(|source| ProjectionError::Corrupt {
        model: NAME,
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    })
}

/// The business time in the rest of a move's key (`time/position`).
fn time_of_move(rest: &[u8]) -> Option<DateTime<Utc>> {
    let rest = std::str::from_utf8(rest).ok()?;
    let (time, _) = rest.split_once('/')?;
    chrono::NaiveDateTime::parse_from_str(time, "%Y%m%dT%H%M%S%.6f")
        .ok()
        .map(|t| t.and_utc())
}

fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_seconds().max(0) as f64 / 3600.0
}
