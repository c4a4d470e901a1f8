//! The project's version from git: the default image tag is the commit (`abc1234`, or
//! `abc1234-dirty` with uncommitted changes), or a UTC timestamp outside git.
//!
//! May import: `image::reference`, `ctx`, `process`, `sys`.

use camino::Utf8Path;

use crate::ctx::Ctx;
use crate::image::reference::valid_tag;
use crate::process::runner::Cmd;
use crate::sys::clock;

/// `git -C dir rev-parse --short HEAD`.
pub fn head(git: Cmd, dir: &Utf8Path) -> Cmd {
    git.args(["-C", dir.as_str(), "rev-parse", "--short", "HEAD"])
        .query()
}

/// `git -C dir status --porcelain -- :/ ':(exclude,glob)**/.azdeploy/**'`: uncommitted
/// changes, our own state files left out (they never make the tree dirty).
pub fn status(git: Cmd, dir: &Utf8Path) -> Cmd {
    git.args([
        "-C",
        dir.as_str(),
        "status",
        "--porcelain",
        "--",
        ":/",
        ":(exclude,glob)**/.azdeploy/**",
    ])
    .query()
}

/// The default tag for an image built from `dir`.
pub fn default_tag(ctx: &Ctx, dir: &Utf8Path) -> String {
    let commit = ctx.tools.git().and_then(|git| {
        let purpose = "read the git commit for the image tag";
        let h = ctx.runner.probe(&head(Cmd::new(&git, purpose), dir)).ok()?;
        let sha = h.stdout.trim().to_string();
        if !h.success() || !valid_tag(&sha) {
            return None;
        }
        let dirty = ctx
            .runner
            .probe(&status(Cmd::new(&git, purpose), dir))
            .is_ok_and(|s| s.success() && !s.stdout.trim().is_empty());
        Some(if dirty { format!("{sha}-dirty") } else { sha })
    });
    commit.unwrap_or_else(|| clock::tag(clock::now_secs()))
}
