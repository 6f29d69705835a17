//! Multi-threaded stress of the collector (test tier 4): what it proves is
//! that under constant collection no reachable object is ever freed, moved
//! or damaged, whatever the mutators do between cycles.
//!
//! - `threads_churn_private_graphs_and_share_immutable_trees`: four mutator
//!   threads (deterministic seeds) each churn a private graph — linked lists
//!   (linear, rings, self-loops, the two-node cycle A→B→A), binary trees,
//!   `RefLock<Vec<Gc<_>>>` arrays of noscan leaves, objects with drop glue
//!   and tiny pieces, large noscan blobs and a large scanned array of cells —
//!   and keep an exact shadow model of it. Every object carries its id and a
//!   payload computed from the id; walks compare structure, ids and
//!   payloads against the shadow continuously (a few random slots every
//!   step, everything every 64 steps and at the end). Each thread also
//!   builds immutable trees, roots them (`mc.root`) and sends the `Root` to
//!   the next thread over a channel; receivers verify them every step, clone,
//!   forward or link them into their own graph (so objects made by one
//!   thread stay reachable only from another's), and drop the `Root`s later.
//!   The heap runs with `checkmark` (every cycle re-marks on one thread and
//!   aborts if the parallel mark missed an object), `clobberfree` (a swept
//!   object reads as `0xdf…`, so a use-after-free shows up as a bad id or
//!   payload, and the message says so) and `stress` (a cycle every 512 KiB),
//!   in two sweeping modes: background + lazy, and `stoptheworld=2`.
//! - `raw_embedder_graph_survives_constant_collection`: the same idea on the
//!   raw embedder API, one thread: `Scan::PointerMap` list nodes pointing to
//!   noscan blobs (some tiny), `Scan::Refs` arrays (small, large and larger
//!   than one 128 KiB oblet) holding lists, roots in mutator root slots, heap
//!   root slots and a root callback, all stores through `write_ref`.
//! - `mutators_come_and_go_while_others_collect`: short-lived typed and raw
//!   mutators (some dropped inside their region) register, allocate in
//!   `init`, share trees read by scoped threads inside the scope, and go,
//!   while a long-lived consumer verifies everything it received after
//!   every collection.
//! - Minimal repros of collector bugs found while writing this file (see
//!   their doc comments): a `Root` to an odd-addressed tiny object is not a
//!   root; raw `Scan::Refs` objects are scanned past the bytes `alloc`
//!   zeroed (small and large); they fail until the bugs are fixed.
//!   `roots_can_be_made_again_after_one_is_dropped` is the regression test
//!   of a root-table bug found here and fixed since.
//!
//! Sized to run in a few seconds in release on two cores;
//! `TRICOLOR_STRESS_LONG=1` runs 20× the steps.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use tricolor_gc::{
    Config, DebugKnobs, Gc, Heap, Lock, Mutation, ObjectRef, RawMutator, RefLock, Root, Rootable,
    Scan, Trace, TypeDesc,
};

/// Step multiplier: 1 in CI, 20 with `TRICOLOR_STRESS_LONG=1`.
fn scale() -> usize {
    match std::env::var("TRICOLOR_STRESS_LONG").as_deref() {
        Ok("1") => 20,
        _ => 1,
    }
}

/// SplitMix64: a deterministic generator per thread.
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

    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

/// Payload word `k` of the object with id `id`.
fn word(id: u64, k: u64) -> u64 {
    let mut z = id ^ k.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    z = (z ^ (z >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z ^ (z >> 29)
}

fn payload<const N: usize>(id: u64) -> [u64; N] {
    core::array::from_fn(|k| word(id, k as u64))
}

/// What `clobberfree` leaves in a swept object.
const CLOBBER: u64 = 0xdfdf_dfdf_dfdf_dfdf;

fn clue(v: u64) -> &'static str {
    if v == CLOBBER || v as u32 == CLOBBER as u32 || v as u8 == CLOBBER as u8 {
        " — the clobberfree pattern: the object was swept while reachable"
    } else {
        ""
    }
}

/// Check an object's id and payload.
fn check(what: &str, got: u64, want: u64, payload: &[u64]) {
    assert!(
        got == want,
        "{what}: id {got:#x}, expected {want:#x}{}",
        clue(got)
    );
    for (k, &w) in payload.iter().enumerate() {
        assert!(
            w == word(want, k as u64),
            "{what} {want:#x}: payload word {k} is {w:#x}, expected {:#x}{}",
            word(want, k as u64),
            clue(w)
        );
    }
}

// ---------------------------------------------------------------------------
// The private graphs.

#[derive(Trace)]
struct ListNode<'gc> {
    id: u64,
    payload: [u64; 3],
    next: Lock<Option<Gc<'gc, ListNode<'gc>>>>,
}

#[derive(Trace)]
struct TreeNode<'gc> {
    id: u64,
    payload: [u64; 6],
    left: Lock<Option<Gc<'gc, TreeNode<'gc>>>>,
    right: Lock<Option<Gc<'gc, TreeNode<'gc>>>>,
}

/// Pointer-free and drop-free: lives in untyped noscan spans.
#[derive(Trace)]
struct Leaf {
    id: u64,
    payload: [u64; 7],
}

#[derive(Trace)]
struct Array<'gc> {
    id: u64,
    items: RefLock<Vec<Gc<'gc, Leaf>>>,
}

/// Drop glue (`String`), two tiny pieces (a `u32` and a `u8`, packed into
/// 16-byte blocks, the `u8` at odd addresses) and sometimes a large blob.
#[derive(Trace)]
struct Named<'gc> {
    id: u64,
    name: String,
    tiny: Gc<'gc, u32>,
    tag: Gc<'gc, u8>,
    blob: Option<Gc<'gc, Blob>>,
}

/// A large noscan object (40 000 bytes > the 32 KiB small limit).
#[derive(Trace)]
struct Blob {
    id: u64,
    words: [u64; BLOB_WORDS],
}
const BLOB_WORDS: usize = 4999;

/// A large scanned object (36 008 bytes) of cells.
#[derive(Trace)]
struct BigArray<'gc> {
    id: u64,
    slots: [Lock<Option<Gc<'gc, Leaf>>>; BIG_SLOTS],
}
const BIG_SLOTS: usize = 4500;

/// Immutable, `Sync`: shared between threads through `Root`s.
#[derive(Trace)]
struct STree<'gc> {
    id: u64,
    payload: [u64; 4],
    kids: Vec<Gc<'gc, STree<'gc>>>,
}

