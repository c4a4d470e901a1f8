//! Settings: `azdeploy.json`, `AZDEPLOY_*` variables, command-line flags and defaults: the values
//! they take (`values`), the file (`file`), and every setting resolved with its source
//! (`resolve`).
//!
//! May import: `image::reference` (a leaf), `report`.

pub mod file;
pub mod resolve;
pub mod values;

pub use file::{FileConfig, FILE_NAME};
pub use resolve::{resolve, AppTarget, Overrides, Settings, Source};
pub use values::*;
