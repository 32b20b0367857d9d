//! The runtime's top-level modules depend on each other one way: framing
//! under protocols, protocols under pub/sub and history, pub/sub under
//! presence and the hub, the hub under sockets, sockets under the router and
//! the app. This test reads `use crate::...` and `crate::...` paths in
//! `src/` (tests and comments left out) and fails on any cycle between
//! top-level modules, naming a line for each step of it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module → module it names → one place it does (`file:line`).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

#[test]
fn no_module_depends_on_a_module_that_depends_on_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    assert!(graph.len() > 10, "the graph was not read: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|pair| format!("  {} -> {} ({})", pair[0], pair[1], graph[&pair[0]][&pair[1]]))
            .collect();
        panic!("the runtime's modules depend on each other in a circle:\n{}", steps.join("\n"));
    }
}

#[test]
fn a_cycle_is_found_and_named() {
    let mut graph = Graph::new();
    let mut edge = |from: &str, to: &str| {
        graph.entry(from.into()).or_default().insert(to.into(), format!("{from}.rs:1"));
    };
    edge("hub", "pubsub");
    edge("pubsub", "history");
    edge("history", "hub");
    edge("app", "hub");
    let cycle = find_cycle(&graph).expect("hub -> pubsub -> history -> hub");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4, "{cycle:?}");
    graph.get_mut("history").unwrap().clear();
    assert_eq!(find_cycle(&graph), None);
}

fn graph(src: &Path) -> Graph {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let reexports = reexports(&lib);
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if name != "lib" {
            modules.insert(name);
        }
    }
    let mut graph = Graph::new();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).unwrap();
        let module = relative.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "lib" || file.file_name().is_some_and(|name| name == "tests.rs") {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        for (number, line) in code_lines(&source) {
            for named in crate_paths(line) {
                let target = reexports.get(&named).cloned().unwrap_or(named);
                if target != module && modules.contains(&target) {
                    let place = format!("{}:{number}", relative.display());
                    graph.entry(module.clone()).or_default().entry(target).or_insert(place);
                }
            }
        }
    }
    graph
}

/// `pub use hub::Hub;` in lib.rs: `Hub` → `hub`.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in lib.lines().map(str::trim) {
        let Some(path) = line.strip_prefix("pub use ").and_then(|rest| rest.strip_suffix(';')) else {
            continue;
        };
        let Some((module, items)) = path.split_once("::") else { continue };
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            let item = item.trim().rsplit("::").next().unwrap_or_default();
            if !item.is_empty() {
                names.insert(item.to_string(), module.to_string());
            }
        }
    }
    names
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The lines of code (1-based numbers), comments cut, a file's unit tests
/// (from `#[cfg(test)]` before `mod tests`) left out.
fn code_lines(source: &str) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut code = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed == "#[cfg(test)]" && lines.get(index + 1).is_some_and(|next| next.trim() == "mod tests {")
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let code_part = match line.find(" //") {
            Some(at) => &line[..at],
            None => line,
        };
        code.push((index + 1, code_part));
    }
    code
}

/// The first segment after each `crate::` in `line`, and each name in a
/// `crate::{a, b::c}` group.
fn crate_paths(line: &str) -> Vec<String> {
    let mut named = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let first = item.trim().split("::").next().unwrap_or_default();
                named.push(first.trim().to_string());
            }
        } else {
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
            named.push(rest[..end].to_string());
        }
    }
    named.retain(|name| !name.is_empty());
    named
}

/// A cycle, as the modules along it (the first repeated at the end), if any.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        module: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut cycle = path[at..].to_vec();
            cycle.push(module.to_string());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_string());
        for next in graph.get(module).into_iter().flat_map(|targets| targets.keys()) {
            if let Some(cycle) = visit(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|module| visit(graph, module, &mut Vec::new(), &mut done))
}
