//! `push` against the real password-protected registry that ci/engine-up.sh runs, with a fake
//! az that behaves like the real one: `az acr show` names the registry's host, `az acr login`
//! really runs `docker login` against it, `--expose-token` prints the token JSON.

use crate::engine::{build_busybox, Images};
use crate::support::*;

const HTTPD: &str = "FROM scratch\nCOPY busybox /bin/busybox\nEXPOSE 8501\nENTRYPOINT [\"/bin/busybox\",\"httpd\",\"-f\",\"-p\",\"8501\"]\n";

/// Installs the fake az's answers for registry `myacr` (the CI registry) and `nopeacr` (missing).
/// A test that reaches `myacr` asks for `Need::Registry`; one that meets only `nopeacr` runs
/// without the CI registry (`myacr` then names a port nothing listens on).
fn fake_acr(s: &Sandbox) {
    let registry = ci_fact_opt("AZDEPLOY_CI_REGISTRY").unwrap_or_else(|| "127.0.0.1:9".into());
    let token = ci_fact_opt("AZDEPLOY_CI_REGISTRY_TOKEN").unwrap_or_default();
    s.answer(
        "az-acr-show",
        "sh",
        &format!(
            r#"case "$*" in
  *"--name myacr"*) printf '{{"id": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myacr", "name": "myacr", "location": "westeurope", "loginServer": "%s"}}\n' "{registry}" ;;
  *) echo "ERROR: The resource with name 'nopeacr' and type 'Microsoft.ContainerRegistry/registries' could not be found in subscription 'Azure subscription 1 (00000000-1111-2222-3333-444444444444)'." >&2; exit 1 ;;
esac
"#
        ),
    );
    s.answer(
        "az-acr-login",
        "sh",
        &format!(
            r#"case "$*" in
  *--expose-token*)
    printf '{{"accessToken": "%s", "loginServer": "%s", "refreshToken": "", "username": "00000000-0000-0000-0000-000000000000"}}\n' "{token}" "{registry}"
    echo "WARNING: You can perform manual login using the provided access token below, for example: 'docker login loginServer -u 00000000-0000-0000-0000-000000000000 -p accessToken'" >&2 ;;
  *)
    echo "{token}" | docker login "{registry}" --username 00000000-0000-0000-0000-000000000000 --password-stdin >/dev/null || exit 1
    echo "Login Succeeded" ;;
esac
"#
        ),
    );
}

fn push(s: &Sandbox, globals: &[&str], args: &[&str]) -> std::process::Output {
    s.real_docker()
        .env("AZDEPLOY_AZ", s.path("bin/az"))
        .args(globals)
        .args(["azdeploy", "--verbose", "push"])
        .args(args)
        .output()
        .unwrap()
}

fn az_calls(s: &Sandbox) -> Vec<Vec<String>> {
    s.calls().into_iter().filter(|c| c[0] == "az").collect()
}

/// The sha256 of what the registry serves for `reference`, read with the real docker.
fn registry_digest(s: &Sandbox, reference: &str) -> String {
    let raw = s
        .real_docker()
        .args(["buildx", "imagetools", "inspect", "--raw", reference])
        .output()
        .unwrap();
    assert!(raw.status.success(), "{}", stderr_of(&raw));
    let tmp = s.path("manifest.json");
    std::fs::write(&tmp, &raw.stdout).unwrap();
    // sha256sum (GNU), else shasum (macOS).
    let sum = std::process::Command::new("sh")
        .args([
            "-c",
            r#"sha256sum "$1" 2>/dev/null || shasum -a 256 "$1""#,
            "sh",
        ])
        .arg(&tmp)
        .output()
        .unwrap();
    format!(
        "sha256:{}",
        stdout_of(&sum).split_whitespace().next().unwrap()
    )
}

/// Where `push` puts the local image `tag`, and a guard that removes that local tag.
fn pushed_ref(tag: &str) -> (String, Images) {
    let registry = ci_fact("AZDEPLOY_CI_REGISTRY");
    let (repo, t) = tag.split_once(':').unwrap();
    let r = format!("{registry}/{repo}:{t}");
    (r.clone(), Images(vec![r]))
}

