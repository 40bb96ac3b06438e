//! Given events, when a command, then events or a rejection.

use decider::{given, Decider};
use inventory_aggregate::{InventoryItem, Rejection};
use proptest::prelude::*;
use schemas::inventory::{AdjustmentReason, InventoryCommand as C, InventoryEvent as E};

fn received(qty: u64) -> E {
    E::StockReceived {
        sku: "SKU-1".into(),
        location: "WH1".into(),
        qty,
        reference: None,
    }
}
fn reserved(order: &str, qty: u64) -> E {
    E::StockReserved {
        sku: "SKU-1".into(),
        location: "WH1".into(),
        order_id: order.into(),
        line: 1,
        qty,
    }
}
fn receive(qty: u64) -> C {
    C::ReceiveStock {
        sku: "SKU-1".into(),
        location: "WH1".into(),
        qty,
        reference: None,
    }
}
fn reserve(order: &str, qty: u64) -> C {
    C::ReserveStock {
        sku: "SKU-1".into(),
        location: "WH1".into(),
        order_id: order.into(),
        line: 1,
        qty,
    }
}
fn release(order: &str) -> C {
    C::ReleaseReservation {
        sku: "SKU-1".into(),
        location: "WH1".into(),
        order_id: order.into(),
        line: 1,
    }
}
fn adjust(delta: i64, reason: AdjustmentReason) -> C {
    C::AdjustStock {
        sku: "SKU-1".into(),
        location: "WH1".into(),
        delta,
        reason,
    }
}

#[test]
fn receiving_stock_records_it() {
    given::<InventoryItem>([])
        .when(receive(10))
        .then([received(10)]);
}

#[test]
fn a_reservation_within_free_stock_is_recorded() {
    given::<InventoryItem>([received(10), reserved("order-1", 8)])
        .when(reserve("order-2", 2))
        .then([reserved("order-2", 2)]);
}

#[test]
fn a_reservation_beyond_free_stock_is_rejected() {
    given::<InventoryItem>([received(10), reserved("order-1", 8)])
        .when(reserve("order-2", 3))
        .then_rejected(Rejection::InsufficientStock {
            requested: 3,
            free: 2,
        });
}

#[test]
fn an_order_line_cannot_reserve_twice() {
    given::<InventoryItem>([received(10), reserved("order-1", 1)])
        .when(reserve("order-1", 1))
        .then_rejected(Rejection::AlreadyReserved {
            order_id: "order-1".into(),
            line: 1,
        });
}

#[test]
fn releasing_gives_back_exactly_what_was_reserved() {
    given::<InventoryItem>([received(10), reserved("order-1", 4)])
        .when(release("order-1"))
        .then([E::ReservationReleased {
            sku: "SKU-1".into(),
            location: "WH1".into(),
            order_id: "order-1".into(),
            line: 1,
            qty: 4,
        }]);
    given::<InventoryItem>([received(10)])
        .when(release("order-9"))
        .then_rejected(Rejection::UnknownReservation {
            order_id: "order-9".into(),
            line: 1,
        });
}

#[test]
fn damage_below_the_reserved_quantity_records_the_shortage() {
    given::<InventoryItem>([received(10), reserved("order-1", 8)])
        .when(adjust(-5, AdjustmentReason::Damage))
        .then([
            E::StockAdjusted {
                sku: "SKU-1".into(),
                location: "WH1".into(),
                delta: -5,
                reason: AdjustmentReason::Damage,
            },
            E::ShortageRecorded {
                sku: "SKU-1".into(),
                location: "WH1".into(),
                on_hand: 5,
                reserved: 8,
                short: 3,
            },
        ]);
}

#[test]
fn an_adjustment_cannot_take_on_hand_below_zero() {
    given::<InventoryItem>([received(3)])
        .when(adjust(-4, AdjustmentReason::Shrinkage))
        .then_rejected(Rejection::AdjustmentBelowZero {
            remove: 4,
            on_hand: 3,
        });
}

#[test]
fn zero_and_absurd_quantities_are_rejected() {
    given::<InventoryItem>([])
        .when(receive(0))
        .then_rejected(Rejection::InvalidQuantity { qty: 0 });
    given::<InventoryItem>([])
        .when(receive(5_000_000))
        .then_rejected(Rejection::InvalidQuantity { qty: 5_000_000 });
    given::<InventoryItem>([received(1)])
        .when(reserve("o", 0))
        .then_rejected(Rejection::InvalidQuantity { qty: 0 });
    given::<InventoryItem>([])
        .when(adjust(0, AdjustmentReason::Found))
        .then_rejected(Rejection::InvalidQuantity { qty: 0 });
}

#[test]
fn ids_with_separators_or_blanks_are_rejected() {
    let bad = C::ReceiveStock {
        sku: "SKU 1".into(),
        location: "WH1".into(),
        qty: 1,
        reference: None,
    };
    given::<InventoryItem>([])
        .when(bad)
        .then_rejected(Rejection::InvalidId {
            field: "sku",
            problem: "must not contain whitespace, '@' or '#'",
        });
    let bad = C::ReceiveStock {
        sku: "SKU-1".into(),
        location: "".into(),
        qty: 1,
        reference: None,
    };
    given::<InventoryItem>([])
        .when(bad)
        .then_rejected(Rejection::InvalidId {
            field: "location",
            problem: "must have 1 to 64 characters",
        });
}

fn command() -> impl Strategy<Value = C> {
    let order = (0u8..6).prop_map(|o| format!("order-{o}"));
    prop_oneof![
        (1u64..20).prop_map(receive),
        (order.clone(), 1u64..15).prop_map(|(o, q)| reserve(&o, q)),
        order.prop_map(|o| release(&o)),
        (
            -15i64..15,
            prop_oneof![
                Just(AdjustmentReason::Damage),
                Just(AdjustmentReason::Found)
            ]
        )
            .prop_map(|(d, r)| adjust(d, r)),
    ]
}

proptest! {
    /// Whatever happens, nothing is reserved beyond what was free when it
    /// was reserved, and every adjustment that leaves on-hand below reserved
    /// records a ShortageRecorded saying by how much (and no other does).
    #[test]
    fn reservations_never_exceed_free_stock_and_shortages_are_explained(commands in prop::collection::vec(command(), 1..60)) {
        let mut state = InventoryItem::default();
        for c in &commands {
            let before = state.clone();
            if let Ok(events) = InventoryItem::decide(&state, c) {
                for e in &events {
                    if let E::StockReserved { qty, .. } = e {
                        prop_assert!(*qty <= before.free());
                    }
                    state = InventoryItem::evolve(state, e);
                }
                let short = state.reserved().saturating_sub(state.on_hand);
                let recorded = events.iter().find_map(|e| match e { E::ShortageRecorded { short, .. } => Some(*short), _ => None });
                if matches!(c, C::AdjustStock { .. }) && state.on_hand < state.reserved() {
                    prop_assert_eq!(recorded, Some(short));
                } else {
                    prop_assert_eq!(recorded, None);
                }
            } else {
                prop_assert_eq!(&state, &before);
            }
        }
    }
}
