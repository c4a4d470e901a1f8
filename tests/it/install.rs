//! `install.sh` without cargo: the release archive, made by the release's own packaging code
//! (`ci/dist.sh --package`) from the binary cargo built for these tests, is served over HTTP on
//! loopback, verified and installed where the real docker CLI finds it. Every failure (bad
//! checksum, missing archive, unknown platform) installs nothing and leaves no temporary files.
//! Needs bash, GNU tar (skipped without it), python3 and the docker CLI (no engine), not the
//! cross toolchains.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Output, Stdio};
use std::sync::OnceLock;

use crate::support::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The release target install.sh picks on this machine.
fn host_target() -> String {
    let arch = std::env::consts::ARCH;
    match std::env::consts::OS {
        "macos" => format!("{arch}-apple-darwin"),
        _ => format!("{arch}-unknown-linux-musl"),
    }
}

fn archive() -> String {
    format!("docker-azdeploy-{VERSION}-{}.tar.gz", host_target())
}

fn dist_package(binary: &Path, target: &str, out: &Path) -> Output {
    StdCommand::new("bash")
        .arg(repo().join("ci/dist.sh"))
        .arg("--package")
        .arg(binary)
        .arg(target)
        .arg(out)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

/// Our binary packaged as a release, once per test run (gzip of a debug binary takes seconds).
fn packaged() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("install-test-dist");
        let _ = std::fs::remove_dir_all(&dir);
        let out = dist_package(&bin(), &host_target(), &dir);
        assert!(
            out.status.success(),
            "ci/dist.sh --package failed: {}",
            stderr_of(&out)
        );
        dir
    })
}

/// `python3 -m http.server` on a free loopback port, stopped on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn serve(dir: &Path) -> Server {
        let mut child = StdCommand::new(python())
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in http.server's first line: {line:?}"));
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sandbox whose docker config has no plugin yet, and a private TMPDIR.
fn fresh_sandbox() -> Sandbox {
    let s = Sandbox::new();
    std::fs::remove_file(s.path("docker-config/cli-plugins/docker-azdeploy")).unwrap();
    std::fs::create_dir_all(s.path("tmp")).unwrap();
    s
}

/// install.sh from this checkout under /bin/sh, with only `path` on PATH.
fn install_sh(s: &Sandbox, url: &str, path: &str, args: &[&str]) -> Output {
    StdCommand::new("/bin/sh")
        .arg(repo().join("install.sh"))
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", s.path("home"))
        .env("DOCKER_CONFIG", s.path("docker-config"))
        .env("TMPDIR", s.path("tmp"))
        .env("AZDEPLOY_RELEASE_URL", url)
        .env("LANG", "C.UTF-8")
        .current_dir(s.work())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A failed install: `error:` then `hint:`, no plugin, no temporary file anywhere.
fn assert_installed_nothing(s: &Sandbox, out: &Output, what: &str) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let error = err
        .lines()
        .position(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(err.lines().nth(error).unwrap().contains(what), "{err}");
    assert!(
        err.lines()
            .nth(error + 1)
            .is_some_and(|l| l.starts_with("hint: ")),
        "{err}"
    );
    assert_eq!(
        entries(&s.path("docker-config/cli-plugins")),
        Vec::<String>::new()
    );
    assert_eq!(
        entries(&s.path("tmp")),
        Vec::<String>::new(),
        "temp files left"
    );
}

fn no_cargo_path() -> &'static str {
    for dir in SYSTEM_PATH.split(':') {
        assert!(
            !Path::new(dir).join("cargo").exists(),
            "cargo is in {dir}: this test needs a PATH without cargo"
        );
    }
    SYSTEM_PATH
}