#[derive(Trace)]
enum Shape<'gc> {
    List(Gc<'gc, ListNode<'gc>>),
    Tree(Gc<'gc, TreeNode<'gc>>),
    Array(Gc<'gc, Array<'gc>>),
    Named(Gc<'gc, Named<'gc>>),
    Big(Gc<'gc, BigArray<'gc>>),
    Shared(Gc<'gc, STree<'gc>>),
}

type Slots = Rootable!['gc => Vec<Option<Shape<'gc>>>];
type SharedRoot = Root<Rootable!['gc => STree<'gc>]>;

/// The shadow of a binary tree.
struct ETree {
    id: u64,
    left: Option<Box<ETree>>,
    right: Option<Box<ETree>>,
}

/// The shadow of one slot.
enum Expect {
    List { ids: Vec<u64>, ring: bool },
    Tree(ETree),
    Array { id: u64, leaves: Vec<u64> },
    Named { id: u64, blob: bool },
    Big { id: u64, set: BTreeMap<usize, u64> },
    Shared(Summary),
}

/// What a walk of a shared tree yields: its root id, node count and an
/// order-sensitive hash of the ids.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Summary {
    id: u64,
    count: usize,
    hash: u64,
}

/// A shared tree in flight or held by a receiver.
struct Shared {
    root: SharedRoot,
    sum: Summary,
    hops: u32,
}

struct Held {
    shared: Shared,
    ttl: usize,
}

/// A thread's ids: thread number in the top 16 bits.
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

fn new_list<'gc>(
    mc: &Mutation<'gc>,
    ids: &mut Ids,
    len: usize,
    ring: bool,
) -> (Gc<'gc, ListNode<'gc>>, Vec<u64>) {
    let mut want: Vec<u64> = (0..len).map(|_| ids.next()).collect();
    let mut head: Option<Gc<'gc, ListNode<'gc>>> = None;
    let mut tail = None;
    for &id in want.iter().rev() {
        let n = Gc::new(
            mc,
            ListNode {
                id,
                payload: payload(id),
                next: Lock::new(head),
            },
        );
        tail.get_or_insert(n);
        head = Some(n);
    }
    let head = head.expect("len >= 1");
    if ring {
        tail.expect("len >= 1").next.set(mc, Some(head));
    }
    want.shrink_to_fit();
    (head, want)
}

fn verify_list<'gc>(head: Gc<'gc, ListNode<'gc>>, ids: &[u64], ring: bool) {
    let mut cur = Some(head);
    for (k, &id) in ids.iter().enumerate() {
        let n = cur
            .unwrap_or_else(|| panic!("list {:#x}: ends after {k} of {} nodes", ids[0], ids.len()));
        check("list node", n.id, id, &n.payload);
        cur = n.next.get();
    }
    if ring {
        assert!(
            cur.is_some_and(|c| Gc::ptr_eq(c, head)),
            "ring {:#x}: the tail does not point back to the head",
            ids[0]
        );
    } else {
        assert!(cur.is_none(), "list {:#x}: longer than expected", ids[0]);
    }
}

fn new_tree<'gc>(
    mc: &Mutation<'gc>,
    rng: &mut Rng,
    ids: &mut Ids,
    depth: usize,
) -> (Gc<'gc, TreeNode<'gc>>, ETree) {
    let id = ids.next();
    let kid = |rng: &mut Rng, ids: &mut Ids| {
        if depth > 0 && !rng.one_in(5) {
            let (g, e) = new_tree(mc, rng, ids, depth - 1);
            (Some(g), Some(Box::new(e)))
        } else {
            (None, None)
        }
    };
    let (l, el) = kid(rng, ids);
    let (r, er) = kid(rng, ids);
    let g = Gc::new(
        mc,
        TreeNode {
            id,
            payload: payload(id),
            left: Lock::new(l),
            right: Lock::new(r),
        },
    );
    (
        g,
        ETree {
            id,
            left: el,
            right: er,
        },
    )
}

fn verify_tree<'gc>(g: Option<Gc<'gc, TreeNode<'gc>>>, e: Option<&ETree>) {
    match (g, e) {
        (None, None) => {}
        (Some(g), Some(e)) => {
            check("tree node", g.id, e.id, &g.payload);
            verify_tree(g.left.get(), e.left.as_deref());
            verify_tree(g.right.get(), e.right.as_deref());
        }
        (Some(g), None) => panic!("tree: unexpected node {:#x}{}", g.id, clue(g.id)),
        (None, Some(e)) => panic!("tree: node {:#x} is missing", e.id),
    }
}

fn new_leaf<'gc>(mc: &Mutation<'gc>, ids: &mut Ids) -> (Gc<'gc, Leaf>, u64) {
    let id = ids.next();
    (
        Gc::new(
            mc,
            Leaf {
                id,
                payload: payload(id),
            },
        ),
        id,
    )
}

fn verify_leaf(g: Gc<'_, Leaf>, id: u64) {
    check("leaf", g.id, id, &g.payload);
}

fn new_named<'gc>(mc: &Mutation<'gc>, ids: &mut Ids, blob: bool) -> Gc<'gc, Named<'gc>> {
    let id = ids.next();
    let blob = blob.then(|| {
        Gc::new(
            mc,
            Blob {
                id,
                words: payload(id),
            },
        )
    });
    Gc::new(
        mc,
        Named {
            id,
            name: format!("named-{id:x}"),
            tiny: Gc::new(mc, word(id, 1000) as u32),
            tag: Gc::new(mc, id as u8 | 1),
            blob,
        },
    )
}

fn verify_named<'gc>(g: Gc<'gc, Named<'gc>>, id: u64, blob: bool) {
    check("named", g.id, id, &[]);
    assert_eq!(g.name, format!("named-{id:x}"), "named {id:#x}: name");
    let tiny = *g.tiny;
    assert!(
        tiny == word(id, 1000) as u32,
        "named {id:#x}: tiny piece {tiny:#x}{}",
        clue(tiny as u64)
    );
    let tag = *g.tag;
    assert!(
        tag == id as u8 | 1,
        "named {id:#x}: tiny tag {tag:#x}{}",
        clue(tag as u64)
    );
    match (g.blob, blob) {
        (Some(b), true) => check("blob", b.id, id, &b.words),
        (None, false) => {}
        _ => panic!("named {id:#x}: blob presence changed"),
    }
}

