//! Every setting resolved: flags > `AZDEPLOY_*` variables > the config file > defaults, each
//! value with where it came from (`docker azdeploy config` shows it), and the rule no layer may
//! break: a project that deploys to Azure builds linux/amd64. This module reads the file it is
//! told about and nothing else: the caller passes the directory and a variable lookup.
//!
//! May import: `config::values`, `config::file`, `report`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

use super::file::{read_file, FileConfig};
use super::values::*;
use crate::report::error::Error;

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    /// A default worked out from the surroundings ("directory name").
    Derived(&'static str),
    File(Utf8PathBuf),
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::Derived(how) => write!(f, "default ({how})"),
            Source::File(p) => write!(f, "file {p}"),
            Source::Env(v) => write!(f, "env {v}"),
            Source::Flag(fl) => write!(f, "flag {fl}"),
        }
    }
}

/// A resolved value and its origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// Values given on the command line; `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub image: Option<ImageName>,
    pub platform: Option<Platform>,
    pub context: Option<Utf8PathBuf>,
    pub dockerfile: Option<Utf8PathBuf>,
    pub build_args: Vec<(String, String)>,
    pub port: Option<Port>,
    pub health_path: Option<HealthPath>,
    pub health_timeout: Option<Seconds>,
    pub deploy_timeout: Option<Seconds>,
    pub registry: Option<RegistryName>,
    pub resource_group: Option<ResourceGroup>,
    pub app: Option<AppName>,
    pub location: Option<Location>,
    pub environment: Option<Name>,
    pub min_replicas: Option<Replicas>,
    pub max_replicas: Option<Replicas>,
    pub remote: Option<Remote>,
    pub builder: Option<Name>,
    pub cache: Option<CacheMode>,
}

/// Every setting, resolved.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The config file that was read, if any.
    pub file: Option<Utf8PathBuf>,
    pub image: Sourced<ImageName>,
    pub platform: Sourced<Platform>,
    pub context: Sourced<Utf8PathBuf>,
    /// `None`: `Dockerfile` in the context.
    pub dockerfile: Sourced<Option<Utf8PathBuf>>,
    pub build_args: Sourced<BTreeMap<String, String>>,
    /// `Some("acr")`: build in ACR Tasks.
    pub remote: Sourced<Option<Remote>>,
    pub builder: Sourced<Option<Name>>,
    pub cache: Sourced<Option<CacheMode>>,
    /// The port the app listens on inside the container.
    pub port: Sourced<Port>,
    /// `None`: `/_stcore/health` for a Streamlit app, else `/`.
    pub health_path: Sourced<Option<HealthPath>>,
    pub health_timeout: Sourced<Seconds>,
    pub deploy_timeout: Sourced<Seconds>,
    pub registry: Sourced<Option<RegistryName>>,
    pub resource_group: Sourced<Option<ResourceGroup>>,
    pub app: Sourced<Option<AppName>>,
    /// The region new resources go to (`None`: the resource group's).
    pub location: Sourced<Option<Location>>,
    /// The Container Apps environment for a new app (`None`: the resource group's only one,
    /// else `<app>-env`).
    pub environment: Sourced<Option<Name>>,
    pub min_replicas: Sourced<Replicas>,
    pub max_replicas: Sourced<Replicas>,
}

/// One setting as `config` shows it.
#[derive(Debug, Serialize)]
pub struct Row {
    pub key: &'static str,
    pub value: serde_json::Value,
    pub source: String,
}

impl Settings {
    /// The Dockerfile to build: the configured one, else `Dockerfile` in the context.
    pub fn dockerfile_path(&self) -> Utf8PathBuf {
        match &self.dockerfile.value {
            Some(p) => p.clone(),
            None => self.context.value.join("Dockerfile"),
        }
    }

