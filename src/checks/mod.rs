//! The checks behind `doctor` and the preflight of `build`: each returns findings
//! (ok / warn / fail / skip, a detail, and a hint for anything not ok), never an error, except
//! `Error::Cancelled`. They run in parallel; the slowest (the emulation probe) sets the pace.

use serde::Serialize;

use crate::config::{Platform, Settings};
use crate::ctx::Ctx;
use crate::engine::docker::{self, ServerVersion};
use crate::engine::emulation::{self, Verdict};
use crate::image::dockerfile;
use crate::process::runner::Cmd;
use crate::python::requirements;
use crate::report::error::Error;
use crate::report::hints;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    pub hint: Option<String>,
    /// How long the check took (set by whoever ran it).
    pub ms: u64,
}

impl Check {
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            hint: None,
            ms: 0,
        }
    }
    pub fn skip(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Skip,
            detail: detail.into(),
            hint: None,
            ms: 0,
        }
    }
    pub fn warn(name: &str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Warn,
            detail: detail.into(),
            hint: Some(hint.into()),
            ms: 0,
        }
    }
    pub fn fail(name: &str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            hint: Some(hint.into()),
            ms: 0,
        }
    }
}

/// The docker CLI and the engine: `docker version`. Also returns the server, for the probe.
pub fn engine(ctx: &Ctx) -> Result<(Vec<Check>, Option<ServerVersion>), Error> {
    let cmd = match ctx.docker("ask the docker CLI and the engine for their versions") {
        Ok(c) => c,
        Err(e) => {
            let hint = e.hint().unwrap_or_default();
            return Ok((
                vec![
                    Check::fail("docker", e.to_string(), hint),
                    Check::skip("engine", "no docker CLI"),
                ],
                None,
            ));
        }
    };
    let path = ctx
        .tools
        .docker()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let p = ctx.runner.probe(&docker::version(cmd))?;
    let parsed = docker::parse_version(&p.stdout);
    let client = parsed
        .as_ref()
        .and_then(|v| v.client.as_ref())
        .map(|c| c.version.clone());
    let mut out =
        vec![match &client {
        Some(v) => Check::ok("docker", format!("client {v} ({path})")),
        None => Check::fail(
            "docker",
            format!("{path} did not answer `docker version`: {}", first_line(&p.stderr)),
            "reinstall the docker CLI (Docker Desktop), or point AZDEPLOY_DOCKER at a working one",
        ),
    }];
    let server = parsed.and_then(|v| v.server);
    out.push(match &server {
        Some(s) => Check::ok("engine", format!("{} {}/{}", s.version, s.os, s.arch)),
        None => Check::fail(
            "engine",
            format!("not reachable: {}", first_line(&p.stderr)),
            hints::for_output(&p.stderr).unwrap_or_else(|| {
                "start the Docker engine, then check it with `docker version`".into()
            }),
        ),
    });
    Ok((out, server))
}

/// buildx: its version and the builder in use (name and driver).
pub fn buildx(ctx: &Ctx, builder: Option<&str>) -> Result<Check, Error> {
    let Ok(base) = ctx.docker("ask buildx for its version") else {
        return Ok(Check::skip("buildx", "no docker CLI"));
    };
    let v = ctx
        .runner
        .probe(&base.clone().args(["buildx", "version"]))?;
    if !v.success() {
        return Ok(Check::fail(
            "buildx",
            format!("`docker buildx` does not answer: {}", first_line(&v.stderr)),
            hints::for_output(&v.stderr).unwrap_or_else(|| {
                "install Docker Buildx (Docker Desktop ships it; on Linux the `docker-buildx` or `docker-buildx-plugin` package)".into()
            }),
        ));
    }
    let version = v
        .stdout
        .split_whitespace()
        .nth(1)
        .unwrap_or("?")
        .to_string();
    let (on_builder, builder_flag) = ctx.docker_on_builder("inspect the builder", builder)?;
    let mut inspect = on_builder.args(["buildx", "inspect"]);
    if let Some(b) = builder_flag {
        inspect = inspect.arg(b);
    }
    let i = ctx.runner.probe(&inspect)?;
    if !i.success() {
        return Ok(Check::fail(
            "buildx",
            format!(
                "buildx {version}; builder {}: {}",
                builder.unwrap_or("(current)"),
                first_line(&i.stderr)
            ),
            hints::for_output(&i.stderr)
                .unwrap_or_else(|| "list the builders with `docker buildx ls`".into()),
        ));
    }
    let (name, driver) = parse_inspect(&i.stdout);
    Ok(Check::ok(
        "buildx",
        format!("buildx {version}; builder {name} (driver {driver})"),
    ))
}

