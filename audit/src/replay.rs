//! The replay: one pass over the log in position order, remembering only
//! what open orders, items and causes still need, so memory follows the
//! work in flight, not the length of the history.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use event_store::RecordedEvent;
use projections::stock::Move;
use schemas::inventory::AdjustmentReason;
use schemas::order::SupplySource;
use schemas::{InventoryEvent, OrderEvent, PurchaseOrderEvent, StreamKind};

use crate::cause::{Cause, Evidence};
use crate::report::{Break, Finding, LateOrder, Outcome, Owner, Step};

const READER: &str = "audit";

/// A map of a few entries kept in a vector: an order has a line or a few,
/// a line a source or two, and a `BTreeMap` allocates room for eleven, which
/// for every open order of a long history is most of the replay's memory.
#[derive(Debug, Clone)]
struct Few<K, V>(Vec<(K, V)>);

impl<K, V> Default for Few<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<K: PartialEq, V> Few<K, V> {
    fn get(&self, key: &K) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value at `key`, `value` put there first when there is none.
    fn get_or_insert(&mut self, key: K, value: V) -> &mut V {
        let at = if let Some(at) = self.0.iter().position(|(k, _)| *k == key) {
            at
        } else {
            self.0.push((key, value));
            self.0.len() - 1
        };
        &mut self.0[at].1
    }

    fn insert(&mut self, key: K, value: V) {
        match self.get_mut(&key) {
            Some(v) => *v = value,
            None => self.0.push((key, value)),
        }
    }

    fn remove(&mut self, key: &K) {
        self.0.retain(|(k, _)| k != key);
    }

    fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
}

/// One promise of units from one source.
#[derive(Debug, Clone)]
struct Promise {
    qty: u64,
    date: NaiveDate,
    at: DateTime<Utc>,
    position: u64,
}

/// What the replay remembers of an open order line.
#[derive(Debug, Clone, Default)]
struct LineTrack {
    sku: String,
    qty: u64,
    shipped: u64,
    cancelled: bool,
    promises: Few<SupplySource, Promise>,
    /// The first date promised: the one the customer was told first.
    first_promise: Option<NaiveDate>,
    /// Findings on this line waiting for their outcome.
    pending: Vec<usize>,
}

impl LineTrack {
    fn open(&self) -> u64 {
        if self.cancelled {
            0
        } else {
            self.qty.saturating_sub(self.shipped)
        }
    }

    fn promised(&self) -> u64 {
        self.promises.values().map(|p| p.qty).sum()
    }
}

/// What the replay remembers of an open order.
#[derive(Debug, Clone, Default)]
struct OrderTrack {
    placed: Option<(DateTime<Utc>, u64)>,
    requested: Option<NaiveDate>,
    lines: Few<u32, LineTrack>,
    authorized: Option<DateTime<Utc>>,
    /// When every open unit was last seen promised.
    covered: Option<DateTime<Utc>>,
    released: Option<DateTime<Utc>>,
    picked: Option<DateTime<Utc>>,
    packed: Option<DateTime<Utc>>,
    backorders: Vec<u64>,
    findings: Vec<usize>,
}

impl OrderTrack {
    /// The date the order was first promised for: the latest of its lines'
    /// first promises, else the day asked for.
    fn due(&self) -> Option<NaiveDate> {
        self.lines
            .values()
            .filter_map(|l| l.first_promise)
            .max()
            .or(self.requested)
    }
}

/// What the replay remembers of an item (SKU@location).
#[derive(Debug, Clone, Default)]
struct ItemTrack {
    on_hand: i64,
    reserved: i64,
    /// The last fact that lowered on-hand, with the command that recorded it.
    lowered: Option<(Option<String>, Evidence)>,
}

/// One pass over the log; [`Replay::finish`] gives the findings.
#[derive(Debug, Default)]
pub struct Replay {
    orders: HashMap<String, OrderTrack>,
    items: HashMap<String, ItemTrack>,
    /// Causes by the position of the fact that carries them, for the facts
    /// the processes react to.
    causes: HashMap<u64, Evidence>,
    suppliers: HashMap<String, String>,
    /// Per PO line: units received, and the last receipt's position.
    receipts: HashMap<(String, u32), (u64, u64)>,
    findings: Vec<Finding>,
    late: Vec<LateOrder>,
    events: u64,
    last: Option<(u64, DateTime<Utc>)>,
    skus: std::collections::HashSet<String>,
    locations: std::collections::HashSet<String>,
}

