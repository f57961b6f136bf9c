//! The shape of the code: no import circles between source files, and the
//! layer rules below.
//!
//! The test reads every `.rs` file under `src/` and `crates/*/src/` (test code
//! left out: files named `tests.rs`, files under a `tests/` folder, and items
//! behind `#[cfg(test)]`) and builds a graph with one node per file. There is
//! an edge from file A to file B when A names an item that B defines:
//!
//! - through a `use` declaration (nested groups, `self`, `super`, `crate`,
//!   `as`, globs; paths into the other crates of the workspace such as
//!   `senim_sip::message::Peer` count too, external crates do not);
//! - through a qualified path in code: `crate::x::Y`, `super::Y`,
//!   `self::x::Y`, `senim_sip::message::Y`, or a path that starts with a
//!   module brought in by `use` (`use crate::driver; driver::sip::X`).
//!
//! A path goes to the deepest module file that exists; when the next segment
//! is an item that module re-exports from one of its descendants
//! (`pub use child::X`), the edge goes on to the file that defines it. A
//! `mod child;` and a `pub use child::X;` are not edges by themselves: a parent
//! module is the facade of its children (nor is a bare `child::X` in the
//! parent's code, or a use of a name it re-exports from a child). Comments and
//! string literals are blanked first, so a path in a doc comment is not an
//! edge. Set `SENIM_LAYERS_DUMP=1` to print every edge of the real tree.
//!
//! Three checks run on the graph of the real tree:
//!
//! - `no_import_circles`: no two files import each other, directly or around
//!   a longer loop. A failure lists each circle (a strongly connected set of
//!   files): its files, the shortest loop through each of them (a big circle
//!   is usually a few small loops that share files; break those first), and
//!   every edge inside it with the names that make the edge
//!   (`src/http/api.rs -> src/http/follow_ups.rs: claim, list`). To break a
//!   loop, move those names so that its edges point one way (usually down,
//!   into a smaller module both sides can import).
//! - `layer_rules_hold`: the rules in [`RULES`] (`src/config.rs` is the
//!   configuration file's shape, made of the config types each module owns:
//!   only the wiring, `server.rs` and `main.rs`, reads it); a failure lists each edge
//!   that breaks a rule, with its names and the rule's reason. Add a rule by
//!   adding a line to the table.
//! - `cores_stay_sans_io`: no crate under `crates/` depends on a crate of
//!   [`FORBIDDEN_IN_CRATES`] (its `[dependencies]`, target-specific ones
//!   included; `[dev-dependencies]` are allowed, tests may drive a core with
//!   a runtime).
//!
//! The resolver is a pure function over a map of file names to sources
//! ([`build_graph`]); the tests at the end of this file run it on small trees
//! held in memory. It reads text, it does not compile: a path written through
//! a macro-generated name, a `#[path]` attribute or an inline module other
//! than a test module is not followed exactly.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::sync::OnceLock;

/// A layer rule: files whose name starts with `from` must not import files
/// whose name starts with any of `to`.
struct Rule {
    from: &'static str,
    to: &'static [&'static str],
    why: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        from: "src/http/",
        to: &["src/driver/", "src/config.rs", "src/server.rs"],
        why: "HTTP talks to the call layer through its handle, never the SIP driver; it is given its settings",
    },
    Rule {
        from: "src/follow_ups.rs",
        to: &["src/http/", "src/driver/", "src/config.rs", "src/server.rs"],
        why: "the follow-ups service is below HTTP and knows no transport",
    },
    Rule {
        from: "src/wrap_up.rs",
        to: &["src/http/", "src/web/", "src/driver/", "src/config.rs", "src/server.rs"],
        why: "the wrap-up use-case is below the API and the pages and knows no transport",
    },
    Rule {
        from: "src/store/",
        to: &["src/http/", "src/call/", "src/driver/", "src/follow_ups.rs", "src/config.rs", "src/server.rs"],
        why: "the store is below everything; each module owns its config type",
    },
    Rule {
        from: "src/call/",
        to: &["src/http/", "src/follow_ups.rs", "src/config.rs", "src/server.rs"],
        why: "the call layer is below HTTP and the services; the wiring hands it its settings",
    },
    Rule {
        from: "src/driver/",
        to: &["src/http/", "src/call/", "src/follow_ups.rs", "src/config.rs", "src/server.rs"],
        why: "the driver hands a new INVITE to whoever starts calls and never imports the call layer",
    },
    Rule {
        from: "src/util/",
        to: &["src/http/", "src/call/", "src/driver/", "src/store/", "src/config.rs", "src/server.rs"],
        why: "small helpers below everything",
    },
    Rule {
        from: "crates/",
        to: &["src/"],
        why: "the library crates know nothing of the service",
    },
    Rule {
        from: "crates/sip/",
        to: &["crates/call/", "crates/dialplan/", "crates/routing/"],
        why: "the protocol crates are below the call core",
    },
    Rule {
        from: "crates/media/",
        to: &["crates/call/", "crates/dialplan/", "crates/routing/"],
        why: "the protocol crates are below the call core",
    },
];

/// Dependencies no crate under `crates/` may have, with the reason.
const FORBIDDEN_IN_CRATES: &[(&str, &str)] = &[(
    "tokio",
    "the crates under crates/ are sans-IO cores: the service drives them",
)];

/// How many `pub use` hops are followed from a facade to a definition.
const MAX_REEXPORT_HOPS: usize = 4;

