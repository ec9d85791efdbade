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
//! With `--start-method spawn`, a worker's child then writes what it is to
//! run (`wire::Launch`) into a memfd at fd 4, passes the lock arena at fd 5
//! and a pool worker's progress slot after it, and `exec`s a fresh `mphost __worker`, which compiles the
//! script again. The main process is always forked.
//!
//! The child never returns into hub code: it ends in `_exit` or `exec`.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, signal, sigprocmask};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::unistd::{ForkResult, Pid, fork, getppid};

use crate::child::{ChildEntry, HUB_FD, Identity, Role};
use crate::script::{Program, StartMethod};
use crate::shm::Arena;
use crate::wire::{Launch, write_frame};

/// Forks a process that runs `role`; returns its pid and the hub's socket end.
pub fn launch(
    role: &Role,
    identity: Identity,
    program: &Program,
    hub_pid: Pid,
    entry: ChildEntry,
) -> nix::Result<(Pid, OwnedFd)> {
    let (hub_end, child_end) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    let inherited = match program.info.settings.max_memory {
        Some(_) => crate::child::address_space_bytes(),
        None => 0,
    };
    // SAFETY: the hub has a single thread (see the module doc), and the child
    // only calls async-signal-safe set-up before becoming an interpreter.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => {
            drop(child_end);
            let nonblocking = nix::fcntl::fcntl(
                &hub_end,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            );
            if let Err(e) = nonblocking {
                abandon(child);
                return Err(e);
            }
            Ok((child, hub_end))
        }
        ForkResult::Child => {
            let settings = &program.info.settings;
            if settings.start_method == StartMethod::Spawn
                && let Some(launch) = launch_of(role, &identity, program)
            {
                let mut keep = vec![child_end.as_raw_fd()];
                keep.extend(Arena::get().map(Arena::fd));
                keep.extend(role.progress_fd());
                // It limits itself once it has mapped the hub's shared
                // memory, which is not its own (`Launch::max_memory`).
                exec_worker(hub_pid, &keep, &launch, None);
            }
            // A forked child starts with the hub's address space mapped: the
            // limit is on what it adds to that.
            let limit = settings.max_memory.map(|m| m.saturating_add(inherited));
            become_clean_child(hub_pid, &[child_end.as_raw_fd()], limit);
            // A panic must not unwind into the hub's code (and its
            // descriptors, closed above): it ends this process with 101.
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                entry(role, identity, program)
            }))
            .unwrap_or(101);
            // SAFETY: `_exit` ends the process without running the hub's destructors.
            unsafe { libc::_exit(code) }
        }
    }
}

/// Kills and reaps a child the hub could not finish setting up, so it is
/// neither left running untracked nor a zombie.
pub fn abandon(child: Pid) {
    let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(child, None);
}

/// What an exec'd worker must be told; `None` for the main process.
fn launch_of(role: &Role, identity: &Identity, program: &Program) -> Option<Launch> {
    let info = &program.info;
    Some(Launch {
        id: identity.id,
        name: identity.name.clone(),
        parent_pid: identity.parent_pid,
        arena: Arena::get().is_some(),
        role: role.to_wire()?,
        script: info.script_text(),
        modules: Vec::new(),
        max_memory: info.settings.max_memory,
    })
}

/// Replaces this forked child with `mphost __worker`: the first of
/// `descriptors` (its socket) at fd 3, `launch` in a memfd at fd 4, the rest
/// of `descriptors` (the lock arena, a pool worker's progress slot) from fd 5.
fn exec_worker(hub_pid: Pid, descriptors: &[i32], launch: &Launch, max_memory: Option<u64>) -> ! {
    let memfd = nix::sys::memfd::memfd_create(c"mphost-launch", nix::sys::memfd::MFdFlags::empty())
        .map(std::fs::File::from);
    let written = memfd.and_then(|mut file| {
        write_frame(&mut file, launch).map_err(|_| nix::errno::Errno::EIO)?;
        nix::unistd::lseek(&file, 0, nix::unistd::Whence::SeekSet)?;
        Ok(file)
    });
    let Ok(file) = written else {
        eprintln!("mphost: cannot start a worker: cannot write its launch description");
        // SAFETY: ends this child without running the hub's destructors.
        unsafe { libc::_exit(127) }
    };
    let mut keep = vec![descriptors[0], file.as_raw_fd()];
    keep.extend(&descriptors[1..]);
    become_clean_child(hub_pid, &keep, max_memory);
    exec_mphost_worker()
}

