//! `fork` while other threads allocate (`global.rs`: the prepare handler
//! takes every allocator lock, the child's handler resets them): the child
//! must find a consistent heap and no lock held by a thread that does not
//! exist in it.
//!
//! Hammer threads allocate, free and exchange blocks through shared slots
//! (so frees are remote and spans get parked and reclaimed) while the main
//! thread forks 20 times. Each child verifies and frees blocks it inherited
//! (including blocks the hammers were freeing into the main thread's spans
//! at the moment of the fork), allocates and frees a few thousand blocks of
//! all sizes, starts a thread that does the same, and reports through its
//! exit status; the parent waits with a timeout, so a deadlock in the child
//! fails the test instead of hanging it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tricolor_heap::{alloc, free};

/// Block layout: `[size: u64][fill …]`, the fill byte a function of the
/// address and size, so anyone can verify a block from its address alone.
fn fill_byte(addr: usize, size: usize) -> u8 {
    ((addr >> 4) as u8 ^ (size as u8).rotate_left(3)) | 1
}

fn make(size: usize) -> Option<usize> {
    debug_assert!(size >= 8);
    let p = alloc(size, 8);
    if p.is_null() {
        return None;
    }
    // SAFETY: a fresh block of `size` bytes.
    unsafe {
        p.add(8).write_bytes(fill_byte(p as usize, size), size - 8);
        (p as *mut u64).write(size as u64);
    }
    Some(p as usize)
}

/// Verify the block's pattern and free it; false if it was damaged (in
/// which case it is not freed).
#[must_use]
fn check_and_free(p: usize) -> bool {
    // SAFETY: a live block made by `make`; its size word is checked before
    // the body is read.
    unsafe {
        let size = (p as *const u64).read() as usize;
        if !(8..=(4 << 20)).contains(&size) {
            return false;
        }
        let body = std::slice::from_raw_parts((p + 8) as *const u8, size - 8);
        let expect = [fill_byte(p, size); 4096];
        if !body.chunks(4096).all(|c| c == &expect[..c.len()]) {
            return false;
        }
        free(p as *mut u8);
    }
    true
}

/// SplitMix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn size_of_draw(r: u64) -> usize {
    match r % 32 {
        0 => 40_000 + (r >> 8) as usize % 300_000,
        1..=4 => 8 + (r >> 8) as usize % 8000,
        _ => 8 + (r >> 8) as usize % 300,
    }
}

/// The child's work; 0 on success, a distinct code per failure.
fn child_work(inherited: &[usize]) -> i32 {
    for &p in inherited {
        if !check_and_free(p) {
            return 10;
        }
    }
    let mut state = 0xC0FFEE;
    let mut live = Vec::new();
    for i in 0..4000 {
        let Some(p) = make(size_of_draw(next(&mut state))) else {
            return 11;
        };
        live.push(p);
        if i % 3 == 0 {
            let k = next(&mut state) as usize % live.len();
            if !check_and_free(live.swap_remove(k)) {
                return 12;
            }
        }
    }
    // A new thread in the child: a new thread cache, from the pool whose
    // lock the child handler reset.
    let t = std::thread::spawn(|| {
        let v: Vec<Option<usize>> = (0..2000).map(|i| make(16 + i % 500)).collect();
        v.into_iter().all(|p| p.is_some_and(check_and_free))
    });
    // Frees from this thread into the new thread's spans and back.
    let ok = t.join().unwrap_or(false);
    if !ok {
        return 13;
    }
    for p in live {
        if !check_and_free(p) {
            return 14;
        }
    }
    0
}

const SLOTS: usize = 512;
const HAMMERS: usize = 3;

