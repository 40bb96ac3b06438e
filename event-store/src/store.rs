use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clock::{SharedClock, SystemClock};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, watch};

use crate::checkpointed::Checkpointed;
use crate::error::{Result, StoreError};
use crate::index::CommandCounts;
use crate::index::Index;
use crate::keys;
use crate::model::{validate_command_id, AppendOutcome, AppendRequest, RecordedEvent, StreamId};
use crate::segment::{decode_event, Segment};
use crate::subscription::Subscription;
use crate::upcast::Upcasters;
use crate::writer::{Job, Writer};
use crate::Trees;

/// The file that marks a directory as a fulfil store, and its format.
pub const MARKER_FILE: &str = "FULFIL-STORE";
const FORMAT: &str = "fulfil-event-store/1";
const PUBLISHED: &[u8] = b"published";

/// How a [`Store`] is opened.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// sled's page cache, in bytes (sled's own default is 1 GiB).
    pub cache_capacity_bytes: u64,
    /// The largest encoded event accepted.
    pub max_event_bytes: usize,
    /// The most events one group commit takes.
    pub max_batch_events: usize,
    /// Appends that may wait for the writer before appenders are held back.
    pub queue_depth: usize,
    /// Appends the in-memory index holds before it is written as a sorted
    /// run; also bounds what an open re-reads after a crash.
    pub index_spill_appends: usize,
    /// How long command ids are remembered.
    pub idempotency: IdempotencyWindow,
    /// The time source for `recorded_at` and default business time.
    pub clock: SharedClock,
    /// Payload migrations applied on read.
    pub upcasters: Upcasters,
}

/// How long a command id is remembered: a retry inside the window is
/// answered as a duplicate with the original outcome.
///
/// The window ends at whichever limit comes first, `days` back from now or
/// `events` back from the head, and is kept at least that long: records
/// are dropped when runs are rewritten, so some outlive it. Past it, the
/// id is still known as used for [`Self::FORGOTTEN_WINDOWS`] windows, and a
/// retry is refused as [`StoreError::ForgottenCommand`] (never applied
/// again); after that it is unknown, and a command under it is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyWindow {
    /// Days a command id is remembered.
    pub days: u32,
    /// Log events a command id is remembered across.
    pub events: u64,
}

impl IdempotencyWindow {
    /// How many windows a forgotten id is still refused for.
    pub const FORGOTTEN_WINDOWS: u32 = 4;
}

impl Default for IdempotencyWindow {
    fn default() -> Self {
        Self {
            days: 30,
            events: 20_000_000,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_capacity_bytes: 64 * 1024 * 1024,
            max_event_bytes: 256 * 1024,
            max_batch_events: 4096,
            queue_depth: 8192,
            index_spill_appends: 65_536,
            idempotency: IdempotencyWindow::default(),
            clock: Arc::new(SystemClock),
            upcasters: Upcasters::new(),
        }
    }
}

/// The durable event log: the system's source of truth.
///
/// **An acknowledged append** (an `Ok` from [`Store::append`]) has been
/// written with everything needed to index it, deduplicate its command and
/// publish it, and flushed to disk before the answer was sent: it survives
/// `kill -9` and power loss (as far as the disk honours fsync). Its events
/// have gapless stream versions and gapless global positions, every reader
/// sees them in that order, and each is in the outbox until marked published.
///
/// **Not guaranteed**: an append that returned an error other than a
/// rejection (`Failed`, `Storage`) may or may not be on disk, whole; retry it
/// with the same command id to find out. The published mark and read-model
/// checkpoints are not flushed on each write: after a crash some events may be
/// published again, so consumers deduplicate by position.
///
/// Concurrent appenders are group-committed by one writer thread: all appends
/// waiting when the writer is free are written together and share one flush.
///
/// ```
/// use event_store::{AppendRequest, ExpectedVersion, NewEvent, Store, StoreConfig, StreamId};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreConfig::default())?;
/// let sku = StreamId::new("inventory-SKU1@WH1")?;
/// let received = NewEvent::new("StockReceived", serde_json::json!({"qty": 10}));
/// let outcome = store.append_blocking(
///     AppendRequest::new(sku.clone(), ExpectedVersion::NoStream, vec![received]).command_id("cmd-1"),
/// )?;
/// assert_eq!((outcome.first_version, outcome.first_position), (1, 1));
/// assert_eq!(store.read_stream(&sku, 1)?.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    trees: Trees,
    index: Arc<Index>,
    jobs: Option<flume::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    head: watch::Receiver<u64>,
    max_event_bytes: usize,
    upcasters: Upcasters,
    clock: SharedClock,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel stops the writer after it answers what it holds.
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("event-store writer panicked");
            }
        }
        let mut open = OPEN_HERE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.path) {
            *n = n.saturating_sub(1);
        }
    }
}

