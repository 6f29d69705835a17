//! `SpanList`: an intrusive doubly linked list of spans through
//! `Span::next`/`prev`. Not synchronised: every list belongs to one owner (a
//! thread cache's partial or full list, or a central list under its lock).

use crate::span::Span;
use core::ptr;

pub struct SpanList {
    head: *mut Span,
    len: usize,
}

impl SpanList {
    pub const fn new() -> Self {
        SpanList {
            head: ptr::null_mut(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn head(&self) -> *mut Span {
        self.head
    }

    /// # Safety
    /// `s` is a valid span on no list, and the caller owns both.
    pub unsafe fn push_front(&mut self, s: *mut Span) {
        // SAFETY: the caller owns `s` and this list, so the links are ours.
        unsafe {
            (*s).prev = ptr::null_mut();
            (*s).next = self.head;
            if !self.head.is_null() {
                (*self.head).prev = s;
            }
        }
        self.head = s;
        self.len += 1;
    }

    /// # Safety
    /// `s` is on this list.
    pub unsafe fn remove(&mut self, s: *mut Span) {
        // SAFETY: `s` is on this list, so its neighbours are too.
        unsafe {
            let (p, n) = ((*s).prev, (*s).next);
            if p.is_null() {
                debug_assert!(self.head == s);
                self.head = n;
            } else {
                (*p).next = n;
            }
            if !n.is_null() {
                (*n).prev = p;
            }
            (*s).next = ptr::null_mut();
            (*s).prev = ptr::null_mut();
        }
        self.len -= 1;
    }

    /// Remove and return the first span, or null.
    ///
    /// # Safety
    /// The caller owns the list.
    pub unsafe fn pop_front(&mut self) -> *mut Span {
        let s = self.head;
        if !s.is_null() {
            // SAFETY: `s` is the head of this list.
            unsafe { self.remove(s) };
        }
        s
    }
}

impl Default for SpanList {
    fn default() -> Self {
        Self::new()
    }
}
