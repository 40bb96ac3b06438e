//! The fulfilment policy, given / when / then, without a store: the
//! aggregates live in memory behind the process's port, and each test
//! reads as the rule it checks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use catalog::CatalogEntry;
use chrono::{TimeZone, Utc};
use decider::Aggregate;
use event_store::{RecordedEvent, StoreError, StreamId};
use fulfilment::{execute, react, Memory, Port, Progress};
use inventory_aggregate::InventoryItem;
use order_aggregate::Order;
use purchase_order_aggregate::PurchaseOrder;
use schemas::inventory::InventoryCommand;
use schemas::order::{OrderCommand, OrderEvent, SupplySource};
use schemas::{Command, CommandEnvelope, CommandResult, StreamName};
use serde_json::Value;

/// Every aggregate's state, by stream.
#[derive(Default, Clone)]
struct States {
    catalog: BTreeMap<String, CatalogEntry>,
    items: BTreeMap<String, InventoryItem>,
    orders: BTreeMap<String, Order>,
    purchase_orders: BTreeMap<String, PurchaseOrder>,
}

/// The aggregates in memory, the log they wrote, and what the process sent.
#[derive(Default)]
struct Aggregates {
    states: Mutex<States>,
    log: Mutex<Vec<RecordedEvent>>,
    sent: Mutex<Vec<Command>>,
    /// Item positions the process is shown instead of the real ones (a stale read).
    stale: Mutex<BTreeMap<String, InventoryItem>>,
}

/// Decides `command` against the stream's state and moves it on: each
/// event's type and payload, or the rejection's reason code.
fn decide<A: Aggregate>(
    states: &mut BTreeMap<String, A>,
    stream: &StreamName,
    command: &A::Command,
) -> Result<Vec<(&'static str, Value)>, &'static str>
where
    A::Event: serde::Serialize,
{
    let state = states.entry(stream.to_string()).or_default();
    let events = A::decide(state, command).map_err(|r| A::reason(&r).0)?;
    let next = events.iter().fold(state.clone(), A::evolve);
    *state = next;
    Ok(events
        .iter()
        .map(|e| (A::event_type(e), serde_json::to_value(e).unwrap()))
        .collect())
}

impl Aggregates {
    /// Decides and records `command`, as the command handler would.
    fn apply(&self, command: &Command) -> Result<Vec<RecordedEvent>, &'static str> {
        let stream = command_handler::stream_of(command).map_err(|e| e.code())?;
        let mut states = self.states.lock().unwrap();
        let payloads = match command {
            Command::Catalog(c) => decide::<CatalogEntry>(&mut states.catalog, &stream, c)?,
            Command::Inventory(c) => decide::<InventoryItem>(&mut states.items, &stream, c)?,
            Command::Order(c) => decide::<Order>(&mut states.orders, &stream, c)?,
            Command::PurchaseOrder(c) => {
                decide::<PurchaseOrder>(&mut states.purchase_orders, &stream, c)?
            }
        };
        let mut log = self.log.lock().unwrap();
        let head = log.len() as u64;
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let recorded: Vec<RecordedEvent> = payloads
            .into_iter()
            .zip(head + 1..)
            .map(|((event_type, payload), position)| RecordedEvent {
                event_id: uuid::Uuid::now_v7(),
                stream: StreamId::new(stream.to_string()).unwrap(),
                version: 0,
                position,
                event_type: event_type.to_owned(),
                schema_version: 1,
                recorded_at: at,
                at,
                correlation_id: None,
                causation_id: None,
                metadata: serde_json::Map::new(),
                payload,
            })
            .collect();
        log.extend(recorded.iter().cloned());
        Ok(recorded)
    }
}

impl Port for Aggregates {
    fn order(&self, order_id: &str) -> Result<Option<Arc<Order>>, StoreError> {
        let key = StreamName::order(order_id).unwrap().to_string();
        Ok(self
            .states
            .lock()
            .unwrap()
            .orders
            .get(&key)
            .cloned()
            .map(Arc::new))
    }

