//! The replenishment process: its reactions given memory and an event,
//! and the whole loop through the real command path, restarts included.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use command_handler::CommandHandler;
use event_store::{RecordedEvent, Store, StoreConfig, StreamId};
use fulfilment::FulfilmentProcess;
use projections::ReadModels;
use replenishment::{react, suggestions, Memory, ReplenishmentProcess};
use schemas::purchasing::PurchaseOrderEvent;
use schemas::{CommandResult, EventType, InventoryEvent, OrderEvent};

fn day(n: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).unwrap() + Days::new(n)
}

fn noon(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
}

fn event<E: serde::Serialize + EventType>(
    position: u64,
    stream: &str,
    at: NaiveDate,
    e: &E,
) -> RecordedEvent {
    RecordedEvent {
        event_id: uuid::Uuid::nil(),
        stream: StreamId::new(stream).unwrap(),
        version: 1,
        position,
        event_type: e.event_type().to_owned(),
        schema_version: 1,
        recorded_at: noon(at),
        at: noon(at),
        correlation_id: None,
        causation_id: None,
        metadata: serde_json::Map::new(),
        payload: serde_json::to_value(e).unwrap(),
    }
}

fn supply_set() -> InventoryEvent {
    serde_json::from_value(serde_json::json!({
        "type": "SupplySet", "sku": "MUG", "location": "WH1", "supplier_id": "ACME",
        "lead_time_days": 5, "unit_cost_cents": 400, "service_level_bp": 9500
    }))
    .unwrap()
}

fn placed(order: &str, qty: u64) -> OrderEvent {
    serde_json::from_value(serde_json::json!({
        "type": "OrderPlaced", "order_id": order, "customer_id": "C", "ship_to": "x",
        "channel": "web", "requested_date": "2026-03-30", "priority": 0,
        "lines": [{"line": 1, "sku": "MUG", "qty": qty, "unit_price_cents": 100}]
    }))
    .unwrap()
}

/// (position, refresh, review) of each reaction.
fn what(reactions: &[replenishment::Reaction]) -> Vec<(String, bool, bool)> {
    reactions
        .iter()
        .map(|r| (format!("{}@{}", r.sku, r.location), r.refresh, r.review))
        .collect()
}

#[test]
fn supplier_terms_make_an_item_replenished_and_plan_it_at_once() {
    let mut memory = Memory::default();
    let r = react(
        &mut memory,
        &event(1, "inventory-MUG@WH1", day(0), &supply_set()),
    );
    assert_eq!(what(&r), vec![("MUG@WH1".into(), true, true)]);
    assert_eq!(memory.locations("MUG"), vec!["WH1".to_owned()]);
}

#[test]
fn the_policy_is_planned_again_at_the_first_order_of_each_week_only() {
    let mut memory = Memory::default();
    react(
        &mut memory,
        &event(1, "inventory-MUG@WH1", day(0), &supply_set()),
    );
    // Same week as the terms (Monday 2 March): nothing to plan again.
    assert!(react(
        &mut memory,
        &event(2, "order-SO-1", day(1), &placed("SO-1", 3))
    )
    .is_empty());
    // The next Monday: planned again and reviewed, once.
    let r = react(
        &mut memory,
        &event(3, "order-SO-2", day(7), &placed("SO-2", 3)),
    );
    assert_eq!(what(&r), vec![("MUG@WH1".into(), true, true)]);
    assert!(react(
        &mut memory,
        &event(4, "order-SO-3", day(8), &placed("SO-3", 3))
    )
    .is_empty());
    // A SKU nobody gave terms for is not replenished.
    let mut other = placed("SO-4", 1);
    if let OrderEvent::OrderPlaced { lines, .. } = &mut other {
        lines[0].sku = "CUP".into();
    }
    assert!(react(&mut memory, &event(5, "order-SO-4", day(14), &other)).is_empty());
}

