//! The command consumer: reads the command topics in a consumer group,
//! applies each command through the command handler and publishes its
//! result, then commits the offsets.
//!
//! - At least once from Kafka, once in the store: a redelivered command id
//!   is answered from the log, so the effect happens once.
//! - Offsets are committed only after every message before them was
//!   handled: appended durably (or refused) and its result or dead letter
//!   delivered.
//! - Order per key is kept: messages of one key are applied in order;
//!   different keys of a batch run concurrently (the store's group commit
//!   turns that into fewer fsyncs).
//! - Backpressure: one batch of at most `[kafka] command_batch` messages at
//!   a time; nothing past librdkafka's prefetch is read ahead of it.
//!
//! What is not a command goes to the dead-letter topic with its original
//! bytes (up to [`DEAD_LETTER_BYTES`]) and, in headers, where it came from
//! and why: empty, too large, no key, not JSON, no command id. A message
//! with a command id that fails later (unknown type, bad fields, a key that
//! is not the command's aggregate, the wrong topic) gets an `invalid` or
//! `rejected` result on `command-results` instead, keyed by its command id.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use tokio::sync::watch;

use crate::client::{self, producer, Group};
use crate::relay::send;
use crate::wire::Outgoing;
use crate::{KafkaConfig, KafkaError, Topics};
use command_handler::{stream_of, CommandHandler};
use schemas::{CommandResult, Outcome};

use schemas::MAX_COMMAND_BYTES;
/// The original bytes a dead letter carries, at most (the rest is cut,
/// and the header `fulfil.truncated` gives the original length).
pub const DEAD_LETTER_BYTES: usize = 256 << 10;

/// Counters the consumer keeps.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Messages read from the command topics.
    pub received: AtomicU64,
    /// Commands accepted.
    pub accepted: AtomicU64,
    /// Commands refused by a rule.
    pub rejected: AtomicU64,
    /// Messages with a command id that are not valid commands.
    pub invalid: AtomicU64,
    /// Messages sent to the dead-letter topic.
    pub dead_lettered: AtomicU64,
    /// Batches handled.
    pub batches: AtomicU64,
}

/// A consumer of the command topics that commits only when told, a
/// static member of its group as `member` (the store's id): a node
/// restarted after a crash takes its partitions back at once instead of
/// waiting for the dead member's session to lapse, and a second node of
/// the same store fences the first.
pub fn consumer(config: &KafkaConfig, member: &str) -> Result<StreamConsumer, KafkaError> {
    let mut client = client::consumer(config, Group::Commands);
    client
        .set("group.instance.id", member)
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // Oversized messages must still be read, to be dead-lettered rather
        // than stall their partition.
        .set("fetch.message.max.bytes", "16777216")
        .set("receive.message.max.bytes", "67108864");
    let consumer: StreamConsumer = client.create()?;
    let topics = Topics::new(&config.topic_prefix).all_commands();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names)?;
    Ok(consumer)
}

/// What becomes of one message.
enum Fate {
    Apply {
        key: String,
        envelope: Box<schemas::CommandEnvelope>,
    },
    /// An answer for command-results, keyed by the command id.
    Answer(String, CommandResult),
    DeadLetter {
        reason: &'static str,
        error: String,
    },
}

