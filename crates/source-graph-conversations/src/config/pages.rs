//! `pages` (a list or `"all"`), `pages_file`, and the token each listed Page is read with.

use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tributary_core::BuildError;

use crate::client::PageAccess;

/// The Page ids in `path`: one per line, or a CSV with an `id`/`page_id` column.
pub(super) fn read_pages_file(path: &str) -> Result<Vec<String>, BuildError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BuildError::at("pages_file", format!("cannot read `{path}`: {e}"))
            .with_help("give a path to a file with one Page id per line")
    })?;
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .peekable();
    let column = match lines.peek() {
        Some(header) if header.contains(',') => {
            let header: Vec<&str> = header
                .split(',')
                .map(|h| h.trim().trim_matches('"'))
                .collect();
            let Some(col) = header.iter().position(|h| *h == "id" || *h == "page_id") else {
                return Err(BuildError::at(
                    "pages_file",
                    format!(
                        "`{path}` looks like a CSV but its header has no `id` or `page_id` column"
                    ),
                ));
            };
            lines.next();
            col
        }
        _ => 0,
    };
    let ids: Vec<String> = lines
        .map(|l| {
            l.split(',')
                .nth(column)
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .to_owned()
        })
        .collect();
    if ids.is_empty() {
        return Err(BuildError::at(
            "pages_file",
            format!("`{path}` lists no Page ids"),
        ));
    }
    Ok(ids)
}

/// `pages`: a list of entries, or `"all"` (discovered from `GET /me/accounts`).
#[derive(Debug)]
pub enum Pages {
    /// Listed in the file (or `pages_file`).
    List(Vec<PageEntry>),
    /// Every Page the token manages.
    All,
}

impl Default for Pages {
    fn default() -> Self {
        Pages::List(Vec::new())
    }
}

impl<'de> Deserialize<'de> for Pages {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Pages;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of Page ids (or `{ id, access_token }` tables), or \"all\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Pages, E> {
                if v == "all" {
                    return Ok(Pages::All);
                }
                // The value is not echoed: a token pasted in the wrong place must not be shown.
                Err(E::custom(
                    "`pages` is a list of Page ids, or \"all\" for every Page of the token",
                ))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Pages, A::Error> {
                Vec::<PageEntry>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(Pages::List)
            }
        }
        d.deserialize_any(V)
    }
}

/// The JSON Schema of `pages` (the type itself has a hand-written deserializer).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(super) enum PagesSchema {
    /// Every Page of the token.
    All(AllPages),
    /// Page ids, or tables with their own token.
    List(Vec<PageEntry>),
}

#[derive(JsonSchema)]
#[allow(dead_code)]
pub(super) enum AllPages {
    #[serde(rename = "all")]
    All,
}

/// One entry of `pages`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PageEntry {
    /// A Page id using the top-level `access_token`.
    Id(String),
    /// A Page with its own token.
    WithToken(PageWithToken),
}

/// `{ id = "...", access_token = "..." }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageWithToken {
    /// Page id.
    pub id: String,
    /// This Page's access token.
    #[schemars(with = "String")]
    pub access_token: SecretString,
}

/// Each listed Page with its own token or the shared one: ids checked, none listed twice, none
/// without a token.
pub(super) fn page_accesses(
    listed: Vec<PageEntry>,
    shared: Option<SecretString>,
) -> Result<Vec<PageAccess>, BuildError> {
    let mut pages = Vec::with_capacity(listed.len());
    for (i, entry) in listed.into_iter().enumerate() {
        let (id, token) = match entry {
            PageEntry::Id(id) => (id, shared.clone()),
            PageEntry::WithToken(p) => (p.id, Some(p.access_token)),
        };
        if !is_page_id(&id) {
            return Err(BuildError::at(
                format!("pages[{i}]"),
                format!("`{id}` is not a Page id"),
            ));
        }
        if pages.iter().any(|p: &PageAccess| p.page_id == id) {
            return Err(BuildError::at(
                format!("pages[{i}]"),
                format!("page `{id}` is listed twice"),
            ));
        }
        let Some(token) = token.filter(|t| !t.expose_secret().is_empty()) else {
            return Err(BuildError::at("access_token", format!("no access token for page `{id}`"))
                .with_help("set `access_token = \"${FB_PAGE_TOKEN}\"` or give the page its own `{ id, access_token }`"));
        };
        pages.push(PageAccess {
            page_id: id,
            access_token: token,
        });
    }
    Ok(pages)
}

/// Page ids are digits in practice; letters, `_` and `.` are let through for test doubles.
pub(crate) fn is_page_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

#[cfg(test)]
mod pages_file_tests {
    use super::read_pages_file;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn reads_a_newline_list_with_comments() {
        let f = file("# pages\n104857600000001\n\n 104857600000002 \n");
        let ids = read_pages_file(f.path().to_str().unwrap()).unwrap();
        assert_eq!(ids, ["104857600000001", "104857600000002"]);
    }

    #[test]
    fn reads_the_id_column_of_a_csv() {
        let f = file("name,page_id\n\"Café\",104857600000001\nShop,104857600000002\n");
        let ids = read_pages_file(f.path().to_str().unwrap()).unwrap();
        assert_eq!(ids, ["104857600000001", "104857600000002"]);
    }

    #[test]
    fn a_csv_without_an_id_column_or_a_missing_file_is_a_build_error() {
        let f = file("name,url\nx,y\n");
        let e = read_pages_file(f.path().to_str().unwrap()).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("pages_file"));
        assert!(
            read_pages_file("/nonexistent/pages.txt")
                .unwrap_err()
                .message
                .contains("cannot read")
        );
    }
}
