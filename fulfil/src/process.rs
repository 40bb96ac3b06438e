//! The fulfilment process: the explicit handoff between order management
//! and inventory management. It reacts to events by issuing commands, so
//! every step of the handoff is itself an event anyone can audit.
//!
//! - An order is placed: each line is sourced across locations, most free
//!   stock first, by reading the inventory items' current positions and
//!   reserving; a refused reservation (the reading was stale, the aggregate
//!   judges) moves on to the next location. Then units due on purchase
//!   orders, where the policy allows, earliest first; the rest is backordered.
//! - Supply arrives (receipt, found stock, a return, a released
//!   reservation, new inbound): backorders for the SKU are filled by
//!   priority, then order time.
//! - A PO's reserved units arrive: the order's inbound allocation becomes a
//!   stock allocation. A PO cut or cancelled: the lost promise is
//!   deallocated and the line sourced again.
//! - Cancellations release reservations; shipments consume them; a short
//!   pick is reported to inventory and the missing units sourced again; a
//!   resellable return is restocked; POs schedule, re-date, receive and
//!   cancel inbound supply.
//! - Paid and allocated orders are released to the warehouse.
//!
//! Restartable and idempotent: events are handled in batches from the
//! checkpoint; the commands a batch issues have ids derived from the event
//! position, and the batch's memory (locations, backorder queue) is stored
//! with the checkpoint in one transaction. After a crash mid-batch the
//! batch runs again: a command already recorded is a duplicate, and one that
//! would now be decided differently is answered with what was recorded
//! (the process carries on from what happened, not from what it would do now).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use event_store::{ReadModel, RecordedEvent, Store, StoreError, StreamId};
use inventory_aggregate::InventoryItem;
use order_aggregate::{Order, Payment};
use schemas::catalog::CatalogEvent;
use schemas::inventory::{InventoryCommand, InventoryEvent};
use schemas::order::{OrderCommand, OrderEvent, ReleasedAllocation, ReturnCondition, SupplySource};
use schemas::purchasing::PurchaseOrderEvent;
use schemas::{Command, CommandEnvelope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::handler::{CommandHandler, CommandResult};

/// The read model holding the process's checkpoint and memory.
const MODEL: &str = "fulfilment-process";
/// Events read and handled together; their commands run concurrently.
const BATCH: usize = 512;

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub events: usize,
    pub commands: usize,
    pub accepted: usize,
}

/// A backorder waiting for supply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Backorder {
    sku: String,
    order_id: String,
    line: u32,
}

/// Sorts a SKU's backorders by priority (highest first), then by the
/// position of the order's placement in the log (earliest first).
fn backorder_key(sku: &str, priority: u8, placed_at: u64, order_id: &str, line: u32) -> String {
    format!(
        "{sku}\u{0}{:03}{placed_at:020}{order_id}#{line}",
        255 - u16::from(priority)
    )
}

/// What the process remembers between batches: the locations to source
/// from and the backorder queue.
#[derive(Debug, Default)]
struct Memory {
    locations: BTreeSet<String>,
    /// Backorder key → entry.
    backorders: BTreeMap<String, Backorder>,
    /// (order, line) → backorder key.
    waiting: HashMap<(String, u32), String>,
    /// Writes for the read model since the last checkpoint.
    pending: BTreeMap<String, Option<Vec<u8>>>,
}

impl Memory {
    fn load(model: &ReadModel) -> Result<Self, StoreError> {
        let mut memory = Self::default();
        for item in model.tree().iter() {
            let (k, v) = item?;
            let key = String::from_utf8_lossy(&k).into_owned();
            if let Some(location) = key.strip_prefix("loc/") {
                memory.locations.insert(location.to_owned());
            } else if let Some(bo) = key.strip_prefix("bo/") {
                let entry: Backorder = serde_json::from_slice(&v)
                    .map_err(|_| StoreError::Failed(format!("{MODEL}: bad backorder {key}")))?;
                memory.insert_backorder(bo.to_owned(), entry);
            }
        }
        Ok(memory)
    }

    fn add_location(&mut self, location: &str) {
        if self.locations.insert(location.to_owned()) {
            self.pending
                .insert(format!("loc/{location}"), Some(Vec::new()));
        }
    }

