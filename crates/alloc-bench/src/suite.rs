//! The suite driver: the body of the `alloc-suite` binary.
//!
//! For each selected workload, and `runs` times over each allocator binary
//! (interleaved, so drift in machine state hits every allocator alike):
//!
//! 1. run `alloc-bench-<allocator> <workload> [--scale X] [--threads N]`,
//!    found next to the driver's own executable, and parse its JSON line
//!    (other drivers, such as `tricolor bench alloc`, pass their own
//!    [`Runner`]s to [`measure_with`]);
//! 2. keep the median time and the maximum peak RSS over the runs;
//! 3. check that every run of every allocator produced the same checksum
//!    (for the workloads the registry marks deterministic: all of them);
//! 4. report time and RSS as ratios to mimalloc and to glibc (`system`), and
//!    the geometric mean of each ratio over the workloads, as a table or as
//!    JSON (`--json`).
//!
//! Exits with status 1 if any run failed or any checksum disagreed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{find, json, WORKLOADS};

/// The allocator binaries, in report order.
pub const ALLOCATORS: &[&str] = &["tricolor", "mimalloc", "jemalloc", "system"];
/// The baselines ratios are taken against.
const MIMALLOC: &str = "mimalloc";
const GLIBC: &str = "system";

#[derive(Debug, PartialEq)]
pub struct SuiteArgs {
    pub workloads: Vec<String>,
    pub allocators: Vec<String>,
    pub runs: usize,
    pub scale: Option<f64>,
    pub threads: Option<usize>,
    pub json: bool,
}

pub const USAGE: &str = "\
usage: alloc-suite [WORKLOAD...] [--runs R] [--scale X] [--threads N]
                   [--allocators a,b,..] [--json]
  Runs each workload (default: all) R times (default 3) with each allocator
  binary (default: tricolor,mimalloc,jemalloc,system) found next to this
  executable; build them with
    cargo build --release -p tricolor-alloc-bench --bins";

pub fn parse_args(args: &[String]) -> Result<SuiteArgs, String> {
    let mut s = SuiteArgs {
        workloads: Vec::new(),
        allocators: ALLOCATORS.iter().map(|a| a.to_string()).collect(),
        runs: 3,
        scale: None,
        threads: None,
        json: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value")).cloned();
        match a.as_str() {
            "--runs" => {
                s.runs = value("--runs")?.parse().map_err(|_| "bad --runs")?;
                if s.runs == 0 {
                    return Err("--runs must be at least 1".into());
                }
            }
            "--scale" => {
                let x: f64 = value("--scale")?.parse().map_err(|_| "bad --scale")?;
                if !(x > 0.0 && x.is_finite()) {
                    return Err("--scale must be positive".into());
                }
                s.scale = Some(x);
            }
            "--threads" => {
                s.threads = Some(value("--threads")?.parse().map_err(|_| "bad --threads")?)
            }
            "--allocators" => {
                s.allocators = value("--allocators")?
                    .split(',')
                    .map(str::to_string)
                    .collect();
            }
            "--json" => s.json = true,
            o if o.starts_with('-') => return Err(format!("unknown option {o}")),
            w if find(w).is_some() => s.workloads.push(w.to_string()),
            w => return Err(format!("unknown workload {w}")),
        }
    }
    if s.workloads.is_empty() {
        s.workloads = WORKLOADS.iter().map(|w| w.name.to_string()).collect();
    }
    Ok(s)
}

/// One process run's record.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub seconds: f64,
    pub peak_rss_kib: u64,
    pub checksum: String,
}

/// Parses the JSON line printed by `process_main`.
pub fn parse_sample(line: &str) -> Option<Sample> {
    Some(Sample {
        seconds: json::field(line, "seconds")?.parse().ok()?,
        peak_rss_kib: json::field(line, "peak_rss_kib")?.parse().ok()?,
        checksum: json::field(line, "checksum")?.to_string(),
    })
}

/// How to start one allocator's whole-process run: `program [prefix..]
/// <workload> [--scale X] [--threads N]` must print `process_main`'s JSON
/// line. `alloc-suite` runs `alloc-bench-<allocator>` next to itself
/// ([`default_runners`]); the `tricolor` CLI runs its own worker binaries.
#[derive(Clone, Debug, PartialEq)]
pub struct Runner {
    /// The name in the report; ratios are taken against `mimalloc` and
    /// `system`.
    pub allocator: String,
    pub program: PathBuf,
    pub prefix: Vec<String>,
}