/// The position of the fact that caused a process's command, from its id
/// (`fp-<position>-…` for fulfilment, `rp-<position>-…` for replenishment).
fn parent(e: &RecordedEvent) -> Option<u64> {
    let id = e.causation_id.as_deref()?;
    let rest = id.strip_prefix("fp-").or_else(|| id.strip_prefix("rp-"))?;
    rest.split('-').next()?.parse().ok()
}

fn days(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days()
}

impl Replay {
    /// An empty replay.
    pub fn new() -> Self {
        Self::default()
    }

    /// Events replayed so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Whether the item master defines `sku` (or nothing was asked).
    pub fn defines_sku(&self, sku: Option<&str>) -> bool {
        sku.is_none_or(|s| self.skus.contains(s))
    }

    /// Whether the item master defines `location` (or nothing was asked).
    pub fn defines_location(&self, location: Option<&str>) -> bool {
        location.is_none_or(|l| self.locations.contains(l))
    }

    /// Orders still open, remembered by the replay.
    pub fn open_orders(&self) -> usize {
        self.orders.len()
    }

    /// Applies the next event of the log.
    pub fn apply(&mut self, e: &RecordedEvent) {
        self.events += 1;
        self.last = Some((e.position, e.at));
        match StreamKind::split(e.stream.as_str()) {
            Some((StreamKind::Order, id)) => {
                if let Some(event) = e.decode::<OrderEvent>(READER) {
                    self.order(id, &event, e);
                }
            }
            Some((StreamKind::Inventory, item)) => {
                if let Some(event) = e.decode::<InventoryEvent>(READER) {
                    self.inventory(item, &event, e);
                }
            }
            Some((StreamKind::PurchaseOrder, po)) => {
                if let Some(event) = e.decode::<PurchaseOrderEvent>(READER) {
                    self.purchase_order(po, &event, e);
                }
            }
            Some((StreamKind::Sku, sku)) => {
                self.skus.insert(sku.to_owned());
            }
            Some((StreamKind::Location, location)) => {
                self.locations.insert(location.to_owned());
            }
            _ => {}
        }
    }

    fn supplier(&self, po: &str) -> Option<String> {
        self.suppliers.get(po).cloned()
    }

    fn purchase_order(&mut self, po: &str, event: &PurchaseOrderEvent, e: &RecordedEvent) {
        use PurchaseOrderEvent as P;
        let supplier = self.supplier(po);
        let evidence = |cause, detail: String| Evidence {
            cause,
            detail,
            supplier: supplier.clone(),
            positions: vec![e.position],
        };
        match event {
            P::PurchaseOrderPlaced { supplier_id, .. } => {
                self.suppliers.insert(po.to_owned(), supplier_id.clone());
            }
            P::PurchaseOrderReceived { line, qty, .. } => {
                let r = self.receipts.entry((po.to_owned(), *line)).or_default();
                *r = (r.0 + qty, e.position);
            }
            P::PurchaseOrderLineRedated {
                line,
                expected_date,
                ..
            } => {
                let detail = format!("{po} line {line} re-dated to {expected_date}");
                self.causes
                    .insert(e.position, evidence(Cause::SupplierRedate, detail));
            }
            P::PurchaseOrderLineCancelled { open, .. } => {
                let detail = format!("{po} line {} cancelled ({} open)", open.line, open.open_qty);
                self.causes
                    .insert(e.position, evidence(Cause::PoCancelled, detail));
            }
            P::PurchaseOrderClosed { short, .. } if !short.is_empty() => {
                let received: Vec<_> = short
                    .iter()
                    .filter_map(|l| self.receipts.get(&(po.to_owned(), l.line)))
                    .collect();
                let open: u64 = short.iter().map(|l| l.open_qty).sum();
                let (cause, detail) = if received.is_empty() {
                    (
                        Cause::PoCancelled,
                        format!("{po} closed with nothing received ({open} open)"),
                    )
                } else {
                    (
                        Cause::SupplierShortReceipt,
                        format!("{po} closed short: {open} units never came"),
                    )
                };
                let mut ev = evidence(cause, detail);
                ev.positions
                    .splice(0..0, received.iter().map(|(_, position)| *position));
                self.causes.insert(e.position, ev);
            }
            _ => {}
        }
    }

