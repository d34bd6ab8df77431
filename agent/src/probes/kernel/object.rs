//! The loaded eBPF object and what the kernel refused of it. Every family loads its programs
//! through [`attach_btf`] or [`attach_classic`], so a rejected program's whole verifier log is
//! kept (for the recording and the report) while the family falls back or degrades alone.

use std::ops::{Deref, DerefMut};

use aya::{
    Btf, Ebpf,
    programs::{BtfTracePoint, Program, ProgramError, TracePoint},
};

use crate::probes::error::{LoadSite, ProbeError};
use crate::{
    clock,
    recording::records::{ProgramRejection, verifier_verdict},
};

/// The object with the rejections met while attaching its programs.
pub struct Object {
    ebpf: Ebpf,
    pub rejections: Vec<ProgramRejection>,
    /// Classic tracepoints can be used (tracefs found and the record layouts read), so a
    /// rejected or missing tp_btf program may fall back to its classic twin.
    pub classic_ok: bool,
}

impl Object {
    pub fn new(ebpf: Ebpf, classic_ok: bool) -> Object {
        Object {
            ebpf,
            rejections: Vec::new(),
            classic_ok,
        }
    }

    pub fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    /// Detaches and unloads `programs` (those not loaded are left as they are), so a family can
    /// start over with its classic twins.
    pub fn unload(&mut self, programs: &[&str]) {
        for name in programs {
            let r = match self.ebpf.program_mut(name) {
                Some(Program::BtfTracePoint(p)) => p.unload(),
                Some(Program::TracePoint(p)) => p.unload(),
                _ => Ok(()),
            };
            // Not loaded in the first place: nothing to undo.
            let _ = r;
        }
    }

    fn rejected(&mut self, program: &str, attach: &str, tracepoint: &str, e: &ProgramError) {
        if let ProgramError::LoadError { .. } = e {
            self.rejections.push(ProgramRejection {
                at_mono_ns: clock::mono_ns(),
                program: program.to_owned(),
                attach: attach.to_owned(),
                tracepoint: tracepoint.to_owned(),
                log: format!("{e:#}"),
            });
        }
    }
}

impl Deref for Object {
    type Target = Ebpf;
    fn deref(&self) -> &Ebpf {
        &self.ebpf
    }
}

impl DerefMut for Object {
    fn deref_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }
}

/// Program `prog` as the program type `P`.
fn program<'a, P>(obj: &'a mut Object, prog: &str) -> Result<&'a mut P, ProbeError>
where
    &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
{
    obj.ebpf
        .program_mut(prog)
        .ok_or_else(|| ProbeError::ProgramMissing {
            program: prog.to_owned(),
        })?
        .try_into()
        .map_err(|source| ProbeError::ProgramType {
            program: prog.to_owned(),
            source,
        })
}

/// Attaches one tp_btf program to the tracepoint of the same name.
pub fn attach_btf(
    obj: &mut Object,
    btf: &Btf,
    prog: &str,
    tracepoint: &str,
) -> Result<(), ProbeError> {
    super::disable::check(tracepoint)?;
    let p: &mut BtfTracePoint = program(obj, prog)?;
    if let Err(e) = p.load(tracepoint, btf) {
        obj.rejected(prog, "tp_btf", tracepoint, &e);
        return Err(load_error(LoadSite::Tracepoint(tracepoint.to_owned()), e));
    }
    let p: &mut BtfTracePoint = program(obj, prog)?;
    p.attach().map_err(|source| ProbeError::AttachFailed {
        target: format!("tp_btf/{tracepoint}"),
        source,
    })?;
    Ok(())
}

/// Loads and attaches the classic-tracepoint twin `prog` to `category:tracepoint`.
pub fn attach_classic(
    obj: &mut Object,
    prog: &str,
    category: &str,
    tracepoint: &str,
) -> Result<(), ProbeError> {
    super::disable::check(tracepoint)?;
    if !obj.classic_ok {
        return Err(ProbeError::ClassicUnavailable);
    }
    let p: &mut TracePoint = program(obj, prog)?;
    if let Err(e) = p.load() {
        obj.rejected(prog, "classic", &format!("{category}:{tracepoint}"), &e);
        return Err(load_error(LoadSite::Program(prog.to_owned()), e));
    }
    let p: &mut TracePoint = program(obj, prog)?;
    p.attach(category, tracepoint)
        .map_err(|source| ProbeError::AttachFailed {
            target: format!("{category}:{tracepoint}"),
            source,
        })?;
    Ok(())
}

/// How one program of a family was attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Btf,
    Classic,
}

/// tp_btf where BTF is there, else (or when the kernel refuses it) the classic twin: one
/// program's fallback, independent of the rest of its family.
pub fn attach_either(
    obj: &mut Object,
    btf: Option<&Btf>,
    (btf_prog, classic_prog): (&str, &str),
    category: &str,
    tracepoint: &str,
) -> Result<Via, ProbeError> {
    let first = match btf {
        Some(btf) => match attach_btf(obj, btf, btf_prog, tracepoint) {
            Ok(()) => return Ok(Via::Btf),
            Err(e) => Some(e),
        },
        None => None,
    };
    match attach_classic(obj, classic_prog, category, tracepoint) {
        Ok(()) => Ok(Via::Classic),
        Err(e) => Err(match first {
            Some(f) => ProbeError::BothWays {
                btf: Box::new(f),
                classic: Box::new(e),
            },
            None => e,
        }),
    }
}

/// A load error in one line: the verifier's verdict, not its whole log (kept in the rejection).
fn load_error(site: LoadSite, e: ProgramError) -> ProbeError {
    match e {
        ProgramError::LoadError { .. } => ProbeError::Rejected {
            site,
            verdict: verifier_verdict(&format!("{e:#}")),
        },
        source => ProbeError::LoadFailed { site, source },
    }
}

#[cfg(test)]
mod tests {
    use crate::recording::records::verifier_verdict;

    #[test]
    fn verdict_is_the_last_meaningful_line() {
        let log = "reg type unsupported for arg#0 function softirq_entry#44\n0: R1=ctx()\n\
                   21: (61) r1 = *(u32 *)(r2 +0)\nR1 unbounded memory access, make sure to bounds check any such access\n\
                   processed 25 insns (limit 1000000)\nverification time 30 usec\nstack depth 0\n";
        assert_eq!(
            verifier_verdict(log),
            "R1 unbounded memory access, make sure to bounds check any such access"
        );
    }
}
