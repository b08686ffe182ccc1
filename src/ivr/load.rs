//! Turns the text of one flow file into a [`Flow`], collecting every problem with its span
//! (syntax, unknown kinds and fields, wrong types, bad keys and values) instead of stopping
//! at the first. Graph-level checks (targets, reachability, depth, loops) are in `check`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use super::flow::*;
use super::report::Diag;
use super::spanned::{self, SKey, Span, Sv, SvKind};

/// Node kinds a flow file may use.
pub const NODE_KINDS: &[&str] = &[
    "play", "menu", "collect", "branch", "set", "lookup", "queue", "transfer", "message",
    "callback", "survey", "say", "language", "goto", "subflow", "return", "hangup",
];

/// Bounds that keep a flow sane; they are checked, not silently clamped.
pub const MAX_TIMEOUT_MS: u64 = 120_000;
/// An HTTP lookup's timeout bounds: the caller hears silence meanwhile.
pub const HTTP_LOOKUP_MIN_MS: u64 = 100;
pub const HTTP_LOOKUP_MAX_MS: u64 = 10_000;

/// A lookup `url` must be absolute http(s) with a host; `{var}` may appear in the path and
/// query (values are percent-encoded) but not in the scheme or host, so a caller's input
/// can never pick the server that is called.
pub fn check_lookup_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("must start with http:// or https://".into());
    };
    if !matches!(scheme, "http" | "https") {
        return Err("must start with http:// or https://".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("has no host".into());
    }
    if authority.contains('{') {
        return Err("must not take its host from a variable".into());
    }
    // Placeholders become a plain value for the syntax check.
    let mut probe = String::with_capacity(url.len());
    let mut in_var = false;
    for c in url.chars() {
        match (c, in_var) {
            ('{', false) => in_var = true,
            ('}', true) => {
                in_var = false;
                probe.push('0');
            }
            (_, true) => {}
            (c, false) => probe.push(c),
        }
    }
    let parsed = reqwest::Url::parse(&probe).map_err(|e| format!("is not a valid URL: {e}"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials (they would show in logs and graphs)".into());
    }
    Ok(())
}
pub const MAX_COLLECT_DIGITS: u32 = 32;
pub const MAX_TRIES: u32 = 9;
pub const MAX_MESSAGE_MS: u64 = 600_000;

/// The outcome of loading one file.
pub struct Loaded {
    /// The flow, if the file parsed far enough to have one (it may still carry errors).
    pub flow: Option<Flow>,
    pub diags: Vec<Diag>,
    /// Ids of every node declared, including ones whose definition had errors, so that
    /// a broken node does not also show up as an unknown target.
    pub declared: BTreeSet<String>,
}

/// Loads a flow from its text. `path` names it in messages and locates its prompts.
pub fn load_flow(path: &Path, text: &str) -> Loaded {
    let mut diags = Vec::new();
    let mut declared = BTreeSet::new();
    let root = match spanned::parse(text) {
        Ok(r) => r,
        Err(e) => {
            diags.push(Diag::error(
                e.span,
                format!("TOML syntax error: {}", e.message),
            ));
            return Loaded {
                flow: None,
                diags,
                declared,
            };
        }
    };
    let mut top = Fields::new(&root, root.span.clone(), "the file");
    let header = top.take("flow");
    let nodes_v = top.take("nodes");
    top.finish("top level", &["flow", "nodes"], &mut diags);

    let Some((hkey, header)) = header else {
        diags.push(Diag::error(
            0..0,
            "missing `[flow]` table (it names the flow and its `start` node)",
        ));
        return Loaded {
            flow: None,
            diags,
            declared,
        };
    };
    if header.as_table().is_none() {
        diags.push(type_err(header, "`flow`", "a table"));
        return Loaded {
            flow: None,
            diags,
            declared,
        };
    }
    let mut h = Fields::new(header, hkey.span.clone(), "`[flow]`");
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = h
        .opt_string("name", &mut diags)
        .map(|x| x.0)
        .unwrap_or(stem);
    let description = h
        .opt_string("description", &mut diags)
        .map(|x| x.0)
        .unwrap_or_default();
    let language = h
        .opt_string("language", &mut diags)
        .map(|x| x.0)
        .unwrap_or_else(|| "zh-CN".to_string());
    let languages = h.string_list("languages", &mut diags);
    let dids = h.string_list("dids", &mut diags);
    let start = h.target("start", true, &mut diags);
    h.finish(
        "`[flow]`",
        &[
            "name",
            "description",
            "language",
            "languages",
            "dids",
            "start",
        ],
        &mut diags,
    );

    let mut nodes = std::collections::BTreeMap::new();
    match nodes_v {
        None => diags.push(Diag::error(
            hkey.span.clone(),
            "the flow has no nodes: add `[nodes.<id>]` tables",
        )),
        Some((_, nv)) => match nv.as_table() {
            None => diags.push(type_err(nv, "`nodes`", "a table of nodes")),
            Some(entries) => {
                for (k, v) in entries {
                    declared.insert(k.name.clone());
                    if let Some(n) = load_node(k, v, &mut diags) {
                        nodes.insert(k.name.clone(), n);
                    }
                }
            }
        },
    }

    let flow = start.map(|start| Flow {
        name,
        path: path.to_path_buf(),
        source: Arc::from(text),
        description,
        language,
        languages: languages.into_iter().map(|x| x.0).collect(),
        dids: dids.into_iter().map(|x| x.0).collect(),
        start,
        nodes,
        header_span: hkey.span.clone(),
    });
    Loaded {
        flow,
        diags,
        declared,
    }
}

fn type_err(v: &Sv, what: &str, expected: &str) -> Diag {
    Diag::error(
        v.span.clone(),
        format!("{what} must be {expected}, found {}", v.type_name()),
    )
}

/// Closest word by edit distance, for "did you mean" hints.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(word, c);
        if d <= 2.max(word.chars().count() / 3) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|b| b.1)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

