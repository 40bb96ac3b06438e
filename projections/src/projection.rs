//! What every read model shares: folding the log into a tree with its
//! checkpoint, rebuilding beside the live copy and swapping it in, and
//! checking a live copy against a fresh rebuild.

use std::any::Any;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use event_store::{Checkpointed, Cut, RecordedEvent, Store, StoreError};
use schemas::StreamKind;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use crate::read_model::ReadModel;

/// Events folded per transaction.
const BATCH: usize = 1024;
/// How often the checker starts over when the live model moved while it compared.
const CHECK_ATTEMPTS: usize = 8;

pub use event_store::Changes;

#[derive(Debug, thiserror::Error)]
// Each variant's #[error] message says what it and its fields mean.
#[allow(missing_docs)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("read model {model} holds a value it cannot read at {key}: {source}")]
    Corrupt {
        model: &'static str,
        key: String,
        source: serde_json::Error,
    },
    #[error("read model {model} holds another kind of value at {key}")]
    WrongType { model: &'static str, key: String },
    #[error("the live model kept moving; no stable point to compare at after {0} attempts")]
    Unstable(usize),
    #[error("SKU {0} is not defined in the item master")]
    UnknownSku(String),
    #[error("location {0} is not defined in the item master")]
    UnknownLocation(String),
}

/// What a fold returns: nothing but its changes to the working set, or why not.
pub type Folded = Result<(), ProjectionError>;

/// A read model built by folding the log.
pub trait Projection: Send + Sync {
    /// The read model's name, as stored and as named on the command line.
    fn name(&self) -> &'static str;

    /// The version of the model's stored layout. A model stored with
    /// another layout is emptied when opened, and folded again from the log.
    fn layout(&self) -> u32 {
        1
    }

    /// Folds `events` into the working set, which reads earlier values from
    /// the model. Events of other kinds are passed over; events of its kind
    /// it cannot read are logged and passed over, so one bad payload never
    /// stops a model.
    fn fold(&self, working: &mut Working<'_>, events: &[RecordedEvent]) -> Folded;
}

/// Encodes a value of the working set as the model stores it.
type Encoder = fn(&'static str, &str, &(dyn Any + Send)) -> Result<Vec<u8>, ProjectionError>;

/// One key of a working set.
enum Entry {
    /// A decoded value, with how to encode it back.
    Value(Box<dyn Any + Send>, Encoder),
    /// Bytes kept as they are (counters).
    Raw(Vec<u8>),
    /// Removed from the model.
    Removed,
}

/// What one fold sees of its model: values read once from the model,
/// changed in memory and written back once, with the checkpoint.
pub struct Working<'a> {
    model: &'static str,
    tree: &'a Checkpointed,
    entries: BTreeMap<String, Entry>,
}

impl<'a> Working<'a> {
    fn new(model: &'static str, tree: &'a Checkpointed) -> Self {
        Self {
            model,
            tree,
            entries: BTreeMap::new(),
        }
    }

    /// The value at `key` (the default when there is none), to read or change.
    pub fn get<T>(&mut self, key: &str) -> Result<&mut T, ProjectionError>
    where
        T: Serialize + DeserializeOwned + Default + Send + 'static,
    {
        let fresh = match self.entries.get(key) {
            Some(Entry::Value(..)) => None,
            Some(Entry::Raw(bytes)) => Some(self.decode(key, bytes)?),
            Some(Entry::Removed) => Some(T::default()),
            None => match self.tree.get(key.as_bytes())? {
                Some(bytes) => Some(self.decode(key, &bytes)?),
                None => Some(T::default()),
            },
        };
        if let Some(value) = fresh {
            self.entries.insert(
                key.to_owned(),
                Entry::Value(Box::new(value), encode_any::<T>),
            );
        }
        match self.entries.get_mut(key) {
            Some(Entry::Value(value, _)) => {
                value
                    .downcast_mut::<T>()
                    .ok_or_else(|| ProjectionError::WrongType {
                        model: self.model,
                        key: key.to_owned(),
                    })
            }
            _ => Err(ProjectionError::WrongType {
                model: self.model,
                key: key.to_owned(),
            }),
        }
    }

