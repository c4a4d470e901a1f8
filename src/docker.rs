//! Pure builders for docker command lines, and parsers for what docker prints.
//!
//! Each builder takes the base `Cmd` from `Ctx::docker` (program and forwarded globals) and adds
//! the arguments; each parser is fed real captured output in its tests.

use serde::Deserialize;

use crate::runner::Cmd;

/// `docker version --format '{{json .}}'`.
pub fn version(base: Cmd) -> Cmd {
    base.args(["version", "--format", "{{json .}}"])
}

/// What `docker version --format '{{json .}}'` prints (the fields we use).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionJson {
    pub client: Option<ClientVersion>,
    pub server: Option<ServerVersion>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientVersion {
    pub version: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerVersion {
    pub version: String,
    pub os: String,
    pub arch: String,
}

/// Parses `docker version --format '{{json .}}'` output; `None` when it is not that JSON.
pub fn parse_version(stdout: &str) -> Option<VersionJson> {
    serde_json::from_str(stdout.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_argv() {
        let c = version(Cmd::new("docker", "x").args(["--context", "ctx"]));
        assert_eq!(c.shown_args(), ["--context", "ctx", "version", "--format", "{{json .}}"]);
    }

    #[test]
    fn parses_real_version_output() {
        let up = include_str!("../tests/fixtures/captured/docker-version.json");
        let v = parse_version(up).unwrap();
        assert_eq!(v.client.unwrap().version, "28.2.2");
        let s = v.server.unwrap();
        assert_eq!((s.os.as_str(), s.arch.as_str()), ("linux", "amd64"));
        assert!(s.version.starts_with("20.10"), "{}", s.version);
        let down = include_str!("../tests/fixtures/captured/docker-version-engine-down.stdout");
        let v = parse_version(down).unwrap();
        assert!(v.server.is_none() && v.client.is_some());
        assert!(parse_version("not json").is_none());
    }
}
