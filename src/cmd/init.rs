//! `docker azdeploy init`: a starter `azdeploy.json` for the app in this directory.
//!
//! Looks at what is there (a Dockerfile's `EXPOSE`, Streamlit in requirements.txt, pyproject.toml,
//! the Dockerfile or a top-level `.py` file) and writes only what it found plus the defaults that
//! matter. Never overwrites without `--force`.

use camino::Utf8Path;

use crate::cli::args::InitArgs;
use crate::config::{self, FileConfig, HealthPath, Port};
use crate::ctx::Ctx;
use crate::report::error::Error;
use crate::report::output;
use crate::sys::files::{self, Existing};

/// What the directory says about the app.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AppFacts {
    /// Where Streamlit was seen, if anywhere.
    pub streamlit: Option<String>,
    /// The first port of the Dockerfile's first `EXPOSE`.
    pub exposed_port: Option<u16>,
    pub has_dockerfile: bool,
}

/// The text of the files `detect` looks at (`None` when missing).
#[derive(Debug, Default)]
pub struct AppFiles {
    pub dockerfile: Option<String>,
    pub requirements: Option<String>,
    pub pyproject: Option<String>,
    /// Top-level Python files: (name, text).
    pub python: Vec<(String, String)>,
}

impl AppFiles {
    pub fn read(dir: &Utf8Path) -> AppFiles {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        let mut python: Vec<(String, String)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let text = name
                    .ends_with(".py")
                    .then(|| std::fs::read_to_string(e.path()).ok())??;
                Some((name, text))
            })
            .collect();
        python.sort();
        AppFiles {
            dockerfile: read("Dockerfile"),
            requirements: read("requirements.txt"),
            pyproject: read("pyproject.toml"),
            python,
        }
    }
}

/// Works out the facts from the files' text.
pub fn detect(files: &AppFiles) -> AppFacts {
    let mut facts = AppFacts {
        has_dockerfile: files.dockerfile.is_some(),
        ..Default::default()
    };
    if let Some(df) = &files.dockerfile {
        facts.exposed_port = df.lines().find_map(|l| {
            let mut words = l.split_whitespace();
            if !words.next()?.eq_ignore_ascii_case("EXPOSE") {
                return None;
            }
            words.next()?.split('/').next()?.parse().ok()
        });
    }
    let requirement_names = files.requirements.iter().flat_map(|r| r.lines()).map(|l| {
        let l = l.trim().to_ascii_lowercase();
        let end = l
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
            .unwrap_or(l.len());
        l[..end].to_string()
    });
    let mut found = requirement_names
        .into_iter()
        .any(|n| n == "streamlit")
        .then(|| "requirements.txt".to_string());
    if found.is_none() {
        found = files
            .pyproject
            .as_ref()
            .filter(|t| {
                t.contains("\"streamlit") || t.contains("'streamlit") || t.contains("\nstreamlit ")
            })
            .map(|_| "pyproject.toml".to_string());
    }
    if found.is_none() {
        found = files
            .dockerfile
            .as_ref()
            .filter(|t| t.contains("streamlit run") || t.contains("\"streamlit\""))
            .map(|_| "Dockerfile".to_string());
    }
    if found.is_none() {
        found = files
            .python
            .iter()
            .find(|(_, t)| {
                t.lines().any(|l| {
                    let l = l.trim_start();
                    l.starts_with("import streamlit") || l.starts_with("from streamlit")
                })
            })
            .map(|(name, _)| name.clone());
    }
    facts.streamlit = found;
    facts
}

/// The starter file for these facts.
pub fn starter(facts: &AppFacts, dir: &Utf8Path) -> FileConfig {
    let port = facts.exposed_port.unwrap_or(8501);
    let health = if facts.streamlit.is_some() {
        "/_stcore/health"
    } else {
        "/"
    };
    FileConfig {
        image: Some(config::image_from_dir(dir)),
        platform: Some(config::default_platform()),
        port: Some(Port(port.max(1))),
        health_path: Some(HealthPath(health.into())),
        ..Default::default()
    }
}