    fn placement(&self, order_id: &str) -> Result<Option<(u8, u64)>, StoreError> {
        let stream = StreamName::order(order_id).unwrap().to_string();
        let log = self.log.lock().unwrap();
        Ok(log
            .iter()
            .find(|e| e.stream.as_str() == stream)
            .and_then(|e| match serde_json::from_value(e.payload.clone()) {
                Ok(OrderEvent::OrderPlaced { priority, .. }) => Some((priority, e.position)),
                _ => None,
            }))
    }

    fn item(&self, sku: &str, location: &str) -> Result<Option<Arc<InventoryItem>>, StoreError> {
        let key = StreamName::inventory(sku, location).unwrap().to_string();
        if let Some(stale) = self.stale.lock().unwrap().get(&key) {
            return Ok(Some(Arc::new(stale.clone())));
        }
        Ok(self
            .states
            .lock()
            .unwrap()
            .items
            .get(&key)
            .cloned()
            .map(Arc::new))
    }

    fn handle(&self, envelope: &CommandEnvelope) -> Result<CommandResult, StoreError> {
        self.sent.lock().unwrap().push(envelope.command.clone());
        Ok(match self.apply(&envelope.command) {
            Ok(events) => CommandResult::Accepted {
                command_id: envelope.command_id.clone(),
                stream: String::new(),
                events: events.iter().map(|e| e.event_type.clone()).collect(),
                first_position: 0,
                last_position: 0,
                version: 0,
                duplicate: false,
            },
            Err(reason) => {
                CommandResult::rejected(&envelope.command_id, reason, "refused in memory")
            }
        })
    }

    fn recorded(&self, _command_id: &str) -> Result<Option<Vec<Value>>, StoreError> {
        Ok(None)
    }
}

/// A history the process has seen (its reactions to it are not run).
struct Given {
    aggregates: Aggregates,
    memory: Memory,
}

fn command(json: &str) -> Command {
    let mut body: Value = serde_json::from_str(json).unwrap();
    body["command_id"] = Value::from("test");
    schemas::parse_command(&body.to_string()).unwrap().command
}

/// Two warehouses and the SKUs MUG and LAMP, then `history`.
fn given(history: &[&str]) -> Given {
    let mut world = Given {
        aggregates: Aggregates::default(),
        memory: Memory::default(),
    };
    let master = [
        r#"{"type":"DefineLocation","location":"WH1","name":"Bristol","kind":"warehouse"}"#,
        r#"{"type":"DefineLocation","location":"WH2","name":"Leeds","kind":"warehouse"}"#,
    ];
    for json in master.iter().chain(history) {
        let events = world
            .aggregates
            .apply(&command(json))
            .unwrap_or_else(|e| panic!("the history is refused: {json}: {e}"));
        for e in &events {
            react(&mut world.memory, &world.aggregates, e).unwrap();
        }
    }
    world
}

impl Given {
    /// Applies `json` and runs the process's reactions to what it recorded:
    /// the commands the process sends.
    fn when(mut self, json: &str) -> Then {
        let events = self.aggregates.apply(&command(json)).unwrap();
        let mut reactions = Vec::new();
        for e in &events {
            reactions.extend(react(&mut self.memory, &self.aggregates, e).unwrap());
        }
        let progress = execute(&self.aggregates, self.memory.locations(), &reactions).unwrap();
        Then {
            sent: self.aggregates.sent.into_inner().unwrap(),
            progress,
        }
    }

    /// Shows the process `sku@location` as it was before `history` (a stale read).
    fn stale(self, sku: &str, location: &str) -> Self {
        let key = StreamName::inventory(sku, location).unwrap().to_string();
        let current = self.aggregates.states.lock().unwrap().items[&key].clone();
        let mut shown = current;
        shown.on_hand += 100;
        self.aggregates.stale.lock().unwrap().insert(key, shown);
        self
    }
}

struct Then {
    sent: Vec<Command>,
    progress: Progress,
}

