//! Does the engine really run the target architecture? Host facts, and the probe that proves it.
//!
//! A builder's platform list is no proof: buildx still lists linux/arm64 when QEMU's binfmt entry
//! is disabled. So the probe builds a throwaway `FROM scratch` image whose only `RUN` executes a
//! tiny static ELF for the target (see `probe_elf.rs`) on the real builder; it passes only if
//! that program ran and printed its word. The build preflight remembers a success for a few
//! minutes per engine, builder and platform (`recent_success`), so back-to-back builds pay for
//! one; doctor always probes. Host facts (binfmt_misc on
//! Linux, Docker Desktop's Rosetta settings on macOS) explain a failure; they prove nothing.

use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::config::Platform;
use crate::ctx::Ctx;
use crate::engine::{docker, probe_elf};
use crate::process::runner::Probe;
use crate::report::error::Error;

/// How long a successful probe is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(10 * 60);

/// QEMU's name for a docker architecture (also the binfmt_misc entry's suffix).
pub fn qemu_name(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "arm" => "arm",
        "386" => "i386",
        "riscv64" => "riscv64",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        _ => return None,
    })
}

/// Docker's name for a Rust/uname architecture.
pub fn docker_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i686" | "i386" => "386",
        "powerpc64" | "ppc64le" => "ppc64le",
        other => other,
    }
}

/// A `/proc/sys/fs/binfmt_misc/<name>` entry.
#[derive(Debug, PartialEq, Eq)]
pub struct Binfmt {
    pub enabled: bool,
    pub interpreter: String,
    pub flags: String,
}

impl Binfmt {
    /// The F flag: the interpreter is opened at registration, so it works inside containers.
    pub fn fix_binary(&self) -> bool {
        self.flags.contains('F')
    }
}

pub fn parse_binfmt(text: &str) -> Option<Binfmt> {
    let mut lines = text.lines();
    let enabled = match lines.next()?.trim() {
        "enabled" => true,
        "disabled" => false,
        _ => return None,
    };
    let mut b = Binfmt {
        enabled,
        interpreter: String::new(),
        flags: String::new(),
    };
    for l in lines {
        if let Some(v) = l.strip_prefix("interpreter ") {
            b.interpreter = v.trim().into();
        } else if let Some(v) = l.strip_prefix("flags:") {
            b.flags = v.trim().into();
        }
    }
    Some(b)
}

/// Docker Desktop's emulation settings (macOS).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DesktopSettings {
    /// "Use Rosetta for x86_64/amd64 emulation on Apple Silicon".
    pub rosetta: Option<bool>,
    /// The Apple Virtualization framework VMM (Rosetta needs it).
    pub virtualization_framework: Option<bool>,
    /// The file they came from.
    pub file: String,
}

/// Reads the keys from `settings-store.json` (Docker Desktop 4.35+, PascalCase) or
/// `settings.json` (older, camelCase); unknown or missing keys stay `None`.
pub fn parse_desktop_settings(text: &str, file: &str) -> Option<DesktopSettings> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let obj = v.as_object()?;
    let get = |key: &str| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.as_bool())
    };
    Some(DesktopSettings {
        rosetta: get("UseVirtualizationFrameworkRosetta"),
        virtualization_framework: get("UseVirtualizationFramework"),
        file: file.into(),
    })
}

/// What the host says about running `target`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub os: String,
    /// Docker's name for the host architecture.
    pub arch: String,
    pub apple_silicon: bool,
    pub rosetta_installed: Option<bool>,
    pub desktop: Option<DesktopSettings>,
    /// Linux: the binfmt_misc entry for the target, when the target is foreign.
    pub binfmt: Option<Binfmt>,
    pub binfmt_name: Option<String>,
}

