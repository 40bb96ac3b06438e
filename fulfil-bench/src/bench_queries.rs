//! `fulfil-bench queries`: the read side. On a store seeded with generated
//! orders through the real pipeline it measures
//! - rebuilding each read model from the log, beside reading and decoding
//!   the same events without applying them (the floor of any rebuild);
//! - ATP queries over HTTP on loopback from concurrent clients, beside the
//!   same queries made in-process on the same model (the cost of HTTP).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use command_handler::CommandHandler;
use event_store::{Store, StoreConfig};
use fulfilment::FulfilmentProcess;
use projections::{ReadModels, NAMES};
use serde::Serialize;

use crate::bench::{order_json, percentile, setup, BenchPlan};

/// What the query bench is asked to do.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    pub orders: usize,
    pub skus: usize,
    pub locations: usize,
    pub clients: usize,
    pub queries: usize,
}

#[derive(Debug, Serialize)]
struct RebuildReport {
    model: &'static str,
    events: usize,
    seconds: f64,
    events_per_s: f64,
    decode_only_events_per_s: f64,
}

#[derive(Debug, Serialize)]
struct QueryReport {
    path: &'static str,
    clients: usize,
    queries: usize,
    queries_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

pub fn run(data_dir: &Path, config: StoreConfig, plan: &QueryPlan) -> anyhow::Result<()> {
    let root = data_dir.join(format!(
        "bench-queries-{}",
        clock::Clock::now(&clock::SystemClock).format("%Y%m%dT%H%M%S%.3f")
    ));
    let result = (|| -> anyhow::Result<()> {
        let store = Store::open(&root, config)?;
        let seeded = Instant::now();
        seed(&store, plan)?;
        eprintln!(
            "seeded {} orders: {} events in {:.1} s",
            plan.orders,
            store.head_position(),
            seeded.elapsed().as_secs_f64()
        );
        let models = ReadModels::open(&store)?;
        let decode = decode_only(&store)?;
        let mut rebuilds = Vec::new();
        for name in NAMES {
            let r = models
                .rebuild(name)?
                .ok_or_else(|| anyhow::anyhow!("no model {name}"))?;
            let seconds = r.elapsed.as_secs_f64();
            rebuilds.push(RebuildReport {
                model: r.projection,
                events: r.events,
                seconds,
                events_per_s: r.events as f64 / seconds,
                decode_only_events_per_s: decode,
            });
        }
        let in_process = in_process_queries(&models, plan)?;
        let http = http_queries(&store, plan)?;
        let listings = listings(&models)?;
        for r in &rebuilds {
            println!("{}", serde_json::to_string(r)?);
        }
        println!("{}", serde_json::to_string(&in_process)?);
        println!("{}", serde_json::to_string(&http)?);
        for l in &listings {
            println!("{}", serde_json::to_string(l)?);
        }
        eprintln!("\n| read model | events | rebuild events/s | read+decode only events/s |");
        eprintln!("|---|---|---|---|");
        for r in &rebuilds {
            eprintln!(
                "| {} | {} | {:.0} | {:.0} |",
                r.model, r.events, r.events_per_s, r.decode_only_events_per_s
            );
        }
        eprintln!("\n| ATP query | clients | queries/s | p50 | p99 |");
        eprintln!("|---|---|---|---|---|");
        for q in [&in_process, &http] {
            eprintln!(
                "| {} | {} | {:.0} | {:.3} ms | {:.3} ms |",
                q.path, q.clients, q.queries_per_s, q.p50_ms, q.p99_ms
            );
        }
        eprintln!("\n| order listing | orders read | p50 | max |");
        eprintln!("|---|---|---|---|");
        for l in &listings {
            eprintln!(
                "| {} | {} | {:.3} ms | {:.3} ms |",
                l.query, l.orders, l.p50_ms, l.max_ms
            );
        }
        Ok(())
    })();
    if let Err(e) = std::fs::remove_dir_all(&root) {
        tracing::warn!(error = %e, "could not remove the bench store");
    }
    result
}

/// Item master, stock, and `plan.orders` orders sourced by the process.
fn seed(store: &Store, plan: &QueryPlan) -> anyhow::Result<()> {
    let handler = CommandHandler::new(store.clone());
    let orders = BenchPlan {
        orders: plan.orders,
        clients: 1,
        skus: plan.skus,
        locations: plan.locations,
        rate: None,
    };
    setup(&handler, &orders)?;
    let mut process = FulfilmentProcess::open(handler.clone())?;
    for n in 0..plan.orders {
        handler.handle(&schemas::parse_command(&order_json(n, &orders))?)?;
        if n % 512 == 511 {
            process.run_until_idle()?;
        }
    }
    process.run_until_idle()?;
    Ok(())
}

/// Events per second read from the log and decoded into their types, nothing applied.
pub(crate) fn decode_only(store: &Store) -> anyhow::Result<f64> {
    let started = Instant::now();
    let (mut next, mut decoded) = (1, 0usize);
    loop {
        let page = store.read_all(next, 1024)?;
        let Some(last) = page.last() else { break };
        next = last.position + 1;
        for e in &page {
            let payload = e.payload.clone();
            let ok = match schemas::StreamKind::split(e.stream.as_str()).map(|(k, _)| k) {
                Some(schemas::StreamKind::Inventory) => {
                    serde_json::from_value::<schemas::InventoryEvent>(payload).is_ok()
                }
                Some(schemas::StreamKind::Order) => {
                    serde_json::from_value::<schemas::OrderEvent>(payload).is_ok()
                }
                Some(schemas::StreamKind::PurchaseOrder) => {
                    serde_json::from_value::<schemas::PurchaseOrderEvent>(payload).is_ok()
                }
                _ => serde_json::from_value::<schemas::CatalogEvent>(payload).is_ok(),
            };
            decoded += usize::from(ok);
        }
    }
    Ok(decoded as f64 / started.elapsed().as_secs_f64())
}

#[derive(Debug, Serialize)]
struct ListingReport {
    query: &'static str,
    orders: usize,
    p50_ms: f64,
    max_ms: f64,
}

/// Order listings as `GET /orders` answers them, each asked 21 times
/// (the cursor walk: 50 pages, 21 times),
/// beside the listing a model without indexes would have to make: every
/// order record read, summarised, filtered and sorted, for one page.
fn listings(models: &ReadModels) -> anyhow::Result<Vec<ListingReport>> {
    use projections::orders::{OrderFilter, OrderQuery, OrderStatus};
    let page = |status, customer: Option<&str>, sku: Option<&str>| OrderQuery {
        filter: OrderFilter {
            sku: sku.map(str::to_owned),
            ..OrderFilter::default()
        },
        status,
        customer: customer.map(str::to_owned),
        after: None,
        limit: 50,
    };
    let measure = |query: &'static str, ask: &dyn Fn() -> anyhow::Result<usize>| {
        let mut l = Vec::new();
        let mut orders = 0;
        for _ in 0..21 {
            let t = Instant::now();
            orders = ask()?;
            l.push(t.elapsed());
        }
        l.sort();
        Ok::<_, anyhow::Error>(ListingReport {
            query,
            orders,
            p50_ms: percentile(&l, 50.0),
            max_ms: l.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        })
    };
    let day = today();
    Ok(vec![
        measure("first page of 50, every order", &|| {
            Ok(models
                .orders
                .list(&page(None, None, None), day)?
                .orders
                .len())
        })?,
        measure("first page of 50, open orders", &|| {
            Ok(models
                .orders
                .list(&page(Some(OrderStatus::Open), None, None), day)?
                .orders
                .len())
        })?,
        measure("first page of 50, one customer", &|| {
            Ok(models
                .orders
                .list(&page(None, Some("C-7"), None), day)?
                .orders
                .len())
        })?,
        measure("50 pages of 50, walked by cursor", &|| {
            let mut query = page(None, None, None);
            let mut last = 0;
            for _ in 0..50 {
                let p = models.orders.list(&query, day)?;
                last = p.orders.len();
                query.after = p.next;
            }
            Ok(last)
        })?,
        measure("first page of 50, one SKU", &|| {
            Ok(models
                .orders
                .list(&page(None, None, Some("SKU-1")), day)?
                .orders
                .len())
        })?,
        measure(
            "no index: every record read, filtered, sorted, first 50",
            &|| {
                let mut all: Vec<projections::orders::OrderSummary> = models
                    .orders
                    .scan::<projections::orders::OrderRecord>("order/")?
                    .into_iter()
                    .map(|(_, o)| o.summary(day))
                    .filter(|s| s.status.is_open())
                    .collect();
                all.sort_by(|a, b| {
                    a.placed_at
                        .cmp(&b.placed_at)
                        .then(a.order_id.cmp(&b.order_id))
                });
                all.truncate(50);
                Ok(all.len())
            },
        )?,
    ])
}

