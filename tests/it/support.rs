//! `Sandbox`: a temporary world for one test, with fakes or the real docker CLI.
//!
//! Each sandbox has its own `bin/` (fake `docker` and `az`, first on `PATH`), its own
//! `DOCKER_CONFIG` with our binary installed as a plugin, its own `HOME`, and a `work/`
//! directory the commands run in. No `AZDEPLOY_*` or `DOCKER_*` variable leaks in from the
//! caller's environment.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;

pub const FAKE_CLI: &str = include_str!("fakes/fake-cli.sh");

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
        let sys = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        let path = if path_first {
            format!("{}:{sys}", self.path("bin").display())
        } else {
            sys.to_string()
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

    /// The real docker CLI (fakes not on `PATH`), with our plugin installed in `DOCKER_CONFIG`.
    pub fn real_docker(&self) -> Command {
        let mut c = StdCommand::new("docker");
        self.apply_env(&mut c, false);
        Command::from_std(c)
    }

    /// The same as a plain std command, for tests that signal the process.
    pub fn real_docker_std(&self) -> StdCommand {
        let mut c = StdCommand::new("docker");
        self.apply_env(&mut c, false);
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
pub fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
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

/// Whether the engine tests run. With `AZDEPLOY_E2E=1` (CI) a missing engine fails the test;
/// without it the test says it skipped and returns.
pub fn engine_available(test: &str) -> bool {
    static UP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let up = *UP.get_or_init(|| {
        StdCommand::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .env_remove("DOCKER_CONTEXT")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    if up {
        return true;
    }
    if std::env::var("AZDEPLOY_E2E").as_deref() == Ok("1") {
        panic!("AZDEPLOY_E2E=1 but no Docker engine answers: run `ci/engine-up.sh` first");
    }
    // Straight to fd 2, past the test harness's capture, so the skip is visible in `cargo test`.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: no Docker engine (run ci/engine-up.sh; AZDEPLOY_E2E=1 makes this a failure)"
    );
    false
}

/// A fact `ci/engine-up.sh` wrote: the variable when set, else its line in
/// `/opt/azdeploy-ci/env`.
pub fn ci_fact(name: &str) -> String {
    if let Ok(v) = std::env::var(name) {
        return v;
    }
    let env = read(Path::new("/opt/azdeploy-ci/env"));
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("export {name}=")))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{name} unknown: run ci/engine-up.sh"))
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