/// Forks a process that becomes `mphost __worker` with `descriptors` (its
/// socket, its `Launch` in a memfd, then its progress slot) at fds 3, 4,
/// 5, and `stderr` as its stderr: how a cluster's worker host starts a
/// run's worker. Everything the child needs is made before the fork, and
/// the child only makes system calls before `exec`, so a process with
/// threads may call it.
pub fn fork_exec_worker(descriptors: &[i32], stderr: i32) -> nix::Result<Pid> {
    let parent = nix::unistd::getpid();
    // SAFETY: the child makes only system calls (`become_clean_child`)
    // before `exec` or `_exit`.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            // SAFETY: a syscall on descriptors this process owns; the
            // original goes with every descriptor not kept.
            unsafe { libc::dup2(stderr, 2) };
            become_clean_child(parent, descriptors, None);
            exec_mphost_worker()
        }
    }
}

/// Replaces this process with a fresh `mphost __worker`, which reads what
/// it is from its descriptors.
fn exec_mphost_worker() -> ! {
    let program = c"/proc/self/exe";
    let argv = [c"mphost".as_ptr(), c"__worker".as_ptr(), std::ptr::null()];
    // SAFETY: a NUL-terminated argv of static C strings; on success exec does
    // not return.
    unsafe { libc::execv(program.as_ptr(), argv.as_ptr()) };
    // Written without allocating: the parent may have had threads.
    const FAILED: &[u8] = b"mphost: cannot start a worker: exec /proc/self/exe failed\n";
    // SAFETY: writes a static buffer to stderr.
    unsafe { libc::write(2, FAILED.as_ptr().cast(), FAILED.len()) };
    // SAFETY: as above.
    unsafe { libc::_exit(127) }
}

/// The most descriptors a child keeps (its socket, launch, arena, progress).
const MAX_KEPT: usize = 8;

/// Unblocks signals, ignores SIGINT and SIGPIPE, arranges death with the
/// hub, caps the address space at `max_memory`, and leaves open only
/// `keep`, moved to fds 3, 4, ... in order.
fn become_clean_child(hub_pid: Pid, keep: &[i32], max_memory: Option<u64>) {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    // SAFETY: setting dispositions to SIG_IGN installs no handler code.
    unsafe {
        let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
        let _ = signal(Signal::SIGPIPE, SigHandler::SigIgn);
    }
    let first_free = HUB_FD + keep.len() as i32;
    // SAFETY: plain syscalls on integers and descriptors this process owns.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if let Some(bytes) = max_memory {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
        }
        if getppid() != hub_pid {
            libc::_exit(1);
        }
        // Copy each above the targets first, so no move overwrites a
        // descriptor still to be moved; the copies are closed below.
        // On the stack: a child of a process with threads must not allocate.
        let mut copies = [-1; MAX_KEPT];
        if keep.len() > MAX_KEPT {
            libc::_exit(1);
        }
        for (&fd, copy) in keep.iter().zip(copies.iter_mut()) {
            *copy = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, first_free);
            if *copy < 0 {
                libc::_exit(1);
            }
        }
        for (target, &copy) in (HUB_FD..).zip(&copies[..keep.len()]) {
            if libc::dup2(copy, target) < 0 {
                libc::_exit(1);
            }
        }
        if libc::syscall(libc::SYS_close_range, first_free, u32::MAX, 0) != 0 {
            // Kernels before 5.9 have no close_range: one by one, up to the
            // limit on descriptors (a cluster run's Redis socket among them).
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            let top = match libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) {
                0 => limit.rlim_cur.min(1 << 20) as libc::c_int,
                _ => 1 << 16,
            };
            for fd in first_free..top {
                libc::close(fd);
            }
        }
    }
}
