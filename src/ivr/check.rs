//! The validator behind `hotline ivr check`: loads flow files and checks each flow as a
//! graph (unknown targets and flows, unreachable nodes, missing prompt files, menus deeper
//! than three levels, loops that never wait for input).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use super::flow::{Flow, NodeKind, Prompt, SayWhat};
use super::load::{hint, load_flow, Loaded};
use super::report::{Diag, Diagnostic, Report, Severity};
use super::say;

/// Deepest menu nesting allowed (source B1 L3417: navigation depth ≤ 3).
pub const MAX_MENU_DEPTH: usize = 3;
/// Largest flow file read (a flow is hand-written text; anything bigger is a mistake).
pub const MAX_FLOW_FILE_BYTES: u64 = 1 << 20;

/// Flow files in `paths`: files as given, folders expanded to their `*.toml` (sorted).
pub fn flow_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, (PathBuf, String)> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| (p.clone(), e.to_string()))?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml") && f.is_file())
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Reads a flow file with a size bound.
pub fn read_flow_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_FLOW_FILE_BYTES {
        return Err(format!(
            "file is {} bytes; a flow file may be at most {MAX_FLOW_FILE_BYTES}",
            meta.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))
}

/// Checks flow files and folders of flow files; the backend of `hotline ivr check`.
/// Sub-flow names resolve against every flow given and the other flows in their folders.
pub fn check_paths(paths: &[PathBuf]) -> Report {
    let mut report = Report::default();
    let files = match flow_files(paths) {
        Ok(f) => f,
        Err((p, e)) => {
            report.diagnostics.push(Diagnostic {
                file: p,
                line: 1,
                column: 1,
                severity: Severity::Error,
                message: format!("cannot read folder: {e}"),
            });
            return report;
        }
    };
    let mut loaded: Vec<(PathBuf, String, Loaded)> = Vec::new();
    for f in &files {
        match read_flow_file(f) {
            Ok(text) => {
                let l = load_flow(f, &text);
                loaded.push((f.clone(), text, l));
            }
            Err(e) => report.diagnostics.push(Diagnostic {
                file: f.clone(),
                line: 1,
                column: 1,
                severity: Severity::Error,
                message: e,
            }),
        }
    }
    report.files = files.len();
    // Flow names known for sub-flow references: those given, plus siblings in their folders.
    let mut known: BTreeSet<String> = loaded
        .iter()
        .filter_map(|(_, _, l)| l.flow.as_ref().map(|f| f.name.clone()))
        .collect();
    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    for d in dirs {
        if let Ok(sib) = flow_files(&[if d.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            d
        }]) {
            for s in sib.iter().filter(|s| !files.contains(s)) {
                if let Ok(t) = read_flow_file(s) {
                    if let Some(f) = load_flow(s, &t).flow {
                        known.insert(f.name);
                    }
                }
            }
        }
    }
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (path, text, l) in loaded {
        let mut diags = l.diags;
        if let Some(flow) = &l.flow {
            if let Some(first) = names.get(&flow.name) {
                diags.push(Diag::error(
                    flow.header_span.clone(),
                    format!(
                        "flow name `{}` is already used by {}",
                        flow.name,
                        first.display()
                    ),
                ));
            } else {
                names.insert(flow.name.clone(), path.clone());
            }
            diags.extend(check_flow(flow, &l.declared, &known));
        }
        report.diagnostics.extend(
            diags
                .into_iter()
                .map(|d| Diagnostic::place(&path, &text, d)),
        );
    }
    report.sort();
    report
}

/// Where a flow's prompt files live: `<flow folder>/prompts/<language>/<name>.wav`.
pub fn prompt_path(flow: &Flow, language: &str, name: &str) -> PathBuf {
    flow.path
        .parent()
        .unwrap_or(Path::new("."))
        .join("prompts")
        .join(language)
        .join(format!("{name}.wav"))
}

/// The file to play for a prompt of the flows in `flows_dir`: the slow recording
/// (`prompts/<language>/slow/<name>.wav`) when `rate` < 1 and one exists, else the normal one.
pub fn prompt_file(flows_dir: &Path, language: &str, name: &str, rate: f32) -> PathBuf {
    let base = flows_dir.join("prompts").join(language);
    if rate < 0.99 {
        let slow = base.join("slow").join(format!("{name}.wav"));
        if slow.is_file() {
            return slow;
        }
    }
    base.join(format!("{name}.wav"))
}

