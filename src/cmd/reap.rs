//! `docker-azdeploy __reap` (hidden): the reaper `test-local` starts for itself, detached in its
//! own session. It watches the run's process; once that is gone — however it ended, `kill -9`
//! included — it removes the run's containers (again for a few seconds: a `docker run` the run
//! had started may still be creating one), then exits. It also exits when the run removed them
//! itself.

use std::time::{Duration, Instant};

use crate::cli::args::ReapArgs;
use crate::ctx::Ctx;
use crate::engine::container;
use crate::report::error::Error;
use crate::sys::procs::Owner;

/// How often the owner is looked at (a signal 0: nothing to speak of).
const OWNER_POLL: Duration = Duration::from_millis(500);
/// How often docker is asked whether the run's containers are still there.
const CONTAINER_POLL: Duration = Duration::from_secs(15);
/// After the owner died: how long empty listings must last before the reaper trusts them.
const SETTLE: Duration = Duration::from_secs(5);
/// After the owner died: how long the reaper tries at most (an engine that went down with the
/// run may come back; after this the next run's sweep is the backstop).
const GIVE_UP: Duration = Duration::from_secs(600);

pub fn run(ctx: &Ctx, args: &ReapArgs) -> Result<(), Error> {
    let owner = Owner::parse(&args.owner).ok_or_else(|| {
        Error::usage(
            format!("\"{}\" is not HOST/PID/START", args.owner),
            "__reap is started by test-local, not by hand",
        )
    })?;
    let mut seen = false;
    let mut last_look = Instant::now();
    while owner.alive() {
        ctx.runner.cancel().sleep(OWNER_POLL)?;
        if last_look.elapsed() >= CONTAINER_POLL {
            last_look = Instant::now();
            match container::list(ctx, &args.label) {
                Ok(l) if l.is_empty() && seen => return Ok(()),
                Ok(l) => seen |= !l.is_empty(),
                Err(_) => {}
            }
        }
    }
    let start = Instant::now();
    let mut empty_since: Option<Instant> = None;
    while start.elapsed() < GIVE_UP {
        // An engine that does not answer (it went down with the run) is not an empty one:
        // keep trying until it is back or the reaper gives up.
        let Ok(listed) = container::list(ctx, &args.label) else {
            empty_since = None;
            ctx.runner.cancel().sleep(Duration::from_secs(1))?;
            continue;
        };
        let ids: Vec<String> = listed
            .into_iter()
            .filter(|c| !c.detached)
            .map(|c| c.id)
            .collect();
        if ids.is_empty() {
            let since = *empty_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= SETTLE {
                return Ok(());
            }
        } else {
            empty_since = None;
            let _ = container::remove(ctx, &ids);
        }
        ctx.runner.cancel().sleep(Duration::from_millis(500))?;
    }
    Ok(())
}
