//! Kernel symbolization from /proc/kallsyms: address → function name, and stack folding.

/// Function symbols of the running kernel (and loaded modules), sorted by address.
#[derive(Debug, Default)]
pub struct Kallsyms {
    /// (start address, name); names of module symbols carry `[module]`.
    syms: Vec<(u64, String)>,
}

impl Kallsyms {
    /// Parses /proc/kallsyms text ("ffffffff81e69480 t net_rx_action [module]"). Only text
    /// symbols (t/T/w/W) are kept; all-zero addresses (kptr_restrict) make an empty table.
    pub fn parse(text: &str) -> Kallsyms {
        let mut syms: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let addr = u64::from_str_radix(f.next()?, 16).ok()?;
                let kind = f.next()?;
                let name = f.next()?;
                if addr == 0 || !matches!(kind, "t" | "T" | "w" | "W") {
                    return None;
                }
                Some(match f.next() {
                    Some(module) => (addr, format!("{name} {module}")),
                    None => (addr, name.to_owned()),
                })
            })
            .collect();
        syms.sort_by_key(|(a, _)| *a);
        Kallsyms { syms }
    }

    pub fn load(host: &crate::collectors::host::HostRoot) -> Kallsyms {
        host.read("proc/kallsyms")
            .map(|t| Kallsyms::parse(&t))
            .unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// The function containing `ip`, or its address in hex when no symbol precedes it.
    pub fn resolve(&self, ip: u64) -> String {
        let i = self.syms.partition_point(|(a, _)| *a <= ip);
        match i.checked_sub(1).and_then(|i| self.syms.get(i)) {
            Some((_, name)) => name.clone(),
            None => format!("{ip:#x}"),
        }
    }

    /// Folds a stack given innermost frame first (as the kernel returns it) into the
    /// "outermost;…;innermost" line flamegraph tools read.
    pub fn fold(&self, ips_innermost_first: &[u64]) -> String {
        let frames: Vec<String> = ips_innermost_first
            .iter()
            .rev()
            .map(|&ip| self.resolve(ip))
            .collect();
        frames.join(";")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
ffffffff81000000 T _stext
ffffffff81e69480 t net_rx_action
ffffffff81e69900 T __napi_poll
ffffffff81e70000 D some_data
ffffffff82000000 T handle_softirqs
ffffffffc0001000 t virtnet_poll\t[virtio_net]
0000000000000000 T hidden
";

    #[test]
    fn resolves_to_the_preceding_text_symbol() {
        let k = Kallsyms::parse(TEXT);
        assert_eq!(k.resolve(0xffffffff81e69480), "net_rx_action");
        assert_eq!(k.resolve(0xffffffff81e69500), "net_rx_action");
        assert_eq!(k.resolve(0xffffffff81e69905), "__napi_poll");
        // Data symbols are skipped: this address is still inside __napi_poll's range.
        assert_eq!(k.resolve(0xffffffff81e70010), "__napi_poll");
        assert_eq!(k.resolve(0xffffffffc0001010), "virtnet_poll [virtio_net]");
        assert_eq!(k.resolve(0x1000), "0x1000");
    }

    #[test]
    fn folds_outermost_first() {
        let k = Kallsyms::parse(TEXT);
        let stack = [
            0xffffffffc0001010,
            0xffffffff81e69910,
            0xffffffff81e69490,
            0xffffffff82000010,
        ];
        assert_eq!(
            k.fold(&stack),
            "handle_softirqs;net_rx_action;__napi_poll;virtnet_poll [virtio_net]"
        );
        assert_eq!(k.fold(&[]), "");
    }

    #[test]
    fn restricted_kallsyms_is_empty() {
        assert!(Kallsyms::parse("0000000000000000 T _stext\n").is_empty());
    }
}
