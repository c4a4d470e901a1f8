//! One file per subcommand; this file only dispatches. A command resolves its settings, builds
//! a plan (`process::plan`) and hands it to the executor; it never imports another command.
//!
//! May import: `checks`, `azure`, `python`, `image`, `engine`, `project`, `ctx`, `cli`,
//! `config`, `process`, `sys`, `report`.

mod build;
mod config;
mod deploy;
mod doctor;
mod init;
mod logs;
mod push;
mod reap;
mod rollback;
mod status;
mod test_local;
mod version;

use crate::cli::args::Command;
use crate::ctx::Ctx;
use crate::report::error::Error;

pub fn dispatch(ctx: &Ctx, command: Command) -> Result<(), Error> {
    // What a run killed before its cleanup left in the temp dir goes first.
    crate::sys::files::sweep_temp();
    match command {
        Command::Build(a) => build::run(ctx, &a),
        Command::Deploy(a) => deploy::run(ctx, &a),
        Command::Doctor(a) => doctor::run(ctx, &a),
        Command::Status(a) => status::run(ctx, &a),
        Command::Logs(a) => logs::run(ctx, &a),
        Command::Rollback(a) => rollback::run(ctx, &a),
        Command::Push(a) => push::run(ctx, &a),
        Command::TestLocal(a) => test_local::run(ctx, &a),
        Command::Version(a) => version::run(ctx, &a),
        Command::Config(a) => config::run(ctx, &a),
        Command::Init(a) => init::run(ctx, &a),
        Command::Reap(a) => reap::run(ctx, &a),
    }
}
