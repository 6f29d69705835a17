//! The page allocator: which pages of the heap reservation are free, and
//! which free pages have been returned to the OS.
//!
//! This is the bottom of the allocation hierarchy (DESIGN.md §2): the page
//! heap asks it for runs of pages to back spans and large objects, gives runs
//! back when spans die, and the scavenger asks it which free pages to
//! `madvise` away. The design is the Go runtime's (`runtime/mpagealloc.go`,
//! `mpallocbits.go`, `mgcscavenge.go`), rewritten for one contiguous
//! reservation whose pages are numbered `0..max_pages` from its base.
//!
//! # Glossary
//!
//! - **page**: 8 KiB (`crate::PAGE_SIZE`), named by its index from the base
//!   of the reservation.
//! - **chunk**: 512 consecutive pages = 4 MiB (`crate::CHUNK_PAGES`, Go's
//!   `pallocChunkPages`). The unit of growth and of the bitmaps.
//! - **grown**: a chunk the heap has made usable with [`PageAlloc::grow`].
//!   Pages of chunks that were never grown count as in use, as in Go, so the
//!   search never hands them out.
//! - **free bitmap** (`ChunkBits::free`): one bit per page, 1 = free. The
//!   bitmap is the truth; everything else is derived from it. (Go stores the
//!   complement, 1 = in use; storing "free" makes the zero-filled region mean
//!   "nothing is free", so `new` needs to write nothing.)
//! - **scavenged bitmap** (`ChunkBits::scav`): 1 = the page's memory was
//!   returned to the OS and not touched since. Only free pages are scavenged.
//! - **dirty page**: free and not scavenged, i.e. a candidate for the
//!   scavenger.
//! - **summary** (`Summary`): for a range of pages, `start` = free pages at
//!   its left edge, `end` = free pages at its right edge, `max` = longest free
//!   run inside it, plus `dirty` = the number of dirty pages in it (Go keeps
//!   the dirty information in a separate `scavengeIndex`; here it rides along
//!   in the summary's spare word).
//! - **summary tree**: a radix tree with fan-out 8 (Go's
//!   `summaryLevelBits = 3`). Level `depth` (the leaves) has one summary per
//!   chunk; each level above has one summary per 8 of the level below; level
//!   0 is a single root covering the whole reservation. Like Go, the tree has
//!   no pointers: level `l` is an array, and the children of node `i` are
//!   nodes `8i .. 8i+8` of level `l + 1`.
//!
//! # Memory
//!
//! The structure owns no memory. The caller hands [`PageAlloc::new`] one
//! zero-filled region of [`PageAlloc::required_bytes`] bytes (an anonymous
//! `MAP_NORESERVE` mapping) laid out as
//!
//! ```text
//! [ChunkBits; max_chunks] | level 0 | level 1 | ... | level depth | grown bitmap
//!    128 B per chunk        16 B per summary (levels 64-byte aligned)   1 bit per chunk
//! ```
//!
//! Zero is a valid state (nothing grown, nothing free), so `new` writes
//! nothing, and only the bitmaps and leaf summaries of grown chunks (plus the
//! small upper levels) are ever written: untouched parts of the mapping
//! cost no RAM.
//!
//! # Algorithms
//!
//! **Allocation** (`alloc`, address-ordered first fit, Go's `pageAlloc.find`):
//!
//! 1. If the root's `max` is below `npages`, fail at once.
//! 2. Walk the root's 8 children left to right, carrying `carry`, the length
//!    of the free run that ends exactly at the current child's left edge.
//! 3. For each child: if `carry + child.start >= npages`, the run that began
//!    `carry` pages before the child fits: answer `child_base - carry`.
//! 4. Otherwise, if the child is entirely free, `carry += child width` and go
//!    on (the run may still grow across later children).
//! 5. Otherwise, if `child.max >= npages`, the first fit lies inside the
//!    child: descend into it (steps 2–5 one level down, carrying `carry`).
//! 6. Otherwise `carry = child.end` and go on to the next child.
//! 7. At a leaf, walk the chunk's free runs in its bitmap the same way (the
//!    first run continues `carry` if it starts at bit 0).
//! 8. Clear the run's free and scavenged bits chunk by chunk (counting the
//!    scavenged ones for the caller), then recompute the summaries of the
//!    touched chunks and, level by level, of their ancestors.
//!
//! Step 3 before step 5 is what makes the answer the *lowest* fit: a run
//! that started in an earlier child begins before anything inside this one,
//! and a run inside a child starts no later than that child's end run, so a
//! child with `max >= npages` always holds the first fit once step 3 has
//! failed. Runs may span any number of children and chunks: the carry just
//! keeps growing through fully free children (step 4), so a run of thousands
//! of pages is found without visiting the chunks in its middle.
//!
//! **Why first fit is O(log heap).** Each level visits at most 8 children
//! and descends into at most one (for unaligned requests the descent of
//! step 5 always succeeds), so a search reads at most `8 × depth + 1`
//! summaries and scans one 512-bit bitmap: `depth = ceil(log8(max_chunks))`, at most 6 for
//! a 1 TiB heap. Without the summaries, first fit would be a scan of the
//! bitmap of the whole heap.
//!
//! **Aligned allocation** (`alloc_aligned`) uses the same walk, but a
//! candidate run fits only if `align_up(run_start) + npages <= run_end`, so
//! a child with `max >= npages` may turn out to hold no aligned fit; the walk
//! then backtracks (the descent reports the carry out of the child, which is
//! the child's `end`) and continues. Backtracking is bounded by
//! [`ALIGNED_SEARCH_BUDGET`] descents; past that it falls back to Go's
//! approach for aligned spans (`mheap.allocSpan`): first fit of
//! `npages + align - 1` pages, aligned up inside the run. The trimmed head
//! and tail are simply never marked, so nothing leaks.
//!
//! **Free** sets the free bits of the run (its scavenged bits are already
//! clear) and recomputes the summaries on the paths up from its chunks. Runs
//! coalesce for free: neighbouring free bits *are* the coalesced run.
//!
//! **Grow** marks every page of the new chunks free *and scavenged*: they
//! were never touched, so they are not resident, and counting them as dirty
//! would make the scavenger `madvise` memory that costs nothing. (Go makes
//! the same choice in `pageAlloc.grow`: "Newly-grown memory is always
//! considered scavenged.") An allocation reports how many of
//! its pages were scavenged, so the caller knows what it must re-commit or
//! count as newly resident.
//!
//! **Scavenge** walks the tree right to left (highest addresses first, as
//! Go's scavenger does to keep the low heap dense), skipping every subtree
//! whose `dirty` count is 0. In each chunk reached it takes the dirty runs
//! from the top down, sets their scavenged bits and reports maximal runs
//! (merged across chunk boundaries) to the caller's `release`. Cost:
//! O(depth × chunks touched); O(1) when nothing is dirty.
//!
//! Neighbours: the page heap (DESIGN.md §2) calls this under its lock,
//! grows it an arena at a time and maps the pages it hands out to spans; `os.rs` does the `madvise` the scavenger
//! asks for.

use crate::CHUNK_PAGES;

