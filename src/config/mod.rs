//! Settings: `azdeploy.json`, `AZDEPLOY_*` variables, command-line flags and defaults.
//!
//! Precedence: flags > environment > file > defaults. Every resolved value remembers where it
//! came from (`docker azdeploy config` shows it). Values are checked while the file is read (the
//! newtypes below validate in `TryFrom`), so a bad value is reported with the file, line, column
//! and key; the same checks run on variables and flags. This module reads the file it is told
//! about and nothing else: the caller passes the directory and a variable lookup.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use camino::{Utf8Path, Utf8PathBuf};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::report::error::Error;

/// The config file looked for in the current directory.
pub const FILE_NAME: &str = "azdeploy.json";
/// The variable that names another config file.
pub const FILE_VAR: &str = "AZDEPLOY_CONFIG";

/// `os/arch[/variant]`, e.g. `linux/amd64` or `linux/arm/v7`: always one of the platforms
/// buildx builds Linux images for ([`KNOWN_PLATFORMS`]), in its canonical spelling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

/// The Linux platforms buildx knows how to build (`docker buildx ls` lists these for a QEMU
/// builder), canonical spelling: what `Platform` accepts after normalising aliases.
pub const KNOWN_PLATFORMS: &[&str] = &[
    "linux/amd64",
    "linux/amd64/v2",
    "linux/amd64/v3",
    "linux/amd64/v4",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/arm/v5",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
    "linux/mips64le",
    "linux/mips64",
    "linux/loong64",
];

/// containerd's normalisation of an architecture and variant (`x86_64` → `amd64`, `aarch64` and
/// `arm64/v8` → `arm64`, `armhf` → `arm/v7`, …), lowercased.
fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.map(str::to_ascii_lowercase);
    let v = variant.as_deref();
    match arch.as_str() {
        "i386" | "i686" | "x86" => ("386".into(), None),
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), variant.filter(|v| v != "v1")),
        "aarch64" | "arm64" => match v {
            Some("8" | "v8" | "v8.0") | None => ("arm64".into(), None),
            _ => ("arm64".into(), variant),
        },
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => match v {
            None | Some("7") => ("arm".into(), Some("v7".into())),
            Some(n @ ("5" | "6")) => ("arm".into(), Some(format!("v{n}"))),
            _ => ("arm".into(), variant),
        },
        "ppc64el" => ("ppc64le".into(), variant),
        _ => (arch, variant),
    }
}

impl Platform {
    /// `linux/amd64`: what Azure Container Apps runs.
    pub fn is_azure(&self) -> bool {
        *self == default_platform()
    }
}

/// The known platform closest to `s` (edit distance), for "did you mean".
fn closest_platform(s: &str) -> &'static str {
    let s = s.to_ascii_lowercase();
    let with_os = if s.contains('/') && !s.starts_with("linux") && s.matches('/').count() == 1 {
        format!("linux/{s}")
    } else if s.contains('/') {
        s.clone()
    } else {
        format!("linux/{s}")
    };
    KNOWN_PLATFORMS
        .iter()
        .min_by_key(|k| strsim::levenshtein(&s, k).min(strsim::levenshtein(&with_os, k)))
        .copied()
        .unwrap_or("linux/amd64")
}

impl FromStr for Platform {
    type Err = String;
    /// Accepts `os/arch[/variant]` and a bare `arch[/variant]` (Linux), with the aliases docker
    /// accepts (`x86_64`, `aarch64`, `arm64/v8`, any case); refuses what buildx cannot build,
    /// naming the closest platform it can.
    fn from_str(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] if os.eq_ignore_ascii_case("linux") => ("linux", *arch, None),
            [os, arch, v] if os.eq_ignore_ascii_case("linux") => ("linux", *arch, Some(*v)),
            [arch] => ("linux", *arch, None),
            [arch, v] if !arch.eq_ignore_ascii_case("linux") && !v.is_empty() => {
                ("linux", *arch, Some(*v))
            }
            _ => ("", "", None),
        };
        let (arch, variant) = normalize_arch(arch, variant);
        let p = Platform {
            os: os.into(),
            arch,
            variant,
        };
        if KNOWN_PLATFORMS.contains(&p.to_string().as_str()) {
            return Ok(p);
        }
        Err(format!(
            "\"{s}\" is not a platform buildx builds; did you mean {}? (os/arch[/variant], e.g. linux/amd64)",
            closest_platform(s)
        ))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A TCP port, 1–65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "u16")]
