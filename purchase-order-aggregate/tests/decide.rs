//! Given events, when a command, then events or a rejection: every
//! command's success and every rejection reason of the purchase order.

use chrono::NaiveDate;
use decider::{given, Decider};
use purchase_order_aggregate::{PurchaseOrder, Rejection};
use schemas::purchasing::{
    OpenLine, PoLineInput, PurchaseOrderCommand as C, PurchaseOrderEvent as E,
};
use schemas::InvalidField;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}
fn line(n: u32, qty: u64) -> PoLineInput {
    PoLineInput {
        line: n,
        sku: if n == 2 { "SKU-B" } else { "SKU-A" }.into(),
        location: "WH1".into(),
        qty,
        unit_cost_cents: 300,
        expected_date: day(10),
    }
}
fn place(lines: Vec<PoLineInput>) -> C {
    C::PlacePurchaseOrder {
        basis: None,
        po_id: "PO-1".into(),
        supplier_id: "SUP-1".into(),
        ordered_on: day(1),
        lines,
        over_receipt_tolerance_pct: 10,
    }
}
fn placed() -> E {
    E::PurchaseOrderPlaced {
        basis: None,
        po_id: "PO-1".into(),
        supplier_id: "SUP-1".into(),
        ordered_on: day(1),
        lines: vec![line(1, 100), line(2, 20)],
        over_receipt_tolerance_pct: 10,
    }
}
fn receive(n: u32, qty: u64, on: u32) -> C {
    C::ReceivePurchaseOrderLine {
        po_id: "PO-1".into(),
        line: n,
        qty,
        received_on: day(on),
    }
}
fn received(n: u32, qty: u64, on: u32, over: u64) -> E {
    E::PurchaseOrderReceived {
        po_id: "PO-1".into(),
        line: n,
        sku: line(n, 0).sku,
        location: "WH1".into(),
        qty,
        unit_cost_cents: 300,
        received_on: day(on),
        lead_time_days: i64::from(on) - 1,
        days_late: i64::from(on) - 10,
        over_received: over,
    }
}
fn open(n: u32, qty: u64) -> OpenLine {
    OpenLine {
        line: n,
        sku: line(n, 0).sku,
        location: "WH1".into(),
        open_qty: qty,
    }
}

#[test]
fn a_purchase_order_is_placed_and_confirmed() {
    given::<PurchaseOrder>([])
        .when(place(vec![line(1, 100), line(2, 20)]))
        .then([placed()]);
    given::<PurchaseOrder>([placed()])
        .when(C::ConfirmPurchaseOrder {
            po_id: "PO-1".into(),
        })
        .then([E::PurchaseOrderConfirmed {
            po_id: "PO-1".into(),
        }]);
    given::<PurchaseOrder>([
        placed(),
        E::PurchaseOrderConfirmed {
            po_id: "PO-1".into(),
        },
    ])
    .when(C::ConfirmPurchaseOrder {
        po_id: "PO-1".into(),
    })
    .then_rejected(Rejection::AlreadyConfirmed);
}

#[test]
fn a_bad_purchase_order_is_refused() {
    given::<PurchaseOrder>([placed()])
        .when(place(vec![line(1, 1)]))
        .then_rejected(Rejection::AlreadyPlaced);
    given::<PurchaseOrder>([])
        .when(place(vec![]))
        .then_rejected(Rejection::InvalidPurchaseOrder("it has no lines"));
    given::<PurchaseOrder>([])
        .when(place(vec![line(1, 1), line(1, 2)]))
        .then_rejected(Rejection::InvalidPurchaseOrder(
            "two lines share a line number",
        ));
    // A delivery schedule (the same SKU to the same place on two lines, on
    // two dates) is a PO like any other.
    let mut twice = line(2, 1);
    twice.sku = "SKU-A".into();
    twice.expected_date += chrono::Duration::days(14);
    assert!(matches!(
        PurchaseOrder::decide(&PurchaseOrder::default(), &place(vec![line(1, 1), twice])).as_deref(),
        Ok([E::PurchaseOrderPlaced { lines, .. }]) if lines.len() == 2
    ));
    given::<PurchaseOrder>([])
        .when(place(vec![line(1, 0)]))
        .then_rejected(Rejection::Invalid(InvalidField::Quantity { qty: 0 }));
    let mut early = line(1, 5);
    early.expected_date = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
    given::<PurchaseOrder>([])
        .when(place(vec![early]))
        .then_rejected(Rejection::InvalidPurchaseOrder(
            "a line is expected before the order date",
        ));
    let mut bad = line(1, 5);
    bad.location = "W H".into();
    given::<PurchaseOrder>([])
        .when(place(vec![bad]))
        .then_rejected(Rejection::Invalid(InvalidField::Id {
            field: "location",
            problem: "must not contain whitespace, '@' or '#'",
        }));
    given::<PurchaseOrder>([])
        .when(C::PlacePurchaseOrder {
            basis: None,
            po_id: "PO-1".into(),
            supplier_id: "SUP-1".into(),
            ordered_on: day(1),
            lines: vec![line(1, 5)],
            over_receipt_tolerance_pct: 150,
        })
        .then_rejected(Rejection::InvalidPurchaseOrder(
            "the over-receipt tolerance is above 100 %",
        ));
    given::<PurchaseOrder>([])
        .when(C::ConfirmPurchaseOrder {
            po_id: "PO-1".into(),
        })
        .then_rejected(Rejection::UnknownPurchaseOrder);
}

