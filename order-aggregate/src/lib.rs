//! The customer order as a pure decider: placement, payment, allocation,
//! release, pick, pack, ship, deliver, cancel and returns.
//!
//! A line's units move through one pipeline: open → allocated (from stock
//! at a location, or from an inbound PO) → released to the warehouse →
//! picked → packed → shipped, with backorders marking open units that wait
//! for supply. A short pick sends the missing units back to open: the
//! order side sees the symptom, inventory owns the cause. Every step the
//! customer can see also emits `CustomerNotified`.

mod rules;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use schemas::order::{OrderEvent, ReturnCondition, SupplySource};
use serde::{Deserialize, Serialize};

pub use rules::Rejection;

/// Everything the order's rules need to know.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Absent until the order is placed.
    pub header: Option<OrderHeader>,
    /// Where payment stands.
    pub payment: Payment,
    /// The lines, by line number.
    pub lines: BTreeMap<u32, Line>,
    /// Whether the whole order was cancelled.
    pub cancelled: bool,
    /// Shipment id → delivered yet.
    pub shipments: BTreeMap<String, bool>,
    /// Returns, by RMA id.
    pub returns: BTreeMap<String, Rma>,
}

/// The order's fixed facts, from `OrderPlaced`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderHeader {
    /// The order id.
    pub order_id: String,
    /// The customer.
    pub customer_id: String,
    /// The sales channel it came from.
    pub channel: String,
    /// Where it ships to.
    pub ship_to: String,
    /// The day the customer asked for it.
    pub requested_date: NaiveDate,
    /// Priority for backorder filling (higher first).
    pub priority: u8,
}

/// Where the customer's money stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Payment {
    #[default]
    /// Nothing authorized yet.
    Pending,
    /// Funds held.
    Authorized {
        /// The amount held, in cents.
        amount_cents: u64,
    },
    /// Funds taken.
    Captured {
        /// The amount taken, in cents.
        amount_cents: u64,
    },
    /// Authorization failed.
    Failed {
        /// Why, as the payment provider said.
        reason: String,
    },
}

/// One order line and where its units are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The SKU ordered.
    pub sku: String,
    /// Units ordered.
    pub qty: u64,
    /// Price per unit, in cents.
    pub unit_price_cents: u64,
    /// When the customer needs it, if the line says (else the order's requested date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need_date: Option<NaiveDate>,
    /// Live allocations (not yet shipped) by source, with the promise date
    /// of the latest allocation from each.
    #[serde(with = "allocation_list")]
    pub allocations: BTreeMap<SupplySource, Allocation>,
    /// Open units waiting for supply.
    pub backordered: u64,
    /// Stock units released to the warehouse, not yet picked.
    pub to_pick: u64,
    /// Units picked, not yet packed.
    pub picked: u64,
    /// Units packed, not yet shipped.
    pub packed: u64,
    /// Shipped units by the location they left from.
    pub shipped: BTreeMap<String, u64>,
    /// Units in return authorisations.
    pub returned: u64,
    /// Whether the line was cancelled.
    pub cancelled: bool,
}

/// JSON maps need string keys: allocations are stored as a list.
mod allocation_list {
    use std::collections::BTreeMap;

    use schemas::order::SupplySource;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Allocation;

    #[derive(Serialize, Deserialize)]
    struct Entry {
        source: SupplySource,
        #[serde(flatten)]
        allocation: Allocation,
    }

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<SupplySource, Allocation>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter().map(|(source, allocation)| Entry {
            source: source.clone(),
            allocation: allocation.clone(),
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<SupplySource, Allocation>, D::Error> {
        let entries = Vec::<Entry>::deserialize(deserializer)?;
        Ok(entries
            .into_iter()
            .map(|e| (e.source, e.allocation))
            .collect())
    }
}

/// Units promised to a line from one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// Units allocated.
    pub qty: u64,
    /// The date promised for them.
    pub promise_date: NaiveDate,
}

/// A return authorisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rma {
    /// (line, units) returned.
    pub lines: Vec<(u32, u64)>,
    /// The condition they came back in, once received.
    pub received: Option<ReturnCondition>,
    /// Whether the return was refunded.
    pub refunded: bool,
}

