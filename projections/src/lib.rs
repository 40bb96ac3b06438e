//! Read models built from the event log.
//!
//! - `projection`: what every read model shares: catching up with its
//!   checkpoint, rebuilding beside the live copy, checking against a rebuild;
//! - `phased`: time-phased available-to-promise, as a pure calculation;
//! - `atp`: the ATP read model per SKU and location, answering ATP now, by
//!   day and cumulatively, and whether a quantity can be promised by a date.

pub mod atp;
pub mod phased;
pub mod projection;

pub use projection::{Projection, ProjectionError};
