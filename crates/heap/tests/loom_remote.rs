#![cfg(loom)]
use tricolor_heap::remote::ThreadFree;
#[test]
fn t(){ loom::model(|| { let _ = ThreadFree::new(); }); }
