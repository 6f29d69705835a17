//! Heartbeat: what a latency-sensitive thread sees beside a mutator that
//! churns a large pointer-rich heap.
//!
//! 1. The mutator builds the live heap: `live / 992` slots, each holding a
//!    complete binary tree of depth 4 (31 nodes of 32 B: two pointers and
//!    two words), in batches of 64 trees per mutation scope.
//! 2. A heartbeat thread starts (the churn waits for its first beat, and
//!    ends after its second at the earliest). It sleeps until the next multiple of the
//!    period (1 ms) after the current time, then does a tiny piece of work
//!    on the same heap (on the collected heap: a mutation scope that
//!    allocates one object, so it is held whenever the world is stopped),
//!    and records the time. A gap between beats longer than the period is
//!    time the thread could not run; `report.rs` turns gaps into an MMU
//!    curve measured entirely from outside the collector.
//! 3. The mutator replaces `ops` random slots with new trees, 32 per scope.
//! 4. The heartbeat stops; the mutator reads the whole heap back for the
//!    checksum (the sum and count of every node's value).
//!
//! Slot choice and tree contents come from a fixed seed, so both variants
//! build the same heap. The reference size is `--live 1G`; the
//! default of 64 MiB runs in a few seconds.

use super::{fold, Outcome};
use crate::report::HeartbeatSummary;
use crate::units::{parse_duration, parse_size};
use clap::Args;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tricolor_alloc_bench::rng::Rng;
use tricolor_gc::{Gc, Heap, Lock, Mutation, Rootable, Trace};

const TREE_DEPTH: u32 = 4;
const TREE_NODES: u64 = (1 << (TREE_DEPTH + 1)) - 1;
const NODE_BYTES: usize = 32;
const TREE_BYTES: usize = TREE_NODES as usize * NODE_BYTES;
const _: () = assert!(core::mem::size_of::<Node<'static>>() == NODE_BYTES);
/// Smallest `--live` accepted: one batch of trees.
const MIN_LIVE: usize = 64 << 10;
/// Trees per scope while building, and replacements per scope after.
const BUILD_BATCH: usize = 64;
const CHURN_BATCH: u64 = 32;
const SEED: u64 = 0x6865_6172_7462_6561;

#[derive(Args, Clone, Debug, PartialEq)]
pub struct Params {
    /// Live heap kept by the mutator (the reference run is 1G).
    #[arg(long, default_value = "64M", value_parser = parse_size)]
    pub live: usize,
    /// Trees replaced after the heap is built (each 992 B of garbage).
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub ops: u64,
    /// Heartbeat period.
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    pub period: Duration,
}

impl Params {
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--live".into(),
            self.live.to_string(),
            "--ops".into(),
            self.ops.to_string(),
            "--period".into(),
            format!("{}us", self.period.as_micros()),
        ]
    }

    pub fn describe(&self) -> String {
        format!(
            "live {}, {} replacements, period {} µs",
            crate::units::fmt_bytes(self.live),
            self.ops,
            self.period.as_micros()
        )
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.live < MIN_LIVE {
            return Err(format!(
                "--live {} is too small: at least {} KiB",
                self.live,
                MIN_LIVE >> 10
            ));
        }
        if let Some(mem) = crate::units::physical_memory() {
            if self.live.saturating_mul(3) > mem {
                return Err(format!(
                    "--live {} MiB cannot fit: the heap grows to about 3× the live size, \
                     and this machine has {} MiB",
                    self.live >> 20,
                    mem >> 20
                ));
            }
        }
        if self.period < Duration::from_micros(100) || self.period > Duration::from_secs(1) {
            return Err("--period must be between 100us and 1s".into());
        }
        Ok(())
    }

    fn slots(&self) -> usize {
        (self.live / TREE_BYTES).max(1)
    }
}

/// What the mutator and the heartbeat thread share.
#[derive(Default)]
struct Pulse {
    stop: AtomicBool,
    beats: AtomicU64,
}

