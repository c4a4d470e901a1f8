//! `docker azdeploy build`: `docker buildx build` pinned to the target platform, then the
//! architecture gate; `--push` pushes only what passed it; `--remote acr` builds in ACR Tasks.
//!
//! Everything is worked out before buildx runs (context, Dockerfile, tags, build arguments), so
//! bad input fails with nothing started. stdout carries only the image reference, for scripts.

use camino::{Utf8Path, Utf8PathBuf};

use crate::azure::acr::{self, RemoteBuild};
use crate::checks::preflight::{self, Preflight};
use crate::cli::args::BuildArgs;
use crate::config::{CacheMode, ImageName, Overrides, Platform, Settings};
use crate::ctx::Ctx;
use crate::engine::docker::{self, BuildSpec, ImageInspect};
use crate::engine::emulation;
use crate::image::dockerfile::Dockerfile;
use crate::image::reference::ImageRef;
use crate::image::registry::{self, Registry};
use crate::image::{binaries, gate};
use crate::process::plan::Plan;
use crate::project::git;
use crate::project::state::{self, LastBuild, LastPush};
use crate::report::error::Error;
use crate::report::output;
use crate::sys::clock;

/// What a build knows before it starts, and learns as it goes.
struct Build {
    settings: Settings,
    dockerfile_text: String,
    spec: BuildSpec,
    /// The image id, once built.
    inspect: Option<ImageInspect>,
    /// The pushed manifest's digest (`--push`).
    digest: Option<String>,
}

pub fn run(ctx: &Ctx, args: &BuildArgs) -> Result<(), Error> {
    let (name, tag) = match &args.tag {
        Some(t) => split_tag(t)
            .map_err(|m| Error::usage(m, "use -t NAME or -t NAME:TAG, e.g. -t shop:1.2"))?,
        None => (None, None),
    };
    let settings = ctx.settings(&Overrides {
        image: name,
        platform: args.platform.clone(),
        context: args.context.clone(),
        dockerfile: args.file.clone(),
        build_args: args.build_args.clone(),
        remote: args.remote.clone(),
        builder: args.builder.clone(),
        cache: args.cache.clone(),
        ..Default::default()
    })?;
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
    let dockerfile_text = read_dockerfile(ctx, &settings)?;
    let tag = tag.unwrap_or_else(|| git::default_tag(ctx, &context));
    if settings.remote.value.is_some() {
        return remote(ctx, &settings, &tag, &dockerfile_text);
    }
    let repo = image_ref(&settings.image.value);
    if args.push && repo.host.is_none() {
        return Err(Error::usage(
            format!("--push needs a registry in the image name, not \"{}\"", settings.image.value),
            "tag it for your registry: -t myacr.azurecr.io/app:tag (or `docker azdeploy push` later)",
        ));
    }
    let spec = build_spec(ctx, &settings, &tag, args.no_cache)?;
    let mut b = Build {
        settings,
        dockerfile_text,
        spec,
        inspect: None,
        digest: None,
    };
    plan(ctx, args, &b.spec)?.execute(&ctx.runner, &mut b)?;
    let result = match &b.digest {
        Some(d) => format!("{}@{d}", b.spec.refs[0]),
        None => b.spec.refs[0].clone(),
    };
    output::stdout_line(&result)
}

