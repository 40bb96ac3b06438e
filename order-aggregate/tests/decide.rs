//! Given events, when a command, then events or a rejection: every command's
//! success and every rejection reason of the order.

use chrono::NaiveDate;
use decider::Reason;
use decider::{given, Decider};
use order_aggregate::{Order, Rejection};
use schemas::order::{
    LineQty, Notice, OrderCommand as C, OrderEvent as E, OrderLineInput, ReleasedAllocation,
    ReturnCondition, ShippedLine, SupplySource,
};
use schemas::InvalidField;

const ORDER: &str = "ORD-1";

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}
fn input(line: u32, sku: &str, qty: u64) -> OrderLineInput {
    OrderLineInput {
        need_date: None,
        line,
        sku: sku.into(),
        qty,
        unit_price_cents: 250,
    }
}
fn place_with(lines: Vec<OrderLineInput>) -> C {
    C::PlaceOrder {
        order_id: ORDER.into(),
        customer_id: "CUST-9".into(),
        lines,
        ship_to: "1 Quay St, Bristol".into(),
        channel: "web".into(),
        requested_date: day(5),
        priority: 1,
    }
}
fn placed() -> E {
    E::OrderPlaced {
        order_id: ORDER.into(),
        customer_id: "CUST-9".into(),
        lines: vec![input(1, "SKU-A", 4), input(2, "SKU-B", 2)],
        ship_to: "1 Quay St, Bristol".into(),
        channel: "web".into(),
        requested_date: day(5),
        priority: 1,
    }
}
fn note(notice: Notice, message: &str) -> E {
    E::CustomerNotified {
        order_id: ORDER.into(),
        customer_id: "CUST-9".into(),
        notice,
        message: message.into(),
    }
}
fn stock(location: &str) -> SupplySource {
    SupplySource::Stock {
        location: location.into(),
    }
}
fn inbound(po: &str, location: &str) -> SupplySource {
    SupplySource::Inbound {
        po_line: None,
        po_id: po.into(),
        location: location.into(),
    }
}
fn allocated(line: u32, sku: &str, qty: u64, source: SupplySource) -> E {
    E::LineAllocated {
        backorder_filled: Some(0),
        order_id: ORDER.into(),
        line,
        sku: sku.into(),
        qty,
        source,
        promise_date: day(6),
    }
}
fn authorized() -> E {
    E::PaymentAuthorized {
        order_id: ORDER.into(),
        amount_cents: 1500,
        reference: "AUTH-1".into(),
    }
}
fn lq(line: u32, qty: u64) -> LineQty {
    LineQty { line, qty }
}
fn released(lines: Vec<LineQty>) -> E {
    E::OrderReleased {
        order_id: ORDER.into(),
        lines,
    }
}
fn picked(line: u32, qty: u64) -> E {
    E::LinePicked {
        order_id: ORDER.into(),
        line,
        qty,
    }
}
fn packed(lines: Vec<LineQty>) -> E {
    E::OrderPacked {
        order_id: ORDER.into(),
        lines,
    }
}
fn shipped_line(line: u32, sku: &str, location: &str, qty: u64) -> ShippedLine {
    ShippedLine {
        line,
        sku: sku.into(),
        location: location.into(),
        qty,
    }
}
fn shipped(id: &str, lines: Vec<ShippedLine>) -> E {
    E::OrderShipped {
        order_id: ORDER.into(),
        shipment_id: id.into(),
        carrier: "DPD".into(),
        tracking: "TRK-1".into(),
        lines,
    }
}
fn ship(id: &str, lines: Vec<LineQty>) -> C {
    C::ShipOrder {
        order_id: ORDER.into(),
        shipment_id: id.into(),
        carrier: "DPD".into(),
        tracking: "TRK-1".into(),
        lines,
    }
}
/// Placed, paid, line 1 fully allocated at WH1, released, picked and packed.
fn ready_to_ship() -> Vec<E> {
    vec![
        placed(),
        authorized(),
        allocated(1, "SKU-A", 4, stock("WH1")),
        released(vec![lq(1, 4)]),
        picked(1, 4),
        packed(vec![lq(1, 4)]),
    ]
}
fn shipped_history() -> Vec<E> {
    let mut h = ready_to_ship();
    h.push(shipped("SHP-1", vec![shipped_line(1, "SKU-A", "WH1", 4)]));
    h
}
fn rma(lines: Vec<LineQty>) -> E {
    E::ReturnRequested {
        order_id: ORDER.into(),
        rma_id: "RMA-1".into(),
        lines,
    }
}

