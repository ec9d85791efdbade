//! The collecting half of `mphost run --trace`: the hub keeps what the run
//! looked like and writes it, when the run ends, as a Chrome trace-event
//! file (`{"traceEvents": [...]}`, for Perfetto or `chrome://tracing`).
//!
//! Each process is a track of its own (its OS pid as `pid` and `tid`, named
//! by `process_name`/`thread_name` metadata, in creation order): a complete
//! event over its life, which the hub measures itself (from just before the
//! fork to the reap, with the exit status), and inside it the spans the
//! process measured and sent (`crate::trace_recorder`): each pool task, each call in
//! which it waited. Timestamps are microseconds of `CLOCK_MONOTONIC` since
//! the hub started.
//!
//! Runs only in the hub and only keeps and writes: it never answers,
//! parks or signals anyone, so a traced run behaves as an untraced one. The
//! file is opened before the run (`TraceFile::create`), so a path that
//! cannot be written is refused before any script runs. At most
//! `MAX_SPANS` task and blocked spans are kept; later ones are counted,
//! said once on stderr, and noted in the file's `otherData`.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::processes::ExitStatus;
use super::{Core, Host};
use crate::wire::{ProcId, TraceEvent, TraceSpan};

/// The most task and blocked spans a trace keeps (about 40 MB in the hub).
const MAX_SPANS: usize = 1_000_000;

/// A trace file that could not be made or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the trace {}: {reason}", path.display())]
pub struct TraceError {
    path: PathBuf,
    reason: String,
}

impl TraceError {
    fn new(path: &Path, error: &std::io::Error) -> Self {
        let reason = match error.kind() {
            ErrorKind::NotFound => "its folder does not exist".to_string(),
            ErrorKind::IsADirectory => "is a directory".to_string(),
            ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => error.to_string(),
        };
        TraceError {
            path: path.to_path_buf(),
            reason,
        }
    }
}

/// Where the trace goes: made (emptied) before the run, written at its end.
pub struct TraceFile {
    path: PathBuf,
    file: File,
}

impl TraceFile {
    pub fn create(path: &Path) -> Result<TraceFile, TraceError> {
        let file = File::create(path).map_err(|e| TraceError::new(path, &e))?;
        Ok(TraceFile {
            path: path.to_path_buf(),
            file,
        })
    }
}

/// One process's track.
struct Track {
    name: String,
    pid: i32,
    start_ns: u64,
    end: Option<(u64, ExitStatus)>,
}

/// A task or blocked span, kept small: its names are interned.
struct Span {
    pid: i32,
    start_ns: u64,
    end_ns: u64,
    name: u32,
    detail: Detail,
}

enum Detail {
    Task {
        first: usize,
        count: usize,
        failed: Option<usize>,
    },
    Blocked {
        on: u32,
    },
}

/// The run as the trace will show it.
pub struct Trace {
    file: TraceFile,
    /// The hub's start: time 0 of the trace.
    origin_ns: u64,
    /// When the run ended: the end of processes still running then.
    ended_ns: Option<u64>,
    tracks: BTreeMap<ProcId, Track>,
    spans: Vec<Span>,
    names: Vec<String>,
    name_ids: HashMap<String, u32>,
    /// `MAX_SPANS`, but for tests.
    max_spans: usize,
    dropped: u64,
}

impl Trace {
    pub fn new(file: TraceFile) -> Trace {
        Trace {
            file,
            origin_ns: crate::trace_recorder::now_ns(),
            ended_ns: None,
            tracks: BTreeMap::new(),
            spans: Vec::new(),
            names: Vec::new(),
            name_ids: HashMap::new(),
            max_spans: MAX_SPANS,
            dropped: 0,
        }
    }

    fn intern(&mut self, name: String) -> u32 {
        if let Some(&id) = self.name_ids.get(&name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.clone());
        self.name_ids.insert(name, id);
        id
    }

    /// Keeps `events` from process `from`; true the first time the cap
    /// turns spans away.
    fn add(&mut self, from: ProcId, events: Vec<TraceEvent>) -> bool {
        let Some(pid) = self.tracks.get(&from).map(|t| t.pid) else {
            return false;
        };
        let first_drop = self.dropped == 0;
        for event in events {
            if self.spans.len() >= self.max_spans {
                self.dropped += 1;
                continue;
            }
            let (name, detail) = match event.span {
                TraceSpan::Task {
                    call,
                    function,
                    first,
                    count,
                    failed,
                } => (
                    self.intern(format!("{call} {function}")),
                    Detail::Task {
                        first,
                        count,
                        failed,
                    },
                ),
                TraceSpan::Blocked { what, on } => (
                    self.intern(format!("blocked: {what}")),
                    Detail::Blocked {
                        on: self.intern(on),
                    },
                ),
            };
            self.spans.push(Span {
                pid,
                start_ns: event.start_ns,
                end_ns: event.end_ns,
                name,
                detail,
            });
        }
        first_drop && self.dropped > 0
    }

