//! Hostile input through the command decoder and the handler: arbitrary
//! bytes, and the documented commands with any field replaced by any JSON
//! value, renamed, dropped or buried in nesting. Every input ends in a
//! result (accepted, rejected with a reason, or invalid naming what is
//! wrong), never a panic, and trying one writes nothing. The test command
//! runs a fixed number of cases: 2,000 byte strings and 1,500 hostile
//! commands.

use command_handler::{CommandHandler, Trial};
use event_store::{Store, StoreConfig};
use proptest::prelude::*;
use schemas::CommandResult;
use serde_json::Value;

const EXAMPLES: &str = include_str!("../../docs/commands.jsonl");

fn examples() -> Vec<Value> {
    EXAMPLES
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Any JSON value, nested a few levels, with hostile leaves: huge and
/// negative numbers, floats, long and odd strings.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        Just(Value::String("x".repeat(100_000))),
        Just(Value::String("2026-02-30".into())),
        Just(Value::String("MUG@WH1#1".into())),
        Just(Value::from(u64::MAX)),
        Just(Value::from(-1)),
        Just(Value::from(0)),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A documented command, made hostile one way.
#[derive(Debug, Clone)]
enum Harm {
    Replace(usize, Value),
    Rename(usize, String),
    Drop(usize),
    Add(String, Value),
    Bury(usize, usize),
}

fn harm() -> impl Strategy<Value = Harm> {
    prop_oneof![
        (any::<usize>(), any_json()).prop_map(|(i, v)| Harm::Replace(i, v)),
        (any::<usize>(), ".{0,12}").prop_map(|(i, n)| Harm::Rename(i, n)),
        any::<usize>().prop_map(Harm::Drop),
        (".{0,12}", any_json()).prop_map(|(n, v)| Harm::Add(n, v)),
        (any::<usize>(), 1..200usize).prop_map(|(i, depth)| Harm::Bury(i, depth)),
    ]
}

fn harmed(mut command: Value, harm: &Harm) -> Value {
    let Some(object) = command.as_object_mut() else {
        return command;
    };
    let keys: Vec<String> = object.keys().cloned().collect();
    let key = |i: &usize| keys[i % keys.len()].clone();
    match harm {
        Harm::Replace(i, v) => {
            object.insert(key(i), v.clone());
        }
        Harm::Rename(i, name) => {
            if let Some(v) = object.remove(&key(i)) {
                object.insert(name.clone(), v);
            }
        }
        Harm::Drop(i) => {
            object.remove(&key(i));
        }
        Harm::Add(name, v) => {
            object.insert(name.clone(), v.clone());
        }
        Harm::Bury(i, depth) => {
            let k = key(i);
            let mut v = object.remove(&k).unwrap_or(Value::Null);
            for _ in 0..*depth {
                v = Value::Array(vec![v]);
            }
            object.insert(k, v);
        }
    }
    command
}

/// A store with the documented item master, and a handler to try commands on.
fn handler() -> (tempfile::TempDir, CommandHandler) {
    let dir = tempfile::tempdir().unwrap();
    let handler = CommandHandler::new(Store::open(dir.path(), StoreConfig::default()).unwrap());
    for command in examples().iter().take(2) {
        let envelope = schemas::parse_command(&command.to_string()).unwrap();
        assert!(matches!(
            handler.handle(&envelope).unwrap(),
            CommandResult::Accepted { .. }
        ));
    }
    (dir, handler)
}

/// A result says what happened, and a refusal says why.
fn explained(result: &CommandResult) -> bool {
    match result {
        CommandResult::Accepted { .. } | CommandResult::WouldAccept { .. } => true,
        CommandResult::Rejected {
            reason, message, ..
        }
        | CommandResult::Invalid {
            reason, message, ..
        } => !reason.is_empty() && !message.is_empty(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_refused_with_a_reason_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = schemas::parse_command(&text) {
            prop_assert!(!e.to_string().is_empty());
            prop_assert!(!e.code().is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn a_documented_command_made_hostile_is_decided_or_refused_never_a_panic(
        which in any::<usize>(),
        harms in prop::collection::vec(harm(), 1..4),
    ) {
        thread_local! {
            static HANDLER: (tempfile::TempDir, CommandHandler) = handler();
        }
        let examples = examples();
        let mut command = examples[which % examples.len()].clone();
        for h in &harms {
            command = harmed(command, h);
        }
        let text = command.to_string();
        let result = match schemas::parse_command(&text) {
            Ok(envelope) => HANDLER.with(|(_, handler)| {
                let before = handler.store().head_position();
                let result = handler.try_command(&envelope, &mut Trial::default()).unwrap();
                // A try never writes, whatever it decides.
                assert_eq!(handler.store().head_position(), before);
                result
            }),
            Err(e) => CommandResult::invalid(None, &e),
        };
        prop_assert!(explained(&result), "{text}: {result:?}");
    }
}
