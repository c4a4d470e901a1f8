//! `Sandbox`: a temporary world for one test, with fakes or the real docker CLI.
//!
//! Each sandbox has its own `bin/` (fake `docker` and `az`, first on `PATH`), its own
//! `DOCKER_CONFIG` with our binary installed as a plugin, its own `HOME`, and a `work/`
//! directory the commands run in. No `AZDEPLOY_*` or `DOCKER_*` variable leaks in from the
//! caller's environment; the real docker gets the caller's engine as `DOCKER_HOST`.
//!
//! Tests that need an engine or a fixture of `ci/engine-up.sh` ask [`needs`] first: elsewhere
//! they skip and say why, under `AZDEPLOY_E2E=1` (CI) they fail.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;

pub const FAKE_CLI: &str = include_str!("fakes/fake-cli.sh");

/// The `PATH` a sandbox starts from (plus the caller's docker's directory when elsewhere).
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Our binary, as cargo built it for the tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_docker-azdeploy"))
}

pub struct Sandbox {
    pub root: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let root = tempfile::Builder::new()
            .prefix("azdeploy-it-")
            .tempdir()
            .unwrap();
        let s = Sandbox { root };
        for d in ["bin", "work", "fake", "home", "docker-config/cli-plugins"] {
            std::fs::create_dir_all(s.path(d)).unwrap();
        }
        for tool in ["docker", "az"] {
            s.write_exe(&format!("bin/{tool}"), FAKE_CLI);
        }
        std::os::unix::fs::symlink(bin(), s.path("docker-config/cli-plugins/docker-azdeploy"))
            .unwrap();
        std::fs::write(s.path("log"), "").unwrap();
        s
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn work(&self) -> PathBuf {
        self.path("work")
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn write_exe(&self, rel: &str, text: &str) {
        self.write(rel, text);
        std::fs::set_permissions(self.path(rel), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Sets the fake's answer for `key` (e.g. `docker-version`): `suffix` is stdout, stderr,
    /// exit, sleep or sh.
    pub fn answer(&self, key: &str, suffix: &str, text: &str) {
        self.write(&format!("fake/{key}.{suffix}"), text);
    }

    fn apply_env(&self, c: &mut StdCommand, path_first: bool) {
        c.env_clear();
        let mut sys = SYSTEM_PATH.to_string();
        if let Some(dir) = caller_docker_dir() {
            sys = format!("{sys}:{}", dir.display());
        }
        let path = if path_first {
            format!("{}:{sys}", self.path("bin").display())
        } else {
            sys
        };
        c.env("PATH", path)
            .env("HOME", self.path("home"))
            .env("DOCKER_CONFIG", self.path("docker-config"))
            .env("FAKE_LOG", self.path("log"))
            .env("FAKE_DIR", self.path("fake"))
            .env("LANG", "C.UTF-8")
            .current_dir(self.work());
    }

    /// Our binary, run directly (standalone), with the fakes first on `PATH`.
    pub fn plugin(&self) -> Command {
        let mut c = StdCommand::new(bin());
        self.apply_env(&mut c, true);
        Command::from_std(c)
    }

    /// The real docker CLI (fakes not on `PATH`), with our plugin installed in `DOCKER_CONFIG`,
    /// talking to the caller's engine ([`engine_host`]).
    pub fn real_docker(&self) -> Command {
        Command::from_std(self.real_docker_std())
    }

    /// The same as a plain std command, for tests that signal the process.
    pub fn real_docker_std(&self) -> StdCommand {
        let mut c = StdCommand::new("docker");
        self.apply_env(&mut c, false);
        if let Some(host) = engine_host() {
            c.env("DOCKER_HOST", host);
        }
        if let Some(buildx) = caller_buildx() {
            // Already there from an earlier call: fine.
            let _ = std::os::unix::fs::symlink(
                buildx,
                self.path("docker-config/cli-plugins/docker-buildx"),
            );
        }
        c
    }

    pub fn plugin_std(&self) -> StdCommand {
        let mut c = StdCommand::new(bin());
        self.apply_env(&mut c, true);
        c
    }

    /// Every call the fakes received: tool name first, then the arguments.
    pub fn calls(&self) -> Vec<Vec<String>> {
        let log = std::fs::read(self.path("log")).unwrap();
        log.split(|b| *b == b'\n')
            .filter(|r| !r.is_empty())
            .map(|r| {
                r.split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .collect()
    }
}

/// True when a process with this pid still exists (and is not a zombie we could reap).
#[cfg(target_os = "linux")]
pub fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

/// True when a process with this pid still exists (and is not a zombie we could reap).
#[cfg(not(target_os = "linux"))]
pub fn alive(pid: i32) -> bool {
    // POSIX `ps`: no state when the pid is gone, `Z…` for a zombie.
    let out = StdCommand::new("ps")
        .args(["-o", "stat=", "-p", &pid.to_string()])
        .output()
        .map(|o| stdout_of(&o))
        .unwrap_or_default();
    let state = out.trim();
    !state.is_empty() && !state.starts_with('Z')
}

/// Waits up to `secs` for `cond`.
pub fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    cond()
}

pub fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// `AZDEPLOY_E2E=1` (CI): what a test needs must be there, so a missing piece fails the test.
pub fn e2e() -> bool {
    std::env::var("AZDEPLOY_E2E").as_deref() == Ok("1")
}

/// What a test needs beyond this checkout and the docker CLI. Every test that needs an engine
/// or a fixture of `ci/engine-up.sh` asks [`needs`] first, so that on any other machine (a Mac
/// with Docker Desktop, a Linux box with its own engine) it skips and says why, and under
/// `AZDEPLOY_E2E=1` it fails instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A Docker engine answers (any: Docker Desktop, a context, `DOCKER_HOST`) and buildx runs.
    Engine,
    /// A static busybox for `amd64` or `arm64` ([`busybox_path`]).
    Busybox(&'static str),
    /// The password-protected registry: `AZDEPLOY_CI_REGISTRY` (answering) and its user,
    /// password and token.
    Registry,
    /// The real Python base images: `AZDEPLOY_CI_PYTHON_IMAGE*` and their registry, answering.
    PythonImages,
    /// The engine runs programs for this platform (`linux/arm64`), natively or emulated.
    Platform(&'static str),
    /// The engine runs on this Linux host and this process (root) may switch its QEMU aarch64
    /// binfmt entry ([`binfmt_aarch64`]).
    HostBinfmt,
    /// GNU tar (`tar` or `gtar`), which `ci/dist.sh` needs for reproducible archives.
    GnuTar,
}

impl Need {
    /// Why this is not there, or `None` when it is.
    fn missing(self) -> Option<String> {
        match self {
            Need::Engine => engine_missing(),
            Need::Busybox(arch) => busybox_path(arch).is_none().then(|| {
                format!(
                    "no static busybox for {arch} (AZDEPLOY_CI_BUSYBOX_{}, {}/busybox-{arch}, \
                     or a static `busybox` for {arch} on PATH)",
                    arch.to_uppercase(),
                    ci_dir().display()
                )
            }),
            Need::Registry => facts_and_port(
                &[
                    "AZDEPLOY_CI_REGISTRY",
                    "AZDEPLOY_CI_REGISTRY_USER",
                    "AZDEPLOY_CI_REGISTRY_PASSWORD",
                    "AZDEPLOY_CI_REGISTRY_TOKEN",
                ],
                "AZDEPLOY_CI_REGISTRY",
            ),
            Need::PythonImages => facts_and_port(
                &[
                    "AZDEPLOY_CI_PYTHON_REGISTRY",
                    "AZDEPLOY_CI_PYTHON_IMAGE",
                    "AZDEPLOY_CI_PYTHON_IMAGE_AMD64",
                    "AZDEPLOY_CI_PYTHON_IMAGE_ARM64",
                    "AZDEPLOY_CI_PYTHON_VERSION",
                ],
                "AZDEPLOY_CI_PYTHON_REGISTRY",
            ),
            Need::Platform(p) => (!engine_runs(p))
                .then(|| format!("the engine neither runs nor emulates {p} (QEMU binfmt)")),
            Need::HostBinfmt => host_binfmt_missing(),
            Need::GnuTar => gnu_tar()
                .is_none()
                .then(|| "no GNU tar (`tar` or `gtar`)".into()),
        }
    }
}

/// Whether the test can run: true when everything in `what` is there. Otherwise it prints
/// `skipped <test>: <why>; run ci/engine-up.sh` and returns false or, under `AZDEPLOY_E2E=1`,
/// fails the test. Use it first thing: `if !needs("my_test", &[Need::Engine]) { return; }`.
pub fn needs(test: &str, what: &[Need]) -> bool {
    // Without an engine the rest does not matter (and would be slow to ask).
    let no_engine = what
        .contains(&Need::Engine)
        .then(|| Need::Engine.missing())
        .flatten();
    let missing: Vec<(Need, String)> = match no_engine {
        Some(why) => vec![(Need::Engine, why)],
        None => what
            .iter()
            .filter_map(|n| n.missing().map(|why| (*n, why)))
            .collect(),
    };
    if missing.is_empty() {
        return true;
    }
    let mut why: Vec<String> = missing.iter().map(|(_, why)| why.clone()).collect();
    for (need, _) in &missing {
        let fix = match need {
            Need::GnuTar => "install GNU tar (macOS: brew install gnu-tar)",
            _ => "run ci/engine-up.sh",
        };
        if !why.iter().any(|w| w == fix) {
            why.push(fix.to_string());
        }
    }
    unmet(test, &why.join("; "))
}

/// A test that cannot run here (`why`: the reason, and what would fix it): fails under
/// `AZDEPLOY_E2E=1`, else says it skipped and returns false (for `return` in the test).
pub fn unmet(test: &str, why: &str) -> bool {
    if e2e() {
        panic!("AZDEPLOY_E2E=1 but {test} cannot run: {why}");
    }
    // Straight to fd 2, past the test harness's capture, so the skip is visible in `cargo test`.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: {why} (AZDEPLOY_E2E=1 makes this a failure)"
    );
    false
}

/// Whether the engine tests run: [`needs`] with [`Need::Engine`] alone.
#[allow(dead_code)] // for tests that need nothing else; they may all ask `needs` today
pub fn engine_available(test: &str) -> bool {
    needs(test, &[Need::Engine])
}

/// The caller's `docker` with only the variables that pick an engine (a sandbox has its own).
fn caller_docker(args: &[&str]) -> Option<String> {
    StdCommand::new("docker")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| stdout_of(&o).trim().to_string())
}

fn engine_missing() -> Option<String> {
    static WHY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    WHY.get_or_init(|| {
        if caller_docker(&["version", "--format", "{{.Server.Version}}"]).is_none() {
            return Some("no Docker engine answers".into());
        }
        if caller_docker(&["buildx", "version"]).is_none() {
            return Some("no docker buildx".into());
        }
        None
    })
    .clone()
}

/// The engine the caller's docker talks to (`DOCKER_HOST`, else the current context's
/// endpoint), passed to the sandbox's real docker as `DOCKER_HOST`: the sandbox has its own
/// `DOCKER_CONFIG`, so it would not see the caller's context (Docker Desktop's `desktop-linux`,
/// a remote engine).
pub fn engine_host() -> Option<String> {
    static HOST: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                caller_docker(&[
                    "context",
                    "inspect",
                    "--format",
                    "{{.Endpoints.docker.Host}}",
                ])
            })
            .filter(|h| !h.is_empty())
    })
    .clone()
}