    /// Microseconds since the hub started.
    fn micros(&self, ns: u64) -> f64 {
        ns.saturating_sub(self.origin_ns) as f64 / 1000.0
    }

    /// Writes the whole trace, one event at a time.
    /// Writes the file (the driver's call, at the end of the run).
    pub fn write(self) -> Result<(), TraceError> {
        let path = self.file.path.clone();
        let mut out = BufWriter::new(&self.file.file);
        self.write_to(&mut out)
            .and_then(|()| out.flush())
            .map_err(|e| TraceError::new(&path, &e))
    }

    fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        let ended_ns = self.ended_ns.unwrap_or_else(crate::trace_recorder::now_ns);
        out.write_all(b"{\"traceEvents\":[\n")?;
        let mut first = true;
        let mut emit = |out: &mut dyn Write, event: &Event| -> std::io::Result<()> {
            if !std::mem::take(&mut first) {
                out.write_all(b",\n")?;
            }
            serde_json::to_writer(&mut *out, event).map_err(std::io::Error::other)
        };
        for (id, track) in &self.tracks {
            let meta = |name, args| Event {
                name,
                cat: None,
                ph: "M",
                ts: 0.0,
                dur: None,
                pid: track.pid,
                tid: track.pid,
                args,
            };
            let named = || Args::Name { name: &track.name };
            emit(out, &meta("process_name", named()))?;
            emit(out, &meta("thread_name", named()))?;
            emit(
                out,
                &meta("process_sort_index", Args::SortIndex { sort_index: *id }),
            )?;
            let (end_ns, exit, exitcode) = match track.end {
                Some((at, status)) => (at, status.describe(), Some(status.exitcode())),
                None => (
                    ended_ns.max(track.start_ns),
                    "still running when the run ended; stopped by mphost".to_string(),
                    None,
                ),
            };
            emit(
                out,
                &Event {
                    name: &track.name,
                    cat: Some("process"),
                    ph: "X",
                    ts: self.micros(track.start_ns),
                    dur: Some(end_ns.saturating_sub(track.start_ns) as f64 / 1000.0),
                    pid: track.pid,
                    tid: track.pid,
                    args: Args::Life { exit, exitcode },
                },
            )?;
        }
        for span in &self.spans {
            let (cat, args) = match span.detail {
                Detail::Task {
                    first,
                    count,
                    failed,
                } => (
                    "task",
                    Args::Task {
                        first,
                        count,
                        failed_item: failed,
                    },
                ),
                Detail::Blocked { on } => (
                    "blocked",
                    Args::Blocked {
                        on: &self.names[on as usize],
                    },
                ),
            };
            emit(
                out,
                &Event {
                    name: &self.names[span.name as usize],
                    cat: Some(cat),
                    ph: "X",
                    ts: self.micros(span.start_ns),
                    dur: Some(span.end_ns.saturating_sub(span.start_ns) as f64 / 1000.0),
                    pid: span.pid,
                    tid: span.pid,
                    args,
                },
            )?;
        }
        out.write_all(b"\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":")?;
        let note = (self.dropped > 0).then(|| {
            format!(
                "only the first {} task and blocked spans were kept; {} more were left out",
                self.max_spans, self.dropped
            )
        });
        let other = OtherData {
            tool: concat!("mphost ", env!("CARGO_PKG_VERSION")),
            clock: "CLOCK_MONOTONIC, microseconds since mphost started",
            dropped_spans: self.dropped,
            note,
        };
        serde_json::to_writer(&mut *out, &other).map_err(std::io::Error::other)?;
        out.write_all(b"}\n")
    }
}

/// One trace event, as the format spells it.
#[derive(Serialize)]
struct Event<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cat: Option<&'static str>,
    ph: &'static str,
    ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: i32,
    tid: i32,
    args: Args<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Args<'a> {
    Name {
        name: &'a str,
    },
    SortIndex {
        sort_index: ProcId,
    },
    Life {
        exit: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        exitcode: Option<i32>,
    },
    Task {
        first: usize,
        count: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        failed_item: Option<usize>,
    },
    Blocked {
        on: &'a str,
    },
}

#[derive(Serialize)]
struct OtherData {
    tool: &'static str,
    clock: &'static str,
    dropped_spans: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// The hub's side: each hook does nothing unless the run is traced.
impl<H: Host> Core<H> {
    /// The time a process is about to be forked, if the run is traced.
    pub(super) fn trace_clock(&self) -> Option<u64> {
        self.trace.as_ref().map(|_| crate::trace_recorder::now_ns())
    }

    /// Process `id` was forked as `pid` at `start_ns` (from `trace_clock`).
    pub(super) fn trace_started(&mut self, id: ProcId, pid: i32, start_ns: Option<u64>) {
        let (Some(trace), Some(start_ns)) = (self.trace.as_mut(), start_ns) else {
            return;
        };
        let name = self
            .procs
            .get(id)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        trace.tracks.insert(
            id,
            Track {
                name,
                pid,
                start_ns,
                end: None,
            },
        );
    }