/// The first `Name:` and `Driver:` of `docker buildx inspect`.
pub fn parse_inspect(text: &str) -> (String, String) {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    (field("Name:"), field("Driver:"))
}

/// The emulation probe, unless the engine runs the target natively.
pub fn emulation(
    ctx: &Ctx,
    target: &Platform,
    builder: Option<&str>,
    server: Option<&ServerVersion>,
    registry: Option<&str>,
) -> Result<Check, Error> {
    let Some(server) = server else {
        return Ok(Check::skip("emulation", "no engine to probe"));
    };
    if server.os == target.os && server.arch == target.arch && builder.is_none() {
        return Ok(Check::skip(
            "emulation",
            format!("native: the engine is {}/{}", server.os, server.arch),
        ));
    }
    let verdict = emulation::probe(ctx, target, builder)?;
    let facts = host_facts(ctx, target);
    Ok(match verdict {
        Verdict::Works { elapsed } => Check::ok(
            "emulation",
            format!(
                "{target} runs on a {}/{} engine (probe {} ms)",
                server.os,
                server.arch,
                elapsed.as_millis()
            ),
        ),
        Verdict::Missing => Check::fail(
            "emulation",
            format!(
                "{target} programs fail with `exec format error` on this {}/{} engine",
                server.os, server.arch
            ),
            format!(
                "{}; or {}",
                emulation::emulation_hint(&facts, target),
                routes_advice(registry, &[], target)
            ),
        ),
        Verdict::Broken(tail) => Check::fail(
            "emulation",
            format!(
                "the {target} probe build failed: {}",
                tail.replace('\n', " / ")
            ),
            "run `docker azdeploy doctor --verbose` to see the probe's command, and try it by hand",
        ),
        Verdict::NoProbe => Check::warn(
            "emulation",
            format!("no probe program for {target}; cannot prove it runs"),
            "build for linux/amd64 or linux/arm64, which can be probed",
        ),
    })
}

fn host_facts(ctx: &Ctx, target: &Platform) -> emulation::HostFacts {
    emulation::host_facts(
        std::env::consts::OS,
        std::env::consts::ARCH,
        &ctx.host_root(),
        ctx.home(),
        target,
    )
}

/// What the host says (informational: the probe is the proof).
pub fn host(ctx: &Ctx, target: &Platform) -> Check {
    let f = host_facts(ctx, target);
    let mut detail = format!("{}/{}", f.os, f.arch);
    let mut warn: Option<String> = None;
    if f.os == "macos" {
        detail.push_str(if f.apple_silicon {
            ", Apple Silicon"
        } else {
            ", Intel"
        });
        if f.apple_silicon {
            match f.rosetta_installed {
                Some(true) => detail.push_str(", Rosetta installed"),
                _ => detail.push_str(", Rosetta not installed"),
            }
        }
        match &f.desktop {
            Some(s) => {
                let word = |b: Option<bool>| match b {
                    Some(true) => "on",
                    Some(false) => "off",
                    None => "unset",
                };
                detail.push_str(&format!(
                    "; Docker Desktop: Rosetta emulation {}, Virtualization framework {}",
                    word(s.rosetta),
                    word(s.virtualization_framework)
                ));
                if f.apple_silicon && target.arch == "amd64" && s.rosetta != Some(true) {
                    warn = Some("enable \"Use Rosetta for x86_64/amd64 emulation on Apple Silicon\" in Docker Desktop for faster amd64 emulation than QEMU".into());
                }
            }
            None => detail.push_str("; no Docker Desktop settings found"),
        }
    } else if let Some(name) = &f.binfmt_name {
        match &f.binfmt {
            Some(b) => {
                detail.push_str(&format!(
                    "; binfmt {name} {}, interpreter {}, flags {}",
                    if b.enabled { "enabled" } else { "disabled" },
                    b.interpreter,
                    if b.flags.is_empty() { "-" } else { &b.flags }
                ));
                if !b.enabled || !b.fix_binary() {
                    warn = Some(emulation::emulation_hint(&f, target));
                }
            }
            None => detail.push_str(&format!("; no binfmt_misc entry {name} on this host")),
        }
    }
    match warn {
        Some(h) => Check::warn("host", detail, h),
        None => Check::ok("host", detail),
    }
}

