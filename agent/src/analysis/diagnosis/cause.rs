//! The fixed vocabulary of gap causes (stable in JSON; documented in docs/diagnosis.md).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// NET_RX softirq work on the CPU handling the heartbeat flow ran late (starved, deferred).
    SoftirqDelay,
    /// The NIC's receive ring overflowed: the NIC dropped before the kernel saw the packet.
    NicRingOverflow,
    /// The per-CPU input backlog (netdev_max_backlog) overflowed.
    CpuBacklogOverflow,
    /// The heartbeat socket's receive buffer was full.
    SocketRcvbufOverflow,
    /// A netfilter (nftables/iptables) rule dropped the heartbeats.
    NetfilterDrop,
    /// Another kernel drop reason on the heartbeat path.
    OtherKernelDrop,
    /// The heartbeat process did not run or did not read: packets arrived, the application was late.
    AppStall,
    /// The whole VM stopped running (steal time, all clocks jumping together).
    VmPause,
    /// The wall clock stepped: the "gap" is in the timestamps, not in the heartbeats.
    ClockStep,
    /// Nothing on this host explains it: the peer or the network before this host.
    PeerOrUpstream,
    /// Evidence too thin to say.
    Unknown,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::SoftirqDelay => "softirq_delay",
            Cause::NicRingOverflow => "nic_ring_overflow",
            Cause::CpuBacklogOverflow => "cpu_backlog_overflow",
            Cause::SocketRcvbufOverflow => "socket_rcvbuf_overflow",
            Cause::NetfilterDrop => "netfilter_drop",
            Cause::OtherKernelDrop => "other_kernel_drop",
            Cause::AppStall => "app_stall",
            Cause::VmPause => "vm_pause",
            Cause::ClockStep => "clock_step",
            Cause::PeerOrUpstream => "peer_or_upstream",
            Cause::Unknown => "unknown",
        }
    }

    /// A phrase for the one-line verdict.
    pub fn phrase(self) -> &'static str {
        match self {
            Cause::SoftirqDelay => {
                "network receive work (NET_RX softirq) ran late on the CPU that handles the heartbeats"
            }
            Cause::NicRingOverflow => {
                "the NIC's receive ring overflowed and the NIC dropped packets"
            }
            Cause::CpuBacklogOverflow => {
                "the per-CPU receive backlog overflowed and the kernel dropped packets"
            }
            Cause::SocketRcvbufOverflow => {
                "the heartbeat socket's receive buffer was full and the kernel dropped heartbeats"
            }
            Cause::NetfilterDrop => "a firewall (netfilter) rule dropped the heartbeats",
            Cause::OtherKernelDrop => "the kernel dropped heartbeat packets",
            Cause::AppStall => {
                "the heartbeat process stalled: packets arrived but were not read in time"
            }
            Cause::VmPause => "the virtual machine was paused (CPU steal)",
            Cause::ClockStep => "the wall clock stepped; the gap is in the timestamps",
            Cause::PeerOrUpstream => {
                "nothing on this host explains it: the peer or the network before this host"
            }
            Cause::Unknown => "the evidence is too thin to say",
        }
    }

    /// Causes that mean "the network path on this host lost or delayed the packets".
    pub fn is_network(self) -> bool {
        matches!(
            self,
            Cause::SoftirqDelay
                | Cause::NicRingOverflow
                | Cause::CpuBacklogOverflow
                | Cause::SocketRcvbufOverflow
                | Cause::NetfilterDrop
                | Cause::OtherKernelDrop
        )
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
