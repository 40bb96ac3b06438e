//! The command line: every subcommand and its flags.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "fulfil",
    version,
    about = "Event-sourced order and inventory management"
)]
pub struct Cli {
    /// The data directory of the embedded store (default ./data).
    #[arg(long, global = true, env = "FULFIL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// A TOML configuration file (`data_dir`, http, [kafka], [kafka.client]); flags and environment win over it.
    #[arg(long, global = true, env = "FULFIL_CONFIG")]
    pub config: Option<PathBuf>,
    /// A running `fulfil serve` (http://HOST:PORT) to send commands to and ask, instead of opening the store it holds.
    #[arg(long, global = true, env = "FULFIL_SERVER")]
    pub server: Option<String>,
    /// The bearer token sent to --server, when its API needs one (an analyst's reads; an operator's also submits and rebuilds).
    #[arg(long, global = true, env = "FULFIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// sled page cache size in MiB (1 to 1048576).
    #[arg(long, global = true, default_value_t = 64, env = "FULFIL_CACHE_MB", value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub cache_mb: u64,
    #[command(subcommand)]
    pub command: Cmd,
    /// Whether `--data-dir` (or `FULFIL_DATA_DIR`) was given, rather than the default.
    #[arg(skip)]
    pub data_dir_given: bool,
}

