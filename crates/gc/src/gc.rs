//! `Gc<'gc, T>`: a pointer into the collected heap, branded with its scope.
//!
//! The model is gc-arena's. Every mutation scope is a closure generic over a
//! lifetime `'gc` (`Mutator::mutate`); the scope's context is a
//! `&'gc Mutation<'gc>`, and every `Gc` made or read in the scope is a
//! `Gc<'gc, T>`. `'gc` is *invariant* (`Invariant<'gc>` below), so a `Gc`
//! of one scope can never be passed off as one of another (two heaps, two
//! mutators, or the same mutator's next scope), and because the closure's
//! result type cannot name `'gc`, no `Gc` leaves its scope. Outside every
//! scope the only roots are the mutators' root objects and [`Root`]
//! handles, which is what lets the collector scan roots without stack maps.
//!
//! A `Gc` is `Copy`, has no destructor, and dereferences to `&T`. Mutation
//! of the object goes through cells (`cell.rs`) that run the write barrier.
//!
//! `Gc<'gc, T>` is `Send`/`Sync` when `T: Sync` (a thread spawned inside a
//! scope with `std::thread::scope` may read it); [`Mutation`] is neither, so
//! only the scope's own thread allocates and writes.

use crate::heap::AllocError;
use crate::mutator::{MutatorCore, Rootable};
use crate::roots::Root;
use crate::Trace;
use core::marker::PhantomData;
use core::ptr::NonNull;

/// Makes a lifetime invariant.
pub type Invariant<'a> = PhantomData<fn(&'a ()) -> &'a ()>;

/// The context of one mutation scope.
pub struct Mutation<'gc> {
    core: *const MutatorCore,
    _brand: Invariant<'gc>,
}

impl<'gc> Mutation<'gc> {
    /// # Safety
    /// `core` is a registered mutator inside a scope that outlives the value.
    pub(crate) unsafe fn new(core: *const MutatorCore) -> Self {
        Mutation {
            core,
            _brand: PhantomData,
        }
    }

    #[inline(always)]
    pub(crate) fn core(&self) -> &MutatorCore {
        // SAFETY: see `new`.
        unsafe { &*self.core }
    }

    /// Make a handle that keeps `gc` alive across scopes and threads until
    /// the handle is dropped.
    pub fn root<R: Rootable>(&self, gc: Gc<'gc, R::Of<'gc>>) -> Root<R> {
        Root::new(&self.core().heap, gc.ptr.cast())
    }

    /// The id of the heap this scope belongs to.
    pub fn heap_id(&self) -> usize {
        self.core().heap.id
    }
}

/// A pointer to a `T` in the collected heap, valid for the scope `'gc`.
pub struct Gc<'gc, T: ?Sized + 'gc> {
    pub(crate) ptr: NonNull<T>,
    _brand: Invariant<'gc>,
}

impl<'gc, T: ?Sized + 'gc> Clone for Gc<'gc, T> {
    #[inline(always)]
    fn clone(&self) -> Self {
        *self
    }
}
impl<'gc, T: ?Sized + 'gc> Copy for Gc<'gc, T> {}

// SAFETY: a `Gc` only gives `&T`; sharing it between threads is sharing
// `&T`, sound when `T: Sync`. The object stays alive while the scope does.
unsafe impl<'gc, T: ?Sized + Sync + 'gc> Send for Gc<'gc, T> {}
// SAFETY: as above.
unsafe impl<'gc, T: ?Sized + Sync + 'gc> Sync for Gc<'gc, T> {}

impl<'gc, T: Trace + 'gc> Gc<'gc, T> {
    /// Allocate `value` in the heap. Aborts with a message if the heap limit
    /// is reached or memory runs out; use [`Gc::try_new`] to handle that.
    #[inline]
    pub fn new(mc: &Mutation<'gc>, value: T) -> Gc<'gc, T> {
        match crate::mutator::alloc_value(mc.core(), value) {
            Ok(g) => g,
            Err(e) => alloc_failed(e),
        }
    }

    /// Allocate `value`, or say why not (the value is dropped).
    #[inline]
    pub fn try_new(mc: &Mutation<'gc>, value: T) -> Result<Gc<'gc, T>, AllocError> {
        crate::mutator::alloc_value(mc.core(), value)
    }
}

#[cold]
fn alloc_failed(e: AllocError) -> ! {
    let msg = match e {
        AllocError::HeapLimit => "tricolor: Gc::new: the heap reached its configured limit (use Gc::try_new to handle this)",
        AllocError::OutOfMemory => "tricolor: Gc::new: out of memory",
        AllocError::Unsupported => "tricolor: Gc::new: alignment above the page size (8 KiB) is not supported",
    };
    tricolor_heap::fatal::fatal(msg, 0)
}

impl<'gc, T: ?Sized + 'gc> Gc<'gc, T> {
    /// # Safety
    /// `ptr` is a live object of the heap of the current scope `'gc`.
    #[inline(always)]
    pub unsafe fn from_raw(ptr: NonNull<T>) -> Self {
        Gc {
            ptr,
            _brand: PhantomData,
        }
    }

    /// The object's address.
    #[inline(always)]
    pub fn as_ptr(this: Self) -> *const T {
        this.ptr.as_ptr()
    }

    /// Do two `Gc`s point to the same object?
    #[inline(always)]
    pub fn ptr_eq(a: Self, b: Self) -> bool {
        core::ptr::addr_eq(a.ptr.as_ptr(), b.ptr.as_ptr())
    }

    /// The reference, for the whole scope. (An associated function, like
    /// `Rc::as_ptr`, so it never shadows a method of `T`.)
    #[inline(always)]
    #[allow(clippy::should_implement_trait)]
    pub fn as_ref(this: Self) -> &'gc T {
        // SAFETY: the object lives at least as long as the scope `'gc`.
        unsafe { &*this.ptr.as_ptr() }
    }
}

impl<'gc, T: ?Sized + 'gc> core::ops::Deref for Gc<'gc, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the object is live for the scope `'gc`, which outlives `self`.
        unsafe { &*self.ptr.as_ptr() }
    }
}

impl<'gc, T: ?Sized + core::fmt::Debug + 'gc> core::fmt::Debug for Gc<'gc, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}

// SAFETY: a `Gc` reports itself; the object's own fields are traced when
// the object is scanned (through its type descriptor).
unsafe impl<'gc, T: ?Sized + 'gc> Trace for Gc<'gc, T> {
    const NEEDS_TRACE: bool = true;
    #[inline(always)]
    fn trace(&self, tracer: &mut crate::Tracer) {
        // SAFETY: a `Gc` always points to a live object of its heap.
        unsafe { tracer.mark_raw(self.ptr.as_ptr() as *const u8) }
    }
}

#[doc(hidden)]
pub trait __RootableHelper<'gc> {
    type Of: Trace + 'gc;
}

#[doc(hidden)]
pub struct __DynRootable<T: ?Sized>(PhantomData<T>);

impl<T: ?Sized + for<'gc> __RootableHelper<'gc> + 'static> Rootable for __DynRootable<T> {
    type Of<'gc> = <T as __RootableHelper<'gc>>::Of;
}

/// Name a [`Rootable`] type inline: `Rootable!['gc => Node<'gc>]`.
#[macro_export]
macro_rules! Rootable {
    ($gc:lifetime => $t:ty) => {
        $crate::__DynRootable::<dyn for<$gc> $crate::__RootableHelper<$gc, Of = $t>>
    };
}
