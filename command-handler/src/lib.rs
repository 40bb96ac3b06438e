//! Where a command becomes durable: the one path every command takes,
//! whether it came from `fulfil submit`, HTTP, Kafka or the fulfilment
//! process.
//!
//! [`CommandHandler::handle`] checks the idempotency record, that the
//! item master defines every SKU and location the command names, loads the
//! aggregate (cached state, or snapshot + replay), decides, and appends at
//! the version it decided on; when another writer got there first it
//! decides again. A rejection is a [`CommandResult`], never an error: only
//! a failing store is.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use catalog::CatalogEntry;
use chrono::{DateTime, Duration, Utc};
use decider::Aggregate;
use event_store::{
    AppendOutcome, AppendRequest, Cut, ExpectedVersion, NewEvent, RecordedEvent, Store, StoreError,
    StreamId,
};
use inventory_aggregate::InventoryItem;
use order_aggregate::Order;
use purchase_order_aggregate::PurchaseOrder;
use schemas::order::OrderCommand;
use schemas::purchasing::PurchaseOrderCommand;
use schemas::{Command, CommandEnvelope, CommandResult, InvalidField, StreamKind, StreamName};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// The stream of a command's aggregate, or why the command names none.
pub fn stream_of(command: &Command) -> Result<StreamName, InvalidField> {
    match command {
        Command::Catalog(c) => CatalogEntry::stream(c),
        Command::Inventory(c) => InventoryItem::stream(c),
        Command::Order(c) => Order::stream(c),
        Command::PurchaseOrder(c) => PurchaseOrder::stream(c),
    }
}

/// The store's id of a stream.
pub fn stream_id(name: &StreamName) -> Result<StreamId, StoreError> {
    StreamId::new(name.to_string())
}

/// What the item master defines, and a command may name.
#[derive(Debug, Clone, Copy)]
enum Defined {
    Sku,
    Location,
}

