//! Environment interpolation inside string values: `${VAR}`, `${VAR:-default}`,
//! `${VAR:?message}`, and `$$` for a literal `$`.
//!
//! It runs on the parsed TOML tree, one string value at a time — never as text substitution
//! before parsing — so a value can't inject TOML syntax, and every error points at the string
//! it came from. Errors name the variable, never a value: the values are usually secrets.

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvError {
    /// `${VAR}` with `VAR` unset.
    Unset {
        /// The variable.
        var: String,
    },
    /// `${VAR:?message}` with `VAR` unset or empty.
    Required {
        /// The variable.
        var: String,
        /// The author's message.
        message: String,
    },
    /// Not a well-formed reference (`${` without `}`, an empty or invalid name).
    Syntax {
        /// What is wrong.
        message: String,
    },
}

/// The result of interpolating one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    /// The string with every reference replaced.
    pub value: String,
    /// The values that came from the environment (non-empty ones), so callers can scrub them
    /// from any message that might echo the string back.
    pub substituted: Vec<String>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Interpolates `input`, reading variables with `lookup`.
pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, EnvError> {
    let mut out = String::with_capacity(input.len());
    let mut substituted = Vec::new();
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(body_and_tail) = after.strip_prefix('{') else {
            // A lone `$` is kept as it is (prices, regexes): only `${` starts a reference.
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body_and_tail.find('}') else {
            return Err(EnvError::Syntax {
                message: "`${` is not closed by `}` (write `$$` for a literal `$`)".into(),
            });
        };
        let body = &body_and_tail[..end];
        rest = &body_and_tail[end + 1..];
        let (name, op) = match body.find(":-").or_else(|| body.find(":?")) {
            Some(i) => (&body[..i], Some((&body[i..i + 2], &body[i + 2..]))),
            None => (body, None),
        };
        if !valid_name(name) {
            return Err(EnvError::Syntax {
                message: format!(
                    "`${{{name}}}` is not a valid variable reference (names are letters, digits and `_`)"
                ),
            });
        }
        let value = lookup(name);
        let set_and_non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
        let replacement = match op {
            None => value.ok_or_else(|| EnvError::Unset {
                var: name.to_owned(),
            })?,
            Some((":-", default)) if !set_and_non_empty => default.to_owned(),
            Some((":?", message)) if !set_and_non_empty => {
                return Err(EnvError::Required {
                    var: name.to_owned(),
                    message: message.to_owned(),
                });
            }
            Some(_) => value.unwrap_or_default(),
        };
        if (op.is_none() || set_and_non_empty) && !replacement.is_empty() {
            substituted.push(replacement.clone());
        }
        out.push_str(&replacement);
    }
    out.push_str(rest);
    Ok(Interpolated {
        value: out,
        substituted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(s: &str) -> Result<String, EnvError> {
        interpolate(s, &env).map(|i| i.value)
    }

    #[test]
    fn replaces_set_variables_and_records_them() {
        let i = interpolate("Bearer ${TOKEN}!", &env).unwrap();
        assert_eq!(i.value, "Bearer s3cr3t!");
        assert_eq!(i.substituted, vec!["s3cr3t".to_string()]);
    }

    #[test]
    fn default_applies_when_unset_or_empty() {
        assert_eq!(run("${NOPE:-x}").unwrap(), "x");
        assert_eq!(run("${EMPTY:-x}").unwrap(), "x");
        assert_eq!(run("${TOKEN:-x}").unwrap(), "s3cr3t");
        assert_eq!(run("${NOPE:-}").unwrap(), "");
    }

    #[test]
    fn unset_variable_is_an_error_naming_it() {
        assert_eq!(
            run("a ${NOPE} b"),
            Err(EnvError::Unset { var: "NOPE".into() })
        );
    }

    #[test]
    fn required_variable_carries_the_message() {
        assert_eq!(
            run("${NOPE:?set the page token}"),
            Err(EnvError::Required {
                var: "NOPE".into(),
                message: "set the page token".into()
            })
        );
        assert!(run("${EMPTY:?m}").is_err());
    }

    #[test]
    fn dollar_escapes_and_lone_dollars_are_literal() {
        assert_eq!(run("$$HOME costs $5").unwrap(), "$HOME costs $5");
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(matches!(run("${TOKEN"), Err(EnvError::Syntax { .. })));
        assert!(matches!(run("${}"), Err(EnvError::Syntax { .. })));
        assert!(matches!(run("${9X}"), Err(EnvError::Syntax { .. })));
    }

    #[test]
    fn set_empty_variable_without_default_is_empty() {
        assert_eq!(run("[${EMPTY}]").unwrap(), "[]");
    }
}