// ---------------------------------------------------------------------------
// The checks on the real tree.

#[test]
fn no_import_circles() {
    let graph = real_graph();
    let circles = circles(graph);
    if circles.is_empty() {
        return;
    }
    let mut report = format!(
        "{} import circle(s) between source files. Each block lists the files of one \
         circle, the shortest loop through each file, and every edge inside it with \
         the names that make it; move names so that the edges point one way.\n",
        circles.len()
    );
    for (n, files) in circles.iter().enumerate() {
        report.push_str(&format!(
            "\ncircle {} of {} ({} files):\n",
            n + 1,
            circles.len(),
            files.len()
        ));
        for f in files {
            report.push_str(&format!("    {f}\n"));
        }
        report.push_str("  loops (the shortest through each file):\n");
        for l in loops(graph, files) {
            report.push_str(&format!("    {}\n", l.join(" -> ")));
        }
        report.push_str("  edges:\n");
        for ((a, b), names) in &graph.edges {
            if files.contains(a) && files.contains(b) {
                report.push_str(&format!("    {a} -> {b}: {}\n", join(names)));
            }
        }
    }
    panic!("{report}");
}

#[test]
fn layer_rules_hold() {
    let graph = real_graph();
    let broken = broken_rules(graph, RULES);
    assert!(
        broken.is_empty(),
        "{} layer rule violation(s):\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn cores_stay_sans_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    for dir in crate_dirs(root) {
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("reading {}: {e}", manifest.display()));
        let name = manifest
            .strip_prefix(root)
            .unwrap_or(&manifest)
            .display()
            .to_string();
        for dep in normal_dependencies(&text) {
            if let Some((_, why)) = FORBIDDEN_IN_CRATES.iter().find(|(f, _)| *f == dep) {
                problems.push(format!("{name} depends on `{dep}` ({why})"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn real_graph() -> &'static Graph {
    static GRAPH: OnceLock<Graph> = OnceLock::new();
    GRAPH.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (crates, files) = read_tree(root);
        let graph = build_graph(&crates, &files);
        assert!(
            graph.nodes.len() > 10,
            "found only {} source files under {}",
            graph.nodes.len(),
            root.display()
        );
        if std::env::var_os("SENIM_LAYERS_DUMP").is_some() {
            for ((a, b), names) in &graph.edges {
                eprintln!("{a} -> {b}: {}", join(names));
            }
        }
        graph
    })
}

/// The crates of the workspace: the root package (`src/`) and every
/// `crates/*` folder with a `Cargo.toml` and a `src/`; and the text of every
/// `.rs` file under their `src/`, keyed by its path from the root with `/`.
fn read_tree(root: &Path) -> (Vec<Krate>, BTreeMap<String, String>) {
    let mut crates = vec![Krate {
        ident: package_ident(&root.join("Cargo.toml")),
        src: "src/".to_string(),
    }];
    for dir in crate_dirs(root) {
        if !dir.join("src").is_dir() {
            continue;
        }
        let rel = dir.strip_prefix(root).unwrap_or(&dir);
        crates.push(Krate {
            ident: package_ident(&dir.join("Cargo.toml")),
            src: format!("{}/src/", slashes(rel)),
        });
    }
    let mut files = BTreeMap::new();
    for krate in &crates {
        collect_rs(root, &root.join(&krate.src), &mut files);
    }
    (crates, files)
}

fn crate_dirs(root: &Path) -> Vec<std::path::PathBuf> {
    let dir = root.join("crates");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    let mut dirs: Vec<_> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn collect_rs(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            collect_rs(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            out.insert(slashes(path.strip_prefix(root).unwrap_or(&path)), text);
        }
    }
}

fn slashes(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The package name of a `Cargo.toml`, as Rust code spells it (`-` → `_`).
fn package_ident(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest)
        .unwrap_or_else(|e| panic!("reading {}: {e}", manifest.display()));
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some((key, value)) = line.split_once('=') {
                if key.trim() == "name" {
                    return value.trim().trim_matches('"').replace('-', "_");
                }
            }
        }
    }
    panic!("{}: no [package] name", manifest.display());
}

/// The names in a manifest's `[dependencies]`, `[build-dependencies]` and
/// `[target.*.dependencies]` tables (a renamed dependency counts under its
/// `package = "..."` name too). `[dev-dependencies]` are left out.
fn normal_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let mut section = String::new();
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(header) = line.strip_prefix('[') {
            section = header.trim_end_matches(']').trim().to_string();
            // `[dependencies.tokio]`
            for table in ["dependencies.", "build-dependencies."] {
                if let Some(rest) = section.split(table).nth(1) {
                    if !section.contains("dev-dependencies") {
                        deps.insert(rest.trim_matches('"').to_string());
                    }
                }
            }
            continue;
        }
        if section.contains("dev-dependencies") {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        // `package = "tokio"` under `[dependencies.rt]`
        if section.contains("dependencies.") && key.trim() == "package" {
            deps.insert(value.trim().trim_matches('"').to_string());
            continue;
        }
        let in_deps = section == "dependencies"
            || section == "build-dependencies"
            || (section.starts_with("target.") && section.ends_with(".dependencies"));
        if in_deps {
            let key = key.trim();
            deps.insert(
                key.split('.')
                    .next()
                    .unwrap_or(key)
                    .trim_matches('"')
                    .to_string(),
            );
            if let Some(package) = value.split("package").nth(1) {
                if let Some(name) = package.split('"').nth(1) {
                    deps.insert(name.to_string());
                }
            }
        }
    }
    deps
}

