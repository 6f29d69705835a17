//! The process-wide allocator state, its start-up, thread exit and `fork`.
//!
//! Glossary of the statics:
//! - `PAGE_HEAP`: the page heap (`page_heap.rs`), one lock.
//! - `CENTRAL[c]`: the central list of class `c` (`central.rs`), one lock
//!   each, cache-line padded so classes do not contend through false sharing.
//! - `CACHES`: the pool of thread-cache records and its lock.
//! - `ORPHAN`: one shared cache, under its own lock, for threads that
//!   allocate after their cache was torn down (late TLS destructors).
//!
//! Lock order (a thread holding a lock may only take locks to its right):
//!
//! ```text
//!   FORK_LOCK → ORPHAN → CACHES
//!   FORK_LOCK → ORPHAN → CENTRAL[1] → … → CENTRAL[N-1] → PAGE_HEAP
//! ```
//!
//! `fork` first closes the notification gate (`remote.rs`, `NotifyGate`:
//! waits until no remote free is half way through notifying an owner), then
//! takes all the locks in that order in the prepare handler and releases them
//! in the parent and the child, so the child never inherits a held lock nor a
//! half-done notification.
//! (Spans owned by the parent's other threads stay owned by caches that do not
//! exist in the child; their memory is not reused there. A child that
//! allocates heavily before `exec` pays for that; one that execs does not.)
//!
//! Start-up runs on the first allocation slow path of the process: reserve
//! the address space, set up the page allocator, create the pthread key whose
//! destructor flushes a thread's cache, and register the fork handlers. It
//! allocates nothing through the global allocator.

use crate::arena;
use crate::cache::{self, ThreadCache};
use crate::central::Central;
use crate::lock::RawLock;
use crate::page_heap::PageHeap;
use crate::pool::FixedPool;
use crate::size_class::NUM_SIZE_CLASSES;
use crate::span::Span;
use crate::sync::{AtomicU32, AtomicU8, Ordering};
use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};
use crossbeam_utils::CachePadded;

static PAGE_HEAP: PageHeap = PageHeap::new();
static CENTRAL: [CachePadded<Central>; NUM_SIZE_CLASSES] =
    [const { CachePadded::new(Central::new()) }; NUM_SIZE_CLASSES];

struct Locked<T> {
    lock: RawLock,
    value: UnsafeCell<T>,
}
// SAFETY: `value` is only touched with `lock` held.
unsafe impl<T> Sync for Locked<T> {}

impl<T> Locked<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.lock.lock();
        // SAFETY: the lock is held, so this is the only reference.
        let r = f(unsafe { &mut *self.value.get() });
        // SAFETY: taken above by this thread.
        unsafe { self.lock.unlock() };
        r
    }
}

struct CachePool {
    pool: FixedPool<ThreadCache>,
}

static CACHES: Locked<CachePool> = Locked {
    lock: RawLock::new(),
    value: UnsafeCell::new(CachePool {
        pool: FixedPool::new(),
    }),
};

/// The orphan cache (created on first use, from the cache pool).
static ORPHAN: Locked<*mut ThreadCache> = Locked {
    lock: RawLock::new(),
    value: UnsafeCell::new(ptr::null_mut()),
};

const UNINIT: u8 = 0;
const RUNNING: u8 = 1;
const READY: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNINIT);
/// The pthread key whose destructor flushes a thread's cache. Written once
/// during start-up, before `STATE` becomes READY; every reader has seen READY
/// with Acquire first, so Relaxed accesses suffice.
static EXIT_KEY: AtomicU32 = AtomicU32::new(0);

#[inline]
pub fn page_heap() -> &'static PageHeap {
    &PAGE_HEAP
}

#[inline]
pub fn central(class: usize) -> &'static Central {
    &CENTRAL[class]
}

