//! The `fulfil` binary end to end: submit a JSON-lines scenario, read the results and the log.

mod serving;

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

/// Submits `input` (JSON lines) on stdin; every command must be accepted.
/// Returns what `submit` wrote to stderr (its summary).
fn submit_accepted(dir: &std::path::Path, input: &str) -> String {
    let (out, err, ok) = fulfil(dir, &["submit", "-"], Some(input));
    assert!(ok, "{err}");
    assert!(
        json_lines(&out).iter().all(|r| r["status"] == "accepted"),
        "{out}"
    );
    err
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
    // Exit 2: some lines were refused; every line still has its result.
    assert!(!ok && err.contains("4 of 9 commands were refused"), "{err}");
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
        ("accepted", "OrderPlaced+CustomerNotified"),
        ("rejected", "process_only"),
        ("accepted", "StockAdjusted+ShortageRecorded"),
        ("accepted", "OrderPlaced+CustomerNotified"),
        ("rejected", "idempotency_conflict"),
        ("invalid", "invalid_fields"),
        ("invalid", "malformed_json"),
        ("accepted", "OrderCancelled+CustomerNotified"),
    ];
    assert_eq!(summary, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
    assert_eq!(results[4]["duplicate"], Value::Bool(true));
    assert_eq!(results[4]["first_position"], results[1]["first_position"]);
    assert_eq!(
        results[2]["message"],
        "ReserveStock is sent only by the fulfilment process: the fulfilment process reserves, releases and consumes stock for order lines"
    );
    assert_eq!(results[7]["line"], 9, "line numbers count the blank line");
    assert!(err.contains("5 accepted, 2 rejected, 2 invalid"), "{err}");

    let from = (base + 1).to_string();
    let (log, _, ok) = fulfil(dir.path(), &["events", "--from", &from], None);
    assert!(ok);
    let events = json_lines(&log);
    let positions: Vec<u64> = events
        .iter()
        .map(|e| e["position"].as_u64().unwrap() - base)
        .collect();
    assert_eq!(positions, (1..=positions.len() as u64).collect::<Vec<_>>());
    let of_type = |t: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["event_type"] == t)
            .map(|e| &e["payload"])
            .collect()
    };
    // The refused reservation wrote nothing: the process reserved for SO-1 alone.
    assert_eq!(of_type("StockReserved").len(), 1);
    assert_eq!(of_type("StockReserved")[0]["order_id"], "SO-1");
    assert_eq!(
        of_type("ShortageRecorded"),
        [&serde_json::json!({
            "type": "ShortageRecorded", "sku": "SKU-1", "location": "WH1", "on_hand": 6, "reserved": 7, "short": 1
        })]
    );
    // The shortage is rescheduled: the missing unit is given back and, with
    // no other supply, backordered; the customer is told.
    assert_eq!(
        of_type("LineDeallocated")[0]["reason"],
        "stock at WH1 was found short"
    );
    assert_eq!(of_type("LineBackordered")[0]["qty"], 1);
    assert_eq!(events[0]["at"], "2026-03-02T08:00:00Z");
    assert_eq!(events[0]["causation_id"], "s-1");

    let (one, _, _) = fulfil(
        dir.path(),
        &["events", "--stream", "inventory-SKU-1@WH1", "--from", "4"],
        None,
    );
    let versions: Vec<u64> = json_lines(&one)
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions[..2], [4, 5]);
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
    // It says how to reach the service that holds it.
    assert!(err.contains("--server http://HOST:PORT"), "{err}");
    drop(held);

    let foreign = tempfile::tempdir().unwrap();
    std::fs::write(foreign.path().join("thesis.tex"), "mine").unwrap();
    let (_, err, ok) = fulfil(foreign.path(), &["events"], None);
    assert!(!ok);
    assert!(err.contains("no fulfil store"), "{err}");
    let (_, err, ok) = fulfil(foreign.path(), &["submit", "-"], Some(line));
    assert!(!ok);
    assert!(err.contains("not a fulfil data directory"), "{err}");
}

#[test]
fn the_demo_runs_end_to_end_without_overselling() {
    let dir = tempfile::tempdir().unwrap();
    let (out, err, ok) = fulfil(dir.path(), &["demo"], None);
    assert!(ok, "{err}");
    assert!(out.contains("3 reservations made, 5 refused for insufficient stock: 9 of 10 promised, none oversold"), "{out}");
    assert!(out.contains("1 short pick(s)"), "{out}");
    assert!(out.contains("7 refused with a reason"), "{out}");
}

