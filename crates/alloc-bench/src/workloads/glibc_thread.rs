//! `glibc-thread`: glibc's `bench-malloc-thread` (benchtests/, run by
//! mimalloc-bench with 1 and N threads): random-size malloc/free over a
//! per-thread working set.
//!
//! 1. The main thread precomputes [`SIZE_TABLE`] block sizes drawn from an
//!    inverse-square distribution over [`MIN_SIZE`]..=[`MAX_SIZE`] (so most
//!    blocks are a few dozen bytes and a few are tens of KiB) and
//!    [`OFFSET_TABLE`] slot indices, all threads sharing the tables.
//! 2. Each thread keeps [`WORKING_SET`] slots and repeats `iterations`
//!    times: take the next slot index and the next size from the tables
//!    (cycling), free the slot's block, allocate a new one of that size and
//!    write every byte of it.
//! 3. Each thread frees its working set at the end.
//!
//! The original runs for a fixed time and reports iterations; here the
//! iteration count is fixed and the time measured.

use core::alloc::GlobalAlloc;

use crate::block::{self, Block};
use crate::rng::Rng;
use crate::{Outcome, Params};

/// Working-set slots per thread, as in the original.
pub const WORKING_SET: usize = 1024;
/// Smallest and largest block, as in the original.
pub const MIN_SIZE: usize = 4;
pub const MAX_SIZE: usize = 32768;
/// Table lengths, as in the original (8000 sizes, 4 offsets per slot).
pub const SIZE_TABLE: usize = 8000;
pub const OFFSET_TABLE: usize = WORKING_SET * 4;
/// Iterations per thread at scale 1.
const BASE_ITERATIONS: usize = 5_500_000;
const SEED: u64 = 88;

/// Inverse-square (Pareto, exponent -2) sample over `MIN_SIZE..=MAX_SIZE`
/// by inverting its CDF: `x = 1 / (1/min - u (1/min - 1/max))`.
fn inverse_square(u: f64) -> usize {
    let (lo, hi) = (1.0 / MIN_SIZE as f64, 1.0 / MAX_SIZE as f64);
    ((1.0 / (lo - u * (lo - hi))) as usize).clamp(MIN_SIZE, MAX_SIZE)
}

pub fn run<A: GlobalAlloc + Sync + ?Sized>(a: &A, p: &Params) -> Outcome {
    let iterations = p.count(BASE_ITERATIONS);
    // Step 1.
    let mut r = Rng::new(SEED, 0);
    let sizes: Vec<usize> = (0..SIZE_TABLE).map(|_| inverse_square(r.unit())).collect();
    let offsets: Vec<usize> = (0..OFFSET_TABLE).map(|_| r.below(WORKING_SET)).collect();
    let (sizes, offsets) = (&sizes[..], &offsets[..]);

    std::thread::scope(|s| {
        let handles: Vec<_> = (0..p.threads())
            .map(|t| s.spawn(move || worker(a, sizes, offsets, iterations, t as u64)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .fold(Outcome::default(), Outcome::merge)
    })
}

/// Steps 2 and 3.
fn worker<A: GlobalAlloc + ?Sized>(
    a: &A,
    sizes: &[usize],
    offsets: &[usize],
    iterations: usize,
    t: u64,
) -> Outcome {
    let mut set = vec![Block::EMPTY; WORKING_SET];
    let mut out = Outcome::default();
    let (mut si, mut oi) = (0, 0);
    for i in 0..iterations {
        let k = offsets[oi];
        let size = sizes[si];
        oi = if oi + 1 == offsets.len() { 0 } else { oi + 1 };
        si = if si + 1 == sizes.len() { 0 } else { si + 1 };
        if !set[k].is_empty() {
            // SAFETY: a non-empty slot holds a live stamped block from `a`.
            out.checksum = out
                .checksum
                .wrapping_add(unsafe { block::free_verified(a, set[k]) });
            out.ops += 1;
        }
        set[k] = block::new_stamped_full(a, size, (t << 48) ^ i as u64);
        out.ops += 1;
    }
    for b in set.into_iter().filter(|b| !b.is_empty()) {
        // SAFETY: as above; each block is freed once.
        out.checksum = out
            .checksum
            .wrapping_add(unsafe { block::free_verified(a, b) });
        out.ops += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_square_favours_small_and_spans_the_range() {
        assert_eq!(inverse_square(0.0), MIN_SIZE);
        assert_eq!(inverse_square(1.0), MAX_SIZE);
        let mut r = Rng::new(1, 0);
        let xs: Vec<usize> = (0..10_000).map(|_| inverse_square(r.unit())).collect();
        let small = xs.iter().filter(|&&x| x <= 64).count();
        assert!(small > 9_000, "{small}");
    }
}
