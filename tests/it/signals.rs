//! Cancellation: a slow child (a fake docker that sleeps) under SIGINT, SIGTERM and the docker
//! CLI's plugin socket closing. The plugin must exit 130/143 (never die by the signal), and the
//! child must be gone.

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

fn slow_docker(s: &Sandbox) {
    s.answer("docker-version", "sleep", "30");
}

fn child_pid(s: &Sandbox) -> i32 {
    let pids = s.path("pids");
    assert!(
        wait_for(10, || !read(&pids).is_empty()),
        "the fake docker never started"
    );
    read(&pids).lines().next().unwrap().parse().unwrap()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal to a process we started.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

fn run_and_signal(sig: i32, expected: i32) {
    let s = Sandbox::new();
    slow_docker(&s);
    let child = s
        .plugin_std()
        .env("FAKE_PIDS", s.path("pids"))
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let fake = child_pid(&s);
    signal(child.id(), sig);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(expected), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("cancelled"), "{}", stderr_of(&out));
    assert!(
        wait_for(5, || !alive(fake)),
        "the child docker {fake} is still running"
    );
}

#[test]
fn sigint_exits_130_and_stops_the_child() {
    run_and_signal(libc::SIGINT, 130);
}

#[test]
fn sigterm_exits_143_and_stops_the_child() {
    run_and_signal(libc::SIGTERM, 143);
}

#[test]
fn plugin_socket_close_through_real_docker_exits_130() {
    // The real docker CLI, with stdout not a terminal: on SIGINT it closes the plugin socket
    // and sends us nothing else. We must notice, stop the child and exit 130, which docker
    // passes on.
    let s = Sandbox::new();
    slow_docker(&s);
    let docker = s
        .real_docker_std()
        .env("FAKE_PIDS", s.path("pids"))
        .env("FAKE_LOG", s.path("log"))
        .env("FAKE_DIR", s.path("fake"))
        .env("AZDEPLOY_DOCKER", s.path("bin/docker"))
        .args(["azdeploy", "version"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The child runs, so the plugin holds the socket and its handlers are in place.
    let fake = child_pid(&s);
    signal(docker.id(), libc::SIGINT);
    let out = docker.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr_of(&out));
    assert!(
        wait_for(5, || !alive(fake)),
        "the child docker {fake} is still running"
    );
}

#[test]
fn a_closed_socket_before_start_cancels_at_once() {
    // ECONNREFUSED at connect: docker was already told to stop. Docker names a socket file
    // (macOS) or, on Linux, an abstract socket (`@name`).
    let s = Sandbox::new();
    slow_docker(&s);
    let file = s.path("gone.sock");
    drop(std::os::unix::net::UnixListener::bind(&file).unwrap());
    #[allow(unused_mut)]
    let mut sockets = vec![file.display().to_string()];
    #[cfg(target_os = "linux")]
    sockets.push(format!("@azdeploy_gone_{}", std::process::id()));
    for socket in sockets {
        let t = std::time::Instant::now();
        let out = s
            .plugin()
            .env("DOCKER_CLI_PLUGIN_SOCKET", &socket)
            .arg("version")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(130),
            "{socket}: {}",
            stderr_of(&out)
        );
        assert!(t.elapsed() < Duration::from_secs(10), "{socket}");
    }
}

#[test]
fn an_interrupted_build_stops_buildx_and_cleans_up() {
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let s = Sandbox::new();
        crate::build::healthy_engine(&s);
        s.write("work/Dockerfile", "FROM scratch\nEXPOSE 8501\n");
        // The fake buildx hangs like a long build.
        s.answer(
            "docker-buildx-build",
            "sh",
            "echo $$ > \"$FAKE_DIR/buildx-pid\"\nsleep 30\n",
        );
        let child = s
            .plugin_std()
            .args(["build", "--no-preflight", "-t", "shop:1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid_file = s.path("fake/buildx-pid");
        assert!(
            wait_for(10, || !read(&pid_file).is_empty()),
            "buildx never started"
        );
        let buildx: i32 = read(&pid_file).trim().parse().unwrap();
        signal(child.id(), sig);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{}", stderr_of(&out));
        assert!(
            out.stdout.is_empty(),
            "no reference for an interrupted build"
        );
        assert!(
            wait_for(5, || !alive(buildx)),
            "buildx {buildx} still running"
        );
        assert!(s
            .calls()
            .iter()
            .all(|c| !c.contains(&"inspect".to_string())));
        assert!(!s.path("work/.azdeploy/last-build.json").exists());
    }
}
