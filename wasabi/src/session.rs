//! [`Session`]: a live instance that grows one definition at a time (what
//! `wasabi repl` is built on).
//!
//! A session owns a [`Store`] and a [`Linker`] and a *namespace*: every
//! function, table, memory and global defined so far, in definition order
//! (their index in the session), with their `$id` names, plus the exported
//! names, plus the text of every `(type ...)` definition.
//!
//! # How one definition becomes part of the live instance
//!
//! [`Session::define`] takes module fields in the text format. It wraps them
//! in a small module of their own whose earlier definitions are *imports*:
//!
//! ```text
//! (module
//!   (type $t ...)                                  ; every type so far
//!   (import "wasabi:session" "f0" (func $sq (param i32) (result i32)))
//!   (import "wasabi:session" "m0" (memory $mem 1)) ; current size
//!   <the fields as typed>
//!   (export "\00f1" (func 1)) ...                  ; every new entity
//!   (export "memory" (memory 0))                   ; for WASI, unless the input
//! )                                                ; names a "memory" itself
//! ```
//!
//! so `$sq` and `$mem` resolve, validation sees everything defined so far,
//! and instantiation links to the very same store objects: memories, tables
//! and globals keep their contents, a data segment writes into the live
//! memory. The module is compiled with the engine's mode (lazy by default
//! in `wasabi repl`: a function is compiled on its first call). Use an
//! engine in lazy mode or without the on-disk cache: in regular mode with
//! the cache, every definition would be stored there.
//!
//! Functions and globals are imported only when the input names them by
//! `$id`, so an input costs the same however long the session is; an input
//! that refers to a function or global by number (`call 3`, `(export "x"
//! (func 3))`, an element segment) imports all of them, in session order,
//! so the numbers mean what they meant before. Memories and tables are
//! always imported (an access names no memory).
//!
//! # Redefinition
//!
//! A `(func $name ...)` whose `$name` is already a session function (or an
//! unnamed `func` exporting a name that is already an exported function)
//! *replaces* it: once the new module is instantiated, every funcref slot
//! that denotes the old function, in every instance of the store, is
//! repointed at the new one (`StoreOpaque::replace_func` in the runtime).
//! Compiled callers load the callee from those slots on every call and table
//! elements point at them, so every caller, table entry and host `Func`
//! handle runs the new body from then on. A different signature is an
//! error, reported before anything is instantiated. Other kinds (globals,
//! memories, tables, types) cannot be redefined.
//!
//! What must stay true: a failed input (parse, validation, a redefinition
//! refused, link error, trap or interruption in a start function or
//! segment) leaves the namespace as it was; everything that can be refused
//! is checked before instantiation. (The store may keep objects of a module
//! whose instantiation trapped, which costs memory but is harmless, and
//! segments applied before such a trap stay applied, as the spec says.)
//! The entity lists, the `$id` map and the linker's `"wasabi:session"`
//! names always agree (entity `i` of kind `k` is `"wasabi:session" "k{i}"`).

use crate::error::{Error, Result};
use crate::externals::{Extern, Global, Memory, Table};
use crate::func::Func;
use crate::linker::Linker;
use crate::module::{ExternType, Module};
use crate::store::Store;
use crate::values::Val;
use crate::Engine;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use wasabi_runtime::FuncType;

/// The import module name session entities are linked under (it shows in
/// link errors' lists of defined modules, so it is readable).
const NS: &str = "wasabi:session";
/// The same, as a wat string.
const NS_WAT: &str = NS;

/// The kinds of things a session defines, in the order of [`Session`]'s
/// index spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// A function.
    Func,
    /// A table.
    Table,
    /// A linear memory.
    Memory,
    /// A global.
    Global,
    /// A function type (`(type ...)`).
    Type,
}

impl EntityKind {
    fn keyword(self) -> &'static str {
        match self {
            EntityKind::Func => "func",
            EntityKind::Table => "table",
            EntityKind::Memory => "memory",
            EntityKind::Global => "global",
            EntityKind::Type => "type",
        }
    }
    fn letter(self) -> char {
        match self {
            EntityKind::Func => 'f',
            EntityKind::Table => 't',
            EntityKind::Memory => 'm',
            EntityKind::Global => 'g',
            EntityKind::Type => 'y',
        }
    }
    fn from_keyword(kw: &str) -> Option<EntityKind> {
        Some(match kw {
            "func" => EntityKind::Func,
            "table" => EntityKind::Table,
            "memory" => EntityKind::Memory,
            "global" => EntityKind::Global,
            _ => return None,
        })
    }
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.keyword())
    }
}

/// What one input added to the session (see [`Session::define`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defined {
    /// What was defined.
    pub kind: EntityKind,
    /// `$id` if it has one, else its first export name (quoted, with
    /// control characters escaped), else `kind[index]`.
    pub name: String,
    /// Its index in the session's index space of its kind.
    pub index: u32,
    /// Its type, in the text format (`(func (param i32) (result i32))`).
    pub ty: String,
    /// Whether it replaced an existing function of the same name.
    pub replaced: bool,
}

/// Counters of a session (see [`Session::stats`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionStats {
    /// Inputs that added something (successful [`Session::define`] and
    /// [`Session::load`] calls).
    pub definitions: usize,
    /// Modules compiled for those inputs.
    pub modules: usize,
    /// Functions compiled so far (in lazy mode, those called at least once).
    pub functions_compiled: usize,
    /// Functions defined so far, replaced ones included.
    pub functions_total: usize,
    /// Time spent compiling: text to binary, validation, trampolines and
    /// function bodies (in lazy mode, the bodies compiled so far).
    pub compile_time: Duration,
    /// Functions replaced by a redefinition.
    pub replacements: usize,
}

