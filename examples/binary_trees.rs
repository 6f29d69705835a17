//! The Benchmarks Game's binary-trees on the collected heap: every node is
//! a `Gc` allocation. Usage: `binary_trees [depth]` (default 10).
//!
//! Compare with `binary_trees_box` (the same program on `Box` and mimalloc):
//! the check sums must agree.

use tricolor::gc::{Config, Gc, Heap, Mutation, Rootable, Trace};

#[derive(Trace)]
struct Node<'gc> {
    left: Option<Gc<'gc, Node<'gc>>>,
    right: Option<Gc<'gc, Node<'gc>>>,
}

fn bottom_up<'gc>(mc: &Mutation<'gc>, depth: u32) -> Gc<'gc, Node<'gc>> {
    if depth == 0 {
        Gc::new(
            mc,
            Node {
                left: None,
                right: None,
            },
        )
    } else {
        let left = bottom_up(mc, depth - 1);
        let right = bottom_up(mc, depth - 1);
        Gc::new(
            mc,
            Node {
                left: Some(left),
                right: Some(right),
            },
        )
    }
}

fn check(node: &Node<'_>) -> u64 {
    1 + node.left.map_or(0, |n| check(&n)) + node.right.map_or(0, |n| check(&n))
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let min_depth = 4;
    let max_depth = n.max(min_depth + 2);

    let heap = Heap::new(Config::default());
    let mut m = heap.mutator::<Rootable!['gc => Option<Gc<'gc, Node<'gc>>>]>(|_| None);

    let stretch = max_depth + 1;
    let c = m.mutate(|mc, _| check(&bottom_up(mc, stretch)));
    println!("stretch tree of depth {stretch}\t check: {c}");

    m.mutate_root(|mc, root| *root = Some(bottom_up(mc, max_depth)));

    for depth in (min_depth..=max_depth).step_by(2) {
        let iterations = 1u64 << (max_depth - depth + min_depth);
        let mut c = 0;
        for _ in 0..iterations {
            c += m.mutate(|mc, _| check(&bottom_up(mc, depth)));
        }
        println!("{iterations}\t trees of depth {depth}\t check: {c}");
    }

    let c = m.mutate(|_, root| check(&root.expect("the long-lived tree")));
    println!("long lived tree of depth {max_depth}\t check: {c}");
    if std::env::var_os("BINARY_TREES_STATS").is_some() {
        let s = heap.stats();
        eprintln!(
            "gc: {} cycles, pause max {:?} total {:?}, peak heap {} MiB",
            s.cycles,
            s.pause_max,
            s.pause_total,
            s.peak_heap_bytes >> 20
        );
    }
}
