//! Times two workloads in one process under each of Rhai's engine options:
//! the primes job's function (`scripts/jobs/primes.rhai`, `count_primes`)
//! over 0..N, arithmetic and loops in script; and "glue", N rounds of
//! native method calls (push, contains, len, a map set, a string built),
//! the kind of statement the data jobs' scripts are made of. Options:
//! optimisation levels None, Simple (Rhai's and mphost's default) and
//! Full, with the AST walker and, when built with `--features grain`, the
//! grain bytecode VM; `--features unchecked` builds Rhai without its
//! overflow and limit checks. Prints one line per option: the best and
//! median seconds of REPS runs, and the answer (the same for every option).
//!
//!     cargo run --release [--features grain|unchecked] -- [N] [REPS]

use std::time::Instant;

use rhai::{Dynamic, Engine, OptimizationLevel, Scope};

const JOB: &str = include_str!("../../../scripts/jobs/primes.rhai");

/// The job's `count_primes` function, as the script has it.
fn count_primes_source() -> &'static str {
    let start = JOB.find("fn count_primes").expect("primes.rhai has count_primes");
    let end = JOB[start..].find("\n}\n").expect("count_primes ends") + start + 3;
    &JOB[start..end]
}

/// The job's work in one process: the same ranges of 50,000 the pool hands
/// out, one after another.
fn driver(n: i64) -> String {
    format!(
        "{}\nlet total = 0; let lo = 0;
         while lo < {n} {{ total += count_primes([lo, min(lo + 50000, {n})]); lo += 50000; }}
         total",
        count_primes_source()
    )
}

/// Native calls, as a data script's glue makes them.
fn glue(n: i64) -> String {
    format!(
        "let a = []; let m = #{{}}; let s = \"north widget-01\";
         for i in 0..{n} {{ a.push(i); if s.contains(\"widget\") {{ m[`k${{i % 100}}`] = a.len(); }} }}
         m.len() + a.len()"
    )
}

fn time(reps: usize, mut run: impl FnMut() -> i64) -> (f64, f64, i64) {
    let mut secs = Vec::new();
    let mut count = 0;
    for _ in 0..reps {
        let t = Instant::now();
        count = run();
        secs.push(t.elapsed().as_secs_f64());
    }
    secs.sort_by(f64::total_cmp);
    (secs[0], secs[secs.len() / 2], count)
}

fn main() {
    let _ = (Dynamic::UNIT, Scope::new()); // used by the grain build only
    let mut args = std::env::args().skip(1);
    let n: i64 = args.next().map_or(1_000_000, |a| a.parse().expect("N"));
    let reps: usize = args.next().map_or(3, |a| a.parse().expect("REPS"));
    let build = if cfg!(feature = "unchecked") { "unchecked" } else { "default" };
    for (job, source) in [("primes", driver(n)), ("glue", glue(n))] {
        options(build, job, &source, reps);
    }
}

fn options(build: &str, job: &str, source: &str, reps: usize) {
    for (name, level) in [
        ("none", OptimizationLevel::None),
        ("simple", OptimizationLevel::Simple),
        ("full", OptimizationLevel::Full),
    ] {
        let mut engine = Engine::new();
        engine.set_optimization_level(level);
        let ast = engine.compile(source).expect("the driver compiles");
        let (best, median, count) = time(reps, || {
            engine.eval_ast::<i64>(&ast).expect("the driver runs")
        });
        println!("{job:6} {build:9} ast   opt {name:6}  best {best:.3} s  median {median:.3} s  answer {count}");
        #[cfg(feature = "grain")]
        {
            let program = rhai::grain::Compiler::new().compile(&ast);
            let residual = program.residual_count();
            let (best, median, count) = time(reps, || {
                let value: Dynamic = rhai::grain::Vm::new(&engine)
                    .eval_with_scope(&mut Scope::new(), &program)
                    .expect("the driver runs on grain");
                value.as_int().expect("an integer")
            });
            println!("{job:6} {build:9} grain opt {name:6}  best {best:.3} s  median {median:.3} s  answer {count}  (residual AST fragments: {residual})");
        }
    }
}
