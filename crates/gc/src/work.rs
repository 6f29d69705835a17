//! Grey work: per-worker buffers and the shared pool they balance through.
//!
//! Glossary:
//! - **WorkBuf** — a 2 KiB block of grey object addresses (Go's `workbuf`,
//!   `_WorkbufSize = 2048`): a count, a link and 254 entries.
//! - **LocalWork** — what one marker holds: two buffers (Go's `wbuf1` /
//!   `wbuf2`), so a marker that alternates pushes and pops at a buffer
//!   boundary does not bounce a buffer through the pool each time.
//! - **WorkPool** — the heap's stacks of full and empty buffers, under one
//!   lock, plus the idle-worker count that decides termination.
//!
//! Algorithm (a marker's view):
//! 1. Pop from the local buffers; push newly greyed objects onto them. When
//!    both are full, the fuller goes to the pool's full stack and an empty one
//!    comes back.
//! 2. When both are empty, take a full buffer from the pool. If there is
//!    none, become idle: `idle += 1` under the lock. If then `idle ==
//!    workers`, nobody holds grey work (an idle worker holds none; a busy one
//!    would not be idle) and the pool is empty: marking is over; set `done`.
//!    Otherwise wait (spinning, then yielding) until a full buffer appears
//!    (`idle -= 1`, take it) or `done` is set.
//! 3. Balancing: a marker whose local buffers hold several objects while the
//!    pool has no full buffer and some worker is idle moves half of its
//!    buffer to the pool (`LocalWork::balance`).
//!
//! Termination is decided under the lock from `idle` and the full stack
//! alone, so there is no lock-free protocol to model here; the counters read
//! outside the lock (`nfull`, `idle_hint`) are hints that only decide when
//! to look.
//!
//! Buffers come from the allocator's metadata memory (`meta.rs`) and are
//! kept across cycles; the pool frees them when the heap goes away.

use crate::meta;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crossbeam_utils::Backoff;
use tricolor_heap::lock::RawLock;

/// Entries per buffer: 2 KiB with the count and link (Go's 2048-byte
/// workbuf).
pub const WORKBUF_ENTRIES: usize = 254;

#[repr(C)]
pub struct WorkBuf {
    next: *mut WorkBuf,
    n: usize,
    items: [usize; WORKBUF_ENTRIES],
}
const _: () = assert!(core::mem::size_of::<WorkBuf>() == 2048);

impl WorkBuf {
    #[inline]
    fn is_full(&self) -> bool {
        self.n == WORKBUF_ENTRIES
    }
}

struct Stacks {
    full: *mut WorkBuf,
    empty: *mut WorkBuf,
    idle: usize,
    workers: usize,
}

/// The shared pool. See the module docs.
pub struct WorkPool {
    lock: RawLock,
    stacks: core::cell::UnsafeCell<Stacks>,
    /// Full buffers on the stack (a hint read without the lock).
    nfull: AtomicUsize,
    /// Idle workers (a hint read without the lock).
    idle_hint: AtomicUsize,
    done: AtomicBool,
}

// SAFETY: `stacks` is only touched with `lock` held.
unsafe impl Sync for WorkPool {}
unsafe impl Send for WorkPool {}

impl WorkPool {
    pub const fn new() -> Self {
        WorkPool {
            lock: RawLock::new(),
            stacks: core::cell::UnsafeCell::new(Stacks {
                full: ptr::null_mut(),
                empty: ptr::null_mut(),
                idle: 0,
                workers: 1,
            }),
            nfull: AtomicUsize::new(0),
            idle_hint: AtomicUsize::new(0),
            done: AtomicBool::new(false),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Stacks) -> R) -> R {
        self.lock.lock();
        // SAFETY: the lock is held.
        let r = f(unsafe { &mut *self.stacks.get() });
        // SAFETY: taken above by this thread.
        unsafe { self.lock.unlock() };
        r
    }

