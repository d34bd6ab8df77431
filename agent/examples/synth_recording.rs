//! Writes a synthetic recording (see `hbwatch::recording::synth`) for benchmarks and fuzz seeds:
//! `synth_recording PATH CPUS QUEUES SECONDS [SEED]`; prints the bytes written.

use std::{path::PathBuf, process::ExitCode};

use hbwatch::recording::synth::{SynthHost, write};

fn main() -> ExitCode {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: Option<u64>| -> Option<u64> {
        a.get(i).and_then(|s| s.parse().ok()).or(default)
    };
    let (Some(path), Some(cpus), Some(queues), Some(seconds), Some(seed)) = (
        a.first().map(PathBuf::from),
        num(1, None),
        num(2, None),
        num(3, None),
        num(4, Some(1)),
    ) else {
        eprintln!("usage: synth_recording PATH CPUS QUEUES SECONDS [SEED]");
        return ExitCode::from(2);
    };
    let host = SynthHost {
        cpus: cpus as u32,
        queues: queues as u32,
        seconds,
        seed,
    };
    match write(&path, &host) {
        Ok(bytes) => {
            println!("{bytes}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("synth_recording: {e}");
            ExitCode::FAILURE
        }
    }
}
