//! Which data directory a node may open: a writer's log is never a
//! replica's (whose models are ahead of its empty log and would skip every
//! event appended there), and a replica never takes a writer's log.

use std::path::Path;

use event_store::{Store, StoreConfig};

use crate::ServiceError;

/// The store note that marks a read replica's directory.
const ROLE: &str = "role";

/// Opens the store in `dir`, whatever its role.
pub fn open(dir: &Path, config: StoreConfig) -> Result<Store, ServiceError> {
    Store::open(dir, config).map_err(|source| ServiceError::Open {
        dir: dir.to_owned(),
        source,
    })
}

/// A store that takes commands: never a replica's.
pub fn open_log(dir: &Path, config: StoreConfig) -> Result<Store, ServiceError> {
    let store = open(dir, config)?;
    if store.meta(ROLE)?.as_deref() == Some("replica") {
        return Err(ServiceError::Role(format!(
            "{} holds a read replica's models (fulfil project), not a log: the writer's store is elsewhere",
            dir.display()
        )));
    }
    Ok(store)
}

/// A replica's store: a directory of its own, marked as such on first use.
pub fn open_replica(dir: &Path, config: StoreConfig) -> Result<Store, ServiceError> {
    let store = open(dir, config)?;
    if store.meta(ROLE)?.is_none() {
        if store.head_position() != 0 {
            return Err(ServiceError::Role(format!(
                "{} holds a log of {} events, a writer's store: give the replica a data directory of its own",
                dir.display(),
                store.head_position()
            )));
        }
        store.set_meta(ROLE, "replica")?;
    }
    Ok(store)
}
