//! Functions: [`Func`] (any function, called with dynamic [`Val`]s),
//! [`TypedFunc`] (checked once, called with Rust types), host functions
//! made from closures ([`Func::wrap`], [`Func::new`]), and [`Caller`], what
//! a host function sees of the store while wasm is running.
//!
//! How a host function is called: compiled code calls the host trampoline
//! of the import's signature, which spills the arguments into `u128` slots
//! and calls the runtime's dispatcher; the dispatcher calls the boxed
//! closure made here with the store pointer published for the running
//! activation. The closure turns that pointer back into the typed store
//! (`StoreInner<T>`), reads its arguments straight from the slots (no
//! allocation for [`Func::wrap`]), runs the user's closure with a
//! [`Caller`], and writes the results back.
//!
//! What must stay true:
//! - A host closure made for `Store<T>` is only ever bound into stores with
//!   data `T`: `Func::wrap`/`Func::new` take that store, and a
//!   [`crate::Linker<T>`] only instantiates into `Store<T>`.
//! - Argument types are checked before any call ([`Func::call`] checks
//!   every value, [`TypedFunc`] once at creation); a mismatch is an
//!   [`Error::Type`], never a trap and never a call.

use crate::error::{Error, HostError, Result};
use crate::externals::Extern;
use crate::instance::Instance;
use crate::store::{
    check_store, AsContext, AsContextMut, StoreContext, StoreContextMut, StoreInner,
};
use crate::values::{Val, WasmTyList};
use std::marker::PhantomData;
use std::sync::Arc;
use wasabi_runtime::{FuncType, HostFunc, RawExport, StoreId, StoreOpaque, ValType};

/// A function in a store: compiled wasm or a host function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Func {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

/// How many raw slots a call of `ty` needs (params and results share them).
fn slots_for(ty: &FuncType) -> usize {
    ty.params.len().max(ty.results.len()).max(1)
}

/// Calls through the runtime with `slots` holding the arguments.
fn call_slots<T>(store: &mut StoreInner<T>, index: usize, slots: &mut [u128]) -> Result<()> {
    let raw = store.as_raw();
    // SAFETY: `raw` is derived from the exclusive borrow of the whole typed
    // store and nothing else uses that borrow during the call; `index` was
    // checked to belong to this store by the caller; `slots` has room for
    // `max(params, results, 1)` values and holds arguments of the right
    // types (checked by the caller).
    unsafe { StoreOpaque::call_raw(raw, index, slots) }.map_err(Error::Trap)
}

impl Func {
    /// A host function from a closure over wasm-typed arguments, optionally
    /// taking a [`Caller`] first. Its wasm type comes from the closure's
    /// Rust types; it may return nothing, a value, a tuple, or a `Result`
    /// of those (an `Err` traps with that error).
    ///
    /// ```
    /// use wasabi::{Caller, Engine, Func, Store};
    /// let mut store = Store::new(&Engine::default(), 10);
    /// let add = Func::wrap(&mut store, |caller: Caller<'_, i32>, x: i32| x + *caller.data());
    /// let typed = add.typed::<i32, i32>(&store).unwrap();
    /// assert_eq!(typed.call(&mut store, 5).unwrap(), 15);
    /// ```
    pub fn wrap<T, Params, Results>(
        mut store: impl AsContextMut<Data = T>,
        f: impl IntoFunc<T, Params, Results>,
    ) -> Func {
        let host = Arc::new(f.into_host_func());
        let ctx = store.as_context_mut();
        let opaque = &mut ctx.0.opaque;
        Func {
            store: opaque.id(),
            index: opaque.new_host_func(host),
        }
    }

