//! `ethtool -S` driver statistics through the SIOCETHTOOL ioctl: netlink has no equivalent for
//! driver-specific counters (rx_missed_errors, rx_out_of_buffer, rx_discards_phy, ...).

use std::{collections::BTreeMap, io};

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSTATS: u32 = 0x1d;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETH_SS_STATS: u32 = 1;
const ETH_GSTRING_LEN: usize = 32;
/// More than any driver has; a larger count means a confused answer.
const MAX_STATS: usize = 1 << 16;

/// Counter name → value for `iface`.
pub fn read(iface: &str) -> io::Result<BTreeMap<String, u64>> {
    if iface.len() >= libc::IFNAMSIZ || iface.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let sock = Fd(fd);
    // struct ethtool_sset_info { u32 cmd; u32 reserved; u64 sset_mask; u32 data[]; }
    let mut sset = [0u8; 20];
    sset[0..4].copy_from_slice(&ETHTOOL_GSSET_INFO.to_ne_bytes());
    sset[8..16].copy_from_slice(&(1u64 << ETH_SS_STATS).to_ne_bytes());
    ioctl(&sock, iface, sset.as_mut_ptr().cast())?;
    let mask = u64::from_ne_bytes(sset[8..16].try_into().unwrap_or_default());
    if mask & (1 << ETH_SS_STATS) == 0 {
        return Ok(BTreeMap::new());
    }
    let n = u32::from_ne_bytes(sset[16..20].try_into().unwrap_or_default()) as usize;
    if n == 0 || n > MAX_STATS {
        return Ok(BTreeMap::new());
    }
    // struct ethtool_gstrings { u32 cmd; u32 string_set; u32 len; u8 data[]; }
    let mut strings = vec![0u8; 12 + n * ETH_GSTRING_LEN];
    strings[0..4].copy_from_slice(&ETHTOOL_GSTRINGS.to_ne_bytes());
    strings[4..8].copy_from_slice(&ETH_SS_STATS.to_ne_bytes());
    strings[8..12].copy_from_slice(&(n as u32).to_ne_bytes());
    ioctl(&sock, iface, strings.as_mut_ptr().cast())?;
    // struct ethtool_stats { u32 cmd; u32 n_stats; u64 data[]; }
    let mut stats = vec![0u8; 8 + n * 8];
    stats[0..4].copy_from_slice(&ETHTOOL_GSTATS.to_ne_bytes());
    stats[4..8].copy_from_slice(&(n as u32).to_ne_bytes());
    ioctl(&sock, iface, stats.as_mut_ptr().cast())?;
    let values = stats[8..]
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or_default()));
    let mut out = BTreeMap::new();
    for (i, v) in values.enumerate() {
        let raw = &strings[12 + i * ETH_GSTRING_LEN..12 + (i + 1) * ETH_GSTRING_LEN];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(ETH_GSTRING_LEN);
        let name = String::from_utf8_lossy(&raw[..end]).trim().to_owned();
        if !name.is_empty() {
            out.insert(name, v);
        }
    }
    Ok(out)
}

struct Fd(libc::c_int);
impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own this descriptor and close it once.
        unsafe { libc::close(self.0) };
    }
}

fn ioctl(sock: &Fd, iface: &str, data: *mut libc::c_char) -> io::Result<()> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(iface.bytes()) {
        *d = s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = data;
    // SAFETY: `data` points to a buffer sized for the command it starts with (the callers build
    // each struct with room for the count they announce), and it outlives the call.
    let rc = unsafe { libc::ioctl(sock.0, SIOCETHTOOL as _, &mut ifr) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused() {
        assert!(read("a-name-longer-than-ifnamsiz").is_err());
    }

    #[test]
    fn loopback_has_no_driver_stats_or_says_why() {
        // lo has no ETH_SS_STATS set: either empty or EOPNOTSUPP, never a panic or garbage.
        match read("lo") {
            Ok(m) => assert!(m.is_empty(), "lo stats: {m:?}"),
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP), "{e}"),
        }
    }
}
