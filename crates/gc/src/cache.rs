//! A mutator's allocation cache: the collected heap's fast path.
//!
//! Each mutator owns one (Go's `mcache`). It holds, without locks:
//! - `classes[c]` — the current untyped noscan span of size class `c`;
//! - `typed[h]` — a direct-mapped table of (descriptor, key, span) for typed
//!   spans, indexed by a hash of the descriptor's address: one compare finds
//!   the span for a type; a collision evicts the previous type's span back to
//!   the heap lists (cheap; the table is 64 entries);
//! - the **tiny block** — a 16-byte slot that pointer-free, drop-free objects
//!   under 16 bytes are packed into (Go's tiny allocator); the block is
//!   reclaimed when every piece in it is dead, because any `Gc` into the
//!   block marks the whole slot.
//!
//! Fast path (`alloc_typed` / `alloc_noscan`): look up the span, take the
//! next free slot from its 64-bit cache (`GcSpan::next_free_fast`), set the
//! mark bit if the collector is marking (allocate-black), return. No lock, no
//! atomic read-modify-write.
//!
//! Slow path (`refill`): give the exhausted span back to the heap lists
//! (full), then take a span of the same key: a swept partial one, else an
//! unswept one that we sweep ourselves (lazy sweeping), else a new span;
//! before making a new span, sweep a few spans of any key so allocation
//! cannot outrun sweeping (proportional sweeping, `sweep.rs`).
//!
//! The collector flushes every cache at the start of a cycle, with the
//! world stopped (`flush`): spans go back to the lists and the tiny block is
//! dropped, so no mutator allocates into a span being marked or swept.

use crate::desc::TypeDesc;
use crate::heap::{AllocError, HeapInner};
use crate::span::{Bits, GcSpan, LARGE_KEY};
use core::ptr;
use core::sync::atomic::Ordering;
use tricolor_heap::size_class::{self, NUM_SIZE_CLASSES};

const TYPED_SLOTS: usize = 64;
/// Tiny objects are packed into blocks of this size (Go's `maxTinySize`).
pub const TINY_BLOCK: usize = 16;
/// Size class of a tiny block (16 bytes).
const TINY_CLASS: usize = 2;
const _: () = assert!(TINY_BLOCK == 16);

#[derive(Clone, Copy)]
struct TypedSlot {
    desc: *const TypeDesc,
    key: u32,
    span: *mut GcSpan,
    /// `alloc_count` when the cache took the span (for allocation stats).
    taken: u32,
}

const EMPTY_SLOT: TypedSlot = TypedSlot {
    desc: ptr::null(),
    key: 0,
    span: ptr::null_mut(),
    taken: 0,
};

pub struct AllocCache {
    classes: [*mut GcSpan; NUM_SIZE_CLASSES],
    class_taken: [u32; NUM_SIZE_CLASSES],
    typed: [TypedSlot; TYPED_SLOTS],
    tiny: usize,
    tiny_off: usize,
    /// Allocate black (copied from the heap at each handshake).
    pub alloc_black: bool,
    /// Bytes allocated through this cache and not yet added to the heap's
    /// statistics.
    pub allocated: usize,
    pub allocated_objects: usize,
}

impl AllocCache {
    pub fn new() -> Self {
        AllocCache {
            classes: [ptr::null_mut(); NUM_SIZE_CLASSES],
            class_taken: [0; NUM_SIZE_CLASSES],
            typed: [EMPTY_SLOT; TYPED_SLOTS],
            tiny: 0,
            tiny_off: 0,
            alloc_black: false,
            allocated: 0,
            allocated_objects: 0,
        }
    }

    #[inline(always)]
    fn slot_of(desc: *const TypeDesc) -> usize {
        // Descriptors are distinct constants (48 bytes each), so bits 4..10
        // of their addresses differ between neighbours; a collision only
        // costs an eviction.
        (desc as usize >> 4) & (TYPED_SLOTS - 1)
    }

    #[inline(always)]
    fn blacken(&self, span: *mut GcSpan, addr: usize) {
        if self.alloc_black {
            // SAFETY: `span` is the live span `addr` was just taken from.
            let s = unsafe { &*span };
            s.set(Bits::Mark, s.index_of(addr));
        }
    }

    /// Allocate an object of type `desc` (which has pointers or drop glue,
    /// or is too big for the noscan classes); returns its address.
    #[inline(always)]
    pub fn alloc_typed(
        &mut self,
        heap: &HeapInner,
        desc: &'static TypeDesc,
    ) -> Result<usize, AllocError> {
        let h = Self::slot_of(desc);
        let slot = self.typed[h];
        if ptr::eq(slot.desc, desc) {
            // SAFETY: a cached span is owned by this cache.
            if let Some(a) = unsafe { (*slot.span).next_free_fast() } {
                self.blacken(slot.span, a);
                return Ok(a);
            }
        }
        self.alloc_typed_slow(heap, desc)
    }

