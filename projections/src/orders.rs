//! Order metrics: how fast and how well orders are fulfilled, from events.
//!
//! One record per order is folded from its events (business time `at`);
//! the metrics are computed when asked, over the orders placed in a period,
//! so any period or channel can be asked without a model per question.
//!
//! - **Cycle time** placed→shipped (the last unit) and placed→delivered,
//!   decomposed into payment wait (placed→authorized), stock wait
//!   (placed→every open unit allocated) and warehouse flow
//!   (allocated→shipped).
//! - **On-time shipment**: shipped complete on or before the latest date
//!   promised for its lines (the requested date when none was promised).
//! - **Perfect orders**: shipped complete (nothing cancelled), on time, with
//!   no short pick and no damaged return. Wrong-item returns are not
//!   recorded by the order yet, so they cannot count.
//! - **Fill rate**: the share of lines, and of units, allocated from stock
//!   at the first attempt (before any backorder, inbound allocation, short
//!   pick or release of the line).
//! - **Backorders**: lines waiting for supply now, and how long they waited.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use event_store::RecordedEvent;
use schemas::order::{ReturnCondition, SupplySource};
use schemas::OrderEvent;
use schemas::StreamKind;
use serde::{Deserialize, Serialize};

use crate::projection::{events_of, load, Folded, Model, Projection, ProjectionError, Working};
use crate::stats::{ratio, Percentiles};

const NAME: &str = "orders";

/// What the model keeps of one order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderRecord {
    /// The order.
    pub order_id: String,
    /// The customer.
    #[serde(default)]
    pub customer_id: String,
    /// Its sales channel.
    pub channel: String,
    /// When it was placed.
    pub placed_at: Option<DateTime<Utc>>,
    /// The day the customer asked for it.
    pub requested_date: Option<NaiveDate>,
    /// Its lines.
    pub lines: BTreeMap<u32, LineRecord>,
    /// When payment was authorized.
    pub authorized_at: Option<DateTime<Utc>>,
    /// Whether payment failed.
    pub payment_failed: bool,
    /// When every open unit was last seen allocated (cleared when units go back).
    pub allocated_at: Option<DateTime<Utc>>,
    /// When its last unit shipped.
    pub shipped_at: Option<DateTime<Utc>>,
    /// Shipments and whether each was delivered.
    pub shipments: BTreeMap<String, bool>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Whether it was cancelled.
    pub cancelled: bool,
    /// Short picks it suffered.
    pub short_picks: u32,
    /// Returns that came back damaged.
    pub damaged_returns: u32,
}

/// What the model keeps of one order line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LineRecord {
    /// The SKU.
    pub sku: String,
    /// Units ordered.
    pub qty: u64,
    /// Units allocated now.
    pub allocated: u64,
    /// Units shipped.
    pub shipped: u64,
    /// Whether the line was cancelled.
    pub cancelled: bool,
    /// Units allocated from stock before the first attempt ended.
    pub from_stock_first: u64,
    /// The first attempt ended: a backorder, an inbound allocation, a short pick or a release.
    pub first_attempt_over: bool,
    /// Units waiting for supply, and since when.
    pub backordered: u64,
    /// Since when units wait on a backorder, while they do.
    pub backordered_since: Option<DateTime<Utc>>,
    /// The latest date promised.
    pub promise_date: Option<NaiveDate>,
    /// Locations its units were allocated or shipped from.
    #[serde(default)]
    pub locations: BTreeSet<String>,
}

impl LineRecord {
    fn open(&self) -> u64 {
        if self.cancelled {
            0
        } else {
            self.qty.saturating_sub(self.shipped)
        }
    }
}

