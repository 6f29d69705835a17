//! `cache-thrash`: Hoard's active-false-sharing test (Berger et al.,
//! "Hoard: A Scalable Memory Allocator for Multithreaded Applications",
//! ASPLOS 2000), run by mimalloc-bench as `cache-thrash N 1000 1 2000000`.
//!
//! Each thread repeatedly allocates a tiny object, writes it many times and
//! frees it. An allocator that carves objects for different threads out of
//! the same cache line makes those writes ping-pong the line between cores;
//! one with thread-local pages keeps every line private. There is no
//! cross-thread free here: the sharing is created by the allocator alone.
//!
//! 1. Each of `threads` threads runs `iterations` rounds.
//! 2. A round allocates an [`OBJECT_SIZE`]-byte object, writes every byte
//!    [`REPETITIONS`] times with volatile stores (so the compiler keeps
//!    them), folds the final bytes into the checksum, and frees the object.

use core::alloc::GlobalAlloc;

use crate::block;
use crate::{Outcome, Params};

/// Object size: 8 bytes, the smallest object a Rust program allocates with a
/// pointer in it (mimalloc-bench uses 1 byte).
pub const OBJECT_SIZE: usize = 8;
/// Writes of each byte per object (mimalloc-bench: 2,000,000 per object and
/// 1000 objects; here fewer writes per object and more objects, so scale can
/// shrink the run without changing the per-object pattern much).
pub const REPETITIONS: usize = 20_000;
/// Objects per thread at scale 1.
const BASE_ITERATIONS: usize = 4_000;

pub fn run<A: GlobalAlloc + Sync + ?Sized>(a: &A, p: &Params) -> Outcome {
    let iterations = p.count(BASE_ITERATIONS);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..p.threads())
            .map(|t| s.spawn(move || thrash(a, t, iterations, Outcome::default())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .fold(Outcome::default(), Outcome::merge)
    })
}

/// Writes each of `size` bytes at `obj` [`REPETITIONS`] times, reading it
/// back each time as the original does, and returns a digest of the final
/// contents.
///
/// # Safety
/// `obj` is valid for reads and writes of `size` bytes and no other thread
/// accesses them.
pub unsafe fn hammer(obj: *mut u8, size: usize, seed: u8) -> u64 {
    let mut acc = 0u64;
    for r in 0..REPETITIONS {
        for k in 0..size {
            let v = seed.wrapping_add(r as u8).wrapping_add(k as u8);
            // SAFETY: `k < size`; the caller gives us exclusive access.
            unsafe {
                obj.add(k).write_volatile(v);
                acc = acc.wrapping_add(u64::from(obj.add(k).read_volatile()));
            }
        }
    }
    acc
}

/// The cache-thrash loop of thread `t`: `iterations` times allocate one
/// object, hammer it, free it; folded into `out`. `cache-scratch` runs it too.
pub fn thrash<A: GlobalAlloc + ?Sized>(
    a: &A,
    t: usize,
    iterations: usize,
    mut out: Outcome,
) -> Outcome {
    for i in 0..iterations {
        let obj = block::alloc(a, OBJECT_SIZE);
        // SAFETY: `obj` is a live, private OBJECT_SIZE block.
        let sum = unsafe { hammer(obj, OBJECT_SIZE, (t + i) as u8) };
        // SAFETY: allocated above from `a` with this size.
        unsafe { block::free(a, obj, OBJECT_SIZE) };
        out = out.merge(Outcome {
            checksum: sum,
            ops: 2,
        });
    }
    out
}
