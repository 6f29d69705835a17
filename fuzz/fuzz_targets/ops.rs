//! An operation language over `tricolor_heap`'s public API, and a checker
//! that runs it against a simple model.
//!
//! Shared, through `#[path]` / `mod`, by three drivers:
//!
//! - `fuzz/fuzz_targets/alloc_ops.rs`, the cargo-fuzz target (bytes → ops);
//! - `crates/heap/tests/fuzz_replay.rs`, which replays every input of
//!   `fuzz/corpus/alloc_ops/` on stable Rust;
//! - `crates/heap/tests/model.rs`, the proptest state machine (strategies →
//!   ops).
//!
//! # The model
//!
//! A map of the live blocks, address → (requested size, alignment, id,
//! usable size). Every block is filled with a pattern derived from its id
//! and size ([`fill`]): an 8-byte head, an 8-byte tail (size ≥ 16), a fill
//! byte in between. Ids are never reused, so a block handed out twice, or a
//! copy from the wrong block, shows up as a pattern mismatch.
//!
//! # What is checked
//!
//! After every allocation (and `realloc`):
//! 1. the pointer is non-null, aligned to the requested alignment and to 8;
//! 2. `usable_size(p) >= size`, and the routing table of `malloc.rs` holds:
//!    a request with a class (`class_for_layout`) gets a small span of that
//!    class and `usable_size == CLASS_SIZE[class]`; any other request gets a
//!    large span starting at `p`, of exactly `size` rounded up to pages. A
//!    block `realloc` kept in place keeps its small block (and the new size
//!    is at least half of it) or is a large span resized to the new size's
//!    pages. (Checking mode, `--features secure`, adds a 16-byte trailer to
//!    every request; the checks account for it.)
//! 3. `[p, p + usable)` overlaps no other live block (checked against both
//!    neighbours in address order);
//! 4. `span_of` and `object_base` of interior pointers (first byte, middle,
//!    last requested byte, last usable byte) give back the block's span and
//!    `p`;
//! 5. `alloc_zeroed` memory reads as zero;
//! 6. `realloc` preserved `min(old, new)` bytes of the old contents.
//!
//! Before every free and realloc, and on `Check`, the block's pattern is
//! verified; `Release` (`release_memory`) verifies every live block after
//! the release (the scavenger must only touch free pages).
//!
//! After every operation, the heap statistics are checked *exactly* against
//! the snapshot taken when the model was created: `allocated` grew by the
//! sum of the live blocks' usable sizes, per-class object counts and large
//! object counts match the live blocks, per-class span bytes add up to
//! `in_use`, and `committed == in_use + free_backed + released`. This holds
//! only while no other thread allocates or frees and this thread's spans
//! hold no uncollected remote frees, so every driver runs the model alone
//! (one test per process, or serialised by a lock). When the heap is also
//! the global allocator (the crate's `self-hosted` feature) everything in
//! the process allocates from it, and only the per-block checks are made.
//!
//! # Byte format ([`decode`])
//!
//! A sequence of records, each a tag byte followed by its operands; a
//! truncated record ends the sequence. `tag % 16`:
//!
//! | tag     | op                 | operands                               |
//! |---------|--------------------|----------------------------------------|
//! | 0..=5   | `Alloc`            | size tier, size (u16 LE), align byte   |
//! | 6       | `Alloc` zeroed     | size tier, size (u16 LE), align byte   |
//! | 7..=9   | `Free`             | pick                                   |
//! | 10      | `Realloc` to size  | pick, size tier, size (u16 LE)         |
//! | 11      | `Realloc` by scale | pick, scale (new = old × scale / 64)   |
//! | 12..=14 | `Check`            | pick                                   |
//! | 15      | `Release`          | —                                      |
//!
//! Sizes are skewed like real programs: tiers 0..=10 of 16 give 0..=512
//! bytes, 11..=14 give 513 B..=40 KiB, 15 gives 40 KiB..=2 MiB. Alignments
//! are 1..=16 for 10 of 16 align bytes, 32 B..=4 KiB for 4, 8 KiB..=1 MiB
//! for 2. A pick selects the `pick % live`-th live block in address order.