/// The steps: gate the Dockerfile (before a push), the preflight, the build, the gate on the
/// result, the push, the record.
fn plan<'a>(ctx: &'a Ctx, args: &'a BuildArgs, spec: &BuildSpec) -> Result<Plan<'a, Build>, Error> {
    let (base, builder_flag) = crate::engine::builder::on_builder(
        ctx,
        "build the image with docker buildx",
        spec.builder.as_deref(),
    )?;
    let buildx = docker::buildx_build(
        base,
        &BuildSpec {
            builder: builder_flag,
            ..spec.clone()
        },
    )
    .dir(ctx.cwd.as_std_path())
    .hint("read buildx's output above; `docker azdeploy doctor` checks the engine, buildx and emulation");
    let shown = buildx.to_string();
    let pushes: Vec<String> = spec
        .refs
        .iter()
        .map(|r| format!("docker push {r}"))
        .collect();
    Ok(Plan::new()
        .when(args.push, |p| {
            p.query(
                "check the Dockerfile before anything can leave",
                |b: &mut Build| {
                    // A final stage pinned to another platform is caught from the text alone.
                    let path = b.settings.dockerfile_path();
                    let target = &b.spec.platform;
                    let d = Dockerfile::parse(&b.dockerfile_text);
                    gate::check(&[target.to_string()], target, Some((&d, &path)))
                },
            )
        })
        .when(!args.no_preflight, |p| {
            p.query("run the preflight", |b: &mut Build| run_preflight(ctx, b))
        })
        .step("build the image", vec![shown], move |b: &mut Build| {
            say!("Building {} for {}", b.spec.refs[0], b.spec.platform);
            ctx.runner
                .stream_watch(&buildx)
                .map(drop)
                .map_err(|e| diagnose_failed_build(ctx, &b.spec, e))
        })
        .query("check the image's architecture", |b: &mut Build| {
            gate_local(ctx, b)
        })
        .when(args.push, |p| {
            p.step("push it", pushes, |b: &mut Build| push_checked(ctx, b))
        })
        .step("record the build", vec![], |b: &mut Build| record(ctx, b)))
}

fn read_dockerfile(ctx: &Ctx, settings: &Settings) -> Result<String, Error> {
    std::fs::read_to_string(ctx.cwd.join(settings.dockerfile_path())).map_err(|e| {
        Error::usage(
            format!(
                "cannot read the Dockerfile {}: {e}",
                settings.dockerfile_path()
            ),
            "pass -f PATH, or write one with `docker azdeploy init --dockerfile`",
        )
    })
}

/// The buildx inputs: the context, the Dockerfile, the tags (the given one and `latest`), the
/// build arguments, the builder and the cache.
fn build_spec(
    ctx: &Ctx,
    settings: &Settings,
    tag: &str,
    no_cache: bool,
) -> Result<BuildSpec, Error> {
    let image = &settings.image.value.0;
    let mut refs = vec![format!("{image}:{tag}")];
    if tag != "latest" {
        refs.push(format!("{image}:latest"));
    }
    let builder = settings.builder.value.as_ref().map(|b| b.0.clone());
    let (cache_from, cache_to) = match &settings.cache.value {
        Some(CacheMode(m)) if m == "registry" => registry_cache(ctx, settings, builder.as_deref())?,
        _ => (Vec::new(), Vec::new()),
    };
    Ok(BuildSpec {
        context: settings.context.value.clone(),
        dockerfile: settings.dockerfile_path(),
        platform: settings.platform.value.clone(),
        refs,
        build_args: settings.build_args.value.clone().into_iter().collect(),
        builder,
        no_cache,
        cache_from,
        cache_to,
    })
}

fn run_preflight(ctx: &Ctx, b: &mut Build) -> Result<(), Error> {
    let d = Dockerfile::parse(&b.dockerfile_text);
    let path = b.settings.dockerfile_path();
    preflight::preflight(
        ctx,
        &Preflight {
            target: &b.spec.platform,
            builder: b.spec.builder.as_deref(),
            registry: b.settings.registry.value.as_ref().map(|r| r.0.as_str()),
            dockerfile: Some((&d, path.as_str())),
            port: b.settings.port.value.0,
            runs_target: !d.target_runs().is_empty(),
        },
    )?;
    let requirements = ctx.cwd.join(&b.spec.context).join("requirements.txt");
    preflight::wheel_preflight(ctx, &requirements, &b.spec.platform, &d, &b.spec.build_args)
}

/// The gate on the local result: its label, its final stage, and the program it starts.
fn gate_local(ctx: &Ctx, b: &mut Build) -> Result<(), Error> {
    let inspect: ImageInspect = ctx.runner.query_json(&docker::image_inspect(
        ctx.docker("inspect the built image")?,
        &b.spec.refs[0],
    ))?;
    let d = Dockerfile::parse(&b.dockerfile_text);
    gate::check(
        &[inspect.platform()],
        &b.spec.platform,
        Some((&d, &b.spec.dockerfile)),
    )?;
    binaries::check(
        ctx,
        &inspect,
        &b.spec.platform,
        d.final_base(&b.spec.build_args).as_deref(),
    )?;
    b.inspect = Some(inspect);
    Ok(())
}