/// Gathers host facts; every file is read below `root` (`/` in real use, a fixture dir in tests).
pub fn host_facts(
    os: &str,
    arch: &str,
    root: &Utf8Path,
    home: Option<&str>,
    target: &Platform,
) -> HostFacts {
    let read = |p: &str| std::fs::read_to_string(root.join(p.trim_start_matches('/'))).ok();
    let arch = docker_arch(arch).to_string();
    let mut f = HostFacts {
        os: os.into(),
        apple_silicon: os == "macos" && arch == "arm64",
        ..Default::default()
    };
    if os == "macos" {
        f.rosetta_installed = Some(
            root.join("Library/Apple/usr/share/rosetta/rosetta")
                .exists(),
        );
        if let Some(home) = home {
            let dir = format!(
                "{}/Library/Group Containers/group.com.docker",
                home.trim_end_matches('/')
            );
            for name in ["settings-store.json", "settings.json"] {
                let path = format!("{dir}/{name}");
                if let Some(s) = read(&path).and_then(|t| parse_desktop_settings(&t, &path)) {
                    f.desktop = Some(s);
                    break;
                }
            }
        }
    } else if os == "linux" && target.arch != arch {
        if let Some(q) = qemu_name(&target.arch) {
            let name = format!("qemu-{q}");
            f.binfmt =
                read(&format!("/proc/sys/fs/binfmt_misc/{name}")).and_then(|t| parse_binfmt(&t));
            f.binfmt_name = Some(name);
        }
    }
    f.arch = arch;
    f
}

/// How to get emulation of `target` working on this host.
pub fn emulation_hint(facts: &HostFacts, target: &Platform) -> String {
    let q = qemu_name(&target.arch).unwrap_or(&target.arch);
    match facts.os.as_str() {
        "macos" => format!(
            "in Docker Desktop enable Settings > General > \"Use Rosetta for x86_64/amd64 emulation on Apple Silicon\" \
             (with the Apple Virtualization framework) and restart it, or check the VM; \
             or install QEMU emulation: `docker run --privileged --rm tonistiigi/binfmt --install {}`",
            target.arch
        ),
        _ => match &facts.binfmt {
            Some(b) if !b.enabled => format!(
                "the binfmt_misc entry qemu-{q} is disabled: `echo 1 | sudo tee /proc/sys/fs/binfmt_misc/qemu-{q}`"
            ),
            _ => format!(
                "install QEMU user emulation: `sudo apt-get install qemu-user-static binfmt-support` \
                 (then `sudo update-binfmts --enable qemu-{q}`), or \
                 `docker run --privileged --rm tonistiigi/binfmt --install {}`",
                target.arch
            ),
        },
    }
}

/// The probe's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The probe ran on the target platform.
    Works { elapsed: Duration },
    /// `exec format error`: no emulation for the target.
    Missing,
    /// Something else went wrong (output tail attached).
    Broken(String),
    /// We have no probe program for this architecture.
    NoProbe,
}

/// A sign in a failed build's output that a program could not run for the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sign {
    /// `exec format error`: the kernel could not start a program of that architecture.
    ExecFormat(String),
    /// `qemu: uncaught target signal`: a program crashed under QEMU.
    QemuCrash(String),
    /// `rosetta error: …`: Rosetta could not run a program.
    Rosetta(String),
    /// `Illegal instruction`: an instruction the emulator lacks (Rosetta has no AVX).
    IllegalInstruction(String),
}

impl Sign {
    /// The output line that shows it.
    pub fn line(&self) -> &str {
        match self {
            Sign::ExecFormat(l)
            | Sign::QemuCrash(l)
            | Sign::Rosetta(l)
            | Sign::IllegalInstruction(l) => l,
        }
    }
}

/// The first sign of an emulation failure in a build's output, if any.
pub fn failure_sign(output: &str) -> Option<Sign> {
    let find = |needle: &str| {
        output
            .lines()
            .find(|l| l.contains(needle))
            .map(|l| strip_step_prefix(l).to_string())
    };
    if let Some(l) = find("exec format error") {
        return Some(Sign::ExecFormat(l));
    }
    if let Some(l) = find("qemu: uncaught target signal") {
        return Some(Sign::QemuCrash(l));
    }
    if let Some(l) = find("rosetta error") {
        return Some(Sign::Rosetta(l));
    }
    find("Illegal instruction").map(Sign::IllegalInstruction)
}

