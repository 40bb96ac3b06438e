//! One writer: the command topics belong to one store, served by one node
//! at a time.
//!
//! - **Claim.** The first message on the `writer` topic names the store
//!   that owns the topics. A node whose store is another refuses to start:
//!   its log would give the same streams other versions and positions,
//!   and every reader would mix two histories. The first claim wins, so
//!   two new nodes racing to claim agree on the owner.
//! - **Lease** (`fulfil serve --standby`). Nodes of the owning store (on
//!   its directory, or a current copy) join the consumer group
//!   `<prefix>writer` on the one-partition `writer` topic. The member
//!   assigned the partition is the writer; the others stand by and take
//!   over when it leaves (at once when it stops, after the session timeout
//!   when it dies; tansu 0.6 never drops a member whose session lapsed). A
//!   writer that loses the lease stops.
//! - **History.** Before it writes, a node checks that its log holds the
//!   newest event on every event-topic partition, the same event (by id)
//!   at the same position. A stale copy of the store (the old writer went
//!   on after the copy was made) is refused: its positions are taken. The
//!   writer's epoch ([`crate::epoch`]) catches what the topics cannot show:
//!   a copy behind the last writer's recorded head, or an old directory
//!   after a copy of it wrote on.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use event_store::Store;

use crate::client::{self, header, Group};
use crate::wire::recorded_event;
use crate::{KafkaConfig, KafkaError, Topics};

/// How long a stopping writer waits to hand the lease on.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a claim may take to read or write.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(30);

/// Which store owns the topics, as the `writer` topic records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The store that owns the topics.
    pub store_id: uuid::Uuid,
    /// Where the claiming node ran (host name and data directory).
    pub node: String,
    /// When the claim was made.
    pub claimed_at: DateTime<Utc>,
}

/// The store that owns the topics, claiming them for `store_id` when nobody
/// has (at `now`). Another store's claim is refused with [`KafkaError::NotTheWriter`].
pub async fn claim(
    config: &KafkaConfig,
    store_id: uuid::Uuid,
    node: &str,
    now: DateTime<Utc>,
) -> Result<Claim, KafkaError> {
    let topic = Topics::new(&config.topic_prefix).writer();
    let owner = if let Some(owner) = first_claim(config, &topic)? {
        owner
    } else {
        let mine = Claim {
            store_id,
            node: node.to_owned(),
            claimed_at: now,
        };
        let payload = serde_json::to_vec(&mine)
            .map_err(|e| KafkaError::Claim(format!("encoding the claim: {e}")))?;
        let key = store_id.to_string();
        let producer: FutureProducer = {
            let mut client = config.client();
            client.set("acks", "all");
            client.create()?
        };
        producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(&payload),
                CLAIM_TIMEOUT,
            )
            .await
            .map_err(|(e, _)| KafkaError::Client(e))?;
        // Whoever claimed first owns the topics, even if that was not us.
        first_claim(config, &topic)?.unwrap_or(mine)
    };
    if owner.store_id != store_id {
        return Err(KafkaError::NotTheWriter {
            topic,
            owner: owner.store_id,
            node: owner.node,
            since: owner.claimed_at,
            store: store_id,
        });
    }
    Ok(owner)
}

/// Checks that `store`'s log holds the newest event of every event-topic
/// partition (same id at the same position); returns the highest position
/// found on the topics.
pub fn verify_history(config: &KafkaConfig, store: &Store) -> Result<u64, KafkaError> {
    let consumer = reader(config)?;
    let mut list = TopicPartitionList::new();
    for topic in Topics::new(&config.topic_prefix).all_events() {
        let metadata = consumer.fetch_metadata(Some(&topic), CLAIM_TIMEOUT)?;
        for t in metadata.topics() {
            for p in t.partitions() {
                let (low, high) = consumer.fetch_watermarks(&topic, p.id(), CLAIM_TIMEOUT)?;
                if high > low {
                    list.add_partition_offset(&topic, p.id(), Offset::Offset(high - 1))?;
                }
            }
        }
    }
    let mut left = list.count();
    tracing::info!(
        partitions = left,
        "checking the newest event of each event-topic partition"
    );
    consumer.assign(&list)?;
    let mut highest = 0;
    let deadline = std::time::Instant::now() + CLAIM_TIMEOUT;
    while left > 0 {
        if std::time::Instant::now() > deadline {
            return Err(KafkaError::Timeout(format!(
                "{left} event-topic partitions did not give their last event within {CLAIM_TIMEOUT:?}"
            )));
        }
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m?;
        left -= 1;
        let Ok(published) = recorded_event(|n| header(&m, n), m.payload().unwrap_or_default())
        else {
            continue; // Not an event fulfil published: nothing to compare.
        };
        highest = highest.max(published.position);
        tracing::debug!(
            topic = m.topic(),
            partition = m.partition(),
            offset = m.offset(),
            position = published.position,
            "newest event"
        );
        let mine = store.read_all(published.position, 1)?;
        if mine.first().map(|e| e.event_id) != Some(published.event_id) {
            return Err(KafkaError::StaleStore {
                topic: m.topic().to_owned(),
                position: published.position,
                head: store.head_position(),
            });
        }
    }
    Ok(highest)
}

