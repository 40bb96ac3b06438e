//! Sorted runs: the durable part of the index.
//!
//! A run is an immutable, sorted copy of many appends' index records, written
//! as blocks of about 4 KiB (one sled value holds some 60 records) instead
//! of one sled key per append: the per-key copy-on-write was what made indexing cost more
//! than the log itself. Each run has two sections, stream entries keyed
//! `stream ++ 0x00 ++ first_version` and command records keyed by command
//! id, and a meta value: the first key of every block (its fences) and a
//! Bloom filter over stream ids and command ids, both held in memory.
//!
//! Keys in the `index` tree: `M` the manifest (live runs, the mark),
//! `r ++ run` a run's meta, `b ++ run ++ section ++ block` a block.

use std::collections::BTreeMap;

use super::bloom::{key_hash, Bloom};
use super::CommandRecord;
use crate::error::{Result, StoreError};
use crate::keys::{self, IndexEntry};
use crate::model::StreamId;

pub(crate) const STREAMS: u8 = b's';
pub(crate) const COMMANDS: u8 = b'c';
pub(crate) const FORGOTTEN: u8 = b'f';
/// As for log segments: larger values make sled write blob files, each with its own fsync.
const BLOCK_BYTES: usize = 4 * 1024;
const MANIFEST: &[u8] = b"M";

/// One record of a section: key and value bytes.
pub(crate) type Record = (Vec<u8>, Vec<u8>);

#[derive(Debug)]
pub(crate) struct Run {
    pub id: u64,
    /// Records in all sections; merges compare runs by it.
    pub records: u64,
    stream_fences: Vec<Vec<u8>>,
    command_fences: Vec<Vec<u8>>,
    forgotten_fences: Vec<Vec<u8>>,
    bloom: Bloom,
    /// What the command records span (unknown for runs written before
    /// the window existed, until they are merged).
    pub commands: Option<Span>,
    /// What the forgotten records span.
    pub forgotten: Span,
}

/// Where and when a command was recorded: its append's last position and
/// the time (unknown for appends written before times were indexed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub position: u64,
    pub recorded_ms: Option<i64>,
}

impl Stamp {
    /// A forgotten record's value.
    pub fn encode(self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(&self.position.to_be_bytes());
        v.extend_from_slice(&self.recorded_ms.unwrap_or(i64::MIN).to_be_bytes());
        v
    }

    pub fn decode(v: &[u8]) -> Option<Self> {
        let position = keys::read_u64(v.get(..8)?)?;
        let ms = i64::from_be_bytes(v.get(8..16)?.try_into().ok()?);
        Some(Self {
            position,
            recorded_ms: (ms != i64::MIN).then_some(ms),
        })
    }
}

/// A line before which records are past: at or below its position, or
/// recorded at or before its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Horizon {
    pub position: u64,
    pub recorded_ms: i64,
}

impl Horizon {
    pub fn passed(&self, stamp: Stamp) -> bool {
        stamp.position <= self.position || stamp.recorded_ms.is_some_and(|t| t <= self.recorded_ms)
    }
}

/// What a section's records span: how many, their positions and times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub count: u64,
    positions: (u64, u64),
    /// None when any record has no time.
    times: Option<(i64, i64)>,
}

impl Span {
    fn add(&mut self, s: Stamp) {
        if self.count == 0 {
            self.positions = (s.position, s.position);
            self.times = s.recorded_ms.map(|t| (t, t));
        } else {
            self.positions = (
                self.positions.0.min(s.position),
                self.positions.1.max(s.position),
            );
            self.times = self
                .times
                .zip(s.recorded_ms)
                .map(|((a, b), t)| (a.min(t), b.max(t)));
        }
        self.count += 1;
    }

    /// Whether about half its records or more are past `h`: then the run
    /// is worth rewriting without them (it is rewritten again only once
    /// more than half of what stays has passed, so each record is
    /// rewritten a bounded number of times).
    pub fn mostly_passed(&self, h: &Horizon) -> bool {
        let half = |(from, through): (u64, u64), line: u64| line >= from + (through - from) / 2;
        self.count > 0
            && (half(self.positions, h.position)
                || self
                    .times
                    .is_some_and(|(from, through)| h.recorded_ms >= from + (through - from) / 2))
    }

