//! Heap growth under steady churn (the Boehm `gctest` "unexpected heap
//! growth" check): what it proves is that the collector's pacing and
//! sweeping keep the heap within a fixed multiple of the live data forever,
//! and that memory of dead objects goes back to the page heap.
//!
//! A fixed live set of about 8 MiB (list chunks, noscan buffers and large
//! blobs, mixed so several size classes, a typed span kind, a noscan kind
//! and large spans are all in play) is churned: every step replaces a few
//! random chunks, so about as much garbage is made as is kept. After a
//! warm-up, every step samples `heap_bytes`, and at the end the largest
//! sample and `peak_heap_bytes` must stay under the bound below, measured
//! against the live bytes the collector itself reported.
//!
//! # The bound, from first principles
//!
//! With `GOGC=100` the next cycle is requested when `marked + allocated ≥
//! goal = 2 × live` (`heap.rs`, `note_allocation`), where allocation is
//! counted per span handed to a cache (an over-estimate: it triggers early,
//! never late). The heap can exceed the goal only by:
//! 1. what is allocated between the request and the cycle, which runs at
//!    the end of the current scope: one step here (about 160 KiB);
//! 2. spans cached or partly used per size class / type per mutator: about
//!    a dozen keys here, each at most one 64 KiB span per mutator (≤ 2 MiB);
//! 3. fragmentation: partly live spans whose free slots wait to be reused.
//!    Lazy sweeping refills a key from its own unswept and partial spans
//!    before it asks for a new span, and proportional sweeping frees empty
//!    spans before the heap grows (`cache.rs`, `acquire`), so with a
//!    stationary mix a span's free slots are reused, not abandoned. We
//!    allow a whole extra `2 × live` for it.
//!
//! Hence `heap ≤ 4 × live + 4 MiB`. A leak of garbage (e.g. spans that are
//! never swept or never freed) grows the heap by `live` per cycle and fails
//! within a few cycles; the test runs dozens.
//!
//! Then everything is dropped and collected twice (the first cycle leaves
//! every span unswept, the second one's sweep finishes them): the heap must
//! fall to near zero, i.e. empty spans are returned.
//!
//! Runs in about a second in release on two cores; `TRICOLOR_STRESS_LONG=1`
//! runs 20× the steps.

use std::sync::Barrier;
use tricolor_gc::{Config, DebugKnobs, Gc, Heap, Mutation, Rootable, Trace};

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

const MIB: usize = 1 << 20;

/// 64 bytes: a typed span of the 64-byte class.
#[derive(Trace)]
struct Node<'gc> {
    id: u64,
    payload: [u64; 6],
    next: Option<Gc<'gc, Node<'gc>>>,
}

/// Chunk kinds and their slot bytes (what the marker counts):
/// a list of 64 nodes (4 KiB), an 8 KiB noscan buffer, a 48 KiB large blob.
#[derive(Trace)]
enum Chunk<'gc> {
    List(Gc<'gc, Node<'gc>>),
    Buffer(Gc<'gc, [u64; 1024]>),
    Blob(Gc<'gc, [u64; 6144]>),
}

const LIST_LEN: usize = 64;
/// Average chunk: 0.6 × 4 + 0.3 × 8 + 0.1 × 48 KiB ≈ 9.6 KiB, plus the
/// 16-byte chunk cell; 850 chunks ≈ 8 MiB.
const CHUNKS: usize = 850;
const REPLACE_PER_STEP: usize = 16;

fn new_chunk<'gc>(mc: &Mutation<'gc>, rng: &mut Rng, id: u64) -> Gc<'gc, Chunk<'gc>> {
    let c = match rng.below(10) {
        0..=5 => {
            let mut head = None;
            for k in 0..LIST_LEN as u64 {
                head = Some(Gc::new(
                    mc,
                    Node {
                        id: id + k,
                        payload: [id ^ k; 6],
                        next: head,
                    },
                ));
            }
            Chunk::List(head.expect("non-empty"))
        }
        6..=8 => Chunk::Buffer(Gc::new(mc, [id; 1024])),
        _ => Chunk::Blob(Gc::new(mc, [id; 6144])),
    };
    Gc::new(mc, c)
}

/// Spot-check a chunk (its contents are not the point here, but a freed
/// chunk must not go unnoticed).
fn check_chunk(c: &Chunk<'_>, id: u64) {
    match c {
        Chunk::List(h) => {
            let (mut n, mut len) = (Some(*h), 0);
            while let Some(node) = n {
                let k = LIST_LEN as u64 - 1 - len;
                assert_eq!(node.id, id + k, "list node id");
                assert_eq!(node.payload, [id ^ k; 6], "list node payload");
                n = node.next;
                len += 1;
            }
            assert_eq!(len, LIST_LEN as u64);
        }
        Chunk::Buffer(b) => assert!(b.iter().all(|&w| w == id), "buffer {id:#x}"),
        Chunk::Blob(b) => assert!(b[0] == id && b[6143] == id, "blob {id:#x}"),
    }
}

