//! binary-trees (the Computer Language Benchmarks Game).
//!
//! 1. Build and check a *stretch* tree of depth `max + 1`, then drop it.
//! 2. Build a *long-lived* tree of depth `max` and keep it to the end.
//! 3. For depth `d = 4, 6, …, max`: build and check `2^(max - d + 4)`
//!    trees of depth `d`, bottom-up, each dropped right away.
//! 4. Check the long-lived tree.
//!
//! "Check" counts a tree's nodes. The checksum folds every count, in
//! order, so both variants must agree exactly. On the collected heap each
//! short-lived tree is one mutation scope (build, check, drop), as in
//! `examples/binary_trees.rs`; the long-lived tree is the mutator's root.
//! The reference size is depth 21; the default here is 16, which runs in
//! about a second.

use super::{fold, Outcome};
use clap::Args;
use tricolor_gc::{Gc, Heap, Mutation, Rootable, Trace};

/// The shallowest trees of step 3.
const MIN_DEPTH: u32 = 4;

#[derive(Args, Clone, Debug, PartialEq)]
pub struct Params {
    /// Maximum tree depth (the Benchmarks Game's reference size is 21).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(4..=24))]
    pub depth: u32,
}

impl Params {
    pub fn to_args(&self) -> Vec<String> {
        vec!["--depth".into(), self.depth.to_string()]
    }

    pub fn describe(&self) -> String {
        format!("depth {}", self.depth)
    }

    fn max_depth(&self) -> u32 {
        self.depth.max(MIN_DEPTH + 2)
    }
}

#[derive(Trace)]
struct Node<'gc> {
    left: Option<Gc<'gc, Node<'gc>>>,
    right: Option<Gc<'gc, Node<'gc>>>,
}

fn bottom_up<'gc>(mc: &Mutation<'gc>, depth: u32) -> Gc<'gc, Node<'gc>> {
    let (left, right) = if depth == 0 {
        (None, None)
    } else {
        (
            Some(bottom_up(mc, depth - 1)),
            Some(bottom_up(mc, depth - 1)),
        )
    };
    Gc::new(mc, Node { left, right })
}

fn check(node: &Node<'_>) -> u64 {
    1 + node.left.map_or(0, |n| check(&n)) + node.right.map_or(0, |n| check(&n))
}

/// Step 3's iteration count at depth `d`.
fn iterations(max: u32, d: u32) -> u64 {
    1u64 << (max - d + MIN_DEPTH)
}

pub fn run_gc(p: &Params, heap: &Heap) -> Outcome {
    let max = p.max_depth();
    let mut m = heap.mutator::<Rootable!['gc => Option<Gc<'gc, Node<'gc>>>]>(|_| None);
    let mut h = 0;
    let mut ops = 0;

    let c = m.mutate(|mc, _| check(&bottom_up(mc, max + 1)));
    (h, ops) = (fold(h, c), ops + c);
    m.mutate_root(|mc, root| *root = Some(bottom_up(mc, max)));
    for d in (MIN_DEPTH..=max).step_by(2) {
        let mut c = 0;
        for _ in 0..iterations(max, d) {
            c += m.mutate(|mc, _| check(&bottom_up(mc, d)));
        }
        (h, ops) = (fold(h, c), ops + c);
    }
    let c = m.mutate(|_, root| root.map_or(0, |t| check(&t)));
    h = fold(h, c);
    ops += c;
    Outcome {
        checksum: h,
        ops,
        ..Outcome::default()
    }
}

struct BoxNode {
    left: Option<Box<BoxNode>>,
    right: Option<Box<BoxNode>>,
}

fn box_bottom_up(depth: u32) -> Box<BoxNode> {
    if depth == 0 {
        Box::new(BoxNode {
            left: None,
            right: None,
        })
    } else {
        Box::new(BoxNode {
            left: Some(box_bottom_up(depth - 1)),
            right: Some(box_bottom_up(depth - 1)),
        })
    }
}

fn box_check(node: &BoxNode) -> u64 {
    1 + node.left.as_deref().map_or(0, box_check) + node.right.as_deref().map_or(0, box_check)
}

pub fn run_box(p: &Params) -> Outcome {
    let max = p.max_depth();
    let mut h = 0;
    let mut ops = 0;
    let c = box_check(&box_bottom_up(max + 1));
    (h, ops) = (fold(h, c), ops + c);
    let long_lived = box_bottom_up(max);
    for d in (MIN_DEPTH..=max).step_by(2) {
        let mut c = 0;
        for _ in 0..iterations(max, d) {
            c += box_check(&box_bottom_up(d));
        }
        (h, ops) = (fold(h, c), ops + c);
    }
    let c = box_check(&long_lived);
    h = fold(h, c);
    ops += c;
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
        let a = run_gc(&p, &heap);
        let b = run_box(&p);
        assert_eq!(a, b);
        // 127 + 255 (stretch) + 2^6*31 + 2^4*127 (+ long-lived 127) ...
        assert!(a.ops > 4000, "{a:?}");
    }
}
