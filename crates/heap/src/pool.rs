//! `FixedPool<T>`: records of one type carved from OS memory.
//!
//! The allocator's own records (span records, thread caches) cannot come from
//! the Rust global allocator, because the allocator may *be* the global
//! allocator. A pool maps metadata memory from the OS in blocks of
//! [`POOL_BLOCK`] bytes, hands out `T`-sized slots by bumping a cursor, and
//! keeps returned slots on an intrusive free list (the first word of a free
//! slot links to the next). Memory is never returned to the OS: the number of
//! records is bounded by the peak heap, and record memory is a small fraction
//! of it (a span record per span of at least 8 KiB).
//!
//! The pool does no locking; its owner serialises access (`PageHeap` keeps
//! its span pool under the page-heap lock, `cache.rs` its cache pool under its
//! own lock).

use crate::os;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

/// Bytes mapped per pool block: 1 MiB, large enough that mapping is rare,
/// small enough that an idle process pays little (the mapping is lazy anyway).
pub const POOL_BLOCK: usize = 1 << 20;

pub struct FixedPool<T> {
    /// Next never-used slot in the current block (null before the first map).
    bump: *mut u8,
    /// End of the current block.
    end: *mut u8,
    /// Returned slots, linked through their first word.
    free: *mut FreeSlot,
    /// Slots handed out and not returned.
    live: usize,
    _marker: PhantomData<T>,
}

#[repr(C)]
struct FreeSlot {
    next: *mut FreeSlot,
}

// SAFETY: the pool is only reachable through its owner's lock, which
// serialises every access; the raw pointers are into memory no one else owns.
unsafe impl<T> Send for FixedPool<T> {}

impl<T> FixedPool<T> {
    const SLOT: usize = {
        let s = core::mem::size_of::<T>();
        let a = core::mem::align_of::<T>();
        let s = if s < 8 { 8 } else { s };
        s.div_ceil(a) * a
    };
    const _FITS: () = assert!(Self::SLOT <= POOL_BLOCK && core::mem::align_of::<T>() <= 4096);

    pub const fn new() -> Self {
        FixedPool {
            bump: ptr::null_mut(),
            end: ptr::null_mut(),
            free: ptr::null_mut(),
            live: 0,
            _marker: PhantomData,
        }
    }

    /// Take an uninitialised slot, or `None` if the OS refuses more memory.
    pub fn alloc(&mut self) -> Option<NonNull<T>> {
        #[allow(clippy::let_unit_value)]
        let _ = Self::_FITS;
        if !self.free.is_null() {
            let slot = self.free;
            // SAFETY: `slot` came from our free list, so it is a returned slot
            // whose first word links to the next free slot.
            self.free = unsafe { (*slot).next };
            self.live += 1;
            return NonNull::new(slot.cast());
        }
        if (self.end as usize) - (self.bump as usize) < Self::SLOT {
            let block = os::map_metadata(POOL_BLOCK)?;
            self.bump = block.as_ptr();
            // SAFETY: `block` is POOL_BLOCK bytes long.
            self.end = unsafe { block.as_ptr().add(POOL_BLOCK) };
        }
        let slot = self.bump;
        // SAFETY: at least SLOT bytes remain before `end` (checked above).
        self.bump = unsafe { self.bump.add(Self::SLOT) };
        self.live += 1;
        NonNull::new(slot.cast())
    }

    /// Return a slot. Its contents are dead; drop them first if needed.
    ///
    /// # Safety
    /// `slot` came from `alloc` on this pool and is not used again.
    pub unsafe fn free(&mut self, slot: NonNull<T>) {
        let s: *mut FreeSlot = slot.as_ptr().cast();
        // SAFETY: the slot is ours again and at least a word long and aligned.
        unsafe { (*s).next = self.free };
        self.free = s;
        self.live -= 1;
    }

    /// Slots handed out and not returned.
    pub fn live(&self) -> usize {
        self.live
    }
}

impl<T> Default for FixedPool<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_returned_slots_and_never_overlaps() {
        let mut pool: FixedPool<[u64; 5]> = FixedPool::new();
        let mut held = Vec::new();
        for i in 0..100_000u64 {
            let p = pool.alloc().unwrap();
            // SAFETY: a fresh slot of the right size and alignment.
            unsafe { p.as_ptr().write([i; 5]) };
            held.push(p);
        }
        assert_eq!(pool.live(), 100_000);
        for (i, p) in held.iter().enumerate() {
            // SAFETY: written above, still held.
            assert_eq!(unsafe { p.as_ptr().read() }, [i as u64; 5]);
        }
        let last = *held.last().unwrap();
        for p in held.drain(..) {
            // SAFETY: each slot came from this pool and is returned once.
            unsafe { pool.free(p) };
        }
        assert_eq!(pool.live(), 0);
        let again = pool.alloc().unwrap();
        assert_eq!(
            again, last,
            "the free list is LIFO: the last slot returned comes back first"
        );
    }
}