impl OrderRecord {
    fn evolve(&mut self, event: &OrderEvent, at: DateTime<Utc>) {
        match event {
            OrderEvent::OrderPlaced {
                order_id,
                customer_id,
                lines,
                channel,
                requested_date,
                ..
            } => {
                self.order_id.clone_from(order_id);
                self.customer_id.clone_from(customer_id);
                self.channel.clone_from(channel);
                self.placed_at = Some(at);
                self.requested_date = Some(*requested_date);
                for l in lines {
                    self.lines.insert(
                        l.line,
                        LineRecord {
                            sku: l.sku.clone(),
                            qty: l.qty,
                            ..LineRecord::default()
                        },
                    );
                }
            }
            OrderEvent::PaymentAuthorized { .. } => {
                self.authorized_at.get_or_insert(at);
            }
            OrderEvent::PaymentFailed { .. } => self.payment_failed = true,
            OrderEvent::LineAllocated {
                line,
                qty,
                source,
                promise_date,
                backorder_filled,
                ..
            } => {
                if let Some(l) = self.lines.get_mut(line) {
                    l.locations.insert(source.location().to_owned());
                    l.allocated += qty;
                    // Events from before `backorder_filled` was carried: all of it.
                    l.backordered = l
                        .backordered
                        .saturating_sub(backorder_filled.unwrap_or(*qty));
                    if l.backordered == 0 {
                        l.backordered_since = None;
                    }
                    l.promise_date = l.promise_date.max(Some(*promise_date));
                    match source {
                        SupplySource::Stock { .. } if !l.first_attempt_over => {
                            l.from_stock_first = (l.from_stock_first + qty).min(l.qty);
                        }
                        SupplySource::Inbound { .. } => l.first_attempt_over = true,
                        SupplySource::Stock { .. } => {}
                    }
                }
            }
            OrderEvent::LineRepinned { line, to, .. } => {
                if let Some(l) = self.lines.get_mut(line) {
                    l.locations.insert(to.location().to_owned());
                }
            }
            // The line's latest promise is the one it is held to.
            OrderEvent::LineRescheduled {
                line, promise_date, ..
            } => {
                if let Some(l) = self.lines.get_mut(line) {
                    l.promise_date = Some(*promise_date);
                }
            }
            OrderEvent::LineBackordered { line, qty, .. } => {
                if let Some(l) = self.lines.get_mut(line) {
                    l.first_attempt_over = true;
                    l.backordered += qty;
                    l.backordered_since.get_or_insert(at);
                }
            }
            OrderEvent::LineDeallocated { line, qty, .. } => {
                if let Some(l) = self.lines.get_mut(line) {
                    l.allocated = l.allocated.saturating_sub(*qty);
                }
            }
            OrderEvent::OrderReleased { .. } => {
                for l in self.lines.values_mut() {
                    l.first_attempt_over = true;
                }
            }
            OrderEvent::PickShort { line, short, .. } => {
                self.short_picks += 1;
                if let Some(l) = self.lines.get_mut(line) {
                    l.first_attempt_over = true;
                    l.allocated = l.allocated.saturating_sub(*short);
                }
            }
            OrderEvent::OrderShipped {
                shipment_id, lines, ..
            } => {
                self.shipments.insert(shipment_id.clone(), false);
                for s in lines {
                    if let Some(l) = self.lines.get_mut(&s.line) {
                        l.locations.insert(s.location.clone());
                        l.shipped += s.qty;
                        l.allocated = l.allocated.saturating_sub(s.qty);
                    }
                }
                if self.lines.values().all(|l| l.open() == 0) {
                    self.shipped_at.get_or_insert(at);
                }
            }
            OrderEvent::ShipmentDelivered { shipment_id, .. } => {
                self.shipments.insert(shipment_id.clone(), true);
                if self.shipped_at.is_some() && self.shipments.values().all(|d| *d) {
                    self.delivered_at.get_or_insert(at);
                }
            }
            OrderEvent::OrderCancelled { .. } => {
                self.cancelled = true;
                for l in self.lines.values_mut() {
                    l.cancelled = true;
                    l.backordered = 0;
                    l.backordered_since = None;
                }
            }
            OrderEvent::LineCancelled { line, .. } => {
                if let Some(l) = self.lines.get_mut(line) {
                    l.cancelled = true;
                    l.backordered = 0;
                    l.backordered_since = None;
                }
                if self.shipped_at.is_none()
                    && self.lines.values().any(|l| l.shipped > 0)
                    && self.lines.values().all(|l| l.open() == 0)
                {
                    self.shipped_at = Some(at);
                }
            }
            OrderEvent::ReturnReceived { condition, .. } => {
                if *condition == ReturnCondition::Damaged {
                    self.damaged_returns += 1;
                }
            }
            OrderEvent::InboundAllocationReceived { .. }
            | OrderEvent::PaymentCaptured { .. }
            | OrderEvent::LinePicked { .. }
            | OrderEvent::OrderPacked { .. }
            | OrderEvent::ReturnRequested { .. }
            | OrderEvent::ReturnRefunded { .. }
            | OrderEvent::CustomerNotified { .. } => {}
        }
        // Stock wait ends when every open unit is allocated (or already shipped).
        let covered = self
            .lines
            .values()
            .all(|l| l.cancelled || l.allocated + l.shipped >= l.qty);
        if covered && !self.cancelled {
            self.allocated_at.get_or_insert(at);
        }
    }

