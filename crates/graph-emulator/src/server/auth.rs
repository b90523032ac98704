//! Who is asking and what they may read: the access token (query or `Authorization`
//! header), `appsecret_proof`, the token's grant and the permission checks Graph makes
//! before it reads a node.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use hyper::header::{self, HeaderMap};
use sha2::Sha256;

use super::parse::param;
use super::types::{Req, Shared};
use crate::config::{
    PAGE_TOKEN_PREFIX, PERM_INSTAGRAM_MANAGE_MESSAGES, PERM_PAGES_MESSAGING, TokenGrant,
    TokenStatus,
};
use crate::data::Platform;
use crate::error::GraphError;

/// 190/463 or 190/467 for a token that is not valid.
pub(super) fn check_status(status: TokenStatus) -> Result<(), GraphError> {
    match status {
        TokenStatus::Valid => Ok(()),
        TokenStatus::Expired => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            Err(GraphError::expired_token(now))
        }
        TokenStatus::LoggedOut => Err(GraphError::logged_out_token()),
    }
}

/// hex(HMAC-SHA256(key = secret, msg)).
pub(crate) fn appsecret_proof(secret: &str, msg: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this branch is unreachable.
        Err(_) => return String::new(),
    };
    mac.update(msg.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let mut s = String::with_capacity(64);
    for b in bytes.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Whether the token grants reading `page_id`, and the messaging permission of `platform`
/// when the read is more than the Page node itself (`reads_messages`).
pub(super) fn authorize(
    grant: &TokenGrant,
    page_id: &str,
    reads_messages: bool,
    platform: Platform,
) -> Result<(), GraphError> {
    if let Some(pages) = &grant.pages
        && !pages.iter().any(|p| p == page_id)
    {
        return Err(GraphError::permission10());
    }
    if reads_messages {
        match platform {
            Platform::Messenger if !grant.permissions.contains(PERM_PAGES_MESSAGING) => {
                return Err(GraphError::permission230());
            }
            Platform::Instagram if !grant.permissions.contains(PERM_INSTAGRAM_MANAGE_MESSAGES) => {
                return Err(GraphError::permission200(PERM_INSTAGRAM_MANAGE_MESSAGES));
            }
            _ => {}
        }
    }
    Ok(())
}

impl Shared {
    /// The request's token (query parameter first, then the header), checked against
    /// `appsecret_proof` when the app has a secret. Remembers a query token, which paging
    /// links echo.
    pub(super) fn authenticate<'a>(
        &self,
        req: &mut Req,
        params: &'a [(String, String)],
        headers: &'a HeaderMap,
    ) -> Result<&'a str, GraphError> {
        let token_q = param(params, "access_token").filter(|t| !t.is_empty());
        let token_h = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("OAuth "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token_q.or(token_h) else {
            return Err(GraphError::missing_token());
        };
        req.token_q = token_q.map(str::to_string);
        if let Some(secret) = &self.cfg.app_secret {
            let Some(proof) = param(params, "appsecret_proof") else {
                return Err(GraphError::appsecret_missing());
            };
            let msg = match param(params, "appsecret_time") {
                Some(t) => format!("{token}|{t}"),
                None => token.to_string(),
            };
            if !appsecret_proof(secret, &msg).eq_ignore_ascii_case(proof) {
                return Err(GraphError::appsecret_invalid());
            }
        }
        Ok(token)
    }

    /// What a valid token may read: a configured token, or a per-Page token. A user token
    /// cannot read Page nodes (`(#210)`); anything else is not a token (190).
    pub(super) fn grant(&self, token: &str) -> Result<Cow<'_, TokenGrant>, GraphError> {
        let grant = match self.cfg.tokens.get(token) {
            Some(g) => Cow::Borrowed(g),
            None => match self.page_token_grant(token) {
                Some(g) => Cow::Owned(g),
                None => match self.cfg.accounts.users.get(token) {
                    Some(user) => {
                        check_status(user.status)?;
                        return Err(GraphError::page_token_required());
                    }
                    None => return Err(GraphError::invalid_token()),
                },
            },
        };
        check_status(grant.status)?;
        Ok(grant)
    }

    /// The grant of a per-Page token handed out by `/me/accounts` ([`crate::page_token`]).
    pub(super) fn page_token_grant(&self, token: &str) -> Option<TokenGrant> {
        let page_id = token.strip_prefix(PAGE_TOKEN_PREFIX)?;
        self.ds.page_index(page_id)?;
        let mut grant = TokenGrant {
            pages: Some(vec![page_id.to_string()]),
            ..TokenGrant::full()
        };
        if self.cfg.accounts.without_messaging.contains(page_id) {
            grant.permissions.remove(PERM_PAGES_MESSAGING);
            grant.permissions.remove(PERM_INSTAGRAM_MANAGE_MESSAGES);
        }
        Some(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appsecret_proof_matches_graph_api_test_vectors() {
        assert_eq!(
            appsecret_proof("appsecret-123", "access-token-234"),
            "cdfcbc87edc90f8123cd3797a0d6f6f7eedf63d97038a15d1693d297f653d7f2"
        );
        assert_eq!(
            appsecret_proof("appsecret-123", "access-token-234|1700000000"),
            "24576cd34ef4671d43d4876e233b5fca8c51165f9a6e5187c1cb53e2e365d6d0"
        );
    }
}