/// Bits per bitmap word.
const WORD_BITS: usize = u64::BITS as usize;
/// Words per chunk bitmap: 512 / 64 = 8 (Go's `pallocChunkPages / 64`).
const CHUNK_WORDS: usize = CHUNK_PAGES / WORD_BITS;
/// log2 of the summary tree's fan-out: Go's `summaryLevelBits = 3`, chosen
/// there so that the 8 summaries scanned per level share a cache line or two.
const FANOUT_SHIFT: usize = 3;
/// Children per summary node.
const FANOUT: usize = 1 << FANOUT_SHIFT;
/// Largest supported reservation in chunks: 2^21 chunks × 4 MiB = 8 TiB, 8×
/// the 1 TiB the heap reserves (DESIGN.md §2). Larger requests are clamped.
pub const MAX_CHUNKS: usize = 1 << 21;
/// Summary levels needed for [`MAX_CHUNKS`]: a root plus 7 levels of fan-out 8.
const MAX_LEVELS: usize = 8;
/// Descents a single aligned search may make before it falls back to
/// "first fit of `npages + align - 1`". Chosen, not measured: a descent
/// costs at most 8 summary reads or one 512-bit bitmap scan, so an aligned
/// search in an adversarially fragmented heap is capped at about 256 such
/// steps, while a search that does not backtrack descends at most 6 times in
/// a 1 TiB heap. 256 also exceeds the node count of a 64-chunk (256 MiB)
/// tree (1 + 8 + 64), so heaps that small always get the exact answer (the
/// model test relies on this).
pub const ALIGNED_SEARCH_BUDGET: usize = 256;
/// Alignment of each section of the caller's region: one cache line.
const SECTION_ALIGN: usize = 64;
/// Alignment the caller's region must have (and to which `required_bytes`
/// rounds): the smallest page size of the platforms we run on.
pub const REGION_ALIGN: usize = 4096;

const _: () = assert!(CHUNK_PAGES.is_multiple_of(WORD_BITS));
const _: () = assert!(CHUNK_PAGES == 512, "Go's pallocChunkPages");
// The tree must be deep enough for MAX_CHUNKS leaves.
const _: () = assert!(1usize << (FANOUT_SHIFT * (MAX_LEVELS - 1)) >= MAX_CHUNKS);
// Every summary field counts pages under the root; the root spans at most
// 8^(MAX_LEVELS-1) chunks, which must fit the u32 fields.
const _: () = assert!((CHUNK_PAGES << (FANOUT_SHIFT * (MAX_LEVELS - 1))) <= u32::MAX as usize);
const _: () = assert!(core::mem::size_of::<ChunkBits>() == 128);
const _: () = assert!(core::mem::size_of::<Summary>() == 16);
const _: () = assert!(REGION_ALIGN.is_multiple_of(SECTION_ALIGN));
const _: () = assert!(SECTION_ALIGN.is_multiple_of(core::mem::align_of::<ChunkBits>()));

/// Free-run summary of a range of pages (a chunk at the leaves, 8^k chunks
/// higher up). All zero means "nothing free", which is the state of the
/// zero-filled region.
///
/// Invariants, with `W` the number of pages the node covers (nodes that
/// extend past `max_chunks` treat the missing pages as in use):
/// - `start <= max`, `end <= max`, `max <= W`, `dirty <= W`;
/// - `start == W` ⇔ `max == W` ⇔ `end == W` (the node is entirely free);
/// - at a leaf, the fields are computed from the chunk's bitmaps;
///   above, the node equals `combine` of its 8 children.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct Summary {
    /// Free pages from the left edge.
    start: u32,
    /// Longest free run.
    max: u32,
    /// Free pages up to the right edge.
    end: u32,
    /// Dirty (free, not scavenged) pages anywhere in the node.
    dirty: u32,
}

impl Summary {
    const ZERO: Summary = Summary {
        start: 0,
        max: 0,
        end: 0,
        dirty: 0,
    };
}

/// The two bitmaps of one chunk: bit `j % 64` of word `j / 64` is page `j`
/// of the chunk.
///
/// Invariants: `scav & !free == 0` (only free pages are scavenged); a chunk
/// that was never grown has both bitmaps zero.
#[repr(C)]
struct ChunkBits {
    /// 1 = free.
    free: Bits,
    /// 1 = scavenged (returned to the OS, not touched since).
    scav: Bits,
}

/// A chunk's worth of bits.
type Bits = [u64; CHUNK_WORDS];

/// Where each section lives in the caller's region (byte offsets).
#[derive(Clone, Copy)]
struct RegionLayout {
    /// Effective chunk count (clamped to `1..=MAX_CHUNKS`).
    max_chunks: usize,
    /// Index of the leaf level; the root is level 0.
    depth: usize,
    level_len: [usize; MAX_LEVELS],
    level_off: [usize; MAX_LEVELS],
    grown_off: usize,
    total: usize,
}

const fn round_up(x: usize, a: usize) -> usize {
    x.div_ceil(a) * a
}

impl RegionLayout {
    const fn new(max_chunks: usize) -> RegionLayout {
        let max_chunks = if max_chunks == 0 {
            1
        } else if max_chunks > MAX_CHUNKS {
            MAX_CHUNKS
        } else {
            max_chunks
        };
        let mut depth = 0;
        while (1usize << (FANOUT_SHIFT * depth)) < max_chunks {
            depth += 1;
        }
        // The chunk bitmaps come first, at offset 0.
        let mut off = round_up(
            max_chunks * core::mem::size_of::<ChunkBits>(),
            SECTION_ALIGN,
        );
        let mut level_len = [0; MAX_LEVELS];
        let mut level_off = [0; MAX_LEVELS];
        let mut l = 0;
        while l <= depth {
            let chunks_per_node = 1usize << (FANOUT_SHIFT * (depth - l));
            level_len[l] = max_chunks.div_ceil(chunks_per_node);
            level_off[l] = off;
            off = round_up(
                off + level_len[l] * core::mem::size_of::<Summary>(),
                SECTION_ALIGN,
            );
            l += 1;
        }
        let grown_off = off;
        off += max_chunks.div_ceil(WORD_BITS) * core::mem::size_of::<u64>();
        RegionLayout {
            max_chunks,
            depth,
            level_len,
            level_off,
            grown_off,
            total: round_up(off, REGION_ALIGN),
        }
    }
}

/// Outcome of searching one subtree.
enum Probe {
    /// The lowest fit starts at this page.
    Found(usize),
    /// No fit ends inside the subtree; `carry` free pages run up to its
    /// right edge (the carry for whatever follows it).
    NotFound { carry: usize },
    /// The aligned search ran out of descents.
    Exhausted,
}

/// Scavenger walk state.
struct ScavWalk<F: FnMut(usize, usize)> {
    /// Pages the caller still allows us to mark.
    remaining: usize,
    /// Pages marked so far.
    marked: usize,
    /// The run being accumulated, `(first_page, npages)`; it grows downward
    /// because runs are found from the top.
    pending: Option<(usize, usize)>,
    release: F,
}

impl<F: FnMut(usize, usize)> ScavWalk<F> {
    /// Records that pages `first .. first + n` were marked scavenged; reports
    /// the pending run to `release` once the new run is not adjacent below it.
    fn emit(&mut self, first: usize, n: usize) {
        match self.pending {
            Some((p, len)) if first + n == p => self.pending = Some((first, len + n)),
            Some((p, len)) => {
                (self.release)(p, len);
                self.pending = Some((first, n));
            }
            None => self.pending = Some((first, n)),
        }
    }
}

/// The page allocator. See the module documentation.
///
/// Protection: not thread-safe; every method takes `&mut self` (or `&self`
/// for reads) and the page heap keeps it behind its lock.
///
/// Invariants:
/// - `chunks`, `levels[l]` (for `l <= depth`) and `grown` point into the
///   caller's region at the offsets of `RegionLayout::new(max_chunks)`, and
///   are valid for `max_chunks`, `level_len[l]` and
///   `ceil(max_chunks / 64)` elements (contract of [`PageAlloc::new`]).
/// - `free_pages` = Σ popcount(free) and `scavenged_pages` = Σ popcount(scav)
///   over all chunks, so `root.dirty == free_pages - scavenged_pages`.
/// - `grown_chunks` = popcount(grown bitmap); a chunk's grown bit is set iff
///   `grow` has covered it.
pub struct PageAlloc {
    chunks: *mut ChunkBits,
    levels: [*mut Summary; MAX_LEVELS],
    level_len: [usize; MAX_LEVELS],
    /// Index of the leaf level (one summary per chunk); 0 when
    /// `max_chunks == 1`, where the root is the leaf.
    depth: usize,
    /// One bit per chunk, 1 = grown.
    grown: *mut u64,
    max_chunks: usize,
    free_pages: usize,
    scavenged_pages: usize,
    grown_chunks: usize,
}

