//! The global allocator: the system's, except that an allocation that fails
//! (a process over `--max-memory`, or a machine out of memory) prints one
//! clear line and aborts, instead of Rust's message and backtrace note. The
//! hub then reports the process as killed by SIGABRT. Nothing here may
//! allocate: the line is formatted into a stack buffer.

use std::alloc::{GlobalAlloc, Layout, System};

pub struct Allocator;

// SAFETY: every call is forwarded to `System` unchanged; only a null result
// (a failure) is acted on, and that path never returns.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            out_of_memory(new_size);
        }
        p
    }
}

/// `mphost: pid P ran out of memory allocating N bytes`, then abort.
fn out_of_memory(size: usize) -> ! {
    let mut line = [0u8; 128];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        for &b in bytes {
            if len < line.len() {
                line[len] = b;
                len += 1;
            }
        }
    };
    put(b"mphost: pid ");
    put(decimal(std::process::id() as u64).as_slice());
    put(b" ran out of memory allocating ");
    put(decimal(size as u64).as_slice());
    put(b" bytes\n");
    // SAFETY: writes a stack buffer to stderr, then ends the process.
    unsafe {
        libc::write(2, line.as_ptr().cast(), len);
        libc::abort()
    }
}

/// The decimal digits of `n`, without allocating.
fn decimal(mut n: u64) -> DecimalDigits {
    let mut digits = DecimalDigits {
        buf: [0; 20],
        start: 20,
    };
    loop {
        digits.start -= 1;
        digits.buf[digits.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return digits;
        }
    }
}

struct DecimalDigits {
    buf: [u8; 20],
    start: usize,
}

impl DecimalDigits {
    fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn decimal_digits() {
        assert_eq!(decimal(0).as_slice(), b"0");
        assert_eq!(decimal(4242).as_slice(), b"4242");
        assert_eq!(decimal(u64::MAX).as_slice(), b"18446744073709551615");
    }
}
