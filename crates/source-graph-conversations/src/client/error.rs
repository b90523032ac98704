//! Graph errors: the API's error envelope ([`ApiError`]), its classification ([`ErrorClass`],
//! by `error.code` — never by HTTP status, since throttles arrive as HTTP 400) and the client's
//! error type ([`GraphError`]), whose messages name the unit and say what to do next.
//!
//! No variant holds a secret: URLs are [`CleanUrl`]s, transport errors are stored as text
//! rendered without their URL, and server messages are scrubbed of the tokens in use.

use std::fmt;

use serde::Deserialize;

use super::model::UnitKey;

/// Graph's error envelope `{"error":{...}}` (Meta, "Handling Errors":
/// <https://developers.facebook.com/docs/graph-api/guides/error-handling>).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status of the response (200 for an error envelope inside a success).
    pub http_status: u16,
    /// `error.code` (0 when the body was not an error envelope, e.g. a bare 503).
    pub code: i64,
    /// `error.error_subcode`.
    pub subcode: Option<i64>,
    /// `error.type` (`OAuthException`, `GraphMethodException`, ...).
    pub type_: Option<String>,
    /// `error.message` (scrubbed of credentials).
    pub message: String,
    /// `error.fbtrace_id`, for Meta support.
    pub fbtrace_id: Option<String>,
    /// `error.is_transient`, when present.
    pub is_transient: Option<bool>,
    /// `error.error_user_title`.
    pub user_title: Option<String>,
    /// `error.error_user_msg`.
    pub user_msg: Option<String>,
}

/// What to do about an [`ApiError`] (by its code; see [`ApiError::class`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Temporary (codes 1 except subcode 2853001, 2, 5xx, `is_transient`): retry with backoff.
    Transient,
    /// A rate limit (4, 17, 32, 341, 613, 80000–80014): back off, slow the Page down, retry.
    Throttle,
    /// Code 1 "Please reduce the amount of data": halve the page size and retry.
    ReduceData,
    /// The token is missing, invalid or expired, or `appsecret_proof` is wrong (190, 102, 104,
    /// 2500, appsecret errors): fail, the user must issue a new token or fix `app_secret`.
    Auth,
    /// The token lacks a permission or the Page (10, 200–299, 230): fail.
    Permission,
    /// The policy enforcement block (368): fail, do not hammer.
    PolicyBlock,
    /// A request the API refuses (100, ...): fail, retrying cannot help.
    Fatal,
}

impl ErrorClass {
    /// Whether a retry may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::Transient | ErrorClass::Throttle | ErrorClass::ReduceData
        )
    }
}

/// Throttle codes (Meta's "Rate Limits",
/// <https://developers.facebook.com/docs/graph-api/overview/rate-limiting>: Airbyte's set plus
/// 341 and the Business Use Case range).
pub fn is_throttle_code(code: i64) -> bool {
    matches!(code, 4 | 17 | 32 | 341 | 613 | 80000..=80014)
}

impl ApiError {
    /// Parses an error envelope; `None` if `body` is not one.
    pub fn parse(http_status: u16, body: &[u8], secrets: &[&str]) -> Option<ApiError> {
        #[derive(Deserialize)]
        struct Envelope {
            error: Inner,
        }
        #[derive(Deserialize)]
        struct Inner {
            #[serde(default)]
            message: Option<String>,
            #[serde(default, rename = "type")]
            type_: Option<String>,
            #[serde(default)]
            code: Option<i64>,
            #[serde(default)]
            error_subcode: Option<i64>,
            #[serde(default)]
            fbtrace_id: Option<String>,
            #[serde(default)]
            is_transient: Option<bool>,
            #[serde(default)]
            error_user_title: Option<String>,
            #[serde(default)]
            error_user_msg: Option<String>,
        }
        let env: Envelope = serde_json::from_slice(body).ok()?;
        let e = env.error;
        let scrub = |s: Option<String>| s.map(|s| super::secure::scrub(&s, secrets));
        Some(ApiError {
            http_status,
            code: e.code.unwrap_or(0),
            subcode: e.error_subcode,
            type_: e.type_,
            message: scrub(e.message).unwrap_or_default(),
            fbtrace_id: e.fbtrace_id,
            is_transient: e.is_transient,
            user_title: scrub(e.error_user_title),
            user_msg: scrub(e.error_user_msg),
        })
    }