    fn inventory(&mut self, item: &str, event: &InventoryEvent, e: &RecordedEvent) {
        use InventoryEvent as I;
        let inherited = parent(e).and_then(|p| self.causes.get(&p)).cloned();
        let track = self.items.entry(item.to_owned()).or_default();
        let free_before = track.on_hand - track.reserved;
        let change = Move::of(event);
        track.on_hand += change.on_hand;
        track.reserved += change.reserved;
        let lowered = |cause, detail| {
            Some((
                e.causation_id.clone(),
                Evidence {
                    cause,
                    detail,
                    supplier: None,
                    positions: vec![e.position],
                },
            ))
        };
        match event {
            I::StockCounted {
                expected,
                counted,
                variance,
                ..
            } if *variance < 0 => {
                let detail = format!("cycle count found {counted} of {expected} at {item}");
                track.lowered = lowered(Cause::CycleCountVariance, detail);
            }
            I::StockAdjusted { delta, reason, .. } if *delta < 0 => {
                let cause = match reason {
                    AdjustmentReason::Damage => Cause::Damage,
                    AdjustmentReason::Shrinkage => Cause::Shrinkage,
                    AdjustmentReason::Found | AdjustmentReason::Correction => {
                        Cause::OtherAdjustment
                    }
                };
                let detail = format!("{delta} adjusted at {item} ({})", cause.name());
                track.lowered = lowered(cause, detail);
            }
            I::ShortageRecorded { short, .. } => {
                // The count or adjustment recorded by the same command.
                let ev = match &track.lowered {
                    Some((by, ev)) if *by == e.causation_id => {
                        let mut ev = ev.clone();
                        ev.positions.push(e.position);
                        ev
                    }
                    _ => Evidence {
                        cause: Cause::SystemFault,
                        detail: format!(
                            "{short} short at {item} with no count, adjustment or pick to explain it"
                        ),
                        supplier: None,
                        positions: vec![e.position],
                    },
                };
                self.causes.insert(e.position, ev);
            }
            I::InboundCancelled { .. }
            | I::InboundReservationLost { .. }
            | I::InboundScheduled { .. } => {
                if let Some(mut ev) = inherited {
                    ev.positions.push(e.position);
                    self.causes.insert(e.position, ev);
                }
            }
            I::StockReserved {
                order_id,
                line,
                qty,
                sku,
                location,
                ..
            } if i64::try_from(*qty).unwrap_or(i64::MAX) > free_before => {
                let finding = Finding {
                    order_id: order_id.clone(),
                    line: *line,
                    sku: sku.clone(),
                    location: location.clone(),
                    qty: *qty,
                    promised_at: e.at,
                    promise_position: e.position,
                    promise_date: e.at.date_naive(),
                    broke_at: e.at,
                    break_position: e.position,
                    how: Break::ReservedBeyondOnHand,
                    evidence: Evidence {
                        cause: Cause::SystemFault,
                        detail: format!(
                            "{qty} reserved at {item} with {} free",
                            free_before.max(0)
                        ),
                        supplier: None,
                        positions: vec![e.position],
                    },
                    outcome: Outcome::Fault,
                    delay_days: None,
                };
                tracing::error!(
                    position = e.position,
                    item,
                    "audit: a reservation beyond on-hand"
                );
                self.findings.push(finding);
            }
            _ => {}
        }
    }

