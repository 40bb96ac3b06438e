//! One corpus of hostile commands through every entry point: `fulfil
//! submit`, `POST /commands` and the command topics (librdkafka's mock
//! cluster, reached by `fulfil serve --kafka`). Each is refused with the
//! same reason wherever it comes from, answered where its sender looks (a
//! line of output, an HTTP answer, command-results or the dead-letter
//! topic), counted, and nothing of it is written.

mod support;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Command, Stdio};

use fulfil_kafka::client::header;
use fulfil_kafka::Topics;
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use serde_json::Value;
use support::{publish, read_until};

const PREFIX: &str = "h.";

/// A command as sent, where Kafka takes it, and the reason it must be refused for.
struct Hostile {
    name: &'static str,
    kind: &'static str,
    key: &'static str,
    body: Vec<u8>,
    reason: &'static str,
}

const PRELUDE: [(&str, &str, &str); 3] = [
    (
        "catalog",
        "MUG",
        r#"{"command_id":"k-1","type":"DefineSku","sku":"MUG","description":"Mug","unit_of_measure":"each","standard_cost_cents":300}"#,
    ),
    (
        "catalog",
        "WH1",
        r#"{"command_id":"k-2","type":"DefineLocation","location":"WH1","name":"Bristol","kind":"warehouse"}"#,
    ),
    (
        "inventory",
        "MUG@WH1",
        r#"{"command_id":"k-3","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":10}"#,
    ),
];

/// A good command after the corpus: still applied.
const AFTER: (&str, &str, &str) = (
    "inventory",
    "MUG@WH1",
    r#"{"command_id":"k-4","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":2}"#,
);

