//! `cargo xtask lint`: the crate's layering, checked on its `crate::`/`super::` paths. Each
//! top-level folder of agent/src has a rank; a file may name a file of another folder only when
//! that folder ranks lower, so no import goes up and no import loop crosses folders. Only the
//! command line may name clap. Test code (test modules and files compiled only for tests) is left
//! out: a test may drive the layers above the one it tests.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use anyhow::{Context as _, Result, bail};

/// Bottom first. A folder may import only folders listed before it (docs/architecture.md).
pub const LAYERS: &[&[&str]] = &[
    &["clock", "units"],
    &["recording"],
    &["protocol"],
    &["analysis"],
    &["output"],
    &["collectors"],
    &["probes"],
    &["heartbeat"],
    &["capture"],
    &["demo"],
    &["cli"],
    &["commands"],
    &["lib", "main"],
];

/// Where clap may be named.
const CLAP_FOLDERS: &[&str] = &["cli"];

/// One source file: its module path and the code that counts (comments and test modules cut).
struct File {
    rel: String,
    module: Vec<String>,
    code: String,
}

/// Every broken rule under `src` (the crate's src folder), one line each.
pub fn violations(src: &Path) -> Result<Vec<String>> {
    let mut raw = BTreeMap::new();
    read_tree(src, src, &mut raw)?;
    let test_only = test_only_files(&raw);
    let files: Vec<File> = raw
        .iter()
        .filter(|(rel, _)| !test_only.contains(*rel))
        .map(|(rel, text)| File {
            rel: rel.clone(),
            module: module_of(rel),
            code: code_of(text),
        })
        .collect();
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| (f.module.clone(), f.rel.clone()))
        .collect();
    let rank = |folder: &str| LAYERS.iter().position(|l| l.contains(&folder));
    let mut out = Vec::new();
    for f in &files {
        let from = folder_of(&f.rel);
        let Some(from_rank) = rank(&from) else {
            out.push(format!(
                "{}: folder `{from}` has no layer in xtask/src/layers.rs",
                f.rel
            ));
            continue;
        };
        let mut seen = BTreeSet::new();
        for path in paths_in(&f.code, &f.module) {
            let Some(target) = resolve(&modules, &path) else {
                continue;
            };
            let to = folder_of(target);
            if to == from || !seen.insert(target.clone()) {
                continue;
            }
            match rank(&to) {
                Some(r) if r < from_rank => {}
                _ => out.push(format!(
                    "{}: names {target} (`{}`), but {to}/ is not below {from}/",
                    f.rel,
                    path.join("::")
                )),
            }
        }
        if !CLAP_FOLDERS.contains(&from.as_str()) && names_clap(&f.code) {
            out.push(format!(
                "{}: names clap outside {}",
                f.rel,
                CLAP_FOLDERS.join(", ")
            ));
        }
    }
    Ok(out)
}

/// Runs the check on the workspace; an error lists every violation.
pub fn check(root: &Path) -> Result<()> {
    let src = root.join("agent/src");
    let v = violations(&src)?;
    if !v.is_empty() {
        bail!(
            "{} layering violation(s) in agent/src:\n  {}",
            v.len(),
            v.join("\n  ")
        );
    }
    eprintln!("xtask: agent/src layering holds ({} layers)", LAYERS.len());
    Ok(())
}

fn read_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            read_tree(root, &p, out)?;
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            let text =
                std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            out.insert(rel, text);
        }
    }
    Ok(())
}

/// `analysis/diagnosis/mod.rs` → [analysis, diagnosis]; `lib.rs` → [].
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The top-level folder (or file stem) a file belongs to.
fn folder_of(rel: &str) -> String {
    let first = rel.split('/').next().unwrap_or(rel);
    first.trim_end_matches(".rs").to_owned()
}

