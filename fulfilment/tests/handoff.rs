//! Property test of the handoff between order and inventory management:
//! random interleavings of orders, cancellations, receipts, adjustments,
//! counts and purchase orders across several SKUs and locations, through
//! the real command handler and fulfilment process on a real store.

use std::collections::BTreeMap;

use command_handler::CommandHandler;
use event_store::{Store, StoreConfig};
use fulfilment::FulfilmentProcess;
use inventory_aggregate::InventoryItem;
use order_aggregate::Order;
use projections::{ReadModels, NAMES};
use proptest::prelude::*;
use schemas::inventory::InventoryEvent;
use schemas::order::SupplySource;
use schemas::CommandResult;
use schemas::StreamName;

const SKUS: [&str; 3] = ["MUG", "TOWEL", "BEANS"];
const LOCATIONS: [&str; 3] = ["WH1", "WH2", "ST1"];

#[derive(Debug, Clone)]
enum Op {
    Receive {
        sku: usize,
        loc: usize,
        qty: u64,
    },
    Adjust {
        sku: usize,
        loc: usize,
        delta: i64,
    },
    Count {
        sku: usize,
        loc: usize,
        counted: u64,
    },
    Place {
        lines: Vec<(usize, u64)>,
        priority: u8,
    },
    Cancel {
        order: usize,
    },
    PlacePo {
        sku: usize,
        loc: usize,
        qty: u64,
    },
    ReceivePo {
        po: usize,
        qty: u64,
    },
    /// Pay an order; the process then releases its stock to the warehouse.
    Pay {
        order: usize,
    },
    /// Pick a released line, finding `missing` fewer units than released.
    Pick {
        order: usize,
        missing: u64,
    },
    /// Pack and ship everything picked.
    PackAndShip {
        order: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 0..3usize, 1..15u64).prop_map(|(sku, loc, qty)| Op::Receive { sku, loc, qty }),
        1 => (0..3usize, 0..3usize, -8..8i64).prop_filter("a change", |(_, _, d)| *d != 0)
            .prop_map(|(sku, loc, delta)| Op::Adjust { sku, loc, delta }),
        1 => (0..3usize, 0..3usize, 0..12u64).prop_map(|(sku, loc, counted)| Op::Count { sku, loc, counted }),
        4 => (prop::collection::vec((0..3usize, 1..8u64), 1..4), 0..3u8)
            .prop_map(|(lines, priority)| Op::Place { lines, priority }),
        1 => (0..40usize).prop_map(|order| Op::Cancel { order }),
        1 => (0..3usize, 0..3usize, 1..20u64).prop_map(|(sku, loc, qty)| Op::PlacePo { sku, loc, qty }),
        1 => (0..10usize, 1..25u64).prop_map(|(po, qty)| Op::ReceivePo { po, qty }),
        2 => (0..40usize).prop_map(|order| Op::Pay { order }),
        2 => (0..40usize, prop_oneof![3 => Just(0u64), 1 => 1..3u64])
            .prop_map(|(order, missing)| Op::Pick { order, missing }),
        1 => (0..40usize).prop_map(|order| Op::PackAndShip { order }),
    ]
}