/// `build --push`, after the gate passed on the local image: pushes each reference, then the
/// registry's copy must be the very image that was checked.
fn push_checked(ctx: &Ctx, b: &mut Build) -> Result<(), Error> {
    let id = b.inspect.as_ref().map(|i| i.id.clone()).unwrap_or_default();
    for r in &b.spec.refs {
        say!("Pushing {r}");
        registry::push(ctx, r)?;
    }
    let first = image_ref_str(&b.spec.refs[0])?;
    let back = registry::verify_pushed(ctx, &first, &id, &b.spec.platform)?;
    b.digest = Some(back.digest);
    Ok(())
}

fn record(ctx: &Ctx, b: &mut Build) -> Result<(), Error> {
    let inspect = b.inspect.as_ref();
    let d = Dockerfile::parse(&b.dockerfile_text);
    let shown = match &b.digest {
        Some(d) => format!("{}@{d}", b.spec.refs[0]),
        None => b.spec.refs[0].clone(),
    };
    say!(
        "{} {shown} ({}, image id {})",
        if b.digest.is_some() {
            "Pushed"
        } else {
            "Built"
        },
        inspect.map(|i| i.platform()).unwrap_or_default(),
        short_id(inspect.map(|i| i.id.as_str()).unwrap_or_default())
    );
    state::save(
        &ctx.cwd,
        &LastBuild {
            image: b.spec.refs[0].clone(),
            refs: b.spec.refs.clone(),
            id: inspect.map(|i| i.id.clone()),
            digest: b.digest.clone(),
            pushed: b.digest.is_some(),
            platform: b.spec.platform.to_string(),
            base: d.final_base(&b.spec.build_args),
            remote: None,
            built_at: clock::now_secs(),
        },
    )
}

/// A failed build whose output shows that a program could not run for the target (`exec
/// format error`, a QEMU crash, Rosetta's errors) drops the remembered preflight pass, which
/// vouched for emulation that just failed, and says what happened and how to fix it.
fn diagnose_failed_build(ctx: &Ctx, spec: &BuildSpec, e: Error) -> Error {
    let Error::Process(p) = &e else {
        return e;
    };
    let Some(sign) = emulation::failure_sign(&p.stderr_tail) else {
        return e;
    };
    let (target, builder) = (&spec.platform, spec.builder.as_deref());
    emulation::forget(ctx, &preflight::preflight_key(ctx, target, builder));
    let emulated = match crate::checks::engine::engine(ctx) {
        Ok((_, Some(server))) => server.arch != target.arch || builder.is_some(),
        _ => true,
    };
    let facts = crate::checks::emulation::host_facts(ctx, target);
    let (why, hint) = emulation::diagnose_build(&sign, target, emulated, &facts);
    Error::Failed {
        message: format!("{p}\n  cause: {why}"),
        hint: Some(hint),
        code: e.exit_code(),
    }
}

