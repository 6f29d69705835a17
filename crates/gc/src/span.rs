//! `GcSpan`: a run of pages holding collected objects, and its bitmaps.
//!
//! A collected span is a managed run of the allocator's page heap
//! (`tricolor_heap::managed`). Its record starts with the allocator's
//! `Span`, so the page map, given any address in the run, answers with this
//! record in one load (`arena::span_of_unchecked`), as Go's `spanOf` does.
//!
//! A small span is carved into `nelems` slots of `elem_size` bytes (one of
//! the allocator's 68 size classes, with the same span length); a large span
//! holds one object. Three maps follow the record:
//!
//! - **alloc** — one bit per slot: the slot held an object at the last sweep
//!   (Go's `allocBits`);
//! - **mark** — one *byte* per slot: the slot was reached in the current
//!   cycle (Go's `gcmarkBits`, but bytes);
//! - **check** — one bit per slot, for the `checkmark=1` verification re-mark.
//!
//! Why mark *bytes*: setting a bit shared with 63 neighbours needs an atomic
//! read-modify-write (`lock or` on x86), which costs ~20 cycles and, worse,
//! drains the store buffer, so a marker cannot overlap its cache misses. A
//! byte is set with a plain store; two markers racing on one object may both
//! see it white and both scan it, which is harmless (scanning is
//! idempotent). Measured on binary-trees (2 markers, 4 M live objects): the
//! mark phase ran 1.9× faster with bytes than with atomic bits. The cost is
//! 1 byte per slot (6% of a 16-byte object) instead of 1 bit; sweeping packs
//! the bytes back into the alloc bitmap, 8 at a time with one multiply.
//!
//! Allocation walks the free slots (alloc bit clear) upward from
//! `free_index` through a 64-bit window of the inverted alloc bitmap,
//! `alloc_cache`, taking the lowest set bit (Go's `nextFreeFast`). Slots
//! below `free_index` are allocated whatever their alloc bit says, so
//!
//! ```text
//!   allocated(i) = alloc[i] || i < free_index
//!   live after a mark(i)     = mark[i]             (allocate-black sets it for new objects)
//! ```
//!
//! Sweeping (`sweep.rs`) drops every allocated, unmarked object, then packs
//! the mark bytes into the alloc bitmap, clears the mark bytes, and resets
//! `free_index` to 0.
//!
//! Ownership of the non-atomic fields (`free_index`, `alloc_cache`,
//! `alloc_count`, the alloc bitmap, list links):
//!
//! | where the span is            | who touches them                               |
//! |------------------------------|------------------------------------------------|
//! | a mutator's allocation cache | that mutator (or the collector, world stopped) |
//! | a heap list                  | whoever holds the heap's list lock             |
//! | popped for sweeping          | the sweeper that popped it                     |
//!
//! The mark bytes and the check bitmap are atomic: marker threads set them
//! concurrently with each other (plain loads and stores for the bytes).
//!
//! Sweep generations (Go's table, `sg` = the heap's `sweepgen`, +2 per cycle):
//!
//! ```text
//!   span.sweepgen == sg - 2   unswept: its mark bits are the last cycle's
//!   span.sweepgen == sg - 1   being swept right now
//!   span.sweepgen == sg       swept; usable
//! ```

use crate::desc::TypeDesc;
use crate::meta;
use core::mem::size_of;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use tricolor_heap::size_class::{self, CLASS_OBJECTS, CLASS_PAGES, CLASS_SIZE};
use tricolor_heap::span::Span;
use tricolor_heap::{managed, PAGE_SHIFT, PAGE_SIZE};

/// Which bitmap.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Bits {
    Alloc = 0,
    Mark = 1,
    Check = 2,
}

/// A span's list key for untyped noscan spans is its size class; typed spans
/// use `TYPED_KEY_BASE + slot`; large spans `LARGE_KEY`.
pub const LARGE_KEY: u32 = u32::MAX;

