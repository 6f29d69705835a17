//! The `gc_ops` fuzz target on stable: replay every input of
//! `fuzz/corpus/gc_ops/` (seeds written by `fuzz/gen_gc_seeds.py`, plus
//! whatever fuzzing adds there) and a batch of deterministic pseudo-random
//! inputs through the same decoder and checker
//! (`fuzz/fuzz_targets/gc_graph.rs`, whose module docs list the checks:
//! the real graph matches the shadow graph after every op, `live_objects`
//! is exact after every collect, the sweeper drops exactly the unreachable
//! objects, and teardown drops every object once).
//!
//! The first byte of an input picks the collector configuration, so the
//! corpus and the random batch cover one and two markers, `clobberfree`,
//! lazy and background sweeping, `stress=1`, `stoptheworld=2`, `gogc`
//! off and a small or 4 MiB minimum heap, always with `checkmark`.
//!
//! A crash found by `cargo fuzz` becomes a regression test by copying its
//! artifact into the corpus directory.

#[allow(dead_code)]
#[path = "../../../fuzz/fuzz_targets/gc_graph.rs"]
mod gc_graph;

use gc_graph::{Dest, Edge, Init, LeafOp, Op, Setup};
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/gc_ops")
}

#[test]
fn corpus_replays_cleanly() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("fuzz/corpus/gc_ops exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 24,
        "expected the checked-in seeds, found {} files",
        files.len()
    );
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let (setup, ops) = gc_graph::decode(&data);
        eprintln!(
            "replaying {} ({} bytes, {} ops, {setup:?})",
            f.display(),
            data.len(),
            ops.len()
        );
        gc_graph::run(&data);
    }
}

#[test]
fn random_inputs_replay_cleanly() {
    let mut state = 0x6C0F_u64;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in 0..64u8 {
        let len = 1 + (next() % 1200) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Every combination of configuration bits 0..=5 over the batch, not
        // a random few; bit 6 (the minimum heap) at random.
        data[0] = i | (next() as u8 & 0x40);
        gc_graph::run(&data);
    }
}

/// The byte format documented in `gc_graph.rs`, on hand-made records (no
/// heap).
#[test]
fn decoder_follows_the_documented_format() {
    let (setup, ops) = gc_graph::decode(&[]);
    assert_eq!(setup, Setup::from_byte(0));
    assert!(ops.is_empty());
    assert_eq!(Setup::from_byte(0), Setup::DEFAULT);
    assert_eq!(
        Setup::from_byte(0x3F),
        Setup {
            mark_workers: 1,
            clobberfree: true,
            background_sweep: false,
            stress: true,
            stoptheworld: 2,
            gogc: None,
            min_heap: 256 << 10,
            checkmark: true,
            losemark: 0,
        }
    );
    // Bit 6 is the 4 MiB minimum heap; bit 7 is ignored.
    assert_eq!(
        Setup::from_byte(0xC0),
        Setup {
            min_heap: 4 << 20,
            ..Setup::DEFAULT
        }
    );
    assert_eq!(Setup::from_byte(0x80), Setup::DEFAULT);

    let d = |bytes: &[u8]| {
        let mut v = vec![0u8];
        v.extend_from_slice(bytes);
        gc_graph::decode(&v).1
    };
    // tag 0: alloc into root slot 3, payload 9, init 0b1_0110 → slot 1 and
    // 5 vector entries, from the 7th object.
    assert_eq!(
        d(&[0, 3, 9, 0b1_0110, 7]),
        [Op::Alloc {
            dest: Dest::Root(3),
            payload: 9,
            init: Init {
                slots: 2,
                vec_len: 5,
                first: 7
            }
        }]
    );
    // tag 18 (= 2): alloc as a child of 5, edge byte 0b1011 → VecAt(2).
    assert_eq!(
        d(&[18, 5, 0b1011, 0, 0, 0]),
        [Op::Alloc {
            dest: Dest::Child {
                parent: 5,
                edge: Edge::VecAt(2)
            },
            payload: 0,
            init: Init {
                slots: 0,
                vec_len: 0,
                first: 0
            }
        }]
    );
    assert_eq!(
        d(&[5, 200, 1, 2]),
        [Op::Garbage {
            count: 200,
            payload: 1,
            anchor: 2
        }]
    );
    assert_eq!(
        d(&[6, 1, 2, 0, 7, 1, 1, 9]),
        [
            Op::Write {
                from: 1,
                edge: Edge::VecPush,
                to: None
            },
            Op::Write {
                from: 1,
                edge: Edge::Slot(1),
                to: Some(8)
            }
        ]
    );
    assert_eq!(
        d(&[8, 4, 0, 9, 2, 3, 10, 6]),
        [
            Op::Delete {
                from: 4,
                edge: Edge::Slot(0)
            },
            Op::SetRoot {
                slot: 2,
                to: Some(2)
            },
            Op::RemoveRoot { slot: 6 }
        ]
    );
    assert_eq!(
        d(&[11, 1, 0, 9, 11, 1, 2, 9, 11, 1, 5, 9, 11, 1, 7, 9]),
        [
            Op::SetLeaf {
                from: 1,
                leaf: LeafOp::Clear
            },
            Op::SetLeaf {
                from: 1,
                leaf: LeafOp::NewSmall
            },
            Op::SetLeaf {
                from: 1,
                leaf: LeafOp::NewBig
            },
            Op::SetLeaf {
                from: 1,
                leaf: LeafOp::Share(9)
            },
        ]
    );
    assert_eq!(
        d(&[12, 0, 4, 12, 2, 5, 12, 3, 6, 13, 7, 15]),
        [
            Op::AddHandle { of: 4 },
            Op::CloneHandle { pick: 5 },
            Op::DropHandle { pick: 6 },
            Op::Isolate { of: 7 },
            Op::Collect
        ]
    );
    assert_eq!(
        d(&[14, 255, 3, 4, 14, 0, 0, 0]),
        [
            Op::Bulk {
                count: 1021,
                payload: 3,
                parent: 4
            },
            Op::Bulk {
                count: 1,
                payload: 0,
                parent: 0
            }
        ]
    );
    // A truncated record ends the sequence.
    assert_eq!(d(&[15, 0, 3, 9]), [Op::Collect]);
    // The sequence is capped.
    let long = vec![15u8; gc_graph::MAX_OPS + 10];
    assert_eq!(gc_graph::decode(&long).1.len(), gc_graph::MAX_OPS);
}