// SAFETY: a `PageAlloc` is the sole user of its region (contract of `new`)
// and has no thread-affine state, so moving it to another thread moves
// exclusive access along with it. It is not `Sync`: mutation needs `&mut`.
unsafe impl Send for PageAlloc {}

/// Bits of word `w` that lie in the bit range `lo .. hi` of a chunk.
#[inline]
fn word_mask(w: usize, lo: usize, hi: usize) -> u64 {
    let base = w * WORD_BITS;
    let a = lo.max(base) - base;
    let b = hi.min(base + WORD_BITS) - base;
    debug_assert!(a < b && b <= WORD_BITS);
    if b - a == WORD_BITS {
        !0
    } else {
        ((1u64 << (b - a)) - 1) << a
    }
}

/// Index of the first set bit at or after `from`, or `CHUNK_PAGES`.
#[inline]
fn next_set(b: &Bits, from: usize) -> usize {
    let mut i = from;
    while i < CHUNK_PAGES {
        let w = i / WORD_BITS;
        let x = b[w] >> (i % WORD_BITS);
        if x != 0 {
            return i + x.trailing_zeros() as usize;
        }
        i = (w + 1) * WORD_BITS;
    }
    CHUNK_PAGES
}

/// Index of the first clear bit at or after `from`, or `CHUNK_PAGES`.
#[inline]
fn next_clear(b: &Bits, from: usize) -> usize {
    let mut i = from;
    while i < CHUNK_PAGES {
        let w = i / WORD_BITS;
        let x = !b[w] >> (i % WORD_BITS);
        if x != 0 {
            return i + x.trailing_zeros() as usize;
        }
        i = (w + 1) * WORD_BITS;
    }
    CHUNK_PAGES
}

/// Index of the highest set bit strictly below `before`.
#[inline]
fn prev_set(b: &Bits, before: usize) -> Option<usize> {
    let mut i = before;
    while i > 0 {
        let w = (i - 1) / WORD_BITS;
        let top = (i - 1) % WORD_BITS;
        let x = b[w] << (WORD_BITS - 1 - top);
        if x != 0 {
            return Some(i - 1 - x.leading_zeros() as usize);
        }
        i = w * WORD_BITS;
    }
    None
}

/// Index of the highest clear bit strictly below `before`.
#[inline]
fn prev_clear(b: &Bits, before: usize) -> Option<usize> {
    let mut i = before;
    while i > 0 {
        let w = (i - 1) / WORD_BITS;
        let top = (i - 1) % WORD_BITS;
        let x = !b[w] << (WORD_BITS - 1 - top);
        if x != 0 {
            return Some(i - 1 - x.leading_zeros() as usize);
        }
        i = w * WORD_BITS;
    }
    None
}

/// Longest run of set bits in `x`.
#[inline]
fn longest_run(mut x: u64) -> u32 {
    let mut best = 0;
    while x != 0 {
        x >>= x.trailing_zeros();
        let ones = x.trailing_ones();
        best = best.max(ones);
        x = x.checked_shr(ones).unwrap_or(0);
    }
    best
}

/// `(start, max, end)` of a chunk's free bitmap (Go's `pallocBits.summarize`).
fn summarize_bits(free: &Bits) -> (u32, u32, u32) {
    let start = next_clear(free, 0);
    if start == CHUNK_PAGES {
        let all = CHUNK_PAGES as u32;
        return (all, all, all);
    }
    let end = prev_clear(free, CHUNK_PAGES).map_or(0, |z| CHUNK_PAGES - 1 - z);
    let mut max = 0u32;
    let mut cur = 0u32; // free run reaching the current word's low edge
    for &w in free {
        if w == !0 {
            cur += WORD_BITS as u32;
            continue;
        }
        max = max.max(cur + w.trailing_ones()).max(longest_run(w));
        cur = w.leading_ones();
    }
    max = max.max(cur);
    (start as u32, max, end as u32)
}

/// Lowest `q >= run_start`, a multiple of `align`, with `q + n <= run_end`.
#[inline]
fn fit_in(run_start: usize, run_end: usize, n: usize, align: usize) -> Option<usize> {
    let q = run_start.checked_add(align - 1)? & !(align - 1);
    (q.checked_add(n)? <= run_end).then_some(q)
}

impl PageAlloc {
    /// Bytes of zeroed memory [`PageAlloc::new`] needs for `max_chunks`
    /// chunks, a multiple of [`REGION_ALIGN`]. `max_chunks` is clamped to
    /// `1..=MAX_CHUNKS`, exactly as `new` clamps it.
    pub const fn required_bytes(max_chunks: usize) -> usize {
        RegionLayout::new(max_chunks).total
    }

    /// A page allocator for pages `0 .. max_chunks * CHUNK_PAGES`, none of
    /// them grown yet. Writes nothing to `mem`. `max_chunks` is clamped to
    /// `1..=MAX_CHUNKS`.
    ///
    /// # Safety
    ///
    /// `mem` is valid for reads and writes of `required_bytes(max_chunks)`
    /// bytes, zero-filled, aligned to [`REGION_ALIGN`] (4096), and used by
    /// nothing else for the life of the returned `PageAlloc`.
    pub unsafe fn new(mem: *mut u8, max_chunks: usize) -> PageAlloc {
        debug_assert!(!mem.is_null() && (mem as usize).is_multiple_of(REGION_ALIGN));
        debug_assert!(max_chunks <= MAX_CHUNKS, "max_chunks beyond MAX_CHUNKS");
        let lay = RegionLayout::new(max_chunks);
        let mut levels = [core::ptr::null_mut(); MAX_LEVELS];
        let mut l = 0;
        while l <= lay.depth {
            // SAFETY: `level_off[l] + level_len[l] * 16 <= total`, and the
            // caller guarantees `mem` is valid for `total` bytes.
            levels[l] = unsafe { mem.add(lay.level_off[l]) }.cast::<Summary>();
            l += 1;
        }
        PageAlloc {
            chunks: mem.cast::<ChunkBits>(),
            levels,
            level_len: lay.level_len,
            depth: lay.depth,
            // SAFETY: `grown_off` plus the grown bitmap lies within `total`
            // bytes, for which the caller guarantees `mem` is valid.
            grown: unsafe { mem.add(lay.grown_off) }.cast::<u64>(),
            max_chunks: lay.max_chunks,
            free_pages: 0,
            scavenged_pages: 0,
            grown_chunks: 0,
        }
    }

    /// Chunks this allocator covers (after clamping).
    pub fn max_chunks(&self) -> usize {
        self.max_chunks
    }

    /// Chunks made available by `grow` so far.
    pub fn grown_chunks(&self) -> usize {
        self.grown_chunks
    }

    /// Free (available) pages.
    pub fn free_pages(&self) -> usize {
        self.free_pages
    }

    /// Free pages that are scavenged (not resident).
    pub fn scavenged_pages(&self) -> usize {
        self.scavenged_pages
    }

    // ---- raw access -------------------------------------------------------

    /// Pages covered by one node of level `l`.
    #[inline]
    fn width(&self, l: usize) -> usize {
        CHUNK_PAGES << (FANOUT_SHIFT * (self.depth - l))
    }