/// A consumer for reading chosen offsets: assigned, never subscribed (the
/// group id is only required, never joined).
fn reader(config: &KafkaConfig) -> Result<BaseConsumer, KafkaError> {
    Ok(client::consumer(config, Group::WriterChecks).create()?)
}

/// The first claim on the `writer` topic, if any.
fn first_claim(config: &KafkaConfig, topic: &str) -> Result<Option<Claim>, KafkaError> {
    let consumer = reader(config)?;
    let (low, high) = consumer.fetch_watermarks(topic, 0, CLAIM_TIMEOUT)?;
    if high <= low {
        return Ok(None);
    }
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::Offset(low))?;
    consumer.assign(&list)?;
    let deadline = std::time::Instant::now() + CLAIM_TIMEOUT;
    while std::time::Instant::now() < deadline {
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m?;
        return serde_json::from_slice(m.payload().unwrap_or_default())
            .map(Some)
            .map_err(|e| {
                KafkaError::Claim(format!("{topic} offset {}: not a claim: {e}", m.offset()))
            });
    }
    Err(KafkaError::Timeout(format!(
        "{topic}: the first claim could not be read within {CLAIM_TIMEOUT:?}"
    )))
}

/// Tells the lease holder when the partition is assigned or taken away.
pub struct LeaseContext {
    held: watch::Sender<bool>,
}

impl ClientContext for LeaseContext {}

impl ConsumerContext for LeaseContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::debug!(?rebalance, "writer lease: rebalance");
        // Incremental (cooperative) rebalances name only what moves: an
        // empty list changes nothing.
        match rebalance {
            Rebalance::Assign(list) if list.count() > 0 => {
                self.held.send_replace(true);
            }
            Rebalance::Revoke(list) if list.count() > 0 => {
                self.held.send_replace(false);
            }
            Rebalance::Assign(_) | Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "writer lease: rebalance failed"),
        }
    }
}

/// A member of the writer group; [`Lease::held`] turns true when the
/// group makes this node the writer.
pub struct Lease {
    consumer: StreamConsumer<LeaseContext>,
    held: watch::Receiver<bool>,
    group: String,
}

impl Lease {
    /// Joins the writer group (the lease is not held yet).
    pub fn join(config: &KafkaConfig) -> Result<Self, KafkaError> {
        let (tx, held) = watch::channel(false);
        let mut client = client::consumer(config, Group::Writer);
        client
            .set("auto.offset.reset", "latest")
            // The holder keeps the partition while others join and leave.
            .set("partition.assignment.strategy", "cooperative-sticky")
            // A writer that dies is replaced within seconds, not the default 45.
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000");
        let consumer: StreamConsumer<LeaseContext> =
            client.create_with_context(LeaseContext { held: tx })?;
        consumer.subscribe(&[&Topics::new(&config.topic_prefix).writer()])?;
        Ok(Self {
            consumer,
            held,
            group: Group::Writer.name(config),
        })
    }

    /// Whether this node holds the lease, as it changes.
    pub fn held(&self) -> watch::Receiver<bool> {
        self.held.clone()
    }

    /// Keeps the membership alive until `shutdown` turns true (leaving the
    /// group, so a standby takes over at once). Losing the lease after
    /// holding it is an error: the node must stop writing.
    pub async fn keep(self, mut shutdown: watch::Receiver<bool>) -> Result<(), KafkaError> {
        let mut held = self.held.clone();
        let mut had = *held.borrow_and_update();
        loop {
            tokio::select! {
                m = self.consumer.recv() => {
                    if let Err(e) = m {
                        tracing::debug!(error = %e, "writer lease: poll");
                    }
                }
                changed = held.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let now = *held.borrow_and_update();
                    if had && !now {
                        let group = self.group.clone();
                        self.leave().await;
                        return Err(KafkaError::LostLease(group));
                    }
                    had = now;
                }
                _ = shutdown.changed() => {
                    self.leave().await;
                    return Ok(());
                }
            }
        }
    }

    /// Leaves the group before the consumer closes. Closing while a
    /// cooperative rebalance is under way can hang in librdkafka
    /// (confluentinc/librdkafka#4527), so the node unsubscribes and serves
    /// the rebalance that hands the partition on, then closes on a thread
    /// of its own that it waits for only so long: a stuck close must not
    /// keep the node from stopping (the group then drops it after the
    /// session timeout).
    async fn leave(self) {
        self.consumer.unsubscribe();
        let deadline = tokio::time::Instant::now() + LEAVE_TIMEOUT;
        // Polling serves the revocation; the assignment empties when it is done.
        while self.consumer.assignment().is_ok_and(|a| a.count() > 0) {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    "writer lease: still assigned after {LEAVE_TIMEOUT:?}; closing anyway"
                );
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), self.consumer.recv()).await;
        }
        let (closed, done) = tokio::sync::oneshot::channel();
        let consumer = self.consumer;
        std::thread::spawn(move || {
            drop(consumer);
            let _ = closed.send(());
        });
        if tokio::time::timeout(LEAVE_TIMEOUT, done).await.is_err() {
            tracing::warn!(
                "writer lease: the consumer did not close within {LEAVE_TIMEOUT:?}; leaving it"
            );
        }
    }
}
