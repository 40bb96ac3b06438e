//! The stream index and the command (idempotency) index, kept off the
//! acknowledgement path, log-structured.
//!
//! Each log segment ends with a record of its appends (stream, versions,
//! positions, byte range, command id and body hash): all the index needs.
//! So a group commit acknowledges after writing only its segments and
//! stages their records in memory (the *active* table). When it holds
//! `spill_appends` appends, the indexer thread freezes it and writes it as
//! one sorted run (see `run`), then records the run and the last segment it
//! covers in the manifest. Runs of similar size are merged, so a store
//! holds about log2(appends / `spill_appends`) runs. After a crash, `recover`
//! stages again the segments past the manifest's mark.
//!
//! A lookup reads the active table, the frozen one, then the runs newest
//! first, skipping runs whose Bloom filter rules the key out.
//!
//! Command records are kept for the idempotency window (days and events,
//! whichever ends first). When a run is written, merged, or has half its
//! records past the window, the records past it become *forgotten*
//! records (the id, its last position and time: enough to refuse a late
//! retry clearly), kept for [`IdempotencyWindow::FORGOTTEN_WINDOWS`]
//! windows, then dropped. So what the index holds of commands is bounded by
//! the window, not by the log.

mod bloom;
mod run;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError, RwLock};

use clock::SharedClock;

use crate::error::{Result, StoreError};
use crate::keys::{self, IndexEntry};
use crate::model::{AppendOutcome, StreamId};
use crate::segment::Segment;
use crate::store::IdempotencyWindow;
pub(crate) use run::Stamp;
use run::{Horizon, Manifest, Record, Run, COMMANDS, FORGOTTEN, STREAMS};
use serde::{Deserialize, Serialize};

/// Trees of the index of earlier store versions (one sled key per append);
/// dropped at open, the runs are rebuilt from the log.
const LEGACY_TREES: [&str; 3] = ["streams", "commands", "index-state"];

/// One append, as the index records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AppendIndex {
    pub stream: StreamId,
    pub entry: IndexEntry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<(String, String)>,
    /// When it was recorded, in milliseconds since the epoch (absent in
    /// segments written before the idempotency window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_ms: Option<i64>,
}

/// The appends whose events are in one segment; the segment's last line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SegmentIndex {
    pub appends: Vec<AppendIndex>,
}

/// What the commands section holds per command id: the body hash (32 hex
/// digits), the outcome and the time it was recorded, as 72 bytes (64,
/// without the time, in runs written before the idempotency window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandRecord {
    pub fingerprint: String,
    pub outcome: AppendOutcome,
    pub recorded_ms: Option<i64>,
}

impl CommandRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let o = &self.outcome;
        let mut v = Vec::with_capacity(72);
        v.extend_from_slice(self.fingerprint.as_bytes());
        for n in [
            o.first_version,
            o.last_version,
            o.first_position,
            o.last_position,
        ] {
            v.extend_from_slice(&n.to_be_bytes());
        }
        if let Some(ms) = self.recorded_ms {
            v.extend_from_slice(&ms.to_be_bytes());
        }
        v
    }

    pub(crate) fn decode(v: &[u8]) -> Option<Self> {
        let (fp, rest) = v.split_at_checked(FINGERPRINT_HEX)?;
        let n = |i: usize| keys::read_u64(rest.get(i * 8..i * 8 + 8)?);
        let recorded_ms = match rest.len() {
            32 => None,
            40 => Some(i64::from_be_bytes(rest.get(32..40)?.try_into().ok()?)),
            _ => return None,
        };
        Some(Self {
            fingerprint: String::from_utf8(fp.to_vec()).ok()?,
            outcome: AppendOutcome {
                first_version: n(0)?,
                last_version: n(1)?,
                first_position: n(2)?,
                last_position: n(3)?,
                duplicate: false,
            },
            recorded_ms,
        })
    }

    /// Where and when it was recorded.
    pub(crate) fn stamp(&self) -> Stamp {
        Stamp {
            position: self.outcome.last_position,
            recorded_ms: self.recorded_ms,
        }
    }
}

/// The body hash's length in hex digits.
const FINGERPRINT_HEX: usize = 32;

