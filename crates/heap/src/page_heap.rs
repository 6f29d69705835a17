//! `PageHeap`: runs of pages for spans, over the page allocator and the
//! arenas, with the scavenger that gives idle pages back to the OS.
//!
//! This is Go's `mheap` in miniature. One lock guards it all; it is taken once
//! per span (a span serves a few hundred small allocations) and once per large
//! object.
//!
//! Algorithm, `alloc_run(npages, align)`:
//! 1. First-fit in the page allocator (`pages.rs`: O(log heap) over its
//!    summary tree).
//! 2. If nothing fits, commit enough new arenas to hold the run (`arena.rs`),
//!    hand their chunks to the page allocator, and retry once.
//! 3. Take a span record from the pool and point the run's page-map entries
//!    at it.
//!
//! Freeing reverses 3 and frees the pages; the bitmap coalesces the run with
//! its free neighbours by construction.
//!
//! Scavenging. The page allocator knows which free pages are still backed by
//! memory ("unscavenged"). Each *epoch* (one second) the heap remembers the
//! smallest number of free unscavenged pages it saw; at the end of the epoch,
//! that many pages (less a small floor kept warm) were free for the whole
//! epoch, and are released with `MADV_DONTNEED`, highest addresses first,
//! at most 16 MiB per page-heap call so no free holds the lock for long.
//! So a page is returned to the OS after one to two seconds of disuse, and a
//! heap that oscillates keeps its working set. `release_memory` releases every
//! free page at once. Epochs advance on page-heap calls; a process that stops
//! calling the allocator keeps its pages until it calls `release_memory` (the
//! runtime crate's background scavenger will call it).

use crate::arena::{self, ARENA_SIZE};
use crate::lock::RawLock;
use crate::os;
use crate::pages::PageAlloc;
use crate::pool::FixedPool;
use crate::size_class::{CLASS_PAGES, NUM_SIZE_CLASSES};
use crate::span::{Span, SpanKind};
use crate::{CHUNK_PAGES, PAGE_SHIFT};
use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};

/// Length of a scavenger epoch in nanoseconds (1 s).
const EPOCH_NS: u64 = 1_000_000_000;
/// Free pages the scavenger leaves backed: 2 MiB, about one span refill
/// burst for every size class, so a steady program does not fault them back.
const SCAVENGE_FLOOR_PAGES: usize = (2 << 20) >> PAGE_SHIFT;
const ARENA_PAGES: usize = ARENA_SIZE >> PAGE_SHIFT;
/// Most pages one page-heap call releases for the scavenger: 16 MiB, a few
/// `madvise` calls, so the lock is never held for a whole epoch's worth.
const SCAVENGE_BUDGET_PAGES: usize = (16 << 20) >> PAGE_SHIFT;
/// Failed descents an aligned search may make before it settles for "first
/// fit of `npages + align - 1`, aligned inside": 16 keeps every aligned large
/// allocation O(log heap) even in a heap riddled with aligned-sized holes
/// (with the page allocator's default of 256, a test saw 200 µs per
/// `alloc(1, 16 KiB)` at 20k live blocks). The price is an occasional higher
/// address than the lowest aligned fit; the trimmed head and tail stay free.
const ALIGNED_BUDGET: usize = 16;

pub struct PageHeap {
    lock: RawLock,
    inner: UnsafeCell<Inner>,
}

// SAFETY: `inner` is only touched with `lock` held.
unsafe impl Sync for PageHeap {}

/// Everything behind the page-heap lock.
struct Inner {
    /// `None` until `init`.
    pages: Option<PageAlloc>,
    spans: FixedPool<Span>,
    /// Counters for `stats()`.
    stats: HeapCounters,
    /// Scavenger state: the epoch's start and its low-water mark of free,
    /// unscavenged pages.
    epoch_start_ns: u64,
    epoch_min_unscavenged: usize,
    /// Pages an epoch boundary found idle and not yet released.
    scavenge_pending: usize,
}

/// Page-heap counters, kept under the lock.
#[derive(Clone, Copy, Debug)]
pub struct HeapCounters {
    /// Pages in spans (small and large).
    pub span_pages: usize,
    /// Small spans per class.
    pub class_spans: [usize; NUM_SIZE_CLASSES],
    /// Large objects and their pages.
    pub large_objects: usize,
    pub large_pages: usize,
    /// Managed runs (`managed.rs`) and their pages.
    pub managed_runs: usize,
    pub managed_pages: usize,
    /// Pages ever released to the OS by the scavenger (cumulative).
    pub released_pages_total: usize,
    /// Free pages currently released (not backed).
    pub released_pages: usize,
    /// Free pages still backed.
    pub free_backed_pages: usize,
}

