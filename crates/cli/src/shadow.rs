//! The shadow model: what the stress mutators' object graphs must look
//! like, kept in ordinary Rust memory outside the collected heap.
//!
//! Each stress thread owns a set of **clusters**. A cluster is the
//! subgraph hanging from one head slot of the thread's table (`graph.rs`);
//! edges never cross clusters (shared immutable trees are referenced by id,
//! not modelled as edges), so a cluster can be verified on its own, in one
//! short mutation scope.
//!
//! Glossary:
//! - **id** — every object's unique number, `(thread + 1) << 48 | serial`;
//!   the object stores it as its first field.
//! - [`SObj`] — the model of one object: its payload checksum and size
//!   class, its `link`, the ids in its `edges` array *in order*, and the id
//!   of the shared tree it points to.
//! - [`Cluster`] — the head id, the objects, and `bytes`, an estimate of
//!   what the reachable ones occupy in the collected heap.
//!
//! Invariants (checked by [`Cluster::check`] in tests and after pruning):
//! - after `prune`, `objs` is exactly the set reachable from `head`, and
//!   every `link` and `edges` entry of a kept object names a kept object;
//! - `bytes == Σ objs[i].bytes`.
//!
//! Objects become unreachable when the mutator deletes or overwrites an
//! edge; the model learns which by pruning (a walk from the head), done once
//! per batch for the clusters the batch touched.

use std::collections::HashMap;

pub type Id = u64;

/// Payload sizes of the stress objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// Two words inside the object itself.
    Inline,
    /// One word in its own 8-byte object (the tiny allocator's 16-byte blocks).
    Tiny,
    /// 4 words (32 B), a noscan object.
    Small,
    /// 32 words (256 B).
    Medium,
    /// 512 words (4 KiB).
    Large,
    /// 4608 words (36 KiB): above the 32 KiB small-object limit, so a large
    /// object with a span of its own.
    Huge,
}

/// The names `--size-mix` accepts, in `Size::ALL` order.
pub const SIZE_NAMES: [&str; 6] = ["inline", "tiny", "small", "medium", "large", "huge"];

impl Size {
    pub const ALL: [Size; 6] = [
        Size::Inline,
        Size::Tiny,
        Size::Small,
        Size::Medium,
        Size::Large,
        Size::Huge,
    ];

    /// Payload words.
    pub const fn words(self) -> usize {
        match self {
            Size::Inline => 2,
            Size::Tiny => 1,
            Size::Small => 4,
            Size::Medium => 32,
            Size::Large => 512,
            Size::Huge => 4608,
        }
    }

    /// Heap bytes of the separate payload object (0 for inline), rounded
    /// the way the heap rounds: tiny blocks of 16 B, size classes for small
    /// objects, whole 8 KiB pages for large ones.
    pub const fn heap_bytes(self) -> usize {
        match self {
            Size::Inline => 0,
            Size::Tiny => 16,
            Size::Small => 32,
            Size::Medium => 256,
            Size::Large => 4096,
            Size::Huge => 40960,
        }
    }
}

/// The model of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SObj {
    /// Checksum of the payload (and id), as stored in the object.
    pub sum: u64,
    pub size: Size,
    /// Estimated heap bytes of the object and its payload.
    pub bytes: usize,
    pub link: Option<Id>,
    pub edges: Vec<Id>,
    /// The shared tree's id.
    pub shared: Option<u64>,
}

impl SObj {
    pub fn new(sum: u64, size: Size, bytes: usize) -> Self {
        SObj {
            sum,
            size,
            bytes,
            link: None,
            edges: Vec::new(),
            shared: None,
        }
    }

    /// Ids this object points to (link first, then edges).
    pub fn targets(&self) -> impl Iterator<Item = Id> + '_ {
        self.link.into_iter().chain(self.edges.iter().copied())
    }
}

/// The model of one cluster.
#[derive(Clone, Debug, Default)]
pub struct Cluster {
    pub head: Option<Id>,
    pub objs: HashMap<Id, SObj>,
    /// Estimated heap bytes of `objs`.
    pub bytes: usize,
    /// The head is held by a `Root` handle, not by the table slot.
    pub parked: bool,
}

impl Cluster {
    pub fn insert(&mut self, id: Id, o: SObj) {
        self.bytes += o.bytes;
        if let Some(old) = self.objs.insert(id, o) {
            self.bytes -= old.bytes;
        }
    }

    pub fn get(&self, id: Id) -> Option<&SObj> {
        self.objs.get(&id)
    }

    pub fn get_mut(&mut self, id: Id) -> Option<&mut SObj> {
        self.objs.get_mut(&id)
    }

    /// Drop every object not reachable from the head; returns how many.
    pub fn prune(&mut self) -> usize {
        let mut keep: HashMap<Id, SObj> = HashMap::with_capacity(self.objs.len());
        let mut stack: Vec<Id> = self.head.into_iter().collect();
        while let Some(id) = stack.pop() {
            if keep.contains_key(&id) {
                continue;
            }
            if let Some(o) = self.objs.remove(&id) {
                stack.extend(o.targets().filter(|t| !keep.contains_key(t)));
                keep.insert(id, o);
            }
        }
        let dropped = self.objs.len();
        self.objs = keep;
        self.bytes = self.objs.values().map(|o| o.bytes).sum();
        dropped
    }

    /// The invariants of the module docs (after `prune`).
    pub fn check(&self) -> Result<(), String> {
        if let Some(h) = self.head {
            if !self.objs.contains_key(&h) {
                return Err(format!("head {h:#x} is not modelled"));
            }
        } else if !self.objs.is_empty() {
            return Err("objects without a head".into());
        }
        for (id, o) in &self.objs {
            if let Some(t) = o.targets().find(|t| !self.objs.contains_key(t)) {
                return Err(format!("{id:#x} points to unmodelled {t:#x}"));
            }
        }
        let bytes: usize = self.objs.values().map(|o| o.bytes).sum();
        if bytes != self.bytes {
            return Err(format!("bytes {} != sum {}", self.bytes, bytes));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(edges: &[Id]) -> SObj {
        SObj {
            edges: edges.to_vec(),
            ..SObj::new(0, Size::Small, 100)
        }
    }

    #[test]
    fn prune_keeps_exactly_the_reachable_objects() {
        let mut c = Cluster::default();
        c.insert(1, obj(&[2, 3]));
        c.insert(2, obj(&[1])); // a cycle back to the head
        c.insert(3, obj(&[]));
        c.insert(4, obj(&[1])); // garbage pointing into live objects
        c.insert(5, obj(&[5])); // a garbage self-loop
        c.head = Some(1);
        assert_eq!(c.bytes, 500);
        assert_eq!(c.prune(), 2);
        assert_eq!(c.objs.len(), 3);
        assert_eq!(c.bytes, 300);
        c.check().unwrap();

        c.get_mut(1).unwrap().edges.clear();
        c.get_mut(1).unwrap().link = Some(3);
        assert_eq!(c.prune(), 1);
        c.check().unwrap();

        c.head = None;
        c.prune();
        assert!(c.objs.is_empty());
        c.check().unwrap();
    }

    #[test]
    fn check_finds_dangling_edges() {
        let mut c = Cluster::default();
        c.insert(1, obj(&[9]));
        c.head = Some(1);
        assert!(c.check().is_err());
    }

    #[test]
    fn sizes_are_ordered() {
        for w in Size::ALL.windows(2) {
            assert!(w[0].heap_bytes() <= w[1].heap_bytes());
        }
        assert!(Size::Huge.words() * 8 > 32 << 10);
    }
}
