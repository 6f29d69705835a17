//! Multi-threaded stress tests with deterministic seeds (STYLE.md, tests
//! tier 4): cross-thread frees, thread churn, an owner that keeps
//! allocating while others free everything it hands out, and all threads
//! freeing into each other's spans.
//!
//! Each thread's operation sequence comes from a fixed seed; the
//! interleaving is up to the scheduler. Every block carries a header (its
//! size and a nonce) and a fill pattern derived from both and its address,
//! verified before every free, so a block handed out twice or corrupted by
//! a free-list write shows up.
//!
//! Sized to take seconds in CI (debug); `TRICOLOR_STRESS_LONG=1` runs 20×
//! the iterations.
//!
//! The tests compare heap-wide figures before and after, so each takes
//! `HEAP` first (the harness runs tests on parallel threads but does not
//! allocate from this heap, which is not the global allocator here; under
//! `self-hosted` the figure checks are skipped).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use tricolor_heap::{alloc, free, realloc, stats};

static HEAP: Mutex<()> = Mutex::new(());

fn heap_to_myself() -> MutexGuard<'static, ()> {
    HEAP.lock().unwrap_or_else(|e| e.into_inner())
}

/// Are heap-wide figures meaningful (nobody else allocates from the heap)?
fn exact() -> bool {
    let _ = stats();
    let probe = Box::new(0u64);
    !tricolor_heap::arena::contains(&*probe as *const u64 as usize)
}

/// Iteration multiplier: 1 in CI, 20 with `TRICOLOR_STRESS_LONG=1`.
fn scale() -> usize {
    match std::env::var("TRICOLOR_STRESS_LONG").as_deref() {
        Ok("1") => 20,
        _ => 1,
    }
}

/// SplitMix64: small, fast, and good enough to pick sizes and slots.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Block sizes: mostly small, some up to 4 KiB, rarely large (64 KiB).
    fn size(&mut self) -> usize {
        match self.below(64) {
            0 => 32 * 1024 + self.below(32 * 1024),
            1..=6 => 16 + self.below(4096),
            _ => 16 + self.below(256),
        }
    }
}

/// A block made by [`Blk::new`]: `[size: u64][nonce: u64][fill …]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Blk {
    addr: usize,
    nonce: u64,
}

/// Largest size `Rng::size` makes, for header sanity checks.
const MAX_BLOCK: usize = 64 * 1024;

fn fill_byte(addr: usize, size: usize, nonce: u64) -> u8 {
    let x = (addr as u64 ^ nonce ^ (size as u64) << 40).wrapping_mul(0x2545_F491_4F6C_DD1D);
    (x >> 56) as u8 | 1
}

impl Blk {
    /// Allocate `size >= 16` bytes and write the header and pattern.
    fn new(size: usize, rng: &mut Rng) -> Blk {
        debug_assert!((16..=MAX_BLOCK).contains(&size));
        let p = alloc(size, 8);
        assert!(!p.is_null(), "alloc({size}) failed");
        let nonce = rng.next();
        // SAFETY: a fresh block of `size` bytes.
        unsafe { Blk::write(p, size, nonce) };
        Blk {
            addr: p as usize,
            nonce,
        }
    }

    /// # Safety
    /// `p` is valid for `size >= 16` bytes of writes.
    unsafe fn write(p: *mut u8, size: usize, nonce: u64) {
        // SAFETY: the caller's guarantee; the header is the first 16 bytes.
        unsafe {
            p.add(16)
                .write_bytes(fill_byte(p as usize, size, nonce), size - 16);
            (p as *mut u64).write(size as u64);
            (p as *mut u64).add(1).write(nonce);
        }
    }

