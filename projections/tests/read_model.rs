//! A read model's copies: a rebuilt copy swaps in for every clone at once,
//! scratch copies never touch the live one, and what an interrupted
//! rebuild left is gone at the next open.

use event_store::{Changes, Store, StoreConfig};
use projections::projection::ReadModel;

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, StoreConfig::default()).unwrap()
}

/// One change: `key` set to `value`.
fn set(key: &str, value: &str) -> Changes {
    [(key.as_bytes().to_vec(), Some(value.as_bytes().to_vec()))].into()
}

fn value(model: &ReadModel, key: &str) -> Option<Vec<u8>> {
    model.live().get(key.as_bytes()).unwrap()
}

#[test]
fn a_rebuilt_copy_swaps_in_for_every_clone_and_scratch_copies_never_touch_the_live_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let live = ReadModel::open(&store, "on-hand").unwrap();
    let clone = live.clone();
    assert!(live.apply_changes(1, &[], &set("old", "1")).unwrap());
    let rebuilt = live.scratch().unwrap();
    assert!(rebuilt.live().is_empty());
    assert_eq!(rebuilt.checkpoint().unwrap(), None);
    assert!(rebuilt.apply_changes(2, &[], &set("new", "2")).unwrap());
    // Until the swap, queries see the old copy.
    assert!(value(&clone, "new").is_none());
    live.swap_in(rebuilt).unwrap();
    assert_eq!(clone.checkpoint().unwrap(), Some(2));
    assert!(value(&clone, "old").is_none());
    // Two scratch copies are distinct, and discarding them leaves the live copy whole.
    let (a, b) = (live.scratch().unwrap(), live.scratch().unwrap());
    a.apply_changes(1, &[], &set("a", "1")).unwrap();
    assert!(value(&b, "a").is_none());
    a.discard().unwrap();
    b.discard().unwrap();
    assert_eq!(value(&clone, "new").unwrap(), b"2".to_vec());
    // The swap is durable, and a copy left by an interrupted rebuild is removed at open.
    let orphan = live.scratch().unwrap();
    orphan.apply_changes(1, &[], &set("x", "1")).unwrap();
    drop((live, clone, orphan));
    drop(store);
    let store = open(dir.path());
    let model = ReadModel::open(&store, "on-hand").unwrap();
    assert_eq!(model.checkpoint().unwrap(), Some(2));
    // One copy of the model is left in the store.
    let copies: Vec<String> = store
        .checkpointed_keys()
        .into_iter()
        .filter(|k| k.starts_with("on-hand"))
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
}

#[test]
fn a_scratch_copy_starts_without_marks_and_leaves_the_live_ones_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let model = ReadModel::open(&store, "atp").unwrap();
    let at = |p: u64| vec![("events.order/0".to_owned(), p)];
    assert!(model.apply_changes(3, &at(10), &Changes::new()).unwrap());
    let scratch = model.scratch().unwrap();
    assert_eq!(scratch.marks().unwrap(), vec![]);
    scratch.apply_changes(1, &at(1), &Changes::new()).unwrap();
    scratch.discard().unwrap();
    assert_eq!(model.marks().unwrap(), at(10));
}
