//! `fulfil-bench audit`: the audit replay on a long history. Orders go
//! through their whole life (placed, promised, paid, released, picked,
//! packed, shipped) through the real command path and the fulfilment
//! process; those promised from the purchase orders ship once the POs
//! arrive (in round 16); now and then stock is damaged below what is
//! promised (a planted fact). Then, in the same run, it measures reading and decoding
//! the log alone, beside the audit's replay of the same log, with the peak
//! resident memory of each, and checks that every broken promise the
//! audit finds was caused by a planted fact, and every planted fact found.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use command_handler::CommandHandler;
use event_store::{Store, StoreConfig};
use fulfilment::FulfilmentProcess;
use inventory_aggregate::InventoryItem;
use order_aggregate::Order;
use schemas::order::SupplySource;
use schemas::{CommandResult, StreamName};
use serde::{Deserialize, Serialize};

use crate::bench::{order_json, setup, BenchPlan};

/// Orders placed, promised and shipped together.
const ROUND: usize = 512;

/// What the audit bench is asked to do.
#[derive(Debug, Clone)]
pub struct AuditPlan {
    pub orders: usize,
    pub skus: usize,
    pub locations: usize,
    /// A damaged-stock fact is planted every this many rounds.
    pub plant_every: usize,
}

/// What seeding left: the history, and where the planted facts are.
#[derive(Debug, Serialize, Deserialize)]
struct Seeded {
    orders: usize,
    events: u64,
    seed_seconds: f64,
    refused_while_seeding: u64,
    planted: BTreeSet<u64>,
}

/// What a fresh process measured on the seeded store.
#[derive(Debug, Serialize, Deserialize)]
pub struct Replayed {
    events: u64,
    decode_only_events_per_s: f64,
    decode_only_peak_rss_mb: f64,
    audit_events_per_s: f64,
    audit_peak_rss_mb: f64,
    findings: usize,
    findings_from_planted_facts: usize,
    planted_without_finding: usize,
    system_faults: usize,
    late_orders: usize,
    late_inventory_owned: usize,
    late_flow_owned: usize,
}