impl AppendIndex {
    fn command_record(&self) -> Option<(&str, CommandRecord)> {
        let (id, fingerprint) = self.command.as_ref()?;
        Some((
            id,
            CommandRecord {
                fingerprint: fingerprint.clone(),
                outcome: self.entry.outcome(),
                recorded_ms: self.recorded_ms,
            },
        ))
    }
}

/// Index records held in memory: the active table, or a frozen one being written.
#[derive(Debug, Default)]
struct Table {
    streams: HashMap<StreamId, BTreeMap<u64, IndexEntry>>,
    commands: HashMap<String, CommandRecord>,
    appends: usize,
    /// Key of the last log segment staged into it.
    through_segment: Option<u64>,
}

impl Table {
    fn stream_last(&self, stream: &StreamId) -> Option<IndexEntry> {
        self.streams
            .get(stream)
            .and_then(|e| e.values().next_back())
            .copied()
    }

    fn stream_entries(&self, stream: &StreamId, from: u64, out: &mut BTreeMap<u64, IndexEntry>) {
        if let Some(entries) = self.streams.get(stream) {
            out.extend(
                entries
                    .iter()
                    .filter(|(_, e)| e.last_version() >= from)
                    .map(|(v, e)| (*v, *e)),
            );
        }
    }

    /// The table's records, sorted as a run stores them.
    fn sorted(&self) -> (Vec<Record>, Vec<Record>) {
        let mut streams: Vec<Record> = self
            .streams
            .iter()
            .flat_map(|(stream, entries)| {
                entries.iter().map(|(v, e)| {
                    (
                        keys::stream_entry(stream, *v),
                        keys::index_value(e).to_vec(),
                    )
                })
            })
            .collect();
        streams.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut commands: Vec<Record> = self
            .commands
            .iter()
            .map(|(id, record)| (id.as_bytes().to_vec(), record.encode()))
            .collect();
        commands.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        (streams, commands)
    }
}

/// What readers see; replaced as a whole when a run is written or merged.
#[derive(Debug, Default)]
struct Tables {
    active: Table,
    frozen: Option<Arc<Table>>,
    /// Oldest first.
    runs: Arc<Vec<Arc<Run>>>,
}

/// What only the spilling thread touches.
#[derive(Debug)]
struct Durable {
    manifest: Manifest,
    next_run: u64,
    /// Merged-away runs, deleted once no reader holds them.
    retired: Vec<Arc<Run>>,
}

/// The stream and command indexes.
pub(crate) struct Index {
    tree: sled::Tree,
    spill_appends: usize,
    tables: RwLock<Tables>,
    durable: Mutex<Durable>,
    window: IdempotencyWindow,
    clock: SharedClock,
    /// The last position staged.
    head: AtomicU64,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("spill_appends", &self.spill_appends)
            .field("window", &self.window)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

/// What the index holds of command ids: exactly, and as forgotten.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandCounts {
    /// Command ids remembered with their body hash and outcome, in runs.
    pub remembered: u64,
    /// Command ids past the window, remembered only as used.
    pub forgotten: u64,
    /// Command ids in memory, not yet in a run.
    pub staged: u64,
}

/// The command records still inside the exact window.
fn inside<'a>(
    commands: impl Iterator<Item = Result<Record>> + 'a,
    exact: Horizon,
) -> impl Iterator<Item = Result<Record>> + 'a {
    commands.filter_map(
        move |r| match r.and_then(|(k, v)| Ok((stamp_of_command(&v)?, k, v))) {
            Err(e) => Some(Err(e)),
            Ok((stamp, _, _)) if exact.passed(stamp) => None,
            Ok((_, k, v)) => Some(Ok((k, v))),
        },
    )
}

/// The forgotten records after a rewrite: the commands that passed the
/// exact window, and those forgotten before, until they pass `forget`.
fn forgotten_after<'a>(
    commands: impl Iterator<Item = Result<Record>> + 'a,
    forgotten: impl Iterator<Item = Result<Record>> + 'a,
    exact: Horizon,
    forget: Horizon,
) -> impl Iterator<Item = Result<Record>> + 'a {
    let newly =
        commands.filter_map(
            move |r| match r.and_then(|(k, v)| Ok((stamp_of_command(&v)?, k))) {
                Err(e) => Some(Err(e)),
                Ok((stamp, k)) => {
                    (exact.passed(stamp) && !forget.passed(stamp)).then(|| Ok((k, stamp.encode())))
                }
            },
        );
    let kept = forgotten.filter_map(move |r| {
        match r.and_then(|(k, v)| {
            let stamp = Stamp::decode(&v).ok_or_else(|| corrupt("a forgotten command record"))?;
            Ok((stamp, k, v))
        }) {
            Err(e) => Some(Err(e)),
            Ok((stamp, _, _)) if forget.passed(stamp) => None,
            Ok((_, k, v)) => Some(Ok((k, v))),
        }
    });
    // An id is never both remembered and forgotten: the order is by key alone.
    run::merge(newly, kept)
}

