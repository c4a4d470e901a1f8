//! `docker azdeploy push`: the local image must pass the architecture gate before anything
//! leaves; then a fresh login, tag and push to ACR (or any registry), and the pushed manifest is
//! read back: it must be the very image checked here. stdout carries the pinned reference
//! `<ref>@<digest>` that `deploy` takes.

use crate::azure::{acr, provision};
use crate::cli::args::PushArgs;
use crate::config::{default_platform, Overrides, Platform, RegistryName, Settings};
use crate::ctx::Ctx;
use crate::engine::docker::{self, ImageInspect};
use crate::image::reference::ImageRef;
use crate::image::registry::{self, Registry, Tags};
use crate::image::{binaries, gate};
use crate::process::plan::Plan;
use crate::project::state::{self, LastBuild, LastPush, LastTest};
use crate::report::error::Error;
use crate::report::output;
use crate::sys::clock;

/// What a push knows before it starts, and learns as it goes.
struct Push {
    image: String,
    target: Platform,
    registry: Registry,
    server: String,
    refs: Vec<String>,
    inspect: Option<ImageInspect>,
    pinned: Option<String>,
}

pub fn run(ctx: &Ctx, args: &PushArgs) -> Result<(), Error> {
    let settings = ctx.settings(&Overrides {
        platform: args.platform.clone(),
        registry: args.registry.clone(),
        ..Default::default()
    })?;
    let target = push_target(ctx, args, &settings)?;
    let Some(registry) = Registry::configured(&settings) else {
        return Err(Error::usage(
            "no registry to push to",
            "pass --registry <acr name or host>, or set \"azure\": {\"registry\": …} in azdeploy.json",
        ));
    };
    let image = match &args.image {
        Some(i) => i.clone(),
        None => state::load::<LastBuild>(&ctx.cwd)
            .map(|b| b.image)
            .unwrap_or_else(|| format!("{}:latest", settings.image.value)),
    };
    let local: ImageRef = image
        .parse()
        .map_err(|e: String| Error::usage(e, "name a local image: NAME[:TAG], e.g. shop:1.2"))?;
    let mut p = Push {
        image,
        target,
        registry,
        server: String::new(),
        refs: Vec::new(),
        inspect: None,
        pinned: None,
    };
    // Before anything leaves, and before az is asked anything: the gate.
    gate_local(ctx, &mut p, args.require_tested)?;
    p.server = match &p.registry {
        Registry::Acr(name) => provision::registry_server(
            ctx,
            name,
            settings.resource_group.value.as_ref().map(|g| g.0.as_str()),
            settings.location.value.as_ref().map(|l| l.0.as_str()),
            args.yes,
        )?,
        Registry::Host(h) => h.clone(),
    };
    let tags = if args.tags.is_empty() {
        vec![local.tag.clone().unwrap_or_else(|| "latest".into())]
    } else {
        args.tags.clone()
    };
    p.refs = tags
        .iter()
        .map(|t| format!("{}/{}:{t}", p.server, local.path))
        .collect();
    let use_token = acr::wants_token(ctx, args.expose_token);
    let tagged = Tags::new(ctx);
    let shows: Vec<String> = p
        .refs
        .iter()
        .flat_map(|r| {
            [
                format!("docker tag {} {r}", p.image),
                format!("docker push {r}"),
            ]
        })
        .collect();
    Plan::new()
        .step("log in, tag and push", shows, |p: &mut Push| {
            push_refs(ctx, p, &tagged, use_token)
        })
        .step(
            "check what the registry holds, and record it",
            vec![],
            |p: &mut Push| verify_and_record(ctx, p),
        )
        .execute(&ctx.runner, &mut p)?;
    if ctx.runner.dry_run {
        return output::stdout_line(&format!("{}@<digest after the push>", p.refs[0]));
    }
    tagged.keep();
    output::stdout_line(p.pinned.as_deref().unwrap_or_default())
}

