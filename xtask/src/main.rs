//! `cargo xtask`: installs what hbwatch needs on a fresh machine, then builds, runs, tests or
//! benchmarks it. Every command runs the idempotent setup first, so the README's two commands
//! work on a clean clone with nothing installed by hand.

mod bench;
mod dist;
mod kernels;
mod lab;
mod layers;
mod setup;

use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the eBPF toolchain (nightly rust-src, bpf-linker for the nightly's LLVM) and the
    /// Debian packages the tests use. Idempotent; quick when everything is there.
    Setup,
    /// Set up, then build the release binary (target/release/hbwatch).
    Build,
    /// Set up, build, and run hbwatch with the given arguments, e.g. `cargo xtask run -- record -d 10s`.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Check agent/src's layering: no import from a folder to one above it, clap only in cli/.
    Lint,
    /// Set up, then run the whole test suite (root tests load the real eBPF programs).
    Test {
        /// Extra arguments passed to `cargo test` (e.g. a test name filter after `--`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, build release, then make target/dist/hbwatch_<version>_<arch>.deb (binary, systemd
    /// unit, man pages, completions) and target/dist/container/ (Containerfile + binary).
    Dist {
        /// Package this binary instead of building the release one.
        #[arg(long, value_name = "PATH")]
        bin: Option<std::path::PathBuf>,
        /// Output folder [default: target/dist].
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
    /// Set up, build release, then measure overhead, recording size and report speed (as root).
    Bench {
        #[arg(value_enum, default_value = "all")]
        which: bench::Which,
    },
    /// Set up, build release, then boot each kernel of xtask/kernels.toml under QEMU (and run
    /// on the host's own kernel) with the guest scenarios; prints kernel × probe family × cause.
    Kernels {
        /// Only these kernels (names from xtask/kernels.toml, or `host`).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Seconds one guest may take from boot to power-off.
        #[arg(long, default_value_t = 420)]
        timeout: u64,
        /// Fail when a kernel cannot be fetched (by default it is reported as not run).
        #[arg(long)]
        strict: bool,
    },
    /// Set up, build release, then the classic failure end to end in a QEMU guest with two
    /// 4-queue virtio NICs: baseline, fault (RX IRQs on a CPU an RT loop starves), hbwatch's own
    /// fix, re-measure; asserts the diagnosis, the fix chosen and the figures after it.
    Lab {
        /// Guest CPUs (CPU 0 is starved; the last one runs the lab's own processes).
        #[arg(long, default_value_t = 2)]
        cpus: u32,
        /// Seconds one boot may take; a hung guest is killed and tried once more.
        #[arg(long, default_value_t = 540)]
        timeout: u64,
        /// Heartbeats per second.
        #[arg(long, default_value_t = 25)]
        hb_rate: u32,
        /// Bulk packets per second to NIC 0 (in 32 flows); NIC 1 gets a quarter of it.
        #[arg(long, default_value_t = 1600)]
        bulk_rate: u32,
        /// Seconds each phase receives.
        #[arg(long, default_value_t = 16)]
        phase_secs: u32,
        /// Also run the fault with RPS to the free CPU (IRQs left on the starved one).
        #[arg(long)]
        rps: bool,
    },
    /// The lab guest's UDP receiver and bulk sink (run inside the guest).
    #[command(hide = true)]
    LabUdp {
        #[command(subcommand)]
        role: LabUdp,
    },
}

#[derive(Subcommand)]
enum LabUdp {
    /// Count heartbeats on PORT for SECONDS: received, lost sequence numbers, longest silence.
    Recv {
        #[arg(long)]
        seconds: u64,
        /// Count from when this file exists; until then read and discard.
        #[arg(long)]
        go: Option<std::path::PathBuf>,
        port: u16,
    },
    /// Read and discard datagrams on PORTS for SECONDS.
    Sink {
        #[arg(long)]
        seconds: u64,
        ports: Vec<u16>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Setup => setup::all(setup::Needs::Tests),
        Cmd::Build => {
            setup::all(setup::Needs::Run)?;
            cargo(&["build", "--release", "-p", "hbwatch"])
        }
        Cmd::Run { args } => {
            setup::all(setup::Needs::Run)?;
            cargo(&["build", "--release", "-p", "hbwatch"])?;
            let root = workspace_root()?;
            let bin = root.join("target/release/hbwatch");
            let status = Command::new(&bin)
                .args(&args)
                .status()
                .with_context(|| format!("running {}", bin.display()))?;
            if !status.success() {
                bail!("hbwatch exited with {status}");
            }
            Ok(())
        }
        Cmd::Lint => layers::check(&workspace_root()?),
        Cmd::Test { args } => {
            setup::all(setup::Needs::Tests)?;
            // The end-to-end tests run the binary; build it in the profile the tests use.
            cargo(&["build", "-p", "hbwatch"])?;
            // The default members: everything but agent-ebpf, which only builds for the bpf target.
            let mut a = vec!["test"];
            a.extend(args.iter().map(String::as_str));
            cargo(&a)
        }
        Cmd::Kernels {
            only,
            timeout,
            strict,
        } => {
            setup::all(setup::Needs::Kernels)?;
            cargo(&["build", "--release", "-p", "hbwatch"])?;
            kernels::run(
                &workspace_root()?,
                &kernels::Options {
                    only,
                    timeout: std::time::Duration::from_secs(timeout),
                    strict,
                },
            )
        }
        Cmd::Dist { bin, out } => {
            let root = workspace_root()?;
            let bin = match bin {
                Some(b) => b,
                None => {
                    setup::all(setup::Needs::Run)?;
                    cargo(&["build", "--release", "-p", "hbwatch"])?;
                    root.join("target/release/hbwatch")
                }
            };
            let out = out.unwrap_or_else(|| root.join("target/dist"));
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let d = dist::build(&bin, &root, &out)?;
            eprintln!("xtask: wrote {}", d.deb.display());
            eprintln!(
                "xtask: container context {} (podman build -t hbwatch {})",
                d.container.display(),
                d.container.display()
            );
            Ok(())
        }
        Cmd::Lab {
            cpus,
            timeout,
            hb_rate,
            bulk_rate,
            phase_secs,
            rps,
        } => {
            setup::all(setup::Needs::Kernels)?;
            cargo(&["build", "--release", "-p", "hbwatch"])?;
            lab::run(
                &workspace_root()?,
                &lab::Options {
                    cpus,
                    timeout: std::time::Duration::from_secs(timeout),
                    hb_per_s: hb_rate,
                    bulk_per_s: bulk_rate,
                    phase_s: phase_secs,
                    hog_at_s: phase_secs / 3,
                    hog_for_s: (phase_secs / 4).max(2),
                    rps_phase: rps,
                },
            )
        }
        Cmd::LabUdp { role } => match role {
            LabUdp::Recv { seconds, go, port } => lab::udp::recv(port, seconds, go.as_deref()),
            LabUdp::Sink { seconds, ports } => lab::udp::sink(&ports, seconds),
        },
        Cmd::Bench { which } => {
            setup::all(setup::Needs::Tests)?;
            bench::run(&workspace_root()?, which)
        }
    }
}

fn workspace_root() -> Result<std::path::PathBuf> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Ok(dir
        .parent()
        .context("xtask has no parent folder")?
        .to_owned())
}

fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(workspace_root()?)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}
