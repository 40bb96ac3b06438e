//! `fulfil-bench`: the benchmark tools, apart from the production binary.
//! Each measures fulfil beside the limit underneath it in the same run,
//! on a fresh store under the data directory, and prints JSON.

mod bench;
mod bench_audit;
mod bench_kafka;
mod bench_queries;
mod simulate;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use event_store::StoreConfig;

#[derive(Parser)]
#[command(
    name = "fulfil-bench",
    version,
    about = "Benchmarks of fulfil beside their limits"
)]
struct Cli {
    /// Where the benchmarks' fresh stores are made (default ./data).
    #[arg(long, global = true, env = "FULFIL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// sled page cache size in MiB.
    #[arg(long, global = true, default_value_t = 64, env = "FULFIL_CACHE_MB", value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    cache_mb: u64,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Drives generated orders through the embedded pipeline from concurrent clients and reports throughput and latency, beside the store's own append rate.
    Orders {
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
    Queries {
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
    /// The audit replay on a long history of orders shipped through the real pipeline, with damaged stock planted now and then: replay events/s and peak memory beside reading and decoding alone, and whether every broken promise found comes from a planted fact (JSON).
    Audit {
        /// Orders placed, promised, paid, picked, packed and shipped.
        #[arg(long, default_value_t = 100_000)]
        orders: usize,
        #[arg(long, default_value_t = 500)]
        skus: usize,
        #[arg(long, default_value_t = 3)]
        locations: usize,
        /// Damage stock below what is promised every this many rounds of 512 orders (0: never).
        #[arg(long, default_value_t = 20)]
        plant_every: usize,
        /// Keep the seeded store here instead of a temporary one; a store seeded there before is reused, and extended to --orders.
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// (Run by `audit` in a fresh process) measures decoding and the audit replay on a seeded store.
    #[command(hide = true)]
    AuditReplay {
        #[arg(long)]
        store: PathBuf,
        #[arg(long)]
        seeded: PathBuf,
    },
    /// Commands end to end through a Kafka broker, beside the broker's own produce+consume rate.
    /// The replenishment loop on a real demand series through the real command path, beside a fixed-reorder-point baseline: fill rate, cycle service level, average stock (JSON).
    Replenishment {
        /// A series of the reference set: `pbs_first_60`, shampoo or wineind.
        #[arg(long, default_value = "pbs_first_60")]
        series: String,
        /// The supplier's lead time, in days (one period of the series is a day).
        #[arg(long, default_value_t = 3)]
        lead_time_days: u32,
        /// Target cycle service level, in basis points.
        #[arg(long, default_value_t = 9500)]
        service_level_bp: u16,
        /// Units of each SKU on hand on the first day.
        #[arg(long, default_value_t = 10)]
        initial_stock: u64,
        /// The cost of placing one order, in cents (for the EOQ; a unit costs 1000).
        #[arg(long, default_value_t = 50)]
        order_cost_cents: u64,
    },
    Kafka {
        /// Kafka bootstrap servers.
        #[arg(long = "kafka", env = "FULFIL_KAFKA")]
        brokers: String,
        /// Prepended to every topic name (default `fulfil.`).
        #[arg(long, env = "FULFIL_TOPIC_PREFIX")]
        topic_prefix: Option<String>,
        /// A librdkafka client setting, key=value (repeatable).
        #[arg(short = 'X', value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// Commands (and raw messages) per path.
        #[arg(long, default_value_t = 20_000)]
        commands: usize,
    },
}

fn main() -> anyhow::Result<()> {
    fulfil_service::log_to_stderr();
    let cli = Cli::parse();
    let data_dir = cli.data_dir.unwrap_or_else(|| PathBuf::from("./data"));
    let cache_mb = cli.cache_mb;
    let config = move || StoreConfig {
        cache_capacity_bytes: cache_mb * 1024 * 1024,
        ..StoreConfig::default()
    };
    match cli.command {
        Cmd::Orders {
            orders,
            clients,
            skus,
            locations,
            rate,
        } => bench::run(
            &data_dir,
            config,
            &bench::BenchPlan {
                orders,
                clients: clients.max(1),
                skus: skus.max(1),
                locations: locations.max(1),
                rate,
            },
        ),
        Cmd::Audit {
            orders,
            skus,
            locations,
            plant_every,
            store,
        } => bench_audit::run(
            &data_dir,
            store.as_deref(),
            config(),
            &bench_audit::AuditPlan {
                orders,
                skus: skus.max(1),
                locations: locations.max(1),
                plant_every,
            },
        ),
        Cmd::AuditReplay { store, seeded } => bench_audit::measure(&store, &seeded, config()),
        Cmd::Queries {
            orders,
            skus,
            locations,
            clients,
            queries,
        } => bench_queries::run(
            &data_dir,
            config(),
            &bench_queries::QueryPlan {
                orders,
                skus: skus.max(1),
                locations: locations.max(1),
                clients: clients.max(1),
                queries,
            },
        ),
        Cmd::Replenishment {
            series,
            lead_time_days,
            service_level_bp,
            initial_stock,
            order_cost_cents,
        } => simulate::run(
            &data_dir,
            config(),
            &simulate::SimulationPlan {
                series,
                lead_time_days,
                service_level_bp,
                initial_stock,
                order_cost_cents,
            },
        ),
        Cmd::Kafka {
            brokers,
            topic_prefix,
            settings,
            commands,
        } => {
            let kafka = fulfil_kafka::KafkaConfig::resolve(
                &fulfil_kafka::KafkaFile::default(),
                Some(brokers),
                topic_prefix,
                &settings,
            )?;
            bench_kafka::run(&data_dir, config(), kafka, commands)
        }
    }
}
