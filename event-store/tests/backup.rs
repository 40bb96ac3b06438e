//! A backup taken while appends go on is a store of its own: the same log
//! up to the head when it began (positions, ids, times, payloads), the
//! same idempotency (a retried command id is a duplicate there too), and
//! the same outbox mark.

use event_store::{AppendRequest, ExpectedVersion, NewEvent, Store, StoreConfig, StreamId};
use serde_json::json;

fn append(store: &Store, n: u64) -> event_store::AppendOutcome {
    let request = AppendRequest::new(
        StreamId::new(format!("inventory-MUG@WH{}", n % 3)).unwrap(),
        ExpectedVersion::Any,
        vec![NewEvent::new(
            "StockReceived",
            json!({ "type": "StockReceived", "qty": n }),
        )],
    )
    .command_id(format!("c-{n}"))
    .command_body(json!({ "command_id": format!("c-{n}"), "qty": n }));
    store.append_blocking(request).unwrap()
}

#[test]
fn a_backup_under_load_is_the_log_up_to_its_start_and_keeps_idempotency() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("live"), StoreConfig::default()).unwrap();
    for n in 0..500 {
        append(&store, n);
    }
    store.mark_published(120).unwrap();
    // Appends go on while the copy is taken.
    let copy_dir = dir.path().join("copy");
    let (backup, appended) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for n in 500..3000 {
                append(&store, n);
            }
        });
        let backup = store.backup(&copy_dir).unwrap();
        writer.join().unwrap();
        (backup, store.head_position())
    });
    assert!(
        backup.through >= 500 && backup.through <= appended,
        "{backup:?}"
    );
    assert!(backup.segments > 0 && backup.bytes > 0);

    let copy = Store::open(&copy_dir, StoreConfig::default()).unwrap();
    assert_eq!(copy.head_position(), backup.through);
    let through = usize::try_from(backup.through).unwrap();
    assert_eq!(
        copy.read_all(1, through).unwrap(),
        store.read_all(1, through).unwrap()
    );
    assert_eq!(copy.published().unwrap(), 120);
    assert_eq!(copy.id().unwrap(), store.id().unwrap());
    // A retry of a command the copy holds is a duplicate there, answered
    // with the original positions.
    let first = copy
        .recorded_command("c-7")
        .unwrap()
        .expect("the copy knows c-7");
    let again = append(&copy, 7);
    assert!(again.duplicate);
    assert_eq!(again.first_position, first.first_position);
    // The copy takes new appends after its own head.
    assert_eq!(append(&copy, 100_000).first_position, backup.through + 1);

    // Only into a new or empty directory.
    let err = store.backup(&copy_dir).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}
