//! The Dockerfile `init --dockerfile` writes for a Python app, and its `.dockerignore`.
//!
//! May import: `python::app`.

use super::app::{AppShape, Compile};

/// The Dockerfile for `app`. No `--platform` pins the target in any `FROM`: the build's
/// `--platform` decides. The base comes from `ARG PYTHON_IMAGE` (one argument for every stage),
/// so a test (or a mirror) can swap it.
///
/// When every requirement has a binary wheel for the target, the dependencies are installed
/// without emulation: a stage on the build machine's own architecture (`$BUILDPLATFORM`) has pip
/// fetch the target's wheels into the final image's site-packages layout, and the final stage
/// only copies (no `RUN`, a numeric `USER`). Otherwise the wheels are built in a stage for the
/// target, which runs under emulation on a machine of another architecture.
pub fn dockerfile(app: &AppShape) -> String {
    let kind = if app.streamlit {
        "a Streamlit app"
    } else if app.flask {
        "a Flask app"
    } else {
        "a Python app"
    };
    let mut d = format!(
        "# Written by `docker azdeploy init --dockerfile` for {kind}; edit freely.\n\
         ARG PYTHON_IMAGE=python:{}-slim\n\n",
        app.python
    );
    if no_emulation(app) {
        if app.requirements {
            d.push_str(DEPS_WITHOUT_EMULATION);
        }
        d.push_str(
            "FROM ${PYTHON_IMAGE}\nENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/app\n",
        );
        if app.requirements {
            d.push_str("COPY --from=deps /deps/ /\n");
        }
        d.push_str("WORKDIR /app\nCOPY --chown=10001:10001 . .\nUSER 10001\n");
    } else {
        d.push_str(&wheels_for_the_target(app));
        d.push_str("FROM ${PYTHON_IMAGE}\nENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1\n");
        if app.requirements || app.pyproject {
            d.push_str(
                "COPY --from=builder /wheels /wheels\nRUN pip install --no-cache-dir --no-index /wheels/* && rm -rf /wheels\n",
            );
        }
        d.push_str("RUN useradd --create-home --uid 10001 app\nWORKDIR /home/app/src\nCOPY --chown=app:app . .\nUSER app\n");
    }
    d.push_str(&start(app));
    d
}

/// Whether the image can be built without running anything for the target: no dependencies,
/// or a requirements.txt whose every requirement has a binary wheel for it.
pub fn no_emulation(app: &AppShape) -> bool {
    match (app.requirements, app.pyproject) {
        (true, _) => app.compile == Compile::NotNeeded,
        (false, pyproject) => !pyproject,
    }
}

