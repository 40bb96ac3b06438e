//! `fulfil-bench kafka --kafka BROKERS`: commands end to end through the
//! broker (published by a plain producer, consumed, applied durably,
//! answered on command-results) beside the broker's own produce+consume
//! rate for messages of the same size, in the same run; then a read
//! replica building the read models from the event topics that run wrote,
//! beside reading the same topics alone.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use command_handler::CommandHandler;
use event_store::{Store, StoreConfig};
use fulfil_kafka::{KafkaConfig, Topics};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::bench::percentile;

#[derive(Debug, Serialize)]
struct Report {
    path: &'static str,
    messages: usize,
    bytes_each: usize,
    seconds: f64,
    per_s: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

fn command(n: usize, skus: usize) -> (String, String) {
    let sku = n % skus;
    (
        format!("SKU-{sku}@WH1"),
        format!(
            r#"{{"command_id":"kb-{n}","type":"ReceiveStock","sku":"SKU-{sku}","location":"WH1","qty":1}}"#
        ),
    )
}

pub fn run(
    data_dir: &Path,
    config: StoreConfig,
    kafka: KafkaConfig,
    commands: usize,
) -> anyhow::Result<()> {
    let stamp = clock::Clock::now(&clock::SystemClock)
        .format("%Y%m%dT%H%M%S%3f")
        .to_string();
    let kafka = KafkaConfig {
        topic_prefix: format!("bench-{stamp}."),
        ..kafka
    };
    let root = data_dir.join(format!("bench-kafka-{stamp}"));
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(async {
        fulfil_kafka::topics::create(&kafka).await?;
        let raw = raw(&kafka, commands).await?;
        let (e2e, head) =
            end_to_end(&root.join("writer"), config.clone(), &kafka, commands).await?;
        let events = read_events(&kafka, head).await?;
        let mut replica = replica(&root.join("replica"), config, &kafka, head).await?;
        replica.bytes_each = events.bytes_each;
        let reports = [raw, e2e, events, replica];
        for r in &reports {
            println!("{}", serde_json::to_string(r)?);
        }
        eprintln!("\n| path | messages | bytes | msgs/s | p50 | p99 |");
        eprintln!("|---|---|---|---|---|---|");
        for r in &reports {
            let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1} ms"));
            eprintln!(
                "| {} | {} | {} | {:.0} | {} | {} |",
                r.path,
                r.messages,
                r.bytes_each,
                r.per_s,
                ms(r.p50_ms),
                ms(r.p99_ms)
            );
        }
        anyhow::Ok(())
    });
    if let Err(e) = std::fs::remove_dir_all(&root) {
        tracing::warn!(error = %e, "could not remove the bench store");
    }
    result
}

/// A consumer reading `topic` from the beginning, without a group to join.
fn reader(kafka: &KafkaConfig, topic: &str, partitions: i32) -> anyhow::Result<StreamConsumer> {
    let consumer: StreamConsumer = kafka
        .client()
        .set("group.id", format!("{}bench-reader", kafka.topic_prefix))
        .create()?;
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    Ok(consumer)
}

/// The broker alone: the same number of messages of the same size
/// produced (idempotent, acks=all) and consumed back, concurrently.
async fn raw(kafka: &KafkaConfig, n: usize) -> anyhow::Result<Report> {
    let topic = format!("{}raw", kafka.topic_prefix);
    let admin: AdminClient<DefaultClientContext> = kafka.client().create()?;
    admin
        .create_topics(
            &[NewTopic::new(
                &topic,
                kafka.partitions,
                TopicReplication::Fixed(kafka.replication_factor),
            )],
            &AdminOptions::new(),
        )
        .await?;
    let producer = fulfil_kafka::client::producer(kafka)?;
    let consumer = reader(kafka, &topic, kafka.partitions)?;
    let bytes = command(0, 1).1.len();
    let started = Instant::now();
    let reading = tokio::spawn(async move {
        for _ in 0..n {
            consumer.recv().await?;
        }
        anyhow::Ok(())
    });
    produce_all(&producer, &topic, n, |i| command(i, 500)).await?;
    reading.await??;
    let seconds = started.elapsed().as_secs_f64();
    Ok(Report {
        path: "broker alone: produce + consume",
        messages: n,
        bytes_each: bytes,
        seconds,
        per_s: n as f64 / seconds,
        p50_ms: None,
        p99_ms: None,
    })
}

async fn produce_all(
    producer: &FutureProducer,
    topic: &str,
    n: usize,
    message: impl Fn(usize) -> (String, String),
) -> anyhow::Result<HashMap<String, Instant>> {
    let mut sent = HashMap::with_capacity(n);
    let mut inflight = Vec::with_capacity(n);
    for i in 0..n {
        let (key, body) = message(i);
        loop {
            match producer.send_result(FutureRecord::to(topic).key(&key).payload(&body)) {
                Ok(d) => {
                    inflight.push(d);
                    break;
                }
                // The local queue is full: let deliveries catch up.
                Err(_) => match inflight.pop() {
                    Some(d) => {
                        let _ = d.await;
                    }
                    None => tokio::task::yield_now().await,
                },
            }
        }
        sent.insert(format!("kb-{i}"), Instant::now());
    }
    for d in inflight {
        d.await
            .context("delivery dropped")?
            .map_err(|(e, _)| anyhow::anyhow!("{e}"))?;
    }
    Ok(sent)
}

