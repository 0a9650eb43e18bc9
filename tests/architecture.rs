//! The architecture holds: no two modules of a crate import each other, directly or through
//! others, and the crates depend on each other in one direction only.
//!
//! Every `use crate::…`, `use super::…` and inline `crate::…` path of a crate's sources (tests
//! and comments left out) is resolved to the module file that defines it; an import of a module
//! by another is an edge. The test fails on any cycle, at two levels: between module files
//! (`run::folder` → `run::history` → `run::folder`), and between the top-level modules of a
//! crate (`run` ↔ `tasks`). `cargo test --release --test architecture -- --nocapture` prints the
//! graph it checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates of the workspace and their source folders.
const CRATES: &[(&str, &str)] = &[
    ("zoo-kernels", "kernels/src"),
    ("zoo-model-core", "models/core/src"),
    ("zoo-mlp", "models/mlp/src"),
    ("zoo-cnn", "models/cnn/src"),
    ("zoo-lstm", "models/lstm/src"),
    ("zoo-gan", "models/gan/src"),
    ("zoo-datasets", "datasets/src"),
    ("zoo-train", "train/src"),
    ("zoo-experiments", "experiments/src"),
    ("zoo-interop", "interop/src"),
    ("burn-zoo", "src"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The module path of a source file: `run/folder.rs` -> `run::folder`, `run/mod.rs` -> `run`,
/// `lib.rs` / `main.rs` -> `` (the crate root).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("inside the source folder");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its unit tests and comments.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(path: &str) -> Vec<String> {
    let path: String = path.split_whitespace().collect();
    let Some(open) = path.find('{') else {
        return vec![path];
    };
    let prefix = &path[..open];
    let inner = &path[open + 1..path.rfind('}').unwrap_or(path.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// The `use` statements of a file's code, expanded: `(path, name it is known by, public)`.
fn uses(code: &str) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for statement in code.split(';') {
        let statement = statement.trim();
        let (body, public) = if let Some(b) = statement.strip_prefix("pub use ") {
            (b, true)
        } else if let Some(b) = statement.strip_prefix("pub(crate) use ") {
            (b, true)
        } else if let Some(b) = statement.strip_prefix("use ") {
            (b, false)
        } else {
            continue;
        };
        for path in expand(body) {
            let (path, name) = match path.split_once(" as ") {
                Some((p, alias)) => (p.to_string(), alias.to_string()),
                None => {
                    let name = path.rsplit("::").next().unwrap_or("").to_string();
                    (path.clone(), name)
                }
            };
            out.push((path, name, public));
        }
    }
    out
}

/// Every path a file's code names: its `use` paths and inline `crate::a::b` paths.
fn paths(code: &str) -> Vec<String> {
    let mut out: Vec<String> = uses(code).into_iter().map(|(p, _, _)| p).collect();
    let bytes = code.as_bytes();
    for start in code.match_indices("crate::").map(|(i, _)| i) {
        let before = start.checked_sub(1).map(|i| bytes[i] as char);
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let end = code[start..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(code.len(), |e| start + e);
        let path = code[start..end].trim_end_matches(':');
        // `crate::{a, b}` is a `use` statement, expanded above.
        if path != "crate" {
            out.push(path.to_string());
        }
    }
    out
}

/// What the modules of a crate are, and what each re-exports (`pub use`): module -> name ->
/// the path it stands for.
struct Crate {
    modules: BTreeSet<String>,
    reexports: BTreeMap<String, BTreeMap<String, String>>,
}

impl Crate {
    /// The module that defines what `path` (as written in module `from`) names: the longest
    /// module prefix, followed through re-exports to the module that defines the item.
    fn resolve(&self, path: &str, from: &str) -> Option<String> {
        self.resolve_depth(path, from, 0)
    }

    fn resolve_depth(&self, path: &str, from: &str, depth: usize) -> Option<String> {
        if depth > 8 {
            return None;
        }
        let mut rest: Vec<&str> = path.split("::").collect();
        let mut segments: Vec<String> = Vec::new();
        match rest.first().copied() {
            Some("crate") => {
                rest.remove(0);
            }
            Some("super") | Some("self") => {
                segments = from
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                while let Some(step) = rest.first().copied() {
                    match step {
                        "super" => {
                            segments.pop();
                        }
                        "self" => {}
                        _ => break,
                    }
                    rest.remove(0);
                }
            }
            Some(first) => {
                // A path relative to `from`: a child module of it (2018 edition paths).
                let child = join(from, first);
                if !self.modules.contains(&child) {
                    return None; // another crate, or std
                }
                segments = from
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            None => return None,
        }
        let mut best = segments.join("::");
        let mut consumed = 0;
        for (i, segment) in rest.iter().enumerate() {
            segments.push(segment.to_string());
            let candidate = segments.join("::");
            if self.modules.contains(&candidate) {
                best = candidate;
                consumed = i + 1;
            }
        }
        if !self.modules.contains(&best) {
            return None;
        }
        // `crate::Item` where the root re-exports `Item` from a module: follow it.
        if let Some(item) = rest.get(consumed) {
            if let Some(target) = self.reexports.get(&best).and_then(|r| r.get(*item)) {
                // `None`: re-exported from another crate, so no edge inside this one.
                return self.resolve_depth(target, &best, depth + 1);
            }
        }
        Some(best)
    }
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}::{child}")
    }
}

/// The strongly connected components of more than one node (Tarjan), each sorted.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.out
}

/// The module graph of one crate: module -> the modules it imports.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("a readable source file");
            (module_of(src, f), code(&text))
        })
        .collect();
    let krate = Crate {
        modules: sources.iter().map(|(m, _)| m.clone()).collect(),
        reexports: sources
            .iter()
            .map(|(m, code)| {
                let public = uses(code)
                    .into_iter()
                    .filter(|(_, _, public)| *public)
                    .map(|(path, name, _)| (name, path))
                    .collect();
                (m.clone(), public)
            })
            .collect(),
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = krate
        .modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for (module, code) in &sources {
        for path in paths(code) {
            if let Some(target) = krate.resolve(&path, module) {
                if &target != module {
                    edges.get_mut(module).expect("a module").insert(target);
                }
            }
        }
    }
    edges
}

