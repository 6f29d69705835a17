//! Size classes: the fixed menu of object sizes that small allocations are
//! rounded up to, and the span length each size is carved from.
//!
//! Every request of at most [`MAX_SMALL_SIZE`] bytes is served from a *span*
//! (a run of pages, see `pages.rs` and `span.rs`) that holds objects of one
//! size only. This module decides which sizes exist, how many pages a span of
//! each size spans, and how to go from a request size to its class and from a
//! byte offset inside a span to an object index, all without a division.
//! Everything here is computed at compile time by `const fn`s from a handful
//! of parameters; no table is typed by hand and nothing runs at start-up.
//!
//! The algorithm is the one in the Go runtime's `src/runtime/mksizeclasses.go`
//! (which generates Go's `sizeclasses.go`); with the same parameters it
//! produces the same 68 classes (class 0 included) as Go's current
//! `sizeclasses.go`.
//!
//! # Glossary
//!
//! - **class** (size class): an index `1..NUM_SIZE_CLASSES`. Class 0 is not a
//!   small class; it stands for "large object, its own span" (see DESIGN.md
//!   §2). Tables carry a zero entry for it.
//! - **object size** `CLASS_SIZE[c]`: the size every request in class `c` is
//!   rounded up to. Strictly increasing in `c`.
//! - **span length** `CLASS_PAGES[c]`: pages (of [`crate::PAGE_SIZE`] bytes)
//!   in a span of class `c`; the **span bytes** are `CLASS_PAGES[c] *
//!   PAGE_SIZE`.
//! - **objects per span** `CLASS_OBJECTS[c] = span_bytes / CLASS_SIZE[c]`.
//!   Object `i` lives at `span_base + i * CLASS_SIZE[c]`; the span base is
//!   page-aligned and nothing more.
//! - **tail waste**: `span_bytes - CLASS_OBJECTS[c] * CLASS_SIZE[c]`, the
//!   bytes at the end of a span that no object uses.
//! - **rounding waste**: for a request of `r` bytes, `CLASS_SIZE[c] - r`.
//!   Worst for the smallest request in the class, `CLASS_SIZE[c - 1] + 1`.
//! - **candidate**: a size the generator considers on its way up; several
//!   candidates may end up as one class.
//! - **div magic** `CLASS_DIV_MAGIC[c]`: `u32::MAX / CLASS_SIZE[c] + 1`, so
//!   that `(offset * magic) >> 32 == offset / CLASS_SIZE[c]` for every
//!   offset in the span (see [`object_index`]).
//!
//! # The algorithm
//!
//! 1. Walk candidate sizes upward from 8 bytes to [`MAX_SMALL_SIZE`] in steps
//!    of the current alignment, which starts at 8.
//! 2. Whenever the candidate is a power of two, bump the alignment used for
//!    the *following* steps: 16 from 32 bytes (Go's heap bitmaps want 16-byte
//!    alignment for objects of 32 bytes and more), `size / 8` from 128 bytes
//!    (so consecutive candidates are at most 12.5% apart), and 256 from 2048
//!    bytes (where `size / 8` reaches 256; capping it keeps large classes
//!    dense).
//! 3. Give the candidate the smallest span length, in whole pages, whose tail
//!    waste is at most 1/8 of the span bytes (`span % size <= span / 8`).
//! 4. If the previous class has the same span length and the same number of
//!    objects per span, the candidate replaces that class's size instead of
//!    starting a new class: the larger size costs no memory, so keeping both
//!    would only add a class.
//! 5. After the walk, grow each class to the largest multiple of 128 bytes
//!    that still fits the same number of objects in the same span (Go's
//!    example: 8448 bytes, 6 objects in 7 pages, becomes 9472 bytes). 128
//!    keeps every class above 1024 bytes a multiple of the lookup granule.
//! 6. Derive the tables: objects per span, the div magic, and the two lookup
//!    tables from request size to class ([`SIZE_TO_CLASS_8`] for sizes up to
//!    1024 in 8-byte steps, [`SIZE_TO_CLASS_128`] above it in 128-byte
//!    steps), each entry the smallest class whose size is at least the
//!    granule's top. Compile-time asserts at the bottom of the tables check
//!    the invariants the lookups rely on.
//! 7. Scale each span by the smallest whole factor that makes it at least
//!    [`MIN_SPAN_PAGES`] (64 KiB): not Go's, see that constant for why the
//!    malloc front end wants longer spans. Objects per span and the div magic
//!    are derived from the scaled length.
//!
//! # What the algorithm guarantees (checked by the tests)
//!
//! - Tail waste is at most `span_bytes / 8` (step 3; step 5 only shrinks it).
//! - For every class whose predecessor is at least 128 bytes, the worst-case
//!   waste is *under 2/9* (22.2%), both rounding waste alone
//!   (`(size - prev - 1) / size`) and rounding plus tail together
//!   (`((size - prev - 1) * objects + tail) / span_bytes`, Go's "max waste").
//!   Proof: let the class's first candidate be `s1` and the candidate before
//!   it `s0 <= prev`. From 128 bytes on the step is at most `s0 / 8`, so
//!   `s0 >= 8/9 * s1`; all merged candidates share the span and object count
//!   `n`, and step 3 for `s1` gives `n * s1 >= 7/8 * span`. Hence the useful
//!   bytes `n * (prev + 1) > 7/9 * span`, and since `n * size <= span`, also
//!   `prev + 1 > 7/9 * size`.
//! - It does *not* guarantee rounding waste under 12.5%: merging (step 4) and
//!   growing (step 5) both widen a class. Go's own table has 3456 -> 4096
//!   (15.6%) and 8192 -> 9472 (13.5%).
//! - Below 128 bytes the steps are the alignment (8, then 16), so small
//!   classes waste relatively more (16 for a 9-byte request: 43.75%).
//!
//! # Division by multiplication
//!
//! Mapping an interior pointer to its object (`span.rs`: `object_base`, used
//! by `free`, the marker and conservative scanning) needs `offset / size`.
//! With `m = ceil(2^32 / d)` and `e = m * d - 2^32` (`0 <= e < d`), writing
//! `n = q * d + r` gives `n * m = q * 2^32 + (q * e + r * m)`, so
//! `(n * m) >> 32 == q` exactly when `n * e < (d - r) * 2^32`. Over a range
//! `0..=limit` the worst cases are `n = limit` and the last `n` with
//! `r = d - 1`; [`magic_is_exact`] checks those two, and a compile-time
//! assert requires every class to pass for every offset up to and including
//! its span bytes, so a 32-bit shift suffices for all classes (as Go's
//! generator also verifies; background: Lemire, Kaser, Kurz, "Faster
//! Remainder by Direct Computation", arXiv:1902.01961). Should a future
//! parameter change break this, the build fails rather than dividing wrong.
//!
//! # Neighbours
//!
//! `cache.rs` calls [`size_class_of`] on the allocation fast path and picks a
//! span of `CLASS_PAGES[c]` pages from `central.rs` (one central list per span
//! class, `size_class << 1 | noscan`); `span.rs` uses [`object_index`];
//! `GlobalAlloc` front ends with over-aligned layouts use
//! [`class_for_layout`].

