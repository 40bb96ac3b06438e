//! The everyday surface from the command line: typos refused with the
//! field named, dry runs that write nothing, exit codes that say what
//! happened, queries that never create a store, the demo in a directory of
//! its own, and simple questions answered right.

mod serving;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

const ITEM_MASTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../scenarios/item-master.jsonl"
);

/// Runs `fulfil ARGS` in `cwd` (with `--data-dir dir` when given): stdout,
/// stderr and the exit code.
fn run(
    cwd: &std::path::Path,
    dir: Option<&std::path::Path>,
    args: &[&str],
    stdin: &str,
) -> (String, String, i32) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fulfil"));
    command.current_dir(cwd).env_remove("FULFIL_DATA_DIR");
    if let Some(dir) = dir {
        command.arg("--data-dir").arg(dir);
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

fn fulfil(dir: &std::path::Path, args: &[&str], stdin: &str) -> (String, String, i32) {
    run(dir, Some(dir), args, stdin)
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn event_count(dir: &std::path::Path) -> usize {
    let (out, err, code) = fulfil(dir, &["events"], "");
    assert_eq!(code, 0, "{err}");
    out.lines().count()
}

/// A store with the item master (SKU-1..3 at WH1, WH2, ST1) and nothing else.
fn item_master() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (_, err, code) = fulfil(dir.path(), &["submit", ITEM_MASTER], "");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("created a new store in"), "{err}");
    dir
}

#[test]
fn typos_once_taken_silently_are_refused_naming_the_field_and_write_nothing() {
    let dir = item_master();
    let before = event_count(dir.path());
    let lines = [
        // priority would have become 0
        (
            r#"{"command_id":"t1","type":"PlaceOrder","order_id":"SO-1","customer_id":"C1","ship_to":"X","channel":"web","requested_date":"2026-03-02","priorty":9,"lines":[{"line":1,"sku":"SKU-1","qty":1,"unit_price_cents":100}]}"#,
            "field `priorty`: is not a field here; did you mean `priority`?",
        ),
        // the clock would have stamped the receipt
        (
            r#"{"command_id":"t2","type":"ReceiveStock","sku":"SKU-1","location":"WH1","qty":5,"a_t":"2026-03-01T00:00:00Z"}"#,
            "field `a_t`: is not a field here; did you mean `at`?",
        ),
        // the receipt would have lost its PO
        (
            r#"{"command_id":"t3","type":"ReceiveStock","sku":"SKU-1","location":"WH1","qty":5,"po":"PO-1"}"#,
            "field `po`: is not a field here",
        ),
        (
            r#"{"command_id":"t4","type":"ReceiveStock","sku":"SKU-1","location":"WH1","qty":0}"#,
            "field `qty`: 0 is below the minimum 1",
        ),
        (
            r#"{"command_id":"t5","type":"PlacePurchaseOrder","po_id":"PO-1","supplier_id":"S","ordered_on":"2026-02-30","lines":[]}"#,
            "field `ordered_on`: \"2026-02-30\" is not a date",
        ),
    ];
    for (line, said) in lines {
        let (out, err, code) = fulfil(dir.path(), &["submit", "-"], line);
        assert_eq!(code, 2, "{line}: {err}");
        let result = &json_lines(&out)[0];
        assert_eq!(result["status"], "invalid", "{line}");
        assert!(
            result["message"].as_str().unwrap().contains(said),
            "{result}\nwanted {said}"
        );
        assert!(result["command_id"].is_string(), "{result}");
        assert!(err.contains("1 of 1 commands were refused"), "{err}");
    }
    assert_eq!(event_count(dir.path()), before, "nothing written");
}

#[test]
fn a_dry_run_decides_a_file_of_commands_in_order_and_writes_nothing() {
    let dir = item_master();
    let before = event_count(dir.path());
    let input = [
        r#"{"command_id":"d1","type":"DefineSku","sku":"LAMP","description":"Lamp","unit_of_measure":"each","standard_cost_cents":900}"#,
        // Stock of the SKU defined the line before: the dry run carries it.
        r#"{"command_id":"d2","type":"ReceiveStock","sku":"LAMP","location":"WH1","qty":5}"#,
        r#"{"command_id":"d3","type":"AdjustStock","sku":"LAMP","location":"WH1","delta":-7,"reason":"damage"}"#,
        r#"{"command_id":"d2","type":"ReceiveStock","sku":"LAMP","location":"WH1","qty":5}"#,
    ]
    .join("\n");
    let (out, err, code) = fulfil(dir.path(), &["submit", "--dry-run", "-"], &input);
    assert_eq!(code, 2, "one line would be refused: {err}");
    let results = json_lines(&out);
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["would_accept", "would_accept", "rejected", "would_accept"]
    );
    assert_eq!(results[1]["events"], serde_json::json!(["StockReceived"]));
    assert_eq!(results[1]["version"], 1);
    assert!(
        results[2]["message"].as_str().unwrap().contains('5'),
        "{}",
        results[2]
    );
    assert!(err.contains("a dry run: nothing was written"), "{err}");
    assert_eq!(event_count(dir.path()), before);

    // On a directory with no store, a dry run creates none.
    let empty = tempfile::tempdir().unwrap();
    let (out, err, code) = fulfil(empty.path(), &["submit", "--dry-run", ITEM_MASTER], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(json_lines(&out).len(), 6);
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}