/// Files declared under `#[cfg(test)]` (with or without `#[path]`), and what they declare.
fn test_only_files(files: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut test_only = BTreeSet::new();
    let mut changed = true;
    while changed {
        changed = false;
        for (rel, text) in files {
            let parent_test = test_only.contains(rel);
            let dir = module_dir(rel);
            let mut attrs: Vec<String> = Vec::new();
            for line in text.lines().map(str::trim) {
                if line.starts_with("#[") {
                    attrs.push(line.to_owned());
                    continue;
                }
                let decl = line
                    .strip_prefix("pub mod ")
                    .or_else(|| line.strip_prefix("pub(crate) mod "))
                    .or_else(|| line.strip_prefix("mod "))
                    .and_then(|r| r.strip_suffix(';'));
                if let Some(name) = decl {
                    let is_test = parent_test || attrs.iter().any(|a| a.contains("cfg(test)"));
                    let explicit = attrs.iter().find_map(|a| {
                        let v = a.strip_prefix("#[path = \"")?.strip_suffix("\"]")?;
                        Some(v.to_owned())
                    });
                    if is_test {
                        let candidates = match explicit {
                            // A #[path] is relative to the declaring file's folder.
                            Some(p) => vec![join(&file_dir(rel), &p)],
                            None => vec![
                                join(&dir, &format!("{name}.rs")),
                                join(&dir, &format!("{name}/mod.rs")),
                            ],
                        };
                        for c in candidates {
                            if files.contains_key(&c) && test_only.insert(c) {
                                changed = true;
                            }
                        }
                    }
                }
                attrs.clear();
            }
        }
    }
    test_only
}

/// The folder a file's child modules live in: `a/b.rs` → `a/b`, `a/mod.rs` → `a`.
fn module_dir(rel: &str) -> String {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if matches!(name, "mod.rs" | "lib.rs" | "main.rs") {
        file_dir(rel)
    } else {
        rel.trim_end_matches(".rs").to_owned()
    }
}

