//! The accounts of pool jobs: one `map`, `starmap`, `apply` or `imap` call
//! on a pool, its chunks' results as they come back, and the answers its
//! waiters get (`get`, `wait`, the next `imap` item). Pure bookkeeping: the
//! hub (`pools`) hands out the chunks and decides who is answered when.

use std::collections::VecDeque;
use std::time::Instant;

use crate::wire::{FnRef, JobAsk, JobKind, ObjectId, Packed, Value};

/// How a job's items are cut into chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunking {
    /// The caller's chunk size.
    Fixed(usize),
    /// The default: each chunk is what is left divided by twice the number
    /// of workers, so chunks start large (few messages) and shrink to one
    /// item at the end, and the workers finish together even when items
    /// cost different amounts. Python's fixed quarter-per-worker chunks can
    /// leave one worker running a whole chunk while the others idle.
    Guided { workers: usize },
}

impl Chunking {
    /// A request's `chunksize`: 0 means the default.
    pub fn of(chunksize: usize, workers: usize) -> Self {
        match chunksize {
            0 => Chunking::Guided { workers },
            n => Chunking::Fixed(n),
        }
    }

    fn next_size(self, remaining: usize) -> usize {
        match self {
            Chunking::Fixed(n) => n,
            Chunking::Guided { workers } => remaining.div_ceil(workers.max(1).saturating_mul(2)),
        }
        .max(1)
    }
}

/// Why an item failed: the one line every waiter sees and, for the item
/// whose task raised, the worker's report of where (its source line), which
/// the waiter prints only if the error goes uncaught.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub message: String,
    pub detail: Option<String>,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            detail: None,
        }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::from(message.to_string())
    }
}

#[derive(Debug, PartialEq)]
pub enum Answer {
    Value(Value),
    /// A map's results, still encoded, in input order.
    Items(Packed),
    Error(Failure),
    /// An `imap` has no more items.
    End,
}

/// Where an item's result is: 16 bytes, as a job holds one per item.
#[derive(Clone, Debug, PartialEq)]
enum Slot {
    Pending,
    /// Item `at` of `packs[pack]`.
    Done {
        pack: u32,
        at: u32,
    },
    Failed(Box<Failure>),
}

pub struct Job {
    pub target: FnRef,
    /// Each item is an array of arguments (`starmap`, `apply`).
    pub spread: bool,
    pub kind: JobKind,
    /// The name errors start with: `pool_map`, `map`, `apply`...
    pub call: String,
    results: Vec<Slot>,
    /// The results as the workers sent them, a chunk's in each; the hub
    /// never decodes them, except one at a time for an `imap` or `apply`.
    packs: Vec<Packed>,
    remaining: usize,
    failed: Option<Failure>,
    /// The next item an ordered `imap` gives.
    cursor: usize,
    /// Finished items not yet given by an unordered `imap` (kept only for one).
    finished: VecDeque<usize>,
    given: usize,
    /// A progress bar may be shown for it (`progress: false` says not).
    pub progress: bool,
    /// When it was submitted, for the progress bar's delay and rate.
    pub started: Instant,
    /// Somebody has asked for its results (`map`, `get`, `wait`, an `imap`
    /// loop): only then is its progress worth showing.
    watched: bool,
}

impl Job {
    pub fn new(
        target: FnRef,
        spread: bool,
        kind: JobKind,
        call: String,
        items: usize,
        now: Instant,
    ) -> Self {
        Job {
            target,
            spread,
            kind,
            call,
            results: vec![Slot::Pending; items],
            packs: Vec::new(),
            remaining: items,
            failed: None,
            cursor: 0,
            finished: VecDeque::new(),
            given: 0,
            progress: false,
            started: now,
            watched: false,
        }
    }

    pub fn with_progress(mut self, progress: bool) -> Self {
        self.progress = progress && self.kind != JobKind::Apply;
        self
    }

    /// How many items it has, and how many of them are finished.
    pub fn counts(&self) -> (usize, usize) {
        (self.results.len(), self.results.len() - self.remaining)
    }

    /// Whether its progress may be shown now: it wants a bar, somebody
    /// waits for it, and it is not done.
    pub fn shows_progress(&self) -> bool {
        self.progress && self.watched && !self.is_done()
    }

    /// Splits `items` into the chunks workers will take: `(first index, items)`.
    pub fn chunks(items: Packed, chunking: Chunking) -> Vec<(usize, Packed)> {
        let mut chunks = Vec::new();
        let total = items.len();
        let mut first = 0;
        while first < total {
            let size = chunking.next_size(total - first).min(total - first);
            chunks.push((first, items.slice(first..first + size)));
            first += size;
        }
        chunks
    }

    fn record(&mut self, index: usize, result: Slot) {
        if let Some(slot) = self.results.get_mut(index)
            && *slot == Slot::Pending
        {
            if let Slot::Failed(e) = &result {
                self.failed.get_or_insert_with(|| (**e).clone());
            }
            *slot = result;
            self.remaining -= 1;
            if self.kind == (JobKind::Imap { ordered: false }) {
                self.finished.push_back(index);
            }
        }
    }

