//! Reads a daemon's heartbeat timing out of its own config: finds the config file the running
//! daemon was started with (its command line, or its working directory), and parses the
//! settings that set the period and the silence a loss line means (corosync's `token`,
//! keepalived's `advert_int`, haproxy's `inter`/`fastinter`/`fall`, sentinel's
//! `down-after-milliseconds`).

use std::path::{Path, PathBuf};

use super::wire::{ConfigTiming, Process};

/// A config file's text; a directory (`haproxy -f conf.d`) is its `.cfg`/`.conf` files in name
/// order, as haproxy loads them.
pub fn read_config(path: &Path) -> Option<String> {
    if !path.is_dir() {
        return std::fs::read_to_string(path).ok();
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "cfg" || e == "conf"))
        .collect();
    files.sort();
    let text: Vec<String> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    (!text.is_empty()).then(|| text.join("\n"))
}

/// The config file the first of [`running_configs`] names.
pub fn running_config(p: &Process, root: &Path) -> Option<(PathBuf, String)> {
    running_configs(p, root).into_iter().next()
}

/// The config files running daemons of `p` name, those in hbwatch's own network namespace
/// first: (the file to read, under `root`; the path as the daemon names it).
pub fn running_configs(p: &Process, root: &Path) -> Vec<(PathBuf, String)> {
    let proc = root.join("proc");
    let own_ns = std::fs::read_link(proc.join("self/ns/net")).ok();
    let mut found: Vec<(bool, PathBuf, String)> = Vec::new();
    let Ok(entries) = std::fs::read_dir(&proc) else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !p.comm.contains(&comm.trim_end()) {
            continue;
        }
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let Some((file, shown)) = config_of(p, &dir, &args) else {
            continue;
        };
        let same_ns = own_ns.is_some() && std::fs::read_link(dir.join("ns/net")).ok() == own_ns;
        found.push((same_ns, file, shown));
    }
    // Own namespace first, then by PID directory for a stable choice.
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    found.into_iter().map(|(_, f, s)| (f, s)).collect()
}

/// The config file of the process at `/proc/PID` = `dir` with arguments `args`.
fn config_of(p: &Process, dir: &Path, args: &[String]) -> Option<(PathBuf, String)> {
    let flagged = args.iter().enumerate().skip(1).find_map(|(i, a)| {
        p.flags.iter().find_map(|f| {
            if a == f {
                args.get(i + 1).cloned()
            } else {
                a.strip_prefix(&format!("{f}=")).map(str::to_owned)
            }
        })
    });
    // A process title ("redis-sentinel *:26379 [sentinel]") is no file: only existing ones count.
    let positional = || {
        args.iter()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .find(|a| in_process(dir, a).is_file())
            .cloned()
    };
    let named = flagged.or_else(|| p.positional.then(positional).flatten());
    if let Some(name) = named {
        return Some((in_process(dir, &name), name));
    }
    let name = p.in_cwd?;
    let file = dir.join("cwd").join(name);
    let cwd = std::fs::read_link(dir.join("cwd")).ok()?;
    file.is_file()
        .then(|| (file, cwd.join(name).to_string_lossy().into_owned()))
}

/// A path as the process at `dir` sees it: relative to its working directory, absolute in its
/// own root (a daemon in another mount namespace).
fn in_process(dir: &Path, path: &str) -> PathBuf {
    match path.strip_prefix('/') {
        Some(abs) => dir.join("root").join(abs),
        None => dir.join("cwd").join(path),
    }
}