    fn add_backorder(&mut self, key: String, entry: Backorder) {
        if self
            .waiting
            .contains_key(&(entry.order_id.clone(), entry.line))
        {
            return;
        }
        let value = serde_json::to_vec(&entry).unwrap_or_default();
        self.pending.insert(format!("bo/{key}"), Some(value));
        self.insert_backorder(key, entry);
    }

    fn insert_backorder(&mut self, key: String, entry: Backorder) {
        self.waiting
            .insert((entry.order_id.clone(), entry.line), key.clone());
        self.backorders.insert(key, entry);
    }

    /// Drops the backorder of one line, or of every line of an order.
    fn drop_backorders(&mut self, order_id: &str, line: Option<u32>) {
        let keys: Vec<String> = self
            .waiting
            .iter()
            .filter(|((o, l), _)| o == order_id && line.is_none_or(|line| line == *l))
            .map(|(_, k)| k.clone())
            .collect();
        for key in keys {
            if let Some(entry) = self.backorders.remove(&key) {
                self.waiting.remove(&(entry.order_id, entry.line));
                self.pending.insert(format!("bo/{key}"), None);
            }
        }
    }

    fn backorders_of(&self, sku: &str) -> Vec<Backorder> {
        let from = format!("{sku}\u{0}");
        self.backorders
            .range(from.clone()..)
            .take_while(|(k, _)| k.starts_with(&from))
            .map(|(_, b)| b.clone())
            .collect()
    }
}

/// One piece of work a batch hands to its workers.
#[derive(Debug, Clone)]
enum Task {
    /// A command whose rejection is part of normal flow (logged, not retried).
    Send(Command),
    /// Source a line's units that have neither supply nor a backorder.
    Source { order_id: String, line: u32 },
    /// Fill a backordered line from supply that arrived.
    FillBackorder { order_id: String, line: u32 },
    /// Release the order to the warehouse if it is paid and has allocated
    /// stock the warehouse does not have yet.
    Release { order_id: String },
}

/// The tasks one event asks for, under the key that orders them.
struct Reaction {
    /// Whether the event is an order's placement.
    placement: bool,
    position: u64,
    at: DateTime<Utc>,
    correlation_id: Option<String>,
    key: String,
    tasks: Vec<Task>,
}

/// The outcome of a command the process issued.
enum Issued {
    /// Recorded; `recorded` holds the payloads when they were read back
    /// because an earlier run had recorded a different decision.
    Accepted {
        recorded: Option<Vec<Value>>,
    },
    Rejected,
}

pub struct FulfilmentProcess {
    handler: CommandHandler,
    model: ReadModel,
    memory: Memory,
    workers: usize,
    /// Orders whose placement was fully handled (lines sourced), since last taken.
    sourced: Vec<String>,
}

impl FulfilmentProcess {
    pub fn open(handler: CommandHandler) -> Result<Self, StoreError> {
        let model = handler.store().read_model(MODEL)?;
        let memory = Memory::load(&model)?;
        Ok(Self {
            handler,
            model,
            memory,
            workers: 32,
            sourced: Vec::new(),
        })
    }

    fn store(&self) -> &Store {
        self.handler.store()
    }

    /// Handles every event past the checkpoint, including those its own
    /// commands append, until it has caught up with the log.
    pub fn run_until_idle(&mut self) -> Result<Progress, StoreError> {
        let mut total = Progress::default();
        loop {
            let batch = self.run_batch()?;
            if batch.events == 0 {
                return Ok(total);
            }
            total.events += batch.events;
            total.commands += batch.commands;
            total.accepted += batch.accepted;
        }
    }

    /// The orders whose placement has been handled (every line reserved and
    /// allocated, or backordered) since the last call.
    pub fn take_sourced(&mut self) -> Vec<String> {
        std::mem::take(&mut self.sourced)
    }

