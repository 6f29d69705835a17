//! The embedder interface: raw object references, allocation by descriptor,
//! explicit roots. For language runtimes that manage their own object
//! layouts (and for the C API), where the safe `Gc` API's lifetimes do not
//! reach.
//!
//! An embedder describes each object layout with a `'static`
//! [`TypeDesc`](crate::TypeDesc) — usually `Scan::PointerMap` (which words
//! are references) or `Scan::Refs` (every word is a reference or null) — and
//! works with [`ObjectRef`]s, plain addresses.
//!
//! The contract replaces the type system's:
//! - Between [`RawMutator::enter`] and [`RawMutator::leave`] the thread may
//!   hold unrooted references in locals; the collector does not run a cycle
//!   while any mutator is inside (this version stops the world).
//! - At `leave` (a **safepoint**) every reference the embedder will use
//!   again must be reachable from a root: a slot registered with
//!   [`RawMutator::add_root_slot`] / `Heap::add_root_slot`, an object
//!   reported by a root callback, or an object reachable from those.
//! - Stores of references into objects go through [`RawMutator::write_ref`]
//!   (the write barrier).

use crate::collector::{self, Reason};
use crate::desc::TypeDesc;
use crate::heap::AllocError;
use crate::mutator::{Heap, MutatorCore};
use crate::roots::RootVisitor;
use core::ptr::NonNull;
use tricolor_heap::size_class;

/// The address of an object in a collected heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct ObjectRef(pub NonNull<u8>);

impl ObjectRef {
    pub fn addr(self) -> usize {
        self.0.as_ptr() as usize
    }
}

/// A mutator for embedders. `!Send`.
pub struct RawMutator {
    core: Box<MutatorCore>,
    inside: bool,
    _not_send: core::marker::PhantomData<*mut ()>,
}

impl Heap {
    /// Register the current thread as a raw mutator.
    pub fn raw_mutator(&self) -> RawMutator {
        RawMutator {
            core: MutatorCore::register(self.inner.clone()),
            inside: false,
            _not_send: core::marker::PhantomData,
        }
    }

    /// Register a word the embedder owns as a root: at every mark, a non-zero
    /// value there is an object kept alive. Returns an id for
    /// [`Heap::remove_root_slot`].
    ///
    /// # Safety
    /// `slot` stays valid, aligned and readable from any thread until
    /// removed, and holds 0 or a live object of this heap whenever no mutator
    /// of this heap is inside a scope.
    pub unsafe fn add_root_slot(&self, slot: *const usize) -> u64 {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.roots.add_slot(slot) }
    }

    pub fn remove_root_slot(&self, id: u64) -> bool {
        self.inner.roots.remove_slot(id)
    }

    /// Call `cb` at the start of every mark to report roots. Returns an id
    /// for [`Heap::remove_root_callback`].
    pub fn add_root_callback(
        &self,
        cb: impl Fn(&mut RootVisitor<'_>) + Send + Sync + 'static,
    ) -> u64 {
        self.inner.roots.add_callback(Box::new(cb))
    }

    pub fn remove_root_callback(&self, id: u64) -> bool {
        self.inner.roots.remove_callback(id)
    }
}

impl RawMutator {
    /// Begin a mutation region.
    pub fn enter(&mut self) {
        assert!(!self.inside, "tricolor: RawMutator::enter twice");
        crate::mutator::open_scope(&self.core);
        self.inside = true;
    }

    /// End a mutation region: a safepoint (see the module contract). Runs a
    /// requested cycle.
    pub fn leave(&mut self) {
        assert!(self.inside, "tricolor: RawMutator::leave without enter");
        self.inside = false;
        crate::mutator::close_scope(&self.core);
    }

    /// `leave` then `enter`.
    pub fn safepoint(&mut self) {
        self.leave();
        self.enter();
    }

    /// Run a full cycle (outside a region).
    pub fn collect(&mut self) {
        assert!(
            !self.inside,
            "tricolor: RawMutator::collect inside a region"
        );
        crate::mutator::assert_outside(&self.core.heap);
        collector::collect(&self.core.heap, Reason::Explicit);
    }

