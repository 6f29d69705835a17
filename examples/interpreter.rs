//! An interpreter-shaped program on the collected heap: a small Scheme whose
//! pairs, environments and closures are `Gc` objects.
//!
//! It shows what an embedding looks like: the interpreter's state (the
//! global environment and the parsed program) is the mutator's root object;
//! each top-level form runs in one mutation scope, so every scope boundary is
//! a safepoint where the collector may run; closures capture environments
//! that refer back to the closures (cycles), and the program builds a
//! circular list on purpose. The loop at the bottom runs the program many
//! times and prints what the collector did.
//!
//! Usage: `interpreter [rounds]` (default 200).

use std::collections::HashMap;
use tricolor::gc::{Config, Gc, Heap, Lock, Mutation, RefLock, Rootable, Trace};

/// A value: immediates, or a pointer into the heap.
#[derive(Trace, Clone, Copy)]
enum Value<'gc> {
    Nil,
    Int(i64),
    Bool(bool),
    Sym(u32),
    Pair(Gc<'gc, Pair<'gc>>),
    Closure(Gc<'gc, Closure<'gc>>),
    Builtin(Builtin),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Builtin {
    Add,
    Sub,
    Mul,
    Lt,
    Eq,
    Cons,
    Car,
    Cdr,
    SetCdr,
    IsNull,
}

// SAFETY: a builtin holds no `Gc`.
unsafe impl Trace for Builtin {
    const NEEDS_TRACE: bool = false;
    fn trace(&self, _: &mut tricolor::gc::Tracer) {}
}

#[derive(Trace)]
struct Pair<'gc> {
    car: Lock<Value<'gc>>,
    cdr: Lock<Value<'gc>>,
}

#[derive(Trace)]
struct Env<'gc> {
    vars: RefLock<Vec<(u32, Value<'gc>)>>,
    parent: Option<Gc<'gc, Env<'gc>>>,
}

#[derive(Trace)]
struct Closure<'gc> {
    params: Vec<u32>,
    body: Value<'gc>,
    env: Gc<'gc, Env<'gc>>,
}

/// The root: the global environment and the parsed program's forms.
#[derive(Trace)]
struct Interp<'gc> {
    global: Gc<'gc, Env<'gc>>,
    forms: Vec<Value<'gc>>,
}

/// Symbol names (outside the heap: they are never collected).
#[derive(Default)]
struct Symbols {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Symbols {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_owned());
        self.ids.insert(s.to_owned(), i);
        i
    }
}

fn cons<'gc>(mc: &Mutation<'gc>, a: Value<'gc>, b: Value<'gc>) -> Value<'gc> {
    Value::Pair(Gc::new(
        mc,
        Pair {
            car: Lock::new(a),
            cdr: Lock::new(b),
        },
    ))
}

/// Parse every form of `src` into heap values.
fn parse<'gc>(mc: &Mutation<'gc>, syms: &mut Symbols, src: &str) -> Vec<Value<'gc>> {
    let spaced = src
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace('\'', " ' ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut pos = 0;
    let mut forms = Vec::new();
    while pos < tokens.len() {
        forms.push(parse_one(mc, syms, &tokens, &mut pos));
    }
    forms
}

fn parse_one<'gc>(
    mc: &Mutation<'gc>,
    syms: &mut Symbols,
    t: &[&str],
    pos: &mut usize,
) -> Value<'gc> {
    let tok = t[*pos];
    *pos += 1;
    match tok {
        "(" => {
            let mut items = Vec::new();
            while t[*pos] != ")" {
                items.push(parse_one(mc, syms, t, pos));
            }
            *pos += 1;
            items
                .into_iter()
                .rev()
                .fold(Value::Nil, |acc, v| cons(mc, v, acc))
        }
        "'" => {
            let quoted = parse_one(mc, syms, t, pos);
            let q = Value::Sym(syms.intern("quote"));
            cons(mc, q, cons(mc, quoted, Value::Nil))
        }
        "#t" => Value::Bool(true),
        "#f" => Value::Bool(false),
        _ => match tok.parse::<i64>() {
            Ok(n) => Value::Int(n),
            Err(_) => Value::Sym(syms.intern(tok)),
        },
    }
}

fn car<'gc>(v: Value<'gc>) -> Value<'gc> {
    match v {
        Value::Pair(p) => p.car.get(),
        _ => panic!("car of a non-pair"),
    }
}

fn cdr<'gc>(v: Value<'gc>) -> Value<'gc> {
    match v {
        Value::Pair(p) => p.cdr.get(),
        _ => panic!("cdr of a non-pair"),
    }
}

fn list<'gc>(mut v: Value<'gc>) -> Vec<Value<'gc>> {
    let mut out = Vec::new();
    while let Value::Pair(p) = v {
        out.push(p.car.get());
        v = p.cdr.get();
    }
    out
}

