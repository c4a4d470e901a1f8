//! A new revision's way to health: `az containerapp update`, then the wait that `update` does
//! not do (it returns at ARM's `Succeeded`, which says nothing about the container): the
//! revision that runs the new image is polled until it is healthy, failed or out of time, and
//! a failed one shows its logs. Shared by `deploy` and `rollback`.
//!
//! May import: `azure::az`, `azure::model`, `azure::revision`, `ctx`, `config`, `process`,
//! `report`.

use std::time::{Duration, Instant};

use super::az;
use super::model::{App, Revision};
use super::revision::{self, Verdict};
use crate::config::AppTarget;
use crate::ctx::Ctx;
use crate::process::runner::Cmd;
use crate::report::error::Error;

/// az has no timeout of its own when the network hangs.
pub const AZ_TIMEOUT: Duration = Duration::from_secs(120);
/// How many log lines of each kind a failed revision shows.
const LOG_TAIL: u32 = 50;

/// How one update ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub revision: String,
    pub seconds: Option<f64>,
    /// `None` when healthy.
    pub error: Option<String>,
}

/// `az containerapp update --image image` for `t` (its own timeout: az has none).
pub fn update_cmd(ctx: &Ctx, t: &AppTarget, image: &str) -> Result<Cmd, Error> {
    Ok(az::app_update(
        ctx.az("update the container app's image")?,
        t.app,
        t.rg,
        image,
    )
    .timeout(Duration::from_secs(600)))
}

/// Runs the update; returns the app's latest revision after it (a new one, unless nothing in
/// the template changed).
pub fn update(
    ctx: &Ctx,
    t: &AppTarget,
    image: &str,
    previous_revision: Option<&str>,
) -> Result<String, Error> {
    let update = update_cmd(ctx, t, image)?;
    let out = ctx.runner.run(&update)?;
    let parse_error = |detail: String| Error::Parse {
        purpose: "update the container app's image".into(),
        command: update.to_string(),
        detail,
    };
    let updated: App =
        serde_json::from_slice(&out.stdout).map_err(|e| parse_error(e.to_string()))?;
    let revision = updated
        .latest_revision()
        .ok_or_else(|| parse_error("no properties.latestRevisionName in its output".into()))?
        .to_string();
    if Some(revision.as_str()) == previous_revision {
        say!("note: no new revision (nothing changed in the template); checking {revision}");
    }
    Ok(revision)
}

/// The update, then the wait for its revision.
pub fn update_and_wait(
    ctx: &Ctx,
    t: &AppTarget,
    image: &str,
    previous_revision: Option<&str>,
    timeout: Duration,
) -> Result<Outcome, Error> {
    let start = Instant::now();
    let revision = update(ctx, t, image, previous_revision)?;
    wait_for(ctx, t, &revision, image, timeout, start)
}

/// Waits for `revision` (started at `start`) as [`wait`] does, and says how it ended.
pub fn wait_for(
    ctx: &Ctx,
    t: &AppTarget,
    revision: &str,
    image: &str,
    timeout: Duration,
    start: Instant,
) -> Result<Outcome, Error> {
    let (revision, error) = wait(ctx, t, revision, image, timeout)?;
    Ok(Outcome {
        revision,
        seconds: error.is_none().then(|| start.elapsed().as_secs_f64()),
        error,
    })
}

