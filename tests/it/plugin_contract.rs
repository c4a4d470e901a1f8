use crate::support::*;

/// The real docker CLI, with the plugin pointed at the recording fakes: anything it spawned
/// would show in `s.calls()`.
fn with_fakes(s: &Sandbox) -> assert_cmd::Command {
    let mut c = s.real_docker();
    c.env("AZDEPLOY_DOCKER", s.path("bin/docker"))
        .env("AZDEPLOY_AZ", s.path("bin/az"));
    c
}

#[test]
fn metadata_is_one_json_object_with_the_cargo_version() {
    let s = Sandbox::new();
    let out = s
        .plugin()
        .arg("docker-cli-plugin-metadata")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty());
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("exactly one JSON object");
    assert_eq!(v["SchemaVersion"], "0.1.0");
    assert_eq!(v["Version"], env!("CARGO_PKG_VERSION"));
    assert!(!v["Vendor"].as_str().unwrap().is_empty());
    assert!(!v["ShortDescription"].as_str().unwrap().is_empty());
    assert!(v["URL"].as_str().unwrap().starts_with("https://"));
    assert!(s.calls().is_empty(), "the metadata path spawns nothing");
}

#[test]
fn docker_help_lists_the_plugin_and_no_invalid_plugins() {
    let s = Sandbox::new();
    let out = s.real_docker().arg("--help").output().unwrap();
    let text = stdout_of(&out);
    assert!(text.contains("azdeploy*"), "{text}");
    assert!(text.contains("Azure Container Apps"), "{text}");
    assert!(!text.contains("Invalid Plugins"), "{text}");
}

#[test]
fn docker_info_lists_the_plugin_with_its_version() {
    let s = Sandbox::new();
    // Works with or without an engine: the client part is always filled in.
    let out = s
        .real_docker()
        .args(["info", "--format", "{{json .ClientInfo.Plugins}}"])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    let plugins: serde_json::Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text} {}", stderr_of(&out)));
    let ours = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Name"] == "azdeploy")
        .unwrap_or_else(|| panic!("not listed: {text}"));
    assert_eq!(ours["Version"], env!("CARGO_PKG_VERSION"));
    assert!(ours.get("Err").is_none_or(|e| e.is_null()), "{ours}");
}

#[test]
fn every_help_shape_prints_help() {
    let s = Sandbox::new();
    for args in [
        vec!["azdeploy", "--help"],
        vec!["azdeploy", "-h"],
        vec!["help", "azdeploy"],
        vec!["--help", "azdeploy"],
        vec!["azdeploy"],
    ] {
        let out = with_fakes(&s).args(&args).output().unwrap();
        let text = stdout_of(&out);
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
        assert!(text.contains("Usage: docker azdeploy"), "{args:?}: {text}");
        assert!(text.contains("config"), "{args:?}: {text}");
    }
    for args in [
        vec!["azdeploy", "config", "--help"],
        vec!["help", "azdeploy", "config"],
    ] {
        let out = with_fakes(&s).args(&args).output().unwrap();
        let text = stdout_of(&out);
        assert!(
            text.contains("Usage: docker azdeploy config"),
            "{args:?}: {text}"
        );
        assert!(text.contains("--json"), "{args:?}: {text}");
    }
    assert!(s.calls().is_empty(), "help spawns nothing");
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let s = Sandbox::new();
    let out = s.real_docker().args(["azdeploy", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr_of(&out);
    assert!(err.contains("unrecognized subcommand 'nope'"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn completion_through_docker_prints_candidates_then_directive() {
    let s = Sandbox::new();
    let out = with_fakes(&s)
        .args(["__complete", "azdeploy", ""])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&":4"), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("version\t")), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("config\t")), "{text}");
    // docker drops global flags and calls us with the partial word.
    let out = with_fakes(&s)
        .args(["__complete", "--context", "default", "azdeploy", "con"])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&out),
        "config\tShow the resolved settings and where each one came from\n:4\n"
    );
    assert!(s.calls().is_empty(), "completion spawns nothing");
}

#[test]
fn hooks_exit_zero_silently() {
    let s = Sandbox::new();
    let out = s
        .plugin()
        .args([
            "azdeploy",
            "docker-cli-plugin-hooks",
            r#"{"RootCmd":"ps","Flags":{},"CommandError":""}"#,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}
