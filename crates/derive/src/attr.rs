//! `#[trace(...)]`: the options a derived type and its fields may carry.
//!
//! Every option is an exception to the derive's default ("trace every field,
//! refuse `Drop`"), so the parser is strict: an option it does not know, an
//! option repeated, or two options that contradict each other is a compile
//! error pointing at the option, never silently ignored. A typo such as
//! `#[trace(unsafe_skp)]` must not leave a field untraced, nor a misspelled
//! `#[trace(statik)]` leave it traced when the user meant to check it.
//!
//! | where    | option              | meaning (see the crate docs)                       |
//! |----------|---------------------|----------------------------------------------------|
//! | type     | `unsafe_drop`       | do not refuse a `Drop` impl                        |
//! | type     | `needs_trace`       | `NEEDS_TRACE = true` without asking the fields     |
//! | type     | `crate = "a::path"` | where the runtime crate is (`Trace`, `Tracer`, …)  |
//! | field    | `static`            | do not trace; prove the field's type is `'static`  |
//! | field    | `unsafe_skip`       | do not trace; no check                             |
//! | variant  | (none)              |                                                    |
//!
//! The results are plain values ([`TypeOptions`], [`FieldMode`]) that
//! `expand.rs` turns into code.

use proc_macro2::Span;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, LitStr, Path};

/// The name of the attribute this derive reads.
const ATTR: &str = "trace";

/// Options given on the derived type itself.
#[derive(Default)]
pub struct TypeOptions {
    /// `#[trace(unsafe_drop)]`: the span of the option, if given.
    pub unsafe_drop: Option<Span>,
    /// `#[trace(needs_trace)]`: the span of the option, if given.
    pub needs_trace: Option<Span>,
    /// `#[trace(crate = "...")]`: the runtime crate's path, if given.
    pub crate_path: Option<Path>,
}

/// What the derive does with one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldMode {
    /// The default: the field is traced and counts towards `NEEDS_TRACE`.
    Trace,
    /// `#[trace(static)]`: not traced; the field's type must be `'static`.
    Static,
    /// `#[trace(unsafe_skip)]`: not traced, nothing checked.
    UnsafeSkip,
}

/// Collects errors so that one compile reports every bad option at once.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }
}

/// The attribute's option name as the user wrote it, for messages.
fn option_name(meta: &ParseNestedMeta<'_>) -> String {
    meta.path.to_token_stream().to_string().replace(' ', "")
}

