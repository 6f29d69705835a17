//! The OS refusing memory (`os.rs`, `fault`): allocations that need it
//! return null, nothing leaks, and the heap works again once the OS gives.
//!
//! Fault injection is process-global, so this binary holds a single test,
//! in steps. It relies on the heap being untouched when the test starts:
//! the test harness does not allocate through this heap (it is not the
//! global allocator here; under `self-hosted` the test is skipped).
//!
//! 1. Start-up failing at each of its OS requests, in forked children (the
//!    parent's heap is still untouched, so every child starts from zero): the
//!    first allocation returns null or a block, and after `clear()` the next
//!    one succeeds (start-up is retried, not remembered as failed).
//! 2. The parent's own first allocation with its first OS request (the
//!    1 TiB reservation) refused: the reservation falls back to half.
//! 3. With a zero budget, requests that need new arenas return null while
//!    small and large allocations from committed memory keep working, and
//!    `committed` does not move; exhausting the committed arena ends in null,
//!    not a crash; after `clear()` the big request succeeds.
//! 4. The N-th OS request failing at random points of a long run of large
//!    allocations (arena growth, span-record pool growth): each failure is a
//!    null with nothing leaked, and the same request succeeds right after.
//! 5. Impossible requests return null and leave the heap as it was.

use std::time::{Duration, Instant};
use tricolor_heap::arena::{self, MAX_RESERVATION};
use tricolor_heap::os::fault;
use tricolor_heap::{alloc, alloc_zeroed, free, realloc, stats, HeapStats, PAGE_SIZE};

fn heap_is_global_allocator() -> bool {
    // Must not start the heap: step 1 needs it untouched. Before start-up
    // `contains` is false for every address, so also ask whether it started.
    let probe = Box::new(0u64);
    let p = &*probe as *const u64 as usize;
    arena::base() != 0 && arena::contains(p)
}

/// Committed pages are either in spans or free.
fn check_accounting(s: &HeapStats, when: &str) {
    assert_eq!(
        s.committed,
        s.in_use + s.free_backed + s.released,
        "{when}: page accounting"
    );
    assert!(s.allocated <= s.in_use, "{when}: allocated > in_use");
}

/// Wait for `pid` to exit, at most `limit`; its exit status.
fn wait_child(pid: libc::pid_t, limit: Duration) -> i32 {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is a valid out-parameter.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            assert!(
                libc::WIFEXITED(status),
                "child {pid} died: status {status:#x}"
            );
            return libc::WEXITSTATUS(status);
        }
        assert_eq!(r, 0, "waitpid failed");
        if start.elapsed() > limit {
            // SAFETY: our child; kill and reap it before failing.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("child {pid} hung");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Run `f` in a forked child and return its exit code. The child does no
/// unwinding and no printing: `f` reports through its return value.
fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs only `f` (heap and libc calls) and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(99);
        // SAFETY: ends the child without running the parent's atexit work.
        unsafe { libc::_exit(code) };
    }
    wait_child(pid, Duration::from_secs(60))
}

/// Step 1, in a child: the start-up and first allocation with the `n`-th OS
/// request refused (or with a byte budget). 0 = the first allocation failed
/// and the heap recovered; 1 = it succeeded (no request was refused, or a
/// fallback absorbed it); ≥ 10: something was wrong.
fn first_allocation_with_fault(arm: impl FnOnce()) -> i32 {
    let refused = fault::refused();
    arm();
    let p = alloc(64, 8);
    let got = fault::refused() - refused;
    fault::clear();
    if p.is_null() && got == 0 {
        return 10; // null without an injected failure
    }
    let q = alloc(64, 8);
    let big = alloc(3 << 20, 8);
    if q.is_null() || big.is_null() {
        return 11; // did not recover
    }
    // SAFETY: live blocks of at least the sizes written.
    unsafe {
        q.write_bytes(0x5A, 64);
        big.write_bytes(0xA5, 3 << 20);
        if *q.add(63) != 0x5A || *big.add((3 << 20) - 1) != 0xA5 {
            return 12;
        }
        free(q);
        free(big);
        free(p);
    }
    let s = stats();
    if s.committed != s.in_use + s.free_backed + s.released {
        return 13;
    }
    if p.is_null() {
        0
    } else {
        1
    }
}

