//! fulfil on Kafka: commands in from topics, events out through the
//! outbox relay, results and dead letters beside them. The only crate that
//! speaks Kafka.
//!
//! - `config`: brokers, topic prefix and client settings from the `[kafka]`
//!   table of a TOML file, the environment and flags (flags win);
//! - `client`: where every client is built and every consumer group named;
//! - `topics`: the topic names and `fulfil topics create`;
//! - `wire`: how an event or a result becomes a Kafka message (JSON payload,
//!   CloudEvents-style headers);
//! - `commands`: the command consumer (at least once from Kafka, once in
//!   the store by command id; offsets committed after the append is durable);
//! - `relay`: the outbox relay (idempotent producer; an event is marked
//!   published only after its delivery report);
//! - `lease`: one store owns the topics (its claim), one node at a time
//!   writes (the lease);
//! - `epoch`: each start of a writer is numbered on the writer topic and in
//!   the store, refusing stale copies and stopping a superseded writer;
//! - `sequencer` and `replica`: read models built from the event topics on
//!   a node of their own, in log order, each event folded once.

pub mod client;
pub mod commands;
pub mod config;
pub mod epoch;
pub mod lease;
pub mod relay;
pub mod replica;
pub mod sequencer;
pub mod topics;
pub mod wire;

pub use client::Group;
pub use config::{Bounds, KafkaConfig, KafkaFile};
pub use topics::Topics;

/// What can go wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
// Each variant's #[error] message says what it and its fields mean.
#[allow(missing_docs)]
pub enum KafkaError {
    #[error("kafka: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Store(#[from] event_store::StoreError),
    #[error(transparent)]
    Projection(#[from] projections::ProjectionError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("delivery: {0}")]
    Delivery(String),
    #[error("the writer claim: {0}")]
    Claim(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("creating topic {topic}: {message}")]
    Topic { topic: String, message: String },
    #[error("a worker task failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
    #[error("the topics belong to store {owner} (claimed on {topic} by {node} at {since}); this node's store is {store}. A second store would write a second history into them: run the owner's data directory, or use another --topic-prefix")]
    NotTheWriter {
        topic: String,
        owner: uuid::Uuid,
        node: String,
        since: chrono::DateTime<chrono::Utc>,
        store: uuid::Uuid,
    },
    #[error("this node's store is behind the topics: {topic} holds position {position}, which its log (head {head}) does not hold as the same event. It is a stale or foreign copy; writing from it would reuse positions")]
    StaleStore {
        topic: String,
        position: u64,
        head: u64,
    },
    #[error(
        "lost the writer lease ({0}): another node took over; stopping so that one node writes"
    )]
    LostLease(String),
    #[error("writer epoch {epoch} was started by {node} at {at}, after this store last wrote (as epoch {mine}): another copy of the store is or was the writer since, so this one is stale; run that copy, or take a current copy of it")]
    Superseded {
        epoch: u64,
        node: String,
        at: chrono::DateTime<chrono::Utc>,
        mine: u64,
    },
    #[error("another node started as the writer (epoch {epoch}, {node}, at {at}) while this one wrote as epoch {mine}: stopping so that one node writes")]
    Overtaken {
        epoch: u64,
        node: String,
        at: chrono::DateTime<chrono::Utc>,
        mine: u64,
    },
    #[error("the last writer (epoch {epoch}, {node}) recorded log head {recorded}; this store's head is {head}: it is a stale copy, and writing from it would reuse positions")]
    BehindLastWriter {
        epoch: u64,
        node: String,
        recorded: u64,
        head: u64,
    },
}
