//! Loom models of the allocator's lock-free protocols (`src/remote.rs`) and
//! of its mutex (`src/lock.rs`).
//!
//! Run with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p tricolor-heap --test loom_remote --release
//! ```
//!
//! The models drive the real `ThreadFree`, `ReclaimStack` and `RawLock` (under
//! `--cfg loom` their atomics are loom's, see `src/sync.rs`) through mock
//! spans and mock caches that follow `cache.rs` step by step: `park`,
//! `unpark`, `drain_reclaimed`, `free_slow` and `flush`/`give_back`.
//!
//! Besides the explicit assertions, loom checks every access to the
//! `loom::cell::UnsafeCell`s below for happens-before:
//!
//! - each mock block has a `payload` the freer writes just before its push
//!   (the freed object's last writes) and the collector reads after
//!   `take_all`: the push/take_all Release/Acquire pair must order them;
//! - each mock span has owner-only state (`collected`): every owner that
//!   touches it, the exiting one and the adopting one, must be ordered;
//! - each mock cache has `mem`, standing for the cache record itself, which
//!   the pool recycles (rewrites) after `flush`: a notifier reads it before
//!   pushing onto the cache's reclaim stack, so a notifier that could still
//!   be on its way when the exiting owner recycles the record is a race.
//!
//! # Coverage
//!
//! loom's DPOR does not explore every interleaving of these protocols on its
//! own: it remembers only the *last* access to each atomic, so when thread A
//! loads X and thread B then loads X and CASes it (every push loop here
//! starts with a Relaxed load), the reordering "B's CAS before A's load" is
//! never tried (loom issues #166 and #392). Left alone, the owner's drains
//! in these models always ran before any remote free. So each protocol
//! model runs twice: plain, and *steered*, where the owner calls `thread::yield_now()`
//! between its steps ([`Coverage::later`]); the first steered execution
//! then runs those steps after the other threads' stores, and DPOR works
//! backwards from those races (a load after a store *is* backtracked). A
//! yield only steers the search; it adds no synchronisation. The two runs
//! find different things (the plain one, for instance, the stale reads a
//! too-weak `finish_notify` would allow), so both are kept. Each model then
//! asserts that the interleavings it exists for were explored by one of
//! them ([`Coverage`]).
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::model::Builder;
use loom::sync::atomic::{AtomicPtr, AtomicUsize};
use loom::sync::Arc;
use loom::thread;
use std::collections::BTreeSet;
use std::ptr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Mutex, MutexGuard};
use tricolor_heap::lock::RawLock;
use tricolor_heap::remote::{Block, Cleared, Pushed, ReclaimStack, StackLink, ThreadFree};

// ---------------------------------------------------------------------------
// Mock allocator state
// ---------------------------------------------------------------------------

/// Low bit of a mock span's `owner`: parked on its owner's full list
/// (`span::IN_FULL`).
const IN_FULL: usize = 1;
/// Tag the freer writes into a block's payload (plus the block's index).
const FREED: usize = 0xF0;
/// `Cache::mem` while the cache record is in use / after it was recycled.
const LIVE: usize = 1;
const RECYCLED: usize = 2;

/// A freed object: its first word is the free-list link (`remote::Block`).
#[repr(C)]
struct MockBlock {
    block: Block,
    /// The object's contents: written by the freer before its push, read by
    /// the collector after `take_all`.
    payload: UnsafeCell<usize>,
}

struct MockSpan {
    thread_free: ThreadFree,
    /// Link on a reclaim stack (`Span::notify_next`).
    notify_next: AtomicPtr<MockSpan>,
    /// Owning cache's id, `| IN_FULL` when parked, or 0 (`Span::owner`).
    owner: AtomicUsize,
    /// Owner-only state (stands for `free`, `local_free`, `used`): the blocks
    /// collected so far, by index.
    collected: UnsafeCell<Vec<usize>>,
}

impl StackLink for MockSpan {
    fn stack_next(&self) -> &AtomicPtr<Self> {
        &self.notify_next
    }
}

struct MockCache {
    reclaimed: ReclaimStack<MockSpan>,
    /// Stands for the cache record's memory: `LIVE` until the exiting thread
    /// gives the record back to the pool (which rewrites it).
    mem: UnsafeCell<usize>,
}

/// Spans no cache owns, under a lock (`central.rs`).
struct MockCentral {
    lock: RawLock,
    spans: UnsafeCell<Vec<usize>>,
}