/// The buildx plugin the caller's docker CLI runs (for a private `DOCKER_CONFIG` to link).
pub fn buildx_path() -> Option<PathBuf> {
    static PATH: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        // The client part is printed even when no engine answers (and docker exits 1).
        let out = StdCommand::new("docker")
            .args(["info", "--format", "{{json .ClientInfo.Plugins}}"])
            .output()
            .ok()?;
        let plugins: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        plugins.as_array()?.iter().find(|p| p["Name"] == "buildx")?["Path"]
            .as_str()
            .map(PathBuf::from)
    })
    .clone()
}

/// The caller's buildx when the docker CLI finds it only through the caller's own config
/// (Docker Desktop's `cliPluginsExtraDirs`, `~/.docker/cli-plugins`): a sandbox links it into
/// its `cli-plugins`. `None` when it sits in a system plugin dir every docker CLI searches.
fn caller_buildx() -> Option<PathBuf> {
    let path = buildx_path()?;
    let system = [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
    ];
    (!system.iter().any(|d| path.parent() == Some(Path::new(d)))).then_some(path)
}

/// The directory of the caller's `docker` when it is not on the sandbox's system `PATH`
/// (Homebrew's `/opt/homebrew/bin`, Docker Desktop's `~/.docker/bin`).
fn caller_docker_dir() -> Option<PathBuf> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = which::which("docker").ok()?.parent()?.to_path_buf();
        (!SYSTEM_PATH.split(':').any(|d| Path::new(d) == dir)).then_some(dir)
    })
    .clone()
}

