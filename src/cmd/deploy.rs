//! `docker azdeploy deploy`: point the container app at a pushed digest, then wait for the new
//! revision to be really healthy (`az containerapp update` returns at ARM's `Succeeded`, which
//! says nothing about the container), and roll back a failed one when asked.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::azure::{self, App, Revision, Verdict};
use crate::cli::args::DeployArgs;
use crate::config::Overrides;
use crate::ctx::Ctx;
use crate::image::gate;
use crate::image::reference::ImageRef;
use crate::project::state;
use crate::report::error::Error;
use crate::report::output;
use crate::sys::clock;

/// az has no timeout of its own when the network hangs.
const AZ_TIMEOUT: Duration = Duration::from_secs(120);
/// How many log lines of each kind a failed revision shows.
const LOG_TAIL: u32 = 50;

/// The app and where it lives.
pub struct Target<'a> {
    pub app: &'a str,
    pub rg: &'a str,
}

/// The settings for an Azure-side command: its `--app`/`--resource-group` on top.
pub fn app_settings(
    ctx: &Ctx,
    args: &crate::cli::args::AppArgs,
    deploy_timeout: Option<crate::config::Seconds>,
) -> Result<crate::config::Settings, Error> {
    ctx.settings(&Overrides {
        app: args.app.clone(),
        resource_group: args.resource_group.clone(),
        deploy_timeout,
        ..Default::default()
    })
}

/// The app and resource group from flags or settings, or a usage error.
pub fn target(settings: &crate::config::Settings) -> Result<Target<'_>, Error> {
    match (&settings.app.value, &settings.resource_group.value) {
        (Some(app), Some(rg)) => Ok(Target { app: &app.0, rg: &rg.0 }),
        _ => Err(Error::usage(
            "this needs the container app and its resource group",
            "pass --app NAME --resource-group RG, or set \"azure\": {\"app\": …, \"resource_group\": …} in azdeploy.json",
        )),
    }
}

pub fn run(ctx: &Ctx, args: &DeployArgs) -> Result<(), Error> {
    let settings = ctx.settings(&Overrides {
        app: args.app.clone(),
        resource_group: args.resource_group.clone(),
        deploy_timeout: args.wait_timeout,
        ..Default::default()
    })?;
    let t = target(&settings)?;
    let image = match &args.image {
        Some(i) => i.clone(),
        None => state::field(ctx, state::LAST_PUSH, "pinned").ok_or_else(|| {
            Error::usage(
                "no image to deploy: nothing pushed from here yet",
                "run `docker azdeploy push` first, or pass --image REF@DIGEST",
            )
        })?,
    };
    let pinned: ImageRef = image.parse().map_err(|e: String| {
        Error::usage(
            e,
            "pass --image REF@sha256:… as `docker azdeploy push` printed it",
        )
    })?;
    if pinned.digest.is_none() && !args.allow_tag {
        return Err(Error::usage(
            format!("{image} has no digest: a tag can move, and Azure may keep running the old image"),
            "deploy the pinned reference `docker azdeploy push` printed (REF@sha256:…), or pass --allow-tag",
        ));
    }

    gate_registry_copy(ctx, &pinned)?;
    let before: App = ctx.runner.query_json(&azure::app_show(
        ctx.az("read the container app")?,
        t.app,
        t.rg,
    ))?;
    let previous_image = before.image().map(str::to_string);
    say!(
        "Deploying {image} to {} (now running {})",
        t.app,
        previous_image.as_deref().unwrap_or("no image")
    );
    match finish(ctx, &t, &image, &before, &settings, args) {
        Ok(recorded) => recorded,
        // Errors before an outcome (az failing mid-wait, a cancel) are history too.
        Err(e) => Err(record_stop(
            ctx,
            json!({"at": clock::now_secs(), "app": t.app, "image": image, "previous_image": before.image()}),
            e,
        )),
    }
}

