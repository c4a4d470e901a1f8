//! Bad input, counted: one table of wrong platforms, ports, paths, config keys and types,
//! image references, digests, app names, missing tools, a down engine, an unauthorized
//! registry and a logged-out az. Each must give exactly one `error:` line naming what failed,
//! a `hint:`, the documented exit code (125 usage and settings, 1 our failures), no panic, and
//! leave nothing behind: no container, no tag, no temporary file.

use crate::support::*;

/// How a case runs: the plugin on its own with the recording fakes, or through the real docker
/// CLI against the real engine.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    Fakes,
    Engine,
}

struct Case {
    name: &'static str,
    via: Via,
    setup: fn(&Sandbox),
    env: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    code: i32,
    /// Must appear in the `error:` line.
    error: &'static str,
    /// Must appear in the `hint:` line.
    hint: &'static str,
}

const APP: &str = r#"{"azure": {"registry": "myacr", "resource_group": "rg", "app": "web"}}"#;

fn none(_: &Sandbox) {}
fn dockerfile(s: &Sandbox) {
    s.write("work/Dockerfile", "FROM scratch\nEXPOSE 8501\n");
}
fn app(s: &Sandbox) {
    s.write("work/azdeploy.json", APP);
}
fn file(s: &Sandbox, text: &str) {
    s.write("work/azdeploy.json", text);
}