    /// The date the order was due to ship by: the latest promise, else the requested date.
    pub fn due(&self) -> Option<NaiveDate> {
        self.lines
            .values()
            .filter_map(|l| l.promise_date)
            .max()
            .or(self.requested_date)
    }

    /// Placed, and neither shipped complete nor cancelled.
    pub fn is_open(&self) -> bool {
        self.placed_at.is_some() && self.shipped_at.is_none() && !self.cancelled
    }

    /// Where the order stands on `today`.
    pub fn status(&self, today: NaiveDate) -> OrderStatus {
        if self.cancelled {
            OrderStatus::Cancelled
        } else if self.delivered_at.is_some() {
            OrderStatus::Delivered
        } else if self.shipped_at.is_some() {
            OrderStatus::Shipped
        } else if self
            .lines
            .values()
            .any(|l| l.backordered > 0 && !l.cancelled)
        {
            OrderStatus::Backordered
        } else if self.due().is_some_and(|due| due < today) {
            OrderStatus::Late
        } else {
            OrderStatus::Open
        }
    }

    /// The order as one row of a listing, on `today`.
    pub fn summary(&self, today: NaiveDate) -> OrderSummary {
        let live = || self.lines.values().filter(|l| !l.cancelled);
        let mut skus: Vec<String> = self.lines.values().map(|l| l.sku.clone()).collect();
        skus.dedup();
        OrderSummary {
            order_id: self.order_id.clone(),
            customer_id: self.customer_id.clone(),
            channel: self.channel.clone(),
            placed_at: self.placed_at,
            status: self.status(today),
            due: self.due(),
            skus: skus.join(" "),
            lines: self.lines.len(),
            units: self.lines.values().map(|l| l.qty).sum(),
            allocated: live().map(|l| l.allocated).sum(),
            backordered: live().map(|l| l.backordered).sum(),
            shipped: self.lines.values().map(|l| l.shipped).sum(),
            shipped_at: self.shipped_at,
        }
    }

    fn complete(&self) -> bool {
        self.shipped_at.is_some() && self.lines.values().all(|l| !l.cancelled)
    }

    fn on_time(&self) -> bool {
        match (self.shipped_at, self.due()) {
            (Some(s), Some(due)) => s.date_naive() <= due,
            _ => false,
        }
    }
}

/// An index key's time: sorts as the time does.
fn index_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed, not yet shipped complete, on time so far.
    Open,
    /// Open with units waiting for supply.
    Backordered,
    /// Open past its due date (the latest promise, else the requested date).
    Late,
    /// Shipped complete.
    Shipped,
    /// Shipped complete and delivered.
    Delivered,
    /// Cancelled.
    Cancelled,
}

impl OrderStatus {
    /// Whether an order in this status is still to be shipped.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Open | Self::Backordered | Self::Late)
    }
}

/// One order in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderSummary {
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer_id: String,
    /// The sales channel.
    pub channel: String,
    /// When it was placed (business time).
    pub placed_at: Option<DateTime<Utc>>,
    /// Where it stands.
    pub status: OrderStatus,
    /// The date it is due to ship by: the latest promise, else the requested date.
    pub due: Option<NaiveDate>,
    /// Its SKUs, separated by spaces.
    pub skus: String,
    /// Lines.
    pub lines: usize,
    /// Units ordered.
    pub units: u64,
    /// Units allocated now.
    pub allocated: u64,
    /// Units waiting for supply.
    pub backordered: u64,
    /// Units shipped.
    pub shipped: u64,
    /// When its last unit shipped.
    pub shipped_at: Option<DateTime<Utc>>,
}