fn stamp_of_command(v: &[u8]) -> Result<Stamp> {
    CommandRecord::decode(v)
        .map(|c| c.stamp())
        .ok_or_else(|| corrupt("a command record"))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Failed(format!("{what} in the index is malformed"))
}

impl Index {
    pub fn open(
        db: &sled::Db,
        spill_appends: usize,
        window: IdempotencyWindow,
        clock: SharedClock,
    ) -> Result<Self> {
        for name in LEGACY_TREES {
            if db
                .tree_names()
                .iter()
                .any(|n| n.as_ref() == name.as_bytes())
            {
                db.drop_tree(name)?;
            }
        }
        let tree = db.open_tree("index")?;
        let manifest = Manifest::load(&tree)?;
        let mut runs = Vec::with_capacity(manifest.runs.len());
        for id in &manifest.runs {
            runs.push(Arc::new(Run::load(&tree, *id)?));
        }
        // Runs written but never recorded in the manifest (a crash mid-spill).
        let mut next_run = 1;
        for id in Run::stored_ids(&tree)? {
            next_run = next_run.max(id + 1);
            if !manifest.runs.contains(&id) {
                Run::remove(&tree, id)?;
            }
        }
        Ok(Self {
            tree,
            spill_appends: spill_appends.max(1),
            tables: RwLock::new(Tables {
                runs: Arc::new(runs),
                ..Tables::default()
            }),
            durable: Mutex::new(Durable {
                manifest,
                next_run,
                retired: Vec::new(),
            }),
            window,
            clock,
            head: AtomicU64::new(0),
        })
    }

    /// The lines past which command ids are forgotten, and past which
    /// forgotten ids are dropped: the window's length in events back from
    /// the head and in days back from now, whichever is nearer.
    fn horizons(&self) -> (Horizon, Horizon) {
        let head = self.head.load(Ordering::Relaxed);
        let now = self.clock.now().timestamp_millis();
        let line = |windows: u64| Horizon {
            position: head.saturating_sub(self.window.events.saturating_mul(windows)),
            recorded_ms: now.saturating_sub(
                i64::from(self.window.days)
                    .saturating_mul(86_400_000)
                    .saturating_mul(i64::try_from(windows).unwrap_or(i64::MAX)),
            ),
        };
        (
            line(1),
            line(u64::from(IdempotencyWindow::FORGOTTEN_WINDOWS)),
        )
    }

    /// Makes a committed batch visible to readers. True when the active
    /// table is due to be written as a run.
    pub fn stage(&self, segments: &[(u64, SegmentIndex)]) -> bool {
        let mut tables = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        let active = &mut tables.active;
        for (key, segment) in segments {
            for append in &segment.appends {
                active
                    .streams
                    .entry(append.stream.clone())
                    .or_default()
                    .insert(append.entry.first_version, append.entry);
                if let Some((id, record)) = append.command_record() {
                    active.commands.insert(id.to_owned(), record);
                }
                active.appends += 1;
                self.head
                    .fetch_max(append.entry.outcome().last_position, Ordering::Relaxed);
            }
            active.through_segment = Some(*key);
        }
        tables.frozen.is_none() && tables.active.appends >= self.spill_appends
    }

