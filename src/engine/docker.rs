//! Pure builders for docker command lines, and parsers for what docker prints.
//!
//! Each builder takes the base `Cmd` from `Ctx::docker` (program and forwarded globals) and adds
//! the arguments; each parser is fed real captured output in its tests.

use camino::Utf8PathBuf;
use serde::Deserialize;

use crate::config::Platform;
use crate::process::runner::Cmd;

/// Everything `docker buildx build` needs, worked out before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    pub context: Utf8PathBuf,
    pub dockerfile: Utf8PathBuf,
    pub platform: Platform,
    /// Full references, `name:tag`, the first one being the one we report.
    pub refs: Vec<String>,
    pub build_args: Vec<(String, String)>,
    pub builder: Option<String>,
    pub no_cache: bool,
    /// `--cache-from` and `--cache-to` values.
    pub cache_from: Vec<String>,
    pub cache_to: Vec<String>,
}

/// The cache flags for `--cache registry`: with the docker driver (which cannot export a cache
/// of its own) the layers travel inline in the pushed image, reused from the last pushed tag;
/// other drivers keep a full (`mode=max`) cache under `<repo>:buildcache`.
pub fn registry_cache(driver: &str, repo: &str, last_tag: &str) -> (Vec<String>, Vec<String>) {
    if driver == "docker" {
        (
            vec![format!("{repo}:{last_tag}")],
            vec!["type=inline".into()],
        )
    } else {
        (
            vec![format!("type=registry,ref={repo}:buildcache")],
            vec![format!("type=registry,ref={repo}:buildcache,mode=max")],
        )
    }
}

/// `docker buildx build` for `spec`, loading the result into the engine.
///
/// `--provenance=false`: Container Apps rejects the attestation manifests BuildKit adds by
/// default. The result is read back with `docker image inspect`, never from the progress text.
pub fn buildx_build(base: Cmd, spec: &BuildSpec) -> Cmd {
    let mut c = base.arg("buildx").arg("build");
    if let Some(b) = &spec.builder {
        c = c.args(["--builder", b]);
    }
    c = c
        .args(["--platform", &spec.platform.to_string()])
        .arg("--provenance=false")
        .args(["--file", spec.dockerfile.as_str()]);
    for r in &spec.refs {
        c = c.args(["--tag", r]);
    }
    for (k, v) in &spec.build_args {
        c = c.args(["--build-arg", &format!("{k}={v}")]);
    }
    for f in &spec.cache_from {
        c = c.args(["--cache-from", f]);
    }
    for t in &spec.cache_to {
        c = c.args(["--cache-to", t]);
    }
    if spec.no_cache {
        c = c.arg("--no-cache");
    }
    // Loaded into the engine, never pushed from here: the gate reads the local image first.
    c.arg("--load").arg(spec.context.as_str())
}

/// `docker buildx imagetools inspect --format '{{json .}}' <ref>`: what a registry holds under a
/// reference: the manifest's descriptor (an index with its children) and the image config (for
/// an index, one per platform).
pub fn imagetools_json(base: Cmd, reference: &str) -> Cmd {
    base.args([
        "buildx",
        "imagetools",
        "inspect",
        "--format",
        "{{json .}}",
        reference,
    ])
    .query()
}

/// `docker buildx imagetools inspect --raw <ref>`: the manifest as the registry stores it.
pub fn imagetools_raw(base: Cmd, reference: &str) -> Cmd {
    base.args(["buildx", "imagetools", "inspect", "--raw", reference])
        .query()
}

/// What [`imagetools_json`] prints (the parts we use).
#[derive(Debug, Deserialize)]
pub struct Pushed {
    pub manifest: Descriptor,
    #[serde(default)]
    pub image: serde_json::Value,
}

impl Pushed {
    /// `os/arch[/variant]` of the image, or of each child of an index (`unknown/unknown` for
    /// attestations).
    pub fn platforms(&self) -> Option<Vec<String>> {
        let children = self.manifest.child_platforms();
        if !children.is_empty() {
            return Some(children);
        }
        pushed_platforms(&self.image)
    }