/// Everything a model shares between its threads. Blocks are heap records
/// reached through raw pointers only (freers and collectors write their
/// `next` links), freed when the world is dropped.
struct World {
    spans: Vec<MockSpan>,
    caches: Vec<MockCache>,
    blocks: Vec<*mut MockBlock>,
    central: MockCentral,
    cov: Coverage,
}

// SAFETY: the raw block pointers are handed between threads exactly as the
// protocol hands blocks between them; everything else is loom's
// thread-safe types or guarded by a lock.
unsafe impl Send for World {}
unsafe impl Sync for World {}

impl World {
    fn new(cov: &Coverage, spans: usize, caches: usize, blocks: usize) -> Arc<World> {
        Arc::new(World {
            spans: (0..spans)
                .map(|_| MockSpan {
                    thread_free: ThreadFree::new(),
                    notify_next: AtomicPtr::new(ptr::null_mut()),
                    owner: AtomicUsize::new(0),
                    collected: UnsafeCell::new(Vec::new()),
                })
                .collect(),
            caches: (0..caches)
                .map(|_| MockCache {
                    reclaimed: ReclaimStack::new(),
                    mem: UnsafeCell::new(LIVE),
                })
                .collect(),
            blocks: (0..blocks)
                .map(|_| {
                    Box::into_raw(Box::new(MockBlock {
                        block: Block {
                            next: ptr::null_mut(),
                        },
                        payload: UnsafeCell::new(0),
                    }))
                })
                .collect(),
            central: MockCentral {
                lock: RawLock::new(),
                spans: UnsafeCell::new(Vec::new()),
            },
            cov: cov.clone(),
        })
    }

    fn span_ptr(&self, s: usize) -> *mut MockSpan {
        &self.spans[s] as *const MockSpan as *mut MockSpan
    }

    fn span_index(&self, p: *mut MockSpan) -> usize {
        (0..self.spans.len())
            .find(|&i| self.span_ptr(i) == p)
            .expect("a reclaim stack holds something that is not a span")
    }

    /// A cache's id as stored in `owner` (never 0, low bit clear).
    fn id(c: usize) -> usize {
        (c + 1) << 1
    }

    /// Set up span `s` as owned by cache `c`, parked (`cache::park` on a span
    /// with nothing to collect; the model starts single-threaded).
    fn park_now(&self, s: usize, c: usize) {
        self.spans[s].owner.store(World::id(c) | IN_FULL, Relaxed);
        assert!(self.spans[s].thread_free.try_mark_full());
    }

    /// `cache::free_slow`, remote branch: free block `b` into span `s` from
    /// a thread that does not own it.
    fn remote_free(&self, s: usize, b: usize) -> Pushed {
        let span = &self.spans[s];
        let blk = self.blocks[b];
        // SAFETY: this thread owns block `b` until its push.
        unsafe { (*blk).payload.with_mut(|p| *p = FREED + b) };
        // SAFETY: `blk` is a live, aligned block this thread gives up.
        let r = unsafe { span.thread_free.push(blk.cast::<Block>()) };
        if r == Pushed::MustNotify {
            // We won the notification: the owner is parked and cannot leave
            // or move the span until our `finish_notify`.
            let owner = span.owner.load(Relaxed);
            assert!(
                owner & IN_FULL != 0 && owner != IN_FULL,
                "notifier read owner {owner:#x}: not a parked owner"
            );
            let cache = &self.caches[(owner >> 1) - 1];
            // The cache record must still be live (not recycled) here.
            let state = cache.mem.with(|m| {
                // SAFETY: only the exiting owner writes `mem` (when it
                // recycles the record), and the model checks that this
                // happens after every notification; loom reports any overlap
                // as a race.
                unsafe { *m }
            });
            assert_eq!(state, LIVE, "notifying a recycled cache");
            // SAFETY: the span lives as long as the world; by the protocol it
            // is on no reclaim stack (asserted by the walks below).
            unsafe { cache.reclaimed.push(self.span_ptr(s)) };
            span.thread_free.finish_notify();
        }
        r
    }

    /// Owner of span `s`: `take_all` and walk the blocks onto the owner-only
    /// state (the part of `Span::collect` that touches `thread_free`).
    fn collect(&self, s: usize) -> usize {
        let span = &self.spans[s];
        let mut p = span.thread_free.take_all();
        let mut n = 0;
        while !p.is_null() {
            assert!(n < self.blocks.len(), "thread-free list has a cycle");
            let mb = p.cast::<MockBlock>();
            // SAFETY: a block on the thread-free list is a live `MockBlock`
            // whose freer is done with it.
            let idx = unsafe { (*mb).payload.with(|v| *v) }
                .checked_sub(FREED)
                .expect("collected a block whose payload was never written");
            // SAFETY: `collected` belongs to the span's owner, which is this thread.
            span.collected.with_mut(|c| unsafe { (*c).push(idx) });
            // SAFETY: as above; the link was published with the block.
            p = unsafe { (*p).next };
            n += 1;
        }
        n
    }