    /// Every setting with its value and source, in a stable order.
    pub fn rows(&self) -> Vec<Row> {
        fn row<T: Serialize>(key: &'static str, s: &Sourced<T>) -> Row {
            Row {
                key,
                value: serde_json::to_value(&s.value).unwrap_or(serde_json::Value::Null),
                source: s.source.to_string(),
            }
        }
        vec![
            row("image", &self.image),
            row("platform", &self.platform),
            row("port", &self.port),
            row("health_path", &self.health_path),
            row("build.context", &self.context),
            row("build.dockerfile", &self.dockerfile),
            row("build.args", &self.build_args),
            row("build.remote", &self.remote),
            row("build.builder", &self.builder),
            row("build.cache", &self.cache),
            row("timeouts.health", &self.health_timeout),
            row("timeouts.deploy", &self.deploy_timeout),
            row("azure.registry", &self.registry),
            row("azure.resource_group", &self.resource_group),
            row("azure.app", &self.app),
            row("azure.location", &self.location),
            row("azure.environment", &self.environment),
            row("azure.min_replicas", &self.min_replicas),
            row("azure.max_replicas", &self.max_replicas),
        ]
    }
}

/// The container app and its resource group, when both are known.
pub struct AppTarget<'a> {
    pub app: &'a str,
    pub rg: &'a str,
}

impl Settings {
    /// The app and resource group, or a usage error saying how to give them.
    pub fn app_target(&self) -> Result<AppTarget<'_>, Error> {
        match (&self.app.value, &self.resource_group.value) {
            (Some(app), Some(rg)) => Ok(AppTarget { app: &app.0, rg: &rg.0 }),
            _ => Err(Error::usage(
                "this needs the container app and its resource group",
                "pass --app NAME --resource-group RG, or set \"azure\": {\"app\": …, \"resource_group\": …} in azdeploy.json",
            )),
        }
    }
}

/// How variables are read (tests pass a map).
type VarLookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// One setting's layers, top first: the flag, the variable (checked by the type's `FromStr`),
/// the file. `None` when none is set.
struct Layers<'a, T> {
    key: &'static str,
    flag: (Option<T>, &'static str),
    env: (&'static str, &'a VarLookup<'a>),
    file: (Option<T>, &'a Source),
}

impl<T: FromStr> Layers<'_, T>
where
    T::Err: fmt::Display,
{
    fn pick(self) -> Result<Option<Sourced<T>>, Error> {
        if let Some(value) = self.flag.0 {
            return Ok(Some(Sourced {
                value,
                source: Source::Flag(self.flag.1),
            }));
        }
        let (name, var) = self.env;
        if let Some(raw) = var(name).filter(|v| !v.is_empty()) {
            let value = raw.parse().map_err(|e: T::Err| Error::Config {
                origin: format!("environment variable {name}"),
                key: self.key.into(),
                message: e.to_string(),
                hint: None,
            })?;
            return Ok(Some(Sourced {
                value,
                source: Source::Env(name),
            }));
        }
        Ok(self.file.0.map(|value| Sourced {
            value,
            source: self.file.1.clone(),
        }))
    }

    /// The picked value, or `default` from `source`.
    fn or(self, default: T, source: Source) -> Result<Sourced<T>, Error> {
        Ok(self.pick()?.unwrap_or(Sourced {
            value: default,
            source,
        }))
    }

    /// The picked value, or none (an optional setting).
    fn optional(self) -> Result<Sourced<Option<T>>, Error> {
        Ok(match self.pick()? {
            Some(s) => Sourced {
                value: Some(s.value),
                source: s.source,
            },
            None => Sourced {
                value: None,
                source: Source::Default,
            },
        })
    }
}

/// A setting's names: its key in the file, its flag, its variable.
struct Key {
    name: &'static str,
    flag: &'static str,
    env: &'static str,
}

const fn key(name: &'static str, flag: &'static str, env: &'static str) -> Key {
    Key { name, flag, env }
}

const IMAGE: Key = key("image", "--image", "AZDEPLOY_IMAGE");
const PLATFORM: Key = key("platform", "--platform", "AZDEPLOY_PLATFORM");
const CONTEXT: Key = key("build.context", "CONTEXT", "AZDEPLOY_CONTEXT");
const DOCKERFILE: Key = key("build.dockerfile", "--file", "AZDEPLOY_DOCKERFILE");
const REMOTE: Key = key("build.remote", "--remote", "AZDEPLOY_REMOTE");
const BUILDER: Key = key("build.builder", "--builder", "AZDEPLOY_BUILDER");
const CACHE: Key = key("build.cache", "--cache", "AZDEPLOY_CACHE");
const PORT: Key = key("port", "--port", "AZDEPLOY_PORT");
const HEALTH_PATH: Key = key("health_path", "--health-path", "AZDEPLOY_HEALTH_PATH");
const HEALTH_TIMEOUT: Key = key("timeouts.health", "--timeout", "AZDEPLOY_HEALTH_TIMEOUT");
const DEPLOY_TIMEOUT: Key = key(
    "timeouts.deploy",
    "--wait-timeout",
    "AZDEPLOY_DEPLOY_TIMEOUT",
);
const REGISTRY: Key = key("azure.registry", "--registry", "AZDEPLOY_REGISTRY");
const RESOURCE_GROUP: Key = key(
    "azure.resource_group",
    "--resource-group",
    "AZDEPLOY_RESOURCE_GROUP",
);
const APP: Key = key("azure.app", "--app", "AZDEPLOY_APP");
const LOCATION: Key = key("azure.location", "--location", "AZDEPLOY_LOCATION");
const ENVIRONMENT: Key = key("azure.environment", "--environment", "AZDEPLOY_ENVIRONMENT");
const MIN_REPLICAS: Key = key(
    "azure.min_replicas",
    "--min-replicas",
    "AZDEPLOY_MIN_REPLICAS",
);
const MAX_REPLICAS: Key = key(
    "azure.max_replicas",
    "--max-replicas",
    "AZDEPLOY_MAX_REPLICAS",
);

/// Where layers come from: the variable lookup and the file's source.
struct Where<'a> {
    var: &'a VarLookup<'a>,
    fsrc: &'a Source,
}

impl<'a> Where<'a> {
    fn at<T>(&self, k: Key, flag: Option<T>, file: Option<T>) -> Layers<'a, T> {
        Layers {
            key: k.name,
            flag: (flag, k.flag),
            env: (k.env, self.var),
            file: (file, self.fsrc),
        }
    }
}