pub(crate) fn hint(word: &str, candidates: &[&str]) -> String {
    match suggest(word, candidates.iter().copied()) {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// The fields of one table, handed out once each; leftovers are unknown fields.
struct Fields<'a> {
    entries: Vec<(&'a SKey, &'a Sv, bool)>,
    /// Where "missing field" errors point.
    at: Span,
    /// What the table is, for messages ("node `welcome`").
    what: String,
}

impl<'a> Fields<'a> {
    fn new(table: &'a Sv, at: Span, what: impl Into<String>) -> Self {
        let entries = table
            .as_table()
            .map(|t| t.iter().map(|(k, v)| (k, v, false)).collect())
            .unwrap_or_default();
        Fields {
            entries,
            at,
            what: what.into(),
        }
    }

    fn take(&mut self, name: &str) -> Option<(&'a SKey, &'a Sv)> {
        let e = self.entries.iter_mut().find(|e| e.0.name == name)?;
        e.2 = true;
        Some((e.0, e.1))
    }

    fn finish(self, what: &str, allowed: &[&str], diags: &mut Vec<Diag>) {
        for (k, _, used) in self.entries {
            if !used {
                diags.push(Diag::error(
                    k.span.clone(),
                    format!(
                        "unknown field `{}` in {what}{}",
                        k.name,
                        hint(&k.name, allowed)
                    ),
                ));
            }
        }
    }

    fn missing(&self, name: &str, diags: &mut Vec<Diag>) {
        diags.push(Diag::error(
            self.at.clone(),
            format!("{} is missing required field `{name}`", self.what),
        ));
    }

    /// Where a field's value is, without taking it.
    fn span_of(&self, name: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|e| e.0.name == name)
            .map(|e| e.1.span.clone())
    }

    fn opt_string(&mut self, name: &str, diags: &mut Vec<Diag>) -> Option<(String, Span)> {
        let (_, v) = self.take(name)?;
        match &v.kind {
            SvKind::Str(s) => Some((s.clone(), v.span.clone())),
            _ => {
                diags.push(type_err(v, &format!("`{name}`"), "a string"));
                None
            }
        }
    }

    fn req_string(&mut self, name: &str, diags: &mut Vec<Diag>) -> Option<(String, Span)> {
        if self.entries.iter().any(|e| e.0.name == name) {
            self.opt_string(name, diags)
        } else {
            self.missing(name, diags);
            None
        }
    }

    fn string_list(&mut self, name: &str, diags: &mut Vec<Diag>) -> Vec<(String, Span)> {
        let Some((_, v)) = self.take(name) else {
            return Vec::new();
        };
        match &v.kind {
            SvKind::Str(s) => vec![(s.clone(), v.span.clone())],
            SvKind::Array(items) => {
                let mut out = Vec::new();
                for i in items {
                    match &i.kind {
                        SvKind::Str(s) => out.push((s.clone(), i.span.clone())),
                        _ => {
                            diags.push(type_err(i, &format!("each entry of `{name}`"), "a string"))
                        }
                    }
                }
                out
            }
            _ => {
                diags.push(type_err(
                    v,
                    &format!("`{name}`"),
                    "a string or an array of strings",
                ));
                Vec::new()
            }
        }
    }

    fn opt_bool(&mut self, name: &str, diags: &mut Vec<Diag>) -> Option<bool> {
        let (_, v) = self.take(name)?;
        match v.kind {
            SvKind::Bool(b) => Some(b),
            _ => {
                diags.push(type_err(v, &format!("`{name}`"), "true or false"));
                None
            }
        }
    }

    fn opt_int(&mut self, name: &str, lo: i64, hi: i64, diags: &mut Vec<Diag>) -> Option<i64> {
        let (_, v) = self.take(name)?;
        match v.kind {
            SvKind::Int(i) if (lo..=hi).contains(&i) => Some(i),
            SvKind::Int(i) => {
                diags.push(Diag::error(
                    v.span.clone(),
                    format!("`{name}` = {i} is out of range: it must be {lo} to {hi}"),
                ));
                None
            }
            _ => {
                diags.push(type_err(v, &format!("`{name}`"), "an integer"));
                None
            }
        }
    }

    /// Seconds (integer or decimal) as milliseconds, within (0, max].
    fn opt_secs(&mut self, name: &str, max_ms: u64, diags: &mut Vec<Diag>) -> Option<u64> {
        let (_, v) = self.take(name)?;
        let secs = match v.kind {
            SvKind::Int(i) => i as f64,
            SvKind::Float(f) => f,
            _ => {
                diags.push(type_err(v, &format!("`{name}`"), "a number of seconds"));
                return None;
            }
        };
        let ms = secs * 1000.0;
        if ms.is_nan() || ms < 1.0 || ms > max_ms as f64 {
            diags.push(Diag::error(
                v.span.clone(),
                format!(
                    "`{name}` = {secs} s is out of range: it must be more than 0 and at most {} s",
                    max_ms / 1000
                ),
            ));
            return None;
        }
        Some(ms as u64)
    }

    fn target(&mut self, name: &str, required: bool, diags: &mut Vec<Diag>) -> Option<Target> {
        let s = if required {
            self.req_string(name, diags)
        } else {
            self.opt_string(name, diags)
        }?;
        Some(Target {
            node: s.0,
            span: s.1,
        })
    }

    /// `prompt` as a file name or a list of them, plus `text` for TTS.
    fn prompts(&mut self, name: &str, text: Option<&str>, diags: &mut Vec<Diag>) -> Vec<Prompt> {
        let mut out: Vec<Prompt> = self
            .string_list(name, diags)
            .into_iter()
            .map(|(s, span)| {
                if s.is_empty() || s.contains("..") || s.starts_with('/') || s.contains('\\') {
                    diags.push(Diag::error(
                        span,
                        format!("bad prompt name `{s}`: use a file name under prompts/<language>/ without `..` or a leading `/`"),
                    ));
                }
                Prompt::File(s)
            })
            .collect();
        if let Some(t) = text {
            if let Some((s, _)) = self.opt_string(t, diags) {
                out.push(Prompt::Text(s));
            }
        }
        out
    }
}