/// Seeds a history (or reuses the one in `store`), then measures it in a
/// fresh process, so the replay's peak memory is its own.
pub fn run(
    data_dir: &Path,
    store_dir: Option<&Path>,
    config: StoreConfig,
    plan: &AuditPlan,
) -> anyhow::Result<()> {
    let root = store_dir.map_or_else(
        || {
            data_dir.join(format!(
                "bench-audit-{}",
                clock::Clock::now(&clock::SystemClock).format("%Y%m%dT%H%M%S%.3f")
            ))
        },
        Path::to_path_buf,
    );
    let notes = root.with_extension("seeded.json");
    let result = (|| -> anyhow::Result<()> {
        // A history seeded before is reused, and extended to `plan.orders`.
        let mut seeded = match std::fs::read_to_string(&notes) {
            Ok(text) => serde_json::from_str(&text)?,
            Err(_) => Seeded {
                orders: 0,
                events: 0,
                seed_seconds: 0.0,
                refused_while_seeding: 0,
                planted: BTreeSet::new(),
            },
        };
        if seeded.orders < plan.orders {
            let store = Store::open(&root, config.clone())?;
            let started = Instant::now();
            let (planted, refused) = seed(&store, plan, seeded.orders)?;
            seeded = Seeded {
                orders: plan.orders,
                events: store.head_position(),
                seed_seconds: seeded.seed_seconds + started.elapsed().as_secs_f64(),
                refused_while_seeding: seeded.refused_while_seeding + refused,
                planted: seeded.planted.union(&planted).copied().collect(),
            };
            std::fs::write(&notes, serde_json::to_string(&seeded)?)?;
        }
        eprintln!(
            "seeded {} orders: {} events in {:.1} s ({} planted facts, {} commands refused)",
            seeded.orders,
            seeded.events,
            seeded.seed_seconds,
            seeded.planted.len(),
            seeded.refused_while_seeding
        );
        let out = std::process::Command::new(std::env::current_exe()?)
            .arg("--cache-mb")
            .arg((config.cache_capacity_bytes / (1024 * 1024)).to_string())
            .arg("audit-replay")
            .arg("--store")
            .arg(&root)
            .arg("--seeded")
            .arg(&notes)
            .stderr(std::process::Stdio::inherit())
            .output()?;
        anyhow::ensure!(out.status.success(), "the measuring process failed");
        let r: Replayed = serde_json::from_slice(&out.stdout)?;
        let mut report = serde_json::to_value(&seeded)?;
        if let Some(map) = report.as_object_mut() {
            map.remove("planted");
            map.insert("planted".into(), seeded.planted.len().into());
            if let serde_json::Value::Object(measured) = serde_json::to_value(&r)? {
                map.extend(measured);
            }
            map.insert(
                "audit_over_decode".into(),
                (r.audit_events_per_s / r.decode_only_events_per_s).into(),
            );
        }
        println!("{report}");
        eprintln!("\n| history | read+decode only | audit replay | audit / decode | peak RSS decode | peak RSS audit |");
        eprintln!("|---|---|---|---|---|---|");
        eprintln!(
            "| {} orders, {} events | {:.0} events/s | {:.0} events/s | {:.2} | {:.0} MB | {:.0} MB |",
            seeded.orders,
            r.events,
            r.decode_only_events_per_s,
            r.audit_events_per_s,
            r.audit_events_per_s / r.decode_only_events_per_s,
            r.decode_only_peak_rss_mb,
            r.audit_peak_rss_mb
        );
        eprintln!(
            "\nfindings: {} ({} from the {} planted facts; {} planted facts without a finding; {} system faults); late orders: {} ({} inventory, {} flow)",
            r.findings,
            r.findings_from_planted_facts,
            seeded.planted.len(),
            r.planted_without_finding,
            r.system_faults,
            r.late_orders,
            r.late_inventory_owned,
            r.late_flow_owned
        );
        anyhow::ensure!(
            r.findings_from_planted_facts == r.findings && r.system_faults == 0,
            "the audit found broken promises no planted fact caused"
        );
        Ok(())
    })();
    if store_dir.is_none() {
        for leftover in [root.as_path(), notes.as_path()] {
            let removed = if leftover.is_dir() {
                std::fs::remove_dir_all(leftover)
            } else {
                std::fs::remove_file(leftover)
            };
            if let Err(e) = removed {
                tracing::warn!(error = %e, "could not remove the bench store");
            }
        }
    }
    result
}

/// In a fresh process: reads and decodes the seeded log, then replays it
/// through the audit, each with its own peak memory; prints [`Replayed`].
pub fn measure(store_dir: &Path, seeded: &Path, config: StoreConfig) -> anyhow::Result<()> {
    let planted = serde_json::from_str::<Seeded>(&std::fs::read_to_string(seeded)?)?.planted;
    let store = Store::open(store_dir, config)?;
    let events = store.head_position();
    reset_peak_rss();
    let decode = crate::bench_queries::decode_only(&store)?;
    let decode_rss = peak_rss_mb();
    reset_peak_rss();
    let started = Instant::now();
    let audit = audit::audit(&store, &audit::Scope::default(), Utc::now(), &mut |_, _| {})?;
    let audit_rate = events as f64 / started.elapsed().as_secs_f64();
    let audit_rss = peak_rss_mb();
    let findings = &audit.promises.findings;
    let root = |f: &audit::Finding| f.evidence.positions.first().copied();
    let from_planted = findings
        .iter()
        .filter(|f| root(f).is_some_and(|p| planted.contains(&p)))
        .count();
    let found: BTreeSet<u64> = findings.iter().filter_map(root).collect();
    let late = &audit.late.summary;
    let replayed = Replayed {
        events,
        decode_only_events_per_s: decode,
        decode_only_peak_rss_mb: decode_rss,
        audit_events_per_s: audit_rate,
        audit_peak_rss_mb: audit_rss,
        findings: findings.len(),
        findings_from_planted_facts: from_planted,
        planted_without_finding: planted.difference(&found).count(),
        system_faults: audit.promises.summary.system_faults,
        late_orders: late.late_orders,
        late_inventory_owned: late.inventory_owned,
        late_flow_owned: late.flow_owned,
    };
    println!("{}", serde_json::to_string(&replayed)?);
    Ok(())
}

