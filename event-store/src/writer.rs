//! The single writer: group commit.
//!
//! Appends arrive on a channel. The writer takes every append that is
//! waiting (up to a batch limit), checks idempotency and expected versions in
//! arrival order, assigns stream versions and gapless global positions, writes
//! the whole batch in one sled transaction over the events, streams, commands
//! and outbox trees, flushes (fsync) and only then answers every appender.
//!
//! To stay at least as fast as raw per-key sled writes, a batch is packed:
//! its events go into a few segment values (JSON lines keyed by their first
//! position, cut only between appends) rather than one key each, each append
//! adds one stream-index entry pointing at its bytes, and the batch adds one
//! outbox entry.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clock::SharedClock;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::{NoContext, Timestamp, Uuid};

use crate::error::{Result, StoreError};
use crate::keys;
use crate::model::{AppendOutcome, AppendRequest, RecordedEvent, StreamId};
use crate::Trees;

/// Segments are cut at this size so a packed value stays far below sled's
/// blob threshold (segment_size / 4 = 128 KiB), which would cost a file and an fsync.
const SEGMENT_BYTES: usize = 32 * 1024;
/// Bound on the stream-version cache; it is cleared when it grows past this.
const HEAD_CACHE_ENTRIES: usize = 200_000;

pub(crate) struct Job {
    pub request: AppendRequest,
    /// Hash of the request body, for idempotency; present when a command id is.
    pub fingerprint: Option<String>,
    pub reply: oneshot::Sender<Result<AppendOutcome>>,
}

/// What the commands tree stores per command id.
#[derive(Serialize, Deserialize)]
struct CommandRecord {
    fingerprint: String,
    stream: StreamId,
    outcome: AppendOutcome,
}

pub(crate) struct Writer {
    pub trees: Trees,
    pub clock: SharedClock,
    pub max_batch_events: usize,
    pub next_position: u64,
    pub last_recorded_at: DateTime<Utc>,
    pub head: Arc<watch::Sender<u64>>,
    pub heads: HashMap<StreamId, u64>,
}

enum Decision {
    Append(usize),
    Reply(Result<AppendOutcome>),
    /// A retry of a command whose original is earlier in this batch.
    SameAs(usize),
}

struct Planned {
    stream: StreamId,
    outcome: AppendOutcome,
}

