use std::{
    io::Write as _,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use super::*;

fn collect(f: &mut Follower) -> (Vec<String>, Vec<FollowWarning>) {
    let mut lines = Vec::new();
    let w = f.poll(&mut |l| lines.push(l.to_owned()));
    (lines, w)
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(bytes).expect("append");
}

#[test]
fn from_end_by_default_and_from_start_on_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("a.log");
    append(&p, b"old 1\nold 2\n");
    let mut end = Follower::new(&p, false);
    let mut start = Follower::new(&p, true);
    assert_eq!(collect(&mut end).0, Vec::<String>::new());
    assert_eq!(collect(&mut start).0, ["old 1", "old 2"]);
    append(&p, b"new\n");
    assert_eq!(collect(&mut end).0, ["new"]);
    assert_eq!(collect(&mut start).0, ["new"]);
}

#[test]
fn waits_for_a_missing_file_then_reads_it_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("later.log");
    let mut f = Follower::new(&p, false);
    let (l, w) = collect(&mut f);
    assert!(l.is_empty());
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].kind, WarningKind::Vanished);
    assert!(collect(&mut f).1.is_empty(), "warned twice");
    append(&p, b"first\n");
    let (l, w) = collect(&mut f);
    assert_eq!(l, ["first"]);
    assert_eq!(w[0].kind, WarningKind::Recovered);
}

#[test]
fn partial_lines_crlf_long_lines_and_bad_utf8() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("b.log");
    append(&p, b"");
    let mut f = Follower::new(&p, false);
    assert!(collect(&mut f).0.is_empty());
    append(&p, b"half");
    assert!(collect(&mut f).0.is_empty());
    append(&p, b" done\r\nbad \xff\xfe end\n");
    assert_eq!(collect(&mut f).0, ["half done", "bad \u{fffd}\u{fffd} end"]);
    assert_eq!(f.counts.invalid_utf8, 1);
    let mut long = vec![b'x'; MAX_LINE + 5000];
    long.push(b'\n');
    append(&p, &long);
    append(&p, b"after\n");
    let (l, _) = collect(&mut f);
    assert_eq!(l.len(), 2);
    assert_eq!(l[0].len(), MAX_LINE);
    assert_eq!(l[1], "after");
    assert_eq!(f.counts.long_lines_cut, 1);
    // A long line arriving in pieces is cut once too.
    append(&p, &vec![b'y'; MAX_LINE - 10]);
    assert!(collect(&mut f).0.is_empty());
    append(&p, &[b'y'; 100]);
    append(&p, b"\nz\n");
    let (l, _) = collect(&mut f);
    assert_eq!(l.iter().map(|s| s.len()).collect::<Vec<_>>(), [MAX_LINE, 1]);
    assert_eq!(f.counts.long_lines_cut, 2);
}

