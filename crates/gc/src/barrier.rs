//! The write barrier.
//!
//! Every store of a pointer into a heap object goes through a cell
//! (`cell.rs`), and every cell store calls [`write`] with the old and the new
//! value. While the collector is not marking, that is one relaxed load of the
//! heap's `marking` flag and a predictable branch.
//!
//! While marking, the barrier is Go's hybrid barrier: shade the old value
//! (Yuasa deletion: an object reachable when marking began cannot be hidden
//! by unlinking it) and shade the new value (Dijkstra insertion: a pointer
//! stored by a mutator whose roots are not yet scanned cannot be hidden in
//! an object already scanned). Because of this barrier a mutator's roots
//! are scanned once per cycle and never rescanned.
//!
//! In this version marking happens with every mutator stopped at a
//! safepoint (`collector.rs`), so `marking` is never observed set by a
//! running mutator and the slow path below is not reached in practice; it
//! is correct (it greys directly into the shared pool under its lock) but
//! not fast. Concurrent marking replaces it with the buffered form of
//! DESIGN §3.1 (a per-mutator buffer of (old, new) pairs flushed when full).
//!
//! Memory ordering: `marking` is set and cleared with the world stopped;
//! the world-stop handshake (`collector.rs`) orders those stores before any
//! scope that could observe them, so `Relaxed` suffices here.

use crate::gc::Mutation;
use crate::mark::Tracer;
use crate::span::Bits;
use crate::work::LocalWork;
use crate::Trace;
use core::sync::atomic::Ordering;

/// Run the barrier for a store that replaces `old` by `new`.
#[inline(always)]
pub fn write<T: Trace + ?Sized>(mc: &Mutation<'_>, old: &T, new: &T) {
    if !T::NEEDS_TRACE {
        return;
    }
    if mc.core().heap.marking.load(Ordering::Relaxed) {
        write_slow(mc, old, new);
    }
}

/// Shade every pointer in `value` (a whole-object mutation's before and
/// after halves: `RefLock::borrow_mut`).
#[inline(always)]
pub fn shade<T: Trace + ?Sized>(mc: &Mutation<'_>, value: &T) {
    if !T::NEEDS_TRACE {
        return;
    }
    if mc.core().heap.marking.load(Ordering::Relaxed) {
        shade_slow(mc, value);
    }
}

#[cold]
fn write_slow<T: Trace + ?Sized>(mc: &Mutation<'_>, old: &T, new: &T) {
    let heap = &mc.core().heap;
    let mut work = LocalWork::new(&heap.pool);
    let mut t = Tracer::new(&mut work, Bits::Mark, 0);
    old.trace(&mut t);
    new.trace(&mut t);
    work.flush();
}

#[cold]
fn shade_slow<T: Trace + ?Sized>(mc: &Mutation<'_>, value: &T) {
    let heap = &mc.core().heap;
    let mut work = LocalWork::new(&heap.pool);
    let mut t = Tracer::new(&mut work, Bits::Mark, 0);
    value.trace(&mut t);
    work.flush();
}