impl Writer {
    pub fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut failed: Option<String> = None;
        while let Some(first) = rx.blocking_recv() {
            let mut jobs = vec![first];
            let mut events = jobs[0].request.events.len();
            while events < self.max_batch_events {
                match rx.try_recv() {
                    Ok(job) => {
                        events += job.request.events.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            if let Some(why) = &failed {
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Failed(why.clone())));
                }
                continue;
            }
            if let Err(e) = self.commit(jobs) {
                tracing::error!(error = %e, "group commit failed; the store refuses appends until reopened");
                failed = Some(e.to_string());
                self.heads.clear();
            }
        }
        // Every sender is gone: nothing more can be acknowledged. Flush what
        // sled holds anyway (read-model writes share the database).
        if let Err(e) = self.trees.db.flush() {
            tracing::warn!(error = %e, "final flush failed");
        }
    }

    fn stream_version(&mut self, stream: &StreamId) -> Result<u64> {
        if let Some(v) = self.heads.get(stream) {
            return Ok(*v);
        }
        let v = crate::store::stream_version_in(&self.trees.streams, stream)?;
        if self.heads.len() >= HEAD_CACHE_ENTRIES {
            self.heads.clear();
        }
        self.heads.insert(stream.clone(), v);
        Ok(v)
    }

    /// Decides, writes, flushes and answers one batch. An error here means the
    /// durable state is unknown: every job in the batch gets the error.
    fn commit(&mut self, jobs: Vec<Job>) -> Result<()> {
        let mut decisions = Vec::with_capacity(jobs.len());
        let mut planned: Vec<Planned> = Vec::new();
        let mut batch_commands: HashMap<&str, (&str, usize)> = HashMap::new();
        let mut versions: HashMap<StreamId, u64> = HashMap::new();
        let mut position = self.next_position;

        for job in &jobs {
            let req = &job.request;
            if let (Some(id), Some(fp)) = (req.command_id.as_deref(), job.fingerprint.as_deref()) {
                if let Some((seen_fp, idx)) = batch_commands.get(id) {
                    decisions.push(if *seen_fp == fp {
                        Decision::SameAs(*idx)
                    } else {
                        Decision::Reply(Err(StoreError::IdempotencyConflict {
                            command_id: id.to_owned(),
                        }))
                    });
                    continue;
                }
                if let Some(raw) = self.trees.commands.get(id.as_bytes())? {
                    let record: CommandRecord =
                        serde_json::from_slice(&raw).map_err(|source| StoreError::Decode {
                            what: format!("command {id}"),
                            source,
                        })?;
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
                batch_commands.insert(id, (fp, planned.len()));
            }
            decisions.push(Decision::Append(planned.len()));
            planned.push(Planned {
                stream: req.stream.clone(),
                outcome,
            });
        }

        if !planned.is_empty() {
            self.write(&jobs, &decisions, &planned)?;
            self.next_position = position;
            for (stream, v) in versions {
                self.heads.insert(stream, v);
            }
            self.head.send_replace(position - 1);
        }

        for (job, decision) in jobs.into_iter().zip(decisions) {
            let answer = match decision {
                Decision::Append(i) => Ok(planned[i].outcome),
                Decision::SameAs(i) => Ok(AppendOutcome {
                    duplicate: true,
                    ..planned[i].outcome
                }),
                Decision::Reply(r) => r,
            };
            // An appender that gave up waiting is not an error of the store.
            let _ = job.reply.send(answer);
        }
        Ok(())
    }

    fn write(&mut self, jobs: &[Job], decisions: &[Decision], planned: &[Planned]) -> Result<()> {
        let now = self.clock.now().max(self.last_recorded_at);
        let mut segments: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut segment = Vec::with_capacity(SEGMENT_BYTES + 1024);
        let mut segment_first = 0;
        let mut index = Vec::with_capacity(planned.len());
        let mut commands = Vec::new();

        for (job, decision) in jobs.iter().zip(decisions) {
            let Decision::Append(i) = decision else {
                continue;
            };
            let p = &planned[*i];
            let req = &job.request;
            if segment.is_empty() {
                segment_first = p.outcome.first_position;
            } else {
                segment.push(b'\n');
            }
            let start = segment.len();
            if let (Some(id), Some(fp)) = (&req.command_id, &job.fingerprint) {
                let record = CommandRecord {
                    fingerprint: fp.clone(),
                    stream: p.stream.clone(),
                    outcome: p.outcome,
                };
                commands.push((
                    id.as_bytes().to_vec(),
                    serde_json::to_vec(&record).map_err(StoreError::Encode)?,
                ));
            }
            for (k, event) in req.events.iter().enumerate() {
                let recorded = RecordedEvent {
                    event_id: event_id(now),
                    stream: p.stream.clone(),
                    version: p.outcome.first_version + k as u64,
                    position: p.outcome.first_position + k as u64,
                    event_type: event.event_type.clone(),
                    schema_version: event.schema_version,
                    recorded_at: now,
                    at: event.at.unwrap_or(now),
                    correlation_id: req.correlation_id.clone(),
                    causation_id: req.command_id.clone(),
                    metadata: event.metadata.clone(),
                    payload: event.payload.clone(),
                };
                if k > 0 {
                    segment.push(b'\n');
                }
                // serde_json escapes newlines inside strings, so '\n' only separates events.
                serde_json::to_writer(&mut segment, &recorded).map_err(StoreError::Encode)?;
            }
            let entry = keys::IndexEntry {
                first_version: p.outcome.first_version,
                first_position: p.outcome.first_position,
                count: req.events.len() as u64,
                segment: segment_first,
                start: segment_offset(start)?,
                end: segment_offset(segment.len())?,
            };
            index.push((
                keys::stream_entry(&p.stream, p.outcome.first_version),
                keys::index_value(&entry),
            ));
            // Cut only between appends, so an index entry names one segment.
            if segment.len() >= SEGMENT_BYTES {
                segments.push((segment_first, std::mem::take(&mut segment)));
            }
        }
        if !segment.is_empty() {
            segments.push((segment_first, segment));
        }
        let first = planned.first().map(|p| p.outcome.first_position);
        let last = planned.last().map(|p| p.outcome.last_position);
        let outbox = match (first, last) {
            (Some(f), Some(l)) => Some((keys::position(f), keys::position(l))),
            _ => None,
        };

        let t = &self.trees;
        let result: Result<(), TransactionError<()>> =
            (&t.events, &t.streams, &t.commands, &t.outbox).transaction(
                |(events, streams, cmds, outbox_tree)| {
                    for (first, bytes) in &segments {
                        events.insert(&keys::position(*first)[..], bytes.as_slice())?;
                    }
                    for (k, v) in &index {
                        streams.insert(k.as_slice(), &v[..])?;
                    }
                    for (k, v) in &commands {
                        cmds.insert(k.as_slice(), v.as_slice())?;
                    }
                    if let Some((f, l)) = &outbox {
                        outbox_tree.insert(&f[..], &l[..])?;
                    }
                    Ok::<(), ConflictableTransactionError<()>>(())
                },
            );
        match result {
            Ok(()) => {}
            Err(TransactionError::Storage(e)) => return Err(e.into()),
            Err(TransactionError::Abort(())) => {
                return Err(StoreError::Failed("transaction aborted".into()))
            }
        }
        self.trees.db.flush()?;
        self.last_recorded_at = now;
        Ok(())
    }
}

fn segment_offset(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| StoreError::Failed("log segment above 4 GiB".into()))
}

/// A UUID v7 whose time part comes from the store's clock, so ids sort with the log.
fn event_id(now: DateTime<Utc>) -> Uuid {
    let secs = u64::try_from(now.timestamp()).unwrap_or(0);
    Uuid::new_v7(Timestamp::from_unix(
        NoContext,
        secs,
        now.timestamp_subsec_nanos(),
    ))
}
