//! Reading a request: the path (version, node, edge), query parameters, `limit`, cursors and
//! `fields`. Pure functions of the request and the configuration.

use hyper::Method;

use super::types::{Req, Shared};
use crate::error::GraphError;
use crate::fields::{self, TField};
use crate::render::decode_cursor;

pub(super) fn is_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let Some((a, b)) = rest.split_once('.') else {
        return false;
    };
    !a.is_empty()
        && !b.is_empty()
        && a.bytes().all(|c| c.is_ascii_digit())
        && b.bytes().all(|c| c.is_ascii_digit())
}

pub(super) fn version_major(v: &str) -> u32 {
    v.trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(u32::MAX)
}

/// The query string as decoded `(key, value)` pairs, in request order.
pub(super) fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// Splits the path into `(node, edge)` and records the version; Graph rejects a path it
/// cannot route and any method but GET/HEAD before it looks at the token.
pub(super) fn parse_path<'p>(
    req: &mut Req,
    method: &Method,
    path: &'p str,
) -> Result<(&'p str, Option<&'p str>), GraphError> {
    let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(first) = segs.first()
        && is_version(first)
    {
        req.version = (*first).to_string();
        segs.remove(0);
    }
    if segs.is_empty() || segs.len() > 2 {
        let rest = if segs.len() > 2 {
            format!("/{}", segs[1..].join("/"))
        } else {
            "/".to_string()
        };
        return Err(GraphError::unknown_path(&rest));
    }
    let (id, edge) = (segs[0], segs.get(1).copied());
    if method != Method::GET && method != Method::HEAD {
        return Err(GraphError::unsupported_method(method.as_str(), id));
    }
    Ok((id, edge))
}

pub(super) fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Parameters never echoed into paging URLs: credentials and paging state.
pub(super) fn echo_params(params: &[(String, String)]) -> Vec<(String, String)> {
    params
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "access_token"
                    | "pretty"
                    | "limit"
                    | "after"
                    | "before"
                    | "appsecret_proof"
                    | "appsecret_time"
            )
        })
        .cloned()
        .collect()
}

pub(super) fn parse_limit(params: &[(String, String)], max: usize) -> Result<usize, GraphError> {
    match param(params, "limit") {
        None | Some("") => Ok(fields::clamp_limit(None, max)),
        Some(v) => v
            .parse::<i64>()
            .map(|n| fields::clamp_limit(Some(n), max))
            .map_err(|_| {
                GraphError::param(&format!("(#100) Param limit must be a number, got \"{v}\""))
            }),
    }
}

/// `fields` of a message read; `id,created_time` when absent.
pub(super) fn message_fields(
    params: &[(String, String)],
) -> Result<Vec<fields::MField>, GraphError> {
    match param(params, "fields") {
        Some(f) if !f.trim().is_empty() => fields::message_fields(&fields::parse(f)?),
        _ => Ok(fields::default_message_fields()),
    }
}

impl Shared {
    pub(super) fn thread_fields(
        &self,
        params: &[(String, String)],
        version: &str,
    ) -> Result<Vec<TField>, GraphError> {
        match param(params, "fields") {
            Some(f) if !f.trim().is_empty() => fields::thread_fields(
                &fields::parse(f)?,
                self.cfg.max_limit,
                version_major(version),
            ),
            _ => Ok(vec![TField::Id, TField::UpdatedTime]),
        }
    }

    /// Start position from `after`/`before` (`before` pages backwards by `limit`).
    pub(super) fn cursor_start(
        &self,
        params: &[(String, String)],
        limit: usize,
    ) -> Result<i64, GraphError> {
        if let Some(c) = param(params, "after").filter(|c| !c.is_empty()) {
            let pos =
                decode_cursor(self.cfg.seed, c).ok_or_else(|| GraphError::bad_cursor("after"))?;
            return Ok(pos + 1);
        }
        if let Some(c) = param(params, "before").filter(|c| !c.is_empty()) {
            let pos =
                decode_cursor(self.cfg.seed, c).ok_or_else(|| GraphError::bad_cursor("before"))?;
            return Ok((pos - limit as i64).max(0));
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_versions() {
        assert!(is_version("v19.0"));
        assert!(!is_version("v19"));
        assert!(!is_version("104857600000001"));
        assert_eq!(version_major("v25.0"), 25);
    }
}