/// A writer appends numbered lines as fast as it can and rotates by rename every 7,000 lines
/// while a follower polls; every line must come out exactly once, in order. (Copytruncate
/// without pauses can lose lines by design: see the hundred-rotations test below.)
#[test]
fn rotation_by_rename_under_load() {
    const LINES: u64 = 60_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("app.log");
    append(&p, b"before start\n");
    let mut f = Follower::new(&p, false);
    assert!(collect(&mut f).0.is_empty());
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (p, done) = (p.clone(), done.clone());
        std::thread::spawn(move || {
            let open = || {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .expect("open log")
            };
            let mut out = open();
            let mut rotations = 0;
            for i in 0..LINES {
                writeln!(out, "line {i:08} payload payload payload").expect("write");
                if i % 7_000 == 6_999 {
                    rotations += 1;
                    let old = p.with_extension(format!("log.{rotations}"));
                    std::fs::rename(&p, &old).expect("rename");
                    out = open();
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut got = Vec::new();
    let mut rotated = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let finished = done.load(Ordering::SeqCst);
        let w = f.poll(&mut |l| got.push(l.to_owned()));
        rotated += w.iter().filter(|w| w.kind == WarningKind::Rotated).count();
        if finished {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "writer too slow");
        std::thread::sleep(Duration::from_micros(300));
    }
    writer.join().expect("writer");
    f.poll(&mut |l| got.push(l.to_owned()));
    let want: Vec<String> = (0..LINES)
        .map(|i| format!("line {i:08} payload payload payload"))
        .collect();
    assert_eq!(got.len(), want.len(), "lines lost or read twice");
    assert!(got == want, "lines out of order or altered");
    assert!(rotated >= 1, "no rotation seen");
}

#[test]
fn vanished_file_is_reported_once_and_new_file_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("c.log");
    append(&p, b"x\n");
    let mut f = Follower::new(&p, false);
    collect(&mut f);
    std::fs::remove_file(&p).expect("rm");
    let (_, w) = collect(&mut f);
    assert_eq!(
        w.iter().map(|w| w.kind).collect::<Vec<_>>(),
        [WarningKind::Vanished]
    );
    assert!(collect(&mut f).1.is_empty());
    append(&p, b"again\n");
    assert_eq!(collect(&mut f).0, ["again"]);
}

/// 100 rotations alternating rename and copytruncate while a writer appends as fast as it can:
/// every line comes out exactly once, in order. Around each copytruncate the writer pauses until
/// the follower has read everything and seen the truncation, as logrotate-style tests do: lines
/// written between the copy and the truncate exist only in the copy, and a file that regrows past
/// the old offset before the next poll hides its truncation; both windows belong to copytruncate
/// itself (its documentation says data can be lost), not to the follower.
#[test]
fn hundred_rotations_alternating_rename_and_copytruncate() {
    use std::sync::atomic::AtomicU64;
    const ROTATIONS: u64 = 100;
    const EVERY: u64 = 1_000;
    const LINES: u64 = ROTATIONS * EVERY + 500;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("app.log");
    append(&p, b"");
    let mut f = Follower::new(&p, false);
    assert!(collect(&mut f).0.is_empty());
    let read = Arc::new(AtomicU64::new(0));
    let seen_rotations = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let wait_until = |what: &AtomicU64, n: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while what.load(Ordering::SeqCst) < n {
            assert!(std::time::Instant::now() < deadline, "follower stalled");
            std::thread::yield_now();
        }
    };
    let writer = {
        let (p, done, read, seen) = (
            p.clone(),
            done.clone(),
            read.clone(),
            seen_rotations.clone(),
        );
        std::thread::spawn(move || {
            let open = || {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .expect("open log")
            };
            let mut out = open();
            let mut rotations = 0;
            for i in 0..LINES {
                writeln!(out, "line {i:08} payload").expect("write");
                if i % EVERY == EVERY - 1 && rotations < ROTATIONS {
                    rotations += 1;
                    let old = p.with_extension(format!("log.{rotations}"));
                    if rotations % 2 == 1 {
                        // No pause: the follower drains the renamed file through its open handle.
                        std::fs::rename(&p, &old).expect("rename");
                        out = open();
                    } else {
                        wait_until(&read, i + 1);
                        std::fs::copy(&p, &old).expect("copy");
                        out.set_len(0).expect("truncate");
                        wait_until(&seen, rotations);
                    }
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let finished = done.load(Ordering::SeqCst);
        let w = f.poll(&mut |l| got.push(l.to_owned()));
        let rotated = w.iter().filter(|w| w.kind == WarningKind::Rotated).count();
        seen_rotations.fetch_add(rotated as u64, Ordering::SeqCst);
        read.store(got.len() as u64, Ordering::SeqCst);
        if finished {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "writer too slow");
        std::thread::sleep(Duration::from_micros(200));
    }
    writer.join().expect("writer");
    f.poll(&mut |l| got.push(l.to_owned()));
    assert_eq!(got.len() as u64, LINES, "lines lost or read twice");
    let in_order = got
        .iter()
        .enumerate()
        .all(|(i, l)| *l == format!("line {i:08} payload"));
    assert!(in_order, "lines out of order or altered");
    assert_eq!(
        seen_rotations.load(Ordering::SeqCst),
        ROTATIONS,
        "every rotation noticed"
    );
}