    /// A host function of type `ty` over dynamic values: `f` gets the
    /// arguments and fills the results (pre-set to zero values of the
    /// result types). Results of the wrong type are an error.
    pub fn new<T: 'static>(
        mut store: impl AsContextMut<Data = T>,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), HostError> + Send + Sync + 'static,
    ) -> Func {
        let host = Arc::new(host_func_new(ty, f));
        let ctx = store.as_context_mut();
        let opaque = &mut ctx.0.opaque;
        Func {
            store: opaque.id(),
            index: opaque.new_host_func(host),
        }
    }

    /// The function's type.
    pub fn ty(&self, store: impl AsContext) -> FuncType {
        let ctx = store.as_context();
        check_store(self.store, &ctx.0.opaque, "Func");
        ctx.0.opaque.func_type(self.index).clone()
    }

    /// Calls the function with `params`, writing `results` (whose length
    /// must be the number of results). Wrong argument types or counts are
    /// an [`Error::Type`]; a trap is an [`Error::Trap`].
    pub fn call(
        &self,
        mut store: impl AsContextMut,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<()> {
        let ctx = store.as_context_mut();
        let inner = &mut *ctx.0;
        check_store(self.store, &inner.opaque, "Func");
        let ty = inner.opaque.func_type(self.index).clone();
        let describe = |vals: &[ValType]| {
            vals.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let given: Vec<ValType> = params.iter().map(Val::ty).collect();
        if given != ty.params {
            return Err(Error::Type(format!(
                "function expects parameters ({}), given ({})",
                describe(&ty.params),
                describe(&given)
            )));
        }
        if results.len() != ty.results.len() {
            return Err(Error::Type(format!(
                "function returns {} values ({}), given room for {}",
                ty.results.len(),
                describe(&ty.results),
                results.len()
            )));
        }
        let mut slots = vec![0u128; slots_for(&ty)];
        for (slot, p) in slots.iter_mut().zip(params) {
            *slot = p.to_raw(&mut inner.opaque)?;
        }
        call_slots(inner, self.index, &mut slots)?;
        for ((r, raw), t) in results.iter_mut().zip(&slots).zip(&ty.results) {
            *r = Val::from_raw(&mut inner.opaque, *raw, *t);
        }
        Ok(())
    }

    /// Like [`Func::call`], returning the results as a vector.
    pub fn call_vec(&self, store: impl AsContextMut, params: &[Val]) -> Result<Vec<Val>> {
        let ty = self.ty(store.as_context());
        let mut results: Vec<Val> = ty.results.iter().map(|t| Val::default_for(*t)).collect();
        self.call(store, params, &mut results)?;
        Ok(results)
    }

    /// This function with static types, checked now: an error names both
    /// types when they differ.
    pub fn typed<Params: WasmTyList, Results: WasmTyList>(
        &self,
        store: impl AsContext,
    ) -> Result<TypedFunc<Params, Results>> {
        let ty = self.ty(store);
        let want = FuncType::new(Params::types(), Results::types());
        if ty != want {
            return Err(Error::Type(format!(
                "function has type {ty}, not the requested {want}"
            )));
        }
        Ok(TypedFunc {
            func: *self,
            slots: slots_for(&ty),
            _marker: PhantomData,
        })
    }
}

/// A function whose type was checked once, called with Rust values.
///
/// ```
/// use wasabi::{Engine, Instance, Module, Store};
/// let engine = Engine::default();
/// let module = Module::new(&engine, r#"(module (func (export "mul") (param i64 i64) (result i64)
///     local.get 0 local.get 1 i64.mul))"#).unwrap();
/// let mut store = Store::new(&engine, ());
/// let instance = Instance::new(&mut store, &module, &[]).unwrap();
/// let mul = instance.get_typed_func::<(i64, i64), i64>(&mut store, "mul").unwrap();
/// assert_eq!(mul.call(&mut store, (6, 7)).unwrap(), 42);
/// ```
pub struct TypedFunc<Params, Results> {
    func: Func,
    slots: usize,
    _marker: PhantomData<fn(Params) -> Results>,
}

impl<P, R> Clone for TypedFunc<P, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P, R> Copy for TypedFunc<P, R> {}

impl<Params: WasmTyList, Results: WasmTyList> TypedFunc<Params, Results> {
    /// Calls the function. A trap is an [`Error::Trap`].
    pub fn call(&self, mut store: impl AsContextMut, params: Params) -> Result<Results> {
        let ctx = store.as_context_mut();
        let inner = &mut *ctx.0;
        check_store(self.func.store, &inner.opaque, "TypedFunc");
        let mut small = [0u128; 8];
        let mut big;
        let slots: &mut [u128] = if self.slots <= small.len() {
            &mut small[..self.slots]
        } else {
            big = vec![0u128; self.slots];
            &mut big
        };
        params.store_raw(slots);
        call_slots(inner, self.func.index, slots)?;
        Ok(Results::load_raw(slots))
    }

    /// The untyped function.
    pub fn func(&self) -> Func {
        self.func
    }
}

/// What a host function sees of its caller: the store's data, the calling
/// instance's exports (its memory, above all), and the ability to call any
/// function of the store, re-entrantly.
pub struct Caller<'a, T> {
    pub(crate) store: &'a mut StoreInner<T>,
    /// The calling instance's index in the store (`None` when the host
    /// called the function directly).
    pub(crate) caller: Option<usize>,
}

impl<'a, T> Caller<'a, T> {
    /// The store's data.
    pub fn data(&self) -> &T {
        &self.store.data
    }

