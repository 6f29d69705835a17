//! A graph-mutation language over `tricolor_gc`'s public API, and a checker
//! that runs it against a shadow graph.
//!
//! Shared, through `#[path]` / `mod`, by three drivers:
//!
//! - `fuzz/fuzz_targets/gc_ops.rs`, the cargo-fuzz target (bytes → ops);
//! - `crates/gc/tests/fuzz_replay.rs`, which replays every input of
//!   `fuzz/corpus/gc_ops/` (and a batch of pseudo-random inputs) on stable;
//! - `crates/gc/tests/model.rs`, the proptest state machine (strategies →
//!   ops) under several collector configurations.
//!
//! # The heap side
//!
//! Every object is an [`Obj`]: its id, a tag derived from the id, a payload
//! (`Vec<u8>`, length chosen by the op, bytes derived from the id), two
//! `Lock<Option<Gc<Obj>>>` slots, a `RefLock<Vec<Option<Gc<Obj>>>>` of
//! edges (up to [`MAX_VEC`], or [`MAX_BULK`] for a `Bulk` hub), a
//! `Lock<Option<LeafRef>>` to a pointer-free leaf (a 48-byte [`SmallLeaf`]
//! in a noscan size class, or a 40 KiB [`BigLeaf`] in a large span), and a
//! [`DropProbe`] whose destructor logs the id. The
//! mutator's root is a `Vec<Option<Gc<Obj>>>` of root slots, changed with
//! `mutate_root`; the driver also holds `Root<Obj>` handles, made in one
//! scope and read in every later one.
//!
//! # The model
//!
//! Objects by id (only the reachable ones: the model is pruned after every
//! op, and an unreachable object can never be reached again since every op
//! picks its operands among the reachable objects), each with its slot,
//! edge-vector and leaf targets by id; reachable leaves by id; the root
//! slots and handles by id; and the number of objects and leaves ever
//! allocated. A pick selects the `pick % n`-th reachable object in id order.
//!
//! # What is checked
//!
//! At the start of every scope ([`walk`], which is also how ops find the
//! `Gc` of an object by id), walking the real graph in step with the model
//! from the root slots and the handles:
//! 1. every reference leads to the object the model says (compared by id,
//!    read before anything else in the object), and two references to the
//!    same id are the same address;
//! 2. every reachable object is intact: id, tag, drop-probe id, payload
//!    length and checksum; its edge vector has the model's length; every
//!    reachable leaf has its id and pattern;
//! 3. `Lock::replace` hands back the value the model says was there.
//!
//! After every `Collect` op (two `collect()` calls, the second of which
//! finishes the first one's sweep):
//! 4. `stats().live_objects` equals the number of reachable objects plus
//!    reachable leaves, exactly, after each of the two cycles (the root
//!    vector is stored inline in the mutator, not in the heap; every
//!    `Gc::new` here is one heap object: nothing is under 16 bytes, so the
//!    tiny allocator never packs two into one slot), and `stats().roots`
//!    equals the number of handles;
//! 5. after the first cycle (sweeping may still run in the background): no
//!    reachable object was dropped, none twice;
//! 6. after the second: the dropped ids are exactly the allocated ids that
//!    are not reachable;
//! 7. the walk (1–2) again, after the sweep has run.
//!
//! When the run ends, the handles, the mutator and the heap are dropped and
//! every object ever allocated must have been dropped exactly once.
//!
//! # Byte format ([`decode`])
//!
//! Byte 0 chooses the collector configuration ([`Setup::from_byte`]). Then
//! a sequence of records, each a tag byte followed by its operands (one
//! byte each); a truncated record ends the sequence. `tag % 16`:
//!
//! | tag     | op                          | operands                              |
//! |---------|-----------------------------|---------------------------------------|
//! | 0..=1   | `Alloc` into a root slot    | slot, payload, init, first            |
//! | 2..=4   | `Alloc` as a child          | parent, edge, payload, init, first    |
//! | 5       | `Garbage`                   | count, payload, anchor                |
//! | 6..=7   | `Write`                     | from, edge, to                        |
//! | 8       | `Delete`                    | from, edge                            |
//! | 9       | `SetRoot`                   | slot, to                              |
//! | 10      | `RemoveRoot`                | slot                                  |
//! | 11      | `SetLeaf`                   | from, leaf, share                     |
//! | 12      | `AddHandle` / `CloneHandle` / `DropHandle` | kind, pick             |
//! | 13      | `Isolate`                   | of                                    |
//! | 14      | `Bulk`                      | count, payload, parent                |
//! | 15      | `Collect`                   | —                                     |
//!
//! Operand bytes: an `edge` byte `e` is `Slot(0)`, `Slot(1)`, `VecPush`,
//! `VecAt(e >> 2)` for `e & 3` = 0..=3; a `to` byte is `None` for 0 and
//! `Some(b - 1)` otherwise; an `init` byte sets slot `k` (to the
//! `first + k`-th reachable object) if bit `k` is set, and bits 2..=4 are the
//! number of edge-vector entries (up to 7); `leaf % 8` is `Clear` for 0..=1,
//! `NewSmall` for 2..=4, `NewBig` for 5, `Share(share)` for 6..=7; a handle
//! `kind % 4` is `AddHandle` for 0..=1, `CloneHandle` for 2, `DropHandle`
//! for 3; a garbage `count` makes `1 + count % 64` objects; a bulk `count`
//! makes `1 + 4 × count` (up to 1021).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tricolor_gc::{
    Config, DebugKnobs, Gc, Heap, Lock, Mutation, Mutator, RefLock, Root, Rootable, Trace,
};

