//! Graph's error envelope and every error the emulator answers with.
//!
//! Bodies follow Meta's "Handling Errors"
//! (<https://developers.facebook.com/docs/graph-api/guides/error-handling>):
//! `{"error":{"message","type","code","error_subcode",
//! "is_transient","fbtrace_id"}}` (optional keys only when set), HTTP status as Graph sends it
//! (throttles are 400, permissions 403, code 1 is 500), and `WWW-Authenticate` on
//! `OAuthException`s.

use crate::util::push_json_str;

/// One Graph error response.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GraphError {
    pub status: u16,
    pub message: String,
    pub kind: &'static str,
    pub code: i64,
    pub subcode: Option<i64>,
    pub is_transient: Option<bool>,
    /// Second token of `WWW-Authenticate: OAuth "Facebook Platform" "<this>" "<message>"`.
    pub www_authenticate: Option<&'static str>,
    /// A non-JSON body (the bare 503 fault).
    pub plain_body: Option<&'static str>,
}

const OAUTH: &str = "OAuthException";
const METHOD: &str = "GraphMethodException";

impl GraphError {
    fn new(status: u16, code: i64, kind: &'static str, message: impl Into<String>) -> GraphError {
        GraphError {
            status,
            message: message.into(),
            kind,
            code,
            subcode: None,
            is_transient: None,
            www_authenticate: (kind == OAUTH).then_some("invalid_request"),
            plain_body: None,
        }
    }

    fn subcode(mut self, subcode: i64) -> Self {
        self.subcode = Some(subcode);
        self
    }

    /// `fields` syntax error (code 2500).
    pub fn syntax(what: &str, at: usize, src: &str) -> GraphError {
        GraphError::new(
            400,
            2500,
            OAUTH,
            format!("Syntax error \"{what}\" at character {at}: {src}"),
        )
    }

    /// A bad parameter (code 100) with the given full message.
    pub fn param(message: &str) -> GraphError {
        GraphError::new(400, 100, OAUTH, message)
    }

    /// `(#100) Tried accessing nonexisting field (f) on node type (T)`.
    pub fn nonexisting_field(field: &str, node: &str) -> GraphError {
        GraphError::param(&format!(
            "(#100) Tried accessing nonexisting field ({field}) on node type ({node})"
        ))
    }

    /// `since`/`until` on the conversations edge. The real answer is **UNCONFIRMED**; Meta
    /// documents that time-based pagination is not available there.
    pub fn time_paging(param: &str) -> GraphError {
        GraphError::param(&format!(
            "(#100) Param {param} is not supported: time-based pagination is not available for the conversations endpoint"
        ))
    }

    /// A cursor we did not issue. The real message is **UNCONFIRMED**.
    pub fn bad_cursor(param: &str) -> GraphError {
        GraphError::param(&format!(
            "(#100) The parameter {param} is not a valid cursor"
        ))
    }

    /// Code 104: no token.
    pub fn missing_token() -> GraphError {
        GraphError::new(
            400,
            104,
            OAUTH,
            "An access token is required to request this resource.",
        )
    }

    /// Code 190: unknown or malformed token.
    pub fn invalid_token() -> GraphError {
        let mut e = GraphError::new(400, 190, OAUTH, "Invalid OAuth access token.");
        e.www_authenticate = Some("invalid_token");
        e
    }

    /// Code 190 subcode 463: expired token. `now` is the current Unix time.
    pub fn expired_token(now: i64) -> GraphError {
        // Expired at a fixed instant (the day before the dataset's newest activity).
        let expired_at = crate::data::BASE_EPOCH - 86_400 + 6 * 3600;
        let mut e = GraphError::new(
            400,
            190,
            OAUTH,
            format!(
                "Error validating access token: Session has expired on {}. The current time is {}.",
                pacific(expired_at),
                pacific(now)
            ),
        )
        .subcode(463);
        e.www_authenticate = Some("invalid_token");
        e
    }

