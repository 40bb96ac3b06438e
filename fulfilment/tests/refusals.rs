//! A command the process is refused for an order is kept with its reason,
//! so the order's story can say what the process tried and why it was
//! refused; the process still finds the units elsewhere.

use std::sync::Arc;

use command_handler::CommandHandler;
use event_store::{Store, StoreConfig, StoreError};
use fulfilment::{FulfilmentProcess, Port};
use inventory_aggregate::InventoryItem;
use order_aggregate::Order;
use schemas::{CommandEnvelope, CommandResult};
use serde_json::Value;

/// The real command path, but a stale reading of MUG@WH1: it looks as if
/// ten units were free there, where two are.
struct StaleReading(CommandHandler);

impl Port for StaleReading {
    fn order(&self, order_id: &str) -> Result<Option<Arc<Order>>, StoreError> {
        self.0.order(order_id)
    }
    fn placement(&self, order_id: &str) -> Result<Option<(u8, u64)>, StoreError> {
        self.0.placement(order_id)
    }
    fn item(&self, sku: &str, location: &str) -> Result<Option<Arc<InventoryItem>>, StoreError> {
        let item = self.0.item(sku, location)?;
        Ok(match (sku, location, item) {
            ("MUG", "WH1", Some(item)) => Some(Arc::new(InventoryItem {
                on_hand: 10,
                ..(*item).clone()
            })),
            (_, _, item) => item,
        })
    }
    fn handle(&self, envelope: &CommandEnvelope) -> Result<CommandResult, StoreError> {
        Port::handle(&self.0, envelope)
    }
    fn recorded(&self, command_id: &str) -> Result<Option<Vec<Value>>, StoreError> {
        self.0.recorded(command_id)
    }
}

#[test]
fn a_refused_reservation_is_kept_for_the_orders_story_and_the_units_come_from_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let handler = CommandHandler::new(store.clone());
    for line in [
        r#"{"command_id":"m1","type":"DefineSku","sku":"MUG","description":"Mug","unit_of_measure":"each","standard_cost_cents":300}"#,
        r#"{"command_id":"m2","type":"DefineLocation","location":"WH1","name":"One","kind":"warehouse"}"#,
        r#"{"command_id":"m3","type":"DefineLocation","location":"WH2","name":"Two","kind":"warehouse"}"#,
        r#"{"command_id":"r1","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":2}"#,
        r#"{"command_id":"r2","type":"ReceiveStock","sku":"MUG","location":"WH2","qty":5}"#,
        r#"{"command_id":"o1","type":"PlaceOrder","order_id":"SO-1","customer_id":"C","ship_to":"X","channel":"web","requested_date":"2030-01-10","lines":[{"line":1,"sku":"MUG","qty":5,"unit_price_cents":900}]}"#,
    ] {
        let result = handler
            .handle(&schemas::parse_command(line).unwrap())
            .unwrap();
        assert!(
            matches!(result, CommandResult::Accepted { .. }),
            "{result:?}"
        );
    }
    let mut process =
        FulfilmentProcess::with_port(store.clone(), StaleReading(handler.clone())).unwrap();
    let progress = process.run_until_idle().unwrap();
    assert_eq!(
        progress.refused.get("insufficient_stock"),
        Some(&1),
        "{progress:?}"
    );
    assert!(
        progress.refusals.is_empty(),
        "the runner keeps them, not the count"
    );

    let refused = fulfilment::refusals(&store, "SO-1").unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let r = &refused[0];
    assert_eq!(
        (r.command_type.as_str(), r.reason.as_str()),
        ("ReserveStock", "insufficient_stock")
    );
    assert!(r.command_id.starts_with("fp-"), "{r:?}");
    assert!(
        r.message.contains('2'),
        "the message says what was free: {r:?}"
    );
    // The units came from WH2 instead.
    let (order, _) = handler
        .state::<Order>(&schemas::StreamName::order("SO-1").unwrap())
        .unwrap();
    let allocated: u64 = order
        .lines
        .values()
        .map(order_aggregate::Line::allocated)
        .sum();
    assert_eq!(allocated, 5);
    // Another order has no refusals.
    assert!(fulfilment::refusals(&store, "SO-2").unwrap().is_empty());
}
