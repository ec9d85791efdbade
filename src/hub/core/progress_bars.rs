//! The progress bars of long pool maps, on stderr when it is a terminal.
//!
//! What it owns: an indicatif `MultiProgress` with one bar per job that
//! somebody waits for and that has run for `DELAY` (`pool_map`, `map`,
//! `starmap`, `imap`, `imap_unordered`, and the `_async` variants once their
//! result is asked for; never `apply`): the items done of the total, the
//! rate and the time left. A bar goes as soon as its job is done, failed or
//! forgotten, and all of them at the end of the run. `DELAY` keeps short
//! maps from flashing a bar; several jobs at once get a bar each.
//!
//! What it must not do: start a thread or write to a descriptor. The hub
//! has one thread so that `fork` is safe, so there is no steady tick: the
//! event loop calls `Core::frame_progress` before each flush and wakes itself
//! every `TICK` while a bar is shown. The bars draw into a byte buffer
//! (indicatif's `TermLike`), which `output::Output` writes to stderr with
//! the processes' lines: the bars cleared before those lines and drawn again
//! after them, so neither garbles the other (stdout's lines too, when stdout
//! is the same terminal), and a terminal that stops reading blocks nothing
//! (output's writes still hear signals).

use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{
    MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike,
};

use super::pools::JobId;
use super::{Core, Host};

/// How long a job runs before its bar appears: shorter maps show none.
const DELAY: Duration = Duration::from_millis(500);
/// How often a shown bar is redrawn (the elapsed time and rate move on even
/// when no item finishes).
const TICK: Duration = Duration::from_millis(100);
/// Columns left free at the end of a bar line (see `Screen`).
const ECHO_ROOM: u16 = 3;
/// The call, the bar, items done of the total, the rate and the time left,
/// both from the average since the job started (steady, and right for the
/// usual map of alike items).
const TEMPLATE: &str = "{msg:>8} [{bar:30}] {pos}/{len} items, {rate}, {left} left";

pub struct Progress {
    /// `--no-progress` was not given and stderr is a terminal.
    enabled: bool,
    /// stdout is the terminal the bars are on: its lines clear them too.
    stdout_shares: bool,
    multi: MultiProgress,
    screen: Screen,
    bars: BTreeMap<JobId, ProgressBar>,
    style: ProgressStyle,
    last_draw: Instant,
    /// When `frame_progress` next has something to do, if ever.
    wake: Option<Instant>,
}

/// A job that should have a bar now: its id, name, items and items done.
struct Wanted {
    job: JobId,
    call: String,
    total: u64,
    done: u64,
    started: Instant,
}