fn file_dir(rel: &str) -> String {
    rel.rsplit_once('/')
        .map_or_else(String::new, |(d, _)| d.to_owned())
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// The text without line comments and without the inline test module (by convention the last
/// item of a file).
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|n| n.trim_start().starts_with("mod ") && n.trim_end().ends_with('{'))
        {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every module path the code names through `crate::` or `super::`, as absolute segments.
fn paths_in(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // `use` declarations, with their brace groups expanded.
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        rest = &rest[i + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = rest.find(';') else { break };
        // `a as b` keeps only `a`; then whitespace goes.
        let words: Vec<&str> = rest[..end].split_whitespace().collect();
        let tree: String = words.join(" ").replace(" as ", "@").replace(' ', "");
        for p in expand(&tree) {
            if let Some(abs) = absolute(&p, module) {
                out.push(abs);
            }
        }
    }
    // Paths written in place (`crate::clock::mono_ns()`).
    for (i, _) in code.match_indices("crate::") {
        if code[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        {
            continue;
        }
        // Segments while each is a whole identifier; the first one followed by anything else
        // (`mono_ns()`) ends the path.
        let mut p = Vec::new();
        for seg in code[i..].split("::") {
            let ident: String = seg
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let whole = ident.len() == seg.len();
            if !ident.is_empty() {
                p.push(ident);
            }
            if !whole || p.is_empty() {
                break;
            }
        }
        if let Some(abs) = absolute(&p, module) {
            out.push(abs);
        }
    }
    out
}

/// `crate::{a::{b, c}, d}` → [crate, a, b], [crate, a, c], [crate, d].
fn expand(tree: &str) -> Vec<Vec<String>> {
    let Some(open) = tree.find('{') else {
        let p: Vec<String> = tree
            .split("::")
            .map(|s| s.split('@').next().unwrap_or(s).to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        return vec![p];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = tree[open + 1..]
        .strip_suffix('}')
        .unwrap_or(&tree[open + 1..]);
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    let mut out = Vec::new();
    for item in items.into_iter().filter(|s| !s.is_empty()) {
        for mut p in expand(item) {
            if p.first().is_some_and(|s| s == "self") {
                p.remove(0);
            }
            let mut full: Vec<String> = prefix
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            full.extend(p);
            out.push(full);
        }
    }
    out
}

/// A path from a `use` or in place, made absolute; `None` when it is not the crate's.
fn absolute(p: &[String], module: &[String]) -> Option<Vec<String>> {
    match p.first()?.as_str() {
        "crate" => Some(p[1..].to_vec()),
        "super" => {
            // In `a/b.rs` (module a::b) super is a; in `a/mod.rs` (module a) super is a's parent.
            let mut base = module.to_vec();
            let mut rest = p;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            Some(base)
        }
        _ => None,
    }
}

/// The file of the longest module prefix of `path`.
fn resolve<'a>(modules: &'a BTreeMap<Vec<String>, String>, path: &[String]) -> Option<&'a String> {
    (1..=path.len()).rev().find_map(|n| modules.get(&path[..n]))
}

fn names_clap(code: &str) -> bool {
    code.match_indices("clap").any(|(i, _)| {
        let before = code[..i].chars().last();
        let after = &code[i + 4..];
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && (after.starts_with("::")
                || after.starts_with("_complete")
                || after.starts_with("_mangen"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempdir::Dir {
        tempdir::Dir::with(files)
    }

    /// A throwaway source tree.
    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn with(files: &[(&str, &str)]) -> Dir {
                let d = std::env::temp_dir().join(format!(
                    "xtask-layers-{}-{:?}",
                    std::process::id(),
                    std::thread::current().id()
                ));
                let _ = std::fs::remove_dir_all(&d);
                for (rel, text) in files {
                    let p = d.join(rel);
                    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                    std::fs::write(p, text).expect("write");
                }
                Dir(d)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn the_crate_keeps_its_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/src");
        let v = violations(&src).expect("read agent/src");
        assert!(v.is_empty(), "layering violations:\n{}", v.join("\n"));
    }

    #[test]
    fn an_import_upward_or_across_is_named() {
        let t = tree(&[
            (
                "lib.rs",
                "pub mod analysis;\npub mod output;\npub mod units;\n",
            ),
            ("units.rs", "pub fn ns() {}\n"),
            (
                "analysis/mod.rs",
                "//! a\npub mod gaps;\n// crate::output::x in a comment does not count\n",
            ),
            (
                "analysis/gaps.rs",
                "use crate::{units::ns, output::report::{self, text}};\nfn f() { crate::units::ns(); }\n#[cfg(test)]\nmod tests {\n    use crate::output::report;\n}\n",
            ),
            ("output/mod.rs", "pub mod report;\n"),
            (
                "output/report.rs",
                "use super::super::analysis::gaps;\nfn g() { clap::Command::new(\"x\"); }\n",
            ),
        ]);
        let v = violations(&tree_path(&t)).expect("check");
        assert_eq!(v.len(), 2, "{v:#?}");
        assert!(
            v[0].starts_with("analysis/gaps.rs: names output/report.rs"),
            "{}",
            v[0]
        );
        assert!(v[1].contains("output/report.rs: names clap"), "{}", v[1]);
    }

    #[test]
    fn files_compiled_only_for_tests_are_left_out() {
        let t = tree(&[
            ("lib.rs", "pub mod analysis;\npub mod output;\n"),
            (
                "analysis/mod.rs",
                "#[cfg(test)]\n#[path = \"x_tests.rs\"]\nmod tests;\n#[cfg(test)]\nmod fixtures;\n",
            ),
            ("analysis/x_tests.rs", "use crate::output::y;\n"),
            ("analysis/fixtures.rs", "use crate::output::y;\n"),
            ("output/mod.rs", "pub mod y;\n"),
            ("output/y.rs", "use crate::analysis;\n"),
        ]);
        let v = violations(&tree_path(&t)).expect("check");
        assert!(v.is_empty(), "{v:#?}");
    }

    #[test]
    fn a_folder_without_a_layer_is_named() {
        let t = tree(&[("lib.rs", "pub mod newthing;\n"), ("newthing.rs", "")]);
        let v = violations(&tree_path(&t)).expect("check");
        assert_eq!(v.len(), 1, "{v:#?}");
        assert!(v[0].contains("has no layer"), "{}", v[0]);
    }

    fn tree_path(t: &tempdir::Dir) -> std::path::PathBuf {
        t.0.clone()
    }
}
