//! Against the real engine: skipped without one, required with AZDEPLOY_E2E=1.

use crate::support::*;

#[test]
fn context_flag_reaches_the_child_docker_call() {
    if !needs(
        "context_flag_reaches_the_child_docker_call",
        &[Need::Engine],
    ) {
        return;
    }
    let s = Sandbox::new();
    s.real_docker()
        .args([
            "context",
            "create",
            "azdtest2",
            "--docker",
            &engine_endpoint(),
        ])
        .assert()
        .success();
    let out = s
        .real_docker()
        .args(["--context", "azdtest2", "azdeploy", "--verbose", "version"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("docker --context azdtest2 version --format"),
        "{err}"
    );
    let text = stdout_of(&out);
    assert!(
        text.contains("engine: ") && !text.contains("not reachable"),
        "{text}"
    );
    // A context that does not exist fails in the child, and the plugin says how to fix it.
    let out = s
        .real_docker()
        .args(["-c", "nosuchctx", "azdeploy", "version"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(err.contains("nosuchctx"), "{err}");
    assert!(err.contains("docker context ls"), "{err}");
}

/// A static busybox for `arch` (amd64 or arm64), for a test that asked for
/// `Need::Busybox(arch)` first ([`busybox_path`]).
pub fn busybox(arch: &str) -> std::path::PathBuf {
    busybox_path(arch).unwrap_or_else(|| {
        panic!("no static busybox for {arch}: run ci/engine-up.sh (and gate the test with `needs(…, &[Need::Busybox(\"{arch}\")])`)")
    })
}

/// The caller's engine as a `docker context create --docker` value.
pub fn engine_endpoint() -> String {
    format!(
        "host={}",
        engine_host().unwrap_or_else(|| "unix:///var/run/docker.sock".into())
    )
}

/// Removes the test's images even when the test fails.
pub struct Images(pub Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["image", "rm", "-f"])
            .args(&self.0)
            .output();
    }
}

/// `docker buildx build --platform P --load -t TAG .` in the sandbox's `dir`, with the real
/// docker CLI; panics with buildx's output when it fails.
pub fn buildx_load(s: &Sandbox, dir: &str, platform: &str, tag: &str) {
    let out = s
        .real_docker()
        .current_dir(s.path(dir))
        .args([
            "buildx",
            "build",
            "--platform",
            platform,
            "--load",
            "-t",
            tag,
            ".",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{dir}: {}", stderr_of(&out));
}

pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

pub fn image_platform(reference: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Os}}/{{.Architecture}}",
            reference,
        ])
        .output()
        .unwrap();
    stdout_of(&out).trim().to_string()
}

/// Builds a busybox image for `arch` through the real `docker azdeploy build`; the images are
/// removed when the returned guard drops.
pub fn build_busybox(
    arch: &str,
    dockerfile: &str,
    extra: &[&str],
) -> (Sandbox, String, Images, std::process::Output) {
    let s = Sandbox::new();
    std::fs::copy(busybox(arch), s.path("work/busybox")).unwrap();
    s.write("work/Dockerfile", dockerfile);
    let name = unique(&format!("azdeploy-e2e-{arch}"));
    let images = Images(vec![format!("{name}:t1"), format!("{name}:latest")]);
    let tag = format!("{name}:t1");
    let out = s
        .real_docker()
        .args(["azdeploy", "build", "-t", &tag])
        .args(extra)
        .output()
        .unwrap();
    (s, tag, images, out)
}

