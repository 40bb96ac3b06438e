//! `fulfil`: the service and CLI. It parses arguments and wires the crates
//! together; the business rules live in the aggregates.

mod bench;
mod bench_kafka;
mod bench_queries;
mod demo;

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use event_store::{Store, StoreConfig, StreamId};

use fulfil::handler::{CommandHandler, CommandResult};
use fulfil::process::FulfilmentProcess;

#[derive(Parser)]
#[command(
    name = "fulfil",
    version,
    about = "Event-sourced order and inventory management"
)]
struct Cli {
    /// The data directory of the embedded store (default ./data).
    #[arg(long, global = true, env = "FULFIL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A TOML configuration file (data_dir, http, [kafka], [kafka.client]); flags and environment win over it.
    #[arg(long, global = true, env = "FULFIL_CONFIG")]
    config: Option<PathBuf>,
    /// sled page cache size in MiB.
    #[arg(long, global = true, default_value_t = 64, env = "FULFIL_CACHE_MB")]
    cache_mb: u64,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the end-to-end demonstration on a fresh store under the data directory.
    Demo,
    /// Applies JSON-lines commands from FILE (or - for stdin); prints one JSON result per line.
    Submit {
        /// The file of commands, one JSON object per line; - reads stdin.
        file: String,
    },
    /// Drives generated orders through the embedded pipeline from concurrent clients and reports throughput and latency.
    Bench {
        /// Orders in the full-speed phase (the paced phase runs half as many).
        #[arg(long, default_value_t = 20_000)]
        orders: usize,
        /// Concurrent clients placing orders.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Distinct SKUs the orders draw from.
        #[arg(long, default_value_t = 500)]
        skus: usize,
        /// Warehouses holding every SKU.
        #[arg(long, default_value_t = 3)]
        locations: usize,
        /// Orders per second in the paced phase (default: half the full-speed rate).
        #[arg(long)]
        rate: Option<f64>,
    },
    /// Measures the read side on a seeded store: read-model rebuilds beside decoding alone, and ATP queries over HTTP beside in-process.
    BenchQueries {
        /// Orders seeded through the pipeline before measuring.
        #[arg(long, default_value_t = 20_000)]
        orders: usize,
        #[arg(long, default_value_t = 500)]
        skus: usize,
        #[arg(long, default_value_t = 3)]
        locations: usize,
        /// Concurrent query clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// ATP queries in all, per path.
        #[arg(long, default_value_t = 40_000)]
        queries: usize,
    },
    /// Commands end to end through a Kafka broker, beside the broker's own produce+consume rate.
    BenchKafka {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// Commands (and raw messages) per path.
        #[arg(long, default_value_t = 20_000)]
        commands: usize,
    },
    /// Available-to-promise for a SKU: now, by day and cumulatively, per location and in total (JSON).
    Atp {
        sku: String,
        /// Only this location.
        #[arg(long)]
        location: Option<String>,
        /// Output: a table for people, JSON or CSV for tools.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// The day to count from (default: today by the clock).
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
    },
    /// Can QTY of SKU be committed by a date? Yes or no, from which locations, and the earliest date.
    Promise {
        sku: String,
        qty: u64,
        /// The date the customer needs it by (YYYY-MM-DD).
        #[arg(long)]
        by: chrono::NaiveDate,
        /// Only from this location.
        #[arg(long)]
        location: Option<String>,
        /// The day to count from (default: today by the clock).
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Runs the service on the embedded store: the fulfilment process, the read models and the HTTP API.
    Serve {
        /// Address the HTTP API listens on (default 127.0.0.1:8080).
        #[arg(long, env = "FULFIL_HTTP")]
        http: Option<std::net::SocketAddr>,
        #[command(flatten)]
        kafka: KafkaArgs,
        /// With --kafka: stand by in the writer group until this node holds the writer lease (a hot spare with a copy of the store).
        #[arg(long)]
        standby: bool,
    },
    /// Runs a read replica: the read models built from the event topics (in log order, each event once) in a data directory of its own, with the HTTP queries on top.
    Project {
        /// Address the HTTP API listens on (default 127.0.0.1:8081).
        #[arg(long, env = "FULFIL_HTTP")]
        http: Option<std::net::SocketAddr>,
        #[command(flatten)]
        kafka: KafkaArgs,
        /// The replica's name: its offsets are reported under the consumer group `<prefix>projections.<NAME>` (default: its store's id).
        #[arg(long)]
        replica: Option<String>,
        /// Drops the read models first, to build them again from the start of the topics.
        #[arg(long)]
        reset: bool,
    },
    /// Kafka topics: `fulfil topics create --kafka BROKERS` makes every topic fulfil uses.
    Topics {
        #[command(subcommand)]
        action: TopicsCmd,
    },
    /// Order or inventory metrics from the read models (table, JSON or CSV).
    Metrics {
        #[command(subcommand)]
        which: MetricsCmd,
    },
    /// Rebuilds a read model (atp, orders, stock or all) from the log, beside the live copy, then swaps it in.
    Replay {
        #[arg(long)]
        projection: String,
        /// Ask a running `fulfil serve` at this URL (it holds the store) instead of opening the store.
        #[arg(long)]
        server: Option<String>,
    },
    /// Compares a live read model (atp, orders, stock or all) with a fresh rebuild; exits 1 if they differ.
    Check {
        #[arg(long)]
        projection: String,
        /// Ask a running `fulfil serve` at this URL instead of opening the store.
        #[arg(long)]
        server: Option<String>,
    },
    /// Prints the current state of one aggregate (order-…, inventory-SKU@LOC, po-…, sku-…, location-…) as JSON.
    State {
        /// The aggregate's stream, for example order-SO-1 or inventory-SKU-1@WH1.
        stream: String,
    },
    /// Prints the event log as JSON lines.
    Events {
        /// Only this stream (for example inventory-SKU-1@WH1).
        #[arg(long)]
        stream: Option<String>,
        /// The first global position (or, with --stream, the first version).
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// At most this many events.
        #[arg(long)]
        limit: Option<usize>,
    },
}

/// Where Kafka is and how to talk to it.
#[derive(clap::Args, Clone)]
struct KafkaArgs {
    /// Kafka bootstrap servers; without them (and without [kafka] brokers in
    /// the config file) everything runs in-process on the embedded store.
    #[arg(long = "kafka", env = "FULFIL_KAFKA")]
    brokers: Option<String>,
    /// Prepended to every topic name (default `fulfil.`).
    #[arg(long, env = "FULFIL_TOPIC_PREFIX")]
    topic_prefix: Option<String>,
    /// A librdkafka client setting, key=value (repeatable), e.g. -X security.protocol=SASL_SSL.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    settings: Vec<String>,
}

#[derive(Subcommand)]
enum TopicsCmd {
    /// Creates the command, event, result and dead-letter topics that do not exist yet.
    Create {
        #[command(flatten)]
        kafka: KafkaArgs,
    },
    /// Prints the topic names and their retention.
    List {
        #[command(flatten)]
        kafka: KafkaArgs,
    },
}

#[derive(Subcommand)]
enum MetricsCmd {
    /// Cycle time, on-time shipment, perfect orders, fill rate and backorders of orders placed in a period.
    Orders {
        /// Placed on or after this day.
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Placed on or before this day.
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        sku: Option<String>,
        /// Only orders with units allocated or shipped from this location.
        #[arg(long)]
        location: Option<String>,
        /// When backorder ages are counted (RFC 3339; default: now).
        #[arg(long)]
        as_of: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Turnover, days of inventory, stock accuracy, stockouts, shortages and dead stock over a period.
    Inventory {
        /// First day (default: 29 days before --to).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last day (default: the day of --as-of).
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        #[arg(long)]
        sku: Option<String>,
        #[arg(long)]
        location: Option<String>,
        /// A count within this share of the expected quantity is accurate.
        #[arg(long, default_value_t = projections::stock::StockFilter::DEFAULT_TOLERANCE)]
        tolerance: f64,
        /// On-hand nobody reserved for this many days is dead stock.
        #[arg(long, default_value_t = projections::stock::StockFilter::DEFAULT_DEAD_AFTER_DAYS)]
        dead_after_days: i64,
        /// When open stockouts and dead stock are counted (RFC 3339; default: now).
        #[arg(long)]
        as_of: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut cli = Cli::parse();
    let file = match &cli.config {
        Some(path) => fulfil::kafka::config::ConfigFile::load(path)?,
        None => fulfil::kafka::config::ConfigFile::default(),
    };
    let data_dir = cli
        .data_dir
        .take()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("./data"));
    let cache_mb = cli.cache_mb;
    let make_config = move || StoreConfig {
        cache_capacity_bytes: cache_mb * 1024 * 1024,
        ..StoreConfig::default()
    };
    let config = make_config();
    match cli.command {
        Cmd::Bench {
            orders,
            clients,
            skus,
            locations,
            rate,
        } => bench::run(
            &data_dir,
            make_config,
            &bench::BenchPlan {
                orders,
                clients: clients.max(1),
                skus: skus.max(1),
                locations: locations.max(1),
                rate,
            },
        ),
        Cmd::BenchQueries {
            orders,
            skus,
            locations,
            clients,
            queries,
        } => bench_queries::run(
            &data_dir,
            config,
            &bench_queries::QueryPlan {
                orders,
                skus: skus.max(1),
                locations: locations.max(1),
                clients: clients.max(1),
                queries,
            },
        ),
        Cmd::BenchKafka { kafka, commands } => {
            bench_kafka::run(&data_dir, config, kafka_config(&file, kafka)?, commands)
        }
        Cmd::Demo => demo::run(&data_dir, config),
        Cmd::Submit { file } => submit(&open_writer(&data_dir, config)?, &file),
        Cmd::State { stream } => state(&open(&data_dir, config)?, &stream),
        Cmd::Atp {
            sku,
            location,
            format,
            today,
        } => {
            let model = atp_model(&open(&data_dir, config)?)?;
            let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let atp = model.sku(&sku, location.as_deref(), today)?;
            print_atp(&atp, format)
        }
        Cmd::Promise {
            sku,
            qty,
            by,
            location,
            today,
            format,
        } => {
            anyhow::ensure!(qty > 0, "QTY must be at least 1");
            let model = atp_model(&open(&data_dir, config)?)?;
            let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let promise = model.promise(&sku, qty, by, location.as_deref(), today)?;
            print_report(&promise, format)
        }
        Cmd::Serve {
            http,
            kafka,
            standby,
        } => {
            let http = http_address(http, &file, 8080)?;
            let kafka = if kafka.brokers.is_some() || file.kafka.brokers.is_some() {
                Some(kafka_config(&file, kafka)?)
            } else {
                None
            };
            anyhow::ensure!(
                !standby || kafka.is_some(),
                "--standby needs --kafka: the lease is a Kafka consumer group"
            );
            serve(open_writer(&data_dir, config)?, http, kafka, standby)
        }
        Cmd::Project {
            http,
            kafka,
            replica,
            reset,
        } => {
            let http = http_address(http, &file, 8081)?;
            let kafka = kafka_config(&file, kafka)?;
            project(
                open_replica(&data_dir, config)?,
                http,
                kafka,
                replica,
                reset,
            )
        }
        Cmd::Topics { action } => topics(&file, action),
        Cmd::Metrics { which } => metrics(&open(&data_dir, config)?, which),
        Cmd::Replay { projection, server } => {
            read_model_admin(&data_dir, config, &projection, server, Admin::Rebuild)
        }
        Cmd::Check { projection, server } => {
            read_model_admin(&data_dir, config, &projection, server, Admin::Check)
        }
        Cmd::Events {
            stream,
            from,
            limit,
        } => events(&open(&data_dir, config)?, stream, from, limit),
    }
}

fn open(dir: &std::path::Path, config: StoreConfig) -> anyhow::Result<Store> {
    Store::open(dir, config).with_context(|| format!("opening the store in {}", dir.display()))
}

/// The store note that marks a read replica's directory.
const ROLE: &str = "role";

/// A store that takes commands: never a replica's, whose models are ahead
/// of its empty log and would skip every event appended there.
fn open_writer(dir: &std::path::Path, config: StoreConfig) -> anyhow::Result<Store> {
    let store = open(dir, config)?;
    anyhow::ensure!(
        store.meta(ROLE)?.as_deref() != Some("replica"),
        "{} holds a read replica's models (fulfil project), not a log: the writer's store is elsewhere",
        dir.display()
    );
    Ok(store)
}

/// A replica's store: a directory of its own, marked as such on first use.
fn open_replica(dir: &std::path::Path, config: StoreConfig) -> anyhow::Result<Store> {
    let store = open(dir, config)?;
    if store.meta(ROLE)?.is_none() {
        anyhow::ensure!(
            store.head_position() == 0,
            "{} holds a log of {} events, a writer's store: give the replica a data directory of its own",
            dir.display(),
            store.head_position()
        );
        store.set_meta(ROLE, "replica")?;
    }
    Ok(store)
}

fn submit(store: &Store, file: &str) -> anyhow::Result<()> {
    let input: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("reading {file}"))?,
        ))
    };
    let handler = CommandHandler::new(store.clone());
    let mut process = FulfilmentProcess::open(handler.clone())?;
    // Events written before (by an earlier run) are handled first.
    let mut reacted = process.run_until_idle()?;
    let mut out = std::io::stdout().lock();
    let (mut accepted, mut rejected, mut invalid) = (0, 0, 0);
    for (n, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let result = match schemas::parse_command(&line) {
            Ok(envelope) => handler.handle(&envelope)?,
            Err(e) => CommandResult::invalid(Some(n + 1), &e),
        };
        match &result {
            CommandResult::Accepted { .. } => accepted += 1,
            CommandResult::Rejected { .. } => rejected += 1,
            CommandResult::Invalid { .. } => invalid += 1,
        }
        serde_json::to_writer(&mut out, &result)?;
        out.write_all(b"\n")?;
        // The process reacts before the next command, as it would live.
        let p = process.run_until_idle()?;
        reacted.commands += p.commands;
        reacted.accepted += p.accepted;
    }
    out.flush()?;
    eprintln!(
        "{accepted} accepted, {rejected} rejected, {invalid} invalid; the fulfilment process issued {} commands ({} accepted)",
        reacted.commands, reacted.accepted
    );
    Ok(())
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

