//! `glibc-simple`: glibc's `bench-malloc-simple` (benchtests/, run by
//! mimalloc-bench with its default size 16): the cost of the fast path.
//!
//! For each block size in [`SIZES`] and each batch length `n` in
//! [`BATCHES`], repeat `iterations / n` times: allocate `n` blocks of that
//! size, write every word of each, then free them all in allocation order.
//! The whole sweep runs three times — on the main thread, on a freshly
//! spawned thread (glibc: a non-main arena), and on the main thread again
//! now that the process is multi-threaded (glibc: `SINGLE_THREAD_P` false)
//! — as the original does.

use core::alloc::GlobalAlloc;

use crate::block::{self, Block};
use crate::{Outcome, Params};

/// 16, 32 and 64 bytes: the original benches its size argument, twice it
/// and four times it.
pub const SIZES: [usize; 3] = [16, 32, 64];
/// Blocks live at once: the original's 25, 100, 400 and 1600.
pub const BATCHES: [usize; 4] = [25, 100, 400, 1600];
/// Allocations per (size, batch, pass) at scale 1 (the original: 2,000,000).
const BASE_ITERATIONS: usize = 850_000;

pub fn run<A: GlobalAlloc + Sync + ?Sized>(a: &A, p: &Params) -> Outcome {
    let iterations = p.count(BASE_ITERATIONS);
    let mut out = sweep(a, iterations, 0);
    out = out.merge(
        std::thread::scope(|s| s.spawn(|| sweep(a, iterations, 1)).join())
            .unwrap_or_else(|e| std::panic::resume_unwind(e)),
    );
    out.merge(sweep(a, iterations, 2))
}

fn sweep<A: GlobalAlloc + ?Sized>(a: &A, iterations: usize, pass: u64) -> Outcome {
    let mut out = Outcome::default();
    let mut live = vec![Block::EMPTY; BATCHES[BATCHES.len() - 1]];
    for size in SIZES {
        for n in BATCHES {
            for j in 0..(iterations / n).max(1) {
                let tag = (pass << 56) ^ ((size as u64) << 40) ^ ((n as u64) << 24) ^ j as u64;
                for (i, slot) in live[..n].iter_mut().enumerate() {
                    *slot = block::new_stamped_full(a, size, tag.wrapping_add(i as u64));
                }
                for &b in &live[..n] {
                    // SAFETY: `b` was allocated and stamped just above, from `a`.
                    out.checksum = out
                        .checksum
                        .wrapping_add(unsafe { block::free_verified(a, b) });
                }
                out.ops += 2 * n as u64;
            }
        }
    }
    out
}
