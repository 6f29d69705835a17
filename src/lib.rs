//! tricolor: a garbage-collected heap for Rust in the lineage of the Go
//! runtime. This facade re-exports the workspace's crates; today that is the
//! allocator, [`tricolor_heap`], whose [`Malloc`] can be the process's global
//! allocator:
//!
//! ```no_run
//! #[global_allocator]
//! static GLOBAL: tricolor::Malloc = tricolor::Malloc;
//! ```

pub use tricolor_gc as gc;
pub use tricolor_heap as heap;
pub use tricolor_heap::Malloc;