    /// The store's data, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.store.data
    }

    /// The engine of the store.
    pub fn engine(&self) -> &crate::Engine {
        &self.store.engine
    }

    /// The store's data, for the rest of the host call.
    pub fn into_data_mut(self) -> &'a mut T {
        &mut self.store.data
    }

    /// The export `name` of the instance that called this host function.
    pub fn get_export(&mut self, name: &str) -> Option<Extern> {
        let i = self.caller?;
        let raw = self.store.opaque.export(i, name)?;
        Some(Extern::from_raw(self.store.opaque.id(), raw))
    }

    /// The calling instance.
    pub fn instance(&self) -> Option<Instance> {
        self.caller.map(|index| Instance {
            store: self.store.opaque.id(),
            index,
        })
    }
}

impl<T> AsContext for Caller<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.store)
    }
}

impl<T> AsContextMut for Caller<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(self.store)
    }
}

/// Turns the raw pointer of the running activation back into the typed
/// store.
///
/// # Safety
/// `store` must be the pointer `call_slots` published for a `StoreInner<T>`
/// (host closures made for `T` are only bound into `Store<T>`), and no
/// other reference to that store may be used while the result lives.
unsafe fn typed_store<'a, T>(store: *mut StoreOpaque) -> &'a mut StoreInner<T> {
    &mut *(store as *mut StoreInner<T>)
}

/// The type-erased host function for [`Func::new`] and
/// [`crate::Linker::func_new`].
pub(crate) fn host_func_new<T: 'static>(
    ty: FuncType,
    f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), HostError> + Send + Sync + 'static,
) -> HostFunc {
    let fty = ty.clone();
    let call = move |store: *mut StoreOpaque, caller: Option<usize>, slots: *mut u128| {
        // SAFETY: see `typed_store`; the dispatcher passes the activation's
        // store, which is a `StoreInner<T>` for this closure.
        let inner = unsafe { typed_store::<T>(store) };
        let n = slots_for(&fty);
        // SAFETY: trampolines pass `max(params, results, 1)` slots.
        let slots = unsafe { std::slice::from_raw_parts_mut(slots, n) };
        let args: Vec<Val> = fty
            .params
            .iter()
            .zip(slots.iter())
            .map(|(t, raw)| Val::from_raw(&mut inner.opaque, *raw, *t))
            .collect();
        let mut results: Vec<Val> = fty.results.iter().map(|t| Val::default_for(*t)).collect();
        f(
            Caller {
                store: &mut *inner,
                caller,
            },
            &args,
            &mut results,
        )?;
        for ((slot, v), t) in slots.iter_mut().zip(&results).zip(&fty.results) {
            if v.ty() != *t {
                return Err(
                    format!("host function returned {} where {t} was expected", v.ty()).into(),
                );
            }
            *slot = v.to_raw(&mut inner.opaque).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    HostFunc {
        ty,
        call: Box::new(call),
    }
}

/// What a host closure may return: nothing, a [`crate::WasmTy`] or a
/// tuple of them, or a `Result` of those whose error becomes a trap.
pub trait WasmRet: Sized + 'static {
    #[doc(hidden)]
    type Ok: WasmTyList;
    #[doc(hidden)]
    fn into_result(self) -> Result<Self::Ok, HostError>;
}

impl<R: WasmTyList> WasmRet for R {
    type Ok = R;
    fn into_result(self) -> Result<R, HostError> {
        Ok(self)
    }
}

impl<R: WasmTyList, E: Into<HostError> + 'static> WasmRet for Result<R, E> {
    type Ok = R;
    fn into_result(self) -> Result<R, HostError> {
        self.map_err(Into::into)
    }
}

/// A closure usable as a host function in a `Store<T>`. Implemented for
/// `Fn(A1, .., An) -> R` and `Fn(Caller<'_, T>, A1, .., An) -> R` (up to
/// 12 parameters) where each `Ai` is a [`crate::WasmTy`] and `R` a
/// [`WasmRet`]. `Params` and `Results` only guide type inference.
pub trait IntoFunc<T, Params, Results>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_host_func(self) -> HostFunc;
}

/// Marker for closures that take a [`Caller`] first.
pub struct WithCaller<P>(PhantomData<P>);