/// One function, table, memory or global of the session.
struct Entity {
    id: Option<String>,
    ext: Extern,
    /// Functions: the redefinition group (see `Session::groups`).
    group: usize,
}

/// A field of the input, as far as the session needs to know it.
struct Field {
    /// Entity kind it defines, if it defines one.
    kind: Option<EntityKind>,
    id: Option<String>,
    exports: Vec<String>,
    /// An import (an `import` field or an inline `(import ...)`).
    import: bool,
    /// Byte range in the input.
    span: (usize, usize),
}

/// A live instance that grows one definition at a time. See the module
/// docs for how it works.
///
/// ```
/// use wasabi::{CompileMode, Config, Engine, Session, Val};
/// # fn main() -> wasabi::Result<()> {
/// // Lazy mode suits a session: a definition is compiled when first called.
/// let engine = Engine::new(Config::new().mode(CompileMode::Lazy));
/// let mut s = Session::new(&engine);
/// s.define(r#"(memory $mem 1)"#)?;
/// s.define(r#"(func $sq (export "sq") (param i32) (result i32)
///               local.get 0 local.get 0 i32.mul)"#)?;
/// // A later definition sees the earlier ones by name...
/// s.define(r#"(func $quad (export "quad") (param i32) (result i32)
///               local.get 0 call $sq call $sq)"#)?;
/// assert_eq!(s.invoke("quad", &[Val::I32(3)])?, vec![Val::I32(81)]);
/// // ...and a redefinition with the same type replaces the function for
/// // every caller, including `quad`, compiled before it.
/// let d = s.define(r#"(func $sq (param i32) (result i32)
///               local.get 0 local.get 0 i32.add)"#)?;
/// assert!(d[0].replaced);
/// assert_eq!(s.invoke("quad", &[Val::I32(3)])?, vec![Val::I32(12)]);
/// // Memory keeps its contents across definitions.
/// s.define(r#"(data (memory $mem) (i32.const 16) "hi")"#)?;
/// s.define(r#"(func (export "peek") (result i32) i32.const 16 i32.load8_u)"#)?;
/// assert_eq!(s.invoke("peek", &[])?, vec![Val::I32(b'h' as i32)]);
/// // A different signature is an error, and changes nothing.
/// assert!(s.define("(func $sq (param i64) (result i64) local.get 0)").is_err());
/// # Ok(())
/// # }
/// ```
pub struct Session<T> {
    engine: Engine,
    setup: Box<Setup<T>>,
    store: Store<T>,
    linker: Linker<T>,
    funcs: Vec<Entity>,
    tables: Vec<Entity>,
    memories: Vec<Entity>,
    globals: Vec<Entity>,
    /// Text of every `(type ...)` field, with its `$id`.
    types: Vec<(Option<String>, String)>,
    /// `$id` -> index, per kind (types included).
    ids: HashMap<(EntityKind, String), usize>,
    /// Exported name -> entity, in the order of the kind's index space.
    exports: BTreeMap<String, (EntityKind, usize)>,
    /// Per redefinition group: the function its members currently run (the
    /// newest definition; every older one forwards to it).
    groups: Vec<Func>,
    modules: Vec<Module>,
    definitions: usize,
    replacements: usize,
    /// Name modules are given (in traps: `name::function`).
    name: String,
}

/// Makes a fresh store and linker (for [`Session::reset`]).
type Setup<T> = dyn FnMut(&Engine) -> Result<(Store<T>, Linker<T>)> + Send;

impl Session<()> {
    /// An empty session: no host data, nothing in the linker.
    pub fn new(engine: &Engine) -> Session<()> {
        Session::with_setup(engine, |e| Ok((Store::new(e, ()), Linker::new(e))))
            .expect("an empty store and linker cannot fail")
    }
}

