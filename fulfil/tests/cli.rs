//! The `fulfil` binary end to end: submit a JSON-lines scenario, read the results and the log.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn fulfil(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (String, String, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fulfil"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.success(),
    )
}

const ITEM_MASTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../scenarios/item-master.jsonl"
);

/// Defines the scenarios' SKUs and locations; returns how many events that wrote.
fn define_item_master(dir: &std::path::Path) -> u64 {
    let (out, err, ok) = fulfil(dir, &["submit", ITEM_MASTER], None);
    assert!(ok, "{err}");
    let results = json_lines(&out);
    assert!(results.iter().all(|r| r["status"] == "accepted"), "{out}");
    results.len() as u64
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn submitting_a_scenario_prints_one_result_per_command_and_keeps_going_past_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let base = define_item_master(dir.path());
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/inventory-basics.jsonl"
    );
    let (out, err, ok) = fulfil(dir.path(), &["submit", scenario], None);
    assert!(ok, "{err}");
    let results = json_lines(&out);
    let summary: Vec<(String, String)> = results
        .iter()
        .map(|r| {
            let status = r["status"].as_str().unwrap().to_owned();
            let detail = match status.as_str() {
                "accepted" => r["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("+"),
                _ => r["reason"].as_str().unwrap().to_owned(),
            };
            (status, detail)
        })
        .collect();
    let expected = [
        ("accepted", "StockReceived"),
        ("accepted", "StockReserved"),
        ("rejected", "insufficient_stock"),
        ("accepted", "StockAdjusted+ShortageRecorded"),
        ("accepted", "StockReserved"),
        ("rejected", "idempotency_conflict"),
        ("invalid", "invalid_fields"),
        ("invalid", "malformed_json"),
        ("accepted", "ReservationReleased"),
    ];
    assert_eq!(summary, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
    assert_eq!(results[4]["duplicate"], Value::Bool(true));
    assert_eq!(results[4]["first_position"], results[1]["first_position"]);
    assert_eq!(results[2]["message"], "4 requested but only 3 free");
    assert_eq!(results[7]["line"], 9, "line numbers count the blank line");
    assert!(err.contains("5 accepted, 2 rejected, 2 invalid"), "{err}");

    let from = (base + 1).to_string();
    let (log, _, ok) = fulfil(dir.path(), &["events", "--from", &from], None);
    assert!(ok);
    let events = json_lines(&log);
    assert_eq!(events.len(), 5);
    assert_eq!(
        events
            .iter()
            .map(|e| e["position"].as_u64().unwrap() - base)
            .collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        events[3]["payload"],
        serde_json::json!({
            "type": "ShortageRecorded", "sku": "SKU-1", "location": "WH1", "on_hand": 6, "reserved": 7, "short": 1
        })
    );
    assert_eq!(events[0]["at"], "2026-03-02T08:00:00Z");
    assert_eq!(events[0]["causation_id"], "s-1");

    let (one, _, _) = fulfil(
        dir.path(),
        &["events", "--stream", "inventory-SKU-1@WH1", "--from", "4"],
        None,
    );
    assert_eq!(
        json_lines(&one)
            .iter()
            .map(|e| e["version"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![4, 5]
    );
}

#[test]
fn submit_reads_stdin_and_a_second_process_is_refused_while_the_store_is_open() {
    let dir = tempfile::tempdir().unwrap();
    define_item_master(dir.path());
    let line =
        r#"{"command_id":"x-1","type":"ReceiveStock","sku":"SKU-2","location":"WH2","qty":3}"#;
    let (out, _, ok) = fulfil(dir.path(), &["submit", "-"], Some(line));
    assert!(ok);
    assert_eq!(json_lines(&out)[0]["status"], "accepted");

    // Hold the store open in this process; the CLI must refuse, not corrupt.
    let held = event_store::Store::open(dir.path(), event_store::StoreConfig::default()).unwrap();
    let (_, err, ok) = fulfil(dir.path(), &["events"], None);
    assert!(!ok);
    assert!(err.contains("locked by another running process"), "{err}");
    drop(held);

    let foreign = tempfile::tempdir().unwrap();
    std::fs::write(foreign.path().join("thesis.tex"), "mine").unwrap();
    let (_, err, ok) = fulfil(foreign.path(), &["events"], None);
    assert!(!ok);
    assert!(err.contains("not a fulfil data directory"), "{err}");
}

#[test]
fn the_demo_runs_end_to_end_without_overselling() {
    let dir = tempfile::tempdir().unwrap();
    let (out, err, ok) = fulfil(dir.path(), &["demo"], None);
    assert!(ok, "{err}");
    assert!(out.contains("3 reservations made, 5 refused for insufficient stock: 9 of 10 promised, none oversold"), "{out}");
    assert!(out.contains("1 shortage(s) recorded"), "{out}");
}

#[test]
fn events_pages_through_a_log_longer_than_one_page() {
    let dir = tempfile::tempdir().unwrap();
    let base = define_item_master(dir.path());
    let commands: String = (0..1100)
        .map(|i| format!("{{\"command_id\":\"p-{i}\",\"type\":\"ReceiveStock\",\"sku\":\"SKU-{}\",\"location\":\"WH1\",\"qty\":1}}\n", 1 + i % 3))
        .collect();
    let (_, err, ok) = fulfil(dir.path(), &["submit", "-"], Some(&commands));
    assert!(ok && err.contains("1100 accepted"), "{err}");

    let (all, _, _) = fulfil(dir.path(), &["events"], None);
    let positions: Vec<u64> = json_lines(&all)
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, (1..=1100 + base).collect::<Vec<_>>());

    let (some, _, _) = fulfil(
        dir.path(),
        &["events", "--from", "5", "--limit", "1050"],
        None,
    );
    let positions: Vec<u64> = json_lines(&some)
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, (5..1055).collect::<Vec<_>>());
}
