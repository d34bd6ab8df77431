//! The finding-and-fix type shared by `hbwatch check` and the diagnosis engine: what was seen,
//! what it risks for heartbeats, and exactly how to change, persist, verify and undo it.

use serde::{Deserialize, Serialize};

/// Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; a trade-off rather than a fault.
    Info,
    /// A configuration that can lose or delay heartbeats under load.
    Warning,
    /// Counters show packets already lost or delayed this way.
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One number read from the host, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// What was read ("eth0 RX queues", "/proc/net/softnet_stat dropped, CPU 3").
    pub what: String,
    /// The value as read or computed ("1", "214 since boot, 12/s now").
    pub value: String,
}

/// How to make a change survive a reboot, by one mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persist {
    /// "sysctl.d", "udev", "systemd-networkd", "NetworkManager", "irqbalance", "systemd unit".
    pub mechanism: String,
    /// File to write, when the mechanism uses one.
    pub file: Option<String>,
    /// What to put there (or the command that stores it, for NetworkManager).
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Stable identifier ("single-queue-rps-off"); documented in docs/check.md.
    pub id: String,
    pub severity: Severity,
    pub title: String,
    /// What it concerns ("eth0", "udp 0.0.0.0:5405", "host").
    pub subject: String,
    pub evidence: Vec<Evidence>,
    /// What this risks for heartbeats, in a sentence or two.
    pub risk: String,
    /// Commands that apply the fix now (take effect at once, lost at reboot).
    pub apply: Vec<String>,
    pub persist: Vec<Persist>,
    /// What the change may cost (CPU, memory, throughput, latency elsewhere).
    pub cost: String,
    /// Commands or counters that show it worked.
    pub verify: Vec<String>,
    /// Commands that restore the values read.
    pub undo: Vec<String>,
}

impl Recommendation {
    /// A recommendation with the required parts; the rest is filled by the builder methods.
    pub fn new(id: &str, severity: Severity, subject: &str, title: String, risk: String) -> Self {
        Recommendation {
            id: id.to_owned(),
            severity,
            title,
            subject: subject.to_owned(),
            evidence: Vec::new(),
            risk,
            apply: Vec::new(),
            persist: Vec::new(),
            cost: String::new(),
            verify: Vec::new(),
            undo: Vec::new(),
        }
    }
    pub fn evidence(mut self, what: impl Into<String>, value: impl ToString) -> Self {
        self.evidence.push(Evidence {
            what: what.into(),
            value: value.to_string(),
        });
        self
    }
    pub fn apply(mut self, cmd: impl Into<String>) -> Self {
        self.apply.push(cmd.into());
        self
    }
    pub fn persist(
        mut self,
        mechanism: &str,
        file: Option<&str>,
        content: impl Into<String>,
    ) -> Self {
        self.persist.push(Persist {
            mechanism: mechanism.to_owned(),
            file: file.map(str::to_owned),
            content: content.into(),
        });
        self
    }
    pub fn cost(mut self, cost: impl Into<String>) -> Self {
        self.cost = cost.into();
        self
    }
    pub fn verify(mut self, cmd: impl Into<String>) -> Self {
        self.verify.push(cmd.into());
        self
    }
    pub fn undo(mut self, cmd: impl Into<String>) -> Self {
        self.undo.push(cmd.into());
        self
    }
}
