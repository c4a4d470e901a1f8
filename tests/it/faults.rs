//! The fault suite: what happens when the plugin or what it depends on dies or hangs, on the
//! real engine (and the real az against the simulated Azure). Each case: a bounded run, one
//! clear error with the right hint, the documented exit code, and nothing left behind
//! (containers, tags, temp directories counted before and after).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::azsim::{AzureSim, APP, RG};
use crate::engine::build_busybox;
use crate::support::*;

/// httpd after a second's sleep: a kill lands before the container, during the wait for
/// health, or after it.
const SLOW_HTTPD: &str = "FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\nEXPOSE 8501\n\
    ENTRYPOINT [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox sleep 1; exec /bin/busybox httpd -f -p 8501 -h /www\"]\n";

/// The [`SLOW_HTTPD`] image (it answers 200 on `/` after a second), built through the real
/// `docker azdeploy build`; removed when the guard drops.
fn slow_httpd() -> (Sandbox, String, crate::engine::Images, std::process::Output) {
    let s = Sandbox::new();
    std::fs::copy(crate::engine::busybox("amd64"), s.path("work/busybox")).unwrap();
    s.write("work/www/index.html", "ok\n");
    s.write("work/Dockerfile", SLOW_HTTPD);
    let name = crate::engine::unique("azdeploy-fault-httpd");
    let tag = format!("{name}:t1");
    let images = crate::engine::Images(vec![tag.clone(), format!("{name}:latest")]);
    let out = s
        .real_docker()
        .args(["azdeploy", "build", "-t", &tag])
        .output()
        .unwrap();
    (s, tag, images, out)
}

/// Our test containers on the engine, by owner label.
fn containers_of(pid: u32) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=io.azdeploy.test",
            "--format",
            "{{.ID}} {{.Label \"io.azdeploy.owner\"}}",
        ])
        .output()
        .unwrap();
    stdout_of(&out)
        .lines()
        .filter(|l| {
            l.split(' ').nth(1).and_then(|o| o.split('/').nth(1)) == Some(pid.to_string().as_str())
        })
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

/// Reapers still running for `pid`.
fn reapers_of(pid: u32) -> usize {
    let out = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    stdout_of(&out)
        .lines()
        .filter(|l| l.contains("__reap") && l.contains(&format!("/{pid}/")))
        .count()
}

/// Our temp directories (`azdeploy-*` in the temp dir) whose run was `pid`.
fn temp_dirs_of(pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("azdeploy-") && n.contains(&format!("-{pid}-"))
        })
        .collect()
}

/// The plugin standalone, with the real docker on PATH, in the sandbox's work dir, talking to
/// the caller's engine (as the sandbox's real docker does).
fn plugin_real(s: &Sandbox) -> Command {
    let mut c = Command::new(bin());
    c.env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", s.path("home"))
        .env("DOCKER_CONFIG", s.path("docker-config"))
        .env("LANG", "C.UTF-8")
        .current_dir(s.work());
    if let Some(host) = engine_host() {
        c.env("DOCKER_HOST", host);
    }
    c
}

/// A pseudo-random sequence (no crate for it): a different one each run, printed for replay.
struct Lcg(u64);

impl Lcg {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % max
    }
}

