//! The project's own state: the `.azdeploy/` files one command leaves for the next (`state`).
//!
//! May import: `ctx`, `sys`, `report`.

pub mod state;
