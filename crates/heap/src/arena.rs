//! The heap's address space and the page map: address → span in O(1).
//!
//! At start-up the heap reserves one contiguous, 64 MiB-aligned range of
//! address space (1 TiB if the OS grants it, halving down to 4 GiB if not)
//! and commits it an *arena* (64 MiB) at a time, in address order, as the page
//! heap grows. Because the range is contiguous, finding the span of any
//! address is one subtraction, one shift and one load from the *page map*, a
//! table with one span pointer per 8 KiB page of the whole reservation. The
//! page map itself is lazily backed metadata: only the part covering committed
//! arenas is ever touched (64 KiB of map per 64 MiB arena, 0.1%).
//!
//! This replaces DESIGN.md's two-level arena index. The Go runtime uses the
//! two-level index because its arenas may land anywhere in the 48-bit space;
//! a single reservation makes the lookup one load shorter on every `free`
//! and every conservative-scan probe, at the price of a heap ceiling fixed at
//! start-up (the reservation) — see the crate docs for that trade.
//!
//! Glossary:
//! - *reservation*: `[base, base + reserved)`, never unmapped.
//! - *arena*: 64 MiB slice of the reservation, committed as a unit.
//! - *committed end*: arenas `[0, n)` are committed; addresses past
//!   `base + n * ARENA_SIZE` are "not ours".
//! - *page map*: `map[(addr - base) >> PAGE_SHIFT]` = the span that owns the
//!   page, or null. Every page of an in-use span maps to it, so interior
//!   pointers resolve; free pages map to null.
//!
//! Concurrency: `BASE`, `RESERVED` and `MAP` are written once, by `init`,
//! before any address of the heap exists, so every thread that holds a heap
//! address has (through whatever gave it that address) a happens-before edge
//! from `init`; relaxed loads suffice. Page-map entries are written under the
//! page-heap lock when spans are created and destroyed, and read without it
//! (relaxed) by `free` and by scanners, which only look up addresses of live
//! objects, whose span entries were written before the object was handed out.

use crate::os;
use crate::span::Span;
use crate::sync::{AtomicPtr, AtomicUsize, Ordering};
use crate::PAGE_SHIFT;
use core::ptr::{self, NonNull};

/// log2 of the arena size: 64 MiB, Go's `heapArenaBytes` on 64-bit Linux.
pub const ARENA_SHIFT: usize = 26;
/// Arena size in bytes.
pub const ARENA_SIZE: usize = 1 << ARENA_SHIFT;
/// The reservation we ask for first: 1 TiB (2^40), a fortieth of the
/// 47-bit user address space; `PROT_NONE` + `MAP_NORESERVE` costs no memory.
pub const MAX_RESERVATION: usize = 1 << 40;
/// The smallest reservation we accept before giving up: 4 GiB.
pub const MIN_RESERVATION: usize = 1 << 32;

const _: () = assert!(ARENA_SIZE.is_multiple_of(crate::CHUNK_SIZE));
const _: () =
    assert!(MAX_RESERVATION.is_multiple_of(ARENA_SIZE) && MIN_RESERVATION <= MAX_RESERVATION);

static BASE: AtomicUsize = AtomicUsize::new(0);
static RESERVED: AtomicUsize = AtomicUsize::new(0);
/// Bytes from `BASE` that are committed (a multiple of `ARENA_SIZE`).
static COMMITTED: AtomicUsize = AtomicUsize::new(0);
static MAP: AtomicPtr<AtomicPtr<Span>> = AtomicPtr::new(ptr::null_mut());

/// Reserve the heap's address space and map the page map. Called by
/// `global::init_slow` while it alone runs start-up; a no-op once it
/// succeeded. Returns false if no reservation of at least `MIN_RESERVATION`
/// (with its page map) could be had, or if the OS page is larger than ours.
pub fn init() -> bool {
    if base() != 0 {
        return true;
    }
    // Releasing a free 8 KiB page (`MADV_DONTNEED`) must not touch its
    // neighbours: refuse kernels whose pages are larger than ours (64 KiB-page
    // aarch64 and ppc64le configurations).
    if os::os_page_size() > crate::PAGE_SIZE {
        return false;
    }
    let mut size = MAX_RESERVATION;
    while size >= MIN_RESERVATION {
        if let Some(base) = os::reserve(size, ARENA_SIZE) {
            let entries = size >> PAGE_SHIFT;
            let Some(map) = os::map_metadata(entries * core::mem::size_of::<AtomicPtr<Span>>())
            else {
                // SAFETY: `base..base+size` is the mapping we just made and
                // nothing refers to it yet.
                unsafe { libc::munmap(base.as_ptr().cast(), size) };
                // Under strict overcommit the page map itself may be refused:
                // a smaller reservation needs a smaller map.
                size /= 2;
                continue;
            };
            // Relaxed: see the module docs; init happens-before any heap address.
            MAP.store(map.as_ptr().cast(), Ordering::Relaxed);
            RESERVED.store(size, Ordering::Relaxed);
            BASE.store(base.as_ptr() as usize, Ordering::Relaxed);
            return true;
        }
        size /= 2;
    }
    false
}

