//! binary-trees on `Box` with mimalloc as the global allocator: the baseline
//! for `binary_trees` (same program, same output).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Node {
    left: Option<Box<Node>>,
    right: Option<Box<Node>>,
}

fn bottom_up(depth: u32) -> Box<Node> {
    if depth == 0 {
        Box::new(Node {
            left: None,
            right: None,
        })
    } else {
        Box::new(Node {
            left: Some(bottom_up(depth - 1)),
            right: Some(bottom_up(depth - 1)),
        })
    }
}

fn check(node: &Node) -> u64 {
    1 + node.left.as_ref().map_or(0, |n| check(n)) + node.right.as_ref().map_or(0, |n| check(n))
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let min_depth = 4;
    let max_depth = n.max(min_depth + 2);

    let stretch = max_depth + 1;
    println!(
        "stretch tree of depth {stretch}\t check: {}",
        check(&bottom_up(stretch))
    );

    let long_lived = bottom_up(max_depth);

    for depth in (min_depth..=max_depth).step_by(2) {
        let iterations = 1u64 << (max_depth - depth + min_depth);
        let mut c = 0;
        for _ in 0..iterations {
            c += check(&bottom_up(depth));
        }
        println!("{iterations}\t trees of depth {depth}\t check: {c}");
    }
    println!(
        "long lived tree of depth {max_depth}\t check: {}",
        check(&long_lived)
    );
}
