//! The only code that finds programs or reads the tool-override variables.
//!
//! docker: `AZDEPLOY_DOCKER`, else `DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND` (the docker CLI that
//! ran us, resolved against the starting directory; never consulted during completion, where it
//! names the plugin itself, and completion runs nothing anyway), else `docker` on `PATH`.
//! az: `AZDEPLOY_AZ`, else `az` on `PATH`. Lookups happen on first use and are cached, so a
//! command that needs no az never fails for want of one.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::report::error::Error;

/// Where the tools come from: a snapshot of the variables that matter, taken once at start-up.
#[derive(Debug, Default)]
pub struct Tools {
    docker_override: Option<OsString>,
    original_cli: Option<OsString>,
    az_override: Option<OsString>,
    python_override: Option<OsString>,
    path: Option<OsString>,
    cwd: PathBuf,
    docker: OnceLock<Result<PathBuf, String>>,
    az: OnceLock<Result<PathBuf, String>>,
}

impl Tools {
    /// Reads the process environment.
    pub fn from_env(cwd: &Path) -> Tools {
        Tools::new(cwd, |k| std::env::var_os(k))
    }

    /// Reads the variables through `var` (tests pass a map).
    pub fn new(cwd: &Path, var: impl Fn(&str) -> Option<OsString>) -> Tools {
        let nonempty = |k: &str| var(k).filter(|v| !v.is_empty());
        Tools {
            docker_override: nonempty("AZDEPLOY_DOCKER"),
            original_cli: nonempty("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND"),
            az_override: nonempty("AZDEPLOY_AZ"),
            python_override: nonempty("AZDEPLOY_PYTHON"),
            path: var("PATH"),
            cwd: cwd.to_path_buf(),
            docker: OnceLock::new(),
            az: OnceLock::new(),
        }
    }

    /// The docker CLI to run children with.
    pub fn docker(&self) -> Result<PathBuf, Error> {
        self.docker
            .get_or_init(|| {
                if let Some(p) = &self.docker_override {
                    return self.resolve(p).ok_or_else(|| {
                        format!(" at AZDEPLOY_DOCKER={}", p.to_string_lossy())
                    });
                }
                if let Some(p) = &self.original_cli {
                    if let Some(found) = self.resolve(p) {
                        return Ok(found);
                    }
                }
                self.resolve(&OsString::from("docker"))
                    .ok_or_else(|| " on PATH".to_string())
            })
            .clone()
            .map_err(|detail| Error::ToolMissing {
                tool: "docker",
                detail,
                hint: "install Docker Desktop (or the docker CLI), or set AZDEPLOY_DOCKER=/path/to/docker".into(),
            })
    }

    /// The Azure CLI.
    pub fn az(&self) -> Result<PathBuf, Error> {
        self.az
            .get_or_init(|| match &self.az_override {
                Some(p) => self
                    .resolve(p)
                    .ok_or_else(|| format!(" at AZDEPLOY_AZ={}", p.to_string_lossy())),
                None => self
                    .resolve(&OsString::from("az"))
                    .ok_or_else(|| " on PATH".to_string()),
            })
            .clone()
            .map_err(|detail| Error::ToolMissing {
                tool: "az",
                detail,
                hint: "install the Azure CLI (https://aka.ms/installazurecli, or `brew install azure-cli`), or set AZDEPLOY_AZ=/path/to/az".into(),
            })
    }

    /// Whether the docker we run is the one on `PATH` (what `az acr login` would run).
    pub fn docker_is_on_path(&self) -> bool {
        match (self.docker(), self.resolve(&OsString::from("docker"))) {
            (Ok(ours), Some(on_path)) => {
                std::fs::canonicalize(&ours).ok() == std::fs::canonicalize(&on_path).ok()
            }
            _ => false,
        }
    }

    /// Python 3 with pip, for the wheel check: `AZDEPLOY_PYTHON`, else `python3` on `PATH`.
    pub fn python(&self) -> Option<PathBuf> {
        match &self.python_override {
            Some(p) => self.resolve(p),
            None => self.resolve(&OsString::from("python3")),
        }
    }

    /// git, for the default image tag; `None` when it is not installed.
    pub fn git(&self) -> Option<PathBuf> {
        self.resolve(&OsString::from("git"))
    }

    /// A name with a slash is a path (relative to the starting directory); a bare name is
    /// looked up on `PATH`.
    fn resolve(&self, name: &OsString) -> Option<PathBuf> {
        let p = Path::new(name);
        if p.components().count() > 1 || p.is_absolute() {
            let full = self.cwd.join(p);
            return full.is_file().then_some(full);
        }
        which::which_in(name, self.path.as_ref(), &self.cwd).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn exe(dir: &Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn tools(dir: &Path, vars: &[(&str, &str)]) -> Tools {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Tools::new(dir, move |k| map.get(k).cloned())
    }

    #[test]
    fn precedence_override_then_original_cli_then_path() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let on_path = exe(&bin, "docker");
        let orig = exe(d.path(), "docker-orig");
        let over = exe(d.path(), "docker-over");
        let path = bin.to_str().unwrap();
        let t = tools(d.path(), &[("PATH", path)]);
        assert_eq!(t.docker().unwrap(), on_path);
        let t = tools(
            d.path(),
            &[
                ("PATH", path),
                ("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND", "./docker-orig"),
            ],
        );
        assert_eq!(t.docker().unwrap(), d.path().join("./docker-orig"));
        assert!(orig.exists());
        let t = tools(
            d.path(),
            &[
                ("PATH", path),
                ("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND", "docker"),
                ("AZDEPLOY_DOCKER", over.to_str().unwrap()),
            ],
        );
        assert_eq!(t.docker().unwrap(), over);
    }

    #[test]
    fn missing_tools_say_where_they_looked() {
        let d = tempfile::tempdir().unwrap();
        let t = tools(
            d.path(),
            &[
                ("PATH", d.path().to_str().unwrap()),
                ("AZDEPLOY_AZ", "/no/such/az"),
            ],
        );
        let e = t.docker().unwrap_err();
        assert_eq!(e.to_string(), "docker not found on PATH");
        assert!(e.hint().unwrap().contains("AZDEPLOY_DOCKER"));
        assert_eq!(
            t.az().unwrap_err().to_string(),
            "az not found at AZDEPLOY_AZ=/no/such/az"
        );
    }
}
