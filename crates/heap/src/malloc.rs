//! The allocation API: `alloc` / `free` / `realloc` by size and alignment, and
//! `Malloc`, the `GlobalAlloc` over them.
//!
//! Routing:
//!
//! | request                                 | path                                   |
//! |-----------------------------------------|----------------------------------------|
//! | size ≤ 32 KiB, align ≤ 8                | `cache::alloc_small` (the fast path)   |
//! | size ≤ 32 KiB, 8 < align ≤ class allows | `cache::alloc_class` of the smallest class whose objects are aligned (`size_class::class_for_layout`) |
//! | anything else                           | a large span from the page heap, aligned as asked |
//! | align not a power of two, or size too big for the heap | null                       |
//!
//! Every free goes through `cache::free`, which finds the span in the page map
//! and takes the local, remote or large path.

use crate::arena;
use crate::cache;
use crate::global;
use crate::size_class::{class_for_layout, MAX_SMALL_SIZE};
use crate::span::{Span, SpanKind};
use crate::PAGE_SIZE;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

/// Every small block is at least this aligned (all class sizes are multiples
/// of 8 and spans are page aligned).
pub const MIN_ALIGN: usize = 8;

/// Allocate `size` bytes aligned to `align` (a power of two). Returns null if
/// `align` is not a power of two or the heap cannot provide the memory.
/// `size == 0` returns a unique minimal block.
#[inline(always)]
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    if !align.is_power_of_two() {
        return ptr::null_mut();
    }
    alloc_valid(size, align)
}

/// `alloc` for an alignment known to be a power of two (a `Layout`'s).
#[inline(always)]
fn alloc_valid(size: usize, align: usize) -> *mut u8 {
    #[cfg(feature = "secure")]
    return crate::secure::alloc(size, align, false);
    #[cfg(not(feature = "secure"))]
    alloc_unchecked(size, align)
}

/// `alloc` without checking-mode bookkeeping; `align` is a power of two.
#[inline(always)]
pub(crate) fn alloc_unchecked(size: usize, align: usize) -> *mut u8 {
    if align <= MIN_ALIGN && size <= MAX_SMALL_SIZE {
        return cache::alloc_small(size);
    }
    alloc_general(size, align)
}

#[inline(never)]
fn alloc_general(size: usize, align: usize) -> *mut u8 {
    if !align.is_power_of_two() {
        return ptr::null_mut();
    }
    if let Some(class) = class_for_layout(size, align) {
        return cache::alloc_class(class);
    }
    alloc_large(size, align).0
}

/// A large object: its own span. Returns the block and whether it is known
/// to be zeroed.
fn alloc_large(size: usize, align: usize) -> (*mut u8, bool) {
    if !global::ensure_init() || size > arena::reserved() {
        return (ptr::null_mut(), false);
    }
    match global::alloc_large(size.max(1), align.max(PAGE_SIZE)) {
        // SAFETY: the span is fresh and valid.
        Some((span, zeroed)) => (unsafe { span.as_ref().start } as *mut u8, zeroed),
        None => (ptr::null_mut(), false),
    }
}

/// Allocate zero-filled memory.
pub fn alloc_zeroed(size: usize, align: usize) -> *mut u8 {
    if !align.is_power_of_two() {
        return ptr::null_mut();
    }
    #[cfg(feature = "secure")]
    return crate::secure::alloc(size, align, true);
    #[cfg(not(feature = "secure"))]
    alloc_zeroed_unchecked(size, align)
}

/// `alloc_zeroed` without checking-mode bookkeeping.
pub(crate) fn alloc_zeroed_unchecked(size: usize, align: usize) -> *mut u8 {
    if size > MAX_SMALL_SIZE || !(align <= MIN_ALIGN || class_for_layout(size, align).is_some()) {
        if !align.is_power_of_two() {
            return ptr::null_mut();
        }
        let (p, zeroed) = alloc_large(size, align);
        if !p.is_null() && !zeroed {
            // SAFETY: `p` is a fresh block of at least `size` bytes.
            unsafe { ptr::write_bytes(p, 0, size) };
        }
        return p;
    }
    let p = alloc_unchecked(size, align);
    if !p.is_null() {
        // SAFETY: `p` is a fresh block of at least `size` bytes.
        unsafe { ptr::write_bytes(p, 0, size) };
    }
    p
}