    /// Sets the value at `key`.
    pub fn put<T: Serialize + Send + 'static>(&mut self, key: String, value: T) {
        self.entries
            .insert(key, Entry::Value(Box::new(value), encode_any::<T>));
    }

    /// The bytes at `key` as stored, for values that are not JSON (counters).
    pub fn raw(&self, key: &str) -> Result<Option<Vec<u8>>, ProjectionError> {
        Ok(match self.entries.get(key) {
            Some(Entry::Raw(bytes)) => Some(bytes.clone()),
            Some(Entry::Removed) => None,
            Some(Entry::Value(value, encode)) => Some(encode(self.model, key, value.as_ref())?),
            None => self.tree.get(key.as_bytes())?,
        })
    }

    /// Sets the bytes at `key`.
    pub fn put_raw(&mut self, key: String, bytes: Vec<u8>) {
        self.entries.insert(key, Entry::Raw(bytes));
    }

    /// Removes the value at `key` (an index entry no longer true).
    pub fn remove(&mut self, key: String) {
        self.entries.insert(key, Entry::Removed);
    }

    fn decode<T: DeserializeOwned>(&self, key: &str, bytes: &[u8]) -> Result<T, ProjectionError> {
        serde_json::from_slice(bytes).map_err(|source| ProjectionError::Corrupt {
            model: self.model,
            key: key.to_owned(),
            source,
        })
    }

    /// The new bytes of every key the fold touched.
    fn into_changes(self) -> Result<Changes, ProjectionError> {
        let mut changes = Changes::new();
        for (key, entry) in self.entries {
            let bytes = match entry {
                Entry::Value(value, encode) => Some(encode(self.model, &key, value.as_ref())?),
                Entry::Raw(bytes) => Some(bytes),
                Entry::Removed => None,
            };
            changes.insert(key.into_bytes(), bytes);
        }
        Ok(changes)
    }
}

fn encode_any<T: Serialize + 'static>(
    model: &'static str,
    key: &str,
    value: &(dyn Any + Send),
) -> Result<Vec<u8>, ProjectionError> {
    match value.downcast_ref::<T>() {
        Some(value) => encode(model, key, value),
        None => Err(ProjectionError::WrongType {
            model,
            key: key.to_owned(),
        }),
    }
}

/// Folds `events` with `projection` over `tree`: the changes to write.
fn changes(
    projection: &dyn Projection,
    tree: &Checkpointed,
    events: &[RecordedEvent],
) -> Result<Changes, ProjectionError> {
    let mut working = Working::new(projection.name(), tree);
    projection.fold(&mut working, events)?;
    working.into_changes()
}

/// A read model over a store, with the fold that builds it. Each model
/// adds its queries in its own module.
#[derive(Debug, Clone)]
pub struct Model<P> {
    store: Store,
    stored: ReadModel,
    projection: P,
}

impl<P: Projection + Default> Model<P> {
    /// Opens the model over `store`.
    pub fn open(store: &Store) -> Result<Self, ProjectionError> {
        let projection = P::default();
        let stored = ReadModel::open(store, projection.name())?;
        // Models stored before layouts were noted have layout 1.
        let note = format!("read-model-layout/{}", projection.name());
        let layout = store.meta(&note)?.map_or(Ok(1), |l| l.parse::<u32>());
        if layout != Ok(projection.layout()) {
            if stored.checkpoint()?.is_some() {
                tracing::warn!(
                    model = projection.name(),
                    "the stored model has another layout: folding it again from the log"
                );
            }
            stored.clear()?;
            store.set_meta(&note, &projection.layout().to_string())?;
        }
        Ok(Self {
            store: store.clone(),
            stored,
            projection,
        })
    }

