//! Azure Container Registry through az: its login server, a fresh login right before a push
//! (ACR tokens last about 3 hours), and builds in ACR Tasks (native amd64, no local engine, no
//! emulation), whose result is read back from ACR's own records and gated.
//!
//! May import: `azure::az`, `azure::model`, `image`, `engine`, `ctx`, `config`, `process`,
//! `report`.

use std::time::Duration;

use camino::Utf8Path;

use super::az;
use super::model::{ManifestIndex, ManifestMetadata, RepositoryImage, Token};
use crate::config::{Platform, Settings};
use crate::ctx::Ctx;
use crate::engine::docker;
use crate::image::dockerfile::Dockerfile;
use crate::image::reference::ImageRef;
use crate::image::{admit, gate, registry::Registry};
use crate::report::error::Error;

/// `az acr login` probes the registry with no timeout of its own.
const AZ_LOGIN_TIMEOUT: Duration = Duration::from_secs(120);

/// The login server of `registry`: a host as it is, an ACR name through `az acr show`.
pub fn login_server(ctx: &Ctx, registry: &Registry) -> Result<String, Error> {
    match registry {
        Registry::Host(h) => Ok(h.clone()),
        Registry::Acr(name) => ctx.runner.query(
            &az::acr_login_server(ctx.az("look up the registry's login server")?, name)
                .hint("check the registry name with `az acr list --output table`"),
        ),
    }
}

/// Logs in right before a push. With `use_token`, az only hands out a token and we run `docker
/// login` ourselves, with docker's global flags, the token on stdin; otherwise `az acr login`
/// runs docker itself. A plain host relies on the user's own `docker login`.
pub fn login(ctx: &Ctx, registry: &Registry, server: &str, use_token: bool) -> Result<(), Error> {
    let Registry::Acr(name) = registry else {
        return Ok(());
    };
    if !use_token {
        let cmd = az::acr_login(ctx.az("log in to the registry")?, name)
            .timeout(AZ_LOGIN_TIMEOUT)
            .hint("check the network and `az account show`; --expose-token logs in without az running docker");
        ctx.runner.run(&cmd)?;
        return Ok(());
    }
    let token_cmd = az::acr_token(ctx.az("get a registry token")?, name)
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
        az::TOKEN_USER,
        &token.access_token,
    );
    ctx.runner.run(&cmd)?;
    Ok(())
}

/// Whether az should only hand out a token and we log docker in ourselves: az runs the docker
/// on its PATH without our global flags, so when either would be wrong (or `asked`).
pub fn wants_token(ctx: &Ctx, asked: bool) -> bool {
    asked || !ctx.globals.forward.is_empty() || !ctx.tools.docker_is_on_path()
}

/// The architecture gate on the registry's copy (`admit::for_azure`). When the registry wants
/// a login to be read and the image is in the project's ACR (`azure.registry`), one fresh login as
/// `push` makes and one more read: a deploy right after `build --remote acr`, or after docker's
/// ACR token expired, needs no `az acr login` by hand. Any other registry keeps its hint.
pub fn admit(ctx: &Ctx, image: &ImageRef, settings: &Settings) -> Result<(), Error> {
    let registry = Registry::configured(settings);
    let Some(registry @ Registry::Acr(_)) = registry.as_ref() else {
        return admit::for_azure(ctx, image);
    };
    admit::for_azure_or_login(ctx, image, &|| {
        let server = login_server(ctx, registry)?;
        if !image
            .host
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(&server))
        {
            return Ok(false);
        }
        say!("{server} wants a login to be read: logging in through az, as push does");
        login(ctx, registry, &server, wants_token(ctx, false))?;
        Ok(true)
    })
}

/// A build in ACR Tasks: what to build and where.
pub struct RemoteBuild<'a> {
    pub registry: &'a str,
    pub server: &'a str,
    /// `repo:tag`, the first being the one reported.
    pub images: Vec<String>,
    pub target: &'a Platform,
    /// The Dockerfile relative to the context (ACR Tasks receives only the context).
    pub file: &'a str,
    pub dockerfile: (&'a Dockerfile<'a>, &'a Utf8Path),
    pub build_args: Vec<(String, String)>,
    pub context: &'a str,
}

/// The `az acr build` command line for `b`.
pub fn remote_build_cmd(ctx: &Ctx, b: &RemoteBuild) -> Result<crate::process::runner::Cmd, Error> {
    Ok(az::acr_build(
        ctx.az("build the image in ACR Tasks")?,
        b.registry,
        &b.images,
        &b.target.to_string(),
        b.file,
        &b.build_args,
        b.context,
    )
    .dir(ctx.cwd.as_std_path())
    .hint("read the ACR Tasks log above; `az acr task logs --registry <acr>` shows it again"))
}

/// After `az acr build`: the digest ACR holds for the first image, and the platforms ACR's own
/// record of that manifest names, gated. Returns (digest, platforms).
pub fn read_back_remote(ctx: &Ctx, b: &RemoteBuild) -> Result<(String, Vec<String>), Error> {
    let show = az::acr_repository_show(
        ctx.az("read the built image's digest from ACR")?,
        b.registry,
        &b.images[0],
    );
    let shown: RepositoryImage = ctx.runner.query_json(&show)?;
    let digest = shown.digest.ok_or_else(|| Error::Parse {
        purpose: "read the built image's digest from ACR".into(),
        command: show.to_string(),
        detail: "no digest in the output".into(),
    })?;
    let repo = b.images[0].split(':').next().unwrap_or_default();
    let manifests: Vec<ManifestMetadata> = ctx.runner.query_json(&az::acr_manifests(
        ctx.az("read the built image's platform from ACR")?,
        b.registry,
        repo,
    ))?;
    let entry = manifests
        .iter()
        .find(|m| m.digest.as_deref() == Some(digest.as_str()));
    let found: Vec<String> = match entry {
        None => Vec::new(),
        // An image index carries no platform of its own: its children do.
        Some(m) if m.os.is_none() && m.architecture.is_none() => {
            let index: ManifestIndex = ctx.runner.query_json(&az::acr_manifest_show(
                ctx.az("read the built image index from ACR")?,
                b.registry,
                &format!("{repo}@{digest}"),
            ))?;
            index.platforms()
        }
        Some(m) => vec![format!(
            "{}/{}",
            m.os.as_deref().unwrap_or("unknown"),
            m.architecture.as_deref().unwrap_or("unknown")
        )],
    };
    if found.is_empty() {
        return Err(Error::failed(
            format!("ACR lists no manifest {digest} for {repo}: the architecture gate cannot run"),
            "check it with `az acr manifest list-metadata`; then push with `docker azdeploy push`",
        ));
    }
    gate::check(&found, b.target, Some(b.dockerfile))?;
    Ok((digest, found))
}
