//! Azure through the real `az`: its command lines (`az`), what it prints (`model`), the
//! revision state rule (`revision`), and the flows built on them: waiting for a new revision
//! (`rollout`) and the registry (`acr`: login, tokens, ACR Tasks builds).
//!
//! May import: `image`, `engine`, `ctx`, `config`, `process`, `sys`, `report`.

pub mod acr;
pub mod az;
pub mod model;
pub mod revision;
pub mod rollout;