pub struct Port(pub u16);

impl TryFrom<i64> for Port {
    type Error = String;
    fn try_from(n: i64) -> Result<Port, String> {
        match u16::try_from(n) {
            Ok(p) if p > 0 => Ok(Port(p)),
            _ => Err(format!("port {n} is out of range (1-65535)")),
        }
    }
}

impl FromStr for Port {
    type Err = String;
    fn from_str(s: &str) -> Result<Port, String> {
        let n: i64 = s
            .trim()
            .parse()
            .map_err(|_| format!("\"{s}\" is not a port number (1-65535)"))?;
        Port::try_from(n)
    }
}

/// A whole number of seconds, 1–86400.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "u64")]
pub struct Seconds(pub u64);

impl TryFrom<i64> for Seconds {
    type Error = String;
    fn try_from(n: i64) -> Result<Seconds, String> {
        if (1..=86_400).contains(&n) {
            Ok(Seconds(n as u64))
        } else {
            Err(format!("{n} is not a timeout in seconds (1-86400)"))
        }
    }
}

impl FromStr for Seconds {
    type Err = String;
    fn from_str(s: &str) -> Result<Seconds, String> {
        let n: i64 = s
            .trim()
            .parse()
            .map_err(|_| format!("\"{s}\" is not a number of seconds (1-86400)"))?;
        Seconds::try_from(n)
    }
}

/// An HTTP path starting with `/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct HealthPath(pub String);

impl FromStr for HealthPath {
    type Err = String;
    fn from_str(s: &str) -> Result<HealthPath, String> {
        if s.starts_with('/') && !s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Ok(HealthPath(s.to_string()))
        } else {
            Err(format!(
                "\"{s}\" is not an HTTP path (it must start with / and have no spaces)"
            ))
        }
    }
}

/// A docker repository name without a tag: `myapp`, `team/myapp`, `myacr.azurecr.io/myapp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct ImageName(pub String);

impl FromStr for ImageName {
    type Err = String;
    fn from_str(s: &str) -> Result<ImageName, String> {
        let err = || {
            format!("\"{s}\" is not an image name (lowercase letters, digits, and . _ - / separators; no tag)")
        };
        match s.parse::<crate::image::reference::ImageRef>() {
            Ok(r) if r.tag.is_none() && r.digest.is_none() => Ok(ImageName(s.to_string())),
            _ => Err(err()),
        }
    }
}

/// A name for an Azure resource or a registry: non-empty, no spaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Name(pub String);

impl FromStr for Name {
    type Err = String;
    fn from_str(s: &str) -> Result<Name, String> {
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Err(format!(
                "\"{s}\" is not a name (it must be non-empty, with no spaces)"
            ))
        } else {
            Ok(Name(s.to_string()))
        }
    }
}

/// A container app's name as Azure accepts it: 2-32 lowercase letters, digits and single
/// hyphens, starting with a letter and ending with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct AppName(pub String);

impl FromStr for AppName {
    type Err = String;
    fn from_str(s: &str) -> Result<AppName, String> {
        let b = s.as_bytes();
        let ok = (2..=32).contains(&b.len())
            && b[0].is_ascii_lowercase()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.contains("--");
        if ok {
            Ok(AppName(s.to_string()))
        } else {
            Err(format!(
                "\"{s}\" is not a container app name (2-32 lowercase letters, digits and single hyphens, starting with a letter)"
            ))
        }
    }
}