#[test]
fn without_cargo_it_installs_the_release_binary_docker_then_runs() {
    if !needs(
        "without_cargo_it_installs_the_release_binary_docker_then_runs",
        &[Need::GnuTar],
    ) {
        return;
    }
    let s = fresh_sandbox();
    let server = Server::serve(packaged());
    let out = install_sh(&s, &server.url, no_cargo_path(), &[]);
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    let dest = s.path("docker-config/cli-plugins/docker-azdeploy");
    assert!(
        err.contains("cargo not found: installing the release binary"),
        "{err}"
    );
    assert!(
        err.contains(&format!("downloading {}/{}", server.url, archive())),
        "{err}"
    );
    assert!(err.contains("verified sha256 "), "{err}");
    assert!(
        err.contains(&format!(
            "installed docker-azdeploy {VERSION} ({}) as {}",
            host_target(),
            dest.display()
        )),
        "{err}"
    );
    // install.sh ran `docker azdeploy version` itself; it answered with this version.
    assert!(
        stdout_of(&out).starts_with(&format!("docker-azdeploy {VERSION}\n")),
        "{}",
        stdout_of(&out)
    );
    let meta = std::fs::symlink_metadata(&dest).unwrap();
    assert!(meta.file_type().is_file(), "a copy, not a link");
    assert_eq!(meta.permissions().mode() & 0o777, 0o755);
    assert!(std::fs::read(&dest).unwrap() == std::fs::read(bin()).unwrap());
    assert_eq!(
        entries(&s.path("docker-config/cli-plugins")),
        ["docker-azdeploy"]
    );
    assert_eq!(
        entries(&s.path("tmp")),
        Vec::<String>::new(),
        "temp files left"
    );

    // The real docker CLI finds it in DOCKER_CONFIG and runs it.
    let out = s
        .real_docker()
        .args(["azdeploy", "version"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).starts_with(&format!("docker-azdeploy {VERSION}\n")),
        "{}",
        stdout_of(&out)
    );

    let out = install_sh(&s, &server.url, no_cargo_path(), &["--uninstall"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!dest.exists());
}

#[test]
fn binary_flag_downloads_even_with_cargo_on_path() {
    if !needs(
        "binary_flag_downloads_even_with_cargo_on_path",
        &[Need::GnuTar],
    ) {
        return;
    }
    let s = fresh_sandbox();
    let server = Server::serve(packaged());
    let cargo = PathBuf::from(std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").into()));
    let path = format!("{}:{SYSTEM_PATH}", cargo.parent().unwrap().display());
    let out = install_sh(&s, &server.url, &path, &["--binary"]);
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("building"), "{err}");
    assert!(err.contains("verified sha256 "), "{err}");
    assert!(s
        .path("docker-config/cli-plugins/docker-azdeploy")
        .is_file());
}

#[test]
fn a_checksum_mismatch_installs_nothing() {
    if !needs("a_checksum_mismatch_installs_nothing", &[Need::GnuTar]) {
        return;
    }
    let s = fresh_sandbox();
    let serve = s.path("serve");
    std::fs::create_dir_all(&serve).unwrap();
    let mut bytes = std::fs::read(packaged().join(archive())).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff; // same size, one byte changed
    std::fs::write(serve.join(archive()), bytes).unwrap();
    let sha = format!("{}.sha256", archive());
    std::fs::copy(packaged().join(&sha), serve.join(&sha)).unwrap();
    let server = Server::serve(&serve);
    let out = install_sh(&s, &server.url, no_cargo_path(), &["--binary"]);
    assert_installed_nothing(&s, &out, &format!("checksum mismatch for {}", archive()));
}

#[test]
fn a_missing_archive_or_checksum_installs_nothing() {
    if !needs(
        "a_missing_archive_or_checksum_installs_nothing",
        &[Need::GnuTar],
    ) {
        return;
    }
    let s = fresh_sandbox();
    let serve = s.path("serve");
    std::fs::create_dir_all(&serve).unwrap();
    let server = Server::serve(&serve);
    let out = install_sh(&s, &server.url, no_cargo_path(), &["--binary"]);
    assert_installed_nothing(
        &s,
        &out,
        &format!(
            "no release archive for {} at {}/{} (HTTP 404)",
            host_target(),
            server.url,
            archive()
        ),
    );

    // The archive without its .sha256 is not installed unverified.
    std::fs::copy(packaged().join(archive()), serve.join(archive())).unwrap();
    let out = install_sh(&s, &server.url, no_cargo_path(), &["--binary"]);
    assert_installed_nothing(&s, &out, "no checksum file for");
}

#[test]
fn an_unsupported_platform_installs_nothing() {
    for (os, cpu) in [
        ("FreeBSD", "amd64"),
        ("Linux", "riscv64"),
        ("MINGW64_NT-10.0", "x86_64"),
    ] {
        let s = fresh_sandbox();
        s.write_exe(
            "fakebin/uname",
            &format!(
                "#!/bin/sh\ncase \"$1\" in -s) echo '{os}' ;; -m) echo '{cpu}' ;; *) exec /bin/uname \"$@\" ;; esac\n"
            ),
        );
        let path = format!("{}:{SYSTEM_PATH}", s.path("fakebin").display());
        // Nothing listens there: the platform is refused before any download.
        let out = install_sh(&s, "http://127.0.0.1:9", &path, &["--binary"]);
        assert_installed_nothing(&s, &out, &format!("no release binary for {os} on {cpu}"));
    }
}

/// The packaging is reproducible: same input, same bytes; sorted entries owned by 0:0, dated
/// from the commit, with fixed modes.
#[test]
fn packaging_twice_gives_the_same_bytes() {
    if !needs("packaging_twice_gives_the_same_bytes", &[Need::GnuTar]) {
        return;
    }
    let s = Sandbox::new();
    s.write_exe("fake-binary", "#!/bin/sh\necho fake\n");
    let (a, b) = (s.path("a"), s.path("b"));
    for dir in [&a, &b] {
        let out = dist_package(&s.path("fake-binary"), "x86_64-unknown-linux-musl", dir);
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    let name = format!("docker-azdeploy-{VERSION}-x86_64-unknown-linux-musl.tar.gz");
    let bytes = std::fs::read(a.join(&name)).unwrap();
    assert!(
        bytes == std::fs::read(b.join(&name)).unwrap(),
        "archives differ"
    );
    let sha = read(&a.join(format!("{name}.sha256")));
    assert!(sha.ends_with(&format!("  {name}\n")), "{sha}");

    let out = StdCommand::new(gnu_tar().unwrap())
        .args(["--list", "--verbose", "--numeric-owner", "--utc", "--file"])
        .arg(a.join(&name))
        .output()
        .unwrap();
    let listing = stdout_of(&out);
    let commit_time = StdCommand::new("git")
        .args([
            "log",
            "-1",
            "--format=%cd",
            "--date=format-local:%Y-%m-%d %H:%M",
        ])
        .env("TZ", "UTC")
        .current_dir(repo())
        .output()
        .unwrap();
    let when = stdout_of(&commit_time).trim().to_string();
    let stem = format!("docker-azdeploy-{VERSION}-x86_64-unknown-linux-musl");
    let rows: Vec<(String, String)> = listing
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f[1], "0/0", "{l}");
            assert_eq!(format!("{} {}", f[3], f[4]), when, "{l}");
            (f[0].to_string(), f[5].to_string())
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("drwxr-xr-x".to_string(), format!("{stem}/")),
            ("-rw-r--r--".to_string(), format!("{stem}/LICENSE")),
            ("-rw-r--r--".to_string(), format!("{stem}/README.md")),
            ("-rwxr-xr-x".to_string(), format!("{stem}/docker-azdeploy")),
        ],
        "{listing}"
    );
}

/// install.sh downloads from the repository Cargo.toml names.
#[test]
fn install_sh_default_release_url_is_the_cargo_repository() {
    let cargo = read(&repo().join("Cargo.toml"));
    let repository = cargo
        .lines()
        .find_map(|l| l.strip_prefix("repository = \""))
        .and_then(|r| r.strip_suffix('"'))
        .unwrap();
    let script = read(&repo().join("install.sh"));
    assert!(
        script.contains(&format!("\nrepository={repository}\n")),
        "install.sh's repository= differs from Cargo.toml's {repository}"
    );
}