// ---------------------------------------------------------------------------
// Reading the graph.

fn join(names: &BTreeSet<String>) -> String {
    names.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// The strongly connected components of more than one file, each sorted, in
/// order of their first file.
fn circles(graph: &Graph) -> Vec<Vec<String>> {
    let nodes: Vec<&String> = graph.nodes.iter().collect();
    let index: BTreeMap<&String, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (a, b) in graph.edges.keys() {
        if let (Some(&i), Some(&j)) = (index.get(a), index.get(b)) {
            next[i].push(j);
        }
    }
    let mut tarjan = Tarjan {
        next: &next,
        order: vec![usize::MAX; nodes.len()],
        low: vec![0; nodes.len()],
        on_stack: vec![false; nodes.len()],
        stack: Vec::new(),
        counter: 0,
        components: Vec::new(),
    };
    for v in 0..nodes.len() {
        if tarjan.order[v] == usize::MAX {
            tarjan.visit(v);
        }
    }
    let mut out: Vec<Vec<String>> = tarjan
        .components
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            let mut files: Vec<String> = c.into_iter().map(|i| nodes[i].clone()).collect();
            files.sort();
            files
        })
        .collect();
    out.sort();
    out
}

struct Tarjan<'a> {
    next: &'a [Vec<usize>],
    order: Vec<usize>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    counter: usize,
    components: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, v: usize) {
        self.order[v] = self.counter;
        self.low[v] = self.counter;
        self.counter += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &self.next[v] {
            if self.order[w] == usize::MAX {
                self.visit(w);
                self.low[v] = self.low[v].min(self.low[w]);
            } else if self.on_stack[w] {
                self.low[v] = self.low[v].min(self.order[w]);
            }
        }
        if self.low[v] == self.order[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

/// The shortest loop through each file of a circle, each once: a circle of
/// many files is often a few small loops that share files.
fn loops(graph: &Graph, files: &[String]) -> Vec<Vec<String>> {
    let mut found: Vec<Vec<String>> = Vec::new();
    for start in files {
        let mut l = shortest_loop(graph, files, start);
        if l.len() < 2 {
            continue;
        }
        // Start each loop at its smallest file, to see repeats.
        l.pop();
        let min = l
            .iter()
            .enumerate()
            .min_by_key(|(_, f)| *f)
            .map_or(0, |(i, _)| i);
        l.rotate_left(min);
        l.push(l[0].clone());
        if !found.contains(&l) {
            found.push(l);
        }
    }
    found.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    found
}

/// A shortest loop from `start` back to itself through `files`.
fn shortest_loop(graph: &Graph, files: &[String], start: &String) -> Vec<String> {
    let mut came_from: BTreeMap<&String, &String> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(at) = queue.pop_front() {
        for (a, b) in graph.edges.keys() {
            if a != at || !files.contains(b) {
                continue;
            }
            if b == start {
                let mut back = Vec::new();
                let mut cur = at;
                while cur != start {
                    back.push(cur.clone());
                    cur = came_from[cur];
                }
                back.reverse();
                let mut path = vec![start.clone()];
                path.extend(back);
                path.push(start.clone());
                return path;
            }
            if !came_from.contains_key(b) {
                came_from.insert(b, at);
                queue.push_back(b);
            }
        }
    }
    Vec::new()
}

/// Every edge that breaks a rule, one line each.
fn broken_rules(graph: &Graph, rules: &[Rule]) -> Vec<String> {
    let mut out = Vec::new();
    for rule in rules {
        for ((a, b), names) in &graph.edges {
            if a.starts_with(rule.from) && rule.to.iter().any(|t| b.starts_with(t)) {
                out.push(format!(
                    "{a} -> {b}: {}\n    rule: {} must not import {} ({})",
                    join(names),
                    rule.from,
                    rule.to.join(", "),
                    rule.why
                ));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The resolver: sources in, graph out. No file system below this line.

/// One crate of the workspace: the name Rust code uses for it and the folder
/// of its sources (`crates/sip/src/`), with a trailing `/`.
#[derive(Clone, Debug)]
struct Krate {
    ident: String,
    src: String,
}

/// Files, and for each edge the names that make it.
#[derive(Debug, Default)]
struct Graph {
    nodes: BTreeSet<String>,
    edges: BTreeMap<(String, String), BTreeSet<String>>,
}

/// A path made absolute: the crate (an index into the crate list) and the
/// segments from its root.
type AbsPath = (usize, Vec<String>);

/// One leaf of a `use` tree.
#[derive(Clone, Debug, PartialEq)]
struct UseItem {
    path: Vec<String>,
    /// The name it binds; `None` for a glob.
    bind: Option<String>,
    public: bool,
}

/// One source file, ready to resolve.
struct SourceFile {
    krate: usize,
    module: Vec<String>,
    /// Comments, strings and test code blanked.
    clean: String,
    uses: Vec<UseItem>,
    /// Qualified paths in code (outside `use`), two segments or more.
    paths: Vec<Vec<String>>,
}

struct Resolver<'a> {
    crates: &'a [Krate],
    files: BTreeMap<String, SourceFile>,
    /// (crate, module path) -> file
    modules: BTreeMap<(usize, Vec<String>), String>,
}

fn build_graph(crates: &[Krate], sources: &BTreeMap<String, String>) -> Graph {
    let mut files = BTreeMap::new();
    let mut test_only: BTreeSet<String> = BTreeSet::new();
    for (name, text) in sources {
        let Some((krate, rel)) = crates
            .iter()
            .enumerate()
            .filter_map(|(i, k)| name.strip_prefix(k.src.as_str()).map(|rel| (i, rel)))
            .max_by_key(|(i, _)| crates[*i].src.len())
        else {
            continue;
        };
        let Some(stem) = rel.strip_suffix(".rs") else {
            continue;
        };
        let parts: Vec<&str> = stem.split('/').collect();
        if parts.last() == Some(&"tests") || parts[..parts.len() - 1].contains(&"tests") {
            continue;
        }
        let blanked = blank_comments_and_strings(text);
        let Some((clean, test_mods)) = drop_test_code(&blanked) else {
            continue; // `#![cfg(test)]`
        };
        let module = module_of(&parts);
        for m in test_mods {
            let dir = name.strip_suffix(".rs").unwrap_or(name);
            // `a/b.rs` and `a/b/mod.rs` keep their children in `a/b/`.
            let dir = if parts.last() == Some(&"mod") || module.is_empty() {
                dir.rsplit_once('/').map_or("", |(d, _)| d)
            } else {
                dir
            };
            test_only.insert(format!("{dir}/{m}.rs"));
            test_only.insert(format!("{dir}/{m}/mod.rs"));
        }
        let (uses, code) = parse_uses(&clean);
        let paths = code_paths(&code);
        files.insert(
            name.clone(),
            SourceFile {
                krate,
                module,
                clean,
                uses,
                paths,
            },
        );
    }
    files.retain(|name, _| !test_only.contains(name));
    let mut modules = BTreeMap::new();
    for (name, f) in &files {
        let key = (f.krate, f.module.clone());
        // `lib.rs` over `main.rs` for the crate root.
        if !modules.contains_key(&key) || name.ends_with("/lib.rs") {
            modules.insert(key, name.clone());
        }
    }
    let resolver = Resolver {
        crates,
        files,
        modules,
    };
    let mut graph = Graph::default();
    for name in resolver.files.keys() {
        graph.nodes.insert(name.clone());
        for (to, item) in resolver.edges_of(name) {
            if &to != name {
                graph
                    .edges
                    .entry((name.clone(), to))
                    .or_default()
                    .insert(item);
            }
        }
    }
    graph
}

/// `a/b.rs`, `a/b/mod.rs` -> `a::b`; `lib.rs`, `main.rs` -> the root.
fn module_of(parts: &[&str]) -> Vec<String> {
    let mut m: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
    if matches!(m.last().map(String::as_str), Some("mod")) {
        m.pop();
    } else if m.len() == 1 && (m[0] == "lib" || m[0] == "main") {
        m.clear();
    }
    m
}

impl Resolver<'_> {
    /// Every (target file, name) the file `name` refers to.
    fn edges_of(&self, name: &str) -> Vec<(String, String)> {
        let f = &self.files[name];
        let mut out = Vec::new();
        // Names bound by `use`, made absolute. Two rounds so a `use` may start
        // with a name an earlier `use` bound.
        let mut aliases: BTreeMap<String, AbsPath> = BTreeMap::new();
        let mut resolved: Vec<Option<AbsPath>> = vec![None; f.uses.len()];
        for _ in 0..2 {
            for (i, u) in f.uses.iter().enumerate() {
                if resolved[i].is_none() {
                    resolved[i] = self.absolute(f, &u.path, &aliases, true);
                    if let (Some(abs), Some(b)) = (&resolved[i], &u.bind) {
                        // A facade naming what it re-exports from its
                        // children is still the facade.
                        if b != "_" && !(u.public && self.below_facade(f, abs)) {
                            aliases.insert(b.clone(), abs.clone());
                        }
                    }
                }
            }
        }
        let first_segments: BTreeSet<&str> = f
            .paths
            .iter()
            .filter_map(|p| p.first().map(String::as_str))
            .collect();
        for (u, abs) in f.uses.iter().zip(&resolved) {
            let Some(abs) = abs else { continue };
            // A facade re-exporting its own descendants.
            if u.public && self.below_facade(f, abs) {
                continue;
            }
            let Some((to, item)) = self.resolve(abs, 0) else {
                continue;
            };
            match (item, &u.bind) {
                (Some(item), _) => out.push((to, item)),
                // A glob.
                (None, None) => out.push((to, "*".to_string())),
                // A module: its edges come from the paths through it.
                (None, Some(b)) => {
                    if !first_segments.contains(b.as_str()) {
                        out.push((to, b.clone()));
                    }
                }
            }
        }
        for p in &f.paths {
            let Some(abs) = self.absolute(f, p, &aliases, false) else {
                continue;
            };
            if let Some((to, item)) = self.resolve(&abs, 0) {
                let item = item.or_else(|| p.last().cloned()).unwrap_or_default();
                out.push((to, item));
            }
        }
        out
    }

    /// Whether `abs` lies strictly below the module of file `f`.
    fn below_facade(&self, f: &SourceFile, abs: &AbsPath) -> bool {
        abs.0 == f.krate && abs.1.len() > f.module.len() && abs.1.starts_with(&f.module)
    }

    /// The absolute path of `path` as written in file `f`, or `None` when it
    /// leads outside the workspace (or is a local name).
    fn absolute(
        &self,
        f: &SourceFile,
        path: &[String],
        aliases: &BTreeMap<String, AbsPath>,
        in_use: bool,
    ) -> Option<AbsPath> {
        let (first, rest) = path.split_first()?;
        let crate_named = |ident: &str| self.crates.iter().position(|k| k.ident == ident);
        let mut module = f.module.clone();
        match first.as_str() {
            "::" => {
                let (name, rest) = rest.split_first()?;
                Some((crate_named(name)?, rest.to_vec()))
            }
            "crate" | "$crate" => Some((f.krate, rest.to_vec())),
            "self" => {
                module.extend(rest.iter().cloned());
                Some((f.krate, module))
            }
            "super" => {
                let mut rest = path;
                while let Some(("super", tail)) = rest.split_first().map(|(h, t)| (h.as_str(), t)) {
                    module.pop()?;
                    rest = tail;
                }
                module.extend(rest.iter().cloned());
                Some((f.krate, module))
            }
            _ => {
                if let Some((k, mut segs)) = aliases.get(first).cloned() {
                    segs.extend(rest.iter().cloned());
                    return Some((k, segs));
                }
                if in_use {
                    // 2018 paths: a child module of this one.
                    let mut child = module.clone();
                    child.push(first.clone());
                    if self.modules.contains_key(&(f.krate, child)) {
                        module.extend(path.iter().cloned());
                        return Some((f.krate, module));
                    }
                }
                let k = crate_named(first)?;
                Some((k, rest.to_vec()))
            }
        }
    }

    /// The file an absolute path leads to, and the item it names there
    /// (`None` when the path names a module file itself).
    fn resolve(&self, (krate, segs): &AbsPath, hops: usize) -> Option<(String, Option<String>)> {
        let depth = (0..=segs.len())
            .rev()
            .find(|&d| self.modules.contains_key(&(*krate, segs[..d].to_vec())))?;
        let file = &self.modules[&(*krate, segs[..depth].to_vec())];
        let Some(item) = segs.get(depth) else {
            return Some((file.clone(), None));
        };
        if hops < MAX_REEXPORT_HOPS {
            if let Some(target) = self.reexport(file, item) {
                let mut next = target;
                next.1.extend(segs[depth + 1..].iter().cloned());
                if let Some(found) = self.resolve(&next, hops + 1) {
                    return Some(found);
                }
            }
        }
        Some((file.clone(), Some(item.clone())))
    }

    /// Where module file `file` re-exports `name` from, when it re-exports it
    /// from one of its descendants.
    fn reexport(&self, file: &str, name: &str) -> Option<AbsPath> {
        let f = &self.files[file];
        let none = BTreeMap::new();
        for u in f.uses.iter().filter(|u| u.public) {
            let Some(abs) = self.absolute(f, &u.path, &none, true) else {
                continue;
            };
            if !self.below_facade(f, &abs) {
                continue;
            }
            match &u.bind {
                Some(b) if b == name => return Some(abs),
                None => {
                    if let Some((target, None)) = self.resolve(&abs, MAX_REEXPORT_HOPS) {
                        if defines(&self.files[&target].clean, name) {
                            let mut abs = abs;
                            abs.1.push(name.to_string());
                            return Some(abs);
                        }
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// Whether cleaned source `text` defines an item called `name`.
fn defines(text: &str, name: &str) -> bool {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '!'))
        .filter(|w| !w.is_empty())
        .collect();
    words.windows(2).any(|w| {
        w[1] == name
            && matches!(
                w[0],
                "fn" | "struct"
                    | "enum"
                    | "trait"
                    | "type"
                    | "const"
                    | "static"
                    | "union"
                    | "mod"
                    | "macro_rules!"
            )
    })
}

// ---------------------------------------------------------------------------
// Reading Rust text.

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// `text` with comments and the inside of string and char literals replaced
/// by spaces (line breaks kept, so positions stay put).
fn blank_comments_and_strings(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let prev_ident = i > 0 && is_ident_byte(b[i - 1]);
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                let mut j = i;
                while j < b.len() {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        j += 1;
                    }
                }
                blank(&mut out, i, j);
                i = j;
            }
            b'r' if !prev_ident
                || (i > 0 && b[i - 1] == b'b' && !(i > 1 && is_ident_byte(b[i - 2]))) =>
            {
                // r"..." r#"..."# br"..."
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let body = i + 2 + hashes;
                let mut closing = vec![b'"'];
                closing.extend(std::iter::repeat_n(b'#', hashes));
                let end = b[body..]
                    .windows(closing.len())
                    .position(|w| w == closing.as_slice())
                    .map_or(b.len(), |p| body + p + closing.len());
                blank(&mut out, i + 1, end);
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                blank(&mut out, i, j + 1);
                i = j + 1;
            }
            b'\'' => {
                // A char literal, or a lifetime / label.
                let end = if b.get(i + 1) == Some(&b'\\') {
                    b.get(i + 3..)
                        .and_then(|rest| rest.iter().take(12).position(|&c| c == b'\''))
                        .map(|p| i + 3 + p)
                } else {
                    let len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                    (b.get(i + 1 + len) == Some(&b'\'')).then_some(i + 1 + len)
                };
                match end {
                    Some(end) => {
                        blank(&mut out, i, end + 1);
                        i = end + 1;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a `#[cfg(test)]` attribute starting at `i` ends, if one does.
fn cfg_test_at(b: &[u8], i: usize, inner: bool) -> Option<usize> {
    let mut j = i;
    let mut want: Vec<&[u8]> = vec![b"#"];
    if inner {
        want.push(b"!");
    }
    want.extend([&b"["[..], b"cfg", b"(", b"test", b")", b"]"]);
    for w in want {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if !b[j..].starts_with(w) {
            return None;
        }
        j += w.len();
    }
    Some(j)
}

/// Where the item (or field, variant, statement) starting at `start` ends:
/// an item runs to a `;` or through a `{ ... }` at the top level; anything
/// else also stops at a `,` or at the `}` that closes its list.
fn item_end(b: &[u8], start: usize) -> usize {
    let first = b[start..]
        .split(|c| !is_ident_byte(*c))
        .find(|w| !w.is_empty())
        .unwrap_or(b"");
    let is_item = matches!(
        first,
        b"pub"
            | b"mod"
            | b"fn"
            | b"impl"
            | b"use"
            | b"struct"
            | b"enum"
            | b"union"
            | b"const"
            | b"static"
            | b"type"
            | b"trait"
            | b"macro_rules"
            | b"extern"
            | b"unsafe"
            | b"async"
    ) || b[start..].iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'#');
    let mut depth = 0i32;
    let mut j = start;
    while j < b.len() {
        match b[j] {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            b';' if depth == 0 => return j + 1,
            b',' if depth == 0 && !is_item => return j + 1,
            b'}' if depth == 0 && !is_item => return j,
            b'{' if depth == 0 => {
                let mut braces = 0;
                while j < b.len() {
                    match b[j] {
                        b'{' => braces += 1,
                        b'}' => {
                            braces -= 1;
                            if braces == 0 {
                                return j + 1;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                return b.len();
            }
            _ => {}
        }
        j += 1;
    }
    b.len()
}

/// `text` with every item under `#[cfg(test)]` blanked, and the names of the
/// `mod x;` among them; `None` when the whole file is `#![cfg(test)]`.
fn drop_test_code(text: &str) -> Option<(String, Vec<String>)> {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut mods = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'#' {
            i += 1;
            continue;
        }
        if cfg_test_at(b, i, true).is_some() {
            return None;
        }
        let Some(j) = cfg_test_at(b, i, false) else {
            i += 1;
            continue;
        };
        let end = item_end(b, j);
        let words: Vec<&str> = text[j..end]
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .skip_while(|w| matches!(*w, "pub" | "crate" | "super" | "self" | "in"))
            .collect();
        if let ["mod", name] = words.as_slice() {
            if text[j..end].trim_end().ends_with(';') {
                mods.push(name.to_string());
            }
        }
        let j = end;
        for c in &mut out[i..j] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        i = j;
    }
    Some((String::from_utf8_lossy(&out).into_owned(), mods))
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Colons,
    Open,
    Close,
    Comma,
    Star,
}

/// Every leaf of every `use` declaration in cleaned text, and the text with
/// those declarations blanked.
fn parse_uses(text: &str) -> (Vec<UseItem>, String) {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut items = Vec::new();
    let mut i = 0;
    while let Some(p) = text[i..].find("use") {
        let at = i + p;
        i = at + 3;
        let before_ok = at == 0 || !is_ident_byte(b[at - 1]);
        let after_ok = b
            .get(at + 3)
            .is_some_and(|c| c.is_ascii_whitespace() || *c == b'{' || *c == b':');
        if !before_ok || !after_ok {
            continue;
        }
        let Some(len) = text[at..].find(';') else {
            break;
        };
        let end = at + len;
        // `pub use`, `pub(crate) use`
        let head = text[..at].trim_end();
        let public = head.ends_with("pub")
            || (head.ends_with(')') && {
                let open = head.rfind('(').unwrap_or(0);
                head[..open].trim_end().ends_with("pub")
            });
        let toks = use_tokens(&text[at + 3..end]);
        let mut pos = 0;
        let mut leaves = Vec::new();
        use_tree(&toks, &mut pos, Vec::new(), &mut leaves);
        for (path, bind) in leaves {
            items.push(UseItem { path, bind, public });
        }
        for c in &mut out[at..end] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        i = end;
    }
    (items, String::from_utf8_lossy(&out).into_owned())
}

fn use_tokens(text: &str) -> Vec<Tok> {
    let b = text.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b':' if b.get(i + 1) == Some(&b':') => {
                toks.push(Tok::Colons);
                i += 2;
            }
            b'{' => {
                toks.push(Tok::Open);
                i += 1;
            }
            b'}' => {
                toks.push(Tok::Close);
                i += 1;
            }
            b',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            b'*' => {
                toks.push(Tok::Star);
                i += 1;
            }
            c if is_ident_byte(c) || c == b'$' => {
                let start = i;
                i += 1;
                while i < b.len() && is_ident_byte(b[i]) {
                    i += 1;
                }
                toks.push(Tok::Ident(text[start..i].to_string()));
            }
            _ => i += 1,
        }
    }
    toks
}

/// One use tree from `toks[*pos]`, under `prefix`; leaves go to `out` as
/// (path, bound name or `None` for a glob).
fn use_tree(
    toks: &[Tok],
    pos: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut path = prefix;
    if path.is_empty() && toks.get(*pos) == Some(&Tok::Colons) {
        path.push("::".to_string());
        *pos += 1;
    }
    while let Some(tok) = toks.get(*pos) {
        *pos += 1;
        match tok {
            Tok::Ident(s) => {
                path.push(s.clone());
                match toks.get(*pos) {
                    Some(Tok::Colons) => {
                        *pos += 1;
                        continue;
                    }
                    Some(Tok::Ident(k)) if k == "as" => {
                        *pos += 1;
                        let alias = match toks.get(*pos) {
                            Some(Tok::Ident(a)) => {
                                *pos += 1;
                                a.clone()
                            }
                            _ => "_".to_string(),
                        };
                        if path.last().map(String::as_str) == Some("self") {
                            path.pop();
                        }
                        out.push((path, Some(alias)));
                    }
                    _ => {
                        if path.last().map(String::as_str) == Some("self") && path.len() > 1 {
                            path.pop();
                        }
                        let bind = path.last().cloned();
                        out.push((path, bind));
                    }
                }
                return;
            }
            Tok::Star => {
                out.push((path, None));
                return;
            }
            Tok::Open => {
                while let Some(t) = toks.get(*pos) {
                    match t {
                        Tok::Close => {
                            *pos += 1;
                            break;
                        }
                        Tok::Comma => *pos += 1,
                        _ => {
                            let before = *pos;
                            use_tree(toks, pos, path.clone(), out);
                            if *pos == before {
                                *pos += 1;
                            }
                        }
                    }
                }
                return;
            }
            _ => return,
        }
    }
}

/// Every path of two segments or more in cleaned code (`a::b::C`); generic
/// arguments end a path (`Vec::<T>::new` gives `Vec`, not followed).
fn code_paths(text: &str) -> Vec<Vec<String>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let ident_at = |i: usize| -> Option<usize> {
        let start = if b.get(i) == Some(&b'$') { i + 1 } else { i };
        if !b
            .get(start)
            .is_some_and(|&c| is_ident_byte(c) && !c.is_ascii_digit())
        {
            return None;
        }
        let mut j = start;
        while j < b.len() && is_ident_byte(b[j]) {
            j += 1;
        }
        Some(j)
    };
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    while i < b.len() {
        let starts = i == 0 || !(is_ident_byte(b[i - 1]) || b[i - 1] == b'$');
        let Some(end) = ident_at(i).filter(|_| starts) else {
            i += 1;
            continue;
        };
        let mut path = vec![text[i..end].to_string()];
        let mut j = end;
        loop {
            let k = skip_ws(j);
            if !b[k..].starts_with(b"::") {
                break;
            }
            let k = skip_ws(k + 2);
            let Some(e) = ident_at(k) else { break };
            path.push(text[k..e].to_string());
            j = e;
        }
        if path.len() > 1 {
            out.push(path);
        }
        i = j;
    }
    out
}

// ---------------------------------------------------------------------------
// The resolver on small trees.

fn tree(files: &[(&str, &str)]) -> Graph {
    let crates = [
        Krate {
            ident: "app".to_string(),
            src: "src/".to_string(),
        },
        Krate {
            ident: "app_core".to_string(),
            src: "crates/core/src/".to_string(),
        },
    ];
    let sources = files
        .iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect();
    build_graph(&crates, &sources)
}

/// The edges as `a -> b: x, y` lines.
fn edge_lines(graph: &Graph) -> Vec<String> {
    graph
        .edges
        .iter()
        .map(|((a, b), names)| format!("{a} -> {b}: {}", join(names)))
        .collect()
}

#[test]
fn resolver_use_super_group() {
    let g = tree(&[
        ("src/lib.rs", "pub mod a;"),
        (
            "src/a/mod.rs",
            "pub mod b; pub mod c; pub mod d; pub fn helper() {}",
        ),
        ("src/a/b.rs", "pub struct C;"),
        ("src/a/c.rs", "pub struct Unused;"),
        (
            "src/a/d.rs",
            "use super::{helper, b::C};\nfn f(_: C) { helper() }",
        ),
    ]);
    assert_eq!(
        edge_lines(&g),
        [
            "src/a/d.rs -> src/a/b.rs: C",
            "src/a/d.rs -> src/a/mod.rs: helper"
        ]
    );
}

#[test]
fn resolver_nested_groups_self_alias_glob() {
    let g = tree(&[
        ("src/lib.rs", "pub mod x; pub mod y; pub mod z; pub mod w;"),
        ("src/x.rs", "pub mod deep;"),
        ("src/x/deep.rs", "pub struct D; pub struct E;"),
        ("src/y.rs", "pub struct Y;"),
        ("src/w.rs", "pub fn w() {}"),
        (
            "src/z.rs",
            "use crate::{x::{deep::{D, E as Renamed}}, y::{self as why}};\n\
             use crate::w::*;\n\
             use std::collections::{BTreeMap, HashMap};\n\
             use app_core::thing::{Thing};\n\
             fn f(_: why::Y, _: Renamed) {}",
        ),
        ("crates/core/src/lib.rs", "pub mod thing;"),
        ("crates/core/src/thing.rs", "pub struct Thing;"),
    ]);
    assert_eq!(
        edge_lines(&g),
        [
            "src/z.rs -> crates/core/src/thing.rs: Thing",
            "src/z.rs -> src/w.rs: *",
            "src/z.rs -> src/x/deep.rs: D, E",
            "src/z.rs -> src/y.rs: Y",
        ]
    );
}

#[test]
fn resolver_follows_reexports_and_skips_facades() {
    let g = tree(&[
        (
            "src/lib.rs",
            "pub mod store; pub mod user; pub use store::Recorder;",
        ),
        (
            "src/store/mod.rs",
            "mod writer; mod spool;\npub use writer::{Recorder, spawn as start};\n\
             pub(crate) use spool::*;\npub struct Plain;",
        ),
        (
            "src/store/writer.rs",
            "pub struct Recorder; pub fn spawn() {}",
        ),
        ("src/store/spool.rs", "pub fn flush() {}"),
        (
            "src/user.rs",
            "use crate::Recorder;\nfn f() {\n    crate::store::start();\n    \
             crate::store::flush();\n    let _ = crate::store::Plain;\n}",
        ),
    ]);
    // lib.rs and store/mod.rs re-export their descendants: no edges.
    assert_eq!(
        edge_lines(&g),
        [
            "src/user.rs -> src/store/mod.rs: Plain",
            "src/user.rs -> src/store/spool.rs: flush",
            "src/user.rs -> src/store/writer.rs: Recorder, spawn",
        ]
    );
}

#[test]
fn resolver_ignores_comments_and_strings() {
    let g = tree(&[
        ("src/lib.rs", "pub mod a; pub mod b;"),
        ("src/a.rs", "pub struct A;"),
        (
            "src/b.rs",
            "//! See [`crate::a::A`].\n/// Uses `super::a::A`.\n/* crate::a::A /* nested */ crate::a::A */\n\
             fn f() -> (&'static str, &'static str, char) {\n    \
             (\"crate::a::A\", r#\"use crate::a::A;\"#, '\"')\n}\n\
             fn g<'a>(x: &'a str) -> &'a str { x } // crate::a::A",
        ),
    ]);
    assert_eq!(edge_lines(&g), Vec::<String>::new());
}

#[test]
fn resolver_skips_test_code() {
    let g = tree(&[
        ("src/lib.rs", "pub mod a; pub mod b; pub mod c;"),
        ("src/a.rs", "pub struct A;"),
        ("src/c.rs", "pub struct C;"),
        (
            "src/b.rs",
            "pub fn real() -> crate::c::C { crate::c::C }\n\
             #[cfg(test)]\nmod tests {\n    use crate::a::A;\n    fn t() { let _ = super::super::a::A; { } }\n}\n\
             #[cfg(test)]\nmod helpers;\n\
             #[cfg(test)]\n#[allow(dead_code)]\nfn make<A, B>(_: A) -> crate::a::A { crate::a::A }\n\
             #[cfg(test)]\nuse crate::a::A as _;\n",
        ),
        ("src/b/tests.rs", "use crate::a::A;"),
        ("src/b/helpers.rs", "use crate::a::A;"),
        ("src/b/tests/more.rs", "use crate::a::A;"),
    ]);
    assert_eq!(edge_lines(&g), ["src/b.rs -> src/c.rs: C"]);
    assert!(!g.nodes.contains("src/b/helpers.rs"));
    assert!(!g.nodes.contains("src/b/tests.rs"));
}

#[test]
fn resolver_module_aliases_and_child_paths() {
    let g = tree(&[
        ("src/lib.rs", "pub mod driver; pub mod http;"),
        ("src/driver/mod.rs", "pub mod sip;"),
        ("src/driver/sip.rs", "pub enum ToEndpoint {}"),
        ("src/http/mod.rs", "pub mod api; pub struct State;"),
        (
            "src/http/api.rs",
            "use crate::driver;\nuse super::super::driver::sip as s;\n\
             fn f(_: driver::sip::ToEndpoint, _: s::ToEndpoint, _: &super::State, _: &self::Local) {}\n\
             struct Local;",
        ),
    ]);
    assert_eq!(
        edge_lines(&g),
        [
            "src/http/api.rs -> src/driver/sip.rs: ToEndpoint",
            "src/http/api.rs -> src/http/mod.rs: State",
        ]
    );
}

#[test]
fn circles_and_rules_on_a_small_tree() {
    let g = tree(&[
        ("src/lib.rs", "pub mod a; pub mod b; pub mod c;"),
        ("src/a.rs", "use crate::b::B; pub struct A;"),
        ("src/b.rs", "pub struct B(crate::c::C);"),
        ("src/c.rs", "pub struct C(super::a::A);"),
    ]);
    let found = circles(&g);
    assert_eq!(found, [vec!["src/a.rs", "src/b.rs", "src/c.rs"]]);
    assert_eq!(
        loops(&g, &found[0]),
        [["src/a.rs", "src/b.rs", "src/c.rs", "src/a.rs"]]
    );
    let rules = [Rule {
        from: "src/c.rs",
        to: &["src/a.rs"],
        why: "test",
    }];
    assert_eq!(
        broken_rules(&g, &rules),
        ["src/c.rs -> src/a.rs: A\n    rule: src/c.rs must not import src/a.rs (test)"]
    );
}

#[test]
fn manifest_dependencies() {
    let manifest = "[package]\nname = \"x\"\n[dependencies]\nbytes = \"1\"\n\
                    rt = { package = \"tokio\", version = \"1\" }\n\
                    [dev-dependencies]\ntokio = \"1\"\n\
                    [target.'cfg(unix)'.dependencies]\nlibc.workspace = true\n\
                    [dependencies.serde]\nversion = \"1\"\n\
                    [build-dependencies.cc2]\npackage = \"cc\"\n";
    let deps: Vec<String> = normal_dependencies(manifest).into_iter().collect();
    assert_eq!(deps, ["bytes", "cc", "cc2", "libc", "rt", "serde", "tokio"]);
    let dev_only = "[dev-dependencies]\ntokio = \"1\"\n[dev-dependencies.tokio]\n";
    assert!(normal_dependencies(dev_only).is_empty());
}