    /// The digest of the manifest for `target`: the index's child for it, or the manifest
    /// itself when it is a single one (whatever its platform: the gate judges that).
    pub fn manifest_for(&self, target: &Platform) -> Option<&str> {
        if self.manifest.manifests.is_empty() {
            return Some(&self.manifest.digest);
        }
        self.manifest
            .manifests
            .iter()
            .zip(self.manifest.child_platforms())
            .find(|(_, p)| platform_matches(p, target))
            .and_then(|(c, _)| c.digest.as_deref())
    }
}

/// A manifest as [`imagetools_raw`] prints it: its config's digest is the image id.
#[derive(Debug, Deserialize)]
pub struct RawManifest {
    pub config: Option<RawConfig>,
}

#[derive(Debug, Deserialize)]
pub struct RawConfig {
    pub digest: String,
}

/// The platforms of an image config (or of a map from platform to config), in order.
pub fn pushed_platforms(image: &serde_json::Value) -> Option<Vec<String>> {
    let one = |cfg: &serde_json::Value| -> Option<String> {
        let os = cfg.get("os")?.as_str()?;
        let arch = cfg.get("architecture")?.as_str()?;
        Some(
            match cfg
                .get("variant")
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
            {
                Some(v) => format!("{os}/{arch}/{v}"),
                None => format!("{os}/{arch}"),
            },
        )
    };
    if image.get("architecture").is_some() {
        return one(image).map(|p| vec![p]);
    }
    let map = image.as_object()?;
    Some(map.keys().cloned().collect())
}

/// `docker image inspect --format '{{json .}}' <ref>`.
pub fn image_inspect(base: Cmd, reference: &str) -> Cmd {
    base.args(["image", "inspect", "--format", "{{json .}}", reference])
        .query()
}

/// What `docker image inspect` says about an image (the fields we use).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    pub id: String,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub size: Option<u64>,
    pub config: Option<ImageConfig>,
}

/// The parts of an image's config we look at.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Option<Vec<String>>,
    pub working_dir: Option<String>,
}

impl ImageInspect {
    /// The image's platform, `os/arch[/variant]`.
    /// Whether the image starts Streamlit (its entrypoint or command mentions it).
    pub fn runs_streamlit(&self) -> bool {
        self.config.as_ref().is_some_and(|c| {
            c.entrypoint
                .iter()
                .chain(c.cmd.iter())
                .flatten()
                .any(|w| w.contains("streamlit"))
        })
    }

    pub fn platform(&self) -> String {
        match self.variant.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }

    #[cfg(test)]
    pub fn matches(&self, target: &Platform) -> bool {
        platform_matches(&self.platform(), target)
    }
}

/// Whether an image of platform `found` (`os/arch[/variant]`) runs on `target`: same os and
/// arch, and the same variant when the target names one.
pub fn platform_matches(found: &str, target: &Platform) -> bool {
    let mut parts = found.split('/');
    let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
    os == Some(target.os.as_str())
        && arch == Some(target.arch.as_str())
        && target.variant.as_deref().is_none_or(|v| variant == Some(v))
}

/// `docker version --format '{{json .}}'`.
pub fn version(base: Cmd) -> Cmd {
    base.args(["version", "--format", "{{json .}}"]).query()
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

/// A local run of an image, as `test-local` starts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    pub image: String,
    pub platform: Platform,
    pub name: String,
    /// `(key, value)` labels: the one that marks our containers, its owner, its project.
    pub labels: Vec<(String, String)>,
    /// `None`: let docker pick a free host port.
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub env: Vec<(String, String)>,
    pub env_file: Option<Utf8PathBuf>,
}

/// `docker run -d` for `spec`, published on 127.0.0.1 only.
pub fn run_detached(base: Cmd, spec: &RunSpec) -> Cmd {
    let publish = match spec.host_port {
        Some(p) => format!("127.0.0.1:{p}:{}", spec.container_port),
        None => format!("127.0.0.1::{}", spec.container_port),
    };
    let mut c = base
        .args(["run", "--detach", "--platform", &spec.platform.to_string()])
        .args(["--publish", &publish, "--name", &spec.name]);
    for (k, v) in &spec.labels {
        c = c.args(["--label", &format!("{k}={v}")]);
    }
    // `--env KEY` takes the value from docker's environment: values (often secrets) never
    // appear in argv, echoes or errors.
    for (k, v) in &spec.env {
        c = c.args(["--env", k]).env(k, v);
    }
    if let Some(f) = &spec.env_file {
        c = c.args(["--env-file", f.as_str()]);
    }
    c.arg(&spec.image)
}

