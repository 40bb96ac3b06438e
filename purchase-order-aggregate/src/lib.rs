//! The purchase order: the inbound supply that ATP counts on. Receipts
//! carry the unit cost (for turnover) and the actual lead time and
//! lateness (for supplier performance and reorder policies).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use decider::Decider;
use schemas::purchasing::{OpenLine, PurchaseOrderCommand, PurchaseOrderEvent};
use schemas::{check_id, check_qty, InvalidField};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
/// Everything the purchase order's rules need to know.
pub struct PurchaseOrder {
    /// Absent until placed.
    pub placed: Option<Placed>,
    /// Whether the supplier confirmed it.
    pub confirmed: bool,
    /// Whether it was closed (nothing more will come).
    pub closed: bool,
    /// The lines, by line number.
    pub lines: BTreeMap<u32, PoLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// What was ordered, from whom and when.
pub struct Placed {
    /// The supplier.
    pub supplier_id: String,
    /// The day it was ordered.
    pub ordered_on: NaiveDate,
    /// How far over the ordered quantity a receipt may go, in percent.
    pub over_receipt_tolerance_pct: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// One PO line.
pub struct PoLine {
    /// The SKU ordered.
    pub sku: String,
    /// Where it is to arrive.
    pub location: String,
    /// Units ordered.
    pub qty: u64,
    /// Cost per unit, in cents.
    pub unit_cost_cents: u64,
    /// When it is due.
    pub expected_date: NaiveDate,
    /// Units received so far.
    pub received: u64,
    /// Whether the line was cancelled.
    pub cancelled: bool,
}

impl PoLine {
    /// Units still expected (0 once cancelled).
    pub fn open(&self) -> u64 {
        if self.cancelled {
            0
        } else {
            self.qty.saturating_sub(self.received)
        }
    }

    fn open_line(&self, line: u32) -> OpenLine {
        OpenLine {
            line,
            sku: self.sku.clone(),
            location: self.location.clone(),
            open_qty: self.open(),
        }
    }
}

/// Why a purchase-order command was refused. Nothing changes when one is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
// Each variant's #[error] message says what it and its fields mean.
#[allow(missing_docs)]
pub enum Rejection {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error("invalid purchase order: {0}")]
    InvalidPurchaseOrder(&'static str),
    #[error("the purchase order is already placed")]
    AlreadyPlaced,
    #[error("no such purchase order has been placed")]
    UnknownPurchaseOrder,
    #[error("the purchase order is closed")]
    Closed,
    #[error("the purchase order is already confirmed")]
    AlreadyConfirmed,
    #[error("the purchase order has no line {line}")]
    UnknownLine { line: u32 },
    #[error("line {line} is cancelled")]
    LineCancelled { line: u32 },
    #[error("line {line} has nothing open")]
    NothingOpen { line: u32 },
    #[error("line {line}: receiving {qty} would make {total} of {ordered} ordered, beyond the {allowed} allowed")]
    OverTolerance {
        line: u32,
        qty: u64,
        total: u64,
        ordered: u64,
        allowed: u64,
    },
    #[error("received on {received_on}, before the order date {ordered_on}")]
    ReceivedBeforeOrdered {
        received_on: NaiveDate,
        ordered_on: NaiveDate,
    },
}

impl decider::Reason for Rejection {
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.code(),
            Self::InvalidPurchaseOrder(_) => "invalid_purchase_order",
            Self::AlreadyPlaced => "already_placed",
            Self::UnknownPurchaseOrder => "unknown_purchase_order",
            Self::Closed => "purchase_order_closed",
            Self::AlreadyConfirmed => "already_confirmed",
            Self::UnknownLine { .. } => "unknown_line",
            Self::LineCancelled { .. } => "line_cancelled",
            Self::NothingOpen { .. } => "nothing_open",
            Self::OverTolerance { .. } => "over_tolerance",
            Self::ReceivedBeforeOrdered { .. } => "received_before_ordered",
        }
    }
}

