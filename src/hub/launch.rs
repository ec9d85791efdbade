//! Starting an interpreter process: fork from the hub, then make the child a
//! clean process before it runs a line of script.
//!
//! The hub is single-threaded, so `fork` is safe here (a multi-threaded
//! process could fork with a lock held by a thread that does not exist in the
//! child). In the child, before the interpreter starts:
//! 1. signals the hub blocks (for its signalfd) are unblocked, and SIGINT is
//!    ignored: a terminal's Ctrl-C reaches the whole process group, and the
//!    hub alone decides how the run stops;
//! 2. `PR_SET_PDEATHSIG` makes the kernel kill the child if the hub dies, even
//!    by SIGKILL; a hub that died before that call is caught by `getppid`;
//! 3. its socket to the hub moves to fd 3 and every other inherited descriptor
//!    is closed, so no child holds another's socket (EOF then means death).
//!
//! The child never returns into hub code: it ends in `_exit`.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, signal, sigprocmask};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::unistd::{ForkResult, Pid, fork, getppid};

use crate::interpreter::{self, HUB_FD, Identity, Role};
use crate::script::Program;

/// Forks a process that runs `role`; returns its pid and the hub's socket end.
pub fn launch(
    role: &Role,
    identity: Identity,
    program: &Program,
    hub_pid: Pid,
) -> nix::Result<(Pid, OwnedFd)> {
    let (hub_end, child_end) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    // SAFETY: the hub has a single thread (see the module doc), and the child
    // only calls async-signal-safe set-up before becoming an interpreter.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => {
            drop(child_end);
            nix::fcntl::fcntl(
                &hub_end,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            )?;
            Ok((child, hub_end))
        }
        ForkResult::Child => {
            become_clean_child(hub_pid, child_end.as_raw_fd());
            // A panic must not unwind into the hub's code (and its
            // descriptors, closed above): it ends this process with 101.
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                interpreter::run(role, identity, program)
            }))
            .unwrap_or(101);
            // SAFETY: `_exit` ends the process without running the hub's destructors.
            unsafe { libc::_exit(code) }
        }
    }
}

fn become_clean_child(hub_pid: Pid, socket: i32) {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    // SAFETY: setting dispositions to SIG_IGN installs no handler code.
    unsafe {
        let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
        let _ = signal(Signal::SIGPIPE, SigHandler::SigIgn);
    }
    // SAFETY: plain syscalls on integers and descriptors this process owns.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if getppid() != hub_pid {
            libc::_exit(1);
        }
        if socket != HUB_FD && libc::dup2(socket, HUB_FD) < 0 {
            libc::_exit(1);
        }
        libc::syscall(libc::SYS_close_range, HUB_FD + 1, u32::MAX, 0);
    }
}