    /// Summary `i` of level `l`; nodes past the end of the level (the ragged
    /// right edge of a tree whose leaf count is not a power of 8) read as
    /// all-in-use.
    #[inline]
    fn summary(&self, l: usize, i: usize) -> Summary {
        debug_assert!(l <= self.depth);
        if i >= self.level_len[l] {
            return Summary::ZERO;
        }
        // SAFETY: `levels[l]` is valid for `level_len[l]` summaries (struct
        // invariant, from `new`'s contract) and `i < level_len[l]`.
        unsafe { self.levels[l].add(i).read() }
    }

    #[inline]
    fn set_summary(&mut self, l: usize, i: usize, s: Summary) {
        debug_assert!(l <= self.depth && i < self.level_len[l]);
        if i >= self.level_len[l] {
            return;
        }
        // SAFETY: as in `summary`; `&mut self` means no other reference
        // into the region exists.
        unsafe { self.levels[l].add(i).write(s) }
    }

    /// The bitmaps of chunk `c`. Callers pass `c < max_chunks`: chunk
    /// indices come from validated page ranges or from leaves with a
    /// nonzero summary, and leaves past `max_chunks` read as zero.
    #[inline]
    fn chunk(&self, c: usize) -> &ChunkBits {
        debug_assert!(c < self.max_chunks);
        // SAFETY: `chunks` is valid for `max_chunks` elements (struct
        // invariant) and `c < max_chunks` (callers, see above).
        unsafe { &*self.chunks.add(c) }
    }

    #[inline]
    fn chunk_mut(&mut self, c: usize) -> &mut ChunkBits {
        debug_assert!(c < self.max_chunks);
        // SAFETY: as in `chunk`; `&mut self` makes this the only reference.
        unsafe { &mut *self.chunks.add(c) }
    }

    #[inline]
    fn is_grown(&self, c: usize) -> bool {
        debug_assert!(c < self.max_chunks);
        // SAFETY: `grown` is valid for `ceil(max_chunks / 64)` words (struct
        // invariant) and `c < max_chunks`.
        let w = unsafe { self.grown.add(c / WORD_BITS).read() };
        w >> (c % WORD_BITS) & 1 != 0
    }

    #[inline]
    fn set_grown(&mut self, c: usize) {
        debug_assert!(c < self.max_chunks);
        // SAFETY: as in `is_grown`; `&mut self` makes this the only access.
        unsafe { *self.grown.add(c / WORD_BITS) |= 1 << (c % WORD_BITS) }
    }

    // ---- summaries ----------------------------------------------------------

    /// Summary of chunk `c`, computed from its bitmaps.
    fn leaf_summary(&self, c: usize) -> Summary {
        let ch = self.chunk(c);
        let (start, max, end) = summarize_bits(&ch.free);
        let dirty = ch
            .free
            .iter()
            .zip(&ch.scav)
            .map(|(f, s)| (f & !s).count_ones())
            .sum();
        Summary {
            start,
            max,
            end,
            dirty,
        }
    }

    /// Summary of node `i` of level `l < depth`, combined from its children
    /// (Go's `mergeSummaries`).
    fn combine(&self, l: usize, i: usize) -> Summary {
        let wc = self.width(l + 1) as u32;
        let mut start = 0u32;
        let mut start_open = true; // every child so far was entirely free
        let mut max = 0u32;
        let mut run = 0u32; // free run ending at the current child's left edge
        let mut dirty = 0u32;
        for k in 0..FANOUT {
            let s = self.summary(l + 1, i * FANOUT + k);
            dirty += s.dirty;
            if start_open {
                start += s.start;
                start_open = s.start == wc;
            }
            max = max.max(s.max).max(run + s.start);
            run = if s.start == wc { run + wc } else { s.end };
        }
        Summary {
            start,
            max: max.max(run),
            end: run,
            dirty,
        }
    }

    /// Recomputes the leaves of chunks `c0 ..= c1` from their bitmaps and
    /// then every ancestor, level by level. O(c1 - c0 + depth).
    fn update(&mut self, c0: usize, c1: usize) {
        for c in c0..=c1 {
            let s = self.leaf_summary(c);
            self.set_summary(self.depth, c, s);
        }
        let (mut lo, mut hi) = (c0, c1);
        for l in (0..self.depth).rev() {
            lo >>= FANOUT_SHIFT;
            hi >>= FANOUT_SHIFT;
            for i in lo..=hi {
                let s = self.combine(l, i);
                self.set_summary(l, i, s);
            }
        }
    }

    // ---- grow ---------------------------------------------------------------

    /// Makes every page of chunks `first_chunk .. first_chunk + nchunks` free
    /// and available. The new pages count as **scavenged**: they were never
    /// touched, so they are not resident and the scavenger must not spend
    /// `madvise` calls on them; the first allocation of each reports it in
    /// its scavenged count. Chunks already grown are left unchanged (a
    /// caller bug: debug builds assert), and a range reaching past
    /// `max_chunks` is ignored (likewise asserted).
    pub fn grow(&mut self, first_chunk: usize, nchunks: usize) {
        if nchunks == 0 {
            return;
        }
        let end = match first_chunk.checked_add(nchunks) {
            Some(e) if e <= self.max_chunks => e,
            _ => {
                debug_assert!(false, "grow: chunk range past max_chunks");
                return;
            }
        };
        for c in first_chunk..end {
            if self.is_grown(c) {
                debug_assert!(false, "grow: chunk {c} already grown");
                continue;
            }
            self.set_grown(c);
            let ch = self.chunk_mut(c);
            ch.free = [!0; CHUNK_WORDS];
            ch.scav = [!0; CHUNK_WORDS];
            self.grown_chunks += 1;
            self.free_pages += CHUNK_PAGES;
            self.scavenged_pages += CHUNK_PAGES;
        }
        self.update(first_chunk, end - 1);
    }

    // ---- search -------------------------------------------------------------

    /// Searches node `i` of level `l` for the lowest `align`-aligned run of
    /// `n` free pages, where `carry` free pages end at the node's left edge.
    fn probe(
        &self,
        l: usize,
        i: usize,
        carry: usize,
        n: usize,
        align: usize,
        budget: &mut usize,
    ) -> Probe {
        if l == self.depth {
            return self.probe_chunk(i, carry, n, align);
        }
        let wc = self.width(l + 1);
        let mut carry = carry;
        for k in 0..FANOUT {
            let ci = i * FANOUT + k;
            let s = self.summary(l + 1, ci);
            let base = ci * wc;
            let (start, max, end) = (s.start as usize, s.max as usize, s.end as usize);
            // Step 3: the run entering this child from the left.
            if carry + start >= n {
                if let Some(q) = fit_in(base - carry, base + start, n, align) {
                    return Probe::Found(q);
                }
            }
            // Step 4: an entirely free child only lengthens the run.
            if start == wc {
                carry += wc;
                continue;
            }
            // Step 5: a fit may lie inside the child.
            if max >= n {
                if *budget == 0 {
                    return Probe::Exhausted;
                }
                *budget -= 1;
                match self.probe(l + 1, ci, carry, n, align, budget) {
                    Probe::NotFound { carry: c } => {
                        // Only aligned searches can come back empty-handed.
                        debug_assert!(align > 1 && c == end);
                    }
                    found_or_exhausted => return found_or_exhausted,
                }
            }
            // Step 6.
            carry = end;
        }
        Probe::NotFound { carry }
    }