impl PageHeap {
    pub const fn new() -> Self {
        PageHeap {
            lock: RawLock::new(),
            inner: UnsafeCell::new(Inner {
                pages: None,
                spans: FixedPool::new(),
                stats: HeapCounters {
                    span_pages: 0,
                    class_spans: [0; NUM_SIZE_CLASSES],
                    large_objects: 0,
                    large_pages: 0,
                    managed_runs: 0,
                    managed_pages: 0,
                    released_pages_total: 0,
                    released_pages: 0,
                    free_backed_pages: 0,
                },
                epoch_start_ns: 0,
                epoch_min_unscavenged: 0,
                scavenge_pending: 0,
            }),
        }
    }

    /// Set up the page allocator over the reservation `arena::init` made.
    /// Called by `global::init_slow`; a no-op once it succeeded.
    pub fn init(&self) -> bool {
        if self.with(|inner| inner.pages.is_some()) {
            return true;
        }
        let max_chunks = arena::max_chunks();
        let Some(mem) = os::map_metadata(PageAlloc::required_bytes(max_chunks)) else {
            return false;
        };
        self.with(|inner| {
            // SAFETY: `mem` is a fresh zeroed mapping of the required size,
            // page aligned, used by nothing else.
            inner.pages = Some(unsafe { PageAlloc::new(mem.as_ptr(), max_chunks) });
            inner.epoch_start_ns = now_ns();
        });
        true
    }

