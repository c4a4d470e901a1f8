//! `docker azdeploy push`: log in fresh, tag and push to ACR (or any registry), then read the
//! pushed manifest back and gate it: only the target platform leaves, and stdout carries the
//! pinned reference `<ref>@<digest>` that `deploy` takes.

use std::time::Duration;

use serde_json::json;

use crate::azure::{self, Token};
use crate::cli::args::PushArgs;
use crate::config::Overrides;
use crate::config::Platform;
use crate::ctx::Ctx;
use crate::engine::docker::{self, ImageInspect, Pushed, RawManifest};
use crate::image::gate;
use crate::image::reference::{is_registry_host, ImageRef};
use crate::project::state;
use crate::report::error::Error;
use crate::report::output;

/// `az acr login` probes the registry with no timeout of its own.
const AZ_LOGIN_TIMEOUT: Duration = Duration::from_secs(120);

/// Where to push: an ACR (by name, logged in through az) or any other registry host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registry {
    Acr(String),
    Host(String),
}

impl Registry {
    /// A host contains a dot or a colon (`myacr.azurecr.io`, `localhost:5000`); anything else is
    /// an ACR name.
    pub fn parse(s: &str) -> Registry {
        if is_registry_host(s) {
            Registry::Host(s.to_string())
        } else {
            Registry::Acr(s.to_string())
        }
    }
}

pub fn run(ctx: &Ctx, args: &PushArgs) -> Result<(), Error> {
    let settings = ctx.settings(&Overrides {
        platform: args.platform.clone(),
        registry: args.registry.clone(),
        ..Default::default()
    })?;
    // The registry `deploy` takes images from only ever receives what Azure runs.
    let deploy_registry = ctx
        .settings(&Overrides {
            platform: args.platform.clone(),
            ..Default::default()
        })?
        .registry
        .value;
    let feeds_deploy =
        deploy_registry.is_some() && (args.registry.is_none() || args.registry == deploy_registry);
    if feeds_deploy && !settings.platform.value.is_azure() {
        return Err(Error::failed(
            format!(
                "azure.registry {} is where `deploy` takes images from, and Azure Container Apps runs linux/amd64 only: \
                 refusing to push a {} image ({}) there",
                deploy_registry.as_ref().map(|r| r.0.as_str()).unwrap_or_default(),
                settings.platform.value,
                settings.platform.source
            ),
            "build for linux/amd64 (the default platform), or push this image elsewhere with --registry HOST",
        ));
    }
    let target = if feeds_deploy {
        crate::config::default_platform()
    } else {
        settings.platform.value.clone()
    };
    let Some(registry) = settings
        .registry
        .value
        .as_ref()
        .map(|r| Registry::parse(&r.0))
    else {
        return Err(Error::usage(
            "no registry to push to",
            "pass --registry <acr name or host>, or set \"azure\": {\"registry\": …} in azdeploy.json",
        ));
    };
    let image = match &args.image {
        Some(i) => i.clone(),
        None => state::field(ctx, state::LAST_BUILD, "image")
            .unwrap_or_else(|| format!("{}:latest", settings.image.value)),
    };
    let local: ImageRef = image
        .parse()
        .map_err(|e: String| Error::usage(e, "name a local image: NAME[:TAG], e.g. shop:1.2"))?;
    let inspect: ImageInspect = ctx.runner.query_json(
        &docker::image_inspect(ctx.docker("inspect the image to push")?, &image)
            .hint("build it first: `docker azdeploy build` (or name an image: `docker azdeploy push IMAGE`)"),
    )?;
    // Before anything leaves this machine: the local image must be for the target, by its
    // label and by the program it starts.
    gate::check(&[inspect.platform()], &target, None)?;
    let base = state::read(ctx, state::LAST_BUILD)
        .filter(|b| b["id"] == inspect.id.as_str())
        .and_then(|b| b["base"].as_str().map(str::to_string));
    crate::image::binaries::check(ctx, &inspect, &target, base.as_deref())?;
    check_tested(ctx, &inspect.id, args.require_tested)?;

    let server = match &registry {
        Registry::Host(h) => h.clone(),
        Registry::Acr(name) => ctx.runner.query(
            &azure::acr_login_server(ctx.az("look up the registry's login server")?, name)
                .hint("check the registry name with `az acr list --output table`"),
        )?,
    };
    let (repo, local_tag) = (local.path.clone(), local.tag.clone());
    let tags: Vec<String> = if args.tags.is_empty() {
        vec![local_tag.unwrap_or_else(|| "latest".into())]
    } else {
        args.tags.clone()
    };
    let refs: Vec<String> = tags
        .iter()
        .map(|t| format!("{server}/{repo}:{t}"))
        .collect();

    // az runs the docker on its PATH without our global flags: when either would be wrong, it
    // only hands out a token and we log in ourselves.
    let use_token =
        args.expose_token || !ctx.globals.forward.is_empty() || !ctx.tools.docker_is_on_path();
    login(ctx, &registry, &server, use_token)?;
    let mut tags = Tags {
        ctx,
        created: Vec::new(),
        keep: false,
    };
    for r in &refs {
        let existed = ctx
            .runner
            .probe(&docker::image_inspect(ctx.docker("look for the tag")?, r))?
            .success();
        ctx.runner.run(&docker::tag(
            ctx.docker("tag the image for the registry")?,
            &image,
            r,
        ))?;
        if !existed && !ctx.runner.dry_run {
            tags.created.push(r.clone());
        }
    }
    for r in &refs {
        say!("Pushing {r}");
        push_once_more_on_expiry(ctx, &registry, &server, r, use_token)?;
    }
    if ctx.runner.dry_run {
        return output::stdout_line(&format!("{}@<digest after the push>", refs[0]));
    }

    let pushed: ImageRef = refs[0].parse().map_err(|e: String| {
        Error::usage(
            e,
            "pass --registry as a host (myacr.azurecr.io) or an ACR name",
        )
    })?;
    let back = read_back(ctx, &pushed, &target)?;
    gate::check(&back.platforms, &target, None)?;
    if back.config.as_deref() != Some(inspect.id.as_str()) {
        return Err(Error::failed(
            format!(
                "the registry's copy of {} is not the image checked here (its image id is {}, this one's {})",
                refs[0],
                back.config.as_deref().unwrap_or("unknown"),
                inspect.id
            ),
            "push again; if it persists, something else writes to that tag",
        ));
    }
    let (digest, found) = (back.digest, back.platforms);
    let pinned = format!("{}@{digest}", refs[0]);
    let record = json!({
        "image": image,
        "image_id": inspect.id,
        "ref": refs[0],
        "refs": refs,
        "digest": digest,
        "pinned": pinned,
        "registry": server,
        "platforms": found,
        "pushed_at": crate::sys::clock::now_secs(),
    });
    state::write(ctx, state::LAST_PUSH, &record)?;
    tags.keep = true;
    say!("Pushed {pinned} ({})", found.join(", "));
    output::stdout_line(&pinned)
}

