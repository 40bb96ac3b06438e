//! Given events, when a command, then events or a rejection: every
//! command's success and every rejection reason of the inventory item.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use decider::{given, Decider};
use inventory_aggregate::{InventoryItem, Rejection};
use proptest::prelude::*;
use schemas::inventory::{
    AdjustmentReason, InventoryCommand as C, InventoryEvent as E, LotSizing, ReorderPolicy,
    SupplyTerms,
};
use schemas::purchasing::ReplenishmentBasis;
use schemas::InvalidField;

const SKU: &str = "SKU-1";
const LOC: &str = "WH1";

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}
fn received(qty: u64) -> E {
    E::StockReceived {
        po_line: None,
        sku: SKU.into(),
        location: LOC.into(),
        qty,
        reference: None,
        po_id: None,
    }
}
fn reserved(order: &str, qty: u64) -> E {
    E::StockReserved {
        need_date: None,
        sku: SKU.into(),
        location: LOC.into(),
        order_id: order.into(),
        line: 1,
        qty,
    }
}
fn receive(qty: u64) -> C {
    C::ReceiveStock {
        po_line: None,
        sku: SKU.into(),
        location: LOC.into(),
        qty,
        reference: None,
        po_id: None,
    }
}
fn receive_po(qty: u64, po: &str) -> C {
    C::ReceiveStock {
        po_line: None,
        sku: SKU.into(),
        location: LOC.into(),
        qty,
        reference: None,
        po_id: Some(po.into()),
    }
}
fn reserve(order: &str, qty: u64) -> C {
    C::ReserveStock {
        need_date: None,
        sku: SKU.into(),
        location: LOC.into(),
        order_id: order.into(),
        line: 1,
        qty,
    }
}
fn release(order: &str) -> C {
    C::ReleaseReservation {
        po_line: None,
        sku: SKU.into(),
        location: LOC.into(),
        order_id: order.into(),
        line: 1,
        po_id: None,
        qty: None,
    }
}
fn release_some(order: &str, qty: u64) -> C {
    C::ReleaseReservation {
        po_line: None,
        sku: SKU.into(),
        location: LOC.into(),
        order_id: order.into(),
        line: 1,
        po_id: None,
        qty: Some(qty),
    }
}
fn adjust(delta: i64, reason: AdjustmentReason) -> C {
    C::AdjustStock {
        sku: SKU.into(),
        location: LOC.into(),
        delta,
        reason,
    }
}
fn count(counted: u64) -> C {
    C::CountStock {
        sku: SKU.into(),
        location: LOC.into(),
        counted,
    }
}
fn policy(reserve_inbound: bool) -> ReorderPolicy {
    ReorderPolicy {
        reorder_point: 5,
        safety_stock: 2,
        order_qty: 20,
        lead_time_days: 7,
        service_level_bp: 9500,
        reserve_inbound,
    }
}
fn policy_set(reserve_inbound: bool) -> E {
    E::ReorderPolicySet {
        sku: SKU.into(),
        location: LOC.into(),
        policy: policy(reserve_inbound),
    }
}
fn scheduled(po: &str, qty: u64) -> E {
    E::InboundScheduled {
        po_line: None,
        sku: SKU.into(),
        location: LOC.into(),
        po_id: po.into(),
        qty,
        expected_date: day(10),
    }
}
fn schedule(po: &str, qty: u64) -> C {
    C::ScheduleInbound {
        po_line: None,
        sku: SKU.into(),
        location: LOC.into(),
        po_id: po.into(),
        qty,
        expected_date: day(10),
    }
}
fn reserve_inbound(order: &str, qty: u64, po: &str) -> C {
    C::ReserveInbound {
        po_line: None,
        need_date: None,
        sku: SKU.into(),
        location: LOC.into(),
        order_id: order.into(),
        line: 1,
        qty,
        po_id: po.into(),
    }
}
fn inbound_reserved(order: &str, qty: u64, po: &str) -> E {
    E::InboundReserved {
        po_line: None,
        need_date: None,
        sku: SKU.into(),
        location: LOC.into(),
        order_id: order.into(),
        line: 1,
        qty,
        po_id: po.into(),
        expected_date: day(10),
    }
}
fn lost(order: &str, qty: u64, po: &str) -> E {
    E::InboundReservationLost {
        po_line: None,
        sku: SKU.into(),
        location: LOC.into(),
        order_id: order.into(),
        line: 1,
        qty,
        po_id: po.into(),
    }
}
fn shortage(on_hand: u64, reserved: u64) -> E {
    E::ShortageRecorded {
        sku: SKU.into(),
        location: LOC.into(),
        on_hand,
        reserved,
        short: reserved - on_hand,
    }
}

