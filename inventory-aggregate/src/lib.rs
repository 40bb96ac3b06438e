//! An inventory item: one SKU at one location.
//!
//! It keeps the honest stock position: what is on hand, what is due on
//! purchase orders and when, what is reserved for order lines (against
//! on-hand or against a PO), and so what is free to promise. Its invariant:
//! a reservation never exceeds what is free. When on-hand falls below what
//! is reserved (damage, shrinkage, a count, a short pick) or a PO will not
//! bring what was reserved on it, that is recorded as an event of its own,
//! never hidden.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use decider::Decider;
use schemas::inventory::{
    AdjustmentReason, InventoryCommand, InventoryEvent, ReorderPolicy, SupplyTerms,
};
use schemas::{check_id, check_qty, InvalidField, MAX_QTY};
use serde::{Deserialize, Serialize};

/// The stock position of one SKU at one location.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    /// Units physically held.
    pub on_hand: u64,
    /// Reservations against on-hand, by order line (`order#line`).
    pub reservations: BTreeMap<String, u64>,
    /// Units due, by purchase order.
    pub inbound: BTreeMap<String, Inbound>,
    /// Reservations against inbound units: PO → order line → units.
    pub inbound_reservations: BTreeMap<String, BTreeMap<String, u64>>,
    /// The reorder policy, once one is set.
    pub policy: Option<ReorderPolicy>,
    /// How the item is bought, once its supply is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supply: Option<SupplyTerms>,
    /// When each reserved order line (`order#line`) needs its units, where
    /// the reservation said: ATP counts the requirement on that day.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub need_dates: BTreeMap<String, NaiveDate>,
}

/// Units due on one purchase order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbound {
    /// Units still due.
    pub qty: u64,
    /// When they are due.
    pub expected_date: NaiveDate,
}

impl InventoryItem {
    /// Units set aside for order lines, from on-hand.
    pub fn reserved(&self) -> u64 {
        self.reservations.values().sum()
    }

    /// Units that can still be promised from on-hand.
    pub fn free(&self) -> u64 {
        self.on_hand.saturating_sub(self.reserved())
    }

    /// Units reserved on a purchase order (line), by its [`Self::inbound_key`].
    pub fn inbound_reserved(&self, key: &str) -> u64 {
        self.inbound_reservations
            .get(key)
            .map_or(0, |r| r.values().sum())
    }

    /// Units due on a purchase order (line) not yet promised, by its key.
    pub fn inbound_free(&self, key: &str) -> u64 {
        self.inbound
            .get(key)
            .map_or(0, |i| i.qty.saturating_sub(self.inbound_reserved(key)))
    }

    /// The key of units due on PO `po_id` (line `po_line`) in this item's
    /// maps: `PO` or `PO#LINE` (ids cannot hold `#`). A store from before
    /// PO lines were named keys a PO's units by the PO alone; a line of
    /// that PO finds them there.
    pub fn inbound_key(&self, po_id: &str, po_line: Option<u32>) -> String {
        let Some(line) = po_line else {
            return po_id.to_owned();
        };
        let key = format!("{po_id}#{line}");
        let known =
            |k: &str| self.inbound.contains_key(k) || self.inbound_reservations.contains_key(k);
        if !known(&key) && known(po_id) {
            po_id.to_owned()
        } else {
            key
        }
    }

    /// On hand + inbound − everything reserved: what reorder decisions use.
    pub fn position(&self) -> i64 {
        let inbound: u64 = self.inbound.values().map(|i| i.qty).sum();
        let reserved = self.reserved()
            + self
                .inbound_reservations
                .values()
                .flat_map(|r| r.values())
                .sum::<u64>();
        i64::try_from(self.on_hand + inbound).unwrap_or(i64::MAX)
            - i64::try_from(reserved).unwrap_or(i64::MAX)
    }
}

impl InventoryItem {
    /// When the order line holding `key` (`order#line`) needs its units, if known.
    pub fn need_date(&self, key: &str) -> Option<NaiveDate> {
        self.need_dates.get(key).copied()
    }

    /// Whether the order line holds a reservation here, on hand or inbound.
    fn holds(&self, key: &str) -> bool {
        self.reservations.contains_key(key)
            || self
                .inbound_reservations
                .values()
                .any(|r| r.contains_key(key))
    }
}

/// The key of an order line's reservations (`order#line`).
pub fn line_key(order_id: &str, line: u32) -> String {
    format!("{order_id}#{line}")
}

