//! `Trace`: how the collector finds the `Gc` pointers inside a value.
//!
//! Every type stored in the collected heap implements [`Trace`]. Its
//! `trace` method reports each `Gc` pointer the value holds to a [`Tracer`];
//! the marker (`mark.rs`) calls it for every grey object. `NEEDS_TRACE` says
//! whether a type can hold a `Gc` at all: a type that cannot is allocated in
//! a *noscan* span that the marker never scans (and, under 16 bytes, packed by
//! the tiny allocator).
//!
//! The trait is `unsafe` because a `trace` that misses a pointer lets the
//! collector free a live object. Nobody writes it by hand in safe code:
//! `#[derive(Trace)]` (crate `tricolor-derive`) generates it from the fields,
//! and this module implements it for the standard types that are sound:
//!
//! - leaves (`u8`…`u128`, `bool`, `char`, `f32`, `f64`, `()`, `String`,
//!   `&'static str`, …): `NEEDS_TRACE = false`;
//! - containers that own their contents (`Option`, `Result`, `Box`, `Vec`,
//!   `VecDeque`, arrays, tuples, `BTreeMap`, `HashMap`, …): trace every element;
//! - `Cell<T>`, `RefCell<T>`, `Mutex<T>` only for `T: 'static + Send`: a
//!   `'static` type cannot hold a `Gc<'gc, _>`, so mutating through them
//!   cannot skip the write barrier (mutation of `Gc`s goes through `Lock` /
//!   `RefLock`, `cell.rs`), and `Send` because the sweeper may drop the
//!   value on another thread;
//! - `Arc<T>` for `T: 'static + Send + Sync` (not a traced container: an
//!   object reachable from a shared owner outside the heap is not a root the
//!   collector knows of); `Rc` not at all (dropping it on the sweeper's
//!   thread would race with the owner's clones);
//! - hash maps and sets for hashers `S: 'static + Send` (the hasher is not
//!   traced, so it must not be able to hold a `Gc`).

use crate::mark::Tracer;
use core::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::sync::Arc;

/// A type the collector can scan.
///
/// # Safety
/// - `trace` must report, through `tracer`, every `Gc` pointer reachable
///   from `self` without going through another `Gc` (fields, elements,
///   variants), and `NEEDS_TRACE` must be `true` if a value could hold one.
/// - Any mutation of a reported pointer after the value is in the heap must
///   go through the write barrier (`cell.rs`).
/// - Dropping a value on a thread other than the one that made it must be
///   sound (the sweeper runs destructors on whichever thread sweeps), and
///   the drop glue must not dereference a `Gc` (its object may already be
///   gone).
pub unsafe trait Trace {
    /// Whether a value of this type can hold a `Gc`.
    const NEEDS_TRACE: bool;

    /// Report every `Gc` this value holds.
    fn trace(&self, tracer: &mut Tracer);
}

macro_rules! leaf {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: the type holds no `Gc`.
        unsafe impl Trace for $t {
            const NEEDS_TRACE: bool = false;
            #[inline]
            fn trace(&self, _: &mut Tracer) {}
        }
    )*};
}

leaf!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    &'static str,
    std::time::Duration,
    std::time::Instant,
    core::num::NonZeroU32,
    core::num::NonZeroU64,
    core::num::NonZeroUsize,
    std::sync::atomic::AtomicBool,
    std::sync::atomic::AtomicU32,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicI64,
);

// SAFETY: a `PhantomData` holds nothing.
unsafe impl<T: ?Sized> Trace for core::marker::PhantomData<T> {
    const NEEDS_TRACE: bool = false;
    #[inline]
    fn trace(&self, _: &mut Tracer) {}
}

macro_rules! static_only {
    ($($t:ident),*) => {$(
        // SAFETY: `T: 'static` cannot hold a `Gc<'gc, _>` (whose `'gc` is a
        // scope-bound lifetime, never `'static`), so there is nothing to
        // report, and mutation through the cell cannot bypass the barrier;
        // `T: Send` makes dropping it on the sweeper's thread sound.
        unsafe impl<T: ?Sized + Send + 'static> Trace for $t<T> {
            const NEEDS_TRACE: bool = false;
            #[inline]
            fn trace(&self, _: &mut Tracer) {}
        }
    )*};
}
static_only!(Cell, RefCell);

