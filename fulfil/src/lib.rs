//! The fulfil service's core, shared by the CLI, the demo and the tests:
//! - `handler`: every command's path into the store (item-master checks,
//!   state, decide, append, retry on conflict);
//! - `process`: the fulfilment process manager between orders and stock;
//! - `read_models`: the read models the service keeps, by name;
//! - `api`: the HTTP API over them;
//! - `kafka`: commands in from topics, events out through the outbox relay;
//! - `service`: `fulfil serve`, the workers and the HTTP server together.

pub mod api;
pub mod handler;
pub mod kafka;
pub mod process;
pub mod read_models;
pub mod service;
