//! `docker azdeploy logs`: the app's console (or system) log through `az containerapp logs
//! show`, straight to stdout; Ctrl-C stops az and exits 130.

use crate::azure::az;
use crate::cli::args::LogsArgs;
use crate::ctx::Ctx;
use crate::report::error::Error;

pub fn run(ctx: &Ctx, args: &LogsArgs) -> Result<(), Error> {
    let settings = ctx.settings(&args.target.overrides())?;
    let t = settings.app_target()?;
    let cmd = az::logs(
        ctx.az("show the app's logs")?,
        t.app,
        t.rg,
        args.system,
        None,
        args.tail,
        args.follow,
    );
    // A follow runs until Ctrl-C: no bound; a plain read is bounded like any other.
    let cmd = if args.follow { cmd.unbounded() } else { cmd };
    ctx.runner.passthrough(&cmd)
}