fn parse_key(s: &str, span: &Span, diags: &mut Vec<Diag>) -> Option<char> {
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => Some(c),
        _ => {
            diags.push(Diag::error(
                span.clone(),
                format!("bad key `{s}`: a key is one of 0-9, * or #"),
            ));
            None
        }
    }
}

fn fields_for(kind: &str) -> &'static [&'static str] {
    match kind {
        "play" => &["kind", "prompt", "text", "next"],
        "menu" => &[
            "kind",
            "prompt",
            "text",
            "options",
            "timeout",
            "tries",
            "invalid_prompt",
            "no_input",
            "invalid",
            "operator",
            "back",
        ],
        "collect" => &[
            "kind",
            "prompt",
            "text",
            "var",
            "min",
            "max",
            "terminator",
            "star",
            "first_timeout",
            "inter_digit_timeout",
            "tries",
            "invalid_prompt",
            "next",
            "fail",
        ],
        "branch" => &["kind", "cases", "else"],
        "set" => &["kind", "vars", "rate", "language", "next"],
        "lookup" => &[
            "kind",
            "source",
            "url",
            "method",
            "args",
            "timeout",
            "result",
            "next",
            "not_found",
            "error",
        ],
        "queue" => &["kind", "group", "priority", "after", "fail"],
        "transfer" => &["kind", "extension", "number", "fail"],
        "message" => &["kind", "prompt", "text", "max_seconds", "beep", "next"],
        "callback" => &["kind", "number", "next"],
        "survey" => &[
            "kind",
            "prompt",
            "text",
            "scale",
            "timeout",
            "tries",
            "invalid_prompt",
            "next",
            "fail",
        ],
        "say" => &[
            "kind", "number", "digits", "date", "before", "after", "next",
        ],
        "language" => &["kind", "prompt", "text", "options", "timeout", "next"],
        "goto" => &["kind", "target"],
        "subflow" => &["kind", "flow", "next"],
        "return" => &["kind"],
        "hangup" => &["kind", "prompt", "text"],
        _ => &["kind"],
    }
}

