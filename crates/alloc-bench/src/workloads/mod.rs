//! One module per workload; each exposes
//! `pub fn run<A: GlobalAlloc + Sync + ?Sized>(a: &A, p: &Params) -> Outcome`
//! (`rust_collections::run` takes no allocator: it uses the global one).
//! See `registry.rs` for the list a driver iterates over.

pub mod alloc_test;
pub mod cache_scratch;
pub mod cache_thrash;
pub mod glibc_simple;
pub mod glibc_thread;
pub mod larson;
pub mod malloc_large;
pub mod mstress;
pub mod rptest;
pub mod rust_collections;
pub mod xmalloc;
