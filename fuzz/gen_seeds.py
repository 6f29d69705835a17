#!/usr/bin/env python3
"""Write the seed corpus of the `alloc_ops` fuzz target (fuzz/corpus/alloc_ops/).

The byte format is documented in fuzz_targets/ops.rs (`decode`). Each seed is
a small, deterministic program that reaches one part of the heap: every size
tier and alignment band, zeroed and plain allocation, in-place and moving
realloc, release_memory with live blocks, and random mixes. Re-running the
script rewrites the same files; `crates/heap/tests/fuzz_replay.rs` replays
them on stable.
"""
import os
import random
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "alloc_ops")
MAX_SIZE = 2 << 20


def size_bytes(size):
    """Tier byte + u16 LE that `size_from` decodes to `size` (large sizes: nearest 32 B)."""
    if size <= 512:
        return bytes([0]) + struct.pack("<H", size)
    if size <= 40 * 1024:
        return bytes([11]) + struct.pack("<H", size - 513)
    return bytes([15]) + struct.pack("<H", ((size - 40 * 1024 - 1) >> 5) & 0xFFFF)


def align_byte(shift):
    """Align byte that `align_shift_from` decodes to `shift` (0..=20)."""
    if shift <= 4:
        return bytes([shift << 4])
    if shift <= 12:
        return bytes([((shift - 5) << 4) | 10])
    return bytes([((shift - 13) << 4) | 14])


def alloc(size, shift=0, zeroed=False):
    return bytes([6 if zeroed else 0]) + size_bytes(size) + align_byte(shift)


def free(pick):
    return bytes([7, pick & 0xFF])


def realloc_to(pick, size):
    return bytes([10, pick & 0xFF]) + size_bytes(size)


def realloc_scale(pick, k):
    return bytes([11, pick & 0xFF, k & 0xFF])


def check(pick):
    return bytes([12, pick & 0xFF])


RELEASE = bytes([15])


def seeds():
    s = {}
    s["00-empty"] = b""
    s["01-one-alloc"] = alloc(24)
    s["02-alloc-free"] = alloc(100) + check(0) + free(0)
    s["03-every-small-size"] = b"".join(alloc(n) for n in range(0, 513, 37)) + b"".join(free(3 * i) for i in range(14))
    s["04-medium"] = b"".join(alloc(n) for n in (513, 1024, 4096, 8192, 16384, 32767, 32768, 32769, 40960))
    s["05-large"] = alloc(40961) + alloc(1 << 20) + alloc(MAX_SIZE - 64) + check(1) + free(0) + free(0) + free(0)
    s["06-alignments"] = b"".join(alloc(48, shift) for shift in range(0, 21))
    s["07-aligned-large"] = b"".join(alloc(100_000, shift) for shift in (13, 15, 17, 20)) + check(2)
    s["08-zeroed-small"] = b"".join(alloc(n, 0, True) for n in (0, 1, 8, 200, 512, 3000))
    # Dirty pages come back zeroed: allocate, free, allocate zeroed.
    s["09-zeroed-reuse"] = alloc(300_000) + free(0) + alloc(300_000, 0, True) + alloc(200, 3) + free(1) + alloc(200, 3, True)
    s["10-release-then-zeroed"] = alloc(1 << 20) + alloc(64) + free(0) + RELEASE + alloc(1 << 20, 0, True) + check(0) + check(1)
    s["11-realloc-grow"] = alloc(16) + b"".join(realloc_to(0, n) for n in (32, 100, 1000, 33000, 100_000, 1 << 20))
    s["12-realloc-shrink"] = alloc(1 << 20) + b"".join(realloc_to(0, n) for n in (500_000, 50_000, 40_000, 5000, 100, 0))
    # Scale 40..64 of 64 keeps a block near its size: the in-place window.
    s["13-realloc-in-place"] = alloc(4000) + alloc(200_000) + b"".join(realloc_scale(i, k) for i, k in enumerate((63, 40, 64, 33, 50, 60)))
    s["14-realloc-aligned"] = alloc(100, 6) + alloc(5000, 12) + alloc(50_000, 16) + realloc_scale(0, 200) + realloc_scale(1, 3) + realloc_scale(2, 255)
    s["15-release-with-live"] = b"".join(alloc(n) for n in (10, 5000, 70_000, 600_000)) + free(1) + free(1) + RELEASE + check(0) + check(1)
    s["16-truncated"] = alloc(64) + alloc(64)[:3]
    rng = random.Random(0x7A11C0)
    for i, n in enumerate((32, 128, 512, 2048)):
        s[f"{17 + i}-random-{n}"] = bytes(rng.randrange(256) for _ in range(n))
    # Churn in one class: alloc/free pairs that retire and reuse spans.
    s["21-churn"] = b"".join(alloc(64) + alloc(64) + free(0) for _ in range(300)) + b"".join(free(0) for _ in range(300))
    return s


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(seeds().items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds())} seeds to {OUT}")


if __name__ == "__main__":
    main()
