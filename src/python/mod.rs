//! Python apps: requirements and the wheel questions put to pip (`requirements`).
//!
//! May import: `config`, `process`, `report`.

pub mod requirements;
