//! Roots that outlive a scope: `Root<R>` handles, embedder root slots and
//! root callbacks.
//!
//! Glossary:
//! - **Root<R>** — a strong handle on one object, made inside a scope with
//!   `mc.root(gc)` and turned back into a `Gc` in any later scope of the same
//!   heap, on any thread (`root.get(mc)`). Freed when dropped. `Send + Sync`
//!   when the object type is `Sync`.
//! - **RootTable** — the heap's slab of root slots: an array of object
//!   addresses (0 = free) and a stack of free indices, under a mutex. Creating or dropping a root takes the mutex; the collector scans
//!   the whole slab with the world stopped.
//! - **root slot** (embedder) — the address of a word the embedder owns
//!   that holds an object reference or 0 (`Heap::add_root_slot`).
//! - **root callback** (embedder) — a function the collector calls at the
//!   start of every mark, handing it a `RootVisitor` to report references.
//!
//! A root created inside a scope needs no barrier: it is made with the world
//! running, and the collector only scans roots with the world stopped.

use crate::gc::{Gc, Mutation};
use crate::heap::HeapInner;
use crate::mark::Tracer;
use crate::mutator::Rootable;
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::sync::{Arc, Mutex};

/// Reports embedder roots (see [`Heap::add_root_callback`](crate::Heap)).
pub struct RootVisitor<'t> {
    tracer: &'t mut Tracer,
}

impl RootVisitor<'_> {
    /// Report a reference.
    ///
    /// # Safety
    /// `obj` is a live object of this heap (its start or an address inside it).
    pub unsafe fn visit(&mut self, obj: NonNull<u8>) {
        // SAFETY: forwarded from the caller.
        unsafe { self.tracer.mark_raw(obj.as_ptr()) }
    }
}

type Callback = Box<dyn Fn(&mut RootVisitor<'_>) + Send + Sync>;

struct Slab {
    /// Object addresses (any alignment: tiny objects sit at odd
    /// addresses); 0 marks a free slot (no object lives at address 0).
    slots: Vec<usize>,
    /// Indices of the free slots.
    free: Vec<usize>,
    live: usize,
    raw_slots: Vec<(u64, *const usize)>,
    callbacks: Vec<(u64, Callback)>,
    next_id: u64,
}

// SAFETY: the raw slot pointers are the embedder's words, which it promised
// (`add_root_slot`) stay valid and readable from the collector's thread.
unsafe impl Send for Slab {}

pub struct RootTable {
    slab: Mutex<Slab>,
}

impl RootTable {
    pub fn new() -> Self {
        RootTable {
            slab: Mutex::new(Slab {
                slots: Vec::new(),
                free: Vec::new(),
                live: 0,
                raw_slots: Vec::new(),
                callbacks: Vec::new(),
                next_id: 1,
            }),
        }
    }

    fn slab(&self) -> std::sync::MutexGuard<'_, Slab> {
        self.slab.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, addr: usize) -> usize {
        debug_assert!(addr != 0);
        let mut s = self.slab();
        s.live += 1;
        if let Some(i) = s.free.pop() {
            s.slots[i] = addr;
            return i;
        }
        s.slots.push(addr);
        s.slots.len() - 1
    }

    fn remove(&self, i: usize) {
        let mut s = self.slab();
        s.live -= 1;
        s.slots[i] = 0;
        s.free.push(i);
    }

    fn get(&self, i: usize) -> usize {
        self.slab().slots[i]
    }

    /// Live `Root` handles.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.slab().live
    }

    /// Grey every root (world stopped).
    pub fn trace(&self, t: &mut Tracer) {
        let s = self.slab();
        for &a in &s.slots {
            if a != 0 {
                // SAFETY: an occupied slot holds a live object of this heap.
                unsafe { t.mark_raw(a as *const u8) };
            }
        }
        for &(_, slot) in &s.raw_slots {
            // SAFETY: the embedder keeps registered slots valid
            // (`add_root_slot`'s contract).
            let r = unsafe { *slot };
            if r != 0 {
                // SAFETY: a non-zero slot holds a live object (same contract).
                unsafe { t.mark_raw(r as *const u8) };
            }
        }
        let mut v = RootVisitor { tracer: t };
        for (_, cb) in &s.callbacks {
            cb(&mut v);
        }
    }

    /// # Safety
    /// See `Heap::add_root_slot`.
    pub unsafe fn add_slot(&self, slot: *const usize) -> u64 {
        let mut s = self.slab();
        let id = s.next_id;
        s.next_id += 1;
        s.raw_slots.push((id, slot));
        id
    }

    pub fn remove_slot(&self, id: u64) -> bool {
        let mut s = self.slab();
        let before = s.raw_slots.len();
        s.raw_slots.retain(|e| e.0 != id);
        before != s.raw_slots.len()
    }

    pub fn add_callback(&self, cb: Callback) -> u64 {
        let mut s = self.slab();
        let id = s.next_id;
        s.next_id += 1;
        s.callbacks.push((id, cb));
        id
    }

    pub fn remove_callback(&self, id: u64) -> bool {
        let mut s = self.slab();
        let before = s.callbacks.len();
        s.callbacks.retain(|e| e.0 != id);
        before != s.callbacks.len()
    }
}

impl Default for RootTable {
    fn default() -> Self {
        Self::new()
    }
}

/// A strong handle on an object of type `R::Of<'_>`, usable across scopes
/// and threads.
pub struct Root<R: Rootable> {
    heap: Arc<HeapInner>,
    slot: usize,
    _type: PhantomData<fn() -> R>,
}

// SAFETY: a root only gives out `Gc`s of `R::Of`, i.e. shared references;
// handing them to other threads needs `R::Of: Sync`.
unsafe impl<R: Rootable> Send for Root<R> where for<'a> R::Of<'a>: Sync {}
// SAFETY: as above.
unsafe impl<R: Rootable> Sync for Root<R> where for<'a> R::Of<'a>: Sync {}

impl<R: Rootable> Root<R> {
    pub(crate) fn new(heap: &Arc<HeapInner>, ptr: NonNull<u8>) -> Self {
        let slot = heap.roots.insert(ptr.as_ptr() as usize);
        Root {
            heap: heap.clone(),
            slot,
            _type: PhantomData,
        }
    }

    /// The object, in the scope `mc`. Panics if `mc` is a scope of another
    /// heap.
    pub fn get<'gc>(&self, mc: &Mutation<'gc>) -> Gc<'gc, R::Of<'gc>> {
        assert_eq!(
            mc.heap_id(),
            self.heap.id,
            "tricolor: Root::get with a scope of another heap"
        );
        let a = self.heap.roots.get(self.slot);
        // SAFETY: the root kept the object alive; it is an `R::Of<'_>`, and
        // the scope's lifetime brands it.
        unsafe { Gc::from_raw(NonNull::new_unchecked(a as *mut R::Of<'gc>)) }
    }
}

impl<R: Rootable> Clone for Root<R> {
    fn clone(&self) -> Self {
        let a = self.heap.roots.get(self.slot);
        // SAFETY: a live root's slot holds a live object.
        Root::new(&self.heap, unsafe { NonNull::new_unchecked(a as *mut u8) })
    }
}

impl<R: Rootable> Drop for Root<R> {
    fn drop(&mut self) {
        self.heap.roots.remove(self.slot);
    }
}

impl<R: Rootable> core::fmt::Debug for Root<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Root").field("slot", &self.slot).finish()
    }
}