    /// Handles up to one batch of events past the checkpoint.
    pub fn run_batch(&mut self) -> Result<Progress, StoreError> {
        let from = self.model.checkpoint()?.map_or(1, |c| c + 1);
        let events = self.store().read_all(from, BATCH)?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(Progress::default());
        };
        let reactions: Vec<Reaction> = events.iter().filter_map(|e| self.react(e)).collect();
        let progress = self.execute(&reactions)?;
        self.sourced.extend(
            reactions
                .iter()
                .filter(|r| r.placement)
                .map(|r| r.key.clone()),
        );
        let pending = std::mem::take(&mut self.memory.pending);
        self.model.apply(last, |tree| {
            for (key, value) in &pending {
                match value {
                    Some(v) => tree.insert(key.as_bytes(), v.as_slice())?,
                    None => tree.remove(key.as_bytes())?,
                };
            }
            Ok(())
        })?;
        Ok(Progress {
            events: events.len(),
            ..progress
        })
    }

    /// Updates the memory from one event and says what to do about it.
    fn react(&mut self, event: &RecordedEvent) -> Option<Reaction> {
        let (key, tasks) = match event.stream.as_str().split_once('-')? {
            ("order", _) => self.order_reaction(decode(event)?),
            ("inventory", _) => self.inventory_reaction(decode(event)?),
            ("po", _) => purchase_order_reaction(decode(event)?),
            ("location", _) => {
                if let CatalogEvent::LocationDefined(d) = decode(event)? {
                    self.memory.add_location(&d.location);
                }
                return None;
            }
            _ => return None,
        };
        (!tasks.is_empty()).then(|| Reaction {
            placement: event.event_type == "OrderPlaced",
            position: event.position,
            at: event.at,
            correlation_id: event.correlation_id.clone(),
            key,
            tasks,
        })
    }

    fn order_reaction(&mut self, event: OrderEvent) -> (String, Vec<Task>) {
        let release = |order_id: &str| Task::Release {
            order_id: order_id.to_owned(),
        };
        match event {
            OrderEvent::OrderPlaced {
                order_id, lines, ..
            } => {
                let tasks = lines
                    .iter()
                    .map(|l| Task::Source {
                        order_id: order_id.clone(),
                        line: l.line,
                    })
                    .collect();
                (order_id, tasks)
            }
            OrderEvent::LineBackordered {
                order_id,
                line,
                sku,
                ..
            } => {
                match self.placement(&order_id) {
                    Some((priority, placed_at)) => {
                        let key = backorder_key(&sku, priority, placed_at, &order_id, line);
                        let entry = Backorder {
                            sku,
                            order_id: order_id.clone(),
                            line,
                        };
                        self.memory.add_backorder(key, entry);
                    }
                    None => tracing::warn!(%order_id, "backorder of an order never placed"),
                }
                (order_id, Vec::new())
            }
            OrderEvent::LineAllocated {
                order_id,
                line,
                source,
                ..
            } => {
                self.settle_backorder(&order_id, line);
                let tasks = match source {
                    SupplySource::Stock { .. } => vec![release(&order_id)],
                    SupplySource::Inbound { .. } => Vec::new(),
                };
                (order_id, tasks)
            }
            OrderEvent::PaymentAuthorized { order_id, .. }
            | OrderEvent::PaymentCaptured { order_id, .. }
            | OrderEvent::InboundAllocationReceived { order_id, .. } => {
                let tasks = vec![release(&order_id)];
                (order_id, tasks)
            }
            OrderEvent::PickShort {
                order_id,
                line,
                sku,
                location,
                short,
            } => {
                let tasks = vec![
                    Task::Send(Command::Inventory(InventoryCommand::ReportPickShort {
                        sku,
                        location,
                        order_id: order_id.clone(),
                        line,
                        short,
                    })),
                    Task::Source {
                        order_id: order_id.clone(),
                        line,
                    },
                ];
                (order_id, tasks)
            }
            OrderEvent::OrderShipped {
                order_id, lines, ..
            } => {
                let tasks = lines
                    .into_iter()
                    .map(|l| {
                        Task::Send(Command::Inventory(InventoryCommand::ShipReserved {
                            sku: l.sku,
                            location: l.location,
                            order_id: order_id.clone(),
                            line: l.line,
                            qty: l.qty,
                        }))
                    })
                    .collect();
                (order_id, tasks)
            }
            OrderEvent::OrderCancelled {
                order_id, released, ..
            } => {
                self.memory.drop_backorders(&order_id, None);
                (order_id.clone(), release_all(&order_id, released))
            }
            OrderEvent::LineCancelled {
                order_id,
                line,
                released,
                ..
            } => {
                self.memory.drop_backorders(&order_id, Some(line));
                (order_id.clone(), release_all(&order_id, released))
            }
            OrderEvent::ReturnReceived {
                order_id,
                rma_id,
                condition: ReturnCondition::Resellable,
                lines,
            } => {
                let tasks = lines
                    .into_iter()
                    .map(|l| {
                        Task::Send(Command::Inventory(InventoryCommand::RestockReturn {
                            sku: l.sku,
                            location: l.location,
                            qty: l.qty,
                            rma_id: rma_id.clone(),
                        }))
                    })
                    .collect();
                (order_id, tasks)
            }
            _ => (String::new(), Vec::new()),
        }
    }

    fn inventory_reaction(&mut self, event: InventoryEvent) -> (String, Vec<Task>) {
        use InventoryEvent as I;
        let fill = |memory: &Memory, sku: &str| -> (String, Vec<Task>) {
            let tasks = memory
                .backorders_of(sku)
                .into_iter()
                .map(|b| Task::FillBackorder {
                    order_id: b.order_id,
                    line: b.line,
                })
                .collect();
            (format!("sku/{sku}"), tasks)
        };
        match event {
            I::StockReceived { sku, .. }
            | I::ReturnRestocked { sku, .. }
            | I::InboundScheduled { sku, .. }
            | I::ReservationReleased {
                sku, po_id: None, ..
            } => fill(&self.memory, &sku),
            I::StockAdjusted { sku, delta, .. } if delta > 0 => fill(&self.memory, &sku),
            I::StockCounted { sku, variance, .. } if variance > 0 => fill(&self.memory, &sku),
            I::ReservationMovedToStock {
                location,
                order_id,
                line,
                po_id,
                qty,
                ..
            } => {
                let task = Task::Send(Command::Order(OrderCommand::ReceiveInboundAllocation {
                    order_id: order_id.clone(),
                    line,
                    po_id,
                    location,
                    qty,
                }));
                (order_id, vec![task])
            }
            I::InboundReservationLost {
                location,
                order_id,
                line,
                qty,
                po_id,
                ..
            } => {
                let tasks = vec![
                    Task::Send(Command::Order(OrderCommand::DeallocateLine {
                        order_id: order_id.clone(),
                        line,
                        source: SupplySource::Inbound {
                            po_id: po_id.clone(),
                            location,
                        },
                        qty,
                        reason: format!("purchase order {po_id} will not bring these units"),
                    })),
                    Task::Source {
                        order_id: order_id.clone(),
                        line,
                    },
                ];
                (order_id, tasks)
            }
            _ => (String::new(), Vec::new()),
        }
    }

    /// A line allocated from a backorder leaves the queue once nothing of it waits.
    fn settle_backorder(&mut self, order_id: &str, line: u32) {
        if !self
            .memory
            .waiting
            .contains_key(&(order_id.to_owned(), line))
        {
            return;
        }
        let waiting = StreamId::new(format!("order-{order_id}"))
            .ok()
            .and_then(|s| self.handler.state::<Order>(&s).ok())
            .and_then(|(o, _)| o.lines.get(&line).map(|l| l.backordered))
            .unwrap_or(0);
        if waiting == 0 {
            self.memory.drop_backorders(order_id, Some(line));
        }
    }

    /// The order's priority and the log position of its placement.
    fn placement(&self, order_id: &str) -> Option<(u8, u64)> {
        let stream = StreamId::new(format!("order-{order_id}")).ok()?;
        let first = self
            .store()
            .read_stream(&stream, 1)
            .ok()?
            .into_iter()
            .next()?;
        match serde_json::from_value(first.payload).ok()? {
            OrderEvent::OrderPlaced { priority, .. } => Some((priority, first.position)),
            _ => None,
        }
    }

    /// Runs the reactions: those sharing a key in order, the rest concurrently.
    fn execute(&self, reactions: &[Reaction]) -> Result<Progress, StoreError> {
        let mut by_key: BTreeMap<&str, Vec<&Reaction>> = BTreeMap::new();
        for r in reactions {
            by_key.entry(&r.key).or_default().push(r);
        }
        let groups: Vec<Vec<&Reaction>> = by_key.into_values().collect();
        if groups.is_empty() {
            return Ok(Progress::default());
        }
        let workers = self.workers.min(groups.len()).max(1);
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| -> Result<Progress, StoreError> {
                        let mut progress = Progress::default();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(group) = groups.get(i) else {
                                return Ok(progress);
                            };
                            for reaction in group {
                                for (n, task) in reaction.tasks.iter().enumerate() {
                                    let mut step = Step {
                                        process: self,
                                        reaction,
                                        prefix: format!("fp-{}-{n}", reaction.position),
                                        count: 0,
                                        progress: &mut progress,
                                    };
                                    step.run(task)?;
                                }
                            }
                        }
                    })
                })
                .collect();
            let mut total = Progress::default();
            for handle in handles {
                let p = handle
                    .join()
                    .map_err(|_| StoreError::Failed("a fulfilment worker panicked".into()))??;
                total.commands += p.commands;
                total.accepted += p.accepted;
            }
            Ok(total)
        })
    }
}