fn lookup<'gc>(env: Gc<'gc, Env<'gc>>, sym: u32, syms: &Symbols) -> Value<'gc> {
    let mut e = Some(env);
    while let Some(env) = e {
        if let Some(&(_, v)) = env.vars.borrow().iter().find(|(s, _)| *s == sym) {
            return v;
        }
        e = env.parent;
    }
    panic!("unbound symbol {}", syms.names[sym as usize])
}

fn define<'gc>(mc: &Mutation<'gc>, env: Gc<'gc, Env<'gc>>, sym: u32, v: Value<'gc>) {
    let mut vars = env.vars.borrow_mut(mc);
    match vars.iter_mut().find(|(s, _)| *s == sym) {
        Some(slot) => slot.1 = v,
        None => vars.push((sym, v)),
    }
}

fn set<'gc>(mc: &Mutation<'gc>, env: Gc<'gc, Env<'gc>>, sym: u32, v: Value<'gc>) {
    let mut e = Some(env);
    while let Some(env) = e {
        if env.vars.borrow().iter().any(|(s, _)| *s == sym) {
            return define(mc, env, sym, v);
        }
        e = env.parent;
    }
    panic!("set! of an unbound symbol");
}

struct Forms {
    quote: u32,
    if_: u32,
    define: u32,
    set: u32,
    lambda: u32,
    let_: u32,
    begin: u32,
}

fn eval<'gc>(
    mc: &Mutation<'gc>,
    k: &Forms,
    syms: &Symbols,
    x: Value<'gc>,
    env: Gc<'gc, Env<'gc>>,
) -> Value<'gc> {
    match x {
        Value::Sym(s) => lookup(env, s, syms),
        Value::Pair(_) => {
            let head = car(x);
            let args = list(cdr(x));
            if let Value::Sym(s) = head {
                if s == k.quote {
                    return args[0];
                } else if s == k.if_ {
                    let c = eval(mc, k, syms, args[0], env);
                    let branch = if matches!(c, Value::Bool(false)) {
                        args[2]
                    } else {
                        args[1]
                    };
                    return eval(mc, k, syms, branch, env);
                } else if s == k.define {
                    // (define name value) or (define (name params...) body)
                    let (name, v) = match args[0] {
                        Value::Sym(n) => (n, eval(mc, k, syms, args[1], env)),
                        sig => {
                            let Value::Sym(n) = car(sig) else {
                                panic!("bad define")
                            };
                            let params = list(cdr(sig)).into_iter().map(sym_id).collect();
                            (
                                n,
                                Value::Closure(Gc::new(
                                    mc,
                                    Closure {
                                        params,
                                        body: args[1],
                                        env,
                                    },
                                )),
                            )
                        }
                    };
                    define(mc, env, name, v);
                    return Value::Nil;
                } else if s == k.set {
                    let v = eval(mc, k, syms, args[1], env);
                    set(mc, env, sym_id(args[0]), v);
                    return Value::Nil;
                } else if s == k.lambda {
                    let params = list(args[0]).into_iter().map(sym_id).collect();
                    return Value::Closure(Gc::new(
                        mc,
                        Closure {
                            params,
                            body: args[1],
                            env,
                        },
                    ));
                } else if s == k.let_ {
                    let vars = list(args[0])
                        .into_iter()
                        .map(|b| (sym_id(car(b)), eval(mc, k, syms, car(cdr(b)), env)))
                        .collect();
                    let inner = Gc::new(
                        mc,
                        Env {
                            vars: RefLock::new(vars),
                            parent: Some(env),
                        },
                    );
                    return eval_body(mc, k, syms, &args[1..], inner);
                } else if s == k.begin {
                    return eval_body(mc, k, syms, &args, env);
                }
            }
            let f = eval(mc, k, syms, head, env);
            let vals: Vec<Value<'gc>> = args.iter().map(|&a| eval(mc, k, syms, a, env)).collect();
            apply(mc, k, syms, f, &vals)
        }
        v => v,
    }
}

fn eval_body<'gc>(
    mc: &Mutation<'gc>,
    k: &Forms,
    syms: &Symbols,
    body: &[Value<'gc>],
    env: Gc<'gc, Env<'gc>>,
) -> Value<'gc> {
    body.iter()
        .fold(Value::Nil, |_, &x| eval(mc, k, syms, x, env))
}

fn sym_id(v: Value<'_>) -> u32 {
    match v {
        Value::Sym(s) => s,
        _ => panic!("expected a symbol"),
    }
}

fn int(v: Value<'_>) -> i64 {
    match v {
        Value::Int(n) => n,
        _ => panic!("expected an integer"),
    }
}