    /// Run `f` with the lock held.
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        self.lock.lock();
        // SAFETY: the lock is held, so this is the only reference to `inner`.
        let r = f(unsafe { &mut *self.inner.get() });
        // SAFETY: taken above by this thread.
        unsafe { self.lock.unlock() };
        r
    }

    /// A new, unowned, uncarved span for size class `class`, or null if the
    /// heap cannot grow.
    /// With `grow == false` it fails rather than commit a new arena (see
    /// `global::alloc_small_span`, which first reclaims abandoned spans).
    pub fn alloc_small_span(&self, class: usize, grow: bool) -> *mut Span {
        let npages = CLASS_PAGES[class] as usize;
        self.with(|inner| {
            let Some((span, first, _)) = inner.alloc_run(npages, 1, grow) else {
                return ptr::null_mut();
            };
            let start = arena::page_addr(first);
            // SAFETY: `span` is a fresh record from the pool.
            unsafe { Span::init_small(span, start, class) };
            // SAFETY: the run is in the committed heap; the lock is held.
            unsafe { arena::set_span(first, npages, span) };
            inner.stats.class_spans[class] += 1;
            span
        })
    }

    /// A large span of at least `size` bytes whose start is aligned to
    /// `align` (a power of two). Returns the span and whether its memory is
    /// known to be zero (every page fresh from the OS or released since).
    /// `grow` as for [`PageHeap::alloc_small_span`].
    pub fn alloc_large(
        &self,
        size: usize,
        align: usize,
        grow: bool,
    ) -> Option<(NonNull<Span>, bool)> {
        let npages = size.checked_add((1 << PAGE_SHIFT) - 1)? >> PAGE_SHIFT;
        let align_pages = (align >> PAGE_SHIFT).max(1);
        self.with(|inner| {
            let (span, first, scavenged) = inner.alloc_run(npages, align_pages, grow)?;
            let start = arena::page_addr(first);
            // SAFETY: `span` is a fresh record from the pool.
            unsafe { Span::init_large(span, start, npages) };
            // SAFETY: the run is in the committed heap; the lock is held.
            unsafe { arena::set_span(first, npages, span) };
            inner.stats.large_objects += 1;
            inner.stats.large_pages += npages;
            Some((NonNull::new(span)?, scavenged == npages))
        })
    }

    /// A run of `npages` pages aligned to `align_pages` for a client that
    /// manages its own objects, described by the caller's record `span`
    /// (initialised here as `SpanKind::Managed`). Returns whether the memory
    /// is known to be zero, or `None` if the heap cannot grow.
    ///
    /// # Safety
    /// `span` is valid for writes of a `Span`, not in use, and stays valid
    /// until [`PageHeap::free_span`] returns the run.
    pub unsafe fn alloc_managed(
        &self,
        span: NonNull<Span>,
        npages: usize,
        align_pages: usize,
        grow: bool,
    ) -> Option<bool> {
        self.with(|inner| {
            let (first, scavenged) = inner.alloc_pages(npages, align_pages, grow)?;
            let start = arena::page_addr(first);
            // SAFETY: the caller hands us a writable, unused record.
            unsafe { Span::init_managed(span.as_ptr(), start, npages) };
            // SAFETY: the run is in the committed heap; the lock is held.
            unsafe { arena::set_span(first, npages, span.as_ptr()) };
            inner.stats.managed_runs += 1;
            inner.stats.managed_pages += npages;
            Some(scavenged == npages)
        })
    }

    /// Give a span's pages back and recycle its record (a managed span's
    /// record goes back to its owner: the caller).
    ///
    /// # Safety
    /// `span` is a span of this heap that nobody owns or lists any more and
    /// that holds no live object.
    pub unsafe fn free_span(&self, span: *mut Span) {
        self.with(|inner| {
            // SAFETY: the caller hands us the span; the lock is held.
            unsafe {
                let (start, npages) = ((*span).start, (*span).npages);
                match (*span).kind {
                    SpanKind::Small => inner.stats.class_spans[(*span).class as usize] -= 1,
                    SpanKind::Large => {
                        inner.stats.large_objects -= 1;
                        inner.stats.large_pages -= npages;
                    }
                    SpanKind::Managed => {
                        inner.stats.managed_runs -= 1;
                        inner.stats.managed_pages -= npages;
                    }
                }
                let managed = (*span).kind == SpanKind::Managed;
                let first = arena::page_index(start);
                arena::set_span(first, npages, ptr::null_mut());
                inner.stats.span_pages -= npages;
                if let Some(p) = inner.pages.as_mut() {
                    p.free(first, npages);
                }
                if !managed {
                    inner.spans.free(NonNull::new_unchecked(span));
                }
            }
            inner.maybe_scavenge();
        })
    }

    /// Resize a large span in place to `new_npages` pages: grow it over the
    /// free pages right after it, or give its tail back. Returns false (and
    /// changes nothing) if growing needs pages that are not free.
    ///
    /// # Safety
    /// `span` is a live large span whose object the caller owns.
    pub unsafe fn resize_large(&self, span: *mut Span, new_npages: usize) -> bool {
        self.with(|inner| {
            // SAFETY: the caller owns the object, so nobody else touches the
            // span record; the lock covers the page map and the allocator.
            unsafe {
                let (start, old) = ((*span).start, (*span).npages);
                let first = arena::page_index(start);
                if new_npages == 0 || new_npages == old {
                    return new_npages == old;
                }
                let Some(pages) = inner.pages.as_mut() else {
                    return false;
                };
                if new_npages > old {
                    if pages.alloc_at(first + old, new_npages - old).is_none() {
                        return false;
                    }
                    arena::set_span(first + old, new_npages - old, span);
                    inner.stats.span_pages += new_npages - old;
                    inner.stats.large_pages += new_npages - old;
                    inner.clamp_free_level();
                } else {
                    arena::set_span(first + new_npages, old - new_npages, ptr::null_mut());
                    pages.free(first + new_npages, old - new_npages);
                    inner.stats.span_pages -= old - new_npages;
                    inner.stats.large_pages -= old - new_npages;
                }
                (*span).npages = new_npages;
                (*span).elem_size = new_npages << PAGE_SHIFT;
                true
            }
        })
    }

    /// Release every free page to the OS now. Returns the bytes released.
    pub fn release_all(&self) -> usize {
        self.with(|inner| inner.scavenge(usize::MAX) << PAGE_SHIFT)
    }

    /// A snapshot of the counters, and a visit of every in-use span, under
    /// one hold of the lock so the two agree (no span appears or disappears
    /// in between). O(committed pages / span length).
    pub fn snapshot(&self, mut visit: impl FnMut(&Span)) -> HeapCounters {
        self.with(|inner| {
            let mut c = inner.stats;
            if let Some(p) = inner.pages.as_ref() {
                c.released_pages = p.scavenged_pages();
                c.free_backed_pages = p.free_pages() - p.scavenged_pages();
            }
            let end = arena::committed() >> PAGE_SHIFT;
            let mut page = 0;
            while page < end {
                let addr = arena::page_addr(page);
                // SAFETY: `addr` is in the committed heap.
                let s = unsafe { arena::span_of_unchecked(addr) };
                if s.is_null() {
                    page += 1;
                } else {
                    // SAFETY: page-map entries point at live span records
                    // while the lock is held.
                    let s = unsafe { &*s };
                    visit(s);
                    page = arena::page_index(s.start) + s.npages;
                }
            }
            c
        })
    }

    /// The lock, for `fork` handling.
    pub fn raw_lock(&self) -> &RawLock {
        &self.lock
    }
}