/// The event's payload, or `None` (logged) when this build cannot read it:
/// the process leaves it alone rather than act on a guess.
fn decode<E: serde::de::DeserializeOwned>(event: &RecordedEvent) -> Option<E> {
    match serde_json::from_value(event.payload.clone()) {
        Ok(e) => Some(e),
        Err(error) => {
            tracing::warn!(position = event.position, event_type = %event.event_type, %error, "fulfilment process skips an event it cannot read");
            None
        }
    }
}

/// Releases the reservations behind a cancelled order's or line's allocations.
fn release_all(order_id: &str, released: Vec<ReleasedAllocation>) -> Vec<Task> {
    released
        .into_iter()
        .map(|r| {
            let po_id = match &r.source {
                SupplySource::Inbound { po_id, .. } => Some(po_id.clone()),
                SupplySource::Stock { .. } => None,
            };
            Task::Send(Command::Inventory(InventoryCommand::ReleaseReservation {
                sku: r.sku,
                location: r.source.location().to_owned(),
                order_id: order_id.to_owned(),
                line: r.line,
                po_id,
                qty: Some(r.qty),
            }))
        })
        .collect()
}

fn purchase_order_reaction(event: PurchaseOrderEvent) -> (String, Vec<Task>) {
    use InventoryCommand as I;
    use PurchaseOrderEvent as P;
    let inv = Command::Inventory;
    match event {
        P::PurchaseOrderPlaced { po_id, lines, .. } => {
            let tasks = lines
                .into_iter()
                .map(|l| {
                    Task::Send(inv(I::ScheduleInbound {
                        sku: l.sku,
                        location: l.location,
                        po_id: po_id.clone(),
                        qty: l.qty,
                        expected_date: l.expected_date,
                    }))
                })
                .collect();
            (po_id, tasks)
        }
        P::PurchaseOrderLineRedated {
            po_id,
            sku,
            location,
            expected_date,
            open_qty,
            ..
        } => {
            let task = Task::Send(inv(I::ScheduleInbound {
                sku,
                location,
                po_id: po_id.clone(),
                qty: open_qty,
                expected_date,
            }));
            (po_id, vec![task])
        }
        P::PurchaseOrderReceived {
            po_id,
            sku,
            location,
            qty,
            ..
        } => {
            let task = Task::Send(inv(I::ReceiveStock {
                sku,
                location,
                qty,
                reference: Some(po_id.clone()),
                po_id: Some(po_id.clone()),
            }));
            (po_id, vec![task])
        }
        P::PurchaseOrderLineCancelled { po_id, open } => {
            let task = Task::Send(inv(I::CancelInbound {
                sku: open.sku,
                location: open.location,
                po_id: po_id.clone(),
            }));
            (po_id, vec![task])
        }
        P::PurchaseOrderClosed { po_id, short } => {
            let tasks = short
                .into_iter()
                .map(|open| {
                    Task::Send(inv(I::CancelInbound {
                        sku: open.sku,
                        location: open.location,
                        po_id: po_id.clone(),
                    }))
                })
                .collect();
            (po_id, tasks)
        }
        P::PurchaseOrderConfirmed { po_id } => (po_id, Vec::new()),
    }
}

