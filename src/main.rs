//! `docker-azdeploy`: a Docker CLI plugin that builds linux/amd64 images, proves they run, and
//! ships them to Azure Container Apps.
//!
//! `main` answers docker's metadata handshake before anything else (no parsing, no I/O but one
//! write), then the other early shapes (completion, hooks), then parses our arguments with clap,
//! sets up cancellation and runs the command. It alone prints errors and picks the exit code.

/// `eprintln!` that never panics: a closed or broken stderr (`… 2>&1 | head`) is ignored, so
/// cleanup guards and error reports always finish. Every module uses this, not `eprintln!`.
macro_rules! say {
    ($($t:tt)*) => {{
        #[cfg(not(test))]
        {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), $($t)*);
        }
        // Unit tests: through the test harness's capture.
        #[cfg(test)]
        eprintln!($($t)*);
    }};
}

/// `eprint!` that never panics (progress lines).
macro_rules! say_inline {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut e = std::io::stderr();
        let _ = write!(e, $($t)*);
        let _ = e.flush();
    }};
}

mod azure;
mod checks;
mod cli;
mod cmd;
mod config;
mod ctx;
mod engine;
mod image;
mod process;
mod project;
mod python;
mod report;
mod sys;

use std::ffi::OsString;
use std::io::Write;

use camino::Utf8PathBuf;

use crate::cli::argv::{self, Invocation};
use crate::cli::{args as cli_args, complete};
use crate::report::error::{Error, USAGE_CODE};
use crate::report::output;

/// The metadata docker reads at every `docker --help`, `docker info` and `docker azdeploy …`.
const METADATA: &str = include_str!("../plugin-metadata.json");

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.len() == 1 && args[0] == argv::METADATA_ARG {
        let mut out = std::io::stdout().lock();
        let _ = out
            .write_all(METADATA.as_bytes())
            .and_then(|()| out.flush());
        return;
    }
    std::process::exit(run(&args));
}

fn run(args: &[OsString]) -> i32 {
    let (globals, args, help) = match argv::parse(args) {
        Invocation::Complete(words) => {
            // Spawns nothing and prints only candidates: see complete.rs.
            let _ = output::stdout_line(complete::answer(&words).trim_end());
            return 0;
        }
        Invocation::Hooks => return 0,
        Invocation::Run {
            globals,
            args,
            help,
        } => (globals, args, help),
    };
    let cli = match cli_args::parse(&args, help) {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            say!(
                "{}",
                cli_args::usage_error_text(&e.render().to_string(), &args)
            );
            return USAGE_CODE;
        }
        Err(e) => {
            let _ = e.print();
            return 0;
        }
    };
    let Some(command) = cli.command else {
        let _ = cli_args::command().print_help();
        return 0;
    };
    match start(globals, cli.verbose, cli.dry_run, command) {
        Ok(()) => 0,
        Err(e) => report(&e),
    }
}

fn start(
    globals: argv::Globals,
    verbose: bool,
    dry_run: bool,
    command: cli_args::Command,
) -> Result<(), Error> {
    let socket = std::env::var("DOCKER_CLI_PLUGIN_SOCKET").ok();
    let cancel =
        process::cancel::Cancel::install(socket.as_deref()).map_err(|e| Error::Failed {
            message: format!("failed to set up signal handling: {e}"),
            hint: None,
            code: 1,
        })?;
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|p| Utf8PathBuf::from_path_buf(p).ok())
        .ok_or_else(|| {
            Error::failed(
                "the current directory is not readable or not valid UTF-8",
                "run from a directory whose path is plain UTF-8",
            )
        })?;
    let max_call = match std::env::var("AZDEPLOY_MAX_CALL_SECS") {
        Ok(v) if !v.is_empty() => {
            Some(v.parse::<config::Seconds>().map_err(|e| Error::Config {
                origin: "environment variable AZDEPLOY_MAX_CALL_SECS".into(),
                key: "max call".into(),
                message: e,
                hint: None,
            })?)
        }
        _ => None,
    };
    let runner =
        process::runner::Runner::new(verbose || globals.debug || globals.verbose, dry_run, cancel)
            .max_call(max_call.map(|s| std::time::Duration::from_secs(s.0)));
    let tools = process::tools::Tools::from_env(cwd.as_std_path());
    let ctx = ctx::Ctx::new(globals, runner, tools, cwd);
    cmd::dispatch(&ctx, command)
}

/// Prints the error and its hint; returns the exit code.
fn report(e: &Error) -> i32 {
    match e {
        Error::Reported(_) => {}
        Error::Cancelled(code) => {
            let why = if *code == 143 { "SIGTERM" } else { "interrupt" };
            say!("cancelled ({why})");
        }
        _ => {
            say!("error: {e}");
            if let Some(h) = e.hint() {
                say!("hint: {h}");
            }
        }
    }
    e.exit_code()
}