fn load_node(key: &SKey, v: &Sv, diags: &mut Vec<Diag>) -> Option<Node> {
    if v.as_table().is_none() {
        diags.push(type_err(v, &format!("node `{}`", key.name), "a table"));
        return None;
    }
    let before = diags.len();
    let mut f = Fields::new(v, key.span.clone(), format!("node `{}`", key.name));
    let (kind, kspan) = match f.take("kind") {
        None => {
            diags.push(Diag::error(
                key.span.clone(),
                format!(
                    "node `{}` has no `kind` (one of: {})",
                    key.name,
                    NODE_KINDS.join(", ")
                ),
            ));
            return None;
        }
        Some((_, kv)) => match kv.as_str() {
            Some(s) => (s.to_string(), kv.span.clone()),
            None => {
                diags.push(type_err(kv, "`kind`", "a string"));
                return None;
            }
        },
    };
    if !NODE_KINDS.contains(&kind.as_str()) {
        diags.push(Diag::error(
            kspan,
            format!(
                "unknown node kind `{kind}`{}; known kinds: {}",
                hint(&kind, NODE_KINDS),
                NODE_KINDS.join(", ")
            ),
        ));
        return None;
    }
    let d = diags;
    let nk = match kind.as_str() {
        "play" => {
            let prompts = f.prompts("prompt", Some("text"), d);
            if prompts.is_empty() {
                d.push(Diag::error(
                    key.span.clone(),
                    "a play node needs `prompt` or `text`",
                ));
            }
            let next = f.target("next", true, d);
            next.map(|next| NodeKind::Play { prompts, next })
        }
        "menu" => load_menu(&mut f, key, d),
        "collect" => load_collect(&mut f, key, d),
        "branch" => load_branch(&mut f, d),
        "set" => {
            let mut vars = Vec::new();
            if let Some((_, t)) = f.take("vars") {
                match t.as_table() {
                    Some(entries) => {
                        for (k, val) in entries {
                            match val.as_str() {
                                Some(s) => vars.push((k.name.clone(), s.to_string())),
                                None => d.push(type_err(
                                    val,
                                    &format!("variable `{}`", k.name),
                                    "a string",
                                )),
                            }
                        }
                    }
                    None => d.push(type_err(t, "`vars`", "a table of name = \"value\"")),
                }
            }
            let rate = match f.take("rate") {
                None => None,
                Some((_, r)) => {
                    let x = match r.kind {
                        SvKind::Float(x) => Some(x),
                        SvKind::Int(i) => Some(i as f64),
                        _ => None,
                    };
                    match x {
                        Some(x) if (0.5..=2.0).contains(&x) => Some(x as f32),
                        _ => {
                            d.push(Diag::error(
                                r.span.clone(),
                                "`rate` must be a number from 0.5 to 2.0 (0.7 = 30% slower)",
                            ));
                            None
                        }
                    }
                }
            };
            let language = f.opt_string("language", d).map(|x| x.0);
            let next = f.target("next", true, d);
            next.map(|next| NodeKind::Set {
                vars,
                rate,
                language,
                next,
            })
        }
        "lookup" => {
            let source = f.opt_string("source", d);
            let url = f.opt_string("url", d);
            // The HTTP bounds apply to a `url` lookup even when its url itself is refused.
            let is_http = url.is_some();
            let method = f.opt_string("method", d);
            let method = match (&url, method) {
                (_, None) => Some(HttpMethod::default()),
                (Some(_), Some((m, span))) => match m.to_ascii_uppercase().as_str() {
                    "GET" => Some(HttpMethod::Get),
                    "POST" => Some(HttpMethod::Post),
                    _ => {
                        d.push(Diag::error(
                            span,
                            format!("`method` = \"{m}\" must be \"GET\" or \"POST\""),
                        ));
                        None
                    }
                },
                (None, Some((_, span))) => {
                    d.push(Diag::error(span, "`method` applies to `url` lookups only"));
                    None
                }
            };
            let source = match (source, url) {
                (Some((s, _)), None) => Some(LookupSource::Internal(s)),
                (None, Some((u, span))) => match check_lookup_url(&u) {
                    Ok(()) => method.map(|method| LookupSource::Http { url: u, method }),
                    Err(e) => {
                        d.push(Diag::error(span, format!("`url` = \"{u}\" {e}")));
                        None
                    }
                },
                (Some(_), Some((_, span))) => {
                    d.push(Diag::error(span, "give either `source` or `url`, not both"));
                    None
                }
                (None, None) => {
                    d.push(Diag::error(
                        key.span.clone(),
                        "a lookup node needs `source` (an internal query) or `url`",
                    ));
                    None
                }
            };
            // The caller waits in silence while a web service answers: bounded tighter.
            let timeout_span = f.span_of("timeout");
            let max_ms = if is_http { HTTP_LOOKUP_MAX_MS } else { 30_000 };
            let timeout_ms = f.opt_secs("timeout", max_ms, d);
            if let (true, Some(ms), Some(span)) = (is_http, timeout_ms, timeout_span) {
                if ms < HTTP_LOOKUP_MIN_MS {
                    d.push(Diag::error(
                        span,
                        format!(
                            "`timeout` = {} s is too short for an HTTP lookup: at least {} s",
                            ms as f64 / 1000.0,
                            HTTP_LOOKUP_MIN_MS as f64 / 1000.0
                        ),
                    ));
                }
            }
            let timeout_ms = timeout_ms.unwrap_or(3_000);
            let args = string_table(&mut f, "args", d);
            let result = f
                .opt_string("result", d)
                .map(|x| x.0)
                .unwrap_or_else(|| "lookup".into());
            let next = f.target("next", true, d);
            let not_found = f.target("not_found", true, d);
            let error = f.target("error", true, d);
            match (source, next, not_found, error) {
                (Some(source), Some(next), Some(not_found), Some(error)) => {
                    Some(NodeKind::Lookup {
                        source,
                        args,
                        timeout_ms,
                        result,
                        next,
                        not_found,
                        error,
                    })
                }
                _ => None,
            }
        }
        "queue" => {
            let group = f.req_string("group", d).map(|x| x.0);
            let priority = f.opt_int("priority", 0, 9, d).unwrap_or(0) as u8;
            let after = f.target("after", false, d);
            let fail = f.target("fail", true, d);
            match (group, fail) {
                (Some(group), Some(fail)) => Some(NodeKind::Queue {
                    group,
                    priority,
                    after,
                    fail,
                }),
                _ => None,
            }
        }
        "transfer" => {
            let ext = f.opt_string("extension", d);
            let num = f.opt_string("number", d);
            let to = match (ext, num) {
                (Some((e, _)), None) => Some(TransferTo::Extension(e)),
                (None, Some((n, _))) => Some(TransferTo::External(n)),
                (Some(_), Some((_, span))) => {
                    d.push(Diag::error(
                        span,
                        "give either `extension` or `number`, not both",
                    ));
                    None
                }
                (None, None) => {
                    d.push(Diag::error(
                        key.span.clone(),
                        "a transfer node needs `extension` or `number`",
                    ));
                    None
                }
            };
            let fail = f.target("fail", true, d);
            match (to, fail) {
                (Some(to), Some(fail)) => Some(NodeKind::Transfer { to, fail }),
                _ => None,
            }
        }
        "message" => {
            let prompts = f.prompts("prompt", Some("text"), d);
            let max_ms = f
                .opt_secs("max_seconds", MAX_MESSAGE_MS, d)
                .unwrap_or(120_000);
            let beep = f.opt_bool("beep", d).unwrap_or(true);
            let next = f.target("next", true, d);
            next.map(|next| NodeKind::Message {
                prompts,
                max_ms,
                beep,
                next,
            })
        }
        "callback" => {
            let number = f
                .opt_string("number", d)
                .map(|x| x.0)
                .unwrap_or_else(|| "{caller}".into());
            let next = f.target("next", true, d);
            next.map(|next| NodeKind::Callback { number, next })
        }
        "survey" => {
            let prompts = f.prompts("prompt", Some("text"), d);
            if prompts.is_empty() {
                f.missing("prompt", d);
            }
            let scale = f.opt_int("scale", 2, 9, d).unwrap_or(5) as u8;
            let timeout_ms = f.opt_secs("timeout", MAX_TIMEOUT_MS, d).unwrap_or(10_000);
            let tries = f.opt_int("tries", 1, MAX_TRIES as i64, d).unwrap_or(2) as u32;
            let invalid_prompts = invalid_prompts(&mut f, d);
            let next = f.target("next", true, d);
            let fail = f.target("fail", true, d);
            match (next, fail) {
                (Some(next), Some(fail)) => Some(NodeKind::Survey {
                    prompts,
                    scale,
                    timeout_ms,
                    tries,
                    invalid_prompts,
                    next,
                    fail,
                }),
                _ => None,
            }
        }
        "say" => {
            let n = f.opt_string("number", d).map(|x| SayWhat::Number(x.0));
            let g = f.opt_string("digits", d).map(|x| SayWhat::Digits(x.0));
            let t = f.opt_string("date", d).map(|x| SayWhat::Date(x.0));
            let whats: Vec<SayWhat> = [n, g, t].into_iter().flatten().collect();
            let what = if whats.len() == 1 {
                whats.into_iter().next()
            } else {
                d.push(Diag::error(
                    key.span.clone(),
                    "a say node needs exactly one of `number`, `digits` or `date`",
                ));
                None
            };
            let before = f.prompts("before", None, d);
            let after = f.prompts("after", None, d);
            let next = f.target("next", true, d);
            match (what, next) {
                (Some(what), Some(next)) => Some(NodeKind::Say {
                    what,
                    before,
                    after,
                    next,
                }),
                _ => None,
            }
        }
        "language" => {
            let prompts = f.prompts("prompt", Some("text"), d);
            let mut options = Vec::new();
            match f.take("options") {
                None => f.missing("options", d),
                Some((_, t)) => match t.as_table() {
                    None => d.push(type_err(t, "`options`", "a table of key = \"language\"")),
                    Some(entries) => {
                        for (k, val) in entries {
                            let key = parse_key(&k.name, &k.span, d);
                            match (key, val.as_str()) {
                                (Some(c), Some(lang)) => {
                                    options.push((c, k.span.clone(), lang.to_string()))
                                }
                                (_, None) => d.push(type_err(
                                    val,
                                    &format!("option `{}`", k.name),
                                    "a language such as \"zh-CN\"",
                                )),
                                _ => {}
                            }
                        }
                    }
                },
            }
            let timeout_ms = f.opt_secs("timeout", MAX_TIMEOUT_MS, d).unwrap_or(5_000);
            let next = f.target("next", true, d);
            next.map(|next| NodeKind::Language {
                prompts,
                options,
                timeout_ms,
                next,
            })
        }
        "goto" => f
            .target("target", true, d)
            .map(|target| NodeKind::Goto { target }),
        "subflow" => {
            let flow = f.req_string("flow", d);
            let next = f.target("next", false, d);
            flow.map(|(flow, flow_span)| NodeKind::SubFlow {
                flow,
                flow_span,
                next,
            })
        }
        "return" => Some(NodeKind::Return),
        "hangup" => Some(NodeKind::Hangup {
            prompts: f.prompts("prompt", Some("text"), d),
        }),
        _ => None,
    };
    f.finish(&format!("a {kind} node"), fields_for(&kind), d);
    if d.len() > before {
        return None;
    }
    nk.map(|kind| Node {
        id: key.name.clone(),
        span: key.span.clone(),
        kind,
    })
}

