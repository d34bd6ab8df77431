//! Root, end to end: a busy loop pinned to one CPU is the top CPU user of that CPU in the
//! recording's per-process samples, and its recorded affinity is that CPU.

use std::process::{Command, Stdio};

use hbwatch::recording::{RecordingReader, records::Record};
use hbwatch_tests::{hbwatch_bin, require_root, tempdir};

/// Each test pins a busy loop to the last CPU: one at a time, or they share it.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `sh -c script` pinned to the last CPU (the one least likely to take this test's own work),
/// and that CPU.
fn pinned(script: &str) -> (std::process::Child, u32) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = (cpus - 1) as u32;
    let child = Command::new("taskset")
        .args(["-c", &cpu.to_string(), "sh", "-c", script])
        .spawn()
        .expect("spawn a pinned busy loop (taskset)");
    (child, cpu)
}

#[test]
fn pinned_busy_loop_is_the_top_cpu_user_of_its_cpu() {
    if !require_root("pinned_busy_loop_is_the_top_cpu_user_of_its_cpu") {
        return;
    }
    let _one = serial();
    let (mut spinner, cpu) = pinned("while :; do :; done");
    let pid = spinner.id();
    let dir = tempdir();
    let rec = dir.path().join("cpu-users.hbw");
    let out = Command::new(hbwatch_bin())
        .args(["record", "-d", "3s", "--stack-rate", "99"])
        .args(["--watch-pid", &pid.to_string(), "-o"])
        .arg(&rec)
        .stderr(Stdio::piped())
        .output()
        .expect("run hbwatch record");
    let _ = spinner.kill();
    let _ = spinner.wait();
    assert!(
        out.status.success(),
        "record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let reader = RecordingReader::open(&rec).expect("open the recording");
    let (mut total, mut spinner_samples, mut intervals) = (0u64, 0u64, 0);
    let mut top_of_cpu = Vec::new();
    let mut affinity = None;
    for r in reader {
        match r {
            Record::CpuTasks(iv) => {
                intervals += 1;
                for c in iv.cpus.iter().filter(|c| c.cpu == cpu) {
                    total += c.samples;
                    if let Some(t) = c.top.first() {
                        top_of_cpu.push(t.tgid);
                    }
                    spinner_samples += c
                        .top
                        .iter()
                        .filter(|t| t.tgid == pid)
                        .map(|t| t.samples)
                        .sum::<u64>();
                }
            }
            Record::TaskAffinity(a) if a.tgid == pid => affinity = Some(a.cpus_allowed),
            _ => {}
        }
    }
    assert!(intervals >= 2, "{intervals} per-process intervals in 3 s");
    // 99 Hz for about 3 s.
    assert!(total >= 150, "only {total} samples on CPU {cpu}");
    assert!(
        spinner_samples * 10 >= total * 7,
        "busy loop {pid} had {spinner_samples} of {total} samples on CPU {cpu}"
    );
    assert!(
        top_of_cpu.iter().filter(|&&t| t == pid).count() * 2 > top_of_cpu.len(),
        "busy loop {pid} is not the top user of CPU {cpu}: {top_of_cpu:?}"
    );
    assert_eq!(affinity, Some(vec![cpu]), "recorded affinity of {pid}");
}

#[test]
fn a_process_is_named_as_what_it_runs_after_exec() {
    if !require_root("a_process_is_named_as_what_it_runs_after_exec") {
        return;
    }
    let _one = serial();
    let dir = tempdir();
    let flag = dir.path().join("exec-now");
    // Spins as `sh` until the flag appears, then becomes `awk` (same PID).
    let script = format!(
        "while [ ! -e {} ]; do :; done; exec awk 'BEGIN {{ while (1) {{ }} }}'",
        flag.display()
    );
    let (mut spinner, cpu) = pinned(&script);
    let pid = spinner.id();
    let rec = dir.path().join("exec.hbw");
    let recorder = Command::new(hbwatch_bin())
        .args(["record", "-d", "4s", "--stack-rate", "99", "-o"])
        .arg(&rec)
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hbwatch record");
    hbwatch_tests::wait_for_recording(&rec);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    std::fs::write(&flag, "").expect("flag");
    let out = recorder.wait_with_output().expect("record");
    let _ = spinner.kill();
    let _ = spinner.wait();
    assert!(
        out.status.success(),
        "record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names = Vec::new();
    for r in RecordingReader::open(&rec).expect("open") {
        if let Record::CpuTasks(iv) = r {
            for c in iv.cpus.iter().filter(|c| c.cpu == cpu) {
                if let Some(t) = c.top.iter().find(|t| t.tgid == pid) {
                    names.push(t.comm.clone());
                }
            }
        }
    }
    assert_eq!(names.first().map(String::as_str), Some("sh"), "{names:?}");
    assert_eq!(
        names.last().map(String::as_str),
        Some("awk"),
        "named as before its exec: {names:?}"
    );
}
