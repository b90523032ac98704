//! Errors a plugin or the runtime can return.
//!
//! Two families, matching the two phases of a pipeline:
//! - [`BuildError`]: a plugin rejected its configuration while the pipeline was being built (no I/O
//!   has happened yet). It names the offending key so the loader can point at `file:line:col`.
//! - [`RunError`]: something failed while data was flowing. It says what happened and, where the
//!   caller can act, what to do next.

use std::fmt;

/// A plugin refused its configuration at build time.
///
/// The loader turns it into a located diagnostic: when [`BuildError::key`] names a key of the
/// component's table (dotted for nested keys, e.g. `messages.max`), the diagnostic points at that
/// key's value; otherwise at the component's table header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    /// The config key at fault (dotted path), if any.
    pub key: Option<String>,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it (for example "did you mean `instagram`?").
    pub help: Option<String>,
}

impl BuildError {
    /// An error about the component as a whole.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            key: None,
            message: message.into(),
            help: None,
        }
    }

    /// An error about one key of the component's table.
    pub fn at(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: Some(key.into()),
            message: message.into(),
            help: None,
        }
    }

    /// Adds a hint on how to fix the problem.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildError {}

/// A failure while the pipeline runs.
///
/// Messages must never contain secrets (access tokens, app secrets, signed URLs): plugins redact
/// before they build a `RunError`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A component failed; `component` is its pipeline id (for example `sinks.lake`).
    #[error("{component}: {source}")]
    Component {
        /// `sources.ID`, `transforms.ID` or `sinks.ID`.
        component: String,
        /// The underlying failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The run was interrupted (Ctrl-C, SIGTERM) before it could commit.
    #[error("interrupted: nothing from this run was committed")]
    Interrupted,
    /// An Arrow compute or encoding error.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// A local file system error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An object store error (local, S3, GCS, Azure).
    #[error(transparent)]
    ObjectStore(#[from] object_store::Error),
    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Other(String),
}

impl RunError {
    /// A plain message, already phrased for the user.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::Other(message.into())
    }

    /// Wraps any error with the id of the component it came from (once).
    pub fn component(
        component: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        let component = component.into();
        let source = source.into();
        // An error already attributed to this component is not wrapped twice.
        match source.downcast::<RunError>() {
            Ok(inner) => match *inner {
                RunError::Component {
                    component: c,
                    source,
                } if c == component => Self::Component { component, source },
                other => Self::Component {
                    component,
                    source: Box::new(other),
                },
            },
            Err(source) => Self::Component { component, source },
        }
    }
}

/// Shorthand for results in plugin and runtime code.
pub type Result<T, E = RunError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_attributed_to_its_component_once() {
        let inner = RunError::component("sources.a", RunError::msg("boom"));
        let outer = RunError::component("sources.a", inner);
        assert_eq!(outer.to_string(), "sources.a: boom");
        let other = RunError::component(
            "sinks.b",
            RunError::component("sources.a", RunError::msg("x")),
        );
        assert_eq!(other.to_string(), "sinks.b: sources.a: x");
    }
}