    fn encode(&self, v: &mut Vec<u8>) {
        v.extend_from_slice(&self.count.to_be_bytes());
        v.extend_from_slice(&self.positions.0.to_be_bytes());
        v.extend_from_slice(&self.positions.1.to_be_bytes());
        let (from, through) = self.times.unwrap_or((i64::MIN, i64::MIN));
        v.extend_from_slice(&from.to_be_bytes());
        v.extend_from_slice(&through.to_be_bytes());
    }

    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        let count = r.u64()?;
        let positions = (r.u64()?, r.u64()?);
        let times = (r.i64()?, r.i64()?);
        Some(Self {
            count,
            positions,
            times: (times.0 != i64::MIN).then_some(times),
        })
    }
}

/// The live runs, oldest first, and the last log segment they cover.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub runs: Vec<u64>,
    pub through_segment: Option<u64>,
}

impl Manifest {
    pub fn load(tree: &sled::Tree) -> Result<Self> {
        let Some(raw) = tree.get(MANIFEST)? else {
            return Ok(Self::default());
        };
        let mut r = Reader(&raw);
        let decoded = (|| {
            let through_segment = match r.u8()? {
                0 => None,
                _ => Some(r.u64()?),
            };
            let n = r.u32()?;
            let runs = (0..n).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
            Some(Self {
                runs,
                through_segment,
            })
        })();
        decoded.ok_or_else(|| corrupt("the index manifest"))
    }

    pub fn save(&self, tree: &sled::Tree) -> Result<()> {
        let mut v = Vec::with_capacity(13 + 8 * self.runs.len());
        match self.through_segment {
            None => v.push(0),
            Some(s) => {
                v.push(1);
                v.extend_from_slice(&s.to_be_bytes());
            }
        }
        put_u32(&mut v, self.runs.len())?;
        for id in &self.runs {
            v.extend_from_slice(&id.to_be_bytes());
        }
        tree.insert(MANIFEST, v)?;
        Ok(())
    }
}

impl Run {
    /// Writes a run from sorted, duplicate-free records of each section.
    pub fn write(
        tree: &sled::Tree,
        id: u64,
        streams: impl Iterator<Item = Result<Record>>,
        commands: impl Iterator<Item = Result<Record>>,
        forgotten: impl Iterator<Item = Result<Record>>,
    ) -> Result<Self> {
        let mut hashes = Vec::new();
        let mut records = 0;
        let mut last_stream: Vec<u8> = Vec::new();
        let stream_fences = write_section(tree, id, STREAMS, streams, |key| {
            records += 1;
            let stream = stream_of(key);
            if stream != last_stream.as_slice() {
                hashes.push(key_hash(STREAMS, stream));
                last_stream = stream.to_vec();
            }
        })?;
        let mut command_span = Span::default();
        let mut bad = None;
        let commands = commands.inspect(|r| {
            if let Ok((_, v)) = r {
                match CommandRecord::decode(v) {
                    Some(c) => command_span.add(c.stamp()),
                    None => bad = Some("a command record"),
                }
            }
        });
        let command_fences = write_section(tree, id, COMMANDS, commands, |key| {
            records += 1;
            hashes.push(key_hash(COMMANDS, key));
        })?;
        let mut forgotten_span = Span::default();
        let forgotten = forgotten.inspect(|r| {
            if let Ok((_, v)) = r {
                match Stamp::decode(v) {
                    Some(s) => forgotten_span.add(s),
                    None => bad = Some("a forgotten command record"),
                }
            }
        });
        let forgotten_fences = write_section(tree, id, FORGOTTEN, forgotten, |key| {
            records += 1;
            hashes.push(key_hash(FORGOTTEN, key));
        })?;
        if let Some(what) = bad {
            return Err(corrupt(what));
        }
        let run = Self {
            id,
            records,
            stream_fences,
            command_fences,
            forgotten_fences,
            bloom: Bloom::new(&hashes),
            commands: Some(command_span),
            forgotten: forgotten_span,
        };
        tree.insert(meta_key(id), run.encode_meta()?)?;
        Ok(run)
    }

