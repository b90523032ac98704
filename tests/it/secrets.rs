//! No secret echoed by diagnostics: every snippet masks the value of a key that is (or is
//! misspelled from) a secret, and anything that looks like a Graph token; `validate` warns when
//! a secret is written into the file instead of `${VAR}`.

use std::fs;

use crate::{root, run, tributary};

/// Each `tests/broken/secret-*.toml` writes a secret literally (`# secret: <value>`) on the
/// line its error points at: `validate` fails (exit 2) without printing it.
#[test]
fn broken_pipelines_never_print_the_secret_on_the_culprit_line() {
    let dir = root().join("tests/broken");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("secret-"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let secret = text
            .lines()
            .find_map(|l| l.strip_prefix("# secret: "))
            .expect("`# secret:` header")
            .trim();
        let at: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("# at: "))
            .and_then(|a| a.split(':').next())
            .and_then(|l| l.trim().parse().ok())
            .expect("`# at:` header");
        // The culprit line holds the secret: printing the excerpt unmasked would leak it.
        let culprit = text.lines().nth(at - 1).unwrap();
        assert!(culprit.contains(secret), "{}: {culprit}", file.display());
        let rel = file.strip_prefix(root()).unwrap();
        let (code, stdout, stderr) = run(tributary().args(["-vv", "validate"]).arg(rel));
        assert_eq!(code, 2, "{}: {stderr}", rel.display());
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "{}: the secret was printed:\n{stderr}",
            rel.display()
        );
        assert!(
            stderr.contains(&format!("{at} | ")) && stderr.contains("***"),
            "{}: the excerpt is shown, masked:\n{stderr}",
            rel.display()
        );
    }
}

fn pipeline(dir: &std::path::Path, token_line: &str) -> std::path::PathBuf {
    let file = dir.join("p.toml");
    fs::write(
        &file,
        format!(
            "[sources.pages]\ntype = \"graph_conversations\"\nbase_url = \"embedded\"\n\
             pages = [\"104857600000001\"]\n{token_line}\n\n[sinks.out]\ntype = \"stdout\"\n\
             inputs = [\"pages\"]\n"
        ),
    )
    .unwrap();
    file
}

#[test]
fn validate_warns_about_a_literal_secret_but_not_about_a_variable() {
    let dir = tempfile::tempdir().unwrap();
    let literal = "EAABwzLixnjYBAOZliteral0warning";
    let file = pipeline(dir.path(), &format!("access_token = \"{literal}\""));
    let (code, stdout, stderr) = run(tributary().arg("validate").arg(&file));
    assert_eq!(code, 0, "a warning, not an error: {stderr}");
    assert!(
        stderr.contains("warning: `access_token` is a secret written literally"),
        "{stderr}"
    );
    assert!(stderr.contains("p.toml:5:16"), "{stderr}");
    assert!(stderr.contains("${"), "the help shows `${{VAR}}`: {stderr}");
    assert!(
        !stderr.contains(literal) && !stdout.contains(literal),
        "{stderr}"
    );

    for line in [
        "access_token = \"${FB_PAGE_TOKEN:-demo-token}\"",
        // Short values are placeholders (the emulator's token), not credentials.
        "access_token = \"demo-token\"",
    ] {
        let file = pipeline(dir.path(), line);
        let (code, _, stderr) = run(tributary().arg("validate").arg(&file));
        assert_eq!(code, 0, "{stderr}");
        assert!(!stderr.contains("warning"), "{line}: {stderr}");
    }
}

#[test]
fn a_token_pasted_into_pages_is_refused_without_being_shown() {
    let dir = tempfile::tempdir().unwrap();
    let token = "EAABwzLixnjYBAOZpasted0inpages";
    let file = dir.path().join("p.toml");
    fs::write(
        &file,
        format!(
            "[sources.pages]\ntype = \"graph_conversations\"\nbase_url = \"embedded\"\n\
             pages = \"{token}\"\n\n[sinks.out]\ntype = \"stdout\"\ninputs = [\"pages\"]\n"
        ),
    )
    .unwrap();
    let (code, _, stderr) = run(tributary().arg("validate").arg(&file));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("p.toml:4:"), "{stderr}");
    assert!(stderr.contains("\"all\""), "{stderr}");
    assert!(!stderr.contains(token), "{stderr}");
}

/// Masking must not hide what a diagnostic is about: the value of every key a plugin has
/// is shown as written, unless the key is a secret.
#[test]
fn ordinary_plugin_keys_keep_their_values_in_snippets() {
    let (code, stdout, stderr) = run(tributary().args(["plugins", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let plugins: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut checked = 0;
    let mut secret = Vec::new();
    for (plugin, schema) in plugins.as_object().unwrap() {
        let Some(props) = schema["properties"].as_object() else {
            continue;
        };
        for key in props.keys() {
            let line = format!("{key} = \"ordinary-value\"");
            if tributary_core::config::is_secret_key(key) {
                secret.push(format!("{plugin}.{key}"));
                assert_eq!(
                    tributary_core::config::mask_secrets(&line),
                    format!("{key} = \"***\"")
                );
            } else {
                assert_eq!(
                    tributary_core::config::mask_secrets(&line),
                    line,
                    "{plugin}.{key}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
    secret.sort();
    assert_eq!(
        secret,
        [
            "sources.graph_conversations.access_token",
            "sources.graph_conversations.app_secret",
            "transforms.pseudonymize.key",
        ]
    );
}
