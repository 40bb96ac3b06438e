//! Behaviour of the event store: appends, versions, idempotency, outbox,
//! upcasting, snapshots, subscriptions, read models and bad input.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use clock::ManualClock;
use event_store::{
    AppendRequest, ExpectedVersion, NewEvent, Store, StoreConfig, StoreError, StreamId, Upcasters,
};
use serde_json::json;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn stream(s: &str) -> StreamId {
    StreamId::new(s).unwrap()
}

fn received(qty: u64) -> NewEvent {
    NewEvent::new("StockReceived", json!({ "qty": qty }))
}

fn append(
    store: &Store,
    s: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<event_store::AppendOutcome, StoreError> {
    store.append_blocking(AppendRequest::new(stream(s), expected, events))
}

/// A tiny spill threshold, so lookups cross the in-memory table, sorted runs and merges.
fn open(dir: &std::path::Path) -> Store {
    Store::open(
        dir,
        StoreConfig {
            index_spill_appends: 3,
            ..StoreConfig::default()
        },
    )
    .unwrap()
}

#[test]
fn appends_get_gapless_versions_and_positions_across_streams() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = append(
        &store,
        "sku-A@WH1",
        ExpectedVersion::NoStream,
        vec![received(5), received(3)],
    )
    .unwrap();
    let b = append(&store, "sku-B@WH1", ExpectedVersion::Any, vec![received(7)]).unwrap();
    let c = append(
        &store,
        "sku-A@WH1",
        ExpectedVersion::Exact(2),
        vec![received(1)],
    )
    .unwrap();
    assert_eq!(
        (
            a.first_version,
            a.last_version,
            a.first_position,
            a.last_position
        ),
        (1, 2, 1, 2)
    );
    assert_eq!((b.first_version, b.first_position), (1, 3));
    assert_eq!((c.first_version, c.first_position), (3, 4));
    assert_eq!(store.head_position(), 4);

    let all = store.read_all(1, 100).unwrap();
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    let a_events = store.read_stream(&stream("sku-A@WH1"), 1).unwrap();
    assert_eq!(
        a_events
            .iter()
            .map(|e| (e.version, e.position))
            .collect::<Vec<_>>(),
        vec![(1, 1), (2, 2), (3, 4)]
    );
    assert_eq!(a_events[2].payload, json!({"qty": 1}));
    assert_eq!(store.read_stream(&stream("sku-A@WH1"), 2).unwrap().len(), 2);
    assert_eq!(
        store.read_stream(&stream("sku-A@WH1"), 3).unwrap()[0].version,
        3
    );
    assert!(store
        .read_stream(&stream("sku-A@WH1"), 4)
        .unwrap()
        .is_empty());
    assert_eq!(store.read_all(3, 1).unwrap()[0].stream, stream("sku-B@WH1"));
    assert_eq!(store.stream_version(&stream("sku-A@WH1")).unwrap(), 3);
    assert_eq!(store.stream_version(&stream("sku-C@WH1")).unwrap(), 0);
}

#[test]
fn a_stale_expected_version_is_rejected_naming_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    append(
        &store,
        "order-1",
        ExpectedVersion::NoStream,
        vec![received(1)],
    )
    .unwrap();
    let err = append(
        &store,
        "order-1",
        ExpectedVersion::NoStream,
        vec![received(2)],
    )
    .unwrap_err();
    assert!(
        matches!(err, StoreError::WrongExpectedVersion { actual: 1, .. }),
        "{err}"
    );
    let err = append(
        &store,
        "order-1",
        ExpectedVersion::Exact(5),
        vec![received(2)],
    )
    .unwrap_err();
    assert!(
        matches!(err, StoreError::WrongExpectedVersion { actual: 1, ref expected, .. } if expected == "5"),
        "{err}"
    );
    // The rejections wrote nothing.
    assert_eq!(store.read_all(1, 10).unwrap().len(), 1);
    assert_eq!(store.outbox_len().unwrap(), 1);
}