/// The data directories this process has opened, with how many of its
/// stores hold each now. sled's background I/O threads can keep the file
/// lock a moment after the last handle is dropped: a directory this
/// process closed may be reopened once they let go, while one another
/// process (or a live store here) holds is refused at once.
static OPEN_HERE: LazyLock<Mutex<HashMap<PathBuf, usize>>> = LazyLock::new(Mutex::default);

/// How long a reopen waits for this process's own closed store to let go.
const REOPEN_WAIT: Duration = Duration::from_secs(10);

impl Store {
    /// Opens the store in `dir`, creating it when `dir` is missing or empty.
    ///
    /// A directory that holds other files, one locked by a running process,
    /// or one whose data cannot be read gives an error, never a panic.
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        claim_directory(&dir)?;
        let db = open_sled_again(&dir, config.cache_capacity_bytes)?;
        let trees = Trees::open(db)?;
        let index = Arc::new(Index::open(
            &trees.db,
            config.index_spill_appends,
            config.idempotency,
            config.clock.clone(),
        )?);
        let reindexed = index.recover(&trees.events)?;
        let (next_position, last_recorded_at) = recover_tail(&dir, &trees)?;
        let (head_tx, head_rx) = watch::channel(next_position - 1);
        let (jobs_tx, jobs_rx) = flume::bounded(config.queue_depth.max(1));
        let writer = Writer {
            trees: trees.clone(),
            index: index.clone(),
            clock: config.clock.clone(),
            max_batch_events: config.max_batch_events.max(1),
            next_position,
            last_recorded_at,
            head: head_tx,
            heads: std::collections::HashMap::default(),
            ids: crate::writer::EventIds::new(),
        };
        let handle = std::thread::Builder::new()
            .name("event-store-writer".into())
            .spawn(move || writer.run(jobs_rx))
            .map_err(|source| StoreError::Io {
                path: dir.clone(),
                source,
            })?;
        tracing::debug!(path = %dir.display(), next_position, reindexed, "event store open");
        *OPEN_HERE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(dir.clone())
            .or_default() += 1;
        Ok(Self {
            inner: Arc::new(Inner {
                path: dir,
                trees,
                index,
                jobs: Some(jobs_tx),
                writer: Some(handle),
                head: head_rx,
                max_event_bytes: config.max_event_bytes,
                upcasters: config.upcasters,
                clock: config.clock,
            }),
        })
    }

    /// The clock that stamps `recorded_at` and the default business time.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Appends atomically and durably; see the type's docs for the guarantee.
    pub async fn append(&self, request: AppendRequest) -> Result<AppendOutcome> {
        let (job, answer) = self.job(request)?;
        self.sender()?
            .send_async(job)
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// [`Store::append`] for threads outside an async runtime.
    pub fn append_blocking(&self, request: AppendRequest) -> Result<AppendOutcome> {
        let (job, answer) = self.job(request)?;
        self.sender()?.send(job).map_err(|_| StoreError::Closed)?;
        answer.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    fn sender(&self) -> Result<&flume::Sender<Job>> {
        self.inner.jobs.as_ref().ok_or(StoreError::Closed)
    }

    /// Validates outside the writer, so bad input never reaches a batch.
    fn job(
        &self,
        request: AppendRequest,
    ) -> Result<(Job, oneshot::Receiver<Result<AppendOutcome>>)> {
        if request.events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        for event in &request.events {
            if event.event_type.is_empty() || event.event_type.len() > 128 {
                return Err(StoreError::InvalidEventType {
                    event_type: event.event_type.clone(),
                    reason: "it must have 1 to 128 bytes",
                });
            }
            let size = serde_json::to_vec(event).map_err(StoreError::Encode)?.len();
            if size > self.inner.max_event_bytes {
                return Err(StoreError::EventTooLarge {
                    size,
                    limit: self.inner.max_event_bytes,
                });
            }
        }
        let fingerprint = match &request.command_id {
            Some(id) => {
                validate_command_id(id)?;
                Some(fingerprint(&request)?)
            }
            None => None,
        };
        let (reply, answer) = oneshot::channel();
        Ok((
            Job {
                request,
                fingerprint,
                reply,
            },
            answer,
        ))
    }

    /// What an earlier append with `command_id` produced, if there was one.
    /// `body` is the command as received now: if it differs from the one
    /// recorded, the answer is [`StoreError::IdempotencyConflict`].
    /// A command id past the idempotency window is
    /// [`StoreError::ForgottenCommand`].
    pub fn command_outcome(&self, command_id: &str, body: &Value) -> Result<Option<AppendOutcome>> {
        let Some(record) = self.inner.index.command(command_id)? else {
            return match self.inner.index.forgotten(command_id)? {
                Some(stamp) => Err(StoreError::forgotten(command_id, stamp)),
                None => Ok(None),
            };
        };
        let now = hash_hex(&serde_json::to_vec(body).map_err(StoreError::Encode)?);
        if record.fingerprint != now {
            return Err(StoreError::IdempotencyConflict {
                command_id: command_id.to_owned(),
            });
        }
        Ok(Some(AppendOutcome {
            duplicate: true,
            ..record.outcome
        }))
    }

    /// What an earlier append with `command_id` produced, whatever its body:
    /// for a process that re-issues its commands after a restart and must
    /// carry on from what was recorded, not from what it would decide now.
    pub fn recorded_command(&self, command_id: &str) -> Result<Option<AppendOutcome>> {
        Ok(self
            .inner
            .index
            .command(command_id)?
            .map(|r| AppendOutcome {
                duplicate: true,
                ..r.outcome
            }))
    }

    /// Follows the head position: `changed().await` wakes after each commit.
    pub fn head_watch(&self) -> watch::Receiver<u64> {
        self.inner.head.clone()
    }

    /// The position of the last acknowledged event (0 for an empty log).
    pub fn head_position(&self) -> u64 {
        *self.inner.head.borrow()
    }

    /// What the index holds of command ids (an operating figure: bounded by
    /// the idempotency window).
    pub fn command_counts(&self) -> CommandCounts {
        self.inner.index.command_counts()
    }

    /// How many sorted runs the index holds on disk: about log2 of
    /// appends / `index_spill_appends` (an operating figure).
    pub fn index_runs(&self) -> usize {
        self.inner.index.run_count()
    }

    /// The stream's current version (0 when it does not exist).
    pub fn stream_version(&self, stream: &StreamId) -> Result<u64> {
        self.inner.index.stream_version(stream)
    }

    /// The last position recorded at or before `time` (0 when none was):
    /// the log as the system knew it then. `recorded_at` never decreases
    /// along the log, so this is a binary search.
    pub fn position_recorded_by(&self, time: DateTime<Utc>) -> Result<u64> {
        let (mut known, mut unknown) = (0, self.head_position() + 1);
        while unknown - known > 1 {
            let middle = known + (unknown - known) / 2;
            match self.read_all(middle, 1)?.first() {
                Some(e) if e.recorded_at <= time => known = middle,
                _ => unknown = middle,
            }
        }
        Ok(known)
    }

    /// The log from `from_position` through `through` (at most the head
    /// now), in pages of up to `page` events: a long read that holds one
    /// page at a time.
    pub fn pages(&self, from_position: u64, through: u64, page: usize) -> Pages<'_> {
        Pages {
            store: self,
            next: from_position.max(1),
            through: through.min(self.head_position()),
            page: page.max(1),
        }
    }

    /// Up to `limit` events of the whole log from `from_position` on, in log order.
    ///
    /// Only events up to the published head: the writer puts a batch in the
    /// log before it indexes it and tells readers, and a reader must never
    /// meet an event its stream's version and index do not show yet.
    pub fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>> {
        let mut out = Vec::new();
        let head = self.head_position();
        if limit == 0 || from_position > head {
            return Ok(out);
        }
        self.scan(from_position, |e| {
            if e.position > head {
                return false;
            }
            out.push(e);
            out.len() < limit
        })?;
        out.into_iter()
            .map(|e| self.inner.upcasters.apply(e))
            .collect()
    }

    /// The stream's events from `from_version` on, in order.
    pub fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<RecordedEvent>> {
        let mut out = Vec::new();
        let mut segment: Option<(u64, sled::IVec)> = None;
        for entry in self.inner.index.entries(stream, from_version)? {
            // Consecutive entries of a stream often share a segment.
            if segment.as_ref().map(|s| s.0) != Some(entry.segment) {
                let bytes = self
                    .inner
                    .trees
                    .events
                    .get(keys::position(entry.segment))?
                    .ok_or_else(|| self.corrupt("stream index pointing to a missing segment"))?;
                segment = Some((entry.segment, bytes));
            }
            let bytes = segment
                .as_ref()
                .and_then(|(_, b)| b.get(entry.start as usize..entry.end as usize))
                .ok_or_else(|| self.corrupt("stream index pointing past its segment"))?;
            for line in bytes.split(|b| *b == b'\n') {
                let event = decode_event(line, entry.first_position)?;
                if event.version >= from_version {
                    out.push(self.inner.upcasters.apply(event)?);
                }
            }
        }
        Ok(out)
    }

    /// Visits stored events from `from` on, as stored (not upcast), until `visit` says stop.
    fn scan(&self, from: u64, mut visit: impl FnMut(RecordedEvent) -> bool) -> Result<()> {
        let events = &self.inner.trees.events;
        let start = match events.range(..=keys::position(from)).next_back() {
            Some(found) => found?.0.to_vec(),
            None => keys::position(0).to_vec(),
        };
        for item in events.range(start..) {
            let (k, v) = item?;
            let segment = Segment::new(&k, v)?;
            for position in from.max(segment.first)..segment.end() {
                let Some(event) = segment.event(position)? else {
                    return Ok(());
                };
                if !visit(event) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Up to `limit` events that are in the outbox, not yet marked published, in log order.
    ///
    /// The outbox is the suffix of the log above the published mark: an event
    /// is queued by the very write that appends it, so the two cannot disagree.
    pub fn outbox_pending(&self, limit: usize) -> Result<Vec<RecordedEvent>> {
        self.read_all(self.published()? + 1, limit)
    }

    /// How many events wait in the outbox.
    pub fn outbox_len(&self) -> Result<u64> {
        Ok(self.head_position().saturating_sub(self.published()?))
    }

    /// The log's trees, for a copy of them.
    pub(crate) fn trees(&self) -> &Trees {
        &self.inner.trees
    }

    /// The position up to which the relay has published.
    pub fn published(&self) -> Result<u64> {
        Ok(self
            .inner
            .trees
            .outbox
            .get(PUBLISHED)?
            .and_then(|v| keys::read_u64(&v))
            .unwrap_or(0))
    }

    /// Marks every event up to `position` as published (the relay publishes
    /// in log order). The mark never moves back and never passes the head.
    /// Not flushed: after a crash a few events may be published again.
    pub fn mark_published(&self, position: u64) -> Result<()> {
        let target = position.min(self.head_position());
        self.inner.trees.outbox.fetch_and_update(PUBLISHED, |old| {
            let old = old.and_then(keys::read_u64).unwrap_or(0);
            Some(keys::position(old.max(target)).to_vec())
        })?;
        Ok(())
    }

    /// Follows the log from `from_position`: history first, then live events.
    pub fn subscribe(&self, from_position: u64) -> Subscription {
        Subscription::new(self.clone(), from_position, self.inner.head.clone())
    }

    /// The store's identity, made when it was created: it tells one store's
    /// history from another's (a copy of the directory keeps it).
    pub fn id(&self) -> Result<uuid::Uuid> {
        if let Some(id) = self.meta("store-id")? {
            return uuid::Uuid::parse_str(&id)
                .map_err(|e| StoreError::Failed(format!("store-id {id:?}: {e}")));
        }
        let id = uuid::Uuid::now_v7();
        let won = self.inner.trees.meta.compare_and_swap(
            "store-id",
            None as Option<&[u8]>,
            Some(id.to_string().as_bytes()),
        )?;
        self.inner.trees.db.flush()?;
        match won {
            Ok(()) => Ok(id),
            // Another caller made it first.
            Err(_) => self.id(),
        }
    }

    /// A durable note about the store (what it is for), by key.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .inner
            .trees
            .meta
            .get(key.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Records a note about the store, flushed before it returns.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.inner
            .trees
            .meta
            .insert(key.as_bytes(), value.as_bytes())?;
        self.inner.trees.db.flush()?;
        Ok(())
    }

    /// The checkpointed tree `key`, kept in the store's own database
    /// (created empty when there is none).
    pub fn checkpointed(&self, key: &str) -> Result<Checkpointed> {
        Checkpointed::open(&self.inner.trees.db, key)
    }

    /// The keys of every checkpointed tree the store holds.
    pub fn checkpointed_keys(&self) -> Vec<String> {
        Checkpointed::keys(&self.inner.trees.db)
    }

    /// Removes the checkpointed tree `key` with its checkpoint and marks.
    pub fn drop_checkpointed(&self, key: &str) -> Result<()> {
        Checkpointed::drop_all(&self.inner.trees.db, key)
    }

    /// A number never handed out before by this store (from 1).
    pub fn unique_number(&self) -> Result<u64> {
        // sled's ids start at 0; 0 is kept for "the original".
        Ok(self.inner.trees.db.generate_id()? + 1)
    }

    /// Caches an aggregate's state at `version`. `schema_hash` names the
    /// state's shape; a later build with another shape ignores the snapshot.
    pub fn save_snapshot<S: Serialize>(
        &self,
        stream: &StreamId,
        version: u64,
        schema_hash: &str,
        state: &S,
    ) -> Result<()> {
        let record = SnapshotRecord {
            version,
            schema_hash: schema_hash.to_owned(),
            state: serde_json::to_value(state).map_err(StoreError::Encode)?,
        };
        let bytes = serde_json::to_vec(&record).map_err(StoreError::Encode)?;
        self.inner
            .trees
            .snapshots
            .insert(stream.as_str().as_bytes(), bytes)?;
        Ok(())
    }

    /// Rebuilds a stream's state: from a matching snapshot plus the events
    /// after it, or, when there is no snapshot, its schema hash differs or it
    /// does not decode, by replaying the whole stream from `S::default()`.
    pub fn load_state<S, F>(
        &self,
        stream: &StreamId,
        schema_hash: &str,
        mut evolve: F,
    ) -> Result<Loaded<S>>
    where
        S: DeserializeOwned + Default,
        F: FnMut(S, &RecordedEvent) -> Result<S, serde_json::Error>,
    {
        let (mut state, mut version, from_snapshot) = match self.snapshot(stream, schema_hash) {
            Some((state, version)) => (state, version, true),
            None => (S::default(), 0, false),
        };
        for event in self.read_stream(stream, version + 1)? {
            state = evolve(state, &event).map_err(|source| StoreError::Decode {
                what: format!("{} v{} of {}", event.event_type, event.version, stream),
                source,
            })?;
            version = event.version;
        }
        Ok(Loaded {
            state,
            version,
            from_snapshot,
        })
    }

    fn snapshot<S: DeserializeOwned>(
        &self,
        stream: &StreamId,
        schema_hash: &str,
    ) -> Option<(S, u64)> {
        let raw = match self.inner.trees.snapshots.get(stream.as_str().as_bytes()) {
            Ok(Some(raw)) => raw,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(%stream, error = %e, "snapshot unreadable; replaying");
                return None;
            }
        };
        let record: SnapshotRecord = match serde_json::from_slice(&raw) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%stream, error = %e, "snapshot does not decode; replaying");
                return None;
            }
        };
        if record.schema_hash != schema_hash {
            tracing::debug!(%stream, "snapshot from another state schema; replaying");
            return None;
        }
        match serde_json::from_value(record.state) {
            Ok(state) => Some((state, record.version)),
            Err(e) => {
                tracing::warn!(%stream, error = %e, "snapshot state does not decode; replaying");
                None
            }
        }
    }

    fn corrupt(&self, what: &str) -> StoreError {
        StoreError::Corrupt {
            path: self.inner.path.clone(),
            detail: format!("malformed {what}"),
        }
    }
}

