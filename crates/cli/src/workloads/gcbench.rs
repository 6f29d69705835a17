//! GCBench (Ellis, Kovac and Boehm; Boehm's 1997 C/Java version).
//!
//! 1. Build a *stretch* tree of depth `depth + 2` bottom-up, then drop it.
//! 2. Build a *long-lived* tree of depth `depth` top-down (`populate`:
//!    allocate a node, then store freshly allocated children into it — the
//!    stores run the write barrier).
//! 3. Allocate a long-lived array of doubles, `a[i] = 1/i` for the first
//!    half.
//! 4. For `d = 4, 6, …, depth`: build `iterations(d)` trees of depth `d`
//!    top-down, then as many bottom-up; each is dropped at once. The
//!    iteration count keeps the bytes allocated per depth constant:
//!    `2 · size(stretch) / size(d)` nodes' worth (`NumIters`).
//! 5. Check that the long-lived tree and array survived.
//!
//! The original's sizes are `depth = 16` (stretch 18) and a 500 000-element
//! array; the array scales with `2^(depth - 16)`. A node holds two pointers
//! and two ints, as in the original.
//!
//! The safe `Gc` API has no dynamically sized objects (`Gc<[f64]>`), so on
//! the collected heap the array is a run of 4000-double chunks (32 000 B,
//! under the 32 KiB small-object limit) held by the root; the Box version
//! is one `Vec<f64>`. Checksum: the node count of the first tree of each
//! depth and direction, the long-lived tree's count and `a[1000]`.

use super::{fold, Outcome};
use clap::Args;
use tricolor_gc::{Gc, Heap, Lock, Mutation, Rootable, Trace};

const MIN_DEPTH: u32 = 4;
/// The original's array length at `depth = 16`.
const ARRAY_SIZE_AT_16: usize = 500_000;
/// Doubles per chunk on the collected heap.
const CHUNK: usize = 4000;

#[derive(Args, Clone, Debug, PartialEq)]
pub struct Params {
    /// Long-lived and maximum tree depth (the original's is 16; the stretch
    /// tree is two deeper).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(6..=22))]
    pub depth: u32,
}

impl Params {
    pub fn to_args(&self) -> Vec<String> {
        vec!["--depth".into(), self.depth.to_string()]
    }

    pub fn describe(&self) -> String {
        format!(
            "depth {}, stretch {}, array {}",
            self.depth,
            self.depth + 2,
            self.array_size()
        )
    }

    fn array_size(&self) -> usize {
        if self.depth >= 16 {
            ARRAY_SIZE_AT_16 << (self.depth - 16)
        } else {
            (ARRAY_SIZE_AT_16 >> (16 - self.depth)).max(2002)
        }
    }
}

fn tree_size(d: u32) -> u64 {
    (1u64 << (d + 1)) - 1
}

fn iterations(stretch: u32, d: u32) -> u64 {
    2 * tree_size(stretch) / tree_size(d)
}

fn array_value(i: usize) -> f64 {
    if i == 0 {
        0.0
    } else {
        1.0 / i as f64
    }
}

#[derive(Trace)]
struct Node<'gc> {
    left: Lock<Option<Gc<'gc, Node<'gc>>>>,
    right: Lock<Option<Gc<'gc, Node<'gc>>>>,
    i: i32,
    j: i32,
}

fn leaf<'gc>(mc: &Mutation<'gc>) -> Gc<'gc, Node<'gc>> {
    Gc::new(
        mc,
        Node {
            left: Lock::new(None),
            right: Lock::new(None),
            i: 0,
            j: 0,
        },
    )
}

fn populate<'gc>(mc: &Mutation<'gc>, depth: u32, node: Gc<'gc, Node<'gc>>) {
    if depth > 0 {
        let (l, r) = (leaf(mc), leaf(mc));
        node.left.set(mc, Some(l));
        node.right.set(mc, Some(r));
        populate(mc, depth - 1, l);
        populate(mc, depth - 1, r);
    }
}

fn make_tree<'gc>(mc: &Mutation<'gc>, depth: u32) -> Gc<'gc, Node<'gc>> {
    if depth == 0 {
        return leaf(mc);
    }
    let (l, r) = (make_tree(mc, depth - 1), make_tree(mc, depth - 1));
    Gc::new(
        mc,
        Node {
            left: Lock::new(Some(l)),
            right: Lock::new(Some(r)),
            i: 0,
            j: 0,
        },
    )
}

fn count(n: &Node<'_>) -> u64 {
    1 + n.left.get().map_or(0, |c| count(&c)) + n.right.get().map_or(0, |c| count(&c))
}

#[derive(Trace)]
struct Roots<'gc> {
    long_lived: Option<Gc<'gc, Node<'gc>>>,
    array: Vec<Gc<'gc, [f64; CHUNK]>>,
}

