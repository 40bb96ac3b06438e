//! The audit from the command line: the planted scenario's broken promises
//! are each found with the right cause and evidence and nothing else is;
//! late orders split as planted; bad input ends with its documented exit
//! code; a receipt recorded late corrects the days from its own.

use std::process::Command;

use serde_json::Value;

const SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/audit.jsonl");

/// Runs `fulfil --data-dir DIR ARGS`: stdout, stderr and the exit code.
fn fulfil(dir: &std::path::Path, args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_fulfil"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

fn json(dir: &std::path::Path, args: &[&str]) -> Value {
    let (out, err, code) = fulfil(dir, args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn submitted_scenario() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (out, err, code) = fulfil(dir.path(), &["submit", SCENARIO]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().all(|l| l.contains("\"accepted\"")), "{out}");
    dir
}

/// The event at `position`: its type and stream.
fn event_at(dir: &std::path::Path, position: u64) -> (String, String) {
    let from = position.to_string();
    let (out, err, code) = fulfil(dir, &["events", "--from", &from, "--limit", "1"]);
    assert_eq!(code, 0, "{err}");
    let e: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(e["position"], position);
    (
        e["event_type"].as_str().unwrap().to_owned(),
        e["stream"].as_str().unwrap().to_owned(),
    )
}

/// A finding as planted: order, cause, units, how it broke, outcome, delay.
type Planted<'a> = (&'a str, &'a str, u64, &'a str, &'a str, Option<i64>);

#[test]
fn the_audit_finds_each_planted_broken_promise_with_its_cause_and_nothing_else() {
    let dir = submitted_scenario();
    let report = json(
        dir.path(),
        &[
            "audit",
            "oversells",
            "--to",
            "2026-04-30",
            "--format",
            "json",
        ],
    );
    let findings = report["findings"].as_array().unwrap();
    let got: Vec<Planted> = findings
        .iter()
        .map(|f| {
            (
                f["order_id"].as_str().unwrap(),
                f["evidence"]["cause"].as_str().unwrap(),
                f["qty"].as_u64().unwrap(),
                f["how"].as_str().unwrap(),
                f["outcome"]["kind"].as_str().unwrap(),
                f["delay_days"].as_i64(),
            )
        })
        .collect();
    // Planted: each order below has one cause; PEN orders around them are clean.
    assert_eq!(
        got,
        [
            (
                "SO-A1",
                "cycle_count_variance",
                2,
                "deallocated",
                "repromised",
                Some(7)
            ),
            ("SO-V1", "damage", 2, "deallocated", "waiting", Some(27)),
            ("SO-R1", "shrinkage", 1, "deallocated", "waiting", Some(27)),
            (
                "SO-D1",
                "short_pick",
                1,
                "short_picked",
                "repromised",
                Some(0)
            ),
            (
                "SO-B1",
                "supplier_redate",
                2,
                "deallocated",
                "repromised",
                Some(7)
            ),
            (
                "SO-H1",
                "po_cancelled",
                3,
                "deallocated",
                "waiting",
                Some(21)
            ),
            (
                "SO-C1",
                "supplier_short_receipt",
                3,
                "deallocated",
                "waiting",
                Some(22)
            ),
            (
                "SO-S1",
                "supplier_late_receipt",
                2,
                "received_late",
                "received",
                Some(3)
            ),
        ]
    );
    // Each finding cites the facts that prove it, root first.
    let root: Vec<(String, String)> = findings
        .iter()
        .map(|f| event_at(dir.path(), f["evidence"]["positions"][0].as_u64().unwrap()))
        .collect();
    let expected = [
        ("StockCounted", "inventory-LAMP@WH1"),
        ("StockAdjusted", "inventory-VASE@WH1"),
        ("StockAdjusted", "inventory-RUG@WH1"),
        ("PickShort", "order-SO-D1"),
        ("PurchaseOrderLineRedated", "po-PO-B1"),
        ("PurchaseOrderLineCancelled", "po-PO-H1"),
        ("PurchaseOrderReceived", "po-PO-C1"),
        ("PurchaseOrderReceived", "po-PO-S1"),
    ];
    for ((t, s), (et, es)) in root.iter().zip(expected) {
        assert_eq!((t.as_str(), s.as_str()), (et, es));
    }
    for f in findings {
        let (promise, stream) = event_at(dir.path(), f["promise_position"].as_u64().unwrap());
        assert_eq!(promise, "LineAllocated");
        assert_eq!(stream, format!("order-{}", f["order_id"].as_str().unwrap()));
        let (broke, _) = event_at(dir.path(), f["break_position"].as_u64().unwrap());
        assert!(
            ["LineDeallocated", "PickShort", "InboundAllocationReceived"].contains(&broke.as_str()),
            "{broke}"
        );
    }
    let summary = &report["summary"];
    assert_eq!(summary["findings"], 8);
    assert_eq!(summary["units"], 16);
    assert_eq!(summary["system_faults"], 0);
    assert_eq!(summary["by_supplier"]["SUP-A"]["findings"], 2);
    assert_eq!(summary["by_supplier"]["SUP-B"]["units"], 4);
    assert_eq!(summary["by_cause"]["damage"]["share"], 0.125);

    // Scoped by SKU and by time, and as CSV.
    let vase = json(
        dir.path(),
        &[
            "audit",
            "oversells",
            "--to",
            "2026-04-30",
            "--sku",
            "VASE",
            "--format",
            "json",
        ],
    );
    assert_eq!(vase["findings"].as_array().unwrap().len(), 1);
    let later = json(
        dir.path(),
        &[
            "audit",
            "oversells",
            "--from",
            "2026-04-05",
            "--to",
            "2026-04-30",
            "--format",
            "json",
        ],
    );
    assert_eq!(later["summary"]["findings"], 4);
    let (csv, _, code) = fulfil(
        dir.path(),
        &[
            "audit",
            "oversells",
            "--to",
            "2026-04-30",
            "--format",
            "csv",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(csv.lines().count(), 9);
    assert!(csv.lines().next().unwrap().starts_with("order_id,line,sku"));
}

#[test]
fn late_orders_split_into_inventory_and_flow_as_planted() {
    let dir = submitted_scenario();
    let report = json(
        dir.path(),
        &[
            "diagnose",
            "late-orders",
            "--to",
            "2026-04-30",
            "--format",
            "json",
        ],
    );
    let late: Vec<(&str, &str, &str, i64)> = report["late_orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["order_id"].as_str().unwrap(),
                o["owner"].as_str().unwrap(),
                o["detail"].as_str().unwrap(),
                o["days_late"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        late,
        [
            ("SO-A1", "inventory", "cycle_count_variance", 27),
            ("SO-V1", "inventory", "damage", 27),
            ("SO-R1", "inventory", "shrinkage", 27),
            ("SO-D1", "inventory", "short_pick", 27),
            ("SO-C1", "inventory", "supplier_short_receipt", 22),
            ("SO-S1", "inventory", "supplier_late_receipt", 3),
            ("SO-B1", "inventory", "supplier_redate", 23),
            ("SO-H1", "inventory", "po_cancelled", 21),
            // Stock was promised in time: paid five days late, picked a week late.
            ("SO-P3", "flow", "pick", 5),
            ("SO-P5", "flow", "payment", 3),
            // Never promised: backordered from the start.
            ("SO-W1", "inventory", "backorder", 20),
        ]
    );
    assert_eq!(report["summary"]["inventory_owned"], 9);
    assert_eq!(report["summary"]["flow_owned"], 2);
    let pick = &report["late_orders"][8];
    assert_eq!(pick["step_hours"], 168.0);
    // Its evidence starts at the placement.
    let (placed, _) = event_at(dir.path(), pick["positions"][0].as_u64().unwrap());
    assert_eq!(placed, "OrderPlaced");
}

#[test]
fn bad_input_is_refused_with_a_message_and_its_exit_code() {
    let empty = tempfile::tempdir().unwrap();
    let (_, err, code) = fulfil(empty.path(), &["audit", "oversells"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no fulfil store"), "{err}");

    let dir = submitted_scenario();
    for (args, code, said) in [
        (
            vec!["--from", "2026-04-10", "--to", "2026-04-01"],
            2,
            "is after --to",
        ),
        (vec!["--to", "2999-01-01"], 2, "in the future"),
        (vec!["--sku", "NOPE"], 2, "SKU NOPE is not defined"),
        (vec!["--location", "WH9"], 2, "location WH9 is not defined"),
        (
            vec!["--from", "2020-01-01", "--to", "2020-01-31"],
            3,
            "no event is dated between",
        ),
        (
            vec!["--from", "yesterday"],
            2,
            "neither an RFC 3339 time nor a day",
        ),
    ] {
        let mut all = vec!["audit", "oversells"];
        all.extend(args.iter());
        let (out, err, got) = fulfil(dir.path(), &all);
        assert_eq!(got, code, "{args:?}: {err}");
        assert!(err.contains(said), "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (_, err, code) = fulfil(
        dir.path(),
        &[
            "diagnose",
            "late-orders",
            "--from",
            "2026-05-01",
            "--to",
            "2026-04-01",
        ],
    );
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_receipt_recorded_late_corrects_the_days_from_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let today = chrono::Utc::now();
    let earlier = today - chrono::Duration::days(14);
    let commands = [
        r#"{"command_id":"m-1","type":"DefineSku","sku":"MUG","description":"Mug","unit_of_measure":"each","standard_cost_cents":300}"#.to_owned(),
        r#"{"command_id":"m-2","type":"DefineLocation","location":"WH1","name":"Bristol","kind":"warehouse"}"#.to_owned(),
        r#"{"command_id":"r-1","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":5}"#.to_owned(),
        format!(
            r#"{{"command_id":"r-2","at":"{}","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":10}}"#,
            earlier.to_rfc3339()
        ),
    ];
    let file = dir.path().join("late.jsonl");
    std::fs::write(&file, commands.join("\n")).unwrap();
    let store = dir.path().join("data");
    let (out, err, code) = fulfil(&store, &["submit", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("\"accepted\"").count(), 4, "{out}");
    let m = json(&store, &["metrics", "inventory", "--format", "json"]);
    let close = |day: chrono::NaiveDate| {
        m["daily"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["date"] == day.to_string())
            .map(|d| d["close_units"].as_i64().unwrap())
    };
    assert_eq!(close(earlier.date_naive()), Some(10));
    assert_eq!(
        close(today.date_naive() - chrono::Duration::days(1)),
        Some(10)
    );
    assert_eq!(close(today.date_naive()), Some(15));
    let state = json(&store, &["state", "inventory-MUG@WH1"]);
    assert_eq!(state["state"]["on_hand"], 15);
}

#[test]
fn a_reservation_beyond_on_hand_is_a_system_fault_reported_loudly_with_exit_4() {
    use event_store::{AppendRequest, ExpectedVersion, NewEvent, Store, StoreConfig, StreamId};
    let dir = tempfile::tempdir().unwrap();
    {
        // Facts the deciders would never record: written to the log directly.
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
        let at: chrono::DateTime<chrono::Utc> = "2026-04-01T08:00:00Z".parse().unwrap();
        let events = [
            (
                "sku-MUG",
                serde_json::json!({"type":"SkuDefined","sku":"MUG","description":"Mug","unit_of_measure":"each","standard_cost_cents":300}),
            ),
            (
                "inventory-MUG@WH1",
                serde_json::json!({"type":"StockReceived","sku":"MUG","location":"WH1","qty":2}),
            ),
            (
                "inventory-MUG@WH1",
                serde_json::json!({"type":"StockReserved","sku":"MUG","location":"WH1","order_id":"SO-1","line":1,"qty":3}),
            ),
        ];
        for (stream, payload) in events {
            let kind = payload["type"].as_str().unwrap().to_owned();
            store
                .append_blocking(AppendRequest::new(
                    StreamId::new(stream).unwrap(),
                    ExpectedVersion::Any,
                    vec![NewEvent::new(kind, payload).at(at)],
                ))
                .unwrap();
        }
    }
    let (out, err, code) = fulfil(dir.path(), &["audit", "oversells", "--to", "2026-04-30"]);
    assert_eq!(code, 4, "{err}");
    assert!(out.contains("system_fault"), "{out}");
    assert!(out.contains("reserved_beyond_on_hand"), "{out}");
    assert!(err.contains("caused by the system itself"), "{err}");
}

#[test]
fn a_promise_made_before_a_count_recorded_late_shows_what_was_held_and_what_is_known_now() {
    let dir = tempfile::tempdir().unwrap();
    let commands = [
        r#"{"command_id":"m-1","type":"DefineSku","sku":"MUG","description":"Mug","unit_of_measure":"each","standard_cost_cents":300}"#,
        r#"{"command_id":"m-2","type":"DefineLocation","location":"WH1","name":"Bristol","kind":"warehouse"}"#,
        r#"{"command_id":"r-1","at":"2026-04-01T08:00:00Z","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":10}"#,
        r#"{"command_id":"o-1","at":"2026-04-01T10:00:00Z","type":"PlaceOrder","order_id":"SO-1","customer_id":"C-1","lines":[{"line":1,"sku":"MUG","qty":8,"unit_price_cents":900}],"ship_to":"Bristol","channel":"web","requested_date":"2026-04-03"}"#,
        // Counted at 09:00, before the promise; recorded after it.
        r#"{"command_id":"c-1","at":"2026-04-01T09:00:00Z","type":"CountStock","sku":"MUG","location":"WH1","counted":5}"#,
    ];
    let file = dir.path().join("late-count.jsonl");
    std::fs::write(&file, commands.join("\n")).unwrap();
    let store = dir.path().join("data");
    let (_, err, code) = fulfil(&store, &["submit", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let views = json(&store, &["audit", "promises", "SO-1", "--format", "json"]);
    let first = &views[0];
    assert_eq!(
        (first["qty"].as_u64(), first["promise_date"].as_str()),
        (Some(8), Some("2026-04-03"))
    );
    // Held then: 10 on hand, 8 promised: 2 to spare. Known now: 5 were
    // there, so the promise was 3 beyond the stock.
    assert_eq!(
        (&first["held"], &first["known_now"]),
        (&Value::from(2), &Value::from(-3))
    );
    assert_eq!(first["verdict"], "facts_recorded_later");
    // The audit finds the break and its cause.
    let report = json(
        &store,
        &[
            "audit",
            "oversells",
            "--to",
            "2026-04-30",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        report["findings"][0]["evidence"]["cause"],
        "cycle_count_variance"
    );
    assert_eq!(report["findings"][0]["qty"], 3);
    let (_, err, code) = fulfil(&store, &["audit", "promises", "SO-404"]);
    assert_eq!(code, 3, "{err}");
}
