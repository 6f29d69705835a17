//! `Span`: a run of pages holding objects of one size class, or one large
//! object.
//!
//! A small-object span is carved into `capacity` equal blocks of `elem_size`
//! bytes. Its blocks move between four places (mimalloc's free-list sharding):
//!
//! ```text
//!   never carved ──extend──▶ free ──alloc──▶ in use ──owner free──▶ local_free
//!                             ▲                 │                        │
//!                             │                 └──remote free──▶ thread_free
//!                             └────────────collect (owner)◀──────────────┘
//! ```
//!
//! Invariant (checked by [`Span::check`] in tests):
//!
//! ```text
//!   carved == used + |free| + |local_free|
//!   used   == live objects + |thread_free|      (remote frees are counted
//!                                               as used until collected)
//!   carved <= capacity
//! ```
//!
//! Ownership (who may touch the owner-only fields `free`, `local_free`,
//! `used`, `carved`, `next`, `prev`):
//!
//! | `owner` word               | state                         | who writes owner-only fields       |
//! |----------------------------|-------------------------------|------------------------------------|
//! | cache address              | current or partial in a cache | that cache's thread                |
//! | cache address \| `IN_FULL` | parked on a cache's full list | that cache's thread                |
//! | 0                          | in a central list, or large   | the holder of the central lock / page-heap lock |
//!
//! `IN_FULL` makes the free fast path's single comparison
//! `span.owner == my_cache` fail for parked spans, so a free into a parked
//! span takes the slow path that un-parks it; no extra flag test is needed.
//!
//! `owner` is atomic only because remote freers read it; it is written by the
//! owner (or under the lock that stands for the owner) and read Relaxed: a
//! thread can only ever see its own cache address there if it wrote it
//! itself, and its own writes are never reordered against its own reads.

use crate::arena;
use crate::remote::{Block, StackLink, ThreadFree};
use crate::size_class::{CLASS_OBJECTS, CLASS_PAGES, CLASS_SIZE};
use crate::sync::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use crate::PAGE_SHIFT;
use core::ptr;

/// Low bit of `owner`: the span is parked on its owner's full list.
pub const IN_FULL: usize = 1;

/// What a span holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SpanKind {
    /// Blocks of a small size class.
    Small = 1,
    /// One object larger than `MAX_SMALL_SIZE` (or over-aligned).
    Large = 2,
    /// A run of pages whose objects another layer manages (the collector;
    /// see `managed.rs`). The record belongs to that layer; malloc's `free`
    /// and `object_base` do not apply.
    Managed = 3,
}

/// Most bytes carved per `extend`: 4 KiB, mimalloc's `MI_MAX_EXTEND_SIZE`. A
/// fresh span is not threaded all at once, so a short-lived thread that
/// allocates three objects touches one OS page, not eight.
const EXTEND_BYTES: usize = 4096;

#[repr(C, align(64))]
pub struct Span {
    // ---- owner-only fields (see the ownership table) ----
    /// Blocks ready to allocate.
    pub free: *mut Block,
    /// Blocks the owner freed since it last collected.
    pub local_free: *mut Block,
    /// Blocks handed out and not yet back on `free`/`local_free`. Atomic only
    /// so that `stats()` can read it while the owner runs; the owner updates it
    /// with a relaxed load and store (no read-modify-write).
    pub used: AtomicU32,
    /// Blocks carved so far (a prefix of the span).
    pub carved: u32,
    /// Blocks the span can hold (1 for a large span).
    pub capacity: u32,
    /// Size class (0 for large spans).
    pub class: u8,
    pub kind: SpanKind,
    /// Object size in bytes (for a large span, the whole span).
    pub elem_size: usize,
    /// First byte of the span (page aligned).
    pub start: usize,
    /// Length in pages.
    pub npages: usize,
    /// Links in whatever list holds the span (a cache's partial or full list,
    /// or a central list).
    pub next: *mut Span,
    pub prev: *mut Span,

    // ---- shared fields ----
    /// The owning cache's address, `| IN_FULL` when parked, or 0.
    pub owner: AtomicUsize,
    /// Remote frees: see `remote.rs`.
    pub thread_free: ThreadFree,
    /// Link on a cache's reclaim stack.
    pub notify_next: AtomicPtr<Span>,
    /// Checking mode: one bit per block, set while the block is allocated.
    #[cfg(feature = "secure")]
    pub alloc_bits: [crate::sync::AtomicU64; crate::secure::BITMAP_WORDS],
}