/// Which orders a listing shows.
#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    /// Period (placed), channel, SKU and location, as for the metrics.
    pub filter: OrderFilter,
    /// Only orders in this status (`open` takes backordered and late ones too).
    pub status: Option<OrderStatus>,
    /// Only this customer's orders.
    pub customer: Option<String>,
    /// The page after this cursor (the `next` of the page before).
    pub after: Option<String>,
    /// At most this many orders (1 to [`OrderQuery::MAX_LIMIT`]).
    pub limit: usize,
}

impl OrderQuery {
    /// The most orders one page holds.
    pub const MAX_LIMIT: usize = 1000;
    /// A page's size when none is asked.
    pub const DEFAULT_LIMIT: usize = 50;
}

/// One page of a listing: the orders, oldest placed first, and the cursor
/// of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPage {
    /// The orders.
    pub orders: Vec<OrderSummary>,
    /// Pass as `after` for the next page.
    pub next: Option<String>,
}

/// How the log folds into the order records.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrdersProjection;

impl Projection for OrdersProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Layout 2 keeps the customer and the listing indexes (`placed/`,
    /// `open/`, `customer/`, `sku/`).
    fn layout(&self) -> u32 {
        2
    }

    fn fold(&self, working: &mut Working<'_>, events: &[RecordedEvent]) -> Folded {
        for (id, event, e) in events_of::<OrderEvent>(NAME, StreamKind::Order, events) {
            let record = working.get::<OrderRecord>(&format!("order/{id}"))?;
            let was_open = record.is_open();
            record.evolve(&event, e.at);
            let (open, placed, customer) = (
                record.is_open(),
                record.placed_at,
                record.customer_id.clone(),
            );
            let Some(placed) = placed else { continue };
            let at = index_time(placed);
            if let OrderEvent::OrderPlaced { lines, .. } = &event {
                working.put(format!("placed/{at}/{id}"), true);
                working.put(format!("customer/{customer}/{at}/{id}"), true);
                for sku in lines.iter().map(|l| &l.sku).collect::<BTreeSet<_>>() {
                    working.put(format!("sku/{sku}/{at}/{id}"), true);
                }
                if open {
                    working.put(format!("open/{at}/{id}"), true);
                }
            } else if was_open && !open {
                // Shipped complete or cancelled: never open again.
                working.remove(format!("open/{at}/{id}"));
            }
        }
        Ok(())
    }
}

/// Which orders a question is about.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Placed on or after this day.
    pub from: Option<NaiveDate>,
    /// Placed on or before this day.
    pub to: Option<NaiveDate>,
    /// Only orders from this channel.
    pub channel: Option<String>,
    /// Only orders with a line of this SKU; line and unit figures count its lines only.
    pub sku: Option<String>,
    /// Only orders with units allocated or shipped from this location; line
    /// and unit figures count the lines with units there only.
    pub location: Option<String>,
}

impl OrderFilter {
    /// Whether a line of an admitted order counts in the line and unit
    /// figures (fill rate, backorders): every line, or the filter's SKU's
    /// lines, or lines with units at the filter's location.
    fn counts(&self, l: &LineRecord) -> bool {
        self.sku.as_ref().is_none_or(|s| l.sku == *s)
            && self
                .location
                .as_ref()
                .is_none_or(|at| l.locations.contains(at))
    }

    fn admits(&self, o: &OrderRecord) -> bool {
        let Some(placed) = o.placed_at.map(|p| p.date_naive()) else {
            return false;
        };
        self.from.is_none_or(|f| placed >= f)
            && self.to.is_none_or(|t| placed <= t)
            && self.channel.as_ref().is_none_or(|c| *c == o.channel)
            && self
                .sku
                .as_ref()
                .is_none_or(|s| o.lines.values().any(|l| l.sku == *s))
            && self
                .location
                .as_ref()
                .is_none_or(|at| o.lines.values().any(|l| l.locations.contains(at)))
    }
}

/// Cycle times in hours, and their parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CycleTimes {
    /// Hours from placement to the last shipment.
    pub placed_to_shipped: Percentiles,
    /// Hours from placement to delivery.
    pub placed_to_delivered: Percentiles,
    /// Hours from placement to payment authorization.
    pub payment_wait: Percentiles,
    /// Hours from payment to every unit allocated.
    pub stock_wait: Percentiles,
    /// Hours from every unit allocated to the last shipment.
    pub warehouse_flow: Percentiles,
}

