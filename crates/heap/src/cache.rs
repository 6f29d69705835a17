//! `ThreadCache`: the per-thread front of the allocator, and its fast paths.
//!
//! Each thread that allocates gets a cache (from a pool of OS memory, never
//! from the global allocator). Per size class the cache *owns* spans:
//!
//! - `current[c]`: the span small allocations of class `c` pop from;
//! - `partial[c]`: other owned spans that may have free blocks;
//! - `full[c]`: owned spans that had none when last looked at, *parked* so
//!   the slow path does not walk them again (their `owner` word carries
//!   `IN_FULL`, their thread-free tag says FULL; see `remote.rs`).
//!
//! `direct[w]` maps a request of `w` words (size ≤ 1024) straight to the
//! current span of its class, so the fast path needs no class lookup
//! (mimalloc's `pages_free_direct`).
//!
//! # Fast paths (no lock, no atomic read-modify-write)
//!
//! `alloc_small(size)`:
//! 1. `span = cache.direct[(size + 7) / 8]` (or `current[class]` above 1 KiB);
//! 2. pop `span.free`, `span.used += 1`; if `free` was empty, `alloc_slow`.
//!
//! `free(p)`:
//! 1. `span = page_map[p]` (`arena.rs`), one shift and one load;
//! 2. if `span.owner == cache`: push on `span.local_free`, `used -= 1`, and if
//!    the span is now empty and not current, hand its pages back;
//! 3. otherwise `free_slow`: a parked span of ours (un-park it), a large
//!    object (to the page heap), or another thread's span (one CAS onto its
//!    thread-free list; the first free into a parked span also pushes the
//!    span onto the owner's reclaim stack).
//!
//! # Slow path (`refill`)
//!
//! 1. Drain the reclaim stack: spans remote freers found parked go back to
//!    `partial`.
//! 2. Collect the current span (`local_free` and remote frees onto `free`);
//!    if still empty, carve more of it; if it is fully carved, park it.
//! 3. Try `partial` spans the same way.
//! 4. Adopt spans from the class's central list (`central.rs`).
//! 5. Get a fresh span from the page heap.
//!
//! A span is parked only after the reclaim stack was drained in the same
//! call, which is what makes re-parking safe (see `remote.rs`).
//!
//! # Threads coming and going
//!
//! A thread starts with a pointer to the static `EMPTY_CACHE`, whose slots all
//! name the static `EMPTY_SPAN` (no free block), so the fast path needs no
//! "initialised?" test: the first allocation falls into the slow path, which
//! makes a real cache and registers a pthread-key destructor. At thread exit
//! that destructor un-parks every span, collects it, and hands it to its
//! central list (or, if empty, to the page heap); the thread's cache pointer
//! becomes `DEAD_CACHE`. Frees after that take the remote path (they always
//! work); allocations after that go through a shared *orphan* cache under a
//! lock.

use crate::central::Central;
use crate::global;
use crate::list::SpanList;
use crate::remote::{Block, NotifyGate, Pushed, ReclaimStack};
use crate::size_class::{size_class_of, CLASS_SIZE, NUM_SIZE_CLASSES};
use crate::span::{Span, SpanKind, IN_FULL};
use crate::sync::Ordering;
use core::cell::Cell;
use core::ptr;

/// The gate every owner notification runs in (see `remote.rs`); `fork`
/// closes it (`global.rs`).
pub static NOTIFY_GATE: NotifyGate = NotifyGate::new();

/// Largest size served through `direct`: 1 KiB, the end of the 8-byte
/// granule lookup table (Go's `smallSizeMax`).
pub const DIRECT_MAX: usize = 1024;
/// Slots in `direct`: one per 8-byte word count 0..=128.
pub const DIRECT_SLOTS: usize = DIRECT_MAX / 8 + 1;

#[repr(C)]
pub struct ThreadCache {
    /// `direct[w]` = `current[class of w*8 bytes]`; kept in step by `set_current`.
    direct: [*mut Span; DIRECT_SLOTS],
    /// The span each class allocates from; `EMPTY_SPAN` when there is none.
    current: [*mut Span; NUM_SIZE_CLASSES],
    partial: [SpanList; NUM_SIZE_CLASSES],
    full: [SpanList; NUM_SIZE_CLASSES],
    /// Spans that remote freers found parked (pushed by them, drained by us).
    reclaimed: ReclaimStack<Span>,
}