fn new_big<'gc>(mc: &Mutation<'gc>, ids: &mut Ids) -> Gc<'gc, BigArray<'gc>> {
    let id = ids.next();
    Gc::new(
        mc,
        BigArray {
            id,
            slots: core::array::from_fn(|_| Lock::new(None)),
        },
    )
}

fn verify_big<'gc>(g: Gc<'gc, BigArray<'gc>>, id: u64, set: &BTreeMap<usize, u64>) {
    check("big array", g.id, id, &[]);
    for (i, s) in g.slots.iter().enumerate() {
        match (s.get(), set.get(&i)) {
            (Some(l), Some(&want)) => verify_leaf(l, want),
            (None, None) => {}
            _ => panic!("big array {id:#x}: slot {i} presence changed"),
        }
    }
}

/// Walk a shared tree (a DAG: subtrees of other shared trees are walked
/// again each time), checking every node's payload.
fn summarize<'gc>(g: Gc<'gc, STree<'gc>>) -> Summary {
    fn walk(g: &STree<'_>, count: &mut usize, hash: &mut u64) {
        check("shared node", g.id, g.id, &g.payload);
        *count += 1;
        *hash = hash.wrapping_mul(0x100_0000_01B3).wrapping_add(g.id);
        for k in &g.kids {
            walk(k, count, hash);
        }
    }
    let (mut count, mut hash) = (0, 0);
    walk(&g, &mut count, &mut hash);
    Summary {
        id: g.id,
        count,
        hash,
    }
}

fn verify_shared<'gc>(g: Gc<'gc, STree<'gc>>, want: Summary) {
    // Its own payload first, for a clear message if the root was freed.
    check("shared root", g.id, want.id, &g.payload);
    let got = summarize(g);
    assert_eq!(got, want, "shared tree {:#x} changed", want.id);
}

fn new_stree<'gc>(
    mc: &Mutation<'gc>,
    rng: &mut Rng,
    ids: &mut Ids,
    depth: usize,
    held: &[Held],
) -> Gc<'gc, STree<'gc>> {
    let id = ids.next();
    let fanout = if depth == 0 { 0 } else { rng.below(4) };
    let mut kids = Vec::with_capacity(fanout);
    for _ in 0..fanout {
        kids.push(new_stree(mc, rng, ids, depth - 1, &[]));
    }
    // At the top only, link in one tree another thread made (bounded, so
    // the DAGs do not grow without limit).
    if !held.is_empty() && rng.one_in(3) {
        let h = &held[rng.below(held.len())].shared;
        if h.sum.count < 300 {
            kids.push(h.root.get(mc));
        }
    }
    Gc::new(
        mc,
        STree {
            id,
            payload: payload(id),
            kids,
        },
    )
}

fn verify_slot<'gc>(slot: &Option<Shape<'gc>>, e: &Option<Expect>) {
    match (slot, e) {
        (None, None) => {}
        (Some(Shape::List(g)), Some(Expect::List { ids, ring })) => verify_list(*g, ids, *ring),
        (Some(Shape::Tree(g)), Some(Expect::Tree(e))) => verify_tree(Some(*g), Some(e)),
        (Some(Shape::Array(g)), Some(Expect::Array { id, leaves })) => {
            check("array", g.id, *id, &[]);
            let items = g.items.borrow();
            assert_eq!(items.len(), leaves.len(), "array {id:#x}: length");
            for (&l, &want) in items.iter().zip(leaves) {
                verify_leaf(l, want);
            }
        }
        (Some(Shape::Named(g)), Some(Expect::Named { id, blob })) => verify_named(*g, *id, *blob),
        (Some(Shape::Big(g)), Some(Expect::Big { id, set })) => verify_big(*g, *id, set),
        (Some(Shape::Shared(g)), Some(Expect::Shared(sum))) => verify_shared(*g, *sum),
        _ => panic!("a slot holds a different kind of object than its shadow"),
    }
}