/// One task's commands, numbered for their ids.
struct Step<'a> {
    process: &'a FulfilmentProcess,
    reaction: &'a Reaction,
    prefix: String,
    count: usize,
    progress: &'a mut Progress,
}

impl Step<'_> {
    fn run(&mut self, task: &Task) -> Result<(), StoreError> {
        match task {
            Task::Send(command) => {
                self.issue(command.clone())?;
                Ok(())
            }
            Task::Source { order_id, line } => self.source(order_id, *line, false),
            Task::FillBackorder { order_id, line } => self.source(order_id, *line, true),
            Task::Release { order_id } => {
                let stream = StreamId::new(format!("order-{order_id}"))?;
                let (order, _) = self.process.handler.state::<Order>(&stream)?;
                let paid = matches!(
                    order.payment,
                    Payment::Authorized { .. } | Payment::Captured { .. }
                );
                let waiting = order
                    .lines
                    .values()
                    .any(|l| !l.cancelled && l.stock_allocated() > l.in_warehouse());
                if paid && waiting && !order.cancelled {
                    self.issue(Command::Order(OrderCommand::ReleaseToWarehouse {
                        order_id: order_id.clone(),
                    }))?;
                }
                Ok(())
            }
        }
    }

    /// Issues one command with the next deterministic id.
    fn issue(&mut self, command: Command) -> Result<Issued, StoreError> {
        let command_id = format!("{}-{}", self.prefix, self.count);
        self.count += 1;
        self.progress.commands += 1;
        let body = command_body(&command_id, &command, self.reaction.at)?;
        let envelope = CommandEnvelope {
            command_id: command_id.clone(),
            at: Some(self.reaction.at),
            correlation_id: self.reaction.correlation_id.clone(),
            command,
            body,
        };
        match self.process.handler.handle(&envelope)? {
            CommandResult::Accepted { .. } => {
                self.progress.accepted += 1;
                Ok(Issued::Accepted { recorded: None })
            }
            CommandResult::Rejected {
                reason: "idempotency_conflict",
                ..
            } => {
                // An earlier run recorded another decision under this id: carry on from it.
                let store = self.process.store();
                let Some(outcome) = store.recorded_command(&command_id)? else {
                    return Ok(Issued::Rejected);
                };
                let count = (outcome.last_position - outcome.first_position + 1) as usize;
                let recorded = store
                    .read_all(outcome.first_position, count)?
                    .into_iter()
                    .map(|e| e.payload)
                    .collect();
                Ok(Issued::Accepted {
                    recorded: Some(recorded),
                })
            }
            CommandResult::Rejected {
                reason, message, ..
            } => {
                tracing::debug!(%command_id, reason, %message, "fulfilment command refused");
                Ok(Issued::Rejected)
            }
            CommandResult::Invalid {
                reason, message, ..
            } => {
                tracing::warn!(%command_id, reason, %message, "fulfilment built an invalid command");
                Ok(Issued::Rejected)
            }
        }
    }

    /// Sources a line: stock at the locations with most free units first,
    /// then units due on POs (earliest first) where the policy allows; for
    /// a new line the rest is backordered.
    fn source(&mut self, order_id: &str, line: u32, backorder: bool) -> Result<(), StoreError> {
        let order_stream = StreamId::new(format!("order-{order_id}"))?;
        let (order, _) = self.process.handler.state::<Order>(&order_stream)?;
        let Some(header) = order.header.as_ref().filter(|_| !order.cancelled) else {
            return Ok(());
        };
        let Some(l) = order.lines.get(&line).filter(|l| !l.cancelled) else {
            return Ok(());
        };
        let mut need = if backorder {
            l.backordered.min(l.open())
        } else {
            l.open().saturating_sub(l.backordered)
        };
        if need == 0 {
            return Ok(());
        }
        let sku = l.sku.clone();
        let today = self.reaction.at.date_naive();
        let promise = today.max(header.requested_date);

        let mut items = Vec::new();
        for location in &self.process.memory.locations {
            let stream = StreamId::new(format!("inventory-{sku}@{location}"))?;
            let (item, version) = self.process.handler.state::<InventoryItem>(&stream)?;
            if version > 0 {
                items.push((location.clone(), item));
            }
        }
        items.sort_by(|a, b| b.1.free().cmp(&a.1.free()).then(a.0.cmp(&b.0)));
        for (location, item) in &items {
            if need == 0 {
                break;
            }
            let want = need.min(item.free());
            if want == 0 {
                continue;
            }
            let reserve = InventoryCommand::ReserveStock {
                sku: sku.clone(),
                location: location.clone(),
                order_id: order_id.to_owned(),
                line,
                qty: want,
            };
            let got = match self.issue(Command::Inventory(reserve))? {
                Issued::Accepted { recorded: None } => Some((location.clone(), want)),
                Issued::Accepted {
                    recorded: Some(events),
                } => reserved_stock(&events),
                // Stale reading: the aggregate judged; try the next location.
                Issued::Rejected => None,
            };
            if let Some((location, qty)) = got {
                let source = SupplySource::Stock { location };
                if self.allocate(order_id, line, &sku, qty, source, promise)? {
                    need = need.saturating_sub(qty);
                }
            }
        }

        let mut inbound: Vec<(NaiveDate, String, String, u64)> = items
            .iter()
            .filter(|(_, item)| item.policy.as_ref().is_some_and(|p| p.reserve_inbound))
            .flat_map(|(location, item)| {
                item.inbound.iter().map(move |(po, due)| {
                    (
                        due.expected_date,
                        po.clone(),
                        location.clone(),
                        item.inbound_free(po),
                    )
                })
            })
            .filter(|(_, _, _, free)| *free > 0)
            .collect();
        inbound.sort();
        for (expected_date, po_id, location, free) in inbound {
            if need == 0 {
                break;
            }
            let want = need.min(free);
            let reserve = InventoryCommand::ReserveInbound {
                sku: sku.clone(),
                location: location.clone(),
                order_id: order_id.to_owned(),
                line,
                qty: want,
                po_id: po_id.clone(),
            };
            let got = match self.issue(Command::Inventory(reserve))? {
                Issued::Accepted { recorded: None } => Some((po_id, location, want, expected_date)),
                Issued::Accepted {
                    recorded: Some(events),
                } => reserved_inbound(&events),
                Issued::Rejected => None,
            };
            if let Some((po_id, location, qty, expected_date)) = got {
                let source = SupplySource::Inbound { po_id, location };
                let promise = expected_date.max(promise);
                if self.allocate(order_id, line, &sku, qty, source, promise)? {
                    need = need.saturating_sub(qty);
                }
            }
        }

        if need > 0 && !backorder {
            self.issue(Command::Order(OrderCommand::BackorderLine {
                order_id: order_id.to_owned(),
                line,
                qty: need,
            }))?;
        }
        Ok(())
    }

    /// Allocates reserved units to the line. If the order refuses (it was
    /// cancelled, or the line filled, meanwhile), gives the units back, so
    /// no reservation is left without an allocation.
    fn allocate(
        &mut self,
        order_id: &str,
        line: u32,
        sku: &str,
        qty: u64,
        source: SupplySource,
        promise_date: NaiveDate,
    ) -> Result<bool, StoreError> {
        let allocate = OrderCommand::AllocateLine {
            order_id: order_id.to_owned(),
            line,
            qty,
            source: source.clone(),
            promise_date,
        };
        if let Issued::Accepted { .. } = self.issue(Command::Order(allocate))? {
            return Ok(true);
        }
        let po_id = match &source {
            SupplySource::Inbound { po_id, .. } => Some(po_id.clone()),
            SupplySource::Stock { .. } => None,
        };
        self.issue(Command::Inventory(InventoryCommand::ReleaseReservation {
            sku: sku.to_owned(),
            location: source.location().to_owned(),
            order_id: order_id.to_owned(),
            line,
            po_id,
            qty: Some(qty),
        }))?;
        Ok(false)
    }
}

