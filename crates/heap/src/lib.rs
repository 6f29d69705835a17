//! tricolor-heap: a TCMalloc-style allocator with mimalloc's free-list
//! sharding, the allocator under tricolor's garbage collector.
//!
//! Allocation walks up a cache hierarchy; each level is hit far less often
//! than the one below it:
//!
//! ```text
//! ThreadCache   cache.rs      per thread; no lock and no atomic RMW on the fast path
//!    │ refill / flush a span
//! Central       central.rs    per size class: spans no thread owns, one lock
//!    │ a run of pages
//! PageHeap      page_heap.rs  runs of pages over the page allocator (pages.rs),
//!    │                        and the scavenger
//!    │ a new arena
//! OS            os.rs         reserve / commit / decommit (memmap2, libc)
//! ```
//!
//! Around them: `size_class.rs` (the class menu, generated at compile time),
//! `arena.rs` (the reservation and the page map: address → span in one
//! load), `span.rs` (a span and its three free lists), `remote.rs` (the
//! lock-free cross-thread free protocol), `global.rs` (start-up, thread exit,
//! `fork`), `malloc.rs` (the public API and [`Malloc`]), `stats.rs`.
//!
//! Rules every module keeps: nothing here allocates through the Rust global
//! allocator (this crate may *be* it); nothing on an allocation path panics;
//! failures print without allocating (`fatal.rs`) or return null.
#![deny(unsafe_op_in_unsafe_fn)]

/// log2 of the page size. 8 KiB pages, as in the Go runtime (`_PageShift = 13`).
pub const PAGE_SHIFT: usize = 13;
/// Page size in bytes.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// Pages per page-allocator chunk: 512 pages = 4 MiB (Go's `pallocChunkPages`).
pub const CHUNK_PAGES: usize = 512;
/// Chunk size in bytes.
pub const CHUNK_SIZE: usize = CHUNK_PAGES * PAGE_SIZE;

pub mod lock;
pub mod remote;
pub(crate) mod sync;

#[cfg(not(loom))]
pub mod arena;
#[cfg(not(loom))]
pub mod cache;
#[cfg(not(loom))]
mod central;
#[cfg(not(loom))]
pub mod fatal;
#[cfg(not(loom))]
mod global;
#[cfg(not(loom))]
mod list;
#[cfg(not(loom))]
mod malloc;
#[cfg(not(loom))]
pub mod managed;
#[cfg(not(loom))]
pub mod os;
#[cfg(not(loom))]
mod page_heap;
#[cfg(not(loom))]
pub mod pages;
#[cfg(not(loom))]
mod pool;
#[cfg(all(not(loom), feature = "secure"))]
pub mod secure;
#[cfg(not(loom))]
pub mod size_class;
#[cfg(not(loom))]
pub mod span;
#[cfg(not(loom))]
mod stats;

#[cfg(not(loom))]
pub use malloc::{
    alloc, alloc_zeroed, free, realloc, release_memory, usable_size, Malloc, MIN_ALIGN,
};
#[cfg(not(loom))]
pub use stats::{stats, ClassStats, HeapStats};

/// With `--features self-hosted`, every binary linking this crate (its own
/// test binaries included) allocates through `Malloc`.
#[cfg(all(not(loom), feature = "self-hosted"))]
#[global_allocator]
static SELF_HOSTED: Malloc = Malloc;
