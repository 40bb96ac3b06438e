//! Order and inventory metrics on small scenarios worked by hand (the
//! arithmetic is in the comments), plus the turnover reference vector.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use event_store::{AppendRequest, ExpectedVersion, NewEvent, Store, StoreConfig, StreamId};
use projections::orders::{OrderFilter, OrdersModel, OrdersProjection};
use projections::projection::check;
use projections::stock::{turnover, StockFilter, StockModel, StockProjection};
use schemas::catalog::SkuDefinition;
use schemas::inventory::AdjustmentReason;
use schemas::order::{OrderLineInput, ShippedLine, SupplySource};
use schemas::{CatalogEvent, InventoryEvent, OrderEvent, PurchaseOrderEvent};

fn d(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
}

fn t(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

struct Log(Store);

impl Log {
    fn record<E: serde::Serialize>(&self, stream: &str, at: DateTime<Utc>, event: E) {
        let payload = serde_json::to_value(&event).unwrap();
        let kind = payload["type"].as_str().unwrap_or("Event").to_owned();
        self.0
            .append_blocking(AppendRequest::new(
                StreamId::new(stream).unwrap(),
                ExpectedVersion::Any,
                vec![NewEvent::new(kind, payload).at(at)],
            ))
            .unwrap();
    }

    fn order(&self, id: &str, at: DateTime<Utc>, event: OrderEvent) {
        self.record(&format!("order-{id}"), at, event);
    }
}

fn placed(id: &str, channel: &str, requested: NaiveDate, lines: &[(u32, &str, u64)]) -> OrderEvent {
    OrderEvent::OrderPlaced {
        order_id: id.into(),
        customer_id: "C".into(),
        lines: lines
            .iter()
            .map(|(line, sku, qty)| OrderLineInput {
                need_date: None,
                line: *line,
                sku: (*sku).into(),
                qty: *qty,
                unit_price_cents: 100,
            })
            .collect(),
        ship_to: "addr".into(),
        channel: channel.into(),
        requested_date: requested,
        priority: 0,
    }
}

fn allocated(id: &str, line: u32, qty: u64, promise: NaiveDate) -> OrderEvent {
    OrderEvent::LineAllocated {
        backorder_filled: None,
        order_id: id.into(),
        line,
        sku: "MUG".into(),
        qty,
        source: SupplySource::Stock {
            location: "WH1".into(),
        },
        promise_date: promise,
    }
}
fn backordered(id: &str, line: u32, qty: u64) -> OrderEvent {
    OrderEvent::LineBackordered {
        need_date: None,
        order_id: id.into(),
        line,
        sku: "MUG".into(),
        qty,
    }
}

fn authorized(id: &str) -> OrderEvent {
    OrderEvent::PaymentAuthorized {
        order_id: id.into(),
        amount_cents: 1,
        reference: "A".into(),
    }
}

fn shipped(id: &str, shipment: &str, lines: &[(u32, u64)]) -> OrderEvent {
    OrderEvent::OrderShipped {
        order_id: id.into(),
        shipment_id: shipment.into(),
        carrier: "DPD".into(),
        tracking: "T".into(),
        lines: lines
            .iter()
            .map(|(line, qty)| ShippedLine {
                line: *line,
                sku: "MUG".into(),
                location: "WH1".into(),
                qty: *qty,
            })
            .collect(),
    }
}

#[test]
fn order_metrics_on_a_hand_checked_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log(Store::open(dir.path(), StoreConfig::default()).unwrap());
    // SO-1 (web): line 1 filled from stock at once; line 2 half from stock,
    // half backordered and filled a day later. Paid after 1 h, allocated
    // after 24 h, shipped after 48 h (due the 4th: on time), delivered after 72 h.
    log.order(
        "SO-1",
        t(2, 10),
        placed("SO-1", "web", d(5), &[(1, "MUG", 4), (2, "TOWEL", 2)]),
    );
    log.order("SO-1", t(2, 10), allocated("SO-1", 1, 4, d(4)));
    log.order("SO-1", t(2, 10), allocated("SO-1", 2, 1, d(4)));
    log.order("SO-1", t(2, 10), backordered("SO-1", 2, 1));
    log.order("SO-1", t(2, 11), authorized("SO-1"));
    log.order("SO-1", t(3, 10), allocated("SO-1", 2, 1, d(4)));
    log.order("SO-1", t(4, 10), shipped("SO-1", "S1", &[(1, 4), (2, 2)]));
    log.order(
        "SO-1",
        t(5, 10),
        OrderEvent::ShipmentDelivered {
            order_id: "SO-1".into(),
            shipment_id: "S1".into(),
        },
    );
    // SO-2 (store): allocated and paid at once, one unit short at pick and
    // allocated again; shipped after 48 h, a day after its promise (late).
    log.order(
        "SO-2",
        t(2, 12),
        placed("SO-2", "store", d(3), &[(1, "MUG", 3)]),
    );
    log.order("SO-2", t(2, 12), allocated("SO-2", 1, 3, d(3)));
    log.order("SO-2", t(2, 12), authorized("SO-2"));
    log.order(
        "SO-2",
        t(2, 18),
        OrderEvent::PickShort {
            order_id: "SO-2".into(),
            line: 1,
            sku: "MUG".into(),
            location: "WH1".into(),
            short: 1,
        },
    );
    log.order("SO-2", t(2, 18), allocated("SO-2", 1, 1, d(3)));
    log.order("SO-2", t(4, 12), shipped("SO-2", "S2", &[(1, 3)]));
    // SO-3 (web): all 5 backordered, still waiting.
    log.order(
        "SO-3",
        t(3, 9),
        placed("SO-3", "web", d(6), &[(1, "BEANS", 5)]),
    );
    log.order("SO-3", t(3, 9), backordered("SO-3", 1, 5));
    // SO-4 (web): allocated, then cancelled.
    log.order(
        "SO-4",
        t(3, 10),
        placed("SO-4", "web", d(6), &[(1, "MUG", 1)]),
    );
    log.order("SO-4", t(3, 10), allocated("SO-4", 1, 1, d(4)));
    log.order(
        "SO-4",
        t(3, 11),
        OrderEvent::OrderCancelled {
            order_id: "SO-4".into(),
            reason: "changed mind".into(),
            released: vec![],
        },
    );

    let model = OrdersModel::open(&log.0).unwrap();
    assert_eq!(model.catch_up().unwrap(), 19);
    let m = model.metrics(&OrderFilter::default(), t(5, 9)).unwrap();
    assert_eq!(
        (m.orders, m.shipped, m.delivered, m.cancelled),
        (4, 2, 1, 1)
    );
    let c = &m.cycle_hours;
    assert_eq!(
        (c.placed_to_shipped.count, c.placed_to_shipped.p50),
        (2, Some(48.0))
    );
    assert_eq!(c.placed_to_delivered.p99, Some(72.0));
    // Payment waits [0, 1]: nearest-rank p50 is 0, p90 is 1.
    assert_eq!(
        (c.payment_wait.p50, c.payment_wait.p90),
        (Some(0.0), Some(1.0))
    );
    // Stock waits: SO-2 0, SO-4 0, SO-1 24 (SO-3 never allocated).
    assert_eq!(
        (c.stock_wait.count, c.stock_wait.p50, c.stock_wait.max),
        (3, Some(0.0), Some(24.0))
    );
    // Warehouse flow: SO-1 48 - 24 = 24, SO-2 48 - 0 = 48.
    assert_eq!(
        (c.warehouse_flow.p50, c.warehouse_flow.max),
        (Some(24.0), Some(48.0))
    );
    assert_eq!(
        m.cycle_hours_by_channel["store"].placed_to_shipped.p50,
        Some(48.0)
    );
    assert_eq!(m.cycle_hours_by_channel["web"].stock_wait.count, 2);
    // SO-1 on time and perfect; SO-2 late (and short-picked).
    assert_eq!((m.shipped_on_time, m.on_time_rate), (1, Some(0.5)));
    assert_eq!((m.perfect, m.perfect_order_rate), (1, Some(0.5)));
    // Lines filled from stock at first attempt: SO-1/1, SO-2/1, SO-4/1 of 5;
    // units 4 + 1 + 3 + 0 + 1 = 9 of 4 + 2 + 3 + 5 + 1 = 15.
    assert_eq!((m.lines, m.lines_filled_first), (5, 3));
    assert_eq!((m.units, m.units_filled_first), (15, 9));
    assert_eq!((m.line_fill_rate, m.unit_fill_rate), (Some(0.6), Some(0.6)));
    // SO-3's 5 units have waited 48 h at the 5th, 09:00.
    assert_eq!((m.backorders.lines, m.backorders.units), (1, 5));
    assert_eq!(m.backorders.age_hours.p50, Some(48.0));

    // Filters: a channel, a period, a SKU; a period with no orders is empty but well formed.
    let store = OrderFilter {
        channel: Some("store".into()),
        ..OrderFilter::default()
    };
    let s = model.metrics(&store, t(5, 9)).unwrap();
    assert_eq!(
        (s.orders, s.on_time_rate, s.unit_fill_rate),
        (1, Some(0.0), Some(1.0))
    );
    let third = OrderFilter {
        from: Some(d(3)),
        to: Some(d(3)),
        ..OrderFilter::default()
    };
    assert_eq!(model.metrics(&third, t(5, 9)).unwrap().orders, 2);
    let beans = OrderFilter {
        sku: Some("BEANS".into()),
        ..OrderFilter::default()
    };
    assert_eq!(model.metrics(&beans, t(5, 9)).unwrap().orders, 1);
    // A SKU filter's line figures are that SKU's lines only: SO-1's TOWEL
    // line (half backordered) is not MUG's fill rate.
    let mugs = OrderFilter {
        sku: Some("MUG".into()),
        ..OrderFilter::default()
    };
    let m = model.metrics(&mugs, t(5, 9)).unwrap();
    assert_eq!((m.orders, m.lines, m.units), (3, 3, 8));
    assert_eq!((m.line_fill_rate, m.unit_fill_rate), (Some(1.0), Some(1.0)));
    // Every allocation in this scenario is from WH1.
    let wh1 = OrderFilter {
        location: Some("WH1".into()),
        ..OrderFilter::default()
    };
    assert_eq!(model.metrics(&wh1, t(5, 9)).unwrap().orders, 3);
    let wh2 = OrderFilter {
        location: Some("WH2".into()),
        ..OrderFilter::default()
    };
    assert_eq!(model.metrics(&wh2, t(5, 9)).unwrap().orders, 0);
    let none = OrderFilter {
        from: Some(d(20)),
        ..OrderFilter::default()
    };
    let empty = model.metrics(&none, t(5, 9)).unwrap();
    assert_eq!((empty.orders, empty.on_time_rate), (0, None));
    assert_eq!(empty.cycle_hours.placed_to_shipped.p50, None);

    assert!(check(&log.0, model.read_model(), &OrdersProjection)
        .unwrap()
        .agrees());
}

