//! A test binary whose global allocator is `Malloc`: std-heavy work
//! (collections, strings, formatting, threads) must run correctly on it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{mpsc, Arc, Mutex};
use tricolor_heap::Malloc;

// With the `self-hosted` feature the library already installs `Malloc`.
#[cfg(not(feature = "self-hosted"))]
#[global_allocator]
static GLOBAL: Malloc = Malloc;
#[cfg(feature = "self-hosted")]
static GLOBAL: Malloc = Malloc;

#[test]
fn collections_and_strings() {
    let mut map = BTreeMap::new();
    let mut hash = HashMap::new();
    for i in 0..50_000u64 {
        map.insert(i, format!("value-{i}"));
        hash.insert(format!("k{i}"), vec![i; (i % 17) as usize]);
    }
    for i in (0..50_000u64).step_by(3) {
        map.remove(&i);
        hash.remove(&format!("k{i}"));
    }
    assert_eq!(map.len(), 50_000 - 16_667);
    assert_eq!(map.get(&1).map(String::as_str), Some("value-1"));
    assert_eq!(hash.get("k4").map(Vec::len), Some(4));
    let joined: String = map
        .values()
        .take(1000)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",");
    assert!(joined.starts_with("value-1,value-2,value-4"));
    let mut dq: VecDeque<Box<[u8]>> = VecDeque::new();
    for i in 0..10_000usize {
        dq.push_back(vec![(i % 251) as u8; i % 3000].into_boxed_slice());
        if dq.len() > 100 {
            let b = dq.pop_front().unwrap();
            assert!(b.iter().all(|&x| x == b.first().copied().unwrap_or(0)));
        }
    }
}

#[test]
fn large_and_growing_vectors() {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..3_000_000u64 {
        v.push(i);
    }
    assert_eq!(v.iter().sum::<u64>(), 3_000_000 * 2_999_999 / 2);
    let big = vec![7u8; 50 << 20];
    assert_eq!(big[(50 << 20) - 1], 7);
    let z = vec![0u64; 1 << 20];
    assert!(z.iter().all(|&x| x == 0));
}

#[test]
fn threads_send_memory_to_each_other() {
    let (tx, rx) = mpsc::channel::<Vec<String>>();
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..2_000 {
                    tx.send((0..10).map(|j| format!("{t}-{i}-{j}")).collect())
                        .unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumer = std::thread::spawn(move || {
        let mut n = 0usize;
        for batch in rx {
            assert_eq!(batch.len(), 10);
            n += batch.len();
        }
        n
    });
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(consumer.join().unwrap(), 80_000);
    let shared = Arc::new(Mutex::new(Vec::new()));
    let hs: Vec<_> = (0..8)
        .map(|t| {
            let s = shared.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    s.lock().unwrap().push(format!("{t}:{i}"));
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(shared.lock().unwrap().len(), 8000);
}

#[test]
fn over_aligned_layouts() {
    use std::alloc::{GlobalAlloc, Layout};
    for align_shift in 0..=21 {
        let align = 1usize << align_shift;
        for size in [1usize, 7, 64, 4095, 40_000] {
            let l = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero size layout.
            let p = unsafe { GLOBAL.alloc(l) };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "size {size} align {align}");
            // SAFETY: p is a live block of `size` bytes.
            unsafe {
                p.write_bytes(0xAB, size);
                GLOBAL.dealloc(p, l);
            }
        }
    }
}
