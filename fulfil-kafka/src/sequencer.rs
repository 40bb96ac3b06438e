//! Puts events read from many partitions back into log order.
//!
//! Every event carries its log position, and positions are gapless, so a
//! reader of all the event topics knows which position comes next and can
//! hold the ones that arrive early. Folding in log order gives the same
//! read model as folding the log itself, even for models that read across
//! streams (the stock model prices a shipment at the receipts before it).
//! A repeated event (the relay published it again after a crash) has a
//! position already handed out, so it is dropped: that is the
//! deduplication by (stream, version), since one writer gives each
//! (stream, version) exactly one position.

use std::collections::{BTreeMap, BTreeSet};

use event_store::RecordedEvent;

/// A topic partition, as `topic/partition` in marks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partition {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
}

impl Partition {
    /// Partition `partition` of `topic`.
    pub fn new(topic: &str, partition: i32) -> Self {
        Self {
            topic: topic.to_owned(),
            partition,
        }
    }

    /// The name a mark is kept under.
    pub fn mark(&self) -> String {
        format!("{}/{}", self.topic, self.partition)
    }

    /// The partition a mark names.
    pub fn from_mark(mark: &str) -> Option<Self> {
        let (topic, partition) = mark.rsplit_once('/')?;
        Some(Self::new(topic, partition.parse().ok()?))
    }
}

/// What became of an offered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Waiting for its turn (or ready to be taken).
    Held,
    /// Its position was handed out already, or is held already.
    Duplicate,
}

#[derive(Debug, Default)]
struct Progress {
    /// One past the last offset read.
    read_to: i64,
    /// Offsets of events held, not yet handed out.
    held: BTreeSet<i64>,
}

/// What the reader should do to keep the hold bounded.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pacing {
    /// Partitions to stop reading.
    pub pause: Vec<Partition>,
    /// Partitions to read again.
    pub resume: Vec<Partition>,
}

/// Early events, held until the positions before them arrive.
#[derive(Debug)]
pub struct Sequencer {
    next: u64,
    held: BTreeMap<u64, (RecordedEvent, Partition, i64)>,
    partitions: BTreeMap<Partition, Progress>,
    highest: u64,
    duplicates: u64,
}

impl Sequencer {
    /// A sequencer that hands out positions after `done`.
    pub fn new(done: u64) -> Self {
        Self {
            next: done + 1,
            held: BTreeMap::new(),
            partitions: BTreeMap::new(),
            highest: done,
            duplicates: 0,
        }
    }

    /// Takes an event read at `offset` of `from`.
    pub fn offer(&mut self, from: &Partition, offset: i64, event: RecordedEvent) -> Offer {
        let position = event.position;
        let repeat = position < self.next || self.held.contains_key(&position);
        let progress = self.read(from, offset);
        if repeat {
            self.duplicates += 1;
            return Offer::Duplicate;
        }
        progress.held.insert(offset);
        self.highest = self.highest.max(position);
        self.held.insert(position, (event, from.clone(), offset));
        Offer::Held
    }

    /// Notes a message at `offset` of `from` that carries no event (it is
    /// passed over, so reading may resume after it).
    pub fn pass(&mut self, from: &Partition, offset: i64) {
        self.read(from, offset);
    }

    fn read(&mut self, from: &Partition, offset: i64) -> &mut Progress {
        let progress = self.partitions.entry(from.clone()).or_default();
        progress.read_to = progress.read_to.max(offset + 1);
        progress
    }