/// `Lock` slots per object.
pub const SLOTS: usize = 2;
/// Longest edge vector.
pub const MAX_VEC: usize = 8;
/// Most root slots in the mutator's root vector.
pub const MAX_ROOT_SLOTS: usize = 16;
/// Most `Root` handles held at once.
pub const MAX_HANDLES: usize = 16;
/// Most objects one `Garbage` op makes.
pub const MAX_GARBAGE: usize = 64;
/// Words of a small leaf: 48 bytes, a noscan size class above the tiny
/// allocator's 16 bytes (so each leaf is one heap object).
pub const SMALL_WORDS: usize = 6;
/// Words of a big leaf: 40 KiB, above the largest size class, so each big
/// leaf has a large span of its own.
pub const BIG_WORDS: usize = 5 * 1024;
/// Big leaves one run makes at most (the rest become small ones), so no
/// input holds more than ~2 MiB of them.
pub const MAX_BIG: usize = 48;
/// Most objects one `Bulk` op makes: four work buffers' worth.
pub const MAX_BULK: usize = 1024;
/// Most objects all `Bulk` ops of one run make (later ones make fewer, or
/// nothing): every op walks the whole reachable graph, so this keeps a run
/// linear in its length.
pub const MAX_BULK_TOTAL: usize = 2 * MAX_BULK;
/// Operations decoded from one input at most.
pub const MAX_OPS: usize = 1024;

const _: () = assert!(SMALL_WORDS * 8 >= 16);
const _: () = assert!(BIG_WORDS * 8 > tricolor_heap::size_class::MAX_SMALL_SIZE);

// ---- the heap side ----------------------------------------------------------

/// A small pointer-free leaf: word 0 is its id, the rest a pattern.
pub type SmallLeaf = [u64; SMALL_WORDS];
/// A big pointer-free leaf (a large object), laid out like a small one.
pub type BigLeaf = [u64; BIG_WORDS];

/// A reference to a leaf of either size.
#[derive(Clone, Copy, Trace)]
pub enum LeafRef<'gc> {
    Small(Gc<'gc, SmallLeaf>),
    Big(Gc<'gc, BigLeaf>),
}

/// The drop log shared by every object of one run.
#[derive(Default)]
pub struct DropLog {
    dropped: Mutex<Vec<u64>>,
}

impl DropLog {
    fn snapshot(&self) -> Vec<u64> {
        self.dropped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn len(&self) -> usize {
        self.dropped.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Logs its object's id when the sweeper (or the heap's teardown) drops it.
#[derive(Trace)]
#[trace(unsafe_drop)]
pub struct DropProbe {
    id: u64,
    log: Arc<DropLog>,
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        // Touches no `Gc` (the `Trace` contract for destructors): only the
        // id and the log, which is shared outside the heap.
        self.log
            .dropped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.id);
    }
}

/// A node of the graph.
#[derive(Trace)]
pub struct Obj<'gc> {
    id: u64,
    tag: u64,
    payload: Vec<u8>,
    slots: [Lock<Option<Gc<'gc, Obj<'gc>>>>; SLOTS],
    edges: RefLock<Vec<Option<Gc<'gc, Obj<'gc>>>>>,
    leaf: Lock<Option<LeafRef<'gc>>>,
    probe: DropProbe,
}

/// A handle on one object.
pub type ObjRoot = Rootable!['gc => Obj<'gc>];
/// The mutator's root: a vector of root slots.
pub type RootSlots = Rootable!['gc => Vec<Option<Gc<'gc, Obj<'gc>>>>];

fn mix(mut x: u64) -> u64 {
    // SplitMix64's finaliser.
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn tag_of(id: u64) -> u64 {
    mix(id ^ 0x7A6_0B1E)
}

fn payload_of(id: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (mix(id.wrapping_mul(257) ^ i as u64) >> 7) as u8)
        .collect()
}

/// FNV-1a.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01B3)
    })
}

fn leaf_word(leaf: u64, i: usize) -> u64 {
    if i == 0 {
        leaf
    } else {
        mix(leaf ^ ((i as u64) << 40))
    }
}

// ---- operations -------------------------------------------------------------

/// Which edge of an object an op writes or deletes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// `slots[i % SLOTS]` (a `Lock`).
    Slot(u8),
    /// Entry `k % len` of the edge vector (a `RefLock`); a push if empty.
    VecAt(usize),
    /// Push onto the edge vector (set the last entry if full); `Delete`
    /// pops.
    VecPush,
}

/// Where `Alloc` stores its new object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// Root slot `slot % (len + 1)` (`len` pushes a new slot).
    Root(usize),
    /// An edge of a reachable object (a root slot if there is none).
    Child { parent: usize, edge: Edge },
}

/// The initial edges of a new object: slot `k` points at the
/// `first + k`-th reachable object if bit `k` of `slots` is set; the edge
/// vector gets `vec_len` entries pointing at the following ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Init {
    pub slots: u8,
    pub vec_len: u8,
    pub first: usize,
}

