//! The `fields` parameter: a comma list with field expansion, e.g.
//! `participants,updated_time,messages.limit(5){id,message,from,to}`.
//!
//! Parsed into typed selections once per request, so rendering never looks at strings.

use crate::config::DEFAULT_LIMIT;
use crate::error::GraphError;

/// One parsed item of a `fields` list.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FieldSpec {
    pub name: String,
    pub limit: Option<i64>,
    pub sub: Option<Vec<FieldSpec>>,
    /// The text between the braces, as written (whitespace removed), for nested `next` URLs.
    pub sub_raw: Option<String>,
}

/// Parses a `fields` value. Errors carry Graph's "Syntax error" message (code 2500).
pub(crate) fn parse(input: &str) -> Result<Vec<FieldSpec>, GraphError> {
    let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    let mut p = Parser {
        s: compact.as_bytes(),
        i: 0,
        src: input,
    };
    let list = p.list()?;
    if p.i != p.s.len() {
        return Err(p.error(&format!(
            "Expected end of string instead of \"{}\".",
            p.s[p.i] as char
        )));
    }
    Ok(list)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> GraphError {
        GraphError::syntax(what, self.i, self.src)
    }

    fn list(&mut self) -> Result<Vec<FieldSpec>, GraphError> {
        let mut out: Vec<FieldSpec> = Vec::new();
        loop {
            if self.i >= self.s.len() || self.s[self.i] == b'}' {
                break;
            }
            let start = self.i;
            let spec = self.item()?;
            if out.iter().any(|f| f.name == spec.name) {
                self.i = start;
                return Err(self.error(&format!(
                    "Field {} specified more than once. This is only possible before version 2.1",
                    spec.name
                )));
            }
            out.push(spec);
            if self.i < self.s.len() && self.s[self.i] == b',' {
                self.i += 1;
                continue;
            }
            break;
        }
        Ok(out)
    }

    fn name(&mut self) -> Result<String, GraphError> {
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        if start == self.i {
            let found = self.s.get(self.i).map(|b| *b as char).unwrap_or(' ');
            return Err(self.error(&format!("Expected name instead of \"{found}\".")));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn item(&mut self) -> Result<FieldSpec, GraphError> {
        let mut spec = FieldSpec {
            name: self.name()?,
            limit: None,
            sub: None,
            sub_raw: None,
        };
        // Modifiers and the sub-selection may come in either order: `a.limit(2){b}` or `a{b}.limit(2)`.
        loop {
            match self.s.get(self.i) {
                Some(b'.') => {
                    self.i += 1;
                    let modifier = self.name()?;
                    if self.s.get(self.i) != Some(&b'(') {
                        return Err(self.error("Expected \"(\"."));
                    }
                    self.i += 1;
                    let start = self.i;
                    while self.i < self.s.len() && self.s[self.i] != b')' {
                        self.i += 1;
                    }
                    if self.i >= self.s.len() {
                        return Err(self.error("Expected \")\"."));
                    }
                    let arg = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                    self.i += 1;
                    if modifier == "limit" {
                        spec.limit = Some(arg.parse().map_err(|_| {
                            GraphError::param(&format!(
                                "(#100) Param limit must be an integer, got \"{arg}\""
                            ))
                        })?);
                    }
                    // Other modifiers (`summary`, `order`, `as`, ...) are accepted and ignored.
                }
                Some(b'{') => {
                    self.i += 1;
                    let start = self.i;
                    let sub = self.list()?;
                    if self.s.get(self.i) != Some(&b'}') {
                        return Err(self.error("Expected \"}\"."));
                    }
                    spec.sub_raw =
                        Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned());
                    self.i += 1;
                    spec.sub = Some(sub);
                }
                _ => break,
            }
        }
        Ok(spec)
    }
}

/// Which keys of a participant / `from` / `to` profile to write (`id` always).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProfileSel {
    pub name: bool,
    pub email: bool,
    pub username: bool,
}

impl ProfileSel {
    pub const ALL: ProfileSel = ProfileSel {
        name: true,
        email: true,
        username: true,
    };

    fn from_spec(spec: &FieldSpec) -> Result<ProfileSel, GraphError> {
        let Some(sub) = &spec.sub else {
            return Ok(ProfileSel::ALL);
        };
        let mut sel = ProfileSel {
            name: false,
            email: false,
            username: false,
        };
        for f in sub {
            match f.name.as_str() {
                "id" => {}
                "name" => sel.name = true,
                "email" => sel.email = true,
                "username" => sel.username = true,
                other => return Err(GraphError::nonexisting_field(other, "Profile")),
            }
        }
        Ok(sel)
    }
}

/// A field of the Conversation (UnifiedThread) node.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TField {
    Id,
    Link,
    MessageCount,
    UnreadCount,
    UpdatedTime,
    Snippet,
    CanReply,
    IsSubscribed,
    Name,
    Subject,
    ScopedThreadKey,
    Wallpaper,
    Participants(ProfileSel),
    Senders(ProfileSel),
    FormerParticipants(ProfileSel),
    Folder,
    IsOwner,
    LinkedGroup,
    Messages(MessageListSel),
}

/// A field of the Message node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum MField {
    Id,
    CreatedTime,
    From(ProfileSel),
    To(ProfileSel),
    Message,
    Sticker,
    Tags,
    Attachments,
    Shares,
    IsUnsupported,
    Reactions,
    Story,
    ReplyTo,
}

