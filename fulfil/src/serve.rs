//! `fulfil serve` and `fulfil project`: a writer node or a read replica,
//! assembled from the service builder, until a signal stops it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use event_store::Store;
use fulfil_http::Access;
use fulfil_kafka::lease::{self, Lease};
use fulfil_kafka::{Group, KafkaConfig};
use fulfil_service::Service;

/// Serves the embedded store: the fulfilment process, the read models and
/// the HTTP API; with `kafka`, commands from and events to its topics.
pub fn serve(
    store: Store,
    api: Api,
    kafka: Option<KafkaConfig>,
    standby: bool,
) -> anyhow::Result<()> {
    let http = api.address;
    on_runtime(&store.clone(), api, |mut service| async move {
        let mut epoch = None;
        if let Some(config) = &kafka {
            let allowed = may_write(&mut service, &store, config, standby).await;
            match allowed {
                Ok(Some(mine)) => {
                    let (watched, config, stopped) =
                        (mine.clone(), config.clone(), service.stopping());
                    service.spawn(async move {
                        Ok(fulfil_kafka::epoch::watch(&config, watched, stopped).await?)
                    });
                    epoch = Some(mine);
                }
                refused_or_signalled => {
                    // Let go of the lease before going, refused or not: see Lease::keep.
                    eprintln!("stopping");
                    service.stop().await?;
                    return refused_or_signalled.map(|_| ());
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
        service.run_until(stopped_by_signal()).await?;
        // Stopped cleanly, the outbox drained: the next writer must hold this head.
        if let (Some(config), Some(epoch)) = (&kafka, &epoch) {
            let now = clock::Clock::now(&clock::SystemClock);
            if let Err(e) =
                fulfil_kafka::epoch::close(config, epoch, store.head_position(), now).await
            {
                tracing::warn!(error = %e, "the writer's stop could not be recorded on the writer topic; the next start checks the topics' watermarks only");
            }
        }
        Ok(())
    })
}

/// Whether this node may write to the topics: the store owns them (its
/// claim), with `standby` it holds the lease, its log holds what the topics
/// hold, and its store is not behind the last writer's epoch; then its
/// epoch. None when a signal came first; an error when refused.
async fn may_write(
    service: &mut Service,
    store: &Store,
    config: &KafkaConfig,
    standby: bool,
) -> anyhow::Result<Option<fulfil_kafka::epoch::Epoch>> {
    let node = format!("{}:{}", host_name(), store.path().display());
    let now = clock::Clock::now(&clock::SystemClock);
    let owner = lease::claim(config, store.id()?, &node, now).await?;
    if standby {
        let lease = Lease::join(config)?;
        let mut held = lease.held();
        let stopped = service.stopping();
        service.spawn(async move { Ok(lease.keep(stopped).await?) });
        // Stand by until the group makes this node the writer.
        eprintln!(
            "fulfil waiting for the writer lease (group {}) of store {}",
            Group::Writer.name(config),
            owner.store_id
        );
        let signalled = tokio::select! {
            r = held.wait_for(|h| *h) => { r?; false }
            s = stop_signal() => { s?; true }
        };
        if signalled {
            return Ok(None);
        }
    }
    // The store must not be behind the last writer, nor hold less than the
    // topics, before it writes.
    let checked = fulfil_kafka::epoch::check(config, store).await?;
    let (check, checking) = (store.clone(), config.clone());
    tokio::task::spawn_blocking(move || lease::verify_history(&checking, &check)).await??;
    let now = clock::Clock::now(&clock::SystemClock);
    Ok(Some(
        fulfil_kafka::epoch::begin(config, store, checked, &node, now).await?,
    ))
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
    on_runtime(&store.clone(), api, |service| async move {
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
        Ok(service.run_until(stopped_by_signal()).await?)
    })
}

/// Where a node's HTTP API listens, who may call it, and how large a
/// request body it takes.
pub struct Api {
    pub address: SocketAddr,
    pub access: Access,
    pub max_body_bytes: usize,
}

/// Runs `node` on a runtime of its own, over a new service on `store`
/// with `api`'s access and bounds.
fn on_runtime<F, Node>(store: &Store, api: Api, node: F) -> anyhow::Result<()>
where
    F: FnOnce(Service) -> Node,
    Node: std::future::Future<Output = anyhow::Result<()>>,
{
    if api.access.is_open() && !api.address.ip().is_loopback() {
        tracing::warn!(http = %api.address, "the HTTP API takes commands from anyone who can reach it: set tokens ([access] in the config file, or FULFIL_OPERATOR_TOKENS and FULFIL_ANALYST_TOKENS)");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let service = Service::new(store, Arc::new(clock::SystemClock))?
        .with_access(api.access)
        .with_body_limit(api.max_body_bytes);
    runtime.block_on(node(service))
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

/// [`stop_signal`], saying so.
async fn stopped_by_signal() -> std::io::Result<()> {
    stop_signal().await?;
    eprintln!("stopping");
    Ok(())
}