/// Sends one command; whether it was accepted.
fn send(handler: &CommandHandler, json: &str) -> anyhow::Result<bool> {
    Ok(matches!(
        handler.handle(&schemas::parse_command(json)?)?,
        CommandResult::Accepted { .. }
    ))
}

/// Places, promises and ships orders `from..plan.orders` (defining the
/// items and stock first when `from` is 0); returns the positions of the
/// planted facts and how many commands were refused.
fn seed(store: &Store, plan: &AuditPlan, from: usize) -> anyhow::Result<(BTreeSet<u64>, u64)> {
    let handler = CommandHandler::new(store.clone());
    let orders = BenchPlan {
        orders: plan.orders,
        clients: 1,
        skus: plan.skus,
        locations: plan.locations,
        rate: None,
    };
    if from == 0 {
        setup(&handler, &orders)?;
    }
    let mut process = FulfilmentProcess::open(handler.clone())?;
    let base: DateTime<Utc> = "2026-03-02T08:00:00Z".parse()?;
    let (mut planted, mut refused) = (BTreeSet::new(), 0u64);
    let mut accept = |ok: bool| refused += u64::from(!ok);
    // Orders not shipped whole yet: those promised from the purchase
    // orders, until they arrive.
    let mut waiting: Vec<usize> = Vec::new();
    for first in (from..plan.orders).step_by(ROUND) {
        let round = first / ROUND;
        let at = |minutes: i64| {
            (base + Duration::minutes(10 * round as i64 + minutes))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        let ids: Vec<usize> = (first..(first + ROUND).min(plan.orders)).collect();
        for &n in &ids {
            let json = order_json(n, &orders).replace("2026-03-02T08:00:00Z", &at(0));
            accept(send(&handler, &json)?);
        }
        process.run_until_idle()?;
        if plan.plant_every > 0 && round % plan.plant_every == plan.plant_every / 2 {
            if let Some(position) = plant(&handler, &format!("B-{first}"), &at(1))? {
                planted.insert(position);
            }
            process.run_until_idle()?;
        }
        for &n in &ids {
            let (order, _) = handler.state::<Order>(&StreamName::order(&format!("B-{n}"))?)?;
            let json = format!(
                r#"{{"command_id":"pay-{n}","at":"{}","type":"AuthorizePayment","order_id":"B-{n}","amount_cents":{},"reference":"A-{n}"}}"#,
                at(2),
                order.total_cents()
            );
            accept(send(&handler, &json)?);
        }
        process.run_until_idle()?;
        if from == 0 && round == RECEIVE_ROUND {
            receive_purchase_orders(&handler, &orders, &at(0), &mut accept)?;
            process.run_until_idle()?;
        }
        let retry = if round.is_multiple_of(RECEIVE_ROUND) {
            std::mem::take(&mut waiting)
        } else {
            Vec::new()
        };
        for n in ids.into_iter().chain(retry) {
            if !ship(&handler, n, round, &at, &mut accept)? {
                waiting.push(n);
            }
        }
        process.run_until_idle()?;
    }
    Ok((planted, refused))
}

/// The round in which the purchase orders of the setup arrive.
const RECEIVE_ROUND: usize = 16;

/// Receives every line of the setup's purchase orders in full.
fn receive_purchase_orders(
    handler: &CommandHandler,
    plan: &BenchPlan,
    at: &str,
    accept: &mut dyn FnMut(bool),
) -> anyhow::Result<()> {
    // As `setup` ordered them.
    let per_item = (plan.orders * 3 * 3 / plan.skus.max(1)).clamp(10, 1_000_000);
    let day = at.get(..10).unwrap_or(at);
    for l in 0..plan.locations {
        for s in 0..plan.skus {
            let json = format!(
                r#"{{"command_id":"receive-{l}-{s}","at":"{at}","type":"ReceivePurchaseOrderLine","po_id":"BENCH-PO-{l}","line":{},"qty":{},"received_on":"{day}"}}"#,
                s + 1,
                per_item / 2
            );
            accept(send(handler, &json)?);
        }
    }
    Ok(())
}

/// Picks, packs and ships what the warehouse was given of order `n`;
/// whether the order is shipped whole.
fn ship(
    handler: &CommandHandler,
    n: usize,
    round: usize,
    at: &dyn Fn(i64) -> String,
    accept: &mut dyn FnMut(bool),
) -> anyhow::Result<bool> {
    let id = format!("B-{n}");
    let (order, _) = handler.state::<Order>(&StreamName::order(&id)?)?;
    let picks: Vec<(u32, u64)> = order
        .lines
        .iter()
        .filter(|(_, l)| l.to_pick > 0)
        .map(|(n, l)| (*n, l.to_pick))
        .collect();
    // Everything still open is in the warehouse's hands now.
    let whole = order
        .lines
        .values()
        .all(|l| l.cancelled || l.qty.saturating_sub(l.shipped_total()) <= l.to_pick);
    if picks.is_empty() {
        return Ok(whole);
    }
    for (line, qty) in &picks {
        let json = format!(
            r#"{{"command_id":"pick-{n}-{line}-{round}","at":"{}","type":"RecordPick","order_id":"{id}","line":{line},"qty":{qty}}}"#,
            at(3)
        );
        accept(send(handler, &json)?);
    }
    let json = format!(
        r#"{{"command_id":"pack-{n}-{round}","at":"{}","type":"PackOrder","order_id":"{id}"}}"#,
        at(4)
    );
    accept(send(handler, &json)?);
    let lines: Vec<String> = picks
        .iter()
        .map(|(line, qty)| format!(r#"{{"line":{line},"qty":{qty}}}"#))
        .collect();
    let json = format!(
        r#"{{"command_id":"ship-{n}-{round}","at":"{}","type":"ShipOrder","order_id":"{id}","shipment_id":"S-{n}-{round}","carrier":"DPD","tracking":"T-{n}","lines":[{}]}}"#,
        at(5),
        lines.join(",")
    );
    accept(send(handler, &json)?);
    Ok(whole)
}

/// Damages the stock that order `id`'s first line was promised from, one
/// unit below what is reserved there; the position of the adjustment.
fn plant(handler: &CommandHandler, id: &str, at: &str) -> anyhow::Result<Option<u64>> {
    let (order, _) = handler.state::<Order>(&StreamName::order(id)?)?;
    let Some((line, location)) = order.lines.values().find_map(|l| {
        l.allocations.keys().find_map(|s| match s {
            SupplySource::Stock { location } => Some((l, location.clone())),
            SupplySource::Inbound { .. } => None,
        })
    }) else {
        return Ok(None);
    };
    let (item, _) =
        handler.state::<InventoryItem>(&StreamName::inventory(&line.sku, &location)?)?;
    let delta = item.free() + 1;
    let json = format!(
        r#"{{"command_id":"plant-{id}","at":"{at}","type":"AdjustStock","sku":"{}","location":"{location}","delta":-{delta},"reason":"damage"}}"#,
        line.sku
    );
    match handler.handle(&schemas::parse_command(&json)?)? {
        CommandResult::Accepted { first_position, .. } => Ok(Some(first_position)),
        _ => Ok(None),
    }
}

/// Lets the next peak of resident memory be measured from here (Linux:
/// `/proc/self/clear_refs`; elsewhere the peak is the process's).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak resident memory since the last reset, in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
