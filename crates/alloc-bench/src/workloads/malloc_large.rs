//! `malloc-large`: large blocks (mimalloc-bench's `malloc-large`, after a
//! benchmark by Danila Kutenin): the path from the allocator to the OS and
//! back, and how much of a freed huge block is kept, returned or reused.
//!
//! 1. Repeat `iterations` times: allocate a block of a random size between
//!    [`MIN_SIZE`] (5 MiB) and [`MAX_SIZE`] (25 MiB), write one word on
//!    every 4 KiB page (so every page is faulted in) plus its last byte.
//! 2. Keep the last [`LIVE`] blocks; each new block evicts the oldest,
//!    whose page words are checked before it is freed.
//! 3. Free the remaining blocks at the end.
//!
//! Single-threaded, as mimalloc-bench runs it.

use core::alloc::GlobalAlloc;

use crate::block::{self, Block};
use crate::rng::{mix, Rng};
use crate::{Outcome, Params};

pub const MIN_SIZE: usize = 5 << 20;
pub const MAX_SIZE: usize = 25 << 20;
/// Blocks alive at once: a peak footprint of at most 100 MiB.
pub const LIVE: usize = 4;
/// Distance between the words written: the x86-64 base page size.
const PAGE: usize = 4096;
/// Blocks allocated at scale 1.
const BASE_ITERATIONS: usize = 420;
const SEED: u64 = 0x1a29e;

/// Writes (or, with `check`, verifies) one word per page of `b`, clear of
/// the stamp's first word and last byte; returns a digest of the words.
///
/// # Safety
/// `b` is a live block of `b.size >= 16` bytes, 8-aligned, owned by the
/// caller; with `check`, its pages were written by this function.
unsafe fn pages(b: Block, tag: u64, check: bool) -> u64 {
    let mut sum = 0;
    for (n, off) in (8..b.size - 16).step_by(PAGE).enumerate() {
        let v = mix(tag ^ n as u64);
        // SAFETY: `8 <= off` and `off + 8 < size - 1`: inside the block and
        // clear of the stamp; `off` is a multiple of 8 from an 8-aligned base.
        let w = unsafe { b.ptr.add(off).cast::<u64>() };
        if check {
            // SAFETY: as above.
            assert_eq!(unsafe { w.read() }, v, "memory corruption in a large block");
        } else {
            // SAFETY: as above.
            unsafe { w.write(v) };
        }
        sum ^= v;
    }
    sum
}

pub fn run<A: GlobalAlloc + Sync + ?Sized>(a: &A, p: &Params) -> Outcome {
    let mut r = Rng::new(SEED, 0);
    let mut live: [(Block, u64); LIVE] = [(Block::EMPTY, 0); LIVE];
    let mut out = Outcome::default();
    let retire = |out: &mut Outcome, (b, tag): (Block, u64)| {
        if !b.is_empty() {
            // SAFETY: `b` is live, from `a`, and was written by `pages` and
            // `stamp` with `tag`; it is freed once.
            unsafe {
                let d = pages(b, tag, true);
                out.checksum = out
                    .checksum
                    .wrapping_add(d)
                    .wrapping_add(block::verify(b.ptr, b.size));
                block::free(a, b.ptr, b.size);
            }
            out.ops += 1;
        }
    };
    for i in 0..p.count(BASE_ITERATIONS) {
        // Step 1.
        let size = r.range(MIN_SIZE, MAX_SIZE);
        let tag = r.next_u64();
        let b = Block {
            ptr: block::alloc(a, size),
            size,
        };
        // SAFETY: `b` is a fresh, 8-aligned block of `size` bytes.
        unsafe {
            pages(b, tag, false);
            block::stamp(b.ptr, size, tag);
        }
        out.ops += 1;
        // Step 2.
        retire(&mut out, core::mem::replace(&mut live[i % LIVE], (b, tag)));
    }
    // Step 3.
    for e in live {
        retire(&mut out, e);
    }
    out
}