fn mug(event: impl FnOnce(String, String) -> InventoryEvent) -> InventoryEvent {
    event("MUG".into(), "WH1".into())
}

#[test]
fn inventory_metrics_on_a_hand_checked_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log(Store::open(dir.path(), StoreConfig::default()).unwrap());
    let define = |sku: &str, cost| {
        log.record(
            &format!("sku-{sku}"),
            t(1, 0),
            CatalogEvent::SkuDefined(SkuDefinition {
                sku: sku.into(),
                description: sku.into(),
                unit_of_measure: "each".into(),
                standard_cost_cents: cost,
            }),
        );
    };
    define("MUG", 300);
    define("TOWEL", 450);
    let received = |qty| {
        move |sku, location| InventoryEvent::StockReceived {
            po_line: None,
            sku,
            location,
            qty,
            reference: None,
            po_id: None,
        }
    };
    let inv = |at, e| log.record("inventory-MUG@WH1", at, e);
    // 1st: 10 at the standard cost of 300 (3,000).
    inv(t(1, 8), mug(received(10)));
    log.record(
        "inventory-TOWEL@WH1",
        t(1, 8),
        InventoryEvent::StockReceived {
            po_line: None,
            sku: "TOWEL".into(),
            location: "WH1".into(),
            qty: 2,
            reference: None,
            po_id: None,
        },
    );
    // 2nd: 4 reserved and shipped: COGS 4 × 300 = 1,200; closes at 6 × 300 = 1,800.
    inv(
        t(2, 9),
        mug(|sku, location| InventoryEvent::StockReserved {
            need_date: None,
            sku,
            location,
            order_id: "SO-1".into(),
            line: 1,
            qty: 4,
        }),
    );
    inv(
        t(2, 10),
        mug(|sku, location| InventoryEvent::StockShipped {
            sku,
            location,
            order_id: "SO-1".into(),
            line: 1,
            qty: 4,
        }),
    );
    // 3rd: a PO receipt at 500 makes the average receipt cost 500; 16 × 500 = 8,000.
    log.record(
        "po-PO-1",
        t(3, 8),
        PurchaseOrderEvent::PurchaseOrderReceived {
            po_id: "PO-1".into(),
            line: 1,
            sku: "MUG".into(),
            location: "WH1".into(),
            qty: 10,
            unit_cost_cents: 500,
            received_on: d(3),
            lead_time_days: 5,
            days_late: 0,
            over_received: 0,
        },
    );
    inv(t(3, 8), mug(received(10)));
    // 4th: a count finds 15 of 16: 7,500.
    inv(
        t(4, 10),
        mug(|sku, location| InventoryEvent::StockCounted {
            sku,
            location,
            expected: 16,
            counted: 15,
            variance: -1,
        }),
    );
    // 5th, 10:00: all 15 reserved: a stockout begins; closes at 7,500.
    inv(
        t(5, 10),
        mug(|sku, location| InventoryEvent::StockReserved {
            need_date: None,
            sku,
            location,
            order_id: "SO-2".into(),
            line: 1,
            qty: 15,
        }),
    );
    // 6th, 10:00: 5 arrive, the stockout ends after 24 h; 11:00: 8 damaged,
    // 3 reserved units are short and a second stockout begins; closes at 12 × 500 = 6,000.
    inv(t(6, 10), mug(received(5)));
    inv(
        t(6, 11),
        mug(|sku, location| InventoryEvent::StockAdjusted {
            sku,
            location,
            delta: -8,
            reason: AdjustmentReason::Damage,
        }),
    );
    inv(
        t(6, 11),
        mug(|sku, location| InventoryEvent::ShortageRecorded {
            sku,
            location,
            on_hand: 12,
            reserved: 15,
            short: 3,
        }),
    );

    let model = StockModel::open(&log.0).unwrap();
    assert_eq!(model.catch_up().unwrap(), 13);
    let filter = StockFilter {
        from: d(1),
        to: d(6),
        sku: Some("MUG".into()),
        location: None,
        count_tolerance: 0.02,
        dead_after_days: 10,
    };
    let m = model.metrics(&filter, t(20, 0)).unwrap();
    assert_eq!((m.days, m.items, m.units_shipped), (6, 1, 4));
    assert!((m.cogs_cents - 1200.0).abs() < 1e-9);
    // Daily closes 3,000 1,800 8,000 7,500 7,500 6,000: mean 33,800 / 6.
    assert!((m.average_inventory_cents - 33_800.0 / 6.0).abs() < 1e-9);
    let turns = 1200.0 / (33_800.0 / 6.0);
    assert!((m.turnover.unwrap() - turns).abs() < 1e-9);
    assert!((m.days_of_inventory.unwrap() - 6.0 / turns).abs() < 1e-9);
    // One count, 1 off 16: outside 2 % (0.32 units), within 10 %; 500 / 8,000 by value.
    assert_eq!((m.counts, m.counts_within_tolerance), (1, 0));
    assert_eq!(m.value_weighted_variance, Some(1.0 / 16.0));
    let lenient = StockFilter {
        count_tolerance: 0.10,
        ..filter.clone()
    };
    assert_eq!(
        model.metrics(&lenient, t(20, 0)).unwrap().stock_accuracy,
        Some(1.0)
    );
    // Stockouts: 24 h, and 13 h of the open one up to the period's end.
    assert_eq!((m.stockouts, m.stockout_hours), (2, 37.0));
    assert_eq!((m.shortages_of_reserved_stock, m.units_short), (1, 3));
    // Dead stock at the 20th: TOWEL never reserved. MUG was last reserved
    // on the 5th, but its 12 on hand are all reserved for an order: stock
    // spoken for is waiting on the flow, not dead.
    let all = StockFilter {
        sku: None,
        ..filter.clone()
    };
    let dead = model.metrics(&all, t(20, 0)).unwrap().dead_stock;
    let dead: Vec<_> = dead
        .iter()
        .map(|x| (x.item.as_str(), x.on_hand, x.free, x.value_cents))
        .collect();
    assert_eq!(dead, [("TOWEL@WH1", 2, 2, 900.0)]);
    // At the 14th only TOWEL is: MUG was reserved within the last 10 days.
    let dead = model.metrics(&all, t(14, 0)).unwrap().dead_stock;
    assert_eq!(
        dead.iter().map(|x| x.item.as_str()).collect::<Vec<_>>(),
        ["TOWEL@WH1"]
    );
    // A period before any stock: empty, well formed.
    let before = StockFilter {
        from: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 2, 28).unwrap(),
        ..filter
    };
    let e = model.metrics(&before, t(20, 0)).unwrap();
    assert_eq!(
        (e.cogs_cents, e.turnover, e.counts, e.stockouts),
        (0.0, None, 0, 0)
    );

    assert!(check(&log.0, model.read_model(), &StockProjection)
        .unwrap()
        .agrees());
}