    /// The stored model, for rebuilds and checks.
    pub fn read_model(&self) -> &ReadModel {
        &self.stored
    }

    /// How the model is folded from the log.
    pub fn projection(&self) -> &dyn Projection {
        &self.projection
    }

    /// Folds every event past the checkpoint; returns how many were read.
    pub fn catch_up(&self) -> Result<usize, ProjectionError> {
        catch_up(&self.store, &self.stored, &self.projection, None)
    }

    /// A copy of the model built from the facts of `cut` only, beside the
    /// live one, for questions about another time; it is dropped with the
    /// [`Snapshot`].
    pub fn as_of(&self, cut: &Cut) -> Result<Snapshot<P>, ProjectionError>
    where
        P: Clone,
    {
        self.as_of_where(cut.until_position, &|e| cut.admits(e))
    }

    /// A copy of the model built from the events up to `until_position`
    /// that `admits` keeps (see [`Model::as_of`]).
    pub fn as_of_where(
        &self,
        until_position: Option<u64>,
        admits: &dyn Fn(&RecordedEvent) -> bool,
    ) -> Result<Snapshot<P>, ProjectionError>
    where
        P: Clone,
    {
        let scratch = self.stored.scratch()?;
        if let Err(e) = fold_where(
            &self.store,
            &scratch,
            &self.projection,
            until_position,
            admits,
        ) {
            scratch.discard()?;
            return Err(e);
        }
        Ok(Snapshot(Self {
            store: self.store.clone(),
            stored: scratch,
            projection: self.projection.clone(),
        }))
    }

    /// The model's values as queries see them now.
    pub fn values(&self) -> Checkpointed {
        self.stored.live()
    }

    /// Every value under `prefix`, by the rest of its key.
    pub fn scan<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, ProjectionError> {
        let mut out = Vec::new();
        for entry in self.stored.live().scan_prefix(prefix.as_bytes()) {
            let (k, v) = entry?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let value = serde_json::from_slice(&v).map_err(|source| ProjectionError::Corrupt {
                model: self.projection.name(),
                key: key.clone(),
                source,
            })?;
            out.push((key[prefix.len()..].to_owned(), value));
        }
        Ok(out)
    }
}

/// A model as of another time ([`Model::as_of`]): queried like the live
/// one, and dropped from the store when it goes out of scope.
#[derive(Debug)]
pub struct Snapshot<P>(Model<P>);

impl<P> std::ops::Deref for Snapshot<P> {
    type Target = Model<P>;

    fn deref(&self) -> &Model<P> {
        &self.0
    }
}

impl<P> Drop for Snapshot<P> {
    fn drop(&mut self) {
        if let Err(error) = self.0.stored.clone().discard() {
            tracing::warn!(%error, "a read model snapshot could not be dropped; the next open removes it");
        }
    }
}

/// Folds every event past `model`'s checkpoint, up to `until` when given;
/// returns how many events were read.
pub fn catch_up(
    store: &Store,
    model: &ReadModel,
    projection: &dyn Projection,
    until: Option<u64>,
) -> Result<usize, ProjectionError> {
    let mut total = 0;
    loop {
        let from = model.checkpoint()?.map_or(1, |c| c + 1);
        let limit = match until {
            Some(u) if u < from => return Ok(total),
            Some(u) => usize::try_from(u - from + 1).unwrap_or(BATCH).min(BATCH),
            None => BATCH,
        };
        let events = store.read_all(from, limit)?;
        if events.is_empty() {
            return Ok(total);
        }
        total += events.len();
        apply(model, projection, &events, &[])?;
    }
}

