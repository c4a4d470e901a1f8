//! `Ctx`: everything a command may use from the outside world, gathered once in `main`.
//!
//! Commands get docker and az commands (with docker's globals already in front) from here, read
//! settings through here, and never call `std::env::var`, `which` or duct themselves.

use std::collections::BTreeMap;

use camino::Utf8PathBuf;

use crate::argv::Globals;
use crate::config::{self, Overrides, Settings};
use crate::error::Error;
use crate::runner::{Cmd, Runner};
use crate::tools::Tools;

pub struct Ctx {
    /// Docker's global flags, forwarded to every child `docker` call.
    pub globals: Globals,
    pub runner: Runner,
    pub tools: Tools,
    /// The directory we were started in.
    pub cwd: Utf8PathBuf,
    /// The `AZDEPLOY_*` variables, read once.
    vars: BTreeMap<String, String>,
}

impl Ctx {
    pub fn new(globals: Globals, runner: Runner, tools: Tools, cwd: Utf8PathBuf) -> Ctx {
        let vars = std::env::vars()
            .filter(|(k, _)| k.starts_with("AZDEPLOY_"))
            .collect();
        Ctx {
            globals,
            runner,
            tools,
            cwd,
            vars,
        }
    }

    /// A `docker` command with docker's global flags first.
    pub fn docker(&self, purpose: &str) -> Result<Cmd, Error> {
        Ok(Cmd::new(self.tools.docker()?, purpose).args(self.globals.forward.iter().cloned()))
    }

    /// An `az` command.
    #[allow(dead_code)] // Used by test-local, push and deploy (next issues); tested here.
    pub fn az(&self, purpose: &str) -> Result<Cmd, Error> {
        Ok(Cmd::new(self.tools.az()?, purpose))
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
