#!/usr/bin/env python3
"""Write the seed corpus of the `gc_ops` fuzz target (fuzz/corpus/gc_ops/).

The byte format is documented in fuzz_targets/gc_graph.rs (`decode`): byte 0
picks the collector configuration, then one record per operation. Each seed
is a small, deterministic program that reaches one part of the collector:
deep chains and wide fans, cycles, garbage pointing into the live graph,
edges through `Lock` slots and `RefLock` vectors, root slots, `Root` handles
made in one scope and read in later ones, subgraphs cut off by `Isolate`,
small and big leaves, under every configuration bit (one/two markers,
clobberfree, lazy sweep, stress, stoptheworld=2, gogc off, min heap), wide hubs
that fill the markers' work buffers, plus random mixes.
Re-running the script rewrites the same files;
`crates/gc/tests/fuzz_replay.rs` replays them on stable.
"""
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "gc_ops")

# Setup byte bits (Setup::from_byte).
ONE_MARKER, CLOBBER, LAZY_SWEEP, STRESS, STW2, GOGC_OFF, BIG_MIN_HEAP = 1, 2, 4, 8, 16, 32, 64

# Edge bytes (edge_from).
SLOT0, SLOT1, VEC_PUSH = 0, 1, 2


def vec_at(k):
    return 3 | ((k & 0x3F) << 2)


def init(slots=0, vec_len=0):
    return (slots & 3) | ((vec_len & 7) << 2)


def alloc_root(slot, payload=8, init_bits=0, first=0):
    return bytes([0, slot & 0xFF, payload & 0xFF, init_bits, first & 0xFF])


def alloc_child(parent, edge, payload=8, init_bits=0, first=0):
    return bytes([2, parent & 0xFF, edge, payload & 0xFF, init_bits, first & 0xFF])


def garbage(count, payload=4, anchor=0):
    return bytes([5, count & 0xFF, payload & 0xFF, anchor & 0xFF])


def write(frm, edge, to):
    """to=None clears the edge."""
    return bytes([6, frm & 0xFF, edge, 0 if to is None else (to + 1) & 0xFF])


def delete(frm, edge):
    return bytes([8, frm & 0xFF, edge])


def set_root(slot, to):
    return bytes([9, slot & 0xFF, 0 if to is None else (to + 1) & 0xFF])


def remove_root(slot):
    return bytes([10, slot & 0xFF])


CLEAR, SMALL, BIG, SHARE = 0, 2, 5, 6


def set_leaf(frm, kind, share=0):
    return bytes([11, frm & 0xFF, kind, share & 0xFF])


def add_handle(of):
    return bytes([12, 0, of & 0xFF])


def clone_handle(pick):
    return bytes([12, 2, pick & 0xFF])


def drop_handle(pick):
    return bytes([12, 3, pick & 0xFF])


def isolate(of):
    return bytes([13, of & 0xFF])