impl<T: 'static> Session<T> {
    /// A session whose store and linker come from `setup` (called now and
    /// on every [`Session::reset`]): register host functions, WASI, or
    /// other instances there; inputs may import them by name.
    pub fn with_setup(
        engine: &Engine,
        mut setup: impl FnMut(&Engine) -> Result<(Store<T>, Linker<T>)> + Send + 'static,
    ) -> Result<Session<T>> {
        let (store, linker) = setup(engine)?;
        Ok(Session {
            engine: engine.clone(),
            setup: Box::new(setup),
            store,
            linker,
            funcs: Vec::new(),
            tables: Vec::new(),
            memories: Vec::new(),
            globals: Vec::new(),
            types: Vec::new(),
            ids: HashMap::new(),
            exports: BTreeMap::new(),
            groups: Vec::new(),
            modules: Vec::new(),
            definitions: 0,
            replacements: 0,
            name: "repl".into(),
        })
    }

    /// Forgets every definition: a new store and linker from the setup.
    pub fn reset(&mut self) -> Result<()> {
        let (store, linker) = (self.setup)(&self.engine)?;
        self.store = store;
        self.linker = linker;
        self.funcs.clear();
        self.tables.clear();
        self.memories.clear();
        self.globals.clear();
        self.types.clear();
        self.ids.clear();
        self.exports.clear();
        self.groups.clear();
        self.modules.clear();
        self.definitions = 0;
        self.replacements = 0;
        Ok(())
    }

    /// The store (to read memories and globals, call functions, ...).
    pub fn store(&self) -> &Store<T> {
        &self.store
    }

    /// The store, mutably.
    pub fn store_mut(&mut self) -> &mut Store<T> {
        &mut self.store
    }

    /// The linker inputs' own imports are resolved with.
    pub fn linker_mut(&mut self) -> &mut Linker<T> {
        &mut self.linker
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn list(&self, kind: EntityKind) -> &Vec<Entity> {
        match kind {
            EntityKind::Func => &self.funcs,
            EntityKind::Table => &self.tables,
            EntityKind::Memory => &self.memories,
            EntityKind::Global => &self.globals,
            EntityKind::Type => unreachable!("types are text"),
        }
    }

    fn list_mut(&mut self, kind: EntityKind) -> &mut Vec<Entity> {
        match kind {
            EntityKind::Func => &mut self.funcs,
            EntityKind::Table => &mut self.tables,
            EntityKind::Memory => &mut self.memories,
            EntityKind::Global => &mut self.globals,
            EntityKind::Type => unreachable!("types are text"),
        }
    }

    fn find_id(&self, kind: EntityKind, id: &str) -> Option<usize> {
        self.ids.get(&(kind, id.to_string())).copied()
    }

    /// Adds entity `e` of `kind` (recording its `$id`); returns its index.
    fn push(&mut self, kind: EntityKind, e: Entity) -> usize {
        let i = self.list(kind).len();
        if let Some(id) = &e.id {
            self.ids.insert((kind, id.clone()), i);
        }
        self.list_mut(kind).push(e);
        i
    }

    /// Adds module fields given in the text format (`(func ...)`,
    /// `(global ...)`, `(memory ...)`, `(table ...)`, `(type ...)`,
    /// `(import ...)`, `(export ...)`, `(data ...)`, `(elem ...)`,
    /// `(start ...)`, or a whole `(module ...)`), validated against
    /// everything defined so far, to the live instance. Returns what was
    /// defined, in order. See the type's docs for an example.
    ///
    /// On error nothing is defined. A parse error names the line and column
    /// in `text`; a validation error, the function it is in.
    pub fn define(&mut self, text: &str) -> Result<Vec<Defined>> {
        let (fields, blanked) = analyse(text)?;
        // Which existing entities the input names, and whether it names any
        // function or global by number.
        let tokens = tokenize(text).map_err(|(pos, m)| text_error(text, pos, &m))?;
        let mut named: HashSet<&str> = HashSet::new();
        let mut numeric = false;
        for (i, t) in tokens.iter().enumerate() {
            if let Tok::Atom(a) = t.tok {
                if let Some(id) = a.strip_prefix('$') {
                    named.insert(id);
                } else if a == "elem" {
                    numeric = true;
                } else if a.starts_with(|c: char| c.is_ascii_digit()) && i > 0 {
                    if let Tok::Atom(prev) = tokens[i - 1].tok {
                        numeric |= matches!(
                            prev,
                            "call"
                                | "return_call"
                                | "ref.func"
                                | "global.get"
                                | "global.set"
                                | "func"
                                | "global"
                                | "start"
                        );
                    }
                }
            }
        }

        // Redefinitions and name clashes.
        let mut replaces: Vec<Option<usize>> = Vec::new(); // per new func
        let mut redefined: HashSet<usize> = HashSet::new(); // entity indices
        for f in &fields {
            let Some(kind) = f.kind else { continue };
            let existing = f.id.as_deref().and_then(|id| self.find_id(kind, id));
            if kind != EntityKind::Func {
                if let (Some(_), Some(id)) = (existing, &f.id) {
                    return Err(text_error(
                        text,
                        f.span.0,
                        &format!(
                            "${id} is already defined as a {kind}; only functions can be redefined"
                        ),
                    ));
                }
                continue;
            }
            let target = existing.or_else(|| {
                if f.id.is_some() {
                    return None;
                }
                f.exports.iter().find_map(|e| match self.exports.get(e) {
                    Some(&(EntityKind::Func, i)) => Some(i),
                    _ => None,
                })
            });
            if let (Some(t), true) = (target, f.import) {
                let name = self.display(EntityKind::Func, t);
                return Err(text_error(
                    text,
                    f.span.0,
                    &format!("{name} is already defined; an import cannot redefine it"),
                ));
            }
            if let Some(t) = target {
                if !redefined.insert(t) {
                    return Err(text_error(
                        text,
                        f.span.0,
                        "a function is redefined twice in one input",
                    ));
                }
            }
            replaces.push(target);
        }

        // The module: types, imports, the fields, exports of what is new.
        let mut wat = String::from("(module\n");
        for (_, ty) in &self.types {
            wat.push_str(ty);
            wat.push('\n');
        }
        let mut imported = [0u32; 4];
        // The session function behind each imported function index.
        let mut func_imports: Vec<usize> = Vec::new();
        for (k, kind) in [
            EntityKind::Func,
            EntityKind::Table,
            EntityKind::Memory,
            EntityKind::Global,
        ]
        .into_iter()
        .enumerate()
        {
            let all = numeric || matches!(kind, EntityKind::Table | EntityKind::Memory);
            let chosen: Vec<usize> = if all {
                (0..self.list(kind).len()).collect()
            } else {
                let mut v: Vec<usize> = named
                    .iter()
                    .filter_map(|id| self.find_id(kind, id))
                    .filter(|i| !redefined.contains(i))
                    .collect();
                v.sort_unstable();
                v
            };
            if kind == EntityKind::Func {
                func_imports = chosen.clone();
            }
            for i in chosen {
                let e = &self.list(kind)[i];
                let ty = e.ext.ty(&self.store).to_string();
                // `(func ...` -> `(func $id ...`; redefined ones stay
                // nameless (the new definition takes the name).
                let kw = kind.keyword();
                let id = match &e.id {
                    Some(id) if !(kind == EntityKind::Func && redefined.contains(&i)) => {
                        format!(" ${id}")
                    }
                    _ => String::new(),
                };
                wat.push_str(&format!(
                    "(import \"{NS_WAT}\" \"{}{i}\" ({kw}{id}{})) ",
                    kind.letter(),
                    &ty[1 + kw.len()..ty.len() - 1]
                ));
                imported[k] += 1;
            }
        }
        wat.push('\n');
        let prefix_lines = wat.matches('\n').count();
        wat.push_str(&blanked);
        wat.push('\n');
        let mut counts = [0u32; 4];
        let mut new_entities: Vec<(EntityKind, u32, &Field)> = Vec::new();
        for f in &fields {
            let Some(kind) = f.kind else { continue };
            if kind == EntityKind::Type {
                continue;
            }
            let k = kind_slot(kind);
            let index = imported[k] + counts[k];
            counts[k] += 1;
            wat.push_str(&format!(
                "(export \"\\00{}{}\" ({} {index}))\n",
                kind.letter(),
                counts[k] - 1,
                kind.keyword()
            ));
            new_entities.push((kind, index, f));
        }
        // Host ABIs such as WASI find the caller's memory by the export
        // name "memory": every module of the session exports memory 0 so,
        // unless the input names something "memory" itself.
        let has_memory =
            !self.memories.is_empty() || fields.iter().any(|f| f.kind == Some(EntityKind::Memory));
        let memory_export = has_memory && !text.contains("\"memory\"");
        if memory_export {
            wat.push_str("(export \"memory\" (memory 0))\n");
        }
        wat.push(')');

        // Compile: a text error points into the input.
        let bytes = wat::parse_str(&wat).map_err(|e| {
            let msg = e.to_string();
            remap_text_error(&msg, text, prefix_lines).unwrap_or(Error::Text(msg))
        })?;
        let module = Module::with_name(&self.engine, &bytes, &self.name).map_err(|e| match e {
            Error::Module(m) => validation_error(text, &bytes, &fields, m),
            e => e,
        })?;

        // Redefinitions must keep the signature.
        let new_funcs: Vec<&(EntityKind, u32, &Field)> = new_entities
            .iter()
            .filter(|(k, _, _)| *k == EntityKind::Func)
            .collect();
        for (&(_, index, f), target) in new_funcs.iter().copied().zip(&replaces) {
            let Some(t) = *target else { continue };
            let current = self.groups[self.funcs[t].group];
            let opaque = &crate::store::AsContext::as_context(&self.store).0.opaque;
            if let Err(why) = opaque.check_replaceable(current.index) {
                let name = self.display(EntityKind::Func, t);
                return Err(text_error(
                    text,
                    f.span.0,
                    &format!("{name} cannot be redefined: {why}"),
                ));
            }
            let have = current.ty(&self.store);
            let want = module.info().func_type(index).clone();
            if have != want {
                let name = self.display(EntityKind::Func, t);
                return Err(text_error(
                    text,
                    f.span.0,
                    &format!(
                        "{name} has type {}; a redefinition must have the same type, not {}",
                        ExternType::Func(have),
                        ExternType::Func(want)
                    ),
                ));
            }
        }

        let instance = self.linker.instantiate(&mut self.store, &module)?;
        self.modules.push(module);
        self.definitions += 1;

        // Add the new entities, then replace what was redefined.
        let mut defined = Vec::new();
        let mut counts = [0u32; 4];
        let mut func_no = 0;
        for &(kind, _, f) in &new_entities {
            let k = kind_slot(kind);
            let hidden = format!("\0{}{}", kind.letter(), counts[k]);
            counts[k] += 1;
            let ext = instance
                .get_export(&mut self.store, &hidden)
                .expect("every new entity is exported");
            let index = self.list(kind).len();
            let mut replaced = false;
            let mut group = 0;
            let mut id = f.id.clone();
            if kind == EntityKind::Func {
                let func = ext.into_func().expect("a function");
                match replaces[func_no] {
                    Some(t) => {
                        group = self.funcs[t].group;
                        let old = self.groups[group];
                        let opaque =
                            &mut crate::store::AsContextMut::as_context_mut(&mut self.store)
                                .0
                                .opaque;
                        opaque
                            .replace_func(old.index, func.index)
                            .map_err(Error::Type)?;
                        self.groups[group] = func;
                        self.replacements += 1;
                        replaced = true;
                        id = None; // the name stays with the first definition
                    }
                    None => {
                        group = self.groups.len();
                        self.groups.push(func);
                    }
                }
                func_no += 1;
            }
            let link_name = format!("{}{index}", kind.letter());
            self.linker.define(NS, &link_name, ext)?;
            self.push(kind, Entity { id, ext, group });
            defined.push(Defined {
                kind,
                name: match (&f.id, f.exports.first()) {
                    (Some(id), _) => format!("${id}"),
                    (None, Some(e)) => format!("{e:?}"),
                    (None, None) => format!("{kind}[{index}]"),
                },
                index: index as u32,
                ty: ext.ty(&self.store).to_string(),
                replaced,
            });
        }
        for f in &fields {
            if f.kind == Some(EntityKind::Type) {
                let (a, b) = f.span;
                defined.push(Defined {
                    kind: EntityKind::Type,
                    name: f
                        .id
                        .as_ref()
                        .map_or(format!("type[{}]", self.types.len()), |i| format!("${i}")),
                    index: self.types.len() as u32,
                    ty: text[a..b].to_string(),
                    replaced: false,
                });
                if let Some(id) = &f.id {
                    self.ids
                        .insert((EntityKind::Type, id.clone()), self.types.len());
                }
                self.types.push((f.id.clone(), text[a..b].to_string()));
            }
        }
        // An export of an imported session function names that function
        // (its funcref here is this instance's copy of the slot).
        let reexports: HashMap<String, usize> = self.modules[self.modules.len() - 1]
            .info()
            .exports
            .iter()
            .filter(|e| e.kind == wasabi_runtime::module::ExportKind::Func)
            .filter_map(|e| Some((e.name.clone(), *func_imports.get(e.index as usize)?)))
            .collect();
        self.add_exports(instance, memory_export, &reexports);
        Ok(defined)
    }

    /// Records the user-visible exports of a new instance (not the hidden
    /// ones, nor the `"memory"` export added for host ABIs); `reexports`
    /// maps names that export a session function to its index.
    fn add_exports(
        &mut self,
        instance: crate::Instance,
        memory_export: bool,
        reexports: &HashMap<String, usize>,
    ) {
        for (name, ext) in instance.exports(&mut self.store) {
            if name.starts_with('\0') || (memory_export && name == "memory") {
                continue;
            }
            if let Some(&i) = reexports.get(&name) {
                self.exports.insert(name, (EntityKind::Func, i));
                continue;
            }
            let kind = extern_kind(&ext);
            // Usually one of the entities just added: search from the end.
            if let Some(i) = self.list(kind).iter().rposition(|e| e.ext == ext) {
                self.exports.insert(name, (kind, i));
            } else {
                // Re-export of something the session does not hold yet.
                let i = self.list(kind).len();
                let group = self.new_group(&ext);
                self.list_mut(kind).push(Entity {
                    id: None,
                    ext,
                    group,
                });
                let _ = self
                    .linker
                    .define(NS, &format!("{}{i}", kind.letter()), ext);
                self.exports.insert(name, (kind, i));
            }
        }
    }

    fn new_group(&mut self, ext: &Extern) -> usize {
        match ext {
            Extern::Func(f) => {
                self.groups.push(*f);
                self.groups.len() - 1
            }
            _ => 0,
        }
    }

    /// Instantiates a compiled module (its imports resolved by the linker)
    /// and adds its exports to the session: each becomes a definition whose
    /// `$id` is its export name (when that is a valid, unused id).
    pub fn load(&mut self, module: &Module) -> Result<Vec<Defined>> {
        let instance = self.linker.instantiate(&mut self.store, module)?;
        self.modules.push(module.clone());
        self.definitions += 1;
        let mut defined = Vec::new();
        for (name, ext) in instance.exports(&mut self.store) {
            let kind = extern_kind(&ext);
            let id = (is_id(&name) && self.find_id(kind, &name).is_none()).then(|| name.clone());
            let index = self.list(kind).len();
            let group = self.new_group(&ext);
            self.linker
                .define(NS, &format!("{}{index}", kind.letter()), ext)?;
            self.push(kind, Entity { id, ext, group });
            self.exports.insert(name.clone(), (kind, index));
            defined.push(Defined {
                kind,
                name: format!("{name:?}"),
                index: index as u32,
                ty: ext.ty(&self.store).to_string(),
                replaced: false,
            });
        }
        Ok(defined)
    }

    /// Instantiates `module` and makes its exports importable as
    /// `(import "name" "...")` (they are not added to the namespace).
    pub fn link_module(&mut self, name: &str, module: &Module) -> Result<()> {
        self.linker.module(&mut self.store, name, module)?;
        self.modules.push(module.clone());
        Ok(())
    }

    /// The function called `name`: an export name, or a `$id` (with or
    /// without the `$`). A redefined function is found by its first name
    /// and runs its newest body.
    pub fn func(&self, name: &str) -> Option<Func> {
        match self.lookup(name)? {
            (EntityKind::Func, i) => Some(self.groups[self.funcs[i].group]),
            _ => None,
        }
    }

    /// What `name` (an export name or a `$id`) is, and its session index.
    pub fn lookup(&self, name: &str) -> Option<(EntityKind, usize)> {
        if let Some(&(k, i)) = self.exports.get(name) {
            return Some((k, i));
        }
        let id = name.strip_prefix('$').unwrap_or(name);
        [
            EntityKind::Func,
            EntityKind::Global,
            EntityKind::Memory,
            EntityKind::Table,
        ]
        .into_iter()
        .find_map(|k| self.find_id(k, id).map(|i| (k, i)))
    }

    /// Every name something can be found by: exported names and `$id`s
    /// (of functions, tables, memories, globals and types), sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.exports.keys().cloned().collect();
        v.extend(self.ids.keys().map(|(_, id)| format!("${id}")));
        v.sort();
        v.dedup();
        v
    }

    /// The type of what `name` denotes, in the text format.
    pub fn type_of(&self, name: &str) -> Option<String> {
        if let Some(i) = name
            .strip_prefix('$')
            .and_then(|id| self.find_id(EntityKind::Type, id))
        {
            return Some(self.types[i].1.clone());
        }
        let (k, i) = self.lookup(name)?;
        let ext = match k {
            EntityKind::Func => Extern::Func(self.groups[self.funcs[i].group]),
            _ => self.list(k)[i].ext,
        };
        Some(ext.ty(&self.store).to_string())
    }

    /// Calls the function `name` (see [`Session::func`]) with `args`.
    pub fn invoke(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>> {
        let f = self
            .func(name)
            .ok_or_else(|| Error::NotFound(format!("no function `{name}` is defined")))?;
        f.call_vec(&mut self.store, args)
    }

    /// Every exported name with what it is, sorted by name.
    pub fn exports(&self) -> Vec<(String, ExternType)> {
        self.exports
            .iter()
            .map(|(n, &(k, i))| {
                let ext = match k {
                    EntityKind::Func => Extern::Func(self.groups[self.funcs[i].group]),
                    _ => self.list(k)[i].ext,
                };
                (n.clone(), ext.ty(&self.store))
            })
            .collect()
    }

    /// The session's memories, in index order, with their names.
    pub fn memories(&self) -> Vec<(String, Memory)> {
        self.entities(EntityKind::Memory, |e| e.into_memory())
    }

    /// The session's tables, in index order, with their names.
    pub fn tables(&self) -> Vec<(String, Table)> {
        self.entities(EntityKind::Table, |e| e.into_table())
    }

    /// The session's globals, in index order, with their names.
    pub fn globals(&self) -> Vec<(String, Global)> {
        self.entities(EntityKind::Global, |e| e.into_global())
    }

    fn entities<X>(&self, kind: EntityKind, get: impl Fn(Extern) -> Option<X>) -> Vec<(String, X)> {
        (0..self.list(kind).len())
            .filter_map(|i| Some((self.display(kind, i), get(self.list(kind)[i].ext)?)))
            .collect()
    }

    /// How entity `i` of `kind` is named in messages: `$id`, else an
    /// export name, else `kind[i]`.
    fn display(&self, kind: EntityKind, i: usize) -> String {
        if let Some(id) = &self.list(kind)[i].id {
            return format!("${id}");
        }
        match self.exports.iter().find(|(_, &v)| v == (kind, i)) {
            Some((n, _)) => format!("{n:?}"),
            None => format!("{kind}[{i}]"),
        }
    }

    /// Counters: definitions, functions compiled and defined, compile time.
    pub fn stats(&self) -> SessionStats {
        let mut s = SessionStats {
            definitions: self.definitions,
            modules: self.modules.len(),
            replacements: self.replacements,
            ..SessionStats::default()
        };
        for m in &self.modules {
            let t = m.timings();
            s.compile_time += t.parse + t.codegen + t.load;
            match m.lazy_stats() {
                Some(l) => {
                    s.functions_compiled += l.compiled;
                    s.functions_total += l.total;
                    s.compile_time += l.compile_time;
                }
                None => {
                    let n = m.info().num_defined_funcs() as usize;
                    s.functions_compiled += n;
                    s.functions_total += n;
                }
            }
        }
        s
    }
}

