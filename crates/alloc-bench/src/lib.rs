//! tricolor-alloc-bench: the allocator benchmark suite.
//!
//! The workloads of mimalloc-bench (Leijen et al.), rewritten in Rust from
//! their published descriptions, plus one workload shaped like idiomatic
//! Rust, run against tricolor's allocator and three references: mimalloc,
//! jemalloc and the system allocator (glibc).
//!
//! # Glossary
//!
//! - *Workload*: a function `run<A: GlobalAlloc + Sync + ?Sized>(&A, &Params)
//!   -> Outcome` in `workloads/`, calling `alloc`/`dealloc`/`realloc` on the
//!   allocator it is given with raw pointers, like the C originals calling
//!   `malloc`/`free`. `rust-collections` is the exception: it uses std's
//!   collections and so the global allocator.
//! - [`Params`]: `threads` and `scale`; `scale` multiplies iteration counts
//!   so one workload runs tiny in tests, short under criterion and full in
//!   whole-process runs.
//! - [`Outcome`]: a checksum over what was freed and an operation count.
//!   They depend on the workload, params and seeds only, so every allocator
//!   must produce the same outcome: a cheap cross-check of correctness, and
//!   a data dependency that stops the optimiser deleting the work.
//! - *Stamp*: what a workload writes into each block (always the first and
//!   last byte, often every byte) and checks on free; see `block.rs`.
//! - [`WORKLOADS`]: the registry, see `registry.rs`.
//!
//! # Three ways to run
//!
//! 1. `cargo test -p tricolor-alloc-bench`: every workload at a tiny scale
//!    with each allocator, outcomes compared (`tests/workloads.rs`).
//! 2. `cargo bench -p tricolor-alloc-bench`: criterion groups putting the
//!    four allocators side by side per workload, plus a `fast_path` group
//!    (`benches/allocators.rs`). The bench process's global allocator stays
//!    `System`; only the allocator passed to the workload differs.
//! 3. Whole-process runs, the real comparison: one binary per allocator
//!    (`alloc-bench-{tricolor,mimalloc,jemalloc,system}`), each installing
//!    its allocator as `#[global_allocator]` and running one workload
//!    ([`process_main`], `process.rs`), driven by `alloc-suite`
//!    ([`suite::suite_main`], `suite.rs`), which reports median times and
//!    peak RSS as ratios to mimalloc and glibc.
//!
//! # Determinism
//!
//! Every thread draws from its own SplitMix64 stream (`rng.rs`), seeded
//! from the workload seed and its thread index; block hand-offs between
//! threads change *who* frees a block, never *which* blocks exist, and
//! checksums are wrapping sums, so the schedule does not matter.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod block;
pub mod json;
pub mod mailbox;
mod params;
pub mod process;
mod registry;
pub mod rng;
pub mod suite;
pub mod workloads;

pub use params::{Outcome, Params};
pub use process::process_main;
pub use registry::{find, DynAlloc, Kind, Workload, WORKLOADS};