impl PurchaseOrder {
    /// Placed and not closed.
    fn open_po(&self) -> Result<&Placed, Rejection> {
        let placed = self
            .placed
            .as_ref()
            .ok_or(Rejection::UnknownPurchaseOrder)?;
        if self.closed {
            return Err(Rejection::Closed);
        }
        Ok(placed)
    }

    fn live_line(&self, line: u32) -> Result<&PoLine, Rejection> {
        let l = self
            .lines
            .get(&line)
            .ok_or(Rejection::UnknownLine { line })?;
        if l.cancelled {
            return Err(Rejection::LineCancelled { line });
        }
        Ok(l)
    }
}

impl decider::Aggregate for PurchaseOrder {
    const KINDS: &'static [schemas::StreamKind] = &[schemas::StreamKind::PurchaseOrder];
    const STATE_SCHEMA: &'static str = "purchase-order/1";

    fn stream(
        command: &PurchaseOrderCommand,
    ) -> Result<schemas::StreamName, schemas::InvalidField> {
        schemas::StreamName::purchase_order(command.po_id())
    }
}

impl Decider for PurchaseOrder {
    type State = PurchaseOrder;
    type Command = PurchaseOrderCommand;
    type Event = PurchaseOrderEvent;
    type Rejection = Rejection;

    fn decide(
        state: &Self,
        command: &PurchaseOrderCommand,
    ) -> Result<Vec<PurchaseOrderEvent>, Rejection> {
        use PurchaseOrderCommand as C;
        use PurchaseOrderEvent as E;
        let po_id = command.po_id().to_owned();
        check_id("po_id", &po_id)?;
        match command {
            C::PlacePurchaseOrder {
                supplier_id,
                ordered_on,
                lines,
                over_receipt_tolerance_pct,
                basis,
                ..
            } => {
                if state.placed.is_some() {
                    return Err(Rejection::AlreadyPlaced);
                }
                check_id("supplier_id", supplier_id)?;
                if lines.is_empty() {
                    return Err(Rejection::InvalidPurchaseOrder("it has no lines"));
                }
                if *over_receipt_tolerance_pct > 100 {
                    return Err(Rejection::InvalidPurchaseOrder(
                        "the over-receipt tolerance is above 100 %",
                    ));
                }
                let mut numbers = BTreeSet::new();
                // One SKU may come to one location on several lines with
                // different dates (a delivery schedule): each is supply of its own.
                for l in lines {
                    check_id("sku", &l.sku)?;
                    check_id("location", &l.location)?;
                    check_qty(l.qty)?;
                    if !numbers.insert(l.line) {
                        return Err(Rejection::InvalidPurchaseOrder(
                            "two lines share a line number",
                        ));
                    }
                    if l.expected_date < *ordered_on {
                        return Err(Rejection::InvalidPurchaseOrder(
                            "a line is expected before the order date",
                        ));
                    }
                }
                Ok(vec![E::PurchaseOrderPlaced {
                    po_id,
                    supplier_id: supplier_id.clone(),
                    ordered_on: *ordered_on,
                    lines: lines.clone(),
                    over_receipt_tolerance_pct: *over_receipt_tolerance_pct,
                    basis: basis.clone(),
                }])
            }
            C::ConfirmPurchaseOrder { .. } => {
                state.open_po()?;
                if state.confirmed {
                    return Err(Rejection::AlreadyConfirmed);
                }
                Ok(vec![E::PurchaseOrderConfirmed { po_id }])
            }
            C::RedatePurchaseOrderLine {
                line,
                expected_date,
                ..
            } => {
                let placed = state.open_po()?;
                let l = state.live_line(*line)?;
                if l.open() == 0 {
                    return Err(Rejection::NothingOpen { line: *line });
                }
                if *expected_date < placed.ordered_on {
                    return Err(Rejection::InvalidPurchaseOrder(
                        "a line is expected before the order date",
                    ));
                }
                Ok(vec![E::PurchaseOrderLineRedated {
                    po_id,
                    line: *line,
                    sku: l.sku.clone(),
                    location: l.location.clone(),
                    expected_date: *expected_date,
                    open_qty: l.open(),
                }])
            }
            C::ReceivePurchaseOrderLine {
                line,
                qty,
                received_on,
                ..
            } => {
                let placed = state.open_po()?;
                let l = state.live_line(*line)?;
                let qty = check_qty(*qty)?;
                if *received_on < placed.ordered_on {
                    return Err(Rejection::ReceivedBeforeOrdered {
                        received_on: *received_on,
                        ordered_on: placed.ordered_on,
                    });
                }
                let allowed = l.qty + l.qty * u64::from(placed.over_receipt_tolerance_pct) / 100;
                let total = l.received + qty;
                if total > allowed {
                    return Err(Rejection::OverTolerance {
                        line: *line,
                        qty,
                        total,
                        ordered: l.qty,
                        allowed,
                    });
                }
                Ok(vec![E::PurchaseOrderReceived {
                    po_id,
                    line: *line,
                    sku: l.sku.clone(),
                    location: l.location.clone(),
                    qty,
                    unit_cost_cents: l.unit_cost_cents,
                    received_on: *received_on,
                    lead_time_days: (*received_on - placed.ordered_on).num_days(),
                    days_late: (*received_on - l.expected_date).num_days(),
                    over_received: total.saturating_sub(l.qty.max(l.received)),
                }])
            }
            C::CancelPurchaseOrderLine { line, .. } => {
                state.open_po()?;
                let l = state.live_line(*line)?;
                if l.open() == 0 {
                    return Err(Rejection::NothingOpen { line: *line });
                }
                Ok(vec![E::PurchaseOrderLineCancelled {
                    po_id,
                    open: l.open_line(*line),
                }])
            }
            C::ClosePurchaseOrder { .. } => {
                state.open_po()?;
                let short = state
                    .lines
                    .iter()
                    .filter(|(_, l)| l.open() > 0)
                    .map(|(n, l)| l.open_line(*n))
                    .collect();
                Ok(vec![E::PurchaseOrderClosed { po_id, short }])
            }
        }
    }

