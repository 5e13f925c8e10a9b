//! The crate's top-level modules depend on each other in one direction only.
//!
//! A module is a file `src/NAME.rs` with its directory `src/NAME/` (so `backend::acr` counts as
//! `backend`). A module depends on another when its code, tests included, names it through
//! `crate::` (or `super::` at the top level). An import cycle means neither module can be read,
//! tested or moved without the other, which is how the router and ACR, and the parser and
//! validate-config, once ended up knotted; this test keeps the graph a hierarchy. It reads the
//! sources as text: comments and string literals are skipped, nothing is compiled.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Module → the modules it names, each with the files that name it.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

#[test]
fn top_level_modules_form_no_import_cycle() {
    let src = support::repo_path("src");
    let graph = module_graph(&src);
    // The scanner sees the edges everyone knows of, so an empty graph cannot pass as "no cycle".
    for (from, to) in [
        ("serve", "dispatch"),
        ("backend", "settings"),
        ("validate", "cli"),
    ] {
        assert!(
            graph.get(from).is_some_and(|t| t.contains_key(to)),
            "the scan missed {from} -> {to}: {graph:?}"
        );
    }
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|pair| {
                let files = &graph[&pair[0]][&pair[1]];
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                format!("{} -> {} ({})", pair[0], pair[1], files.join(", "))
            })
            .collect();
        panic!("import cycle:\n  {}", steps.join("\n  "));
    }
}

#[test]
fn the_scanner_reads_paths_groups_and_skips_comments_and_strings() {
    let text = r##"
        use crate::alpha::x;
        use crate::{beta, gamma::{y, z}};
        // crate::commented
        /* crate::blocked */
        let s = "crate::quoted";
        let r = r#"crate::raw"#;
        let c = '"'; crate::delta::call();
        fn f<'a>(x: &'a str) { super::epsilon::g() }
    "##;
    let names = referenced_modules(text, true);
    assert_eq!(
        names,
        ["alpha", "beta", "gamma", "delta", "epsilon"].map(String::from)
    );
    assert_eq!(referenced_modules(text, false).len(), 4);
}

#[test]
fn a_cycle_is_found_and_a_hierarchy_is_not() {
    fn edge(graph: &mut Graph, a: &str, b: &str) {
        let files = graph.entry(a.into()).or_default().entry(b.into());
        files.or_default().insert(format!("{a}.rs"));
    }
    let mut graph = Graph::new();
    edge(&mut graph, "app", "cli");
    edge(&mut graph, "cli", "settings");
    edge(&mut graph, "app", "settings");
    assert_eq!(find_cycle(&graph), None);
    edge(&mut graph, "settings", "app");
    let cycle = find_cycle(&graph).expect("a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert!(cycle.len() >= 3, "{cycle:?}");
}

/// The dependency graph of the modules under `src`.
fn module_graph(src: &Path) -> Graph {
    let mut modules = BTreeSet::new();
    for entry in fs::read_dir(src).expect("src/") {
        let path = entry.expect("src/ entry").path();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            modules.insert(name.to_string());
        }
    }
    modules.remove("lib");
    modules.remove("main");
    let mut graph = Graph::new();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).expect("under src/");
        let parts: Vec<&str> = relative.iter().filter_map(|p| p.to_str()).collect();
        let module = parts[0].trim_end_matches(".rs").to_string();
        if !modules.contains(&module) {
            continue;
        }
        // `super::` leaves the module only from its top file.
        let top_file = parts.len() == 1 || (parts.len() == 2 && parts[1] == "mod.rs");
        let text = fs::read_to_string(&file).expect("read a source file");
        let targets = graph.entry(module.clone()).or_default();
        for name in referenced_modules(&text, top_file) {
            if name != module && modules.contains(&name) {
                let files = targets.entry(name).or_default();
                files.insert(relative.display().to_string());
            }
        }
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The first path segment after every `crate::` (and, with `with_super`, every leading
/// `super::`) in code, in order, without repeats; `crate::{a, b::c}` gives `a` and `b`.
fn referenced_modules(text: &str, with_super: bool) -> Vec<String> {
    let code = strip_comments_and_strings(text);
    let mut names: Vec<String> = Vec::new();
    let mut prefixes = vec!["crate::"];
    if with_super {
        prefixes.push("super::");
    }
    for prefix in prefixes {
        let mut from = 0;
        while let Some(found) = code[from..].find(prefix) {
            let at = from + found;
            from = at + prefix.len();
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for name in first_segments(&code[from..]) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// `name…` → [name]; `{a, b::c, d::{e}}` → [a, b, d].
fn first_segments(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = rest.strip_prefix('{') else {
        return vec![ident(rest)]
            .into_iter()
            .filter(|n| !n.is_empty())
            .collect();
    };
    let mut out = Vec::new();
    let mut depth = 0;
    let mut item_start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                out.push(ident(&group[item_start..i]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(ident(&group[item_start..i]));
                item_start = i + 1;
            }
            _ => {}
        }
    }
    out.retain(|n| !n.is_empty() && n != "self");
    out
}

/// The code with comments, string literals and char literals blanked out (a rough lexer: it
/// only has to keep `crate::` in prose out of the graph).
fn strip_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let starts = |i: usize, s: &str| {
        s.chars()
            .enumerate()
            .all(|(k, c)| chars.get(i + k) == Some(&c))
    };
    while i < chars.len() {
        if starts(i, "//") {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if starts(i, "/*") {
            let mut depth = 0;
            while i < chars.len() {
                if starts(i, "/*") {
                    depth += 1;
                    i += 2;
                } else if starts(i, "*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if chars[i] == 'r' && (starts(i + 1, "\"") || starts(i + 1, "#")) {
            // r"…", r#"…"#, r##"…"##
            let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            i += 2 + hashes;
            while i < chars.len() && !starts(i, &close) {
                i += 1;
            }
            i += close.chars().count();
            out.push_str("\"\"");
        } else if chars[i] == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if chars[i] == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3; // 'x'
        } else if chars[i] == '\'' && chars.get(i + 1) == Some(&'\\') {
            // '\n', '\'', '\u{1F600}'
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// A cycle as a path `[a, b, …, a]`, if the graph has one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = path.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_string(), Mark::Open);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|t| t.keys()) {
            if let Some(cycle) = visit(next, graph, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}
