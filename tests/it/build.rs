use crate::support::*;

const INSPECT_AMD64: &str = r#"{"Id":"sha256:92c52ff51ca4b8a8a00f90c87267e7e7d9419b6668f1c51449ab98300d8903ea","Os":"linux","Architecture":"amd64"}"#;
const INSPECT_ARM64: &str =
    r#"{"Id":"sha256:1111","Os":"linux","Architecture":"arm64","Variant":"v8"}"#;

/// A fake buildx that prints progress like the real one.
const FAKE_BUILDX: &str = r##"
echo "step 1: building (fake)" >&2
echo "#5 0.101 azdeploy-probe-ok" >&2
"##;

pub const VERSION_AMD64: &str = r#"{"Client":{"Version":"28.2.2"},"Server":{"Version":"20.10.24","Os":"linux","Arch":"amd64"}}"#;

/// A docker that answers the preflight like a healthy amd64 engine with buildx.
pub fn healthy_engine(s: &Sandbox) {
    s.answer("docker-version", "stdout", VERSION_AMD64);
    s.answer(
        "docker-buildx-version",
        "stdout",
        "github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3\n",
    );
    s.answer(
        "docker-buildx-inspect",
        "stdout",
        include_str!("../fixtures/captured/buildx-inspect.txt"),
    );
    // The engine's socket: the remembered preflight is tied to it (a restart makes a new one).
    s.write("engine.sock", "");
    s.answer(
        "docker-context-inspect",
        "stdout",
        &format!(
            r#"{{"Host":"unix://{}","SkipTLSVerify":false}}"#,
            s.path("engine.sock").display()
        ),
    );
}

/// A Dockerfile whose build runs a program for the target (so the preflight must prove
/// emulation works), with the fakes' answers.
fn app(s: &Sandbox) {
    healthy_engine(s);
    s.write(
        "work/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"true\"]\nEXPOSE 8501\n",
    );
    s.answer("docker-buildx-build", "sh", FAKE_BUILDX);
    s.answer("docker-image-inspect", "stdout", INSPECT_AMD64);
}

fn call_of<'a>(calls: &'a [Vec<String>], words: &[&str]) -> Option<&'a Vec<String>> {
    calls
        .iter()
        .find(|c| words.iter().all(|w| c.contains(&w.to_string())))
}