/// Polls the revision until healthy (`None`), failed or timed out (`Some(why)`). A revision that
/// runs another image than `image` is not ours (az can return before the new revision exists):
/// the app's latest revision is read again instead. Returns the revision it ended on.
pub fn wait(
    ctx: &Ctx,
    t: &AppTarget,
    revision: &str,
    image: &str,
    timeout: Duration,
) -> Result<(String, Option<String>), Error> {
    let mut revision = revision.to_string();
    let start = Instant::now();
    let first = poll_interval(ctx);
    let mut delay = first;
    let mut last = String::from("no answer yet");
    let mut poll_errors = 0;
    loop {
        // One failed poll (a network blip, an ARM throttle) is not a failed deploy: three in a
        // row are.
        let rev = match read_revision(ctx, t, &revision) {
            Ok(r) => {
                poll_errors = 0;
                r
            }
            Err(e @ Error::Cancelled(_)) => return Err(e),
            Err(e) if poll_errors >= 2 => return Err(e),
            Err(e) => {
                poll_errors += 1;
                let why = e.to_string();
                say!(
                    "warning: could not read {revision} ({}); trying again",
                    why.lines().next().unwrap_or("")
                );
                ctx.runner.cancel().sleep(delay)?;
                continue;
            }
        };
        match verdict(ctx, t, &mut revision, image, &rev)? {
            None => continue,
            Some(Verdict::Healthy) => return Ok((revision, None)),
            Some(Verdict::Failed(why)) => {
                let why = format!("revision {revision} failed: {why}");
                return Ok((revision, Some(why)));
            }
            Some(Verdict::Pending(states)) => {
                if states != last {
                    say!(
                        "{revision}: {states} ({:.0} s)",
                        start.elapsed().as_secs_f64()
                    );
                }
                last = states;
            }
        }
        if start.elapsed() >= timeout {
            let why = format!(
                "revision {revision} was not healthy within {} s (last: {last})",
                timeout.as_secs()
            );
            return Ok((revision, Some(why)));
        }
        ctx.runner.cancel().sleep(delay)?;
        delay = delay.mul_f64(1.5).min(first * 5);
    }
}

/// The first interval between polls: `AZDEPLOY_POLL_INTERVAL_MS`, else 2 s (growing to 5×).
fn poll_interval(ctx: &Ctx) -> Duration {
    ctx.var("AZDEPLOY_POLL_INTERVAL_MS")
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(2))
        .max(Duration::from_millis(10))
}

fn read_revision(ctx: &Ctx, t: &AppTarget, revision: &str) -> Result<Revision, Error> {
    let cmd = az::revision_show(
        ctx.az("read the new revision's state")?,
        t.app,
        t.rg,
        revision,
    )
    .timeout(AZ_TIMEOUT);
    ctx.runner.query_json(&cmd)
}

/// Where `rev` stands; `None` when it runs another image and the app names a newer revision,
/// which `revision` now is.
fn verdict(
    ctx: &Ctx,
    t: &AppTarget,
    revision: &mut String,
    image: &str,
    rev: &Revision,
) -> Result<Option<Verdict>, Error> {
    let Some(other) = rev.image().filter(|i| *i != image) else {
        return Ok(Some(revision::classify(rev)));
    };
    // Not the revision with our image (yet): ask the app which one is latest now.
    let app: App = ctx.runner.query_json(
        &az::app_show(ctx.az("read the container app")?, t.app, t.rg).timeout(AZ_TIMEOUT),
    )?;
    match app.latest_revision().filter(|l| *l != revision.as_str()) {
        Some(latest) => {
            say!("{revision} runs {other}; following the newer revision {latest}");
            *revision = latest.to_string();
            Ok(None)
        }
        None => Ok(Some(Verdict::Pending(format!(
            "{revision} still runs {other}"
        )))),
    }
}

/// Prints the app's system log (az gives it per app, not per revision) and the revision's
/// console log (best effort: logs may not be there yet).
pub fn show_logs(ctx: &Ctx, t: &AppTarget, revision: &str) -> Result<(), Error> {
    for (system, title) in [
        (true, "system log of the app"),
        (false, "console log of the revision"),
    ] {
        let Ok(base) = ctx.az("read the logs") else {
            return Ok(());
        };
        let cmd = az::logs(base, t.app, t.rg, system, Some(revision), LOG_TAIL, false)
            .timeout(AZ_TIMEOUT);
        match ctx.runner.probe(&cmd) {
            Ok(p) if p.success() => {
                say!("--- {title} {revision} (last {LOG_TAIL} lines) ---");
                say!("{}", p.stdout.trim_end());
            }
            Ok(p) => say!(
                "--- no {title}: {} ---",
                p.stderr.lines().next().unwrap_or("").trim()
            ),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
