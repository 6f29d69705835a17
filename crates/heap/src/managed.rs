//! Page runs for a layer that manages its own objects: the collector.
//!
//! The garbage collector (`tricolor-gc`) keeps its objects in runs of pages
//! from this heap, so that malloc and the collected heap share one page
//! allocator, one scavenger and one page map. It does not use malloc's
//! spans: it carves its own objects and keeps its own per-span metadata
//! (mark and allocation bitmaps, sweep generation). To make the page map
//! answer "which collector span holds this address?" in one load, the
//! collector hands over its *own* span record, whose first field is a
//! [`Span`]; [`alloc_run`] initialises that `Span` as [`SpanKind::Managed`]
//! and points the run's page-map entries at it. `arena::span_of(addr)` then
//! returns the collector's record directly.
//!
//! The heap never looks past the `Span` header of a managed record, never
//! frees objects in it, and never recycles the record (it is the caller's
//! memory). malloc's `free` of an address in a managed run is an invalid
//! free (reported in checking mode).

use crate::global;
use crate::span::Span;
use core::ptr::NonNull;

/// Map a run of `npages` pages whose start is aligned to `align_pages` pages
/// (a power of two), described by `record`. Returns the run's first byte and
/// whether its memory is known to be zero, or `None` if the OS refuses memory.
///
/// # Safety
/// `record` is valid for writes of a `Span`, is not in use as a span, and stays
/// valid (and untouched in its `Span` part, except by reads) until
/// [`free_run`] returns the run.
pub unsafe fn alloc_run(
    record: NonNull<Span>,
    npages: usize,
    align_pages: usize,
) -> Option<(usize, bool)> {
    if !global::ensure_init() || !align_pages.is_power_of_two() {
        return None;
    }
    let heap = global::page_heap();
    // SAFETY: forwarded from the caller. First without committing a new
    // arena; then, after reclaiming malloc's abandoned spans, with.
    let zeroed = unsafe {
        match heap.alloc_managed(record, npages, align_pages, false) {
            Some(z) => z,
            None => {
                global::reclaim_central_spans();
                heap.alloc_managed(record, npages, align_pages, true)?
            }
        }
    };
    // SAFETY: just initialised.
    Some((unsafe { record.as_ref() }.start, zeroed))
}

/// Give a managed run's pages back to the page heap. The record is the
/// caller's again when this returns.
///
/// # Safety
/// `record` was passed to a successful [`alloc_run`] and not freed since;
/// nothing in the run is used any more.
pub unsafe fn free_run(record: NonNull<Span>) {
    // SAFETY: forwarded from the caller.
    unsafe { global::page_heap().free_span(record.as_ptr()) }
}
