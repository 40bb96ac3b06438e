//! The topics, under a prefix:
//!
//! | topic | key | what |
//! |---|---|---|
//! | `commands.{catalog,inventory,order,purchase-order}` | aggregate id | commands from upstream |
//! | `events.{catalog,inventory,order,purchase-order}` | aggregate id | every recorded event (kept forever) |
//! | `command-results` | command id | accepted (with positions) or rejected/invalid (with reason) |
//! | `dead-letter` | the original key | messages that are not commands, with the original bytes |
//! | `writer` | store id | which store owns the topics (its first message), and the lease of the one writer node (one partition) |
//!
//! The aggregate id is the stream without its kind: `MUG@WH1` for the
//! inventory item, `SO-1` for an order, `PO-1` for a purchase order, the
//! SKU or location for the item master.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::{KafkaConfig, KafkaError};

/// The aggregate kinds, as they appear in topic names.
pub const KINDS: [&str; 4] = ["catalog", "inventory", "order", "purchase-order"];

/// Topic names under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// The topics under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The command topic of aggregate kind `kind`.
    pub fn commands(&self, kind: &str) -> String {
        format!("{}commands.{kind}", self.prefix)
    }

    /// The event topic of aggregate kind `kind`.
    pub fn events(&self, kind: &str) -> String {
        format!("{}events.{kind}", self.prefix)
    }

    /// The topic of command results.
    pub fn results(&self) -> String {
        format!("{}command-results", self.prefix)
    }

    /// The topic of messages that are not commands.
    pub fn dead_letter(&self) -> String {
        format!("{}dead-letter", self.prefix)
    }

    /// The one-partition topic that names the store owning the topics.
    pub fn writer(&self) -> String {
        format!("{}writer", self.prefix)
    }

    /// Every command topic.
    pub fn all_commands(&self) -> Vec<String> {
        KINDS.iter().map(|k| self.commands(k)).collect()
    }

    /// Every event topic.
    pub fn all_events(&self) -> Vec<String> {
        KINDS.iter().map(|k| self.events(k)).collect()
    }

    /// Every topic with its retention: events, dead letters and the writer's
    /// claim are kept forever, commands and results for a week.
    ///
    /// Forever is the largest retention Kafka takes, not `-1`: Kafka reads
    /// both as no limit, but tansu 0.6's SQL storage compares `-1` as a
    /// number and deletes every record of such a topic when it next cleans
    /// up (at its restart, in our broker-restart test).
    pub fn all(&self) -> Vec<(String, &'static str)> {
        const WEEK_MS: &str = "604800000";
        const FOREVER_MS: &str = "9223372036854775807";
        let mut all: Vec<(String, &str)> = Vec::new();
        all.extend(self.all_commands().into_iter().map(|t| (t, WEEK_MS)));
        all.extend(self.all_events().into_iter().map(|t| (t, FOREVER_MS)));
        all.push((self.results(), WEEK_MS));
        all.push((self.dead_letter(), FOREVER_MS));
        all.push((self.writer(), FOREVER_MS));
        all
    }
}

/// Creates every topic that does not exist yet; returns the ones it made.
pub async fn create(config: &KafkaConfig) -> Result<Vec<String>, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = config.client().create()?;
    let names = Topics::new(&config.topic_prefix);
    let topics = names.all();
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, retention)| {
            // One partition: its single consumer-group member is the writer.
            let partitions = if *name == names.writer() {
                1
            } else {
                config.partitions
            };
            NewTopic::new(
                name,
                partitions,
                TopicReplication::Fixed(config.replication_factor),
            )
            .set("retention.ms", retention)
            .set("cleanup.policy", "delete")
        })
        .collect();
    let mut made = Vec::new();
    for result in admin.create_topics(&new, &AdminOptions::new()).await? {
        match result {
            Ok(topic) => made.push(topic),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::Topic {
                    topic,
                    message: code.to_string(),
                })
            }
        }
    }
    Ok(made)
}