    /// Step 7: the search inside chunk `c`'s bitmap.
    fn probe_chunk(&self, c: usize, carry: usize, n: usize, align: usize) -> Probe {
        if c >= self.max_chunks {
            return Probe::NotFound { carry: 0 };
        }
        let free = &self.chunk(c).free;
        let base = c * CHUNK_PAGES;
        let mut i = 0;
        loop {
            let a = next_set(free, i);
            if a == CHUNK_PAGES {
                return Probe::NotFound { carry: 0 };
            }
            let b = next_clear(free, a);
            let run_start = if a == 0 { base - carry } else { base + a };
            let run_end = base + b;
            if run_end - run_start >= n {
                if let Some(q) = fit_in(run_start, run_end, n, align) {
                    return Probe::Found(q);
                }
            }
            if b == CHUNK_PAGES {
                return Probe::NotFound {
                    carry: run_end - run_start,
                };
            }
            i = b;
        }
    }

    /// Lowest `align`-aligned run of `n` free pages, making at most `budget`
    /// descents that may fail; `Err(())` if the budget ran out first.
    fn find(&self, n: usize, align: usize, mut budget: usize) -> Result<Option<usize>, ()> {
        if n == 0 || (self.summary(0, 0).max as usize) < n {
            return Ok(None);
        }
        match self.probe(0, 0, 0, n, align, &mut budget) {
            Probe::Found(q) => Ok(Some(q)),
            Probe::NotFound { .. } => {
                debug_assert!(align > 1, "root max promised an unaligned fit");
                Ok(None)
            }
            Probe::Exhausted => Err(()),
        }
    }

    // ---- alloc / free -------------------------------------------------------

    /// Step 8: marks pages `p .. p + n` (all free) allocated and not
    /// scavenged; returns how many of them were scavenged.
    fn mark_alloc(&mut self, p: usize, n: usize) -> usize {
        let end = p + n;
        let (c0, c1) = (p / CHUNK_PAGES, (end - 1) / CHUNK_PAGES);
        let mut scav = 0;
        for c in c0..=c1 {
            let lo = p.max(c * CHUNK_PAGES) - c * CHUNK_PAGES;
            let hi = end.min((c + 1) * CHUNK_PAGES) - c * CHUNK_PAGES;
            let ch = self.chunk_mut(c);
            for w in lo / WORD_BITS..=(hi - 1) / WORD_BITS {
                let m = word_mask(w, lo, hi);
                debug_assert_eq!(ch.free[w] & m, m, "alloc: page not free");
                scav += (ch.scav[w] & m).count_ones() as usize;
                ch.free[w] &= !m;
                ch.scav[w] &= !m;
            }
        }
        self.free_pages -= n;
        self.scavenged_pages -= scav;
        self.update(c0, c1);
        scav
    }

    /// Address-ordered first fit: allocates the lowest run of `npages` free
    /// pages. Returns `(first page, how many of its pages were scavenged)`;
    /// the pages are now allocated and not scavenged. `None` if no run is
    /// long enough (or `npages == 0`).
    pub fn alloc(&mut self, npages: usize) -> Option<(usize, usize)> {
        let p = self.find(npages, 1, usize::MAX).ok().flatten()?;
        Some((p, self.mark_alloc(p, npages)))
    }

    /// Like [`alloc`](Self::alloc), but the first page is a multiple of
    /// `align_pages` (a power of two; anything else returns `None`).
    ///
    /// Returns the lowest aligned fit, unless finding it takes more than
    /// [`ALIGNED_SEARCH_BUDGET`] failed descents (a heap full of runs just
    /// too short once aligned); then it returns the aligned position inside
    /// the first run of `npages + align_pages - 1` pages, and `None` if no
    /// such run exists. Only the aligned run is marked: the trimmed head and
    /// tail stay free.
    pub fn alloc_aligned(&mut self, npages: usize, align_pages: usize) -> Option<(usize, usize)> {
        self.alloc_aligned_with_budget(npages, align_pages, ALIGNED_SEARCH_BUDGET)
    }

    /// Allocates exactly pages `first .. first + npages` if they are all
    /// free (and grown); returns how many of them were scavenged, or `None`
    /// (changing nothing) if any is not free. This is how a large object
    /// grows in place: `realloc` asks for the pages right after its span.
    /// Cost: O(npages / 64) bitmap words plus the summary updates.
    pub fn alloc_at(&mut self, first: usize, npages: usize) -> Option<usize> {
        let end = first.checked_add(npages)?;
        if npages == 0 || end > self.max_chunks * CHUNK_PAGES {
            return None;
        }
        let (c0, c1) = (first / CHUNK_PAGES, (end - 1) / CHUNK_PAGES);
        for c in c0..=c1 {
            if !self.is_grown(c) {
                return None;
            }
            let lo = first.max(c * CHUNK_PAGES) - c * CHUNK_PAGES;
            let hi = end.min((c + 1) * CHUNK_PAGES) - c * CHUNK_PAGES;
            let ch = self.chunk(c);
            for w in lo / WORD_BITS..=(hi - 1) / WORD_BITS {
                let m = word_mask(w, lo, hi);
                if ch.free[w] & m != m {
                    return None;
                }
            }
        }
        Some(self.mark_alloc(first, npages))
    }

    /// [`alloc_aligned`](Self::alloc_aligned) with an explicit search budget
    /// (failed descents before the first-fit-of-`npages + align - 1`
    /// fallback). The page heap uses a small one: it wants a fast aligned
    /// run, not the lowest one.
    pub fn alloc_aligned_with_budget(
        &mut self,
        npages: usize,
        align: usize,
        budget: usize,
    ) -> Option<(usize, usize)> {
        if !align.is_power_of_two() {
            debug_assert!(false, "alloc_aligned: alignment {align} not a power of two");
            return None;
        }
        let p = match self.find(npages, align, budget) {
            Ok(found) => found?,
            Err(()) => {
                let q = self
                    .find(npages.checked_add(align - 1)?, 1, usize::MAX)
                    .ok()??;
                fit_in(q, q + npages + align - 1, npages, align)?
            }
        };
        Some((p, self.mark_alloc(p, npages)))
    }

    /// Frees pages `first_page .. first_page + npages`, which must be
    /// allocated (all or part of a run returned by `alloc`). The pages become
    /// free and not scavenged (they were in use, so they are resident) and
    /// coalesce with free neighbours. A range outside the grown chunks is
    /// ignored; freeing a free page leaves it as it is. Both are caller bugs
    /// that debug builds assert.
    pub fn free(&mut self, first_page: usize, npages: usize) {
        if npages == 0 {
            return;
        }
        let end = match first_page.checked_add(npages) {
            Some(e) if e <= self.max_chunks * CHUNK_PAGES => e,
            _ => {
                debug_assert!(false, "free: range past the reservation");
                return;
            }
        };
        let (c0, c1) = (first_page / CHUNK_PAGES, (end - 1) / CHUNK_PAGES);
        if !(c0..=c1).all(|c| self.is_grown(c)) {
            debug_assert!(false, "free: range includes chunks never grown");
            return;
        }
        let mut freed = 0;
        for c in c0..=c1 {
            let lo = first_page.max(c * CHUNK_PAGES) - c * CHUNK_PAGES;
            let hi = end.min((c + 1) * CHUNK_PAGES) - c * CHUNK_PAGES;
            let ch = self.chunk_mut(c);
            for w in lo / WORD_BITS..=(hi - 1) / WORD_BITS {
                let m = word_mask(w, lo, hi);
                let newly = m & !ch.free[w];
                debug_assert_eq!(newly, m, "free: page already free");
                debug_assert_eq!(ch.scav[w] & newly, 0);
                ch.free[w] |= newly;
                freed += newly.count_ones() as usize;
            }
        }
        self.free_pages += freed;
        self.update(c0, c1);
    }

    // ---- scavenge -----------------------------------------------------------

