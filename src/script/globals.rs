//! What a worker inherits from the process that started it: the values of the
//! top-level `const`s (read in functions as `global::NAME`) and the modules
//! imported (`import "m" as m;`), as they were at that moment.
//!
//! `capture` reads them from the running interpreter when a process or pool
//! is made; they travel in the request as `wire::Globals`. In the worker,
//! `prelude` writes a small top level that imports the same modules again and
//! declares the same constants (taking their values from `inherited`), then
//! calls the worker's entry point, so its functions run where `global::` and
//! the modules resolve as in the parent. The script's own top level is not
//! run again.

use std::cell::RefCell;
use std::fmt::Write;

use rhai::{Dynamic, Engine, EvalAltResult, INT, NativeCallContext};
use rhai::{EvalContext, GlobalRuntimeState};

use super::convert::{followed, from_wire, to_wire};
use super::script_error;
use crate::wire::{Globals, Value};

thread_local! {
    /// The constants and import paths this worker was started with.
    static INHERITED: RefCell<(Vec<Dynamic>, Vec<String>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The name of the native function the prelude ends by calling.
pub const WORKER_ENTRY: &str = "__mphost_worker";

/// The constants and modules visible to the interpreter now. Constants whose
/// value cannot cross processes are left out (`global::NAME` is then "not
/// found" in the worker), as are modules that were not loaded from a path.
/// The hub follows the handles in the constants (a child or worker is
/// handed them when it starts).
pub fn capture(global: &GlobalRuntimeState) -> Globals {
    let constants = followed(|| constants(global));
    let mut imports: Vec<(String, String)> = global
        .iter_imports_raw()
        // `import "m";` (no alias) only ran the module: nothing to name.
        .filter(|(alias, _)| !alias.is_empty())
        .filter_map(|(alias, module)| Some((alias.to_string(), module.id()?.to_string())))
        .collect();
    // Newest first as Rhai lists them: import in the original order so a
    // later import of the same alias still wins.
    imports.reverse();
    Globals { constants, imports }
}

/// The top-level constants that can cross processes, as values.
fn constants(global: &GlobalRuntimeState) -> Vec<(String, Value)> {
    let Some(shared) = global.constants.as_ref() else {
        return Vec::new();
    };
    shared
        .borrow()
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), to_wire(value).ok()?)))
        .collect()
}

pub fn capture_native(context: &NativeCallContext) -> Globals {
    capture(context.global_runtime_state())
}

pub fn capture_eval(context: &EvalContext) -> Globals {
    capture(context.global_runtime_state())
}

/// The top level a worker runs: imports, constants, then its entry point.
/// Makes `globals` what the prelude's `inherited` calls hand out.
pub fn prelude(globals: Globals) -> String {
    let mut source = String::new();
    for (i, (alias, _)) in globals.imports.iter().enumerate() {
        let _ = writeln!(source, "import __mphost_inherited_import({i}) as {alias};");
    }
    for (i, (name, _)) in globals.constants.iter().enumerate() {
        let _ = writeln!(source, "const {name} = __mphost_inherited({i});");
    }
    source.push_str(WORKER_ENTRY);
    source.push_str("()");
    let values = globals
        .constants
        .into_iter()
        .map(|(_, v)| from_wire(v))
        .collect();
    let paths = globals.imports.into_iter().map(|(_, path)| path).collect();
    INHERITED.with(|i| *i.borrow_mut() = (values, paths));
    source
}

/// Item `index` of what `pick` chooses from the inherited values.
fn nth<T: Clone>(
    index: INT,
    what: &str,
    pick: impl Fn(&(Vec<Dynamic>, Vec<String>)) -> &Vec<T>,
) -> Result<T, Box<EvalAltResult>> {
    INHERITED.with(|i| {
        let i = i.borrow();
        usize::try_from(index)
            .ok()
            .and_then(|index| pick(&i).get(index).cloned())
            .ok_or_else(|| script_error(format!("no inherited {what} here")))
    })
}

fn inherited(index: INT) -> Result<Dynamic, Box<EvalAltResult>> {
    nth(index, "constant", |i| &i.0)
}

fn inherited_import(index: INT) -> Result<String, Box<EvalAltResult>> {
    nth(index, "module", |i| &i.1)
}

pub fn register(engine: &mut Engine) {
    engine.register_fn("__mphost_inherited", inherited);
    engine.register_fn("__mphost_inherited_import", inherited_import);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Value;

    #[test]
    fn the_prelude_imports_then_declares_then_enters() {
        let globals = Globals {
            constants: vec![("LIMIT".into(), Value::Int(3))],
            imports: vec![("par".into(), "parallel".into())],
        };
        assert_eq!(
            prelude(globals),
            "import __mphost_inherited_import(0) as par;\n\
             const LIMIT = __mphost_inherited(0);\n\
             __mphost_worker()"
        );
        assert_eq!(inherited(0).unwrap().as_int(), Ok(3));
        assert_eq!(inherited_import(0).unwrap(), "parallel");
        assert!(inherited(1).is_err());
    }
}
