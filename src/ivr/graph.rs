//! `hotline ivr graph`: draws a flow as an SVG picture (layered top to bottom from the
//! start node, one box per node coloured by kind, labelled arrows), written by hand so
//! that hotline needs no Graphviz.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;
use std::path::Path;

use super::check::{check_flow, read_flow_file};
use super::flow::{Flow, NodeKind, Prompt, SayWhat, TransferTo};
use super::load::load_flow;
use super::report::{Diagnostic, Report, Severity};

const BOX_W: f64 = 176.0;
const BOX_H: f64 = 50.0;
const GAP_X: f64 = 36.0;
const GAP_Y: f64 = 74.0;
const MARGIN: f64 = 30.0;
const TITLE_H: f64 = 40.0;

/// Loads, checks and draws the flow in `path`. Flows with errors are not drawn: the report
/// says why.
pub fn graph_svg(path: &Path) -> Result<String, Report> {
    let fail = |msg: String| Report {
        diagnostics: vec![Diagnostic {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
            severity: Severity::Error,
            message: msg,
        }],
        files: 1,
    };
    let text = read_flow_file(path).map_err(fail)?;
    let l = load_flow(path, &text);
    let mut diags = l.diags;
    if let Some(f) = &l.flow {
        // Sub-flow names are not checked here: the picture is of this file alone.
        let mut names = std::collections::BTreeSet::new();
        for n in f.nodes.values() {
            if let NodeKind::SubFlow { flow, .. } = &n.kind {
                names.insert(flow.clone());
            }
        }
        diags.extend(check_flow(f, &l.declared, &names));
    }
    let errors: Vec<Diagnostic> = diags
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| Diagnostic::place(path, &text, d))
        .collect();
    match l.flow {
        Some(f) if errors.is_empty() => Ok(render_svg(&f)),
        _ => {
            let mut r = Report {
                diagnostics: errors,
                files: 1,
            };
            r.sort();
            Err(r)
        }
    }
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn colour(k: &NodeKind) -> &'static str {
    match k {
        NodeKind::Menu { .. } | NodeKind::Language { .. } => "#ffe8a3",
        NodeKind::Collect { .. } | NodeKind::Survey { .. } => "#ffd0a8",
        NodeKind::Play { .. } | NodeKind::Say { .. } => "#d6ecff",
        NodeKind::Queue { .. } | NodeKind::Transfer { .. } => "#c8f0c8",
        NodeKind::Message { .. } | NodeKind::Callback { .. } => "#e6d6ff",
        NodeKind::Hangup { .. } | NodeKind::Return => "#e0e0e0",
        _ => "#ffffff",
    }
}

fn detail(k: &NodeKind) -> String {
    let prompt = |ps: &Vec<Prompt>| {
        ps.first()
            .map(|p| match p {
                Prompt::File(f) => f.clone(),
                Prompt::Text(t) => format!("“{t}”"),
            })
            .unwrap_or_default()
    };
    match k {
        NodeKind::Play { prompts, .. } | NodeKind::Menu { prompts, .. } => prompt(prompts),
        NodeKind::Collect { var, min, max, .. } => format!("{var} ({min}–{max} digits)"),
        NodeKind::Queue {
            group, priority, ..
        } => format!("{group} p{priority}"),
        NodeKind::Transfer { to, .. } => match to {
            TransferTo::Extension(e) => format!("ext {e}"),
            TransferTo::External(n) => format!("tel {n}"),
        },
        NodeKind::Lookup { source, .. } => match source {
            super::flow::LookupSource::Internal(s) => s.clone(),
            super::flow::LookupSource::Http { url, method } => format!("{} {url}", method.as_str()),
        },
        NodeKind::Say { what, .. } => match what {
            SayWhat::Number(v) => format!("number {v}"),
            SayWhat::Digits(v) => format!("digits {v}"),
            SayWhat::Date(v) => format!("date {v}"),
        },
        NodeKind::SubFlow { flow, .. } => format!("→ flow {flow}"),
        NodeKind::Survey { scale, .. } => format!("1–{scale}"),
        NodeKind::Set { vars, rate, .. } => match rate {
            Some(r) => format!("rate {r}"),
            None => vars
                .first()
                .map(|(k, v)| format!("{k}={v}"))
                .unwrap_or_default(),
        },
        _ => String::new(),
    }
}

