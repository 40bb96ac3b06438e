//! Appenders racing on one stream: whatever the interleaving, each version is
//! won by exactly one append, the losers are told the current version, and
//! the stream holds exactly the winners' events in order.

use std::sync::{Arc, Barrier};

use event_store::{
    AppendRequest, ExpectedVersion, NewEvent, Store, StoreConfig, StoreError, StreamId,
};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Expect {
    /// Read the current version, spin a while, then append expecting it.
    ReadThenExact,
    Any,
    NoStream,
}

#[derive(Debug, Clone)]
struct Op {
    expect: Expect,
    events: usize,
    spin: u32,
}

fn op() -> impl Strategy<Value = Op> {
    (
        prop_oneof![4 => Just(Expect::ReadThenExact), 1 => Just(Expect::Any), 1 => Just(Expect::NoStream)],
        1usize..4,
        0u32..2000,
    )
        .prop_map(|(expect, events, spin)| Op { expect, events, spin })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn exactly_one_append_wins_each_version(plans in prop::collection::vec(prop::collection::vec(op(), 1..6), 2..7)) {
        let dir = tempfile::tempdir().unwrap();
        // Index runs every 2 appends: version checks read through spills and merges.
        let store = Store::open(dir.path(), StoreConfig { index_spill_appends: 2, ..StoreConfig::default() }).unwrap();
        let stream = StreamId::new("order-race").unwrap();
        let start = Arc::new(Barrier::new(plans.len()));

        let handles: Vec<_> = plans.iter().cloned().enumerate().map(|(appender, ops)| {
            let (store, stream, start) = (store.clone(), stream.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut results = Vec::new();
                for (n, op) in ops.into_iter().enumerate() {
                    let expected = match op.expect {
                        Expect::ReadThenExact => ExpectedVersion::Exact(store.stream_version(&stream).unwrap()),
                        Expect::Any => ExpectedVersion::Any,
                        Expect::NoStream => ExpectedVersion::NoStream,
                    };
                    for _ in 0..op.spin { std::hint::spin_loop(); }
                    let events = (0..op.events)
                        .map(|k| NewEvent::new("Tick", json!({ "appender": appender, "op": n, "k": k })))
                        .collect();
                    let result = store.append_blocking(AppendRequest::new(stream.clone(), expected, events));
                    results.push((appender, n, op.events, expected, result));
                }
                results
            })
        }).collect();
        let results: Vec<_> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();

        let log = store.read_stream(&stream, 1).unwrap();
        prop_assert_eq!(log.iter().map(|e| e.version).collect::<Vec<_>>(), (1..=log.len() as u64).collect::<Vec<_>>());
        let mut won = 0;
        for (appender, n, count, expected, result) in &results {
            match result {
                Ok(outcome) => {
                    won += count;
                    prop_assert_eq!(outcome.last_version - outcome.first_version + 1, *count as u64);
                    if let ExpectedVersion::Exact(v) = expected { prop_assert_eq!(outcome.first_version, v + 1); }
                    if *expected == ExpectedVersion::NoStream { prop_assert_eq!(outcome.first_version, 1); }
                    for (k, e) in log[(outcome.first_version - 1) as usize..outcome.last_version as usize].iter().enumerate() {
                        prop_assert_eq!(&e.payload, &json!({ "appender": appender, "op": n, "k": k }));
                    }
                }
                Err(StoreError::WrongExpectedVersion { actual, .. }) => {
                    match expected {
                        ExpectedVersion::Exact(v) => prop_assert_ne!(*actual, *v),
                        ExpectedVersion::NoStream => prop_assert!(*actual > 0),
                        ExpectedVersion::Any => prop_assert!(false, "Any cannot conflict"),
                    }
                }
                Err(other) => prop_assert!(false, "unexpected error {}", other),
            }
        }
        prop_assert_eq!(won, log.len());
        // Every version was won by one append: the winners' ranges tile 1..=len.
        let mut ranges: Vec<_> = results.iter().filter_map(|r| r.4.as_ref().ok()).map(|o| (o.first_version, o.last_version)).collect();
        ranges.sort_unstable();
        let mut next = 1;
        for (first, last) in ranges {
            prop_assert_eq!(first, next);
            next = last + 1;
        }
        let positions: Vec<_> = store.read_all(1, 10_000).unwrap().iter().map(|e| e.position).collect();
        prop_assert_eq!(positions, (1..=log.len() as u64).collect::<Vec<_>>());
    }
}

/// A reader following the log while appenders write new streams never
/// meets an event before the stream's version shows it: what the log hands
/// out, the index already knows (the fulfilment process relies on it).
#[test]
fn a_reader_never_meets_an_event_its_stream_does_not_show_yet() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let appenders = 4;
    let per_appender = 300;
    let total = (appenders * per_appender) as u64;
    std::thread::scope(|s| {
        for a in 0..appenders {
            let store = store.clone();
            s.spawn(move || {
                for n in 0..per_appender {
                    let stream = StreamId::new(format!("race-{a}-{n}")).unwrap();
                    store
                        .append_blocking(AppendRequest::new(
                            stream,
                            ExpectedVersion::NoStream,
                            vec![NewEvent::new("Made", json!({ "n": n }))],
                        ))
                        .unwrap();
                }
            });
        }
        let mut next = 1;
        while next <= total {
            for e in store.read_all(next, 64).unwrap() {
                assert!(
                    store.stream_version(&e.stream).unwrap() >= e.version,
                    "event {} of {} was readable before its stream showed it",
                    e.position,
                    e.stream.as_str()
                );
                next = e.position + 1;
            }
        }
    });
}
