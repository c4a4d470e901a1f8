//! The docs keep up with the code.

use std::path::Path;

fn repo(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

fn sources() -> String {
    let mut all = String::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                all.push_str(&std::fs::read_to_string(p).unwrap());
            }
        }
    }
    all
}

#[test]
fn metadata_version_matches_cargo_and_changelog() {
    let meta: serde_json::Value = serde_json::from_str(&repo("plugin-metadata.json")).unwrap();
    assert_eq!(meta["Version"], env!("CARGO_PKG_VERSION"));
    assert!(repo("CHANGELOG.md").contains(&format!("## {}", env!("CARGO_PKG_VERSION"))));
}

#[test]
fn readme_names_every_command_and_variable() {
    let readme = repo("README.md");
    let help = crate::support::Sandbox::new()
        .plugin()
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.contains(&"build"), "{help}");
    for c in commands {
        assert!(
            readme.contains(&format!("docker azdeploy {c}")),
            "README misses `{c}`"
        );
    }
    let src = sources();
    for (i, _) in src.match_indices("\"AZDEPLOY_") {
        let name: String = src[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        if name.ends_with('_') {
            continue; // a prefix, not a variable
        }
        assert!(readme.contains(&name), "README misses {name}");
    }
}

/// Every source file: (path under src/, its code before any `#[cfg(test)]`).
fn source_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, code));
            }
        }
    }
    out.sort();
    out
}

/// The `crate::…` paths a file's code names, as `top` or `top::second`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_' || *c == ':')
            .collect();
        let mut parts = path.split("::").filter(|p| !p.is_empty());
        if let Some(top) = parts.next() {
            out.push(match parts.next() {
                Some(second) => format!("{top}::{second}"),
                None => top.to_string(),
            });
        }
    }
    out
}

/// What a file may import: its own `//! May import:` line, else its folder's `mod.rs`'s.
fn allowed(rel: &str, files: &[(String, String)]) -> Option<Vec<String>> {
    let line_of = |code: &str| -> Option<Vec<String>> {
        let start = code.find("//! May import:")?;
        let mut text = String::new();
        for l in code[start..].lines() {
            let Some(l) = l.strip_prefix("//!") else {
                break;
            };
            if !text.is_empty() && l.trim().is_empty() {
                break;
            }
            text.push_str(l);
        }
        if text.contains("nothing of the crate") {
            return Some(Vec::new());
        }
        Some(
            text.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect(),
        )
    };
    let own = files
        .iter()
        .find(|(r, _)| r == rel)
        .and_then(|(_, c)| line_of(c));
    own.or_else(|| {
        let folder = rel.rsplit_once('/')?.0;
        let m = format!("{folder}/mod.rs");
        files
            .iter()
            .find(|(r, _)| *r == m)
            .and_then(|(_, c)| line_of(c))
    })
}

#[test]
fn each_module_imports_only_what_its_doc_allows() {
    let files = source_files();
    let mut bad = Vec::new();
    for (rel, code) in &files {
        if rel == "main.rs" {
            continue;
        }
        let Some(allow) = allowed(rel, &files) else {
            bad.push(format!(
                "{rel}: no `//! May import:` line (here or in its folder's mod.rs)"
            ));
            continue;
        };
        let own_top = rel.split(['/', '.']).next().unwrap();
        for path in crate_paths(code) {
            let top = path.split("::").next().unwrap();
            // Its own folder: siblings are always there to use.
            if top == own_top {
                continue;
            }
            let ok = allow
                .iter()
                .any(|a| path == *a || path.starts_with(&format!("{a}::")) || top == a);
            if !ok {
                bad.push(format!(
                    "{rel}: imports crate::{path}, not in its `May import` ({allow:?})"
                ));
            }
        }
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn no_command_imports_another() {
    for (rel, code) in source_files() {
        if rel.starts_with("cmd/") && rel != "cmd/mod.rs" {
            assert!(
                !code.contains("crate::cmd"),
                "{rel} imports another command"
            );
            assert!(
                !code.contains("super::"),
                "{rel} reaches into cmd/ through super::"
            );
        }
    }
}

/// `needle` may appear only in these files' code (tests aside).
fn only_in(needles: &[&str], allowed: &[&str]) -> Vec<String> {
    source_files()
        .into_iter()
        .filter(|(rel, _)| !allowed.contains(&rel.as_str()))
        .flat_map(|(rel, code)| {
            needles
                .iter()
                .filter(|n| code.contains(**n))
                .map(|n| format!("{rel}: {n}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn architecture_invariants_hold() {
    let spawn = only_in(
        &["duct::", "use duct", "process::Command", "Command::new("],
        &["process/runner.rs"],
    );
    assert!(
        spawn.is_empty(),
        "only process/runner.rs starts processes: {spawn:?}"
    );
    let env = only_in(
        &["env::var(", "env::var_os(", "env::vars("],
        &["main.rs", "ctx.rs", "process/tools.rs"],
    );
    assert!(
        env.is_empty(),
        "only main, ctx and tools read variables: {env:?}"
    );
    let which = only_in(&["which::"], &["process/tools.rs"]);
    assert!(which.is_empty(), "only tools finds programs: {which:?}");
    let clap = only_in(
        &["clap::", "use clap"],
        &["main.rs", "cli/args.rs", "cli/complete.rs"],
    );
    assert!(clap.is_empty(), "only cli/ and main know clap: {clap:?}");
    let stdout = only_in(
        &["println!", "print!(", "io::stdout()"],
        &["main.rs", "report/output.rs", "ctx.rs"],
    );
    assert!(
        stdout.is_empty(),
        "only report/output writes stdout: {stdout:?}"
    );
    let eprint = only_in(&["eprintln!", "eprint!("], &["main.rs"]);
    assert!(eprint.is_empty(), "stderr goes through say!: {eprint:?}");
    // Secrets travel on stdin only: no secret argument, no password in argv.
    let secrets = only_in(&["secret_arg", "\"--password\"", "\"-p\""], &[]);
    assert!(secrets.is_empty(), "a secret in argv: {secrets:?}");
}

#[test]
fn the_codemap_names_every_file() {
    let arch = repo("ARCHITECTURE.md");
    let missing: Vec<String> = source_files()
        .into_iter()
        .map(|(rel, _)| rel)
        .filter(|rel| !arch.contains(&format!("`src/{rel}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's codemap misses {missing:?}"
    );
}
