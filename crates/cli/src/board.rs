//! The board: immutable trees the stress threads share through `Root`s.
//!
//! A stress thread sometimes builds a small immutable tree ([`STree`]),
//! roots it (`mc.root`) and *publishes* the `Root` in a random slot of the
//! board, replacing (and dropping) whatever was there. Other threads
//! *borrow* a slot (clone its `Root`), get the tree in one of their own
//! scopes, verify it, and may link it from one of their private objects.
//! Once a published tree is replaced, objects made by one thread stay alive
//! only through another thread's private graph, which is exactly what the
//! collector's root scanning must get right.
//!
//! Sharing across threads needs `Root<R>: Send + Sync`, which holds only if
//! the tree type is `Sync`; the private objects use `Lock`/`RefLock`, which
//! are `!Sync`, so the shared trees are plain data and a `Vec` of `Gc`s,
//! fixed at construction.
//!
//! A tree is a pure function of its id (`shape`, `child_id`, `payload`),
//! so a reader verifies it without any model: every node's id, depth,
//! payload and child count are recomputed and compared.
//!
//! Locking: the board's mutex is only ever taken inside a mutation scope
//! and released before the scope ends, never across a scope's entry (a
//! thread blocked entering a scope while holding it would stall the others
//! inside theirs, and so the collector). `Root::clone` and `Root::drop` take
//! the heap's root-table mutex; the collector takes that one only with the
//! world stopped, when no scope, hence no holder of the board, runs.

use crate::graph::{clue, Failure};
use std::sync::Mutex;
use tricolor_alloc_bench::rng::mix;
use tricolor_gc::{Gc, Mutation, Root, Rootable, Trace};

/// A node of a shared tree.
#[derive(Trace)]
pub struct STree<'gc> {
    pub id: u64,
    pub depth: u64,
    pub payload: [u64; 4],
    pub kids: Vec<Gc<'gc, STree<'gc>>>,
}

pub type STreeR = Rootable!['gc => STree<'gc>];

/// A published tree: its root handle and its id.
pub type Entry = (Root<STreeR>, u64);

/// `(depth, fanout)` of the tree with root id `id`: depth 1–3, fanout 2–3
/// (at most 40 nodes).
pub fn shape(id: u64) -> (u64, usize) {
    let h = mix(id);
    (1 + h % 3, 2 + ((h >> 8) % 2) as usize)
}

fn fanout(id: u64) -> usize {
    shape(id).1
}

fn child_id(id: u64, k: usize) -> u64 {
    mix(id.wrapping_add(k as u64 + 1)) | 1
}

fn payload(id: u64) -> [u64; 4] {
    core::array::from_fn(|k| mix(id ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

/// Build the tree `id` (`depth` from `shape`).
pub fn build<'gc>(mc: &Mutation<'gc>, id: u64, depth: u64) -> Gc<'gc, STree<'gc>> {
    let kids = if depth == 0 {
        Vec::new()
    } else {
        (0..fanout(id))
            .map(|k| build(mc, child_id(id, k), depth - 1))
            .collect()
    };
    Gc::new(
        mc,
        STree {
            id,
            depth,
            payload: payload(id),
            kids,
        },
    )
}

/// Verify the tree `id`; returns its node count.
pub fn verify(t: &STree<'_>, id: u64, depth: u64) -> Result<u64, Failure> {
    if t.id != id {
        return Err(Failure(format!(
            "shared tree node {id:#x} reads id {:#x}{}",
            t.id,
            clue(t.id)
        )));
    }
    if t.depth != depth || t.payload != payload(id) {
        return Err(Failure(format!(
            "shared tree node {id:#x}: depth {} (expected {depth}) or payload {:#x?} damaged{}",
            t.depth,
            t.payload,
            clue(t.payload[0])
        )));
    }
    let want = if depth == 0 { 0 } else { fanout(id) };
    if t.kids.len() != want {
        return Err(Failure(format!(
            "shared tree node {id:#x} has {} children, expected {want}",
            t.kids.len()
        )));
    }
    let mut n = 1;
    for (k, kid) in t.kids.iter().enumerate() {
        n += verify(kid, child_id(id, k), depth - 1)?;
    }
    Ok(n)
}

/// The slots of published trees.
pub struct Board {
    slots: Mutex<Vec<Option<Entry>>>,
}

impl Board {
    pub fn new(slots: usize) -> Self {
        Board {
            slots: Mutex::new((0..slots.max(1)).map(|_| None).collect()),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Option<Entry>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.slots().len()
    }

    /// Put `e` in slot `i`; returns the entry it replaced, for the caller to
    /// drop after the lock is released.
    pub fn publish(&self, i: usize, e: Entry) -> Option<Entry> {
        let mut s = self.slots();
        let n = s.len();
        s[i % n].replace(e)
    }

    /// A clone of slot `i`'s entry.
    pub fn borrow(&self, i: usize) -> Option<Entry> {
        let s = self.slots();
        s[i % s.len()].as_ref().map(|(r, id)| (r.clone(), *id))
    }

    /// Drop every entry.
    pub fn clear(&self) {
        let old: Vec<Option<Entry>> = self.slots().iter_mut().map(Option::take).collect();
        drop(old);
    }
}

#[allow(dead_code)]
fn _assert_board_is_shareable() {
    fn ok<T: Send + Sync>() {}
    ok::<Board>();
    ok::<Root<STreeR>>();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tricolor_gc::{Config, Heap};

    #[test]
    fn trees_verify_across_threads_and_cycles() {
        let heap = Heap::new(Config::default());
        let board = Board::new(4);
        let mut m = heap.mutator::<Rootable!['gc => ()]>(|_| ());
        let id = 0x1234;
        let (depth, _) = shape(id);
        let old = m.mutate(|mc, _| board.publish(1, (mc.root(build(mc, id, depth)), id)));
        assert!(old.is_none());
        m.collect();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut m2 = heap.mutator::<Rootable!['gc => ()]>(|_| ());
                let (r, got) = board.borrow(1).expect("published");
                let n = m2.mutate(|mc, _| verify(&r.get(mc), got, shape(got).0));
                assert!(n.is_ok_and(|n| n >= 3));
            });
        });
        board.clear();
        m.collect();
        assert!(board.borrow(1).is_none());
    }
}
