//! The heap side of `tricolor stress`: the object types, the mutations,
//! and the walks that compare the heap with the shadow model.
//!
//! # Objects
//!
//! - [`Node`] — a private object: its `id`, the checksum `sum` of its
//!   payload, a [`Payload`] of one of six sizes (inline words, or a separate
//!   pointer-free object from 8 B to 36 KiB), a `link` (`Lock`), an `edges`
//!   array (`RefLock<Vec<Gc<Node>>>`, grown and shrunk in place) and a
//!   `shared` pointer to a board tree (`board.rs`).
//! - [`Table`] — a thread's root object: a magic word and one head slot
//!   (`Lock`) per cluster (`shadow.rs`). It is a heap object, so storing a
//!   head runs the write barrier like any other store.
//!
//! # One batch (one mutation scope)
//!
//! 1. Check the table's magic word (a freed table would read as poison).
//! 2. Run `batch` operations, each on a random cluster, chosen by the
//!    weighted mix and steered by the size controller: above the thread's
//!    share of the live target (or a cluster's cap) allocation turns into
//!    deletion and arrays only shrink; well below it, deletion turns into
//!    allocation and arrays only grow.
//!    - `alloc` — a new node appended to a random reachable node's edges
//!      (sometimes also linking back into the cluster: cycles and sharing);
//!    - `link` — set or clear a node's link (self-loops included);
//!    - `swap` — swap two edges (of one node or two), or two links;
//!    - `delete` — remove an edge, clear a link, or drop a whole cluster;
//!    - `move` — take the only reference to a subgraph out of the heap into
//!      a local, allocate, and store it back elsewhere;
//!    - `park` — move a cluster's head into a `Root` handle across scopes
//!      (its slot empty meanwhile); the next operation on it moves it back;
//!    - `resize` — grow an edge array by several entries (new or existing
//!      nodes) or truncate it, in one `RefLock` borrow;
//!    - `share` — publish a new immutable tree on the board, or verify a
//!      borrowed one, and point a private node at it.
//!
//!    Random reachable nodes are found by walking from the head along
//!    random edges, in the heap and in the model together, checking each
//!    node's id, checksum and shape on the way.
//! 3. Verify one cluster completely (round-robin), or, during a *pass*
//!    (after every collector cycle and at the end), several clusters and
//!    no operations.
//! 4. Prune the model of every cluster the batch touched.
//!
//! # Checking an object
//!
//! The id is read first and nothing else is touched if it is wrong: a
//! freed object may hold the `clobberfree` poison (`0xdf…`) or a newer
//! object, and following its fields could crash the verifier. Then the
//! stored checksum against the model, the payload's size, the shape (link
//! present, edge count, shared tree present), and in a full verification
//! the payload itself, recomputed. A failure is a [`Failure`] naming the
//! thread, cluster and object, with a hint when a value is the poison.

use crate::board::{self, Board, STree, STreeR};
use crate::shadow::{Cluster, Id, SObj, Size};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use tricolor_alloc_bench::rng::{mix, Rng};
use tricolor_gc::{Gc, Lock, Mutation, RefLock, Root, Rootable, Trace};

/// What `clobberfree=1` writes over a swept object.
pub const CLOBBER: u64 = 0xdfdf_dfdf_dfdf_dfdf;

/// Edges per node at most.
pub const MAX_EDGES: usize = 8;

/// A verification failure, as a message for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure(pub String);

/// A hint when `v` looks like freed memory.
pub fn clue(v: u64) -> &'static str {
    if v == CLOBBER || v as u32 == CLOBBER as u32 {
        " (the clobberfree poison: the collector freed an object that was still reachable)"
    } else if v == 0 {
        " (zero: freed memory returned to the OS, or never written)"
    } else {
        ""
    }
}

fn words<const N: usize>(seed: u64) -> [u64; N] {
    core::array::from_fn(|k| mix(seed.wrapping_add(k as u64)))
}

