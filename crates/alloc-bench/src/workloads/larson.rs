//! `larson`: the server simulation of Larson and Krishnan ("Memory
//! allocation for long-running server applications", ISMM 1998), in the
//! configuration mimalloc-bench runs (block sizes 8..=1000, 5000 slots per
//! thread).
//!
//! Each of `threads` *lineages* owns a slice of slots holding live blocks.
//!
//! 1. The main thread fills every slot with a block of random size: every
//!    block the workers free first was allocated by another thread.
//! 2. A lineage's thread performs `ops_per_generation` replacements: pick a
//!    random slot, check and free its block, allocate a block of a new
//!    random size, stamp it.
//! 3. It then spawns its successor, hands it the slots and exits. The
//!    successor frees blocks whose allocating thread is gone ("thread
//!    bleeding"), so the allocator's orphaned-heap path is on the hot path,
//!    and thread creation/exit is part of the workload as in the original.
//! 4. After [`GENERATIONS`] generations the main thread frees what is left.
//!
//! The original is timed (it counts operations in a fixed number of
//! seconds); here the operation count is fixed and the time is measured.

use core::alloc::GlobalAlloc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread::Scope;

use crate::block::{self, Block};
use crate::rng::Rng;
use crate::{Outcome, Params};

/// Block sizes, inclusive: mimalloc-bench's `larson 5 8 1000 ...`.
const MIN_SIZE: usize = 8;
const MAX_SIZE: usize = 1000;
/// Slots per lineage: mimalloc-bench's `... 5000 ...`.
const SLOTS: usize = 5000;
/// Threads in each lineage over the run.
pub const GENERATIONS: usize = 10;
/// Replacements per lineage at scale 1 (~1 s with glibc, 4 threads, 2 cores).
const BASE_OPS: usize = 3_200_000;
const SEED: u64 = 4141;

/// Everything a lineage thread needs; `Copy` so successors get a copy.
struct Shared<'e, A: ?Sized> {
    a: &'e A,
    ops_per_generation: usize,
    /// Wrapping sum of freed digests; Relaxed: only read after the scope
    /// joins every thread, which synchronises.
    checksum: &'e AtomicU64,
    /// Allocator operations; Relaxed for the same reason.
    ops: &'e AtomicU64,
    /// The slots of each lineage's last generation, for the final free.
    finished: &'e Mutex<Vec<Vec<Block>>>,
}

impl<A: ?Sized> Clone for Shared<'_, A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A: ?Sized> Copy for Shared<'_, A> {}

pub fn run<A: GlobalAlloc + Sync + ?Sized>(a: &A, p: &Params) -> Outcome {
    let threads = p.threads();
    let total = p.count(BASE_OPS);
    let generations = GENERATIONS.min(total);
    let checksum = AtomicU64::new(0);
    let ops = AtomicU64::new(0);
    let finished = Mutex::new(Vec::with_capacity(threads));

    // Step 1: the main thread allocates every initial block.
    let mut rng = Rng::new(SEED, u64::MAX);
    let lineages: Vec<Vec<Block>> = (0..threads)
        .map(|_| {
            (0..SLOTS)
                .map(|_| {
                    let size = rng.range(MIN_SIZE, MAX_SIZE);
                    block::new_stamped(a, size, rng.next_u64())
                })
                .collect()
        })
        .collect();
    let mut initial_ops = (threads * SLOTS) as u64;

    let shared = Shared {
        a,
        ops_per_generation: total / generations,
        checksum: &checksum,
        ops: &ops,
        finished: &finished,
    };
    std::thread::scope(|s| {
        for (l, slots) in lineages.into_iter().enumerate() {
            s.spawn(move || generation(s, shared, slots, l as u64, 0, generations));
        }
    });

    // Step 4: free what the last generations left.
    let mut sum = checksum.into_inner();
    for slots in finished.into_inner().unwrap_or_else(|e| e.into_inner()) {
        for b in slots {
            // SAFETY: every slot holds a live stamped block from `a`; the
            // lineage that owned it has exited.
            sum = sum.wrapping_add(unsafe { block::free_verified(a, b) });
            initial_ops += 1;
        }
    }
    Outcome {
        checksum: sum,
        ops: ops.into_inner() + initial_ops,
    }
}

/// Steps 2 and 3 for generation `gen` of lineage `lineage`.
fn generation<'s, 'e: 's, A: GlobalAlloc + Sync + ?Sized>(
    s: &'s Scope<'s, 'e>,
    sh: Shared<'e, A>,
    mut slots: Vec<Block>,
    lineage: u64,
    gen: usize,
    generations: usize,
) {
    let mut rng = Rng::new(SEED, (lineage << 32) | gen as u64);
    let mut sum = 0u64;
    for _ in 0..sh.ops_per_generation {
        let k = rng.below(SLOTS);
        let size = rng.range(MIN_SIZE, MAX_SIZE);
        // SAFETY: slot `k` holds a live block this lineage owns; it is
        // replaced before anyone can look at it again.
        sum = sum.wrapping_add(unsafe { block::free_verified(sh.a, slots[k]) });
        slots[k] = block::new_stamped(sh.a, size, rng.next_u64());
    }
    sh.checksum.fetch_add(sum, Ordering::Relaxed);
    sh.ops
        .fetch_add(2 * sh.ops_per_generation as u64, Ordering::Relaxed);

    if gen + 1 < generations {
        s.spawn(move || generation(s, sh, slots, lineage, gen + 1, generations));
    } else {
        sh.finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(slots);
    }
}
