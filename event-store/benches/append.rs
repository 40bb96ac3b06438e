//! Append throughput and acknowledgement latency with 1, 16 and 256
//! concurrent appenders, beside the limit measured in the same run: raw sled
//! insert + flush of the same bytes, one key per event, at the same batch sizes.
//!
//! Run: `cargo bench -p event-store --bench append`. Criterion reports the
//! throughput; the p50/p99 acknowledgement latency lines are printed after.

// criterion_group! defines an undocumented entry point.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use event_store::{AppendRequest, ExpectedVersion, NewEvent, Store, StoreConfig, StreamId};
use serde_json::json;

const APPENDERS: [usize; 3] = [1, 16, 256];

fn event(appender: usize, n: u64) -> NewEvent {
    NewEvent::new(
        "StockReserved",
        json!({ "sku": format!("SKU-{appender:05}"), "location": "WH-EAST-1", "order_id": format!("ORD-{appender}-{n}"), "line": 1, "qty": 3 }),
    )
}

fn bench_dir() -> tempfile::TempDir {
    // On the real disk (not a tmpfs), so fsync costs what it costs.
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("bench dir")
}

/// `appenders` tasks each append `rounds` single-event commands to their own
/// stream, expecting the exact version; returns elapsed time and every ack latency.
fn run_appenders(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    appenders: usize,
    rounds: u64,
    tag: &str,
) -> (Duration, Vec<Duration>) {
    let start = Instant::now();
    let latencies = rt.block_on(async {
        let tasks: Vec<_> = (0..appenders)
            .map(|a| {
                let store = store.clone();
                let stream = StreamId::new(format!("bench-{tag}-{a}")).expect("stream id");
                let tag = tag.to_owned();
                tokio::spawn(async move {
                    let mut version = store.stream_version(&stream).expect("version");
                    let mut latencies = Vec::with_capacity(rounds as usize);
                    for n in 0..rounds {
                        let request = AppendRequest::new(
                            stream.clone(),
                            ExpectedVersion::Exact(version),
                            vec![event(a, n)],
                        )
                        .command_id(format!("{tag}-{a}-{n}"));
                        let t = Instant::now();
                        let outcome = store.append(request).await.expect("append");
                        latencies.push(t.elapsed());
                        version = outcome.last_version;
                    }
                    latencies
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("appender"));
        }
        all
    });
    (start.elapsed(), latencies)
}

fn sample_event_bytes() -> usize {
    // The stored envelope of one bench event, to give the raw baseline the same bytes.
    let dir = bench_dir();
    let store = Store::open(dir.path(), StoreConfig::default()).expect("open");
    let s = StreamId::new("bench-sample-0").expect("stream id");
    store
        .append_blocking(
            AppendRequest::new(s, ExpectedVersion::Any, vec![event(0, 0)])
                .command_id("bench-sample-0-0"),
        )
        .expect("append");
    let e = store.read_all(1, 1).expect("read").remove(0);
    serde_json::to_vec(&e).expect("encode").len()
}

fn append(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let value_len = sample_event_bytes();
    let mut group = c.benchmark_group("append");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for appenders in APPENDERS {
        group.throughput(Throughput::Elements(appenders as u64));
        let dir = bench_dir();
        let store = Store::open(dir.path(), StoreConfig::default()).expect("open");
        let mut run = 0u64;
        group.bench_with_input(
            BenchmarkId::new("event-store", appenders),
            &appenders,
            |b, &appenders| {
                b.iter_custom(|iters| {
                    run += 1;
                    run_appenders(&rt, &store, appenders, iters, &format!("r{run}")).0
                });
            },
        );

        let raw = RawSled::new(value_len);
        group.bench_with_input(
            BenchmarkId::new("raw-sled-insert-flush", appenders),
            &appenders,
            |b, &batch| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        raw.batch(batch);
                    }
                    start.elapsed()
                });
            },
        );
    }
    group.finish();

    println!(
        "\nacknowledgement latency (each append flushed before its ack), {value_len}-byte events:"
    );
    println!("| appenders | events/s | p50 ack | p99 ack | raw sled insert+flush events/s | raw p99 per batch |");
    println!("|---|---|---|---|---|---|");
    for appenders in APPENDERS {
        let dir = bench_dir();
        let store = Store::open(dir.path(), StoreConfig::default()).expect("open");
        let rounds = (20_000 / appenders as u64).clamp(20, 2_000);
        let (elapsed, mut lat) = run_appenders(&rt, &store, appenders, rounds, "latency");
        lat.sort();
        let events = (appenders as u64 * rounds) as f64;

        let raw = RawSled::new(value_len);
        let raw_start = Instant::now();
        let mut batches: Vec<Duration> = (0..rounds)
            .map(|_| {
                let t = Instant::now();
                raw.batch(appenders);
                t.elapsed()
            })
            .collect();
        let raw_elapsed = raw_start.elapsed();
        batches.sort();
        println!(
            "| {appenders} | {:.0} | {:.2} ms | {:.2} ms | {:.0} | {:.2} ms |",
            events / elapsed.as_secs_f64(),
            ms(lat[lat.len() / 2]),
            ms(lat[lat.len() * 99 / 100]),
            events / raw_elapsed.as_secs_f64(),
            ms(batches[batches.len() * 99 / 100]),
        );
    }
}

/// The limit: raw sled, one key per event, the same bytes, one flush per batch.
struct RawSled {
    _dir: tempfile::TempDir,
    db: sled::Db,
    value: Vec<u8>,
    next_key: std::cell::Cell<u64>,
}

impl RawSled {
    fn new(value_len: usize) -> Self {
        let dir = bench_dir();
        let db = sled::Config::new()
            .path(dir.path())
            .cache_capacity(64 << 20)
            .open()
            .expect("raw sled");
        Self {
            _dir: dir,
            db,
            value: vec![b'x'; value_len],
            next_key: std::cell::Cell::new(0),
        }
    }

    fn batch(&self, events: usize) {
        for _ in 0..events {
            let key = self.next_key.get() + 1;
            self.next_key.set(key);
            self.db
                .insert(key.to_be_bytes(), self.value.as_slice())
                .expect("insert");
        }
        self.db.flush().expect("flush");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

criterion_group!(benches, append);
criterion_main!(benches);
