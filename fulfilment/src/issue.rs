//! Issuing one reaction's commands with deterministic ids, and carrying on
//! from what an earlier run recorded under the same id.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use event_store::StoreError;
use schemas::{Command, CommandEnvelope, CommandResult, Outcome};
use serde_json::Value;

use crate::port::Port;

/// What one batch (or one reaction) did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Events read.
    pub events: usize,
    /// Commands issued.
    pub commands: usize,
    /// Of those, accepted.
    pub accepted: usize,
    /// Of those, refused, by reason code (`invalid_*` for one that was not a command).
    pub refused: BTreeMap<&'static str, usize>,
    /// The refused commands for customer orders, until the runner stores them.
    pub refusals: Vec<Refused>,
}

/// A command a process issued for a customer order and was refused.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Refused {
    /// The command's id (`fp-<position>-…`: the fact it reacted to).
    pub command_id: String,
    /// The command's type.
    pub command_type: String,
    /// The order it was for.
    pub order_id: String,
    /// The business time it was issued at.
    pub at: DateTime<Utc>,
    /// The reason code.
    pub reason: String,
    /// Why, in words.
    pub message: String,
}

impl Progress {
    /// Adds another batch's or worker's counts.
    pub fn add(&mut self, other: Progress) {
        self.events += other.events;
        self.commands += other.commands;
        self.accepted += other.accepted;
        for (reason, n) in other.refused {
            *self.refused.entry(reason).or_default() += n;
        }
        self.refusals.extend(other.refusals);
    }

    /// Runs `batch` until a batch reads no event; the sum of what they did.
    /// A process runs this way until it has caught up with the log,
    /// including the events its own commands appended.
    pub fn until_idle<E>(mut batch: impl FnMut() -> Result<Progress, E>) -> Result<Progress, E> {
        let mut total = Progress::default();
        loop {
            let done = batch()?;
            if done.events == 0 {
                return Ok(total);
            }
            total.add(done);
        }
    }

    /// Commands refused, for every reason.
    pub fn refused_total(&self) -> usize {
        self.refused.values().sum()
    }
}

/// Refusals that are part of sourcing: the process read a position that
/// moved, the aggregate judged, and the search went on (counted, logged at
/// info). Every other refusal of a process command is logged at warn.
const SOURCING_REFUSALS: [&str; 2] = ["insufficient_stock", "insufficient_inbound"];

/// The outcome of a command a process issued.
pub enum Issued {
    /// Recorded; `recorded` holds the payloads when they were read back
    /// because an earlier run had recorded a different decision.
    Accepted {
        /// The payloads an earlier run recorded, when they differ from this run's decision.
        recorded: Option<Vec<Value>>,
    },
    /// Refused; nothing changed.
    Rejected,
}

/// Issues one task's commands, numbered for their ids: the `n`th command
/// of task `t` of the event at position `p` is `fp-p-t-n` (the fulfilment
/// process's prefix), whatever run issues it. Every process issues its
/// commands this way.
pub struct Issuer<'a> {
    pub(crate) port: &'a dyn Port,
    /// The business time of the event reacted to: the commands' `at`.
    pub(crate) at: DateTime<Utc>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) prefix: String,
    pub(crate) count: usize,
    pub(crate) progress: &'a mut Progress,
}

impl<'a> Issuer<'a> {
    /// An issuer of commands with ids `{prefix}-0`, `{prefix}-1`, …, at
    /// business time `at`, counted in `progress`.
    pub fn new(
        port: &'a dyn Port,
        prefix: String,
        at: DateTime<Utc>,
        correlation_id: Option<String>,
        progress: &'a mut Progress,
    ) -> Self {
        Self {
            port,
            at,
            correlation_id,
            prefix,
            count: 0,
            progress,
        }
    }

    /// The business day the commands are issued on.
    pub fn today(&self) -> chrono::NaiveDate {
        self.at.date_naive()
    }

    /// Issues one command with the next deterministic id.
    pub fn issue(&mut self, command: Command) -> Result<Issued, StoreError> {
        let command_id = format!("{}-{}", self.prefix, self.count);
        self.count += 1;
        self.progress.commands += 1;
        let body = command_body(&command_id, &command, self.at)?;
        let envelope = CommandEnvelope {
            command_id: command_id.clone(),
            at: Some(self.at),
            correlation_id: self.correlation_id.clone(),
            command,
            body,
        };
        let result = self.port.handle(&envelope)?;
        match &result {
            // A process never tries a command: it decides and records.
            CommandResult::Accepted { .. } | CommandResult::WouldAccept { .. } => {
                self.progress.accepted += 1;
                Ok(Issued::Accepted { recorded: None })
            }
            CommandResult::Rejected {
                reason: "idempotency_conflict",
                ..
            } => {
                // An earlier run recorded another decision under this id: carry on from it.
                match self.port.recorded(&command_id)? {
                    Some(recorded) => Ok(Issued::Accepted {
                        recorded: Some(recorded),
                    }),
                    None => Ok(Issued::Rejected),
                }
            }
            CommandResult::Rejected {
                reason, message, ..
            }
            | CommandResult::Invalid {
                reason, message, ..
            } => {
                *self.progress.refused.entry(reason).or_default() += 1;
                if let Some(order_id) = envelope.command.order_id() {
                    self.progress.refusals.push(Refused {
                        command_id: command_id.clone(),
                        command_type: envelope
                            .body
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        order_id: order_id.to_owned(),
                        at: self.at,
                        reason: (*reason).to_owned(),
                        message: message.clone(),
                    });
                }
                if result.outcome() == Outcome::Invalid {
                    tracing::warn!(%command_id, reason, %message, "a process built an invalid command");
                } else if SOURCING_REFUSALS.contains(reason) {
                    tracing::info!(%command_id, reason, %message, "fulfilment command refused; sourcing goes on");
                } else {
                    tracing::warn!(%command_id, reason, %message, "process command refused");
                }
                Ok(Issued::Rejected)
            }
        }
    }
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
