//! The runner: reads the log from the process's checkpoint in batches,
//! asks the reaction table what to do, runs the tasks (those sharing a key
//! in log order, the rest concurrently) and stores the memory with the
//! checkpoint in one transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use command_handler::CommandHandler;
use event_store::{Checkpointed, Store, StoreError};
use schemas::order::OrderCommand;
use schemas::Command;

use crate::issue::{Issuer, Progress, Refused};
use crate::memory::Memory;
use crate::port::Port;
use crate::reactions::{react, Reaction, Task};
use crate::{rescheduling, sourcing};

/// The store holding the process's checkpoint and memory.
const MEMORY: &str = "fulfilment-process";

/// Where the commands refused for an order are kept: `refused/ORDER/COMMAND`.
const REFUSED: &str = "refused/";

/// The refused commands kept per order: the first ones tell the story; a
/// race lost again and again would not add to it.
const REFUSALS_PER_ORDER: usize = 32;

/// The commands the fulfilment process issued for `order_id` and was
/// refused, with why, in command-id order.
pub fn refusals(store: &Store, order_id: &str) -> Result<Vec<Refused>, StoreError> {
    let saved = store.checkpointed(MEMORY)?;
    let mut out = Vec::new();
    for entry in saved.scan_prefix(format!("{REFUSED}{order_id}/").as_bytes()) {
        let (_, value) = entry?;
        out.push(serde_json::from_slice(&value).map_err(StoreError::Encode)?);
    }
    Ok(out)
}
/// Events read and handled together; their commands run concurrently.
const EVENTS_PER_BATCH: usize = 512;
/// Threads issuing one batch's commands.
const WORKERS: usize = 32;

/// The fulfilment process over a store, sending commands through `P`.
pub struct FulfilmentProcess<P: Port = CommandHandler> {
    store: Store,
    port: P,
    saved: Checkpointed,
    memory: Memory,
    /// Orders whose placement was fully handled (lines sourced), since last taken.
    sourced: Vec<String>,
}

impl FulfilmentProcess<CommandHandler> {
    /// The process over the handler's store, from its checkpoint.
    pub fn open(handler: CommandHandler) -> Result<Self, StoreError> {
        Self::with_port(handler.store().clone(), handler)
    }
}

impl<P: Port> FulfilmentProcess<P> {
    /// The process reading `store`'s log and acting through `port`.
    pub fn with_port(store: Store, port: P) -> Result<Self, StoreError> {
        // The process's own store: its checkpoint and memory, not a read model.
        let saved = store.checkpointed(MEMORY)?;
        // What it remembers to act on; the refusals it keeps are only read back.
        let entries = saved
            .scan_prefix(b"loc/")
            .chain(saved.scan_prefix(b"bo/"))
            .map(|item| item.map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v)));
        let entries: Vec<(String, Vec<u8>)> = entries.collect::<Result<_, _>>()?;
        let memory = Memory::load(entries)
            .map_err(|e| StoreError::Failed(format!("{MEMORY}: bad backorder {}", e.0)))?;
        Ok(Self {
            store,
            port,
            saved,
            memory,
            sourced: Vec::new(),
        })
    }

    /// Handles every event past the checkpoint, including those its own
    /// commands append, until it has caught up with the log.
    pub fn run_until_idle(&mut self) -> Result<Progress, StoreError> {
        Progress::until_idle(|| self.run_batch())
    }

    /// The orders whose placement has been handled (every line reserved and
    /// allocated, or backordered) since the last call.
    pub fn take_sourced(&mut self) -> Vec<String> {
        std::mem::take(&mut self.sourced)
    }

    /// Handles up to one batch of events past the checkpoint.
    pub fn run_batch(&mut self) -> Result<Progress, StoreError> {
        let from = self.saved.checkpoint()?.map_or(1, |c| c + 1);
        let events = self.store.read_all(from, EVENTS_PER_BATCH)?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(Progress::default());
        };
        let mut reactions: Vec<Reaction> = Vec::new();
        for event in &events {
            reactions.extend(react(&mut self.memory, &self.port, event)?);
        }
        let mut progress = execute(&self.port, self.memory.locations(), &reactions)?;
        self.sourced.extend(
            reactions
                .iter()
                .filter(|r| r.placement)
                .map(|r| r.key.clone()),
        );
        let mut changes = self.memory.take_writes();
        for refused in std::mem::take(&mut progress.refusals) {
            let prefix = format!("{REFUSED}{}/", refused.order_id);
            let kept = self
                .saved
                .scan_prefix(prefix.as_bytes())
                .take(REFUSALS_PER_ORDER)
                .count();
            if kept < REFUSALS_PER_ORDER {
                let value = serde_json::to_vec(&refused).map_err(StoreError::Encode)?;
                changes.insert(
                    format!("{prefix}{}", refused.command_id).into_bytes(),
                    Some(value),
                );
            }
        }
        self.saved.apply_changes(last, &[], &changes)?;
        Ok(Progress {
            events: events.len(),
            ..progress
        })
    }
}

