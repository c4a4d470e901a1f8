//! `test-local` on the real engine, with busybox fixtures built here (skipped without an
//! engine unless AZDEPLOY_E2E=1).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::engine::{busybox, emulation_lock, unique, BinfmtOff, Images};
use crate::support::*;

/// A fixture image: static busybox for `arch`, a `/www` with index.html, and `entrypoint`.
fn fixture(s: &Sandbox, arch: &str, entrypoint: &str) -> (String, Images) {
    std::fs::copy(busybox(arch), s.path("work/busybox")).unwrap();
    s.write("work/www/index.html", "hello\n");
    s.write(
        "work/Dockerfile",
        &format!("FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\nEXPOSE 8501\nENTRYPOINT {entrypoint}\n"),
    );
    let name = unique(&format!("azdeploy-e2e-tl-{arch}"));
    let tag = format!("{name}:t1");
    let images = Images(vec![tag.clone(), format!("{name}:latest")]);
    let out = s
        .real_docker()
        .args([
            "azdeploy",
            "build",
            "--platform",
            &format!("linux/{arch}"),
            "-t",
            &tag,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "fixture build: {}", stderr_of(&out));
    (tag, images)
}

/// `test-local --stop` removes every test container on the engine: the test that runs it holds
/// this for writing, every other test-local test for reading.
static STOP: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    STOP.read().unwrap_or_else(|e| e.into_inner())
}

const HTTPD: &str = r#"["/bin/busybox", "httpd", "-f", "-p", "8501", "-h", "/www"]"#;