/// `docker inspect --format '{{json .State}}' <name>`.
pub fn container_state(base: Cmd, name: &str) -> Cmd {
    base.args(["container", "inspect", "--format", "{{json .State}}", name])
        .query()
}

/// A container's state (the fields we use).
#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub running: bool,
    pub exit_code: i64,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub started_at: String,
    pub error: Option<String>,
}

/// `docker port <name> <port>/tcp`.
pub fn port(base: Cmd, name: &str, container_port: u16) -> Cmd {
    base.args(["port", name, &format!("{container_port}/tcp")])
        .query()
}

/// The host port of the `127.0.0.1:<port>` line of `docker port`.
pub fn parse_port(stdout: &str) -> Option<u16> {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("127.0.0.1:"))
        .and_then(|p| p.parse().ok())
}

/// `docker logs --tail <n> <name>` (the container's stdout and stderr).
pub fn logs_tail(base: Cmd, name: &str, n: usize) -> Cmd {
    base.args(["logs", "--tail", &n.to_string(), name]).query()
}

/// `docker logs --follow <name>`.
pub fn logs_follow(base: Cmd, name: &str) -> Cmd {
    base.args(["logs", "--follow", name]).query()
}

/// `docker stats --no-stream --format '{{json .}}' <name>`.
pub fn stats(base: Cmd, name: &str) -> Cmd {
    base.args(["stats", "--no-stream", "--format", "{{json .}}", name])
        .query()
}

/// One line of `docker stats --format '{{json .}}'` (the fields we use).
#[derive(Debug, Deserialize)]
pub struct Stats {
    #[serde(rename = "MemUsage")]
    pub mem_usage: String,
    #[serde(rename = "CPUPerc")]
    pub cpu_perc: String,
}

impl Stats {
    /// Memory in use, in bytes, from `508KiB / 23.54GiB`.
    pub fn memory_bytes(&self) -> Option<u64> {
        parse_size(self.mem_usage.split('/').next()?.trim())
    }

    /// CPU use in percent (of one core), from `12.34%`.
    pub fn cpu_percent(&self) -> Option<f64> {
        self.cpu_perc.trim().trim_end_matches('%').parse().ok()
    }
}

/// A docker-formatted size (`508KiB`, `1.2MB`, `0B`) in bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * mult).round() as u64)
}

/// `docker rm --force <names…>`.
pub fn remove(base: Cmd, names: &[String]) -> Cmd {
    base.args(["rm", "--force"]).args(names)
}

/// `docker ps --all --filter label=FILTER --format '{{.ID}}\t{{.Label "K1"}}\t…'`: each
/// container with its values of `keys`, tab-separated.
pub fn ps_labels(base: Cmd, filter: &str, keys: &[&str]) -> Cmd {
    let format = std::iter::once("{{.ID}}".to_string())
        .chain(keys.iter().map(|k| format!("{{{{.Label \"{k}\"}}}}")))
        .collect::<Vec<_>>()
        .join("\t");
    base.args(["ps", "--all", "--filter", &format!("label={filter}")])
        .args(["--format", &format])
        .query()
}

/// `docker image rm <refs…>`: removes tags (an image that keeps another tag stays).
pub fn untag(base: Cmd, refs: &[String]) -> Cmd {
    base.args(["image", "rm"]).args(refs)
}

/// `docker pull --platform P <ref>`.
pub fn pull(base: Cmd, platform: &Platform, reference: &str) -> Cmd {
    base.args(["pull", "--platform", &platform.to_string(), reference])
}

/// `docker create --label io.azdeploy.gate=1 --platform P <image>`: a container that is never
/// started, to read a file out of the image (the gate's own read, hence a query).
pub fn create_to_read(base: Cmd, platform: &str, image: &str) -> Cmd {
    base.args([
        "create",
        "--label",
        "io.azdeploy.gate=1",
        "--platform",
        platform,
        image,
    ])
    .query()
}