/// Everything after the app was read: update, wait, report, roll back. `Ok(result)`: the
/// outcome, already in the history; `Err`: stopped before there was one.
fn finish(
    ctx: &Ctx,
    t: &Target,
    image: &str,
    before: &App,
    settings: &crate::config::Settings,
    args: &DeployArgs,
) -> Result<Result<(), Error>, Error> {
    let previous_image = before.image().map(str::to_string);
    let previous_revision = before.latest_revision().map(str::to_string);
    let timeout = Duration::from_secs(settings.deploy_timeout.value.0);
    let outcome = update_and_wait(
        ctx,
        t,
        image,
        previous_revision.as_deref(),
        timeout,
        args.no_wait,
    )?;
    let Some(outcome) = outcome else {
        if args.no_wait && !ctx.runner.dry_run {
            let record = json!({"at": clock::now_secs(), "app": t.app, "image": image,
                "previous_image": previous_image, "result": "not waited (--no-wait)"});
            append_history(ctx, record)?;
        }
        return Ok(Ok(())); // --dry-run or --no-wait: said so already.
    };
    let mut record = json!({
        "at": clock::now_secs(),
        "app": t.app,
        "image": image,
        "revision": outcome.revision,
        "previous_image": previous_image,
        "result": if outcome.error.is_none() { "healthy" } else { "failed" },
        "seconds_to_healthy": outcome.seconds,
    });
    let Some(failure) = outcome.error else {
        say!(
            "{} is healthy after {:.0} s",
            outcome.revision,
            outcome.seconds.unwrap_or_default()
        );
        let url = before.fqdn().map(app_url);
        let smoke = match (&url, args.smoke) {
            (Some(url), true) => Some(smoke(ctx, url)?),
            (None, true) => {
                say!("warning: --smoke: the app has no ingress (no FQDN) to call");
                None
            }
            _ => None,
        };
        if let Some((status, ms, _)) = &smoke {
            record["smoke_status"] = json!(status);
            record["smoke_first_request_ms"] = json!(ms);
        }
        append_history(ctx, record)?;
        if let Some((_, _, Some(e))) = smoke {
            return Ok(Err(e));
        }
        return Ok(output::stdout_line(
            &url.unwrap_or_else(|| outcome.revision.clone()),
        ));
    };
    show_logs(ctx, t, &outcome.revision)?;
    let mut message = failure;
    if args.rollback_on_failure {
        match previous_image.as_deref().filter(|p| *p != image) {
            Some(prev) => {
                say!("Rolling back {} to {prev}", t.app);
                let back = update_and_wait(ctx, t, prev, Some(&outcome.revision), timeout, false)?;
                match back.and_then(|b| b.error.map(|e| (b.revision, e))) {
                    None => {
                        record["result"] = "rolled back".into();
                        message.push_str(&format!(
                            "\n  rolled back to {prev}, which is healthy again"
                        ));
                    }
                    Some((rev, e)) => {
                        record["result"] = "rollback failed".into();
                        message.push_str(&format!(
                            "\n  the rollback to {prev} failed too ({rev}: {e})"
                        ));
                    }
                }
            }
            None => {
                message.push_str("\n  nothing to roll back to (no previous image, or the same one)")
            }
        }
    }
    append_history(ctx, record)?;
    Ok(Err(Error::failed(
        message,
        "read the revision's logs above; `docker azdeploy test-local --check` reproduces most start failures locally",
    )))
}

/// The architecture gate once more, on what the registry holds under `image`, before Azure is
/// touched: Container Apps runs linux/amd64 only, whatever the settings say, and the image's
/// program must be an x86-64 one. An image the gate cannot read is refused: it never fails open.
pub fn gate_registry_copy(ctx: &Ctx, image: &ImageRef) -> Result<(), Error> {
    let target = crate::config::default_platform();
    let back = match crate::cmd::push::read_back(ctx, image, &target) {
        Ok(b) => b,
        Err(e @ Error::Cancelled(_)) => return Err(e),
        Err(e) => {
            let host = image.host.as_deref().unwrap_or("docker.io");
            return Err(Error::failed(
                format!("the architecture gate cannot read {image} from its registry, so nothing was deployed\n  {}", e.to_string().replace('\n', "\n  ")),
                format!("log in to {host} here (`docker login {host}`; for ACR `az acr login --name <acr>`) so the image can be checked before Azure runs it"),
            ));
        }
    };
    gate::check(&back.platforms, &target, None)?;
    crate::image::binaries::check_pushed(ctx, image, &back, &target)
}