/// The nested `messages` expansion (or the messages edge itself).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MessageListSel {
    /// Page size (defaulted and clamped).
    pub limit: usize,
    pub fields: Vec<MField>,
    /// The sub-field list as written, echoed as `fields=` in the nested `next` URL.
    pub raw: Option<String>,
}

/// Default message fields on the messages edge: `id,created_time`.
pub(crate) fn default_message_fields() -> Vec<MField> {
    vec![MField::Id, MField::CreatedTime]
}

/// Every message field the emulator can produce (ground truth).
pub(crate) fn all_message_fields() -> Vec<MField> {
    vec![
        MField::Id,
        MField::CreatedTime,
        MField::From(ProfileSel::ALL),
        MField::To(ProfileSel::ALL),
        MField::Message,
        MField::Sticker,
        MField::Tags,
        MField::Attachments,
        MField::IsUnsupported,
    ]
}

/// Every thread field for ground truth (excluding version-dependent `subject`).
pub(crate) fn all_thread_fields(messages_limit: usize) -> Vec<TField> {
    vec![
        TField::Id,
        TField::UpdatedTime,
        TField::Link,
        TField::Snippet,
        TField::MessageCount,
        TField::UnreadCount,
        TField::CanReply,
        TField::IsSubscribed,
        TField::Name,
        TField::ScopedThreadKey,
        TField::Wallpaper,
        TField::Folder,
        TField::IsOwner,
        TField::Participants(ProfileSel::ALL),
        TField::Senders(ProfileSel::ALL),
        TField::FormerParticipants(ProfileSel::ALL),
        TField::Messages(MessageListSel {
            limit: messages_limit,
            fields: all_message_fields(),
            raw: None,
        }),
    ]
}

/// Clamps a requested limit to `1..=max`, defaulting to 25.
pub(crate) fn clamp_limit(requested: Option<i64>, max: usize) -> usize {
    match requested {
        None => DEFAULT_LIMIT.min(max),
        Some(n) if n < 1 => 1,
        Some(n) => (n as u64).min(max as u64) as usize,
    }
}

/// Message fields from specs; unknown names fail with `(#100) ... node type (Message)`.
pub(crate) fn message_fields(specs: &[FieldSpec]) -> Result<Vec<MField>, GraphError> {
    specs
        .iter()
        .map(|f| {
            Ok(match f.name.as_str() {
                "id" => MField::Id,
                "created_time" => MField::CreatedTime,
                "from" => MField::From(ProfileSel::from_spec(f)?),
                "to" => MField::To(ProfileSel::from_spec(f)?),
                "message" => MField::Message,
                "sticker" => MField::Sticker,
                "tags" => MField::Tags,
                "attachments" => MField::Attachments,
                "shares" => MField::Shares,
                "is_unsupported" => MField::IsUnsupported,
                "reactions" => MField::Reactions,
                "story" => MField::Story,
                "reply_to" => MField::ReplyTo,
                other => return Err(GraphError::nonexisting_field(other, "Message")),
            })
        })
        .collect()
}

/// Thread fields from specs. `subject` exists only before v23.0 (dropped from the SDK then).
pub(crate) fn thread_fields(
    specs: &[FieldSpec],
    max_limit: usize,
    version_major: u32,
) -> Result<Vec<TField>, GraphError> {
    specs
        .iter()
        .map(|f| {
            Ok(match f.name.as_str() {
                "id" => TField::Id,
                "link" => TField::Link,
                "message_count" => TField::MessageCount,
                "unread_count" => TField::UnreadCount,
                "updated_time" => TField::UpdatedTime,
                "snippet" => TField::Snippet,
                "can_reply" => TField::CanReply,
                "is_subscribed" => TField::IsSubscribed,
                "name" => TField::Name,
                "subject" if version_major < 23 => TField::Subject,
                "scoped_thread_key" => TField::ScopedThreadKey,
                "wallpaper" => TField::Wallpaper,
                "participants" => TField::Participants(ProfileSel::from_spec(f)?),
                "senders" => TField::Senders(ProfileSel::from_spec(f)?),
                "former_participants" => TField::FormerParticipants(ProfileSel::from_spec(f)?),
                "folder" => TField::Folder,
                "is_owner" => TField::IsOwner,
                "linked_group" => TField::LinkedGroup,
                "messages" => TField::Messages(MessageListSel {
                    limit: clamp_limit(f.limit, max_limit),
                    fields: match &f.sub {
                        Some(sub) => message_fields(sub)?,
                        None => default_message_fields(),
                    },
                    raw: f.sub_raw.clone(),
                }),
                other => return Err(GraphError::nonexisting_field(other, "UnifiedThread")),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_expansion() {
        let f = parse("participants, updated_time,messages.limit(5){id,message,from{name},to}")
            .unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[2].name, "messages");
        assert_eq!(f[2].limit, Some(5));
        assert_eq!(f[2].sub_raw.as_deref(), Some("id,message,from{name},to"));
        let sub = f[2].sub.as_ref().unwrap();
        assert_eq!(sub[2].sub.as_ref().unwrap()[0].name, "name");
    }

    #[test]
    fn accepts_limit_after_braces() {
        let f = parse("messages{id}.limit(3)").unwrap();
        assert_eq!(f[0].limit, Some(3));
    }

    #[test]
    fn rejects_unbalanced_braces() {
        assert!(parse("messages{id").is_err());
        assert!(parse("id}").is_err());
        assert!(parse("id,id").is_err());
    }
}
