//! Where the runtime crate is: the path the generated code names `Trace`,
//! `Tracer` and `__private` by.
//!
//! A derive runs inside the *user's* crate, which may reach the collector in
//! several ways. In order:
//!
//! 1. `#[trace(crate = "some::path")]` on the type (handled by the caller,
//!    `expand.rs`): used as written.
//! 2. The user's `Cargo.toml` depends on `tricolor-gc` (under any name, read
//!    by `proc-macro-crate`, renames and `workspace = true` included):
//!    `::tricolor_gc` (or `::the_rename`).
//! 3. It depends on the facade `tricolor`, which re-exports the collector as
//!    `tricolor::gc`: `::tricolor::gc`.
//! 4. The derive is running inside `tricolor-gc` itself (its own types): the
//!    library is `crate`. But the same `Cargo.toml` also serves the
//!    package's integration tests, examples and doctests, which are separate
//!    crates that see the library as `::tricolor_gc`. `proc-macro-crate`
//!    recognises integration tests and benches (cargo sets
//!    `CARGO_TARGET_TMPDIR` for them); for the rest we check that the crate
//!    being compiled *is* the library (`CARGO_CRATE_NAME`) and is not a
//!    doctest (rustdoc sets `UNSTABLE_RUSTDOC_TEST_PATH` when it compiles
//!    one).
//! 5. Nothing found (a build system other than cargo, say): `::tricolor_gc`,
//!    so that the error, if any, names the crate the user has to add.

use proc_macro2::Span;
use proc_macro_crate::{crate_name, FoundCrate};
use syn::{parse_quote, Ident, Path};

/// The collector's package name.
const GC_PACKAGE: &str = "tricolor-gc";
/// The facade's package name; it re-exports the collector as `gc`.
const FACADE_PACKAGE: &str = "tricolor";

/// The path of the runtime crate as seen from the crate being compiled.
pub fn locate() -> Path {
    let library = compiling_library();
    match crate_name(GC_PACKAGE) {
        Ok(FoundCrate::Itself) if library(GC_PACKAGE) => return parse_quote!(crate),
        Ok(FoundCrate::Itself) => return extern_path(GC_PACKAGE),
        Ok(FoundCrate::Name(name)) => return extern_path(&name),
        Err(_) => {}
    }
    match crate_name(FACADE_PACKAGE) {
        Ok(FoundCrate::Itself) if library(FACADE_PACKAGE) => parse_quote!(crate::gc),
        Ok(FoundCrate::Itself) => {
            let facade = extern_path(FACADE_PACKAGE);
            parse_quote!(#facade::gc)
        }
        Ok(FoundCrate::Name(name)) => {
            let facade = extern_path(&name);
            parse_quote!(#facade::gc)
        }
        Err(_) => extern_path(GC_PACKAGE),
    }
}

/// `::name` for a crate name (dashes become underscores).
fn extern_path(name: &str) -> Path {
    let ident = Ident::new(&name.replace('-', "_"), Span::call_site());
    parse_quote!(::#ident)
}

/// Returns a test: "is the crate being compiled the library of `package`,
/// as opposed to a doctest, example or binary of that package?".
fn compiling_library() -> impl Fn(&str) -> bool {
    let crate_being_compiled = std::env::var("CARGO_CRATE_NAME").ok();
    let doctest = std::env::var_os("UNSTABLE_RUSTDOC_TEST_PATH").is_some();
    move |package| {
        !doctest
            && crate_being_compiled
                .as_deref()
                .is_none_or(|c| c == package.replace('-', "_"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    #[test]
    fn extern_path_sanitizes_dashes() {
        let p = extern_path("tricolor-gc");
        assert_eq!(p.to_token_stream().to_string(), ":: tricolor_gc");
    }
}
