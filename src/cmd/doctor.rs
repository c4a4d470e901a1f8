//! `docker azdeploy doctor`: every check at once, in parallel, then one verdict.
//!
//! The table (or `--json`) is the result and goes to stdout; the exit code is 0 when nothing
//! failed, 1 otherwise. Unlike the build preflight, the emulation probe is never taken from
//! the cache here: doctor is what you run when you doubt it.

use std::time::Instant;

use serde_json::json;

use crate::azure::fix::{self, Fix};
use crate::azure::provision::Names;
use crate::checks::{self, Check, Status};
use crate::cli::args::DoctorArgs;
use crate::config::{Overrides, Platform, Settings};
use crate::ctx::Ctx;
use crate::python::requirements::Index;
use crate::report::error::Error;
use crate::report::output;

/// Runs `f` and stamps how long it took on every check it returns.
fn timed(f: impl FnOnce() -> Result<Vec<Check>, Error>) -> Result<Vec<Check>, Error> {
    let t = Instant::now();
    let mut checks = f()?;
    let ms = t.elapsed().as_millis() as u64;
    for c in &mut checks {
        c.ms = ms;
    }
    Ok(checks)
}

pub fn run(ctx: &Ctx, args: &DoctorArgs) -> Result<(), Error> {
    let settings = ctx.settings(&Overrides {
        platform: args.platform.clone(),
        ..Default::default()
    })?;
    let mut all = all_checks(ctx, args, &settings)?;
    if args.fix {
        all = fixed(ctx, args, &settings, all)?;
    }
    let ok = all.iter().all(|c| c.status != Status::Fail);
    if args.json {
        output::stdout_json(&json!({"ok": ok, "checks": all}))?;
    } else {
        output::stdout_line(&checks::render(&all))?;
        let fails = all.iter().filter(|c| c.status == Status::Fail).count();
        let warns = all.iter().filter(|c| c.status == Status::Warn).count();
        say!(
            "doctor: {}: {fails} failed, {warns} warnings",
            settings.platform.value
        );
    }
    if ok {
        Ok(())
    } else {
        Err(Error::Reported(1))
    }
}

/// Every check, in groups run side by side (the emulation probe sets the pace), in a stable
/// order.
fn all_checks(ctx: &Ctx, args: &DoctorArgs, settings: &Settings) -> Result<Vec<Check>, Error> {
    let target = &settings.platform.value;
    let builder = args.builder.as_deref();
    let registry = settings.registry.value.as_ref().map(|r| r.0.as_str());
    let results: Vec<Result<Vec<Check>, Error>> = std::thread::scope(|s| {
        let groups = vec![
            s.spawn(|| engine_and_emulation(ctx, target, builder, registry)),
            s.spawn(|| timed(|| Ok(vec![checks::engine::buildx(ctx, builder)?]))),
            s.spawn(|| timed(|| Ok(vec![checks::emulation::host(ctx, target)]))),
            s.spawn(|| {
                timed(|| match checks::engine::engine(ctx)?.1 {
                    Some(srv) => checks::engine::builders(ctx, target, registry, Some(&srv.arch)),
                    None => Ok(Vec::new()),
                })
            }),
            s.spawn(|| timed(|| Ok(checks::dockerfile::dockerfile(ctx, settings)))),
            s.spawn(|| timed(|| Ok(vec![checks::engine::port(settings)]))),
            s.spawn(|| timed(|| checks::azure::azure(ctx, settings, args.azure))),
            s.spawn(|| timed(|| app_checks(ctx, settings))),
            s.spawn(|| timed(|| wheels(ctx, args, settings))),
        ];
        groups
            .into_iter()
            .map(|g| g.join().expect("a check panicked"))
            .collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// The container app's Azure settings, when an app is configured.
fn app_checks(ctx: &Ctx, settings: &Settings) -> Result<Vec<Check>, Error> {
    Ok(checks::app::for_doctor(ctx, settings)?
        .into_iter()
        .map(|f| f.check)
        .collect())
}

/// `--fix`: the app's findings that az can change are changed (each one said), then read
/// again; the other checks stay as they were.
fn fixed(
    ctx: &Ctx,
    args: &DoctorArgs,
    settings: &Settings,
    all: Vec<Check>,
) -> Result<Vec<Check>, Error> {
    let found = checks::app::for_doctor(ctx, settings)?;
    let fixes: Vec<Fix> = found
        .iter()
        .filter(|f| matches!(f.check.status, Status::Fail | Status::Warn))
        .filter_map(|f| f.fix.clone())
        .collect();
    let Ok(t) = settings.app_target() else {
        return Ok(all);
    };
    if fixes.is_empty() {
        say!("doctor --fix: nothing az can change");
        return Ok(all);
    }
    let names = Names::from_settings(settings, &t);
    for f in &fixes {
        fix::apply(ctx, &t, names.as_ref(), f, args.fix)?;
    }
    let again: Vec<Check> = checks::app::for_doctor(ctx, settings)?
        .into_iter()
        .map(|f| f.check)
        .collect();
    let app_names: Vec<String> = found.iter().map(|f| f.check.name.clone()).collect();
    let mut out: Vec<Check> = all
        .into_iter()
        .filter(|c| !app_names.contains(&c.name))
        .collect();
    out.extend(again);
    Ok(out)
}

/// The engine, then the emulation probe on it, each timed.
fn engine_and_emulation(
    ctx: &Ctx,
    target: &Platform,
    builder: Option<&str>,
    registry: Option<&str>,
) -> Result<Vec<Check>, Error> {
    let t = Instant::now();
    let (mut engine, server) = checks::engine::engine(ctx)?;
    let ms = t.elapsed().as_millis() as u64;
    engine.iter_mut().for_each(|c| c.ms = ms);
    let mut probe = timed(|| {
        let c = checks::emulation::emulation(ctx, target, builder, server.as_ref(), registry)?;
        Ok(vec![c])
    })?;
    engine.append(&mut probe);
    Ok(engine)
}

/// `--wheels`: pip's answer for the requirements file, against the index asked for.
fn wheels(ctx: &Ctx, args: &DoctorArgs, settings: &Settings) -> Result<Vec<Check>, Error> {
    if !args.wheels {
        return Ok(Vec::new());
    }
    let requirements = args
        .requirements
        .clone()
        .unwrap_or_else(|| settings.context.value.join("requirements.txt"));
    let opts = checks::wheels::WheelOptions {
        index: match (&args.find_links, &args.index_url) {
            (Some(d), _) => Index::Links(ctx.cwd.join(d).to_string()),
            (None, Some(u)) => Index::Url(u.clone()),
            (None, None) => Index::Default,
        },
        python_version: args.python_version.clone(),
    };
    let path = ctx.cwd.join(requirements);
    checks::wheels::wheels(ctx, &path, &settings.platform.value, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_sit_under_their_line() {
        let t = checks::render(&[
            Check::ok("engine", "20.10.24 linux/amd64"),
            Check::fail("emulation", "exec format error", "enable binfmt"),
        ]);
        assert_eq!(
            t,
            "CHECK      STATUS  DETAIL\n\
             engine     ok      20.10.24 linux/amd64\n\
             emulation  fail    exec format error\n\
             \x20                  hint: enable binfmt"
        );
    }
}