use std::collections::BTreeMap;
use tricolor_heap::size_class::{class_for_layout, CLASS_PAGES, CLASS_SIZE, NUM_SIZE_CLASSES};
use tricolor_heap::span::SpanKind;
use tricolor_heap::{self as heap, arena, span, HeapStats, PAGE_SIZE};

/// Largest request the generators make: 2 MiB.
pub const MAX_SIZE: usize = 2 << 20;
/// Largest alignment the generators ask for: 1 MiB.
pub const MAX_ALIGN_SHIFT: u32 = 20;
/// Requests that would take the live bytes past this are skipped, so that
/// no input can exhaust the fuzzer's memory.
pub const LIVE_BYTES_CAP: usize = 64 << 20;
/// Operations decoded from one input at most.
pub const MAX_OPS: usize = 2048;

/// How `Realloc` picks the new size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resize {
    /// Exactly this many bytes.
    To(usize),
    /// `old × k / 64`: 0 to ~4× the old size, so shrinks and grows that
    /// stay near the old size (the in-place window) are common.
    Scale(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Alloc {
        size: usize,
        align_shift: u32,
        zeroed: bool,
    },
    Free {
        pick: usize,
    },
    Realloc {
        pick: usize,
        to: Resize,
    },
    Check {
        pick: usize,
    },
    Release,
}

/// Decode fuzzer bytes into operations (format in the module docs).
pub fn decode(data: &[u8]) -> Vec<Op> {
    let mut r = Reader(data);
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS {
        let Some(op) = decode_one(&mut r) else { break };
        ops.push(op);
    }
    ops
}

/// Run a whole input: decode, apply every op to a fresh model, free
/// everything and check the heap came back. The fuzz target's body.
pub fn run(data: &[u8]) {
    let mut model = Model::new();
    for op in decode(data) {
        model.apply(op);
    }
    model.finish();
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
}

fn decode_one(r: &mut Reader) -> Option<Op> {
    let tag = r.u8()?;
    Some(match tag % 16 {
        t @ 0..=6 => {
            let size = size_from(r.u8()?, r.u16()?);
            let align_shift = align_shift_from(r.u8()?);
            Op::Alloc {
                size,
                align_shift,
                zeroed: t == 6,
            }
        }
        7..=9 => Op::Free {
            pick: r.u8()? as usize,
        },
        10 => {
            let pick = r.u8()? as usize;
            let size = size_from(r.u8()?, r.u16()?);
            Op::Realloc {
                pick,
                to: Resize::To(size),
            }
        }
        11 => Op::Realloc {
            pick: r.u8()? as usize,
            to: Resize::Scale(r.u8()?),
        },
        12..=14 => Op::Check {
            pick: r.u8()? as usize,
        },
        _ => Op::Release,
    })
}

/// Tier byte and 16-bit value → a size, skewed toward small (module docs).
pub fn size_from(tier: u8, v: u16) -> usize {
    let v = v as usize;
    match tier % 16 {
        0..=10 => v % 513,
        11..=14 => 513 + v % (40 * 1024 - 512),
        _ => 40 * 1024 + 1 + (v << 5) % (MAX_SIZE - 40 * 1024),
    }
}

/// Align byte → log2 of the alignment, mostly ≤ 16 bytes (module docs).
pub fn align_shift_from(b: u8) -> u32 {
    let hi = (b >> 4) as u32;
    match b % 16 {
        0..=9 => hi % 5,
        10..=13 => 5 + hi % 8,
        _ => 13 + hi % (MAX_ALIGN_SHIFT - 12),
    }
}

// ---- patterns ---------------------------------------------------------------

fn mix(mut x: u64) -> u64 {
    // SplitMix64's finaliser.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn head(id: u64) -> [u8; 8] {
    mix(id).to_le_bytes()
}

