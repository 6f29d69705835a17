//! Reporting without allocating.
//!
//! Inside the allocator nothing may allocate or panic: `format!`, `eprintln!`
//! and `panic!` can all call back into `malloc`. This module writes messages
//! straight to file descriptor 2 with `write(2)`, formats numbers into stack
//! buffers, and aborts.

/// Write raw bytes to standard error, ignoring failures (there is nowhere to
/// report them).
pub fn write_stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: `rest` is a live slice; write(2) reads at most `len` bytes.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// Format `v` as `0x…` hexadecimal into `buf`, returning the used tail.
pub fn hex(v: usize, buf: &mut [u8; 18]) -> &[u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut i = buf.len();
    let mut x = v;
    loop {
        i -= 1;
        buf[i] = DIGITS[x & 0xf];
        x >>= 4;
        if x == 0 {
            break;
        }
    }
    i -= 1;
    buf[i] = b'x';
    i -= 1;
    buf[i] = b'0';
    &buf[i..]
}

/// Format `v` in decimal into `buf`, returning the used tail.
pub fn dec(v: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut x = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Print `tricolor-heap: <msg> <addr>` and abort the process.
#[cold]
#[inline(never)]
pub fn fatal(msg: &str, addr: usize) -> ! {
    let mut buf = [0u8; 18];
    write_stderr(b"tricolor-heap: fatal: ");
    write_stderr(msg.as_bytes());
    write_stderr(b" (");
    write_stderr(hex(addr, &mut buf));
    write_stderr(b")\n");
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers() {
        let mut h = [0u8; 18];
        assert_eq!(hex(0, &mut h), b"0x0");
        assert_eq!(hex(0xdead_beef, &mut h), b"0xdeadbeef");
        assert_eq!(hex(usize::MAX, &mut h), b"0xffffffffffffffff");
        let mut d = [0u8; 20];
        assert_eq!(dec(0, &mut d), b"0");
        assert_eq!(dec(1234567890, &mut d), b"1234567890");
        assert_eq!(dec(usize::MAX, &mut d), b"18446744073709551615");
    }
}
