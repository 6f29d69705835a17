//! The verifiers catch a lossy marker: what this proves is that
//! `checkmark=1` is a working safety net (a marker that misses reachable
//! objects is stopped loudly at the first cycle, and a correct one is never
//! accused), and that `clobberfree=1` makes the damage of a lost object
//! visible to the program instead of silent.
//!
//! Fault injection is `losemark=N` (`debug.rs`): the marker skips one in N
//! newly found objects. Each test re-runs this test binary as a child
//! process restricted to itself (`--exact`), with `TRICOLOR_VERIFIER_CHILD`
//! naming the mode, because the expected outcome is an abort:
//!
//! - `checkmark` + `losemark=7`: the child must die (SIGABRT) with
//!   "checkmark" on stderr, during its first collection;
//! - `checkmark` without `losemark`, same program: the child exits 0 after
//!   verifying its whole graph through several collections;
//! - `clobberfree` + `losemark=7` without `checkmark`: a payload-verifying
//!   walk after a cycle must not come back clean: the child either reports
//!   the corruption (exit 3) or crashes reading freed memory. Which of the
//!   two depends on whether the lost objects' span was returned, so only
//!   "not a success, and if it exited, it was the walk that noticed" is
//!   asserted.
//!
//! Each child runs in a fraction of a second.

use std::process::{Command, Output};
use tricolor_gc::{Config, DebugKnobs, Gc, Heap, Lock, Rootable, Trace};

const CHILD: &str = "TRICOLOR_VERIFIER_CHILD";

/// Re-run this binary as a child running only `test`, in mode `mode`.
fn run_child(test: &str, mode: &str) -> Output {
    Command::new(std::env::current_exe().expect("current_exe"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .output()
        .expect("spawn the child")
}

fn child_mode() -> Option<String> {
    std::env::var(CHILD).ok()
}

#[derive(Trace)]
struct Node<'gc> {
    id: u64,
    check: [u64; 3],
    next: Lock<Option<Gc<'gc, Node<'gc>>>>,
    side: Option<Gc<'gc, Leaf>>,
}

#[derive(Trace)]
struct Leaf {
    id: u64,
    check: u64,
}

fn check_word(id: u64, k: u64) -> u64 {
    (id ^ 0xA5A5_0000_0000_0000).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k
}

const NODES: u64 = 3000;

/// Build a list of `NODES` nodes, each with a side leaf, collect `cycles`
/// times and verify the whole list after each. Returns the first
/// corruption found, as (node index, what).
fn build_collect_verify(knobs: DebugKnobs, workers: usize, cycles: usize) -> Option<(u64, String)> {
    let heap = Heap::new(Config {
        gogc: None,
        min_heap: 4 << 20,
        max_heap: None,
        mark_workers: workers,
        background_sweep: false,
        debug: knobs,
    });
    let mut m = heap.mutator::<Rootable!['gc => Option<Gc<'gc, Node<'gc>>>]>(|_| None);
    m.mutate_root(|mc, root| {
        let mut head = None;
        for id in (0..NODES).rev() {
            let side = Gc::new(
                mc,
                Leaf {
                    id,
                    check: check_word(id, 9),
                },
            );
            head = Some(Gc::new(
                mc,
                Node {
                    id,
                    check: [0, 1, 2].map(|k| check_word(id, k)),
                    next: Lock::new(head),
                    side: Some(side),
                },
            ));
        }
        *root = head;
    });
    for _ in 0..cycles {
        m.collect();
        let bad = m.mutate_root(|_, root| {
            let mut cur = *root;
            for want in 0..NODES {
                let Some(n) = cur else {
                    return Some((want, "list ends early".to_string()));
                };
                if n.id != want || n.check != [0, 1, 2].map(|k| check_word(want, k)) {
                    return Some((want, format!("node id {:#x}, check {:x?}", n.id, n.check)));
                }
                let leaf = n.side.expect("every node has a leaf");
                if leaf.id != want || leaf.check != check_word(want, 9) {
                    return Some((want, format!("leaf id {:#x}", leaf.id)));
                }
                cur = n.next.get();
            }
            None
        });
        if bad.is_some() {
            return bad;
        }
    }
    None
}

/// Run the child body for `mode`; never returns for a failing mode.
fn child(mode: &str) {
    match mode {
        "lossy-checkmark" => {
            let knobs = DebugKnobs {
                checkmark: true,
                losemark: 7,
                ..DebugKnobs::default()
            };
            build_collect_verify(knobs, 2, 3);
            eprintln!("verifier child: the lossy mark went unnoticed");
            std::process::exit(0);
        }
        "clean-checkmark" => {
            let knobs = DebugKnobs {
                checkmark: true,
                ..DebugKnobs::default()
            };
            if let Some((i, what)) = build_collect_verify(knobs, 2, 3) {
                eprintln!("verifier child: corruption at node {i}: {what}");
                std::process::exit(4);
            }
        }
        "lossy-clobber" => {
            // One marker, and sweeping inside the pause, so the lost
            // objects are clobbered before the walk starts.
            let knobs = DebugKnobs {
                clobberfree: true,
                losemark: 7,
                stoptheworld: 2,
                ..DebugKnobs::default()
            };
            if let Some((i, what)) = build_collect_verify(knobs, 1, 1) {
                eprintln!("verifier child: corruption detected at node {i}: {what}");
                std::process::exit(3);
            }
            eprintln!("verifier child: the walk found nothing wrong");
            std::process::exit(0);
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn signal(out: &Output) -> Option<i32> {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        out.status.signal()
    }
    #[cfg(not(unix))]
    {
        let _ = out;
        None
    }
}

#[test]
fn checkmark_aborts_on_a_lossy_marker() {
    if let Some(mode) = child_mode() {
        return child(&mode);
    }
    let out = run_child("checkmark_aborts_on_a_lossy_marker", "lossy-checkmark");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a lossy marker passed checkmark: {:?}\n{err}",
        out.status
    );
    assert!(err.contains("checkmark"), "no checkmark message:\n{err}");
    assert!(
        !err.contains("the lossy mark went unnoticed"),
        "the child finished:\n{err}"
    );
    #[cfg(unix)]
    assert_eq!(signal(&out), Some(6), "expected an abort (SIGABRT)\n{err}");
}

#[test]
fn checkmark_accepts_a_correct_marker() {
    if let Some(mode) = child_mode() {
        return child(&mode);
    }
    let out = run_child("checkmark_accepts_a_correct_marker", "clean-checkmark");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{err}", out.status);
    assert!(!err.contains("checkmark"), "a false alarm:\n{err}");
    // It really ran the test (and only it).
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn clobberfree_exposes_what_a_lossy_marker_freed() {
    if let Some(mode) = child_mode() {
        return child(&mode);
    }
    let out = run_child(
        "clobberfree_exposes_what_a_lossy_marker_freed",
        "lossy-clobber",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "objects a lossy marker missed were not visibly freed:\n{err}"
    );
    if out.status.code().is_some() {
        // Exited normally: only the walk's own report is acceptable.
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(err.contains("corruption detected"), "{err}");
    } else {
        // Killed by a signal: reading freed memory crashed.
        assert!(signal(&out).is_some());
    }
}

/// Fault injection is a debug knob, not a default: the same program
/// in-process, without any knob, verifies clean.
#[test]
fn no_knobs_no_loss() {
    if child_mode().is_some() {
        return;
    }
    assert_eq!(build_collect_verify(DebugKnobs::default(), 2, 2), None);
}