#[repr(C)]
pub struct GcSpan {
    /// The allocator's record (must stay first: the page map points here).
    pub header: Span,
    /// First byte of slot 0 (the run's start).
    pub start: usize,
    /// Slot size (a large span: the object's size).
    pub elem_size: usize,
    /// Slots (1 for a large span).
    pub nelems: u32,
    /// Size class, 0 for a large span.
    pub class: u8,
    /// Never scanned: no descriptor, or one with `Scan::None`.
    pub noscan: bool,
    /// Objects have drop glue.
    pub needs_drop: bool,
    /// The heap-list key (`heap.rs`).
    pub key: u32,
    /// The objects' type; null for untyped noscan spans.
    pub desc: *const TypeDesc,
    /// The heap this span belongs to (identity only).
    pub heap_id: usize,

    // ---- owner-only (see the table) ----
    pub free_index: u32,
    /// Objects allocated as of the last sweep plus those handed out since.
    pub alloc_count: u32,
    /// Inverted alloc bits from `free_index` on: bit `k` set = slot
    /// `free_index + k` is free (valid up to the next multiple of 64).
    pub alloc_cache: u64,
    pub next: *mut GcSpan,
    pub prev: *mut GcSpan,

    // ---- shared ----
    /// See the sweep-generation table.
    pub sweepgen: AtomicU32,
    /// Words per bitmap.
    pub words: u32,
    /// Alloc and check bitmaps (`words` words each), then the mark bytes
    /// (`words * 64` bytes).
    alloc_bits: *const AtomicU64,
    check_bits: *const AtomicU64,
    marks: *const AtomicU8,
    /// `u32::MAX / elem_size + 1` for small spans (the allocator's div
    /// magic: slot index = `(offset * div_magic) >> 32`), 0 for a large span
    /// (index 0 for every offset). Copied here so the marker needs no class
    /// table.
    pub div_magic: u32,
    /// What the marker does with a newly marked object: `SCAN_NONE`,
    /// `SCAN_OBJECT` or `SCAN_OBLETS`.
    pub scan_kind: u8,
    /// The descriptor's `Scan::Trace` function, copied here so that
    /// scanning a Rust object costs one load after the page-map lookup.
    pub trace: Option<unsafe fn(*const u8, &mut crate::mark::Tracer)>,
}

/// `GcSpan::scan_kind`: never scanned.
pub const SCAN_NONE: u8 = 0;
/// Scanned whole.
pub const SCAN_OBJECT: u8 = 1;
/// A large object scanned in 128 KiB pieces (`mark.rs`).
pub const SCAN_OBLETS: u8 = 2;

// SAFETY: spans move between threads under the ownership table; the raw
// pointers they hold are to heap-owned metadata.
unsafe impl Send for GcSpan {}
unsafe impl Sync for GcSpan {}

