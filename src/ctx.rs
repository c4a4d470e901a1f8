//! `Ctx`: everything a command may use from the outside world, gathered once in `main`.
//!
//! Commands get docker and az commands (with docker's globals already in front) from here, read
//! settings through here, and never call `std::env::var`, `which` or duct themselves.
//!
//! May import: `cli::argv`, `config`, `process`, `report`.

use std::collections::BTreeMap;

use camino::Utf8PathBuf;

use crate::cli::argv::Globals;
use crate::config::{self, Overrides, Settings};
use crate::process::runner::{Cmd, Runner};
use crate::process::tools::Tools;
use crate::report::error::Error;

pub struct Ctx {
    /// Docker's global flags, forwarded to every child `docker` call.
    pub globals: Globals,
    pub runner: Runner,
    pub tools: Tools,
    /// The directory we were started in.
    pub cwd: Utf8PathBuf,
    /// The `AZDEPLOY_*` variables, read once.
    vars: BTreeMap<String, String>,
    /// HOME, XDG_CACHE_HOME and the docker variables that pick an engine, read once.
    env: BTreeMap<&'static str, String>,
}

/// Process variables besides `AZDEPLOY_*` that commands may need.
const ENV_READ: &[&str] = &[
    "NO_COLOR",
    "HOME",
    "XDG_CACHE_HOME",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
];

impl Ctx {
    pub fn new(globals: Globals, runner: Runner, tools: Tools, cwd: Utf8PathBuf) -> Ctx {
        let vars = std::env::vars()
            .filter(|(k, _)| k.starts_with("AZDEPLOY_"))
            .collect();
        let env = ENV_READ
            .iter()
            .filter_map(|k| {
                std::env::var(k)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| (*k, v))
            })
            .collect();
        Ctx {
            globals,
            runner,
            tools,
            cwd,
            vars,
            env,
        }
    }

    /// Whether stdout may carry colour: a terminal, and `NO_COLOR` unset (no-color.org).
    pub fn color(&self) -> bool {
        use std::io::IsTerminal;
        !self.env.contains_key("NO_COLOR") && std::io::stdout().is_terminal()
    }

    /// The user's home directory.
    pub fn home(&self) -> Option<&str> {
        self.env.get("HOME").map(String::as_str)
    }

    /// Where host files are read from: `/`, or `AZDEPLOY_HOST_ROOT` (tests point it at fixtures).
    pub fn host_root(&self) -> Utf8PathBuf {
        Utf8PathBuf::from(self.var("AZDEPLOY_HOST_ROOT").unwrap_or_else(|| "/".into()))
    }

    /// Our cache directory: `~/Library/Caches/docker-azdeploy` on macOS, else
    /// `$XDG_CACHE_HOME/docker-azdeploy` or `~/.cache/docker-azdeploy`.
    pub fn cache_dir(&self) -> Option<Utf8PathBuf> {
        let home = self.home().map(Utf8PathBuf::from);
        let base = if cfg!(target_os = "macos") {
            home?.join("Library/Caches")
        } else {
            match self.env.get("XDG_CACHE_HOME") {
                Some(x) => Utf8PathBuf::from(x),
                None => home?.join(".cache"),
            }
        };
        Some(base.join("docker-azdeploy"))
    }

    /// The docker config directory in force: `--config`, else `DOCKER_CONFIG`, else `~/.docker`.
    pub fn docker_config_dir(&self) -> Option<Utf8PathBuf> {
        let mut globals = self
            .globals
            .forward
            .iter()
            .map(|g| g.to_string_lossy().into_owned());
        while let Some(g) = globals.next() {
            if g == "--config" {
                return globals.next().map(|d| self.cwd.join(d));
            }
            if let Some(d) = g.strip_prefix("--config=") {
                return Some(self.cwd.join(d));
            }
        }
        match self.env.get("DOCKER_CONFIG") {
            Some(d) => Some(self.cwd.join(d)),
            None => self.home().map(|h| Utf8PathBuf::from(h).join(".docker")),
        }
    }

    /// What picks the engine and the builder (a cache key): the forwarded globals, the docker
    /// variables, the current context in `config.json` and buildx's current-builder record.
    pub fn engine_selector(&self) -> String {
        let globals: Vec<String> = self
            .globals
            .forward
            .iter()
            .map(|g| g.to_string_lossy().into_owned())
            .collect();
        let env: Vec<String> = ["DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG"]
            .iter()
            .map(|k| self.env.get(k).cloned().unwrap_or_default())
            .collect();
        let dir = self.docker_config_dir();
        let read = |rel: &str| {
            dir.as_ref()
                .and_then(|d| std::fs::read_to_string(d.join(rel)).ok())
                .unwrap_or_default()
        };
        let context = serde_json::from_str::<serde_json::Value>(&read("config.json"))
            .ok()
            .and_then(|v| v.get("currentContext")?.as_str().map(str::to_string))
            .unwrap_or_default();
        // buildx writes `current` on its first run even when no builder was chosen (`"Name":
        // ""`): only a chosen builder's name changes what builds.
        let builder = serde_json::from_str::<serde_json::Value>(&read("buildx/current"))
            .ok()
            .and_then(|v| v.get("Name")?.as_str().map(str::to_string))
            .unwrap_or_default();
        format!(
            "{}|{}|{context}|{builder}",
            globals.join(" "),
            env.join("|"),
        )
    }

    /// A `docker` command with docker's global flags first.
    pub fn docker(&self, purpose: &str) -> Result<Cmd, Error> {
        Ok(Cmd::new(self.tools.docker()?, purpose).args(self.globals.forward.iter().cloned()))
    }

    /// An `az` command.
    pub fn az(&self, purpose: &str) -> Result<Cmd, Error> {
        // az is Python: into a pipe it would block-buffer what it prints (a `logs --follow`
        // piped on showed nothing until 8 KB or the end).
        Ok(Cmd::new(self.tools.az()?, purpose).env("PYTHONUNBUFFERED", "1"))
    }

    /// An `AZDEPLOY_*` variable.
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// The settings, with this command's flags on top.
    pub fn settings(&self, flags: &Overrides) -> Result<Settings, Error> {
        config::resolve(&self.cwd, &|k| self.var(k), flags)
    }
}