/// What the generated Dockerfile needs to know about the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppShape {
    pub streamlit: bool,
    pub flask: bool,
    /// The Python file to start (`app.py`), if one was found.
    pub main: Option<String>,
    pub requirements: bool,
    pub pyproject: bool,
    pub compile: Compile,
    pub port: u16,
}

/// Whether the image must compile packages (a builder stage with compilers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compile {
    /// These requirements have no binary wheel for the target.
    Needed(Vec<String>),
    NotNeeded,
    /// The wheel check could not run (why): compilers are kept, to be safe.
    Unknown(String),
}

/// The app's shape from its files.
pub fn shape(files: &AppFiles, facts: &AppFacts, compile: Compile, port: u16) -> AppShape {
    let has_import = |t: &str, m: &str| {
        t.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with(&format!("import {m}")) || l.starts_with(&format!("from {m}"))
        })
    };
    let preferred = ["streamlit_app.py", "app.py", "main.py", "Home.py"];
    let streamlit = facts.streamlit.is_some();
    let main = files
        .python
        .iter()
        .filter(|(_, t)| !streamlit || has_import(t, "streamlit"))
        .min_by_key(|(n, _)| {
            preferred
                .iter()
                .position(|p| p == n)
                .unwrap_or(preferred.len())
        })
        .map(|(n, _)| n.clone());
    let flask = !streamlit
        && (files.requirements.as_deref().is_some_and(|r| {
            r.lines().any(|l| {
                crate::python::requirements::parse_requirements(l)
                    .first()
                    .is_some_and(|q| q.name == "flask")
            })
        }) || files.python.iter().any(|(_, t)| has_import(t, "flask")));
    AppShape {
        streamlit,
        flask,
        main,
        requirements: files.requirements.is_some(),
        pyproject: files.pyproject.is_some() && files.requirements.is_none(),
        compile,
        port,
    }
}

/// The Dockerfile for `app`. No `--platform` in any `FROM`: the build's `--platform` decides.
/// The base comes from `ARG PYTHON_IMAGE`, so a test (or a mirror) can swap it.
pub fn dockerfile(app: &AppShape) -> String {
    let port = app.port;
    let kind = if app.streamlit {
        "a Streamlit app"
    } else if app.flask {
        "a Flask app"
    } else {
        "a Python app"
    };
    let mut d = format!(
        "# Written by `docker azdeploy init --dockerfile` for {kind}; edit freely.\n\
         ARG PYTHON_IMAGE=python:3.12-slim\n\n"
    );
    let install = app.requirements || app.pyproject;
    if install {
        d.push_str(
            "# Build every dependency into a wheel here; only the wheels reach the final image.\n",
        );
        d.push_str("FROM ${PYTHON_IMAGE} AS builder\nWORKDIR /build\n");
        match &app.compile {
            Compile::Needed(pkgs) => d.push_str(&format!(
                "# Compilers: no binary wheel for the target exists for {}.\n\
                 RUN apt-get update && apt-get install -y --no-install-recommends build-essential \\\n    && rm -rf /var/lib/apt/lists/*\n",
                pkgs.join(", ")
            )),
            Compile::Unknown(why) => d.push_str(&format!(
                "# Compilers, to be safe: the wheel check could not run ({why}).\n\
                 # Run `docker azdeploy doctor --wheels`; if nothing compiles from source, drop this step.\n\
                 RUN apt-get update && apt-get install -y --no-install-recommends build-essential \\\n    && rm -rf /var/lib/apt/lists/*\n"
            )),
            Compile::NotNeeded => d.push_str("# Every requirement has a binary wheel for the target: no compilers needed.\n"),
        }
        if app.requirements {
            d.push_str("COPY requirements.txt .\nRUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt\n\n");
        } else {
            d.push_str("COPY . .\nRUN pip wheel --no-cache-dir --wheel-dir /wheels .\n\n");
        }
    }
    d.push_str("FROM ${PYTHON_IMAGE}\nENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1\n");
    if install {
        d.push_str(
            "COPY --from=builder /wheels /wheels\nRUN pip install --no-cache-dir --no-index /wheels/* && rm -rf /wheels\n",
        );
    }
    d.push_str("RUN useradd --create-home --uid 10001 app\nWORKDIR /home/app/src\nCOPY --chown=app:app . .\nUSER app\n");
    d.push_str(&format!("EXPOSE {port}\n"));
    let health = if app.streamlit {
        "/_stcore/health"
    } else {
        "/"
    };
    d.push_str(&format!(
        "HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \\\n  \
         CMD [\"python\", \"-c\", \"import urllib.request; urllib.request.urlopen('http://localhost:{port}{health}', timeout=4)\"]\n"
    ));
    let main = app.main.clone().unwrap_or_else(|| "app.py".into());
    let cmd = if app.streamlit {
        format!(
            "[\"streamlit\", \"run\", \"{main}\", \"--server.address=0.0.0.0\", \"--server.port={port}\", \"--server.headless=true\"]"
        )
    } else if app.flask {
        let module = main.trim_end_matches(".py");
        format!("[\"python\", \"-m\", \"flask\", \"--app\", \"{module}\", \"run\", \"--host=0.0.0.0\", \"--port={port}\"]")
    } else {
        format!("[\"python\", \"{main}\"]")
    };
    d.push_str(&format!("CMD {cmd}\n"));
    d
}

