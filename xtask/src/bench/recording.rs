//! Recording size: bytes per hour on this host (a real `hbwatch record`, extrapolated) and on a
//! simulated 64-CPU, 8-queue host (synthetic records through the real writer).

use std::process::Command;

use anyhow::Result;

use super::{Env, mb, run_ok, table};

pub fn run(env: &Env) -> Result<()> {
    let mut rows = Vec::new();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let secs = 30u64;
        let path = env.scratch.join("host.hbw");
        run_ok(
            Command::new(&env.hbwatch)
                .args(["record", "--force", "-d", &format!("{secs}s"), "-o"])
                .arg(&path),
        )?;
        let bytes = std::fs::metadata(&path)?.len() as f64;
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        rows.push(vec![
            format!("this host ({cpus} CPUs), real record {secs} s"),
            format!("{bytes:.0}"),
            mb(bytes * 3600.0 / secs as f64),
        ]);
    }
    for (cpus, queues, secs) in [(2u32, 1u32, 3600u64), (64, 8, 3600)] {
        let path = env.scratch.join(format!("synth-{cpus}.hbw"));
        let out = run_ok(Command::new(&env.synth).arg(&path).args([
            cpus.to_string(),
            queues.to_string(),
            secs.to_string(),
        ]))?;
        let bytes: f64 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
        rows.push(vec![
            format!("simulated {cpus} CPUs, {queues} queues, {secs} s"),
            format!("{bytes:.0}"),
            mb(bytes * 3600.0 / secs as f64),
        ]);
    }
    table(
        "Recording size (target: 100 MB per hour at 64 CPUs)",
        &["recording", "bytes", "per hour"],
        &rows,
    );
    Ok(())
}