impl Default for PageHeap {
    fn default() -> Self {
        Self::new()
    }
}

impl Inner {
    /// Steps 1–3 of the module docs, minus the page map. Returns the span
    /// record, the first page and how many pages of the run were scavenged.
    fn alloc_run(
        &mut self,
        npages: usize,
        align_pages: usize,
        grow: bool,
    ) -> Option<(*mut Span, usize, usize)> {
        let (first, scavenged) = self.alloc_pages(npages, align_pages, grow)?;
        let Some(span) = self.spans.alloc() else {
            // No memory for the record: put the pages back, report failure.
            if let Some(p) = self.pages.as_mut() {
                p.free(first, npages);
            }
            self.stats.span_pages -= npages;
            return None;
        };
        Some((span.as_ptr(), first, scavenged))
    }

    /// A run of pages (no record): its first page and how many of its pages
    /// were scavenged (and so are zero).
    fn alloc_pages(
        &mut self,
        npages: usize,
        align_pages: usize,
        grow: bool,
    ) -> Option<(usize, usize)> {
        if npages == 0 {
            return None;
        }
        let found = match self.find(npages, align_pages) {
            Some(f) => Some(f),
            None if !grow => None,
            None => {
                self.grow(npages + align_pages - 1)?;
                self.find(npages, align_pages)
            }
        };
        let (first, scavenged) = found?;
        self.stats.span_pages += npages;
        self.clamp_free_level();
        Some((first, scavenged))
    }

    fn find(&mut self, npages: usize, align_pages: usize) -> Option<(usize, usize)> {
        let p = self.pages.as_mut()?;
        if align_pages <= 1 {
            p.alloc(npages)
        } else {
            p.alloc_aligned_with_budget(npages, align_pages, ALIGNED_BUDGET)
        }
    }

    /// Commit arenas for at least `npages` more pages.
    fn grow(&mut self, npages: usize) -> Option<()> {
        let arenas = npages.div_ceil(ARENA_PAGES).max(1);
        let first_chunk = arena::grow_arenas(arenas)?;
        self.pages
            .as_mut()?
            .grow(first_chunk, arenas * (ARENA_PAGES / CHUNK_PAGES));
        Some(())
    }

    /// At an epoch boundary, release what stayed free all epoch.
    fn maybe_scavenge(&mut self) {
        // Work left from an epoch boundary, a budget at a time, so that no
        // single free holds the lock for a whole epoch's `madvise`s.
        if self.scavenge_pending > 0 {
            let n = self.scavenge(self.scavenge_pending.min(SCAVENGE_BUDGET_PAGES));
            self.scavenge_pending = if n == 0 {
                0
            } else {
                self.scavenge_pending.saturating_sub(n)
            };
        }
        let now = now_ns();
        if now.wrapping_sub(self.epoch_start_ns) < EPOCH_NS {
            return;
        }
        // Pages free for the whole epoch, less the floor kept warm.
        self.scavenge_pending = self
            .epoch_min_unscavenged
            .saturating_sub(SCAVENGE_FLOOR_PAGES);
        self.epoch_start_ns = now;
        self.epoch_min_unscavenged = self.backed_free();
    }

    /// Free pages still backed by memory.
    fn backed_free(&self) -> usize {
        self.pages
            .as_ref()
            .map_or(0, |p| p.free_pages() - p.scavenged_pages())
    }

    /// Keep the epoch's low-water mark at or below the current level (after
    /// pages left the backed free pool other than through `alloc_run`).
    fn clamp_free_level(&mut self) {
        self.epoch_min_unscavenged = self.epoch_min_unscavenged.min(self.backed_free());
    }

    /// Release up to `max_pages` free pages. Returns pages released.
    fn scavenge(&mut self, max_pages: usize) -> usize {
        let Some(p) = self.pages.as_mut() else {
            return 0;
        };
        let n = p.scavenge(max_pages, |first, npages| {
            let addr = arena::page_addr(first);
            // SAFETY: the page allocator hands us free pages of the committed
            // heap; nobody holds them, so their contents may go. If the OS
            // refuses, `decommit` zeroes them, so "scavenged ⇒ zero" holds.
            unsafe {
                os::decommit(
                    NonNull::new_unchecked(addr as *mut u8),
                    npages << PAGE_SHIFT,
                )
            };
        });
        self.stats.released_pages_total += n;
        self.clamp_free_level();
        n
    }
}

/// Monotonic nanoseconds (vDSO `clock_gettime`, no allocation).
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