    pub fn load(tree: &sled::Tree, id: u64) -> Result<Self> {
        let raw = tree
            .get(meta_key(id))?
            .ok_or_else(|| corrupt(&format!("index run {id} (its meta is missing)")))?;
        let mut r = Reader(&raw);
        let decoded = (|| {
            let records = r.u64()?;
            let stream_fences = r.fences()?;
            let command_fences = r.fences()?;
            let words = r.u32()?;
            let bits = (0..words).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
            // Runs written before the idempotency window end here.
            let (forgotten_fences, commands, forgotten) = if r.0.is_empty() {
                (Vec::new(), None, Span::default())
            } else {
                (
                    r.fences()?,
                    Some(Span::decode(&mut r)?),
                    Span::decode(&mut r)?,
                )
            };
            Some(Self {
                id,
                records,
                stream_fences,
                command_fences,
                forgotten_fences,
                bloom: Bloom::from_words(bits)?,
                commands,
                forgotten,
            })
        })();
        decoded.ok_or_else(|| corrupt(&format!("the meta of index run {id}")))
    }

    fn encode_meta(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        v.extend_from_slice(&self.records.to_be_bytes());
        for fences in [&self.stream_fences, &self.command_fences] {
            put_u32(&mut v, fences.len())?;
            for f in fences {
                put_bytes(&mut v, f)?;
            }
        }
        put_u32(&mut v, self.bloom.words().len())?;
        for w in self.bloom.words() {
            v.extend_from_slice(&w.to_be_bytes());
        }
        put_u32(&mut v, self.forgotten_fences.len())?;
        for f in &self.forgotten_fences {
            put_bytes(&mut v, f)?;
        }
        self.commands.unwrap_or_default().encode(&mut v);
        self.forgotten.encode(&mut v);
        Ok(v)
    }

    /// Deletes the run's blocks and meta.
    pub fn remove(tree: &sled::Tree, id: u64) -> Result<()> {
        let mut prefix = vec![b'b'];
        prefix.extend_from_slice(&id.to_be_bytes());
        for key in tree.scan_prefix(&prefix).keys() {
            tree.remove(key?)?;
        }
        tree.remove(meta_key(id))?;
        Ok(())
    }

    /// Every run id with a meta value or a block in the tree. It seeks from
    /// one id to the next rather than scanning every block: sled reads a
    /// key with its leaf's values, and reading every block at open kept
    /// half a gigabyte of them resident on a ten-million-event store.
    pub fn stored_ids(tree: &sled::Tree) -> Result<Vec<u64>> {
        let mut ids = std::collections::BTreeSet::new();
        for prefix in [b'r', b'b'] {
            let mut from = vec![prefix];
            while let Some((key, _)) = tree.range(from.as_slice()..).next().transpose()? {
                let Some(id) = key
                    .first()
                    .filter(|p| **p == prefix)
                    .and(key.get(1..).and_then(keys::read_u64))
                else {
                    break;
                };
                ids.insert(id);
                let Some(next) = id.checked_add(1) else {
                    break;
                };
                from = [prefix].into_iter().chain(next.to_be_bytes()).collect();
            }
        }
        Ok(ids.into_iter().collect())
    }

    /// The stream's newest entry in this run.
    pub fn stream_last(&self, tree: &sled::Tree, stream: &StreamId) -> Result<Option<IndexEntry>> {
        if !self
            .bloom
            .may_contain(key_hash(STREAMS, stream.as_str().as_bytes()))
        {
            return Ok(None);
        }
        let prefix = keys::stream_prefix(stream);
        let end = keys::stream_end(stream);
        // The block holding the stream's last key starts before the stream's end.
        let Some(block) = self
            .stream_fences
            .partition_point(|f| f < &end)
            .checked_sub(1)
        else {
            return Ok(None);
        };
        let mut last = None;
        for (k, v) in self.block(tree, STREAMS, block)?.iter() {
            if k >= prefix.as_slice() && k < end.as_slice() {
                last = Some(decode_entry(k, v)?);
            }
        }
        Ok(last)
    }