/// What the build context leaves out.
pub const DOCKERIGNORE: &str = "# Written by `docker azdeploy init --dockerfile`.\n\
.git\n.gitignore\n.azdeploy\n.venv\nvenv\nenv\n__pycache__\n**/__pycache__\n*.pyc\n*.pyo\n\
.pytest_cache\n.mypy_cache\n.ruff_cache\n.ipynb_checkpoints\n*.egg-info\ndist\nbuild\n.DS_Store\n\
node_modules\n.env\n";

/// `init --dockerfile`: the wheel check decides the compilers; nothing is overwritten unless
/// `--force`, and nothing at all is written when one file is in the way.
fn write_dockerfile(
    ctx: &Ctx,
    args: &InitArgs,
    files: &AppFiles,
    facts: &AppFacts,
    port: u16,
) -> Result<(), Error> {
    let targets = [ctx.cwd.join("Dockerfile"), ctx.cwd.join(".dockerignore")];
    if !args.force {
        let existing: Vec<String> = targets
            .iter()
            .filter(|p| p.exists())
            .map(|p| p.file_name().unwrap_or("").to_string())
            .collect();
        if !existing.is_empty() {
            return Err(Error::failed(
                format!(
                    "{} already exist(s); nothing was written",
                    existing.join(" and ")
                ),
                "pass --force to replace them",
            ));
        }
    }
    let compile = if files.requirements.is_some() {
        let settings = ctx.settings(&config::Overrides::default())?;
        let opts = crate::checks::WheelOptions {
            index: crate::python::requirements::Index::Default,
            python_version: "3.12".into(),
        };
        let checks = crate::checks::wheels(
            ctx,
            &ctx.cwd.join("requirements.txt"),
            &settings.platform.value,
            &opts,
        )?;
        let source: Vec<String> = checks
            .iter()
            .filter(|c| c.name == "wheels" && c.status == crate::checks::Status::Warn)
            .map(|c| c.detail.clone())
            .collect();
        match source
            .iter()
            .find(|d| d.contains("not reachable") || d.contains("cannot ask pip"))
        {
            Some(why) => Compile::Unknown(why.clone()),
            None if source.is_empty() => Compile::NotNeeded,
            None => Compile::Needed(
                source
                    .iter()
                    .map(|d| d.split([' ', ':']).next().unwrap_or("").to_string())
                    .collect(),
            ),
        }
    } else {
        Compile::NotNeeded
    };
    let app = shape(files, facts, compile, port);
    let text = dockerfile(&app);
    if ctx.runner.dry_run {
        say!("[dry-run] would write Dockerfile:\n{text}\n[dry-run] would write .dockerignore");
        return Ok(());
    }
    let existing = if args.force {
        Existing::Replace
    } else {
        Existing::Keep
    };
    files::write_atomic(&targets[0], text.as_bytes(), existing)?;
    files::write_atomic(&targets[1], DOCKERIGNORE.as_bytes(), existing)?;
    let compilers = match &app.compile {
        Compile::Needed(p) => format!("with compilers for {}", p.join(", ")),
        Compile::NotNeeded => "no compilers (every requirement has a wheel)".into(),
        Compile::Unknown(_) => "with compilers, to be safe (the wheel check could not run)".into(),
    };
    say!(
        "wrote Dockerfile ({}, {compilers}, starts {}) and .dockerignore",
        if app.streamlit {
            "Streamlit"
        } else if app.flask {
            "Flask"
        } else {
            "Python"
        },
        app.main.as_deref().unwrap_or("app.py")
    );
    Ok(())
}