/// The app's URL: `https://<fqdn>` (an FQDN that already names a scheme is kept as it is).
fn app_url(fqdn: &str) -> String {
    if fqdn.contains("://") {
        fqdn.to_string()
    } else {
        format!("https://{fqdn}")
    }
}

/// `--smoke`: one GET of the health path through the app's public URL, timed: the first request
/// users would make once the revision is healthy (a replica is up by then, so this is not a
/// cold start; Azure offers no cold-start figure). Success is 200-399, as for Azure's probes.
/// Returns (status or error text, ms, failure).
fn smoke(ctx: &Ctx, url: &str) -> Result<(String, Option<u64>, Option<Error>), Error> {
    let files = crate::cmd::init::AppFiles::read(&ctx.cwd);
    let settings = ctx.settings(&Overrides::default())?;
    let path = match &settings.health_path.value {
        Some(p) => p.0.clone(),
        None if crate::cmd::init::detect(&files).streamlit.is_some() => "/_stcore/health".into(),
        None => "/".into(),
    };
    let target = format!("{url}{path}");
    let http = crate::sys::http::Http::public(Duration::from_secs(120));
    ctx.runner.cancel().check()?;
    Ok(match http.get(&target) {
        Ok(a) if a.probe_ok() => {
            let ms = a.ttfb.as_millis() as u64;
            say!("smoke: GET {target} → {} in {ms} ms (the first request through the public URL once the revision was healthy)", a.status);
            (a.status.to_string(), Some(ms), None)
        }
        Ok(a) => (
            a.status.to_string(),
            Some(a.ttfb.as_millis() as u64),
            Some(Error::failed(
                format!("the revision is healthy, but GET {target} answered {}", a.status),
                "check the ingress (target port, external) and the health path (health_path in azdeploy.json)",
            )),
        ),
        Err(e) => (
            e.clone(),
            None,
            Some(Error::failed(
                format!("the revision is healthy, but GET {target} failed: {e}"),
                "check the ingress: `az containerapp ingress show`, and that it is external",
            )),
        ),
    })
}

/// How one update ended.
pub struct Outcome {
    pub revision: String,
    pub seconds: Option<f64>,
    /// `None` when healthy.
    pub error: Option<String>,
}

/// `az containerapp update`, then the wait. `None` under `--dry-run` or `--no-wait`.
pub fn update_and_wait(
    ctx: &Ctx,
    t: &Target,
    image: &str,
    previous_revision: Option<&str>,
    timeout: Duration,
    no_wait: bool,
) -> Result<Option<Outcome>, Error> {
    let start = Instant::now();
    let update = azure::app_update(
        ctx.az("update the container app's image")?,
        t.app,
        t.rg,
        image,
    )
    .timeout(Duration::from_secs(600));
    let out = ctx.runner.run(&update)?;
    if ctx.runner.dry_run {
        say!("[dry-run] would then wait for the new revision to be healthy");
        return Ok(None);
    }
    let updated: App = serde_json::from_slice(&out.stdout).map_err(|e| Error::Parse {
        purpose: "update the container app's image".into(),
        command: update.to_string(),
        detail: e.to_string(),
    })?;
    let revision = updated
        .latest_revision()
        .ok_or_else(|| Error::Parse {
            purpose: "update the container app's image".into(),
            command: update.to_string(),
            detail: "no properties.latestRevisionName in its output".into(),
        })?
        .to_string();
    if Some(revision.as_str()) == previous_revision {
        say!("note: no new revision (nothing changed in the template); checking {revision}");
    }
    if no_wait {
        say!("{revision} is starting; not waiting (--no-wait)");
        output::stdout_line(&revision)?;
        return Ok(None);
    }
    let (revision, error) = wait(ctx, t, &revision, image, timeout)?;
    Ok(Some(Outcome {
        revision,
        seconds: error.is_none().then(|| start.elapsed().as_secs_f64()),
        error,
    }))
}