    /// An error for a non-2xx response whose body is not an envelope (a proxy's 503 page).
    pub fn from_status(http_status: u16, body: &[u8], secrets: &[&str]) -> ApiError {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
        ApiError {
            http_status,
            message: super::secure::scrub(text.trim(), secrets),
            ..ApiError::default()
        }
    }

    fn is_appsecret_error(&self) -> bool {
        self.code == 100 && self.message.contains("appsecret_proof")
    }

    fn is_reduce_data(&self) -> bool {
        self.code == 1
            && self
                .message
                .to_ascii_lowercase()
                .contains("reduce the amount of data")
    }

    /// Classifies by `error.code` (Graph sends throttles as HTTP 400, so the status alone
    /// misleads). HTTP status only decides for bodies that
    /// are not envelopes (code 0).
    pub fn class(&self) -> ErrorClass {
        if self.is_reduce_data() {
            return ErrorClass::ReduceData;
        }
        if self.is_appsecret_error() {
            return ErrorClass::Auth;
        }
        match self.code {
            190 | 102 | 104 | 2500 => return ErrorClass::Auth,
            10 | 200..=299 => return ErrorClass::Permission,
            368 => return ErrorClass::PolicyBlock,
            c if is_throttle_code(c) => return ErrorClass::Throttle,
            1 if self.subcode == Some(2_853_001) => return ErrorClass::Fatal,
            1 | 2 => return ErrorClass::Transient,
            _ => {}
        }
        if self.is_transient == Some(true) || self.http_status >= 500 {
            return ErrorClass::Transient;
        }
        if self.code == 0 && self.http_status == 429 {
            return ErrorClass::Throttle;
        }
        ErrorClass::Fatal
    }

    /// `code 190/463` or `code 190`.
    pub(crate) fn code_label(&self) -> String {
        match (self.code, self.subcode) {
            (0, _) => format!("HTTP {}", self.http_status),
            (c, Some(s)) => format!("code {c}/{s}"),
            (c, None) => format!("code {c}"),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {}", self.code_label(), self.http_status)?;
        if let Some(t) = &self.type_ {
            write!(f, ", {t}")?;
        }
        if let Some(id) = &self.fbtrace_id {
            write!(f, ", fbtrace_id {id}")?;
        }
        write!(f, "): {}", self.message)
    }
}

/// Everything the client can fail with. Messages name the unit and say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// The access token (or `appsecret_proof`) was refused.
    #[error("{unit}: {}. Graph said: {error}", auth_advice(.error, .unit))]
    Auth {
        /// Where.
        unit: UnitKey,
        /// The API's answer.
        error: Box<ApiError>,
    },
    /// The token lacks a permission, or may not read this Page.
    #[error("{unit}: {}. Graph said: {error}", permission_advice(.error, .unit))]
    Permission {
        /// Where.
        unit: UnitKey,
        /// The API's answer.
        error: Box<ApiError>,
    },
    /// Meta's policy enforcement blocked the app (code 368).
    #[error(
        "{unit}: blocked by Meta's policy enforcement (code 368): the app or Page is temporarily \
         restricted; check the app's alerts in the Meta developer dashboard and retry later. Graph said: {error}"
    )]
    PolicyBlock {
        /// Where.
        unit: UnitKey,
        /// The API's answer.
        error: Box<ApiError>,
    },
    /// The API refused the request itself (for example an unknown field, code 100).
    #[error("{unit}: Graph refused the request {url}: {error}{}", request_advice(.error))]
    Api {
        /// Where.
        unit: UnitKey,
        /// The request (credential-free).
        url: String,
        /// The API's answer.
        error: Box<ApiError>,
    },
    /// A retryable failure kept happening.
    #[error("{unit}: giving up after {attempts} attempts on {url}: {last}")]
    RetriesExhausted {
        /// Where.
        unit: UnitKey,
        /// The request (credential-free).
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure, already rendered credential-free.
        last: String,
    },
    /// A `paging.next` repeated a URL already requested in this walk.
    #[error(
        "{unit}: pagination did not advance: `paging.next` repeats {url}; stopping instead of \
         looping (report this to Meta with the page id)"
    )]
    CursorNotAdvancing {
        /// Where.
        unit: UnitKey,
        /// The repeated URL (credential-free).
        url: String,
    },
    /// A `paging.next` pointed to another origin: it is never followed with credentials.
    #[error(
        "{unit}: refusing to follow `paging.next` to {found}: it is not the configured origin \
         {expected}, and the access token must not be sent elsewhere"
    )]
    ForeignNext {
        /// Where.
        unit: UnitKey,
        /// The origin of the `next` link.
        found: String,
        /// The configured origin.
        expected: String,
    },
    /// The walk exceeded `max_pages_per_unit`.
    #[error("{unit}: more than {max} API pages; raise `max_pages_per_unit` if this is expected")]
    TooManyPages {
        /// Where.
        unit: UnitKey,
        /// The cap.
        max: u64,
    },
    /// A response that is valid JSON but not the expected shape.
    #[error("{unit}: unexpected response from {url}: {message}")]
    Decode {
        /// Where.
        unit: UnitKey,
        /// The request (credential-free).
        url: String,
        /// What did not fit.
        message: String,
    },
    /// Listing the token's Pages (`GET /me/accounts`, for `pages = "all"`) failed.
    #[error("listing the Pages of the access token (GET /me/accounts) failed: {}{}",
        reason.trim_end_matches('.'), fix.as_ref().map(|f| format!(". {f}")).unwrap_or_default())]
    Accounts {
        /// What happened (credential-free).
        reason: String,
        /// What to do, when there is something to do.
        fix: Option<String>,
        /// The API's answer, when the failure was one.
        error: Option<Box<ApiError>>,
    },
    /// The client could not be set up (bad base URL, TLS backend).
    #[error("{0}")]
    Setup(String),
}