    /// Adds the stream's entries from the one holding `from_version` on.
    pub fn stream_entries(
        &self,
        tree: &sled::Tree,
        stream: &StreamId,
        from_version: u64,
        out: &mut BTreeMap<u64, IndexEntry>,
    ) -> Result<()> {
        if !self
            .bloom
            .may_contain(key_hash(STREAMS, stream.as_str().as_bytes()))
        {
            return Ok(());
        }
        let from = keys::stream_entry(stream, from_version.max(1));
        let prefix = keys::stream_prefix(stream);
        let end = keys::stream_end(stream);
        let first = self
            .stream_fences
            .partition_point(|f| f <= &from)
            .saturating_sub(1);
        let last = self.stream_fences.partition_point(|f| f < &end);
        for block in first..last {
            for (k, v) in self.block(tree, STREAMS, block)?.iter() {
                if k >= prefix.as_slice() && k < end.as_slice() {
                    let entry = decode_entry(k, v)?;
                    if entry.last_version() >= from_version {
                        out.insert(entry.first_version, entry);
                    }
                }
            }
        }
        Ok(())
    }

    pub fn command(&self, tree: &sled::Tree, id: &str) -> Result<Option<CommandRecord>> {
        self.find(tree, COMMANDS, id)?
            .map(|v| {
                CommandRecord::decode(&v)
                    .ok_or_else(|| corrupt(&format!("the command record of {id}")))
            })
            .transpose()
    }

    /// Where and when a command id past the window was recorded, if this
    /// run remembers it as forgotten.
    pub fn forgotten(&self, tree: &sled::Tree, id: &str) -> Result<Option<Stamp>> {
        self.find(tree, FORGOTTEN, id)?
            .map(|v| {
                Stamp::decode(&v).ok_or_else(|| corrupt(&format!("the forgotten record of {id}")))
            })
            .transpose()
    }

    /// The value of `id` in a section keyed by command id.
    fn find(&self, tree: &sled::Tree, section: u8, id: &str) -> Result<Option<Vec<u8>>> {
        let key = id.as_bytes();
        if !self.bloom.may_contain(key_hash(section, key)) {
            return Ok(None);
        }
        let fences = match section {
            COMMANDS => &self.command_fences,
            _ => &self.forgotten_fences,
        };
        let Some(block) = fences
            .partition_point(|f| f.as_slice() <= key)
            .checked_sub(1)
        else {
            return Ok(None);
        };
        Ok(self
            .block(tree, section, block)?
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_vec()))
    }

    /// All records of a section, in order, a block at a time (for merging).
    pub fn records<'a>(
        &'a self,
        tree: &'a sled::Tree,
        section: u8,
    ) -> impl Iterator<Item = Result<Record>> + 'a {
        let blocks = match section {
            STREAMS => self.stream_fences.len(),
            COMMANDS => self.command_fences.len(),
            _ => self.forgotten_fences.len(),
        };
        (0..blocks).flat_map(move |b| {
            let decoded: Result<Vec<Record>> = self
                .block(tree, section, b)
                .map(|block| block.into_records().collect());
            match decoded {
                Ok(records) => records.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            }
        })
    }

    fn block(&self, tree: &sled::Tree, section: u8, block: usize) -> Result<Block> {
        let block = u32::try_from(block).map_err(|_| corrupt("an index block number"))?;
        let raw = tree
            .get(block_key(self.id, section, block))?
            .ok_or_else(|| corrupt(&format!("block {block} of index run {}", self.id)))?;
        Block::parse(raw).ok_or_else(|| corrupt(&format!("block {block} of index run {}", self.id)))
    }
}

/// Merges two sections' sorted records; on equal keys the newer one wins.
pub(crate) fn merge<'a>(
    newer: impl Iterator<Item = Result<Record>> + 'a,
    older: impl Iterator<Item = Result<Record>> + 'a,
) -> impl Iterator<Item = Result<Record>> + 'a {
    let mut newer = newer.peekable();
    let mut older = older.peekable();
    std::iter::from_fn(move || {
        let order = match (newer.peek(), older.peek()) {
            (None, None) => return None,
            (Some(_), None) | (Some(Err(_)), _) => std::cmp::Ordering::Less,
            (None, Some(_)) | (_, Some(Err(_))) => std::cmp::Ordering::Greater,
            (Some(Ok((n, _))), Some(Ok((o, _)))) => n.cmp(o),
        };
        if order.is_eq() {
            older.next();
        }
        if order.is_le() {
            newer.next()
        } else {
            older.next()
        }
    })
}

