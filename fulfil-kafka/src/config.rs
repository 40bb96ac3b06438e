//! Where the Kafka settings come from: a TOML file, then the environment,
//! then flags, each overriding the one before. Every librdkafka client
//! setting (security included) passes through under `[kafka.client]` or
//! `-X key=value`.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::Deserialize;

use crate::KafkaError;

/// Whether a librdkafka setting holds a secret (a password, a private
/// key, a client secret): its value is never shown.
pub fn is_secret(key: &str) -> bool {
    ["password", "secret", "key.pem", "ssl.key", "token", "jaas"]
        .iter()
        .any(|s| key.contains(s))
}

/// Client settings as `Debug` shows them: secrets as `<redacted>`.
struct Redacted<'a>(&'a BTreeMap<String, String>);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                (
                    k,
                    if is_secret(k) {
                        "<redacted>"
                    } else {
                        v.as_str()
                    },
                )
            }))
            .finish()
    }
}

/// The `[kafka]` table of the configuration file.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaFile {
    /// The bootstrap servers.
    pub brokers: Option<String>,
    /// Prepended to every topic name.
    pub topic_prefix: Option<String>,
    /// Partitions of the topics `fulfil topics create` makes.
    pub partitions: Option<i32>,
    /// Replicas of each topic it makes.
    pub replication_factor: Option<i32>,
    /// On a clean stop, how long the outbox relay may go on publishing
    /// (0 to 3600 seconds; default 10).
    pub drain_seconds: Option<u64>,
    /// Command messages handled together, at most (1 to 10,000; default 256).
    pub command_batch: Option<usize>,
    /// Outbox events published per round before their delivery reports
    /// are awaited (1 to 100,000; default 512).
    pub relay_batch: Option<usize>,
    /// Early events a replica holds before it pauses the partitions that
    /// are ahead (64 to 10,000,000; default 100,000).
    pub replica_hold: Option<usize>,
    /// Passed to every Kafka client as is, e.g. `"security.protocol" = "SASL_SSL"`.
    #[serde(default)]
    pub client: BTreeMap<String, String>,
}

/// The settings the Kafka side runs with.
#[derive(Clone, PartialEq)]
pub struct KafkaConfig {
    /// The bootstrap servers.
    pub brokers: String,
    /// Prepended to every topic name, e.g. `fulfil.`.
    pub topic_prefix: String,
    /// Partitions of the topics `fulfil topics create` makes.
    pub partitions: i32,
    /// Replicas of each topic `fulfil topics create` makes.
    pub replication_factor: i32,
    /// On a clean stop, how long the outbox relay may go on publishing what
    /// is recorded; what it could not publish stays for the next start.
    pub drain: std::time::Duration,
    /// How much each queue on the Kafka side may hold.
    pub bounds: Bounds,
    /// Client settings passed through to librdkafka.
    pub client: BTreeMap<String, String>,
}

/// The bounds of the queues on the Kafka side; each is a gauge on
/// `/metrics`. librdkafka's own buffers are bounded by its settings
/// (`queued.max.messages.kbytes` for a consumer's prefetch,
/// `queue.buffering.max.kbytes` for a producer), which pass through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Command messages handled (and held) together, at most.
    pub command_batch: usize,
    /// Outbox events in flight to the broker, at most.
    pub relay_batch: usize,
    /// Early events a replica holds before pausing the partitions ahead
    /// (it stops reading at the bound, so it holds at most one more).
    pub replica_hold: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            command_batch: 256,
            relay_batch: 512,
            replica_hold: 100_000,
        }
    }
}

/// `value` of `[kafka] name`, if it lies in `range`.
fn bounded(
    name: &str,
    value: Option<usize>,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, KafkaError> {
    match value {
        None => Ok(default),
        Some(v) if range.contains(&v) => Ok(v),
        Some(v) => Err(KafkaError::Config(format!(
            "[kafka] {name} = {v}: expected {} to {}",
            range.start(),
            range.end()
        ))),
    }
}

impl std::fmt::Debug for KafkaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaFile")
            .field("brokers", &self.brokers)
            .field("topic_prefix", &self.topic_prefix)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("drain_seconds", &self.drain_seconds)
            .field("command_batch", &self.command_batch)
            .field("relay_batch", &self.relay_batch)
            .field("replica_hold", &self.replica_hold)
            .field("client", &Redacted(&self.client))
            .finish()
    }
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic_prefix", &self.topic_prefix)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("drain", &self.drain)
            .field("bounds", &self.bounds)
            .field("client", &Redacted(&self.client))
            .finish()
    }
}

impl KafkaConfig {
    /// The topic prefix when none is given.
    pub const DEFAULT_PREFIX: &'static str = "fulfil.";
    /// Partitions per topic when none are given.
    pub const DEFAULT_PARTITIONS: i32 = 6;
    /// How long a clean stop drains the outbox when nothing says.
    pub const DEFAULT_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