    /// Start a marking round with `workers` markers. Nobody may be marking.
    pub fn begin(&self, workers: usize) {
        self.with(|s| {
            debug_assert!(s.full.is_null());
            s.idle = 0;
            s.workers = workers.max(1);
        });
        // Relaxed: published to the markers by the thread start-up (the
        // rayon broadcast) that follows.
        self.idle_hint.store(0, Ordering::Relaxed);
        self.done.store(false, Ordering::Relaxed);
    }

    /// An empty buffer (from the stack, or fresh). `None` if memory ran out.
    fn get_empty(&self) -> Option<NonNull<WorkBuf>> {
        let b = self.with(|s| {
            let b = s.empty;
            if !b.is_null() {
                // SAFETY: buffers on the stack are ours while the lock is held.
                s.empty = unsafe { (*b).next };
            }
            b
        });
        if let Some(b) = NonNull::new(b) {
            return Some(b);
        }
        meta::alloc_zeroed(core::mem::size_of::<WorkBuf>(), 64).map(|p| p.cast())
    }

    fn put_empty(&self, b: NonNull<WorkBuf>) {
        self.with(|s| {
            // SAFETY: the caller gives up `b`.
            unsafe {
                (*b.as_ptr()).n = 0;
                (*b.as_ptr()).next = s.empty;
            }
            s.empty = b.as_ptr();
        });
    }

    fn put_full(&self, b: NonNull<WorkBuf>) {
        self.with(|s| {
            // SAFETY: the caller gives up `b`.
            unsafe { (*b.as_ptr()).next = s.full };
            s.full = b.as_ptr();
            // Relaxed: a hint; the buffer itself is handed over by the lock.
            self.nfull.fetch_add(1, Ordering::Relaxed);
        });
    }

    fn try_get_full(&self, s: &mut Stacks) -> Option<NonNull<WorkBuf>> {
        let b = NonNull::new(s.full)?;
        // SAFETY: buffers on the stack are ours while the lock is held.
        s.full = unsafe { (*b.as_ptr()).next };
        // Relaxed: a hint.
        self.nfull.fetch_sub(1, Ordering::Relaxed);
        Some(b)
    }

    /// A full buffer, waiting for one while other workers are busy; `None`
    /// when marking is over (every worker idle, the pool empty).
    fn get_full_or_finish(&self) -> Option<NonNull<WorkBuf>> {
        let first = self.with(|s| {
            if let Some(b) = self.try_get_full(s) {
                return Ok(b);
            }
            s.idle += 1;
            // Relaxed: a hint for `balance`.
            self.idle_hint.store(s.idle, Ordering::Relaxed);
            if s.idle == s.workers {
                // Relaxed: the lock orders `done` for workers that re-check
                // under it; the spinning read below is only a hint to stop.
                self.done.store(true, Ordering::Relaxed);
            }
            Err(())
        });
        if let Ok(b) = first {
            return Some(b);
        }
        let backoff = Backoff::new();
        loop {
            // Relaxed loads: hints; the decision is re-made under the lock.
            if self.done.load(Ordering::Relaxed) {
                // Acquire the lock once so everything the other workers did
                // before going idle happens-before our return.
                self.with(|_| ());
                return None;
            }
            if self.nfull.load(Ordering::Relaxed) > 0 {
                let got = self.with(|s| {
                    if s.idle == s.workers {
                        return Err(true);
                    }
                    match self.try_get_full(s) {
                        Some(b) => {
                            s.idle -= 1;
                            self.idle_hint.store(s.idle, Ordering::Relaxed);
                            Ok(b)
                        }
                        None => Err(false),
                    }
                });
                match got {
                    Ok(b) => return Some(b),
                    Err(true) => return None,
                    Err(false) => {}
                }
            }
            if backoff.is_completed() {
                std::thread::yield_now();
            } else {
                backoff.snooze();
            }
        }
    }

