//! Cells: the only way to change a `Gc` pointer stored in the heap.
//!
//! - [`Lock<T>`] — like `Cell<T>` for `Copy` values: `get`, and `set(mc, v)`
//!   which runs the write barrier on the old and new value.
//! - [`RefLock<T>`] — like `RefCell<T>`: `borrow()`, and `borrow_mut(mc)`,
//!   a whole-value mutation: it shades every pointer of the old value when
//!   the borrow starts and every pointer of the new value when it ends
//!   (DESIGN §3.3), so any number of stores in between are covered.
//!
//! Both are `!Sync`, so an object holding one is shared only within its
//! scope's thread. (`Cell` and `RefCell` themselves are `Trace` only for
//! `'static` contents: they cannot hold a `Gc`, so they cannot bypass the
//! barrier.)

use crate::barrier;
use crate::gc::Mutation;
use crate::{Trace, Tracer};
use core::cell::{Cell, Ref, RefCell, RefMut};

/// A `Cell` whose stores run the write barrier.
#[derive(Default)]
pub struct Lock<T: Copy> {
    cell: Cell<T>,
}

impl<T: Copy> Lock<T> {
    pub const fn new(v: T) -> Self {
        Lock { cell: Cell::new(v) }
    }

    #[inline(always)]
    pub fn get(&self) -> T {
        self.cell.get()
    }

    /// Exclusive access needs no barrier: the cell is not in the heap yet
    /// or the caller owns it outright.
    pub fn get_mut(&mut self) -> &mut T {
        self.cell.get_mut()
    }
}

impl<T: Copy + Trace> Lock<T> {
    /// Store `v`, running the write barrier.
    #[inline(always)]
    pub fn set(&self, mc: &Mutation<'_>, v: T) {
        let old = self.cell.get();
        barrier::write(mc, &old, &v);
        self.cell.set(v);
    }

    /// Store `v` and return the old value.
    #[inline(always)]
    pub fn replace(&self, mc: &Mutation<'_>, v: T) -> T {
        let old = self.cell.get();
        barrier::write(mc, &old, &v);
        self.cell.replace(v)
    }
}

// SAFETY: reports the current value; every store runs the barrier.
unsafe impl<T: Copy + Trace> Trace for Lock<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        self.cell.get().trace(tracer);
    }
}

impl<T: Copy + core::fmt::Debug> core::fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Lock").field(&self.cell.get()).finish()
    }
}

/// A `RefCell` whose mutable borrows run the write barrier.
#[derive(Default)]
pub struct RefLock<T> {
    cell: RefCell<T>,
}

impl<T> RefLock<T> {
    pub const fn new(v: T) -> Self {
        RefLock {
            cell: RefCell::new(v),
        }
    }

    /// Shared access. Panics if mutably borrowed.
    #[inline]
    pub fn borrow(&self) -> Ref<'_, T> {
        self.cell.borrow()
    }

    pub fn try_borrow(&self) -> Option<Ref<'_, T>> {
        self.cell.try_borrow().ok()
    }

    pub fn get_mut(&mut self) -> &mut T {
        self.cell.get_mut()
    }
}

impl<T: Trace> RefLock<T> {
    /// Mutable access in scope `mc`. Panics if already borrowed.
    #[inline]
    pub fn borrow_mut<'a, 'gc>(&'a self, mc: &'a Mutation<'gc>) -> RefLockMut<'a, 'gc, T> {
        let guard = self.cell.borrow_mut();
        barrier::shade(mc, &*guard);
        RefLockMut { guard, mc }
    }
}

/// A mutable borrow of a [`RefLock`]; shades the new value when dropped.
pub struct RefLockMut<'a, 'gc, T: Trace> {
    guard: RefMut<'a, T>,
    mc: &'a Mutation<'gc>,
}

impl<T: Trace> core::ops::Deref for RefLockMut<'_, '_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: Trace> core::ops::DerefMut for RefLockMut<'_, '_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T: Trace> Drop for RefLockMut<'_, '_, T> {
    fn drop(&mut self) {
        barrier::shade(self.mc, &*self.guard);
    }
}

// SAFETY: reports the current value; mutable borrows run the barrier. A
// value mutably borrowed while traced cannot happen: tracing runs with the
// world stopped, outside every scope, when no borrow is live.
unsafe impl<T: Trace> Trace for RefLock<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        // SAFETY: see the impl comment: no `RefMut` is live while tracing.
        unsafe { (*self.cell.as_ptr()).trace(tracer) }
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for RefLock<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.cell.fmt(f)
    }
}
