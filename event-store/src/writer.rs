//! The single writer: group commit.
//!
//! Appends arrive on a channel. The writer takes every append that is
//! waiting (up to a batch limit), checks idempotency and expected versions in
//! arrival order, assigns stream versions and gapless global positions, writes
//! the whole batch, flushes (fsync) and only then answers every appender.
//!
//! To be at least as fast as raw per-key sled writes, a commit writes a few
//! keys however many events it holds: its segments (see `segment`), each one
//! plain insert, which sled applies atomically. No sled transaction is
//! needed: sled recovers its log as an ordered prefix, so after a crash a
//! commit is either whole or cut between two segments, and a commit is only
//! acknowledged after the flush that makes all of it durable. The outbox is
//! the log above the published mark, so appending queues. The per-stream and
//! per-command index keys are written afterwards by the indexer thread, off
//! the acknowledgement path.

use std::collections::HashMap;
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clock::SharedClock;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::index::{run_indexer, AppendIndex, Index, SegmentIndex};
use crate::keys::{self, IndexEntry};
use crate::model::{AppendOutcome, AppendRequest, RecordedEventRef, StreamId};
use crate::Trees;

/// Segments are cut after this many bytes. sled splits a leaf past 16
/// entries and writes a node above 128 KiB (`segment_size` / 4) as a separate
/// blob file with its own fsync; 16 segments of about 4 KiB stay well below.
/// (At 32 KiB a 256-appender run wrote 76 blob files per 570 segments.)
const SEGMENT_BYTES: usize = 4 * 1024;
/// The longest a commit waits for the appenders of the last one to return.
const MAX_GATHER: Duration = Duration::from_micros(500);
/// Bound on the stream-version cache; it is cleared when it grows past this.
const HEAD_CACHE_ENTRIES: usize = 200_000;

pub(crate) struct Job {
    pub request: AppendRequest,
    /// Hash of the request body, for idempotency; present when a command id is.
    pub fingerprint: Option<String>,
    pub reply: oneshot::Sender<Result<AppendOutcome>>,
}

pub(crate) struct Writer {
    pub trees: Trees,
    pub index: Arc<Index>,
    pub clock: SharedClock,
    pub max_batch_events: usize,
    pub next_position: u64,
    pub last_recorded_at: DateTime<Utc>,
    pub head: watch::Sender<u64>,
    pub heads: HashMap<StreamId, u64>,
    pub ids: EventIds,
}

/// Each job's answer, in order, and whether an index run is due.
type Committed = (Vec<Result<AppendOutcome>>, bool);

enum Decision {
    Append(AppendOutcome),
    Reply(Result<AppendOutcome>),
}

