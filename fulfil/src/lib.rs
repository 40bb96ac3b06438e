//! The fulfil service's core, shared by the CLI, the demo and the tests:
//! - `handler`: every command's path into the store (item-master checks,
//!   state, decide, append, retry on conflict);
//! - `process`: the fulfilment process manager between orders and stock.

pub mod handler;
pub mod process;