pub fn run_gc(p: &Params, heap: &Heap) -> Outcome {
    let (depth, stretch) = (p.depth, p.depth + 2);
    let mut m = heap.mutator::<Rootable!['gc => Roots<'gc>]>(|_| Roots {
        long_lived: None,
        array: Vec::new(),
    });
    let mut h = 0;
    let mut ops = 0;

    // 1.
    let c = m.mutate(|mc, _| count(&make_tree(mc, stretch)));
    (h, ops) = (fold(h, c), ops + c);
    // 2.
    m.mutate_root(|mc, r| {
        let t = leaf(mc);
        populate(mc, depth, t);
        r.long_lived = Some(t);
    });
    ops += tree_size(depth);
    // 3.
    let n = p.array_size();
    for first in (0..n).step_by(CHUNK) {
        m.mutate_root(|mc, r| {
            let chunk: [f64; CHUNK] = core::array::from_fn(|k| {
                let i = first + k;
                if i < n / 2 {
                    array_value(i)
                } else {
                    0.0
                }
            });
            r.array.push(Gc::new(mc, chunk));
        });
    }
    // 4.
    for d in (MIN_DEPTH..=depth).step_by(2) {
        let iters = iterations(stretch, d);
        for k in 0..iters {
            let c = m.mutate(|mc, _| {
                let t = leaf(mc);
                populate(mc, d, t);
                if k == 0 {
                    count(&t)
                } else {
                    0
                }
            });
            if k == 0 {
                h = fold(h, c);
            }
        }
        for k in 0..iters {
            let c = m.mutate(|mc, _| {
                let t = make_tree(mc, d);
                if k == 0 {
                    count(&t)
                } else {
                    0
                }
            });
            if k == 0 {
                h = fold(h, c);
            }
        }
        ops += 2 * iters * tree_size(d);
    }
    // 5.
    let (c, a) = m.mutate(|_, r| {
        (
            r.long_lived.map_or(0, |t| count(&t)),
            r.array
                .get(1000 / CHUNK)
                .map_or(f64::NAN, |chunk| chunk[1000 % CHUNK]),
        )
    });
    h = fold(fold(h, c), a.to_bits());
    Outcome {
        checksum: h,
        ops,
        ..Outcome::default()
    }
}

struct BoxNode {
    left: Option<Box<BoxNode>>,
    right: Option<Box<BoxNode>>,
    #[allow(dead_code)] // GCBench's payload: carried, never read.
    i: i32,
    #[allow(dead_code)]
    j: i32,
}

fn box_leaf() -> Box<BoxNode> {
    Box::new(BoxNode {
        left: None,
        right: None,
        i: 0,
        j: 0,
    })
}

fn box_populate(depth: u32, node: &mut BoxNode) {
    if depth > 0 {
        node.left = Some(box_leaf());
        node.right = Some(box_leaf());
        if let (Some(l), Some(r)) = (node.left.as_deref_mut(), node.right.as_deref_mut()) {
            box_populate(depth - 1, l);
            box_populate(depth - 1, r);
        }
    }
}

fn box_make_tree(depth: u32) -> Box<BoxNode> {
    if depth == 0 {
        return box_leaf();
    }
    Box::new(BoxNode {
        left: Some(box_make_tree(depth - 1)),
        right: Some(box_make_tree(depth - 1)),
        i: 0,
        j: 0,
    })
}

fn box_count(n: &BoxNode) -> u64 {
    1 + n.left.as_deref().map_or(0, box_count) + n.right.as_deref().map_or(0, box_count)
}

pub fn run_box(p: &Params) -> Outcome {
    let (depth, stretch) = (p.depth, p.depth + 2);
    let mut h = 0;
    let mut ops = 0;
    let c = box_count(&box_make_tree(stretch));
    (h, ops) = (fold(h, c), ops + c);
    let mut long_lived = box_leaf();
    box_populate(depth, &mut long_lived);
    ops += tree_size(depth);
    let n = p.array_size();
    let array: Vec<f64> = (0..n)
        .map(|i| if i < n / 2 { array_value(i) } else { 0.0 })
        .collect();
    for d in (MIN_DEPTH..=depth).step_by(2) {
        let iters = iterations(stretch, d);
        for k in 0..iters {
            let mut t = box_leaf();
            box_populate(d, &mut t);
            if k == 0 {
                h = fold(h, box_count(&t));
            }
        }
        for k in 0..iters {
            let t = box_make_tree(d);
            if k == 0 {
                h = fold(h, box_count(&t));
            }
        }
        ops += 2 * iters * tree_size(d);
    }
    let c = box_count(&long_lived);
    let a = array.get(1000).copied().unwrap_or(f64::NAN);
    h = fold(fold(h, c), a.to_bits());
    Outcome {
        checksum: h,
        ops,
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tricolor_gc::Config;

    #[test]
    fn variants_agree() {
        let p = Params { depth: 6 };
        let heap = Heap::new(Config::default());
        assert_eq!(run_gc(&p, &heap), run_box(&p));
        assert_eq!(array_value(1000), 1.0 / 1000.0);
    }
}