/// A resource group's name as Azure accepts it: 1-90 letters, digits, `_`, `-`, `.`, `(`, `)`,
/// not ending with a dot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct ResourceGroup(pub String);

impl FromStr for ResourceGroup {
    type Err = String;
    fn from_str(s: &str) -> Result<ResourceGroup, String> {
        let ok = (1..=90).contains(&s.chars().count())
            && !s.ends_with('.')
            && s.chars()
                .all(|c| c.is_alphanumeric() || "_-.()".contains(c));
        if ok {
            Ok(ResourceGroup(s.to_string()))
        } else {
            Err(format!(
                "\"{s}\" is not a resource group name (1-90 letters, digits, _ - . ( ), not ending with a dot)"
            ))
        }
    }
}

/// Where images go: an Azure Container Registry's name (5-50 letters and digits) or a registry
/// host (`myacr.azurecr.io`, `localhost:5000`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct RegistryName(pub String);

impl FromStr for RegistryName {
    type Err = String;
    fn from_str(s: &str) -> Result<RegistryName, String> {
        let acr = (5..=50).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric());
        let host = crate::image::reference::is_registry_host(s)
            && format!("{s}/x")
                .parse::<crate::image::reference::ImageRef>()
                .is_ok();
        if acr || host {
            Ok(RegistryName(s.to_string()))
        } else {
            Err(format!(
                "\"{s}\" is neither an ACR name (5-50 letters and digits) nor a registry host (myacr.azurecr.io, localhost:5000)"
            ))
        }
    }
}

// Values are checked inside the visitor, while serde_json still knows where the value ends, so
// errors carry the value's own line and column (a check after deserializing would be reported
// at the end of the enclosing object).
macro_rules! string_newtype_conversions {
    ($($t:ty),*) => {$(
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.to_string()
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$t, E> {
                        s.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    )*};
}
string_newtype_conversions!(
    Platform,
    HealthPath,
    ImageName,
    Name,
    Remote,
    CacheMode,
    AppName,
    ResourceGroup,
    RegistryName
);

macro_rules! integer_newtype_conversions {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a whole number")
                    }
                    fn visit_i64<E: de::Error>(self, n: i64) -> Result<$t, E> {
                        <$t>::try_from(n).map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, n: u64) -> Result<$t, E> {
                        <$t>::try_from(i64::try_from(n).unwrap_or(i64::MAX)).map_err(E::custom)
                    }
                }
                d.deserialize_i64(V)
            }
        }
    )*};
}
integer_newtype_conversions!(Port, Seconds);

macro_rules! display_inner {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}
display_inner!(
    Port,
    Seconds,
    HealthPath,
    ImageName,
    Name,
    Remote,
    CacheMode,
    AppName,
    ResourceGroup,
    RegistryName
);

impl From<Port> for u16 {
    fn from(p: Port) -> u16 {
        p.0
    }
}
impl From<Seconds> for u64 {
    fn from(s: Seconds) -> u64 {
        s.0
    }
}

/// A build argument: `KEY=VALUE` with a non-empty key.
pub fn parse_build_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("\"{s}\" is not KEY=VALUE")),
    }
}

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

/// Where build layers are cached besides the builder: `registry` or `none`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct CacheMode(pub String);

impl FromStr for CacheMode {
    type Err = String;
    fn from_str(s: &str) -> Result<CacheMode, String> {
        match s {
            "registry" | "none" => Ok(CacheMode(s.into())),
            _ => Err(format!(
                "\"{s}\" is not a cache mode (\"registry\" or \"none\")"
            )),
        }
    }
}

/// Where a build runs when not on the local builder: `acr` (ACR Tasks, native amd64).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Remote(pub String);

impl FromStr for Remote {
    type Err = String;
    fn from_str(s: &str) -> Result<Remote, String> {
        match s {
            "acr" => Ok(Remote(s.into())),
            _ => Err(format!(
                "\"{s}\" is not a remote builder (the one there is: \"acr\")"
            )),
        }
    }
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
}

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
        ]
    }
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