/// Polls the revision until healthy (`None`), failed or timed out (`Some(why)`). A revision that
/// runs another image than `image` is not ours (az can return before the new revision exists):
/// the app's latest revision is read again instead. Returns the revision it ended on.
fn wait(
    ctx: &Ctx,
    t: &Target,
    revision: &str,
    image: &str,
    timeout: Duration,
) -> Result<(String, Option<String>), Error> {
    let mut revision = revision.to_string();
    let start = Instant::now();
    let first = ctx
        .var("AZDEPLOY_POLL_INTERVAL_MS")
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(2))
        .max(Duration::from_millis(10));
    let mut delay = first;
    let mut last = String::from("no answer yet");
    let mut poll_errors = 0;
    loop {
        let cmd = azure::revision_show(
            ctx.az("read the new revision's state")?,
            t.app,
            t.rg,
            &revision,
        )
        .timeout(AZ_TIMEOUT);
        // One failed poll (a network blip, an ARM throttle) is not a failed deploy: three in a
        // row are.
        let rev: Revision = match ctx.runner.query_json(&cmd) {
            Ok(r) => {
                poll_errors = 0;
                r
            }
            Err(e @ Error::Cancelled(_)) => return Err(e),
            Err(e) if poll_errors >= 2 => return Err(e),
            Err(e) => {
                poll_errors += 1;
                say!(
                    "warning: could not read {revision} ({}); trying again",
                    e.to_string().lines().next().unwrap_or("")
                );
                ctx.runner.cancel().sleep(delay)?;
                continue;
            }
        };
        let runs = rev.image();
        let verdict = match runs {
            Some(other) if other != image => {
                // Not the revision with our image (yet): ask the app which one is latest now.
                let app: App = ctx.runner.query_json(
                    &azure::app_show(ctx.az("read the container app")?, t.app, t.rg)
                        .timeout(AZ_TIMEOUT),
                )?;
                if let Some(latest) = app.latest_revision().filter(|l| *l != revision) {
                    say!("{revision} runs {other}; following the newer revision {latest}");
                    revision = latest.to_string();
                    continue;
                }
                Verdict::Pending(format!("{revision} still runs {other}"))
            }
            _ => azure::classify(&rev),
        };
        match verdict {
            Verdict::Healthy => return Ok((revision, None)),
            Verdict::Failed(why) => {
                return Ok((
                    revision.clone(),
                    Some(format!("revision {revision} failed: {why}")),
                ))
            }
            Verdict::Pending(states) => {
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

/// Prints the app's system log (az gives it per app, not per revision) and the revision's
/// console log (best effort: logs may not be there yet).
pub fn show_logs(ctx: &Ctx, t: &Target, revision: &str) -> Result<(), Error> {
    for (system, title) in [
        (true, "system log of the app"),
        (false, "console log of the revision"),
    ] {
        let Ok(base) = ctx.az("read the logs") else {
            return Ok(());
        };
        let cmd = azure::logs(base, t.app, t.rg, system, Some(revision), LOG_TAIL, false)
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

/// Records a command that stopped before it had an outcome (`result`: `cancelled` or
/// `error: …`), and hands the error back (or the history's own error, if writing failed).
pub fn record_stop(ctx: &Ctx, mut record: serde_json::Value, e: Error) -> Error {
    record["result"] = json!(match &e {
        Error::Cancelled(_) => "cancelled".to_string(),
        other => format!("error: {}", other.to_string().lines().next().unwrap_or("")),
    });
    match append_history(ctx, record) {
        Ok(()) => e,
        Err(history) => history,
    }
}

/// Appends `record`. An existing history we cannot read is not silently replaced.
pub fn append_history(ctx: &Ctx, record: serde_json::Value) -> Result<(), Error> {
    let mut all = match state::read(ctx, state::HISTORY) {
        Some(serde_json::Value::Array(a)) => a,
        None if !ctx.cwd.join(state::HISTORY).exists() => Vec::new(),
        _ => {
            return Err(Error::failed(
                format!("{} is not a JSON array; not overwriting it", state::HISTORY),
                "fix it (or move it aside), then run the command again",
            ))
        }
    };
    all.push(record);
    state::write(ctx, state::HISTORY, &serde_json::Value::Array(all))
}