use crate::{PAGE_SHIFT, PAGE_SIZE};

/// Largest request served from a size class; anything bigger is a large
/// object with its own span. 32 KiB as in Go (`_MaxSmallSize`).
pub const MAX_SMALL_SIZE: usize = 32 << 10;

/// Smallest object size and alignment of every class (a machine word; Go's
/// first class).
const MIN_ALIGN: usize = 8;

/// Candidate sizes from here on step by 16 (Go: "heap bitmaps assume 16 byte
/// alignment for allocations >= 32 bytes").
const ALIGN_16_FROM: usize = 32;
/// Candidate sizes from here on step by `size / 8` (Go's rule, for a rounding
/// step of at most 12.5%).
const ALIGN_EIGHTH_FROM: usize = 128;
/// Candidate sizes from here on step by [`ALIGN_CAP`] (Go's rule).
const ALIGN_CAP_FROM: usize = 2048;
/// The alignment step above [`ALIGN_CAP_FROM`].
const ALIGN_CAP: usize = 256;

/// Requests up to this size use [`SIZE_TO_CLASS_8`] (Go's `smallSizeMax`).
const SMALL_SIZE_MAX: usize = 1024;
/// Granule of [`SIZE_TO_CLASS_8`] (Go's `smallSizeDiv`).
const SMALL_SIZE_DIV: usize = 8;
const SMALL_SIZE_DIV_SHIFT: u32 = 3;
/// Granule of [`SIZE_TO_CLASS_128`] (Go's `largeSizeDiv`); step 5 keeps
/// grown classes multiples of it.
const LARGE_SIZE_DIV: usize = 128;
const LARGE_SIZE_DIV_SHIFT: u32 = 7;