/// Why an inventory command was refused. Nothing changes when one is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
// Each variant's #[error] message says what it and its fields mean.
#[allow(missing_docs)]
pub enum Rejection {
    /// More was asked than is free.
    #[error("{requested} requested but only {free} free")]
    InsufficientStock { requested: u64, free: u64 },
    /// A bad id or quantity.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// A removal larger than what is on hand.
    #[error("cannot remove {remove} with only {on_hand} on hand")]
    AdjustmentBelowZero { remove: u64, on_hand: u64 },
    /// The order line holds no such reservation here.
    #[error("order {order_id} line {line} has no reservation")]
    UnknownReservation { order_id: String, line: u32 },
    /// More shipped or short than the line has reserved.
    #[error("order {order_id} line {line}: {qty} asked but {reserved} reserved")]
    ExceedsReservation {
        order_id: String,
        line: u32,
        qty: u64,
        reserved: u64,
    },
    /// The reorder policy does not allow promising inbound units.
    #[error("the policy does not allow reserving inbound units here")]
    InboundNotAllowed,
    /// Nothing is due on that purchase order here.
    #[error("nothing is due on purchase order {po_id} here")]
    UnknownInbound { po_id: String },
    /// More asked of a purchase order than is due and unpromised.
    #[error("{requested} requested but only {free} due and unpromised on {po_id}")]
    InsufficientInbound {
        po_id: String,
        requested: u64,
        free: u64,
    },
    /// A policy that cannot work (for example safety stock above the reorder point).
    #[error("invalid policy: {0}")]
    InvalidPolicy(&'static str),
    /// Supplier terms that cannot be planned with, naming the field.
    #[error("invalid supply: {0}")]
    InvalidSupply(&'static str),
}

impl decider::Reason for Rejection {
    fn code(&self) -> &'static str {
        match self {
            Self::InsufficientStock { .. } => "insufficient_stock",
            Self::Invalid(e) => e.code(),
            Self::AdjustmentBelowZero { .. } => "adjustment_below_zero",
            Self::UnknownReservation { .. } => "unknown_reservation",
            Self::ExceedsReservation { .. } => "exceeds_reservation",
            Self::InboundNotAllowed => "inbound_not_allowed",
            Self::UnknownInbound { .. } => "unknown_inbound",
            Self::InsufficientInbound { .. } => "insufficient_inbound",
            Self::InvalidPolicy(_) => "invalid_policy",
            Self::InvalidSupply(_) => "invalid_supply",
        }
    }
}

impl decider::Aggregate for InventoryItem {
    const KINDS: &'static [schemas::StreamKind] = &[schemas::StreamKind::Inventory];
    const STATE_SCHEMA: &'static str = "inventory-item/4";

    fn stream(command: &InventoryCommand) -> Result<schemas::StreamName, schemas::InvalidField> {
        let (sku, location) = command.item();
        schemas::StreamName::inventory(sku, location)
    }
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
        let mut events = decide(state, command, sku.to_owned(), location.to_owned())?;
        // Follow-on facts: a shortage, or the reorder point reached.
        let after = events.iter().fold(state.clone(), Self::evolve);
        let reserved = after.reserved();
        let shortage_recorded = events
            .iter()
            .any(|e| matches!(e, InventoryEvent::ShortageRecorded { .. }));
        if after.on_hand < reserved && after.on_hand < state.on_hand && !shortage_recorded {
            events.push(InventoryEvent::ShortageRecorded {
                sku: sku.to_owned(),
                location: location.to_owned(),
                on_hand: after.on_hand,
                reserved,
                short: reserved - after.on_hand,
            });
        }
        if let Some(policy) = &after.policy {
            let rop = i64::try_from(policy.reorder_point).unwrap_or(i64::MAX);
            if after.position() <= rop && (state.position() > rop || state.policy.is_none()) {
                events.push(InventoryEvent::ReorderPointReached {
                    sku: sku.to_owned(),
                    location: location.to_owned(),
                    position: after.position(),
                    reorder_point: policy.reorder_point,
                    order_qty: policy.order_qty,
                });
            }
        }
        Ok(events)
    }

    fn evolve(state: Self, event: &InventoryEvent) -> Self {
        let mut state = evolve(state, event);
        if matches!(
            event,
            InventoryEvent::ReservationReleased { .. }
                | InventoryEvent::InboundReservationLost { .. }
                | InventoryEvent::StockShipped { .. }
                | InventoryEvent::PickShortRecorded { .. }
                | InventoryEvent::InboundCancelled { .. }
        ) && !state.need_dates.is_empty()
        {
            // A line's need date goes with its last reservation here.
            let held: Vec<String> = state
                .need_dates
                .keys()
                .filter(|k| !state.holds(k))
                .cloned()
                .collect();
            for key in held {
                state.need_dates.remove(&key);
            }
        }
        state
    }
}