/// A parsed block: its records as slices of the stored value.
struct Block {
    raw: sled::IVec,
    spans: Vec<(usize, usize, usize, usize)>,
}

impl Block {
    fn parse(raw: sled::IVec) -> Option<Self> {
        let mut spans = Vec::new();
        let mut at = 0;
        while at < raw.len() {
            let klen = usize::from(u16::from_be_bytes(raw.get(at..at + 2)?.try_into().ok()?));
            let k = at + 2;
            let vlen_at = k + klen;
            let vlen = usize::from(u16::from_be_bytes(
                raw.get(vlen_at..vlen_at + 2)?.try_into().ok()?,
            ));
            let v = vlen_at + 2;
            raw.get(v..v + vlen)?;
            spans.push((k, k + klen, v, v + vlen));
            at = v + vlen;
        }
        Some(Self { raw, spans })
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.spans
            .iter()
            .map(|&(a, b, c, d)| (&self.raw[a..b], &self.raw[c..d]))
    }

    fn into_records(self) -> impl Iterator<Item = Record> {
        self.spans
            .into_iter()
            .map(move |(a, b, c, d)| (self.raw[a..b].to_vec(), self.raw[c..d].to_vec()))
    }
}

/// Writes a section's blocks; returns each block's first key.
fn write_section(
    tree: &sled::Tree,
    run: u64,
    section: u8,
    records: impl Iterator<Item = Result<Record>>,
    mut each_key: impl FnMut(&[u8]),
) -> Result<Vec<Vec<u8>>> {
    let mut fences = Vec::new();
    let mut block = Vec::with_capacity(BLOCK_BYTES + 512);
    for record in records {
        let (k, v) = record?;
        each_key(&k);
        if block.is_empty() {
            fences.push(k.clone());
        }
        put_bytes(&mut block, &k)?;
        put_bytes(&mut block, &v)?;
        if block.len() >= BLOCK_BYTES {
            store_block(tree, run, section, fences.len() - 1, &mut block)?;
        }
    }
    if !block.is_empty() {
        store_block(tree, run, section, fences.len() - 1, &mut block)?;
    }
    Ok(fences)
}

fn store_block(
    tree: &sled::Tree,
    run: u64,
    section: u8,
    n: usize,
    block: &mut Vec<u8>,
) -> Result<()> {
    let n = u32::try_from(n).map_err(|_| corrupt("an index block number"))?;
    tree.insert(block_key(run, section, n), std::mem::take(block))?;
    Ok(())
}

/// A stream entry key without its `0x00 ++ first_version` tail.
fn stream_of(key: &[u8]) -> &[u8] {
    &key[..key.len().saturating_sub(9)]
}

fn decode_entry(key: &[u8], value: &[u8]) -> Result<IndexEntry> {
    keys::decode_index(key, value).ok_or_else(|| corrupt("a stream index entry"))
}

fn meta_key(run: u64) -> [u8; 9] {
    let mut k = [b'r'; 9];
    k[1..].copy_from_slice(&run.to_be_bytes());
    k
}

fn block_key(run: u64, section: u8, block: u32) -> [u8; 14] {
    let mut k = [b'b'; 14];
    k[1..9].copy_from_slice(&run.to_be_bytes());
    k[9] = section;
    k[10..].copy_from_slice(&block.to_be_bytes());
    k
}

fn put_u32(v: &mut Vec<u8>, n: usize) -> Result<()> {
    let n = u32::try_from(n).map_err(|_| corrupt("an index count above 2^32"))?;
    v.extend_from_slice(&n.to_be_bytes());
    Ok(())
}