/// Calls `each` for every option of every `#[trace(...)]` in `attrs`,
/// collecting the errors it returns instead of stopping at the first.
fn for_each_option(
    attrs: &[Attribute],
    errors: &mut Errors,
    mut each: impl FnMut(&ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident(ATTR)) {
        let mut inner = Errors::default();
        let parsed = attr.parse_nested_meta(|meta| {
            if let Err(e) = each(&meta) {
                inner.push(e);
            }
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
        if let Some(e) = inner.0 {
            errors.push(e);
        }
    }
}

/// Parses the `#[trace(...)]` options on the derived type.
pub fn type_options(attrs: &[Attribute]) -> syn::Result<TypeOptions> {
    let mut opts = TypeOptions::default();
    let mut errors = Errors::default();
    for_each_option(attrs, &mut errors, |meta| {
        if meta.path.is_ident("unsafe_drop") {
            if opts.unsafe_drop.is_some() {
                return Err(meta.error("duplicate #[trace(unsafe_drop)]"));
            }
            opts.unsafe_drop = Some(meta.path.span());
            Ok(())
        } else if meta.path.is_ident("needs_trace") {
            if opts.needs_trace.is_some() {
                return Err(meta.error("duplicate #[trace(needs_trace)]"));
            }
            opts.needs_trace = Some(meta.path.span());
            Ok(())
        } else if meta.path.is_ident("crate") {
            let lit: LitStr = meta.value()?.parse()?;
            if opts.crate_path.is_some() {
                return Err(meta.error("duplicate #[trace(crate = \"...\")]"));
            }
            opts.crate_path = Some(lit.parse::<Path>().map_err(|_| {
                syn::Error::new(lit.span(), "expected a path such as \"::tricolor_gc\"")
            })?);
            Ok(())
        } else if meta.path.is_ident("static") || meta.path.is_ident("unsafe_skip") {
            Err(meta.error(format!(
                "#[trace({})] belongs on a field, not on the type",
                option_name(meta)
            )))
        } else {
            Err(meta.error(format!(
                "unknown #[trace] option `{}` on a type; expected `unsafe_drop`, `needs_trace` or `crate = \"...\"`",
                option_name(meta)
            )))
        }
    });
    errors.finish(opts)
}

/// Parses the `#[trace(...)]` options on one field.
pub fn field_mode(attrs: &[Attribute]) -> syn::Result<FieldMode> {
    let mut mode = FieldMode::Trace;
    let mut errors = Errors::default();
    for_each_option(attrs, &mut errors, |meta| {
        let new = if meta.path.is_ident("static") {
            FieldMode::Static
        } else if meta.path.is_ident("unsafe_skip") {
            FieldMode::UnsafeSkip
        } else if ["unsafe_drop", "needs_trace", "crate"]
            .iter()
            .any(|k| meta.path.is_ident(k))
        {
            return Err(meta.error(format!(
                "#[trace({})] belongs on the type, not on a field",
                option_name(meta)
            )));
        } else {
            return Err(meta.error(format!(
                "unknown #[trace] option `{}` on a field; expected `static` or `unsafe_skip`",
                option_name(meta)
            )));
        };
        if mode != FieldMode::Trace {
            return Err(meta
                .error("a field takes at most one of #[trace(static)] and #[trace(unsafe_skip)]"));
        }
        mode = new;
        Ok(())
    });
    errors.finish(mode)
}

/// Rejects any `#[trace(...)]` on an enum variant: none is defined, and
/// guessing what one would mean (skip every field?) is not worth the risk.
pub fn variant_options(attrs: &[Attribute]) -> syn::Result<()> {
    let mut errors = Errors::default();
    for_each_option(attrs, &mut errors, |meta| {
        Err(meta.error(format!(
            "#[trace({})] is not allowed on an enum variant; put field options on its fields",
            option_name(meta)
        )))
    });
    errors.finish(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn attrs(item: syn::DeriveInput) -> Vec<Attribute> {
        item.attrs
    }

    fn field_attrs(field: syn::Field) -> Vec<Attribute> {
        field.attrs
    }

    fn field(f: syn::Field) -> syn::Result<FieldMode> {
        field_mode(&field_attrs(f))
    }

    fn err_text(e: syn::Error) -> String {
        e.into_iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn no_attribute_means_trace() {
        assert_eq!(field(parse_quote!(x: u32)).unwrap(), FieldMode::Trace);
        let o = type_options(&attrs(parse_quote!(
            struct S;
        )))
        .unwrap();
        assert!(o.unsafe_drop.is_none() && o.crate_path.is_none());
    }

    #[test]
    fn other_attributes_are_ignored() {
        let f: syn::Field = parse_quote!(#[serde(skip)] #[doc = "x"] x: u32);
        assert_eq!(field(f).unwrap(), FieldMode::Trace);
    }

    #[test]
    fn field_static_and_unsafe_skip() {
        let s = field(parse_quote!(#[trace(static)] x: String)).unwrap();
        assert!(s == FieldMode::Static);
        let u = field(parse_quote!(#[trace(unsafe_skip)] x: u32)).unwrap();
        assert!(u == FieldMode::UnsafeSkip);
    }

    #[test]
    fn field_options_conflict() {
        let e = field(parse_quote!(#[trace(static, unsafe_skip)] x: u32)).unwrap_err();
        assert!(err_text(e).contains("at most one"));
        let e = field(parse_quote!(#[trace(static)] #[trace(static)] x: u32)).unwrap_err();
        assert!(err_text(e).contains("at most one"));
    }

    #[test]
    fn unknown_field_option_is_an_error() {
        let e = field(parse_quote!(#[trace(unsafe_skp)] x: u32)).unwrap_err();
        let t = err_text(e);
        assert!(t.contains("unknown #[trace] option `unsafe_skp`"), "{t}");
    }

    #[test]
    fn every_bad_option_is_reported() {
        let e = field(parse_quote!(#[trace(a, b)] x: u32)).unwrap_err();
        assert_eq!(e.into_iter().count(), 2);
    }

    #[test]
    fn type_options_on_a_field_are_errors() {
        let e = field(parse_quote!(#[trace(unsafe_drop)] x: u32)).unwrap_err();
        assert!(err_text(e).contains("belongs on the type"));
    }

    #[test]
    fn field_options_on_a_type_are_errors() {
        let e = type_options(&attrs(parse_quote!(
            #[trace(static)]
            struct S;
        )));
        assert!(err_text(e.err().unwrap()).contains("belongs on a field"));
    }

    #[test]
    fn option_with_a_value_is_an_error() {
        assert!(field(parse_quote!(#[trace(static = true)] x: u32)).is_err());
        assert!(field(parse_quote!(#[trace] x: u32)).is_err());
    }

    #[test]
    fn type_unsafe_drop_and_crate() {
        let o = type_options(&attrs(parse_quote!(
            #[trace(unsafe_drop, needs_trace, crate = "::my::gc")]
            struct S;
        )))
        .unwrap();
        assert!(o.unsafe_drop.is_some() && o.needs_trace.is_some());
        let p = o.crate_path.unwrap();
        assert_eq!(p.to_token_stream().to_string(), ":: my :: gc");
    }

    #[test]
    fn crate_path_may_start_with_crate() {
        let o = type_options(&attrs(parse_quote!(
            #[trace(crate = "crate::gc")]
            struct S;
        )));
        assert!(o.unwrap().crate_path.is_some());
    }

    #[test]
    fn crate_path_must_be_a_path() {
        let e = type_options(&attrs(parse_quote!(
            #[trace(crate = "not a path")]
            struct S;
        )));
        assert!(err_text(e.err().unwrap()).contains("expected a path"));
        assert!(type_options(&attrs(parse_quote!(
            #[trace(crate = gc)]
            struct S;
        )))
        .is_err());
    }

    #[test]
    fn duplicate_type_options() {
        let e = type_options(&attrs(parse_quote!(
            #[trace(unsafe_drop, unsafe_drop)]
            struct S;
        )));
        assert!(err_text(e.err().unwrap()).contains("duplicate"));
    }

    #[test]
    fn unknown_type_option() {
        let e = type_options(&attrs(parse_quote!(
            #[trace(no_drop)]
            struct S;
        )));
        assert!(err_text(e.err().unwrap()).contains("unknown #[trace] option `no_drop` on a type"));
    }

    #[test]
    fn variant_options_are_refused() {
        let v: syn::Variant = parse_quote!(
            #[trace(static)]
            A(u32)
        );
        assert!(variant_options(&v.attrs).is_err());
        let v: syn::Variant = parse_quote!(
            #[doc = "ok"]
            A(u32)
        );
        assert!(variant_options(&v.attrs).is_ok());
    }
}
