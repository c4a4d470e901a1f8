//! The engine checks: the docker CLI and the engine (`docker version`), buildx and the builder
//! in use, every running builder probed, and the local port `test-local` will use.
//!
//! May import: `checks`, `engine`, `ctx`, `config`, `process`, `report`.

use super::{first_line, Check};
use crate::config::{Platform, Settings};
use crate::ctx::Ctx;
use crate::engine::docker::{self, ServerVersion};
use crate::engine::emulation::{self, Verdict};
use crate::report::error::Error;
use crate::report::hints;

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
    let v = ctx.runner.probe(&docker::buildx_version(base))?;
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
    let (on_builder, builder_flag) =
        crate::engine::builder::on_builder(ctx, "inspect the builder", builder)?;
    let i = ctx
        .runner
        .probe(&docker::buildx_inspect(on_builder, builder_flag.as_deref()))?;
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
        let is_native = b
            .native_platform()
            .is_some_and(|p| docker::platform_matches(p, target));
        let verdict = verdict.transpose()?;
        if is_native && matches!(verdict, Some(Verdict::Works { .. })) {
            native.push(b.name.clone());
        }
        out.push(builder_check(&b, verdict, is_native, target));
    }
    if engine_arch.is_some_and(|a| a != target.arch) {
        out.push(Check::ok(
            "routes",
            super::emulation::routes_advice(registry, &native, target),
        ));
    }
    Ok(out)
}

/// One builder's probe as a check: native, emulated, or not at all.
fn builder_check(
    b: &docker::Builder,
    verdict: Option<Verdict>,
    native: bool,
    target: &Platform,
) -> Check {
    let name = format!("builder {}", b.name);
    let driver = b.driver.clone().unwrap_or_else(|| "?".into());
    match verdict {
        None => Check::skip(&name, "not running (not probed)"),
        Some(Verdict::Works { elapsed }) => Check::ok(
            &name,
            format!(
                "{driver} driver: builds {target} {} (probe {} ms)",
                if native { "natively" } else { "emulated" },
                elapsed.as_millis()
            ),
        ),
        Some(Verdict::Missing) => Check::warn(
            &name,
            format!("cannot run {target} programs (exec format error)"),
            "use another builder, or install emulation on this one's host",
        ),
        Some(Verdict::Broken(t)) => Check::warn(
            &name,
            format!("the probe failed: {}", t.replace('\n', " / ")),
            format!("try `docker buildx inspect {}`", b.name),
        ),
        Some(Verdict::NoProbe) => Check::skip(&name, format!("no probe program for {target}")),
    }
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
}
