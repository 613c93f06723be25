//! Values as the embedder sees them: [`Val`] for dynamic calls, and the
//! [`WasmTy`]/[`WasmTyList`] traits that map Rust types to wasm types for
//! typed calls and host functions.
//!
//! What must stay true: a raw slot (`u128`, the form trampolines, tables
//! and globals use) is only ever made from a [`Val`] after checking that any
//! function reference in it belongs to the same store, so no value can
//! smuggle an address into compiled code.

use crate::error::{Error, Result};
use crate::func::Func;
use crate::store::check_store;
use wasabi_runtime::{StoreOpaque, ValType};

pub use wasabi_runtime::ExternRef;

/// A WebAssembly value. Floats are kept as their bits, so NaN payloads
/// survive a round trip; use [`Val::f32`]/[`Val::f64`] to build them from
/// floats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val {
    /// A 32-bit integer.
    I32(i32),
    /// A 64-bit integer.
    I64(i64),
    /// The bits of an `f32`.
    F32(u32),
    /// The bits of an `f64`.
    F64(u64),
    /// A 128-bit vector, as its bits.
    V128(u128),
    /// A function reference (`None` is `ref.null func`).
    FuncRef(Option<Func>),
    /// An external reference (`None` is `ref.null extern`).
    ExternRef(Option<ExternRef>),
}

impl Val {
    /// An `f32` value.
    pub fn f32(v: f32) -> Val {
        Val::F32(v.to_bits())
    }
    /// An `f64` value.
    pub fn f64(v: f64) -> Val {
        Val::F64(v.to_bits())
    }

    /// The value's type.
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
        }
    }

    /// The zero value of a type (null for references).
    pub fn default_for(ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::FuncRef => Val::FuncRef(None),
            ValType::ExternRef => Val::ExternRef(None),
        }
    }

    /// The integer, if this is an `i32`.
    pub fn i32(&self) -> Option<i32> {
        match self {
            Val::I32(v) => Some(*v),
            _ => None,
        }
    }
    /// The integer, if this is an `i64`.
    pub fn i64(&self) -> Option<i64> {
        match self {
            Val::I64(v) => Some(*v),
            _ => None,
        }
    }
    /// The float, if this is an `f32`.
    pub fn as_f32(&self) -> Option<f32> {
        match self {
            Val::F32(v) => Some(f32::from_bits(*v)),
            _ => None,
        }
    }
    /// The float, if this is an `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Val::F64(v) => Some(f64::from_bits(*v)),
            _ => None,
        }
    }

    /// The raw slot form, for `store`. Function references must belong to
    /// `store` (panics otherwise, like any handle misuse).
    pub(crate) fn to_raw(self, store: &mut StoreOpaque) -> Result<u128> {
        Ok(match self {
            Val::FuncRef(Some(f)) => {
                check_store(f.store, store, "Func");
                store.funcref_of(f.index).map_err(Error::Type)? as u128
            }
            Val::FuncRef(None) => 0,
            other => wasabi_runtime::Val::from(other.plain()).to_raw(),
        })
    }

    /// A value read from a raw slot of `store`.
    pub(crate) fn from_raw(store: &mut StoreOpaque, raw: u128, ty: ValType) -> Val {
        match ty {
            ValType::FuncRef => match raw as u64 as usize {
                0 => Val::FuncRef(None),
                fr => Val::FuncRef(Some(Func {
                    store: store.id(),
                    index: store.intern_funcref(fr),
                })),
            },
            _ => Val::from_plain(wasabi_runtime::Val::from_raw(raw, ty)),
        }
    }

    /// This value without function references (those are converted by
    /// `to_raw`).
    fn plain(self) -> PlainVal {
        PlainVal(self)
    }

    fn from_plain(v: wasabi_runtime::Val) -> Val {
        use wasabi_runtime::Val as R;
        match v {
            R::I32(v) => Val::I32(v),
            R::I64(v) => Val::I64(v),
            R::F32(v) => Val::F32(v),
            R::F64(v) => Val::F64(v),
            R::V128(v) => Val::V128(v),
            R::FuncRef(_) => unreachable!("function references are converted with the store"),
            R::ExternRef(r) => Val::ExternRef(r),
        }
    }
}

/// A [`Val`] known to hold no function reference.
struct PlainVal(Val);

impl From<PlainVal> for wasabi_runtime::Val {
    fn from(v: PlainVal) -> Self {
        use wasabi_runtime::Val as R;
        match v.0 {
            Val::I32(v) => R::I32(v),
            Val::I64(v) => R::I64(v),
            Val::F32(v) => R::F32(v),
            Val::F64(v) => R::F64(v),
            Val::V128(v) => R::V128(v),
            Val::ExternRef(r) => R::ExternRef(r),
            Val::FuncRef(_) => unreachable!("converted by to_raw"),
        }
    }
}

