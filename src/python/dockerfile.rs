//! The Dockerfile `init --dockerfile` writes for a Python app, and its `.dockerignore`.
//!
//! May import: `python::app`.

use super::app::{AppShape, Compile};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::app::{detect, shape, AppFiles};

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
}
