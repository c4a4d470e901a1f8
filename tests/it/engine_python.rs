//! Real Python end to end on the real engine: the sample apps in `tests/apps/` (pinned
//! requirements from the real PyPI) go through `init --dockerfile` (its wheel check asks the
//! real pip), `build` (with the multi-architecture Python base `ci/python-images.sh` publishes)
//! and `test-local --check` (Streamlit's first render over its websocket), natively and for
//! linux/arm64, the mirror of an Apple Silicon Mac building linux/amd64.

use std::path::Path;
use std::process::Output;

use crate::engine::{emulation_lock, unique, BinfmtOff, Images};
use crate::support::*;

/// A sandbox whose work dir holds a copy of `tests/apps/<name>`.
pub(crate) fn app(name: &str) -> Sandbox {
    let s = Sandbox::new();
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/apps")
        .join(name);
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), s.work().join(entry.file_name())).unwrap();
    }
    s
}

/// `init --dockerfile` for the CI's Python (its wheels are the ones asked for).
pub(crate) fn init(s: &Sandbox) -> Output {
    let python = ci_fact("AZDEPLOY_CI_PYTHON_VERSION");
    plugin(s, &["init", "--dockerfile", "--python-version", &python])
}

/// `docker azdeploy ARGS` through the real docker CLI, with the host's pip for the wheel check.
fn plugin(s: &Sandbox, args: &[&str]) -> Output {
    s.real_docker()
        .env("AZDEPLOY_PYTHON", python())
        .arg("azdeploy")
        .args(args)
        .output()
        .unwrap()
}

/// `build` for `platform` with the CI's Python base image.
pub(crate) fn build(s: &Sandbox, platform: &str, tag: &str, extra: &[&str]) -> Output {
    let base = format!("PYTHON_IMAGE={}", ci_fact("AZDEPLOY_CI_PYTHON_IMAGE"));
    let mut args = vec![
        "build",
        "--platform",
        platform,
        "-t",
        tag,
        "--build-arg",
        &base,
    ];
    args.extend_from_slice(extra);
    plugin(s, &args)
}

/// `<prefix>-…:t` built for linux/amd64 from the sandbox's app (the build must pass); its tags
/// go when the guard drops.
fn built_amd64(s: &Sandbox, prefix: &str) -> (String, Images) {
    let tag = format!("{}:t", unique(prefix));
    let images = Images(vec![tag.clone(), tag.replace(":t", ":latest")]);
    let out = build(s, "linux/amd64", &tag, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    (tag, images)
}

/// `test-local --check --json` of `image`; the parsed report (or the failure's stderr).
pub(crate) fn check(s: &Sandbox, image: &str, platform: &str) -> Result<serde_json::Value, String> {
    check_with(s, image, platform, &[])
}

/// [`check`] with more of test-local's flags (`--env K=V`, `--timeout S`).
pub(crate) fn check_with(
    s: &Sandbox,
    image: &str,
    platform: &str,
    extra: &[&str],
) -> Result<serde_json::Value, String> {
    let mut args = vec![
        "test-local",
        "--check",
        "--json",
        "--platform",
        platform,
        "--port",
        "0",
    ];
    args.extend_from_slice(extra);
    args.push(image);
    let out = plugin(s, &args);
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(stderr_of(&out))
    }
}

/// `python ARGS` in a throwaway container of `image` for `platform`; stdout.
fn python_in(image: &str, platform: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "run",
            "--rm",
            "--platform",
            platform,
            "--entrypoint",
            "python",
            image,
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python {args:?} in {image}: {}",
        stderr_of(&out)
    );
    stdout_of(&out)
}

/// What an install left in an image: `pip list`, `pip check`, the console scripts and the
/// `.pth` files of site-packages.
fn installed(image: &str, platform: &str) -> (String, String, String) {
    let list = python_in(image, platform, &["-m", "pip", "list", "--format=freeze"]);
    let check = python_in(image, platform, &["-m", "pip", "check"]);
    let files = python_in(
        image,
        platform,
        &[
            "-c",
            "import glob, os, sysconfig; p = sysconfig.get_paths(); \
             print(sorted(os.path.basename(f) for f in glob.glob(p['scripts'] + '/*'))); \
             print(sorted(os.path.basename(f) for f in glob.glob(p['purelib'] + '/*.pth')))",
        ],
    );
    (list, check, files)
}

/// The Dockerfile most projects have: the dependencies installed with pip in the target's own
/// stage (under emulation when the target is foreign).
const USUAL: &str = "ARG PYTHON_IMAGE=python:3.12-slim\nFROM ${PYTHON_IMAGE}\nWORKDIR /app\n\
    COPY requirements.txt .\nRUN pip install --no-cache-dir -r requirements.txt\nCOPY . .\n\
    EXPOSE 8501\nCMD [\"python\", \"-m\", \"streamlit\", \"run\", \"app.py\", \"--server.address=0.0.0.0\", \"--server.port=8501\", \"--server.headless=true\"]\n";

