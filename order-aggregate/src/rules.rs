//! The order's rules: which command is allowed when, and what it records.

use std::collections::BTreeSet;

use schemas::order::{
    LineQty, Notice, OrderCommand, OrderEvent, ReleasedAllocation, ShippedLine, SupplySource,
};
use schemas::{check_id, check_qty, InvalidField};

use crate::{Line, Order, Payment};

/// Why an order command was refused. Nothing changes when one is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
// Each variant's #[error] message says what it and its fields mean.
#[allow(missing_docs)]
pub enum Rejection {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// The order as placed does not make sense.
    #[error("invalid order: {0}")]
    InvalidOrder(&'static str),
    #[error("the order is already placed")]
    AlreadyPlaced,
    #[error("no such order has been placed")]
    UnknownOrder,
    #[error("the order is cancelled")]
    OrderCancelled,
    #[error("the order has no line {line}")]
    UnknownLine { line: u32 },
    #[error("line {line} is cancelled")]
    LineCancelled { line: u32 },
    #[error("line {line}: {requested} requested but only {open} open")]
    OverAllocation {
        line: u32,
        requested: u64,
        open: u64,
    },
    #[error(
        "line {line}: {qty} to deallocate but only {allocated} allocated and not in the warehouse"
    )]
    OverDeallocation { line: u32, qty: u64, allocated: u64 },
    #[error(
        "line {line}: {qty} arrived but only {allocated} were allocated from that purchase order"
    )]
    ExceedsInboundAllocation { line: u32, qty: u64, allocated: u64 },
    #[error("line {line} has no allocation from purchase order {po_id} at {location}")]
    UnknownAllocation {
        line: u32,
        po_id: String,
        location: String,
    },
    #[error("line {line} has no allocation from {supply}")]
    NoSuchAllocation { line: u32, supply: String },
    #[error("line {line}: only stock on hand is re-pinned, to supply due elsewhere")]
    InvalidRepin { line: u32 },
    #[error("line {line} is already promised for {promise_date} from that source")]
    UnchangedPromise {
        line: u32,
        promise_date: chrono::NaiveDate,
    },
    #[error("payment is not authorized")]
    PaymentNotAuthorized,
    #[error("payment failed: {reason}; the order is not released")]
    PaymentFailed { reason: String },
    #[error("payment is {state}: cannot {action}")]
    PaymentState {
        state: &'static str,
        action: &'static str,
    },
    #[error("amount {amount_cents} does not cover {required_cents}")]
    InvalidAmount {
        amount_cents: u64,
        required_cents: u64,
    },
    #[error("no allocated stock waits to be released")]
    NothingToRelease,
    #[error("line {line}: {qty} picked but only {expected} were released")]
    OverPick { line: u32, qty: u64, expected: u64 },
    #[error("line {line} has nothing released to pick")]
    NothingToPick { line: u32 },
    #[error("nothing is picked and waiting to be packed")]
    NothingToPack,
    #[error("line {line}: {qty} to ship but only {packed} packed")]
    OverShipment { line: u32, qty: u64, packed: u64 },
    #[error("shipment {0} already exists")]
    DuplicateShipment(String),
    #[error("no shipment {0}")]
    UnknownShipment(String),
    #[error("shipment {0} is already delivered")]
    AlreadyDelivered(String),
    #[error("part of the order has shipped; cancel the open lines instead")]
    AlreadyShipped,
    #[error("line {line} is being picked or packed, or has shipped")]
    InFulfilment { line: u32 },
    #[error("line {line}: {qty} to return but only {returnable} shipped and not returned")]
    OverReturn {
        line: u32,
        qty: u64,
        returnable: u64,
    },
    #[error("return {0} already exists")]
    DuplicateReturn(String),
    #[error("no return {0}")]
    UnknownReturn(String),
    #[error("return {rma_id} is {state}: cannot {action}")]
    ReturnState {
        rma_id: String,
        state: &'static str,
        action: &'static str,
    },
}

