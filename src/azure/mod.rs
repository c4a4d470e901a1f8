//! Azure through the real `az`: its command lines (`az`), what it prints (`model`), the
//! revision state rule (`revision`), and the flows built on them: waiting for a new revision
//! (`rollout`), the registry (`acr`: login, tokens, ACR Tasks builds), creating what is missing
//! (`provision`, with the new app's spec worked out in `spec`) and fixing an existing app's
//! settings (`fix`).
//!
//! May import: `image`, `engine`, `ctx`, `config`, `process`, `sys`, `report`.

pub mod acr;
pub mod az;
pub mod fix;
pub mod model;
pub mod provision;
pub mod revision;
pub mod rollout;
pub mod spec;
