//! `tricolor stress`: a verifying stress run of the collector.
//!
//! # What runs
//!
//! - K **mutator threads** (`graph.rs`), each registered with one heap and
//!   owning a table of clusters, do batches of random mutations, one batch
//!   per mutation scope, and compare their graph with the shadow model
//!   (`shadow.rs`) continuously: on every walk, one whole cluster per
//!   batch, and a full pass over all their clusters after every collector
//!   cycle and at the end. Their share of the live target steers their
//!   mix. They share immutable trees through the board (`board.rs`).
//! - The **monitor** (this thread, not a mutator) samples `Heap::stats()`
//!   every 10 ms: it publishes the cycle count (which starts the threads'
//!   passes), checks that the heap stays bounded — `heap_bytes ≤ factor ×
//!   max(live, min_heap) + slack`, where `live` is the model's estimate,
//!   independent of the collector — for five samples in a row, tracks the
//!   peak, draws the progress bar and ends the run at the deadline.
//!
//! # Failure
//!
//! A thread that finds a difference (or panics) records the first failure
//! and stops everyone; the summary names it and the exit status is 1. If
//! the process dies instead — `checkmark` aborts it, or a dangling pointer
//! crashes it — `crash.rs` prints the verdict line on the way out.
//!
//! # Cost of checking
//!
//! `checkmark` is on by default: every cycle is followed by a re-mark of
//! the whole heap on one thread, with the world stopped, so pauses are
//! longer than without it (`--no-checkmark` measures the collector alone).
//! The passes read every live byte once per cycle.

use crate::board::Board;
use crate::graph::{Failure, Settings, TableR, ThreadGraph, OP_NAMES};
use crate::report::GcSummary;
use crate::shadow::SIZE_NAMES;
use crate::units::{
    fmt_bytes, fmt_ms, parse_duration, parse_mix, parse_seed, parse_size, physical_memory,
};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tricolor_gc::{Config, Heap};

/// The default operation mix.
pub const DEFAULT_MIX: &str = "alloc=30,link=8,swap=10,delete=14,move=8,park=3,resize=15,share=4";
/// The default payload size mix.
pub const DEFAULT_SIZES: &str = "inline=30,tiny=15,small=25,medium=18,large=10,huge=2";
/// A cluster's share of the live target: small enough to verify in one
/// short scope (tens of objects).
const CLUSTER_BYTES: usize = 64 << 10;
/// Bytes verified per scope during a pass, about.
const PASS_SCOPE_BYTES: usize = 256 << 10;
/// Smallest `--live`.
const MIN_LIVE: usize = 128 << 10;
/// The monitor's sampling period.
const TICK: Duration = Duration::from_millis(10);
/// Samples in a row above the bound before it counts as a failure (50 ms:
/// longer than a transient between a cycle's end and its sweep).
const BOUND_SAMPLES: u32 = 5;
/// Thread stacks: the huge payload (36 KiB) is built on the stack.
const STACK_BYTES: usize = 16 << 20;

/// Weights for a mix, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Mix(pub Vec<u32>);

fn parse_op_mix(s: &str) -> Result<Mix, String> {
    parse_mix(s, &OP_NAMES).map(Mix)
}

fn parse_size_mix(s: &str) -> Result<Mix, String> {
    parse_mix(s, &SIZE_NAMES).map(Mix)
}

