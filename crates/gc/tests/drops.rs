//! Destructors: what this proves is that every object with drop glue is
//! dropped exactly once, never while it is reachable, and promptly once it
//! is not — and that dropping the heap drops whatever is left.
//!
//! - `Tracked` has `#[trace(unsafe_drop)]` and a `Drop` impl that reads only
//!   its plain `id` (never a `Gc` field, as the opt-in requires) and records
//!   it in `DROPPED`. The test keeps `REACHABLE`, the ids its graph can reach
//!   (updated inside scopes, where no cycle can run); the destructor itself
//!   flags any id still in `REACHABLE`, so a drop of a reachable object is
//!   caught at the moment it happens, on whichever thread sweeps.
//! - `Glue` has drop glue but no `Drop` impl: a `String`, a `Vec` of
//!   `Counted` (a plain type whose `Drop` counts) and an `Arc` token whose
//!   strong count says exactly how many `Glue` values are not yet dropped
//!   (a double drop would push it below the truth).
//! - Graphs include lists, two-object cycles, self-loops and large objects;
//!   after every round, two full cycles must have dropped exactly the
//!   unreachable objects; dropping the mutators, the roots and the heap must
//!   drop every remaining object exactly once.
//!
//! The globals are shared by the tests of this file, so each test holds
//! `SERIAL` and clears them first. Runs in well under a second;
//! `TRICOLOR_STRESS_LONG=1` runs 20× the rounds of the first test.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tricolor_gc::{Config, DebugKnobs, Gc, Heap, Lock, Mutation, Root, Rootable, Trace};

static SERIAL: Mutex<()> = Mutex::new(());
/// Ids of dropped `Tracked` objects, in drop order.
static DROPPED: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// Ids the test's graph can reach right now.
static REACHABLE: Mutex<Option<HashSet<u64>>> = Mutex::new(None);
/// Ids dropped while in `REACHABLE`.
static VIOLATIONS: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// `Counted` values dropped.
static COUNTED_DROPS: AtomicUsize = AtomicUsize::new(0);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Take the file's globals for one test and reset them.
fn serial() -> MutexGuard<'static, ()> {
    let g = lock(&SERIAL);
    lock(&DROPPED).clear();
    *lock(&REACHABLE) = Some(HashSet::new());
    lock(&VIOLATIONS).clear();
    COUNTED_DROPS.store(0, Ordering::SeqCst);
    g
}

fn set_reachable(ids: impl IntoIterator<Item = u64>, reachable: bool) {
    let mut r = lock(&REACHABLE);
    let r = r.as_mut().expect("serial() first");
    for id in ids {
        if reachable {
            r.insert(id);
        } else {
            r.remove(&id);
        }
    }
}

#[derive(Trace)]
#[trace(unsafe_drop)]
struct Tracked<'gc> {
    id: u64,
    next: Lock<Option<Gc<'gc, Tracked<'gc>>>>,
    big: Option<Gc<'gc, BigTracked>>,
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        // Only the plain field: the objects `next` and `big` point to may be
        // gone already.
        record_drop(self.id);
    }
}

/// A large object (40 KiB) with a destructor.
#[derive(Trace)]
#[trace(unsafe_drop)]
struct BigTracked {
    id: u64,
    pad: [u64; 5000],
}

impl Drop for BigTracked {
    fn drop(&mut self) {
        assert!(self.pad[4999] == self.id, "a large object's contents");
        record_drop(self.id);
    }
}

fn record_drop(id: u64) {
    let reachable = lock(&REACHABLE).as_ref().is_some_and(|r| r.contains(&id));
    if reachable {
        lock(&VIOLATIONS).push(id);
    }
    lock(&DROPPED).push(id);
}

/// Counts its drops; not `Trace` (held through `#[trace(static)]`).
struct Counted;