    #[cold]
    #[inline(never)]
    fn alloc_typed_slow(
        &mut self,
        heap: &HeapInner,
        desc: &'static TypeDesc,
    ) -> Result<usize, AllocError> {
        let Some(class) = size_class::class_for_layout(desc.size.max(1), desc.align) else {
            return self.alloc_large(heap, desc, desc.size, desc.align);
        };
        let h = Self::slot_of(desc);
        let mut slot = self.typed[h];
        if !ptr::eq(slot.desc, desc) {
            // Evict the previous type (if any) and look up our key.
            if !slot.span.is_null() {
                self.release(heap, slot.span, slot.taken);
            }
            let key = heap
                .lists
                .with(|l| l.key_for(desc))
                .ok_or(AllocError::OutOfMemory)?;
            slot = TypedSlot {
                desc,
                key,
                span: ptr::null_mut(),
                taken: 0,
            };
            self.typed[h] = slot;
        } else if !slot.span.is_null() {
            // SAFETY: owned by this cache.
            if let Some(a) = unsafe { (*slot.span).next_free() } {
                self.blacken(slot.span, a);
                return Ok(a);
            }
            self.release(heap, slot.span, slot.taken);
            self.typed[h].span = ptr::null_mut();
        }
        let span = self.acquire(heap, slot.key, class, desc)?;
        // SAFETY: just acquired: owned by this cache.
        let (a, taken) = unsafe {
            let taken = (*span).alloc_count;
            ((*span).next_free(), taken)
        };
        self.typed[h].span = span;
        self.typed[h].taken = taken;
        let a = a.ok_or(AllocError::OutOfMemory)?;
        self.blacken(span, a);
        Ok(a)
    }

    /// Allocate a pointer-free, drop-free object of `size` bytes and
    /// alignment `align` (untyped noscan spans, or the tiny block).
    #[inline(always)]
    pub fn alloc_noscan(
        &mut self,
        heap: &HeapInner,
        size: usize,
        align: usize,
    ) -> Result<usize, AllocError> {
        if size < TINY_BLOCK && align <= 8 {
            // A zero-sized value still takes a byte, so its address is inside
            // the block (never one past it, in the next slot or the next span).
            let size = size.max(1);
            let off = (self.tiny_off + align - 1) & !(align - 1);
            if self.tiny != 0 && off + size <= TINY_BLOCK {
                self.tiny_off = off + size;
                return Ok(self.tiny + off);
            }
            return self.alloc_tiny_slow(heap, size);
        }
        let Some(class) = size_class::class_for_layout(size.max(1), align) else {
            return self.alloc_large(heap, ptr::null(), size, align);
        };
        self.alloc_class(heap, class)
    }

    #[cold]
    fn alloc_tiny_slow(&mut self, heap: &HeapInner, size: usize) -> Result<usize, AllocError> {
        let block = self.alloc_class(heap, TINY_CLASS)?;
        self.tiny = block;
        self.tiny_off = size;
        Ok(block)
    }

    #[inline(always)]
    fn alloc_class(&mut self, heap: &HeapInner, class: usize) -> Result<usize, AllocError> {
        let span = self.classes[class];
        if !span.is_null() {
            // SAFETY: a cached span is owned by this cache.
            if let Some(a) = unsafe { (*span).next_free_fast() } {
                self.blacken(span, a);
                return Ok(a);
            }
        }
        self.alloc_class_slow(heap, class)
    }

    #[cold]
    #[inline(never)]
    fn alloc_class_slow(&mut self, heap: &HeapInner, class: usize) -> Result<usize, AllocError> {
        let span = self.classes[class];
        if !span.is_null() {
            // SAFETY: owned by this cache.
            if let Some(a) = unsafe { (*span).next_free() } {
                self.blacken(span, a);
                return Ok(a);
            }
            self.release(heap, span, self.class_taken[class]);
            self.classes[class] = ptr::null_mut();
        }
        let span = self.acquire(heap, class as u32, class, ptr::null())?;
        // SAFETY: just acquired: owned by this cache.
        let (a, taken) = unsafe {
            let taken = (*span).alloc_count;
            ((*span).next_free(), taken)
        };
        self.classes[class] = span;
        self.class_taken[class] = taken;
        let a = a.ok_or(AllocError::OutOfMemory)?;
        self.blacken(span, a);
        Ok(a)
    }

    /// A large object of `desc` with `size` bytes (embedders' variable-size
    /// objects).
    pub fn alloc_large_typed(
        &mut self,
        heap: &HeapInner,
        desc: &'static TypeDesc,
        size: usize,
    ) -> Result<usize, AllocError> {
        self.alloc_large(heap, desc, size, desc.align)
    }