impl GraphError {
    /// The unit the error happened in, if any.
    pub fn unit(&self) -> Option<&UnitKey> {
        match self {
            GraphError::Auth { unit, .. }
            | GraphError::Permission { unit, .. }
            | GraphError::PolicyBlock { unit, .. }
            | GraphError::Api { unit, .. }
            | GraphError::RetriesExhausted { unit, .. }
            | GraphError::CursorNotAdvancing { unit, .. }
            | GraphError::ForeignNext { unit, .. }
            | GraphError::TooManyPages { unit, .. }
            | GraphError::Decode { unit, .. } => Some(unit),
            GraphError::Accounts { .. } | GraphError::Setup(_) => None,
        }
    }

    /// What the user should do, when there is something to do.
    pub fn fix(&self) -> Option<String> {
        match self {
            GraphError::Auth { unit, error } => Some(auth_advice(error, unit)),
            GraphError::Permission { unit, error } => Some(permission_advice(error, unit)),
            GraphError::PolicyBlock { .. } => Some(
                "check the app's alerts in the Meta developer dashboard and retry later".into(),
            ),
            GraphError::Api { error, .. } => Some(
                request_advice(error)
                    .trim_start_matches(" (")
                    .trim_end_matches(')')
                    .to_string(),
            )
            .filter(|s| !s.is_empty()),
            GraphError::ForeignNext { expected, .. } => Some(format!(
                "make Graph (or the proxy in front of it) link to {expected}"
            )),
            GraphError::Accounts { fix, .. } => fix.clone(),
            _ => None,
        }
    }

    /// The API's answer, when the error is one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            GraphError::Auth { error, .. }
            | GraphError::Permission { error, .. }
            | GraphError::PolicyBlock { error, .. }
            | GraphError::Api { error, .. } => Some(error.as_ref()),
            GraphError::Accounts { error, .. } => error.as_deref(),
            _ => None,
        }
    }
}

fn permissions_for(unit: &UnitKey) -> &'static str {
    match unit.platform {
        super::model::Platform::Messenger => {
            "pages_messaging, pages_manage_metadata and pages_read_engagement"
        }
        super::model::Platform::Instagram => {
            "instagram_basic, instagram_manage_messages and pages_manage_metadata"
        }
    }
}

fn auth_advice(e: &ApiError, unit: &UnitKey) -> String {
    let reissue = format!(
        "issue a new Page access token for page {} with {} and update `access_token`",
        unit.page_id,
        permissions_for(unit)
    );
    if e.code == 100 {
        return format!(
            "appsecret_proof was refused ({}): set `app_secret` to the secret of the app that \
             issued the token (or leave it empty if the app does not require it)",
            e.code_label()
        );
    }
    format!("{} ({}): {reissue}", auth_what(e), e.code_label())
}

/// What an auth error means, in words.
pub(crate) fn auth_what(e: &ApiError) -> &'static str {
    match (e.code, e.subcode) {
        (190, Some(463)) => "the access token expired",
        (190, Some(467)) => "the access token is invalid because the user logged out",
        (190, Some(460)) => "the access token is invalid because the user changed their password",
        (190, Some(458)) => "the access token is invalid because the app is not installed",
        (190, Some(459)) => "the user must log in to Facebook to fix a checkpoint",
        (190, _) => "the access token is invalid",
        (104, _) => "no access token was sent",
        _ => "the access token was refused",
    }
}