fn receive(id: &str, fields: &str) -> Vec<u8> {
    format!(r#"{{"command_id":"{id}","type":"ReceiveStock","location":"WH1",{fields}}}"#)
        .into_bytes()
}

fn order(id: &str, date: &str) -> Vec<u8> {
    format!(
        r#"{{"command_id":"{id}","type":"PlaceOrder","order_id":"SO-1","customer_id":"C","lines":[{{"line":1,"sku":"MUG","qty":1,"unit_price_cents":900}}],"ship_to":"x","channel":"web","requested_date":"{date}"}}"#
    )
    .into_bytes()
}

fn corpus() -> Vec<Hostile> {
    let inv = |name, body, reason| Hostile {
        name,
        kind: "inventory",
        key: "MUG@WH1",
        body,
        reason,
    };
    let nested = |depth: usize| {
        receive(
            "h-nest",
            &format!(
                r#""sku":{}"MUG"{},"qty":1"#,
                "[".repeat(depth),
                "]".repeat(depth)
            ),
        )
    };
    let mut not_utf8 = receive("h-utf8", r#""sku":"MUG","qty":1"#);
    not_utf8[40] = 0xff;
    vec![
        inv("not JSON", b"{not json".to_vec(), "malformed_json"),
        inv("an array", b"[1,2,3]".to_vec(), "malformed_json"),
        inv("null", b"null".to_vec(), "malformed_json"),
        inv("not UTF-8", not_utf8, "malformed_json"),
        inv("trailing text", [receive("h-trail", r#""sku":"MUG","qty":1"#), b" {}".to_vec()].concat(), "malformed_json"),
        inv("nested 300 deep", nested(300), "malformed_json"),
        inv("a field given twice", receive("h-twice", r#""sku":"MUG","qty":1,"qty":100000"#), "malformed_json"),
        inv("an empty object", b"{}".to_vec(), "invalid_envelope"),
        inv("no command id", br#"{"type":"ReceiveStock","sku":"MUG","location":"WH1","qty":1}"#.to_vec(), "invalid_envelope"),
        inv("a numeric command id", br#"{"command_id":7,"type":"ReceiveStock","sku":"MUG","location":"WH1","qty":1}"#.to_vec(), "invalid_envelope"),
        inv("a 200-character command id", receive(&"i".repeat(200), r#""sku":"MUG","qty":1"#), "invalid_envelope"),
        inv("no type", br#"{"command_id":"h-notype","sku":"MUG","location":"WH1","qty":1}"#.to_vec(), "invalid_envelope"),
        inv("an impossible at", receive("h-at", r#""at":"2026-02-30T09:00:00Z","sku":"MUG","qty":1"#), "invalid_envelope"),
        inv("an unknown type", br#"{"command_id":"h-type","type":"TeleportStock"}"#.to_vec(), "unknown_command_type"),
        inv("a misspelt field", receive("h-qyt", r#""sku":"MUG","qyt":1"#), "invalid_fields"),
        inv("a quantity in words", receive("h-ten", r#""sku":"MUG","qty":"ten""#), "invalid_fields"),
        inv("a negative quantity", receive("h-neg", r#""sku":"MUG","qty":-5"#), "invalid_fields"),
        inv("a zero quantity", receive("h-zero", r#""sku":"MUG","qty":0"#), "invalid_fields"),
        inv("the largest integer", receive("h-max", r#""sku":"MUG","qty":18446744073709551615"#), "invalid_fields"),
        inv("a quantity of 1e300", receive("h-e300", r#""sku":"MUG","qty":1e300"#), "invalid_fields"),
        inv("a fractional quantity", receive("h-frac", r#""sku":"MUG","qty":2.5"#), "invalid_fields"),
        inv("nested 50 deep", nested(50), "invalid_fields"),
        inv("an @ in a SKU", receive("h-at-sku", r#""sku":"MUG@X","qty":1"#), "invalid_id"),
        inv("a NUL in a SKU", receive("h-nul", r#""sku":"MU\u0000G","qty":1"#), "invalid_id"),
        inv("a SKU of 100,000 characters", receive("h-long", &format!(r#""sku":"{}","qty":1"#, "M".repeat(100_000))), "invalid_id"),
        Hostile {
            name: "an undefined SKU",
            kind: "inventory",
            key: "NOPE@WH1",
            body: receive("h-nope", r#""sku":"NOPE","qty":1"#),
            reason: "unknown_sku",
        },
        inv("a command id reused for another body", receive("k-3", r#""sku":"MUG","qty":11"#), "idempotency_conflict"),
        inv("over a megabyte", [b"{\"command_id\":\"h-big\",\"x\":\"".to_vec(), vec![b'x'; 2 << 20], b"\"}".to_vec()].concat(), "too_large"),
        Hostile {
            name: "an impossible requested date",
            kind: "order",
            key: "SO-1",
            body: order("h-date", "2026-02-30"),
            reason: "invalid_fields",
        },
        Hostile {
            name: "the process's own command",
            kind: "order",
            key: "SO-1",
            body: br#"{"command_id":"h-alloc","type":"AllocateLine","order_id":"SO-1","line":1,"qty":1,"source":{"kind":"stock","location":"WH1"},"promise_date":"2026-03-05"}"#.to_vec(),
            reason: "process_only",
        },
    ]
}

fn fulfil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fulfil"))
}

/// The number of events in the store in `dir`.
fn events_in(dir: &std::path::Path) -> u64 {
    event_store::Store::open(dir, event_store::StoreConfig::default())
        .unwrap()
        .head_position()
}

/// A value from the service's Prometheus text.
async fn metric(base: &str, series: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{series} ")))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

/// Asserts each entry point refused each hostile command for its reason.
fn assert_refused_alike(entry: &str, corpus: &[Hostile], answers: &[(String, String)]) {
    assert_eq!(answers.len(), corpus.len(), "{entry}: one answer each");
    let wrong: Vec<String> = corpus
        .iter()
        .zip(answers)
        .filter(|(h, (reason, message))| reason != h.reason || message.is_empty())
        .map(|(h, (reason, message))| format!("{}: {reason} ({message}), not {}", h.name, h.reason))
        .collect();
    assert!(wrong.is_empty(), "{entry}:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_entry_point_refuses_the_same_hostile_commands_alike_and_writes_nothing() {
    let corpus = corpus();
    assert!(
        corpus.iter().all(|h| !h.body.contains(&b'\n')),
        "one line each"
    );

    // fulfil submit: a file of the prelude, the corpus and one good line.
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("hostile.jsonl");
    let mut lines: Vec<Vec<u8>> = PRELUDE
        .iter()
        .map(|(_, _, b)| b.as_bytes().to_vec())
        .collect();
    lines.extend(corpus.iter().map(|h| h.body.clone()));
    lines.push(AFTER.2.as_bytes().to_vec());
    std::fs::write(&file, lines.join(&b'\n')).unwrap();
    let submitted = root.path().join("submitted");
    let out = fulfil()
        .arg("--data-dir")
        .arg(&submitted)
        .arg("submit")
        .arg(&file)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(results.len(), lines.len(), "one result a line");
    let status = |r: &Value| r["status"].as_str().unwrap().to_owned();
    assert!(
        results[..3]
            .iter()
            .chain(results.last())
            .all(|r| status(r) == "accepted"),
        "{results:?}"
    );
    let by_submit: Vec<(String, String)> = results[3..results.len() - 1]
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap_or("").to_owned(),
                r["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_refused_alike("submit", &corpus, &by_submit);
    for (n, r) in results.iter().enumerate().skip(3).take(corpus.len()) {
        if status(r) == "invalid" {
            assert_eq!(r["line"], n + 1, "the line is named: {r}");
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("4 accepted, "), "{stderr}");
    assert_eq!(
        events_in(&submitted),
        4,
        "the prelude and the good line only"
    );

    // fulfil serve, taking commands over HTTP and from the command topics.
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let topics = Topics::new(PREFIX);
    for (topic, _) in topics.all() {
        cluster.create_topic(&topic, 3, 1).unwrap();
    }
    let served = root.path().join("served");
    let mut child = fulfil()
        .arg("--data-dir")
        .arg(&served)
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--kafka",
            &brokers,
            "--topic-prefix",
            PREFIX,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let url = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "serve ended");
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            break url.trim_end_matches('/').to_owned();
        }
    };
    let warned = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let log = warned.clone();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            log.lock().unwrap().push_str(&line);
            log.lock().unwrap().push('\n');
        }
    });
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        let request = http.post(format!("{url}/commands")).body(body);
        async move {
            let response = request.send().await.unwrap();
            let code = response.status().as_u16();
            let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
            (code, answer)
        }
    };
    for (_, _, body) in PRELUDE {
        assert_eq!(post(body.as_bytes().to_vec()).await.0, 200);
    }
    let mut by_http = Vec::new();
    for h in &corpus {
        let (code, answer) = post(h.body.clone()).await;
        let expected = match (answer["status"].as_str(), h.reason) {
            (_, "too_large") => 413,
            (Some("rejected"), _) => 422,
            _ => 400,
        };
        assert_eq!(code, expected, "{}: {answer}", h.name);
        by_http.push((
            answer["reason"].as_str().unwrap_or("").to_owned(),
            answer["message"].as_str().unwrap_or("").to_owned(),
        ));
    }
    assert_refused_alike("HTTP", &corpus, &by_http);
    assert_eq!(post(AFTER.2.as_bytes().to_vec()).await.0, 200);
    let refused = corpus.len() as u64;
    let api = metric(
        &url,
        "fulfil_commands_total{source=\"api\",outcome=\"invalid\"}",
    )
    .await
        + metric(
            &url,
            "fulfil_commands_total{source=\"api\",outcome=\"rejected\"}",
        )
        .await;
    assert_eq!(api, refused, "every refusal counted");

    // The same corpus on the command topics, then the good line again (a duplicate).
    let producer = support::producer(&brokers);
    for h in &corpus {
        publish(&producer, &topics.commands(h.kind), Some(h.key), &h.body).await;
    }
    let (kind, key, body) = AFTER;
    publish(
        &producer,
        &topics.commands(kind),
        Some(key),
        body.as_bytes(),
    )
    .await;
    // A message Kafka can read an id from is answered on command-results
    // under it; the rest go to the dead-letter topic.
    let answered_by_id: BTreeMap<String, usize> = corpus
        .iter()
        .enumerate()
        .filter(|(_, h)| h.reason != "too_large")
        .filter_map(|(n, h)| {
            let id = serde_json::from_slice::<Value>(&h.body).ok()?["command_id"]
                .as_str()?
                .to_owned();
            Some((id, n))
        })
        .collect();
    let answered = read_until(&brokers, &[&topics.results()], |m| {
        let ids: Vec<&[u8]> = m.iter().filter_map(|m| m.key()).collect();
        ids.contains(&b"k-4".as_slice())
            && answered_by_id.keys().all(|id| ids.contains(&id.as_bytes()))
    })
    .await;
    let dead_count = corpus.len() - answered_by_id.len();
    let letters = read_until(&brokers, &[&topics.dead_letter()], |m| {
        m.len() >= dead_count
    })
    .await;
    let mut by_kafka: Vec<Option<(String, String)>> = vec![None; corpus.len()];
    for m in &answered {
        let id = String::from_utf8_lossy(m.key().unwrap()).into_owned();
        if let Some(&n) = answered_by_id.get(&id) {
            let answer: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            assert!(by_kafka[n].is_none(), "{}: answered once", corpus[n].name);
            by_kafka[n] = Some((
                answer["reason"].as_str().unwrap_or("").to_owned(),
                answer["message"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    for m in &letters {
        let payload = m.payload().unwrap_or_default();
        // A dead letter carries the original bytes, cut at 256 KiB.
        let n = corpus
            .iter()
            .position(|h| {
                h.body == payload
                    || (payload.len() == fulfil_kafka::commands::DEAD_LETTER_BYTES
                        && h.body.starts_with(payload))
            })
            .unwrap_or_else(|| {
                panic!(
                    "a dead letter of no hostile command: {}",
                    String::from_utf8_lossy(payload)
                )
            });
        assert!(by_kafka[n].is_none(), "{}: answered once", corpus[n].name);
        by_kafka[n] = Some((
            header(m, "fulfil.reason").unwrap(),
            header(m, "fulfil.error").unwrap(),
        ));
    }
    let by_kafka: Vec<(String, String)> = by_kafka
        .into_iter()
        .zip(&corpus)
        .map(|(a, h)| a.unwrap_or_else(|| panic!("{}: not answered on Kafka", h.name)))
        .collect();
    assert_refused_alike("Kafka", &corpus, &by_kafka);
    assert_eq!(
        metric(&url, "fulfil_kafka_dead_letters_total").await,
        dead_count as u64
    );

    // Nothing of the corpus was written: the prelude and the good line.
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(
        ok.success() && child.wait().unwrap().success(),
        "{}",
        warned.lock().unwrap()
    );
    assert_eq!(events_in(&served), 4);
}