impl Line {
    /// Units allocated, from stock or inbound, not yet in the warehouse.
    pub fn allocated(&self) -> u64 {
        self.allocations.values().map(|a| a.qty).sum()
    }

    /// Allocated units that are on hand (not inbound).
    pub fn stock_allocated(&self) -> u64 {
        self.allocations
            .iter()
            .filter(|(s, _)| matches!(s, SupplySource::Stock { .. }))
            .map(|(_, a)| a.qty)
            .sum()
    }

    /// Units shipped, over all shipments.
    pub fn shipped_total(&self) -> u64 {
        self.shipped.values().sum()
    }

    /// Units in the warehouse's hands: released, picked or packed.
    pub fn in_warehouse(&self) -> u64 {
        self.to_pick + self.picked + self.packed
    }

    /// Units with no supply yet (0 once cancelled).
    pub fn open(&self) -> u64 {
        if self.cancelled {
            return 0;
        }
        self.qty
            .saturating_sub(self.shipped_total())
            .saturating_sub(self.allocated())
    }

    /// Where the units at positions `skip .. skip + qty` of the line's stock
    /// allocations are, taking sources in order. Units in the warehouse's
    /// hands count first: packed and picked before the rest.
    pub(crate) fn stock_locations(&self, skip: u64, qty: u64) -> Vec<(String, u64)> {
        let (mut skip, mut qty) = (skip, qty);
        let mut found = Vec::new();
        for (source, allocation) in &self.allocations {
            let SupplySource::Stock { location } = source else {
                continue;
            };
            let here = allocation.qty.saturating_sub(skip);
            skip = skip.saturating_sub(allocation.qty);
            let n = here.min(qty);
            if n > 0 {
                found.push((location.clone(), n));
                qty -= n;
            }
        }
        found
    }
}

impl Order {
    /// The order total, in cents.
    pub fn total_cents(&self) -> u64 {
        self.lines
            .values()
            .map(|l| l.qty * l.unit_price_cents)
            .sum()
    }

    /// Whether `ReleaseToWarehouse` would be accepted now: the order is
    /// live and paid, and stock is allocated that the warehouse does not
    /// have yet. The fulfilment process asks this before releasing.
    pub fn can_release(&self) -> bool {
        rules::release(self).is_ok()
    }

    /// When the line is needed: its own need date, else the order's requested date.
    pub fn need_date(&self, line: u32) -> Option<NaiveDate> {
        let requested = self.header.as_ref()?.requested_date;
        let l = self.lines.get(&line)?;
        Some(l.need_date.unwrap_or(requested))
    }

    /// Whether the line waits for better supply: units backordered, or
    /// units promised from a PO later than the line's need date.
    pub fn waits_for_supply(&self, line: u32) -> bool {
        let (Some(l), Some(need)) = (self.lines.get(&line), self.need_date(line)) else {
            return false;
        };
        !l.cancelled
            && (l.backordered > 0
                || l.allocations.iter().any(|(source, a)| {
                    matches!(source, SupplySource::Inbound { .. }) && a.promise_date > need
                }))
    }

    /// Every unit of every live line has shipped.
    pub fn fully_shipped(&self) -> bool {
        self.lines
            .values()
            .filter(|l| !l.cancelled)
            .all(|l| l.shipped_total() >= l.qty)
    }
}

impl decider::Decider for Order {
    type State = Order;
    type Command = schemas::OrderCommand;
    type Event = OrderEvent;
    type Rejection = Rejection;

    fn decide(state: &Self, command: &Self::Command) -> Result<Vec<OrderEvent>, Rejection> {
        rules::decide(state, command)
    }

