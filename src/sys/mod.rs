//! This machine's own facilities: wall-clock time (`clock`), atomic files and temporary
//! directories (`files`), the one HTTP client (`http`) and the one websocket client (`ws`).
//!
//! May import: `report`.

pub mod ask;
pub mod clock;
pub mod files;
pub mod http;
pub mod procs;
pub mod ws;