#[test]
fn a_retried_command_returns_the_original_outcome_and_writes_nothing_even_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let request = AppendRequest::new(
        stream("order-7"),
        ExpectedVersion::NoStream,
        vec![received(4)],
    )
    .command_id("cmd-7");
    let first = {
        let store = open(dir.path());
        let first = store.append_blocking(request.clone()).unwrap();
        let again = store.append_blocking(request.clone()).unwrap();
        assert!(again.duplicate);
        assert_eq!(
            (again.first_position, again.last_version),
            (first.first_position, first.last_version)
        );
        first
    };
    let store = open(dir.path());
    let again = store.append_blocking(request.clone()).unwrap();
    assert!(again.duplicate && !first.duplicate);
    assert_eq!(again.first_position, first.first_position);
    assert_eq!(store.head_position(), 1);
    assert_eq!(
        store.read_stream(&stream("order-7"), 1).unwrap()[0]
            .causation_id
            .as_deref(),
        Some("cmd-7")
    );

    let mut changed = request;
    changed.events = vec![received(5)];
    let err = store.append_blocking(changed).unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyConflict { ref command_id } if command_id == "cmd-7"),
        "{err}"
    );
    assert_eq!(store.head_position(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_of_one_command_in_one_batch_append_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let request = AppendRequest::new(stream("order-9"), ExpectedVersion::Any, vec![received(1)])
        .command_id("cmd-9");
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (store, request) = (store.clone(), request.clone());
            tokio::spawn(async move { store.append(request).await })
        })
        .collect();
    let mut originals = 0;
    for task in tasks {
        let outcome = task.await.unwrap().unwrap();
        assert_eq!(outcome.first_position, 1);
        originals += usize::from(!outcome.duplicate);
    }
    assert_eq!(originals, 1);
    assert_eq!(store.head_position(), 1);
}

#[test]
fn the_outbox_holds_every_appended_event_until_marked_published() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..5 {
        append(
            &store,
            &format!("po-{i}"),
            ExpectedVersion::Any,
            vec![received(i), received(i + 1)],
        )
        .unwrap();
    }
    let pending = store.outbox_pending(100).unwrap();
    assert_eq!(
        pending.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(store.outbox_pending(3).unwrap().len(), 3);
    store.mark_published(4).unwrap();
    assert_eq!(store.outbox_pending(100).unwrap()[0].position, 5);
    assert_eq!(store.outbox_len().unwrap(), 6);
    store.mark_published(10).unwrap();
    assert!(store.outbox_pending(100).unwrap().is_empty());
    append(&store, "po-9", ExpectedVersion::Any, vec![received(1)]).unwrap();
    assert_eq!(store.outbox_pending(100).unwrap()[0].position, 11);
}

#[test]
fn recorded_at_never_goes_backwards_and_business_time_defaults_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t("2026-03-01T10:00:00Z"));
    let config = StoreConfig {
        clock: Arc::new(clock.clone()),
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config).unwrap();
    append(&store, "s-1", ExpectedVersion::Any, vec![received(1)]).unwrap();
    clock.advance(Duration::hours(-2));
    append(
        &store,
        "s-1",
        ExpectedVersion::Any,
        vec![received(2).at(t("2026-02-01T00:00:00Z"))],
    )
    .unwrap();
    let events = store.read_all(1, 10).unwrap();
    assert_eq!(events[0].recorded_at, t("2026-03-01T10:00:00Z"));
    assert_eq!(events[0].at, events[0].recorded_at);
    assert_eq!(events[1].recorded_at, t("2026-03-01T10:00:00Z"));
    assert_eq!(events[1].at, t("2026-02-01T00:00:00Z"));
    assert_eq!(events[0].event_id.get_version_num(), 7);
}