/// `#5 0.149 exec …` → `exec …` (BuildKit's step number and timestamp).
fn strip_step_prefix(line: &str) -> &str {
    let mut rest = line.trim();
    for _ in 0..2 {
        if let Some((first, after)) = rest.split_once(' ') {
            if first.trim_start_matches('#').parse::<f64>().is_ok() {
                rest = after.trim_start();
            }
        }
    }
    rest
}

/// The diagnosis of a build that failed with `sign`, and its fix: `emulated` says whether the
/// engine runs `target` under emulation.
pub fn diagnose_build(
    sign: &Sign,
    target: &Platform,
    emulated: bool,
    facts: &HostFacts,
) -> (String, String) {
    let line = sign.line();
    match sign {
        Sign::ExecFormat(_) if emulated => (
            format!("{target} programs cannot run on this engine (`{line}`): emulation is missing or was switched off"),
            format!("{}; `docker azdeploy doctor` proves it works again", emulation_hint(facts, target)),
        ),
        Sign::ExecFormat(_) => (
            format!("`{line}` although this engine runs {target} natively: a program in the build is for another CPU, most likely from a base image whose label says {target} while its files do not"),
            format!("get a real {target} copy of the base image (`docker pull --platform {target} <base>`, or rebuild it with `docker buildx build --platform {target}`)"),
        ),
        Sign::QemuCrash(_) => (
            format!("a program crashed under QEMU's emulation of {target} (`{line}`)"),
            "some programs do not run under QEMU: build without emulation (`--remote acr`, or a native `--builder`), or on Docker Desktop turn on Rosetta emulation".into(),
        ),
        Sign::Rosetta(_) => (
            format!("Rosetta could not run a {target} program (`{line}`)"),
            "turn off \"Use Rosetta for x86_64/amd64 emulation\" in Docker Desktop to fall back to QEMU, or build without emulation (`--remote acr`, or a native `--builder`)".into(),
        ),
        Sign::IllegalInstruction(_) => (
            format!("a program used an instruction the emulator lacks (`{line}`; Rosetta has no AVX)"),
            "build without emulation (`--remote acr`, or a native `--builder`), or use packages built without AVX (e.g. polars-lts-cpu)".into(),
        ),
    }
}

/// A remembered success: when, and what the probe cost then.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CacheEntry {
    pub at: u64,
    pub ms: u64,
    /// What the probe proved (see [`fingerprint`]): a pass only holds while this is unchanged.
    pub fingerprint: String,
}

/// Reads the verdict from a probe run's output.
pub fn judge(p: &Probe) -> Verdict {
    let text = format!("{}\n{}", p.stdout, p.stderr);
    if p.success() && text.contains(probe_elf::PROBE_OUTPUT) {
        Verdict::Works { elapsed: p.elapsed }
    } else if text.contains("exec format error") {
        Verdict::Missing
    } else if p.success() {
        Verdict::Broken("the build succeeded but the probe's output is missing".into())
    } else {
        Verdict::Broken(crate::process::runner::tail(text.trim(), 8))
    }
}

