//! The Docker engine and its builders: docker's command lines and what docker prints
//! (`docker`), a builder by name (`builder`), the containers we start (`container`), and whether the engine really runs the target architecture (`emulation`, with
//! the tiny probe programs in `probe_elf`).
//!
//! May import: `ctx`, `config`, `process`, `sys`, `report`.

pub mod builder;
pub mod container;
pub mod docker;
pub mod emulation;
pub mod probe_elf;
