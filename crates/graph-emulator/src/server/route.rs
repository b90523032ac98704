//! Which node or edge a request reads ([`Target`]), and the unit it counts against
//! ([`Scope`]): the unit's request counter drives fault triggers and its page the rate limit.

use super::parse::param;
use super::types::Shared;
use crate::data::{Folder, Platform, ThreadKey, UnitKey};
use crate::error::GraphError;

/// A routed Graph read.
pub(super) enum Target {
    Page(u32),
    List(u32),
    Thread(ThreadKey, String),
    Messages(ThreadKey, String),
    Message(ThreadKey, u32, String),
}

impl Target {
    /// Everything but the Page node itself needs a messaging permission.
    pub fn reads_messages(&self) -> bool {
        !matches!(self, Target::Page(_))
    }
}

/// The page, platform and fault-counting unit of a routed read, and its route name for the
/// stats.
pub(super) struct Scope {
    pub page: u32,
    pub platform: Platform,
    pub unit_code: u64,
    pub route: &'static str,
}

impl Shared {
    /// Resolves `/{id}[/{edge}]` to a node of the dataset; an id we never issued is
    /// Graph's "Unsupported get request", an unknown edge a nonexisting field.
    pub(super) fn route(&self, id: &str, edge: Option<&str>) -> Result<Target, GraphError> {
        let ds = &self.ds;
        if let Some(page) = ds.page_index(id) {
            match edge {
                None => Ok(Target::Page(page)),
                Some("conversations") => Ok(Target::List(page)),
                Some(other) => Err(GraphError::nonexisting_field(other, "Page")),
            }
        } else if let Some(key) = ds.parse_thread_id(id).and_then(|n| ds.thread_key(n)) {
            match edge {
                None => Ok(Target::Thread(key, id.to_string())),
                Some("messages") => Ok(Target::Messages(key, id.to_string())),
                Some(other) => Err(GraphError::nonexisting_field(other, "UnifiedThread")),
            }
        } else if let Some((num, seq)) = ds.parse_message_id(id) {
            let Some(key) = ds.thread_key(num) else {
                return Err(GraphError::unsupported_get(id));
            };
            match edge {
                None => Ok(Target::Message(key, seq, id.to_string())),
                Some(other) => Err(GraphError::nonexisting_field(other, "Message")),
            }
        } else {
            Err(GraphError::unsupported_get(id))
        }
    }
}

/// The unit a read counts against; on the conversations edge `platform` and `folder` pick it
/// (and are validated here, before permissions).
pub(super) fn scope(target: &Target, params: &[(String, String)]) -> Result<Scope, GraphError> {
    let (page, platform, unit_code, route) = match target {
        Target::Page(p) => (*p, Platform::Messenger, 1 << 40 | u64::from(*p), "page"),
        Target::List(p) => {
            let platform = match param(params, "platform") {
                None | Some("") => Platform::Messenger,
                Some(v) => Platform::parse(v).ok_or_else(|| {
                    GraphError::param(
                        "(#100) platform must be one of the following values: messenger, instagram",
                    )
                })?,
            };
            let folder = match param(params, "folder") {
                None | Some("") => Folder::Inbox,
                Some(v) => Folder::parse(v).ok_or_else(|| {
                    GraphError::param(
                        "(#100) folder must be one of the following values: inbox, other, page_done, spam",
                    )
                })?,
            };
            let unit = UnitKey {
                page: *p,
                platform,
                folder,
            };
            (*p, platform, unit.code(), "conversations")
        }
        Target::Thread(k, _) => (k.unit.page, k.unit.platform, k.unit.code(), "conversation"),
        Target::Messages(k, _) => (k.unit.page, k.unit.platform, k.unit.code(), "messages"),
        Target::Message(k, _, _) => (k.unit.page, k.unit.platform, k.unit.code(), "message"),
    };
    Ok(Scope {
        page,
        platform,
        unit_code,
        route,
    })
}