/// Dockerfile lint: an error (final stage pinned to another platform) fails, the rest warn.
pub fn dockerfile(ctx: &Ctx, settings: &Settings) -> Vec<Check> {
    let path = settings.dockerfile_path();
    let Ok(text) = std::fs::read_to_string(ctx.cwd.join(&path)) else {
        return vec![Check::warn(
            "dockerfile",
            format!("no Dockerfile at {path}"),
            "write one with `docker azdeploy init --dockerfile`, or pass -f PATH (build.dockerfile in azdeploy.json)",
        )];
    };
    lint_checks(
        &text,
        path.as_ref(),
        &settings.platform.value,
        settings.port.value.0,
    )
}

/// The lint findings as checks, one per problem (or one ok).
pub fn lint_checks(text: &str, path: &str, target: &Platform, port: u16) -> Vec<Check> {
    let problems = dockerfile::lint(&dockerfile::Dockerfile::parse(text), target, port);
    if problems.is_empty() {
        return vec![Check::ok(
            "dockerfile",
            format!("{path}: nothing to fix for {target}"),
        )];
    }
    problems
        .into_iter()
        .map(|p| {
            let at = if p.line > 0 {
                format!("{path}:{}: ", p.line)
            } else {
                format!("{path}: ")
            };
            let detail = format!("{at}{}", p.message);
            if p.error {
                Check::fail("dockerfile", detail, p.hint)
            } else {
                Check::warn("dockerfile", detail, p.hint)
            }
        })
        .collect()
}

/// The local port `test-local` will use.
pub fn port(settings: &Settings) -> Check {
    let port = settings.port.value.0;
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Check::ok("port", format!("127.0.0.1:{port} is free for test-local")),
        Err(e) => Check::warn(
            "port",
            format!("127.0.0.1:{port} is taken ({e})"),
            format!("stop what listens on {port}, or run `docker azdeploy test-local --port 0` to pick a free one"),
        ),
    }
}