    /// Code 190 subcode 467: the user logged out.
    pub fn logged_out_token() -> GraphError {
        let mut e = GraphError::new(
            400,
            190,
            OAUTH,
            "Error validating access token: The session is invalid because the user logged out.",
        )
        .subcode(467);
        e.www_authenticate = Some("invalid_token");
        e
    }

    /// `appsecret_proof` required but missing.
    pub fn appsecret_missing() -> GraphError {
        GraphError::new(
            400,
            100,
            METHOD,
            "API calls from the server require an appsecret_proof argument",
        )
    }

    /// `appsecret_proof` wrong.
    pub fn appsecret_invalid() -> GraphError {
        GraphError::new(
            400,
            100,
            METHOD,
            "Invalid appsecret_proof provided in the API argument",
        )
    }

    /// Code 10, HTTP 403.
    pub fn permission10() -> GraphError {
        GraphError::new(
            403,
            10,
            OAUTH,
            "(#10) Application does not have permission for this action",
        )
    }

    /// Code 200, HTTP 403.
    pub fn permission200(permission: &str) -> GraphError {
        GraphError::new(
            403,
            200,
            OAUTH,
            format!("(#200) Requires {permission} permission to manage the object"),
        )
    }

    /// Code 230, HTTP 403.
    pub fn permission230() -> GraphError {
        GraphError::new(
            403,
            230,
            OAUTH,
            "(#230) Requires pages_messaging permission to manage the object",
        )
    }

    /// Code 210, HTTP 403: a user token where a Page token is needed.
    pub fn page_token_required() -> GraphError {
        GraphError::new(
            403,
            210,
            OAUTH,
            "(#210) A page access token is required to request this resource.",
        )
    }

    /// Code 1 subcode 99, HTTP 500.
    pub fn unknown1() -> GraphError {
        GraphError::new(500, 1, OAUTH, "An unknown error occurred").subcode(99)
    }

    /// Code 1 "reduce the amount of data", HTTP 500.
    pub fn reduce_data() -> GraphError {
        GraphError::new(
            500,
            1,
            OAUTH,
            "Please reduce the amount of data you're asking for, then retry your request",
        )
    }

    /// Code 2 with `is_transient: true`, HTTP 400.
    pub fn transient2() -> GraphError {
        let mut e = GraphError::new(
            400,
            2,
            OAUTH,
            "An unexpected error has occurred. Please retry your request later.",
        );
        e.is_transient = Some(true);
        e
    }

    /// Code 4.
    pub fn app_limit4() -> GraphError {
        GraphError::new(400, 4, OAUTH, "(#4) Application request limit reached")
    }

    /// Code 17.
    pub fn user_limit17() -> GraphError {
        GraphError::new(400, 17, OAUTH, "(#17) User request limit reached")
    }

    /// Code 32.
    pub fn page_limit32() -> GraphError {
        GraphError::new(400, 32, OAUTH, "(#32) Page request limit reached")
    }

    /// Code 613.
    pub fn rate_limit613() -> GraphError {
        GraphError::new(
            400,
            613,
            OAUTH,
            "(#613) Calls to this api have exceeded the rate limit.",
        )
    }

    /// Code 80006 (message text **UNCONFIRMED**).
    pub fn messenger_buc80006() -> GraphError {
        GraphError::new(
            400,
            80006,
            OAUTH,
            "(#80006) There have been too many messenger api calls to this Page account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
        )
    }

    /// Code 368 (HTTP status **UNCONFIRMED**).
    pub fn policy368() -> GraphError {
        GraphError::new(
            400,
            368,
            OAUTH,
            "The action attempted has been deemed abusive or is otherwise disallowed",
        )
    }