    /// Up to `max` events in log order from the next position on: the run
    /// with no gap in it.
    pub fn take(&mut self, max: usize) -> Vec<RecordedEvent> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some((event, from, offset)) = self.held.remove(&self.next) else {
                break;
            };
            if let Some(p) = self.partitions.get_mut(&from) {
                p.held.remove(&offset);
            }
            self.next += 1;
            out.push(event);
        }
        out
    }

    /// Where to resume reading each partition so that nothing not yet handed
    /// out is skipped: its first held offset, or one past the last read.
    pub fn resume_at(&self) -> Vec<(Partition, i64)> {
        self.partitions
            .iter()
            .map(|(p, progress)| {
                let at = progress.held.first().copied().unwrap_or(progress.read_to);
                (p.clone(), at)
            })
            .collect()
    }

    /// The position handed out next.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Events held.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The highest position seen.
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Events dropped as repeats.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Which partitions to pause and which to resume, given those paused
    /// now, to keep the hold near `bound`.
    ///
    /// - Over the bound, every partition holding an early event is paused:
    ///   it is ahead, and reading it further only grows the hold.
    /// - A paused partition is resumed as soon as it holds nothing, over the
    ///   bound or not. This is what keeps the reader live: each partition
    ///   is in log order, so the one carrying the next position has handed
    ///   out everything it delivered and holds nothing. Resuming only once
    ///   the hold fell under the bound deadlocks as soon as the next
    ///   position lies on a partition paused while it was ahead: the hold
    ///   cannot fall until that partition is read.
    pub fn pace(&self, bound: usize, paused: &BTreeSet<Partition>) -> Pacing {
        let holding = |p: &Partition| self.partitions.get(p).is_some_and(|q| !q.held.is_empty());
        let resume = paused.iter().filter(|p| !holding(p)).cloned().collect();
        let pause = if self.held.len() > bound {
            self.partitions
                .keys()
                .filter(|p| holding(p) && !paused.contains(*p))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        Pacing { pause, resume }
    }

    /// One past the last offset read from `p`, if any was.
    pub fn read_to(&self, p: &Partition) -> Option<i64> {
        self.partitions.get(p).map(|progress| progress.read_to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event_store::StreamId;
    use proptest::prelude::*;

    fn event(position: u64) -> RecordedEvent {
        RecordedEvent {
            event_id: uuid::Uuid::now_v7(),
            stream: StreamId::new(format!("order-SO-{}", position % 5)).unwrap(),
            version: position,
            position,
            event_type: "OrderPlaced".into(),
            schema_version: 1,
            recorded_at: chrono::DateTime::UNIX_EPOCH,
            at: chrono::DateTime::UNIX_EPOCH,
            correlation_id: None,
            causation_id: None,
            metadata: serde_json::Map::default(),
            payload: serde_json::Value::Null,
        }
    }

    /// Positions 1..=n spread over `partitions` by a key, each partition's
    /// events in position order, some published twice (as after a relay
    /// crash, later on the same partition).
    fn partitioned(n: u64, partitions: i32, repeats: &[u64]) -> Vec<Vec<u64>> {
        let mut out = vec![Vec::new(); partitions as usize];
        for p in 1..=n {
            out[(p * 7 % partitions as u64) as usize].push(p);
        }
        for r in repeats.iter().filter(|r| **r >= 1 && **r <= n) {
            out[(r * 7 % partitions as u64) as usize].push(*r);
        }
        out
    }

    proptest! {
        /// However the partitions interleave, and wherever the reader stops
        /// and resumes from its marks, every position comes out once, in order.
        #[test]
        fn any_interleaving_comes_out_in_log_order_once(
            n in 1u64..200,
            partitions in 1i32..6,
            repeats in proptest::collection::vec(1u64..200, 0..20),
            picks in proptest::collection::vec(0usize..6, 0..600),
            stop_at in 0usize..400,
        ) {
            let logs = partitioned(n, partitions, &repeats);
            let names: Vec<Partition> = (0..partitions).map(|p| Partition::new("events.order", p)).collect();
            let mut cursor = vec![0usize; logs.len()];
            let mut seq = Sequencer::new(0);
            let mut out: Vec<u64> = Vec::new();
            let mut picks = picks.into_iter().cycle();
            let mut steps = 0;
            loop {
                let open: Vec<usize> = (0..logs.len()).filter(|i| cursor[*i] < logs[*i].len()).collect();
                if open.is_empty() {
                    break;
                }
                let i = open[picks.next().unwrap_or(0) % open.len()];
                let offset = cursor[i] as i64;
                seq.offer(&names[i], offset, event(logs[i][cursor[i]]));
                cursor[i] += 1;
                out.extend(seq.take(usize::MAX).iter().map(|e| e.position));
                steps += 1;
                if steps == stop_at {
                    // Restart from what a fold would have recorded.
                    for (p, at) in seq.resume_at() {
                        cursor[p.partition as usize] = at as usize;
                    }
                    seq = Sequencer::new(out.last().copied().unwrap_or(0));
                }
            }
            prop_assert_eq!(out, (1..=n).collect::<Vec<_>>());
            prop_assert_eq!(seq.held(), 0);
        }
    }

    proptest! {
        /// Reading only partitions that are not paused, and pacing after
        /// every message, the reader never stalls with a position left to
        /// read, and never holds more than the bound and one message
        /// read on each partition that was not holding anything.
        #[test]
        fn pacing_bounds_the_hold_and_never_stalls(
            n in 1u64..300,
            partitions in 1i32..7,
            repeats in proptest::collection::vec(1u64..300, 0..10),
            picks in proptest::collection::vec(0usize..7, 1..400),
            bound in 0usize..8,
        ) {
            let logs = partitioned(n, partitions, &repeats);
            let names: Vec<Partition> = (0..partitions).map(|p| Partition::new("events.order", p)).collect();
            let mut cursor = vec![0usize; logs.len()];
            let mut seq = Sequencer::new(0);
            let mut paused = BTreeSet::new();
            let mut out = Vec::new();
            let mut picks = picks.into_iter().cycle();
            let mut most = 0;
            loop {
                let readable: Vec<usize> = (0..logs.len())
                    .filter(|i| cursor[*i] < logs[*i].len() && !paused.contains(&names[*i]))
                    .collect();
                if readable.is_empty() {
                    break;
                }
                let i = readable[picks.next().unwrap_or(0) % readable.len()];
                seq.offer(&names[i], cursor[i] as i64, event(logs[i][cursor[i]]));
                cursor[i] += 1;
                most = most.max(seq.held());
                out.extend(seq.take(usize::MAX).iter().map(|e| e.position));
                let pacing = seq.pace(bound, &paused);
                for p in pacing.resume {
                    paused.remove(&p);
                }
                paused.extend(pacing.pause);
            }
            prop_assert_eq!(out, (1..=n).collect::<Vec<_>>(), "stalled with {:?} paused", paused);
            prop_assert!(most <= bound + partitions as usize, "held {} over the bound {}", most, bound);
        }
    }

    #[test]
    fn a_partition_paused_while_ahead_is_resumed_once_it_holds_nothing() {
        let (a, b) = (Partition::new("t", 0), Partition::new("t", 1));
        let mut seq = Sequencer::new(0);
        seq.offer(&a, 0, event(2));
        seq.offer(&a, 1, event(3));
        let pacing = seq.pace(1, &BTreeSet::new());
        assert_eq!(
            pacing,
            Pacing {
                pause: vec![a.clone()],
                resume: vec![]
            }
        );
        let paused = BTreeSet::from([a.clone()]);
        // Position 1 arrives on b; a's events go out, and a (which carries
        // position 4 next) is read again although b is now ahead.
        seq.offer(&b, 0, event(1));
        seq.offer(&b, 1, event(5));
        seq.offer(&b, 2, event(6));
        assert_eq!(seq.take(10).len(), 3);
        let pacing = seq.pace(1, &paused);
        assert_eq!(
            pacing,
            Pacing {
                pause: vec![b.clone()],
                resume: vec![a]
            }
        );
    }

    #[test]
    fn an_early_event_waits_and_holds_back_its_partition_mark() {
        let (a, b) = (Partition::new("t", 0), Partition::new("t", 1));
        let mut seq = Sequencer::new(0);
        assert_eq!(seq.offer(&a, 0, event(2)), Offer::Held);
        assert_eq!(seq.take(10), vec![]);
        assert_eq!(seq.resume_at(), vec![(a.clone(), 0)]);
        seq.pass(&b, 0);
        assert_eq!(seq.offer(&b, 1, event(1)), Offer::Held);
        let out: Vec<u64> = seq.take(10).iter().map(|e| e.position).collect();
        assert_eq!(out, vec![1, 2]);
        assert_eq!(seq.resume_at(), vec![(a.clone(), 1), (b.clone(), 2)]);
        assert_eq!(seq.offer(&a, 1, event(2)), Offer::Duplicate);
        assert_eq!((seq.duplicates(), seq.highest(), seq.next()), (1, 2, 3));
        assert_eq!(Partition::from_mark(&a.mark()), Some(a));
    }
}