/// What `SetLeaf` puts in an object's leaf field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafOp {
    Clear,
    NewSmall,
    NewBig,
    /// The leaf (or none) of another reachable object.
    Share(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Allocate an object with a `payload`-byte payload and initial edges.
    Alloc { dest: Dest, payload: u8, init: Init },
    /// Allocate `1 + count % MAX_GARBAGE` objects reachable from nothing: a
    /// chain through slot 0, closed into a cycle by the first object's edge
    /// vector, each pointing into the live graph through slot 1.
    Garbage {
        count: u8,
        payload: u8,
        anchor: usize,
    },
    /// Point an edge of a reachable object at a reachable object (or None).
    Write {
        from: usize,
        edge: Edge,
        to: Option<usize>,
    },
    /// Clear a slot, or remove an entry of the edge vector.
    Delete { from: usize, edge: Edge },
    /// Point a root slot at a reachable object, or clear it.
    SetRoot { slot: usize, to: Option<usize> },
    /// Remove a root slot from the root vector.
    RemoveRoot { slot: usize },
    /// Set, clear or share an object's leaf.
    SetLeaf { from: usize, leaf: LeafOp },
    /// Make a `Root` handle on a reachable object (inside a scope).
    AddHandle { of: usize },
    /// Clone a handle (outside any scope).
    CloneHandle { pick: usize },
    /// Drop a handle (outside any scope).
    DropHandle { pick: usize },
    /// Remove every reference to one object (root slots, handles, edges),
    /// dropping everything reachable only through it.
    Isolate { of: usize },
    /// A hub whose edge vector holds `count` (at most [`MAX_BULK`], and
    /// [`MAX_BULK_TOTAL`] over a run) new objects, pushed onto the edge
    /// vector of a reachable object (a root slot if there is none): enough
    /// grey objects at once to fill the markers' work buffers and make them
    /// balance through the pool.
    Bulk {
        count: usize,
        payload: u8,
        parent: usize,
    },
    /// Two full cycles, with the exact checks (module docs, 4–7).
    Collect,
}

// ---- configurations ---------------------------------------------------------

/// The collector configuration of one run. `checkmark` is on except in the
/// fault-injection self-test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    pub mark_workers: usize,
    pub clobberfree: bool,
    pub background_sweep: bool,
    /// `stress=1`: a cycle is requested whenever a cache takes a span, so
    /// nearly every allocating scope ends with one.
    pub stress: bool,
    pub stoptheworld: u32,
    pub gogc: Option<u32>,
    /// Small enough (256 KiB by default) that pacing starts cycles of its
    /// own at the end of scopes.
    pub min_heap: usize,
    pub checkmark: bool,
    pub losemark: u64,
}

impl Setup {
    /// Parallel marking (two markers), background sweeping, checkmark.
    pub const DEFAULT: Setup = Setup {
        mark_workers: 2,
        clobberfree: false,
        background_sweep: true,
        stress: false,
        stoptheworld: 0,
        gogc: Some(100),
        min_heap: 256 << 10,
        checkmark: true,
        losemark: 0,
    };

    /// The fuzz input's first byte: bit 0 one marker, bit 1 `clobberfree`,
    /// bit 2 no background sweeper, bit 3 `stress=1`, bit 4
    /// `stoptheworld=2`, bit 5 `gogc` off, bit 6 `min_heap` 4 MiB (the
    /// default; pacing then rarely starts a cycle here).
    pub fn from_byte(b: u8) -> Setup {
        Setup {
            mark_workers: if b & 1 != 0 { 1 } else { 2 },
            clobberfree: b & 2 != 0,
            background_sweep: b & 4 == 0,
            stress: b & 8 != 0,
            stoptheworld: if b & 16 != 0 { 2 } else { 0 },
            gogc: if b & 32 != 0 { None } else { Some(100) },
            min_heap: if b & 64 != 0 { 4 << 20 } else { 256 << 10 },
            ..Setup::DEFAULT
        }
    }

    /// Every field set, so `TRICOLOR_*` variables cannot change the run.
    pub fn config(&self) -> Config {
        Config {
            gogc: self.gogc,
            min_heap: self.min_heap,
            max_heap: None,
            mark_workers: self.mark_workers,
            background_sweep: self.background_sweep,
            debug: DebugKnobs {
                gctrace: 0,
                checkmark: self.checkmark,
                stoptheworld: self.stoptheworld,
                clobberfree: self.clobberfree,
                stress: usize::from(self.stress),
                losemark: self.losemark,
            },
        }
    }
}

// ---- decoding ---------------------------------------------------------------

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn pick(&mut self) -> Option<usize> {
        self.u8().map(usize::from)
    }
}

pub fn edge_from(e: u8) -> Edge {
    match e & 3 {
        0 => Edge::Slot(0),
        1 => Edge::Slot(1),
        2 => Edge::VecPush,
        _ => Edge::VecAt(usize::from(e >> 2)),
    }
}

pub fn to_from(b: u8) -> Option<usize> {
    b.checked_sub(1).map(usize::from)
}

pub fn init_from(b: u8, first: u8) -> Init {
    Init {
        slots: b & 3,
        vec_len: (b >> 2) & 7,
        first: usize::from(first),
    }
}

pub fn leaf_from(l: u8, share: u8) -> LeafOp {
    match l % 8 {
        0..=1 => LeafOp::Clear,
        2..=4 => LeafOp::NewSmall,
        5 => LeafOp::NewBig,
        _ => LeafOp::Share(usize::from(share)),
    }
}

