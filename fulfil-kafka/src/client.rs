//! The one place Kafka clients are built: every consumer group's name, the
//! settings each kind of client shares, and reading a header.

use rdkafka::message::{Headers, Message};
use rdkafka::producer::FutureProducer;
use rdkafka::ClientConfig;

use crate::{KafkaConfig, KafkaError};

/// Every consumer group fulfil joins or commits under.
#[derive(Debug, Clone, Copy)]
pub enum Group<'a> {
    /// The command consumers, sharing the command topics.
    Commands,
    /// The writer lease: its one partition is held by the node that writes.
    Writer,
    /// Readers of chosen offsets for the history check (never joined).
    WriterChecks,
    /// A read replica, reporting its offsets.
    Projections(&'a str),
}

impl Group<'_> {
    /// The group's name under `config`'s topic prefix.
    pub fn name(self, config: &KafkaConfig) -> String {
        let prefix = &config.topic_prefix;
        match self {
            Self::Commands => format!("{prefix}fulfil-commands"),
            Self::Writer => format!("{prefix}writer"),
            Self::WriterChecks => format!("{prefix}writer-checks"),
            Self::Projections(replica) => format!("{prefix}projections.{replica}"),
        }
    }
}

/// A consumer's settings in `group`, committing only when told.
pub fn consumer(config: &KafkaConfig, group: Group<'_>) -> ClientConfig {
    let mut client = config.client();
    client
        .set("group.id", group.name(config))
        .set("enable.auto.commit", "false");
    client
}

/// An idempotent producer built from `config`.
pub fn producer(config: &KafkaConfig) -> Result<FutureProducer, KafkaError> {
    let mut client = config.client();
    client
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // Delivery is retried until it succeeds; the outbox is the buffer.
        .set("message.timeout.ms", "0")
        .set("linger.ms", "2");
    Ok(client.create()?)
}

/// A header of a message as text, if present.
pub fn header(m: &impl Message, name: &str) -> Option<String> {
    let headers = m.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
}