fn invalid_prompts(f: &mut Fields<'_>, d: &mut Vec<Diag>) -> Vec<Prompt> {
    if f.entries.iter().any(|e| e.0.name == "invalid_prompt") {
        f.prompts("invalid_prompt", None, d)
    } else {
        vec![Prompt::File("invalid_key".into())]
    }
}

fn string_table(f: &mut Fields<'_>, name: &str, d: &mut Vec<Diag>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some((_, t)) = f.take(name) {
        match t.as_table() {
            Some(entries) => {
                for (k, v) in entries {
                    match v.as_str() {
                        Some(s) => out.push((k.name.clone(), s.to_string())),
                        None => d.push(type_err(v, &format!("`{}`", k.name), "a string")),
                    }
                }
            }
            None => d.push(type_err(t, &format!("`{name}`"), "a table")),
        }
    }
    out
}

fn load_menu(f: &mut Fields<'_>, key: &SKey, d: &mut Vec<Diag>) -> Option<NodeKind> {
    let prompts = f.prompts("prompt", Some("text"), d);
    if prompts.is_empty() {
        f.missing("prompt", d);
    }
    let mut options = Vec::new();
    match f.take("options") {
        None => f.missing("options", d),
        Some((_, t)) => match t.as_table() {
            None => d.push(type_err(t, "`options`", "a table of key = \"node\"")),
            Some(entries) => {
                for (k, v) in entries {
                    let Some(c) = parse_key(&k.name, &k.span, d) else {
                        continue;
                    };
                    let (target, label) = match &v.kind {
                        SvKind::Str(s) => (
                            Some(Target {
                                node: s.clone(),
                                span: v.span.clone(),
                            }),
                            None,
                        ),
                        SvKind::Table(_) => {
                            let mut of =
                                Fields::new(v, k.span.clone(), format!("menu option `{}`", k.name));
                            let t = of.target("goto", true, d);
                            let l = of.opt_string("label", d).map(|x| x.0);
                            of.finish(&format!("menu option `{}`", k.name), &["goto", "label"], d);
                            (t, l)
                        }
                        _ => {
                            d.push(type_err(
                                v,
                                &format!("option `{}`", k.name),
                                "a node id or { goto = \"node\", label = \"prompt\" }",
                            ));
                            (None, None)
                        }
                    };
                    if let Some(target) = target {
                        options.push(MenuOption {
                            key: c,
                            key_span: k.span.clone(),
                            target,
                            label,
                        });
                    }
                }
                if entries.is_empty() {
                    d.push(Diag::error(
                        t.span.clone(),
                        "a menu needs at least one option",
                    ));
                }
            }
        },
    }
    let timeout_ms = f.opt_secs("timeout", MAX_TIMEOUT_MS, d).unwrap_or(10_000);
    let tries = f.opt_int("tries", 1, MAX_TRIES as i64, d).unwrap_or(3) as u32;
    let invalid_prompts = invalid_prompts(f, d);
    let no_input = f.target("no_input", true, d);
    let invalid = f.target("invalid", false, d);
    let operator = f.target("operator", false, d);
    let back = f.opt_bool("back", d).unwrap_or(true);
    for o in &options {
        if o.key == '*' && back {
            d.push(Diag::error(
                o.key_span.clone(),
                "key `*` goes back to the previous menu; set `back = false` to use it as an option",
            ));
        }
        if o.key == '0' && operator.is_some() {
            d.push(Diag::error(
                o.key_span.clone(),
                "key `0` is taken by `operator`; use another key or remove `operator`",
            ));
        }
    }
    let _ = key;
    no_input.map(|no_input| NodeKind::Menu {
        prompts,
        options,
        timeout_ms,
        tries,
        invalid_prompts,
        no_input,
        invalid,
        operator,
        back,
    })
}

