//! `tricolor bench`: the parent side. Runs every variant of a workload in
//! its own process and compares them.
//!
//! For a GC workload (`workloads/`):
//!
//! 1. Find the workers: `tricolor` itself (hidden `worker gc …` command:
//!    the collected heap) and, for each baseline, `tricolor-worker-<alloc>`
//!    next to the running executable (`Box` on that global allocator). A
//!    missing worker binary is an error that says how to build it.
//! 2. `runs` times, for each variant in turn (interleaved, so drift in the
//!    machine's state hits every variant alike): start the worker, parse its
//!    JSON line (`report.rs`'s `WorkerRecord`).
//! 3. Per variant: the median time, the maximum peak RSS, and the run with
//!    the median time as the representative for latency, heartbeat and
//!    collector figures (plus the worst maximum latency over all runs).
//! 4. Check that every run of every variant produced the same checksum.
//! 5. Report time and peak RSS as ratios to `box-mimalloc`, latency from
//!    outside beside the collector's pauses, as a table or JSON; draw the
//!    figure if asked (`plot.rs`).
//!
//! Exit status 1 if a run failed or the checksums disagree.
//!
//! `bench alloc` hands the allocator suite (tricolor-alloc-bench) the same
//! worker binaries as its whole-process runners (`suite::measure_with`),
//! with tricolor, mimalloc, jemalloc and the system allocator.

use crate::mmu::percentile;
use crate::plot::PlotData;
use crate::report::WorkerRecord;
use crate::units::{fmt_bytes, fmt_ms};
use crate::workloads::Workload;
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use tricolor_alloc_bench::suite::{self, Runner, SuiteArgs};

/// The variant ratios are taken against.
pub const REFERENCE: &str = "box-mimalloc";

/// A baseline: the workload on `Box` under one global allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Baseline {
    BoxMimalloc,
    BoxSystem,
    BoxJemalloc,
}

impl Baseline {
    fn allocator(self) -> &'static str {
        match self {
            Baseline::BoxMimalloc => "mimalloc",
            Baseline::BoxSystem => "system",
            Baseline::BoxJemalloc => "jemalloc",
        }
    }
}

/// Options common to every `bench` workload.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchOpts {
    pub runs: u32,
    pub json: bool,
    pub plot: Option<PathBuf>,
    pub baselines: Vec<Baseline>,
}

impl Default for BenchOpts {
    fn default() -> Self {
        BenchOpts {
            runs: 1,
            json: false,
            plot: None,
            baselines: vec![Baseline::BoxMimalloc, Baseline::BoxSystem],
        }
    }
}

/// How to start one variant's worker.
#[derive(Clone, Debug)]
struct Launcher {
    variant: String,
    program: PathBuf,
    prefix: Vec<String>,
}

/// The binary `name` next to the running executable.
pub fn sibling(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot locate the tricolor executable: {e}"))?;
    let dir = exe
        .parent()
        .ok_or_else(|| format!("{} has no directory", exe.display()))?;
    let p = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "the benchmark worker {} is missing; it is built with the tricolor binary: \
             cargo build --release -p tricolor-cli",
            p.display()
        ))
    }
}

fn own_exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("cannot locate the tricolor executable: {e}"))
}

fn launchers(baselines: &[Baseline]) -> Result<Vec<Launcher>, String> {
    let mut v = vec![Launcher {
        variant: "tricolor".into(),
        program: own_exe()?,
        prefix: vec!["worker".into(), "gc".into()],
    }];
    for b in baselines {
        v.push(Launcher {
            variant: format!("box-{}", b.allocator()),
            program: sibling(&format!("tricolor-worker-{}", b.allocator()))?,
            prefix: vec!["gc".into()],
        });
    }
    Ok(v)
}

fn run_worker(l: &Launcher, args: &[String]) -> Result<WorkerRecord, String> {
    let out = Command::new(&l.program)
        .args(&l.prefix)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", l.program.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "{} {}: {}\n{}",
            l.variant,
            args.join(" "),
            out.status,
            stderr.trim_end()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str::<WorkerRecord>(line).ok())
        .ok_or_else(|| format!("{}: no result line in its output {stdout:?}", l.variant))
}

/// One variant's results.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VariantReport {
    pub variant: String,
    pub median_seconds: f64,
    pub max_peak_rss_kib: u64,
    pub time_vs_box_mimalloc: Option<f64>,
    pub rss_vs_box_mimalloc: Option<f64>,
    pub checksum: Option<String>,
    /// Every run's time.
    pub seconds: Vec<f64>,
    /// The run with the median time.
    pub representative: Option<WorkerRecord>,
    /// The largest per-operation latency over all runs (µs).
    pub worst_latency_us: Option<f64>,
    pub error: Option<String>,
}

/// A workload's results.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BenchReport {
    pub workload: String,
    pub params: String,
    pub runs: u32,
    pub variants: Vec<VariantReport>,
    pub checksums_agree: bool,
    pub ok: bool,
}

impl BenchReport {
    pub fn variant(&self, name: &str) -> Option<&VariantReport> {
        self.variants.iter().find(|v| v.variant == name)
    }
}

