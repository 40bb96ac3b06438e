//! One way to assemble a fulfil node, used by `fulfil serve`, `fulfil
//! project`, the benches and the tests.
//!
//! A [`Service`] starts with the shared state over a store and adds tasks:
//! the workers (the fulfilment and replenishment processes, then every
//! read model, after each append), the HTTP API, the Kafka command consumer and outbox relay, a
//! read replica's reader. Every task stops when told to; [`Service::stop`]
//! tells them and waits, [`Service::run_until`] does so on a signal or as
//! soon as any task ends on its own.
//!
//! `stores` holds the rule about data directories: a writer's log is never
//! a replica's, and the other way round.

mod processes;
mod stores;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use clock::SharedClock;
use command_handler::CommandHandler;
use event_store::{Store, StoreError};
use fulfil_http::{AppState, Replica, Series, Telemetry};
use fulfil_kafka::commands::{CommandConsumer, ConsumerStats};
use fulfil_kafka::relay::RelayStats;
use fulfil_kafka::replica::ReplicaStats;
use fulfil_kafka::{KafkaConfig, KafkaError};
use projections::{ProjectionError, ReadModels};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use processes::Processes;
pub use stores::{open, open_log, open_replica};

/// What can stop a node.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A read model failed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// The replenishment process failed.
    #[error(transparent)]
    Replenishment(#[from] replenishment::ReplenishmentError),
    /// Talking to Kafka failed.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// A task panicked or was cancelled.
    #[error("a worker task failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
    /// Serving HTTP failed.
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
    /// The store in a data directory could not be opened.
    #[error("opening the store in {}", dir.display())]
    Open {
        /// The data directory.
        dir: std::path::PathBuf,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// A data directory of the wrong role.
    #[error("{0}")]
    Role(String),
}

/// The Kafka side's counters (zero when running without Kafka).
#[derive(Debug, Clone, Default)]
pub struct KafkaStats {
    /// The command consumer's.
    pub consumer: Arc<ConsumerStats>,
    /// The outbox relay's.
    pub relay: Arc<RelayStats>,
}

type Task = JoinHandle<Result<(), ServiceError>>;

/// A node being assembled, then running.
pub struct Service {
    /// What the API's handlers share.
    pub state: AppState,
    /// The Kafka tasks' counters.
    pub kafka: KafkaStats,
    stop: watch::Sender<bool>,
    tasks: Vec<Task>,
    /// The outbox relay stops last, once nothing else can append, so a
    /// clean stop drains what every other task recorded.
    relay: Option<Task>,
    relay_stop: watch::Sender<bool>,
}

/// Logs to standard error at warn level and above (refusals and failures
/// show there), or as `RUST_LOG` says; in colour only on a terminal.
pub fn log_to_stderr() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// The API's shared state over `store`, not yet ready.
fn app_state(store: &Store, clock: SharedClock) -> Result<AppState, ServiceError> {
    Ok(AppState {
        store: store.clone(),
        handler: CommandHandler::new(store.clone()),
        models: ReadModels::open(store)?,
        clock,
        caught_up: Arc::new(watch::channel(None).0),
        telemetry: Arc::new(Telemetry::default()),
        replica: None,
        series: Vec::new(),
        access: fulfil_http::Access::default(),
        max_body_bytes: AppState::DEFAULT_MAX_BODY_BYTES,
    })
}

impl Service {
    /// The same node, its API open only to these tokens' holders (call
    /// before [`Service::with_http`], which serves the state as it is then).
    #[must_use]
    pub fn with_access(mut self, access: fulfil_http::Access) -> Self {
        self.state.access = access;
        self
    }

    /// The same node, taking request bodies up to `bytes` (call before
    /// [`Service::with_http`]).
    #[must_use]
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.state.max_body_bytes = bytes;
        self
    }

    /// A node over `store` with no tasks yet.
    pub fn new(store: &Store, clock: SharedClock) -> Result<Self, ServiceError> {
        Ok(Self {
            state: app_state(store, clock)?,
            kafka: KafkaStats::default(),
            stop: watch::channel(false).0,
            tasks: Vec::new(),
            relay: None,
            relay_stop: watch::channel(false).0,
        })
    }

    /// Tells when the node is asked to stop.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Adds a task of the caller's, which must end when [`Service::stopping`] turns true.
    pub fn spawn(&mut self, task: impl Future<Output = Result<(), ServiceError>> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    /// The fulfilment and replenishment processes and every read model, caught up after each append.
    pub fn with_workers(mut self) -> Self {
        let workers = run_workers(self.state.clone(), self.stopping());
        self.spawn(workers);
        self
    }

    /// The HTTP API on `listener`.
    pub fn with_http(mut self, listener: tokio::net::TcpListener) -> Self {
        let server = fulfil_http::serve(self.state.clone(), listener, self.stopping());
        self.spawn(async move { Ok(server.await?) });
        self
    }

    /// Commands in from the command topics and events out through the outbox relay.
    pub fn with_kafka(mut self, config: &KafkaConfig) -> Result<Self, ServiceError> {
        self.state.series.push(Arc::new(KafkaGauges {
            stats: self.kafka.clone(),
            bounds: config.bounds,
        }));
        let commands = CommandConsumer::new(
            config,
            self.state.handler.clone(),
            self.kafka.consumer.clone(),
        )?;
        let stopped = self.stopping();
        self.spawn(async move { Ok(commands.run(stopped).await?) });
        let relay = fulfil_kafka::relay::run(
            self.state.store.clone(),
            config.clone(),
            self.kafka.relay.clone(),
            self.relay_stop.subscribe(),
        );
        self.relay = Some(tokio::spawn(async move { Ok(relay.await?) }));
        Ok(self)
    }

    /// A read replica: the read models fed from the event topics instead of
    /// the local log, under the replica's `name`.
    pub fn with_replica(mut self, config: &KafkaConfig, name: &str) -> Result<Self, ServiceError> {
        let stats = Arc::new(ReplicaStats::default());
        self.state.replica = Some(Arc::new(ReplicaGauges(stats.clone())));
        let reader = fulfil_kafka::replica::Replica::new(
            config,
            name,
            self.state.models.clone(),
            stats,
            self.state.caught_up.clone(),
        )?;
        let stopped = self.stopping();
        self.spawn(async move { Ok(reader.run(stopped).await?) });
        Ok(self)
    }

    /// Tells every task to stop and waits for them, then the outbox relay
    /// (which drains what they recorded); the first error wins.
    pub async fn stop(self) -> Result<(), ServiceError> {
        let _ = self.stop.send(true);
        let mut first = Ok(());
        for task in self.tasks {
            let outcome = task.await.map_err(ServiceError::from).and_then(|r| r);
            if first.is_ok() {
                first = outcome;
            }
        }
        let _ = self.relay_stop.send(true);
        if let Some(relay) = self.relay {
            let outcome = relay.await.map_err(ServiceError::from).and_then(|r| r);
            if first.is_ok() {
                first = outcome;
            }
        }
        first
    }

    /// Runs until `signal` completes, or until any task ends on its own (an
    /// error, or its feed closing), then stops the rest and waits for them;
    /// the outbox relay stops last, draining what they recorded.
    pub async fn run_until(
        self,
        signal: impl Future<Output = std::io::Result<()>>,
    ) -> Result<(), ServiceError> {
        let Self {
            stop,
            tasks,
            mut relay,
            relay_stop,
            ..
        } = self;
        if tasks.is_empty() && relay.is_none() {
            return Ok(());
        }
        let mut any = (!tasks.is_empty()).then(|| futures::future::select_all(tasks));
        let mut relay_ended = None;
        let early = {
            let tasks_end = async {
                match any.as_mut() {
                    Some(a) => a.await,
                    None => std::future::pending().await,
                }
            };
            let relay_end = async {
                match relay.as_mut() {
                    Some(r) => r.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                signal = signal => {
                    signal?;
                    None
                }
                done = tasks_end => Some(done),
                ended = relay_end => {
                    relay_ended = Some(ended);
                    None
                }
            }
        };
        tracing::info!("stopping");
        let _ = stop.send(true);
        let mut first: Result<(), ServiceError> = Ok(());
        let mut keep = |outcome: Result<(), ServiceError>| {
            if first.is_ok() {
                first = outcome;
            }
        };
        let finished = match (early, any) {
            (Some(done), _) => Some(done),
            (None, Some(any)) => Some(any.await),
            (None, None) => None,
        };
        if let Some((done, _, rest)) = finished {
            keep(done.map_err(ServiceError::from).and_then(|r| r));
            for task in rest {
                keep(task.await.map_err(ServiceError::from).and_then(|r| r));
            }
        }
        let _ = relay_stop.send(true);
        match (relay_ended, relay) {
            (Some(ended), _) => keep(ended.map_err(ServiceError::from).and_then(|r| r)),
            (None, Some(relay)) => keep(relay.await.map_err(ServiceError::from).and_then(|r| r)),
            (None, None) => {}
        }
        first
    }
}

/// The replica's counters as the API shows them.
struct ReplicaGauges(Arc<ReplicaStats>);

impl Replica for ReplicaGauges {
    fn head(&self) -> u64 {
        self.0.highest.load(Ordering::Relaxed)
    }
}

/// The command consumer's and the relay's counters and bounds.
struct KafkaGauges {
    stats: KafkaStats,
    bounds: fulfil_kafka::Bounds,
}

impl Series for KafkaGauges {
    fn series(&self) -> Vec<(&'static str, &'static str, u64)> {
        let (c, r) = (&self.stats.consumer, &self.stats.relay);
        let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
        vec![
            (
                "fulfil_kafka_commands_received_total",
                "Messages read from the command topics.",
                load(&c.received),
            ),
            (
                "fulfil_kafka_dead_letters_total",
                "Messages sent to the dead-letter topic.",
                load(&c.dead_lettered),
            ),
            (
                "fulfil_kafka_command_batches_total",
                "Batches of command messages handled.",
                load(&c.batches),
            ),
            (
                "fulfil_kafka_command_batch_bound_messages",
                "Command messages handled together, at most ([kafka] command_batch).",
                self.bounds.command_batch as u64,
            ),
            (
                "fulfil_relay_published_total",
                "Events the outbox relay published and marked.",
                load(&r.published),
            ),
            (
                "fulfil_relay_failed_rounds_total",
                "Relay rounds that failed and were retried.",
                load(&r.failed_rounds),
            ),
            (
                "fulfil_relay_batch_bound_events",
                "Outbox events in flight to the broker, at most ([kafka] relay_batch).",
                self.bounds.relay_batch as u64,
            ),
        ]
    }
}

impl Series for ReplicaGauges {
    fn series(&self) -> Vec<(&'static str, &'static str, u64)> {
        let r = &self.0;
        let values = [
            &r.folded,
            &r.duplicates,
            &r.unreadable,
            &r.held,
            &r.waiting_for,
            &r.hold_bound,
            &r.held_most,
            &r.paused,
            &r.pauses,
        ];
        REPLICA_SERIES
            .iter()
            .zip(values)
            .map(|((name, help), value)| (*name, *help, value.load(Ordering::Relaxed)))
            .collect()
    }
}

/// The replica's series on `/metrics`, in the order [`ReplicaGauges::series`] reads them.
const REPLICA_SERIES: [(&str, &str); 9] = [
    ("fulfil_replica_folded_total", "Events the replica folded."),
    (
        "fulfil_replica_duplicates_total",
        "Repeated events dropped by position.",
    ),
    (
        "fulfil_replica_unreadable_total",
        "Messages on event topics that are not fulfil events.",
    ),
    (
        "fulfil_replica_held_events",
        "Early events held until the positions before them arrive.",
    ),
    (
        "fulfil_replica_waiting_for_position",
        "The next log position to fold.",
    ),
    (
        "fulfil_replica_hold_bound_events",
        "Early events held before the partitions ahead are paused ([kafka] replica_hold).",
    ),
    (
        "fulfil_replica_held_most_events",
        "The most early events held at once since the start.",
    ),
    (
        "fulfil_replica_paused_partitions",
        "Partitions paused because they are ahead of the next position.",
    ),
    (
        "fulfil_replica_pauses_total",
        "Times a partition was paused to bound the hold.",
    ),
];

/// Runs the processes and the read models after every append
/// until `shutdown` turns true. The service is ready after the first pass.
async fn run_workers(
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ServiceError> {
    let mut head = state.store.head_watch();
    let mut process = Processes::open(&state.handler, state.models.clone())?;
    loop {
        let target = *head.borrow_and_update();
        let models = state.models.clone();
        let (p, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = process
                .run_until_idle()
                .and_then(|progress| Ok((progress, models.catch_up()?)));
            (process, outcome)
        })
        .await?;
        process = p;
        match outcome {
            Ok((progress, _)) => {
                state
                    .telemetry
                    .process_commands
                    .fetch_add(progress.commands as u64, Ordering::Relaxed);
                for (reason, n) in &progress.refused {
                    state.telemetry.process_refused(reason, *n as u64);
                }
                // Everything up to `target` is handled (the process's own
                // commands went past it; the next pass takes them).
                state.caught_up.send_replace(Some(target));
            }
            // The log is the truth: a failed pass is retried on the next append.
            Err(e) => tracing::error!(error = %e, "the workers could not catch up"),
        }
        tokio::select! {
            changed = head.changed() => if changed.is_err() { return Ok(()) },
            _ = shutdown.changed() => return Ok(()),
        }
    }
}