#[test]
fn placing_an_order_records_it_and_confirms_to_the_customer() {
    given::<Order>([])
        .when(place_with(vec![input(1, "SKU-A", 4), input(2, "SKU-B", 2)]))
        .then([
            placed(),
            note(Notice::OrderConfirmed, "Order ORD-1 confirmed: 6 items."),
        ]);
}

#[test]
fn a_bad_order_is_refused_with_its_reason() {
    given::<Order>([placed()])
        .when(place_with(vec![input(1, "SKU-A", 1)]))
        .then_rejected(Rejection::AlreadyPlaced);
    given::<Order>([])
        .when(place_with(vec![]))
        .then_rejected(Rejection::InvalidOrder("it has no lines"));
    given::<Order>([])
        .when(place_with(vec![input(1, "SKU-A", 1), input(1, "SKU-B", 1)]))
        .then_rejected(Rejection::InvalidOrder("two lines share a line number"));
    given::<Order>([])
        .when(place_with(vec![input(1, "SKU-A", 0)]))
        .then_rejected(Rejection::Invalid(InvalidField::Quantity { qty: 0 }));
    given::<Order>([])
        .when(place_with(vec![input(1, "SKU-A", 5_000_000)]))
        .then_rejected(Rejection::Invalid(InvalidField::Quantity {
            qty: 5_000_000,
        }));
    given::<Order>([])
        .when(place_with(vec![input(1, "SKU A", 1)]))
        .then_rejected(Rejection::Invalid(InvalidField::Id {
            field: "sku",
            problem: "must not contain whitespace, '@' or '#'",
        }));
    let mut no_address = place_with(vec![input(1, "SKU-A", 1)]);
    if let C::PlaceOrder { ship_to, .. } = &mut no_address {
        ship_to.clear();
    }
    given::<Order>([])
        .when(no_address)
        .then_rejected(Rejection::InvalidOrder("ship_to is empty"));
}

#[test]
fn commands_for_an_order_never_placed_are_refused() {
    given::<Order>([])
        .when(C::CapturePayment {
            order_id: ORDER.into(),
        })
        .then_rejected(Rejection::UnknownOrder);
}

#[test]
fn payment_authorizes_captures_and_fails_in_order() {
    let authorize = |amount| C::AuthorizePayment {
        order_id: ORDER.into(),
        amount_cents: amount,
        reference: "AUTH-1".into(),
    };
    given::<Order>([placed()])
        .when(authorize(1500))
        .then([authorized()]);
    given::<Order>([placed()])
        .when(authorize(1499))
        .then_rejected(Rejection::InvalidAmount {
            amount_cents: 1499,
            required_cents: 1500,
        });
    given::<Order>([placed(), authorized()])
        .when(authorize(1500))
        .then_rejected(Rejection::PaymentState {
            state: "authorized",
            action: "authorize again",
        });
    let capture = || C::CapturePayment {
        order_id: ORDER.into(),
    };
    let captured = E::PaymentCaptured {
        order_id: ORDER.into(),
        amount_cents: 1500,
    };
    given::<Order>([placed(), authorized()])
        .when(capture())
        .then([captured.clone()]);
    given::<Order>([placed()])
        .when(capture())
        .then_rejected(Rejection::PaymentNotAuthorized);
    given::<Order>([placed(), authorized(), captured.clone()])
        .when(capture())
        .then_rejected(Rejection::PaymentState {
            state: "captured",
            action: "capture again",
        });
    given::<Order>([placed(), authorized(), captured.clone()])
        .when(authorize(1500))
        .then_rejected(Rejection::PaymentState {
            state: "captured",
            action: "authorize",
        });
    let fail = || C::FailPayment {
        order_id: ORDER.into(),
        reason: "card declined".into(),
    };
    let failed = E::PaymentFailed {
        order_id: ORDER.into(),
        reason: "card declined".into(),
    };
    given::<Order>([placed(), authorized()]).when(fail()).then([
        failed.clone(),
        note(
            Notice::PaymentFailed,
            "Payment for order ORD-1 failed: card declined.",
        ),
    ]);
    given::<Order>([placed(), authorized(), captured])
        .when(fail())
        .then_rejected(Rejection::PaymentState {
            state: "captured",
            action: "fail",
        });
    given::<Order>([placed(), failed.clone()])
        .when(fail())
        .then_rejected(Rejection::PaymentState {
            state: "failed",
            action: "fail again",
        });
    // A new card after a failure.
    given::<Order>([placed(), failed])
        .when(authorize(1500))
        .then([authorized()]);
}

