//! `docker azdeploy deploy`: gate the registry's copy as linux/amd64; create the app (and what
//! it needs) when it does not exist yet, after showing the plan; otherwise check the app's Azure
//! settings against the image (a failure stops before `update`; `--fix` changes what az can),
//! point the app at the pushed digest, then wait for the new revision to be really healthy,
//! roll back a failed one when asked, and record every outcome in the history.

use std::time::{Duration, Instant};

use crate::azure::fix::{self, Fix};
use crate::azure::model::App;
use crate::azure::provision::{self, Names};
use crate::azure::rollout::{self, Outcome};
use crate::azure::spec::{self, AppSpec};
use crate::azure::{acr, az};
use crate::checks::app::{findings, local_peak, Expect, Finding};
use crate::checks::{self, Status};
use crate::cli::args::DeployArgs;
use crate::config::{AppTarget, Overrides, Settings};
use crate::ctx::Ctx;
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
    /// The revision the update (or create) made, before any wait.
    revision: Option<String>,
    /// `create` when this deploy created the app.
    kind: Option<&'static str>,
    /// Printed on success: the app's URL (or the revision).
    result: Option<String>,
}

pub fn run(ctx: &Ctx, args: &DeployArgs) -> Result<(), Error> {
    let settings = ctx.settings(&Overrides {
        app: args.app.clone(),
        resource_group: args.resource_group.clone(),
        deploy_timeout: args.wait_timeout,
        location: args.location.clone(),
        environment: args.environment.clone(),
        min_replicas: args.min_replicas,
        max_replicas: args.max_replicas,
        ..Default::default()
    })?;
    let t = settings.app_target()?;
    let (image, pinned) = image_to_deploy(ctx, args)?;
    let timeout = Duration::from_secs(settings.deploy_timeout.value.0);
    acr::admit(ctx, &pinned, &settings)?;
    let expect = Expect::for_image(ctx, &settings, &pinned);
    let mut d = Deploy {
        t,
        image,
        before: None,
        outcome: None,
        revision: None,
        kind: None,
        result: None,
    };
    let found = provision::look::<App>(
        ctx,
        az::app_show(ctx.az("read the container app")?, d.t.app, d.t.rg),
    )?;
    let executed = match found {
        None => create_app(ctx, &mut d, &settings, args, &pinned, &expect, timeout),
        Some(before) => update_app(ctx, &mut d, &settings, args, before, &expect, timeout),
    };
    match executed {
        Ok(()) => match &d.result {
            Some(r) => output::stdout_line(r),
            None => Ok(()),
        },
        // Errors after the app was read or made (az failing mid-wait, a cancel) are history too.
        Err(e) if d.kind.is_some() && d.outcome.is_none() && !ctx.runner.dry_run => {
            Err(record_stop(ctx, &d, e))
        }
        Err(e) => Err(e),
    }
}

/// The app exists: its settings checked (and fixed with `--fix`), then the update and the wait.
fn update_app(
    ctx: &Ctx,
    d: &mut Deploy,
    settings: &Settings,
    args: &DeployArgs,
    before: App,
    expect: &Expect,
    timeout: Duration,
) -> Result<(), Error> {
    say!(
        "Deploying {} to {} (now running {})",
        d.image,
        d.t.app,
        before.image().unwrap_or("no image")
    );
    let before = settings_checked(ctx, &d.t, settings, before, expect, args)?;
    if unchanged(&before, &d.image) {
        say!(
            "{} already runs {} on a healthy revision: nothing to change",
            d.t.app,
            d.image
        );
        d.result = Some(before.fqdn().map(app_url).unwrap_or_default());
        return Ok(());
    }
    d.before = Some(before);
    d.kind = Some("update");
    let update = rollout::update_cmd(ctx, &d.t, &d.image)?;
    Plan::new()
        .step(
            "update the app's image",
            vec![update.to_string()],
            |d: &mut Deploy| update_and_wait(ctx, d, timeout, args.no_wait),
        )
        .when(!args.no_wait, |p| {
            p.step(
                "record the outcome; on failure show the logs",
                vec![],
                |d: &mut Deploy| finish(ctx, d, settings, args, timeout),
            )
        })
        .execute(&ctx.runner, d)
}

/// Already running `image` on a revision that is ready: a second deploy changes nothing.
fn unchanged(app: &App, image: &str) -> bool {
    let ready = app.properties.as_ref().is_some_and(|p| {
        p.latest_revision_name.is_some() && p.latest_revision_name == p.latest_ready_revision_name
    });
    ready && app.image() == Some(image)
}

