//! A consistent copy of a store while it runs: the log up to the head when
//! the copy began (its segments as they are, so positions, event ids,
//! times and the command ids that make retries idempotent are the same),
//! the store's notes and its outbox mark. Read models and the processes'
//! memories are not copied: opening the copy folds them again from the
//! log, and the processes re-issue their commands under the same ids,
//! which the copied log answers as duplicates.

use std::path::Path;

use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::segment::Segment;
use crate::store::{claim_directory, open_sled};
use crate::{keys, Store, Trees};

/// What a backup copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Backup {
    /// The last log position in the copy: the head when it began.
    pub through: u64,
    /// Log segments copied.
    pub segments: u64,
    /// Bytes of log copied.
    pub bytes: u64,
}

/// The outbox tree's key of the published mark.
const PUBLISHED: &[u8] = b"published";

impl Store {
    /// Copies the store into `dir`, which must be new or empty, while
    /// appends go on: every event up to the head when the copy began. The
    /// copy is a store: open it as any other (`--data-dir DIR`).
    pub fn backup(&self, dir: &Path) -> Result<Backup> {
        let used = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
        if used {
            return Err(StoreError::Failed(format!(
                "{} is not empty: a backup goes into a new or empty directory",
                dir.display()
            )));
        }
        // A segment is written whole before the head moves past it, so the
        // segments that begin at or before the head end at or before it.
        // The copy is the same store: it carries the id (made now if it had none).
        self.id()?;
        let through = self.head_position();
        let published = self.published()?.min(through);
        claim_directory(dir)?;
        let trees = Trees::open(open_sled(dir, 16 * 1024 * 1024)?)?;
        let mut copied = Backup {
            through,
            segments: 0,
            bytes: 0,
        };
        for entry in self.trees().events.range(..=keys::position(through)) {
            let (key, value) = entry?;
            copied.segments += 1;
            copied.bytes += value.len() as u64;
            trees.events.insert(key, value)?;
        }
        for entry in &self.trees().meta {
            let (key, value) = entry?;
            trees.meta.insert(key, value)?;
        }
        trees.outbox.insert(PUBLISHED, &keys::position(published))?;
        trees.db.flush()?;
        // The copy ends where the log did when it began, gapless from 1.
        let end = match trees.events.last()? {
            Some((key, value)) => Segment::new(&key, value)?.end() - 1,
            None => 0,
        };
        if end != through {
            return Err(StoreError::Failed(format!(
                "the copy in {} ends at position {end}, not {through}",
                dir.display()
            )));
        }
        Ok(copied)
    }
}
