//! The signals the hub handles as events on a signalfd: children ending
//! (SIGCHLD) and requests to stop the whole run (SIGINT, SIGTERM, SIGHUP).
//! They are blocked in the hub so they arrive only through the descriptor;
//! `launch` unblocks them again in each child.

use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

pub const STOP_SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

pub fn install() -> nix::Result<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    for s in STOP_SIGNALS {
        mask.add(s);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)?;
    // SAFETY: SIG_IGN installs no handler code. A write to a socket whose
    // reader died must be an EPIPE error, not the hub's death.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}