#[test]
fn bad_input_is_rejected_with_typed_errors_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        max_event_bytes: 1024,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config).unwrap();
    append(&store, "keep", ExpectedVersion::Any, vec![received(1)]).unwrap();

    let big = NewEvent::new("Huge", json!({ "blob": "x".repeat(2000) }));
    assert!(matches!(
        append(&store, "keep", ExpectedVersion::Any, vec![big]),
        Err(StoreError::EventTooLarge { limit: 1024, .. })
    ));
    assert!(matches!(
        append(&store, "keep", ExpectedVersion::Any, vec![]),
        Err(StoreError::EmptyAppend)
    ));
    for bad in ["", "has space", "tab\there", "nul\0", &"x".repeat(300)] {
        assert!(
            matches!(StreamId::new(bad), Err(StoreError::InvalidStreamId { .. })),
            "{bad:?}"
        );
    }
    assert!(serde_json::from_value::<StreamId>(json!("a b")).is_err());
    let bad_cmd =
        AppendRequest::new(stream("keep"), ExpectedVersion::Any, vec![received(1)]).command_id("");
    assert!(matches!(
        store.append_blocking(bad_cmd),
        Err(StoreError::InvalidCommandId { .. })
    ));
    let no_type = NewEvent::new("", json!({}));
    assert!(matches!(
        append(&store, "keep", ExpectedVersion::Any, vec![no_type]),
        Err(StoreError::InvalidEventType { .. })
    ));

    assert_eq!(
        "any".parse::<ExpectedVersion>().unwrap(),
        ExpectedVersion::Any
    );
    assert_eq!(
        "no-stream".parse::<ExpectedVersion>().unwrap(),
        ExpectedVersion::NoStream
    );
    assert_eq!(
        "12".parse::<ExpectedVersion>().unwrap(),
        ExpectedVersion::Exact(12)
    );
    assert!(
        matches!("latest".parse::<ExpectedVersion>(), Err(StoreError::UnknownExpectedVersion(s)) if s == "latest")
    );
    assert_eq!(
        serde_json::from_value::<ExpectedVersion>(json!(3)).unwrap(),
        ExpectedVersion::Exact(3)
    );
    assert!(serde_json::from_value::<ExpectedVersion>(json!(-1)).is_err());
    assert!(serde_json::from_value::<ExpectedVersion>(json!({"v": 1})).is_err());

    assert_eq!(store.read_all(1, 10).unwrap().len(), 1);
    append(&store, "keep", ExpectedVersion::Exact(1), vec![received(2)]).unwrap();
}

#[test]
fn opening_a_directory_that_is_not_ours_locked_or_corrupt_is_a_clear_error() {
    let foreign = tempfile::tempdir().unwrap();
    std::fs::write(foreign.path().join("notes.txt"), "someone else's").unwrap();
    let err = Store::open(foreign.path(), StoreConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::ForeignDirectory { .. }), "{err}");

    let newer = tempfile::tempdir().unwrap();
    std::fs::write(
        newer.path().join(event_store::MARKER_FILE),
        "fulfil-event-store/99\n",
    )
    .unwrap();
    let err = Store::open(newer.path(), StoreConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedFormat { .. }), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let err = Store::open(dir.path(), StoreConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    drop(store);

    // Overwrite sled's files with garbage.
    let log = dir.path().join("log");
    for entry in std::fs::read_dir(&log).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::write(&path, b"\xff\xfe garbage that is not a sled file \x00\x01").unwrap();
        }
    }
    let err = Store::open(dir.path(), StoreConfig::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { .. } | StoreError::Storage(_)),
        "{err}"
    );
    assert!(!err.to_string().is_empty());
}

