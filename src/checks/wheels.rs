//! The wheel check: which requirements have no binary wheel for the target (they compile from
//! source in the build, needing compilers, slowly under emulation), asked of pip itself, and the
//! AVX trap under Rosetta.
//!
//! May import: `checks`, `python`, `engine`, `ctx`, `config`, `process`, `sys`, `report`.

use super::Check;
use crate::config::Platform;
use crate::ctx::Ctx;
use crate::python::requirements;
pub use crate::python::wheels::WheelOptions;
use crate::python::wheels::{self, Answer};
use crate::report::error::Error;

/// The wheel check for the requirements file at `path`, and the AVX trap when the target will
/// run under Rosetta.
pub fn wheels(
    ctx: &Ctx,
    path: &camino::Utf8Path,
    target: &Platform,
    opts: &WheelOptions,
) -> Result<Vec<Check>, Error> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(vec![Check::skip("wheels", format!("no {path}"))]);
    };
    let reqs = requirements::parse_requirements(&text);
    let mut out = avx_checks(ctx, target, &reqs);
    out.extend(checks_of(
        &wheels::ask(ctx, &reqs, target, opts)?,
        target,
        opts,
    ));
    Ok(out)
}

/// pip's answer as checks: a warning per requirement that compiles from source, one ok for the
/// rest.
pub fn checks_of(answer: &Answer, target: &Platform, opts: &WheelOptions) -> Vec<Check> {
    let py = &opts.python_version;
    let (with_wheels, source) = match answer {
        Answer::NoWheelsForTarget => {
            return vec![Check::skip("wheels", format!("no manylinux wheels exist for {target}"))]
        }
        Answer::NoPython => {
            return vec![Check::warn(
                "wheels",
                "python3 not found: cannot ask pip about wheels",
                "install Python 3 with pip, or set AZDEPLOY_PYTHON",
            )]
        }
        Answer::Unreachable => {
            return vec![Check::warn(
                "wheels",
                "the package index is not reachable: cannot check wheels",
                "check the network or pip's index settings; --find-links DIR checks against local wheels",
            )]
        }
        Answer::Known { with_wheels, source } => (with_wheels, source),
    };
    let mut out: Vec<Check> = source
        .iter()
        .map(|s| {
            let detail = match &s.newest {
                Some(version) => format!(
                    "{} ({version}): no binary wheel for {target}, Python {py}: it compiles from source in the build",
                    s.requirement.spec
                ),
                None => format!(
                    "{}: no distribution for {target}, Python {py} (only for other platforms, or not on the index)",
                    s.requirement.spec
                ),
            };
            Check::warn(
                "wheels",
                detail,
                "the image needs compilers (build-essential) for it, and the compile is slow under emulation; pin a version that has a manylinux wheel, or build on a native amd64 builder",
            )
        })
        .collect();
    if !with_wheels.is_empty() {
        out.push(Check::ok(
            "wheels",
            format!(
                "{} of {} requirements have binary wheels for {target}, Python {py}",
                with_wheels.len(),
                with_wheels.len() + source.len()
            ),
        ));
    }
    out
}

/// Rosetta has no AVX: warn about requirements whose amd64 builds need it.
fn avx_checks(ctx: &Ctx, target: &Platform, reqs: &[requirements::Requirement]) -> Vec<Check> {
    let f = super::emulation::host_facts(ctx, target);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
