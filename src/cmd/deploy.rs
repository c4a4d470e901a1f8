//! `docker azdeploy deploy`: gate the registry's copy as linux/amd64, point the container app at
//! the pushed digest, then wait for the new revision to be really healthy, roll back a failed
//! one when asked, and record every outcome in the history.

use std::time::{Duration, Instant};

use crate::azure::az;
use crate::azure::model::App;
use crate::azure::rollout::{self, Outcome};
use crate::cli::args::DeployArgs;
use crate::config::{AppTarget, Overrides, Settings};
use crate::ctx::Ctx;
use crate::image::admit;
use crate::image::reference::ImageRef;
use crate::process::plan::Plan;
use crate::project::state::{self, Deployment, History, LastPush};
use crate::python::app::{detect, AppFiles};
use crate::report::error::Error;
use crate::report::output;
use crate::sys::clock;
use crate::sys::http::Http;

/// What a deploy knows before it starts, and learns as it goes.
struct Deploy<'a> {
    t: AppTarget<'a>,
    image: String,
    before: Option<App>,
    outcome: Option<Outcome>,
    /// Printed on success: the app's URL (or the revision).
    result: Option<String>,
}

pub fn run(ctx: &Ctx, args: &DeployArgs) -> Result<(), Error> {
    let settings = ctx.settings(&Overrides {
        app: args.app.clone(),
        resource_group: args.resource_group.clone(),
        deploy_timeout: args.wait_timeout,
        ..Default::default()
    })?;
    let t = settings.app_target()?;
    let (image, pinned) = image_to_deploy(ctx, args)?;
    let timeout = Duration::from_secs(settings.deploy_timeout.value.0);
    let update = rollout::update_cmd(ctx, &t, &image)?;
    let mut d = Deploy {
        t,
        image,
        before: None,
        outcome: None,
        result: None,
    };
    let executed = Plan::new()
        .query(
            "check the registry's copy of the image",
            |_: &mut Deploy| admit::for_azure(ctx, &pinned),
        )
        .query("read the container app", |d: &mut Deploy| {
            let before: App = ctx.runner.query_json(&az::app_show(
                ctx.az("read the container app")?,
                d.t.app,
                d.t.rg,
            ))?;
            say!(
                "Deploying {} to {} (now running {})",
                d.image,
                d.t.app,
                before.image().unwrap_or("no image")
            );
            d.before = Some(before);
            Ok(())
        })
        .step(
            "update the app's image",
            vec![update.to_string()],
            |d: &mut Deploy| update_and_wait(ctx, d, timeout, args.no_wait),
        )
        .when(!args.no_wait, |p| {
            p.step(
                "record the outcome; on failure show the logs",
                vec![],
                |d: &mut Deploy| finish(ctx, d, &settings, args, timeout),
            )
        })
        .execute(&ctx.runner, &mut d);
    match executed {
        Ok(()) => match &d.result {
            Some(r) => output::stdout_line(r),
            None => Ok(()),
        },
        // Errors after the app was read (az failing mid-wait, a cancel) are history too.
        Err(e) if d.before.is_some() && d.outcome.is_none() => Err(record_stop(ctx, &d, e)),
        Err(e) => Err(e),
    }
}