/// `docker cp --follow-link <container>:<path> <dest>`: one file out of a container.
pub fn copy_out(base: Cmd, container: &str, path: &str, dest: &std::path::Path) -> Cmd {
    base.args(["cp", "--follow-link", &format!("{container}:{path}")])
        .arg(dest)
        .query()
}

/// `docker rm --force <name>` of a container the gate created to read from: undoing its own
/// read, so it runs under `--dry-run` too.
pub fn remove_read_container(base: Cmd, name: &str) -> Cmd {
    base.args(["rm", "--force", name]).query()
}

/// The emulation probe's build: `docker buildx build [--builder B] --platform P --no-cache
/// --progress plain --output type=cacheonly DIR`. `--no-cache`: a cached RUN would pass without
/// running anything; `cacheonly`: no image is left, so it is a read.
pub fn probe_build(
    base: Cmd,
    builder: Option<&str>,
    target: &Platform,
    dir: &std::path::Path,
) -> Cmd {
    let mut c = base.args(["buildx", "build"]);
    if let Some(b) = builder {
        c = c.args(["--builder", b]);
    }
    c.args([
        "--platform",
        &target.to_string(),
        "--no-cache",
        "--progress",
        "plain",
        "--output",
        "type=cacheonly",
    ])
    .arg(dir)
    .query()
}

/// `docker buildx version`.
pub fn buildx_version(base: Cmd) -> Cmd {
    base.args(["buildx", "version"]).query()
}

/// `docker buildx inspect [builder]`.
pub fn buildx_inspect(base: Cmd, builder: Option<&str>) -> Cmd {
    base.args(["buildx", "inspect"]).args(builder).query()
}

/// `docker context inspect <name>`: whether a builder's name is a docker context's.
pub fn context_exists(base: Cmd, name: &str) -> Cmd {
    base.args(["context", "inspect", name]).query()
}

/// `docker tag <source> <target>`.
pub fn tag(base: Cmd, source: &str, target: &str) -> Cmd {
    base.args(["tag", source, target])
}

/// `docker push <ref>`.
pub fn push(base: Cmd, reference: &str) -> Cmd {
    base.args(["push", reference])
}

/// `docker login <server> --username <user> --password-stdin`, the secret on stdin.
pub fn login(base: Cmd, server: &str, user: &str, secret: &str) -> Cmd {
    base.args(["login", server, "--username", user, "--password-stdin"])
        .stdin_secret(secret.as_bytes().to_vec())
}

/// A manifest's descriptor, or an index with its children (the fields we use).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub digest: String,
    #[serde(default)]
    pub manifests: Vec<Child>,
}

/// One entry of an index.
#[derive(Debug, Deserialize)]
pub struct Child {
    pub digest: Option<String>,
    pub platform: Option<ChildPlatform>,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct ChildPlatform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Descriptor {
    /// The platforms of an index's children, `unknown/unknown` for attestation manifests
    /// (Container Apps rejects those); empty for a single manifest.
    pub fn child_platforms(&self) -> Vec<String> {
        self.manifests
            .iter()
            .map(|c| {
                let attestation = c
                    .annotations
                    .get("vnd.docker.reference.type")
                    .map(String::as_str)
                    == Some("attestation-manifest");
                match &c.platform {
                    Some(p) if !attestation => match p.variant.as_deref().filter(|v| !v.is_empty())
                    {
                        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                        None => format!("{}/{}", p.os, p.architecture),
                    },
                    _ => "unknown/unknown".to_string(),
                }
            })
            .collect()
    }
}

/// `docker context inspect --format '{{json .Endpoints.docker}}'`: the engine endpoint in force
/// (without a name it also resolves `-H` and `DOCKER_HOST`).
pub fn endpoint(base: Cmd) -> Cmd {
    base.args([
        "context",
        "inspect",
        "--format",
        "{{json .Endpoints.docker}}",
    ])
    .query()
}

/// The endpoint's host from `endpoint`'s output.
pub fn parse_endpoint(stdout: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).ok()?;
    v.get("Host")?.as_str().map(str::to_string)
}