/// `reference/inventory/vectors.txt`, from the shared references (scipy):
/// `turnover COGS=600000.0 avg_inv=120000.0: turns=5.0000000000 DIO(365)=73.0000000000`.
#[test]
fn turnover_matches_the_reference_vector() {
    let (turns, dio) = turnover(600_000.0, 120_000.0, 365.0);
    assert!((turns.unwrap() - 5.0).abs() < 1e-10);
    assert!((dio.unwrap() - 73.0).abs() < 1e-10);
    assert_eq!(turnover(10.0, 0.0, 365.0), (None, None));
}

/// Units re-sourced after a short pick are not the backordered ones: the
/// backorder stands until an allocation says it filled it.
#[test]
fn a_backorder_falls_only_by_what_an_allocation_says_it_filled() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log(Store::open(dir.path(), StoreConfig::default()).unwrap());
    let allocated_filling = |qty, filled| {
        let mut event = allocated("SO-9", 1, qty, d(5));
        if let OrderEvent::LineAllocated {
            backorder_filled, ..
        } = &mut event
        {
            *backorder_filled = Some(filled);
        }
        event
    };
    log.order(
        "SO-9",
        t(2, 10),
        placed("SO-9", "web", d(5), &[(1, "MUG", 10)]),
    );
    log.order("SO-9", t(2, 10), allocated_filling(6, 0));
    log.order("SO-9", t(2, 10), backordered("SO-9", 1, 4));
    log.order(
        "SO-9",
        t(2, 12),
        OrderEvent::PickShort {
            order_id: "SO-9".into(),
            line: 1,
            sku: "MUG".into(),
            location: "WH1".into(),
            short: 2,
        },
    );
    log.order("SO-9", t(2, 12), allocated_filling(2, 0));
    let model = OrdersModel::open(&log.0).unwrap();
    model.catch_up().unwrap();
    let m = model.metrics(&OrderFilter::default(), t(3, 10)).unwrap();
    assert_eq!((m.backorders.lines, m.backorders.units), (1, 4));

    log.order("SO-9", t(3, 10), allocated_filling(4, 4));
    model.catch_up().unwrap();
    let m = model.metrics(&OrderFilter::default(), t(3, 10)).unwrap();
    assert_eq!((m.backorders.lines, m.backorders.units), (0, 0));
}

