//! `docker azdeploy build`: `docker buildx build` pinned to the target platform, then the
//! architecture gate.
//!
//! Everything is worked out before buildx runs (context, Dockerfile, tags, build arguments), so
//! bad input fails with nothing started. After the build, `docker image inspect` must report the
//! target os/arch; otherwise the build fails, naming the `FROM --platform=…` line that caused it.
//! stdout carries only the image reference, for scripts.

use camino::Utf8Path;
use serde_json::json;

use crate::checks;
use crate::cli::args::BuildArgs;
use crate::config::{ImageName, Overrides};
use crate::ctx::Ctx;
use crate::engine::docker::{self, BuildSpec, ImageInspect};
use crate::engine::emulation;
use crate::image::binaries;
use crate::image::dockerfile::Dockerfile;
use crate::image::gate;
use crate::image::reference::{valid_tag, ImageRef};
use crate::process::runner::Cmd;
use crate::project::state;
use crate::report::error::Error;
use crate::report::output;
use crate::sys::clock;

pub fn run(ctx: &Ctx, args: &BuildArgs) -> Result<(), Error> {
    let (name, tag) = match &args.tag {
        Some(t) => split_tag(t)
            .map_err(|m| Error::usage(m, "use -t NAME or -t NAME:TAG, e.g. -t shop:1.2"))?,
        None => (None, None),
    };
    let flags = Overrides {
        image: name,
        platform: args.platform.clone(),
        context: args.context.clone(),
        dockerfile: args.file.clone(),
        build_args: args.build_args.clone(),
        remote: args.remote.clone(),
        builder: args.builder.clone(),
        cache: args.cache.clone(),
        ..Default::default()
    };
    let settings = ctx.settings(&flags)?;
    let context = ctx.cwd.join(&settings.context.value);
    if !context.is_dir() {
        return Err(Error::usage(
            format!(
                "build context {} is not a directory",
                settings.context.value
            ),
            "pass the app's directory as CONTEXT, or set build.context in azdeploy.json",
        ));
    }
    let dockerfile = ctx.cwd.join(settings.dockerfile_path());
    let dockerfile_text = std::fs::read_to_string(&dockerfile).map_err(|e| {
        Error::usage(
            format!(
                "cannot read the Dockerfile {}: {e}",
                settings.dockerfile_path()
            ),
            "pass -f PATH, or write one with `docker azdeploy init --dockerfile`",
        )
    })?;
    if settings.remote.value.is_some() {
        let tag = match tag {
            Some(t) => t,
            None => default_tag(ctx, &context),
        };
        return crate::cmd::remote::build(ctx, &settings, &tag, &dockerfile_text);
    }
    if args.push && image_ref(&settings.image.value).host.is_none() {
        return Err(Error::usage(
            format!("--push needs a registry in the image name, not \"{}\"", settings.image.value),
            "tag it for your registry: -t myacr.azurecr.io/app:tag (or `docker azdeploy push` later)",
        ));
    }
    if args.push {
        // Nothing reaches a registry that would fail the gate, preflight or not: a final stage
        // pinned to another platform is caught from the text alone.
        let dockerfile_path = settings.dockerfile_path();
        let target = settings.platform.value.to_string();
        gate::check(
            &[target],
            &settings.platform.value,
            Some((&Dockerfile::parse(&dockerfile_text), &dockerfile_path)),
        )?;
    }
    if !args.no_preflight {
        let dockerfile_path = settings.dockerfile_path();
        checks::preflight(
            ctx,
            &settings.platform.value,
            settings.builder.value.as_ref().map(|b| b.0.as_str()),
            settings.registry.value.as_ref().map(|r| r.0.as_str()),
            Some((&dockerfile_text, dockerfile_path.as_str())),
            settings.port.value.0,
        )?;
    }
    if !args.no_preflight {
        let requirements = context.join("requirements.txt");
        checks::wheel_preflight(
            ctx,
            &requirements,
            &settings.platform.value,
            &dockerfile_text,
        )?;
    }
    let tag = match tag {
        Some(t) => t,
        None => default_tag(ctx, &context),
    };
    let image = settings.image.value.0.clone();
    let mut refs = vec![format!("{image}:{tag}")];
    if tag != "latest" {
        refs.push(format!("{image}:latest"));
    }
    let spec = BuildSpec {
        context: settings.context.value.clone(),
        dockerfile: settings.dockerfile_path(),
        platform: settings.platform.value.clone(),
        refs,
        build_args: settings.build_args.value.clone().into_iter().collect(),
        builder: settings.builder.value.as_ref().map(|b| b.0.clone()),
        no_cache: args.no_cache,
        cache_from: Vec::new(),
        cache_to: Vec::new(),
    };
    let spec = match settings.cache.value.as_ref().map(|c| c.0.as_str()) {
        Some("registry") => {
            let (cache_from, cache_to) = registry_cache(ctx, &settings, spec.builder.as_deref())?;
            BuildSpec {
                cache_from,
                cache_to,
                ..spec
            }
        }
        _ => spec,
    };

    say!("Building {} for {}", spec.refs[0], spec.platform);
    let builder = spec.builder.clone();
    let (base, builder_flag) =
        ctx.docker_on_builder("build the image with docker buildx", builder.as_deref())?;
    // Always loaded here first: with --push, nothing leaves before the gate passed.
    let spec = BuildSpec {
        builder: builder_flag,
        ..spec
    };
    let build = docker::buildx_build(base, &spec)
    .dir(ctx.cwd.as_std_path())
    .hint("read buildx's output above; `docker azdeploy doctor` checks the engine, buildx and emulation");
    if let Err(e) = ctx.runner.stream_watch(&build) {
        return Err(diagnose_failed_build(
            ctx,
            &spec.platform,
            builder.as_deref(),
            e,
        ));
    }
    if ctx.runner.dry_run {
        return output::stdout_line(&spec.refs[0]);
    }

    let inspect = image_inspect(ctx, &spec.refs[0])?;
    let parsed = Dockerfile::parse(&dockerfile_text);
    let base = parsed.final_base(&spec.build_args);
    gate::check(
        &[inspect.platform()],
        &spec.platform,
        Some((&parsed, &spec.dockerfile)),
    )?;
    binaries::check(ctx, &inspect, &spec.platform, base.as_deref())?;
    let (result, digest) = if args.push {
        let digest = push_checked(ctx, &spec.refs, &inspect, &spec.platform)?;
        (format!("{}@{digest}", spec.refs[0]), Some(digest))
    } else {
        (spec.refs[0].clone(), None)
    };
    say!(
        "{} {} ({}, image id {})",
        if args.push { "Pushed" } else { "Built" },
        result,
        inspect.platform(),
        short_id(&inspect.id)
    );

    let record = json!({
        "image": spec.refs[0],
        "refs": spec.refs,
        "id": inspect.id,
        "digest": digest,
        "pushed": args.push,
        "platform": spec.platform.to_string(),
        "base": base,
        "built_at": clock::now_secs(),
    });
    state::write(ctx, state::LAST_BUILD, &record)?;
    output::stdout_line(&result)
}

