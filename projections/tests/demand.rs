//! The demand history against a real store: unconstrained demand by the
//! day it was ordered, where it belongs, late facts, lead times, forecast
//! accuracy, and equal to a rebuild.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use event_store::{AppendRequest, ExpectedVersion, NewEvent, Store, StoreConfig, StreamId};
use projections::demand::{Bucket, DemandModel, DemandProjection, UNASSIGNED};
use projections::projection::{check, rebuild};
use schemas::inventory::{LotSizing, SupplyTerms};
use schemas::order::{OrderLineInput, SupplySource};
use schemas::{EventType, InventoryEvent, OrderEvent, PurchaseOrderEvent};

fn d(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, day).unwrap()
}

fn noon(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(12, 0, 0).unwrap())
}

fn record<E: serde::Serialize + EventType>(store: &Store, stream: &str, at: NaiveDate, event: &E) {
    let payload = serde_json::to_value(event).unwrap();
    store
        .append_blocking(AppendRequest::new(
            StreamId::new(stream).unwrap(),
            ExpectedVersion::Any,
            vec![NewEvent::new(event.event_type(), payload).at(noon(at))],
        ))
        .unwrap();
}

fn placed(order: &str, lines: &[(u32, &str, u64)]) -> OrderEvent {
    OrderEvent::OrderPlaced {
        order_id: order.into(),
        customer_id: "C-1".into(),
        lines: lines
            .iter()
            .map(|(line, sku, qty)| OrderLineInput {
                line: *line,
                sku: (*sku).into(),
                qty: *qty,
                unit_price_cents: 100,
                need_date: None,
            })
            .collect(),
        ship_to: "1 Main St".into(),
        channel: "web".into(),
        requested_date: d(3, 20),
        priority: 0,
    }
}

fn order(store: &Store, at: NaiveDate, id: &str, lines: &[(u32, &str, u64)]) {
    record(store, &format!("order-{id}"), at, &placed(id, lines));
}

fn supply_set() -> InventoryEvent {
    InventoryEvent::SupplySet {
        sku: "MUG".into(),
        location: "WH1".into(),
        terms: SupplyTerms {
            supplier_id: "ACME".into(),
            lead_time_days: 7,
            moq: 1,
            pack_size: 1,
            unit_cost_cents: 100,
            order_cost_cents: 0,
            holding_rate_bp: 2500,
            service_level_bp: 9500,
            sizing: LotSizing::Eoq,
            auto_order: false,
        },
    }
}

/// The scenario of the tests: orders served, backordered, cancelled by the
/// customer and after a shortage, a late order, a receipt.
fn scenario(store: &Store) {
    record(
        store,
        "inventory-MUG@WH2",
        d(3, 1),
        &InventoryEvent::StockReceived {
            sku: "MUG".into(),
            location: "WH2".into(),
            qty: 1,
            reference: None,
            po_id: None,
            po_line: None,
        },
    );
    record(store, "inventory-MUG@WH1", d(3, 1), &supply_set());
    order(store, d(3, 2), "SO-1", &[(1, "MUG", 5), (2, "CUP", 2)]);
    record(
        store,
        "order-SO-1",
        d(3, 2),
        &OrderEvent::LineAllocated {
            order_id: "SO-1".into(),
            line: 1,
            sku: "MUG".into(),
            qty: 5,
            source: SupplySource::Stock {
                location: "WH1".into(),
            },
            promise_date: d(3, 20),
            backorder_filled: None,
        },
    );
    order(store, d(3, 3), "SO-2", &[(1, "MUG", 3)]);
    record(
        store,
        "order-SO-2",
        d(3, 3),
        &OrderEvent::LineBackordered {
            order_id: "SO-2".into(),
            line: 1,
            sku: "MUG".into(),
            qty: 3,
            need_date: None,
        },
    );
    record(
        store,
        "order-SO-2",
        d(3, 4),
        &OrderEvent::OrderCancelled {
            order_id: "SO-2".into(),
            reason: "waited too long".into(),
            released: Vec::new(),
        },
    );
    order(store, d(3, 4), "SO-3", &[(1, "MUG", 4)]);
    record(
        store,
        "order-SO-3",
        d(3, 4),
        &OrderEvent::LineCancelled {
            order_id: "SO-3".into(),
            line: 1,
            reason: "changed mind".into(),
            released: Vec::new(),
        },
    );
    // Recorded late, dated the week before.
    order(store, d(2, 24), "SO-4", &[(1, "MUG", 6)]);
    order(store, d(3, 10), "SO-5", &[(1, "MUG", 2)]);
    record(
        store,
        "po-PO-1",
        d(3, 11),
        &PurchaseOrderEvent::PurchaseOrderReceived {
            po_id: "PO-1".into(),
            line: 1,
            sku: "MUG".into(),
            location: "WH1".into(),
            qty: 10,
            unit_cost_cents: 100,
            received_on: d(3, 11),
            lead_time_days: 9,
            days_late: 2,
            over_received: 0,
        },
    );
}