/// Decides a message's fate without touching the store.
fn classify(m: &OwnedMessage) -> Fate {
    let dead = |reason, error: String| Fate::DeadLetter { reason, error };
    let Some(payload) = m.payload().filter(|p| !p.is_empty()) else {
        return dead("empty", "the message has no payload".into());
    };
    if payload.len() > MAX_COMMAND_BYTES {
        let e = schemas::InvalidCommand::TooLarge {
            limit: MAX_COMMAND_BYTES,
        };
        return dead(e.code(), format!("{} bytes; {e}", payload.len()));
    }
    let Some(key) = m.key().map(|k| String::from_utf8_lossy(k).into_owned()) else {
        return dead(
            "missing_key",
            "commands are keyed by aggregate id, to keep their order".into(),
        );
    };
    let envelope = match schemas::parse_command_bytes(payload) {
        Ok(envelope) => envelope,
        Err(e) => {
            // With a command id, the sender can be answered on command-results.
            let id = serde_json::from_slice::<Value>(payload).ok().and_then(|v| {
                v.get("command_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            return match id {
                Some(command_id) => Fate::Answer(
                    command_id.clone(),
                    CommandResult::Invalid {
                        line: None,
                        command_id: Some(command_id),
                        reason: e.code(),
                        message: e.to_string(),
                    },
                ),
                None => dead(e.code(), e.to_string()),
            };
        }
    };
    let reject = |reason, message| {
        Fate::Answer(
            envelope.command_id.clone(),
            CommandResult::Rejected {
                command_id: envelope.command_id.clone(),
                reason,
                message,
            },
        )
    };
    let stream = match stream_of(&envelope.command) {
        Ok(s) => s,
        Err(e) => return reject(e.code(), e.to_string()),
    };
    let (kind, id) = (stream.kind().topic_kind(), stream.id());
    if !m.topic().ends_with(&format!("commands.{kind}")) {
        return reject(
            "wrong_topic",
            format!("a {kind} command belongs on the commands.{kind} topic"),
        );
    }
    if key != id {
        return reject(
            "key_mismatch",
            format!("the key {key:?} is not the command's aggregate id {id:?}"),
        );
    }
    Fate::Apply {
        key,
        envelope: Box::new(envelope),
    }
}

fn result_message(topics: &Topics, command_id: String, result: &CommandResult) -> Outgoing {
    Outgoing {
        topic: topics.results(),
        key: command_id,
        payload: serde_json::to_vec(result).unwrap_or_default(),
        headers: vec![
            ("ce_specversion", "1.0".into()),
            ("ce_type", "fulfil.CommandResult".into()),
            ("ce_source", "fulfil/command-consumer".into()),
            ("content-type", "application/json".into()),
        ],
    }
}

fn dead_letter(topics: &Topics, m: &OwnedMessage, reason: &str, error: &str) -> Outgoing {
    let payload = m.payload().unwrap_or_default();
    let mut headers = vec![
        ("fulfil.source.topic", m.topic().to_owned()),
        ("fulfil.source.partition", m.partition().to_string()),
        ("fulfil.source.offset", m.offset().to_string()),
        ("fulfil.reason", reason.to_owned()),
        ("fulfil.error", error.to_owned()),
    ];
    if payload.len() > DEAD_LETTER_BYTES {
        headers.push(("fulfil.truncated", payload.len().to_string()));
    }
    Outgoing {
        topic: topics.dead_letter(),
        key: m
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default(),
        payload: payload[..payload.len().min(DEAD_LETTER_BYTES)].to_vec(),
        headers,
    }
}

/// The command consumer and the producer of its answers.
pub struct CommandConsumer {
    consumer: StreamConsumer,
    producer: FutureProducer,
    handler: CommandHandler,
    topics: Topics,
    stats: Arc<ConsumerStats>,
    /// Messages handled together, at most.
    batch: usize,
}

impl CommandConsumer {
    /// A consumer of the command topics under `config`, applying through `handler` and counting into `stats`.
    pub fn new(
        config: &KafkaConfig,
        handler: CommandHandler,
        stats: Arc<ConsumerStats>,
    ) -> Result<Self, KafkaError> {
        let member = handler.store().id()?.to_string();
        Ok(Self {
            consumer: consumer(config, &member)?,
            producer: producer(config)?,
            handler,
            topics: Topics::new(&config.topic_prefix),
            stats,
            batch: config.bounds.command_batch,
        })
    }

    /// Consumes until `shutdown` turns true. A store or producer failure
    /// stops it with nothing past the failed batch committed.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), KafkaError> {
        loop {
            let first = tokio::select! {
                m = self.consumer.recv() => m,
                _ = shutdown.changed() => return Ok(()),
            };
            let mut batch = match first {
                Ok(m) => vec![m.detach()],
                Err(e) => {
                    tracing::warn!(error = %e, "command consumer: receive failed; retrying");
                    continue;
                }
            };
            // Whatever else is ready joins the batch.
            while batch.len() < self.batch {
                match tokio::time::timeout(Duration::from_millis(1), self.consumer.recv()).await {
                    Ok(Ok(m)) => batch.push(m.detach()),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "command consumer: receive failed");
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.handle(batch).await?;
        }
    }

    /// The result's message, counted by outcome.
    fn answer(&self, command_id: String, result: &CommandResult) -> Outgoing {
        let counter = match result.outcome() {
            Outcome::Accepted => &self.stats.accepted,
            Outcome::Rejected => &self.stats.rejected,
            Outcome::Invalid => &self.stats.invalid,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result_message(&self.topics, command_id, result)
    }

    async fn handle(&self, batch: Vec<OwnedMessage>) -> Result<(), KafkaError> {
        let stats = &self.stats;
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .received
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut outgoing: Vec<Option<Outgoing>> = vec![None; batch.len()];
        // Commands of one key, in order, as (index, envelope).
        let mut groups: BTreeMap<String, Vec<(usize, schemas::CommandEnvelope)>> = BTreeMap::new();
        for (i, m) in batch.iter().enumerate() {
            match classify(m) {
                Fate::Apply { key, envelope } => {
                    groups.entry(key).or_default().push((i, *envelope));
                }
                Fate::Answer(id, r) => outgoing[i] = Some(self.answer(id, &r)),
                Fate::DeadLetter { reason, error } => {
                    tracing::info!(reason, %error, topic = m.topic(), offset = m.offset(), "dead-lettered");
                    stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    outgoing[i] = Some(dead_letter(&self.topics, m, reason, &error));
                }
            }
        }
        let mut tasks = Vec::with_capacity(groups.len());
        for (_, group) in groups {
            let handler = self.handler.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                group
                    .into_iter()
                    .map(|(i, envelope)| {
                        handler
                            .handle(&envelope)
                            .map(|r| (i, envelope.command_id, r))
                    })
                    .collect::<Result<Vec<_>, _>>()
            }));
        }
        for task in tasks {
            for (i, id, result) in task.await?? {
                outgoing[i] = Some(self.answer(id, &result));
            }
        }
        // Answers go out in message order; every delivery is awaited before the commit.
        let mut deliveries = Vec::with_capacity(outgoing.len());
        for m in outgoing.iter().flatten() {
            deliveries.push(send(&self.producer, m)?);
        }
        for d in deliveries {
            match d.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(e.into()),
                Err(_) => {
                    return Err(KafkaError::Delivery(
                        "the producer dropped a delivery".into(),
                    ))
                }
            }
        }
        let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for m in &batch {
            let offset = next
                .entry((m.topic().to_owned(), m.partition()))
                .or_default();
            *offset = (*offset).max(m.offset() + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            offsets.add_partition_offset(&topic, partition, Offset::Offset(offset))?;
        }
        self.consumer.commit(&offsets, CommitMode::Sync)?;
        Ok(())
    }
}
