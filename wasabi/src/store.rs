//! [`Store<T>`]: the owner of every instance, memory, table, global and
//! function, plus the embedder's data `T`; and the context traits through
//! which every handle reaches its store.
//!
//! What must stay true (this is what makes handles sound):
//! - A handle ([`crate::Func`], [`crate::Memory`], ...) is a store id plus an
//!   index. Every use goes through [`AsContext`]/[`AsContextMut`] and checks
//!   the id first ([`StoreOpaque`]'s objects are only reached after
//!   [`check_store`]): a handle used with another store panics with a clear
//!   message, and a handle whose store was dropped has no store to be used
//!   with.
//! - `StoreInner<T>` is `#[repr(C)]` with the untyped store first, and it is
//!   boxed, so its address never changes: while wasm runs, host functions
//!   reach it through the pointer published for the activation and cast it
//!   back to `StoreInner<T>` (see `func.rs`).
//! - Slices of linear memory borrow the store, so no wasm can run (it needs
//!   the store mutably) while the host holds one.

use crate::engine::Engine;
use crate::func::Caller;
use wasabi_runtime::{StoreConfig, StoreId, StoreOpaque};

/// The store as host functions see it: the untyped store, then the data.
#[repr(C)]
pub(crate) struct StoreInner<T> {
    pub(crate) opaque: StoreOpaque,
    pub(crate) engine: Engine,
    pub(crate) data: T,
}

/// Owns everything wasm code can touch, and the host's data `T`.
///
/// Everything created in a store lives until the store is dropped. A store
/// is `Send` when `T` is, so it can move between threads between calls.
///
/// ```
/// use wasabi::{Engine, Store};
/// let mut store = Store::new(&Engine::default(), 0u32);
/// *store.data_mut() += 1;
/// assert_eq!(*store.data(), 1);
/// ```
pub struct Store<T> {
    inner: Box<StoreInner<T>>,
}

impl<T> Store<T> {
    /// A new, empty store holding `data`.
    pub fn new(engine: &Engine, data: T) -> Store<T> {
        let config = StoreConfig {
            max_wasm_stack: engine.config().max_wasm_stack,
            // Only code compiled with epoch checks polls: other stores
            // need no poll page.
            epoch: engine
                .config()
                .epoch_interruption
                .then(|| engine.epoch_clock().clone()),
        };
        Store {
            inner: Box::new(StoreInner {
                opaque: StoreOpaque::new(config),
                engine: engine.clone(),
                data,
            }),
        }
    }

    /// The engine this store was made with.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The host data.
    pub fn data(&self) -> &T {
        &self.inner.data
    }

