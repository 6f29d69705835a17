//! Fuzz target: bytes → a collector configuration and a sequence of graph
//! mutations (allocate, write and delete edges, root slots, `Root`
//! handles, cutting off subgraphs, collect) on tricolor-gc, checked
//! against a shadow graph. The decoding and every check live in
//! `gc_graph.rs`, which `crates/gc/tests/fuzz_replay.rs` also runs on
//! stable over the corpus in `fuzz/corpus/gc_ops/` and
//! `crates/gc/tests/model.rs` drives from proptest.
//!
//! Run (nightly): `cargo fuzz run gc_ops` from the repository root. Each
//! input gets a fresh heap (its own sweeper and marker threads), so inputs
//! cannot affect each other; a mismatch panics with what differed.

#![no_main]

#[allow(dead_code)] // `gc_graph.rs` is shared; the other drivers use the rest.
mod gc_graph;

libfuzzer_sys::fuzz_target!(|data: &[u8]| gc_graph::run(data));