/// az: found, version (≥ 2.53 for core `containerapp`), logged in. Only when Azure is configured
/// or asked for.
pub fn azure(ctx: &Ctx, settings: &Settings, asked: bool) -> Result<Vec<Check>, Error> {
    let configured = settings.registry.value.is_some() || settings.app.value.is_some();
    if !configured && !asked {
        // Not needed yet: only say whether it is there (no az process: it costs a second).
        return Ok(vec![match ctx.tools.az() {
            Ok(p) => Check::skip(
                "az",
                format!(
                    "{} found; no registry or app configured (--azure checks the login)",
                    p.display()
                ),
            ),
            Err(e) => Check::warn(
                "az",
                format!("{e}: push and deploy will need it"),
                e.hint().unwrap_or_default(),
            ),
        }]);
    }
    let base = match ctx.az("ask the Azure CLI for its version") {
        Ok(c) => c,
        Err(e) => {
            return Ok(vec![Check::fail(
                "az",
                e.to_string(),
                e.hint().unwrap_or_default(),
            )])
        }
    };
    // Both calls cost about a second of Python start-up each: run them side by side.
    let (version, account) = std::thread::scope(|s| {
        let v = s.spawn(|| {
            ctx.runner
                .probe(&base.clone().args(["version", "--output", "json"]))
        });
        let a = s.spawn(|| {
            ctx.runner
                .probe(&base.clone().args(["account", "show", "--output", "json"]))
        });
        (
            v.join().expect("az version thread"),
            a.join().expect("az account thread"),
        )
    });
    let (version, account) = (version?, account?);
    let mut out = Vec::new();
    let v: Option<String> = serde_json::from_str::<serde_json::Value>(&version.stdout)
        .ok()
        .and_then(|j| j.get("azure-cli")?.as_str().map(str::to_string));
    out.push(match v {
        Some(v) if version_at_least(&v, (2, 53)) => Check::ok("az", format!("azure-cli {v}")),
        Some(v) => Check::fail(
            "az",
            format!("azure-cli {v} is older than 2.53 (no core `containerapp`)"),
            "upgrade: `az upgrade`",
        ),
        None => Check::fail(
            "az",
            format!("`az version` failed: {}", first_line(&version.stderr)),
            "reinstall the Azure CLI",
        ),
    });
    let acct: Option<serde_json::Value> = serde_json::from_str(&account.stdout).ok();
    out.push(match acct {
        Some(a) if account.success() => Check::ok(
            "az login",
            format!(
                "{} on subscription {}",
                a.pointer("/user/name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?"),
                a.get("name").and_then(|v| v.as_str()).unwrap_or("?")
            ),
        ),
        _ => Check::fail(
            "az login",
            format!("not logged in: {}", first_line(&account.stderr)),
            hints::for_output(&account.stderr).unwrap_or_else(|| "run `az login`".into()),
        ),
    });
    Ok(out)
}

fn version_at_least(v: &str, min: (u64, u64)) -> bool {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= min
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no output")
}

/// Where the preflight's pass is remembered: per engine selector, builder and platform (what it
/// proved is checked against [`emulation::fingerprint`] on every use).
pub fn preflight_key(ctx: &Ctx, target: &Platform, builder: Option<&str>) -> String {
    format!(
        "{}|{}|{target}",
        ctx.engine_selector(),
        builder.unwrap_or("")
    )
}

