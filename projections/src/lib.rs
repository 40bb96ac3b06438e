//! Read models built from the event log.
//!
//! - `projection`: what every read model shares: catching up with its
//!   checkpoint, rebuilding beside the live copy, checking against a rebuild;
//! - `read_model`: a model's storage: its live copy, and new copies built
//!   beside it and swapped in;
//! - `phased`: time-phased available-to-promise, as a pure calculation;
//! - `atp`: the ATP read model per SKU and location, answering ATP now, by
//!   day and cumulatively, and whether a quantity can be promised by a date;
//!   it keeps the item master, so a SKU defined but never stocked has ATP 0;
//! - `orders`: order metrics (cycle time, on-time, perfect orders, fill
//!   rate, backorders) and the order listing (by status, customer, SKU,
//!   location, channel and period, paged);
//! - `stock`: inventory metrics (turnover, stock accuracy, stockouts, dead
//!   stock, shortages);
//! - `demand`: demand history per SKU and location per day (unconstrained:
//!   backorders and shortage cancellations included), lead times observed,
//!   and the accuracy of the forecasts made as weeks began;
//! - `purchases`: purchase orders by status (open, overdue), supplier,
//!   SKU and location;
//! - `stats`: percentiles and ratios the metrics share;
//! - `registry`: every model the service keeps ([`ReadModels`]), by name.

/// The ATP read model per SKU and location and its queries.
pub mod atp;
pub mod demand;
pub mod orders;
pub mod phased;
pub mod projection;
pub mod purchases;
mod read_model;
mod registry;
pub mod stats;
pub mod stock;

pub use event_store::Cut;
pub use projection::{Folded, Projection, ProjectionError, Snapshot, Working};
pub use registry::{Lag, ReadModels, NAMES};
