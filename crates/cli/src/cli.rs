//! The command line: clap's derive types, and [`run`], which dispatches.
//!
//! ```text
//! tricolor                         the demo (demo.rs)
//! tricolor stress [options]        stress.rs
//! tricolor bench <workload> [..]   bench.rs; <workload> is a GC workload
//!                                  (workloads/) or `alloc` (the allocator suite)
//! tricolor demo [--small]          the demo, with options
//! tricolor worker gc|alloc ..      hidden: one run in this process (worker.rs)
//! ```
//!
//! Errors a person can act on end the program with one clear line and a
//! non-zero status: clap reports unknown commands and workloads, malformed
//! values and out-of-range numbers (status 2); sizes are checked against
//! this machine after parsing (`validate` in stress.rs and the workloads,
//! status 2). Run failures (verification, checksums) are status 1.

use crate::bench::{self, AllocArgs, Baseline, BenchOpts};
use crate::demo::{self, DemoArgs};
use crate::stress::{self, StressArgs};
use crate::worker::{self, Runtime, WorkerCmd};
use crate::workloads::Workload;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "tricolor",
    version,
    about = "tricolor's collector, verified and measured",
    long_about = "tricolor's collector, verified and measured.\n\n\
        Without a command, runs a demo of about 30 seconds: a short verifying stress run \
        and a benchmark summary against Box + mimalloc and Box + glibc."
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run mutator threads over a randomly mutated heap and verify every
    /// reachable object against a shadow model.
    Stress(StressArgs),
    /// Benchmark a workload on the collected heap against Box baselines,
    /// each in its own process.
    Bench(BenchArgs),
    /// The demo that `tricolor` alone runs.
    Demo(DemoArgs),
    /// Run one benchmark in this process (used by `tricolor bench`).
    #[command(hide = true)]
    Worker {
        #[command(subcommand)]
        cmd: WorkerCmd,
    },
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub workload: BenchWorkload,
    /// Runs per variant; the report shows the median time.
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Print the results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Draw the pause histogram and the MMU curve into this SVG file.
    #[arg(long, global = true)]
    pub plot: Option<PathBuf>,
    /// Baselines to run beside tricolor.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "box-mimalloc,box-system"
    )]
    pub baselines: Vec<Baseline>,
}

#[derive(Subcommand, Debug)]
pub enum BenchWorkload {
    #[command(flatten)]
    Gc(Workload),
    /// The allocator suite (tricolor-alloc-bench): tricolor, mimalloc,
    /// jemalloc and glibc, one process per run.
    Alloc(AllocArgs),
}

/// Parse the process's arguments and run; returns the exit status.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.cmd {
        None => demo::main(&DemoArgs::default()),
        Some(Cmd::Demo(d)) => demo::main(&d),
        Some(Cmd::Stress(a)) => stress::main(&a),
        Some(Cmd::Bench(b)) => {
            let o = BenchOpts {
                runs: b.runs,
                json: b.json,
                plot: b.plot,
                baselines: b.baselines,
            };
            match b.workload {
                BenchWorkload::Gc(w) => bench::main_gc(&w, &o),
                BenchWorkload::Alloc(a) => bench::main_alloc(&a, &o),
            }
        }
        // The `tricolor` binary's global allocator is tricolor's `Malloc`
        // (main.rs), which is what the alloc suite's "tricolor" column means.
        Some(Cmd::Worker { cmd }) => {
            worker::run(&cmd, Runtime::Tricolor, &tricolor_heap::Malloc, "tricolor")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("tricolor").chain(args.iter().copied()))
    }

    #[test]
    fn parses_and_refuses() {
        assert!(parse(&[]).unwrap().cmd.is_none());
        let c = parse(&["bench", "binary-trees", "--depth", "10", "--runs", "3"]).unwrap();
        let Some(Cmd::Bench(b)) = c.cmd else {
            panic!("bench")
        };
        assert_eq!(b.runs, 3);
        assert_eq!(b.baselines, [Baseline::BoxMimalloc, Baseline::BoxSystem]);
        assert!(parse(&["bench", "--json", "msgbuf-ptr", "--window", "10"]).is_ok());
        assert!(parse(&["bench", "alloc", "larson", "--scale", "0.1"]).is_ok());
        assert!(parse(&["bench", "nope"]).is_err());
        assert!(parse(&["bench", "alloc", "nope"]).is_err());
        assert!(parse(&["bench", "binary-trees", "--depth", "99"]).is_err());
        assert!(parse(&["bench", "msgbuf", "--window", "0"]).is_err());
        assert!(parse(&["stress", "--live", "lots"]).is_err());
        assert!(parse(&["stress", "--mix", "alloc=1,teleport=3"]).is_err());
        assert!(parse(&["stress", "--threads", "0"]).is_err());
        assert!(parse(&["stress", "--live", "1M", "-t", "2", "-d", "2s", "--seed", "0x5"]).is_ok());
        assert!(parse(&["worker", "gc", "gcbench", "--depth", "8"]).is_ok());
        assert!(parse(&["worker", "alloc", "larson", "--scale", "0.1"]).is_ok());
    }
}