fn node_prompts(k: &NodeKind) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |ps: &Vec<Prompt>| {
        for p in ps {
            if let Prompt::File(f) = p {
                out.push(f.clone());
            }
        }
    };
    match k {
        NodeKind::Play { prompts, .. }
        | NodeKind::Message { prompts, .. }
        | NodeKind::Language { prompts, .. }
        | NodeKind::Hangup { prompts } => add(prompts),
        NodeKind::Menu {
            prompts,
            invalid_prompts,
            options,
            ..
        } => {
            add(prompts);
            add(invalid_prompts);
            if options.iter().any(|o| o.label.is_some()) {
                add(&super::interp::correction_prompts(None));
            }
            for o in options {
                if let Some(l) = &o.label {
                    out.push(l.clone());
                }
            }
        }
        NodeKind::Collect {
            prompts,
            invalid_prompts,
            ..
        }
        | NodeKind::Survey {
            prompts,
            invalid_prompts,
            ..
        } => {
            add(prompts);
            add(invalid_prompts);
        }
        NodeKind::Say {
            before,
            after,
            what,
            ..
        } => {
            add(before);
            add(after);
            out.extend(
                say::fragments_needed(matches!(what, SayWhat::Date(_)))
                    .iter()
                    .map(|s| s.to_string()),
            );
        }
        _ => {}
    }
    out
}

/// Graph checks of one loaded flow. `declared` holds every node id written in the file
/// (including broken ones); `flows` the names a sub-flow may use.
pub fn check_flow(flow: &Flow, declared: &BTreeSet<String>, flows: &BTreeSet<String>) -> Vec<Diag> {
    let mut d = Vec::new();
    let ids: Vec<&str> = declared.iter().map(String::as_str).collect();
    // Unknown targets.
    let mut targets = vec![&flow.start];
    for n in flow.nodes.values() {
        targets.extend(n.kind.edges().into_iter().map(|(_, t)| t));
    }
    for t in targets {
        if !declared.contains(&t.node) {
            d.push(Diag::error(
                t.span.clone(),
                format!("unknown target node `{}`{}", t.node, hint(&t.node, &ids)),
            ));
        }
    }
    // Sub-flows and languages.
    let langs: Vec<&str> = std::iter::once(flow.language.as_str())
        .chain(flow.languages.iter().map(String::as_str))
        .collect();
    for n in flow.nodes.values() {
        match &n.kind {
            NodeKind::SubFlow {
                flow: f, flow_span, ..
            } if !flows.contains(f) => {
                let names: Vec<&str> = flows.iter().map(String::as_str).collect();
                d.push(Diag::error(
                    flow_span.clone(),
                    format!("unknown flow `{f}`{}", hint(f, &names)),
                ));
            }
            NodeKind::Language { options, .. } => {
                for (_, span, l) in options {
                    if !langs.contains(&l.as_str()) {
                        d.push(Diag::error(
                            span.clone(),
                            format!("language `{l}` is not declared in `[flow]` `language` or `languages`"),
                        ));
                    }
                }
            }
            NodeKind::Set {
                language: Some(l), ..
            } if !langs.contains(&l.as_str()) => {
                d.push(Diag::error(
                    n.span.clone(),
                    format!("language `{l}` is not declared in `[flow]` `language` or `languages`"),
                ));
            }
            _ => {}
        }
    }
    // Missing prompt files, once per node and name.
    for n in flow.nodes.values() {
        let mut seen = BTreeSet::new();
        for p in node_prompts(&n.kind) {
            if !seen.insert(p.clone()) {
                continue;
            }
            for l in &langs {
                let path = prompt_path(flow, l, &p);
                if !path.is_file() {
                    d.push(Diag::error(
                        n.span.clone(),
                        format!(
                            "prompt `{p}` of node `{}` is missing: no file prompts/{l}/{p}.wav beside the flow",
                            n.id
                        ),
                    ));
                }
            }
        }
    }
    // Reachability from start; only when every node loaded, since a broken node's
    // edges are unknown and would make its successors look unreachable.
    let reach = reachable(flow);
    let complete = declared.len() == flow.nodes.len();
    for n in flow.nodes.values().filter(|_| complete) {
        if !reach.contains(n.id.as_str()) {
            d.push(Diag::warning(
                n.span.clone(),
                format!("node `{}` is never reached from `start`", n.id),
            ));
        }
    }
    d.extend(unknown_vars(flow));
    d.extend(busy_loops(flow));
    d.extend(menu_depth(flow));
    d
}