/// The findings on the app's Azure settings, shown; `--fix` applies the fixes and reads the app
/// again. Any failure left stops the deploy before `update`.
fn settings_checked(
    ctx: &Ctx,
    t: &AppTarget,
    settings: &Settings,
    app: App,
    expect: &Expect,
    args: &DeployArgs,
) -> Result<App, Error> {
    let found = findings(&app, expect);
    show_findings(&found);
    let fixes: Vec<Fix> = found
        .iter()
        .filter(|f| matches!(f.check.status, Status::Fail | Status::Warn))
        .filter_map(|f| f.fix.clone())
        .collect();
    if !args.fix || fixes.is_empty() {
        return stop_on_failures(t, &found, args.fix).map(|()| app);
    }
    let names = Names::from_settings(settings, t);
    let shows = fixes
        .iter()
        .map(
            |f| match fix::command(ctx.az("fix the app's settings")?, t, f) {
                Some(c) => Ok(c.to_string()),
                None => Ok(format!(
                    "({}: identity, AcrPull, `az containerapp registry set`)",
                    f.describe()
                )),
            },
        )
        .collect::<Result<Vec<String>, Error>>()?;
    Plan::new()
        .step(
            format!("fix {} of {}'s Azure settings", fixes.len(), t.app),
            shows,
            |_: &mut ()| {
                fixes
                    .iter()
                    .try_for_each(|f| fix::apply(ctx, t, names.as_ref(), f, args.yes))
            },
        )
        .execute(&ctx.runner, &mut ())?;
    if ctx.runner.dry_run {
        return Ok(app);
    }
    let after: App = ctx.runner.query_json(
        &az::app_show(ctx.az("read the container app again")?, t.app, t.rg)
            .timeout(rollout::AZ_TIMEOUT),
    )?;
    let again = findings(&after, expect);
    stop_on_failures(t, &again, true).map(|()| after)
}

/// The findings worth reading (skips left out), as doctor draws them, on stderr.
fn show_findings(found: &[Finding]) {
    let shown: Vec<checks::Check> = found
        .iter()
        .filter(|f| f.check.status != Status::Skip)
        .map(|f| f.check.clone())
        .collect();
    say!("Azure settings of the app:\n{}", checks::render(&shown));
}

/// Stops before the update when a finding failed.
fn stop_on_failures(t: &AppTarget, found: &[Finding], fixed: bool) -> Result<(), Error> {
    let failed: Vec<&Finding> = found
        .iter()
        .filter(|f| f.check.status == Status::Fail)
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    let list = failed
        .iter()
        .map(|f| format!("{}: {}", f.check.name, f.check.detail))
        .collect::<Vec<_>>()
        .join("\n  ");
    let fixable = failed.iter().all(|f| f.fix.is_some());
    Err(Error::failed(
        format!(
            "stopped before the update: {} of {}'s Azure settings would break it\n  {list}",
            failed.len(),
            t.app
        ),
        match (fixed, fixable) {
            (false, true) => "run `docker azdeploy deploy --fix` to change them with az (each change is printed), or change them yourself",
            _ => "change them with az or in the portal (the hints in the table above say how), then deploy again",
        },
    ))
}

/// The app does not exist: what it needs is planned, shown, confirmed and created, the app last,
/// pinned to the pushed digest; then its first revision is waited for like any other.
fn create_app(
    ctx: &Ctx,
    d: &mut Deploy,
    settings: &Settings,
    args: &DeployArgs,
    pinned: &ImageRef,
    expect: &Expect,
    timeout: Duration,
) -> Result<(), Error> {
    let names = Names::from_settings(settings, &d.t).ok_or_else(|| {
        Error::usage(
            format!(
                "container app {} does not exist in {}, and no Azure Container Registry is configured to create it with",
                d.t.app, d.t.rg
            ),
            "set \"azure\": {\"registry\": NAME} to the ACR `docker azdeploy push` pushed to",
        )
    })?;
    say!(
        "Container app {} does not exist in {} yet: looking at what it needs",
        d.t.app,
        d.t.rg
    );
    let mut w = provision::survey_registry(ctx, &names)?;
    image_is_in(&w, &names, pinned, ctx.runner.dry_run)?;
    provision::survey_app(ctx, &names, &mut w)?;
    let spec = new_app(settings, expect, &d.image);
    let todo = provision::changes(&w, true);
    let start = Instant::now();
    d.kind = Some("create");
    provision::create(ctx, &names, &mut w, &todo, Some(&spec), args.yes)?;
    if ctx.runner.dry_run {
        return Ok(());
    }
    let created = w.app.take().expect("the app was created");
    let revision = created
        .latest_revision()
        .ok_or_else(|| {
            Error::failed(
                format!("az created {} but printed no latestRevisionName", d.t.app),
                "check it with `docker azdeploy status`",
            )
        })?
        .to_string();
    d.before = Some(created);
    if wait_unless_told_not_to(ctx, d, revision, timeout, start, args.no_wait)? {
        finish(ctx, d, settings, args, timeout)?;
    }
    Ok(())
}

