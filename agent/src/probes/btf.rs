//! Reads struct layouts and enum values from the running kernel's BTF (/sys/kernel/btf/vmlinux),
//! so eBPF programs get field offsets as globals instead of hard-coded numbers.

use std::path::Path;

use btf_rs::{Btf, Type};

pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("reading kernel BTF {path}: {msg}")]
    Read { path: String, msg: String },
    #[error("kernel BTF has no struct {0}")]
    NoStruct(String),
    #[error("kernel BTF: struct {0} has no field {1}")]
    NoField(String, String),
    #[error("kernel BTF has no enum {0}")]
    NoEnum(String),
}

/// A parsed kernel BTF.
pub struct KernelBtf {
    btf: Btf,
}

/// Where a field lives: byte offset from the start of the struct and its size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldLoc {
    pub offset: u32,
    pub size: u32,
}

impl KernelBtf {
    pub fn load() -> Result<Self, BtfError> {
        Self::from_path(Path::new(VMLINUX))
    }

    pub fn from_path(path: &Path) -> Result<Self, BtfError> {
        let btf = Btf::from_file(path).map_err(|e| BtfError::Read {
            path: path.display().to_string(),
            msg: e.to_string(),
        })?;
        Ok(KernelBtf { btf })
    }

    /// Byte offset and size of `structure.field`, looking through anonymous struct/union members.
    pub fn field_offset(&self, structure: &str, field: &str) -> Result<FieldLoc, BtfError> {
        let types = self
            .btf
            .resolve_types_by_name(structure)
            .map_err(|_| BtfError::NoStruct(structure.to_owned()))?;
        let s = types
            .iter()
            .find_map(|t| match t {
                Type::Struct(s) if !s.members.is_empty() => Some(s),
                _ => None,
            })
            .ok_or_else(|| BtfError::NoStruct(structure.to_owned()))?;
        self.find_in(s, field, 0)
            .ok_or_else(|| BtfError::NoField(structure.to_owned(), field.to_owned()))
    }

    fn find_in(&self, s: &btf_rs::Struct, field: &str, base_bits: u32) -> Option<FieldLoc> {
        for m in &s.members {
            let bits = base_bits + m.bit_offset();
            let name = self.btf.resolve_name(m).unwrap_or_default();
            let ty = self.btf.resolve_chained_type(m).ok();
            if name == field {
                return Some(FieldLoc {
                    offset: bits / 8,
                    size: ty.as_ref().and_then(|t| self.size_of(t)).unwrap_or(0) as u32,
                });
            }
            if name.is_empty()
                && let Some(Type::Struct(inner) | Type::Union(inner)) = &ty
                && let Some(found) = self.find_in(inner, field, bits)
            {
                return Some(found);
            }
        }
        None
    }

    /// Size of a type in bytes, following typedefs and qualifiers.
    fn size_of(&self, t: &Type) -> Option<usize> {
        let mut t = t.clone();
        for _ in 0..16 {
            match &t {
                Type::Int(i) => return Some(i.size()),
                Type::Struct(s) | Type::Union(s) => return Some(s.size()),
                Type::Enum(e) => return Some(e.size()),
                Type::Enum64(e) => return Some(e.size()),
                Type::Ptr(_) => return Some(8),
                Type::Typedef(_) | Type::Volatile(_) | Type::Const(_) | Type::Restrict(_) => {
                    let bt = t.as_btf_type()?;
                    t = self.btf.resolve_chained_type(bt).ok()?;
                }
                _ => return None,
            }
        }
        None
    }

    /// Every (name, value) of `enum name`, in declaration order.
    pub fn enum_values(&self, name: &str) -> Result<Vec<(String, i64)>, BtfError> {
        let types = self
            .btf
            .resolve_types_by_name(name)
            .map_err(|_| BtfError::NoEnum(name.to_owned()))?;
        for t in types {
            match t {
                Type::Enum(e) => {
                    return Ok(e
                        .members
                        .iter()
                        .map(|m| {
                            let v = if e.is_signed() {
                                m.val() as i32 as i64
                            } else {
                                m.val() as i64
                            };
                            (self.btf.resolve_name(m).unwrap_or_default(), v)
                        })
                        .collect());
                }
                Type::Enum64(e) => {
                    return Ok(e
                        .members
                        .iter()
                        .map(|m| (self.btf.resolve_name(m).unwrap_or_default(), m.val() as i64))
                        .collect());
                }
                _ => {}
            }
        }
        Err(BtfError::NoEnum(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs no root: /sys/kernel/btf/vmlinux is world-readable where it exists.
    #[test]
    fn task_struct_fields_and_an_enum() {
        if !Path::new(VMLINUX).exists() {
            eprintln!("skipped: no {VMLINUX} on this kernel");
            return;
        }
        let btf = KernelBtf::load().expect("parse vmlinux BTF");
        let pid = btf.field_offset("task_struct", "pid").expect("pid");
        let tgid = btf.field_offset("task_struct", "tgid").expect("tgid");
        assert_eq!((pid.size, tgid.size), (4, 4));
        assert_eq!(tgid.offset, pid.offset + 4, "pid and tgid are adjacent");
        assert!(btf.field_offset("task_struct", "no_such_field").is_err());
        let states = btf.enum_values("skb_drop_reason").expect("enum");
        assert!(
            states
                .iter()
                .any(|(n, _)| n == "SKB_DROP_REASON_NOT_SPECIFIED")
        );
    }
}
