//! The durable event log of fulfil, on sled.
//!
//! What it guarantees is written on [`Store`]. Map of the crate:
//! - `model`: stream ids, expected versions, new and recorded events (the envelope);
//! - `store`: opening a data directory, appends, reads, outbox, snapshots;
//! - `writer`: the single writer that group-commits appends;
//! - `index`: the stream and command indexes: off the acknowledgement path, in sorted runs;
//! - `find`: searching the log by stream, type, correlation id and positions, in pages;
//! - `subscription`: catch-up then live following of the log;
//! - `backup`: a consistent copy of the log while the store runs;
//! - `checkpointed`: a consumer's own key-value tree and its checkpoint,
//!   written in one transaction (read models and process memory sit on it);
//! - `upcast`: migrations of old event payloads on read;
//! - `segment`: the byte layout of the log's values;
//! - `keys`: the byte layout of keys.
//!
//! The store knows nothing of orders or stock: payloads are JSON.

mod backup;
mod checkpointed;
mod error;
mod find;
mod index;
mod keys;
mod model;
mod segment;
mod store;
mod subscription;
mod upcast;
mod writer;

pub use backup::Backup;
pub use checkpointed::{Changes, Checkpointed};
pub use error::{Result, StoreError};
pub use find::{EventPage, EventQuery};
pub use index::CommandCounts;
pub use model::{
    AppendOutcome, AppendRequest, Cut, ExpectedVersion, NewEvent, RecordedEvent, StreamId,
};
pub use store::{IdempotencyWindow, Loaded, Pages, Store, StoreConfig, MARKER_FILE};
pub use subscription::Subscription;
pub use upcast::Upcasters;

/// The log's trees (the indexes have their own, see `index`). `events`: first
/// position of a segment → the segment (see `segment`). `outbox`: the
/// published mark. `snapshots`: stream → cached state.
#[derive(Debug, Clone)]
pub(crate) struct Trees {
    db: sled::Db,
    events: sled::Tree,
    outbox: sled::Tree,
    snapshots: sled::Tree,
    meta: sled::Tree,
}

impl Trees {
    fn open(db: sled::Db) -> Result<Self> {
        Ok(Self {
            events: db.open_tree("events")?,
            outbox: db.open_tree("outbox")?,
            snapshots: db.open_tree("snapshots")?,
            meta: db.open_tree("meta")?,
            db,
        })
    }
}
