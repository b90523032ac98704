//! `GET /me/accounts` with a user token: the Pages it manages, each with its Page token,
//! paged like the conversations edge.

use super::auth::check_status;
use super::parse::{echo_params, param, parse_limit};
use super::types::{Answer, Req, Shared, lock};
use crate::config::{ALL_TASKS, TASKS_WITHOUT_MESSAGING};
use crate::error::GraphError;
use crate::render::{Ctx, LinkBase, PagingSpec, push_paging};
use crate::util::push_json_str;

/// Fields a Page has on `/me/accounts`.
const ACCOUNT_FIELDS: [&str; 6] = [
    "id",
    "name",
    "access_token",
    "category",
    "tasks",
    "instagram_business_account",
];

/// The fault-counting unit of `/me/accounts` (no (page, platform, folder) unit has it).
const ACCOUNTS_UNIT: u64 = 3 << 40;

impl Shared {
    /// `GET /me/accounts`: the Pages a user token manages, paged like the conversations edge.
    /// Not rate limited per Page (it is no Page's call); injected errors fire on it, counted
    /// as one unit of its own.
    pub(super) fn accounts(
        &self,
        req: &mut Req,
        token: &str,
        params: &[(String, String)],
    ) -> Result<Answer, GraphError> {
        req.route = "accounts";
        let Some(user) = self.cfg.accounts.users.get(token) else {
            // A Page token: `/me` is the Page, which has no `accounts` edge.
            if let Some(g) = self.cfg.tokens.get(token) {
                check_status(g.status)?;
            } else if self.page_token_grant(token).is_none() {
                return Err(GraphError::invalid_token());
            }
            return Err(GraphError::nonexisting_field("accounts", "Page"));
        };
        check_status(user.status)?;
        req.unit_code = ACCOUNTS_UNIT;
        req.unit_n = {
            let mut st = lock(&self.state);
            let n = st.unit_requests.entry(ACCOUNTS_UNIT).or_default();
            *n += 1;
            *n
        };
        if let Some(e) = self.injected_error(req) {
            return Err(e);
        }
        let fields = account_fields(params)?;
        let ds = &self.ds;
        let listed: Vec<u32> = match &user.pages {
            None => (0..ds.page_ids.len() as u32).collect(),
            Some(ids) => ids.iter().filter_map(|id| ds.page_index(id)).collect(),
        };
        let limit = parse_limit(params, self.cfg.accounts.per_page.max(1))?;
        let start = self
            .cursor_start(params, limit)?
            .clamp(0, listed.len() as i64) as usize;
        let end = (start + limit).min(listed.len());
        let mut out = Vec::with_capacity(256 * (end - start) + 512);
        out.extend_from_slice(b"{\"data\":[");
        for (n, &p) in listed[start..end].iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            self.push_account(&mut out, p, &fields);
        }
        out.push(b']');
        let echo = echo_params(params);
        let ctx = Ctx {
            ds,
            origin: &self.origin,
            version: &req.version,
            token_q: req.token_q.as_deref(),
            truth: false,
        };
        let base = LinkBase {
            path: "me/accounts",
            echo: &echo,
            limit,
        };
        let spec = PagingSpec {
            cursors: (end > start).then(|| (start as i64, end as i64 - 1)),
            previous: start > 0,
            next: (end < listed.len()).then(|| (end as i64 - 1, 0)),
        };
        push_paging(&mut out, &ctx, &base, &spec);
        out.push(b'}');
        Ok((out, 0))
    }

    /// One Page of `/me/accounts`, fields in request order, `id` always.
    fn push_account(&self, out: &mut Vec<u8>, p: u32, fields: &[&str]) {
        let ds = &self.ds;
        let id = &ds.page_ids[p as usize];
        out.push(b'{');
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>, name: &str| {
            if !std::mem::replace(&mut first, false) {
                out.push(b',');
            }
            push_json_str(out, name);
            out.push(b':');
        };
        let mut with_id = false;
        for f in fields {
            match *f {
                "id" => {
                    sep(out, "id");
                    push_json_str(out, id);
                    with_id = true;
                }
                "name" => {
                    sep(out, "name");
                    out.extend_from_slice(&ds.page_names[p as usize].esc);
                }
                "access_token" => {
                    sep(out, "access_token");
                    push_json_str(out, &crate::config::page_token(id));
                }
                "category" => {
                    sep(out, "category");
                    push_json_str(out, "Shopping & retail");
                }
                "tasks" => {
                    sep(out, "tasks");
                    let tasks: &[&str] = if self.cfg.accounts.without_messaging.contains(id) {
                        &TASKS_WITHOUT_MESSAGING
                    } else {
                        &ALL_TASKS
                    };
                    out.push(b'[');
                    for (i, t) in tasks.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        push_json_str(out, t);
                    }
                    out.push(b']');
                }
                "instagram_business_account" => {
                    sep(out, "instagram_business_account");
                    out.extend_from_slice(b"{\"id\":");
                    push_json_str(out, &ds.ig_ids[p as usize]);
                    out.push(b'}');
                }
                _ => {}
            }
        }
        if !with_id {
            sep(out, "id");
            push_json_str(out, id);
        }
        out.push(b'}');
    }
}

/// The requested fields of each Page (default `access_token,category,name,id,tasks`); any
/// field a Page has not on this edge is a nonexisting field.
fn account_fields(params: &[(String, String)]) -> Result<Vec<&str>, GraphError> {
    let fields: Vec<&str> = match param(params, "fields") {
        Some(f) if !f.trim().is_empty() => f.split(',').map(str::trim).collect(),
        _ => vec!["access_token", "category", "name", "id", "tasks"],
    };
    for f in &fields {
        if !ACCOUNT_FIELDS.contains(f) {
            return Err(GraphError::nonexisting_field(f, "Page"));
        }
    }
    Ok(fields)
}