#[derive(Args, Clone, Debug)]
pub struct StressArgs {
    /// Mutator threads [default: the available CPUs, at least 2]
    #[arg(long, short = 't', value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,
    /// Live heap the threads keep between them (e.g. 512k, 32M, 1G).
    #[arg(long, default_value = "32M", value_parser = parse_size)]
    pub live: usize,
    /// How long to run.
    #[arg(long, short = 'd', default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Run this many operations in all instead of for a duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub ops: Option<u64>,
    /// Mutation mix, as weights.
    #[arg(long, default_value = DEFAULT_MIX, value_parser = parse_op_mix)]
    pub mix: Mix,
    /// Payload size mix, as weights (inline 16 B; tiny 8 B, small 32 B,
    /// medium 256 B, large 4 KiB, huge 36 KiB objects).
    #[arg(long, default_value = DEFAULT_SIZES, value_parser = parse_size_mix)]
    pub size_mix: Mix,
    /// Operations per mutation scope.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,
    /// Seed of the threads' random choices (decimal or 0x hex) [default: from the clock]
    #[arg(long, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Turn off the collector's checkmark (re-marking after every cycle).
    #[arg(long)]
    pub no_checkmark: bool,
    /// The heap may hold at most this many times the live size (plus slack).
    #[arg(long, default_value_t = 4.0)]
    pub heap_factor: f64,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Draw the pause histogram and MMU curve into this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for StressArgs {
    fn default() -> Self {
        StressArgs {
            threads: None,
            live: 32 << 20,
            duration: Duration::from_secs(10),
            ops: None,
            mix: parse_op_mix(DEFAULT_MIX).unwrap_or(Mix(vec![1; OP_NAMES.len()])),
            size_mix: parse_size_mix(DEFAULT_SIZES).unwrap_or(Mix(vec![1; SIZE_NAMES.len()])),
            batch: 32,
            seed: None,
            no_checkmark: false,
            heap_factor: 4.0,
            json: false,
            plot: None,
            quiet: false,
        }
    }
}

/// The summary of a stress run.
#[derive(Clone, Debug, Serialize)]
pub struct StressReport {
    pub ok: bool,
    pub failure: Option<String>,
    pub threads: usize,
    pub seed: String,
    pub checkmark: bool,
    pub seconds: f64,
    pub ops: u64,
    pub op_counts: BTreeMap<String, u64>,
    pub objects_verified: u64,
    pub trees_verified: u64,
    pub passes: u64,
    pub live_target_bytes: usize,
    /// The model's estimate at the end.
    pub live_bytes: usize,
    pub peak_heap_bytes: usize,
    pub heap_factor: f64,
    pub gc: GcSummary,
}

/// What the threads and the monitor share.
struct Shared {
    stop: AtomicBool,
    cycles: AtomicU64,
    ops: AtomicU64,
    live: Vec<AtomicUsize>,
    running: AtomicUsize,
    failure: Mutex<Option<String>>,
    totals: Mutex<Totals>,
    bar: ProgressBar,
}

#[derive(Default)]
struct Totals {
    counts: [u64; 8],
    objects: u64,
    trees: u64,
    passes: u64,
}

impl Shared {
    /// Record the first failure and stop the run.
    fn fail(&self, msg: String) {
        let mut f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            self.bar
                .suspend(|| eprintln!("tricolor stress: verification FAILED: {msg}"));
            *f = Some(msg);
        }
        // Relaxed: the flag is polled; the failure itself is under the mutex.
        self.stop.store(true, Ordering::Relaxed);
    }

    fn failed(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Check the arguments against each other and this machine.
fn validate(a: &StressArgs) -> Result<(), String> {
    if a.live < MIN_LIVE {
        return Err(format!(
            "--live {} is too small for a stress run: at least {}",
            fmt_bytes(a.live),
            fmt_bytes(MIN_LIVE)
        ));
    }
    if !(a.heap_factor.is_finite() && a.heap_factor >= 1.5) {
        return Err(format!(
            "--heap-factor {} makes no sense: the heap needs room to grow (at least 1.5)",
            a.heap_factor
        ));
    }
    if let Some(mem) = physical_memory() {
        let need = a.live as f64 * a.heap_factor;
        if need > mem as f64 {
            return Err(format!(
                "impossible heap size: --live {} with --heap-factor {} allows a heap of {}, \
                 but this machine has {}",
                fmt_bytes(a.live),
                a.heap_factor,
                fmt_bytes(need as usize),
                fmt_bytes(mem)
            ));
        }
    }
    Ok(())
}

fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2)
}

