//! The atomics the handshake uses, from std (or, in the loom model, loom:
//! `tests/loom_world.rs` compiles `handshake.rs` against its own `sync`).

pub use core::sync::atomic::{fence, AtomicBool, AtomicU8, Ordering};
