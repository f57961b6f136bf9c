//! Checks on a parsed plan: references, reachability, loops, the silent
//! caller, prompts per language. Each finding is a [`Diagnostic`] with the
//! file, line and column of the offending element or attribute.
//!
//! The rules are described for plan authors in `docs/dialplan.md`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::Path;
use std::time::Duration;

use crate::diagnostic::suggest;
pub use crate::diagnostic::{Diagnostic, Severity};
use crate::model::*;
use crate::prompt_catalog::PromptCatalog;

struct Out<'a> {
    path: &'a Path,
    diags: &'a mut Vec<Diagnostic>,
}

impl Out<'_> {
    fn error(&mut self, pos: Pos, message: String) {
        self.push(pos, Severity::Error, message);
    }

    fn warning(&mut self, pos: Pos, message: String) {
        self.push(pos, Severity::Warning, message);
    }

    fn push(&mut self, pos: Pos, severity: Severity, message: String) {
        self.diags.push(Diagnostic {
            path: self.path.to_path_buf(),
            line: pos.line,
            column: pos.column,
            severity,
            message,
        });
    }

    fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }
}

/// An edge resolved to node indices.
#[derive(Debug, Clone, Copy)]
struct E<'a> {
    to: usize,
    language: Option<&'a str>,
    silent: Silent,
}

/// A node where calls may start besides the plan's `start`: the start of a
/// line (a called number) from the configuration. The validator treats it
/// like `start`: what it leads to is reachable, checked for the silent
/// caller and for prompts in the default language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    /// The node id.
    pub node: String,
    /// Where it comes from, for messages (e.g. `[[line]] "+77232000001"`).
    pub origin: String,
}

/// Run every check; fills the plan's prompt availability from the catalog.
pub(crate) fn check(
    plan: &mut Plan,
    prompts: &dyn PromptCatalog,
    entries: &[EntryPoint],
    diags: &mut Vec<Diagnostic>,
) {
    let path = plan.source.clone();
    let mut out = Out { path: &path, diags };
    references(plan, &mut out);
    entry_points(plan, entries, &mut out);
    if out.has_errors() {
        return;
    }
    let entries: Vec<usize> = entries
        .iter()
        .filter_map(|e| plan.index_of(&e.node))
        .collect();
    let adj = edges(plan);
    unreachable(plan, &adj, &entries, &mut out);
    instant_cycles(plan, &adj, &mut out);
    silent_caller(plan, &adj, &entries, &mut out);
    prompt_languages(plan, &adj, &entries, prompts, &mut out);
    plan.availability = availability(plan, prompts);
}

pub(crate) fn availability(
    plan: &Plan,
    prompts: &dyn PromptCatalog,
) -> BTreeMap<String, BTreeSet<String>> {
    plan.prompt_ids()
        .into_iter()
        .map(|id| {
            let langs = plan
                .languages
                .iter()
                .filter(|l| prompts.has(&id, l))
                .cloned()
                .collect();
            (id, langs)
        })
        .collect()
}

fn all_refs(plan: &Plan) -> Vec<&Ref> {
    let mut refs: Vec<&Ref> = vec![&plan.start];
    refs.extend(plan.emergency.iter());
    for n in &plan.nodes {
        refs.extend(n.kind.edges().into_iter().map(|e| e.to));
    }
    refs
}

/// Entry points that name no node, reported at the `<dialplan>` element.
fn entry_points(plan: &Plan, entries: &[EntryPoint], out: &mut Out<'_>) {
    for e in entries {
        if plan.index_of(&e.node).is_none() {
            let hint = suggest(&e.node, plan.node_ids())
                .map(|s| format!(" (did you mean \"{s}\"?)"))
                .unwrap_or_default();
            out.error(
                plan.pos,
                format!(
                    "{} starts at node \"{}\", which this dialplan does not have{hint}",
                    e.origin, e.node
                ),
            );
        }
    }
}