/// `build --push`, after the gate passed on the local image: pushes each reference, then reads
/// the registry's copy back; it must be the very image that was checked. Returns the digest.
fn push_checked(
    ctx: &Ctx,
    refs: &[String],
    inspect: &ImageInspect,
    target: &crate::config::Platform,
) -> Result<String, Error> {
    for r in refs {
        say!("Pushing {r}");
        let host = r.split('/').next().unwrap_or(r);
        ctx.runner.stream_tail(
            &docker::push(ctx.docker("push the image")?, r)
                .hint(format!("log in to {host} first: `docker login {host}`")),
        )?;
    }
    let first: ImageRef = refs[0]
        .parse()
        .map_err(|e: String| Error::usage(e, "use -t NAME[:TAG]"))?;
    let back = crate::cmd::push::read_back(ctx, &first, target)?;
    gate::check(&back.platforms, target, None)?;
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
    Ok(back.digest)
}

/// A failed build whose output shows that a program could not run for the target (`exec
/// format error`, a QEMU crash, Rosetta's errors) drops the remembered preflight pass, which
/// vouched for emulation that just failed, and says what happened and how to fix it.
fn diagnose_failed_build(
    ctx: &Ctx,
    target: &crate::config::Platform,
    builder: Option<&str>,
    e: Error,
) -> Error {
    let Error::Process(p) = &e else {
        return e;
    };
    let Some(sign) = emulation::failure_sign(&p.stderr_tail) else {
        return e;
    };
    emulation::forget(ctx, &checks::preflight_key(ctx, target, builder));
    let emulated = match checks::engine(ctx) {
        Ok((_, Some(server))) => server.arch != target.arch || builder.is_some(),
        _ => true,
    };
    let facts = emulation::host_facts(
        std::env::consts::OS,
        std::env::consts::ARCH,
        &ctx.host_root(),
        ctx.home(),
        target,
    );
    let (why, hint) = emulation::diagnose_build(&sign, target, emulated, &facts);
    Error::Failed {
        message: format!("{p}\n  cause: {why}"),
        hint: Some(hint),
        code: e.exit_code(),
    }
}