/// Waits for `revision` (the one the update or create made) and keeps the outcome; with
/// `--no-wait`, records it as not waited for and prints it instead. Returns whether it waited.
fn wait_unless_told_not_to(
    ctx: &Ctx,
    d: &mut Deploy,
    revision: String,
    timeout: Duration,
    start: Instant,
    no_wait: bool,
) -> Result<bool, Error> {
    d.revision = Some(revision.clone());
    if no_wait {
        say!("{revision} is starting; not waiting (--no-wait)");
        History::append(&ctx.cwd, deployment(d, "not waited (--no-wait)"))?;
        d.result = Some(revision);
        return Ok(false);
    }
    d.outcome = Some(rollout::wait_for(
        ctx, &d.t, &revision, &d.image, timeout, start,
    )?);
    Ok(true)
}

/// The image must be in the registry the app will pull from with its identity.
fn image_is_in(
    w: &provision::World,
    n: &Names,
    image: &ImageRef,
    dry_run: bool,
) -> Result<(), Error> {
    let Some(registry) = &w.registry else {
        let e = Error::failed(
            format!(
                "registry {} does not exist, so the image cannot be in it",
                n.registry
            ),
            "run `docker azdeploy push` first: it creates the registry and pushes the image",
        );
        if dry_run {
            say!("warning: {e}");
            return Ok(());
        }
        return Err(e);
    };
    let server = registry.login_server.as_deref().unwrap_or_default();
    match image.host.as_deref() {
        Some(h) if h.eq_ignore_ascii_case(server) => Ok(()),
        other => Err(Error::usage(
            format!(
                "{image} is not in registry {} ({server}), the one the new app pulls from{}",
                n.registry,
                other.map(|h| format!("; it names {h}")).unwrap_or_default()
            ),
            "push it there with `docker azdeploy push`, then deploy the reference it prints",
        )),
    }
}

/// The new app, from the settings and the local test.
fn new_app(settings: &Settings, expect: &Expect, image: &str) -> AppSpec {
    let (size, why) = spec::size_for(expect.tested.as_ref().and_then(local_peak));
    say!("size: {} ({why})", size.label());
    AppSpec {
        name: settings
            .app
            .value
            .as_ref()
            .map(|a| a.0.clone())
            .unwrap_or_default(),
        location: String::new(),
        environment_id: String::new(),
        identity_id: String::new(),
        registry_server: String::new(),
        image: image.to_string(),
        port: settings.port.value.0,
        health_path: health_path(settings, expect.streamlit),
        sticky: expect.streamlit,
        size,
        min_replicas: settings.min_replicas.value.0,
        max_replicas: settings.max_replicas.value.0,
        measured_start_ms: expect.tested.as_ref().and_then(|t| t.health_ms),
    }
}

/// `health_path`, else Streamlit's `/_stcore/health`, else `/`.
fn health_path(settings: &Settings, streamlit: bool) -> String {
    match &settings.health_path.value {
        Some(p) => p.0.clone(),
        None if streamlit => "/_stcore/health".into(),
        None => "/".into(),
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
    wait_unless_told_not_to(ctx, d, revision, timeout, start, no_wait).map(drop)
}

/// The history record for this deploy, with `result`.
fn deployment(d: &Deploy, result: &str) -> Deployment {
    Deployment {
        at: clock::now_secs(),
        app: d.t.app.to_string(),
        image: d.image.clone(),
        revision: d
            .outcome
            .as_ref()
            .map(|o| o.revision.clone())
            .or_else(|| d.revision.clone()),
        previous_image: d
            .before
            .as_ref()
            .and_then(|b| b.image())
            .map(str::to_string),
        result: result.to_string(),
        seconds_to_healthy: d.outcome.as_ref().and_then(|o| o.seconds),
        kind: d.kind.filter(|k| *k == "create").map(str::to_string),
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
        roll_back(ctx, d, settings, &outcome, &failure, timeout)?
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
    settings: &Settings,
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
    // What ran before may not have come through this gate (an `az` by hand, another tool).
    let gated = prev
        .parse::<ImageRef>()
        .map_err(|e| Error::failed(e, ""))
        .and_then(|r| acr::admit(ctx, &r, settings));
    match gated {
        Err(e @ Error::Cancelled(_)) => return Err(e),
        Err(e) => {
            return Ok((
                "failed",
                format!(
                    "{failure}\n  not rolled back: the image that ran before, {prev}, does not pass the architecture gate ({})",
                    e.to_string().lines().next().unwrap_or("")
                ),
            ))
        }
        Ok(()) => {}
    }
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
    let path = health_path(
        settings,
        detect(&AppFiles::read(&ctx.cwd)).streamlit.is_some(),
    );
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
