//! `docker azdeploy rollback`: deploy the image that ran before (from `.azdeploy/history.json`),
//! or the one a revision ran, or a digest; gate it as `deploy` does, and wait for it.

use std::time::Duration;

use crate::azure::model::{App, Revision};
use crate::azure::rollout::{self, Outcome};
use crate::azure::{acr, az};
use crate::cli::args::RollbackArgs;
use crate::config::Overrides;
use crate::ctx::Ctx;
use crate::image::reference::{valid_digest, ImageRef};
use crate::process::plan::Plan;
use crate::project::state::{self, Deployment, History};
use crate::report::error::Error;
use crate::report::output;
use crate::sys::clock;

/// `--to` as a digest: `sha256:…` joins the current image's repository; a full
/// `REF@sha256:…` stands as it is. `None` when `to` is no digest at all (a revision name).
pub fn image_for_digest(to: &str, current: &str) -> Option<Result<ImageRef, String>> {
    if to.contains('@') {
        return Some(to.parse());
    }
    if !to.starts_with("sha256:") {
        return None;
    }
    if !valid_digest(to) {
        return Some(Err(format!(
            "\"{to}\" is not a digest: sha256: and 64 lowercase hex digits"
        )));
    }
    Some(
        current
            .parse::<ImageRef>()
            .map(|c| c.pinned(to))
            .and_then(|p| p.parse())
            .map_err(|_| {
                format!("cannot tell the repository for {to} from the app's image \"{current}\"")
            }),
    )
}

pub fn run(ctx: &Ctx, args: &RollbackArgs) -> Result<(), Error> {
    let settings = ctx.settings(&Overrides {
        deploy_timeout: args.wait_timeout,
        ..args.target.overrides()
    })?;
    let t = settings.app_target()?;
    let app: App = ctx.runner.query_json(&az::app_show(
        ctx.az("read the container app")?,
        t.app,
        t.rg,
    ))?;
    let current = app.image().unwrap_or_default().to_string();
    let to = rollback_target(ctx, args.to.as_deref(), &current, t.app, t.rg)?;
    if to == current {
        return Err(Error::failed(
            format!("{} already runs {to}", t.app),
            "pass --to with another revision or digest",
        ));
    }
    let to_ref: ImageRef = to.parse().map_err(|e: String| {
        Error::failed(
            e,
            "pass --to with a revision that runs a valid image, or REF@sha256:…",
        )
    })?;
    let timeout = Duration::from_secs(settings.deploy_timeout.value.0);
    let record = |outcome: Option<&Outcome>, result: String| Deployment {
        at: clock::now_secs(),
        app: t.app.to_string(),
        image: to.clone(),
        revision: outcome.map(|o| o.revision.clone()),
        previous_image: Some(current.clone()),
        result,
        seconds_to_healthy: outcome.and_then(|o| o.seconds),
        kind: Some("rollback".into()),
        ..Default::default()
    };
    let mut outcome: Option<Outcome> = None;
    Plan::new()
        .query(
            "check the registry's copy of the image",
            |_: &mut Option<Outcome>| acr::admit(ctx, &to_ref, &settings),
        )
        .step(
            "update the app's image and wait for its revision",
            vec![rollout::update_cmd(ctx, &t, &to)?.to_string()],
            |o: &mut Option<Outcome>| {
                say!("Rolling back {} from {current} to {to}", t.app);
                match rollout::update_and_wait(ctx, &t, &to, app.latest_revision(), timeout) {
                    Ok(done) => {
                        *o = Some(done);
                        Ok(())
                    }
                    // Stopped before an outcome (az failing, a cancel): that is history too.
                    Err(e) => Err(stopped(ctx, record(None, String::new()), e)),
                }
            },
        )
        .execute(&ctx.runner, &mut outcome)?;
    let Some(outcome) = outcome else {
        return Ok(()); // --dry-run: said so already.
    };
    let result = if outcome.error.is_none() {
        "healthy"
    } else {
        "failed"
    };
    History::append(&ctx.cwd, record(Some(&outcome), result.into()))?;
    match outcome.error {
        None => output::stdout_line(
            &app.fqdn()
                .map(|f| format!("https://{f}"))
                .unwrap_or(outcome.revision),
        ),
        Some(e) => {
            rollout::show_logs(ctx, &t, &outcome.revision)?;
            Err(Error::failed(e, "read the revision's logs above"))
        }
    }
}

/// The image `--to` names (a digest, or a revision's image), else the one before the current
/// one in this app's history.
fn rollback_target(
    ctx: &Ctx,
    to: Option<&str>,
    current: &str,
    app: &str,
    rg: &str,
) -> Result<String, Error> {
    if let Some(digest) = to.and_then(|to| image_for_digest(to, current)) {
        return digest
            .map(|r| r.to_string())
            .map_err(|e| Error::usage(e, "pass --to REF@sha256:… or a revision name"));
    }
    if let Some(revision) = to {
        let cmd = az::revision_show(
            ctx.az("read the revision to go back to")?,
            app,
            rg,
            revision,
        );
        let rev: Revision = ctx.runner.query_json(&cmd)?;
        return rev.image().map(str::to_string).ok_or_else(|| Error::Parse {
            purpose: "read the revision to go back to".into(),
            command: cmd.to_string(),
            detail: "no properties.template.containers[0].image".into(),
        });
    }
    let history = History::load(&ctx.cwd).unwrap_or_default();
    state::previous_image(&history, app, current).ok_or_else(|| {
        Error::failed(
            "no earlier image known for this app (.azdeploy/history.json has none)",
            "name one: --to <revision name> (see `docker azdeploy status`) or --to REF@sha256:…",
        )
    })
}

/// Records a rollback that stopped before it had an outcome, and hands the error back (or the
/// history's own error, if writing failed).
fn stopped(ctx: &Ctx, mut record: Deployment, e: Error) -> Error {
    record.result = match &e {
        Error::Cancelled(_) => "cancelled".to_string(),
        other => format!("error: {}", other.to_string().lines().next().unwrap_or("")),
    };
    match History::append(&ctx.cwd, record) {
        Ok(()) => e,
        Err(history) => history,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_join_the_current_repository() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let cur = format!("myacr.azurecr.io/shop:abc@{}", d('2'));
        let to = |to: &str, current: &str| {
            image_for_digest(to, current).map(|r| r.map(|r| r.to_string()))
        };
        assert_eq!(
            to(&d('1'), &cur),
            Some(Ok(format!("myacr.azurecr.io/shop@{}", d('1'))))
        );
        assert_eq!(
            to(&format!("r.io/x@{}", d('1')), &cur),
            Some(Ok(format!("r.io/x@{}", d('1'))))
        );
        assert_eq!(
            to(&d('1'), "localhost:5000/shop"),
            Some(Ok(format!("localhost:5000/shop@{}", d('1'))))
        );
        assert_eq!(to("shop--r3", &cur), None, "a revision name");
        assert!(to("sha256:123", &cur)
            .unwrap()
            .unwrap_err()
            .contains("is not a digest"));
        assert!(to("r.io/x@sha256:1", &cur).unwrap().is_err());
    }
}