fn apply<'gc>(
    mc: &Mutation<'gc>,
    k: &Forms,
    syms: &Symbols,
    f: Value<'gc>,
    a: &[Value<'gc>],
) -> Value<'gc> {
    match f {
        Value::Builtin(b) => match b {
            Builtin::Add => Value::Int(a.iter().map(|&v| int(v)).sum()),
            Builtin::Sub => Value::Int(int(a[0]) - int(a[1])),
            Builtin::Mul => Value::Int(int(a[0]) * int(a[1])),
            Builtin::Lt => Value::Bool(int(a[0]) < int(a[1])),
            Builtin::Eq => Value::Bool(int(a[0]) == int(a[1])),
            Builtin::Cons => cons(mc, a[0], a[1]),
            Builtin::Car => car(a[0]),
            Builtin::Cdr => cdr(a[0]),
            Builtin::SetCdr => {
                let Value::Pair(p) = a[0] else {
                    panic!("set-cdr! of a non-pair")
                };
                p.cdr.set(mc, a[1]);
                Value::Nil
            }
            Builtin::IsNull => Value::Bool(matches!(a[0], Value::Nil)),
        },
        Value::Closure(c) => {
            let vars = c.params.iter().copied().zip(a.iter().copied()).collect();
            let env = Gc::new(
                mc,
                Env {
                    vars: RefLock::new(vars),
                    parent: Some(c.env),
                },
            );
            eval(mc, k, syms, c.body, env)
        }
        _ => panic!("not a function"),
    }
}

const PROGRAM: &str = "
(define (make-list n acc) (if (= n 0) acc (make-list (- n 1) (cons n acc))))
(define (sum l) (if (null? l) 0 (+ (car l) (sum (cdr l)))))
(define (make-counter) (let ((n 0)) (lambda () (begin (set! n (+ n 1)) n))))
(define counter (make-counter))
(define ring (cons 1 (cons 2 (cons 3 '()))))
(set-cdr! (cdr (cdr ring)) ring)
(define (ring-sum r k) (if (= k 0) 0 (+ (car r) (ring-sum (cdr r) (- k 1)))))
(define (churn i total) (if (= i 0) total (churn (- i 1) (+ total (sum (make-list 200 '()))))))
(churn 50 0)
(ring-sum ring 30)
(counter)
";

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let mut syms = Symbols::default();
    let k = Forms {
        quote: syms.intern("quote"),
        if_: syms.intern("if"),
        define: syms.intern("define"),
        set: syms.intern("set!"),
        lambda: syms.intern("lambda"),
        let_: syms.intern("let"),
        begin: syms.intern("begin"),
    };
    let builtins = [
        ("+", Builtin::Add),
        ("-", Builtin::Sub),
        ("*", Builtin::Mul),
        ("<", Builtin::Lt),
        ("=", Builtin::Eq),
        ("cons", Builtin::Cons),
        ("car", Builtin::Car),
        ("cdr", Builtin::Cdr),
        ("set-cdr!", Builtin::SetCdr),
        ("null?", Builtin::IsNull),
    ]
    .map(|(n, b)| (syms.intern(n), b));

    let heap = Heap::new(Config::default());
    let mut m = heap.mutator::<Rootable!['gc => Interp<'gc>]>(|mc| {
        // Values carry the scope's brand, so they are made inside it.
        let vars = builtins
            .iter()
            .map(|&(s, b)| (s, Value::Builtin(b)))
            .collect();
        let global = Gc::new(
            mc,
            Env {
                vars: RefLock::new(vars),
                parent: None,
            },
        );
        let forms = parse(mc, &mut syms, PROGRAM);
        Interp { global, forms }
    });

    let nforms = m.mutate(|_, root| root.forms.len());
    let mut last = Vec::new();
    for round in 0..rounds {
        last.clear();
        for i in 0..nforms {
            // One scope per top-level form: the end of each is a safepoint.
            let r = m.mutate(
                |mc, root| match eval(mc, &k, &syms, root.forms[i], root.global) {
                    Value::Int(n) => Some(n),
                    _ => None,
                },
            );
            last.extend(r);
        }
        if round % 50 == 49 {
            m.collect();
        }
    }
    // churn: 50 × sum(1..=200) = 1005000; ring-sum over 30 steps of 1,2,3 =
    // 60; the counter is made anew each round and called once.
    println!("results of the last round: {last:?}");
    assert_eq!(
        last,
        vec![1_005_000, 60, 1],
        "the interpreter computed a wrong result"
    );
    let s = heap.stats();
    println!(
        "{} cycles, live {} KiB in {} objects, heap {} KiB, pause max {:?}, total {:?}",
        s.cycles,
        s.live_bytes >> 10,
        s.live_objects,
        s.heap_bytes >> 10,
        s.pause_max,
        s.pause_total
    );
}