#[test]
fn streamlit_for_a_foreign_platform_builds_without_emulation_and_renders() {
    if !needs(
        "streamlit_for_a_foreign_platform_builds_without_emulation_and_renders",
        &[
            Need::Engine,
            Need::PythonImages,
            Need::Platform("linux/arm64"),
            Need::HostBinfmt,
        ],
    ) {
        return;
    }
    let s = app("streamlit");
    let out = init(&s);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("every requirement has a wheel: pip fetches them for the target on this machine's own architecture, nothing runs under emulation"),
        "{}",
        stderr_of(&out)
    );
    let dockerfile = read(&s.work().join("Dockerfile"));
    let final_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(
        dockerfile.contains("FROM --platform=$BUILDPLATFORM ${PYTHON_IMAGE} AS deps")
            && !final_stage.contains("\nRUN "),
        "the final stage only copies:\n{dockerfile}"
    );

    let name = unique("azdeploy-e2e-py-streamlit");
    let _images = Images(vec![
        format!("{name}:amd64"),
        format!("{name}:arm64"),
        format!("{name}:usual-arm64"),
        format!("{name}:latest"),
    ]);

    // Native: healthy, and Streamlit's first render measured.
    let out = build(&s, "linux/amd64", &format!("{name}:amd64"), &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let native = check(&s, &format!("{name}:amd64"), "linux/amd64").unwrap();
    assert_eq!(native["emulated"], false);
    assert_eq!(native["streamlit_version"], "1.40.0");
    assert!(native["first_render_ms"].as_u64().unwrap() >= native["health_ms"].as_u64().unwrap());
    assert!(
        native["peak_memory_bytes"].as_u64().unwrap() > 50 << 20,
        "pandas and Streamlit loaded: {native}"
    );

    // Foreign, with QEMU's aarch64 entry switched off for the whole build: any RUN executed for
    // linux/arm64 would fail with `exec format error`, so a build that succeeds ran none.
    let lock = emulation_lock();
    {
        let _off = BinfmtOff::new();
        let out = build(&s, "linux/arm64", &format!("{name}:arm64"), &["--verbose"]);
        assert!(out.status.success(), "{}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains("no RUN in a stage for linux/arm64: emulation not needed for this build, not probed"),
            "{}",
            stderr_of(&out)
        );
    }
    assert_eq!(
        crate::engine::image_platform(&format!("{name}:arm64")),
        "linux/arm64"
    );

    // Run it (emulated now): healthy, renders, and the arm64 wheels were installed.
    let foreign = check(&s, &format!("{name}:arm64"), "linux/arm64").unwrap();
    assert_eq!(
        (foreign["emulated"].clone(), foreign["emulator"].clone()),
        (true.into(), "QEMU".into())
    );
    assert_eq!(foreign["streamlit_version"], "1.40.0");
    let machine = python_in(&format!("{name}:arm64"), "linux/arm64", &["-c", "import platform, pandas._libs.lib as l; print(platform.machine(), l.__file__.rsplit('.', 2)[-2])"]);
    assert_eq!(machine.trim(), "aarch64 cpython-311-aarch64-linux-gnu");
    // Console scripts work from their new place.
    let out = std::process::Command::new("docker")
        .args([
            "run",
            "--rm",
            "--platform",
            "linux/arm64",
            "--entrypoint",
            "streamlit",
        ])
        .arg(format!("{name}:arm64"))
        .arg("version")
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&out).trim(),
        "Streamlit, version 1.40.0",
        "{}",
        stderr_of(&out)
    );

    // The usual Dockerfile, pip under emulation: the lint says what it costs, and the packages
    // are the same as the no-emulation build's.
    s.write("work/Dockerfile.usual", USUAL);
    let out = build(
        &s,
        "linux/arm64",
        &format!("{name}:usual-arm64"),
        &["-f", "Dockerfile.usual"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("installs the dependencies in a stage for linux/arm64, which runs under emulation on this machine"),
        "{}",
        stderr_of(&out)
    );
    let usual = installed(&format!("{name}:usual-arm64"), "linux/arm64");
    let ours = installed(&format!("{name}:arm64"), "linux/arm64");
    drop(lock);
    assert!(
        usual.0.contains("streamlit==1.40.0") && usual.0.contains("pandas==2.2.3"),
        "{}",
        usual.0
    );
    assert_eq!(ours.0, usual.0, "pip list differs");
    assert_eq!(ours.1.trim(), "No broken requirements found.");
    assert_eq!(ours.1, usual.1, "pip check differs");
    assert_eq!(ours.2, usual.2, "console scripts or .pth files differ");
}

