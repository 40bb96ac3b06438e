//! Applies commands to the store: the one path every command takes,
//! whether it came from `fulfil submit`, the demo or (later) Kafka.

use catalog::CatalogEntry;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use decider::Decider;
use event_store::{
    AppendOutcome, AppendRequest, ExpectedVersion, NewEvent, RecordedEvent, Store, StoreError,
    StreamId,
};
use inventory_aggregate::InventoryItem;
use order_aggregate::Order;
use purchase_order_aggregate::PurchaseOrder;
use schemas::order::OrderCommand;
use schemas::purchasing::PurchaseOrderCommand;
use schemas::{CatalogCommand, Command, CommandEnvelope, InvalidCommand};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What the handler needs of an aggregate beyond its rules: how its state
/// and events are stored, and how its rejections are reported.
pub trait Aggregate:
    Decider<State = Self> + Default + Clone + Serialize + DeserializeOwned
{
    /// Names the state's shape for snapshots.
    const STATE_SCHEMA: &'static str;
    fn event_type(event: &Self::Event) -> &'static str;
    fn reason(rejection: &Self::Rejection) -> (&'static str, String);
}

/// Every aggregate names its events and rejections the same way.
macro_rules! aggregate {
    ($($state:ty => $schema:path),* $(,)?) => {$(
        impl Aggregate for $state {
            const STATE_SCHEMA: &'static str = $schema;
            fn event_type(event: &Self::Event) -> &'static str {
                event.event_type()
            }
            fn reason(rejection: &Self::Rejection) -> (&'static str, String) {
                (rejection.code(), rejection.to_string())
            }
        }
    )*};
}

aggregate! {
    CatalogEntry => catalog::STATE_SCHEMA,
    InventoryItem => inventory_aggregate::STATE_SCHEMA,
    Order => order_aggregate::STATE_SCHEMA,
    PurchaseOrder => purchase_order_aggregate::STATE_SCHEMA,
}

/// The stream of a command's aggregate, or why the command names none.
pub fn stream_of(command: &Command) -> Result<StreamId, (&'static str, String)> {
    let (field, id, name) = match command {
        Command::Catalog(CatalogCommand::DefineSku(d)) => {
            ("sku", &*d.sku, catalog::sku_stream(&d.sku))
        }
        Command::Catalog(CatalogCommand::DefineLocation(d)) => (
            "location",
            &*d.location,
            catalog::location_stream(&d.location),
        ),
        Command::Inventory(c) => {
            let (sku, location) = c.item();
            if let Some(problem) = schemas::id_problem(location) {
                return Err(("invalid_id", format!("invalid location: {problem}")));
            }
            ("sku", sku, format!("inventory-{sku}@{location}"))
        }
        Command::Order(c) => ("order_id", c.order_id(), format!("order-{}", c.order_id())),
        Command::PurchaseOrder(c) => ("po_id", c.po_id(), format!("po-{}", c.po_id())),
    };
    if let Some(problem) = schemas::id_problem(id) {
        return Err(("invalid_id", format!("invalid {field}: {problem}")));
    }
    StreamId::new(name).map_err(|e| ("invalid_id", e.to_string()))
}

/// What the item master defines.
#[derive(Debug, Clone, Copy)]
enum Master {
    Sku,
    Location,
}

impl Master {
    fn stream(self, id: &str) -> String {
        match self {
            Self::Sku => catalog::sku_stream(id),
            Self::Location => catalog::location_stream(id),
        }
    }

    fn unknown(self, id: &str) -> (&'static str, String) {
        match self {
            Self::Sku => (
                "unknown_sku",
                format!("SKU {id} is not defined in the item master"),
            ),
            Self::Location => (
                "unknown_location",
                format!("location {id} is not defined in the item master"),
            ),
        }
    }
}

/// The SKUs and locations a command names, which the item master must define.
fn references(command: &Command) -> Vec<(Master, &str)> {
    match command {
        Command::Catalog(_) => Vec::new(),
        Command::Inventory(c) => {
            let (sku, location) = c.item();
            vec![(Master::Sku, sku), (Master::Location, location)]
        }
        Command::Order(OrderCommand::PlaceOrder { lines, .. }) => lines
            .iter()
            .map(|l| (Master::Sku, l.sku.as_str()))
            .collect(),
        Command::Order(OrderCommand::AllocateLine { source, .. }) => {
            vec![(Master::Location, source.location())]
        }
        Command::Order(_) => Vec::new(),
        Command::PurchaseOrder(PurchaseOrderCommand::PlacePurchaseOrder { lines, .. }) => lines
            .iter()
            .flat_map(|l| {
                [
                    (Master::Sku, l.sku.as_str()),
                    (Master::Location, l.location.as_str()),
                ]
            })
            .collect(),
        Command::PurchaseOrder(_) => Vec::new(),
    }
}

/// Appends lost to a concurrent writer are re-decided this many times.
const MAX_ATTEMPTS: usize = 16;
/// A snapshot is cached every this many versions of a stream.
const SNAPSHOT_EVERY: u64 = 100;

/// What became of one command; printed as one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
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

