//! A read replica: the read models built from the event topics instead of
//! the log, on a node of their own (`fulfil project`).
//!
//! - It reads every partition of every event topic and puts the events back
//!   into log order ([`Sequencer`]), so each model is exactly the model the
//!   writer keeps; a repeated event is dropped by its position.
//! - Each model records, in the transaction that folds a run of events,
//!   its checkpoint and the offset to resume each partition from, so a
//!   restarted replica neither skips nor double-counts an event.
//! - The offsets are also committed to its consumer group
//!   (`<prefix>projections.<replica>`), so Kafka tools show how far behind
//!   it is. They are only a report: the replica resumes from its own.
//! - Early events are held in memory until the gap before them fills. Past
//!   `[kafka] replica_hold` held events, the partitions that are ahead are
//!   paused, and each is read again as soon as it holds nothing (see
//!   [`Sequencer::pace`] for why that cannot deadlock). Reading stops at
//!   the bound to fold first, so the hold passes it by at most one event;
//!   librdkafka's prefetch is
//!   bounded by `queued.max.messages.kbytes`, and pausing empties it for
//!   the partitions paused.
//!
//! Replicas share the query load: each is a complete copy. The partitions
//! are not split between the processes of a replica, because a model reads
//! across streams (the stock model prices a shipment at earlier receipts)
//! and each process keeps its models in its own sled database.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::client::{self, header, Group};
use crate::sequencer::{Partition, Sequencer};
use crate::wire::recorded_event;
use crate::{KafkaConfig, KafkaError, Topics};
use projections::{ReadModels, NAMES};

/// Messages read before folding, at most.
pub const BATCH: usize = 1024;
/// How long metadata and watermark requests may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// What the replica reports.
#[derive(Debug, Default)]
pub struct ReplicaStats {
    /// Events folded into the models.
    pub folded: AtomicU64,
    /// Repeated events dropped by position.
    pub duplicates: AtomicU64,
    /// Messages on an event topic that are not an event fulfil published.
    pub unreadable: AtomicU64,
    /// Early events held until the positions before them arrive.
    pub held: AtomicU64,
    /// The highest log position seen on the topics.
    pub highest: AtomicU64,
    /// The position it waits for (the next one to fold).
    pub waiting_for: AtomicU64,
    /// The most early events held at once.
    pub held_most: AtomicU64,
    /// Partitions paused because they are ahead.
    pub paused: AtomicU64,
    /// Times a partition was paused.
    pub pauses: AtomicU64,
    /// Early events held before partitions are paused (the bound).
    pub hold_bound: AtomicU64,
}

/// A replica's reader of the event topics.
pub struct Replica {
    consumer: StreamConsumer,
    models: ReadModels,
    stats: Arc<ReplicaStats>,
    /// The position folded into every model, once the first catch-up is done.
    caught_up: Arc<watch::Sender<Option<u64>>>,
    topics: Vec<String>,
    /// Early events held before the partitions ahead are paused.
    hold: usize,
}

impl Replica {
    /// A replica named `replica` reading the event topics into `models`, publishing how far it folded on `caught_up`.
    pub fn new(
        config: &KafkaConfig,
        replica: &str,
        models: ReadModels,
        stats: Arc<ReplicaStats>,
        caught_up: Arc<watch::Sender<Option<u64>>>,
    ) -> Result<Self, KafkaError> {
        let mut client = client::consumer(config, Group::Projections(replica));
        client
            .set("enable.partition.eof", "false")
            // Where librdkafka has no position of its own (a partition
            // paused before it delivered anything), it must not skip.
            .set("auto.offset.reset", "earliest")
            // A partition read again waits for the fetch in flight for the
            // others: keep that wait short.
            .set("fetch.wait.max.ms", "100")
            .set("fetch.message.max.bytes", "16777216");
        let hold = config.bounds.replica_hold;
        stats.hold_bound.store(hold as u64, Ordering::Relaxed);
        Ok(Self {
            consumer: client.create()?,
            models,
            stats,
            caught_up,
            topics: Topics::new(&config.topic_prefix).all_events(),
            hold,
        })
    }