/// The registry tags `push` created here: removed again unless the push succeeded, so a failed
/// push leaves the local image list as it found it.
struct Tags<'a> {
    ctx: &'a Ctx,
    created: Vec<String>,
    keep: bool,
}

impl Drop for Tags<'_> {
    fn drop(&mut self) {
        if self.keep || self.created.is_empty() {
            return;
        }
        if let Ok(base) = self.ctx.docker("remove the tags of the failed push") {
            let _ = self
                .ctx
                .runner
                .cleanup(&base.args(["image", "rm"]).args(&self.created));
        }
    }
}

/// What a registry holds under a reference.
pub struct ReadBack {
    pub digest: String,
    /// `os/arch[/variant]` of the image, or of each child of an index (`unknown/unknown` for
    /// attestations).
    pub platforms: Vec<String>,
    /// The manifest for the target (the index's child, or the manifest itself).
    pub manifest: Option<String>,
    /// Its config's digest: the image id, which names the very same files everywhere.
    pub config: Option<String>,
}

/// Reads back what the registry holds under `reference`: the manifest (its digest, and for an
/// index its children, attestations included), the platforms, and the image id of the manifest
/// for `target`.
pub fn read_back(ctx: &Ctx, reference: &ImageRef, target: &Platform) -> Result<ReadBack, Error> {
    let cmd = docker::imagetools_json(
        ctx.docker("read what the registry holds")?,
        &reference.to_string(),
    );
    let pushed: Pushed = ctx.runner.query_json(&cmd)?;
    let platforms = pushed.platforms().ok_or_else(|| Error::Parse {
        purpose: "read what the registry holds".into(),
        command: cmd.to_string(),
        detail: "no os/architecture in the image config".into(),
    })?;
    let manifest = pushed.manifest_for(target).map(str::to_string);
    let config = match &manifest {
        Some(d) => {
            let raw: RawManifest = ctx.runner.query_json(&docker::imagetools_raw(
                ctx.docker("read the image's manifest from the registry")?,
                &reference.pinned(d),
            ))?;
            raw.config.map(|c| c.digest)
        }
        None => None,
    };
    Ok(ReadBack {
        digest: pushed.manifest.digest,
        platforms,
        manifest,
        config,
    })
}