/// A validation error, placed in the function it happened in when it
/// happened in a function body.
fn validation_error(
    text: &str,
    bytes: &[u8],
    fields: &[Field],
    e: wasabi_runtime::ModuleError,
) -> Error {
    let msg = e.to_string();
    let reason = msg
        .split_once(": ")
        .map_or(msg.as_str(), |(_, r)| r)
        .to_string();
    let offset = msg
        .split("byte offset 0x")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_hexdigit()).next())
        .and_then(|h| usize::from_str_radix(h, 16).ok());
    let body = offset.and_then(|o| body_containing(bytes, o));
    let defined: Vec<&Field> = fields
        .iter()
        .filter(|f| f.kind == Some(EntityKind::Func) && !f.import)
        .collect();
    match body.and_then(|k| defined.get(k)) {
        Some(f) => {
            let name = match (&f.id, f.exports.first()) {
                (Some(id), _) => format!("${id}"),
                (None, Some(e)) => format!("{e:?}"),
                (None, None) => "function".into(),
            };
            text_error(text, f.span.0, &format!("invalid {name}: {reason}"))
        }
        None => Error::Text(format!("invalid definition: {reason}")),
    }
}

fn kind_slot(kind: EntityKind) -> usize {
    match kind {
        EntityKind::Func => 0,
        EntityKind::Table => 1,
        EntityKind::Memory => 2,
        EntityKind::Global => 3,
        EntityKind::Type => unreachable!("types are not imported"),
    }
}