impl Pulse {
    /// Wait until the heartbeat has beaten `n` times (the churn starts
    /// after the first beat and stops after the second at the earliest, so
    /// every run has at least one gap, however short the churn).
    fn wait_beats(&self, n: u64) {
        // Relaxed: a count polled for progress; nothing is published.
        while self.beats.load(Ordering::Relaxed) < n {
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    fn stop(&self) {
        self.wait_beats(2);
        // Relaxed: a stop request; nothing is published with it.
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Sleep to each period boundary and call `beat`; returns the beat times
/// (seconds since `start`).
fn heartbeat(period: Duration, pulse: &Pulse, mut beat: impl FnMut(u64)) -> Vec<f64> {
    let start = Instant::now();
    let mut beats = Vec::with_capacity(1 << 16);
    let p = period.as_nanos().max(1);
    // Relaxed: see `Pulse`.
    while !pulse.stop.load(Ordering::Relaxed) {
        let now = start.elapsed().as_nanos();
        let tick = now / p + 1;
        let next = Duration::from_nanos(u64::try_from(tick * p).unwrap_or(u64::MAX));
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        beat(u64::try_from(tick).unwrap_or(u64::MAX));
        beats.push(start.elapsed().as_secs_f64());
        pulse.beats.fetch_add(1, Ordering::Relaxed);
    }
    beats
}

fn summarise(period: Duration, beats: &[f64]) -> HeartbeatSummary {
    let (first, last) = (
        beats.first().copied().unwrap_or(0.0),
        beats.last().copied().unwrap_or(0.0),
    );
    HeartbeatSummary::from_beats(period, beats, first, last)
}

/// The value of node `k` (pre-order position) of tree number `t`.
fn value(t: u64, k: u64) -> u64 {
    tricolor_alloc_bench::rng::mix(t.wrapping_mul(TREE_NODES).wrapping_add(k))
}

#[derive(Trace)]
struct Node<'gc> {
    left: Option<Gc<'gc, Node<'gc>>>,
    right: Option<Gc<'gc, Node<'gc>>>,
    value: u64,
    pos: u64,
}

#[derive(Trace)]
struct Table<'gc> {
    slots: Vec<Lock<Option<Gc<'gc, Node<'gc>>>>>,
}

fn tree<'gc>(mc: &Mutation<'gc>, t: u64, depth: u32, k: &mut u64) -> Gc<'gc, Node<'gc>> {
    let pos = *k;
    *k += 1;
    let (left, right) = if depth == 0 {
        (None, None)
    } else {
        (
            Some(tree(mc, t, depth - 1, k)),
            Some(tree(mc, t, depth - 1, k)),
        )
    };
    Gc::new(
        mc,
        Node {
            left,
            right,
            value: value(t, pos),
            pos,
        },
    )
}

fn sum(n: &Node<'_>) -> (u64, u64) {
    let mut acc = (n.value.wrapping_add(n.pos), 1);
    for c in [n.left, n.right].into_iter().flatten() {
        let (s, c) = sum(&c);
        acc = (acc.0.wrapping_add(s), acc.1 + c);
    }
    acc
}

pub fn run_gc(p: &Params, heap: &Heap) -> Outcome {
    let slots = p.slots();
    let mut m = heap.mutator::<Rootable!['gc => Gc<'gc, Table<'gc>>]>(|mc| {
        Gc::new(
            mc,
            Table {
                slots: (0..slots).map(|_| Lock::new(None)).collect(),
            },
        )
    });
    for first in (0..slots).step_by(BUILD_BATCH) {
        m.mutate(|mc, t| {
            for i in first..(first + BUILD_BATCH).min(slots) {
                t.slots[i].set(mc, Some(tree(mc, i as u64, TREE_DEPTH, &mut 0)));
            }
        });
    }
    let pulse = Pulse::default();
    let beats = std::thread::scope(|s| {
        let hb = s.spawn(|| {
            let mut hm = heap.mutator::<Rootable!['gc => ()]>(|_| ());
            heartbeat(p.period, &pulse, |k| {
                hm.mutate(|mc, _| {
                    std::hint::black_box(*Gc::new(mc, k));
                })
            })
        });
        pulse.wait_beats(1);
        let mut rng = Rng::new(SEED, 0);
        let mut op = 0;
        while op < p.ops {
            let n = CHURN_BATCH.min(p.ops - op);
            m.mutate(|mc, t| {
                for j in 0..n {
                    let i = rng.below(slots);
                    let id = (slots as u64) + op + j;
                    t.slots[i].set(mc, Some(tree(mc, id, TREE_DEPTH, &mut 0)));
                }
            });
            op += n;
        }
        pulse.stop();
        hb.join().unwrap_or_default()
    });
    let (s, c) = m.mutate(|_, t| {
        t.slots
            .iter()
            .filter_map(|s| s.get())
            .map(|n| sum(&n))
            .fold((0u64, 0u64), |a, b| (a.0.wrapping_add(b.0), a.1 + b.1))
    });
    Outcome {
        checksum: fold(s, c),
        ops: (slots as u64 + p.ops) * TREE_NODES,
        latency: None,
        heartbeat: Some(summarise(p.period, &beats)),
    }
}

struct BoxNode {
    left: Option<Box<BoxNode>>,
    right: Option<Box<BoxNode>>,
    value: u64,
    pos: u64,
}

fn box_tree(t: u64, depth: u32, k: &mut u64) -> Box<BoxNode> {
    let pos = *k;
    *k += 1;
    let (left, right) = if depth == 0 {
        (None, None)
    } else {
        (
            Some(box_tree(t, depth - 1, k)),
            Some(box_tree(t, depth - 1, k)),
        )
    };
    Box::new(BoxNode {
        left,
        right,
        value: value(t, pos),
        pos,
    })
}

fn box_sum(n: &BoxNode) -> (u64, u64) {
    let mut acc = (n.value.wrapping_add(n.pos), 1);
    for c in [n.left.as_deref(), n.right.as_deref()]
        .into_iter()
        .flatten()
    {
        let (s, c) = box_sum(c);
        acc = (acc.0.wrapping_add(s), acc.1 + c);
    }
    acc
}

pub fn run_box(p: &Params) -> Outcome {
    let slots = p.slots();
    let mut table: Vec<Option<Box<BoxNode>>> = (0..slots)
        .map(|i| Some(box_tree(i as u64, TREE_DEPTH, &mut 0)))
        .collect();
    let pulse = Pulse::default();
    let beats = std::thread::scope(|s| {
        let hb = s.spawn(|| {
            heartbeat(p.period, &pulse, |k| {
                std::hint::black_box(Box::new(k));
            })
        });
        pulse.wait_beats(1);
        let mut rng = Rng::new(SEED, 0);
        for op in 0..p.ops {
            let i = rng.below(slots);
            let id = (slots as u64) + op;
            table[i] = Some(box_tree(id, TREE_DEPTH, &mut 0));
        }
        pulse.stop();
        hb.join().unwrap_or_default()
    });
    let (s, c) = table
        .iter()
        .flatten()
        .map(|n| box_sum(n))
        .fold((0u64, 0u64), |a, b| (a.0.wrapping_add(b.0), a.1 + b.1));
    Outcome {
        checksum: fold(s, c),
        ops: (slots as u64 + p.ops) * TREE_NODES,
        latency: None,
        heartbeat: Some(summarise(p.period, &beats)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tricolor_gc::Config;

    #[test]
    fn variants_agree() {
        let p = Params {
            live: 256 << 10,
            ops: 2000,
            period: Duration::from_millis(1),
        };
        let heap = Heap::new(Config::default());
        let a = run_gc(&p, &heap);
        let b = run_box(&p);
        assert_eq!(a.checksum, b.checksum);
        assert!(a.heartbeat.is_some());
        assert!(p.validate().is_ok());
        assert!(Params {
            live: 10,
            ..p.clone()
        }
        .validate()
        .is_err());
    }
}
