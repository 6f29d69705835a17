//! Raw blocks: allocating through a `GlobalAlloc`, stamping, checking.
//!
//! Every workload talks to its allocator the way the C originals talk to
//! `malloc`/`free`: raw pointers, no RAII. This module holds the few helpers
//! they share so that each workload file only shows its access pattern.
//!
//! # Stamps
//!
//! A block of `size` bytes carrying tag `t` (random, drawn by the workload)
//! is *stamped* as follows:
//!
//! | bytes                  | content                                      |
//! | ---------------------- | -------------------------------------------- |
//! | `0 .. min(size, 8)`    | the low bytes of `t`, little-endian          |
//! | `size - 1` (size > 8)  | `check_byte(t, size)`                        |
//!
//! so the first and the last byte are always written. A *full* stamp also
//! fills the middle: word `i` (for `8 <= 8i < size`) holds `t + i` and the
//! bytes of a partial last word hold `FILL` before the check byte.
//!
//! Freeing reads the stamp back: the check byte must agree with the tag
//! found at the front (so a block whose ends came from different writes is
//! caught), and the tag is folded into the workload checksum with
//! [`digest`]. Checksums are sums (wrapping), so they do not depend on the
//! order in which threads free blocks, only on which blocks were allocated.

use core::alloc::{GlobalAlloc, Layout};

use crate::rng::mix;

/// Filler for the bytes of a partial last word in a full stamp.
const FILL: u8 = 0x5a;

/// The layout every workload uses for a `size`-byte block: 8-byte aligned
/// when the block can hold a word (what a Rust object holding a pointer or a
/// `u64` asks for), byte-aligned below that (a C `malloc(4)` asks for
/// nothing more). Size 0 is bumped to 1 since `GlobalAlloc` forbids it.
#[inline]
pub fn layout(size: usize) -> Layout {
    let align = if size >= 8 { 8 } else { 1 };
    match Layout::from_size_align(size.max(1), align) {
        Ok(l) => l,
        Err(_) => panic!("block size {size} overflows Layout"),
    }
}

/// A live block and its size, as kept in slot arrays and passed between
/// threads.
#[derive(Clone, Copy, Debug)]
pub struct Block {
    pub ptr: *mut u8,
    pub size: usize,
}

// SAFETY: a `Block` is the unique handle of one live allocation (workloads
// never copy a `Block` and keep using both copies); moving it to another
// thread moves ownership, which is exactly what the cross-thread workloads
// exercise. The allocators under test are `Sync`.
unsafe impl Send for Block {}

impl Block {
    pub const EMPTY: Block = Block {
        ptr: core::ptr::null_mut(),
        size: 0,
    };

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ptr.is_null()
    }
}

/// Allocates `size` bytes with [`layout`]`(size)`; aborts through
/// `handle_alloc_error` if the allocator returns null.
#[inline]
pub fn alloc<A: GlobalAlloc + ?Sized>(a: &A, size: usize) -> *mut u8 {
    let l = layout(size);
    // SAFETY: `layout` never has size zero.
    let p = unsafe { a.alloc(l) };
    if p.is_null() {
        std::alloc::handle_alloc_error(l);
    }
    p
}

/// Frees a block obtained from [`alloc`].
///
/// # Safety
/// `p` was returned by `alloc(a, size)` (or by [`realloc`] to `size`) on
/// this same allocator, and is not used afterwards.
#[inline]
pub unsafe fn free<A: GlobalAlloc + ?Sized>(a: &A, p: *mut u8, size: usize) {
    // SAFETY: the caller guarantees `p` is live, from `a`, with this layout.
    unsafe { a.dealloc(p, layout(size)) }
}

/// Resizes a block obtained from [`alloc`] from `old` to `new` bytes.
///
/// # Safety
/// As for [`free`] with size `old`; `old` and `new` are both >= 8 or both
/// < 8, so the alignment does not change (realloc keeps the alignment).
#[inline]
pub unsafe fn realloc<A: GlobalAlloc + ?Sized>(
    a: &A,
    p: *mut u8,
    old: usize,
    new: usize,
) -> *mut u8 {
    debug_assert_eq!(layout(old).align(), layout(new).align());
    // SAFETY: the caller guarantees `p` is live, from `a`, with layout(old);
    // `new` is non-zero and the same alignment.
    let q = unsafe { a.realloc(p, layout(old), new.max(1)) };
    if q.is_null() {
        std::alloc::handle_alloc_error(layout(new));
    }
    q
}

/// The byte stored last in a stamped block of more than 8 bytes.
#[inline]
fn check_byte(tag: u64, size: usize) -> u8 {
    ((tag >> 56) as u8) ^ (size as u8) ^ 0xa5
}

/// What a block contributes to a checksum.
#[inline]
pub fn digest(tag: u64, size: usize) -> u64 {
    mix(tag ^ (size as u64).rotate_left(40))
}

/// Writes the ends of the stamp (see the module docs).
///
/// # Safety
/// `p` is valid for writes of `size >= 1` bytes.
#[inline]
pub unsafe fn stamp(p: *mut u8, size: usize, tag: u64) {
    let head = size.min(8);
    // SAFETY: `head <= size` bytes are writable from `p`; the tag is a local.
    unsafe { core::ptr::copy_nonoverlapping(tag.to_le_bytes().as_ptr(), p, head) };
    if size > 8 {
        // SAFETY: `size - 1` is inside the block.
        unsafe { p.add(size - 1).write(check_byte(tag, size)) };
    }
}