    /// The host data, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.inner.data
    }

    /// Gives the data back, dropping everything else the store owns.
    pub fn into_data(self) -> T {
        let StoreInner { opaque, data, .. } = *self.inner;
        drop(opaque);
        data
    }

    /// Sets the fuel left for wasm to spend (one unit per operator). A call
    /// that runs out traps with "interrupted: out of fuel"; the store stays
    /// usable, and more fuel lets the next call run. Needs an engine with
    /// [`crate::Config::consume_fuel`]. A new store has 0 fuel.
    ///
    /// ```
    /// use wasabi::{Config, Engine, Instance, Module, Store};
    /// let engine = Engine::new(Config::new().consume_fuel(true));
    /// let module = Module::new(&engine, r#"(module (func (export "spin") (loop (br 0))))"#)?;
    /// let mut store = Store::new(&engine, ());
    /// store.set_fuel(10_000)?;
    /// let instance = Instance::new(&mut store, &module, &[])?;
    /// let spin = instance.get_typed_func::<(), ()>(&mut store, "spin")?;
    /// let err = spin.call(&mut store, ()).unwrap_err();
    /// assert!(err.to_string().contains("interrupted: out of fuel"), "{err}");
    /// assert_eq!(store.get_fuel()?, 0);
    /// # Ok::<(), wasabi::Error>(())
    /// ```
    pub fn set_fuel(&mut self, fuel: u64) -> crate::Result<()> {
        set_fuel(&mut self.inner, fuel)
    }

    /// The fuel left (0 once a call ran out). Needs an engine with
    /// [`crate::Config::consume_fuel`].
    pub fn get_fuel(&self) -> crate::Result<u64> {
        get_fuel(&self.inner)
    }

    /// Sets the epoch deadline `ticks` epochs after the engine's current
    /// one: once [`Engine::increment_epoch`] has been called that many
    /// times, wasm in this store traps with "interrupted: deadline
    /// exceeded". Needs an engine with [`crate::Config::epoch_interruption`]
    /// (without it, code has no epoch checks and this has no effect). A new
    /// store has no deadline.
    pub fn set_epoch_deadline(&mut self, ticks: u64) {
        let now = self.inner.opaque.current_epoch();
        self.inner
            .opaque
            .limits()
            .set_epoch_deadline(now.saturating_add(ticks));
    }

    /// A handle to interrupt wasm running in this store from another
    /// thread (or a signal handler): see [`InterruptHandle`].
    ///
    /// ```
    /// use wasabi::{Config, Engine, Instance, Module, Store};
    /// let engine = Engine::new(Config::new().epoch_interruption(true));
    /// let module = Module::new(&engine, r#"(module (func (export "spin") (loop (br 0))))"#)?;
    /// let mut store = Store::new(&engine, ());
    /// let instance = Instance::new(&mut store, &module, &[])?;
    /// let spin = instance.get_typed_func::<(), ()>(&mut store, "spin")?;
    /// let handle = store.interrupt_handle();
    /// std::thread::spawn(move || {
    ///     std::thread::sleep(std::time::Duration::from_millis(50));
    ///     handle.interrupt();
    /// });
    /// let err = spin.call(&mut store, ()).unwrap_err();
    /// assert!(err.to_string().contains("interrupted"), "{err}");
    /// // The interruption was consumed: the store runs wasm again.
    /// # Ok::<(), wasabi::Error>(())
    /// ```
    pub fn interrupt_handle(&self) -> InterruptHandle {
        InterruptHandle(self.inner.opaque.interrupt_handle())
    }

    /// Sets limits on the memories and tables of this store (see
    /// [`StoreLimits`]). They apply to growth from now on and to every
    /// later instantiation; what already exists is not shrunk.
    pub fn set_limits(&mut self, limits: StoreLimits) {
        let l = self.inner.opaque.limits();
        l.max_memory_bytes.store(
            limits.max_memory_bytes.unwrap_or(usize::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        l.max_table_elements.store(
            limits.max_table_elements.unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

fn set_fuel<T>(inner: &mut StoreInner<T>, fuel: u64) -> crate::Result<()> {
    fuel_enabled(&inner.engine)?;
    let fuel = i64::try_from(fuel).unwrap_or(i64::MAX);
    inner
        .opaque
        .limits()
        .fuel
        .store(fuel, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

fn get_fuel<T>(inner: &StoreInner<T>) -> crate::Result<u64> {
    fuel_enabled(&inner.engine)?;
    let fuel = inner
        .opaque
        .limits()
        .fuel
        .load(std::sync::atomic::Ordering::Relaxed);
    Ok(fuel.max(0) as u64)
}

fn fuel_enabled(engine: &Engine) -> crate::Result<()> {
    if engine.config().consume_fuel {
        Ok(())
    } else {
        Err(crate::Error::Config(
            "fuel is not enabled for this engine (Config::consume_fuel)".into(),
        ))
    }
}

impl<T> Caller<'_, T> {
    /// The fuel left in the store (see [`Store::get_fuel`]).
    pub fn get_fuel(&self) -> crate::Result<u64> {
        get_fuel(self.store)
    }

    /// Sets the fuel left in the store (see [`Store::set_fuel`]): a host
    /// function may charge for its own work or refuel the guest.
    pub fn set_fuel(&mut self, fuel: u64) -> crate::Result<()> {
        set_fuel(self.store, fuel)
    }
}

/// Interrupts wasm running in one store, from any thread. Cheap to clone;
/// outlives the store harmlessly.
///
/// [`InterruptHandle::interrupt`] makes the running call (or, when none is
/// running, the next one) trap with "interrupted" at its next function
/// entry or loop header. Only code compiled with
/// [`crate::Config::epoch_interruption`] has those checks.
#[derive(Clone, Debug)]
pub struct InterruptHandle(wasabi_runtime::InterruptHandle);

impl InterruptHandle {
    /// Requests the interruption (async-signal-safe: two atomic stores).
    pub fn interrupt(&self) {
        self.0.interrupt();
    }

    /// Withdraws a request no wasm has seen yet, e.g. one that arrived just
    /// after the call it was meant for returned, so it cannot stop the
    /// next call.
    pub fn clear(&self) {
        self.0.clear();
    }
}

/// Size limits for a store's memories and tables; `None` is no limit
/// beyond what the module declares.
///
/// A `memory.grow` or `table.grow` past a limit fails the way the spec
/// lets growth fail (it returns -1); instantiating a module whose memory or
/// table needs more from the start is an [`crate::Error::Resource`].
///
/// ```
/// use wasabi::{Engine, Instance, Module, Store, StoreLimits};
/// let engine = Engine::default();
/// let module = Module::new(&engine, r#"(module (memory (export "m") 1)
///     (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#)?;
/// let mut store = Store::new(&engine, ());
/// store.set_limits(StoreLimits { max_memory_bytes: Some(4 << 16), ..Default::default() });
/// let instance = Instance::new(&mut store, &module, &[])?;
/// let grow = instance.get_typed_func::<i32, i32>(&mut store, "grow")?;
/// assert_eq!(grow.call(&mut store, 3)?, 1); // 4 pages: at the limit
/// assert_eq!(grow.call(&mut store, 1)?, -1); // 5 pages: refused
/// # Ok::<(), wasabi::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreLimits {
    /// The largest size in bytes of any one memory.
    pub max_memory_bytes: Option<usize>,
    /// The largest number of elements of any one table.
    pub max_table_elements: Option<u64>,
}

impl Default for Store<()> {
    fn default() -> Self {
        Store::new(&Engine::default(), ())
    }
}

impl<T> std::fmt::Debug for Store<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("id", &self.inner.opaque.id())
            .finish()
    }
}

/// A shared borrow of a store (or of the store behind a [`crate::Caller`]).
pub struct StoreContext<'a, T>(pub(crate) &'a StoreInner<T>);

/// An exclusive borrow of a store (or of the store behind a
/// [`crate::Caller`]).
pub struct StoreContextMut<'a, T>(pub(crate) &'a mut StoreInner<T>);