#[test]
fn push_logs_in_through_az_and_prints_the_digest_the_registry_serves() {
    if !needs(
        "push_logs_in_through_az_and_prints_the_digest_the_registry_serves",
        &[Need::Engine, Need::Busybox("amd64"), Need::Registry],
    ) {
        return;
    }
    let (s, tag, _images, out) = build_busybox("amd64", HTTPD, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    fake_acr(&s);
    s.write("work/azdeploy.json", r#"{"azure": {"registry": "myacr"}}"#);
    let (reference, _pushed) = pushed_ref(&tag);
    let out = push(&s, &[], &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let printed = stdout_of(&out);
    let (r, digest) = printed.trim().split_once('@').unwrap();
    assert_eq!(r, reference);
    assert_eq!(
        digest,
        registry_digest(&s, &reference),
        "the digest we printed is not what the registry serves"
    );
    assert_eq!(
        printed.lines().count(),
        1,
        "stdout carries only the reference"
    );
    let calls = az_calls(&s);
    assert_eq!(
        calls[0],
        ["az", "acr", "show", "--name", "myacr", "--output", "json"]
    );
    assert_eq!(calls[1], ["az", "acr", "login", "--name", "myacr"]);
    let err = stderr_of(&out);
    assert!(
        err.contains("warning: this image has not passed `docker azdeploy test-local`"),
        "{err}"
    );
    let token = ci_fact("AZDEPLOY_CI_REGISTRY_TOKEN");
    assert!(
        !printed.contains(&token) && !err.contains(&token),
        "the token leaked"
    );
    let state: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/last-push.json"))).unwrap();
    assert_eq!(state["pinned"], printed.trim());
}

#[test]
fn with_docker_globals_the_token_goes_through_stdin_and_never_shows() {
    if !needs(
        "with_docker_globals_the_token_goes_through_stdin_and_never_shows",
        &[Need::Engine, Need::Busybox("amd64"), Need::Registry],
    ) {
        return;
    }
    let (s, tag, _images, out) = build_busybox("amd64", HTTPD, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    fake_acr(&s);
    s.write("work/azdeploy.json", r#"{"azure": {"registry": "myacr"}}"#);
    let (reference, _pushed) = pushed_ref(&tag);
    let config = s.path("docker-config");
    let out = push(
        &s,
        &["--config", config.to_str().unwrap()],
        &["--tag", "v2"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v2 = reference.replace(":t1", ":v2");
    assert!(
        stdout_of(&out).starts_with(&format!("{v2}@sha256:")),
        "{}",
        stdout_of(&out)
    );
    let calls = az_calls(&s);
    assert_eq!(
        calls[1],
        [
            "az",
            "acr",
            "login",
            "--name",
            "myacr",
            "--expose-token",
            "--output",
            "json"
        ]
    );
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("--config {} login {} --username 00000000-0000-0000-0000-000000000000 --password-stdin <<< ***", config.display(), ci_fact("AZDEPLOY_CI_REGISTRY"))),
        "{err}"
    );
    let token = ci_fact("AZDEPLOY_CI_REGISTRY_TOKEN");
    assert!(
        !stdout_of(&out).contains(&token) && !err.contains(&token),
        "the token leaked: {err}"
    );
    let _cleanup = Images(vec![v2]);
}

#[test]
fn without_a_login_the_push_fails_with_our_hint() {
    if !needs(
        "without_a_login_the_push_fails_with_our_hint",
        &[Need::Engine, Need::Busybox("amd64"), Need::Registry],
    ) {
        return;
    }
    let (s, tag, _images, out) = build_busybox("amd64", HTTPD, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let registry = ci_fact("AZDEPLOY_CI_REGISTRY");
    s.write(
        "work/azdeploy.json",
        &format!(r#"{{"azure": {{"registry": "{registry}"}}}}"#),
    );
    let (_reference, _pushed) = pushed_ref(&tag);
    let out = push(&s, &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("no basic auth credentials"), "{err}");
    assert!(err.contains("error: failed to push the image"), "{err}");
    assert!(err.contains("hint: log in to the registry first"), "{err}");
    assert!(az_calls(&s).is_empty(), "a plain host needs no az");
    assert!(out.stdout.is_empty());
}

#[test]
fn an_arm64_image_is_refused_before_anything_is_pushed() {
    if !needs(
        "an_arm64_image_is_refused_before_anything_is_pushed",
        &[
            Need::Engine,
            Need::Busybox("arm64"),
            Need::Platform("linux/arm64"),
        ],
    ) {
        return;
    }
    let _lock = crate::engine::emulation_lock();
    let (s, _tag, _images, out) = build_busybox("arm64", HTTPD, &["--platform", "linux/arm64"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    fake_acr(&s);
    s.write(
        "work/azdeploy.json",
        r#"{"azure": {"registry": "myacr", "resource_group": "rg", "app": "web"}}"#,
    );
    let out = push(&s, &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("built for linux/arm64, not linux/amd64"),
        "{}",
        stderr_of(&out)
    );
    assert!(az_calls(&s).is_empty(), "az was called: {:?}", az_calls(&s));
    assert!(!s.path("work/.azdeploy/last-push.json").exists());
}

#[test]
fn a_missing_registry_and_an_untested_image_are_clear_errors() {
    if !needs(
        "a_missing_registry_and_an_untested_image_are_clear_errors",
        &[Need::Engine, Need::Busybox("amd64")],
    ) {
        return;
    }
    let (s, _tag, _images, out) = build_busybox("amd64", HTTPD, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    fake_acr(&s);
    s.write(
        "work/azdeploy.json",
        r#"{"azure": {"registry": "nopeacr"}}"#,
    );
    // az says it does not exist, and nothing says where to create it.
    let out = push(&s, &[], &[]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "error: registry nopeacr does not exist, and no resource group is set to create it in"
        ),
        "{err}"
    );
    assert!(
        err.contains("check the name with `az acr list --output table`"),
        "{err}"
    );

    let out = push(&s, &[], &["--require-tested"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("has not passed `docker azdeploy test-local` here (--require-tested)"),
        "{err}"
    );
}

#[test]
fn a_registry_cache_warms_a_cold_build() {
    if !needs(
        "a_registry_cache_warms_a_cold_build",
        &[Need::Engine, Need::Busybox("amd64"), Need::Registry],
    ) {
        return;
    }
    let registry = ci_fact("AZDEPLOY_CI_REGISTRY");
    let s = Sandbox::new();
    let login = s
        .real_docker()
        .args([
            "login",
            &registry,
            "--username",
            &ci_fact("AZDEPLOY_CI_REGISTRY_USER"),
            "--password-stdin",
        ])
        .write_stdin(ci_fact("AZDEPLOY_CI_REGISTRY_PASSWORD"))
        .output()
        .unwrap();
    assert!(login.status.success(), "{}", stderr_of(&login));
    std::fs::copy(crate::engine::busybox("amd64"), s.path("work/busybox")).unwrap();
    let name = crate::engine::unique("azdeploy-e2e-cache");
    // The RUN step names the test, so its build cache can be told from other tests'.
    s.write(
        "work/Dockerfile",
        &format!("FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox sleep 1; echo built {name} > /built\"]\nEXPOSE 8501\n"),
    );
    let image = format!("{registry}/{name}");
    s.write("work/azdeploy.json", &format!(r#"{{"image": "{name}", "azure": {{"registry": "{registry}"}}, "build": {{"cache": "registry"}}}}"#));
    let _images = Images(vec![
        format!("{image}:c1"),
        format!("{image}:latest"),
        format!("{name}:c2"),
        format!("{name}:latest"),
    ]);
    // The first build pushes, with the cache inline.
    let out = s
        .real_docker()
        .args([
            "azdeploy",
            "--verbose",
            "build",
            "--push",
            "-t",
            &format!("{image}:c1"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("--cache-to type=inline"),
        "{}",
        stderr_of(&out)
    );
    // A cold machine: no local image, no build cache.
    let _ = std::process::Command::new("docker")
        .args([
            "image",
            "rm",
            "-f",
            &format!("{image}:c1"),
            &format!("{image}:latest"),
        ])
        .output();
    // This build's cache records alone, by id: pruning all of it races the builds other tests
    // run meanwhile (moby/moby#39547 — here a tag vanished right after its build).
    let cache_records = || {
        let du = std::process::Command::new("docker")
            .args(["buildx", "du", "--verbose"])
            .output()
            .unwrap();
        assert!(du.status.success(), "{}", stderr_of(&du));
        stdout_of(&du)
    };
    let records = cache_records();
    let ids: Vec<&str> = records
        .split("\n\n")
        .filter(|r| r.contains(&format!("echo built {name} ")))
        .filter_map(|r| r.lines().find_map(|l| l.strip_prefix("ID:")))
        .map(str::trim)
        .collect();
    assert!(
        !ids.is_empty(),
        "no cache record of the RUN step:\n{records}"
    );
    for id in ids {
        let prune = std::process::Command::new("docker")
            .args(["builder", "prune", "--all", "--force", "--filter"])
            .arg(format!("id={id}"))
            .output()
            .unwrap();
        assert!(prune.status.success(), "{}", stderr_of(&prune));
    }
    assert!(
        !cache_records().contains(&format!("echo built {name} ")),
        "the RUN step is still cached here, so CACHED would prove nothing"
    );
    let out = s
        .real_docker()
        .env("BUILDKIT_PROGRESS", "plain")
        .args([
            "azdeploy",
            "--verbose",
            "build",
            "-t",
            &format!("{name}:c2"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("--cache-from {image}:c1")),
        "the last pushed tag is the cache: {err}"
    );
    assert!(err.contains("importing cache manifest from"), "{err}");
    let run_step = err
        .lines()
        .find(|l| l.contains("RUN ["))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("#?")
        .to_string();
    assert!(
        err.contains(&format!("{run_step} CACHED")),
        "the RUN step came from the registry: {err}"
    );
}