fn decode_one(r: &mut Reader) -> Option<Op> {
    let tag = r.u8()?;
    Some(match tag % 16 {
        0..=1 => {
            let slot = r.pick()?;
            let payload = r.u8()?;
            let init = r.u8()?;
            let first = r.u8()?;
            Op::Alloc {
                dest: Dest::Root(slot),
                payload,
                init: init_from(init, first),
            }
        }
        2..=4 => {
            let parent = r.pick()?;
            let edge = edge_from(r.u8()?);
            let payload = r.u8()?;
            let init = r.u8()?;
            let first = r.u8()?;
            Op::Alloc {
                dest: Dest::Child { parent, edge },
                payload,
                init: init_from(init, first),
            }
        }
        5 => Op::Garbage {
            count: r.u8()?,
            payload: r.u8()?,
            anchor: r.pick()?,
        },
        6..=7 => Op::Write {
            from: r.pick()?,
            edge: edge_from(r.u8()?),
            to: to_from(r.u8()?),
        },
        8 => Op::Delete {
            from: r.pick()?,
            edge: edge_from(r.u8()?),
        },
        9 => Op::SetRoot {
            slot: r.pick()?,
            to: to_from(r.u8()?),
        },
        10 => Op::RemoveRoot { slot: r.pick()? },
        11 => {
            let from = r.pick()?;
            let leaf = r.u8()?;
            let share = r.u8()?;
            Op::SetLeaf {
                from,
                leaf: leaf_from(leaf, share),
            }
        }
        12 => {
            let kind = r.u8()?;
            let pick = r.pick()?;
            match kind % 4 {
                0..=1 => Op::AddHandle { of: pick },
                2 => Op::CloneHandle { pick },
                _ => Op::DropHandle { pick },
            }
        }
        13 => Op::Isolate { of: r.pick()? },
        14 => Op::Bulk {
            count: 1 + 4 * usize::from(r.u8()?),
            payload: r.u8()?,
            parent: r.pick()?,
        },
        _ => Op::Collect,
    })
}

/// Decode fuzzer bytes into a configuration and operations (module docs).
pub fn decode(data: &[u8]) -> (Setup, Vec<Op>) {
    let Some((&first, rest)) = data.split_first() else {
        return (Setup::from_byte(0), Vec::new());
    };
    let mut r = Reader(rest);
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS {
        let Some(op) = decode_one(&mut r) else { break };
        ops.push(op);
    }
    (Setup::from_byte(first), ops)
}

/// Run a whole input: decode, apply every op, collect and check, tear down
/// and check every object was dropped once. The fuzz target's body.
pub fn run(data: &[u8]) {
    let (setup, ops) = decode(data);
    run_ops(setup, &ops);
}

/// Apply `ops` to a fresh heap configured by `setup`, with every check.
pub fn run_ops(setup: Setup, ops: &[Op]) {
    let mut run = Run::new(setup);
    for op in ops {
        run.apply(op);
    }
    run.apply(&Op::Collect);
    run.finish();
}

// ---- the model --------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafKind {
    Small,
    Big,
}

#[derive(Clone, Debug)]
struct MObj {
    payload: usize,
    /// `checksum` of the payload, computed when the object was made.
    sum: u64,
    slots: [Option<u64>; SLOTS],
    vec: Vec<Option<u64>>,
    leaf: Option<u64>,
}

impl MObj {
    fn new(id: u64, payload: usize, slots: [Option<u64>; SLOTS], vec: Vec<Option<u64>>) -> MObj {
        MObj {
            payload,
            sum: checksum(&payload_of(id, payload)),
            slots,
            vec,
            leaf: None,
        }
    }
}

/// The shadow graph (module docs).
#[derive(Default)]
pub struct Model {
    /// Reachable objects (after `prune`).
    objs: BTreeMap<u64, MObj>,
    /// Reachable leaves (after `prune`).
    leaves: BTreeMap<u64, LeafKind>,
    roots: Vec<Option<u64>>,
    handles: Vec<u64>,
    /// Objects `0..next_obj` have been allocated.
    next_obj: u64,
    next_leaf: u64,
    big_allocated: usize,
    bulk_allocated: usize,
}

impl Model {
    fn ids(&self) -> Vec<u64> {
        self.objs.keys().copied().collect()
    }

    fn pick(&self, p: usize) -> Option<u64> {
        let n = self.objs.len();
        if n == 0 {
            return None;
        }
        self.objs.keys().nth(p % n).copied()
    }

    /// Keep only what the root slots and handles reach.
    fn prune(&mut self) {
        let mut seen = std::collections::BTreeSet::new();
        let mut queue: Vec<u64> = self
            .roots
            .iter()
            .flatten()
            .chain(self.handles.iter())
            .copied()
            .collect();
        while let Some(id) = queue.pop() {
            if !seen.insert(id) {
                continue;
            }
            let o = &self.objs[&id];
            queue.extend(o.slots.iter().chain(o.vec.iter()).flatten().copied());
        }
        self.objs.retain(|id, _| seen.contains(id));
        let used: std::collections::BTreeSet<u64> =
            self.objs.values().filter_map(|o| o.leaf).collect();
        self.leaves.retain(|id, _| used.contains(id));
    }

    /// Heap objects the model says are reachable: objects and leaves.
    pub fn live_objects(&self) -> usize {
        self.objs.len() + self.leaves.len()
    }
}

// ---- the driver -------------------------------------------------------------

/// One heap, its mutator and handles, and the model they must match.
pub struct Run {
    model: Model,
    handles: Vec<Root<ObjRoot>>,
    m: Mutator<RootSlots>,
    heap: Heap,
    log: Arc<DropLog>,
    pub collects: usize,
}