/// One random operation on the thread's graph.
fn op<'gc>(
    mc: &Mutation<'gc>,
    slots: &mut [Option<Shape<'gc>>],
    shadow: &mut [Option<Expect>],
    rng: &mut Rng,
    ids: &mut Ids,
    held: &[Held],
) {
    let i = rng.below(slots.len());
    match rng.below(100) {
        0..=14 => {
            let len = 1 + rng.below(40);
            // Rings include the self-loop (len 1) and A→B→A (len 2).
            let ring = rng.one_in(3) || len <= 2 && rng.one_in(2);
            let (g, ids) = new_list(mc, ids, len, ring);
            slots[i] = Some(Shape::List(g));
            shadow[i] = Some(Expect::List { ids, ring });
        }
        15..=24 => {
            let depth = rng.below(7);
            let (g, e) = new_tree(mc, rng, ids, depth);
            slots[i] = Some(Shape::Tree(g));
            shadow[i] = Some(Expect::Tree(e));
        }
        25..=34 => {
            let id = ids.next();
            let n = rng.below(64);
            let (items, leaves): (Vec<_>, Vec<_>) = (0..n).map(|_| new_leaf(mc, ids)).unzip();
            let g = Gc::new(
                mc,
                Array {
                    id,
                    items: RefLock::new(items),
                },
            );
            slots[i] = Some(Shape::Array(g));
            shadow[i] = Some(Expect::Array { id, leaves });
        }
        35..=42 => {
            let blob = rng.one_in(10);
            let g = new_named(mc, ids, blob);
            slots[i] = Some(Shape::Named(g));
            shadow[i] = Some(Expect::Named { id: g.id, blob });
        }
        43 => {
            let g = new_big(mc, ids);
            slots[i] = Some(Shape::Big(g));
            shadow[i] = Some(Expect::Big {
                id: g.id,
                set: BTreeMap::new(),
            });
        }
        44..=48 => {
            if !held.is_empty() {
                let h = &held[rng.below(held.len())].shared;
                slots[i] = Some(Shape::Shared(h.root.get(mc)));
                shadow[i] = Some(Expect::Shared(h.sum));
            }
        }
        49..=63 => {
            if let (Some(Shape::List(head)), Some(Expect::List { ids: want, ring })) =
                (&slots[i], &mut shadow[i])
            {
                let head = *head;
                match rng.below(4) {
                    // Splice out the second node (a two-node ring becomes a
                    // self-loop).
                    0 if want.len() >= 2 => {
                        let second = head.next.get().expect("len >= 2");
                        head.next.set(mc, second.next.get());
                        want.remove(1);
                    }
                    // Insert after the head.
                    1 if want.len() < 200 => {
                        let id = ids.next();
                        let n = Gc::new(
                            mc,
                            ListNode {
                                id,
                                payload: payload(id),
                                next: Lock::new(head.next.get()),
                            },
                        );
                        if want.len() == 1 && *ring {
                            n.next.set(mc, Some(head));
                        }
                        head.next.set(mc, Some(n));
                        want.insert(1, id);
                    }
                    // Cut or close the ring.
                    _ => {
                        let mut tail = head;
                        for _ in 1..want.len() {
                            tail = tail.next.get().expect("within the list");
                        }
                        *ring = !*ring;
                        tail.next.set(mc, if *ring { Some(head) } else { None });
                    }
                }
            }
        }
        64..=73 => {
            if let (Some(Shape::Tree(root)), Some(Expect::Tree(e))) = (&slots[i], &mut shadow[i]) {
                let root = *root;
                if rng.one_in(2) {
                    // Swap the children: pure pointer stores, no allocation.
                    let (l, r) = (root.left.get(), root.right.get());
                    root.left.set(mc, r);
                    root.right.set(mc, l);
                    core::mem::swap(&mut e.left, &mut e.right);
                } else {
                    let depth = rng.below(5);
                    let (g, sub) = new_tree(mc, rng, ids, depth);
                    if rng.one_in(2) {
                        root.left.set(mc, Some(g));
                        e.left = Some(Box::new(sub));
                    } else {
                        root.right.set(mc, Some(g));
                        e.right = Some(Box::new(sub));
                    }
                }
            }
        }
        74..=83 => {
            if let (Some(Shape::Array(a)), Some(Expect::Array { leaves, .. })) =
                (&slots[i], &mut shadow[i])
            {
                let mut items = a.items.borrow_mut(mc);
                for _ in 0..1 + rng.below(8) {
                    match rng.below(4) {
                        0 if !items.is_empty() => {
                            let k = rng.below(items.len());
                            let (l, id) = new_leaf(mc, ids);
                            items[k] = l;
                            leaves[k] = id;
                        }
                        1 if !items.is_empty() => {
                            let k = rng.below(items.len());
                            items.swap_remove(k);
                            leaves.swap_remove(k);
                        }
                        _ => {
                            let (l, id) = new_leaf(mc, ids);
                            items.push(l);
                            leaves.push(id);
                        }
                    }
                }
            }
        }
        84..=88 => {
            if let (Some(Shape::Big(b)), Some(Expect::Big { set, .. })) =
                (&slots[i], &mut shadow[i])
            {
                for _ in 0..1 + rng.below(16) {
                    let k = rng.below(BIG_SLOTS);
                    if rng.one_in(3) {
                        b.slots[k].set(mc, None);
                        set.remove(&k);
                    } else {
                        let (l, id) = new_leaf(mc, ids);
                        b.slots[k].set(mc, Some(l));
                        set.insert(k, id);
                    }
                }
            }
        }
        89..=94 => {
            slots[i] = None;
            shadow[i] = None;
        }
        _ => {
            // Move a slot's contents to another slot.
            let j = rng.below(slots.len());
            if i != j {
                slots[j] = slots[i].take();
                shadow[j] = shadow[i].take();
            }
        }
    }
}

/// Per-thread workload sizes.
const SLOTS: usize = 256;
const OPS_PER_STEP: usize = 8;

/// One mutator thread: churn, share, verify. Returns the ops it ran.
fn worker(heap: Heap, t: usize, steps: usize, tx: Sender<Shared>, rx: Receiver<Shared>) -> usize {
    let mut rng = Rng(0x5EED_0000 + t as u64 * 0x1_0000_0001);
    let mut ids = Ids((t as u64 + 1) << 48);
    let mut m = heap.mutator::<Slots>(|_| (0..SLOTS).map(|_| None).collect());
    let mut shadow: Vec<Option<Expect>> = (0..SLOTS).map(|_| None).collect();
    let mut held: Vec<Held> = Vec::new();
    let mut ops = 0;
    for step in 0..steps {
        // Outside any scope: take what other threads sent.
        while let Ok(s) = rx.try_recv() {
            let ttl = 1 + rng.below(30);
            let clone = rng.one_in(4).then(|| Shared {
                root: s.root.clone(),
                sum: s.sum,
                hops: u32::MAX,
            });
            held.push(Held { shared: s, ttl });
            if let Some(c) = clone {
                held.push(Held {
                    shared: c,
                    ttl: 1 + rng.below(60),
                });
            }
        }
        let produced = m.mutate_root(|mc, slots| {
            for _ in 0..OPS_PER_STEP {
                op(mc, slots, &mut shadow, &mut rng, &mut ids, &held);
            }
            ops += OPS_PER_STEP;
            for _ in 0..4 {
                let i = rng.below(SLOTS);
                verify_slot(&slots[i], &shadow[i]);
            }
            for h in &held {
                verify_shared(h.shared.root.get(mc), h.shared.sum);
            }
            if step % 64 == 63 {
                for (s, e) in slots.iter().zip(&shadow) {
                    verify_slot(s, e);
                }
            }
            rng.one_in(3).then(|| {
                let depth = 1 + rng.below(4);
                let g = new_stree(mc, &mut rng, &mut ids, depth, &held);
                Shared {
                    root: mc.root(g),
                    sum: summarize(g),
                    hops: 0,
                }
            })
        });
        if let Some(s) = produced {
            // The receiver may have finished already; then the root is
            // dropped here.
            let _ = tx.send(s);
        }
        // Age the held roots: drop them, or pass them on.
        let mut k = 0;
        while k < held.len() {
            held[k].ttl -= 1;
            if held[k].ttl == 0 {
                let h = held.swap_remove(k);
                if h.shared.hops < 3 && rng.one_in(2) {
                    let mut s = h.shared;
                    s.hops += 1;
                    let _ = tx.send(s);
                }
            } else {
                k += 1;
            }
        }
        if step % 256 == 255 {
            m.collect();
        }
    }
    m.mutate_root(|mc, slots| {
        for (s, e) in slots.iter().zip(&shadow) {
            verify_slot(s, e);
        }
        for h in &held {
            verify_shared(h.shared.root.get(mc), h.shared.sum);
        }
    });
    drop(held);
    m.collect();
    m.mutate_root(|_, slots| {
        for (s, e) in slots.iter().zip(&shadow) {
            verify_slot(s, e);
        }
    });
    ops
}

