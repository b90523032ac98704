//! Located diagnostics: `file:line:col`, the component, the key, and a suggestion, rendered the
//! way compilers do (a source excerpt with a caret under the culprit).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The pipeline is refused.
    Error,
    /// The pipeline runs, but something looks wrong.
    Warning,
}

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The pipeline file.
    pub file: PathBuf,
    /// 1-based line (0 when the problem has no position, e.g. an unreadable file).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The component (`sources.pages`), if the problem is inside one.
    pub component: Option<String>,
    /// The key (dotted), if the problem is about one.
    pub key: Option<String>,
    /// How to fix it.
    pub help: Option<String>,
    excerpt: Option<Excerpt>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Excerpt {
    line_text: String,
    underline_from: usize,
    underline_len: usize,
}

/// Byte offsets to 1-based line/column, with the line's text.
#[derive(Debug, Clone)]
pub struct SourceText {
    /// The file name used in messages.
    pub file: PathBuf,
    text: String,
    line_starts: Vec<usize>,
}

impl SourceText {
    /// Indexes `text` (the content of `file`).
    pub fn new(file: &Path, text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            file: file.to_path_buf(),
            text: text.to_owned(),
            line_starts,
        }
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based (line, column) of byte offset `pos`.
    pub fn line_col(&self, pos: usize) -> (usize, usize) {
        let pos = pos.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= pos).max(1);
        let start = self.line_starts[line - 1];
        let column = self
            .text
            .get(start..pos)
            .map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }

    fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
        let end = self.line_starts.get(line).map_or(self.text.len(), |&e| e);
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// A diagnostic at `span`.
    pub fn diagnostic(
        &self,
        severity: Severity,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Diagnostic {
        let (line, column, excerpt) = match span {
            Some(span) => {
                let (line, column) = self.line_col(span.start);
                let line_text = self.line_text(line).to_owned();
                let (end_line, end_col) = self.line_col(span.end.max(span.start));
                let underline_len = if end_line == line && end_col > column {
                    end_col - column
                } else {
                    line_text.chars().count().saturating_sub(column - 1).max(1)
                };
                (
                    line,
                    column,
                    Some(Excerpt {
                        line_text,
                        underline_from: column,
                        underline_len,
                    }),
                )
            }
            None => (0, 0, None),
        };
        Diagnostic {
            severity,
            message: message.into(),
            file: self.file.clone(),
            line,
            column,
            component: None,
            key: None,
            help: None,
            excerpt,
        }
    }
}

impl Diagnostic {
    /// A diagnostic without a position (unreadable file, ...).
    pub fn unlocated(severity: Severity, file: &Path, message: impl Into<String>) -> Self {
        Self {
            severity,
            message: message.into(),
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            component: None,
            key: None,
            help: None,
            excerpt: None,
        }
    }

    /// Sets the component.
    #[must_use]
    pub fn component(mut self, component: impl Into<String>) -> Self {
        self.component = Some(component.into());
        self
    }

    /// Sets the key.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the help line.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the help line if `help` is `Some`.
    #[must_use]
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// `file:line:col` (or just the file).
    pub fn location(&self) -> String {
        if self.line == 0 {
            self.file.display().to_string()
        } else {
            format!("{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }

    /// Replaces every occurrence of each secret by `***` (interpolated values may be secrets and
    /// parser messages can echo a value back).
    pub(crate) fn scrub(&mut self, secrets: &[String]) {
        for secret in secrets.iter().filter(|s| s.len() >= 3) {
            for text in [Some(&mut self.message), self.help.as_mut()]
                .into_iter()
                .flatten()
            {
                if text.contains(secret.as_str()) {
                    *text = text.replace(secret.as_str(), "***");
                }
            }
            if let Some(excerpt) = &mut self.excerpt {
                // The excerpt is the file's own text, which holds `${VAR}`, not the value; scrub
                // anyway in case a secret was written into the file literally.
                if excerpt.line_text.contains(secret.as_str()) {
                    excerpt.line_text = excerpt.line_text.replace(secret.as_str(), "***");
                }
            }
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{label}: {}", self.message)?;
        write!(f, "  --> {}", self.location())?;
        if let Some(component) = &self.component {
            write!(f, " [{component}")?;
            if let Some(key) = &self.key {
                write!(f, ".{key}")?;
            }
            write!(f, "]")?;
        }
        writeln!(f)?;
        if let Some(e) = &self.excerpt {
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            writeln!(f, "{pad} |")?;
            writeln!(f, "{num} | {}", e.line_text)?;
            let lead: String = e
                .line_text
                .chars()
                .take(e.underline_from.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "{pad} | {lead}{}", "^".repeat(e.underline_len.max(1)))?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

/// Every error (and warning) found in a pipeline file.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    /// Sorted by position; errors and warnings mixed.
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigErrors {
    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        let n = self.errors().count();
        write!(
            f,
            "{n} error{} in the pipeline file",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for ConfigErrors {}

/// The closest candidate to `word`, if it is close enough to be a plausible typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "did you mean `x`?" for the closest candidate, if any.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    suggest(word, candidates).map(|s| format!("did you mean `{s}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let src = SourceText::new(Path::new("p.toml"), "a = 1\nné = \"x\"\n");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(6), (2, 1));
        // `=` after a two-byte character is column 4, not 5.
        let eq = src.text().find("= \"").unwrap();
        assert_eq!(src.line_col(eq), (2, 4));
    }

    #[test]
    fn renders_location_excerpt_and_help() {
        let src = SourceText::new(Path::new("p.toml"), "[sinks.x]\npaht = 1\n");
        let d = src
            .diagnostic(Severity::Error, Some(10..14), "unknown key `paht`")
            .component("sinks.x")
            .key("paht")
            .help("did you mean `path`?");
        let text = d.to_string();
        assert!(text.contains("p.toml:2:1 [sinks.x.paht]"), "{text}");
        assert!(text.contains("2 | paht = 1"), "{text}");
        assert!(text.contains("  | ^^^^\n"), "{text}");
        assert!(text.contains("help: did you mean `path`?"), "{text}");
    }

    #[test]
    fn suggests_only_plausible_typos() {
        assert_eq!(
            suggest("instagrm", ["messenger", "instagram"]),
            Some("instagram")
        );
        assert_eq!(suggest("zzz", ["messenger", "instagram"]), None);
    }
}
