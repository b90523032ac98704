//! `GET /{page-id}/conversations`: one page of a unit's threads, newest first, with the
//! faults that only a listing has (an empty page, a thread repeated across a page boundary,
//! a thread moved to the top between pages).

use super::faults::{EMPTY_PAGE, MOVE_TO_TOP, REPEAT_ACROSS_BOUNDARY};
use super::parse::{echo_params, param, parse_limit};
use super::types::{Answer, Req, Shared};
use crate::data::{Folder, UnitKey, UnitView};
use crate::error::GraphError;
use crate::fields::TField;
use crate::render::{Ctx, LinkBase, PagingSpec, decode_cursor, push_paging, push_thread};

/// What one listing request asks for, shared by the ways of answering it.
struct Listing<'a> {
    unit: UnitKey,
    fields: &'a [TField],
    limit: usize,
    params: &'a [(String, String)],
}

impl Shared {
    /// Validates the listing parameters, then answers by customer (`user_id`) or by
    /// position (cursors), letting the listing faults fire on the way.
    pub(super) fn list(
        &self,
        req: &Req,
        ctx: &Ctx,
        page: u32,
        params: &[(String, String)],
    ) -> Result<Answer, GraphError> {
        for p in ["since", "until"] {
            if param(params, p).is_some() {
                return Err(GraphError::time_paging(p));
            }
        }
        let limit = parse_limit(params, self.cfg.max_limit)?;
        let fields = self.thread_fields(params, &req.version)?;
        if let Some(ml) = messages_limit(&fields)
            && limit.saturating_mul(ml) > self.cfg.heavy_threshold
        {
            return Err(GraphError::reduce_data());
        }
        let folder = param(params, "folder")
            .and_then(Folder::parse)
            .unwrap_or(Folder::Inbox);
        let listing = Listing {
            unit: UnitKey {
                page,
                platform: req.platform,
                folder,
            },
            fields: &fields,
            limit,
            params,
        };

        if let Some(user) = param(params, "user_id").filter(|u| !u.is_empty()) {
            return Ok(self.list_by_customer(ctx, &listing, user));
        }

        let mut start = self.cursor_start(params, limit)?;
        // With `before=X` the page ends just before X, even when fewer than `limit` precede it.
        let take = match param(params, "before").filter(|c| !c.is_empty()) {
            Some(c) => decode_cursor(self.cfg.seed, c)
                .map_or(limit, |x| (x - start).clamp(0, limit as i64) as usize),
            None => limit,
        };
        let has_after = param(params, "after").is_some_and(|c| !c.is_empty());
        let faults = &self.cfg.faults;

        if self.fires(faults.empty_page, EMPTY_PAGE, req) {
            self.count_fault("empty-page");
            return Ok(self.empty_page(req, ctx, &listing, start));
        }
        if has_after
            && start > 0
            && self.fires(faults.repeat_across_boundary, REPEAT_ACROSS_BOUNDARY, req)
        {
            self.count_fault("repeat-across-boundary");
            start -= 1;
        }
        if has_after && self.fires(faults.move_to_top, MOVE_TO_TOP, req) {
            self.move_to_top(&listing, start);
        }
        Ok(self.list_page(ctx, &listing, start, take))
    }

    /// `user_id=`: the one thread of that customer in this unit, or none.
    fn list_by_customer(&self, ctx: &Ctx, listing: &Listing, user: &str) -> Answer {
        let ds = &self.ds;
        let unit = listing.unit;
        let ov = self.read_overlay();
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(b"{\"data\":[");
        let mut n = 0;
        if let Some(key) = ds.key_for_customer(user)
            && key.unit.page == unit.page
            && key.unit.platform == unit.platform
            && (param(listing.params, "folder").is_none() || key.unit.folder == unit.folder)
            && let Some(t) = ov.resolve(ds, key)
        {
            push_thread(&mut out, ctx, &t, listing.fields);
            n = 1;
        }
        out.extend_from_slice(b"]}");
        (out, n)
    }

    /// The empty-page fault: no data, only a `next` link back to the same position.
    fn empty_page(&self, req: &Req, ctx: &Ctx, listing: &Listing, start: i64) -> Answer {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"data\":[]");
        // The fresh nonce gives a new cursor string for the same position.
        let spec = PagingSpec {
            cursors: None,
            previous: false,
            next: Some((start - 1, 1 + (req.n % 1_000_000) as u32)),
        };
        self.push_list_paging(&mut out, ctx, listing, &spec);
        out.push(b'}');
        (out, 0)
    }

    /// The move-to-top fault: a thread further down gets a new message between two page
    /// requests, so it jumps ahead of the cursor.
    fn move_to_top(&self, listing: &Listing, start: i64) {
        let ds = &self.ds;
        let mut ov = self.write_overlay();
        let target = {
            let view = UnitView::new(ds, &ov, listing.unit);
            let q = start as usize + listing.limit / 2;
            view.at(q)
                .or_else(|| view.at(view.len().saturating_sub(1)))
                .map(|t| t.key)
        };
        if let Some(key) = target
            && ov.update(ds, key)
        {
            drop(ov);
            self.count_fault("move-to-top");
        }
    }

    /// Up to `take` threads from position `start`, with cursors and links.
    fn list_page(&self, ctx: &Ctx, listing: &Listing, start: i64, take: usize) -> Answer {
        let ds = &self.ds;
        let limit = listing.limit;
        let ov = self.read_overlay();
        let view = UnitView::new(ds, &ov, listing.unit);
        let len = view.len() as i64;
        let start = start.max(0);
        let msgs_per = messages_limit(listing.fields).unwrap_or(0);
        let mut out = Vec::with_capacity(256 + limit * (512 + msgs_per * 600));
        out.extend_from_slice(b"{\"data\":[");
        let mut n = 0u64;
        if start < len {
            for (i, t) in view.iter_from(start as usize).take(take).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_thread(&mut out, ctx, &t, listing.fields);
                n += 1;
            }
        }
        out.push(b']');
        if n > 0 {
            let end = start + n as i64;
            let spec = PagingSpec {
                cursors: Some((start, end - 1)),
                previous: start > 0,
                next: (end < len).then_some((end - 1, 0)),
            };
            self.push_list_paging(&mut out, ctx, listing, &spec);
        }
        out.push(b'}');
        (out, n)
    }

    /// The `paging` object of a listing: links on this Page's conversations edge with the
    /// request's own parameters.
    fn push_list_paging(&self, out: &mut Vec<u8>, ctx: &Ctx, listing: &Listing, spec: &PagingSpec) {
        let echo = echo_params(listing.params);
        let path = format!(
            "{}/conversations",
            self.ds.page_ids[listing.unit.page as usize]
        );
        let base = LinkBase {
            path: &path,
            echo: &echo,
            limit: listing.limit,
        };
        push_paging(out, ctx, &base, spec);
    }
}

/// `limit` of a requested `messages` expansion, if any.
fn messages_limit(fields: &[TField]) -> Option<usize> {
    fields.iter().find_map(|f| match f {
        TField::Messages(sel) => Some(sel.limit),
        _ => None,
    })
}