fn stress_config(stoptheworld: u32) -> Config {
    Config {
        gogc: Some(100),
        min_heap: 1 << 20,
        max_heap: None,
        mark_workers: 2,
        background_sweep: stoptheworld < 2,
        debug: DebugKnobs {
            checkmark: true,
            clobberfree: true,
            stress: 512 << 10,
            stoptheworld,
            ..DebugKnobs::default()
        },
    }
}

fn run_threads(config: Config, steps: usize) {
    const THREADS: usize = 4;
    let heap = Heap::new(config);
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..THREADS).map(|_| channel::<Shared>()).unzip();
    let ops: usize = std::thread::scope(|s| {
        let handles: Vec<_> = rxs
            .into_iter()
            .enumerate()
            .map(|(t, rx)| {
                // Thread t sends to thread t + 1.
                let tx = txs[(t + 1) % THREADS].clone();
                let heap = heap.clone();
                std::thread::Builder::new()
                    .name(format!("stress-{t}"))
                    .spawn_scoped(s, move || worker(heap, t, steps, tx, rx))
                    .expect("spawn")
            })
            .collect();
        drop(txs);
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .sum()
    });
    let st = heap.stats();
    eprintln!(
        "{} cycles, peak heap {} KiB, max pause {:?}",
        st.cycles,
        st.peak_heap_bytes >> 10,
        st.pause_max
    );
    assert_eq!(ops, THREADS * steps * OPS_PER_STEP);
    // The test only means something if the collector ran often.
    assert!(
        st.cycles >= 20 * scale() as u64,
        "only {} cycles ran",
        st.cycles
    );
    assert_eq!(st.roots, 0, "every Root was dropped");
}

#[test]
fn threads_churn_private_graphs_and_share_immutable_trees() {
    run_threads(stress_config(0), 12000 * scale());
}

#[test]
fn threads_churn_with_sweeping_inside_the_pause() {
    // `stoptheworld=2`: every dead object is clobbered before the world
    // restarts, so a wrongly freed object is visible at the very next step.
    run_threads(stress_config(2), 6000 * scale());
}