/// Folds the events of `events` past `model`'s checkpoint (a run in
/// ascending log order, as read from the log or restored from Kafka) and records them
/// with `marks` in one transaction; returns how many it folded.
pub fn apply(
    model: &ReadModel,
    projection: &dyn Projection,
    events: &[RecordedEvent],
    marks: &[(String, u64)],
) -> Result<usize, ProjectionError> {
    let done = model.checkpoint()?.unwrap_or(0);
    let fresh = &events[events.partition_point(|e| e.position <= done)..];
    let Some(last) = fresh.last().map(|e| e.position) else {
        return Ok(0);
    };
    let changes = changes(projection, &model.live(), fresh)?;
    model.apply_changes(last, marks, &changes)?;
    Ok(fresh.len())
}

/// Folds the events up to `until_position` that `admits` keeps into
/// `model` (empty), in log order.
fn fold_where(
    store: &Store,
    model: &ReadModel,
    projection: &dyn Projection,
    until_position: Option<u64>,
    admits: &dyn Fn(&RecordedEvent) -> bool,
) -> Result<(), ProjectionError> {
    for page in store.pages(1, until_position.unwrap_or(u64::MAX), BATCH) {
        let events = page?;
        let Some(last) = events.last().map(|e| e.position) else {
            break;
        };
        let admitted: Vec<RecordedEvent> = events.into_iter().filter(|e| admits(e)).collect();
        let changes = changes(projection, &model.live(), &admitted)?;
        model.apply_changes(last, &[], &changes)?;
    }
    Ok(())
}

/// What a rebuild did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Rebuilt {
    /// The model rebuilt.
    pub projection: &'static str,
    /// Events folded.
    pub events: usize,
    /// The log position the new copy holds.
    pub checkpoint: Option<u64>,
    #[serde(serialize_with = "as_secs")]
    /// How long it took.
    pub elapsed: Duration,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Rebuilds `model` from the whole log into a new copy while the live one
/// keeps answering, then swaps the new copy in.
pub fn rebuild(
    store: &Store,
    model: &ReadModel,
    projection: &dyn Projection,
) -> Result<Rebuilt, ProjectionError> {
    let started = Instant::now();
    let scratch = model.scratch()?;
    let events = match catch_up(store, &scratch, projection, None) {
        Ok(n) => n,
        Err(e) => {
            scratch.discard()?;
            return Err(e);
        }
    };
    let checkpoint = scratch.checkpoint()?;
    model.swap_in(scratch)?;
    tracing::info!(
        projection = projection.name(),
        events,
        "read model rebuilt and swapped in"
    );
    Ok(Rebuilt {
        projection: projection.name(),
        events,
        checkpoint,
        elapsed: started.elapsed(),
    })
}

/// One key on which the live model and a fresh rebuild disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Difference {
    /// The key.
    pub key: String,
    /// Its value in the live model.
    pub live: Option<String>,
    /// Its value in the rebuild.
    pub rebuilt: Option<String>,
}

/// The live model compared with a fresh rebuild at the same checkpoint.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CheckReport {
    /// The model checked.
    pub projection: &'static str,
    /// The checkpoint both copies were compared at.
    pub checkpoint: Option<u64>,
    /// Keys compared.
    pub keys: usize,
    /// The keys that differ.
    pub differences: Vec<Difference>,
}