    /// Marks up to `max_pages` dirty (free, not scavenged) pages scavenged,
    /// highest addresses first, and calls `release(first_page, npages)` once
    /// per maximal run of pages marked, highest run first, so the caller can
    /// `madvise` it. Returns the number of pages marked.
    ///
    /// Cost: O(1) when no page is dirty; otherwise O(depth) per chunk that
    /// holds dirty pages it takes (subtrees without dirty pages are skipped
    /// via the summaries' `dirty` counts), never a scan of the heap.
    pub fn scavenge(&mut self, max_pages: usize, release: impl FnMut(usize, usize)) -> usize {
        if max_pages == 0 || self.summary(0, 0).dirty == 0 {
            return 0;
        }
        let mut walk = ScavWalk {
            remaining: max_pages,
            marked: 0,
            pending: None,
            release,
        };
        self.scavenge_node(0, 0, &mut walk);
        if let Some((p, n)) = walk.pending {
            (walk.release)(p, n);
        }
        self.scavenged_pages += walk.marked;
        walk.marked
    }

    fn scavenge_node<F: FnMut(usize, usize)>(
        &mut self,
        l: usize,
        i: usize,
        walk: &mut ScavWalk<F>,
    ) {
        if l == self.depth {
            self.scavenge_chunk(i, walk);
        } else {
            for k in (0..FANOUT).rev() {
                if walk.remaining == 0 {
                    break;
                }
                let ci = i * FANOUT + k;
                if self.summary(l + 1, ci).dirty != 0 {
                    self.scavenge_node(l + 1, ci, walk);
                }
            }
        }
        // Only `dirty` changed, but recomputing the whole node is as cheap.
        let s = if l == self.depth {
            self.leaf_summary(i)
        } else {
            self.combine(l, i)
        };
        self.set_summary(l, i, s);
    }

    fn scavenge_chunk<F: FnMut(usize, usize)>(&mut self, c: usize, walk: &mut ScavWalk<F>) {
        let base = c * CHUNK_PAGES;
        let ch = self.chunk_mut(c);
        let mut dirty = [0u64; CHUNK_WORDS];
        for (d, (f, s)) in dirty.iter_mut().zip(ch.free.iter().zip(&ch.scav)) {
            *d = f & !s;
        }
        let mut below = CHUNK_PAGES;
        while walk.remaining > 0 {
            let Some(top) = prev_set(&dirty, below) else {
                break;
            };
            let end = top + 1;
            let start = prev_clear(&dirty, top).map_or(0, |z| z + 1);
            let take = (end - start).min(walk.remaining);
            let first = end - take;
            for w in first / WORD_BITS..=(end - 1) / WORD_BITS {
                ch.scav[w] |= word_mask(w, first, end);
            }
            walk.remaining -= take;
            walk.marked += take;
            walk.emit(base + first, take);
            below = first;
        }
    }

    // ---- checking -----------------------------------------------------------

    /// Full consistency check, O(max_chunks): bitmaps against the grown set,
    /// every summary against its bitmap or children, counters against the
    /// bitmaps. Panics on any violation. For tests and
    /// `debug_assertions`-gated callers only.
    pub fn check(&self) {
        let mut free = 0usize;
        let mut scav = 0usize;
        let mut grown = 0usize;
        for c in 0..self.max_chunks {
            let ch = self.chunk(c);
            if self.is_grown(c) {
                grown += 1;
            } else {
                assert!(
                    ch.free.iter().chain(&ch.scav).all(|&w| w == 0),
                    "chunk {c} not grown but has bits set"
                );
            }
            for (w, (&f, &s)) in ch.free.iter().zip(&ch.scav).enumerate() {
                assert_eq!(s & !f, 0, "chunk {c} word {w}: scavenged page not free");
                free += f.count_ones() as usize;
                scav += s.count_ones() as usize;
            }
            assert_eq!(
                self.summary(self.depth, c),
                self.leaf_summary(c),
                "leaf summary of chunk {c}"
            );
        }
        for l in 0..=self.depth {
            let w = self.width(l) as u32;
            for i in 0..self.level_len[l] {
                let s = self.summary(l, i);
                if l < self.depth {
                    assert_eq!(s, self.combine(l, i), "summary {i} of level {l}");
                }
                assert!(s.start <= s.max && s.end <= s.max && s.max <= w && s.dirty <= w);
                let full = s.max == w;
                assert!((s.start == w) == full && (s.end == w) == full);
            }
        }
        assert_eq!(free, self.free_pages, "free_pages counter");
        assert_eq!(scav, self.scavenged_pages, "scavenged_pages counter");
        assert_eq!(grown, self.grown_chunks, "grown_chunks counter");
        let root = self.summary(0, 0);
        assert_eq!(root.dirty as usize, free - scav, "root dirty count");
    }

