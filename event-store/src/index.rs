//! The stream index and the command (idempotency) index, maintained off the
//! acknowledgement path.
//!
//! Each log segment ends with a record of its appends (stream, versions,
//! positions, byte range, command id and body hash): all the index needs.
//! So a group commit acknowledges after writing only its segments, and the
//! indexer thread folds each record into the `streams` and `commands` trees
//! afterwards, then moves the `indexed` mark past the segment. Until then the
//! record's entries are served from an in-memory overlay; after a crash,
//! `recover` re-applies the segments past the mark (re-applying is harmless:
//! the entries are the same).

use std::collections::{BTreeMap, HashMap};
use std::sync::{mpsc, Arc, PoisonError, RwLock};

use crate::error::{Result, StoreError};
use crate::keys::{self, IndexEntry};
use crate::model::{AppendOutcome, StreamId};
use crate::segment::Segment;
use serde::{Deserialize, Serialize};

const INDEXED: &[u8] = b"indexed";

/// One append, as the index records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AppendIndex {
    pub stream: StreamId,
    pub entry: IndexEntry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<(String, String)>,
}

/// The appends whose events are in one segment; the segment's last line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SegmentIndex {
    pub appends: Vec<AppendIndex>,
}

/// What the commands tree holds per command id: the body hash (32 hex
/// digits) and the outcome, as 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandRecord {
    pub fingerprint: String,
    pub outcome: AppendOutcome,
}

impl CommandRecord {
    fn encode(&self) -> Vec<u8> {
        let o = &self.outcome;
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(self.fingerprint.as_bytes());
        for n in [
            o.first_version,
            o.last_version,
            o.first_position,
            o.last_position,
        ] {
            v.extend_from_slice(&n.to_be_bytes());
        }
        v
    }

    fn decode(v: &[u8]) -> Option<Self> {
        let (fp, rest) = v.split_at_checked(v.len().checked_sub(32)?)?;
        let n = |i: usize| keys::read_u64(rest.get(i * 8..)?);
        Some(Self {
            fingerprint: String::from_utf8(fp.to_vec()).ok()?,
            outcome: AppendOutcome {
                first_version: n(0)?,
                last_version: n(1)?,
                first_position: n(2)?,
                last_position: n(3)?,
                duplicate: false,
            },
        })
    }
}

impl AppendIndex {
    fn command_record(&self) -> Option<(&str, CommandRecord)> {
        let (id, fingerprint) = self.command.as_ref()?;
        Some((
            id,
            CommandRecord {
                fingerprint: fingerprint.clone(),
                outcome: self.entry.outcome(),
            },
        ))
    }
}

#[derive(Debug, Default)]
struct Overlay {
    streams: HashMap<StreamId, BTreeMap<u64, IndexEntry>>,
    commands: HashMap<String, CommandRecord>,
}

/// The stream and command indexes: sled trees plus the not-yet-indexed overlay.
#[derive(Debug)]
pub(crate) struct Index {
    streams: sled::Tree,
    commands: sled::Tree,
    /// Holds the `indexed` mark: the key of the last segment folded in.
    state: sled::Tree,
    overlay: RwLock<Overlay>,
}

impl Index {
    pub fn new(db: &sled::Db) -> Result<Self> {
        Ok(Self {
            streams: db.open_tree("streams")?,
            commands: db.open_tree("commands")?,
            state: db.open_tree("index-state")?,
            overlay: RwLock::default(),
        })
    }

    /// Makes a committed batch visible to readers before it is indexed.
    pub fn stage(&self, segments: &[(u64, SegmentIndex)]) {
        let mut overlay = self.overlay.write().unwrap_or_else(PoisonError::into_inner);
        for (_, segment) in segments {
            for append in &segment.appends {
                overlay
                    .streams
                    .entry(append.stream.clone())
                    .or_default()
                    .insert(append.entry.first_version, append.entry);
                if let Some((id, record)) = append.command_record() {
                    overlay.commands.insert(id.to_owned(), record);
                }
            }
        }
    }