    /// `cache::unpark`: take back parked span `s` of cache `c`.
    fn unpark(&self, s: usize, c: usize) -> Cleared {
        let span = &self.spans[s];
        assert_eq!(span.owner.load(Relaxed), World::id(c) | IN_FULL);
        let r = span.thread_free.clear_full();
        assert!(
            !span.thread_free.is_parked(),
            "clear_full returned with the tag still set"
        );
        span.owner.store(World::id(c), Relaxed);
        r
    }

    /// `cache::park`: park span `s` of cache `c`, or collect if a remote free
    /// came first. Returns whether it parked.
    fn park(&self, s: usize, c: usize) -> bool {
        let span = &self.spans[s];
        span.owner.store(World::id(c) | IN_FULL, Relaxed);
        if span.thread_free.try_mark_full() {
            return true;
        }
        span.owner.store(World::id(c), Relaxed);
        let n = self.collect(s);
        assert!(n > 0, "try_mark_full failed but nothing to collect");
        false
    }

    /// Take cache `c`'s whole reclaim stack and walk it; each span must be on
    /// it at most once (a span pushed twice makes a cycle). Returns the spans.
    fn take_reclaimed(&self, c: usize) -> Vec<usize> {
        let mut p = self.caches[c].reclaimed.take_all();
        let mut out = Vec::new();
        while !p.is_null() {
            let i = self.span_index(p);
            assert!(!out.contains(&i), "span {i} twice on the reclaim stack");
            out.push(i);
            // SAFETY: spans live as long as the world.
            p = unsafe { (*p).notify_next.load(Relaxed) };
        }
        out
    }

    /// `cache::drain_reclaimed` for cache `c`: un-park every reported span
    /// that is still parked, skip stale entries. Returns (taken, un-parked).
    fn drain_reclaimed(&self, c: usize) -> (Vec<usize>, Vec<usize>) {
        let taken = self.take_reclaimed(c);
        let mut unparked = Vec::new();
        for &s in &taken {
            if self.notify_in_flight(s) {
                self.cov.hit("drain took a span whose notifier is not done");
            }
            if self.spans[s].owner.load(Relaxed) == World::id(c) | IN_FULL {
                // A span on the stack was notified: nothing can be Quiet.
                assert_eq!(
                    self.unpark(s, c),
                    Cleared::AlreadyNotified,
                    "a stale entry on the reclaim stack taken for a notification"
                );
                unparked.push(s);
            }
        }
        (taken, unparked)
    }

    /// A snapshot: is a notification for span `s` in flight (tag NOTIFYING)?
    /// FULL never has blocks, so "parked with blocks" means NOTIFYING. (Two
    /// Relaxed loads: a hint for [`Coverage`], never asserted on.)
    fn notify_in_flight(&self, s: usize) -> bool {
        let tf = &self.spans[s].thread_free;
        tf.is_parked() && tf.has_blocks()
    }

    /// All blocks collected by span `s`, sorted.
    fn collected(&self, s: usize) -> Vec<usize> {
        // SAFETY: called after every model thread has joined; nobody writes `collected` now.
        let mut v = self.spans[s].collected.with(|c| unsafe { (*c).clone() });
        v.sort_unstable();
        v
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for &b in &self.blocks {
            // SAFETY: made by `Box::into_raw` in `new`, freed once.
            drop(unsafe { Box::from_raw(b) });
        }
    }
}

/// A loom builder with `bound` preemptions. Also takes a process-wide lock
/// held until the returned guard drops, so the models run one at a time:
/// loom maps a fresh stack for every thread of every execution, and two
/// models running side by side spend most of their time in the kernel
/// (this file takes ~25 s serially, over 60 s in parallel on two cores).
fn builder(bound: Option<usize>) -> (Builder, MutexGuard<'static, ()>) {
    static SERIAL: Mutex<()> = Mutex::new(());
    // A model that panicked (`should_panic`) poisons the lock; that is fine.
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut b = Builder::new();
    b.preemption_bound = bound;
    (b, guard)
}

/// The interleavings loom explored, by name, across all executions of one
/// model (a plain std mutex: loom does not see it); and whether this run
/// steers the schedule with [`Coverage::later`].
#[derive(Clone, Default)]
struct Coverage {
    seen: std::sync::Arc<Mutex<BTreeSet<&'static str>>>,
    steer: bool,
}

