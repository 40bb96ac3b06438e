//! Applies commands to the store: the one path every command takes,
//! whether it came from `fulfil submit`, the demo or (later) Kafka.

use decider::Decider;
use event_store::{
    AppendOutcome, AppendRequest, ExpectedVersion, NewEvent, RecordedEvent, Store, StoreError,
    StreamId,
};
use inventory_aggregate::{check_id, InventoryItem, STATE_SCHEMA};
use schemas::{Command, CommandEnvelope, InvalidCommand, InventoryCommand, InventoryEvent};
use serde::Serialize;

/// Appends lost to a concurrent writer are re-decided this many times.
const MAX_ATTEMPTS: usize = 16;
/// A snapshot is cached every this many versions of a stream.
const SNAPSHOT_EVERY: u64 = 100;

/// What became of one command; printed as one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CommandResult {
    /// The events are durable in the log.
    Accepted {
        command_id: String,
        stream: String,
        events: Vec<String>,
        first_position: u64,
        last_position: u64,
        version: u64,
        /// A retry of a command applied before: nothing new was written.
        duplicate: bool,
    },
    /// The command was understood and refused; nothing changed.
    Rejected {
        command_id: String,
        reason: &'static str,
        message: String,
    },
    /// The message is not a command; nothing changed.
    Invalid {
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
        reason: &'static str,
        message: String,
    },
}

impl CommandResult {
    /// The result for a message that did not parse.
    pub fn invalid(line: Option<usize>, error: &InvalidCommand) -> Self {
        Self::Invalid {
            line,
            reason: error.code(),
            message: error.to_string(),
        }
    }

    fn rejected(command_id: &str, reason: &'static str, message: impl ToString) -> Self {
        Self::Rejected {
            command_id: command_id.to_owned(),
            reason,
            message: message.to_string(),
        }
    }
}

/// Decides commands against the current state and appends the events.
#[derive(Debug, Clone)]
pub struct CommandHandler {
    store: Store,
}

impl CommandHandler {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Handles one command. Rejections are results; only a failing store is an error.
    pub fn handle(&self, envelope: &CommandEnvelope) -> Result<CommandResult, StoreError> {
        let id = envelope.command_id.as_str();
        match self.store.command_outcome(id, &envelope.body) {
            Ok(Some(outcome)) => return self.recorded(id, outcome),
            Ok(None) => {}
            Err(e @ StoreError::IdempotencyConflict { .. }) => {
                return Ok(CommandResult::rejected(id, "idempotency_conflict", e))
            }
            Err(e) => return Err(e),
        }
        match &envelope.command {
            Command::Inventory(command) => {
                let (sku, location) = command.item();
                if let Err(r) = check_id("sku", sku).and_then(|()| check_id("location", location)) {
                    return Ok(CommandResult::rejected(id, r.code(), r));
                }
                let stream = StreamId::new(format!("inventory-{sku}@{location}"))?;
                self.handle_inventory(envelope, &stream, command)
            }
        }
    }

    /// The result of an append made earlier, read back from the log.
    fn recorded(&self, id: &str, outcome: AppendOutcome) -> Result<CommandResult, StoreError> {
        let count = (outcome.last_position - outcome.first_position + 1) as usize;
        let events = self.store.read_all(outcome.first_position, count)?;
        let stream = events
            .first()
            .map(|e| e.stream.to_string())
            .unwrap_or_default();
        let types = events.into_iter().map(|e| e.event_type).collect();
        Ok(accepted(id, &stream, types, outcome))
    }

    fn handle_inventory(
        &self,
        envelope: &CommandEnvelope,
        stream: &StreamId,
        command: &InventoryCommand,
    ) -> Result<CommandResult, StoreError> {
        let id = envelope.command_id.as_str();
        for _ in 0..MAX_ATTEMPTS {
            let loaded = self.store.load_state(
                stream,
                STATE_SCHEMA,
                |state: InventoryItem, e: &RecordedEvent| {
                    let event: InventoryEvent = serde_json::from_value(e.payload.clone())?;
                    Ok(InventoryItem::evolve(state, &event))
                },
            )?;
            let events = match InventoryItem::decide(&loaded.state, command) {
                Ok(events) => events,
                Err(rejection) => {
                    return Ok(CommandResult::rejected(id, rejection.code(), rejection))
                }
            };
            let mut new_events = Vec::with_capacity(events.len());
            for event in &events {
                let mut e = NewEvent::new(
                    event.event_type(),
                    serde_json::to_value(event).map_err(StoreError::Encode)?,
                );
                e.at = envelope.at;
                new_events.push(e);
            }
            let mut request = AppendRequest::new(
                stream.clone(),
                ExpectedVersion::Exact(loaded.version),
                new_events,
            )
            .command_id(id)
            .command_body(envelope.body.clone());
            request.correlation_id = envelope.correlation_id.clone();
            match self.store.append_blocking(request) {
                Ok(outcome) => {
                    if !outcome.duplicate
                        && outcome.last_version / SNAPSHOT_EVERY > loaded.version / SNAPSHOT_EVERY
                    {
                        let state = events.iter().fold(loaded.state, InventoryItem::evolve);
                        self.store.save_snapshot(
                            stream,
                            outcome.last_version,
                            STATE_SCHEMA,
                            &state,
                        )?;
                    }
                    // A concurrent retry may have won: then report what it recorded.
                    if outcome.duplicate {
                        return self.recorded(id, outcome);
                    }
                    return Ok(accepted(
                        id,
                        stream.as_str(),
                        events.iter().map(|e| e.event_type().to_owned()).collect(),
                        outcome,
                    ));
                }
                // Someone else appended first: decide again on the new state.
                Err(StoreError::WrongExpectedVersion { .. }) => continue,
                Err(e @ StoreError::IdempotencyConflict { .. }) => {
                    return Ok(CommandResult::rejected(id, "idempotency_conflict", e))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(CommandResult::rejected(
            id,
            "contention",
            format!("stream {stream} kept changing; retry the command"),
        ))
    }
}

fn accepted(
    command_id: &str,
    stream: &str,
    events: Vec<String>,
    outcome: AppendOutcome,
) -> CommandResult {
    CommandResult::Accepted {
        command_id: command_id.to_owned(),
        stream: stream.to_owned(),
        events,
        first_position: outcome.first_position,
        last_position: outcome.last_position,
        version: outcome.last_version,
        duplicate: outcome.duplicate,
    }
}
