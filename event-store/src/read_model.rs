use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;

use crate::error::{Result, StoreError};
use crate::keys;

/// A consumer's read-model tree paired with its checkpoint.
///
/// [`ReadModel::apply`] writes the consumer's changes for one log position and
/// the new checkpoint in one sled transaction, so after a crash the model and
/// the checkpoint agree: a restarted consumer neither skips nor double-applies
/// an event. Positions at or below the checkpoint are skipped, which makes
/// redelivery harmless. It works on any sled database, so a projection worker
/// can keep its model apart from the log.
#[derive(Debug, Clone)]
pub struct ReadModel {
    name: String,
    tree: sled::Tree,
    checkpoints: sled::Tree,
}

impl ReadModel {
    /// Opens (or creates) the read model `name` in `db`.
    pub fn open(db: &sled::Db, name: &str) -> Result<Self> {
        Ok(Self {
            name: name.to_owned(),
            tree: db.open_tree(format!("read-model/{name}"))?,
            checkpoints: db.open_tree("checkpoints")?,
        })
    }

    /// The model's tree, for queries.
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// The last log position applied, if any.
    pub fn checkpoint(&self) -> Result<Option<u64>> {
        Ok(self
            .checkpoints
            .get(self.name.as_bytes())?
            .and_then(|v| keys::read_u64(&v)))
    }

    /// Applies `change` for log `position` and moves the checkpoint there, atomically.
    /// Returns false, changing nothing, when `position` was already applied.
    pub fn apply<F>(&self, position: u64, change: F) -> Result<bool>
    where
        F: Fn(&TransactionalTree) -> Result<(), UnabortableTransactionError>,
    {
        let name = self.name.as_bytes();
        let result: Result<bool, TransactionError<()>> = (&self.tree, &self.checkpoints)
            .transaction(|(tree, checkpoints)| {
                let done = checkpoints.get(name)?.and_then(|v| keys::read_u64(&v));
                if done.is_some_and(|d| d >= position) {
                    return Ok(false);
                }
                change(tree)?;
                checkpoints.insert(name, &keys::position(position)[..])?;
                Ok::<bool, ConflictableTransactionError<()>>(true)
            });
        match result {
            Ok(applied) => Ok(applied),
            Err(TransactionError::Storage(e)) => Err(e.into()),
            Err(TransactionError::Abort(())) => {
                Err(StoreError::Failed("read-model transaction aborted".into()))
            }
        }
    }

    /// Removes the model and its checkpoint, for a rebuild from the log.
    pub fn clear(&self) -> Result<()> {
        self.tree.clear()?;
        self.checkpoints.remove(self.name.as_bytes())?;
        Ok(())
    }
}