fn evolve(mut state: InventoryItem, event: &InventoryEvent) -> InventoryItem {
    match event {
        InventoryEvent::StockReceived {
            qty,
            po_id,
            po_line,
            ..
        } => {
            state.on_hand += qty;
            if let Some(po) = po_id {
                let po = state.inbound_key(po, *po_line);
                if let Some(inbound) = state.inbound.get_mut(&po) {
                    inbound.qty = inbound.qty.saturating_sub(*qty);
                }
                settle_inbound(&mut state, &po);
            }
        }
        InventoryEvent::StockAdjusted { delta, .. } => {
            state.on_hand = state.on_hand.saturating_add_signed(*delta);
        }
        InventoryEvent::StockCounted { counted, .. } => state.on_hand = *counted,
        // Facts to report; the position already moved.
        InventoryEvent::ShortageRecorded { .. }
        | InventoryEvent::ReorderPointReached { .. }
        | InventoryEvent::ReplenishmentSuggested { .. } => {}
        InventoryEvent::StockReserved {
            order_id,
            line,
            qty,
            need_date,
            ..
        } => {
            let key = line_key(order_id, *line);
            if let Some(day) = need_date {
                state.need_dates.insert(key.clone(), *day);
            }
            *state.reservations.entry(key).or_default() += qty;
        }
        InventoryEvent::InboundReserved {
            order_id,
            line,
            qty,
            po_id,
            po_line,
            need_date,
            ..
        } => {
            if let Some(day) = need_date {
                state.need_dates.insert(line_key(order_id, *line), *day);
            }
            let po = state.inbound_key(po_id, *po_line);
            *state
                .inbound_reservations
                .entry(po)
                .or_default()
                .entry(line_key(order_id, *line))
                .or_default() += qty;
        }
        InventoryEvent::ReservationReleased {
            order_id,
            line,
            po_id,
            po_line,
            qty,
            ..
        } => {
            let key = line_key(order_id, *line);
            match po_id {
                None => {
                    if let Some(r) = state.reservations.get_mut(&key) {
                        *r = r.saturating_sub(*qty);
                        if *r == 0 {
                            state.reservations.remove(&key);
                        }
                    }
                }
                Some(po) => {
                    let po = state.inbound_key(po, *po_line);
                    remove_inbound_reservation(&mut state, &po, &key, *qty);
                }
            }
        }
        InventoryEvent::ReservationMovedToStock {
            order_id,
            line,
            qty,
            po_id,
            po_line,
            ..
        } => {
            let key = line_key(order_id, *line);
            let po = state.inbound_key(po_id, *po_line);
            remove_inbound_reservation(&mut state, &po, &key, *qty);
            *state.reservations.entry(key).or_default() += qty;
            settle_inbound(&mut state, &po);
        }
        InventoryEvent::InboundReservationLost {
            order_id,
            line,
            qty,
            po_id,
            po_line,
            ..
        } => {
            let po = state.inbound_key(po_id, *po_line);
            remove_inbound_reservation(&mut state, &po, &line_key(order_id, *line), *qty);
        }
        InventoryEvent::StockShipped {
            order_id,
            line,
            qty,
            ..
        }
        | InventoryEvent::PickShortRecorded {
            order_id,
            line,
            short: qty,
            ..
        } => {
            state.on_hand = state.on_hand.saturating_sub(*qty);
            let key = line_key(order_id, *line);
            if let Some(r) = state.reservations.get_mut(&key) {
                *r = r.saturating_sub(*qty);
                if *r == 0 {
                    state.reservations.remove(&key);
                }
            }
        }
        InventoryEvent::ReturnRestocked { qty, .. } => state.on_hand += qty,
        InventoryEvent::InboundScheduled {
            po_id,
            po_line,
            qty,
            expected_date,
            ..
        } => {
            state.inbound.insert(
                state.inbound_key(po_id, *po_line),
                Inbound {
                    qty: *qty,
                    expected_date: *expected_date,
                },
            );
        }
        InventoryEvent::InboundCancelled { po_id, po_line, .. } => {
            let po = state.inbound_key(po_id, *po_line);
            state.inbound.remove(&po);
            state.inbound_reservations.remove(&po);
        }
        InventoryEvent::ReorderPolicySet { policy, .. } => state.policy = Some(policy.clone()),
        InventoryEvent::SupplySet { terms, .. } => state.supply = Some(terms.clone()),
    }
    state
}

