//! The expansion: from a parsed type to its `Trace` and `MustNotImplDrop`
//! impls.
//!
//! Steps, for a type `Type<P..>` whose runtime crate is at `rt`:
//!
//! 1. Read the type's options (`attr.rs`) and refuse a union.
//! 2. Lay the type out as *shapes*: a struct is one shape whose pattern is
//!    `Self`; an enum is one shape per variant, `Self::Variant`. Each shape
//!    lists its fields with their [`FieldMode`].
//! 3. Generics: every type parameter `T` gains `T: rt::Trace`; every type
//!    parameter that occurs in a `#[trace(static)]` field's type gains
//!    `T: 'static + Send`. Field types get no bounds, so recursive types
//!    work.
//! 4. `NEEDS_TRACE` is `false || <F as rt::Trace>::NEEDS_TRACE || ..` over
//!    the traced fields' types (each term spanned at its field, so a field
//!    whose type is not `Trace` is the one the error points at);
//!    or `true` under `#[trace(needs_trace)]`, for types that contain
//!    themselves through an owning container (see the crate docs).
//! 5. `trace` asserts `F: 'static` and `F: Send` for every
//!    `#[trace(static)]` field (the crate docs say why `Send`), then
//!    matches `self` against each shape with braced patterns
//!    (`Self::V { 0: __trace_0, name: __trace_1, .. }` works for named,
//!    tuple and unit shapes alike) and calls `rt::Trace::trace` on each
//!    traced binding.
//! 6. Unless `#[trace(unsafe_drop)]`: `impl rt::__private::MustNotImplDrop
//!    for Type<P..> {}` with the type's own generics, which conflicts with
//!    the runtime's blanket `impl<T: Drop> MustNotImplDrop for T`.
//!
//! Why the `'static` check in step 5 is in the body rather than a
//! `where F: 'static` clause on the impl: a where-clause never fails at the
//! definition, it only narrows the impl. `#[trace(static)] x: Gc<'gc, u32>`
//! with `where Gc<'gc, u32>: 'static` would compile and merely make the type
//! `Trace` for `'gc = 'static` only; the mistake would surface far away, at
//! the first allocation, as a lifetime error. In the body, with only the
//! type parameters assumed `'static` (step 3), `Gc<'gc, u32>: 'static` is
//! checked for an arbitrary `'gc` and fails right at the field. `Send` is
//! checked the same way, for the same reason (a where-clause
//! `Rc<String>: Send` on a generic impl would only narrow it).

use crate::attr::{self, FieldMode};
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{parse_quote, Data, DeriveInput, Fields, Ident, Member, Path, Type};

/// One field of a shape.
struct Field<'a> {
    member: Member,
    ty: &'a Type,
    mode: FieldMode,
}

/// One way a value of the type can be laid out: the struct, or one variant.
struct Shape<'a> {
    /// `Self` or `Self::Variant`.
    pattern: TokenStream,
    fields: Vec<Field<'a>>,
}