    /// Merges the file's settings under the flags' (and environment's):
    /// a value given on the command line wins.
    pub fn resolve(
        file: &KafkaFile,
        brokers: Option<String>,
        topic_prefix: Option<String>,
        settings: &[String],
    ) -> Result<Self, KafkaError> {
        let brokers = brokers.or_else(|| file.brokers.clone()).ok_or_else(|| {
            KafkaError::Config(
                "no brokers: pass --kafka, set FULFIL_KAFKA or [kafka] brokers".into(),
            )
        })?;
        let mut client = file.client.clone();
        for s in settings {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| KafkaError::Config(format!("-X {s}: expected key=value")))?;
            client.insert(k.trim().to_owned(), v.trim().to_owned());
        }
        Ok(Self {
            brokers,
            topic_prefix: topic_prefix
                .or_else(|| file.topic_prefix.clone())
                .unwrap_or_else(|| Self::DEFAULT_PREFIX.to_owned()),
            partitions: file.partitions.unwrap_or(Self::DEFAULT_PARTITIONS),
            replication_factor: file.replication_factor.unwrap_or(1),
            drain: match file.drain_seconds {
                None => Self::DEFAULT_DRAIN,
                Some(s) if s <= 3600 => std::time::Duration::from_secs(s),
                Some(s) => {
                    return Err(KafkaError::Config(format!(
                        "[kafka] drain_seconds = {s}: expected 0 to 3600"
                    )))
                }
            },
            bounds: {
                let d = Bounds::default();
                Bounds {
                    command_batch: bounded(
                        "command_batch",
                        file.command_batch,
                        d.command_batch,
                        1..=10_000,
                    )?,
                    relay_batch: bounded(
                        "relay_batch",
                        file.relay_batch,
                        d.relay_batch,
                        1..=100_000,
                    )?,
                    replica_hold: bounded(
                        "replica_hold",
                        file.replica_hold,
                        d.replica_hold,
                        64..=10_000_000,
                    )?,
                }
            },
            client,
        })
    }

    /// A client configuration with the brokers and every pass-through setting.
    pub fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in &self.client {
            c.set(k, v);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_client_settings_are_never_shown() {
        let file = KafkaFile {
            brokers: Some("k:9092".into()),
            client: [
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "PLAIN"),
                ("sasl.username", "fulfil"),
                ("sasl.password", "hunter2-hunter2"),
                ("ssl.key.password", "pem-pass-0001"),
                ("sasl.oauthbearer.client.secret", "oauth-secret-0001"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            ..KafkaFile::default()
        };
        let config = KafkaConfig::resolve(&file, None, None, &[]).unwrap();
        for shown in [format!("{file:?}"), format!("{config:?}")] {
            assert!(
                shown.contains("SASL_SSL") && shown.contains("fulfil"),
                "{shown}"
            );
            for secret in ["hunter2-hunter2", "pem-pass-0001", "oauth-secret-0001"] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
        // They still reach librdkafka.
        assert_eq!(config.client["sasl.password"], "hunter2-hunter2");
    }

    #[test]
    fn flags_win_over_the_file_and_settings_pass_through() {
        let file: KafkaFile = toml::from_str(
            r#"
            brokers = "file:9092"
            topic_prefix = "shop."
            [client]
            "security.protocol" = "SASL_SSL"
            "sasl.mechanism" = "PLAIN"
            "#,
        )
        .unwrap();
        let c = KafkaConfig::resolve(
            &file,
            Some("flag:9092".into()),
            None,
            &["sasl.mechanism=SCRAM-SHA-512".into()],
        )
        .unwrap();
        assert_eq!(c.brokers, "flag:9092");
        assert_eq!(c.topic_prefix, "shop.");
        assert_eq!(c.client["security.protocol"], "SASL_SSL");
        assert_eq!(c.client["sasl.mechanism"], "SCRAM-SHA-512");
        let none = KafkaConfig::resolve(&KafkaFile::default(), None, None, &[]);
        assert!(matches!(none, Err(KafkaError::Config(m)) if m.contains("no brokers")));
        let bad = KafkaConfig::resolve(&file, None, None, &["nonsense".into()]);
        assert!(matches!(bad, Err(KafkaError::Config(m)) if m.contains("key=value")));
        let file: KafkaFile = toml::from_str("brokers = \"k:9092\"\nrelay_batch = 0").unwrap();
        let zero = KafkaConfig::resolve(&file, None, None, &[]);
        assert!(
            matches!(zero, Err(KafkaError::Config(m)) if m.contains("relay_batch = 0: expected 1 to 100000"))
        );
        let file: KafkaFile = toml::from_str("brokers = \"k:9092\"\nreplica_hold = 5000").unwrap();
        let hold = KafkaConfig::resolve(&file, None, None, &[]).unwrap().bounds;
        assert_eq!((hold.replica_hold, hold.command_batch), (5000, 256));
        let typo: Result<KafkaFile, _> = toml::from_str("brokerz = \"x\"");
        assert!(typo.is_err(), "unknown settings are refused");
    }
}