    /// Where the models stand: the position all of them have folded, and
    /// for each partition the lowest offset any of them must resume from.
    fn resume(&self) -> Result<(u64, BTreeMap<Partition, i64>), KafkaError> {
        let mut done = u64::MAX;
        let mut at: BTreeMap<Partition, i64> = BTreeMap::new();
        let mut unmarked = false;
        for name in NAMES {
            let Some((model, _)) = self.models.get(name) else {
                continue;
            };
            done = done.min(model.checkpoint()?.unwrap_or(0));
            let mut marked = false;
            for (mark, offset) in model.marks()? {
                if let Some(p) = Partition::from_mark(&mark) {
                    marked = true;
                    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
                    at.entry(p)
                        .and_modify(|o| *o = (*o).min(offset))
                        .or_insert(offset);
                }
            }
            unmarked |= !marked;
        }
        // A model that holds nothing yet (new in this version, or emptied
        // because its layout changed) needs the topics from their start;
        // the others pass over the positions they already hold.
        if unmarked {
            at.clear();
        }
        Ok((if done == u64::MAX { 0 } else { done }, at))
    }

    /// Every partition of the event topics, with the offset to start from,
    /// and the end now of each with something left to read (the first
    /// catch-up's goal).
    fn assignment(
        &self,
        at: &BTreeMap<Partition, i64>,
    ) -> Result<(TopicPartitionList, BTreeMap<Partition, i64>), KafkaError> {
        let mut list = TopicPartitionList::new();
        let mut ends = BTreeMap::new();
        for topic in &self.topics {
            let metadata = self
                .consumer
                .fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
            let t = metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                .ok_or_else(|| {
                    KafkaError::Config(format!(
                        "topic {topic} does not exist; run `fulfil topics create`"
                    ))
                })?;
            for p in t.partitions() {
                let partition = Partition::new(topic, p.id());
                let offset = at
                    .get(&partition)
                    .map_or(Offset::Beginning, |o| Offset::Offset(*o));
                list.add_partition_offset(topic, p.id(), offset)?;
                let (low, high) =
                    self.consumer
                        .fetch_watermarks(topic, p.id(), METADATA_TIMEOUT)?;
                if high > at.get(&partition).copied().unwrap_or(low) {
                    ends.insert(partition, high);
                }
            }
        }
        Ok((list, ends))
    }