#[test]
fn old_events_are_read_through_the_upcaster_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut v1 = NewEvent::new("OrderPlaced", json!({ "qty": 2 }));
    v1.schema_version = 1;
    {
        let store = open(dir.path());
        append(
            &store,
            "order-1",
            ExpectedVersion::Any,
            vec![v1, received(1)],
        )
        .unwrap();
    }
    let upcasters = Upcasters::new()
        .register("OrderPlaced", 1, |mut p| {
            let qty = p["qty"].take();
            Ok(json!({ "lines": [{ "qty": qty }] }))
        })
        .register("OrderPlaced", 2, |mut p| {
            p["channel"] = json!("web");
            Ok(p)
        });
    let store = Store::open(
        dir.path(),
        StoreConfig {
            upcasters,
            ..StoreConfig::default()
        },
    )
    .unwrap();
    let events = store.read_stream(&stream("order-1"), 1).unwrap();
    assert_eq!(events[0].schema_version, 3);
    assert_eq!(
        events[0].payload,
        json!({ "lines": [{ "qty": 2 }], "channel": "web" })
    );
    assert_eq!(events[1].schema_version, 1, "other types pass unchanged");
    assert_eq!(store.read_all(1, 1).unwrap()[0].schema_version, 3);
    assert_eq!(store.outbox_pending(1).unwrap()[0].schema_version, 3);

    let failing = Upcasters::new().register("OrderPlaced", 1, |_| Err("no lines".into()));
    drop(store);
    let store = Store::open(
        dir.path(),
        StoreConfig {
            upcasters: failing,
            ..StoreConfig::default()
        },
    )
    .unwrap();
    assert!(matches!(
        store.read_all(1, 10),
        Err(StoreError::Upcast {
            schema_version: 1,
            ..
        })
    ));
}

fn sum(total: u64, e: &event_store::RecordedEvent) -> Result<u64, serde_json::Error> {
    Ok(total + serde_json::from_value::<u64>(e.payload["qty"].clone())?)
}

#[test]
fn snapshots_are_a_cache_that_falls_back_to_replay_on_mismatch_or_bad_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let s = stream("sku-Z@WH1");
    append(
        &store,
        s.as_str(),
        ExpectedVersion::Any,
        vec![received(1), received(2), received(3)],
    )
    .unwrap();

    let full = store.load_state(&s, "v1", sum).unwrap();
    assert_eq!(
        (full.state, full.version, full.from_snapshot),
        (6, 3, false)
    );

    // A snapshot deliberately "wrong" (100) shows whether it was used.
    store.save_snapshot(&s, 3, "v1", &100u64).unwrap();
    append(&store, s.as_str(), ExpectedVersion::Any, vec![received(4)]).unwrap();
    let cached = store.load_state(&s, "v1", sum).unwrap();
    assert_eq!(
        (cached.state, cached.version, cached.from_snapshot),
        (104, 4, true)
    );

    let other_schema = store.load_state(&s, "v2", sum).unwrap();
    assert_eq!(
        (other_schema.state, other_schema.from_snapshot),
        (10, false)
    );

    store.save_snapshot(&s, 3, "v1", &"not a number").unwrap();
    let undecodable = store.load_state(&s, "v1", sum).unwrap();
    assert_eq!((undecodable.state, undecodable.from_snapshot), (10, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_catches_up_then_follows_the_live_tail() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..3 {
        store
            .append(AppendRequest::new(
                stream("s"),
                ExpectedVersion::Any,
                vec![received(i)],
            ))
            .await
            .unwrap();
    }
    let mut sub = store.subscribe(2);
    assert_eq!(sub.next().await.unwrap().position, 2);
    assert_eq!(sub.next().await.unwrap().position, 3);

    let follower = tokio::spawn(async move {
        let mut seen = Vec::new();
        while seen.len() < 20 {
            seen.push(sub.next().await.unwrap().position);
        }
        seen
    });
    for i in 0..20 {
        store
            .append(AppendRequest::new(
                stream("t"),
                ExpectedVersion::Any,
                vec![received(i)],
            ))
            .await
            .unwrap();
    }
    assert_eq!(follower.await.unwrap(), (4..24).collect::<Vec<_>>());
}

/// One change: `key` set to `value`.
fn set(key: &str, value: &[u8]) -> event_store::Changes {
    [(key.as_bytes().to_vec(), Some(value.to_vec()))].into()
}

#[test]
fn a_checkpointed_tree_applies_each_position_once_with_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let model = store.checkpointed("on-hand").unwrap();
        assert_eq!(model.checkpoint().unwrap(), None);
        assert!(model
            .apply_changes(1, &[], &set("sku-A", &5u64.to_be_bytes()))
            .unwrap());
        assert!(!model
            .apply_changes(1, &[], &set("sku-A", &999u64.to_be_bytes()))
            .unwrap());
        assert!(model
            .apply_changes(2, &[], &set("sku-B", &7u64.to_be_bytes()))
            .unwrap());
    }
    let store = open(dir.path());
    let model = store.checkpointed("on-hand").unwrap();
    assert_eq!(model.checkpoint().unwrap(), Some(2));
    assert_eq!(
        model.get(b"sku-A").unwrap().unwrap(),
        5u64.to_be_bytes().to_vec()
    );
    model.clear().unwrap();
    assert_eq!(model.checkpoint().unwrap(), None);
    assert!(model.is_empty());
    // A tree dropped with its checkpoint is gone from the store's keys.
    assert!(store.checkpointed_keys().contains(&"on-hand".to_owned()));
    store.drop_checkpointed("on-hand").unwrap();
    assert!(!store.checkpointed_keys().contains(&"on-hand".to_owned()));
}

