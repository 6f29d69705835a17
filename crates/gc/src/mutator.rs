//! Mutators: threads registered with a heap, their scopes and safepoints.
//!
//! A [`Mutator<R>`] is one thread's handle on a heap: it owns an allocation
//! cache (`cache.rs`) and a root object of type `R::Of<'gc>` stored inline.
//! All work on the heap happens in *mutation scopes*:
//!
//! ```ignore
//! mutator.mutate(|mc, root| { /* allocate, read, write through cells */ });
//! ```
//!
//! The closure is generic over the scope's lifetime `'gc`; every `Gc<'gc, _>`
//! made or read inside carries it and cannot leave (the closure's result
//! cannot name `'gc`). Between scopes the mutator holds no `Gc`, so it is at
//! a **safepoint**: its roots are exactly its root object and the `Root`
//! handles, and the collector may scan them while the thread does anything
//! else (this is also what *parked* means: see `collector.rs`). A cycle that
//! was requested during a scope runs at the scope's end.
//!
//! Rules the type system cannot see, checked at run time:
//! - a mutator is `!Send` (its cache is unsynchronised);
//! - `collect()` inside a scope (of any heap) on the same thread would wait
//!   for that scope forever, or deadlock against another heap's collector:
//!   it panics with a message instead.

use crate::cache::AllocCache;
use crate::collector::{self, Reason, OUTSIDE};
use crate::gc::{Gc, Mutation};
use crate::heap::{Config, HeapInner};
use crate::mark::Tracer;
use crate::stats::GcStats;
use crate::Trace;
use core::cell::{RefCell, UnsafeCell};
use core::marker::PhantomData;
use core::sync::atomic::AtomicU8;
use std::sync::Arc;

/// A type constructor for a root: `Of<'gc>` is the root type in a scope.
/// Name one with [`Rootable!`](crate::Rootable) or implement it on a marker
/// type.
pub trait Rootable: 'static {
    type Of<'gc>: Trace + 'gc;
}

/// A handle on a collected heap; cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Heap {
    pub(crate) inner: Arc<HeapInner>,
}

impl Heap {
    /// A new, empty heap.
    pub fn new(config: Config) -> Heap {
        Heap {
            inner: HeapInner::new(config),
        }
    }

    /// Register the current thread as a mutator whose root is made by `init`.
    pub fn mutator<R: Rootable>(
        &self,
        init: impl for<'gc> FnOnce(&'gc Mutation<'gc>) -> R::Of<'gc>,
    ) -> Mutator<R> {
        let core = MutatorCore::register(self.inner.clone());
        let core_ptr: *const MutatorCore = &*core;
        // SAFETY: the box's contents do not move when the box does; the
        // guard ends before this function returns the mutator.
        let scope = ScopeGuard::enter(unsafe { &*core_ptr });
        // SAFETY: the mutator is inside its scope; the mutation context lives
        // for the call.
        let mc = unsafe { Mutation::new(core_ptr) };
        let root: R::Of<'_> = init(&mc);
        // SAFETY: erase the scope lifetime for storage; it is only handed
        // out again re-branded with a fresh scope lifetime (`mutate`).
        let root: R::Of<'static> = unsafe { erase::<R>(root) };
        let m = Mutator {
            core,
            root: Box::new(root),
            _not_send: PhantomData,
        };
        let root_ptr: *const R::Of<'static> = &*m.root;
        // SAFETY: the root lives in a box owned by the mutator, which
        // unregisters (in `drop`) before the box goes.
        unsafe { *m.core.root.get() = Some((root_ptr as *const (), trace_root::<R>)) };
        drop(scope);
        m
    }

    /// Run a full cycle now (waits for every mutator to reach a safepoint).
    pub fn collect(&self) {
        assert_outside(&self.inner);
        collector::collect(&self.inner, Reason::Explicit);
    }

    /// Completed cycles: one relaxed load, for polling.
    pub fn cycles(&self) -> u64 {
        self.inner
            .cycles
            .load(core::sync::atomic::Ordering::Relaxed) as u64
    }

    /// Collector statistics.
    pub fn stats(&self) -> GcStats {
        crate::stats::snapshot(&self.inner)
    }

    /// The configuration the heap was made with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
}

impl Default for Heap {
    fn default() -> Self {
        Heap::new(Config::default())
    }
}

impl core::fmt::Debug for Heap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Heap").field("id", &self.inner.id).finish()
    }
}

/// # Safety
/// The result is only used as storage, re-branded before any access.
unsafe fn erase<'gc, R: Rootable>(root: R::Of<'gc>) -> R::Of<'static> {
    let root = core::mem::ManuallyDrop::new(root);
    // SAFETY: `Of<'gc>` and `Of<'static>` differ only in a lifetime, so they
    // have the same layout.
    unsafe { core::mem::transmute_copy(&*root) }
}

