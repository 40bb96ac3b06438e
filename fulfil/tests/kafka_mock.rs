//! The Kafka side against librdkafka's mock cluster: commands published by
//! a plain client come back as results and events, and every kind of bad
//! message lands on command-results or the dead-letter topic with its reason.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use event_store::{Store, StoreConfig};
use fulfil_kafka::client::header;
use fulfil_kafka::lease::Lease;
use fulfil_kafka::{KafkaConfig, Topics};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use serde_json::Value;
use support::{publish, read_until};

/// A mock cluster holding every topic under `prefix` (three partitions
/// each), and the configuration to reach it with `settings`.
fn cluster_with_topics(
    prefix: &str,
    settings: &[String],
) -> (
    MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    KafkaConfig,
) {
    let cluster = MockCluster::new(1).unwrap();
    let config = KafkaConfig::resolve(
        &fulfil_kafka::KafkaFile::default(),
        Some(cluster.bootstrap_servers()),
        Some(prefix.into()),
        settings,
    )
    .unwrap();
    for (topic, _) in Topics::new(prefix).all() {
        cluster.create_topic(&topic, 3, 1).unwrap();
    }
    (cluster, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_from_topics_come_back_as_results_events_and_dead_letters() {
    let (cluster, config) = cluster_with_topics("t.", &["message.max.bytes=12000000".into()]);
    let brokers = cluster.bootstrap_servers();
    let topics = Topics::new("t.");

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let service = fulfil_service::Service::new(&store, Arc::new(clock::SystemClock))
        .unwrap()
        .with_kafka(&config)
        .unwrap()
        .with_workers();
    let state = service.state.clone();

    let producer = support::producer(&brokers);
    let catalog = topics.commands("catalog");
    let inventory = topics.commands("inventory");
    let order = topics.commands("order");
    let good: [(&str, &str, &str); 5] = [
        (
            &catalog,
            "MUG",
            r#"{"command_id":"k-1","type":"DefineSku","sku":"MUG","description":"Mug","unit_of_measure":"each","standard_cost_cents":300}"#,
        ),
        (
            &catalog,
            "WH1",
            r#"{"command_id":"k-2","type":"DefineLocation","location":"WH1","name":"Bristol","kind":"warehouse"}"#,
        ),
        (
            &inventory,
            "MUG@WH1",
            r#"{"command_id":"k-3","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":10}"#,
        ),
        (
            &order,
            "SO-1",
            r#"{"command_id":"k-4","type":"PlaceOrder","order_id":"SO-1","customer_id":"C","lines":[{"line":1,"sku":"MUG","qty":4,"unit_price_cents":900}],"ship_to":"x","channel":"web","requested_date":"2026-03-05"}"#,
        ),
        // A redelivered command: applied once, answered twice.
        (
            &inventory,
            "MUG@WH1",
            r#"{"command_id":"k-3","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":10}"#,
        ),
    ];
    // Kafka orders messages per key only: the item master is defined (and
    // its results awaited) before anything names it, as an upstream would.
    for (topic, key, body) in &good[..2] {
        publish(&producer, topic, Some(key), body.as_bytes()).await;
    }
    read_until(&brokers, &[&topics.results()], |m| m.len() >= 2).await;
    for (topic, key, body) in &good[2..] {
        publish(&producer, topic, Some(key), body.as_bytes()).await;
    }
    let answered: [(&str, Option<&str>, Vec<u8>); 5] = [
        (&inventory, Some("MUG@WH1"), br#"{"command_id":"b-1","type":"TeleportStock"}"#.to_vec()),
        (&inventory, Some("MUG@WH1"), br#"{"command_id":"b-2","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":"ten"}"#.to_vec()),
        (&inventory, Some("MUG@WH2"), br#"{"command_id":"b-3","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":1}"#.to_vec()),
        (&order, Some("MUG@WH1"), br#"{"command_id":"b-4","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":1}"#.to_vec()),
        // The handoff's own command, from outside: refused, nothing written.
        (&order, Some("SO-1"), br#"{"command_id":"b-5","type":"AllocateLine","order_id":"SO-1","line":1,"qty":4,"source":{"kind":"stock","location":"WH1"},"promise_date":"2026-03-05"}"#.to_vec()),
    ];
    for (topic, key, body) in &answered {
        publish(&producer, topic, *key, body).await;
    }
    // Over the 1 MiB a command may have (the mock broker's log keeps only a
    // few MB; the 10 MB case runs against the real broker).
    let big = vec![b'x'; 2 * 1024 * 1024];
    let dead: [(&str, Option<&str>, &[u8]); 4] = [
        (&inventory, Some("MUG@WH1"), b"{not json"),
        (
            &inventory,
            Some("MUG@WH1"),
            br#"{"type":"ReceiveStock","sku":"MUG","location":"WH1","qty":1}"#,
        ),
        (
            &inventory,
            None,
            br#"{"command_id":"d-3","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":1}"#,
        ),
        (&order, Some("SO-9"), &big),
    ];
    for (topic, key, body) in &dead {
        publish(&producer, topic, *key, body).await;
    }
    // A good command after all the bad ones is still applied.
    publish(
        &producer,
        &inventory,
        Some("MUG@WH1"),
        br#"{"command_id":"k-5","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":2}"#,
    )
    .await;

    let results = read_until(&brokers, &[&topics.results()], |m| m.len() >= 11).await;
    let by_id: BTreeMap<String, Vec<Value>> = results.iter().fold(BTreeMap::new(), |mut acc, m| {
        let key = String::from_utf8_lossy(m.key().unwrap()).into_owned();
        acc.entry(key)
            .or_insert_with(Vec::new)
            .push(serde_json::from_slice(m.payload().unwrap()).unwrap());
        acc
    });
    for id in ["k-1", "k-2", "k-4", "k-5"] {
        assert_eq!(by_id[id].len(), 1, "{id}: {by_id:?}");
        assert_eq!(by_id[id][0]["status"], "accepted", "{id}: {by_id:?}");
    }
    let k3 = &by_id["k-3"];
    assert_eq!(k3.len(), 2);
    assert_eq!(
        (k3[0]["duplicate"].as_bool(), k3[1]["duplicate"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(
        k3[0]["first_position"], k3[1]["first_position"],
        "one effect"
    );
    let reason = |id: &str| by_id[id][0]["reason"].as_str().unwrap().to_owned();
    assert_eq!(reason("b-1"), "unknown_command_type");
    assert_eq!(reason("b-2"), "invalid_fields");
    assert_eq!(reason("b-3"), "key_mismatch");
    assert_eq!(reason("b-4"), "wrong_topic");
    assert_eq!(reason("b-5"), "process_only");

    let letters = read_until(&brokers, &[&topics.dead_letter()], |m| m.len() >= 4).await;
    let mut reasons: Vec<String> = letters
        .iter()
        .map(|m| header(m, "fulfil.reason").unwrap())
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "invalid_envelope",
            "malformed_json",
            "missing_key",
            "too_large"
        ]
    );
    for m in &letters {
        assert!(header(m, "fulfil.source.topic")
            .unwrap()
            .starts_with("t.commands."));
        assert!(header(m, "fulfil.source.offset")
            .unwrap()
            .parse::<i64>()
            .is_ok());
        assert!(!header(m, "fulfil.error").unwrap().is_empty());
    }
    let not_json = letters
        .iter()
        .find(|m| header(*m, "fulfil.reason").as_deref() == Some("malformed_json"))
        .unwrap();
    assert_eq!(
        not_json.payload(),
        Some(&b"{not json"[..]),
        "the original bytes"
    );
    let large = letters
        .iter()
        .find(|m| header(*m, "fulfil.reason").as_deref() == Some("too_large"))
        .unwrap();
    assert_eq!(
        header(large, "fulfil.truncated").as_deref(),
        Some("2097152")
    );

    // Every event in the log is published once, in order per key, with its headers.
    let head = {
        let mut caught = state.caught_up.subscribe();
        caught
            .wait_for(|c| c.is_some_and(|c| c >= store.head_position()))
            .await
            .unwrap();
        store.head_position()
    };
    let mut events = Vec::new();
    for kind in fulfil_kafka::topics::KINDS {
        let topic = topics.events(kind);
        let expected = store
            .read_all(1, usize::MAX)
            .unwrap()
            .iter()
            .filter(|e| {
                schemas::StreamKind::split(e.stream.as_str()).map(|(k, _)| k.topic_kind())
                    == Some(kind)
            })
            .count();
        events.extend(read_until(&brokers, &[&topic], |m| m.len() >= expected).await);
    }
    let mut positions: Vec<u64> = events
        .iter()
        .map(|m| header(m, "ce_position").unwrap().parse().unwrap())
        .collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=head).collect::<Vec<_>>(), "each event once");
    let reserved = events
        .iter()
        .find(|m| header(*m, "ce_type").as_deref() == Some("StockReserved"))
        .unwrap_or_else(|| {
            let log: Vec<String> = store
                .read_all(1, usize::MAX)
                .unwrap()
                .iter()
                .map(|e| format!("{} {} {}", e.position, e.stream.as_str(), e.payload))
                .collect();
            panic!("no reservation:\n{}", log.join("\n"))
        });
    assert_eq!(reserved.key(), Some(&b"MUG@WH1"[..]));
    let e =
        fulfil_kafka::wire::recorded_event(|n| header(reserved, n), reserved.payload().unwrap())
            .unwrap();
    assert_eq!(e.stream.as_str(), "inventory-MUG@WH1");

    service.stop().await.unwrap();
}

/// The writer lease passes to the node standing by when the writer stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_lease_passes_to_the_standby_when_the_writer_stops() {
    let cluster = MockCluster::new(1).unwrap();
    let config = KafkaConfig::resolve(
        &fulfil_kafka::KafkaFile::default(),
        Some(cluster.bootstrap_servers()),
        Some("w.".into()),
        &[],
    )
    .unwrap();
    cluster
        .create_topic(&Topics::new("w.").writer(), 1, 1)
        .unwrap();
    // A safety net, not a synchronisation: each wait ends when the lease moves.
    let limit = std::time::Duration::from_mins(1);
    let first = Lease::join(&config).unwrap();
    let mut first_held = first.held();
    let (stop_first, stopped) = tokio::sync::watch::channel(false);
    let first = tokio::spawn(first.keep(stopped));
    tokio::time::timeout(limit, first_held.wait_for(|h| *h))
        .await
        .expect("the first node becomes the writer")
        .unwrap();

    let second = Lease::join(&config).unwrap();
    let mut second_held = second.held();
    let (stop_second, stopped) = tokio::sync::watch::channel(false);
    let second = tokio::spawn(second.keep(stopped));
    stop_first.send(true).unwrap();
    first.await.unwrap().unwrap();
    tokio::time::timeout(limit, second_held.wait_for(|h| *h))
        .await
        .expect("the standby takes over")
        .unwrap();
    stop_second.send(true).unwrap();
    second.await.unwrap().unwrap();
}

/// A clean stop stops taking commands, lets the workers finish, and then
/// the outbox relay drains what everything recorded: nothing is left
/// unpublished while the broker answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_drains_the_outbox_after_the_workers_have_finished() {
    let (cluster, config) = cluster_with_topics("d.", &[]);
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let service = fulfil_service::Service::new(&store, Arc::new(clock::SystemClock))
        .unwrap()
        .with_kafka(&config)
        .unwrap()
        .with_workers();
    let handler = service.state.handler.clone();
    // Orders up to the moment of the stop: each makes the workers append.
    tokio::task::spawn_blocking(move || {
        let mut lines = vec![
            r#"{"command_id":"s-1","type":"DefineSku","sku":"MUG","description":"Mug","unit_of_measure":"each","standard_cost_cents":300}"#.to_owned(),
            r#"{"command_id":"s-2","type":"DefineLocation","location":"WH1","name":"One","kind":"warehouse"}"#.to_owned(),
            r#"{"command_id":"s-3","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":100}"#.to_owned(),
        ];
        lines.extend((0..300).map(|n| format!(r#"{{"command_id":"o-{n}","type":"PlaceOrder","order_id":"SO-{n}","customer_id":"C","lines":[{{"line":1,"sku":"MUG","qty":1,"unit_price_cents":900}}],"ship_to":"x","channel":"web","requested_date":"2030-03-05"}}"#)));
        for line in lines {
            handler.handle(&schemas::parse_command(&line).unwrap()).unwrap();
        }
    })
    .await
    .unwrap();
    service.stop().await.unwrap();
    assert_eq!(
        store.outbox_len().unwrap(),
        0,
        "everything recorded was published"
    );
    let head = store.head_position();
    let events = Topics::new("d.").all_events();
    let names: Vec<&str> = events.iter().map(String::as_str).collect();
    let published = read_until(&brokers, &names, |m| m.len() as u64 >= head).await;
    assert!(
        published.len() as u64 >= head,
        "{} of {head}",
        published.len()
    );
}

/// A replica whose hold is small pauses the partitions that run ahead and
/// reads each again once it holds nothing: it folds the whole history, each
/// model equal to a rebuild from the writer's log, while holding no more
/// than its bound and one read batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_a_small_hold_pauses_the_partitions_ahead_and_folds_everything() {
    let (_cluster, config) = cluster_with_topics("h.", &[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let writer = fulfil_service::Service::new(&store, Arc::new(clock::SystemClock))
        .unwrap()
        .with_kafka(&config)
        .unwrap()
        .with_workers();
    let handler = writer.state.handler.clone();
    tokio::task::spawn_blocking(move || {
        let mut lines = vec![
            r#"{"command_id":"l-1","type":"DefineLocation","location":"WH1","name":"One","kind":"warehouse"}"#.to_owned(),
            r#"{"command_id":"l-2","type":"DefineLocation","location":"WH2","name":"Two","kind":"warehouse"}"#.to_owned(),
        ];
        for s in 0..4 {
            lines.push(format!(r#"{{"command_id":"s-{s}","type":"DefineSku","sku":"SKU-{s}","description":"d","unit_of_measure":"each","standard_cost_cents":300}}"#));
            for w in 1..=2 {
                lines.push(format!(r#"{{"command_id":"r-{s}-{w}","type":"ReceiveStock","sku":"SKU-{s}","location":"WH{w}","qty":300}}"#));
            }
        }
        lines.extend((0..800).map(|n| format!(r#"{{"command_id":"o-{n}","type":"PlaceOrder","order_id":"SO-{n}","customer_id":"C-{}","lines":[{{"line":1,"sku":"SKU-{}","qty":1,"unit_price_cents":900}}],"ship_to":"x","channel":"web","requested_date":"2030-03-05"}}"#, n % 50, n % 4)));
        for line in lines {
            handler.handle(&schemas::parse_command(&line).unwrap()).unwrap();
        }
    })
    .await
    .unwrap();
    // A clean stop publishes everything the writer and its process recorded.
    writer.stop().await.unwrap();
    let head = store.head_position();
    assert_eq!(store.outbox_len().unwrap(), 0);

    let hold = 64;
    let file = fulfil_kafka::KafkaFile {
        replica_hold: Some(hold),
        ..fulfil_kafka::KafkaFile::default()
    };
    let small = KafkaConfig {
        bounds: KafkaConfig::resolve(&file, Some(config.brokers.clone()), None, &[])
            .unwrap()
            .bounds,
        ..config.clone()
    };
    let replica_dir = tempfile::tempdir().unwrap();
    let replica_store =
        fulfil_service::open_replica(replica_dir.path(), StoreConfig::default()).unwrap();
    let replica = fulfil_service::Service::new(&replica_store, Arc::new(clock::SystemClock))
        .unwrap()
        .with_replica(&small, "small")
        .unwrap();
    let mut caught_up = replica.state.caught_up.subscribe();
    // A safety net, not a synchronisation: the wait ends when the replica folds the head.
    tokio::time::timeout(
        std::time::Duration::from_mins(2),
        caught_up.wait_for(|c| c.is_some_and(|p| p >= head)),
    )
    .await
    .expect("the replica folds the whole history")
    .unwrap();
    let series: BTreeMap<&str, u64> = replica
        .state
        .replica
        .as_ref()
        .unwrap()
        .series()
        .into_iter()
        .map(|(name, _, value)| (name, value))
        .collect();
    eprintln!("{head} events; replica: {series:?}");
    assert_eq!(series["fulfil_replica_hold_bound_events"], hold as u64);
    assert!(series["fulfil_replica_pauses_total"] > 0, "{series:?}");
    assert!(
        series["fulfil_replica_held_most_events"] <= hold as u64 + 9,
        "{series:?}"
    );
    assert_eq!(series["fulfil_replica_folded_total"], head);
    let models = replica.state.models.clone();
    for (model, projection) in models.all() {
        let report = projections::projection::check(&store, model, projection).unwrap();
        assert_eq!(report.checkpoint, Some(head), "{}", projection.name());
        assert!(
            report.agrees(),
            "{}: {:?}",
            projection.name(),
            report.differences
        );
    }
    replica.stop().await.unwrap();
}