    /// Free every buffer. Nobody may be marking.
    pub fn release_all(&self) {
        let (mut full, mut empty) = self.with(|s| {
            let r = (s.full, s.empty);
            s.full = ptr::null_mut();
            s.empty = ptr::null_mut();
            r
        });
        for list in [&mut full, &mut empty] {
            while let Some(b) = NonNull::new(*list) {
                // SAFETY: the lists were detached above; each buffer came from
                // `meta::alloc_zeroed` and is freed once.
                unsafe {
                    *list = (*b.as_ptr()).next;
                    meta::free(b.cast());
                }
            }
        }
        self.nfull.store(0, Ordering::Relaxed);
    }
}

impl Default for WorkPool {
    fn default() -> Self {
        Self::new()
    }
}

/// One marker's grey objects: two buffers (see the module docs).
pub struct LocalWork<'p> {
    pool: &'p WorkPool,
    b1: Option<NonNull<WorkBuf>>,
    b2: Option<NonNull<WorkBuf>>,
    /// Set if a buffer could not be allocated: marking cannot be trusted.
    pub out_of_memory: bool,
}

impl<'p> LocalWork<'p> {
    pub fn new(pool: &'p WorkPool) -> Self {
        LocalWork {
            pool,
            b1: None,
            b2: None,
            out_of_memory: false,
        }
    }

    /// Add a grey object.
    #[inline]
    pub fn push(&mut self, addr: usize) {
        if let Some(b) = self.b1 {
            // SAFETY: local buffers are ours alone.
            let b = unsafe { &mut *b.as_ptr() };
            if !b.is_full() {
                // SAFETY: `n < WORKBUF_ENTRIES` (not full).
                unsafe { *b.items.get_unchecked_mut(b.n) = addr };
                b.n += 1;
                return;
            }
        }
        self.push_slow(addr);
    }

    #[cold]
    fn push_slow(&mut self, addr: usize) {
        // b1 is missing or full. Swap with b2 if b2 has room; otherwise send
        // the full one to the pool and take an empty one.
        core::mem::swap(&mut self.b1, &mut self.b2);
        // SAFETY: local buffers are ours alone.
        let b1_ok = self.b1.is_some_and(|b| unsafe { !(*b.as_ptr()).is_full() });
        if !b1_ok {
            if let Some(full) = self.b1.take() {
                self.pool.put_full(full);
            }
            match self.pool.get_empty() {
                Some(b) => self.b1 = Some(b),
                None => {
                    self.out_of_memory = true;
                    return;
                }
            }
        }
        self.push(addr);
    }

    /// Take a grey object; from the pool if the local buffers are empty;
    /// `None` when marking is over.
    #[inline]
    pub fn pop(&mut self) -> Option<usize> {
        if let Some(b) = self.b1 {
            // SAFETY: local buffers are ours alone.
            let b = unsafe { &mut *b.as_ptr() };
            if b.n > 0 {
                b.n -= 1;
                return Some(b.items[b.n]);
            }
        }
        self.pop_slow()
    }

    /// Take a grey object from the local buffers only.
    #[inline]
    pub fn pop_local(&mut self) -> Option<usize> {
        if let Some(b) = self.b1 {
            // SAFETY: local buffers are ours alone.
            let b = unsafe { &mut *b.as_ptr() };
            if b.n > 0 {
                b.n -= 1;
                // SAFETY: `n < WORKBUF_ENTRIES`.
                return Some(unsafe { *b.items.get_unchecked(b.n) });
            }
        }
        if let Some(b) = self.b2 {
            // SAFETY: local buffers are ours alone.
            let b = unsafe { &mut *b.as_ptr() };
            if b.n > 0 {
                b.n -= 1;
                return Some(b.items[b.n]);
            }
        }
        None
    }