/// Duplicate ids, dangling references, digits that clash with plan-wide keys.
fn references(plan: &Plan, out: &mut Out<'_>) {
    let mut seen: HashMap<&str, &Node> = HashMap::new();
    for n in &plan.nodes {
        if let Some(first) = seen.get(n.id.as_str()) {
            out.error(
                n.pos,
                format!(
                    "duplicate id \"{}\" (first used at line {}, column {})",
                    n.id, first.pos.line, first.pos.column
                ),
            );
        } else {
            seen.insert(&n.id, n);
        }
    }
    for r in all_refs(plan) {
        if plan.index_of(&r.target).is_none() {
            let hint = suggest(&r.target, plan.node_ids())
                .map(|s| format!(" (did you mean \"{s}\"?)"))
                .unwrap_or_default();
            out.error(
                r.pos,
                format!("{} target \"{}\" does not exist{hint}", r.attr, r.target),
            );
        }
    }
    for n in &plan.nodes {
        let NodeKind::Remember(r) = &n.kind else {
            continue;
        };
        if Some(r.digit) == plan.emergency_digit {
            out.error(
                r.digit_pos,
                format!(
                    "the consent key {:?} of \"{}\" is the emergency digit",
                    r.digit, n.id
                ),
            );
        } else if Some(r.digit) == plan.repeat_digit {
            out.error(
                r.digit_pos,
                format!(
                    "the consent key {:?} of \"{}\" is the repeat digit",
                    r.digit, n.id
                ),
            );
        }
    }
    for n in &plan.nodes {
        let NodeKind::Menu(m) = &n.kind else { continue };
        let mut digits: HashMap<&str, &Choice> = HashMap::new();
        for c in &m.choices {
            if let Some(first) = digits.get(c.digits.as_str()) {
                out.error(
                    c.digit_pos,
                    format!(
                        "duplicate choice \"{}\" in menu \"{}\" (first at line {})",
                        c.digits, n.id, first.pos.line
                    ),
                );
            } else {
                digits.insert(&c.digits, c);
            }
            let first_key = c.digits.chars().next();
            if first_key.is_some() && first_key == plan.emergency_digit {
                out.error(
                    c.digit_pos,
                    format!(
                        "choice \"{}\" starts with the emergency digit {:?}, which leads to \"{}\" in every menu",
                        c.digits,
                        plan.emergency_digit.unwrap_or('0'),
                        plan.emergency().unwrap_or("")
                    ),
                );
            } else if first_key.is_some() && first_key == plan.repeat_digit {
                out.error(
                    c.digit_pos,
                    format!(
                        "choice \"{}\" starts with the repeat digit {:?}, which replays every menu",
                        c.digits,
                        plan.repeat_digit.unwrap_or('*')
                    ),
                );
            }
            if c.digits.chars().count() > m.max_digits {
                out.error(
                    c.digit_pos,
                    format!(
                        "choice \"{}\" is longer than the menu's max-digits ({})",
                        c.digits, m.max_digits
                    ),
                );
            }
        }
    }
}

/// Resolved edges per node, including the implicit emergency edge of menus and surveys.
fn edges(plan: &Plan) -> Vec<Vec<E<'_>>> {
    let emergency = plan
        .emergency_digit
        .and(plan.emergency.as_ref())
        .and_then(|r| plan.index_of(&r.target));
    plan.nodes
        .iter()
        .map(|n| {
            let mut v: Vec<E<'_>> = n
                .kind
                .edges()
                .into_iter()
                .filter_map(|e| {
                    Some(E {
                        to: plan.index_of(&e.to.target)?,
                        language: e.language,
                        silent: e.silent,
                    })
                })
                .collect();
            if let (Some(to), true) = (emergency, n.kind.accepts_emergency()) {
                v.push(E {
                    to,
                    language: None,
                    silent: Silent::No,
                });
            }
            v
        })
        .collect()
}