/// The `alloc-bench-<allocator>` binaries in `dir`, for `a.allocators`.
pub fn default_runners(a: &SuiteArgs, dir: &Path) -> Vec<Runner> {
    a.allocators
        .iter()
        .map(|n| Runner {
            allocator: n.clone(),
            program: dir.join(format!("alloc-bench-{n}{}", std::env::consts::EXE_SUFFIX)),
            prefix: Vec::new(),
        })
        .collect()
}

fn run_once(runner: &Runner, workload: &str, a: &SuiteArgs) -> Result<Sample, String> {
    let bin = runner.program.as_path();
    let mut cmd = Command::new(bin);
    cmd.args(&runner.prefix).arg(workload);
    if let Some(x) = a.scale {
        cmd.arg("--scale").arg(x.to_string());
    }
    if let Some(t) = a.threads {
        cmd.arg("--threads").arg(t.to_string());
    }
    let out = cmd
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {workload}: {}\n{}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find_map(parse_sample)
        .ok_or_else(|| format!("{} {workload}: no result line in {stdout:?}", bin.display()))
}

/// One (workload, allocator) cell of the report.
#[derive(Clone, Debug)]
pub struct Cell {
    pub workload: String,
    pub allocator: String,
    /// Median over the runs; NaN if a run failed.
    pub seconds: f64,
    /// Maximum over the runs; 0 if a run failed.
    pub peak_rss_kib: u64,
    /// The checksum all runs agreed on, if they did.
    pub checksum: Option<String>,
    pub error: Option<String>,
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn geomean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs
        .filter(|x| x.is_finite() && *x > 0.0)
        .fold((0.0, 0u32), |(s, n), x| (s + x.ln(), n + 1));
    if n == 0 {
        f64::NAN
    } else {
        (sum / f64::from(n)).exp()
    }
}

/// Ratios of one cell to the baselines of its workload.
struct Ratios {
    time_mi: f64,
    time_glibc: f64,
    rss_mi: f64,
    rss_glibc: f64,
}

fn ratios(cells: &[Cell], c: &Cell) -> Ratios {
    let base = |name: &str| {
        cells
            .iter()
            .find(|b| b.workload == c.workload && b.allocator == name && b.error.is_none())
    };
    let r = |x: f64, b: Option<f64>| b.map_or(f64::NAN, |b| x / b);
    let (mi, gl) = (base(MIMALLOC), base(GLIBC));
    Ratios {
        time_mi: r(c.seconds, mi.map(|b| b.seconds)),
        time_glibc: r(c.seconds, gl.map(|b| b.seconds)),
        rss_mi: r(c.peak_rss_kib as f64, mi.map(|b| b.peak_rss_kib as f64)),
        rss_glibc: r(c.peak_rss_kib as f64, gl.map(|b| b.peak_rss_kib as f64)),
    }
}