macro_rules! into_func {
    ($($a:ident $i:tt),*) => {
        #[allow(non_snake_case)]
        impl<T: 'static, F, R, $($a: crate::values::WasmTy),*> IntoFunc<T, ($($a,)*), R> for F
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
            R: WasmRet,
        {
            fn into_host_func(self) -> HostFunc {
                let caller_less = move |_: Caller<'_, T>, $($a: $a),*| self($($a),*);
                build_host_func::<T, _, ($($a,)*), R>(move |caller, args: ($($a,)*)| {
                    #[allow(non_snake_case)]
                    let ($($a,)*) = args;
                    caller_less(caller, $($a),*)
                })
            }
        }

        #[allow(non_snake_case)]
        impl<T: 'static, F, R, $($a: crate::values::WasmTy),*> IntoFunc<T, WithCaller<($($a,)*)>, R> for F
        where
            F: Fn(Caller<'_, T>, $($a),*) -> R + Send + Sync + 'static,
            R: WasmRet,
        {
            fn into_host_func(self) -> HostFunc {
                build_host_func::<T, _, ($($a,)*), R>(move |caller, args: ($($a,)*)| {
                    #[allow(non_snake_case)]
                    let ($($a,)*) = args;
                    self(caller, $($a),*)
                })
            }
        }
    };
}

/// The parameter list of [`IntoFunc`] closures, as a tuple.
trait ParamTuple: Sized + Send + 'static {
    fn types() -> Vec<ValType>;
    fn load(slots: &[u128]) -> Self;
}

impl ParamTuple for () {
    fn types() -> Vec<ValType> {
        Vec::new()
    }
    fn load(_: &[u128]) -> Self {}
}

macro_rules! param_tuple {
    ($($a:ident $i:tt),+) => {
        impl<$($a: crate::values::WasmTy),+> ParamTuple for ($($a,)+) {
            fn types() -> Vec<ValType> {
                vec![$($a::TYPE),+]
            }
            fn load(slots: &[u128]) -> Self {
                ($($a::from_raw(slots[$i]),)+)
            }
        }
    };
}

param_tuple!(A 0);
param_tuple!(A 0, B 1);
param_tuple!(A 0, B 1, C 2);
param_tuple!(A 0, B 1, C 2, D 3);
param_tuple!(A 0, B 1, C 2, D 3, E 4);
param_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
param_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
param_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
param_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
param_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
param_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
param_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

into_func!();
into_func!(A1 0);
into_func!(A1 0, A2 1);
into_func!(A1 0, A2 1, A3 2);
into_func!(A1 0, A2 1, A3 2, A4 3);
into_func!(A1 0, A2 1, A3 2, A4 3, A5 4);
into_func!(A1 0, A2 1, A3 2, A4 3, A5 4, A6 5);
into_func!(A1 0, A2 1, A3 2, A4 3, A5 4, A6 5, A7 6);
into_func!(A1 0, A2 1, A3 2, A4 3, A5 4, A6 5, A7 6, A8 7);
into_func!(A1 0, A2 1, A3 2, A4 3, A5 4, A6 5, A7 6, A8 7, A9 8);
into_func!(A1 0, A2 1, A3 2, A4 3, A5 4, A6 5, A7 6, A8 7, A9 8, A10 9);
into_func!(A1 0, A2 1, A3 2, A4 3, A5 4, A6 5, A7 6, A8 7, A9 8, A10 9, A11 10);
into_func!(A1 0, A2 1, A3 2, A4 3, A5 4, A6 5, A7 6, A8 7, A9 8, A10 9, A11 10, A12 11);

/// The type-erased host function of a typed closure: reads the arguments
/// from the slots, calls, writes the results back. No allocation.
fn build_host_func<T: 'static, F, P: ParamTuple, R: WasmRet>(f: F) -> HostFunc
where
    F: Fn(Caller<'_, T>, P) -> R + Send + Sync + 'static,
{
    let params = P::types();
    let results = <R::Ok as WasmTyList>::types();
    let n = params.len().max(results.len()).max(1);
    let call = move |store: *mut StoreOpaque, caller: Option<usize>, slots: *mut u128| {
        // SAFETY: trampolines (and `call_slots`) pass `max(params, results,
        // 1)` slots for this function's type.
        let slots = unsafe { std::slice::from_raw_parts_mut(slots, n) };
        let args = P::load(slots);
        // SAFETY: see `typed_store`: this closure was made for `T`.
        let inner = unsafe { typed_store::<T>(store) };
        let r = f(
            Caller {
                store: inner,
                caller,
            },
            args,
        )
        .into_result()?;
        r.store_raw(slots);
        Ok(())
    };
    HostFunc {
        ty: FuncType::new(params, results),
        call: Box::new(call),
    }
}

/// Looks up a function export for [`Instance`] and [`Caller`].
pub(crate) fn func_from_export(store: StoreId, raw: Option<RawExport>) -> Option<Func> {
    match raw? {
        RawExport::Func(index) => Some(Func { store, index }),
        _ => None,
    }
}