/// Draws a loaded flow.
pub fn render_svg(flow: &Flow) -> String {
    // Layers by breadth-first distance from start; unreachable nodes go last.
    let mut layer: BTreeMap<&str, usize> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut q = VecDeque::new();
    if flow.nodes.contains_key(&flow.start.node) {
        layer.insert(flow.start.node.as_str(), 0);
        q.push_back(flow.start.node.as_str());
    }
    while let Some(id) = q.pop_front() {
        order.push(id);
        let l = layer[id];
        if let Some(n) = flow.nodes.get(id) {
            for (_, t) in n.kind.edges() {
                if flow.nodes.contains_key(&t.node) && !layer.contains_key(t.node.as_str()) {
                    layer.insert(t.node.as_str(), l + 1);
                    q.push_back(t.node.as_str());
                }
            }
        }
    }
    let last = layer.values().max().map(|m| m + 1).unwrap_or(0);
    for id in flow.nodes.keys() {
        if !layer.contains_key(id.as_str()) {
            layer.insert(id.as_str(), last);
            order.push(id.as_str());
        }
    }
    let mut rows: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for id in &order {
        rows.entry(layer[id]).or_default().push(id);
    }
    let widest = rows.values().map(Vec::len).max().unwrap_or(1).max(1) as f64;
    // Extra room on the right for back edges that loop round the side.
    let width = MARGIN * 2.0 + widest * BOX_W + (widest - 1.0) * GAP_X + 90.0;
    let height = MARGIN * 2.0 + TITLE_H + rows.len() as f64 * (BOX_H + GAP_Y);
    let mut pos: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (r, ids) in &rows {
        let n = ids.len() as f64;
        let row_w = n * BOX_W + (n - 1.0) * GAP_X;
        let x0 = (width - 90.0 - row_w) / 2.0;
        for (i, id) in ids.iter().enumerate() {
            let x = x0 + i as f64 * (BOX_W + GAP_X);
            let y = MARGIN + TITLE_H + *r as f64 * (BOX_H + GAP_Y);
            pos.insert(id, (x, y));
        }
    }

    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif, 'Noto Sans CJK SC'" font-size="12">"##
    );
    let _ = writeln!(
        s,
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#fafafa"/>"##);
    let title = if flow.description.is_empty() {
        format!("flow {}", flow.name)
    } else {
        format!("flow {} — {}", flow.name, flow.description)
    };
    let _ = writeln!(
        s,
        r##"<text x="{MARGIN}" y="{}" font-size="16" font-weight="bold">{}</text>"##,
        MARGIN + 16.0,
        esc(&title)
    );
    // Edges first so boxes sit on top.
    for id in &order {
        let Some(n) = flow.nodes.get(*id) else {
            continue;
        };
        let (x1, y1) = pos[id];
        // One arrow per target, its labels joined ("0, no input, invalid").
        let mut merged: Vec<(String, &str)> = Vec::new();
        for (label, t) in n.kind.edges() {
            match merged.iter_mut().find(|m| m.1 == t.node.as_str()) {
                Some(m) if !label.is_empty() => {
                    if !m.0.is_empty() {
                        m.0.push_str(", ");
                    }
                    m.0.push_str(&label);
                }
                Some(_) => {}
                None => merged.push((label, t.node.as_str())),
            }
        }
        for (label, target) in merged {
            let Some(&(x2, y2)) = pos.get(target) else {
                continue;
            };
            let (sx, sy) = (x1 + BOX_W / 2.0, y1 + BOX_H);
            let same_row = (y2 - y1).abs() < 1.0 && target != *id;
            let path = if y2 > y1 {
                let (ex, ey) = (x2 + BOX_W / 2.0, y2);
                let my = (sy + ey) / 2.0;
                format!("M{sx:.1},{sy:.1} C{sx:.1},{my:.1} {ex:.1},{my:.1} {ex:.1},{ey:.1}")
            } else if same_row {
                // Sideways: an arc under the row, bottom to bottom.
                let ex = x2 + BOX_W / 2.0;
                let dip = sy + 26.0;
                format!("M{sx:.1},{sy:.1} C{sx:.1},{dip:.1} {ex:.1},{dip:.1} {ex:.1},{sy:.1}")
            } else {
                // Back or sideways edge: leave from the right side, loop round to the target's right.
                let (ax, ay) = (x1 + BOX_W, y1 + BOX_H / 2.0);
                let (ex, ey) = (x2 + BOX_W, y2 + BOX_H / 2.0);
                let bulge = ax.max(ex) + 40.0;
                format!("M{ax:.1},{ay:.1} C{bulge:.1},{ay:.1} {bulge:.1},{ey:.1} {ex:.1},{ey:.1}")
            };
            let dash = if ["no input", "fail", "error", "invalid"]
                .iter()
                .any(|w| label.split(", ").all(|l| l == *w))
            {
                r#" stroke-dasharray="5,3""#
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r##"<path d="{path}" fill="none" stroke="#555" stroke-width="1.2"{dash} marker-end="url(#arrow)"/>"##
            );
            if !label.is_empty() {
                let (lx, ly) = if y2 > y1 {
                    ((x1 + x2) / 2.0 + BOX_W / 2.0, (sy + y2) / 2.0)
                } else if same_row {
                    ((x1 + x2) / 2.0 + BOX_W / 2.0, sy + 24.0)
                } else {
                    (x1.max(x2) + BOX_W + 30.0, (y1 + y2) / 2.0 + BOX_H / 2.0)
                };
                let _ = writeln!(
                    s,
                    r##"<text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" font-size="11" fill="#333" stroke="#fafafa" stroke-width="3" paint-order="stroke">{}</text>"##,
                    esc(&label)
                );
            }
        }
    }
    for id in &order {
        let Some(n) = flow.nodes.get(*id) else {
            continue;
        };
        let (x, y) = pos[id];
        let stroke = if *id == flow.start.node {
            "#c00"
        } else {
            "#333"
        };
        let _ = writeln!(
            s,
            r##"<g class="node" id="node-{}"><rect x="{x:.1}" y="{y:.1}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{}" stroke="{stroke}" stroke-width="1.5"/>"##,
            esc(id),
            colour(&n.kind)
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text>"##,
            x + BOX_W / 2.0,
            y + 19.0,
            esc(&short(id, 24))
        );
        let sub = format!("{} {}", n.kind.name(), detail(&n.kind));
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#444">{}</text></g>"##,
            x + BOX_W / 2.0,
            y + 37.0,
            esc(&short(sub.trim(), 28))
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_node_and_escapes_text() {
        let text = "[flow]\nstart = \"a\"\ndescription = \"<x&y>\"\n[nodes.a]\nkind = \"play\"\ntext = \"hi\"\nnext = \"b\"\n[nodes.b]\nkind = \"hangup\"\n";
        let l = load_flow(Path::new("x.toml"), text);
        let svg = render_svg(&l.flow.unwrap());
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains(r#"id="node-a""#) && svg.contains(r#"id="node-b""#));
        assert!(svg.contains("&lt;x&amp;y&gt;"));
        assert!(!svg.contains("<x&y>"));
        assert_eq!(svg.matches("marker-end=").count(), 1);
    }
}
