//! Where `import "name" as m;` finds a module: first the file `name.rhai`
//! relative to the script's folder, then a module of the standard library
//! that ships inside the binary (`stdlib/*.rhai`).
//!
//! A file that is being loaded cannot be imported again before it is done:
//! the script itself (a script named like a stdlib module importing it) or
//! a module on an import cycle is a one-line error, not an endless
//! recursion.
//!
//! A module's functions, closures included, can be sent to a worker: the
//! resolver keeps each loaded module's function definitions, and a worker,
//! which imports the same modules again, runs with those definitions beside
//! the script's own (`functions_of`), so a name a worker is sent resolves.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rhai::{AST, Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

/// The standard library: each module's name and source.
pub const STDLIB: &[(&str, &str)] = &[
    ("parallel", include_str!("../../stdlib/parallel.rhai")),
    ("files", include_str!("../../stdlib/files.rhai")),
];

/// Every module this process has loaded, by the path it was imported as.
#[derive(Default)]
struct Loaded {
    modules: HashMap<String, Shared<Module>>,
    /// Each module's function definitions only.
    functions: HashMap<String, AST>,
    /// The parameter count of every module function, by name (first wins).
    arities: HashMap<String, usize>,
}

thread_local! {
    static LOADED: RefCell<Loaded> = RefCell::new(Loaded::default());
    /// Module sources a cluster's worker was sent with, by the path they
    /// are imported as: found before any file.
    static SHIPPED: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
    /// The module files being loaded now, outermost first.
    static LOADING: RefCell<Vec<PathBuf>> = const { RefCell::new(Vec::new()) };
}

/// A cluster's worker runs far from the script's folder: `modules` (path
/// as imported, source) are what its imports find first.
pub fn use_shipped(modules: Vec<(String, String)>) {
    SHIPPED.with(|s| s.borrow_mut().extend(modules));
}

/// The sources of the file modules imported as `paths` from `script_dir`,
/// and of those they import in turn (found by their `import "..."`
/// lines), to send to a worker on another host; the standard library's
/// and unreadable ones are left out (the worker has the one, and reports
/// the other as it would here).
pub fn sources_for(script_dir: &Path, paths: &[String]) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    let mut todo: Vec<String> = paths.to_vec();
    while let Some(path) = todo.pop() {
        if found.iter().any(|(p, _)| *p == path) {
            continue;
        }
        let Ok(source) = std::fs::read_to_string(module_file(script_dir, &path)) else {
            continue;
        };
        todo.extend(imported_paths(&source));
        found.push((path, source));
    }
    found
}

/// The paths a source imports with string literals (`import "x" as y;`).
fn imported_paths(source: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("import") {
        rest = &rest[at + "import".len()..];
        let quoted = rest.trim_start().strip_prefix('"');
        if let Some((path, _)) = quoted.and_then(|q| q.split_once('"')) {
            paths.push(path.to_string());
        }
    }
    paths
}

/// The file a module imported as `path` is read from.
fn module_file(script_dir: &Path, path: &str) -> PathBuf {
    let mut file = script_dir.join(path);
    if file.extension().is_none_or(|e| e != "rhai") {
        file.as_mut_os_string().push(".rhai");
    }
    file
}

/// The number of parameters of a function defined in a loaded module.
pub fn module_function_arity(name: &str) -> Option<usize> {
    LOADED.with(|l| l.borrow().arities.get(name).copied())
}

/// A closure defined in a loaded module, as a function value. (It can be
/// called where the module's functions are part of the running script, as
/// in a worker; elsewhere calling it is a "function not found" error.)
pub fn module_closure(name: &str) -> Option<rhai::FnPtr> {
    LOADED.with(|l| {
        l.borrow()
            .functions
            .values()
            .find_map(|ast| ast.iter_fn_def().find(|def| def.name == name).cloned())
            .map(rhai::FnPtr::from)
    })
}

/// The function definitions of the modules imported as `paths`, loading
/// them if needed, merged in order.
pub fn functions_of(engine: &Engine, paths: &[String]) -> Result<AST, Box<EvalAltResult>> {
    let mut all = AST::empty();
    for path in paths {
        engine
            .module_resolver()
            .resolve(engine, None, path, Position::NONE)?;
        if let Some(functions) = LOADED.with(|l| l.borrow().functions.get(path).cloned()) {
            all = all.merge(&functions);
        }
    }
    Ok(all)
}