#[test]
fn build_pins_the_platform_and_prints_only_the_reference() {
    let s = Sandbox::new();
    app(&s);
    let out = s
        .plugin()
        .args([
            "-c",
            "ctx1",
            "azdeploy",
            "build",
            "-t",
            "shop:1.0",
            "--build-arg",
            "PY=3.12",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "shop:1.0\n");
    let calls = s.calls();
    let build = call_of(&calls, &["buildx", "build", "--load"]).expect("buildx ran");
    let expected: Vec<String> = [
        "docker",
        "-c",
        "ctx1",
        "buildx",
        "build",
        "--platform",
        "linux/amd64",
        "--provenance=false",
        "--file",
        "./Dockerfile",
        "--tag",
        "shop:1.0",
        "--tag",
        "shop:latest",
        "--build-arg",
        "PY=3.12",
        "--load",
        ".",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(build, &expected);
    let inspect = call_of(&calls, &["image", "inspect"]).unwrap();
    assert_eq!(
        inspect[1..3],
        ["-c", "ctx1"],
        "globals forwarded to every docker call"
    );
    let state: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/last-build.json"))).unwrap();
    assert_eq!(state["image"], "shop:1.0");
    assert_eq!(state["platform"], "linux/amd64");
}

#[test]
fn the_default_tag_is_a_timestamp_outside_git_plus_latest() {
    let s = Sandbox::new();
    app(&s);
    s.write(
        "work/azdeploy.json",
        r#"{"image": "shop", "platform": "linux/arm64"}"#,
    );
    let out = s.plugin().arg("build").output().unwrap();
    assert!(
        !out.status.success(),
        "amd64 result for an arm64 target must be refused"
    );
    let calls = s.calls();
    let build = call_of(&calls, &["buildx", "build", "--load"]).unwrap();
    let tags: Vec<&String> = build
        .iter()
        .skip_while(|a| *a != "--tag")
        .step_by(2)
        .take(2)
        .collect();
    assert!(build.contains(&"linux/arm64".to_string()));
    let first = build[build.iter().position(|a| a == "--tag").unwrap() + 1].clone();
    assert!(
        first.starts_with("shop:20") && first.len() == "shop:20261128-052300".len(),
        "{first} {tags:?}"
    );
    assert!(build.contains(&"shop:latest".to_string()));
}

#[test]
fn the_gate_stops_a_wrong_architecture_and_names_the_from_line() {
    let s = Sandbox::new();
    app(&s);
    s.write(
        "work/Dockerfile",
        "FROM --platform=linux/arm64 python:3.12-slim\nCMD [\"python\"]\n",
    );
    s.answer("docker-image-inspect", "stdout", INSPECT_ARM64);
    let out = s
        .plugin()
        .args(["build", "--no-preflight", "-t", "shop:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "no reference printed for a refused image"
    );
    let err = stderr_of(&out);
    assert!(
        err.contains("built for linux/arm64/v8, not linux/amd64"),
        "{err}"
    );
    assert!(
        err.contains("Dockerfile:1: FROM --platform=linux/arm64 python:3.12-slim"),
        "{err}"
    );
    assert!(err.contains("hint: remove the --platform"), "{err}");
    assert!(!s.path("work/.azdeploy/last-build.json").exists());
}

#[test]
fn buildx_exit_code_passes_through() {
    let s = Sandbox::new();
    app(&s);
    s.answer(
        "docker-buildx-build",
        "sh",
        "echo 'ERROR: failed to solve: boom' >&2; exit 17\n",
    );
    let out = s.plugin().args(["build", "-t", "shop:1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(17));
    let err = stderr_of(&out);
    assert!(
        err.contains("ERROR: failed to solve: boom"),
        "buildx output is streamed: {err}"
    );
    assert!(
        err.contains("error: failed to build the image with docker buildx"),
        "{err}"
    );
    assert!(err.contains("exit status: 17"), "{err}");
    assert!(call_of(&s.calls(), &["image", "inspect"]).is_none());
}

#[test]
fn dry_run_runs_no_mutation() {
    let s = Sandbox::new();
    app(&s);
    // Any mutation reaching the fake fails the test loudly.
    s.answer(
        "docker-buildx-build",
        "sh",
        "echo MUTATION RAN >&2; exit 99\n",
    );
    let out = s
        .plugin()
        .args(["build", "--dry-run", "-t", "shop:1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("[dry-run] "), "{err}");
    assert!(
        err.contains("buildx build --platform linux/amd64 --provenance=false"),
        "{err}"
    );
    assert!(!err.contains("MUTATION RAN"), "{err}");
    assert_eq!(stdout_of(&out), "shop:1\n");
    assert!(call_of(&s.calls(), &["buildx", "build"]).is_none());
}

#[test]
fn bad_input_fails_before_anything_runs() {
    for (args, file, needle, code) in [
        (
            vec!["build", "--platform", "linux/amd64x"],
            true,
            "did you mean linux/amd64?",
            125,
        ),
        (
            vec!["build", "--build-arg", "NOEQUALS"],
            true,
            "is not KEY=VALUE",
            125,
        ),
        (vec!["build", "-t", "Shop:1"], true, "invalid tag", 125),
        (vec!["build", "-t", "shop:-x"], true, "invalid tag", 125),
        (
            vec!["build", "missing-dir"],
            true,
            "build context missing-dir is not a directory",
            125,
        ),
        (
            vec!["build"],
            false,
            "cannot read the Dockerfile ./Dockerfile",
            125,
        ),
        (
            vec!["build", "-f", "nope/Dockerfile"],
            true,
            "cannot read the Dockerfile nope/Dockerfile",
            125,
        ),
    ] {
        let s = Sandbox::new();
        app(&s);
        if !file {
            std::fs::remove_file(s.path("work/Dockerfile")).unwrap();
        }
        let out = s.plugin().args(&args).output().unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            s.calls().is_empty(),
            "{args:?}: something ran: {:?}",
            s.calls()
        );
    }
}

#[test]
fn engine_down_is_caught_by_the_preflight_with_its_hint() {
    let s = Sandbox::new();
    app(&s);
    s.answer(
        "docker-version",
        "stdout",
        include_str!("../fixtures/captured/docker-version-engine-down.stdout"),
    );
    s.answer(
        "docker-version",
        "stderr",
        include_str!("../fixtures/captured/docker-version-engine-down.stderr"),
    );
    s.answer("docker-version", "exit", "1");
    let out = s.plugin().args(["build", "-t", "shop:1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("engine: not reachable: Cannot connect to the Docker daemon"),
        "{err}"
    );
    assert!(err.contains("hint: start the Docker engine"), "{err}");
    assert!(call_of(&s.calls(), &["--load"]).is_none());
    // Without the preflight, buildx's own message is above, and read for the hint.
    s.answer(
        "docker-buildx-build",
        "sh",
        "cat \"$FAKE_DIR/docker-version.stderr\" >&2; exit 1\n",
    );
    let out = s
        .plugin()
        .args(["build", "--no-preflight", "-t", "shop:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("Cannot connect to the Docker daemon"), "{err}");
    assert!(err.contains("hint: start the Docker engine"), "{err}");
}

#[test]
fn missing_buildx_is_caught_by_the_preflight() {
    let s = Sandbox::new();
    app(&s);
    let msg =
        "docker: unknown command: docker buildx\n\nRun 'docker --help' for more information\n";
    s.answer("docker-buildx-version", "stderr", msg);
    s.answer("docker-buildx-version", "exit", "1");
    let out = s.plugin().args(["build", "-t", "shop:1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "buildx: `docker buildx` does not answer: docker: unknown command: docker buildx"
        ),
        "{err}"
    );
    assert!(err.contains("hint: install Docker Buildx"), "{err}");
    assert!(call_of(&s.calls(), &["--load"]).is_none());
}

#[test]
fn the_default_tag_is_the_git_commit_and_dirty_when_changed() {
    let s = Sandbox::new();
    app(&s);
    let git = |args: &[&str]| {
        let st = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(s.work())
            .output()
            .unwrap();
        assert!(st.status.success(), "{}", stderr_of(&st));
        stdout_of(&st).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "Dockerfile"]);
    git(&["commit", "-qm", "x"]);
    let sha = git(&["rev-parse", "--short", "HEAD"]);
    s.write("work/azdeploy.json", r#"{"image": "shop"}"#);
    let out = s.plugin().arg("build").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        stdout_of(&out),
        format!("shop:{sha}-dirty\n"),
        "azdeploy.json is untracked"
    );
    git(&["add", "azdeploy.json"]);
    git(&["commit", "-qm", "y"]);
    let sha = git(&["rev-parse", "--short", "HEAD"]);
    let out = s.plugin().arg("build").output().unwrap();
    assert_eq!(
        stdout_of(&out),
        format!("shop:{sha}\n"),
        "{}",
        stderr_of(&out)
    );
}

fn probe_calls(s: &Sandbox) -> usize {
    s.calls()
        .iter()
        .filter(|c| c.contains(&"type=cacheonly".to_string()))
        .count()
}

#[test]
fn preflight_stops_a_pinned_final_stage_before_buildx() {
    let s = Sandbox::new();
    app(&s);
    s.write(
        "work/Dockerfile",
        "FROM --platform=linux/arm64 python:3.12-slim\nEXPOSE 8501\n",
    );
    let out = s.plugin().args(["build", "-t", "shop:1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("preflight failed: nothing was built"), "{err}");
    assert!(err.contains("dockerfile: ./Dockerfile:1: `FROM --platform=linux/arm64 python:3.12-slim` pins the final stage"), "{err}");
    assert!(err.contains("hint: drop `--platform=linux/arm64`"), "{err}");
    assert!(call_of(&s.calls(), &["--load"]).is_none(), "buildx ran");
}

#[test]
fn preflight_fails_without_emulation_and_never_runs_the_build() {
    let s = Sandbox::new();
    app(&s);
    s.answer(
        "docker-buildx-build",
        "stderr",
        include_str!("../fixtures/captured/buildx-build-exec-format-error.stderr"),
    );
    s.answer("docker-buildx-build", "exit", "1");
    s.answer(
        "docker-buildx-build",
        "sh",
        "cat \"$FAKE_DIR/docker-buildx-build.stderr\" >&2; exit 1\n",
    );
    // The host's binfmt entry, as the real file says it when switched off.
    s.write(
        "host/proc/sys/fs/binfmt_misc/qemu-aarch64",
        include_str!("../fixtures/captured/binfmt-qemu-aarch64-disabled.txt"),
    );
    let out = s
        .plugin()
        .env("AZDEPLOY_HOST_ROOT", s.path("host"))
        .args(["build", "--platform", "linux/arm64", "-t", "shop:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("emulation: linux/arm64 programs fail with `exec format error`"),
        "{err}"
    );
    assert!(
        err.contains("\nhint: the binfmt_misc entry qemu-aarch64 is disabled: `echo 1 | sudo tee /proc/sys/fs/binfmt_misc/qemu-aarch64`; or builds without emulation:"),
        "{err}"
    );
    assert_eq!(probe_calls(&s), 1);
    assert!(
        call_of(&s.calls(), &["--load"]).is_none(),
        "buildx ran the real build"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_dockerfile_that_runs_nothing_for_the_target_needs_no_emulation_probe() {
    // init --dockerfile's no-emulation form: the RUN is on $BUILDPLATFORM, the target's stage
    // only copies. With emulation switched off the build still goes ahead, and says why.
    let s = Sandbox::new();
    app(&s);
    s.write(
        "work/Dockerfile",
        "FROM --platform=$BUILDPLATFORM python AS deps\nRUN pip install --target /deps x\n\
         FROM python\nCOPY --from=deps /deps/ /\nEXPOSE 8501\n",
    );
    s.write(
        "host/proc/sys/fs/binfmt_misc/qemu-aarch64",
        include_str!("../fixtures/captured/binfmt-qemu-aarch64-disabled.txt"),
    );
    s.answer("docker-image-inspect", "stdout", INSPECT_ARM64);
    let out = s
        .plugin()
        .env("AZDEPLOY_HOST_ROOT", s.path("host"))
        .args([
            "--verbose",
            "build",
            "--platform",
            "linux/arm64",
            "-t",
            "shop:1",
        ])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(probe_calls(&s), 0, "{err}");
    assert!(
        err.contains("preflight: no RUN in a stage for linux/arm64: emulation not needed for this build, not probed"),
        "{err}"
    );
    assert!(
        call_of(&s.calls(), &["--load"]).is_some(),
        "the build ran: {err}"
    );
}

#[test]
fn a_successful_probe_is_remembered_only_while_what_it_proved_holds() {
    let s = Sandbox::new();
    app(&s);
    s.answer("docker-image-inspect", "stdout", INSPECT_ARM64);
    let binfmt = |state: &str| {
        s.write("host/proc/sys/fs/binfmt_misc/status", "enabled\n");
        s.write(
            "host/proc/sys/fs/binfmt_misc/qemu-aarch64",
            &format!("{state}\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n"),
        );
    };
    binfmt("enabled");
    let build = || {
        let out = s
            .plugin()
            .env("AZDEPLOY_HOST_ROOT", s.path("host"))
            .args(["build", "--platform", "linux/arm64", "-t", "shop:1"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        stderr_of(&out)
    };
    // Emulated: the preflight says so, with the routes that avoid it.
    let err = build();
    assert!(
        err.contains("note: linux/arm64 is emulated here; builds without emulation:"),
        "{err}"
    );
    build();
    assert_eq!(probe_calls(&s), 1, "the second build reused the probe");
    let version_calls = s.calls().iter().filter(|c| c[1] == "version").count();
    assert_eq!(
        version_calls, 1,
        "the second build's preflight ran no docker version"
    );
    let probe = s
        .calls()
        .into_iter()
        .find(|c| c.contains(&"type=cacheonly".to_string()))
        .unwrap();
    assert!(
        probe.contains(&"--no-cache".to_string()) && probe.contains(&"linux/arm64".to_string()),
        "{probe:?}"
    );
    // The binfmt entry changed (switched off and on again): what the pass proved no longer holds.
    binfmt("disabled");
    build();
    assert_eq!(probe_calls(&s), 2, "a changed binfmt entry is probed again");
    build();
    assert_eq!(probe_calls(&s), 2);
    // The engine restarted: a new socket.
    std::fs::remove_file(s.path("engine.sock")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    s.write("engine.sock", "");
    build();
    assert_eq!(probe_calls(&s), 3, "a restarted engine is probed again");
}

#[test]
fn a_remote_engine_is_probed_every_time() {
    let s = Sandbox::new();
    app(&s);
    s.answer("docker-image-inspect", "stdout", INSPECT_ARM64);
    s.answer(
        "docker-context-inspect",
        "stdout",
        r#"{"Host":"ssh://builder@arm-box","SkipTLSVerify":false}"#,
    );
    for _ in 0..2 {
        s.plugin()
            .args(["build", "--platform", "linux/arm64", "-t", "shop:1"])
            .assert()
            .success();
    }
    assert_eq!(
        probe_calls(&s),
        2,
        "nothing proves a remote engine unchanged"
    );
}

#[test]
fn a_build_that_meets_exec_format_error_forgets_the_pass_and_says_why() {
    let s = Sandbox::new();
    app(&s);
    s.answer("docker-image-inspect", "stdout", INSPECT_ARM64);
    s.write("host/proc/sys/fs/binfmt_misc/status", "enabled\n");
    s.write(
        "host/proc/sys/fs/binfmt_misc/qemu-aarch64",
        "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n",
    );
    let build = || {
        s.plugin()
            .env("AZDEPLOY_HOST_ROOT", s.path("host"))
            .args(["build", "--platform", "linux/arm64", "-t", "shop:1"])
            .output()
            .unwrap()
    };
    assert!(build().status.success());
    // The next real build meets the failure the preflight vouched against.
    s.answer(
        "docker-buildx-build",
        "sh",
        &format!(
            "case \"$*\" in *cacheonly*) echo '#5 0.101 azdeploy-probe-ok' >&2; exit 0 ;; esac\ncat >&2 <<'EOF'\n{}EOF\nexit 1\n",
            include_str!("../fixtures/captured/buildx-build-exec-format-error.stderr")
        ),
    );
    let out = build();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("error: failed to build the image with docker buildx"),
        "{err}"
    );
    assert!(
        err.contains("cause: linux/arm64 programs cannot run on this engine (`exec /bin/busybox: exec format error`): emulation is missing or was switched off"),
        "{err}"
    );
    assert!(err.contains("hint: install QEMU user emulation"), "{err}");
    assert_eq!(probe_calls(&s), 1);
    // The pass was dropped: the next build probes again.
    build();
    assert_eq!(probe_calls(&s), 2, "the remembered pass was forgotten");
}

#[test]
fn no_preflight_skips_every_check() {
    let s = Sandbox::new();
    app(&s);
    s.plugin()
        .args(["build", "--no-preflight", "-t", "shop:1"])
        .assert()
        .success();
    let calls = s.calls();
    assert!(call_of(&calls, &["version"]).is_none(), "{calls:?}");
    assert!(call_of(&calls, &["--load"]).is_some());
}
