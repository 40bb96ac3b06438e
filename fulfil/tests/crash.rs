//! `fulfil serve` under concurrent HTTP load, killed (`SIGKILL`) 20 times at the
//! moment a random number of commands had been acknowledged, and started
//! again each time: every acknowledged command is in the log exactly once
//! (retries of acknowledged ones across crashes included), the log's
//! positions are gapless, and every read model equals a fresh rebuild.

mod serving;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;

use serde_json::Value;

const KILLS: usize = 20;
const CLIENTS: usize = 4;

/// Posts `body` to `/commands`: the answer's status, or none when the
/// connection failed (the service was killed).
fn post(url: &str, body: &str) -> Option<Value> {
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    write!(
        stream,
        "POST /commands HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let json = answer.split("\r\n\r\n").nth(1)?;
    serde_json::from_str(json).ok()
}

fn command(n: usize) -> String {
    if n.is_multiple_of(4) {
        format!(
            r#"{{"command_id":"k-{n}","type":"PlaceOrder","order_id":"SO-{n}","customer_id":"C","ship_to":"X","channel":"web","requested_date":"2030-01-01","lines":[{{"line":1,"sku":"SKU-1","qty":1,"unit_price_cents":900}}]}}"#
        )
    } else {
        format!(
            r#"{{"command_id":"k-{n}","type":"ReceiveStock","sku":"SKU-1","location":"WH1","qty":1}}"#
        )
    }
}

fn fulfil(dir: &std::path::Path, args: &[&str]) -> (String, i32) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fulfil"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn acknowledged_commands_survive_twenty_sigkills_of_serve_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let master = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/item-master.jsonl"
    );
    assert_eq!(fulfil(dir.path(), &["submit", master]).1, 0);

    let next = AtomicUsize::new(0);
    let contention = AtomicUsize::new(0);
    let acked = Mutex::new(BTreeSet::new());
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    for round in 0..=KILLS {
        let mut serving = serving::Serving::start(dir.path(), &[]);
        let url = serving.url.clone();
        // Retries of commands acknowledged before the crash: applied once.
        let earlier: Vec<usize> = acked
            .lock()
            .unwrap()
            .iter()
            .rev()
            .take(3)
            .copied()
            .collect();
        for n in earlier {
            let answer = post(&url, &command(n)).unwrap();
            assert_eq!(answer["status"], "accepted", "{answer}");
            assert_eq!(answer["duplicate"], true, "k-{n} retried: {answer}");
        }
        if round == KILLS {
            // The last run: let the workers settle, then stop cleanly.
            let (log, _) = fulfil(dir.path(), &["events", "--server", &url]);
            serving.ready(log.lines().count());
            assert!(serving.stop());
            break;
        }
        // Kill once a random number (10 to 60) more commands were acknowledged.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let quota = 10 + usize::try_from(seed % 51).unwrap();
        let stop = AtomicBool::new(false);
        let (acks, heard) = mpsc::channel::<usize>();
        std::thread::scope(|s| {
            for _ in 0..CLIENTS {
                let acks = acks.clone();
                let (url, next, stop, contention) = (&url, &next, &stop, &contention);
                s.spawn(move || {
                    'commands: while !stop.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        loop {
                            match post(url, &command(n)) {
                                Some(answer) if answer["status"] == "accepted" => {
                                    let _ = acks.send(n);
                                    break;
                                }
                                // A hot stream kept moving: refused with its reason, retried.
                                Some(answer) if answer["reason"] == "contention" => {
                                    contention.fetch_add(1, Ordering::Relaxed);
                                }
                                Some(answer) => panic!("k-{n}: {answer}"),
                                None => break 'commands,
                            }
                        }
                    }
                });
            }
            drop(acks);
            for _ in 0..quota {
                let n = heard.recv().unwrap();
                acked.lock().unwrap().insert(n);
            }
            serving.child.kill().unwrap();
            serving.child.wait().unwrap();
            stop.store(true, Ordering::Relaxed);
            // Acknowledgements that crossed the kill count too.
            for n in &heard {
                acked.lock().unwrap().insert(n);
            }
        });
    }

    // Every acknowledged command is in the log exactly once; the log is gapless.
    let (log, code) = fulfil(dir.path(), &["events"]);
    assert_eq!(code, 0);
    let events: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["position"].as_u64(), Some(i as u64 + 1), "gapless");
    }
    let mut applied: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &events {
        if let Some(id) = e["causation_id"].as_str().filter(|id| id.starts_with("k-")) {
            applied
                .entry(id.to_owned())
                .or_default()
                .push(e["event_type"].as_str().unwrap().to_owned());
        }
    }
    let acked = acked.into_inner().unwrap();
    assert!(acked.len() >= KILLS * 10, "{} acknowledged", acked.len());
    for n in &acked {
        let types = &applied[&format!("k-{n}")];
        let expected: &[&str] = if n.is_multiple_of(4) {
            &["OrderPlaced", "CustomerNotified"]
        } else {
            &["StockReceived"]
        };
        assert_eq!(types, expected, "k-{n} applied exactly once");
    }
    // Every read model equals a fresh rebuild.
    let (out, code) = fulfil(dir.path(), &["check", "--projection", "all"]);
    assert_eq!(code, 0, "{out}");
    eprintln!(
        "{KILLS} SIGKILLs of serve, {} commands acknowledged, {} applied in all, {} events, 0 lost, 0 applied twice, {} contention refusals retried",
        acked.len(),
        applied.len(),
        events.len(),
        contention.load(Ordering::Relaxed)
    );
}