pub struct Resolver {
    script_dir: PathBuf,
    /// The running script's own file, as the OS names it.
    script: Option<PathBuf>,
}

/// The same file whatever path led to it.
fn canonical(file: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(file).ok()
}

impl Resolver {
    /// Resolves file modules relative to `script_dir`, for the script `script`.
    pub fn new(script_dir: &Path, script: &Path) -> Resolver {
        Resolver {
            script_dir: script_dir.to_path_buf(),
            script: canonical(script),
        }
    }

    /// The module's source, and its file if it is one (else the stdlib's).
    fn source(
        &self,
        path: &str,
        pos: Position,
    ) -> Result<(String, Option<PathBuf>), Box<EvalAltResult>> {
        if let Some(source) = SHIPPED.with(|s| s.borrow().get(path).cloned()) {
            return Ok((source, None));
        }
        let file = module_file(&self.script_dir, path);
        match std::fs::read_to_string(&file) {
            Ok(source) => Ok((source, canonical(&file))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => STDLIB
                .iter()
                .find(|(name, _)| *name == path)
                .map(|(_, source)| (source.to_string(), None))
                .ok_or_else(|| Box::new(EvalAltResult::ErrorModuleNotFound(path.to_string(), pos))),
            Err(e) => Err(Box::new(EvalAltResult::ErrorInModule(
                path.to_string(),
                Box::new(EvalAltResult::ErrorSystem(
                    format!("cannot read {}", file.display()),
                    Box::new(e),
                )),
                pos,
            ))),
        }
    }
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        if let Some(module) = LOADED.with(|l| l.borrow().modules.get(path).cloned()) {
            return Ok(module);
        }
        let in_module = |e: Box<EvalAltResult>| {
            Box::new(EvalAltResult::ErrorInModule(path.to_string(), e, pos))
        };
        let (source, file) = self.source(path, pos)?;
        if let Some(file) = &file {
            let is_script = self.script.as_ref() == Some(file);
            if is_script || LOADING.with(|l| l.borrow().contains(file)) {
                let what = if is_script {
                    "is the script itself (rename the script to import the standard module)"
                } else {
                    "is already being loaded (an import cycle)"
                };
                let message = format!("import \"{path}\": {} {what}", file.display());
                return Err(Box::new(EvalAltResult::ErrorRuntime(message.into(), pos)));
            }
        }
        let ast = engine
            .compile(source)
            .map_err(|e| in_module(Box::new(EvalAltResult::ErrorParsing(*e.0, e.1))))?;
        LOADING.with(|l| l.borrow_mut().extend(file.clone()));
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine);
        if file.is_some() {
            LOADING.with(|l| l.borrow_mut().pop());
        }
        let mut module = module.map_err(in_module)?;
        module.set_id(path);
        let module: Shared<Module> = module.into();
        LOADED.with(|l| {
            let mut l = l.borrow_mut();
            for def in ast.iter_fn_def() {
                l.arities
                    .entry(def.name.to_string())
                    .or_insert(def.params.len());
            }
            l.functions
                .insert(path.to_string(), ast.clone_functions_only());
            l.modules.insert(path.to_string(), module.clone());
        });
        Ok(module)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_far_away_is_sent_the_modules_imported_and_theirs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text);
        write(
            "a.rhai",
            "import \"b\" as b; import \"parallel\" as p; fn fa() { 1 }",
        )
        .unwrap();
        write("b.rhai", "import   \"a\" as a; fn fb() { 2 }").unwrap();
        let mut sent = sources_for(dir.path(), &["a".to_string()]);
        sent.sort();
        let names: Vec<&str> = sent.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["a", "b"], "the stdlib's parallel stays behind");
        assert!(sent[1].1.contains("fn fb"));
    }

    #[test]
    fn every_stdlib_module_compiles() {
        let engine = super::super::build_engine();
        for (name, source) in STDLIB {
            assert!(engine.compile(*source).is_ok(), "stdlib/{name}.rhai");
        }
    }
}
