//! `fulfil`: the command line and the service. It parses arguments and
//! wires the crates together: commands are decided in the aggregates,
//! made durable by `command-handler` in `event-store`, handed between
//! orders and stock by `fulfilment`, and read from `projections`.

mod admin;
mod audit;
mod cli;
mod client;
mod config;
mod demo;
mod exit;
mod forecast;
mod inspect;
mod listing;
mod output;
mod past;
mod people;
mod remote;
mod report;
mod serve;

use std::path::PathBuf;

use clap::Parser;
use clock::Clock;
use event_store::StoreConfig;
use fulfil_service::{open, open_log, open_replica};

use crate::cli::{Cli, Cmd};
use crate::config::{http_address, kafka_config, ConfigFile};

/// Exit codes: see `exit`.
fn main() -> std::process::ExitCode {
    fulfil_service::log_to_stderr();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader stopped early (`| head`): what it read is complete as far as it goes.
        Err(e) if output::closed_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::from(exit::code(&e))
        }
    }
}

fn run(mut cli: Cli) -> anyhow::Result<()> {
    let file = match &cli.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let server = cli
        .server
        .as_deref()
        .map(|url| client::Server::new(url, cli.token.as_deref()))
        .transpose()?;
    if let (Some(server), true) = (&server, cli.command.reads()) {
        return remote::run(server, cli.command, &file.currency()?);
    }
    cli.data_dir_given = cli.data_dir.is_some();
    let data_dir = cli
        .data_dir
        .take()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("./data"));
    let config = StoreConfig {
        cache_capacity_bytes: cli.cache_mb * 1024 * 1024,
        idempotency: file.store.idempotency()?,
        ..StoreConfig::default()
    };
    let today = || clock::SystemClock.now().date_naive();
    match cli.command {
        command @ (Cmd::Orders { .. }
        | Cmd::Order { .. }
        | Cmd::Skus { .. }
        | Cmd::Locations { .. }
        | Cmd::Pos { .. }
        | Cmd::Stock { .. }) => {
            let store = existing(&data_dir, config)?;
            listing::run(&store, command, today(), &file.currency()?)
        }
        Cmd::Demo => demo::run(cli.data_dir_given.then_some(&data_dir), config),
        Cmd::Submit { file, dry_run } => submit(&data_dir, config, server.as_ref(), &file, dry_run),
        Cmd::State { stream, past } => {
            let store = existing(&data_dir, config)?;
            let cut = past::cut(&store, past, clock::SystemClock.now(), past::Later::Refused)?;
            inspect::state(&store, &stream, cut.as_ref())
        }
        Cmd::Events {
            stream,
            event_type,
            correlation_id,
            from,
            to,
            limit,
        } => {
            let query = event_store::EventQuery {
                stream: None,
                event_type,
                correlation_id,
                from,
                to,
                limit: limit.unwrap_or(usize::MAX),
            };
            inspect::events(&existing(&data_dir, config)?, stream, query)
        }
        Cmd::Atp {
            sku,
            location,
            format,
            plan_from: day,
            past,
        } => {
            let store = existing(&data_dir, config)?;
            let model = atp_model(&store)?;
            let day = day
                .or(past.as_of.map(|t| t.date_naive()))
                .unwrap_or_else(today);
            let atp = match past::cut(&store, past, clock::SystemClock.now(), past::Later::Refused)?
            {
                Some(cut) => model.as_of(&cut)?.sku(&sku, location.as_deref(), day)?,
                None => model.sku(&sku, location.as_deref(), day)?,
            };
            report::print_atp(&atp, format)
        }
        Cmd::Promise {
            sku,
            qty,
            by,
            location,
            plan_from: day,
            format,
        } => {
            anyhow::ensure!(qty > 0, "QTY must be at least 1");
            let model = atp_model(&existing(&data_dir, config)?)?;
            let day = day.unwrap_or_else(today);
            let promise = model.promise(&sku, qty, by, location.as_deref(), day)?;
            report::print_promise(&promise, format)
        }
        Cmd::Forecast {
            sku,
            location,
            bucket,
            horizon,
            method,
            alpha,
            alpha_d,
            alpha_p,
            input,
            today: day,
            format,
        } => {
            let method = forecast::method(&method, alpha, alpha_d, alpha_p)?;
            if let Some(path) = input {
                return forecast::input(&path, method, usize::from(horizon), format);
            }
            let models = read_models(&existing(&data_dir, config)?)?;
            let query = replenishment::report::ForecastQuery {
                sku: sku.unwrap_or_default(),
                location,
                bucket: bucket.into(),
                horizon: usize::from(horizon),
                method,
                today: day.unwrap_or_else(today),
            };
            let report = replenishment::report::forecast_report(&models, &query)?;
            forecast::print_report(&report, format)
        }
        Cmd::Replenish {
            sku,
            today: day,
            format,
        } => {
            let models = read_models(&existing(&data_dir, config)?)?;
            let table =
                replenishment::suggestions(&models, sku.as_deref(), day.unwrap_or_else(today))?;
            forecast::print_suggestions(&table, format)
        }
        Cmd::Serve {
            http,
            kafka,
            standby,
            max_body_kb,
        } => {
            let http = http_address(http, &file, 8080)?;
            let kafka = if file.has_kafka(&kafka) {
                Some(kafka_config(&file, kafka)?)
            } else {
                None
            };
            anyhow::ensure!(
                !standby || kafka.is_some(),
                "--standby needs --kafka: the lease is a Kafka consumer group"
            );
            let api = serve::Api {
                address: http,
                access: file.access()?,
                max_body_bytes: max_body_kb as usize * 1024,
            };
            serve::serve(&data_dir, config, api, kafka, standby)
        }
        Cmd::Project {
            http,
            kafka,
            replica,
            reset,
            max_body_kb,
        } => {
            let http = http_address(http, &file, 8081)?;
            let kafka = kafka_config(&file, kafka)?;
            let store = open_replica(&data_dir, config)?;
            let api = serve::Api {
                address: http,
                access: file.access()?,
                max_body_bytes: max_body_kb as usize * 1024,
            };
            serve::project(store, api, kafka, replica, reset)
        }
        Cmd::Topics { action } => admin::topics(&file, action),
        Cmd::Audit {
            which:
                cli::AuditCmd::Oversells {
                    scope,
                    sku,
                    location,
                },
        } => audit::oversells(
            &existing(&data_dir, config)?,
            &scope,
            sku,
            location,
            clock::SystemClock.now(),
        ),
        Cmd::Audit {
            which: cli::AuditCmd::Promises { order_id, format },
        } => {
            let store = existing(&data_dir, config)?;
            audit::promises(&store, &atp_model(&store)?, &order_id, format)
        }
        Cmd::Diagnose {
            which: cli::DiagnoseCmd::LateOrders { scope },
        } => audit::late_orders(
            &existing(&data_dir, config)?,
            &scope,
            clock::SystemClock.now(),
        ),
        Cmd::Metrics { which } => {
            admin::metrics(&existing(&data_dir, config)?, which, &file.currency()?)
        }
        Cmd::Backup { dir } => {
            let copied = match &server {
                Some(server) => {
                    let body = serde_json::json!({ "dir": dir }).to_string();
                    let (status, answer) = server.post("/backup", &[], body)?;
                    anyhow::ensure!(status == 200, "the service answered {status}: {answer}");
                    answer
                }
                None => serde_json::to_value(existing(&data_dir, config)?.backup(&dir)?)?,
            };
            output::line(&copied)?;
            Ok(())
        }
        Cmd::Replay { projection } => {
            let admin = admin::Admin::Rebuild;
            admin::read_model_admin(&data_dir, config, &projection, server.as_ref(), admin)
        }
        Cmd::Check { projection } => {
            let admin = admin::Admin::Check;
            admin::read_model_admin(&data_dir, config, &projection, server.as_ref(), admin)
        }
    }
}

