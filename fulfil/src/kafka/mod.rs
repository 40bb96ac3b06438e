//! fulfil on Kafka: commands in from topics, events out through the
//! outbox relay, results and dead letters beside them.
//!
//! - `config`: brokers, topic prefix and client settings from a TOML file,
//!   the environment and flags (flags win);
//! - `topics`: the topic names and `fulfil topics create`;
//! - `wire`: how an event or a result becomes a Kafka message (JSON payload,
//!   CloudEvents-style headers);
//! - `commands`: the command consumer (at least once from Kafka, once in
//!   the store by command id; offsets committed after the append is durable);
//! - `relay`: the outbox relay (idempotent producer; an event is marked
//!   published only after its delivery report);
//! - `sequencer` and `replica`: read models built from the event topics on
//!   a node of their own, in log order, each event folded once.

pub mod commands;
pub mod config;
pub mod relay;
pub mod replica;
pub mod sequencer;
pub mod topics;
pub mod wire;

pub use config::KafkaConfig;
pub use topics::Topics;

/// What can go wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("kafka: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Store(#[from] event_store::StoreError),
    #[error(transparent)]
    Projection(#[from] projections::ProjectionError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("creating topic {topic}: {message}")]
    Topic { topic: String, message: String },
    #[error("a worker task failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
}
