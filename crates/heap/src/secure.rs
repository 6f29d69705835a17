//! Checking mode (`--features secure`): catches double frees, invalid frees
//! and buffer overruns, and reports them without allocating.
//!
//! What it adds to every block:
//!
//! ```text
//!   | user bytes (size) | guard: 0xCA × min(gap, 64) | … | trailer: size ^ KEY (u64), MAGIC (u64) |
//!   ^ p                                                     ^ block end - 16
//! ```
//!
//! 1. Every request asks the normal allocator for `size + 16` bytes, so the
//!    16-byte trailer always fits at the end of the block. `usable_size`
//!    reports the requested size exactly: any byte past it is an overrun.
//! 2. Small spans keep one *allocation bit* per block (`Span::alloc_bits`):
//!    set on allocation, cleared with an atomic `fetch_and` on free. A free
//!    that finds the bit already clear is a double free. (Large spans: the
//!    page map entry is cleared when the span is freed, so a second free is
//!    an invalid free.)
//! 3. A free checks, in order: the address is inside the committed heap; its
//!    page belongs to an in-use span; it is the start of an object (not an
//!    interior pointer); the allocation bit; the trailer and the guard bytes.
//! 4. Freed memory past the first word (the free-list link) is filled with
//!    0xDF (`clobberfree`), so a use after free reads garbage loudly.
//!
//! On an error the free is *not* performed (nothing is lost or corrupted
//! further) and the error goes to the handler set with
//! [`set_error_handler`]; without one, the process prints a one-line
//! diagnosis to stderr (no allocation) and aborts, as glibc does.

use crate::arena;
use crate::fatal;
use crate::size_class::CLASS_OBJECTS;
use crate::span::{Span, SpanKind};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
use core::ptr;

/// Blocks per span, at most: the 8-byte class in a one-page span.
const MAX_OBJECTS: usize = {
    let mut m = 0;
    let mut c = 1;
    while c < CLASS_OBJECTS.len() {
        if CLASS_OBJECTS[c] as usize > m {
            m = CLASS_OBJECTS[c] as usize;
        }
        c += 1;
    }
    m
};
/// Words of the per-span allocation bitmap.
pub const BITMAP_WORDS: usize = MAX_OBJECTS.div_ceil(64);

/// Bytes added to every request for the trailer.
pub const TRAILER: usize = 16;
const MAGIC: u64 = 0x7c01_0a11_c0de_f00d;
const KEY: u64 = 0x5bd1_e995_9e37_79b9;
const GUARD_BYTE: u8 = 0xCA;
const GUARD_MAX: usize = 64;
const CLOBBER_BYTE: u8 = 0xDF;

pub const fn empty_bitmap() -> [AtomicU64; BITMAP_WORDS] {
    [const { AtomicU64::new(0) }; BITMAP_WORDS]
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeapError {
    /// The block was already free.
    DoubleFree,
    /// The address is not the start of a block of this heap.
    InvalidFree,
    /// Bytes past the end of the block were overwritten.
    Overrun,
}

impl HeapError {
    fn message(self) -> &'static str {
        match self {
            HeapError::DoubleFree => "double free detected",
            HeapError::InvalidFree => "invalid free: not the start of a live block of this heap",
            HeapError::Overrun => {
                "heap buffer overrun: bytes past the end of the block were overwritten"
            }
        }
    }
}

/// A handler for heap errors: called with the error and the address; the
/// offending free is skipped. It must not free the same address again.
pub type ErrorHandler = fn(HeapError, usize);

static HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Install (or with `None`, remove) the error handler.
pub fn set_error_handler(h: Option<ErrorHandler>) {
    // Release: pairs with the Acquire in `report`, so the handler's code and
    // data are visible to the thread that calls it.
    HANDLER.store(h.map_or(0, |f| f as usize), Ordering::Release);
}

#[cold]
fn report(e: HeapError, addr: usize) {
    // Acquire: pairs with `set_error_handler`.
    let h = HANDLER.load(Ordering::Acquire);
    if h == 0 {
        fatal::fatal(e.message(), addr);
    }
    // SAFETY: a non-zero value was stored from an `ErrorHandler` fn pointer.
    let f: ErrorHandler = unsafe { core::mem::transmute::<usize, ErrorHandler>(h) };
    f(e, addr);
}

fn bit_of(span: &Span, p: usize) -> (usize, u64) {
    let idx = crate::size_class::object_index(span.class as usize, p - span.start);
    (idx / 64, 1u64 << (idx % 64))
}