fn extern_kind(e: &Extern) -> EntityKind {
    match e {
        Extern::Func(_) => EntityKind::Func,
        Extern::Table(_) => EntityKind::Table,
        Extern::Memory(_) => EntityKind::Memory,
        Extern::Global(_) => EntityKind::Global,
    }
}

/// Whether `s` can be written as a text-format `$id`.
fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-./:<=>?@\\^_`|~".contains(c))
}

/// Replaces function `old` by `new` everywhere (the primitive under
/// [`Session`]'s redefinition, for embedders without a session). Every call of `old` (compiled callers,
/// table entries, `Func` handles) runs `new` afterwards. Both must be wasm
/// functions of `store` with the same type, and `old` must be the newest
/// definition (not itself already replaced).
///
/// ```
/// use wasabi::{replace_func, Config, Engine, Linker, Module, Store, Val};
/// # fn main() -> wasabi::Result<()> {
/// let engine = Engine::new(Config::new().cache(false));
/// let mut store = Store::new(&engine, ());
/// let linker = Linker::new(&engine);
/// let a = Module::new(&engine, r#"(module
///   (func $f (export "f") (result i32) i32.const 1)
///   (func (export "g") (result i32) call $f))"#)?;
/// let b = Module::new(&engine, r#"(module (func (export "f") (result i32) i32.const 2))"#)?;
/// let a = linker.instantiate(&mut store, &a)?;
/// let b = linker.instantiate(&mut store, &b)?;
/// let (old, new) = (a.get_func(&mut store, "f").unwrap(), b.get_func(&mut store, "f").unwrap());
/// let g = a.get_func(&mut store, "g").unwrap();
/// assert_eq!(g.call_vec(&mut store, &[])?, vec![Val::I32(1)]);
/// replace_func(&mut store, old, new)?;
/// assert_eq!(g.call_vec(&mut store, &[])?, vec![Val::I32(2)]);
/// # Ok(())
/// # }
/// ```
pub fn replace_func<T>(store: &mut Store<T>, old: Func, new: Func) -> Result<()> {
    let ctx = crate::store::AsContextMut::as_context_mut(store);
    let opaque = &mut ctx.0.opaque;
    crate::store::check_store(old.store, opaque, "Func");
    crate::store::check_store(new.store, opaque, "Func");
    let have: FuncType = opaque.func_type(old.index).clone();
    let want: FuncType = opaque.func_type(new.index).clone();
    if have != want {
        return Err(Error::Type(format!(
            "a function of type {} cannot be replaced by one of type {}",
            ExternType::Func(have),
            ExternType::Func(want)
        )));
    }
    opaque
        .replace_func(old.index, new.index)
        .map(|_| ())
        .map_err(Error::Type)
}

