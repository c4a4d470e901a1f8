//! The command line, as clap derive types. Only this file and `main.rs` know clap.
//!
//! Docker's global flags never reach clap: `argv.rs` splits them off first. Our own flags avoid
//! docker's words (`--config`, `--context`, `-H`, `-D`, `-l`, `-c`).

use std::ffi::OsString;

use camino::Utf8PathBuf;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{
    parse_build_arg, AppName, CacheMode, HealthPath, Location, Name, Overrides, Platform,
    RegistryName, Remote, Replicas, ResourceGroup, Seconds,
};
use crate::image::reference::valid_tag;

/// Build linux/amd64 images on any Mac or PC, prove they run, and ship them to Azure Container Apps.
#[derive(Debug, Parser)]
#[command(
    name = "azdeploy",
    bin_name = "docker azdeploy",
    version,
    disable_version_flag = true,
    after_help = "Settings come from flags, AZDEPLOY_* variables, ./azdeploy.json, then defaults.\nRun 'docker azdeploy config' to see them."
)]
pub struct Cli {
    /// Print every command before it runs
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Run read-only steps; print the commands that would change something instead of running them
    #[arg(short = 'n', long, global = true)]
    pub dry_run: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the image for the target platform (linux/amd64) and check its architecture
    Build(BuildArgs),
    /// Run the image here on the target platform, wait until it is healthy, report its costs
    #[command(name = "test-local")]
    TestLocal(TestLocalArgs),
    /// Log in, push the image to ACR (or any registry), check what arrived; prints ref@digest
    Push(PushArgs),
    /// Point the container app at a pushed digest and wait until the revision is healthy
    Deploy(DeployArgs),
    /// The app's revisions, the deployed digest against the tested one, and Azure's figures
    /// next to the local test's
    Status(StatusArgs),
    /// Show the app's logs (console, or --system)
    Logs(LogsArgs),
    /// Deploy the previous image again (or --to a revision or digest) and wait until healthy
    Rollback(RollbackArgs),
    /// Check docker, buildx, emulation of the target platform, the Dockerfile and Azure
    Doctor(DoctorArgs),
    /// Show the plugin's version and the Docker engine's
    Version(VersionArgs),
    /// Show the resolved settings and where each one came from
    Config(ConfigArgs),
    /// Write a starter azdeploy.json for the app in this directory
    Init(InitArgs),
    /// (internal) Remove a test run's containers once the run is gone, however it ended
    #[command(name = "__reap", hide = true)]
    Reap(ReapArgs),
}

/// The reaper `test-local` starts for itself.
#[derive(Debug, Args)]
pub struct ReapArgs {
    /// The label of the run's containers: KEY=VALUE
    #[arg(long)]
    pub label: String,

    /// The run: HOST/PID/START as the io.azdeploy.owner label writes it
    #[arg(long)]
    pub owner: String,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The build context directory [default: build.context, else .]
    pub context: Option<Utf8PathBuf>,

    /// The Dockerfile [default: build.dockerfile, else CONTEXT/Dockerfile]
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<Utf8PathBuf>,

    /// The target platform [default: platform, else linux/amd64]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,

    /// Image name and tag [default: image, tagged with the git commit (or a timestamp) and latest]
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tag: Option<String>,

    /// A build argument (repeatable)
    #[arg(long = "build-arg", value_name = "KEY=VALUE", value_parser = parse_build_arg)]
    pub build_args: Vec<(String, String)>,

    /// The buildx builder to use [default: build.builder, else the current one]
    #[arg(long, value_name = "NAME")]
    pub builder: Option<Name>,

    /// Build remotely: `acr` runs the build natively on amd64 in ACR Tasks (no local engine,
    /// no emulation) and leaves the image in the registry [default: build.remote]
    #[arg(long, value_name = "acr")]
    pub remote: Option<Remote>,

    /// `registry`: reuse the layers of the last push and leave this build's in the registry
    /// (inline cache with the docker driver, a `:buildcache` tag otherwise) [default: build.cache]
    #[arg(long, value_name = "registry|none")]
    pub cache: Option<CacheMode>,