/// `build --remote acr`: the build runs natively on amd64 in ACR Tasks (no local engine, no
/// emulation) and lands in the registry, so the result is treated as pushed: its digest is
/// read back from ACR, gated on ACR's own record, and left in `.azdeploy/last-push.json` for
/// `deploy`.
fn remote(ctx: &Ctx, settings: &Settings, tag: &str, dockerfile_text: &str) -> Result<(), Error> {
    let target = &settings.platform.value;
    let registry = match Registry::configured(settings) {
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
    let dockerfile = settings.dockerfile_path();
    let context = settings.context.value.clone();
    let file = relative_to(&dockerfile, &context).ok_or_else(|| {
        Error::usage(
            format!("the Dockerfile {dockerfile} is outside the build context {context}: ACR Tasks only receives the context"),
            "move the Dockerfile into the context directory",
        )
    })?;
    let d = Dockerfile::parse(dockerfile_text);
    lint_before_remote(&d, &dockerfile, target, settings.port.value.0)?;
    let repo = image_ref(&settings.image.value).path;
    let mut images = vec![format!("{repo}:{tag}")];
    if tag != "latest" {
        images.push(format!("{repo}:latest"));
    }
    let server = acr::login_server(ctx, &Registry::Acr(registry.clone()))?;
    let b = RemoteBuild {
        registry: &registry,
        server: &server,
        images,
        target,
        file: file.as_str(),
        dockerfile: (&d, &dockerfile),
        build_args: settings.build_args.value.clone().into_iter().collect(),
        context: context.as_str(),
    };
    let cmd = acr::remote_build_cmd(ctx, &b)?;
    let mut pinned = format!("{server}/{}@<digest from ACR>", b.images[0]);
    Plan::new()
        .step(
            "build the image in ACR Tasks",
            vec![cmd.to_string()],
            |_: &mut ()| {
                say!(
                    "Building {server}/{} for {target} in ACR Tasks (native, no emulation)",
                    b.images[0]
                );
                // The log streams live; az's exit code passes through.
                ctx.runner.stream(&cmd)
            },
        )
        .query("read back and gate what ACR built", |_| {
            let (digest, found) = acr::read_back_remote(ctx, &b)?;
            pinned = format!("{server}/{}@{digest}", b.images[0]);
            record_remote(ctx, &b, &digest, &found)
        })
        .execute(&ctx.runner, &mut ())?;
    output::stdout_line(&pinned)
}

/// The Dockerfile lint still runs for a remote build; the engine checks do not.
fn lint_before_remote(
    d: &Dockerfile,
    path: &Utf8Path,
    target: &Platform,
    port: u16,
) -> Result<(), Error> {
    let lint = crate::checks::dockerfile::lint_checks(d, path.as_str(), target, port);
    crate::checks::say_warnings(&lint);
    match lint
        .iter()
        .find(|c| c.status == crate::checks::Status::Fail)
    {
        Some(c) => Err(Error::failed(
            format!("the Dockerfile would build the wrong image: {}", c.detail),
            c.hint.clone().unwrap_or_default(),
        )),
        None => Ok(()),
    }
}

fn record_remote(ctx: &Ctx, b: &RemoteBuild, digest: &str, found: &[String]) -> Result<(), Error> {
    let refs: Vec<String> = b
        .images
        .iter()
        .map(|i| format!("{}/{i}", b.server))
        .collect();
    let pinned = format!("{}@{digest}", refs[0]);
    state::save(
        &ctx.cwd,
        &LastBuild {
            image: refs[0].clone(),
            refs: refs.clone(),
            digest: Some(digest.to_string()),
            pushed: true,
            remote: Some("acr".into()),
            platform: b.target.to_string(),
            built_at: clock::now_secs(),
            ..Default::default()
        },
    )?;
    state::save(
        &ctx.cwd,
        &LastPush {
            reference: refs[0].clone(),
            refs,
            digest: digest.to_string(),
            pinned: pinned.clone(),
            registry: b.server.to_string(),
            platforms: found.to_vec(),
            remote: Some("acr".into()),
            pushed_at: clock::now_secs(),
            ..Default::default()
        },
    )?;
    say!("Built and pushed {pinned} ({})", found.join(", "));
    Ok(())
}

/// `path` relative to `base` (both relative to the same directory), if inside it.
fn relative_to(path: &Utf8Path, base: &Utf8Path) -> Option<Utf8PathBuf> {
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

/// The cache flags for `--cache registry`: the repository in the configured registry, the tag
/// of the last push from here, and the builder's driver decide them.
fn registry_cache(
    ctx: &Ctx,
    settings: &Settings,
    builder: Option<&str>,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let Some(registry) = Registry::configured(settings) else {
        return Err(Error::usage(
            "--cache registry needs the registry that holds the cache",
            "set \"azure\": {\"registry\": …} in azdeploy.json (or AZDEPLOY_REGISTRY)",
        ));
    };
    let host = acr::login_server(ctx, &registry)?;
    let repo = image_ref(&settings.image.value).path;
    let last_tag = state::load::<LastPush>(&ctx.cwd)
        .map(|p| p.reference)
        .or_else(|| {
            state::load::<LastBuild>(&ctx.cwd)
                .filter(|b| b.pushed)
                .map(|b| b.image)
        })
        .and_then(|r| r.parse::<ImageRef>().ok()?.tag)
        .unwrap_or_else(|| "latest".into());
    let (base, builder_flag) =
        crate::engine::builder::on_builder(ctx, "find the builder's driver", builder)?;
    let inspect = ctx
        .runner
        .query(&docker::buildx_inspect(base, builder_flag.as_deref()))?;
    let (_, driver) = crate::checks::engine::parse_inspect(&inspect);
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

fn image_ref_str(r: &str) -> Result<ImageRef, Error> {
    r.parse()
        .map_err(|e: String| Error::usage(e, "use -t NAME[:TAG]"))
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