/// Whether every allocator agreed on `workload`'s checksum. A workload the
/// registry marks nondeterministic only has to have run without errors.
fn agreement(cells: &[Cell], workload: &str) -> Result<String, String> {
    let mine: Vec<&Cell> = cells.iter().filter(|c| c.workload == workload).collect();
    if find(workload).is_some_and(|w| !w.deterministic) {
        return match mine.iter().find_map(|c| c.error.clone()) {
            None => Ok("not compared: nondeterministic workload".into()),
            Some(e) => Err(e),
        };
    }
    let first = mine.iter().find_map(|c| c.checksum.clone());
    match first {
        Some(sum) if mine.iter().all(|c| c.checksum.as_ref() == Some(&sum)) => Ok(sum),
        _ => Err(mine
            .iter()
            .map(|c| format!("{}={}", c.allocator, c.checksum.as_deref().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(" ")),
    }
}

fn fmt(x: f64, width: usize, prec: usize) -> String {
    if x.is_finite() {
        format!("{x:>width$.prec$}")
    } else {
        format!("{:>width$}", "-")
    }
}

/// Steps 1-3, with the binaries next to `dir`.
pub fn measure(a: &SuiteArgs, dir: &Path) -> Vec<Cell> {
    measure_with(a, &default_runners(a, dir))
}

/// Steps 1-3, with one runner per allocator, in `a.allocators`' order
/// (the report's tables iterate `a.allocators` and find cells by name).
pub fn measure_with(a: &SuiteArgs, bins: &[Runner]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for w in &a.workloads {
        let mut samples: Vec<Vec<Result<Sample, String>>> = vec![Vec::new(); bins.len()];
        for run in 0..a.runs {
            for (i, bin) in bins.iter().enumerate() {
                let s = run_once(bin, w, a);
                match &s {
                    Ok(s) => eprintln!(
                        "{w:<18} {:<9} run {}/{}: {:.3} s, {} KiB",
                        bins[i].allocator,
                        run + 1,
                        a.runs,
                        s.seconds,
                        s.peak_rss_kib
                    ),
                    Err(e) => eprintln!("{e}"),
                }
                samples[i].push(s);
            }
        }
        for (i, runs) in samples.into_iter().enumerate() {
            let error = runs.iter().find_map(|r| r.as_ref().err().cloned());
            let ok: Vec<Sample> = runs.into_iter().filter_map(Result::ok).collect();
            let mut times: Vec<f64> = ok.iter().map(|s| s.seconds).collect();
            let checksum = ok
                .first()
                .map(|s| s.checksum.clone())
                .filter(|c| error.is_none() && ok.iter().all(|s| &s.checksum == c));
            cells.push(Cell {
                workload: w.clone(),
                allocator: bins[i].allocator.clone(),
                seconds: if error.is_none() {
                    median(&mut times)
                } else {
                    f64::NAN
                },
                peak_rss_kib: ok.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0),
                checksum,
                error,
            });
        }
    }
    cells
}

/// Step 4, as a table. Returns whether every checksum agreed.
pub fn print_table(a: &SuiteArgs, cells: &[Cell]) -> bool {
    let mut ok = true;
    println!(
        "{:<18} {:<9} {:>9} {:>7} {:>7} {:>10} {:>7} {:>7}",
        "workload", "allocator", "time s", "t/mi", "t/glibc", "rss MiB", "r/mi", "r/glibc"
    );
    for w in &a.workloads {
        for c in cells.iter().filter(|c| &c.workload == w) {
            let r = ratios(cells, c);
            println!(
                "{:<18} {:<9} {} {} {} {} {} {}",
                c.workload,
                c.allocator,
                fmt(c.seconds, 9, 3),
                fmt(r.time_mi, 7, 2),
                fmt(r.time_glibc, 7, 2),
                fmt(c.peak_rss_kib as f64 / 1024.0, 10, 1),
                fmt(r.rss_mi, 7, 2),
                fmt(r.rss_glibc, 7, 2),
            );
        }
        match agreement(cells, w) {
            Ok(sum) => println!("{:<18} checksums agree ({sum})", ""),
            Err(detail) => {
                ok = false;
                println!("{:<18} CHECKSUM MISMATCH OR FAILED RUN: {detail}", "");
            }
        }
    }
    println!();
    println!(
        "{:<18} {:<9} {:>9} {:>7} {:>7} {:>10} {:>7} {:>7}",
        "geometric mean", "allocator", "", "t/mi", "t/glibc", "", "r/mi", "r/glibc"
    );
    for name in &a.allocators {
        let g = geomeans(cells, name);
        println!(
            "{:<18} {:<9} {:>9} {} {} {:>10} {} {}",
            "",
            name,
            "",
            fmt(g.time_mi, 7, 2),
            fmt(g.time_glibc, 7, 2),
            "",
            fmt(g.rss_mi, 7, 2),
            fmt(g.rss_glibc, 7, 2),
        );
    }
    println!(
        "checksums: {}",
        if ok {
            "all allocators agree on every workload"
        } else {
            "MISMATCH (see above)"
        }
    );
    ok
}

fn geomeans(cells: &[Cell], allocator: &str) -> Ratios {
    let mine: Vec<Ratios> = cells
        .iter()
        .filter(|c| c.allocator == allocator)
        .map(|c| ratios(cells, c))
        .collect();
    Ratios {
        time_mi: geomean(mine.iter().map(|r| r.time_mi)),
        time_glibc: geomean(mine.iter().map(|r| r.time_glibc)),
        rss_mi: geomean(mine.iter().map(|r| r.rss_mi)),
        rss_glibc: geomean(mine.iter().map(|r| r.rss_glibc)),
    }
}

/// Step 4, as JSON. Returns whether every checksum agreed.
pub fn print_json(a: &SuiteArgs, cells: &[Cell]) -> bool {
    let n = json::number;
    let results: Vec<String> = cells
        .iter()
        .map(|c| {
            let r = ratios(cells, c);
            format!(
                "{{\"workload\":{},\"allocator\":{},\"median_seconds\":{},\"max_peak_rss_kib\":{},\"checksum\":{},\"time_vs_mimalloc\":{},\"time_vs_glibc\":{},\"rss_vs_mimalloc\":{},\"rss_vs_glibc\":{},\"error\":{}}}",
                json::string(&c.workload),
                json::string(&c.allocator),
                n(c.seconds),
                c.peak_rss_kib,
                c.checksum.as_deref().map_or("null".into(), json::string),
                n(r.time_mi),
                n(r.time_glibc),
                n(r.rss_mi),
                n(r.rss_glibc),
                c.error.as_deref().map_or("null".into(), json::string),
            )
        })
        .collect();
    let geo: Vec<String> = a
        .allocators
        .iter()
        .map(|name| {
            let g = geomeans(cells, name);
            format!(
                "{{\"allocator\":{},\"time_vs_mimalloc\":{},\"time_vs_glibc\":{},\"rss_vs_mimalloc\":{},\"rss_vs_glibc\":{}}}",
                json::string(name),
                n(g.time_mi),
                n(g.time_glibc),
                n(g.rss_mi),
                n(g.rss_glibc)
            )
        })
        .collect();
    let agree: Vec<String> = a
        .workloads
        .iter()
        .map(|w| format!("{}:{}", json::string(w), agreement(cells, w).is_ok()))
        .collect();
    let ok = a.workloads.iter().all(|w| agreement(cells, w).is_ok());
    println!(
        "{{\"runs\":{},\"results\":[{}],\"geomeans\":[{}],\"checksums_agree\":{{{}}},\"all_checksums_agree\":{}}}",
        a.runs,
        results.join(","),
        geo.join(","),
        agree.join(","),
        ok
    );
    ok
}

/// The `alloc-suite` entry point.
pub fn suite_main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return;
    }
    let a = match parse_args(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let dir = match std::env::current_exe() {
        Ok(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
        Err(e) => {
            eprintln!("cannot locate alloc-suite's own executable: {e}");
            std::process::exit(2);
        }
    };
    for name in &a.allocators {
        let bin = dir.join(format!(
            "alloc-bench-{name}{}",
            std::env::consts::EXE_SUFFIX
        ));
        if !bin.exists() {
            eprintln!("missing {}\n{USAGE}", bin.display());
            std::process::exit(2);
        }
    }
    let cells = measure(&a, &dir);
    let ok = if a.json {
        print_json(&a, &cells)
    } else {
        print_table(&a, &cells)
    };
    if !ok {
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_selection() {
        let v: Vec<String> = [
            "larson",
            "--runs",
            "5",
            "--json",
            "--allocators",
            "system,mimalloc",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let a = parse_args(&v).unwrap();
        assert_eq!(a.workloads, ["larson"]);
        assert_eq!(a.allocators, ["system", "mimalloc"]);
        assert_eq!(a.runs, 5);
        assert!(a.json);
        assert_eq!(parse_args(&[]).unwrap().workloads.len(), WORKLOADS.len());
        assert!(parse_args(&["nope".to_string()]).is_err());
    }

    #[test]
    fn medians_and_geomeans() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!((geomean([2.0, 8.0, f64::NAN].into_iter()) - 4.0).abs() < 1e-12);
    }

    #[test]
    fn disagreeing_checksums_are_reported() {
        let cell = |alloc: &str, sum: &str| Cell {
            workload: "w".into(),
            allocator: alloc.into(),
            seconds: 1.0,
            peak_rss_kib: 1,
            checksum: Some(sum.into()),
            error: None,
        };
        assert!(agreement(&[cell("a", "0x1"), cell("b", "0x1")], "w").is_ok());
        assert!(agreement(&[cell("a", "0x1"), cell("b", "0x2")], "w").is_err());
    }

    #[test]
    fn parses_a_process_line() {
        let s = parse_sample(
            "{\"workload\":\"x\",\"seconds\":0.5,\"peak_rss_kib\":100,\"checksum\":\"0x00ff\"}",
        );
        assert_eq!(
            s,
            Some(Sample {
                seconds: 0.5,
                peak_rss_kib: 100,
                checksum: "0x00ff".into()
            })
        );
    }
}
