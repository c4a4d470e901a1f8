#!/usr/bin/env bash
# Checks that ci/dist.sh is reproducible: builds the release of HEAD twice and compares the bytes.
#
#   ci/dist-repro.sh [TARGET…]
#
# Build 1: this checkout, its target dir and tools, as ci/dist.sh always runs.
# Build 2: a clean export of HEAD (git archive) in another directory, with an empty target dir,
# an empty cargo home (crates downloaded again) and an empty tools dir (zig installed again):
# a cold build at other paths. Only rustup's toolchain is shared. Prints, per file, whether both
# builds gave the same bytes, and the time each took; exits 1 when any file differs.
# AZDEPLOY_REPRO_KEEP=1 keeps the second build's directory for inspection (e.g. diffoscope).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf '%s\n' "$*" >&2; }
die() {
    say "error: $1"
    if [ -n "${2:-}" ]; then say "hint: $2"; fi
    exit 1
}

[ -z "$(git -C "$REPO" status --porcelain --untracked-files=no)" ] ||
    die "the work tree has uncommitted changes: build 1 would not be HEAD" "commit or stash them first"

work=$(mktemp -d "${TMPDIR:-/tmp}/azdeploy-repro.XXXXXX")
if [ "${AZDEPLOY_REPRO_KEEP:-}" != 1 ]; then trap 'rm -rf -- "$work"' EXIT; fi
trap 'exit 130' INT
trap 'exit 143' TERM

epoch=$(git -C "$REPO" log -1 --format=%ct)
mkdir -p "$work/src" "$work/a" "$work/b"
git -C "$REPO" archive HEAD | tar -x -C "$work/src"

start=$SECONDS
say "== build 1: $REPO"
bash "$REPO/ci/dist.sh" --out "$work/a" "$@"
t1=$((SECONDS - start))

start=$SECONDS
say "== build 2 (cold): $work/src"
SOURCE_DATE_EPOCH=$epoch CARGO_TARGET_DIR="$work/target" CARGO_HOME="$work/cargo-home" \
    AZDEPLOY_TOOLS_DIR="$work/tools" ZIG_GLOBAL_CACHE_DIR="$work/tools/zig-cache" \
    bash "$work/src/ci/dist.sh" --out "$work/b" "$@"
t2=$((SECONDS - start))

differ=0
say "== comparison (build 1 ${t1}s, build 2 cold ${t2}s)"
for f in "$work/a"/*; do
    name=$(basename "$f")
    if cmp -s "$f" "$work/b/$name"; then
        say "  same bytes  $name"
    else
        say "  DIFFERENT   $name"
        differ=1
    fi
done
if [ "${AZDEPLOY_REPRO_KEEP:-}" = 1 ]; then say "kept $work"; fi
[ $differ = 0 ] || die "the two builds differ" \
    "run with AZDEPLOY_REPRO_KEEP=1 and compare the binaries (e.g. diffoscope, or cmp -l)"
say "reproducible: every file is byte-identical"
