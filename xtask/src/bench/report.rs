//! `hbwatch report` speed and memory on generated one-hour recordings.

use std::{path::Path, process::Command, time::Instant};

use anyhow::{Context as _, Result, bail};

use super::{Env, mb, median, run_ok, table};

/// Wall time and peak RSS (from wait4's rusage) of one `hbwatch report`.
fn timed_report(hbwatch: &Path, rec: &Path) -> Result<(f64, u64)> {
    let t0 = Instant::now();
    let child = Command::new(hbwatch)
        .arg("report")
        .arg(rec)
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting hbwatch report")?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; both pointers are live for the call.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child by its PID, with valid out-pointers.
    let rc = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    let secs = t0.elapsed().as_secs_f64();
    if rc < 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("hbwatch report {} failed (status {status})", rec.display());
    }
    Ok((secs, ru.ru_maxrss as u64 * 1024))
}

pub fn run(env: &Env) -> Result<()> {
    let mut rows = Vec::new();
    for (cpus, queues) in [(2u32, 1u32), (64, 8)] {
        let path = env.scratch.join(format!("synth-{cpus}.hbw"));
        if !path.exists() {
            run_ok(Command::new(&env.synth).arg(&path).args([
                cpus.to_string(),
                queues.to_string(),
                "3600".into(),
            ]))?;
        }
        let size = std::fs::metadata(&path)?.len() as f64;
        let runs: Vec<(f64, u64)> = (0..5)
            .map(|_| timed_report(&env.hbwatch, &path))
            .collect::<Result<_>>()?;
        rows.push(vec![
            format!("1 h, {cpus} CPUs, {queues} queues"),
            mb(size),
            format!("{:.3} s", median(runs.iter().map(|r| r.0).collect())),
            mb(median(runs.iter().map(|r| r.1 as f64).collect())),
        ]);
    }
    table(
        "hbwatch report on generated one-hour recordings (median of 5; target 1 s)",
        &["recording", "file", "time", "peak RSS"],
        &rows,
    );
    Ok(())
}
