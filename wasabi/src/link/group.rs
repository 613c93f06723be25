//! Modules that import each other, instantiated together:
//! [`Linker::instantiate_group`].
//!
//! A group is a list of modules, each with a name; an import whose module
//! name is a member's name binds to that member's export, any other import
//! to the linker's definitions. The members are split into strongly
//! connected components of the "imports from" graph, and the components
//! are instantiated dependencies first, so a group without cycles behaves
//! exactly like instantiating its modules one by one in a good order. The
//! modules of one component (a cycle) are all created first, then linked,
//! then their start functions run:
//!
//! - a function imported from a member of the same component is created
//!   pointing at a stand-in (a host function that fails with a clear
//!   error) and, once every member exists, its import slot is pointed at
//!   the real function (`StoreOpaque::link_func_import`): from then on a
//!   call is the same indirect call through the slot as any import;
//! - a memory, table or global must exist when its importer is created, so
//!   members are created in an order where each one's non-function
//!   imports come from members already created; when there is none (two
//!   modules each importing the other's memory, say) that is an error
//!   naming the modules, before anything is created.
//!
//! What must stay true: every import is checked (kind and type, against
//! the exporting module's declaration or the linker's definition) before
//! anything is created; no code of a member runs (start function,
//! `_initialize`) before every function import of its component points at
//! its real target; start functions run in creation order.

use crate::error::{Error, LinkError, Result};
use crate::instance::{create_raw, initialize, Instance};
use crate::linker::{def_to_raw, extern_type_matches, Definition, Linker};
use crate::module::{import_type, ExternType, Module};
use crate::store::{AsContextMut, StoreInner};
use std::sync::Arc;
use wasabi_runtime::module::{ExportKind, ImportKind, ModuleInfo};
use wasabi_runtime::{HostFunc, RawExport, RawImport};

fn link_error(module: &str, field: &str, message: String) -> Error {
    Error::Link(LinkError {
        module: module.into(),
        field: field.into(),
        message,
    })
}

/// The static type of export `name` of `info` (for an imported entity
/// re-exported, the type its import declares).
fn export_type(info: &ModuleInfo, kind: ExportKind, index: u32) -> ExternType {
    match kind {
        ExportKind::Func => ExternType::Func(info.func_type(index).clone()),
        ExportKind::Memory => ExternType::Memory(info.memories[index as usize]),
        ExportKind::Table => ExternType::Table(info.tables[index as usize]),
        ExportKind::Global => ExternType::Global(info.globals[index as usize]),
    }
}

/// The position in `info.imports` of imported function `func_index`.
fn func_import_position(info: &ModuleInfo, func_index: u32) -> Option<usize> {
    info.imports
        .iter()
        .enumerate()
        .filter(|(_, i)| matches!(i.kind, ImportKind::Func(_)))
        .nth(func_index as usize)
        .map(|(p, _)| p)
}

fn is_func(kind: &ImportKind) -> bool {
    matches!(kind, ImportKind::Func(_))
}