/// A PO with nothing due and nothing promised on it is forgotten.
fn settle_inbound(state: &mut InventoryItem, po: &str) {
    if state.inbound.get(po).is_some_and(|i| i.qty == 0) && state.inbound_reserved(po) == 0 {
        state.inbound.remove(po);
    }
}

fn remove_inbound_reservation(state: &mut InventoryItem, po: &str, key: &str, qty: u64) {
    if let Some(lines) = state.inbound_reservations.get_mut(po) {
        if let Some(r) = lines.get_mut(key) {
            *r = r.saturating_sub(qty);
            if *r == 0 {
                lines.remove(key);
            }
        }
        if lines.is_empty() {
            state.inbound_reservations.remove(po);
        }
    }
}

/// The inbound reservations on `po_id` that `keep` units cannot cover,
/// newest-keyed last, as `(order_id, line, qty)`.
fn uncovered(state: &InventoryItem, po_id: &str, keep: u64) -> Vec<(String, u32, u64)> {
    let mut room = keep;
    let mut lost = Vec::new();
    if let Some(lines) = state.inbound_reservations.get(po_id) {
        for (key, qty) in lines {
            let kept = (*qty).min(room);
            room -= kept;
            if kept < *qty {
                if let Some((order, line)) = split_key(key) {
                    lost.push((order, line, qty - kept));
                }
            }
        }
    }
    lost
}

/// The PO and line of an inbound key (see [`InventoryItem::inbound_key`]).
pub fn split_inbound_key(key: &str) -> (&str, Option<u32>) {
    match key.rsplit_once('#') {
        Some((po, line)) => match line.parse() {
            Ok(line) => (po, Some(line)),
            Err(_) => (key, None),
        },
        None => (key, None),
    }
}

/// The order and line of a reservation key (`order#line`).
pub fn split_key(key: &str) -> Option<(String, u32)> {
    let (order, line) = key.rsplit_once('#')?;
    Some((order.to_owned(), line.parse().ok()?))
}