/// Tail waste bound of step 3: at most `span_bytes / TAIL_WASTE_DIV`.
const TAIL_WASTE_DIV: usize = 8;

/// Right shift applied after multiplying by [`CLASS_DIV_MAGIC`].
const DIV_MAGIC_SHIFT: u32 = 32;

/// Capacity of the scratch arrays the generator fills; the real count is
/// [`NUM_SIZE_CLASSES`].
const MAX_GENERATED: usize = 128;

const _: () = assert!(MIN_ALIGN.is_power_of_two() && MIN_ALIGN == SMALL_SIZE_DIV);
const _: () = assert!(ALIGN_16_FROM.is_power_of_two() && ALIGN_16_FROM > MIN_ALIGN);
const _: () = assert!(ALIGN_EIGHTH_FROM.is_power_of_two() && ALIGN_EIGHTH_FROM / 8 == 16);
const _: () = assert!(ALIGN_CAP_FROM.is_power_of_two() && ALIGN_CAP_FROM / 8 == ALIGN_CAP);
const _: () = assert!(ALIGN_16_FROM < ALIGN_EIGHTH_FROM && ALIGN_EIGHTH_FROM < ALIGN_CAP_FROM);
// Step 2 gives alignment SMALL_SIZE_MAX / 8 from SMALL_SIZE_MAX on, so every
// candidate above it is a multiple of the 128-byte lookup granule.
const _: () = assert!(SMALL_SIZE_MAX.is_power_of_two());
const _: () = assert!(SMALL_SIZE_MAX >= ALIGN_EIGHTH_FROM && SMALL_SIZE_MAX < ALIGN_CAP_FROM);
const _: () =
    assert!(SMALL_SIZE_MAX / 8 == LARGE_SIZE_DIV && ALIGN_CAP.is_multiple_of(LARGE_SIZE_DIV));
const _: () = assert!(1 << SMALL_SIZE_DIV_SHIFT == SMALL_SIZE_DIV);
const _: () = assert!(1 << LARGE_SIZE_DIV_SHIFT == LARGE_SIZE_DIV);
const _: () =
    assert!(MAX_SMALL_SIZE.is_multiple_of(LARGE_SIZE_DIV) && MAX_SMALL_SIZE > SMALL_SIZE_MAX);
const _: () = assert!(MAX_SMALL_SIZE.is_multiple_of(ALIGN_CAP));
const _: () = assert!(1 << PAGE_SHIFT == PAGE_SIZE);

/// Output of steps 1–5: per-class object size and span length.
struct Generated {
    count: usize,
    size: [usize; MAX_GENERATED],
    pages: [usize; MAX_GENERATED],
}

/// Step 3: the fewest pages whose tail waste for `size` is at most 1/8.
const fn span_pages_for(size: usize) -> usize {
    let mut pages = 1;
    while (pages * PAGE_SIZE) % size > (pages * PAGE_SIZE) / TAIL_WASTE_DIV {
        pages += 1;
    }
    pages
}

/// Steps 1–5 (see the module essay).
const fn generate() -> Generated {
    let mut g = Generated {
        count: 1, // class 0: large objects
        size: [0; MAX_GENERATED],
        pages: [0; MAX_GENERATED],
    };
    let mut align = MIN_ALIGN;
    let mut size = MIN_ALIGN;
    while size <= MAX_SMALL_SIZE {
        // Step 2: the bump applies to the steps after this candidate.
        if size.is_power_of_two() {
            if size >= ALIGN_CAP_FROM {
                align = ALIGN_CAP;
            } else if size >= ALIGN_EIGHTH_FROM {
                align = size / 8;
            } else if size >= ALIGN_16_FROM {
                align = 16;
            }
        }
        assert!(align.is_power_of_two());

        // Step 3.
        let pages = span_pages_for(size);
        let span = pages * PAGE_SIZE;

        // Step 4.
        let last = g.count - 1;
        if last >= 1 && g.pages[last] == pages && span / g.size[last] == span / size {
            g.size[last] = size;
        } else {
            assert!(g.count < MAX_GENERATED, "raise MAX_GENERATED");
            g.size[g.count] = size;
            g.pages[g.count] = pages;
            g.count += 1;
        }
        size += align;
    }

    // Step 5.
    let mut c = 1;
    while c < g.count {
        let span = g.pages[c] * PAGE_SIZE;
        let grown = (span / (span / g.size[c])) & !(LARGE_SIZE_DIV - 1);
        if grown > g.size[c] {
            g.size[c] = grown;
        }
        c += 1;
    }
    g
}

