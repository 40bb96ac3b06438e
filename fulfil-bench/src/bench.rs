//! `fulfil-bench orders`: generated orders of 1–3 lines, needed from today
//! to three weeks out, through the embedded pipeline (placed → stock or
//! PO units reserved → allocated, every step acknowledged after fsync) from
//! concurrent clients.
//!
//! Two phases, each on a fresh store: as fast as the clients can go
//! (closed loop), then paced at half the rate the first phase reached
//! (open loop), where the latency figures matter. Latency is from the
//! client submitting `PlaceOrder` to the process having reserved and
//! allocated every line durably. Beside them, the same run measures the
//! limit of the store underneath: one-event appends from as many clients.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use command_handler::CommandHandler;
use event_store::{AppendRequest, ExpectedVersion, NewEvent, Store, StoreConfig, StreamId};
use fulfilment::FulfilmentProcess;
use schemas::CommandResult;
use serde::Serialize;

/// What the bench is asked to do.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    pub orders: usize,
    pub clients: usize,
    pub skus: usize,
    pub locations: usize,
    /// Orders per second for the paced phase; half the measured maximum when absent.
    pub rate: Option<f64>,
}

/// One phase's figures.
#[derive(Debug, Serialize)]
pub struct PhaseReport {
    pub phase: &'static str,
    pub orders: usize,
    pub seconds: f64,
    pub orders_per_s: f64,
    pub events_per_s: f64,
    pub offered_orders_per_s: Option<f64>,
    pub place_ack_p50_ms: f64,
    pub place_ack_p99_ms: f64,
    pub allocated_p50_ms: f64,
    pub allocated_p99_ms: f64,
    pub allocated_max_ms: f64,
}

pub fn run(
    data_dir: &Path,
    config: impl Fn() -> StoreConfig,
    plan: &BenchPlan,
) -> anyhow::Result<()> {
    let root = data_dir.join(format!(
        "bench-{}",
        clock::Clock::now(&clock::SystemClock).format("%Y%m%dT%H%M%S%.3f")
    ));
    eprintln!(
        "fulfil bench: {} orders of 1-3 lines, {} clients, {} SKUs x {} locations, stores under {}",
        plan.orders,
        plan.clients,
        plan.skus,
        plan.locations,
        root.display()
    );
    let result = (|| -> anyhow::Result<()> {
        let baseline = raw_appends(&root.join("baseline"), config(), plan)?;
        let max = phase(&root.join("max"), config(), plan, None)?;
        let rate = plan.rate.unwrap_or(max.orders_per_s / 2.0);
        let half = phase(
            &root.join("paced"),
            config(),
            &BenchPlan {
                orders: plan.orders / 2,
                ..plan.clone()
            },
            Some(rate),
        )?;
        println!("{}", serde_json::to_string(&baseline)?);
        println!("{}", serde_json::to_string(&max)?);
        println!("{}", serde_json::to_string(&half)?);
        eprintln!(
            "\n| phase | orders/s | events/s | place ack p50 / p99 | allocated p50 / p99 / max |"
        );
        eprintln!("|---|---|---|---|---|");
        for r in [&max, &half] {
            eprintln!(
                "| {}{} | {:.0} | {:.0} | {:.2} / {:.2} ms | {:.2} / {:.2} / {:.2} ms |",
                r.phase,
                r.offered_orders_per_s
                    .map(|o| format!(" (offered {o:.0}/s)"))
                    .unwrap_or_default(),
                r.orders_per_s,
                r.events_per_s,
                r.place_ack_p50_ms,
                r.place_ack_p99_ms,
                r.allocated_p50_ms,
                r.allocated_p99_ms,
                r.allocated_max_ms
            );
        }
        eprintln!(
            "\nlimit beside it: {} clients appending one-event commands: {:.0} appends/s (p99 ack {:.2} ms)",
            plan.clients, baseline.appends_per_s, baseline.ack_p99_ms
        );
        Ok(())
    })();
    if let Err(e) = std::fs::remove_dir_all(&root) {
        tracing::warn!(error = %e, "could not remove the bench stores");
    }
    result
}

/// The store underneath: one-event appends with command ids from the same
/// number of clients, nothing decided.
#[derive(Debug, Serialize)]
pub struct BaselineReport {
    pub phase: &'static str,
    pub appends_per_s: f64,
    pub ack_p99_ms: f64,
}

