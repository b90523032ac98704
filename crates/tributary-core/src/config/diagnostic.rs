//! Located diagnostics: `file:line:col`, the component, the key, and a suggestion, rendered the
//! way compilers do (a source excerpt with a caret under the culprit).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::suggest;

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
                // Pipeline files are pasted into CI logs: a secret written into the file (or
                // under a misspelled key) must not be printed back.
                let line_text = mask_secrets(self.line_text(line));
                let (end_line, end_col) = self.line_col(span.end.max(span.start));
                let width = line_text.chars().count();
                let underline_len = if end_line == line && end_col > column {
                    // Masking may have shortened the line under the caret.
                    (end_col - column).min(width.saturating_sub(column - 1).max(1))
                } else {
                    width.saturating_sub(column - 1).max(1)
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
            message: mask_tokens(&message.into()),
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
        self.help = Some(mask_tokens(&help.into()));
        self
    }

    /// Sets the help line if `help` is `Some`.
    #[must_use]
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if let Some(help) = help {
            self.help = Some(mask_tokens(&help));
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
        writeln!(f, "{label}: {}", mask_tokens(&self.message))?;
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
            writeln!(f, "  = help: {}", mask_tokens(help))?;
        }
        Ok(())
    }
}

/// Keys whose values are secrets: the Graph source's tokens, an object store's credentials
/// (were one written into a sink table), the pseudonymization `key`.
pub const SECRET_KEYS: &[&str] = &[
    "access_token",
    "app_secret",
    "secret_access_key",
    "access_key_id",
    "session_token",
    "sas_token",
    "account_key",
    "service_account_key",
    "client_secret",
    "password",
    "key",
];

/// What replaces a masked value.
pub const MASK: &str = "***";

/// Whether `key` (a bare or dotted TOML key) names a secret: one of [`SECRET_KEYS`], a key
/// ending in `_token`, `_secret`, `_key` or `password`.
pub fn is_secret_key(key: &str) -> bool {
    let k = last_segment(key);
    SECRET_KEYS.contains(&k.as_str())
        || ["_token", "_secret", "_key", "password"]
            .iter()
            .any(|s| k.ends_with(s))
}

/// [`is_secret_key`], or close enough to one to be its misspelling (`acess_token`): such a
/// key is an error, and its value is still a secret.
fn is_or_suggests_secret_key(key: &str) -> bool {
    let k = last_segment(key);
    is_secret_key(&k)
        || (k.chars().count() >= 6
            && suggest(&k, SECRET_KEYS.iter().copied().filter(|s| s.len() >= 6)).is_some())
}

fn last_segment(key: &str) -> String {
    key.rsplit('.')
        .next()
        .unwrap_or(key)
        .trim()
        .trim_matches(['"', '\''])
        .to_ascii_lowercase()
}

/// Whether `word` looks like a Graph access token (they start with `EAA`; real ones are
/// 100+ characters).
fn looks_like_token(word: &str) -> bool {
    word.starts_with("EAA") && word.chars().count() >= 16
}