impl decider::Reason for Rejection {
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.code(),
            Self::InvalidOrder(_) => "invalid_order",
            Self::AlreadyPlaced => "already_placed",
            Self::UnknownOrder => "unknown_order",
            Self::OrderCancelled => "order_cancelled",
            Self::UnknownLine { .. } => "unknown_line",
            Self::LineCancelled { .. } => "line_cancelled",
            Self::OverAllocation { .. } => "over_allocation",
            Self::OverDeallocation { .. } => "over_deallocation",
            Self::ExceedsInboundAllocation { .. } => "exceeds_inbound_allocation",
            Self::UnknownAllocation { .. } => "unknown_allocation",
            Self::NoSuchAllocation { .. } => "no_such_allocation",
            Self::InvalidRepin { .. } => "invalid_repin",
            Self::UnchangedPromise { .. } => "unchanged_promise",
            Self::PaymentNotAuthorized => "payment_not_authorized",
            Self::PaymentFailed { .. } => "payment_failed",
            Self::PaymentState { .. } => "payment_state",
            Self::InvalidAmount { .. } => "invalid_amount",
            Self::NothingToRelease => "nothing_to_release",
            Self::OverPick { .. } => "over_pick",
            Self::NothingToPick { .. } => "nothing_to_pick",
            Self::NothingToPack => "nothing_to_pack",
            Self::OverShipment { .. } => "over_shipment",
            Self::DuplicateShipment(_) => "duplicate_shipment",
            Self::UnknownShipment(_) => "unknown_shipment",
            Self::AlreadyDelivered(_) => "already_delivered",
            Self::AlreadyShipped => "already_shipped",
            Self::InFulfilment { .. } => "in_fulfilment",
            Self::OverReturn { .. } => "over_return",
            Self::DuplicateReturn(_) => "duplicate_return",
            Self::UnknownReturn(_) => "unknown_return",
            Self::ReturnState { .. } => "return_state",
        }
    }
}

/// The order must be placed and not cancelled.
fn live(state: &Order) -> Result<&crate::OrderHeader, Rejection> {
    let header = state.header.as_ref().ok_or(Rejection::UnknownOrder)?;
    if state.cancelled {
        return Err(Rejection::OrderCancelled);
    }
    Ok(header)
}

/// The line must exist and not be cancelled.
fn live_line(state: &Order, line: u32) -> Result<&Line, Rejection> {
    let l = state
        .lines
        .get(&line)
        .ok_or(Rejection::UnknownLine { line })?;
    if l.cancelled {
        return Err(Rejection::LineCancelled { line });
    }
    Ok(l)
}

fn notify(state: &Order, notice: Notice, message: String) -> OrderEvent {
    let (order_id, customer_id) = state
        .header
        .as_ref()
        .map(|h| (h.order_id.clone(), h.customer_id.clone()))
        .unwrap_or_default();
    OrderEvent::CustomerNotified {
        order_id,
        customer_id,
        notice,
        message,
    }
}

fn released(line: u32, l: &Line) -> Vec<ReleasedAllocation> {
    l.allocations
        .iter()
        .map(|(source, a)| ReleasedAllocation {
            line,
            sku: l.sku.clone(),
            source: source.clone(),
            qty: a.qty,
        })
        .collect()
}

/// The release rule: a live, paid order hands the warehouse every unit
/// allocated from stock that it does not have yet.
pub(crate) fn release(state: &Order) -> Result<Vec<LineQty>, Rejection> {
    live(state)?;
    match &state.payment {
        Payment::Authorized { .. } | Payment::Captured { .. } => {}
        Payment::Pending => return Err(Rejection::PaymentNotAuthorized),
        Payment::Failed { reason } => {
            return Err(Rejection::PaymentFailed {
                reason: reason.clone(),
            })
        }
    }
    let lines: Vec<LineQty> = state
        .lines
        .iter()
        .filter(|(_, l)| !l.cancelled)
        .filter_map(|(n, l)| {
            let qty = l.stock_allocated().saturating_sub(l.in_warehouse());
            (qty > 0).then_some(LineQty { line: *n, qty })
        })
        .collect();
    if lines.is_empty() {
        return Err(Rejection::NothingToRelease);
    }
    Ok(lines)
}