#[test]
fn lines_are_allocated_partially_and_the_rest_backordered() {
    let allocate = |line, qty, source| C::AllocateLine {
        order_id: ORDER.into(),
        line,
        qty,
        source,
        promise_date: day(6),
    };
    given::<Order>([placed()])
        .when(allocate(1, 3, stock("WH1")))
        .then([
            allocated(1, "SKU-A", 3, stock("WH1")),
            note(Notice::LinePromised, "3 × SKU-A promised for 2026-03-06."),
        ]);
    given::<Order>([placed(), allocated(1, "SKU-A", 3, stock("WH1"))])
        .when(allocate(1, 2, inbound("PO-1", "WH1")))
        .then_rejected(Rejection::OverAllocation {
            line: 1,
            requested: 2,
            open: 1,
        });
    given::<Order>([placed()])
        .when(allocate(7, 1, stock("WH1")))
        .then_rejected(Rejection::UnknownLine { line: 7 });
    let backorder = |qty| C::BackorderLine {
        order_id: ORDER.into(),
        line: 1,
        qty,
    };
    let backordered = E::LineBackordered {
        // The line's need date: the order's requested date, as no line date is given.
        need_date: Some(day(5)),
        order_id: ORDER.into(),
        line: 1,
        sku: "SKU-A".into(),
        qty: 1,
    };
    given::<Order>([placed(), allocated(1, "SKU-A", 3, stock("WH1"))])
        .when(backorder(1))
        .then([
            backordered.clone(),
            note(
                Notice::LineBackordered,
                "1 × SKU-A is backordered; we will confirm a date.",
            ),
        ]);
    given::<Order>([
        placed(),
        allocated(1, "SKU-A", 3, stock("WH1")),
        backordered.clone(),
    ])
    .when(backorder(1))
    .then_rejected(Rejection::OverAllocation {
        line: 1,
        requested: 1,
        open: 0,
    });
    // Supply for the backorder arrives: the allocation says it fills the backorder.
    given::<Order>([
        placed(),
        allocated(1, "SKU-A", 3, stock("WH1")),
        backordered.clone(),
    ])
    .when(allocate(1, 1, inbound("PO-1", "WH1")))
    .then([
        E::LineAllocated {
            backorder_filled: Some(1),
            order_id: ORDER.into(),
            line: 1,
            sku: "SKU-A".into(),
            qty: 1,
            source: inbound("PO-1", "WH1"),
            promise_date: day(6),
        },
        note(Notice::LinePromised, "1 × SKU-A promised for 2026-03-06."),
    ]);
    // Allocating it clears the backorder.
    let state = Order::fold(&[
        placed(),
        allocated(1, "SKU-A", 3, stock("WH1")),
        backordered,
        allocated(1, "SKU-A", 1, inbound("PO-1", "WH1")),
    ]);
    assert_eq!(state.lines[&1].backordered, 0);
    assert_eq!(state.lines[&1].open(), 0);
}

