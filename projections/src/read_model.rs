//! A read model's storage: the copy queries see, and new copies built
//! beside it. [`ReadModel::scratch`] gives an empty copy nobody queries,
//! [`ReadModel::swap_in`] makes it the live one for every clone at once
//! (durably, before the old copy goes), so queries keep being answered
//! during a rebuild. Each copy is an `event_store::Checkpointed` tree.

use std::sync::{Arc, PoisonError, RwLock};

use event_store::{Changes, Checkpointed, Store, StoreError};

/// The store note naming the live copy of model `name`.
fn generation_note(name: &str) -> String {
    format!("read-model-generation/{name}")
}

/// The checkpointed key of copy `number` of model `name` (0 keeps the
/// name models had before copies existed).
fn copy_key(name: &str, number: u64) -> String {
    if number == 0 {
        name.to_owned()
    } else {
        format!("{name}#{number}")
    }
}

/// One copy of a model.
#[derive(Debug, Clone)]
struct Copy {
    number: u64,
    tree: Checkpointed,
}

/// A read model's live copy, swappable for a rebuilt one.
#[derive(Debug, Clone)]
pub struct ReadModel {
    store: Store,
    name: String,
    live: Arc<RwLock<Copy>>,
}

impl ReadModel {
    /// Opens (or creates) model `name` in `store`, and removes copies of it
    /// that an interrupted rebuild left behind.
    pub fn open(store: &Store, name: &str) -> Result<Self, StoreError> {
        let number = store
            .meta(&generation_note(name))?
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let prefix = format!("{name}#");
        for key in store.checkpointed_keys() {
            let stale = key
                .strip_prefix(&prefix)
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n != number);
            if stale || (number != 0 && key == name) {
                store.drop_checkpointed(&key)?;
            }
        }
        let tree = store.checkpointed(&copy_key(name, number))?;
        Ok(Self {
            store: store.clone(),
            name: name.to_owned(),
            live: Arc::new(RwLock::new(Copy { number, tree })),
        })
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The copy queries see now: its values and its checkpoint.
    pub fn live(&self) -> Checkpointed {
        self.copy().tree
    }

    fn copy(&self) -> Copy {
        self.live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The last log position applied, if any.
    pub fn checkpoint(&self) -> Result<Option<u64>, StoreError> {
        self.live().checkpoint()
    }

    /// The marks recorded with the checkpoint (for a replica, the Kafka
    /// offsets to resume from).
    pub fn marks(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.live().marks()
    }

    /// Writes a fold's changes for log `position` with `marks`; false, with
    /// nothing written, when that position was applied already.
    pub fn apply_changes(
        &self,
        position: u64,
        marks: &[(String, u64)],
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        self.live().apply_changes(position, marks, changes)
    }

    /// Empties the live copy, to fold the log again from the start.
    pub fn clear(&self) -> Result<(), StoreError> {
        self.live().clear()
    }

    /// A new, empty copy of this model that no query sees, to rebuild into
    /// (then [`ReadModel::swap_in`]) or to compare with (then [`ReadModel::discard`]).
    pub fn scratch(&self) -> Result<ReadModel, StoreError> {
        let number = self.store.unique_number()?;
        let tree = self.store.checkpointed(&copy_key(&self.name, number))?;
        tree.clear()?;
        Ok(Self {
            store: self.store.clone(),
            name: self.name.clone(),
            live: Arc::new(RwLock::new(Copy { number, tree })),
        })
    }

    /// Makes `rebuilt` (from [`ReadModel::scratch`]) the live copy for this
    /// model and all its clones, and drops the copy it replaces. The switch
    /// is durable before the old copy goes.
    pub fn swap_in(&self, rebuilt: ReadModel) -> Result<(), StoreError> {
        let new = rebuilt.copy();
        self.store
            .set_meta(&generation_note(&self.name), &new.number.to_string())?;
        let old = {
            let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
            std::mem::replace(&mut *live, new)
        };
        self.store.drop_checkpointed(old.tree.key())
    }

    /// Drops a copy from [`ReadModel::scratch`] that is not wanted.
    pub fn discard(self) -> Result<(), StoreError> {
        self.store.drop_checkpointed(self.copy().tree.key())
    }
}