fn progress(a: &StressArgs) -> ProgressBar {
    let (len, unit) = match a.ops {
        Some(n) => (n, "ops"),
        None => (a.duration.as_millis() as u64, "ms"),
    };
    if a.quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template =
        format!("{{spinner}} [{{elapsed_precise}}] {{bar:24}} {{pos}}/{{len}} {unit} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// Run the stress test; prints progress and failures on stderr. Returns
/// the report, or a usage error.
pub fn run_stress(a: &StressArgs) -> Result<StressReport, String> {
    validate(a)?;
    let threads = a.threads.map_or_else(default_threads, |t| t as usize);
    let seed = a.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        tricolor_alloc_bench::rng::mix(t.as_nanos() as u64)
    });
    crate::crash::install();

    let mut config = Config::default();
    config.debug.checkmark = !a.no_checkmark;
    let checkmark = config.debug.checkmark;
    let min_heap = config.min_heap;
    let heap = Heap::new(config);

    let target = a.live / threads;
    let clusters = (target / CLUSTER_BYTES).clamp(2, 1 << 16);
    let settings = Settings {
        clusters,
        target,
        cluster_cap: 4 * (target / clusters).max(4096),
        batch: a.batch as usize,
        op_weights: a.mix.0.clone(),
        size_weights: a.size_mix.0.clone(),
        verify_per_scope: (PASS_SCOPE_BYTES / (target / clusters).max(1)).max(1),
    };
    let board = Board::new(threads * 4);
    let shared = Shared {
        stop: AtomicBool::new(false),
        cycles: AtomicU64::new(0),
        ops: AtomicU64::new(0),
        live: (0..threads).map(|_| AtomicUsize::new(0)).collect(),
        running: AtomicUsize::new(threads),
        failure: Mutex::new(None),
        totals: Mutex::new(Totals::default()),
        bar: progress(a),
    };
    let per_thread_ops = a.ops.map(|n| n.div_ceil(threads as u64));

    let before = heap.stats().uptime;
    let start = Instant::now();
    let mut peak_heap = 0usize;
    std::thread::scope(|s| {
        for i in 0..threads {
            let (heap, settings, board, shared) = (&heap, &settings, &board, &shared);
            let spawned = std::thread::Builder::new()
                .name(format!("stress-{i}"))
                .stack_size(STACK_BYTES)
                .spawn_scoped(s, move || {
                    mutator(i, seed, heap, settings, board, shared, per_thread_ops)
                });
            if let Err(e) = spawned {
                shared.fail(format!("cannot start thread {i}: {e}"));
                shared.running.fetch_sub(1, Ordering::Relaxed);
            }
        }
        peak_heap = monitor(a, &heap, &shared, threads, min_heap, start);
    });
    let seconds = start.elapsed().as_secs_f64();
    shared.bar.finish_and_clear();
    board.clear();

    let stats = heap.stats();
    let gc = GcSummary::from_stats(&stats, before, stats.uptime);
    let totals = shared.totals.lock().unwrap_or_else(|e| e.into_inner());
    let failure = shared.failed();
    if failure.is_some() {
        // The heap is known to be damaged: tearing it down (running the
        // destructors of whatever it thinks is allocated) could crash
        // before the report is printed. The process ends soon anyway.
        std::mem::forget(heap);
    }
    Ok(StressReport {
        ok: failure.is_none(),
        failure,
        threads,
        seed: format!("{seed:#x}"),
        checkmark,
        seconds,
        // Relaxed: the threads have been joined.
        ops: shared.ops.load(Ordering::Relaxed),
        op_counts: OP_NAMES
            .iter()
            .zip(totals.counts)
            .map(|(n, c)| (n.to_string(), c))
            .collect(),
        objects_verified: totals.objects,
        trees_verified: totals.trees,
        passes: totals.passes,
        live_target_bytes: a.live,
        live_bytes: shared.live.iter().map(|l| l.load(Ordering::Relaxed)).sum(),
        peak_heap_bytes: peak_heap.max(gc.peak_heap_bytes),
        heap_factor: a.heap_factor,
        gc,
    })
}

/// One mutator thread's life.
fn mutator(
    i: usize,
    seed: u64,
    heap: &Heap,
    settings: &Settings,
    board: &Board,
    sh: &Shared,
    ops_limit: Option<u64>,
) {
    let mut g = ThreadGraph::new(i, seed, settings, board);
    let mut m = heap.mutator::<TableR>(|mc| crate::graph::Table::new(mc, i, settings.clusters));
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| -> Result<(), Failure> {
        let mut seen = 0;
        let mut done = 0;
        // Relaxed (all loads and stores here): the flags and counters
        // publish no data; the failure text travels under a mutex.
        while !sh.stop.load(Ordering::Relaxed) {
            if ops_limit.is_some_and(|n| done >= n) && !g.in_pass() {
                break;
            }
            let cycles = sh.cycles.load(Ordering::Relaxed);
            if cycles != seen {
                seen = cycles;
                g.start_pass();
            }
            let n = m.mutate(|mc, t| g.batch(mc, *t))?;
            done += n;
            sh.ops.fetch_add(n, Ordering::Relaxed);
            sh.live[i].store(g.live, Ordering::Relaxed);
        }
        if sh.failed().is_none() {
            // Finish any pass under way, then one more over everything.
            while g.in_pass() {
                m.mutate(|mc, t| g.batch(mc, *t))?;
            }
            g.start_pass();
            while g.in_pass() {
                m.mutate(|mc, t| g.batch(mc, *t))?;
            }
        }
        Ok(())
    }));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(f)) => sh.fail(f.0),
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            sh.fail(format!("thread {i} panicked: {what}"));
        }
    }
    g.release();
    {
        let mut t = sh.totals.lock().unwrap_or_else(|e| e.into_inner());
        for (a, b) in t.counts.iter_mut().zip(g.counts) {
            *a += b;
        }
        t.objects += g.verified_objects;
        t.trees += g.verified_trees;
        t.passes += g.passes;
    }
    drop(m);
    sh.running.fetch_sub(1, Ordering::Relaxed);
}

