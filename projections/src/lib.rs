//! Read models built from the event log.
//!
//! - `phased`: time-phased available-to-promise, as a pure calculation;
//! - `atp`: the ATP read model per SKU and location, kept in the store's
//!   database with its checkpoint, answering ATP now, by day and
//!   cumulatively, and whether a quantity can be promised by a date.
//!
//! Cycle time, on-time shipment, fill rate, turnover and stock accuracy
//! are still to come (issue 5).

pub mod atp;
pub mod phased;
