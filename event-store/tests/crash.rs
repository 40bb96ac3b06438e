//! Crash test: a child process appends from several threads and prints each
//! acknowledged append; the parent SIGKILLs it at a random moment (after a
//! random number of acknowledgements), reopens the store and checks that
//! every acknowledged append is there, the global sequence and every stream
//! are gapless, retries are still idempotent, and the outbox matches the log.
//! It repeats on the same directory, so recovery is tested on recovered data.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use event_store::{AppendRequest, ExpectedVersion, NewEvent, Store, StoreConfig, StreamId};
use serde_json::json;

const CHILD_DIR: &str = "FULFIL_CRASH_CHILD_DIR";
const CHILD_ROUND: &str = "FULFIL_CRASH_CHILD_ROUND";
const ROUNDS: u64 = 40;
const THREADS: u64 = 6;
const STREAMS: u64 = 12;

/// splitmix64: a tiny deterministic generator, seeded per round.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The append a command id stands for; the same id always gives the same body.
fn request(round: u64, thread: u64, n: u64) -> AppendRequest {
    let mut rng = Rng(round * 1_000_003 + thread * 10_007 + n);
    let stream = StreamId::new(format!("sku-{}@WH1", rng.below(STREAMS))).unwrap();
    let events = (0..=rng.below(3))
        .map(|k| {
            NewEvent::new(
                "StockAdjusted",
                json!({ "round": round, "thread": thread, "n": n, "k": k }),
            )
        })
        .collect();
    AppendRequest::new(stream, ExpectedVersion::Any, events)
        .command_id(format!("c-{round}-{thread}-{n}"))
}

/// Small index runs, so kills also land in the middle of spills and merges.
fn config() -> StoreConfig {
    StoreConfig {
        index_spill_appends: 64,
        ..StoreConfig::default()
    }
}

fn child(dir: &str, round: u64) {
    let store = Store::open(dir, config()).expect("child opens the store");
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || {
                for n in 0.. {
                    let outcome = store
                        .append_blocking(request(round, thread, n))
                        .expect("append");
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "ACK {thread} {n} {} {}",
                        outcome.first_position, outcome.last_position
                    )
                    .expect("stdout");
                    out.flush().expect("stdout");
                    if n % 7 == 0 {
                        // Mark some of the log published, as a relay would.
                        store
                            .mark_published(outcome.first_position / 2)
                            .expect("mark published");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

fn main() {
    if let (Ok(dir), Ok(round)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_ROUND)) {
        child(&dir, round.parse().expect("round"));
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("own path");
    let mut rng = Rng(42);
    let mut acked: Vec<(u64, u64, u64, u64, u64)> = Vec::new();

    for round in 0..ROUNDS {
        let kill_after = 1 + rng.below(300);
        let mut child = Command::new(&exe)
            .env(CHILD_DIR, dir.path())
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = 0;
        let mut killed = false;
        while let Some(Ok(line)) = lines.next() {
            let f: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .map(|x| x.parse().expect("number"))
                .collect();
            acked.push((round, f[0], f[1], f[2], f[3]));
            seen += 1;
            if seen == kill_after && !killed {
                child.kill().expect("SIGKILL the child");
                killed = true;
            }
        }
        child.wait().expect("reap child");
        assert!(killed, "round {round}: child exited before being killed");
        verify(dir.path(), &acked, round);
    }
    println!(
        "crash test: {ROUNDS} SIGKILLs, {} acknowledged appends all present after recovery",
        acked.len()
    );
    println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}

fn verify(dir: &std::path::Path, acked: &[(u64, u64, u64, u64, u64)], round: u64) {
    let store = Store::open(dir, config()).expect("reopen after kill");
    let head = store.head_position();
    let log = store.read_all(1, usize::MAX).expect("read log");
    assert_eq!(
        log.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=head).collect::<Vec<_>>(),
        "global sequence has a gap"
    );

    for &(r, thread, n, first, last) in acked {
        let want = request(r, thread, n);
        let got = &log[(first - 1) as usize..last as usize];
        assert_eq!(
            got.len(),
            want.events.len(),
            "round {round}: ack {r}/{thread}/{n} lost"
        );
        for (e, w) in got.iter().zip(&want.events) {
            assert_eq!(
                (&e.stream, &e.payload),
                (&want.stream, &w.payload),
                "acknowledged event changed"
            );
            assert_eq!(e.causation_id, want.command_id);
        }
    }

    let mut versions: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &log {
        let v = versions.entry(e.stream.as_str()).or_default();
        *v += 1;
        assert_eq!(e.version, *v, "stream {} has a version gap", e.stream);
    }
    for (s, v) in &versions {
        let stream = StreamId::new(*s).unwrap();
        assert_eq!(store.stream_version(&stream).unwrap(), *v);
        assert_eq!(store.read_stream(&stream, 1).unwrap().len() as u64, *v);
    }

    // The outbox is a gapless suffix of the log: marks only remove a prefix.
    let pending: Vec<u64> = store
        .outbox_pending(usize::MAX)
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    let from = head + 1 - pending.len() as u64;
    assert_eq!(
        pending,
        (from..=head).collect::<Vec<_>>(),
        "outbox does not match the log"
    );
    assert_eq!(store.outbox_len().unwrap(), pending.len() as u64);

    // A retry of an acknowledged command finds its original outcome.
    let mut by_cmd: HashMap<(u64, u64, u64), u64> = HashMap::new();
    for &(r, thread, n, first, _) in acked {
        by_cmd.insert((r, thread, n), first);
    }
    if let Some(&(r, thread, n, first, _)) = acked.last() {
        let again = store.append_blocking(request(r, thread, n)).expect("retry");
        assert!(again.duplicate && again.first_position == first);
        assert_eq!(store.head_position(), head);
    }
}