#[test]
fn the_order_listing_filters_by_status_customer_sku_and_period_and_pages_by_cursor() {
    use projections::orders::{OrderQuery, OrderStatus};
    let dir = tempfile::tempdir().unwrap();
    let log = Log(Store::open(dir.path(), StoreConfig::default()).unwrap());
    // SO-1 delivered, SO-2 shipped, SO-3 backordered, SO-4 cancelled,
    // SO-5 open past its promise (late on the 20th), SO-6 open, due later.
    log.order(
        "SO-1",
        t(2, 9),
        placed("SO-1", "web", d(5), &[(1, "MUG", 1)]),
    );
    log.order("SO-1", t(2, 9), allocated("SO-1", 1, 1, d(4)));
    log.order("SO-1", t(3, 9), shipped("SO-1", "S1", &[(1, 1)]));
    log.order(
        "SO-1",
        t(4, 9),
        OrderEvent::ShipmentDelivered {
            order_id: "SO-1".into(),
            shipment_id: "S1".into(),
        },
    );
    log.order(
        "SO-2",
        t(3, 9),
        placed("SO-2", "store", d(5), &[(1, "MUG", 2)]),
    );
    log.order("SO-2", t(3, 9), allocated("SO-2", 1, 2, d(4)));
    log.order("SO-2", t(4, 9), shipped("SO-2", "S2", &[(1, 2)]));
    log.order(
        "SO-3",
        t(4, 9),
        placed("SO-3", "web", d(30), &[(1, "BEANS", 5)]),
    );
    log.order("SO-3", t(4, 9), backordered("SO-3", 1, 5));
    log.order(
        "SO-4",
        t(5, 9),
        placed("SO-4", "web", d(30), &[(1, "MUG", 1)]),
    );
    log.order(
        "SO-4",
        t(5, 10),
        OrderEvent::OrderCancelled {
            order_id: "SO-4".into(),
            reason: "changed mind".into(),
            released: vec![],
        },
    );
    log.order(
        "SO-5",
        t(6, 9),
        placed("SO-5", "web", d(8), &[(1, "MUG", 1)]),
    );
    log.order("SO-5", t(6, 9), allocated("SO-5", 1, 1, d(8)));
    log.order(
        "SO-6",
        t(7, 9),
        placed("SO-6", "web", d(25), &[(1, "TOWEL", 1)]),
    );

    let model = OrdersModel::open(&log.0).unwrap();
    model.catch_up().unwrap();
    let today = d(20);
    let ids = |query: OrderQuery| -> Vec<String> {
        let page = model
            .list(&OrderQuery { limit: 50, ..query }, today)
            .unwrap();
        assert_eq!(page.next, None);
        page.orders.into_iter().map(|o| o.order_id).collect()
    };
    let status = |s| OrderQuery {
        status: Some(s),
        ..OrderQuery::default()
    };
    assert_eq!(ids(status(OrderStatus::Open)), ["SO-3", "SO-5", "SO-6"]);
    assert_eq!(ids(status(OrderStatus::Backordered)), ["SO-3"]);
    assert_eq!(ids(status(OrderStatus::Late)), ["SO-5"]);
    assert_eq!(ids(status(OrderStatus::Shipped)), ["SO-1", "SO-2"]);
    assert_eq!(ids(status(OrderStatus::Delivered)), ["SO-1"]);
    assert_eq!(ids(status(OrderStatus::Cancelled)), ["SO-4"]);
    let sku = OrderQuery {
        filter: OrderFilter {
            sku: Some("MUG".into()),
            ..OrderFilter::default()
        },
        ..OrderQuery::default()
    };
    assert_eq!(ids(sku), ["SO-1", "SO-2", "SO-4", "SO-5"]);
    let period = OrderQuery {
        filter: OrderFilter {
            from: Some(d(3)),
            to: Some(d(5)),
            channel: Some("web".into()),
            ..OrderFilter::default()
        },
        ..OrderQuery::default()
    };
    assert_eq!(ids(period), ["SO-3", "SO-4"]);
    let customer = OrderQuery {
        customer: Some("C".into()),
        status: Some(OrderStatus::Late),
        ..OrderQuery::default()
    };
    assert_eq!(ids(customer), ["SO-5"]);
    // The index of open orders holds the open ones only.
    let open: Vec<(String, bool)> = model.scan("open/").unwrap();
    assert_eq!(open.len(), 3);

    // Pages of two, by cursor: every order once, in placement order.
    let mut query = OrderQuery {
        limit: 2,
        ..OrderQuery::default()
    };
    let mut pages = Vec::new();
    loop {
        let page = model.list(&query, today).unwrap();
        pages.push(
            page.orders
                .iter()
                .map(|o| o.order_id.clone())
                .collect::<Vec<_>>(),
        );
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        pages,
        [["SO-1", "SO-2"], ["SO-3", "SO-4"], ["SO-5", "SO-6"]]
    );
    assert!(check(&log.0, model.read_model(), &OrdersProjection)
        .unwrap()
        .agrees());
}

