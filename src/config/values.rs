//! The values settings take, each checked where it enters (flag, variable or file): platforms,
//! ports, timeouts, paths, image names, Azure names, cache and remote modes. A bad value is an
//! error that says why (and, for a platform, which valid one is closest).
//!
//! May import: `image::reference` (a leaf).

use std::fmt;
use std::str::FromStr;

use camino::Utf8Path;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

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

/// A whole number written in `s` (spaces around it allowed), then held to `T`'s own range.
fn parse_whole<T: TryFrom<i64, Error = String>>(s: &str, what: &str) -> Result<T, String> {
    let n: i64 = s
        .trim()
        .parse()
        .map_err(|_| format!("\"{s}\" is not {what}"))?;
    T::try_from(n)
}

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
        parse_whole(s, "a port number (1-65535)")
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
        parse_whole(s, "a number of seconds (1-86400)")
    }
}

/// A number of replicas for the container app, 0–1000 (Azure's bounds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "u32")]
pub struct Replicas(pub u32);

impl TryFrom<i64> for Replicas {
    type Error = String;
    fn try_from(n: i64) -> Result<Replicas, String> {
        if (0..=1000).contains(&n) {
            Ok(Replicas(n as u32))
        } else {
            Err(format!("{n} is not a number of replicas (0-1000)"))
        }
    }
}

impl FromStr for Replicas {
    type Err = String;
    fn from_str(s: &str) -> Result<Replicas, String> {
        parse_whole(s, "a number of replicas (0-1000)")
    }
}

/// An Azure region as az names it: `eastus`, `westeurope` (lowercase letters and digits;
/// "West Europe" is accepted and written the way az prints it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Location(pub String);

impl FromStr for Location {
    type Err = String;
    fn from_str(s: &str) -> Result<Location, String> {
        let name: String = s
            .chars()
            .filter(|c| *c != ' ')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if (2..=40).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric()) {
            Ok(Location(name))
        } else {
            Err(format!(
                "\"{s}\" is not an Azure region (like eastus or westeurope: `az account list-locations --query [].name`)"
            ))
        }
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
    Location,
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
integer_newtype_conversions!(Port, Seconds, Replicas);

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
    Replicas,
    Location,
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
impl From<Replicas> for u32 {
    fn from(r: Replicas) -> u32 {
        r.0
    }
}
impl From<Seconds> for u64 {
    fn from(s: Seconds) -> u64 {
        s.0
    }
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

/// A build argument: `KEY=VALUE` with a non-empty key.
pub fn parse_build_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("\"{s}\" is not KEY=VALUE")),
    }
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
    fn regions_and_replicas() {
        assert_eq!("West Europe".parse::<Location>().unwrap().0, "westeurope");
        assert_eq!("eastus".parse::<Location>().unwrap().0, "eastus");
        for bad in ["", "east-us", "x", "east_us"] {
            assert!(bad.parse::<Location>().is_err(), "{bad}");
        }
        assert_eq!("0".parse::<Replicas>().unwrap(), Replicas(0));
        assert_eq!("1000".parse::<Replicas>().unwrap(), Replicas(1000));
        for bad in ["-1", "1001", "two", ""] {
            assert!(bad.parse::<Replicas>().is_err(), "{bad}");
        }
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
