//! The `tricolor` command end to end: every subcommand in a small
//! configuration (exit status and JSON checked), the verifier's own
//! failure paths under fault injection, and the errors a person can act on.
//!
//! Each test starts the real binary (`CARGO_BIN_EXE_tricolor`; the worker
//! binaries are built beside it). Sizes are chosen so the whole file runs
//! in seconds even in a debug build on two cores; `stress=N` in
//! `TRICOLOR_DEBUG` forces collector cycles every N bytes so short runs
//! still collect.

use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// No invocation here takes more than a few seconds; one that runs this
/// long is hung (a collector that deadlocks must fail the test, not stall
/// the suite).
const WATCHDOG: Duration = Duration::from_secs(120);

fn tricolor(args: &[&str], debug: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tricolor"));
    c.args(args)
        .env_remove("TRICOLOR_GOGC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match debug {
        Some(d) => c.env("TRICOLOR_DEBUG", d),
        None => c.env_remove("TRICOLOR_DEBUG"),
    };
    let mut child = c.spawn().expect("the tricolor binary runs");
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            v
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            let e = err.join().unwrap_or_default();
            panic!(
                "tricolor {args:?} still running after {WATCHDOG:?}; stderr:\n{}",
                String::from_utf8_lossy(&e)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The last line of stdout, as JSON.
fn json(o: &Output) -> Value {
    let out = stdout(o);
    let line = out.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {line:?}\nstatus {:?}\nstderr: {}",
            o.status,
            stderr(o)
        )
    })
}

fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tricolor-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

#[test]
fn stress_passes_and_reports() {
    let plot = temp("stress.svg");
    let o = tricolor(
        &[
            "stress", "--live", "512k", "--ops", "3000", "-t", "2", "--seed", "7", "--json",
            "--quiet", "--plot",
        ]
        .into_iter()
        .chain([plot.to_str().unwrap()])
        .collect::<Vec<_>>(),
        Some("stress=262144"),
    );
    assert_ok(&o);
    let r = json(&o);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["threads"], 2);
    assert_eq!(r["checkmark"], true);
    assert!(r["ops"].as_u64().unwrap() >= 3000, "{r}");
    assert!(r["objects_verified"].as_u64().unwrap() > 0, "{r}");
    assert!(r["gc"]["cycles"].as_u64().unwrap() >= 2, "{r}");
    assert!(r["gc"]["pause_count"].as_u64().unwrap() >= 2, "{r}");
    assert!(r["gc"]["mmu"]["ms100"].as_f64().unwrap() <= 1.0);
    assert!(r["peak_heap_bytes"].as_u64().unwrap() > 0);
    let svg = std::fs::read_to_string(&plot).expect("the plot was written");
    assert!(svg.starts_with("<svg"));
}

#[test]
fn stress_checkmark_aborts_on_a_lost_object() {
    // The collector skips one in 20 newly found objects; with checkmark on
    // (the default) its verifying re-mark notices and aborts the process.
    let o = tricolor(
        &["stress", "--live", "512k", "-d", "30s", "--quiet"],
        Some("losemark=20,stress=262144"),
    );
    assert!(!o.status.success(), "must fail: {}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("checkmark"), "{err}");
    assert!(err.contains("tricolor stress: FAILED"), "{err}");
}

#[test]
fn stress_shadow_model_catches_a_lost_object() {
    // Same fault, checkmark off: freed objects are poisoned (clobberfree)
    // and swept inside the pause (stoptheworld=2), so the threads' pass
    // after the cycle finds the damage in the heap itself. Cycles come at
    // their natural pace here (no `stress=`): the pass must finish before
    // the next cycle, which would otherwise trace the poisoned objects.
    let o = tricolor(
        &[
            "stress",
            "--live",
            "512k",
            "-d",
            "30s",
            "--no-checkmark",
            "--json",
            "--quiet",
        ],
        Some("losemark=20,clobberfree=1,stoptheworld=2"),
    );
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["ok"], false);
    assert_eq!(r["checkmark"], false);
    let f = r["failure"].as_str().expect("a failure message");
    assert!(f.contains("thread"), "{f}");
    assert!(stderr(&o).contains("verification FAILED"), "{}", stderr(&o));
}