/// `text` with every word that looks like a Graph access token replaced by [`MASK`].
pub fn mask_tokens(text: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '|');
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if looks_like_token(word) {
            out.push_str(MASK);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if is_word(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// One line of a pipeline file as it may be shown: the value of every `key = value` whose key
/// is (or suggests) a secret replaced by [`MASK`] (quotes kept), inline tables included, and
/// every Graph-token-looking word masked wherever it is.
pub fn mask_secrets(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let n = chars.len();
    // Char ranges of values to mask.
    let mut masked: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < n {
        match chars[i] {
            '#' => break,
            q @ ('"' | '\'') => i = string_end(&chars, i, q),
            '=' => {
                let key = key_before(&chars, i);
                let mut start = i + 1;
                while start < n && chars[start].is_whitespace() {
                    start += 1;
                }
                let end = match chars.get(start) {
                    Some(&q @ ('"' | '\'')) => {
                        let end = string_end(&chars, start, q);
                        // Keep the quotes: only the contents go.
                        if is_or_suggests_secret_key(&key) && end > start + 1 {
                            let close = if chars.get(end - 1) == Some(&q) && end - 1 > start {
                                end - 1
                            } else {
                                end
                            };
                            masked.push((start + 1, close));
                        }
                        end
                    }
                    Some('[' | '{') | None => start,
                    Some(_) => {
                        let mut end = start;
                        while end < n && !matches!(chars[end], ',' | '}' | ']' | '#') {
                            end += 1;
                        }
                        while end > start && chars[end - 1].is_whitespace() {
                            end -= 1;
                        }
                        if is_or_suggests_secret_key(&key) && end > start {
                            masked.push((start, end));
                        }
                        end
                    }
                };
                i = end.max(i + 1);
            }
            _ => i += 1,
        }
    }
    let mut out = String::with_capacity(line.len());
    let mut pos = 0;
    for (from, to) in masked {
        if from < pos || to <= from {
            continue;
        }
        out.extend(&chars[pos..from]);
        out.push_str(MASK);
        pos = to;
    }
    out.extend(&chars[pos..]);
    mask_tokens(&out)
}

/// The index just past the string literal opened by `q` at `start` (or the line's end).
fn string_end(chars: &[char], start: usize, q: char) -> usize {
    let mut j = start + 1;
    while j < chars.len() {
        if q == '"' && chars[j] == '\\' {
            j += 2;
            continue;
        }
        if chars[j] == q {
            return j + 1;
        }
        j += 1;
    }
    chars.len()
}

/// The (possibly dotted or quoted) key just before the `=` at `eq`.
fn key_before(chars: &[char], eq: usize) -> String {
    let mut end = eq;
    while end > 0 && chars[end - 1].is_whitespace() {
        end -= 1;
    }
    let mut start = end;
    while start > 0
        && (chars[start - 1].is_ascii_alphanumeric()
            || matches!(chars[start - 1], '_' | '-' | '.' | '"' | '\''))
    {
        start -= 1;
    }
    chars[start..end].iter().collect()
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
    fn masks_the_value_of_every_secret_key_in_snippets() {
        for key in SECRET_KEYS
            .iter()
            .chain(&["acess_token", "app_secert", "secret_acces_key"])
        {
            let line = format!("{key} = \"hunter2-literal-value\"  # note");
            let masked = mask_secrets(&line);
            assert_eq!(masked, format!("{key} = \"***\"  # note"), "{key}");
        }
        let masked = mask_secrets(
            r#"pages = ["1", { id = "2", access_token = "tok-literal" }, { id = "3" }]"#,
        );
        assert_eq!(
            masked,
            r#"pages = ["1", { id = "2", access_token = "***" }, { id = "3" }]"#
        );
        // Unquoted (a syntax error), single quotes, and a Graph-looking token anywhere.
        assert_eq!(
            mask_secrets("access_token = hunter2 # x"),
            "access_token = *** # x"
        );
        assert_eq!(mask_secrets("app_secret = 'abc'"), "app_secret = '***'");
        assert_eq!(
            mask_secrets("note = \"EAABwzLixnjYBAOZCZBa1b2c3d4\""),
            "note = \"***\""
        );
        // Ordinary keys keep their values.
        for line in [
            "page_size = 50",
            "platforms = [\"messenger\"]",
            "keep = [\"id\"]",
        ] {
            assert_eq!(mask_secrets(line), line);
        }
    }

    #[test]
    fn diagnostics_never_render_a_literal_secret() {
        let text = "[sources.pages]\nacess_token = \"EAAB-literal-token-1234\"\n";
        let src = SourceText::new(Path::new("p.toml"), text);
        let d = src
            .diagnostic(Severity::Error, Some(16..27), "unknown key `acess_token`")
            .help("did you mean `access_token`?");
        let shown = d.to_string();
        assert!(!shown.contains("literal-token"), "{shown}");
        assert!(shown.contains("2 | acess_token = \"***\""), "{shown}");
        assert!(shown.contains("  | ^^^^^^^^^^^\n"), "{shown}");
        let d = src.diagnostic(
            Severity::Error,
            Some(30..55),
            "invalid type: string \"EAAB-literal-token-1234\", expected u32",
        );
        let shown = d.to_string();
        assert!(!shown.contains("literal-token"), "{shown}");
    }

    #[test]
    fn secret_keys_are_recognized_but_ordinary_keys_are_not() {
        for k in [
            "access_token",
            "sources.pages.app_secret",
            "aws_session_token",
            "key",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["page_size", "keep", "keys", "token_budget", "pages"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}
