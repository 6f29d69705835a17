//! tricolor-cli: the `tricolor` command.
//!
//! Three jobs, one binary:
//!
//! - **`tricolor stress`** runs K mutator threads over a private, randomly
//!   mutated object graph each (plus immutable trees they share through
//!   `Root` handles) and checks, continuously, every reachable object
//!   against a shadow model kept outside the collected heap, and the heap's
//!   size against the live size. See `stress.rs` (the driver), `graph.rs`
//!   (the heap side: object types, operations, the verifying walk) and
//!   `shadow.rs` (the model).
//! - **`tricolor bench <workload>`** runs a GC workload (`binary-trees`,
//!   `gcbench`, `msgbuf`, `msgbuf-ptr`, `heartbeat`) on the collected heap
//!   and the same program on `Box` under mimalloc and under the system
//!   allocator, each in its own process, and prints time and peak RSS as
//!   ratios to Box + mimalloc, with latency measured from outside the
//!   collector beside the collector's own pause figures; `bench alloc`
//!   drives tricolor-alloc-bench's suite through the same worker processes.
//!   See `bench.rs` (the parent), `worker.rs` (the child) and `workloads/`.
//! - **`tricolor`** alone runs a demo of about 30 seconds: a short stress
//!   run and a benchmark summary, ending with a verdict line (`demo.rs`).
//!
//! # Processes
//!
//! ```text
//!   tricolor bench msgbuf ─┬─ tricolor worker gc msgbuf ..          (Gc, global = tricolor Malloc)
//!                          ├─ tricolor-worker-mimalloc gc msgbuf .. (Box, global = mimalloc)
//!                          └─ tricolor-worker-system gc msgbuf ..   (Box, global = glibc)
//!   each prints one JSON line (report.rs: WorkerRecord)
//! ```
//!
//! A worker binary differs from the others only in its `#[global_allocator]`,
//! so peak RSS (the process's `VmHWM`) compares whole processes. The
//! parent finds the worker binaries next to its own executable
//! (`cargo build --release -p tricolor-cli` builds all of them).
//!
//! # Modules
//!
//! - `cli.rs` — the command line (clap), and `run`, the dispatcher.
//! - `units.rs` — sizes, durations, seeds and weighted mixes as typed.
//! - `stress.rs`, `graph.rs`, `shadow.rs`, `board.rs`, `crash.rs` — the
//!   stress command.
//! - `bench.rs`, `worker.rs`, `workloads/` — the benchmarks.
//! - `latency.rs` (hdrhistogram summaries), `mmu.rs` (minimum mutator
//!   utilisation, percentiles), `report.rs` (records and their printing),
//!   `plot.rs` (SVG figures), `demo.rs`.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod bench;
mod board;
pub mod cli;
mod crash;
mod demo;
mod graph;
pub mod latency;
pub mod mmu;
pub mod plot;
pub mod report;
mod shadow;
pub mod stress;
pub mod units;
pub mod worker;
pub mod workloads;

pub use cli::run;
