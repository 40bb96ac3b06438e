//! `fulfil demo`: everything the system can do so far, for real and end to
//! end, on a fresh store: the item master, orders, a purchase order,
//! receipts, a short pick, a cancellation and a return go through the
//! command handler and the fulfilment process into the durable log; bad
//! input is refused with reasons; concurrent clients race for the last
//! units without overselling; every position is rebuilt from the log.

use std::path::Path;

use anyhow::Context;
use command_handler::CommandHandler;
use event_store::{Store, StoreConfig};
use fulfil_service::Processes;
use inventory_aggregate::InventoryItem;
use order_aggregate::Order;
use schemas::CommandResult;
use schemas::StreamName;

/// The same scenario the end-to-end test checks.
const SCENARIO: &str = include_str!("../../scenarios/fulfilment.jsonl");

pub fn run(data_dir: Option<&Path>, config: StoreConfig) -> anyhow::Result<()> {
    // Never inside another store's directory: a given one must be new or
    // empty; by default a directory of its own beside ./data.
    let dir = match data_dir {
        Some(dir) => {
            let used = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
            anyhow::ensure!(
                !used,
                "{} is not empty: the demo runs on a fresh store; give it a new --data-dir, or none (it then uses ./demo-TIME)",
                dir.display()
            );
            dir.to_owned()
        }
        None => std::path::PathBuf::from(format!(
            "demo-{}",
            clock::Clock::now(&clock::SystemClock).format("%Y%m%dT%H%M%S%.3f")
        )),
    };
    let store = Store::open(&dir, config).with_context(|| format!("opening {}", dir.display()))?;
    let handler = CommandHandler::new(store.clone());
    let mut process = Processes::open(&handler, projections::ReadModels::open(&store)?)?;
    crate::output::line(format_args!(
        "fulfil demo: a fresh embedded store in {}\n",
        dir.display()
    ))?;

    crate::output::line(format_args!("1. Commands in the wire format, one result each; the fulfilment process reacts after each:"))?;
    let (mut issued, mut refused) = (0, Vec::new());
    for (n, line) in SCENARIO.lines().enumerate() {
        let result = match schemas::parse_command(line) {
            Ok(envelope) => handler.handle(&envelope)?,
            Err(e) => CommandResult::invalid(Some(n + 1), &e),
        };
        let progress = process.run_until_idle()?;
        issued += progress.commands;
        match &result {
            CommandResult::Accepted {
                command_id, events, ..
            }
            | CommandResult::WouldAccept {
                command_id, events, ..
            } => crate::output::line(format_args!(
                "   {command_id:<9} accepted  {}{}",
                events.join(", "),
                if progress.accepted > 0 {
                    format!("   (+{} by the process)", progress.accepted)
                } else {
                    String::new()
                }
            ))?,
            CommandResult::Rejected {
                command_id,
                reason,
                message,
            } => {
                crate::output::line(format_args!(
                    "   {command_id:<9} REJECTED  {reason}: {message}"
                ))?;
                refused.push(reason.to_owned());
            }
            CommandResult::Invalid {
                reason, message, ..
            } => {
                crate::output::line(format_args!(
                    "   line {:<4} INVALID   {reason}: {message}",
                    n + 1
                ))?;
                refused.push(reason.to_owned());
            }
        }
    }
    crate::output::line(format_args!(
        "   {} refused with a reason, nothing changed by them; the process issued {issued} commands.",
        refused.len()
    ))?;

    crate::output::line(format_args!(
        "\n2. Stock positions (each inventory item, as its events left it):"
    ))?;
    crate::output::line(format_args!(
        "   {:<18} {:>8} {:>9} {:>5} {:>8}",
        "item", "on hand", "reserved", "free", "inbound"
    ))?;
    for item in ["MUG@WH1", "MUG@WH2", "TOWEL@WH1", "BEANS@WH2"] {
        let (sku, location) = item.split_once('@').unwrap_or((item, ""));
        let (state, _) = handler.state::<InventoryItem>(&StreamName::inventory(sku, location)?)?;
        let inbound: u64 = state.inbound.values().map(|i| i.qty).sum();
        crate::output::line(format_args!(
            "   {:<18} {:>8} {:>9} {:>5} {:>8}",
            item,
            state.on_hand,
            state.reserved(),
            state.free(),
            inbound
        ))?;
    }

    crate::output::line(format_args!("\n3. Orders:"))?;
    for order_id in ["SO-1", "SO-2", "SO-3"] {
        let (order, _) = handler.state::<Order>(&StreamName::order(order_id)?)?;
        let lines: Vec<String> = order
            .lines
            .iter()
            .map(|(n, l)| {
                format!(
                    "line {n} {}×{}: shipped {}, allocated {}, backordered {}",
                    l.qty,
                    l.sku,
                    l.shipped_total(),
                    l.allocated(),
                    l.backordered
                )
            })
            .collect();
        crate::output::line(format_args!(
            "   {order_id}{}: {}",
            if order.cancelled { " (cancelled)" } else { "" },
            lines.join("; ")
        ))?;
    }

    crate::output::line(format_args!(
        "\n4. Eight of the process's workers race to reserve the last 10 MUG at WH1 (after restocking), 3 units each:"
    ))?;
    let restock = r#"{"command_id":"demo-restock","type":"CountStock","sku":"MUG","location":"WH1","counted":10}"#;
    handler.handle(&schemas::parse_command(restock)?)?;
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let handler = handler.clone();
            std::thread::spawn(move || -> anyhow::Result<CommandResult> {
                let line = format!(
                    r#"{{"command_id":"race-{i}","type":"ReserveStock","sku":"MUG","location":"WH1","order_id":"RACE-{i}","line":1,"qty":3}}"#
                );
                // Reservations are the process's alone: from outside this
                // command is refused (`process_only`).
                Ok(handler.handle_from_process(&schemas::parse_command(&line)?)?)
            })
        })
        .collect();
    let (mut won, mut lost) = (0, 0);
    for racer in racers {
        match racer
            .join()
            .map_err(|_| anyhow::anyhow!("a racing client panicked"))??
        {
            CommandResult::Accepted { .. } => won += 1,
            CommandResult::Rejected {
                reason: "insufficient_stock",
                ..
            } => lost += 1,
            other => anyhow::bail!("unexpected result in the race: {other:?}"),
        }
    }
    let (mug, _) = handler.state::<InventoryItem>(&StreamName::inventory("MUG", "WH1")?)?;
    let oversold = if mug.reserved() > mug.on_hand {
        format!("OVERSOLD by {}", mug.reserved() - mug.on_hand)
    } else {
        "none oversold".to_owned()
    };
    crate::output::line(format_args!(
        "   {won} reservations made, {lost} refused for insufficient stock: {} of 10 promised, {oversold}",
        won * 3
    ))?;

    let log = store.read_all(1, usize::MAX)?;
    let count = |t: &str| log.iter().filter(|e| e.event_type == t).count();
    crate::output::line(format_args!(
        "\n5. The log: {} events, gapless positions 1..={}; {} short pick(s), {} shortage(s) and {} customer notification(s) on record; {} events wait in the outbox for publication.",
        store.head_position(),
        store.head_position(),
        count("PickShort"),
        count("ShortageRecorded"),
        count("CustomerNotified"),
        store.outbox_len()?
    ))?;
    crate::output::line(format_args!(
        "   Inspect it with: fulfil --data-dir {} events",
        dir.display()
    ))?;
    crate::output::line(format_args!(
        "   or one aggregate: fulfil --data-dir {} state order-SO-1",
        dir.display()
    ))?;
    Ok(())
}
