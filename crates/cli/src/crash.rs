//! The stress verdict when the process dies instead of returning.
//!
//! Two of the stress command's failure modes never reach its summary:
//!
//! - with `checkmark=1` (the default), the collector re-marks the heap
//!   after each cycle and *aborts the process* if the real mark missed a
//!   reachable object, printing `tricolor: checkmark: …` first;
//! - a collector bug (or fault injection with checking off) can leave a
//!   dangling pointer that the marker or a mutator follows into freed
//!   memory: SIGSEGV or SIGBUS.
//!
//! [`install`] sets a handler for SIGABRT, SIGSEGV and SIGBUS that writes
//! one verdict line with `write(2)` (async-signal-safe: no allocation, no
//! locks) and returns. The handler is installed with `SA_RESETHAND`, so the
//! default action is back in place: `abort()` raises SIGABRT again itself,
//! and a faulting instruction faults again; either way the process dies
//! with the signal and a non-zero status, with the collector's message
//! and this line on stderr.

const ABRT: &[u8] =
    b"\ntricolor stress: FAILED: the process is aborting (SIGABRT). With checkmark on, \
the collector aborts when its verifying re-mark finds a reachable object the real mark missed; \
its message is above.\n";
const SEGV: &[u8] =
    b"\ntricolor stress: FAILED: the process crashed (SIGSEGV): something followed a \
pointer into freed or unmapped memory, likely an object the collector freed while reachable.\n";
const BUS: &[u8] =
    b"\ntricolor stress: FAILED: the process crashed (SIGBUS): a pointer into freed \
memory was followed.\n";

extern "C" fn on_fatal_signal(sig: libc::c_int) {
    let msg = match sig {
        libc::SIGABRT => ABRT,
        libc::SIGSEGV => SEGV,
        _ => BUS,
    };
    // SAFETY: `msg` is a static byte string; write(2) is async-signal-safe.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

/// Install the handlers (once per process is enough; repeating is harmless).
pub fn install() {
    for sig in [libc::SIGABRT, libc::SIGSEGV, libc::SIGBUS] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask"
        // value; we set the handler and flags before passing it on, and the
        // handler only calls async-signal-safe functions.
        unsafe {
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = on_fatal_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESETHAND | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, core::ptr::null_mut());
        }
    }
}