#[test]
fn sigkill_at_random_moments_of_test_local_leaves_no_container() {
    if !needs(
        "sigkill_at_random_moments_of_test_local_leaves_no_container",
        &[Need::Engine, Need::Busybox("amd64")],
    ) {
        return;
    }
    let (s, tag, _images, out) = slow_httpd();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Lcg(seed);
    let mut report = Vec::new();
    let mut pids = Vec::new();
    for trial in 0..20 {
        let delay = Duration::from_millis(rng.next_ms(3000));
        let mut child = plugin_real(&s)
            .args([
                "test-local",
                "--check",
                "--port",
                "0",
                "--no-preflight",
                &tag,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        pids.push(pid);
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap(); // SIGKILL: no handler, no guard, no cleanup of ours runs
        }
        child.wait().unwrap();
        // The reaper notices within a second and removes the container; a `docker run` still
        // running when the plugin died is waited for.
        let clean = wait_for(30, || containers_of(pid).is_empty());
        let reaped = wait_for(30, || reapers_of(pid) == 0);
        report.push(format!(
            "trial {trial}: killed after {} ms{}: containers {}, reapers {}",
            delay.as_millis(),
            if finished { " (had finished)" } else { "" },
            containers_of(pid).len(),
            reapers_of(pid)
        ));
        assert!(clean && reaped, "seed {seed}\n{}", report.join("\n"));
    }
    // A temp dir a killed run left (the gate's) goes with the next run.
    let out = plugin_real(&s)
        .args(["test-local", "--stop"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let left: Vec<PathBuf> = pids.iter().flat_map(|p| temp_dirs_of(*p)).collect();
    assert!(left.is_empty(), "{left:?}");
    eprintln!("seed {seed}\n{}", report.join("\n"));
}

#[test]
fn a_killed_runs_containers_are_swept_by_the_next_run_but_detached_ones_stay() {
    if !needs(
        "a_killed_runs_containers_are_swept_by_the_next_run_but_detached_ones_stay",
        &[Need::Engine, Need::Busybox("amd64")],
    ) {
        return;
    }
    let (s, tag, _images, out) = slow_httpd();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let host = {
        let o = Command::new("hostname").output().unwrap();
        stdout_of(&o).trim().to_string()
    };
    // Left by runs that died before their reaper could act (pid 999999999 does not exist).
    let dead_owner = format!("{host}/999999999/1");
    let mut made = Vec::new();
    for (name, detached) in [("orphan", false), ("kept", true)] {
        let mut args = vec![
            "run".to_string(),
            "-d".into(),
            "--name".into(),
            format!("azdeploy-fault-{name}-{}", std::process::id()),
            "--label".into(),
            format!("io.azdeploy.test=999999999-{name}"),
            "--label".into(),
            format!("io.azdeploy.owner={dead_owner}"),
            "--label".into(),
            format!("io.azdeploy.project={}", s.work().display()),
        ];
        if detached {
            args.extend(["--label".into(), "io.azdeploy.detached=1".into()]);
        }
        args.push(tag.clone());
        let o = Command::new("docker").args(&args).output().unwrap();
        assert!(o.status.success(), "{}", stderr_of(&o));
        made.push(stdout_of(&o).trim()[..12].to_string());
    }
    let out = plugin_real(&s)
        .args([
            "test-local",
            "--check",
            "--port",
            "0",
            "--no-preflight",
            &tag,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    // This run sweeps it, unless a test-local of another test running beside this one got there
    // first (every run sweeps the machine's dead runs): either way it is gone, the --detach one
    // is not.
    let err = stderr_of(&out);
    assert!(
        err.contains("removed 1 test container(s) left by a run that ended without cleaning up (pid 999999999)")
            || !err.contains("could not remove"),
        "{err}"
    );
    let alive = |id: &str| {
        let o = Command::new("docker")
            .args(["inspect", "--format", "{{.Id}}", id])
            .output()
            .unwrap();
        o.status.success()
    };
    assert!(!alive(&made[0]), "the orphan was swept");
    assert!(alive(&made[1]), "the --detach container stays");

    // --stop: only this project's, unless --all.
    let other = Sandbox::new();
    let o = Command::new("docker")
        .args([
            "run",
            "-d",
            "--label",
            "io.azdeploy.test=1-other",
            "--label",
            "io.azdeploy.project=/somewhere/else",
            &tag,
        ])
        .output()
        .unwrap();
    let elsewhere = stdout_of(&o).trim()[..12].to_string();
    let out = plugin_real(&s)
        .args(["test-local", "--stop"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("removed 1 test container(s) started from here"),
        "{}",
        stderr_of(&out)
    );
    assert!(
        !alive(&made[1]) && alive(&elsewhere),
        "only this project's went"
    );
    let out = plugin_real(&other)
        .args(["test-local", "--stop", "--all"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!alive(&elsewhere));
}

#[test]
fn a_hung_az_is_stopped_at_its_bound_and_named() {
    if !AzureSim::available("a_hung_az_is_stopped_at_its_bound_and_named") {
        return;
    }
    // The real az against an Azure that does not answer for a minute.
    let sim = AzureSim::start(r#"{"name": "slow", "delay_ms": 60000}"#);
    let s = Sandbox::new();
    s.write(
        "work/azdeploy.json",
        &format!(r#"{{"azure": {{"app": "{APP}", "resource_group": "{RG}"}}}}"#),
    );
    let t = Instant::now();
    let out = plugin_real(&s)
        .envs(sim.env())
        .env("AZDEPLOY_AZ", sim.az())
        .env("AZDEPLOY_MAX_CALL_SECS", "12")
        .args(["status"])
        .output()
        .unwrap();
    let took = t.elapsed();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(124), "{err}");
    assert!(took < Duration::from_secs(40), "{took:?}");
    for line in [
        "still waiting for ",
        "stopped at 12 s",
        "stopped after 12 s without an answer (its bound)",
        "hint: az got no answer from Azure",
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }
}

#[test]
fn az_throttled_or_failing_gets_its_own_hint() {
    if !AzureSim::available("az_throttled_or_failing_gets_its_own_hint") {
        return;
    }
    for (scenario, code, hint) in [
        (
            r#"{"name": "throttled", "count": 1000, "retry_after": 0}"#,
            "TooManyRequests",
            "hint: Azure Resource Manager is throttling this subscription (429)",
        ),
        (
            r#"{"name": "server-error", "count": 1000}"#,
            "InternalServerError",
            "hint: Azure Resource Manager answered a server error (500)",
        ),
    ] {
        let sim = AzureSim::start(scenario);
        let s = Sandbox::new();
        s.write(
            "work/azdeploy.json",
            &format!(r#"{{"azure": {{"app": "{APP}", "resource_group": "{RG}"}}}}"#),
        );
        let out = plugin_real(&s)
            .envs(sim.env())
            .env("AZDEPLOY_AZ", sim.az())
            .args(["status"])
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{scenario}: {err}");
        assert!(
            err.contains(code) && err.contains(hint),
            "{scenario}: {err}"
        );
    }
}

#[test]
fn a_full_disk_for_the_state_dir_is_one_clear_error_and_nothing_left() {
    let test = "a_full_disk_for_the_state_dir_is_one_clear_error_and_nothing_left";
    if !needs(test, &[Need::Engine, Need::Busybox("amd64")]) {
        return;
    }
    if !cfg!(target_os = "linux") || unsafe { libc::geteuid() } != 0 {
        unmet(test, "a small tmpfs needs root on Linux");
        return;
    }
    let (s, tag, _images, out) = slow_httpd();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let state = s.work().join(".azdeploy");
    std::fs::create_dir_all(&state).unwrap();
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(mount.status.success(), "{}", stderr_of(&mount));
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).output();
        }
    }
    let _unmount = Unmount(state.clone());
    // Fill it.
    let _ = std::fs::write(state.join("filler"), vec![b'x'; 128 * 1024]);
    let out = plugin_real(&s)
        .args([
            "test-local",
            "--check",
            "--port",
            "0",
            "--no-preflight",
            &tag,
        ])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // ENOSPC at the write, or (gVisor's tmpfs) a short file found before the rename.
    assert!(
        err.contains("No space left on device") || err.contains("bytes were written"),
        "{err}"
    );
    assert!(err.contains("hint: the disk holding"), "{err}");
    let leftovers: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "filler")
        .collect();
    assert!(leftovers.is_empty(), "half-written state: {leftovers:?}");
    assert_eq!(
        project_containers(&s),
        Vec::<String>::new(),
        "the container was left"
    );
}

/// A throwaway registry (distribution, no auth) on a free port, its storage in a temp dir;
/// stopped when dropped.
struct PrivateRegistry {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl PrivateRegistry {
    fn start() -> PrivateRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = PrivateRegistry {
            port,
            dir,
            child: None,
        };
        r.up();
        r
    }

    fn up(&mut self) {
        let cfg = self.dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{}\n",
                self.dir.path().join("data").display(),
                self.port
            ),
        )
        .unwrap();
        self.child = Some(
            Command::new("docker-registry")
                .args(["serve"])
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("docker-registry (ci/engine-up.sh installs it)"),
        );
        let url = format!("http://127.0.0.1:{}/v2/", self.port);
        assert!(
            wait_for(20, || Command::new("curl")
                .args(["-sf", "-o", "/dev/null", &url])
                .status()
                .is_ok_and(|s| s.success())),
            "the registry did not start"
        );
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Local tags in `host`'s namespace.
fn tags_for(host: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .unwrap();
    stdout_of(&out)
        .lines()
        .filter(|l| l.starts_with(&format!("{host}/")))
        .map(String::from)
        .collect()
}

#[test]
fn a_registry_that_stops_before_or_during_a_push_is_one_clear_error_and_no_tag_left() {
    let test = "a_registry_that_stops_before_or_during_a_push_is_one_clear_error_and_no_tag_left";
    if !needs(test, &[Need::Engine, Need::Busybox("amd64")]) {
        return;
    }
    if Command::new("docker-registry")
        .arg("--version")
        .output()
        .is_err()
    {
        unmet(test, "no docker-registry (distribution) on PATH");
        return;
    }
    // A layer big enough that the push is still uploading when the registry goes.
    let big = "FROM scratch\nCOPY busybox /bin/busybox\nCOPY blob /blob\nEXPOSE 8501\n\
               ENTRYPOINT [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8501\", \"-h\", \"/\"]\n";
    let s0 = Sandbox::new();
    let blob: Vec<u8> = (0..96u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(s0.path("blob"), &blob).unwrap();
    let (s, tag, _images, out) = {
        let s = Sandbox::new();
        std::fs::copy(s0.path("blob"), s.path("work/blob")).unwrap();
        std::fs::copy(crate::engine::busybox("amd64"), s.path("work/busybox")).unwrap();
        s.write("work/Dockerfile", big);
        let name = crate::engine::unique("azdeploy-fault-push");
        let tag = format!("{name}:t1");
        let images = crate::engine::Images(vec![tag.clone(), format!("{name}:latest")]);
        let out = s
            .real_docker()
            .args(["azdeploy", "build", "-t", &tag])
            .output()
            .unwrap();
        (s, tag, images, out)
    };
    assert!(out.status.success(), "{}", stderr_of(&out));
    let mut reg = PrivateRegistry::start();
    let host = reg.host();

    // Stopped before: connection refused, and the hint says so (not "log in").
    reg.stop();
    let t = Instant::now();
    let out = plugin_real(&s)
        .args(["push", "--registry", &host, &tag])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(t.elapsed() < Duration::from_secs(120), "{:?}", t.elapsed());
    assert!(err.contains("connect: connection refused"), "{err}");
    assert!(
        err.contains("hint: nothing listens at the registry's address"),
        "{err}"
    );
    assert_eq!(
        tags_for(&host),
        Vec::<String>::new(),
        "the push's tags stay behind"
    );

    // Stopped during: the registry is killed once an upload has begun.
    reg.up();
    let uploads = reg.dir.path().join("data/docker/registry/v2/repositories");
    let child = plugin_real(&s)
        .args(["push", "--registry", &host, &tag])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let began = wait_for(60, || {
        walk(&uploads)
            .iter()
            .any(|p| p.to_string_lossy().contains("_uploads"))
    });
    reg.stop();
    let out = child.wait_with_output().unwrap();
    let err = stderr_of(&out);
    assert!(began, "no upload began: {err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error: failed to push the image"), "{err}");
    assert!(err.lines().any(|l| l.starts_with("hint: ")), "{err}");
    assert_eq!(
        tags_for(&host),
        Vec::<String>::new(),
        "the push's tags stay behind"
    );
}

/// Every path below `dir`.
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// A second dockerd for this test alone: its own socket, roots and bridge (never
/// `--bridge=none`, which deletes the host's docker0). Killed, and its files removed, on drop.
struct PrivateEngine {
    dir: PathBuf,
    bridge: String,
    child: Option<std::process::Child>,
}

impl PrivateEngine {
    fn start(tag: &str) -> PrivateEngine {
        let n = std::process::id() % 200;
        let dir = PathBuf::from(format!(
            "/tmp/azdeploy-faults-engine-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let bridge = format!("azdf{n}");
        let ip = |args: &[&str]| Command::new("ip").args(args).output().unwrap();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("172.31.{}.1/24", 20 + n),
            "dev",
            &bridge,
        ]);
        ip(&["link", "set", &bridge, "up"]);
        let mut e = PrivateEngine {
            dir,
            bridge,
            child: None,
        };
        e.up();
        // The test image, from the main engine.
        let mut save = Command::new("docker")
            .args(["save", tag])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = Command::new("docker")
            .args(["-H", &e.host(), "load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success(), "docker save {tag}");
        assert!(load.status.success(), "{}", stderr_of(&load));
        e
    }

    fn up(&mut self) {
        let d = &self.dir;
        self.child = Some(
            Command::new("dockerd")
                .arg("--data-root")
                .arg(d.join("data"))
                .arg("--exec-root")
                .arg(d.join("exec"))
                .arg("--pidfile")
                .arg(d.join("dockerd.pid"))
                .args([
                    "-H",
                    &self.host(),
                    "--bridge",
                    &self.bridge,
                    "--iptables=false",
                    "--ip6tables=false",
                ])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(d.join("dockerd.log")).unwrap())
                .spawn()
                .unwrap(),
        );
        let host = self.host();
        assert!(
            wait_for(60, || Command::new("docker")
                .args(["-H", &host, "version"])
                .output()
                .is_ok_and(|o| o.status.success())),
            "the private dockerd did not start: {}",
            read(&d.join("dockerd.log"))
        );
    }

    /// SIGKILL to dockerd and the containerd it started (as an engine that crashes or is shut
    /// down hard); the containers' records stay in its data root for the next start.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let exec = self.dir.join("exec");
        let _ = Command::new("pkill")
            .args(["-9", "-f"])
            .arg(format!("containerd.*{}", exec.display()))
            .output();
        let _ = std::fs::remove_file(exec.join("containerd/containerd.pid"));
    }

    fn host(&self) -> String {
        format!("unix://{}/docker.sock", self.dir.display())
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        if self.child.is_some() {
            let host = self.host();
            let ids = Command::new("docker")
                .args(["-H", &host, "ps", "-aq"])
                .output();
            if let Ok(ids) = ids {
                for id in stdout_of(&ids).lines() {
                    let _ = Command::new("docker")
                        .args(["-H", &host, "rm", "-f", id])
                        .output();
                }
            }
        }
        self.kill();
        // containerd and shims the engine started go with it; its mounts are released.
        let _ = Command::new("pkill")
            .args(["-9", "-f"])
            .arg(self.dir.display().to_string())
            .output();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|m| m.starts_with(&self.dir.display().to_string()))
            .collect();
        ours.sort_by(|a, b| b.cmp(a));
        for m in ours {
            let _ = Command::new("umount").args(["-l", m]).output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn an_engine_that_stops_during_test_local_or_a_build_is_named_and_nothing_stays() {
    let test = "an_engine_that_stops_during_test_local_or_a_build_is_named_and_nothing_stays";
    if !needs(test, &[Need::Engine, Need::Busybox("amd64")]) {
        return;
    }
    let can_start_engines = cfg!(target_os = "linux")
        && unsafe { libc::geteuid() } == 0
        && Command::new("dockerd").arg("--version").output().is_ok();
    if !can_start_engines {
        unmet(
            test,
            "a private dockerd needs root on Linux and dockerd on PATH",
        );
        return;
    }
    // Never healthy: test-local is still waiting when the engine goes.
    let never = "FROM scratch\nCOPY busybox /bin/busybox\nEXPOSE 8501\n\
                 ENTRYPOINT [\"/bin/busybox\", \"sleep\", \"600\"]\n";
    let (s, tag, _images, out) = build_busybox("amd64", never, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let mut engine = PrivateEngine::start(&tag);
    let host = engine.host();
    let child = plugin_real(&s)
        .env("DOCKER_HOST", &host)
        .args([
            "test-local",
            "--check",
            "--port",
            "0",
            "--no-preflight",
            "--timeout",
            "120",
            &tag,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let running = wait_for(60, || {
        let o = Command::new("docker")
            .args([
                "-H",
                &host,
                "ps",
                "-q",
                "--filter",
                "label=io.azdeploy.test",
            ])
            .output()
            .unwrap();
        !stdout_of(&o).trim().is_empty()
    });
    assert!(running, "the test container never ran");
    engine.kill();
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "{:?}: {err}",
        t.elapsed()
    );
    assert!(err.contains("hint: start the Docker engine"), "{err}");
    // The engine comes back: the reaper (still waiting for it) removes the container.
    engine.up();
    let gone = wait_for(60, || {
        let o = Command::new("docker")
            .args([
                "-H",
                &host,
                "ps",
                "-aq",
                "--filter",
                "label=io.azdeploy.test",
            ])
            .output()
            .unwrap();
        stdout_of(&o).trim().is_empty()
    });
    assert!(gone, "the test container stayed after the engine came back");

    // A build whose engine goes mid-build.
    let slow = "FROM scratch\nCOPY busybox /bin/busybox\n\
                RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo building; /bin/busybox sleep 60\"]\n";
    s.write("work/Dockerfile", slow);
    let child = plugin_real(&s)
        .env("DOCKER_HOST", &host)
        .args(["build", "--no-preflight", "-t", "azdeploy-fault-gone:1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let building = wait_for(60, || {
        let o = Command::new("ps").args(["-eo", "args"]).output().unwrap();
        stdout_of(&o)
            .lines()
            .any(|l| l.contains("busybox sleep 60"))
    });
    assert!(building, "the build's RUN never started");
    engine.kill();
    let out = child.wait_with_output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("hint: the Docker engine stopped while this ran")
            || err.contains("hint: start the Docker engine"),
        "{err}"
    );
    assert_eq!(temp_dirs_of(pid), Vec::<PathBuf>::new());
}

#[test]
fn an_az_killed_mid_call_is_named_with_its_signal() {
    // The fake az (fakes/fake-cli.sh) dies of SIGKILL, as under the OOM killer.
    let s = Sandbox::new();
    s.write(
        "work/azdeploy.json",
        r#"{"azure": {"app": "shop", "resource_group": "rg-shop"}}"#,
    );
    s.answer("az-containerapp-show", "sh", "kill -9 $$\n");
    let out = s.plugin().args(["status"]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("killed by signal 9 (SIGKILL)"), "{err}");
    assert!(
        err.contains(
            "hint: it was killed from outside (SIGKILL: out of memory, or stopped by hand)"
        ),
        "{err}"
    );
}