/// The start of the reservation (0 before `init`).
#[inline]
pub fn base() -> usize {
    BASE.load(Ordering::Relaxed)
}

/// Bytes reserved.
pub fn reserved() -> usize {
    RESERVED.load(Ordering::Relaxed)
}

/// Bytes committed so far (whole arenas).
pub fn committed() -> usize {
    COMMITTED.load(Ordering::Relaxed)
}

/// Number of 4 MiB page-allocator chunks the reservation holds.
pub fn max_chunks() -> usize {
    reserved() / crate::CHUNK_SIZE
}

/// Commit `n` more arenas at the end of the committed prefix. Returns the
/// index of the first new chunk, or `None` if the reservation is exhausted or
/// the OS refuses.
///
/// Called only under the page-heap lock.
pub fn grow_arenas(n: usize) -> Option<usize> {
    let done = committed();
    let bytes = n.checked_mul(ARENA_SIZE)?;
    if done.checked_add(bytes)? > reserved() {
        return None;
    }
    let start = NonNull::new((base() + done) as *mut u8)?;
    // SAFETY: `[start, start + bytes)` lies inside the reservation (checked
    // above) and is arena-aligned, hence page-aligned.
    if !unsafe { os::commit(start, bytes) } {
        return None;
    }
    // Release: pairs with the Acquire in `contains`: a scanner that sees the
    // larger bound also sees the arena committed. (Page-map entries carry
    // their own Release/Acquire: see `set_span` and `span_of`.)
    COMMITTED.store(done + bytes, Ordering::Release);
    Some(done / crate::CHUNK_SIZE)
}

/// Is `addr` inside the committed part of the heap?
#[inline]
pub fn contains(addr: usize) -> bool {
    // Acquire: pairs with the Release in `grow_arenas`.
    addr.wrapping_sub(base()) < COMMITTED.load(Ordering::Acquire)
}

/// Address of the first byte of page `page` (an index from `base`).
#[inline]
pub fn page_addr(page: usize) -> usize {
    base() + (page << PAGE_SHIFT)
}

/// Page index of `addr`.
///
/// `addr` must be inside the reservation.
#[inline]
pub fn page_index(addr: usize) -> usize {
    (addr - base()) >> PAGE_SHIFT
}

/// The span that owns `addr`, without checking that `addr` is ours.
///
/// # Safety
/// `addr` lies inside the committed heap (for example, it was returned by the
/// allocator and not yet freed).
#[inline(always)]
pub unsafe fn span_of_unchecked(addr: usize) -> *mut Span {
    let map = MAP.load(Ordering::Relaxed);
    // SAFETY: `addr` is inside the reservation, so its page index is inside
    // the page map, which covers the whole reservation.
    unsafe { (*map.add((addr - base()) >> PAGE_SHIFT)).load(Ordering::Relaxed) }
}

/// The span that owns `addr`, or `None` if `addr` is not in an in-use span of
/// this heap. Never faults, whatever `addr` is.
#[inline]
pub fn span_of(addr: usize) -> Option<NonNull<Span>> {
    if !contains(addr) {
        return None;
    }
    let map = MAP.load(Ordering::Relaxed);
    // Acquire: pairs with the Release in `set_span`, so a scanner that finds
    // a span pointer with no other happens-before edge to its creator still
    // reads an initialised record.
    // SAFETY: `contains` checked that `addr` is in the committed heap, so its
    // page index is inside the page map.
    NonNull::new(unsafe { (*map.add((addr - base()) >> PAGE_SHIFT)).load(Ordering::Acquire) })
}

/// Point the page-map entries of pages `[first, first + n)` at `span` (or
/// null when the pages become free).
///
/// # Safety
/// The pages lie inside the committed heap and the caller holds the page-heap
/// lock.
pub unsafe fn set_span(first: usize, n: usize, span: *mut Span) {
    let map = MAP.load(Ordering::Relaxed);
    for i in first..first + n {
        // Release: pairs with the Acquire in `span_of` (scanners may probe any
        // address). `span_of_unchecked` reads Relaxed: its callers hold a live
        // object of the span, whose hand-off carries the ordering.
        // SAFETY: the page index is inside the page map (the caller's
        // guarantee that the pages are in the committed heap).
        unsafe { (*map.add(i)).store(span, Ordering::Release) };
    }
}