#[test]
fn a_query_never_creates_a_store_and_says_there_is_none() {
    let parent = tempfile::tempdir().unwrap();
    let typo = parent.path().join("dta");
    for args in [
        &["atp", "SKU-1"][..],
        &["events"],
        &["metrics", "orders"],
        &["state", "order-SO-1"],
    ] {
        let (out, err, code) = run(parent.path(), Some(&typo), args, "");
        assert_eq!(code, 3, "{args:?}: {err}");
        assert!(out.is_empty());
        assert!(err.contains("there is no fulfil store in"), "{err}");
        assert!(!typo.exists(), "{args:?} created the directory");
    }
}

#[test]
fn a_defined_sku_never_stocked_has_atp_zero_and_an_undefined_one_is_named() {
    let dir = item_master();
    let (out, err, code) = fulfil(dir.path(), &["atp", "SKU-1", "--format", "json"], "");
    assert_eq!(code, 0, "{err}");
    let atp: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(atp["atp_now"], 0);
    let (out, err, code) = fulfil(
        dir.path(),
        &[
            "promise",
            "SKU-1",
            "2",
            "--by",
            "2026-12-31",
            "--format",
            "json",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["can_promise"],
        false
    );

    let (_, err, code) = fulfil(dir.path(), &["atp", "NOPE"], "");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("SKU NOPE is not defined in the item master"),
        "{err}"
    );
    // A bad location filter names the location, not the SKU.
    let (_, err, code) = fulfil(dir.path(), &["atp", "SKU-1", "--location", "WH9"], "");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("location WH9 is not defined in the item master"),
        "{err}"
    );
}

#[test]
fn the_demo_runs_in_a_directory_of_its_own_and_the_readme_commands_work_after_it() {
    let cwd = tempfile::tempdir().unwrap();
    let (out, err, code) = run(cwd.path(), None, &["demo"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("a fresh embedded store in demo-"), "{out}");
    assert!(
        !cwd.path().join("data").exists(),
        "the demo left ./data alone"
    );
    // The next command of the README creates ./data and works.
    let (_, err, code) = run(cwd.path(), None, &["submit", ITEM_MASTER], "");
    assert_eq!(code, 0, "{err}");
    assert!(cwd
        .path()
        .join("data")
        .join(event_store::MARKER_FILE)
        .exists());

    // A client's FULFIL_SERVER does not send the demo (or serve) elsewhere.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fulfil"))
        .current_dir(elsewhere.path())
        .arg("demo")
        .env("FULFIL_SERVER", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A --data-dir given to the demo must be new or empty.
    let used = tempfile::tempdir().unwrap();
    std::fs::write(used.path().join("notes"), "mine").unwrap();
    let (_, err, code) = fulfil(used.path(), &["demo"], "");
    assert_eq!(code, 1);
    assert!(err.contains("is not empty"), "{err}");
}

const FULFILMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/fulfilment.jsonl");

#[test]
fn orders_and_their_stories_pos_stock_and_events_can_be_found_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (_, err, code) = fulfil(dir.path(), &["submit", FULFILMENT], "");
    assert_eq!(code, 2, "the scenario's bad lines are refused: {err}");

    // A table for people: a header, then one aligned row per order.
    let (out, err, code) = fulfil(dir.path(), &["orders"], "");
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().collect();
    assert!(rows[0].starts_with("order_id  status"), "{out}");
    assert_eq!(rows.len(), 4, "{out}");
    assert_eq!(
        rows[1].find("CUST-1"),
        rows[0].find("customer_id"),
        "aligned: {out}"
    );
    // CSV for tools: a header row, one row per order.
    let (csv, _, _) = fulfil(
        dir.path(),
        &["orders", "--status", "cancelled", "--format", "csv"],
        "",
    );
    let csv: Vec<&str> = csv.lines().collect();
    assert_eq!(csv.len(), 2, "{csv:?}");
    assert!(csv[0].starts_with("order_id,status,customer_id"), "{csv:?}");
    assert!(csv[1].starts_with("SO-3,cancelled,CUST-3"), "{csv:?}");
    // Pages: the cursor is said on standard error and leads to the next page.
    let (out, err, _) = fulfil(
        dir.path(),
        &["orders", "--limit", "2", "--format", "json"],
        "",
    );
    let page: Value = serde_json::from_str(&out).unwrap();
    let next = page["next"].as_str().unwrap().to_owned();
    assert!(err.is_empty(), "JSON carries the cursor itself: {err}");
    let (out, _, _) = fulfil(
        dir.path(),
        &["orders", "--after", &next, "--format", "json"],
        "",
    );
    let rest: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rest["orders"][0]["order_id"], "SO-3");
    let (_, err, _) = fulfil(dir.path(), &["orders", "--limit", "2"], "");
    assert!(err.contains("more orders: add --after"), "{err}");

    // One order's story.
    let (out, err, code) = fulfil(dir.path(), &["order", "SO-1"], "");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("OrderPlaced") && out.contains("fulfilment"),
        "{out}"
    );
    let (_, err, code) = fulfil(dir.path(), &["order", "SO-99"], "");
    assert_eq!(code, 3, "{err}");

    let (out, _, _) = fulfil(dir.path(), &["pos", "--format", "json"], "");
    let pos: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(pos[0]["po_id"], "PO-1");
    let (out, _, _) = fulfil(
        dir.path(),
        &["stock", "--sku", "MUG", "--format", "csv"],
        "",
    );
    assert_eq!(
        out.lines().count(),
        3,
        "a header and MUG at two locations: {out}"
    );
    let (out, _, _) = fulfil(dir.path(), &["skus", "--format", "csv"], "");
    assert!(
        out.contains("MUG,\"Enamel mug, blue\""),
        "a comma is quoted: {out}"
    );
    let (out, _, code) = fulfil(dir.path(), &["events", "--type", "OrderCancelled"], "");
    assert_eq!(code, 0);
    let events = json_lines(&out);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["stream"], "order-SO-3");
}