impl GcSpan {
    /// A new span of size class `class` (or a large span for one object of
    /// `large_size` bytes when `class == 0`), with every slot free. `None` if
    /// memory ran out.
    pub fn create(
        class: usize,
        large_size: usize,
        desc: *const TypeDesc,
        key: u32,
        heap_id: usize,
        sweepgen: u32,
    ) -> Option<NonNull<GcSpan>> {
        let (npages, nelems, elem_size) = if class == 0 {
            (large_size.div_ceil(PAGE_SIZE), 1u32, large_size)
        } else {
            (
                CLASS_PAGES[class] as usize,
                CLASS_OBJECTS[class] as u32,
                CLASS_SIZE[class] as usize,
            )
        };
        let words = nelems.div_ceil(64);
        let bytes = size_of::<GcSpan>() + 2 * words as usize * 8 + words as usize * 64;
        let rec = meta::alloc_zeroed(bytes, 64)?.cast::<GcSpan>();
        // SAFETY: `rec` is fresh, zeroed and big enough for a `GcSpan`, whose
        // first field is a `Span`.
        let Some((start, _zeroed)) = (unsafe { managed::alloc_run(rec.cast(), npages, 1) }) else {
            // SAFETY: allocated just above, never published.
            unsafe { meta::free(rec.cast()) };
            return None;
        };
        let (noscan, needs_drop) = if desc.is_null() {
            (true, false)
        } else {
            // SAFETY: descriptors are `'static`.
            let d = unsafe { &*desc };
            (d.is_noscan(), d.drop.is_some())
        };
        // SAFETY: `rec` is ours; `alloc_run` initialised the header. Bitmaps
        // follow the record in the same (zeroed) block.
        unsafe {
            let s = rec.as_ptr();
            ptr::addr_of_mut!((*s).start).write(start);
            ptr::addr_of_mut!((*s).elem_size).write(elem_size);
            ptr::addr_of_mut!((*s).nelems).write(nelems);
            ptr::addr_of_mut!((*s).class).write(class as u8);
            ptr::addr_of_mut!((*s).noscan).write(noscan);
            ptr::addr_of_mut!((*s).needs_drop).write(needs_drop);
            ptr::addr_of_mut!((*s).key).write(key);
            ptr::addr_of_mut!((*s).desc).write(desc);
            ptr::addr_of_mut!((*s).heap_id).write(heap_id);
            ptr::addr_of_mut!((*s).sweepgen).write(AtomicU32::new(sweepgen));
            ptr::addr_of_mut!((*s).words).write(words);
            let b = (s as *mut u8).add(size_of::<GcSpan>()) as *const AtomicU64;
            let w = words as usize;
            ptr::addr_of_mut!((*s).alloc_bits).write(b);
            ptr::addr_of_mut!((*s).check_bits).write(b.add(w));
            ptr::addr_of_mut!((*s).marks).write(b.add(2 * w) as *const AtomicU8);
            let magic = if class == 0 {
                0
            } else {
                size_class::CLASS_DIV_MAGIC[class]
            };
            ptr::addr_of_mut!((*s).div_magic).write(magic);
            let oblets = class == 0
                && elem_size > crate::mark::OBLET_BYTES
                && !desc.is_null()
                && !matches!((*desc).scan, crate::desc::Scan::Trace(_));
            let kind = if noscan {
                SCAN_NONE
            } else if oblets {
                SCAN_OBLETS
            } else {
                SCAN_OBJECT
            };
            ptr::addr_of_mut!((*s).scan_kind).write(kind);
            let trace = match desc.as_ref().map(|d| d.scan) {
                Some(crate::desc::Scan::Trace(f)) => Some(f),
                _ => None,
            };
            ptr::addr_of_mut!((*s).trace).write(trace);
            // Every slot is free: load the first word's cache.
            (*s).refill_cache();
        }
        Some(rec)
    }

    /// Return the span's pages and its record.
    ///
    /// # Safety
    /// Nobody references the span or any object in it any more.
    pub unsafe fn destroy(this: NonNull<GcSpan>) {
        // SAFETY: the caller's guarantee; the record was passed to
        // `alloc_run` by `create`.
        unsafe {
            managed::free_run(this.cast());
            meta::free(this.cast());
        }
    }

    /// The bitmap `which` (alloc or check; the marks are bytes: see
    /// [`GcSpan::mark_bytes`]).
    #[inline(always)]
    pub fn bits(&self, which: Bits) -> &[AtomicU64] {
        debug_assert!(which != Bits::Mark);
        let p = if which == Bits::Check {
            self.check_bits
        } else {
            self.alloc_bits
        };
        // SAFETY: both bitmaps have `words` words after the record.
        unsafe { core::slice::from_raw_parts(p, self.words as usize) }
    }

    /// The mark bytes (`words * 64`, one per slot and padding).
    #[inline(always)]
    pub fn mark_bytes(&self) -> &[AtomicU8] {
        // SAFETY: `words * 64` mark bytes follow the bitmaps.
        unsafe { core::slice::from_raw_parts(self.marks, self.words as usize * 64) }
    }

    /// Slot index of the object containing `addr` (exact by the allocator's
    /// compile-time check of the div magic; 0 in a large span).
    #[inline(always)]
    pub fn index_of(&self, addr: usize) -> usize {
        (((addr - self.start) as u64 * self.div_magic as u64) >> 32) as usize
    }