fn reachable(flow: &Flow) -> BTreeSet<&str> {
    let mut seen = BTreeSet::new();
    let mut q = VecDeque::from([flow.start.node.as_str()]);
    while let Some(id) = q.pop_front() {
        let Some(n) = flow.nodes.get(id) else {
            continue;
        };
        if !seen.insert(n.id.as_str()) {
            continue;
        }
        for (_, t) in n.kind.edges() {
            q.push_back(t.node.as_str());
        }
    }
    seen
}

/// Cycles made only of nodes that never wait for the caller: the call would spin forever.
fn busy_loops(flow: &Flow) -> Vec<Diag> {
    let busy = |id: &str| {
        flow.nodes.get(id).is_some_and(|n| {
            !n.kind.waits_for_input() && !matches!(n.kind, NodeKind::SubFlow { .. })
        })
    };
    let succ = |id: &str| -> Vec<&str> {
        let mut v: Vec<&str> = flow
            .nodes
            .get(id)
            .map(|n| {
                n.kind
                    .edges()
                    .into_iter()
                    .map(|(_, t)| t.node.as_str())
                    .collect()
            })
            .unwrap_or_default();
        v.retain(|s| busy(s));
        v.sort();
        v.dedup();
        v
    };
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    for n in flow.nodes.values().filter(|n| busy(&n.id)) {
        if reported.contains(n.id.as_str()) {
            continue;
        }
        // Shortest cycle back to n through busy nodes (BFS with parents).
        let start = n.id.as_str();
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut q = VecDeque::from([start]);
        let mut found = None;
        while let Some(x) = q.pop_front() {
            for s in succ(x) {
                if s == start {
                    found = Some(x);
                    break;
                }
                if !parent.contains_key(s) {
                    parent.insert(s, x);
                    q.push_back(s);
                }
            }
            if found.is_some() {
                break;
            }
        }
        if let Some(last) = found {
            let mut path = vec![start];
            let mut cur = last;
            let mut rev = Vec::new();
            while cur != start {
                rev.push(cur);
                match parent.get(cur) {
                    Some(p) => cur = p,
                    None => break,
                }
            }
            rev.reverse();
            path.extend(rev);
            path.push(start);
            for p in &path {
                reported.insert(p);
            }
            out.push(Diag::error(
                n.span.clone(),
                format!(
                    "loop that never waits for input: {}; add a menu, collect or other input node to it",
                    path.join(" → ")
                ),
            ));
        }
    }
    out
}

/// Menus reached from `from` through non-menu nodes.
fn menus_after<'a>(flow: &'a Flow, from: &'a str) -> Vec<&'a str> {
    let mut out = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut q = VecDeque::from([from]);
    while let Some(id) = q.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        let Some(n) = flow.nodes.get(id) else {
            continue;
        };
        if matches!(n.kind, NodeKind::Menu { .. }) {
            out.insert(n.id.as_str());
            continue;
        }
        for (_, t) in n.kind.edges() {
            q.push_back(t.node.as_str());
        }
    }
    out.into_iter().collect()
}

/// Menus nested deeper than [`MAX_MENU_DEPTH`] along the options callers press.
fn menu_depth(flow: &Flow) -> Vec<Diag> {
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for n in flow.nodes.values() {
        if let NodeKind::Menu { options, .. } = &n.kind {
            let mut c = BTreeSet::new();
            for o in options {
                c.extend(menus_after(flow, o.target.node.as_str()));
            }
            children.insert(n.id.as_str(), c.into_iter().collect());
        }
    }
    let mut out = Vec::new();
    let mut reported = BTreeSet::new();
    let mut budget = 100_000u32;
    fn dfs<'a>(
        m: &'a str,
        stack: &mut Vec<&'a str>,
        children: &BTreeMap<&'a str, Vec<&'a str>>,
        flow: &Flow,
        reported: &mut BTreeSet<&'a str>,
        out: &mut Vec<Diag>,
        budget: &mut u32,
    ) {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        stack.push(m);
        if stack.len() > MAX_MENU_DEPTH {
            if reported.insert(m) {
                if let Some(n) = flow.nodes.get(m) {
                    out.push(Diag::error(
                        n.span.clone(),
                        format!(
                            "menu `{m}` is {} levels deep ({}); keep menus within {MAX_MENU_DEPTH} levels",
                            stack.len(),
                            stack.join(" → ")
                        ),
                    ));
                }
            }
        } else {
            for c in children.get(m).map(Vec::as_slice).unwrap_or(&[]) {
                if !stack.contains(c) {
                    dfs(c, stack, children, flow, reported, out, budget);
                }
            }
        }
        stack.pop();
    }
    for top in menus_after(flow, flow.start.node.as_str()) {
        dfs(
            top,
            &mut Vec::new(),
            &children,
            flow,
            &mut reported,
            &mut out,
            &mut budget,
        );
    }
    out
}

