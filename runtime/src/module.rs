//! The module description: everything the runtime and the compiler need to
//! know about a module apart from function bodies, parsed once from validated
//! bytes.
//!
//! What must stay true: index spaces are as the spec defines them (imports
//! first), so `functions[i]` is the type index of function index `i`, and
//! `function_bodies[i - num_imported_funcs]` locates its body in the bytes.

use crate::types::{FuncType, ValType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use wasmparser::{
    DataKind, ElementItems, ElementKind, ExternalKind, KnownCustom, Name, Operator, Parser,
    Payload, TableInit, TypeRef, Validator, WasmFeatures,
};

/// A module that failed to decode or validate. Names the byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid module at byte offset {:#x}: {}",
            self.offset, self.message
        )
    }
}

impl std::error::Error for ModuleError {}

impl From<wasmparser::BinaryReaderError> for ModuleError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        ModuleError {
            offset: e.offset() as usize,
            message: e.message().to_string(),
        }
    }
}

/// Limits of a memory, in pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryType {
    pub minimum: u64,
    pub maximum: Option<u64>,
    pub memory64: bool,
    pub shared: bool,
}

/// A table's element type and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableType {
    pub element: ValType,
    pub minimum: u64,
    pub maximum: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalType {
    pub content: ValType,
    pub mutable: bool,
}

/// One instruction of a constant expression (the extended-const subset).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ConstOp {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    RefNull(ValType),
    RefFunc(u32),
    GlobalGet(u32),
    I32Add,
    I32Sub,
    I32Mul,
    I64Add,
    I64Sub,
    I64Mul,
}

/// A constant expression, evaluated at instantiation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConstExpr(pub Vec<ConstOp>);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportKind {
    Func(u32),
    Table(TableType),
    Memory(MemoryType),
    Global(GlobalType),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub kind: ImportKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportKind {
    Func,
    Table,
    Memory,
    Global,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    pub name: String,
    pub kind: ExportKind,
    pub index: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SegmentMode {
    Passive,
    Active { index: u32, offset: ConstExpr },
    Declared,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ElementSegment {
    pub mode: SegmentMode,
    pub ty: ValType,
    pub items: Vec<ConstExpr>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSegment {
    pub mode: SegmentMode,
    /// As one byte string (see [`byte_string`]).
    #[serde(with = "byte_string")]
    pub bytes: Vec<u8>,
}

/// Serde for a `Vec<u8>` as one byte string rather than a sequence of
/// bytes. In bincode both are a length and the bytes (the stored format is
/// the same); a sequence is decoded one byte at a time, which was 0.6 ms of
/// regex_bench's warm start (420 KB of data segments in the cached
/// description).
mod byte_string {
    use serde::{de, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> de::Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element()? {
                    v.push(b);
                }
                Ok(v)
            }
        }
        d.deserialize_byte_buf(Bytes)
    }
}

/// Everything about a module but its code.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ModuleInfo {
    pub types: Vec<FuncType>,
    pub imports: Vec<Import>,
    /// Type index of every function, imports first.
    pub functions: Vec<u32>,
    pub num_imported_funcs: u32,
    pub tables: Vec<TableType>,
    /// Initialiser of each defined table (`None`: null).
    pub table_inits: Vec<Option<ConstExpr>>,
    pub num_imported_tables: u32,
    pub memories: Vec<MemoryType>,
    pub num_imported_memories: u32,
    pub globals: Vec<GlobalType>,
    /// Initialiser of each defined global.
    pub global_inits: Vec<ConstExpr>,
    pub num_imported_globals: u32,
    pub exports: Vec<Export>,
    pub start: Option<u32>,
    pub elements: Vec<ElementSegment>,
    pub data: Vec<DataSegment>,
    /// Byte range of each defined function's body in the module bytes.
    pub function_bodies: Vec<Range<usize>>,
    /// Names from the `name` section. Ordered, so the serialised
    /// description (in AOT images and cache entries) is the same bytes
    /// for the same module on every build.
    pub func_names: BTreeMap<u32, String>,
    pub module_name: Option<String>,
}

/// The features Wasabi accepts: WebAssembly 2.0 (which includes 128-bit
/// SIMD) plus extended constant expressions and relaxed SIMD (compiled
/// deterministically, see `docs/simd.md`).
pub fn supported_features() -> WasmFeatures {
    WasmFeatures::WASM2 | WasmFeatures::EXTENDED_CONST | WasmFeatures::RELAXED_SIMD
}

impl ModuleInfo {
    /// Validates `wasm` and extracts its description.
    pub fn parse(wasm: &[u8]) -> Result<ModuleInfo, ModuleError> {
        Validator::new_with_features(supported_features()).validate_all(wasm)?;
        Self::parse_validated(wasm)
    }