    /// Records a broken promise on a line; returns its index.
    #[allow(clippy::too_many_arguments)]
    fn broke(
        &mut self,
        order_id: &str,
        line: u32,
        source: &SupplySource,
        qty: u64,
        promise: &Promise,
        how: Break,
        evidence: Evidence,
        e: &RecordedEvent,
    ) -> usize {
        let sku = self
            .orders
            .get(order_id)
            .and_then(|o| o.lines.get(&line))
            .map(|l| l.sku.clone())
            .unwrap_or_default();
        if evidence.cause == Cause::SystemFault {
            tracing::error!(
                position = e.position,
                order_id,
                line,
                "audit: a promise broken by the system itself"
            );
        }
        let index = self.findings.len();
        self.findings.push(Finding {
            order_id: order_id.to_owned(),
            line,
            sku,
            location: source.location().to_owned(),
            qty,
            promised_at: promise.at,
            promise_position: promise.position,
            promise_date: promise.date,
            broke_at: e.at,
            break_position: e.position,
            how,
            evidence,
            outcome: Outcome::Waiting { backordered: false },
            delay_days: None,
        });
        if let Some(o) = self.orders.get_mut(order_id) {
            o.findings.push(index);
            if let Some(l) = o.lines.get_mut(&line) {
                l.pending.push(index);
            }
        }
        index
    }

    /// Settles the line's waiting findings: promised again for `date`.
    fn repromised(&mut self, id: &str, line: u32, date: NaiveDate, position: u64) {
        self.settle(
            id,
            line,
            Some(date),
            &Outcome::Repromised { date, position },
        );
    }

