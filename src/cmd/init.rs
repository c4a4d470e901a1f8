//! `docker azdeploy init`: a starter `azdeploy.json` for the app in this directory.
//!
//! Looks at what is there (a Dockerfile's `EXPOSE`, Streamlit in requirements.txt, pyproject.toml,
//! the Dockerfile or a top-level `.py` file) and writes only what it found plus the defaults that
//! matter. Never overwrites without `--force`.

use camino::Utf8Path;

use crate::cli::InitArgs;
use crate::config::{self, FileConfig, HealthPath, Port};
use crate::context::Ctx;
use crate::error::Error;
use crate::files::{self, Existing};
use crate::output;

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

pub fn run(ctx: &Ctx, args: &InitArgs) -> Result<(), Error> {
    let path = ctx.cwd.join(config::FILE_NAME);
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

    #[test]
    fn the_starter_reads_back_as_a_valid_config() {
        let cfg = starter(&AppFacts::default(), Utf8Path::new("/x/app"));
        let text = serde_json::to_string_pretty(&cfg).unwrap();
        config::parse_file(&text, Utf8Path::new("azdeploy.json")).unwrap();
    }
}