impl Writer {
    pub fn run(mut self, rx: flume::Receiver<Job>) {
        let (to_indexer, due) = std_mpsc::sync_channel(1);
        let index = self.index.clone();
        let indexer = std::thread::Builder::new()
            .name("event-store-indexer".into())
            .spawn(move || run_indexer(index, due));
        let mut failed: Option<String> = None;
        let mut last_jobs = 0;
        let mut last_commit = Duration::ZERO;
        while let Ok(first) = rx.recv() {
            let mut jobs = vec![first];
            let mut events = jobs[0].request.events.len();
            // Appenders answered by the last commit come back together, but
            // not at once: wait a little for them, so that one flush serves
            // them all instead of the first few.
            let gather_until = Instant::now() + (last_commit / 2).min(MAX_GATHER);
            while events < self.max_batch_events {
                let next = if jobs.len() < last_jobs {
                    rx.recv_deadline(gather_until).ok()
                } else {
                    rx.try_recv().ok()
                };
                let Some(job) = next else { break };
                events += job.request.events.len();
                jobs.push(job);
            }
            last_jobs = jobs.len();
            let started = Instant::now();
            if let Some(why) = &failed {
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Failed(why.clone())));
                }
                continue;
            }
            match self.commit(&jobs) {
                Ok((answers, run_due)) => {
                    for (job, answer) in jobs.into_iter().zip(answers) {
                        // An appender that gave up waiting is not an error of the store.
                        let _ = job.reply.send(answer);
                    }
                    last_commit = started.elapsed();
                    if run_due && indexer.is_ok() {
                        // Full means a run is already due; the indexer checks again after it.
                        if let Err(std_mpsc::TrySendError::Disconnected(())) =
                            to_indexer.try_send(())
                        {
                            tracing::error!(
                                "indexer stopped; the index stays in memory until the next open"
                            );
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "group commit failed; the store refuses appends until reopened");
                    let why = e.to_string();
                    for job in jobs {
                        let _ = job.reply.send(Err(StoreError::Failed(why.clone())));
                    }
                    failed = Some(why);
                    self.heads.clear();
                }
            }
        }
        drop(to_indexer);
        match indexer {
            Ok(handle) => {
                if handle.join().is_err() {
                    tracing::error!("event-store indexer panicked");
                }
            }
            Err(e) => tracing::error!(error = %e, "indexer thread did not start"),
        }
        // Every appender is gone; flush the index and read-model writes too.
        if let Err(e) = self.trees.db.flush() {
            tracing::warn!(error = %e, "final flush failed");
        }
    }

    fn stream_version(&mut self, stream: &StreamId) -> Result<u64> {
        if let Some(v) = self.heads.get(stream) {
            return Ok(*v);
        }
        let v = self.index.stream_version(stream)?;
        if self.heads.len() >= HEAD_CACHE_ENTRIES {
            self.heads.clear();
        }
        self.heads.insert(stream.clone(), v);
        Ok(v)
    }

    /// Decides, writes and flushes one batch; returns each job's answer and
    /// the records for the indexer. An error means the durable state is
    /// unknown: the caller gives it to every job in the batch.
    fn commit(&mut self, jobs: &[Job]) -> Result<Committed> {
        let mut decisions = Vec::with_capacity(jobs.len());
        // Command ids appended earlier in this batch: their body hash and outcome.
        let mut batch_commands: HashMap<&str, (&str, AppendOutcome)> = HashMap::new();
        let mut versions: HashMap<StreamId, u64> = HashMap::new();
        let mut position = self.next_position;

        for job in jobs {
            let req = &job.request;
            if let (Some(id), Some(fp)) = (req.command_id.as_deref(), job.fingerprint.as_deref()) {
                if let Some((seen_fp, original)) = batch_commands.get(id) {
                    decisions.push(if *seen_fp == fp {
                        Decision::Reply(Ok(AppendOutcome {
                            duplicate: true,
                            ..*original
                        }))
                    } else {
                        Decision::Reply(Err(StoreError::IdempotencyConflict {
                            command_id: id.to_owned(),
                        }))
                    });
                    continue;
                }
                if let Some(record) = self.index.command(id)? {
                    decisions.push(Decision::Reply(if record.fingerprint == fp {
                        Ok(AppendOutcome {
                            duplicate: true,
                            ..record.outcome
                        })
                    } else {
                        Err(StoreError::IdempotencyConflict {
                            command_id: id.to_owned(),
                        })
                    }));
                    continue;
                }
                if let Some(stamp) = self.index.forgotten(id)? {
                    decisions.push(Decision::Reply(Err(StoreError::forgotten(id, stamp))));
                    continue;
                }
            }
            let current = match versions.get(&req.stream) {
                Some(v) => *v,
                None => self.stream_version(&req.stream)?,
            };
            if !req.expected.admits(current) {
                decisions.push(Decision::Reply(Err(StoreError::WrongExpectedVersion {
                    stream: req.stream.to_string(),
                    expected: req.expected.to_string(),
                    actual: current,
                })));
                continue;
            }
            let count = req.events.len() as u64;
            let outcome = AppendOutcome {
                first_version: current + 1,
                last_version: current + count,
                first_position: position,
                last_position: position + count - 1,
                duplicate: false,
            };
            position += count;
            versions.insert(req.stream.clone(), outcome.last_version);
            if let (Some(id), Some(fp)) = (req.command_id.as_deref(), job.fingerprint.as_deref()) {
                batch_commands.insert(id, (fp, outcome));
            }
            decisions.push(Decision::Append(outcome));
        }

        let mut run_due = false;
        if position > self.next_position {
            let segments = self.write(jobs, &decisions)?;
            self.next_position = position;
            for (stream, v) in versions {
                self.heads.insert(stream, v);
            }
            // Readers must find the new events in the index before they hear of them.
            run_due = self.index.stage(&segments);
            self.head.send_replace(position - 1);
        }

        let answers = decisions
            .into_iter()
            .map(|d| match d {
                Decision::Append(o) => Ok(o),
                Decision::Reply(r) => r,
            })
            .collect();
        Ok((answers, run_due))
    }

    fn write(&mut self, jobs: &[Job], decisions: &[Decision]) -> Result<Vec<(u64, SegmentIndex)>> {
        let now = self.clock.now().max(self.last_recorded_at);
        let mut segments: Vec<(u64, Vec<u8>, SegmentIndex)> = Vec::new();
        let mut bytes = Vec::with_capacity(SEGMENT_BYTES + 1024);
        let mut index = SegmentIndex::default();
        let mut segment_first = 0;

        for (job, decision) in jobs.iter().zip(decisions) {
            let Decision::Append(outcome) = decision else {
                continue;
            };
            let req = &job.request;
            if bytes.is_empty() {
                segment_first = outcome.first_position;
            } else {
                bytes.push(b'\n');
            }
            let start = bytes.len();
            for (k, event) in req.events.iter().enumerate() {
                let recorded = RecordedEventRef {
                    event_id: self.ids.next(now),
                    stream: &req.stream,
                    version: outcome.first_version + k as u64,
                    position: outcome.first_position + k as u64,
                    event_type: &event.event_type,
                    schema_version: event.schema_version,
                    recorded_at: now,
                    at: event.at.unwrap_or(now),
                    correlation_id: req.correlation_id.as_deref(),
                    causation_id: req.command_id.as_deref(),
                    metadata: &event.metadata,
                    payload: &event.payload,
                };
                if k > 0 {
                    bytes.push(b'\n');
                }
                // serde_json escapes newlines inside strings, so '\n' only separates events.
                serde_json::to_writer(&mut bytes, &recorded).map_err(StoreError::Encode)?;
            }
            index.appends.push(AppendIndex {
                stream: req.stream.clone(),
                entry: IndexEntry {
                    first_version: outcome.first_version,
                    first_position: outcome.first_position,
                    count: req.events.len() as u64,
                    segment: segment_first,
                    start: segment_offset(start)?,
                    end: segment_offset(bytes.len())?,
                },
                command: req.command_id.clone().zip(job.fingerprint.clone()),
                recorded_ms: Some(now.timestamp_millis()),
            });
            // Cut only between appends, so an index entry names one segment.
            if bytes.len() >= SEGMENT_BYTES {
                segments.push((
                    segment_first,
                    std::mem::take(&mut bytes),
                    std::mem::take(&mut index),
                ));
            }
        }
        if !bytes.is_empty() {
            segments.push((segment_first, bytes, index));
        }
        for (first, bytes, index) in &mut segments {
            bytes.push(b'\n');
            serde_json::to_writer(&mut *bytes, index).map_err(StoreError::Encode)?;
            self.trees
                .events
                .insert(keys::position(*first), bytes.as_slice())?;
        }
        self.trees.db.flush()?;
        self.last_recorded_at = now;
        Ok(segments
            .into_iter()
            .map(|(first, _, index)| (first, index))
            .collect())
    }
}

fn segment_offset(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| StoreError::Failed("log segment above 4 GiB".into()))
}

/// Makes UUID v7 event ids whose time part comes from the store's clock, so
/// ids sort with the log. The 74 other bits come from a generator seeded once
/// from the OS (a syscall per event cost more than encoding the event).
pub(crate) struct EventIds(u64);

impl EventIds {
    pub fn new() -> Self {
        let seed = Uuid::now_v7().as_u64_pair();
        Self(seed.0 ^ seed.1.rotate_left(17))
    }

    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next(&mut self, now: DateTime<Utc>) -> Uuid {
        let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let mut bytes = [0u8; 10];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes()[..2]);
        uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
    }
}
