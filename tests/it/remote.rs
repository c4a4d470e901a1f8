//! `build --remote acr` through a fake az that records argv, streams a log and answers like
//! the real one.

use crate::support::*;

const DIGEST: &str = "sha256:6a3c2fbbd6b8d4c35f4e4c2c0cbd8b4b1b34a0e4e0d3e2c3a7a7b4d0e1f2a3b4";

fn project(s: &Sandbox) {
    s.write("work/Dockerfile", "FROM python:3.12-slim\nEXPOSE 8501\n");
    s.write("work/.dockerignore", ".venv\n.git\n");
    s.write("work/azdeploy.json", r#"{"image": "shop", "azure": {"registry": "myacr"}, "build": {"remote": "acr", "args": {"PY": "3.12"}}}"#);
    s.answer("az-acr-show", "stdout", "myacr.azurecr.io\n");
    s.answer(
        "az-acr-build",
        "sh",
        r#"echo "Packing source code into tar to upload..."
echo "Excluding '.venv' based on default ignore rules"
echo "Queued a build with ID: ca1"
echo "Step 1/2 : FROM python:3.12-slim"
exit "$(cat "$FAKE_DIR/build-exit" 2>/dev/null || echo 0)"
"#,
    );
    s.answer(
        "az-acr-repository",
        "stdout",
        &format!(
            r#"{{"changeableAttributes": {{"deleteEnabled": true, "listEnabled": true, "readEnabled": true, "writeEnabled": true}},
  "createdTime": "2026-11-28T06:00:00.0000000Z", "digest": "{DIGEST}", "lastUpdateTime": "2026-11-28T06:00:00.0000000Z",
  "name": "t1", "signed": false}}"#
        ),
    );
    manifests(s, "amd64");
}

fn manifests(s: &Sandbox, arch: &str) {
    s.answer(
        "az-acr-manifest",
        "stdout",
        &format!(
            r#"[{{"architecture": "{arch}", "changeableAttributes": {{"deleteEnabled": true}}, "configMediaType": "application/vnd.docker.container.image.v1+json",
   "createdTime": "2026-11-28T06:00:00.0000000Z", "digest": "{DIGEST}", "imageSize": 52000000,
   "lastUpdateTime": "2026-11-28T06:00:00.0000000Z", "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "os": "linux", "tags": ["t1", "latest"]}},
  {{"architecture": "amd64", "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "os": "linux", "tags": ["old"]}}]"#
        ),
    );
}

#[test]
fn acr_tasks_build_streams_its_log_and_hands_a_pinned_ref_to_deploy() {
    let s = Sandbox::new();
    project(&s);
    let out = s
        .plugin()
        .args(["build", "-t", "shop:t1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let pinned = format!("myacr.azurecr.io/shop:t1@{DIGEST}");
    assert_eq!(stdout_of(&out), format!("{pinned}\n"));
    let err = stderr_of(&out);
    assert!(
        err.contains("Queued a build with ID: ca1") && err.contains("Step 1/2"),
        "the log streams: {err}"
    );
    let calls = s.calls();
    let build = calls
        .iter()
        .find(|c| c.get(2).map(String::as_str) == Some("build"))
        .unwrap();
    assert_eq!(
        build,
        &[
            "az",
            "acr",
            "build",
            "--registry",
            "myacr",
            "--image",
            "shop:t1",
            "--image",
            "shop:latest",
            "--platform",
            "linux/amd64",
            "--file",
            "Dockerfile",
            "--build-arg",
            "PY=3.12",
            "."
        ]
        .map(String::from)
        .to_vec()
    );
    // The context goes to az as the directory (az packs it, honouring .dockerignore); no local
    // docker is involved at all.
    assert!(calls.iter().all(|c| c[0] == "az"), "{calls:?}");
    assert!(calls.contains(
        &[
            "az",
            "acr",
            "repository",
            "show",
            "--name",
            "myacr",
            "--image",
            "shop:t1",
            "--output",
            "json"
        ]
        .map(String::from)
        .to_vec()
    ));
    assert!(calls.contains(
        &[
            "az",
            "acr",
            "manifest",
            "list-metadata",
            "--registry",
            "myacr",
            "--name",
            "shop",
            "--output",
            "json"
        ]
        .map(String::from)
        .to_vec()
    ));
    let push: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/last-push.json"))).unwrap();
    assert_eq!(push["pinned"], pinned.as_str());
}

#[test]
fn acr_exit_codes_pass_through_and_the_gate_still_runs() {
    let s = Sandbox::new();
    project(&s);
    s.write("fake/build-exit", "5");
    let out = s
        .plugin()
        .args(["build", "-t", "shop:t1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr_of(&out).contains("error: failed to build the image in ACR Tasks"),
        "{}",
        stderr_of(&out)
    );
    assert!(s.calls().iter().all(|c| c[1] != "repository"));

    let s = Sandbox::new();
    project(&s);
    manifests(&s, "arm64");
    let out = s
        .plugin()
        .args(["build", "--remote", "acr", "-t", "shop:t1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("built for linux/arm64, not linux/amd64"),
        "{}",
        stderr_of(&out)
    );
    assert!(out.stdout.is_empty());
    assert!(!s.path("work/.azdeploy/last-push.json").exists());
}

#[test]
fn remote_acr_needs_an_acr_name() {
    let s = Sandbox::new();
    project(&s);
    s.write(
        "work/azdeploy.json",
        r#"{"image": "shop", "azure": {"registry": "myacr.azurecr.io"}}"#,
    );
    let out = s
        .plugin()
        .args(["build", "--remote", "acr"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_of(&out)
            .contains("set azure.registry (or AZDEPLOY_REGISTRY) to the registry's name"),
        "{}",
        stderr_of(&out)
    );
    let out = s
        .plugin()
        .args(["build", "--remote", "gcb"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_of(&out).contains("is not a remote builder"),
        "{}",
        stderr_of(&out)
    );
}
