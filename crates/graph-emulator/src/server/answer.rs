//! The body of a routed read: the Page node, a conversation, its messages, one message, or
//! (in [`super::list`]) the conversations edge.

use super::parse::{echo_params, message_fields, parse_limit};
use super::route::Target;
use super::types::{Answer, Req, Shared};
use crate::config::DETAIL_MESSAGES;
use crate::data::ThreadKey;
use crate::error::GraphError;
use crate::fields::MessageListSel;
use crate::render::{Ctx, push_message, push_message_list, push_thread};

impl Shared {
    /// Writes the body of `target` as Graph would, after every check has passed.
    pub(super) fn answer(
        &self,
        req: &Req,
        target: Target,
        params: &[(String, String)],
    ) -> Result<Answer, GraphError> {
        let ctx = Ctx {
            ds: &self.ds,
            origin: &self.origin,
            version: &req.version,
            token_q: req.token_q.as_deref(),
            truth: false,
        };
        match target {
            Target::Page(p) => Ok(self.page_node(p)),
            Target::List(p) => self.list(req, &ctx, p, params),
            Target::Thread(key, id) => self.thread_node(&ctx, key, &id, params),
            Target::Messages(key, id) => self.messages_edge(&ctx, key, &id, params),
            Target::Message(key, seq, id) => self.message_node(&ctx, key, seq, &id, params),
        }
    }

    /// `GET /{page-id}`: name and id.
    fn page_node(&self, p: u32) -> Answer {
        let ds = &self.ds;
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(b"{\"name\":");
        out.extend_from_slice(&ds.page_names[p as usize].esc);
        out.extend_from_slice(b",\"id\":\"");
        out.extend_from_slice(ds.page_ids[p as usize].as_bytes());
        out.extend_from_slice(b"\"}");
        (out, 0)
    }

    /// `GET /{conversation-id}`; a deleted thread is an unsupported get.
    fn thread_node(
        &self,
        ctx: &Ctx,
        key: ThreadKey,
        id: &str,
        params: &[(String, String)],
    ) -> Result<Answer, GraphError> {
        let fields = self.thread_fields(params, ctx.version)?;
        let ov = self.read_overlay();
        let t = ov
            .resolve(&self.ds, key)
            .ok_or_else(|| GraphError::unsupported_get(id))?;
        let mut out = Vec::with_capacity(4096);
        push_thread(&mut out, ctx, &t, &fields);
        Ok((out, 1))
    }

    /// `GET /{conversation-id}/messages`, newest first, paged by cursors.
    fn messages_edge(
        &self,
        ctx: &Ctx,
        key: ThreadKey,
        id: &str,
        params: &[(String, String)],
    ) -> Result<Answer, GraphError> {
        let limit = parse_limit(params, self.cfg.max_limit)?;
        let mfields = message_fields(params)?;
        let start = self.cursor_start(params, limit)?;
        let ov = self.read_overlay();
        let t = ov
            .resolve(&self.ds, key)
            .ok_or_else(|| GraphError::unsupported_get(id))?;
        let sel = MessageListSel {
            limit,
            fields: mfields,
            raw: None,
        };
        let echo = echo_params(params);
        let mut out = Vec::with_capacity(1024 + limit * 512);
        let start = start.clamp(0, i64::from(t.message_count())) as u32;
        push_message_list(&mut out, ctx, &t, &sel, start, &echo);
        Ok((out, 0))
    }

    /// `GET /{message-id}`; only the newest messages have details.
    fn message_node(
        &self,
        ctx: &Ctx,
        key: ThreadKey,
        seq: u32,
        id: &str,
        params: &[(String, String)],
    ) -> Result<Answer, GraphError> {
        let mfields = message_fields(params)?;
        let ov = self.read_overlay();
        let t = ov
            .resolve(&self.ds, key)
            .ok_or_else(|| GraphError::unsupported_get(id))?;
        let pos = t
            .position_of(seq)
            .ok_or_else(|| GraphError::unsupported_get(id))?;
        // Only the newest 20 messages have details; older ones cannot be read.
        if pos as usize >= DETAIL_MESSAGES {
            return Err(GraphError::unsupported_get(id));
        }
        let m = t
            .message(pos)
            .ok_or_else(|| GraphError::unsupported_get(id))?;
        let mut out = Vec::with_capacity(1024);
        push_message(&mut out, ctx, &t, &m, pos, &mfields);
        Ok((out, 0))
    }
}