/// Writes the full stamp: every byte of the block.
///
/// # Safety
/// `p` is valid for writes of `size >= 1` bytes and, if `size >= 8`, is
/// 8-aligned (as [`layout`] guarantees).
#[inline]
pub unsafe fn stamp_full(p: *mut u8, size: usize, tag: u64) {
    let words = size / 8;
    let w = p.cast::<u64>();
    for i in 1..words {
        // SAFETY: word `i < size / 8` is inside the block and aligned.
        unsafe { w.add(i).write(tag.wrapping_add(i as u64)) };
    }
    for j in words * 8..size {
        // SAFETY: `j < size`.
        unsafe { p.add(j).write(FILL) };
    }
    // SAFETY: forwarded from the caller.
    unsafe { stamp(p, size, tag) };
}

/// Reads a stamp's ends back, panics if they disagree, and returns the
/// block's [`digest`].
///
/// # Safety
/// `p` is valid for reads of `size` bytes and was stamped (ends or full)
/// with `size`.
#[inline]
pub unsafe fn verify(p: *const u8, size: usize) -> u64 {
    let head = size.min(8);
    let mut bytes = [0u8; 8];
    // SAFETY: `head <= size` bytes are readable from `p`.
    unsafe { core::ptr::copy_nonoverlapping(p, bytes.as_mut_ptr(), head) };
    let tag = u64::from_le_bytes(bytes);
    if size > 8 {
        // SAFETY: `size - 1` is inside the block.
        let last = unsafe { p.add(size - 1).read() };
        if last != check_byte(tag, size) {
            corrupt(p, size, size - 1);
        }
    }
    digest(tag, size)
}

/// As [`verify`], and also checks every word of a full stamp.
///
/// # Safety
/// As for [`verify`], and the block was stamped with [`stamp_full`].
#[inline]
pub unsafe fn verify_full(p: *const u8, size: usize) -> u64 {
    // SAFETY: forwarded from the caller.
    let d = unsafe { verify(p, size) };
    // Words before the one holding the check byte are intact.
    let intact = size.saturating_sub(1) / 8;
    if intact > 1 {
        let w = p.cast::<u64>();
        // SAFETY: `size > 8`, so the block is 8-aligned and word 0 exists.
        let tag = unsafe { w.read() };
        for i in 1..intact {
            // SAFETY: word `i < (size - 1) / 8` is inside the block, aligned.
            if unsafe { w.add(i).read() } != tag.wrapping_add(i as u64) {
                corrupt(p, size, i * 8);
            }
        }
    }
    d
}

#[cold]
#[inline(never)]
fn corrupt(p: *const u8, size: usize, at: usize) -> ! {
    panic!("memory corruption: block {p:p} of {size} bytes differs at offset {at}");
}

/// Allocates, stamps the ends, returns the block.
#[inline]
pub fn new_stamped<A: GlobalAlloc + ?Sized>(a: &A, size: usize, tag: u64) -> Block {
    let ptr = alloc(a, size);
    // SAFETY: `ptr` is a fresh allocation of `size` bytes.
    unsafe { stamp(ptr, size, tag) };
    Block { ptr, size }
}

/// Allocates and fully stamps a block.
#[inline]
pub fn new_stamped_full<A: GlobalAlloc + ?Sized>(a: &A, size: usize, tag: u64) -> Block {
    let ptr = alloc(a, size);
    // SAFETY: `ptr` is a fresh allocation of `size` bytes, aligned by `layout`.
    unsafe { stamp_full(ptr, size, tag) };
    Block { ptr, size }
}

/// Verifies the ends of `b`, frees it, returns its digest.
///
/// # Safety
/// `b` is a live block from `a`, stamped, and not used afterwards.
#[inline]
pub unsafe fn free_verified<A: GlobalAlloc + ?Sized>(a: &A, b: Block) -> u64 {
    // SAFETY: forwarded from the caller.
    unsafe {
        let d = verify(b.ptr, b.size);
        free(a, b.ptr, b.size);
        d
    }
}

/// Verifies every word of `b`, frees it, returns its digest.
///
/// # Safety
/// `b` is a live block from `a`, fully stamped, and not used afterwards.
#[inline]
pub unsafe fn free_verified_full<A: GlobalAlloc + ?Sized>(a: &A, b: Block) -> u64 {
    // SAFETY: forwarded from the caller.
    unsafe {
        let d = verify_full(b.ptr, b.size);
        free(a, b.ptr, b.size);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    #[test]
    fn stamps_round_trip_for_every_small_size() {
        for size in 1..80 {
            let b = new_stamped_full(&System, size, 0x0123_4567_89ab_cdef);
            // SAFETY: `b` is live, fully stamped, freed once.
            let d = unsafe { free_verified_full(&System, b) };
            let mask = if size >= 8 {
                u64::MAX
            } else {
                (1u64 << (8 * size)) - 1
            };
            assert_eq!(d, digest(0x0123_4567_89ab_cdef & mask, size));
        }
    }

    #[test]
    #[should_panic(expected = "memory corruption")]
    fn a_torn_block_is_caught() {
        let b = new_stamped(&System, 64, 42);
        // SAFETY: byte 63 is inside the live block. The block is leaked by
        // the panic, which is fine in a test.
        unsafe {
            b.ptr.add(63).write(0);
            verify(b.ptr, b.size);
        }
    }
}