    /// Folds committed segments' records into the trees, then drops them from the overlay.
    ///
    /// No transaction: sled recovers its log as an ordered prefix, so the
    /// mark is never durable without the entries written before it.
    pub fn apply(&self, segments: &[(u64, SegmentIndex)]) -> Result<()> {
        let Some((last_key, _)) = segments.last() else {
            return Ok(());
        };
        for (_, segment) in segments {
            for append in &segment.appends {
                self.streams.insert(
                    keys::stream_entry(&append.stream, append.entry.first_version),
                    &keys::index_value(&append.entry)[..],
                )?;
                if let Some((id, record)) = append.command_record() {
                    self.commands.insert(id.as_bytes(), record.encode())?;
                }
            }
        }
        self.state.insert(INDEXED, &keys::position(*last_key)[..])?;
        let mut overlay = self.overlay.write().unwrap_or_else(PoisonError::into_inner);
        for (_, segment) in segments {
            for append in &segment.appends {
                if let Some(entries) = overlay.streams.get_mut(&append.stream) {
                    entries.remove(&append.entry.first_version);
                    if entries.is_empty() {
                        overlay.streams.remove(&append.stream);
                    }
                }
                if let Some((id, _)) = &append.command {
                    overlay.commands.remove(id);
                }
            }
        }
        Ok(())
    }

    /// Re-applies the records of every segment past the `indexed` mark.
    pub fn recover(&self, events: &sled::Tree) -> Result<usize> {
        let from = match self.state.get(INDEXED)? {
            Some(v) => keys::read_u64(&v).map_or(0, |k| k + 1),
            None => 0,
        };
        let mut n = 0;
        for item in events.range(keys::position(from)..) {
            let (k, v) = item?;
            let segment = Segment::new(&k, v)?;
            self.apply(&[(segment.first, segment.index()?)])?;
            n += 1;
        }
        Ok(n)
    }

    /// The stream's current version (0 when it does not exist).
    pub fn stream_version(&self, stream: &StreamId) -> Result<u64> {
        let overlay = self.overlay.read().unwrap_or_else(PoisonError::into_inner);
        let staged = overlay
            .streams
            .get(stream)
            .and_then(|e| e.values().next_back())
            .map(IndexEntry::last_version);
        let indexed = match self
            .streams
            .range(keys::stream_prefix(stream)..keys::stream_end(stream))
            .next_back()
        {
            None => 0,
            Some(item) => {
                let (k, v) = item?;
                keys::decode_index(&k, &v)
                    .map(|e| e.last_version())
                    .ok_or_else(|| {
                        StoreError::Failed(format!("malformed stream index entry for {stream}"))
                    })?
            }
        };
        Ok(staged.unwrap_or(0).max(indexed))
    }

    /// The stream's index entries that hold versions from `from_version` on, in order.
    pub fn entries(&self, stream: &StreamId, from_version: u64) -> Result<Vec<IndexEntry>> {
        // The read lock keeps the indexer from dropping overlay entries while
        // we read; an entry caught in both places is taken once.
        let overlay = self.overlay.read().unwrap_or_else(PoisonError::into_inner);
        let from_key = keys::stream_entry(stream, from_version.max(1));
        // The entry holding `from_version` starts at or before it.
        let start = match self
            .streams
            .range(keys::stream_prefix(stream)..=from_key.clone())
            .next_back()
        {
            Some(found) => found?.0.to_vec(),
            None => from_key,
        };
        let mut entries = BTreeMap::new();
        for item in self.streams.range(start..keys::stream_end(stream)) {
            let (k, v) = item?;
            let entry = keys::decode_index(&k, &v).ok_or_else(|| {
                StoreError::Failed(format!("malformed stream index entry for {stream}"))
            })?;
            entries.insert(entry.first_version, entry);
        }
        if let Some(staged) = overlay.streams.get(stream) {
            entries.extend(staged.iter().map(|(v, e)| (*v, *e)));
        }
        Ok(entries
            .into_values()
            .filter(|e| e.last_version() >= from_version)
            .collect())
    }

    /// What a command id was used for, if it was.
    pub fn command(&self, id: &str) -> Result<Option<CommandRecord>> {
        if let Some(record) = self
            .overlay
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .commands
            .get(id)
        {
            return Ok(Some(record.clone()));
        }
        match self.commands.get(id.as_bytes())? {
            None => Ok(None),
            Some(raw) => CommandRecord::decode(&raw)
                .map(Some)
                .ok_or_else(|| StoreError::Failed(format!("malformed command record for {id}"))),
        }
    }
}

/// Runs until the writer hangs up, folding committed records into the
/// index; whatever has queued up meanwhile is written together.
pub(crate) fn run_indexer(index: Arc<Index>, records: mpsc::Receiver<Vec<(u64, SegmentIndex)>>) {
    while let Ok(mut batch) = records.recv() {
        while let Ok(more) = records.try_recv() {
            batch.extend(more);
        }
        if let Err(e) = index.apply(&batch) {
            // The records stay durable in their segments and in the overlay:
            // reads stay right, and the next open re-applies them.
            tracing::error!(error = %e, "indexing failed; will retry at next open");
        }
    }
}
