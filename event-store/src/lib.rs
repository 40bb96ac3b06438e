//! The durable event log of fulfil, on sled.
//!
//! What it guarantees is written on [`Store`]. Map of the crate:
//! - `model`: stream ids, expected versions, new and recorded events (the envelope);
//! - `store`: opening a data directory, appends, reads, outbox, snapshots;
//! - `writer`: the single writer that group-commits appends;
//! - `subscription`: catch-up then live following of the log;
//! - `read_model`: a consumer's tree and checkpoint, written in one transaction;
//! - `upcast`: migrations of old event payloads on read;
//! - `keys`: the byte layout of keys.
//!
//! The store knows nothing of orders or stock: payloads are JSON.

mod error;
mod keys;
mod model;
mod read_model;
mod store;
mod subscription;
mod upcast;
mod writer;

pub use error::{Result, StoreError};
pub use model::{AppendOutcome, AppendRequest, ExpectedVersion, NewEvent, RecordedEvent, StreamId};
pub use read_model::ReadModel;
pub use store::{Loaded, Store, StoreConfig, MARKER_FILE};
pub use subscription::Subscription;
pub use upcast::Upcasters;

/// The trees of one store. `events`: first position of a segment → JSON array
/// of events. `streams`: stream ++ 0x00 ++ first version → (first position,
/// count), one entry per append. `commands`: command id → body hash and
/// outcome. `outbox`: first position → last position of unpublished events.
#[derive(Debug, Clone)]
pub(crate) struct Trees {
    db: sled::Db,
    events: sled::Tree,
    streams: sled::Tree,
    commands: sled::Tree,
    outbox: sled::Tree,
    snapshots: sled::Tree,
}

impl Trees {
    fn open(db: sled::Db) -> Result<Self> {
        Ok(Self {
            events: db.open_tree("events")?,
            streams: db.open_tree("streams")?,
            commands: db.open_tree("commands")?,
            outbox: db.open_tree("outbox")?,
            snapshots: db.open_tree("snapshots")?,
            db,
        })
    }
}
