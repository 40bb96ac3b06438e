//! The replenishment process: the loop from recorded demand back to
//! purchase orders, through the same command path as any upstream system.
//!
//! - Supplier terms (`SetSupply`) make an item replenished. Its reorder
//!   policy is planned from its daily demand history (the `demand` read
//!   model), the lead times its receipts showed and its terms, and kept
//!   current through `SetReorderPolicy`: when the terms are set, when a
//!   receipt shows a lead time, and at the first order of each new week
//!   (business time).
//! - When the inventory position (on hand + on order − reserved −
//!   backordered) is at or below the reorder point, a purchase order is
//!   placed (`PlacePurchaseOrder`) where the terms say `auto_order`, citing
//!   the forecast, the policy and the position it came from; otherwise it
//!   records a suggestion (`SuggestReplenishment`, once per crossing) and
//!   the item shows in `fulfil replenish`'s table.
//!
//! Restartable and idempotent like the fulfilment process: events are read
//! in batches from the process's checkpoint; the commands a batch issues
//! have ids derived from the event position (`rp-P-N`, purchase orders
//! `RP-P-N`); the memory (replenished items, refresh weeks, orders placed
//! but not yet on the items) is stored with the checkpoint in one
//! transaction. A crash mid-batch re-runs it, and what was recorded is a
//! duplicate, so no purchase order is placed (or suggestion made) twice.
//!
//! Map of the crate:
//! - `policy`: the formulas (normal quantile and loss, safety stock,
//!   reorder point, EOQ, fill rate, MOQ and packs);
//! - `plan`: a policy planned from history, lead times and terms;
//! - `memory` and `reactions`: what the process remembers and the pure
//!   reaction table (memory + event → tasks);
//! - `runner`: batches, the I/O and the checkpoint;
//! - `suggest`: the suggestions table (every replenished item's position
//!   against its policy);
//! - `report`: a SKU's demand, forecast, accuracy and policy, as the CLI
//!   and the API show it.

mod memory;
pub mod plan;
pub mod policy;
mod reactions;
pub mod report;
mod runner;
mod suggest;

pub use memory::Memory;
pub use plan::{plan, Plan, PlanError};
pub use reactions::{react, Reaction};
pub use runner::{ReplenishmentError, ReplenishmentProcess};
pub use suggest::{suggestions, Suggestion};