/// Mutators come and go (typed and raw, some dropped inside their region)
/// while a long-lived one collects: each short-lived mutator allocates in
/// its `init`, builds a shared tree, has scoped threads read it inside the
/// scope (`Gc<T>` is `Sync` for `T: Sync`), roots it and sends the `Root`
/// to the consumer, which verifies everything it ever received after every
/// collection.
#[test]
fn mutators_come_and_go_while_others_collect() {
    const PRODUCERS: usize = 3;
    let iterations = 1500 * scale();
    let heap = Heap::new(stress_config(0));
    let (tx, rx) = channel::<Shared>();
    std::thread::scope(|s| {
        let consumer = {
            let heap = heap.clone();
            s.spawn(move || {
                type Kept = Rootable!['gc => Vec<Gc<'gc, STree<'gc>>>];
                let mut m = heap.mutator::<Kept>(|_| Vec::new());
                let mut sums: Vec<Summary> = Vec::new();
                let mut n = 0usize;
                // Blocking outside any scope: the collector does not wait
                // for this thread.
                while let Ok(shared) = rx.recv() {
                    m.mutate_root(|mc, kept| {
                        let g = shared.root.get(mc);
                        verify_shared(g, shared.sum);
                        if n.is_multiple_of(3) {
                            kept.push(g);
                            sums.push(shared.sum);
                        }
                    });
                    drop(shared);
                    n += 1;
                    if n.is_multiple_of(50) {
                        m.collect();
                        m.mutate_root(|_, kept| {
                            for (&g, &sum) in kept.iter().zip(&sums) {
                                verify_shared(g, sum);
                            }
                        });
                    }
                }
                m.collect();
                m.mutate_root(|_, kept| {
                    for (&g, &sum) in kept.iter().zip(&sums) {
                        verify_shared(g, sum);
                    }
                });
                n
            })
        };
        for p in 0..PRODUCERS {
            let (heap, tx) = (heap.clone(), tx.clone());
            s.spawn(move || {
                let mut rng = Rng(0xC0FFEE + p as u64);
                let mut ids = Ids((0x100 + p as u64) << 48);
                for it in 0..iterations {
                    type One = Rootable!['gc => Option<Gc<'gc, STree<'gc>>>];
                    let mut m =
                        heap.mutator::<One>(|mc| Some(new_stree(mc, &mut rng, &mut ids, 2, &[])));
                    let shared = m.mutate(|mc, first| {
                        let first = first.expect("made by init");
                        let first_sum = summarize(first);
                        for _ in 0..rng.below(200) {
                            new_leaf(mc, &mut ids);
                        }
                        let g = new_stree(mc, &mut rng, &mut ids, 3, &[]);
                        let sum = summarize(g);
                        // Readers on other threads, inside this scope.
                        std::thread::scope(|r| {
                            for _ in 0..2 {
                                r.spawn(move || {
                                    assert_eq!(summarize(g), sum);
                                    assert_eq!(summarize(first), first_sum);
                                });
                            }
                        });
                        let root = mc.root(if it % 2 == 0 { g } else { first });
                        Shared {
                            root,
                            sum: if it % 2 == 0 { sum } else { first_sum },
                            hops: 0,
                        }
                    });
                    tx.send(shared)
                        .expect("the consumer runs until all senders are gone");
                    if it % 3 == 0 {
                        let mut raw = heap.raw_mutator();
                        raw.enter();
                        for _ in 0..50 {
                            raw.alloc(&NODE, 48).expect("alloc");
                        }
                        if it % 2 == 0 {
                            raw.leave();
                        }
                        // Dropped inside its region half of the time.
                        drop(raw);
                    }
                    if it % 10 == 0 {
                        m.collect();
                    }
                    drop(m);
                }
            });
        }
        drop(tx);
        let received = consumer
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        assert_eq!(received, PRODUCERS * iterations);
    });
    assert!(
        heap.stats().cycles >= 10,
        "only {} cycles",
        heap.stats().cycles
    );
    assert_eq!(heap.stats().roots, 0);
}

// ---------------------------------------------------------------------------
// The raw embedder API.

/// Words: 0 id, 1 next (ref), 2 blob (ref), 3..6 payload. 48 bytes: exactly
/// its size class, so the whole slot is initialised.
static NODE: TypeDesc = TypeDesc {
    size: 48,
    align: 8,
    scan: Scan::PointerMap(&[0b110]),
    drop: None,
};
const NODE_NEXT: usize = 8;
const NODE_BLOB: usize = 16;

/// Arrays of references: 64 bytes (exactly a size class) or large.
static REFS: TypeDesc = TypeDesc {
    size: 64,
    align: 8,
    scan: Scan::Refs,
    drop: None,
};

/// Pointer-free blobs of any size (word 0 the id, then payload).
static BLOB: TypeDesc = TypeDesc {
    size: 8,
    align: 8,
    scan: Scan::None,
    drop: None,
};

/// Array lengths in words: small (one size class), large, and larger than
/// one 128 KiB oblet.
const ARRAY_LENS: [usize; 3] = [8, 5000, 25_000];

fn blob_words(id: u64) -> usize {
    1 + (id % 40) as usize // 8..=320 bytes; 8 bytes is a tiny object
}

/// # Safety
/// `r` is a live object with at least `k + 1` words.
unsafe fn rd(r: ObjectRef, k: usize) -> u64 {
    // SAFETY: the caller's guarantee.
    unsafe { *(r.addr() as *const u64).add(k) }
}

/// # Safety
/// As for `rd`, and word `k` is not a reference word.
unsafe fn wr(r: ObjectRef, k: usize, v: u64) {
    // SAFETY: the caller's guarantee.
    unsafe { *(r.addr() as *mut u64).add(k) = v }
}

/// Build a list inside a region; the nodes are unrooted until stored.
///
/// # Safety
/// Inside a region.
unsafe fn raw_list(
    m: &mut RawMutator,
    ids: &mut Ids,
    len: usize,
    ring: bool,
) -> (ObjectRef, Vec<u64>) {
    let want: Vec<u64> = (0..len).map(|_| ids.next()).collect();
    let mut head: Option<ObjectRef> = None;
    let mut tail = None;
    for &id in want.iter().rev() {
        let n = m.alloc(&NODE, 48).expect("alloc node");
        let words = blob_words(id);
        let b = m.alloc(&BLOB, words * 8).expect("alloc blob");
        // SAFETY: fresh objects of 48 bytes and `words` words; inside the
        // region; the stored references are live.
        unsafe {
            wr(n, 0, id);
            for k in 3..6 {
                wr(n, k, word(id, k as u64));
            }
            wr(b, 0, id);
            for k in 1..words {
                wr(b, k, word(id, k as u64));
            }
            m.write_ref(n, NODE_NEXT, head);
            m.write_ref(n, NODE_BLOB, Some(b));
        }
        tail.get_or_insert(n);
        head = Some(n);
    }
    let head = head.expect("len >= 1");
    if ring {
        // SAFETY: live objects, a reference word.
        unsafe { m.write_ref(tail.expect("len >= 1"), NODE_NEXT, Some(head)) };
    }
    (head, want)
}

/// # Safety
/// Inside a region; `head` is live.
unsafe fn verify_raw_list(m: &RawMutator, head: ObjectRef, ids: &[u64], ring: bool) {
    let mut cur = Some(head);
    for (k, &id) in ids.iter().enumerate() {
        let n = cur.unwrap_or_else(|| panic!("raw list {:#x}: ends after {k} nodes", ids[0]));
        // SAFETY: a live node (if the collector is right).
        unsafe {
            let got: Vec<u64> = (3..6).map(|k| rd(n, k)).collect();
            check("raw node", rd(n, 0), id, &[]);
            for (j, &w) in got.iter().enumerate() {
                assert!(
                    w == word(id, j as u64 + 3),
                    "raw node {id:#x}: payload {w:#x}{}",
                    clue(w)
                );
            }
            let b = m.read_ref(n, NODE_BLOB).expect("node has a blob");
            check("raw blob", rd(b, 0), id, &[]);
            for k in 1..blob_words(id) {
                let w = rd(b, k);
                assert!(
                    w == word(id, k as u64),
                    "raw blob {id:#x}: word {k} is {w:#x}{}",
                    clue(w)
                );
            }
            cur = m.read_ref(n, NODE_NEXT);
        }
    }
    if ring {
        assert_eq!(cur, Some(head), "raw ring {:#x} not closed", ids[0]);
    } else {
        assert_eq!(cur, None, "raw list {:#x} too long", ids[0]);
    }
}

enum RawExpect {
    List(Vec<u64>, bool),
    Array(Vec<Option<(Vec<u64>, bool)>>),
}

/// # Safety
/// Inside a region; `r` is the live object `e` describes.
unsafe fn verify_raw(m: &RawMutator, r: usize, e: &Option<RawExpect>) {
    let obj = core::ptr::NonNull::new(r as *mut u8).map(ObjectRef);
    match (obj, e) {
        (None, None) => {}
        // SAFETY (both arms): the caller's guarantee.
        (Some(o), Some(RawExpect::List(ids, ring))) => unsafe { verify_raw_list(m, o, ids, *ring) },
        (Some(o), Some(RawExpect::Array(elems))) => {
            for (k, el) in elems.iter().enumerate() {
                // SAFETY: word `k` of a live array of `elems.len()` words.
                let v = unsafe { m.read_ref(o, 8 * k) };
                match (v, el) {
                    (None, None) => {}
                    // SAFETY: a live list head.
                    (Some(h), Some((ids, ring))) => unsafe { verify_raw_list(m, h, ids, *ring) },
                    _ => panic!("raw array element {k} changed"),
                }
            }
        }
        _ => panic!("raw root slot changed"),
    }
}

#[test]
fn raw_embedder_graph_survives_constant_collection() {
    const MSLOTS: usize = 48;
    const HSLOTS: usize = 8;
    let heap = Heap::new(stress_config(0));
    let mut m = heap.raw_mutator();
    // Root words: the mutator's own slots, slots registered with the heap,
    // and one object reported by a callback.
    let mut mslots: Box<[usize; MSLOTS]> = Box::new([0; MSLOTS]);
    let mut hslots: Box<[usize; HSLOTS]> = Box::new([0; HSLOTS]);
    let cb_obj = Arc::new(AtomicUsize::new(0));
    for s in mslots.iter() {
        // SAFETY: the box outlives the mutator's use of it (removed below),
        // and holds 0 or live objects at every safepoint.
        unsafe { m.add_root_slot(s) };
    }
    let hids: Vec<u64> = hslots
        .iter()
        // SAFETY: as above; removed before the box goes.
        .map(|s| unsafe { heap.add_root_slot(s) })
        .collect();
    let cb = cb_obj.clone();
    let cb_id = heap.add_root_callback(move |v| {
        // Relaxed: read by the collector with every mutator stopped; the
        // world stop orders the store before this load.
        if let Some(p) = core::ptr::NonNull::new(cb.load(Ordering::Relaxed) as *mut u8) {
            // SAFETY: the test keeps a live object (or 0) here at safepoints.
            unsafe { v.visit(p) };
        }
    });
    let mut shadow: Vec<Option<RawExpect>> = (0..MSLOTS + HSLOTS + 1).map(|_| None).collect();
    let mut rng = Rng(0xDEC0DE);
    let mut ids = Ids(7 << 48);
    let steps = 2000 * scale();
    for step in 0..steps {
        m.enter();
        for _ in 0..4 {
            let i = rng.below(shadow.len());
            let get = |i: usize, ms: &[usize; MSLOTS], hs: &[usize; HSLOTS]| match i {
                i if i < MSLOTS => ms[i],
                i if i < MSLOTS + HSLOTS => hs[i - MSLOTS],
                _ => cb_obj.load(Ordering::Relaxed),
            };
            let (value, expect) = match rng.below(10) {
                0..=3 => {
                    let len = 1 + rng.below(30);
                    let ring = rng.one_in(3);
                    // SAFETY: inside the region.
                    let (h, ids) = unsafe { raw_list(&mut m, &mut ids, len, ring) };
                    (h.addr(), Some(RawExpect::List(ids, ring)))
                }
                4..=5 => {
                    let len = ARRAY_LENS[if rng.one_in(8) { 1 + rng.below(2) } else { 0 }];
                    let arr = m.alloc(&REFS, len * 8).expect("alloc array");
                    let mut elems = Vec::with_capacity(len);
                    for k in 0..len {
                        if k < 16 || rng.one_in(500) {
                            let l = 1 + rng.below(6);
                            let ring = rng.one_in(2);
                            // SAFETY: inside the region; word `k` of the
                            // array, which is live (a local in the region).
                            unsafe {
                                let (h, ids) = raw_list(&mut m, &mut ids, l, ring);
                                m.write_ref(arr, 8 * k, Some(h));
                                elems.push(Some((ids, ring)));
                            }
                        } else {
                            elems.push(None);
                        }
                    }
                    (arr.addr(), Some(RawExpect::Array(elems)))
                }
                6..=7 => {
                    // Mutate an array element or splice a list, in place.
                    let cur = get(i, &mslots, &hslots);
                    match (
                        core::ptr::NonNull::new(cur as *mut u8).map(ObjectRef),
                        &mut shadow[i],
                    ) {
                        (Some(arr), Some(RawExpect::Array(elems))) => {
                            let k = rng.below(elems.len().min(32));
                            if rng.one_in(2) {
                                // SAFETY: a reference word of a live array.
                                unsafe { m.write_ref(arr, 8 * k, None) };
                                elems[k] = None;
                            } else {
                                // SAFETY: as above; inside the region.
                                unsafe {
                                    let (h, ids) = raw_list(&mut m, &mut ids, 3, false);
                                    m.write_ref(arr, 8 * k, Some(h));
                                    elems[k] = Some((ids, false));
                                }
                            }
                        }
                        (Some(head), Some(RawExpect::List(ids, _))) if ids.len() >= 2 => {
                            // SAFETY: live nodes; reference words.
                            unsafe {
                                let second = m.read_ref(head, NODE_NEXT).expect("len >= 2");
                                let third = m.read_ref(second, NODE_NEXT);
                                m.write_ref(head, NODE_NEXT, third);
                            }
                            ids.remove(1);
                        }
                        _ => {}
                    }
                    continue;
                }
                _ => (0, None),
            };
            match i {
                i if i < MSLOTS => mslots[i] = value,
                i if i < MSLOTS + HSLOTS => hslots[i - MSLOTS] = value,
                // Relaxed: see the callback.
                _ => cb_obj.store(value, Ordering::Relaxed),
            }
            shadow[i] = expect;
        }
        // Verify a few roots (all of them now and then).
        let all = step % 100 == 99;
        for (i, expect) in shadow.iter().enumerate() {
            if all || rng.one_in(12) {
                let r = match i {
                    i if i < MSLOTS => mslots[i],
                    i if i < MSLOTS + HSLOTS => hslots[i - MSLOTS],
                    _ => cb_obj.load(Ordering::Relaxed),
                };
                // SAFETY: inside the region; the slot holds what the shadow
                // says.
                unsafe { verify_raw(&m, r, expect) };
            }
        }
        m.leave();
        if step % 500 == 499 {
            m.collect();
        }
    }
    assert!(
        heap.stats().cycles >= 10 * scale() as u64,
        "only {} cycles",
        heap.stats().cycles
    );
    for s in mslots.iter() {
        m.remove_root_slot(s);
    }
    for id in hids {
        assert!(heap.remove_root_slot(id));
    }
    assert!(heap.remove_root_callback(cb_id));
    drop(m);
}

// ---------------------------------------------------------------------------
// Repros of collector bugs found while writing this file.

/// BUG: the root table's free list loses its end marker, so making a root
/// after one was dropped and its slot reused panics (index out of bounds
/// in `RootTable::insert`).
///
/// `roots.rs` encodes a free slot as `(next << 1) | 1` and decodes it as
/// `slot >> 1`, with `FREE_END = usize::MAX`: the end marker encodes to
/// `usize::MAX` and decodes to `usize::MAX >> 1`, which is not `FREE_END`.
/// Drop the only root (its slot now holds the encoded end), make a root
/// (it takes that slot; `free` becomes `usize::MAX >> 1`), make another:
/// `slots[usize::MAX >> 1]`.
#[test]
fn roots_can_be_made_again_after_one_is_dropped() {
    let heap = Heap::new(Config::default());
    let mut m = heap.mutator::<Rootable!['gc => ()]>(|_| ());
    let (a, b, c) = m.mutate(|mc, _| {
        let x = Gc::new(mc, 1u64);
        let a = mc.root::<Rootable!['gc => u64]>(x);
        drop(a);
        let b = mc.root::<Rootable!['gc => u64]>(x); // reuses the slot
        let c = mc.root::<Rootable!['gc => u64]>(x); // panics here
        (*b.get(mc), *c.get(mc), heap.stats().roots)
    });
    assert_eq!((a, b, c), (1, 1, 2));
}

/// BUG: a `Root` to a tiny object at an odd address does not keep it alive.
///
/// `u8`-sized objects are packed into 16-byte tiny blocks (`cache.rs`), so
/// the second one is at an odd address. `RootTable` (`roots.rs`) tags free
/// slots with bit 0 (`(next << 1) | 1`), and `RootTable::trace` skips every
/// slot with bit 0 set, so that root is never traced: the block is swept
/// while rooted and `root.get(mc)` reads freed memory (here the clobber
/// byte 0xdf instead of 0x5a). A `[u64; 2]` in the same 16-byte size class
/// keeps the span itself alive, so the read is of a swept slot, not of
/// returned pages.
#[test]
fn root_to_odd_address_tiny_object_keeps_it_alive() {
    let heap = Heap::new(Config {
        mark_workers: 1,
        debug: DebugKnobs {
            clobberfree: true,
            stoptheworld: 2,
            ..DebugKnobs::default()
        },
        ..Config::default()
    });
    let mut m = heap.mutator::<Rootable!['gc => ()]>(|_| ());
    let (keep, root) = m.mutate(|mc, _| {
        let keep = Gc::new(mc, [1u64, 2]);
        let _first = Gc::new(mc, 1u8);
        let odd = Gc::new(mc, 0x5au8);
        assert_eq!(
            Gc::as_ptr(odd) as usize & 1,
            1,
            "the repro needs an odd address"
        );
        (
            mc.root::<Rootable!['gc => [u64; 2]]>(keep),
            mc.root::<Rootable!['gc => u8]>(odd),
        )
    });
    m.collect();
    let (odd, keep) = m.mutate(|mc, _| (*root.get(mc), *keep.get(mc)));
    assert_eq!(keep, [1, 2]);
    assert_eq!(
        odd, 0x5a,
        "a rooted tiny object was swept (0xdf = clobbered)"
    );
}

/// Re-run this test binary as a child running only `test`, with `TRICOLOR_STRESS_CHILD` set.
fn run_child(test: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().expect("current_exe"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("TRICOLOR_STRESS_CHILD", "1")
        .output()
        .expect("spawn the child")
}

/// 40-byte objects of references: the 48-byte size class.
static REFS40: TypeDesc = TypeDesc {
    size: 40,
    align: 8,
    scan: Scan::Refs,
    drop: None,
};

/// BUG: `RawMutator::alloc` zeroes only the requested `size` bytes, but the
/// marker scans a `Scan::Refs` object over its whole slot (`elem_size`,
/// `mark.rs`, `scan`), so the slot's tail beyond `size` — whatever the
/// previous occupant or `clobberfree` left there — is read as a reference.
/// Here a 40-byte `Scan::Refs` object sits in a 48-byte slot; after a sweep
/// with `clobberfree` the tail word is `0xdfdf…df`, and the next mark
/// dereferences it (SIGSEGV). Without `clobberfree` a stale pointer to a
/// dead object is resurrected the same way. Run in a child process because
/// the failure is a crash.
#[test]
fn raw_refs_object_smaller_than_its_slot_is_scanned_only_where_zeroed() {
    if std::env::var_os("TRICOLOR_STRESS_CHILD").is_some() {
        let heap = Heap::new(Config {
            mark_workers: 1,
            debug: DebugKnobs {
                clobberfree: true,
                stoptheworld: 2,
                ..DebugKnobs::default()
            },
            ..Config::default()
        });
        let mut m = heap.raw_mutator();
        let mut slots: Box<[usize; 100]> = Box::new([0; 100]);
        for s in slots.iter() {
            // SAFETY: the box outlives the mutator (dropped first below).
            unsafe { m.add_root_slot(s) };
        }
        // Fill slots with garbage, sweep it (clobbering), then reuse them.
        m.enter();
        for _ in 0..100 {
            m.alloc(&REFS40, 40).expect("alloc");
        }
        m.leave();
        m.collect();
        m.enter();
        for s in slots.iter_mut() {
            *s = m.alloc(&REFS40, 40).expect("alloc").addr();
        }
        m.leave();
        m.collect(); // marks the new objects: scans their 48-byte slots
        drop(m);
        return;
    }
    let out = run_child("raw_refs_object_smaller_than_its_slot_is_scanned_only_where_zeroed");
    assert!(
        out.status.success(),
        "the child crashed ({:?}): a Scan::Refs object's unzeroed slot tail was traced\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// BUG (same root cause as above, large objects): a large `Scan::Refs`
/// object whose size is not a multiple of 8 is rounded up to whole words
/// (`cache.rs`, `alloc_large`), but `RawMutator::alloc` zeroes only the
/// requested bytes, so the top bytes of its last word keep whatever the
/// recycled pages held — here the clobber pattern of the previous,
/// swept objects — and the marker follows `0xdfdfdfdfdfdfdf00` (SIGSEGV).
#[test]
fn raw_large_refs_object_of_odd_size_is_scanned_only_where_zeroed() {
    if std::env::var_os("TRICOLOR_STRESS_CHILD").is_some() {
        let heap = Heap::new(Config {
            mark_workers: 1,
            debug: DebugKnobs {
                clobberfree: true,
                stoptheworld: 2,
                ..DebugKnobs::default()
            },
            ..Config::default()
        });
        let mut m = heap.raw_mutator();
        let mut slots: Box<[usize; 8]> = Box::new([0; 8]);
        for s in slots.iter() {
            // SAFETY: the box outlives the mutator (dropped first below).
            unsafe { m.add_root_slot(s) };
        }
        // Large garbage, swept (clobbered) and its pages returned ...
        m.enter();
        for _ in 0..8 {
            m.alloc(&REFS, 40_008).expect("alloc");
        }
        m.leave();
        m.collect();
        // ... then reused by 40 001-byte objects (40 008 after rounding).
        m.enter();
        for s in slots.iter_mut() {
            *s = m.alloc(&REFS, 40_001).expect("alloc").addr();
        }
        m.leave();
        m.collect();
        drop(m);
        return;
    }
    let out = run_child("raw_large_refs_object_of_odd_size_is_scanned_only_where_zeroed");
    assert!(
        out.status.success(),
        "the child crashed ({:?}): the unzeroed end of a large Scan::Refs object was traced\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