const GENERATED: Generated = generate();

/// Number of size classes, class 0 (large objects) included. 68, as in Go.
pub const NUM_SIZE_CLASSES: usize = GENERATED.count;

const fn size_table() -> [u32; NUM_SIZE_CLASSES] {
    let mut t = [0; NUM_SIZE_CLASSES];
    let mut c = 0;
    while c < NUM_SIZE_CLASSES {
        assert!(GENERATED.size[c] <= u32::MAX as usize);
        t[c] = GENERATED.size[c] as u32;
        c += 1;
    }
    t
}

/// Smallest span, in pages, that a class is carved from: 8 pages = 64 KiB,
/// mimalloc's small-page size (`MI_SMALL_PAGE_SIZE`).
///
/// Go's span lengths (step 3) suit a collector, which frees by sweeping a
/// whole span at once. The malloc front end frees block by block onto
/// per-span lists (free-list sharding), so a refill yields only the blocks
/// freed into *one* span: with Go's 8 KiB spans a 1 KiB class holds 8 blocks,
/// and a random-free workload (larson) took the slow path on every second
/// allocation. Step 7 therefore multiplies each class's Go span length by the
/// smallest whole factor that reaches `MIN_SPAN_PAGES`; a whole multiple keeps
/// the tail-waste ratio of step 3 (the tail grows by at most the same factor
/// as the span). Spans are carved lazily (`span.rs`, `extend`), so a class a
/// thread touches once still faults in only a page or so.
pub const MIN_SPAN_PAGES: usize = 8;

/// Step 7: Go's span length for class `c`, scaled up to `MIN_SPAN_PAGES`.
const fn span_pages(c: usize) -> usize {
    let p = GENERATED.pages[c];
    if p == 0 {
        return 0;
    }
    p * MIN_SPAN_PAGES.div_ceil(p)
}

const fn pages_table() -> [u8; NUM_SIZE_CLASSES] {
    let mut t = [0; NUM_SIZE_CLASSES];
    let mut c = 0;
    while c < NUM_SIZE_CLASSES {
        assert!(span_pages(c) <= u8::MAX as usize);
        t[c] = span_pages(c) as u8;
        c += 1;
    }
    t
}

/// Go's own span length per class (step 3, before step 7's scaling), for
/// the tests that compare the generator with Go's table.
#[cfg(test)]
const fn go_pages_table() -> [u8; NUM_SIZE_CLASSES] {
    let mut t = [0; NUM_SIZE_CLASSES];
    let mut c = 0;
    while c < NUM_SIZE_CLASSES {
        t[c] = GENERATED.pages[c] as u8;
        c += 1;
    }
    t
}

const fn objects_table() -> [u16; NUM_SIZE_CLASSES] {
    let mut t = [0; NUM_SIZE_CLASSES];
    let mut c = 1;
    while c < NUM_SIZE_CLASSES {
        let objects = span_pages(c) * PAGE_SIZE / GENERATED.size[c];
        assert!(objects >= 1 && objects <= u16::MAX as usize);
        t[c] = objects as u16;
        c += 1;
    }
    t
}

/// Whether `(n * magic) >> 32 == n / d` for every `n` in `0..=limit`, where
/// `magic = u32::MAX / d + 1`. Exact, not sampled: see "Division by
/// multiplication" in the module essay for why two values of `n` suffice.
const fn magic_is_exact(d: usize, limit: usize) -> bool {
    let d = d as u64;
    let limit = limit as u64;
    let magic = u32::MAX as u64 / d + 1;
    let e = magic * d - (1u64 << DIV_MAGIC_SHIFT);
    // n = limit, remainder r = limit % d: need n * e < (d - r) << 32.
    let worst_last = limit * e < (d - limit % d) << DIV_MAGIC_SHIFT;
    // The last n <= limit with remainder d - 1: need n * e < 1 << 32.
    let q = limit / d;
    let worst_full = q == 0 || (q * d - 1) * e < 1u64 << DIV_MAGIC_SHIFT;
    worst_last && worst_full
}