/// The `Gc`s of the reachable objects and leaves of one scope, by id.
struct Live<'gc> {
    objs: BTreeMap<u64, Gc<'gc, Obj<'gc>>>,
    leaves: BTreeMap<u64, LeafRef<'gc>>,
}

impl<'gc> Live<'gc> {
    fn reach(
        &mut self,
        real: Option<Gc<'gc, Obj<'gc>>>,
        want: Option<u64>,
        queue: &mut VecDeque<u64>,
        what: &dyn Fn() -> String,
    ) {
        match (real, want) {
            (None, None) => {}
            (Some(g), Some(id)) => {
                if let Some(&seen) = self.objs.get(&id) {
                    assert!(
                        Gc::ptr_eq(seen, g),
                        "{}: object {id} is at {:p} and at {:p}",
                        what(),
                        Gc::as_ptr(seen),
                        Gc::as_ptr(g)
                    );
                } else {
                    // The id is read first: a freed (clobbered) or reused
                    // slot shows up here, before the payload is touched.
                    assert_eq!(
                        g.id,
                        id,
                        "{}: expected object {id} at {:p}, found id {:#x} (freed or reused?)",
                        what(),
                        Gc::as_ptr(g),
                        g.id
                    );
                    self.objs.insert(id, g);
                    queue.push_back(id);
                }
            }
            (real, want) => panic!(
                "{}: the model says {want:?}, the heap holds {:?}",
                what(),
                real.map(|g| g.id)
            ),
        }
    }

    fn reach_leaf(
        &mut self,
        real: LeafRef<'gc>,
        id: u64,
        kind: LeafKind,
        what: &dyn Fn() -> String,
    ) {
        if self.leaves.contains_key(&id) {
            return; // checked when first reached; shared leaves are fine
        }
        match (real, kind) {
            (LeafRef::Small(g), LeafKind::Small) => {
                for (i, &w) in g.iter().enumerate() {
                    assert_eq!(
                        w,
                        leaf_word(id, i),
                        "{}: small leaf {id} word {i} (at {:p})",
                        what(),
                        Gc::as_ptr(g)
                    );
                }
            }
            (LeafRef::Big(g), LeafKind::Big) => {
                let sample = (0..BIG_WORDS)
                    .step_by(97)
                    .chain([1, BIG_WORDS / 2, BIG_WORDS - 1]);
                for i in sample {
                    assert_eq!(
                        g[i],
                        leaf_word(id, i),
                        "{}: big leaf {id} word {i} (at {:p})",
                        what(),
                        Gc::as_ptr(g)
                    );
                }
            }
            (_, kind) => panic!("{}: leaf {id} should be {kind:?}", what()),
        }
        self.leaves.insert(id, real);
    }
}

/// Check an object's own fields (module docs, check 2).
fn check_intact(g: Gc<'_, Obj<'_>>, id: u64, m: &MObj) {
    assert_eq!(
        g.tag,
        tag_of(id),
        "object {id}: tag (at {:p})",
        Gc::as_ptr(g)
    );
    assert_eq!(g.probe.id, id, "object {id}: drop probe id");
    assert_eq!(g.payload.len(), m.payload, "object {id}: payload length");
    assert_eq!(checksum(&g.payload), m.sum, "object {id}: payload checksum");
}

/// Walk the real graph in step with the model from the root slots and the
/// handles, checking every object and edge on the way (module docs, 1–2).
fn walk<'gc>(
    mc: &Mutation<'gc>,
    root: &[Option<Gc<'gc, Obj<'gc>>>],
    handles: &[Root<ObjRoot>],
    model: &Model,
) -> Live<'gc> {
    assert_eq!(root.len(), model.roots.len(), "number of root slots");
    assert_eq!(handles.len(), model.handles.len(), "number of handles");
    let mut live = Live {
        objs: BTreeMap::new(),
        leaves: BTreeMap::new(),
    };
    let mut queue = VecDeque::new();
    for (i, (&r, &want)) in root.iter().zip(&model.roots).enumerate() {
        live.reach(r, want, &mut queue, &|| format!("root slot {i}"));
    }
    for (i, (h, &want)) in handles.iter().zip(&model.handles).enumerate() {
        live.reach(Some(h.get(mc)), Some(want), &mut queue, &|| {
            format!("handle {i}")
        });
    }
    while let Some(id) = queue.pop_front() {
        let g = live.objs[&id];
        let Some(m) = model.objs.get(&id) else {
            panic!("model bug: object {id} is reachable but was pruned")
        };
        check_intact(g, id, m);
        for k in 0..SLOTS {
            live.reach(g.slots[k].get(), m.slots[k], &mut queue, &|| {
                format!("object {id} slot {k}")
            });
        }
        let edges: Vec<_> = g.edges.borrow().clone();
        assert_eq!(edges.len(), m.vec.len(), "object {id}: edge vector length");
        for (k, (&e, &want)) in edges.iter().zip(&m.vec).enumerate() {
            live.reach(e, want, &mut queue, &|| format!("object {id} edge {k}"));
        }
        match (g.leaf.get(), m.leaf) {
            (None, None) => {}
            (Some(l), Some(lid)) => {
                live.reach_leaf(l, lid, model.leaves[&lid], &|| format!("object {id} leaf"))
            }
            (real, want) => panic!(
                "object {id} leaf: the model says {want:?}, the heap has {}",
                if real.is_some() { "one" } else { "none" }
            ),
        }
    }
    assert_eq!(live.objs.len(), model.objs.len(), "reachable objects");
    assert_eq!(live.leaves.len(), model.leaves.len(), "reachable leaves");
    live
}