fn raw_appends(
    dir: &Path,
    config: StoreConfig,
    plan: &BenchPlan,
) -> anyhow::Result<BaselineReport> {
    let store = Store::open(dir, config).context("opening the baseline store")?;
    let per_client = (plan.orders * 3 / plan.clients.max(1)).max(1);
    let start = Instant::now();
    let latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..plan.clients)
            .map(|c| {
                let store = store.clone();
                scope.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let stream = StreamId::new(format!("baseline-{c}"))?;
                    let mut out = Vec::with_capacity(per_client);
                    for n in 0..per_client {
                        let event = NewEvent::new(
                            "StockReserved",
                            serde_json::json!({"sku": format!("SKU-{c}"), "location": "WH1", "order_id": format!("B-{c}-{n}"), "line": 1, "qty": 1}),
                        );
                        let t = Instant::now();
                        store.append_blocking(
                            AppendRequest::new(stream.clone(), ExpectedVersion::Any, vec![event])
                                .command_id(format!("b-{c}-{n}")),
                        )?;
                        out.push(t.elapsed());
                    }
                    Ok(out)
                })
            })
            .collect();
        join_clients(handles)
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let mut lat = latencies;
    lat.sort();
    Ok(BaselineReport {
        phase: "store-appends",
        appends_per_s: lat.len() as f64 / seconds,
        ack_p99_ms: percentile(&lat, 99.0),
    })
}

fn phase(
    dir: &Path,
    config: StoreConfig,
    plan: &BenchPlan,
    rate: Option<f64>,
) -> anyhow::Result<PhaseReport> {
    let store = Store::open(dir, config).with_context(|| format!("opening {}", dir.display()))?;
    let handler = CommandHandler::new(store.clone());
    let mut process = FulfilmentProcess::open(handler.clone())?;
    setup(&handler, plan)?;
    process.run_until_idle()?;
    let head_before = store.head_position();

    let orders = plan.orders;
    let submitted: Arc<Vec<AtomicU64>> = Arc::new((0..orders).map(|_| AtomicU64::new(0)).collect());
    let clients_done = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let nanos = move || u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);

    // The process follows the log and notes when each order is sourced.
    let follower = {
        let submitted = submitted.clone();
        let clients_done = clients_done.clone();
        let store = store.clone();
        std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?;
            let mut head = store.head_watch();
            let mut latencies = Vec::with_capacity(orders);
            loop {
                head.borrow_and_update();
                let progress = process.run_batch()?;
                let now = nanos();
                for order in process.take_sourced() {
                    if let Some(n) = order
                        .strip_prefix("B-")
                        .and_then(|n| n.parse::<usize>().ok())
                    {
                        if let Some(at) = submitted.get(n) {
                            latencies.push(Duration::from_nanos(
                                now.saturating_sub(at.load(Ordering::Acquire)),
                            ));
                        }
                    }
                }
                if progress.events == 0 {
                    if clients_done.load(Ordering::Acquire) && latencies.len() >= orders {
                        return Ok(latencies);
                    }
                    // Wait for the next commit (bounded, to look at the flags again).
                    rt.block_on(async {
                        let _ =
                            tokio::time::timeout(Duration::from_millis(20), head.changed()).await;
                    });
                }
            }
        })
    };

    let start = Instant::now();
    let per_client = orders.div_ceil(plan.clients.max(1));
    let acks: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..plan.clients)
            .map(|c| {
                let handler = handler.clone();
                let submitted = submitted.clone();
                scope.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let mut acks = Vec::with_capacity(per_client);
                    for n in (c..orders).step_by(plan.clients.max(1)) {
                        if let Some(rate) = rate {
                            // Open loop: order n is due at n / rate seconds.
                            let due = start + Duration::from_secs_f64(n as f64 / rate);
                            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                        }
                        let envelope = schemas::parse_command(&order_json(n, plan))?;
                        submitted[n].store(nanos(), Ordering::Release);
                        let t = Instant::now();
                        match handler.handle(&envelope)? {
                            CommandResult::Accepted { .. } => acks.push(t.elapsed()),
                            other => anyhow::bail!("order {n} was not accepted: {other:?}"),
                        }
                    }
                    Ok(acks)
                })
            })
            .collect();
        join_clients(handles)
    })?;
    clients_done.store(true, Ordering::Release);
    let mut allocated = follower
        .join()
        .map_err(|_| anyhow::anyhow!("the process thread panicked"))??;
    let seconds = start.elapsed().as_secs_f64();
    let events = store.head_position() - head_before;

    let mut acks = acks;
    acks.sort();
    allocated.sort();
    Ok(PhaseReport {
        phase: if rate.is_some() { "paced" } else { "max" },
        orders,
        seconds,
        orders_per_s: orders as f64 / seconds,
        events_per_s: events as f64 / seconds,
        offered_orders_per_s: rate,
        place_ack_p50_ms: percentile(&acks, 50.0),
        place_ack_p99_ms: percentile(&acks, 99.0),
        allocated_p50_ms: percentile(&allocated, 50.0),
        allocated_p99_ms: percentile(&allocated, 99.0),
        allocated_max_ms: allocated.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    })
}