/// A fresh span for `class`. Before the page heap commits a new arena, give
/// back the spans that exited threads left in the central lists and whose
/// blocks have all been freed since (nobody else notices them: remote frees
/// do not count).
pub(crate) fn alloc_small_span(class: usize) -> *mut Span {
    let s = PAGE_HEAP.alloc_small_span(class, false);
    if !s.is_null() {
        return s;
    }
    reclaim_central_spans();
    PAGE_HEAP.alloc_small_span(class, true)
}

/// A large span; see [`alloc_small_span`] for the order of attempts.
pub(crate) fn alloc_large(size: usize, align: usize) -> Option<(NonNull<Span>, bool)> {
    if let Some(r) = PAGE_HEAP.alloc_large(size, align, false) {
        return Some(r);
    }
    reclaim_central_spans();
    PAGE_HEAP.alloc_large(size, align, true)
}

/// Return every empty span on every central list to the page heap.
pub(crate) fn reclaim_central_spans() -> usize {
    CENTRAL
        .iter()
        .skip(1)
        .map(|c| c.reclaim_empty(&PAGE_HEAP))
        .sum()
}

/// Start the allocator if nobody has. Returns false if it cannot start now
/// (the OS refused address space or memory); a later call tries again.
pub fn ensure_init() -> bool {
    // Acquire: pairs with the Release store of READY, making everything
    // start-up wrote (EXIT_KEY, the arena statics) visible.
    if STATE.load(Ordering::Acquire) == READY {
        return true;
    }
    init_slow()
}

#[cold]
fn init_slow() -> bool {
    loop {
        // Acquire/Relaxed: the winner publishes with the Release store below.
        match STATE.compare_exchange(UNINIT, RUNNING, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => {
                // Each step is idempotent, so a start-up that failed half way
                // (the OS refused memory) is simply retried by the next caller.
                let ok = arena::init() && PAGE_HEAP.init() && register_process_hooks();
                // Release: publishes start-up to every `ensure_init` Acquire.
                STATE.store(if ok { READY } else { UNINIT }, Ordering::Release);
                return ok;
            }
            Err(READY) => return true,
            // Someone else is starting the allocator: wait for them. Start-up
            // takes microseconds (a few mmaps). If they fail, we try ourselves.
            Err(_) => std::thread::yield_now(),
        }
    }
}

fn register_process_hooks() -> bool {
    static DONE: AtomicU8 = AtomicU8::new(0);
    // Relaxed: only the thread running start-up (STATE == RUNNING) gets here.
    if DONE.load(Ordering::Relaxed) == 1 {
        return true;
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `key` is a valid out-parameter; the destructor is a valid
    // `extern "C"` function for the life of the process.
    if unsafe { libc::pthread_key_create(&mut key, Some(on_thread_exit)) } != 0 {
        return false;
    }
    // Relaxed: published by the Release store of READY.
    EXIT_KEY.store(key, Ordering::Relaxed);
    // SAFETY: the handlers are valid `extern "C"` functions forever.
    unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child)) };
    // Relaxed: see above.
    DONE.store(1, Ordering::Relaxed);
    true
}

/// Make a cache for the calling thread, install it, and arrange for its flush
/// at exit. Null if the allocator cannot start, the OS refuses memory, or the
/// exit hook cannot be registered (then the thread is marked DEAD and uses
/// the orphan cache).
pub(crate) fn new_thread_cache() -> *mut ThreadCache {
    if !ensure_init() {
        return ptr::null_mut();
    }
    let Some(slot) = CACHES.with(|c| c.pool.alloc()) else {
        return ptr::null_mut();
    };
    let cache = slot.as_ptr();
    // SAFETY: a fresh slot from the pool.
    unsafe { ThreadCache::init(cache) };
    // Install first: glibc's `pthread_setspecific` may call `calloc` (keys past
    // the first 32), which must find this cache rather than start another.
    cache::install(cache);
    // Relaxed: EXIT_KEY was set before READY, which `ensure_init` observed.
    let key = EXIT_KEY.load(Ordering::Relaxed);
    // SAFETY: `key` is a live key; the value is our cache record.
    if unsafe { libc::pthread_setspecific(key, cache.cast()) } != 0 {
        // No exit hook means no flush at exit: give the (still empty) cache
        // back; this thread allocates through the orphan cache instead.
        cache::set_dead();
        // SAFETY: the cache is empty, unused, and came from the pool.
        CACHES.with(|c| unsafe { c.pool.free(core::ptr::NonNull::new_unchecked(cache)) });
        return ptr::null_mut();
    }
    cache
}

