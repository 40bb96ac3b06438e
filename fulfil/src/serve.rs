//! `fulfil serve` and `fulfil project`: a writer node or a read replica,
//! assembled from the service builder, until a signal stops it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use event_store::{Store, StoreConfig, StoreError};
use fulfil_http::Access;
use fulfil_kafka::lease::{self, Lease};
use fulfil_kafka::{Group, KafkaConfig, KafkaError};
use fulfil_service::{open_log, Service, ServiceError};
use tokio::sync::watch;

/// Serves the store in `dir`: the fulfilment process, the read models and
/// the HTTP API; with `kafka`, commands from and events to its topics.
///
/// With `standby` the node holds the writer lease before it opens the
/// store, and lets go of it only after the store is closed: a spare may
/// stand by on the writer's own directory (a shared volume) and take its
/// log over as it is, under load, or on a copy of its own.
pub fn serve(
    dir: &Path,
    config: StoreConfig,
    api: Api,
    kafka: Option<KafkaConfig>,
    standby: bool,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let stop = listen_for_stop()?;
        let lease = match (&kafka, standby) {
            (Some(config), true) => match stand_by(config, stop.clone()).await? {
                Some(lease) => Some(lease),
                None => return Ok(()),
            },
            _ => None,
        };
        let store = match &lease {
            Some(_) => open_when_free(dir, config, stop.clone()).await,
            None => Ok(Some(open_log(dir, config)?)),
        };
        let served = match store {
            Ok(Some(store)) => write(store, api, kafka, lease.as_ref(), stop).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        // The store is closed: the next holder may open it.
        let released = match lease {
            Some(lease) => lease.let_go().await,
            None => Ok(()),
        };
        served.and(released)
    })
}

/// The writer lease while this node stands by or holds it.
struct WriterLease {
    held: watch::Receiver<bool>,
    shutdown: watch::Sender<bool>,
    keeper: tokio::task::JoinHandle<Result<(), KafkaError>>,
    group: String,
}

impl WriterLease {
    /// Leaves the group, so a standby takes over at once.
    async fn let_go(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        Ok(self.keeper.await??)
    }
}