/// Streams whose latest state the handler keeps in memory; past this the cache is emptied.
const CACHED_STATES: usize = 100_000;

/// An aggregate's state at a stream version, of whichever aggregate type.
type CachedState = (u64, Arc<dyn Any + Send + Sync>);

/// Decides commands against the current state and appends the events.
#[derive(Clone)]
pub struct CommandHandler {
    store: Store,
    /// The state after each stream's last append through this handler: a
    /// command finds it here when the stream has not moved since.
    states: Arc<Mutex<HashMap<StreamId, CachedState>>>,
}

impl std::fmt::Debug for CommandHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandHandler").finish_non_exhaustive()
    }
}

impl CommandHandler {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            states: Arc::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The aggregate's current state and version: from the cache when the
    /// stream has not moved since, else from the store (snapshot + replay).
    pub fn state<A>(&self, stream: &StreamId) -> Result<(Arc<A>, u64), StoreError>
    where
        A: Aggregate + Send + Sync + 'static,
        A::Event: DeserializeOwned,
    {
        let current = self.store.stream_version(stream)?;
        let cached = self
            .states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(stream)
            .cloned();
        if let Some((version, state)) = cached {
            if version == current {
                if let Ok(state) = state.downcast::<A>() {
                    return Ok((state, version));
                }
            }
        }
        let loaded =
            self.store
                .load_state(stream, A::STATE_SCHEMA, |state: A, e: &RecordedEvent| {
                    let event: A::Event = serde_json::from_value(e.payload.clone())?;
                    Ok(A::evolve(state, &event))
                })?;
        let state = Arc::new(loaded.state);
        self.remember(stream, loaded.version, state.clone());
        Ok((state, loaded.version))
    }

    fn remember<A: Send + Sync + 'static>(&self, stream: &StreamId, version: u64, state: Arc<A>) {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        if states.len() >= CACHED_STATES {
            states.clear();
        }
        states.insert(stream.clone(), (version, state));
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
        let stream = match stream_of(&envelope.command) {
            Ok(stream) => stream,
            Err((reason, message)) => return Ok(CommandResult::rejected(id, reason, message)),
        };
        for (master, name) in references(&envelope.command) {
            if let Some(problem) = schemas::id_problem(name) {
                let message = format!("invalid {master:?} id {name:?}: {problem}");
                return Ok(CommandResult::rejected(id, "invalid_id", message));
            }
            let defined = StreamId::new(master.stream(name))?;
            if self.store.stream_version(&defined)? == 0 {
                let (reason, message) = master.unknown(name);
                return Ok(CommandResult::rejected(id, reason, message));
            }
        }
        match &envelope.command {
            Command::Catalog(command) => self.decide::<CatalogEntry>(envelope, &stream, command),
            Command::Inventory(command) => self.decide::<InventoryItem>(envelope, &stream, command),
            Command::Order(command) => self.decide::<Order>(envelope, &stream, command),
            Command::PurchaseOrder(command) => {
                self.decide::<PurchaseOrder>(envelope, &stream, command)
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

    /// Loads the aggregate, decides, and appends at the version decided on;
    /// decides again when another writer got there first.
    fn decide<A>(
        &self,
        envelope: &CommandEnvelope,
        stream: &StreamId,
        command: &A::Command,
    ) -> Result<CommandResult, StoreError>
    where
        A: Aggregate + Send + Sync + 'static,
        A::Event: Serialize + DeserializeOwned,
    {
        let id = envelope.command_id.as_str();
        for _ in 0..MAX_ATTEMPTS {
            let (state, version) = self.state::<A>(stream)?;
            let events = match A::decide(&state, command) {
                Ok(events) => events,
                Err(rejection) => {
                    let (reason, message) = A::reason(&rejection);
                    return Ok(CommandResult::rejected(id, reason, message));
                }
            };
            let mut new_events = Vec::with_capacity(events.len());
            for event in &events {
                let mut e = NewEvent::new(
                    A::event_type(event),
                    serde_json::to_value(event).map_err(StoreError::Encode)?,
                );
                e.at = envelope.at;
                new_events.push(e);
            }
            let mut request =
                AppendRequest::new(stream.clone(), ExpectedVersion::Exact(version), new_events)
                    .command_id(id)
                    .command_body(envelope.body.clone());
            request.correlation_id = envelope.correlation_id.clone();
            match self.store.append_blocking(request) {
                Ok(outcome) => {
                    if !outcome.duplicate {
                        let state = events.iter().fold(A::clone(&state), A::evolve);
                        if outcome.last_version / SNAPSHOT_EVERY > version / SNAPSHOT_EVERY {
                            self.store.save_snapshot(
                                stream,
                                outcome.last_version,
                                A::STATE_SCHEMA,
                                &state,
                            )?;
                        }
                        self.remember(stream, outcome.last_version, Arc::new(state));
                    }
                    // A concurrent retry may have won: then report what it recorded.
                    if outcome.duplicate {
                        return self.recorded(id, outcome);
                    }
                    return Ok(accepted(
                        id,
                        stream.as_str(),
                        events.iter().map(|e| A::event_type(e).to_owned()).collect(),
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
