//! `rust-collections`: what a Rust program asks of its allocator, through
//! std's collections and therefore through the *global* allocator. It takes
//! no allocator argument and is only meaningful in whole-process runs, where
//! the binary's `#[global_allocator]` is the allocator being measured.
//!
//! Each of `threads` threads runs `rounds` rounds; a round:
//!
//! 1. builds a `BTreeMap<u64, String>` of [`ENTRIES`] random keys with
//!    formatted values (node allocations of two sizes plus small strings),
//!    removes half of them, and sums what is left;
//! 2. builds a `HashMap<u64, Vec<u64>>` of `ENTRIES / 2` keys whose vectors
//!    grow element by element (the realloc ladder 4, 8, 16, ... words), and
//!    sums it;
//! 3. builds a `Vec<String>` of `ENTRIES` strings of 0..=64 bytes, sorts it
//!    and dedups it (moves, no allocation) and sums the lengths;
//! 4. appends formatted pieces to one `String` until it exceeds 1 MiB
//!    (doubling reallocs up to the mmap range) and hashes its length;
//! 5. drops everything in one go, largest structures first.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use crate::rng::{mix, Rng};
use crate::{Outcome, Params};

/// Entries per structure per round.
pub const ENTRIES: usize = 20_000;
/// Rounds per thread at scale 1.
const BASE_ROUNDS: usize = 30;
const SEED: u64 = 0x2057;

pub fn run(p: &Params) -> Outcome {
    let rounds = p.count(BASE_ROUNDS);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..p.threads())
            .map(|t| {
                s.spawn(move || {
                    (0..rounds)
                        .map(|i| round(&mut Rng::new(SEED, ((t as u64) << 32) | i as u64)))
                        .fold(Outcome::default(), Outcome::merge)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .fold(Outcome::default(), Outcome::merge)
    })
}

fn round(r: &mut Rng) -> Outcome {
    let mut sum = 0u64;
    let mut ops = 0u64;

    // Step 1.
    let mut tree = BTreeMap::new();
    let keys: Vec<u64> = (0..ENTRIES).map(|_| r.next_u64() >> 20).collect();
    for &k in &keys {
        tree.insert(k, format!("value-{k:x}"));
    }
    for k in keys.iter().step_by(2) {
        tree.remove(k);
    }
    for (k, v) in &tree {
        sum = sum.wrapping_add(mix(*k ^ v.len() as u64));
    }
    ops += 2 * ENTRIES as u64;

    // Step 2.
    let mut map: HashMap<u64, Vec<u64>> = HashMap::new();
    for _ in 0..ENTRIES / 2 {
        let k = r.below(ENTRIES) as u64;
        let v = map.entry(k).or_default();
        for _ in 0..r.range(1, 24) {
            v.push(k.wrapping_mul(v.len() as u64 + 1));
        }
    }
    // Iteration order is random (RandomState), so only order-free sums.
    for (k, v) in &map {
        sum = sum.wrapping_add(mix(*k).wrapping_add(v.iter().copied().fold(0, u64::wrapping_add)));
    }
    ops += map.len() as u64;

    // Step 3.
    let mut strings: Vec<String> = (0..ENTRIES)
        .map(|_| {
            let n = r.range(0, 64);
            (0..n)
                .map(|j| char::from(b'a' + ((j * 7 + n) % 26) as u8))
                .collect()
        })
        .collect();
    strings.sort_unstable();
    strings.dedup();
    sum = sum.wrapping_add(strings.iter().map(|s| s.len() as u64).sum::<u64>());
    sum = sum.wrapping_add(strings.len() as u64);
    ops += ENTRIES as u64;

    // Step 4.
    let mut text = String::new();
    let mut piece = 0u64;
    while text.len() <= 1 << 20 {
        let _ = write!(text, "{piece}:{:x};", r.next_u64() >> 40);
        piece += 1;
    }
    sum = sum.wrapping_add(mix(text.len() as u64 ^ piece));
    ops += piece;

    // Step 5.
    drop(text);
    drop(map);
    drop(tree);
    drop(strings);
    drop(keys);
    Outcome { checksum: sum, ops }
}
