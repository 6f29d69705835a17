//! `tricolor` with no command: a demo of about 30 seconds.
//!
//! 1. A verifying stress run (`stress.rs`) of 15 s over 24 MiB live with
//!    checkmark on.
//! 2. Three benchmarks (`bench.rs`), one run per variant, against Box +
//!    mimalloc and Box + glibc: `binary-trees` at depth 18 (allocation
//!    throughput and peak RSS), `msgbuf` at its reference size (200 000
//!    slots, 1 000 000 messages: worst and p99.9 store latency timed from
//!    outside) and `heartbeat` over 64 MiB live (the gaps a 1 ms heartbeat
//!    sees, and the MMU they imply).
//! 3. A verdict line: `PASS` if the stress run found nothing wrong and
//!    every benchmark's variants agreed on their checksums; `FAILED`
//!    naming the first problem otherwise (exit status 1); `INCOMPLETE` if
//!    the benchmarks could not run at all (a worker binary missing; exit
//!    status 2).
//!
//! `--small` shrinks everything to a few seconds (for tests), and `--json`
//! prints the stress and benchmark reports and the verdict as one object.

use crate::bench::{self, BenchOpts, BenchReport};
use crate::stress::{self, StressArgs, StressReport};
use crate::units::{fmt_ms, parse_duration};
use crate::workloads::{binary_trees, heartbeat, msgbuf, Workload};
use clap::Args;
use serde::Serialize;
use std::time::Duration;

#[derive(Args, Clone, Debug, PartialEq)]
pub struct DemoArgs {
    /// Length of the stress run.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub stress_duration: Duration,
    /// Tiny sizes everywhere (a few seconds in all).
    #[arg(long)]
    pub small: bool,
    /// Print the reports and the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            stress_duration: Duration::from_secs(15),
            small: false,
            json: false,
        }
    }
}

#[derive(Serialize)]
struct DemoReport {
    stress: StressReport,
    benches: Vec<BenchReport>,
    verdict: String,
    ok: bool,
}

fn workloads(small: bool) -> Vec<Workload> {
    let (depth, window, messages, live, ops) = if small {
        (8, 2_000, 10_000, 256 << 10, 2_000)
    } else {
        (18, 200_000, 1_000_000, 64 << 20, 200_000)
    };
    vec![
        Workload::BinaryTrees(binary_trees::Params { depth }),
        Workload::Msgbuf(msgbuf::Params { window, messages }),
        Workload::Heartbeat(heartbeat::Params {
            live,
            ops,
            period: Duration::from_millis(1),
        }),
    ]
}

/// One clause per benchmark for the verdict line.
fn clause(r: &BenchReport) -> String {
    let t = r.variant("tricolor");
    let mi = r.variant(bench::REFERENCE);
    match (t, r.workload.as_str()) {
        (Some(t), "msgbuf") => {
            let worst = |v: &bench::VariantReport| v.worst_latency_us.map_or(f64::NAN, |u| u / 1e3);
            format!(
                "msgbuf worst store {} (Box+mimalloc {})",
                fmt_ms(worst(t)),
                mi.map_or("-".into(), |m| fmt_ms(worst(m)))
            )
        }
        (Some(t), "heartbeat") => {
            let worst = |v: &bench::VariantReport| {
                v.representative
                    .as_ref()
                    .and_then(|r| r.heartbeat.as_ref())
                    .map_or(f64::NAN, |h| h.gaps.max_us / 1e3)
            };
            format!(
                "heartbeat worst gap {} (Box+mimalloc {})",
                fmt_ms(worst(t)),
                mi.map_or("-".into(), |m| fmt_ms(worst(m)))
            )
        }
        (Some(t), w) => format!(
            "{w} {:.2}× the time and {:.2}× the peak RSS of Box+mimalloc",
            t.time_vs_box_mimalloc.unwrap_or(f64::NAN),
            t.rss_vs_box_mimalloc.unwrap_or(f64::NAN)
        ),
        (None, w) => format!("{w}: no tricolor result"),
    }
}

/// `tricolor` / `tricolor demo`: returns the exit status.
pub fn main(d: &DemoArgs) -> i32 {
    if !d.json {
        println!(
            "tricolor demo: a verifying stress run of the collector ({} s), then GC benchmarks \
             against Box + mimalloc and Box + glibc.\n",
            d.stress_duration.as_secs_f64()
        );
    }
    let sa = StressArgs {
        duration: d.stress_duration,
        live: if d.small { 1 << 20 } else { 24 << 20 },
        quiet: d.json,
        ..StressArgs::default()
    };
    let s = match stress::run_stress(&sa) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if !d.json {
        stress::print_report(&s);
        println!();
    }
    let mut benches = Vec::new();
    let mut incomplete = None;
    for w in workloads(d.small) {
        match bench::measure(&w, &BenchOpts::default()) {
            Ok(r) => {
                if !d.json {
                    bench::print_report(&r);
                    println!();
                }
                benches.push(r);
            }
            Err(e) => {
                incomplete = Some(e);
                break;
            }
        }
    }
    let stress_part = match &s.failure {
        None => format!(
            "stress verified {} objects over {} collector cycles (max pause {})",
            s.objects_verified,
            s.gc.cycles,
            fmt_ms(s.gc.pause_max_ms)
        ),
        Some(f) => format!("stress: {f}"),
    };
    let bad_bench = benches.iter().find(|b| !b.ok);
    let (verdict, code) = if !s.ok {
        (format!("FAILED: {stress_part}"), 1)
    } else if let Some(b) = bad_bench {
        (
            format!("FAILED: {} variants disagree or a run failed", b.workload),
            1,
        )
    } else if let Some(e) = incomplete {
        (
            format!("INCOMPLETE: {stress_part}; benchmarks not run: {e}"),
            2,
        )
    } else {
        let parts: Vec<String> = benches.iter().map(clause).collect();
        (format!("PASS: {stress_part}; {}", parts.join("; ")), 0)
    };
    if d.json {
        let r = DemoReport {
            stress: s,
            benches,
            verdict: verdict.clone(),
            ok: code == 0,
        };
        match serde_json::to_string(&r) {
            Ok(j) => println!("{j}"),
            Err(e) => eprintln!("error: cannot encode the report: {e}"),
        }
    } else {
        println!("verdict: {verdict}");
    }
    code
}