/// `--image`, else the pinned reference the last push printed; a tag without a digest only
/// with `--allow-tag`.
fn image_to_deploy(ctx: &Ctx, args: &DeployArgs) -> Result<(String, ImageRef), Error> {
    let image = match &args.image {
        Some(i) => i.clone(),
        None => state::load::<LastPush>(&ctx.cwd)
            .map(|p| p.pinned)
            .ok_or_else(|| {
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
    Ok((image, pinned))
}

/// The update, then (unless `--no-wait`) the wait for its revision.
fn update_and_wait(
    ctx: &Ctx,
    d: &mut Deploy,
    timeout: Duration,
    no_wait: bool,
) -> Result<(), Error> {
    let start = Instant::now();
    let previous = d
        .before
        .as_ref()
        .and_then(|b| b.latest_revision())
        .map(str::to_string);
    let revision = rollout::update(ctx, &d.t, &d.image, previous.as_deref())?;
    if no_wait {
        say!("{revision} is starting; not waiting (--no-wait)");
        History::append(&ctx.cwd, deployment(d, "not waited (--no-wait)"))?;
        d.result = Some(revision);
        return Ok(());
    }
    d.outcome = Some(rollout::wait_for(
        ctx, &d.t, &revision, &d.image, timeout, start,
    )?);
    Ok(())
}

/// The history record for this deploy, with `result`.
fn deployment(d: &Deploy, result: &str) -> Deployment {
    Deployment {
        at: clock::now_secs(),
        app: d.t.app.to_string(),
        image: d.image.clone(),
        revision: d.outcome.as_ref().map(|o| o.revision.clone()),
        previous_image: d
            .before
            .as_ref()
            .and_then(|b| b.image())
            .map(str::to_string),
        result: result.to_string(),
        seconds_to_healthy: d.outcome.as_ref().and_then(|o| o.seconds),
        ..Default::default()
    }
}

/// Healthy: the smoke request when asked, the record, the URL. Failed: the revision's logs,
/// the rollback when asked, the record, the error.
fn finish(
    ctx: &Ctx,
    d: &mut Deploy,
    settings: &Settings,
    args: &DeployArgs,
    timeout: Duration,
) -> Result<(), Error> {
    let outcome = d.outcome.clone().expect("waited");
    let Some(failure) = outcome.error.clone() else {
        say!(
            "{} is healthy after {:.0} s",
            outcome.revision,
            outcome.seconds.unwrap_or_default()
        );
        let url = d.before.as_ref().and_then(|b| b.fqdn()).map(app_url);
        let mut record = deployment(d, "healthy");
        let smoked = match (&url, args.smoke) {
            (Some(url), true) => Some(smoke(ctx, settings, url)?),
            (None, true) => {
                say!("warning: --smoke: the app has no ingress (no FQDN) to call");
                None
            }
            _ => None,
        };
        if let Some((status, ms, _)) = &smoked {
            record.smoke_status = Some(status.clone());
            record.smoke_first_request_ms = *ms;
        }
        History::append(&ctx.cwd, record)?;
        if let Some((_, _, Some(e))) = smoked {
            return Err(e);
        }
        d.result = Some(url.unwrap_or_else(|| outcome.revision.clone()));
        return Ok(());
    };
    rollout::show_logs(ctx, &d.t, &outcome.revision)?;
    let (result, message) = if args.rollback_on_failure {
        roll_back(ctx, d, &outcome, &failure, timeout)?
    } else {
        ("failed", failure)
    };
    History::append(&ctx.cwd, deployment(d, result))?;
    Err(Error::failed(
        message,
        "read the revision's logs above; `docker azdeploy test-local --check` reproduces most start failures locally",
    ))
}

/// `--rollback-on-failure`: the image that ran before goes back, and is waited for. Returns the
/// history result and the message.
fn roll_back(
    ctx: &Ctx,
    d: &Deploy,
    outcome: &Outcome,
    failure: &str,
    timeout: Duration,
) -> Result<(&'static str, String), Error> {
    let previous = d
        .before
        .as_ref()
        .and_then(|b| b.image())
        .filter(|p| *p != d.image);
    let Some(prev) = previous else {
        return Ok((
            "failed",
            format!("{failure}\n  nothing to roll back to (no previous image, or the same one)"),
        ));
    };
    say!("Rolling back {} to {prev}", d.t.app);
    let back = rollout::update_and_wait(ctx, &d.t, prev, Some(&outcome.revision), timeout)?;
    Ok(match back.error {
        None => (
            "rolled back",
            format!("{failure}\n  rolled back to {prev}, which is healthy again"),
        ),
        Some(e) => (
            "rollback failed",
            format!(
                "{failure}\n  the rollback to {prev} failed too ({}: {e})",
                back.revision
            ),
        ),
    })
}

/// Records a deploy that stopped before it had an outcome (`cancelled` or `error: …`), and
/// hands the error back (or the history's own error, if writing failed).
fn record_stop(ctx: &Ctx, d: &Deploy, e: Error) -> Error {
    let result = match &e {
        Error::Cancelled(_) => "cancelled".to_string(),
        other => format!("error: {}", other.to_string().lines().next().unwrap_or("")),
    };
    match History::append(&ctx.cwd, deployment(d, &result)) {
        Ok(()) => e,
        Err(history) => history,
    }
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
fn smoke(
    ctx: &Ctx,
    settings: &Settings,
    url: &str,
) -> Result<(String, Option<u64>, Option<Error>), Error> {
    let path = match &settings.health_path.value {
        Some(p) => p.0.clone(),
        None if detect(&AppFiles::read(&ctx.cwd)).streamlit.is_some() => "/_stcore/health".into(),
        None => "/".into(),
    };
    let target = format!("{url}{path}");
    let http = Http::public(Duration::from_secs(120));
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
