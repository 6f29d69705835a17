//! The child side of `tricolor bench`: run one workload once, in this
//! process, and print one JSON line.
//!
//! Three kinds of worker process, which differ in their global allocator:
//!
//! | process                              | GC workloads run on       | alloc suite as |
//! |--------------------------------------|---------------------------|----------------|
//! | `tricolor worker …` (hidden command) | the collected heap (`Gc`) | `tricolor`     |
//! | `tricolor-worker-mimalloc …`         | `Box` + mimalloc          | `mimalloc`     |
//! | `tricolor-worker-system …`           | `Box` + glibc malloc      | `system`       |
//! | `tricolor-worker-jemalloc …`         | `Box` + jemalloc          | `jemalloc`     |
//!
//! Command line (the same for all): `gc <workload> [params]` prints a
//! [`WorkerRecord`]; `alloc <workload> [--scale X] [--threads N]` runs a
//! tricolor-alloc-bench workload through its own whole-process runner
//! (`tricolor_alloc_bench::process::run_process`) and prints that crate's
//! line, which `alloc-suite`'s driver parses.
//!
//! Steps for `gc`:
//! 1. make the heap (`Config::default()`, so `TRICOLOR_GOGC` and
//!    `TRICOLOR_DEBUG` apply) and read its uptime;
//! 2. run the workload, timing it with a monotonic clock;
//! 3. read the collector's statistics over the run (`report.rs`) and the
//!    process's peak RSS, and print the record.

use crate::report::{GcSummary, WorkerRecord};
use crate::workloads::Workload;
use clap::{Parser, Subcommand};
use core::alloc::GlobalAlloc;
use std::time::Instant;
use tricolor_gc::{Config, Heap};

/// A worker's command line.
#[derive(Parser, Debug)]
#[command(
    name = "tricolor-worker",
    about = "Runs one benchmark in this process (used by `tricolor bench`)"
)]
pub struct WorkerCli {
    #[command(subcommand)]
    pub cmd: WorkerCmd,
}

#[derive(Subcommand, Clone, Debug, PartialEq)]
pub enum WorkerCmd {
    /// A GC workload: prints one JSON record.
    #[command(subcommand)]
    Gc(Workload),
    /// An allocator-suite workload: `<workload> [--scale X] [--threads N]`.
    Alloc {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
}

/// What runs the GC workload in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// The collected heap.
    Tricolor,
    /// `Box` on the global allocator named here.
    Boxed(&'static str),
}

impl Runtime {
    pub fn variant(self) -> String {
        match self {
            Runtime::Tricolor => "tricolor".into(),
            Runtime::Boxed(a) => format!("box-{a}"),
        }
    }
}

/// Run one GC workload and build its record.
pub fn run_gc_workload(w: &Workload, rt: Runtime) -> WorkerRecord {
    let (out, seconds, gc) = match rt {
        Runtime::Tricolor => {
            let heap = Heap::new(Config::default());
            let before = heap.stats().uptime;
            let start = Instant::now();
            let out = w.run_gc(&heap);
            let seconds = start.elapsed().as_secs_f64();
            let stats = heap.stats();
            let gc = GcSummary::from_stats(&stats, before, stats.uptime);
            (out, seconds, Some(gc))
        }
        Runtime::Boxed(_) => {
            let start = Instant::now();
            let out = w.run_box();
            (out, start.elapsed().as_secs_f64(), None)
        }
    };
    WorkerRecord {
        workload: w.name().to_string(),
        variant: rt.variant(),
        params: w.describe(),
        seconds,
        peak_rss_kib: tricolor_alloc_bench::process::peak_rss_kib(),
        checksum: format!("{:#018x}", out.checksum),
        ops: out.ops,
        latency: out.latency,
        heartbeat: out.heartbeat,
        gc,
    }
}

/// Run `cmd` in this process, whose global allocator is `global` (named
/// `allocator` in alloc-suite records); returns the exit status.
pub fn run<A: GlobalAlloc + Sync>(
    cmd: &WorkerCmd,
    rt: Runtime,
    global: &A,
    allocator: &str,
) -> i32 {
    match cmd {
        WorkerCmd::Gc(w) => {
            if let Err(e) = w.validate() {
                eprintln!("error: {e}");
                return 2;
            }
            let rec = run_gc_workload(w, rt);
            match serde_json::to_string(&rec) {
                Ok(line) => {
                    println!("{line}");
                    0
                }
                Err(e) => {
                    eprintln!("error: cannot encode the record: {e}");
                    1
                }
            }
        }
        WorkerCmd::Alloc { args } => {
            match tricolor_alloc_bench::process::run_process(global, allocator, args) {
                Ok(line) => {
                    println!("{line}");
                    0
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    2
                }
            }
        }
    }
}

/// The `main` of a Box worker binary whose global allocator is `global`.
pub fn box_main<A: GlobalAlloc + Sync>(global: &A, allocator: &'static str) -> i32 {
    let cli = match WorkerCli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    run(&cli.cmd, Runtime::Boxed(allocator), global, allocator)
}
