//! Collector metadata memory, from tricolor-heap's `alloc` (never the Rust
//! global allocator: this memory is taken on allocation slow paths).

use core::ptr::NonNull;

/// `size` bytes aligned to `align` for metadata, zeroed, or `None`.
pub fn alloc_zeroed(size: usize, align: usize) -> Option<NonNull<u8>> {
    NonNull::new(tricolor_heap::alloc_zeroed(size, align))
}

/// Give back what [`alloc_zeroed`] returned.
///
/// # Safety
/// `p` came from [`alloc_zeroed`] and is not used again.
pub unsafe fn free(p: NonNull<u8>) {
    // SAFETY: forwarded from the caller.
    unsafe { tricolor_heap::free(p.as_ptr()) }
}

/// A growable array of `Copy` values on metadata memory. Growth can fail
/// (out of memory): `push` then returns false and changes nothing.
pub struct MetaVec<T: Copy> {
    ptr: *mut T,
    len: usize,
    cap: usize,
}

// SAFETY: a `MetaVec` owns its elements like a `Vec`.
unsafe impl<T: Copy + Send> Send for MetaVec<T> {}

impl<T: Copy> MetaVec<T> {
    pub const fn new() -> Self {
        MetaVec {
            ptr: core::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }

    pub fn as_slice(&self) -> &[T] {
        if self.ptr.is_null() {
            return &[];
        }
        // SAFETY: `ptr` holds `len` initialised elements.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Append `v`; false if memory ran out.
    #[must_use]
    pub fn push(&mut self, v: T) -> bool {
        if self.len == self.cap && !self.grow() {
            return false;
        }
        // SAFETY: `len < cap` after growing.
        unsafe { self.ptr.add(self.len).write(v) };
        self.len += 1;
        true
    }

    fn grow(&mut self) -> bool {
        let cap = (self.cap * 2).max(8);
        let Some(bytes) = cap.checked_mul(core::mem::size_of::<T>()) else {
            return false;
        };
        let Some(p) = alloc_zeroed(bytes, core::mem::align_of::<T>().max(8)) else {
            return false;
        };
        let p = p.as_ptr() as *mut T;
        if !self.ptr.is_null() {
            // SAFETY: both blocks are live and distinct; copy the elements.
            unsafe {
                core::ptr::copy_nonoverlapping(self.ptr, p, self.len);
                free(NonNull::new_unchecked(self.ptr as *mut u8));
            }
        }
        self.ptr = p;
        self.cap = cap;
        true
    }
}

impl<T: Copy> Drop for MetaVec<T> {
    fn drop(&mut self) {
        if let Some(p) = NonNull::new(self.ptr as *mut u8) {
            // SAFETY: allocated by `grow`, owned by `self`.
            unsafe { free(p) };
        }
    }
}

impl<T: Copy> Default for MetaVec<T> {
    fn default() -> Self {
        Self::new()
    }
}
