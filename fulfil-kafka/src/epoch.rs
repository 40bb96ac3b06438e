//! The writer's epoch: every start of a writer is numbered, on the `writer`
//! topic and in the store, so a stale copy of the store is refused without
//! relying on the topics' watermarks, and a writer that is superseded stops.
//!
//! - **At start** ([`check`], then [`begin`]), after the claim (and the
//!   lease with `--standby`), a node reads the epoch records on the
//!   `writer` topic. It
//!   refuses to write when the newest epoch is above the one its store last
//!   wrote under (another copy of the store has been the writer since this
//!   one was), or when the newest record's head is above its own log's head
//!   (the last writer held events this copy lacks: at a clean stop a writer
//!   records its final head). Once the watermark check passed too, it
//!   records the next epoch in its store (flushed), then on the topic; if
//!   another node published the same epoch first, it refuses.
//! - **While it writes** ([`watch()`]), it reads the `writer` topic: a newer
//!   epoch means another node has started as the writer, and it stops.
//! - **At a clean stop** ([`close`]), after the outbox drained, it records
//!   its final head under its epoch.
//!
//! What this cannot do without Kafka transactions: fence a writer that is
//! frozen or cut off between another node's start and its own next read of
//! the topic; and know the head of a writer that crashed (its start record
//! holds the head it started from, and the watermark check of
//! [`crate::lease::verify_history`] covers what it published).

use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use event_store::Store;

use crate::client::{self, Group};
use crate::{KafkaConfig, KafkaError, Topics};

/// The store note holding the epoch the store last wrote under.
const META: &str = "writer_epoch";
/// How long reading or writing an epoch record may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One start (or clean stop) of a writer, as the `writer` topic records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The number of the writer's start: each start takes the next.
    pub epoch: u64,
    /// The store it writes from.
    pub store_id: uuid::Uuid,
    /// Where it runs (host name and data directory).
    pub node: String,
    /// Tells apart two nodes that published the same epoch.
    pub nonce: uuid::Uuid,
    /// Its log's head when it started, or when it stopped (`closed`).
    pub head: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// True when it stopped cleanly with `head` published.
    pub closed: bool,
}

/// This node's epoch, while it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch {
    /// Its record on the topic.
    pub record: EpochRecord,
    /// The record's offset on the `writer` topic.
    pub offset: i64,
}

/// What the `writer` topic held when a node checked it: the newest epoch
/// record and its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    newest: Option<(i64, EpochRecord)>,
}

/// Refuses a store that an epoch record shows to be stale (see the
/// module's doc); reads only.
pub async fn check(config: &KafkaConfig, store: &Store) -> Result<Checked, KafkaError> {
    let topic = Topics::new(&config.topic_prefix).writer();
    let newest = read_off_runtime(config, &topic, 0)
        .await?
        .into_iter()
        .max_by_key(|(offset, _)| *offset);
    let mine = last_epoch(store)?;
    let head = store.head_position();
    if let Some((_, last)) = &newest {
        if last.epoch > mine {
            return Err(KafkaError::Superseded {
                epoch: last.epoch,
                node: last.node.clone(),
                at: last.at,
                mine,
            });
        }
        if last.head > head {
            return Err(KafkaError::BehindLastWriter {
                epoch: last.epoch,
                node: last.node.clone(),
                recorded: last.head,
                head,
            });
        }
    }
    Ok(Checked { newest })
}

/// Numbers this start of a writer after [`check`] (and the watermark
/// check) passed: the next epoch, in the store then on the topic. Refused
/// when another node published that epoch first.
pub async fn begin(
    config: &KafkaConfig,
    store: &Store,
    checked: Checked,
    node: &str,
    now: DateTime<Utc>,
) -> Result<Epoch, KafkaError> {
    let topic = Topics::new(&config.topic_prefix).writer();
    let head = store.head_position();
    let record = EpochRecord {
        epoch: checked
            .newest
            .as_ref()
            .map_or(0, |(_, r)| r.epoch)
            .max(last_epoch(store)?)
            + 1,
        store_id: store.id()?,
        node: node.to_owned(),
        nonce: uuid::Uuid::now_v7(),
        head,
        at: now,
        closed: false,
    };
    // In the store first: a crash before the topic has it leaves the store
    // ahead of the topic, which the next start accepts.
    store.set_meta(META, &record.epoch.to_string())?;
    let offset = publish(config, &topic, &record).await?;
    // Two nodes may have read the same newest epoch: the first to publish wins.
    let after = checked.newest.map_or(0, |(o, _)| o + 1);
    for (_, other) in read_off_runtime(config, &topic, after).await? {
        if other.nonce == record.nonce {
            break;
        }
        if other.epoch >= record.epoch {
            return Err(KafkaError::Superseded {
                epoch: other.epoch,
                node: other.node,
                at: other.at,
                mine: record.epoch,
            });
        }
    }
    tracing::info!(
        epoch = record.epoch,
        head,
        "writing as epoch {}",
        record.epoch
    );
    Ok(Epoch { record, offset })
}