/// The checksum an object stores: of its id and payload words.
pub fn checksum(id: u64, words: &[u64]) -> u64 {
    words.iter().fold(mix(id), |a, &w| {
        (a.rotate_left(9) ^ w).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A node's payload.
#[derive(Trace)]
pub enum Payload<'gc> {
    Inline([u64; 2]),
    Tiny(Gc<'gc, u64>),
    Small(Gc<'gc, [u64; 4]>),
    Medium(Gc<'gc, [u64; 32]>),
    Large(Gc<'gc, [u64; 512]>),
    Huge(Gc<'gc, [u64; 4608]>),
}

const _: () = assert!(Size::Huge.words() == 4608 && Size::Large.words() == 512);

impl<'gc> Payload<'gc> {
    fn new(mc: &Mutation<'gc>, size: Size, seed: u64) -> Self {
        match size {
            Size::Inline => Payload::Inline(words(seed)),
            Size::Tiny => Payload::Tiny(Gc::new(mc, mix(seed))),
            Size::Small => Payload::Small(Gc::new(mc, words(seed))),
            Size::Medium => Payload::Medium(Gc::new(mc, words(seed))),
            Size::Large => Payload::Large(Gc::new(mc, words(seed))),
            Size::Huge => Payload::Huge(Gc::new(mc, words(seed))),
        }
    }

    fn size(&self) -> Size {
        match self {
            Payload::Inline(_) => Size::Inline,
            Payload::Tiny(_) => Size::Tiny,
            Payload::Small(_) => Size::Small,
            Payload::Medium(_) => Size::Medium,
            Payload::Large(_) => Size::Large,
            Payload::Huge(_) => Size::Huge,
        }
    }

    fn words(&self) -> &[u64] {
        match self {
            Payload::Inline(w) => w,
            Payload::Tiny(g) => core::slice::from_ref(Gc::as_ref(*g)),
            Payload::Small(g) => &Gc::as_ref(*g)[..],
            Payload::Medium(g) => &Gc::as_ref(*g)[..],
            Payload::Large(g) => &Gc::as_ref(*g)[..],
            Payload::Huge(g) => &Gc::as_ref(*g)[..],
        }
    }
}

/// A private object of a stress thread.
#[derive(Trace)]
pub struct Node<'gc> {
    pub id: u64,
    pub sum: u64,
    pub payload: Payload<'gc>,
    pub link: Lock<Option<Gc<'gc, Node<'gc>>>>,
    pub edges: RefLock<Vec<Gc<'gc, Node<'gc>>>>,
    pub shared: Lock<Option<Gc<'gc, STree<'gc>>>>,
}

/// Heap bytes of a node without its payload (its size class, estimated as
/// the size rounded up to 16).
pub const NODE_BYTES: usize = core::mem::size_of::<Node<'static>>().next_multiple_of(16);

/// A thread's root object.
#[derive(Trace)]
pub struct Table<'gc> {
    pub magic: u64,
    pub heads: Vec<Lock<Option<Gc<'gc, Node<'gc>>>>>,
}

pub type TableR = Rootable!['gc => Gc<'gc, Table<'gc>>];
pub type NodeR = Rootable!['gc => Node<'gc>];

/// The table's magic word, xor the thread index.
const TABLE_MAGIC: u64 = 0x7461_626c_655f_6d67;

impl<'gc> Table<'gc> {
    pub fn new(mc: &Mutation<'gc>, thread: usize, clusters: usize) -> Gc<'gc, Table<'gc>> {
        Gc::new(
            mc,
            Table {
                magic: TABLE_MAGIC ^ thread as u64,
                heads: (0..clusters).map(|_| Lock::new(None)).collect(),
            },
        )
    }
}

/// The operations of the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Alloc,
    Link,
    Swap,
    Delete,
    Move,
    Park,
    Resize,
    Share,
}

/// The names `--mix` accepts, in `Op::ALL` order.
pub const OP_NAMES: [&str; 8] = [
    "alloc", "link", "swap", "delete", "move", "park", "resize", "share",
];

impl Op {
    pub const ALL: [Op; 8] = [
        Op::Alloc,
        Op::Link,
        Op::Swap,
        Op::Delete,
        Op::Move,
        Op::Park,
        Op::Resize,
        Op::Share,
    ];
}

/// Pick an index with probability proportional to its weight.
pub fn weighted(rng: &mut Rng, weights: &[u32]) -> usize {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return 0;
    }
    let mut r = rng.next_u64() % total;
    for (i, &w) in weights.iter().enumerate() {
        if r < u64::from(w) {
            return i;
        }
        r -= u64::from(w);
    }
    weights.len() - 1
}

/// What a thread is asked to do, fixed for the run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub clusters: usize,
    /// This thread's share of the live target, bytes.
    pub target: usize,
    /// A cluster above this stops growing.
    pub cluster_cap: usize,
    pub batch: usize,
    pub op_weights: Vec<u32>,
    pub size_weights: Vec<u32>,
    /// Clusters verified per scope during a pass.
    pub verify_per_scope: usize,
}

/// One stress thread's graph: its model, its parked roots, its counters.
pub struct ThreadGraph<'a> {
    pub index: usize,
    rng: Rng,
    s: &'a Settings,
    board: &'a Board,
    shadow: Vec<Cluster>,
    /// `parked[c]` holds cluster `c`'s head while `shadow[c].parked`.
    parked: Vec<Option<Root<NodeR>>>,
    dirty: Vec<bool>,
    serial: u64,
    tree_serial: u64,
    /// Σ `shadow[c].bytes`, as of the last batch's end.
    pub live: usize,
    pub counts: [u64; 8],
    pub verified_objects: u64,
    pub verified_trees: u64,
    pub passes: u64,
    cursor: usize,
    pass_left: usize,
}

impl<'a> ThreadGraph<'a> {
    pub fn new(index: usize, seed: u64, s: &'a Settings, board: &'a Board) -> Self {
        ThreadGraph {
            index,
            rng: Rng::new(seed, index as u64),
            s,
            board,
            shadow: vec![Cluster::default(); s.clusters],
            parked: (0..s.clusters).map(|_| None).collect(),
            dirty: vec![false; s.clusters],
            serial: 0,
            tree_serial: 0,
            live: 0,
            counts: [0; 8],
            verified_objects: 0,
            verified_trees: 0,
            passes: 0,
            cursor: 0,
            pass_left: 0,
        }
    }

    fn fail(&self, c: usize, msg: String) -> Failure {
        Failure(format!("thread {}, cluster {c}: {msg}", self.index))
    }

    /// Start a full verification pass (the next batches verify only).
    pub fn start_pass(&mut self) {
        if self.pass_left == 0 {
            self.pass_left = self.s.clusters;
            self.passes += 1;
        }
    }

    pub fn in_pass(&self) -> bool {
        self.pass_left > 0
    }

    /// One mutation scope's work; returns the operations done.
    pub fn batch<'gc>(
        &mut self,
        mc: &Mutation<'gc>,
        table: Gc<'gc, Table<'gc>>,
    ) -> Result<u64, Failure> {
        self.check_table(&table)?;
        if self.pass_left > 0 {
            for _ in 0..self.s.verify_per_scope.min(self.pass_left) {
                let c = self.cursor;
                self.cursor = (self.cursor + 1) % self.s.clusters;
                self.pass_left -= 1;
                self.verify_cluster(mc, &table, c)?;
            }
            return Ok(0);
        }
        for _ in 0..self.s.batch {
            self.op(mc, &table)?;
        }
        let c = self.cursor;
        self.cursor = (self.cursor + 1) % self.s.clusters;
        self.verify_cluster(mc, &table, c)?;
        for c in 0..self.s.clusters {
            if self.dirty[c] {
                self.prune(c);
            }
        }
        self.live = self.shadow.iter().map(|c| c.bytes).sum();
        Ok(self.s.batch as u64)
    }

    fn prune(&mut self, c: usize) {
        self.shadow[c].prune();
        self.dirty[c] = false;
        debug_assert_eq!(self.shadow[c].check(), Ok(()));
    }

    /// Drop the parked roots (the run is over).
    pub fn release(&mut self) {
        for p in &mut self.parked {
            p.take();
        }
    }

    fn check_table(&self, t: &Table<'_>) -> Result<(), Failure> {
        let want = TABLE_MAGIC ^ self.index as u64;
        if t.magic != want {
            return Err(Failure(format!(
                "thread {}: its root table reads magic {:#x}, expected {want:#x}{}",
                self.index,
                t.magic,
                clue(t.magic)
            )));
        }
        if t.heads.len() != self.s.clusters {
            return Err(Failure(format!(
                "thread {}: its root table has {} slots, expected {}",
                self.index,
                t.heads.len(),
                self.s.clusters
            )));
        }
        Ok(())
    }

    /// Cluster `c`'s head, from its table slot or its parked root, checked
    /// against the model's (the id itself is checked by the caller).
    fn head_of<'gc>(
        &self,
        mc: &Mutation<'gc>,
        table: &Table<'gc>,
        c: usize,
    ) -> Result<Option<(Gc<'gc, Node<'gc>>, Id)>, Failure> {
        let slot = table.heads[c].get();
        let sc = &self.shadow[c];
        if sc.parked {
            if slot.is_some() {
                return Err(self.fail(c, "parked, but its table slot is not empty".into()));
            }
            return match (&self.parked[c], sc.head) {
                (Some(r), Some(id)) => Ok(Some((r.get(mc), id))),
                _ => Err(self.fail(c, "internal: parked without a root".into())),
            };
        }
        match (slot, sc.head) {
            (None, None) => Ok(None),
            (Some(g), Some(id)) => Ok(Some((g, id))),
            (Some(_), None) => Err(self.fail(
                c,
                "its table slot holds an object but should be empty".into(),
            )),
            (None, Some(id)) => Err(self.fail(
                c,
                format!("its table slot is empty but should hold {id:#x}"),
            )),
        }
    }

    fn model(&self, c: usize, id: Id) -> Result<&SObj, Failure> {
        self.shadow[c].get(id).ok_or_else(|| {
            self.fail(
                c,
                format!("internal: {id:#x} is reachable but not modelled"),
            )
        })
    }

    /// Check one object against its model (see the module docs).
    fn check_node(
        &mut self,
        c: usize,
        n: Gc<'_, Node<'_>>,
        want: Id,
        deep: bool,
    ) -> Result<(), Failure> {
        let id = n.id;
        if id != want {
            return Err(self.fail(c, format!("object {want:#x} reads id {id:#x}{}", clue(id))));
        }
        let o = self.model(c, want)?;
        if n.sum != o.sum {
            return Err(self.fail(
                c,
                format!(
                    "object {want:#x} stores checksum {:#x}, expected {:#x}{}",
                    n.sum,
                    o.sum,
                    clue(n.sum)
                ),
            ));
        }
        let size = n.payload.size();
        if size != o.size {
            return Err(self.fail(
                c,
                format!(
                    "object {want:#x} has a {size:?} payload, expected {:?}",
                    o.size
                ),
            ));
        }
        if deep {
            let w = n.payload.words();
            let got = checksum(id, w);
            if got != o.sum {
                let first = w.first().copied().unwrap_or(0);
                return Err(self.fail(
                    c,
                    format!(
                        "object {want:#x}: its {size:?} payload sums to {got:#x}, expected {:#x} \
                         (first word {first:#x}){}",
                        o.sum,
                        clue(first)
                    ),
                ));
            }
        }
        let Some(edges) = n.edges.try_borrow().map(|e| e.len()) else {
            return Err(self.fail(
                c,
                format!("object {want:#x}: its edge array is borrowed (damaged)"),
            ));
        };
        let (link, shared) = (n.link.get().is_some(), n.shared.get().is_some());
        if link != o.link.is_some() || edges != o.edges.len() || shared != o.shared.is_some() {
            return Err(self.fail(
                c,
                format!(
                    "object {want:#x} has link {link}, {edges} edges, shared tree {shared}; \
                     expected {}, {}, {}",
                    o.link.is_some(),
                    o.edges.len(),
                    o.shared.is_some()
                ),
            ));
        }
        if deep {
            self.verified_objects += 1;
        }
        Ok(())
    }

    /// A random reachable node: a walk of 0-4 random edges from the head.
    fn pick<'gc>(
        &mut self,
        c: usize,
        head: Gc<'gc, Node<'gc>>,
        head_id: Id,
    ) -> Result<(Gc<'gc, Node<'gc>>, Id), Failure> {
        self.check_node(c, head, head_id, false)?;
        let (mut cur, mut id) = (head, head_id);
        for _ in 0..self.rng.below(5) {
            let (has_link, n) = {
                let o = self.model(c, id)?;
                (
                    usize::from(o.link.is_some()),
                    usize::from(o.link.is_some()) + o.edges.len(),
                )
            };
            if n == 0 {
                break;
            }
            let k = self.rng.below(n);
            let o = self.model(c, id)?;
            let (next, next_id) = if k < has_link {
                (cur.link.get(), o.link)
            } else {
                (
                    cur.edges.borrow().get(k - has_link).copied(),
                    o.edges.get(k - has_link).copied(),
                )
            };
            let (Some(next), Some(next_id)) = (next, next_id) else {
                return Err(self.fail(c, format!("object {id:#x} lost an edge")));
            };
            self.check_node(c, next, next_id, false)?;
            (cur, id) = (next, next_id);
        }
        Ok((cur, id))
    }

    fn new_node<'gc>(&mut self, mc: &Mutation<'gc>, c: usize) -> (Gc<'gc, Node<'gc>>, Id) {
        let id = ((self.index as u64 + 1) << 48) | self.serial;
        self.serial += 1;
        let size = Size::ALL[weighted(&mut self.rng, &self.s.size_weights)];
        let payload = Payload::new(mc, size, self.rng.next_u64());
        let sum = checksum(id, payload.words());
        let n = Gc::new(
            mc,
            Node {
                id,
                sum,
                payload,
                link: Lock::new(None),
                edges: RefLock::new(Vec::new()),
                shared: Lock::new(None),
            },
        );
        self.shadow[c].insert(id, SObj::new(sum, size, NODE_BYTES + size.heap_bytes()));
        self.dirty[c] = true;
        (n, id)
    }

    fn obj_mut(&mut self, c: usize, id: Id) -> Result<&mut SObj, Failure> {
        let f = self.fail(c, format!("internal: {id:#x} is not modelled"));
        self.shadow[c].get_mut(id).ok_or(f)
    }

    fn op<'gc>(&mut self, mc: &Mutation<'gc>, table: &Table<'gc>) -> Result<(), Failure> {
        let c = self.rng.below(self.s.clusters);
        if self.shadow[c].parked {
            self.counts[Op::Park as usize] += 1;
            return self.unpark(mc, table, c);
        }
        let mut op = Op::ALL[weighted(&mut self.rng, &self.s.op_weights)];
        let t = self.s.target;
        let over = self.live > t + t / 20 || self.shadow[c].bytes > self.s.cluster_cap;
        let under = self.live < t - t / 10;
        if op == Op::Alloc && over {
            op = Op::Delete;
        } else if op == Op::Delete && under {
            op = Op::Alloc;
        }
        self.counts[op as usize] += 1;
        let Some((h, hid)) = self.head_of(mc, table, c)? else {
            if op != Op::Delete {
                let (n, id) = self.new_node(mc, c);
                table.heads[c].set(mc, Some(n));
                self.shadow[c].head = Some(id);
            }
            return Ok(());
        };
        self.dirty[c] = true;
        match op {
            Op::Alloc => {
                let (p, pid) = self.pick(c, h, hid)?;
                let (n, nid) = self.new_node(mc, c);
                if self.rng.chance(25) {
                    let (q, qid) = self.pick(c, h, hid)?;
                    n.link.set(mc, Some(q));
                    self.obj_mut(c, nid)?.link = Some(qid);
                }
                self.push_edge(mc, c, p, pid, n, nid)?;
            }
            Op::Link => {
                let (p, pid) = self.pick(c, h, hid)?;
                if self.rng.chance(15) {
                    p.link.set(mc, None);
                    self.obj_mut(c, pid)?.link = None;
                } else {
                    let (q, qid) = self.pick(c, h, hid)?;
                    p.link.set(mc, Some(q));
                    self.obj_mut(c, pid)?.link = Some(qid);
                }
            }
            Op::Swap => {
                let (p, pid) = self.pick(c, h, hid)?;
                let (q, qid) = self.pick(c, h, hid)?;
                let (lp, lq) = (p.edges.borrow().len(), q.edges.borrow().len());
                if lp > 0 && lq > 0 {
                    let (i, j) = (self.rng.below(lp), self.rng.below(lq));
                    if pid == qid {
                        p.edges.borrow_mut(mc).swap(i, j);
                        self.obj_mut(c, pid)?.edges.swap(i, j);
                    } else {
                        let (a, b) = (p.edges.borrow()[i], q.edges.borrow()[j]);
                        p.edges.borrow_mut(mc)[i] = b;
                        q.edges.borrow_mut(mc)[j] = a;
                        let ai = self.obj_mut(c, pid)?.edges[i];
                        let bj = self.obj_mut(c, qid)?.edges[j];
                        self.obj_mut(c, pid)?.edges[i] = bj;
                        self.obj_mut(c, qid)?.edges[j] = ai;
                    }
                } else {
                    let (a, b) = (p.link.get(), q.link.get());
                    p.link.set(mc, b);
                    q.link.set(mc, a);
                    let la = self.obj_mut(c, pid)?.link;
                    let lb = self.obj_mut(c, qid)?.link;
                    self.obj_mut(c, pid)?.link = lb;
                    self.obj_mut(c, qid)?.link = la;
                }
            }
            Op::Delete => {
                let (p, pid) = self.pick(c, h, hid)?;
                let len = p.edges.borrow().len();
                if len > 0 && self.rng.chance(80) {
                    let k = self.rng.below(len);
                    p.edges.borrow_mut(mc).remove(k);
                    self.obj_mut(c, pid)?.edges.remove(k);
                } else if p.link.get().is_some() {
                    p.link.set(mc, None);
                    self.obj_mut(c, pid)?.link = None;
                } else if self.rng.chance(20) {
                    table.heads[c].set(mc, None);
                    self.shadow[c].head = None;
                }
            }
            Op::Move => {
                let (p, pid) = self.pick(c, h, hid)?;
                let len = p.edges.borrow().len();
                if len == 0 {
                    // The head alone in a local while we allocate.
                    let x = table.heads[c].replace(mc, None);
                    for _ in 0..1 + self.rng.below(4) {
                        self.new_node(mc, c);
                    }
                    table.heads[c].set(mc, x);
                } else {
                    let k = self.rng.below(len);
                    let child = p.edges.borrow_mut(mc).remove(k);
                    let cid = self.obj_mut(c, pid)?.edges.remove(k);
                    for _ in 0..1 + self.rng.below(4) {
                        self.new_node(mc, c);
                    }
                    let (q, qid) = self.pick(c, h, hid)?;
                    let (q, qid) = if q.edges.borrow().len() < MAX_EDGES {
                        (q, qid)
                    } else {
                        (p, pid)
                    };
                    self.push_edge(mc, c, q, qid, child, cid)?;
                }
            }
            Op::Park => {
                let r = mc.root::<NodeR>(h);
                table.heads[c].set(mc, None);
                self.parked[c] = Some(r);
                self.shadow[c].parked = true;
            }
            Op::Resize => {
                let (p, pid) = self.pick(c, h, hid)?;
                let len = p.edges.borrow().len();
                let grow = if over {
                    false
                } else {
                    under || self.rng.chance(55)
                };
                if grow && len < MAX_EDGES {
                    let mut add = Vec::new();
                    for _ in 0..(1 + self.rng.below(4)).min(MAX_EDGES - len) {
                        add.push(if self.rng.chance(60) {
                            self.new_node(mc, c)
                        } else {
                            self.pick(c, h, hid)?
                        });
                    }
                    p.edges.borrow_mut(mc).extend(add.iter().map(|a| a.0));
                    self.obj_mut(c, pid)?.edges.extend(add.iter().map(|a| a.1));
                } else {
                    let keep = self.rng.below(len + 1);
                    p.edges.borrow_mut(mc).truncate(keep);
                    self.obj_mut(c, pid)?.edges.truncate(keep);
                }
            }
            Op::Share => self.share(mc, c, h, hid)?,
        }
        Ok(())
    }

    /// Append `n` to `p`'s edges, or overwrite a random one if full.
    fn push_edge<'gc>(
        &mut self,
        mc: &Mutation<'gc>,
        c: usize,
        p: Gc<'gc, Node<'gc>>,
        pid: Id,
        n: Gc<'gc, Node<'gc>>,
        nid: Id,
    ) -> Result<(), Failure> {
        let len = p.edges.borrow().len();
        if len < MAX_EDGES {
            p.edges.borrow_mut(mc).push(n);
            self.obj_mut(c, pid)?.edges.push(nid);
        } else {
            let k = self.rng.below(len);
            p.edges.borrow_mut(mc)[k] = n;
            self.obj_mut(c, pid)?.edges[k] = nid;
        }
        Ok(())
    }

    fn unpark<'gc>(
        &mut self,
        mc: &Mutation<'gc>,
        table: &Table<'gc>,
        c: usize,
    ) -> Result<(), Failure> {
        let Some((g, id)) = self.head_of(mc, table, c)? else {
            return Err(self.fail(c, "internal: parked cluster without a head".into()));
        };
        self.check_node(c, g, id, false)?;
        table.heads[c].set(mc, Some(g));
        self.parked[c] = None;
        self.shadow[c].parked = false;
        Ok(())
    }

    fn share<'gc>(
        &mut self,
        mc: &Mutation<'gc>,
        c: usize,
        h: Gc<'gc, Node<'gc>>,
        hid: Id,
    ) -> Result<(), Failure> {
        let slot = self.rng.below(self.board.len());
        let (tree, tid) = if self.rng.chance(30) {
            let tid = ((self.index as u64 + 1) << 56) | (1 << 55) | self.tree_serial;
            self.tree_serial += 1;
            let t = board::build(mc, tid, board::shape(tid).0);
            let old = self.board.publish(slot, (mc.root::<STreeR>(t), tid));
            drop(old);
            (t, tid)
        } else {
            let Some((r, tid)) = self.board.borrow(slot) else {
                return Ok(());
            };
            let t = r.get(mc);
            board::verify(&t, tid, board::shape(tid).0)
                .map_err(|f| Failure(format!("thread {}: {}", self.index, f.0)))?;
            self.verified_trees += 1;
            (t, tid)
        };
        let (p, pid) = self.pick(c, h, hid)?;
        p.shared.set(mc, Some(tree));
        self.obj_mut(c, pid)?.shared = Some(tid);
        Ok(())
    }

    /// Walk all of cluster `c` in the heap and the model together.
    fn verify_cluster<'gc>(
        &mut self,
        mc: &Mutation<'gc>,
        table: &Table<'gc>,
        c: usize,
    ) -> Result<(), Failure> {
        if self.dirty[c] {
            self.prune(c);
        }
        let Some((h, hid)) = self.head_of(mc, table, c)? else {
            return Ok(());
        };
        let mut seen: HashMap<Id, usize> = HashMap::new();
        let mut trees: HashSet<u64> = HashSet::new();
        let mut stack = vec![(h, hid)];
        while let Some((n, id)) = stack.pop() {
            let addr = Gc::as_ptr(n) as usize;
            match seen.entry(id) {
                Entry::Occupied(e) => {
                    if *e.get() != addr {
                        return Err(self.fail(
                            c,
                            format!(
                                "object {id:#x} found at two addresses, {:#x} and {addr:#x}",
                                e.get()
                            ),
                        ));
                    }
                    continue;
                }
                Entry::Vacant(v) => {
                    v.insert(addr);
                }
            }
            self.check_node(c, n, id, true)?;
            let o = self.model(c, id)?;
            let (link, edges, shared) = (o.link, o.edges.clone(), o.shared);
            if let (Some(l), Some(lid)) = (n.link.get(), link) {
                stack.push((l, lid));
            }
            stack.extend(n.edges.borrow().iter().copied().zip(edges));
            if let (Some(t), Some(tid)) = (n.shared.get(), shared) {
                if trees.insert(tid) {
                    board::verify(&t, tid, board::shape(tid).0).map_err(|f| self.fail(c, f.0))?;
                    self.verified_trees += 1;
                }
            }
        }
        if seen.len() != self.shadow[c].objs.len() {
            return Err(self.fail(
                c,
                format!(
                    "internal: {} objects reachable, {} modelled",
                    seen.len(),
                    self.shadow[c].objs.len()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tricolor_gc::{Config, Heap};

    fn settings() -> Settings {
        Settings {
            clusters: 4,
            target: 256 << 10,
            cluster_cap: 128 << 10,
            batch: 16,
            op_weights: vec![30, 8, 10, 14, 8, 3, 15, 4],
            size_weights: vec![30, 15, 25, 18, 10, 2],
            verify_per_scope: 4,
        }
    }

    #[test]
    fn a_thread_graph_survives_collection() {
        let heap = Heap::new(Config::default());
        let s = settings();
        let board = Board::new(4);
        let mut g = ThreadGraph::new(0, 7, &s, &board);
        let mut m = heap.mutator::<TableR>(|mc| Table::new(mc, 0, s.clusters));
        for i in 0..300 {
            m.mutate(|mc, t| g.batch(mc, *t)).unwrap();
            if i % 50 == 0 {
                m.collect();
                g.start_pass();
                while g.in_pass() {
                    m.mutate(|mc, t| g.batch(mc, *t)).unwrap();
                }
            }
        }
        assert!(g.live > 64 << 10, "live {}", g.live);
        assert!(g.verified_objects > 100);
        assert!(g.counts.iter().all(|&n| n > 0), "{:?}", g.counts);
        g.release();
        board.clear();
    }

    #[test]
    fn a_damaged_object_is_reported() {
        let heap = Heap::new(Config::default());
        let s = settings();
        let board = Board::new(1);
        let mut g = ThreadGraph::new(0, 1, &s, &board);
        let mut m = heap.mutator::<TableR>(|mc| Table::new(mc, 0, s.clusters));
        for _ in 0..20 {
            m.mutate(|mc, t| g.batch(mc, *t)).unwrap();
        }
        // Make the model disagree with the heap, as a lost object would.
        let c = (0..s.clusters)
            .find(|&c| g.shadow[c].head.is_some())
            .unwrap();
        let h = g.shadow[c].head.unwrap();
        g.shadow[c].get_mut(h).unwrap().sum ^= 1;
        g.start_pass();
        let mut err = None;
        while g.in_pass() && err.is_none() {
            err = m.mutate(|mc, t| g.batch(mc, *t)).err();
        }
        let e = err.expect("the pass must notice");
        assert!(e.0.contains("checksum"), "{e:?}");
        g.release();
    }

    #[test]
    fn weights_and_clues() {
        let mut rng = Rng::new(1, 0);
        let mut hits = [0; 3];
        for _ in 0..1000 {
            hits[weighted(&mut rng, &[1, 0, 3])] += 1;
        }
        assert_eq!(hits[1], 0);
        assert!(hits[2] > hits[0] * 2);
        assert!(clue(CLOBBER).contains("poison"));
        assert_eq!(clue(42), "");
    }
}