impl Cmd {
    /// Whether this command only reads, and so is asked of `--server` when one is given.
    /// The rest ignore it (`serve`, `project`, `topics`, `demo`, `forecast --input`) or
    /// send their own requests to it (`submit`, `replay`, `check`).
    pub fn reads(&self) -> bool {
        match self {
            Self::Forecast { input, .. } => input.is_none(),
            Self::State { .. }
            | Self::Events { .. }
            | Self::Atp { .. }
            | Self::Promise { .. }
            | Self::Metrics { .. }
            | Self::Orders { .. }
            | Self::Order { .. }
            | Self::Skus { .. }
            | Self::Locations { .. }
            | Self::Pos { .. }
            | Self::Stock { .. }
            | Self::Audit { .. }
            | Self::Diagnose { .. }
            | Self::Replenish { .. } => true,
            _ => false,
        }
    }
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Runs the end-to-end demonstration on a fresh store of its own (./demo-TIME, or an empty --data-dir).
    Demo,
    /// Applies JSON-lines commands from FILE (or - for stdin); prints one JSON result per line. Exit 2 when any line was rejected or invalid.
    Submit {
        /// The file of commands, one JSON object per line; - reads stdin.
        file: String,
        /// Decide each command and print what would happen, writing nothing (the processes do not react).
        #[arg(long)]
        dry_run: bool,
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
        /// The first day of the plan: stock as the log holds it (now, or at --as-of), with supply and requirements by day from this day (default: today by the clock, or the day of --as-of).
        #[arg(long, value_parser = parse_day)]
        plan_from: Option<chrono::NaiveDate>,
        #[command(flatten)]
        past: Past,
    },
    /// Can QTY of SKU be committed by a date? Yes or no, from which locations, and the earliest date.
    Promise {
        sku: String,
        #[arg(value_parser = parse_count::<u64>)]
        qty: u64,
        /// The date the customer needs it by (YYYY-MM-DD).
        #[arg(long, value_parser = parse_day)]
        by: chrono::NaiveDate,
        /// Only from this location.
        #[arg(long)]
        location: Option<String>,
        /// The first day of the plan: stock as recorded now, supply and requirements by day from this day (default: today by the clock).
        #[arg(long, value_parser = parse_day)]
        plan_from: Option<chrono::NaiveDate>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// A SKU's demand history, demand class, forecast, accuracy and policy; or, with --input, forecasts of a series of your own (CSV with columns ds,y).
    Forecast {
        /// The SKU (not with --input).
        #[arg(required_unless_present = "input", conflicts_with = "input")]
        sku: Option<String>,
        /// Only this location (with demand not served anywhere yet, if it is the SKU's primary location).
        #[arg(long, conflicts_with = "input")]
        location: Option<String>,
        /// Sum the history per day, week or month.
        #[arg(long, value_enum, default_value_t = Period::Week, conflicts_with = "input")]
        bucket: Period,
        /// Periods ahead to forecast (1 to 1000).
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(1..=1000))]
        horizon: u16,
        /// auto (by demand class) or ses, ses-optimized, croston-classic, croston-sba, croston-optimized, tsb, adida, imapa.
        #[arg(long, default_value = "auto")]
        method: String,
        /// SES's smoothing (0 < alpha ≤ 1; default 0.1).
        #[arg(long)]
        alpha: Option<f64>,
        /// TSB's smoothing of demand sizes (default 0.1).
        #[arg(long)]
        alpha_d: Option<f64>,
        /// TSB's smoothing of the probability of demand (default 0.1).
        #[arg(long)]
        alpha_p: Option<f64>,
        /// A CSV file with columns ds (YYYY-MM-DD, increasing) and y (demand, not negative).
        #[arg(long)]
        input: Option<PathBuf>,
        /// The day to report as of (default: today by the clock).
        #[arg(long, conflicts_with = "input", value_parser = parse_day)]
        today: Option<chrono::NaiveDate>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Replenishment suggestions: every item with supplier terms, its inventory position against its reorder point, and what to order now.
    Replenish {
        /// Only this SKU.
        #[arg(long)]
        sku: Option<String>,
        /// The day to plan as of (default: today by the clock).
        #[arg(long, value_parser = parse_day)]
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
        /// With --kafka: stand by in the writer group until this node holds the writer lease, then open the store (a hot spare on the writer's own directory, on a shared volume, or on a current copy).
        #[arg(long)]
        standby: bool,
        /// The largest HTTP request body taken, in KiB (1 to 1024, the most a command may have anywhere); a larger one is answered 413.
        #[arg(long, default_value_t = 1024, env = "FULFIL_MAX_BODY_KB", value_parser = clap::value_parser!(u32).range(1..=1024))]
        max_body_kb: u32,
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
        /// The largest HTTP request body taken, in KiB (1 to 1024).
        #[arg(long, default_value_t = 1024, env = "FULFIL_MAX_BODY_KB", value_parser = clap::value_parser!(u32).range(1..=1024))]
        max_body_kb: u32,
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
    /// Rebuilds a read model (atp, orders, stock, demand, purchases or all) from the log, beside the live copy, then swaps it in.
    Replay {
        #[arg(long)]
        projection: String,
    },
    /// Compares a live read model (atp, orders, stock, demand, purchases or all) with a fresh rebuild; exits 1 if they differ.
    Check {
        #[arg(long)]
        projection: String,
    },
    /// Copies the store into DIR (new or empty) while it may be in use: the log up to the head when the copy began, with its ids and outbox mark; open the copy with --data-dir DIR (its read models fold again). Through --server, the service writes the copy on its own machine.
    Backup { dir: PathBuf },
    /// Replays the log to audit it: every broken promise with its root cause and evidence.
    Audit {
        #[command(subcommand)]
        which: AuditCmd,
    },
    /// Replays the log to tell which side owns a symptom.
    Diagnose {
        #[command(subcommand)]
        which: DiagnoseCmd,
    },
    /// Prints the current state of one aggregate (order-…, inventory-SKU@LOC, po-…, sku-…, location-…) as JSON.
    State {
        /// The aggregate's stream, for example order-SO-1 or inventory-SKU-1@WH1.
        stream: String,
        #[command(flatten)]
        past: Past,
    },
    /// Prints the event log as JSON lines: all of it, one stream, or the events of a type or business flow between two positions.
    Events {
        /// Only this stream (for example inventory-SKU-1@WH1).
        #[arg(long)]
        stream: Option<String>,
        /// Only events of this type (for example `LineBackordered`).
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Only events of this business flow.
        #[arg(long)]
        correlation_id: Option<String>,
        /// The first global position (or, with --stream, the first version).
        #[arg(long, default_value_t = 1, value_parser = parse_count::<u64>)]
        from: u64,
        /// The last global position.
        #[arg(long, value_parser = parse_count::<u64>)]
        to: Option<u64>,
        /// At most this many events.
        #[arg(long, value_parser = parse_count::<usize>)]
        limit: Option<usize>,
    },
    /// Lists orders, oldest placed first, a page at a time: by status, customer, SKU, location, channel and the days they were placed.
    Orders {
        /// open (backordered and late ones too), backordered, late (open past the due date), shipped, delivered or cancelled.
        #[arg(long, value_enum)]
        status: Option<OrderStatusArg>,
        #[arg(long)]
        customer: Option<String>,
        /// Orders with a line of this SKU.
        #[arg(long)]
        sku: Option<String>,
        /// Orders with units allocated or shipped from this location.
        #[arg(long)]
        location: Option<String>,
        #[arg(long)]
        channel: Option<String>,
        /// Placed on or after this day.
        #[arg(long, value_parser = parse_day)]
        from: Option<chrono::NaiveDate>,
        /// Placed on or before this day.
        #[arg(long, value_parser = parse_day)]
        to: Option<chrono::NaiveDate>,
        /// The next page: the cursor the last page ended with.
        #[arg(long)]
        after: Option<String>,
        /// Orders per page (1 to 1000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// One order's story: where it stands, each line, every fact with who caused it, and the commands the fulfilment process was refused for it.
    Order {
        order_id: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The SKUs the item master defines.
    Skus {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The locations the item master defines.
    Locations {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Purchase orders: open (overdue ones too), overdue or done; by supplier, SKU and location.
    Pos {
        #[arg(long, value_enum)]
        status: Option<PoStatusArg>,
        #[arg(long)]
        supplier: Option<String>,
        #[arg(long)]
        sku: Option<String>,
        #[arg(long)]
        location: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Stock by item (SKU at a location): on hand, reserved, free, inbound, position and reorder point.
    Stock {
        #[arg(long)]
        sku: Option<String>,
        #[arg(long)]
        location: Option<String>,
        /// Only items whose position is at or below their reorder point.
        #[arg(long)]
        at_reorder_point: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Where Kafka is and how to talk to it.
#[derive(clap::Args, Clone)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers; without them (and without [kafka] brokers in
    /// the config file) everything runs in-process on the embedded store.
    #[arg(long = "kafka", env = "FULFIL_KAFKA")]
    pub brokers: Option<String>,
    /// Prepended to every topic name (default `fulfil.`).
    #[arg(long, env = "FULFIL_TOPIC_PREFIX")]
    pub topic_prefix: Option<String>,
    /// A librdkafka client setting, key=value (repeatable), e.g. -X `security.protocol=SASL_SSL`.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
}

#[derive(Subcommand)]
pub enum TopicsCmd {
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
pub enum MetricsCmd {
    /// Cycle time, on-time shipment, perfect orders, fill rate and backorders of orders placed in a period.
    Orders {
        /// Placed on or after this day.
        #[arg(long, value_parser = parse_day)]
        from: Option<chrono::NaiveDate>,
        /// Placed on or before this day.
        #[arg(long, value_parser = parse_day)]
        to: Option<chrono::NaiveDate>,
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        sku: Option<String>,
        /// Only orders with units allocated or shipped from this location.
        #[arg(long)]
        location: Option<String>,
        /// From the facts dated up to this time (RFC 3339, or the end of a day), with backorder ages counted to it (default: now; a later time: every fact, ages counted to it).
        #[arg(long, value_parser = parse_end)]
        as_of: Option<chrono::DateTime<chrono::Utc>>,
        /// Only the facts the log held at this time (RFC 3339, or the end of a day).
        #[arg(long, value_parser = parse_end)]
        known_at: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Turnover, days of inventory, stock accuracy, stockouts, shortages and dead stock over a period.
    Inventory {
        /// First day (default: 29 days before --to).
        #[arg(long, value_parser = parse_day)]
        from: Option<chrono::NaiveDate>,
        /// Last day (default: the day of --as-of).
        #[arg(long, value_parser = parse_day)]
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
        /// From the facts dated up to this time (RFC 3339, or the end of a day), with open stockouts and dead stock counted to it (default: now; a later time: every fact, counted to it).
        #[arg(long, value_parser = parse_end)]
        as_of: Option<chrono::DateTime<chrono::Utc>>,
        /// Only the facts the log held at this time (RFC 3339, or the end of a day).
        #[arg(long, value_parser = parse_end)]
        known_at: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Another time to answer for: the facts dated up to `--as-of` (business
/// time), as the log held them at `--known-at` (what the system knew then).
#[derive(clap::Args, Clone, Copy)]
pub struct Past {
    /// The state from the facts dated up to this time (RFC 3339, or the end of a day).
    #[arg(long, value_parser = parse_end)]
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
    /// Only the facts the log held at this time (RFC 3339, or the end of a day).
    #[arg(long, value_parser = parse_end)]
    pub known_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Which part of the history an audit reads: business times (RFC 3339, or a
/// day: from its start, to its end), a SKU, a location.
#[derive(clap::Args, Clone)]
pub struct AuditScope {
    /// From this time (RFC 3339) or day (YYYY-MM-DD).
    #[arg(long, value_parser = parse_start)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Up to this time or the end of this day; open orders are aged to it (default: now).
    #[arg(long, value_parser = parse_end)]
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Every order line promised for a date that stock or supply could not honour, with the root cause and the events that prove it. Exit 0: replayed (findings or none); 2: bad input; 3: nothing to audit; 4: a fault of the system itself was found.
    Oversells {
        #[command(flatten)]
        scope: AuditScope,
        /// Only this SKU.
        #[arg(long)]
        sku: Option<String>,
        /// Only this location.
        #[arg(long)]
        location: Option<String>,
    },
    /// One order's promises, each as the system held it when it promised (the log just before the fact it answered) beside what the facts known now, dated before it, say. Exit 3 when the order was never placed.
    Promises {
        order_id: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Subcommand)]
pub enum DiagnoseCmd {
    /// Orders shipped or still open past their first promise: inventory-owned (broken promise, backorder, waiting for stock) or flow-owned (the slowest step). Exit codes as for `audit oversells`.
    LateOrders {
        #[command(flatten)]
        scope: AuditScope,
    },
}

fn parse_time(text: &str, end_of_day: bool) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let day: chrono::NaiveDate = text
        .parse()
        .map_err(|_| format!("{text:?} is neither an RFC 3339 time nor a day (YYYY-MM-DD)"))?;
    let time = if end_of_day {
        chrono::NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999)
            .unwrap_or(chrono::NaiveTime::MIN)
    } else {
        chrono::NaiveTime::MIN
    };
    Ok(day.and_time(time).and_utc())
}

/// A day as people and the API write it, refused with what was expected.
fn parse_day(text: &str) -> Result<chrono::NaiveDate, String> {
    text.parse().map_err(|_| {
        format!("expected a day as YYYY-MM-DD, one that exists (such as 2026-03-31), got {text:?}")
    })
}

/// A whole number, refused with what was expected.
fn parse_count<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("expected a whole number (0, 1, 2, …), got {text:?}"))
}

fn parse_start(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    parse_time(text, false)
}

fn parse_end(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    parse_time(text, true)
}

/// An order status to list by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OrderStatusArg {
    Open,
    Backordered,
    Late,
    Shipped,
    Delivered,
    Cancelled,
}

impl From<OrderStatusArg> for projections::orders::OrderStatus {
    fn from(s: OrderStatusArg) -> Self {
        match s {
            OrderStatusArg::Open => Self::Open,
            OrderStatusArg::Backordered => Self::Backordered,
            OrderStatusArg::Late => Self::Late,
            OrderStatusArg::Shipped => Self::Shipped,
            OrderStatusArg::Delivered => Self::Delivered,
            OrderStatusArg::Cancelled => Self::Cancelled,
        }
    }
}

/// A purchase-order status to list by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PoStatusArg {
    Open,
    Overdue,
    Done,
}

impl From<PoStatusArg> for projections::purchases::PurchaseStatus {
    fn from(s: PoStatusArg) -> Self {
        match s {
            PoStatusArg::Open => Self::Open,
            PoStatusArg::Overdue => Self::Overdue,
            PoStatusArg::Done => Self::Done,
        }
    }
}

/// How a demand history is summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl From<Period> for projections::demand::Bucket {
    fn from(p: Period) -> Self {
        match p {
            Period::Day => Self::Day,
            Period::Week => Self::Week,
            Period::Month => Self::Month,
        }
    }
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}