    /// Build without the layer cache
    #[arg(long)]
    pub no_cache: bool,

    /// Push to the registry named in the image (instead of loading into the engine)
    #[arg(long)]
    pub push: bool,

    /// Skip the preflight (engine, buildx, emulation probe, Dockerfile lint)
    #[arg(long)]
    pub no_preflight: bool,
}

#[derive(Debug, Args)]
pub struct TestLocalArgs {
    /// The image to run [default: the last one `build` produced, else IMAGE:latest]
    pub image: Option<String>,

    /// Host port on 127.0.0.1 (0: any free one) [default: the app's port]
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,

    /// HTTP path that answers 2xx when healthy [default: /_stcore/health for Streamlit, else /]
    #[arg(long, value_name = "PATH")]
    pub health_path: Option<HealthPath>,

    /// Seconds to wait for health [default: timeouts.health, else 180]
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<Seconds>,

    /// An environment variable for the container (repeatable)
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", value_parser = parse_build_arg)]
    pub env: Vec<(String, String)>,

    /// A file of environment variables for the container
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<Utf8PathBuf>,

    /// CI mode: start, wait, report, remove; exit 0 when healthy, else 1
    #[arg(long, conflicts_with = "detach")]
    pub check: bool,

    /// Leave the container running once healthy
    #[arg(long)]
    pub detach: bool,

    /// Remove the containers test-local started from this directory (with --all: from anywhere)
    #[arg(long, conflicts_with_all = ["check", "detach", "image"])]
    pub stop: bool,

    /// With --stop: every test container on the engine, whichever project started it
    #[arg(long, requires = "stop")]
    pub all: bool,

    /// The target platform [default: platform, else linux/amd64]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,

    /// Skip the preflight (engine and emulation probe)
    #[arg(long)]
    pub no_preflight: bool,

    /// Print the report as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The local image to push [default: the last one `build` produced, else IMAGE:latest]
    pub image: Option<String>,

    /// An ACR name (logged in with az) or a registry host [default: azure.registry]
    #[arg(long, value_name = "NAME|HOST")]
    pub registry: Option<RegistryName>,

    /// A tag to push under (repeatable) [default: the local image's tag]
    #[arg(long = "tag", value_name = "TAG", value_parser = parse_tag)]
    pub tags: Vec<String>,

    /// Log in with a token from `az acr login --expose-token` and our own `docker login`
    /// (automatic when docker's global flags are given)
    #[arg(long)]
    pub expose_token: bool,

    /// Fail unless this image passed `test-local` here
    #[arg(long)]
    pub require_tested: bool,

    /// Create the registry (and its resource group) without asking when it does not exist
    #[arg(long)]
    pub yes: bool,

    /// The target platform [default: platform, else linux/amd64]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,
}

/// A docker tag, checked.
fn parse_tag(s: &str) -> Result<String, String> {
    if valid_tag(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "\"{s}\" is not a tag (letters, digits, _ . -; not starting with . or -)"
        ))
    }
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The container app [default: azure.app]
    #[arg(long, value_name = "NAME")]
    pub app: Option<AppName>,

    /// Its resource group [default: azure.resource_group]
    #[arg(long, value_name = "RG")]
    pub resource_group: Option<ResourceGroup>,

    /// The image to deploy [default: the reference the last `push` printed]
    #[arg(long, value_name = "REF@DIGEST")]
    pub image: Option<String>,

    /// Seconds to wait for a healthy revision [default: timeouts.deploy, else 300]
    #[arg(long, value_name = "SECS")]
    pub wait_timeout: Option<Seconds>,

    /// Return once Azure accepted the update; print the new revision's name
    #[arg(long)]
    pub no_wait: bool,

    /// When the new revision fails, deploy the previous image again and wait for it
    #[arg(long)]
    pub rollback_on_failure: bool,

    /// Accept a reference without a digest
    #[arg(long)]
    pub allow_tag: bool,

    /// Once healthy, GET the health path through the app's public URL and time it
    #[arg(long)]
    pub smoke: bool,

    /// Change the app's Azure settings that the checks find wrong, with az, before the update
    #[arg(long)]
    pub fix: bool,

    /// Create what is missing without asking (resource group, registry, environment,
    /// identity, app)
    #[arg(long)]
    pub yes: bool,

    /// The region for new resources [default: azure.location, else the resource group's]
    #[arg(long, value_name = "REGION")]
    pub location: Option<Location>,

    /// The Container Apps environment for a new app [default: azure.environment, else the
    /// group's only one, else APP-env]
    #[arg(long, value_name = "NAME")]
    pub environment: Option<Name>,

    /// Replicas always running [default: azure.min_replicas, else 1]
    #[arg(long, value_name = "N")]
    pub min_replicas: Option<Replicas>,

    /// Replicas at most [default: azure.max_replicas, else 3]
    #[arg(long, value_name = "N")]
    pub max_replicas: Option<Replicas>,
}