/// ATP by location and day: one row per day with supply or requirements,
/// per location and for all of them.
fn print_atp(atp: &projections::atp::SkuAtp, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        println!("{}", serde_json::to_string(atp)?);
        return Ok(());
    }
    let mut rows: Vec<(&str, &projections::phased::Bucket)> = Vec::new();
    for l in &atp.locations {
        rows.extend(l.phased.buckets.iter().map(|b| (l.location.as_str(), b)));
    }
    rows.extend(atp.phased.buckets.iter().map(|b| ("all", b)));
    let header = [
        "location",
        "day",
        "supply",
        "requirements",
        "atp",
        "cumulative",
    ];
    match format {
        Format::Csv => {
            println!("{}", header.join(","));
            for (location, b) in rows {
                println!(
                    "{location},{},{},{},{},{}",
                    b.day, b.supply, b.requirements, b.atp, b.cumulative
                );
            }
        }
        _ => {
            println!(
                "{} (version {}): {} available to promise now, as of {}",
                atp.sku, atp.version, atp.atp_now, atp.today
            );
            println!(
                "{:<10} {:<10} {:>8} {:>12} {:>8} {:>10}",
                header[0], header[1], header[2], header[3], header[4], header[5]
            );
            for (location, b) in rows {
                println!(
                    "{location:<10} {:<10} {:>8} {:>12} {:>8} {:>10}",
                    b.day.to_string(),
                    b.supply,
                    b.requirements,
                    b.atp,
                    b.cumulative
                );
            }
        }
    }
    Ok(())
}