/// Resolves every setting from flags, variables, the file and defaults.
pub fn resolve(cwd: &Utf8Path, var: &VarLookup, flags: &Overrides) -> Result<Settings, Error> {
    let (file_path, file) = match read_file(cwd, var)? {
        Some((p, f)) => (Some(p), f),
        None => (None, FileConfig::default()),
    };
    let fsrc = Source::File(file_path.clone().unwrap_or_default());
    let w = Where { var, fsrc: &fsrc };
    let f = flags.clone();
    let (build, timeouts, azure) = (
        file.build.unwrap_or_default(),
        file.timeouts.unwrap_or_default(),
        file.azure.unwrap_or_default(),
    );
    let default = || Source::Default;
    let settings = Settings {
        image: w
            .at(IMAGE, f.image, file.image)
            .or(image_from_dir(cwd), Source::Derived("directory name"))?,
        platform: w
            .at(PLATFORM, f.platform, file.platform)
            .or(default_platform(), default())?,
        context: w
            .at(CONTEXT, f.context, build.context)
            .or(".".into(), default())?,
        dockerfile: w
            .at(DOCKERFILE, f.dockerfile, build.dockerfile)
            .optional()?,
        build_args: build_args(build.args, &f.build_args, &fsrc, file_path.as_ref())?,
        remote: w.at(REMOTE, f.remote, build.remote).optional()?,
        builder: w.at(BUILDER, f.builder, build.builder).optional()?,
        cache: w.at(CACHE, f.cache, build.cache).optional()?,
        port: w.at(PORT, f.port, file.port).or(Port(8501), default())?,
        health_path: w
            .at(HEALTH_PATH, f.health_path, file.health_path)
            .optional()?,
        health_timeout: w
            .at(HEALTH_TIMEOUT, f.health_timeout, timeouts.health)
            .or(Seconds(180), default())?,
        deploy_timeout: w
            .at(DEPLOY_TIMEOUT, f.deploy_timeout, timeouts.deploy)
            .or(Seconds(300), default())?,
        registry: w.at(REGISTRY, f.registry, azure.registry).optional()?,
        resource_group: w
            .at(RESOURCE_GROUP, f.resource_group, azure.resource_group)
            .optional()?,
        app: w.at(APP, f.app, azure.app).optional()?,
        location: w.at(LOCATION, f.location, azure.location).optional()?,
        environment: w
            .at(ENVIRONMENT, f.environment, azure.environment)
            .optional()?,
        min_replicas: w
            .at(MIN_REPLICAS, f.min_replicas, azure.min_replicas)
            .or(Replicas(1), default())?,
        max_replicas: w
            .at(MAX_REPLICAS, f.max_replicas, azure.max_replicas)
            .or(Replicas(3), default())?,
        file: file_path,
    };
    deployable(&settings)?;
    replicas_in_order(&settings)?;
    Ok(settings)
}

