//! The ATP read model against a real store: folded from inventory events,
//! caught up incrementally, equal to a rebuild, and answering promises.

use chrono::NaiveDate;
use event_store::{AppendRequest, ExpectedVersion, NewEvent, Store, StoreConfig, StreamId};
use projections::atp::{AtpModel, AtpProjection};
use projections::projection::{check, rebuild};
use projections::ProjectionError;
use schemas::EventType;
use schemas::InventoryEvent;

fn d(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, n).unwrap()
}

fn record(store: &Store, item: &str, event: InventoryEvent) {
    let payload = serde_json::to_value(&event).unwrap();
    store
        .append_blocking(AppendRequest::new(
            StreamId::new(format!("inventory-{item}")).unwrap(),
            ExpectedVersion::Any,
            vec![NewEvent::new(event.event_type(), payload)],
        ))
        .unwrap();
}

fn received(sku: &str, location: &str, qty: u64) -> InventoryEvent {
    InventoryEvent::StockReceived {
        po_line: None,
        sku: sku.into(),
        location: location.into(),
        qty,
        reference: None,
        po_id: None,
    }
}

fn reserved(sku: &str, location: &str, order: &str, qty: u64) -> InventoryEvent {
    InventoryEvent::StockReserved {
        need_date: None,
        sku: sku.into(),
        location: location.into(),
        order_id: order.into(),
        line: 1,
        qty,
    }
}

/// PO-1 brings `qty` MUG to WH2 on the 10th.
fn due_at_wh2_on_the_10th(qty: u64) -> InventoryEvent {
    InventoryEvent::InboundScheduled {
        po_line: None,
        sku: "MUG".into(),
        location: "WH2".into(),
        po_id: "PO-1".into(),
        qty,
        expected_date: d(10),
    }
}

#[test]
fn atp_is_folded_from_the_log_versioned_and_equal_to_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    record(&store, "MUG@WH1", received("MUG", "WH1", 10));
    record(&store, "MUG@WH1", reserved("MUG", "WH1", "SO-1", 4));
    record(&store, "MUG@WH2", received("MUG", "WH2", 3));
    record(&store, "TOWEL@WH1", received("TOWEL", "WH1", 7));
    record(&store, "MUG@WH2", due_at_wh2_on_the_10th(20));

    let model = AtpModel::open(&store).unwrap();
    assert_eq!(model.catch_up().unwrap(), 5);
    let atp = model.sku("MUG", None, d(2)).unwrap();
    // WH1: 10 on hand, 4 reserved; WH2: 3 on hand and 20 due on the 10th.
    assert_eq!(atp.atp_now, 6 + 3);
    assert_eq!(atp.version, 4, "four events touched MUG");
    assert_eq!(atp.phased.cumulative_on(d(2)), 9);
    assert_eq!(atp.phased.cumulative_on(d(10)), 29);
    let wh2 = atp.locations.iter().find(|l| l.location == "WH2").unwrap();
    assert_eq!((wh2.inbound[0].due, wh2.inbound[0].promised), (20, 0));

    // Caught up incrementally: one more reservation moves the version and ATP.
    record(&store, "MUG@WH2", reserved("MUG", "WH2", "SO-2", 2));
    assert_eq!(model.catch_up().unwrap(), 1);
    let live = model.sku("MUG", None, d(2)).unwrap();
    assert_eq!((live.atp_now, live.version), (7, 5));
    assert_eq!(model.version("TOWEL").unwrap(), 1);

    // The checker finds the live model equal to a fresh rebuild, and says
    // where it is not once the live copy is tampered with.
    let report = check(&store, model.read_model(), &AtpProjection).unwrap();
    assert!(report.agrees(), "{:?}", report.differences);
    assert_eq!((report.checkpoint, report.keys), (Some(6), 3 + 2));
    model
        .values()
        .write_outside_fold(b"version/MUG", &9u64.to_be_bytes())
        .unwrap();
    let report = check(&store, model.read_model(), &AtpProjection).unwrap();
    assert_eq!(report.differences.len(), 1);
    assert_eq!(report.differences[0].key, "version/MUG");

    // A rebuild swaps a fresh copy in: the same answers as before the tampering,
    // through the same handle.
    let live_json = serde_json::to_string(&live).unwrap();
    let rebuilt = rebuild(&store, model.read_model(), &AtpProjection).unwrap();
    assert_eq!((rebuilt.events, rebuilt.checkpoint), (6, Some(6)));
    let after = serde_json::to_string(&model.sku("MUG", None, d(2)).unwrap()).unwrap();
    assert_eq!(after, live_json);
    assert!(check(&store, model.read_model(), &AtpProjection)
        .unwrap()
        .agrees());
    // The swap survives a reopen, and the replaced copy is gone.
    drop(model);
    drop(store);
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let model = AtpModel::open(&store).unwrap();
    assert_eq!(model.catch_up().unwrap(), 0);
    assert_eq!(model.version("MUG").unwrap(), 5);

    assert!(matches!(
        model.sku("KETTLE", None, d(2)),
        Err(ProjectionError::UnknownSku(_))
    ));
}