#[test]
fn fork_while_other_threads_allocate() {
    let stop = Arc::new(AtomicBool::new(false));
    let slots: Arc<Vec<AtomicUsize>> = Arc::new((0..SLOTS).map(|_| AtomicUsize::new(0)).collect());
    let hammers: Vec<_> = (0..HAMMERS)
        .map(|h| {
            let (stop, slots) = (stop.clone(), slots.clone());
            std::thread::spawn(move || {
                let mut state = h as u64 * 7919;
                let mut ring = vec![0usize; 256];
                while !stop.load(Ordering::Relaxed) {
                    let r = next(&mut state);
                    let p = make(size_of_draw(r)).expect("alloc failed in a hammer");
                    // Half the time keep it locally, half exchange it.
                    let old = if r & 1 == 0 {
                        std::mem::replace(&mut ring[(r >> 1) as usize % 256], p)
                    } else {
                        slots[(r >> 1) as usize % SLOTS].swap(p, Ordering::AcqRel)
                    };
                    if old != 0 {
                        assert!(check_and_free(old), "a hammer found a damaged block");
                    }
                }
                for p in ring.into_iter().filter(|&p| p != 0) {
                    assert!(check_and_free(p));
                }
            })
        })
        .collect();

    let start = Instant::now();
    for round in 0..20 {
        // Blocks of the main thread: half go to the slots, where the hammers
        // free them (remote frees into our spans, parking and reclaiming
        // while we fork); the child inherits and frees the other half.
        let mut mine = Vec::new();
        for i in 0..2000 {
            let p = make(16 + (i * 13) % 200).expect("alloc failed");
            if i % 2 == 0 {
                let old = slots[(i * 7 + round) % SLOTS].swap(p, Ordering::AcqRel);
                if old != 0 {
                    assert!(check_and_free(old));
                }
            } else {
                mine.push(p);
            }
        }
        // SAFETY: the child only runs `child_work` (heap calls, one thread)
        // and `_exit`s; it never returns into the test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = std::panic::catch_unwind(|| child_work(&mine)).unwrap_or(99);
            // SAFETY: leave the child without running the parent's exit work.
            unsafe { libc::_exit(code) };
        }
        let code = wait_child(pid, Duration::from_secs(60));
        assert_eq!(code, 0, "round {round}: child failed with code {code}");
        for p in mine {
            assert!(check_and_free(p));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in hammers {
        h.join().unwrap();
    }
    for s in slots.iter() {
        let p = s.swap(0, Ordering::AcqRel);
        if p != 0 {
            assert!(check_and_free(p));
        }
    }
    eprintln!("20 forks in {:?}", start.elapsed());
}

/// Wait for `pid` to exit, at most `limit`; its exit status. A child that
/// does not exit in time is killed and the test fails.
fn wait_child(pid: libc::pid_t, limit: Duration) -> i32 {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is a valid out-parameter.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            assert!(
                libc::WIFEXITED(status),
                "child {pid} died: status {status:#x}"
            );
            return libc::WEXITSTATUS(status);
        }
        assert_eq!(r, 0, "waitpid failed");
        if start.elapsed() > limit {
            // SAFETY: our child: kill and reap it, then fail.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("child {pid} did not exit within {limit:?}: deadlocked after fork?");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A remote free that wins a parked span's notification moves the span's
/// thread-free tag FULL → NOTIFYING, pushes the span onto the owner's
/// reclaim stack, and only then sets the tag back (`remote.rs`,
/// transitions 2–3). Were `fork` to catch a freer between those steps, the
/// child would inherit NOTIFYING with no thread left to finish it, and the
/// owner's next touch of the span (`clear_full`) would spin forever. Seen for
/// real before the fix: a loop of forks while two threads freed the main
/// thread's 64-byte blocks hung a child at the 2144th fork.
///
/// The fix: notifications run inside `cache::NOTIFY_GATE`, which the fork
/// prepare handler closes and waits on. This test holds a helper thread
/// inside the gate right after it won a notification, and forks from the
/// owner thread: the fork must wait for the helper to finish (the child sees
/// the helper's "done" flag), and the child's free into its own parked span
/// must not hang.
#[test]
fn fork_during_a_remote_free_notification() {
    use std::sync::atomic::AtomicBool;
    use tricolor_heap::cache::NOTIFY_GATE;
    use tricolor_heap::remote::{Block, Pushed};
    use tricolor_heap::span::IN_FULL;

    let span_of = |p: usize| {
        // SAFETY: the span record of a live block stays valid while it lives.
        unsafe { tricolor_heap::arena::span_of(p).unwrap().as_ref() }
    };
    // Fill one span of the 64-byte class until this thread parks it.
    let first = make(64).unwrap();
    let span = span_of(first);
    let mut blocks = vec![first];
    while span.owner.load(Ordering::Relaxed) & IN_FULL == 0 {
        blocks.push(make(64).unwrap());
        assert!(blocks.len() < 100_000, "the span was never parked");
    }
    let in_span: Vec<usize> = blocks
        .iter()
        .copied()
        .filter(|&p| p >= span.start && p < span.end())
        .collect();
    assert!(in_span.len() >= 2);
    let (victim, mine) = (in_span[0], in_span[1]);

    // A helper thread frees `victim` remotely inside the notification gate,
    // as `cache::free_slow` does, and dawdles right after winning the
    // notification, as if preempted there.
    static HELPER_DONE: AtomicBool = AtomicBool::new(false);
    let (to_main, pushed) = std::sync::mpsc::channel();
    let span_addr = span as *const tricolor_heap::span::Span as usize;
    let helper = std::thread::spawn(move || {
        // SAFETY: the span record stays valid while its blocks live.
        let span = unsafe { &*(span_addr as *const tricolor_heap::span::Span) };
        NOTIFY_GATE.enter();
        // SAFETY: `victim` is a live block of the span, handed to this thread.
        let r = unsafe { span.thread_free.push(victim as *mut Block) };
        to_main.send(r == Pushed::MustNotify).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // Finish (without the reclaim-stack push, which needs the owner's
        // cache): the parent's span is consistent again.
        span.thread_free.finish_notify();
        HELPER_DONE.store(true, Ordering::SeqCst);
        NOTIFY_GATE.exit();
    });
    assert!(
        pushed.recv().unwrap(),
        "the helper did not win the notification"
    );

    // SAFETY: the child frees one block and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // The fork waited for the helper's notification to complete.
        if !HELPER_DONE.load(Ordering::SeqCst) {
            // SAFETY: leave the child.
            unsafe { libc::_exit(2) };
        }
        // Our own parked span: the free un-parks it (clear_full).
        let ok = check_and_free(mine);
        // SAFETY: leave the child.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let result = std::panic::catch_unwind(|| wait_child(pid, Duration::from_secs(5)));
    helper.join().unwrap();
    for p in blocks.into_iter().filter(|&p| p != victim && p != mine) {
        assert!(check_and_free(p));
    }
    assert!(check_and_free(mine));
    assert_eq!(
        result.expect("the child hung freeing into its own parked span"),
        0
    );
}
