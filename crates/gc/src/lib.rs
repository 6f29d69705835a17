//! tricolor-gc: a precise tri-color mark-sweep collector on the tricolor
//! heap, with a sound `Gc` API.
//!
//! ```text
//!   Mutator (mutator.rs) ── scopes, safepoints, its root object
//!     │ Gc::new            ┌ cache.rs   allocation cache: typed spans, noscan
//!     ├──────────────────▶ │            spans by size class, the tiny block
//!     │ Lock / RefLock     └ span.rs    GcSpan: slots + alloc/mark/check bitmaps
//!     ├─▶ barrier.rs  (hybrid write barrier; a flag check while not marking)
//!     ▼
//!   Heap (heap.rs) ── span lists by key, pacing, limits
//!     │ a cycle (collector.rs): stop the world at safepoints, flush caches,
//!     │   finish sweep, mark (mark.rs + work.rs, parallel), new sweep generation
//!     ▼
//!   sweep.rs ── lazy / proportional / background sweeping, destructors
//!   roots.rs ── Root<R> handles, embedder slots and callbacks
//!   raw.rs   ── the embedder interface (descriptors, ObjectRef)
//!   tricolor-heap ── pages (managed runs), the page map, the scavenger
//! ```
//!
//! Start at `gc.rs` for the soundness argument of the API and at
//! `collector.rs` for the cycle.
//!
//! ```
//! use tricolor_gc::{Config, Gc, Heap, Lock, Rootable, Trace};
//!
//! #[derive(Trace)]
//! struct Node<'gc> {
//!     value: u64,
//!     next: Lock<Option<Gc<'gc, Node<'gc>>>>,
//! }
//!
//! let heap = Heap::new(Config::default());
//! let mut m = heap.mutator::<Rootable!['gc => Gc<'gc, Node<'gc>>]>(|mc| {
//!     Gc::new(mc, Node { value: 0, next: Lock::new(None) })
//! });
//! m.mutate(|mc, root| {
//!     let n = Gc::new(mc, Node { value: 1, next: Lock::new(None) });
//!     root.next.set(mc, Some(n));
//! });
//! m.collect();
//! assert_eq!(m.mutate(|_, root| root.next.get().unwrap().value), 1);
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
// Under `--cfg loom` the allocator compiles only its lock-free protocols;
// the loom models of this crate (`tests/loom_world.rs`) include the modules
// they check directly.
#![cfg(not(loom))]

extern crate self as tricolor_gc;

mod barrier;
mod cache;
mod cell;
mod collector;
mod debug;
mod desc;
mod gc;
mod handshake;
mod heap;
mod mark;
mod meta;
mod mutator;
mod raw;
mod roots;
mod span;
mod stats;
mod sweep;
mod sync;
mod trace;
mod work;

pub use cell::{Lock, RefLock, RefLockMut};
pub use debug::DebugKnobs;
pub use desc::{DescOf, Scan, TypeDesc};
pub use gc::{__DynRootable, __RootableHelper, Gc, Invariant, Mutation};
pub use heap::{AllocError, Config};
pub use mark::Tracer;
pub use mutator::{Heap, Mutator, Rootable};
pub use raw::{ObjectRef, RawMutator};
pub use roots::{Root, RootVisitor};
pub use stats::{GcStats, PauseEvent};
pub use trace::Trace;
pub use tricolor_derive::Trace;

#[doc(hidden)]
pub mod __private {
    /// Implemented by `#[derive(Trace)]` for every derived type; conflicts
    /// with this blanket impl if the type implements `Drop` (see the derive's
    /// docs for the opt-in).
    pub trait MustNotImplDrop {}
    #[allow(drop_bounds)]
    impl<T: Drop> MustNotImplDrop for T {}
}
