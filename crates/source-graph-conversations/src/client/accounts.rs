//! `GET /{version}/me/accounts`: the Pages a user or system-user token manages, each with the
//! Page token that reads it (what `pages = "all"` reads).
//!
//! The listing goes through the same retried, classified GET as conversation calls
//! (`http.rs`), with a controller of its own and no rate ceiling: it is no Page's call (Meta's
//! 2 calls/s per Page does not apply, and a Page's schedule must not wait behind it), and its
//! requests go one at a time anyway (each `next` comes from the previous answer). A throttle
//! still pauses it and backs off, and the app-wide gate applies as to any call. Its errors are
//! re-labelled here: they concern the user token, not a Page.
//!
//! The Page tokens in the response are decoded straight into [`SecretString`]s. `paging.next`
//! links (which embed the user token) become [`CleanUrl`]s at once and are followed only to the
//! configured origin.

use std::collections::HashSet;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::GraphClient;
use super::error::{ApiError, GraphError, auth_what};
use super::http::{Caller, Shrink};
use super::metrics::NoProbe;
use super::model::{Edge, Folder, Platform, UnitKey};
use super::pacing::Pacer;
use super::secure::{CleanUrl, origin_of};

/// Fields requested for each Page.
pub const ACCOUNTS_FIELDS: &str = "id,name,access_token,tasks,instagram_business_account";
/// Pages per `/me/accounts` request (Graph clamps it to what it serves).
pub const ACCOUNTS_LIMIT: u32 = 100;
/// The placeholder unit's "page" (a Page id never contains `/`); never shown.
const ACCOUNTS_PACER: &str = "me/accounts";

/// One Page of `GET /me/accounts`.
#[derive(Debug)]
pub struct ManagedPage {
    /// Page id.
    pub id: String,
    /// Page name.
    pub name: Option<String>,
    /// The Page access token Graph handed out (absent when the app may not have it).
    pub access_token: Option<SecretString>,
    /// The tasks the token's person can do on the Page (`MESSAGING`, `MODERATE`, ...).
    pub tasks: Vec<String>,
    /// The linked Instagram professional account, if any (informational: Instagram
    /// conversations are read on the Page id with `platform=instagram`).
    pub instagram_business_account: Option<String>,
}

#[derive(Deserialize)]
struct AccountNode {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    access_token: Option<SecretString>,
    #[serde(default)]
    tasks: Vec<String>,
    #[serde(default)]
    instagram_business_account: Option<AccountRef>,
}

#[derive(Deserialize)]
struct AccountRef {
    #[serde(default)]
    id: Option<String>,
}

struct Label;

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GET /me/accounts")
    }
}

impl GraphClient {
    /// Every Page `GET /me/accounts` lists for `token` (a user or system-user token),
    /// following `paging.next` to the end.
    pub async fn managed_pages(
        &self,
        token: &SecretString,
    ) -> Result<Vec<ManagedPage>, GraphError> {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|()| GraphError::Setup("the base URL cannot have a path".into()))?
            .pop_if_empty()
            .extend([self.inner.api_version.as_str(), "me", "accounts"]);
        url.query_pairs_mut()
            .append_pair("fields", ACCOUNTS_FIELDS)
            .append_pair("limit", &ACCOUNTS_LIMIT.to_string());
        let mut next = Some(CleanUrl::new(url));
        // `get_json` wants a unit for the errors it builds; they are re-labelled below.
        let unit = UnitKey {
            page_id: ACCOUNTS_PACER.into(),
            platform: Platform::Messenger,
            folder: Folder::Inbox,
        };
        let pacer = Pacer::new(0.0);
        let caller = Caller {
            unit: &unit,
            label: &Label,
            token,
            pacer: &pacer,
            probe: &NoProbe,
        };
        let mut requested = HashSet::new();
        let mut seen = HashSet::new();
        let mut pages = Vec::new();
        while let Some(url) = next.take() {
            if !requested.insert(url.as_str().to_string()) {
                return Err(accounts_error(
                    format!("pagination did not advance: `paging.next` repeats {url}"),
                    None,
                    None,
                ));
            }
            let (edge, _): (Edge<AccountNode>, _) = self
                .inner
                .get_json(&caller, url, Shrink::Limit)
                .await
                .map_err(relabel)?;
            if let Some(n) = edge.next() {
                next = Some(self.pin_accounts_next(n)?);
            }
            for node in edge.data {
                let Some(id) = node.id.filter(|id| !id.is_empty()) else {
                    return Err(accounts_error("a Page without `id`".into(), None, None));
                };
                if !seen.insert(id.clone()) {
                    continue;
                }
                pages.push(ManagedPage {
                    id,
                    name: node.name,
                    access_token: node.access_token,
                    tasks: node.tasks,
                    instagram_business_account: node.instagram_business_account.and_then(|a| a.id),
                });
            }
        }
        Ok(pages)
    }

    fn pin_accounts_next(&self, next: &str) -> Result<CleanUrl, GraphError> {
        let url = Url::parse(next)
            .map_err(|e| accounts_error(format!("`paging.next` is not a URL ({e})"), None, None))?;
        let found = origin_of(&url);
        if found != self.inner.origin {
            return Err(accounts_error(
                format!(
                    "refusing to follow `paging.next` to {found}: it is not the configured origin {}, \
                     and the access token must not be sent elsewhere",
                    self.inner.origin
                ),
                None,
                None,
            ));
        }
        Ok(CleanUrl::new(url))
    }
}

