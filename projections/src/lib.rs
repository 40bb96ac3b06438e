//! Read models built from the event log: available-to-promise (also
//! time-phased), cycle time, on-time shipment, fill rate, turnover and stock
//! accuracy.
//!
//! Empty for now: issue 5 builds them on `event_store::ReadModel`, whose
//! checkpoint is written in the same transaction as the model.