impl Defined {
    fn stream(self, id: &str) -> Result<StreamName, InvalidField> {
        match self {
            Self::Sku => StreamName::sku(id),
            Self::Location => StreamName::location(id),
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
fn references(command: &Command) -> Vec<(Defined, &str)> {
    match command {
        Command::Inventory(c) => {
            let (sku, location) = c.item();
            vec![(Defined::Sku, sku), (Defined::Location, location)]
        }
        Command::Order(OrderCommand::PlaceOrder { lines, .. }) => lines
            .iter()
            .map(|l| (Defined::Sku, l.sku.as_str()))
            .collect(),
        Command::Order(OrderCommand::AllocateLine { source, .. }) => {
            vec![(Defined::Location, source.location())]
        }
        Command::PurchaseOrder(PurchaseOrderCommand::PlacePurchaseOrder { lines, .. }) => lines
            .iter()
            .flat_map(|l| {
                [
                    (Defined::Sku, l.sku.as_str()),
                    (Defined::Location, l.location.as_str()),
                ]
            })
            .collect(),
        Command::Order(_) | Command::Catalog(_) | Command::PurchaseOrder(_) => Vec::new(),
    }
}

/// Appends lost to a concurrent writer are re-decided this many times.
const MAX_ATTEMPTS: usize = 16;
/// A snapshot is cached every this many versions of a stream.
const SNAPSHOT_EVERY: u64 = 100;

/// Streams whose latest state the handler keeps in memory; past this the cache is emptied.
const CACHED_STATES: usize = 100_000;

/// An aggregate's state at a stream version, of whichever aggregate type.
type CachedState = (u64, Arc<dyn Any + Send + Sync>);

/// How far from the clock a fact from outside may be dated (its `at`).
///
/// A fact has happened: one dated more than `ahead` past the clock (a
/// sender's clock skew) is refused. It may be recorded late (an import, a
/// late scan) but not more than `back` before the clock: a business time of
/// 1970 or 2099 is a sender's bug, not a fact. Commands of the processes
/// carry the time of the fact that caused them and are not checked again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessTimeWindow {
    /// How far back a fact may be dated.
    pub back: Duration,
    /// How far ahead of the clock a fact may be dated.
    pub ahead: Duration,
}

impl BusinessTimeWindow {
    /// Ten years back: the history a forecast or an audit may import.
    pub const DEFAULT_BACK_DAYS: i64 = 3650;
    /// Five minutes ahead: the clock skew between senders.
    pub const DEFAULT_AHEAD_SECONDS: i64 = 300;

    /// Why `at` is outside the window around `now`, if it is.
    pub fn refuses(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> Option<String> {
        if at > now + self.ahead {
            Some(format!(
                "at {} is in the future (the clock says {}; facts may be dated at most {} s ahead)",
                at.to_rfc3339(),
                now.to_rfc3339(),
                self.ahead.num_seconds()
            ))
        } else if at < now - self.back {
            Some(format!(
                "at {} is more than {} days before the clock ({}); older facts are refused",
                at.to_rfc3339(),
                self.back.num_days(),
                now.to_rfc3339()
            ))
        } else {
            None
        }
    }
}

impl Default for BusinessTimeWindow {
    fn default() -> Self {
        Self {
            back: Duration::days(Self::DEFAULT_BACK_DAYS),
            ahead: Duration::seconds(Self::DEFAULT_AHEAD_SECONDS),
        }
    }
}

/// What a dry run has decided so far: each stream's state after the
/// commands tried before it, and their ids. Nothing here reaches the store.
#[derive(Default)]
pub struct Trial {
    states: HashMap<StreamId, CachedState>,
    commands: HashMap<String, (Value, CommandResult)>,
}

impl std::fmt::Debug for Trial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trial")
            .field("streams", &self.states.len())
            .field("commands", &self.commands.len())
            .finish()
    }
}

/// Decides commands against the current state and appends the events.
#[derive(Clone)]
pub struct CommandHandler {
    store: Store,
    window: BusinessTimeWindow,
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
    /// A handler appending to `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            window: BusinessTimeWindow::default(),
            states: Arc::default(),
        }
    }

    /// The same handler, refusing outside facts dated beyond `window`.
    #[must_use]
    pub fn with_window(mut self, window: BusinessTimeWindow) -> Self {
        self.window = window;
        self
    }

    /// The store it appends to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The aggregate's current state and version (0: no events yet): from
    /// the cache when the stream has not moved since, else from the store
    /// (snapshot + replay).
    pub fn state<A>(&self, stream: &StreamName) -> Result<(Arc<A>, u64), StoreError>
    where
        A: Aggregate,
        A::Event: DeserializeOwned,
    {
        self.state_at::<A>(&stream_id(stream)?)
    }

    /// Any aggregate's current state as JSON, and its version, by its stream.
    pub fn state_json(&self, stream: &StreamName) -> Result<(Value, u64), StoreError> {
        fn shown<A: Serialize>(
            (state, version): (Arc<A>, u64),
        ) -> Result<(Value, u64), StoreError> {
            Ok((
                serde_json::to_value(&*state).map_err(StoreError::Encode)?,
                version,
            ))
        }
        match stream.kind() {
            StreamKind::Sku | StreamKind::Location => shown(self.state::<CatalogEntry>(stream)?),
            StreamKind::Inventory => shown(self.state::<InventoryItem>(stream)?),
            StreamKind::Order => shown(self.state::<Order>(stream)?),
            StreamKind::PurchaseOrder => shown(self.state::<PurchaseOrder>(stream)?),
        }
    }

    /// Any aggregate's state as JSON, and the version of its last fact,
    /// folded from only the stream's facts within `cut`: the state as of
    /// another time.
    pub fn state_json_as_of(
        &self,
        stream: &StreamName,
        cut: &Cut,
    ) -> Result<(Value, u64), StoreError> {
        fn fold<A>(events: &[RecordedEvent]) -> Result<(Value, u64), StoreError>
        where
            A: Aggregate + Serialize,
            A::Event: DeserializeOwned,
        {
            let mut state = A::default();
            let mut version = 0;
            for e in events {
                let event: A::Event =
                    serde_json::from_value(e.payload.clone()).map_err(StoreError::Encode)?;
                state = A::evolve(state, &event);
                version = e.version;
            }
            Ok((
                serde_json::to_value(&state).map_err(StoreError::Encode)?,
                version,
            ))
        }
        let events: Vec<RecordedEvent> = self
            .store
            .read_stream(&stream_id(stream)?, 1)?
            .into_iter()
            .filter(|e| cut.admits(e))
            .collect();
        match stream.kind() {
            StreamKind::Sku | StreamKind::Location => fold::<CatalogEntry>(&events),
            StreamKind::Inventory => fold::<InventoryItem>(&events),
            StreamKind::Order => fold::<Order>(&events),
            StreamKind::PurchaseOrder => fold::<PurchaseOrder>(&events),
        }
    }

    fn state_at<A>(&self, stream: &StreamId) -> Result<(Arc<A>, u64), StoreError>
    where
        A: Aggregate,
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

    /// Handles one command from outside (`fulfil submit`, HTTP, Kafka).
    /// Commands only the fulfilment process may send are refused
    /// (`process_only`), and so is a business time outside the
    /// [`BusinessTimeWindow`]. Rejections are results; only a failing store
    /// is an error.
    pub fn handle(&self, envelope: &CommandEnvelope) -> Result<CommandResult, StoreError> {
        if let Some(refused) = process_only(envelope) {
            return Ok(refused);
        }
        self.handle_checked(envelope, true, None)
    }

    /// Decides a command from outside as [`CommandHandler::handle`] would,
    /// against the store and what `trial` decided before, and writes
    /// nothing: the answer is `would_accept` with the events it would
    /// record, or the refusal it would get. The processes do not react to
    /// a trial.
    pub fn try_command(
        &self,
        envelope: &CommandEnvelope,
        trial: &mut Trial,
    ) -> Result<CommandResult, StoreError> {
        if let Some(refused) = process_only(envelope) {
            return Ok(refused);
        }
        // A retry within the run is answered as the store would: once.
        if let Some((body, result)) = trial.commands.get(&envelope.command_id) {
            return Ok(if *body == envelope.body {
                result.clone()
            } else {
                CommandResult::rejected(
                    &envelope.command_id,
                    "idempotency_conflict",
                    "this command id was tried earlier in the same run with another body",
                )
            });
        }
        let result = self.handle_checked(envelope, true, Some(trial))?;
        // Only what would be recorded is remembered: a refused command may be tried again.
        if result.outcome() == schemas::Outcome::Accepted {
            trial.commands.insert(
                envelope.command_id.clone(),
                (envelope.body.clone(), result.clone()),
            );
        }
        Ok(result)
    }

    /// Handles one command the fulfilment process sends: every command is
    /// open to it.
    pub fn handle_from_process(
        &self,
        envelope: &CommandEnvelope,
    ) -> Result<CommandResult, StoreError> {
        self.handle_checked(envelope, false, None)
    }

    fn handle_checked(
        &self,
        envelope: &CommandEnvelope,
        from_outside: bool,
        trial: Option<&mut Trial>,
    ) -> Result<CommandResult, StoreError> {
        let id = envelope.command_id.as_str();
        match self.store.command_outcome(id, &envelope.body) {
            Ok(Some(outcome)) => return self.recorded(id, outcome),
            Ok(None) => {}
            Err(e @ StoreError::IdempotencyConflict { .. }) => {
                return Ok(CommandResult::rejected(id, "idempotency_conflict", e))
            }
            Err(e @ StoreError::ForgottenCommand { .. }) => {
                return Ok(CommandResult::rejected(id, "beyond_idempotency_window", e))
            }
            Err(e) => return Err(e),
        }
        if let (true, Some(at)) = (from_outside, envelope.at) {
            if let Some(why) = self.window.refuses(at, self.store.clock().now()) {
                return Ok(CommandResult::rejected(
                    id,
                    "business_time_out_of_range",
                    why,
                ));
            }
        }
        let stream = match stream_of(&envelope.command).map(|s| stream_id(&s)) {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Ok(CommandResult::rejected(id, "invalid_id", e)),
            Err(e) => return Ok(CommandResult::rejected(id, e.code(), e)),
        };
        for (defined, name) in references(&envelope.command) {
            let defining = match defined.stream(name) {
                Ok(stream) => stream_id(&stream)?,
                Err(InvalidField::Id { problem, .. }) => {
                    let message = format!("invalid {defined:?} id {name:?}: {problem}");
                    return Ok(CommandResult::rejected(id, "invalid_id", message));
                }
                Err(e) => return Ok(CommandResult::rejected(id, e.code(), e)),
            };
            let tried = trial
                .as_ref()
                .is_some_and(|t| t.states.contains_key(&defining));
            if !tried && self.store.stream_version(&defining)? == 0 {
                let (reason, message) = defined.unknown(name);
                return Ok(CommandResult::rejected(id, reason, message));
            }
        }
        if let Some(trial) = trial {
            return match &envelope.command {
                Command::Catalog(c) => self.try_decide::<CatalogEntry>(envelope, &stream, c, trial),
                Command::Inventory(c) => {
                    self.try_decide::<InventoryItem>(envelope, &stream, c, trial)
                }
                Command::Order(c) => self.try_decide::<Order>(envelope, &stream, c, trial),
                Command::PurchaseOrder(c) => {
                    self.try_decide::<PurchaseOrder>(envelope, &stream, c, trial)
                }
            };
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

    /// Decides on the trial's state of the stream (else the store's) and
    /// keeps the new state in the trial.
    fn try_decide<A>(
        &self,
        envelope: &CommandEnvelope,
        stream: &StreamId,
        command: &A::Command,
        trial: &mut Trial,
    ) -> Result<CommandResult, StoreError>
    where
        A: Aggregate,
        A::Event: Serialize + DeserializeOwned,
    {
        let id = envelope.command_id.as_str();
        let tried = trial
            .states
            .get(stream)
            .and_then(|(v, s)| Some((s.clone().downcast::<A>().ok()?, *v)));
        let (state, version) = match tried {
            Some(tried) => tried,
            None => self.state_at::<A>(stream)?,
        };
        match A::decide(&state, command) {
            Ok(events) => {
                let next = events.iter().fold(A::clone(&state), A::evolve);
                let version = version + events.len() as u64;
                trial
                    .states
                    .insert(stream.clone(), (version, Arc::new(next)));
                Ok(CommandResult::WouldAccept {
                    command_id: id.to_owned(),
                    stream: stream.to_string(),
                    events: events.iter().map(|e| A::event_type(e).to_owned()).collect(),
                    version,
                })
            }
            Err(rejection) => {
                let (reason, message) = A::reason(&rejection);
                Ok(CommandResult::rejected(id, reason, message))
            }
        }
    }

    /// The events a command recorded earlier (its first run), if it was recorded.
    pub fn recorded_events(
        &self,
        command_id: &str,
    ) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        self.store
            .recorded_command(command_id)?
            .map(|outcome| self.appended(&outcome))
            .transpose()
    }

    fn appended(&self, outcome: &AppendOutcome) -> Result<Vec<RecordedEvent>, StoreError> {
        let count = outcome.last_position - outcome.first_position + 1;
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        self.store.read_all(outcome.first_position, count)
    }

    /// The result of an append made earlier, read back from the log.
    fn recorded(&self, id: &str, outcome: AppendOutcome) -> Result<CommandResult, StoreError> {
        let events = self.appended(&outcome)?;
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
        A: Aggregate,
        A::Event: Serialize + DeserializeOwned,
    {
        let id = envelope.command_id.as_str();
        for _ in 0..MAX_ATTEMPTS {
            let (state, version) = self.state_at::<A>(stream)?;
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
            request.correlation_id.clone_from(&envelope.correlation_id);
            match self.store.append_blocking(request) {
                // A concurrent retry won: report what it recorded.
                Ok(outcome) if outcome.duplicate => return self.recorded(id, outcome),
                Ok(outcome) => {
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
                    return Ok(accepted(
                        id,
                        stream.as_str(),
                        events.iter().map(|e| A::event_type(e).to_owned()).collect(),
                        outcome,
                    ));
                }
                // Someone else appended first: decide again on the new state.
                Err(StoreError::WrongExpectedVersion { .. }) => {}
                Err(e @ StoreError::IdempotencyConflict { .. }) => {
                    return Ok(CommandResult::rejected(id, "idempotency_conflict", e))
                }
                Err(e @ StoreError::ForgottenCommand { .. }) => {
                    return Ok(CommandResult::rejected(id, "beyond_idempotency_window", e))
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

/// The refusal of a command only the processes may send, sent from outside.
fn process_only(envelope: &CommandEnvelope) -> Option<CommandResult> {
    let why = envelope.command.process_only()?;
    let message = format!(
        "{} is sent only by the fulfilment process: {why}",
        command_type(&envelope.body)
    );
    Some(CommandResult::rejected(
        &envelope.command_id,
        "process_only",
        message,
    ))
}

/// The command's `type`, as sent.
fn command_type(body: &Value) -> &str {
    body.get("type")
        .and_then(Value::as_str)
        .unwrap_or("this command")
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