fn accounts_error(reason: String, fix: Option<String>, error: Option<Box<ApiError>>) -> GraphError {
    GraphError::Accounts { reason, fix, error }
}

/// What to do with a user token that cannot list Pages.
const NEW_USER_TOKEN: &str = "issue a new user or system-user access token (with pages_show_list, \
    pages_messaging, pages_manage_metadata, pages_read_engagement, and instagram_basic and \
    instagram_manage_messages for Instagram) and update `access_token`";

/// Turns an error of the listing's GET (built for a placeholder unit) into
/// [`GraphError::Accounts`] with advice about the user token.
fn relabel(e: GraphError) -> GraphError {
    match e {
        GraphError::Auth { error, .. } => {
            let fix = if error.code == 100 {
                "set `app_secret` to the secret of the app that issued the token (or leave it \
                 empty if the app does not require it)"
                    .to_string()
            } else {
                NEW_USER_TOKEN.to_string()
            };
            let reason = format!(
                "{} ({}). Graph said: {error}",
                auth_what(&error),
                error.code_label()
            );
            accounts_error(reason, Some(fix), Some(error))
        }
        GraphError::Permission { error, .. } => accounts_error(
            format!(
                "the token may not list its Pages ({}). Graph said: {error}",
                error.code_label()
            ),
            Some(NEW_USER_TOKEN.to_string()),
            Some(error),
        ),
        GraphError::Api { error, url, .. } => {
            if error.code == 100 && error.message.contains("(accounts)") {
                accounts_error(
                    format!(
                        "the access token is a Page token, and a Page has no Pages to list. Graph said: {error}"
                    ),
                    Some(
                        "`pages = \"all\"` needs a user or system-user token of a person with a \
                         task on the Pages: set `access_token` to one, or list the Pages in `pages`"
                            .into(),
                    ),
                    Some(error),
                )
            } else {
                accounts_error(
                    format!("Graph refused the request {url}: {error}"),
                    None,
                    Some(error),
                )
            }
        }
        GraphError::PolicyBlock { error, .. } => accounts_error(
            format!("blocked by Meta's policy enforcement (code 368). Graph said: {error}"),
            Some("check the app's alerts in the Meta developer dashboard and retry later".into()),
            Some(error),
        ),
        GraphError::RetriesExhausted {
            url,
            attempts,
            last,
            ..
        } => accounts_error(
            format!("giving up after {attempts} attempts on {url}: {last}"),
            None,
            None,
        ),
        GraphError::Decode { url, message, .. } => accounts_error(
            format!(
                "unexpected response from {url}: {}",
                without_quoted(&message)
            ),
            None,
            None,
        ),
        other => other,
    }
}

/// A decoder message without the values it quotes: the response holds Page tokens, and a
/// type error would echo the value it choked on.
fn without_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = None;
    for c in message.chars() {
        match quoted {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                quoted = None;
            }
            Some(_) => {}
            None if c == '"' || c == '`' => {
                out.push(c);
                quoted = Some(c);
            }
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_messages_lose_their_quoted_values() {
        let m = "invalid type: string \"EAAB-secret\", expected a sequence at line 1 column 9";
        let out = without_quoted(m);
        assert!(!out.contains("EAAB"), "{out}");
        assert!(out.contains("line 1 column 9"), "{out}");
    }

    #[test]
    fn expired_user_tokens_say_to_issue_a_new_user_token() {
        let e = relabel(GraphError::Auth {
            unit: UnitKey {
                page_id: ACCOUNTS_PACER.into(),
                platform: Platform::Messenger,
                folder: Folder::Inbox,
            },
            error: Box::new(ApiError {
                http_status: 400,
                code: 190,
                subcode: Some(463),
                message: "Session has expired".into(),
                ..ApiError::default()
            }),
        });
        let text = e.to_string();
        assert!(text.contains("GET /me/accounts"), "{text}");
        assert!(
            text.contains("the access token expired (code 190/463)"),
            "{text}"
        );
        assert!(
            e.fix()
                .is_some_and(|f| f.contains("user or system-user access token"))
        );
        assert!(!text.contains("page me/accounts"), "{text}");
    }
}