#[test]
fn a_promise_says_yes_or_no_from_which_sources_and_the_earliest_date() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    record(&store, "MUG@WH1", received("MUG", "WH1", 5));
    record(&store, "MUG@WH2", received("MUG", "WH2", 2));
    record(&store, "MUG@WH2", due_at_wh2_on_the_10th(10));
    let model = AtpModel::open(&store).unwrap();
    model.catch_up().unwrap();

    let now = model.promise("MUG", 6, d(2), None, d(2)).unwrap();
    assert!(now.can_promise);
    assert_eq!(now.sources, [("WH1".to_owned(), 5), ("WH2".to_owned(), 1)]);

    let too_soon = model.promise("MUG", 12, d(5), None, d(2)).unwrap();
    assert!(!too_soon.can_promise);
    assert_eq!(
        too_soon.earliest,
        Some(d(10)),
        "the PO makes it possible on the 10th"
    );
    let later = model.promise("MUG", 12, d(10), None, d(2)).unwrap();
    assert!(later.can_promise);
    assert_eq!(later.sources, [("WH2".to_owned(), 12)]);

    let one_place = model.promise("MUG", 6, d(2), Some("WH1"), d(2)).unwrap();
    assert!(!one_place.can_promise);
    assert_eq!(
        model
            .promise("MUG", 100, d(20), None, d(2))
            .unwrap()
            .earliest,
        None
    );
}

/// The master-scheduling textbook example of discrete and cumulative ATP:
/// W. J. Stevenson, *Operations Management* (McGraw-Hill), the master
/// scheduling section, the industrial-pump example. 64 pumps on hand; the
/// MPS brings lots of 70 in weeks 3, 5, 7 and 8; booked customer orders are
/// 33, 20, 10, 4 and 2 in weeks 1 to 5. With the look-ahead rule the book
/// gives discrete ATP 11 (week 1: 64 − 33 − 20), 56 (week 3: 70 − 10 − 4),
/// 68 (week 5), 70 and 70, and 0 in weeks without an MPS quantity;
/// cumulative ATP (without look-ahead: running sum) 11, 11, 67, 67, 135,
/// 135, 205, 275. Reproduced row by row, a week as a day.
#[test]
fn the_textbook_pump_example_is_reproduced_row_by_row() {
    use projections::phased::time_phased;
    let week =
        |w: i64| NaiveDate::from_ymd_opt(2026, 6, 1).unwrap() + chrono::Duration::weeks(w - 1);
    let supply = [
        (week(1), 64),
        (week(3), 70),
        (week(5), 70),
        (week(7), 70),
        (week(8), 70),
    ];
    let orders = [
        (week(1), 33),
        (week(2), 20),
        (week(3), 10),
        (week(4), 4),
        (week(5), 2),
    ];
    let phased = time_phased(&supply, &orders);
    let rows: Vec<(NaiveDate, u64, u64, u64, i64)> = phased
        .buckets
        .iter()
        .map(|b| (b.day, b.supply, b.requirements, b.atp, b.cumulative))
        .collect();
    assert_eq!(
        rows,
        [
            (week(1), 64, 33, 11, 11),
            (week(2), 0, 20, 0, 11),
            (week(3), 70, 10, 56, 67),
            (week(4), 0, 4, 0, 67),
            (week(5), 70, 2, 68, 135),
            (week(7), 70, 0, 70, 205),
            (week(8), 70, 0, 70, 275),
        ]
    );
    // Week 6 has no row in the book's sense either: its cumulative ATP carries.
    assert_eq!(phased.cumulative_on(week(6)), 135);
    assert_eq!(phased.uncovered, 0);
    // So 60 more can be promised from week 3 on, not before.
    assert_eq!(phased.earliest(60), Some(week(3)));
}

fn record_order(store: &Store, order_id: &str, event: schemas::OrderEvent) {
    let payload = serde_json::to_value(&event).unwrap();
    store
        .append_blocking(AppendRequest::new(
            StreamId::new(format!("order-{order_id}")).unwrap(),
            ExpectedVersion::Any,
            vec![NewEvent::new(event.event_type(), payload)],
        ))
        .unwrap();
}

fn lamp_due_on_the_10th(po_id: &str, qty: u64, day: u32) -> InventoryEvent {
    InventoryEvent::InboundScheduled {
        po_line: None,
        sku: "LAMP".into(),
        location: "WH1".into(),
        po_id: po_id.into(),
        qty,
        expected_date: d(day),
    }
}