    /// Settles the line's waiting findings with `outcome` on `date`.
    fn settle(&mut self, order_id: &str, line: u32, date: Option<NaiveDate>, outcome: &Outcome) {
        let Some(l) = self
            .orders
            .get_mut(order_id)
            .and_then(|o| o.lines.get_mut(&line))
        else {
            return;
        };
        for index in std::mem::take(&mut l.pending) {
            if let Some(f) = self.findings.get_mut(index) {
                f.outcome = outcome.clone();
                f.delay_days = date.map(|d| days(f.promise_date, d).max(0));
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    fn order(&mut self, id: &str, event: &OrderEvent, e: &RecordedEvent) {
        use OrderEvent as O;
        let cause = parent(e).and_then(|p| self.causes.get(&p)).cloned();
        let day = e.at.date_naive();
        match event {
            O::OrderPlaced {
                lines,
                requested_date,
                ..
            } => {
                let track = self.orders.entry(id.to_owned()).or_default();
                track.placed = Some((e.at, e.position));
                track.requested = Some(*requested_date);
                for l in lines {
                    track.lines.insert(
                        l.line,
                        LineTrack {
                            sku: l.sku.clone(),
                            qty: l.qty,
                            ..LineTrack::default()
                        },
                    );
                }
            }
            O::PaymentAuthorized { .. } => {
                if let Some(o) = self.orders.get_mut(id) {
                    o.authorized.get_or_insert(e.at);
                }
            }
            O::LineAllocated {
                line,
                qty,
                source,
                promise_date,
                ..
            } => {
                let Some(l) = self.orders.get_mut(id).and_then(|o| o.lines.get_mut(line)) else {
                    return;
                };
                l.first_promise.get_or_insert(*promise_date);
                let p = l.promises.get_or_insert(
                    source.clone(),
                    Promise {
                        qty: 0,
                        date: *promise_date,
                        at: e.at,
                        position: e.position,
                    },
                );
                p.qty += qty;
                p.date = p.date.max(*promise_date);
                let beyond = l.promised() + l.shipped > l.qty;
                let (sku, ordered, promised) = (l.sku.clone(), l.qty, l.promised() + l.shipped);
                self.repromised(id, *line, *promise_date, e.position);
                if beyond {
                    let promise = Promise {
                        qty: *qty,
                        date: *promise_date,
                        at: e.at,
                        position: e.position,
                    };
                    let evidence = Evidence {
                        cause: Cause::SystemFault,
                        detail: format!("{promised} of {sku} promised on a line of {ordered}"),
                        supplier: None,
                        positions: vec![e.position],
                    };
                    let i = self.broke(
                        id,
                        *line,
                        source,
                        *qty,
                        &promise,
                        Break::AllocatedBeyondOrder,
                        evidence,
                        e,
                    );
                    if let Some(f) = self.findings.get_mut(i) {
                        f.outcome = Outcome::Fault;
                    }
                    self.settle(id, *line, None, &Outcome::Fault);
                }
            }
            O::LineRepinned {
                line,
                qty,
                from,
                to,
                ..
            } => {
                if let Some(l) = self.orders.get_mut(id).and_then(|o| o.lines.get_mut(line)) {
                    if let Some(p) = l.promises.get_mut(from) {
                        p.qty = p.qty.saturating_sub(*qty);
                        let moved = Promise {
                            qty: *qty,
                            ..p.clone()
                        };
                        l.promises
                            .get_or_insert(to.clone(), Promise { qty: 0, ..moved })
                            .qty += qty;
                    }
                    l.promises.retain(|_, p| p.qty > 0);
                }
            }
            O::LineRescheduled {
                line,
                qty,
                source,
                previous_date,
                promise_date,
                ..
            } => {
                let promise = self
                    .orders
                    .get_mut(id)
                    .and_then(|o| o.lines.get_mut(line))
                    .and_then(|l| l.promises.get_mut(source))
                    .map(|p| {
                        let before = p.clone();
                        p.date = *promise_date;
                        before
                    });
                if promise_date > previous_date {
                    let promise = promise.unwrap_or(Promise {
                        qty: *qty,
                        date: *previous_date,
                        at: e.at,
                        position: e.position,
                    });
                    let promise = Promise {
                        date: *previous_date,
                        ..promise
                    };
                    let evidence = cause.unwrap_or_else(|| unexplained(e, "a later date"));
                    self.broke(
                        id,
                        *line,
                        source,
                        *qty,
                        &promise,
                        Break::Rescheduled,
                        evidence,
                        e,
                    );
                    self.repromised(id, *line, *promise_date, e.position);
                }
            }
            O::LineDeallocated {
                line, source, qty, ..
            } => {
                let Some(promise) = self.take_promise(id, *line, source, *qty) else {
                    return;
                };
                // Given back to be promised again earlier (pulled in) is no break.
                if let Some(evidence) = cause {
                    self.broke(
                        id,
                        *line,
                        source,
                        *qty,
                        &promise,
                        Break::Deallocated,
                        evidence,
                        e,
                    );
                }
            }
            O::LineBackordered { line, .. } => {
                if let Some(o) = self.orders.get_mut(id) {
                    o.backorders.push(e.position);
                    o.covered = None;
                    if let Some(l) = o.lines.get(line) {
                        for &i in &l.pending {
                            if let Some(f) = self.findings.get_mut(i) {
                                f.outcome = Outcome::Waiting { backordered: true };
                            }
                        }
                    }
                }
            }
            O::PickShort {
                line,
                location,
                short,
                ..
            } => {
                let source = SupplySource::Stock {
                    location: location.clone(),
                };
                if let Some(promise) = self.take_promise(id, *line, &source, *short) {
                    let evidence = Evidence {
                        cause: Cause::ShortPick,
                        detail: format!("picker found {short} fewer at {location}"),
                        supplier: None,
                        positions: vec![e.position],
                    };
                    self.broke(
                        id,
                        *line,
                        &source,
                        *short,
                        &promise,
                        Break::ShortPicked,
                        evidence,
                        e,
                    );
                }
            }
            O::InboundAllocationReceived {
                line,
                po_id,
                po_line,
                location,
                qty,
                ..
            } => {
                let inbound = SupplySource::Inbound {
                    po_id: po_id.clone(),
                    location: location.clone(),
                    po_line: *po_line,
                };
                let Some(promise) = self.take_promise(id, *line, &inbound, *qty) else {
                    return;
                };
                let stock = SupplySource::Stock {
                    location: location.clone(),
                };
                if let Some(l) = self.orders.get_mut(id).and_then(|o| o.lines.get_mut(line)) {
                    let p = l.promises.get_or_insert(
                        stock.clone(),
                        Promise {
                            qty: 0,
                            ..promise.clone()
                        },
                    );
                    p.qty += qty;
                }
                if day > promise.date {
                    let receipt = self
                        .receipts
                        .get(&(po_id.clone(), po_line.unwrap_or(1)))
                        .map(|(_, position)| *position);
                    let evidence = Evidence {
                        cause: Cause::SupplierLateReceipt,
                        detail: format!(
                            "{po_id} arrived {day}, {} days after the promise",
                            days(promise.date, day)
                        ),
                        supplier: self.supplier(po_id),
                        positions: receipt.into_iter().chain([e.position]).collect(),
                    };
                    self.broke(
                        id,
                        *line,
                        &inbound,
                        *qty,
                        &promise,
                        Break::ReceivedLate,
                        evidence,
                        e,
                    );
                    self.settle(
                        id,
                        *line,
                        Some(day),
                        &Outcome::Received {
                            date: day,
                            position: e.position,
                        },
                    );
                }
            }
            O::OrderReleased { .. } => {
                if let Some(o) = self.orders.get_mut(id) {
                    o.released.get_or_insert(e.at);
                }
            }
            O::LinePicked { .. } => {
                if let Some(o) = self.orders.get_mut(id) {
                    o.picked = Some(e.at);
                }
            }
            O::OrderPacked { .. } => {
                if let Some(o) = self.orders.get_mut(id) {
                    o.packed = Some(e.at);
                }
            }
            O::OrderShipped { lines, .. } => {
                for s in lines {
                    let source = SupplySource::Stock {
                        location: s.location.clone(),
                    };
                    self.take_promise(id, s.line, &source, s.qty);
                    if let Some(l) = self
                        .orders
                        .get_mut(id)
                        .and_then(|o| o.lines.get_mut(&s.line))
                    {
                        l.shipped += s.qty;
                    }
                    self.settle(
                        id,
                        s.line,
                        Some(day),
                        &Outcome::Shipped {
                            date: day,
                            position: e.position,
                        },
                    );
                }
                self.close_if_done(id, e);
            }
            O::OrderCancelled { .. } => {
                let lines: Vec<u32> = self
                    .orders
                    .get(id)
                    .map(|o| o.lines.keys().copied().collect())
                    .unwrap_or_default();
                for line in lines {
                    self.cancel_line(id, line, e);
                }
                self.orders.remove(id);
            }
            O::LineCancelled { line, .. } => {
                self.cancel_line(id, *line, e);
                self.close_if_done(id, e);
            }
            _ => {}
        }
        self.cover(id, e.at);
    }

    fn cancel_line(&mut self, id: &str, line: u32, e: &RecordedEvent) {
        self.settle(
            id,
            line,
            None,
            &Outcome::Cancelled {
                position: e.position,
            },
        );
        if let Some(l) = self.orders.get_mut(id).and_then(|o| o.lines.get_mut(&line)) {
            l.cancelled = true;
            l.promises.clear();
        }
    }

    /// Takes `qty` off the line's promise from `source`; the promise as it was.
    fn take_promise(
        &mut self,
        id: &str,
        line: u32,
        source: &SupplySource,
        qty: u64,
    ) -> Option<Promise> {
        let l = self.orders.get_mut(id)?.lines.get_mut(&line)?;
        let p = l.promises.get_mut(source)?;
        let before = p.clone();
        p.qty = p.qty.saturating_sub(qty);
        if p.qty == 0 {
            l.promises.remove(source);
        }
        Some(before)
    }

    /// Notes when every open unit of the order is promised.
    fn cover(&mut self, id: &str, at: DateTime<Utc>) {
        if let Some(o) = self.orders.get_mut(id) {
            let covered = o.lines.values().all(|l| l.promised() >= l.open());
            if covered {
                o.covered.get_or_insert(at);
            } else {
                o.covered = None;
            }
        }
    }

    /// An order with nothing open is diagnosed, if late, and forgotten.
    fn close_if_done(&mut self, id: &str, e: &RecordedEvent) {
        let done = self
            .orders
            .get(id)
            .is_some_and(|o| o.lines.values().all(|l| l.open() == 0));
        if !done {
            return;
        }
        if let Some(o) = self.orders.remove(id) {
            let shipped = o.lines.values().any(|l| l.shipped > 0);
            if shipped {
                self.diagnose(id, &o, Some(e.at), e.at);
            }
        }
    }

    /// Whether an order shipped (or, open, stands) past its first promise,
    /// and which side owns the delay.
    fn diagnose(
        &mut self,
        id: &str,
        o: &OrderTrack,
        shipped: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        let (Some(due), Some((placed, placed_position))) = (o.due(), o.placed) else {
            return;
        };
        let end = shipped.unwrap_or(now);
        let late = days(due, end.date_naive());
        if late <= 0 {
            return;
        }
        let causes: Vec<&Finding> = o
            .findings
            .iter()
            .filter_map(|&i| self.findings.get(i))
            .collect();
        let waited_for_stock = o.covered.is_none_or(|c| c.date_naive() > due);
        let (owner, detail, hours, mut positions) = if let Some(first) = causes.first() {
            let mut positions: Vec<u64> = causes
                .iter()
                .flat_map(|f| f.evidence.positions.clone())
                .collect();
            positions.push(first.break_position);
            (
                Owner::Inventory,
                first.evidence.cause.name().to_owned(),
                None,
                positions,
            )
        } else if !o.backorders.is_empty() || waited_for_stock {
            let detail = if o.backorders.is_empty() {
                "waiting_for_stock"
            } else {
                "backorder"
            };
            (
                Owner::Inventory,
                detail.to_owned(),
                None,
                o.backorders.clone(),
            )
        } else {
            let (step, hours) = slowest_step(o, placed, end);
            (Owner::Flow, step.name().to_owned(), Some(hours), Vec::new())
        };
        positions.insert(0, placed_position);
        let mut seen = std::collections::HashSet::new();
        positions.retain(|p| seen.insert(*p));
        self.late.push(LateOrder {
            order_id: id.to_owned(),
            placed_at: placed,
            due,
            shipped_at: shipped,
            days_late: late,
            owner,
            detail,
            step_hours: hours,
            positions,
        });
    }

    /// The findings and late orders, with open orders diagnosed as of the
    /// last event replayed (or `now`, when later).
    pub fn finish(mut self, now: Option<DateTime<Utc>>) -> (Vec<Finding>, Vec<LateOrder>) {
        let as_of = match (now, self.last) {
            (Some(n), _) => n,
            (None, Some((_, at))) => at,
            (None, None) => return (self.findings, self.late),
        };
        let mut open: Vec<(String, OrderTrack)> = self.orders.drain().collect();
        open.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, o) in &open {
            self.diagnose(id, o, None, as_of);
        }
        let today = as_of.date_naive();
        for f in &mut self.findings {
            if let Outcome::Waiting { .. } = f.outcome {
                f.delay_days = Some(days(f.promise_date, today).max(0));
            }
        }
        self.late
            .sort_by(|a, b| (a.placed_at, &a.order_id).cmp(&(b.placed_at, &b.order_id)));
        (self.findings, self.late)
    }
}

fn unexplained(e: &RecordedEvent, what: &str) -> Evidence {
    Evidence {
        cause: Cause::SystemFault,
        detail: format!("{what} with no count, adjustment, pick or supplier fact to explain it"),
        supplier: None,
        positions: vec![e.position],
    }
}

/// The slowest step of an order's flow, and its hours.
fn slowest_step(o: &OrderTrack, placed: DateTime<Utc>, end: DateTime<Utc>) -> (Step, f64) {
    let ready = match (o.authorized, o.covered) {
        (Some(a), Some(c)) => Some(a.max(c)),
        _ => None,
    };
    let steps = [
        (Step::Payment, Some(placed), o.authorized),
        (Step::Release, ready, o.released),
        (Step::Pick, o.released, o.picked),
        (Step::Pack, o.picked, o.packed),
        (Step::Ship, o.packed.or(o.picked).or(o.released), Some(end)),
    ];
    let mut slowest = (Step::Payment, 0.0);
    for (step, from, to) in steps {
        // A step not finished runs to the end.
        let (Some(from), to) = (from, to.unwrap_or(end)) else {
            continue;
        };
        let hours = (to - from).num_seconds().max(0) as f64 / 3600.0;
        if hours > slowest.1 {
            slowest = (step, hours);
        }
    }
    slowest
}
