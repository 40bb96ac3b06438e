//! `fulfil`: the service and CLI. It parses arguments and wires the crates
//! together; the business rules live in the aggregates.

mod bench;
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
    /// The data directory of the embedded store.
    #[arg(long, global = true, default_value = "./data", env = "FULFIL_DATA_DIR")]
    data_dir: PathBuf,
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
    /// Can QTY of SKU be committed by a date? Yes or no, from which locations, and the earliest date (JSON).
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

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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
            &cli.data_dir,
            make_config,
            &bench::BenchPlan {
                orders,
                clients: clients.max(1),
                skus: skus.max(1),
                locations: locations.max(1),
                rate,
            },
        ),
        Cmd::Demo => demo::run(&cli.data_dir, config),
        Cmd::Submit { file } => submit(&open(&cli.data_dir, config)?, &file),
        Cmd::State { stream } => state(&open(&cli.data_dir, config)?, &stream),
        Cmd::Atp {
            sku,
            location,
            format,
            today,
        } => {
            let model = atp_model(&open(&cli.data_dir, config)?)?;
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
        } => {
            let model = atp_model(&open(&cli.data_dir, config)?)?;
            let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let promise = model.promise(&sku, qty, by, location.as_deref(), today)?;
            println!("{}", serde_json::to_string(&promise)?);
            Ok(())
        }
        Cmd::Events {
            stream,
            from,
            limit,
        } => events(&open(&cli.data_dir, config)?, stream, from, limit),
    }
}

fn open(dir: &std::path::Path, config: StoreConfig) -> anyhow::Result<Store> {
    Store::open(dir, config).with_context(|| format!("opening the store in {}", dir.display()))
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
