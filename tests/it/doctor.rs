use crate::build::healthy_engine;
use crate::support::*;

fn doctor_json(s: &Sandbox, args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out = s
        .plugin()
        .arg("doctor")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let v =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout_of(&out)));
    (out.status.code(), v, stderr_of(&out))
}

fn check<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {v}"))
}

fn app(s: &Sandbox) {
    healthy_engine(s);
    s.write("work/Dockerfile", "FROM scratch\nEXPOSE 8501\n");
}

#[test]
fn a_healthy_native_setup_passes_with_a_stable_json_shape() {
    let s = Sandbox::new();
    app(&s);
    let (code, v, _) = doctor_json(&s, &[]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["ok"], true);
    for c in v["checks"].as_array().unwrap() {
        let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["detail", "hint", "ms", "name", "status"], "{c}");
    }
    assert_eq!(check(&v, "engine")["detail"], "20.10.24 linux/amd64");
    assert_eq!(
        check(&v, "buildx")["detail"],
        "buildx 0.13.1+ds1; builder default (driver docker)"
    );
    assert_eq!(check(&v, "emulation")["status"], "skip");
    assert!(check(&v, "emulation")["detail"]
        .as_str()
        .unwrap()
        .starts_with("native"));
    assert_eq!(check(&v, "dockerfile")["status"], "ok");
    assert_eq!(check(&v, "az")["status"], "skip");
}

#[test]
fn missing_emulation_fails_with_the_binfmt_hint_and_a_table() {
    let s = Sandbox::new();
    app(&s);
    s.answer(
        "docker-buildx-build",
        "sh",
        "cat \"$0.stderr\" >&2 2>/dev/null; echo '#5 0.154 exec /probe: exec format error' >&2; exit 1\n",
    );
    s.write(
        "host/proc/sys/fs/binfmt_misc/qemu-aarch64",
        include_str!("../fixtures/captured/binfmt-qemu-aarch64-disabled.txt"),
    );
    let out = s
        .plugin()
        .env("AZDEPLOY_HOST_ROOT", s.path("host"))
        .args(["doctor", "--platform", "linux/arm64"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let table = stdout_of(&out);
    assert!(table.starts_with("CHECK"), "{table}");
    let line = table.lines().find(|l| l.starts_with("emulation")).unwrap();
    assert!(
        line.contains("fail") && line.contains("exec format error"),
        "{table}"
    );
    assert!(
        table.contains("hint: the binfmt_misc entry qemu-aarch64 is disabled"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("host") && l.contains("binfmt qemu-aarch64 disabled")),
        "{table}"
    );
    assert!(table.lines().all(|l| l.chars().count() <= 200), "{table}");
    assert!(stderr_of(&out).contains("1 failed"), "{}", stderr_of(&out));
    let probe = s
        .calls()
        .into_iter()
        .find(|c| c.contains(&"type=cacheonly".to_string()))
        .unwrap();
    assert!(probe.contains(&"--no-cache".to_string()));
}

#[test]
fn engine_down_fails_and_skips_the_probe() {
    let s = Sandbox::new();
    s.answer(
        "docker-version",
        "stdout",
        r#"{"Client":{"Version":"28.2.2"},"Server":null}"#,
    );
    s.answer(
        "docker-version",
        "stderr",
        include_str!("../fixtures/captured/docker-version-engine-down.stderr"),
    );
    s.answer("docker-version", "exit", "1");
    let (code, v, _) = doctor_json(&s, &["--platform", "linux/arm64"]);
    assert_eq!(code, Some(1));
    assert_eq!(v["ok"], false);
    assert_eq!(check(&v, "engine")["status"], "fail");
    assert!(check(&v, "engine")["hint"]
        .as_str()
        .unwrap()
        .contains("start the Docker engine"));
    assert_eq!(check(&v, "emulation")["status"], "skip");
    assert_eq!(check(&v, "docker")["status"], "ok");
}

#[test]
fn azure_is_checked_when_configured() {
    let s = Sandbox::new();
    app(&s);
    s.write("work/azdeploy.json", r#"{"azure": {"registry": "myacr"}}"#);
    s.answer(
        "az-version",
        "stdout",
        r#"{"azure-cli": "2.91.0", "azure-cli-core": "2.91.0", "extensions": {}}"#,
    );
    s.answer(
        "az-account",
        "stderr",
        "ERROR: Please run 'az login' to setup account.\n",
    );
    s.answer("az-account", "exit", "1");
    let (code, v, _) = doctor_json(&s, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(check(&v, "az")["detail"], "azure-cli 2.91.0");
    let login = check(&v, "az login");
    assert_eq!(login["status"], "fail");
    assert!(login["hint"].as_str().unwrap().contains("az login"));
    let calls = s.calls();
    assert!(calls.contains(&vec![
        "az".into(),
        "version".into(),
        "--output".into(),
        "json".into()
    ]));
    assert!(calls.contains(&vec![
        "az".into(),
        "account".into(),
        "show".into(),
        "--output".into(),
        "json".into()
    ]));
}

#[test]
fn az_missing_is_a_clear_failure_only_when_wanted() {
    let s = Sandbox::new();
    app(&s);
    std::fs::remove_file(s.path("bin/az")).unwrap();
    let (code, v, _) = doctor_json(&s, &[]);
    assert_eq!(code, Some(0), "not needed yet: a warning");
    assert_eq!(check(&v, "az")["status"], "warn");
    assert!(check(&v, "az")["detail"]
        .as_str()
        .unwrap()
        .contains("push and deploy will need it"));
    assert!(s.calls().iter().all(|c| c[0] != "az"));
    let (code, v, _) = doctor_json(&s, &["--azure"]);
    assert_eq!(code, Some(1));
    assert!(check(&v, "az")["detail"]
        .as_str()
        .unwrap()
        .contains("az not found"));
}

#[test]
fn lint_findings_are_reported() {
    let s = Sandbox::new();
    app(&s);
    s.write(
        "work/Dockerfile",
        "FROM arm64v8/python:3.12\nCMD [\"streamlit\", \"run\", \"app.py\"]\n",
    );
    let (code, v, _) = doctor_json(&s, &[]);
    assert_eq!(code, Some(0), "warnings do not fail: {v}");
    let details: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "dockerfile")
        .map(|c| c["detail"].as_str().unwrap())
        .collect();
    assert_eq!(details.len(), 3, "{details:?}");
}