// SAFETY: as for `static_only!`.
unsafe impl<T: ?Sized + Send + 'static> Trace for std::sync::Mutex<T> {
    const NEEDS_TRACE: bool = false;
    #[inline]
    fn trace(&self, _: &mut Tracer) {}
}

// SAFETY: as for `static_only!`; an `Arc` dropped on any thread is sound
// when its contents are `Send + Sync`.
unsafe impl<T: ?Sized + Send + Sync + 'static> Trace for Arc<T> {
    const NEEDS_TRACE: bool = false;
    #[inline]
    fn trace(&self, _: &mut Tracer) {}
}

// SAFETY: reports the contents, if any.
unsafe impl<T: Trace> Trace for Option<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        if let Some(v) = self {
            v.trace(tracer);
        }
    }
}

// SAFETY: reports whichever side is present.
unsafe impl<T: Trace, E: Trace> Trace for Result<T, E> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE || E::NEEDS_TRACE;
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        match self {
            Ok(v) => v.trace(tracer),
            Err(e) => e.trace(tracer),
        }
    }
}

// SAFETY: a box owns its contents; report them.
unsafe impl<T: Trace + ?Sized> Trace for Box<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        (**self).trace(tracer);
    }
}

// SAFETY: reports every element.
unsafe impl<T: Trace> Trace for [T] {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        if T::NEEDS_TRACE {
            for v in self {
                v.trace(tracer);
            }
        }
    }
}

// SAFETY: reports every element.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        self.as_slice().trace(tracer);
    }
}

macro_rules! sequence {
    ($($t:ident),*) => {$(
        // SAFETY: the container owns its elements; report every one.
        unsafe impl<T: Trace> Trace for $t<T> {
            const NEEDS_TRACE: bool = T::NEEDS_TRACE;
            #[inline]
            fn trace(&self, tracer: &mut Tracer) {
                if T::NEEDS_TRACE {
                    for v in self.iter() {
                        v.trace(tracer);
                    }
                }
            }
        }
    )*};
}
sequence!(Vec, VecDeque, LinkedList, BinaryHeap, BTreeSet);

// SAFETY: the set owns its elements; report every one. The hasher is not
// traced: `S: 'static` cannot hold a `Gc`.
unsafe impl<T: Trace, S: Send + 'static> Trace for HashSet<T, S> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    fn trace(&self, tracer: &mut Tracer) {
        if T::NEEDS_TRACE {
            for v in self.iter() {
                v.trace(tracer);
            }
        }
    }
}

// SAFETY: the map owns its keys and values; report every one.
unsafe impl<K: Trace, V: Trace> Trace for BTreeMap<K, V> {
    const NEEDS_TRACE: bool = K::NEEDS_TRACE || V::NEEDS_TRACE;
    fn trace(&self, tracer: &mut Tracer) {
        if Self::NEEDS_TRACE {
            for (k, v) in self.iter() {
                k.trace(tracer);
                v.trace(tracer);
            }
        }
    }
}

// SAFETY: the map owns its keys and values; report every one.
unsafe impl<K: Trace, V: Trace, S: Send + 'static> Trace for HashMap<K, V, S> {
    const NEEDS_TRACE: bool = K::NEEDS_TRACE || V::NEEDS_TRACE;
    fn trace(&self, tracer: &mut Tracer) {
        if Self::NEEDS_TRACE {
            for (k, v) in self.iter() {
                k.trace(tracer);
                v.trace(tracer);
            }
        }
    }
}

macro_rules! tuple {
    ($($name:ident)+) => {
        // SAFETY: reports every field.
        unsafe impl<$($name: Trace),+> Trace for ($($name,)+) {
            const NEEDS_TRACE: bool = false $(|| $name::NEEDS_TRACE)+;
            #[inline]
            #[allow(non_snake_case)]
            fn trace(&self, tracer: &mut Tracer) {
                let ($($name,)+) = self;
                $($name.trace(tracer);)+
            }
        }
    };
}
tuple!(A);
tuple!(A B);
tuple!(A B C);
tuple!(A B C D);
tuple!(A B C D E);
tuple!(A B C D E F);
tuple!(A B C D E F G);
tuple!(A B C D E F G H);
