//! docs/commands.md shows one complete example of every command upstream
//! systems may send: submitted in order to a fresh store, each answers as
//! the page says; every other command is listed as the processes' own.

use std::process::Command;

use serde_json::Value;

const PAGE: &str = include_str!("../../docs/commands.md");
const LINES: &str = include_str!("../../docs/commands.jsonl");

/// Each JSON example and the answer the page gives for it: `accepted`, or
/// the status and reason of an `Answer:` line after the block.
fn examples() -> Vec<(Value, String)> {
    let mut out = Vec::new();
    let mut lines = PAGE.lines();
    while let Some(line) = lines.next() {
        if line != "```json" {
            continue;
        }
        let json: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(lines.next(), Some("```"), "one command per block");
        let answer = match lines.next() {
            Some(a) if a.starts_with("Answer: ") => {
                let ticked: Vec<&str> = a.split('`').skip(1).step_by(2).take(2).collect();
                ticked.join(" ")
            }
            _ => "accepted".to_owned(),
        };
        out.push((json, answer));
    }
    out
}

#[test]
fn every_outside_command_has_an_example_that_answers_as_shown() {
    let examples = examples();
    let file: Vec<Value> = LINES
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let shown: Vec<Value> = examples.iter().map(|(j, _)| j.clone()).collect();
    assert_eq!(
        shown, file,
        "docs/commands.jsonl holds the page's examples, in order"
    );

    let types: Vec<&str> = schemas::CatalogCommand::TYPES
        .iter()
        .chain(&schemas::InventoryCommand::TYPES)
        .chain(&schemas::OrderCommand::TYPES)
        .chain(&schemas::PurchaseOrderCommand::TYPES)
        .copied()
        .collect();
    // The first column of the processes' table.
    let listed: Vec<&str> = PAGE[PAGE.find("## The processes' own commands").unwrap()..]
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split(" |").next())
        .collect();
    for t in types {
        let exemplified = shown.iter().any(|j| j["type"] == t);
        let listed = listed.iter().any(|cell| cell.contains(&format!("{t}`")));
        assert!(
            exemplified != listed || t == "ReceiveStock",
            "{t}: exemplified {exemplified}, listed {listed}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fulfil"))
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "submit",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/commands.jsonl"),
        ])
        .output()
        .unwrap();
    let results: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), examples.len());
    for ((json, expected), result) in examples.iter().zip(&results) {
        let got = match result["status"].as_str().unwrap() {
            "accepted" => "accepted".to_owned(),
            status => format!("{status} {}", result["reason"].as_str().unwrap()),
        };
        assert_eq!(&got, expected, "{json}: {result}");
    }
    let refused = examples.iter().filter(|(_, a)| a != "accepted").count();
    assert_eq!(out.status.code(), Some(if refused > 0 { 2 } else { 0 }));
}