/// A span record that never has a free block: the slots of an empty cache
/// point here, so the fast path's "free list empty" test covers them.
#[repr(transparent)]
pub struct StaticSpan(Span);
// SAFETY: `EMPTY_SPAN` is never written: every path that would write a span
// first checks `is_empty_span` (allocation sees `free == null` and goes slow;
// no block of it is ever handed out, so it is never freed into).
unsafe impl Sync for StaticSpan {}

pub static EMPTY_SPAN: StaticSpan = StaticSpan(Span::empty());

/// A cache with no spans. Two of them: one a thread starts with, one it has
/// after exit; only their addresses differ in meaning.
#[repr(transparent)]
pub struct StaticCache(ThreadCache);
// SAFETY: the static caches are never written (`alloc_slow` replaces a
// thread's pointer to them before anything is stored into a cache).
unsafe impl Sync for StaticCache {}

const EMPTY_SPAN_PTR: *mut Span = &EMPTY_SPAN as *const StaticSpan as *mut Span;

pub static EMPTY_CACHE: StaticCache = StaticCache(ThreadCache::empty());
pub static DEAD_CACHE: StaticCache = StaticCache(ThreadCache::empty());

const EMPTY_CACHE_PTR: *mut ThreadCache = &EMPTY_CACHE as *const StaticCache as *mut ThreadCache;
const DEAD_CACHE_PTR: *mut ThreadCache = &DEAD_CACHE as *const StaticCache as *mut ThreadCache;

thread_local! {
    /// This thread's cache: `EMPTY_CACHE` until its first allocation,
    /// `DEAD_CACHE` after its exit destructor ran. No destructor of its own,
    /// so access is a plain TLS load and stays valid during thread teardown.
    static CACHE: Cell<*mut ThreadCache> = const { Cell::new(EMPTY_CACHE_PTR) };
}

/// This thread's cache pointer.
#[inline(always)]
pub fn current_cache() -> *mut ThreadCache {
    CACHE.get()
}

/// For each class, the `direct` slots that name it: `lo..=hi` (empty when
/// `lo > hi`, for classes above 1 KiB).
static DIRECT_RANGE: [(u8, u8); NUM_SIZE_CLASSES] = direct_ranges();

const fn direct_ranges() -> [(u8, u8); NUM_SIZE_CLASSES] {
    let mut r = [(1u8, 0u8); NUM_SIZE_CLASSES];
    let mut c = 1;
    while c < NUM_SIZE_CLASSES {
        let size = CLASS_SIZE[c] as usize;
        if size <= DIRECT_MAX {
            let lo = if c == 1 {
                0
            } else {
                CLASS_SIZE[c - 1] as usize / 8 + 1
            };
            r[c] = (lo as u8, (size / 8) as u8);
        }
        c += 1;
    }
    r
}

impl ThreadCache {
    const fn empty() -> Self {
        ThreadCache {
            direct: [EMPTY_SPAN_PTR; DIRECT_SLOTS],
            current: [EMPTY_SPAN_PTR; NUM_SIZE_CLASSES],
            partial: [const { SpanList::new() }; NUM_SIZE_CLASSES],
            full: [const { SpanList::new() }; NUM_SIZE_CLASSES],
            reclaimed: ReclaimStack::new(),
        }
    }

    /// Initialise a cache record in place.
    ///
    /// # Safety
    /// `this` is valid for writes and unused.
    pub unsafe fn init(this: *mut ThreadCache) {
        // SAFETY: the caller guarantees `this` is writable.
        unsafe { this.write(ThreadCache::empty()) };
    }

    #[inline]
    fn id(&self) -> usize {
        self as *const ThreadCache as usize
    }

    fn set_current(&mut self, class: usize, span: *mut Span) {
        self.current[class] = span;
        let (lo, hi) = DIRECT_RANGE[class];
        let (mut w, hi) = (lo as usize, hi as usize);
        while w <= hi {
            self.direct[w] = span;
            w += 1;
        }
    }
}

#[inline(always)]
fn is_empty_span(s: *mut Span) -> bool {
    s == EMPTY_SPAN_PTR
}

