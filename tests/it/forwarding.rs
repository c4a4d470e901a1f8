use crate::support::*;

const VERSION_JSON: &str = r#"{"Client":{"Version":"28.2.2"},"Server":{"Version":"20.10.24","Os":"linux","Arch":"amd64"}}"#;

fn docker_calls(s: &Sandbox) -> Vec<Vec<String>> {
    s.calls().into_iter().filter(|c| c[0] == "docker").collect()
}

#[test]
fn globals_in_every_form_reach_the_child_docker_call() {
    for (globals, expected) in [
        (vec!["--context", "ctx1"], vec!["--context", "ctx1"]),
        (vec!["-c", "ctx1"], vec!["-c", "ctx1"]),
        (vec!["-cctx1"], vec!["-c", "ctx1"]),
        (vec!["--context=ctx1"], vec!["--context=ctx1"]),
        (vec!["-H", "unix:///x.sock"], vec!["-H", "unix:///x.sock"]),
        (
            vec!["--host", "tcp://127.0.0.1:1"],
            vec!["--host", "tcp://127.0.0.1:1"],
        ),
        (vec!["--config", "/cfg"], vec!["--config", "/cfg"]),
        (vec!["-D", "-l", "warn"], vec!["-l", "warn"]),
        (
            vec!["--log-level=error", "--tlsverify", "--tlscacert", "ca.pem"],
            vec!["--log-level=error", "--tlsverify", "--tlscacert", "ca.pem"],
        ),
        (vec!["-Dc", "azdeploy"], vec!["-c", "azdeploy"]),
    ] {
        let s = Sandbox::new();
        s.answer("docker-version", "stdout", VERSION_JSON);
        let out = s
            .plugin()
            .args(&globals)
            .args(["azdeploy", "version"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{globals:?}: {}", stderr_of(&out));
        let calls = docker_calls(&s);
        assert_eq!(calls.len(), 1, "{globals:?}");
        let mut want = vec!["docker".to_string()];
        want.extend(expected.iter().map(|s| s.to_string()));
        want.extend(["version", "--format", "{{json .}}"].map(String::from));
        assert_eq!(calls[0], want, "{globals:?}");
        assert_eq!(
            stdout_of(&out),
            format!(
                "docker-azdeploy {}\nclient: 28.2.2\nengine: 20.10.24 (linux/amd64)\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}

#[test]
fn standalone_runs_without_the_plugin_name() {
    let s = Sandbox::new();
    s.answer("docker-version", "stdout", VERSION_JSON);
    let out = s
        .plugin()
        .args(["--context", "x", "version", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["plugin"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["engine"]["version"], "20.10.24");
    assert_eq!(docker_calls(&s)[0][1..3], ["--context", "x"]);
}

#[test]
fn verbose_echoes_the_command_and_d_does_too() {
    let s = Sandbox::new();
    s.answer("docker-version", "stdout", VERSION_JSON);
    for args in [
        vec!["azdeploy", "--verbose", "version"],
        vec!["-D", "azdeploy", "version"],
        vec!["-v", "version"],
    ] {
        let out = s.plugin().args(&args).output().unwrap();
        let err = stderr_of(&out);
        assert!(
            err.contains("/bin/docker version --format '{{json .}}'\n"),
            "{args:?}: {err}"
        );
        assert!(err.starts_with("+ "), "{args:?}: {err}");
    }
}

#[test]
fn engine_down_is_reported_with_a_hint() {
    let s = Sandbox::new();
    s.answer(
        "docker-version",
        "stdout",
        r#"{"Client":{"Version":"28.2.2"},"Server":null}"#,
    );
    s.answer(
        "docker-version",
        "stderr",
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
    );
    s.answer("docker-version", "exit", "1");
    let out = s.plugin().arg("version").output().unwrap();
    assert!(out.status.success());
    assert!(stdout_of(&out).ends_with("engine: not reachable\n"));
    let err = stderr_of(&out);
    assert!(err.contains("Cannot connect to the Docker daemon"), "{err}");
    assert!(err.contains("hint: start the Docker engine"), "{err}");
}

#[test]
fn docker_missing_is_a_clear_message() {
    let s = Sandbox::new();
    std::fs::remove_file(s.path("bin/docker")).unwrap();
    let out = s
        .plugin()
        .env("PATH", s.path("bin"))
        .arg("version")
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(err.contains("docker not found on PATH"), "{err}");
    assert!(err.contains("hint: install Docker Desktop"), "{err}");
    let out = s
        .plugin()
        .env("AZDEPLOY_DOCKER", "/no/docker")
        .arg("version")
        .output()
        .unwrap();
    assert!(stderr_of(&out).contains("docker not found at AZDEPLOY_DOCKER=/no/docker"));
}

#[test]
fn children_do_not_inherit_our_plugin_variables() {
    let s = Sandbox::new();
    s.answer("docker-version", "sh", "env > \"$FAKE_DIR/env.txt\"\n");
    s.plugin()
        .env("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND", "docker")
        .arg("version")
        .assert()
        .success();
    let env = read(&s.path("fake/env.txt"));
    assert!(env.contains("FAKE_LOG="), "{env}");
    assert!(!env.contains("DOCKER_CLI_PLUGIN_"), "{env}");
}
