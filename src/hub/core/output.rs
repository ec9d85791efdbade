//! The hub's stdout and stderr: every interpreter's lines are buffered here
//! and written between events, so lines from many processes never mix.
//! With `--tag-output` a worker's lines are prefixed with its name; with
//! `--ordered-output` a worker's lines are held until it ends, then written
//! together, in the order the workers were made.
//! Nothing here writes to a descriptor: the driver's `writer` does, between
//! events.
//!
//! The progress bars (`progress`) reach stderr through here too, as bytes
//! kept apart from the lines: those that clear the bars are written before
//! the lines, those that draw them again after, so a bar never lands in the
//! middle of a line nor a line in a bar.

use std::collections::BTreeMap;

use crate::wire::{ProcId, Stream};

#[derive(Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    tag: bool,
    ordered: bool,
    /// `--ordered-output`: each worker's lines until it ends, by creation order.
    held: BTreeMap<ProcId, Held>,
    /// Progress-bar bytes written before the lines (they end with the bars
    /// cleared whenever lines are waiting) ...
    bars_before: Vec<u8>,
    /// ... and after them: the bars drawn again.
    bars_after: Vec<u8>,
    /// stdout is the bars' terminal too: its lines also wait for a clear.
    bars_share_stdout: bool,
}

#[derive(Default)]
struct Held {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    ended: bool,
}

impl Output {
    pub fn new(tag: bool, ordered: bool) -> Output {
        Output {
            tag,
            ordered,
            ..Output::default()
        }
    }

    /// Lines from an interpreter: `worker` names it unless it is the main
    /// script, whose lines are never tagged or held.
    pub fn write(&mut self, who: ProcId, worker: Option<&str>, stream: Stream, text: &str) {
        let tagged;
        let text = match worker {
            Some(name) if self.tag => {
                tagged = tag_lines(name, text);
                tagged.as_str()
            }
            _ => text,
        };
        let (stdout, stderr) = match worker {
            Some(_) if self.ordered => {
                let held = self.held.entry(who).or_default();
                (&mut held.stdout, &mut held.stderr)
            }
            _ => (&mut self.stdout, &mut self.stderr),
        };
        match stream {
            Stream::Stdout => stdout.extend_from_slice(text.as_bytes()),
            Stream::Stderr => stderr.extend_from_slice(text.as_bytes()),
        }
    }

    /// A worker started: with `--ordered-output`, the workers made after it
    /// wait for it to end, whether or not it has printed anything yet.
    pub fn worker_started(&mut self, who: ProcId) {
        if self.ordered {
            self.held.entry(who).or_default();
        }
    }

    /// A worker ended: its held lines, and those of every ended worker made
    /// after it up to the first still running, are written.
    pub fn process_ended(&mut self, who: ProcId) {
        if let Some(held) = self.held.get_mut(&who) {
            held.ended = true;
        }
        while let Some(entry) = self.held.first_entry() {
            if !entry.get().ended {
                break;
            }
            let held = entry.remove();
            self.stdout.extend_from_slice(&held.stdout);
            self.stderr.extend_from_slice(&held.stderr);
        }
    }

    /// The run is ending: whatever is held is written, in order.
    pub fn release_all(&mut self) {
        for (_, held) in std::mem::take(&mut self.held) {
            self.stdout.extend_from_slice(&held.stdout);
            self.stderr.extend_from_slice(&held.stderr);
        }
    }

    /// stdout is the terminal the bars are drawn on (stderr's).
    pub fn share_bars_with_stdout(&mut self) {
        self.bars_share_stdout = true;
    }

    /// Whether lines wait to be written where the bars are: stderr's, and
    /// stdout's when it is the same terminal.
    fn lines_pending(&self) -> bool {
        !self.stderr.is_empty() || (self.bars_share_stdout && !self.stdout.is_empty())
    }

    /// Lines wait to be written and nothing queued clears the bars before
    /// them yet: `queue_bars_around_lines` must.
    pub fn lines_need_clear(&self) -> bool {
        self.lines_pending() && self.bars_after.is_empty()
    }

    /// Bar bytes are queued and not yet written.
    pub fn bars_pending(&self) -> bool {
        !self.bars_before.is_empty() || !self.bars_after.is_empty()
    }

    /// Bar bytes that clear the bars (`before`, written ahead of the waiting
    /// lines) and draw them again (`after`, written once the lines are).
    pub fn queue_bars_around_lines(&mut self, before: Vec<u8>, after: Vec<u8>) {
        self.bars_before.extend_from_slice(&before);
        self.bars_after.extend_from_slice(&after);
    }

    /// Bar bytes that change what the bars show: after whatever bar bytes
    /// are already queued.
    pub fn queue_bars(&mut self, bytes: Vec<u8>) {
        if self.bars_after.is_empty() {
            self.bars_before.extend_from_slice(&bytes);
        } else {
            self.bars_after.extend_from_slice(&bytes);
        }
    }

    /// The buffers to write, in order: the bars' clear, stdout's lines,
    /// stderr's lines (the driver's `writer` empties them).
    pub fn lines_to_write(&mut self) -> [&mut Vec<u8>; 3] {
        [&mut self.bars_before, &mut self.stdout, &mut self.stderr]
    }

    /// The bars drawn again, once no line waits to go before them.
    pub fn bars_to_write_after(&mut self) -> Option<&mut Vec<u8>> {
        (!self.lines_pending()).then_some(&mut self.bars_after)
    }
}

/// `text` with `[name] ` before each of its lines.
fn tag_lines(name: &str, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive('\n') {
        out.push('[');
        out.push_str(name);
        out.push_str("] ");
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_go_before_every_line() {
        assert_eq!(
            tag_lines("Process-2", "a\nb\n"),
            "[Process-2] a\n[Process-2] b\n"
        );
    }

    #[test]
    fn held_lines_come_out_in_creation_order_once_ended() {
        let mut out = Output::new(false, true);
        out.write(3, Some("Process-2"), Stream::Stdout, "b1\n");
        out.write(2, Some("Process-1"), Stream::Stdout, "a1\n");
        out.write(1, None, Stream::Stdout, "main\n");
        out.write(3, Some("Process-2"), Stream::Stdout, "b2\n");
        out.process_ended(3);
        assert_eq!(out.stdout, b"main\n");
        out.write(2, Some("Process-1"), Stream::Stdout, "a2\n");
        out.process_ended(2);
        assert_eq!(out.stdout, b"main\na1\na2\nb1\nb2\n");
    }

    #[test]
    fn a_worker_that_has_not_printed_yet_still_comes_first() {
        let mut out = Output::new(false, true);
        out.worker_started(2);
        out.worker_started(3);
        out.write(3, Some("Process-2"), Stream::Stdout, "b\n");
        out.process_ended(3);
        assert_eq!(out.stdout, b"");
        out.write(2, Some("Process-1"), Stream::Stdout, "a\n");
        out.process_ended(2);
        assert_eq!(out.stdout, b"a\nb\n");
    }
}
