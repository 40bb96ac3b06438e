//! `fulfil-bench replenishment`: the closed loop on a real demand series,
//! through the real command path, beside a fixed-reorder-point baseline
//! in the same run.
//!
//! Each period of the series is one day. Two SKUs see the same demand:
//! - `AUTO`: supplier terms with `auto_order`; the replenishment process
//!   plans its policy from the demand it records and places the orders;
//! - `FIXED`: the baseline a planner would set by hand from the first
//!   weeks: reorder point = their mean daily demand × the lead time (no
//!   safety stock), order quantity = the EOQ from that mean; this driver
//!   places its orders as an upstream system would, when the position
//!   reaches the reorder point.
//!
//! Every day: purchase orders due are received (on time: the supplier
//! keeps its quoted lead time), the day's demand is ordered (one order
//! per SKU), the processes react. Orders ship the day they are allocated,
//! so the stock a day ends with is on hand − reserved.
//!
//! Measured per SKU after the warm-up (the days the baseline planner
//! looked at, while the process was learning the same demand): the unit
//! fill rate (units allocated from stock at the first attempt, from the
//! orders read model), the cycle service level (the share of replenishment
//! cycles, receipt to receipt, without a backorder) and the average stock
//! at the end of the day.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Days, NaiveDate};
use command_handler::CommandHandler;
use event_store::{Store, StoreConfig};
use fulfil_service::Processes;
use projections::orders::OrderFilter;
use projections::ReadModels;
use schemas::CommandResult;
use serde::Serialize;

const SERIES: &str = include_str!("../../forecasting/tests/fixtures/series.csv");
/// The days the baseline planner looks at before fixing its policy.
const BASELINE_DAYS: usize = 12;

/// What the simulation is asked to do.
#[derive(Debug, Clone)]
pub struct SimulationPlan {
    /// The series' id in the reference set.
    pub series: String,
    /// The supplier's lead time, in days.
    pub lead_time_days: u32,
    /// Target cycle service level, basis points.
    pub service_level_bp: u16,
    /// Units on hand on the first day (both SKUs).
    pub initial_stock: u64,
    /// Cost of placing an order, in cents (for the EOQ).
    pub order_cost_cents: u64,
}

#[derive(Debug, Default, Serialize)]
struct Outcome {
    sku: &'static str,
    policy: &'static str,
    units_ordered: u64,
    unit_fill_rate: Option<f64>,
    cycles: usize,
    cycles_without_backorder: usize,
    cycle_service_level: Option<f64>,
    average_stock: f64,
    purchase_orders: usize,
    final_reorder_point: Option<u64>,
    final_safety_stock: Option<u64>,
}

/// One SKU's running figures.
#[derive(Default)]
struct Tally {
    stock_days: f64,
    cycles: usize,
    clean_cycles: usize,
    backordered_this_cycle: bool,
    purchase_orders: usize,
}

fn series(id: &str) -> anyhow::Result<Vec<(NaiveDate, u64)>> {
    let mut out = Vec::new();
    for line in SERIES.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.first() == Some(&id) {
            let y: f64 = fields[3].parse()?;
            out.push((fields[2].parse()?, y.round() as u64));
        }
    }
    anyhow::ensure!(!out.is_empty(), "no series {id} in the reference set");
    Ok(out)
}

struct Driver {
    handler: CommandHandler,
    processes: Processes,
    models: ReadModels,
    sent: usize,
}

impl Driver {
    fn send(&mut self, day: NaiveDate, body: &str) -> anyhow::Result<CommandResult> {
        self.sent += 1;
        let json = format!(
            r#"{{"command_id":"sim-{}","at":"{day}T09:00:00Z",{}"#,
            self.sent,
            &body[1..]
        );
        let result = self.handler.handle(&schemas::parse_command(&json)?)?;
        let progress = self.processes.run_until_idle()?;
        anyhow::ensure!(
            progress.refused.is_empty(),
            "the processes had commands refused: {:?}",
            progress.refused
        );
        Ok(result)
    }

    fn accept(&mut self, day: NaiveDate, body: &str) -> anyhow::Result<()> {
        match self.send(day, body)? {
            CommandResult::Accepted { .. } => Ok(()),
            other => anyhow::bail!("{body}: {other:?}"),
        }
    }
}