/// Allocate a block of a small size (`size <= MAX_SMALL_SIZE`, alignment ≤ 8).
/// Returns null only if the heap cannot grow.
#[inline(always)]
pub fn alloc_small(size: usize) -> *mut u8 {
    let cache = current_cache();
    // SAFETY: `cache` is this thread's cache or a static empty cache; only
    // this thread touches it. The span it names is owned by this thread's
    // cache (or is `EMPTY_SPAN`, whose `free` is null, so we take no branch
    // that writes it).
    unsafe {
        let span = if size <= DIRECT_MAX {
            (*cache).direct[(size + 7) >> 3]
        } else {
            (*cache).current[size_class_of(size)]
        };
        if (*span).free.is_null() {
            return alloc_slow(cache, size_class_of(size));
        }
        pop(span)
    }
}

/// Take the first block of `span.free`, which is not empty.
///
/// # Safety
/// The caller owns `span` and its free list is not empty.
#[inline(always)]
unsafe fn pop(span: *mut Span) -> *mut u8 {
    // SAFETY: the caller owns the span and `free` holds a block of it.
    unsafe {
        let block = (*span).free;
        (*span).free = (*block).next;
        (*span).set_used((*span).used() + 1);
        block.cast()
    }
}

/// Allocate a block of size class `class` (for over-aligned small requests).
#[inline]
pub fn alloc_class(class: usize) -> *mut u8 {
    let cache = current_cache();
    // SAFETY: as in `alloc_small`.
    unsafe {
        let span = (*cache).current[class];
        if (*span).free.is_null() {
            return alloc_slow(cache, class);
        }
        pop(span)
    }
}

/// The slow path: make sure the thread has a cache, refill the class, pop.
#[cold]
#[inline(never)]
fn alloc_slow(cache: *mut ThreadCache, class: usize) -> *mut u8 {
    let mut cache = cache;
    if cache == DEAD_CACHE_PTR {
        return global::orphan_alloc(class);
    }
    if cache == EMPTY_CACHE_PTR {
        // `new_thread_cache` installs the cache in `CACHE` itself, before it
        // registers the exit destructor (which may allocate).
        cache = global::new_thread_cache();
        if cache.is_null() {
            return if current_cache() == DEAD_CACHE_PTR {
                global::orphan_alloc(class)
            } else {
                ptr::null_mut()
            };
        }
    }
    // SAFETY: `cache` is this thread's live cache.
    unsafe { alloc_from(&mut *cache, class) }
}

/// Refill `class` in `cache` and pop a block.
///
/// # Safety
/// The caller is the thread that owns `cache` (or holds the orphan lock for
/// the orphan cache).
pub(crate) unsafe fn alloc_from(cache: &mut ThreadCache, class: usize) -> *mut u8 {
    // SAFETY: forwarded from the caller.
    let span = unsafe { refill(cache, class) };
    if span.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `refill` returns an owned span with a non-empty free list.
    unsafe { pop(span) }
}

/// Find a span of `class` with a free block and make it current; null if the
/// heap cannot grow. Steps 1–5 of the module docs.
///
/// # Safety
/// As for `alloc_from`.
unsafe fn refill(cache: &mut ThreadCache, class: usize) -> *mut Span {
    // SAFETY (whole body): every span touched is owned by `cache` (current,
    // partial, full), or was just adopted from central/page heap; the caller
    // is the owner thread.
    unsafe {
        drain_reclaimed(cache);
        let cur = cache.current[class];
        if !is_empty_span(cur) {
            if (*cur).collect() || (*cur).extend() {
                return cur;
            }
            cache.set_current(class, EMPTY_SPAN_PTR);
            if !park(cache, cur) {
                cache.set_current(class, cur);
                return cur;
            }
        }
        loop {
            let s = cache.partial[class].pop_front();
            if s.is_null() {
                break;
            }
            if (*s).collect() || (*s).extend() || !park(cache, s) {
                cache.set_current(class, s);
                return s;
            }
        }
        let central = global::central(class);
        loop {
            let s = central.take();
            if s.is_null() {
                break;
            }
            (*s).owner.store(cache.id(), Ordering::Relaxed);
            if (*s).collect() || (*s).extend() || !park(cache, s) {
                cache.set_current(class, s);
                return s;
            }
        }
        let s = global::alloc_small_span(class);
        if s.is_null() {
            return ptr::null_mut();
        }
        (*s).owner.store(cache.id(), Ordering::Relaxed);
        (*s).extend();
        cache.set_current(class, s);
        s
    }
}