/// Whether an engine endpoint is on this machine (so its published ports are ours).
pub fn is_local_endpoint(host: &str) -> bool {
    if host.starts_with("unix://") || host.starts_with("npipe://") {
        return true;
    }
    let Some(rest) = host.strip_prefix("tcp://") else {
        return false; // ssh://… and anything else: another machine
    };
    ["127.", "localhost", "[::1]"]
        .iter()
        .any(|p| rest.starts_with(p))
}

/// `docker buildx ls --format json`: one JSON object per line (buildx 0.13 may repeat one).
pub fn builders(base: Cmd) -> Cmd {
    base.args(["buildx", "ls", "--format", "json"]).query()
}

/// A builder from `docker buildx ls --format json` (the fields we use).
#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct Builder {
    pub name: String,
    pub driver: Option<String>,
    #[serde(default)]
    pub nodes: Vec<BuilderNode>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct BuilderNode {
    pub status: Option<String>,
    #[serde(default)]
    pub platforms: Vec<String>,
}

impl Builder {
    /// The platform the builder runs natively: buildx lists it first.
    pub fn native_platform(&self) -> Option<&str> {
        self.nodes.first()?.platforms.first().map(String::as_str)
    }

    pub fn running(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| n.status.as_deref() == Some("running"))
    }
}