fn roots(plan: &Plan, entries: &[usize]) -> Vec<usize> {
    let mut r: Vec<usize> = plan.index_of(&plan.start.target).into_iter().collect();
    for &e in entries {
        if !r.contains(&e) {
            r.push(e);
        }
    }
    if plan.emergency_digit.is_some() {
        r.extend(
            plan.emergency
                .as_ref()
                .and_then(|e| plan.index_of(&e.target)),
        );
    }
    r
}

fn unreachable(plan: &Plan, adj: &[Vec<E<'_>>], entries: &[usize], out: &mut Out<'_>) {
    let mut seen = vec![false; plan.nodes.len()];
    let mut queue: VecDeque<usize> = roots(plan, entries).into();
    for &r in &queue {
        seen[r] = true;
    }
    while let Some(i) = queue.pop_front() {
        for e in &adj[i] {
            if !seen[e.to] {
                seen[e.to] = true;
                queue.push_back(e.to);
            }
        }
    }
    for (n, reached) in plan.nodes.iter().zip(seen) {
        if !reached {
            out.error(
                n.pos,
                format!(
                    "node \"{}\" is unreachable: nothing leads to it from start \"{}\"",
                    n.id, plan.start.target
                ),
            );
        }
    }
}

/// Strongly connected components (iterative Tarjan) of the graph given by
/// `adj`; returns only the components that contain a cycle.
fn cycles(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const NONE: usize = usize::MAX;
    let n = adj.len();
    let mut index = vec![NONE; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut found = Vec::new();
    for s in 0..n {
        if index[s] != NONE {
            continue;
        }
        index[s] = next;
        low[s] = next;
        next += 1;
        stack.push(s);
        on_stack[s] = true;
        let mut call: Vec<(usize, usize)> = vec![(s, 0)];
        while let Some(top) = call.last_mut() {
            let (v, ei) = *top;
            if let Some(&w) = adj[v].get(ei) {
                top.1 += 1;
                if index[w] == NONE {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some(&(u, _)) = call.last() {
                    low[u] = low[u].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    let cyclic = comp.len() > 1 || adj[v].contains(&v);
                    if cyclic {
                        comp.sort_unstable();
                        found.push(comp);
                    }
                }
            }
        }
    }
    found.sort();
    found
}

/// A path from `from` back to itself inside `comp`, as node ids.
fn cycle_path(plan: &Plan, adj: &[Vec<usize>], comp: &[usize], from: usize) -> String {
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    let mut end = None;
    'bfs: while let Some(v) = queue.pop_front() {
        for &w in &adj[v] {
            if !comp.contains(&w) {
                continue;
            }
            if w == from {
                end = Some(v);
                break 'bfs;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    let mut ids = vec![plan.nodes[from].id.as_str()];
    let mut cur = end;
    let mut rev = Vec::new();
    while let Some(v) = cur {
        if v == from {
            break;
        }
        rev.push(plan.nodes[v].id.as_str());
        cur = parent.get(&v).copied();
    }
    rev.reverse();
    ids.extend(rev);
    ids.push(plan.nodes[from].id.as_str());
    ids.join(" -> ")
}

/// Cycles of nodes that never wait for the caller (play, language, goto, hours).
fn instant_cycles(plan: &Plan, adj: &[Vec<E<'_>>], out: &mut Out<'_>) {
    let waits: Vec<bool> = plan
        .nodes
        .iter()
        .map(|n| n.kind.waits_for_input())
        .collect();
    let sub: Vec<Vec<usize>> = adj
        .iter()
        .enumerate()
        .map(|(i, es)| {
            if waits[i] {
                Vec::new()
            } else {
                es.iter().map(|e| e.to).filter(|&t| !waits[t]).collect()
            }
        })
        .collect();
    for comp in cycles(&sub) {
        let first = comp[0];
        out.error(
            plan.nodes[first].pos,
            format!(
                "endless loop without waiting for the caller: {} (put a menu, route or transfer in the loop, or break it)",
                cycle_path(plan, &sub, &comp, first)
            ),
        );
    }
}

/// The path taken by a caller who presses nothing: see `docs/dialplan.md`,
/// "The silent caller".
fn silent_caller(plan: &Plan, adj: &[Vec<E<'_>>], entries: &[usize], out: &mut Out<'_>) {
    let n = plan.nodes.len();
    // Edges a silent caller takes before any human has been tried.
    let g0: Vec<Vec<usize>> = adj
        .iter()
        .map(|es| {
            es.iter()
                .filter(|e| e.silent == Silent::Yes)
                .map(|e| e.to)
                .collect()
        })
        .collect();
    let mut origins: Vec<usize> = plan.index_of(&plan.start.target).into_iter().collect();
    origins.extend_from_slice(entries);
    origins.extend(
        plan.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.kind, NodeKind::Menu(_)))
            .map(|(i, _)| i),
    );
    let (seen, parent) = bfs(&g0, &origins, n);

    // Loops a silent caller never leaves, with no human tried on the way.
    let waits: Vec<bool> = plan
        .nodes
        .iter()
        .map(|n| n.kind.waits_for_input())
        .collect();
    for comp in cycles(&g0) {
        if !comp.iter().any(|&i| seen[i]) || !comp.iter().any(|&i| waits[i]) {
            continue; // not reached silently, or an instant cycle (reported already)
        }
        let first = comp[0];
        out.error(
            plan.nodes[first].pos,
            format!(
                "a silent caller loops here forever and never reaches a human: {} (give the loop a way out: lead `on-fail` or `closed` to a transfer or route that does not come back here)",
                cycle_path(plan, &g0, &comp, first)
            ),
        );
    }

    // Hangups a silent caller reaches with no human tried.
    for (i, node) in plan.nodes.iter().enumerate() {
        let NodeKind::Hangup(h) = &node.kind else {
            continue;
        };
        if !seen[i] || h.allow_silent {
            continue;
        }
        let path = path_to(plan, &parent, i);
        let origin = path.first().copied().unwrap_or(i);
        out.warning(
            plan.nodes[origin].pos,
            format!(
                "a silent caller is hung up without being offered a human: {} (lead the silent path to a route or transfer, or mark the hangup allow-silent=\"true\")",
                path.iter()
                    .map(|&p| plan.nodes[p].id.as_str())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            ),
        );
    }

    // The emergency path itself.
    if let Some(e) = plan
        .emergency_digit
        .and(plan.emergency.as_ref())
        .and_then(|r| plan.index_of(&r.target))
    {
        let (seen_e, parent_e) = bfs(&g0, &[e], n);
        for (i, node) in plan.nodes.iter().enumerate() {
            let NodeKind::Hangup(h) = &node.kind else {
                continue;
            };
            if seen_e[i] && !h.allow_silent {
                let path = path_to(plan, &parent_e, i)
                    .iter()
                    .map(|&p| plan.nodes[p].id.as_str())
                    .collect::<Vec<_>>()
                    .join(" -> ");
                out.warning(
                    plan.emergency.as_ref().map_or(plan.pos, |r| r.pos),
                    format!(
                        "the emergency path can end at a hangup without reaching a human: {path}"
                    ),
                );
            }
        }
    }
}

fn bfs(adj: &[Vec<usize>], from: &[usize], n: usize) -> (Vec<bool>, Vec<Option<usize>>) {
    let mut seen = vec![false; n];
    let mut parent = vec![None; n];
    let mut queue = VecDeque::new();
    for &f in from {
        if !seen[f] {
            seen[f] = true;
            queue.push_back(f);
        }
    }
    while let Some(v) = queue.pop_front() {
        for &w in &adj[v] {
            if !seen[w] {
                seen[w] = true;
                parent[w] = Some(v);
                queue.push_back(w);
            }
        }
    }
    (seen, parent)
}

fn path_to(plan: &Plan, parent: &[Option<usize>], to: usize) -> Vec<usize> {
    let mut path = vec![to];
    let mut cur = to;
    while let Some(p) = parent[cur] {
        path.push(p);
        cur = p;
        if path.len() > plan.nodes.len() {
            break;
        }
    }
    path.reverse();
    path
}

/// Which languages each node can be reached in, and whether its prompts exist in them.
///
/// The caller starts in `default-language`; a choice with `language` and a
/// `<language>` node change it; every other edge (including the emergency
/// digit) keeps it.
fn prompt_languages(
    plan: &Plan,
    adj: &[Vec<E<'_>>],
    entries: &[usize],
    prompts: &dyn PromptCatalog,
    out: &mut Out<'_>,
) {
    let langs = &plan.languages;
    let lang_index = |l: &str| langs.iter().position(|x| x == l);
    let Some(start_lang) = lang_index(&plan.default_language) else {
        return;
    };
    let n = plan.nodes.len();
    let mut seen = vec![vec![false; langs.len()]; n];
    let mut queue = VecDeque::new();
    for r in roots(plan, entries) {
        seen[r][start_lang] = true;
        queue.push_back((r, start_lang));
    }
    while let Some((v, l)) = queue.pop_front() {
        // A remembered caller arrives at `known` in whichever language they
        // chose in an earlier call.
        let known = match plan.nodes.get(v).map(|n| &n.kind) {
            Some(NodeKind::Recognise(r)) => plan.index_of(&r.known.target),
            _ => None,
        };
        for e in &adj[v] {
            let nl = e.language.and_then(lang_index).unwrap_or(l);
            let all: Vec<usize> = if Some(e.to) == known {
                (0..langs.len()).collect()
            } else {
                vec![nl]
            };
            for nl in all {
                if !seen[e.to][nl] {
                    seen[e.to][nl] = true;
                    queue.push_back((e.to, nl));
                }
            }
        }
    }
    let mut reported: BTreeSet<(Pos, String, usize)> = BTreeSet::new();
    for (i, node) in plan.nodes.iter().enumerate() {
        for (l, lang) in langs.iter().enumerate() {
            if !seen[i][l] {
                continue;
            }
            for p in node.kind.prompts() {
                for id in &p.ids {
                    if !prompts.has(id, lang) && reported.insert((p.pos, id.clone(), l)) {
                        out.error(
                            p.pos,
                            format!(
                                "prompt \"{id}\" has no recording in \"{lang}\" (node \"{}\" can be reached in {lang})",
                                node.id
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// How long the first prompt of a call may be at most before the check
/// below warns, unless the configuration says otherwise.
pub const DEFAULT_FIRST_PROMPT_LIMIT: Duration = Duration::from_secs(8);

/// A path walked by [`first_prompt`]: where it is, how long its prompts
/// play in each of the plan's languages, the prompts on the way.
struct Walk<'a> {
    at: usize,
    lengths: Vec<Duration>,
    heard: Vec<&'a str>,
    been: Vec<usize>,
}

/// The prompt a caller hears before the first choice of a call, against
/// `limit`: a caller in crisis may hang up within seconds, so the first
/// menu should let them act at once (`docs/dialplan.md`, "The first
/// prompt").
///
/// From the plan's `start` and each entry point the walk follows the nodes
/// that do not wait for the caller (`<play>`, `<language>`, `<goto>`,
/// `<hours>` and `<recognise>`, each branch, `<forget>`) to the first
/// `<menu>`. What is heard on the way
/// counts: the plays' prompts and the menu's `intro` and `prompt`, each in
/// the plan's language that makes the sum longest (a prompt whose length
/// the catalog does not know counts as zero). A menu whose longest sum is
/// over `limit` gets one warning at its element, with the length, the
/// limit and the prompts.
pub fn first_prompt(
    plan: &Plan,
    prompts: &dyn PromptCatalog,
    entries: &[EntryPoint],
    limit: Duration,
) -> Vec<Diagnostic> {
    // Paths through <hours> branch; a plan is small, but bound the walk.
    const MAX_STEPS: usize = 10_000;
    let langs = &plan.languages;
    let length = |ids: &[String], lengths: &mut [Duration]| {
        for (l, lang) in langs.iter().enumerate() {
            for id in ids {
                lengths[l] += prompts.duration(id, lang).unwrap_or_default();
            }
        }
    };
    let mut starts: Vec<usize> = plan.index_of(&plan.start.target).into_iter().collect();
    for e in entries {
        if let Some(i) = plan.index_of(&e.node) {
            if !starts.contains(&i) {
                starts.push(i);
            }
        }
    }
    let mut stack: Vec<Walk<'_>> = starts
        .into_iter()
        .map(|at| Walk {
            at,
            lengths: vec![Duration::ZERO; langs.len()],
            heard: Vec::new(),
            been: Vec::new(),
        })
        .collect();
    // The longest first prompt found per menu: length, language, prompts.
    let mut longest: BTreeMap<usize, (Duration, usize, Vec<&str>)> = BTreeMap::new();
    let mut steps = 0;
    while let Some(mut walk) = stack.pop() {
        steps += 1;
        if steps > MAX_STEPS || walk.been.contains(&walk.at) {
            continue;
        }
        walk.been.push(walk.at);
        let node = &plan.nodes[walk.at];
        let next: Vec<&Ref> = match &node.kind {
            NodeKind::Menu(m) => {
                for p in m.intro.iter().chain(std::iter::once(&m.prompt)) {
                    length(&p.ids, &mut walk.lengths);
                    walk.heard.extend(p.ids.iter().map(String::as_str));
                }
                let (l, total) = walk
                    .lengths
                    .iter()
                    .copied()
                    .enumerate()
                    .max_by_key(|&(_, d)| d)
                    .unwrap_or((0, Duration::ZERO));
                let known = longest.get(&walk.at).map(|(d, _, _)| *d);
                if known.is_none_or(|d| total > d) {
                    longest.insert(walk.at, (total, l, walk.heard));
                }
                continue;
            }
            NodeKind::Play(p) => {
                length(&p.prompt.ids, &mut walk.lengths);
                walk.heard.extend(p.prompt.ids.iter().map(String::as_str));
                vec![&p.next]
            }
            NodeKind::Language(l) => vec![&l.next],
            NodeKind::Goto(g) => vec![&g.target],
            NodeKind::Hours(h) => vec![&h.open, &h.closed],
            NodeKind::Recognise(r) => vec![&r.known, &r.new],
            NodeKind::Forget(f) => vec![&f.next],
            // The call waits here (or ends) before any menu: no first choice.
            _ => continue,
        };
        for r in next {
            if let Some(at) = plan.index_of(&r.target) {
                stack.push(Walk {
                    at,
                    lengths: walk.lengths.clone(),
                    heard: walk.heard.clone(),
                    been: walk.been.clone(),
                });
            }
        }
    }
    longest
        .into_iter()
        .filter(|(_, (total, _, _))| *total > limit)
        .map(|(i, (total, l, heard))| {
            let node = &plan.nodes[i];
            Diagnostic {
                path: plan.source.clone(),
                line: node.pos.line,
                column: node.pos.column,
                severity: Severity::Warning,
                message: format!(
                    "menu \"{}\": a caller hears {:.1} s of prompts before the first choice of \
                     the call ({} in {}), longer than the limit of {:.1} s; a caller in crisis may \
                     hang up before they can act: keep the first prompt short (the centre's name, \
                     the language keys, the emergency key) and play longer texts after the first \
                     choice",
                    node.id,
                    total.as_secs_f64(),
                    heard.join(" "),
                    langs.get(l).map_or("?", String::as_str),
                    limit.as_secs_f64(),
                ),
            }
        })
        .collect()
}