/// Prints any report: JSON as is; a table or CSV of `metric,value` rows,
/// the JSON flattened into dotted names.
fn print_report<T: serde::Serialize>(report: &T, format: Format) -> anyhow::Result<()> {
    let json = serde_json::to_value(report)?;
    if format == Format::Json {
        println!("{json}");
        return Ok(());
    }
    let mut rows = Vec::new();
    flatten("", &json, &mut rows);
    match format {
        Format::Csv => {
            println!("metric,value");
            for (k, v) in rows {
                let v = if v.contains([',', '"']) {
                    format!("\"{}\"", v.replace('"', "\"\""))
                } else {
                    v
                };
                println!("{k},{v}");
            }
        }
        _ => {
            let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            for (k, v) in rows {
                println!("{k:<width$}  {v}");
            }
        }
    }
    Ok(())
}

fn flatten(prefix: &str, value: &serde_json::Value, rows: &mut Vec<(String, String)>) {
    let name = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten(&name(k), v, rows);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&name(&i.to_string()), v, rows);
            }
        }
        serde_json::Value::Null => rows.push((prefix.to_owned(), String::new())),
        serde_json::Value::String(s) => rows.push((prefix.to_owned(), s.clone())),
        other => rows.push((prefix.to_owned(), other.to_string())),
    }
}

