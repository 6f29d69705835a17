//! `alloc-test`: OLogN Technologies' alloc-test (node-dot-cpp/alloc-test,
//! described in "Testing Memory Allocators: ptmalloc2 vs tcmalloc vs hoard
//! vs jemalloc While Trying to Simulate Real-World Loads", IT Hare 2018),
//! run by mimalloc-bench with 1 and N threads: each thread allocates and
//! frees blocks of mostly small sizes in a working set that grows and
//! shrinks at random.
//!
//! Each thread keeps [`SLOTS`] slots and runs `ops` steps in phases of
//! [`PHASE`] steps:
//!
//! 1. At a phase start, pick the active prefix `SLOTS / 8 ..= SLOTS` of the
//!    slot array and free every block beyond it (a working set shrinking).
//! 2. A step picks a random active slot. A full slot has its block checked
//!    and freed and, one time in two, immediately replaced; an empty slot
//!    gets a new block. Sizes are log-uniform over 8..=1000 bytes (pick a
//!    power-of-two class from 8 to 512, then a size uniform within it), and
//!    the first 64 bytes of each block are written.
//! 3. The thread frees everything at the end.

use core::alloc::GlobalAlloc;

use crate::block::{self, Block};
use crate::rng::Rng;
use crate::{Outcome, Params};

/// Slots per thread (the original's per-thread item limit is of this order).
pub const SLOTS: usize = 1 << 15;
/// Steps between working-set resizes.
pub const PHASE: usize = 1 << 16;
pub const MIN_SIZE: usize = 8;
pub const MAX_SIZE: usize = 1000;
/// Bytes written at the front of each block (plus its last byte).
const WRITTEN: usize = 64;
/// Steps per thread at scale 1.
const BASE_OPS: usize = 2_600_000;
const SEED: u64 = 0xa770_c7e5;

fn size(r: &mut Rng) -> usize {
    let lo = MIN_SIZE << r.below(7); // 8, 16, .., 512
    r.range(lo, (2 * lo).min(MAX_SIZE))
}

pub fn run<A: GlobalAlloc + Sync + ?Sized>(a: &A, p: &Params) -> Outcome {
    let ops = p.count(BASE_OPS);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..p.threads())
            .map(|t| s.spawn(move || worker(a, ops, t as u64)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .fold(Outcome::default(), Outcome::merge)
    })
}

fn new_block<A: GlobalAlloc + ?Sized>(a: &A, r: &mut Rng) -> Block {
    let sz = size(r);
    let tag = r.next_u64();
    let b = block::new_stamped(a, sz, tag);
    // Fill bytes 8..WRITTEN (but not the check byte) with the tag's bytes.
    let end = WRITTEN.min(sz - 1);
    for i in 8..end {
        // SAFETY: `i < sz - 1`, inside the fresh block.
        unsafe { b.ptr.add(i).write((tag >> (8 * (i % 8))) as u8) };
    }
    b
}

fn worker<A: GlobalAlloc + ?Sized>(a: &A, ops: usize, t: u64) -> Outcome {
    let mut r = Rng::new(SEED, t);
    let mut slots = vec![Block::EMPTY; SLOTS];
    let mut out = Outcome::default();
    let free = |out: &mut Outcome, b: &mut Block| {
        if !b.is_empty() {
            // SAFETY: a non-empty slot holds a live stamped block from `a`,
            // emptied right after.
            out.checksum = out
                .checksum
                .wrapping_add(unsafe { block::free_verified(a, *b) });
            out.ops += 1;
            *b = Block::EMPTY;
        }
    };
    let mut active = SLOTS;
    for step in 0..ops {
        if step % PHASE == 0 {
            // Step 1.
            active = r.range(SLOTS / 8, SLOTS);
            for b in &mut slots[active..] {
                free(&mut out, b);
            }
        }
        // Step 2.
        let k = r.below(active);
        if slots[k].is_empty() || {
            free(&mut out, &mut slots[k]);
            r.chance(50)
        } {
            slots[k] = new_block(a, &mut r);
            out.ops += 1;
        }
    }
    // Step 3.
    for b in &mut slots {
        free(&mut out, b);
    }
    out
}