#[test]
fn the_reorder_point_and_backorders_ask_for_a_review_and_receipts_for_a_new_plan() {
    let mut memory = Memory::default();
    react(
        &mut memory,
        &event(1, "inventory-MUG@WH1", day(0), &supply_set()),
    );
    let reached = InventoryEvent::ReorderPointReached {
        sku: "MUG".into(),
        location: "WH1".into(),
        position: 4,
        reorder_point: 5,
        order_qty: 10,
    };
    let r = react(
        &mut memory,
        &event(2, "inventory-MUG@WH1", day(1), &reached),
    );
    assert_eq!(what(&r), vec![("MUG@WH1".into(), false, true)]);
    let backordered = OrderEvent::LineBackordered {
        order_id: "SO-1".into(),
        line: 1,
        sku: "MUG".into(),
        qty: 2,
        need_date: None,
    };
    let r = react(&mut memory, &event(3, "order-SO-1", day(1), &backordered));
    assert_eq!(what(&r), vec![("MUG@WH1".into(), false, true)]);
    let received: PurchaseOrderEvent = serde_json::from_value(serde_json::json!({
        "type": "PurchaseOrderReceived", "po_id": "PO-1", "line": 1, "sku": "MUG",
        "location": "WH1", "qty": 10, "unit_cost_cents": 400, "received_on": "2026-03-09",
        "lead_time_days": 7, "days_late": 2, "over_received": 0
    }))
    .unwrap();
    let r = react(&mut memory, &event(4, "po-PO-1", day(7), &received));
    assert_eq!(what(&r), vec![("MUG@WH1".into(), true, false)]);
}

#[test]
fn a_suggestion_stays_open_until_an_order_is_placed_for_the_item() {
    let mut memory = Memory::default();
    react(
        &mut memory,
        &event(1, "inventory-MUG@WH1", day(0), &supply_set()),
    );
    let suggested: InventoryEvent = serde_json::from_value(serde_json::json!({
        "type": "ReplenishmentSuggested", "sku": "MUG", "location": "WH1", "qty": 20,
        "basis": {"method": "croston-sba", "demand_class": "lumpy", "forecast_milli_per_day": 2500,
            "history_days": 30, "lead_time_days": 5, "safety_stock": 4, "reorder_point": 17,
            "order_qty": 20, "position": 15, "service_level_bp": 9500, "expected_fill_rate_bp": 9900}
    }))
    .unwrap();
    assert!(react(
        &mut memory,
        &event(2, "inventory-MUG@WH1", day(1), &suggested)
    )
    .is_empty());
    assert!(memory.suggested.contains("MUG@WH1"));
    let po: PurchaseOrderEvent = serde_json::from_value(serde_json::json!({
        "type": "PurchaseOrderPlaced", "po_id": "PO-7", "supplier_id": "ACME",
        "ordered_on": "2026-03-03", "over_receipt_tolerance_pct": 10,
        "lines": [{"line": 1, "sku": "MUG", "location": "WH1", "qty": 20, "unit_cost_cents": 400, "expected_date": "2026-03-08"}]
    }))
    .unwrap();
    react(&mut memory, &event(3, "po-PO-7", day(1), &po));
    assert!(!memory.suggested.contains("MUG@WH1"));
}

#[test]
fn a_placed_order_counts_as_on_order_until_the_item_schedules_it() {
    let mut memory = Memory::default();
    react(
        &mut memory,
        &event(1, "inventory-MUG@WH1", day(0), &supply_set()),
    );
    let po: PurchaseOrderEvent = serde_json::from_value(serde_json::json!({
        "type": "PurchaseOrderPlaced", "po_id": "RP-9-0", "supplier_id": "ACME",
        "ordered_on": "2026-03-02", "over_receipt_tolerance_pct": 10,
        "lines": [
            {"line": 1, "sku": "MUG", "location": "WH1", "qty": 20, "unit_cost_cents": 400, "expected_date": "2026-03-07"},
            {"line": 2, "sku": "MUG", "location": "WH1", "qty": 5, "unit_cost_cents": 400, "expected_date": "2026-03-09"},
            {"line": 3, "sku": "CUP", "location": "WH1", "qty": 7, "unit_cost_cents": 400, "expected_date": "2026-03-09"}
        ]
    }))
    .unwrap();
    assert!(react(&mut memory, &event(2, "po-RP-9-0", day(0), &po)).is_empty());
    assert_eq!(memory.unscheduled("MUG@WH1"), 25);
    // Read twice (a re-run): still 25.
    react(&mut memory, &event(2, "po-RP-9-0", day(0), &po));
    assert_eq!(memory.unscheduled("MUG@WH1"), 25);
    let scheduled = InventoryEvent::InboundScheduled {
        sku: "MUG".into(),
        location: "WH1".into(),
        po_id: "RP-9-0".into(),
        po_line: Some(1),
        qty: 20,
        expected_date: day(5),
    };
    react(
        &mut memory,
        &event(3, "inventory-MUG@WH1", day(0), &scheduled),
    );
    assert_eq!(memory.unscheduled("MUG@WH1"), 0);
}

