//! A component's name as people see it in messages, logs, telemetry and reports: the TOML table
//! that declares it — `sources.pages`, `transforms.only_inbox`, `sinks.lake`.

use std::fmt;

/// The three kinds of component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `[sources.ID]`
    Source,
    /// `[transforms.ID]`
    Transform,
    /// `[sinks.ID]`
    Sink,
}

impl Kind {
    /// The TOML section name (`sources`, `transforms`, `sinks`).
    pub fn section(self) -> &'static str {
        match self {
            Kind::Source => "sources",
            Kind::Transform => "transforms",
            Kind::Sink => "sinks",
        }
    }

    /// Singular, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Transform => "transform",
            Kind::Sink => "sink",
        }
    }
}

/// A component of a pipeline: its kind and id. Displays as `sources.pages`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId {
    /// Source, transform or sink.
    pub kind: Kind,
    /// The `ID` of `[sources.ID]`.
    pub id: String,
}

impl ComponentId {
    /// Component `id` of `kind`.
    pub fn new(kind: Kind, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }

    /// `sources.<id>`.
    pub fn source(id: impl Into<String>) -> Self {
        Self::new(Kind::Source, id)
    }

    /// `transforms.<id>`.
    pub fn transform(id: impl Into<String>) -> Self {
        Self::new(Kind::Transform, id)
    }

    /// `sinks.<id>`.
    pub fn sink(id: impl Into<String>) -> Self {
        Self::new(Kind::Sink, id)
    }

    /// One of its config keys, as written in messages: `sources.pages.folders`.
    pub fn key(&self, key: &str) -> String {
        format!("{self}.{key}")
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind.section(), self.id)
    }
}

impl From<ComponentId> for String {
    fn from(c: ComponentId) -> String {
        c.to_string()
    }
}

impl From<&ComponentId> for String {
    fn from(c: &ComponentId) -> String {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_its_toml_table() {
        assert_eq!(ComponentId::source("pages").to_string(), "sources.pages");
        assert_eq!(ComponentId::transform("f").to_string(), "transforms.f");
        assert_eq!(ComponentId::sink("lake").key("path"), "sinks.lake.path");
        assert_eq!(String::from(ComponentId::sink("x")), "sinks.x");
    }
}