fn metrics(store: &Store, which: MetricsCmd) -> anyhow::Result<()> {
    let models = fulfil::read_models::ReadModels::open(store)?;
    models.catch_up()?;
    match which {
        MetricsCmd::Orders {
            from,
            to,
            channel,
            sku,
            location,
            as_of,
            format,
        } => {
            let filter = projections::orders::OrderFilter {
                from,
                to,
                channel,
                sku,
                location,
            };
            let m = models
                .orders
                .metrics(&filter, as_of.unwrap_or_else(chrono::Utc::now))?;
            print_report(&m, format)
        }
        MetricsCmd::Inventory {
            from,
            to,
            sku,
            location,
            tolerance,
            dead_after_days,
            as_of,
            format,
        } => {
            anyhow::ensure!(
                (0.0..=1.0).contains(&tolerance),
                "--tolerance must be between 0 and 1"
            );
            let as_of = as_of.unwrap_or_else(chrono::Utc::now);
            let mut filter = projections::stock::StockFilter::new(from, to, as_of);
            anyhow::ensure!(filter.from <= filter.to, "--from is after --to");
            filter.sku = sku;
            filter.location = location;
            filter.count_tolerance = tolerance;
            filter.dead_after_days = dead_after_days;
            print_report(&models.stock.metrics(&filter, as_of)?, format)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Admin {
    Rebuild,
    Check,
}

/// Rebuilds or checks read models, here or on a running service.
fn read_model_admin(
    dir: &std::path::Path,
    config: StoreConfig,
    projection: &str,
    server: Option<String>,
    admin: Admin,
) -> anyhow::Result<()> {
    let names: Vec<&str> = if projection == "all" {
        fulfil::read_models::NAMES.to_vec()
    } else {
        vec![projection]
    };
    let mut agree = true;
    if let Some(server) = server {
        let runtime = tokio::runtime::Runtime::new()?;
        let client = reqwest::Client::new();
        for name in names {
            let url = format!(
                "{}/read-models/{name}/{}",
                server.trim_end_matches('/'),
                match admin {
                    Admin::Rebuild => "rebuild",
                    Admin::Check => "check",
                }
            );
            let (status, body) = runtime.block_on(async {
                let request = match admin {
                    Admin::Rebuild => client.post(&url),
                    Admin::Check => client.get(&url),
                };
                let response = request.send().await?;
                let status = response.status();
                Ok::<_, reqwest::Error>((status, response.text().await?))
            })?;
            match status.as_u16() {
                200 => println!("{body}"),
                409 => {
                    agree = false;
                    println!("{body}");
                }
                _ => anyhow::bail!("{url} answered {status}: {body}"),
            }
        }
    } else {
        let store = open_writer(dir, config)?;
        let models = fulfil::read_models::ReadModels::open(&store)?;
        for name in names {
            let known = fulfil::read_models::NAMES.join(", ");
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
            println!("{line}");
        }
    }
    if !agree {
        anyhow::bail!("a live read model differs from its rebuild");
    }
    Ok(())
}

fn kafka_config(
    file: &fulfil::kafka::config::ConfigFile,
    args: KafkaArgs,
) -> anyhow::Result<fulfil::kafka::KafkaConfig> {
    Ok(fulfil::kafka::KafkaConfig::resolve(
        &file.kafka,
        args.brokers,
        args.topic_prefix,
        &args.settings,
    )?)
}

fn topics(file: &fulfil::kafka::config::ConfigFile, action: TopicsCmd) -> anyhow::Result<()> {
    match action {
        TopicsCmd::Create { kafka } => {
            let config = kafka_config(file, kafka)?;
            let runtime = tokio::runtime::Runtime::new()?;
            let made = runtime.block_on(fulfil::kafka::topics::create(&config))?;
            for (topic, _) in fulfil::kafka::Topics::new(&config.topic_prefix).all() {
                let state = if made.contains(&topic) {
                    "created"
                } else {
                    "exists"
                };
                println!("{topic}\t{state}");
            }
            Ok(())
        }
        TopicsCmd::List { kafka } => {
            let prefix = kafka
                .topic_prefix
                .or_else(|| file.kafka.topic_prefix.clone())
                .unwrap_or_else(|| fulfil::kafka::KafkaConfig::DEFAULT_PREFIX.to_owned());
            for (topic, retention) in fulfil::kafka::Topics::new(&prefix).all() {
                println!("{topic}\tretention.ms={retention}");
            }
            Ok(())
        }
    }
}

type Task = tokio::task::JoinHandle<anyhow::Result<()>>;

fn serve(
    store: Store,
    http: std::net::SocketAddr,
    kafka: Option<fulfil::kafka::KafkaConfig>,
    standby: bool,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let state = fulfil::service::state(&store, std::sync::Arc::new(clock::SystemClock))?;
        let (stop, _) = tokio::sync::watch::channel(false);
        let mut tasks: Vec<Task> = Vec::new();
        if let Some(config) = &kafka {
            // Only the store that owns the topics writes to them, one node at a time.
            let node = format!("{}:{}", host_name(), store.path().display());
            let owner = fulfil::kafka::writer::claim(config, store.id()?, &node).await?;
            let became = if standby {
                let lease = fulfil::kafka::writer::Lease::join(config)?;
                let mut held = lease.held();
                let stopped = stop.subscribe();
                tasks.push(tokio::spawn(async move { Ok(lease.keep(stopped).await?) }));
                // Stand by until the group makes this node the writer.
                eprintln!(
                    "fulfil waiting for the writer lease (group {}) of store {}",
                    fulfil::kafka::writer::group(config),
                    owner.store_id
                );
                tokio::select! {
                    r = held.wait_for(|h| *h) => r.map(|_| true).map_err(anyhow::Error::from),
                    s = stop_signal() => s.map(|_| false).map_err(anyhow::Error::from),
                }
            } else {
                Ok(true)
            };
            // The store must hold what the topics hold before it writes.
            let became = match became {
                Ok(true) => {
                    let (check, config) = (store.clone(), config.clone());
                    tokio::task::spawn_blocking(move || {
                        fulfil::kafka::writer::verify_history(&config, &check)
                    })
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|r| r.map(|_| true).map_err(anyhow::Error::from))
                }
                other => other,
            };
            if !matches!(became, Ok(true)) {
                // Let go of the lease before going: see Lease::keep.
                eprintln!("stopping");
                let _ = stop.send(true);
                for task in tasks {
                    let _ = task.await;
                }
                return became.map(|_| ());
            }
        }
        let listener = tokio::net::TcpListener::bind(http)
            .await
            .with_context(|| format!("listening on {http}"))?;
        match &kafka {
            Some(config) => {
                eprintln!(
                    "fulfil serving http://{} with Kafka at {} (topics {}*)",
                    listener.local_addr()?,
                    config.brokers,
                    config.topic_prefix
                );
                let commands = fulfil::kafka::commands::CommandConsumer::new(
                    config,
                    state.handler.clone(),
                    state.kafka.consumer.clone(),
                )?;
                let stopped = stop.subscribe();
                tasks.push(tokio::spawn(
                    async move { Ok(commands.run(stopped).await?) },
                ));
                let relay = fulfil::kafka::relay::run(
                    store.clone(),
                    config.clone(),
                    state.kafka.relay.clone(),
                    stop.subscribe(),
                );
                tasks.push(tokio::spawn(async move { Ok(relay.await?) }));
            }
            None => eprintln!(
                "fulfil serving http://{} on the embedded store",
                listener.local_addr()?
            ),
        }
        let workers = fulfil::service::run_workers(state.clone(), stop.subscribe());
        tasks.push(tokio::spawn(async move { Ok(workers.await?) }));
        let server = fulfil::service::serve_http(state, listener, stop.subscribe());
        tasks.push(tokio::spawn(async move { Ok(server.await?) }));
        until_stopped(tasks, stop).await
    })
}