/// Resolves every setting from flags, variables, the file and defaults.
pub fn resolve(
    cwd: &Utf8Path,
    var: &dyn Fn(&str) -> Option<String>,
    flags: &Overrides,
) -> Result<Settings, Error> {
    let loaded = read_file(cwd, var)?;
    let (file_path, file) = match loaded {
        Some((p, f)) => (Some(p), f),
        None => (None, FileConfig::default()),
    };
    let fsrc = || Source::File(file_path.clone().unwrap_or_default());
    let env = |name: &str| var(name).filter(|v| !v.is_empty());
    // Layers for one setting: flag, env (parsed with FromStr), file, default.
    macro_rules! layer {
        ($key:literal, $flag:expr, $flagname:literal, $env:literal, $file:expr, $default:expr) => {{
            if let Some(v) = $flag.clone() {
                Sourced {
                    value: Some(v),
                    source: Source::Flag($flagname),
                }
            } else if let Some(raw) = env($env) {
                let v = parse_env(&raw).map_err(|message| Error::Config {
                    origin: format!("environment variable {}", $env),
                    key: $key.into(),
                    message,
                    hint: None,
                })?;
                Sourced {
                    value: Some(v),
                    source: Source::Env($env),
                }
            } else if let Some(v) = $file {
                Sourced {
                    value: Some(v),
                    source: fsrc(),
                }
            } else {
                $default
            }
        }};
    }
    let build = file.build.unwrap_or_default();
    let timeouts = file.timeouts.unwrap_or_default();
    let azure = file.azure.unwrap_or_default();
    fn unwrap<T>(s: Sourced<Option<T>>) -> Sourced<T> {
        Sourced {
            value: s.value.expect("a default is always given"),
            source: s.source,
        }
    }

    let image = unwrap(layer!(
        "image",
        flags.image,
        "--image",
        "AZDEPLOY_IMAGE",
        file.image,
        Sourced {
            value: Some(image_from_dir(cwd)),
            source: Source::Derived("directory name")
        }
    ));
    let platform = unwrap(layer!(
        "platform",
        flags.platform,
        "--platform",
        "AZDEPLOY_PLATFORM",
        file.platform,
        Sourced {
            value: Some(default_platform()),
            source: Source::Default
        }
    ));
    let context = unwrap(layer!(
        "build.context",
        flags.context,
        "CONTEXT",
        "AZDEPLOY_CONTEXT",
        build.context,
        Sourced {
            value: Some(Utf8PathBuf::from(".")),
            source: Source::Default
        }
    ));
    let dockerfile = layer!(
        "build.dockerfile",
        flags.dockerfile,
        "--file",
        "AZDEPLOY_DOCKERFILE",
        build.dockerfile,
        Sourced {
            value: None,
            source: Source::Default
        }
    );
    let remote = layer!(
        "build.remote",
        flags.remote,
        "--remote",
        "AZDEPLOY_REMOTE",
        build.remote,
        Sourced {
            value: None,
            source: Source::Default
        }
    );
    let builder = layer!(
        "build.builder",
        flags.builder,
        "--builder",
        "AZDEPLOY_BUILDER",
        build.builder,
        Sourced {
            value: None,
            source: Source::Default
        }
    );
    let cache = layer!(
        "build.cache",
        flags.cache,
        "--cache",
        "AZDEPLOY_CACHE",
        build.cache,
        Sourced {
            value: None,
            source: Source::Default
        }
    );
    let port = unwrap(layer!(
        "port",
        flags.port,
        "--port",
        "AZDEPLOY_PORT",
        file.port,
        Sourced {
            value: Some(Port(8501)),
            source: Source::Default
        }
    ));
    let health_path = layer!(
        "health_path",
        flags.health_path,
        "--health-path",
        "AZDEPLOY_HEALTH_PATH",
        file.health_path,
        Sourced {
            value: None,
            source: Source::Default
        }
    );
    let health_timeout = unwrap(layer!(
        "timeouts.health",
        flags.health_timeout,
        "--timeout",
        "AZDEPLOY_HEALTH_TIMEOUT",
        timeouts.health,
        Sourced {
            value: Some(Seconds(180)),
            source: Source::Default
        }
    ));
    let deploy_timeout = unwrap(layer!(
        "timeouts.deploy",
        flags.deploy_timeout,
        "--wait-timeout",
        "AZDEPLOY_DEPLOY_TIMEOUT",
        timeouts.deploy,
        Sourced {
            value: Some(Seconds(300)),
            source: Source::Default
        }
    ));
    let registry = layer!(
        "azure.registry",
        flags.registry,
        "--registry",
        "AZDEPLOY_REGISTRY",
        azure.registry,
        Sourced {
            value: None,
            source: Source::Default
        }
    );
    let resource_group = layer!(
        "azure.resource_group",
        flags.resource_group,
        "--resource-group",
        "AZDEPLOY_RESOURCE_GROUP",
        azure.resource_group,
        Sourced {
            value: None,
            source: Source::Default
        }
    );
    let app = layer!(
        "azure.app",
        flags.app,
        "--app",
        "AZDEPLOY_APP",
        azure.app,
        Sourced {
            value: None,
            source: Source::Default
        }
    );

    // Build arguments merge key by key: flags win over the file.
    let mut args = build.args.unwrap_or_default();
    let mut args_source = if args.is_empty() {
        Source::Default
    } else {
        fsrc()
    };
    for (k, v) in &flags.build_args {
        args.insert(k.clone(), v.clone());
        args_source = Source::Flag("--build-arg");
    }
    if let Some((k, _)) = args.iter().find(|(k, _)| k.is_empty() || k.contains('=')) {
        return Err(Error::Config {
            origin: file_path.map(|p| p.to_string()).unwrap_or_default(),
            key: "build.args".into(),
            message: format!("\"{k}\" is not a build argument name"),
            hint: None,
        });
    }

    // Azure Container Apps runs linux/amd64 only: a deployable project cannot build anything
    // else, whatever layer the platform came from.
    if let (Some(app_name), false) = (&app.value, platform.value.is_azure()) {
        return Err(Error::Config {
            origin: platform.source.to_string(),
            key: "platform".into(),
            message: format!(
                "{} cannot run on Azure Container Apps, which runs linux/amd64 only, and azure.app \"{}\" ({}) deploys there",
                platform.value, app_name, app.source
            ),
            hint: Some(format!(
                "remove the platform setting ({}) so it is linux/amd64, or leave azure.app unset to build {} for use elsewhere",
                platform.source, platform.value
            )),
        });
    }

    Ok(Settings {
        file: file_path,
        image,
        platform,
        context,
        dockerfile,
        build_args: Sourced {
            value: args,
            source: args_source,
        },
        remote,
        builder,
        cache,
        port,
        health_path,
        health_timeout,
        deploy_timeout,
        registry,
        resource_group,
        app,
    })
}