/// The pthread-key destructor: the thread is exiting.
extern "C" fn on_thread_exit(arg: *mut libc::c_void) {
    let cache = arg as *mut ThreadCache;
    if cache.is_null() {
        return;
    }
    cache::set_dead();
    // SAFETY: `arg` is the cache this thread registered; the thread no longer
    // uses it (its TLS now names DEAD_CACHE).
    unsafe { cache::flush(&mut *cache) };
    // SAFETY: the cache is empty and unreachable; it came from the pool.
    CACHES.with(|c| unsafe { c.pool.free(core::ptr::NonNull::new_unchecked(cache)) });
}

/// Number of live thread caches (for `stats()`).
pub fn thread_caches() -> usize {
    CACHES.with(|c| c.pool.live())
}

/// Allocation for a thread whose cache is gone: through the shared orphan
/// cache, under its lock.
pub(crate) fn orphan_alloc(class: usize) -> *mut u8 {
    if !ensure_init() {
        return ptr::null_mut();
    }
    ORPHAN.with(|orphan| {
        if orphan.is_null() {
            let Some(slot) = CACHES.with(|c| c.pool.alloc()) else {
                return ptr::null_mut();
            };
            // SAFETY: a fresh slot from the pool.
            unsafe { ThreadCache::init(slot.as_ptr()) };
            *orphan = slot.as_ptr();
        }
        // SAFETY: the orphan lock makes us its (momentary) owner thread.
        unsafe { cache::alloc_from(&mut **orphan, class) }
    })
}

/// Serialises concurrent `fork`s: glibc may run two threads' prepare
/// handlers back to back, and one thread's parent handler must not reopen
/// the notification gate while another thread's prepare handler relies on it
/// being closed. Outermost in the lock order.
static FORK_LOCK: RawLock = RawLock::new();

extern "C" fn fork_prepare() {
    FORK_LOCK.lock();
    // First let every owner notification in flight finish (they take no
    // lock), so the child inherits no span stuck half-notified.
    cache::NOTIFY_GATE.close();
    ORPHAN.lock.lock();
    CACHES.lock.lock();
    for c in CENTRAL.iter().skip(1) {
        c.raw_lock().lock();
    }
    PAGE_HEAP.raw_lock().lock();
}

extern "C" fn fork_parent() {
    // SAFETY: `fork_prepare` took every one of these in this thread.
    unsafe {
        PAGE_HEAP.raw_lock().unlock();
        for c in CENTRAL.iter().skip(1).rev() {
            c.raw_lock().unlock();
        }
        CACHES.lock.unlock();
        ORPHAN.lock.unlock();
    }
    cache::NOTIFY_GATE.open();
    // SAFETY: taken by `fork_prepare` in this thread.
    unsafe { FORK_LOCK.unlock() };
}

extern "C" fn fork_child() {
    // SAFETY: we are the only thread of the child, and the locks were held
    // by our parent self at the moment of `fork`.
    unsafe {
        PAGE_HEAP.raw_lock().force_unlock_in_child();
        for c in CENTRAL.iter().skip(1) {
            c.raw_lock().force_unlock_in_child();
        }
        CACHES.lock.force_unlock_in_child();
        ORPHAN.lock.force_unlock_in_child();
    }
    cache::NOTIFY_GATE.open();
    // SAFETY: the child's only thread held it across `fork`.
    unsafe { FORK_LOCK.force_unlock_in_child() };
}