/// The platform the pushed image must have: into the registry `deploy` takes images from
/// (`azure.registry`), only linux/amd64, whatever `platform` says.
fn push_target(ctx: &Ctx, args: &PushArgs, settings: &Settings) -> Result<Platform, Error> {
    let deploy_registry: Option<RegistryName> = ctx
        .settings(&Overrides {
            platform: args.platform.clone(),
            ..Default::default()
        })?
        .registry
        .value;
    let feeds_deploy =
        deploy_registry.is_some() && (args.registry.is_none() || args.registry == deploy_registry);
    if !feeds_deploy {
        return Ok(settings.platform.value.clone());
    }
    if !settings.platform.value.is_azure() {
        return Err(Error::failed(
            format!(
                "azure.registry {} is where `deploy` takes images from, and Azure Container Apps runs linux/amd64 only: \
                 refusing to push a {} image ({}) there",
                deploy_registry.map(|r| r.0).unwrap_or_default(),
                settings.platform.value,
                settings.platform.source
            ),
            "build for linux/amd64 (the default platform), or push this image elsewhere with --registry HOST",
        ));
    }
    Ok(default_platform())
}

/// Before anything leaves this machine: the local image's label and the program it starts
/// must be the target's; and it should have passed `test-local`.
fn gate_local(ctx: &Ctx, p: &mut Push, require_tested: bool) -> Result<(), Error> {
    let inspect: ImageInspect = ctx.runner.query_json(
        &docker::image_inspect(ctx.docker("inspect the image to push")?, &p.image)
            .hint("build it first: `docker azdeploy build` (or name an image: `docker azdeploy push IMAGE`)"),
    )?;
    gate::check(&[inspect.platform()], &p.target, None)?;
    let base = state::load::<LastBuild>(&ctx.cwd)
        .filter(|b| b.id.as_deref() == Some(inspect.id.as_str()))
        .and_then(|b| b.base);
    binaries::check(ctx, &inspect, &p.target, base.as_deref())?;
    check_tested(ctx, &inspect.id, require_tested)?;
    p.inspect = Some(inspect);
    Ok(())
}

/// Logs in right before the push (ACR tokens last about 3 hours), tags, and pushes each
/// reference; an ACR that refuses a push as unauthorized (a token that expired during a long
/// push) gets one more login and one retry.
fn push_refs(ctx: &Ctx, p: &mut Push, tags: &Tags, use_token: bool) -> Result<(), Error> {
    acr::login(ctx, &p.registry, &p.server, use_token)?;
    for r in &p.refs {
        tags.tag(&p.image, r)?;
    }
    for r in &p.refs {
        say!("Pushing {r}");
        match registry::push(ctx, r) {
            Err(e)
                if matches!(p.registry, Registry::Acr(_)) && registry::refused_credentials(&e) =>
            {
                say!("The registry refused the push (an expired token?): logging in again and retrying once");
                acr::login(ctx, &p.registry, &p.server, use_token)?;
                registry::push(ctx, r)?;
            }
            other => other?,
        }
    }
    Ok(())
}

/// The registry's copy must carry the target and be the image checked here; then the pinned
/// reference is recorded for `deploy`.
fn verify_and_record(ctx: &Ctx, p: &mut Push) -> Result<(), Error> {
    let inspect = p.inspect.as_ref().expect("gated before the push");
    let first: ImageRef = p.refs[0].parse().map_err(|e: String| {
        Error::usage(
            e,
            "pass --registry as a host (myacr.azurecr.io) or an ACR name",
        )
    })?;
    let back = registry::verify_pushed(ctx, &first, &inspect.id, &p.target)?;
    let pinned = format!("{}@{}", p.refs[0], back.digest);
    state::save(
        &ctx.cwd,
        &LastPush {
            image: Some(p.image.clone()),
            image_id: Some(inspect.id.clone()),
            reference: p.refs[0].clone(),
            refs: p.refs.clone(),
            digest: back.digest.clone(),
            pinned: pinned.clone(),
            registry: p.server.clone(),
            platforms: back.platforms.clone(),
            remote: None,
            pushed_at: clock::now_secs(),
        },
    )?;
    say!("Pushed {pinned} ({})", back.platforms.join(", "));
    p.pinned = Some(pinned);
    Ok(())
}

/// Warns (or with `--require-tested` fails) when this image id has not passed `test-local`.
fn check_tested(ctx: &Ctx, image_id: &str, require: bool) -> Result<(), Error> {
    if state::load::<LastTest>(&ctx.cwd).is_some_and(|t| t.passed(image_id)) {
        return Ok(());
    }
    let message = "this image has not passed `docker azdeploy test-local` here";
    let hint = "run `docker azdeploy test-local --check` first";
    if require {
        return Err(Error::failed(format!("{message} (--require-tested)"), hint));
    }
    say!("warning: {message}");
    say!("  hint: {hint}");
    Ok(())
}
