//! The scavenger really gives memory back to the OS: resident set size, read
//! from `/proc/self/statm`, drops after `release_memory()`, and after the
//! scavenger's delay without any explicit call.
//!
//! One test function: RSS is a property of the whole process.

use std::time::Duration;
use tricolor_heap::{alloc, free, release_memory, stats};

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

/// Allocate `total` bytes as a mix of small and large blocks, touching every
/// page, and return them.
fn fill(total: usize) -> Vec<*mut u8> {
    let mut blocks = Vec::new();
    let mut done = 0;
    let mut i = 0usize;
    while done < total {
        let size = match i % 4 {
            0 => 1 << 20,
            1 => 200_000,
            2 => 3000,
            _ => 100,
        };
        let p = alloc(size, 8);
        assert!(!p.is_null());
        // SAFETY: a fresh block of `size` bytes.
        unsafe { p.write_bytes(0x5a, size) };
        blocks.push(p);
        done += size;
        i += 1;
    }
    blocks
}

#[test]
fn freed_memory_leaves_the_resident_set() {
    const MIB: usize = 1 << 20;
    let base = rss_bytes();

    // 1. release_memory() returns everything free at once.
    let blocks = fill(256 * MIB);
    let full = rss_bytes();
    assert!(
        full >= base + 200 * MIB,
        "the fill is resident: {base} -> {full}"
    );
    for p in blocks {
        // SAFETY: each block is live and freed once.
        unsafe { free(p) };
    }
    let released = release_memory();
    let after = rss_bytes();
    assert!(
        released >= 200 * MIB,
        "release_memory returned {released} bytes"
    );
    assert!(
        after + 200 * MIB <= full,
        "RSS must drop by the freed memory: {full} -> {after}"
    );
    assert!(stats().released >= 200 * MIB);

    // 2. Without an explicit call: free again, keep using the page heap a
    //    little for two scavenger epochs (1 s each), and the idle pages go.
    let blocks = fill(128 * MIB);
    for p in blocks {
        // SAFETY: each block is live and freed once.
        unsafe { free(p) };
    }
    let before_idle = rss_bytes();
    let released_before = stats().released_total;
    // Pages become eligible after a whole epoch free (up to two epochs from
    // now) and go at 16 MiB per page-heap call; on a loaded machine sleeps
    // overshoot, so wait for the scavenger by its own counter, with a
    // generous deadline, rather than for a fixed number of rounds.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while stats().released_total < released_before + 112 * MIB
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
        // A large allocation and free: page-heap traffic that lets epochs
        // advance, but far smaller than what sits idle.
        let p = alloc(64 << 10, 8);
        // SAFETY: live, freed once.
        unsafe { free(p) };
    }
    let after_idle = rss_bytes();
    assert!(
        stats().released_total >= released_before + 112 * MIB,
        "the scavenger released {} bytes on its own",
        stats().released_total - released_before
    );
    assert!(
        after_idle + 96 * MIB <= before_idle,
        "RSS must drop after the scavenger's delay: {before_idle} -> {after_idle}"
    );
}