fn tail(id: u64, size: usize) -> [u8; 8] {
    mix(id ^ ((size as u64) << 32) ^ 0x7A11).to_le_bytes()
}

fn fill_byte(id: u64) -> u8 {
    // Never 0, so a block that was wrongly zeroed never passes.
    (mix(id.wrapping_add(0x51)) as u8) | 1
}

/// Fill the `size` bytes at `p` with the pattern of block `id`.
///
/// # Safety
/// `p` is valid for `size` bytes of writes.
pub unsafe fn fill(p: *mut u8, id: u64, size: usize) {
    // SAFETY: the caller's guarantee covers `[p, p + size)`; the head and
    // tail copies stay inside it.
    unsafe {
        std::ptr::write_bytes(p, fill_byte(id), size);
        let h = size.min(8);
        std::ptr::copy_nonoverlapping(head(id).as_ptr(), p, h);
        if size >= 16 {
            std::ptr::copy_nonoverlapping(tail(id, size).as_ptr(), p.add(size - 8), 8);
        }
    }
}

/// Is every byte of `s` equal to `b`? Compares 4 KiB chunks (a `memcmp`
/// each), so it is fast even in debug builds.
pub fn all_equal(s: &[u8], b: u8) -> Result<(), usize> {
    let chunk = [b; 4096];
    for (i, c) in s.chunks(4096).enumerate() {
        if c != &chunk[..c.len()] {
            let j = c.iter().position(|&x| x != b).unwrap_or(0);
            return Err(i * 4096 + j);
        }
    }
    Ok(())
}

/// Check that the first `len` bytes at `p` are the first `len` bytes of the
/// pattern of block (`id`, `size`).
///
/// # Safety
/// `p` is valid for `len` bytes of reads.
pub unsafe fn verify(p: *const u8, id: u64, size: usize, len: usize, what: &str) {
    debug_assert!(len <= size);
    // SAFETY: the caller's guarantee.
    let bytes = unsafe { std::slice::from_raw_parts(p, len) };
    let h = size.min(8);
    let t = if size >= 16 { size - 8 } else { size };
    let hl = h.min(len);
    assert_eq!(
        &bytes[..hl],
        &head(id)[..hl],
        "{what}: head of block {id} ({size} B) at {p:p} corrupted"
    );
    let mid_end = t.min(len);
    if mid_end > h {
        if let Err(at) = all_equal(&bytes[h..mid_end], fill_byte(id)) {
            panic!(
                "{what}: block {id} ({size} B) at {p:p}: byte {} is {:#04x}, expected {:#04x}",
                h + at,
                bytes[h + at],
                fill_byte(id)
            );
        }
    }
    if size >= 16 && len > t {
        assert_eq!(
            &bytes[t..len],
            &tail(id, size)[..len - t],
            "{what}: tail of block {id} ({size} B) at {p:p} corrupted"
        );
    }
}

/// Is this heap also the process's global allocator (the crate's
/// `self-hosted` feature)? Then the test harness and the model's own maps
/// allocate from it too, and its statistics cannot be predicted exactly.
pub fn heap_is_global_allocator() -> bool {
    let _ = heap::stats(); // starts the heap, so `contains` can answer
    let probe = Box::new(0u64);
    arena::contains(&*probe as *const u64 as usize)
}

// ---- the model ----------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Block {
    size: usize,
    align: usize,
    id: u64,
    usable: usize,
    /// Bytes the block takes in its span (`usable` plus checking mode's trailer).
    elem: usize,
    /// Size class, or 0 for a large object.
    class: usize,
}

/// The live blocks of one run, and the heap snapshot they are measured from.
pub struct Model {
    live: BTreeMap<usize, Block>,
    live_bytes: usize,
    next_id: u64,
    base: HeapStats,
    ops: usize,
    /// False when the heap is also the global allocator: then everything
    /// else in the process allocates from it too, and only the per-block
    /// checks are made.
    exact_stats: bool,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

impl Model {
    /// Start a model. The heap must be quiescent apart from this thread.
    pub fn new() -> Model {
        Model {
            live: BTreeMap::new(),
            live_bytes: 0,
            next_id: 1,
            exact_stats: !heap_is_global_allocator(),
            base: heap::stats(),
            ops: 0,
        }
    }

