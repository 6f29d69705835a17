//! tricolor-heap: the allocator (work in progress; see DESIGN.md §2).
#![deny(unsafe_op_in_unsafe_fn)]

/// log2 of the page size. 8 KiB pages, as in the Go runtime (`_PageShift = 13`).
pub const PAGE_SHIFT: usize = 13;
/// Page size in bytes.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// Pages per page-allocator chunk: 512 pages = 4 MiB (Go's `pallocChunkPages`).
pub const CHUNK_PAGES: usize = 512;
/// Chunk size in bytes.
pub const CHUNK_SIZE: usize = CHUNK_PAGES * PAGE_SIZE;

pub mod size_class;
pub mod pages;

/// Temporary: forwards to the system allocator until the real front end lands.
pub struct Malloc;
// SAFETY: forwards every call unchanged to `System`, which upholds GlobalAlloc.
unsafe impl core::alloc::GlobalAlloc for Malloc {
    unsafe fn alloc(&self, l: core::alloc::Layout) -> *mut u8 {
        // SAFETY: caller upholds GlobalAlloc::alloc's contract.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: core::alloc::Layout) {
        // SAFETY: caller upholds GlobalAlloc::dealloc's contract.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
}
