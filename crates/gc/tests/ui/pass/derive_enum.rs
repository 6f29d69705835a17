// Enums of every variant shape derive `Trace`; every variant's pointers
// survive a collection.
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable, Trace};

#[derive(Trace)]
enum Expr<'gc> {
    Num(f64),
    Add(Gc<'gc, Expr<'gc>>, Gc<'gc, Expr<'gc>>),
    Neg { inner: Gc<'gc, Expr<'gc>> },
    Zero,
}

fn eval(e: &Expr<'_>) -> f64 {
    match e {
        Expr::Num(n) => *n,
        Expr::Add(a, b) => eval(a) + eval(b),
        Expr::Neg { inner } => -eval(inner),
        Expr::Zero => 0.0,
    }
}

#[derive(Trace)]
enum Empty {}

fn main() {
    assert!(<Expr<'static> as Trace>::NEEDS_TRACE);
    assert!(!<Empty as Trace>::NEEDS_TRACE);
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => Gc<'gc, Expr<'gc>>]> = heap.mutator(|mc| {
        let one = Gc::new(mc, Expr::Num(1.0));
        let two = Gc::new(mc, Expr::Num(2.0));
        let zero = Gc::new(mc, Expr::Zero);
        let sum = Gc::new(mc, Expr::Add(one, two));
        let sum = Gc::new(mc, Expr::Add(sum, zero));
        Gc::new(mc, Expr::Neg { inner: sum })
    });
    m.collect();
    m.mutate(|mc, _| {
        for _ in 0..1000 {
            Gc::new(mc, Expr::Num(9.0));
        }
    });
    m.collect();
    assert_eq!(m.mutate(|_, root| eval(root)), -3.0);
}
