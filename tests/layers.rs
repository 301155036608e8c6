//! The layer map of `src/lib.rs` (and `../shared/ARCHITECTURE.md`), checked: every `crate::`
//! path in the library's non-test code names a module on its own layer or below. Test code
//! (files named `tests.rs` or `*_tests.rs`, and everything after a file's `#[cfg(test)]`) may
//! reach up for a runtime or a parser; the invariant checkers are test support too. It also
//! holds the size rule: no source file past ~600 lines.

use std::path::{Path, PathBuf};

/// The layers from the bottom up, as `lib.rs` lists them. A module may import from its own
/// layer and the layers before it.
const LAYERS: &[&[&str]] = &[
    &["clock", "units", "error", "sys"],
    &["proto"],
    &["audio"],
    &["engine/profile"],
    &["stats"],
    &["preflight"],
    &["thresholds"],
    &["plan"],
    &["config"],
    &["engine/pacer", "engine/timer"],
    &["net"],
    &["scenario"],
    &["engine"],
    &["server"],
    &["monitor"],
    &["live"],
    &["report"],
    &["cli"],
    &["config/build"],
    &["cmd"],
];

/// The layer of a module path (`engine/pacer`, `stats`, ...): the longest listed prefix.
fn layer(path: &[&str]) -> Option<usize> {
    for take in [2, 1] {
        if path.len() < take {
            continue;
        }
        let key = path[..take].join("/");
        if let Some(i) = LAYERS.iter().position(|l| l.contains(&key.as_str())) {
            return Some(i);
        }
    }
    None
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The `crate::a::b` paths of a source text, with their line numbers.
fn crate_paths(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let segs: Vec<String> = rest
                .split("::")
                .take(2)
                .map(|s| s.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect::<String>())
                .take_while(|s| !s.is_empty())
                .collect();
            if !segs.is_empty() {
                found.push((n + 1, segs));
            }
        }
    }
    found
}

#[test]
fn imports_go_down_the_layer_map_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut upward = Vec::new();
    let mut unmapped = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap().with_extension("");
        let name = rel.file_name().unwrap().to_string_lossy().into_owned();
        let segs: Vec<&str> = rel.iter().map(|s| s.to_str().unwrap()).collect();
        if matches!(segs[0], "lib" | "main" | "invariants") || name == "tests" || name.ends_with("_tests") {
            continue;
        }
        let Some(own) = layer(&segs) else {
            unmapped.push(rel.display().to_string());
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (line, path) in crate_paths(code) {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            if path.first() == Some(&"invariants") {
                continue;
            }
            match layer(&path) {
                Some(to) if to > own => upward.push(format!("src/{}.rs:{line}: {} -> {}", rel.display(), LAYERS[own][0], path.join("::"))),
                Some(_) => {}
                None => unmapped.push(format!("src/{}.rs:{line}: crate::{}", rel.display(), path.join("::"))),
            }
        }
    }
    assert!(unmapped.is_empty(), "modules missing from the layer map (add them to lib.rs and LAYERS):\n{}", unmapped.join("\n"));
    assert!(upward.is_empty(), "imports that go up the layer map:\n{}", upward.join("\n"));
}

#[test]
fn the_checker_sees_an_upward_import() {
    let paths = crate_paths("use crate::cmd::run;\nfn f() { crate::stats::ErrorClass::Other; }");
    assert_eq!(paths, vec![(1, vec!["cmd".to_string(), "run".to_string()]), (2, vec!["stats".to_string()])]);
    assert!(layer(&["cmd", "run"]) > layer(&["net"]));
    assert_eq!(layer(&["engine", "pacer"]), Some(9));
    assert_eq!(layer(&["engine", "mod"]), layer(&["engine"]));
}

/// ARCHITECTURE.md's size rule: a file past ~600 lines splits by concept (650 leaves the "~").
#[test]
fn no_source_file_outgrows_one_concept() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 650).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by concept:\n{}", long.join("\n"));
}