fn new_obj<'gc>(
    mc: &Mutation<'gc>,
    id: u64,
    payload: usize,
    slots: [Option<Gc<'gc, Obj<'gc>>>; SLOTS],
    edges: Vec<Option<Gc<'gc, Obj<'gc>>>>,
    log: &Arc<DropLog>,
) -> Gc<'gc, Obj<'gc>> {
    Gc::new(
        mc,
        Obj {
            id,
            tag: tag_of(id),
            payload: payload_of(id, payload),
            slots: slots.map(Lock::new),
            edges: RefLock::new(edges),
            leaf: Lock::new(None),
            probe: DropProbe {
                id,
                log: log.clone(),
            },
        },
    )
}

type Target<'gc> = Option<(u64, Gc<'gc, Obj<'gc>>)>;

/// Store `to` in `edge` of `g` (whose model is `m`).
fn set_edge<'gc>(
    mc: &Mutation<'gc>,
    g: Gc<'gc, Obj<'gc>>,
    m: &mut MObj,
    edge: Edge,
    to: Target<'gc>,
) {
    let (id, gc) = (to.map(|t| t.0), to.map(|t| t.1));
    match edge {
        Edge::Slot(i) => {
            let i = usize::from(i) % SLOTS;
            let old = g.slots[i].replace(mc, gc);
            assert_eq!(
                old.map(|o| o.id),
                m.slots[i],
                "object {}: slot {i} before the write",
                g.id
            );
            m.slots[i] = id;
        }
        Edge::VecAt(_) | Edge::VecPush => {
            let mut v = g.edges.borrow_mut(mc);
            let len = v.len();
            let at = match edge {
                Edge::VecAt(k) if len > 0 => Some(k % len),
                Edge::VecPush if len >= MAX_VEC => Some(len - 1),
                _ => None,
            };
            match at {
                Some(k) => {
                    v[k] = gc;
                    m.vec[k] = id;
                }
                None => {
                    v.push(gc);
                    m.vec.push(id);
                }
            }
        }
    }
}

/// Clear `edge` of `g`: a slot becomes `None`, a vector entry is removed.
fn delete_edge<'gc>(mc: &Mutation<'gc>, g: Gc<'gc, Obj<'gc>>, m: &mut MObj, edge: Edge) {
    match edge {
        Edge::Slot(_) => set_edge(mc, g, m, edge, None),
        Edge::VecAt(k) => {
            let mut v = g.edges.borrow_mut(mc);
            if !v.is_empty() {
                let k = k % v.len();
                v.remove(k);
                m.vec.remove(k);
            }
        }
        Edge::VecPush => {
            if g.edges.borrow_mut(mc).pop().is_some() {
                m.vec.pop();
            }
        }
    }
}

/// The index `slot` selects among `len` root slots; `len` itself (a push)
/// when `grow` and there is room.
fn root_index(slot: usize, len: usize, grow: bool) -> Option<usize> {
    let n = if grow && len < MAX_ROOT_SLOTS {
        len + 1
    } else {
        len
    };
    (n > 0).then(|| slot % n)
}

fn set_root<'gc>(
    root: &mut Vec<Option<Gc<'gc, Obj<'gc>>>>,
    model: &mut Model,
    slot: usize,
    to: Target<'gc>,
) {
    let Some(i) = root_index(slot, root.len(), to.is_some()) else {
        return;
    };
    if i == root.len() {
        root.push(to.map(|t| t.1));
        model.roots.push(to.map(|t| t.0));
    } else {
        root[i] = to.map(|t| t.1);
        model.roots[i] = to.map(|t| t.0);
    }
}

fn new_leaf<'gc>(mc: &Mutation<'gc>, model: &mut Model, big: bool) -> (u64, LeafRef<'gc>) {
    let id = model.next_leaf;
    model.next_leaf += 1;
    if big && model.big_allocated < MAX_BIG {
        model.big_allocated += 1;
        model.leaves.insert(id, LeafKind::Big);
        let mut w = [0u64; BIG_WORDS];
        for (i, x) in w.iter_mut().enumerate() {
            *x = leaf_word(id, i);
        }
        (id, LeafRef::Big(Gc::new(mc, w)))
    } else {
        model.leaves.insert(id, LeafKind::Small);
        let w: SmallLeaf = core::array::from_fn(|i| leaf_word(id, i));
        (id, LeafRef::Small(Gc::new(mc, w)))
    }
}

