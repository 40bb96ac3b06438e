//! What the process asks of the rest of the system: the current state of
//! an order or an inventory item, and the command path. The runner gives
//! it the real [`CommandHandler`]; tests give it aggregates in memory.

use std::sync::Arc;

use command_handler::CommandHandler;
use event_store::StoreError;
use inventory_aggregate::InventoryItem;
use order_aggregate::Order;
use schemas::order::OrderEvent;
use schemas::{CommandEnvelope, CommandResult, StreamName};
use serde_json::Value;

/// The process's view of the aggregates and its way to send commands.
pub trait Port: Sync {
    /// The order's current state, if it has any events.
    fn order(&self, order_id: &str) -> Result<Option<Arc<Order>>, StoreError>;
    /// The order's priority and the log position of its placement.
    fn placement(&self, order_id: &str) -> Result<Option<(u8, u64)>, StoreError>;
    /// The item's current state, if it has any events.
    fn item(&self, sku: &str, location: &str) -> Result<Option<Arc<InventoryItem>>, StoreError>;
    /// Handles a command of the process's: like any upstream system's,
    /// except that the handoff's own commands are open to it.
    fn handle(&self, envelope: &CommandEnvelope) -> Result<CommandResult, StoreError>;
    /// The payloads a command recorded on its first run, if it was recorded.
    fn recorded(&self, command_id: &str) -> Result<Option<Vec<Value>>, StoreError>;
}

fn named(name: Result<StreamName, schemas::InvalidField>) -> Option<StreamName> {
    name.ok()
}

impl Port for CommandHandler {
    fn order(&self, order_id: &str) -> Result<Option<Arc<Order>>, StoreError> {
        let Some(stream) = named(StreamName::order(order_id)) else {
            return Ok(None);
        };
        let (order, version) = self.state::<Order>(&stream)?;
        Ok((version > 0).then_some(order))
    }

    fn placement(&self, order_id: &str) -> Result<Option<(u8, u64)>, StoreError> {
        let Some(stream) = named(StreamName::order(order_id)) else {
            return Ok(None);
        };
        let stream = command_handler::stream_id(&stream)?;
        let Some(first) = self.store().read_stream(&stream, 1)?.into_iter().next() else {
            return Ok(None);
        };
        Ok(match serde_json::from_value(first.payload) {
            Ok(OrderEvent::OrderPlaced { priority, .. }) => Some((priority, first.position)),
            _ => None,
        })
    }

    fn item(&self, sku: &str, location: &str) -> Result<Option<Arc<InventoryItem>>, StoreError> {
        let Some(stream) = named(StreamName::inventory(sku, location)) else {
            return Ok(None);
        };
        let (item, version) = self.state::<InventoryItem>(&stream)?;
        Ok((version > 0).then_some(item))
    }

    fn handle(&self, envelope: &CommandEnvelope) -> Result<CommandResult, StoreError> {
        CommandHandler::handle_from_process(self, envelope)
    }

    fn recorded(&self, command_id: &str) -> Result<Option<Vec<Value>>, StoreError> {
        Ok(self
            .recorded_events(command_id)?
            .map(|events| events.into_iter().map(|e| e.payload).collect()))
    }
}
