//! The fixes `--fix` applies to an existing app's Azure settings, each one az command line
//! (pure builders), and the one that needs more: registry access, which first makes sure the
//! pull identity exists with AcrPull (`provision`), attaches it, then names it for the registry.
//!
//! May import: `azure::az`, `azure::model`, `azure::provision`, `azure::spec`, `ctx`, `config`,
//! `process`, `report`.

use super::az;
use super::model::App;
use super::provision::{self, Names};
use super::spec::Size;
use crate::config::AppTarget;
use crate::ctx::Ctx;
use crate::process::runner::Cmd;
use crate::report::error::Error;

/// One change to the app's settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Fix {
    /// Ingress on, external, on this port, `auto` transport.
    EnableIngress(u16),
    External,
    TargetPort(u16),
    /// `auto`: HTTP/1.1 upgrades (websockets) and HTTP/2.
    Transport,
    Sticky,
    Size(Size),
    Scale {
        min: u32,
        max: u32,
    },
    /// Pull from this registry host with the pull identity.
    Registry(String),
}

impl Fix {
    /// What it changes, for the report.
    pub fn describe(&self) -> String {
        match self {
            Fix::EnableIngress(p) => format!("external ingress on port {p}"),
            Fix::External => "ingress made external".into(),
            Fix::TargetPort(p) => format!("ingress target port set to {p}"),
            Fix::Transport => "ingress transport set to auto".into(),
            Fix::Sticky => "session affinity set to sticky".into(),
            Fix::Size(s) => format!("size set to {}", s.label()),
            Fix::Scale { min, max } => format!("replicas set to {min}-{max}"),
            Fix::Registry(server) => format!("{server} pulled with the app's pull identity"),
        }
    }
}

/// The az command line for a fix that is one command (`None` for [`Fix::Registry`]).
pub fn command(base: Cmd, t: &AppTarget, fix: &Fix) -> Option<Cmd> {
    let ingress =
        |rest: &[&str]| az::app_cmd(base.clone(), &["ingress", "update"], t.app, t.rg, rest);
    Some(match fix {
        Fix::EnableIngress(p) => az::app_cmd(
            base.clone(),
            &["ingress", "enable"],
            t.app,
            t.rg,
            &[
                "--type",
                "external",
                "--target-port",
                &p.to_string(),
                "--transport",
                "auto",
            ],
        ),
        Fix::External => ingress(&["--type", "external"]),
        Fix::TargetPort(p) => ingress(&["--target-port", &p.to_string()]),
        Fix::Transport => ingress(&["--transport", "auto"]),
        Fix::Sticky => az::app_cmd(
            base.clone(),
            &["ingress", "sticky-sessions", "set"],
            t.app,
            t.rg,
            &["--affinity", "sticky"],
        ),
        Fix::Size(s) => az::app_cmd(
            base.clone(),
            &["update"],
            t.app,
            t.rg,
            &["--cpu", &s.cpu().to_string(), "--memory", &s.memory()],
        ),
        Fix::Scale { min, max } => az::app_cmd(
            base.clone(),
            &["update"],
            t.app,
            t.rg,
            &[
                "--min-replicas",
                &min.to_string(),
                "--max-replicas",
                &max.to_string(),
            ],
        ),
        Fix::Registry(_) => return None,
    })
}

/// Applies `fix` to the app; says what changed.
pub fn apply(
    ctx: &Ctx,
    t: &AppTarget,
    names: Option<&Names>,
    fix: &Fix,
    yes: bool,
) -> Result<(), Error> {
    let timeout = std::time::Duration::from_secs(600);
    match command(ctx.az("fix the app's settings")?, t, fix) {
        Some(cmd) => {
            ctx.runner.run(&cmd.timeout(timeout))?;
        }
        None => {
            let Fix::Registry(server) = fix else {
                unreachable!("only the registry fix is more than one command")
            };
            let names = names.ok_or_else(|| {
                Error::usage(
                    format!("cannot give {} access to {server}: no ACR configured", t.app),
                    "set \"azure\": {\"registry\": NAME} (the ACR the image is in), then run it again",
                )
            })?;
            let identity = pull_identity(ctx, names, yes)?;
            let app: App = ctx.runner.query_json(
                &az::app_show(ctx.az("read the container app")?, t.app, t.rg).timeout(timeout),
            )?;
            if !app
                .user_identities()
                .iter()
                .any(|i| i.eq_ignore_ascii_case(&identity))
            {
                ctx.runner.run(
                    &az::app_cmd(
                        ctx.az("attach the pull identity to the app")?,
                        &["identity", "assign"],
                        t.app,
                        t.rg,
                        &["--user-assigned", &identity],
                    )
                    .timeout(timeout),
                )?;
            }
            ctx.runner.run(
                &az::app_cmd(
                    ctx.az("let the app pull from the registry with its identity")?,
                    &["registry", "set"],
                    t.app,
                    t.rg,
                    &["--server", server, "--identity", &identity],
                )
                .timeout(timeout),
            )?;
        }
    }
    say!("fixed: {}", fix.describe());
    Ok(())
}

/// The pull identity's resource id, after creating what is missing of it (identity, AcrPull).
fn pull_identity(ctx: &Ctx, names: &Names, yes: bool) -> Result<String, Error> {
    let mut w = provision::survey_registry(ctx, names)?;
    provision::survey_app(ctx, names, &mut w)?;
    let todo: Vec<provision::Change> = provision::changes(&w, true)
        .into_iter()
        .filter(|c| matches!(c, provision::Change::Identity | provision::Change::PullRole))
        .collect();
    if w.registry.is_none() {
        return Err(Error::failed(
            format!("registry {} does not exist", names.registry),
            "push the image first: `docker azdeploy push` creates the registry",
        ));
    }
    provision::create(ctx, names, &mut w, &todo, None, yes)?;
    w.identity.and_then(|i| i.id).ok_or_else(|| {
        Error::failed(
            format!("az printed no id for identity {}", names.identity()),
            "check `az identity show`, then run it again",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_command_per_fix() {
        let t = AppTarget {
            app: "web",
            rg: "rg",
        };
        let line = |f: Fix| {
            command(Cmd::new("az", "x"), &t, &f)
                .map(|c| c.shown_args().join(" "))
                .unwrap_or_default()
        };
        assert_eq!(
            line(Fix::TargetPort(8501)),
            "containerapp ingress update --name web --resource-group rg --target-port 8501 --output json"
        );
        assert_eq!(
            line(Fix::EnableIngress(8501)),
            "containerapp ingress enable --name web --resource-group rg --type external --target-port 8501 --transport auto --output json"
        );
        assert_eq!(
            line(Fix::Sticky),
            "containerapp ingress sticky-sessions set --name web --resource-group rg --affinity sticky --output json"
        );
        assert_eq!(
            line(Fix::Size(Size::DEFAULT)),
            "containerapp update --name web --resource-group rg --cpu 0.5 --memory 1Gi --output json"
        );
        assert_eq!(
            line(Fix::Scale { min: 1, max: 3 }),
            "containerapp update --name web --resource-group rg --min-replicas 1 --max-replicas 3 --output json"
        );
        assert_eq!(line(Fix::Registry("r.azurecr.io".into())), "");
    }
}