/// The index of the function body containing byte `offset` of a module.
fn body_containing(bytes: &[u8], offset: usize) -> Option<usize> {
    fn leb(b: &[u8], p: &mut usize) -> Option<usize> {
        let (mut v, mut shift) = (0usize, 0);
        loop {
            let byte = *b.get(*p)?;
            *p += 1;
            v |= ((byte & 0x7f) as usize) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
            shift += 7;
        }
    }
    let mut p = 8;
    while p < bytes.len() {
        let id = bytes[p];
        p += 1;
        let size = leb(bytes, &mut p)?;
        let end = p + size;
        if id == 10 {
            let n = leb(bytes, &mut p)?;
            for k in 0..n {
                let len = leb(bytes, &mut p)?;
                if (p..p + len).contains(&offset) {
                    return Some(k);
                }
                p += len;
            }
            return None;
        }
        p = end;
    }
    None
}

// ---- reading the input -------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'a> {
    Open,
    Close,
    Str(&'a str),
    Atom(&'a str),
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    tok: Tok<'a>,
    pos: usize,
}

/// Splits text-format input into parentheses, strings and atoms, skipping
/// whitespace and comments. An error is `(byte position, message)`.
fn tokenize(text: &str) -> std::result::Result<Vec<Token<'_>>, (usize, String)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut p = 0;
    while p < b.len() {
        let c = b[p];
        if c.is_ascii_whitespace() {
            p += 1;
        } else if b[p..].starts_with(b";;") {
            while p < b.len() && b[p] != b'\n' {
                p += 1;
            }
        } else if b[p..].starts_with(b"(;") {
            let start = p;
            let mut depth = 0;
            loop {
                if p >= b.len() {
                    return Err((start, "unterminated block comment".into()));
                }
                if b[p..].starts_with(b"(;") {
                    depth += 1;
                    p += 2;
                } else if b[p..].starts_with(b";)") {
                    depth -= 1;
                    p += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    p += 1;
                }
            }
        } else if c == b'(' {
            out.push(Token {
                tok: Tok::Open,
                pos: p,
            });
            p += 1;
        } else if c == b')' {
            out.push(Token {
                tok: Tok::Close,
                pos: p,
            });
            p += 1;
        } else if c == b'"' {
            let start = p;
            p += 1;
            loop {
                match b.get(p) {
                    None => return Err((start, "unterminated string".into())),
                    Some(b'\\') => p += 2,
                    Some(b'"') => break,
                    Some(_) => p += 1,
                }
            }
            p += 1;
            out.push(Token {
                tok: Tok::Str(&text[start..p]),
                pos: start,
            });
        } else {
            let start = p;
            while p < b.len() && !b[p].is_ascii_whitespace() && !b"()\";".contains(&b[p]) {
                p += 1;
            }
            if p == start {
                p += 1; // a stray `;`
                continue;
            }
            out.push(Token {
                tok: Tok::Atom(&text[start..p]),
                pos: start,
            });
        }
    }
    Ok(out)
}