/// Variables every call has, or that the call layer sets (`ticket_id`).
pub const BUILTIN_VARS: &[&str] = &[
    "caller",
    "called",
    "call_id",
    "language",
    "agent",
    "rating",
    "queue_failure",
    "ticket_id",
];

fn prompt_texts(ps: &[Prompt]) -> Vec<&str> {
    ps.iter()
        .flat_map(|p| match p {
            Prompt::Text(t) => refs(t),
            Prompt::File(_) => Vec::new(),
        })
        .collect()
}

/// `{name}` references in a text.
fn refs(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        match after.find('}') {
            Some(j) => {
                out.push(&after[..j]);
                rest = &after[j + 1..];
            }
            None => break,
        }
    }
    out
}

/// Variables used but never set anywhere in the flow: usually a typo. A warning, since a
/// parent flow or the call layer may set them.
fn unknown_vars(flow: &Flow) -> Vec<Diag> {
    let mut defined: BTreeSet<&str> = BUILTIN_VARS.iter().copied().collect();
    let mut prefixes: Vec<String> = Vec::new();
    for n in flow.nodes.values() {
        match &n.kind {
            NodeKind::Set { vars, .. } => defined.extend(vars.iter().map(|(k, _)| k.as_str())),
            NodeKind::Collect { var, .. } => {
                defined.insert(var.as_str());
            }
            NodeKind::Lookup { result, .. } => prefixes.push(format!("{result}.")),
            _ => {}
        }
    }
    let known = |v: &str| defined.contains(v) || prefixes.iter().any(|p| v.starts_with(p.as_str()));
    let mut out = Vec::new();
    for n in flow.nodes.values() {
        let mut used: Vec<&str> = Vec::new();
        match &n.kind {
            NodeKind::Play { prompts, .. }
            | NodeKind::Menu { prompts, .. }
            | NodeKind::Collect { prompts, .. }
            | NodeKind::Survey { prompts, .. }
            | NodeKind::Message { prompts, .. }
            | NodeKind::Language { prompts, .. }
            | NodeKind::Hangup { prompts } => used.extend(prompt_texts(prompts)),
            NodeKind::Set { vars, .. } => {
                for (_, v) in vars {
                    used.extend(refs(v));
                }
            }
            NodeKind::Lookup { source, args, .. } => {
                if let super::flow::LookupSource::Http { url, .. } = source {
                    used.extend(refs(url));
                }
                for (_, v) in args {
                    used.extend(refs(v));
                }
            }
            NodeKind::Transfer { to, .. } => match to {
                super::flow::TransferTo::Extension(x) | super::flow::TransferTo::External(x) => {
                    used.extend(refs(x))
                }
            },
            NodeKind::Callback { number, .. } => used.extend(refs(number)),
            NodeKind::Say { what, .. } => match what {
                SayWhat::Number(x) | SayWhat::Digits(x) | SayWhat::Date(x) => used.extend(refs(x)),
            },
            NodeKind::Branch { cases, .. } => {
                used.extend(cases.iter().filter_map(|c| c.when.var.as_deref()));
            }
            _ => {}
        }
        let mut seen = BTreeSet::new();
        for v in used {
            if !known(v) && seen.insert(v) {
                out.push(Diag::warning(
                    n.span.clone(),
                    format!(
                        "variable `{v}` used by node `{}` is never set in this flow (`set`, `collect` or `lookup` set variables)",
                        n.id
                    ),
                ));
            }
        }
    }
    out
}