impl StackLink for Span {
    fn stack_next(&self) -> &AtomicPtr<Self> {
        &self.notify_next
    }
}

impl Span {
    /// A record with nothing in it: no free block, capacity 0, owned by
    /// nobody. `cache.rs` uses one as the `EMPTY_SPAN` sentinel.
    pub const fn empty() -> Span {
        Span {
            free: ptr::null_mut(),
            local_free: ptr::null_mut(),
            used: AtomicU32::new(0),
            carved: 0,
            capacity: 0,
            class: 0,
            kind: SpanKind::Small,
            elem_size: 8,
            start: 0,
            npages: 0,
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            owner: AtomicUsize::new(0),
            thread_free: ThreadFree::new(),
            notify_next: AtomicPtr::new(ptr::null_mut()),
            #[cfg(feature = "secure")]
            alloc_bits: crate::secure::empty_bitmap(),
        }
    }

    /// Initialise the record at `this` for pages `[start, start + npages)`
    /// holding objects of `class`, unowned, nothing carved.
    ///
    /// # Safety
    /// `this` is valid for writes of a `Span` and not in use.
    pub unsafe fn init_small(this: *mut Span, start: usize, class: usize) {
        let span = Span {
            capacity: CLASS_OBJECTS[class] as u32,
            class: class as u8,
            kind: SpanKind::Small,
            elem_size: CLASS_SIZE[class] as usize,
            start,
            npages: CLASS_PAGES[class] as usize,
            ..Span::empty()
        };
        // SAFETY: the caller guarantees `this` is writable and unused.
        unsafe { this.write(span) };
    }

    /// Initialise the record at `this` as a large span of `npages` pages.
    ///
    /// # Safety
    /// As for [`Span::init_small`].
    pub unsafe fn init_large(this: *mut Span, start: usize, npages: usize) {
        let span = Span {
            used: AtomicU32::new(1),
            carved: 1,
            capacity: 1,
            class: 0,
            kind: SpanKind::Large,
            elem_size: npages << PAGE_SHIFT,
            start,
            npages,
            ..Span::empty()
        };
        // SAFETY: the caller guarantees `this` is writable and unused.
        unsafe { this.write(span) };
    }

    /// Initialise the record at `this` as a managed run of `npages` pages.
    ///
    /// # Safety
    /// As for [`Span::init_small`].
    pub unsafe fn init_managed(this: *mut Span, start: usize, npages: usize) {
        let span = Span {
            kind: SpanKind::Managed,
            elem_size: npages << PAGE_SHIFT,
            start,
            npages,
            ..Span::empty()
        };
        // SAFETY: the caller guarantees `this` is writable and unused.
        unsafe { this.write(span) };
    }

    /// Blocks in use (including remote frees not yet collected).
    #[inline]
    pub fn used(&self) -> u32 {
        // Relaxed: owner-only counter; other threads only read snapshots.
        self.used.load(Ordering::Relaxed)
    }

    /// Owner: set the in-use count.
    #[inline]
    pub fn set_used(&self, v: u32) {
        // Relaxed: see `used`.
        self.used.store(v, Ordering::Relaxed)
    }

    /// Owner: thread a few never-carved blocks onto `free`. Returns false if
    /// the span is fully carved. Requires `free` to be empty.
    ///
    /// # Safety
    /// The caller is the span's owner (see the ownership table).
    pub unsafe fn extend(&mut self) -> bool {
        debug_assert!(self.free.is_null());
        let left = self.capacity - self.carved;
        if left == 0 {
            return false;
        }
        let batch = ((EXTEND_BYTES / self.elem_size).max(1) as u32).min(left);
        let first = self.start + self.carved as usize * self.elem_size;
        // Thread blocks first → first + 1 → … so allocation walks memory
        // upward, which prefetchers like.
        let mut next: *mut Block = ptr::null_mut();
        for i in (0..batch as usize).rev() {
            let b = (first + i * self.elem_size) as *mut Block;
            // SAFETY: the block lies inside this span's pages (i < batch ≤
            // capacity - carved), which are committed and owned by nobody else
            // since they were never handed out.
            unsafe { (*b).next = next };
            next = b;
        }
        self.free = next;
        self.carved += batch;
        true
    }