/// Whether the engine runs programs for `platform`: its own, or one buildx lists (emulated).
fn engine_runs(platform: &str) -> bool {
    static PLATFORMS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (native, listed) = PLATFORMS.get_or_init(|| {
        let native = caller_docker(&["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"])
            .unwrap_or_default();
        let listed = caller_docker(&["buildx", "inspect"]).unwrap_or_default();
        (native, listed)
    });
    native == platform
        || listed
            .lines()
            .filter(|l| l.trim_start().starts_with("Platforms:"))
            .any(|l| {
                l.split([':', ',', ' '])
                    .any(|p| p.trim_end_matches('*') == platform)
            })
}

/// The QEMU aarch64 binfmt entry of this host, which tests switch off to see the engine fail.
#[cfg(target_os = "linux")]
pub fn binfmt_aarch64() -> Option<&'static Path> {
    Some(Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64"))
}

/// No binfmt_misc outside Linux: the engine's emulation lives in its VM.
#[cfg(not(target_os = "linux"))]
pub fn binfmt_aarch64() -> Option<&'static Path> {
    None
}

#[cfg(target_os = "linux")]
fn host_binfmt_missing() -> Option<String> {
    let entry = binfmt_aarch64()?;
    if !entry.exists() {
        return Some(format!("no QEMU binfmt entry {}", entry.display()));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(format!("switching {} needs root", entry.display()));
    }
    // The engine shares this kernel (so its binfmt entries) only when it runs on this host.
    let host = read(Path::new("/proc/sys/kernel/osrelease"));
    let engine = caller_docker(&["info", "--format", "{{.KernelVersion}}"]).unwrap_or_default();
    (host.trim() != engine).then(|| {
        format!(
            "the engine runs on another kernel ({engine}, this host {}), so not on this host's binfmt entries",
            host.trim()
        )
    })
}

