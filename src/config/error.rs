//! Configuration errors that point at the file, line and column at fault.

use std::fmt;

/// A place in a configuration file, 1-based as editors show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text`.
    pub fn at(file: &str, text: &str, offset: usize) -> Location {
        let offset = offset.min(text.len());
        let before = &text.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        // Columns count characters, not bytes, so Chinese comments do not shift them.
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        Location {
            file: file.to_string(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the expected shape.
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    /// The file parses but a value is not acceptable.
    #[error("{at}: {message}")]
    Invalid { at: Location, message: String },
    /// A rule that spans several files (a DID defined twice, an unknown trunk in the dial plan).
    #[error("{message}")]
    Conflict { message: String },
}

impl ConfigError {
    /// Turns a `toml` deserialisation error into one with a location and a one-line message.
    pub fn from_toml(file: &str, text: &str, err: toml::de::Error) -> ConfigError {
        let offset = err.span().map_or(0, |s| s.start);
        ConfigError::Syntax {
            at: Location::at(file, text, offset),
            message: err.message().trim().replace('\n', " "),
        }
    }

    pub fn invalid(
        file: &str,
        text: &str,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            at: Location::at(file, text, span.start),
            message: message.into(),
        }
    }
}
