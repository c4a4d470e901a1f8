//! The command line, as clap derive types. Only this file and `main.rs` know clap.
//!
//! Docker's global flags never reach clap: `argv.rs` splits them off first. Our own flags avoid
//! docker's words (`--config`, `--context`, `-H`, `-D`, `-l`, `-c`).

use std::ffi::OsString;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

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
    /// Show the plugin's version and the Docker engine's
    Version(VersionArgs),
    /// Show the resolved settings and where each one came from
    Config(ConfigArgs),
    /// Write a starter azdeploy.json for the app in this directory
    Init(InitArgs),
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
    /// Overwrite an existing azdeploy.json
    #[arg(long)]
    pub force: bool,
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
    fn help_mode_asks_clap_for_help() {
        let e = parse(&["config".into()], true).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        assert!(e.to_string().contains("docker azdeploy config"));
    }
}