    /// Reads and folds until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), KafkaError> {
        let (done, at) = self.resume()?;
        let (assignment, mut ends) = self.assignment(&at)?;
        self.consumer.assign(&assignment)?;
        let mut seq = Sequencer::new(done);
        self.stats.waiting_for.store(seq.next(), Ordering::Relaxed);
        tracing::info!(
            from = done,
            partitions = assignment.count(),
            "replica reading the event topics"
        );
        if ends.is_empty() {
            self.caught_up.send_replace(Some(done));
        }
        let mut paused = BTreeSet::new();
        loop {
            // A stop comes between folds: at a checkpoint, with the offsets
            // after it reported to the group before going.
            let first = tokio::select! {
                m = self.consumer.recv() => m,
                _ = shutdown.changed() => {
                    self.commit(&seq, CommitMode::Sync);
                    return Ok(());
                }
            };
            // Read what is ready, up to a batch, and no further once the
            // hold passes its bound: then fold, and pause what is ahead.
            let mut next = Some(first);
            let mut read = 0;
            while let Some(m) = next.take() {
                match m {
                    Ok(m) => self.offer(&mut seq, &m),
                    Err(e) => tracing::warn!(error = %e, "replica: receive failed; retrying"),
                }
                read += 1;
                if read >= BATCH || seq.held() > self.hold {
                    break;
                }
                next = tokio::time::timeout(Duration::from_millis(1), self.consumer.recv())
                    .await
                    .ok();
            }
            self.stats
                .held_most
                .fetch_max(seq.held() as u64, Ordering::Relaxed);
            self.fold(&mut seq).await?;
            // Ready once every partition was read to where it ended at the
            // start; from then on, each fold is reported.
            ends.retain(|p, end| seq.read_to(p).is_none_or(|r| r < *end));
            if ends.is_empty() {
                self.caught_up.send_replace(Some(seq.next() - 1));
            }
            self.pace(&seq, &mut paused)?;
        }
    }

    /// Pauses the partitions ahead when the hold is over its bound, and
    /// reads again every paused partition that holds nothing.
    fn pace(&self, seq: &Sequencer, paused: &mut BTreeSet<Partition>) -> Result<(), KafkaError> {
        let pacing = seq.pace(self.hold, paused);
        let list = |ps: &[Partition]| {
            let mut list = TopicPartitionList::new();
            for p in ps {
                list.add_partition(&p.topic, p.partition);
            }
            list
        };
        if !pacing.resume.is_empty() {
            self.consumer.resume(&list(&pacing.resume))?;
            for p in &pacing.resume {
                paused.remove(p);
            }
        }
        if !pacing.pause.is_empty() {
            self.consumer.pause(&list(&pacing.pause))?;
            self.stats
                .pauses
                .fetch_add(pacing.pause.len() as u64, Ordering::Relaxed);
            tracing::info!(
                held = seq.held(),
                bound = self.hold,
                waiting_for = seq.next(),
                partitions = pacing.pause.len(),
                "replica pauses the partitions ahead"
            );
            paused.extend(pacing.pause);
        }
        self.stats
            .paused
            .store(paused.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn offer(&self, seq: &mut Sequencer, m: &BorrowedMessage<'_>) {
        let from = Partition::new(m.topic(), m.partition());
        let event = recorded_event(|name| header(m, name), m.payload().unwrap_or_default());
        match event {
            Ok(event) => {
                seq.offer(&from, m.offset(), event);
            }
            Err(error) => {
                self.stats.unreadable.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(topic = m.topic(), partition = m.partition(), offset = m.offset(), %error,
                    "replica passes over a message that is not a fulfil event");
                seq.pass(&from, m.offset());
            }
        }
    }

    /// Folds every run that is ready into every model, with the offsets to
    /// resume from, then reports the offsets to the consumer group.
    async fn fold(&self, seq: &mut Sequencer) -> Result<(), KafkaError> {
        loop {
            let events = seq.take(BATCH);
            if events.is_empty() {
                break;
            }
            let marks: Vec<(String, u64)> = seq
                .resume_at()
                .into_iter()
                .map(|(p, o)| (p.mark(), u64::try_from(o).unwrap_or(0)))
                .collect();
            let models = self.models.clone();
            let n = events.len() as u64;
            tokio::task::spawn_blocking(move || {
                for name in NAMES {
                    if let Some((model, projection)) = models.get(name) {
                        projections::projection::apply(model, projection, &events, &marks)?;
                    }
                }
                Ok::<_, KafkaError>(())
            })
            .await??;
            self.stats.folded.fetch_add(n, Ordering::Relaxed);
            self.commit(seq, CommitMode::Async);
        }
        let s = &self.stats;
        s.duplicates.store(seq.duplicates(), Ordering::Relaxed);
        s.held.store(seq.held() as u64, Ordering::Relaxed);
        s.highest.store(seq.highest(), Ordering::Relaxed);
        s.waiting_for.store(seq.next(), Ordering::Relaxed);
        Ok(())
    }

    /// Reports the resume offsets to the consumer group (for lag tools).
    fn commit(&self, seq: &Sequencer, mode: CommitMode) {
        let mut list = TopicPartitionList::new();
        for (p, offset) in seq.resume_at() {
            if let Err(e) = list.add_partition_offset(&p.topic, p.partition, Offset::Offset(offset))
            {
                tracing::debug!(error = %e, "replica: offset not reported");
            }
        }
        if list.count() == 0 {
            return;
        }
        match (self.consumer.commit(&list, mode), mode) {
            (Ok(()), _) => {}
            (Err(e), CommitMode::Sync) => {
                tracing::warn!(error = %e, "replica: offsets not reported to the group at stop; lag tools show it behind (it resumes from its own marks)");
            }
            (Err(e), CommitMode::Async) => {
                tracing::debug!(error = %e, "replica: offsets not reported to the group");
            }
        }
    }
}