impl<T> StoreContext<'_, T> {
    /// The host data.
    pub fn data(&self) -> &T {
        &self.0.data
    }
    /// The engine of the store.
    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }
}

impl<T> StoreContextMut<'_, T> {
    /// The host data.
    pub fn data(&self) -> &T {
        &self.0.data
    }
    /// The host data, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.0.data
    }
    /// The engine of the store.
    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }
}

/// Anything that can lend a store for reading: `&Store<T>`, `&mut
/// Store<T>`, a [`crate::Caller`], a context.
pub trait AsContext {
    /// The type of the store's host data.
    type Data;
    /// Borrows the store for reading.
    fn as_context(&self) -> StoreContext<'_, Self::Data>;
}

/// Anything that can lend a store for writing (and calling wasm).
pub trait AsContextMut: AsContext {
    /// Borrows the store for writing.
    fn as_context_mut(&mut self) -> StoreContextMut<'_, Self::Data>;
}

impl<T> AsContext for Store<T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(&self.inner)
    }
}

impl<T> AsContextMut for Store<T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(&mut self.inner)
    }
}

impl<T> AsContext for StoreContext<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}

impl<T> AsContext for StoreContextMut<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}

impl<T> AsContextMut for StoreContextMut<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(self.0)
    }
}

impl<C: AsContext + ?Sized> AsContext for &C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        (**self).as_context()
    }
}

impl<C: AsContext + ?Sized> AsContext for &mut C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        (**self).as_context()
    }
}

impl<C: AsContextMut + ?Sized> AsContextMut for &mut C {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, C::Data> {
        (**self).as_context_mut()
    }
}

/// Panics unless `id` (a handle's store) is `store`'s id: using a handle
/// with a store it does not belong to is a bug in the embedder, and going
/// on would touch another store's objects.
#[track_caller]
pub(crate) fn check_store(id: StoreId, store: &StoreOpaque, what: &str) {
    if id != store.id() {
        panic!(
            "wasabi: a {what} was used with a Store it does not belong to \
             (handles are only valid with the store that created them)"
        );
    }
}

/// Raw access for the handles' implementations.
impl<T> StoreInner<T> {
    /// A raw pointer to the whole store with the provenance host functions
    /// need (they cast it back to `StoreInner<T>`).
    pub(crate) fn as_raw(&mut self) -> *mut StoreOpaque {
        self as *mut StoreInner<T> as *mut StoreOpaque
    }
}

// Conversions for `Memory::data` and friends, which take
// `impl Into<StoreContext<'a, T>>` so their slices borrow the store for 'a.
impl<'a, T> From<&'a StoreContext<'_, T>> for StoreContext<'a, T> {
    fn from(c: &'a StoreContext<'_, T>) -> Self {
        StoreContext(c.0)
    }
}
impl<'a, T> From<&'a Store<T>> for StoreContext<'a, T> {
    fn from(s: &'a Store<T>) -> Self {
        StoreContext(&s.inner)
    }
}
impl<'a, T> From<&'a mut Store<T>> for StoreContext<'a, T> {
    fn from(s: &'a mut Store<T>) -> Self {
        StoreContext(&s.inner)
    }
}
impl<'a, T> From<&'a Caller<'_, T>> for StoreContext<'a, T> {
    fn from(c: &'a Caller<'_, T>) -> Self {
        StoreContext(c.store)
    }
}
impl<'a, T> From<&'a mut Caller<'_, T>> for StoreContext<'a, T> {
    fn from(c: &'a mut Caller<'_, T>) -> Self {
        StoreContext(c.store)
    }
}
impl<'a, T> From<&'a mut Store<T>> for StoreContextMut<'a, T> {
    fn from(s: &'a mut Store<T>) -> Self {
        StoreContextMut(&mut s.inner)
    }
}
impl<'a, T> From<&'a mut Caller<'_, T>> for StoreContextMut<'a, T> {
    fn from(c: &'a mut Caller<'_, T>) -> Self {
        c.as_context_mut()
    }
}
impl<'a, T> From<&'a mut StoreContextMut<'_, T>> for StoreContextMut<'a, T> {
    fn from(c: &'a mut StoreContextMut<'_, T>) -> Self {
        c.as_context_mut()
    }
}
