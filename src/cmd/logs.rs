//! `docker azdeploy logs`: the app's console (or system) log through `az containerapp logs
//! show`, straight to stdout; Ctrl-C stops az and exits 130.

use crate::azure;
use crate::cli::args::LogsArgs;
use crate::cmd::deploy::{app_settings, target};
use crate::ctx::Ctx;
use crate::report::error::Error;

pub fn run(ctx: &Ctx, args: &LogsArgs) -> Result<(), Error> {
    let settings = app_settings(ctx, &args.target, None)?;
    let t = target(&settings)?;
    let cmd = azure::logs(
        ctx.az("show the app's logs")?,
        t.app,
        t.rg,
        args.system,
        None,
        args.tail,
        args.follow,
    );
    ctx.runner.passthrough(&cmd)
}
