//! The config file: `azdeploy.json` in the current directory, or the file `AZDEPLOY_CONFIG`
//! names. Its shape is the `FileConfig` below (unknown keys are errors); values are checked
//! while it is read, so an error names the file, line, column and key.
//!
//! May import: `config::values`, `report`.

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use super::values::*;
use crate::report::error::Error;

/// The config file looked for in the current directory.
pub const FILE_NAME: &str = "azdeploy.json";
/// The variable that names another config file.
pub const FILE_VAR: &str = "AZDEPLOY_CONFIG";

/// The file's shape. Unknown keys are errors.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<Port>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_path: Option<HealthPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildSection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<TimeoutsSection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureSection>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Utf8PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<Utf8PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<BTreeMap<String, String>>,
    /// `"acr"`: build in Azure Container Registry Tasks instead of locally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<Remote>,
    /// The buildx builder to use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builder: Option<Name>,
    /// `"registry"`: reuse (and leave) layers in the registry, for cold CI machines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheMode>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Seconds>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Seconds>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AzureSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<ResourceGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<AppName>,
    /// The region new resources are created in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The Container Apps environment a new app is created in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Name>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<Replicas>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<Replicas>,
}

/// Finds and reads the config file: `$AZDEPLOY_CONFIG` (which must exist), else `azdeploy.json`
/// in `cwd` when there is one.
pub fn read_file(
    cwd: &Utf8Path,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(Utf8PathBuf, FileConfig)>, Error> {
    let (path, required) = match var(FILE_VAR).filter(|v| !v.is_empty()) {
        Some(p) => (cwd.join(p), true),
        None => (cwd.join(FILE_NAME), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::usage(
                format!("{FILE_VAR} names {path}, which does not exist"),
                format!("point {FILE_VAR} at your config file, or unset it to use ./{FILE_NAME}"),
            ))
        }
        Err(source) => {
            return Err(Error::Io {
                action: "read the config file",
                path: path.to_string(),
                source,
            })
        }
    };
    let shown = display_path(cwd, &path);
    parse_file(&text, &shown).map(|cfg| Some((shown, cfg)))
}

/// Parses the text of a config file; `shown` names it in errors.
pub fn parse_file(text: &str, shown: &Utf8Path) -> Result<FileConfig, Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let cfg: FileConfig = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| config_error(shown, e.path().to_string(), e.inner()))?;
    de.end().map_err(|e| config_error(shown, ".".into(), &e))?;
    Ok(cfg)
}

/// A config error naming the file, line, column and key (`path`, dotted; `.` is the top).
fn config_error(shown: &Utf8Path, path: String, inner: &serde_json::Error) -> Error {
    {
        let position = format!(" at line {} column {}", inner.line(), inner.column());
        let message = inner.to_string();
        let message = message
            .strip_suffix(&position)
            .unwrap_or(&message)
            .to_string();
        let mut key = path;
        if key == "." {
            key = "(file)".into();
        }
        Error::Config {
            origin: format!("{shown}:{}:{}", inner.line(), inner.column()),
            key,
            message,
            hint: None,
        }
    }
}

fn display_path(cwd: &Utf8Path, path: &Utf8Path) -> Utf8PathBuf {
    path.strip_prefix(cwd)
        .map(Utf8Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}
