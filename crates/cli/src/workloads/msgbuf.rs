//! The message-buffer latency test (the Go GC's classic: a server keeps the
//! last `window` messages; message `n` replaces slot `n % window`).
//!
//! 1. The buffer is one heap object holding `window` slots (a `Vec` of
//!    cells on the collected heap, a `Vec<Option<Box<_>>>` for the
//!    baselines).
//! 2. For `n = 0 … messages-1`: start a clock, then in one mutation scope
//!    read the message being evicted (adding its bytes to the checksum),
//!    allocate message `n` and store it into slot `n % window`; stop the
//!    clock after the scope has ended and record the store's latency in an
//!    HdrHistogram. The scope's end is a safepoint, so a cycle requested
//!    during the store runs inside the timed region: the histogram sees
//!    every pause from outside, including the wait for the other mutators.
//! 3. Read the messages still in the buffer.
//!
//! `msgbuf`: a message is 1 KiB of pointer-free bytes, all equal to `n as
//! u8` (a noscan object: the marker never reads it). `msgbuf-ptr`: a
//! message is a linked list of 16 objects of 64 B (a pointer and seven
//! words: `n`, the position, …), so the live heap is `window × 16` objects
//! the marker must trace. The reference sizes are a 200 000-slot window
//! and 1 000 000 messages (`--window`, `--messages` shrink it).

use super::{fold, Outcome};
use crate::latency::Recorder;
use clap::Args;
use std::time::Instant;
use tricolor_gc::{Gc, Heap, Lock, Mutation, Rootable, Trace};

/// Bytes of a `msgbuf` message.
pub const MSG_BYTES: usize = 1024;
/// Objects per `msgbuf-ptr` message, and their size.
pub const LIST_LEN: u64 = 16;
const _: () = assert!(core::mem::size_of::<Link<'static>>() == 64);

#[derive(Args, Clone, Debug, PartialEq)]
pub struct Params {
    /// Slots in the buffer (messages kept alive).
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub window: u64,
    /// Messages stored in all.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: u64,
}

impl Params {
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--window".into(),
            self.window.to_string(),
            "--messages".into(),
            self.messages.to_string(),
        ]
    }

    pub fn describe(&self) -> String {
        format!("window {}, {} messages", self.window, self.messages)
    }

    /// Bytes the window keeps alive.
    pub fn live_bytes(&self, pointers: bool) -> u128 {
        let per = if pointers {
            LIST_LEN * 64
        } else {
            MSG_BYTES as u64
        };
        u128::from(self.window) * u128::from(per)
    }

    pub fn validate(&self, pointers: bool) -> Result<(), String> {
        let need = self.live_bytes(pointers) * 3;
        match crate::units::physical_memory() {
            Some(mem) if need > mem as u128 => Err(format!(
                "--window {} keeps {} MiB alive; with the heap's growth that needs about {} MiB, \
                 more than this machine's {} MiB",
                self.window,
                self.live_bytes(pointers) >> 20,
                need >> 20,
                mem >> 20
            )),
            _ => Ok(()),
        }
    }
}

/// What message `n` holds at position `k` (word 0 of a list node, or the
/// first and last byte of a flat message).
fn expected(n: u64, k: u64) -> u64 {
    n.wrapping_mul(LIST_LEN).wrapping_add(k)
}

#[derive(Trace)]
struct Msg {
    bytes: [u8; MSG_BYTES],
}

#[derive(Trace)]
struct Link<'gc> {
    next: Option<Gc<'gc, Link<'gc>>>,
    words: [u64; 7],
}

#[derive(Trace, Clone, Copy)]
enum Message<'gc> {
    Flat(Gc<'gc, Msg>),
    List(Gc<'gc, Link<'gc>>),
}

#[derive(Trace)]
struct Buffer<'gc> {
    slots: Vec<Lock<Option<Message<'gc>>>>,
}

fn make<'gc>(mc: &Mutation<'gc>, n: u64, pointers: bool) -> Message<'gc> {
    if !pointers {
        return Message::Flat(Gc::new(
            mc,
            Msg {
                bytes: [n as u8; MSG_BYTES],
            },
        ));
    }
    let mut next = None;
    for k in (0..LIST_LEN).rev() {
        let w = expected(n, k);
        next = Some(Gc::new(
            mc,
            Link {
                next,
                words: [w, k, n, !w, w ^ k, w.rotate_left(7), 1],
            },
        ));
    }
    match next {
        Some(head) => Message::List(head),
        None => unreachable!("LIST_LEN > 0"),
    }
}