/// An op that runs inside a mutation scope.
fn apply_in_scope<'gc>(
    mc: &'gc Mutation<'gc>,
    root: &mut Vec<Option<Gc<'gc, Obj<'gc>>>>,
    handles: &mut Vec<Root<ObjRoot>>,
    model: &mut Model,
    log: &Arc<DropLog>,
    op: &Op,
) {
    let live = walk(mc, root, handles, model);
    let target = |m: &Model, p: usize| -> Target<'gc> { m.pick(p).map(|id| (id, live.objs[&id])) };
    match *op {
        Op::Alloc {
            dest,
            payload,
            init,
        } => {
            let ids = model.ids();
            let nth = |k: usize| -> Target<'gc> {
                (!ids.is_empty()).then(|| {
                    let id = ids[(init.first + k) % ids.len()];
                    (id, live.objs[&id])
                })
            };
            let slots: [Target<'gc>; SLOTS] =
                core::array::from_fn(|k| (init.slots & (1 << k) != 0).then(|| nth(k)).flatten());
            let vec: Vec<Target<'gc>> = (0..usize::from(init.vec_len).min(MAX_VEC))
                .map(|j| nth(SLOTS + j))
                .collect();
            // The parent is picked among the objects reachable before
            // this one exists.
            let parent = match dest {
                Dest::Child { parent, edge } => model.pick(parent).map(|p| (p, edge)),
                Dest::Root(_) => None,
            };
            let id = model.next_obj;
            model.next_obj += 1;
            let g = new_obj(
                mc,
                id,
                usize::from(payload),
                slots.map(|t| t.map(|t| t.1)),
                vec.iter().map(|t| t.map(|t| t.1)).collect(),
                log,
            );
            model.objs.insert(
                id,
                MObj::new(
                    id,
                    usize::from(payload),
                    slots.map(|t| t.map(|t| t.0)),
                    vec.iter().map(|t| t.map(|t| t.0)).collect(),
                ),
            );
            match (parent, dest) {
                (Some((p, edge)), _) => {
                    let m = model.objs.get_mut(&p).expect("picked");
                    set_edge(mc, live.objs[&p], m, edge, Some((id, g)));
                }
                (None, Dest::Root(slot)) => set_root(root, model, slot, Some((id, g))),
                (None, Dest::Child { parent, .. }) => set_root(root, model, parent, Some((id, g))),
            }
        }
        Op::Garbage {
            count,
            payload,
            anchor,
        } => {
            let count = 1 + usize::from(count) % MAX_GARBAGE;
            let ids = model.ids();
            let mut first = None;
            let mut prev = None;
            for k in 0..count {
                let to_live = (!ids.is_empty()).then(|| live.objs[&ids[(anchor + k) % ids.len()]]);
                let id = model.next_obj;
                model.next_obj += 1;
                let g = new_obj(
                    mc,
                    id,
                    usize::from(payload),
                    [prev, to_live],
                    Vec::new(),
                    log,
                );
                first.get_or_insert(g);
                prev = Some(g);
            }
            if let (Some(first), Some(last)) = (first, prev) {
                first.edges.borrow_mut(mc).push(Some(last));
            }
        }
        Op::Write { from, edge, to } => {
            if let Some(f) = model.pick(from) {
                let to = to.and_then(|t| target(model, t));
                let m = model.objs.get_mut(&f).expect("picked");
                set_edge(mc, live.objs[&f], m, edge, to);
            }
        }
        Op::Delete { from, edge } => {
            if let Some(f) = model.pick(from) {
                let m = model.objs.get_mut(&f).expect("picked");
                delete_edge(mc, live.objs[&f], m, edge);
            }
        }
        Op::SetRoot { slot, to } => {
            let to = to.and_then(|t| target(model, t));
            set_root(root, model, slot, to);
        }
        Op::RemoveRoot { slot } => {
            if !root.is_empty() {
                let i = slot % root.len();
                root.remove(i);
                model.roots.remove(i);
            }
        }
        Op::SetLeaf { from, leaf } => {
            let Some(f) = model.pick(from) else { return };
            let new = match leaf {
                LeafOp::Clear => None,
                LeafOp::NewSmall => Some(new_leaf(mc, model, false)),
                LeafOp::NewBig => Some(new_leaf(mc, model, true)),
                LeafOp::Share(p) => {
                    let o = model.pick(p).expect("not empty");
                    model.objs[&o].leaf.map(|lid| (lid, live.leaves[&lid]))
                }
            };
            live.objs[&f].leaf.set(mc, new.map(|l| l.1));
            model.objs.get_mut(&f).expect("picked").leaf = new.map(|l| l.0);
        }
        Op::AddHandle { of } => {
            if handles.len() < MAX_HANDLES {
                if let Some((id, g)) = target(model, of) {
                    handles.push(mc.root::<ObjRoot>(g));
                    model.handles.push(id);
                }
            }
        }
        Op::Bulk {
            count,
            payload,
            parent,
        } => {
            let count = count
                .min(MAX_BULK)
                .min(MAX_BULK_TOTAL - model.bulk_allocated);
            if count == 0 {
                return;
            }
            model.bulk_allocated += count;
            let parent = model.pick(parent);
            let mut edges = Vec::with_capacity(count);
            let mut ids = Vec::with_capacity(count);
            for _ in 0..count {
                let id = model.next_obj;
                model.next_obj += 1;
                let g = new_obj(mc, id, usize::from(payload), [None; SLOTS], Vec::new(), log);
                model.objs.insert(
                    id,
                    MObj::new(id, usize::from(payload), [None; SLOTS], Vec::new()),
                );
                edges.push(Some(g));
                ids.push(Some(id));
            }
            let hub = model.next_obj;
            model.next_obj += 1;
            let g = new_obj(mc, hub, 0, [None; SLOTS], edges, log);
            model
                .objs
                .insert(hub, MObj::new(hub, 0, [None; SLOTS], ids));
            match parent {
                Some(p) => {
                    let m = model.objs.get_mut(&p).expect("picked");
                    set_edge(mc, live.objs[&p], m, Edge::VecPush, Some((hub, g)));
                }
                None => set_root(root, model, 0, Some((hub, g))),
            }
        }
        Op::Isolate { of } => {
            let Some((x, _)) = target(model, of) else {
                return;
            };
            for (r, m) in root.iter_mut().zip(model.roots.iter_mut()) {
                if *m == Some(x) {
                    *r = None;
                    *m = None;
                }
            }
            let mut i = 0;
            while i < handles.len() {
                if model.handles[i] == x {
                    handles.remove(i);
                    model.handles.remove(i);
                } else {
                    i += 1;
                }
            }
            for (id, m) in model.objs.iter_mut() {
                let g = live.objs[id];
                for k in 0..SLOTS {
                    if m.slots[k] == Some(x) {
                        g.slots[k].set(mc, None);
                        m.slots[k] = None;
                    }
                }
                if m.vec.contains(&Some(x)) {
                    let mut v = g.edges.borrow_mut(mc);
                    for (e, me) in v.iter_mut().zip(m.vec.iter_mut()) {
                        if *me == Some(x) {
                            *e = None;
                            *me = None;
                        }
                    }
                }
            }
        }
        Op::CloneHandle { .. } | Op::DropHandle { .. } | Op::Collect => {
            unreachable!("runs outside a scope")
        }
    }
}