/// The app and its resource group, for the Azure-side commands.
#[derive(Debug, Args)]
pub struct AppArgs {
    /// The container app [default: azure.app]
    #[arg(long, value_name = "NAME")]
    pub app: Option<AppName>,

    /// Its resource group [default: azure.resource_group]
    #[arg(long, value_name = "RG")]
    pub resource_group: Option<ResourceGroup>,
}

impl AppArgs {
    /// These flags as settings overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            app: self.app.clone(),
            resource_group: self.resource_group.clone(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: AppArgs,

    /// The metrics window: 30m, 1h, 6h, 2d… (at most 30 days)
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_since)]
    pub since: std::time::Duration,

    /// Print JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// A window like `30m`, `1h`, `2d`: a whole number and one unit (m, h, d), at most 30 days.
fn parse_since(s: &str) -> Result<std::time::Duration, String> {
    let err = || format!("\"{s}\" is not a window like 30m, 1h or 2d");
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = num.parse().map_err(|_| err())?;
    let secs = match unit {
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(err()),
    };
    if secs == 0 || secs > 30 * 86_400 {
        return Err(err());
    }
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: AppArgs,

    /// Keep streaming new lines until Ctrl-C
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// How many past lines (0-300)
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=300))]
    pub tail: u32,

    /// The platform's own log (scheduling, image pulls, probes) instead of the app's console
    #[arg(long)]
    pub system: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: AppArgs,

    /// A revision name, or a digest (sha256:… or REF@sha256:…) [default: the image before the
    /// current one, from .azdeploy/history.json]
    #[arg(long, value_name = "REVISION|DIGEST")]
    pub to: Option<String>,

    /// Seconds to wait for a healthy revision [default: timeouts.deploy, else 300]
    #[arg(long, value_name = "SECS")]
    pub wait_timeout: Option<Seconds>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The target platform to check [default: platform, else linux/amd64]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,

    /// The buildx builder to probe [default: the current one]
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,

    /// Also check the Azure CLI when no registry or app is configured
    #[arg(long)]
    pub azure: bool,

    /// Change the container app's Azure settings that the checks find wrong, with az
    #[arg(long)]
    pub fix: bool,

    /// Also ask pip which requirements have no binary wheel for the target
    #[arg(long)]
    pub wheels: bool,

    /// The requirements file for --wheels [default: requirements.txt in the build context]
    #[arg(long, value_name = "FILE")]
    pub requirements: Option<Utf8PathBuf>,

    /// --wheels offline: only these local wheels and sdists (pip --no-index --find-links)
    #[arg(long, value_name = "DIR", conflicts_with = "index_url")]
    pub find_links: Option<Utf8PathBuf>,

    /// --wheels against this package index
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,

    /// --wheels for this Python version (the image's)
    #[arg(long, value_name = "X.Y", default_value = "3.12")]
    pub python_version: String,

    /// Print JSON on stdout: {"ok", "checks": [{"name", "status", "detail", "hint", "ms"}]}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite existing files
    #[arg(long)]
    pub force: bool,

    /// Also write a Dockerfile and .dockerignore for the Python app here (Streamlit-aware)
    #[arg(long)]
    pub dockerfile: bool,

    /// The Python of the base image (`python:X.Y-slim`), whose wheels the check asks for
    #[arg(long, value_name = "X.Y", default_value = "3.12", value_parser = parse_python_version)]
    pub python_version: String,
}