fn submit(
    handler: &CommandHandler,
    process: &mut FulfilmentProcess,
    json: String,
) -> CommandResult {
    let envelope = schemas::parse_command(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
    let result = handler.handle(&envelope).unwrap();
    process.run_until_idle().unwrap();
    result
}

/// The lines (order, line, units) with `units_of` above zero, in order.
fn lines_with(
    handler: &CommandHandler,
    orders: usize,
    units_of: impl Fn(&order_aggregate::Line) -> u64,
) -> Vec<(String, u32, u64)> {
    (1..=orders)
        .flat_map(|n| {
            let stream = StreamName::order(&format!("SO-{n}")).unwrap();
            let (order, _) = handler.state::<Order>(&stream).unwrap();
            order
                .lines
                .iter()
                .map(|(line, l)| (format!("SO-{n}"), *line, units_of(l)))
                .filter(|(_, _, units)| *units > 0)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn run(ops: &[Op]) -> (tempfile::TempDir, Store) {
    run_with(ops, |_| {})
}

/// Runs `ops`, calling `after_each` with the store after every command.
fn run_with(ops: &[Op], mut after_each: impl FnMut(&Store)) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let handler = CommandHandler::new(store.clone());
    let mut process = FulfilmentProcess::open(handler.clone()).unwrap();
    let mut n = 0;
    let mut send = |process: &mut FulfilmentProcess, body: String| {
        n += 1;
        let json = format!(r#"{{"command_id":"c-{n}","at":"2026-03-02T08:00:00Z",{body}}}"#);
        let result = submit(&handler, process, json);
        after_each(&store);
        result
    };
    for sku in SKUS {
        send(
            &mut process,
            format!(
                r#""type":"DefineSku","sku":"{sku}","description":"{sku}","unit_of_measure":"each","standard_cost_cents":100"#
            ),
        );
    }
    for loc in LOCATIONS {
        send(
            &mut process,
            format!(
                r#""type":"DefineLocation","location":"{loc}","name":"{loc}","kind":"warehouse""#
            ),
        );
    }
    // Inbound promises are allowed for some items only.
    for (sku, loc) in [("MUG", "WH1"), ("BEANS", "WH2")] {
        send(
            &mut process,
            format!(
                r#""type":"SetReorderPolicy","sku":"{sku}","location":"{loc}","reorder_point":3,"safety_stock":1,"order_qty":10,"lead_time_days":5,"service_level_bp":9000,"reserve_inbound":true"#
            ),
        );
    }
    let (mut orders, mut pos) = (0, 0);
    let pick = |order: usize, orders: usize| format!("SO-{}", order % orders.max(1) + 1);
    let mut shipments = 0;
    for op in ops {
        let body = match op {
            Op::Pay { order } => format!(
                r#""type":"AuthorizePayment","order_id":"{}","amount_cents":1000000,"reference":"A""#,
                pick(*order, orders)
            ),
            Op::Pick { order, missing } => {
                // A line the warehouse has been asked to pick, if any.
                let released = lines_with(&handler, orders, |l| l.to_pick);
                let Some((order_id, line, units)) =
                    released.get(order % released.len().max(1)).cloned()
                else {
                    continue;
                };
                format!(
                    r#""type":"RecordPick","order_id":"{order_id}","line":{line},"qty":{}"#,
                    units.saturating_sub(*missing)
                )
            }
            Op::PackAndShip { order } => {
                let picked = lines_with(&handler, orders, |l| l.picked);
                let Some((order_id, _, _)) = picked.get(order % picked.len().max(1)).cloned()
                else {
                    continue;
                };
                send(
                    &mut process,
                    format!(r#""type":"PackOrder","order_id":"{order_id}""#),
                );
                shipments += 1;
                let lines: Vec<String> = lines_with(&handler, orders, |l| l.packed)
                    .into_iter()
                    .filter(|(o, _, _)| *o == order_id)
                    .map(|(_, line, qty)| format!(r#"{{"line":{line},"qty":{qty}}}"#))
                    .collect();
                format!(
                    r#""type":"ShipOrder","order_id":"{order_id}","shipment_id":"SHP-{shipments}","carrier":"DPD","tracking":"T","lines":[{}]"#,
                    lines.join(",")
                )
            }
            Op::Receive { sku, loc, qty } => format!(
                r#""type":"ReceiveStock","sku":"{}","location":"{}","qty":{qty}"#,
                SKUS[*sku], LOCATIONS[*loc]
            ),
            Op::Adjust { sku, loc, delta } => format!(
                r#""type":"AdjustStock","sku":"{}","location":"{}","delta":{delta},"reason":"{}""#,
                SKUS[*sku],
                LOCATIONS[*loc],
                if *delta < 0 { "damage" } else { "found" }
            ),
            Op::Count { sku, loc, counted } => format!(
                r#""type":"CountStock","sku":"{}","location":"{}","counted":{counted}"#,
                SKUS[*sku], LOCATIONS[*loc]
            ),
            Op::Place { lines, priority } => {
                orders += 1;
                let lines: Vec<String> = lines
                    .iter()
                    .enumerate()
                    .map(|(i, (sku, qty))| {
                        format!(
                            r#"{{"line":{},"sku":"{}","qty":{qty},"unit_price_cents":500}}"#,
                            i + 1,
                            SKUS[*sku]
                        )
                    })
                    .collect();
                format!(
                    r#""type":"PlaceOrder","order_id":"SO-{orders}","customer_id":"C","lines":[{}],"ship_to":"x","channel":"web","requested_date":"2026-03-03","priority":{priority}"#,
                    lines.join(",")
                )
            }
            Op::Cancel { order } => format!(
                r#""type":"CancelOrder","order_id":"SO-{}","reason":"test""#,
                order % orders.max(1) + 1
            ),
            Op::PlacePo { sku, loc, qty } => {
                pos += 1;
                format!(
                    r#""type":"PlacePurchaseOrder","po_id":"PO-{pos}","supplier_id":"S","ordered_on":"2026-03-02","lines":[{{"line":1,"sku":"{}","location":"{}","qty":{qty},"unit_cost_cents":100,"expected_date":"2026-03-09"}}]"#,
                    SKUS[*sku], LOCATIONS[*loc]
                )
            }
            Op::ReceivePo { po, qty } => format!(
                r#""type":"ReceivePurchaseOrderLine","po_id":"PO-{}","line":1,"qty":{qty},"received_on":"2026-03-09""#,
                po % pos.max(1) + 1
            ),
        };
        send(&mut process, body);
    }
    drop(process);
    drop(handler);
    (dir, store)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_handoff_never_oversells_and_both_sides_agree(ops in prop::collection::vec(op(), 1..60)) {
        let (_dir, store) = run(&ops);
        let events = store.read_all(1, usize::MAX).unwrap();
        let handler = CommandHandler::new(store.clone());

        // Never allocates beyond supply, and every shortage is explained: replay
        // each item's events by the command that caused them.
        let mut items: BTreeMap<String, InventoryItem> = BTreeMap::new();
        let mut by_command: Vec<(String, String, Vec<InventoryEvent>)> = Vec::new();
        for e in events.iter().filter(|e| e.stream.as_str().starts_with("inventory-")) {
            let event: InventoryEvent = serde_json::from_value(e.payload.clone()).unwrap();
            let cause = e.causation_id.clone().unwrap_or_default();
            match by_command.last_mut() {
                Some((c, s, batch)) if *c == cause && s == e.stream.as_str() => batch.push(event),
                _ => by_command.push((cause, e.stream.to_string(), vec![event])),
            }
        }
        for (cause, stream, batch) in &by_command {
            let before = items.entry(stream.clone()).or_default().clone();
            let mut state = before.clone();
            for event in batch {
                state = <InventoryItem as decider::Decider>::evolve(state, event);
                if let InventoryEvent::StockReserved { .. } = event {
                    prop_assert!(state.reserved() <= state.on_hand, "{cause} oversold {stream}");
                }
            }
            if state.on_hand < before.on_hand && state.on_hand < state.reserved() {
                let explained = batch.iter().any(|e| matches!(e, InventoryEvent::ShortageRecorded { .. }));
                prop_assert!(explained, "{cause} left {stream} short without a ShortageRecorded");
            }
            items.insert(stream.clone(), state);
        }

        // Both sides of the handoff agree: what each order line holds from a
        // source is exactly what that item has reserved for the line.
        let mut reserved_by_orders: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut inbound_by_orders: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        for stream in events.iter().map(|e| e.stream.to_string()).filter(|s| s.starts_with("order-")).collect::<std::collections::BTreeSet<_>>() {
            let (order, _) = handler.state::<Order>(&StreamName::parse(&stream).unwrap()).unwrap();
            let order_id = &order.header.as_ref().unwrap().order_id;
            for (n, line) in &order.lines {
                prop_assert!(line.allocated() + line.shipped_total() <= line.qty);
                prop_assert!(line.backordered <= line.open());
                for (source, allocation) in &line.allocations {
                    let key = format!("{order_id}#{n}");
                    match source {
                        SupplySource::Stock { location } => {
                            *reserved_by_orders.entry((format!("inventory-{}@{location}", line.sku), key)).or_default() += allocation.qty;
                        }
                        SupplySource::Inbound { po_id, location, po_line } => {
                            // The item keys a PO line's units as PO#LINE.
                            let po = po_line.map_or_else(|| po_id.clone(), |l| format!("{po_id}#{l}"));
                            *inbound_by_orders.entry((format!("inventory-{}@{location}", line.sku), po, key)).or_default() += allocation.qty;
                        }
                    }
                }
            }
        }
        let mut reserved_by_items = BTreeMap::new();
        let mut inbound_by_items = BTreeMap::new();
        for (stream, item) in &items {
            for (key, qty) in &item.reservations {
                reserved_by_items.insert((stream.clone(), key.clone()), *qty);
            }
            for (po, lines) in &item.inbound_reservations {
                for (key, qty) in lines {
                    inbound_by_items.insert((stream.clone(), po.clone(), key.clone()), *qty);
                }
            }
        }
        prop_assert_eq!(reserved_by_orders, reserved_by_items);
        prop_assert_eq!(inbound_by_orders, inbound_by_items);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3, ..ProptestConfig::default() })]

    /// The read models, caught up live after every command as the service
    /// does, equal a fresh rebuild from the log after a long random run.
    #[test]
    fn live_read_models_equal_a_fresh_rebuild_after_a_long_random_run(
        ops in prop::collection::vec(op(), 400..500)
    ) {
        let mut live: Option<ReadModels> = None;
        let (_dir, store) = run_with(&ops, |store| {
            let models = live.get_or_insert_with(|| ReadModels::open(store).unwrap());
            models.catch_up().unwrap();
        });
        let models = live.unwrap();
        prop_assert_eq!(models.atp.read_model().checkpoint().unwrap(), Some(store.head_position()));
        for name in NAMES {
            let report = models.check(name).unwrap().unwrap();
            prop_assert!(report.agrees(), "{}: {:?}", name, report.differences);
            prop_assert!(report.keys > 10, "{} holds only {} keys", name, report.keys);
        }
    }
}