#[test]
fn os_refusals_return_null_and_the_heap_recovers() {
    if heap_is_global_allocator() {
        eprintln!("skipped: the heap is the global allocator, so it started before this test");
        return;
    }
    assert_eq!(
        arena::base(),
        0,
        "the heap must be untouched when this test starts"
    );

    // ---- 1. start-up failing at each OS request (forked children) ----------
    let mut outcomes = Vec::new();
    for n in 0..12 {
        let code = in_child(|| first_allocation_with_fault(|| fault::fail_nth(n)));
        assert!(
            code <= 1,
            "fail_nth({n}) before the first allocation: child exit code {code}"
        );
        outcomes.push(code);
    }
    // The reservation's and the page map's refusals are absorbed by falling
    // back to a smaller reservation; refusals of the other metadata, the first cache and the first arena fail the
    // allocation; past the requests a first allocation makes, nothing fails.
    assert_eq!(
        outcomes[0], 1,
        "a refused 1 TiB reservation falls back to a smaller one"
    );
    assert_eq!(
        outcomes[1], 1,
        "a refused page map falls back to a smaller reservation (and map)"
    );
    assert_eq!(
        *outcomes.last().unwrap(),
        1,
        "no request refused: the first allocation succeeds"
    );
    for budget in [0, 4096, 1 << 20, 64 << 20, 1 << 30] {
        let code = in_child(|| first_allocation_with_fault(|| fault::set_budget(budget)));
        assert!(
            code <= 1,
            "set_budget({budget}) before the first allocation: child exit code {code}"
        );
    }

    // ---- 2. the parent's first allocation, reservation refused --------------
    let refused0 = fault::refused();
    fault::fail_nth(0);
    let first = alloc(64, 8);
    fault::clear();
    assert!(!first.is_null(), "a refused reservation falls back to half");
    assert_eq!(fault::refused(), refused0 + 1);
    assert_eq!(stats().reserved, MAX_RESERVATION / 2);

    // ---- 3. zero budget ------------------------------------------------------
    // Warm up: a cache, spans of several classes, a large object.
    let mut keep: Vec<*mut u8> = (0..64).map(|i| alloc(8 + i * 40, 8)).collect();
    keep.push(alloc(100 << 10, 8));
    assert!(keep.iter().all(|p| !p.is_null()));
    let before = stats();
    check_accounting(&before, "before the zero budget");
    let refused1 = fault::refused();
    fault::set_budget(0);
    const HUGE: usize = 256 << 20; // needs four new arenas
    assert!(alloc(HUGE, 8).is_null(), "256 MiB with no budget");
    assert!(
        alloc(HUGE, 1 << 20).is_null(),
        "256 MiB aligned with no budget"
    );
    assert!(
        alloc_zeroed(HUGE, 8).is_null(),
        "256 MiB zeroed with no budget"
    );
    let r = keep[10];
    // SAFETY: a live block allocated with alignment 8.
    assert!(
        unsafe { realloc(r, 8, HUGE) }.is_null(),
        "realloc to 256 MiB with no budget"
    );
    assert!(fault::refused() >= refused1 + 4, "each refusal is counted");
    // What committed memory can serve still works: small blocks of every
    // size up to 32 KiB, and a large object.
    let mut small = Vec::new();
    for i in 0..3000usize {
        let p = alloc(1 + (i * 97) % (32 << 10), 8);
        assert!(
            !p.is_null(),
            "small allocation {i} failed under a zero budget"
        );
        // SAFETY: a live block of at least one byte.
        unsafe { p.write(i as u8) };
        small.push(p);
    }
    let mid = alloc(1 << 20, 8);
    assert!(!mid.is_null(), "1 MiB from the committed arena");
    // SAFETY: a live block of 1 MiB.
    unsafe { mid.write_bytes(0xEE, 1 << 20) };
    assert_eq!(
        stats().committed,
        before.committed,
        "nothing was committed under a zero budget"
    );
    // Exhaust the committed arenas: 4 MiB at a time until null.
    let mut fill = Vec::new();
    loop {
        let p = alloc(4 << 20, 8);
        if p.is_null() {
            break;
        }
        fill.push(p);
        assert!(
            fill.len() <= before.committed / (4 << 20),
            "more 4 MiB blocks than committed memory holds"
        );
    }
    let exhausted = stats();
    check_accounting(&exhausted, "with the arenas exhausted");
    assert_eq!(exhausted.committed, before.committed);
    for (i, &p) in small.iter().enumerate() {
        // SAFETY: live blocks written above.
        assert_eq!(unsafe { p.read() }, i as u8, "small block {i} damaged");
        unsafe { free(p) };
    }
    for p in fill {
        // SAFETY: live blocks, freed once.
        unsafe { free(p) };
    }
    // SAFETY: live, freed once.
    unsafe { free(mid) };
    fault::clear();
    // Now the same requests succeed.
    let huge = alloc(HUGE, 8);
    assert!(!huge.is_null(), "256 MiB after clear()");
    // SAFETY: a live block of HUGE bytes.
    unsafe {
        huge.write(1);
        huge.add(HUGE - 1).write(2);
        free(huge);
    }
    // SAFETY: `r` is still live (the failed realloc left it) with alignment 8.
    let r2 = unsafe { realloc(r, 8, HUGE) };
    assert!(!r2.is_null());
    keep[10] = r2;
    let after = stats();
    check_accounting(&after, "after clear()");
    assert!(after.committed >= before.committed + HUGE);

    // ---- 4. failures at arena growth and at span-record pool growth --------
    // Two-page objects aligned to two pages (the large, aligned path), each
    // with its own span record: the run crosses arena boundaries and
    // span-record pool blocks (1 MiB of records each). The objects are
    // never touched, so the arenas cost address space only.
    const OBJ: usize = 2 * PAGE_SIZE - 64;
    let (mut commit_failures, mut pool_failures) = (0, 0);
    let mut objs = Vec::new();
    // `stats()` walks the heap, too slow to call every time: track what it
    // must say instead, and compare on failures.
    let s0 = stats();
    let (mut in_use, mut large_objects) = (s0.in_use, s0.large_objects);
    for i in 0..40_000 {
        let committed = arena::committed();
        let refused = fault::refused();
        fault::fail_nth(0);
        let mut p = alloc(OBJ, 2 * PAGE_SIZE);
        fault::clear();
        if p.is_null() {
            let s1 = stats();
            assert_eq!(
                fault::refused(),
                refused + 1,
                "object {i}: null without a refusal"
            );
            assert_eq!(
                s1.committed, committed,
                "object {i}: a failed growth committed memory"
            );
            assert_eq!(
                s1.in_use, in_use,
                "object {i}: pages leaked by a failed allocation"
            );
            assert_eq!(s1.large_objects, large_objects);
            check_accounting(&s1, "after a failed allocation");
            p = alloc(OBJ, 2 * PAGE_SIZE);
            assert!(!p.is_null(), "object {i}: the retry failed");
            // The retry tells which request had failed: if it had to commit
            // an arena, the arena commit; otherwise the span-record pool.
            if arena::committed() > committed {
                commit_failures += 1;
            } else {
                pool_failures += 1;
            }
        } else if fault::refused() > refused {
            // A refused span-record pool growth is retried once by the
            // allocator itself (global::alloc_large's second attempt), so it
            // may succeed: the refusal must still have leaked nothing, which
            // the running `in_use` / `large_objects` comparison checks.
            pool_failures += 1;
        }
        // SAFETY: the span of a live block is a valid record.
        in_use += unsafe { arena::span_of(p as usize).unwrap().as_ref().npages } * PAGE_SIZE;
        large_objects += 1;
        objs.push(p);
        if commit_failures >= 2 && pool_failures >= 1 {
            break;
        }
    }
    let s1 = stats();
    assert_eq!((s1.in_use, s1.large_objects), (in_use, large_objects));
    assert!(commit_failures >= 1, "never failed an arena commit");
    assert!(pool_failures >= 1, "never failed a span-record pool growth");
    for p in objs {
        assert_eq!(p as usize % (2 * PAGE_SIZE), 0);
        // SAFETY: live, freed once.
        unsafe { free(p) };
    }
    check_accounting(&stats(), "after step 4");

    // ---- 5. impossible requests ---------------------------------------------
    let s0 = stats();
    let reserved = s0.reserved;
    for (size, align) in [
        (usize::MAX, 8),
        (usize::MAX / 2, 8),
        (usize::MAX - PAGE_SIZE, 1 << 20),
        (reserved + 1, 8),
        (reserved, 1 << 30),
        (16, 1 << 62),
        (16, 1 << 63),
        (64 << 10, 3),
        (64 << 10, 3 << 20),
        ((1 << 20) + 1, 12_345),
    ] {
        assert!(alloc(size, align).is_null(), "alloc({size}, {align})");
        assert!(
            alloc_zeroed(size, align).is_null(),
            "alloc_zeroed({size}, {align})"
        );
    }
    let p = alloc(100, 8);
    // SAFETY: a live block of 100 bytes.
    unsafe {
        p.write_bytes(0x77, 100);
        assert!(realloc(p, 8, usize::MAX / 2).is_null());
        assert!(realloc(p, 8, reserved + 1).is_null());
        let s = std::slice::from_raw_parts(p, 100);
        assert!(
            s.iter().all(|&b| b == 0x77),
            "a failed realloc changed the block"
        );
        free(p);
    }
    let s1 = stats();
    check_accounting(&s1, "after impossible requests");
    assert_eq!(
        s1.committed, s0.committed,
        "impossible requests committed memory"
    );
    assert_eq!(s1.large_objects, s0.large_objects);

    for p in keep {
        // SAFETY: live, freed once.
        unsafe { free(p) };
    }
    // SAFETY: live, freed once.
    unsafe { free(first) };
    check_accounting(&stats(), "at the end");
}