/// Order metrics over the orders a filter admits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderMetrics {
    /// Orders placed in the period.
    pub orders: usize,
    /// Of those, shipped complete.
    pub shipped: usize,
    /// Of those, delivered.
    pub delivered: usize,
    /// Of those, cancelled.
    pub cancelled: usize,
    /// Of those, with failed payment.
    pub payment_failed: usize,
    /// Cycle times over all channels.
    pub cycle_hours: CycleTimes,
    /// Cycle times by channel.
    pub cycle_hours_by_channel: BTreeMap<String, CycleTimes>,
    /// Orders shipped on or before their promise date.
    pub shipped_on_time: usize,
    /// Shipped complete on or before the due date, of orders shipped complete.
    pub on_time_rate: Option<f64>,
    /// Orders complete, on time, without short picks or damaged returns.
    pub perfect: usize,
    /// Perfect orders of the orders shipped.
    pub perfect_order_rate: Option<f64>,
    /// Lines placed.
    pub lines: usize,
    /// Lines filled from stock at the first attempt.
    pub lines_filled_first: usize,
    /// Share of lines filled at the first attempt.
    pub line_fill_rate: Option<f64>,
    /// Units placed.
    pub units: u64,
    /// Units filled from stock at the first attempt.
    pub units_filled_first: u64,
    /// Share of units filled at the first attempt.
    pub unit_fill_rate: Option<f64>,
    /// Backorders open at `as_of`.
    pub backorders: Backorders,
}

/// Lines waiting for supply at `as_of`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Backorders {
    /// When their ages are counted.
    pub as_of: Option<DateTime<Utc>>,
    /// Lines waiting.
    pub lines: usize,
    /// Units waiting.
    pub units: u64,
    /// Ages in hours.
    pub age_hours: Percentiles,
}

#[derive(Default)]
struct Samples {
    shipped: Vec<f64>,
    delivered: Vec<f64>,
    payment: Vec<f64>,
    stock: Vec<f64>,
    warehouse: Vec<f64>,
}

impl Samples {
    fn add(&mut self, o: &OrderRecord) {
        let Some(placed) = o.placed_at else { return };
        let hours = |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_seconds() as f64 / 3600.0;
        if let Some(s) = o.shipped_at {
            self.shipped.push(hours(placed, s));
            if let Some(a) = o.allocated_at {
                self.warehouse.push(hours(a, s).max(0.0));
            }
        }
        if let Some(d) = o.delivered_at {
            self.delivered.push(hours(placed, d));
        }
        if let Some(p) = o.authorized_at {
            self.payment.push(hours(placed, p));
        }
        if let Some(a) = o.allocated_at {
            self.stock.push(hours(placed, a));
        }
    }

    fn cycle(self) -> CycleTimes {
        CycleTimes {
            placed_to_shipped: Percentiles::of(self.shipped),
            placed_to_delivered: Percentiles::of(self.delivered),
            payment_wait: Percentiles::of(self.payment),
            stock_wait: Percentiles::of(self.stock),
            warehouse_flow: Percentiles::of(self.warehouse),
        }
    }
}

/// Computes the metrics over `orders`, counting backorder ages at `as_of`.
pub fn order_metrics<'a>(
    orders: impl IntoIterator<Item = &'a OrderRecord>,
    filter: &OrderFilter,
    as_of: DateTime<Utc>,
) -> OrderMetrics {
    let mut m = OrderMetrics::default();
    let mut all = Samples::default();
    let mut by_channel: BTreeMap<String, Samples> = BTreeMap::new();
    let mut ages = Vec::new();
    for o in orders.into_iter().filter(|o| filter.admits(o)) {
        m.orders += 1;
        m.cancelled += usize::from(o.cancelled);
        m.payment_failed += usize::from(o.payment_failed);
        m.shipped += usize::from(o.shipped_at.is_some());
        m.delivered += usize::from(o.delivered_at.is_some());
        all.add(o);
        by_channel.entry(o.channel.clone()).or_default().add(o);
        if o.shipped_at.is_some() && o.on_time() {
            m.shipped_on_time += 1;
            if o.complete() && o.short_picks == 0 && o.damaged_returns == 0 {
                m.perfect += 1;
            }
        }
        // With a SKU or location filter, line figures count only those lines.
        for l in o.lines.values().filter(|l| filter.counts(l)) {
            m.lines += 1;
            m.units += l.qty;
            m.units_filled_first += l.from_stock_first;
            m.lines_filled_first += usize::from(l.from_stock_first >= l.qty);
            if l.backordered > 0 && !l.cancelled {
                m.backorders.lines += 1;
                m.backorders.units += l.backordered;
                if let Some(since) = l.backordered_since {
                    ages.push((as_of - since).num_seconds().max(0) as f64 / 3600.0);
                }
            }
        }
    }
    m.cycle_hours = all.cycle();
    m.cycle_hours_by_channel = by_channel
        .into_iter()
        .map(|(c, s)| (c, s.cycle()))
        .collect();
    m.on_time_rate = ratio(m.shipped_on_time as f64, m.shipped as f64);
    m.perfect_order_rate = ratio(m.perfect as f64, m.shipped as f64);
    m.line_fill_rate = ratio(m.lines_filled_first as f64, m.lines as f64);
    m.unit_fill_rate = ratio(m.units_filled_first as f64, m.units as f64);
    m.backorders.as_of = Some(as_of);
    m.backorders.age_hours = Percentiles::of(ages);
    m
}

