//! `fulfil demo`: everything the system can do so far, for real and end to
//! end, on a fresh store: commands in the wire format go through the command
//! handler into the durable log, bad input is refused with reasons, a retry
//! is idempotent, concurrent orders race for the last units without
//! overselling, and every stock position is rebuilt from the log.

use std::path::Path;

use anyhow::Context;
use decider::Decider;
use event_store::{Store, StoreConfig, StreamId};
use inventory_aggregate::InventoryItem;
use schemas::InventoryEvent;

use fulfil::handler::{CommandHandler, CommandResult};

const SCENARIO: &[&str] = &[
    r#"{"command_id":"demo-m1","type":"DefineSku","sku":"TSHIRT-M","description":"T-shirt, medium","unit_of_measure":"each","standard_cost_cents":450}"#,
    r#"{"command_id":"demo-m2","type":"DefineSku","sku":"MUG","description":"Enamel mug","unit_of_measure":"each","standard_cost_cents":320}"#,
    r#"{"command_id":"demo-m3","type":"DefineLocation","location":"WH-EAST","name":"East warehouse","kind":"warehouse"}"#,
    r#"{"command_id":"demo-m4","type":"DefineLocation","location":"WH-WEST","name":"West warehouse","kind":"warehouse"}"#,
    r#"{"command_id":"demo-1","at":"2026-03-02T08:00:00Z","type":"ReceiveStock","sku":"TSHIRT-M","location":"WH-EAST","qty":10,"reference":"PO-1001"}"#,
    r#"{"command_id":"demo-2","at":"2026-03-02T08:05:00Z","type":"ReceiveStock","sku":"TSHIRT-M","location":"WH-WEST","qty":4,"reference":"PO-1002"}"#,
    r#"{"command_id":"demo-3","at":"2026-03-02T09:12:00Z","type":"ReserveStock","sku":"TSHIRT-M","location":"WH-EAST","order_id":"SO-501","line":1,"qty":6}"#,
    r#"{"command_id":"demo-4","at":"2026-03-02T09:40:00Z","type":"ReserveStock","sku":"TSHIRT-M","location":"WH-EAST","order_id":"SO-502","line":1,"qty":5}"#,
    r#"{"command_id":"demo-5","at":"2026-03-02T09:41:00Z","type":"ReserveStock","sku":"TSHIRT-M","location":"WH-WEST","order_id":"SO-502","line":1,"qty":4}"#,
    r#"{"command_id":"demo-6","at":"2026-03-02T11:00:00Z","type":"AdjustStock","sku":"TSHIRT-M","location":"WH-EAST","delta":-5,"reason":"damage"}"#,
    r#"{"command_id":"demo-3","at":"2026-03-02T09:12:00Z","type":"ReserveStock","sku":"TSHIRT-M","location":"WH-EAST","order_id":"SO-501","line":1,"qty":6}"#,
    r#"{"command_id":"demo-7","at":"2026-03-02T12:00:00Z","type":"ReleaseReservation","sku":"TSHIRT-M","location":"WH-WEST","order_id":"SO-502","line":1}"#,
    r#"{"command_id":"demo-8","type":"ReceiveStock","sku":"TSHIRT-M","location":"WH-EAST","qty":0}"#,
    r#"{"command_id":"demo-9","type":"ShipRocket"}"#,
    r#"{"command_id":"demo-10","type":"ReceiveStock","sku":"TSHIRT-M""#,
    r#"{"command_id":"demo-11","at":"2026-03-02T13:00:00Z","type":"ReceiveStock","sku":"MUG","location":"WH-EAST","qty":10}"#,
];

pub fn run(data_dir: &Path, config: StoreConfig) -> anyhow::Result<()> {
    let dir = data_dir.join(format!(
        "demo-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f")
    ));
    let store = Store::open(&dir, config).with_context(|| format!("opening {}", dir.display()))?;
    let handler = CommandHandler::new(store.clone());
    println!("fulfil demo: a fresh embedded store in {}\n", dir.display());

    println!("1. Commands in the wire format, one result each (what `fulfil submit` prints):");
    for (n, line) in SCENARIO.iter().enumerate() {
        let result = match schemas::parse_command(line) {
            Ok(envelope) => handler.handle(&envelope)?,
            Err(e) => CommandResult::invalid(Some(n + 1), &e),
        };
        println!("   {}", serde_json::to_string(&result)?);
    }

    println!("\n2. Eight clients race for MUG at WH-EAST (10 on hand), 3 units each:");
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let handler = handler.clone();
            std::thread::spawn(move || {
                let line = format!(
                    r#"{{"command_id":"race-{i}","type":"ReserveStock","sku":"MUG","location":"WH-EAST","order_id":"SO-9{i:02}","line":1,"qty":3}}"#
                );
                schemas::parse_command(&line).map_err(anyhow::Error::from).and_then(|e| Ok(handler.handle(&e)?))
            })
        })
        .collect();
    let (mut won, mut refused) = (0, 0);
    for racer in racers {
        match racer
            .join()
            .map_err(|_| anyhow::anyhow!("a racing client panicked"))??
        {
            CommandResult::Accepted { .. } => won += 1,
            CommandResult::Rejected {
                reason: "insufficient_stock",
                ..
            } => refused += 1,
            other => anyhow::bail!("unexpected result in the race: {other:?}"),
        }
    }
    println!("   {won} reservations made, {refused} refused for insufficient stock: {} of 10 promised, none oversold", won * 3);

    println!("\n3. Stock positions rebuilt from the log:");
    println!(
        "   {:<24} {:>8} {:>9} {:>5}  events",
        "item", "on hand", "reserved", "free"
    );
    for (sku, location) in [
        ("TSHIRT-M", "WH-EAST"),
        ("TSHIRT-M", "WH-WEST"),
        ("MUG", "WH-EAST"),
    ] {
        let stream = StreamId::new(format!("inventory-{sku}@{location}"))?;
        let events = store.read_stream(&stream, 1)?;
        let decoded: Vec<InventoryEvent> = events
            .iter()
            .map(|e| serde_json::from_value(e.payload.clone()))
            .collect::<Result<_, _>>()?;
        let item = InventoryItem::fold(&decoded);
        println!(
            "   {:<24} {:>8} {:>9} {:>5}  {}",
            format!("{sku}@{location}"),
            item.on_hand,
            item.reserved(),
            item.free(),
            events
                .iter()
                .map(|e| e.event_type.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let shortages = store
        .read_all(1, usize::MAX)?
        .into_iter()
        .filter(|e| e.event_type == "ShortageRecorded")
        .count();
    println!(
        "\n4. The log: {} events, gapless positions 1..={}; {} shortage(s) recorded where damage hit reserved stock; {} events wait in the outbox for publication.",
        store.head_position(),
        store.head_position(),
        shortages,
        store.outbox_len()?
    );
    println!(
        "   Inspect it with: fulfil events --data-dir {}",
        dir.display()
    );
    Ok(())
}