/// At least one replica may run, and the minimum is not above the maximum.
fn replicas_in_order(s: &Settings) -> Result<(), Error> {
    let (min, max) = (&s.min_replicas, &s.max_replicas);
    if max.value.0 >= 1 && min.value.0 <= max.value.0 {
        return Ok(());
    }
    Err(Error::Config {
        origin: max.source.to_string(),
        key: "azure.max_replicas".into(),
        message: format!(
            "max_replicas {} ({}) must be at least 1 and not below min_replicas {} ({})",
            max.value, max.source, min.value, min.source
        ),
        hint: Some("set azure.max_replicas ≥ azure.min_replicas, and ≥ 1".into()),
    })
}

/// Build arguments merge key by key: flags win over the file.
fn build_args(
    file: Option<BTreeMap<String, String>>,
    flags: &[(String, String)],
    fsrc: &Source,
    file_path: Option<&Utf8PathBuf>,
) -> Result<Sourced<BTreeMap<String, String>>, Error> {
    let mut args = file.unwrap_or_default();
    let mut source = if args.is_empty() {
        Source::Default
    } else {
        fsrc.clone()
    };
    for (k, v) in flags {
        args.insert(k.clone(), v.clone());
        source = Source::Flag("--build-arg");
    }
    if let Some((k, _)) = args.iter().find(|(k, _)| k.is_empty() || k.contains('=')) {
        return Err(Error::Config {
            origin: file_path.map(|p| p.to_string()).unwrap_or_default(),
            key: "build.args".into(),
            message: format!("\"{k}\" is not a build argument name"),
            hint: None,
        });
    }
    Ok(Sourced {
        value: args,
        source,
    })
}

