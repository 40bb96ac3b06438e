use std::sync::{Arc, RwLock};

use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;

use crate::error::{Result, StoreError};
use crate::keys;

/// The new value of each key (`None` removes it), written together.
pub type Changes = std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Which generation of each read model is the one queries see.
const GENERATIONS: &str = "read-model-generations";

/// A consumer's read-model tree paired with its checkpoint.
///
/// [`ReadModel::apply`] writes the consumer's changes for one log position and
/// the new checkpoint in one sled transaction, so after a crash the model and
/// the checkpoint agree: a restarted consumer neither skips nor double-applies
/// an event. Positions at or below the checkpoint are skipped, which makes
/// redelivery harmless. It works on any sled database, so a projection worker
/// can keep its model apart from the log.
///
/// A model is rebuilt beside the live one: [`ReadModel::scratch`] gives an
/// empty generation nobody queries, and [`ReadModel::swap_in`] makes it the
/// live one for every clone at once, so queries keep being answered during
/// a rebuild.
#[derive(Debug, Clone)]
pub struct ReadModel {
    db: sled::Db,
    name: String,
    checkpoints: sled::Tree,
    live: Arc<RwLock<Generation>>,
}

/// One copy of a model: its tree and the key of its checkpoint.
#[derive(Debug, Clone)]
struct Generation {
    number: u64,
    tree: sled::Tree,
    checkpoint_key: String,
}

impl Generation {
    fn open(db: &sled::Db, name: &str, number: u64) -> Result<Self> {
        // Generation 0 keeps the names models had before generations existed.
        let (tree, checkpoint_key) = if number == 0 {
            (format!("read-model/{name}"), name.to_owned())
        } else {
            (
                format!("read-model/{name}#{number}"),
                format!("{name}#{number}"),
            )
        };
        Ok(Self {
            number,
            tree: db.open_tree(tree)?,
            checkpoint_key,
        })
    }
}