impl Then {
    #[track_caller]
    fn then_sends(self, expected: impl IntoIterator<Item = Command>) -> Progress {
        assert_eq!(self.sent, expected.into_iter().collect::<Vec<_>>());
        self.progress
    }
}

const RECEIVE_MUG_WH1_3: &str = r#"{"type":"ReceiveStock","sku":"MUG","location":"WH1","qty":3}"#;
const RECEIVE_MUG_WH2_8: &str = r#"{"type":"ReceiveStock","sku":"MUG","location":"WH2","qty":8}"#;

fn place(order_id: &str, qty: u64, priority: u8) -> String {
    format!(
        r#"{{"type":"PlaceOrder","order_id":"{order_id}","customer_id":"C","lines":[{{"line":1,"sku":"MUG","qty":{qty},"unit_price_cents":900}}],"ship_to":"x","channel":"web","requested_date":"2026-03-05","priority":{priority}}}"#
    )
}

fn reserve(order_id: &str, location: &str, qty: u64) -> Command {
    Command::Inventory(InventoryCommand::ReserveStock {
        sku: "MUG".into(),
        location: location.into(),
        order_id: order_id.into(),
        line: 1,
        qty,
        need_date: Some(d(5)),
    })
}

/// A day of March 2026 (the tests' today is the 2nd).
fn d(day: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
}

fn allocate(order_id: &str, location: &str, qty: u64) -> Command {
    Command::Order(OrderCommand::AllocateLine {
        order_id: order_id.into(),
        line: 1,
        qty,
        source: SupplySource::Stock {
            location: location.into(),
        },
        promise_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 5).unwrap(),
    })
}

fn backorder(order_id: &str, qty: u64) -> Command {
    Command::Order(OrderCommand::BackorderLine {
        order_id: order_id.into(),
        line: 1,
        qty,
    })
}

#[test]
fn a_line_is_sourced_from_the_location_with_most_free_stock_first() {
    given(&[RECEIVE_MUG_WH1_3, RECEIVE_MUG_WH2_8])
        .when(&place("SO-1", 5, 0))
        .then_sends([reserve("SO-1", "WH2", 5), allocate("SO-1", "WH2", 5)]);
}

#[test]
fn a_line_larger_than_one_location_is_split_and_the_rest_backordered() {
    given(&[RECEIVE_MUG_WH1_3, RECEIVE_MUG_WH2_8])
        .when(&place("SO-1", 15, 0))
        .then_sends([
            reserve("SO-1", "WH2", 8),
            allocate("SO-1", "WH2", 8),
            reserve("SO-1", "WH1", 3),
            allocate("SO-1", "WH1", 3),
            backorder("SO-1", 4),
        ]);
}

#[test]
fn a_refused_reservation_moves_on_to_the_next_location() {
    // The process reads 108 free at WH2; the item itself has 8 and refuses 10.
    let progress = given(&[RECEIVE_MUG_WH1_3, RECEIVE_MUG_WH2_8])
        .stale("MUG", "WH2")
        .when(&place("SO-1", 10, 0))
        .then_sends([
            reserve("SO-1", "WH2", 10),
            reserve("SO-1", "WH1", 3),
            allocate("SO-1", "WH1", 3),
            backorder("SO-1", 7),
        ]);
    // The refusal is counted by its reason, for the summary and /metrics.
    assert_eq!((progress.commands, progress.accepted), (4, 3));
    assert_eq!(progress.refused, [("insufficient_stock", 1)].into());
}