/// First number after `key` on a line of `text`, comments (`#`, `!`) ignored.
fn config_number(text: &str, key: &str) -> Option<f64> {
    text.lines()
        .map(|l| l.split(['#', '!']).next().unwrap_or(""))
        .filter_map(|l| l.trim().strip_prefix(key))
        .filter_map(|rest| {
            rest.trim_start_matches([':', ' ', '\t', '='])
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .find(|v| v.is_finite() && *v > 0.0)
}

/// corosync.conf `token: 3000` (ms): the knet ping interval is token / 4.
pub fn corosync_timing(text: &str) -> Option<ConfigTiming> {
    let token_ms = config_number(text, "token:")?;
    Some(ConfigTiming {
        period_ns: (token_ms * 1e6 / 4.0) as u64,
        loss_ns: None,
        what: format!("token {token_ms} ms"),
    })
}

/// keepalived.conf `advert_int 1` (seconds, fractions allowed).
pub fn keepalived_timing(text: &str) -> Option<ConfigTiming> {
    let s = config_number(text, "advert_int")?;
    Some(ConfigTiming {
        period_ns: (s * 1e9) as u64,
        loss_ns: None,
        what: format!("advert_int {s} s"),
    })
}

/// sentinel.conf: a PING every second (every `down-after-milliseconds` when shorter), and a
/// master is `+sdown` after `down-after-milliseconds` (30000 by default) without a valid reply.
/// With several masters, the shortest.
pub fn sentinel_timing(text: &str) -> Option<ConfigTiming> {
    let words = |l: &str| -> Vec<String> {
        l.split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let lines: Vec<Vec<String>> = text.lines().map(words).collect();
    let monitored = lines
        .iter()
        .filter(|w| w.len() >= 3 && w[0] == "sentinel" && w[1] == "monitor")
        .count();
    if monitored == 0 {
        return None;
    }
    let down_ms = lines
        .iter()
        .filter(|w| w.len() >= 4 && w[0] == "sentinel" && w[1] == "down-after-milliseconds")
        .filter_map(|w| w[3].parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .min()
        .unwrap_or(30_000);
    let ping_ms = down_ms.min(1000);
    Some(ConfigTiming {
        period_ns: ping_ms * 1_000_000,
        loss_ns: Some(down_ms * 1_000_000),
        what: format!("down-after-milliseconds {down_ms} (PING every {ping_ms} ms)"),
    })
}

/// A haproxy time (`500`, `2s`, `1500ms`, `1m`): ms by default.
fn haproxy_ms(v: &str) -> Option<u64> {
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..digits].parse().ok()?;
    let ms = match &v[digits..] {
        "" | "ms" => n,
        "us" => n / 1000,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => return None,
    };
    Some(ms)
}

/// The check settings of a `server` or `default-server` line.
#[derive(Debug, Clone, Copy, Default)]
struct Check {
    inter: Option<u64>,
    fastinter: Option<u64>,
    fall: Option<u64>,
}

impl Check {
    fn apply(&mut self, words: &[&str]) {
        for pair in words.windows(2) {
            match pair[0] {
                "inter" => self.inter = haproxy_ms(pair[1]).or(self.inter),
                "fastinter" => self.fastinter = haproxy_ms(pair[1]).or(self.fastinter),
                "fall" => self.fall = pair[1].parse().ok().or(self.fall),
                _ => {}
            }
        }
    }
}

/// haproxy.cfg: each checked `server` (settings from `default-server` lines of its section and
/// of `defaults`) is checked every `inter` (2 s by default); it is DOWN after `fall` (3) failed
/// checks, the ones after the first `fastinter` (`inter`) apart. A failed check can fail at once
/// (a refused connection), so the silence before DOWN is at least inter + (fall − 1) ×
/// fastinter; the failed-check lines add the durations they state. With several servers, the
/// shortest.
pub fn haproxy_timing(text: &str) -> Option<ConfigTiming> {
    const SECTIONS: &[&str] = &[
        "global",
        "defaults",
        "frontend",
        "backend",
        "listen",
        "peers",
        "resolvers",
        "userlist",
        "mailers",
        "program",
        "http-errors",
        "ring",
        "cache",
    ];
    let mut from_defaults = Check::default();
    let mut section = Check::default();
    let mut in_defaults = false;
    // (period, loss, what) of the checked server with the shortest loss.
    let mut best: Option<(u64, u64, String)> = None;
    let mut period = u64::MAX;
    for line in text.lines() {
        let words: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let Some(&first) = words.first() else {
            continue;
        };
        if SECTIONS.contains(&first) {
            in_defaults = first == "defaults";
            if in_defaults {
                from_defaults = Check::default();
            }
            section = from_defaults;
            continue;
        }
        match first {
            "default-server" => {
                section.apply(&words[1..]);
                if in_defaults {
                    from_defaults = section;
                }
            }
            "server" if words.contains(&"check") => {
                let mut c = section;
                c.apply(&words[1..]);
                let inter = c.inter.unwrap_or(2000).max(1);
                let fast = c.fastinter.unwrap_or(inter);
                let fall = c.fall.unwrap_or(3).max(1);
                let loss = inter + (fall - 1) * fast;
                period = period.min(inter);
                if best.as_ref().is_none_or(|(_, l, _)| loss < *l) {
                    let name = words.get(1).copied().unwrap_or("?");
                    let what = format!(
                        "server {name}: inter {inter} ms, fastinter {fast} ms, fall {fall}"
                    );
                    best = Some((inter, loss, what));
                }
            }
            _ => {}
        }
    }
    let (_, loss, what) = best?;
    Some(ConfigTiming {
        period_ns: period * 1_000_000,
        loss_ns: Some(loss * 1_000_000),
        what,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_checks_from_server_and_default_server_lines() {
        let cfg = "defaults\n  default-server inter 3s fall 4\nbackend be\n  default-server fall 2\n\
                   \x20 server s1 10.0.0.1:80 check inter 500 rise 2\n  server s2 10.0.0.2:80\n";
        let t = haproxy_timing(cfg).expect("a checked server");
        assert_eq!(t.period_ns, 500_000_000);
        assert_eq!(t.loss_ns, Some(1_000_000_000), "{}", t.what);
        let d = haproxy_timing("backend b\n  server s 1.2.3.4:80 check\n").expect("defaults");
        assert_eq!(
            (d.period_ns, d.loss_ns),
            (2_000_000_000, Some(6_000_000_000))
        );
        let fast = "backend b\n  server s 1.2.3.4:80 check inter 1s fastinter 200ms fall 3\n";
        assert_eq!(
            haproxy_timing(fast).and_then(|t| t.loss_ns),
            Some(1_400_000_000)
        );
        assert_eq!(haproxy_timing("backend b\n  server s 1.2.3.4:80\n"), None);
        // A defaults section's default-server does not leak past the next defaults.
        let two = "defaults\n default-server inter 100\ndefaults\nbackend b\n server s x:1 check\n";
        assert_eq!(
            haproxy_timing(two).map(|t| t.period_ns),
            Some(2_000_000_000)
        );
        assert_eq!(haproxy_ms("2s"), Some(2000));
        assert_eq!(haproxy_ms("2x"), None);
    }

    #[test]
    fn sentinel_down_after_milliseconds() {
        let cfg = "port 26379\nsentinel monitor m 10.0.0.1 6379 2\n\
                   sentinel down-after-milliseconds m 1000 # fast\n";
        let t = sentinel_timing(cfg).expect("a monitored master");
        assert_eq!(
            (t.period_ns, t.loss_ns),
            (1_000_000_000, Some(1_000_000_000))
        );
        let short = "sentinel monitor m h 6379 2\nsentinel down-after-milliseconds m 400\n";
        assert_eq!(
            sentinel_timing(short).map(|t| t.period_ns),
            Some(400_000_000)
        );
        let d = sentinel_timing("sentinel monitor m h 6379 2\n").expect("defaults");
        assert_eq!(d.loss_ns, Some(30_000_000_000));
        assert_eq!(sentinel_timing("port 6379\n"), None, "a plain redis.conf");
    }

    #[test]
    fn corosync_and_keepalived_periods() {
        let conf = "totem {\n  version: 2\n  # token: 99\n  token: 2000\n}\n";
        assert_eq!(
            corosync_timing(conf).map(|t| t.period_ns),
            Some(500_000_000)
        );
        let ka = "vrrp_instance VI_1 {\n    advert_int 2 # seconds\n}\n";
        assert_eq!(
            keepalived_timing(ka).map(|t| t.period_ns),
            Some(2_000_000_000)
        );
        assert_eq!(keepalived_timing("vrrp_instance VI_1 {}"), None);
    }

    #[test]
    fn the_running_daemons_config_is_found_by_its_command_line_or_cwd() {
        let tmp = std::env::temp_dir().join(format!("hbcl-daemon-conf-{}", std::process::id()));
        let pid = tmp.join("proc/42");
        let work = tmp.join("work");
        std::fs::create_dir_all(&pid).expect("mkdir");
        std::fs::create_dir_all(&work).expect("mkdir");
        std::os::unix::fs::symlink(&work, pid.join("cwd")).expect("cwd link");
        std::fs::write(pid.join("comm"), "haproxy\n").expect("comm");
        std::fs::write(pid.join("cmdline"), b"haproxy\0-db\0-f\0my.cfg\0").expect("cmdline");
        std::fs::write(work.join("my.cfg"), "x").expect("cfg");
        let hap = Process {
            comm: &["haproxy"],
            flags: &["-f"],
            positional: false,
            in_cwd: None,
        };
        let (file, shown) = running_config(&hap, &tmp).expect("found by -f");
        assert_eq!((file, shown.as_str()), (pid.join("cwd/my.cfg"), "my.cfg"));
        // A process title instead of the command line: the file in its working directory.
        std::fs::write(pid.join("comm"), "redis-sentinel\n").expect("comm");
        std::fs::write(pid.join("cmdline"), b"redis-sentinel *:26379 [sentinel]\0").expect("t");
        let rs = Process {
            comm: &["redis-sentinel"],
            flags: &[],
            positional: true,
            in_cwd: Some("sentinel.conf"),
        };
        assert_eq!(running_config(&rs, &tmp), None, "no sentinel.conf yet");
        std::fs::write(work.join("sentinel.conf"), "x").expect("conf");
        let (file, shown) = running_config(&rs, &tmp).expect("found in its cwd");
        assert_eq!(file, pid.join("cwd/sentinel.conf"));
        assert_eq!(shown, work.join("sentinel.conf").to_string_lossy());
        std::fs::remove_dir_all(&tmp).expect("cleanup");
    }
}
