//! The preflight before `build` and `test-local`: engine, buildx and the emulation probe
//! (remembered while what it proved holds), and the Dockerfile lint; then the wheel check
//! (warnings only, remembered an hour). A failure stops the command before it changes anything.
//!
//! May import: `checks`, `image`, `engine`, `python`, `ctx`, `config`, `process`, `report`.

use std::time::{Duration, Instant};

use camino::Utf8Path;

use super::{say_warnings, Check, Status};
use crate::config::Platform;
use crate::ctx::Ctx;
use crate::engine::emulation;
use crate::image::dockerfile::Dockerfile;
use crate::python::requirements::Index;
use crate::report::error::Error;

/// How long the wheel check's answer is trusted.
const WHEELS_TTL: Duration = Duration::from_secs(3600);

/// What the preflight checks.
pub struct Preflight<'a> {
    pub target: &'a Platform,
    pub builder: Option<&'a str>,
    /// `azure.registry`, for the no-emulation routes it names.
    pub registry: Option<&'a str>,
    /// The Dockerfile and its path, for the lint.
    pub dockerfile: Option<(&'a Dockerfile<'a>, &'a str)>,
    pub port: u16,
    /// Whether the target's programs will run: `false` for a build whose Dockerfile runs
    /// nothing in a stage for the target (no emulation needed, none probed).
    pub runs_target: bool,
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

/// Runs the preflight; any failure is an error naming every failed check.
pub fn preflight(ctx: &Ctx, p: &Preflight) -> Result<(), Error> {
    let key = preflight_key(ctx, p.target, p.builder);
    let fingerprint = emulation::fingerprint(ctx, p.target)?;
    let remembered = fingerprint
        .as_deref()
        .and_then(|f| emulation::recent_success(ctx, &key, f));
    let mut checks = match &remembered {
        Some(hit) => {
            if ctx.runner.verbose {
                say!(
                    "preflight: engine, buildx and {} emulation passed {} s ago; not checked again",
                    p.target,
                    emulation::age_secs(hit)
                );
            }
            Vec::new()
        }
        None if !p.runs_target => engine_only(ctx, p)?,
        None => engine_checks(ctx, p)?,
    };
    let engine_ok = checks.iter().all(|c| c.status != Status::Fail);
    if let (None, true, Some(f), true) = (&remembered, engine_ok, &fingerprint, p.runs_target) {
        let probe_ms = checks
            .iter()
            .find(|c| c.name == "emulation")
            .map_or(0, |c| c.ms);
        emulation::remember_success(ctx, &key, f, Duration::from_millis(probe_ms));
    }
    if let Some((d, path)) = p.dockerfile {
        checks.extend(super::dockerfile::lint_checks(d, path, p.target, p.port));
    }
    say_warnings(&checks);
    stop_on_failures(&checks)
}

/// The engine and the emulation probe beside buildx, in parallel (the probe sets the pace).
fn engine_checks(ctx: &Ctx, p: &Preflight) -> Result<Vec<Check>, Error> {
    let (engine_and_emulation, buildx) = std::thread::scope(|s| {
        let e = s.spawn(|| -> Result<Vec<Check>, Error> {
            let t = Instant::now();
            let (mut checks, server) = super::engine::engine(ctx)?;
            let mut probe =
                super::emulation::emulation(ctx, p.target, p.builder, server.as_ref(), p.registry)?;
            probe.ms = t.elapsed().as_millis() as u64;
            if probe.status == Status::Ok && server.is_some_and(|s| s.arch != p.target.arch) {
                // It works, emulated: say what it costs and what avoids it.
                say!(
                    "note: {} is emulated here; {}",
                    p.target,
                    super::emulation::routes_advice(p.registry, &[], p.target)
                );
            }
            checks.push(probe);
            Ok(checks)
        });
        let b = s.spawn(|| super::engine::buildx(ctx, p.builder));
        (
            e.join().expect("preflight thread"),
            b.join().expect("preflight thread"),
        )
    });
    let mut checks = engine_and_emulation?;
    checks.push(buildx?);
    Ok(checks)
}

/// The engine and buildx, without the emulation probe: the build runs no program of the target.
fn engine_only(ctx: &Ctx, p: &Preflight) -> Result<Vec<Check>, Error> {
    let (engine, buildx) = std::thread::scope(|s| {
        let e = s.spawn(|| super::engine::engine(ctx));
        let b = s.spawn(|| super::engine::buildx(ctx, p.builder));
        (
            e.join().expect("preflight thread"),
            b.join().expect("preflight thread"),
        )
    });
    let (mut checks, _) = engine?;
    checks.push(buildx?);
    checks.push(Check::ok(
        "emulation",
        format!("not needed: the Dockerfile runs nothing in a stage for {} (its RUNs are on $BUILDPLATFORM)", p.target),
    ));
    if ctx.runner.verbose {
        say!(
            "preflight: no RUN in a stage for {}: emulation not needed for this build, not probed",
            p.target
        );
    }
    Ok(checks)
}

/// An error naming every failed check, with the first one's hint.
fn stop_on_failures(checks: &[Check]) -> Result<(), Error> {
    let failed: Vec<&Check> = checks.iter().filter(|c| c.status == Status::Fail).collect();
    let Some(first) = failed.first() else {
        return Ok(());
    };
    let mut message = String::from("preflight failed: nothing was built or started");
    for c in &failed {
        message.push_str(&format!("\n  {}: {}", c.name, c.detail));
    }
    Err(Error::failed(
        message,
        first
            .hint
            .clone()
            .unwrap_or_else(|| "run `docker azdeploy doctor`".into()),
    ))
}

/// The wheel check before a build (warnings only), remembered for an hour per requirements
/// file content, platform and Python version (the Dockerfile's base) so repeated builds do not
/// ask pip again.
pub fn wheel_preflight(
    ctx: &Ctx,
    requirements: &Utf8Path,
    target: &Platform,
    dockerfile: &Dockerfile,
    build_args: &[(String, String)],
) -> Result<(), Error> {
    let Ok(text) = std::fs::read_to_string(requirements) else {
        return Ok(());
    };
    let python_version = dockerfile
        .python_version(build_args)
        .unwrap_or_else(|| "3.12".into());
    let key = format!("wheels|{text}|{target}|{python_version}");
    let checks: Vec<Check> = match emulation::recent_value(ctx, &key, WHEELS_TTL) {
        Some(v) => serde_json::from_value(v).unwrap_or_default(),
        None => {
            let opts = super::wheels::WheelOptions {
                index: Index::Default,
                python_version,
            };
            let checks = super::wheels::wheels(ctx, requirements, target, &opts)?;
            if !checks.iter().any(|c| c.detail.contains("not reachable")) {
                let value = serde_json::to_value(&checks).unwrap_or_default();
                emulation::remember_value(ctx, &key, &value);
            }
            checks
        }
    };
    say_warnings(&checks);
    Ok(())
}