/// # Safety
/// `p` is a live root of type `R::Of<'_>`.
unsafe fn trace_root<R: Rootable>(p: *const (), t: &mut Tracer) {
    // SAFETY: the caller's guarantee.
    unsafe { (*(p as *const R::Of<'static>)).trace(t) }
}

/// A root object with its type erased: its address and its trace function.
type ErasedRoot = (*const (), unsafe fn(*const (), &mut Tracer));

/// The part of a mutator the collector sees.
pub struct MutatorCore {
    pub heap: Arc<HeapInner>,
    pub state: AtomicU8,
    pub cache: UnsafeCell<AllocCache>,
    root: UnsafeCell<Option<ErasedRoot>>,
    /// Embedder root slots registered with a raw mutator (`raw.rs`).
    pub raw_roots: UnsafeCell<Vec<*const usize>>,
}

impl MutatorCore {
    pub(crate) fn register(heap: Arc<HeapInner>) -> Box<MutatorCore> {
        let core = Box::new(MutatorCore {
            heap,
            state: AtomicU8::new(OUTSIDE),
            cache: UnsafeCell::new(AllocCache::new()),
            root: UnsafeCell::new(None),
            raw_roots: UnsafeCell::new(Vec::new()),
        });
        // No need to wait for a running cycle (and waiting could deadlock:
        // the cycle may be waiting for a scope this thread has open). A
        // cycle holds the world lock from the end of its stop to its end, so
        // we either join before the stop completes (we are outside, with an
        // empty cache and no root: nothing for the cycle to see) or after
        // the cycle.
        core.heap
            .world
            .state()
            .mutators
            .push(&*core as *const MutatorCore);
        core
    }

    /// Trace this mutator's roots (collector, world stopped).
    ///
    /// # Safety
    /// The mutator is registered and outside any scope.
    pub(crate) unsafe fn trace_roots(&self, t: &mut Tracer) {
        // SAFETY: the mutator is stopped; its root and slots are stable.
        unsafe {
            if let Some((p, f)) = *self.root.get() {
                f(p, t);
            }
            for &slot in (*self.raw_roots.get()).iter() {
                let r = *slot;
                if r != 0 {
                    t.mark_raw(r as *const u8);
                }
            }
        }
    }

    pub(crate) fn unregister(&self) {
        // As in `register`, no waiting for a running cycle: holding the world
        // lock, we are either before its stop completed (it has not touched
        // our cache and will not see us) or after its end.
        let mut g = self.heap.world.state();
        // SAFETY: outside any scope, and no cycle is between its stop and
        // its end (we hold the world lock), so the cache is ours.
        unsafe { (*self.cache.get()).flush(&self.heap) };
        let me = self as *const MutatorCore;
        g.mutators.retain(|&m| m != me);
    }
}

thread_local! {
    /// (heap id, open scopes) for every heap this thread is inside.
    static OPEN_SCOPES: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

fn scopes_open_in(heap: usize) -> usize {
    OPEN_SCOPES.with(|s| s.borrow().iter().find(|e| e.0 == heap).map_or(0, |e| e.1))
}

fn any_scope_open() -> bool {
    OPEN_SCOPES.with(|s| s.borrow().iter().any(|e| e.1 > 0))
}

pub(crate) fn assert_outside(heap: &HeapInner) {
    // Any open scope, not only one of `heap`: a thread inside a scope of heap
    // A that waits for heap B's cycle, while another thread inside a B scope
    // waits for A's, would deadlock the two collectors.
    let _ = heap;
    assert!(
        !any_scope_open(),
        "tricolor: collect() called inside a mutation scope on this thread; \
         the cycle would wait for that scope forever"
    );
}

/// Enter a scope (typed or raw) of `core`'s heap on this thread.
pub(crate) fn open_scope(core: &MutatorCore) {
    let heap = core.heap.id;
    if scopes_open_in(heap) > 0 {
        // Another scope of this heap is open on this thread: the world
        // cannot be stopped (the collector waits for that scope), so
        // entering cannot race with a cycle, and backing out to wait would
        // deadlock.
        crate::handshake::enter_nested(&core.state);
    } else {
        collector::enter(&core.heap, &core.state);
    }
    OPEN_SCOPES.with(|s| {
        let mut s = s.borrow_mut();
        match s.iter_mut().find(|e| e.0 == heap) {
            Some(e) => e.1 += 1,
            None => s.push((heap, 1)),
        }
    });
    // SAFETY: this mutator is inside its scope; its cache is its own.
    unsafe {
        (*core.cache.get()).alloc_black = core
            .heap
            .marking
            .load(core::sync::atomic::Ordering::Relaxed);
    }
}

/// Leave a scope without running a requested cycle.
pub(crate) fn close_scope_quietly(core: &MutatorCore) {
    let heap = &core.heap;
    OPEN_SCOPES.with(|s| {
        let mut s = s.borrow_mut();
        if let Some(i) = s.iter().position(|e| e.0 == heap.id) {
            s[i].1 -= 1;
            if s[i].1 == 0 {
                s.swap_remove(i);
            }
        }
    });
    collector::leave(heap, &core.state);
}

/// Leave a scope: a safepoint, where a requested cycle runs unless this
/// thread still has a scope open (of any heap: a cycle would wait for it).
pub(crate) fn close_scope(core: &MutatorCore) {
    close_scope_quietly(core);
    let heap = &core.heap;
    if heap
        .gc_requested
        .load(core::sync::atomic::Ordering::Relaxed)
        && !any_scope_open()
        && !std::thread::panicking()
    {
        collector::collect(heap, Reason::Requested);
    }
}

/// An open scope; leaving it (even by unwinding) is a safepoint.
pub(crate) struct ScopeGuard<'a> {
    core: &'a MutatorCore,
}

impl<'a> ScopeGuard<'a> {
    pub(crate) fn enter(core: &'a MutatorCore) -> Self {
        open_scope(core);
        ScopeGuard { core }
    }
}

impl Drop for ScopeGuard<'_> {
    fn drop(&mut self) {
        close_scope(self.core);
    }
}

/// A thread's handle on a heap, with a root of type `R::Of<'gc>`.
pub struct Mutator<R: Rootable> {
    core: Box<MutatorCore>,
    root: Box<R::Of<'static>>,
    _not_send: PhantomData<*mut ()>,
}

impl<R: Rootable> Mutator<R> {
    /// Run a mutation scope with shared access to the root.
    pub fn mutate<T>(
        &mut self,
        f: impl for<'gc> FnOnce(&'gc Mutation<'gc>, &'gc R::Of<'gc>) -> T,
    ) -> T {
        let _scope = ScopeGuard::enter(&self.core);
        // SAFETY: inside the scope; the context does not outlive it.
        let mc = unsafe { Mutation::new(&*self.core) };
        let root: *const R::Of<'static> = &*self.root;
        // SAFETY: re-brand the stored root with this scope's lifetime: the
        // closure is generic over `'gc`, so nothing it returns can keep it.
        let (mc, root) = unsafe { (&*(&mc as *const Mutation<'_>), &*root) };
        f(mc, root)
    }

    /// Run a mutation scope with exclusive access to the root (which, like a
    /// stack, needs no write barrier: it is a root, scanned at safepoints).
    pub fn mutate_root<T>(
        &mut self,
        f: impl for<'gc> FnOnce(&'gc Mutation<'gc>, &'gc mut R::Of<'gc>) -> T,
    ) -> T {
        let _scope = ScopeGuard::enter(&self.core);
        // SAFETY: inside the scope; the context does not outlive it.
        let mc = unsafe { Mutation::new(&*self.core) };
        let root: *mut R::Of<'static> = &mut *self.root;
        // SAFETY: as in `mutate`; `&mut self` makes the access exclusive.
        let (mc, root) = unsafe { (&*(&mc as *const Mutation<'_>), &mut *root) };
        f(mc, root)
    }

    /// A safepoint: runs a requested cycle (scopes end in one anyway).
    pub fn safepoint(&mut self) {
        let heap = &self.core.heap;
        if heap
            .gc_requested
            .load(core::sync::atomic::Ordering::Relaxed)
            && !any_scope_open()
        {
            collector::collect(heap, Reason::Requested);
        }
    }

    /// Run a full cycle now.
    pub fn collect(&mut self) {
        assert_outside(&self.core.heap);
        collector::collect(&self.core.heap, Reason::Explicit);
    }

    /// Run `f` parked: the collector proceeds without this mutator. (Outside
    /// a scope a mutator is always parked; this names the intent, for code
    /// that blocks.)
    pub fn park<T>(&mut self, f: impl FnOnce() -> T) -> T {
        f()
    }

    /// The heap.
    pub fn heap(&self) -> Heap {
        Heap {
            inner: self.core.heap.clone(),
        }
    }
}

impl<R: Rootable> Drop for Mutator<R> {
    fn drop(&mut self) {
        self.core.unregister();
    }
}

/// Allocate `value` through `core`'s cache.
#[inline(always)]
pub(crate) fn alloc_value<'gc, T: Trace + 'gc>(
    core: &MutatorCore,
    value: T,
) -> Result<Gc<'gc, T>, crate::AllocError> {
    use crate::desc::DescOf;
    // SAFETY: the mutator is inside a scope (we have a `Mutation`), so its
    // cache is its own and the heap is not collecting.
    let cache = unsafe { &mut *core.cache.get() };
    let heap = &*core.heap;
    let addr = if !T::NEEDS_TRACE && !core::mem::needs_drop::<T>() {
        cache.alloc_noscan(heap, core::mem::size_of::<T>(), core::mem::align_of::<T>())?
    } else {
        cache.alloc_typed(heap, <T as DescOf>::DESC)?
    };
    let p = addr as *mut T;
    // SAFETY: a fresh slot, big and aligned enough for `T`.
    unsafe { p.write(value) };
    // SAFETY: non-null (a heap address).
    Ok(unsafe { Gc::from_raw(core::ptr::NonNull::new_unchecked(p)) })
}

#[allow(dead_code)]
fn _assert_heap_send_sync() {
    fn ok<T: Send + Sync>() {}
    ok::<Heap>();
}