impl Drop for Counted {
    fn drop(&mut self) {
        COUNTED_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

/// Shared by every `Glue`; its strong count is `1 +` the undropped `Glue`s.
struct Token;

/// Drop glue without a `Drop` impl.
#[derive(Trace)]
struct Glue<'gc> {
    name: String,
    token: Arc<Token>,
    #[trace(static)]
    counted: Vec<Counted>,
    next: Option<Gc<'gc, Glue<'gc>>>,
}

/// Round multiplier: 1 in CI, 20 with `TRICOLOR_STRESS_LONG=1`.
fn scale() -> usize {
    match std::env::var("TRICOLOR_STRESS_LONG").as_deref() {
        Ok("1") => 20,
        _ => 1,
    }
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn config() -> Config {
    Config {
        gogc: Some(100),
        min_heap: 1 << 20,
        max_heap: None,
        mark_workers: 2,
        background_sweep: true,
        debug: DebugKnobs {
            checkmark: true,
            clobberfree: true,
            stress: 256 << 10,
            ..DebugKnobs::default()
        },
    }
}

/// Build a structure of `Tracked` objects: a list, a ring (lengths 1 and 2
/// are the self-loop and A→B→A), sometimes with a large object. Returns
/// its head and every id in it (the ids of its large objects included).
fn build<'gc>(
    mc: &Mutation<'gc>,
    rng: &mut Rng,
    next_id: &mut u64,
) -> (Gc<'gc, Tracked<'gc>>, Vec<u64>) {
    let len = 1 + rng.below(12);
    let ring = rng.below(3) == 0;
    let mut ids = Vec::new();
    let mut head: Option<Gc<'gc, Tracked<'gc>>> = None;
    let mut tail = None;
    for _ in 0..len {
        *next_id += 1;
        let id = *next_id;
        let big = (rng.below(40) == 0).then(|| {
            *next_id += 1;
            ids.push(*next_id);
            Gc::new(
                mc,
                BigTracked {
                    id: *next_id,
                    pad: [*next_id; 5000],
                },
            )
        });
        ids.push(id);
        let n = Gc::new(
            mc,
            Tracked {
                id,
                next: Lock::new(head),
                big,
            },
        );
        tail.get_or_insert(n);
        head = Some(n);
    }
    let head = head.expect("len >= 1");
    if ring {
        tail.expect("len >= 1").next.set(mc, Some(head));
    }
    (head, ids)
}

/// Wait (up to 10 s) for `done`. The background sweeper holds a strong
/// reference to the heap while it sweeps a batch, so when the last handle
/// goes during a batch, the heap — and the destructors of what is left in
/// it — is dropped on the sweeper's thread a moment later.
fn eventually(done: impl Fn() -> bool) {
    let t = std::time::Instant::now();
    while !done() && t.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn dropped_counts() -> HashMap<u64, usize> {
    let mut m = HashMap::new();
    for &id in lock(&DROPPED).iter() {
        *m.entry(id).or_insert(0) += 1;
    }
    m
}

/// Every dropped id was dropped once, none while reachable, and the dropped
/// set is exactly `expected`.
fn assert_dropped_exactly(expected: &HashSet<u64>, when: &str) {
    let v = lock(&VIOLATIONS).clone();
    assert!(v.is_empty(), "{when}: dropped while reachable: {v:?}");
    let counts = dropped_counts();
    let twice: Vec<_> = counts.iter().filter(|e| *e.1 > 1).collect();
    assert!(
        twice.is_empty(),
        "{when}: dropped more than once: {twice:?}"
    );
    let got: HashSet<u64> = counts.keys().copied().collect();
    let early: Vec<_> = got.difference(expected).collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    assert!(
        early.is_empty(),
        "{when}: dropped but not expected (reachable?): {early:?}"
    );
    assert!(
        missing.is_empty(),
        "{when}: unreachable but not dropped after two cycles: {} ids, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(8)]
    );
}

type Slots = Rootable!['gc => Vec<Option<Gc<'gc, Tracked<'gc>>>>];

#[test]
fn unreachable_objects_are_dropped_once_and_reachable_ones_never() {
    let _g = serial();
    let heap = Heap::new(config());
    let mut m = heap.mutator::<Slots>(|_| (0..64).map(|_| None).collect());
    let mut shadow: Vec<Vec<u64>> = vec![Vec::new(); 64];
    let mut rng = Rng(42);
    let mut next_id = 0u64;
    let mut created: HashSet<u64> = HashSet::new();
    for round in 0..20 * scale() {
        for _ in 0..50 {
            m.mutate_root(|mc, slots| {
                for _ in 0..8 {
                    let (head, ids) = build(mc, &mut rng, &mut next_id);
                    created.extend(&ids);
                    let i = rng.below(slots.len());
                    match rng.below(4) {
                        // Garbage at once.
                        0 => {}
                        // Replace a slot: the old structure becomes garbage.
                        1 | 2 => {
                            set_reachable(ids.iter().copied(), true);
                            set_reachable(shadow[i].drain(..), false);
                            shadow[i] = ids;
                            slots[i] = Some(head);
                        }
                        // Link the new structure after the slot's head: the
                        // old tail becomes garbage unless it is a ring.
                        _ => {
                            let Some(old) = slots[i] else { continue };
                            let old_next = old.next.get();
                            let self_loop = old_next.is_some_and(|n| Gc::ptr_eq(n, old));
                            if self_loop {
                                continue;
                            }
                            // The old head keeps its id (and its large
                            // object, if any); everything after it goes.
                            let keep: Vec<u64> = {
                                let mut k = vec![old.id];
                                if let Some(b) = old.big {
                                    k.push(b.id);
                                }
                                k
                            };
                            set_reachable(shadow[i].iter().copied(), false);
                            set_reachable(keep.iter().copied(), true);
                            set_reachable(ids.iter().copied(), true);
                            old.next.set(mc, Some(head));
                            shadow[i] = keep.into_iter().chain(ids).collect();
                        }
                    }
                }
            });
        }
        m.collect();
        m.collect();
        let reachable: HashSet<u64> = shadow.iter().flatten().copied().collect();
        let expected: HashSet<u64> = created.difference(&reachable).copied().collect();
        assert_dropped_exactly(&expected, &format!("round {round}"));
    }
    assert!(heap.stats().cycles >= 40);
    // Everything left goes with the heap.
    set_reachable(created.iter().copied(), false);
    drop(m);
    drop(heap);
    eventually(|| lock(&DROPPED).len() >= created.len());
    assert_dropped_exactly(&created, "after dropping the heap");
}

#[test]
fn drop_glue_without_a_drop_impl_runs_once_per_dead_object() {
    let _g = serial();
    let token = Arc::new(Token);
    let heap = Heap::new(config());
    let mut m = heap.mutator::<Rootable!['gc => Vec<Gc<'gc, Glue<'gc>>>]>(|_| Vec::new());
    let mut rng = Rng(7);
    let (mut made, mut counted_made) = (0usize, 0usize);
    for round in 0..10 {
        m.mutate_root(|mc, keep| {
            for k in 0..2000 {
                let n = rng.below(4);
                let prev = if rng.below(2) == 0 {
                    keep.last().copied()
                } else {
                    None
                };
                let g = Gc::new(
                    mc,
                    Glue {
                        name: format!("glue {round}/{k}"),
                        token: token.clone(),
                        counted: (0..n).map(|_| Counted).collect(),
                        next: prev,
                    },
                );
                made += 1;
                counted_made += n;
                if k % 100 == 0 {
                    keep.push(g);
                }
            }
        });
        m.collect();
        m.collect();
        // What is alive: the kept objects and whatever they reach.
        let (alive, counted_alive) = m.mutate_root(|_, keep| {
            let mut seen = HashSet::new();
            let mut counted = 0;
            for &g in keep.iter() {
                let mut cur = Some(g);
                while let Some(c) = cur {
                    if !seen.insert(Gc::as_ptr(c) as usize) {
                        break;
                    }
                    assert!(c.name.starts_with("glue "), "a live Glue was damaged");
                    counted += c.counted.len();
                    cur = c.next;
                }
            }
            (seen.len(), counted)
        });
        assert_eq!(
            Arc::strong_count(&token) - 1,
            alive,
            "round {round}: Glue values not dropped vs. reachable"
        );
        assert_eq!(
            COUNTED_DROPS.load(Ordering::SeqCst),
            counted_made - counted_alive,
            "round {round}: Vec elements dropped"
        );
    }
    assert_eq!(made, 20_000);
    drop(m);
    drop(heap);
    eventually(|| Arc::strong_count(&token) == 1);
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "every Glue dropped with the heap"
    );
    assert_eq!(COUNTED_DROPS.load(Ordering::SeqCst), counted_made);
}

#[test]
fn dropping_the_heap_drops_every_remaining_object_once() {
    let _g = serial();
    let heap = Heap::new(Config {
        // No cycle on its own: garbage stays unswept until the heap goes,
        // except what the explicit collections below sweep. No background
        // sweeper either, so the last handle's drop is the heap's drop.
        gogc: None,
        background_sweep: false,
        debug: DebugKnobs {
            stress: 0,
            ..config().debug
        },
        ..config()
    });
    let mut rng = Rng(1234);
    let mut next_id = 0u64;
    let mut created = HashSet::new();
    let mut m = heap.mutator::<Slots>(|_| (0..16).map(|_| None).collect());
    // Reachable from the root, from a Root handle, from another thread's
    // mutator, garbage that was swept, garbage that never was.
    let root: Root<Rootable!['gc => Tracked<'gc>]> = m.mutate_root(|mc, slots| {
        for s in slots.iter_mut() {
            let (h, ids) = build(mc, &mut rng, &mut next_id);
            created.extend(ids);
            *s = Some(h);
        }
        let (h, ids) = build(mc, &mut rng, &mut next_id);
        created.extend(ids);
        mc.root(h)
    });
    let rooted_id = m.mutate(|mc, _| root.get(mc).id);
    m.mutate(|mc, _| {
        for _ in 0..100 {
            let (_, ids) = build(mc, &mut rng, &mut next_id);
            created.extend(ids);
        }
    });
    m.collect();
    m.collect();
    let swept = lock(&DROPPED).len();
    assert!(swept > 0, "the first garbage was swept");
    std::thread::scope(|s| {
        let heap = &heap;
        let ids = s
            .spawn(move || {
                let mut rng = Rng(99);
                let mut next_id = 1 << 40;
                let mut ids = Vec::new();
                let mut m2 = heap.mutator::<Slots>(|_| vec![None]);
                m2.mutate_root(|mc, slots| {
                    let (h, i) = build(mc, &mut rng, &mut next_id);
                    ids.extend(i);
                    slots[0] = Some(h);
                    for _ in 0..50 {
                        let (_, i) = build(mc, &mut rng, &mut next_id);
                        ids.extend(i);
                    }
                });
                ids
            })
            .join()
            .expect("thread");
        created.extend(ids);
    });
    m.mutate(|mc, _| {
        for _ in 0..100 {
            let (_, ids) = build(mc, &mut rng, &mut next_id);
            created.extend(ids);
        }
    });
    drop(m);
    drop(heap);
    // The Root still holds the heap: nothing it reaches may be gone.
    assert!(
        !lock(&DROPPED).contains(&rooted_id),
        "an object held by a live Root was dropped"
    );
    drop(root);
    assert_dropped_exactly(&created, "after the last handle went");
}