fn decide(
    state: &InventoryItem,
    command: &InventoryCommand,
    sku: String,
    location: String,
) -> Result<Vec<InventoryEvent>, Rejection> {
    use InventoryCommand as C;
    use InventoryEvent as E;
    match command {
        C::ReceiveStock {
            qty,
            reference,
            po_id,
            po_line,
            ..
        } => {
            let qty = check_qty(*qty)?;
            let mut events = vec![E::StockReceived {
                sku: sku.clone(),
                location: location.clone(),
                qty,
                reference: reference.clone(),
                po_id: po_id.clone(),
                po_line: *po_line,
            }];
            if let Some(po) = po_id {
                check_id("po_id", po)?;
                // Received units cover the PO's inbound reservations first.
                let mut room = qty;
                let due = state.inbound_key(po, *po_line);
                for (key, reserved) in state.inbound_reservations.get(&due).into_iter().flatten() {
                    let moved = (*reserved).min(room);
                    room -= moved;
                    if let (true, Some((order_id, line))) = (moved > 0, split_key(key)) {
                        events.push(E::ReservationMovedToStock {
                            sku: sku.clone(),
                            location: location.clone(),
                            order_id,
                            line,
                            qty: moved,
                            po_id: po.clone(),
                            po_line: *po_line,
                        });
                    }
                }
            }
            Ok(events)
        }
        C::AdjustStock { delta, reason, .. } => {
            let size = check_qty(delta.unsigned_abs()).map_err(|_| InvalidField::Quantity {
                qty: (*delta).into(),
            })?;
            if *delta < 0 && size > state.on_hand {
                return Err(Rejection::AdjustmentBelowZero {
                    remove: size,
                    on_hand: state.on_hand,
                });
            }
            Ok(vec![E::StockAdjusted {
                sku,
                location,
                delta: *delta,
                reason: *reason,
            }])
        }
        C::CountStock { counted, .. } => {
            if *counted > MAX_QTY {
                return Err(InvalidField::Quantity {
                    qty: (*counted).into(),
                }
                .into());
            }
            Ok(vec![E::StockCounted {
                sku,
                location,
                expected: state.on_hand,
                counted: *counted,
                variance: i64::try_from(*counted).unwrap_or(i64::MAX)
                    - i64::try_from(state.on_hand).unwrap_or(i64::MAX),
            }])
        }
        C::ReserveStock {
            order_id,
            line,
            qty,
            need_date,
            ..
        } => {
            check_id("order_id", order_id)?;
            let qty = check_qty(*qty)?;
            if qty > state.free() {
                return Err(Rejection::InsufficientStock {
                    requested: qty,
                    free: state.free(),
                });
            }
            Ok(vec![E::StockReserved {
                sku,
                location,
                order_id: order_id.clone(),
                line: *line,
                qty,
                need_date: *need_date,
            }])
        }
        C::ReserveInbound {
            order_id,
            line,
            qty,
            po_id,
            po_line,
            need_date,
            ..
        } => {
            check_id("order_id", order_id)?;
            let qty = check_qty(*qty)?;
            if !state.policy.as_ref().is_some_and(|p| p.reserve_inbound) {
                return Err(Rejection::InboundNotAllowed);
            }
            let due = state.inbound_key(po_id, *po_line);
            let inbound = state
                .inbound
                .get(&due)
                .ok_or_else(|| Rejection::UnknownInbound {
                    po_id: po_id.clone(),
                })?;
            let free = state.inbound_free(&due);
            if qty > free {
                return Err(Rejection::InsufficientInbound {
                    po_id: po_id.clone(),
                    requested: qty,
                    free,
                });
            }
            Ok(vec![E::InboundReserved {
                sku,
                location,
                order_id: order_id.clone(),
                line: *line,
                qty,
                po_id: po_id.clone(),
                po_line: *po_line,
                expected_date: inbound.expected_date,
                need_date: *need_date,
            }])
        }
        C::ReleaseReservation {
            order_id,
            line,
            po_id,
            po_line,
            qty,
            ..
        } => {
            let key = line_key(order_id, *line);
            let held = match po_id {
                None => state.reservations.get(&key).copied(),
                Some(po) => state
                    .inbound_reservations
                    .get(&state.inbound_key(po, *po_line))
                    .and_then(|r| r.get(&key))
                    .copied(),
            }
            .ok_or_else(|| Rejection::UnknownReservation {
                order_id: order_id.clone(),
                line: *line,
            })?;
            let qty = match qty {
                None => held,
                Some(q) if check_qty(*q)? <= held => *q,
                Some(q) => {
                    return Err(Rejection::ExceedsReservation {
                        order_id: order_id.clone(),
                        line: *line,
                        qty: *q,
                        reserved: held,
                    })
                }
            };
            Ok(vec![E::ReservationReleased {
                sku,
                location,
                order_id: order_id.clone(),
                line: *line,
                qty,
                po_id: po_id.clone(),
                po_line: *po_line,
            }])
        }
        C::ShipReserved {
            order_id,
            line,
            qty,
            ..
        } => {
            let qty = check_qty(*qty)?;
            reservation(state, order_id, *line, qty)?;
            let mut events = Vec::new();
            // The units left: a shipment is a fact. Records that say fewer
            // were here were wrong, and are corrected in the open.
            if qty > state.on_hand {
                events.push(E::StockAdjusted {
                    sku: sku.clone(),
                    location: location.clone(),
                    delta: i64::try_from(qty - state.on_hand).unwrap_or(i64::MAX),
                    reason: AdjustmentReason::Correction,
                });
            }
            events.push(E::StockShipped {
                sku,
                location,
                order_id: order_id.clone(),
                line: *line,
                qty,
            });
            Ok(events)
        }
        C::ReportPickShort {
            order_id,
            line,
            short,
            ..
        } => {
            let short = check_qty(*short)?;
            reservation(state, order_id, *line, short)?;
            Ok(vec![E::PickShortRecorded {
                sku,
                location,
                order_id: order_id.clone(),
                line: *line,
                short,
            }])
        }
        C::RestockReturn { qty, rma_id, .. } => {
            check_id("rma_id", rma_id)?;
            Ok(vec![E::ReturnRestocked {
                sku,
                location,
                qty: check_qty(*qty)?,
                rma_id: rma_id.clone(),
            }])
        }
        C::ScheduleInbound {
            po_id,
            po_line,
            qty,
            expected_date,
            ..
        } => {
            check_id("po_id", po_id)?;
            let qty = check_qty(*qty)?;
            let mut events = vec![E::InboundScheduled {
                sku: sku.clone(),
                location: location.clone(),
                po_id: po_id.clone(),
                po_line: *po_line,
                qty,
                expected_date: *expected_date,
            }];
            let due = state.inbound_key(po_id, *po_line);
            for (order_id, line, lost) in uncovered(state, &due, qty) {
                events.push(E::InboundReservationLost {
                    sku: sku.clone(),
                    location: location.clone(),
                    order_id,
                    line,
                    qty: lost,
                    po_id: po_id.clone(),
                    po_line: *po_line,
                });
            }
            Ok(events)
        }
        C::CancelInbound { po_id, po_line, .. } => {
            let due = state.inbound_key(po_id, *po_line);
            let inbound = state
                .inbound
                .get(&due)
                .ok_or_else(|| Rejection::UnknownInbound {
                    po_id: po_id.clone(),
                })?;
            let mut events = Vec::new();
            for (order_id, line, lost) in uncovered(state, &due, 0) {
                events.push(E::InboundReservationLost {
                    sku: sku.clone(),
                    location: location.clone(),
                    order_id,
                    line,
                    qty: lost,
                    po_id: po_id.clone(),
                    po_line: *po_line,
                });
            }
            events.push(E::InboundCancelled {
                sku,
                location,
                po_id: po_id.clone(),
                po_line: *po_line,
                qty: inbound.qty,
            });
            Ok(events)
        }
        C::SetReorderPolicy { policy, .. } => {
            if policy.safety_stock > policy.reorder_point {
                return Err(Rejection::InvalidPolicy(
                    "safety stock is above the reorder point",
                ));
            }
            if policy.order_qty == 0 || policy.order_qty > MAX_QTY {
                return Err(Rejection::InvalidPolicy(
                    "order quantity must be 1 to 1,000,000",
                ));
            }
            if policy.service_level_bp > 10_000 {
                return Err(Rejection::InvalidPolicy("service level is above 100 %"));
            }
            Ok(vec![E::ReorderPolicySet {
                sku,
                location,
                policy: policy.clone(),
            }])
        }
        C::SuggestReplenishment { qty, basis, .. } => {
            if state.supply.is_none() {
                return Err(Rejection::InvalidSupply("no supplier terms are set"));
            }
            check_qty(*qty)?;
            Ok(vec![E::ReplenishmentSuggested {
                sku,
                location,
                qty: *qty,
                basis: basis.clone(),
            }])
        }
        C::SetSupply { terms, .. } => {
            check_supply(terms)?;
            if state.supply.as_ref() == Some(terms) {
                return Err(Rejection::InvalidSupply("the same terms are already set"));
            }
            Ok(vec![E::SupplySet {
                sku,
                location,
                terms: terms.clone(),
            }])
        }
    }
}

