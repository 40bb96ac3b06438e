use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::error::{Result, StoreError};
use crate::keys;

/// The new value of each key (`None` removes it), written together.
pub type Changes = std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Where a checkpointed tree's values live: `read-model/<key>` (the name
/// read models have always had, so stores stay readable).
fn tree_name(key: &str) -> String {
    format!("read-model/{key}")
}

/// A consumer's own key-value tree paired with its checkpoint: the last log
/// position it applied.
///
/// [`Checkpointed::apply_changes`] writes the changes for a run of log
/// positions and the new checkpoint (with any marks, such as Kafka offsets)
/// in one sled transaction, so after a crash the values and the checkpoint
/// agree: a restarted consumer neither skips nor double-applies an event.
/// Positions at or below the checkpoint are refused, which makes redelivery
/// harmless. Read models (`projections`) and the fulfilment process's
/// memory are kept this way.
#[derive(Debug, Clone)]
pub struct Checkpointed {
    key: String,
    tree: sled::Tree,
    checkpoints: sled::Tree,
}

impl Checkpointed {
    pub(crate) fn open(db: &sled::Db, key: &str) -> Result<Self> {
        Ok(Self {
            key: key.to_owned(),
            tree: db.open_tree(tree_name(key))?,
            checkpoints: db.open_tree("checkpoints")?,
        })
    }

    /// Every checkpointed tree in `db`, by key.
    pub(crate) fn keys(db: &sled::Db) -> Vec<String> {
        let prefix = tree_name("");
        db.tree_names()
            .iter()
            .filter_map(|n| {
                String::from_utf8_lossy(n)
                    .strip_prefix(&prefix)
                    .map(str::to_owned)
            })
            .collect()
    }

    /// Removes the tree `key`, its checkpoint and its marks.
    pub(crate) fn drop_all(db: &sled::Db, key: &str) -> Result<()> {
        let copy = Self::open(db, key)?;
        copy.forget_checkpoint()?;
        db.drop_tree(tree_name(key).as_bytes())?;
        Ok(())
    }

    /// Its key in the store.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The last log position applied, if any.
    pub fn checkpoint(&self) -> Result<Option<u64>> {
        Ok(self
            .checkpoints
            .get(self.key.as_bytes())?
            .and_then(|v| keys::read_u64(&v)))
    }

    /// Writes `changes` for log `position` and moves the checkpoint there,
    /// recording `marks` beside it, atomically. Returns false, changing
    /// nothing, when `position` was already applied.
    pub fn apply_changes(
        &self,
        position: u64,
        marks: &[(String, u64)],
        changes: &Changes,
    ) -> Result<bool> {
        let name = self.key.as_bytes();
        let marks: Vec<(Vec<u8>, [u8; 8])> = marks
            .iter()
            .map(|(mark, value)| (mark_key(&self.key, mark), keys::position(*value)))
            .collect();
        let result: Result<bool, TransactionError<()>> = (&self.tree, &self.checkpoints)
            .transaction(|(tree, checkpoints)| {
                let done = checkpoints.get(name)?.and_then(|v| keys::read_u64(&v));
                if done.is_some_and(|d| d >= position) {
                    return Ok(false);
                }
                for (key, value) in changes {
                    match value {
                        Some(v) => tree.insert(key.as_slice(), v.as_slice())?,
                        None => tree.remove(key.as_slice())?,
                    };
                }
                checkpoints.insert(name, &keys::position(position)[..])?;
                for (key, value) in &marks {
                    checkpoints.insert(key.as_slice(), &value[..])?;
                }
                Ok::<bool, ConflictableTransactionError<()>>(true)
            });
        match result {
            Ok(applied) => Ok(applied),
            Err(TransactionError::Storage(e)) => Err(e.into()),
            Err(TransactionError::Abort(())) => Err(StoreError::Failed(
                "checkpointed transaction aborted".into(),
            )),
        }
    }

    /// The marks recorded with the checkpoint by [`Checkpointed::apply_changes`].
    pub fn marks(&self) -> Result<Vec<(String, u64)>> {
        let prefix = mark_key(&self.key, "");
        let mut out = Vec::new();
        for entry in self.checkpoints.scan_prefix(&prefix) {
            let (k, v) = entry?;
            if let Some(value) = keys::read_u64(&v) {
                out.push((
                    String::from_utf8_lossy(&k[prefix.len()..]).into_owned(),
                    value,
                ));
            }
        }
        Ok(out)
    }

    /// The value at `key`, if any.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    /// Every key and value under `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &[u8]) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> {
        self.tree
            .scan_prefix(prefix)
            .map(|entry| Ok(entry.map(|(k, v)| (k.to_vec(), v.to_vec()))?))
    }

    /// Every key and value from `from` up to (not including) `to`, in key
    /// order either way.
    pub fn range(
        &self,
        from: &[u8],
        to: &[u8],
    ) -> impl DoubleEndedIterator<Item = Result<(Vec<u8>, Vec<u8>)>> {
        self.tree
            .range(from..to)
            .map(|entry| Ok(entry.map(|(k, v)| (k.to_vec(), v.to_vec()))?))
    }

    /// Whether it holds no value.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Removes every value, the checkpoint and the marks, to apply the log
    /// again from the start.
    pub fn clear(&self) -> Result<()> {
        self.tree.clear()?;
        self.forget_checkpoint()
    }

    /// Writes one value without moving the checkpoint: a repair from
    /// outside the consumer, which a check against a rebuild will report.
    pub fn write_outside_fold(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.tree.insert(key, value)?;
        Ok(())
    }

    fn forget_checkpoint(&self) -> Result<()> {
        self.checkpoints.remove(self.key.as_bytes())?;
        let prefix = mark_key(&self.key, "");
        for key in self.checkpoints.scan_prefix(&prefix).keys() {
            self.checkpoints.remove(key?)?;
        }
        Ok(())
    }
}

/// Where mark `mark` of the tree with checkpoint key `key` is kept (the
/// NUL keeps `atp`'s marks apart from `atp#2`'s checkpoint).
fn mark_key(key: &str, mark: &str) -> Vec<u8> {
    format!("{key}\0{mark}").into_bytes()
}
