// Generic types get a `T: Trace` bound per type parameter; `NEEDS_TRACE`
// follows the parameters. Lifetimes, const parameters and where-clauses
// pass through.
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable, Trace};

#[derive(Trace)]
struct Pair<T> {
    a: T,
    b: T,
}

#[derive(Trace)]
struct Many<'gc, T: Copy, const N: usize>
where
    T: Default,
{
    items: [T; N],
    extra: Option<Gc<'gc, u32>>,
}

#[derive(Trace)]
struct Unit;

#[derive(Trace)]
struct Tuple<'gc>(u8, Gc<'gc, u64>);

fn main() {
    assert!(!<Pair<u32> as Trace>::NEEDS_TRACE);
    assert!(<Pair<Gc<'static, u32>> as Trace>::NEEDS_TRACE);
    assert!(!<Unit as Trace>::NEEDS_TRACE);
    assert!(<Many<'static, u8, 4> as Trace>::NEEDS_TRACE);
    let heap = Heap::new(Config::default());
    type Root = Rootable!['gc => Pair<Gc<'gc, Tuple<'gc>>>];
    let mut m: Mutator<Root> = heap.mutator(|mc| Pair {
        a: Gc::new(mc, Tuple(1, Gc::new(mc, 10))),
        b: Gc::new(mc, Tuple(2, Gc::new(mc, 20))),
    });
    m.mutate(|mc, _| {
        let many = Gc::new(mc, Many { items: [7u8; 4], extra: Some(Gc::new(mc, 5)) });
        assert_eq!(many.items[3], 7);
        Gc::new(mc, Unit);
    });
    m.collect();
    assert_eq!(m.mutate(|_, r| *r.a.1 + *r.b.1 + u64::from(r.a.0 + r.b.0)), 33);
}