#[test]
fn a_line_needs_its_own_date_or_the_orders_requested_date() {
    let mut with_date = placed();
    if let E::OrderPlaced { lines, .. } = &mut with_date {
        lines[1].need_date = Some(day(20));
    }
    let state = Order::fold(&[with_date]);
    assert_eq!(state.need_date(1), Some(day(5)));
    assert_eq!(state.need_date(2), Some(day(20)));
    assert_eq!(state.need_date(3), None);
}

#[test]
fn a_repin_moves_stock_units_to_inbound_supply_and_keeps_the_promise() {
    let repin = |qty, from, to| C::RepinLine {
        order_id: ORDER.into(),
        line: 1,
        qty,
        from,
        to,
    };
    let history = [placed(), allocated(1, "SKU-A", 4, stock("WH1"))];
    let repinned = E::LineRepinned {
        order_id: ORDER.into(),
        line: 1,
        sku: "SKU-A".into(),
        qty: 3,
        from: stock("WH1"),
        to: inbound("PO-1", "WH1"),
        promise_date: day(6),
    };
    given::<Order>(history.clone())
        .when(repin(3, stock("WH1"), inbound("PO-1", "WH1")))
        .then([repinned.clone()]);
    let after = Order::fold(&[history[0].clone(), history[1].clone(), repinned]);
    let line = &after.lines[&1];
    assert_eq!(line.allocations[&stock("WH1")].qty, 1);
    assert_eq!(line.allocations[&inbound("PO-1", "WH1")].qty, 3);
    assert_eq!(
        line.allocations[&inbound("PO-1", "WH1")].promise_date,
        day(6)
    );
    assert_eq!(line.allocated(), 4);
    // More than the line holds there, inbound as the source, or a source it has no units from.
    given::<Order>(history.clone())
        .when(repin(5, stock("WH1"), inbound("PO-1", "WH1")))
        .then_rejected(Rejection::OverDeallocation {
            line: 1,
            qty: 5,
            allocated: 4,
        });
    given::<Order>(history.clone())
        .when(repin(1, inbound("PO-1", "WH1"), stock("WH1")))
        .then_rejected(Rejection::InvalidRepin { line: 1 });
    given::<Order>(history)
        .when(repin(1, stock("WH2"), inbound("PO-1", "WH1")))
        .then_rejected(Rejection::NoSuchAllocation {
            line: 1,
            supply: "stock at WH2".into(),
        });
}

#[test]
fn a_rescheduled_line_tells_the_customer_the_new_date() {
    let reschedule = |date| C::RescheduleLine {
        order_id: ORDER.into(),
        line: 1,
        source: inbound("PO-1", "WH1"),
        promise_date: date,
        reason: "purchase order PO-1 is now due 2026-03-12".into(),
    };
    let history = [placed(), allocated(1, "SKU-A", 4, inbound("PO-1", "WH1"))];
    given::<Order>(history.clone())
        .when(reschedule(day(12)))
        .then([
            E::LineRescheduled {
                order_id: ORDER.into(),
                line: 1,
                sku: "SKU-A".into(),
                qty: 4,
                source: inbound("PO-1", "WH1"),
                previous_date: day(6),
                promise_date: day(12),
                reason: "purchase order PO-1 is now due 2026-03-12".into(),
            },
            note(
                Notice::LinePromised,
                "4 × SKU-A is now promised for 2026-03-12 (was 2026-03-06): purchase order PO-1 is now due 2026-03-12.",
            ),
        ]);
    given::<Order>(history)
        .when(reschedule(day(6)))
        .then_rejected(Rejection::UnchangedPromise {
            line: 1,
            promise_date: day(6),
        });
}