    /// Writes the active table (or a frozen one a failed spill left) as a
    /// run, records it in the manifest, then merges runs of similar size.
    ///
    /// No transaction: sled recovers its log as an ordered prefix, so the
    /// manifest is never durable without the blocks written before it.
    pub fn spill(&self) -> Result<()> {
        let mut durable = self.durable.lock().unwrap_or_else(PoisonError::into_inner);
        let frozen = {
            let mut tables = self.tables.write().unwrap_or_else(PoisonError::into_inner);
            match &tables.frozen {
                Some(frozen) => frozen.clone(),
                // A signal sent while the last spill ran finds too little to write.
                None if tables.active.appends < self.spill_appends => return Ok(()),
                None => {
                    let frozen = Arc::new(std::mem::take(&mut tables.active));
                    tables.frozen = Some(frozen.clone());
                    frozen
                }
            }
        };
        let (streams, commands) = frozen.sorted();
        let (exact, forget) = self.horizons();
        let id = durable.next_run;
        durable.next_run += 1;
        let run = Arc::new(Run::write(
            &self.tree,
            id,
            streams.into_iter().map(Ok),
            inside(commands.iter().cloned().map(Ok), exact),
            forgotten_after(
                commands.iter().cloned().map(Ok),
                std::iter::empty(),
                exact,
                forget,
            ),
        )?);
        durable.manifest.runs.push(id);
        durable.manifest.through_segment = frozen.through_segment;
        durable.manifest.save(&self.tree)?;
        {
            let mut tables = self.tables.write().unwrap_or_else(PoisonError::into_inner);
            let mut runs = tables.runs.as_ref().clone();
            runs.push(run);
            tables.runs = Arc::new(runs);
            tables.frozen = None;
        }
        self.merge_similar(&mut durable)?;
        self.trim(&mut durable)?;
        durable.retired.retain(|run| {
            if Arc::strong_count(run) > 1 {
                return true;
            }
            match Run::remove(&self.tree, run.id) {
                Ok(()) => false,
                Err(e) => {
                    tracing::warn!(run = run.id, error = %e, "removing a merged index run failed");
                    true
                }
            }
        });
        Ok(())
    }

    /// Merges the two newest runs while the older is no larger than the
    /// newer (a binary counter: each record is rewritten about log2 times).
    fn merge_similar(&self, durable: &mut Durable) -> Result<()> {
        loop {
            let runs = self
                .tables
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .runs
                .clone();
            let [.., older, newer] = runs.as_slice() else {
                return Ok(());
            };
            if older.records > newer.records {
                return Ok(());
            }
            let id = durable.next_run;
            durable.next_run += 1;
            let (exact, forget) = self.horizons();
            let both = |section| {
                run::merge(
                    newer.records(&self.tree, section),
                    older.records(&self.tree, section),
                )
            };
            let merged = Arc::new(Run::write(
                &self.tree,
                id,
                both(STREAMS),
                inside(both(COMMANDS), exact),
                forgotten_after(both(COMMANDS), both(FORGOTTEN), exact, forget),
            )?);
            let kept = runs.len() - 2;
            durable.manifest.runs.truncate(kept);
            durable.manifest.runs.push(id);
            durable.manifest.save(&self.tree)?;
            let mut next: Vec<Arc<Run>> = runs[..kept].to_vec();
            next.push(merged);
            self.tables
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .runs = Arc::new(next);
            durable.retired.push(older.clone());
            durable.retired.push(newer.clone());
        }
    }

    /// Rewrites each run with half or more of its command records past the
    /// window (or of its forgotten records past theirs) without them.
    fn trim(&self, durable: &mut Durable) -> Result<()> {
        let (exact, forget) = self.horizons();
        let runs = self
            .tables
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .runs
            .clone();
        for (at, old) in runs.iter().enumerate() {
            let due = old.commands.is_some_and(|s| s.mostly_passed(&exact))
                || old.forgotten.mostly_passed(&forget);
            if !due {
                continue;
            }
            let id = durable.next_run;
            durable.next_run += 1;
            let commands = || old.records(&self.tree, COMMANDS);
            let trimmed = Arc::new(Run::write(
                &self.tree,
                id,
                old.records(&self.tree, STREAMS),
                inside(commands(), exact),
                forgotten_after(
                    commands(),
                    old.records(&self.tree, FORGOTTEN),
                    exact,
                    forget,
                ),
            )?);
            tracing::debug!(
                run = old.id,
                into = id,
                commands = trimmed.commands.map_or(0, |s| s.count),
                forgotten = trimmed.forgotten.count,
                "index run rewritten without what passed the idempotency window"
            );
            durable.manifest.runs[at] = id;
            durable.manifest.save(&self.tree)?;
            let mut tables = self.tables.write().unwrap_or_else(PoisonError::into_inner);
            let mut next = tables.runs.as_ref().clone();
            next[at] = trimmed;
            tables.runs = Arc::new(next);
            durable.retired.push(old.clone());
        }
        Ok(())
    }