/// How many parentheses of `text` are open at its end (negative: more
/// closed than opened); strings and comments are skipped. `None` when a
/// string or block comment is still open. For reading input until it is
/// complete.
pub fn open_parens(text: &str) -> Option<i64> {
    match tokenize(text) {
        Ok(toks) => Some(toks.iter().fold(0, |d, t| match t.tok {
            Tok::Open => d + 1,
            Tok::Close => d - 1,
            _ => d,
        })),
        Err(_) => None,
    }
}

/// The decoded contents of a wat string token (quotes included).
fn unquote(s: &str) -> String {
    let inner = &s[1..s.len() - 1];
    let mut out = Vec::new();
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let e = b.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'u' => {
                // \u{XXXX}
                let end = inner[i..].find('}').map_or(inner.len(), |e| i + e);
                let c = u32::from_str_radix(&inner[(i + 1).min(end)..end], 16)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                out.extend(c.to_string().as_bytes());
                i = end + 1;
            }
            h if h.is_ascii_hexdigit() => {
                let hex = &inner[i - 1..(i + 1).min(inner.len())];
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 1;
            }
            other => out.push(other),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The input's fields, and the input with a `(module $id? ...)` wrapper
/// blanked out (same byte positions, so errors point into the input).
fn analyse(text: &str) -> Result<(Vec<Field>, String)> {
    let toks = tokenize(text).map_err(|(pos, m)| text_error(text, pos, &m))?;
    let mut blanked = text.to_string();
    // Top-level lists: (start token index, end token index).
    let mut lists = Vec::new();
    let mut depth = 0i64;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t.tok {
            Tok::Open => {
                if depth == 0 {
                    start = i;
                }
                depth += 1;
            }
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    lists.push((start, i));
                }
                if depth < 0 {
                    return Err(text_error(text, t.pos, "unexpected `)`"));
                }
            }
            _ if depth == 0 => {
                return Err(text_error(
                    text,
                    t.pos,
                    "expected a module field such as `(func ...)`",
                ))
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(text_error(text, toks[start].pos, "unclosed `(`"));
    }
    // A whole module: its fields are the top-level lists inside it.
    if let [(s, e)] = lists[..] {
        if toks.get(s + 1).map(|t| t.tok) == Some(Tok::Atom("module")) {
            let mut i = s + 2;
            if let Some(Tok::Atom(a)) = toks.get(i).map(|t| t.tok) {
                if a.starts_with('$') {
                    i += 1;
                }
            }
            if let Some(Tok::Atom(a @ ("binary" | "quote"))) = toks.get(i).map(|t| t.tok) {
                return Err(text_error(
                    text,
                    toks[i].pos,
                    &format!("`(module {a} ...)` is not supported here; use :load"),
                ));
            }
            // Blank `(module $id` and the closing `)`.
            let head_end = toks[i - 1].pos + tok_len(&toks[i - 1]);
            let blank = |s: &mut String, a: usize, b: usize| {
                s.replace_range(a..b, &" ".repeat(b - a));
            };
            blank(&mut blanked, toks[s].pos, head_end);
            blank(&mut blanked, toks[e].pos, toks[e].pos + 1);
            let mut inner = Vec::new();
            let mut depth = 0;
            let mut st = 0;
            for (j, t) in toks.iter().enumerate().take(e).skip(i) {
                match t.tok {
                    Tok::Open => {
                        if depth == 0 {
                            st = j;
                        }
                        depth += 1;
                    }
                    Tok::Close => {
                        depth -= 1;
                        if depth == 0 {
                            inner.push((st, j));
                        }
                    }
                    _ if depth == 0 => {
                        return Err(text_error(text, t.pos, "expected a module field"))
                    }
                    _ => {}
                }
            }
            lists = inner;
        }
    }
    let mut fields = Vec::new();
    for (s, e) in lists {
        let head = match toks.get(s + 1).map(|t| t.tok) {
            Some(Tok::Atom(a)) => a,
            _ => {
                return Err(text_error(
                    text,
                    toks[s].pos,
                    "expected a module field such as `(func ...)`",
                ))
            }
        };
        let span = (toks[s].pos, toks[e].pos + 1);
        let id_at = |i: usize| match toks.get(i).map(|t| t.tok) {
            Some(Tok::Atom(a)) if a.starts_with('$') && i < e => Some(a[1..].to_string()),
            _ => None,
        };
        let mut field = Field {
            kind: None,
            id: None,
            exports: Vec::new(),
            import: false,
            span,
        };
        match head {
            "func" | "global" | "memory" | "table" => {
                field.kind = EntityKind::from_keyword(head);
                field.id = id_at(s + 2);
                let mut i = s + 2 + field.id.is_some() as usize;
                // Inline `(export "name")` and `(import "m" "n")`.
                while toks[i].tok == Tok::Open {
                    match (toks[i + 1].tok, toks[i + 2].tok) {
                        (Tok::Atom("export"), Tok::Str(n)) => field.exports.push(unquote(n)),
                        (Tok::Atom("import"), _) => field.import = true,
                        _ => break,
                    }
                    // Skip to the matching `)`.
                    let mut d = 0;
                    loop {
                        match toks[i].tok {
                            Tok::Open => d += 1,
                            Tok::Close => d -= 1,
                            _ => {}
                        }
                        i += 1;
                        if d == 0 {
                            break;
                        }
                    }
                }
            }
            "import" => {
                field.import = true;
                // (import "m" "n" (kind $id? ...))
                if let (Some(Tok::Open), Some(Tok::Atom(kw))) = (
                    toks.get(s + 4).map(|t| t.tok),
                    toks.get(s + 5).map(|t| t.tok),
                ) {
                    field.kind = EntityKind::from_keyword(kw);
                    field.id = id_at(s + 6);
                }
                if field.kind.is_none() {
                    return Err(text_error(
                        text,
                        toks[s].pos,
                        "expected `(import \"module\" \"name\" (func|table|memory|global ...))`",
                    ));
                }
            }
            "type" => {
                field.kind = Some(EntityKind::Type);
                field.id = id_at(s + 2);
            }
            "export" | "data" | "elem" | "start" => {}
            other => {
                return Err(text_error(
                    text,
                    toks[s + 1].pos,
                    &format!(
                        "`{other}` is not a module field (expected func, global, memory, table, \
                         type, import, export, data, elem or start)"
                    ),
                ))
            }
        }
        fields.push(field);
    }
    if fields.is_empty() {
        return Err(Error::Text("nothing to define".into()));
    }
    Ok((fields, blanked))
}