/// Azure Container Apps runs linux/amd64 only: a deployable project cannot build anything
/// else, whatever layer the platform came from.
fn deployable(s: &Settings) -> Result<(), Error> {
    let (Some(app), false) = (&s.app.value, s.platform.value.is_azure()) else {
        return Ok(());
    };
    Err(Error::Config {
        origin: s.platform.source.to_string(),
        key: "platform".into(),
        message: format!(
            "{} cannot run on Azure Container Apps, which runs linux/amd64 only, and azure.app \"{}\" ({}) deploys there",
            s.platform.value, app, s.app.source
        ),
        hint: Some(format!(
            "remove the platform setting ({}) so it is linux/amd64, or leave azure.app unset to build {} for use elsewhere",
            s.platform.source, s.platform.value
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::super::file::FILE_NAME;
    use super::*;
    use std::collections::HashMap;

    fn resolve_with(
        file: Option<&str>,
        vars: &[(&str, &str)],
        flags: &Overrides,
    ) -> (tempfile::TempDir, Result<Settings, Error>) {
        let d = tempfile::Builder::new()
            .prefix("My App_")
            .tempdir()
            .unwrap();
        let cwd = Utf8Path::from_path(d.path()).unwrap().to_path_buf();
        if let Some(text) = file {
            std::fs::write(cwd.join(FILE_NAME), text).unwrap();
        }
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let r = resolve(&cwd, &|k| map.get(k).cloned(), flags);
        (d, r)
    }

    fn config_err(file: &str) -> String {
        match resolve_with(Some(file), &[], &Overrides::default()).1 {
            Err(e @ Error::Config { .. }) => e.to_string(),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let (_d, s) = resolve_with(None, &[], &Overrides::default());
        let s = s.unwrap();
        assert_eq!(s.platform.value.to_string(), "linux/amd64");
        assert_eq!(s.port.value, Port(8501));
        assert!(s.image.value.0.starts_with("my-app_"), "{}", s.image.value);
        assert_eq!(s.image.source, Source::Derived("directory name"));
        assert_eq!(s.dockerfile_path(), Utf8PathBuf::from("./Dockerfile"));
        assert_eq!(s.health_timeout.value, Seconds(180));
        assert_eq!(s.deploy_timeout.value, Seconds(300));
        assert_eq!(
            (s.min_replicas.value, s.max_replicas.value),
            (Replicas(1), Replicas(3))
        );
        assert!(s.location.value.is_none() && s.environment.value.is_none());
        assert!(s.file.is_none());
    }

    #[test]
    fn replicas_out_of_order_name_both_sources() {
        let (_d, r) = resolve_with(
            Some(r#"{"azure": {"min_replicas": 4}}"#),
            &[("AZDEPLOY_MAX_REPLICAS", "2")],
            &Overrides::default(),
        );
        let e = r.unwrap_err().to_string();
        assert!(e.contains("max_replicas 2 (env AZDEPLOY_MAX_REPLICAS) must be at least 1 and not below min_replicas 4 (file "), "{e}");
        let (_d, r) = resolve_with(
            Some(r#"{"azure": {"max_replicas": 0}}"#),
            &[],
            &Overrides::default(),
        );
        assert!(r.is_err());
        let (_d, r) = resolve_with(
            Some(
                r#"{"azure": {"location": "West Europe", "environment": "shared-env", "min_replicas": 0, "max_replicas": 1}}"#,
            ),
            &[],
            &Overrides::default(),
        );
        let s = r.unwrap();
        assert_eq!(s.location.value.unwrap().0, "westeurope");
        assert_eq!(s.environment.value.unwrap().0, "shared-env");
        assert_eq!(
            (s.min_replicas.value, s.max_replicas.value),
            (Replicas(0), Replicas(1))
        );
    }

    #[test]
    fn precedence_flag_env_file_default() {
        let file = r#"{"platform": "linux/arm64", "port": 8000, "image": "fromfile",
                      "azure": {"registry": "fileacr"}, "build": {"args": {"A": "1", "B": "2"}}}"#;
        let flags = Overrides {
            platform: Some("linux/amd64".parse().unwrap()),
            build_args: vec![("B".into(), "flag".into())],
            ..Default::default()
        };
        let (_d, s) = resolve_with(
            Some(file),
            &[
                ("AZDEPLOY_PLATFORM", "linux/s390x"),
                ("AZDEPLOY_PORT", "9000"),
            ],
            &flags,
        );
        let s = s.unwrap();
        assert_eq!(
            (s.platform.value.to_string(), &s.platform.source),
            ("linux/amd64".into(), &Source::Flag("--platform"))
        );
        assert_eq!(
            (s.port.value, &s.port.source),
            (Port(9000), &Source::Env("AZDEPLOY_PORT"))
        );
        assert_eq!(s.image.value.0, "fromfile");
        assert_eq!(s.image.source, Source::File("azdeploy.json".into()));
        assert_eq!(s.registry.value.as_ref().unwrap().0, "fileacr");
        assert_eq!(s.health_path.source, Source::Default);
        assert_eq!(s.build_args.value.get("A").unwrap(), "1");
        assert_eq!(s.build_args.value.get("B").unwrap(), "flag");
    }

    #[test]
    fn bad_values_name_file_line_column_and_key() {
        let e = config_err("{\n  \"platform\": \"linux/amd64x\"\n}");
        assert!(
            e.starts_with("invalid setting `platform` in azdeploy.json:2:28:"),
            "{e}"
        );
        assert!(e.contains("did you mean linux/amd64?"), "{e}");
        let e = config_err("{\"port\": 0}");
        assert!(e.contains("`port`") && e.contains("out of range"), "{e}");
        let e = config_err("{\"port\": 70000}");
        assert!(e.contains("port 70000 is out of range"), "{e}");
        let e = config_err("{\"port\": \"8501\"}");
        assert!(e.contains("`port`") && e.contains("invalid type"), "{e}");
        let e = config_err("{\"port\": 8501,\n \"timeouts\": {\"deploy\": 5,\n   \"health\": -1}}");
        assert!(
            e.contains("`timeouts.health` in azdeploy.json:3:15:"),
            "{e}"
        );
        let e = config_err("{\n\"build\": {\"dockerfil\": \"x\"}}");
        assert!(
            e.contains("`build.dockerfil`") && e.contains("azdeploy.json:2:"),
            "{e}"
        );
        let e = config_err("{\"colour\": 1}");
        assert!(e.contains("`colour`") && e.contains("unknown field"), "{e}");
        let e = config_err("{\"health_path\": \"healthz\"}");
        assert!(
            e.contains("`health_path`") && e.contains("must start with /"),
            "{e}"
        );
        let e = config_err("{\"image\": \"My App\"}");
        assert!(e.contains("`image`"), "{e}");
        let e = config_err("{\"timeouts\": {\"health\": 0}}");
        assert!(e.contains("`timeouts.health`"), "{e}");
        let e = config_err("{\"build\": {\"args\": {\"A\": 1}}}");
        assert!(e.contains("`build.args.A`"), "{e}");
        let e = config_err("{\"port\": 8501,}");
        assert!(e.contains("azdeploy.json:1:"), "{e}");
        let e = config_err("{} {}");
        assert!(e.contains("trailing characters"), "{e}");
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        let (_d, r) = resolve_with(None, &[("AZDEPLOY_PORT", "http")], &Overrides::default());
        let e = r.unwrap_err().to_string();
        assert_eq!(e, "invalid setting `port` in environment variable AZDEPLOY_PORT: \"http\" is not a port number (1-65535)");
        let (_d, r) = resolve_with(
            None,
            &[("AZDEPLOY_PLATFORM", "linux/amd64x")],
            &Overrides::default(),
        );
        let e = r.unwrap_err();
        assert_eq!(e.to_string(), "invalid setting `platform` in environment variable AZDEPLOY_PLATFORM: \"linux/amd64x\" is not a platform buildx builds; did you mean linux/amd64? (os/arch[/variant], e.g. linux/amd64)");
        assert_eq!(e.exit_code(), crate::report::error::USAGE_CODE);
    }

    #[test]
    fn a_deployable_project_is_linux_amd64_whatever_the_layer() {
        let file = r#"{"platform": "linux/arm64", "azure": {"app": "shop"}}"#;
        let (_d, r) = resolve_with(Some(file), &[], &Overrides::default());
        let e = r.unwrap_err();
        assert_eq!(e.to_string(), "invalid setting `platform` in file azdeploy.json: linux/arm64 cannot run on Azure Container Apps, which runs linux/amd64 only, and azure.app \"shop\" (file azdeploy.json) deploys there");
        assert!(e
            .hint()
            .unwrap()
            .contains("remove the platform setting (file azdeploy.json)"));
        assert_eq!(e.exit_code(), crate::report::error::USAGE_CODE);
        let (_d, r) = resolve_with(
            None,
            &[("AZDEPLOY_PLATFORM", "aarch64"), ("AZDEPLOY_APP", "shop")],
            &Overrides::default(),
        );
        assert!(r
            .unwrap_err()
            .to_string()
            .contains("in env AZDEPLOY_PLATFORM: linux/arm64 cannot run"));
        let flags = Overrides {
            platform: Some("linux/arm64".parse().unwrap()),
            ..Default::default()
        };
        let (_d, r) = resolve_with(Some(r#"{"azure": {"app": "shop"}}"#), &[], &flags);
        assert!(r.unwrap_err().to_string().contains("in flag --platform"));
        // Without an app, any platform builds.
        let (_d, r) = resolve_with(
            Some(r#"{"platform": "linux/arm64"}"#),
            &[],
            &Overrides::default(),
        );
        assert_eq!(r.unwrap().platform.value.to_string(), "linux/arm64");
    }

    #[test]
    fn azdeploy_config_names_another_file_which_must_exist() {
        let (_d, r) = resolve_with(
            None,
            &[("AZDEPLOY_CONFIG", "other.json")],
            &Overrides::default(),
        );
        let e = r.unwrap_err();
        assert!(
            e.to_string().starts_with("AZDEPLOY_CONFIG names ")
                && e.to_string().ends_with("other.json, which does not exist"),
            "{e}"
        );
        assert_eq!(e.exit_code(), crate::report::error::USAGE_CODE);
    }
}
