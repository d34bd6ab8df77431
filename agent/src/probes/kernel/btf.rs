//! Reads struct member offsets and enum values from the running kernel's BTF
//! (/sys/kernel/btf/vmlinux): Rust eBPF has no CO-RE relocation, so programs get field offsets as
//! globals instead of hard-coded numbers, and drop reasons get the names this kernel uses.

use std::path::Path;

use agent_common::drops::{KernelOffsets, NO_OFFSET};
use btf_rs::{Btf, Type};

#[derive(Debug, Clone, thiserror::Error)]
pub enum BtfError {
    #[error("reading BTF from {path}: {msg}")]
    Read { path: String, msg: String },
    #[error("BTF has no {0}")]
    Missing(String),
}

pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

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
    /// The running kernel's BTF.
    pub fn load() -> Result<Self, BtfError> {
        Self::open(Path::new(VMLINUX))
    }

    pub fn open(path: &Path) -> Result<Self, BtfError> {
        let btf = Btf::from_file(path).map_err(|e| BtfError::Read {
            path: path.display().to_string(),
            msg: e.to_string(),
        })?;
        Ok(KernelBtf { btf })
    }

    fn named_struct(&self, name: &str) -> Result<btf_rs::Struct, BtfError> {
        let types = self
            .btf
            .resolve_types_by_name(name)
            .map_err(|_| BtfError::Missing(format!("struct {name}")))?;
        types
            .into_iter()
            .find_map(|t| match t {
                Type::Struct(s) if !s.members.is_empty() => Some(s),
                _ => None,
            })
            .ok_or_else(|| BtfError::Missing(format!("struct {name}")))
    }

    /// Byte offset of `member` in `struct name`, looking through anonymous structs and unions
    /// (as `struct sock` → `__sk_common` → anonymous union → `skc_num` needs a path: pass
    /// "__sk_common.skc_num"). Bitfields and non-byte-aligned members are refused.
    pub fn offset(&self, name: &str, path: &str) -> Result<u32, BtfError> {
        self.field(name, path).map(|f| f.offset)
    }

    /// Offset and size of `member` (a path as for [`Self::offset`]) in `struct name`.
    pub fn field_offset(&self, name: &str, path: &str) -> Result<FieldLoc, BtfError> {
        self.field(name, path)
    }

    fn field(&self, name: &str, path: &str) -> Result<FieldLoc, BtfError> {
        let missing = || BtfError::Missing(format!("struct {name} member {path}"));
        let mut s = self.named_struct(name)?;
        let mut total_bits = 0u32;
        let mut size = 0;
        let parts: Vec<&str> = path.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let (bits, member_type) = self.find_member(&s, part).ok_or_else(missing)?;
            total_bits += bits;
            size = size_of(&member_type).unwrap_or(0);
            if i + 1 < parts.len() {
                s = match member_type {
                    Type::Struct(inner) | Type::Union(inner) => inner,
                    _ => return Err(missing()),
                };
            }
        }
        if !total_bits.is_multiple_of(8) {
            return Err(missing());
        }
        Ok(FieldLoc {
            offset: total_bits / 8,
            size,
        })
    }

    /// (bit offset, type) of `want` in `s`, searching anonymous members recursively.
    fn find_member(&self, s: &btf_rs::Struct, want: &str) -> Option<(u32, Type)> {
        for m in &s.members {
            if m.bitfield_size().is_some_and(|b| b != 0) {
                continue;
            }
            let name = self.btf.resolve_name(m).unwrap_or_default();
            let ty = self.resolve(self.btf.resolve_chained_type(m).ok()?)?;
            if name == want {
                return Some((m.bit_offset(), ty));
            }
            if name.is_empty()
                && let Type::Struct(inner) | Type::Union(inner) = &ty
                && let Some((off, t)) = self.find_member(inner, want)
            {
                return Some((m.bit_offset() + off, t));
            }
        }
        None
    }

    /// Follows typedefs and qualifiers to the underlying type.
    fn resolve(&self, mut t: Type) -> Option<Type> {
        for _ in 0..16 {
            match &t {
                Type::Typedef(x) => t = self.btf.resolve_chained_type(x).ok()?,
                Type::Const(x) => t = self.btf.resolve_chained_type(x).ok()?,
                Type::Volatile(x) => t = self.btf.resolve_chained_type(x).ok()?,
                Type::Restrict(x) => t = self.btf.resolve_chained_type(x).ok()?,
                Type::TypeTag(x) => t = self.btf.resolve_chained_type(x).ok()?,
                _ => return Some(t),
            }
        }
        None
    }

    /// Offsets the packet-path programs need; members this kernel lacks are [`NO_OFFSET`] and
    /// listed in the second value.
    pub fn kernel_offsets(&self) -> (KernelOffsets, Vec<String>) {
        let mut missing = Vec::new();
        let mut get = |s: &str, m: &str| match self.offset(s, m) {
            Ok(v) => v,
            Err(_) => {
                missing.push(format!("{s}.{m}"));
                NO_OFFSET
            }
        };
        let o = KernelOffsets {
            skb_dev: get("sk_buff", "dev"),
            skb_protocol: get("sk_buff", "protocol"),
            skb_queue_mapping: get("sk_buff", "queue_mapping"),
            skb_head: get("sk_buff", "head"),
            skb_data: get("sk_buff", "data"),
            skb_network_header: get("sk_buff", "network_header"),
            skb_len: get("sk_buff", "len"),
            dev_ifindex: get("net_device", "ifindex"),
            dev_nd_net: get("net_device", "nd_net.net"),
            net_ns_inum: get("net", "ns.inum"),
            sk_num: get("sock", "__sk_common.skc_num"),
            sk_dport: get("sock", "__sk_common.skc_dport"),
            sk_family: get("sock", "__sk_common.skc_family"),
            sk_daddr: get("sock", "__sk_common.skc_daddr"),
            sk_v6_daddr: get("sock", "__sk_common.skc_v6_daddr"),
            sk_protocol: get("sock", "sk_protocol"),
            napi_dev: get("napi_struct", "dev"),
            napi_id: get("napi_struct", "napi_id"),
            skb_iif: get("sk_buff", "skb_iif"),
            sk_net: get("sock", "__sk_common.skc_net.net"),
            udp_fail_args: self
                .tracepoint_args("udp_fail_queue_rcv_skb")
                .map_or(0, |n| n as u32),
            sk_rq_next: get("sock", "sk_receive_queue.next"),
            sk_rq_prev: get("sock", "sk_receive_queue.prev"),
            udp_reader_next: get("udp_sock", "reader_queue.next"),
        };
        (o, missing)
    }

    /// How many arguments tracepoint `name` passes a tp_btf program: the parameters of the
    /// `btf_trace_NAME` typedef's prototype, less its leading `void *__data`.
    pub fn tracepoint_args(&self, name: &str) -> Result<usize, BtfError> {
        let tname = format!("btf_trace_{name}");
        let missing = || BtfError::Missing(format!("typedef {tname}"));
        let types = self
            .btf
            .resolve_types_by_name(&tname)
            .map_err(|_| missing())?;
        for t in types {
            let Type::Typedef(td) = t else { continue };
            let Ok(Type::Ptr(p)) = self.btf.resolve_chained_type(&td) else {
                continue;
            };
            if let Ok(Type::FuncProto(fp)) = self.btf.resolve_chained_type(&p) {
                return Ok(fp.parameters.len().saturating_sub(1));
            }
        }
        Err(missing())
    }

    /// Every (name, value) of `enum name`, in declaration order.
    pub fn enum_values(&self, name: &str) -> Result<Vec<(String, i64)>, BtfError> {
        let missing = || BtfError::Missing(format!("enum {name}"));
        let types = self
            .btf
            .resolve_types_by_name(name)
            .map_err(|_| missing())?;
        for t in types {
            let values: Vec<(String, i64)> = match t {
                Type::Enum(e) => e
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
                    .collect(),
                Type::Enum64(e) => e
                    .members
                    .iter()
                    .map(|m| (self.btf.resolve_name(m).unwrap_or_default(), m.val() as i64))
                    .collect(),
                _ => continue,
            };
            if !values.is_empty() {
                return Ok(values);
            }
        }
        Err(missing())
    }

    /// `enum skb_drop_reason` as (value, name without `SKB_DROP_REASON_`), in value order.
    pub fn drop_reasons(&self) -> Result<Vec<(u32, String)>, BtfError> {
        let mut out: Vec<(u32, String)> = self
            .enum_values("skb_drop_reason")?
            .into_iter()
            .map(|(name, v)| {
                (
                    v as u32,
                    name.strip_prefix("SKB_DROP_REASON_")
                        .map(str::to_owned)
                        .unwrap_or(name),
                )
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

/// Size in bytes of a resolved (typedef-free) type.
fn size_of(t: &Type) -> Option<u32> {
    match t {
        Type::Int(i) => Some(i.size() as u32),
        Type::Struct(s) | Type::Union(s) => Some(s.size() as u32),
        Type::Enum(e) => Some(e.size() as u32),
        Type::Enum64(e) => Some(e.size() as u32),
        Type::Ptr(_) => Some(8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs /sys/kernel/btf/vmlinux (readable without root); skipped with a note where absent.
    fn kernel() -> Option<KernelBtf> {
        let p = Path::new(VMLINUX);
        if !p.exists() {
            eprintln!("SKIP: no {VMLINUX}");
            return None;
        }
        Some(KernelBtf::open(p).expect("parse vmlinux BTF"))
    }

    #[test]
    fn resolves_nested_sock_members_and_reasons() {
        let Some(k) = kernel() else { return };
        let (o, missing) = k.kernel_offsets();
        assert!(missing.is_empty(), "missing: {missing:?}");
        // skc_num and skc_dport share one 32-bit word in sock_common: dport first, then num.
        assert_eq!(o.sk_num, o.sk_dport + 2);
        // sock_common is the first member of sock, so its fields sit in the first 128 bytes.
        assert!(o.sk_family < 128 && o.sk_daddr < 128);
        let reasons = k.drop_reasons().expect("reasons");
        let name = |v: &str| reasons.iter().find(|(_, n)| n == v).map(|(x, _)| *x);
        assert_eq!(name("NOT_SPECIFIED"), Some(2));
        assert!(name("SOCKET_RCVBUFF").is_some() && name("CPU_BACKLOG").is_some());
        // This kernel's udp_fail_queue_rcv_skb has (rc, sk, skb); softirq_entry has (vec_nr).
        assert_eq!(o.udp_fail_args, 3);
        assert_eq!(
            k.tracepoint_args("softirq_entry").expect("softirq_entry"),
            1
        );
        assert!(k.tracepoint_args("no_such_tracepoint").is_err());
    }

    #[test]
    fn task_struct_fields_have_offsets_and_sizes() {
        let Some(k) = kernel() else { return };
        let pid = k.field_offset("task_struct", "pid").expect("pid");
        let tgid = k.field_offset("task_struct", "tgid").expect("tgid");
        assert_eq!((pid.size, tgid.size), (4, 4));
        assert_eq!(tgid.offset, pid.offset + 4, "pid and tgid are adjacent");
        let e = k.enum_values("skb_drop_reason").expect("enum");
        assert!(e.iter().any(|(n, _)| n == "SKB_DROP_REASON_NOT_SPECIFIED"));
    }

    #[test]
    fn unknown_member_is_an_error() {
        let Some(k) = kernel() else { return };
        assert!(k.offset("sk_buff", "no_such_member").is_err());
        assert!(k.offset("no_such_struct_hbw", "len").is_err());
    }
}