impl CheckReport {
    /// Whether the live model equals the rebuild.
    pub fn agrees(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Rebuilds `model` into a scratch copy up to the live checkpoint and
/// compares the two key by key. The scratch copy is dropped afterwards.
pub fn check(
    store: &Store,
    model: &ReadModel,
    projection: &dyn Projection,
) -> Result<CheckReport, ProjectionError> {
    let scratch = model.scratch()?;
    let report = compare(store, model, &scratch, projection);
    scratch.discard()?;
    report
}

fn compare(
    store: &Store,
    live: &ReadModel,
    scratch: &ReadModel,
    projection: &dyn Projection,
) -> Result<CheckReport, ProjectionError> {
    for _ in 0..CHECK_ATTEMPTS {
        let checkpoint = live.checkpoint()?;
        if let Some(c) = checkpoint {
            catch_up(store, scratch, projection, Some(c))?;
        }
        let (keys, differences) = diff(&live.live(), &scratch.live())?;
        // Only a comparison at one checkpoint on both sides means anything.
        if live.checkpoint()? == checkpoint && scratch.checkpoint()? == checkpoint {
            return Ok(CheckReport {
                projection: projection.name(),
                checkpoint,
                keys,
                differences,
            });
        }
    }
    Err(ProjectionError::Unstable(CHECK_ATTEMPTS))
}

#[allow(clippy::many_single_char_names)] // a and b walk x and y: two cursors, two heads
fn diff(
    live: &Checkpointed,
    rebuilt: &Checkpointed,
) -> Result<(usize, Vec<Difference>), ProjectionError> {
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let (mut a, mut b) = (live.scan_prefix(b""), rebuilt.scan_prefix(b""));
    let (mut x, mut y) = (a.next().transpose()?, b.next().transpose()?);
    let (mut keys, mut differences) = (0, Vec::new());
    loop {
        // Walk both trees in key order, a key at a time.
        let (l, r) = match (&x, &y) {
            (None, None) => break,
            (Some((ka, _)), Some((kb, _))) if ka == kb => (x.take(), y.take()),
            (Some((ka, _)), Some((kb, _))) if ka < kb => (x.take(), None),
            (Some(_), None) => (x.take(), None),
            _ => (None, y.take()),
        };
        if l.is_some() {
            x = a.next().transpose()?;
        }
        if r.is_some() {
            y = b.next().transpose()?;
        }
        keys += 1;
        let key = l
            .as_ref()
            .or(r.as_ref())
            .map(|(k, _)| text(k))
            .unwrap_or_default();
        let (lv, rv) = (l.map(|(_, v)| v), r.map(|(_, v)| v));
        if lv != rv {
            differences.push(Difference {
                key,
                live: lv.map(|v| text(&v)),
                rebuilt: rv.map(|v| text(&v)),
            });
        }
    }
    Ok((keys, differences))
}

/// The events of `kind`'s streams that read as `E`, each with its
/// aggregate's id and its envelope; the rest are passed over (unreadable
/// ones logged, see [`decode`]).
pub fn events_of<'a, E: DeserializeOwned + 'a>(
    model: &'static str,
    kind: StreamKind,
    events: &'a [RecordedEvent],
) -> impl Iterator<Item = (&'a str, E, &'a RecordedEvent)> + 'a {
    events.iter().filter_map(move |e| {
        let (k, id) = StreamKind::split(e.stream.as_str())?;
        if k != kind {
            return None;
        }
        Some((id, decode(model, e)?, e))
    })
}

/// An event's payload as `T`, or nothing (logged, naming the model) when it
/// does not read as one: a model passes over a bad payload rather than stop on it.
pub fn decode<T: serde::de::DeserializeOwned>(model: &'static str, e: &RecordedEvent) -> Option<T> {
    e.decode(model)
}

/// Reads a JSON value of `model` at `key`, if there is one.
pub fn load<T: serde::de::DeserializeOwned>(
    model: &'static str,
    tree: &Checkpointed,
    key: &str,
) -> Result<Option<T>, ProjectionError> {
    let Some(raw) = tree.get(key.as_bytes())? else {
        return Ok(None);
    };
    serde_json::from_slice(&raw)
        .map(Some)
        .map_err(|source| ProjectionError::Corrupt {
            model,
            key: key.to_owned(),
            source,
        })
}

/// A value as the model stores it.
pub fn encode<T: Serialize>(
    model: &'static str,
    key: &str,
    value: &T,
) -> Result<Vec<u8>, ProjectionError> {
    serde_json::to_vec(value).map_err(|source| ProjectionError::Corrupt {
        model,
        key: key.to_owned(),
        source,
    })
}
