//! `cache-scratch`: Hoard's passive-false-sharing test (Berger et al.,
//! ASPLOS 2000), run by mimalloc-bench as `cache-scratch N 1000 1 2000000`.
//!
//! Like `cache-thrash`, but the objects start out packed together by one
//! thread: an allocator that puts a freed object on the *freeing* thread's
//! free list hands each worker memory in a cache line shared with the other
//! workers, and the hammering that follows ping-pongs that line.
//!
//! 1. The main thread allocates one [`OBJECT_SIZE`]-byte object per worker,
//!    back to back, and stamps each.
//! 2. Worker `t` receives object `t`, writes it, checks it and frees it: a
//!    cross-thread free of memory adjacent to the other workers' objects.
//! 3. The worker then runs `iterations` rounds of allocate, write every byte
//!    [`REPETITIONS`](super::cache_thrash::REPETITIONS) times, free — the `cache-thrash` loop.

use core::alloc::GlobalAlloc;

use super::cache_thrash::{thrash, OBJECT_SIZE};
use crate::block::{self, Block};
use crate::{Outcome, Params};

/// Objects per thread at scale 1.
const BASE_ITERATIONS: usize = 4_000;

pub fn run<A: GlobalAlloc + Sync + ?Sized>(a: &A, p: &Params) -> Outcome {
    let iterations = p.count(BASE_ITERATIONS);
    // Step 1.
    let objects: Vec<Block> = (0..p.threads())
        .map(|t| block::new_stamped(a, OBJECT_SIZE, 0x5c7a_7c40 + t as u64))
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = objects
            .into_iter()
            .enumerate()
            .map(|(t, handed)| {
                s.spawn(move || {
                    // Step 2.
                    // SAFETY: `handed` is live, stamped, from `a`, and owned
                    // by this worker alone.
                    let handed_back = Outcome {
                        checksum: unsafe {
                            block::stamp(handed.ptr, handed.size, t as u64);
                            block::free_verified(a, handed)
                        },
                        ops: 2,
                    };
                    // Step 3.
                    thrash(a, t, iterations, handed_back)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .fold(Outcome::default(), Outcome::merge)
    })
}