    #[cold]
    fn pop_slow(&mut self) -> Option<usize> {
        core::mem::swap(&mut self.b1, &mut self.b2);
        if let Some(b) = self.b1 {
            // SAFETY: local buffers are ours alone.
            let b = unsafe { &mut *b.as_ptr() };
            if b.n > 0 {
                b.n -= 1;
                return Some(b.items[b.n]);
            }
        }
        // Both empty: return one to the pool, then wait for a full one.
        if let Some(e) = self.b1.take() {
            self.pool.put_empty(e);
        }
        let full = self.pool.get_full_or_finish()?;
        self.b1 = Some(full);
        self.pop()
    }

    /// Give half of a well-stocked local buffer to idle workers.
    #[inline]
    pub fn balance(&mut self) {
        // Relaxed: hints (see the module docs).
        if self.pool.idle_hint.load(Ordering::Relaxed) == 0
            || self.pool.nfull.load(Ordering::Relaxed) != 0
        {
            return;
        }
        let Some(b) = self.b1 else { return };
        // SAFETY: local buffers are ours alone.
        let b = unsafe { &mut *b.as_ptr() };
        if b.n < 4 {
            return;
        }
        let Some(nb) = self.pool.get_empty() else {
            return;
        };
        let half = b.n / 2;
        // SAFETY: `nb` is a fresh empty buffer, ours until handed over.
        unsafe {
            let n = &mut *nb.as_ptr();
            n.items[..half].copy_from_slice(&b.items[b.n - half..b.n]);
            n.n = half;
        }
        b.n -= half;
        self.pool.put_full(nb);
    }

    /// Hand all local grey work to the pool (used by the root phase, which
    /// fills buffers that the markers then take).
    pub fn flush(&mut self) {
        for b in [self.b1.take(), self.b2.take()].into_iter().flatten() {
            // SAFETY: local buffers are ours alone.
            if unsafe { (*b.as_ptr()).n } > 0 {
                self.pool.put_full(b);
            } else {
                self.pool.put_empty(b);
            }
        }
    }
}

impl Drop for LocalWork<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Every pushed entry is popped exactly once, by some worker, and all
    /// workers see the end of marking, whatever the split of work; entries
    /// that grey further entries (a tree) included.
    #[test]
    fn every_entry_is_popped_once_and_all_workers_finish() {
        for workers in 1..=4usize {
            let pool = WorkPool::new();
            pool.begin(workers);
            // Seed: one "root" in the pool.
            {
                let mut lw = LocalWork::new(&pool);
                lw.push(1);
                lw.flush();
            }
            // Entry k greys 2k and 2k + 1 while below the limit: a binary tree.
            const LIMIT: usize = 50_000;
            let seen = Mutex::new(vec![0u8; 2 * LIMIT + 2]);
            std::thread::scope(|s| {
                for _ in 0..workers {
                    s.spawn(|| {
                        let mut lw = LocalWork::new(&pool);
                        let mut mine = Vec::new();
                        let mut n = 0u32;
                        while let Some(e) = lw.pop() {
                            mine.push(e);
                            if 2 * e < LIMIT {
                                lw.push(2 * e);
                                lw.push(2 * e + 1);
                            }
                            n += 1;
                            if n.is_multiple_of(16) {
                                lw.balance();
                            }
                        }
                        assert!(!lw.out_of_memory);
                        let mut seen = seen.lock().unwrap();
                        for e in mine {
                            seen[e] += 1;
                        }
                    });
                }
            });
            let seen = seen.into_inner().unwrap();
            for (e, &c) in seen.iter().enumerate() {
                let expected = usize::from(reachable(e, LIMIT));
                assert_eq!(c as usize, expected, "entry {e} with {workers} workers");
            }
            pool.release_all();
        }
    }

    /// Is `e` in the tree rooted at 1 where `k` has children `2k, 2k + 1`
    /// while `2k < limit`?
    fn reachable(e: usize, limit: usize) -> bool {
        if e == 1 {
            return true;
        }
        e >= 2 && 2 * (e / 2) < limit && reachable(e / 2, limit)
    }
}