type Chunks = Rootable!['gc => Vec<Option<(u64, Gc<'gc, Chunk<'gc>>)>>];

/// What one churning mutator saw.
struct Seen {
    max_heap: usize,
    min_live: usize,
    max_live: usize,
}

/// Churn `CHUNKS / threads` chunks for `steps` steps on this thread; sample
/// the heap after `warmup` steps.
///
/// `done` is waited on after the last step, so no mutator drops its live
/// set while another one still samples.
fn churn(
    heap: &Heap,
    seed: u64,
    chunks: usize,
    steps: usize,
    warmup: usize,
    done: &Barrier,
) -> Seen {
    let mut rng = Rng(seed);
    let mut next_id = seed << 32;
    let mut m = heap.mutator::<Chunks>(|_| (0..chunks).map(|_| None).collect());
    let mut seen = Seen {
        max_heap: 0,
        min_live: usize::MAX,
        max_live: 0,
    };
    for step in 0..steps {
        m.mutate_root(|mc, slots| {
            for _ in 0..REPLACE_PER_STEP {
                let i = rng.below(slots.len());
                if let Some((id, c)) = slots[i] {
                    check_chunk(&c, id);
                }
                next_id += 1 << 8;
                slots[i] = Some((next_id, new_chunk(mc, &mut rng, next_id)));
            }
        });
        // Fill every slot during the warm-up's first part.
        if step < chunks / REPLACE_PER_STEP * 4 {
            m.mutate_root(|mc, slots| {
                for s in slots
                    .iter_mut()
                    .filter(|s| s.is_none())
                    .take(REPLACE_PER_STEP)
                {
                    next_id += 1 << 8;
                    *s = Some((next_id, new_chunk(mc, &mut rng, next_id)));
                }
            });
        }
        if step >= warmup {
            let st = heap.stats();
            seen.max_heap = seen.max_heap.max(st.heap_bytes);
            seen.min_live = seen.min_live.min(st.live_bytes);
            seen.max_live = seen.max_live.max(st.live_bytes);
        }
    }
    done.wait();
    m.mutate_root(|_, slots| {
        for (id, c) in slots.iter().flatten() {
            check_chunk(c, *id);
        }
    });
    seen
}

fn config(background_sweep: bool) -> Config {
    Config {
        gogc: Some(100),
        min_heap: 4 * MIB,
        max_heap: None,
        mark_workers: 2,
        background_sweep,
        debug: DebugKnobs::default(),
    }
}

/// Run the churn on `threads` mutators, check the bound, then drop
/// everything and check the heap empties.
fn bounded_growth(config: Config, threads: usize) {
    let heap = Heap::new(config);
    let steps = 8000 * scale();
    let warmup = 400;
    let done = Barrier::new(threads);
    let seen: Vec<Seen> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (heap, done) = (&heap, &done);
                s.spawn(move || churn(heap, 11 + t as u64, CHUNKS / threads, steps, warmup, done))
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let st = heap.stats();
    let max_heap = seen.iter().map(|s| s.max_heap).max().unwrap_or(0);
    let min_live = seen.iter().map(|s| s.min_live).min().unwrap_or(0);
    let max_live = seen.iter().map(|s| s.max_live).max().unwrap_or(0);
    eprintln!(
        "{} cycles; live {}..{} KiB; heap max {} KiB, peak at cycle end {} KiB",
        st.cycles,
        min_live >> 10,
        max_live >> 10,
        max_heap >> 10,
        st.peak_heap_bytes >> 10
    );
    // The workload is what it claims: about 8 MiB live, many cycles.
    assert!(
        (6 * MIB..=11 * MIB).contains(&min_live) && max_live <= 11 * MIB,
        "live set {min_live}..{max_live} B is not the intended ~8 MiB"
    );
    assert!(
        st.cycles >= 20 * scale() as u64,
        "only {} cycles",
        st.cycles
    );
    let bound = 4 * max_live + 4 * MIB;
    assert!(
        max_heap <= bound,
        "unexpected heap growth: heap reached {max_heap} B with at most {max_live} B live (bound {bound} B)"
    );
    assert!(
        st.peak_heap_bytes <= bound,
        "unexpected heap growth: a cycle ended with a {} B heap, {max_live} B live (bound {bound} B)",
        st.peak_heap_bytes
    );

    // Drop everything (the mutators are gone with their roots) and collect
    // twice: the first cycle marks nothing, the second finishes its sweep,
    // which returns every empty span.
    heap.collect();
    heap.collect();
    let st = heap.stats();
    assert_eq!(st.live_bytes, 0, "nothing is reachable");
    assert!(
        st.heap_bytes <= MIB / 4,
        "{} B of spans remain after everything died",
        st.heap_bytes
    );
}

#[test]
fn heap_stays_within_a_multiple_of_live_under_churn() {
    bounded_growth(config(true), 1);
}

#[test]
fn heap_stays_bounded_with_only_lazy_sweeping_on_two_mutators() {
    bounded_growth(config(false), 2);
}

/// The same bound while a mutator stays alive holding nothing: its cached
/// spans are flushed at each cycle and must not pin memory.
#[test]
fn a_live_idle_mutator_does_not_pin_dead_spans() {
    let heap = Heap::new(config(true));
    let idle = heap.mutator::<Rootable!['gc => ()]>(|_| ());
    let seen = churn(&heap, 99, CHUNKS / 2, 600 * scale(), 300, &Barrier::new(1));
    heap.collect();
    heap.collect();
    let st = heap.stats();
    assert!(seen.max_heap <= 4 * seen.max_live + 4 * MIB);
    assert!(
        st.heap_bytes <= MIB / 4,
        "{} B of spans remain after everything died",
        st.heap_bytes
    );
    drop(idle);
}