#[test]
fn build_native_amd64_through_the_real_docker_cli() {
    if !needs(
        "build_native_amd64_through_the_real_docker_cli",
        &[Need::Engine, Need::Busybox("amd64")],
    ) {
        return;
    }
    let dockerfile = "FROM scratch\nCOPY busybox /bin/busybox\nEXPOSE 8501\n\
                      ENTRYPOINT [\"/bin/busybox\",\"httpd\",\"-f\",\"-p\",\"8501\",\"-h\",\"/\"]\n";
    let (s, tag, _images, out) = build_busybox("amd64", dockerfile, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), format!("{tag}\n"));
    assert_eq!(image_platform(&tag), "linux/amd64");
    assert_eq!(
        image_platform(&tag.replace(":t1", ":latest")),
        "linux/amd64"
    );
    let state: serde_json::Value =
        serde_json::from_str(&read(&s.path("work/.azdeploy/last-build.json"))).unwrap();
    assert!(state["id"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn build_foreign_arm64_with_a_run_step_under_qemu() {
    if !needs(
        "build_foreign_arm64_with_a_run_step_under_qemu",
        &[
            Need::Engine,
            Need::Busybox("arm64"),
            Need::Platform("linux/arm64"),
        ],
    ) {
        return;
    }
    let _lock = emulation_lock();
    let dockerfile = "FROM scratch\nCOPY busybox /bin/busybox\n\
                      RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox uname -m > /arch\"]\n";
    let (_s, tag, _images, out) =
        build_busybox("arm64", dockerfile, &["--platform", "linux/arm64"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), format!("{tag}\n"));
    assert_eq!(image_platform(&tag), "linux/arm64");
}

/// Tests that need QEMU's aarch64 entry, or switch it off, take this lock: the entry is
/// machine-wide, so the lock is too (a file lock other test processes and scripts on this machine
/// share, `/tmp/azdeploy-binfmt.lock`, besides the mutex for this process's threads).
static EMULATION: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct EmulationLock {
    _file: std::fs::File,
    _threads: std::sync::MutexGuard<'static, ()>,
}

pub fn emulation_lock() -> EmulationLock {
    let threads = EMULATION.lock().unwrap_or_else(|e| e.into_inner());
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("azdeploy-binfmt.lock"))
        .expect("open the binfmt lock file");
    // flock(2) (std's File::lock is newer than the MSRV); released when the file closes.
    // SAFETY: a valid open descriptor.
    let locked = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) };
    assert_eq!(locked, 0, "lock the binfmt lock file");
    EmulationLock {
        _file: file,
        _threads: threads,
    }
}

/// Disables QEMU's aarch64 entry until dropped (restored even when the test fails), for a test
/// that asked for `Need::HostBinfmt` first.
pub struct BinfmtOff(&'static std::path::Path);

impl BinfmtOff {
    pub fn new() -> BinfmtOff {
        let entry = binfmt_aarch64().expect("binfmt_misc is Linux only: ask needs(HostBinfmt)");
        assert!(
            read(entry).starts_with("enabled"),
            "binfmt not enabled to begin with"
        );
        std::fs::write(entry, "0").expect("disable binfmt (needs root)");
        BinfmtOff(entry)
    }
}

impl Drop for BinfmtOff {
    fn drop(&mut self) {
        std::fs::write(self.0, "1").expect("re-enable binfmt");
    }
}

fn emulation_status(s: &Sandbox, platform: &str) -> (String, String) {
    let out = s
        .real_docker()
        .args(["azdeploy", "doctor", "--json", "--platform", platform])
        .output()
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout_of(&out)));
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "emulation")
        .unwrap()
        .clone();
    (c["status"].as_str().unwrap().to_string(), c.to_string())
}

