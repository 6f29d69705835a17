//! Type descriptors: what the collector knows about an object's type.
//!
//! A [`TypeDesc`] is the collector's whole view of a type: its size and
//! alignment, how to find the pointers in it ([`Scan`]) and how to drop it.
//! Every Rust type allocated through `Gc::new` gets one as an associated
//! constant ([`DescOf::DESC`], promoted to a `'static`), so no registration
//! happens at run time; an embedder writes its own, typically with a
//! pointer map ([`Scan::PointerMap`]) or as an array of references
//! ([`Scan::Refs`]).
//!
//! Where the descriptor lives decides what an object costs: tricolor keeps
//! it **per span** ("typed spans", see `span.rs`), so small objects carry no
//! header at all. The trade: each type used by a mutator holds at least one
//! partly used span (64 KiB) of its own. A program with a handful of object
//! types (an interpreter, a compiler's IR) pays nothing measurable; one with
//! thousands of rarely-allocated types pays up to 64 KiB per type per
//! mutator in the worst case. Pointer-free types without drop glue share
//! untyped *noscan* spans by size class, and under 16 bytes the tiny
//! allocator packs them.
//!
//! Why not Go's per-word pointer bitmaps: a Rust object's pointers are not
//! all in the object (a `Vec<Gc<_>>` field keeps them in a malloc'd
//! buffer), and whether a word is a pointer can depend on an enum's
//! discriminant, so a trace function is unavoidable for general Rust types;
//! a per-span descriptor gives every object one without a header. Measured
//! on binary-trees (16-byte nodes, two `Option<Gc>` fields): a node takes 16
//! bytes plus 1 mark byte and 2 bitmap bits (with an 8-byte type header it
//! would take a 24-byte slot, +50%), and marking the depth-18 long-lived
//! tree (524,287 nodes) takes about 4 ms per cycle with 2 markers, about
//! 8 ns per object including the indirect `trace` call, which `GcSpan`
//! caches next to the page-map entry so scanning costs one load per object
//! beyond the lookup.

use crate::mark::Tracer;

/// How the marker finds the pointers inside an object.
#[derive(Clone, Copy, Debug)]
pub enum Scan {
    /// No pointers: the object is never scanned.
    None,
    /// A Rust type's `Trace::trace`, called with the object's address.
    Trace(unsafe fn(*const u8, &mut Tracer)),
    /// Word `i` of the object is an object reference (or null) iff bit `i`
    /// of the map is set (bit `i % 64` of word `i / 64`). Words beyond the
    /// map hold no references.
    PointerMap(&'static [u64]),
    /// Every word of the object is an object reference or null (an array of
    /// references of any length: the object's size comes from its span).
    Refs,
}

/// What the collector knows about a type.
#[derive(Debug)]
pub struct TypeDesc {
    /// Size of one object in bytes (for [`Scan::Refs`] objects, the
    /// smallest size; each allocation gives its own).
    pub size: usize,
    /// Alignment in bytes: a power of two, at most the 8 KiB page size.
    pub align: usize,
    /// Where the pointers are.
    pub scan: Scan,
    /// Drop glue, run by the sweeper on each dead object; `None` if the type
    /// needs none.
    pub drop: Option<unsafe fn(*mut u8)>,
}

impl TypeDesc {
    /// Does the marker ever need to look inside these objects?
    #[inline]
    pub const fn is_noscan(&self) -> bool {
        matches!(self.scan, Scan::None)
    }
}

/// The descriptor of every `Trace` type, as a promoted constant.
pub trait DescOf {
    const DESC: &'static TypeDesc;
}

/// # Safety
/// `p` points to a live, initialised `T`.
unsafe fn trace_erased<T: crate::Trace>(p: *const u8, tracer: &mut Tracer) {
    // SAFETY: the caller guarantees `p` is a live `T`.
    unsafe { (*(p as *const T)).trace(tracer) }
}

/// # Safety
/// `p` points to a live, initialised `T` that nobody uses again.
unsafe fn drop_erased<T>(p: *mut u8) {
    // SAFETY: the caller guarantees `p` is a dead `T` dropped exactly once.
    unsafe { core::ptr::drop_in_place(p as *mut T) }
}

impl<T: crate::Trace> DescOf for T {
    const DESC: &'static TypeDesc = &TypeDesc {
        size: core::mem::size_of::<T>(),
        align: core::mem::align_of::<T>(),
        scan: if T::NEEDS_TRACE {
            Scan::Trace(trace_erased::<T>)
        } else {
            Scan::None
        },
        drop: if core::mem::needs_drop::<T>() {
            Some(drop_erased::<T>)
        } else {
            None
        },
    };
}