#[test]
fn receipts_may_be_partial_late_or_over_within_tolerance() {
    given::<PurchaseOrder>([placed()])
        .when(receive(1, 40, 8))
        .then([received(1, 40, 8, 0)]);
    // Late: the 14th against the 10th expected.
    given::<PurchaseOrder>([placed(), received(1, 40, 8, 0)])
        .when(receive(1, 60, 14))
        .then([received(1, 60, 14, 0)]);
    // 108 of 100 is within 10 %.
    given::<PurchaseOrder>([placed(), received(1, 40, 8, 0)])
        .when(receive(1, 68, 9))
        .then([received(1, 68, 9, 8)]);
    given::<PurchaseOrder>([placed(), received(1, 40, 8, 0)])
        .when(receive(1, 71, 9))
        .then_rejected(Rejection::OverTolerance {
            line: 1,
            qty: 71,
            total: 111,
            ordered: 100,
            allowed: 110,
        });
    given::<PurchaseOrder>([placed()])
        .when(receive(3, 1, 9))
        .then_rejected(Rejection::UnknownLine { line: 3 });
    given::<PurchaseOrder>([placed()])
        .when(C::ReceivePurchaseOrderLine {
            po_id: "PO-1".into(),
            line: 1,
            qty: 5,
            received_on: NaiveDate::from_ymd_opt(2026, 2, 27).unwrap(),
        })
        .then_rejected(Rejection::ReceivedBeforeOrdered {
            received_on: NaiveDate::from_ymd_opt(2026, 2, 27).unwrap(),
            ordered_on: day(1),
        });
}

#[test]
fn lines_are_redated_and_cancelled_while_open() {
    let redate = C::RedatePurchaseOrderLine {
        po_id: "PO-1".into(),
        line: 1,
        expected_date: day(20),
    };
    given::<PurchaseOrder>([placed(), received(1, 40, 8, 0)])
        .when(redate.clone())
        .then([E::PurchaseOrderLineRedated {
            po_id: "PO-1".into(),
            line: 1,
            sku: "SKU-A".into(),
            location: "WH1".into(),
            expected_date: day(20),
            open_qty: 60,
        }]);
    given::<PurchaseOrder>([placed(), received(1, 100, 8, 0)])
        .when(redate)
        .then_rejected(Rejection::NothingOpen { line: 1 });
    let cancel = C::CancelPurchaseOrderLine {
        po_id: "PO-1".into(),
        line: 2,
    };
    let cancelled = E::PurchaseOrderLineCancelled {
        po_id: "PO-1".into(),
        open: open(2, 20),
    };
    given::<PurchaseOrder>([placed()])
        .when(cancel.clone())
        .then([cancelled.clone()]);
    given::<PurchaseOrder>([placed(), cancelled])
        .when(receive(2, 1, 9))
        .then_rejected(Rejection::LineCancelled { line: 2 });
}

#[test]
fn closing_drops_what_is_still_open_and_ends_the_order() {
    let close = C::ClosePurchaseOrder {
        po_id: "PO-1".into(),
    };
    let closed = E::PurchaseOrderClosed {
        po_id: "PO-1".into(),
        short: vec![open(1, 60), open(2, 20)],
    };
    given::<PurchaseOrder>([placed(), received(1, 40, 8, 0)])
        .when(close.clone())
        .then([closed.clone()]);
    given::<PurchaseOrder>([placed(), received(1, 40, 8, 0), closed])
        .when(receive(1, 1, 12))
        .then_rejected(Rejection::Closed);
}