    fn evolve(mut state: Self, event: &PurchaseOrderEvent) -> Self {
        use PurchaseOrderEvent as E;
        match event {
            E::PurchaseOrderPlaced {
                supplier_id,
                ordered_on,
                lines,
                over_receipt_tolerance_pct,
                ..
            } => {
                state.placed = Some(Placed {
                    supplier_id: supplier_id.clone(),
                    ordered_on: *ordered_on,
                    over_receipt_tolerance_pct: *over_receipt_tolerance_pct,
                });
                state.lines = lines
                    .iter()
                    .map(|l| {
                        (
                            l.line,
                            PoLine {
                                sku: l.sku.clone(),
                                location: l.location.clone(),
                                qty: l.qty,
                                unit_cost_cents: l.unit_cost_cents,
                                expected_date: l.expected_date,
                                received: 0,
                                cancelled: false,
                            },
                        )
                    })
                    .collect();
            }
            E::PurchaseOrderConfirmed { .. } => state.confirmed = true,
            E::PurchaseOrderLineRedated {
                line,
                expected_date,
                ..
            } => {
                if let Some(l) = state.lines.get_mut(line) {
                    l.expected_date = *expected_date;
                }
            }
            E::PurchaseOrderReceived { line, qty, .. } => {
                if let Some(l) = state.lines.get_mut(line) {
                    l.received += qty;
                }
            }
            E::PurchaseOrderLineCancelled { open, .. } => {
                if let Some(l) = state.lines.get_mut(&open.line) {
                    l.cancelled = true;
                }
            }
            E::PurchaseOrderClosed { .. } => state.closed = true,
        }
        state
    }
}