    /// Extracts the description of bytes already validated.
    pub fn parse_validated(wasm: &[u8]) -> Result<ModuleInfo, ModuleError> {
        let mut m = ModuleInfo::default();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload? {
                Payload::TypeSection(r) => {
                    for ty in r.into_iter_err_on_gc_types() {
                        let ty = ty?;
                        m.types.push(FuncType::new(
                            ty.params()
                                .iter()
                                .map(|t| conv_val(*t))
                                .collect::<Result<Vec<_>, _>>()?,
                            ty.results()
                                .iter()
                                .map(|t| conv_val(*t))
                                .collect::<Result<Vec<_>, _>>()?,
                        ));
                    }
                }
                Payload::ImportSection(r) => {
                    for imp in r.into_imports() {
                        let imp = imp?;
                        let kind = match imp.ty {
                            TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                                m.functions.push(t);
                                m.num_imported_funcs += 1;
                                ImportKind::Func(t)
                            }
                            TypeRef::Table(t) => {
                                let t = conv_table(t)?;
                                m.tables.push(t);
                                m.num_imported_tables += 1;
                                ImportKind::Table(t)
                            }
                            TypeRef::Memory(t) => {
                                let t = conv_memory(t);
                                m.memories.push(t);
                                m.num_imported_memories += 1;
                                ImportKind::Memory(t)
                            }
                            TypeRef::Global(g) => {
                                let g = GlobalType {
                                    content: conv_val(g.content_type)?,
                                    mutable: g.mutable,
                                };
                                m.globals.push(g);
                                m.num_imported_globals += 1;
                                ImportKind::Global(g)
                            }
                            TypeRef::Tag(_) => return Err(unsupported(0, "tag imports")),
                        };
                        m.imports.push(Import {
                            module: imp.module.into(),
                            name: imp.name.into(),
                            kind,
                        });
                    }
                }
                Payload::FunctionSection(r) => {
                    for t in r {
                        m.functions.push(t?);
                    }
                }
                Payload::TableSection(r) => {
                    for t in r {
                        let t = t?;
                        m.tables.push(conv_table(t.ty)?);
                        m.table_inits.push(match t.init {
                            TableInit::RefNull => None,
                            TableInit::Expr(e) => Some(conv_const(&e)?),
                        });
                    }
                }
                Payload::MemorySection(r) => {
                    for t in r {
                        m.memories.push(conv_memory(t?));
                    }
                }
                Payload::GlobalSection(r) => {
                    for g in r {
                        let g = g?;
                        m.globals.push(GlobalType {
                            content: conv_val(g.ty.content_type)?,
                            mutable: g.ty.mutable,
                        });
                        m.global_inits.push(conv_const(&g.init_expr)?);
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r {
                        let e = e?;
                        let kind = match e.kind {
                            ExternalKind::Func | ExternalKind::FuncExact => ExportKind::Func,
                            ExternalKind::Table => ExportKind::Table,
                            ExternalKind::Memory => ExportKind::Memory,
                            ExternalKind::Global => ExportKind::Global,
                            ExternalKind::Tag => return Err(unsupported(0, "tag exports")),
                        };
                        m.exports.push(Export {
                            name: e.name.into(),
                            kind,
                            index: e.index,
                        });
                    }
                }
                Payload::StartSection { func, .. } => m.start = Some(func),
                Payload::ElementSection(r) => {
                    for e in r {
                        let e = e?;
                        let mode = match e.kind {
                            ElementKind::Passive => SegmentMode::Passive,
                            ElementKind::Declared => SegmentMode::Declared,
                            ElementKind::Active {
                                table_index,
                                offset_expr,
                            } => SegmentMode::Active {
                                index: table_index.unwrap_or(0),
                                offset: conv_const(&offset_expr)?,
                            },
                        };
                        let (ty, items) = match e.items {
                            ElementItems::Functions(r) => {
                                let mut items = Vec::new();
                                for f in r {
                                    items.push(ConstExpr(vec![ConstOp::RefFunc(f?)]));
                                }
                                (ValType::FuncRef, items)
                            }
                            ElementItems::Expressions(rt, r) => {
                                let ty = ValType::from_ref_type(rt).ok_or_else(|| {
                                    unsupported(e.range.start as usize, "typed references")
                                })?;
                                let mut items = Vec::new();
                                for x in r {
                                    items.push(conv_const(&x?)?);
                                }
                                (ty, items)
                            }
                        };
                        m.elements.push(ElementSegment { mode, ty, items });
                    }
                }
                Payload::DataSection(r) => {
                    for d in r {
                        let d = d?;
                        let mode = match d.kind {
                            DataKind::Passive => SegmentMode::Passive,
                            DataKind::Active {
                                memory_index,
                                offset_expr,
                            } => SegmentMode::Active {
                                index: memory_index,
                                offset: conv_const(&offset_expr)?,
                            },
                        };
                        m.data.push(DataSegment {
                            mode,
                            bytes: d.data.to_vec(),
                        });
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    let r = body.range();
                    m.function_bodies.push(r.start as usize..r.end as usize);
                }
                Payload::CustomSection(c) => {
                    if let KnownCustom::Name(names) = c.as_known() {
                        // A malformed name section is ignored, as the spec asks.
                        for name in names.into_iter().flatten() {
                            match name {
                                Name::Function(map) => {
                                    for n in map.into_iter().flatten() {
                                        m.func_names.insert(n.index, n.name.to_string());
                                    }
                                }
                                Name::Module { name, .. } => m.module_name = Some(name.to_string()),
                                _ => {}
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(m)
    }

    /// Serialises the description (for AOT images and the cache).
    pub fn to_bytes(&self) -> Vec<u8> {
        bincode::serialize(self).expect("a module description always serialises")
    }

    /// Reads a description written by [`ModuleInfo::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<ModuleInfo, String> {
        bincode::deserialize(bytes).map_err(|e| format!("corrupt module description: {e}"))
    }

    pub fn num_defined_funcs(&self) -> u32 {
        self.functions.len() as u32 - self.num_imported_funcs
    }

    pub fn func_type(&self, func_index: u32) -> &FuncType {
        &self.types[self.functions[func_index as usize] as usize]
    }

    pub fn is_imported_func(&self, func_index: u32) -> bool {
        func_index < self.num_imported_funcs
    }

    /// A readable name for function `i`: its name-section name, or its export
    /// name, or `func[i]`.
    pub fn func_display_name(&self, i: u32) -> String {
        if let Some(n) = self.func_names.get(&i) {
            return n.clone();
        }
        if let Some(e) = self
            .exports
            .iter()
            .find(|e| e.kind == ExportKind::Func && e.index == i)
        {
            return e.name.clone();
        }
        format!("func[{i}]")
    }

    pub fn export(&self, name: &str) -> Option<&Export> {
        self.exports.iter().find(|e| e.name == name)
    }
}

fn unsupported(offset: usize, what: &str) -> ModuleError {
    ModuleError {
        offset,
        message: format!("{what} are not supported"),
    }
}

fn conv_val(t: wasmparser::ValType) -> Result<ValType, ModuleError> {
    ValType::from_wasmparser(t).ok_or_else(|| unsupported(0, "typed function references"))
}

fn conv_table(t: wasmparser::TableType) -> Result<TableType, ModuleError> {
    Ok(TableType {
        element: ValType::from_ref_type(t.element_type)
            .ok_or_else(|| unsupported(0, "typed references"))?,
        minimum: t.initial,
        maximum: t.maximum,
    })
}

fn conv_memory(t: wasmparser::MemoryType) -> MemoryType {
    MemoryType {
        minimum: t.initial,
        maximum: t.maximum,
        memory64: t.memory64,
        shared: t.shared,
    }
}

fn conv_const(e: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr, ModuleError> {
    let mut ops = Vec::new();
    let mut r = e.get_operators_reader();
    loop {
        let offset = r.original_position();
        let op = r.read()?;
        ops.push(match op {
            Operator::End => break,
            Operator::I32Const { value } => ConstOp::I32(value),
            Operator::I64Const { value } => ConstOp::I64(value),
            Operator::F32Const { value } => ConstOp::F32(value.bits()),
            Operator::F64Const { value } => ConstOp::F64(value.bits()),
            Operator::V128Const { value } => ConstOp::V128(u128::from_le_bytes(*value.bytes())),
            Operator::RefNull { hty } => ConstOp::RefNull(if hty == wasmparser::HeapType::EXTERN {
                ValType::ExternRef
            } else {
                ValType::FuncRef
            }),
            Operator::RefFunc { function_index } => ConstOp::RefFunc(function_index),
            Operator::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
            Operator::I32Add => ConstOp::I32Add,
            Operator::I32Sub => ConstOp::I32Sub,
            Operator::I32Mul => ConstOp::I32Mul,
            Operator::I64Add => ConstOp::I64Add,
            Operator::I64Sub => ConstOp::I64Sub,
            Operator::I64Mul => ConstOp::I64Mul,
            _ => {
                return Err(unsupported(
                    offset as usize,
                    "this constant-expression instruction",
                ))
            }
        });
    }
    Ok(ConstExpr(ops))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `DataSegment::bytes` is stored as one byte string: the same bytes
    /// as the plain `Vec<u8>` it was before (descriptions stored by an
    /// older build, in caches and AOT executables, still read), and read
    /// back whole.
    #[test]
    fn data_segments_keep_their_encoding() {
        #[derive(Serialize, Deserialize)]
        struct Plain {
            mode: SegmentMode,
            bytes: Vec<u8>,
        }
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let seg = DataSegment {
            mode: SegmentMode::Passive,
            bytes: bytes.clone(),
        };
        let plain = Plain {
            mode: SegmentMode::Passive,
            bytes,
        };
        let encoded = bincode::serialize(&seg).unwrap();
        assert_eq!(encoded, bincode::serialize(&plain).unwrap());
        let back: DataSegment = bincode::deserialize(&encoded).unwrap();
        assert_eq!(back, seg);
        // Cut short: an error, not a panic or a short segment.
        assert!(bincode::deserialize::<DataSegment>(&encoded[..encoded.len() - 1]).is_err());
    }
}