    /// Number of live blocks.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    fn pick(&self, pick: usize) -> Option<usize> {
        if self.live.is_empty() {
            return None;
        }
        self.live.keys().nth(pick % self.live.len()).copied()
    }

    /// Apply one operation and check every invariant of the module docs.
    pub fn apply(&mut self, op: Op) {
        self.ops += 1;
        match op {
            Op::Alloc {
                size,
                align_shift,
                zeroed,
            } => {
                let align = 1usize << align_shift;
                if self.live_bytes + size > LIVE_BYTES_CAP {
                    return;
                }
                let p = if zeroed {
                    heap::alloc_zeroed(size, align)
                } else {
                    heap::alloc(size, align)
                };
                assert!(
                    !p.is_null(),
                    "alloc{}({size}, {align}) failed",
                    if zeroed { "_zeroed" } else { "" }
                );
                if zeroed {
                    // SAFETY: a fresh block of at least `size` bytes.
                    let s = unsafe { std::slice::from_raw_parts(p, size) };
                    if let Err(at) = all_equal(s, 0) {
                        panic!(
                            "alloc_zeroed({size}, {align}) = {p:p}: byte {at} is {:#04x}",
                            s[at]
                        );
                    }
                }
                self.insert(p, size, align, None);
            }
            Op::Free { pick } => {
                let Some(addr) = self.pick(pick) else { return };
                let b = self.live.remove(&addr).unwrap();
                self.live_bytes -= b.size;
                // SAFETY: a live block of `b.size` bytes.
                unsafe {
                    verify(addr as *const u8, b.id, b.size, b.size, "before free");
                    heap::free(addr as *mut u8);
                }
            }
            Op::Realloc { pick, to } => {
                let Some(addr) = self.pick(pick) else { return };
                let b = self.live[&addr];
                let new_size = match to {
                    Resize::To(n) => n,
                    Resize::Scale(k) => (b.size * k as usize / 64).min(MAX_SIZE),
                };
                if self.live_bytes - b.size + new_size > LIVE_BYTES_CAP {
                    return;
                }
                // SAFETY: a live block of `b.size` bytes.
                unsafe { verify(addr as *const u8, b.id, b.size, b.size, "before realloc") };
                // SAFETY: `addr` is live and was allocated with `b.align`.
                let q = unsafe { heap::realloc(addr as *mut u8, b.align, new_size) };
                assert!(
                    !q.is_null(),
                    "realloc({addr:#x}, {}, {new_size}) failed",
                    b.align
                );
                self.live.remove(&addr);
                self.live_bytes -= b.size;
                let keep = b.size.min(new_size);
                // SAFETY: `q` is a live block of at least `new_size >= keep` bytes.
                unsafe { verify(q, b.id, b.size, keep, "after realloc") };
                let in_place = (q as usize == addr).then_some(b);
                self.insert(q, new_size, b.align, in_place);
            }
            Op::Check { pick } => {
                let Some(addr) = self.pick(pick) else { return };
                let b = self.live[&addr];
                // SAFETY: a live block of `b.size` bytes.
                unsafe { verify(addr as *const u8, b.id, b.size, b.size, "check") };
                self.check_lookups(addr, &b);
            }
            Op::Release => {
                heap::release_memory();
                for (&addr, b) in &self.live {
                    // SAFETY: a live block of `b.size` bytes.
                    unsafe {
                        verify(
                            addr as *const u8,
                            b.id,
                            b.size,
                            b.size,
                            "after release_memory",
                        )
                    };
                }
            }
        }
        self.check_stats();
    }