pub fn run(data_dir: &Path, config: StoreConfig, plan: &SimulationPlan) -> anyhow::Result<()> {
    let demand = series(&plan.series)?;
    let root = data_dir.join(format!(
        "simulate-{}",
        clock::Clock::now(&clock::SystemClock).format("%Y%m%dT%H%M%S%.3f")
    ));
    let store = Store::open(&root, config)?;
    let handler = CommandHandler::new(store.clone());
    let models = ReadModels::open(&store)?;
    let mut d = Driver {
        processes: Processes::open(&handler, models.clone())?,
        handler,
        models,
        sent: 0,
    };
    // Days are counted from the first period's date, one per period.
    let start = demand[0].0;
    let day = |n: usize| start + Days::new(n as u64);
    let lead = u64::from(plan.lead_time_days);
    let unit_cost = 1000;
    d.accept(
        start,
        r#"{"type":"DefineLocation","location":"DC","name":"Simulated DC","kind":"warehouse"}"#,
    )?;
    for sku in ["AUTO", "FIXED"] {
        d.accept(start, &format!(r#"{{"type":"DefineSku","sku":"{sku}","description":"simulated","unit_of_measure":"each","standard_cost_cents":{unit_cost}}}"#))?;
        d.accept(
            start,
            &format!(
                r#"{{"type":"ReceiveStock","sku":"{sku}","location":"DC","qty":{}}}"#,
                plan.initial_stock
            ),
        )?;
    }
    d.accept(start, &format!(
        r#"{{"type":"SetSupply","sku":"AUTO","location":"DC","supplier_id":"SUP","lead_time_days":{},"unit_cost_cents":{unit_cost},"order_cost_cents":{},"service_level_bp":{},"auto_order":true}}"#,
        plan.lead_time_days, plan.order_cost_cents, plan.service_level_bp
    ))?;

    // The baseline planner's policy, fixed from the first days.
    let first: Vec<f64> = demand
        .iter()
        .take(BASELINE_DAYS)
        .map(|(_, y)| *y as f64)
        .collect();
    let mean = first.iter().sum::<f64>() / first.len() as f64;
    let fixed_rop = (mean * lead as f64).round() as i64;
    let holding = f64::from(unit_cost) * 0.25;
    let fixed_q = replenishment::policy::economic_order_quantity(
        mean * 365.0,
        plan.order_cost_cents as f64,
        holding,
    )
    .map_or(1, |q| q.round().max(1.0) as u64);

    let mut open: BTreeMap<String, (NaiveDate, u64)> = BTreeMap::new();
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut units = 0;
    for (n, (_, y)) in demand.iter().enumerate() {
        let today = day(n);
        // 1. What suppliers deliver today.
        let due: Vec<(String, u64)> = open
            .iter()
            .filter(|(_, (date, _))| *date <= today)
            .map(|(po, (_, qty))| (po.clone(), *qty))
            .collect();
        let measured = n >= BASELINE_DAYS;
        for (po, qty) in due {
            open.remove(&po);
            d.accept(today, &format!(
                r#"{{"type":"ReceivePurchaseOrderLine","po_id":"{po}","line":1,"qty":{qty},"received_on":"{today}"}}"#
            ))?;
            let sku = if po.starts_with("RP-") {
                "AUTO"
            } else {
                "FIXED"
            };
            let t = tallies.entry(sku).or_default();
            if measured {
                t.cycles += 1;
                if !t.backordered_this_cycle {
                    t.clean_cycles += 1;
                }
            }
            t.backordered_this_cycle = false;
        }
        // 2. The day's demand, one order per SKU.
        if *y > 0 {
            if measured {
                units += y;
            }
            for sku in ["AUTO", "FIXED"] {
                d.accept(today, &format!(
                    r#"{{"type":"PlaceOrder","order_id":"{sku}-{n}","customer_id":"C","ship_to":"x","channel":"sim","requested_date":"{today}","lines":[{{"line":1,"sku":"{sku}","qty":{y},"unit_price_cents":2000}}]}}"#
                ))?;
            }
        }
        // 3. The replenishment process's orders, and the baseline's.
        for po in d.processes.take_placed() {
            let stream = schemas::StreamName::parse(&format!("po-{po}"))?;
            let (state, _) = d.handler.state_json(&stream)?;
            let expected: NaiveDate =
                serde_json::from_value(state["lines"]["1"]["expected_date"].clone())
                    .unwrap_or(today + Days::new(lead));
            let qty = state["lines"]["1"]["qty"].as_u64().unwrap_or(0);
            open.insert(po, (expected, qty));
            tallies.entry("AUTO").or_default().purchase_orders += 1;
        }
        let fixed = item(&d.models, "FIXED")?;
        let on_order: u64 = open
            .iter()
            .filter(|(p, _)| p.starts_with("FX-"))
            .map(|(_, (_, q))| q)
            .sum();
        let position = fixed.on_hand as i64 - fixed.reserved() as i64 + on_order as i64
            - backordered(&d.models, "FIXED")? as i64;
        if position <= fixed_rop {
            let po = format!("FX-{n}");
            let expected = today + Days::new(lead);
            d.accept(today, &format!(
                r#"{{"type":"PlacePurchaseOrder","po_id":"{po}","supplier_id":"SUP","ordered_on":"{today}","lines":[{{"line":1,"sku":"FIXED","location":"DC","qty":{fixed_q},"unit_cost_cents":{unit_cost},"expected_date":"{expected}"}}]}}"#
            ))?;
            open.insert(po, (expected, fixed_q));
            tallies.entry("FIXED").or_default().purchase_orders += 1;
        }
        // 4. The day's close.
        for sku in ["AUTO", "FIXED"] {
            let item = item(&d.models, sku)?;
            let t = tallies.entry(sku).or_default();
            if measured {
                t.stock_days += item.free() as f64;
            }
            if backordered(&d.models, sku)? > 0 {
                t.backordered_this_cycle = true;
            }
        }
    }
    let days = demand.len().saturating_sub(BASELINE_DAYS).max(1) as f64;
    let mut outcomes = Vec::new();
    for (sku, policy) in [
        ("AUTO", "replenishment process (forecast, 95 % CSL)"),
        (
            "FIXED",
            "fixed reorder point (first 12 days' mean × lead time)",
        ),
    ] {
        let t = tallies.remove(sku).unwrap_or_default();
        let metrics = d.models.orders.metrics(
            &OrderFilter {
                sku: Some(sku.to_owned()),
                from: Some(day(BASELINE_DAYS)),
                ..OrderFilter::default()
            },
            clock::Clock::now(&clock::SystemClock),
        )?;
        let policy_now = item(&d.models, sku)?.policy;
        outcomes.push(Outcome {
            sku: if sku == "AUTO" { "AUTO" } else { "FIXED" },
            policy,
            units_ordered: units,
            unit_fill_rate: metrics.unit_fill_rate,
            cycles: t.cycles,
            cycles_without_backorder: t.clean_cycles,
            cycle_service_level: (t.cycles > 0).then(|| t.clean_cycles as f64 / t.cycles as f64),
            average_stock: t.stock_days / days,
            purchase_orders: t.purchase_orders,
            final_reorder_point: policy_now
                .as_ref()
                .map(|p| p.reorder_point)
                .or(Some(fixed_rop as u64).filter(|_| sku == "FIXED")),
            final_safety_stock: policy_now.as_ref().map(|p| p.safety_stock),
        });
    }
    let report = serde_json::json!({
        "series": plan.series,
        "days": demand.len(),
        "measured_from_day": BASELINE_DAYS + 1,
        "lead_time_days": plan.lead_time_days,
        "target_cycle_service_level": f64::from(plan.service_level_bp) / 10_000.0,
        "baseline": {"reorder_point": fixed_rop, "order_qty": fixed_q},
        "results": outcomes,
        "data_dir": root,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn item(models: &ReadModels, sku: &str) -> anyhow::Result<inventory_aggregate::InventoryItem> {
    models.catch_up()?;
    Ok(models
        .atp
        .items(sku)?
        .into_iter()
        .next()
        .map(|(_, i)| i)
        .unwrap_or_default())
}

fn backordered(models: &ReadModels, sku: &str) -> anyhow::Result<u64> {
    Ok(models.atp.backorders(sku)?.values().map(|b| b.qty).sum())
}