#[test]
fn inbound_allocations_become_stock_when_the_po_arrives() {
    let history = vec![placed(), allocated(1, "SKU-A", 4, inbound("PO-1", "WH1"))];
    let receive = |po: &str, qty| C::ReceiveInboundAllocation {
        po_line: None,
        order_id: ORDER.into(),
        line: 1,
        po_id: po.into(),
        location: "WH1".into(),
        qty,
    };
    let received = E::InboundAllocationReceived {
        po_line: None,
        order_id: ORDER.into(),
        line: 1,
        po_id: "PO-1".into(),
        location: "WH1".into(),
        qty: 3,
    };
    given::<Order>(history.clone())
        .when(receive("PO-1", 3))
        .then([received.clone()]);
    given::<Order>(history.clone())
        .when(receive("PO-1", 5))
        .then_rejected(Rejection::ExceedsInboundAllocation {
            line: 1,
            qty: 5,
            allocated: 4,
        });
    given::<Order>(history.clone())
        .when(receive("PO-2", 1))
        .then_rejected(Rejection::UnknownAllocation {
            line: 1,
            po_id: "PO-2".into(),
            location: "WH1".into(),
        });
    let mut after = history;
    after.push(received);
    let line = &Order::fold(&after).lines[&1];
    assert_eq!(
        line.stock_allocated(),
        3,
        "a partial receipt moves only its units"
    );
    assert_eq!(line.allocated(), 4);
}

#[test]
fn a_lost_promise_is_deallocated_and_the_units_reopen() {
    let history = vec![placed(), allocated(1, "SKU-A", 4, inbound("PO-1", "WH1"))];
    let deallocate = |qty| C::DeallocateLine {
        order_id: ORDER.into(),
        line: 1,
        source: inbound("PO-1", "WH1"),
        qty,
        reason: "PO-1 cancelled".into(),
    };
    let deallocated = E::LineDeallocated {
        order_id: ORDER.into(),
        line: 1,
        sku: "SKU-A".into(),
        source: inbound("PO-1", "WH1"),
        qty: 3,
        reason: "PO-1 cancelled".into(),
    };
    given::<Order>(history.clone())
        .when(deallocate(3))
        .then([deallocated.clone()]);
    given::<Order>(history.clone())
        .when(deallocate(5))
        .then_rejected(Rejection::OverDeallocation {
            line: 1,
            qty: 5,
            allocated: 4,
        });
    let mut after = history;
    after.push(deallocated);
    assert_eq!(Order::fold(&after).lines[&1].open(), 3);
}

#[test]
fn release_needs_good_payment_and_allocated_stock() {
    let release = || C::ReleaseToWarehouse {
        order_id: ORDER.into(),
    };
    given::<Order>([
        placed(),
        authorized(),
        allocated(1, "SKU-A", 4, stock("WH1")),
        allocated(2, "SKU-B", 2, inbound("PO-1", "WH1")),
    ])
    .when(release())
    .then([released(vec![lq(1, 4)])]);
    given::<Order>([placed(), allocated(1, "SKU-A", 4, stock("WH1"))])
        .when(release())
        .then_rejected(Rejection::PaymentNotAuthorized);
    given::<Order>([
        placed(),
        allocated(1, "SKU-A", 4, stock("WH1")),
        E::PaymentFailed {
            order_id: ORDER.into(),
            reason: "card declined".into(),
        },
    ])
    .when(release())
    .then_rejected(Rejection::PaymentFailed {
        reason: "card declined".into(),
    });
    given::<Order>([placed(), authorized()])
        .when(release())
        .then_rejected(Rejection::NothingToRelease);
    // Already released: nothing new to give the warehouse.
    given::<Order>([
        placed(),
        authorized(),
        allocated(1, "SKU-A", 4, stock("WH1")),
        released(vec![lq(1, 4)]),
    ])
    .when(release())
    .then_rejected(Rejection::NothingToRelease);
}

#[test]
fn a_short_pick_is_reported_and_its_units_go_back_to_open() {
    let history = vec![
        placed(),
        authorized(),
        allocated(1, "SKU-A", 4, stock("WH1")),
        released(vec![lq(1, 4)]),
    ];
    let pick = |qty| C::RecordPick {
        order_id: ORDER.into(),
        line: 1,
        qty,
    };
    given::<Order>(history.clone())
        .when(pick(4))
        .then([picked(1, 4)]);
    let short = E::PickShort {
        order_id: ORDER.into(),
        line: 1,
        sku: "SKU-A".into(),
        location: "WH1".into(),
        short: 1,
    };
    given::<Order>(history.clone())
        .when(pick(3))
        .then([picked(1, 3), short.clone()]);
    given::<Order>(history.clone())
        .when(pick(5))
        .then_rejected(Rejection::OverPick {
            line: 1,
            qty: 5,
            expected: 4,
        });
    given::<Order>([placed(), authorized()])
        .when(pick(1))
        .then_rejected(Rejection::NothingToPick { line: 1 });
    let mut after = history;
    after.extend([picked(1, 3), short]);
    let state = Order::fold(&after);
    assert_eq!(
        state.lines[&1].open(),
        1,
        "the missing unit needs supply again"
    );
    assert_eq!(state.lines[&1].stock_allocated(), 3);
}