    /// Set slot `i` in `which`; true if this call set it. The marker's hot
    /// path. For marks, two racing callers may both get true (see the module
    /// docs: harmless).
    ///
    /// # Safety
    /// `i < nelems`.
    #[inline(always)]
    pub unsafe fn set_unchecked(&self, which: Bits, i: usize) -> bool {
        if which == Bits::Mark {
            // SAFETY: `i < nelems <= words * 64`.
            let b = unsafe { &*self.marks.add(i) };
            // Relaxed load and store, no read-modify-write: see the module
            // docs. The mark publishes nothing; the object's contents were
            // published to the markers before marking began (`mark.rs`).
            if b.load(Ordering::Relaxed) != 0 {
                return false;
            }
            b.store(1, Ordering::Relaxed);
            return true;
        }
        // SAFETY: `i < nelems <= words * 64`.
        let word = unsafe { &*self.bits(which).as_ptr().add(i >> 6) };
        let mask = 1u64 << (i & 63);
        // Relaxed: as for the marks; the plain load first skips the
        // read-modify-write for objects already set.
        if word.load(Ordering::Relaxed) & mask != 0 {
            return false;
        }
        word.fetch_or(mask, Ordering::Relaxed) & mask == 0
    }

    /// Is slot `i` set in `which`? No bounds check.
    ///
    /// # Safety
    /// `i < nelems`.
    #[inline(always)]
    pub unsafe fn test_unchecked(&self, which: Bits, i: usize) -> bool {
        if which == Bits::Mark {
            // SAFETY: `i < nelems`. Relaxed: see `test`.
            return unsafe { (*self.marks.add(i)).load(Ordering::Relaxed) } != 0;
        }
        // SAFETY: `i < nelems <= words * 64`.
        let word = unsafe { &*self.bits(which).as_ptr().add(i >> 6) };
        // Relaxed: see `test`.
        word.load(Ordering::Relaxed) & (1u64 << (i & 63)) != 0
    }

    /// The mark bytes of slots `64 * w .. 64 * w + 64`, packed into bits.
    ///
    /// Only while no marker runs (sweeping, verification): the bytes are read
    /// eight at a time with plain loads.
    pub fn mark_word(&self, w: usize) -> u64 {
        debug_assert!(w < self.words as usize);
        let p = self.marks as *const u64;
        let mut out = 0u64;
        for k in 0..8 {
            // SAFETY: `words * 64` mark bytes, 8-aligned (they follow 8-byte
            // bitmap words); no marker writes them while the world runs
            // (marking ended before it restarted, a happens-before edge).
            let x = unsafe { p.add(w * 8 + k).read() };
            out |= pack8(x) << (8 * k);
        }
        out
    }

    /// Marked slots, counted eight mark bytes at a time (only while no
    /// marker runs, as for [`GcSpan::mark_word`]).
    pub fn count_marks(&self) -> u32 {
        let p = self.marks as *const u64;
        let mut n = 0u32;
        for k in 0..self.words as usize * 8 {
            // SAFETY: as in `mark_word`.
            let x = unsafe { p.add(k).read() };
            // Bytes are 0 or 1: the multiply sums them into the top byte.
            n += (x.wrapping_mul(0x0101_0101_0101_0101) >> 56) as u32;
        }
        n
    }

    /// Sweeping: the alloc bitmap becomes the packed mark bytes, and the
    /// mark bytes are cleared.
    pub fn publish_marks(&mut self) {
        for w in 0..self.words as usize {
            let m = self.mark_word(w);
            // Relaxed: the caller owns the span.
            self.bits(Bits::Alloc)[w].store(m, Ordering::Relaxed);
        }
        self.clear(Bits::Mark);
    }

    /// Address of slot `i`.
    #[inline(always)]
    pub fn slot(&self, i: usize) -> usize {
        self.start + i * self.elem_size
    }

    /// Is slot `i` set in `which`?
    #[inline]
    pub fn test(&self, which: Bits, i: usize) -> bool {
        assert!(i < self.nelems as usize);
        // SAFETY: checked above. Relaxed: a snapshot read; callers order it
        // by the world stop or by the marking that set it (see `mark.rs`).
        unsafe { self.test_unchecked(which, i) }
    }