/// Runs the reactions through `port`: those sharing a key in order, the
/// rest concurrently.
pub fn execute(
    port: &dyn Port,
    locations: &BTreeSet<String>,
    reactions: &[Reaction],
) -> Result<Progress, StoreError> {
    let mut by_key: BTreeMap<&str, Vec<&Reaction>> = BTreeMap::new();
    for r in reactions {
        by_key.entry(&r.key).or_default().push(r);
    }
    let groups: Vec<Vec<&Reaction>> = by_key.into_values().collect();
    if groups.is_empty() {
        return Ok(Progress::default());
    }
    let workers = WORKERS.min(groups.len()).max(1);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<Progress, StoreError> {
                    let mut progress = Progress::default();
                    while let Some(group) = groups.get(next.fetch_add(1, Ordering::Relaxed)) {
                        for reaction in group {
                            perform(port, locations, reaction, &mut progress)?;
                        }
                    }
                    Ok(progress)
                })
            })
            .collect();
        let mut total = Progress::default();
        for handle in handles {
            let p = handle
                .join()
                .map_err(|_| StoreError::Failed("a fulfilment worker panicked".into()))??;
            total.add(p);
        }
        Ok(total)
    })
}

/// Runs one reaction's tasks in order.
fn perform(
    port: &dyn Port,
    locations: &BTreeSet<String>,
    reaction: &Reaction,
    progress: &mut Progress,
) -> Result<(), StoreError> {
    for (n, task) in reaction.tasks.iter().enumerate() {
        let mut issuer = Issuer::new(
            port,
            format!("fp-{}-{n}", reaction.position),
            reaction.at,
            reaction.correlation_id.clone(),
            progress,
        );
        match task {
            Task::Send(command) => {
                issuer.issue(command.clone())?;
            }
            Task::Source { order_id, line } => {
                sourcing::source(&mut issuer, locations, order_id, *line, false)?;
            }
            Task::FillBackorder { order_id, line } => {
                sourcing::source(&mut issuer, locations, order_id, *line, true)?;
                sourcing::pull_in(&mut issuer, locations, order_id, *line)?;
            }
            Task::InboundMoved {
                sku,
                location,
                po_id,
                po_line,
            } => {
                let po = (po_id.as_str(), *po_line);
                rescheduling::inbound_moved(&mut issuer, locations, sku, location, po)?;
            }
            Task::StockShort {
                sku,
                location,
                short,
            } => {
                rescheduling::stock_short(&mut issuer, locations, sku, location, *short)?;
            }
            Task::Release { order_id } => {
                if port.order(order_id)?.is_some_and(|o| o.can_release()) {
                    issuer.issue(Command::Order(OrderCommand::ReleaseToWarehouse {
                        order_id: order_id.clone(),
                    }))?;
                }
            }
        }
    }
    Ok(())
}
