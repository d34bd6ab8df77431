//! An empty eBPF program (`r0 = 0; exit`) on a raw tracepoint, loaded by the bench itself. On
//! `softirq_entry` under bpf_stats its ns per run is what bpf_stats charges a run that does
//! nothing, measured in the same run as the tracer beside it. Raw tracepoint and tp_btf programs
//! share the kernel's dispatch (`__bpf_trace_run`), so the figure holds for both; on
//! `softirq_raise` and `napi_poll` beside `softirqs` it prices the dispatch of the two
//! tracepoints hbwatch runs on and `softirqs` does not.

use std::{
    ffi::CString,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

use anyhow::{Result, bail};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
/// `mov64 r0, 0` and `exit`, little-endian encodings of struct bpf_insn.
const INSNS: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
const NAME: &[u8] = b"hbw_bench_empty";

/// The loaded program and its attachment; both end when this is dropped.
pub struct Empty {
    prog: OwnedFd,
    _link: OwnedFd,
}

fn bpf(cmd: libc::c_long, attr: &mut [u8; 128]) -> Result<OwnedFd> {
    // SAFETY: attr is a zeroed bpf_attr of 128 bytes (larger than any member used here); the
    // kernel reads at most that many and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len() as u32) };
    if fd < 0 {
        bail!("bpf({cmd}): {}", std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd the kernel just returned to this process.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Loads the empty program as `prog_type`.
fn load(prog_type: u32) -> Result<OwnedFd> {
    let license = CString::new("GPL")?;
    let mut a = [0u8; 128];
    // union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, ..., prog_name.
    a[0..4].copy_from_slice(&prog_type.to_ne_bytes());
    a[4..8].copy_from_slice(&(INSNS.len() as u32).to_ne_bytes());
    a[8..16].copy_from_slice(&(INSNS.as_ptr() as u64).to_ne_bytes());
    a[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    a[48..48 + NAME.len()].copy_from_slice(NAME);
    bpf(BPF_PROG_LOAD, &mut a)
}

impl Empty {
    pub fn attach(tracepoint: &str) -> Result<Empty> {
        let prog = load(BPF_PROG_TYPE_RAW_TRACEPOINT)?;
        let tp = CString::new(tracepoint)?;
        let mut a = [0u8; 128];
        // BPF_RAW_TRACEPOINT_OPEN: name, prog_fd.
        a[0..8].copy_from_slice(&(tp.as_ptr() as u64).to_ne_bytes());
        a[8..12].copy_from_slice(&prog.as_raw_fd().to_ne_bytes());
        let link = bpf(BPF_RAW_TRACEPOINT_OPEN, &mut a)?;
        Ok(Empty { prog, _link: link })
    }

    /// (run_time_ns, run_cnt) so far, from this process's fdinfo of the program.
    pub fn stats(&self) -> (u64, u64) {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", self.prog.as_raw_fd()))
            .unwrap_or_default();
        let field = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        (field("run_time_ns:"), field("run_cnt:"))
    }
}

const PERF_EVENT_OPEN: libc::c_long = libc::SYS_perf_event_open;
const BPF_PROG_TYPE_PERF_EVENT: u32 = 7;
/// _IOW('$', 8, __u32) and _IO('$', 0).
const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;

/// The empty program on a cpu-clock perf event at `hz` on every online CPU, as hbwatch's stack
/// sampler opens them: what sampling costs the path apart from the sampler's own body.
pub struct EmptyPerf {
    _prog: OwnedFd,
    _events: Vec<OwnedFd>,
}

impl EmptyPerf {
    pub fn attach(hz: u64) -> Result<EmptyPerf> {
        let prog = load(BPF_PROG_TYPE_PERF_EVENT)?;
        // SAFETY: sysconf has no preconditions.
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as i32;
        let mut events = Vec::new();
        for cpu in 0..cpus {
            // struct perf_event_attr: type, size, config, sample_freq, sample_type, read_format,
            // then the flag bits (freq is bit 10).
            let mut attr = [0u8; 128];
            attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // PERF_TYPE_SOFTWARE
            attr[4..8].copy_from_slice(&128u32.to_ne_bytes());
            attr[8..16].copy_from_slice(&0u64.to_ne_bytes()); // PERF_COUNT_SW_CPU_CLOCK
            attr[16..24].copy_from_slice(&hz.to_ne_bytes());
            attr[24..32].copy_from_slice(&(1u64 << 10).to_ne_bytes()); // PERF_SAMPLE_RAW
            attr[40..48].copy_from_slice(&(1u64 << 10).to_ne_bytes());
            // SAFETY: attr is a zeroed perf_event_attr of the size it declares; the kernel
            // returns a new fd or -1.
            let fd = unsafe {
                libc::syscall(
                    PERF_EVENT_OPEN,
                    attr.as_ptr(),
                    -1i32,
                    cpu,
                    -1i32,
                    8u64, // PERF_FLAG_FD_CLOEXEC
                )
            };
            if fd < 0 {
                bail!(
                    "perf_event_open on CPU {cpu}: {}",
                    std::io::Error::last_os_error()
                );
            }
            // SAFETY: a fresh fd the kernel just returned to this process.
            let ev = unsafe { OwnedFd::from_raw_fd(fd as i32) };
            // SAFETY: ioctls on that perf event fd, with an int argument.
            let ok = unsafe {
                libc::ioctl(ev.as_raw_fd(), PERF_EVENT_IOC_SET_BPF, prog.as_raw_fd()) == 0
                    && libc::ioctl(ev.as_raw_fd(), PERF_EVENT_IOC_ENABLE, 0) == 0
            };
            if !ok {
                bail!(
                    "attaching to the perf event on CPU {cpu}: {}",
                    std::io::Error::last_os_error()
                );
            }
            events.push(ev);
        }
        Ok(EmptyPerf {
            _prog: prog,
            _events: events,
        })
    }
}