#[cfg(not(target_os = "linux"))]
fn host_binfmt_missing() -> Option<String> {
    Some("the engine's QEMU binfmt entries are not on this host (Linux only)".into())
}

/// GNU tar as `tar` or `gtar` (macOS: `brew install gnu-tar`).
pub fn gnu_tar() -> Option<&'static str> {
    static TAR: std::sync::OnceLock<Option<&'static str>> = std::sync::OnceLock::new();
    *TAR.get_or_init(|| {
        ["tar", "gtar"].into_iter().find(|t| {
            StdCommand::new(t)
                .arg("--version")
                .output()
                .is_ok_and(|o| stdout_of(&o).contains("GNU tar"))
        })
    })
}

/// Facts `names` known, and the address in `addr_fact` (`host:port`) accepting connections.
fn facts_and_port(names: &[&str], addr_fact: &str) -> Option<String> {
    let unknown: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| ci_fact_opt(n).is_none())
        .collect();
    if !unknown.is_empty() {
        return Some(format!(
            "{} unknown (not set, not in {}/env)",
            unknown.join(", "),
            ci_dir().display()
        ));
    }
    let addr = ci_fact(addr_fact);
    let up = std::net::ToSocketAddrs::to_socket_addrs(addr.as_str())
        .into_iter()
        .flatten()
        .any(|a| {
            std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(2)).is_ok()
        });
    (!up).then(|| format!("nothing answers on {addr} ({addr_fact})"))
}

/// Where `ci/engine-up.sh` keeps its fixtures and facts: `$AZDEPLOY_CI_DIR`, by default
/// `/opt/azdeploy-ci`.
pub fn ci_dir() -> PathBuf {
    std::env::var("AZDEPLOY_CI_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/opt/azdeploy-ci"), PathBuf::from)
}

/// A fact `ci/engine-up.sh` wrote: the variable when set, else its line in `$AZDEPLOY_CI_DIR/env`.
pub fn ci_fact_opt(name: &str) -> Option<String> {
    if let Ok(v) = std::env::var(name) {
        return Some(v);
    }
    let env = read(&ci_dir().join("env"));
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("export {name}=")))
        .map(str::to_string)
}

/// As [`ci_fact_opt`], for a test that checked with [`needs`] first.
pub fn ci_fact(name: &str) -> String {
    ci_fact_opt(name).unwrap_or_else(|| {
        panic!("{name} unknown: run ci/engine-up.sh (and gate the test with `needs`)")
    })
}

/// A static busybox for `arch` (`amd64` or `arm64`): `AZDEPLOY_CI_BUSYBOX_<ARCH>` or
/// `$AZDEPLOY_CI_DIR/busybox-<arch>` as ci/engine-up.sh provides it, else a static one for that
/// architecture on `PATH` (Debian's busybox-static).
pub fn busybox_path(arch: &str) -> Option<PathBuf> {
    let ci = ci_fact_opt(&format!("AZDEPLOY_CI_BUSYBOX_{}", arch.to_uppercase()))
        .map(PathBuf::from)
        .unwrap_or_else(|| ci_dir().join(format!("busybox-{arch}")));
    if ci.is_file() {
        return Some(ci);
    }
    which::which("busybox")
        .ok()
        .filter(|p| static_elf_arch(p).as_deref() == Some(arch))
}

