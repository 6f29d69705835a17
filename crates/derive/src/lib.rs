//! `#[derive(Trace)]`: the safe way to put your types in tricolor's heap.
//!
//! The collector finds live objects by asking each one for the `Gc`
//! pointers it holds: that is the `Trace` trait of `tricolor-gc`
//! (re-exported by `tricolor` as `tricolor::gc::Trace`). The trait is
//! `unsafe` because one missed pointer lets the collector free an object
//! that is still in use. This derive writes the impl from your type's
//! definition, so the compiler checks every field and you write no `unsafe`:
//!
//! ```ignore
//! use tricolor_gc::{Gc, Lock, Trace};
//!
//! #[derive(Trace)]
//! struct Node<'gc> {
//!     value: u32,
//!     next: Lock<Option<Gc<'gc, Node<'gc>>>>,
//! }
//!
//! #[derive(Trace)]
//! enum Expr<'gc> {
//!     Num(f64),
//!     Add(Gc<'gc, Expr<'gc>>, Gc<'gc, Expr<'gc>>),
//!     Var { name: String },
//! }
//! ```
//!
//! # What it generates
//!
//! For `struct Node<'gc> { value: u32, next: Lock<Option<Gc<'gc, Node<'gc>>>> }`:
//!
//! ```text
//! // SAFETY: every field is traced.
//! unsafe impl<'gc> ::tricolor_gc::Trace for Node<'gc> {
//!     const NEEDS_TRACE: bool = false
//!         || <u32 as ::tricolor_gc::Trace>::NEEDS_TRACE
//!         || <Lock<Option<Gc<'gc, Node<'gc>>>> as ::tricolor_gc::Trace>::NEEDS_TRACE;
//!
//!     #[inline]
//!     fn trace(&self, tracer: &mut ::tricolor_gc::Tracer) {
//!         match self {
//!             Self { value: __trace_0, next: __trace_1, .. } => {
//!                 <u32 as ::tricolor_gc::Trace>::trace(__trace_0, tracer);
//!                 <Lock<..> as ::tricolor_gc::Trace>::trace(__trace_1, tracer);
//!             }
//!         }
//!     }
//! }
//!
//! // Refuses a `Drop` impl on `Node` (see below).
//! impl<'gc> ::tricolor_gc::__private::MustNotImplDrop for Node<'gc> {}
//! ```
//!
//! An enum gets one match arm per variant; a type with no traced field gets
//! `NEEDS_TRACE = false` and an empty `trace`. Each type parameter `T` gets a
//! `T: Trace` bound. Field types get no bound, so a type may contain itself
//! through a `Gc` (`Node` above) — a bound `Option<Gc<'gc, Node<'gc>>>: Trace`
//! on the impl of `Node` would be circular.
//!
//! # Why the generated impl is sound
//!
//! `Trace`'s contract has two halves; the derive meets each by construction.
//!
//! 1. **`trace` reports every `Gc` the value holds.** The value's `Gc`s are
//!    its fields' `Gc`s, and `trace` calls `Trace::trace` on every field
//!    (every field of the active variant, for an enum). Each call needs the
//!    field's type to implement `Trace` — a field whose type does not is a
//!    compile error at that field — and that impl in turn reports the
//!    field's `Gc`s, by the same argument, down to the impls in `tricolor-gc`
//!    (`Gc` itself, leaves such as `u32` and `String`, containers such as
//!    `Vec` and `Option`). The only fields left out are the two opt-outs
//!    below, and each comes with its own argument.
//! 2. **`NEEDS_TRACE` is `true` if a value could hold a `Gc`.** It is the
//!    `||` of the traced fields' `NEEDS_TRACE`, so it is `false` only when no
//!    traced field's type can hold one. The collector puts `NEEDS_TRACE =
//!    false` objects in spans the marker never scans, so this is the half
//!    that must not err towards `false`; erring towards `true` only costs a
//!    scan.
//!
//! Interior mutability is the field types' business, not the derive's: a
//! `Gc` stored after the object is in the heap must go through the write
//! barrier, so `tricolor-gc` implements `Trace` for `Lock` and `RefLock`
//! (whose setters take the `&Mutation` that runs the barrier), and for the
//! std cells `Cell`, `RefCell`, `Mutex` only over `'static` contents, which
//! cannot hold a `Gc<'gc, _>`. A field `Cell<Gc<'gc, T>>` is therefore a
//! compile error, as it should be.
//!
//! ## Why a `Drop` impl is refused
//!
//! The collector runs an object's destructor when it sweeps the object,
//! after deciding it is unreachable — and everything it pointed to that is
//! unreachable with it is swept in the same cycle, in no particular order,
//! on whichever thread is sweeping. A `drop` that reads a `Gc` field may read
//! an object that is already freed; one that stores `self`'s `Gc`s somewhere
//! reachable resurrects freed objects. Neither can be ruled out by the type
//! system, so the derive refuses `Drop` outright:
//!
//! ```text
//! impl<'gc> ::tricolor_gc::__private::MustNotImplDrop for Node<'gc> {}
//! // tricolor-gc has: impl<T: Drop> MustNotImplDrop for T {}
//! ```
//!
//! If `Node` implements `Drop`, the two impls overlap and the compile fails
//! with "conflicting implementations of trait `MustNotImplDrop`". (This is
//! the trick `gc-arena` uses.) Fields may still have destructors — a `Vec`,
//! a `String`, a `Box` — because their drop glue frees only what they own
//! and never dereferences a `Gc`; a field type with a `Drop` impl of its own
//! is either derived (and so checked the same way) or carries a hand-written
//! `unsafe impl Trace` that takes the responsibility.
//!
//! # Options
//!
//! On the type:
//!
//! - `#[trace(unsafe_drop)]` — do not refuse a `Drop` impl. **Unsafe
//!   opt-in**: you promise that your `drop` never dereferences a `Gc` held
//!   by the value (directly or through a field), never copies one out of
//!   the value, and is correct when run on any thread. Destructors that
//!   only release outside resources (close a file descriptor stored in a
//!   plain integer field, decrement a global counter) are fine.
//! - `#[trace(needs_trace)]` — set `NEEDS_TRACE = true` instead of asking
//!   the fields. Always safe (it only makes the marker scan the object).
//!   It is needed by a type that contains itself through an owning
//!   container rather than a `Gc`, as in
//!   `struct List<'gc> { head: Gc<'gc, u8>, tail: Option<Box<List<'gc>>> }`:
//!   there the derived `NEEDS_TRACE` would be defined in terms of itself
//!   and rustc reports "cycle detected when … `NEEDS_TRACE`".
//! - `#[trace(crate = "path")]` — where the runtime crate is (see below).
//!
//! On a field:
//!
//! - `#[trace(static)]` — do not trace this field; instead the derive proves
//!   that the field's type is `'static` and `Send`. A `Gc<'gc, _>` is branded with the
//!   lifetime `'gc` of a mutation scope, which is never `'static`, so a
//!   `'static` type cannot hold one and there is nothing to trace. Use it for
//!   fields whose types are not `Trace` but obviously hold no `Gc` (a
//!   `std::fs::File`, a third-party type). The proof is made for *every*
//!   `'gc` and every other lifetime parameter of the type, with each type
//!   parameter that occurs in the field's type assumed `'static` (the impl
//!   gets a `T: 'static + Send` bound for it), so `#[trace(static)]` on a
//!   `Gc<'gc, u32>` field fails right at the field with "`'gc` must outlive
//!   `'static`". `Send` because the collector drops a dead object on
//!   whichever thread sweeps it: an untraced `Rc` field dropped by the
//!   sweeper while the program clones another handle to the same `Rc`
//!   would race on the reference count. Safe.
//! - `#[trace(unsafe_skip)]` — do not trace this field, and check nothing.
//!   **Unsafe opt-out**: you promise that the field never holds a `Gc` of
//!   any heap (for example a raw pointer or a foreign handle you know to be
//!   `Gc`-free, whose type is neither `Trace` nor `'static`), and that
//!   dropping it on another thread is sound. If it ever holds a `Gc`, that
//!   object can be freed while still reachable through the field.
//!
//! An option the derive does not know, an option in the wrong place (a field
//! option on the type, any option on an enum variant) or two contradictory
//! options are compile errors pointing at the option: a misspelling must
//! never silently change what is traced.
//!
//! Unions are refused: the collector could not know which field is live.
//! Write `unsafe impl Trace` by hand, or use an enum.
//!
//! # Which crate the generated code names
//!
//! The generated code names `Trace`, `Tracer` and `__private` through the
//! runtime crate, found from your `Cargo.toml` (`runtime.rs`): `::tricolor_gc`
//! if you depend on `tricolor-gc` (renamed or not), else `::tricolor::gc` if
//! you depend on the facade `tricolor`, and `crate` inside `tricolor-gc`
//! itself. `#[trace(crate = "some::path")]` overrides the search, for
//! example when another crate re-exports the collector.
//!
//! # Module map
//!
//! - `attr.rs` — parses `#[trace(...)]`;
//! - `expand.rs` — generates the impls (the steps are listed there);
//! - `runtime.rs` — finds the runtime crate.
#![deny(unsafe_op_in_unsafe_fn)]

mod attr;
mod expand;
mod runtime;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `Trace` for a struct or an enum: every field is traced.
///
/// See the [crate documentation](crate) for what is generated, why it is
/// sound, and the `#[trace(...)]` options: `unsafe_drop`, `needs_trace`,
/// `crate = "..."` on the type; `static`, `unsafe_skip` on a field.
#[proc_macro_derive(Trace, attributes(trace))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input, runtime::locate)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
