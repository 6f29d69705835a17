//! `Central`: the spans of one size class that no thread cache owns.
//!
//! A central list is where spans wait between owners: spans flushed by an
//! exiting thread, and spans whose owner had no use for them. A cache whose
//! class runs dry takes spans from here before asking the page heap for new
//! pages (see `cache.rs`, `refill`). It is hit once per span, not once per
//! object, so a lock is the right tool: one short critical section per
//! span-sized batch of allocations.
//!
//! Spans on a central list have `owner == 0`. Other threads may still push
//! remote frees onto them; whoever adopts the span collects those.
//!
//! Lock order: a central lock may be taken with no other allocator lock held
//! or under the orphan lock, and before the page-heap lock (see `global.rs`);
//! never after it.

use crate::list::SpanList;
use crate::lock::RawLock;
use crate::page_heap::PageHeap;
use crate::span::Span;
use core::cell::UnsafeCell;

pub struct Central {
    lock: RawLock,
    /// Protected by `lock`.
    spans: UnsafeCell<SpanList>,
}

// SAFETY: `spans` is only touched with `lock` held.
unsafe impl Sync for Central {}

impl Central {
    pub const fn new() -> Self {
        Central {
            lock: RawLock::new(),
            spans: UnsafeCell::new(SpanList::new()),
        }
    }

    /// Give an unowned span to the central list.
    ///
    /// # Safety
    /// `span` is a valid small span of this list's class, on no list, with
    /// `owner == 0`, and the caller gives up every right to its owner-only
    /// fields.
    pub unsafe fn put(&self, span: *mut Span) {
        self.lock.lock();
        // SAFETY: the lock is held; the caller hands us `span`.
        unsafe { (*self.spans.get()).push_front(span) };
        // SAFETY: taken just above by this thread.
        unsafe { self.lock.unlock() };
    }

    /// Take a span, or null if there is none. The caller becomes its owner
    /// and must set `owner` before using it.
    pub fn take(&self) -> *mut Span {
        self.lock.lock();
        // SAFETY: the lock is held.
        let s = unsafe { (*self.spans.get()).pop_front() };
        // SAFETY: taken just above by this thread.
        unsafe { self.lock.unlock() };
        s
    }

    /// Give back every span on this list that has become empty through
    /// remote frees (its blocks were freed after its owner thread exited).
    /// Returns the number of spans freed. O(spans on the list).
    pub fn reclaim_empty(&self, heap: &PageHeap) -> usize {
        let mut freed = 0;
        self.lock.lock();
        // SAFETY: the lock is held, which makes us the owner of every span on
        // the list (their `owner` is 0; see the module docs).
        unsafe {
            let list = &mut *self.spans.get();
            let mut s = list.head();
            while !s.is_null() {
                let next = (*s).next;
                (*s).collect();
                if (*s).used() == 0 {
                    list.remove(s);
                    // Lock order: central before page heap.
                    heap.free_span(s);
                    freed += 1;
                }
                s = next;
            }
        }
        // SAFETY: taken above by this thread.
        unsafe { self.lock.unlock() };
        freed
    }

    /// The lock, for `fork` handling (`global.rs`).
    pub fn raw_lock(&self) -> &RawLock {
        &self.lock
    }
}

impl Default for Central {
    fn default() -> Self {
        Self::new()
    }
}
