//! Which requirements have a binary wheel for the target, asked of pip itself (`pip download
//! --only-binary=:all: --platform manylinux…` into a throwaway directory): the ones without one
//! compile from source in the build, needing compilers, slowly under emulation.
//!
//! May import: `python::requirements`, `ctx`, `config`, `process`, `sys`, `report`.

use super::requirements::{self, Index, Requirement};
use crate::config::Platform;
use crate::ctx::Ctx;
use crate::process::runner::{Cmd, Probe};
use crate::report::error::Error;

/// Where pip is asked, and for which Python.
#[derive(Debug, Clone)]
pub struct WheelOptions {
    pub index: Index,
    pub python_version: String,
}

/// A requirement that will compile from source in the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceBuild {
    pub requirement: Requirement,
    /// The newest version pip sees in any form (`None`: none at all for this platform).
    pub newest: Option<String>,
}

/// What pip said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Every requirement was asked: these have wheels, these compile.
    Known {
        with_wheels: Vec<Requirement>,
        source: Vec<SourceBuild>,
    },
    /// No manylinux wheels exist for the target at all.
    NoWheelsForTarget,
    /// No python3 with pip here.
    NoPython,
    /// The package index did not answer.
    Unreachable,
}

/// Asks pip about each requirement, four at a time (about a second each).
pub fn ask(
    ctx: &Ctx,
    reqs: &[Requirement],
    target: &Platform,
    opts: &WheelOptions,
) -> Result<Answer, Error> {
    let Some(tags) = requirements::platform_tags(target) else {
        return Ok(Answer::NoWheelsForTarget);
    };
    let Some(python) = ctx.tools.python() else {
        return Ok(Answer::NoPython);
    };
    let dest = crate::sys::files::temp_dir("azdeploy-wheels-")?;
    let dest = dest.path().display().to_string();
    let mut with_wheels = Vec::new();
    let mut source = Vec::new();
    for chunk in reqs.chunks(4) {
        let answers = in_parallel(ctx, chunk, |r| {
            let ask = Cmd::new(&python, "ask pip for a wheel");
            requirements::binary_check(ask, r, &tags, &opts.python_version, &opts.index, &dest)
        })?;
        for (req, p) in chunk.iter().zip(answers) {
            if p.success() {
                with_wheels.push(req.clone());
                continue;
            }
            if requirements::unreachable(&p.stderr) {
                return Ok(Answer::Unreachable);
            }
            let v = ctx.runner.probe(&requirements::versions(
                Cmd::new(&python, "ask pip for versions"),
                req,
                &opts.index,
            ))?;
            source.push(SourceBuild {
                requirement: req.clone(),
                newest: requirements::newest_version(&v.stdout),
            });
        }
    }
    Ok(Answer::Known {
        with_wheels,
        source,
    })
}

/// Runs `cmd(r)` for each requirement at once; the answers in order.
fn in_parallel(
    ctx: &Ctx,
    reqs: &[Requirement],
    cmd: impl Fn(&Requirement) -> Cmd,
) -> Result<Vec<Probe>, Error> {
    std::thread::scope(|s| {
        let handles: Vec<_> = reqs
            .iter()
            .map(|r| {
                let c = cmd(r);
                s.spawn(move || ctx.runner.probe(&c))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("pip thread"))
            .collect()
    })
}