    /// `(free, scavenged)` state of one page, for tests.
    #[cfg(test)]
    fn page_state(&self, page: usize) -> (bool, bool) {
        let ch = self.chunk(page / CHUNK_PAGES);
        let (w, b) = ((page % CHUNK_PAGES) / WORD_BITS, page % WORD_BITS);
        (ch.free[w] >> b & 1 != 0, ch.scav[w] >> b & 1 != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::alloc::{alloc_zeroed, dealloc, Layout};

    /// A zeroed, 4096-aligned backing region from the global allocator
    /// (fine in tests), plus the allocator living in it.
    struct Harness {
        pa: PageAlloc,
        mem: *mut u8,
        layout: Layout,
    }

    impl Harness {
        fn new(max_chunks: usize) -> Harness {
            let bytes = PageAlloc::required_bytes(max_chunks);
            let layout = Layout::from_size_align(bytes, REGION_ALIGN).unwrap();
            // SAFETY: `layout` has nonzero size (required_bytes >= 4096).
            let mem = unsafe { alloc_zeroed(layout) };
            assert!(!mem.is_null());
            // SAFETY: `mem` is a fresh zeroed allocation of `bytes` bytes,
            // 4096-aligned, used only by this PageAlloc until `drop`.
            let pa = unsafe { PageAlloc::new(mem, max_chunks) };
            Harness { pa, mem, layout }
        }
    }

    impl Drop for Harness {
        fn drop(&mut self) {
            // SAFETY: allocated in `Harness::new` with this layout; `pa`
            // holds no references and is not used after this.
            unsafe { dealloc(self.mem, self.layout) }
        }
    }

    const C: usize = CHUNK_PAGES;

    #[test]
    fn layout_sizes() {
        // 2^18 chunks (1 TiB): 32 MiB of bitmaps, 7 summary levels.
        let lay = RegionLayout::new(1 << 18);
        assert_eq!(lay.depth, 6);
        assert_eq!(lay.level_len[0], 1);
        assert_eq!(lay.level_len[6], 1 << 18);
        assert_eq!(PageAlloc::required_bytes(1 << 18), 38_383_616);
        assert_eq!(RegionLayout::new(1).depth, 0);
        assert_eq!(RegionLayout::new(9).level_len[..3], [1, 2, 9]);
        assert_eq!(PageAlloc::required_bytes(0), PageAlloc::required_bytes(1));
        // Sections do not overlap and fit.
        for n in [1, 2, 8, 9, 64, 65, 1000, 1 << 18, MAX_CHUNKS] {
            let lay = RegionLayout::new(n);
            let mut prev_end = lay.max_chunks * 128;
            for l in 0..=lay.depth {
                assert!(lay.level_off[l] >= prev_end);
                prev_end = lay.level_off[l] + lay.level_len[l] * 16;
            }
            assert!(lay.grown_off >= prev_end);
            assert!(lay.grown_off + lay.max_chunks.div_ceil(64) * 8 <= lay.total);
        }
    }

    #[test]
    fn ungrown_is_unavailable() {
        let mut h = Harness::new(4);
        assert_eq!(h.pa.alloc(1), None);
        assert_eq!(h.pa.scavenge(100, |_, _| panic!("nothing to release")), 0);
        h.pa.check();
    }

    #[test]
    fn crossing_chunk_boundaries() {
        let mut h = Harness::new(4);
        h.pa.grow(0, 2);
        assert_eq!(h.pa.alloc(500), Some((0, 500)));
        // 12 pages left in chunk 0: a 20-page run crosses into chunk 1.
        assert_eq!(h.pa.alloc(20), Some((500, 20)));
        assert_eq!(h.pa.alloc(12), Some((520, 12)));
        h.pa.free(500, 20);
        // Coalesced with nothing below (0..500 used); the hole is 20 pages.
        assert_eq!(h.pa.alloc(21), Some((532, 21)));
        h.pa.check();
        assert_eq!(h.pa.alloc(20), Some((500, 0)));
        h.pa.check();
    }

    #[test]
    fn whole_and_multi_chunk_runs() {
        let mut h = Harness::new(20);
        h.pa.grow(0, 20);
        assert_eq!(h.pa.alloc(C), Some((0, C)));
        assert_eq!(h.pa.alloc(1), Some((C, 1)));
        // 3 chunks + 7 pages must start past the 1-page allocation.
        assert_eq!(h.pa.alloc(3 * C + 7), Some((C + 1, 3 * C + 7)));
        h.pa.check();
        h.pa.free(0, C);
        h.pa.free(C, 1);
        // Now 0 .. C + 1 is free and dirty: a whole-chunk-plus run fits at 0.
        assert_eq!(h.pa.alloc(C + 1), Some((0, 0)));
        // A run spanning 15 whole chunks is found without visiting them.
        let start = 4 * C + 8;
        assert_eq!(h.pa.alloc(15 * C), Some((start, 15 * C)));
        assert_eq!(h.pa.free_pages(), 20 * C - start - 15 * C);
        h.pa.check();
    }

    #[test]
    fn exhaustion_returns_none() {
        let mut h = Harness::new(2);
        h.pa.grow(0, 1);
        assert_eq!(h.pa.alloc(C + 1), None);
        assert_eq!(h.pa.alloc(C), Some((0, C)));
        assert_eq!(h.pa.alloc(1), None);
        assert_eq!(h.pa.alloc(0), None);
        assert_eq!(h.pa.alloc(usize::MAX), None);
        assert_eq!(h.pa.alloc_aligned(1, 1), None);
        h.pa.check();
    }

    #[test]
    fn alignment() {
        let mut h = Harness::new(8);
        h.pa.grow(0, 8);
        assert_eq!(h.pa.alloc(1), Some((0, 1)));
        assert_eq!(h.pa.alloc_aligned(8, 64), Some((64, 8)));
        // 1..64 stays free: an unaligned request still lands there.
        assert_eq!(h.pa.alloc(63), Some((1, 63)));
        // Chunk-aligned and multi-chunk-aligned requests.
        assert_eq!(h.pa.alloc_aligned(10, C), Some((C, 10)));
        assert_eq!(h.pa.alloc_aligned(C, 2 * C), Some((2 * C, C)));
        // A run that crosses a chunk boundary at an aligned address.
        assert_eq!(h.pa.alloc_aligned(C, 256), Some((3 * C, C)));
        h.pa.check();
    }

    #[test]
    fn aligned_exact_hole() {
        // The only free pages are 64 .. 72: an aligned fit exists although
        // no run of npages + align - 1 does.
        let mut h = Harness::new(1);
        h.pa.grow(0, 1);
        assert_eq!(h.pa.alloc(C), Some((0, C)));
        h.pa.free(64, 8);
        assert_eq!(h.pa.alloc_aligned(8, 128), None);
        assert_eq!(h.pa.alloc_aligned(16, 64), None);
        assert_eq!(h.pa.alloc_aligned(8, 64), Some((64, 0)));
        assert_eq!(h.pa.free_pages(), 0);
        h.pa.check();
    }

    #[test]
    fn aligned_fallback_when_budget_exhausted() {
        let mut h = Harness::new(9);
        h.pa.grow(0, 9);
        // Leave 4-page holes at 1 mod 8 in every chunk: no 4-aligned fit of 4.
        let mut p = 0;
        while p < 8 * C {
            h.pa.alloc(1).unwrap();
            let _ = h.pa.alloc(4).unwrap();
            h.pa.alloc(3).unwrap();
            p += 8;
        }
        for q in (1..8 * C).step_by(8) {
            h.pa.free(q, 4);
        }
        h.pa.check();
        // Exact search: the first aligned 4-run is in chunk 8.
        assert_eq!(
            h.pa.alloc_aligned_with_budget(4, 4, usize::MAX)
                .map(|r| r.0),
            Some(8 * C)
        );
        h.pa.free(8 * C, 4);
        // With no budget: first fit of 4 + 3 = 7 pages, aligned up.
        assert_eq!(
            h.pa.alloc_aligned_with_budget(4, 4, 0).map(|r| r.0),
            Some(8 * C)
        );
        // Use up chunk 8: no 7-page run is left, so the fallback fails
        // cleanly, and so does the exact search.
        h.pa.alloc(C - 4).unwrap();
        assert_eq!(h.pa.alloc_aligned_with_budget(4, 4, 0), None);
        assert_eq!(h.pa.alloc_aligned_with_budget(4, 4, usize::MAX), None);
        h.pa.check();
    }

    #[test]
    fn non_adjacent_grow() {
        let mut h = Harness::new(16);
        h.pa.grow(1, 1);
        h.pa.grow(5, 2);
        h.pa.grow(12, 1);
        assert_eq!(h.pa.free_pages(), 4 * C);
        assert_eq!(h.pa.alloc(C + 1), Some((5 * C, C + 1)));
        assert_eq!(h.pa.alloc(C), Some((C, C)));
        assert_eq!(h.pa.alloc(C), Some((12 * C, C)));
        assert_eq!(h.pa.alloc(C), None);
        assert_eq!(h.pa.alloc(C - 1), Some((6 * C + 1, C - 1)));
        // Growing the gap joins neighbouring free space into one run.
        h.pa.free(6 * C + 1, C - 1);
        h.pa.grow(7, 5);
        assert_eq!(h.pa.alloc(6 * C - 1), Some((6 * C + 1, 5 * C)));
        h.pa.check();
    }

    #[test]
    fn alloc_at_takes_exactly_the_free_pages_asked_for() {
        let mut h = Harness::new(4);
        h.pa.grow(0, 2);
        let (a, _) = h.pa.alloc(10).unwrap();
        assert_eq!(a, 0);
        // Pages 10..20 are free: growing in place works, across nothing.
        assert!(h.pa.alloc_at(10, 10).is_some());
        // Now taken: a second attempt fails and changes nothing.
        let before = h.pa.free_pages();
        assert!(h.pa.alloc_at(15, 2).is_none());
        assert_eq!(h.pa.free_pages(), before);
        // A run crossing into the second chunk.
        assert!(h.pa.alloc_at(500, 30).is_some());
        // Partly free range: refused.
        assert!(h.pa.alloc_at(495, 10).is_none());
        // Ungrown chunk: refused.
        assert!(h.pa.alloc_at(2 * CHUNK_PAGES, 1).is_none());
        h.pa.check();
        assert_eq!(h.pa.free_pages(), 2 * CHUNK_PAGES - 50);
    }

    #[test]
    fn scavenged_accounting() {
        let mut h = Harness::new(4);
        h.pa.grow(0, 2);
        assert_eq!(h.pa.scavenged_pages(), 2 * C);
        // Fresh pages are scavenged: nothing for the scavenger to do.
        assert_eq!(h.pa.scavenge(usize::MAX, |_, _| panic!()), 0);
        assert_eq!(h.pa.alloc(C + 10), Some((0, C + 10)));
        assert_eq!(h.pa.scavenged_pages(), C - 10);
        h.pa.free(5, C); // 5 .. C + 5 dirty, crossing the chunk boundary
        assert_eq!(h.pa.scavenged_pages(), C - 10);
        assert_eq!(h.pa.free_pages(), 2 * C - 10);
        h.pa.check();
        // Partly scavenged run: 5..C+5 dirty, C+10.. scavenged; C+5..C+10 used.
        let mut got = Vec::new();
        assert_eq!(h.pa.scavenge(100, |p, n| got.push((p, n))), 100);
        assert_eq!(got, vec![(C + 5 - 100, 100)]);
        h.pa.check();
        got.clear();
        assert_eq!(h.pa.scavenge(usize::MAX, |p, n| got.push((p, n))), C - 100);
        assert_eq!(got, vec![(5, C - 100)]);
        assert_eq!(h.pa.scavenged_pages(), h.pa.free_pages());
        // An allocation over a mix reports only the scavenged part.
        h.pa.free(C + 5, 5);
        assert_eq!(h.pa.alloc(C + 5), Some((5, C)));
        assert_eq!(h.pa.scavenged_pages(), C - 10);
        h.pa.check();
    }

    #[test]
    fn scavenge_merges_runs_across_chunks_and_skips_clean_ones() {
        let mut h = Harness::new(64);
        h.pa.grow(0, 64);
        let all = 64 * C;
        assert_eq!(h.pa.alloc(all), Some((0, all)));
        h.pa.free(3 * C - 7, 2 * C + 14); // dirty 3C-7 .. 5C+7
        h.pa.free(40 * C, 3); // dirty 40C .. 40C+3
        let mut got = Vec::new();
        assert_eq!(
            h.pa.scavenge(usize::MAX, |p, n| got.push((p, n))),
            2 * C + 17
        );
        assert_eq!(got, vec![(40 * C, 3), (3 * C - 7, 2 * C + 14)]);
        h.pa.check();
    }

    /// The reference model: one bool per page.
    struct Model {
        free: Vec<bool>,
        scav: Vec<bool>,
        grown: Vec<bool>,
    }

    impl Model {
        fn fit(&self, n: usize, align: usize) -> Option<usize> {
            // run[i] = free pages starting at i.
            let mut run = vec![0usize; self.free.len() + 1];
            for i in (0..self.free.len()).rev() {
                run[i] = if self.free[i] { run[i + 1] + 1 } else { 0 };
            }
            (0..self.free.len()).step_by(align).find(|&q| run[q] >= n)
        }

        fn alloc(&mut self, q: usize, n: usize) -> usize {
            let mut scav = 0;
            for p in q..q + n {
                assert!(self.free[p]);
                scav += self.scav[p] as usize;
                self.free[p] = false;
                self.scav[p] = false;
            }
            scav
        }

        fn scavenge(&mut self, max: usize) -> Vec<(usize, usize)> {
            let mut runs: Vec<(usize, usize)> = Vec::new();
            let mut left = max;
            for p in (0..self.free.len()).rev() {
                if left == 0 {
                    break;
                }
                if self.free[p] && !self.scav[p] {
                    self.scav[p] = true;
                    left -= 1;
                    match runs.last_mut() {
                        Some((s, n)) if *s == p + 1 => {
                            *s = p;
                            *n += 1;
                        }
                        _ => runs.push((p, 1)),
                    }
                }
            }
            runs
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Grow(usize, usize),
        Alloc(usize),
        AllocAligned(usize, u32),
        Free(usize, bool),
        Scavenge(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let npages = prop_oneof![
            6 => 1usize..=16,
            3 => 1usize..=600,
            1 => 1usize..=3000,
        ];
        prop_oneof![
            1 => (0usize..64, 1usize..8).prop_map(|(c, n)| Op::Grow(c, n)),
            5 => npages.clone().prop_map(Op::Alloc),
            2 => (npages, 0u32..11).prop_map(|(n, a)| Op::AllocAligned(n, a)),
            4 => (any::<usize>(), any::<bool>()).prop_map(|(i, h)| Op::Free(i, h)),
            1 => prop_oneof![0usize..40, 0usize..2000].prop_map(Op::Scavenge),
        ]
    }

    fn run_ops(max_chunks: usize, ops: Vec<Op>) {
        let mut h = Harness::new(max_chunks);
        let pages = max_chunks * C;
        let mut m = Model {
            free: vec![false; pages],
            scav: vec![false; pages],
            grown: vec![false; max_chunks],
        };
        let mut live: Vec<(usize, usize)> = Vec::new();
        for op in ops {
            match op {
                Op::Grow(c, n) => {
                    let c = c % max_chunks;
                    let end = (c + n).min(max_chunks);
                    // Grow each maximal not-yet-grown subrange.
                    let mut i = c;
                    while i < end {
                        if m.grown[i] {
                            i += 1;
                            continue;
                        }
                        let j = (i..end).find(|&j| m.grown[j]).unwrap_or(end);
                        h.pa.grow(i, j - i);
                        for k in i..j {
                            m.grown[k] = true;
                            for p in k * C..(k + 1) * C {
                                m.free[p] = true;
                                m.scav[p] = true;
                            }
                        }
                        i = j;
                    }
                }
                Op::Alloc(n) => {
                    let want = m.fit(n, 1).map(|q| (q, m.alloc(q, n)));
                    assert_eq!(h.pa.alloc(n), want, "alloc({n})");
                    if let Some((q, _)) = want {
                        live.push((q, n));
                    }
                }
                Op::AllocAligned(n, a) => {
                    let align = 1 << a;
                    let want = m.fit(n, align).map(|q| (q, m.alloc(q, n)));
                    assert_eq!(
                        h.pa.alloc_aligned(n, align),
                        want,
                        "alloc_aligned({n}, {align})"
                    );
                    if let Some((q, _)) = want {
                        live.push((q, n));
                    }
                }
                Op::Free(i, half) => {
                    if live.is_empty() {
                        continue;
                    }
                    let k = i % live.len();
                    let (q, n) = live[k];
                    let (fq, fnn) = if half && n >= 2 {
                        live[k] = (q, n / 2);
                        (q + n / 2, n - n / 2)
                    } else {
                        live.swap_remove(k);
                        (q, n)
                    };
                    h.pa.free(fq, fnn);
                    for p in fq..fq + fnn {
                        assert!(!m.free[p]);
                        m.free[p] = true;
                    }
                }
                Op::Scavenge(max) => {
                    let want = m.scavenge(max);
                    let mut got = Vec::new();
                    let marked = h.pa.scavenge(max, |p, n| got.push((p, n)));
                    assert_eq!(got, want, "scavenge({max})");
                    assert_eq!(marked, want.iter().map(|r| r.1).sum::<usize>());
                }
            }
            h.pa.check();
            assert_eq!(h.pa.free_pages(), m.free.iter().filter(|&&f| f).count());
            assert_eq!(
                h.pa.scavenged_pages(),
                m.scav.iter().filter(|&&s| s).count()
            );
            for p in 0..pages {
                assert_eq!(h.pa.page_state(p), (m.free[p], m.scav[p]), "page {p}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn matches_model(
            max_chunks in prop_oneof![Just(1usize), Just(3), Just(9), Just(64)],
            ops in proptest::collection::vec(op(), 1..80),
        ) {
            run_ops(max_chunks, ops);
        }
    }
}