impl Progress {
    /// Bars are shown only if `allowed` (no `--no-progress`) and stderr is
    /// a terminal.
    pub fn new(allowed: bool) -> Progress {
        let enabled = allowed && std::io::stderr().is_terminal();
        let screen = Screen::default();
        let target = ProgressDrawTarget::term_like(Box::new(screen.clone()));
        let style = ProgressStyle::with_template(TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("rate", |state: &ProgressState, w: &mut dyn fmt::Write| {
                let _ = match rate(state.pos(), state.elapsed()) {
                    Some(r) if r < 10.0 => write!(w, "{r:.1}/s"),
                    Some(r) => write!(w, "{r:.0}/s"),
                    None => write!(w, "-/s"),
                };
            })
            .with_key("left", |state: &ProgressState, w: &mut dyn fmt::Write| {
                let (pos, len) = (state.pos(), state.len().unwrap_or(0));
                let _ = match rate(pos, state.elapsed()) {
                    Some(r) => write!(w, "{}", short_duration(len.saturating_sub(pos) as f64 / r)),
                    None => write!(w, "?"),
                };
            })
            .progress_chars("=> ");
        Progress {
            enabled,
            stdout_shares: enabled && same_terminal(),
            multi: MultiProgress::with_draw_target(target),
            screen,
            bars: BTreeMap::new(),
            style,
            last_draw: Instant::now(),
            wake: None,
        }
    }

    /// Whether stdout is the terminal the bars are on.
    pub fn shares_stdout(&self) -> bool {
        self.stdout_shares
    }

    /// When the event loop should wake for the bars, at the latest.
    pub fn wake(&self) -> Option<Instant> {
        self.wake
    }

    /// Removes every bar; the bytes that clear them. Nothing is shown after.
    pub fn end(&mut self) -> Vec<u8> {
        if !self.enabled {
            return Vec::new();
        }
        self.enabled = false;
        self.wake = None;
        for (_, bar) in std::mem::take(&mut self.bars) {
            self.multi.remove(&bar);
        }
        let _ = self.multi.clear();
        self.screen.take()
    }

    /// Brings the bars to `wanted`: drops those of jobs no longer wanted,
    /// adds new ones, and moves every bar on if a tick is due.
    fn sync(&mut self, wanted: Vec<Wanted>, now: Instant) {
        let mut changed = false;
        let gone: Vec<JobId> = self
            .bars
            .keys()
            .filter(|job| !wanted.iter().any(|w| w.job == **job))
            .copied()
            .collect();
        for job in gone {
            if let Some(bar) = self.bars.remove(&job) {
                bar.finish_and_clear();
                self.multi.remove(&bar);
                changed = true;
            }
        }
        let due = changed || now.saturating_duration_since(self.last_draw) >= TICK;
        for w in wanted {
            match self.bars.get(&w.job) {
                Some(bar) if due => bar.update(|state| state.set_pos(w.done)),
                Some(_) => {}
                None => {
                    let bar =
                        ProgressBar::with_draw_target(Some(w.total), ProgressDrawTarget::hidden())
                            .with_style(self.style.clone())
                            .with_message(w.call)
                            .with_position(w.done)
                            .with_elapsed(now.saturating_duration_since(w.started));
                    let bar = self.multi.add(bar);
                    bar.tick();
                    self.bars.insert(w.job, bar);
                }
            }
        }
        if due {
            self.last_draw = now;
        }
    }

    /// Clears the bars for lines to be written, then syncs them: the bytes
    /// to write before the lines, and after.
    fn around_lines(&mut self, wanted: Vec<Wanted>, now: Instant) -> (Vec<u8>, Vec<u8>) {
        let mut before = Vec::new();
        self.multi.suspend(|| before = self.screen.take());
        self.sync(wanted, now);
        (before, self.screen.take())
    }
}

impl<H: Host> Core<H> {
    /// Brings the progress bars up to date with the jobs and queues their
    /// bytes in the output, around any lines waiting to be written.
    pub fn frame_progress(&mut self) {
        if !self.progress.enabled {
            return;
        }
        let now = self.host.now();
        let mut wanted = Vec::new();
        let mut wake: Option<Instant> = None;
        for (&job_id, (_, job)) in &self.jobs {
            if !job.shows_progress() {
                continue;
            }
            let shown_at = job.started + DELAY;
            if shown_at > now {
                wake = Some(wake.map_or(shown_at, |w| w.min(shown_at)));
                continue;
            }
            let (total, done) = job.counts();
            wanted.push(Wanted {
                job: job_id,
                call: job.call.clone(),
                total: total as u64,
                done: done as u64,
                started: job.started,
            });
        }
        let progress = &mut self.progress;
        if progress.bars.is_empty() && wanted.is_empty() {
            progress.wake = wake;
            return;
        }
        if self.output.lines_need_clear() {
            let (before, after) = progress.around_lines(wanted, now);
            self.output.queue_bars_around_lines(before, after);
        } else if self.output.bars_pending() {
            // What is queued goes first: the bars move on once it is written
            // (nothing piles up while the terminal does not read).
            progress.wake = Some(now + TICK);
            return;
        } else {
            progress.sync(wanted, now);
            self.output.queue_bars(progress.screen.take());
        }
        if !progress.bars.is_empty() {
            let tick = progress.last_draw + TICK;
            wake = Some(wake.map_or(tick, |w| w.min(tick)));
        }
        progress.wake = wake;
    }

