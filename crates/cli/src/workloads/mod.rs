//! The GC benchmark workloads, each written twice: on the collected heap
//! (`Gc`, cells, scopes) and on `Box` / `Vec`, for the baselines.
//!
//! | workload       | what it stresses                                             |
//! |----------------|--------------------------------------------------------------|
//! | `binary-trees` | allocation throughput of short-lived trees beside one long-lived tree (the Benchmarks Game) |
//! | `gcbench`      | Ellis–Kovac–Boehm GCBench: top-down (with stores) and bottom-up trees, a long-lived tree and array |
//! | `msgbuf`       | latency: a window of 1 KiB pointer-free messages, each new one replacing the oldest |
//! | `msgbuf-ptr`   | the same with each message a 16-object linked list (the marker must trace it) |
//! | `heartbeat`    | MMU as a 1 ms heartbeat thread sees it, beside a mutator churning a large pointer-rich heap |
//!
//! Each module has `Params` (clap arguments, with `to_args` to hand them to
//! a worker process), `run_gc(&Params, &Heap)` and `run_box(&Params)`. Both
//! runs of a workload compute the same [`Outcome::checksum`] from the data
//! they built and read back, so a baseline and the collected heap
//! cross-check each other: a lost or damaged object changes the sum.
//!
//! Mutation scopes are kept short (one tree, one message, a batch of a few
//! dozen replacements): a cycle requested during a scope runs when every
//! mutator has left its scope.

pub mod binary_trees;
pub mod gcbench;
pub mod heartbeat;
pub mod msgbuf;

use crate::latency::LatencySummary;
use crate::report::HeartbeatSummary;
use clap::Subcommand;
use tricolor_gc::Heap;

/// What a run produced, apart from its time and memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Depends only on the workload and its parameters.
    pub checksum: u64,
    /// Objects allocated.
    pub ops: u64,
    pub latency: Option<LatencySummary>,
    pub heartbeat: Option<HeartbeatSummary>,
}

/// Fold `x` into a running checksum (order-dependent, so a reordering of
/// results shows up too).
pub fn fold(h: u64, x: u64) -> u64 {
    tricolor_alloc_bench::rng::mix(h ^ x).wrapping_add(x)
}

/// A GC workload with its parameters.
#[derive(Subcommand, Clone, Debug, PartialEq)]
pub enum Workload {
    /// The Benchmarks Game's binary-trees: many short-lived trees beside a
    /// long-lived one.
    BinaryTrees(binary_trees::Params),
    /// Ellis–Kovac–Boehm GCBench: stretch tree, long-lived tree and array of
    /// doubles, then trees built top-down and bottom-up at increasing depths.
    Gcbench(gcbench::Params),
    /// Message buffer: a window of 1 KiB pointer-free messages; every store
    /// is timed from outside the collector.
    Msgbuf(msgbuf::Params),
    /// Message buffer whose messages are linked lists of 16 objects of 64 B.
    MsgbufPtr(msgbuf::Params),
    /// A large live pointer-rich heap churned by one thread while a
    /// heartbeat thread wakes every period and records its gaps.
    Heartbeat(heartbeat::Params),
}

impl Workload {
    /// The command-line name.
    pub fn name(&self) -> &'static str {
        match self {
            Workload::BinaryTrees(_) => "binary-trees",
            Workload::Gcbench(_) => "gcbench",
            Workload::Msgbuf(_) => "msgbuf",
            Workload::MsgbufPtr(_) => "msgbuf-ptr",
            Workload::Heartbeat(_) => "heartbeat",
        }
    }

    /// `[name, --flag, value, …]`: what a worker is given to run this.
    pub fn to_args(&self) -> Vec<String> {
        let mut v = vec![self.name().to_string()];
        v.extend(match self {
            Workload::BinaryTrees(p) => p.to_args(),
            Workload::Gcbench(p) => p.to_args(),
            Workload::Msgbuf(p) | Workload::MsgbufPtr(p) => p.to_args(),
            Workload::Heartbeat(p) => p.to_args(),
        });
        v
    }

    /// The parameters, for a person.
    pub fn describe(&self) -> String {
        match self {
            Workload::BinaryTrees(p) => p.describe(),
            Workload::Gcbench(p) => p.describe(),
            Workload::Msgbuf(p) | Workload::MsgbufPtr(p) => p.describe(),
            Workload::Heartbeat(p) => p.describe(),
        }
    }

    /// Checks clap cannot express (sizes against this machine).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Workload::Heartbeat(p) => p.validate(),
            Workload::Msgbuf(p) => p.validate(false),
            Workload::MsgbufPtr(p) => p.validate(true),
            _ => Ok(()),
        }
    }

    /// Run on the collected heap `heap` (this thread becomes a mutator).
    pub fn run_gc(&self, heap: &Heap) -> Outcome {
        match self {
            Workload::BinaryTrees(p) => binary_trees::run_gc(p, heap),
            Workload::Gcbench(p) => gcbench::run_gc(p, heap),
            Workload::Msgbuf(p) => msgbuf::run_gc(p, heap, false),
            Workload::MsgbufPtr(p) => msgbuf::run_gc(p, heap, true),
            Workload::Heartbeat(p) => heartbeat::run_gc(p, heap),
        }
    }

    /// Run on `Box` and the global allocator.
    pub fn run_box(&self) -> Outcome {
        match self {
            Workload::BinaryTrees(p) => binary_trees::run_box(p),
            Workload::Gcbench(p) => gcbench::run_box(p),
            Workload::Msgbuf(p) => msgbuf::run_box(p, false),
            Workload::MsgbufPtr(p) => msgbuf::run_box(p, true),
            Workload::Heartbeat(p) => heartbeat::run_box(p),
        }
    }
}