impl Run {
    pub fn new(setup: Setup) -> Run {
        let heap = Heap::new(setup.config());
        let m = heap.mutator::<RootSlots>(|_| Vec::new());
        Run {
            model: Model::default(),
            handles: Vec::new(),
            m,
            heap,
            log: Arc::new(DropLog::default()),
            collects: 0,
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn apply(&mut self, op: &Op) {
        match *op {
            Op::Collect => self.collect_and_check(),
            Op::CloneHandle { pick } => {
                if !self.handles.is_empty() && self.handles.len() < MAX_HANDLES {
                    let i = pick % self.handles.len();
                    self.handles.push(self.handles[i].clone());
                    self.model.handles.push(self.model.handles[i]);
                }
            }
            Op::DropHandle { pick } => {
                if !self.handles.is_empty() {
                    let i = pick % self.handles.len();
                    self.handles.remove(i);
                    self.model.handles.remove(i);
                }
            }
            _ => {
                let Run {
                    m,
                    model,
                    handles,
                    log,
                    ..
                } = self;
                m.mutate_root(|mc, root| apply_in_scope(mc, root, handles, model, log, op));
            }
        }
        self.model.prune();
    }

    /// Walk the graph in a fresh scope (module docs, 1–2).
    pub fn check_graph(&mut self) {
        let Run {
            m, model, handles, ..
        } = self;
        m.mutate_root(|mc, root| {
            walk(mc, root, handles, model);
        });
    }

    /// Module docs, 5 (and 6 if `exact`).
    fn check_drops(&self, exact: bool, when: &str) {
        let mut d = self.log.snapshot();
        d.sort_unstable();
        for w in d.windows(2) {
            assert_ne!(w[0], w[1], "{when}: object {} was dropped twice", w[0]);
        }
        for id in &d {
            assert!(
                *id < self.model.next_obj,
                "{when}: dropped unknown id {id:#x}"
            );
            assert!(
                !self.model.objs.contains_key(id),
                "{when}: reachable object {id} was dropped"
            );
        }
        if exact {
            let dead = self.model.next_obj as usize - self.model.objs.len();
            assert_eq!(
                d.len(),
                dead,
                "{when}: drops vs allocated ({}) − reachable ({})",
                self.model.next_obj,
                self.model.objs.len()
            );
        }
    }

    fn check_stats(&self, when: &str, cycles_before: u64) {
        let s = self.heap.stats();
        assert!(s.cycles > cycles_before, "{when}: collect() ran no cycle");
        assert_eq!(
            s.live_objects,
            self.model.live_objects(),
            "{when}: live_objects vs the model's {} objects + {} leaves",
            self.model.objs.len(),
            self.model.leaves.len()
        );
        assert_eq!(s.roots, self.handles.len(), "{when}: Root handles");
    }

    /// Two full cycles with the checks of the module docs, 4–7.
    pub fn collect_and_check(&mut self) {
        self.collects += 1;
        let when = format!("collect #{}", self.collects);
        let c0 = self.heap.stats().cycles;
        self.m.collect();
        self.check_stats(&format!("{when}, first cycle"), c0);
        self.check_drops(false, &format!("{when}, first cycle"));
        let c1 = self.heap.stats().cycles;
        self.m.collect();
        self.check_stats(&format!("{when}, second cycle"), c1);
        self.check_drops(true, &format!("{when}, second cycle"));
        self.check_graph();
    }

    /// Walk once more, tear everything down and check that every object
    /// ever allocated was dropped exactly once.
    pub fn finish(mut self) {
        self.check_graph();
        let allocated = self.model.next_obj as usize;
        let log = self.log.clone();
        let Run {
            handles, m, heap, ..
        } = self;
        drop(handles);
        drop(m);
        drop(heap);
        // The heap goes when its last `Arc` does; the background sweeper
        // may hold one for a moment, so its teardown may run there.
        let deadline = Instant::now() + Duration::from_secs(10);
        while log.len() < allocated && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut d = log.snapshot();
        d.sort_unstable();
        let expected: Vec<u64> = (0..allocated as u64).collect();
        assert!(
            d == expected,
            "teardown: {} drops for {allocated} objects (first missing or repeated: {:?})",
            d.len(),
            d.iter()
                .zip(&expected)
                .find(|(a, b)| a != b)
                .map(|(a, _)| *a)
        );
    }
}
