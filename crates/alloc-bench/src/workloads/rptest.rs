//! `rptest`: the benchmark of Mattias Jansson's rpmalloc
//! (rpmalloc-benchmark, run by mimalloc-bench as
//! `rptest N 0 1 2 500 1000 100 8 16000`): many threads allocating random
//! sizes from 16 bytes to 16 KB with small sizes favoured, keeping a working
//! set alive, and passing a share of their blocks to another thread to free.
//!
//! Thread `t` keeps a ring of [`RING`] live blocks and repeats `loops` times:
//!
//! 1. Take everything in its mailbox and free it: blocks allocated by thread
//!    `t - 1`, i.e. cross-thread frees.
//! 2. Allocate 32..=96 blocks with log-uniform sizes in
//!    [`MIN_SIZE`]..=[`MAX_SIZE`] (every size class about equally likely, so
//!    small sizes dominate the count; the median is ~500 bytes), each
//!    replacing — and freeing locally — the ring entry it lands on.
//! 3. Every [`CROSS_EVERY`]-th loop, move [`BATCH_CAP`] ring entries into a
//!    [`Batch`] and send it to thread `t + 1`'s mailbox.
//!
//! Threads meet at a barrier every [`SYNC_EVERY`] loops to bound the
//! batches in flight. At the end each thread frees its ring and the main thread drains every
//! mailbox. This is a rewrite from the published description, not a
//! transliteration: the original's size and operation tables are replaced
//! by a seeded generator.

use core::alloc::GlobalAlloc;
use std::sync::Barrier;

use crate::block::{self, Block};
use crate::mailbox::{Batch, Mailbox, BATCH_CAP};
use crate::rng::Rng;
use crate::{Outcome, Params};

pub const MIN_SIZE: usize = 16;
pub const MAX_SIZE: usize = 16_000;
/// Live blocks per thread between loops.
pub const RING: usize = 1024;
/// One loop in four hands a batch to the neighbour thread.
pub const CROSS_EVERY: usize = 4;
/// Loops per thread at scale 1.
const BASE_LOOPS: usize = 18_000;
/// Threads meet at a barrier every this many loops, so none runs far ahead
/// of the neighbour that frees its batches: without it, a thread that
/// finished early would leave up to `loops / CROSS_EVERY` batches piling up
/// in its mailbox (hundreds of MiB measured with 4 threads on 2 cores).
pub const SYNC_EVERY: usize = 256;
const SEED: u64 = 0x5270_7465;

/// A log-uniform size in `MIN_SIZE..=MAX_SIZE`.
fn size(r: &mut Rng) -> usize {
    let ratio = (MAX_SIZE as f64) / (MIN_SIZE as f64);
    ((MIN_SIZE as f64) * ratio.powf(r.unit())).min(MAX_SIZE as f64) as usize
}

pub fn run<A: GlobalAlloc + Sync + ?Sized>(a: &A, p: &Params) -> Outcome {
    let threads = p.threads();
    let loops = p.count(BASE_LOOPS);
    let mailboxes: Vec<Mailbox> = (0..threads).map(|_| Mailbox::new(0)).collect();
    let mailboxes = &mailboxes[..];
    let barrier = &Barrier::new(threads);

    let mut out = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let boxes = (&mailboxes[t], &mailboxes[(t + 1) % threads]);
                    worker(a, boxes, barrier, loops, t)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .fold(Outcome::default(), Outcome::merge)
    });
    for m in mailboxes {
        out = out.merge(drain(a, m));
    }
    out
}

/// Frees every block in `m`'s batches, and the batches.
fn drain<A: GlobalAlloc + ?Sized>(a: &A, m: &Mailbox) -> Outcome {
    let mut out = Outcome::default();
    // SAFETY: `take_all` hands us the list; its batches and blocks are live,
    // stamped, from `a`.
    unsafe {
        Mailbox::free_list(a, m.take_all(), |b| {
            out.checksum = out.checksum.wrapping_add(block::free_verified(a, b));
            out.ops += 1;
        })
    };
    out
}

fn worker<A: GlobalAlloc + Sync + ?Sized>(
    a: &A,
    (inbox, outbox): (&Mailbox, &Mailbox),
    barrier: &Barrier,
    loops: usize,
    t: usize,
) -> Outcome {
    let mut r = Rng::new(SEED, t as u64);
    let mut ring = vec![Block::EMPTY; RING];
    let mut out = Outcome::default();
    let free_local = |out: &mut Outcome, b: Block| {
        if !b.is_empty() {
            // SAFETY: ring entries are live stamped blocks from `a` we own.
            out.checksum = out
                .checksum
                .wrapping_add(unsafe { block::free_verified(a, b) });
            out.ops += 1;
        }
    };
    let mut cursor = 0;
    for l in 0..loops {
        if l % SYNC_EVERY == 0 {
            barrier.wait();
        }
        // Step 1.
        out = out.merge(drain(a, inbox));
        // Step 2.
        for _ in 0..r.range(32, 96) {
            let k = (cursor + r.below(8)) % RING;
            cursor = (cursor + 1) % RING;
            let sz = size(&mut r);
            free_local(&mut out, ring[k]);
            ring[k] = block::new_stamped(a, sz, r.next_u64());
            out.ops += 1;
        }
        // Step 3.
        if l % CROSS_EVERY == CROSS_EVERY - 1 {
            let batch = Batch::new(a);
            for _ in 0..BATCH_CAP {
                let k = r.below(RING);
                if !ring[k].is_empty() {
                    // SAFETY: `batch` is ours and has room (at most
                    // BATCH_CAP pushes).
                    unsafe { Batch::push(batch, ring[k]) };
                    ring[k] = Block::EMPTY;
                }
            }
            // SAFETY: `batch` is ours; the neighbour takes it over.
            unsafe { outbox.send(batch) };
            out.ops += 2; // the batch's own alloc and (remote) free
        }
    }
    for b in ring {
        free_local(&mut out, b);
    }
    out
}