    fn record_failure(&mut self, index: usize, failure: Failure) {
        self.record(index, Slot::Failed(Box::new(failure)));
    }

    pub fn succeeded(&mut self, first: usize, results: Packed) {
        // A job has fewer items than a frame has bytes, and a frame's
        // length is a u32: both numbers fit.
        let pack = self.packs.len() as u32;
        let count = results.len() as u32;
        self.packs.push(results);
        for at in 0..count {
            self.record(first + at as usize, Slot::Done { pack, at });
        }
    }

    /// The object handles it keeps: its function's captured values and the
    /// results that came back. Returns how many values it looked through.
    pub fn object_ids(&self, out: &mut Vec<ObjectId>) -> usize {
        self.target.object_ids(out);
        self.packs.iter().for_each(|p| out.extend(p.objects()));
        1 + self.packs.len()
    }

    /// Item `index`'s answer, decoded (`None` while it has none).
    fn item(&self, index: usize) -> Option<Answer> {
        Some(match &self.results[index] {
            Slot::Pending => return None,
            Slot::Done { pack, at } => match self.packs[*pack as usize].decode(*at as usize) {
                Ok(value) => Answer::Value(value),
                Err(e) => {
                    Answer::Error(format!("{}: a result came back torn: {e}", self.call).into())
                }
            },
            Slot::Failed(e) => Answer::Error((**e).clone()),
        })
    }

    /// Every result, in input order, still encoded. A chunk's results that
    /// all landed in their places (the usual case) are copied in one piece.
    fn all_items(&self) -> Result<Packed, Failure> {
        let failed = |e| Failure::from(format!("{}: the results: {e}", self.call));
        let mut all = Packed::with_capacity(self.results.len());
        let mut index = 0;
        while index < self.results.len() {
            let pushed = match self.results[index] {
                Slot::Done { pack, at: 0 } if self.whole_pack_at(index, pack) => {
                    let pack = &self.packs[pack as usize];
                    index += pack.len();
                    all.append(pack)
                }
                Slot::Done { pack, at } => {
                    index += 1;
                    all.push_item_of(&self.packs[pack as usize], at as usize)
                }
                _ => {
                    index += 1;
                    all.push(&Value::Unit)
                }
            };
            pushed.map_err(failed)?;
        }
        Ok(all)
    }

    /// Whether the slots from `first` on hold all of `pack`'s results, in order.
    fn whole_pack_at(&self, first: usize, pack: u32) -> bool {
        let len = self.packs[pack as usize].len();
        self.results.get(first..first + len).is_some_and(|slots| {
            slots
                .iter()
                .zip(0..)
                .all(|(slot, at)| *slot == Slot::Done { pack, at })
        })
    }

    /// The chunk `first..end` failed at `index`: the items before it were
    /// computed but their results went with the worker, the ones after it
    /// were never started.
    pub fn failed_at(&mut self, first: usize, index: usize, end: usize, failure: Failure) {
        let message = failure.message.clone();
        // The item the worker was on first: it is the job's error.
        self.record_failure(index, failure);
        for earlier in first..index {
            self.record_failure(
                earlier,
                format!(
                    "{message} (the result of item {earlier} of the same chunk was lost with it)"
                )
                .into(),
            );
        }
        for later in index + 1..end {
            self.record_failure(
                later,
                format!("{message} (item {later} of the same chunk was not computed)").into(),
            );
        }
    }

    /// Fails every item without a result (the pool was terminated).
    pub fn abandon(&mut self, message: &str) {
        for index in 0..self.results.len() {
            self.record_failure(index, message.into());
        }
    }

    /// Done: every result is in, or a non-`imap` job failed (its remaining
    /// chunks are not worth computing).
    pub fn is_done(&self) -> bool {
        self.remaining == 0 || (self.failed.is_some() && !matches!(self.kind, JobKind::Imap { .. }))
    }

    pub fn successful(&self) -> bool {
        self.failed.is_none()
    }

