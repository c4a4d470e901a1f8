//! What the user reads: the one `Error` type with its hint and exit code (`error`), hints keyed
//! to the real tools' messages (`hints`), and stdout (`output`, the only writer of stdout).
//! Human text goes to stderr through `say!` (defined in `main.rs`).
//!
//! May import: nothing of the crate.

pub mod error;
pub mod hints;
pub mod output;