/// The epoch the store last wrote under (0 before its first).
fn last_epoch(store: &Store) -> Result<u64, KafkaError> {
    Ok(store
        .meta(META)?
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0))
}

/// Reads the `writer` topic after `epoch`'s record until `shutdown` turns
/// true; a newer epoch (another node started as the writer) is an error,
/// which stops the node.
pub async fn watch(
    config: &KafkaConfig,
    epoch: Epoch,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), KafkaError> {
    let topic = Topics::new(&config.topic_prefix).writer();
    let consumer: StreamConsumer = client::consumer(config, Group::WriterChecks).create()?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(&topic, 0, Offset::Offset(epoch.offset + 1))?;
    consumer.assign(&list)?;
    loop {
        let m = tokio::select! {
            m = consumer.recv() => m,
            _ = shutdown.changed() => return Ok(()),
        };
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "writer epoch: reading the writer topic failed; retrying");
                continue;
            }
        };
        let Some(other) = decode(m.payload()) else {
            continue;
        };
        let newer = other.epoch > epoch.record.epoch
            || (other.epoch == epoch.record.epoch && other.nonce != epoch.record.nonce);
        if newer {
            return Err(KafkaError::Overtaken {
                epoch: other.epoch,
                node: other.node,
                at: other.at,
                mine: epoch.record.epoch,
            });
        }
    }
}

/// Records that the writer of `epoch` stopped cleanly at log `head`.
pub async fn close(
    config: &KafkaConfig,
    epoch: &Epoch,
    head: u64,
    now: DateTime<Utc>,
) -> Result<(), KafkaError> {
    let topic = Topics::new(&config.topic_prefix).writer();
    let record = EpochRecord {
        head,
        at: now,
        closed: true,
        ..epoch.record.clone()
    };
    publish(config, &topic, &record).await?;
    Ok(())
}

fn decode(payload: Option<&[u8]>) -> Option<EpochRecord> {
    // The first message is the claim, not an epoch record.
    serde_json::from_slice(payload?).ok()
}

async fn publish(
    config: &KafkaConfig,
    topic: &str,
    record: &EpochRecord,
) -> Result<i64, KafkaError> {
    let payload = serde_json::to_vec(record)
        .map_err(|e| KafkaError::Claim(format!("encoding the epoch record: {e}")))?;
    let key = record.store_id.to_string();
    let producer: FutureProducer = {
        let mut client = config.client();
        client.set("acks", "all");
        client.create()?
    };
    let delivery = producer
        .send(FutureRecord::to(topic).key(&key).payload(&payload), TIMEOUT)
        .await
        .map_err(|(e, _)| KafkaError::Client(e))?;
    Ok(delivery.offset)
}

/// [`read_from`] on the blocking pool.
async fn read_off_runtime(
    config: &KafkaConfig,
    topic: &str,
    from: i64,
) -> Result<Vec<(i64, EpochRecord)>, KafkaError> {
    let (config, topic) = (config.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || read_from(&config, &topic, from)).await?
}

/// The epoch records on `topic` from offset `from` to its end now, with
/// their offsets, in order.
fn read_from(
    config: &KafkaConfig,
    topic: &str,
    from: i64,
) -> Result<Vec<(i64, EpochRecord)>, KafkaError> {
    let consumer: BaseConsumer = client::consumer(config, Group::WriterChecks).create()?;
    let (low, high) = consumer.fetch_watermarks(topic, 0, TIMEOUT)?;
    let from = from.max(low);
    let mut out = Vec::new();
    if from >= high {
        return Ok(out);
    }
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::Offset(from))?;
    consumer.assign(&list)?;
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut next = from;
    while next < high {
        if std::time::Instant::now() > deadline {
            return Err(KafkaError::Timeout(format!(
                "{topic}: offsets {next} to {high} could not be read within {TIMEOUT:?}"
            )));
        }
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m?;
        next = m.offset() + 1;
        if let Some(record) = decode(m.payload()) {
            out.push((m.offset(), record));
        }
    }
    Ok(out)
}
