//! The fulfilment process manager: the explicit handoff between order management
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
//!
//! Map of the crate:
//! - `reactions`: the reaction table, pure (memory + event → tasks);
//! - `memory`: what the process remembers (locations, the backorder queue
//!   and its priority order);
//! - `sourcing`: where a line's units come from, and the candidates' order;
//! - `issue`: deterministic command ids and recovery from an earlier run;
//! - `runner`: batches, per-key ordering, workers, the checkpoint;
//! - `port`: what the process asks of the rest of the system ([`Port`]),
//!   implemented by the command handler.

mod issue;
mod memory;
mod port;
mod reactions;
mod rescheduling;
mod runner;
mod sourcing;

pub use issue::{Issued, Issuer, Progress, Refused};
pub use memory::Memory;
pub use port::Port;
pub use reactions::{react, Reaction, Task};
pub use runner::{execute, refusals, FulfilmentProcess};
