//! Misuse table: every row is a wrong way to call hbwatch, and each must end with exit status 2
//! and exactly one stderr line that names the problem, never a panic or a backtrace.
//! Add a row to [`cases`] for each new option or subcommand.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use hbwatch::{
    capture::session::build_header,
    collectors::host::HostRoot,
    recording::{
        Record, RecordingWriter,
        records::{FoldedStack, StackSamples, StopInfo},
    },
};
use hbwatch_tests::{hbwatch_bin, tempdir};

/// Files the rows point at, made once in a temporary folder.
struct Fixtures {
    dir: PathBuf,
    /// Held for the whole table so `serve --metrics-addr` meets a busy port.
    busy: std::net::TcpListener,
}

impl Fixtures {
    fn new(dir: &Path) -> Fixtures {
        let f = |name: &str| dir.join(name);
        std::fs::write(f("notes.txt"), "not a recording\n").expect("write text");
        std::fs::write(f("empty.hbw"), "").expect("write empty");
        std::fs::write(f("exists.hbw"), "x").expect("write existing");
        std::fs::create_dir(f("folder")).expect("mkdir");
        std::os::unix::fs::symlink(f("exists.hbw"), f("link.hbw")).expect("symlink");
        std::os::unix::fs::symlink(f("nowhere"), f("dangling.hbw")).expect("dangling symlink");
        std::os::unix::fs::symlink(f("loop.hbw"), f("loop.hbw")).expect("symlink loop");
        std::fs::write(f("exists.svg"), "x").expect("write existing export");
        std::fs::write(
            f("unknown-key.toml"),
            "[[heartbeat]]\nspec = \"udp:5405\"\nbogus = 1\n",
        )
        .expect("write config");
        std::fs::write(f("latin1.toml"), b"gap_factor = 2 # caf\xe9\n").expect("write config");
        // A real recording, then damaged copies of it.
        let good = f("good.hbw");
        let mut w = RecordingWriter::create(
            &good,
            false,
            &build_header(&HostRoot::default(), vec!["misuse".into()]),
        )
        .expect("create recording");
        w.push(&Record::Stop(StopInfo {
            at_mono_ns: 1,
            reason: "test".into(),
        }))
        .expect("push");
        w.flush().expect("flush");
        stacks_recording(&f("stacks.hbw"), false, Vec::new());
        let bytes = std::fs::read(&good).expect("read recording");
        std::fs::write(f("preamble-cut.hbw"), &bytes[..12]).expect("write");
        std::fs::write(f("header-cut.hbw"), &bytes[..30]).expect("write");
        let mut crc = bytes.clone();
        crc[16] ^= 0xff;
        std::fs::write(f("header-crc.hbw"), &crc).expect("write");
        let mut newer = bytes.clone();
        newer[8..10].copy_from_slice(&99u16.to_le_bytes());
        std::fs::write(f("newer.hbw"), &newer).expect("write");
        let mut huge = bytes;
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(f("header-len.hbw"), &huge).expect("write");
        Fixtures {
            dir: dir.to_owned(),
            busy: std::net::TcpListener::bind("127.0.0.1:0").expect("bind a busy port"),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().expect("utf8 path").to_owned()
    }
}

/// A recording whose stack sampler took 996 samples, keeping `stacks` (none in softirq context).
fn stacks_recording(path: &Path, all_stacks: bool, stacks: Vec<FoldedStack>) {
    let header = build_header(&HostRoot::default(), vec!["misuse".into()]);
    let t0 = header.anchor.mono_ns;
    let mut w = RecordingWriter::create(path, false, &header).expect("create recording");
    w.push(&Record::Stacks(StackSamples {
        start_mono_ns: t0,
        end_mono_ns: t0 + 1_000_000_000,
        rate_hz: 99,
        all_stacks,
        samples: 996,
        dropped: 0,
        stacks,
    }))
    .expect("push");
    w.push(&Record::Stop(StopInfo {
        at_mono_ns: t0 + 2_000_000_000,
        reason: "test".into(),
    }))
    .expect("push");
    w.flush().expect("flush");
}

/// One misuse: arguments and a fragment the single error line must contain.
struct Case {
    args: Vec<String>,
    want: &'static str,
}

fn case(args: &[&str], want: &'static str) -> Case {
    Case {
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        want,
    }
}

fn cases(fx: &Fixtures) -> Vec<Case> {
    let p = |n: &str| fx.path(n);
    let new_out = p("new.hbw");
    vec![
        // Durations.
        case(&["record", "--duration", "soon"], "is not a duration"),
        case(&["record", "--duration", "0s"], "greater than zero"),
        case(&["record", "--duration=-5s"], "is not a duration"),
        case(&["record", "--duration="], "is not a duration"),
        case(&["record", "--duration", "5x"], "is not a duration"),
        case(&["record", "--duration", "1.5.2s"], "is not a duration"),
        case(
            &["record", "-d", "99999999999999999999999s"],
            "is not a duration",
        ),
        case(
            &["record", "-d", "1s", "-d", "2s"],
            "cannot be used multiple times",
        ),
        case(&["record", "--duration"], "a value is required"),
        // Intervals.
        case(&["record", "--interval", "5s"], "between 100ms and 1s"),
        case(&["record", "--interval", "10ms"], "between 100ms and 1s"),
        case(&["record", "--interval=-1s"], "is not a duration"),
        case(&["record", "--interval", "0s"], "greater than zero"),
        case(&["record", "--interval", "often"], "is not a duration"),
        // Subcommands and options.
        case(&[], "no subcommand given"),
        case(&["frobnicate"], "unrecognized subcommand"),
        case(&["record", "--frobnicate"], "unexpected argument"),
        case(&["record", "-d", "1s", "extra"], "unexpected argument"),
        case(&["report"], "required"),
        // Several recordings merge; one given twice, a bad one, or a one-recording option is refused.
        case(
            &["report", &p("good.hbw"), &p("good.hbw")],
            "is given twice",
        ),
        case(
            &["report", &p("good.hbw"), &p("notes.txt")],
            "not an hbwatch recording",
        ),
        case(
            &["report", &p("good.hbw"), &p("stacks.hbw"), "--gap", "1"],
            "cannot be used with",
        ),
        case(
            &[
                "report",
                &p("good.hbw"),
                &p("stacks.hbw"),
                "--fix-script",
                &p("fix.sh"),
            ],
            "cannot be used with",
        ),
        // Several recordings export only a merged --timeline.
        case(&["export", &p("good.hbw"), &p("stacks.hbw")], "required"),
        case(
            &[
                "export",
                &p("good.hbw"),
                &p("stacks.hbw"),
                "--trace",
                &p("t.json"),
            ],
            "cannot be used with",
        ),
        // A namespace that is not there, or not a namespace.
        case(
            &["record", "--netns", "hbwatch-no-such-ns"],
            "does not exist",
        ),
        case(
            &["record", "--netns", &p("notes.txt")],
            "is not a network namespace",
        ),
        case(
            &["record", "--netns", "/proc/self"],
            "is not a network namespace",
        ),
        case(
            &["report", "--format", "xml", &p("good.hbw")],
            "invalid value",
        ),
        case(&["record", "--output"], "a value is required"),
        // Output paths (all checked before any probe is attached, so no root is needed).
        case(
            &["record", "-d", "1s", "-o", &p("exists.hbw")],
            "refusing to overwrite",
        ),
        case(
            &["record", "-d", "1s", "-o", &p("folder")],
            "is a directory",
        ),
        case(
            &["record", "-d", "1s", "-o", &p("link.hbw")],
            "symbolic link",
        ),
        case(
            &["record", "-d", "1s", "-o", &p("link.hbw"), "--force"],
            "symbolic link",
        ),
        case(
            &["record", "-d", "1s", "-o", &p("dangling.hbw")],
            "symbolic link",
        ),
        case(
            &["record", "-d", "1s", "-o", "/nonexistent/dir/x.hbw"],
            "does not exist",
        ),
        case(
            &[
                "record",
                "-d",
                "1s",
                "-o",
                &format!("{}/x.hbw", p("notes.txt")),
            ],
            "is not a folder",
        ),
        case(&["record", "-d", "1s", "-o", ""], "a value is required"),
        case(
            &["record", "-d", "1s", "-o", &format!("{}/", p("folder"))],
            "is a directory",
        ),
        case(
            &["record", "-d", "1s", "-o", &format!("{new_out}/..")],
            "not a file path",
        ),
        // Recordings that are not recordings.
        case(&["report", &p("notes.txt")], "not an hbwatch recording"),
        case(&["report", &p("empty.hbw")], "not an hbwatch recording"),
        // Devices and pipes are refused before a byte is read (`-` is how to pass a pipe).
        case(&["report", "/dev/null"], "is a character device"),
        case(&["report", "/dev/zero"], "is a character device"),
        case(
            &["export", "/dev/zero", "--json", &p("new.json")],
            "is a character device",
        ),
        case(
            &["export", &p("good.hbw"), "--json", "/dev/null", "--force"],
            "is a character device",
        ),
        case(
            &["report", &p("preamble-cut.hbw")],
            "ends inside the preamble",
        ),
        case(&["report", &p("header-cut.hbw")], "header length runs past"),
        case(&["report", &p("header-len.hbw")], "header length runs past"),
        case(
            &["report", &p("header-crc.hbw")],
            "header checksum mismatch",
        ),
        case(
            &["report", &p("newer.hbw")],
            "newer than this hbwatch reads",
        ),
        case(&["report", &p("folder")], "is a directory"),
        case(&["report", &p("missing.hbw")], "No such file"),
        case(&["report", &p("loop.hbw")], "symbolic links"),
        case(
            &["report", "--format", "json", &p("notes.txt")],
            "not an hbwatch recording",
        ),
        // Heartbeat specs (validated before anything is attached).
        case(
            &["record", "-d", "1s", "--heartbeat", "log:/tmp/x.log:nosuch"],
            "expected a preset name",
        ),
        case(
            &[
                "record",
                "-d",
                "1s",
                "--heartbeat",
                "log:/tmp/x.log:regex=(open",
            ],
            "valid regular expression",
        ),
        case(
            &[
                "record",
                "-d",
                "1s",
                "--heartbeat",
                "log:/tmp/x.log:regex=(?<who>\\w+)",
            ],
            "group names among",
        ),
        case(
            &["record", "-d", "1s", "--heartbeat", "bogus:thing"],
            "expected a source kind",
        ),
        case(
            &["record", "-d", "1s", "--heartbeat", "udp:70000"],
            "port number 1-65535",
        ),
        case(
            &["record", "-d", "1s", "--heartbeat", "udp:5405@-1s"],
            "expected a duration",
        ),
        case(
            &["record", "-d", "1s", "--heartbeat", "tcp:2380@0s"],
            "expected a duration",
        ),
        case(
            &[
                "record",
                "-d",
                "1s",
                "--heartbeat",
                "probe:tcp://127.0.0.1:1@0s",
            ],
            "expected a duration",
        ),
        case(
            &["record", "-d", "1s", "--tz", "Mars/Olympus"],
            "not a known time zone",
        ),
        case(&["record", "-d", "1s", "--gap-factor", "1"], "above 1"),
        case(
            &["report", "--gap-factor", "0.5", &p("good.hbw")],
            "above 1",
        ),
        // Config files.
        case(
            &["record", "-d", "1s", "--config", &p("nosuch.toml")],
            "No such file",
        ),
        case(
            &["record", "-d", "1s", "--config", &p("folder")],
            "directory",
        ),
        case(
            &["record", "-d", "1s", "--config", &p("latin1.toml")],
            "UTF-8",
        ),
        case(
            &["record", "-d", "1s", "--config", &p("unknown-key.toml")],
            "unknown field `bogus`",
        ),
        // Exports, host checks and the metrics endpoint.
        case(
            &["export", &p("good.hbw"), "--flamegraph", &p("exists.svg")],
            "refusing to overwrite",
        ),
        case(
            &["export", &p("good.hbw"), "--flamegraph", &p("folder")],
            "is a directory",
        ),
        case(
            &[
                "export",
                &p("good.hbw"),
                "--json",
                &p("good.hbw"),
                "--force",
            ],
            "is the recording being read",
        ),
        case(
            &[
                "export",
                &p("good.hbw"),
                "--json",
                &format!("{}/../good.hbw", p("folder")),
                "--force",
            ],
            "is the recording being read",
        ),
        case(
            &[
                "report",
                &p("good.hbw"),
                "--fix-script",
                &p("good.hbw"),
                "--force",
            ],
            "is the recording being read",
        ),
        case(
            &[
                "export",
                &p("good.hbw"),
                "--json",
                &p("x.json"),
                "--ndjson",
                &format!("{}/../x.json", p("folder")),
            ],
            "are one file",
        ),
        case(
            &["export", &p("good.hbw"), "--json", "-", "--ndjson", "-"],
            "only one export can go to standard output",
        ),
        case(
            &["export", &p("good.hbw"), "--flamegraph", "-"],
            "can write to standard output",
        ),
        case(
            &["report", &p("good.hbw"), "--fix-script", &p("exists.svg")],
            "(use --force)",
        ),
        case(&["report", &p("good.hbw"), "--force"], "--fix-script"),
        case(
            &["export", &p("stacks.hbw"), "--flamegraph", &p("new.svg")],
            "0 of 996 samples ran in softirq context",
        ),
        case(
            &[
                "export",
                &p("good.hbw"),
                "--from",
                "2020-01-01T00:00:00Z",
                "--to",
                "2020-01-02T00:00:00Z",
                "--json",
                &p("new.json"),
            ],
            "years..-",
        ),
        // Numbers out of range get a range message, not a parse error about a flag.
        case(
            &["report", &p("good.hbw"), "--gap", "-1"],
            "gap numbers start at 1",
        ),
        case(
            &[
                "export",
                &p("good.hbw"),
                "--gap",
                "-1",
                "--json",
                &p("new.json"),
            ],
            "gap numbers start at 1",
        ),
        case(
            &["report", &p("good.hbw"), "--gap", "0"],
            "gap numbers start at 1",
        ),
        case(&["man", "--dir", &p("notes.txt")], "not a folder"),
        // A subcommand's errors point to its own help.
        case(&["report", "--bogus"], "try `hbwatch report --help`"),
        case(
            &["record", "-d", "1s", "-o", &p("exists.hbw"), "--gap", "1"],
            "unexpected argument '--gap'",
        ),
        case(
            &[
                "record",
                "-d",
                "1s",
                "-o",
                &p("exists.hbw"),
                "--fix-script",
                "f.sh",
            ],
            "try `hbwatch record --help`",
        ),
        case(
            &["check", "--iface", "nosuch"],
            "unknown interface `nosuch`",
        ),
        case(
            &["record", "-d", "1s", "--disable-probe", "nosuch"],
            "unknown tracepoint",
        ),
        case(
            &[
                "serve",
                "--metrics-addr",
                &fx.busy.local_addr().expect("addr").to_string(),
            ],
            "Address already in use",
        ),
    ]
}

/// Runs one row and returns a description of what was wrong, if anything.
fn check(c: &Case) -> Option<String> {
    let out = Command::new(hbwatch_bin())
        .args(&c.args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run hbwatch");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let problem = if out.status.code() != Some(2) {
        format!("exit {:?}", out.status.code())
    } else if lines.len() != 1 {
        format!("{} stderr lines", lines.len())
    } else if !lines[0].starts_with("hbwatch: error: ") {
        "line does not start with `hbwatch: error: `".to_owned()
    } else if !lines[0].contains(c.want) {
        format!("line lacks {:?}", c.want)
    } else if err.contains("panicked") || err.contains("backtrace") {
        "panicked".to_owned()
    } else {
        return None;
    };
    Some(format!("{:?}: {problem}; stderr: {err}", c.args))
}

#[test]
fn every_misuse_gets_one_clear_line_and_status_2() {
    let dir = tempdir();
    let fx = Fixtures::new(dir.path());
    let table = cases(&fx);
    assert!(table.len() >= 30, "the table keeps at least 30 rows");
    let failures: Vec<String> = table.iter().filter_map(check).collect();
    assert!(
        failures.is_empty(),
        "{} of {} misuses misbehaved:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
    assert!(
        !dir.path().join("new.hbw").exists(),
        "a failed start leaves no recording"
    );
}