    /// Owner: move `local_free` and the remote frees onto `free`. Returns true
    /// if `free` is non-empty afterwards.
    ///
    /// # Safety
    /// The caller is the span's owner.
    pub unsafe fn collect(&mut self) -> bool {
        if !self.local_free.is_null() {
            if self.free.is_null() {
                self.free = self.local_free;
            } else {
                // SAFETY: owner-only lists of blocks in this span.
                unsafe { append(self.free, self.local_free) };
            }
            self.local_free = ptr::null_mut();
        }
        let remote = self.thread_free.take_all();
        if !remote.is_null() {
            let mut n = 0u32;
            let mut tail = remote;
            // SAFETY: `take_all` gave us the whole list; its links were
            // published by the pushers' Release CAS and read with Acquire.
            unsafe {
                loop {
                    n += 1;
                    if (*tail).next.is_null() {
                        break;
                    }
                    tail = (*tail).next;
                }
                (*tail).next = self.free;
            }
            self.free = remote;
            self.set_used(self.used() - n);
        }
        !self.free.is_null()
    }

    /// Is there anything to allocate without carving?
    #[inline]
    pub fn has_free(&self) -> bool {
        !self.free.is_null()
    }

    /// Could the span hand out another block (after collecting/carving)?
    pub fn can_extend(&self) -> bool {
        self.carved < self.capacity
    }

    /// The start of the object containing `addr` (an interior pointer works),
    /// by the multiply-shift of `size_class::object_index`, not a division.
    #[inline]
    pub fn object_base(&self, addr: usize) -> usize {
        match self.kind {
            SpanKind::Small => {
                let off = addr - self.start;
                self.start
                    + crate::size_class::object_index(self.class as usize, off) * self.elem_size
            }
            SpanKind::Large | SpanKind::Managed => self.start,
        }
    }

    /// One past the last byte of the span.
    pub fn end(&self) -> usize {
        self.start + (self.npages << PAGE_SHIFT)
    }

    /// Check the invariant in the module docs by walking the owner lists.
    ///
    /// # Safety
    /// The caller is the owner, and no remote free runs concurrently (or the
    /// remote list is not counted: it is not walked).
    pub unsafe fn check(&self) {
        let count = |mut b: *mut Block| {
            let mut n = 0u32;
            while !b.is_null() {
                let a = b as usize;
                assert!(
                    a >= self.start && a < self.end(),
                    "free block outside its span"
                );
                assert_eq!(
                    (a - self.start) % self.elem_size,
                    0,
                    "misaligned free block"
                );
                n += 1;
                // SAFETY: a block of an owner list, per the caller's guarantee.
                b = unsafe { (*b).next };
            }
            n
        };
        let f = count(self.free);
        let l = count(self.local_free);
        assert!(self.carved <= self.capacity);
        assert_eq!(
            self.carved,
            self.used() + f + l,
            "carved == used + |free| + |local_free|"
        );
    }
}

/// Append list `tail` after the last block of list `head`.
///
/// # Safety
/// Both are valid, disjoint, null-terminated block lists owned by the caller.
unsafe fn append(head: *mut Block, tail: *mut Block) {
    let mut b = head;
    // SAFETY: walking a valid list owned by the caller.
    unsafe {
        while !(*b).next.is_null() {
            b = (*b).next;
        }
        (*b).next = tail;
    }
}

/// The span of `addr`, and the start of the object that contains it; `None`
/// if `addr` is not inside an in-use span of this heap. Never faults.
pub fn object_base(addr: usize) -> Option<usize> {
    let span = arena::span_of(addr)?;
    // SAFETY: `span_of` only returns spans of in-use pages; their records stay
    // valid while the pages are in use. (A racing free may retire the span;
    // callers that need a stable answer hold their own guarantee that the
    // object is live, as the collector does.)
    let s = unsafe { span.as_ref() };
    if s.kind == SpanKind::Managed {
        return None;
    }
    // Past the last object (a small span's tail waste) is no object.
    if addr >= s.start + s.capacity as usize * s.elem_size {
        return None;
    }
    Some(s.object_base(addr))
}