/// Refuses supplier terms the replenishment process could not plan with.
fn check_supply(terms: &SupplyTerms) -> Result<(), Rejection> {
    check_id("supplier_id", &terms.supplier_id)?;
    let problem = if terms.lead_time_days == 0 || terms.lead_time_days > 365 {
        Some("lead_time_days must be 1 to 365")
    } else if terms.moq == 0 || terms.moq > MAX_QTY {
        Some("moq must be 1 to 1,000,000")
    } else if terms.pack_size == 0 || terms.pack_size > MAX_QTY {
        Some("pack_size must be 1 to 1,000,000")
    } else if terms.unit_cost_cents == 0 {
        Some("unit_cost_cents must be at least 1")
    } else if terms.holding_rate_bp == 0 || terms.holding_rate_bp > 10_000 {
        Some("holding_rate_bp must be 1 to 10000")
    } else if !(5_000..=9_999).contains(&terms.service_level_bp) {
        // 100 % would need infinite safety stock under a normal demand model.
        Some("service_level_bp must be 5000 to 9999")
    } else {
        None
    };
    problem.map_or(Ok(()), |p| Err(Rejection::InvalidSupply(p)))
}

/// The line's on-hand reservation, if it covers `qty`.
fn reservation(
    state: &InventoryItem,
    order_id: &str,
    line: u32,
    qty: u64,
) -> Result<(), Rejection> {
    let reserved = state
        .reservations
        .get(&line_key(order_id, line))
        .copied()
        .ok_or_else(|| Rejection::UnknownReservation {
            order_id: order_id.to_owned(),
            line,
        })?;
    if qty > reserved {
        return Err(Rejection::ExceedsReservation {
            order_id: order_id.to_owned(),
            line,
            qty,
            reserved,
        });
    }
    Ok(())
}