#[test]
fn malformed_arguments_say_what_was_expected_and_exit_2() {
    let dir = item_master();
    for (args, said) in [
        (
            &["promise", "SKU-1", "x", "--by", "2026-03-01"][..],
            "expected a whole number",
        ),
        (
            &["promise", "SKU-1", "3", "--by", "2026-03"],
            "expected a day as YYYY-MM-DD",
        ),
        (&["orders", "--from", "2026-02-30"], "one that exists"),
        (&["events", "--from", "first"], "expected a whole number"),
        (
            &["orders", "--status", "lost"],
            "possible values: open, backordered, late",
        ),
    ] {
        let (_, err, code) = fulfil(dir.path(), args, "");
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(said), "{args:?}: {err}");
    }
}

#[test]
fn stock_at_or_below_its_reorder_point_is_listed_and_events_by_flow_and_range() {
    let dir = item_master();
    let input = [
        r#"{"command_id":"p1","type":"SetReorderPolicy","sku":"SKU-1","location":"WH1","reorder_point":10,"safety_stock":2,"order_qty":20,"lead_time_days":7,"service_level_bp":9500}"#,
        r#"{"command_id":"p2","type":"SetReorderPolicy","sku":"SKU-2","location":"WH1","reorder_point":10,"safety_stock":2,"order_qty":20,"lead_time_days":7,"service_level_bp":9500}"#,
        r#"{"command_id":"r1","correlation_id":"dock-7","type":"ReceiveStock","sku":"SKU-1","location":"WH1","qty":5}"#,
        r#"{"command_id":"r2","correlation_id":"dock-7","type":"ReceiveStock","sku":"SKU-2","location":"WH1","qty":50}"#,
    ]
    .join("\n");
    let (_, err, code) = fulfil(dir.path(), &["submit", "-"], &input);
    assert_eq!(code, 0, "{err}");
    let (out, err, code) = fulfil(
        dir.path(),
        &["stock", "--at-reorder-point", "--format", "json"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let rows: Value = serde_json::from_str(&out).unwrap();
    let items: Vec<(&str, i64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["sku"].as_str().unwrap(), r["position"].as_i64().unwrap()))
        .collect();
    assert_eq!(items, [("SKU-1", 5)]);

    let (out, _, _) = fulfil(dir.path(), &["events", "--correlation-id", "dock-7"], "");
    let flow = json_lines(&out);
    assert_eq!(flow.len(), 2);
    let first = flow[0]["position"].as_u64().unwrap().to_string();
    let (out, _, _) = fulfil(
        dir.path(),
        &["events", "--correlation-id", "dock-7", "--to", &first],
        "",
    );
    assert_eq!(json_lines(&out).len(), 1, "--to bounds the range");
}

#[test]
fn a_long_file_shows_its_progress_on_a_terminal_and_not_in_a_pipe() {
    let dir = item_master();
    let lines: Vec<String> = (0..400)
        .map(|n| format!(r#"{{"command_id":"bulk-{n}","type":"ReceiveStock","sku":"SKU-1","location":"WH1","qty":1}}"#))
        .collect();
    let file = dir.path().join("bulk.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    // `script` (util-linux, on every Debian) gives the command a terminal
    // for standard error; standard output goes to a file.
    let results = dir.path().join("results.jsonl");
    let command = format!(
        "{} --data-dir {} submit {} > {}",
        env!("CARGO_BIN_EXE_fulfil"),
        dir.path().display(),
        file.display(),
        results.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{terminal}");
    assert!(
        terminal.contains("/400 lines"),
        "a progress bar: {terminal}"
    );
    assert!(terminal.contains("400 accepted"), "{terminal}");
    assert_eq!(
        std::fs::read_to_string(&results).unwrap().lines().count(),
        400
    );
    // In a pipe, the summary alone.
    let (_, err, code) = fulfil(dir.path(), &["submit", file.to_str().unwrap()], "");
    assert_eq!(code, 0);
    assert!(!err.contains("lines"), "{err}");
}

#[test]
fn a_service_with_tokens_answers_the_cli_only_with_the_right_one() {
    let dir = item_master();
    let (analyst, operator) = ("analyst-token-for-cli-0001", "operator-token-for-cli-0001");
    let mut serving = serving::Serving::start(
        dir.path(),
        &[
            ("FULFIL_ANALYST_TOKENS", analyst),
            ("FULFIL_OPERATOR_TOKENS", operator),
        ],
    );
    let url = serving.url.clone();
    let line =
        r#"{"command_id":"tok-1","type":"ReceiveStock","sku":"SKU-1","location":"WH1","qty":2}"#;
    let (_, err, code) = fulfil(dir.path(), &["skus", "--server", &url], "");
    assert_eq!(code, 1);
    assert!(err.contains("(401)") && err.contains("--token"), "{err}");
    let (out, err, code) = fulfil(
        dir.path(),
        &["skus", "--server", &url, "--token", analyst],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("SKU-1"), "{out}");
    let (_, err, code) = fulfil(
        dir.path(),
        &["submit", "-", "--server", &url, "--token", analyst],
        line,
    );
    assert!(code != 0 && err.contains("(403)"), "{err}");
    let (out, err, code) = fulfil(
        dir.path(),
        &["submit", "-", "--server", &url, "--token", operator],
        line,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("accepted"), "{out}");
    assert!(serving.stop());
    // A token too short to be a control is refused when the service starts.
    let short = Command::new(env!("CARGO_BIN_EXE_fulfil"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--http", "127.0.0.1:0"])
        .env("FULFIL_OPERATOR_TOKENS", "secret")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&short.stderr);
    assert!(
        !short.status.success() && err.contains("at least 16"),
        "{err}"
    );
    assert!(!err.contains("secret"), "the token is not shown: {err}");
}

#[test]
fn a_backup_taken_from_the_store_or_through_the_service_opens_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (_, err, code) = fulfil(dir.path(), &["submit", FULFILMENT], "");
    assert_eq!(code, 2, "{err}");
    let (orders, _, _) = fulfil(dir.path(), &["orders", "--format", "json"], "");
    let (events, _, _) = fulfil(dir.path(), &["events"], "");

    let copies = tempfile::tempdir().unwrap();
    let local = copies.path().join("local");
    let (out, err, code) = fulfil(dir.path(), &["backup", local.to_str().unwrap()], "");
    assert_eq!(code, 0, "{err}");
    let copied: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        copied["through"].as_u64(),
        Some(events.lines().count() as u64)
    );
    // The copy is a store: the same log, and its read models fold to the same answers.
    assert_eq!(fulfil(&local, &["events"], "").0, events);
    assert_eq!(
        fulfil(&local, &["orders", "--format", "json"], "").0,
        orders
    );

    // While serve holds the store, the service writes the copy.
    let mut serving = serving::Serving::start(dir.path(), &[]);
    let remote = copies.path().join("remote");
    let (out, err, code) = fulfil(
        dir.path(),
        &["backup", remote.to_str().unwrap(), "--server", &serving.url],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"through\""), "{out}");
    let (_, err, code) = fulfil(
        dir.path(),
        &["backup", remote.to_str().unwrap(), "--server", &serving.url],
        "",
    );
    assert!(code != 0 && err.contains("not empty"), "{err}");
    assert!(serving.stop());
    assert_eq!(
        fulfil(&remote, &["events"], "").0.lines().count(),
        events.lines().count()
    );
}