#[test]
fn events_pages_through_a_log_longer_than_one_page() {
    let dir = tempfile::tempdir().unwrap();
    let base = define_item_master(dir.path());
    let commands: String = (0..1100)
        .map(|i| {
            let sku = 1 + i % 3;
            format!("{{\"command_id\":\"p-{i}\",\"type\":\"ReceiveStock\",\"sku\":\"SKU-{sku}\",\"location\":\"WH1\",\"qty\":1}}\n")
        })
        .collect::<Vec<_>>()
        .concat();
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

fn state(dir: &std::path::Path, stream: &str) -> Value {
    let (out, err, ok) = fulfil(dir, &["state", stream], None);
    assert!(ok, "{stream}: {err}");
    serde_json::from_str::<Value>(&out).unwrap()["state"].clone()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Orders, a PO, receipts, a short pick, a cancellation and a return,
/// through `fulfil submit` and the fulfilment process; every figure below
/// is worked out by hand in the comments.
#[test]
fn the_fulfilment_scenario_ends_in_the_expected_states() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/fulfilment.jsonl");
    let (out, err, ok) = fulfil(dir.path(), &["submit", scenario], None);
    assert!(
        !ok && err.contains("7 of 32 commands were refused"),
        "{err}"
    );
    let refused: Vec<String> = json_lines(&out)
        .iter()
        .filter(|r| r["status"] != "accepted")
        .map(|r| {
            let who = r["command_id"]
                .as_str()
                .map_or_else(|| format!("line {}", r["line"]), str::to_owned);
            format!("{who}:{}", r["reason"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        refused,
        [
            "f-bad1:unknown_sku",
            "f-bad2:invalid_order",
            "f-bad3:over_shipment",
            "f-bad4:already_shipped",
            "f-bad5:over_tolerance",
            "f-bad6:invalid_fields",
            "f-bad7:unknown_location",
        ]
    );
    assert!(err.contains("25 accepted, 6 rejected, 1 invalid"), "{err}");

    // MUG: 10 at WH1, 5 at WH2. SO-1 wants 12: 10 from WH1 (most free), 2 from
    // WH2. SO-3's 2 from WH2 are released by its cancellation. The pick of
    // SO-1 line 1 finds 11 of 12: the missing unit was at WH2, which now has
    // 4, so it is sourced again there. 11 ship (10 from WH1, 1 from WH2); 2
    // come back resellable to WH1, where most of the line shipped from.
    assert_eq!(
        state(dir.path(), "inventory-MUG@WH1"),
        json(
            r#"{"on_hand":2,"reservations":{},"inbound":{},"inbound_reservations":{},"policy":null}"#
        )
    );
    assert_eq!(state(dir.path(), "inventory-MUG@WH2")["on_hand"], 3);
    assert_eq!(
        state(dir.path(), "inventory-MUG@WH2")["reservations"],
        json(r#"{"SO-1#1":1}"#)
    );
    // TOWEL: 2 on hand, PO-1 brings 20 on the 10th and the policy allows
    // promising them. SO-1 wants 5: 2 from stock (shipped), 3 promised on
    // PO-1, which become an on-hand reservation when it arrives.
    let towel = state(dir.path(), "inventory-TOWEL@WH1");
    assert_eq!(towel["on_hand"], 20);
    assert_eq!(towel["reservations"], json(r#"{"SO-1#2":3}"#));
    assert_eq!(towel["inbound"], json("{}"));
    // BEANS: none in stock and no inbound promises allowed, so SO-2 is
    // backordered; PO-1's 10 arrive on the 13th and fill it.
    let beans = state(dir.path(), "inventory-BEANS@WH2");
    assert_eq!(beans["on_hand"], 10);
    assert_eq!(beans["reservations"], json(r#"{"SO-2#1":4}"#));

    let so1 = state(dir.path(), "order-SO-1");
    let line1 = &so1["lines"]["1"];
    assert_eq!(line1["shipped"], json(r#"{"WH1":10,"WH2":1}"#));
    assert_eq!(
        line1["allocations"],
        json(
            r#"[{"source":{"kind":"stock","location":"WH2"},"qty":1,"promise_date":"2026-03-05"}]"#
        )
    );
    assert_eq!(
        line1["to_pick"], 1,
        "the re-sourced unit is released to the warehouse"
    );
    assert_eq!(line1["returned"], 2);
    let line2 = &so1["lines"]["2"];
    assert_eq!(line2["shipped"], json(r#"{"WH1":2}"#));
    assert_eq!(
        line2["allocations"],
        json(
            r#"[{"source":{"kind":"stock","location":"WH1"},"qty":3,"promise_date":"2026-03-10"}]"#
        )
    );
    assert_eq!(line2["to_pick"], 3);
    assert_eq!(so1["shipments"], json(r#"{"SHP-1":true}"#));
    assert_eq!(so1["returns"]["RMA-1"]["refunded"], true);

    let so2 = state(dir.path(), "order-SO-2");
    assert_eq!(so2["lines"]["1"]["backordered"], 0);
    assert_eq!(so2["lines"]["1"]["allocations"][0]["qty"], 4);
    assert_eq!(
        so2["lines"]["1"]["to_pick"], 0,
        "unpaid orders are not released"
    );
    assert_eq!(state(dir.path(), "order-SO-3")["cancelled"], true);

    // The short pick is on record on both sides of the handoff.
    let (log, _, _) = fulfil(dir.path(), &["events"], None);
    let types: Vec<String> = json_lines(&log)
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_owned())
        .collect();
    assert!(types.contains(&"PickShort".to_owned()));
    assert!(types.contains(&"PickShortRecorded".to_owned()));

    // ATP from the read model: MUG has 2 free at WH1 and 2 at WH2; TOWEL 17.
    let (atp, err, ok) = fulfil(
        dir.path(),
        &[
            "atp",
            "MUG",
            "--plan-from",
            "2026-03-16",
            "--format",
            "json",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(json(&atp)["atp_now"], 4);
    let (csv, _, _) = fulfil(
        dir.path(),
        &["atp", "MUG", "--plan-from", "2026-03-16", "--format", "csv"],
        None,
    );
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        [
            "location,day,supply,requirements,atp,cumulative",
            "WH1,2026-03-16,2,0,2,2",
            "WH2,2026-03-16,3,1,2,2",
            "all,2026-03-16,5,1,4,4",
        ]
    );
    let promise = |qty: &str| {
        let (out, err, ok) = fulfil(
            dir.path(),
            &[
                "promise",
                "TOWEL",
                qty,
                "--by",
                "2026-03-20",
                "--plan-from",
                "2026-03-16",
                "--format",
                "json",
            ],
            None,
        );
        assert!(ok, "{err}");
        json(&out)["can_promise"].as_bool().unwrap()
    };
    assert!(promise("17"));
    assert!(!promise("18"));
    let (_, err, ok) = fulfil(dir.path(), &["atp", "KETTLE"], None);
    assert!(!ok && err.contains("SKU KETTLE is not defined"), "{err}");

    // Restart the process from nothing: every command it re-issues is
    // answered from the log, and nothing new is written.
    let head = json_lines(&log).len();
    {
        let store =
            event_store::Store::open(dir.path(), event_store::StoreConfig::default()).unwrap();
        store
            .checkpointed("fulfilment-process")
            .unwrap()
            .clear()
            .unwrap();
    }
    let (_, err, ok) = fulfil(dir.path(), &["submit", "-"], Some(""));
    assert!(ok, "{err}");
    assert!(
        !err.contains("issued 0 commands"),
        "the rerun re-issues: {err}"
    );
    let (again, _, _) = fulfil(dir.path(), &["events"], None);
    assert_eq!(json_lines(&again).len(), head, "{err}");
    assert_eq!(
        state(dir.path(), "inventory-MUG@WH2")["reservations"],
        json(r#"{"SO-1#1":1}"#)
    );
}

#[test]
fn metrics_replay_and_check_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/fulfilment.jsonl");
    let (_, err, ok) = fulfil(dir.path(), &["submit", scenario], None);
    assert!(
        !ok && err.contains("7 of 32 commands were refused"),
        "{err}"
    );
    let (log, _, _) = fulfil(dir.path(), &["events"], None);
    let head = json_lines(&log).len() as u64;

    // Three orders were placed; SO-3 was cancelled.
    let (out, err, ok) = fulfil(dir.path(), &["metrics", "orders", "--format", "json"], None);
    assert!(ok, "{err}");
    let m = json(&out);
    assert_eq!(
        (m["orders"].as_u64(), m["cancelled"].as_u64()),
        (Some(3), Some(1))
    );
    let (csv, _, _) = fulfil(
        dir.path(),
        &["metrics", "orders", "--channel", "store", "--format", "csv"],
        None,
    );
    // A CSV table: a header row and one row of figures.
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 2, "{csv}");
    let header: Vec<&str> = rows[0].split(',').collect();
    let values: Vec<&str> = rows[1].split(',').collect();
    assert_eq!(header.len(), values.len(), "{csv}");
    assert_eq!((header[0], values[0]), ("orders", "1"), "{csv}");
    // A table for people: shares as percentages, no 16-digit floats.
    let (table, _, _) = fulfil(dir.path(), &["metrics", "orders"], None);
    assert!(table.contains("line fill rate"), "{table}");
    assert!(table.contains(" %"), "{table}");
    assert!(
        !table
            .split_whitespace()
            .any(|w| w.split('.').nth(1).is_some_and(|d| d.len() > 2)),
        "no long decimals: {table}"
    );
    // SHP-1 took 11 MUG and 2 TOWEL.
    let (out, err, ok) = fulfil(
        dir.path(),
        &[
            "metrics",
            "inventory",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-16",
            "--as-of",
            "2026-03-16T23:00:00Z",
            "--format",
            "json",
        ],
        None,
    );
    assert!(ok, "{err}");
    let inv = json(&out);
    assert_eq!(
        (inv["days"].as_u64(), inv["units_shipped"].as_u64()),
        (Some(16), Some(13))
    );
    let (table, _, _) = fulfil(
        dir.path(),
        &["metrics", "inventory", "--sku", "TOWEL"],
        None,
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("cost of goods shipped ") && l.contains(" USD")),
        "money in the store's currency: {table}"
    );
    let (_, err, ok) = fulfil(
        dir.path(),
        &[
            "metrics",
            "inventory",
            "--from",
            "2026-03-10",
            "--to",
            "2026-03-01",
        ],
        None,
    );
    assert!(!ok && err.contains("--from is after --to"), "{err}");

    // Promise as CSV.
    let (csv, _, _) = fulfil(
        dir.path(),
        &[
            "promise",
            "TOWEL",
            "17",
            "--by",
            "2026-03-20",
            "--plan-from",
            "2026-03-16",
            "--format",
            "csv",
        ],
        None,
    );
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        [
            "sku,qty,by,can_promise,confirmable,earliest,sources",
            "TOWEL,17,2026-03-20,true,17,2026-03-16,WH1:17"
        ]
    );

    // Every model rebuilt to the head, then found equal to a fresh rebuild.
    let (out, err, ok) = fulfil(dir.path(), &["replay", "--projection", "all"], None);
    assert!(ok, "{err}");
    let rebuilt = json_lines(&out);
    assert_eq!(rebuilt.len(), projections::NAMES.len());
    assert!(
        rebuilt
            .iter()
            .all(|r| r["checkpoint"].as_u64() == Some(head)),
        "{out}"
    );
    let (out, err, ok) = fulfil(dir.path(), &["check", "--projection", "all"], None);
    assert!(ok, "{err}");
    assert!(
        json_lines(&out)
            .iter()
            .all(|r| r["differences"] == json("[]")),
        "{out}"
    );
    let (_, err, ok) = fulfil(dir.path(), &["check", "--projection", "nope"], None);
    assert!(!ok && err.contains("atp, orders, stock"), "{err}");
}

#[test]
fn serve_answers_over_http_and_replay_and_check_can_ask_it() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/fulfilment.jsonl");
    let (_, err, ok) = fulfil(dir.path(), &["submit", scenario], None);
    assert!(
        !ok && err.contains("7 of 32 commands were refused"),
        "{err}"
    );
    let mut serving = serving::Serving::start(dir.path(), &[]);
    let url = serving.url.clone();
    // While it holds the store, the CLI asks it.
    let (out, err, ok) = fulfil(
        dir.path(),
        &["replay", "--projection", "stock", "--server", &url],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(json(&out)["projection"], "stock");
    let (out, err, ok) = fulfil(
        dir.path(),
        &["check", "--projection", "all", "--server", &url],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(json_lines(&out).len(), projections::NAMES.len());
    let (_, err, ok) = fulfil(
        dir.path(),
        &["check", "--projection", "nope", "--server", &url],
        None,
    );
    assert!(!ok && err.contains("404"), "{err}");

    // Without --server a query is told where to go; with it, every read
    // command asks the service and prints what it prints from the store.
    let (_, err, ok) = fulfil(dir.path(), &["orders"], None);
    assert!(!ok && err.contains("--server http://HOST:PORT"), "{err}");
    let head = json_lines(&fulfil(dir.path(), &["events", "--server", &url], None).0).len();
    serving.ready(head);
    let questions: [&[&str]; 7] = [
        &["orders", "--format", "csv"],
        &["order", "SO-1"],
        &["stock", "--sku", "MUG"],
        &["pos"],
        &["atp", "MUG", "--plan-from", "2026-03-16"],
        &[
            "promise",
            "TOWEL",
            "5",
            "--by",
            "2026-03-20",
            "--plan-from",
            "2026-03-16",
        ],
        &[
            "metrics",
            "orders",
            "--as-of",
            "2026-03-20",
            "--format",
            "csv",
        ],
    ];
    let mut served = Vec::new();
    for args in questions {
        let mut with = args.to_vec();
        with.extend(["--server", url.as_str()]);
        let (out, err, ok) = fulfil(dir.path(), &with, None);
        assert!(ok, "{args:?}: {err}");
        served.push(out);
    }
    let (_, err, ok) = fulfil(dir.path(), &["atp", "NOPE", "--server", &url], None);
    assert!(!ok && err.contains("SKU NOPE is not defined"), "{err}");
    // Commands go to it too: tried, then applied.
    let line =
        r#"{"command_id":"srv-1","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":4}"#;
    let (out, err, ok) = fulfil(
        dir.path(),
        &["submit", "-", "--dry-run", "--server", &url],
        Some(line),
    );
    assert!(ok, "{err}");
    assert_eq!(json_lines(&out)[0]["status"], "would_accept");
    let (out, err, ok) = fulfil(dir.path(), &["submit", "-", "--server", &url], Some(line));
    assert!(ok && err.contains("1 accepted"), "{err}");
    let applied = json_lines(&out)[0]["last_position"].as_u64().unwrap();
    let bad = r#"{"command_id":"srv-2","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":4,"qyt":4}"#;
    let (out, err, ok) = fulfil(dir.path(), &["submit", "-", "--server", &url], Some(bad));
    assert!(!ok && err.contains("1 of 1 commands were refused"), "{err}");
    assert!(out.contains("did you mean `qty`?"), "{out}");
    serving.ready(applied as usize);

    // SIGTERM stops it cleanly.
    assert!(serving.stop());

    // The same questions of the store (less the receipt) answer the same.
    let line = r#"{"command_id":"srv-3","type":"AdjustStock","sku":"MUG","location":"WH1","delta":-4,"reason":"correction"}"#;
    let (_, err, ok) = fulfil(dir.path(), &["submit", "-"], Some(line));
    assert!(ok, "{err}");
    for (args, served) in questions.iter().zip(served) {
        let (out, err, ok) = fulfil(dir.path(), args, None);
        assert!(ok, "{args:?}: {err}");
        // ATP's header carries the SKU's version, which the two facts moved.
        if args[0] == "atp" {
            assert_eq!(
                out.lines().skip(1).collect::<Vec<_>>(),
                served.lines().skip(1).collect::<Vec<_>>()
            );
        } else {
            assert_eq!(out, served, "{args:?}");
        }
    }
}

/// The master-scheduling textbook's pump example (W. J. Stevenson,
/// *Operations Management*, master scheduling: 64 on hand, MPS lots of 70 in
/// weeks 3, 5, 7 and 8, orders of 33, 20, 10, 4 and 2 for weeks 1 to 5),
/// submitted as commands: `fulfil atp` gives the book's discrete and
/// cumulative ATP and `fulfil promise` agrees, whatever order the customer
/// orders arrive in.
#[test]
fn the_textbook_pump_example_through_submit_gives_the_books_atp_in_any_arrival_order() {
    let scenario = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/pumps.jsonl"
    ))
    .unwrap();
    let (setup, orders): (Vec<&str>, Vec<&str>) =
        scenario.lines().partition(|l| !l.contains("PlaceOrder"));
    assert_eq!(orders.len(), 5);
    let reversed: Vec<&str> = orders.iter().rev().copied().collect();
    let shuffled = [orders[2], orders[4], orders[0], orders[3], orders[1]];
    let book = [
        ("2026-06-01", 64, 33, 11, 11),
        ("2026-06-08", 0, 20, 0, 11),
        ("2026-06-15", 70, 10, 56, 67),
        ("2026-06-22", 0, 4, 0, 67),
        ("2026-06-29", 70, 2, 68, 135),
        ("2026-07-13", 70, 0, 70, 205),
        ("2026-07-20", 70, 0, 70, 275),
    ];
    for arrival in [orders.clone(), reversed, shuffled.to_vec()] {
        let dir = tempfile::tempdir().unwrap();
        let input = setup
            .iter()
            .chain(&arrival)
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        let err = submit_accepted(dir.path(), &input);
        assert!(err.contains("14 accepted"), "every line confirmed: {err}");
        let (atp, _, ok) = fulfil(
            dir.path(),
            &[
                "atp",
                "PUMP",
                "--format",
                "json",
                "--plan-from",
                "2026-06-01",
            ],
            None,
        );
        assert!(ok);
        let atp: Value = serde_json::from_str(&atp).unwrap();
        let rows: Vec<(String, u64, u64, u64, i64)> = atp["phased"]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["day"].as_str().unwrap().to_owned(),
                    b["supply"].as_u64().unwrap(),
                    b["requirements"].as_u64().unwrap(),
                    b["atp"].as_u64().unwrap(),
                    b["cumulative"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            book.map(|(d, s, r, a, c)| (d.to_owned(), s, r, a, c)),
            "arrival {arrival:?}"
        );
        assert_eq!(atp["atp_now"], 11);
        // Ten more this week: yes, without moving any promised date.
        let promise = |qty: &str, by: &str| -> Value {
            let (out, _, ok) = fulfil(
                dir.path(),
                &[
                    "promise",
                    "PUMP",
                    qty,
                    "--by",
                    by,
                    "--plan-from",
                    "2026-06-01",
                    "--format",
                    "json",
                ],
                None,
            );
            assert!(ok);
            serde_json::from_str(&out).unwrap()
        };
        let ten = promise("10", "2026-06-01");
        assert_eq!(
            (ten["can_promise"].as_bool(), ten["confirmable"].as_u64()),
            (Some(true), Some(10))
        );
        let twelve = promise("12", "2026-06-01");
        assert_eq!(
            (
                twelve["can_promise"].as_bool(),
                twelve["confirmable"].as_u64(),
                twelve["earliest"].as_str()
            ),
            (Some(false), Some(11), Some("2026-06-15"))
        );
        let (week3, _, _) = fulfil(
            dir.path(),
            &[
                "promise",
                "PUMP",
                "67",
                "--by",
                "2026-06-15",
                "--plan-from",
                "2026-06-01",
                "--format",
                "json",
            ],
            None,
        );
        assert_eq!(
            serde_json::from_str::<Value>(&week3).unwrap()["can_promise"],
            true
        );
    }
}

/// A purchase order that brings one SKU to one place on two lines, on two
/// dates (a delivery schedule): each line is supply of its own, a receipt
/// names its line, and re-dating one line moves only the promises on it.
#[test]
fn a_po_with_schedule_lines_promises_each_line_on_its_own_date() {
    let dir = tempfile::tempdir().unwrap();
    define_item_master(dir.path());
    let at = r#""at":"2026-03-02T08:00:00Z""#;
    let input = [
        format!(r#"{{"command_id":"pol",{at},"type":"SetReorderPolicy","sku":"SKU-1","location":"WH1","reorder_point":0,"safety_stock":0,"order_qty":10,"lead_time_days":7,"service_level_bp":9500,"reserve_inbound":true}}"#),
        format!(r#"{{"command_id":"po",{at},"type":"PlacePurchaseOrder","po_id":"PO-7","supplier_id":"S","ordered_on":"2026-03-02","lines":[{{"line":1,"sku":"SKU-1","location":"WH1","qty":5,"unit_cost_cents":300,"expected_date":"2026-03-05"}},{{"line":2,"sku":"SKU-1","location":"WH1","qty":10,"unit_cost_cents":300,"expected_date":"2026-03-20"}}]}}"#),
        format!(r#"{{"command_id":"so",{at},"type":"PlaceOrder","order_id":"SO-1","customer_id":"C","lines":[{{"line":1,"sku":"SKU-1","qty":8,"unit_price_cents":900}}],"ship_to":"x","channel":"web","requested_date":"2026-03-10"}}"#),
    ]
    .join("\n");
    submit_accepted(dir.path(), &input);
    let state = |dir: &std::path::Path| -> Value {
        let (out, _, ok) = fulfil(dir, &["state", "order-SO-1"], None);
        assert!(ok);
        serde_json::from_str(&out).unwrap()
    };
    let allocations = |order: &Value| -> Vec<(Option<u64>, u64, String)> {
        order["state"]["lines"]["1"]["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["source"]["po_line"].as_u64(),
                    a["qty"].as_u64().unwrap(),
                    a["promise_date"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    // 5 from line 1 by the need date; the other 3 from line 2, late.
    assert_eq!(
        allocations(&state(dir.path())),
        [
            (Some(1), 5, "2026-03-10".to_owned()),
            (Some(2), 3, "2026-03-20".to_owned())
        ]
    );
    // Line 2 re-dated to the 8th: its promise comes in to the need date;
    // line 1's receipt names its line and becomes stock.
    let more = [
        format!(r#"{{"command_id":"redate",{at},"type":"RedatePurchaseOrderLine","po_id":"PO-7","line":2,"expected_date":"2026-03-08"}}"#),
        r#"{"command_id":"receive","at":"2026-03-05T08:00:00Z","type":"ReceivePurchaseOrderLine","po_id":"PO-7","line":1,"qty":5,"received_on":"2026-03-05"}"#.to_owned(),
    ]
    .join("\n");
    submit_accepted(dir.path(), &more);
    assert_eq!(
        allocations(&state(dir.path())),
        [
            (None, 5, "2026-03-10".to_owned()),
            (Some(2), 3, "2026-03-10".to_owned())
        ]
    );
    let (item, _, _) = fulfil(dir.path(), &["state", "inventory-SKU-1@WH1"], None);
    let item: Value = serde_json::from_str(&item).unwrap();
    assert_eq!(item["state"]["on_hand"], 5);
    assert_eq!(item["state"]["inbound"]["PO-7#2"]["qty"], 10);
}

const REPLENISHMENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../scenarios/replenishment.jsonl"
);

/// `fulfil forecast ARGS` as of 30 March 2026, as JSON; it must succeed.
fn forecast_json(dir: &std::path::Path, args: &[&str]) -> Value {
    let mut all = vec!["forecast"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--today", "2026-03-30", "--format", "json"]);
    let (out, err, ok) = fulfil(dir, &all, None);
    assert!(ok, "{err}");
    json(&out)
}

#[test]
fn the_replenishment_scenario_orders_by_itself_and_forecast_and_replenish_show_why() {
    let dir = tempfile::tempdir().unwrap();
    let (out, err, ok) = fulfil(dir.path(), &["submit", REPLENISHMENT], None);
    assert!(ok, "{err}");
    assert!(
        json_lines(&out).iter().all(|r| r["status"] == "accepted"),
        "{out}"
    );
    // The process planned the policy and placed purchase orders, each citing its basis.
    let (events, _, _) = fulfil(dir.path(), &["events"], None);
    let placed: Vec<Value> = json_lines(&events)
        .into_iter()
        .filter(|e| e["event_type"] == "PurchaseOrderPlaced")
        .collect();
    assert!(!placed.is_empty(), "{err}");
    for po in &placed {
        let basis = &po["payload"]["basis"];
        assert!(
            basis["position"].as_i64() <= basis["reorder_point"].as_i64(),
            "{po}"
        );
        assert_eq!(po["payload"]["supplier_id"], "ACME");
    }
    let report = forecast_json(dir.path(), &["KETTLE", "--location", "WH3"]);
    assert_eq!(
        report["history"].as_array().unwrap().len(),
        5,
        "five weeks from 2 March"
    );
    let demand: u64 = report["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["demand"].as_u64().unwrap())
        .sum();
    let ordered: u64 = std::fs::read_to_string(REPLENISHMENT)
        .unwrap()
        .lines()
        .filter(|l| l.contains("PlaceOrder"))
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["lines"][0]["qty"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(demand, ordered);
    assert!(report["forecast_per_period"].as_f64().unwrap() > 0.0);
    assert_eq!(report["ahead"].as_array().unwrap().len(), 6);
    assert!(report["policy"]["reorder_point"].as_u64().unwrap() > 0);
    assert!(report["plan"]["expected_fill_rate"].as_f64().unwrap() > 0.5);
    let (table, _, ok) = fulfil(
        dir.path(),
        &["forecast", "KETTLE", "--today", "2026-03-30"],
        None,
    );
    assert!(
        ok && table.contains("demand class") && table.contains("forecast"),
        "{table}"
    );
    let (csv, err, ok) = fulfil(
        dir.path(),
        &["replenish", "--today", "2026-03-30", "--format", "csv"],
        None,
    );
    assert!(ok, "{err}");
    let rows: Vec<&str> = csv.lines().collect();
    assert!(
        rows[0].starts_with("sku,location,supplier,on_hand,on_order"),
        "{csv}"
    );
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows[1].starts_with("KETTLE,WH3,ACME,"), "{csv}");
    // A SKU nobody ordered: a defined answer, not an error.
    let none = forecast_json(dir.path(), &["NOPE"]);
    assert_eq!(none["forecast_per_period"].as_f64(), Some(0.0));
    assert_eq!(none["classification"]["class"], "none");
    assert!(none["note"].as_str().unwrap().contains("no demand"));
}

/// The reference series `id` as a `ds,y` CSV file in `dir`.
fn reference_csv(dir: &std::path::Path, id: &str) -> std::path::PathBuf {
    let series = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../forecasting/tests/fixtures/series.csv"
    ))
    .unwrap();
    let rows: Vec<String> = series
        .lines()
        .filter(|l| l.starts_with(&format!("{id},")))
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            format!("{},{}\n", f[2], f[3])
        })
        .collect();
    let csv = format!("ds,y\n{}", rows.concat());
    let path = dir.join(format!("{id}.csv"));
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn forecast_input_gives_statsforecasts_values_and_names_the_line_of_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let pbs = reference_csv(dir.path(), "pbs_first_60");
    let pbs = pbs.to_str().unwrap();
    let (out, err, ok) = fulfil(
        dir.path(),
        &[
            "forecast",
            "--input",
            pbs,
            "--method",
            "croston-sba",
            "--horizon",
            "6",
            "--format",
            "json",
        ],
        None,
    );
    assert!(ok, "{err}");
    let result = json(&out);
    let reference = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../forecasting/tests/fixtures/reference_forecasts.csv"
    ))
    .unwrap();
    let expected: Vec<f64> = reference
        .lines()
        .filter(|l| l.starts_with("pbs_first_60,"))
        .map(|l| l.split(',').nth(4).unwrap().parse().unwrap())
        .collect();
    let forecasts = result["forecasts"].as_array().unwrap();
    assert_eq!(forecasts.len(), 6);
    for (f, e) in forecasts.iter().zip(&expected) {
        assert!(
            ((f["forecast"].as_f64().unwrap() - e) / e).abs() < 1e-9,
            "{f} vs {e}"
        );
    }
    // Monthly series: the dates ahead follow on.
    assert_eq!(forecasts[0]["ds"], "1996-07-01");
    let fitted = result["fitted"].as_array().unwrap();
    assert_eq!(fitted.len(), 60);
    assert!(fitted[0]["fitted"].is_null());
    assert_eq!(result["parameters"]["alpha"].as_f64(), Some(0.1));
    // An optimised alpha is reported with the forecast.
    let (out, _, ok) = fulfil(
        dir.path(),
        &[
            "forecast",
            "--input",
            pbs,
            "--method",
            "ses-optimized",
            "--format",
            "json",
        ],
        None,
    );
    assert!(ok);
    let alpha = json(&out)["parameters"]["alpha"].as_f64().unwrap();
    assert!(
        (alpha - 0.090_438_475_674_555_46).abs() / 0.09 < 2e-8,
        "{alpha}"
    );
    let (out, _, ok) = fulfil(
        dir.path(),
        &[
            "forecast",
            "--input",
            pbs,
            "--method",
            "tsb",
            "--alpha-d",
            "0.2",
            "--alpha-p",
            "0.2",
            "--format",
            "json",
        ],
        None,
    );
    assert!(ok);
    assert_eq!(json(&out)["parameters"]["alpha_d"].as_f64(), Some(0.2));

    // Writes `text` to `name` and forecasts it: (stdout, stderr, success).
    let forecast_file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap().to_owned();
        fulfil(
            dir.path(),
            &["forecast", "--input", &path, "--format", "json"],
            None,
        )
    };
    let bad = |name: &str, text: &str, needle: &str| {
        let (out, err, ok) = forecast_file(name, text);
        assert!(!ok && out.is_empty(), "{name}: {out}");
        assert!(err.contains(needle), "{name}: {err}");
    };
    bad(
        "date.csv",
        "ds,y\n2026-02-01,1\n2026-02-30,2\n",
        "line 3: ds `2026-02-30` is not a date",
    );
    bad(
        "column.csv",
        "ds,qty\n2026-02-01,1\n",
        "line 1: expected the columns ds and y",
    );
    bad(
        "extra.csv",
        "ds,y,note\n2026-02-01,1,x\n",
        "unknown column `note`",
    );
    bad(
        "number.csv",
        "ds,y\n2026-02-01,1\n2026-02-02,lots\n",
        "line 3: y `lots` is not a number",
    );
    bad(
        "nan.csv",
        "ds,y\n2026-02-01,NaN\n",
        "line 2: y `NaN` is not a number",
    );
    bad(
        "negative.csv",
        "ds,y\n2026-02-01,-3\n",
        "line 2: y -3 is negative",
    );
    bad(
        "order.csv",
        "ds,y\n2026-02-02,1\n2026-02-01,1\n",
        "line 3: ds 2026-02-01 is not after",
    );
    bad("empty.csv", "ds,y\n", "no rows");
    let (_, err, ok) = fulfil(
        dir.path(),
        &["forecast", "--input", pbs, "--method", "holt"],
        None,
    );
    assert!(!ok && err.contains("expected auto or one of"), "{err}");
    let (_, err, ok) = fulfil(
        dir.path(),
        &[
            "forecast", "--input", pbs, "--method", "ses", "--alpha", "1.5",
        ],
        None,
    );
    assert!(!ok && err.contains("--alpha must be above 0"), "{err}");
    // A single observation and an all-zero series have defined answers.
    for (text, expected) in [
        ("ds,y\n2026-02-01,7\n", 7.0),
        ("ds,y\n2026-02-01,0\n2026-02-02,0\n", 0.0),
    ] {
        let (out, err, ok) = forecast_file("edge.csv", text);
        assert!(ok, "{err}");
        let f = json(&out)["forecasts"][0]["forecast"].as_f64().unwrap();
        assert!((f - expected).abs() < 1e-12, "{text}: {f}");
    }
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for scenario in ["fulfilment.jsonl", "pumps.jsonl", "replenishment.jsonl"] {
        let path = format!("{}/../scenarios/{scenario}", env!("CARGO_MANIFEST_DIR"));
        let (_, err, ok) = fulfil(dir.path(), &["submit", &path], None);
        assert!(
            ok || err.contains("7 of 32 commands were refused"),
            "{scenario}: {err}"
        );
    }
    let (all, _, ok) = fulfil(dir.path(), &["events"], None);
    // More than a pipe holds (64 KiB), so the writer meets the closed end.
    assert!(ok && all.len() > 65_536, "{} bytes", all.len());
    for args in [
        &["events"][..],
        &["replenish", "--format", "csv"],
        &["metrics", "orders"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fulfil"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before reading anything (`| head -0`).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {err}", out.status);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // A page cache of 0 MiB is refused by name, before the store is touched.
    let (_, err, ok) = fulfil(dir.path(), &["--cache-mb", "0", "events"], None);
    assert!(!ok && err.contains("--cache-mb"), "{err}");
}