#[test]
fn packing_takes_what_is_picked() {
    let pack = || C::PackOrder {
        order_id: ORDER.into(),
    };
    given::<Order>([
        placed(),
        authorized(),
        allocated(1, "SKU-A", 4, stock("WH1")),
        released(vec![lq(1, 4)]),
        picked(1, 4),
    ])
    .when(pack())
    .then([packed(vec![lq(1, 4)])]);
    given::<Order>([placed(), authorized()])
        .when(pack())
        .then_rejected(Rejection::NothingToPack);
}

#[test]
fn shipping_sends_packed_units_from_their_location() {
    given::<Order>(ready_to_ship())
        .when(ship("SHP-1", vec![lq(1, 3)]))
        .then([
            shipped("SHP-1", vec![shipped_line(1, "SKU-A", "WH1", 3)]),
            note(Notice::Shipped, "3 items shipped with DPD, tracking TRK-1."),
        ]);
    given::<Order>(ready_to_ship())
        .when(ship("SHP-1", vec![lq(2, 1)]))
        .then_rejected(Rejection::OverShipment {
            line: 2,
            qty: 1,
            packed: 0,
        });
    // Ship before allocation.
    given::<Order>([placed(), authorized()])
        .when(ship("SHP-1", vec![lq(1, 1)]))
        .then_rejected(Rejection::OverShipment {
            line: 1,
            qty: 1,
            packed: 0,
        });
    given::<Order>(shipped_history())
        .when(ship("SHP-1", vec![lq(1, 1)]))
        .then_rejected(Rejection::DuplicateShipment("SHP-1".into()));
    given::<Order>(ready_to_ship())
        .when(ship("SHP-1", vec![lq(1, 1), lq(1, 1)]))
        .then_rejected(Rejection::InvalidOrder(
            "a line appears twice in a shipment",
        ));
    given::<Order>(ready_to_ship())
        .when(ship("SHP-1", vec![]))
        .then_rejected(Rejection::InvalidOrder("a shipment needs lines"));
    let state = Order::fold(&shipped_history());
    assert_eq!(state.lines[&1].shipped_total(), 4);
    assert_eq!(state.lines[&1].allocated(), 0);
}

#[test]
fn delivery_is_confirmed_once_per_shipment() {
    let deliver = |id: &str| C::ConfirmDelivery {
        order_id: ORDER.into(),
        shipment_id: id.into(),
    };
    let delivered = E::ShipmentDelivered {
        order_id: ORDER.into(),
        shipment_id: "SHP-1".into(),
    };
    given::<Order>(shipped_history())
        .when(deliver("SHP-1"))
        .then([
            delivered.clone(),
            note(Notice::Delivered, "Shipment SHP-1 was delivered."),
        ]);
    given::<Order>(shipped_history())
        .when(deliver("SHP-9"))
        .then_rejected(Rejection::UnknownShipment("SHP-9".into()));
    let mut history = shipped_history();
    history.push(delivered);
    given::<Order>(history)
        .when(deliver("SHP-1"))
        .then_rejected(Rejection::AlreadyDelivered("SHP-1".into()));
}