    /// Record a fresh block (from alloc or realloc), check it, fill it.
    /// `in_place` is the old block when `realloc` kept it where it was: it
    /// keeps its class (within the in-place window), so the routing check
    /// becomes "same span, same usable size".
    fn insert(&mut self, p: *mut u8, size: usize, align: usize, in_place: Option<Block>) {
        let addr = p as usize;
        assert_eq!(
            addr % align,
            0,
            "block {addr:#x} of {size} B not aligned to {align}"
        );
        assert_eq!(
            addr % heap::MIN_ALIGN,
            0,
            "block {addr:#x} not aligned to MIN_ALIGN"
        );
        // SAFETY: `p` is a live block.
        let usable = unsafe { heap::usable_size(p) };
        assert!(usable >= size, "usable_size {usable} < requested {size}");
        let span = arena::span_of(addr)
            .unwrap_or_else(|| panic!("span_of({addr:#x}) of a live block is None"));
        // SAFETY: the span of a live block is a valid record while the block lives.
        let s = unsafe { span.as_ref() };
        // Checking mode (`--features secure`) asks for 16 more bytes per
        // block for its trailer and reports the requested size as usable.
        let overhead = s.elem_size - usable;
        assert!(
            overhead == 0 || overhead >= 16,
            "elem_size {} vs usable_size {usable}",
            s.elem_size
        );
        // What the allocator was asked for: the size plus checking mode's
        // 16-byte trailer.
        let trailer = if overhead == 0 { 0 } else { 16 };
        let class = match in_place {
            Some(old) if s.kind == SpanKind::Small => {
                assert_eq!(
                    usable, old.usable,
                    "realloc in place changed a small block's usable_size"
                );
                assert!(
                    usable / 2 <= size,
                    "realloc kept {size} B in place in a block of {usable} B"
                );
                old.class
            }
            Some(_) => {
                // A large object resized over its neighbouring pages.
                assert_eq!(s.start, addr, "a large object starts its span");
                let pages = (size + trailer).div_ceil(PAGE_SIZE);
                assert_eq!(
                    usable + overhead,
                    pages * PAGE_SIZE,
                    "large realloc in place to {size} B"
                );
                0
            }
            None => match class_for_layout(size + trailer, align) {
                Some(c) => {
                    assert_eq!(
                        s.kind,
                        SpanKind::Small,
                        "{size} B / {align} has class {c} but got a large span"
                    );
                    assert_eq!(s.class as usize, c, "{size} B / {align}: wrong class");
                    assert_eq!(
                        usable + overhead,
                        CLASS_SIZE[c] as usize,
                        "{size} B / {align}: not the class size"
                    );
                    c
                }
                None => {
                    assert_eq!(
                        s.kind,
                        SpanKind::Large,
                        "{size} B / {align} has no class but got a small span"
                    );
                    assert_eq!(s.start, addr, "a large object starts its span");
                    let pages = (size + trailer).max(1).div_ceil(PAGE_SIZE);
                    assert_eq!(
                        usable + overhead,
                        pages * PAGE_SIZE,
                        "{size} B: large block is not page-rounded"
                    );
                    0
                }
            },
        };
        // The whole block, trailer included, must be disjoint from the others.
        let end = addr + usable + overhead;
        if let Some((&prev, pb)) = self.live.range(..=addr).next_back() {
            assert!(
                prev + pb.elem <= addr,
                "block {addr:#x}+{usable} overlaps live block {prev:#x}+{}",
                pb.elem
            );
        }
        if let Some((&next, _)) = self.live.range(addr..).next() {
            assert!(
                end <= next,
                "block {addr:#x}+{usable} overlaps live block {next:#x}"
            );
        }
        let id = self.next_id;
        self.next_id += 1;
        let b = Block {
            size,
            align,
            id,
            usable,
            elem: usable + overhead,
            class,
        };
        self.check_lookups(addr, &b);
        // SAFETY: `p` is a live block of `usable >= size` bytes.
        unsafe { fill(p, id, size) };
        self.live.insert(addr, b);
        self.live_bytes += size;
    }

