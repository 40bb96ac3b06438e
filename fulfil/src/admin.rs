//! Looking after read models and topics: metrics, rebuilds, checks (here
//! or on a running service) and the Kafka topics.

use std::path::Path;

use anyhow::Context;
use clock::Clock;
use event_store::{Store, StoreConfig};

use crate::cli::{MetricsCmd, TopicsCmd};
use crate::config::{kafka_config, ConfigFile};

pub fn metrics(
    store: &Store,
    which: MetricsCmd,
    currency: &crate::people::Currency,
) -> anyhow::Result<()> {
    let models = crate::read_models(store)?;
    match which {
        MetricsCmd::Orders {
            from,
            to,
            channel,
            sku,
            location,
            as_of,
            known_at,
            format,
        } => {
            let filter = projections::orders::OrderFilter {
                from,
                to,
                channel,
                sku,
                location,
            };
            let now = clock::SystemClock.now();
            let past = crate::cli::Past { as_of, known_at };
            let as_of = as_of.unwrap_or(now);
            let m = match crate::past::cut(store, past, now, crate::past::Later::EveryFact)? {
                Some(cut) => models.orders.as_of(&cut)?.metrics(&filter, as_of)?,
                None => models.orders.metrics(&filter, as_of)?,
            };
            crate::output::text(&crate::people::order_metrics(&m, format)?)?;
            Ok(())
        }
        MetricsCmd::Inventory {
            from,
            to,
            sku,
            location,
            tolerance,
            dead_after_days,
            as_of,
            known_at,
            format,
        } => {
            anyhow::ensure!(
                (0.0..=1.0).contains(&tolerance),
                "--tolerance must be between 0 and 1"
            );
            let now = clock::SystemClock.now();
            let past = crate::cli::Past { as_of, known_at };
            let cut = crate::past::cut(store, past, now, crate::past::Later::EveryFact)?;
            let as_of = as_of.unwrap_or(now);
            let mut filter = projections::stock::StockFilter::new(from, to, as_of);
            anyhow::ensure!(filter.from <= filter.to, "--from is after --to");
            filter.sku = sku;
            filter.location = location;
            filter.count_tolerance = tolerance;
            filter.dead_after_days = dead_after_days;
            let m = match cut {
                Some(cut) => models.stock.as_of(&cut)?.metrics(&filter, as_of)?,
                None => models.stock.metrics(&filter, as_of)?,
            };
            crate::output::text(&crate::people::inventory_metrics(&m, currency, format)?)?;
            Ok(())
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    Rebuild,
    Check,
}

/// Rebuilds or checks read models, here or on a running service.
pub fn read_model_admin(
    dir: &Path,
    config: StoreConfig,
    projection: &str,
    server: Option<&crate::client::Server>,
    admin: Admin,
) -> anyhow::Result<()> {
    let names: Vec<&str> = if projection == "all" {
        projections::NAMES.to_vec()
    } else {
        vec![projection]
    };
    let mut agree = true;
    if let Some(server) = server {
        for name in names {
            let (status, body) = match admin {
                Admin::Rebuild => {
                    server.post(&format!("/read-models/{name}/rebuild"), &[], String::new())?
                }
                Admin::Check => server.get(&format!("/read-models/{name}/check"), &[])?,
            };
            match status {
                200 => crate::output::line(format_args!("{body}"))?,
                409 => {
                    agree = false;
                    crate::output::line(format_args!("{body}"))?;
                }
                _ => anyhow::bail!("the service answered {status}: {body}"),
            }
        }
    } else {
        let store =
            fulfil_service::open_log(dir, config).map_err(|e| crate::held(e.into(), dir))?;
        let models = projections::ReadModels::open(&store)?;
        for name in names {
            let known = projections::NAMES.join(", ");
            let line = match admin {
                Admin::Rebuild => {
                    serde_json::to_string(&models.rebuild(name)?.with_context(|| {
                        format!("no read model named {name}; there are {known}")
                    })?)?
                }
                Admin::Check => {
                    models.catch_up()?;
                    let report = models.check(name)?.with_context(|| {
                        format!("no read model named {name}; there are {known}")
                    })?;
                    agree &= report.agrees();
                    serde_json::to_string(&report)?
                }
            };
            crate::output::line(format_args!("{line}"))?;
        }
    }
    if !agree {
        anyhow::bail!("a live read model differs from its rebuild");
    }
    Ok(())
}

pub fn topics(file: &ConfigFile, action: TopicsCmd) -> anyhow::Result<()> {
    match action {
        TopicsCmd::Create { kafka } => {
            let config = kafka_config(file, kafka)?;
            let runtime = tokio::runtime::Runtime::new()?;
            let made = runtime.block_on(fulfil_kafka::topics::create(&config))?;
            for (topic, _) in fulfil_kafka::Topics::new(&config.topic_prefix).all() {
                let state = if made.contains(&topic) {
                    "created"
                } else {
                    "exists"
                };
                crate::output::line(format_args!("{topic}\t{state}"))?;
            }
            Ok(())
        }
        TopicsCmd::List { kafka } => {
            let prefix = kafka
                .topic_prefix
                .or_else(|| file.kafka.topic_prefix.clone())
                .unwrap_or_else(|| fulfil_kafka::KafkaConfig::DEFAULT_PREFIX.to_owned());
            for (topic, retention) in fulfil_kafka::Topics::new(&prefix).all() {
                crate::output::line(format_args!("{topic}\tretention.ms={retention}"))?;
            }
            Ok(())
        }
    }
}
