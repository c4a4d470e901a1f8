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
