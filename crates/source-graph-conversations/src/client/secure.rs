//! Credentials hygiene: `appsecret_proof`, URL redaction, the loopback rule and origin pinning.
//!
//! The invariant that makes redaction hold: every URL the client keeps (the first request URL,
//! each followed `paging.next`) is a [`CleanUrl`], built by stripping `access_token` and
//! `appsecret_proof`. Credentials are appended only to a throw-away copy at send time
//! ([`CleanUrl::with_credentials`]), and transport errors are stored without their URL. So
//! anything that can reach a log, an error or a panic is credential-free by construction.

use std::fmt;
use std::net::IpAddr;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use url::Url;

/// Query parameters that carry credentials and are never kept, logged or shown.
pub const SECRET_PARAMS: [&str; 2] = ["access_token", "appsecret_proof"];

/// `appsecret_proof` = lowercase hex HMAC-SHA256 with the app secret as key over the access
/// token — or over `"<token>|<unix time>"` for the time-bound variant (sent with
/// `appsecret_time`). Meta, "Securing Requests":
/// <https://developers.facebook.com/docs/graph-api/securing-requests>.
pub fn appsecret_proof(app_secret: &str, access_token: &str, time: Option<i64>) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(access_token.as_bytes());
    if let Some(t) = time {
        mac.update(format!("|{t}").as_bytes());
    }
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(64);
    for b in digest.iter() {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A URL without credentials: safe to log, to put in an error, to compare.
#[derive(Clone, PartialEq, Eq)]
pub struct CleanUrl(Url);

impl CleanUrl {
    /// Strips every [`SECRET_PARAMS`] from `url`.
    pub fn new(mut url: Url) -> CleanUrl {
        if url.query().is_some() {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| !SECRET_PARAMS.contains(&k.as_ref()))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if kept.is_empty() {
                url.set_query(None);
            } else {
                url.query_pairs_mut().clear().extend_pairs(kept);
            }
        }
        // A user:password in a URL is a credential too.
        let _ = url.set_password(None);
        let _ = url.set_username("");
        CleanUrl(url)
    }

    /// The URL to send: this one plus `access_token` (and `appsecret_proof` when an app secret
    /// is configured). The result must never be stored, logged or put in an error.
    pub fn with_credentials(&self, token: &SecretString, app_secret: Option<&SecretString>) -> Url {
        let mut url = self.0.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("access_token", token.expose_secret());
            if let Some(secret) = app_secret {
                q.append_pair(
                    "appsecret_proof",
                    &appsecret_proof(secret.expose_secret(), token.expose_secret(), None),
                );
            }
        }
        url
    }

    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<String> {
        self.0
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// A copy with query parameter `name` set to `value` (replacing it, or appended).
    pub fn with_param(&self, name: &str, value: &str) -> CleanUrl {
        let mut url = self.0.clone();
        let mut pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        match pairs.iter_mut().find(|(k, _)| k == name) {
            Some(pair) => pair.1 = value.to_string(),
            None => pairs.push((name.to_string(), value.to_string())),
        }
        url.query_pairs_mut().clear().extend_pairs(pairs);
        CleanUrl(url)
    }

    /// `scheme://host:port`.
    pub fn origin(&self) -> String {
        origin_of(&self.0)
    }

    /// The URL as a string (credential-free).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for CleanUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for CleanUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CleanUrl({})", self.0.as_str())
    }
}

/// `scheme://host:port` with the port made explicit, so `https://h` and `https://h:443` match.
pub fn origin_of(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// Redacts credentials from a URL string for display. Unparseable input is replaced entirely:
/// if we cannot find the parameters, we cannot promise they are gone.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => CleanUrl::new(u).to_string(),
        Err(_) => "<unparseable URL redacted>".to_string(),
    }
}

