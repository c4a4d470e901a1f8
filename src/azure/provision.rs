//! Azure from zero: what `push` (the registry) and `deploy` (everything an app needs) find
//! missing is planned, shown with the az command lines, confirmed (`--yes` for CI) and created
//! in order: resource group, registry, Container Apps environment, a user-assigned identity with
//! AcrPull on the registry (waited for until Azure lists it, before the app's first pull), then
//! the app from one spec (`azure::spec`). Only a clear "not found" from az leads to a create;
//! a timeout, a throttle or any other failure while looking stops with that error, and nothing
//! that exists is ever created again or replaced.
//!
//! May import: `azure::az`, `azure::model`, `azure::spec`, `image::registry`, `ctx`, `config`,
//! `process`, `sys`, `report`.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::az;
use super::model::{App, Resource, RoleAssignment};
use super::spec::{self, AppSpec};
use crate::config::{AppTarget, Settings};
use crate::ctx::Ctx;
use crate::image::registry::Registry;
use crate::process::plan::Plan;
use crate::process::runner::Cmd;
use crate::report::error::Error;
use crate::sys::{ask, files};

/// A read: az has no timeout of its own when the network hangs.
const READ: Duration = Duration::from_secs(120);
/// A create: an environment takes minutes in Azure.
const CREATE: Duration = Duration::from_secs(20 * 60);
/// How long a new role assignment may take to be listed before the app is created.
const ROLE_WAIT: Duration = Duration::from_secs(5 * 60);

/// What az prints when a resource (or its resource group) does not exist, and nothing else:
/// captured from az 2.91 (`tests/fixtures/az/not-found-*.stderr`). Exit codes do not tell:
/// `group show` exits 3, `containerapp show` and `acr show` exit 1, like any other failure.
const NOT_FOUND: &[&[&str]] = &[
    &["(ResourceGroupNotFound)"],
    &["(ResourceNotFound)"],
    // `acr show` looks the registry up in the subscription's resource list.
    &[
        "The resource with name '",
        "could not be found in subscription",
    ],
];

/// Whether az's stderr says "this resource does not exist" (and only that): a subscription that
/// cannot be found ("(SubscriptionNotFound) … could not be found") is a login problem, never a
/// reason to create.
pub fn not_found(stderr: &str) -> bool {
    !stderr.contains("SubscriptionNotFound")
        && NOT_FOUND
            .iter()
            .any(|needles| needles.iter().all(|n| stderr.contains(n)))
}

