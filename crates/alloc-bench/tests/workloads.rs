//! Every workload at a tiny scale with each allocator: the outcomes must
//! agree across allocators (they depend only on the workload and its
//! seeds) and must show that work was done. Plus one whole-process run.

use std::alloc::System;

use tricolor_alloc_bench::{find, json, DynAlloc, Outcome, Params, Workload, WORKLOADS};

/// The four allocators, by name.
fn allocators() -> [(&'static str, &'static dyn DynAlloc); 4] {
    [
        ("tricolor", &tricolor_heap::Malloc),
        ("system", &System),
        ("mimalloc", &mimalloc::MiMalloc),
        ("jemalloc", &tikv_jemallocator::Jemalloc),
    ]
}

/// A quarter of a criterion iteration, with 3 threads where the workload is
/// multi-threaded (so odd splits, e.g. 1 producer and 2 consumers, run).
/// `malloc-large` gets twice a criterion iteration instead: 8 blocks, so
/// the live set fills up and blocks get evicted.
fn tiny(w: &Workload) -> Params {
    let threads = if w.defaults.threads > 1 { 3 } else { 1 };
    let scale = if w.name == "malloc-large" {
        w.bench_scale * 2.0
    } else {
        w.bench_scale / 4.0
    };
    Params::new(threads, scale)
}

fn check_nontrivial(w: &Workload, o: Outcome) {
    assert!(o.ops >= 10, "{}: only {} ops", w.name, o.ops);
    assert_ne!(o.checksum, 0, "{}: zero checksum", w.name);
}

#[test]
fn every_allocator_gives_the_same_outcome() {
    for w in WORKLOADS.iter().filter(|w| !w.uses_global) {
        let p = tiny(w);
        let outcomes: Vec<(&str, Outcome)> = allocators()
            .into_iter()
            .map(|(name, a)| (name, w.run_dyn(a, &p)))
            .collect();
        let (first_name, first) = outcomes[0];
        check_nontrivial(w, first);
        for &(name, o) in &outcomes[1..] {
            assert_eq!(o, first, "{}: {name} disagrees with {first_name}", w.name);
        }
    }
}

#[test]
fn monomorphised_and_dynamic_runs_agree() {
    let w = find("xmalloc-test").expect("registered");
    let p = tiny(w);
    assert_eq!(w.run(&mimalloc::MiMalloc, &p), w.run_dyn(&System, &p));
}

#[test]
fn outcomes_depend_on_params() {
    let w = find("larson").expect("registered");
    let p = tiny(w);
    let more = p.with_scale(p.scale * 2.0);
    let a = w.run(&System, &p);
    let b = w.run(&System, &more);
    assert!(b.ops > a.ops, "{a:?} vs {b:?}");
    assert_ne!(a.checksum, b.checksum);
    assert_ne!(w.run(&System, &p.with_threads(2)), a);
}

#[test]
fn rust_collections_is_deterministic() {
    let w = find("rust-collections").expect("registered");
    assert!(w.uses_global);
    let p = tiny(w);
    let a = w.run(&System, &p);
    check_nontrivial(w, a);
    assert_eq!(a, w.run(&System, &p));
}

#[test]
fn whole_process_run_prints_one_json_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alloc-bench-system"))
        .args(["glibc-simple", "--scale", "0.001"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let line = lines[0];
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    assert_eq!(json::field(line, "workload"), Some("glibc-simple"));
    assert_eq!(json::field(line, "allocator"), Some("system"));
    let seconds: f64 = json::field(line, "seconds").unwrap().parse().unwrap();
    assert!(seconds > 0.0 && seconds < 60.0, "{seconds}");
    let rss: u64 = json::field(line, "peak_rss_kib").unwrap().parse().unwrap();
    assert!(rss > 0);

    // The same run in this process gives the checksum the child printed.
    let w = find("glibc-simple").unwrap();
    let expect = w.run(&System, &w.defaults.with_scale(0.001));
    let sum = json::field(line, "checksum").unwrap();
    assert_eq!(sum, format!("{:#018x}", expect.checksum));
}

#[test]
fn unknown_workload_is_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alloc-bench-system"))
        .arg("no-such-workload")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
