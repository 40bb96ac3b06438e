//! Figures per day fold by business time: a fact recorded late with an
//! earlier `at` corrects the days from its own on, and the same facts give
//! the same daily figures whatever order the log holds them in.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use clock::ManualClock;
use event_store::{AppendRequest, ExpectedVersion, NewEvent, Store, StoreConfig, StreamId};
use projections::stock::{StockFilter, StockMetrics, StockModel};
use proptest::prelude::*;
use schemas::catalog::SkuDefinition;
use schemas::inventory::AdjustmentReason;
use schemas::{CatalogEvent, InventoryEvent, PurchaseOrderEvent};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 15, 0, 0).unwrap()
}

fn open(dir: &std::path::Path) -> Store {
    let config = StoreConfig {
        clock: Arc::new(ManualClock::new(now())),
        ..StoreConfig::default()
    };
    Store::open(dir, config).unwrap()
}

fn append(store: &Store, stream: &str, at: Option<DateTime<Utc>>, payload: serde_json::Value) {
    let kind = payload["type"].as_str().unwrap().to_owned();
    let mut event = NewEvent::new(kind, payload);
    event.at = at;
    store
        .append_blocking(AppendRequest::new(
            StreamId::new(stream).unwrap(),
            ExpectedVersion::Any,
            vec![event],
        ))
        .unwrap();
}

fn define(store: &Store, sku: &str, cost: u64) {
    let event = CatalogEvent::SkuDefined(SkuDefinition {
        sku: sku.into(),
        description: sku.into(),
        unit_of_measure: "each".into(),
        standard_cost_cents: cost,
    });
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    append(
        store,
        &format!("sku-{sku}"),
        Some(at),
        serde_json::to_value(event).unwrap(),
    );
}

fn received(qty: u64) -> InventoryEvent {
    InventoryEvent::StockReceived {
        sku: "MUG".into(),
        location: "WH1".into(),
        qty,
        reference: None,
        po_id: None,
        po_line: None,
    }
}

fn day_figures(m: &StockMetrics, day: NaiveDate) -> (i64, f64) {
    let d = m.daily.iter().find(|d| d.date == day).unwrap();
    (d.close_units, d.close_value_cents)
}

#[test]
fn ten_units_dated_two_weeks_back_after_five_today_count_from_their_own_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    define(&store, "MUG", 300);
    // Five today, without a business time: stamped now by the clock.
    append(
        &store,
        "inventory-MUG@WH1",
        None,
        serde_json::to_value(received(5)).unwrap(),
    );
    // Then ten that arrived two weeks ago, recorded late.
    let earlier = now() - Duration::days(14);
    append(
        &store,
        "inventory-MUG@WH1",
        Some(earlier),
        serde_json::to_value(received(10)).unwrap(),
    );
    let model = StockModel::open(&store).unwrap();
    model.catch_up().unwrap();
    let filter = StockFilter::new(None, None, now());
    let m = model.metrics(&filter, now()).unwrap();
    let (early, today) = (earlier.date_naive(), now().date_naive());
    assert_eq!(day_figures(&m, early - Duration::days(1)), (0, 0.0));
    assert_eq!(day_figures(&m, early), (10, 3000.0));
    assert_eq!(day_figures(&m, today - Duration::days(1)), (10, 3000.0));
    assert_eq!(day_figures(&m, today), (15, 4500.0));
    // Nothing free before the late receipt's day: the item did not exist yet.
    assert_eq!(m.stockouts, 0);
}

/// One fact about MUG@WH1 (or a PO receipt that sets its cost), at an hour
/// of the period.
#[derive(Debug, Clone)]
enum Fact {
    Received(u64),
    Adjusted(i64),
    Counted(i64),
    Reserved(u32, u64),
    Released(u32, u64),
    Shipped(u32, u64),
    PickShort(u32, u64),
    PoReceipt(u64, u64),
}

fn fact() -> impl Strategy<Value = Fact> {
    prop_oneof![
        (1u64..20).prop_map(Fact::Received),
        (-5i64..5).prop_map(Fact::Adjusted),
        (-3i64..3).prop_map(Fact::Counted),
        (1u32..4, 1u64..8).prop_map(|(o, q)| Fact::Reserved(o, q)),
        (1u32..4, 1u64..4).prop_map(|(o, q)| Fact::Released(o, q)),
        (1u32..4, 1u64..6).prop_map(|(o, q)| Fact::Shipped(o, q)),
        (1u32..4, 1u64..3).prop_map(|(o, q)| Fact::PickShort(o, q)),
        (1u64..10, 100u64..900).prop_map(|(q, c)| Fact::PoReceipt(q, c)),
    ]
}