/// A parked span returns to the refill path once `capacity >> UNPARK_SHIFT`
/// of its blocks (1/8) are free again through local frees. Un-parking on the
/// first free makes a span that gets one block back, hands it out, and parks
/// again cost a slow path per allocation (a random-free workload like larson
/// does exactly that); waiting for 1/8 bounds the cost to one slow path per
/// capacity/8 allocations and the memory held idle in parked spans to 1/8.
const UNPARK_SHIFT: u32 = 3;

/// Park an exhausted owned span (on no list) on the full list. Returns false
/// if a remote free arrived first; then the span has been collected and has
/// free blocks, and is still owned and on no list.
///
/// # Safety
/// `s` is owned by `cache`, on no list, fully carved, with empty `free` and
/// `local_free`; the reclaim stack was drained since `s` was last un-parked.
unsafe fn park(cache: &mut ThreadCache, s: *mut Span) -> bool {
    // SAFETY: owner-only fields of a span we own.
    unsafe {
        let class = (*s).class as usize;
        // Relaxed: see span.rs, "owner"; the Release that matters is the
        // thread-free CAS just below.
        (*s).owner.store(cache.id() | IN_FULL, Ordering::Relaxed);
        if (*s).thread_free.try_mark_full() {
            cache.full[class].push_front(s);
            return true;
        }
        (*s).owner.store(cache.id(), Ordering::Relaxed);
        let has = (*s).collect();
        debug_assert!(has);
        false
    }
}

/// Move a parked span of ours back to `partial`.
///
/// # Safety
/// `s` is on `cache.full[class]`, owned by `cache` with `IN_FULL`.
unsafe fn unpark(cache: &mut ThreadCache, s: *mut Span) {
    // SAFETY: `s` is ours and parked.
    unsafe {
        // Whether or not a remote freer notified, the span is ours to move;
        // a notification already sent is skipped by `drain_reclaimed`.
        let _ = (*s).thread_free.clear_full();
        let class = (*s).class as usize;
        cache.full[class].remove(s);
        (*s).owner.store(cache.id(), Ordering::Relaxed);
        cache.partial[class].push_front(s);
    }
}

/// Step 1 of `refill`: un-park every span remote freers reported.
///
/// # Safety
/// The caller owns `cache`.
unsafe fn drain_reclaimed(cache: &mut ThreadCache) {
    let mut s = cache.reclaimed.take_all();
    let me_parked = cache.id() | IN_FULL;
    while !s.is_null() {
        // SAFETY: spans on our reclaim stack stay valid: a span with a
        // pending notification still holds the notifier's block.
        unsafe {
            let next = (*s).notify_next.load(Ordering::Relaxed);
            // A span we already un-parked (our own free got there first) is
            // a stale entry: skip it.
            if (*s).owner.load(Ordering::Relaxed) == me_parked {
                unpark(cache, s);
                // Remote frees may have emptied it: give it back now rather
                // than hold its pages until this thread allocates from it.
                (*s).collect();
                if (*s).used() == 0 {
                    retire(cache, s);
                }
            }
            s = next;
        }
    }
}

/// Free a block from this heap.
///
/// # Safety
/// `p` was returned by this allocator, is not freed yet, and is not used
/// again.
#[inline(always)]
pub unsafe fn free(p: *mut u8) {
    // SAFETY: `p` is a live block of ours, so it is in the committed heap.
    let span = unsafe { crate::arena::span_of_unchecked(p as usize) };
    let cache = current_cache();
    // SAFETY: the span of a live block is a valid record. When its owner is
    // our cache, this thread is the owner and may touch the owner-only fields.
    unsafe {
        if (*span).owner.load(Ordering::Relaxed) == cache as usize {
            let b = p as *mut Block;
            (*b).next = (*span).local_free;
            (*span).local_free = b;
            let used = (*span).used() - 1;
            (*span).set_used(used);
            if used == 0 {
                retire(&mut *cache, span);
            }
            return;
        }
        free_slow(cache, span, p);
    }
}