#[test]
fn cancelling_releases_allocations_until_something_ships() {
    let cancel = || C::CancelOrder {
        order_id: ORDER.into(),
        reason: "customer request".into(),
    };
    let history = vec![
        placed(),
        allocated(1, "SKU-A", 3, stock("WH1")),
        allocated(1, "SKU-A", 1, inbound("PO-1", "WH2")),
    ];
    let cancelled = E::OrderCancelled {
        order_id: ORDER.into(),
        reason: "customer request".into(),
        released: vec![
            ReleasedAllocation {
                line: 1,
                sku: "SKU-A".into(),
                source: stock("WH1"),
                qty: 3,
            },
            ReleasedAllocation {
                line: 1,
                sku: "SKU-A".into(),
                source: inbound("PO-1", "WH2"),
                qty: 1,
            },
        ],
    };
    given::<Order>(history.clone()).when(cancel()).then([
        cancelled.clone(),
        note(
            Notice::OrderCancelled,
            "Order ORD-1 is cancelled: customer request.",
        ),
    ]);
    given::<Order>(shipped_history())
        .when(cancel())
        .then_rejected(Rejection::AlreadyShipped);
    let mut picked_history = ready_to_ship();
    picked_history.truncate(5);
    given::<Order>(picked_history)
        .when(cancel())
        .then_rejected(Rejection::InFulfilment { line: 1 });
    let mut after = history;
    after.push(cancelled);
    given::<Order>(after.clone())
        .when(cancel())
        .then_rejected(Rejection::OrderCancelled);
    given::<Order>(after)
        .when(C::CapturePayment {
            order_id: ORDER.into(),
        })
        .then_rejected(Rejection::OrderCancelled);
}

#[test]
fn a_line_can_be_cancelled_before_it_is_picked() {
    let cancel = |line| C::CancelLine {
        order_id: ORDER.into(),
        line,
        reason: "out of range".into(),
    };
    let line_cancelled = E::LineCancelled {
        order_id: ORDER.into(),
        line: 2,
        reason: "out of range".into(),
        released: vec![ReleasedAllocation {
            line: 2,
            sku: "SKU-B".into(),
            source: stock("WH1"),
            qty: 2,
        }],
    };
    let history = vec![placed(), allocated(2, "SKU-B", 2, stock("WH1"))];
    given::<Order>(history.clone()).when(cancel(2)).then([
        line_cancelled.clone(),
        note(
            Notice::LineCancelled,
            "2 × SKU-B is cancelled: out of range.",
        ),
    ]);
    given::<Order>(shipped_history())
        .when(cancel(1))
        .then_rejected(Rejection::InFulfilment { line: 1 });
    let mut after = history;
    after.push(line_cancelled);
    given::<Order>(after)
        .when(cancel(2))
        .then_rejected(Rejection::LineCancelled { line: 2 });
}

#[test]
fn returns_are_authorized_received_and_refunded_in_turn() {
    let request = |qty| C::RequestReturn {
        order_id: ORDER.into(),
        rma_id: "RMA-1".into(),
        lines: vec![lq(1, qty)],
    };
    given::<Order>(shipped_history()).when(request(2)).then([
        rma(vec![lq(1, 2)]),
        note(Notice::ReturnAuthorized, "Return RMA-1 is authorized."),
    ]);
    given::<Order>(shipped_history())
        .when(request(5))
        .then_rejected(Rejection::OverReturn {
            line: 1,
            qty: 5,
            returnable: 4,
        });
    let mut requested = shipped_history();
    requested.push(rma(vec![lq(1, 2)]));
    given::<Order>(requested.clone())
        .when(request(1))
        .then_rejected(Rejection::DuplicateReturn("RMA-1".into()));

    let receive = || C::ReceiveReturn {
        order_id: ORDER.into(),
        rma_id: "RMA-1".into(),
        condition: ReturnCondition::Resellable,
    };
    let received = E::ReturnReceived {
        order_id: ORDER.into(),
        rma_id: "RMA-1".into(),
        condition: ReturnCondition::Resellable,
        lines: vec![shipped_line(1, "SKU-A", "WH1", 2)],
    };
    given::<Order>(requested.clone()).when(receive()).then([
        received.clone(),
        note(Notice::ReturnReceived, "We received return RMA-1."),
    ]);
    given::<Order>(shipped_history())
        .when(receive())
        .then_rejected(Rejection::UnknownReturn("RMA-1".into()));

    let refund = |amount| C::RefundReturn {
        order_id: ORDER.into(),
        rma_id: "RMA-1".into(),
        amount_cents: amount,
    };
    given::<Order>(requested.clone())
        .when(refund(500))
        .then_rejected(Rejection::ReturnState {
            rma_id: "RMA-1".into(),
            state: "not received",
            action: "refund",
        });
    let mut received_history = requested;
    received_history.push(received);
    given::<Order>(received_history.clone())
        .when(receive())
        .then_rejected(Rejection::ReturnState {
            rma_id: "RMA-1".into(),
            state: "received",
            action: "receive again",
        });
    let refunded = E::ReturnRefunded {
        order_id: ORDER.into(),
        rma_id: "RMA-1".into(),
        amount_cents: 500,
    };
    given::<Order>(received_history.clone())
        .when(refund(500))
        .then([
            refunded.clone(),
            note(Notice::Refunded, "Return RMA-1 refunded: 500 cents."),
        ]);
    given::<Order>(received_history.clone())
        .when(refund(501))
        .then_rejected(Rejection::InvalidAmount {
            amount_cents: 501,
            required_cents: 500,
        });
    received_history.push(refunded);
    given::<Order>(received_history)
        .when(refund(1))
        .then_rejected(Rejection::ReturnState {
            rma_id: "RMA-1".into(),
            state: "refunded",
            action: "refund again",
        });
}