/// `amd64` or `arm64` for a statically linked 64-bit little-endian ELF executable (no
/// `PT_INTERP`), else `None`.
fn static_elf_arch(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(bytes.get(o..o + 2)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(bytes.get(o..o + 8)?.try_into().ok()?));
    let arch = match u16_at(18)? {
        62 => "amd64",
        183 => "arm64",
        _ => return None,
    };
    let (phoff, phentsize, phnum) = (u64_at(32)? as usize, u16_at(54)? as usize, u16_at(56)?);
    for i in 0..phnum as usize {
        let p_type = u32::from_le_bytes(
            bytes
                .get(phoff + i * phentsize..phoff + i * phentsize + 4)?
                .try_into()
                .ok()?,
        );
        if p_type == 3 {
            return None; // PT_INTERP: dynamically linked
        }
    }
    Some(arch.to_string())
}

/// The python3 the tests run with (it has pip), as an absolute path.
pub fn python() -> String {
    let out = StdCommand::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is needed for the wheel tests");
    stdout_of(&out).trim().to_string()
}

/// The first 64 bytes of an ELF executable for `arch` (`amd64` or `arm64`) as `printf` octal
/// escapes: enough for the architecture gate, which reads only the header.
pub fn elf_header_printf(arch: &str) -> String {
    let machine = match arch {
        "amd64" => r"\076\000", // EM_X86_64 = 62
        "arm64" => r"\267\000", // EM_AARCH64 = 183
        other => panic!("no ELF header for {other}"),
    };
    format!(
        r"printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000{machine}\001\000\000\000'; head -c 40 /dev/zero"
    )
}

/// The image id (config digest) the fake registry and engine agree on.
pub const FAKE_IMAGE_ID: &str =
    "sha256:4444444444444444444444444444444444444444444444444444444444444444";

/// Fakes what a registry holds (`docker buildx imagetools inspect`, `{{json .}}` and `--raw`): a
/// single manifest labelled `platform` (`os/arch[/variant]`), and the engine's copy of it (by
/// its id) whose program `/bin/app` is an ELF for `elf_arch`, read through `docker create`,
/// `docker cp` and `docker rm` as the architecture gate does.
pub fn fake_registry_image(s: &Sandbox, platform: &str, elf_arch: &str) {
    let mut p = platform.split('/');
    let (os, arch, variant) = (p.next().unwrap(), p.next().unwrap(), p.next());
    let variant = variant.map_or(String::new(), |v| format!(r#", "variant": "{v}""#));
    s.write(
        "fake/pushed.json",
        &format!(
            r#"{{"name": "x", "manifest": {{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
  "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222", "size": 527}},
  "image": {{"architecture": "{arch}", "os": "{os}"{variant}, "config": {{"Entrypoint": ["/bin/app"]}}}}}}"#
        ),
    );
    s.write(
        "fake/raw.json",
        &format!(
            r#"{{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
  "config": {{"mediaType": "application/vnd.docker.container.image.v1+json", "size": 661, "digest": "{FAKE_IMAGE_ID}"}}, "layers": []}}"#
        ),
    );
    s.answer(
        "docker-buildx-imagetools",
        "sh",
        r#"case "$*" in
  *--raw*) cat "$FAKE_DIR/raw.json" ;;
  *) cat "$FAKE_DIR/pushed.json" ;;
esac
"#,
    );
    s.answer(
        "docker-image-inspect",
        "stdout",
        &format!(
            r#"{{"Id": "{FAKE_IMAGE_ID}", "Os": "{os}", "Architecture": "{arch}", "Config": {{"Entrypoint": ["/bin/app"], "Env": ["PATH=/bin"]}}}}"#
        ),
    );
    s.answer("docker-create", "stdout", "fakecontainer\n");
    s.answer(
        "docker-cp",
        "sh",
        &format!(
            "for a in \"$@\"; do dest=$a; done\n{{ {}; }} > \"$dest\"\n",
            elf_header_printf(elf_arch)
        ),
    );
}

/// The test containers (any state) that runs in the sandbox's work dir started, by the project
/// label `test-local` puts on them: unlike `ancestor=IMAGE`, never another test's container of
/// an image with the same content (the same image id).
pub fn project_containers(s: &Sandbox) -> Vec<String> {
    let work = std::fs::canonicalize(s.work()).unwrap_or_else(|_| s.work());
    let out = StdCommand::new("docker")
        .args([
            "ps",
            "--all",
            "--filter",
            "label=io.azdeploy.project",
            "--format",
            "{{.ID}} {{.Label \"io.azdeploy.project\"}}",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, project)| {
            std::fs::canonicalize(project).unwrap_or_else(|_| PathBuf::from(project)) == work
        })
        .map(|(id, _)| id.to_string())
        .collect()
}