    /// Allocate a zeroed object of `desc` with `size` bytes (at least
    /// `desc.size`). Must be inside a region.
    pub fn alloc(&mut self, desc: &'static TypeDesc, size: usize) -> Result<ObjectRef, AllocError> {
        assert!(self.inside, "tricolor: RawMutator::alloc outside a region");
        let size = size.max(desc.size);
        // SAFETY: inside a region: the cache is this mutator's own.
        let cache = unsafe { &mut *self.core.cache.get() };
        let addr = if desc.is_noscan() && desc.drop.is_none() {
            cache.alloc_noscan(&self.core.heap, size, desc.align)?
        } else if size > tricolor_heap::size_class::MAX_SMALL_SIZE {
            cache.alloc_large_typed(&self.core.heap, desc, size)?
        } else if size_class::class_for_layout(size, desc.align)
            == size_class::class_for_layout(desc.size.max(1), desc.align)
        {
            // Same slot size as the descriptor's: its typed spans serve.
            cache.alloc_typed(&self.core.heap, desc)?
        } else {
            // Typed spans have one slot size per descriptor: a variable-size
            // small object needs one descriptor per size class.
            return Err(AllocError::Unsupported);
        };
        // Zero what the marker will read: the whole slot of a scanned object
        // (the marker scans `Scan::Refs` objects to the end of their slot,
        // which may be larger than `size`), the requested bytes otherwise.
        let zero = if desc.is_noscan() {
            size
        } else {
            // SAFETY: `addr` is a fresh object of this heap, so the page map
            // names its span.
            unsafe {
                (*(tricolor_heap::arena::span_of_unchecked(addr) as *const crate::span::GcSpan))
                    .elem_size
            }
        };
        // SAFETY: a fresh slot of at least `zero` bytes.
        unsafe { core::ptr::write_bytes(addr as *mut u8, 0, zero) };
        // SAFETY: heap addresses are non-null.
        Ok(ObjectRef(unsafe {
            NonNull::new_unchecked(addr as *mut u8)
        }))
    }

    /// Store `value` into the reference word at byte `offset` of `obj`,
    /// running the write barrier.
    ///
    /// # Safety
    /// Inside a region; `obj` is live, `offset` is 8-aligned and names a
    /// reference word of its layout; `value` is live or `None`.
    pub unsafe fn write_ref(&mut self, obj: ObjectRef, offset: usize, value: Option<ObjectRef>) {
        let slot = (obj.addr() + offset) as *mut usize;
        let new = value.map_or(0, |v| v.addr());
        if self
            .core
            .heap
            .marking
            .load(core::sync::atomic::Ordering::Relaxed)
        {
            // SAFETY: the caller's contract: live objects of this heap.
            unsafe { raw_shade(&self.core, *slot, new) };
        }
        // SAFETY: the caller's contract.
        unsafe { *slot = new };
    }

    /// Read the reference word at byte `offset` of `obj`.
    ///
    /// # Safety
    /// As for [`RawMutator::write_ref`].
    pub unsafe fn read_ref(&self, obj: ObjectRef, offset: usize) -> Option<ObjectRef> {
        // SAFETY: the caller's contract.
        let v = unsafe { *((obj.addr() + offset) as *const usize) };
        NonNull::new(v as *mut u8).map(ObjectRef)
    }

    /// Register a root slot owned by this mutator (scanned with its roots).
    ///
    /// # Safety
    /// As for [`Heap::add_root_slot`], until [`RawMutator::remove_root_slot`]
    /// or the mutator's drop.
    pub unsafe fn add_root_slot(&mut self, slot: *const usize) {
        // SAFETY: roots are only read by the collector with this mutator
        // outside its region, and we are on its own thread.
        unsafe { (*self.core.raw_roots.get()).push(slot) };
    }

    pub fn remove_root_slot(&mut self, slot: *const usize) {
        // SAFETY: as in `add_root_slot`.
        unsafe { (*self.core.raw_roots.get()).retain(|&s| s != slot) };
    }

    pub fn heap(&self) -> Heap {
        Heap {
            inner: self.core.heap.clone(),
        }
    }
}

/// Barrier slow path for raw stores.
///
/// # Safety
/// Non-zero values are live objects of `core`'s heap.
unsafe fn raw_shade(core: &MutatorCore, old: usize, new: usize) {
    let mut work = crate::work::LocalWork::new(&core.heap.pool);
    let mut t = crate::mark::Tracer::new(&mut work, crate::span::Bits::Mark, 0);
    for v in [old, new] {
        if v != 0 {
            // SAFETY: the caller's guarantee.
            unsafe { t.mark_raw(v as *const u8) };
        }
    }
    work.flush();
}

impl Drop for RawMutator {
    fn drop(&mut self) {
        if self.inside {
            crate::mutator::close_scope_quietly(&self.core);
        }
        self.core.unregister();
    }
}
