//! The project's `.azdeploy/` directory: what one command leaves for the next (the image `build`
//! made, the figures `test-local` measured, the digest `push` printed, every `deploy`).
//! Written atomically; a missing or unreadable file reads as "nothing yet".

use crate::ctx::Ctx;
use crate::report::error::Error;
use crate::sys::files::{self, Existing};

/// The last image `build` produced.
pub const LAST_BUILD: &str = ".azdeploy/last-build.json";
/// The last healthy `test-local` run's figures.
pub const LAST_TEST: &str = ".azdeploy/last-test.json";
/// The last `push`: its pinned reference.
pub const LAST_PUSH: &str = ".azdeploy/last-push.json";
/// Every deploy's outcome, appended.
pub const HISTORY: &str = ".azdeploy/history.json";

/// Reads a state file.
pub fn read(ctx: &Ctx, rel: &str) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(ctx.cwd.join(rel)).ok()?).ok()
}

/// A string field of a state file.
pub fn field(ctx: &Ctx, rel: &str, key: &str) -> Option<String> {
    read(ctx, rel)?.get(key)?.as_str().map(str::to_string)
}

/// Writes a state file (creating `.azdeploy/`).
pub fn write(ctx: &Ctx, rel: &str, value: &serde_json::Value) -> Result<(), Error> {
    let path = ctx.cwd.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            action: "create",
            path: dir.to_string(),
            source,
        })?;
    }
    let text = serde_json::to_string_pretty(value).expect("JSON always serialises");
    files::write_atomic(&path, text.as_bytes(), Existing::Replace)
}