/// Joins the writer group and waits until this node holds the lease; None
/// when a signal came first.
async fn stand_by(
    config: &KafkaConfig,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<WriterLease>> {
    let lease = Lease::join(config)?;
    let mut held = lease.held();
    let (shutdown, leave) = watch::channel(false);
    let lease = WriterLease {
        held: lease.held(),
        keeper: tokio::spawn(lease.keep(leave)),
        shutdown,
        group: Group::Writer.name(config),
    };
    eprintln!(
        "fulfil waiting for the writer lease (group {})",
        lease.group
    );
    let signalled = tokio::select! {
        r = held.wait_for(|h| *h) => r.is_err(),
        _ = stop.wait_for(|s| *s) => true,
    };
    if signalled {
        eprintln!("stopping");
        lease.let_go().await?;
        return Ok(None);
    }
    Ok(Some(lease))
}

/// The store in `dir` once the process that held it has let go (a writer
/// on the same directory stopping, or dead); None when a signal came first.
async fn open_when_free(
    dir: &Path,
    config: StoreConfig,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<Store>> {
    let mut said = false;
    loop {
        match open_log(dir, config.clone()) {
            Err(ServiceError::Open {
                source: StoreError::Locked { .. },
                ..
            }) => {
                if !said {
                    eprintln!(
                        "fulfil holds the writer lease; waiting for the process holding {} to let go",
                        dir.display()
                    );
                    said = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                    _ = stop.wait_for(|s| *s) => { eprintln!("stopping"); return Ok(None) }
                }
            }
            opened => return Ok(Some(opened?)),
        }
    }
}

/// Writes to `store` once this node may (see [`may_write`]) until a signal
/// stops it, or the lease it holds is lost.
async fn write(
    store: Store,
    api: Api,
    kafka: Option<KafkaConfig>,
    lease: Option<&WriterLease>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let http = api.address;
    let mut service = node(&store, api)?;
    if let Some(lease) = lease {
        let (mut held, mut stopping) = (lease.held.clone(), service.stopping());
        let group = lease.group.clone();
        service.spawn(async move {
            tokio::select! {
                _ = held.wait_for(|h| !*h) => Err(KafkaError::LostLease(group).into()),
                _ = stopping.wait_for(|s| *s) => Ok(()),
            }
        });
    }
    let mut epoch = None;
    if let Some(config) = &kafka {
        match may_write(&store, config).await {
            Ok(mine) => {
                let (watched, config, stopped) = (mine.clone(), config.clone(), service.stopping());
                service.spawn(async move {
                    Ok(fulfil_kafka::epoch::watch(&config, watched, stopped).await?)
                });
                epoch = Some(mine);
            }
            Err(refused) => {
                eprintln!("stopping");
                service.stop().await?;
                return Err(refused);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(http)
        .await
        .with_context(|| format!("listening on {http}"))?;
    let address = listener.local_addr()?;
    if let Some(config) = &kafka {
        eprintln!(
            "fulfil serving http://{address} with Kafka at {} (topics {}*)",
            config.brokers, config.topic_prefix
        );
        service = service.with_kafka(config)?;
    } else {
        eprintln!("fulfil serving http://{address} on the embedded store");
    }
    let service = service.with_workers().with_http(listener);
    service.run_until(stopped(stop)).await?;
    // Stopped cleanly, the outbox drained: the next writer must hold this head.
    if let (Some(config), Some(epoch)) = (&kafka, &epoch) {
        let now = clock::Clock::now(&clock::SystemClock);
        if let Err(e) = fulfil_kafka::epoch::close(config, epoch, store.head_position(), now).await
        {
            tracing::warn!(error = %e, "the writer's stop could not be recorded on the writer topic; the next start checks the topics' watermarks only");
        }
    }
    Ok(())
}

/// Whether this node may write to the topics: the store owns them (its
/// claim), its log holds what the topics hold, and its store is not
/// behind the last writer's epoch; then its epoch. An error when refused.
async fn may_write(
    store: &Store,
    config: &KafkaConfig,
) -> anyhow::Result<fulfil_kafka::epoch::Epoch> {
    let node = format!("{}:{}", host_name(), store.path().display());
    let now = clock::Clock::now(&clock::SystemClock);
    lease::claim(config, store.id()?, &node, now).await?;
    // The store must not be behind the last writer, nor hold less than the
    // topics, before it writes.
    let checked = fulfil_kafka::epoch::check(config, store).await?;
    let (check, checking) = (store.clone(), config.clone());
    tokio::task::spawn_blocking(move || lease::verify_history(&checking, &check)).await??;
    let now = clock::Clock::now(&clock::SystemClock);
    Ok(fulfil_kafka::epoch::begin(config, store, checked, &node, now).await?)
}

/// Runs a read replica on `store` until a signal stops it.
pub fn project(
    store: Store,
    api: Api,
    kafka: KafkaConfig,
    replica: Option<String>,
    reset: bool,
) -> anyhow::Result<()> {
    let http = api.address;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let service = node(&store, api)?;
        if reset {
            service.state.models.clear()?;
        }
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
            Group::Projections(&name).name(&kafka)
        );
        let service = service.with_replica(&kafka, &name)?.with_http(listener);
        Ok(service.run_until(stopped(listen_for_stop()?)).await?)
    })
}

/// Where a node's HTTP API listens, who may call it, and how large a
/// request body it takes.
pub struct Api {
    pub address: SocketAddr,
    pub access: Access,
    pub max_body_bytes: usize,
}

/// A new service on `store` with `api`'s access and bounds.
fn node(store: &Store, api: Api) -> anyhow::Result<Service> {
    if api.access.is_open() && !api.address.ip().is_loopback() {
        tracing::warn!(http = %api.address, "the HTTP API takes commands from anyone who can reach it: set tokens ([access] in the config file, or FULFIL_OPERATOR_TOKENS and FULFIL_ANALYST_TOKENS)");
    }
    Ok(Service::new(store, Arc::new(clock::SystemClock))?
        .with_access(api.access)
        .with_body_limit(api.max_body_bytes))
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

/// Turns true at Ctrl-C or SIGTERM. Listened for once, from the start,
/// so a signal that comes between two waits (while the store opens, or
/// the epoch is checked) is not lost.
fn listen_for_stop() -> std::io::Result<watch::Receiver<bool>> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let (signalled, stop) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = signalled.send(true);
    });
    Ok(stop)
}

/// When `stop` turns true, saying so.
async fn stopped(mut stop: watch::Receiver<bool>) -> std::io::Result<()> {
    let _ = stop.wait_for(|s| *s).await;
    eprintln!("stopping");
    Ok(())
}