    /// Check the header and the pattern; returns the size.
    fn verify(self) -> usize {
        let p = self.addr as *const u8;
        // SAFETY: a live block of at least 16 bytes; its size is checked
        // before the body is read.
        unsafe {
            let size = (p as *const u64).read() as usize;
            let nonce = (p as *const u64).add(1).read();
            assert_eq!(
                nonce, self.nonce,
                "block {p:p}: header overwritten (size word {size:#x})"
            );
            assert!(
                (16..=MAX_BLOCK).contains(&size),
                "block {p:p}: size word {size:#x} corrupted"
            );
            let body = std::slice::from_raw_parts(p.add(16), size - 16);
            let expect = [fill_byte(self.addr, size, nonce); 4096];
            for (i, c) in body.chunks(4096).enumerate() {
                if c != &expect[..c.len()] {
                    let j = c.iter().position(|&x| x != expect[0]).unwrap();
                    panic!(
                        "block {p:p} ({size} B): byte {} is {:#04x}, expected {:#04x}",
                        16 + i * 4096 + j,
                        c[j],
                        expect[0]
                    );
                }
            }
            size
        }
    }

    /// Verify and free (from whatever thread holds the block).
    fn release(self) {
        self.verify();
        // SAFETY: a live block, freed once: whoever holds the `Blk` owns it.
        unsafe { free(self.addr as *mut u8) };
    }

    /// Verify, then `realloc` to `new_size` (possibly from a thread that does
    /// not own the span) and check the kept prefix; re-pattern the result.
    fn resize(self, new_size: usize, rng: &mut Rng) -> Blk {
        let old = self.verify();
        // SAFETY: a live block allocated with alignment 8.
        let q = unsafe { realloc(self.addr as *mut u8, 8, new_size) };
        assert!(!q.is_null(), "realloc to {new_size} failed");
        let keep = old.min(new_size);
        // SAFETY: `q` holds at least `keep` bytes copied from the old block.
        unsafe {
            assert_eq!(
                (q as *const u64).add(1).read(),
                self.nonce,
                "realloc lost the header"
            );
            let body = std::slice::from_raw_parts(q.add(16), keep - 16);
            let b = fill_byte(self.addr, old, self.nonce);
            assert!(
                body.iter().all(|&x| x == b),
                "realloc {old} → {new_size} did not keep the contents"
            );
        }
        let nonce = rng.next();
        // SAFETY: `q` is a live block of `new_size` bytes.
        unsafe { Blk::write(q, new_size, nonce) };
        Blk {
            addr: q as usize,
            nonce,
        }
    }
}

/// A one-shot rendezvous of `n` threads that fails instead of hanging when
/// one of them panics (a `Barrier` would wait forever for the dead one).
struct Gate {
    n: usize,
    arrived: AtomicUsize,
    broken: AtomicBool,
}

/// Breaks its gate if dropped while the thread panics.
struct GateGuard<'a>(&'a Gate);

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.broken.store(true, Ordering::SeqCst);
        }
    }
}

impl Gate {
    fn new(n: usize) -> Gate {
        Gate {
            n,
            arrived: AtomicUsize::new(0),
            broken: AtomicBool::new(false),
        }
    }