/// Steps 1–4.
pub fn measure(w: &Workload, o: &BenchOpts) -> Result<BenchReport, String> {
    w.validate()?;
    let ls = launchers(&o.baselines)?;
    let args = w.to_args();
    let mut records: Vec<Vec<Result<WorkerRecord, String>>> = vec![Vec::new(); ls.len()];
    for run in 0..o.runs {
        for (i, l) in ls.iter().enumerate() {
            let r = run_worker(l, &args);
            match &r {
                Ok(rec) => eprintln!(
                    "{:<13} {:<13} run {}/{}: {:.3} s, peak RSS {}",
                    w.name(),
                    l.variant,
                    run + 1,
                    o.runs,
                    rec.seconds,
                    fmt_bytes(rec.peak_rss_kib as usize * 1024)
                ),
                Err(e) => eprintln!("{e}"),
            }
            records[i].push(r);
        }
    }
    let mut variants: Vec<VariantReport> = ls
        .iter()
        .zip(records)
        .map(|(l, runs)| summarise(&l.variant, runs))
        .collect();
    let reference = variants
        .iter()
        .find(|v| v.variant == REFERENCE && v.error.is_none())
        .map(|v| (v.median_seconds, v.max_peak_rss_kib));
    for v in &mut variants {
        if let (Some((t, r)), None) = (reference, &v.error) {
            v.time_vs_box_mimalloc = Some(v.median_seconds / t);
            v.rss_vs_box_mimalloc = Some(v.max_peak_rss_kib as f64 / r.max(1) as f64);
        }
    }
    let first = variants.iter().find_map(|v| v.checksum.clone());
    let checksums_agree = first.is_some()
        && variants
            .iter()
            .all(|v| v.error.is_none() && v.checksum == first);
    Ok(BenchReport {
        workload: w.name().into(),
        params: w.describe(),
        runs: o.runs,
        ok: checksums_agree,
        checksums_agree,
        variants,
    })
}

fn summarise(variant: &str, runs: Vec<Result<WorkerRecord, String>>) -> VariantReport {
    let error = runs.iter().find_map(|r| r.as_ref().err().cloned());
    let mut ok: Vec<WorkerRecord> = runs.into_iter().filter_map(Result::ok).collect();
    ok.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let seconds: Vec<f64> = ok.iter().map(|r| r.seconds).collect();
    let checksum = ok
        .first()
        .map(|r| r.checksum.clone())
        .filter(|c| ok.iter().all(|r| &r.checksum == c));
    VariantReport {
        variant: variant.into(),
        median_seconds: percentile(&seconds, 50.0),
        max_peak_rss_kib: ok.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0),
        time_vs_box_mimalloc: None,
        rss_vs_box_mimalloc: None,
        checksum: if error.is_none() { checksum } else { None },
        worst_latency_us: ok
            .iter()
            .filter_map(|r| r.latency.as_ref().map(|l| l.max_us))
            .reduce(f64::max),
        representative: ok.get((ok.len().max(1) - 1) / 2).cloned(),
        seconds,
        error,
    }
}

fn ratio(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{x:.2}"))
}

/// Step 5, for a person.
pub fn print_report(r: &BenchReport) {
    println!(
        "{} ({}): {} run{} per variant, median time, max peak RSS; ratios to {REFERENCE}",
        r.workload,
        r.params,
        r.runs,
        if r.runs == 1 { "" } else { "s" }
    );
    println!(
        "  {:<14} {:>9} {:>8} {:>13} {:>8}   checksum",
        "variant", "time s", "t/mi", "peak RSS MiB", "rss/mi"
    );
    for v in &r.variants {
        if let Some(e) = &v.error {
            println!(
                "  {:<14} FAILED: {}",
                v.variant,
                e.lines().next().unwrap_or("")
            );
            continue;
        }
        println!(
            "  {:<14} {:>9.3} {:>8} {:>13.1} {:>8}   {}",
            v.variant,
            v.median_seconds,
            ratio(v.time_vs_box_mimalloc),
            v.max_peak_rss_kib as f64 / 1024.0,
            ratio(v.rss_vs_box_mimalloc),
            v.checksum.as_deref().unwrap_or("(runs disagree)")
        );
    }
    println!(
        "  checksums: {}",
        if r.checksums_agree {
            "every run of every variant agrees"
        } else {
            "MISMATCH or FAILED RUN"
        }
    );
    let reps = || {
        r.variants
            .iter()
            .filter_map(|v| v.representative.as_ref().map(|rep| (v, rep)))
    };
    if reps().any(|(_, rep)| rep.latency.is_some()) {
        println!("  latency of each operation, timed outside the collector:");
        println!(
            "  {:<14} {:>10} {:>10} {:>10} {:>10}",
            "variant", "p50", "p99", "p99.9", "max"
        );
        for (v, rep) in reps() {
            if let Some(l) = &rep.latency {
                println!(
                    "  {:<14} {:>10} {:>10} {:>10} {:>10}",
                    v.variant,
                    fmt_ms(l.p50_us / 1e3),
                    fmt_ms(l.p99_us / 1e3),
                    fmt_ms(l.p999_us / 1e3),
                    fmt_ms(v.worst_latency_us.unwrap_or(l.max_us) / 1e3)
                );
            }
        }
    }
    if reps().any(|(_, rep)| rep.heartbeat.is_some()) {
        println!("  heartbeat gaps, seen from outside (MMU from the gaps):");
        println!(
            "  {:<14} {:>10} {:>10} {:>10}   MMU",
            "variant", "p50", "p99", "max"
        );
        for (v, rep) in reps() {
            if let Some(h) = &rep.heartbeat {
                println!(
                    "  {:<14} {:>10} {:>10} {:>10}   {}",
                    v.variant,
                    fmt_ms(h.gaps.p50_us / 1e3),
                    fmt_ms(h.gaps.p99_us / 1e3),
                    fmt_ms(h.gaps.max_us / 1e3),
                    h.mmu.line()
                );
            }
        }
    }
    for (v, rep) in reps() {
        if let Some(g) = &rep.gc {
            println!("  collector ({}): {}", v.variant, g.line());
        }
    }
}