fn put_bytes(v: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    let n = u16::try_from(bytes.len()).map_err(|_| corrupt("an index key above 64 KiB"))?;
    v.extend_from_slice(&n.to_be_bytes());
    v.extend_from_slice(bytes);
    Ok(())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Failed(format!("{what} is missing or malformed"))
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        keys::read_u64(self.take(8)?)
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn fences(&mut self) -> Option<Vec<Vec<u8>>> {
        let n = self.u32()?;
        (0..n)
            .map(|_| {
                let len = usize::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?));
                Some(self.take(len)?.to_vec())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(keys: &[(&str, &str)]) -> Vec<Result<Record>> {
        keys.iter()
            .map(|(k, v)| Ok((k.as_bytes().to_vec(), v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn merge_keeps_key_order_and_the_newer_of_equal_keys() {
        let newer = records(&[("b", "new"), ("d", "new")]);
        let older = records(&[("a", "old"), ("b", "old"), ("c", "old")]);
        let merged: Vec<(String, String)> = merge(newer.into_iter(), older.into_iter())
            .map(|r| {
                let (k, v) = r.unwrap();
                (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
            })
            .collect();
        let expected = [("a", "old"), ("b", "new"), ("c", "old"), ("d", "new")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(merged, expected);
    }

    #[test]
    fn a_run_finds_records_across_many_blocks_and_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let tree = db.open_tree("index").unwrap();
        let ids: Vec<String> = (0..2_000).map(|i| format!("command-{i:05}")).collect();
        let record = CommandRecord {
            fingerprint: "f".repeat(32),
            outcome: crate::model::AppendOutcome {
                first_version: 1,
                last_version: 1,
                first_position: 7,
                last_position: 7,
                duplicate: false,
            },
            recorded_ms: Some(1_700_000_000_000),
        };
        let commands = ids
            .iter()
            .map(|id| Ok((id.as_bytes().to_vec(), record.encode())));
        let run = Run::write(&tree, 9, std::iter::empty(), commands, std::iter::empty()).unwrap();
        assert!(run.command_fences.len() > 10, "spans many blocks");
        let reloaded = Run::load(&tree, 9).unwrap();
        for id in ids.iter().step_by(97) {
            assert_eq!(reloaded.command(&tree, id).unwrap(), Some(record.clone()));
        }
        assert_eq!(reloaded.command(&tree, "command-99999").unwrap(), None);
        assert_eq!(reloaded.command(&tree, "a-before-all").unwrap(), None);
        Run::remove(&tree, 9).unwrap();
        assert!(Run::stored_ids(&tree).unwrap().is_empty());
    }

    #[test]
    fn a_run_written_before_the_window_loads_with_no_spans_and_answers_as_before() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("index").unwrap();
        let record = CommandRecord {
            fingerprint: "f".repeat(32),
            outcome: crate::model::AppendOutcome {
                first_version: 1,
                last_version: 1,
                first_position: 3,
                last_position: 3,
                duplicate: false,
            },
            recorded_ms: None,
        };
        let commands = [Ok((b"c-1".to_vec(), record.encode()))].into_iter();
        let run = Run::write(&tree, 4, std::iter::empty(), commands, std::iter::empty()).unwrap();
        assert_eq!(record.encode().len(), 64, "the record of a time not known");
        assert_eq!(run.commands.map(|s| s.count), Some(1));
        // The meta as the earlier layout wrote it: without forgotten fences and spans.
        let meta = tree.get(meta_key(4)).unwrap().unwrap();
        tree.insert(meta_key(4), &meta[..meta.len() - 4 - 2 * 40])
            .unwrap();
        let old = Run::load(&tree, 4).unwrap();
        assert_eq!((old.commands, old.forgotten.count), (None, 0));
        assert_eq!(old.command(&tree, "c-1").unwrap(), Some(record));
        assert_eq!(old.forgotten(&tree, "c-1").unwrap(), None);
    }

    #[test]
    fn every_stored_run_id_is_found_by_seeking_past_its_blocks() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("index").unwrap();
        for id in [1, 3] {
            tree.insert(meta_key(id), b"meta".to_vec()).unwrap();
        }
        for (id, blocks) in [(2, 3), (3, 2), (7, 5), (u64::MAX, 1)] {
            for block in 0..blocks {
                tree.insert(block_key(id, 0, block), vec![0; 64]).unwrap();
            }
        }
        assert_eq!(Run::stored_ids(&tree).unwrap(), [1, 2, 3, 7, u64::MAX]);
    }
}
