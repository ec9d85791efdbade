//! mphost's own exit statuses, each in one place: every part that ends the
//! run with one (not a script's `exit(n)`, nor `128 + signal`) takes it
//! from here, so two parts that mean the same end say the same number.

/// A usage error: bad flags, a script that cannot be read or parsed, a bad
/// path or `--redact` pattern for `mphost test`. Nothing ran.
pub const USAGE: u8 = 2;

/// The run's output, or its trace, could not be written (sysexits'
/// `EX_IOERR`): stdout or stderr failed, or the trace file did.
pub const IO_FAILED: i32 = 74;

/// A cluster's Redis cannot be used: unreachable, refusing the login, too
/// old, evicting keys, or lost during the run (sysexits' `EX_UNAVAILABLE`).
pub const UNAVAILABLE: u8 = 69;
