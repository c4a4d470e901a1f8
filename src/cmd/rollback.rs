//! `docker azdeploy rollback`: deploy the image that ran before (from `.azdeploy/history.json`),
//! or the one a revision ran, or a digest, and wait for it exactly as `deploy` does.

use std::time::Duration;

use serde_json::json;

use crate::azure::{self, App, Revision};
use crate::cli::args::RollbackArgs;
use crate::cmd::deploy::{
    app_settings, append_history, record_stop, show_logs, target, update_and_wait,
};
use crate::ctx::Ctx;
use crate::image::reference::ImageRef;
use crate::project::state;
use crate::report::error::Error;
use crate::report::output;
use crate::sys::clock;

/// The image to go back to when no `--to` is given, from this app's history: the newest image
/// that was healthy, is not the current one, and was not rolled back from since (so a second
/// rollback goes further back instead of returning to the image the first one left); failing
/// that, the image that ran before the current one was first deployed from here.
pub fn previous_image(history: &[serde_json::Value], app: &str, current: &str) -> Option<String> {
    let s = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let records: Vec<&serde_json::Value> = history
        .iter()
        .filter(|r| s(r, "app").as_deref() == Some(app))
        .collect();
    let mut left = std::collections::HashSet::new();
    for r in records.iter().rev() {
        if s(r, "kind").as_deref() == Some("rollback") {
            if let Some(p) = s(r, "previous_image") {
                left.insert(p);
            }
        }
        if s(r, "result").as_deref() == Some("healthy") {
            if let Some(image) = s(r, "image").filter(|i| i != current && !left.contains(i)) {
                return Some(image);
            }
        }
    }
    records
        .iter()
        .find(|r| s(r, "image").as_deref() == Some(current))
        .and_then(|r| s(r, "previous_image"))
        .filter(|p| p != current)
}

/// `--to` as a digest: `sha256:…` joins the current image's repository; a full
/// `REF@sha256:…` stands as it is. `None` when `to` is no digest at all (a revision name).
pub fn image_for_digest(to: &str, current: &str) -> Option<Result<ImageRef, String>> {
    if to.contains('@') {
        return Some(to.parse());
    }
    if !to.starts_with("sha256:") {
        return None;
    }
    if !crate::image::reference::valid_digest(to) {
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
    let settings = app_settings(ctx, &args.target, args.wait_timeout)?;
    let t = target(&settings)?;
    let app: App = ctx.runner.query_json(&azure::app_show(
        ctx.az("read the container app")?,
        t.app,
        t.rg,
    ))?;
    let current = app.image().unwrap_or_default().to_string();
    let digest = args
        .to
        .as_deref()
        .and_then(|to| image_for_digest(to, &current));
    let to = match &args.to {
        Some(_) if digest.is_some() => digest
            .expect("checked")
            .map_err(|e| Error::usage(e, "pass --to REF@sha256:… or a revision name"))?
            .to_string(),
        Some(revision) => {
            let cmd = azure::revision_show(
                ctx.az("read the revision to go back to")?,
                t.app,
                t.rg,
                revision,
            );
            let rev: Revision = ctx.runner.query_json(&cmd)?;
            rev.image()
                .ok_or_else(|| Error::Parse {
                    purpose: "read the revision to go back to".into(),
                    command: cmd.to_string(),
                    detail: "no properties.template.containers[0].image".into(),
                })?
                .to_string()
        }
        None => {
            let history = match state::read(ctx, state::HISTORY) {
                Some(serde_json::Value::Array(a)) => a,
                _ => Vec::new(),
            };
            previous_image(&history, t.app, &current).ok_or_else(|| {
                Error::failed(
                    "no earlier image known for this app (.azdeploy/history.json has none)",
                    "name one: --to <revision name> (see `docker azdeploy status`) or --to REF@sha256:…",
                )
            })?
        }
    };
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
    crate::cmd::deploy::gate_registry_copy(ctx, &to_ref)?;
    say!("Rolling back {} from {current} to {to}", t.app);
    let timeout = Duration::from_secs(settings.deploy_timeout.value.0);
    let outcome = match update_and_wait(ctx, &t, &to, app.latest_revision(), timeout, false) {
        Ok(Some(outcome)) => outcome,
        Ok(None) => return Ok(()), // --dry-run
        // Stopped before an outcome (az failing, a cancel): that is history too.
        Err(e) => {
            let record = json!({"at": clock::now_secs(), "app": t.app, "image": to,
                                "previous_image": current, "kind": "rollback"});
            return Err(record_stop(ctx, record, e));
        }
    };
    append_history(
        ctx,
        json!({"at": clock::now_secs(), "app": t.app, "image": to, "revision": outcome.revision,
               "previous_image": current, "kind": "rollback",
               "result": if outcome.error.is_none() { "healthy" } else { "failed" },
               "seconds_to_healthy": outcome.seconds}),
    )?;
    match outcome.error {
        None => output::stdout_line(
            &app.fqdn()
                .map(|f| format!("https://{f}"))
                .unwrap_or(outcome.revision),
        ),
        Some(e) => {
            show_logs(ctx, &t, &outcome.revision)?;
            Err(Error::failed(e, "read the revision's logs above"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_image_comes_from_the_history() {
        let h: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"app": "web", "image": "r/a@sha256:1", "previous_image": "r/a@sha256:0", "result": "healthy"},
                {"app": "web", "image": "r/a@sha256:2", "previous_image": "r/a@sha256:1", "result": "healthy"},
                {"app": "staging", "image": "r/s@sha256:9", "previous_image": null, "result": "healthy"},
                {"app": "web", "image": "r/a@sha256:3", "previous_image": "r/a@sha256:2", "result": "failed"}]"#,
        )
        .unwrap();
        // :3 failed: back to :2, never to another app's image.
        assert_eq!(
            previous_image(&h, "web", "r/a@sha256:3").as_deref(),
            Some("r/a@sha256:2")
        );
        // On :2: back to :1, never to the failed :3.
        assert_eq!(
            previous_image(&h, "web", "r/a@sha256:2").as_deref(),
            Some("r/a@sha256:1")
        );
        // Only the current image was ever deployed from here: what ran before it.
        assert_eq!(
            previous_image(&h[..1], "web", "r/a@sha256:1").as_deref(),
            Some("r/a@sha256:0")
        );
        assert_eq!(previous_image(&[], "web", "r/a@sha256:9"), None);
        assert_eq!(previous_image(&h, "staging", "r/s@sha256:9"), None);
    }

    #[test]
    fn a_second_rollback_goes_further_back() {
        let h: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"app": "web", "image": "A", "result": "healthy"},
                {"app": "web", "image": "B", "previous_image": "A", "result": "healthy"},
                {"app": "web", "image": "C", "previous_image": "B", "result": "healthy"},
                {"app": "web", "image": "B", "previous_image": "C", "kind": "rollback", "result": "healthy"}]"#,
        )
        .unwrap();
        assert_eq!(previous_image(&h, "web", "B").as_deref(), Some("A"));
    }

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
