//! A Python app as its files show it: Streamlit or Flask, the file to start, the port, whether
//! its requirements need compilers; and the starter `azdeploy.json` for it.
//!
//! May import: `python::requirements`, `image::dockerfile`, `config`.

use camino::Utf8Path;

use crate::config::{self, FileConfig, HealthPath, Port};
use crate::image::dockerfile::Dockerfile;

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
        facts.exposed_port = Dockerfile::parse(df).exposed.first().copied();
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
            .filter(|t| Dockerfile::parse(t).starts_streamlit())
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
    /// The Python version of the default base image (`python:X.Y-slim`) and of the wheels asked
    /// for.
    pub python: String,
}

/// The Python of the default base image when none is asked for.
pub const DEFAULT_PYTHON: &str = "3.12";

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
                super::requirements::parse_requirements(l)
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
        python: DEFAULT_PYTHON.into(),
    }
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

    #[test]
    fn the_starter_reads_back_as_a_valid_config() {
        let cfg = starter(&AppFacts::default(), Utf8Path::new("/x/app"));
        let text = serde_json::to_string_pretty(&cfg).unwrap();
        config::file::parse_file(&text, Utf8Path::new("azdeploy.json")).unwrap();
    }
}