/// Expands `#[derive(Trace)]` on `input`; `locate` finds the runtime crate
/// when the type does not name it with `#[trace(crate = "...")]`.
pub fn derive(input: &DeriveInput, locate: impl FnOnce() -> Path) -> syn::Result<TokenStream> {
    let (options, shapes) = match (attr::type_options(&input.attrs), shapes(input)) {
        (Ok(options), Ok(shapes)) => (options, shapes),
        (Err(mut e), Err(more)) => {
            e.combine(more);
            return Err(e);
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let rt = options.crate_path.unwrap_or_else(locate);
    let name = &input.ident;

    let fields = || shapes.iter().flat_map(|s| s.fields.iter());
    let traced = || fields().filter(|f| f.mode == FieldMode::Trace);

    // Step 3: generics of the `Trace` impl.
    let mut generics = input.generics.clone();
    let type_params: Vec<Ident> = generics.type_params().map(|p| p.ident.clone()).collect();
    for param in generics.type_params_mut() {
        param.bounds.push(parse_quote!(#rt::Trace));
    }
    let mut static_params: Vec<&Ident> = Vec::new();
    for f in fields().filter(|f| matches!(f.mode, FieldMode::Static)) {
        for p in &type_params {
            if mentions(f.ty.to_token_stream(), p) && !static_params.contains(&p) {
                static_params.push(p);
            }
        }
    }
    if !static_params.is_empty() {
        let where_clause = generics.make_where_clause();
        for p in static_params {
            where_clause
                .predicates
                .push(parse_quote!(#p: 'static + ::core::marker::Send));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    // Step 4.
    let needs_trace = if options.needs_trace.is_some() {
        quote!(true)
    } else {
        let terms = traced().map(|f| {
            let ty = f.ty;
            quote_spanned!(ty.span()=> || <#ty as #rt::Trace>::NEEDS_TRACE)
        });
        quote!(false #(#terms)*)
    };

    // Step 5.
    let static_checks: Vec<TokenStream> = fields()
        .filter_map(|f| match f.mode {
            FieldMode::Static => {
                let ty = f.ty;
                Some(quote_spanned! {ty.span()=>
                    __trace_assert_static::<#ty>();
                    __trace_assert_send::<#ty>();
                })
            }
            _ => None,
        })
        .collect();
    let static_checks = (!static_checks.is_empty()).then(|| {
        quote! {
            // `#[trace(static)]` fields are not traced: prove they cannot
            // hold a `Gc` by proving their types outlive every `'gc`, and
            // that the sweeper may drop them on its own thread.
            fn __trace_assert_static<T: ?::core::marker::Sized + 'static>() {}
            fn __trace_assert_send<T: ?::core::marker::Sized + ::core::marker::Send>() {}
            #(#static_checks)*
        }
    });
    let tracer = if traced().next().is_some() {
        quote!(tracer)
    } else {
        quote!(_tracer)
    };
    let arms = shapes.iter().map(|shape| {
        let pattern = &shape.pattern;
        let mut bindings = Vec::new();
        let mut calls = Vec::new();
        for (i, f) in shape.fields.iter().enumerate() {
            if f.mode != FieldMode::Trace {
                continue;
            }
            let member = &f.member;
            let binding = format_ident!("__trace_{}", i);
            bindings.push(quote!(#member: #binding));
            let ty = f.ty;
            calls.push(quote_spanned!(ty.span()=> <#ty as #rt::Trace>::trace(#binding, tracer);));
        }
        quote!(#pattern { #(#bindings,)* .. } => { #(#calls)* })
    });
    let body = match &input.data {
        Data::Enum(e) if e.variants.is_empty() => quote!(match *self {}),
        _ => quote!(match self { #(#arms)* }),
    };

    let trace_impl = quote! {
        #[automatically_derived]
        // SAFETY: `trace` reports every field except those marked
        // `#[trace(static)]` (whose types are proved `'static` above, so
        // they hold no `Gc`) and `#[trace(unsafe_skip)]` (the user's
        // promise); `NEEDS_TRACE` is true iff a traced field's type needs it.
        unsafe impl #impl_generics #rt::Trace for #name #ty_generics #where_clause {
            const NEEDS_TRACE: bool = #needs_trace;

            #[inline]
            fn trace(&self, #tracer: &mut #rt::Tracer) {
                #static_checks
                #body
            }
        }
    };

    // Step 6.
    let drop_guard = if options.unsafe_drop.is_some() {
        TokenStream::new()
    } else {
        let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
        quote! {
            // A `Drop` impl on this type conflicts with the runtime's
            // `impl<T: Drop> MustNotImplDrop for T`. See the crate docs of
            // `tricolor-derive` for why, and `#[trace(unsafe_drop)]`.
            #[automatically_derived]
            impl #impl_generics #rt::__private::MustNotImplDrop
                for #name #ty_generics #where_clause {}
        }
    };

    Ok(quote!(#trace_impl #drop_guard))
}

/// Step 2: the type's shapes, with each field's options parsed. Errors from
/// every field are reported together.
fn shapes(input: &DeriveInput) -> syn::Result<Vec<Shape<'_>>> {
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let shapes = match &input.data {
        Data::Struct(s) => vec![Shape {
            pattern: quote!(Self),
            fields: fields_of(&s.fields, &mut push),
        }],
        Data::Enum(e) => e
            .variants
            .iter()
            .map(|v| {
                if let Err(err) = attr::variant_options(&v.attrs) {
                    push(err);
                }
                let ident = &v.ident;
                Shape {
                    pattern: quote!(Self::#ident),
                    fields: fields_of(&v.fields, &mut push),
                }
            })
            .collect(),
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span,
                "#[derive(Trace)] cannot be used on a union: the collector cannot tell which \
                 field is live, so it cannot trace it; use an enum, or write \
                 `unsafe impl Trace` by hand",
            ))
        }
    };
    match errors {
        Some(e) => Err(e),
        None => Ok(shapes),
    }
}

/// The fields of one shape, with their options parsed; a field whose
/// options are bad is reported through `push` and treated as traced.
fn fields_of<'a>(fields: &'a Fields, push: &mut dyn FnMut(syn::Error)) -> Vec<Field<'a>> {
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| Field {
            member: match &f.ident {
                Some(ident) => Member::Named(ident.clone()),
                None => Member::Unnamed(syn::Index {
                    index: i as u32,
                    span: Span::call_site(),
                }),
            },
            ty: &f.ty,
            mode: attr::field_mode(&f.attrs).unwrap_or_else(|e| {
                push(e);
                FieldMode::Trace
            }),
        })
        .collect()
}

/// Whether the token stream mentions the identifier `ident` anywhere,
/// including inside groups (`Vec<(T, u8)>`) and macro invocations. Used to
/// find the type parameters a `#[trace(static)]` field depends on; a false
/// positive (a path segment that happens to be spelled like a parameter)
/// only adds a harmless `T: 'static + Send` bound.
fn mentions(tokens: TokenStream, ident: &Ident) -> bool {
    tokens.into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == *ident,
        TokenTree::Group(g) => mentions(g.stream(), ident),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(input: DeriveInput) -> syn::Result<String> {
        derive(&input, || parse_quote!(::rt)).map(|t| t.to_string())
    }

    fn err(input: DeriveInput) -> String {
        expand(input).unwrap_err().to_string()
    }

    #[test]
    fn union_is_refused() {
        assert!(err(parse_quote!(union U { a: u32, b: f32 })).contains("cannot be used on a union"));
    }

    #[test]
    fn drop_guard_unless_unsafe_drop() {
        let out = expand(parse_quote!(
            struct S {
                a: u32,
            }
        ))
        .unwrap();
        assert!(out.contains("MustNotImplDrop"));
        let out = expand(parse_quote!(
            #[trace(unsafe_drop)]
            struct S {
                a: u32,
            }
        ))
        .unwrap();
        assert!(!out.contains("MustNotImplDrop"));
    }

    #[test]
    fn no_traced_fields_means_false_and_no_calls() {
        let out = expand(parse_quote!(
            struct S {
                #[trace(unsafe_skip)]
                a: u32,
            }
        ))
        .unwrap();
        assert!(out.contains("const NEEDS_TRACE : bool = false ;"), "{out}");
        assert!(!out.contains(":: trace ("), "{out}");
        assert!(out.contains("_tracer"), "{out}");
    }

    #[test]
    fn every_traced_field_is_traced() {
        let out = expand(parse_quote!(
            enum E<'gc, T> {
                A(u8, T),
                B { x: Gc<'gc, T> },
                C,
            }
        ))
        .unwrap();
        assert!(
            out.contains("Self :: A { 0 : __trace_0 , 1 : __trace_1 , .. }"),
            "{out}"
        );
        assert!(out.contains("Self :: B { x : __trace_0 , .. }"), "{out}");
        assert!(out.contains("Self :: C { .. } => { }"), "{out}");
        assert_eq!(out.matches(":: trace (__trace_").count(), 3, "{out}");
        assert!(out.contains("T : :: rt :: Trace"), "{out}");
    }

    #[test]
    fn field_types_get_no_bounds() {
        // A bound such as `Option<Gc<'gc, Node<'gc>>>: Trace` on the impl
        // would make recursive types unprovable.
        let out = expand(parse_quote!(
            struct Node<'gc> {
                next: Option<Gc<'gc, Node<'gc>>>,
            }
        ))
        .unwrap();
        assert!(!out.contains("where"), "{out}");
    }

    #[test]
    fn static_field_bounds_its_type_params_and_asserts() {
        let out = expand(parse_quote!(
            struct S<'gc, T, U> {
                #[trace(static)]
                a: Vec<(T, u8)>,
                b: U,
                c: Gc<'gc, U>,
            }
        ))
        .unwrap();
        assert!(
            out.contains("where T : 'static + :: core :: marker :: Send"),
            "{out}"
        );
        assert!(!out.contains("U : 'static"), "{out}");
        assert!(
            out.contains("__trace_assert_static :: < Vec < (T , u8) > > ()"),
            "{out}"
        );
        assert!(
            out.contains("__trace_assert_send :: < Vec < (T , u8) > > ()"),
            "{out}"
        );
        // `a` is neither traced nor counted.
        assert!(
            !out.contains("< Vec < (T , u8) > as :: rt :: Trace >"),
            "{out}"
        );
    }

    #[test]
    fn needs_trace_option_forces_true() {
        let out = expand(parse_quote!(
            #[trace(needs_trace)]
            struct L {
                next: Option<Box<L>>,
            }
        ))
        .unwrap();
        assert!(out.contains("const NEEDS_TRACE : bool = true ;"), "{out}");
        assert!(out.contains(":: trace (__trace_0 , tracer)"), "{out}");
    }

    #[test]
    fn crate_override() {
        let out = derive(
            &parse_quote!(
                #[trace(crate = "my::gc")]
                struct S;
            ),
            || panic!("must not look up the runtime when overridden"),
        )
        .unwrap()
        .to_string();
        assert!(out.contains("my :: gc :: Trace"), "{out}");
    }

    #[test]
    fn empty_enum_matches_nothing() {
        let out = expand(parse_quote!(
            enum Never {}
        ))
        .unwrap();
        assert!(out.contains("match * self { }"), "{out}");
    }

    #[test]
    fn errors_from_all_fields_are_reported() {
        let e = expand(parse_quote!(
            enum E {
                #[trace(x)]
                A(#[trace(y)] u8),
                B {
                    #[trace(z)]
                    b: u8,
                },
            }
        ));
        assert_eq!(e.unwrap_err().into_iter().count(), 3);
    }

    #[test]
    fn type_and_field_errors_are_reported_together() {
        let e = expand(parse_quote!(
            #[trace(a)]
            struct S {
                #[trace(b)]
                x: u8,
            }
        ));
        assert_eq!(e.unwrap_err().into_iter().count(), 2);
    }

    #[test]
    fn mentions_finds_nested_idents() {
        let t: Ident = parse_quote!(T);
        assert!(mentions(quote!(Vec<(u8, [T; 3])>), &t));
        assert!(mentions(quote!(m!(T)), &t));
        assert!(!mentions(quote!(Vec<Tx>), &t));
    }
}