/// SKUs and locations, and more stock than the orders will take; at each
/// location a purchase order brings half as much again on 16 March, and
/// the policy lets orders be promised from it.
pub(crate) fn setup(handler: &CommandHandler, plan: &BenchPlan) -> anyhow::Result<()> {
    let mut n = 0;
    let mut send = |json: String| -> anyhow::Result<()> {
        n += 1;
        let json = json.replacen('{', &format!("{{\"command_id\":\"setup-{n}\","), 1);
        match handler.handle(&schemas::parse_command(&json)?)? {
            CommandResult::Accepted { .. } => Ok(()),
            other => anyhow::bail!("setup refused: {other:?}"),
        }
    };
    for s in 0..plan.skus {
        send(format!(
            r#"{{"type":"DefineSku","sku":"SKU-{s}","description":"bench item {s}","unit_of_measure":"each","standard_cost_cents":100}}"#
        ))?;
    }
    // Each order line takes 1-3 units; stock every item for all of it.
    let per_item = (plan.orders * 3 * 3 / plan.skus.max(1)).clamp(10, 1_000_000);
    for l in 0..plan.locations {
        send(format!(
            r#"{{"type":"DefineLocation","location":"WH{l}","name":"bench warehouse {l}","kind":"warehouse"}}"#
        ))?;
        for s in 0..plan.skus {
            send(format!(
                r#"{{"type":"ReceiveStock","sku":"SKU-{s}","location":"WH{l}","qty":{per_item}}}"#
            ))?;
            send(format!(
                r#"{{"type":"SetReorderPolicy","sku":"SKU-{s}","location":"WH{l}","reorder_point":0,"safety_stock":0,"order_qty":{per_item},"lead_time_days":14,"service_level_bp":9500,"reserve_inbound":true}}"#
            ))?;
        }
        let lines: Vec<String> = (0..plan.skus)
            .map(|s| {
                format!(
                    r#"{{"line":{},"sku":"SKU-{s}","location":"WH{l}","qty":{},"unit_cost_cents":100,"expected_date":"2026-03-16"}}"#,
                    s + 1,
                    per_item / 2
                )
            })
            .collect();
        send(format!(
            r#"{{"type":"PlacePurchaseOrder","po_id":"BENCH-PO-{l}","supplier_id":"S","ordered_on":"2026-03-02","lines":[{}]}}"#,
            lines.join(",")
        ))?;
    }
    Ok(())
}

/// Need dates of the generated orders, in turn: tomorrow, next week, after
/// the purchase orders arrive (so promised from them), today.
const NEED_DATES: [&str; 4] = ["2026-03-03", "2026-03-10", "2026-03-20", "2026-03-02"];

/// Order n: 1-3 lines of distinct SKUs, 1-3 units each, spread evenly.
pub(crate) fn order_json(n: usize, plan: &BenchPlan) -> String {
    let mix = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let lines = 1 + (mix % 3) as usize;
    let body: Vec<String> = (0..lines)
        .map(|i| {
            let sku = (n * 7 + i * 13) % plan.skus.max(1);
            let qty = 1 + ((mix >> (8 * (i + 1))) % 3);
            format!(
                r#"{{"line":{},"sku":"SKU-{sku}","qty":{qty},"unit_price_cents":1000}}"#,
                i + 1
            )
        })
        .collect();
    format!(
        r#"{{"command_id":"bench-{n}","at":"2026-03-02T08:00:00Z","type":"PlaceOrder","order_id":"B-{n}","customer_id":"C-{}","lines":[{}],"ship_to":"1 Bench St","channel":"web","requested_date":"{}","priority":{}}}"#,
        n % 1000,
        body.join(","),
        NEED_DATES[n % NEED_DATES.len()],
        n % 3
    )
}

/// Every client's latencies, or the first client's error.
pub(crate) fn join_clients(
    handles: Vec<std::thread::ScopedJoinHandle<'_, anyhow::Result<Vec<Duration>>>>,
) -> anyhow::Result<Vec<Duration>> {
    let mut all = Vec::new();
    for h in handles {
        all.extend(
            h.join()
                .map_err(|_| anyhow::anyhow!("a client panicked"))??,
        );
    }
    Ok(all)
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p / 100.0).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}