/// Parses a variable's value with the type's own checks.
fn parse_env<T: FromStr>(raw: &str) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    raw.parse().map_err(|e: T::Err| e.to_string())
}

/// `linux/amd64`: what Azure Container Apps runs.
pub fn default_platform() -> Platform {
    Platform {
        os: "linux".into(),
        arch: "amd64".into(),
        variant: None,
    }
}

/// An image name made from the directory's name: lowercase, other characters turned into `-`.
pub fn image_from_dir(dir: &Utf8Path) -> ImageName {
    let raw = dir.file_name().unwrap_or("app").to_ascii_lowercase();
    let mut name = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_' {
            c
        } else {
            '-'
        };
        if !(c == '-' && name.ends_with('-')) {
            name.push(c);
        }
    }
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let name = name.replace("..", ".");
    match name.parse() {
        Ok(n) if !name.is_empty() => n,
        _ => ImageName("app".into()),
    }
}

#[cfg(test)]
mod tests {
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
        assert!(s.file.is_none());
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
    fn platforms_are_normalised_or_refused_with_the_closest() {
        for (given, canonical) in [
            ("linux/amd64", "linux/amd64"),
            ("x86_64", "linux/amd64"),
            ("amd64", "linux/amd64"),
            ("linux/x86-64", "linux/amd64"),
            ("Linux/AMD64", "linux/amd64"),
            ("aarch64", "linux/arm64"),
            ("linux/aarch64", "linux/arm64"),
            ("arm64/v8", "linux/arm64"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/arm", "linux/arm/v7"),
            ("armhf", "linux/arm/v7"),
            ("linux/arm/6", "linux/arm/v6"),
            ("i386", "linux/386"),
            ("linux/amd64/v1", "linux/amd64"),
            ("linux/amd64/v3", "linux/amd64/v3"),
            (" linux/s390x ", "linux/s390x"),
        ] {
            let p: Platform = given.parse().unwrap_or_else(|e| panic!("{given}: {e}"));
            assert_eq!(p.to_string(), canonical, "{given}");
        }
        for (bad, closest) in [
            ("linux/amd64x", "linux/amd64"),
            ("linux/arm65", "linux/arm64"),
            ("lnux/amd64", "linux/amd64"),
            ("amd46", "linux/amd64"),
            ("windows/amd64", "linux/amd64"),
            ("linux/arm64/v7", "linux/arm/v7"),
            ("linux/amd64/v9", "linux/amd64/v2"),
            ("", "linux/386"),
            ("linux/", "linux/386"),
        ] {
            let e = bad.parse::<Platform>().unwrap_err();
            assert!(
                e.contains(&format!("did you mean {closest}?")),
                "{bad}: {e}"
            );
        }
        assert!("linux/amd64".parse::<Platform>().unwrap().is_azure());
        assert!(!"linux/amd64/v3".parse::<Platform>().unwrap().is_azure());
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

    #[test]
    fn azure_names() {
        for ok in ["web", "shop-2", "a1"] {
            assert!(ok.parse::<AppName>().is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "Web",
            "2web",
            "web-",
            "we--b",
            "my app",
            &"a".repeat(33),
        ] {
            assert!(bad.parse::<AppName>().is_err(), "{bad}");
        }
        for ok in ["rg", "my_rg-1.(prod)", "ré"] {
            assert!(ok.parse::<ResourceGroup>().is_ok(), "{ok}");
        }
        for bad in ["", "rg.", "my rg", &"r".repeat(91)] {
            assert!(bad.parse::<ResourceGroup>().is_err(), "{bad}");
        }
        for ok in [
            "myacr",
            "myacr.azurecr.io",
            "127.0.0.1:5000",
            "localhost:5000",
        ] {
            assert!(ok.parse::<RegistryName>().is_ok(), "{ok}");
        }
        for bad in [
            "acr",
            "my-acr",
            "my acr",
            "myacr.azurecr.io:port",
            &"a".repeat(51),
        ] {
            assert!(bad.parse::<RegistryName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn value_checks() {
        assert!("linux/".parse::<Platform>().is_err());
        for ok in [
            "app",
            "team/app",
            "myacr.azurecr.io/app",
            "localhost:5000/a_b",
            "a.b-c__d",
        ] {
            assert!(ok.parse::<ImageName>().is_ok(), "{ok}");
        }
        for bad in ["", "App", "app:tag", "-app", "a..b", "team//app", "a/b/"] {
            assert!(bad.parse::<ImageName>().is_err(), "{bad}");
        }
        assert_eq!(
            image_from_dir(Utf8Path::new("/x/My Cool App!")).0,
            "my-cool-app"
        );
        assert_eq!(image_from_dir(Utf8Path::new("/x/---")).0, "app");
        assert_eq!(
            parse_build_arg("A=b=c").unwrap(),
            ("A".into(), "b=c".into())
        );
        assert!(parse_build_arg("A").is_err() && parse_build_arg("=x").is_err());
    }
}