/// A store with the fulfilment and replenishment processes and the read models.
struct Loop {
    store: Store,
    handler: CommandHandler,
    models: ReadModels,
    fulfilment: FulfilmentProcess,
    replenishment: ReplenishmentProcess<CommandHandler>,
    sent: usize,
}

impl Loop {
    fn open(dir: &std::path::Path) -> Self {
        let store = Store::open(dir, StoreConfig::default()).unwrap();
        let handler = CommandHandler::new(store.clone());
        let models = ReadModels::open(&store).unwrap();
        Self {
            fulfilment: FulfilmentProcess::open(handler.clone()).unwrap(),
            replenishment: ReplenishmentProcess::open(
                store.clone(),
                handler.clone(),
                models.clone(),
            )
            .unwrap(),
            store,
            handler,
            models,
            sent: 0,
        }
    }

    fn submit(&mut self, json: &str) {
        self.sent += 1;
        let json = format!(r#"{{"command_id":"t-{}",{}"#, self.sent, &json[1..]);
        let envelope = schemas::parse_command(&json).unwrap();
        let result = self.handler.handle(&envelope).unwrap();
        assert!(
            matches!(result, CommandResult::Accepted { .. }),
            "{json}: {result:?}"
        );
        self.pump();
    }

    /// Both processes and the models until nothing more happens.
    fn pump(&mut self) {
        loop {
            let f = self.fulfilment.run_until_idle().unwrap();
            self.models.catch_up().unwrap();
            let r = self.replenishment.run_until_idle().unwrap();
            assert!(
                r.refused.is_empty(),
                "replenishment refused: {:?}",
                r.refused
            );
            if f.commands == 0 && r.commands == 0 {
                return;
            }
        }
    }

    fn purchase_orders(&self) -> Vec<(String, serde_json::Value)> {
        self.store
            .read_all(1, usize::MAX)
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type == "PurchaseOrderPlaced")
            .map(|e| (e.payload["po_id"].as_str().unwrap().to_owned(), e.payload))
            .collect()
    }
}