    fn evolve(state: Self, event: &OrderEvent) -> Self {
        evolve(state, event)
    }
}

impl decider::Aggregate for Order {
    const KINDS: &'static [schemas::StreamKind] = &[schemas::StreamKind::Order];
    const STATE_SCHEMA: &'static str = "order/2";

    fn stream(
        command: &schemas::OrderCommand,
    ) -> Result<schemas::StreamName, schemas::InvalidField> {
        schemas::StreamName::order(command.order_id())
    }
}

fn evolve(mut state: Order, event: &OrderEvent) -> Order {
    match event {
        OrderEvent::OrderPlaced {
            order_id,
            customer_id,
            lines,
            ship_to,
            channel,
            requested_date,
            priority,
        } => {
            state.header = Some(OrderHeader {
                order_id: order_id.clone(),
                customer_id: customer_id.clone(),
                channel: channel.clone(),
                ship_to: ship_to.clone(),
                requested_date: *requested_date,
                priority: *priority,
            });
            state.lines = lines
                .iter()
                .map(|l| {
                    (
                        l.line,
                        Line {
                            sku: l.sku.clone(),
                            qty: l.qty,
                            unit_price_cents: l.unit_price_cents,
                            need_date: l.need_date,
                            ..Line::default()
                        },
                    )
                })
                .collect();
        }
        OrderEvent::PaymentAuthorized { amount_cents, .. } => {
            state.payment = Payment::Authorized {
                amount_cents: *amount_cents,
            }
        }
        OrderEvent::PaymentCaptured { amount_cents, .. } => {
            state.payment = Payment::Captured {
                amount_cents: *amount_cents,
            }
        }
        OrderEvent::PaymentFailed { reason, .. } => {
            state.payment = Payment::Failed {
                reason: reason.clone(),
            }
        }
        OrderEvent::LineAllocated {
            line,
            qty,
            source,
            promise_date,
            ..
        } => {
            if let Some(l) = state.lines.get_mut(line) {
                let a = l.allocations.entry(source.clone()).or_insert(Allocation {
                    qty: 0,
                    promise_date: *promise_date,
                });
                a.qty += qty;
                a.promise_date = a.promise_date.max(*promise_date);
                l.backordered = l.backordered.min(l.open());
            }
        }
        OrderEvent::LineRepinned {
            line,
            qty,
            from,
            to,
            promise_date,
            ..
        } => {
            if let Some(l) = state.lines.get_mut(line) {
                if let Some(a) = l.allocations.get_mut(from) {
                    a.qty -= (*qty).min(a.qty);
                }
                let a = l.allocations.entry(to.clone()).or_insert(Allocation {
                    qty: 0,
                    promise_date: *promise_date,
                });
                a.qty += qty;
                a.promise_date = a.promise_date.max(*promise_date);
                l.allocations.retain(|_, a| a.qty > 0);
            }
        }
        OrderEvent::LineRescheduled {
            line,
            source,
            promise_date,
            ..
        } => {
            if let Some(a) = state
                .lines
                .get_mut(line)
                .and_then(|l| l.allocations.get_mut(source))
            {
                a.promise_date = *promise_date;
            }
        }
        OrderEvent::LineBackordered { line, qty, .. } => {
            if let Some(l) = state.lines.get_mut(line) {
                l.backordered += qty;
            }
        }
        OrderEvent::LineDeallocated {
            line, source, qty, ..
        } => {
            if let Some(l) = state.lines.get_mut(line) {
                if let Some(a) = l.allocations.get_mut(source) {
                    a.qty -= (*qty).min(a.qty);
                }
                l.allocations.retain(|_, a| a.qty > 0);
            }
        }
        OrderEvent::InboundAllocationReceived {
            line,
            po_id,
            po_line,
            location,
            qty,
            ..
        } => {
            if let Some(l) = state.lines.get_mut(line) {
                let inbound = SupplySource::Inbound {
                    po_id: po_id.clone(),
                    location: location.clone(),
                    po_line: *po_line,
                };
                if let Some(a) = l.allocations.get_mut(&inbound) {
                    let moved = (*qty).min(a.qty);
                    a.qty -= moved;
                    let promise_date = a.promise_date;
                    let stock = l
                        .allocations
                        .entry(SupplySource::Stock {
                            location: location.clone(),
                        })
                        .or_insert(Allocation {
                            qty: 0,
                            promise_date,
                        });
                    stock.qty += moved;
                }
                l.allocations.retain(|_, a| a.qty > 0);
            }
        }
        OrderEvent::OrderReleased { lines, .. } => {
            for lq in lines {
                if let Some(l) = state.lines.get_mut(&lq.line) {
                    l.to_pick += lq.qty;
                }
            }
        }
        OrderEvent::LinePicked { line, qty, .. } => {
            if let Some(l) = state.lines.get_mut(line) {
                l.to_pick -= (*qty).min(l.to_pick);
                l.picked += qty;
            }
        }
        OrderEvent::PickShort {
            line,
            location,
            short,
            ..
        } => {
            if let Some(l) = state.lines.get_mut(line) {
                l.to_pick -= (*short).min(l.to_pick);
                let source = SupplySource::Stock {
                    location: location.clone(),
                };
                if let Some(a) = l.allocations.get_mut(&source) {
                    a.qty -= (*short).min(a.qty);
                }
                l.allocations.retain(|_, a| a.qty > 0);
            }
        }
        OrderEvent::OrderPacked { lines, .. } => {
            for lq in lines {
                if let Some(l) = state.lines.get_mut(&lq.line) {
                    l.picked -= lq.qty.min(l.picked);
                    l.packed += lq.qty;
                }
            }
        }
        OrderEvent::OrderShipped {
            shipment_id, lines, ..
        } => {
            state.shipments.insert(shipment_id.clone(), false);
            for sl in lines {
                if let Some(l) = state.lines.get_mut(&sl.line) {
                    l.packed -= sl.qty.min(l.packed);
                    *l.shipped.entry(sl.location.clone()).or_default() += sl.qty;
                    let source = SupplySource::Stock {
                        location: sl.location.clone(),
                    };
                    if let Some(a) = l.allocations.get_mut(&source) {
                        a.qty -= sl.qty.min(a.qty);
                    }
                    l.allocations.retain(|_, a| a.qty > 0);
                }
            }
        }
        OrderEvent::ShipmentDelivered { shipment_id, .. } => {
            state.shipments.insert(shipment_id.clone(), true);
        }
        OrderEvent::OrderCancelled { .. } => {
            state.cancelled = true;
            for l in state.lines.values_mut() {
                cancel_line(l);
            }
        }
        OrderEvent::LineCancelled { line, .. } => {
            if let Some(l) = state.lines.get_mut(line) {
                cancel_line(l);
            }
        }
        OrderEvent::ReturnRequested { rma_id, lines, .. } => {
            for lq in lines {
                if let Some(l) = state.lines.get_mut(&lq.line) {
                    l.returned += lq.qty;
                }
            }
            state.returns.insert(
                rma_id.clone(),
                Rma {
                    lines: lines.iter().map(|lq| (lq.line, lq.qty)).collect(),
                    received: None,
                    refunded: false,
                },
            );
        }
        OrderEvent::ReturnReceived {
            rma_id, condition, ..
        } => {
            if let Some(rma) = state.returns.get_mut(rma_id) {
                rma.received = Some(*condition);
            }
        }
        OrderEvent::ReturnRefunded { rma_id, .. } => {
            if let Some(rma) = state.returns.get_mut(rma_id) {
                rma.refunded = true;
            }
        }
        OrderEvent::CustomerNotified { .. } => {}
    }
    state
}

fn cancel_line(l: &mut Line) {
    l.cancelled = true;
    l.allocations.clear();
    l.backordered = 0;
    l.to_pick = 0;
}
