//! The `alloc_ops` fuzz target on stable: replay every input of
//! `fuzz/corpus/alloc_ops/` (seeds written by `fuzz/gen_seeds.py`, plus
//! whatever fuzzing adds there) and a batch of deterministic pseudo-random
//! inputs through the same decoder and checker (`fuzz/fuzz_targets/ops.rs`).
//!
//! A crash found by `cargo fuzz` becomes a regression test by copying its
//! artifact into the corpus directory.

#[allow(dead_code)]
#[path = "../../../fuzz/fuzz_targets/ops.rs"]
mod ops;

use ops::{Op, Resize};
use std::path::PathBuf;
use std::sync::Mutex;

/// The model's statistics checks are exact: one heap-using test at a time.
static HEAP: Mutex<()> = Mutex::new(());

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/alloc_ops")
}

#[test]
fn corpus_replays_cleanly() {
    let _heap = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("fuzz/corpus/alloc_ops exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected the checked-in seeds, found {} files",
        files.len()
    );
    for f in &files {
        let data = std::fs::read(f).unwrap();
        eprintln!(
            "replaying {} ({} bytes, {} ops)",
            f.display(),
            data.len(),
            ops::decode(&data).len()
        );
        ops::run(&data);
    }
}

#[test]
fn random_inputs_replay_cleanly() {
    let _heap = HEAP.lock().unwrap_or_else(|e| e.into_inner());
    let mut state = 0x5EED_u64;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for _ in 0..24 {
        let len = (next() % 800) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        ops::run(&data);
    }
}

/// The byte format documented in `ops.rs`, on hand-made records (no heap).
#[test]
fn decoder_follows_the_documented_format() {
    assert!(ops::decode(&[]).is_empty());
    // tag 0: alloc, tier 0 → size = v % 513, align byte 0x20 → 2^2.
    assert_eq!(
        ops::decode(&[0, 0, 100, 0, 0x20]),
        [Op::Alloc {
            size: 100,
            align_shift: 2,
            zeroed: false
        }]
    );
    // tag 6: zeroed; tier 11 → 513 + v; align byte 0x3A → 5 + 3.
    assert_eq!(
        ops::decode(&[6, 11, 7, 0, 0x3A]),
        [Op::Alloc {
            size: 520,
            align_shift: 8,
            zeroed: true
        }]
    );
    // Tier 15 → above 40 KiB; align band 14/15 → 2^13 ..= 2^20.
    match ops::decode(&[16, 15, 0xFF, 0xFF, 0x7E])[..] {
        [Op::Alloc {
            size,
            align_shift: 20,
            zeroed: false,
        }] => assert!(size > 40 << 10 && size <= ops::MAX_SIZE),
        ref other => panic!("{other:?}"),
    }
    assert_eq!(
        ops::decode(&[7, 3, 9, 200]),
        [Op::Free { pick: 3 }, Op::Free { pick: 200 }]
    );
    assert_eq!(
        ops::decode(&[10, 1, 0, 44, 1, 11, 2, 32]),
        [
            Op::Realloc {
                pick: 1,
                to: Resize::To(300)
            },
            Op::Realloc {
                pick: 2,
                to: Resize::Scale(32)
            }
        ]
    );
    assert_eq!(
        ops::decode(&[12, 5, 15]),
        [Op::Check { pick: 5 }, Op::Release]
    );
    // A truncated record ends the sequence.
    assert_eq!(ops::decode(&[15, 0, 0, 1]), [Op::Release]);
    // Every size and alignment the decoder can produce is in range.
    for tier in 0..=255u8 {
        for v in [0u16, 1, 511, 512, 513, 40_000, u16::MAX] {
            let s = ops::size_from(tier, v);
            assert!(s <= ops::MAX_SIZE, "size_from({tier}, {v}) = {s}");
        }
        assert!(ops::align_shift_from(tier) <= ops::MAX_ALIGN_SHIFT);
    }
    // The size tiers are skewed toward small requests, as documented.
    let small = (0..=255u8)
        .filter(|&t| ops::size_from(t, 1000) <= 512)
        .count();
    assert_eq!(small, 16 * 11);
}