    /// Stages again every segment past the manifest's mark, spilling as it goes.
    pub fn recover(&self, events: &sled::Tree) -> Result<usize> {
        let through = self
            .durable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .manifest
            .through_segment;
        let from = through.map_or(0, |k| k + 1);
        let mut n = 0;
        for item in events.range(keys::position(from)..) {
            let (k, v) = item?;
            let segment = Segment::new(&k, v)?;
            if self.stage(&[(segment.first, segment.index()?)]) {
                self.spill()?;
            }
            n += 1;
        }
        Ok(n)
    }

    /// The tables a lookup reads after the active one.
    fn settled(tables: &Tables) -> (Option<Arc<Table>>, Arc<Vec<Arc<Run>>>) {
        (tables.frozen.clone(), tables.runs.clone())
    }

    /// The stream's current version (0 when it does not exist).
    pub fn stream_version(&self, stream: &StreamId) -> Result<u64> {
        let (frozen, runs) = {
            let tables = self.tables.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(e) = tables.active.stream_last(stream) {
                return Ok(e.last_version());
            }
            Self::settled(&tables)
        };
        if let Some(e) = frozen.and_then(|t| t.stream_last(stream)) {
            return Ok(e.last_version());
        }
        for run in runs.iter().rev() {
            if let Some(e) = run.stream_last(&self.tree, stream)? {
                return Ok(e.last_version());
            }
        }
        Ok(0)
    }

    /// The stream's index entries that hold versions from `from_version` on, in order.
    pub fn entries(&self, stream: &StreamId, from_version: u64) -> Result<Vec<IndexEntry>> {
        let mut entries = BTreeMap::new();
        let (frozen, runs) = {
            let tables = self.tables.read().unwrap_or_else(PoisonError::into_inner);
            tables
                .active
                .stream_entries(stream, from_version, &mut entries);
            Self::settled(&tables)
        };
        if let Some(frozen) = frozen {
            frozen.stream_entries(stream, from_version, &mut entries);
        }
        for run in runs.iter() {
            run.stream_entries(&self.tree, stream, from_version, &mut entries)?;
        }
        Ok(entries.into_values().collect())
    }

    /// What a command id was used for, if it was.
    pub fn command(&self, id: &str) -> Result<Option<CommandRecord>> {
        let (frozen, runs) = {
            let tables = self.tables.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(record) = tables.active.commands.get(id) {
                return Ok(Some(record.clone()));
            }
            Self::settled(&tables)
        };
        if let Some(record) = frozen.and_then(|t| t.commands.get(id).cloned()) {
            return Ok(Some(record));
        }
        for run in runs.iter().rev() {
            if let Some(record) = run.command(&self.tree, id)? {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Where and when a command id past the window was recorded, if it is
    /// still remembered as used.
    pub fn forgotten(&self, id: &str) -> Result<Option<Stamp>> {
        let runs = self
            .tables
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .runs
            .clone();
        for run in runs.iter().rev() {
            if let Some(stamp) = run.forgotten(&self.tree, id)? {
                return Ok(Some(stamp));
            }
        }
        Ok(None)
    }

    /// What the index holds of command ids.
    pub fn command_counts(&self) -> CommandCounts {
        let tables = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        let mut counts = CommandCounts {
            staged: (tables.active.commands.len()
                + tables.frozen.as_ref().map_or(0, |t| t.commands.len()))
                as u64,
            ..CommandCounts::default()
        };
        for run in tables.runs.iter() {
            counts.remembered += run.commands.map_or(0, |s| s.count);
            counts.forgotten += run.forgotten.count;
        }
        counts
    }

    /// Runs in the index (for tests and operating notes).
    pub fn run_count(&self) -> usize {
        self.tables
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .runs
            .len()
    }
}

/// Runs until the writer hangs up, writing a run each time it is told one is due.
pub(crate) fn run_indexer(index: Arc<Index>, due: mpsc::Receiver<()>) {
    while due.recv().is_ok() {
        if let Err(e) = index.spill() {
            // The records stay durable in their segments and readable in memory.
            tracing::error!(error = %e, "writing an index run failed; will retry");
        }
    }
}
