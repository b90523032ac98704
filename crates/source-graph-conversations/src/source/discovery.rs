//! `pages = "all"`: which of the Pages `GET /me/accounts` lists are read, for a run and for
//! `tributary check`.

use tracing::info;
use tributary_core::plugin::CheckResult;

use crate::client::{
    ConversationsRequest, DEFAULT_MAX_CONCURRENCY, DEFAULT_UNITS_PER_PAGE, Folder, GraphClient,
    GraphError, ManagedPage, PageAccess, Platform,
};
use crate::config::Discovery;

/// `tributary check` for `pages = "all"`: one line for the listing, then one line per
/// listed Page (its platforms checked together), skipped Pages included as FAIL with the
/// fix (the run skips them with a warning; `check` passes only if every Page is readable).
pub(super) async fn check_all_pages(
    client: &GraphClient,
    discovery: &Discovery,
    platforms: &[Platform],
    folder: Folder,
) -> Vec<CheckResult> {
    let listed = match client.managed_pages(&discovery.token).await {
        Ok(l) => l,
        Err(e) => {
            return vec![CheckResult {
                target: "GET /me/accounts".into(),
                ok: false,
                fix: e.fix(),
                detail: e.to_string(),
            }];
        }
    };
    let selection = select_pages(listed, discovery);
    let mut out = vec![CheckResult {
        target: "GET /me/accounts".into(),
        ok: !selection.read.is_empty(),
        detail: format!(
            "the token lists {} Pages: {} to read, {} skipped, {} excluded",
            selection.listed,
            selection.read.len(),
            selection.skipped.len(),
            selection.excluded
        ),
        fix: selection.read.is_empty().then(|| {
            "use the token of a person with the MESSAGING task on the Pages to read".into()
        }),
    }];
    for s in &selection.skipped {
        out.push(CheckResult {
            target: page_label(&s.id, s.name.as_deref()),
            ok: false,
            detail: format!("skipped: {}", s.reason),
            fix: Some(format!(
                "give the token's person the {} task on the Page, or add \"{}\" to `exclude_pages`",
                discovery.require_tasks.join(" and "),
                s.id
            )),
        });
    }
    let checks = selection.read.iter().map(|(page, name)| async move {
        let target = page_label(&page.page_id, name.as_deref());
        for &platform in platforms {
            if let Err(e) = client.check_access(page, platform, folder).await {
                return CheckResult {
                    target,
                    ok: false,
                    fix: e.fix(),
                    detail: format!("{platform}: {e}"),
                };
            }
        }
        let platforms: Vec<&str> = platforms.iter().map(|p| p.as_str()).collect();
        CheckResult {
            target,
            ok: true,
            detail: format!(
                "Page token accepted; {folder} conversations are readable ({})",
                platforms.join(", ")
            ),
            fix: None,
        }
    });
    out.extend(futures::future::join_all(checks).await);
    out
}

/// `pages = "all"` at `open`: the request reads the listed Pages that can be read, with units
/// in flight for their count unless `concurrency` was configured (build could not count them).
pub(super) async fn discover(
    client: &GraphClient,
    discovery: &Discovery,
    request: &mut ConversationsRequest,
    concurrency: Option<usize>,
) -> Result<(), GraphError> {
    let listed = client.managed_pages(&discovery.token).await?;
    request.pages = read_discovered(listed, discovery)?;
    if concurrency.is_none() {
        request.concurrency = default_concurrency(request.pages.len());
    }
    Ok(())
}

/// How a Page is named to the user: with its name when the listing gave one.
fn page_label(id: &str, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("page {id} ({n})"),
        None => format!("page {id}"),
    }
}

/// Units in flight when `concurrency` is not set.
fn default_concurrency(pages: usize) -> usize {
    (pages * DEFAULT_UNITS_PER_PAGE).clamp(1, DEFAULT_MAX_CONCURRENCY)
}