fn load_collect(f: &mut Fields<'_>, key: &SKey, d: &mut Vec<Diag>) -> Option<NodeKind> {
    let prompts = f.prompts("prompt", Some("text"), d);
    if prompts.is_empty() {
        f.missing("prompt", d);
    }
    let var = f.req_string("var", d).map(|x| x.0);
    let min = f
        .opt_int("min", 1, MAX_COLLECT_DIGITS as i64, d)
        .unwrap_or(1) as u32;
    let max_field = f.take("max");
    let max = match max_field {
        None => {
            f.missing("max", d);
            None
        }
        Some((_, v)) => match v.kind {
            SvKind::Int(i) if (1..=MAX_COLLECT_DIGITS as i64).contains(&i) => {
                if (i as u32) < min {
                    d.push(Diag::error(
                        v.span.clone(),
                        format!("`max` = {i} is less than `min` = {min}"),
                    ));
                }
                Some(i as u32)
            }
            SvKind::Int(i) => {
                d.push(Diag::error(
                    v.span.clone(),
                    format!("`max` = {i} is out of range: it must be 1 to {MAX_COLLECT_DIGITS}"),
                ));
                None
            }
            _ => {
                d.push(type_err(v, "`max`", "an integer"));
                None
            }
        },
    };
    let terminator = match f.opt_string("terminator", d) {
        None => Some('#'),
        Some((s, _)) if s.is_empty() => None,
        Some((s, span)) => match parse_key(&s, &span, d) {
            Some(c) if c == '#' || c == '*' => Some(c),
            Some(c) => {
                d.push(Diag::error(
                    span,
                    format!("terminator `{c}` is a digit, so that digit could never be entered; use # or *"),
                ));
                None
            }
            None => None,
        },
    };
    let star = match f.opt_string("star", d) {
        None => StarKey::Clear,
        Some((s, span)) => match s.as_str() {
            "clear" => StarKey::Clear,
            "X" | "x" => StarKey::LetterX,
            _ => {
                d.push(Diag::error(
                    span,
                    format!("`star` = \"{s}\": expected \"clear\" or \"X\""),
                ));
                StarKey::Clear
            }
        },
    };
    if terminator == Some('*') && star == StarKey::LetterX {
        d.push(Diag::error(
            key.span.clone(),
            "`*` cannot be both the terminator and the letter X",
        ));
    }
    let first_timeout_ms = f
        .opt_secs("first_timeout", MAX_TIMEOUT_MS, d)
        .unwrap_or(10_000);
    let inter_digit_timeout_ms = f
        .opt_secs("inter_digit_timeout", MAX_TIMEOUT_MS, d)
        .unwrap_or(5_000);
    let tries = f.opt_int("tries", 1, MAX_TRIES as i64, d).unwrap_or(3) as u32;
    let invalid_prompts = invalid_prompts(f, d);
    let next = f.target("next", true, d);
    let fail = f.target("fail", true, d);
    match (var, max, next, fail) {
        (Some(var), Some(max), Some(next), Some(fail)) => Some(NodeKind::Collect {
            prompts,
            var,
            min,
            max,
            terminator,
            star,
            first_timeout_ms,
            inter_digit_timeout_ms,
            tries,
            invalid_prompts,
            next,
            fail,
        }),
        _ => None,
    }
}

const DAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_hm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    if h > 24 || m > 59 || (h == 24 && m != 0) || s.trim().len() > 5 {
        return None;
    }
    Some(h * 60 + m)
}

fn load_branch(f: &mut Fields<'_>, d: &mut Vec<Diag>) -> Option<NodeKind> {
    let mut cases = Vec::new();
    match f.take("cases") {
        None => {}
        Some((_, arr)) => match &arr.kind {
            SvKind::Array(items) => {
                for it in items {
                    if it.as_table().is_none() {
                        d.push(type_err(it, "each case", "a table"));
                        continue;
                    }
                    if let Some(c) = load_case(it, d) {
                        cases.push(c);
                    }
                }
            }
            _ => d.push(type_err(arr, "`cases`", "an array of tables")),
        },
    }
    let otherwise = f.target("else", true, d);
    otherwise.map(|otherwise| NodeKind::Branch { cases, otherwise })
}

fn load_case(it: &Sv, d: &mut Vec<Diag>) -> Option<Case> {
    let errors_before = d.len();
    let mut cf = Fields::new(it, it.span.clone(), "a branch case");
    let mut c = Condition {
        var: cf.opt_string("var", d).map(|x| x.0),
        equals: cf.opt_string("equals", d).map(|x| x.0),
        ..Default::default()
    };
    if let Some((_, v)) = cf.take("in") {
        match &v.kind {
            SvKind::Array(xs) => {
                c.one_of = Some(
                    xs.iter()
                        .filter_map(|x| match x.as_str() {
                            Some(s) => Some(s.to_string()),
                            None => {
                                d.push(type_err(x, "each entry of `in`", "a string"));
                                None
                            }
                        })
                        .collect(),
                )
            }
            _ => d.push(type_err(v, "`in`", "an array of strings")),
        }
    }
    c.prefix = cf.opt_string("prefix", d).map(|x| x.0);
    c.empty = cf.opt_bool("empty", d);
    c.caller_in = cf.opt_string("caller_in", d).map(|x| x.0);
    if let Some((s, span)) = cf.opt_string("time", d) {
        match s
            .split_once('-')
            .and_then(|(a, b)| Some((parse_hm(a)?, parse_hm(b)?)))
        {
            Some(w) => c.time = Some(w),
            None => d.push(Diag::error(
                span,
                format!("`time` = \"{s}\": expected \"HH:MM-HH:MM\", e.g. \"08:30-17:30\""),
            )),
        }
    }
    let days = cf.string_list("days", d);
    if !days.is_empty() {
        let mut out = Vec::new();
        for (s, span) in days {
            let parts: Vec<&str> = s.split('-').collect();
            let idx = |p: &str| {
                DAYS.iter()
                    .position(|x| *x == p.trim().to_ascii_lowercase())
            };
            match parts.as_slice() {
                [one] => match idx(one) {
                    Some(i) => out.push(i as u8),
                    None => d.push(Diag::error(
                        span,
                        format!("unknown day `{s}`: use mon..sun or a range like \"mon-fri\""),
                    )),
                },
                [a, b] => match (idx(a), idx(b)) {
                    (Some(a), Some(b)) if a <= b => out.extend((a..=b).map(|i| i as u8)),
                    _ => d.push(Diag::error(
                        span,
                        format!("bad day range `{s}`: use e.g. \"mon-fri\""),
                    )),
                },
                _ => d.push(Diag::error(
                    span,
                    format!("bad day range `{s}`: use e.g. \"mon-fri\""),
                )),
            }
        }
        c.days = Some(out);
    }
    c.working_time = cf.opt_bool("working_time", d);
    let goto = cf.target("goto", true, d);
    let var_tests =
        c.equals.is_some() || c.one_of.is_some() || c.prefix.is_some() || c.empty.is_some();
    if var_tests && c.var.is_none() {
        d.push(Diag::error(
            it.span.clone(),
            "`equals`, `in`, `prefix` and `empty` test a variable: add `var = \"name\"`",
        ));
    }
    if c.var.is_some() && !var_tests {
        d.push(Diag::error(
            it.span.clone(),
            "`var` needs a test: `equals`, `in`, `prefix` or `empty`",
        ));
    }
    if d.len() == errors_before
        && !var_tests
        && c.caller_in.is_none()
        && c.time.is_none()
        && c.days.is_none()
        && c.working_time.is_none()
    {
        d.push(Diag::error(
            it.span.clone(),
            "a case needs a condition: `var` with a test, `caller_in`, `time`, `days` or `working_time`",
        ));
    }
    cf.finish(
        "a branch case",
        &[
            "var",
            "equals",
            "in",
            "prefix",
            "empty",
            "caller_in",
            "time",
            "days",
            "working_time",
            "goto",
        ],
        d,
    );
    goto.map(|goto| Case { when: c, goto })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Loaded {
        load_flow(Path::new("t.toml"), text)
    }

    #[test]
    fn loads_a_small_flow() {
        let l = load(
            "[flow]\nstart = \"m\"\n[nodes.m]\nkind = \"menu\"\nprompt = \"menu\"\nno_input = \"h\"\noptions = { \"1\" = \"h\", \"2\" = { goto = \"h\", label = \"x\" } }\n[nodes.h]\nkind = \"hangup\"\n",
        );
        assert!(l.diags.is_empty(), "{:?}", l.diags);
        let f = l.flow.unwrap();
        assert_eq!(f.name, "t");
        match &f.nodes["m"].kind {
            NodeKind::Menu {
                options,
                tries,
                timeout_ms,
                ..
            } => {
                assert_eq!(options.len(), 2);
                assert_eq!(options[1].label.as_deref(), Some("x"));
                assert_eq!((*tries, *timeout_ms), (3, 10_000));
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("plya", NODE_KINDS.iter().copied()), Some("play"));
        assert_eq!(suggest("zzzzzz", NODE_KINDS.iter().copied()), None);
    }

    #[test]
    fn time_windows() {
        assert_eq!(parse_hm("08:30"), Some(510));
        assert_eq!(parse_hm("24:00"), Some(1440));
        assert_eq!(parse_hm("25:00"), None);
        assert_eq!(parse_hm("8"), None);
    }
}
