//! The emulation checks: the probe that proves the target runs (a platform list is no proof),
//! what the host says (binfmt_misc, Rosetta, Docker Desktop), and the ways to build without
//! emulation with what emulation measured here costs.
//!
//! May import: `checks`, `engine`, `ctx`, `config`, `process`, `report`.

use super::Check;
use crate::config::Platform;
use crate::ctx::Ctx;
use crate::engine::docker::ServerVersion;
use crate::engine::emulation::{self, Verdict};
use crate::report::error::Error;

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

pub fn host_facts(ctx: &Ctx, target: &Platform) -> emulation::HostFacts {
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

/// What the benchmark measured for emulation on a CPU-bound `RUN` step (emulated/native), from
/// `bench/results.json` as committed.
pub fn measured_emulation_penalty() -> Option<f64> {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../bench/results.json")).ok()?;
    v.pointer("/results/emulation_step/2/median")?.as_f64()
}

/// What pip under emulation costs, as `bench/python.py` measured it: the real Streamlit app's
/// usual Dockerfile built for the foreign platform over the same built natively.
pub fn measured_pip_penalty() -> Option<f64> {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../bench/python-results.json")).ok()?;
    v.pointer("/ratios/usual_foreign_over_native/median")?
        .as_f64()
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(measured_pip_penalty().is_some_and(|p| p > 1.0));
    }
}