fn cases() -> Vec<Case> {
    let c = |name, setup, args, code, error, hint| Case {
        name,
        via: Via::Fakes,
        setup,
        env: &[],
        args,
        code,
        error,
        hint,
    };
    vec![
        // Platforms.
        c(
            "platform typo",
            dockerfile,
            &["build", "--platform", "linux/amd64x"],
            125,
            "\"linux/amd64x\" is not a platform buildx builds; did you mean linux/amd64?",
            "--help",
        ),
        c(
            "platform of another os",
            dockerfile,
            &["build", "--platform", "windows/arm64"],
            125,
            "did you mean linux/arm64?",
            "--help",
        ),
        Case {
            env: &[("AZDEPLOY_PLATFORM", "armv9")],
            ..c(
                "platform variable",
                dockerfile,
                &["build"],
                125,
                "invalid setting `platform` in environment variable AZDEPLOY_PLATFORM",
                "fix the value",
            )
        },
        c(
            "arm64 for an Azure app",
            |s| file(s, r#"{"platform": "linux/arm64", "azure": {"app": "web"}}"#),
            &["deploy"],
            125,
            "linux/arm64 cannot run on Azure Container Apps",
            "remove the platform setting",
        ),
        // Ports.
        c(
            "port out of range",
            none,
            &["test-local", "--port", "70000"],
            125,
            "70000",
            "test-local --help",
        ),
        c(
            "port 0 in the file",
            |s| file(s, r#"{"port": 0}"#),
            &["test-local"],
            125,
            "invalid setting `port` in azdeploy.json:1:",
            "fix the value",
        ),
        Case {
            env: &[("AZDEPLOY_PORT", "http")],
            ..c(
                "port variable",
                none,
                &["doctor"],
                125,
                "\"http\" is not a port number",
                "fix the value",
            )
        },
        // Paths.
        c(
            "missing context",
            dockerfile,
            &["build", "missing-dir"],
            125,
            "build context missing-dir is not a directory",
            "CONTEXT",
        ),
        c(
            "missing Dockerfile",
            none,
            &["build", "-f", "nope/Dockerfile"],
            125,
            "cannot read the Dockerfile nope/Dockerfile",
            "init --dockerfile",
        ),
        c(
            "missing env file",
            none,
            &["test-local", "--env-file", "prod.env", "shop:1"],
            125,
            "--env-file prod.env is not a readable file",
            "KEY=VALUE",
        ),
        Case {
            env: &[("AZDEPLOY_CONFIG", "conf/missing.json")],
            ..c(
                "missing config file",
                none,
                &["config"],
                125,
                "AZDEPLOY_CONFIG names ",
                "unset it",
            )
        },
        // Config keys and types.
        c(
            "unknown key",
            |s| file(s, r#"{"colour": 1}"#),
            &["config"],
            125,
            "unknown field `colour`",
            "fix the value",
        ),
        c(
            "port as a string",
            |s| file(s, r#"{"port": "8501"}"#),
            &["config"],
            125,
            "invalid type",
            "fix the value",
        ),
        c(
            "build arg not a string",
            |s| file(s, r#"{"build": {"args": {"A": 1}}}"#),
            &["config"],
            125,
            "`build.args.A`",
            "fix the value",
        ),
        c(
            "truncated JSON",
            |s| file(s, r#"{"port": 8501"#),
            &["config"],
            125,
            "EOF",
            "fix the value",
        ),
        c(
            "zero timeout",
            |s| file(s, r#"{"timeouts": {"health": 0}}"#),
            &["config"],
            125,
            "`timeouts.health`",
            "fix the value",
        ),
        c(
            "health path without slash",
            |s| file(s, r#"{"health_path": "healthz"}"#),
            &["config"],
            125,
            "must start with /",
            "fix the value",
        ),
        c(
            "image name with spaces",
            |s| file(s, r#"{"image": "My App"}"#),
            &["config"],
            125,
            "is not an image name",
            "fix the value",
        ),
        // Image references and digests.
        c(
            "uppercase tag",
            dockerfile,
            &["build", "-t", "Shop:1"],
            125,
            "invalid tag",
            "-t NAME",
        ),
        c(
            "tag starting with a dot",
            none,
            &["push", "--registry", "myacr", "--tag=.x"],
            125,
            "\".x\" is not a tag",
            "--help",
        ),
        c(
            "deploy without a digest",
            app,
            &["deploy", "--image", "myacr.azurecr.io/shop:1"],
            125,
            "has no digest",
            "--allow-tag",
        ),
        c(
            "deploy with a broken digest",
            app,
            &["deploy", "--image", "myacr.azurecr.io/shop@sha256:zz"],
            125,
            "the digest must be sha256: and 64 lowercase hex digits",
            "REF@sha256",
        ),
        c(
            "rollback to a short digest",
            |s| {
                app(s);
                s.answer("az-containerapp-show", "stdout", r#"{"properties": {"template": {"containers": [{"image": "myacr.azurecr.io/shop@sha256:1"}]}}}"#);
            },
            &["rollback", "--to", "sha256:123"],
            125,
            "\"sha256:123\" is not a digest",
            "REF@sha256",
        ),
        c(
            "test-local of an uppercase image",
            none,
            &["test-local", "Shop:1"],
            125,
            "\"Shop:1\" is not an image reference",
            "NAME[:TAG]",
        ),
        c(
            "push of an uppercase image",
            none,
            &["push", "--registry", "myacr", "Shop:1"],
            125,
            "\"Shop:1\" is not an image reference",
            "NAME[:TAG]",
        ),
        // App, resource group and registry names.
        c(
            "app name with a space",
            none,
            &["deploy", "--app", "My App", "--resource-group", "rg"],
            125,
            "is not a container app name",
            "--help",
        ),
        c(
            "resource group ending in a dot",
            none,
            &["status", "--app", "web", "--resource-group", "rg."],
            125,
            "is not a resource group name",
            "--help",
        ),
        c(
            "registry name with a space",
            none,
            &["push", "--registry", "my acr"],
            125,
            "is neither an ACR name",
            "--help",
        ),
        c(
            "no app configured",
            none,
            &[
                "deploy",
                "--image",
                "r.io/x@sha256:2222222222222222222222222222222222222222222222222222222222222222",
            ],
            125,
            "this needs the container app and its resource group",
            "--app NAME",
        ),
        // Other flags.
        c(
            "metrics window in weeks",
            app,
            &["status", "--since", "1w"],
            125,
            "is not a window",
            "status --help",
        ),
        c(
            "too many log lines",
            app,
            &["logs", "--tail", "500"],
            125,
            "500 is not in 0..=300",
            "logs --help",
        ),
        c(
            "zero wait timeout",
            app,
            &["deploy", "--wait-timeout", "0"],
            125,
            "not a timeout",
            "deploy --help",
        ),
        c(
            "remote build without a registry",
            dockerfile,
            &["build", "--remote", "acr"],
            125,
            "--remote acr needs the registry",
            "azure",
        ),
        c(
            "push build without a registry host",
            dockerfile,
            &["build", "--push", "-t", "shop:1"],
            125,
            "--push needs a registry in the image name",
            "-t myacr.azurecr.io/app:tag",
        ),
        c(
            "misspelt command",
            none,
            &["biuld"],
            125,
            "unrecognized subcommand 'biuld'",
            "a similar subcommand exists: 'build'",
        ),
        c(
            "init over an existing Dockerfile",
            dockerfile,
            &["init", "--dockerfile"],
            1,
            "Dockerfile already exist(s); nothing was written",
            "--force",
        ),
        // Missing tools.
        Case {
            env: &[("AZDEPLOY_DOCKER", "/nonexistent/docker")],
            ..c(
                "docker missing",
                dockerfile,
                &["build", "--no-preflight"],
                1,
                "docker not found at AZDEPLOY_DOCKER=/nonexistent/docker",
                "AZDEPLOY_DOCKER",
            )
        },
        Case {
            env: &[("AZDEPLOY_AZ", "/nonexistent/az")],
            ..c(
                "az missing",
                app,
                &["status"],
                1,
                "az not found at AZDEPLOY_AZ=/nonexistent/az",
                "install the Azure CLI",
            )
        },
        // az logged out.
        c(
            "az logged out",
            |s| {
                app(s);
                s.answer(
                    "az-containerapp-show",
                    "stderr",
                    "ERROR: Please run 'az login' to setup account.\n",
                );
                s.answer("az-containerapp-show", "exit", "1");
                s.answer(
                    "az-containerapp-revision",
                    "stderr",
                    "ERROR: Please run 'az login' to setup account.\n",
                );
                s.answer("az-containerapp-revision", "exit", "1");
            },
            &["status"],
            1,
            "failed to ",
            "run `az login`",
        ),
        // The real engine: down, and a registry that wants a login.
        Case {
            via: Via::Engine,
            ..c(
                "engine down: build",
                dockerfile,
                &[
                    "-H",
                    "unix:///tmp/azdeploy-no-engine.sock",
                    "azdeploy",
                    "build",
                ],
                1,
                "preflight failed: nothing was built or started",
                "start the Docker engine",
            )
        },
        Case {
            via: Via::Engine,
            ..c(
                "engine down: test-local",
                none,
                &[
                    "-H",
                    "unix:///tmp/azdeploy-no-engine.sock",
                    "azdeploy",
                    "test-local",
                    "--check",
                ],
                1,
                "",
                "start the Docker engine",
            )
        },
        Case {
            via: Via::Engine,
            ..c(
                "registry without a login",
                pushable,
                &["azdeploy", "push", "--registry", "REGISTRY", "IMAGE"],
                1,
                "failed to push the image",
                "log in to the registry first",
            )
        },
    ]
}

/// A small amd64 image built on the real engine for the unauthorized push (tag in `work/image`).
fn pushable(s: &Sandbox) {
    std::fs::copy(crate::engine::busybox("amd64"), s.path("ctx/busybox"))
        .or_else(|_| {
            std::fs::create_dir_all(s.path("ctx"))?;
            std::fs::copy(crate::engine::busybox("amd64"), s.path("ctx/busybox"))
        })
        .unwrap();
    s.write(
        "ctx/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\",\"httpd\",\"-f\"]\n",
    );
    let tag = format!("{}:t1", crate::engine::unique("azdeploy-e2e-badinput"));
    crate::engine::buildx_load(s, "ctx", "linux/amd64", &tag);
    s.write("work/image", &tag);
}

/// The images this table made on the (shared) engine, for "nothing left behind": other tests
/// run beside it, so only our own names are counted.
fn engine_state(s: &Sandbox) -> String {
    let images = s
        .real_docker()
        .args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .unwrap();
    stdout_of(&images)
        .lines()
        .filter(|l| l.contains("azdeploy-e2e-badinput"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_bad_input_gets_one_clear_error_its_code_and_leaves_nothing() {
    let cases = cases();
    assert!(cases.len() >= 30, "the table has {} cases", cases.len());
    let engine = cases.iter().any(|c| c.via == Via::Engine)
        && needs(
            "every_bad_input_gets_one_clear_error_its_code_and_leaves_nothing (engine rows)",
            &[Need::Engine, Need::Busybox("amd64"), Need::Registry],
        );
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in &cases {
        if case.via == Via::Engine && !engine {
            continue;
        }
        let s = Sandbox::new();
        std::fs::create_dir_all(s.path("tmp")).unwrap();
        (case.setup)(&s);
        let registry = (case.via == Via::Engine).then(|| ci_fact("AZDEPLOY_CI_REGISTRY"));
        let image = read(&s.path("work/image"));
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| match *a {
                "REGISTRY" => registry.clone().unwrap_or_default(),
                "IMAGE" => image.clone(),
                other => other.to_string(),
            })
            .collect();
        let before = (case.via == Via::Engine).then(|| engine_state(&s));
        let mut cmd = match case.via {
            Via::Fakes => s.plugin(),
            Via::Engine => s.real_docker(),
        };
        cmd.env("TMPDIR", s.path("tmp"));
        for (k, v) in case.env {
            cmd.env(k, v);
        }
        let out = cmd.args(&args).output().unwrap();
        ran += 1;
        let err = stderr_of(&out);
        let mut problems = Vec::new();
        if out.status.code() != Some(case.code) {
            problems.push(format!("exit {:?}, want {}", out.status.code(), case.code));
        }
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
        if errors.len() != 1 {
            problems.push(format!("{} `error:` lines", errors.len()));
        }
        // The `error:` line and the detail lines under it, up to the hint.
        let message: String = err
            .lines()
            .skip_while(|l| !l.starts_with("error: "))
            .take_while(|l| !l.starts_with("hint: "))
            .collect::<Vec<_>>()
            .join("\n");
        if !message.contains(case.error) {
            problems.push(format!("the error does not say {:?}", case.error));
        }
        match err.lines().find(|l| l.starts_with("hint: ")) {
            Some(h) if h.contains(case.hint) => {}
            Some(h) => problems.push(format!("hint {h:?} does not say {:?}", case.hint)),
            None => problems.push("no `hint:` line".into()),
        }
        if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
            problems.push("a panic".into());
        }
        if !out.stdout.is_empty() {
            problems.push(format!("stdout: {:?}", stdout_of(&out)));
        }
        let left: Vec<_> = std::fs::read_dir(s.path("tmp"))
            .unwrap()
            .flatten()
            .collect();
        if !left.is_empty() {
            problems.push(format!("temporary files left: {left:?}"));
        }
        let calls = s.calls();
        let count = |w: &[&str]| {
            calls
                .iter()
                .filter(|c| c.len() > w.len() && c[1..=w.len()] == *w)
                .count()
        };
        if count(&["run"]) + count(&["create"]) > count(&["rm", "--force"]) {
            problems.push("a container was started and not removed".into());
        }
        if count(&["tag"]) > count(&["image", "rm"]) {
            problems.push("a tag was created and not removed".into());
        }
        if let Some(before) = before {
            if engine_state(&s) != before {
                problems.push(format!("images left behind: {}", engine_state(&s)));
            }
            if !image.is_empty() {
                let _ = s.real_docker().args(["image", "rm", &image]).output();
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n--- stderr ---\n{err}",
                case.name,
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
