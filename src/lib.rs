pub use tricolor_heap::Malloc;