/// Where and how much a recorded `StockReserved` set aside.
fn reserved_stock(events: &[Value]) -> Option<(String, u64)> {
    events
        .iter()
        .find_map(|e| match serde_json::from_value(e.clone()) {
            Ok(InventoryEvent::StockReserved { location, qty, .. }) => Some((location, qty)),
            _ => None,
        })
}

/// What a recorded `InboundReserved` set aside.
fn reserved_inbound(events: &[Value]) -> Option<(String, String, u64, NaiveDate)> {
    events
        .iter()
        .find_map(|e| match serde_json::from_value(e.clone()) {
            Ok(InventoryEvent::InboundReserved {
                po_id,
                location,
                qty,
                expected_date,
                ..
            }) => Some((po_id, location, qty, expected_date)),
            _ => None,
        })
}

/// The command as it would arrive on the wire, for the idempotency check.
fn command_body(
    command_id: &str,
    command: &Command,
    at: DateTime<Utc>,
) -> Result<Value, StoreError> {
    let mut body = match command {
        Command::Catalog(c) => serde_json::to_value(c),
        Command::Inventory(c) => serde_json::to_value(c),
        Command::Order(c) => serde_json::to_value(c),
        Command::PurchaseOrder(c) => serde_json::to_value(c),
    }
    .map_err(StoreError::Encode)?;
    if let Some(object) = body.as_object_mut() {
        object.insert("command_id".into(), Value::String(command_id.to_owned()));
        object.insert("at".into(), Value::String(at.to_rfc3339()));
    }
    Ok(body)
}