pub fn run(ctx: &Ctx, args: &InitArgs) -> Result<(), Error> {
    let path = ctx.cwd.join(config::FILE_NAME);
    if args.dockerfile {
        let files = AppFiles::read(&ctx.cwd);
        let facts = detect(&files);
        write_dockerfile(
            ctx,
            args,
            &files,
            &facts,
            facts.exposed_port.unwrap_or(8501),
        )?;
        if path.exists() && !args.force {
            say!("kept the existing {}", config::FILE_NAME);
            return output::stdout_line(ctx.cwd.join("Dockerfile").as_str());
        }
    }
    let facts = detect(&AppFiles::read(&ctx.cwd));
    let cfg = starter(&facts, &ctx.cwd);
    let mut text = serde_json::to_string_pretty(&cfg).expect("the config always serialises");
    text.push('\n');
    let existing = if args.force {
        Existing::Replace
    } else {
        Existing::Keep
    };
    if ctx.runner.dry_run {
        say!("[dry-run] would write {}:\n{text}", config::FILE_NAME);
        return Ok(());
    }
    files::write_atomic(&path, text.as_bytes(), existing)?;
    let port_note = match facts.exposed_port {
        Some(p) => format!("port {p} from the Dockerfile's EXPOSE"),
        None => "port 8501 (default)".into(),
    };
    let app_note = match &facts.streamlit {
        Some(w) => format!("Streamlit found in {w}, health check /_stcore/health"),
        None => "no Streamlit found, health check /".into(),
    };
    say!(
        "wrote {}: image {}, {port_note}, {app_note}",
        config::FILE_NAME,
        cfg.image.as_ref().map(|i| i.0.as_str()).unwrap_or("")
    );
    if !facts.has_dockerfile {
        say!("note: no Dockerfile here yet");
    }
    say!("hint: add \"azure\": {{\"registry\": \"<acr>\", \"resource_group\": \"<rg>\", \"app\": \"<containerapp>\"}} before `push` and `deploy`");
    output::stdout_line(path.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamlit_from_requirements_and_port_from_expose() {
        let files = AppFiles {
            dockerfile: Some("FROM python:3.12-slim\nEXPOSE 8080/tcp\n".into()),
            requirements: Some("pandas==2.2\nStreamlit>=1.30 ; python_version > '3.8'\n".into()),
            ..Default::default()
        };
        let f = detect(&files);
        assert_eq!(f.streamlit.as_deref(), Some("requirements.txt"));
        assert_eq!(f.exposed_port, Some(8080));
        let cfg = starter(&f, Utf8Path::new("/src/My App"));
        let text = serde_json::to_string(&cfg).unwrap();
        assert_eq!(
            text,
            r#"{"image":"my-app","platform":"linux/amd64","port":8080,"health_path":"/_stcore/health"}"#
        );
    }

    #[test]
    fn streamlit_from_imports_and_not_from_lookalikes() {
        let files = AppFiles {
            requirements: Some("streamlit-aggrid\n".into()),
            python: vec![(
                "app.py".into(),
                "import os\nimport streamlit as st\n".into(),
            )],
            ..Default::default()
        };
        assert_eq!(detect(&files).streamlit.as_deref(), Some("app.py"));
        let plain = AppFiles {
            requirements: Some("flask\nstreamlit-aggrid\n".into()),
            ..Default::default()
        };
        let f = detect(&plain);
        assert_eq!(f, AppFacts::default());
        let cfg = starter(&f, Utf8Path::new("/x/api"));
        assert_eq!(cfg.health_path.unwrap().0, "/");
        assert_eq!(cfg.port.unwrap().0, 8501);
    }

    fn streamlit_files() -> AppFiles {
        AppFiles {
            requirements: Some("streamlit==1.39\n".into()),
            python: vec![
                ("helpers.py".into(), "import os\n".into()),
                ("dashboard.py".into(), "import streamlit as st\n".into()),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn the_streamlit_dockerfile_has_what_azure_needs_and_lints_clean() {
        let files = streamlit_files();
        let app = shape(&files, &detect(&files), Compile::NotNeeded, 8501);
        assert_eq!(app.main.as_deref(), Some("dashboard.py"));
        let d = dockerfile(&app);
        for needle in [
            "ARG PYTHON_IMAGE=python:3.12-slim",
            "FROM ${PYTHON_IMAGE} AS builder",
            "RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt",
            "COPY --from=builder /wheels /wheels",
            "RUN useradd --create-home --uid 10001 app",
            "USER app",
            "EXPOSE 8501",
            "HEALTHCHECK",
            "http://localhost:8501/_stcore/health",
            r#"CMD ["streamlit", "run", "dashboard.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]"#,
        ] {
            assert!(d.contains(needle), "missing {needle:?} in\n{d}");
        }
        assert!(!d.contains("--platform"), "{d}");
        assert!(
            !d.contains("build-essential"),
            "no compilers when every wheel exists: {d}"
        );
        let amd64: crate::config::Platform = "linux/amd64".parse().unwrap();
        assert!(
            crate::image::dockerfile::lint(
                &crate::image::dockerfile::Dockerfile::parse(&d),
                &amd64,
                8501
            )
            .is_empty(),
            "{:?}",
            crate::image::dockerfile::lint(
                &crate::image::dockerfile::Dockerfile::parse(&d),
                &amd64,
                8501
            )
        );
    }

    #[test]
    fn compilers_only_when_needed_and_flask_and_bare_apps() {
        let files = streamlit_files();
        let d = dockerfile(&shape(
            &files,
            &detect(&files),
            Compile::Needed(vec!["sdistonly".into()]),
            8501,
        ));
        assert!(
            d.contains("no binary wheel for the target exists for sdistonly")
                && d.contains("build-essential"),
            "{d}"
        );
        let d = dockerfile(&shape(
            &files,
            &detect(&files),
            Compile::Unknown("index not reachable".into()),
            8501,
        ));
        assert!(
            d.contains("could not run (index not reachable)") && d.contains("build-essential"),
            "{d}"
        );

        let flask = AppFiles {
            requirements: Some("Flask==3.0\n".into()),
            python: vec![("app.py".into(), "from flask import Flask\n".into())],
            ..Default::default()
        };
        let d = dockerfile(&shape(&flask, &detect(&flask), Compile::NotNeeded, 8000));
        assert!(d.contains(r#"CMD ["python", "-m", "flask", "--app", "app", "run", "--host=0.0.0.0", "--port=8000"]"#), "{d}");
        assert!(
            d.contains("http://localhost:8000/'") && d.contains("EXPOSE 8000"),
            "{d}"
        );

        let bare = AppFiles {
            python: vec![("main.py".into(), "print(1)\n".into())],
            ..Default::default()
        };
        let d = dockerfile(&shape(&bare, &detect(&bare), Compile::NotNeeded, 8501));
        assert!(!d.contains("builder") && !d.contains("/wheels"), "{d}");
        assert!(d.contains(r#"CMD ["python", "main.py"]"#), "{d}");
    }

    #[test]
    fn the_starter_reads_back_as_a_valid_config() {
        let cfg = starter(&AppFacts::default(), Utf8Path::new("/x/app"));
        let text = serde_json::to_string_pretty(&cfg).unwrap();
        config::parse_file(&text, Utf8Path::new("azdeploy.json")).unwrap();
    }
}
