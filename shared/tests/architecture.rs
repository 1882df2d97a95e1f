//! The layers' rules, checked on the source: what each layer may import, and no import circles
//! between the library's modules. `ARCHITECTURE.md` states the rules; this keeps them true.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, with its module path (`application::processor`).
fn sources() -> Vec<(String, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(&src).unwrap().with_extension("");
            let parts: Vec<_> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .filter(|p| p != "mod" && p != "lib")
                .collect();
            (parts.join("::"), path)
        })
        .collect()
}

/// The code of a file without comments and without its test modules and test files: the
/// rules are about what ships.
fn shipped_code(module: &str, path: &Path) -> String {
    if module.ends_with("tests") || module.ends_with("memory") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap();
    let code = match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => &text,
    };
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The library modules a piece of code names (`crate::a::b` → `a::b`, two levels deep).
fn referenced_modules(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let path: Vec<&str> = rest
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .next()
            .unwrap_or("")
            .split("::")
            .filter(|p| !p.is_empty() && p.chars().next().is_some_and(|c| c.is_lowercase()))
            .take(2)
            .collect();
        if !path.is_empty() {
            found.insert(path.join("::"));
        }
    }
    found
}

fn layer(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

#[test]
fn each_layer_imports_only_what_its_rules_allow() {
    let forbidden: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        (
            "domain",
            vec![
                "crate::application",
                "crate::adapters",
                "crate::composition",
                "aws_sdk_",
                "aws_config",
                "lambda_",
                "tokio::",
                "crate::metrics",
                "crate::telemetry",
            ],
        ),
        (
            "application",
            vec![
                "crate::adapters",
                "crate::composition",
                "aws_sdk_",
                "aws_config",
                "lambda_runtime",
                "lambda_http",
                "axum",
                "reqwest",
            ],
        ),
        ("adapters", vec!["crate::composition"]),
    ]);
    let mut broken = Vec::new();
    for (module, path) in sources() {
        let code = shipped_code(&module, &path);
        for needle in forbidden.get(layer(&module)).into_iter().flatten() {
            if code.contains(needle) {
                broken.push(format!("{module} uses {needle}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_import_circles_between_modules() {
    // Edges between modules two levels deep (application::processor → domain::lifecycle).
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, path) in sources() {
        let from: String = module.split("::").take(2).collect::<Vec<_>>().join("::");
        for to in referenced_modules(&shipped_code(&module, &path)) {
            if to != from
                && !from.starts_with(&format!("{to}::"))
                && !to.starts_with(&format!("{from}::"))
            {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut circle = stack[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(circle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            panic!("import circle: {}", circle.join(" → "));
        }
    }
    assert!(edges.len() > 10, "found the module graph: {edges:?}");
}

#[test]
fn the_library_names_no_job_type() {
    let mut named = Vec::new();
    for (module, path) in sources() {
        let code = shipped_code(&module, &path);
        for job_type in [
            "\"echo\"",
            "\"sha256\"",
            "\"sleep\"",
            "\"flaky\"",
            "\"ledger\"",
            "examples::",
        ] {
            if code.contains(job_type) {
                named.push(format!("{module} names {job_type}"));
            }
        }
    }
    assert!(named.is_empty(), "{}", named.join("\n"));
}

/// Every failpoint in the code is in `ARCHITECTURE.md`'s table and armed by an end-to-end test.
#[test]
fn every_failpoint_is_mapped_and_armed_by_a_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let tests = std::fs::read_to_string(root.join("tests/tests/crash_safety.rs")).unwrap();
    let mut points = BTreeSet::new();
    for (_, path) in sources() {
        let code = std::fs::read_to_string(&path).unwrap();
        for marker in ["crash_point!(\"", "error_point!(\""] {
            for (at, _) in code.match_indices(marker) {
                let rest = &code[at + marker.len()..];
                points.insert(rest[..rest.find('"').unwrap()].to_owned());
            }
        }
    }
    assert!(points.len() >= 8, "found the points: {points:?}");
    let missing: Vec<String> = points
        .iter()
        .filter(|point| !map.contains(&format!("`{point}`")) || !tests.contains(point.as_str()))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "not in ARCHITECTURE.md's table or not armed in crash_safety.rs: {missing:?}"
    );
}

/// How the table keys its items (`JOB#<id>`, `MSG#<id>`, `CONN#<id>`, …) is the AWS adapters'
/// business: everything else names work by `WorkId` and `JobId`.
#[test]
fn storage_keys_are_spelled_only_in_the_aws_adapters() {
    let mut offenders = Vec::new();
    for (module, path) in sources() {
        if module.starts_with("adapters::aws") {
            continue;
        }
        let code = shipped_code(&module, &path);
        for prefix in ["JOB#", "MSG#", "CONN#", "ENDPOINT#", "IDEMPOTENCY#"] {
            if code.contains(&format!("\"{prefix}")) {
                offenders.push(format!("{module}: {prefix}"));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:?}");
}
