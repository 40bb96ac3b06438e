//! The outbox relay: publishes the log's unpublished suffix in order with
//! an idempotent producer (`enable.idempotence=true`, `acks=all`), keyed by
//! aggregate id, and moves the published mark only past events whose
//! delivery was reported. While the broker is away the events wait in the
//! outbox (librdkafka keeps retrying what it holds); after a fatal producer
//! error the producer is built again. After a crash a few events may be
//! published twice: consumers deduplicate by (stream, version).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use event_store::Store;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio::sync::watch;

use crate::client;
use crate::wire::{event_message, Outgoing};
use crate::{KafkaConfig, KafkaError, Topics};

/// Pause after a failed round before the next.
const BACKOFF: Duration = Duration::from_millis(500);

/// Produces `m`, returning the future of its delivery report.
pub fn send(
    producer: &FutureProducer,
    m: &Outgoing,
) -> Result<rdkafka::producer::DeliveryFuture, KafkaError> {
    let mut headers = OwnedHeaders::new();
    for (key, value) in &m.headers {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    }
    let record = FutureRecord::to(&m.topic)
        .key(&m.key)
        .payload(&m.payload)
        .headers(headers);
    producer.send_result(record).map_err(|(e, _)| e.into())
}

/// Counters the relay keeps.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Events published and marked.
    pub published: AtomicU64,
    /// Rounds that failed and were retried.
    pub failed_rounds: AtomicU64,
    /// Producers built (the first, and one after each fatal error).
    pub producers_built: AtomicU64,
}

/// Publishes the outbox until `shutdown` turns true, then drains it: goes
/// on publishing what is recorded for up to `config.drain` (while the
/// broker answers), so a clean stop leaves nothing behind that it could
/// publish; what it could not stays in the outbox for the next start.
pub async fn run(
    store: Store,
    config: KafkaConfig,
    stats: Arc<RelayStats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), KafkaError> {
    let topics = Topics::new(&config.topic_prefix);
    let mut head = store.head_watch();
    let mut producer = client::producer(&config)?;
    stats.producers_built.fetch_add(1, Ordering::Relaxed);
    loop {
        head.borrow_and_update();
        match round(&store, &producer, &topics, config.bounds.relay_batch).await {
            Ok(0) => {
                tokio::select! {
                    changed = head.changed() => if changed.is_err() { break },
                    _ = shutdown.changed() => break,
                }
            }
            Ok(n) => {
                stats.published.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => {
                stats.failed_rounds.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "outbox relay round failed; events stay in the outbox");
                if producer.client().fatal_error().is_some() {
                    tracing::warn!("the producer hit a fatal error; building a new one");
                    producer = client::producer(&config)?;
                    stats.producers_built.fetch_add(1, Ordering::Relaxed);
                }
                tokio::select! {
                    () = tokio::time::sleep(BACKOFF) => {}
                    _ = shutdown.changed() => break,
                }
            }
        }
    }
    drain(&store, &producer, &topics, &stats, &config).await
}

/// Publishes what the outbox holds until it is empty or `limit` has passed.
async fn drain(
    store: &Store,
    producer: &FutureProducer,
    topics: &Topics,
    stats: &RelayStats,
    config: &KafkaConfig,
) -> Result<(), KafkaError> {
    let deadline = tokio::time::Instant::now() + config.drain;
    loop {
        let left = store.outbox_len()?;
        if left == 0 {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                events = left,
                "stopping with events in the outbox; the next start publishes them"
            );
            return Ok(());
        }
        let round = tokio::time::timeout_at(
            deadline,
            round(store, producer, topics, config.bounds.relay_batch),
        )
        .await;
        match round {
            Ok(Ok(n)) => {
                stats.published.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                stats.failed_rounds.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "outbox relay round failed while draining");
                tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + BACKOFF)).await;
            }
            // Out of time mid-round: the marks moved only past what was delivered.
            Err(_) => {}
        }
    }
}

/// Publishes one page of the outbox (at most `page` events in flight);
/// returns how many events were delivered and marked published.
async fn round(
    store: &Store,
    producer: &FutureProducer,
    topics: &Topics,
    page: usize,
) -> Result<usize, KafkaError> {
    let pending = store.outbox_pending(page)?;
    let mut inflight = Vec::with_capacity(pending.len());
    for e in &pending {
        match send(producer, &event_message(topics, e)) {
            Ok(delivery) => inflight.push((e.position, delivery)),
            // The local queue is full: wait for what is in flight first.
            Err(e) => {
                tracing::debug!(error = %e, "producer queue full");
                break;
            }
        }
    }
    let mut delivered = 0;
    for (position, delivery) in inflight {
        match delivery.await {
            Ok(Ok(_)) => {
                store.mark_published(position)?;
                delivered += 1;
            }
            Ok(Err((e, _))) => return Err(e.into()),
            Err(_cancelled) => {
                return Err(KafkaError::Delivery(
                    "the producer dropped a delivery".into(),
                ))
            }
        }
    }
    Ok(delivered)
}