/// Allocate with a trailer and set the allocation bit.
pub fn alloc(size: usize, align: usize, zeroed: bool) -> *mut u8 {
    let Some(total) = size.checked_add(TRAILER) else {
        return ptr::null_mut();
    };
    let p = if zeroed {
        crate::malloc::alloc_zeroed_unchecked(total, align)
    } else {
        crate::malloc::alloc_unchecked(total, align)
    };
    if p.is_null() {
        return p;
    }
    // SAFETY: `p` is a fresh block; its span is valid and ours to mark.
    unsafe {
        let span = &*arena::span_of_unchecked(p as usize);
        if span.kind == SpanKind::Small {
            let (w, m) = bit_of(span, p as usize);
            // Relaxed: the bit is only compared by frees of this block, which
            // are ordered after this allocation by whatever passed the block on.
            span.alloc_bits[w].fetch_or(m, Ordering::Relaxed);
        }
        write_trailer(p, size, span.elem_size);
    }
    p
}

/// # Safety
/// `p` is a fresh block of `elem` bytes with `size + TRAILER <= elem`.
unsafe fn write_trailer(p: *mut u8, size: usize, elem: usize) {
    let gap = elem - TRAILER - size;
    // SAFETY: all writes stay inside the block (size + gap + 8 == elem).
    unsafe {
        ptr::write_bytes(p.add(size), GUARD_BYTE, gap.min(GUARD_MAX));
        let t = p.add(elem - TRAILER);
        (t as *mut u64).write_unaligned(size as u64 ^ KEY);
        (t.add(8) as *mut u64).write_unaligned(MAGIC);
    }
}

/// The requested size recorded in the trailer, or `None` if it is damaged.
///
/// # Safety
/// `p` is a live block of `elem` bytes.
unsafe fn read_trailer(p: *const u8, elem: usize) -> Option<usize> {
    // SAFETY: the trailer is the last TRAILER bytes of the block.
    let (s, m) = unsafe {
        let t = p.add(elem - TRAILER);
        (
            (t as *const u64).read_unaligned() ^ KEY,
            (t.add(8) as *const u64).read_unaligned(),
        )
    };
    let s = s as usize;
    if m != MAGIC || s > elem - TRAILER {
        return None;
    }
    // SAFETY: the guard bytes lie between the user bytes and the trailer.
    let guard =
        unsafe { core::slice::from_raw_parts(p.add(s), (elem - TRAILER - s).min(GUARD_MAX)) };
    guard.iter().all(|&b| b == GUARD_BYTE).then_some(s)
}

/// The size the block at `p` was allocated with (checking mode's
/// `usable_size`), or its span's object size if the trailer is damaged.
///
/// # Safety
/// `p` is a live block of this heap.
pub unsafe fn requested_size(p: *const u8) -> usize {
    // SAFETY: a live block's span record is valid.
    let elem = unsafe { (*arena::span_of_unchecked(p as usize)).elem_size };
    // SAFETY: `p` is live and `elem` bytes long.
    unsafe { read_trailer(p, elem) }.unwrap_or(elem - TRAILER)
}

/// Validate and free. `size`: the size the caller says it allocated (from a
/// `Layout`), if known.
///
/// # Safety
/// None beyond what can be checked: any address may be passed.
pub unsafe fn free(p: *mut u8, size: Option<usize>) {
    let addr = p as usize;
    let Some(span) = arena::span_of(addr) else {
        return report(HeapError::InvalidFree, addr);
    };
    // SAFETY: `span_of` returns in-use span records.
    let span = unsafe { span.as_ref() };
    if span.kind == SpanKind::Managed
        || addr >= span.end()
        || span.object_base(addr) != addr
        || addr >= span.start + span.capacity as usize * span.elem_size
    {
        return report(HeapError::InvalidFree, addr);
    }
    if span.kind == SpanKind::Small {
        let (w, m) = bit_of(span, addr);
        // Relaxed is enough for detection: two frees of one block race only in
        // a program that is already wrong; `fetch_and` lets exactly one win.
        if span.alloc_bits[w].fetch_and(!m, Ordering::Relaxed) & m == 0 {
            return report(HeapError::DoubleFree, addr);
        }
    }
    // SAFETY: the block is live (its bit was set, or it is a large span's
    // start), so reading its trailer is reading our own memory.
    match unsafe { read_trailer(p, span.elem_size) } {
        Some(s) if size.is_none_or(|z| z == s) => {}
        _ => {
            if span.kind == SpanKind::Small {
                let (w, m) = bit_of(span, addr);
                // Relaxed: restore the bit we cleared; the free is skipped.
                span.alloc_bits[w].fetch_or(m, Ordering::Relaxed);
            }
            return report(HeapError::Overrun, addr);
        }
    }
    // SAFETY: the block is ours to free; past its first word nothing is read
    // again until it is reallocated.
    unsafe {
        if span.elem_size > 8 {
            ptr::write_bytes(p.add(8), CLOBBER_BYTE, span.elem_size.min(4096) - 8);
        }
        crate::cache::free(p);
    }
}