/// Everything but a free into one of our unparked spans.
///
/// # Safety
/// As for `free`; `span` is the span of `p`.
#[cold]
#[inline(never)]
unsafe fn free_slow(cache: *mut ThreadCache, span: *mut Span, p: *mut u8) {
    // SAFETY (whole body): `span` is the valid record of the live block `p`.
    unsafe {
        let owner = (*span).owner.load(Ordering::Relaxed);
        if owner == cache as usize | IN_FULL {
            // Our own parked span: a local free. Un-park it only once it has
            // gathered enough free blocks to be worth allocating from (see
            // `UNPARK_SHIFT`); until then it stays out of the refill path.
            let c = &mut *cache;
            let b = p as *mut Block;
            (*b).next = (*span).local_free;
            (*span).local_free = b;
            let used = (*span).used() - 1;
            (*span).set_used(used);
            let free_blocks = (*span).carved - used;
            if free_blocks >= ((*span).capacity >> UNPARK_SHIFT).max(1) {
                unpark(c, span);
                if used == 0 {
                    retire(c, span);
                }
            }
            return;
        }
        if (*span).kind == SpanKind::Large {
            global::page_heap().free_span(span);
            return;
        }
        // The common remote free: one CAS.
        if (*span).thread_free.try_push(p.cast()) {
            return;
        }
        // The span is parked: this free may have to notify its owner. Do it
        // inside the notification gate, which `fork` waits on.
        NOTIFY_GATE.enter();
        if (*span).thread_free.push(p.cast()) == Pushed::MustNotify {
            // We won the notification. Re-read the owner: our Acquire CAS saw
            // the FULL tag, which the owner set (Release) after writing
            // `owner`, and the owner cannot change it or go away until we call
            // `finish_notify` (its `clear_full` waits for us).
            let owner_cache =
                ((*span).owner.load(Ordering::Relaxed) & !IN_FULL) as *const ThreadCache;
            (*owner_cache).reclaimed.push(span);
            (*span).thread_free.finish_notify();
        }
        NOTIFY_GATE.exit();
    }
}

/// A span of ours became empty through a local free: give its pages back,
/// unless it is the class's current span (keep that one: a thread that
/// allocates and frees one object in a loop must not churn the page heap).
///
/// # Safety
/// `span` is owned by `cache` (not parked) and has no block in use.
unsafe fn retire(cache: &mut ThreadCache, span: *mut Span) {
    // SAFETY: `span` is ours; with `used == 0` no other thread holds a block
    // of it, so no remote free can arrive.
    unsafe {
        let class = (*span).class as usize;
        if cache.current[class] == span {
            return;
        }
        cache.partial[class].remove(span);
        (*span).owner.store(0, Ordering::Relaxed);
        global::page_heap().free_span(span);
    }
}

/// Give every span of `cache` back (thread exit). Afterwards the cache owns
/// nothing and may be recycled.
///
/// # Safety
/// The caller owns `cache` and it is never used again by this thread.
pub(crate) unsafe fn flush(cache: &mut ThreadCache) {
    // SAFETY (whole body): every span touched is owned by `cache`.
    unsafe {
        // 1. Un-park everything, waiting out notifications in flight: after
        //    this no remote freer can push onto our reclaim stack.
        for class in 1..NUM_SIZE_CLASSES {
            loop {
                let s = cache.full[class].head();
                if s.is_null() {
                    break;
                }
                unpark(cache, s);
            }
        }
        // 2. Drop stale reclaim entries (all spans are un-parked now).
        let _ = cache.reclaimed.take_all();
        // 3. Hand every span over.
        for class in 1..NUM_SIZE_CLASSES {
            let cur = cache.current[class];
            if !is_empty_span(cur) {
                cache.set_current(class, EMPTY_SPAN_PTR);
                give_back(global::central(class), cur);
            }
            loop {
                let s = cache.partial[class].pop_front();
                if s.is_null() {
                    break;
                }
                give_back(global::central(class), s);
            }
        }
    }
}

/// Hand an owned span (on no list) to its central list, or to the page heap
/// if it is empty.
///
/// # Safety
/// The caller owns `s`.
unsafe fn give_back(central: &Central, s: *mut Span) {
    // SAFETY: `s` is ours until we hand it over.
    unsafe {
        (*s).collect();
        (*s).owner.store(0, Ordering::Relaxed);
        if (*s).used() == 0 {
            global::page_heap().free_span(s);
        } else {
            central.put(s);
        }
    }
}

/// Make `cache` this thread's cache.
pub(crate) fn install(cache: *mut ThreadCache) {
    CACHE.set(cache);
}

/// Mark this thread's cache as gone (called by the exit destructor).
pub(crate) fn set_dead() {
    CACHE.set(DEAD_CACHE_PTR);
}

/// Owned spans per class (current + partial + full), for tests.
pub fn owned_spans(cache: &ThreadCache, class: usize) -> usize {
    usize::from(!is_empty_span(cache.current[class]))
        + cache.partial[class].len()
        + cache.full[class].len()
}