impl Coverage {
    fn hit(&self, what: &'static str) {
        self.seen.lock().unwrap().insert(what);
    }

    /// In the steered run, let the other threads run first (see "Coverage"
    /// in the file docs); in the plain run, nothing.
    fn later(&self) {
        if self.steer {
            thread::yield_now();
        }
    }

    fn expect(&self, all: &[&'static str]) {
        let seen = self.seen.lock().unwrap();
        let missing: Vec<_> = all.iter().filter(|w| !seen.contains(*w)).collect();
        assert!(
            missing.is_empty(),
            "loom never explored {missing:?}; explored {seen:?}"
        );
    }
}

/// Run `model` under loom with `bound` preemptions twice, plain and steered
/// (each finds interleavings the other misses), then check that every
/// interleaving named in `expect` was explored by one of them.
fn check<F>(bound: Option<usize>, expect: &[&'static str], model: F)
where
    F: Fn(&Coverage) + Send + Sync + 'static,
{
    let model = std::sync::Arc::new(model);
    let plain = Coverage::default();
    let steered = Coverage {
        steer: true,
        ..plain.clone()
    };
    let (builder, _serial) = builder(bound);
    for cov in [plain, steered.clone()] {
        let model = model.clone();
        builder.check(move || model(&cov));
    }
    steered.expect(expect);
}

// ---------------------------------------------------------------------------
// 1. The thread-free list: collection races two remote frees.
// ---------------------------------------------------------------------------

/// An owned, unparked span; two threads free one block each while the owner
/// collects twice. Every block is collected exactly once (with the last
/// `take_all` after the joins), its payload is visible to the collector, and
/// no push on a NORMAL list asks for a notification.
///
/// Bound: none (exhaustive up to loom's DPOR, see "Coverage").
#[test]
fn remote_frees_race_collection() {
    let expect = ["a collect took 1 block", "a collect took 2 blocks"];
    check(None, &expect, |cov| {
        let w = World::new(cov, 1, 1, 2);
        w.spans[0].owner.store(World::id(0), Relaxed);
        let freers: Vec<_> = (0..2)
            .map(|b| {
                let w = w.clone();
                thread::spawn(move || assert_eq!(w.remote_free(0, b), Pushed::Plain))
            })
            .collect();
        for _ in 0..2 {
            cov.later();
            match w.collect(0) {
                1 => cov.hit("a collect took 1 block"),
                2 => cov.hit("a collect took 2 blocks"),
                _ => {}
            }
        }
        for t in freers {
            t.join().unwrap();
        }
        w.collect(0);
        assert_eq!(w.collected(0), [0, 1]);
        assert!(!w.spans[0].thread_free.has_blocks());
        assert!(!w.spans[0].thread_free.is_parked());
    });
}

// ---------------------------------------------------------------------------
// 2. Park and notify.
// ---------------------------------------------------------------------------

/// Span parked (FULL) by its owner; two remote frees. Exactly one of them
/// wins the notification; it pushes the span onto the owner's reclaim stack.
/// Meanwhile the owner runs `refill`'s step 1 (`drain_reclaimed`), and again
/// after the joins (its next refill). The span is reported exactly once,
/// un-parked exactly once (a drain that takes it while its notifier is still
/// between the push and `finish_notify` waits in `clear_full`), and every
/// block is collected exactly once.
///
/// Bound: 4 preemptions.
#[test]
fn notify_races_drain() {
    let expect = [
        "concurrent drain found nothing",
        "concurrent drain found the span",
        "drain took a span whose notifier is not done",
    ];
    check(Some(4), &expect, |cov| {
        let w = World::new(cov, 1, 1, 2);
        w.park_now(0, 0);
        let freers: Vec<_> = (0..2)
            .map(|b| {
                let w = w.clone();
                thread::spawn(move || w.remote_free(0, b))
            })
            .collect();
        cov.later();
        let (taken1, unparked1) = w.drain_reclaimed(0);
        cov.hit(if taken1.is_empty() {
            "concurrent drain found nothing"
        } else {
            "concurrent drain found the span"
        });
        let pushed: Vec<Pushed> = freers.into_iter().map(|t| t.join().unwrap()).collect();
        let (taken2, unparked2) = w.drain_reclaimed(0);

        let notifies = pushed.iter().filter(|&&p| p == Pushed::MustNotify).count();
        assert_eq!(notifies, 1);
        assert_eq!(
            taken1.len() + taken2.len(),
            1,
            "span reported {taken1:?} + {taken2:?}"
        );
        assert_eq!(unparked1.len() + unparked2.len(), 1);
        assert!(w.caches[0].reclaimed.is_empty());
        w.collect(0);
        assert_eq!(w.collected(0), [0, 1]);
    });
}

/// Two parked spans of one cache; one remote free into each, so both
/// notifiers push onto the same reclaim stack while the owner drains it.
/// The owner must follow `notify_next` links the pushers wrote (the reclaim
/// stack's Release push / Acquire swap): each span is reported and
/// un-parked exactly once, none is lost.
///
/// Bound: 4 preemptions.
#[test]
fn two_notifiers_share_reclaim_stack() {
    let expect = [
        "concurrent drain found 1 span",
        "concurrent drain found 2 spans",
    ];
    check(Some(4), &expect, |cov| {
        let w = World::new(cov, 2, 1, 2);
        w.park_now(0, 0);
        w.park_now(1, 0);
        let freers: Vec<_> = (0..2)
            .map(|s| {
                let w = w.clone();
                thread::spawn(move || assert_eq!(w.remote_free(s, s), Pushed::MustNotify))
            })
            .collect();
        cov.later();
        let (mut taken, mut unparked) = w.drain_reclaimed(0);
        match taken.len() {
            1 => cov.hit("concurrent drain found 1 span"),
            2 => cov.hit("concurrent drain found 2 spans"),
            _ => {}
        }
        for t in freers {
            t.join().unwrap();
        }
        let (taken2, unparked2) = w.drain_reclaimed(0);
        taken.extend(taken2);
        unparked.extend(unparked2);
        taken.sort_unstable();
        unparked.sort_unstable();
        assert_eq!(taken, [0, 1]);
        assert_eq!(unparked, [0, 1]);
        for s in 0..2 {
            w.collect(s);
            assert_eq!(w.collected(s), [s]);
        }
    });
}

/// Span parked; two remote frees race the owner freeing into its own parked
/// span (`free_slow`'s first branch: `unpark`, i.e. `clear_full`). Transition
/// 4's promise, checked at the moment `clear_full` returns:
///
/// - `Quiet`: no notification ever happens (no freer gets `MustNotify`, the
///   span never reaches the reclaim stack);
/// - `AlreadyNotified`: the notification is complete, so the owner's
///   `take_all` right now finds the span on its reclaim stack.
///
/// Then the owner's next refill drains (stale entries are skipped) and
/// collects; every block exactly once.
///
/// Bound: 4 preemptions.
#[test]
fn notify_races_own_free() {
    let expect = [
        "clear_full: Quiet",
        "clear_full: AlreadyNotified",
        "clear_full met a notification in flight",
    ];
    check(Some(4), &expect, |cov| {
        let w = World::new(cov, 1, 1, 2);
        w.park_now(0, 0);
        let freers: Vec<_> = (0..2)
            .map(|b| {
                let w = w.clone();
                thread::spawn(move || w.remote_free(0, b))
            })
            .collect();
        cov.later();
        if w.notify_in_flight(0) {
            cov.hit("clear_full met a notification in flight");
        }
        let cleared = w.unpark(0, 0);
        let right_after = w.take_reclaimed(0);
        match cleared {
            Cleared::Quiet => {
                cov.hit("clear_full: Quiet");
                assert!(right_after.is_empty());
            }
            Cleared::AlreadyNotified => {
                cov.hit("clear_full: AlreadyNotified");
                assert_eq!(right_after, [0], "notification not complete");
            }
        }
        let pushed: Vec<Pushed> = freers.into_iter().map(|t| t.join().unwrap()).collect();
        let (later_taken, unparked) = w.drain_reclaimed(0);

        let notifies = pushed.iter().filter(|&&p| p == Pushed::MustNotify).count();
        assert_eq!(notifies, usize::from(cleared == Cleared::AlreadyNotified));
        assert!(
            later_taken.is_empty(),
            "a notification after clear_full returned"
        );
        assert!(unparked.is_empty());
        w.collect(0);
        assert_eq!(w.collected(0), [0, 1]);
    });
}

/// `park` racing a remote free: the owner collects, then parks the span
/// (`try_mark_full`) while a remote free arrives. Either the park fails and
/// the owner collects the block at once, or it succeeds and the freer
/// notifies (the span ends up on the reclaim stack exactly once).
///
/// Bound: none (exhaustive up to loom's DPOR, see "Coverage").
#[test]
fn park_races_remote_free() {
    let expect = ["park lost to the free", "park won, free notified"];
    check(None, &expect, |cov| {
        let w = World::new(cov, 1, 1, 1);
        w.spans[0].owner.store(World::id(0), Relaxed);
        let freer = {
            let w = w.clone();
            thread::spawn(move || w.remote_free(0, 0))
        };
        cov.later();
        w.collect(0);
        cov.later();
        let parked = w.park(0, 0);
        let pushed = freer.join().unwrap();
        let (taken, unparked) = w.drain_reclaimed(0);
        assert_eq!(pushed == Pushed::MustNotify, parked && taken == [0]);
        assert_eq!(taken, unparked);
        cov.hit(if parked {
            "park won, free notified"
        } else {
            "park lost to the free"
        });
        w.collect(0);
        assert_eq!(w.collected(0), [0]);
    });
}

/// Re-parking. Span parked; two remote frees. The owner frees into its own
/// parked span (`unpark`), then runs a refill: drain the reclaim stack,
/// collect, allocate everything collected and so park the span again (or,
/// if a free came first, collect it); after the joins it refills again. The
/// reclaim stack must never hold the span twice (one `notify_next` link:
/// that would be a cycle or a lost list), every notification is reported
/// exactly once, and no block is lost.
///
/// Bound: 4 preemptions.
#[test]
fn repark_after_notify() {
    let expect = [
        "stale reclaim entry dropped before re-park",
        "re-parked span notified again",
        "re-parked after both frees",
    ];
    check(Some(4), &expect, |cov| repark_model(cov, true));
}

/// The same with the rule "a span is parked only after the reclaim stack was
/// drained" broken: the owner re-parks without draining. A stale entry for
/// the span is then still on the stack when a second notification pushes it
/// again, and the walk finds the span twice; or the stale entry is taken for
/// a notification of the new park. This checks that the model sees the
/// hazard the rule exists for.
///
/// Bound: 3 preemptions.
#[test]
#[should_panic(expected = "on the reclaim stack")]
fn repark_without_drain_is_caught() {
    check(Some(3), &[], |cov| repark_model(cov, false));
}

fn repark_model(cov: &Coverage, drain_before_park: bool) {
    let w = World::new(cov, 1, 1, 2);
    w.park_now(0, 0);
    let freers: Vec<_> = (0..2)
        .map(|b| {
            let w = w.clone();
            thread::spawn(move || w.remote_free(0, b))
        })
        .collect();
    let mut reported = 0;
    // The owner's own free into its parked span.
    cov.later();
    w.unpark(0, 0);
    // Its next refill: drain, collect, and (the owner allocates every block
    // it collected, so the span is exhausted again) park.
    if drain_before_park {
        cov.later();
        let (taken, unparked) = w.drain_reclaimed(0);
        assert!(unparked.is_empty(), "the span was un-parked already");
        if !taken.is_empty() {
            cov.hit("stale reclaim entry dropped before re-park");
        }
        reported += taken.len();
    }
    cov.later();
    w.collect(0);
    cov.later();
    let reparked = w.park(0, 0);
    let pushed: Vec<Pushed> = freers.into_iter().map(|t| t.join().unwrap()).collect();
    // The refill after the joins.
    let (taken, _) = w.drain_reclaimed(0);
    reported += taken.len();
    if w.spans[0].thread_free.is_parked() {
        // Still parked and not reported: legal only if both frees came
        // before the re-park, so the owner collected both already.
        cov.hit("re-parked after both frees");
        assert_eq!(w.collected(0), [0, 1]);
        assert_eq!(w.unpark(0, 0), Cleared::Quiet);
    } else if reparked {
        cov.hit("re-parked span notified again");
    }
    assert_eq!(w.spans[0].owner.load(Relaxed), World::id(0));
    let notifies = pushed.iter().filter(|&&p| p == Pushed::MustNotify).count();
    assert_eq!(reported, notifies);
    assert!(w.caches[0].reclaimed.is_empty());
    w.collect(0);
    assert_eq!(w.collected(0), [0, 1]);
}

// ---------------------------------------------------------------------------
// 3. Owner exit (cache flush) versus a notification, then adoption.
// ---------------------------------------------------------------------------

/// Cache 0 owns span 0, parked. A remote free into it (the notify path)
/// races cache 0's thread exit (`flush`): un-park every parked span
/// (`clear_full` waits out a notification in flight), drop the stale
/// reclaim entries, `give_back` (collect, `owner = 0`, central list under
/// its `RawLock`), then recycle the cache record. The main thread is cache 1,
/// which adopts the span from the central list (under the lock) and collects,
/// racing the exit and the freer.
///
/// Checked: nothing is lost or duplicated; if the free notified, the exiting
/// owner found the span on its reclaim stack in step 2 (and `clear_full` said
/// so); the reclaim stack is empty when the record is recycled and stays
/// empty (the span is never pushed onto it after the hand-over); no
/// notifier touches the cache record after it was recycled (loom checks
/// `mem`), and the owner-only state passes from the exiting owner to the
/// adopter in happens-before order (loom checks `collected`).
///
/// Bound: none (exhaustive up to loom's DPOR, see "Coverage").
#[test]
fn exit_races_notify_then_adopt() {
    check(None, &EXIT_COVERAGE, |cov| exit_model(cov, false));
}

/// The same with a second remote free after the first, from the same freer
/// thread: it may land while the span is parked, handed over, on the central
/// list or adopted.
///
/// Bound: 4 preemptions.
#[test]
fn exit_races_two_frees_then_adopt() {
    check(Some(4), &EXIT_COVERAGE, |cov| exit_model(cov, true));
}

const EXIT_COVERAGE: [&str; 5] = [
    "exit: clear_full Quiet",
    "exit: clear_full AlreadyNotified",
    "exit: clear_full met a notification in flight",
    "exit left a block for the adopter",
    "adopted while the exit was running",
];

fn exit_model(cov: &Coverage, second_free: bool) {
    let nblocks = if second_free { 2 } else { 1 };
    let w = World::new(cov, 1, 2, nblocks);
    w.park_now(0, 0);

    let freer = {
        let w = w.clone();
        thread::spawn(move || {
            let mut r = vec![w.remote_free(0, 0)];
            if second_free {
                r.push(w.remote_free(0, 1));
            }
            r
        })
    };

    let exiting = {
        let w = w.clone();
        thread::spawn(move || {
            // 1. Un-park every parked span.
            if w.notify_in_flight(0) {
                w.cov.hit("exit: clear_full met a notification in flight");
            }
            let cleared = w.unpark(0, 0);
            // 2. Drop stale reclaim entries.
            let stale = w.take_reclaimed(0);
            match cleared {
                Cleared::Quiet => {
                    w.cov.hit("exit: clear_full Quiet");
                    assert!(stale.is_empty());
                }
                Cleared::AlreadyNotified => {
                    w.cov.hit("exit: clear_full AlreadyNotified");
                    assert_eq!(stale, [0]);
                }
            }
            // 3. give_back: collect, disown, hand to central.
            if w.collect(0) < nblocks {
                w.cov.hit("exit left a block for the adopter");
            }
            w.spans[0].owner.store(0, Relaxed);
            w.central.lock.lock();
            // SAFETY: the central lock is held (taken just above).
            w.central.spans.with_mut(|v| unsafe { (*v).push(0) });
            // SAFETY: locked just above by this thread.
            unsafe { w.central.lock.unlock() };
            // The cache owns nothing now: no notification may be on its way.
            assert!(w.caches[0].reclaimed.is_empty());
            // The pool recycles the record.
            // SAFETY: the owner thread recycles its own record; no notifier can reach it any more
            // (asserted above).
            w.caches[0].mem.with_mut(|m| unsafe { *m = RECYCLED });
            cleared
        })
    };

    // Cache 1 adopts the span from the central list: one try while the
    // others run (a `refill` looking at central once); if the span is not
    // there yet, again after the exit (still racing the freer).
    let adopt = |w: &World| {
        w.central.lock.lock();
        // SAFETY: the central lock is held (taken just above).
        let s = w.central.spans.with_mut(|v| unsafe { (*v).pop() });
        // SAFETY: locked just above by this thread.
        unsafe { w.central.lock.unlock() };
        s
    };
    cov.later();
    let mut exiting = Some(exiting);
    let mut cleared = None;
    let s = match adopt(&w) {
        Some(s) => {
            cov.hit("adopted while the exit was running");
            s
        }
        None => {
            cleared = Some(exiting.take().unwrap().join().unwrap());
            adopt(&w).expect("the exit handed the span over")
        }
    };
    assert_eq!(s, 0);
    assert_eq!(w.spans[0].owner.load(Relaxed), 0);
    w.spans[0].owner.store(World::id(1), Relaxed);
    w.collect(0);

    let pushed = freer.join().unwrap();
    let cleared = match exiting {
        Some(t) => t.join().unwrap(),
        None => cleared.unwrap(),
    };
    let notifies = pushed.iter().filter(|&&p| p == Pushed::MustNotify).count();
    assert_eq!(notifies, usize::from(cleared == Cleared::AlreadyNotified));
    assert_eq!(
        pushed[1..]
            .iter()
            .filter(|&&p| p == Pushed::MustNotify)
            .count(),
        0
    );
    assert!(w.caches[0].reclaimed.is_empty());
    assert!(w.caches[1].reclaimed.is_empty());
    assert!(!w.spans[0].thread_free.is_parked());
    w.collect(0);
    assert_eq!(w.collected(0), (0..nblocks).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// 4. RawLock
// ---------------------------------------------------------------------------
//
// Under loom, `RawLock`'s futex wait/wake is emulated with a loom mutex and
// condvar (see `src/lock.rs`), so besides data races on the counter loom
// reports a lost wake-up as a deadlock.

struct Counter {
    lock: RawLock,
    value: UnsafeCell<usize>,
}

// SAFETY: `value` is only touched with `lock` held (loom checks it).
unsafe impl Sync for Counter {}
unsafe impl Send for Counter {}

fn increment(c: &Counter) {
    c.lock.lock();
    // SAFETY: the lock is held (taken just above).
    c.value.with_mut(|v| unsafe { *v += 1 });
    // SAFETY: locked just above by this thread.
    unsafe { c.lock.unlock() };
}

/// Two threads increment a non-atomic counter under the lock; loom reports
/// any pair of unordered accesses.
///
/// Bound: none (exhaustive).
#[test]
fn raw_lock_two_threads() {
    let (builder, _serial) = builder(None);
    builder.check(|| {
        let c = Arc::new(Counter {
            lock: RawLock::new(),
            value: UnsafeCell::new(0),
        });
        let t = {
            let c = c.clone();
            thread::spawn(move || increment(&c))
        };
        increment(&c);
        t.join().unwrap();
        // SAFETY: every other thread has joined.
        assert_eq!(c.value.with(|v| unsafe { *v }), 2);
        assert!(!c.lock.is_locked());
    });
}

/// Three threads (so that the contended path's state 2 and a second waiter
/// are reached), one of them with `try_lock`.
///
/// Bound: 3 preemptions.
#[test]
fn raw_lock_three_threads() {
    let (builder, _serial) = builder(Some(3));
    builder.check(|| {
        let c = Arc::new(Counter {
            lock: RawLock::new(),
            value: UnsafeCell::new(0),
        });
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                thread::spawn(move || increment(&c))
            })
            .collect();
        let tried = c.lock.try_lock();
        if tried {
            // SAFETY: `try_lock` succeeded, so this thread holds the lock.
            c.value.with_mut(|v| unsafe { *v += 1 });
            // SAFETY: `try_lock` succeeded in this thread.
            unsafe { c.lock.unlock() };
        }
        for t in ts {
            t.join().unwrap();
        }
        // SAFETY: every other thread has joined.
        assert_eq!(c.value.with(|v| unsafe { *v }), 2 + usize::from(tried));
        assert!(!c.lock.is_locked());
    });
}

// ---------------------------------------------------------------------------
// 5. The fork gate: `fork` waits for notifications in flight.
// ---------------------------------------------------------------------------

/// A notifier enters the gate, does its notification (a write to a loom
/// cell standing for "span pushed and tag back to NORMAL") and leaves; the
/// forker closes the gate (the prepare handler), "copies the process" by
/// reading the cell, and reopens. Whenever `close` returns, no notification is
/// half done: the forker sees either nothing (the notifier had not entered)
/// or the finished write, never the start of one without its end; and a
/// notifier that arrives while the gate is closed waits for `open`.
#[test]
fn fork_gate_waits_for_notifications_in_flight() {
    use tricolor_heap::remote::NotifyGate;
    check(
        None,
        &[
            "fork saw the notification finished",
            "fork saw none started",
        ],
        |cov| {
            let gate = Arc::new(NotifyGate::new());
            // 0 = not started, 1 = started, 2 = finished.
            let state = Arc::new(AtomicUsize::new(0));
            let notifier = {
                let (gate, state, cov) = (gate.clone(), state.clone(), cov.clone());
                thread::spawn(move || {
                    gate.enter();
                    state.store(1, Relaxed);
                    cov.later();
                    state.store(2, Relaxed);
                    gate.exit();
                })
            };
            gate.close();
            match state.load(Relaxed) {
                0 => cov.hit("fork saw none started"),
                2 => cov.hit("fork saw the notification finished"),
                s => panic!("fork copied a half-done notification (state {s})"),
            }
            gate.open();
            notifier.join().unwrap();
            assert_eq!(state.load(Relaxed), 2);
        },
    );
}