/// The figure for a report: the collector's pauses and MMU beside the
/// outside measurements of every variant.
pub fn plot_data(r: &BenchReport) -> PlotData {
    let mut d = PlotData {
        title: format!("tricolor bench {} ({})", r.workload, r.params),
        ..PlotData::default()
    };
    for v in &r.variants {
        let Some(rep) = &v.representative else {
            continue;
        };
        if let Some(g) = &rep.gc {
            d.histograms.push((
                format!("{} STW pauses (collector)", v.variant),
                g.pauses.buckets.clone(),
            ));
            d.mmu.push((
                format!("{}, from STW pauses", v.variant),
                g.mmu_curve.clone(),
            ));
        }
        if let Some(l) = &rep.latency {
            d.histograms.push((
                format!("{} per operation (outside)", v.variant),
                l.buckets.clone(),
            ));
        }
        if let Some(h) = &rep.heartbeat {
            d.histograms.push((
                format!("{} heartbeat gaps", v.variant),
                h.gaps.buckets.clone(),
            ));
            d.mmu.push((
                format!("{}, from heartbeat", v.variant),
                h.mmu_curve.clone(),
            ));
        }
    }
    d
}

/// `tricolor bench <gc workload>`: returns the exit status.
pub fn main_gc(w: &Workload, o: &BenchOpts) -> i32 {
    if let Some(Err(e)) = o.plot.as_deref().map(crate::plot::check_path) {
        eprintln!("error: {e}");
        return 2;
    }
    let r = match measure(w, o) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if o.json {
        match serde_json::to_string(&r) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: cannot encode the report: {e}"),
        }
    } else {
        print_report(&r);
    }
    if let Some(path) = &o.plot {
        match crate::plot::draw(path, &plot_data(&r)) {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    }
    if r.ok {
        0
    } else {
        1
    }
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

fn alloc_workloads() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(tricolor_alloc_bench::WORKLOADS.iter().map(|w| w.name))
}

/// `tricolor bench alloc`'s own arguments.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct AllocArgs {
    /// Allocator workloads to run [default: all]
    #[arg(value_parser = alloc_workloads())]
    pub workloads: Vec<String>,
    /// Iteration-count multiplier (1 takes about a second per run with glibc).
    #[arg(long, value_parser = parse_scale)]
    pub scale: Option<f64>,
    /// Worker threads of the multi-threaded workloads.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
}

/// The allocators of `bench alloc`, in report order.
const ALLOCATORS: [&str; 4] = ["tricolor", "mimalloc", "jemalloc", "system"];

/// `tricolor bench alloc`: returns the exit status.
pub fn main_alloc(a: &AllocArgs, o: &BenchOpts) -> i32 {
    if o.plot.is_some() {
        eprintln!("note: --plot draws GC pauses; the allocator suite has none, so no figure");
    }
    let runners = || -> Result<Vec<Runner>, String> {
        let mut v = vec![Runner {
            allocator: "tricolor".into(),
            program: own_exe()?,
            prefix: vec!["worker".into(), "alloc".into()],
        }];
        for name in &ALLOCATORS[1..] {
            v.push(Runner {
                allocator: (*name).into(),
                program: sibling(&format!("tricolor-worker-{name}"))?,
                prefix: vec!["alloc".into()],
            });
        }
        Ok(v)
    };
    let runners = match runners() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let s = SuiteArgs {
        workloads: if a.workloads.is_empty() {
            tricolor_alloc_bench::WORKLOADS
                .iter()
                .map(|w| w.name.to_string())
                .collect()
        } else {
            a.workloads.clone()
        },
        allocators: ALLOCATORS.iter().map(|s| s.to_string()).collect(),
        runs: o.runs as usize,
        scale: a.scale,
        threads: a.threads.map(|t| t as usize),
        json: o.json,
    };
    let cells = suite::measure_with(&s, &runners);
    let ok = if o.json {
        suite::print_json(&s, &cells)
    } else {
        suite::print_table(&s, &cells)
    };
    if ok {
        0
    } else {
        1
    }
}