#[test]
fn a_reservation_is_a_requirement_on_its_need_date_not_on_the_day_it_was_made() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    record(&store, "LAMP@WH1", received("LAMP", "WH1", 10));
    record(&store, "LAMP@WH1", lamp_due_on_the_10th("PO-1", 10, 10));
    // All 10 on hand are held for an order needed on the 20th...
    record(
        &store,
        "LAMP@WH1",
        InventoryEvent::StockReserved {
            sku: "LAMP".into(),
            location: "WH1".into(),
            order_id: "SO-20".into(),
            line: 1,
            qty: 10,
            need_date: Some(d(20)),
        },
    );
    let model = AtpModel::open(&store).unwrap();
    model.catch_up().unwrap();
    let atp = model.sku("LAMP", None, d(2)).unwrap();
    // ...which PO-1 (the 10th) covers: 10 can still be promised today.
    let rows: Vec<(u32, u64, u64, u64, i64)> = atp
        .phased
        .buckets
        .iter()
        .map(|b| {
            use chrono::Datelike;
            (b.day.day(), b.supply, b.requirements, b.atp, b.cumulative)
        })
        .collect();
    assert_eq!(
        rows,
        [(2, 10, 0, 10, 10), (10, 10, 0, 0, 10), (20, 0, 10, 0, 10)]
    );
    assert_eq!(atp.atp_now, 10);
    assert_eq!(atp.locations[0].atp_now, 10);
    assert!(
        model
            .promise("LAMP", 10, d(2), None, d(2))
            .unwrap()
            .can_promise
    );
    assert!(
        !model
            .promise("LAMP", 11, d(30), None, d(2))
            .unwrap()
            .can_promise
    );
}

#[test]
fn backordered_units_are_requirements_so_atp_never_offers_what_is_already_owed() {
    use schemas::order::OrderEvent;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    record(&store, "LAMP@WH1", lamp_due_on_the_10th("PO-1", 10, 10));
    let backordered = |order_id: &str, qty| OrderEvent::LineBackordered {
        order_id: order_id.into(),
        line: 1,
        sku: "LAMP".into(),
        qty,
        need_date: Some(d(3)),
    };
    record_order(&store, "SO-1", backordered("SO-1", 6));
    record_order(&store, "SO-2", backordered("SO-2", 4));
    let model = AtpModel::open(&store).unwrap();
    model.catch_up().unwrap();
    let atp = model.sku("LAMP", None, d(2)).unwrap();
    assert_eq!(atp.backordered, 10);
    assert_eq!(atp.atp_now, 0);
    let promise = model.promise("LAMP", 10, d(20), None, d(2)).unwrap();
    assert_eq!((promise.can_promise, promise.confirmable), (false, 0));
    assert_eq!(promise.earliest, None);

    // SO-1's backorder is filled from the PO, SO-2 is cancelled: 4 free again.
    record_order(
        &store,
        "SO-1",
        OrderEvent::LineAllocated {
            order_id: "SO-1".into(),
            line: 1,
            sku: "LAMP".into(),
            qty: 6,
            source: schemas::order::SupplySource::Inbound {
                po_line: None,
                po_id: "PO-1".into(),
                location: "WH1".into(),
            },
            promise_date: d(10),
            backorder_filled: Some(6),
        },
    );
    record(
        &store,
        "LAMP@WH1",
        InventoryEvent::InboundReserved {
            po_line: None,
            sku: "LAMP".into(),
            location: "WH1".into(),
            order_id: "SO-1".into(),
            line: 1,
            qty: 6,
            po_id: "PO-1".into(),
            expected_date: d(10),
            need_date: Some(d(3)),
        },
    );
    record_order(
        &store,
        "SO-2",
        OrderEvent::OrderCancelled {
            order_id: "SO-2".into(),
            reason: "no longer needed".into(),
            released: Vec::new(),
        },
    );
    model.catch_up().unwrap();
    let atp = model.sku("LAMP", None, d(2)).unwrap();
    assert_eq!(atp.backordered, 0);
    assert_eq!(
        model
            .promise("LAMP", 4, d(10), None, d(2))
            .unwrap()
            .confirmable,
        4
    );
    assert!(check(&store, model.read_model(), &AtpProjection)
        .unwrap()
        .agrees());
}

#[test]
fn an_overdue_po_is_shown_and_not_promised_from_and_the_screen_agrees_with_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    record(&store, "LAMP@WH1", received("LAMP", "WH1", 3));
    record(&store, "LAMP@WH1", lamp_due_on_the_10th("PO-LATE", 10, 1));
    let model = AtpModel::open(&store).unwrap();
    model.catch_up().unwrap();
    let atp = model.sku("LAMP", None, d(2)).unwrap();
    assert_eq!(atp.overdue, 10);
    assert!(atp.locations[0].inbound[0].overdue);
    // ATP now, today's row and the promise all say 3.
    assert_eq!(atp.atp_now, 3);
    assert_eq!(atp.phased.buckets.len(), 1);
    assert_eq!(atp.phased.buckets[0].cumulative, 3);
    assert_eq!(
        model
            .promise("LAMP", 5, d(30), None, d(2))
            .unwrap()
            .confirmable,
        3
    );
}