fn permission_advice(e: &ApiError, unit: &UnitKey) -> String {
    let what = match e.code {
        10 => format!(
            "the token may not read page {} ({})",
            unit.page_id,
            e.code_label()
        ),
        230 => format!("the token lacks pages_messaging ({})", e.code_label()),
        _ => format!("the token lacks a permission ({})", e.code_label()),
    };
    format!(
        "{what}: use a Page access token of page {} issued by a person with the MESSAGING task, \
         with {}",
        unit.page_id,
        permissions_for(unit)
    )
}

fn request_advice(e: &ApiError) -> &'static str {
    if e.message.contains("nonexisting field") {
        " (remove the field from `fields`/`messages.fields`, or pick an `api_version` that has it)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{Folder, Platform};
    use super::*;

    fn err(status: u16, code: i64, subcode: Option<i64>, message: &str) -> ApiError {
        ApiError {
            http_status: status,
            code,
            subcode,
            message: message.into(),
            ..Default::default()
        }
    }

    #[test]
    fn classifies_by_code_not_status() {
        assert_eq!(err(400, 613, None, "").class(), ErrorClass::Throttle);
        assert_eq!(err(400, 80006, None, "").class(), ErrorClass::Throttle);
        for c in [4, 17, 32, 341, 80000, 80014] {
            assert_eq!(err(400, c, None, "").class(), ErrorClass::Throttle, "{c}");
        }
        assert_eq!(
            err(500, 1, Some(99), "An unknown error occurred").class(),
            ErrorClass::Transient
        );
        assert_eq!(err(400, 1, Some(2_853_001), "x").class(), ErrorClass::Fatal);
        assert_eq!(
            err(
                500,
                1,
                None,
                "Please reduce the amount of data you're asking for, then retry your request"
            )
            .class(),
            ErrorClass::ReduceData
        );
        assert_eq!(err(400, 2, None, "").class(), ErrorClass::Transient);
        assert_eq!(err(200, 2, None, "").class(), ErrorClass::Transient);
        assert_eq!(
            err(503, 0, None, "Service Unavailable").class(),
            ErrorClass::Transient
        );
        for (c, s) in [
            (190, Some(463)),
            (190, Some(467)),
            (190, None),
            (102, None),
            (104, None),
        ] {
            assert_eq!(err(400, c, s, "").class(), ErrorClass::Auth);
        }
        assert_eq!(
            err(
                400,
                100,
                None,
                "Invalid appsecret_proof provided in the API argument"
            )
            .class(),
            ErrorClass::Auth
        );
        for c in [10, 200, 230, 299] {
            assert_eq!(err(403, c, None, "").class(), ErrorClass::Permission);
        }
        assert_eq!(err(400, 368, None, "").class(), ErrorClass::PolicyBlock);
        assert_eq!(
            err(
                400,
                100,
                None,
                "(#100) Tried accessing nonexisting field (x)"
            )
            .class(),
            ErrorClass::Fatal
        );
        let mut transient = err(400, 12345, None, "");
        transient.is_transient = Some(true);
        assert_eq!(transient.class(), ErrorClass::Transient);
    }

    #[test]
    fn parses_the_envelope_and_scrubs_secrets() {
        let body = br#"{"error":{"message":"bad token tok-abcdef","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbC","is_transient":false}}"#;
        let e = ApiError::parse(400, body, &["tok-abcdef"]).unwrap();
        assert_eq!(
            (e.code, e.subcode, e.is_transient),
            (190, Some(463), Some(false))
        );
        assert_eq!(e.message, "bad token [redacted]");
        assert!(ApiError::parse(503, b"Service Unavailable", &[]).is_none());
    }

    #[test]
    fn auth_errors_name_the_page_and_the_fix() {
        let unit = UnitKey {
            page_id: "104857600000001".into(),
            platform: Platform::Messenger,
            folder: Folder::Inbox,
        };
        let e = GraphError::Auth {
            unit,
            error: Box::new(err(400, 190, Some(463), "Session has expired")),
        };
        let text = e.to_string();
        assert!(text.contains("page 104857600000001"), "{text}");
        assert!(
            text.contains("access token expired (code 190/463)"),
            "{text}"
        );
        assert!(text.contains("issue a new Page access token"), "{text}");
        assert!(text.contains("pages_messaging"), "{text}");
    }
}
