//! A TOML document as a tree of values that each remember their byte span, so every
//! flow-file error can name its line and column (built on `toml_edit`'s parser).

use std::ops::Range;

/// Byte range in the source text.
pub type Span = Range<usize>;

/// One TOML value with the span it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sv {
    pub span: Span,
    pub kind: SvKind,
}

/// A table key with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct SKey {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SvKind {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Sv>),
    Table(Vec<(SKey, Sv)>),
}

impl Sv {
    /// The TOML type name, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            SvKind::Str(_) => "a string",
            SvKind::Int(_) => "an integer",
            SvKind::Float(_) => "a float",
            SvKind::Bool(_) => "a boolean",
            SvKind::Datetime(_) => "a date-time",
            SvKind::Array(_) => "an array",
            SvKind::Table(_) => "a table",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            SvKind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&[(SKey, Sv)]> {
        match &self.kind {
            SvKind::Table(t) => Some(t),
            _ => None,
        }
    }

    /// Looks up a key of a table value.
    pub fn get(&self, key: &str) -> Option<(&SKey, &Sv)> {
        self.as_table()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, v)| (k, v))
    }
}

/// A TOML syntax error with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
}

/// Parses TOML text into a spanned tree. The root is a table.
pub fn parse(text: &str) -> Result<Sv, SyntaxError> {
    let doc = toml_edit::ImDocument::parse(text).map_err(|e| SyntaxError {
        span: e.span().unwrap_or(0..0),
        // toml_edit's message repeats the source excerpt; keep only the explanation lines.
        message: clean_message(e.message()),
    })?;
    Ok(table(doc.as_table(), 0..0))
}

fn clean_message(m: &str) -> String {
    m.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn table(t: &toml_edit::Table, fallback: Span) -> Sv {
    let span = t.span().unwrap_or(fallback);
    let mut out = Vec::with_capacity(t.len());
    for (name, _) in t.iter() {
        if let Some((k, item)) = t.get_key_value(name) {
            let kspan = k.span().unwrap_or(span.clone());
            if let Some(v) = self::item(item, kspan.clone()) {
                out.push((
                    SKey {
                        name: name.to_string(),
                        span: kspan,
                    },
                    v,
                ));
            }
        }
    }
    Sv {
        span,
        kind: SvKind::Table(out),
    }
}

fn item(i: &toml_edit::Item, fallback: Span) -> Option<Sv> {
    match i {
        toml_edit::Item::None => None,
        toml_edit::Item::Value(v) => Some(value(v, fallback)),
        toml_edit::Item::Table(t) => Some(table(t, fallback)),
        toml_edit::Item::ArrayOfTables(a) => {
            let span = a.span().unwrap_or(fallback.clone());
            let items = a.iter().map(|t| table(t, span.clone())).collect();
            Some(Sv {
                span,
                kind: SvKind::Array(items),
            })
        }
    }
}

fn value(v: &toml_edit::Value, fallback: Span) -> Sv {
    use toml_edit::Value as V;
    let span = v.span().unwrap_or(fallback);
    let kind = match v {
        V::String(s) => SvKind::Str(s.value().clone()),
        V::Integer(i) => SvKind::Int(*i.value()),
        V::Float(f) => SvKind::Float(*f.value()),
        V::Boolean(b) => SvKind::Bool(*b.value()),
        V::Datetime(d) => SvKind::Datetime(d.value().to_string()),
        V::Array(a) => SvKind::Array(a.iter().map(|x| value(x, span.clone())).collect()),
        V::InlineTable(t) => {
            let mut out = Vec::with_capacity(t.len());
            for (name, _) in t.iter() {
                if let Some((k, it)) = t.get_key_value(name) {
                    let kspan = k.span().unwrap_or(span.clone());
                    if let Some(x) = item(it, kspan.clone()) {
                        out.push((
                            SKey {
                                name: name.to_string(),
                                span: kspan,
                            },
                            x,
                        ));
                    }
                }
            }
            SvKind::Table(out)
        }
    };
    Sv { span, kind }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut line = 1;
    let mut col = 1;
    for (i, ch) in text.char_indices() {
        if i >= offset {
            break;
        }
        if ch == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_at_keys_and_values() {
        let text =
            "[flow]\nstart = \"a\"\n\n[nodes.a]\nkind = \"play\"\nopts = { \"1\" = \"b\" }\n";
        let root = parse(text).unwrap();
        let (_, nodes) = root.get("nodes").unwrap();
        let (k, a) = nodes.get("a").unwrap();
        assert_eq!(line_col(text, k.span.start), (4, 8));
        let (_, kind) = a.get("kind").unwrap();
        assert_eq!(kind.as_str(), Some("play"));
        assert_eq!(line_col(text, kind.span.start), (5, 8));
        let (_, opts) = a.get("opts").unwrap();
        let (k1, v1) = opts.get("1").unwrap();
        assert_eq!(line_col(text, k1.span.start), (6, 10));
        assert_eq!(line_col(text, v1.span.start), (6, 16));
    }

    #[test]
    fn syntax_error_has_a_span() {
        let text = "[flow]\nstart = \n";
        let e = parse(text).unwrap_err();
        assert_eq!(line_col(text, e.span.start).0, 2);
        assert!(!e.message.is_empty());
    }

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let text = "a = \"你好\" x";
        assert_eq!(line_col(text, text.find('x').unwrap()), (1, 10));
    }
}