/// Parses `docker buildx ls --format json` (duplicates dropped, in order).
pub fn parse_builders(stdout: &str) -> Vec<Builder> {
    let mut out: Vec<Builder> = Vec::new();
    for b in stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Builder>(l.trim()).ok())
    {
        if !out.iter().any(|o| o.name == b.name) {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_argv() {
        let c = version(Cmd::new("docker", "x").args(["--context", "ctx"]));
        assert_eq!(
            c.shown_args(),
            ["--context", "ctx", "version", "--format", "{{json .}}"]
        );
    }

    #[test]
    fn buildx_argv_pins_the_platform() {
        let spec = BuildSpec {
            context: "app".into(),
            dockerfile: "app/Dockerfile".into(),
            platform: "linux/amd64".parse().unwrap(),
            refs: vec!["shop:abc123".into(), "shop:latest".into()],
            build_args: vec![("PY".into(), "3.12".into())],
            builder: Some("remote".into()),
            no_cache: true,
            cache_from: vec![],
            cache_to: vec![],
        };
        let c = buildx_build(Cmd::new("docker", "build").args(["-c", "x"]), &spec);
        assert_eq!(
            c.shown_args().join(" "),
            "-c x buildx build --builder remote --platform linux/amd64 --provenance=false \
             --file app/Dockerfile --tag shop:abc123 --tag shop:latest \
             --build-arg PY=3.12 --no-cache --load app"
        );
        assert_eq!(c.effect(), crate::process::runner::Effect::Mutate);
    }

    #[test]
    fn registry_cache_per_driver() {
        assert_eq!(
            registry_cache("docker", "r.io/shop", "abc"),
            (
                vec!["r.io/shop:abc".to_string()],
                vec!["type=inline".to_string()]
            )
        );
        let (from, to) = registry_cache("docker-container", "r.io/shop", "abc");
        assert_eq!(from, ["type=registry,ref=r.io/shop:buildcache"]);
        assert_eq!(to, ["type=registry,ref=r.io/shop:buildcache,mode=max"]);
    }

    #[test]
    fn what_the_registry_holds_from_real_output() {
        let single: Pushed = serde_json::from_str(include_str!(
            "../../tests/fixtures/captured/imagetools-inspect-json-single.json"
        ))
        .unwrap();
        let amd64: Platform = "linux/amd64".parse().unwrap();
        assert_eq!(single.platforms().unwrap(), ["linux/amd64"]);
        assert_eq!(
            single.manifest_for(&amd64),
            Some(single.manifest.digest.as_str())
        );
        let index: Pushed = serde_json::from_str(include_str!(
            "../../tests/fixtures/captured/imagetools-inspect-json-index.json"
        ))
        .unwrap();
        assert_eq!(index.platforms().unwrap(), ["linux/amd64", "linux/arm64"]);
        let amd64_child = index.manifest_for(&amd64).unwrap();
        assert_ne!(amd64_child, index.manifest.digest);
        assert_eq!(
            amd64_child, single.manifest.digest,
            "imagetools create kept the amd64 manifest"
        );
        assert!(index
            .manifest_for(&"linux/s390x".parse().unwrap())
            .is_none());
        let raw: RawManifest = serde_json::from_str(include_str!(
            "../../tests/fixtures/captured/imagetools-inspect-raw-noprov.json"
        ))
        .unwrap();
        assert!(raw.config.unwrap().digest.starts_with("sha256:"));
        let raw: RawManifest = serde_json::from_str(include_str!(
            "../../tests/fixtures/captured/imagetools-inspect-raw-index.json"
        ))
        .unwrap();
        assert!(raw.config.is_none(), "an index has no config");
    }

    #[test]
    fn pushed_platforms_of_a_manifest_and_an_index() {
        let single: serde_json::Value = serde_json::from_str(
            r#"{"created": "2026-11-28T05:43:08Z", "architecture": "amd64", "os": "linux"}"#,
        )
        .unwrap();
        assert_eq!(pushed_platforms(&single).unwrap(), ["linux/amd64"]);
        let index: serde_json::Value = serde_json::from_str(
            r#"{"linux/amd64": {"architecture": "amd64", "os": "linux"}, "linux/arm64/v8": {"architecture": "arm64", "os": "linux", "variant": "v8"}}"#,
        )
        .unwrap();
        assert_eq!(
            pushed_platforms(&index).unwrap(),
            ["linux/amd64", "linux/arm64/v8"]
        );
        assert!(pushed_platforms(&serde_json::json!("x")).is_none());
    }

    #[test]
    fn parses_real_metadata_and_inspect_output() {
        let v: Vec<ImageInspect> = serde_json::from_str(include_str!(
            "../../tests/fixtures/captured/image-inspect-amd64.json"
        ))
        .unwrap();
        let amd64: Platform = "linux/amd64".parse().unwrap();
        assert_eq!(v[0].platform(), "linux/amd64");
        assert!(v[0].matches(&amd64));
        assert!(!v[0].matches(&"linux/arm64".parse().unwrap()));
        assert!(!v[0].matches(&"linux/amd64/v3".parse().unwrap()));
        let arm = ImageInspect {
            id: "sha256:x".into(),
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
            size: None,
            config: None,
        };
        assert_eq!(arm.platform(), "linux/arm64/v8");
        assert!(arm.matches(&"linux/arm64".parse().unwrap()));
        assert!(!arm.matches(&amd64));
    }

    #[test]
    fn run_argv_publishes_on_loopback_only() {
        let spec = RunSpec {
            image: "shop:1".into(),
            platform: "linux/amd64".parse().unwrap(),
            name: "azdeploy-test-1".into(),
            labels: vec![
                ("io.azdeploy.test".into(), "1".into()),
                ("io.azdeploy.project".into(), "/home/me/shop".into()),
            ],
            host_port: Some(18501),
            container_port: 8501,
            env: vec![("A".into(), "b c".into())],
            env_file: Some("prod.env".into()),
        };
        assert_eq!(
            run_detached(Cmd::new("docker", "run"), &spec).shown_args().join(" "),
            "run --detach --platform linux/amd64 --publish 127.0.0.1:18501:8501 --name azdeploy-test-1 \
             --label io.azdeploy.test=1 --label io.azdeploy.project=/home/me/shop --env A --env-file prod.env shop:1"
        );
        assert_eq!(
            ps_labels(Cmd::new("docker", "ps"), "io.azdeploy.test", &["io.azdeploy.owner"])
                .shown_args()
                .join(" "),
            "ps --all --filter label=io.azdeploy.test --format {{.ID}}\t{{.Label \"io.azdeploy.owner\"}}"
        );
        let any = RunSpec {
            host_port: None,
            ..spec
        };
        assert!(run_detached(Cmd::new("docker", "run"), &any)
            .shown_args()
            .contains(&"127.0.0.1::8501".to_string()));
        assert_eq!(parse_port("127.0.0.1:49153\n"), Some(49153));
        assert_eq!(parse_port("0.0.0.0:1\n"), None);
    }

    #[test]
    fn push_side_argv_and_references() {
        let l = login(
            Cmd::new("docker", "x"),
            "r.azurecr.io",
            "00000000-0000-0000-0000-000000000000",
            "tok",
        );
        assert_eq!(l.to_string(), "docker login r.azurecr.io --username 00000000-0000-0000-0000-000000000000 --password-stdin <<< ***");
        let d: Descriptor = serde_json::from_str(r#"{"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": "sha256:3d6c", "size": 527}"#).unwrap();
        assert_eq!(d.digest, "sha256:3d6c");
        assert!(d.child_platforms().is_empty());
        // An index as BuildKit pushes it with provenance on: the attestation child has
        // platform unknown/unknown and the reference-type annotation.
        let index: Descriptor = serde_json::from_str(
            r#"{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:aa", "size": 856,
                "manifests": [
                  {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:bb", "size": 673,
                   "platform": {"architecture": "amd64", "os": "linux"}},
                  {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:cc", "size": 566,
                   "annotations": {"vnd.docker.reference.digest": "sha256:bb", "vnd.docker.reference.type": "attestation-manifest"},
                   "platform": {"architecture": "unknown", "os": "unknown"}}]}"#,
        )
        .unwrap();
        assert_eq!(index.child_platforms(), ["linux/amd64", "unknown/unknown"]);
    }

    #[test]
    fn local_and_remote_endpoints() {
        let out = r#"{"Host":"unix:///var/run/docker.sock","SkipTLSVerify":false}"#;
        assert_eq!(
            parse_endpoint(out).as_deref(),
            Some("unix:///var/run/docker.sock")
        );
        for local in [
            "unix:///var/run/docker.sock",
            "npipe:////./pipe/docker_engine",
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2376",
        ] {
            assert!(is_local_endpoint(local), "{local}");
        }
        for remote in [
            "tcp://10.1.2.3:2375",
            "ssh://builder@amd64-box",
            "tcp://build.example.com:2376",
        ] {
            assert!(!is_local_endpoint(remote), "{remote}");
        }
    }

    #[test]
    fn builders_from_real_output() {
        let text = include_str!("../../tests/fixtures/captured/buildx-ls.jsonl");
        let b = parse_builders(text);
        assert_eq!(b.len(), 1, "the repeated line is dropped");
        assert_eq!(
            (b[0].name.as_str(), b[0].driver.as_deref()),
            ("default", Some("docker"))
        );
        assert_eq!(b[0].native_platform(), Some("linux/amd64"));
        assert!(b[0].running());
        assert!(parse_builders("not json\n").is_empty());
    }

    #[test]
    fn stats_from_real_output() {
        let line = include_str!("../../tests/fixtures/captured/docker-stats.jsonl");
        let st: Stats = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        assert_eq!(st.memory_bytes(), Some(508 * 1024));
        assert_eq!(st.cpu_percent(), Some(0.0));
        assert_eq!(parse_size("1.5MiB"), Some(1_572_864));
        assert_eq!(parse_size("2.1kB"), Some(2100));
        assert_eq!(parse_size("0B"), Some(0));
        assert_eq!(parse_size("12"), None);
        assert_eq!(parse_size("3XB"), None);
    }

    #[test]
    fn parses_real_version_output() {
        let up = include_str!("../../tests/fixtures/captured/docker-version.json");
        let v = parse_version(up).unwrap();
        assert_eq!(v.client.unwrap().version, "28.2.2");
        let s = v.server.unwrap();
        assert_eq!((s.os.as_str(), s.arch.as_str()), ("linux", "amd64"));
        assert!(s.version.starts_with("20.10"), "{}", s.version);
        let down = include_str!("../../tests/fixtures/captured/docker-version-engine-down.stdout");
        let v = parse_version(down).unwrap();
        assert!(v.server.is_none() && v.client.is_some());
        assert!(parse_version("not json").is_none());
    }
}