impl ReadModel {
    /// Opens (or creates) the read model `name` in `db`, and removes copies
    /// of it that an interrupted rebuild left behind.
    pub fn open(db: &sled::Db, name: &str) -> Result<Self> {
        let number = db
            .open_tree(GENERATIONS)?
            .get(name.as_bytes())?
            .and_then(|v| keys::read_u64(&v))
            .unwrap_or(0);
        let checkpoints = db.open_tree("checkpoints")?;
        let live = Generation::open(db, name, number)?;
        let prefix = format!("read-model/{name}#");
        for tree in db.tree_names() {
            let tree = String::from_utf8_lossy(&tree).into_owned();
            let stale = tree
                .strip_prefix(&prefix)
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n != number);
            if stale || (number != 0 && tree == format!("read-model/{name}")) {
                db.drop_tree(tree.as_bytes())?;
            }
        }
        Ok(Self {
            db: db.clone(),
            name: name.to_owned(),
            checkpoints,
            live: Arc::new(RwLock::new(live)),
        })
    }

    fn live(&self) -> Generation {
        match self.live.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model's tree, for queries (the live copy at the time of the call).
    pub fn tree(&self) -> sled::Tree {
        self.live().tree
    }

    /// The last log position applied, if any.
    pub fn checkpoint(&self) -> Result<Option<u64>> {
        Ok(self
            .checkpoints
            .get(self.live().checkpoint_key.as_bytes())?
            .and_then(|v| keys::read_u64(&v)))
    }

    /// Applies `change` for log `position` and moves the checkpoint there, atomically.
    /// Returns false, changing nothing, when `position` was already applied.
    pub fn apply<F>(&self, position: u64, change: F) -> Result<bool>
    where
        F: Fn(&TransactionalTree) -> Result<(), UnabortableTransactionError>,
    {
        self.apply_marked(position, &[], change)
    }

    /// [`ReadModel::apply`], also recording `marks` beside the checkpoint in
    /// the same transaction: a consumer fed from elsewhere (Kafka offsets per
    /// partition) keeps where to resume in step with what it applied.
    pub fn apply_marked<F>(&self, position: u64, marks: &[(String, u64)], change: F) -> Result<bool>
    where
        F: Fn(&TransactionalTree) -> Result<(), UnabortableTransactionError>,
    {
        let live = self.live();
        let name = live.checkpoint_key.as_bytes();
        let marks: Vec<(Vec<u8>, [u8; 8])> = marks
            .iter()
            .map(|(mark, value)| (mark_key(&live.checkpoint_key, mark), keys::position(*value)))
            .collect();
        let result: Result<bool, TransactionError<()>> = (&live.tree, &self.checkpoints)
            .transaction(|(tree, checkpoints)| {
                let done = checkpoints.get(name)?.and_then(|v| keys::read_u64(&v));
                if done.is_some_and(|d| d >= position) {
                    return Ok(false);
                }
                change(tree)?;
                checkpoints.insert(name, &keys::position(position)[..])?;
                for (key, value) in &marks {
                    checkpoints.insert(key.as_slice(), &value[..])?;
                }
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

    /// Writes `changes` (a key's new value, or `None` to remove it) for log
    /// `position` with `marks`, as [`ReadModel::apply_marked`] does.
    pub fn apply_changes(
        &self,
        position: u64,
        marks: &[(String, u64)],
        changes: &Changes,
    ) -> Result<bool> {
        self.apply_marked(position, marks, |tree| {
            for (key, value) in changes {
                match value {
                    Some(v) => tree.insert(key.as_slice(), v.as_slice())?,
                    None => tree.remove(key.as_slice())?,
                };
            }
            Ok(())
        })
    }

    /// The marks recorded with the checkpoint by [`ReadModel::apply_marked`].
    pub fn marks(&self) -> Result<Vec<(String, u64)>> {
        let prefix = mark_key(&self.live().checkpoint_key, "");
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

    fn remove_marks(&self, g: &Generation) -> Result<()> {
        let prefix = mark_key(&g.checkpoint_key, "");
        for key in self.checkpoints.scan_prefix(&prefix).keys() {
            self.checkpoints.remove(key?)?;
        }
        Ok(())
    }

    /// Removes the model and its checkpoint, for a rebuild from the log in place.
    pub fn clear(&self) -> Result<()> {
        let live = self.live();
        live.tree.clear()?;
        self.checkpoints.remove(live.checkpoint_key.as_bytes())?;
        self.remove_marks(&live)
    }

    /// A new, empty copy of this model that no query sees, to rebuild into
    /// (then [`ReadModel::swap_in`]) or to compare with (then [`ReadModel::discard`]).
    pub fn scratch(&self) -> Result<ReadModel> {
        // sled's ids start at 0, and generation 0 is the original copy.
        let number = self.db.generate_id()? + 1;
        let generation = Generation::open(&self.db, &self.name, number)?;
        generation.tree.clear()?;
        self.checkpoints
            .remove(generation.checkpoint_key.as_bytes())?;
        let scratch = Self {
            db: self.db.clone(),
            name: self.name.clone(),
            checkpoints: self.checkpoints.clone(),
            live: Arc::new(RwLock::new(generation.clone())),
        };
        scratch.remove_marks(&generation)?;
        Ok(scratch)
    }

    /// Makes `rebuilt` (from [`ReadModel::scratch`]) the live copy for this
    /// model and all its clones, and drops the copy it replaces. The switch
    /// is durable before the old copy goes.
    pub fn swap_in(&self, rebuilt: ReadModel) -> Result<()> {
        let new = rebuilt.live();
        self.db
            .open_tree(GENERATIONS)?
            .insert(self.name.as_bytes(), &keys::position(new.number)[..])?;
        self.db.flush()?;
        let old = {
            let mut live = match self.live.write() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            std::mem::replace(&mut *live, new)
        };
        self.drop_generation(&old)
    }

    /// Drops a copy from [`ReadModel::scratch`] that is not wanted.
    pub fn discard(self) -> Result<()> {
        let live = self.live();
        self.drop_generation(&live)
    }

    fn drop_generation(&self, g: &Generation) -> Result<()> {
        self.checkpoints.remove(g.checkpoint_key.as_bytes())?;
        self.remove_marks(g)?;
        self.db.drop_tree(g.tree.name())?;
        Ok(())
    }
}

/// Where mark `mark` of the copy with checkpoint key `checkpoint_key` is kept
/// (the NUL keeps `atp`'s marks apart from `atp#2`'s checkpoint).
fn mark_key(checkpoint_key: &str, mark: &str) -> Vec<u8> {
    format!("{checkpoint_key}\0{mark}").into_bytes()
}
