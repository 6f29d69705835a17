//! Whole-process runs: the body of the `alloc-bench-<allocator>` binaries.
//!
//! Each binary sets its `#[global_allocator]` and calls [`process_main`]
//! with it, so a workload runs with the allocator both passed explicitly
//! (the raw workloads) and installed globally (`rust-collections`, and
//! everything std allocates on the side: thread stacks' bookkeeping, slot
//! vectors). The process prints one JSON line:
//!
//! ```text
//! {"workload":"larson","allocator":"mimalloc","threads":4,"scale":1,
//!  "seconds":0.93,"peak_rss_kib":51234,"checksum":"0x1f..","ops":48000000}
//! ```
//!
//! `seconds` times the workload alone (not process start-up);
//! `peak_rss_kib` is the high-water mark of the whole process's resident
//! set (`VmHWM`, see [`peak_rss_kib`]). `checksum` is a hex string because JSON
//! numbers are doubles and would round a `u64`.

use core::alloc::GlobalAlloc;
use std::time::Instant;

use crate::{find, json, Params, WORKLOADS};

/// What a whole-process run was asked to do.
#[derive(Debug, PartialEq)]
pub struct Args {
    pub workload: String,
    pub scale: Option<f64>,
    pub threads: Option<usize>,
}

const USAGE: &str = "usage: alloc-bench-<allocator> <workload> [--scale X] [--threads N]\n       alloc-bench-<allocator> --list";

/// Parses `<workload> [--scale X] [--threads N]`.
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut workload = None;
    let mut scale = None;
    let mut threads = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--scale" => {
                let v = it.next().ok_or("--scale needs a value")?;
                let s: f64 = v.parse().map_err(|_| format!("bad --scale {v}"))?;
                if !(s > 0.0 && s.is_finite()) {
                    return Err(format!("--scale must be positive, got {v}"));
                }
                scale = Some(s);
            }
            "--threads" => {
                let v = it.next().ok_or("--threads needs a value")?;
                let t: usize = v.parse().map_err(|_| format!("bad --threads {v}"))?;
                if t == 0 {
                    return Err("--threads must be at least 1".into());
                }
                threads = Some(t);
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if workload.is_none() => workload = Some(s.to_string()),
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    Ok(Args {
        workload: workload.ok_or("no workload named")?,
        scale,
        threads,
    })
}

/// Peak resident set of this process so far, in KiB: `VmHWM` from
/// `/proc/self/status` where there is one, else `getrusage`'s `ru_maxrss`
/// (which Linux reports in KiB).
///
/// `VmHWM` first because `ru_maxrss` survives `execve`: Linux folds the
/// old address space's high-water mark into the process's on exec, and a
/// child forked from a large parent starts with the parent's resident size
/// in its mapping, so a small workload started by a big driver (the
/// `tricolor` demo, after its stress run) would report the driver's peak.
/// `VmHWM` belongs to the address space, which exec replaces.
pub fn peak_rss_kib() -> u64 {
    if let Some(kib) = vm_hwm_kib() {
        return kib;
    }
    let mut ru = core::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` is a writable rusage; RUSAGE_SELF is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    // SAFETY: getrusage succeeded, so it filled the struct (and zeroed is a
    // valid rusage anyway).
    let ru = unsafe { ru.assume_init() };
    u64::try_from(ru.ru_maxrss).unwrap_or(0)
}

/// `VmHWM:   123456 kB` from `/proc/self/status`.
fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The allocator's name: the executable's name after `alloc-bench-`, else
/// the type name.
fn allocator_name<A>() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .and_then(|s| s.strip_prefix("alloc-bench-").map(str::to_string))
        .unwrap_or_else(|| std::any::type_name::<A>().to_string())
}

/// Runs the workload named on the command line with `global` (the
/// binary's global allocator) and prints the JSON line; exits with status 2
/// on a usage error.
pub fn process_main<A: GlobalAlloc + Sync>(global: &A) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for w in WORKLOADS {
            println!("{:<18} {}", w.name, w.description);
        }
        return;
    }
    match run_process(global, &allocator_name::<A>(), &args) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            std::process::exit(2);
        }
    }
}

/// The body of [`process_main`] for a driver of its own (the `tricolor`
/// CLI's worker binaries): runs the workload named in `args` (`<workload>
/// [--scale X] [--threads N]`) with `global`, which must be the process's
/// global allocator, and returns the JSON line naming `allocator`; or a
/// usage error.
pub fn run_process<A: GlobalAlloc + Sync>(
    global: &A,
    allocator: &str,
    args: &[String],
) -> Result<String, String> {
    let args = parse_args(args)?;
    let Some(w) = find(&args.workload) else {
        let names: Vec<_> = WORKLOADS.iter().map(|w| w.name).collect();
        return Err(format!(
            "unknown workload {}; one of: {}",
            args.workload,
            names.join(", ")
        ));
    };
    let mut p: Params = w.defaults;
    if let Some(s) = args.scale {
        p.scale = s;
    }
    if let Some(t) = args.threads {
        p.threads = t;
    }

    let start = Instant::now();
    let out = w.run(global, &p);
    let seconds = start.elapsed().as_secs_f64();

    Ok(format!(
        "{{\"workload\":{},\"allocator\":{},\"threads\":{},\"scale\":{},\"seconds\":{},\"peak_rss_kib\":{},\"checksum\":\"{:#018x}\",\"ops\":{}}}",
        json::string(w.name),
        json::string(allocator),
        p.threads,
        json::number(p.scale),
        json::number(seconds),
        peak_rss_kib(),
        out.checksum,
        out.ops,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_options_in_any_order() {
        assert_eq!(
            parse_args(&args("--threads 3 larson --scale 0.5")),
            Ok(Args {
                workload: "larson".into(),
                scale: Some(0.5),
                threads: Some(3)
            })
        );
        assert!(parse_args(&args("")).is_err());
        assert!(parse_args(&args("a b")).is_err());
        assert!(parse_args(&args("a --scale 0")).is_err());
        assert!(parse_args(&args("a --threads")).is_err());
    }

    #[test]
    fn rss_is_reported() {
        assert!(peak_rss_kib() > 0);
        if cfg!(target_os = "linux") {
            assert!(vm_hwm_kib().is_some_and(|k| k > 0));
        }
    }
}
