//! The Dockerfile lint as checks: an error (final stage pinned to another platform) fails, the
//! rest warn.
//!
//! May import: `checks`, `image`, `engine::emulation`, `ctx`, `config`, `report`.

use super::Check;
use crate::config::{Platform, Settings};
use crate::ctx::Ctx;
use crate::image::dockerfile::{self, Dockerfile, Here};

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
        &Dockerfile::parse(&text),
        path.as_ref(),
        &settings.platform.value,
        settings.port.value.0,
    )
}

/// The lint findings as checks, one per problem (or one ok).
pub fn lint_checks(d: &Dockerfile, path: &str, target: &Platform, port: u16) -> Vec<Check> {
    // A local engine runs this machine's architecture: anything else is emulated.
    let here = if crate::engine::emulation::docker_arch(std::env::consts::ARCH) == target.arch {
        Here::Native
    } else {
        Here::Emulated(
            super::emulation::measured_pip_penalty()
                .or_else(super::emulation::measured_emulation_penalty),
        )
    };
    let problems = dockerfile::lint(d, target, port, here);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    #[test]
    fn lint_findings_become_checks() {
        let amd64: Platform = "linux/amd64".parse().unwrap();
        let c = lint_checks(
            &Dockerfile::parse("FROM --platform=linux/arm64 base\n"),
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
        let c = lint_checks(
            &Dockerfile::parse("FROM base\nEXPOSE 8501\n"),
            "Dockerfile",
            &amd64,
            8501,
        );
        assert_eq!((c.len(), c[0].status), (1, Status::Ok));
    }
}