#[test]
fn units_due_on_a_po_are_promised_only_where_the_policy_allows() {
    let schedule = r#"{"type":"ScheduleInbound","sku":"MUG","location":"WH1","po_id":"PO-1","qty":20,"expected_date":"2026-03-09"}"#;
    let policy = r#"{"type":"SetReorderPolicy","sku":"MUG","location":"WH1","reorder_point":0,"safety_stock":0,"order_qty":10,"lead_time_days":7,"service_level_bp":9500,"reserve_inbound":true}"#;
    given(&[schedule])
        .when(&place("SO-1", 4, 0))
        .then_sends([backorder("SO-1", 4)]);
    given(&[schedule, policy])
        .when(&place("SO-1", 4, 0))
        .then_sends([
            Command::Inventory(InventoryCommand::ReserveInbound {
                po_line: None,
                sku: "MUG".into(),
                location: "WH1".into(),
                order_id: "SO-1".into(),
                line: 1,
                qty: 4,
                po_id: "PO-1".into(),
                need_date: Some(d(5)),
            }),
            Command::Order(OrderCommand::AllocateLine {
                order_id: "SO-1".into(),
                line: 1,
                qty: 4,
                source: SupplySource::Inbound {
                    po_line: None,
                    po_id: "PO-1".into(),
                    location: "WH1".into(),
                },
                promise_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(),
            }),
        ]);
}