fn image_inspect(ctx: &Ctx, reference: &str) -> Result<ImageInspect, Error> {
    let cmd: Cmd = docker::image_inspect(ctx.docker("inspect the built image")?, reference);
    ctx.runner.query_json(&cmd)
}

/// Splits `-t NAME[:TAG]` (a `:` after the last `/`, so `host:5000/app` has no tag).
pub fn split_tag(s: &str) -> Result<(Option<ImageName>, Option<String>), String> {
    let r: ImageRef = s.parse().map_err(|e| format!("invalid tag: {e}"))?;
    if r.digest.is_some() {
        return Err(format!(
            "invalid tag \"{s}\": a build cannot be named by a digest"
        ));
    }
    Ok((Some(ImageName(r.repository())), r.tag))
}

/// The git commit (`abc1234`, `abc1234-dirty`), or a UTC timestamp outside git.
fn default_tag(ctx: &Ctx, context: &Utf8Path) -> String {
    if let Some(git) = ctx.tools.git() {
        let base =
            Cmd::new(&git, "read the git commit for the image tag").args(["-C", context.as_str()]);
        let head = ctx
            .runner
            .probe(&base.clone().args(["rev-parse", "--short", "HEAD"]));
        if let Some(h) = head.ok().filter(|p| p.success()) {
            let sha = h.stdout.trim().to_string();
            let status = ctx.runner.probe(&base.args([
                "status",
                "--porcelain",
                "--",
                ":/",
                // Our own state files never make the tree dirty.
                ":(exclude,glob)**/.azdeploy/**",
            ]));
            let dirty = status.is_ok_and(|s| s.success() && !s.stdout.trim().is_empty());
            if valid_tag(&sha) {
                return if dirty { format!("{sha}-dirty") } else { sha };
            }
        }
    }
    clock::tag(clock::now_secs())
}

/// The cache flags for `--cache registry`: the repository in the configured registry, the tag
/// of the last push from here, and the builder's driver decide them.
fn registry_cache(
    ctx: &Ctx,
    settings: &crate::config::Settings,
    builder: Option<&str>,
) -> Result<(Vec<String>, Vec<String>), Error> {
    use crate::cmd::push::Registry;
    let host = match settings
        .registry
        .value
        .as_ref()
        .map(|r| Registry::parse(&r.0))
    {
        Some(Registry::Host(h)) => h,
        Some(Registry::Acr(name)) => ctx.runner.query(&crate::azure::acr_login_server(
            ctx.az("look up the registry's login server")?,
            &name,
        ))?,
        None => {
            return Err(Error::usage(
                "--cache registry needs the registry that holds the cache",
                "set \"azure\": {\"registry\": …} in azdeploy.json (or AZDEPLOY_REGISTRY)",
            ))
        }
    };
    let repo = image_ref(&settings.image.value).path;
    let last_tag = state::field(ctx, state::LAST_PUSH, "ref")
        .or_else(|| {
            let built = state::read(ctx, state::LAST_BUILD)?;
            (built["pushed"] == true).then(|| built["image"].as_str().map(str::to_string))?
        })
        .and_then(|r| r.parse::<ImageRef>().ok()?.tag)
        .unwrap_or_else(|| "latest".into());
    let (base, builder_flag) = ctx.docker_on_builder("find the builder's driver", builder)?;
    let mut inspect = base.args(["buildx", "inspect"]);
    if let Some(b) = builder_flag {
        inspect = inspect.arg(b);
    }
    let (_, driver) = checks::parse_inspect(&ctx.runner.query(&inspect)?);
    Ok(docker::registry_cache(
        &driver,
        &format!("{host}/{repo}"),
        &last_tag,
    ))
}

/// A validated image name as a reference.
fn image_ref(name: &ImageName) -> ImageRef {
    name.0.parse().expect("an ImageName is a reference")
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let (n, t) = split_tag("shop:1.2").unwrap();
        assert_eq!((n.unwrap().0, t.as_deref()), ("shop".into(), Some("1.2")));
        let (n, t) = split_tag("localhost:5000/team/shop").unwrap();
        assert_eq!((n.unwrap().0, t), ("localhost:5000/team/shop".into(), None));
        let (_, t) = split_tag("myacr.azurecr.io/shop:abc-dirty").unwrap();
        assert_eq!(t.as_deref(), Some("abc-dirty"));
        for bad in ["Shop:1", "shop:", "shop:-x", "shop:a b", ":1", "shop:1:2"] {
            assert!(split_tag(bad).is_err(), "{bad}");
        }
    }
}