/// Logs in right before the push (ACR tokens last about 3 hours). With `use_token`, az only
/// hands out a token and we run `docker login` ourselves, with docker's global flags, the token
/// on stdin; otherwise `az acr login` runs docker itself. A plain host relies on the user's own
/// `docker login`.
fn login(ctx: &Ctx, registry: &Registry, server: &str, use_token: bool) -> Result<(), Error> {
    let Registry::Acr(name) = registry else {
        return Ok(());
    };
    if !use_token {
        let cmd = azure::acr_login(ctx.az("log in to the registry")?, name)
            .timeout(AZ_LOGIN_TIMEOUT)
            .hint("check the network and `az account show`; --expose-token logs in without az running docker");
        ctx.runner.run(&cmd)?;
        return Ok(());
    }
    let token_cmd = azure::acr_token(ctx.az("get a registry token")?, name)
        .timeout(AZ_LOGIN_TIMEOUT)
        .hint("check the network and `az account show`");
    let token: Token = ctx.runner.query_json(&token_cmd)?;
    let login_server = if token.login_server.is_empty() {
        server
    } else {
        &token.login_server
    };
    let cmd = docker::login(
        ctx.docker("log in to the registry with the token")?,
        login_server,
        azure::TOKEN_USER,
        &token.access_token,
    );
    ctx.runner.run(&cmd)?;
    Ok(())
}

/// Pushes `reference`; when an ACR refuses it as unauthorized (a token that expired during a
/// long push), logs in again and retries once.
fn push_once_more_on_expiry(
    ctx: &Ctx,
    registry: &Registry,
    server: &str,
    reference: &str,
    use_token: bool,
) -> Result<(), Error> {
    let cmd = docker::push(ctx.docker("push the image")?, reference)
        .hint(format!("log in to {server} first: `docker login {server}`"));
    match ctx.runner.stream_tail(&cmd) {
        Err(Error::Process(p))
            if matches!(registry, Registry::Acr(_))
                && (p.stderr_tail.contains("unauthorized")
                    || p.stderr_tail.contains("authentication required")) =>
        {
            say!("The registry refused the push (an expired token?): logging in again and retrying once");
            login(ctx, registry, server, use_token)?;
            ctx.runner.stream_tail(&cmd).map(drop)
        }
        other => other.map(drop),
    }
}

/// Warns (or with `--require-tested` fails) when this image id has not passed `test-local`.
fn check_tested(ctx: &Ctx, image_id: &str, require: bool) -> Result<(), Error> {
    let last = state::read(ctx, state::LAST_TEST);
    let tested = last
        .as_ref()
        .is_some_and(|v| v["image_id"] == image_id && v["healthy"] == true);
    if tested {
        return Ok(());
    }
    let message = "this image has not passed `docker azdeploy test-local` here".to_string();
    let hint = "run `docker azdeploy test-local --check` first".to_string();
    if require {
        return Err(Error::failed(format!("{message} (--require-tested)"), hint));
    }
    say!("warning: {message}");
    say!("  hint: {hint}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_and_hosts() {
        assert_eq!(Registry::parse("myacr"), Registry::Acr("myacr".into()));
        assert_eq!(
            Registry::parse("myacr.azurecr.io"),
            Registry::Host("myacr.azurecr.io".into())
        );
        assert_eq!(
            Registry::parse("127.0.0.1:5000"),
            Registry::Host("127.0.0.1:5000".into())
        );
    }
}