pub(crate) fn decide(state: &Order, command: &OrderCommand) -> Result<Vec<OrderEvent>, Rejection> {
    let order_id = command.order_id().to_owned();
    check_id("order_id", &order_id)?;
    match command {
        OrderCommand::PlaceOrder {
            customer_id,
            lines,
            ship_to,
            channel,
            requested_date,
            priority,
            ..
        } => {
            if state.header.is_some() {
                return Err(Rejection::AlreadyPlaced);
            }
            check_id("customer_id", customer_id)?;
            check_id("channel", channel)?;
            if ship_to.trim().is_empty() {
                return Err(Rejection::InvalidOrder("ship_to is empty"));
            }
            if lines.is_empty() {
                return Err(Rejection::InvalidOrder("it has no lines"));
            }
            let mut numbers = BTreeSet::new();
            for l in lines {
                check_id("sku", &l.sku)?;
                check_qty(l.qty)?;
                if !numbers.insert(l.line) {
                    return Err(Rejection::InvalidOrder("two lines share a line number"));
                }
                if l.unit_price_cents.checked_mul(l.qty).is_none() {
                    return Err(Rejection::InvalidOrder("a line's value overflows"));
                }
            }
            let placed = OrderEvent::OrderPlaced {
                order_id: order_id.clone(),
                customer_id: customer_id.clone(),
                lines: lines.clone(),
                ship_to: ship_to.clone(),
                channel: channel.clone(),
                requested_date: *requested_date,
                priority: *priority,
            };
            let after = crate::evolve(state.clone(), &placed);
            let units: u64 = lines.iter().map(|l| l.qty).sum();
            let message = format!("Order {order_id} confirmed: {units} items.");
            let notice = notify(&after, Notice::OrderConfirmed, message);
            Ok(vec![placed, notice])
        }
        OrderCommand::AuthorizePayment {
            amount_cents,
            reference,
            ..
        } => {
            live(state)?;
            match &state.payment {
                Payment::Pending | Payment::Failed { .. } => {}
                Payment::Authorized { .. } => {
                    return Err(Rejection::PaymentState {
                        state: "authorized",
                        action: "authorize again",
                    })
                }
                Payment::Captured { .. } => {
                    return Err(Rejection::PaymentState {
                        state: "captured",
                        action: "authorize",
                    })
                }
            }
            let required_cents = state.total_cents();
            if *amount_cents < required_cents {
                return Err(Rejection::InvalidAmount {
                    amount_cents: *amount_cents,
                    required_cents,
                });
            }
            Ok(vec![OrderEvent::PaymentAuthorized {
                order_id,
                amount_cents: *amount_cents,
                reference: reference.clone(),
            }])
        }
        OrderCommand::CapturePayment { .. } => {
            live(state)?;
            match &state.payment {
                Payment::Authorized { amount_cents } => Ok(vec![OrderEvent::PaymentCaptured {
                    order_id,
                    amount_cents: *amount_cents,
                }]),
                Payment::Captured { .. } => Err(Rejection::PaymentState {
                    state: "captured",
                    action: "capture again",
                }),
                Payment::Pending | Payment::Failed { .. } => Err(Rejection::PaymentNotAuthorized),
            }
        }
        OrderCommand::FailPayment { reason, .. } => {
            live(state)?;
            match &state.payment {
                Payment::Pending | Payment::Authorized { .. } => Ok(vec![
                    OrderEvent::PaymentFailed {
                        order_id: order_id.clone(),
                        reason: reason.clone(),
                    },
                    notify(
                        state,
                        Notice::PaymentFailed,
                        format!("Payment for order {order_id} failed: {reason}."),
                    ),
                ]),
                Payment::Captured { .. } => Err(Rejection::PaymentState {
                    state: "captured",
                    action: "fail",
                }),
                Payment::Failed { .. } => Err(Rejection::PaymentState {
                    state: "failed",
                    action: "fail again",
                }),
            }
        }
        OrderCommand::AllocateLine {
            line,
            qty,
            source,
            promise_date,
            ..
        } => {
            live(state)?;
            let l = live_line(state, *line)?;
            check_qty(*qty)?;
            check_id("location", source.location())?;
            if let SupplySource::Inbound { po_id, .. } = source {
                check_id("po_id", po_id)?;
            }
            if *qty > l.open() {
                return Err(Rejection::OverAllocation {
                    line: *line,
                    requested: *qty,
                    open: l.open(),
                });
            }
            let backorder_filled = Some(l.backordered - l.backordered.min(l.open() - qty));
            Ok(vec![
                OrderEvent::LineAllocated {
                    order_id: order_id.clone(),
                    line: *line,
                    sku: l.sku.clone(),
                    qty: *qty,
                    source: source.clone(),
                    promise_date: *promise_date,
                    backorder_filled,
                },
                notify(
                    state,
                    Notice::LinePromised,
                    format!("{qty} × {} promised for {promise_date}.", l.sku),
                ),
            ])
        }
        OrderCommand::RepinLine {
            line,
            qty,
            from,
            to,
            ..
        } => {
            live(state)?;
            let l = live_line(state, *line)?;
            check_qty(*qty)?;
            check_id("location", to.location())?;
            if let SupplySource::Inbound { po_id, .. } = to {
                check_id("po_id", po_id)?;
            }
            if !matches!(from, SupplySource::Stock { .. }) || from == to {
                return Err(Rejection::InvalidRepin { line: *line });
            }
            let allocation =
                l.allocations
                    .get(from)
                    .ok_or_else(|| Rejection::NoSuchAllocation {
                        line: *line,
                        supply: from.to_string(),
                    })?;
            // Units the warehouse already has are not moved.
            let movable = allocation.qty.saturating_sub(l.in_warehouse());
            if *qty > movable {
                return Err(Rejection::OverDeallocation {
                    line: *line,
                    qty: *qty,
                    allocated: movable,
                });
            }
            Ok(vec![OrderEvent::LineRepinned {
                order_id,
                line: *line,
                sku: l.sku.clone(),
                qty: *qty,
                from: from.clone(),
                to: to.clone(),
                promise_date: allocation.promise_date,
            }])
        }
        OrderCommand::RescheduleLine {
            line,
            source,
            promise_date,
            reason,
            ..
        } => {
            live(state)?;
            let l = live_line(state, *line)?;
            let allocation =
                l.allocations
                    .get(source)
                    .ok_or_else(|| Rejection::NoSuchAllocation {
                        line: *line,
                        supply: source.to_string(),
                    })?;
            if allocation.promise_date == *promise_date {
                return Err(Rejection::UnchangedPromise {
                    line: *line,
                    promise_date: *promise_date,
                });
            }
            let previous = allocation.promise_date;
            let message = format!(
                "{} × {} is now promised for {promise_date} (was {previous}): {reason}.",
                allocation.qty, l.sku
            );
            Ok(vec![
                OrderEvent::LineRescheduled {
                    order_id,
                    line: *line,
                    sku: l.sku.clone(),
                    qty: allocation.qty,
                    source: source.clone(),
                    previous_date: previous,
                    promise_date: *promise_date,
                    reason: reason.clone(),
                },
                notify(state, Notice::LinePromised, message),
            ])
        }
        OrderCommand::BackorderLine { line, qty, .. } => {
            live(state)?;
            let l = live_line(state, *line)?;
            check_qty(*qty)?;
            let waiting = l.open().saturating_sub(l.backordered);
            if *qty > waiting {
                return Err(Rejection::OverAllocation {
                    line: *line,
                    requested: *qty,
                    open: waiting,
                });
            }
            Ok(vec![
                OrderEvent::LineBackordered {
                    order_id,
                    line: *line,
                    sku: l.sku.clone(),
                    qty: *qty,
                    need_date: state.need_date(*line),
                },
                notify(
                    state,
                    Notice::LineBackordered,
                    format!("{qty} × {} is backordered; we will confirm a date.", l.sku),
                ),
            ])
        }
        OrderCommand::DeallocateLine {
            line,
            source,
            qty,
            reason,
            ..
        } => {
            live(state)?;
            let l = live_line(state, *line)?;
            check_qty(*qty)?;
            let held = l.allocations.get(source).map_or(0, |a| a.qty);
            // Stock units in the warehouse's hands are settled by picking, not here.
            let movable = match source {
                SupplySource::Stock { .. } => held.saturating_sub(l.in_warehouse()),
                SupplySource::Inbound { .. } => held,
            };
            if *qty > movable {
                return Err(Rejection::OverDeallocation {
                    line: *line,
                    qty: *qty,
                    allocated: movable,
                });
            }
            Ok(vec![OrderEvent::LineDeallocated {
                order_id,
                line: *line,
                sku: l.sku.clone(),
                source: source.clone(),
                qty: *qty,
                reason: reason.clone(),
            }])
        }
        OrderCommand::ReceiveInboundAllocation {
            line,
            po_id,
            po_line,
            location,
            qty,
            ..
        } => {
            live(state)?;
            let l = live_line(state, *line)?;
            check_qty(*qty)?;
            let source = SupplySource::Inbound {
                po_id: po_id.clone(),
                location: location.clone(),
                po_line: *po_line,
            };
            let a = l
                .allocations
                .get(&source)
                .ok_or_else(|| Rejection::UnknownAllocation {
                    line: *line,
                    po_id: po_id.clone(),
                    location: location.clone(),
                })?;
            if *qty > a.qty {
                return Err(Rejection::ExceedsInboundAllocation {
                    line: *line,
                    qty: *qty,
                    allocated: a.qty,
                });
            }
            Ok(vec![OrderEvent::InboundAllocationReceived {
                order_id,
                line: *line,
                po_id: po_id.clone(),
                po_line: *po_line,
                location: location.clone(),
                qty: *qty,
            }])
        }
        OrderCommand::ReleaseToWarehouse { .. } => Ok(vec![OrderEvent::OrderReleased {
            order_id,
            lines: release(state)?,
        }]),
        OrderCommand::RecordPick { line, qty, .. } => {
            live(state)?;
            let l = live_line(state, *line)?;
            if l.to_pick == 0 {
                return Err(Rejection::NothingToPick { line: *line });
            }
            if *qty > l.to_pick {
                return Err(Rejection::OverPick {
                    line: *line,
                    qty: *qty,
                    expected: l.to_pick,
                });
            }
            let mut events = Vec::new();
            if *qty > 0 {
                events.push(OrderEvent::LinePicked {
                    order_id: order_id.clone(),
                    line: *line,
                    qty: *qty,
                });
            }
            let short = l.to_pick - qty;
            if short > 0 {
                let skip = l.picked + l.packed + qty;
                for (location, short) in l.stock_locations(skip, short) {
                    events.push(OrderEvent::PickShort {
                        order_id: order_id.clone(),
                        line: *line,
                        sku: l.sku.clone(),
                        location,
                        short,
                    });
                }
            }
            Ok(events)
        }
        OrderCommand::PackOrder { .. } => {
            live(state)?;
            let lines: Vec<LineQty> = state
                .lines
                .iter()
                .filter(|(_, l)| l.picked > 0)
                .map(|(n, l)| LineQty {
                    line: *n,
                    qty: l.picked,
                })
                .collect();
            if lines.is_empty() {
                return Err(Rejection::NothingToPack);
            }
            Ok(vec![OrderEvent::OrderPacked { order_id, lines }])
        }
        OrderCommand::ShipOrder {
            shipment_id,
            carrier,
            tracking,
            lines,
            ..
        } => {
            live(state)?;
            check_id("shipment_id", shipment_id)?;
            if state.shipments.contains_key(shipment_id) {
                return Err(Rejection::DuplicateShipment(shipment_id.clone()));
            }
            if lines.is_empty() {
                return Err(Rejection::InvalidOrder("a shipment needs lines"));
            }
            let mut shipped = Vec::new();
            let mut seen = BTreeSet::new();
            for lq in lines {
                check_qty(lq.qty)?;
                if !seen.insert(lq.line) {
                    return Err(Rejection::InvalidOrder(
                        "a line appears twice in a shipment",
                    ));
                }
                let l = state
                    .lines
                    .get(&lq.line)
                    .ok_or(Rejection::UnknownLine { line: lq.line })?;
                if lq.qty > l.packed {
                    return Err(Rejection::OverShipment {
                        line: lq.line,
                        qty: lq.qty,
                        packed: l.packed,
                    });
                }
                for (location, qty) in l.stock_locations(0, lq.qty) {
                    shipped.push(ShippedLine {
                        line: lq.line,
                        sku: l.sku.clone(),
                        location,
                        qty,
                    });
                }
            }
            let units: u64 = lines.iter().map(|lq| lq.qty).sum();
            Ok(vec![
                OrderEvent::OrderShipped {
                    order_id: order_id.clone(),
                    shipment_id: shipment_id.clone(),
                    carrier: carrier.clone(),
                    tracking: tracking.clone(),
                    lines: shipped,
                },
                notify(
                    state,
                    Notice::Shipped,
                    format!("{units} items shipped with {carrier}, tracking {tracking}."),
                ),
            ])
        }
        OrderCommand::ConfirmDelivery { shipment_id, .. } => {
            state.header.as_ref().ok_or(Rejection::UnknownOrder)?;
            match state.shipments.get(shipment_id) {
                None => Err(Rejection::UnknownShipment(shipment_id.clone())),
                Some(true) => Err(Rejection::AlreadyDelivered(shipment_id.clone())),
                Some(false) => Ok(vec![
                    OrderEvent::ShipmentDelivered {
                        order_id,
                        shipment_id: shipment_id.clone(),
                    },
                    notify(
                        state,
                        Notice::Delivered,
                        format!("Shipment {shipment_id} was delivered."),
                    ),
                ]),
            }
        }
        OrderCommand::CancelOrder { reason, .. } => {
            live(state)?;
            if !state.shipments.is_empty() {
                return Err(Rejection::AlreadyShipped);
            }
            if let Some((n, _)) = state.lines.iter().find(|(_, l)| l.picked + l.packed > 0) {
                return Err(Rejection::InFulfilment { line: *n });
            }
            let released = state
                .lines
                .iter()
                .flat_map(|(n, l)| released(*n, l))
                .collect();
            Ok(vec![
                OrderEvent::OrderCancelled {
                    order_id: order_id.clone(),
                    reason: reason.clone(),
                    released,
                },
                notify(
                    state,
                    Notice::OrderCancelled,
                    format!("Order {order_id} is cancelled: {reason}."),
                ),
            ])
        }
        OrderCommand::CancelLine { line, reason, .. } => {
            live(state)?;
            let l = live_line(state, *line)?;
            if l.picked + l.packed + l.shipped_total() > 0 {
                return Err(Rejection::InFulfilment { line: *line });
            }
            Ok(vec![
                OrderEvent::LineCancelled {
                    order_id,
                    line: *line,
                    reason: reason.clone(),
                    released: released(*line, l),
                },
                notify(
                    state,
                    Notice::LineCancelled,
                    format!("{} × {} is cancelled: {reason}.", l.qty, l.sku),
                ),
            ])
        }
        OrderCommand::RequestReturn { rma_id, lines, .. } => {
            state.header.as_ref().ok_or(Rejection::UnknownOrder)?;
            check_id("rma_id", rma_id)?;
            if state.returns.contains_key(rma_id) {
                return Err(Rejection::DuplicateReturn(rma_id.clone()));
            }
            if lines.is_empty() {
                return Err(Rejection::InvalidOrder("a return needs lines"));
            }
            let mut asked = std::collections::BTreeMap::new();
            for lq in lines {
                check_qty(lq.qty)?;
                let l = state
                    .lines
                    .get(&lq.line)
                    .ok_or(Rejection::UnknownLine { line: lq.line })?;
                let total = asked.entry(lq.line).or_insert(0u64);
                *total += lq.qty;
                let returnable = l.shipped_total().saturating_sub(l.returned);
                if *total > returnable {
                    return Err(Rejection::OverReturn {
                        line: lq.line,
                        qty: *total,
                        returnable,
                    });
                }
            }
            Ok(vec![
                OrderEvent::ReturnRequested {
                    order_id: order_id.clone(),
                    rma_id: rma_id.clone(),
                    lines: lines.clone(),
                },
                notify(
                    state,
                    Notice::ReturnAuthorized,
                    format!("Return {rma_id} is authorized."),
                ),
            ])
        }
        OrderCommand::ReceiveReturn {
            rma_id, condition, ..
        } => {
            let rma = state
                .returns
                .get(rma_id)
                .ok_or_else(|| Rejection::UnknownReturn(rma_id.clone()))?;
            if rma.received.is_some() {
                return Err(Rejection::ReturnState {
                    rma_id: rma_id.clone(),
                    state: "received",
                    action: "receive again",
                });
            }
            let lines = rma
                .lines
                .iter()
                .filter_map(|(n, qty)| {
                    let l = state.lines.get(n)?;
                    // Back to where most of the line shipped from.
                    let location = l
                        .shipped
                        .iter()
                        .max_by_key(|(_, q)| **q)
                        .map(|(loc, _)| loc.clone())?;
                    Some(ShippedLine {
                        line: *n,
                        sku: l.sku.clone(),
                        location,
                        qty: *qty,
                    })
                })
                .collect();
            Ok(vec![
                OrderEvent::ReturnReceived {
                    order_id,
                    rma_id: rma_id.clone(),
                    condition: *condition,
                    lines,
                },
                notify(
                    state,
                    Notice::ReturnReceived,
                    format!("We received return {rma_id}."),
                ),
            ])
        }
        OrderCommand::RefundReturn {
            rma_id,
            amount_cents,
            ..
        } => {
            let rma = state
                .returns
                .get(rma_id)
                .ok_or_else(|| Rejection::UnknownReturn(rma_id.clone()))?;
            if rma.received.is_none() {
                return Err(Rejection::ReturnState {
                    rma_id: rma_id.clone(),
                    state: "not received",
                    action: "refund",
                });
            }
            if rma.refunded {
                return Err(Rejection::ReturnState {
                    rma_id: rma_id.clone(),
                    state: "refunded",
                    action: "refund again",
                });
            }
            let value: u64 = rma
                .lines
                .iter()
                .filter_map(|(n, qty)| state.lines.get(n).map(|l| l.unit_price_cents * qty))
                .sum();
            if *amount_cents == 0 || *amount_cents > value {
                return Err(Rejection::InvalidAmount {
                    amount_cents: *amount_cents,
                    required_cents: value,
                });
            }
            Ok(vec![
                OrderEvent::ReturnRefunded {
                    order_id,
                    rma_id: rma_id.clone(),
                    amount_cents: *amount_cents,
                },
                notify(
                    state,
                    Notice::Refunded,
                    format!("Return {rma_id} refunded: {amount_cents} cents."),
                ),
            ])
        }
    }
}
