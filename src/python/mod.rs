//! Python apps: requirements and the wheel questions put to pip (`requirements`), what the app's
//! files say about it (`app`), which requirements have wheels for the target, asked of pip
//! (`wheels`), and the Dockerfile written for it (`dockerfile`).
//!
//! May import: `image::dockerfile`, `ctx`, `config`, `process`, `sys`, `report`.

pub mod app;
pub mod dockerfile;
pub mod requirements;
pub mod wheels;