fn sku_of(client: usize, i: usize, plan: &QueryPlan) -> String {
    format!("SKU-{}", (client * 31 + i * 7) % plan.skus.max(1))
}

fn report(
    path: &'static str,
    plan: &QueryPlan,
    elapsed: Duration,
    mut l: Vec<Duration>,
) -> QueryReport {
    l.sort();
    QueryReport {
        path,
        clients: plan.clients,
        queries: l.len(),
        queries_per_s: l.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&l, 50.0),
        p99_ms: percentile(&l, 99.0),
    }
}

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default()
}

/// The same ATP queries as over HTTP, called directly from as many threads.
fn in_process_queries(models: &ReadModels, plan: &QueryPlan) -> anyhow::Result<QueryReport> {
    let per_client = plan.queries / plan.clients.max(1);
    let started = Instant::now();
    let latencies = std::thread::scope(|s| {
        let handles: Vec<_> = (0..plan.clients)
            .map(|c| {
                s.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let mut l = Vec::with_capacity(per_client);
                    for i in 0..per_client {
                        let t = Instant::now();
                        let atp = models.atp.sku(&sku_of(c, i, plan), None, today())?;
                        std::hint::black_box(serde_json::to_vec(&atp)?);
                        l.push(t.elapsed());
                    }
                    Ok(l)
                })
            })
            .collect();
        crate::bench::join_clients(handles)
    })?;
    Ok(report("in-process", plan, started.elapsed(), latencies))
}

/// ATP over HTTP on loopback: the service runs here, clients hold keep-alive connections.
fn http_queries(store: &Store, plan: &QueryPlan) -> anyhow::Result<QueryReport> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let service = fulfil_service::Service::new(store, Arc::new(clock::SystemClock))?;
        service.state.models.catch_up()?;
        let service = service.with_http(listener);
        let per_client = plan.queries / plan.clients.max(1);
        let started = Instant::now();
        let mut clients = Vec::new();
        for c in 0..plan.clients {
            let base = base.clone();
            let plan = plan.clone();
            clients.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut l = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let url = format!("{base}/atp/{}?plan_from=2026-03-02", sku_of(c, i, &plan));
                    let t = Instant::now();
                    let response = client.get(&url).send().await?;
                    anyhow::ensure!(
                        response.status().is_success(),
                        "{url}: {}",
                        response.status()
                    );
                    std::hint::black_box(response.bytes().await?);
                    l.push(t.elapsed());
                }
                anyhow::Ok(l)
            }));
        }
        let mut latencies = Vec::new();
        for c in clients {
            latencies.extend(c.await??);
        }
        let elapsed = started.elapsed();
        service.stop().await?;
        Ok(report("HTTP loopback", plan, elapsed, latencies))
    })
}