    /// Set slot `i` in `which`; true if this call set it (it was clear).
    #[inline(always)]
    pub fn set(&self, which: Bits, i: usize) -> bool {
        assert!(i < self.nelems as usize);
        // SAFETY: checked above.
        unsafe { self.set_unchecked(which, i) }
    }

    /// Clear `which`.
    pub fn clear(&self, which: Bits) {
        // Relaxed (all stores): cleared with the world stopped or by the
        // span's sole owner (the sweeper); ordered by that hand-off.
        if which == Bits::Mark {
            // SAFETY: the mark bytes, not being marked (see the comment above).
            unsafe { ptr::write_bytes(self.marks as *mut u8, 0, self.words as usize * 64) };
        } else {
            for w in self.bits(which) {
                w.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Number of slots set in `which`.
    pub fn count(&self, which: Bits) -> u32 {
        if which == Bits::Mark {
            // Relaxed: as for `test`.
            return self
                .mark_bytes()
                .iter()
                .filter(|b| b.load(Ordering::Relaxed) != 0)
                .count() as u32;
        }
        self.bits(which)
            .iter()
            // Relaxed: as for `test`.
            .map(|w| w.load(Ordering::Relaxed).count_ones())
            .sum()
    }

    /// Owner: the next free slot's address, from the 64-bit cache only
    /// (Go's `nextFreeFast`). `None` means: ask [`GcSpan::next_free`].
    ///
    /// The cache never holds a bit for a slot past the current bitmap word
    /// or past `nelems` (`refill_cache` masks them), so a set bit is always a
    /// free slot, and taking the word's last free slot leaves the cache
    /// empty: the next call takes the slow path, which moves on to the next
    /// word.
    #[inline(always)]
    pub fn next_free_fast(&mut self) -> Option<usize> {
        let cache = self.alloc_cache;
        if cache == 0 {
            return None;
        }
        let bit = cache.trailing_zeros();
        let idx = self.free_index + bit;
        self.alloc_cache = (cache >> bit) >> 1;
        self.free_index = idx + 1;
        self.alloc_count += 1;
        Some(self.start + idx as usize * self.elem_size)
    }

    /// Owner: the next free slot's address, refilling the cache from the
    /// alloc bitmap; `None` if the span is full.
    pub fn next_free(&mut self) -> Option<usize> {
        if let Some(a) = self.next_free_fast() {
            return Some(a);
        }
        // Every slot below `free_index` is taken; at and above it the alloc
        // bitmap is exact. Find its first clear bit from `free_index`.
        let mut idx = self.free_index;
        while idx < self.nelems {
            // Relaxed: the owner's own bitmap (see the ownership table).
            let word = self.bits(Bits::Alloc)[idx as usize >> 6].load(Ordering::Relaxed);
            let free = !word >> (idx & 63);
            if free != 0 {
                let i = idx + free.trailing_zeros();
                if i >= self.nelems {
                    break;
                }
                self.free_index = i + 1;
                self.alloc_count += 1;
                self.refill_cache();
                return Some(self.slot(i as usize));
            }
            idx = (idx | 63) + 1;
        }
        self.free_index = self.nelems;
        self.alloc_cache = 0;
        None
    }

    /// Load `alloc_cache` for the word holding `free_index`: bit `k` set iff
    /// slot `free_index + k` is free, for slots in the same word and below
    /// `nelems` only.
    pub fn refill_cache(&mut self) {
        if self.free_index >= self.nelems {
            self.alloc_cache = 0;
            return;
        }
        let w = self.free_index as usize >> 6;
        // Relaxed: the owner's own bitmap.
        let word = self.bits(Bits::Alloc)[w].load(Ordering::Relaxed);
        let mut free = !word;
        let end = self.nelems as usize - w * 64;
        if end < 64 {
            free &= (1u64 << end) - 1;
        }
        self.alloc_cache = free >> (self.free_index & 63);
    }

    /// Owner: is every slot taken?
    pub fn is_full(&self) -> bool {
        self.alloc_count >= self.nelems
    }

    /// Bytes of the run.
    pub fn bytes(&self) -> usize {
        self.header.npages << PAGE_SHIFT
    }

    /// Is slot `i` allocated (see the module docs)?
    pub fn is_allocated(&self, i: usize) -> bool {
        i < self.free_index as usize || self.test(Bits::Alloc, i)
    }
}

/// Gather the low bit of each of the 8 bytes of `x` (each 0 or 1) into one
/// byte: byte `j` becomes bit `j`. The multiply moves byte `j`'s bit to bit
/// `56 + j`; no two partial products meet in the top byte, so no carry
/// corrupts it.
#[inline(always)]
pub fn pack8(x: u64) -> u64 {
    ((x & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

#[cfg(test)]
mod tests {
    use super::pack8;

    #[test]
    fn pack8_gathers_every_pattern() {
        for bits in 0u64..256 {
            let mut x = 0u64;
            for j in 0..8 {
                x |= ((bits >> j) & 1) << (8 * j);
            }
            assert_eq!(pack8(x), bits, "pattern {bits:08b}");
        }
    }
}

#[cfg(test)]
mod model_tests {
    //! `GcSpan`'s allocation walk and mark publication against a model: a
    //! set of taken slots.
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use tricolor_heap::size_class::NUM_SIZE_CLASSES;

    fn span(class: usize) -> NonNull<GcSpan> {
        GcSpan::create(class, 0, ptr::null(), class as u32, 0, 2).expect("memory for a test span")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// After a sweep left `taken` allocated, allocation hands out exactly
        /// the other slots, in address order, then reports the span full.
        #[test]
        fn allocation_walks_exactly_the_free_slots(
            class in 1..NUM_SIZE_CLASSES,
            seed in any::<u64>(),
            density in 0u32..=100,
        ) {
            let p = span(class);
            // SAFETY: the test's own span.
            let s = unsafe { &mut *p.as_ptr() };
            let n = s.nelems as usize;
            let mut rng = seed | 1;
            let mut taken = BTreeSet::new();
            for i in 0..n {
                rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                if (rng % 100) < density as u64 {
                    taken.insert(i);
                    prop_assert!(s.set(Bits::Mark, i));
                }
            }
            s.publish_marks();
            s.free_index = 0;
            s.alloc_count = s.count(Bits::Alloc);
            s.refill_cache();
            prop_assert_eq!(s.alloc_count as usize, taken.len());
            prop_assert_eq!(s.count(Bits::Mark), 0, "publishing clears the marks");
            let expect: Vec<usize> = (0..n).filter(|i| !taken.contains(i)).map(|i| s.slot(i)).collect();
            let mut got = Vec::new();
            while let Some(a) = s.next_free() {
                got.push(a);
                prop_assert!(got.len() <= n, "more slots than the span holds");
            }
            prop_assert_eq!(got, expect);
            prop_assert!(s.is_full());
            prop_assert_eq!(s.next_free(), None);
            for i in 0..n {
                prop_assert!(s.is_allocated(i));
                prop_assert_eq!(s.index_of(s.slot(i) + s.elem_size / 2), i, "interior index");
            }
            // SAFETY: nothing references the test span.
            unsafe { GcSpan::destroy(p) };
        }
    }

    #[test]
    fn a_large_span_holds_one_object() {
        let p = GcSpan::create(0, 200_000, ptr::null(), LARGE_KEY, 0, 2).expect("memory");
        // SAFETY: the test's own span.
        let s = unsafe { &mut *p.as_ptr() };
        assert_eq!(s.nelems, 1);
        assert!(s.bytes() >= 200_000);
        let a = s.next_free().expect("its one slot");
        assert_eq!(a, s.start);
        assert_eq!(s.next_free(), None);
        assert_eq!(s.index_of(a + 150_000), 0);
        // SAFETY: nothing references it.
        unsafe { GcSpan::destroy(p) };
    }
}
