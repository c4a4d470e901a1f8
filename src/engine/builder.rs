//! A buildx builder by name. A docker context's name is also the name of its (docker-driver)
//! builder, but buildx refuses `--builder` for it ("use `docker --context=X buildx`"): for those,
//! the command gets `--context NAME` instead.
//!
//! May import: `engine::docker`, `ctx`, `process`, `report`.

use super::docker;
use crate::ctx::Ctx;
use crate::process::runner::Cmd;
use crate::report::error::Error;

/// A docker command aimed at buildx builder `builder` (the current one when `None`), and the
/// `--builder` value still to pass.
pub fn on_builder(
    ctx: &Ctx,
    purpose: &str,
    builder: Option<&str>,
) -> Result<(Cmd, Option<String>), Error> {
    let base = ctx.docker(purpose)?;
    let Some(name) = builder else {
        return Ok((base, None));
    };
    let probe = ctx.runner.probe(&docker::context_exists(
        ctx.docker("check whether the builder is a docker context")?,
        name,
    ))?;
    if probe.success() {
        Ok((base.args(["--context", name]), None))
    } else {
        Ok((base, Some(name.to_string())))
    }
}