/// The checksum contribution of a message read back.
fn digest(m: Message<'_>) -> u64 {
    match m {
        Message::Flat(g) => u64::from(g.bytes[0]) + u64::from(g.bytes[MSG_BYTES - 1]),
        Message::List(head) => {
            let mut s = 0u64;
            let mut cur = Some(head);
            while let Some(l) = cur {
                s = s
                    .wrapping_add(l.words[0] ^ l.words[3])
                    .wrapping_add(l.words[1]);
                cur = l.next;
            }
            s
        }
    }
}

pub fn run_gc(p: &Params, heap: &Heap, pointers: bool) -> Outcome {
    let window = p.window as usize;
    let mut m = heap.mutator::<Rootable!['gc => Gc<'gc, Buffer<'gc>>]>(|mc| {
        Gc::new(
            mc,
            Buffer {
                slots: (0..window).map(|_| Lock::new(None)).collect(),
            },
        )
    });
    let mut rec = Recorder::new();
    let mut h = 0u64;
    for n in 0..p.messages {
        let t0 = Instant::now();
        let evicted = m.mutate(|mc, buf| {
            let slot = &buf.slots[(n % p.window) as usize];
            let msg = make(mc, n, pointers);
            slot.replace(mc, Some(msg)).map(digest)
        });
        rec.record(t0.elapsed());
        if let Some(d) = evicted {
            h = h.wrapping_add(d);
        }
    }
    let rest = m.mutate(|_, buf| {
        buf.slots
            .iter()
            .filter_map(|s| s.get())
            .fold(0u64, |a, msg| a.wrapping_add(digest(msg)))
    });
    h = fold(h, rest);
    Outcome {
        checksum: h,
        ops: p.messages * if pointers { LIST_LEN } else { 1 },
        latency: Some(rec.summary()),
        heartbeat: None,
    }
}

struct BoxMsg {
    bytes: [u8; MSG_BYTES],
}

struct BoxLink {
    next: Option<Box<BoxLink>>,
    words: [u64; 7],
}

enum BoxMessage {
    Flat(Box<BoxMsg>),
    List(Box<BoxLink>),
}

fn box_make(n: u64, pointers: bool) -> BoxMessage {
    if !pointers {
        return BoxMessage::Flat(Box::new(BoxMsg {
            bytes: [n as u8; MSG_BYTES],
        }));
    }
    let mut next = None;
    for k in (0..LIST_LEN).rev() {
        let w = expected(n, k);
        next = Some(Box::new(BoxLink {
            next,
            words: [w, k, n, !w, w ^ k, w.rotate_left(7), 1],
        }));
    }
    match next {
        Some(head) => BoxMessage::List(head),
        None => unreachable!("LIST_LEN > 0"),
    }
}

fn box_digest(m: &BoxMessage) -> u64 {
    match m {
        BoxMessage::Flat(g) => u64::from(g.bytes[0]) + u64::from(g.bytes[MSG_BYTES - 1]),
        BoxMessage::List(head) => {
            let mut s = 0u64;
            let mut cur = Some(&**head);
            while let Some(l) = cur {
                s = s
                    .wrapping_add(l.words[0] ^ l.words[3])
                    .wrapping_add(l.words[1]);
                cur = l.next.as_deref();
            }
            s
        }
    }
}

pub fn run_box(p: &Params, pointers: bool) -> Outcome {
    let mut slots: Vec<Option<BoxMessage>> = (0..p.window).map(|_| None).collect();
    let mut rec = Recorder::new();
    let mut h = 0u64;
    for n in 0..p.messages {
        let t0 = Instant::now();
        let slot = &mut slots[(n % p.window) as usize];
        let old = slot.replace(box_make(n, pointers));
        let evicted = old.as_ref().map(box_digest);
        drop(old);
        rec.record(t0.elapsed());
        if let Some(d) = evicted {
            h = h.wrapping_add(d);
        }
    }
    let rest = slots
        .iter()
        .flatten()
        .fold(0u64, |a, msg| a.wrapping_add(box_digest(msg)));
    h = fold(h, rest);
    Outcome {
        checksum: h,
        ops: p.messages * if pointers { LIST_LEN } else { 1 },
        latency: Some(rec.summary()),
        heartbeat: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tricolor_gc::Config;

    #[test]
    fn variants_agree() {
        let p = Params {
            window: 100,
            messages: 1000,
        };
        for pointers in [false, true] {
            let heap = Heap::new(Config::default());
            let a = run_gc(&p, &heap, pointers);
            let b = run_box(&p, pointers);
            assert_eq!(a.checksum, b.checksum, "pointers={pointers}");
            assert_eq!(a.latency.map(|l| l.count), Some(1000));
        }
    }
}