/// A state rebuilt by [`Store::load_state`].
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<S> {
    /// The state after the stream's last event.
    pub state: S,
    /// The stream version the state reflects.
    pub version: u64,
    /// Whether a snapshot was used.
    pub from_snapshot: bool,
}

#[derive(Serialize, Deserialize)]
struct SnapshotRecord {
    version: u64,
    schema_hash: String,
    state: Value,
}

/// The request body that a retry must repeat exactly: everything but the command id.
fn fingerprint(request: &AppendRequest) -> Result<String> {
    let body = match &request.command_body {
        Some(command) => serde_json::to_vec(command),
        None => serde_json::to_vec(&(
            request.stream.as_str(),
            request.expected,
            &request.events,
            &request.correlation_id,
        )),
    }
    .map_err(StoreError::Encode)?;
    Ok(hash_hex(&body))
}

fn hash_hex(body: &[u8]) -> String {
    // 128 bits of SHA-256 tell bodies apart; hex keeps the record printable.
    let digest = Sha256::digest(body);
    let mut hex = String::with_capacity(32);
    for b in &digest[..16] {
        hex.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    hex
}

/// Makes sure `dir` is ours: a new or empty directory gets the marker; a
/// directory with other files and no marker is refused.
pub(crate) fn claim_directory(dir: &Path) -> Result<()> {
    let io = |source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(io)?;
    let marker = dir.join(MARKER_FILE);
    match fs::read_to_string(&marker) {
        Ok(found) if found.trim() == FORMAT => Ok(()),
        Ok(found) => Err(StoreError::UnsupportedFormat {
            path: dir.to_path_buf(),
            found: found.trim().chars().take(80).collect(),
            expected: FORMAT,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if fs::read_dir(dir).map_err(io)?.next().is_some() {
                return Err(StoreError::ForeignDirectory {
                    path: dir.to_path_buf(),
                    marker: MARKER_FILE,
                });
            }
            let mut f = fs::File::create(&marker).map_err(io)?;
            f.write_all(format!("{FORMAT}\n").as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)
        }
        Err(e) => Err(io(e)),
    }
}

/// Opens sled; when the lock is held only by this process's own closed
/// store (see [`OPEN_HERE`]), waits a bounded time for it to be let go.
fn open_sled_again(dir: &Path, cache_capacity: u64) -> Result<sled::Db> {
    let closed_here = || {
        OPEN_HERE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(dir)
            .is_some_and(|n| *n == 0)
    };
    let deadline = Instant::now() + REOPEN_WAIT;
    let db = loop {
        match open_sled(dir, cache_capacity) {
            Err(StoreError::Locked { .. }) if closed_here() && Instant::now() < deadline => {
                // No event says when sled's threads let go: look again shortly.
                std::thread::sleep(Duration::from_millis(10));
            }
            other => break other?,
        }
    };
    Ok(db)
}

pub(crate) fn open_sled(dir: &Path, cache_capacity: u64) -> Result<sled::Db> {
    let config = sled::Config::new()
        .path(dir.join("log"))
        .cache_capacity(cache_capacity);
    // sled 0.34 can panic on some damaged files instead of returning an error.
    let opened = catch_unwind(AssertUnwindSafe(|| config.open())).map_err(|panic| {
        let detail = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| {
                panic
                    .downcast_ref::<&str>()
                    .map(std::string::ToString::to_string)
            })
            .unwrap_or_else(|| "sled panicked while opening".into());
        StoreError::Corrupt {
            path: dir.to_path_buf(),
            detail,
        }
    })?;
    opened.map_err(|e| match e {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::Locked {
                path: dir.to_path_buf(),
            }
        }
        sled::Error::Corruption { .. }
        | sled::Error::Unsupported(_)
        | sled::Error::ReportableBug(_) => StoreError::Corrupt {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        },
        other => StoreError::Storage(other),
    })
}