    pub(super) fn trace_ended(&mut self, id: ProcId, status: ExitStatus) {
        if let Some(track) = self.trace.as_mut().and_then(|t| t.tracks.get_mut(&id)) {
            track.end = Some((crate::trace_recorder::now_ns(), status));
        }
    }

    /// `Request::Trace`: spans process `from` measured.
    pub(super) fn trace_spans(&mut self, from: ProcId, events: Vec<TraceEvent>) {
        let Some(trace) = self.trace.as_mut() else {
            return;
        };
        if trace.add(from, events) {
            self.warn(format!(
                "the trace keeps at most {MAX_SPANS} task and blocked spans; later ones are left out"
            ));
        }
    }

    /// The run is ending: processes still running are stopped now.
    pub(super) fn trace_run_ended(&mut self) {
        if let Some(trace) = self.trace.as_mut() {
            trace
                .ended_ns
                .get_or_insert_with(crate::trace_recorder::now_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace_in(dir: &Path) -> Trace {
        Trace::new(TraceFile::create(&dir.join("t.json")).expect("create"))
    }

    fn blocked(start_ns: u64, end_ns: u64) -> TraceEvent {
        TraceEvent {
            start_ns,
            end_ns,
            span: TraceSpan::Blocked {
                what: "queue get".into(),
                on: "Queue(#1)".into(),
            },
        }
    }

    #[test]
    fn spans_of_an_unknown_process_are_ignored_and_the_cap_counts_the_rest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut trace = trace_in(dir.path());
        assert!(!trace.add(9, vec![blocked(1, 2)]));
        assert!(trace.spans.is_empty());
        trace.tracks.insert(
            1,
            Track {
                name: "MainProcess".into(),
                pid: 42,
                start_ns: 0,
                end: None,
            },
        );
        trace.max_spans = 10;
        let many: Vec<TraceEvent> = (0..12).map(|i| blocked(i, i + 1)).collect();
        assert!(trace.add(1, many), "the first drop is reported");
        assert!(!trace.add(1, vec![blocked(1, 2)]), "and only once");
        assert_eq!(trace.spans.len(), 10);
        assert_eq!(trace.dropped, 3);
        assert_eq!(trace.names, ["blocked: queue get", "Queue(#1)"]);
    }

    #[test]
    fn the_file_is_trace_event_json_with_a_track_per_process() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut trace = trace_in(dir.path());
        let origin = trace.origin_ns;
        trace.tracks.insert(
            1,
            Track {
                name: "MainProcess".into(),
                pid: 42,
                start_ns: origin,
                end: Some((origin + 5_000_000, ExitStatus::Code(0))),
            },
        );
        trace.tracks.insert(
            2,
            Track {
                name: "PoolWorker-1".into(),
                pid: 43,
                start_ns: origin + 1_000,
                end: None,
            },
        );
        let task = TraceEvent {
            start_ns: origin + 2_000,
            end_ns: origin + 3_500,
            span: TraceSpan::Task {
                call: "map".into(),
                function: "cube".into(),
                first: 4,
                count: 2,
                failed: None,
            },
        };
        trace.add(2, vec![task]);
        trace.add(1, vec![blocked(origin + 1_000_000, origin + 3_000_000)]);
        trace.write().expect("write");
        let text = std::fs::read_to_string(dir.path().join("t.json")).expect("read");
        let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let events = json["traceEvents"].as_array().expect("traceEvents");
        let find = |name: &str, ph: &str| {
            events
                .iter()
                .find(|e| e["name"] == name && e["ph"] == ph)
                .unwrap_or_else(|| panic!("no {ph} event {name} in {text}"))
        };
        assert_eq!(find("process_name", "M")["args"]["name"], "MainProcess");
        let life = find("MainProcess", "X");
        assert_eq!(
            (life["ts"].as_f64(), life["dur"].as_f64()),
            (Some(0.0), Some(5000.0))
        );
        assert_eq!(life["args"]["exitcode"], 0);
        let worker = find("PoolWorker-1", "X");
        assert_eq!(worker["pid"], 43);
        assert!(
            worker["args"]["exit"]
                .as_str()
                .is_some_and(|s| s.contains("still running"))
        );
        let task = find("map cube", "X");
        assert_eq!(
            (task["pid"].as_i64(), task["tid"].as_i64()),
            (Some(43), Some(43))
        );
        assert_eq!(
            (task["ts"].as_f64(), task["dur"].as_f64()),
            (Some(2.0), Some(1.5))
        );
        assert_eq!(
            (
                task["args"]["first"].as_u64(),
                task["args"]["count"].as_u64()
            ),
            (Some(4), Some(2))
        );
        let wait = find("blocked: queue get", "X");
        assert_eq!(wait["args"]["on"], "Queue(#1)");
        assert_eq!(wait["dur"].as_f64(), Some(2000.0));
        assert_eq!(json["displayTimeUnit"], "ms");
        assert_eq!(json["otherData"]["dropped_spans"], 0);
    }
}
