//! The project's own state: the `.azdeploy/` files one command leaves for the next (`state`),
//! and its version from git (`git`).
//!
//! May import: `image::reference`, `ctx`, `process`, `sys`, `report`.

pub mod git;
pub mod state;
