//! Child processes: `runner` (the only code that starts one: `Cmd` values and the `Runner` that
//! runs them, echoes, dry-runs and stops them), `tools` (the only code that finds programs),
//! `cancel` (signals and the plugin socket), `pty` (a terminal for a streamed child), and
//! `plan` (a command's ordered steps and the one executor).
//!
//! May import: `report`, `sys`.

pub mod cancel;
pub mod plan;
pub mod pty;
pub mod runner;
pub mod tools;