/// Free a block.
///
/// # Safety
/// `p` was returned by this allocator and not freed since. Null is allowed
/// and ignored.
#[inline(always)]
pub unsafe fn free(p: *mut u8) {
    if p.is_null() {
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { free_sized(p, None) }
}

/// Free with the size the caller allocated, if it knows it (checked in
/// checking mode, ignored otherwise).
///
/// # Safety
/// As for [`free`], and `p` is not null.
#[inline(always)]
unsafe fn free_sized(p: *mut u8, _size: Option<usize>) {
    #[cfg(feature = "secure")]
    // SAFETY: checking mode validates `p` itself.
    unsafe {
        crate::secure::free(p, _size)
    }
    #[cfg(not(feature = "secure"))]
    // SAFETY: forwarded from the caller.
    unsafe {
        cache::free(p)
    }
}

/// Usable bytes of the block at `p`: at least what was asked for.
///
/// # Safety
/// `p` is a live block of this allocator.
pub unsafe fn usable_size(p: *const u8) -> usize {
    #[cfg(feature = "secure")]
    // SAFETY: forwarded from the caller.
    return unsafe { crate::secure::requested_size(p) };
    // SAFETY: a live block is in the committed heap and its span is valid.
    #[cfg(not(feature = "secure"))]
    unsafe {
        (*arena::span_of_unchecked(p as usize)).elem_size
    }
}

/// Resize the block at `p` to `new_size` bytes, keeping its contents and its
/// alignment `align`. Stays in place when the block already fits (and is not
/// more than twice too big). Returns null on failure, leaving `p` untouched.
///
/// # Safety
/// `p` is a live block of this allocator allocated with alignment `align`.
pub unsafe fn realloc(p: *mut u8, align: usize, new_size: usize) -> *mut u8 {
    // SAFETY: `p` is live, so it is in the committed heap.
    let span_ptr: *mut Span = unsafe { arena::span_of_unchecked(p as usize) };
    // SAFETY: the span record of a live block is valid.
    let kind = unsafe { (*span_ptr).kind };
    // SAFETY: `p` is live.
    let have = unsafe { usable_size(p) };
    if cfg!(feature = "secure") {
        // Checking mode always moves, so the trailer is rewritten.
    } else if kind == SpanKind::Small {
        if new_size <= have && new_size >= have / 2 {
            return p;
        }
    } else if new_size > MAX_SMALL_SIZE {
        // A large object grows over the free pages after it, or gives its
        // tail back, without copying.
        let pages = new_size.div_ceil(PAGE_SIZE);
        // SAFETY: `p` is live, so we own its large span's object.
        if unsafe { global::page_heap().resize_large(span_ptr, pages) } {
            return p;
        }
    }
    let q = alloc(new_size, align);
    if !q.is_null() {
        // SAFETY: both blocks are live and distinct; we copy what fits in both.
        unsafe {
            ptr::copy_nonoverlapping(p, q, have.min(new_size));
            free(p);
        }
    }
    q
}

/// Give every free page back to the OS now (after returning the empty spans
/// that exited threads left behind to the page heap). Returns the bytes
/// released.
pub fn release_memory() -> usize {
    if !global::ensure_init() {
        return 0;
    }
    global::reclaim_central_spans();
    global::page_heap().release_all()
}

/// tricolor's allocator as a Rust global allocator:
///
/// ```no_run
/// #[global_allocator]
/// static A: tricolor_heap::Malloc = tricolor_heap::Malloc;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Malloc;

// SAFETY: `alloc` returns blocks of at least `layout.size()` bytes aligned to
// `layout.align()` that no other live allocation overlaps (or null); `dealloc`
// accepts exactly the blocks `alloc` returned; `realloc` preserves contents.
unsafe impl GlobalAlloc for Malloc {
    #[inline(always)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        alloc_valid(layout.size(), layout.align())
    }

    #[inline(always)]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: GlobalAlloc's contract: `p` came from us and is live.
        unsafe { free_sized(p, Some(layout.size())) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        alloc_zeroed(layout.size(), layout.align())
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: `p` is live with this layout.
        unsafe { realloc(p, layout.align(), new_size) }
    }
}
