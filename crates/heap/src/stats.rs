//! `stats()`: a snapshot of the heap, taken without allocating.
//!
//! Figures come from two places, read under one hold of the page-heap lock
//! so that they agree: the page heap's counters (committed, released, span
//! pages, large objects) and a walk over every in-use span that reads each
//! span's `used` count. `used` is written by the
//! span's owner without synchronisation beyond a relaxed store, so a snapshot
//! taken while threads allocate is approximate per span but never torn, and
//! exact when the heap is quiescent. Objects freed by another thread count as
//! allocated until the owner collects them.

use crate::arena;
use crate::global;
use crate::size_class::{CLASS_SIZE, NUM_SIZE_CLASSES};
use crate::span::SpanKind;
use crate::PAGE_SHIFT;

/// Figures for one size class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Object size of the class in bytes.
    pub object_size: usize,
    /// Spans of this class in use.
    pub spans: usize,
    /// Objects allocated (in use) in those spans.
    pub objects: usize,
    /// Bytes of those spans (`in_use`) and of the objects (`allocated`).
    pub in_use_bytes: usize,
    pub allocated_bytes: usize,
}

/// A snapshot of the whole heap.
#[derive(Clone, Copy, Debug)]
pub struct HeapStats {
    /// Address space reserved at start-up.
    pub reserved: usize,
    /// Bytes committed (whole 64 MiB arenas).
    pub committed: usize,
    /// Bytes of free pages currently returned to the OS.
    pub released: usize,
    /// Bytes ever returned to the OS by the scavenger (cumulative).
    pub released_total: usize,
    /// Bytes of free pages still backed by memory.
    pub free_backed: usize,
    /// Bytes in spans (small and large): what the heap holds for objects.
    pub in_use: usize,
    /// Bytes of objects handed out and not freed (small objects count their
    /// class size, large objects their page-rounded size).
    pub allocated: usize,
    /// Large objects and their bytes.
    pub large_objects: usize,
    pub large_bytes: usize,
    /// Bytes in runs managed by the collector (`managed.rs`).
    pub managed_bytes: usize,
    /// Thread caches alive.
    pub thread_caches: usize,
    /// Per size class (index 0 unused).
    pub classes: [ClassStats; NUM_SIZE_CLASSES],
}

/// Take a snapshot. Cost: one walk over the in-use spans.
pub fn stats() -> HeapStats {
    let mut s = HeapStats {
        reserved: 0,
        committed: 0,
        released: 0,
        released_total: 0,
        free_backed: 0,
        in_use: 0,
        allocated: 0,
        large_objects: 0,
        large_bytes: 0,
        managed_bytes: 0,
        thread_caches: 0,
        classes: [ClassStats::default(); NUM_SIZE_CLASSES],
    };
    for (c, cs) in s.classes.iter_mut().enumerate() {
        cs.object_size = CLASS_SIZE[c] as usize;
    }
    if !global::ensure_init() {
        return s;
    }
    let heap = global::page_heap();
    let mut classes = [ClassStats::default(); NUM_SIZE_CLASSES];
    let counters = heap.snapshot(|span| {
        if span.kind == SpanKind::Small {
            let cs = &mut classes[span.class as usize];
            cs.spans += 1;
            cs.objects += span.used() as usize;
            cs.in_use_bytes += span.npages << PAGE_SHIFT;
        }
    });
    s.reserved = arena::reserved();
    s.committed = arena::committed();
    s.released = counters.released_pages << PAGE_SHIFT;
    s.released_total = counters.released_pages_total << PAGE_SHIFT;
    s.free_backed = counters.free_backed_pages << PAGE_SHIFT;
    s.in_use = counters.span_pages << PAGE_SHIFT;
    s.large_objects = counters.large_objects;
    s.large_bytes = counters.large_pages << PAGE_SHIFT;
    s.managed_bytes = counters.managed_pages << PAGE_SHIFT;
    s.thread_caches = global::thread_caches();
    s.allocated = s.large_bytes;
    for (cs, walked) in s.classes.iter_mut().zip(classes) {
        cs.spans = walked.spans;
        cs.objects = walked.objects;
        cs.in_use_bytes = walked.in_use_bytes;
        cs.allocated_bytes = cs.objects * cs.object_size;
        s.allocated += cs.allocated_bytes;
    }
    s
}
