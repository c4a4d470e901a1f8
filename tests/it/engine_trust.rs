//! The promise that only linux/amd64 reaches Azure, and that no remembered or labelled answer
//! passes for proof, tried on the real engine and registry the four ways it used to break:
//! an arm64 platform setting, a platform typo, a remembered preflight that outlived emulation,
//! and a base image whose label lies about its files.

use crate::engine::{busybox, emulation_lock, unique, BinfmtOff, Images};
use crate::support::*;

const HTTPD: &str = "FROM scratch\nCOPY busybox /bin/busybox\nEXPOSE 8501\n\
                     ENTRYPOINT [\"/bin/busybox\",\"httpd\",\"-f\",\"-p\",\"8501\"]\n";

/// Logs the sandbox's docker in to the CI registry; returns the registry host.
fn login(s: &Sandbox) -> String {
    let registry = ci_fact("AZDEPLOY_CI_REGISTRY");
    let mut c = s.real_docker_std();
    c.args([
        "login",
        &registry,
        "--username",
        &ci_fact("AZDEPLOY_CI_REGISTRY_USER"),
        "--password-stdin",
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ci_fact("AZDEPLOY_CI_REGISTRY_PASSWORD").as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "docker login");
    registry
}

/// Pushes a local image with the plain docker CLI (as a user, or another tool, might) and
/// returns `ref@digest`.
fn plain_push(s: &Sandbox, local: &str, reference: &str) -> String {
    s.real_docker()
        .args(["tag", local, reference])
        .assert()
        .success();
    let out = s.real_docker().args(["push", reference]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let digest = stdout_of(&out)
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("docker push prints the digest")
        .to_string();
    format!("{reference}@{digest}")
}

/// Whether the registry has anything under `reference`.
fn in_registry(s: &Sandbox, reference: &str) -> bool {
    s.real_docker()
        .args(["buildx", "imagetools", "inspect", "--raw", reference])
        .output()
        .unwrap()
        .status
        .success()
}

fn azdeploy(s: &Sandbox, args: &[&str]) -> std::process::Output {
    s.real_docker()
        .env("AZDEPLOY_AZ", s.path("bin/az"))
        .arg("azdeploy")
        .args(args)
        .output()
        .unwrap()
}

/// The image pushed to the registry by plain docker, and an app configured to deploy from it:
/// (`ref@digest`, the guard that removes the local registry tag).
fn pushed_elsewhere(s: &Sandbox, tag: &str, target: &str, registry: &str) -> (String, Images) {
    let pinned = plain_push(s, tag, target);
    s.write(
        "work/azdeploy.json",
        &format!(
            r#"{{"azure": {{"registry": "{registry}", "resource_group": "rg", "app": "web"}}}}"#
        ),
    );
    (pinned, Images(vec![target.to_string()]))
}

/// `deploy --image pinned` exits 1 with `why` in its error.
fn deploy_refuses(s: &Sandbox, pinned: &str, why: &str) {
    let out = azdeploy(s, &["deploy", "--image", pinned]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains(why), "{}", stderr_of(&out));
}

fn az_calls(s: &Sandbox) -> Vec<Vec<String>> {
    s.calls().into_iter().filter(|c| c[0] == "az").collect()
}

/// (1) An arm64 image never reaches Container Apps: not through the platform setting (file or
/// variable), not through `push` into deploy's registry, not through `deploy --image`.
#[test]
fn an_arm64_image_cannot_reach_azure_whatever_the_settings_say() {
    if !needs(
        "an_arm64_image_cannot_reach_azure_whatever_the_settings_say",
        &[
            Need::Engine,
            Need::Busybox("arm64"),
            Need::Platform("linux/arm64"),
            Need::Registry,
        ],
    ) {
        return;
    }
    let _lock = emulation_lock();
    let (s, tag, _images, out) =
        crate::engine::build_busybox("arm64", HTTPD, &["--platform", "linux/arm64"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let registry = login(&s);

    // The platform setting together with an app: a configuration error, naming both.
    s.write(
        "work/azdeploy.json",
        &format!(
            r#"{{"platform": "linux/arm64", "azure": {{"registry": "{registry}", "resource_group": "rg", "app": "web"}}}}"#
        ),
    );
    for cmd in [
        &["push"][..],
        &["deploy"],
        &["build"],
        &["test-local", "--check"],
    ] {
        let out = azdeploy(&s, cmd);
        assert_eq!(out.status.code(), Some(125), "{cmd:?}: {}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(
            err.starts_with("error: invalid setting `platform` in file azdeploy.json: linux/arm64 cannot run on Azure Container Apps, which runs linux/amd64 only, and azure.app \"web\" (file azdeploy.json) deploys there\nhint: remove the platform setting"),
            "{cmd:?}: {err}"
        );
    }
    s.write(
        "work/azdeploy.json",
        &format!(
            r#"{{"azure": {{"registry": "{registry}", "resource_group": "rg", "app": "web"}}}}"#
        ),
    );
    let out = s
        .real_docker()
        .env("AZDEPLOY_PLATFORM", "aarch64")
        .args(["azdeploy", "push"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_of(&out).contains("`platform` in env AZDEPLOY_PLATFORM: linux/arm64 cannot run"),
        "{}",
        stderr_of(&out)
    );

    // Without an app, deploy's registry still takes only linux/amd64.
    s.write(
        "work/azdeploy.json",
        &format!(r#"{{"azure": {{"registry": "{registry}"}}}}"#),
    );
    let (repo, t) = tag.split_once(':').unwrap();
    let target = format!("{registry}/{repo}:{t}");
    let out = azdeploy(&s, &["push", "--platform", "linux/arm64", &tag]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains(&format!(
            "error: azure.registry {registry} is where `deploy` takes images from, and Azure Container Apps runs linux/amd64 only"
        )),
        "{}",
        stderr_of(&out)
    );
    assert!(
        !in_registry(&s, &target),
        "the arm64 image reached the registry"
    );

    // Pushed by other means, deploy still refuses it, reading the registry's copy.
    let (pinned, _pushed) = pushed_elsewhere(&s, &tag, &target, &registry);
    deploy_refuses(
        &s,
        &pinned,
        "the image was built for linux/arm64, not linux/amd64",
    );
    s.answer(
        "az-containerapp-show",
        "stdout",
        r#"{"id": "/x", "properties": {"latestRevisionName": "web--1", "template": {"containers": [{"image": "r.io/web@sha256:1111"}]}}}"#,
    );
    let out = azdeploy(&s, &["rollback", "--to", &pinned]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("the image was built for linux/arm64, not linux/amd64"),
        "{}",
        stderr_of(&out)
    );
    assert!(
        az_calls(&s)
            .iter()
            .all(|c| !c.contains(&"update".to_string())),
        "Azure was asked to run it: {:?}",
        az_calls(&s)
    );
}

/// (2) A typo in the platform is a usage error naming the closest platform, before anything
/// runs (engine 20.10 would build and label an image `linux/amd64x`).
#[test]
fn a_platform_typo_is_a_usage_error_with_the_closest_platform() {
    if !needs(
        "a_platform_typo_is_a_usage_error_with_the_closest_platform",
        &[Need::Engine, Need::Busybox("amd64")],
    ) {
        return;
    }
    let s = Sandbox::new();
    std::fs::copy(busybox("amd64"), s.path("work/busybox")).unwrap();
    s.write("work/Dockerfile", HTTPD);
    let name = unique("azdeploy-e2e-typo");
    let tag = format!("{name}:t1");
    let out = azdeploy(&s, &["build", "--platform", "linux/amd64x", "-t", &tag]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr_of(&out);
    assert!(
        err.contains("\"linux/amd64x\" is not a platform buildx builds; did you mean linux/amd64?"),
        "{err}"
    );
    assert!(
        !s.real_docker()
            .args(["image", "inspect", &tag])
            .output()
            .unwrap()
            .status
            .success(),
        "an image was built"
    );
    // The same from the file and from the variable.
    s.write("work/azdeploy.json", r#"{"platform": "linux/amd64x"}"#);
    let out = azdeploy(&s, &["build", "-t", &tag]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_of(&out).contains("azdeploy.json:1:"),
        "{}",
        stderr_of(&out)
    );
    std::fs::remove_file(s.path("work/azdeploy.json")).unwrap();
    let out = s
        .real_docker()
        .env("AZDEPLOY_PLATFORM", "linux/amd64x")
        .args(["azdeploy", "build", "-t", &tag])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_of(&out).contains("AZDEPLOY_PLATFORM"),
        "{}",
        stderr_of(&out)
    );
}

/// (3) A remembered preflight pass does not outlive the emulation it proved: switching the
/// binfmt entry off makes the next build probe again, and a build that meets `exec format
/// error` anyway drops the pass and says what happened and how to fix it.
#[test]
fn a_remembered_pass_does_not_outlive_emulation() {
    if !needs(
        "a_remembered_pass_does_not_outlive_emulation",
        &[
            Need::Engine,
            Need::Busybox("arm64"),
            Need::Platform("linux/arm64"),
            Need::HostBinfmt,
        ],
    ) {
        return;
    }
    let _lock = emulation_lock();
    let s = Sandbox::new();
    std::fs::copy(busybox("arm64"), s.path("work/busybox")).unwrap();
    // A RUN step: the build itself executes an arm64 program.
    s.write(
        "work/Dockerfile",
        &format!("{HTTPD}RUN [\"/bin/busybox\", \"true\"]\n"),
    );
    let name = unique("azdeploy-e2e-remember");
    let _images = Images(vec![format!("{name}:t1"), format!("{name}:latest")]);
    let build = |extra: &[&str]| {
        s.real_docker()
            .args([
                "azdeploy",
                "--verbose",
                "build",
                "--platform",
                "linux/arm64",
            ])
            .args(["-t", &format!("{name}:t1")])
            .args(extra)
            .output()
            .unwrap()
    };
    let remembered = |out: &std::process::Output| {
        stderr_of(out).contains("passed") && stderr_of(out).contains("not checked again")
    };
    let out = build(&[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let out = build(&[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        remembered(&out),
        "the second build reuses the pass: {}",
        stderr_of(&out)
    );

    {
        let _off = BinfmtOff::new();
        // The binfmt entry changed: the pass no longer holds, the probe runs and fails.
        let out = build(&[]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        assert!(!remembered(&out));
        let err = stderr_of(&out);
        assert!(
            err.contains("emulation: linux/arm64 programs fail with `exec format error`"),
            "{err}"
        );
        // Without the preflight, buildx meets the failure itself; the diagnosis is still ours.
        let out = build(&["--no-preflight", "--no-cache"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(
            err.contains("cause: linux/arm64 programs cannot run on this engine (`exec /bin/busybox: exec format error`): emulation is missing or was switched off"),
            "{err}"
        );
        assert!(
            err.contains("hint: the binfmt_misc entry qemu-aarch64 is disabled: `echo 1 | sudo tee /proc/sys/fs/binfmt_misc/qemu-aarch64`"),
            "{err}"
        );
    }
    // Emulation is back and the host looks exactly as when the pass was remembered, but the
    // failure above dropped it: the next build proves emulation again.
    let out = build(&[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        !remembered(&out),
        "a forgotten pass was reused: {}",
        stderr_of(&out)
    );
}

/// (4) A base image whose label says amd64 while its files are aarch64 (engine 20.10's `docker
/// import --platform linux/arm64` makes one): the label, `docker image inspect` and the
/// registry all agree with the lie; the gate reads the program and refuses it after `build`,
/// before `push` and before `deploy`.
#[test]
fn a_mislabeled_base_is_caught_by_the_binary_it_starts() {
    if !needs(
        "a_mislabeled_base_is_caught_by_the_binary_it_starts",
        &[Need::Engine, Need::Busybox("arm64"), Need::Registry],
    ) {
        return;
    }
    let s = Sandbox::new();
    let registry = login(&s);
    // The mislabeled base: aarch64 files, imported "as arm64", labelled amd64 by the engine.
    let rootfs = s.path("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy(busybox("arm64"), rootfs.join("bin/busybox")).unwrap();
    let tar = s.path("rootfs.tar");
    let st = std::process::Command::new("tar")
        .args(["-C"])
        .arg(&rootfs)
        .args(["-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let base = format!("{}:base", unique("azdeploy-e2e-mislabeled"));
    let out = s
        .real_docker()
        .args(["import", "--platform", "linux/arm64"])
        .arg(&tar)
        .arg(&base)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let name = unique("azdeploy-e2e-liar");
    let tag = format!("{name}:t1");
    let _images = Images(vec![base.clone(), tag.clone(), format!("{name}:latest")]);
    let label = crate::engine::image_platform(&base);
    if label != "linux/amd64" {
        // Docker 20.10 labels the import amd64; a newer engine (Docker Desktop) may not lie.
        unmet(
            "a_mislabeled_base_is_caught_by_the_binary_it_starts",
            &format!("this engine labels `docker import --platform linux/arm64` {label}, not linux/amd64: make the lie another way"),
        );
        return;
    }

    // After build.
    s.write(
        "work/Dockerfile",
        &format!("FROM {base}\nEXPOSE 8501\nENTRYPOINT [\"/bin/busybox\",\"httpd\",\"-f\",\"-p\",\"8501\"]\n"),
    );
    let out = azdeploy(&s, &["build", "-t", &tag]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("error: the image is labelled linux/amd64, but the program it starts, /bin/busybox, is an AArch64 executable (arm64), not linux/amd64: it would fail with `exec format error` on Azure"),
        "{err}"
    );
    assert!(
        err.contains(&format!("it came from the base image {base}")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "hint: the base image {base} holds AArch64 programs"
        )),
        "{err}"
    );
    assert!(!s.path("work/.azdeploy/last-build.json").exists());
    assert_eq!(
        crate::engine::image_platform(&tag),
        "linux/amd64",
        "the label agrees with the lie"
    );

    // Before push: nothing leaves.
    let target = format!("{registry}/{name}:t1");
    let out = azdeploy(&s, &["push", "--registry", &registry, &tag]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("is an AArch64 executable"),
        "{}",
        stderr_of(&out)
    );
    assert!(!in_registry(&s, &target), "the image reached the registry");

    // Before deploy: pushed by other means, the registry's copy is refused, both when the
    // engine has the image and when it must be pulled for the check (and removed again).
    let (pinned, _pushed) = pushed_elsewhere(&s, &tag, &target, &registry);
    deploy_refuses(&s, &pinned, "is an AArch64 executable");
    let id = stdout_of(
        &s.real_docker()
            .args(["image", "inspect", "--format", "{{.Id}}", &tag])
            .output()
            .unwrap(),
    )
    .trim()
    .to_string();
    s.real_docker()
        .args(["image", "rm", "--force", &id])
        .assert()
        .success();
    let out = azdeploy(&s, &["deploy", "--image", &pinned]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("to read the program it starts"),
        "pulled: {err}"
    );
    assert!(err.contains("is an AArch64 executable"), "{err}");
    assert!(
        !s.real_docker()
            .args(["image", "inspect", &id])
            .output()
            .unwrap()
            .status
            .success(),
        "the image pulled for the check was left behind"
    );
    assert!(az_calls(&s).is_empty(), "az was called: {:?}", az_calls(&s));
    let leftovers = s
        .real_docker()
        .args([
            "ps",
            "--all",
            "--quiet",
            "--filter",
            "label=io.azdeploy.gate",
        ])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&leftovers),
        "",
        "the gate's containers were left behind"
    );
}