    /// Code 100 subcode 33: unknown object (also: a message older than the newest 20, whose
    /// real answer is **UNCONFIRMED**).
    pub fn unsupported_get(id: &str) -> GraphError {
        GraphError::new(
            400,
            100,
            METHOD,
            format!(
                "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
        )
        .subcode(33)
    }

    /// A method other than GET on a Graph route.
    pub fn unsupported_method(method: &str, id: &str) -> GraphError {
        GraphError::new(
            400,
            100,
            METHOD,
            format!(
                "Unsupported {} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
                method.to_ascii_lowercase()
            ),
        )
        .subcode(33)
    }

    /// Code 2500: a path we do not serve.
    pub fn unknown_path(components: &str) -> GraphError {
        GraphError::new(
            400,
            2500,
            OAUTH,
            format!("Unknown path components: {components}"),
        )
    }

    /// A bare 503 with a non-JSON body.
    pub fn http503() -> GraphError {
        let mut e = GraphError::new(503, 0, "", "Service Unavailable");
        e.www_authenticate = None;
        e.plain_body = Some("Service Unavailable");
        e
    }

    /// An error envelope (code 2) in an HTTP 200 response.
    pub fn error_in_200() -> GraphError {
        let mut e = GraphError::transient2();
        e.status = 200;
        e
    }

    /// Whether this is a throttle (counted separately in [`crate::Stats`]).
    pub fn is_throttle(&self) -> bool {
        matches!(self.code, 4 | 17 | 32 | 613 | 80000..=80014)
    }

    /// The JSON body.
    pub fn body(&self, fbtrace_id: &str) -> Vec<u8> {
        if let Some(plain) = self.plain_body {
            return plain.as_bytes().to_vec();
        }
        let mut out = Vec::with_capacity(160 + self.message.len());
        out.extend_from_slice(b"{\"error\":{\"message\":");
        push_json_str(&mut out, &self.message);
        out.extend_from_slice(b",\"type\":");
        push_json_str(&mut out, self.kind);
        out.extend_from_slice(b",\"code\":");
        crate::util::push_i64(&mut out, self.code);
        if let Some(sub) = self.subcode {
            out.extend_from_slice(b",\"error_subcode\":");
            crate::util::push_i64(&mut out, sub);
        }
        if let Some(t) = self.is_transient {
            out.extend_from_slice(if t {
                b",\"is_transient\":true"
            } else {
                b",\"is_transient\":false"
            });
        }
        out.extend_from_slice(b",\"fbtrace_id\":");
        push_json_str(&mut out, fbtrace_id);
        out.extend_from_slice(b"}}");
        out
    }

    /// The `WWW-Authenticate` header value, if any.
    pub fn www_authenticate_header(&self) -> Option<String> {
        self.www_authenticate.map(|kind| {
            // Header values must be visible ASCII; our messages are.
            let msg: String = self
                .message
                .chars()
                .map(|c| if c == '"' || !c.is_ascii() { '\'' } else { c })
                .collect();
            format!("OAuth \"Facebook Platform\" \"{kind}\" \"{msg}\"")
        })
    }
}

/// Formats a Unix time like Graph's expiry messages: `Thursday, 19-Nov-26 10:00:00 PST`
/// (Pacific time is approximated as UTC-8 all year).
fn pacific(unix: i64) -> String {
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = unix - 8 * 3600;
    let days = t.div_euclid(86_400);
    let iso = crate::util::graph_time(t);
    // iso = YYYY-MM-DDTHH:MM:SS+0000
    let month: usize = iso.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
    format!(
        "{}, {}-{}-{} {} PST",
        DAYS[days.rem_euclid(7) as usize],
        iso.get(8..10).unwrap_or("01"),
        MONTHS[(month.clamp(1, 12)) - 1],
        iso.get(2..4).unwrap_or("00"),
        iso.get(11..19).unwrap_or("00:00:00"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_graph_key_order() {
        let body = GraphError::expired_token(0).body("AbC");
        let s = String::from_utf8(body).unwrap();
        assert!(s.starts_with(
            "{\"error\":{\"message\":\"Error validating access token: Session has expired on "
        ));
        assert!(s.ends_with(",\"type\":\"OAuthException\",\"code\":190,\"error_subcode\":463,\"fbtrace_id\":\"AbC\"}}"));
    }

    #[test]
    fn pacific_time_format() {
        // 1970-01-01T08:00:00Z is Thursday 00:00 in UTC-8.
        assert_eq!(pacific(8 * 3600), "Thursday, 01-Jan-70 00:00:00 PST");
    }
}