fn setup(l: &mut Loop, auto_order: bool) {
    l.submit(r#"{"type":"DefineSku","sku":"MUG","description":"Mug","unit_of_measure":"each","standard_cost_cents":400}"#);
    l.submit(r#"{"type":"DefineLocation","location":"WH1","name":"Bristol","kind":"warehouse"}"#);
    l.submit(r#"{"type":"ReceiveStock","sku":"MUG","location":"WH1","qty":40,"at":"2026-03-02T08:00:00Z"}"#);
    l.submit(&format!(
        r#"{{"type":"SetSupply","sku":"MUG","location":"WH1","supplier_id":"ACME","lead_time_days":5,"moq":10,"pack_size":5,"unit_cost_cents":400,"order_cost_cents":5000,"service_level_bp":9500,"auto_order":{auto_order},"at":"2026-03-02T08:00:00Z"}}"#
    ));
}

fn orders(l: &mut Loop, days: u64) {
    for n in 0..days {
        let qty = [3, 2, 4, 3, 1, 5, 2][n as usize % 7];
        l.submit(&format!(
            r#"{{"type":"PlaceOrder","order_id":"SO-{n}","customer_id":"C-1","ship_to":"1 Main St","channel":"web","requested_date":"{}","lines":[{{"line":1,"sku":"MUG","qty":{qty},"unit_price_cents":900}}],"at":"{}T10:00:00Z"}}"#,
            day(n + 14),
            day(n)
        ));
    }
}

#[test]
fn the_loop_plans_the_policy_and_orders_once_when_the_position_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Loop::open(dir.path());
    setup(&mut l, true);
    orders(&mut l, 21);
    let pos = l.purchase_orders();
    assert!(
        !pos.is_empty(),
        "the position fell from 40 by ~3 a day: an order was due"
    );
    for (po_id, payload) in &pos {
        assert!(po_id.starts_with("RP-"));
        let basis = &payload["basis"];
        let (position, rop) = (
            basis["position"].as_i64().unwrap(),
            basis["reorder_point"].as_i64().unwrap(),
        );
        assert!(position <= rop, "{basis}");
        let qty = payload["lines"][0]["qty"].as_u64().unwrap();
        assert!(
            qty >= 10 && qty.is_multiple_of(5),
            "MOQ 10 in packs of 5: {qty}"
        );
        assert_eq!(basis["order_qty"].as_u64().unwrap(), qty);
        assert!(basis["forecast_milli_per_day"].as_u64().unwrap() > 0);
        assert_eq!(payload["supplier_id"], "ACME");
    }
    // The item's policy was planned by the process: a reorder point above zero.
    let items = l.models.atp.items("MUG").unwrap();
    let policy = items[0].1.policy.clone().unwrap();
    assert!(
        policy.reorder_point > policy.safety_stock && policy.safety_stock > 0,
        "{policy:?}"
    );
    // Nothing ordered twice for one crossing: after each order the position is above the reorder point.
    let table = suggestions(&l.models, Some("MUG"), day(21)).unwrap();
    assert_eq!(table.len(), 1);
    assert!(table[0].position > table[0].reorder_point.unwrap() as i64 || table[0].order_now > 0);
}

#[test]
fn a_restart_before_the_order_is_scheduled_places_no_second_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Loop::open(dir.path());
    setup(&mut l, true);
    // Order day by day, and stop the moment the process has placed its
    // first purchase order: before the fulfilment process schedules it on
    // the item and before the next batch saves the memory.
    let mut placed = Vec::new();
    for n in 0..30 {
        let command = format!(
            r#"{{"command_id":"o-{n}","type":"PlaceOrder","order_id":"SO-{n}","customer_id":"C-1","ship_to":"1 Main St","channel":"web","requested_date":"{}","lines":[{{"line":1,"sku":"MUG","qty":4,"unit_price_cents":900}}],"at":"{}T10:00:00Z"}}"#,
            day(n + 14),
            day(n)
        );
        l.handler
            .handle(&schemas::parse_command(&command).unwrap())
            .unwrap();
        l.fulfilment.run_until_idle().unwrap();
        l.models.catch_up().unwrap();
        l.replenishment.run_until_idle().unwrap();
        placed = l.replenishment.take_placed();
        if !placed.is_empty() {
            break;
        }
    }
    assert_eq!(
        placed.len(),
        1,
        "one order when the position crossed the reorder point"
    );
    // The crash: the process's checkpoint and memory are lost; the item
    // does not count the order yet.
    drop(l.replenishment);
    l.store
        .checkpointed("replenishment-process")
        .unwrap()
        .clear()
        .unwrap();
    let item = l.models.atp.items("MUG").unwrap();
    assert!(item[0].1.inbound.is_empty(), "not scheduled yet");
    l.replenishment =
        ReplenishmentProcess::open(l.store.clone(), l.handler.clone(), l.models.clone()).unwrap();
    let again = l.replenishment.run_until_idle().unwrap();
    assert!(again.events > 0, "{again:?}");
    assert!(again.refused.is_empty(), "{again:?}");
    assert!(l
        .replenishment
        .take_placed()
        .iter()
        .all(|p| placed.contains(p)));
    assert_eq!(
        l.purchase_orders().len(),
        1,
        "the same order, not a second one"
    );
    // And the loop carries on: the order is scheduled on the item.
    l.pump();
    let item = l.models.atp.items("MUG").unwrap();
    assert_eq!(item[0].1.inbound.len(), 1);
}

#[test]
fn without_auto_order_the_item_is_only_suggested() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Loop::open(dir.path());
    setup(&mut l, false);
    orders(&mut l, 21);
    assert!(l.purchase_orders().is_empty());
    // The crossing is recorded once, with what it was computed from.
    let suggested: Vec<serde_json::Value> = l
        .store
        .read_all(1, usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "ReplenishmentSuggested")
        .map(|e| e.payload)
        .collect();
    assert_eq!(suggested.len(), 1, "{suggested:?}");
    let basis = &suggested[0]["basis"];
    assert!(
        basis["position"].as_i64() <= basis["reorder_point"].as_i64(),
        "{basis}"
    );
    assert_eq!(suggested[0]["qty"], basis["order_qty"]);
    let table = suggestions(&l.models, None, day(21)).unwrap();
    assert_eq!(table.len(), 1);
    let s = &table[0];
    assert!(s.position <= s.reorder_point.unwrap() as i64, "{s:?}");
    assert!(s.order_now >= 10 && s.order_now.is_multiple_of(5), "{s:?}");
    let plan = s.plan.as_ref().unwrap();
    assert!(plan.expected_fill_rate > 0.5 && plan.expected_fill_rate <= 1.0);
}
