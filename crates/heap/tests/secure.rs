//! Checking mode: double frees, invalid frees and overruns are caught,
//! reported, and the bad free is skipped (nothing else is lost).
#![cfg(feature = "secure")]

use std::sync::Mutex;
use tricolor_heap::secure::{set_error_handler, HeapError};
use tricolor_heap::{alloc, free};

static SEEN: Mutex<Vec<(HeapError, usize)>> = Mutex::new(Vec::new());

fn record(e: HeapError, addr: usize) {
    SEEN.lock().unwrap().push((e, addr));
}

fn take_seen() -> Vec<(HeapError, usize)> {
    std::mem::take(&mut *SEEN.lock().unwrap())
}

/// One test function: the handler is process-global.
#[test]
fn errors_are_reported_and_the_bad_free_is_skipped() {
    set_error_handler(Some(record));

    // Double free of a small block, and the block is not handed out twice.
    let p = alloc(48, 8);
    // SAFETY: a live block.
    unsafe { free(p) };
    assert!(take_seen().is_empty(), "a correct free reports nothing");
    // SAFETY: deliberately wrong: checking mode must catch it.
    unsafe { free(p) };
    assert_eq!(take_seen(), vec![(HeapError::DoubleFree, p as usize)]);
    let a = alloc(48, 8);
    let b = alloc(48, 8);
    assert_ne!(
        a, b,
        "a double free must not make the allocator hand a block out twice"
    );
    // SAFETY: live blocks.
    unsafe {
        free(a);
        free(b);
    }

    // Double free of a large block.
    let big = alloc(100_000, 8);
    // SAFETY: live, then deliberately freed twice.
    unsafe {
        free(big);
        free(big);
    }
    assert_eq!(take_seen(), vec![(HeapError::InvalidFree, big as usize)]);

    // Interior pointer, foreign pointer, stack pointer.
    let q = alloc(64, 8);
    let on_stack = 0u64;
    // SAFETY: deliberately invalid frees.
    unsafe {
        free(q.add(8));
        free(&on_stack as *const u64 as *mut u8);
        free(0x1000 as *mut u8);
    }
    let seen = take_seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|(e, _)| *e == HeapError::InvalidFree));
    assert_eq!(seen[0].1, q as usize + 8);
    // The block survived the bad frees: write it, free it properly.
    // SAFETY: q is live.
    unsafe {
        q.write_bytes(1, 64);
        free(q);
    }
    assert!(take_seen().is_empty());

    // Overrun by one byte past the requested size, small and large.
    for size in [24usize, 1000, 50_000] {
        let r = alloc(size, 8);
        // SAFETY: deliberately writes one byte past the block's requested size
        // (still inside the real block, which checking mode pads).
        unsafe {
            r.add(size).write(0);
            free(r);
        }
        assert_eq!(
            take_seen(),
            vec![(HeapError::Overrun, r as usize)],
            "size {size}"
        );
    }

    // Every byte up to usable_size may be written: it is the requested size.
    for size in [20usize, 100, 1000, 40_000] {
        let r = alloc(size, 8);
        // SAFETY: r is live; usable_size is what may be written.
        unsafe {
            let usable = tricolor_heap::usable_size(r);
            assert_eq!(usable, size, "checking mode reports the requested size");
            r.write_bytes(7, usable);
            free(r);
        }
        assert!(
            take_seen().is_empty(),
            "size {size}: writing usable_size bytes is no overrun"
        );
    }

    // Freed memory is clobbered.
    let c = alloc(256, 8);
    // SAFETY: c is live.
    unsafe {
        c.write_bytes(0x11, 256);
        free(c);
        assert_eq!(*c.add(100), 0xDF, "freed memory is filled with 0xDF");
    }
    set_error_handler(None);
}

/// Without a handler, a double free prints a diagnosis and aborts. Run in a
/// child process (this test binary re-executed with an env var).
#[test]
fn double_free_without_handler_aborts_with_a_message() {
    if std::env::var_os("TRICOLOR_SECURE_CHILD").is_some() {
        let p = alloc(32, 8);
        // SAFETY: deliberately wrong.
        unsafe {
            free(p);
            free(p);
        }
        std::process::exit(0); // not reached
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "double_free_without_handler_aborts_with_a_message",
            "--nocapture",
        ])
        .env("TRICOLOR_SECURE_CHILD", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tricolor-heap: fatal: double free detected"),
        "stderr: {err}"
    );
}
