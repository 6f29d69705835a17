//! Fuzz target: bytes → a sequence of alloc / free / realloc / check /
//! release operations on tricolor-heap, checked against a model after
//! every step. The decoding and every check live in `ops.rs`, which
//! `crates/heap/tests/fuzz_replay.rs` also runs on stable over the corpus
//! in `fuzz/corpus/alloc_ops/`.
//!
//! Run (nightly): `cargo fuzz run alloc_ops` from the repository root.
//! The heap is not the global allocator here, so the model's exact
//! statistics checks hold: libFuzzer runs one input at a time on one thread.

#![no_main]

#[allow(dead_code)] // `ops.rs` is shared; the model test uses the rest.
mod ops;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ops::run(data));