/// Runs a read replica on `store` until a signal stops it.
fn project(
    store: Store,
    http: std::net::SocketAddr,
    kafka: fulfil::kafka::KafkaConfig,
    replica: Option<String>,
    reset: bool,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let mut state = fulfil::service::state(&store, std::sync::Arc::new(clock::SystemClock))?;
        if reset {
            for name in fulfil::read_models::NAMES {
                if let Some((model, _)) = state.models.get(name) {
                    model.clear()?;
                }
            }
        }
        let stats = std::sync::Arc::new(fulfil::kafka::replica::ReplicaStats::default());
        state.replica = Some(stats.clone());
        let name = match replica {
            Some(name) => name,
            None => store.id()?.to_string(),
        };
        let listener = tokio::net::TcpListener::bind(http)
            .await
            .with_context(|| format!("listening on {http}"))?;
        eprintln!(
            "fulfil replica serving http://{} from Kafka at {} (topics {}events.*, group {})",
            listener.local_addr()?,
            kafka.brokers,
            kafka.topic_prefix,
            fulfil::kafka::replica::group(&kafka, &name)
        );
        let (stop, _) = tokio::sync::watch::channel(false);
        let reader = fulfil::kafka::replica::Replica::new(
            &kafka,
            &name,
            state.models.clone(),
            stats,
            state.caught_up.clone(),
        )?;
        let stopped = stop.subscribe();
        let mut tasks: Vec<Task> =
            vec![tokio::spawn(async move { Ok(reader.run(stopped).await?) })];
        let server = fulfil::service::serve_http(state, listener, stop.subscribe());
        tasks.push(tokio::spawn(async move { Ok(server.await?) }));
        until_stopped(tasks, stop).await
    })
}

