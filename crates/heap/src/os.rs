//! The OS layer: the only module that maps, protects or advises memory.
//!
//! Glossary:
//! - *reserve*: claim a range of address space with no access and no commit
//!   charge (`PROT_NONE`, `MAP_NORESERVE`). Touching it faults.
//! - *commit*: make a reserved range readable and writable (`mprotect`); the
//!   kernel backs it lazily, page by page, on first touch.
//! - *decommit*: give a committed range's physical pages back
//!   (`madvise(MADV_DONTNEED)`); the range stays committed and reads as zero
//!   afterwards, so reuse needs no system call.
//! - *metadata*: read-write, lazily backed memory for the allocator's own
//!   tables, mapped through `memmap2` and never unmapped.
//!
//! `memmap2` has no `PROT_NONE` mappings, no `mprotect` and no partial
//! unmapping, which an aligned reservation needs; those three go through
//! `libc` directly, as STYLE.md allows "where memmap2 stops".
//!
//! Fault injection (`fault`): every reservation, commit and metadata mapping
//! first asks `fault::permit(bytes)`, which tests set to fail the N-th call or
//! to run out of a byte budget. It is a pair of relaxed atomics on a path that
//! already makes a system call, so it stays compiled in.

use core::ptr::NonNull;

/// Reserve `size` bytes of address space aligned to `align` (a power of two,
/// at least the OS page size). The range is inaccessible until committed.
/// Returns `None` if the OS refuses (or fault injection says so).
pub fn reserve(size: usize, align: usize) -> Option<NonNull<u8>> {
    debug_assert!(align.is_power_of_two() && size.is_multiple_of(align));
    if !fault::permit(0) {
        return None;
    }
    let over = size.checked_add(align)?;
    // SAFETY: an anonymous PROT_NONE mapping at an address of the kernel's
    // choosing cannot alias anything that exists.
    let raw = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            over,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return None;
    }
    let start = raw as usize;
    let aligned = (start + align - 1) & !(align - 1);
    let head = aligned - start;
    let tail = over - head - size;
    // SAFETY: both trimmed pieces lie inside the mapping just made and
    // outside the aligned range we keep.
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap((aligned + size) as *mut libc::c_void, tail);
        }
    }
    NonNull::new(aligned as *mut u8)
}

/// Make `[ptr, ptr + len)` readable and writable.
///
/// # Safety
/// The range lies inside one range returned by [`reserve`], and is page
/// aligned.
pub unsafe fn commit(ptr: NonNull<u8>, len: usize) -> bool {
    if !fault::permit(len) {
        return false;
    }
    // SAFETY: the caller guarantees the range is ours and page aligned.
    unsafe { libc::mprotect(ptr.as_ptr().cast(), len, libc::PROT_READ | libc::PROT_WRITE) == 0 }
}

/// Return the physical pages behind `[ptr, ptr + len)` to the OS. The range
/// stays committed and reads as zeros afterwards — also when the OS refuses
/// (`mlockall`ed memory: `EINVAL`): then the range is zeroed by hand, so the
/// page heap's "released pages are zero" stays true. Returns whether the OS
/// took the pages.
///
/// # Safety
/// The range is committed, page aligned, and holds nothing anyone will read
/// expecting its old contents.
pub unsafe fn decommit(ptr: NonNull<u8>, len: usize) -> bool {
    // SAFETY: the caller guarantees the range is committed and disposable.
    let ok = unsafe { libc::madvise(ptr.as_ptr().cast(), len, libc::MADV_DONTNEED) } == 0;
    if !ok {
        // SAFETY: as above; the range is ours to overwrite.
        unsafe { core::ptr::write_bytes(ptr.as_ptr(), 0, len) };
    }
    ok
}

/// Map `len` bytes of zeroed, lazily backed read-write memory for metadata.
/// It is never unmapped.
pub fn map_metadata(len: usize) -> Option<NonNull<u8>> {
    if !fault::permit(len) {
        return None;
    }
    let map = memmap2::MmapOptions::new()
        .len(len)
        .no_reserve_swap()
        .map_anon()
        .ok()?;
    let ptr = map.as_ptr() as *mut u8;
    // The allocator keeps its metadata for the life of the process.
    core::mem::forget(map);
    NonNull::new(ptr)
}

/// The OS page size (4 KiB on the machines we target; queried once).
pub fn os_page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v <= 0 {
        4096
    } else {
        v as usize
    }
}

/// Failure injection for tests: make the N-th OS request fail, or give the
/// allocator a byte budget for commits and metadata.
pub mod fault {
    use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

    /// Calls left before one fails; negative means "never fail".
    static COUNTDOWN: AtomicIsize = AtomicIsize::new(-1);
    /// Bytes that may still be committed or mapped; `usize::MAX` = unlimited.
    static BUDGET: AtomicUsize = AtomicUsize::new(usize::MAX);
    /// Requests refused so far (for tests to check that a failure happened).
    static REFUSED: AtomicUsize = AtomicUsize::new(0);

    // Every atomic here is Relaxed: these are independent counters consulted
    // before a system call; nothing else is published through them.

    /// Make the `n`-th OS request from now fail (n = 0: the next one), once.
    pub fn fail_nth(n: usize) {
        COUNTDOWN.store(n as isize, Ordering::Relaxed);
    }

    /// Allow at most `bytes` more bytes to be committed or mapped.
    pub fn set_budget(bytes: usize) {
        BUDGET.store(bytes, Ordering::Relaxed);
    }

    /// Back to normal: no injected failures, no budget.
    pub fn clear() {
        COUNTDOWN.store(-1, Ordering::Relaxed);
        BUDGET.store(usize::MAX, Ordering::Relaxed);
    }

    /// How many requests have been refused by injection so far.
    pub fn refused() -> usize {
        REFUSED.load(Ordering::Relaxed)
    }

    pub(crate) fn permit(bytes: usize) -> bool {
        let c = COUNTDOWN.load(Ordering::Relaxed);
        if c >= 0 {
            COUNTDOWN.store(c - 1, Ordering::Relaxed);
            if c == 0 {
                REFUSED.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
        let b = BUDGET.load(Ordering::Relaxed);
        if b != usize::MAX {
            if b < bytes {
                REFUSED.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            BUDGET.store(b - bytes, Ordering::Relaxed);
        }
        true
    }
}
