#!/usr/bin/env bash
# Lints the crate as it builds for Apple Silicon Macs, from Linux: clippy for
# aarch64-apple-darwin on every target (tests too), warnings as errors. A Linux-only API, or code
# only used on Linux, then fails here instead of on a user's Mac.
#
#   ci/check-macos.sh
#
# On Linux, zig stands in as the macOS C compiler for ring's C code; ci/cross-env.sh installs the
# rustup target and zig when missing (the first run downloads about 60 MB). On a Mac it is plain
# clippy. Nothing is linked, so no macOS SDK is needed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=ci/cross-env.sh
. "$REPO/ci/cross-env.sh"
TARGET=aarch64-apple-darwin

start=$SECONDS
if [ "$(uname -s)" = Darwin ]; then
    cross_rustup_targets "$TARGET"
else
    cross_setup "$TARGET"
fi
if ! cargo clippy --version >/dev/null 2>&1; then
    say "installing clippy (rustup)…"
    rustup component add clippy >&2 || die "rustup component add clippy failed (see above)" \
        "check that rustup's server is reachable, then run this again"
fi

cd "$REPO"
if ! cargo clippy --locked --keep-going --target "$TARGET" --all-targets -- -D warnings; then
    die "clippy found problems in the $TARGET build (above; $((SECONDS - start))s)" \
        "fix them, or keep Linux-only code and the items only it uses behind #[cfg(target_os = \"linux\")]"
fi
say "check-macos: clippy for $TARGET is clean ($((SECONDS - start))s)"