#[test]
fn purchase_orders_list_as_open_overdue_or_done_by_supplier_and_sku() {
    use projections::purchases::{
        PurchaseQuery, PurchaseStatus, PurchasesModel, PurchasesProjection,
    };
    use schemas::purchasing::{OpenLine, PoLineInput};
    let dir = tempfile::tempdir().unwrap();
    let log = Log(Store::open(dir.path(), StoreConfig::default()).unwrap());
    let place = |po: &str, supplier: &str, lines: &[(u32, &str, u64, NaiveDate)]| {
        log.record(
            &format!("po-{po}"),
            t(1, 9),
            PurchaseOrderEvent::PurchaseOrderPlaced {
                po_id: po.into(),
                supplier_id: supplier.into(),
                ordered_on: d(1),
                lines: lines
                    .iter()
                    .map(|(line, sku, qty, due)| PoLineInput {
                        line: *line,
                        sku: (*sku).into(),
                        location: "WH1".into(),
                        qty: *qty,
                        unit_cost_cents: 100,
                        expected_date: *due,
                    })
                    .collect(),
                over_receipt_tolerance_pct: 0,
                basis: None,
            },
        );
    };
    let received = |po: &str, line: u32, qty: u64| {
        log.record(
            &format!("po-{po}"),
            t(9, 9),
            PurchaseOrderEvent::PurchaseOrderReceived {
                po_id: po.into(),
                line,
                sku: "MUG".into(),
                location: "WH1".into(),
                qty,
                unit_cost_cents: 100,
                received_on: d(9),
                lead_time_days: 8,
                days_late: 0,
                over_received: 0,
            },
        );
    };
    // PO-1 due the 5th, half received: overdue on the 10th. PO-2 due the
    // 20th: open. PO-3 received in full: done. PO-4 a line cancelled, the
    // other received: done.
    place("PO-1", "ACME", &[(1, "MUG", 10, d(5))]);
    received("PO-1", 1, 5);
    place("PO-2", "ACME", &[(1, "TOWEL", 4, d(20))]);
    place("PO-3", "BOLT", &[(1, "MUG", 3, d(5))]);
    received("PO-3", 1, 3);
    place(
        "PO-4",
        "BOLT",
        &[(1, "MUG", 2, d(5)), (2, "BEANS", 2, d(5))],
    );
    received("PO-4", 1, 2);
    log.record(
        "po-PO-4",
        t(9, 10),
        PurchaseOrderEvent::PurchaseOrderLineCancelled {
            po_id: "PO-4".into(),
            open: OpenLine {
                line: 2,
                sku: "BEANS".into(),
                location: "WH1".into(),
                open_qty: 2,
            },
        },
    );
    let model = PurchasesModel::open(&log.0).unwrap();
    model.catch_up().unwrap();
    let list = |query: PurchaseQuery| -> Vec<(String, PurchaseStatus, u64)> {
        model
            .list(&query, d(10))
            .unwrap()
            .into_iter()
            .map(|p| (p.po_id, p.status, p.open))
            .collect()
    };
    let status = |s| PurchaseQuery {
        status: Some(s),
        ..PurchaseQuery::default()
    };
    assert_eq!(
        list(status(PurchaseStatus::Open)),
        [
            ("PO-1".to_owned(), PurchaseStatus::Overdue, 5),
            ("PO-2".to_owned(), PurchaseStatus::Open, 4)
        ]
    );
    assert_eq!(list(status(PurchaseStatus::Overdue)).len(), 1);
    let done: Vec<String> = list(status(PurchaseStatus::Done))
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(done, ["PO-3", "PO-4"]);
    let bolt_mugs = PurchaseQuery {
        supplier: Some("BOLT".into()),
        sku: Some("BEANS".into()),
        ..PurchaseQuery::default()
    };
    assert_eq!(list(bolt_mugs).len(), 1);
    assert_eq!(list(PurchaseQuery::default()).len(), 4);
    assert!(check(&log.0, model.read_model(), &PurchasesProjection)
        .unwrap()
        .agrees());
}
