//! `docker azdeploy build --remote acr`: the build runs natively on amd64 in Azure Container
//! Registry Tasks (`az acr build`): no local engine, no emulation. The image lands in the
//! registry, so the result is treated as pushed: its digest is read back from ACR, the
//! architecture gate runs on ACR's own record of it, and `.azdeploy/last-push.json` holds the
//! pinned reference `deploy` takes. Only az is needed.

use std::str::FromStr;

use camino::Utf8Path;
use serde_json::json;

use crate::azure::{self, ManifestMetadata, RepositoryImage};
use crate::checks::{self, Status};
use crate::cmd::push::Registry;
use crate::config::Settings;
use crate::ctx::Ctx;
use crate::image::gate;
use crate::project::state;
use crate::report::error::Error;
use crate::report::output;
use crate::sys::clock;

pub fn build(
    ctx: &Ctx,
    settings: &Settings,
    tag: &str,
    dockerfile_text: &str,
) -> Result<(), Error> {
    let target = &settings.platform.value;
    let registry = match settings
        .registry
        .value
        .as_ref()
        .map(|r| Registry::parse(&r.0))
    {
        Some(Registry::Acr(name)) => name,
        Some(Registry::Host(h)) => {
            return Err(Error::usage(
                format!("--remote acr builds in an Azure Container Registry, not in {h}"),
                "set azure.registry (or AZDEPLOY_REGISTRY) to the registry's name, e.g. \"myacr\"",
            ))
        }
        None => return Err(Error::usage(
            "--remote acr needs the registry to build in",
            "set \"azure\": {\"registry\": \"<acr name>\"} in azdeploy.json (or AZDEPLOY_REGISTRY)",
        )),
    };
    // The Dockerfile lint still runs here; the engine checks do not (there is no local build).
    let dockerfile = settings.dockerfile_path();
    let lint = checks::lint_checks(
        dockerfile_text,
        dockerfile.as_str(),
        target,
        settings.port.value.0,
    );
    for c in lint.iter().filter(|c| c.status == Status::Warn) {
        say!("warning: {}: {}", c.name, c.detail);
    }
    if let Some(c) = lint.iter().find(|c| c.status == Status::Fail) {
        return Err(Error::failed(
            format!("the Dockerfile would build the wrong image: {}", c.detail),
            c.hint.clone().unwrap_or_default(),
        ));
    }
    let context = settings.context.value.clone();
    let file = relative_to(&dockerfile, &context).ok_or_else(|| {
        Error::usage(
            format!("the Dockerfile {dockerfile} is outside the build context {context}: ACR Tasks only receives the context"),
            "move the Dockerfile into the context directory",
        )
    })?;
    let repo = crate::image::reference::ImageRef::from_str(&settings.image.value.0)
        .map(|r| r.path)
        .unwrap_or_else(|_| settings.image.value.0.clone());
    let mut images = vec![format!("{repo}:{tag}")];
    if tag != "latest" {
        images.push(format!("{repo}:latest"));
    }
    let server = ctx.runner.query(
        &azure::acr_login_server(ctx.az("look up the registry's login server")?, &registry)
            .hint("check the registry name with `az acr list --output table`"),
    )?;
    say!(
        "Building {server}/{} for {target} in ACR Tasks (native, no emulation)",
        images[0]
    );
    let build_args: Vec<(String, String)> = settings.build_args.value.clone().into_iter().collect();
    let cmd = azure::acr_build(
        ctx.az("build the image in ACR Tasks")?,
        &registry,
        &images,
        &target.to_string(),
        file.as_str(),
        &build_args,
        context.as_str(),
    )
    .dir(ctx.cwd.as_std_path())
    .hint("read the ACR Tasks log above; `az acr task logs --registry <acr>` shows it again");
    // The log streams live; az's exit code passes through.
    ctx.runner.stream(&cmd)?;
    if ctx.runner.dry_run {
        return output::stdout_line(&format!("{server}/{}@<digest from ACR>", images[0]));
    }

    let shown: RepositoryImage = ctx.runner.query_json(&azure::acr_repository_show(
        ctx.az("read the built image's digest from ACR")?,
        &registry,
        &images[0],
    ))?;
    let digest = shown.digest.ok_or_else(|| Error::Parse {
        purpose: "read the built image's digest from ACR".into(),
        command: format!(
            "az acr repository show --name {registry} --image {}",
            images[0]
        ),
        detail: "no digest in the output".into(),
    })?;
    let manifests: Vec<ManifestMetadata> = ctx.runner.query_json(&azure::acr_manifests(
        ctx.az("read the built image's platform from ACR")?,
        &registry,
        &repo,
    ))?;
    let found: Vec<String> = manifests
        .iter()
        .filter(|m| m.digest.as_deref() == Some(digest.as_str()))
        .map(|m| {
            format!(
                "{}/{}",
                m.os.as_deref().unwrap_or("unknown"),
                m.architecture.as_deref().unwrap_or("unknown")
            )
        })
        .collect();
    if found.is_empty() {
        return Err(Error::failed(
            format!("ACR lists no manifest {digest} for {repo}: the architecture gate cannot run"),
            "check it with `az acr manifest list-metadata`; then push with `docker azdeploy push`",
        ));
    }
    gate::check(
        &found,
        target,
        Some((
            &crate::image::dockerfile::Dockerfile::parse(dockerfile_text),
            &dockerfile,
        )),
    )?;
    let pinned = format!("{server}/{}@{digest}", images[0]);
    let refs: Vec<String> = images.iter().map(|i| format!("{server}/{i}")).collect();
    state::write(
        ctx,
        state::LAST_BUILD,
        &json!({"image": refs[0], "refs": refs, "digest": digest, "pushed": true, "remote": "acr",
                "platform": target.to_string(), "built_at": clock::now_secs()}),
    )?;
    state::write(
        ctx,
        state::LAST_PUSH,
        &json!({"ref": refs[0], "refs": refs, "digest": digest, "pinned": pinned, "registry": server,
                "platforms": found, "remote": "acr", "pushed_at": clock::now_secs()}),
    )?;
    say!("Built and pushed {pinned} ({})", found.join(", "));
    output::stdout_line(&pinned)
}

/// `path` relative to `base` (both relative to the same directory), if inside it.
fn relative_to(path: &Utf8Path, base: &Utf8Path) -> Option<camino::Utf8PathBuf> {
    let clean = |p: &Utf8Path| -> Vec<String> {
        p.components()
            .map(|c| c.as_str().to_string())
            .filter(|c| c != ".")
            .collect()
    };
    let (p, b) = (clean(path), clean(base));
    if p.len() > b.len() && p[..b.len()] == b[..] {
        Some(p[b.len()..].join("/").into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_relative_to_the_context() {
        assert_eq!(
            relative_to("./Dockerfile".into(), ".".into()).unwrap(),
            "Dockerfile"
        );
        assert_eq!(
            relative_to("app/docker/Dockerfile".into(), "app".into()).unwrap(),
            "docker/Dockerfile"
        );
        assert!(relative_to("other/Dockerfile".into(), "app".into()).is_none());
    }
}
