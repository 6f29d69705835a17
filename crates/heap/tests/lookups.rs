//! Address lookups never name an object that is not there: the tail waste at
//! the end of a small span, free pages, and foreign addresses all answer
//! `None`; interior pointers answer their object's start.

use tricolor_heap::size_class::{CLASS_OBJECTS, CLASS_SIZE};
use tricolor_heap::span::object_base;
use tricolor_heap::{alloc, arena, free};

#[test]
fn tail_waste_and_foreign_addresses_are_no_object() {
    // A class that leaves a tail after its last object (the 24-byte class
    // does; in checking mode requests grow by a trailer, so search).
    let (p, span) = [24usize, 8, 40, 56, 72, 88]
        .iter()
        .find_map(|&want| {
            let p = alloc(want, 8);
            assert!(!p.is_null());
            // SAFETY: a live block's span record is valid while it lives.
            let span = unsafe { arena::span_of(p as usize).unwrap().as_ref() };
            if span.start + span.capacity as usize * span.elem_size < span.end() {
                Some((p, span))
            } else {
                // SAFETY: live, freed once.
                unsafe { free(p) };
                None
            }
        })
        .expect("some small class has tail waste");
    let (size, objects) = (span.elem_size, span.capacity as usize);
    assert_eq!(size, CLASS_SIZE[span.class as usize] as usize);
    assert_eq!(objects, CLASS_OBJECTS[span.class as usize] as usize);
    let tail = span.start + objects * size;
    assert_eq!(object_base(tail), None, "the tail is no object");
    assert_eq!(object_base(span.end() - 1), None);
    let last = span.start + (objects - 1) * size;
    assert_eq!(object_base(last + size - 1), Some(last));
    assert_eq!(object_base(p as usize + 13), Some(p as usize));
    // Not ours at all.
    let local = 0u64;
    assert_eq!(object_base(&local as *const u64 as usize), None);
    assert_eq!(object_base(0), None);
    assert_eq!(object_base(usize::MAX), None);
    // SAFETY: live, freed once.
    unsafe { free(p) };
}
