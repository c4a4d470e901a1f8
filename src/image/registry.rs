//! Registries: where an image goes (an ACR by name, or any registry host), what a registry holds
//! under a reference (read back, never assumed), and pushing an image that already passed the
//! gate here, then checking the registry holds that very image.
//!
//! May import: `image::reference`, `image::gate`, `engine`, `ctx`, `config`, `process`, `report`.

use crate::config::{Platform, Settings};
use crate::ctx::Ctx;
use crate::engine::docker::{self, Pushed, RawManifest};
use crate::image::reference::{is_registry_host, ImageRef};
use crate::report::error::Error;

/// Where to push: an ACR (by name, logged in through az) or any other registry host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registry {
    Acr(String),
    Host(String),
}

impl Registry {
    /// The configured `azure.registry`, if any.
    pub fn configured(settings: &Settings) -> Option<Registry> {
        settings
            .registry
            .value
            .as_ref()
            .map(|r| Registry::parse(&r.0))
    }

    /// A registry host (`myacr.azurecr.io`, `localhost:5000`) by docker's rule; anything else
    /// is an ACR name.
    pub fn parse(s: &str) -> Registry {
        if is_registry_host(s) {
            Registry::Host(s.to_string())
        } else {
            Registry::Acr(s.to_string())
        }
    }
}

/// What a registry holds under a reference.
#[derive(Debug, Clone)]
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

/// Whether a failed registry call says the registry wants credentials we did not give: none
/// (`no basic auth credentials`, a read with no login here) or refused ones (an ACR token that
/// expired during a long push).
pub fn refused_credentials(e: &Error) -> bool {
    let Error::Process(p) = e else {
        return false;
    };
    let said = p.stderr_tail.to_lowercase();
    [
        "unauthorized",
        "authentication required",
        "no basic auth credentials",
        "may require authorization",
    ]
    .iter()
    .any(|w| said.contains(w))
}

/// `docker push reference`, its output shown live and kept for the hint.
pub fn push(ctx: &Ctx, reference: &str) -> Result<(), Error> {
    let host = reference.split('/').next().unwrap_or(reference);
    ctx.runner
        .stream_tail(
            &docker::push(ctx.docker("push the image")?, reference)
                .hint(format!("log in to {host} first: `docker login {host}`")),
        )
        .map(drop)
}

/// After a push: the registry's copy under `reference` must carry the target platform and be
/// the very image (`image_id`) the gate checked here. Returns what it read.
pub fn verify_pushed(
    ctx: &Ctx,
    reference: &ImageRef,
    image_id: &str,
    target: &Platform,
) -> Result<ReadBack, Error> {
    let back = read_back(ctx, reference, target)?;
    crate::image::gate::check(&back.platforms, target, None)?;
    if back.config.as_deref() != Some(image_id) {
        return Err(Error::failed(
            format!(
                "the registry's copy of {reference} is not the image checked here (its image id is {}, this one's {image_id})",
                back.config.as_deref().unwrap_or("unknown"),
            ),
            "push again; if it persists, something else writes to that tag",
        ));
    }
    Ok(back)
}

/// The registry tags made here for a push: removed again unless the push succeeded, so a
/// failed push leaves the local image list as it found it.
pub struct Tags<'a> {
    ctx: &'a Ctx,
    created: std::cell::RefCell<Vec<String>>,
    keep: std::cell::Cell<bool>,
}

impl<'a> Tags<'a> {
    pub fn new(ctx: &'a Ctx) -> Tags<'a> {
        Tags {
            ctx,
            created: Default::default(),
            keep: Default::default(),
        }
    }

    /// `docker tag source target`, remembered for removal when `target` was not there before.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), Error> {
        let ctx = self.ctx;
        let existed = ctx
            .runner
            .probe(&docker::image_inspect(
                ctx.docker("look for the tag")?,
                target,
            ))?
            .success();
        ctx.runner.run(&docker::tag(
            ctx.docker("tag the image for the registry")?,
            source,
            target,
        ))?;
        if !existed && !ctx.runner.dry_run {
            self.created.borrow_mut().push(target.to_string());
        }
        Ok(())
    }

    /// The push succeeded: the tags stay.
    pub fn keep(&self) {
        self.keep.set(true);
    }
}

impl Drop for Tags<'_> {
    fn drop(&mut self) {
        let created = self.created.borrow();
        if self.keep.get() || created.is_empty() {
            return;
        }
        if let Ok(base) = self.ctx.docker("remove the tags of the failed push") {
            let _ = self.ctx.runner.cleanup(&docker::untag(base, &created));
        }
    }
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
            Registry::parse("localhost"),
            Registry::Host("localhost".into()),
            "the same rule as image references"
        );
        assert_eq!(
            Registry::parse("127.0.0.1:5000"),
            Registry::Host("127.0.0.1:5000".into())
        );
    }
}