impl<T: 'static> Linker<T> {
    /// Instantiates modules that may import each other, directly or
    /// through a chain, and defines each one's exports under its name.
    ///
    /// `modules` are `(name, module)` pairs; an import whose module name is
    /// one of these names binds to that module's export, any other import
    /// to this linker's definitions. Modules in a cycle are all created,
    /// then linked, then their start functions run (in an order where the
    /// memories, tables and globals each imports exist when it is created;
    /// a cycle of those is an error). Modules not in a cycle are
    /// instantiated after what they import. Returns the instances in the
    /// order of `modules`.
    ///
    /// ```
    /// use wasabi::{Engine, Linker, Module, Store};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = Engine::default();
    /// let doc = Module::new(&engine, r#"(module
    ///   (import "runtime" "create_kernel" (func $create (param i32) (result i32)))
    ///   (func (export "call_by_index") (param i32) (result i32)
    ///     local.get 0 i32.const 100 i32.add)
    ///   (func (export "main") (result i32) i32.const 7 call $create))"#)?;
    /// let runtime = Module::new(&engine, r#"(module
    ///   (import "doc" "call_by_index" (func $back (param i32) (result i32)))
    ///   (func (export "create_kernel") (param i32) (result i32)
    ///     local.get 0 call $back i32.const 2 i32.mul))"#)?;
    /// let mut store = Store::new(&engine, ());
    /// let mut linker = Linker::new(&engine);
    /// let instances = linker.instantiate_group(&mut store, &[("doc", &doc), ("runtime", &runtime)])?;
    /// let main = instances[0].get_typed_func::<(), i32>(&mut store, "main")?;
    /// assert_eq!(main.call(&mut store, ())?, 214);
    /// # Ok(())
    /// # }
    /// ```
    pub fn instantiate_group(
        &mut self,
        mut store: impl AsContextMut<Data = T>,
        modules: &[(&str, &Module)],
    ) -> Result<Vec<Instance>> {
        for (i, (name, _)) in modules.iter().enumerate() {
            if modules[..i].iter().any(|(n, _)| n == name) {
                return Err(link_error(
                    name,
                    "",
                    format!("two modules of the group are named `{name}`"),
                ));
            }
            if self.defines_module(name) {
                return Err(link_error(
                    name,
                    "",
                    format!("the linker already defines module `{name}`"),
                ));
            }
        }
        let resolve = |_: usize, m: &str| modules.iter().position(|(n, _)| *n == m);
        let instances = self.instantiate_group_with(&mut store, modules, &resolve)?;
        for ((name, _), inst) in modules.iter().zip(&instances) {
            self.instance(&mut store, name, *inst)?;
        }
        Ok(instances)
    }

    /// [`Linker::instantiate_group`] with the member an import binds to
    /// chosen by `resolve(importer, import module name)` (so a module can
    /// be imported under different names, e.g. relative paths), and no
    /// definitions added to the linker.
    pub(crate) fn instantiate_group_with(
        &self,
        mut store: impl AsContextMut<Data = T>,
        modules: &[(&str, &Module)],
        resolve: &dyn Fn(usize, &str) -> Option<usize>,
    ) -> Result<Vec<Instance>> {
        let ctx = store.as_context_mut();
        let inner: &mut StoreInner<T> = ctx.0;
        let n = modules.len();
        let infos: Vec<&ModuleInfo> = modules.iter().map(|(_, m)| m.info()).collect();

        // 1. Every import: a member, or a checked linker definition.
        let mut targets: Vec<Vec<Option<usize>>> = Vec::with_capacity(n);
        let mut defs: Vec<Vec<Option<&Definition>>> = Vec::with_capacity(n);
        for (m, info) in infos.iter().enumerate() {
            let mut t_row = Vec::with_capacity(info.imports.len());
            let mut d_row = Vec::with_capacity(info.imports.len());
            for imp in &info.imports {
                let Some(t) = resolve(m, &imp.module) else {
                    d_row.push(Some(self.check_import(inner, info, imp)?));
                    t_row.push(None);
                    continue;
                };
                let want = import_type(info, &imp.kind);
                let (tname, tinfo) = (modules[t].0, infos[t]);
                let Some(e) = tinfo.export(&imp.name) else {
                    return Err(link_error(
                        &imp.module,
                        &imp.name,
                        format!(
                            "unknown import `{}::{}` {want}: module `{tname}` exports no `{}`",
                            imp.module, imp.name, imp.name
                        ),
                    ));
                };
                let have = export_type(tinfo, e.kind, e.index);
                if !extern_type_matches(&have, &want) {
                    return Err(link_error(
                        &imp.module,
                        &imp.name,
                        format!(
                            "import `{}::{}` has type {want}, but module `{tname}` exports \
                             `{}` as {have}",
                            imp.module, imp.name, imp.name
                        ),
                    ));
                }
                t_row.push(Some(t));
                d_row.push(None);
            }
            targets.push(t_row);
            defs.push(d_row);
        }

        // 2. Components: members that reach each other through imports.
        let mut reach = vec![vec![false; n]; n];
        for m in 0..n {
            for t in targets[m].iter().flatten() {
                reach[m][*t] = true;
            }
        }
        // Transitive closure (Warshall): groups are small.
        for k in 0..n {
            let via = reach[k].clone();
            for row in reach.iter_mut() {
                if row[k] {
                    for (r, v) in row.iter_mut().zip(&via) {
                        *r |= *v;
                    }
                }
            }
        }
        let same = |a: usize, b: usize| a == b || (reach[a][b] && reach[b][a]);
        // Components in dependency order: one whose outside dependencies
        // are all placed, members in the given order.
        let mut placed = vec![false; n];
        let mut components: Vec<Vec<usize>> = Vec::new();
        while placed.iter().any(|p| !p) {
            let m = (0..n)
                .find(|&m| !placed[m] && (0..n).all(|d| !reach[m][d] || same(m, d) || placed[d]))
                .expect("the component graph is acyclic");
            let comp: Vec<usize> = (0..n).filter(|&x| same(m, x)).collect();
            for &x in &comp {
                placed[x] = true;
            }
            components.push(comp);
        }
        // 3. Within a component, an order where non-function imports come
        // from members created before.
        let mut order: Vec<Vec<usize>> = Vec::with_capacity(components.len());
        for comp in &components {
            let mut done: Vec<usize> = Vec::with_capacity(comp.len());
            while done.len() < comp.len() {
                let next = comp.iter().copied().find(|&m| {
                    !done.contains(&m)
                        && infos[m].imports.iter().zip(&targets[m]).all(|(imp, t)| {
                            is_func(&imp.kind)
                                || match t {
                                    Some(t) => !comp.contains(t) || done.contains(t),
                                    None => true,
                                }
                        })
                });
                let Some(next) = next else {
                    let mut stuck: Vec<String> = Vec::new();
                    for &m in comp.iter().filter(|m| !done.contains(m)) {
                        for (imp, t) in infos[m].imports.iter().zip(&targets[m]) {
                            if !is_func(&imp.kind)
                                && t.is_some_and(|t| comp.contains(&t) && !done.contains(&t))
                            {
                                stuck.push(format!(
                                    "`{}` imports {} `{}::{}`",
                                    modules[m].0,
                                    import_type(infos[m], &imp.kind),
                                    imp.module,
                                    imp.name
                                ));
                            }
                        }
                    }
                    return Err(link_error(
                        modules[comp[0]].0,
                        "",
                        format!(
                            "modules import memories, tables or globals from each other in a \
                             cycle, so none can be created first ({}); only functions may be \
                             imported both ways",
                            stuck.join(", ")
                        ),
                    ));
                };
                done.push(next);
            }
            order.push(done);
        }

        // 4. Create, link and start, component by component.
        let mut instances: Vec<Option<Instance>> = vec![None; n];
        for comp in &order {
            // (member, import position, function index) filled in later.
            let mut deferred: Vec<(usize, usize, u32)> = Vec::new();
            for &m in comp {
                let info = infos[m];
                let mut raw = Vec::with_capacity(info.imports.len());
                let mut func_index = 0u32;
                for (p, imp) in info.imports.iter().enumerate() {
                    let r = match (targets[m][p], defs[m][p]) {
                        (None, Some(def)) => def_to_raw(inner, def),
                        (Some(t), _) if is_func(&imp.kind) && comp.contains(&t) => {
                            deferred.push((m, p, func_index));
                            let msg = format!(
                                "`{}::{}` was called before the modules importing each other \
                                 were all linked",
                                imp.module, imp.name
                            );
                            let ImportKind::Func(ty) = imp.kind else {
                                unreachable!()
                            };
                            let stand_in = HostFunc {
                                ty: info.types[ty as usize].clone(),
                                call: Box::new(move |_, _, _| Err(msg.clone().into())),
                            };
                            RawImport::Func(inner.opaque.new_host_func(Arc::new(stand_in)))
                        }
                        (Some(t), _) => {
                            let inst = instances[t].expect("created before its importers");
                            let e = inner
                                .opaque
                                .export(inst.index, &imp.name)
                                .expect("checked above");
                            match e {
                                RawExport::Func(i) => RawImport::Func(i),
                                RawExport::Memory(i) => RawImport::Memory(i),
                                RawExport::Table(i) => RawImport::Table(i),
                                RawExport::Global(i) => RawImport::Global(i),
                            }
                        }
                        (None, None) => unreachable!("every import is resolved"),
                    };
                    if is_func(&imp.kind) {
                        func_index += 1;
                    }
                    raw.push(r);
                }
                let inst = create_raw(inner, modules[m].1, &raw).map_err(|e| match e {
                    Error::Link(l) => link_error(
                        &l.module,
                        &l.field,
                        format!("module `{}`: {}", modules[m].0, l.message),
                    ),
                    e => e,
                })?;
                instances[m] = Some(inst);
            }
            // Point every stand-in at its function; one that is itself a
            // re-exported stand-in is linked first.
            let mut state = vec![0u8; deferred.len()];
            for k in 0..deferred.len() {
                link_deferred(
                    inner, modules, &infos, &targets, &instances, &deferred, &mut state, k,
                )?;
            }
            for &m in comp {
                let inst = instances[m].expect("created above");
                initialize(inner, inst, modules[m].1)?;
            }
        }
        Ok(instances
            .into_iter()
            .map(|i| i.expect("every member is created"))
            .collect())
    }
}