impl std::fmt::Display for Val {
    /// `42:i32`, `1.5:f64`, `null:funcref`, ...
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Val::I32(v) => write!(f, "{v}:i32"),
            Val::I64(v) => write!(f, "{v}:i64"),
            Val::F32(v) => write!(f, "{}:f32", f32::from_bits(v)),
            Val::F64(v) => write!(f, "{}:f64", f64::from_bits(v)),
            Val::V128(v) => write!(f, "{v:#034x}:v128"),
            Val::FuncRef(None) => write!(f, "null:funcref"),
            Val::FuncRef(Some(_)) => write!(f, "function:funcref"),
            Val::ExternRef(None) => write!(f, "null:externref"),
            Val::ExternRef(Some(r)) => write!(f, "{}:externref", r.0),
        }
    }
}

impl From<i32> for Val {
    fn from(v: i32) -> Val {
        Val::I32(v)
    }
}
impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I64(v)
    }
}
impl From<f32> for Val {
    fn from(v: f32) -> Val {
        Val::f32(v)
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::f64(v)
    }
}
impl From<Func> for Val {
    fn from(f: Func) -> Val {
        Val::FuncRef(Some(f))
    }
}

/// A Rust type that is one wasm value type, for typed calls and host
/// functions: `i32`, `u32` (as i32), `i64`, `u64` (as i64), `f32`, `f64`,
/// `u128` (as v128) and `Option<ExternRef>`.
pub trait WasmTy: Copy + Send + 'static {
    /// The wasm value type this Rust type stands for.
    const TYPE: ValType;
    #[doc(hidden)]
    fn into_raw(self) -> u128;
    #[doc(hidden)]
    fn from_raw(raw: u128) -> Self;
}

macro_rules! wasm_ty {
    ($t:ty, $vt:ident, |$s:ident| $into:expr, |$r:ident| $from:expr) => {
        impl WasmTy for $t {
            const TYPE: ValType = ValType::$vt;
            fn into_raw(self) -> u128 {
                let $s = self;
                $into
            }
            fn from_raw($r: u128) -> Self {
                $from
            }
        }
    };
}

wasm_ty!(i32, I32, |v| v as u32 as u128, |r| r as u32 as i32);
wasm_ty!(u32, I32, |v| v as u128, |r| r as u32);
wasm_ty!(i64, I64, |v| v as u64 as u128, |r| r as u64 as i64);
wasm_ty!(u64, I64, |v| v as u128, |r| r as u64);
wasm_ty!(f32, F32, |v| v.to_bits() as u128, |r| f32::from_bits(
    r as u32
));
wasm_ty!(f64, F64, |v| v.to_bits() as u128, |r| f64::from_bits(
    r as u64
));
wasm_ty!(u128, V128, |v| v, |r| r);
wasm_ty!(
    Option<ExternRef>,
    ExternRef,
    |v| wasabi_runtime::Val::ExternRef(v).to_raw(),
    |r| match wasabi_runtime::Val::from_raw(r, ValType::ExternRef) {
        wasabi_runtime::Val::ExternRef(e) => e,
        _ => None,
    }
);

/// A list of wasm values as a Rust type: `()`, one [`WasmTy`], or a tuple
/// of them. Parameters and results of typed functions.
pub trait WasmTyList: Sized + Send + 'static {
    /// The wasm types, in order.
    fn types() -> Vec<ValType>;
    /// How many values.
    const LEN: usize;
    #[doc(hidden)]
    fn store_raw(self, slots: &mut [u128]);
    #[doc(hidden)]
    fn load_raw(slots: &[u128]) -> Self;
}

impl WasmTyList for () {
    fn types() -> Vec<ValType> {
        Vec::new()
    }
    const LEN: usize = 0;
    fn store_raw(self, _: &mut [u128]) {}
    fn load_raw(_: &[u128]) -> Self {}
}

impl<A: WasmTy> WasmTyList for A {
    fn types() -> Vec<ValType> {
        vec![A::TYPE]
    }
    const LEN: usize = 1;
    fn store_raw(self, slots: &mut [u128]) {
        slots[0] = self.into_raw();
    }
    fn load_raw(slots: &[u128]) -> Self {
        A::from_raw(slots[0])
    }
}

macro_rules! tuple_list {
    ($n:expr; $($t:ident $i:tt),+) => {
        impl<$($t: WasmTy),+> WasmTyList for ($($t,)+) {
            fn types() -> Vec<ValType> {
                vec![$($t::TYPE),+]
            }
            const LEN: usize = $n;
            fn store_raw(self, slots: &mut [u128]) {
                $(slots[$i] = self.$i.into_raw();)+
            }
            fn load_raw(slots: &[u128]) -> Self {
                ($($t::from_raw(slots[$i]),)+)
            }
        }
    };
}

tuple_list!(1; A 0);
tuple_list!(2; A 0, B 1);
tuple_list!(3; A 0, B 1, C 2);
tuple_list!(4; A 0, B 1, C 2, D 3);
tuple_list!(5; A 0, B 1, C 2, D 3, E 4);
tuple_list!(6; A 0, B 1, C 2, D 3, E 4, F 5);
tuple_list!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_list!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_list!(9; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_list!(10; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_list!(11; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_list!(12; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