#[test]
fn a_streamlit_script_that_fails_on_its_first_run_fails_the_check() {
    if !needs(
        "a_streamlit_script_that_fails_on_its_first_run_fails_the_check",
        &[Need::Engine, Need::PythonImages],
    ) {
        return;
    }
    let s = app("streamlit-broken");
    let out = init(&s);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (tag, _images) = built_amd64(&s, "azdeploy-e2e-py-broken");
    let err = check(&s, &tag, "linux/amd64").unwrap_err();
    for line in [
        "ModuleNotFoundError: No module named 'azdeploy_module_that_is_not_installed'",
        "hint: ",
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }
    assert_eq!(
        project_containers(&s),
        Vec::<String>::new(),
        "the failed check left its container"
    );
}

#[test]
fn a_streamlit_script_that_never_ends_its_first_run_is_reported_with_its_log() {
    let test = "a_streamlit_script_that_never_ends_its_first_run_is_reported_with_its_log";
    if !needs(test, &[Need::Engine, Need::PythonImages]) {
        return;
    }
    let s = app("streamlit");
    let out = init(&s);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (tag, _images) = built_amd64(&s, "azdeploy-e2e-py-block");
    let err = check_with(
        &s,
        &tag,
        "linux/amd64",
        &["--timeout", "20", "--env", "AZDEPLOY_SAMPLE_BLOCK_S=3600"],
    )
    .unwrap_err();
    for line in [
        "is healthy, but the first run did not finish within 20 s (Streamlit says the script is still running; ",
        "last 50 log lines:",
        // Streamlit's own banner, from the container's log.
        "You can now view your Streamlit app in your browser.",
        "hint: a script that blocks, loops or calls sys.exit() never finishes its run",
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }
    assert_eq!(
        project_containers(&s),
        Vec::<String>::new(),
        "the check left its container"
    );
}

/// The websocket sessions of the container's Streamlit (port 8501) that are busy now: the
/// server's last send under 1.5 s ago (Streamlit pings an open session every second; an idle
/// keep-alive HTTP connection sends nothing). `(peer port, ss line)`; none once the container is gone.
fn busy_sessions(pid: &str) -> Vec<(String, String)> {
    let out = std::process::Command::new("nsenter")
        .args(["-t", pid, "-n", "ss", "-Htni", "state", "established"])
        .args(["( sport = :8501 )"])
        .output()
        .expect("nsenter (util-linux) and ss (iproute2) run the test's network cut");
    if !out.status.success() {
        // The container is gone (the run ended): nothing to cut.
        return Vec::new();
    }
    // With -i each connection is two lines: the addresses, then its figures.
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .filter_map(|pair| {
            let (addr, info) = (pair.first()?, pair.get(1)?);
            let lastsnd: u64 = info
                .split_whitespace()
                .find_map(|f| f.strip_prefix("lastsnd:"))?
                .parse()
                .ok()?;
            let peer = addr.split_whitespace().last()?.rsplit_once(':')?.1;
            (lastsnd < 1500).then(|| (peer.to_string(), format!("{addr} {info}")))
        })
        .collect()
}

/// How a test cuts a session's connection.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cut {
    /// The server's side destroyed (`ss -K`): the kernel resets the connection, as when
    /// Streamlit drops a session whose pong came late.
    Reset,
    /// Every packet of it dropped in the container (iptables): a connection gone without a word.
    Silent,
}