/// The order metrics read model and its queries.
pub type OrdersModel = Model<OrdersProjection>;

impl OrdersModel {
    /// One order's record, if the order exists.
    pub fn order(&self, order_id: &str) -> Result<Option<OrderRecord>, ProjectionError> {
        load(NAME, &self.values(), &format!("order/{order_id}"))
    }

    /// A page of the orders `query` asks for, oldest placed first, with
    /// statuses on `today`. It walks the smallest index that holds them:
    /// open orders, one customer's, one SKU's, or all by placement, from
    /// the period's first day, so a page costs the orders it passes over,
    /// not the model.
    pub fn list(&self, query: &OrderQuery, today: NaiveDate) -> Result<OrderPage, ProjectionError> {
        let limit = query.limit.clamp(1, OrderQuery::MAX_LIMIT);
        let prefix = match (&query.status, &query.customer, &query.filter.sku) {
            (Some(s), _, _) if s.is_open() => "open/".to_owned(),
            (_, Some(c), _) => format!("customer/{c}/"),
            (_, _, Some(sku)) => format!("sku/{sku}/"),
            _ => "placed/".to_owned(),
        };
        let mut start = match query.filter.from {
            Some(from) => format!("{prefix}{from}"),
            None => prefix.clone(),
        };
        if let Some(after) = &query.after {
            // A cursor from another index (or none at all) starts the walk over.
            if after.starts_with(&prefix) && *after >= start {
                start = format!("{after}\0");
            }
        }
        let end = match query.filter.to {
            Some(to) => format!("{prefix}{}", to + chrono::Duration::days(1)),
            None => format!("{prefix}\u{10FFFF}"),
        };
        let values = self.values();
        let mut page = OrderPage {
            orders: Vec::new(),
            next: None,
        };
        let mut last_key = None;
        for entry in values.range(start.as_bytes(), end.as_bytes()) {
            let (key, _) = entry?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let Some(order) = key
                .rsplit('/')
                .next()
                .map(|id| self.order(id))
                .transpose()?
                .flatten()
            else {
                continue;
            };
            let summary = order.summary(today);
            let status_fits = match query.status {
                None => true,
                Some(OrderStatus::Open) => summary.status.is_open(),
                Some(OrderStatus::Shipped) => {
                    matches!(
                        summary.status,
                        OrderStatus::Shipped | OrderStatus::Delivered
                    )
                }
                Some(s) => summary.status == s,
            };
            if !status_fits
                || !query.filter.admits(&order)
                || query
                    .customer
                    .as_ref()
                    .is_some_and(|c| *c != order.customer_id)
            {
                continue;
            }
            // One more order than the page holds: there is a next page.
            if page.orders.len() == limit {
                page.next = last_key;
                break;
            }
            page.orders.push(summary);
            last_key = Some(key);
        }
        Ok(page)
    }

    /// The metrics over the orders `filter` admits, backorder ages at `as_of`.
    pub fn metrics(
        &self,
        filter: &OrderFilter,
        as_of: DateTime<Utc>,
    ) -> Result<OrderMetrics, ProjectionError> {
        let orders: Vec<(String, OrderRecord)> = self.scan("order/")?;
        Ok(order_metrics(orders.iter().map(|(_, o)| o), filter, as_of))
    }
}
