//! Memory freed by other threads into a live thread's spans goes back to the
//! page heap as soon as that thread next allocates in the class, not only
//! when it exits: the owner collects the spans remote freers reported and
//! retires the empty ones.

use std::sync::mpsc;
use tricolor_heap::{alloc, free, release_memory, stats};

#[test]
fn remote_frees_into_a_live_owner_are_returned() {
    const BLOCKS: usize = 256 * 1024; // 16 MiB of 64-byte blocks
    let (to_main, blocks) = mpsc::channel::<Vec<usize>>();
    let (go, wait) = mpsc::channel::<()>();
    let (done_tx, done) = mpsc::channel::<()>();
    let owner = std::thread::spawn(move || {
        let v: Vec<usize> = (0..BLOCKS).map(|_| alloc(64, 8) as usize).collect();
        assert!(v.iter().all(|&p| p != 0));
        to_main.send(v).unwrap();
        // Wait until every block was freed by the main thread, then allocate
        // once in the class: the slow path drains the reclaim stack.
        wait.recv().unwrap();
        let mut extra = Vec::new();
        for _ in 0..10_000 {
            extra.push(alloc(64, 8) as usize);
        }
        for p in extra {
            // SAFETY: live blocks of this thread, freed once.
            unsafe { free(p as *mut u8) };
        }
        done_tx.send(()).unwrap();
        // Stay alive: the point is that the owner has not exited.
        wait.recv().ok();
    });
    let v = blocks.recv().unwrap();
    let peak = stats().in_use;
    for p in v {
        // SAFETY: live blocks handed over by the owner thread, freed once.
        unsafe { free(p as *mut u8) };
    }
    go.send(()).unwrap();
    done.recv().unwrap();
    release_memory();
    let after = stats().in_use;
    assert!(
        after + 12 * (1 << 20) <= peak,
        "remote-freed spans of a live owner were not returned: in_use {peak} -> {after}"
    );
    drop(go);
    owner.join().unwrap();
}