/// The resource `cmd` reads: `None` on a clear not-found; any other failure is returned as it
/// is, never taken as a reason to create.
pub fn look<T: DeserializeOwned>(ctx: &Ctx, cmd: Cmd) -> Result<Option<T>, Error> {
    match ctx.runner.query_json(&cmd.timeout(READ)) {
        Ok(found) => Ok(Some(found)),
        Err(Error::Process(p)) if not_found(&p.stderr_tail) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The names the settings give, and the ones derived from them.
#[derive(Debug, Clone)]
pub struct Names {
    pub rg: String,
    /// The region for new resources; `None`: the resource group's.
    pub location: Option<String>,
    /// The registry's ACR name.
    pub registry: String,
    /// The environment; `None`: the group's only one, else `<app>-env`.
    pub environment: Option<String>,
    pub app: String,
}

impl Names {
    /// From the settings, when the registry is an ACR (a name, or `<name>.azurecr.io`).
    pub fn from_settings(settings: &Settings, t: &AppTarget) -> Option<Names> {
        let registry = match Registry::configured(settings)? {
            Registry::Acr(name) => name,
            Registry::Host(h) => h.strip_suffix(".azurecr.io")?.to_string(),
        };
        Some(Names {
            rg: t.rg.to_string(),
            location: settings.location.value.as_ref().map(|l| l.0.clone()),
            registry,
            environment: settings.environment.value.as_ref().map(|e| e.0.clone()),
            app: t.app.to_string(),
        })
    }

    /// The identity the app pulls with.
    pub fn identity(&self) -> String {
        format!("{}-pull", self.app)
    }
}

/// What exists, read before anything is decided; filled in as steps create the rest.
#[derive(Debug, Default)]
pub struct World {
    pub group: Option<Resource>,
    pub registry: Option<Resource>,
    /// The environment's name, once chosen, and the resource when it exists.
    pub environment: Option<(String, Option<Resource>)>,
    pub identity: Option<Resource>,
    pub pull_role: bool,
    /// The app, once created.
    pub app: Option<App>,
}

/// One resource to create, in the order they are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Group,
    Registry,
    Environment,
    Identity,
    PullRole,
    App,
}

/// What is missing, in creation order: the registry's part, and with `app` the rest.
pub fn changes(w: &World, app: bool) -> Vec<Change> {
    let env_missing = w.environment.as_ref().is_none_or(|(_, r)| r.is_none());
    [
        (Change::Group, w.group.is_none()),
        (Change::Registry, w.registry.is_none()),
        (Change::Environment, app && env_missing),
        (Change::Identity, app && w.identity.is_none()),
        (Change::PullRole, app && !w.pull_role),
        (Change::App, app && w.app.is_none()),
    ]
    .into_iter()
    .filter_map(|(c, missing)| missing.then_some(c))
    .collect()
}

/// The login server of ACR `name`, after creating it (and its resource group `rg`, in
/// `location` or the group's region) when az says it does not exist.
pub fn registry_server(
    ctx: &Ctx,
    name: &str,
    rg: Option<&str>,
    location: Option<&str>,
    yes: bool,
) -> Result<String, Error> {
    let found: Option<Resource> = look(ctx, az::acr_show(ctx.az("look up the registry")?, name))?;
    let registry = match (found, rg) {
        (Some(r), _) => r,
        (None, None) => {
            return Err(Error::usage(
                format!("registry {name} does not exist, and no resource group is set to create it in"),
                "set \"azure\": {\"resource_group\": …, \"location\": …} in azdeploy.json to have it created, or check the name with `az acr list --output table`",
            ))
        }
        (None, Some(rg)) => {
            let n = Names {
                rg: rg.to_string(),
                location: location.map(str::to_string),
                registry: name.to_string(),
                environment: None,
                app: String::new(),
            };
            let mut w = World {
                group: look(ctx, az::group_show(ctx.az("look for the resource group")?, rg))?,
                ..Default::default()
            };
            let todo = changes(&w, false);
            create(ctx, &n, &mut w, &todo, None, yes)?;
            match w.registry {
                Some(r) => r,
                None if ctx.runner.dry_run => return Ok(format!("<login server of {name}>")),
                None => unreachable!("create made the registry or failed"),
            }
        }
    };
    registry.login_server.ok_or_else(|| {
        Error::failed(
            format!("az printed no loginServer for registry {name}"),
            "check it with `az acr show --name NAME`",
        )
    })
}

/// Reads the resource group and the registry (found in any resource group).
pub fn survey_registry(ctx: &Ctx, n: &Names) -> Result<World, Error> {
    let group = look(
        ctx,
        az::group_show(ctx.az("look for the resource group")?, &n.rg),
    )?;
    let registry = look(
        ctx,
        az::acr_show(ctx.az("look for the registry")?, &n.registry),
    )?;
    Ok(World {
        group,
        registry,
        ..Default::default()
    })
}

/// Reads what an app needs besides the registry: the environment (the configured one, the
/// group's only one, or `<app>-env`), the pull identity and its role on the registry.
pub fn survey_app(ctx: &Ctx, n: &Names, w: &mut World) -> Result<(), Error> {
    if w.group.is_none() {
        // Nothing can be in a group that does not exist.
        w.environment = Some((default_environment(n), None));
        return Ok(());
    }
    w.environment = Some(match &n.environment {
        Some(name) => {
            let found = look(
                ctx,
                az::env_show(ctx.az("look for the environment")?, name, &n.rg),
            )?;
            (name.clone(), found)
        }
        None => {
            let all: Vec<Resource> = ctx.runner.query_json(
                &az::env_list(ctx.az("list the group's environments")?, &n.rg).timeout(READ),
            )?;
            only_environment(n, all)?
        }
    });
    w.identity = look(
        ctx,
        az::identity_show(ctx.az("look for the pull identity")?, &n.identity(), &n.rg),
    )?;
    w.pull_role = match (&w.identity, &w.registry) {
        (Some(identity), Some(registry)) => has_pull_role(ctx, identity, registry)?,
        _ => false,
    };
    Ok(())
}

fn default_environment(n: &Names) -> String {
    format!("{}-env", n.app)
}

/// The group's environments → the one to use: the only one, or a new `<app>-env`; several is
/// a question only the user can answer.
fn only_environment(n: &Names, all: Vec<Resource>) -> Result<(String, Option<Resource>), Error> {
    match all.len() {
        0 => Ok((default_environment(n), None)),
        1 => {
            let env = all.into_iter().next().expect("one");
            Ok((env.name.clone().unwrap_or_default(), Some(env)))
        }
        _ => Err(Error::usage(
            format!(
                "resource group {} has {} Container Apps environments ({}): which one should {} run in?",
                n.rg,
                all.len(),
                all.iter()
                    .filter_map(|e| e.name.as_deref())
                    .collect::<Vec<_>>()
                    .join(", "),
                n.app
            ),
            "set \"azure\": {\"environment\": NAME} in azdeploy.json, or pass --environment NAME",
        )),
    }
}

/// Whether `identity` is listed with AcrPull on `registry` (inherited ones count).
fn has_pull_role(ctx: &Ctx, identity: &Resource, registry: &Resource) -> Result<bool, Error> {
    let (Some(principal), Some(scope)) = (&identity.principal_id, &registry.id) else {
        return Ok(false);
    };
    let listed: Vec<RoleAssignment> = ctx.runner.query_json(
        &az::pull_roles(ctx.az("read the registry's AcrPull assignments")?, scope).timeout(READ),
    )?;
    Ok(holds_pull(&listed, principal))
}

fn holds_pull(listed: &[RoleAssignment], principal: &str) -> bool {
    listed.iter().any(|a| {
        a.principal_id.as_deref() == Some(principal)
            && a.role_definition_name
                .as_deref()
                .is_none_or(|r| r.eq_ignore_ascii_case(az::ACR_PULL))
    })
}

/// Where new resources go: the configured region, else the resource group's.
pub fn location(n: &Names, w: &World) -> Result<String, Error> {
    n.location
        .clone()
        .or_else(|| w.group.as_ref()?.location.clone())
        .ok_or_else(|| {
            Error::usage(
                format!(
                    "resource group {} does not exist, and no region is set to create it in",
                    n.rg
                ),
                "set \"azure\": {\"location\": \"eastus\"} (any region: `az account list-locations --query [].name`), or pass --location",
            )
        })
}

/// One line per change for the plan, and the command lines it will run (ids not known yet
/// are shown as `<…>`).
pub fn describe(
    ctx: &Ctx,
    c: Change,
    n: &Names,
    w: &World,
    loc: &str,
    app: Option<&AppSpec>,
) -> Result<(String, Vec<String>), Error> {
    let az = || ctx.az("show the plan");
    let env = env_name(w, n);
    let id = |r: &Option<Resource>, what: &str| {
        r.as_ref()
            .and_then(|r| r.id.clone())
            .unwrap_or_else(|| format!("<id of {what}>"))
    };
    Ok(match c {
        Change::Group => (
            format!("create resource group {} in {loc}", n.rg),
            vec![az::group_create(az()?, &n.rg, loc).to_string()],
        ),
        Change::Registry => (
            format!(
                "create container registry {} (Basic, no admin user) in {}",
                n.registry, n.rg
            ),
            vec![az::acr_create(az()?, &n.registry, &n.rg, loc).to_string()],
        ),
        Change::Environment => (
            format!("create Container Apps environment {env} (no Log Analytics workspace; the log stream works without one)"),
            vec![az::env_create(az()?, &env, &n.rg, loc).to_string()],
        ),
        Change::Identity => (
            format!("create identity {} for pulling from {}", n.identity(), n.registry),
            vec![az::identity_create(az()?, &n.identity(), &n.rg, loc).to_string()],
        ),
        Change::PullRole => {
            let principal = w
                .identity
                .as_ref()
                .and_then(|i| i.principal_id.clone())
                .unwrap_or_else(|| format!("<principal of {}>", n.identity()));
            let scope = id(&w.registry, &n.registry);
            (
                format!(
                    "give {} AcrPull on {}, and wait until Azure lists it",
                    n.identity(),
                    n.registry
                ),
                vec![
                    az::pull_role_create(az()?, &principal, &scope).to_string(),
                    az::pull_roles(az()?, &scope).to_string(),
                ],
            )
        }
        Change::App => {
            let spec = app.expect("an app change comes with its spec");
            let mut lines = vec![az::app_create(az()?, &n.app, &n.rg, "<spec file>").to_string()];
            lines.push("spec file:".into());
            let shown = spec::app_spec(&with_ids(spec.clone(), n, w, loc));
            lines.extend(
                serde_json::to_string_pretty(&shown)
                    .expect("a JSON value serialises")
                    .lines()
                    .map(|l| format!("  {l}")),
            );
            (
                format!(
                    "create container app {}: external ingress on {} (auto transport{}), {}, {}-{} replicas, probes GET {}, image {}",
                    n.app,
                    spec.port,
                    if spec.sticky { ", sticky sessions" } else { "" },
                    spec.size.label(),
                    spec.min_replicas,
                    spec.max_replicas,
                    spec.health_path,
                    spec.image
                ),
                lines,
            )
        }
    })
}

fn env_name(w: &World, n: &Names) -> String {
    w.environment
        .as_ref()
        .map(|(name, _)| name.clone())
        .unwrap_or_else(|| default_environment(n))
}

/// `spec` with what only exists once created: the environment, identity and registry.
fn with_ids(mut spec: AppSpec, n: &Names, w: &World, loc: &str) -> AppSpec {
    let id = |r: &Option<Resource>, what: String| {
        r.as_ref()
            .and_then(|r| r.id.clone())
            .unwrap_or_else(|| format!("<id of {what}>"))
    };
    let env = w.environment.as_ref().and_then(|(_, r)| r.clone());
    spec.environment_id = id(&env, env_name(w, n));
    spec.identity_id = id(&w.identity, n.identity());
    spec.registry_server = w
        .registry
        .as_ref()
        .and_then(|r| r.login_server.clone())
        .unwrap_or_else(|| format!("<login server of {}>", n.registry));
    spec.location = env
        .and_then(|e| e.location)
        .map(|l| l.to_lowercase().replace(' ', ""))
        .unwrap_or_else(|| loc.to_string());
    spec
}

/// Shows the plan, asks (unless `--dry-run`, which only shows it), and creates what is missing
/// in order. `doing` names the command ("push", "deploy").
pub fn create(
    ctx: &Ctx,
    n: &Names,
    w: &mut World,
    todo: &[Change],
    app: Option<&AppSpec>,
    yes: bool,
) -> Result<(), Error> {
    if todo.is_empty() {
        return Ok(());
    }
    let loc = location(n, w)?;
    let described: Vec<(String, Vec<String>)> = todo
        .iter()
        .map(|c| describe(ctx, *c, n, w, &loc, app))
        .collect::<Result<_, _>>()?;
    if !ctx.runner.dry_run {
        say!("Missing in Azure; to be created in {loc}:");
        for (what, _) in &described {
            say!("  + {what}");
        }
        let question = format!(
            "Create {} {}?",
            todo.len(),
            if todo.len() == 1 {
                "resource"
            } else {
                "resources"
            }
        );
        ask::confirm(&question, yes, || ctx.runner.cancel().check())?;
    }
    let mut plan = Plan::new();
    for (c, (what, shows)) in todo.iter().zip(described) {
        let c = *c;
        let loc = loc.clone();
        plan = plan.step(what, shows, move |w: &mut World| {
            make(ctx, c, n, w, &loc, app)
        });
    }
    plan.execute(&ctx.runner, w)
}

/// Creates one resource and records it in `w`.
fn make(
    ctx: &Ctx,
    c: Change,
    n: &Names,
    w: &mut World,
    loc: &str,
    app: Option<&AppSpec>,
) -> Result<(), Error> {
    let run = |cmd: Cmd| -> Result<Resource, Error> { ctx.runner.query_json(&cmd.timeout(CREATE)) };
    match c {
        Change::Group => {
            w.group = Some(run(az::group_create(
                ctx.az("create the resource group")?,
                &n.rg,
                loc,
            ))?)
        }
        Change::Registry => {
            w.registry = Some(run(az::acr_create(
                ctx.az("create the container registry")?,
                &n.registry,
                &n.rg,
                loc,
            ))?)
        }
        Change::Environment => {
            let name = env_name(w, n);
            let made = run(az::env_create(
                ctx.az("create the Container Apps environment")?,
                &name,
                &n.rg,
                loc,
            ))?;
            w.environment = Some((name, Some(made)));
        }
        Change::Identity => {
            w.identity = Some(run(az::identity_create(
                ctx.az("create the pull identity")?,
                &n.identity(),
                &n.rg,
                loc,
            ))?)
        }
        Change::PullRole => grant_pull(ctx, n, w)?,
        Change::App => {
            let spec = with_ids(
                app.expect("an app change comes with its spec").clone(),
                n,
                w,
                loc,
            );
            let dir = files::temp_dir("azdeploy-app-spec-")?;
            let path = camino::Utf8Path::from_path(dir.path())
                .expect("temp dirs are UTF-8")
                .join("app.yaml");
            let text = serde_json::to_string_pretty(&spec::app_spec(&spec))
                .expect("a JSON value serialises");
            files::write_atomic(&path, text.as_bytes(), files::Existing::Replace)?;
            let made: App = ctx.runner.query_json(
                &az::app_create(
                    ctx.az("create the container app")?,
                    &n.app,
                    &n.rg,
                    path.as_str(),
                )
                .timeout(CREATE),
            )?;
            w.app = Some(made);
        }
    }
    Ok(())
}

/// AcrPull for the identity on the registry, then the wait until Azure lists it: an app created
/// before that fails its first pull.
fn grant_pull(ctx: &Ctx, n: &Names, w: &mut World) -> Result<(), Error> {
    let missing = |what: &str| {
        Error::failed(
            format!("cannot give {} AcrPull: az printed no {what}", n.identity()),
            "check `az identity show` and `az acr show`, then run it again",
        )
    };
    let identity = w.identity.as_ref().ok_or_else(|| missing("identity"))?;
    let registry = w.registry.as_ref().ok_or_else(|| missing("registry"))?;
    let principal = identity
        .principal_id
        .clone()
        .ok_or_else(|| missing("principalId"))?;
    let scope = registry.id.clone().ok_or_else(|| missing("registry id"))?;
    ctx.runner.run(
        &az::pull_role_create(
            ctx.az("give the identity AcrPull on the registry")?,
            &principal,
            &scope,
        )
        .timeout(CREATE),
    )?;
    let start = Instant::now();
    let mut delay = Duration::from_secs(2);
    while !has_pull_role(ctx, identity, registry)? {
        if start.elapsed() >= ROLE_WAIT {
            return Err(Error::failed(
                format!(
                    "{} was given AcrPull on {}, but Azure did not list it within {} s",
                    n.identity(),
                    n.registry,
                    ROLE_WAIT.as_secs()
                ),
                "role assignments can take minutes to spread; run the same command again: what exists is kept",
            ));
        }
        say!(
            "waiting for the AcrPull assignment to be listed ({:.0} s)",
            start.elapsed().as_secs_f64()
        );
        ctx.runner.cancel().sleep(delay)?;
        delay = (delay * 2).min(Duration::from_secs(15));
    }
    w.pull_role = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            rg: "rg1".into(),
            location: None,
            registry: "myacr1".into(),
            environment: None,
            app: "web".into(),
        }
    }

    fn res(name: &str) -> Option<Resource> {
        Some(Resource {
            id: Some(format!("/subscriptions/s/x/{name}")),
            name: Some(name.into()),
            location: Some("westeurope".into()),
            login_server: Some("myacr1.azurecr.io".into()),
            principal_id: Some("p-1".into()),
        })
    }

    #[test]
    fn not_found_only_for_az_not_found_answers() {
        let fixture = |name: &str| {
            std::fs::read_to_string(format!(
                "{}/tests/fixtures/az/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        for f in [
            "not-found-group.stderr",
            "not-found-acr.stderr",
            "not-found-containerapp.stderr",
            "not-found-env-group-missing.stderr",
        ] {
            assert!(not_found(&fixture(f)), "{f}");
        }
        for f in [
            "throttled.stderr",
            "server-error.stderr",
            "logged-out.stderr",
        ] {
            assert!(!not_found(&fixture(f)), "{f}: not a reason to create");
        }
    }

    #[test]
    fn only_what_is_missing_in_creation_order() {
        let empty = World::default();
        assert_eq!(changes(&empty, false), [Change::Group, Change::Registry]);
        assert_eq!(
            changes(&empty, true),
            [
                Change::Group,
                Change::Registry,
                Change::Environment,
                Change::Identity,
                Change::PullRole,
                Change::App
            ]
        );
        let most = World {
            group: res("rg1"),
            registry: res("myacr1"),
            environment: Some(("e".into(), res("e"))),
            identity: res("web-pull"),
            pull_role: true,
            app: None,
        };
        assert_eq!(changes(&most, true), [Change::App]);
        assert_eq!(changes(&most, false), []);
        let no_role = World {
            pull_role: false,
            ..most
        };
        assert_eq!(changes(&no_role, true), [Change::PullRole, Change::App]);
    }

    #[test]
    fn region_from_settings_else_the_group_else_a_usage_error() {
        let mut n = names();
        let w = World::default();
        let e = location(&n, &w).unwrap_err();
        assert!(
            e.to_string().contains("resource group rg1 does not exist"),
            "{e}"
        );
        assert!(e.hint().unwrap().contains("\"location\""));
        let with_group = World {
            group: res("rg1"),
            ..Default::default()
        };
        assert_eq!(location(&n, &with_group).unwrap(), "westeurope");
        n.location = Some("eastus".into());
        assert_eq!(location(&n, &with_group).unwrap(), "eastus");
    }

    #[test]
    fn the_environment_is_the_only_one_or_new_or_a_question() {
        let n = names();
        let none = only_environment(&n, vec![]).unwrap();
        assert_eq!((none.0.as_str(), none.1.is_none()), ("web-env", true));
        let one = only_environment(&n, vec![res("shared").unwrap()]).unwrap();
        assert_eq!(one.0, "shared");
        assert!(one.1.is_some());
        let e = only_environment(&n, vec![res("a").unwrap(), res("b").unwrap()]).unwrap_err();
        assert!(
            e.to_string()
                .contains("has 2 Container Apps environments (a, b)"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 125);
    }

    #[test]
    fn pull_role_held_by_principal() {
        let listed: Vec<RoleAssignment> = serde_json::from_str(include_str!(
            "../../tests/fixtures/az/role-assignment-list-acrpull.json"
        ))
        .unwrap();
        let holder = listed[0].principal_id.clone().unwrap();
        assert!(holds_pull(&listed, &holder));
        assert!(!holds_pull(&listed, "someone-else"));
        assert!(!holds_pull(&[], &holder));
    }
}
