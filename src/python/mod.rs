//! Python apps: requirements and the wheel questions put to pip (`requirements`), what the app's
//! files say about it (`app`), which requirements have wheels for the target, asked of pip
//! (`wheels`), the Dockerfile written for it (`dockerfile`), and a Streamlit app's first script
//! run, as a browser starts it (`streamlit`).
//!
//! May import: `image::dockerfile`, `ctx`, `config`, `process`, `sys`, `report`.

pub mod app;
pub mod dockerfile;
pub mod requirements;
pub mod streamlit;
pub mod wheels;