/// A Python version as `X.Y`.
fn parse_python_version(s: &str) -> Result<String, String> {
    match s.split_once('.') {
        Some((x, y))
            if !x.is_empty()
                && !y.is_empty()
                && x.chars().chain(y.chars()).all(|c| c.is_ascii_digit()) =>
        {
            Ok(s.to_string())
        }
        _ => Err(format!("\"{s}\" is not a Python version like 3.12")),
    }
}

/// clap's error text in our shape: `error: …` then `hint: …` (clap's own tip, else where the
/// flags are described), without the usage block. `args` are the arguments clap was given.
pub fn usage_error_text(rendered: &str, args: &[OsString]) -> String {
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("error: invalid arguments");
    let rest: Vec<&str> = lines.collect();
    let tip = rest.iter().find_map(|l| l.strip_prefix("tip: "));
    let command = rest
        .iter()
        .find_map(|l| l.strip_prefix("Usage: "))
        .map(|u| {
            u.split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| {
            let known = command();
            match args
                .iter()
                .filter_map(|a| a.to_str())
                .find(|a| known.find_subcommand(a).is_some())
            {
                Some(sub) => format!("docker azdeploy {sub}"),
                None => "docker azdeploy".into(),
            }
        });
    let hint = match tip {
        Some(t) => format!("{t}; `{command} --help` lists the flags"),
        None => format!("`{command} --help` lists the flags and what they take"),
    };
    format!("{first}\nhint: {hint}")
}

/// The clap command, for help and completion.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parses our arguments (those after the plugin name); `help` asks for help on them.
pub fn parse(args: &[OsString], help: bool) -> Result<Cli, clap::Error> {
    let mut argv: Vec<OsString> = vec!["azdeploy".into()];
    argv.extend(args.iter().cloned());
    if help {
        argv.push("--help".into());
    }
    let matches = command().try_get_matches_from(argv)?;
    Cli::from_arg_matches(&matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_valid() {
        command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = parse(&["version".into(), "-v".into(), "--dry-run".into()], false).unwrap();
        assert!(cli.verbose && cli.dry_run);
        assert!(matches!(cli.command, Some(Command::Version(_))));
    }

    #[test]
    fn windows() {
        assert_eq!(parse_since("30m").unwrap().as_secs(), 1800);
        assert_eq!(parse_since("2d").unwrap().as_secs(), 172_800);
        for bad in ["", "h", "0h", "1w", "31d", "-1h", "1.5h"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usage_errors_read_like_ours() {
        let args: Vec<OsString> = vec!["build".into(), "--platfrom".into(), "x".into()];
        let e = parse(&args, false).unwrap_err();
        assert_eq!(
            usage_error_text(&e.render().to_string(), &args),
            "error: unexpected argument '--platfrom' found\n\
             hint: a similar argument exists: '--platform'; `docker azdeploy build --help` lists the flags"
        );
        let args: Vec<OsString> = vec!["logs".into(), "--tail".into(), "500".into()];
        let e = parse(&args, false).unwrap_err();
        assert_eq!(
            usage_error_text(&e.render().to_string(), &args),
            "error: invalid value '500' for '--tail <TAIL>': 500 is not in 0..=300\n\
             hint: `docker azdeploy logs --help` lists the flags and what they take"
        );
    }

    #[test]
    fn help_mode_asks_clap_for_help() {
        let e = parse(&["config".into()], true).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        assert!(e.to_string().contains("docker azdeploy config"));
    }
}
