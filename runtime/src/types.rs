//! Value types, function signatures, values, and the process-wide signature
//! registry.
//!
//! What must stay true: a [`SigId`] names one structural signature for the
//! whole process, so `call_indirect` can compare a table entry's type with the
//! expected one by a single integer compare, whichever module either came from.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// A WebAssembly value type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    FuncRef,
    ExternRef,
}

impl ValType {
    pub fn is_ref(self) -> bool {
        matches!(self, ValType::FuncRef | ValType::ExternRef)
    }

    /// Converts a wasmparser type; `None` for types outside WebAssembly 2.0.
    pub fn from_wasmparser(ty: wasmparser::ValType) -> Option<ValType> {
        use wasmparser::ValType as W;
        Some(match ty {
            W::I32 => ValType::I32,
            W::I64 => ValType::I64,
            W::F32 => ValType::F32,
            W::F64 => ValType::F64,
            W::V128 => ValType::V128,
            W::Ref(r) => Self::from_ref_type(r)?,
        })
    }

    pub fn from_ref_type(r: wasmparser::RefType) -> Option<ValType> {
        if r == wasmparser::RefType::FUNCREF {
            Some(ValType::FuncRef)
        } else if r == wasmparser::RefType::EXTERNREF {
            Some(ValType::ExternRef)
        } else {
            None
        }
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
        })
    }
}

/// A function signature.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, Default)]
pub struct FuncType {
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
}

impl FuncType {
    pub fn new(params: impl Into<Vec<ValType>>, results: impl Into<Vec<ValType>>) -> Self {
        FuncType {
            params: params.into(),
            results: results.into(),
        }
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[ValType]| {
            v.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        write!(
            f,
            "(func (param {}) (result {}))",
            list(&self.params),
            list(&self.results)
        )
    }
}

/// A canonical signature id, shared by every module in the process.
/// Id 0 is never handed out, so a zeroed `VMFuncRef` never matches.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(transparent)]
pub struct SigId(pub u32);

/// Both directions of the registry: id by type, and type by id - 1.
#[derive(Default)]
struct Registry {
    ids: HashMap<FuncType, SigId>,
    types: Vec<FuncType>,
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    static REG: OnceLock<Mutex<Registry>> = OnceLock::new();
    REG.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

impl SigId {
    /// The id of `ty`, registering it on first sight. Ids are never freed.
    pub fn intern(ty: &FuncType) -> SigId {
        let mut reg = registry();
        if let Some(&id) = reg.ids.get(ty) {
            return id;
        }
        reg.types.push(ty.clone());
        let id = SigId(reg.types.len() as u32);
        reg.ids.insert(ty.clone(), id);
        id
    }

    /// The type this id was interned for. Panics for an id never handed out.
    pub fn func_type(self) -> FuncType {
        registry().types[self.0 as usize - 1].clone()
    }
}

/// An opaque host reference carried by `externref`. The raw encoding used in
/// compiled code and tables is `value + 1`, so that 0 is `ref.null extern`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ExternRef(pub u64);

/// A WebAssembly value as the host sees it. Floats are kept as bits so NaN
/// payloads survive a round trip.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Val {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    /// A function reference: a `*const VMFuncRef` (null for `ref.null func`).
    FuncRef(usize),
    ExternRef(Option<ExternRef>),
}

impl Val {
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
            ValType::FuncRef => Val::FuncRef(0),
            ValType::ExternRef => Val::ExternRef(None),
        }
    }

    /// The raw 16-byte slot form used by trampolines and globals.
    pub fn to_raw(&self) -> u128 {
        match *self {
            Val::I32(v) => v as u32 as u128,
            Val::I64(v) => v as u64 as u128,
            Val::F32(v) => v as u128,
            Val::F64(v) => v as u128,
            Val::V128(v) => v,
            Val::FuncRef(p) => p as u128,
            Val::ExternRef(None) => 0,
            Val::ExternRef(Some(ExternRef(v))) => v.wrapping_add(1) as u128,
        }
    }

    pub fn from_raw(raw: u128, ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw as u32 as i32),
            ValType::I64 => Val::I64(raw as u64 as i64),
            ValType::F32 => Val::F32(raw as u32),
            ValType::F64 => Val::F64(raw as u64),
            ValType::V128 => Val::V128(raw),
            ValType::FuncRef => Val::FuncRef(raw as u64 as usize),
            ValType::ExternRef => match raw as u64 {
                0 => Val::ExternRef(None),
                v => Val::ExternRef(Some(ExternRef(v - 1))),
            },
        }
    }
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Val::I32(v) => write!(f, "{v}:i32"),
            Val::I64(v) => write!(f, "{v}:i64"),
            Val::F32(v) => write!(f, "{}:f32", f32::from_bits(v)),
            Val::F64(v) => write!(f, "{}:f64", f64::from_bits(v)),
            Val::V128(v) => write!(f, "{v:#034x}:v128"),
            Val::FuncRef(0) => write!(f, "null:funcref"),
            Val::FuncRef(p) => write!(f, "{p:#x}:funcref"),
            Val::ExternRef(None) => write!(f, "null:externref"),
            Val::ExternRef(Some(ExternRef(v))) => write!(f, "{v}:externref"),
        }
    }
}
