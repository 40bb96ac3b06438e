//! The configuration file (`--config fulfil.toml`): the data directory, the
//! HTTP address, the store-wide currency and the `[kafka]` table. Flags and
//! the environment win over it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use fulfil_kafka::{KafkaConfig, KafkaFile};
use serde::Deserialize;

use crate::cli::KafkaArgs;

/// The configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub data_dir: Option<PathBuf>,
    pub http: Option<String>,
    /// The store-wide currency of every amount (ISO 4217; default USD).
    pub currency: Option<String>,
    #[serde(default)]
    pub kafka: KafkaFile,
    #[serde(default)]
    pub access: AccessFile,
    #[serde(default)]
    pub store: StoreFile,
}

/// The `[store]` table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreFile {
    /// Days a command id is remembered (1 to 3,650; default 30).
    pub idempotency_days: Option<u32>,
    /// Log events a command id is remembered across (1,000 to 10^12;
    /// default 20,000,000).
    pub idempotency_events: Option<u64>,
}

impl StoreFile {
    /// The idempotency window: the file's, else the store's default.
    pub fn idempotency(&self) -> anyhow::Result<event_store::IdempotencyWindow> {
        let d = event_store::IdempotencyWindow::default();
        let days = self.idempotency_days.unwrap_or(d.days);
        let events = self.idempotency_events.unwrap_or(d.events);
        anyhow::ensure!(
            (1..=3650).contains(&days),
            "[store] idempotency_days = {days}: expected 1 to 3650"
        );
        anyhow::ensure!(
            (1_000..=1_000_000_000_000).contains(&events),
            "[store] idempotency_events = {events}: expected 1000 to 1000000000000"
        );
        Ok(event_store::IdempotencyWindow { days, events })
    }
}

/// The `[access]` table: the API's bearer tokens. The environment
/// (`FULFIL_ANALYST_TOKENS`, `FULFIL_OPERATOR_TOKENS`, comma-separated)
/// wins over it. No token at all leaves the API open.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccessFile {
    /// Tokens that read.
    #[serde(default)]
    pub analyst_tokens: Vec<String>,
    /// Tokens that read and write.
    #[serde(default)]
    pub operator_tokens: Vec<String>,
}

impl std::fmt::Debug for AccessFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessFile")
            .field("analyst_tokens", &self.analyst_tokens.len())
            .field("operator_tokens", &self.operator_tokens.len())
            .finish()
    }
}

impl ConfigFile {
    /// Reads the file; unknown settings are refused.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("configuration: reading {}", path.display()))?;
        let file: Self =
            toml::from_str(&text).with_context(|| format!("configuration: {}", path.display()))?;
        // Out-of-range values are refused when the file is read, not when first used.
        file.currency()
            .with_context(|| format!("configuration: {}", path.display()))?;
        file.access()
            .with_context(|| format!("configuration: {}", path.display()))?;
        file.store
            .idempotency()
            .with_context(|| format!("configuration: {}", path.display()))?;
        Ok(file)
    }

    /// The currency amounts are shown in: the file's, else USD.
    pub fn currency(&self) -> anyhow::Result<crate::people::Currency> {
        self.currency.as_deref().map_or_else(
            || Ok(crate::people::Currency::default()),
            crate::people::Currency::new,
        )
    }

    /// The API's access: the environment's tokens, else the file's.
    pub fn access(&self) -> anyhow::Result<fulfil_http::Access> {
        let from_env = |name: &str| {
            std::env::var(name).ok().map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
        };
        let analysts =
            from_env("FULFIL_ANALYST_TOKENS").unwrap_or_else(|| self.access.analyst_tokens.clone());
        let operators = from_env("FULFIL_OPERATOR_TOKENS")
            .unwrap_or_else(|| self.access.operator_tokens.clone());
        Ok(fulfil_http::Access::new(&analysts, &operators)?)
    }

    /// Whether Kafka is configured, by flag, environment or file.
    pub fn has_kafka(&self, args: &KafkaArgs) -> bool {
        args.brokers.is_some() || self.kafka.brokers.is_some()
    }
}

/// The Kafka settings: the flags over the file's `[kafka]` table.
pub fn kafka_config(file: &ConfigFile, args: KafkaArgs) -> anyhow::Result<KafkaConfig> {
    Ok(KafkaConfig::resolve(
        &file.kafka,
        args.brokers,
        args.topic_prefix,
        &args.settings,
    )?)
}

/// The HTTP address: the flag (or `FULFIL_HTTP`), then the config file, then
/// loopback on `port`.
pub fn http_address(
    flag: Option<SocketAddr>,
    file: &ConfigFile,
    port: u16,
) -> anyhow::Result<SocketAddr> {
    Ok(match (flag, &file.http) {
        (Some(h), _) => h,
        (None, Some(h)) => h
            .parse()
            .with_context(|| format!("http = {h:?} in the config file"))?,
        (None, None) => SocketAddr::from(([127, 0, 0, 1], port)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every configuration example in docs/operating.md is one the file takes.
    #[test]
    fn the_documented_configuration_examples_are_read_as_written() {
        let page = include_str!("../../docs/operating.md");
        let blocks: Vec<&str> = page
            .split("```toml")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .collect();
        assert!(blocks.len() >= 2, "the full example and the [access] one");
        for block in blocks {
            let file: ConfigFile = toml::from_str(block).unwrap_or_else(|e| panic!("{block}\n{e}"));
            file.currency().unwrap();
            file.store.idempotency().unwrap();
            file.access().unwrap();
        }
    }

    #[test]
    fn the_file_holds_the_node_and_its_kafka_table_and_refuses_typos() {
        let file: ConfigFile = toml::from_str(
            "data_dir = \"/var/lib/fulfil\"\nhttp = \"0.0.0.0:8080\"\n[kafka]\nbrokers = \"k:9092\"\n[kafka.client]\n\"security.protocol\" = \"SASL_SSL\"\n",
        )
        .unwrap();
        assert_eq!(file.data_dir, Some(PathBuf::from("/var/lib/fulfil")));
        assert_eq!(file.kafka.brokers.as_deref(), Some("k:9092"));
        assert_eq!(file.kafka.client["security.protocol"], "SASL_SSL");
        let typo: Result<ConfigFile, _> = toml::from_str("[kafka]\nbrokerz = \"x\"");
        assert!(typo.is_err(), "unknown settings are refused");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fulfil.toml");
        std::fs::write(&path, "currency = \"euro\"\n").unwrap();
        let err = ConfigFile::load(&path).unwrap_err();
        assert!(format!("{err:#}").contains("ISO 4217"), "{err:#}");
        std::fs::write(&path, "currency = \"EUR\"\n").unwrap();
        assert_eq!(
            ConfigFile::load(&path).unwrap().currency().unwrap(),
            crate::people::Currency::new("EUR").unwrap()
        );
        let address = http_address(None, &file, 8080).unwrap();
        assert_eq!(address, "0.0.0.0:8080".parse().unwrap());
    }
}