/// The monitor loop (see the module docs); returns the peak heap sampled.
fn monitor(
    a: &StressArgs,
    heap: &Heap,
    sh: &Shared,
    threads: usize,
    min_heap: usize,
    start: Instant,
) -> usize {
    let slack = (8 << 20) + threads * (4 << 20);
    let mut peak = 0;
    let mut over = 0;
    let mut last_draw = Instant::now();
    // Relaxed throughout: see `mutator`.
    while sh.running.load(Ordering::Relaxed) > 0 {
        std::thread::sleep(TICK);
        let st = heap.stats();
        sh.cycles.store(st.cycles, Ordering::Relaxed);
        let live: usize = sh.live.iter().map(|l| l.load(Ordering::Relaxed)).sum();
        let bound = (a.heap_factor * live.max(min_heap) as f64) as usize + slack;
        peak = peak.max(st.heap_bytes);
        if st.heap_bytes > bound {
            over += 1;
            if over == BOUND_SAMPLES {
                sh.fail(format!(
                    "the heap is not bounded: it holds {} for {} live ({}× live + {} slack = {}) \
                     for {} ms in a row",
                    fmt_bytes(st.heap_bytes),
                    fmt_bytes(live),
                    a.heap_factor,
                    fmt_bytes(slack),
                    fmt_bytes(bound),
                    BOUND_SAMPLES * TICK.as_millis() as u32
                ));
            }
        } else {
            over = 0;
        }
        let elapsed = start.elapsed();
        if a.ops.is_none() && elapsed >= a.duration {
            sh.stop.store(true, Ordering::Relaxed);
        }
        if last_draw.elapsed() >= Duration::from_millis(100) {
            last_draw = Instant::now();
            let ops = sh.ops.load(Ordering::Relaxed);
            sh.bar.set_position(match a.ops {
                Some(_) => ops,
                None => (elapsed.as_millis() as u64).min(a.duration.as_millis() as u64),
            });
            sh.bar.set_message(format!(
                "| cycles {} | heap {:.1} MB | live {:.1} MB | last pause {} | {} ops",
                st.cycles,
                st.heap_bytes as f64 / 1e6,
                st.live_bytes as f64 / 1e6,
                fmt_ms(st.last_pause.as_secs_f64() * 1e3),
                ops
            ));
        }
    }
    peak
}

/// Print the report for a person.
pub fn print_report(r: &StressReport) {
    let total = r.ops.max(1) as f64;
    let mix: Vec<String> = r
        .op_counts
        .iter()
        .filter(|(_, &c)| c > 0)
        .map(|(n, &c)| format!("{n} {:.0}%", 100.0 * c as f64 / total))
        .collect();
    let g = &r.gc;
    println!("tricolor stress: {}", if r.ok { "PASS" } else { "FAILED" });
    println!(
        "  run           {} threads, {:.1} s, seed {}, checkmark {}",
        r.threads,
        r.seconds,
        r.seed,
        if r.checkmark { "on" } else { "off" }
    );
    println!("  operations    {} ({})", r.ops, mix.join(", "));
    println!(
        "  verified      {} objects, {} shared trees, {} full passes",
        r.objects_verified, r.trees_verified, r.passes
    );
    println!(
        "  collector     {} cycles; STW pauses max {}, p99 {}, p50 {} (total {}); to safepoint max {}",
        g.cycles,
        fmt_ms(g.pause_max_ms),
        fmt_ms(g.pause_p99_ms),
        fmt_ms(g.pause_p50_ms),
        fmt_ms(g.pause_total_ms),
        fmt_ms(g.to_safepoint_max_ms)
    );
    println!("  MMU           {}", g.mmu.line());
    println!(
        "  heap          peak {}, live {} at the end (target {}, bound {}× live)",
        fmt_bytes(r.peak_heap_bytes),
        fmt_bytes(r.live_bytes),
        fmt_bytes(r.live_target_bytes),
        r.heap_factor
    );
    match &r.failure {
        None => println!(
            "  verdict       PASS: every reachable object intact, heap within {}× the live size",
            r.heap_factor
        ),
        Some(f) => println!("  verdict       FAILED: {f}"),
    }
}

/// `tricolor stress`: returns the exit status.
pub fn main(a: &StressArgs) -> i32 {
    if let Some(Err(e)) = a.plot.as_deref().map(crate::plot::check_path) {
        eprintln!("error: {e}");
        return 2;
    }
    let r = match run_stress(a) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if a.json {
        match serde_json::to_string(&r) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: cannot encode the report: {e}"),
        }
    } else {
        print_report(&r);
    }
    if let Some(path) = &a.plot {
        let data = crate::plot::PlotData::from_gc("tricolor stress", &r.gc);
        if let Err(e) = crate::plot::draw(path, &data) {
            eprintln!("error: {e}");
            return 1;
        }
    }
    if r.ok {
        0
    } else {
        1
    }
}