/// The dependency stage that runs on the build machine's own architecture. pip installs the
/// target's wheels (`--platform` … `--only-binary=:all:`) into the site-packages of the final
/// image's layout — the Python version, ABI and paths are read from the image itself, which is
/// the same image for both stages — and its console scripts into `/usr/local/bin`.
const DEPS_WITHOUT_EMULATION: &str = r#"# Every requirement has a binary wheel for the target: pip fetches the target's wheels on the
# build machine's own architecture, so nothing runs under emulation.
FROM --platform=$BUILDPLATFORM ${PYTHON_IMAGE} AS deps
ARG TARGETARCH
WORKDIR /build
COPY requirements.txt .
RUN set -eu;     case "$TARGETARCH" in amd64) m=x86_64 ;; arm64) m=aarch64 ;; *) echo "no manylinux wheels for $TARGETARCH" >&2; exit 1 ;; esac;     py=$(python -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")');     site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])');     bin=$(python -c 'import sysconfig; print(sysconfig.get_paths()["scripts"])');     pip install --no-cache-dir --only-binary=:all: --target "/deps$site"         --platform "manylinux_2_28_$m" --platform "manylinux_2_17_$m" --platform "manylinux2014_$m"         --python-version "$py" --implementation cp --abi "cp$py" -r requirements.txt;     if [ -d "/deps$site/bin" ]; then mkdir -p "/deps$bin" && mv "/deps$site/bin/"* "/deps$bin/" && rmdir "/deps$site/bin"; fi

"#;

/// The usual builder stage: wheels made for the target (under emulation on a machine of another
/// architecture), with compilers when a requirement has no binary wheel.
fn wheels_for_the_target(app: &AppShape) -> String {
    if !(app.requirements || app.pyproject) {
        return String::new();
    }
    let mut d = String::from(
        "# Build every dependency into a wheel here; only the wheels reach the final image.\n",
    );
    match &app.compile {
        Compile::Needed(pkgs) => d.push_str(&format!(
            "# This stage runs for the target: on a machine of another architecture it runs under\n\
             # emulation, because no binary wheel for the target exists for {}.\n",
            pkgs.join(", ")
        )),
        Compile::Unknown(why) => d.push_str(&format!(
            "# Compilers, to be safe: the wheel check could not run ({why}).\n\
             # Run `docker azdeploy doctor --wheels`; if nothing compiles from source, drop this step.\n"
        )),
        Compile::NotNeeded => d.push_str(
            "# Every requirement has a binary wheel for the target: no compilers needed.\n",
        ),
    }
    d.push_str("FROM ${PYTHON_IMAGE} AS builder\nWORKDIR /build\n");
    if app.compile != Compile::NotNeeded {
        d.push_str("RUN apt-get update && apt-get install -y --no-install-recommends build-essential \\\n    && rm -rf /var/lib/apt/lists/*\n");
    }
    if app.requirements {
        d.push_str("COPY requirements.txt .\nRUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt\n\n");
    } else {
        d.push_str("COPY . .\nRUN pip wheel --no-cache-dir --wheel-dir /wheels .\n\n");
    }
    d
}

/// The port, the health check and the command that starts the app (through `python -m`, so no
/// console script's interpreter path matters).
fn start(app: &AppShape) -> String {
    let port = app.port;
    let health = if app.streamlit {
        "/_stcore/health"
    } else {
        "/"
    };
    let main = app.main.clone().unwrap_or_else(|| "app.py".into());
    let cmd = if app.streamlit {
        format!(
            "[\"python\", \"-m\", \"streamlit\", \"run\", \"{main}\", \"--server.address=0.0.0.0\", \"--server.port={port}\", \"--server.headless=true\"]"
        )
    } else if app.flask {
        let module = main.trim_end_matches(".py");
        format!("[\"python\", \"-m\", \"flask\", \"--app\", \"{module}\", \"run\", \"--host=0.0.0.0\", \"--port={port}\"]")
    } else {
        format!("[\"python\", \"{main}\"]")
    };
    format!(
        "EXPOSE {port}\n\
         HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \\\n  \
         CMD [\"python\", \"-c\", \"import urllib.request; urllib.request.urlopen('http://localhost:{port}{health}', timeout=4)\"]\n\
         CMD {cmd}\n"
    )
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

    /// The final stage's text (after the last `FROM`).
    fn final_stage(d: &str) -> &str {
        &d[d.rfind("\nFROM ").expect("a final stage")..]
    }

    #[test]
    fn with_every_wheel_the_dependencies_install_without_emulation() {
        let files = streamlit_files();
        let app = shape(&files, &detect(&files), Compile::NotNeeded, 8501);
        assert_eq!(app.main.as_deref(), Some("dashboard.py"));
        assert!(no_emulation(&app));
        let d = dockerfile(&app);
        for needle in [
            "ARG PYTHON_IMAGE=python:3.12-slim",
            "FROM --platform=$BUILDPLATFORM ${PYTHON_IMAGE} AS deps",
            "ARG TARGETARCH",
            "pip install --no-cache-dir --only-binary=:all: --target \"/deps$site\"",
            "--python-version \"$py\" --implementation cp --abi \"cp$py\" -r requirements.txt",
            "COPY --from=deps /deps/ /",
            "USER 10001",
            "EXPOSE 8501",
            "http://localhost:8501/_stcore/health",
            r#"CMD ["python", "-m", "streamlit", "run", "dashboard.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]"#,
        ] {
            assert!(d.contains(needle), "missing {needle:?} in\n{d}");
        }
        let last = final_stage(&d);
        assert!(last.starts_with("\nFROM ${PYTHON_IMAGE}\n"), "{last}");
        assert!(
            !last.contains("\nRUN "),
            "the final stage runs nothing for the target:\n{last}"
        );
        assert!(!d.contains("build-essential"), "{d}");
        let amd64: crate::config::Platform = "linux/amd64".parse().unwrap();
        use crate::image::dockerfile::{lint, Dockerfile, Here};
        let problems = lint(
            &Dockerfile::parse(&d),
            &amd64,
            8501,
            Here::Emulated(Some(4.7)),
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn without_a_wheel_the_target_stage_compiles_and_says_why() {
        let files = streamlit_files();
        let d = dockerfile(&shape(
            &files,
            &detect(&files),
            Compile::Needed(vec!["netifaces==0.11.0".into()]),
            8501,
        ));
        assert!(
            d.contains(
                "# emulation, because no binary wheel for the target exists for netifaces==0.11.0."
            ) && d.contains("FROM ${PYTHON_IMAGE} AS builder")
                && d.contains("build-essential")
                && d.contains(
                    "RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt"
                ),
            "{d}"
        );
        assert!(!d.contains("$BUILDPLATFORM"), "{d}");
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
    }

    #[test]
    fn flask_and_bare_apps() {
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
        assert!(!d.contains("deps") && !d.contains("/wheels"), "{d}");
        assert!(
            !d.contains("\nRUN "),
            "nothing to install, nothing runs: {d}"
        );
        assert!(d.contains(r#"CMD ["python", "main.py"]"#), "{d}");
    }
}