    /// A large object: its own span, straight onto the heap's large list.
    /// Spans start page-aligned, so alignments up to the page size hold.
    #[cold]
    fn alloc_large(
        &mut self,
        heap: &HeapInner,
        desc: *const TypeDesc,
        size: usize,
        align: usize,
    ) -> Result<usize, AllocError> {
        if align > tricolor_heap::PAGE_SIZE {
            return Err(AllocError::Unsupported);
        }
        let size = size.max(8).next_multiple_of(8);
        crate::sweep::sweep_some(heap, size.div_ceil(tricolor_heap::PAGE_SIZE) * 2);
        let span = heap.new_span(0, size, desc, LARGE_KEY)?;
        // SAFETY: the fresh span is ours until listed.
        let Some(a) = (unsafe { (*span).next_free() }) else {
            return Err(AllocError::OutOfMemory);
        };
        self.blacken(span, a);
        heap.note_allocation(size);
        self.allocated += size;
        self.allocated_objects += 1;
        // SAFETY: the lock is held inside `with`; the span is on no list.
        heap.lists.with(|l| unsafe { l.large.full.push(span) });
        Ok(a)
    }

    /// A span of `key` with a free slot, now owned by this cache.
    fn acquire(
        &mut self,
        heap: &HeapInner,
        key: u32,
        class: usize,
        desc: *const TypeDesc,
    ) -> Result<*mut GcSpan, AllocError> {
        loop {
            // 1. A swept partial span, or an unswept one to sweep ourselves.
            let (span, unswept) = heap.lists.with(|l| {
                // SAFETY: the lists lock is held inside `with`.
                if let Some(s) = unsafe { l.set(key).partial.pop() } {
                    return (s, false);
                }
                // SAFETY: the lists lock is held inside `with`.
                match unsafe { l.set(key).unswept.pop() } {
                    Some(s) => {
                        l.unswept -= 1;
                        // Relaxed: `sweeping` is a count the collector waits
                        // on; the span itself is handed over by the lock.
                        heap.sweeping.fetch_add(1, Ordering::Relaxed);
                        (s, true)
                    }
                    None => (ptr::null_mut(), false),
                }
            });
            if span.is_null() {
                break;
            }
            if unswept {
                // SAFETY: popped from the unswept list: ours alone.
                let live = unsafe { crate::sweep::sweep_span(heap, span) };
                heap.sweeping.fetch_sub(1, Ordering::Release);
                // SAFETY: swept, ours.
                if live >= unsafe { (*span).nelems } {
                    // SAFETY: the lock is held inside `with`.
                    heap.lists.with(|l| unsafe { l.set(key).full.push(span) });
                    continue;
                }
            }
            return Ok(Self::take(heap, span));
        }
        // 2. Sweep some other spans before growing the heap.
        let pages = tricolor_heap::size_class::CLASS_PAGES[class] as usize;
        if crate::sweep::sweep_some(heap, pages * 2) > 0 {
            // Something was swept; a span of our key may now be partial.
            // SAFETY: the lists lock is held inside `with`.
            let s = heap.lists.with(|l| unsafe { l.set(key).partial.pop() });
            if let Some(s) = s {
                return Ok(Self::take(heap, s));
            }
        }
        // 3. A new span.
        let span = heap.new_span(class, 0, desc, key)?;
        Ok(Self::take(heap, span))
    }

    /// Count the free slots of `span`, which this cache now owns, as
    /// allocation (the pacer's estimate: they will all be handed out).
    fn take(heap: &HeapInner, span: *mut GcSpan) -> *mut GcSpan {
        // SAFETY: the caller just took `span` off a list (or made it): it is
        // live and owned by this cache.
        let s = unsafe { &*span };
        heap.note_allocation((s.nelems - s.alloc_count) as usize * s.elem_size);
        span
    }

    /// Give `span` back to the heap lists.
    fn release(&mut self, heap: &HeapInner, span: *mut GcSpan, taken: u32) {
        // SAFETY: owned by this cache until listed below.
        unsafe {
            let s = &*span;
            let n = (s.alloc_count - taken) as usize;
            self.allocated += n * s.elem_size;
            self.allocated_objects += n;
        }
        // SAFETY: the lock is held inside `with`; the span is on no list.
        heap.lists.with(|l| unsafe { l.put_swept(span) });
    }

    /// Give every span back and drop the tiny block (world stopped, or the
    /// mutator is going away).
    pub fn flush(&mut self, heap: &HeapInner) {
        for c in 0..NUM_SIZE_CLASSES {
            let s = self.classes[c];
            if !s.is_null() {
                self.release(heap, s, self.class_taken[c]);
                self.classes[c] = ptr::null_mut();
            }
        }
        for h in 0..TYPED_SLOTS {
            let slot = self.typed[h];
            if !slot.span.is_null() {
                self.release(heap, slot.span, slot.taken);
            }
            self.typed[h] = EMPTY_SLOT;
        }
        self.tiny = 0;
        self.tiny_off = 0;
    }
}

impl Default for AllocCache {
    fn default() -> Self {
        Self::new()
    }
}