#[test]
fn receiving_stock_records_it() {
    given::<InventoryItem>([])
        .when(receive(10))
        .then([received(10)]);
}

#[test]
fn a_reservation_within_free_stock_is_recorded_and_adds_up_per_line() {
    given::<InventoryItem>([received(10), reserved("order-1", 8)])
        .when(reserve("order-2", 2))
        .then([reserved("order-2", 2)]);
    let state =
        InventoryItem::fold(&[received(10), reserved("order-1", 3), reserved("order-1", 2)]);
    assert_eq!(state.reservations["order-1#1"], 5);
    assert_eq!(state.free(), 5);
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
fn releasing_gives_back_exactly_what_was_reserved() {
    given::<InventoryItem>([received(10), reserved("order-1", 4)])
        .when(release("order-1"))
        .then([E::ReservationReleased {
            po_line: None,
            sku: SKU.into(),
            location: LOC.into(),
            order_id: "order-1".into(),
            line: 1,
            qty: 4,
            po_id: None,
        }]);
    given::<InventoryItem>([received(10), reserved("order-1", 4)])
        .when(release_some("order-1", 3))
        .then([E::ReservationReleased {
            po_line: None,
            sku: SKU.into(),
            location: LOC.into(),
            order_id: "order-1".into(),
            line: 1,
            qty: 3,
            po_id: None,
        }]);
    given::<InventoryItem>([received(10), reserved("order-1", 4)])
        .when(release_some("order-1", 5))
        .then_rejected(Rejection::ExceedsReservation {
            order_id: "order-1".into(),
            line: 1,
            qty: 5,
            reserved: 4,
        });
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
                sku: SKU.into(),
                location: LOC.into(),
                delta: -5,
                reason: AdjustmentReason::Damage,
            },
            shortage(5, 8),
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
fn a_cycle_count_records_its_variance_and_any_shortage() {
    given::<InventoryItem>([received(10)])
        .when(count(12))
        .then([E::StockCounted {
            sku: SKU.into(),
            location: LOC.into(),
            expected: 10,
            counted: 12,
            variance: 2,
        }]);
    given::<InventoryItem>([received(10), reserved("order-1", 8)])
        .when(count(6))
        .then([
            E::StockCounted {
                sku: SKU.into(),
                location: LOC.into(),
                expected: 10,
                counted: 6,
                variance: -4,
            },
            shortage(6, 8),
        ]);
    given::<InventoryItem>([])
        .when(count(2_000_000))
        .then_rejected(Rejection::Invalid(InvalidField::Quantity {
            qty: 2_000_000,
        }));
}

#[test]
fn inbound_supply_is_scheduled_redated_and_cancelled() {
    given::<InventoryItem>([])
        .when(schedule("PO-1", 30))
        .then([scheduled("PO-1", 30)]);
    // Fewer units than promised on the PO: the uncovered reservation is lost.
    given::<InventoryItem>([
        policy_set(true),
        scheduled("PO-1", 30),
        inbound_reserved("order-1", 25, "PO-1"),
    ])
    .when(schedule("PO-1", 20))
    .then([scheduled("PO-1", 20), lost("order-1", 5, "PO-1")]);
    given::<InventoryItem>([
        policy_set(true),
        scheduled("PO-1", 30),
        inbound_reserved("order-1", 25, "PO-1"),
    ])
    .when(C::CancelInbound {
        po_line: None,
        sku: SKU.into(),
        location: LOC.into(),
        po_id: "PO-1".into(),
    })
    .then([
        lost("order-1", 25, "PO-1"),
        E::InboundCancelled {
            po_line: None,
            sku: SKU.into(),
            location: LOC.into(),
            po_id: "PO-1".into(),
            qty: 30,
        },
    ]);
    given::<InventoryItem>([])
        .when(C::CancelInbound {
            po_line: None,
            sku: SKU.into(),
            location: LOC.into(),
            po_id: "PO-9".into(),
        })
        .then_rejected(Rejection::UnknownInbound {
            po_id: "PO-9".into(),
        });
}

#[test]
fn inbound_units_are_reserved_only_when_the_policy_allows_and_they_are_free() {
    given::<InventoryItem>([policy_set(true), scheduled("PO-1", 30)])
        .when(reserve_inbound("order-1", 10, "PO-1"))
        .then([inbound_reserved("order-1", 10, "PO-1")]);
    given::<InventoryItem>([scheduled("PO-1", 30)])
        .when(reserve_inbound("order-1", 10, "PO-1"))
        .then_rejected(Rejection::InboundNotAllowed);
    given::<InventoryItem>([policy_set(true)])
        .when(reserve_inbound("order-1", 10, "PO-1"))
        .then_rejected(Rejection::UnknownInbound {
            po_id: "PO-1".into(),
        });
    given::<InventoryItem>([
        policy_set(true),
        scheduled("PO-1", 30),
        inbound_reserved("order-1", 25, "PO-1"),
    ])
    .when(reserve_inbound("order-2", 10, "PO-1"))
    .then_rejected(Rejection::InsufficientInbound {
        po_id: "PO-1".into(),
        requested: 10,
        free: 5,
    });
}

#[test]
fn receiving_a_po_turns_its_inbound_reservations_into_on_hand_ones() {
    let history = [
        policy_set(true),
        scheduled("PO-1", 30),
        inbound_reserved("order-1", 10, "PO-1"),
    ];
    given::<InventoryItem>(history.clone())
        .when(receive_po(6, "PO-1"))
        .then([
            E::StockReceived {
                po_line: None,
                sku: SKU.into(),
                location: LOC.into(),
                qty: 6,
                reference: None,
                po_id: Some("PO-1".into()),
            },
            E::ReservationMovedToStock {
                po_line: None,
                sku: SKU.into(),
                location: LOC.into(),
                order_id: "order-1".into(),
                line: 1,
                qty: 6,
                po_id: "PO-1".into(),
            },
        ]);
    let after = InventoryItem::fold(history.iter().chain(
        &InventoryItem::decide(&InventoryItem::fold(&history), &receive_po(6, "PO-1")).unwrap(),
    ));
    assert_eq!(after.on_hand, 6);
    assert_eq!(after.reserved(), 6);
    assert_eq!(after.inbound_reserved("PO-1"), 4);
    assert_eq!(after.inbound["PO-1"].qty, 24);
}

#[test]
fn shipping_consumes_the_reservation_and_the_stock() {
    let ship = |qty| C::ShipReserved {
        sku: SKU.into(),
        location: LOC.into(),
        order_id: "order-1".into(),
        line: 1,
        qty,
    };
    given::<InventoryItem>([received(10), reserved("order-1", 4)])
        .when(ship(4))
        .then([E::StockShipped {
            sku: SKU.into(),
            location: LOC.into(),
            order_id: "order-1".into(),
            line: 1,
            qty: 4,
        }]);
    given::<InventoryItem>([received(10), reserved("order-1", 4)])
        .when(ship(5))
        .then_rejected(Rejection::ExceedsReservation {
            order_id: "order-1".into(),
            line: 1,
            qty: 5,
            reserved: 4,
        });
    given::<InventoryItem>([received(10)])
        .when(ship(1))
        .then_rejected(Rejection::UnknownReservation {
            order_id: "order-1".into(),
            line: 1,
        });
    // Records say 4 reserved, but a count found only 2 on hand: the
    // shipment proves 2 more were there, and says so.
    let counted = E::StockCounted {
        sku: SKU.into(),
        location: LOC.into(),
        expected: 10,
        counted: 2,
        variance: -8,
    };
    given::<InventoryItem>([received(10), reserved("order-1", 4), counted])
        .when(ship(4))
        .then([
            E::StockAdjusted {
                sku: SKU.into(),
                location: LOC.into(),
                delta: 2,
                reason: AdjustmentReason::Correction,
            },
            E::StockShipped {
                sku: SKU.into(),
                location: LOC.into(),
                order_id: "order-1".into(),
                line: 1,
                qty: 4,
            },
        ]);
}

#[test]
fn a_short_pick_takes_the_missing_units_off_stock_and_the_reservation() {
    let short = |n| C::ReportPickShort {
        sku: SKU.into(),
        location: LOC.into(),
        order_id: "order-1".into(),
        line: 1,
        short: n,
    };
    let recorded = |n| E::PickShortRecorded {
        sku: SKU.into(),
        location: LOC.into(),
        order_id: "order-1".into(),
        line: 1,
        short: n,
    };
    given::<InventoryItem>([received(10), reserved("order-1", 4)])
        .when(short(1))
        .then([recorded(1)]);
    let after = InventoryItem::fold(&[received(10), reserved("order-1", 4), recorded(1)]);
    assert_eq!((after.on_hand, after.reserved()), (9, 3));
    given::<InventoryItem>([received(10), reserved("order-1", 4)])
        .when(short(5))
        .then_rejected(Rejection::ExceedsReservation {
            order_id: "order-1".into(),
            line: 1,
            qty: 5,
            reserved: 4,
        });
}

#[test]
fn a_resellable_return_goes_back_on_hand() {
    given::<InventoryItem>([])
        .when(C::RestockReturn {
            sku: SKU.into(),
            location: LOC.into(),
            qty: 2,
            rma_id: "RMA-1".into(),
        })
        .then([E::ReturnRestocked {
            sku: SKU.into(),
            location: LOC.into(),
            qty: 2,
            rma_id: "RMA-1".into(),
        }]);
}

#[test]
fn the_reorder_point_is_reported_once_when_the_position_falls_to_it() {
    given::<InventoryItem>([received(10)])
        .when(C::SetReorderPolicy {
            sku: SKU.into(),
            location: LOC.into(),
            policy: policy(false),
        })
        .then([policy_set(false)]);
    given::<InventoryItem>([received(10), policy_set(false)])
        .when(reserve("order-1", 5))
        .then([
            reserved("order-1", 5),
            E::ReorderPointReached {
                sku: SKU.into(),
                location: LOC.into(),
                position: 5,
                reorder_point: 5,
                order_qty: 20,
            },
        ]);
    // Already below: no second alert.
    given::<InventoryItem>([received(10), policy_set(false), reserved("order-1", 5)])
        .when(reserve("order-2", 1))
        .then([reserved("order-2", 1)]);
    let mut bad = policy(false);
    bad.safety_stock = 9;
    given::<InventoryItem>([])
        .when(C::SetReorderPolicy {
            sku: SKU.into(),
            location: LOC.into(),
            policy: bad,
        })
        .then_rejected(Rejection::InvalidPolicy(
            "safety stock is above the reorder point",
        ));
}

fn terms() -> SupplyTerms {
    SupplyTerms {
        supplier_id: "ACME".into(),
        lead_time_days: 7,
        moq: 10,
        pack_size: 5,
        unit_cost_cents: 400,
        order_cost_cents: 5_000,
        holding_rate_bp: 2_500,
        service_level_bp: 9_500,
        sizing: LotSizing::Eoq,
        auto_order: true,
    }
}

/// A change that makes supplier terms unplannable.
type Spoil = fn(&mut SupplyTerms);

fn set_supply(terms: SupplyTerms) -> C {
    C::SetSupply {
        sku: SKU.into(),
        location: LOC.into(),
        terms,
    }
}

#[test]
fn supplier_terms_are_set_once_and_refused_when_they_cannot_be_planned_with() {
    let set = E::SupplySet {
        sku: SKU.into(),
        location: LOC.into(),
        terms: terms(),
    };
    given::<InventoryItem>([])
        .when(set_supply(terms()))
        .then([set.clone()]);
    given::<InventoryItem>([set])
        .when(set_supply(terms()))
        .then_rejected(Rejection::InvalidSupply("the same terms are already set"));
    let cases: [(Spoil, &str); 6] = [
        (|t| t.lead_time_days = 0, "lead_time_days must be 1 to 365"),
        (|t| t.moq = 0, "moq must be 1 to 1,000,000"),
        (|t| t.pack_size = 0, "pack_size must be 1 to 1,000,000"),
        (
            |t| t.unit_cost_cents = 0,
            "unit_cost_cents must be at least 1",
        ),
        (
            |t| t.holding_rate_bp = 10_001,
            "holding_rate_bp must be 1 to 10000",
        ),
        (
            |t| t.service_level_bp = 10_000,
            "service_level_bp must be 5000 to 9999",
        ),
    ];
    for (spoil, problem) in cases {
        let mut bad = terms();
        spoil(&mut bad);
        given::<InventoryItem>([])
            .when(set_supply(bad))
            .then_rejected(Rejection::InvalidSupply(problem));
    }
}

#[test]
fn a_suggestion_needs_supplier_terms_and_a_quantity() {
    let basis = ReplenishmentBasis {
        method: "tsb".into(),
        demand_class: "lumpy".into(),
        forecast_milli_per_day: 1200,
        history_days: 40,
        lead_time_days: 7,
        safety_stock: 3,
        reorder_point: 12,
        order_qty: 10,
        position: 9,
        service_level_bp: 9500,
        expected_fill_rate_bp: 9800,
    };
    let suggest = |qty| C::SuggestReplenishment {
        sku: SKU.into(),
        location: LOC.into(),
        qty,
        basis: basis.clone(),
    };
    given::<InventoryItem>([])
        .when(suggest(10))
        .then_rejected(Rejection::InvalidSupply("no supplier terms are set"));
    let set = E::SupplySet {
        sku: SKU.into(),
        location: LOC.into(),
        terms: terms(),
    };
    given::<InventoryItem>([set.clone()])
        .when(suggest(10))
        .then([E::ReplenishmentSuggested {
            sku: SKU.into(),
            location: LOC.into(),
            qty: 10,
            basis: basis.clone(),
        }]);
    given::<InventoryItem>([set])
        .when(suggest(0))
        .then_rejected(Rejection::Invalid(InvalidField::Quantity { qty: 0 }));
}

#[test]
fn zero_and_absurd_quantities_are_rejected() {
    given::<InventoryItem>([])
        .when(receive(0))
        .then_rejected(Rejection::Invalid(InvalidField::Quantity { qty: 0 }));
    given::<InventoryItem>([])
        .when(receive(5_000_000))
        .then_rejected(Rejection::Invalid(InvalidField::Quantity {
            qty: 5_000_000,
        }));
    given::<InventoryItem>([received(1)])
        .when(reserve("o", 0))
        .then_rejected(Rejection::Invalid(InvalidField::Quantity { qty: 0 }));
    given::<InventoryItem>([])
        .when(adjust(0, AdjustmentReason::Found))
        .then_rejected(Rejection::Invalid(InvalidField::Quantity { qty: 0 }));
}

#[test]
fn ids_with_separators_or_blanks_are_rejected() {
    let mut bad = receive(1);
    if let C::ReceiveStock { sku, .. } = &mut bad {
        *sku = "SKU 1".into();
    }
    given::<InventoryItem>([])
        .when(bad)
        .then_rejected(Rejection::Invalid(InvalidField::Id {
            field: "sku",
            problem: "must not contain whitespace, '@' or '#'",
        }));
    let mut bad = receive(1);
    if let C::ReceiveStock { location, .. } = &mut bad {
        location.clear();
    }
    given::<InventoryItem>([])
        .when(bad)
        .then_rejected(Rejection::Invalid(InvalidField::Id {
            field: "location",
            problem: "must have 1 to 64 characters",
        }));
}

/// A command for one of a few items (SKU × location) and order lines.
fn command() -> impl Strategy<Value = (u8, C)> {
    let item = 0u8..6;
    let order = (0u8..6).prop_map(|o| format!("order-{o}"));
    let po = (0u8..2).prop_map(|p| format!("PO-{p}"));
    let cmd = prop_oneof![
        (1u64..20).prop_map(receive),
        (1u64..20, po.clone()).prop_map(|(q, p)| receive_po(q, &p)),
        (order.clone(), 1u64..15).prop_map(|(o, q)| reserve(&o, q)),
        (order.clone(), 1u64..15, po.clone()).prop_map(|(o, q, p)| reserve_inbound(&o, q, &p)),
        order.clone().prop_map(|o| release(&o)),
        (order.clone(), 1u64..5).prop_map(|(o, q)| release_some(&o, q)),
        (order.clone(), 1u64..6).prop_map(|(o, q)| C::ShipReserved {
            sku: SKU.into(),
            location: LOC.into(),
            order_id: o,
            line: 1,
            qty: q
        }),
        (order, 1u64..4).prop_map(|(o, q)| C::ReportPickShort {
            sku: SKU.into(),
            location: LOC.into(),
            order_id: o,
            line: 1,
            short: q
        }),
        (po.clone(), 1u64..30).prop_map(|(p, q)| schedule(&p, q)),
        po.prop_map(|p| C::CancelInbound {
            po_line: None,
            sku: SKU.into(),
            location: LOC.into(),
            po_id: p
        }),
        (0u64..25).prop_map(count),
        (
            -15i64..15,
            prop_oneof![
                Just(AdjustmentReason::Damage),
                Just(AdjustmentReason::Found)
            ]
        )
            .prop_map(|(d, r)| adjust(d, r)),
        any::<bool>().prop_map(|b| C::SetReorderPolicy {
            sku: SKU.into(),
            location: LOC.into(),
            policy: policy(b)
        }),
    ];
    (item, cmd)
}

/// Reservations per line, kept from the events alone (not the aggregate's code).
fn apply_to_ledger(ledger: &mut BTreeMap<String, i64>, event: &E) {
    let key = |o: &str, l: u32| format!("{o}#{l}");
    match event {
        E::StockReserved {
            order_id,
            line,
            qty,
            ..
        }
        | E::ReservationMovedToStock {
            order_id,
            line,
            qty,
            ..
        } => {
            *ledger.entry(key(order_id, *line)).or_default() += *qty as i64;
        }
        E::ReservationReleased {
            order_id,
            line,
            po_id: None,
            qty,
            ..
        }
        | E::StockShipped {
            order_id,
            line,
            qty,
            ..
        }
        | E::PickShortRecorded {
            order_id,
            line,
            short: qty,
            ..
        } => {
            *ledger.entry(key(order_id, *line)).or_default() -= *qty as i64;
        }
        _ => {}
    }
}

proptest! {
    /// Over random interleavings across several items: nothing is reserved
    /// beyond what was free (on hand or on the PO) when it was reserved;
    /// the reserved quantity always equals the sum of live reservations as
    /// the events tell them; every move that leaves on-hand below reserved
    /// records a ShortageRecorded saying by how much; a rejected command
    /// changes nothing.
    #[test]
    fn never_beyond_supply_reservations_add_up_and_shortages_are_explained(commands in prop::collection::vec(command(), 1..120)) {
        let mut items: BTreeMap<u8, (InventoryItem, BTreeMap<String, i64>)> = BTreeMap::new();
        for (item, c) in &commands {
            let (state, ledger) = items.entry(*item).or_default();
            let before = state.clone();
            if let Ok(events) = InventoryItem::decide(state, c) {
                for e in &events {
                    match e {
                        E::StockReserved { qty, .. } => prop_assert!(*qty <= before.free()),
                        E::InboundReserved { qty, po_id, .. } => prop_assert!(*qty <= before.inbound_free(po_id)),
                        _ => {}
                    }
                    *state = InventoryItem::evolve(state.clone(), e);
                    apply_to_ledger(ledger, e);
                }
                let live: i64 = ledger.values().sum();
                prop_assert_eq!(live, state.reserved() as i64);
                let recorded = events.iter().find_map(|e| match e { E::ShortageRecorded { short, .. } => Some(*short), _ => None });
                if state.on_hand < before.on_hand && state.on_hand < state.reserved() {
                    prop_assert_eq!(recorded, Some(state.reserved() - state.on_hand));
                } else {
                    prop_assert_eq!(recorded, None);
                }
                for (po, lines) in &state.inbound_reservations {
                    let due = state.inbound.get(po).map_or(0, |i| i.qty);
                    let promised: u64 = lines.values().sum();
                    prop_assert!(promised <= due, "{} promised on {} with {} due", promised, po, due);
                }
            } else { prop_assert_eq!(&*state, &before) }
        }
    }
}
