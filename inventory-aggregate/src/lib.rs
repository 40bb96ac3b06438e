//! An inventory item: one SKU at one location.
//!
//! It keeps the honest stock position: what is on hand, what is reserved for
//! order lines, and so what is free to promise. Its one invariant: a
//! reservation never exceeds free stock. When on-hand falls below what is
//! reserved (damage, shrinkage, a count), the shortage is recorded as an
//! event of its own, never hidden.

use std::collections::BTreeMap;

use decider::Decider;
use schemas::inventory::{InventoryCommand, InventoryEvent};
use schemas::MAX_QTY;
use serde::{Deserialize, Serialize};

/// The stock position of one SKU at one location.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    /// Units physically held.
    pub on_hand: u64,
    /// Live reservations by order line.
    pub reservations: BTreeMap<String, u64>,
}

impl InventoryItem {
    /// Units set aside for order lines.
    pub fn reserved(&self) -> u64 {
        self.reservations.values().sum()
    }

    /// Units that can still be promised.
    pub fn free(&self) -> u64 {
        self.on_hand.saturating_sub(self.reserved())
    }
}

fn line_key(order_id: &str, line: u32) -> String {
    format!("{order_id}#{line}")
}

/// Why an inventory command was refused. Nothing changes when one is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// More was asked than is free.
    #[error("{requested} requested but only {free} free")]
    InsufficientStock { requested: u64, free: u64 },
    /// Zero, or more than any real order or receipt.
    #[error("quantity {qty} is not between 1 and {max}", max = MAX_QTY)]
    InvalidQuantity { qty: i128 },
    /// A removal larger than what is on hand.
    #[error("cannot remove {remove} with only {on_hand} on hand")]
    AdjustmentBelowZero { remove: u64, on_hand: u64 },
    /// The order line already holds a reservation here.
    #[error("order {order_id} line {line} already has a reservation")]
    AlreadyReserved { order_id: String, line: u32 },
    /// The order line holds no reservation here.
    #[error("order {order_id} line {line} has no reservation")]
    UnknownReservation { order_id: String, line: u32 },
    /// A SKU, location or order id that cannot be used.
    #[error("invalid {field}: {problem}")]
    InvalidId {
        field: &'static str,
        problem: &'static str,
    },
}

impl Rejection {
    /// A stable, machine-readable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InsufficientStock { .. } => "insufficient_stock",
            Self::InvalidQuantity { .. } => "invalid_quantity",
            Self::AdjustmentBelowZero { .. } => "adjustment_below_zero",
            Self::AlreadyReserved { .. } => "already_reserved",
            Self::UnknownReservation { .. } => "unknown_reservation",
            Self::InvalidId { .. } => "invalid_id",
        }
    }
}

fn check_qty(qty: u64) -> Result<u64, Rejection> {
    if qty == 0 || qty > MAX_QTY {
        return Err(Rejection::InvalidQuantity { qty: qty.into() });
    }
    Ok(qty)
}

/// Refuses an id the stream and reservation keys cannot carry (see [`schemas::id_problem`]).
pub fn check_id(field: &'static str, id: &str) -> Result<(), Rejection> {
    schemas::id_problem(id).map_or(Ok(()), |problem| {
        Err(Rejection::InvalidId { field, problem })
    })
}

impl Decider for InventoryItem {
    type State = InventoryItem;
    type Command = InventoryCommand;
    type Event = InventoryEvent;
    type Rejection = Rejection;

    fn decide(state: &Self, command: &InventoryCommand) -> Result<Vec<InventoryEvent>, Rejection> {
        let (sku, location) = command.item();
        check_id("sku", sku)?;
        check_id("location", location)?;
        let (sku, location) = (sku.to_owned(), location.to_owned());
        match command {
            InventoryCommand::ReceiveStock { qty, reference, .. } => {
                Ok(vec![InventoryEvent::StockReceived {
                    sku,
                    location,
                    qty: check_qty(*qty)?,
                    reference: reference.clone(),
                }])
            }
            InventoryCommand::AdjustStock { delta, reason, .. } => {
                let size =
                    check_qty(delta.unsigned_abs()).map_err(|_| Rejection::InvalidQuantity {
                        qty: (*delta).into(),
                    })?;
                let on_hand = if *delta < 0 {
                    state
                        .on_hand
                        .checked_sub(size)
                        .ok_or(Rejection::AdjustmentBelowZero {
                            remove: size,
                            on_hand: state.on_hand,
                        })?
                } else {
                    state.on_hand + size
                };
                let mut events = vec![InventoryEvent::StockAdjusted {
                    sku: sku.clone(),
                    location: location.clone(),
                    delta: *delta,
                    reason: *reason,
                }];
                let reserved = state.reserved();
                if on_hand < reserved {
                    events.push(InventoryEvent::ShortageRecorded {
                        sku,
                        location,
                        on_hand,
                        reserved,
                        short: reserved - on_hand,
                    });
                }
                Ok(events)
            }
            InventoryCommand::ReserveStock {
                order_id,
                line,
                qty,
                ..
            } => {
                check_id("order_id", order_id)?;
                let qty = check_qty(*qty)?;
                if state.reservations.contains_key(&line_key(order_id, *line)) {
                    return Err(Rejection::AlreadyReserved {
                        order_id: order_id.clone(),
                        line: *line,
                    });
                }
                if qty > state.free() {
                    return Err(Rejection::InsufficientStock {
                        requested: qty,
                        free: state.free(),
                    });
                }
                Ok(vec![InventoryEvent::StockReserved {
                    sku,
                    location,
                    order_id: order_id.clone(),
                    line: *line,
                    qty,
                }])
            }
            InventoryCommand::ReleaseReservation { order_id, line, .. } => {
                let qty = state
                    .reservations
                    .get(&line_key(order_id, *line))
                    .copied()
                    .ok_or_else(|| Rejection::UnknownReservation {
                        order_id: order_id.clone(),
                        line: *line,
                    })?;
                Ok(vec![InventoryEvent::ReservationReleased {
                    sku,
                    location,
                    order_id: order_id.clone(),
                    line: *line,
                    qty,
                }])
            }
        }
    }

    fn evolve(mut state: Self, event: &InventoryEvent) -> Self {
        match event {
            InventoryEvent::StockReceived { qty, .. } => state.on_hand += qty,
            InventoryEvent::StockAdjusted { delta, .. } => {
                state.on_hand = state.on_hand.saturating_add_signed(*delta);
            }
            // The shortage is a fact to report; the stock position already moved.
            InventoryEvent::ShortageRecorded { .. } => {}
            InventoryEvent::StockReserved {
                order_id,
                line,
                qty,
                ..
            } => {
                state.reservations.insert(line_key(order_id, *line), *qty);
            }
            InventoryEvent::ReservationReleased { order_id, line, .. } => {
                state.reservations.remove(&line_key(order_id, *line));
            }
        }
        state
    }
}

/// Names the shape of [`InventoryItem`] for snapshots; change it when the struct changes.
pub const STATE_SCHEMA: &str = "inventory-item/1";