    /// `span_of` / `object_base` of interior pointers give back the block.
    fn check_lookups(&self, addr: usize, b: &Block) {
        let offsets = [
            0,
            b.size / 2,
            b.size.saturating_sub(1),
            b.usable.saturating_sub(1),
        ];
        for off in offsets {
            let a = addr + off;
            assert!(
                arena::contains(a),
                "contains({a:#x}) is false inside a live block"
            );
            let span = arena::span_of(a)
                .unwrap_or_else(|| panic!("span_of({a:#x}) is None inside a live block"));
            // SAFETY: as in `insert`.
            let s = unsafe { span.as_ref() };
            assert!(
                s.start <= addr && addr + b.usable <= s.end(),
                "span of {a:#x} does not hold the block"
            );
            assert_eq!(
                span::object_base(a),
                Some(addr),
                "object_base({addr:#x} + {off}) in block of {} B",
                b.size
            );
        }
    }

    /// The exact statistics checks of the module docs.
    fn check_stats(&self) {
        if !self.exact_stats {
            return;
        }
        let s = heap::stats();
        let base = &self.base;
        let mut per_class = [0usize; NUM_SIZE_CLASSES];
        let (mut large, mut large_bytes, mut elems) = (0, 0, 0);
        for b in self.live.values() {
            elems += b.elem;
            if b.class == 0 {
                large += 1;
                large_bytes += b.elem;
            } else {
                per_class[b.class] += 1;
            }
        }
        let ctx = format!("after {} ops, {} live blocks", self.ops, self.live.len());
        assert_eq!(
            s.allocated,
            base.allocated + elems,
            "stats().allocated, {ctx}"
        );
        assert_eq!(
            s.large_objects,
            base.large_objects + large,
            "stats().large_objects, {ctx}"
        );
        assert_eq!(
            s.large_bytes,
            base.large_bytes + large_bytes,
            "stats().large_bytes, {ctx}"
        );
        assert!(
            s.in_use >= s.allocated,
            "in_use {} < allocated {}, {ctx}",
            s.in_use,
            s.allocated
        );
        let mut class_in_use = 0;
        for c in 1..NUM_SIZE_CLASSES {
            let cs = &s.classes[c];
            assert_eq!(
                cs.objects,
                base.classes[c].objects + per_class[c],
                "class {c} objects, {ctx}"
            );
            assert_eq!(
                cs.allocated_bytes,
                cs.objects * cs.object_size,
                "class {c} allocated bytes, {ctx}"
            );
            assert_eq!(
                cs.in_use_bytes,
                cs.spans * CLASS_PAGES[c] as usize * PAGE_SIZE,
                "class {c} span bytes, {ctx}"
            );
            assert!(
                cs.allocated_bytes <= cs.in_use_bytes,
                "class {c}: more objects than its spans hold, {ctx}"
            );
            class_in_use += cs.in_use_bytes;
        }
        assert_eq!(
            class_in_use + s.large_bytes,
            s.in_use,
            "class span bytes + large bytes == in_use, {ctx}"
        );
        assert_eq!(
            s.committed,
            s.in_use + s.free_backed + s.released,
            "committed == in use + free pages, {ctx}"
        );
        assert!(
            s.released_total >= base.released_total,
            "released_total went down, {ctx}"
        );
    }

    /// Free every live block (verifying it) and check the heap is back to
    /// the snapshot: `allocated`, per-class objects and large objects equal.
    pub fn finish(mut self) {
        let live = std::mem::take(&mut self.live);
        for (addr, b) in live {
            // SAFETY: a live block of `b.size` bytes.
            unsafe {
                verify(addr as *const u8, b.id, b.size, b.size, "finish");
                heap::free(addr as *mut u8);
            }
        }
        self.live_bytes = 0;
        self.check_stats();
        if self.exact_stats {
            let s = heap::stats();
            assert_eq!(
                s.allocated, self.base.allocated,
                "allocated did not come back after freeing everything"
            );
        }
    }
}
