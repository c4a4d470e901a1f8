//! This machine's own facilities: wall-clock time (`clock`), atomic files and temporary
//! directories (`files`), and the one HTTP client (`http`).
//!
//! May import: `report`.

pub mod clock;
pub mod files;
pub mod http;
