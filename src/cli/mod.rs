//! What the docker CLI hands us: its global flags split off our arguments (`argv`), our own
//! command line as clap types (`args`), and shell completion (`complete`). The only code that
//! knows clap.
//!
//! May import: `config`, `image::reference` (a leaf), `report`.

pub mod args;
pub mod argv;
pub mod complete;