fn tok_len(t: &Token<'_>) -> usize {
    match t.tok {
        Tok::Open | Tok::Close => 1,
        Tok::Str(s) | Tok::Atom(s) => s.len(),
    }
}

/// `line L, column C: msg`, then the line and a caret.
fn text_error(text: &str, pos: usize, msg: &str) -> Error {
    let pos = pos.min(text.len());
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line_no = text[..pos].matches('\n').count() + 1;
    let col = text[line_start..pos].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or("");
    Error::Text(format!(
        "{msg}\n  --> line {line_no}, column {col}\n   | {line}\n   | {}^",
        " ".repeat(col - 1)
    ))
}

/// Rewrites a `wat` error located in the generated module into one located
/// in the input (which starts at line `prefix_lines + 1` of the module).
fn remap_text_error(msg: &str, text: &str, prefix_lines: usize) -> Option<Error> {
    let first = msg.lines().next()?;
    let loc = msg.split("--> <anon>:").nth(1)?;
    let mut parts = loc
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let line: usize = parts.next()?.parse().ok()?;
    let col: usize = parts.next()?.parse().ok()?;
    let line = line.checked_sub(prefix_lines)?;
    if line == 0 || line > text.lines().count().max(1) {
        return Some(Error::Text(first.to_string()));
    }
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(|l| l.len())
        .sum();
    let l = &text[line_start..];
    let byte_col: usize = l.chars().take(col - 1).map(|c| c.len_utf8()).sum();
    Some(text_error(text, line_start + byte_col, first))
}