/// Finds the next global position and the last `recorded_at` from the last segment.
fn recover_tail(dir: &Path, trees: &Trees) -> Result<(u64, DateTime<Utc>)> {
    let Some(last) = trees.events.last()? else {
        return Ok((1, DateTime::<Utc>::MIN_UTC));
    };
    let (k, v) = last;
    let corrupt = |detail: String| StoreError::Corrupt {
        path: dir.to_path_buf(),
        detail,
    };
    let segment = Segment::new(&k, v).map_err(|e| corrupt(e.to_string()))?;
    match segment.last().map_err(|e| corrupt(e.to_string()))? {
        Some(tail) if tail.position + 1 == segment.end() => Ok((segment.end(), tail.recorded_at)),
        _ => Err(corrupt("last log segment does not match its key".into())),
    }
}

/// Pages of the log ([`Store::pages`]).
#[derive(Debug)]
pub struct Pages<'a> {
    store: &'a Store,
    next: u64,
    through: u64,
    page: usize,
}

impl Iterator for Pages<'_> {
    type Item = Result<Vec<RecordedEvent>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next > self.through {
            return None;
        }
        let limit = usize::try_from(self.through - self.next + 1)
            .unwrap_or(self.page)
            .min(self.page);
        match self.store.read_all(self.next, limit) {
            Ok(events) => {
                let last = events.last()?.position;
                self.next = last + 1;
                Some(Ok(events))
            }
            Err(e) => {
                self.next = self.through + 1;
                Some(Err(e))
            }
        }
    }
}