    /// Call at the top of every thread that will `wait` or that others
    /// wait for.
    fn guard(&self) -> GateGuard<'_> {
        GateGuard(self)
    }

    fn wait(&self) {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let start = std::time::Instant::now();
        while self.arrived.load(Ordering::SeqCst) < self.n {
            assert!(
                !self.broken.load(Ordering::SeqCst),
                "a peer thread panicked"
            );
            assert!(start.elapsed().as_secs() < 300, "peers never arrived");
            thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// Bytes the block at `addr` takes in its span, as `stats().allocated`
/// counts it (its class size, or its pages).
fn elem_size(addr: usize) -> usize {
    let span = tricolor_heap::arena::span_of(addr).expect("a live block has a span");
    // SAFETY: the span of a live block is a valid record.
    unsafe { span.as_ref().elem_size }
}

/// Heap figures before a test, to compare with after.
struct Before {
    exact: bool,
    allocated: usize,
    thread_caches: usize,
}

impl Before {
    fn take() -> Before {
        let exact = exact();
        let s = stats();
        Before {
            exact,
            allocated: s.allocated,
            thread_caches: s.thread_caches,
        }
    }

    /// Every thread the test started has exited and everything it allocated
    /// was freed while its owner was alive: the owners' exit flush collected
    /// every remote free, so the heap holds exactly what it held before.
    fn check_all_returned(&self, what: &str) {
        if !self.exact {
            return;
        }
        let s = stats();
        assert_eq!(
            s.thread_caches, self.thread_caches,
            "{what}: thread caches left behind"
        );
        assert!(
            s.allocated <= self.allocated,
            "{what}: allocated {} after, {} before",
            s.allocated,
            self.allocated
        );
        assert!(s.in_use >= s.allocated);
    }
}

/// (a) xmalloc-like: producers allocate and pass batches to consumers,
/// which verify and free them (every free is remote). Producers stay alive
/// until the consumers are done, so all remote frees land in live owners'
/// spans and the owners' exit collects them.
#[test]
fn producers_and_consumers_free_across_threads() {
    let _heap = heap_to_myself();
    let before = Before::take();
    const PRODUCERS: usize = 3;
    const CONSUMERS: usize = 2;
    const BATCH: usize = 64;
    let per_producer = 200_000 * scale();
    let consumed = AtomicUsize::new(0);
    let consumers_done = Gate::new(PRODUCERS + CONSUMERS);
    thread::scope(|s| {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for c in 0..CONSUMERS {
            let (tx, rx) = sync_channel::<Vec<Blk>>(8);
            senders.push(tx);
            let (consumed, consumers_done) = (&consumed, &consumers_done);
            handles.push(s.spawn(move || {
                let _g = consumers_done.guard();
                let mut rng = Rng::new(1000 + c as u64);
                for batch in rx {
                    for b in batch {
                        // Now and then resize a block we do not own first.
                        if rng.below(16) == 0 {
                            let n = 16 + rng.below(2000);
                            b.resize(n, &mut rng).release();
                        } else {
                            b.release();
                        }
                        consumed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                consumers_done.wait();
                0
            }));
        }
        for p in 0..PRODUCERS {
            let senders = senders.clone();
            let consumers_done = &consumers_done;
            handles.push(s.spawn(move || {
                let _g = consumers_done.guard();
                let mut rng = Rng::new(p as u64);
                let mut batch = Vec::with_capacity(BATCH);
                let mut local = Vec::new();
                for i in 0..per_producer {
                    let size = rng.size();
                    let b = Blk::new(size, &mut rng);
                    // A few blocks stay with the producer for a while and are
                    // freed locally, mixing local and remote frees in a span.
                    if rng.below(8) == 0 {
                        local.push(b);
                        if local.len() > 100 {
                            let k = rng.below(local.len());
                            local.swap_remove(k).release();
                        }
                        continue;
                    }
                    batch.push(b);
                    if batch.len() == BATCH {
                        let to = (p + i) % CONSUMERS;
                        senders[to]
                            .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                            .unwrap();
                    }
                }
                let n_local = local.len();
                for b in local {
                    b.release();
                }
                senders[p % CONSUMERS].send(batch).unwrap();
                drop(senders);
                consumers_done.wait();
                n_local
            }));
        }
        drop(senders);
        for h in handles {
            h.join().unwrap();
        }
    });
    assert!(consumed.load(Ordering::Relaxed) > per_producer * PRODUCERS / 2);
    before.check_all_returned("producers/consumers");
}

/// (b) Thread churn: hundreds of short-lived threads allocate, free half
/// of their blocks themselves, hand the other half to a long-lived
/// collector, and exit. The collector frees its blocks only after every
/// producer is gone: frees into spans whose owner has exited.
#[test]
fn short_lived_threads_hand_blocks_to_a_long_lived_one() {
    let _heap = heap_to_myself();
    let before = Before::take();
    let producers = 600 * scale();
    const WAVE: usize = 4;
    const PER_THREAD: usize = 64;
    enum Msg {
        Blocks(Vec<Blk>),
        ProducersGone,
    }
    let (tx, rx) = channel::<Msg>();
    let collector = thread::spawn(move || {
        let mut held = Vec::new();
        let mut handed = 0;
        for m in rx {
            match m {
                Msg::Blocks(v) => {
                    handed += v.len();
                    held.extend(v);
                }
                Msg::ProducersGone => break,
            }
        }
        // Free in an order unrelated to the producers'.
        let mut rng = Rng::new(77);
        let mut bytes = 0;
        while !held.is_empty() {
            let k = rng.below(held.len());
            let b = held.swap_remove(k);
            bytes += elem_size(b.addr);
            b.release();
        }
        (handed, bytes)
    });
    for wave in 0..producers.div_ceil(WAVE) {
        let threads: Vec<_> = (0..WAVE)
            .map(|k| {
                let tx = tx.clone();
                let seed = (wave * WAVE + k) as u64;
                thread::spawn(move || {
                    let mut rng = Rng::new(seed);
                    let mut mine: Vec<Blk> = (0..PER_THREAD)
                        .map(|_| Blk::new(rng.size(), &mut rng))
                        .collect();
                    let mut give = Vec::new();
                    for i in (0..PER_THREAD).rev() {
                        if i % 2 == (seed as usize) % 2 {
                            give.push(mine.swap_remove(i));
                        }
                    }
                    tx.send(Msg::Blocks(give)).unwrap();
                    for b in mine {
                        b.release();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
    tx.send(Msg::ProducersGone).unwrap();
    let (handed, handed_bytes) = collector.join().unwrap();
    assert_eq!(handed, producers.div_ceil(WAVE) * WAVE * PER_THREAD / 2);
    let after = stats();
    if before.exact {
        assert_eq!(after.thread_caches, before.thread_caches);
        // The collector's frees went into spans of exited threads, waiting
        // in the central lists; they count as allocated until some thread
        // adopts those spans (see thread_exit.rs, the ignored test on that).
        // Nothing else may remain: the producers' own frees and exit
        // flushes were exact.
        assert!(
            after.allocated <= before.allocated + handed_bytes,
            "allocated {} after, {} before, {handed_bytes} B freed into exited threads' spans",
            after.allocated,
            before.allocated
        );
    }
    // The memory is reusable: more of the same work, run by new threads,
    // adopts those spans and gives them back when empty, so the heap only
    // shrinks.
    for wave in 0..4 {
        thread::spawn(move || {
            let mut rng = Rng::new(10_000 + wave);
            let v: Vec<Blk> = (0..PER_THREAD * 50)
                .map(|_| Blk::new(rng.size(), &mut rng))
                .collect();
            for b in v {
                b.release();
            }
        })
        .join()
        .unwrap();
    }
    if before.exact {
        let again = stats();
        assert!(
            again.in_use <= after.in_use,
            "in_use grew from {} to {}",
            after.in_use,
            again.in_use
        );
        assert!(again.allocated <= after.allocated);
        assert_eq!(
            again.committed, after.committed,
            "a repeat of the work needed new arenas"
        );
    }
}

/// (c) One owner allocates without pause and hands everything to freer
/// threads: every free is remote, so its spans fill, get parked, and come
/// back only through the reclaim protocol (`remote.rs`). The heap must stay
/// bounded by the blocks in flight, not grow with the total allocated.
#[test]
fn owner_keeps_allocating_while_others_free_everything() {
    let _heap = heap_to_myself();
    let before = Before::take();
    let in_use_before = stats().in_use;
    const FREERS: usize = 2;
    const BATCH: usize = 32;
    // Few size classes, so the span footprint is small and the bound tight.
    const SIZES: [usize; 5] = [16, 48, 128, 256, 512];
    let total = 400_000 * scale();
    let freers_done = Gate::new(FREERS + 1);
    let (in_use_peak, bytes_total) = thread::scope(|s| {
        let mut senders = Vec::new();
        for f in 0..FREERS {
            let (tx, rx) = sync_channel::<Vec<Blk>>(4);
            senders.push(tx);
            let freers_done = &freers_done;
            s.spawn(move || {
                let _g = freers_done.guard();
                let _ = f;
                for batch in rx {
                    for b in batch {
                        b.release();
                    }
                }
                freers_done.wait();
            });
        }
        let freers_done = &freers_done;
        let owner = s.spawn(move || {
            let _g = freers_done.guard();
            let mut rng = Rng::new(42);
            let mut batch = Vec::with_capacity(BATCH);
            let mut peak = 0;
            let mut bytes = 0;
            for i in 0..total {
                let size = SIZES[rng.below(SIZES.len())];
                bytes += size;
                batch.push(Blk::new(size, &mut rng));
                if batch.len() == BATCH {
                    senders[i % FREERS]
                        .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .unwrap();
                }
                if i % 4096 == 0 {
                    peak = peak.max(stats().in_use);
                }
            }
            senders[0].send(batch).unwrap();
            drop(senders);
            // Stay alive until every remote free has landed, then exit: the
            // flush collects them all.
            freers_done.wait();
            (peak.max(stats().in_use), bytes)
        });
        owner.join().unwrap()
    });
    if before.exact {
        let growth = in_use_peak.saturating_sub(in_use_before);
        // In flight at most: 2 × 4 queued batches + 2 being freed + 1 being
        // filled, 32 blocks of ≤ 512 B each: < 200 KiB. Allow 2 MiB for
        // partly used spans of the five classes (72 KiB measured), far below
        // the ~75 MB allocated in all.
        assert!(
            growth < 2 << 20,
            "in_use grew by {growth} B while {bytes_total} B were allocated and freed remotely"
        );
        assert!(
            bytes_total > 16 * (2 << 20),
            "the run must allocate far more than the bound"
        );
    }
    before.check_all_returned("owner/freers");
}

/// (d) Every thread frees into every other thread's spans at random:
/// blocks are exchanged through a shared array of slots (an atomic swap
/// each), sometimes resized by a thread that does not own them. At the end
/// each thread empties its share of the slots, and no thread exits before
/// all have, so every free lands while its owner is alive.
#[test]
fn threads_free_into_each_others_spans() {
    let _heap = heap_to_myself();
    let before = Before::take();
    const THREADS: usize = 4;
    const SLOTS: usize = 1024;
    let iters = 250_000 * scale();
    let slots: Vec<AtomicUsize> = (0..SLOTS).map(|_| AtomicUsize::new(0)).collect();
    // A slot holds the block's address; its nonce travels in the block
    // header, so take it from there (and check everything else).
    let take = |slot: &AtomicUsize| -> Option<Blk> {
        let addr = slot.swap(0, Ordering::AcqRel);
        // SAFETY: a non-zero slot value is a live block we now own.
        (addr != 0).then(|| Blk {
            addr,
            nonce: unsafe { (addr as *const u64).add(1).read() },
        })
    };
    let all_stopped = Gate::new(THREADS);
    let all_emptied = Gate::new(THREADS);
    thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (slots, all_stopped, all_emptied) = (&slots, &all_stopped, &all_emptied);
                s.spawn(move || {
                    let (_g1, _g2) = (all_stopped.guard(), all_emptied.guard());
                    let mut rng = Rng::new(500 + t as u64);
                    for _ in 0..iters {
                        let slot = &slots[rng.below(SLOTS)];
                        match rng.below(8) {
                            0..=4 => {
                                let b = Blk::new(rng.size(), &mut rng);
                                let old = slot.swap(b.addr, Ordering::AcqRel);
                                if old != 0 {
                                    // SAFETY: as in `take`.
                                    let nonce = unsafe { (old as *const u64).add(1).read() };
                                    Blk { addr: old, nonce }.release();
                                }
                            }
                            5 => {
                                if let Some(b) = take(slot) {
                                    let n = rng.size();
                                    let b = b.resize(n, &mut rng);
                                    let old = slot.swap(b.addr, Ordering::AcqRel);
                                    if old != 0 {
                                        // SAFETY: as in `take`.
                                        let nonce = unsafe { (old as *const u64).add(1).read() };
                                        Blk { addr: old, nonce }.release();
                                    }
                                }
                            }
                            _ => {
                                if let Some(b) = take(slot) {
                                    b.release();
                                }
                            }
                        }
                    }
                    all_stopped.wait();
                    for slot in slots.iter().skip(t).step_by(THREADS) {
                        if let Some(b) = take(slot) {
                            b.release();
                        }
                    }
                    all_emptied.wait();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
    assert!(slots.iter().all(|s| s.load(Ordering::Relaxed) == 0));
    before.check_all_returned("all-to-all");
}