/// Links deferred import `k` (see `instantiate_group_with`); `state` is
/// 0 (to do), 1 (being linked: seeing it again is a re-export cycle) or 2.
#[allow(clippy::too_many_arguments)]
fn link_deferred<T>(
    inner: &mut StoreInner<T>,
    modules: &[(&str, &Module)],
    infos: &[&ModuleInfo],
    targets: &[Vec<Option<usize>>],
    instances: &[Option<Instance>],
    deferred: &[(usize, usize, u32)],
    state: &mut [u8],
    k: usize,
) -> Result<()> {
    let (m, p, func_index) = deferred[k];
    let imp = &infos[m].imports[p];
    match state[k] {
        2 => return Ok(()),
        1 => {
            return Err(link_error(
                &imp.module,
                &imp.name,
                format!(
                    "`{}::{}` is re-exported around a cycle of modules and defined by none",
                    imp.module, imp.name
                ),
            ))
        }
        _ => {}
    }
    state[k] = 1;
    let t = targets[m][p].expect("deferred imports have a member");
    let tinfo = infos[t];
    let e = tinfo.export(&imp.name).expect("checked");
    if e.index < tinfo.num_imported_funcs {
        // The target re-exports one of its own imports: link that first.
        let tp = func_import_position(tinfo, e.index).expect("an imported function");
        if let Some(j) = deferred.iter().position(|&(dm, dp, _)| dm == t && dp == tp) {
            link_deferred(
                inner, modules, infos, targets, instances, deferred, state, j,
            )?;
        }
    }
    let tinst = instances[t].expect("created");
    let Some(RawExport::Func(f)) = inner.opaque.export(tinst.index, &imp.name) else {
        unreachable!("checked to be a function export")
    };
    let inst = instances[m].expect("created");
    inner
        .opaque
        .link_func_import(inst.index, func_index, f)
        .map_err(|e| {
            link_error(
                &imp.module,
                &imp.name,
                format!("module `{}`: {e}", modules[m].0),
            )
        })?;
    state[k] = 2;
    Ok(())
}