/// The build preflight: engine, buildx, emulation and Dockerfile lint, in
/// parallel (lint only when a Dockerfile is given). Warnings are printed; any failure stops the
/// command before it changes anything.
pub fn preflight(
    ctx: &Ctx,
    target: &Platform,
    builder: Option<&str>,
    registry: Option<&str>,
    dockerfile: Option<(&str, &str)>,
    port: u16,
) -> Result<(), Error> {
    // A recent full pass on the same engine, builder and platform is trusted for a few minutes:
    // back-to-back builds then cost no extra docker call. doctor never takes this shortcut.
    let key = preflight_key(ctx, target, builder);
    let fingerprint = emulation::fingerprint(ctx, target)?;
    let mut checks = Vec::new();
    let cached = fingerprint
        .as_deref()
        .and_then(|f| emulation::recent_success(ctx, &key, f));
    match &cached {
        Some(hit) if ctx.runner.verbose => say!(
            "preflight: engine, buildx and {target} emulation passed {} s ago; not checked again",
            crate::engine::emulation::age_secs(hit)
        ),
        Some(_) => {}
        None => {
            let (engine_and_emulation, buildx) = std::thread::scope(|s| {
                let e = s.spawn(|| -> Result<Vec<Check>, Error> {
                    let t = std::time::Instant::now();
                    let (mut checks, server) = engine(ctx)?;
                    let mut probe = emulation(ctx, target, builder, server.as_ref(), registry)?;
                    probe.ms = t.elapsed().as_millis() as u64;
                    if probe.status == Status::Ok
                        && server.as_ref().is_some_and(|s| s.arch != target.arch)
                    {
                        // It works, emulated: say what it costs and what avoids it.
                        say!(
                            "note: {target} is emulated here; {}",
                            routes_advice(registry, &[], target)
                        );
                    }
                    checks.push(probe);
                    Ok(checks)
                });
                let b = s.spawn(|| buildx(ctx, builder));
                (
                    e.join().expect("preflight thread"),
                    b.join().expect("preflight thread"),
                )
            });
            checks = engine_and_emulation?;
            checks.push(buildx?);
        }
    }
    let docker_ok = checks.iter().all(|c| c.status != Status::Fail);
    if let Some((text, path)) = dockerfile {
        checks.extend(lint_checks(text, path, target, port));
    }
    for c in checks.iter().filter(|c| c.status == Status::Warn) {
        say!("warning: {}: {}", c.name, c.detail);
        if let Some(h) = &c.hint {
            say!("  hint: {h}");
        }
    }
    if let (None, true, Some(f)) = (&cached, docker_ok, &fingerprint) {
        let probe_ms = checks
            .iter()
            .find(|c| c.name == "emulation")
            .map_or(0, |c| c.ms);
        emulation::remember_success(ctx, &key, f, std::time::Duration::from_millis(probe_ms));
    }
    let failed: Vec<&Check> = checks.iter().filter(|c| c.status == Status::Fail).collect();
    if failed.is_empty() {
        return Ok(());
    }
    let mut message = String::from("preflight failed: nothing was built or started");
    for c in &failed {
        message.push_str(&format!("\n  {}: {}", c.name, c.detail));
    }
    Err(Error::failed(
        message,
        failed[0]
            .hint
            .clone()
            .unwrap_or_else(|| "run `docker azdeploy doctor`".into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildx_inspect_from_real_output() {
        let (name, driver) = parse_inspect(include_str!(
            "../../tests/fixtures/captured/buildx-inspect.txt"
        ));
        assert_eq!((name.as_str(), driver.as_str()), ("default", "docker"));
        assert_eq!(parse_inspect(""), ("?".into(), "?".into()));
    }

    #[test]
    fn avx_only_under_rosetta() {
        let reqs = requirements::parse_requirements("polars==1.9\nstreamlit\n");
        assert!(avx_findings(false, &reqs).is_empty());
        let c = avx_findings(true, &reqs);
        assert_eq!(c.len(), 1);
        assert!(
            c[0].detail.contains("polars==1.9 needs AVX"),
            "{}",
            c[0].detail
        );
        assert!(c[0].hint.as_deref().unwrap().contains("polars-lts-cpu"));
    }

    #[test]
    fn python_from_the_dockerfile() {
        assert_eq!(
            dockerfile_python("FROM python:3.11-slim AS b\nFROM scratch\n").as_deref(),
            Some("3.11")
        );
        assert_eq!(
            dockerfile_python("ARG X\nfrom docker.io/library/python:3.13.1-bookworm\n").as_deref(),
            Some("3.13")
        );
        assert_eq!(dockerfile_python("FROM debian:12\n"), None);
        assert_eq!(dockerfile_python("FROM python:latest\n"), None);
    }

    #[test]
    fn routes_name_what_exists_and_the_measured_cost() {
        let amd64: Platform = "linux/amd64".parse().unwrap();
        let a = routes_advice(Some("myacr"), &["remote-amd64".into()], &amd64);
        assert!(
            a.contains("`--remote acr` (ACR Tasks in myacr")
                && a.contains("`--builder remote-amd64`"),
            "{a}"
        );
        assert!(
            a.contains("× slower under emulation"),
            "the committed benchmark figure: {a}"
        );
        let a = routes_advice(Some("myacr.azurecr.io"), &[], &amd64);
        assert!(a.contains("set azure.registry to an ACR name"), "{a}");
        assert!(measured_emulation_penalty().is_some_and(|p| p > 1.0));
    }

    #[test]
    fn az_versions() {
        assert!(version_at_least("2.91.0", (2, 53)));
        assert!(version_at_least("2.53.0", (2, 53)));
        assert!(!version_at_least("2.52.1", (2, 53)));
        assert!(version_at_least("3.0.0", (2, 53)));
    }

    #[test]
    fn lint_findings_become_checks() {
        let amd64: Platform = "linux/amd64".parse().unwrap();
        let c = lint_checks(
            "FROM --platform=linux/arm64 base\n",
            "Dockerfile",
            &amd64,
            8501,
        );
        let failed: Vec<&Check> = c.iter().filter(|c| c.status == Status::Fail).collect();
        assert_eq!(failed.len(), 1, "{c:?}");
        assert!(
            failed[0].detail.starts_with("Dockerfile:1: "),
            "{}",
            failed[0].detail
        );
        let missing_expose = c.iter().find(|c| c.status == Status::Warn).unwrap();
        assert!(missing_expose
            .detail
            .starts_with("Dockerfile: no `EXPOSE 8501`"));
        let c = lint_checks("FROM base\nEXPOSE 8501\n", "Dockerfile", &amd64, 8501);
        assert_eq!((c.len(), c[0].status), (1, Status::Ok));
    }
}

/// Where `wheels` asks pip, and for which Python.
#[derive(Debug, Clone)]
pub struct WheelOptions {
    pub index: requirements::Index,
    pub python_version: String,
}

/// The wheel check: each requirement that has no binary wheel for `target` (it will compile
/// from source in the build), and the AVX trap when the target will run under Rosetta.
pub fn wheels(
    ctx: &Ctx,
    requirements: &camino::Utf8Path,
    target: &Platform,
    opts: &WheelOptions,
) -> Result<Vec<Check>, Error> {
    let Ok(text) = std::fs::read_to_string(requirements) else {
        return Ok(vec![Check::skip("wheels", format!("no {requirements}"))]);
    };
    let reqs = requirements::parse_requirements(&text);
    let mut out = avx_checks(ctx, target, &reqs);
    let Some(tags) = requirements::platform_tags(target) else {
        out.push(Check::skip(
            "wheels",
            format!("no manylinux wheels exist for {target}"),
        ));
        return Ok(out);
    };
    let Some(python) = ctx.tools.python() else {
        out.push(Check::warn(
            "wheels",
            "python3 not found: cannot ask pip about wheels",
            "install Python 3 with pip, or set AZDEPLOY_PYTHON",
        ));
        return Ok(out);
    };
    let dest = crate::sys::files::temp_dir("azdeploy-wheels-")?;
    let dest_str = dest.path().display().to_string();
    // pip takes about a second per question: four at a time.
    let mut answers: Vec<(requirements::Requirement, crate::process::runner::Probe)> = Vec::new();
    for chunk in reqs.chunks(4) {
        let got: Vec<Result<crate::process::runner::Probe, Error>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|r| {
                    let cmd = requirements::binary_check(
                        Cmd::new(&python, "ask pip for a wheel"),
                        r,
                        &tags,
                        &opts.python_version,
                        &opts.index,
                        &dest_str,
                    );
                    s.spawn(move || ctx.runner.probe(&cmd))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("pip thread"))
                .collect()
        });
        for (r, p) in chunk.iter().zip(got) {
            answers.push((r.clone(), p?));
        }
    }
    let mut with_wheels = 0;
    for (req, p) in answers {
        if p.success() {
            with_wheels += 1;
            continue;
        }
        if requirements::unreachable(&p.stderr) {
            out.push(Check::warn(
                "wheels",
                "the package index is not reachable: cannot check wheels",
                "check the network or pip's index settings; --find-links DIR checks against local wheels",
            ));
            return Ok(out);
        }
        let v = ctx.runner.probe(&requirements::versions(
            Cmd::new(&python, "ask pip for versions"),
            &req,
            &opts.index,
        ))?;
        let detail = match requirements::newest_version(&v.stdout) {
            Some(version) => format!(
                "{} ({version}): no binary wheel for {target}, Python {}: it compiles from source in the build",
                req.spec, opts.python_version
            ),
            None => format!(
                "{}: no distribution for {target}, Python {} (only for other platforms, or not on the index)",
                req.spec, opts.python_version
            ),
        };
        out.push(Check::warn(
            "wheels",
            detail,
            "the image needs compilers (build-essential) for it, and the compile is slow under emulation; pin a version that has a manylinux wheel, or build on a native amd64 builder",
        ));
    }
    if with_wheels > 0 {
        out.push(Check::ok(
            "wheels",
            format!(
                "{with_wheels} of {} requirements have binary wheels for {target}, Python {}",
                reqs.len(),
                opts.python_version
            ),
        ));
    }
    Ok(out)
}

/// Rosetta has no AVX: warn about requirements whose amd64 builds need it.
fn avx_checks(ctx: &Ctx, target: &Platform, reqs: &[requirements::Requirement]) -> Vec<Check> {
    let f = host_facts(ctx, target);
    let rosetta = f.apple_silicon
        && target.arch == "amd64"
        && f.desktop.as_ref().and_then(|d| d.rosetta) == Some(true);
    avx_findings(rosetta, reqs)
}

/// The AVX findings, given whether the target runs under Rosetta.
pub fn avx_findings(rosetta: bool, reqs: &[requirements::Requirement]) -> Vec<Check> {
    if !rosetta {
        return Vec::new();
    }
    requirements::avx_traps(reqs)
        .into_iter()
        .map(|(spec, fix)| {
            Check::warn(
                "avx",
                format!("{spec} needs AVX, which Rosetta does not emulate: `Illegal instruction` at run time"),
                fix,
            )
        })
        .collect()
}

/// The Python version a Dockerfile's `FROM python:X.Y…` base gives, if it names one.
pub fn dockerfile_python(dockerfile: &str) -> Option<String> {
    dockerfile.lines().rev().find_map(|l| {
        let l = l.trim();
        if !l.get(..4)?.eq_ignore_ascii_case("FROM") {
            return None;
        }
        let tag = l
            .split_whitespace()
            .find_map(|w| w.rsplit('/').next()?.strip_prefix("python:"))?;
        let v: String = tag
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut parts = v.split('.').filter(|p| !p.is_empty());
        Some(format!("{}.{}", parts.next()?, parts.next()?))
    })
}

/// The wheel check before a build (warnings only), remembered for an hour per requirements
/// file content, platform and Python version so repeated builds do not ask pip again.
pub fn wheel_preflight(
    ctx: &Ctx,
    requirements: &camino::Utf8Path,
    target: &Platform,
    dockerfile: &str,
) -> Result<(), Error> {
    let Ok(text) = std::fs::read_to_string(requirements) else {
        return Ok(());
    };
    let python_version = dockerfile_python(dockerfile).unwrap_or_else(|| "3.12".into());
    let key = format!("wheels|{text}|{target}|{python_version}");
    let checks: Vec<Check> =
        match emulation::recent_value(ctx, &key, std::time::Duration::from_secs(3600)) {
            Some(v) => serde_json::from_value(v).unwrap_or_default(),
            None => {
                let opts = WheelOptions {
                    index: requirements::Index::Default,
                    python_version,
                };
                let checks = wheels(ctx, requirements, target, &opts)?;
                let unreachable = checks.iter().any(|c| c.detail.contains("not reachable"));
                if !unreachable {
                    emulation::remember_value(
                        ctx,
                        &key,
                        &serde_json::to_value(&checks).unwrap_or_default(),
                    );
                }
                checks
            }
        };
    for c in checks.iter().filter(|c| c.status == Status::Warn) {
        say!("warning: {}: {}", c.name, c.detail);
        if let Some(h) = &c.hint {
            say!("  hint: {h}");
        }
    }
    Ok(())
}

/// What the benchmark measured for emulation on a CPU-bound `RUN` step (emulated/native), from
/// `bench/results.json` as committed.
pub fn measured_emulation_penalty() -> Option<f64> {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../bench/results.json")).ok()?;
    v.pointer("/results/emulation_step/2/median")?.as_f64()
}

/// The ways to build `target` with no emulation here, as advice.
pub fn routes_advice(
    registry: Option<&str>,
    native_builders: &[String],
    target: &Platform,
) -> String {
    let mut routes = Vec::new();
    if let Some(r) = registry.filter(|r| !r.contains('.') && !r.contains(':')) {
        routes.push(format!(
            "`--remote acr` (ACR Tasks in {r}, native {target})"
        ));
    }
    for b in native_builders {
        routes.push(format!("`--builder {b}` (runs {target} natively)"));
    }
    if routes.is_empty() {
        routes.push(format!(
            "set azure.registry to an ACR name for `--remote acr`, or add a native {target} builder (`docker buildx create --driver remote tcp://…`)"
        ));
    }
    let cost = measured_emulation_penalty()
        .map(|p| {
            format!(
                "; the benchmark measured a CPU-bound build step {p:.1}× slower under emulation"
            )
        })
        .unwrap_or_default();
    format!("builds without emulation: {}{cost}", routes.join(", or "))
}

/// Every running buildx builder, probed: does it build `target` natively, emulated, or not at
/// all? Also the no-emulation routes when the engine's own architecture is not the target's.
pub fn builders(
    ctx: &Ctx,
    target: &Platform,
    registry: Option<&str>,
    engine_arch: Option<&str>,
) -> Result<Vec<Check>, Error> {
    let Ok(base) = ctx.docker("list the buildx builders") else {
        return Ok(vec![]);
    };
    let p = ctx.runner.probe(&docker::builders(base))?;
    let list = docker::parse_builders(&p.stdout);
    if !p.success() || list.is_empty() {
        return Ok(vec![Check::skip(
            "builders",
            "`docker buildx ls --format json` gave no builders (buildx too old?)",
        )]);
    }
    let probed: Vec<(docker::Builder, Option<Result<Verdict, Error>>)> = std::thread::scope(|s| {
        let handles: Vec<_> = list
            .iter()
            .map(|b| {
                let b = b.clone();
                s.spawn(move || {
                    // A builder that is not running would be started by a probe: leave it be.
                    let verdict = b
                        .running()
                        .then(|| emulation::probe(ctx, target, Some(&b.name)));
                    (b, verdict)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("builder probe"))
            .collect()
    });
    let mut out = Vec::new();
    let mut native = Vec::new();
    for (b, verdict) in probed {
        let name = format!("builder {}", b.name);
        let driver = b.driver.clone().unwrap_or_else(|| "?".into());
        let is_native = b
            .native_platform()
            .is_some_and(|p| docker::platform_matches(p, target));
        out.push(match verdict {
            None => Check::skip(&name, "not running (not probed)"),
            Some(Err(e)) => return Err(e),
            Some(Ok(Verdict::Works { elapsed })) if is_native => {
                native.push(b.name.clone());
                Check::ok(
                    &name,
                    format!(
                        "{driver} driver: builds {target} natively (probe {} ms)",
                        elapsed.as_millis()
                    ),
                )
            }
            Some(Ok(Verdict::Works { elapsed })) => Check::ok(
                &name,
                format!(
                    "{driver} driver: builds {target} emulated (probe {} ms)",
                    elapsed.as_millis()
                ),
            ),
            Some(Ok(Verdict::Missing)) => Check::warn(
                &name,
                format!("cannot run {target} programs (exec format error)"),
                "use another builder, or install emulation on this one's host",
            ),
            Some(Ok(Verdict::Broken(t))) => Check::warn(
                &name,
                format!("the probe failed: {}", t.replace('\n', " / ")),
                format!("try `docker buildx inspect {}`", b.name),
            ),
            Some(Ok(Verdict::NoProbe)) => {
                Check::skip(&name, format!("no probe program for {target}"))
            }
        });
    }
    if engine_arch.is_some_and(|a| a != target.arch) {
        out.push(Check::ok(
            "routes",
            routes_advice(registry, &native, target),
        ));
    }
    Ok(out)
}