/// Commands through fulfil: published, consumed, applied durably, answered.
/// Returns the report and the log's head once every event is published.
async fn end_to_end(
    root: &Path,
    config: StoreConfig,
    kafka: &KafkaConfig,
    n: usize,
) -> anyhow::Result<(Report, u64)> {
    let skus = 500;
    let store = Store::open(root, config)?;
    let handler = CommandHandler::new(store.clone());
    let mut define = vec![r#"{"command_id":"m-wh1","type":"DefineLocation","location":"WH1","name":"bench","kind":"warehouse"}"#.to_owned()];
    for s in 0..skus {
        define.push(format!(r#"{{"command_id":"m-{s}","type":"DefineSku","sku":"SKU-{s}","description":"bench","unit_of_measure":"each","standard_cost_cents":100}}"#));
    }
    tokio::task::spawn_blocking(move || {
        for d in define {
            handler.handle(&schemas::parse_command(&d)?)?;
        }
        anyhow::Ok(())
    })
    .await??;
    // Commands in and events out only: the process and read models stay idle.
    let service =
        fulfil_service::Service::new(&store, Arc::new(clock::SystemClock))?.with_kafka(kafka)?;
    let topics = Topics::new(&kafka.topic_prefix);
    let results = reader(kafka, &topics.results(), kafka.partitions)?;
    let producer = fulfil_kafka::client::producer(kafka)?;
    let started = Instant::now();
    let answers = tokio::spawn(async move {
        let mut at = HashMap::with_capacity(n);
        while at.len() < n {
            let m = results.recv().await?;
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            at.entry(key).or_insert_with(Instant::now);
        }
        anyhow::Ok(at)
    });
    let sent = produce_all(&producer, &topics.commands("inventory"), n, |i| {
        command(i, skus)
    })
    .await?;
    let answered = answers.await??;
    let seconds = started.elapsed().as_secs_f64();
    // Every event out before the relay stops, for the replica to read.
    let mut head = store.head_watch();
    while store.published()? < store.head_position() {
        let _ = tokio::time::timeout(Duration::from_millis(50), head.changed()).await;
    }
    service.stop().await?;
    let mut latencies: Vec<Duration> = answered
        .iter()
        .filter_map(|(id, done)| sent.get(id).map(|s| done.saturating_duration_since(*s)))
        .collect();
    latencies.sort();
    let report = Report {
        path: "fulfil: command → durable append → result",
        messages: n,
        bytes_each: command(0, 1).1.len(),
        seconds,
        per_s: n as f64 / seconds,
        p50_ms: Some(percentile(&latencies, 50.0)),
        p99_ms: Some(percentile(&latencies, 99.0)),
    };
    Ok((report, store.head_position()))
}

/// The broker alone: every event topic read from the start until `head`
/// distinct positions arrived.
async fn read_events(kafka: &KafkaConfig, head: u64) -> anyhow::Result<Report> {
    let topics = Topics::new(&kafka.topic_prefix).all_events();
    let consumer: StreamConsumer = kafka
        .client()
        .set("group.id", format!("{}bench-events", kafka.topic_prefix))
        .create()?;
    let mut list = TopicPartitionList::new();
    for t in &topics {
        for p in 0..kafka.partitions {
            list.add_partition_offset(t, p, Offset::Beginning)?;
        }
    }
    consumer.assign(&list)?;
    let started = Instant::now();
    let mut seen = std::collections::HashSet::new();
    let mut bytes = 0;
    while (seen.len() as u64) < head {
        let m = consumer.recv().await?;
        bytes += m.payload_len();
        let position = fulfil_kafka::client::header(&m, "ce_position");
        seen.insert(position.unwrap_or_default());
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Report {
        path: "broker alone: read the event topics",
        messages: seen.len(),
        bytes_each: bytes / seen.len().max(1),
        seconds,
        per_s: seen.len() as f64 / seconds,
        p50_ms: None,
        p99_ms: None,
    })
}

/// A read replica on a fresh store: the event topics read, put in log
/// order and folded into every read model, until it holds `head`.
async fn replica(
    root: &Path,
    config: StoreConfig,
    kafka: &KafkaConfig,
    head: u64,
) -> anyhow::Result<Report> {
    let store = Store::open(root, config)?;
    let started = Instant::now();
    let service = fulfil_service::Service::new(&store, Arc::new(clock::SystemClock))?
        .with_replica(kafka, "bench")?;
    let mut folded = service.state.caught_up.subscribe();
    folded.wait_for(|c| c.is_some_and(|c| c >= head)).await?;
    let seconds = started.elapsed().as_secs_f64();
    service.stop().await?;
    Ok(Report {
        path: "replica: event topics → log order → 3 read models",
        messages: usize::try_from(head)?,
        bytes_each: 0,
        seconds,
        per_s: head as f64 / seconds,
        p50_ms: None,
        p99_ms: None,
    })
}