/// Applies (or tries) a file of commands: on the store in `dir` (created
/// if there is none, and said so), on a running service, or as a dry run
/// on the store there is (an empty one if none).
fn submit(
    dir: &std::path::Path,
    config: StoreConfig,
    server: Option<&client::Server>,
    file: &str,
    dry_run: bool,
) -> anyhow::Result<()> {
    if let Some(server) = server {
        return inspect::submit(&inspect::Target::Server(server, dry_run), file);
    }
    let exists = dir.join(event_store::MARKER_FILE).exists();
    if dry_run {
        let scratch = tempfile::tempdir()?;
        let store = if exists {
            existing(dir, config)?
        } else {
            event_store::Store::open(scratch.path(), config)?
        };
        return inspect::submit(&inspect::Target::Trial(&store), file);
    }
    let store = open_log(dir, config).map_err(|e| held(e.into(), dir))?;
    if !exists {
        eprintln!("created a new store in {}", dir.display());
    }
    inspect::submit(&inspect::Target::Store(&store), file)
}

/// The store in `dir` for a command that only reads: one must be there
/// (a query never creates one), and not held by a running service.
fn existing(dir: &std::path::Path, config: StoreConfig) -> anyhow::Result<event_store::Store> {
    if !dir.join(event_store::MARKER_FILE).exists() {
        return Err(exit::Exit::nothing(format!(
            "there is no fulfil store in {}: give the --data-dir of one, or create one with `fulfil submit FILE`",
            dir.display()
        ))
        .into());
    }
    open(dir, config).map_err(|e| held(e.into(), dir))
}

/// Says how to reach a store a running service holds.
fn held(error: anyhow::Error, dir: &std::path::Path) -> anyhow::Error {
    let locked = error.chain().any(|c| {
        matches!(
            c.downcast_ref::<event_store::StoreError>(),
            Some(event_store::StoreError::Locked { .. })
        )
    });
    if locked {
        error.context(format!(
            "the store in {} is held by a running process, most likely `fulfil serve`: ask it instead with --server http://HOST:PORT (or FULFIL_SERVER), or stop it",
            dir.display()
        ))
    } else {
        error
    }
}

/// Every read model, caught up with the log.
fn read_models(store: &event_store::Store) -> anyhow::Result<projections::ReadModels> {
    let models = projections::ReadModels::open(store)?;
    models.catch_up()?;
    Ok(models)
}

/// The ATP read model, caught up with the log.
fn atp_model(store: &event_store::Store) -> anyhow::Result<projections::atp::AtpModel> {
    let model = projections::atp::AtpModel::open(store)?;
    model.catch_up()?;
    Ok(model)
}