/// Waits for a signal, or for any task to stop on its own (an error), then
/// tells the rest to stop and waits for them.
async fn until_stopped(
    tasks: Vec<Task>,
    stop: tokio::sync::watch::Sender<bool>,
) -> anyhow::Result<()> {
    let mut any = futures::future::select_all(tasks);
    let early = tokio::select! {
        signal = stop_signal() => {
            signal?;
            None
        }
        done = &mut any => Some(done),
    };
    eprintln!("stopping");
    let _ = stop.send(true);
    let (first, _, rest) = match early {
        Some(done) => done,
        None => any.await,
    };
    for task in rest {
        task.await??;
    }
    first??;
    Ok(())
}

/// The HTTP address: the flag (or FULFIL_HTTP), then the config file, then
/// loopback on `port`.
fn http_address(
    flag: Option<std::net::SocketAddr>,
    file: &fulfil::kafka::config::ConfigFile,
    port: u16,
) -> anyhow::Result<std::net::SocketAddr> {
    Ok(match (flag, &file.http) {
        (Some(h), _) => h,
        (None, Some(h)) => h
            .parse()
            .with_context(|| format!("http = {h:?} in the config file"))?,
        (None, None) => std::net::SocketAddr::from(([127, 0, 0, 1], port)),
    })
}