/// The same graph between top-level modules (`run::folder` counts as `run`; the crate root is
/// `crate`).
fn top_level(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| match m.split("::").next() {
        Some("") | None => "crate".to_string(),
        Some(first) => first.to_string(),
    };
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in edges {
        let entry = out.entry(top(from)).or_default();
        for to in targets {
            if top(to) != top(from) {
                entry.insert(top(to));
            }
        }
    }
    out
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let mut failures = Vec::new();
    for (name, src) in CRATES {
        let files = module_graph(&root().join(src));
        let tops = top_level(&files);
        println!("{name}:");
        for (from, to) in &tops {
            let to: Vec<&str> = to.iter().map(String::as_str).collect();
            println!("  {from} -> {}", to.join(", "));
        }
        for cycle in cycles(&files) {
            failures.push(format!("{name}: module files {}", cycle.join(" <-> ")));
        }
        for cycle in cycles(&tops) {
            failures.push(format!("{name}: top-level modules {}", cycle.join(" <-> ")));
        }
    }
    assert!(
        failures.is_empty(),
        "import cycles:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_checker_finds_a_cycle_through_a_third_module() {
    let edge = |a: &str, b: &[&str]| (a.to_string(), b.iter().map(|s| s.to_string()).collect());
    let graph: BTreeMap<String, BTreeSet<String>> = [
        edge("a", &["b"]),
        edge("b", &["c"]),
        edge("c", &["a"]),
        edge("d", &["a"]),
    ]
    .into_iter()
    .collect();
    assert_eq!(cycles(&graph), vec![vec!["a", "b", "c"]]);
    let modules = [
        "",
        "recipe",
        "run",
        "run::folder",
        "tasks",
        "tasks::gan",
        "tasks::gan::grid",
    ];
    let krate = Crate {
        modules: modules.iter().map(|s| s.to_string()).collect(),
        reexports: [(
            String::new(),
            [("Recipe".to_string(), "recipe::Recipe".to_string())]
                .into_iter()
                .collect(),
        )]
        .into_iter()
        .collect(),
    };
    assert_eq!(
        krate
            .resolve("super::grid::grid_png", "tasks::gan::train")
            .as_deref(),
        Some("tasks::gan::grid")
    );
    assert_eq!(
        krate
            .resolve("crate::run::folder::RunFolder", "tasks::gan")
            .as_deref(),
        Some("run::folder")
    );
    assert_eq!(
        krate.resolve("crate::Recipe", "run").as_deref(),
        Some("recipe")
    );
    assert_eq!(krate.resolve("crate::train", "run").as_deref(), Some(""));
    assert_eq!(
        krate.resolve("run::folder::X", "").as_deref(),
        Some("run::folder")
    );
    assert_eq!(krate.resolve("zoo_datasets::x", "run"), None);
    assert_eq!(
        expand("crate::{a::b, c::{d, e}}"),
        vec!["crate::a::b", "crate::c::d", "crate::c::e"]
    );
}

/// The crates' own dependencies point one way: models depend on kernels, the shared model
/// core (and burn) only; no
/// library crate depends on the experiments or on the CLI package.
#[test]
fn crate_dependencies_point_one_way() {
    let manifest = |dir: &str| {
        std::fs::read_to_string(root().join(dir).join("Cargo.toml")).expect("a Cargo.toml")
    };
    let deps = |dir: &str| -> Vec<String> {
        let text = manifest(dir);
        let deps = text
            .split("[dependencies]")
            .nth(1)
            .unwrap_or("")
            .split("\n[")
            .next()
            .unwrap_or("")
            .to_string();
        deps.lines()
            .filter_map(|l| l.split(['.', ' ', '=']).next())
            .filter(|n| n.starts_with("zoo-"))
            .map(str::to_string)
            .collect()
    };
    assert!(deps("kernels").is_empty(), "kernels: {:?}", deps("kernels"));
    for dep in deps("models/core") {
        assert_eq!(dep, "zoo-kernels", "models/core depends on {dep}");
    }
    for model in ["models/mlp", "models/cnn", "models/lstm", "models/gan"] {
        for dep in deps(model) {
            assert!(
                matches!(dep.as_str(), "zoo-kernels" | "zoo-model-core" | "zoo-mlp"),
                "{model} depends on {dep}"
            );
        }
    }
    assert!(
        deps("datasets").is_empty(),
        "datasets: {:?}",
        deps("datasets")
    );
    assert!(!deps("train").contains(&"zoo-experiments".to_string()));
    // Weights in and out sit beside the experiments, on top of train; only the CLI uses them.
    for dep in deps("interop") {
        assert!(
            matches!(
                dep.as_str(),
                "zoo-mlp" | "zoo-cnn" | "zoo-lstm" | "zoo-gan" | "zoo-datasets" | "zoo-train"
            ),
            "interop depends on {dep}"
        );
    }
    for (name, src) in CRATES {
        let dir = src.trim_end_matches("src").trim_end_matches('/');
        if !matches!(*name, "burn-zoo" | "zoo-interop") {
            assert!(
                !deps(if dir.is_empty() { "." } else { dir }).contains(&"zoo-interop".to_string()),
                "{name} depends on zoo-interop"
            );
        }
    }
}