#[test]
fn a_store_keeps_its_identity_and_notes_across_opens() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let id = {
        let store = open(a.path());
        store.set_meta("role", "replica").unwrap();
        store.id().unwrap()
    };
    let store = open(a.path());
    assert_eq!(store.id().unwrap(), id);
    assert_eq!(store.meta("role").unwrap().as_deref(), Some("replica"));
    assert_eq!(store.meta("other").unwrap(), None);
    assert_ne!(open(b.path()).id().unwrap(), id);
}

#[test]
fn marks_move_with_the_checkpoint_and_go_with_their_tree() {
    let dir = tempfile::tempdir().unwrap();
    let marks = |m: &event_store::Checkpointed| m.marks().unwrap();
    let none = event_store::Changes::new();
    {
        let store = open(dir.path());
        let model = store.checkpointed("atp").unwrap();
        let other = store.checkpointed("atp#x").unwrap();
        let at = |p: u64| {
            vec![
                ("events.order/0".to_owned(), p),
                ("events.order/1".to_owned(), 7),
            ]
        };
        assert!(model.apply_changes(3, &at(10), &none).unwrap());
        // A position already applied moves neither the checkpoint nor the marks.
        assert!(!model.apply_changes(2, &at(99), &none).unwrap());
        assert!(model.apply_changes(4, &at(11), &none).unwrap());
        assert_eq!(marks(&other), vec![]);
        // Another tree's marks and removal leave these alone.
        other.apply_changes(1, &at(1), &none).unwrap();
        store.drop_checkpointed("atp#x").unwrap();
    }
    let store = open(dir.path());
    let model = store.checkpointed("atp").unwrap();
    assert_eq!(model.checkpoint().unwrap(), Some(4));
    assert_eq!(
        marks(&model),
        vec![
            ("events.order/0".to_owned(), 11),
            ("events.order/1".to_owned(), 7)
        ]
    );
    model.clear().unwrap();
    assert_eq!(marks(&model), vec![]);
}

