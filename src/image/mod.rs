//! Images and registries: the one image-reference parser and registry-host rule
//! (`reference`), the one Dockerfile reader and its lint (`dockerfile`), and the architecture
//! gate on labels (`gate`) and on binaries (`binaries`).
//!
//! May import: `engine`, `ctx`, `config`, `process`, `sys`, `report`.

pub mod admit;
pub mod binaries;
pub mod dockerfile;
pub mod gate;
pub mod reference;
pub mod registry;