/// Runs the probe for `target` on `builder` (the current one when `None`).
pub fn probe(ctx: &Ctx, target: &Platform, builder: Option<&str>) -> Result<Verdict, Error> {
    let Some(elf) = probe_elf::for_arch(&target.arch, target.variant.as_deref()) else {
        return Ok(Verdict::NoProbe);
    };
    let dir = crate::sys::files::temp_dir("azdeploy-probe-")?;
    let io = |source| Error::Io {
        action: "write the probe to",
        path: dir.path().display().to_string(),
        source,
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let exe = dir.path().join("probe");
        std::fs::write(&exe, elf).map_err(io)?;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
        // A nonce of our own: BuildKit merges identical steps of builds running at the same
        // time (doctor probes several builders on one engine at once), and a merged RUN prints
        // its output in one build only.
        static PROBES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let nonce = format!(
            "{}-{}-{}\n",
            std::process::id(),
            crate::sys::clock::now_millis(),
            PROBES.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        std::fs::write(dir.path().join("nonce"), nonce).map_err(io)?;
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM scratch\nCOPY probe /probe\nCOPY nonce /nonce\nRUN [\"/probe\"]\n",
        )
        .map_err(io)?;
    }
    let (base, builder_flag) = crate::engine::builder::on_builder(
        ctx,
        &format!("run the {target} emulation probe"),
        builder,
    )?;
    let cmd = docker::probe_build(base, builder_flag.as_deref(), target, dir.path());
    Ok(judge(&ctx.runner.probe(&cmd)?))
}

fn cache_file(ctx: &Ctx, key: &str) -> Option<Utf8PathBuf> {
    ctx.cache_dir()
        .map(|d| d.join(format!("preflight-{:016x}.json", fnv1a(key))))
}

/// A value remembered under `key` within the last `ttl`.
pub fn recent_value(ctx: &Ctx, key: &str, ttl: Duration) -> Option<serde_json::Value> {
    let file = cache_file(ctx, key)?;
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
    let at = v.get("at")?.as_u64()?;
    (crate::sys::clock::now_secs().saturating_sub(at) < ttl.as_secs())
        .then(|| v.get("value").cloned())?
}

/// Remembers `value` under `key` (best effort).
pub fn remember_value(ctx: &Ctx, key: &str, value: &serde_json::Value) {
    if let Some(f) = cache_file(ctx, key) {
        if let Some(dir) = f.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let text =
            serde_json::json!({"at": crate::sys::clock::now_secs(), "value": value}).to_string();
        let _ = crate::sys::files::write_atomic(
            &f,
            text.as_bytes(),
            crate::sys::files::Existing::Replace,
        );
    }
}

/// A success remembered under `key` within the last [`CACHE_TTL`], if it proved the same
/// `fingerprint` (see [`fingerprint`]).
pub fn recent_success(ctx: &Ctx, key: &str, fingerprint: &str) -> Option<CacheEntry> {
    read_cache(&cache_file(ctx, key)?).filter(|e| e.fingerprint == fingerprint)
}

/// Remembers a success under `key` (best effort), with what it proved.
pub fn remember_success(ctx: &Ctx, key: &str, fingerprint: &str, probe: Duration) {
    if let Some(f) = cache_file(ctx, key) {
        write_cache(&f, fingerprint, &probe);
    }
}

/// Forgets a remembered success: the emulation it vouched for just failed.
pub fn forget(ctx: &Ctx, key: &str) {
    if let Some(f) = cache_file(ctx, key) {
        let _ = std::fs::remove_file(f);
    }
}

/// How long ago a remembered success was recorded.
pub fn age_secs(e: &CacheEntry) -> u64 {
    crate::sys::clock::now_secs().saturating_sub(e.at)
}

fn read_cache(file: &Utf8Path) -> Option<CacheEntry> {
    let e: CacheEntry = serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
    (crate::sys::clock::now_secs().saturating_sub(e.at) < CACHE_TTL.as_secs()).then_some(e)
}

/// Best effort: a cache we cannot write only costs the next build a preflight.
fn write_cache(file: &Utf8PathBuf, fingerprint: &str, elapsed: &Duration) {
    let entry = CacheEntry {
        at: crate::sys::clock::now_secs(),
        ms: elapsed.as_millis() as u64,
        fingerprint: fingerprint.to_string(),
    };
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let text = serde_json::to_string(&entry).expect("JSON always serialises");
    let _ = crate::sys::files::write_atomic(
        file,
        text.as_bytes(),
        crate::sys::files::Existing::Replace,
    );
}

/// Everything that can change the probe's answer besides the engine selector: the engine's
/// identity and start (its socket: path, inode, change time — a restarted engine makes a new
/// one) and the host's emulation state (on Linux the binfmt_misc entries for the target; on
/// macOS Docker Desktop's settings). `None` for an engine we cannot observe (not a local socket):
/// its passes are never remembered.
pub fn fingerprint(ctx: &Ctx, target: &Platform) -> Result<Option<String>, Error> {
    let p = ctx.runner.probe(&crate::engine::docker::endpoint(
        ctx.docker("find the engine's endpoint")?,
    ))?;
    let Some(host) = crate::engine::docker::parse_endpoint(&p.stdout) else {
        return Ok(None);
    };
    let Some(socket) = host.strip_prefix("unix://") else {
        return Ok(None);
    };
    let Some(engine) = socket_identity(Utf8Path::new(socket)) else {
        return Ok(None);
    };
    let host_state = host_state(std::env::consts::OS, &ctx.host_root(), ctx.home(), target);
    Ok(Some(format!("{host}|{engine}|{host_state}")))
}

/// A socket's device, inode and change time: new whenever the engine re-creates it.
fn socket_identity(path: &Utf8Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(format!(
        "{}:{}:{}.{}",
        m.dev(),
        m.ino(),
        m.ctime(),
        m.ctime_nsec()
    ))
}

/// The host's emulation settings that decide whether `target` runs, as text read below `root`:
/// binfmt_misc's switch and the target's QEMU and Rosetta entries (Linux), Docker Desktop's
/// settings files (macOS).
pub fn host_state(os: &str, root: &Utf8Path, home: Option<&str>, target: &Platform) -> String {
    let read =
        |p: &str| std::fs::read_to_string(root.join(p.trim_start_matches('/'))).unwrap_or_default();
    match os {
        "macos" => {
            let dir = format!(
                "{}/Library/Group Containers/group.com.docker",
                home.unwrap_or("").trim_end_matches('/')
            );
            ["settings-store.json", "settings.json"]
                .iter()
                .map(|f| read(&format!("{dir}/{f}")))
                .collect::<Vec<_>>()
                .join("|")
        }
        _ => {
            let q = qemu_name(&target.arch).unwrap_or(&target.arch);
            ["status", &format!("qemu-{q}"), "rosetta"]
                .iter()
                .map(|e| read(&format!("/proc/sys/fs/binfmt_misc/{e}")))
                .collect::<Vec<_>>()
                .join("|")
        }
    }
}

/// FNV-1a, 64 bits: a stable file name for a cache key (not a security boundary).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::ExitStatus;

    #[test]
    fn binfmt_entries_from_the_real_files() {
        let on = parse_binfmt(include_str!(
            "../../tests/fixtures/captured/binfmt-qemu-aarch64-enabled.txt"
        ))
        .unwrap();
        assert!(on.enabled && on.fix_binary());
        assert_eq!(on.interpreter, "/usr/libexec/qemu-binfmt/aarch64-binfmt-P");
        let off = parse_binfmt(include_str!(
            "../../tests/fixtures/captured/binfmt-qemu-aarch64-disabled.txt"
        ))
        .unwrap();
        assert!(!off.enabled);
        assert!(parse_binfmt("garbage").is_none());
    }

    fn fixture_root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, text) in files {
            let full = d.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        d
    }

    #[test]
    fn macos_facts_from_fixture_files() {
        let amd64: Platform = "linux/amd64".parse().unwrap();
        let d = fixture_root(&[
            (
                "/Users/ann/Library/Group Containers/group.com.docker/settings-store.json",
                r#"{"UseVirtualizationFramework": true, "UseVirtualizationFrameworkRosetta": false, "Other": 1}"#,
            ),
            ("/Library/Apple/usr/share/rosetta/rosetta", ""),
        ]);
        let root = Utf8Path::from_path(d.path()).unwrap();
        let f = host_facts("macos", "aarch64", root, Some("/Users/ann"), &amd64);
        assert!(f.apple_silicon);
        assert_eq!(f.arch, "arm64");
        assert_eq!(f.rosetta_installed, Some(true));
        let s = f.desktop.unwrap();
        assert_eq!(
            (s.rosetta, s.virtualization_framework),
            (Some(false), Some(true))
        );
        assert!(s.file.ends_with("settings-store.json"));

        // Older Docker Desktop: settings.json with camelCase keys; no Rosetta installed.
        let d = fixture_root(&[(
            "/Users/bo/Library/Group Containers/group.com.docker/settings.json",
            r#"{"useVirtualizationFrameworkRosetta": true}"#,
        )]);
        let root = Utf8Path::from_path(d.path()).unwrap();
        let f = host_facts("macos", "aarch64", root, Some("/Users/bo"), &amd64);
        assert_eq!(f.rosetta_installed, Some(false));
        let s = f.desktop.as_ref().unwrap();
        assert_eq!((s.rosetta, s.virtualization_framework), (Some(true), None));
        assert!(emulation_hint(&f, &amd64).contains("Use Rosetta"));
        // No Docker Desktop at all.
        let f = host_facts("macos", "aarch64", root, Some("/Users/nobody"), &amd64);
        assert!(f.desktop.is_none());
    }

    #[test]
    fn linux_facts_read_the_targets_binfmt_entry() {
        let arm64: Platform = "linux/arm64".parse().unwrap();
        let d = fixture_root(&[(
            "/proc/sys/fs/binfmt_misc/qemu-aarch64",
            include_str!("../../tests/fixtures/captured/binfmt-qemu-aarch64-disabled.txt"),
        )]);
        let root = Utf8Path::from_path(d.path()).unwrap();
        let f = host_facts("linux", "x86_64", root, None, &arm64);
        assert_eq!(f.binfmt_name.as_deref(), Some("qemu-aarch64"));
        assert!(!f.binfmt.as_ref().unwrap().enabled);
        assert!(emulation_hint(&f, &arm64)
            .contains("echo 1 | sudo tee /proc/sys/fs/binfmt_misc/qemu-aarch64"));
        let f = host_facts(
            "linux",
            "x86_64",
            root,
            None,
            &"linux/amd64".parse().unwrap(),
        );
        assert!(
            f.binfmt.is_none() && f.binfmt_name.is_none(),
            "native: no entry needed"
        );
        let f = host_facts(
            "linux",
            "x86_64",
            root,
            None,
            &"linux/s390x".parse().unwrap(),
        );
        assert!(f.binfmt.is_none());
        assert!(emulation_hint(&f, &"linux/s390x".parse().unwrap()).contains("qemu-user-static"));
    }

    #[test]
    fn the_host_state_changes_with_the_binfmt_entry_and_desktop_settings() {
        let arm64: Platform = "linux/arm64".parse().unwrap();
        let on = fixture_root(&[
            ("/proc/sys/fs/binfmt_misc/status", "enabled\n"),
            (
                "/proc/sys/fs/binfmt_misc/qemu-aarch64",
                include_str!("../../tests/fixtures/captured/binfmt-qemu-aarch64-enabled.txt"),
            ),
        ]);
        let off = fixture_root(&[
            ("/proc/sys/fs/binfmt_misc/status", "enabled\n"),
            (
                "/proc/sys/fs/binfmt_misc/qemu-aarch64",
                include_str!("../../tests/fixtures/captured/binfmt-qemu-aarch64-disabled.txt"),
            ),
        ]);
        let state = |d: &tempfile::TempDir, os: &str| {
            host_state(
                os,
                Utf8Path::from_path(d.path()).unwrap(),
                Some("/Users/ann"),
                &arm64,
            )
        };
        assert_ne!(state(&on, "linux"), state(&off, "linux"));
        assert!(
            state(&on, "linux").contains("interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P")
        );
        let desktop = |rosetta: bool| {
            fixture_root(&[(
                "/Users/ann/Library/Group Containers/group.com.docker/settings-store.json",
                &format!(r#"{{"UseVirtualizationFrameworkRosetta": {rosetta}}}"#),
            )])
        };
        assert_ne!(
            state(&desktop(true), "macos"),
            state(&desktop(false), "macos")
        );
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("docker.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let before = socket_identity(Utf8Path::from_path(&sock).unwrap()).unwrap();
        drop(_l);
        std::fs::remove_file(&sock).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let after = socket_identity(Utf8Path::from_path(&sock).unwrap()).unwrap();
        assert_ne!(before, after, "a re-created socket is a new engine start");
    }

    #[test]
    fn verdicts_from_real_output() {
        use std::os::unix::process::ExitStatusExt;
        let p = |code: i32, stderr: &str| Probe {
            status: Some(ExitStatus::from_raw(code << 8)),
            stdout: String::new(),
            stderr: stderr.into(),
            elapsed: Duration::from_millis(900),
        };
        let failed =
            include_str!("../../tests/fixtures/captured/buildx-build-exec-format-error.stderr");
        assert_eq!(judge(&p(1, failed)), Verdict::Missing);
        let ok = format!(
            "#5 [2/2] RUN [\"/probe\"]\n#5 0.101 {}\n#5 DONE 0.1s\n",
            probe_elf::PROBE_OUTPUT
        );
        assert_eq!(
            judge(&p(0, &ok)),
            Verdict::Works {
                elapsed: Duration::from_millis(900)
            }
        );
        assert!(matches!(judge(&p(0, "#5 DONE")), Verdict::Broken(_)));
        assert!(matches!(judge(&p(1, "ERROR: boom")), Verdict::Broken(t) if t.contains("boom")));
    }

    #[test]
    fn build_failures_are_read_for_emulation_signs() {
        let out =
            include_str!("../../tests/fixtures/captured/buildx-build-exec-format-error.stderr");
        let sign = failure_sign(out).unwrap();
        assert_eq!(
            sign,
            Sign::ExecFormat("exec /bin/busybox: exec format error".into())
        );
        let arm64: Platform = "linux/arm64".parse().unwrap();
        let facts = HostFacts {
            os: "linux".into(),
            binfmt: Some(Binfmt {
                enabled: false,
                interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P".into(),
                flags: "PF".into(),
            }),
            ..Default::default()
        };
        let (why, hint) = diagnose_build(&sign, &arm64, true, &facts);
        assert_eq!(why, "linux/arm64 programs cannot run on this engine (`exec /bin/busybox: exec format error`): emulation is missing or was switched off");
        assert!(
            hint.starts_with("the binfmt_misc entry qemu-aarch64 is disabled: `echo 1 | sudo tee"),
            "{hint}"
        );
        let (why, _) = diagnose_build(&sign, &arm64, false, &facts);
        assert!(
            why.contains("although this engine runs linux/arm64 natively"),
            "{why}"
        );
        assert!(matches!(
            failure_sign("#7 12.3 qemu: uncaught target signal 11 (Segmentation fault) - core dumped\n"),
            Some(Sign::QemuCrash(l)) if l == "qemu: uncaught target signal 11 (Segmentation fault) - core dumped"
        ));
        assert!(matches!(
            failure_sign("rosetta error: failed to open elf at /lib64/ld-linux-x86-64.so.2\n"),
            Some(Sign::Rosetta(_))
        ));
        assert!(matches!(
            failure_sign("#9 3.1 Illegal instruction (core dumped)"),
            Some(Sign::IllegalInstruction(l)) if l == "Illegal instruction (core dumped)"
        ));
        assert_eq!(
            failure_sign("ERROR: failed to solve: pip install: exit code: 1"),
            None
        );
    }

    #[test]
    fn the_cache_expires() {
        let d = tempfile::tempdir().unwrap();
        let f = Utf8PathBuf::from_path_buf(d.path().join("x/e.json")).unwrap();
        assert!(read_cache(&f).is_none());
        write_cache(&f, "fp", &Duration::from_millis(1234));
        assert_eq!(
            read_cache(&f),
            Some(CacheEntry {
                at: crate::sys::clock::now_secs(),
                ms: 1234,
                fingerprint: "fp".into(),
            })
        );
        std::fs::write(
            &f,
            format!(
                "{{\"at\": {}, \"ms\": 5, \"fingerprint\": \"fp\"}}",
                crate::sys::clock::now_secs() - CACHE_TTL.as_secs() - 1
            ),
        )
        .unwrap();
        assert!(read_cache(&f).is_none());
        assert_ne!(fnv1a("a"), fnv1a("b"));
    }
}