def bulk(count, payload=0, parent=0):
    """A hub of 1 + 4 * (count // 4) new objects (count up to 1021)."""
    return bytes([14, (count - 1) // 4 & 0xFF, payload & 0xFF, parent & 0xFF])


COLLECT = bytes([15])


def seeds():
    s = {}
    s["00-empty"] = b""
    s["01-one-object"] = bytes([0]) + alloc_root(0) + COLLECT
    # A chain: each new object is a child (slot 0) of the newest one.
    chain = b"".join(alloc_child(i, SLOT0, 16) for i in range(40))
    s["02-chain"] = bytes([0]) + alloc_root(0) + chain + COLLECT
    # The same chain, cut in the middle and at the root.
    s["03-chain-cut"] = bytes([0]) + alloc_root(0) + chain + COLLECT + delete(20, SLOT0) + COLLECT + set_root(0, None) + COLLECT
    # A wide fan through the RefLock vector, then entries removed.
    fan = b"".join(alloc_child(0, VEC_PUSH, i) for i in range(8))
    s["04-fan"] = bytes([ONE_MARKER]) + alloc_root(0) + fan + COLLECT + b"".join(delete(0, vec_at(i)) for i in range(4)) + COLLECT
    # Cycles: every object points back at the first.
    s["05-cycles"] = bytes([0]) + alloc_root(0) + b"".join(alloc_child(i, SLOT0, 3, init(2), 0) for i in range(20)) + COLLECT + set_root(0, None) + COLLECT
    s["06-garbage"] = bytes([CLOBBER]) + alloc_root(0) + garbage(15, 30) + garbage(1) + garbage(7, 200, 0) + COLLECT + COLLECT
    s["07-handles-across-scopes"] = (
        bytes([0]) + alloc_root(0) + alloc_child(0, SLOT1) + add_handle(1) + add_handle(0)
        + set_root(0, None) + COLLECT + clone_handle(0) + drop_handle(1) + COLLECT
        + alloc_child(0, VEC_PUSH) + drop_handle(0) + COLLECT + drop_handle(0) + COLLECT
    )
    s["08-isolate"] = bytes([CLOBBER]) + alloc_root(0) + chain + b"".join(write(i, vec_at(0), 39 - i) for i in range(20)) + COLLECT + isolate(10) + COLLECT + isolate(0) + COLLECT
    s["09-leaves"] = (
        bytes([0]) + alloc_root(0) + alloc_child(0, SLOT0) + set_leaf(0, SMALL) + set_leaf(1, BIG)
        + set_leaf(0, SHARE, 1) + COLLECT + set_leaf(1, CLEAR) + COLLECT + set_leaf(0, BIG) + COLLECT
    )
    s["10-many-big-leaves"] = bytes([GOGC_OFF]) + alloc_root(0) + b"".join(set_leaf(0, BIG) for _ in range(60)) + COLLECT
    s["11-root-slots"] = (
        bytes([0]) + b"".join(alloc_root(i, i) for i in range(20)) + COLLECT
        + b"".join(remove_root(i) for i in range(0, 10, 2)) + set_root(3, None) + set_root(99, 2) + COLLECT
    )
    s["12-init-edges"] = bytes([0]) + alloc_root(0) + b"".join(alloc_root(i, 1, init(3, 7), i * 5) for i in range(1, 16)) + COLLECT
    s["13-rewire"] = bytes([0]) + alloc_root(0) + chain + b"".join(write((7 * i) % 41, SLOT1, (3 * i) % 41) for i in range(60)) + b"".join(write(i, SLOT0, None) for i in range(0, 41, 3)) + COLLECT
    s["14-truncated"] = bytes([0]) + alloc_root(0) + COLLECT + alloc_child(0, SLOT0)[:3]
    # The same program under every configuration bit.
    program = (
        alloc_root(0, 20) + alloc_root(1, 5) + chain[: 6 * 12] + add_handle(5) + garbage(12, 9, 3)
        + set_leaf(3, SMALL) + set_leaf(4, BIG) + COLLECT + isolate(2) + write(0, VEC_PUSH, 5)
        + delete(1, SLOT0) + COLLECT + set_root(0, None) + set_root(1, None) + COLLECT
    )
    for i, bits in enumerate((ONE_MARKER, CLOBBER, LAZY_SWEEP, STRESS, STW2, GOGC_OFF, 0x3F, STRESS | CLOBBER | LAZY_SWEEP)):
        s[f"{15 + i}-config-{bits:02x}"] = bytes([bits]) + program
    rng = random.Random(0x6C0F5EED)
    for i, n in enumerate((16, 64, 256, 512, 1024, 2048)):
        s[f"{23 + i}-random-{n}"] = bytes([rng.randrange(128)]) + bytes(rng.randrange(256) for _ in range(n))
    # Churn: allocate into a root slot, overwrite it, collect now and then.
    s["29-churn"] = bytes([STRESS]) + b"".join(alloc_root(0, 64, init(1), 0) + (COLLECT if i % 50 == 49 else b"") for i in range(300))
    # Wide hubs: more grey objects than two work buffers hold, so the
    # markers hand buffers through the pool; then cut off and re-collected.
    s["30-bulk"] = bytes([0]) + alloc_root(0) + bulk(1021, 2) + bulk(600, 0, 1) + COLLECT + isolate(5) + COLLECT + set_root(0, None) + COLLECT
    s["31-bulk-one-marker"] = bytes([ONE_MARKER | CLOBBER]) + bulk(1021) + bulk(1021, 1, 7) + write(3, vec_at(9), 2000) + COLLECT + remove_root(0) + COLLECT
    s["32-bulk-big-min-heap"] = bytes([BIG_MIN_HEAP | LAZY_SWEEP]) + alloc_root(0) + b"".join(bulk(400, 16, i) + garbage(63, 8, i) for i in range(6)) + COLLECT
    return s


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(seeds().items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds())} seeds to {OUT}")


if __name__ == "__main__":
    main()