#[test]
fn stress_refuses_impossible_sizes() {
    for (args, want) in [
        (&["stress", "--live", "100T"][..], "impossible heap size"),
        (&["stress", "--live", "1k"][..], "too small"),
        (&["stress", "--live", "lots"][..], "not a size"),
        (&["stress", "--heap-factor", "0.5"][..], "at least 1.5"),
        (&["stress", "--mix", "alloc=1,teleport=2"][..], "teleport"),
    ] {
        let o = tricolor(args, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.starts_with("error:"), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// Run a GC bench and check the common shape of its report.
fn bench(args: &[&str]) -> Value {
    let mut a = vec!["bench"];
    a.extend_from_slice(args);
    a.push("--json");
    let o = tricolor(&a, None);
    assert_ok(&o);
    let r = json(&o);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["checksums_agree"], true, "{r}");
    let names: Vec<&str> = r["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["variant"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tricolor", "box-mimalloc", "box-system"]);
    let v = &r["variants"][0];
    assert!(v["median_seconds"].as_f64().unwrap() > 0.0);
    assert!(v["max_peak_rss_kib"].as_u64().unwrap() > 0);
    assert!(v["time_vs_box_mimalloc"].as_f64().is_some());
    assert!(v["representative"]["gc"].is_object(), "{v}");
    assert_eq!(r["variants"][1]["time_vs_box_mimalloc"], 1.0);
    r
}

#[test]
fn bench_binary_trees_and_gcbench() {
    let r = bench(&["binary-trees", "--depth", "8", "--runs", "2"]);
    assert_eq!(r["runs"], 2);
    assert_eq!(r["variants"][0]["seconds"].as_array().unwrap().len(), 2);
    bench(&["gcbench", "--depth", "6"]);
}

#[test]
fn bench_msgbuf_measures_latency_and_plots() {
    let plot = temp("msgbuf.svg");
    let r = bench(&[
        "msgbuf",
        "--window",
        "500",
        "--messages",
        "5000",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    for v in r["variants"].as_array().unwrap() {
        let l = &v["representative"]["latency"];
        assert_eq!(l["count"], 5000, "{v}");
        assert!(l["max_us"].as_f64().unwrap() >= l["p999_us"].as_f64().unwrap());
    }
    let svg = std::fs::read_to_string(&plot).expect("the plot was written");
    assert!(svg.starts_with("<svg") && svg.contains("STW pauses"));
    let r = bench(&["msgbuf-ptr", "--window", "200", "--messages", "2000"]);
    assert_eq!(r["variants"][0]["representative"]["ops"], 2000 * 16);
}

#[test]
fn bench_heartbeat_reports_gaps() {
    let r = bench(&["heartbeat", "--live", "256k", "--ops", "3000"]);
    for v in r["variants"].as_array().unwrap() {
        let h = &v["representative"]["heartbeat"];
        assert!(h["beats"].as_u64().unwrap() >= 2, "{v}");
        assert!(h["gaps"]["count"].as_u64().unwrap() >= 1, "{v}");
        assert!(h["mmu"]["ms100"].as_f64().is_some());
    }
}

#[test]
fn bench_alloc_runs_the_allocator_suite() {
    let o = tricolor(
        &[
            "bench",
            "alloc",
            "glibc-simple",
            "--scale",
            "0.002",
            "--json",
        ],
        None,
    );
    assert_ok(&o);
    let r = json(&o);
    assert_eq!(r["all_checksums_agree"], true, "{r}");
    let allocators: Vec<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["allocator"].as_str().unwrap())
        .collect();
    assert_eq!(allocators, ["tricolor", "mimalloc", "jemalloc", "system"]);
}

#[test]
fn bench_errors_are_one_clear_line() {
    let o = tricolor(&["bench", "nope"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("error: unrecognized subcommand 'nope'"));
    let o = tricolor(&["bench", "alloc", "nope"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid value 'nope'"));
    let o = tricolor(&["bench", "heartbeat", "--live", "100T"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("error: --live"), "{}", stderr(&o));
    let o = tricolor(&["bench", "msgbuf", "--plot", "figure.png"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("only SVG"), "{}", stderr(&o));
    let o = tricolor(&["bench", "binary-trees", "--depth", "99"], None);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn demo_runs_small() {
    let o = tricolor(
        &["demo", "--small", "--stress-duration", "1s", "--json"],
        None,
    );
    assert_ok(&o);
    let r = json(&o);
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["verdict"].as_str().unwrap().starts_with("PASS"), "{r}");
    assert_eq!(r["benches"].as_array().unwrap().len(), 3);
}