/// Whether `host` is a loopback host (127.0.0.0/8, ::1, `localhost`).
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// Checks a base URL: `https`, or `http` to a loopback host only (tokens must not cross a
/// network in clear text). Returns the parsed URL.
pub fn check_base_url(base: &str) -> Result<Url, String> {
    let url = Url::parse(base).map_err(|e| format!("`{}` is not a URL: {e}", redact_url(base)))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = url.host().as_ref().is_some_and(is_loopback_host);
            if !loopback {
                return Err(format!(
                    "plain http:// is refused for `{}`: access tokens would cross the network \
                     unencrypted; use https:// (http:// is allowed only to 127.0.0.1, ::1 or localhost)",
                    url.host_str().unwrap_or("")
                ));
            }
        }
        other => return Err(format!("unsupported URL scheme `{other}`: use https://")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the base URL has no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the base URL must not have a query or fragment".into());
    }
    Ok(url)
}

/// Replaces every occurrence of any of `secrets` in `text` (for messages that came from the
/// server: they should never echo a token, but if one does, it stops here).
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        // Very short "secrets" would shred ordinary text; real tokens are long.
        if s.len() >= 6 && out.contains(s) {
            out = out.replace(s, "[redacted]");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appsecret_proof_matches_the_sdk_test_vectors() {
        assert_eq!(
            appsecret_proof("appsecret-123", "access-token-234", None),
            "cdfcbc87edc90f8123cd3797a0d6f6f7eedf63d97038a15d1693d297f653d7f2"
        );
        assert_eq!(
            appsecret_proof("appsecret-123", "access-token-234", Some(1_700_000_000)),
            "24576cd34ef4671d43d4876e233b5fca8c51165f9a6e5187c1cb53e2e365d6d0"
        );
    }

    #[test]
    fn clean_url_strips_credentials_and_keeps_the_rest() {
        let raw = "https://user:pw@graph.facebook.com/v25.0/1/conversations?access_token=SECRET&pretty=0&appsecret_proof=abc&limit=25&after=QVFI";
        let clean = CleanUrl::new(Url::parse(raw).unwrap());
        let s = clean.to_string();
        assert!(
            !s.contains("SECRET") && !s.contains("abc") && !s.contains("pw"),
            "{s}"
        );
        assert!(s.contains("limit=25") && s.contains("after=QVFI") && s.contains("pretty=0"));
        assert!(!format!("{clean:?}").contains("SECRET"));
        assert_eq!(redact_url(raw), s);
        assert_eq!(
            redact_url("::not a url access_token=SECRET"),
            "<unparseable URL redacted>"
        );
    }

    #[test]
    fn credentials_are_added_only_to_the_sent_copy() {
        let clean = CleanUrl::new(Url::parse("https://h/v1/x?limit=5").unwrap());
        let token = SecretString::from("tok-123456");
        let secret = SecretString::from("appsecret-123");
        let sent = clean.with_credentials(&token, Some(&secret));
        assert!(sent.as_str().contains("access_token=tok-123456"));
        assert!(sent.as_str().contains("appsecret_proof="));
        assert!(!clean.as_str().contains("tok-123456"));
        assert_eq!(
            clean.with_param("limit", "2").param("limit").as_deref(),
            Some("2")
        );
    }

    #[test]
    fn http_is_refused_except_to_loopback() {
        assert!(check_base_url("https://graph.facebook.com").is_ok());
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://[::1]:1",
            "http://localhost:3",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://graph.facebook.com",
            "http://10.0.0.1",
            "http://128.0.0.1",
            "ftp://x",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
        let err = check_base_url("http://example.com").unwrap_err();
        assert!(err.contains("https://"), "{err}");
    }

    #[test]
    fn origins_compare_with_explicit_ports() {
        let a = Url::parse("https://graph.facebook.com/v1").unwrap();
        let b = Url::parse("https://graph.facebook.com:443/v2?x=1").unwrap();
        let c = Url::parse("http://graph.facebook.com/v1").unwrap();
        assert_eq!(origin_of(&a), origin_of(&b));
        assert_ne!(origin_of(&a), origin_of(&c));
    }

    #[test]
    fn scrub_replaces_secrets_in_server_text() {
        assert_eq!(
            scrub("bad token tok-123456!", &["tok-123456"]),
            "bad token [redacted]!"
        );
    }
}