/// This machine's name, for the writer's claim.
fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

/// The ATP read model, caught up with the log.
fn atp_model(store: &Store) -> anyhow::Result<projections::atp::AtpModel> {
    let model = projections::atp::AtpModel::open(store)?;
    model.catch_up()?;
    Ok(model)
}

fn state(store: &Store, stream: &str) -> anyhow::Result<()> {
    let handler = CommandHandler::new(store.clone());
    let id = StreamId::new(stream)?;
    let prefix = stream.split_once('-').map_or(stream, |(p, _)| p);
    let (json, version) = match prefix {
        "order" => shown(handler.state::<order_aggregate::Order>(&id)?)?,
        "inventory" => shown(handler.state::<inventory_aggregate::InventoryItem>(&id)?)?,
        "po" => shown(handler.state::<purchase_order_aggregate::PurchaseOrder>(&id)?)?,
        "sku" | "location" => shown(handler.state::<catalog::CatalogEntry>(&id)?)?,
        _ => anyhow::bail!(
            "{stream} names no aggregate: expected order-…, inventory-…, po-…, sku-… or location-…"
        ),
    };
    if version == 0 {
        anyhow::bail!("{stream} has no events");
    }
    println!(
        "{}",
        serde_json::json!({ "stream": stream, "version": version, "state": json })
    );
    Ok(())
}

fn shown<A: serde::Serialize>(
    (state, version): (std::sync::Arc<A>, u64),
) -> anyhow::Result<(serde_json::Value, u64)> {
    Ok((serde_json::to_value(&*state)?, version))
}

fn events(
    store: &Store,
    stream: Option<String>,
    from: u64,
    limit: Option<usize>,
) -> anyhow::Result<()> {
    const PAGE: usize = 1024;
    let mut out = std::io::stdout().lock();
    let mut left = limit.unwrap_or(usize::MAX);
    let mut print = |events: Vec<event_store::RecordedEvent>| -> anyhow::Result<()> {
        for e in events {
            serde_json::to_writer(&mut out, &e)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    };
    match stream {
        Some(s) => {
            let mut events = store.read_stream(&StreamId::new(s)?, from)?;
            events.truncate(left);
            print(events)?;
        }
        // The whole log may not fit in memory: page through it.
        None => {
            let mut next = from;
            while left > 0 {
                let page = store.read_all(next, left.min(PAGE))?;
                let Some(last) = page.last() else { break };
                next = last.position + 1;
                left -= page.len();
                print(page)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
