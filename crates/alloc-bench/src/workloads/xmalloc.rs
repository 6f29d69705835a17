//! `xmalloc-test`: the producer/consumer test of Lever and Boreham
//! ("malloc() Performance in a Multithreaded Linux Environment", USENIX
//! 2000), run by mimalloc-bench as `xmalloc-test -w N -t 5 -s 64`. It is the
//! suite's cross-thread-free stress: no block is freed by its allocator.
//!
//! 1. Half of the threads (at least one) are producers, the rest consumers.
//! 2. A producer allocates blocks (half of them 64 bytes, the rest random in
//!    8..=256), stamps them, and collects them in [`Batch`]es (themselves
//!    allocated from the allocator under test) which it sends to a shared,
//!    bounded [`Mailbox`].
//! 3. A consumer receives batches, checks and frees every block, then frees
//!    the batch.
//! 4. The last producer to finish closes the mailbox; consumers exit when
//!    it is empty.
//!
//! The original runs for a fixed time; here each producer allocates a fixed
//! number of blocks.

use core::alloc::GlobalAlloc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::block;
use crate::mailbox::{Batch, Mailbox};
use crate::rng::Rng;
use crate::{Outcome, Params};

/// Blocks allocated per producer at scale 1.
const BASE_BLOCKS: usize = 4_000_000;
/// Batches in flight before producers wait: bounds the footprint to about
/// `64 * 64 * 160` bytes while keeping consumers busy.
const IN_FLIGHT: usize = 64;
const SEED: u64 = 0x00c1_7100;

pub fn run<A: GlobalAlloc + Sync + ?Sized>(a: &A, p: &Params) -> Outcome {
    let threads = p.threads().max(2);
    let producers = threads / 2;
    let consumers = threads - producers;
    let blocks = p.count(BASE_BLOCKS);
    let mailbox = Mailbox::new(IN_FLIGHT);
    let running = AtomicUsize::new(producers);

    std::thread::scope(|s| {
        for t in 0..producers {
            let (mailbox, running) = (&mailbox, &running);
            s.spawn(move || {
                produce(a, mailbox, blocks, t as u64);
                // AcqRel: the last decrement happens after every producer's
                // final send (each send and `close` also take the mailbox
                // lock, which orders them for the consumers).
                if running.fetch_sub(1, Ordering::AcqRel) == 1 {
                    mailbox.close();
                }
            });
        }
        let handles: Vec<_> = (0..consumers)
            .map(|_| s.spawn(|| consume(a, &mailbox)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .fold(Outcome::default(), Outcome::merge)
    })
}

/// Step 2: allocate `blocks` blocks and send them in batches.
fn produce<A: GlobalAlloc + Sync + ?Sized>(a: &A, mailbox: &Mailbox, blocks: usize, t: u64) {
    let mut rng = Rng::new(SEED, t);
    let mut batch = Batch::new(a);
    for _ in 0..blocks {
        let size = if rng.chance(50) {
            64
        } else {
            rng.range(8, 256)
        };
        let b = block::new_stamped(a, size, rng.next_u64());
        // SAFETY: this thread owns `batch` until it is sent.
        if !unsafe { Batch::push(batch, b) } {
            // SAFETY: `batch` is full and ours; the mailbox takes it.
            unsafe { mailbox.send(batch) };
            batch = Batch::new(a);
            // SAFETY: a fresh batch has room.
            unsafe { Batch::push(batch, b) };
        }
    }
    // SAFETY: as above; an empty final batch is harmless.
    unsafe { mailbox.send(batch) };
}

/// Step 3: free everything received until the mailbox closes.
fn consume<A: GlobalAlloc + Sync + ?Sized>(a: &A, mailbox: &Mailbox) -> Outcome {
    let mut out = Outcome::default();
    while let Some(batch) = mailbox.recv() {
        // SAFETY: `recv` gave us ownership of `batch`, allocated from `a` by a
        // producer; each block in it is live, stamped, from `a`.
        unsafe {
            out.ops += 2 * Batch::len(batch) as u64 + 2;
            Batch::drain(a, batch, |b| {
                out.checksum = out.checksum.wrapping_add(block::free_verified(a, b));
            });
        }
    }
    out
}