fn record(store: &Store, at: DateTime<Utc>, fact: &Fact) {
    let (sku, location) = (String::from("MUG"), String::from("WH1"));
    let order = |o: &u32| format!("SO-{o}");
    let event = match fact {
        Fact::PoReceipt(qty, cost) => {
            let receipt = PurchaseOrderEvent::PurchaseOrderReceived {
                po_id: "PO-1".into(),
                line: 1,
                sku,
                location,
                qty: *qty,
                unit_cost_cents: *cost,
                received_on: at.date_naive(),
                lead_time_days: 3,
                days_late: 0,
                over_received: 0,
            };
            append(
                store,
                "po-PO-1",
                Some(at),
                serde_json::to_value(receipt).unwrap(),
            );
            return;
        }
        Fact::Received(qty) => received(*qty),
        Fact::Adjusted(delta) => InventoryEvent::StockAdjusted {
            sku,
            location,
            delta: *delta,
            reason: AdjustmentReason::Correction,
        },
        Fact::Counted(variance) => InventoryEvent::StockCounted {
            sku,
            location,
            expected: 20,
            counted: 20u64.saturating_add_signed(*variance),
            variance: *variance,
        },
        Fact::Reserved(o, qty) => InventoryEvent::StockReserved {
            sku,
            location,
            order_id: order(o),
            line: 1,
            qty: *qty,
            need_date: None,
        },
        Fact::Released(o, qty) => InventoryEvent::ReservationReleased {
            sku,
            location,
            order_id: order(o),
            line: 1,
            qty: *qty,
            po_id: None,
            po_line: None,
        },
        Fact::Shipped(o, qty) => InventoryEvent::StockShipped {
            sku,
            location,
            order_id: order(o),
            line: 1,
            qty: *qty,
        },
        Fact::PickShort(o, short) => InventoryEvent::PickShortRecorded {
            sku,
            location,
            order_id: order(o),
            line: 1,
            short: *short,
        },
    };
    append(
        store,
        "inventory-MUG@WH1",
        Some(at),
        serde_json::to_value(event).unwrap(),
    );
}

/// The metrics over the whole history and over its second week, from the
/// facts recorded in `order`.
fn metrics_of(facts: &[(DateTime<Utc>, Fact)], order: &[usize]) -> (StockMetrics, StockMetrics) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    define(&store, "MUG", 300);
    for &i in order {
        record(&store, facts[i].0, &facts[i].1);
    }
    let model = StockModel::open(&store).unwrap();
    model.catch_up().unwrap();
    let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    let whole = StockFilter::new(Some(day(1)), Some(day(20)), now());
    let week = StockFilter::new(Some(day(8)), Some(day(14)), now());
    (
        model.metrics(&whole, now()).unwrap(),
        model.metrics(&week, now()).unwrap(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The same facts, in business-time order and with some recorded late,
    /// give the same figures for every day.
    #[test]
    fn facts_recorded_late_give_the_same_daily_figures(
        facts in prop::collection::vec((0u32..20 * 24, fact()), 1..40),
        late in prop::collection::vec(any::<bool>(), 40),
    ) {
        // Distinct times: two facts at the same instant are ordered by the log.
        let mut facts: Vec<(DateTime<Utc>, Fact)> = facts
            .into_iter()
            .enumerate()
            .map(|(i, (hour, f))| {
                let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
                    + Duration::hours(i64::from(hour))
                    + Duration::seconds(i as i64);
                (at, f)
            })
            .collect();
        facts.sort_by_key(|(at, _)| *at);
        let in_order: Vec<usize> = (0..facts.len()).collect();
        let (mut on_time, mut recorded_late): (Vec<usize>, Vec<usize>) =
            in_order.iter().partition(|&&i| !late[i]);
        on_time.append(&mut recorded_late);
        let (whole_a, week_a) = metrics_of(&facts, &in_order);
        let (whole_b, week_b) = metrics_of(&facts, &on_time);
        prop_assert_eq!(&whole_a.daily, &whole_b.daily);
        prop_assert_eq!(&week_a.daily, &week_b.daily);
        for (a, b) in [(&whole_a, &whole_b), (&week_a, &week_b)] {
            prop_assert_eq!(a.stockouts, b.stockouts);
            prop_assert!((a.stockout_hours - b.stockout_hours).abs() < 1e-9);
            prop_assert!((a.cogs_cents - b.cogs_cents).abs() < 1e-6);
            prop_assert_eq!(a.turnover.is_some(), b.turnover.is_some());
            prop_assert_eq!((a.counts, a.short_picks, a.units_short), (b.counts, b.short_picks, b.units_short));
            // Sums of the same terms in another order: equal to rounding.
            let close = match (a.value_weighted_variance, b.value_weighted_variance) {
                (Some(x), Some(y)) => (x - y).abs() < 1e-12,
                (x, y) => x == y,
            };
            prop_assert!(close, "{:?} {:?}", a.value_weighted_variance, b.value_weighted_variance);
        }
    }
}
