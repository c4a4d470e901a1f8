//! `docker azdeploy init`: a starter `azdeploy.json` for the app in this directory, and with
//! `--dockerfile` a Dockerfile and `.dockerignore` for it (the wheel check decides whether the
//! image needs compilers). Never overwrites without `--force`, and writes nothing at all when a
//! file is in the way.

use camino::Utf8PathBuf;

use crate::cli::args::InitArgs;
use crate::config::{self, Overrides, FILE_NAME};
use crate::ctx::Ctx;
use crate::process::plan::Plan;
use crate::python::app::{detect, shape, starter, AppFacts, AppFiles, AppShape, Compile};
use crate::python::dockerfile::{dockerfile, no_emulation, DOCKERIGNORE};
use crate::python::requirements::{parse_requirements, Index};
use crate::python::wheels::{self, Answer, WheelOptions};
use crate::report::error::Error;
use crate::report::output;
use crate::sys::files::{self, Existing};

pub fn run(ctx: &Ctx, args: &InitArgs) -> Result<(), Error> {
    let files = AppFiles::read(&ctx.cwd);
    let facts = detect(&files);
    let config_path = ctx.cwd.join(FILE_NAME);
    let existing = if args.force {
        Existing::Replace
    } else {
        Existing::Keep
    };
    let keep_config = args.dockerfile && config_path.exists() && !args.force;
    let app = if args.dockerfile {
        refuse_overwrite(ctx, args.force)?;
        let compile = compile(ctx, &files, &args.python_version)?;
        let mut app = shape(&files, &facts, compile, facts.exposed_port.unwrap_or(8501));
        app.python = args.python_version.clone();
        Some(app)
    } else {
        None
    };
    let written = app.as_ref().map(dockerfile).unwrap_or_default();
    let mut cfg = serde_json::to_string_pretty(&starter(&facts, &ctx.cwd))
        .expect("the config always serialises");
    cfg.push('\n');
    Plan::new()
        .when(app.is_some(), |p| {
            p.step(
                format!("write Dockerfile and .dockerignore:\n{written}"),
                vec![],
                |_: &mut ()| write_dockerfile(ctx, app.as_ref().expect("shaped"), existing),
            )
        })
        .when(!keep_config, |p| {
            p.step(format!("write {FILE_NAME}:\n{cfg}"), vec![], |_| {
                files::write_atomic(&config_path, cfg.as_bytes(), existing)?;
                say_config(&facts, &cfg, args.dockerfile);
                Ok(())
            })
        })
        .execute(&ctx.runner, &mut ())?;
    if ctx.runner.dry_run {
        return Ok(());
    }
    if keep_config {
        say!("kept the existing {FILE_NAME}");
        return output::stdout_line(ctx.cwd.join("Dockerfile").as_str());
    }
    output::stdout_line(config_path.as_str())
}

/// Without `--force`, an existing Dockerfile or .dockerignore stops everything.
fn refuse_overwrite(ctx: &Ctx, force: bool) -> Result<(), Error> {
    let existing: Vec<&str> = ["Dockerfile", ".dockerignore"]
        .into_iter()
        .filter(|f| ctx.cwd.join(f).exists())
        .collect();
    if force || existing.is_empty() {
        return Ok(());
    }
    Err(Error::failed(
        format!(
            "{} already exist(s); nothing was written",
            existing.join(" and ")
        ),
        "pass --force to replace them",
    ))
}

/// Whether the image needs compilers: pip is asked which requirements have no binary wheel for
/// the target; when it cannot be asked, compilers are kept, to be safe.
fn compile(ctx: &Ctx, files: &AppFiles, python: &str) -> Result<Compile, Error> {
    let Some(text) = &files.requirements else {
        return Ok(Compile::NotNeeded);
    };
    let settings = ctx.settings(&Overrides::default())?;
    let opts = WheelOptions {
        index: Index::Default,
        python_version: python.into(),
    };
    let answer = wheels::ask(
        ctx,
        &parse_requirements(text),
        &settings.platform.value,
        &opts,
    )?;
    Ok(match answer {
        Answer::Known { source, .. } if source.is_empty() => Compile::NotNeeded,
        Answer::Known { source, .. } => {
            Compile::Needed(source.iter().map(|s| s.requirement.spec.clone()).collect())
        }
        Answer::NoWheelsForTarget => Compile::Unknown("no manylinux wheels for the target".into()),
        Answer::NoPython => Compile::Unknown("python3 not found: cannot ask pip".into()),
        Answer::Unreachable => Compile::Unknown("the package index is not reachable".into()),
    })
}

fn write_dockerfile(ctx: &Ctx, app: &AppShape, existing: Existing) -> Result<(), Error> {
    let targets: [Utf8PathBuf; 2] = [ctx.cwd.join("Dockerfile"), ctx.cwd.join(".dockerignore")];
    files::write_atomic(&targets[0], dockerfile(app).as_bytes(), existing)?;
    files::write_atomic(&targets[1], DOCKERIGNORE.as_bytes(), existing)?;
    let compilers = match &app.compile {
        _ if no_emulation(app) && app.requirements => {
            "every requirement has a wheel: pip fetches them for the target on this machine's own architecture, nothing runs under emulation".into()
        }
        _ if no_emulation(app) => "no dependencies to install".into(),
        Compile::Needed(p) => format!(
            "with compilers for {}, in a stage for the target (under emulation on another architecture)",
            p.join(", ")
        ),
        Compile::NotNeeded => "no compilers (every requirement has a wheel)".into(),
        Compile::Unknown(_) => "with compilers, to be safe (the wheel check could not run)".into(),
    };
    let kind = if app.streamlit {
        "Streamlit"
    } else if app.flask {
        "Flask"
    } else {
        "Python"
    };
    say!(
        "wrote Dockerfile ({kind}, {compilers}, starts {}) and .dockerignore",
        app.main.as_deref().unwrap_or("app.py")
    );
    Ok(())
}

fn say_config(facts: &AppFacts, text: &str, wrote_dockerfile: bool) {
    let cfg: config::FileConfig = serde_json::from_str(text).unwrap_or_default();
    let port_note = match facts.exposed_port {
        Some(p) => format!("port {p} from the Dockerfile's EXPOSE"),
        None => "port 8501 (default)".into(),
    };
    let app_note = match &facts.streamlit {
        Some(w) => format!("Streamlit found in {w}, health check /_stcore/health"),
        None => "no Streamlit found, health check /".into(),
    };
    say!(
        "wrote {FILE_NAME}: image {}, {port_note}, {app_note}",
        cfg.image.as_ref().map(|i| i.0.as_str()).unwrap_or("")
    );
    if !facts.has_dockerfile && !wrote_dockerfile {
        say!("note: no Dockerfile here yet");
    }
    say!("hint: add \"azure\": {{\"registry\": \"<acr>\", \"resource_group\": \"<rg>\", \"app\": \"<containerapp>\"}} before `push` and `deploy`");
}
