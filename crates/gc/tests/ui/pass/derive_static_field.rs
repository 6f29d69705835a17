// `#[trace(static)]` leaves a `'static + Send` field untraced (the type
// need not be `Trace`); `NEEDS_TRACE` ignores it.
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable, Trace};

/// Not `Trace`, and holds no `Gc`.
struct Opaque(String);

#[derive(Trace)]
struct Named<'gc> {
    #[trace(static)]
    name: String,
    #[trace(static)]
    opaque: Opaque,
    value: Gc<'gc, u32>,
}

#[derive(Trace)]
struct OnlyStatic<T> {
    #[trace(static)]
    items: Vec<T>,
}

fn main() {
    assert!(<Named<'static> as Trace>::NEEDS_TRACE);
    assert!(!<OnlyStatic<String> as Trace>::NEEDS_TRACE);
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => Gc<'gc, Named<'gc>>]> = heap.mutator(|mc| {
        Gc::new(mc, Named { name: "root".into(), opaque: Opaque("x".into()), value: Gc::new(mc, 7) })
    });
    m.collect();
    m.mutate(|mc, root| {
        assert_eq!(root.name, "root");
        assert_eq!(root.opaque.0, "x");
        assert_eq!(*root.value, 7);
        let o = Gc::new(mc, OnlyStatic { items: vec![String::from("y")] });
        assert_eq!(o.items[0], "y");
    });
}