const fn div_magic_table() -> [u32; NUM_SIZE_CLASSES] {
    let mut t = [0; NUM_SIZE_CLASSES];
    let mut c = 1;
    while c < NUM_SIZE_CLASSES {
        let d = GENERATED.size[c];
        // Like Go's generator, cover the span bytes themselves too (an
        // end-of-span pointer), not only offsets inside the span.
        assert!(
            magic_is_exact(d, span_pages(c) * PAGE_SIZE),
            "a size class needs more than 32 fractional bits"
        );
        t[c] = (u32::MAX as usize / d + 1) as u32;
        c += 1;
    }
    t
}

/// Smallest class (not 0) whose object size is at least `size`.
const fn smallest_class_fitting(size: usize) -> u8 {
    let mut c = 1;
    while c < NUM_SIZE_CLASSES {
        if GENERATED.size[c] >= size {
            return c as u8;
        }
        c += 1;
    }
    panic!("size above MAX_SMALL_SIZE")
}

const SIZE_TO_CLASS_8_LEN: usize = SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1;
const SIZE_TO_CLASS_128_LEN: usize = (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1;

const fn size_to_class_8_table() -> [u8; SIZE_TO_CLASS_8_LEN] {
    let mut t = [0; SIZE_TO_CLASS_8_LEN];
    let mut i = 0;
    while i < SIZE_TO_CLASS_8_LEN {
        t[i] = smallest_class_fitting(i * SMALL_SIZE_DIV);
        i += 1;
    }
    t
}

const fn size_to_class_128_table() -> [u8; SIZE_TO_CLASS_128_LEN] {
    let mut t = [0; SIZE_TO_CLASS_128_LEN];
    let mut i = 0;
    while i < SIZE_TO_CLASS_128_LEN {
        t[i] = smallest_class_fitting(SMALL_SIZE_MAX + i * LARGE_SIZE_DIV);
        i += 1;
    }
    t
}

/// Largest power of two, capped at `PAGE_SIZE`, that divides the address of
/// every object of class `c` in a page-aligned span. With one object per span
/// that is the span base itself, hence `PAGE_SIZE` regardless of the size.
const fn class_object_align(c: usize) -> usize {
    let size = GENERATED.size[c];
    if span_pages(c) * PAGE_SIZE / size == 1 {
        return PAGE_SIZE;
    }
    let natural = 1 << size.trailing_zeros();
    if natural < PAGE_SIZE {
        natural
    } else {
        PAGE_SIZE
    }
}

/// `[k][c]`: the smallest class `>= c` whose objects are all aligned to
/// `1 << k`, or 0 if there is none. Row `k` is Go's "walk up the classes"
/// done once at compile time.
const fn aligned_class_table() -> [[u8; NUM_SIZE_CLASSES]; PAGE_SHIFT + 1] {
    let mut t = [[0; NUM_SIZE_CLASSES]; PAGE_SHIFT + 1];
    let mut k = 0;
    while k <= PAGE_SHIFT {
        // Walk down so each entry is the nearest aligned class at or above.
        let mut next = 0u8;
        let mut c = NUM_SIZE_CLASSES - 1;
        while c >= 1 {
            if class_object_align(c) >= 1 << k {
                next = c as u8;
            }
            t[k][c] = next;
            c -= 1;
        }
        k += 1;
    }
    t
}

const SIZES: [u32; NUM_SIZE_CLASSES] = size_table();

/// Object size of each class, in bytes. `CLASS_SIZE[0] == 0`.
pub static CLASS_SIZE: [u32; NUM_SIZE_CLASSES] = SIZES;
/// Span length of each class, in pages. `CLASS_PAGES[0] == 0`.
pub static CLASS_PAGES: [u8; NUM_SIZE_CLASSES] = pages_table();
/// Objects per span of each class: `CLASS_PAGES[c] * PAGE_SIZE /
/// CLASS_SIZE[c]`. `CLASS_OBJECTS[0] == 0`.
pub static CLASS_OBJECTS: [u16; NUM_SIZE_CLASSES] = objects_table();
/// `u32::MAX / CLASS_SIZE[c] + 1` (Go's divMagic): for every `off` in
/// `0..=CLASS_PAGES[c] * PAGE_SIZE`, `(off * magic) >> 32 == off /
/// CLASS_SIZE[c]`, checked exactly at compile time. `CLASS_DIV_MAGIC[0] == 0`.
pub static CLASS_DIV_MAGIC: [u32; NUM_SIZE_CLASSES] = div_magic_table();
/// Class of a request of `size <= 1024` bytes, at index `(size + 7) >> 3`
/// (Go's `size_to_class8`). Index 0 (size 0) maps to class 1, not 0.
pub static SIZE_TO_CLASS_8: [u8; SIZE_TO_CLASS_8_LEN] = size_to_class_8_table();
/// Class of a request of `1024 < size <= MAX_SMALL_SIZE` bytes, at index
/// `(size - 1024 + 127) >> 7` (Go's `size_to_class128`).
pub static SIZE_TO_CLASS_128: [u8; SIZE_TO_CLASS_128_LEN] = size_to_class_128_table();
/// See [`aligned_class_table`]; used by [`class_for_layout`].
static ALIGNED_CLASS: [[u8; NUM_SIZE_CLASSES]; PAGE_SHIFT + 1] = aligned_class_table();

// Invariants the lookups depend on, checked on the generated tables.
const _: () = {
    // The u8 lookup entries can name every class.
    assert!(NUM_SIZE_CLASSES <= u8::MAX as usize + 1);
    assert!(SIZES[0] == 0 && SIZES[1] as usize == MIN_ALIGN);
    assert!(SIZES[NUM_SIZE_CLASSES - 1] as usize == MAX_SMALL_SIZE);
    let mut c = 1;
    while c < NUM_SIZE_CLASSES {
        let size = SIZES[c] as usize;
        // Sizes strictly increase, so "smallest class >= size" is well defined.
        assert!(c == 1 || SIZES[c - 1] < SIZES[c]);
        // No class size falls strictly inside a lookup granule, so the
        // granule's top and every size in the granule share a class.
        assert!(size.is_multiple_of(SMALL_SIZE_DIV));
        assert!(size <= SMALL_SIZE_MAX || size.is_multiple_of(LARGE_SIZE_DIV));
        // Every object is MIN_ALIGN-aligned (class_for_layout's fast path).
        assert!(class_object_align(c) >= MIN_ALIGN);
        c += 1;
    }
};

/// The size class for a request of `size` bytes: the class with the smallest
/// object size `>= size`. Size 0 maps to class 1 (8 bytes).
///
/// Callers guarantee `size <= MAX_SMALL_SIZE` (bigger sizes are large
/// objects); a bigger size panics on the table bounds check, which the
/// compiler drops once the caller's own range test is inlined next to it.
#[inline(always)]
pub fn size_class_of(size: usize) -> usize {
    debug_assert!(size <= MAX_SMALL_SIZE);
    if size <= SMALL_SIZE_MAX {
        SIZE_TO_CLASS_8[(size + SMALL_SIZE_DIV - 1) >> SMALL_SIZE_DIV_SHIFT] as usize
    } else {
        SIZE_TO_CLASS_128[(size - SMALL_SIZE_MAX + LARGE_SIZE_DIV - 1) >> LARGE_SIZE_DIV_SHIFT]
            as usize
    }
}

/// The smallest class whose objects are at least `size` bytes and all
/// aligned to `align`, given that spans start page-aligned; `None` if no
/// small class qualifies (then the caller allocates a large-object span).
///
/// Object `i` of class `c` sits at `span_base + i * CLASS_SIZE[c]`, so the
/// objects are `align`-aligned iff `align <= PAGE_SIZE` and `align` divides
/// `CLASS_SIZE[c]` (or the span holds a single object). Every class is a
/// multiple of 8, so `align <= 8` is just [`size_class_of`]. Not every class
/// is a multiple of 16: 8 and 24 are not, so a 16-aligned request of 1..=8
/// bytes gets the 16-byte class and one of 17..=24 bytes the 32-byte class.
///
/// `None` also for `size > MAX_SMALL_SIZE` and for an `align` that is not a
/// power of two.
#[inline]
pub fn class_for_layout(size: usize, align: usize) -> Option<usize> {
    if size > MAX_SMALL_SIZE {
        return None;
    }
    let class = size_class_of(size);
    if align <= MIN_ALIGN {
        return Some(class);
    }
    if align > PAGE_SIZE || !align.is_power_of_two() {
        return None;
    }
    match ALIGNED_CLASS[align.trailing_zeros() as usize][class] {
        0 => None,
        aligned => Some(aligned as usize),
    }
}

/// Index of the object containing byte `offset` of a span of class `class`:
/// `offset / CLASS_SIZE[class]`, by a multiply and a shift.
///
/// Exact for `1 <= class < NUM_SIZE_CLASSES` and `offset <=
/// CLASS_PAGES[class] * PAGE_SIZE` (checked at compile time for every class);
/// outside that range the result is meaningless but nothing is unsafe.
#[inline(always)]
pub fn object_index(class: usize, offset: usize) -> usize {
    debug_assert!(class != 0 && class < NUM_SIZE_CLASSES);
    debug_assert!(offset <= CLASS_PAGES[class] as usize * PAGE_SIZE);
    ((offset as u64 * CLASS_DIV_MAGIC[class] as u64) >> DIV_MAGIC_SHIFT) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span_bytes(c: usize) -> usize {
        CLASS_PAGES[c] as usize * PAGE_SIZE
    }

    /// Go's published table (`src/runtime/sizeclasses.go`, current Go):
    /// object size and span pages per class. An oracle for the
    /// generator, not an input to it.
    const GO_SIZES: [u32; 68] = [
        0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288,
        320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536,
        1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192,
        9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576,
        27264, 28672, 32768,
    ];
    const GO_PAGES: [u8; 68] = [
        0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2,
        9, 7, 5, 8, 3, 10, 7, 4,
    ];

    #[test]
    fn class_count_and_go_table() {
        // The algorithm with Go's parameters reproduces Go's 68 classes.
        assert_eq!(NUM_SIZE_CLASSES, 68);
        assert_eq!(CLASS_SIZE, GO_SIZES);
        assert_eq!(go_pages_table(), GO_PAGES);
        // Step 7 scales every span to at least MIN_SPAN_PAGES by a whole factor.
        for c in 1..NUM_SIZE_CLASSES {
            let (go, ours) = (GO_PAGES[c] as usize, CLASS_PAGES[c] as usize);
            assert!(
                ours >= MIN_SPAN_PAGES && ours % go == 0 && ours - go < MIN_SPAN_PAGES,
                "class {c}"
            );
        }
    }

    #[test]
    fn class_zero_is_empty() {
        assert_eq!(
            (
                CLASS_SIZE[0],
                CLASS_PAGES[0],
                CLASS_OBJECTS[0],
                CLASS_DIV_MAGIC[0]
            ),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn sizes_strictly_increase_and_end_at_max() {
        assert_eq!(CLASS_SIZE[1], 8);
        assert_eq!(CLASS_SIZE[NUM_SIZE_CLASSES - 1] as usize, MAX_SMALL_SIZE);
        for c in 2..NUM_SIZE_CLASSES {
            assert!(CLASS_SIZE[c - 1] < CLASS_SIZE[c], "class {c}");
        }
    }

    #[test]
    fn objects_fill_the_span() {
        for c in 1..NUM_SIZE_CLASSES {
            let (size, objects) = (CLASS_SIZE[c] as usize, CLASS_OBJECTS[c] as usize);
            assert!(objects >= 1);
            assert_eq!(objects, span_bytes(c) / size, "class {c}");
            assert!(CLASS_PAGES[c] >= 1);
        }
    }

    #[test]
    fn tail_waste_at_most_one_eighth() {
        for c in 1..NUM_SIZE_CLASSES {
            let span = span_bytes(c);
            let tail = span - CLASS_OBJECTS[c] as usize * CLASS_SIZE[c] as usize;
            assert!(tail <= span / 8, "class {c}: tail {tail} of {span}");
        }
    }

    #[test]
    fn rounding_and_total_waste_under_two_ninths_from_128_bytes() {
        for c in 2..NUM_SIZE_CLASSES {
            let (prev, size) = (CLASS_SIZE[c - 1] as usize, CLASS_SIZE[c] as usize);
            if prev < 128 {
                // Below 128 bytes the classes are the 8/16-byte alignment steps.
                assert!(size - prev <= 16, "class {c}");
                continue;
            }
            let span = span_bytes(c);
            let objects = CLASS_OBJECTS[c] as usize;
            let tail = span - objects * size;
            // Smallest request in the class is prev + 1.
            let rounding = size - (prev + 1);
            assert!(
                9 * rounding < 2 * size,
                "class {c}: rounding {rounding} of {size}"
            );
            let total = rounding * objects + tail;
            assert!(
                9 * total < 2 * span,
                "class {c}: total waste {total} of {span}"
            );
        }
    }

    #[test]
    fn rounding_waste_can_exceed_one_eighth() {
        // Documented in the essay: merging and growing break the 12.5% figure.
        let worst = (2..NUM_SIZE_CLASSES)
            .filter(|&c| CLASS_SIZE[c - 1] >= 128)
            .map(|c| {
                let (prev, size) = (CLASS_SIZE[c - 1] as f64, CLASS_SIZE[c] as f64);
                (size - prev - 1.0) / size
            })
            .fold(0.0, f64::max);
        assert!(worst > 0.125 && worst < 2.0 / 9.0, "{worst}");
    }

    fn smallest_fitting_by_scan(size: usize) -> usize {
        (1..NUM_SIZE_CLASSES)
            .find(|&c| CLASS_SIZE[c] as usize >= size)
            .expect("size fits a small class")
    }

    #[test]
    fn every_small_size_maps_to_smallest_fitting_class() {
        for size in 0..=MAX_SMALL_SIZE {
            assert_eq!(
                size_class_of(size),
                smallest_fitting_by_scan(size),
                "size {size}"
            );
        }
        assert_eq!(size_class_of(0), 1);
    }

    #[test]
    fn lookup_table_shapes() {
        assert_eq!(SIZE_TO_CLASS_8.len(), 1024 / 8 + 1);
        assert_eq!(SIZE_TO_CLASS_128.len(), (32768 - 1024) / 128 + 1);
        assert_eq!(SIZE_TO_CLASS_8[0], 1);
        assert_eq!(
            *SIZE_TO_CLASS_128.last().unwrap() as usize,
            NUM_SIZE_CLASSES - 1
        );
    }

    /// Whether every object of class `c` is `align`-aligned when the span
    /// base is page-aligned but no more (base = PAGE_SIZE, an odd page).
    fn all_objects_aligned(c: usize, align: usize) -> bool {
        let size = CLASS_SIZE[c] as usize;
        (0..CLASS_OBJECTS[c] as usize).all(|i| (PAGE_SIZE + i * size).is_multiple_of(align))
    }

    #[test]
    fn class_for_layout_matches_brute_force() {
        let aligns: Vec<usize> = (0..=16).map(|k| 1usize << k).collect();
        for &align in &aligns {
            let ok: Vec<bool> = (0..NUM_SIZE_CLASSES)
                .map(|c| c != 0 && all_objects_aligned(c, align))
                .collect();
            for size in (0..=MAX_SMALL_SIZE + 1).chain([40_000, usize::MAX]) {
                let want = (1..NUM_SIZE_CLASSES).find(|&c| CLASS_SIZE[c] as usize >= size && ok[c]);
                let got = class_for_layout(size, align);
                assert_eq!(got, want, "size {size} align {align}");
                if let Some(c) = got {
                    assert!(CLASS_SIZE[c] as usize >= size);
                    assert!(all_objects_aligned(c, align));
                }
            }
        }
    }

    #[test]
    fn class_for_layout_examples() {
        assert_eq!(class_for_layout(8, 8), Some(1));
        assert_eq!(class_for_layout(8, 16), Some(2)); // 16 bytes
        assert_eq!(class_for_layout(24, 16), Some(4)); // 32 bytes, not 24
        assert_eq!(
            class_for_layout(100, 4096).map(|c| CLASS_SIZE[c]),
            Some(4096)
        );
        assert_eq!(
            class_for_layout(1, PAGE_SIZE).map(|c| CLASS_SIZE[c]),
            Some(8192)
        );
        assert_eq!(class_for_layout(1, 2 * PAGE_SIZE), None);
        assert_eq!(class_for_layout(MAX_SMALL_SIZE + 1, 8), None);
        assert_eq!(class_for_layout(64, 48), None); // not a power of two
    }

    #[test]
    fn object_index_matches_division_for_every_offset() {
        for (c, &size) in CLASS_SIZE.iter().enumerate().skip(1) {
            let size = size as usize;
            for offset in 0..=span_bytes(c) {
                assert_eq!(
                    object_index(c, offset),
                    offset / size,
                    "class {c} offset {offset}"
                );
            }
        }
    }

    #[test]
    fn magic_check_rejects_a_bad_range() {
        // The exactness check is not vacuous: d = 3 is exact up to about
        // 2^31 but not over the whole u32 range.
        assert!(magic_is_exact(3, 1 << 20));
        assert!(!magic_is_exact(3, u32::MAX as usize));
        let m = (u32::MAX / 3 + 1) as u64;
        let n = u32::MAX as u64 - 1; // the last n with remainder 2
        assert_ne!((n * m) >> 32, n / 3);
    }
}