#[test]
fn every_rejection_has_a_distinct_code_and_a_message() {
    let samples = [
        Rejection::Invalid(InvalidField::Id {
            field: "sku",
            problem: "x",
        }),
        Rejection::Invalid(InvalidField::Quantity { qty: 0 }),
        Rejection::InvalidOrder("x"),
        Rejection::AlreadyPlaced,
        Rejection::UnknownOrder,
        Rejection::OrderCancelled,
        Rejection::UnknownLine { line: 1 },
        Rejection::LineCancelled { line: 1 },
        Rejection::OverAllocation {
            line: 1,
            requested: 2,
            open: 1,
        },
        Rejection::OverDeallocation {
            line: 1,
            qty: 2,
            allocated: 1,
        },
        Rejection::ExceedsInboundAllocation {
            line: 1,
            qty: 2,
            allocated: 1,
        },
        Rejection::UnknownAllocation {
            line: 1,
            po_id: "P".into(),
            location: "L".into(),
        },
        Rejection::PaymentNotAuthorized,
        Rejection::PaymentFailed { reason: "x".into() },
        Rejection::PaymentState {
            state: "x",
            action: "y",
        },
        Rejection::InvalidAmount {
            amount_cents: 1,
            required_cents: 2,
        },
        Rejection::NothingToRelease,
        Rejection::OverPick {
            line: 1,
            qty: 2,
            expected: 1,
        },
        Rejection::NothingToPick { line: 1 },
        Rejection::NothingToPack,
        Rejection::OverShipment {
            line: 1,
            qty: 2,
            packed: 1,
        },
        Rejection::DuplicateShipment("S".into()),
        Rejection::UnknownShipment("S".into()),
        Rejection::AlreadyDelivered("S".into()),
        Rejection::AlreadyShipped,
        Rejection::InFulfilment { line: 1 },
        Rejection::OverReturn {
            line: 1,
            qty: 2,
            returnable: 1,
        },
        Rejection::DuplicateReturn("R".into()),
        Rejection::UnknownReturn("R".into()),
        Rejection::ReturnState {
            rma_id: "R".into(),
            state: "x",
            action: "y",
        },
    ];
    let codes: std::collections::BTreeSet<_> = samples.iter().map(Rejection::code).collect();
    assert_eq!(codes.len(), samples.len());
    assert!(samples.iter().all(|r| !r.to_string().is_empty()));
}

#[test]
fn the_state_survives_a_json_round_trip_for_snapshots() {
    let mut history = shipped_history();
    history.push(allocated(2, "SKU-B", 1, inbound("PO-1", "WH2")));
    let state = Order::fold(&history);
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<Order>(&json).unwrap(), state);
}