#[test]
fn without_binfmt_the_preflight_stops_the_build_and_doctor_fails() {
    if !needs(
        "without_binfmt_the_preflight_stops_the_build_and_doctor_fails",
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
    let dockerfile =
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"true\"]\nEXPOSE 8501\n";
    {
        let _off = BinfmtOff::new();
        let (s, tag, _images, out) =
            build_busybox("arm64", dockerfile, &["--platform", "linux/arm64"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(err.contains("preflight failed: nothing was built"), "{err}");
        assert!(err.contains("exec format error"), "{err}");
        assert!(
            err.contains("hint: the binfmt_misc entry qemu-aarch64 is disabled"),
            "{err}"
        );
        assert!(
            !err.contains(&format!("naming to docker.io/library/{tag}")),
            "buildx built the image: {err}"
        );
        assert_eq!(image_platform(&tag), "", "no image was built");
        let (status, c) = emulation_status(&s, "linux/arm64");
        assert_eq!(status, "fail", "{c}");
    }
    // Restored: the same probe passes (doctor never uses the probe cache).
    let s = Sandbox::new();
    let (status, c) = emulation_status(&s, "linux/arm64");
    assert_eq!(status, "ok", "{c}");
    assert!(c.contains("probe"), "{c}");
}

#[test]
fn doctor_on_the_real_engine_for_amd64() {
    if !needs("doctor_on_the_real_engine_for_amd64", &[Need::Engine]) {
        return;
    }
    let s = Sandbox::new();
    s.write("work/Dockerfile", "FROM scratch\nEXPOSE 8501\n");
    let out = s
        .real_docker()
        .args(["azdeploy", "doctor", "--json", "--platform", "linux/amd64"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    let names: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for n in [
        "docker",
        "engine",
        "buildx",
        "emulation",
        "host",
        "dockerfile",
        "port",
        "az",
    ] {
        assert!(names.contains(&n), "{n} missing: {names:?}");
    }
}

#[test]
fn a_final_stage_pinned_to_arm64_is_stopped_before_and_after_the_build() {
    if !needs(
        "a_final_stage_pinned_to_arm64_is_stopped_before_and_after_the_build",
        &[
            Need::Engine,
            Need::Busybox("arm64"),
            Need::Platform("linux/arm64"),
        ],
    ) {
        return;
    }
    let _lock = emulation_lock();
    // A real arm64 base image, built here (nothing can be pulled).
    let (s, base_tag, _base_images, out) = build_busybox(
        "arm64",
        "FROM scratch\nCOPY busybox /bin/busybox\nEXPOSE 8501\n",
        &["--platform", "linux/arm64"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    s.write(
        "work/Dockerfile",
        &format!("FROM --platform=linux/arm64 {base_tag}\nEXPOSE 8501\nENTRYPOINT [\"/bin/busybox\", \"true\"]\n"),
    );
    let name = unique("azdeploy-e2e-pinned");
    let _images = Images(vec![format!("{name}:t1"), format!("{name}:latest")]);
    let out = s
        .real_docker()
        .args(["azdeploy", "build", "-t", &format!("{name}:t1")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("preflight failed"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(
        image_platform(&format!("{name}:t1")),
        "",
        "the preflight let buildx run"
    );
    let out = s
        .real_docker()
        .args([
            "azdeploy",
            "build",
            "--no-preflight",
            "-t",
            &format!("{name}:t1"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("Dockerfile:1: FROM --platform=linux/arm64"),
        "{err}"
    );
    assert!(err.contains("exec format error` on Azure"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn another_context_as_builder_runs_the_probe_and_the_build_and_doctor_lists_it() {
    if !needs(
        "another_context_as_builder_runs_the_probe_and_the_build_and_doctor_lists_it",
        &[
            Need::Engine,
            Need::Busybox("arm64"),
            Need::Platform("linux/arm64"),
        ],
    ) {
        return;
    }
    let _lock = emulation_lock();
    let s = Sandbox::new();
    let ctx = unique("azdtest-builder").replace('-', "");
    s.real_docker()
        .args(["context", "create", &ctx, "--docker", &engine_endpoint()])
        .assert()
        .success();
    std::fs::copy(busybox("arm64"), s.path("work/busybox")).unwrap();
    s.write(
        "work/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"true\"]\nEXPOSE 8501\n",
    );
    let name = unique("azdeploy-e2e-builder");
    let _images = Images(vec![format!("{name}:t1"), format!("{name}:latest")]);
    let out = s
        .real_docker()
        .args([
            "azdeploy",
            "--verbose",
            "build",
            "--builder",
            &ctx,
            "--platform",
            "linux/arm64",
            "-t",
            &format!("{name}:t1"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    // A docker context is its own (docker-driver) builder; buildx wants `--context` for it.
    assert!(err.contains(&format!("--context {ctx} buildx build --platform linux/arm64 --no-cache --progress plain --output type=cacheonly")), "the probe ran elsewhere: {err}");
    assert!(
        err.contains(&format!(
            "--context {ctx} buildx build --platform linux/arm64 --provenance=false"
        )),
        "the build ran elsewhere: {err}"
    );
    assert!(
        err.contains(&format!("building with \"{ctx}\" instance")),
        "buildx says where it built: {err}"
    );
    assert!(
        err.contains(&format!("--context {ctx} buildx inspect")),
        "{err}"
    );

    let out = s
        .real_docker()
        .args(["azdeploy", "doctor", "--json", "--platform", "linux/arm64"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = |n: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .cloned()
    };
    let b = check(&format!("builder {ctx}")).unwrap_or_else(|| panic!("not listed: {v}"));
    assert_eq!(b["status"], "ok", "{b}");
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .starts_with("docker driver: builds linux/arm64 emulated"),
        "{b}"
    );
    let routes = check("routes").unwrap_or_else(|| panic!("no routes: {v}"));
    assert!(
        routes["detail"]
            .as_str()
            .unwrap()
            .starts_with("builds without emulation:"),
        "{routes}"
    );
}
