//! Checks, before touching the bpf syscall, that this process may load tracing programs, so the
//! user is told exactly which capability is missing.

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Effective capability bits of this process, from /proc/self/status.
pub fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_cap_eff(&status)
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// The capabilities missing to load and attach tracing programs, empty when all are there.
/// CAP_SYS_ADMIN alone suffices; otherwise CAP_BPF and CAP_PERFMON are both needed.
pub fn missing_for_tracing(caps: u64) -> Vec<&'static str> {
    let has = |c: u32| caps & (1u64 << c) != 0;
    if has(CAP_SYS_ADMIN) {
        return Vec::new();
    }
    let mut missing = Vec::new();
    if !has(CAP_BPF) {
        missing.push("CAP_BPF");
    }
    if !has(CAP_PERFMON) {
        missing.push("CAP_PERFMON");
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_judges_capabilities() {
        let root = "Name:\tx\nCapEff:\t000001ffffffffff\n";
        assert_eq!(
            missing_for_tracing(parse_cap_eff(root).expect("caps")),
            Vec::<&str>::new()
        );
        let user = "CapEff:\t0000000000000000\n";
        assert_eq!(
            missing_for_tracing(parse_cap_eff(user).expect("caps")),
            vec!["CAP_BPF", "CAP_PERFMON"]
        );
        let bpf_only = 1u64 << CAP_BPF;
        assert_eq!(missing_for_tracing(bpf_only), vec!["CAP_PERFMON"]);
        assert_eq!(parse_cap_eff("nothing"), None);
    }
}