fn test_local(s: &Sandbox, image: &str, args: &[&str]) -> std::process::Output {
    s.real_docker()
        .args(["azdeploy", "test-local", image, "--port", "0"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn amd64_check_reports_healthy_and_leaves_nothing() {
    if !needs(
        "amd64_check_reports_healthy_and_leaves_nothing",
        &[Need::Engine, Need::Busybox("amd64")],
    ) {
        return;
    }
    let _shared = shared();
    let s = Sandbox::new();
    let (image, _images) = fixture(&s, "amd64", HTTPD);
    let out = test_local(&s, &image, &["--check", "--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "cold_start_ms",
            "cpu_percent",
            "emulated",
            "emulator",
            "first_render_ms",
            "health_ms",
            "health_url",
            "healthy",
            "image",
            "image_id",
            "image_size_bytes",
            "memory_bytes",
            "mode",
            "peak_cpu_percent",
            "peak_memory_bytes",
            "platform",
            "port",
            "script_run_ms",
            "streamlit_version",
            "tested_at",
            "ttfb_ms",
            "url"
        ]
    );
    assert_eq!(v["healthy"], true);
    assert_eq!(v["emulated"], false);
    assert_eq!(v["platform"], "linux/amd64");
    assert_eq!(
        v["port"], 8501,
        "the port that answered, for Azure's target port"
    );
    assert!(v["first_render_ms"].is_null(), "not a Streamlit app: {v}");
    assert!(v["memory_bytes"].as_u64().unwrap() > 0, "{v}");
    assert!(v["cold_start_ms"].as_u64().is_some(), "{v}");
    assert!(v["url"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    assert!(stderr_of(&out).contains("healthy: "), "{}", stderr_of(&out));
    assert_eq!(
        project_containers(&s).len(),
        0,
        "the container was left behind"
    );
    let saved: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/last-test.json"))).unwrap();
    assert_eq!(saved["image_id"], v["image_id"]);
}

#[test]
fn arm64_runs_emulated_by_qemu() {
    if !needs(
        "arm64_runs_emulated_by_qemu",
        &[
            Need::Engine,
            Need::Busybox("arm64"),
            Need::Platform("linux/arm64"),
        ],
    ) {
        return;
    }
    let _shared = shared();
    let _lock = emulation_lock();
    let s = Sandbox::new();
    let (image, _images) = fixture(&s, "arm64", HTTPD);
    let out = test_local(
        &s,
        &image,
        &["--check", "--json", "--platform", "linux/arm64"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["emulated"].as_bool(), v["emulator"].as_str()),
        (Some(true), Some("QEMU")),
        "{v}"
    );
    assert!(stderr_of(&out).contains("emulated by QEMU"));
    assert!(
        stderr_of(&out).contains(
            "note: linux/arm64 is not what Azure will run: Container Apps runs linux/amd64 only"
        ),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(project_containers(&s).len(), 0);
}

#[test]
fn a_slow_start_is_measured_within_150_ms() {
    if !needs(
        "a_slow_start_is_measured_within_150_ms",
        &[Need::Engine, Need::Busybox("amd64")],
    ) {
        return;
    }
    let _shared = shared();
    let s = Sandbox::new();
    let slow = r#"["/bin/busybox", "sh", "-c", "/bin/busybox sleep 2; exec /bin/busybox httpd -f -p 8501 -h /www"]"#;
    let (image, _images) = fixture(&s, "amd64", slow);
    let out = test_local(&s, &image, &["--check", "--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cold = v["cold_start_ms"].as_u64().unwrap() as i64;
    assert!(
        (cold - 2000).abs() < 150,
        "cold start {cold} ms for a 2000 ms start"
    );
    let err = stderr_of(&out);
    assert!(
        !err.to_lowercase().contains("error") && !err.contains("refused"),
        "noise while starting: {err}"
    );
}

#[test]
fn a_crashing_app_fails_with_its_code_logs_and_a_hint() {
    if !needs(
        "a_crashing_app_fails_with_its_code_logs_and_a_hint",
        &[Need::Engine, Need::Busybox("amd64")],
    ) {
        return;
    }
    let _shared = shared();
    let s = Sandbox::new();
    let crash = r#"["/bin/busybox", "sh", "-c", "echo starting; echo boom >&2; exit 3"]"#;
    let (image, _images) = fixture(&s, "amd64", crash);
    let out = test_local(&s, &image, &["--check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("exited with code 3"), "{err}");
    assert!(
        err.contains("last 50 log lines") && err.contains("boom") && err.contains("starting"),
        "{err}"
    );
    assert!(err.contains("hint: the app exited with code 3"), "{err}");
    assert_eq!(project_containers(&s).len(), 0);
}

#[test]
fn without_emulation_the_preflight_or_the_logs_say_so() {
    if !needs(
        "without_emulation_the_preflight_or_the_logs_say_so",
        &[
            Need::Engine,
            Need::Busybox("arm64"),
            Need::Platform("linux/arm64"),
            Need::HostBinfmt,
        ],
    ) {
        return;
    }
    let _shared = shared();
    let _lock = emulation_lock();
    let s = Sandbox::new();
    let (image, _images) = fixture(&s, "arm64", HTTPD);
    // Forget the preflight success the fixture build just remembered.
    let _ = std::fs::remove_dir_all(s.path("home/.cache"));
    let _off = BinfmtOff::new();
    let out = test_local(&s, &image, &["--check", "--platform", "linux/arm64"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("preflight failed") && err.contains("exec format error"),
        "{err}"
    );
    assert!(
        err.contains("hint: the binfmt_misc entry qemu-aarch64 is disabled"),
        "{err}"
    );
    let out = test_local(
        &s,
        &image,
        &["--check", "--platform", "linux/arm64", "--no-preflight"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("exec format error"), "{err}");
    assert!(
        err.contains("hint: the engine cannot run this architecture: emulation is missing"),
        "{err}"
    );
    assert_eq!(project_containers(&s).len(), 0);
}

#[test]
fn a_taken_port_fails_at_once_and_starts_nothing() {
    if !needs(
        "a_taken_port_fails_at_once_and_starts_nothing",
        &[Need::Engine, Need::Busybox("amd64")],
    ) {
        return;
    }
    let _shared = shared();
    let s = Sandbox::new();
    let (image, _images) = fixture(&s, "amd64", HTTPD);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let out = s
        .real_docker()
        .args(["azdeploy", "test-local", &image, "--check", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{err}"
    );
    assert!(err.contains("hint: stop what listens on"), "{err}");
    assert_eq!(project_containers(&s).len(), 0);
}

#[test]
fn a_wrong_architecture_is_refused_before_docker_run() {
    if !needs(
        "a_wrong_architecture_is_refused_before_docker_run",
        &[
            Need::Engine,
            Need::Busybox("arm64"),
            Need::Platform("linux/arm64"),
        ],
    ) {
        return;
    }
    let _shared = shared();
    let _lock = emulation_lock();
    let s = Sandbox::new();
    let (image, _images) = fixture(&s, "arm64", HTTPD);
    let out = test_local(&s, &image, &["--check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("is linux/arm64, not linux/amd64") && err.contains("refusing to run it"),
        "{err}"
    );
    assert_eq!(project_containers(&s).len(), 0);
}

#[test]
fn health_404_then_200_and_the_timeout_is_honoured() {
    if !needs(
        "health_404_then_200_and_the_timeout_is_honoured",
        &[Need::Engine, Need::Busybox("amd64")],
    ) {
        return;
    }
    let _shared = shared();
    let s = Sandbox::new();
    let late = r#"["/bin/busybox", "sh", "-c", "(/bin/busybox sleep 1; echo ok > /www/health.html) & exec /bin/busybox httpd -f -p 8501 -h /www"]"#;
    let (image, _images) = fixture(&s, "amd64", late);
    let out = test_local(
        &s,
        &image,
        &["--check", "--json", "--health-path", "/health.html"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["cold_start_ms"].as_u64().unwrap() >= 900, "{v}");
    assert!(v["health_url"].as_str().unwrap().ends_with("/health.html"));

    let t = Instant::now();
    let out = test_local(
        &s,
        &image,
        &["--check", "--health-path", "/never.html", "--timeout", "2"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("did not answer 2xx within 2 s (last: HTTP 404)"),
        "{err}"
    );
    assert!(
        err.contains("hint: the app answers 404 on /never.html"),
        "{err}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "the timeout was not honoured"
    );
    assert_eq!(project_containers(&s).len(), 0);
}

#[test]
fn detach_then_stop() {
    if !needs("detach_then_stop", &[Need::Engine, Need::Busybox("amd64")]) {
        return;
    }
    let _exclusive = STOP.write().unwrap_or_else(|e| e.into_inner());
    let s = Sandbox::new();
    let (image, _images) = fixture(&s, "amd64", HTTPD);
    let out = test_local(&s, &image, &["--detach"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("docker azdeploy test-local --stop"));
    assert_eq!(project_containers(&s).len(), 1);
    let out = s
        .real_docker()
        .args(["azdeploy", "test-local", "--stop"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(project_containers(&s).len(), 0);
}

/// Starts interactive test-local through the real docker CLI, waits for "healthy", then
/// interrupts it as `how` says; returns the exit code.
fn interrupt_interactive(s: &Sandbox, image: &str, how: &str) -> Option<i32> {
    let mut child = s
        .real_docker_std()
        .args([
            "azdeploy",
            "test-local",
            image,
            "--port",
            "0",
            "--no-preflight",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("Streaming its logs") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("test-local never became healthy");
    let docker_pid = child.id() as i32;
    // The plugin is docker's child: signal it directly for SIGINT/SIGTERM (a terminal's Ctrl-C
    // reaches it that way); SIGINT to docker itself, stdout not a tty, closes the plugin socket.
    let plugin_pid = || -> i32 {
        let out = std::process::Command::new("pgrep")
            .args(["-P", &docker_pid.to_string()])
            .output()
            .unwrap();
        stdout_of(&out)
            .lines()
            .next()
            .expect("plugin process")
            .trim()
            .parse()
            .unwrap()
    };
    let (pid, sig) = match how {
        "SIGINT" => (plugin_pid(), libc::SIGINT),
        "SIGTERM" => (plugin_pid(), libc::SIGTERM),
        _ => (docker_pid, libc::SIGINT),
    };
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(pid, sig) };
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    assert!(err.contains("cancelled"), "{how}: {err}");
    status.code()
}

#[test]
fn interactive_mode_cleans_up_under_every_cancel_twenty_times() {
    if !needs(
        "interactive_mode_cleans_up_under_every_cancel_twenty_times",
        &[Need::Engine, Need::Busybox("amd64")],
    ) {
        return;
    }
    let _shared = shared();
    let s = Sandbox::new();
    let (image, _images) = fixture(&s, "amd64", HTTPD);
    for i in 0..20 {
        let how = ["SIGINT", "SIGTERM", "socket"][i % 3];
        let code = interrupt_interactive(&s, &image, how);
        let want = if how == "SIGTERM" { 143 } else { 130 };
        assert_eq!(code, Some(want), "round {i}, {how}");
        assert_eq!(
            project_containers(&s).len(),
            0,
            "round {i}, {how}: a container was left behind"
        );
    }
}

#[test]
fn a_remote_engine_is_refused_before_anything_runs() {
    // `context inspect` only reads the flags: nothing connects to the made-up host.
    let s = Sandbox::new();
    let out = s
        .real_docker()
        .args([
            "-H",
            "ssh://docker@amd64-builder.invalid",
            "azdeploy",
            "test-local",
            "shop:1",
            "--check",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("the engine at ssh://docker@amd64-builder.invalid is not on this machine"),
        "{err}"
    );
    assert!(
        err.contains("hint: run test-local against a local engine"),
        "{err}"
    );
}