#[test]
fn a_receipt_fills_backorders_by_priority_then_by_placement() {
    let backordered = |order_id: &str, qty: u64| {
        format!(r#"{{"type":"BackorderLine","order_id":"{order_id}","line":1,"qty":{qty}}}"#)
    };
    given(&[
        &place("SO-1", 3, 0),
        &backordered("SO-1", 3),
        &place("SO-2", 4, 5),
        &backordered("SO-2", 4),
        &place("SO-3", 2, 5),
        &backordered("SO-3", 2),
    ])
    .when(r#"{"type":"ReceiveStock","sku":"MUG","location":"WH1","qty":7}"#)
    .then_sends([
        reserve("SO-2", "WH1", 4),
        allocate("SO-2", "WH1", 4),
        reserve("SO-3", "WH1", 2),
        allocate("SO-3", "WH1", 2),
        reserve("SO-1", "WH1", 1),
        allocate("SO-1", "WH1", 1),
    ]);
}

#[test]
fn a_paid_order_with_allocated_stock_is_released_to_the_warehouse() {
    let pay =
        r#"{"type":"AuthorizePayment","order_id":"SO-1","amount_cents":2700,"reference":"r"}"#;
    let allocated = r#"{"type":"AllocateLine","order_id":"SO-1","line":1,"qty":3,"source":{"kind":"stock","location":"WH1"},"promise_date":"2026-03-05"}"#;
    let release = Command::Order(OrderCommand::ReleaseToWarehouse {
        order_id: "SO-1".into(),
    });
    given(&[RECEIVE_MUG_WH1_3, &place("SO-1", 3, 0), allocated])
        .when(pay)
        .then_sends([release]);
    // Unpaid: nothing to release yet.
    given(&[RECEIVE_MUG_WH1_3, &place("SO-1", 3, 0)])
        .when(allocated)
        .then_sends([]);
}

#[test]
fn a_cancelled_order_gives_its_reservations_back() {
    let allocated = r#"{"type":"AllocateLine","order_id":"SO-1","line":1,"qty":3,"source":{"kind":"stock","location":"WH1"},"promise_date":"2026-03-05"}"#;
    given(&[RECEIVE_MUG_WH1_3, &place("SO-1", 3, 0), allocated])
        .when(r#"{"type":"CancelOrder","order_id":"SO-1","reason":"customer"}"#)
        .then_sends([Command::Inventory(InventoryCommand::ReleaseReservation {
            po_line: None,
            sku: "MUG".into(),
            location: "WH1".into(),
            order_id: "SO-1".into(),
            line: 1,
            po_id: None,
            qty: Some(3),
        })]);
}

#[test]
fn a_cancelled_po_line_cancels_its_inbound_supply() {
    let po = r#"{"type":"PlacePurchaseOrder","po_id":"PO-1","supplier_id":"S","ordered_on":"2026-03-02","lines":[{"line":1,"sku":"MUG","location":"WH1","qty":20,"unit_cost_cents":300,"expected_date":"2026-03-09"}]}"#;
    given(&[po])
        .when(r#"{"type":"CancelPurchaseOrderLine","po_id":"PO-1","line":1}"#)
        .then_sends([Command::Inventory(InventoryCommand::CancelInbound {
            po_line: Some(1),
            sku: "MUG".into(),
            location: "WH1".into(),
            po_id: "PO-1".into(),
        })]);
}

const POLICY_INBOUND_WH1: &str = r#"{"type":"SetReorderPolicy","sku":"MUG","location":"WH1","reorder_point":0,"safety_stock":0,"order_qty":10,"lead_time_days":7,"service_level_bp":9500,"reserve_inbound":true}"#;

/// MUG due at WH1 on PO `po_id` on March `day`.
fn due(po_id: &str, qty: u64, day: u32) -> String {
    format!(
        r#"{{"type":"ScheduleInbound","sku":"MUG","location":"WH1","po_id":"{po_id}","qty":{qty},"expected_date":"2026-03-{day:02}"}}"#
    )
}

/// An order for `qty` MUG needed on March `day`.
fn place_for(order_id: &str, qty: u64, day: u32) -> String {
    format!(
        r#"{{"type":"PlaceOrder","order_id":"{order_id}","customer_id":"C","lines":[{{"line":1,"sku":"MUG","qty":{qty},"unit_price_cents":900}}],"ship_to":"x","channel":"web","requested_date":"2026-03-{day:02}"}}"#
    )
}

fn reserve_for(order_id: &str, qty: u64, need: u32) -> Command {
    Command::Inventory(InventoryCommand::ReserveStock {
        sku: "MUG".into(),
        location: "WH1".into(),
        order_id: order_id.into(),
        line: 1,
        qty,
        need_date: Some(d(need)),
    })
}

fn reserve_inbound(order_id: &str, po_id: &str, qty: u64, need: u32) -> Command {
    Command::Inventory(InventoryCommand::ReserveInbound {
        po_line: None,
        sku: "MUG".into(),
        location: "WH1".into(),
        order_id: order_id.into(),
        line: 1,
        qty,
        po_id: po_id.into(),
        need_date: Some(d(need)),
    })
}

fn allocate_from(order_id: &str, source: SupplySource, qty: u64, promise: u32) -> Command {
    Command::Order(OrderCommand::AllocateLine {
        order_id: order_id.into(),
        line: 1,
        qty,
        source,
        promise_date: d(promise),
    })
}

fn stock_wh1() -> SupplySource {
    SupplySource::Stock {
        location: "WH1".into(),
    }
}

fn po(po_id: &str) -> SupplySource {
    SupplySource::Inbound {
        po_line: None,
        po_id: po_id.into(),
        location: "WH1".into(),
    }
}

fn release(order_id: &str, source: &SupplySource, qty: u64) -> Command {
    Command::Inventory(InventoryCommand::ReleaseReservation {
        po_line: None,
        sku: "MUG".into(),
        location: "WH1".into(),
        order_id: order_id.into(),
        line: 1,
        po_id: source.po_id().map(str::to_owned),
        qty: Some(qty),
    })
}

fn deallocate(order_id: &str, source: SupplySource, qty: u64, reason: &str) -> Command {
    Command::Order(OrderCommand::DeallocateLine {
        order_id: order_id.into(),
        line: 1,
        source,
        qty,
        reason: reason.into(),
    })
}

#[test]
fn a_line_takes_the_latest_supply_due_by_its_need_date_leaving_stock_for_earlier_needs() {
    let history = [
        r#"{"type":"ReceiveStock","sku":"MUG","location":"WH1","qty":10}"#,
        POLICY_INBOUND_WH1,
        &due("PO-1", 20, 4),
        &due("PO-2", 20, 8),
    ];
    // Needed on the 6th: PO-1 (due the 4th) is the latest supply by then.
    given(&history).when(&place_for("SO-1", 5, 6)).then_sends([
        reserve_inbound("SO-1", "PO-1", 5, 6),
        allocate_from("SO-1", po("PO-1"), 5, 6),
    ]);
    // Needed today: only stock on hand arrives by then.
    given(&history).when(&place_for("SO-1", 5, 2)).then_sends([
        reserve_for("SO-1", 5, 2),
        allocate_from("SO-1", stock_wh1(), 5, 2),
    ]);
    // A date already past is a need for today.
    given(&history).when(&place_for("SO-1", 5, 1)).then_sends([
        reserve_for("SO-1", 5, 2),
        allocate_from("SO-1", stock_wh1(), 5, 2),
    ]);
    // More than arrives by the need date: the rest is confirmed late, from
    // the earliest supply after it, for its date.
    given(&history).when(&place_for("SO-1", 35, 6)).then_sends([
        reserve_inbound("SO-1", "PO-1", 20, 6),
        allocate_from("SO-1", po("PO-1"), 20, 6),
        reserve_for("SO-1", 10, 6),
        allocate_from("SO-1", stock_wh1(), 10, 6),
        reserve_inbound("SO-1", "PO-2", 5, 6),
        allocate_from("SO-1", po("PO-2"), 5, 8),
    ]);
}

#[test]
fn an_overdue_po_is_not_a_source() {
    given(&[POLICY_INBOUND_WH1, &due("PO-1", 20, 1)])
        .when(&place_for("SO-1", 5, 6))
        .then_sends([backorder("SO-1", 5)]);
}

#[test]
fn stock_held_for_a_later_need_is_re_pinned_to_supply_that_still_arrives_by_then() {
    // SO-9, needed on the 20th, took the stock before PO-1 was placed.
    let history = [
        r#"{"type":"ReceiveStock","sku":"MUG","location":"WH1","qty":10}"#,
        POLICY_INBOUND_WH1,
        &place_for("SO-9", 10, 20),
        r#"{"type":"ReserveStock","sku":"MUG","location":"WH1","order_id":"SO-9","line":1,"qty":10,"need_date":"2026-03-20"}"#,
        r#"{"type":"AllocateLine","order_id":"SO-9","line":1,"qty":10,"source":{"kind":"stock","location":"WH1"},"promise_date":"2026-03-20"}"#,
        &due("PO-1", 6, 12),
    ];
    given(&history).when(&place_for("SO-1", 8, 3)).then_sends([
        // 6 of SO-9's units move to PO-1 (due the 12th, before its 20th)...
        reserve_inbound("SO-9", "PO-1", 6, 20),
        Command::Order(OrderCommand::RepinLine {
            order_id: "SO-9".into(),
            line: 1,
            qty: 6,
            from: stock_wh1(),
            to: po("PO-1"),
        }),
        release("SO-9", &stock_wh1(), 6),
        // ...and the stock they free serves SO-1 on the 3rd.
        reserve_for("SO-1", 6, 3),
        allocate_from("SO-1", stock_wh1(), 6, 3),
        backorder("SO-1", 2),
    ]);
}

#[test]
fn a_po_re_dated_earlier_pulls_its_lines_in_and_tells_the_customer() {
    let [reserved, allocated] = promised_from_po("SO-1", "PO-1", 4, 5, 12);
    let history = [
        POLICY_INBOUND_WH1,
        &due("PO-1", 20, 12),
        &place_for("SO-1", 4, 5),
        &reserved,
        &allocated,
    ];
    given(&history)
        .when(&due("PO-1", 20, 7))
        .then_sends([Command::Order(OrderCommand::RescheduleLine {
            order_id: "SO-1".into(),
            line: 1,
            source: po("PO-1"),
            promise_date: d(7),
            reason: "purchase order PO-1 is now due 2026-03-07".into(),
        })]);
}

/// `order_id`'s line 1, needed on March `need`, holds `qty` units of
/// `po_id` at WH1, promised for March `promise`: the reservation and the
/// allocation, as the process would have sent them.
fn promised_from_po(order_id: &str, po_id: &str, qty: u64, need: u32, promise: u32) -> [String; 2] {
    [
        reserve_inbound_json(order_id, po_id, qty, need),
        format!(
            r#"{{"type":"AllocateLine","order_id":"{order_id}","line":1,"qty":{qty},"source":{{"kind":"inbound","po_id":"{po_id}","location":"WH1"}},"promise_date":"2026-03-{promise:02}"}}"#
        ),
    ]
}

fn reserve_inbound_json(order_id: &str, po_id: &str, qty: u64, need: u32) -> String {
    format!(
        r#"{{"type":"ReserveInbound","sku":"MUG","location":"WH1","order_id":"{order_id}","line":1,"qty":{qty},"po_id":"{po_id}","need_date":"2026-03-{need:02}"}}"#
    )
}

#[test]
fn a_po_re_dated_later_moves_its_lines_only_as_far_as_they_must() {
    // SO-1 (priority 0) and SO-2 (priority 5) wait on PO-1, due the 4th,
    // for the 5th; 3 units are on hand.
    let [so1_reserved, so1_allocated] = promised_from_po("SO-1", "PO-1", 2, 5, 5);
    let [so2_reserved, so2_allocated] = promised_from_po("SO-2", "PO-1", 2, 5, 5);
    let history = [
        r#"{"type":"ReceiveStock","sku":"MUG","location":"WH1","qty":3}"#,
        POLICY_INBOUND_WH1,
        &due("PO-1", 20, 4),
        &place("SO-1", 2, 0),
        &so1_reserved,
        &so1_allocated,
        &place("SO-2", 2, 5),
        &so2_reserved,
        &so2_allocated,
    ];
    let reason = "purchase order PO-1 is now due 2026-03-12";
    // The higher priority keeps its date from stock; the other takes what
    // stock is left and waits for PO-1's new date for the rest.
    given(&history).when(&due("PO-1", 20, 12)).then_sends([
        deallocate("SO-2", po("PO-1"), 2, reason),
        release("SO-2", &po("PO-1"), 2),
        reserve("SO-2", "WH1", 2),
        allocate("SO-2", "WH1", 2),
        deallocate("SO-1", po("PO-1"), 2, reason),
        release("SO-1", &po("PO-1"), 2),
        reserve("SO-1", "WH1", 1),
        allocate("SO-1", "WH1", 1),
        reserve_inbound("SO-1", "PO-1", 1, 5),
        allocate_from("SO-1", po("PO-1"), 1, 12),
    ]);
}

#[test]
fn stock_found_short_is_taken_back_from_the_lowest_priority_latest_order_first() {
    let history = [
        r#"{"type":"ReceiveStock","sku":"MUG","location":"WH1","qty":10}"#,
        &place("SO-1", 6, 0),
        r#"{"type":"ReserveStock","sku":"MUG","location":"WH1","order_id":"SO-1","line":1,"qty":6}"#,
        r#"{"type":"AllocateLine","order_id":"SO-1","line":1,"qty":6,"source":{"kind":"stock","location":"WH1"},"promise_date":"2026-03-05"}"#,
        &place("SO-2", 4, 5),
        r#"{"type":"ReserveStock","sku":"MUG","location":"WH1","order_id":"SO-2","line":1,"qty":4}"#,
        r#"{"type":"AllocateLine","order_id":"SO-2","line":1,"qty":4,"source":{"kind":"stock","location":"WH1"},"promise_date":"2026-03-05"}"#,
    ];
    let reason = "stock at WH1 was found short";
    given(&history)
        .when(r#"{"type":"CountStock","sku":"MUG","location":"WH1","counted":7}"#)
        .then_sends([
            deallocate("SO-1", stock_wh1(), 3, reason),
            release("SO-1", &stock_wh1(), 3),
            backorder("SO-1", 3),
        ]);
}

#[test]
fn a_line_confirmed_late_is_pulled_in_when_supply_arrives_in_time() {
    // SO-1 needs 4 on the 5th; only PO-2 (the 12th) could promise them.
    let [reserved, allocated] = promised_from_po("SO-1", "PO-2", 4, 5, 12);
    let history = [
        POLICY_INBOUND_WH1,
        &due("PO-2", 20, 12),
        &place_for("SO-1", 4, 5),
        &reserved,
        &allocated,
    ];
    given(&history)
        .when(r#"{"type":"ReceiveStock","sku":"MUG","location":"WH1","qty":10}"#)
        .then_sends([
            deallocate("SO-1", po("PO-2"), 4, "pulled in: supply arrives earlier"),
            release("SO-1", &po("PO-2"), 4),
            reserve_for("SO-1", 4, 5),
            allocate_from("SO-1", stock_wh1(), 4, 5),
        ]);
    // Supply that arrives earlier than promised, though after the need
    // date, pulls the line in to its date.
    given(&history).when(&due("PO-3", 10, 9)).then_sends([
        deallocate("SO-1", po("PO-2"), 4, "pulled in: supply arrives earlier"),
        release("SO-1", &po("PO-2"), 4),
        reserve_inbound("SO-1", "PO-3", 4, 5),
        allocate_from("SO-1", po("PO-3"), 4, 9),
    ]);
    // Supply later than the promise pulls nothing in.
    given(&history).when(&due("PO-4", 10, 15)).then_sends([]);
}

#[test]
fn a_cancelled_po_line_reschedules_the_lines_promised_from_it() {
    let [reserved, allocated] = promised_from_po("SO-1", "PO-1", 4, 5, 5);
    let history = [
        r#"{"type":"ReceiveStock","sku":"MUG","location":"WH1","qty":3}"#,
        POLICY_INBOUND_WH1,
        &due("PO-1", 20, 4),
        &place("SO-1", 4, 0),
        &reserved,
        &allocated,
    ];
    // What stock there is keeps the date; the rest waits on a backorder.
    given(&history)
        .when(r#"{"type":"CancelInbound","sku":"MUG","location":"WH1","po_id":"PO-1"}"#)
        .then_sends([
            deallocate(
                "SO-1",
                po("PO-1"),
                4,
                "purchase order PO-1 will not bring these units",
            ),
            reserve("SO-1", "WH1", 3),
            allocate("SO-1", "WH1", 3),
            backorder("SO-1", 1),
        ]);
}

#[test]
fn a_need_date_beyond_all_supply_is_confirmed_from_what_arrives_by_then() {
    // Needed in a year: the PO due on the 4th is the latest supply by then.
    let history = [
        r#"{"type":"ReceiveStock","sku":"MUG","location":"WH1","qty":10}"#,
        POLICY_INBOUND_WH1,
        &due("PO-1", 20, 4),
    ];
    let far = r#"{"type":"PlaceOrder","order_id":"SO-1","customer_id":"C","lines":[{"line":1,"sku":"MUG","qty":25,"unit_price_cents":900,"need_date":"2027-03-01"}],"ship_to":"x","channel":"web","requested_date":"2026-03-05"}"#;
    let year = chrono::NaiveDate::from_ymd_opt(2027, 3, 1).unwrap();
    given(&history).when(far).then_sends([
        Command::Inventory(InventoryCommand::ReserveInbound {
            sku: "MUG".into(),
            location: "WH1".into(),
            order_id: "SO-1".into(),
            line: 1,
            qty: 20,
            po_id: "PO-1".into(),
            po_line: None,
            need_date: Some(year),
        }),
        Command::Order(OrderCommand::AllocateLine {
            order_id: "SO-1".into(),
            line: 1,
            qty: 20,
            source: po("PO-1"),
            promise_date: year,
        }),
        Command::Inventory(InventoryCommand::ReserveStock {
            sku: "MUG".into(),
            location: "WH1".into(),
            order_id: "SO-1".into(),
            line: 1,
            qty: 5,
            need_date: Some(year),
        }),
        Command::Order(OrderCommand::AllocateLine {
            order_id: "SO-1".into(),
            line: 1,
            qty: 5,
            source: stock_wh1(),
            promise_date: year,
        }),
    ]);
}