/// `test-local --check` of `tag` with a 15 s first run, its session cut `how` once it is open;
/// what test-local printed on stderr, once it succeeded.
fn check_with_a_cut_session(s: &Sandbox, tag: &str, how: Cut) -> String {
    let mut child = s
        .real_docker_std()
        .env("AZDEPLOY_PYTHON", python())
        .args(["azdeploy", "test-local", "--check", "--port", "0"])
        .args([
            "--timeout",
            "120",
            "--env",
            "AZDEPLOY_SAMPLE_BLOCK_S=15",
            tag,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // What test-local said, for a failure before the cut (stopped first if still running).
    let said = |mut child: std::process::Child| {
        let _ = child.kill();
        stderr_of(&child.wait_with_output().unwrap())
    };
    let mut id = String::new();
    wait_for(120, || {
        id = project_containers(s).pop().unwrap_or_default();
        !id.is_empty() || child.try_wait().unwrap().is_some()
    });
    if id.is_empty() {
        panic!("{how:?}: no container appeared:\n{}", said(child));
    }
    let inspect = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.State.Pid}}", &id])
        .output()
        .unwrap();
    let pid = stdout_of(&inspect).trim().to_string();
    // The session: busy now and still busy two seconds later (health checks have stopped).
    let mut cut = None;
    wait_for(60, || {
        let before = busy_sessions(&pid);
        std::thread::sleep(std::time::Duration::from_secs(2));
        cut = busy_sessions(&pid)
            .into_iter()
            .find(|(p, _)| before.iter().any(|(b, _)| b == p));
        cut.is_some() || child.try_wait().unwrap().is_some()
    });
    let Some((peer, line)) = cut else {
        panic!("{how:?}: no open session to cut:\n{}", said(child));
    };
    // In the container's network namespace (gone with the container, rules and all).
    let in_container = |args: &[String]| {
        let out = std::process::Command::new("nsenter")
            .args(["-t", &pid, "-n"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
    };
    let words = |t: String| t.split(' ').map(String::from).collect::<Vec<_>>();
    match how {
        Cut::Reset => in_container(&[
            "ss".into(),
            "-K".into(),
            "state".into(),
            "established".into(),
            format!("( sport = :8501 and dport = :{peer} )"),
        ]),
        Cut::Silent => {
            in_container(&words(format!(
                "iptables -I INPUT -p tcp --dport 8501 --sport {peer} -j DROP"
            )));
            in_container(&words(format!(
                "iptables -I OUTPUT -p tcp --sport 8501 --dport {peer} -j DROP"
            )));
        }
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr_of(&out);
    assert!(out.status.success(), "{how:?}: cut {line}\n{err}");
    // Ours and, on a loaded machine, more: Streamlit drops a session whose pong is late.
    assert!(
        err.lines().any(|l| l.starts_with("note: ")
            && l.contains(" session(s) ended before the first run did (")),
        "{how:?}: cut {line}\n{err}"
    );
    assert!(err.contains("first run "), "{err}");
    assert_eq!(
        project_containers(s),
        Vec::<String>::new(),
        "{how:?}: the check left its container"
    );
    err
}

#[test]
fn a_session_cut_during_the_first_run_is_opened_again_as_a_browser_would() {
    let test = "a_session_cut_during_the_first_run_is_opened_again_as_a_browser_would";
    if !needs(test, &[Need::Engine, Need::PythonImages]) {
        return;
    }
    let s = app("streamlit");
    let out = init(&s);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (tag, _images) = built_amd64(&s, "azdeploy-e2e-py-cut");
    check_with_a_cut_session(&s, &tag, Cut::Reset);
    // Nothing comes, not even a close: our ping finds the session gone.
    let err = check_with_a_cut_session(&s, &tag, Cut::Silent);
    assert!(
        err.contains(" s, and no answer to a ping (a connection gone without a close)"),
        "{err}"
    );
}

#[test]
fn flask_and_a_requirement_without_wheels_build_and_answer() {
    if !needs(
        "flask_and_a_requirement_without_wheels_build_and_answer",
        &[Need::Engine, Need::PythonImages],
    ) {
        return;
    }
    // Flask: every requirement has a wheel; health on `/`.
    let s = app("flask");
    let out = init(&s);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (tag, _flask) = built_amd64(&s, "azdeploy-e2e-py-flask");
    let report = check(&s, &tag, "linux/amd64").unwrap();
    assert!(
        report["health_url"].as_str().unwrap().ends_with('/'),
        "{report}"
    );
    assert!(report["first_render_ms"].is_null());

    // No requirements at all: nothing to install, the app started as it is.
    let s = Sandbox::new();
    s.write(
        "work/main.py",
        "import http.server
http.server.ThreadingHTTPServer(('0.0.0.0', 8501), http.server.SimpleHTTPRequestHandler).serve_forever()
",
    );
    let out = init(&s);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out)
            .contains("wrote Dockerfile (Python, no dependencies to install, starts main.py)"),
        "{}",
        stderr_of(&out)
    );
    let (tag, _bare) = built_amd64(&s, "azdeploy-e2e-py-bare");
    check(&s, &tag, "linux/amd64").unwrap();

    // netifaces has no wheel: the Dockerfile compiles in the target's stage and says why.
    let s = app("compiled");
    let out = init(&s);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let dockerfile = read(&s.work().join("Dockerfile"));
    assert!(
        dockerfile.contains("netifaces") && dockerfile.contains("build-essential"),
        "{dockerfile}"
    );
    let (tag, _compiled) = built_amd64(&s, "azdeploy-e2e-py-compiled");
    let ext = python_in(
        &tag,
        "linux/amd64",
        &[
            "-c",
            "import netifaces; print(netifaces.__file__.rsplit('/', 1)[-1])",
        ],
    );
    assert_eq!(ext.trim(), "netifaces.cpython-311-x86_64-linux-gnu.so");
    check(&s, &tag, "linux/amd64").unwrap();
}