    /// The run is ending: the bars go before its last lines.
    pub(super) fn end_progress(&mut self) {
        let clear = self.progress.end();
        self.output.queue_bars(clear);
    }
}

/// Items a second over `elapsed`, once there is something to go by.
fn rate(done: u64, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    (done > 0 && secs > 0.0).then(|| done as f64 / secs)
}

/// `7s`, `3m 05s`, `2h 03m`.
fn short_duration(secs: f64) -> String {
    let secs = secs.ceil().min(f64::from(u32::MAX)) as u64;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// Whether stdout is the terminal stderr is (so its lines land among the bars).
fn same_terminal() -> bool {
    let (out, err) = (std::io::stdout(), std::io::stderr());
    if !out.is_terminal() {
        return false;
    }
    let (a, b) = (
        nix::sys::stat::fstat(out.as_fd()).map(|s| s.st_rdev).ok(),
        nix::sys::stat::fstat(err.as_fd()).map(|s| s.st_rdev).ok(),
    );
    a.is_some() && a == b
}

/// The terminal as the bars see it: what they write is kept here for the
/// hub's output to write; the size is stderr's, asked each time (it may be
/// resized).
///
/// It tells indicatif the terminal is `ECHO_ROOM` columns narrower than it
/// is. indicatif pads each bar line to the width and starts the next line
/// where that one ends, counting on the terminal to wrap; a line that fills
/// the terminal leaves the cursor waiting to wrap, and the `^C` a terminal
/// echoes would then land on a new line that clearing the bars does not
/// reach. So the lines stop short, a `^C` lands on the last bar's own line
/// and is cleared with it, and this screen breaks lines itself where a
/// terminal of the narrower width would have wrapped them (bar lines are
/// ASCII: one column a character).
#[derive(Clone, Debug, Default)]
struct Screen {
    drawn: Arc<Mutex<Drawn>>,
}

#[derive(Debug, Default)]
struct Drawn {
    bytes: Vec<u8>,
    /// The cursor's column as the bars left it.
    column: usize,
}

impl Screen {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.drawn().bytes)
    }

    fn drawn(&self) -> std::sync::MutexGuard<'_, Drawn> {
        self.drawn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Text from the cursor on, broken into lines of the width indicatif
    /// was told, as a terminal of that width would wrap it.
    fn text(&self, text: &str) -> std::io::Result<()> {
        let width = usize::from(self.width());
        let mut drawn = self.drawn();
        let mut utf8 = [0; 4];
        for c in text.chars() {
            if drawn.column >= width {
                drawn.bytes.extend_from_slice(b"\r\n");
                drawn.column = 0;
            }
            drawn
                .bytes
                .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            drawn.column += 1;
        }
        Ok(())
    }

    /// Bytes that move the cursor: `column` is where they leave it, if
    /// they change it.
    fn control(&self, bytes: &str, column: Option<usize>) -> std::io::Result<()> {
        let mut drawn = self.drawn();
        drawn.bytes.extend_from_slice(bytes.as_bytes());
        if let Some(column) = column {
            drawn.column = column;
        }
        Ok(())
    }

    fn size() -> (u16, u16) {
        // SAFETY: TIOCGWINSZ fills a winsize; fd 2 stays open for the hub's life.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut size) } == 0;
        match (ok, size.ws_row, size.ws_col) {
            (true, rows, cols) if rows > 0 && cols > 0 => (rows, cols),
            _ => (24, 80),
        }
    }

    /// Moves the cursor `n` places (`code` A: up, B: down, C: right, D: left).
    fn cursor(&self, n: usize, code: char) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let column = self.drawn().column;
        let column = match code {
            'C' => Some(column + n),
            'D' => Some(column.saturating_sub(n)),
            _ => None,
        };
        self.control(&format!("\x1b[{n}{code}"), column)
    }
}

impl TermLike for Screen {
    fn width(&self) -> u16 {
        Screen::size().1.saturating_sub(ECHO_ROOM).max(20)
    }

    fn height(&self) -> u16 {
        Screen::size().0
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'D')
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.text(s)?;
        self.control("\n", Some(0))
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.text(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.control("\r\x1b[2K", Some(0))
    }

    fn flush(&self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_and_time_left_come_from_the_average_so_far() {
        assert_eq!(rate(0, Duration::from_secs(3)), None);
        assert_eq!(rate(30, Duration::from_secs(3)), Some(10.0));
        assert_eq!(short_duration(0.2), "1s");
        assert_eq!(short_duration(59.0), "59s");
        assert_eq!(short_duration(185.0), "3m 05s");
        assert_eq!(short_duration(7380.0), "2h 03m");
        assert_eq!(short_duration(f64::INFINITY), "1193046h 28m");
    }

    #[test]
    fn the_screen_breaks_lines_where_a_terminal_of_its_width_would_wrap() {
        let screen = Screen::default();
        let width = usize::from(screen.width());
        screen.write_str(&"a".repeat(width + 5)).unwrap();
        screen.write_str("bc").unwrap();
        screen.clear_line().unwrap();
        screen.write_str(&"d".repeat(width)).unwrap();
        let expected = format!(
            "{}\r\n{}bc\r\x1b[2K{}",
            "a".repeat(width),
            "a".repeat(5),
            "d".repeat(width)
        );
        assert_eq!(String::from_utf8(screen.take()).unwrap(), expected);
        // A full line leaves the cursor on it, a few columns from the edge.
        screen.write_str("").unwrap();
        assert!(screen.take().is_empty());
    }
}