#[test]
fn demand_counts_what_customers_asked_for_on_the_day_they_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    scenario(&store);
    let model = DemandModel::open(&store).unwrap();
    model.catch_up().unwrap();

    assert_eq!(model.primary("MUG").unwrap().as_deref(), Some("WH1"));
    let days = model
        .history("MUG", Some("WH1"), Bucket::Day, d(3, 5))
        .unwrap();
    // From the late order's day (24 Feb) to the 5th of March.
    assert_eq!(days.first().unwrap().start, d(2, 24));
    assert_eq!(days.last().unwrap().start, d(3, 5));
    let on = |day: NaiveDate| days.iter().find(|p| p.start == day).unwrap().clone();
    // Served from WH1.
    assert_eq!(on(d(3, 2)).demand, 5);
    // Backordered then cancelled: still demand (the shortage hid it), at
    // the primary location because no location served it.
    let short = on(d(3, 3));
    assert_eq!(
        (
            short.demand,
            short.figures.backordered,
            short.figures.cancelled_short
        ),
        (3, 3, 3)
    );
    // Cancelled by the customer before any shortage: counted apart, not demand.
    let changed = on(d(3, 4));
    assert_eq!(
        (changed.demand, changed.figures.cancelled_by_customer),
        (0, 4)
    );
    // The late order counts on its own day (unserved: at the primary location).
    assert_eq!(on(d(2, 24)).demand, 6);

    // WH2 served nothing and is not primary.
    let wh2 = model
        .history("MUG", Some("WH2"), Bucket::Week, d(3, 5))
        .unwrap();
    assert!(wh2.iter().all(|p| p.demand == 0), "{wh2:?}");
    // Everywhere, by week: 6 in the week of 23 Feb; 5 + 3 + 0 in the week of 2 Mar.
    let weeks = model.history("MUG", None, Bucket::Week, d(3, 15)).unwrap();
    let demand: Vec<(NaiveDate, u64)> = weeks.iter().map(|p| (p.start, p.demand)).collect();
    assert_eq!(demand, vec![(d(2, 23), 6), (d(3, 2), 8), (d(3, 9), 2)]);
    let months = model.history("MUG", None, Bucket::Month, d(3, 31)).unwrap();
    assert_eq!(
        months
            .iter()
            .map(|p| (p.start, p.demand))
            .collect::<Vec<_>>(),
        vec![(d(2, 1), 6), (d(3, 1), 10)]
    );
    // CUP was ordered and never served: unassigned, and no primary location.
    let cup = model.history("CUP", None, Bucket::Day, d(3, 2)).unwrap();
    assert_eq!(cup.last().unwrap().demand, 2);
    assert_eq!(model.primary("CUP").unwrap(), None);
    assert!(model
        .history("NONE", None, Bucket::Day, d(3, 2))
        .unwrap()
        .is_empty());
    assert_eq!(UNASSIGNED.chars().next(), Some('@'), "never a location id");

    let lead = model.lead_times("MUG", "WH1").unwrap();
    assert_eq!(lead.len(), 1);
    assert_eq!((lead[0].days, lead[0].received_on), (9, d(3, 11)));
}

#[test]
fn forecasts_are_recorded_as_weeks_begin_and_scored_against_demand_as_it_stands() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    scenario(&store);
    let model = DemandModel::open(&store).unwrap();
    model.catch_up().unwrap();
    // When SO-5 opened the week of 9 March, the history was 6 and 8 a week.
    let expected = forecasting::fit_auto(&[6.0, 8.0]).unwrap().1.forecast;
    let tracked = model.accuracy("MUG", d(3, 17)).unwrap();
    assert_eq!(tracked.weeks.len(), 1, "{tracked:?}");
    let (week, forecast, actual) = tracked.weeks[0];
    assert_eq!(week, d(3, 9));
    assert!((forecast - expected).abs() < 1e-12);
    assert!((actual - 2.0).abs() < 1e-12);
    assert!((tracked.accuracy.mae - (expected - 2.0).abs()).abs() < 1e-12);
    assert!((tracked.accuracy.bias - (expected - 2.0)).abs() < 1e-12);
    // The week in progress is not scored.
    assert!(model.accuracy("MUG", d(3, 10)).unwrap().weeks.is_empty());
}

#[test]
fn the_demand_model_equals_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    scenario(&store);
    let model = DemandModel::open(&store).unwrap();
    model.catch_up().unwrap();
    let report = check(&store, model.read_model(), &DemandProjection).unwrap();
    assert!(report.agrees(), "{:?}", report.differences);
    let before = model.history("MUG", None, Bucket::Day, d(3, 12)).unwrap();
    rebuild(&store, model.read_model(), &DemandProjection).unwrap();
    assert_eq!(
        model.history("MUG", None, Bucket::Day, d(3, 12)).unwrap(),
        before
    );
}