#[test]
fn idempotency_by_command_body_survives_a_redecided_retry() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let body = json!({ "type": "ReserveStock", "qty": 2 });
    assert_eq!(store.command_outcome("cmd-r", &body).unwrap(), None);
    let first = store
        .append_blocking(
            AppendRequest::new(
                stream("sku-R@WH1"),
                ExpectedVersion::NoStream,
                vec![received(2)],
            )
            .command_id("cmd-r")
            .command_body(body.clone()),
        )
        .unwrap();
    append(&store, "sku-R@WH1", ExpectedVersion::Any, vec![received(9)]).unwrap();
    // The retry is decided against newer state: another expected version, same command.
    let retry = store
        .append_blocking(
            AppendRequest::new(
                stream("sku-R@WH1"),
                ExpectedVersion::Exact(2),
                vec![received(2)],
            )
            .command_id("cmd-r")
            .command_body(body.clone()),
        )
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.first_position, first.first_position);
    let known = store.command_outcome("cmd-r", &body).unwrap().unwrap();
    assert_eq!(
        (known.first_position, known.duplicate),
        (first.first_position, true)
    );
    let other = json!({ "type": "ReserveStock", "qty": 3 });
    assert!(matches!(
        store.command_outcome("cmd-r", &other),
        Err(StoreError::IdempotencyConflict { .. })
    ));
    assert_eq!(store.head_position(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_group_commits_never_spill_into_sled_blob_files() {
    // A sled node above 128 KiB is written as a separate file with its own
    // fsync; segments are sized so that a leaf of them never is.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let tasks: Vec<_> = (0..128)
        .map(|a| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..40 {
                    let event = NewEvent::new(
                        "StockReserved",
                        json!({ "order_id": format!("ORD-{a}-{n}"), "note": "x".repeat(300) }),
                    );
                    store
                        .append(
                            AppendRequest::new(
                                stream(&format!("s-{a}")),
                                ExpectedVersion::Any,
                                vec![event],
                            )
                            .command_id(format!("{a}-{n}")),
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    drop(store);
    let blobs =
        std::fs::read_dir(dir.path().join("log/blobs")).map_or(0, std::iter::Iterator::count);
    assert_eq!(blobs, 0);
    let store = open(dir.path());
    assert_eq!(store.read_all(1, usize::MAX).unwrap().len(), 128 * 40);
    assert_eq!(store.read_stream(&stream("s-7"), 1).unwrap().len(), 40);
}

#[test]
fn the_index_spills_sorted_runs_merges_them_and_reads_stay_exact() {
    let dir = tempfile::tempdir().unwrap();
    let streams: u64 = 40;
    let appends = 12;
    let mut outcomes = Vec::new();
    {
        let store = open(dir.path());
        for n in 0..appends {
            for s in 0..streams {
                let events = (0..=((s + n) % 3)).map(|_| received(s)).collect();
                let request =
                    AppendRequest::new(stream(&format!("item-{s}")), ExpectedVersion::Any, events)
                        .command_id(format!("cmd-{s}-{n}"));
                outcomes.push((s, n, store.append_blocking(request).unwrap()));
            }
        }
        // 480 appends spilled every 3: a binary counter of runs, not 160 of them.
        let runs = store.index_runs();
        assert!((1..=8).contains(&runs), "{runs} runs");
    }
    for reopened in [false, true] {
        let store = open(dir.path());
        for s in 0..streams {
            let id = stream(&format!("item-{s}"));
            let events = store.read_stream(&id, 1).unwrap();
            let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
            assert_eq!(versions, (1..=versions.len() as u64).collect::<Vec<_>>());
            assert_eq!(store.stream_version(&id).unwrap(), versions.len() as u64);
            let mid = versions.len() as u64 / 2;
            assert_eq!(
                store.read_stream(&id, mid).unwrap()[0].version,
                mid,
                "reopened {reopened}"
            );
        }
        for (s, n, outcome) in &outcomes {
            let again = AppendRequest::new(
                stream(&format!("item-{s}")),
                ExpectedVersion::Any,
                (0..=((s + n) % 3)).map(|_| received(*s)).collect(),
            )
            .command_id(format!("cmd-{s}-{n}"));
            let replay = store.append_blocking(again).unwrap();
            assert!(replay.duplicate);
            assert_eq!(replay.first_position, outcome.first_position);
        }
        assert_eq!(store.stream_version(&stream("item-unknown")).unwrap(), 0);
    }
}
