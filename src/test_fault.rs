//! Fault points for tests: a debug build stops at the named point when the
//! environment variable `MPHOST_TEST_FAULT` names it, so a test can kill a
//! process exactly where no signal could be aimed (between a ring change
//! and the `Wake` that announces it). A release build has none.

/// A process that puts into a queue's ring waits until a getter is parked
/// on it, then dies after its put and before its `Wake`.
pub const DIE_BETWEEN_PUT_AND_WAKE: &str = "die-between-put-and-wake";

/// A process that has put an item into a queue's ring then writes an
/// impossible position into the ring's header, once, as a process gone
/// wrong could: the hub must refuse to follow it.
pub const DAMAGE_RING_AFTER_PUT: &str = "damage-ring-after-put";

/// A process putting the string "stop here" into a queue's ring stops
/// (SIGSTOP) inside it, holding it: a holder that is alive but stuck.
pub const STOP_INSIDE_RING: &str = "stop-inside-ring";

/// A worker host dies right after it takes a run's queued worker, before
/// it starts it or tells the run anything.
pub const HOST_DIES_AFTER_TAKING: &str = "host-dies-after-taking";

/// Whether this process runs with fault point `point` switched on.
#[cfg(debug_assertions)]
pub fn enabled(point: &str) -> bool {
    use std::sync::OnceLock;
    static CHOSEN: OnceLock<Option<String>> = OnceLock::new();
    CHOSEN
        .get_or_init(|| std::env::var("MPHOST_TEST_FAULT").ok())
        .as_deref()
        == Some(point)
}

#[cfg(not(debug_assertions))]
pub fn enabled(_point: &str) -> bool {
    false
}

/// Stops here until continued, as a process sent SIGSTOP.
pub fn stop() {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
}

/// Dies here, as a process killed by SIGKILL.
pub fn die() -> ! {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    // SAFETY: ends the process at once if the signal somehow did not.
    unsafe { libc::_exit(137) }
}