    /// The answer to `ask`, or `None` while it must wait.
    pub fn answer(&mut self, ask: JobAsk) -> Option<Answer> {
        self.watched = true;
        match ask {
            JobAsk::Wait => self.is_done().then_some(Answer::Value(Value::Bool(true))),
            JobAsk::Get => {
                if !self.is_done() {
                    return None;
                }
                if let Some(e) = &self.failed {
                    return Some(Answer::Error(e.clone()));
                }
                Some(match self.kind {
                    JobKind::Apply if self.results.is_empty() => Answer::Value(Value::Unit),
                    JobKind::Apply => self.item(0)?,
                    _ => match self.all_items() {
                        Ok(items) => Answer::Items(items),
                        Err(e) => Answer::Error(e),
                    },
                })
            }
            JobAsk::Next => {
                let index = match self.kind {
                    JobKind::Imap { ordered: false } => {
                        if self.given == self.results.len() {
                            return Some(Answer::End);
                        }
                        self.finished.pop_front()?
                    }
                    _ => {
                        if self.cursor == self.results.len() {
                            return Some(Answer::End);
                        }
                        if self.results[self.cursor] == Slot::Pending {
                            return None;
                        }
                        self.cursor += 1;
                        self.cursor - 1
                    }
                };
                self.given += 1;
                Some(self.item(index).unwrap_or(Answer::End))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(kind: JobKind, n: usize) -> Job {
        Job::new(
            FnRef {
                name: "f".into(),
                curry: vec![],
            },
            false,
            kind,
            "map".into(),
            n,
            std::time::Instant::now(),
        )
    }

    fn packed(values: &[Value]) -> Packed {
        Packed::from_values(values).unwrap()
    }

    fn ints(values: &[i64]) -> Packed {
        packed(&values.iter().copied().map(Value::Int).collect::<Vec<_>>())
    }

    fn sizes(items: usize, chunking: Chunking) -> Vec<usize> {
        let items: Vec<Value> = (0..items as i64).map(Value::Int).collect();
        let chunks = Job::chunks(packed(&items), chunking);
        let mut next = 0;
        for (first, chunk) in &chunks {
            assert_eq!(*first, next, "chunks are consecutive");
            for (at, item) in chunk.values().enumerate() {
                assert_eq!(item.unwrap(), items[first + at], "each item in its place");
            }
            next += chunk.len();
        }
        chunks.iter().map(|(_, c)| c.len()).collect()
    }

    #[test]
    fn fixed_chunks_have_the_callers_size() {
        assert_eq!(sizes(10, Chunking::Fixed(4)), [4, 4, 2]);
        assert_eq!(sizes(3, Chunking::Fixed(1)), [1, 1, 1]);
        assert_eq!(sizes(0, Chunking::Fixed(3)), Vec::<usize>::new());
    }

    #[test]
    fn guided_chunks_shrink_to_one_item() {
        let guided = Chunking::Guided { workers: 2 };
        assert_eq!(sizes(40, guided), [10, 8, 6, 4, 3, 3, 2, 1, 1, 1, 1]);
        let big = sizes(200_000, guided);
        assert_eq!(big[0], 50_000);
        assert!(big.len() < 60, "{} chunks", big.len());
        assert!(big.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(big.last(), Some(&1));
        assert_eq!(
            sizes(
                5,
                Chunking::Guided {
                    workers: usize::MAX
                }
            ),
            [1, 1, 1, 1, 1]
        );
    }

    #[test]
    fn a_result_slot_stays_small() {
        // A job holds one per item: 200,000 items must not cost megabytes.
        assert!(std::mem::size_of::<Slot>() <= 16);
    }

    #[test]
    fn map_results_land_in_input_order() {
        let mut j = job(JobKind::Map, 4);
        j.succeeded(2, ints(&[20, 30]));
        assert_eq!(j.answer(JobAsk::Get), None);
        j.succeeded(0, ints(&[0, 10]));
        assert_eq!(
            j.answer(JobAsk::Get),
            Some(Answer::Items(ints(&[0, 10, 20, 30])))
        );
    }

    #[test]
    fn results_of_a_chunk_run_twice_land_once() {
        // A chunk queued again after its worker died may report after the
        // first run's results are in: the first result of each item stays.
        let mut j = job(JobKind::Map, 4);
        j.succeeded(1, ints(&[10, 20]));
        j.succeeded(0, ints(&[0, 11, 21, 30]));
        assert_eq!(
            j.answer(JobAsk::Get),
            Some(Answer::Items(ints(&[0, 10, 20, 30])))
        );
    }

    #[test]
    fn ordered_imap_waits_for_the_next_index_and_unordered_does_not() {
        let mut ordered = job(JobKind::Imap { ordered: true }, 2);
        let mut unordered = job(JobKind::Imap { ordered: false }, 2);
        for j in [&mut ordered, &mut unordered] {
            j.succeeded(1, ints(&[1]));
        }
        assert_eq!(ordered.answer(JobAsk::Next), None);
        assert_eq!(
            unordered.answer(JobAsk::Next),
            Some(Answer::Value(Value::Int(1)))
        );
        for j in [&mut ordered, &mut unordered] {
            j.failed_at(0, 0, 1, "boom".into());
        }
        assert_eq!(
            ordered.answer(JobAsk::Next),
            Some(Answer::Error(Failure::from("boom")))
        );
        assert_eq!(
            ordered.answer(JobAsk::Next),
            Some(Answer::Value(Value::Int(1)))
        );
        assert_eq!(ordered.answer(JobAsk::Next), Some(Answer::End));
        assert_eq!(
            unordered.answer(JobAsk::Next),
            Some(Answer::Error(Failure::from("boom")))
        );
        assert_eq!(unordered.answer(JobAsk::Next), Some(Answer::End));
    }

    #[test]
    fn a_failed_map_is_done_at_once_with_the_error() {
        let mut j = job(JobKind::Map, 6);
        j.failed_at(2, 2, 4, "bad".into());
        assert!(j.is_done());
        assert_eq!(
            j.answer(JobAsk::Get),
            Some(Answer::Error(Failure::from("bad")))
        );
        assert!(!j.successful());
    }
}