/// A listed Page that is not read, and why.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub id: String,
    pub name: Option<String>,
    pub reason: String,
}

/// What `pages = "all"` reads out of a `/me/accounts` listing.
#[derive(Debug)]
pub(crate) struct Selection {
    /// Pages listed.
    pub listed: usize,
    /// Pages to read with their Page token, in listing order, with their names.
    pub read: Vec<(PageAccess, Option<String>)>,
    /// Pages skipped (missing tasks or no Page token).
    pub skipped: Vec<Skipped>,
    /// Pages in `exclude_pages`.
    pub excluded: usize,
}

/// Applies `exclude_pages` and `require_tasks` to a listing.
pub(crate) fn select_pages(listed: Vec<ManagedPage>, d: &Discovery) -> Selection {
    let mut out = Selection {
        listed: listed.len(),
        read: Vec::new(),
        skipped: Vec::new(),
        excluded: 0,
    };
    for page in listed {
        if d.exclude.contains(&page.id) {
            out.excluded += 1;
            continue;
        }
        let missing: Vec<&str> = d
            .require_tasks
            .iter()
            .filter(|t| !page.tasks.iter().any(|have| have.eq_ignore_ascii_case(t)))
            .map(String::as_str)
            .collect();
        let reason = if !missing.is_empty() {
            Some(format!(
                "the token's person lacks the {} task",
                missing.join(" and ")
            ))
        } else if page.access_token.is_none() {
            Some("GET /me/accounts returned no Page token for it".to_string())
        } else if !crate::config::is_page_id(&page.id) {
            Some("its id is not a Page id".to_string())
        } else {
            None
        };
        match (reason, page.access_token) {
            (None, Some(token)) => {
                if let Some(ig) = &page.instagram_business_account {
                    // Informational: Instagram threads are read on the Page id.
                    tracing::debug!(page = %page.id, instagram_account = %ig, "Page has a linked Instagram account");
                }
                out.read.push((
                    PageAccess {
                        page_id: page.id,
                        access_token: token,
                    },
                    page.name,
                ));
            }
            (reason, _) => out.skipped.push(Skipped {
                id: page.id,
                name: page.name,
                reason: reason.unwrap_or_default(),
            }),
        }
    }
    out
}

/// The Pages a run reads for `pages = "all"`; warns once about the skipped ones.
fn read_discovered(
    listed: Vec<ManagedPage>,
    discovery: &Discovery,
) -> Result<Vec<PageAccess>, GraphError> {
    let selection = select_pages(listed, discovery);
    if !selection.skipped.is_empty() {
        let names: Vec<String> = selection
            .skipped
            .iter()
            .map(|s| format!("{}: {}", page_label(&s.id, s.name.as_deref()), s.reason))
            .collect();
        tracing::warn!(
            skipped = selection.skipped.len(),
            "skipping {} of the token's Pages that cannot be read: {} (give the token's person \
             the task, or list them in `exclude_pages` to silence this)",
            selection.skipped.len(),
            names.join("; ")
        );
    }
    info!(
        listed = selection.listed,
        read = selection.read.len(),
        skipped = selection.skipped.len(),
        excluded = selection.excluded,
        "listed the token's Pages (GET /me/accounts)"
    );
    if selection.read.is_empty() {
        let reason = if selection.listed == 0 {
            "the token manages no Pages (the listing is empty)".to_string()
        } else {
            format!(
                "none of the {} Pages it lists can be read ({} skipped, {} excluded)",
                selection.listed,
                selection.skipped.len(),
                selection.excluded
            )
        };
        return Err(GraphError::Accounts {
            reason,
            fix: Some(
                "use the token of a person with the MESSAGING task on the Pages (with \
                 pages_show_list), or check `exclude_pages` and `require_tasks`"
                    .into(),
            ),
            error: None,
        });
    }
    Ok(selection.read.into_iter().map(|(p, _)| p).collect())
}
