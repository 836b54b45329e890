//! No crate's modules import each other in circles: the node runtime's
//! actors reach each other through the ports in `messages` (issue 24), and
//! the other crates are layered file by file; this keeps it so. Each
//! file's `crate::…` paths are resolved to the module file that defines
//! them (the longest prefix that is a module), and each crate's graph of
//! files must have no cycle; a failure names one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`["chain", "mempool"]`) → file, for every module file.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src");
            let mut segs: Vec<String> = rel
                .iter()
                .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if matches!(segs.last().map(String::as_str), Some("mod" | "lib")) {
                segs.pop();
            }
            out.insert(segs, path);
        }
    }
    out
}

/// The `crate::a::b::c` paths a file names (up to a brace, a glob or an
/// item), as segment lists.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let mut segs = Vec::new();
        let mut s = rest;
        loop {
            let len = s
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(s.len());
            if len == 0 {
                break;
            }
            segs.push(s[..len].to_string());
            match s[len..].strip_prefix("::") {
                Some(next) => s = next,
                None => break,
            }
        }
        out.push(segs);
    }
    out
}

/// A cycle of files, if the graph has one.
fn find_cycle(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Option<Vec<PathBuf>> {
    fn visit(
        node: &PathBuf,
        graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        done: &mut BTreeSet<PathBuf>,
        stack: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, done, stack) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut done, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

fn import_graph(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let modules = modules(src);
    let mut graph: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for file in modules.values() {
        // Test modules beside the code import their parent: not a tie.
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("a source file");
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let edges = graph.entry(file.clone()).or_default();
        for path in crate_paths(text) {
            let target = (0..=path.len())
                .rev()
                .find_map(|n| modules.get(&path[..n]))
                .expect("the crate root is a module");
            if target != file && !target.ends_with("lib.rs") {
                edges.insert(target.clone());
            }
        }
    }
    graph
}

#[test]
fn no_crate_has_an_import_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for krate in ["crypto/src", "chains/src", "net/src", "actors/src"] {
        let src = root.join(krate);
        let graph = import_graph(&src);
        assert!(graph.len() > 5, "{krate}: read {} files", graph.len());
        if let Some(cycle) = find_cycle(&graph) {
            let names: Vec<String> = cycle
                .iter()
                .map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string())
                .collect();
            panic!("an import circle: {}", names.join(" -> "));
        }
    }
}

#[test]
fn the_check_finds_a_circle_when_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("room")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod room;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::room::b::Thing;\n").unwrap();
    std::fs::write(src.join("room/mod.rs"), "pub mod b;\n").unwrap();
    std::fs::write(src.join("room/b.rs"), "use crate::a::{Other};\n").unwrap();
    let cycle = find_cycle(&import_graph(src)).expect("a circle");
    assert_eq!(cycle.len(), 3, "{cycle:?}");
    std::fs::write(src.join("room/b.rs"), "use crate::room::Other;\n").unwrap();
    assert_eq!(find_cycle(&import_graph(src)), None);
}
